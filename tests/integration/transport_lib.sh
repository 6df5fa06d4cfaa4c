# transport_lib.sh: shared by tests/integration/transport_*.sh.  Each test
# re-runs itself inside a private network (and mount) namespace where the
# loopback carries real multicast, starts receivers in the background and
# a sender in the foreground, and checks files byte for byte and the JSON
# summaries.  Outside CI a test that cannot get root or unshare skips (77)
# and says why; with CI=true it fails instead.  Sourced, not run.

TL_GROUP=239.192.56.77:56077
TL_TIMEOUT=${TL_TIMEOUT:-60}

tl_skip()
{
	if [ "${CI:-}" = true ]; then
		echo "FAIL (CI=true, cannot skip): $*" >&2
		exit 1
	fi
	echo "SKIP: $*" >&2
	exit 77
}

tl_fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

# tl_init "$0" "$@": enter the namespaces, set up lo, make $T.
tl_init()
{
	tl_self=$1
	shift
	if [ "${TL_INNER:-}" != 1 ]; then
		[ "$(id -u)" = 0 ] || tl_skip "needs root (network namespaces)"
		command -v unshare >/dev/null 2>&1 || tl_skip "needs unshare"
		command -v ip >/dev/null 2>&1 || tl_skip "needs ip (iproute2)"
		command -v python3 >/dev/null 2>&1 || tl_skip "needs python3"
		unshare -n -m true 2>/dev/null ||
		    tl_skip "unshare -n -m refused (container without CAP_SYS_ADMIN?)"
		TL_INNER=1 exec unshare -n -m sh "$tl_self" "$@"
	fi
	ip link set lo up || tl_fail "ip link set lo up"
	ip link set lo multicast on || tl_fail "lo multicast"
	ip route add 224.0.0.0/4 dev lo || tl_fail "multicast route"
	FC=${FLEETCAST:-$PWD/server/cli/fleetcast}
	INJECT=${INJECT:-$PWD/tests/integration/inject}
	[ -x "$FC" ] || tl_fail "$FC: not built"
	T=$(mktemp -d "${TMPDIR:-/tmp}/fc-transport.XXXXXX")
	trap 'tl_cleanup' EXIT
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$T/psk"
	echo >> "$T/psk"
	chmod 600 "$T/psk"
	TL_PIDS=""
}

tl_cleanup()
{
	for p in $TL_PIDS; do
		kill -9 "$p" 2>/dev/null
	done
	wait 2>/dev/null
	umount "$T/small" 2>/dev/null
	[ -n "${TL_KEEP:-}" ] || rm -rf "$T"
}

# tl_file NAME MIB: a random file.
tl_file()
{
	head -c $(($2 * 1048576)) /dev/urandom > "$T/$1" ||
	    tl_fail "cannot make $1"
}

# tl_recv NAME [OUT]: a receiver in the background; its pid in TL_LAST.
tl_recv()
{
	out=${2:-$T/$1.out}
	"$FC" receive --group "$TL_GROUP" --out "$out" --psk "$T/psk" \
	    --json > "$T/$1.json" 2> "$T/$1.err" &
	TL_LAST=$!
	TL_PIDS="$TL_PIDS $TL_LAST"
	eval "tl_pid_$1=$TL_LAST"
}

# tl_wait_recv NAME: its exit status in TL_RC; killed after TL_TIMEOUT.
tl_wait_recv()
{
	eval "p=\$tl_pid_$1"
	tl_wait_for "! kill -0 $p 2>/dev/null" "$TL_TIMEOUT" || kill -9 "$p"
	wait "$p"
	TL_RC=$?
}

# tl_send FILE [ARGS...]: the sender in the foreground; status in TL_RC.
tl_send()
{
	f=$1
	shift
	timeout -s KILL "$TL_TIMEOUT" "$FC" send "$T/$f" --group "$TL_GROUP" \
	    --psk "$T/psk" --json "$@" > "$T/send.json" 2> "$T/send.err"
	TL_RC=$?
}

# tl_send_bg FILE [ARGS...]
tl_send_bg()
{
	f=$1
	shift
	timeout -s KILL "$TL_TIMEOUT" "$FC" send "$T/$f" --group "$TL_GROUP" \
	    --psk "$T/psk" --json "$@" > "$T/send.json" 2> "$T/send.err" &
	tl_pid_send=$!
	TL_PIDS="$TL_PIDS $tl_pid_send"
}

# tl_jq FILE PATH: one value from a JSON summary, PATH like .a.b or
# .list[0].c (python3 reads it; strings bare, objects compact JSON).
tl_jq()
{
	python3 - "$T/$1" "$2" <<'PY' 2>/dev/null
import json, re, sys
v = json.load(open(sys.argv[1]))
for key, idx in re.findall(r'\.([A-Za-z_]+)(?:\[(\d+)\])?', sys.argv[2]):
    v = v[key]
    if idx:
        v = v[int(idx)]
if v is None:
    print("null")
elif isinstance(v, bool):
    print(str(v).lower())
elif isinstance(v, (dict, list)):
    print(json.dumps(v, separators=(",", ":")))
else:
    print(v)
PY
}

# tl_receivers FILE [RESULT]: how many receivers the sender lists (with
# that result); tl_error FILE RESULT: the error of the first such one.
tl_receivers()
{
	python3 - "$T/$1" "${2:-}" <<'PY' 2>/dev/null
import json, sys
r = json.load(open(sys.argv[1]))["receivers"]
print(len([x for x in r if not sys.argv[2] or x["result"] == sys.argv[2]]))
PY
}

tl_error()
{
	python3 - "$T/$1" "$2" <<'PY' 2>/dev/null
import json, sys
r = json.load(open(sys.argv[1]))["receivers"]
print([x["error"] for x in r if x["result"] == sys.argv[2]][0])
PY
}

# tl_drops FILE: the sum of a summary's drop counters.
tl_drops()
{
	python3 - "$T/$1" <<'PY' 2>/dev/null
import json, sys
print(sum(json.load(open(sys.argv[1]))["drops"].values()))
PY
}

tl_same()
{
	cmp -s "$T/$1" "$2" || tl_fail "$2 differs from $1"
}

# tl_others_served SRC: after one receiver failed for want of space, the
# receiver "good" got SRC whole, and the sender reports one receiver
# failed, saying why.
tl_others_served()
{
	tl_wait_recv good
	[ $TL_RC = 0 ] || { tl_show; tl_fail "good receiver exit $TL_RC"; }
	tl_same "$1" "$T/good.out"
	[ "$(tl_receivers send.json failed)" = 1 ] ||
	    tl_fail "sender does not report the failed receiver"
	tl_error send.json failed | grep -q "No space" ||
	    tl_fail "sender does not say why"
}

tl_show()
{
	for f in "$T"/*.err; do
		echo "--- $f"
		tail -n 20 "$f"
	done
}

# tl_wait_for COND SECONDS: poll a shell condition every 0.1 s.
tl_wait_for()
{
	tl_n=0
	while ! eval "$1"; do
		tl_n=$((tl_n + 1))
		[ $tl_n -le $(($2 * 10)) ] || return 1
		sleep 0.1
	done
	return 0
}

# Peak of a JSON number compared with awk: tl_cmp A OP B.
tl_cmp()
{
	awk -v a="$1" -v b="$3" "BEGIN { exit !(a $2 b) }"
}
