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
# A "management" interface on the server host whose subnet covers segment
# B's addresses, without a route (noprefixroute: B is still reached through
# the router).  The inventory must not count it: only the sending
# interface's subnet makes a machine local, as for the runs.
lab_exec s ip link add mgmt0 type veth peer name mgmt1 &&
    lab_exec s ip addr add "$LAB_NET_B.250/24" noprefixroute dev mgmt0 &&
    lab_exec s ip link set mgmt0 up || ul_fail "management interface"
ul_server
for h in $A $B; do
	ul_agent "$h"
done
ul_wait_online $A $B
ul_ok "fleetcastd on A, three agents on A and three on B online"

# The inventory's segment follows the runs' rule: A local, B remote, in
# `machine list` and in `machine show --json`.
fc machine list >"$UL_T/machines" || ul_fail "machine list"
for h in $A $B; do
	case $h in r*) want=local;; *) want=remote;; esac
	got=$(awk -v h="$h" '$1 == h { print $4 }' "$UL_T/machines")
	[ "$got" = "$want" ] ||
	    ul_fail "machine list: $h on segment '$got', wanted $want: $(cat "$UL_T/machines")"
	got=$(fc machine show "$h" --json | python3 -c '
import json, sys
print(json.load(sys.stdin)["segment"])')
	[ "$got" = "$want" ] ||
	    ul_fail "machine show $h --json: segment '$got', wanted $want"
done
ul_ok "inventory: r1-r3 local, b1-b3 remote (the mgmt0 subnet does not count)"

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
# The text view: a PATH column, and the reason on an indented line under
# each machine.
fc run show "$run" >"$UL_T/show.$run" || ul_fail "run show $run"
awk 'NR > 3 && !/^    / { m = $1; p = $3; next }
    /^    path_reason: / { print m, p, substr($0, 18) }' \
    "$UL_T/show.$run" >"$UL_T/reasons.$run"
[ "$(wc -l <"$UL_T/reasons.$run")" = 6 ] ||
    ul_fail "run show $run: not six path_reason lines: $(cat "$UL_T/show.$run")"
grep -q '^MACHINE  *STATE  *PATH ' "$UL_T/show.$run" ||
    ul_fail "run show $run: no PATH column: $(cat "$UL_T/show.$run")"
for h in $A $B; do
	case $h in
	r*) want="$h multicast multicast: $LAB_NET_A.* is on the subnet of the sending interface eth0";;
	*) want="$h unicast unicast: $LAB_NET_B.* is not on the subnet of the sending interface eth0";;
	esac
	grep -q "^$want" "$UL_T/reasons.$run" ||
	    ul_fail "run show $run: $h: wanted '$want': $(cat "$UL_T/show.$run")"
done
ul_ok "run show $run (text): PATH column and each machine's path_reason"
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
