#!/bin/sh
# A bottleneck further on than the sender's own queue, that drops what
# overflows it without telling the sender: a switch port slower than the
# server's link (nftables limits the group's data entering the namespace
# to 40 MB/s, feedback untouched).  The stream overruns it at first and
# loses a third and more of what it sends; the receiver must still get
# the exact file, with its repairs not held to the bounds meant for a
# member that claims loss alone (a lone receiver behind an overrun 1
# Gbit/s port once stalled until the deadline, its NAKs dropped as
# "budget"), and the rate must come down to the port.
. "${srcdir:-.}/tests/integration/transport_lib.sh"
tl_init "$0" "$@"
command -v nft >/dev/null 2>&1 || tl_skip "needs nft (nftables)"

nft add table inet t &&
nft add chain inet t in '{ type filter hook input priority 0; }' &&
nft add rule inet t in udp dport "${TL_GROUP#*:}" \
    limit rate over 40 mbytes/second burst 1 mbytes drop ||
    tl_fail "nftables rate limit"

tl_file src 64
tl_recv r1
sleep 0.3
tl_send src --min-receivers 1
[ $TL_RC = 0 ] || { tl_show; tl_fail "sender exit $TL_RC"; }
tl_wait_recv r1
[ $TL_RC = 0 ] || { tl_show; tl_fail "r1 exit $TL_RC"; }
tl_same src "$T/r1.out"
pct=$(tl_jq send.json .retransmission_pct)
secs=$(tl_jq send.json .transfer_seconds)
budget=$(tl_jq send.json .drops.budget)
# At the port's 40 MB/s the file takes 1.7 s; repairs on top.
tl_cmp "$secs" '<' 15 || { tl_show; tl_fail "took $secs s"; }
echo "ok: 64 MiB through a 40 MB/s port: $secs s, $pct% sent again, budget drops $budget"
