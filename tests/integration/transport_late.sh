#!/bin/sh
# A receiver that joins when the first pass is well under way still gets
# the whole file: the rest live, the part it missed as repairs.
. "${srcdir:-.}/tests/integration/transport_lib.sh"
tl_init "$0" "$@"

tl_file src 24
tl_recv r1
sleep 0.3
tl_send_bg src --min-receivers 1 --rate 100M
sleep 1
tl_recv late
wait $tl_pid_send
rc=$?
[ $rc = 0 ] || { tl_show; tl_fail "sender exit $rc"; }
for r in r1 late; do
	tl_wait_recv $r
	[ $TL_RC = 0 ] || { tl_show; tl_fail "$r exit $TL_RC"; }
	tl_same src "$T/$r.out"
done
rp=$(tl_jq late.json .repair_packets)
[ "$rp" -gt 1000 ] || tl_fail "late joiner got only $rp repairs"
[ "$(tl_jq send.json '.resent_packets')" -gt 0 ] ||
    tl_fail "no block resent for the late joiner"
[ "$(tl_receivers send.json)" = 2 ] || tl_fail "receivers"
echo "ok: late joiner repaired with $rp packets"
