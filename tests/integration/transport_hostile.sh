#!/bin/sh
# A hostile network: during a transfer an injector sends forged copies of
# live datagrams (wrong key / altered ciphertext), datagrams recorded from
# an older session, datagrams truncated inside the header and garbage.
# Receivers drop and count all of it (--json drops) and still deliver the
# exact file.  Oversized ANNOUNCEs (9 KB, and 60 KB for the GRO buffer) are
# refused by their length before anything is decrypted (review finding 1:
# they overflowed the receiver's stack).
. "${srcdir:-.}/tests/integration/transport_lib.sh"
tl_init "$0" "$@"
[ -x "$INJECT" ] || tl_fail "$INJECT: not built"

# An older session, recorded.
tl_file old 2
tl_recv o1
sleep 0.3
"$INJECT" record "$TL_GROUP" "$T/old.rec" 400 15 > "$T/rec.out" &
rec=$!
sleep 0.2
tl_send old --min-receivers 1 --rate 50M
wait $rec || tl_fail "recording failed"
tl_wait_recv o1

tl_file src 24
tl_recv r1
tl_recv r2
sleep 0.3
# While the receivers listen for a sender.
for len in 9100 60000; do
	"$INJECT" oversize "$TL_GROUP" $len >> "$T/oversize.out" ||
	    tl_fail "oversize $len not sent"
done
tl_send_bg src --min-receivers 2 --rate 80M
sleep 0.5
"$INJECT" replay "$TL_GROUP" "$T/old.rec" > "$T/replay.out" ||
    tl_fail "replay failed"
"$INJECT" attack "$TL_GROUP" 1.0 > "$T/attack.out" ||
    { cat "$T/attack.out"; tl_fail "attack injected nothing"; }
wait $tl_pid_send
rc=$?
[ $rc = 0 ] || { tl_show; tl_fail "sender exit $rc"; }
for r in r1 r2; do
	tl_wait_recv $r
	[ $TL_RC = 0 ] || { tl_show; tl_fail "$r exit $TL_RC"; }
	tl_same src "$T/$r.out"
	for d in auth session short magic range; do
		n=$(tl_jq $r.json ".drops.$d")
		[ "$n" -gt 0 ] || tl_fail "$r: no '$d' drop counted"
	done
done
echo "ok: $(cat "$T/attack.out"), $(cat "$T/replay.out");" \
    "r1 drops $(tl_jq r1.json .drops)"
