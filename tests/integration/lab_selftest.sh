#!/bin/bash
#
# lab_selftest.sh: a quick check of the namespace lab (tests/lab/lab.sh)
# that the integration tests and the benchmark stand on.  It builds a lab
# with two receivers on segment A and one behind the router on segment B,
# and checks: unicast reaches every host (across the router too), multicast
# sent by the sender reaches the receivers that joined on A and stops at the
# router, the addresses carry a broadcast and a 224.0.0.0/4 route, the loss
# rule drops and can be removed, background processes are stopped, and
# `down` leaves no namespace behind and never touched the host's links.
# Exit 0 pass, 1 fail, 77 skip (not root, outside CI).

here=$(cd "${0%/*}" && pwd)
lab_sh=$here/../lab/lab.sh
probe=$here/../lab/mcast-probe.py

. "$here/selftest_lib.sh" || exit 1
selftest_begin lab_selftest fcst ip nft tc python3 ping setsid pgrep

links_before=$(ip -o link show | wc -l)

# Build: 2 receivers on A, 1 on B behind the router.
if ! lab_up 2 1 0 "" >"$tmp/up.log" 2>&1; then
	cat "$tmp/up.log"
	echo "FAIL: lab_up"
	exit 1
fi
ok "lab up: $(wc -l <"$(lab_state)/hosts") hosts"
[ "$(ip -o link show | wc -l)" = "$links_before" ] &&
    ok "no link added to the host's namespace" ||
    fail "the host's namespace gained links"
nns=$(lab_nslist "$LAB_NAME" | wc -l)
if (lab_up 1 >/dev/null 2>&1); then
	fail "a second lab_up with the same name succeeded"
elif "$lab_sh" up --name "$LAB_NAME" --receivers 1 >/dev/null 2>&1; then
	fail "a second 'lab.sh up' with the same name succeeded"
elif [ "$(lab_nslist "$LAB_NAME" | wc -l)" != "$nns" ]; then
	fail "a refused second 'up' changed the existing lab"
else
	ok "a second lab with the same name is refused, the first kept"
fi

# Addresses: a broadcast and a multicast route on every host (udpcast).
for h in s r1 r2 b1; do
	a=$(lab_addr "$h")
	lab_exec "$h" ip -4 -o addr show dev eth0 | grep -q "inet $a/24 brd ${a%.*}.255" ||
	    fail "$h: no $a/24 with broadcast ${a%.*}.255"
	lab_exec "$h" ip route show 224.0.0.0/4 | grep -q 'dev eth0' ||
	    fail "$h: no route for 224.0.0.0/4 on eth0"
	[ "$(lab_exec "$h" cat /sys/class/net/eth0/mtu)" = 1500 ] ||
	    fail "$h: MTU is not 1500"
done
ok "addresses, broadcast, multicast routes, MTU"

# Unicast, on the segment and through the router.
for h in r1 r2 b1; do
	if lab_exec s ping -c 1 -W 2 "$(lab_addr "$h")" >/dev/null 2>&1; then
		ok "ping s -> $h ($(lab_addr "$h"))"
	else
		fail "ping s -> $h ($(lab_addr "$h"))"
	fi
done
lab_exec r1 ping -c 1 -W 2 "$(lab_addr r2)" >/dev/null 2>&1 &&
    ok "ping r1 -> r2" || fail "ping r1 -> r2"

# mcast_round TAG COUNT: start probes on r1, r2, b1, send COUNT datagrams
# from s with TTL 8 (so only the router's lack of multicast routing can
# stop them), and leave each host's count in $tmp/TAG-HOST.out.
group=239.192.56.77
port=56999
mcast_round()
{
	local tag=$1 count=$2 h pgs=() i=0
	for h in r1 r2 b1; do
		lab_spawn "$tmp" "$tag-$h" "$h" python3 "$probe" recv \
		    "$group" "$port" "$(lab_addr "$h")" 3 "$count"
		pgs+=("$LAB_LAST_PID")
	done
	for h in r1 r2 b1; do
		lab_wait_udp "$h" "$port" 5 || fail "$h: probe not listening"
	done
	lab_exec s python3 "$probe" send "$group" "$port" "$(lab_addr s)" \
	    "$count" 8 || fail "probe send failed"
	for h in r1 r2 b1; do
		while [ ! -s "$tmp/$tag-$h.rc" ] && lab_group_alive "${pgs[i]}"; do
			sleep 0.1
		done
		lab_stop "${pgs[i]}"
		i=$((i + 1))
	done
}

mcast_round clean 20
for h in r1 r2; do
	n=$(cat "$tmp/clean-$h.out" 2>/dev/null)
	[ "${n:-0}" -ge 18 ] && ok "multicast s -> $h: $n of 20" ||
	    fail "multicast s -> $h: ${n:-none} of 20"
done
n=$(cat "$tmp/clean-b1.out" 2>/dev/null)
[ "$n" = 0 ] && ok "multicast stops at the router (b1: 0)" ||
    fail "multicast crossed the router (b1: ${n:-none})"

# Loss: 100 % on r2 drops everything there, r1 is untouched; 0 removes it.
lab_loss 100 r2
mcast_round lossy 10
n1=$(cat "$tmp/lossy-r1.out" 2>/dev/null)
n2=$(cat "$tmp/lossy-r2.out" 2>/dev/null)
dropped=$(lab_loss_count r2)
[ "${n1:-0}" -ge 9 ] && [ "$n2" = 0 ] && [ "$dropped" -ge 10 ] &&
    ok "loss 100% on r2: r1 got $n1, r2 got $n2, rule dropped $dropped" ||
    fail "loss 100% on r2: r1 got ${n1:-none}, r2 got ${n2:-none}, dropped $dropped"
lab_loss 0 r2
lab_exec r2 nft list tables | grep -q fclab &&
    fail "loss 0 left the nftables table on r2" || ok "loss 0 removes the rule"

# Shaping: a tbf qdisc appears on the sender and goes away.
lab_shape s 100mbit
lab_exec s tc qdisc show dev eth0 | grep -q tbf && ok "tbf on s" ||
    fail "no tbf qdisc on s"
lab_shape s off

# Background processes: lab_stop ends a group and records how it ended;
# lab_down ends what was started in a host by other means.
lab_spawn "$tmp" sleeper r1 sleep 300
pg=$LAB_LAST_PID
# Signal the command itself, not the shell that forks it: a child signalled
# before its exec would run the wrapper's trap and go on to start sleep.
for ((i = 0; i < 50; i++)); do
	pgrep -g "$pg" -x sleep >/dev/null && break
	sleep 0.1
done
lab_stop "$pg" TERM 2
if lab_group_alive "$pg"; then
	fail "lab_stop left group $pg running"
elif [ "$(cat "$tmp/sleeper.rc" 2>/dev/null)" = 143 ]; then
	ok "lab_stop ended the process (exit 143)"
else
	fail "lab_stop: exit status $(cat "$tmp/sleeper.rc" 2>/dev/null)"
fi
setsid ip netns exec "$(lab_ns r2)" sleep 300 </dev/null >/dev/null 2>&1 &
stray=$!
sleep 0.2

name=$LAB_NAME
lab_down || fail "lab_down returned non-zero"
lab_down || fail "a second lab_down is not idempotent"
LAB_NAME=
if ip netns list | grep -q "^$name-"; then
	fail "namespaces of $name remain: $(ip netns list | grep "^$name-" | tr '\n' ' ')"
else
	ok "down removed every namespace"
fi
if kill -0 "$stray" 2>/dev/null && [ "$(awk '{ print $3 }' "/proc/$stray/stat")" != Z ]; then
	fail "a process started in r2 survived lab_down"
	kill "$stray"
else
	ok "down ended the processes left in the lab"
fi
wait "$stray" 2>/dev/null
[ "$(ip -o link show | wc -l)" = "$links_before" ] &&
    ok "host links as before" || fail "host links changed"

selftest_end lab_selftest
