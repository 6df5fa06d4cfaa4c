#!/bin/bash
#
# unicast_routed.sh: the unicast fallback across a router (MISSION.md S8,
# issue #6).  fleetcastd sits on segment A of the routed lab
# (tests/lab/lab.sh --remote): three agents on A and three on B, behind a
# router that forwards unicast but no multicast, each a real
# fleetcast-agent in its own lab host.  One multicast scenario on all six:
# every machine succeeds, the three on A by multicast and the three on B by
# unicast, and each machine's result says why (path_reason).  Then the
# same with 5% of the UDP that B's hosts receive dropped.
# Exit 0 pass, 1 fail, 77 skip (not root, outside CI).

UL_SRCDIR=$(cd "${0%/*}/../.." && pwd)
. "$UL_SRCDIR/tests/integration/unicast_lib.sh"
ul_init fcur

A="r1 r2 r3"
B="b1 b2 b3"
ul_lab 3 3
ul_server
for h in $A $B; do
	ul_agent "$h"
done
ul_wait_online $A $B
ul_ok "fleetcastd on A, three agents on A and three on B online"

# check RUN PKG: all six succeeded, A by multicast, B by unicast, each with
# a reason that names the rule, and the package ran once on each.
check()
{
	local run=$1 pkg=$2 name state path bytes reason err size
	size=$(stat -c %s "$UL_T/$pkg.fcpkg")
	ul_table "$run" >"$UL_T/table.$run"
	[ "$(wc -l <"$UL_T/table.$run")" = 6 ] ||
	    ul_fail "run $run: not six machines: $(cat "$UL_T/table.$run")"
	while IFS='|' read -r name state path bytes reason err; do
		echo "   $name: $state by $path, $bytes bytes ($reason)"
		[ "$state" = succeeded ] ||
		    ul_fail "run $run: $name is $state: $err"
		[ "$bytes" = "$size" ] ||
		    ul_fail "run $run: $name received $bytes of $size bytes"
		[ "$(ul_ran "$pkg" "$name")" = 1 ] ||
		    ul_fail "run $run: $pkg ran $(ul_ran "$pkg" "$name") times on $name"
		case $name in
		r*)
			[ "$path" = multicast ] ||
			    ul_fail "run $run: $name (segment A) got it by $path"
			grep -q "on the subnet of the sending interface eth0" \
			    <<<"$reason" ||
			    ul_fail "run $run: $name: path_reason '$reason'"
			;;
		b*)
			[ "$path" = unicast ] ||
			    ul_fail "run $run: $name (segment B) got it by $path"
			grep -q "not on the subnet of the sending interface eth0" \
			    <<<"$reason" ||
			    ul_fail "run $run: $name: path_reason '$reason'"
			;;
		esac
	done <"$UL_T/table.$run"
}

# loss_bytes HOST: bytes the loss rule has dropped on HOST so far.
loss_bytes()
{
	lab_exec "$1" nft list table inet fclab 2>/dev/null | awk '
	/counter packets/ {
		for (i = 1; i < NF; i++)
			if ($i == "bytes")
				n += $(i + 1)
	}
	END { print n + 0 }'
}

# 1. Clean network: one multicast scenario on all six.
ul_pkg APP1 8
fc scenario create mixed1 --package APP1 --max-targets 6 --max-wait 30 \
    >/dev/null || ul_fail "scenario create"
run=$(ul_run mixed1 $A $B)
ul_wait_finished "$run"
check "$run" APP1
ul_ok "run $run: six succeeded, A by multicast, B by unicast, in $(ul_seconds "$run") s"

# 2. 5% loss on every host of B (their input UDP, nftables).
lab_loss 5 $B
ul_pkg APP2 8
fc scenario create mixed2 --package APP2 --max-targets 6 --max-wait 30 \
    >/dev/null || ul_fail "scenario create"
run=$(ul_run mixed2 $A $B)
ul_wait_finished "$run"
check "$run" APP2
# The sender's UDP GSO batches cross the veths and the router whole, so
# the rule drops whole batches (up to 64 datagrams at once): burst loss,
# harder than independent drops.  Count what it dropped in bytes.
dropped=0
for h in $B; do
	dropped=$((dropped + $(loss_bytes "$h")))
done
size=$(stat -c %s "$UL_T/APP2.fcpkg")
[ "$dropped" -gt $((3 * size / 50)) ] ||
    ul_fail "the loss rule dropped only $dropped bytes on B (2% is $((3 * size / 50)))"
ul_ok "run $run with 5% loss on B ($((dropped / 1024)) KiB dropped): six succeeded in $(ul_seconds "$run") s"

echo "PASS: unicast_routed"
exit 0
