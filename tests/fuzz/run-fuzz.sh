#!/bin/sh
# make check's runner for a libFuzzer build (--enable-fuzzing): the test is
# a target's dictionary, tests/fuzz/NAME.dict; this runs tests/fuzz/fuzz_NAME
# with it for a few seconds (FUZZ_SECONDS, default 10) on a copy of
# tests/fuzz/corpus/NAME (libFuzzer adds what it finds to its corpus
# directory, and the source tree must stay as it is).  It also fails when
# the seeds alone cover fewer than 50 edges: then the code under test is
# not instrumented (linked from libcommon.a instead of compiled into the
# target) and fuzzing is blind.  scripts/fuzz runs the targets for longer.
set -eu
dict=$1
name=$(basename "$dict" .dict)
srcdir=${srcdir:-.}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
cp "$srcdir/tests/fuzz/corpus/$name"/* "$work/corpus"/
rc=0
./tests/fuzz/fuzz_"$name" -max_total_time="${FUZZ_SECONDS:-10}" \
    -dict="$dict" -artifact_prefix="$work/" "$work/corpus" \
    > "$work/log" 2>&1 || rc=$?
tail -n 5 "$work/log"
[ $rc = 0 ] || { cat "$work/log"; exit $rc; }
cov=$(sed -n 's/.*INITED cov: \([0-9]*\).*/\1/p' "$work/log" | head -n 1)
[ -n "$cov" ] || { echo "FAIL: no INITED line from libFuzzer"; exit 1; }
# The CSR and key-file targets hand nearly all their work to OpenSSL, which
# is not instrumented: their own code is about 20 edges; the state file's
# seeds reach about 48.
case $name in
csr | pubkey) min=15 ;;
xrstore) min=40 ;;
*) min=50 ;;
esac
if [ "$cov" -lt $min ]; then
	echo "FAIL: the seeds cover $cov edges (at least $min expected): is" \
	    "the code under test compiled into fuzz_$name?"
	exit 1
fi
echo "ok: seeds cover $cov edges"
