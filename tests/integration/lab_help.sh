#!/bin/sh
# lab_help.sh: `fleetcast bench lab COMMAND --help` (tests/lab/lab.sh run
# through the CLI) prints the lab's usage on stdout and exits 0 for every
# command, also after its arguments, builds nothing and needs no root
# (SPEC.md: every command takes --help); a bad flag still exits 2 with
# nothing on stdout, and a --help after exec's HOST belongs to the command
# run in the host.  make check runs it with top_builddir set; by hand:
#   top_builddir=build-dir sh tests/integration/lab_help.sh
set -u

top_builddir=${top_builddir:-.}
FC="$top_builddir/server/cli/fleetcast"
if [ ! -x "$FC" ]; then
	echo "lab_help: $FC not built" >&2
	exit 1
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/fc-lab-help.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
# A state root of our own: a --help that went on to build a lab would
# leave its state here.
LAB_STATE_ROOT=$T/state
export LAB_STATE_ROOT
fails=0
n=0

fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

try() {
	timeout 30 "$FC" bench lab "$@" >"$T/out" 2>"$T/err" </dev/null
}

help() {
	n=$((n + 1))
	try "$@"
	got=$?
	if [ "$got" != 0 ]; then
		fail "exit $got, wanted 0: bench lab $*"
		sed 's/^/    /' "$T/err" >&2
	elif ! grep -q "^usage: lab.sh COMMAND" "$T/out"; then
		fail "no usage on stdout: bench lab $*"
	fi
}

bad() {
	n=$((n + 1))
	try "$@"
	got=$?
	if [ "$got" != 2 ]; then
		fail "exit $got, wanted 2: bench lab $*"
	elif [ -s "$T/out" ]; then
		fail "stdout not empty on bad usage: bench lab $*"
	elif [ ! -s "$T/err" ]; then
		fail "nothing on stderr on bad usage: bench lab $*"
	fi
}

help --help
help help
for c in up down exec loss shape hosts addr list; do
	help $c --help
	help $c -h
done
help up --name fchelp --receivers 2 --remote 1 --help
help loss --name fchelp 5 r1 --help
help exec --name fchelp --help
[ -e "$T/state/fchelp" ] && fail "a --help built lab state"

bad up --bogus
bad up --name fchelp
bad exec --name fchelp
bad loss --name fchelp
bad nosuchcommand

# After exec's HOST, --help is the command's: not the lab's usage.
n=$((n + 1))
try exec --name fchelp r1 true --help
grep -q "^usage: lab.sh COMMAND" "$T/out" &&
    fail "exec HOST CMD --help printed the lab's usage"

if [ "$fails" -ne 0 ]; then
	echo "lab_help: $fails of $n checks failed" >&2
	exit 1
fi
echo "lab_help: $n checks"
exit 0
