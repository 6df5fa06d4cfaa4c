#!/bin/sh
# Sender gating (MISSION S2-S5): --min-receivers starts as soon as that
# many receivers are ready; --max-wait starts when it has passed since the
# start of the send even if fewer are ready; with neither, at once.
. "${srcdir:-.}/tests/integration/transport_lib.sh"
tl_init "$0" "$@"

tl_file src 2

# min-receivers 2 reached 1.5 s after the start, well before max-wait.
tl_recv a1
sleep 0.3
tl_send_bg src --min-receivers 2 --max-wait 20
sleep 1.5
tl_recv a2
wait $tl_pid_send || { tl_show; tl_fail "min-receivers: sender failed"; }
w=$(tl_jq send.json .wait_seconds)
tl_cmp "$w" '>=' 1.3 && tl_cmp "$w" '<' 3.5 ||
    tl_fail "min-receivers: started after $w s, want about 1.5"
tl_wait_recv a1; tl_wait_recv a2
tl_same src "$T/a1.out"

# max-wait 2 with only one of three receivers: starts at 2 s.
tl_recv b1
sleep 0.3
tl_send src --min-receivers 3 --max-wait 2
[ $TL_RC = 0 ] || { tl_show; tl_fail "max-wait: sender exit $TL_RC"; }
w=$(tl_jq send.json .wait_seconds)
tl_cmp "$w" '>=' 1.95 && tl_cmp "$w" '<' 2.6 ||
    tl_fail "max-wait: started after $w s, want 2"
tl_wait_recv b1
[ $TL_RC = 0 ] || tl_fail "max-wait: receiver failed"

# Neither: at once.
tl_recv c1
sleep 0.3
tl_send src
w=$(tl_jq send.json .wait_seconds)
tl_cmp "$w" '<' 0.3 || tl_fail "no gate: started after $w s"
tl_wait_recv c1
# The receiver may have joined before or after the start; it must end ok.
[ $TL_RC = 0 ] || { tl_show; tl_fail "no gate: receiver failed"; }
tl_same src "$T/c1.out"

# Bad flags: exit 2 naming the flag.
"$FC" send "$T/src" --group "$TL_GROUP" --psk "$T/psk" --max-wait x \
    2> "$T/bad.err"
[ $? = 2 ] && grep -q -- --max-wait "$T/bad.err" || tl_fail "--max-wait x"
"$FC" send "$T/src" --group "$TL_GROUP" --psk "$T/psk" --rate fast \
    2> "$T/bad.err"
[ $? = 2 ] && grep -q -- --rate "$T/bad.err" || tl_fail "--rate fast"
"$FC" receive --group 10.1.2.3:5 --out x --psk "$T/psk" 2> "$T/bad.err"
[ $? = 2 ] && grep -q -- --group "$T/bad.err" || tl_fail "unicast --group"
echo x > "$T/badpsk"
chmod 600 "$T/badpsk"
"$FC" receive --group "$TL_GROUP" --out x --psk "$T/badpsk" 2> "$T/bad.err"
[ $? = 2 ] && grep -q -- "--psk: .*badpsk: not a PSK file" "$T/bad.err" ||
    tl_fail "bad --psk"
# A key every local user can read is refused (common/psk.c), by both.
cp "$T/psk" "$T/openpsk"
chmod 644 "$T/openpsk"
"$FC" receive --group "$TL_GROUP" --out x --psk "$T/openpsk" 2> "$T/bad.err"
[ $? = 2 ] && grep -q -- "--psk: .*openpsk: mode 0644" "$T/bad.err" ||
    { cat "$T/bad.err"; tl_fail "world-readable --psk taken by receive"; }
"$FC" send "$T/src" --group "$TL_GROUP" --psk "$T/openpsk" 2> "$T/bad.err"
[ $? = 2 ] && grep -q -- "--psk: .*openpsk: mode 0644" "$T/bad.err" ||
    { cat "$T/bad.err"; tl_fail "world-readable --psk taken by send"; }
"$FC" receive --group "$TL_GROUP" --out "$T/no/such/dir/x" --psk "$T/psk" \
    2> "$T/bad.err"
[ $? = 2 ] && grep -q -- --out "$T/bad.err" || tl_fail "bad --out"
"$FC" send "$T/src" --group "$TL_GROUP" 2> "$T/bad.err"
[ $? = 2 ] && grep -q -- --psk "$T/bad.err" || tl_fail "missing --psk"
echo "ok: gates at min-receivers, max-wait and at once"
