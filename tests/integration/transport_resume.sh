#!/bin/sh
# A receiver killed with SIGKILL at about half of the transfer and started
# again resumes from its persisted bitmap: it ends byte-identical, receives
# fewer bytes the second time, and the sender counts it as one receiver
# that confirmed the whole file.
. "${srcdir:-.}/tests/integration/transport_lib.sh"
tl_init "$0" "$@"

tl_file src 24
tl_recv r1
tl_recv r2
sleep 0.3
# 24 MiB at 60 Mbit/s: about three seconds.
tl_send_bg src --min-receivers 2 --rate 60M
# Kill r2 when its state file shows it is about half way.
half()
{
	[ -e "$T/r2.out.fcstate" ] || return 1
	# Bitmap bytes set to 0xff after the 36-byte header.
	full=$(od -An -v -tu1 -j36 "$T/r2.out.fcstate" | tr -s ' ' '\n' |
	    grep -c '^255$')
	[ "$full" -ge 1000 ]
}
tl_wait_for half 20 || { tl_show; tl_fail "r2 never got half way"; }
kill -9 $tl_pid_r2
wait $tl_pid_r2 2>/dev/null
[ -e "$T/r2.out.fcpart" ] || tl_fail "no staging file after kill"
[ ! -e "$T/r2.out" ] || tl_fail "output appeared before verification"
tl_recv r2b "$T/r2.out"
wait $tl_pid_send
rc=$?
[ $rc = 0 ] || { tl_show; tl_fail "sender exit $rc"; }
for r in r1 r2b; do
	tl_wait_recv $r
	[ $TL_RC = 0 ] || { tl_show; tl_fail "$r exit $TL_RC"; }
done
tl_same src "$T/r1.out"
tl_same src "$T/r2.out"
resumed=$(tl_jq r2b.json .resumed_bytes)
got=$(tl_jq r2b.json .received_bytes)
[ "$resumed" -gt 0 ] || tl_fail "restarted receiver resumed nothing"
[ "$got" -lt $((24 * 1048576)) ] ||
    tl_fail "restarted receiver got $got bytes: no resume"
[ "$(tl_receivers send.json)" = 2 ] ||
    tl_fail "the restarted receiver counts as a new one"
[ "$(tl_receivers send.json ok)" = 2 ] ||
    tl_fail "sender results"
echo "ok: resumed with $resumed bytes on disk, received $got more"
