#!/bin/sh
# SPEC.md: every command takes --help, prints its usage on stdout and exits
# 0.  This asks every command and subcommand of fleetcast, fleetcast-agent
# and fleetcastd, the benchmark scripts `fleetcast bench` runs and the
# lab's commands (`fleetcast bench lab`), and
# fails if any exits non-zero or prints nothing on stdout; a bad flag must
# still exit 2 with nothing on stdout.  No server is needed: --help must
# not reach one (FLEETCAST_API points at a closed port to make sure).  make
# check runs it with top_builddir set; by hand:
#   top_builddir=build-dir sh tests/integration/cli_help.sh
set -u

top_builddir=${top_builddir:-.}
FC="$top_builddir/server/cli/fleetcast"
AGENT="$top_builddir/agent/fleetcast-agent"
SERVER="$top_builddir/server/fleetcastd"
for b in "$FC" "$AGENT" "$SERVER"; do
	if [ ! -x "$b" ]; then
		echo "cli_help: $b not built" >&2
		exit 1
	fi
done
T=$(mktemp -d "${TMPDIR:-/tmp}/fc-cli-help.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
FLEETCAST_API=http://127.0.0.1:1
export FLEETCAST_API
fails=0
n=0

fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# A --help that regressed into running the command must not hang the
# test suite (a benchmark would run for minutes): 30 s at the most.
try() {
	timeout 30 "$@" >"$T/out" 2>"$T/err" </dev/null
}

# help CMD...: CMD exits 0 with its usage on stdout.
help() {
	n=$((n + 1))
	try "$@"
	got=$?
	if [ "$got" != 0 ]; then
		fail "exit $got, wanted 0: $*"
		sed 's/^/    /' "$T/err" >&2
	elif [ ! -s "$T/out" ]; then
		fail "nothing on stdout: $*"
	elif ! grep -qi "usage" "$T/out"; then
		fail "no usage on stdout: $*"
	fi
}

# bad CMD...: CMD exits 2, says why on stderr and prints nothing on stdout.
bad() {
	n=$((n + 1))
	try "$@"
	got=$?
	if [ "$got" != 2 ]; then
		fail "exit $got, wanted 2: $*"
	elif [ -s "$T/out" ]; then
		fail "stdout not empty on bad usage: $*"
	elif [ ! -s "$T/err" ]; then
		fail "nothing on stderr on bad usage: $*"
	fi
}

help "$FC" --help
help "$FC" -h
for c in key "key generate" "key generate-psk" \
    package "package build" "package inspect" "package verify" \
    "package add" "package list" "package show" "package remove" \
    "package build-agent" \
    machine "machine list" "machine show" "machine approve" \
    "machine clear-error" "machine reboot" "machine poweroff" \
    "machine token" "machine tokens" \
    "machine revoke-token" server "server fingerprint" \
    scenario "scenario create" "scenario list" "scenario show" \
    "scenario remove" "scenario run" \
    run "run list" "run show" "run watch" "run start" "run cancel" \
    send receive sim \
    bench "bench list" "bench lab" "bench sim-scale" \
    "bench mcast-throughput" "bench server-scale"; do
	# $c is split on purpose: "key generate" is two words.
	help "$FC" $c --help
done
# --help after the subcommand's arguments counts too.
help "$FC" package show SOMEID --help
help "$FC" package add x.fcpkg -h
help "$FC" bench list -h
help "$FC" bench sim-scale -h

# The top-level usage names every run subcommand.
try "$FC" --help
for w in list show watch start cancel; do
	n=$((n + 1))
	grep -E "^  run +" "$T/out" | grep -qw "$w" ||
	    fail "top-level usage: run line lacks '$w'"
done

help "$AGENT" --help
help "$AGENT" -h
help "$SERVER" --help
help "$SERVER" -h

# version PROG NAME: PROG --version prints "NAME X.Y.Z" and exits 0.
version() {
	n=$((n + 1))
	try "$1" --version
	got=$?
	if [ "$got" != 0 ]; then
		fail "exit $got, wanted 0: $1 --version"
	elif ! grep -qx "$2 [0-9][0-9.]*" "$T/out"; then
		fail "$1 --version printed '$(cat "$T/out")'"
	fi
}
version "$FC" fleetcast
version "$AGENT" fleetcast-agent
version "$SERVER" fleetcastd

bad "$FC" --bogus
bad "$FC" package list --bogus
bad "$FC" bench list extra
bad "$FC" bench sim-scale --bogus
bad "$FC" bench sim-scale a b
bad "$AGENT" -x
bad "$AGENT" stray
bad "$SERVER" -x

# The lab (tests/lab/lab.sh) through `fleetcast bench lab`: every command
# takes --help, also after its arguments, builds nothing and needs no root;
# after exec's HOST, --help belongs to the command run in the host.  A
# state root of our own: a --help that went on to build a lab would leave
# its state there.
LAB_STATE_ROOT=$T/state
export LAB_STATE_ROOT
lab() {
	help "$FC" bench lab "$@"
	grep -q "^usage: lab.sh COMMAND" "$T/out" ||
	    fail "no lab usage on stdout: bench lab $*"
}
lab --help
lab help
for c in up down exec loss shape hosts addr list; do
	lab $c --help
	lab $c -h
done
lab up --name fchelp --receivers 2 --remote 1 --help
lab loss --name fchelp 5 r1 --help
lab exec --name fchelp --help
[ -e "$T/state/fchelp" ] && fail "a --help built lab state"
bad "$FC" bench lab up --bogus
bad "$FC" bench lab up --name fchelp
bad "$FC" bench lab exec --name fchelp
bad "$FC" bench lab loss --name fchelp
bad "$FC" bench lab nosuchcommand
n=$((n + 1))
try "$FC" bench lab exec --name fchelp r1 true --help
grep -q "^usage: lab.sh COMMAND" "$T/out" &&
    fail "exec HOST CMD --help printed the lab's usage"

# No admin token to be found: the error says where the CLI looked and how
# to point it elsewhere (exit 1, nothing on stdout).
n=$((n + 1))
env -u FLEETCAST_TOKEN -u FLEETCAST_TOKEN_FILE FLEETCAST_SERVER_CONF="$T/none.conf" \
    FLEETCAST_API=http://127.0.0.1:9 timeout 30 "$FC" machine list \
    >"$T/out" 2>"$T/err" </dev/null
got=$?
[ "$got" = 1 ] || fail "machine list without a token: exit $got, wanted 1"
for w in "admin token:" "$T/none.conf not readable" FLEETCAST_TOKEN_FILE= \
    FLEETCAST_SERVER_CONF= /etc/fleetcast/fleetcastd.conf; do
	grep -qF -- "$w" "$T/err" ||
	    fail "machine list without a token: no '$w' in: $(cat "$T/err")"
done

# fleetcastd -n warns when no package could ever be verified, and not
# when trusted_keys is set.
n=$((n + 1))
"$SERVER" -n -c /dev/null --state_dir "$T/srvstate" >"$T/out" 2>"$T/err"
got=$?
[ "$got" = 0 ] || fail "fleetcastd -n without trusted_keys: exit $got"
grep -q "warning: trusted_keys is not set" "$T/err" ||
    fail "fleetcastd -n without trusted_keys: no warning: $(cat "$T/err")"
: > "$T/keys.pub"
"$SERVER" -n -c /dev/null --state_dir "$T/srvstate" \
    --trusted_keys "$T/keys.pub" >"$T/out" 2>"$T/err"
grep -q "warning: trusted_keys" "$T/err" &&
    fail "fleetcastd -n with trusted_keys still warns: $(cat "$T/err")"

# A token is a secret: refused in a config file others can read, and in
# an enroll_token_file others can read; accepted once chmod 600.
n=$((n + 1))
"$FC" key generate --out "$T/tk" >/dev/null 2>&1 || fail "key generate"
tok=0123456789abcdef.0123456789abcdef0123456789abcdef.$(printf '%064d' 0)
printf 'server = 127.0.0.1:56022\ntrusted_keys = %s\nstate_dir = %s\nname = vm1\n' \
    "$T/tk.pub" "$T/agst" > "$T/base.conf"
{ cat "$T/base.conf"; echo "enroll_token = $tok"; } > "$T/tok.conf"
chmod 644 "$T/tok.conf"
"$AGENT" -n -c "$T/tok.conf" >"$T/out" 2>"$T/err"
got=$?
[ "$got" = 2 ] || fail "enroll_token in a 0644 config: exit $got, wanted 2"
grep -q "is mode 0644, so any local user can read the token; chmod 600" "$T/err" ||
    fail "enroll_token in a 0644 config: $(cat "$T/err")"
chmod 600 "$T/tok.conf"
"$AGENT" -n -c "$T/tok.conf" >"$T/out" 2>"$T/err" ||
    fail "enroll_token in a 0600 config: $(cat "$T/err")"
{ cat "$T/base.conf"; echo "enroll_token_file = $T/tok"; } > "$T/tokf.conf"
echo "$tok" > "$T/tok"
chmod 644 "$T/tok"
"$AGENT" -n -c "$T/tokf.conf" >"$T/out" 2>"$T/err" &&
    fail "a 0644 enroll_token_file was accepted"
grep -q "enroll_token_file: $T/tok is mode 0644" "$T/err" ||
    fail "0644 enroll_token_file: $(cat "$T/err")"
chmod 600 "$T/tok"
"$AGENT" -n -c "$T/tokf.conf" >"$T/out" 2>"$T/err" ||
    fail "a 0600 enroll_token_file: $(cat "$T/err")"

if [ "$fails" -ne 0 ]; then
	echo "cli_help: $fails of $n checks failed" >&2
	exit 1
fi
echo "cli_help: $n checks"
exit 0
