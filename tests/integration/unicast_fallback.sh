#!/bin/bash
#
# unicast_fallback.sh: the automatic unicast fallback on the multicast
# segment itself (issue #6).  Three agents on segment A of the namespace
# lab, one of which drops every multicast datagram on input (as a switch
# without the group, or a host firewall, would): in one multicast scenario
# that machine finds no multicast within the probe after START, asks for
# unicast and gets the package by unicast beside the group, the other two
# by multicast, all three succeed, and each machine's path_reason says
# why.  Exit 0 pass, 1 fail, 77 skip (not root, outside CI).

UL_SRCDIR=$(cd "${0%/*}/../.." && pwd)
. "$UL_SRCDIR/tests/integration/unicast_lib.sh"
ul_init fcuf

ul_lab 3 0
ul_server
for h in r1 r2 r3; do
	ul_agent "$h"
done
ul_wait_online r1 r2 r3
ul_ok "fleetcastd and three agents on segment A online"

# r3 hears no multicast at all (unicast still passes).
lab_exec r3 nft -f - <<'NFT' || ul_fail "nft on r3"
table inet fcnomc {
	chain input {
		type filter hook input priority 0; policy accept;
		ip daddr 224.0.0.0/4 counter drop
	}
}
NFT

ul_pkg PROBE1 8
fc scenario create probe --package PROBE1 --max-targets 3 --max-wait 30 \
    >/dev/null || ul_fail "scenario create"
run=$(ul_run probe r1 r2 r3)
ul_wait_finished "$run"
size=$(stat -c %s "$UL_T/PROBE1.fcpkg")
while IFS='|' read -r name state path bytes reason err; do
	echo "   $name: $state by $path, $bytes bytes ($reason)"
	[ "$state" = succeeded ] || ul_fail "$name is $state: $err"
	[ "$bytes" = "$size" ] || ul_fail "$name received $bytes of $size bytes"
	[ "$(ul_ran PROBE1 "$name")" = 1 ] || ul_fail "PROBE1 ran $(ul_ran PROBE1 "$name") times on $name"
	case $name in
	r3)
		[ "$path" = unicast ] || ul_fail "r3 got it by $path"
		grep -q "^unicast fallback: no multicast arrived within 2 s after START" \
		    <<<"$reason" || ul_fail "r3: path_reason '$reason'"
		;;
	*)
		[ "$path" = multicast ] || ul_fail "$name got it by $path"
		;;
	esac
done < <(ul_table "$run")
grep -q "asking for unicast" "$UL_T/agent-r3.err" ||
    ul_fail "r3's agent did not ask for unicast"
ul_ok "run $run: r1, r2 by multicast, r3 fell back to unicast, in $(ul_seconds "$run") s"

echo "PASS: unicast_fallback"
exit 0
