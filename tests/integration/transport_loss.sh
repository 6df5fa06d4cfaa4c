#!/bin/sh
# 10% random loss of every UDP datagram entering the namespace (nftables,
# data, repairs and feedback alike): three receivers still get the exact
# file, through FEC parity and resends, with a bounded number of repairs.
. "${srcdir:-.}/tests/integration/transport_lib.sh"
tl_init "$0" "$@"
command -v nft >/dev/null 2>&1 || tl_skip "needs nft (nftables)"

nft add table inet t &&
nft add chain inet t in '{ type filter hook input priority 0; }' &&
nft add rule inet t in meta l4proto udp numgen random mod 100 '<' 10 drop ||
    tl_fail "nftables loss rule"

tl_file src 24
for r in r1 r2 r3; do tl_recv $r; done
sleep 0.3
tl_send src --min-receivers 3
[ $TL_RC = 0 ] || { tl_show; tl_fail "sender exit $TL_RC"; }
for r in r1 r2 r3; do
	tl_wait_recv $r
	[ $TL_RC = 0 ] || { tl_show; tl_fail "$r exit $TL_RC"; }
	tl_same src "$T/$r.out"
	rp=$(tl_jq $r.json .repair_packets)
	[ "$rp" -gt 0 ] || tl_fail "$r: no repair at 10% loss?"
done
pct=$(tl_jq send.json .retransmission_pct)
# Losses on loopback hit all receivers alike: about 10% plus lost repairs.
tl_cmp "$pct" '<' 40 || tl_fail "retransmitted $pct%"
echo "ok: 10% loss, $pct% retransmitted, $(tl_jq send.json .mib_per_s) MiB/s"
