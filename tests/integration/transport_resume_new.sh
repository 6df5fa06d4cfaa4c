#!/bin/sh
# Resuming on a new session (issue 6): a receiver that knows the file's
# SHA-256 (`fleetcast receive --sha256`, as the agent knows it from ASSIGN)
# is killed with SIGKILL part way, and the
# sender is killed too; a new sender (a new session) then streams the same
# file.  The restarted receiver keeps what it had and says so (HELD), so
# the new session's first pass skips those blocks: it sends far less than
# the file, and the output is byte-identical.
. "${srcdir:-.}/tests/integration/transport_lib.sh"
tl_init "$0" "$@"

tl_file src 24
sum=$(sha256sum "$T/src" | cut -d' ' -f1)

rx()
{
	"$FC" receive --group "$TL_GROUP" --psk "$T/psk" --out "$T/r.out" \
	    --sha256 "$sum" --json > "$T/$1.json" 2> "$T/$1.err" &
	tl_pid_rx=$!
	TL_PIDS="$TL_PIDS $tl_pid_rx"
}

rx r1
sleep 0.3
# 24 MiB at 40 Mbit/s: about five seconds.
tl_send_bg src --min-receivers 1 --rate 40M
# Bitmap bytes of the state file (68-byte header) with all 8 symbols on disk.
ondisk()
{
	[ -e "$T/r.out.fcstate" ] || { echo 0; return; }
	size=$(stat -c %s "$T/r.out.fcstate")
	od -An -v -tu1 -j68 -N$((size - 68 - 32)) "$T/r.out.fcstate" |
	    tr -s ' ' '\n' | grep -c '^255$'
}
# Kill both when at least 60% of the file is on disk (2209 bitmap bytes).
tl_wait_for '[ "$(ondisk)" -ge 1326 ]' 30 ||
    { tl_show; tl_fail "the receiver never got 60% of the file on disk"; }
# The sender runs under timeout(1): kill it, not only timeout.
kill -9 $tl_pid_rx $(pgrep -P $tl_pid_send) $tl_pid_send
wait $tl_pid_rx $tl_pid_send 2>/dev/null
[ -e "$T/r.out.fcpart" ] || tl_fail "no staging file after kill"
[ ! -e "$T/r.out" ] || tl_fail "output appeared before verification"
held=$(($(ondisk) * 8 * 1424))

rx r2
sleep 0.3
tl_send src --min-receivers 1 --rate 40M
[ $TL_RC = 0 ] || { tl_show; tl_fail "second sender exit $TL_RC"; }
tl_wait_for "! kill -0 $tl_pid_rx 2>/dev/null" 30 || kill -9 $tl_pid_rx
wait $tl_pid_rx
rc=$?
[ $rc = 0 ] || { tl_show; tl_fail "restarted receiver exit $rc"; }
tl_same src "$T/r.out"
size=$((24 * 1048576))
skipped=$(tl_jq send.json .skipped_bytes)
data=$(tl_jq send.json .data_packets)
resumed=$(tl_jq r2.json .resumed_bytes)
[ "$resumed" -ge $((size / 2)) ] ||
    tl_fail "the restarted receiver resumed only $resumed bytes"
# Skipped: whole blocks (4.4 MB) of what was on disk.
[ "$skipped" -ge $((size / 3)) ] ||
    tl_fail "the new session skipped $skipped bytes (held about $held)"
[ $((data * 1424)) -le $((size - skipped + 1424)) ] ||
    tl_fail "$data first-pass packets for $((size - skipped)) bytes"
echo "ok: resumed $resumed bytes, the new session skipped $skipped" \
    "bytes and sent $data first-pass packets of the file's 17673"
