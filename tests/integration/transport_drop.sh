#!/bin/sh
# A receiver that stops answering (SIGSTOP) in the middle of a transfer is
# dropped after the drop timeout (5 s) and reported as dropped; the others
# are not held up and get the file; the sender exits 1 because one
# receiver that joined did not confirm.
. "${srcdir:-.}/tests/integration/transport_lib.sh"
tl_init "$0" "$@"

tl_file src 24
for r in r1 r2 r3; do tl_recv $r; done
sleep 0.3
start=$(date +%s)
tl_send_bg src --min-receivers 3 --rate 100M
sleep 0.6
kill -STOP $tl_pid_r3
for r in r1 r2; do
	tl_wait_recv $r
	[ $TL_RC = 0 ] || { tl_show; tl_fail "$r exit $TL_RC"; }
	tl_same src "$T/$r.out"
done
wait $tl_pid_send
rc=$?
end=$(date +%s)
kill -9 $tl_pid_r3
[ $rc = 1 ] || { tl_show; tl_fail "sender exit $rc, want 1"; }
[ $((end - start)) -le 15 ] || tl_fail "sender took $((end - start)) s"
[ "$(tl_receivers send.json dropped)" = 1 ] ||
    tl_fail "sender does not report the silent receiver as dropped"
[ "$(tl_receivers send.json ok)" = 2 ] ||
    tl_fail "sender results"
grep -q "dropped" "$T/send.err" || tl_fail "no warning about the drop"
echo "ok: silent receiver dropped after $((end - start)) s:" \
    "$(tl_error send.json dropped)"
