# unicast_lib.sh: shared by tests/integration/unicast_*.sh and
# bench/unicast-throughput.  It builds a routed lab (tests/lab/lab.sh:
# segment A with the server host and receivers r1..rN, segment B with
# b1..bM behind a router that forwards unicast only), starts a real
# fleetcastd in the server host and one real fleetcast-agent in each
# receiver host, and drives them with the fleetcast CLI run inside the
# server host (the API listens on that host's loopback).  Outside CI a
# caller that cannot get root skips (77) saying why; with CI=true it fails
# instead.  Sourced, not run; the caller sets UL_SRCDIR (the source tree)
# or UL_LAB (lab.sh), and may set UL_BUILD (the build tree, default the
# current directory; programs not found there are taken from PATH).

UL_TIMEOUT=${UL_TIMEOUT:-60}
declare -A UL_AGENT_PG		# lab host -> process group of its agent
UL_SERVER_ADDR=10.99.1.1
UL_CONTROL=$UL_SERVER_ADDR:56022
UL_API=http://127.0.0.1:56080

ul_skip()
{
	if [ "${CI:-}" = true ]; then
		echo "FAIL (CI=true, cannot skip): $*" >&2
		exit 1
	fi
	echo "SKIP: $*" >&2
	exit 77
}

ul_fail()
{
	echo "FAIL: $*" >&2
	ul_dump
	exit 1
}

ul_ok()
{
	echo "ok: $* (${SECONDS} s)"
}

# The last lines of every log, to see why something failed.
ul_dump()
{
	local f
	[ -n "${UL_T:-}" ] || return 0
	for f in "$UL_T"/*.err; do
		[ -s "$f" ] || continue
		echo "---- ${f##*/} (last 30 lines)" >&2
		tail -n 15 "$f" >&2
	done
}

# ul_init NAME: checks, the lab library, a temporary directory, keys and
# the exit trap that tears everything down.
ul_init()
{
	local c b

	[ "$(id -u)" = 0 ] || ul_skip "needs root (network namespaces)"
	for c in ip nft tc python3 setsid pgrep timeout; do
		command -v $c >/dev/null 2>&1 || ul_skip "needs $c"
	done
	ip netns add "fcprobe$$" 2>/dev/null ||
	    ul_skip "ip netns add refused (container without CAP_SYS_ADMIN?)"
	ip netns del "fcprobe$$"
	. "${UL_LAB:-$UL_SRCDIR/tests/lab/lab.sh}" ||
	    ul_fail "cannot source lab.sh"
	UL_BUILD=${UL_BUILD:-$PWD}
	FC=${FLEETCAST:-$(ul_prog server/cli/fleetcast)}
	FCD=${FLEETCASTD:-$(ul_prog server/fleetcastd)}
	AGENT=${FLEETCAST_AGENT:-$(ul_prog agent/fleetcast-agent)}
	for b in "$FC" "$FCD" "$AGENT"; do
		[ -x "$b" ] || ul_fail "$b: not built"
	done
	LAB_NAME=$1$$
	UL_T=$(mktemp -d "${TMPDIR:-/tmp}/fc-unicast.XXXXXX") || exit 1
	chmod 755 "$UL_T"
	trap 'ul_cleanup' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	export FLEETCAST_API=$UL_API
	export FLEETCAST_TOKEN_FILE=$UL_T/srv/api.token
	"$FC" key generate --out "$UL_T/sign" >/dev/null ||
	    ul_fail "key generate"
}

# ul_prog PATH: the program in the build tree, else the one on PATH.
ul_prog()
{
	if [ -x "$UL_BUILD/$1" ]; then
		echo "$UL_BUILD/$1"
	else
		command -v "${1##*/}" || echo "$UL_BUILD/$1"
	fi
}

ul_cleanup()
{
	local rc=$?

	trap - EXIT INT TERM
	[ -n "${LAB_NAME:-}" ] && lab_down >/dev/null 2>&1
	if [ -n "${UL_KEEP:-}" ]; then
		echo "kept $UL_T" >&2
	else
		rm -rf "$UL_T"
	fi
	exit $rc
}

# ul_lab NA NB: the routed lab with NA receivers on A and NB on B.
ul_lab()
{
	lab_up "$1" "$2" 0 "" >"$UL_T/lab.log" 2>&1 || {
		cat "$UL_T/lab.log" >&2
		ul_fail "lab up"
	}
}

# fc ARGS...: the CLI, inside the server host.
fc()
{
	lab_exec s "$FC" "$@"
}

# ul_server [--KEY VALUE]...: fleetcastd in the server host, multicast on
# its eth0 (segment A).
ul_server()
{
	local i

	lab_spawn "$UL_T" server s "$FCD" -d -v --state_dir "$UL_T/srv" \
	    --control_listen "$UL_CONTROL" --api_listen "${UL_API#http://}" \
	    --auto_approve yes --trusted_keys "$UL_T/sign.pub" \
	    --package_dirs "$UL_T" --interface eth0 "$@"
	UL_SERVER_PG=$LAB_LAST_PID
	for ((i = 0; i < 100; i++)); do
		[ -s "$UL_T/srv/api.token" ] && fc machine list >/dev/null 2>&1 &&
		    return 0
		sleep 0.1
	done
	ul_fail "fleetcastd did not come up"
}

# ul_agent HOST [--KEY VALUE]...: an agent named HOST in lab host HOST.
ul_agent()
{
	local h=$1
	shift
	[ -f "$UL_T/$h.boot" ] || echo "boot-1" >"$UL_T/$h.boot"
	lab_spawn "$UL_T" "agent-$h" "$h" "$AGENT" -d -v \
	    --server "$UL_CONTROL" --name "$h" --state_dir "$UL_T/$h" \
	    --trusted_keys "$UL_T/sign.pub" --boot_id_file "$UL_T/$h.boot" \
	    --interface eth0 --reboot_command /bin/true \
	    --poweroff_command /bin/true "$@"
	UL_AGENT_PG[$h]=$LAB_LAST_PID
}

# ul_no_multicast HOST [off]: HOST drops every multicast datagram on input
# (as a switch without the group or a host firewall would; unicast still
# passes), or, with off, no longer does.
ul_no_multicast()
{
	if [ "${2:-}" = off ]; then
		lab_exec "$1" nft delete table inet fcnomc ||
		    ul_fail "nft on $1"
		return
	fi
	lab_exec "$1" nft -f - <<'NFT' || ul_fail "nft on $1"
table inet fcnomc {
	chain input {
		type filter hook input priority 0; policy accept;
		ip daddr 224.0.0.0/4 counter drop
	}
}
NFT
}

# ul_wait_online HOST...: every machine online.
ul_wait_online()
{
	local h i
	for h in "$@"; do
		for ((i = 0; i < UL_TIMEOUT * 10; i++)); do
			fc machine show "$h" --json 2>/dev/null |
			    grep -q '"online": *true' && break
			sleep 0.1
		done
		[ $i -lt $((UL_TIMEOUT * 10)) ] || ul_fail "$h did not come online"
	done
}

# ul_pkg ID MIB: a package with MIB MiB of random payload whose setup.sh
# writes a marker; built, signed and added to the server.
ul_pkg()
{
	local id=$1 mib=$2
	mkdir -p "$UL_T/p-$id"
	head -c $((mib * 1024 * 1024)) /dev/urandom >"$UL_T/p-$id/payload" ||
	    ul_fail "payload"
	cat >"$UL_T/p-$id/setup.sh" <<EOF
#!/bin/sh
echo "\$FLEETCAST_STAGING" >>"$UL_T/ran.$id"
EOF
	chmod 755 "$UL_T/p-$id/setup.sh"
	"$FC" package build --dir "$UL_T/p-$id" --exec setup.sh --id "$id" \
	    --type application --major 1 --minor 0 \
	    --sign-key "$UL_T/sign.key" -o "$UL_T/$id.fcpkg" >/dev/null ||
	    ul_fail "package build $id"
	fc package add "$UL_T/$id.fcpkg" >/dev/null || ul_fail "package add $id"
}

# ul_run SCENARIO HOST...: start a run, print its id.
ul_run()
{
	local sc=$1 args=() h out
	shift
	for h in "$@"; do
		args+=(--machine "$h")
	done
	out=$(fc scenario run "$sc" "${args[@]}") || ul_fail "scenario run $sc"
	echo "$out" | tail -n 1
}

# ul_wait_finished RUN [SECONDS]: until the run is finished.
ul_wait_finished()
{
	local i n=$(( ${2:-$UL_TIMEOUT} * 10 ))
	for ((i = 0; i < n; i++)); do
		fc run show "$1" --json 2>/dev/null |
		    grep -q '"state": *"finished"' && return 0
		sleep 0.1
	done
	ul_fail "run $1 not finished after ${2:-$UL_TIMEOUT} s"
}

# ul_table RUN: one line per machine: name state path bytes path_reason
# (fields separated by '|').
ul_table()
{
	fc run show "$1" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
for m in d["machines"]:
    print("|".join(str(m.get(k)) for k in
        ("name", "state", "path", "bytes_received", "path_reason", "error")))'
}

# ul_seconds RUN: transfer start to finish of a run, in seconds.
ul_seconds()
{
	fc run show "$1" --json | python3 -c '
import json, sys
from datetime import datetime
d = json.load(sys.stdin)
t = lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
print("%.3f" % (t(d["finished_at"]) - t(d["transfer_started_at"])))'
}

# ul_ran ID HOST: how many times package ID's executable ran on HOST.
ul_ran()
{
	[ -f "$UL_T/ran.$1" ] || { echo 0; return; }
	grep -c "^$UL_T/$2/" "$UL_T/ran.$1"
}
