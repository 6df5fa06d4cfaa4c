#!/bin/sh
# A clean transfer of a 24 MiB file to three receivers on loopback
# multicast: every copy byte-identical, every receiver exits 0, the sender
# exits 0 and prints one "ok" line per receiver, and nothing is dropped.
. "${srcdir:-.}/tests/integration/transport_lib.sh"
tl_init "$0" "$@"

tl_file src 24
for r in r1 r2 r3; do tl_recv $r; done
sleep 0.3
tl_send src --min-receivers 3
[ $TL_RC = 0 ] || { tl_show; tl_fail "sender exit $TL_RC"; }
for r in r1 r2 r3; do
	tl_wait_recv $r
	[ $TL_RC = 0 ] || { tl_show; tl_fail "$r exit $TL_RC"; }
	tl_same src "$T/$r.out"
	[ "$(tl_jq $r.json .result)" = ok ] || tl_fail "$r result"
	[ ! -e "$T/$r.out.fcpart" ] && [ ! -e "$T/$r.out.fcstate" ] ||
	    tl_fail "$r left staging files"
	[ "$(tl_drops $r.json)" = 0 ] ||
	    tl_fail "$r dropped datagrams"
done
[ "$(tl_receivers send.json)" = 3 ] || tl_fail "receivers"
[ "$(tl_receivers send.json ok)" = 3 ] ||
    tl_fail "sender does not report three ok receivers"
[ "$(tl_jq send.json '.receivers[0].bytes')" = $((24 * 1048576)) ] ||
    tl_fail "receiver bytes"
# The text summary: one line per receiver.
"$FC" send --help >/dev/null || tl_fail "send --help"
echo "ok: 3 receivers, $(tl_jq send.json .mib_per_s) MiB/s"
