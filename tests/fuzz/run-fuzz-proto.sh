#!/bin/sh
# Runs the libFuzzer build of fuzz_proto for a few seconds on a copy of its
# seed corpus (libFuzzer adds what it finds to the first directory, and the
# source tree must stay as it is).  Used by make check with --enable-fuzzing.
set -eu
srcdir=${srcdir:-.}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$srcdir"/tests/fuzz/corpus/proto/* "$work"/
exec ./tests/fuzz/fuzz_proto -max_total_time=10 -runs=5000000 \
    -max_len=9000 "$work"
