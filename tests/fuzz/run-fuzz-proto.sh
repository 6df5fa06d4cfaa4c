#!/bin/sh
# Runs the libFuzzer build of fuzz_proto for a few seconds on a copy of its
# seed corpus (libFuzzer adds what it finds to the first directory, and the
# source tree must stay as it is).  Used by make check with --enable-fuzzing.
# It also fails when the seeds alone cover fewer than 50 edges: then the
# decoder is not instrumented (linked from libcommon.a instead of compiled
# into the target; review finding 7 found it at 20) and fuzzing is blind.
set -eu
srcdir=${srcdir:-.}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
cp "$srcdir"/tests/fuzz/corpus/proto/* "$work/corpus"/
rc=0
./tests/fuzz/fuzz_proto -max_total_time=10 -runs=5000000 \
    -max_len=9000 "$work/corpus" > "$work/log" 2>&1 || rc=$?
tail -n 5 "$work/log"
[ $rc = 0 ] || { cat "$work/log"; exit $rc; }
cov=$(sed -n 's/.*INITED cov: \([0-9]*\).*/\1/p' "$work/log" | head -n 1)
[ -n "$cov" ] || { echo "FAIL: no INITED line from libFuzzer"; exit 1; }
if [ "$cov" -lt 50 ]; then
	echo "FAIL: the seeds cover $cov edges (at least 50 expected):" \
	    "is common/proto.c compiled into the target?"
	exit 1
fi
echo "ok: seeds cover $cov edges"
