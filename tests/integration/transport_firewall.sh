#!/bin/sh
# Mission rule M5 (fixed, documented ports): behind a firewall that lets
# in only the data port P (the group's) and the answer port P+1, and
# answers to what a host sent itself (stateful), a transfer works.  The
# sender sends from P+1 and receivers answer there; from an ephemeral port
# their HELLOs would be dropped and nobody would join.  Both summaries
# show the port.
. "${srcdir:-.}/tests/integration/transport_lib.sh"
tl_init "$0" "$@"
command -v nft >/dev/null 2>&1 || tl_skip "needs nft (nftables)"
data=${TL_GROUP##*:}
port=$((data + 1))
nft -f - <<NFT || tl_skip "nft refused the rules (no conntrack?)"
table inet fcfw {
	chain in {
		type filter hook input priority 0; policy drop;
		ct state established,related accept
		udp dport { $data, $port } counter accept
	}
}
NFT

tl_file src 4
tl_recv r1
tl_recv r2
sleep 0.3
tl_send src --min-receivers 2 --max-wait 5
[ $TL_RC = 0 ] || { tl_show; tl_fail "sender exit $TL_RC"; }
[ "$(tl_jq send.json .port)" = "$port" ] ||
    tl_fail "sender port $(tl_jq send.json .port), want $port"
[ "$(tl_receivers send.json ok)" = 2 ] || tl_fail "not two receivers ok"
for r in r1 r2; do
	tl_wait_recv $r
	[ $TL_RC = 0 ] || { tl_show; tl_fail "$r exit $TL_RC"; }
	tl_same src "$T/$r.out"
	case $(tl_jq $r.json .sender) in
	*:$port)
		;;
	*)
		tl_fail "$r: sender $(tl_jq $r.json .sender), want port $port"
		;;
	esac
done
echo "ok: only udp dport $data and $port open; sender port $port"
