# agent_lib.sh: shared by tests/integration/agent_*.sh.  Each test re-runs
# itself inside private network and mount namespaces whose loopback carries
# real multicast, starts a real fleetcastd and real fleetcast-agent
# processes there (each agent with its own state_dir, name and boot id
# file), drives them with the fleetcast CLI and checks what the server
# recorded and what the agents did (marker files written by the packages
# and by the reboot / power-off commands).  Outside CI a test that cannot
# get root or unshare skips (77) saying why; with CI=true it fails instead.
# Sourced, not run.

AL_TIMEOUT=${AL_TIMEOUT:-60}
AL_CONTROL=127.0.0.1:56022
AL_API=http://127.0.0.1:56080

al_skip()
{
	if [ "${CI:-}" = true ]; then
		echo "FAIL (CI=true, cannot skip): $*" >&2
		exit 1
	fi
	echo "SKIP: $*" >&2
	exit 77
}

al_fail()
{
	echo "FAIL: $*" >&2
	al_dump
	exit 1
}

al_ok()
{
	echo "ok: $* (${SECONDS} s)"
}

# The last lines of every log, to see why something failed.
al_dump()
{
	local f
	for f in "$T"/*.log; do
		[ -f "$f" ] || continue
		echo "---- ${f##*/} (last 40 lines)" >&2
		tail -n 40 "$f" >&2
	done
}

# al_init "$0" "$@": enter the namespaces, set up lo, make $T and keys.
al_init()
{
	al_self=$1
	shift
	if [ "${AL_INNER:-}" != 1 ]; then
		[ "$(id -u)" = 0 ] || al_skip "needs root (network namespaces)"
		for c in unshare ip python3 timeout; do
			command -v $c >/dev/null 2>&1 || al_skip "needs $c"
		done
		unshare -n -m true 2>/dev/null ||
		    al_skip "unshare -n -m refused (container without CAP_SYS_ADMIN?)"
		AL_INNER=1 exec unshare -n -m bash "$al_self" "$@"
	fi
	ip link set lo up || al_fail "ip link set lo up"
	ip link set lo multicast on || al_fail "lo multicast"
	ip route add 224.0.0.0/4 dev lo || al_fail "multicast route"
	FC=${FLEETCAST:-$PWD/server/cli/fleetcast}
	FCD=${FLEETCASTD:-$PWD/server/fleetcastd}
	AGENT=${FLEETCAST_AGENT:-$PWD/agent/fleetcast-agent}
	for b in "$FC" "$FCD" "$AGENT"; do
		[ -x "$b" ] || al_fail "$b: not built"
	done
	T=$(mktemp -d "${TMPDIR:-/tmp}/fc-agent.XXXXXX") || exit 1
	chmod 755 "$T"
	trap 'al_cleanup' EXIT
	AL_PIDS=""
	export FLEETCAST_API=$AL_API
	export FLEETCAST_TOKEN_FILE=$T/srv/api.token
	"$FC" key generate --out "$T/sign" >/dev/null || al_fail "key generate"
	# The hooks of every agent write here: "<time> <machine> <what>".
	cat > "$T/mark" <<EOF
#!/bin/sh
echo "\$(date +%s.%N) \$*" >> "$T/marks"
EOF
	chmod 755 "$T/mark"
	: > "$T/marks"
}

al_cleanup()
{
	local p
	{
		for p in $AL_PIDS; do
			kill -9 "$p"
		done
		wait
	} 2>/dev/null
	umount "$T"/*/small 2>/dev/null
	[ -n "${AL_KEEP:-}" ] && { echo "kept $T" >&2; return; }
	rm -rf "$T"
}

al_server_start()
{
	"$FCD" -d -v --state_dir "$T/srv" --control_listen $AL_CONTROL \
	    --api_listen "${AL_API#http://}" --auto_approve yes \
	    --trusted_keys "$T/sign.pub" --interface lo "$@" \
	    >> "$T/server.log" 2>&1 &
	AL_SERVER=$!
	AL_PIDS="$AL_PIDS $AL_SERVER"
	local i
	for ((i = 0; i < 100; i++)); do
		[ -s "$T/srv/api.token" ] && "$FC" machine list >/dev/null 2>&1 &&
		    return 0
		sleep 0.1
	done
	al_fail "fleetcastd did not come up"
}

al_server_stop()
{
	kill -TERM "$AL_SERVER" 2>/dev/null
	wait "$AL_SERVER" 2>/dev/null
}

# al_agent_start NAME [--KEY VALUE]...: an agent in the background.
al_agent_start()
{
	local name=$1
	shift
	[ -f "$T/$name.boot" ] || echo "boot-1" > "$T/$name.boot"
	"$AGENT" -d -v --server $AL_CONTROL --name "$name" \
	    --state_dir "$T/$name" --trusted_keys "$T/sign.pub" \
	    --boot_id_file "$T/$name.boot" --interface lo \
	    --reboot_command "$T/mark $name reboot" \
	    --poweroff_command "$T/mark $name poweroff" "$@" \
	    >> "$T/$name.log" 2>&1 &
	eval "AL_AGENT_$name=$!"
	AL_PIDS="$AL_PIDS $!"
	# Not a job of this shell: a kill -9 is then not announced on stderr.
	disown $!
}

al_agent_pid()
{
	eval "echo \$AL_AGENT_$1"
}

# al_agent_stop NAME [SIGNAL]: TERM by default; KILL for a crash.
al_agent_stop()
{
	local pid i
	pid=$(al_agent_pid "$1")
	kill -"${2:-TERM}" "$pid" 2>/dev/null
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	al_fail "agent $1 (pid $pid) did not exit on SIG${2:-TERM}"
}

# al_reboot NAME: what a restart of the machine looks like to the agent.
al_reboot()
{
	local n
	n=$(cat "$T/$1.boot")
	echo "boot-$(( ${n#boot-} + 1 ))" > "$T/$1.boot"
}

# al_field JSON-PATH...: read a field of the JSON on stdin (python3).
al_json()
{
	python3 -c '
import json, sys
d = json.load(sys.stdin)
for k in sys.argv[1:]:
    d = d[int(k)] if isinstance(d, list) else d[k]
print("null" if d is None else d)
' "$@"
}

al_machine_field()
{
	"$FC" machine show "$1" --json 2>/dev/null | al_json "$2"
}

# al_wait_log FILE PATTERN: until FILE has a line matching PATTERN
# (grep -E), AL_TIMEOUT seconds at most.
al_wait_log()
{
	local i
	for ((i = 0; i < AL_TIMEOUT * 10; i++)); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	al_fail "${1##*/}: no line matching '$2'"
}

# al_wait_field NAME FIELD VALUE: until machine NAME's FIELD is VALUE.
al_wait_field()
{
	local i
	for ((i = 0; i < AL_TIMEOUT * 10; i++)); do
		[ "$(al_machine_field "$1" "$2" 2>/dev/null)" = "$3" ] &&
		    return 0
		sleep 0.1
	done
	al_fail "$1: $2 '$(al_machine_field "$1" "$2" 2>/dev/null)', want '$3'"
}

al_wait_online()
{
	local i
	for ((i = 0; i < AL_TIMEOUT * 10; i++)); do
		[ "$(al_machine_field "$1" online 2>/dev/null)" = True ] &&
		    return 0
		sleep 0.1
	done
	al_fail "$1 did not come online"
}

# al_pkg ID SCRIPT-BODY [build options]: a package whose setup.sh runs
# SCRIPT-BODY (sh) after appending its arguments to $T/ran.ID.
al_pkg()
{
	local id=$1 body=$2
	shift 2
	mkdir -p "$T/p-$id"
	cat > "$T/p-$id/setup.sh" <<EOF
#!/bin/sh
printf '%s|' "\$@" >> "$T/ran.$id"
echo >> "$T/ran.$id"
$body
EOF
	chmod 755 "$T/p-$id/setup.sh"
	"$FC" package build --dir "$T/p-$id" --exec setup.sh --id "$id" \
	    --sign-key "$T/sign.key" -o "$T/$id.fcpkg" "$@" >/dev/null ||
	    al_fail "package build $id"
	"$FC" package add "$T/$id.fcpkg" >/dev/null || al_fail "package add $id"
}

# al_ran ID: how many times package ID's executable ran.
al_ran()
{
	[ -f "$T/ran.$1" ] && wc -l < "$T/ran.$1" || echo 0
}

# al_run SCENARIO MACHINE...: start a run, print its id.
al_run()
{
	local sc=$1 args="" m out
	shift
	for m in "$@"; do
		args="$args --machine $m"
	done
	out=$("$FC" scenario run "$sc" $args) || al_fail "scenario run $sc"
	echo "$out" | tail -n 1
}

# al_mstate RUN MACHINE: the machine's state in the run.
al_mstate()
{
	"$FC" run show "$1" --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
for m in d["machines"]:
    if m["name"] == sys.argv[1]:
        print(m[sys.argv[2]] if m[sys.argv[2]] is not None else "null")
' "$2" "${3:-state}"
}

# al_has RUN MACHINE FIELD PATTERN: the field matches (grep -E).
al_has()
{
	local v
	v=$(al_mstate "$1" "$2" "$3")
	grep -Eq -- "$4" <<< "$v"
}

# al_wait_state RUN MACHINE STATE [SECONDS]: until the machine is there.
al_wait_state()
{
	local i s n=$(( ${4:-$AL_TIMEOUT} * 10 ))
	for ((i = 0; i < n; i++)); do
		s=$(al_mstate "$1" "$2")
		[ "$s" = "$3" ] && return 0
		sleep 0.1
	done
	al_fail "run $1 machine $2: state '$s', expected '$3'"
}

# al_marks MACHINE WHAT: how many times a hook wrote its mark.
al_marks()
{
	grep -c " $1 $2\$" "$T/marks"
}
