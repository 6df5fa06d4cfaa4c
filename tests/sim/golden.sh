#!/bin/sh
# Golden tests for `fleetcast sim'.  Each directory under tests/sim/ holds a
# scenario.json and a fleet.json (and a seed, default 1).  Cases with an
# expected.err are bad input: the run must exit 2 with exactly that message
# on stderr.  The others must print exactly expected.json with --json and
# expected.txt without it, and --plot must write a complete SVG.
#
#   tests/sim/golden.sh            check (run by make check from builddir)
#   tests/sim/golden.sh --update   rewrite the expected files; review the
#                                  diff before committing it
set -u

srcdir=${srcdir:-.}
top=$(cd "$srcdir" && pwd)
bin=${FLEETCAST:-$(pwd)/server/cli/fleetcast}
update=0
[ "${1:-}" = "--update" ] && update=1

if [ ! -x "$bin" ]; then
	echo "golden.sh: $bin not built" >&2
	exit 1
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

fail=0
n=0
for dir in "$top"/tests/sim/*/; do
	dir=${dir%/}
	name=$(basename "$dir")
	[ -f "$dir/scenario.json" ] || continue
	n=$((n + 1))
	seed=1
	[ -f "$dir/seed" ] && seed=$(cat "$dir/seed")
	if [ -f "$dir/expected.err" ]; then
		# Relative names, so the message is the same from anywhere.
		(cd "$dir" && "$bin" sim --scenario scenario.json \
		    --fleet fleet.json --seed "$seed" >"$tmp/out" 2>"$tmp/err")
		rc=$?
		if [ $update = 1 ]; then
			cp "$tmp/err" "$dir/expected.err"
		elif [ $rc -ne 2 ]; then
			echo "FAIL $name: exit $rc, want 2"
			fail=1
		elif ! diff -u "$dir/expected.err" "$tmp/err"; then
			echo "FAIL $name: message"
			fail=1
		elif [ -s "$tmp/out" ]; then
			echo "FAIL $name: output on bad input"
			fail=1
		else
			echo "ok   $name (exit 2)"
		fi
		continue
	fi
	"$bin" sim --scenario "$dir/scenario.json" --fleet "$dir/fleet.json" \
	    --seed "$seed" --json --plot "$tmp/plot.svg" >"$tmp/json" \
	    2>"$tmp/err"
	rc1=$?
	"$bin" sim --scenario "$dir/scenario.json" --fleet "$dir/fleet.json" \
	    --seed "$seed" >"$tmp/txt" 2>>"$tmp/err"
	rc2=$?
	if [ $rc1 -ne 0 ] || [ $rc2 -ne 0 ] || [ -s "$tmp/err" ]; then
		echo "FAIL $name: exit $rc1/$rc2"
		cat "$tmp/err"
		fail=1
		continue
	fi
	if [ $update = 1 ]; then
		cp "$tmp/json" "$dir/expected.json"
		cp "$tmp/txt" "$dir/expected.txt"
		echo "updated $name"
		continue
	fi
	bad=0
	diff -u "$dir/expected.json" "$tmp/json" || bad=1
	diff -u "$dir/expected.txt" "$tmp/txt" || bad=1
	if ! head -n 2 "$tmp/plot.svg" | grep -q '^<svg ' ||
	    [ "$(tail -n 1 "$tmp/plot.svg")" != "</svg>" ]; then
		echo "FAIL $name: incomplete plot"
		bad=1
	fi
	if [ $bad = 1 ]; then
		echo "FAIL $name"
		fail=1
	else
		echo "ok   $name"
	fi
done
if [ $n -eq 0 ]; then
	echo "golden.sh: no cases under $top/tests/sim" >&2
	exit 1
fi
exit $fail
