#!/bin/bash
#
# unicast_queue.sh: a machine that falls back to unicast while every
# unicast stream is taken (max_unicast_streams, MISSION.md S7) waits for
# one, however long, and is not failed by its own agent's 30 s wait for the
# server's answer: the answer (ASSIGN for the unicast path) came at once,
# the START comes when the stream frees.  Two agents on segment A,
# fleetcastd with max_unicast_streams = 1:
#
# 1. r2 gets a --unicast run through a 5 Mbit/s switch port (about 40 s);
# 2. r1, which hears no multicast, falls back in a multicast run and waits
#    for r2's stream: its history says so, and it succeeds by unicast.
# Exit 0 pass, 1 fail, 77 skip (not root, outside CI).

UL_SRCDIR=$(cd "${0%/*}/../.." && pwd)
. "$UL_SRCDIR/tests/integration/unicast_lib.sh"
ul_init fcuq

ul_lab 2 0
ul_server --max_unicast_streams 1
for h in r1 r2; do
	ul_agent "$h"
done
ul_wait_online r1 r2
ul_ok "fleetcastd (max_unicast_streams 1) and two agents on segment A online"

ul_no_multicast r1
tc -n "$(lab_ns sw)" qdisc replace dev p-r2 root tbf rate 5mbit \
    burst 32768 latency 50ms || ul_fail "tc on p-r2"

ul_pkg QSLOW 24
ul_pkg QFAST 4
fc scenario create qslow --package QSLOW --unicast >/dev/null ||
    ul_fail "scenario create qslow"
fc scenario create qfast --package QFAST --max-targets 1 --max-wait 30 \
    >/dev/null || ul_fail "scenario create qfast"
run2=$(ul_run qslow r2)
for ((i = 0; i < 200; i++)); do
	grep -qF "run $run2: sending package QSLOW to" "$UL_T/server.err" && break
	sleep 0.1
done
run=$(ul_run qfast r1)
ul_wait_finished "$run" 120
ul_wait_finished "$run2" 120
IFS='|' read -r name state path bytes reason err < <(ul_table "$run")
echo "   $name: $state by $path, $bytes bytes ($reason)"
[ "$state" = succeeded ] || ul_fail "r1 is $state: $err"
[ "$path" = unicast ] || ul_fail "r1 got it by $path"
[ "$(ul_ran QFAST r1)" = 1 ] || ul_fail "QFAST ran $(ul_ran QFAST r1) times on r1"
fc run show "$run" --json | grep -qF "waiting for a free unicast stream" ||
    ul_fail "r1's history does not say it waited for a stream"
waited=$(ul_seconds "$run")
awk -v s="$waited" 'BEGIN { exit !(s > 30) }' ||
    ul_fail "run $run took $waited s: r1 did not wait past the agent's 30 s"
ul_ok "run $run: r1 waited $waited s for the one unicast stream and succeeded by unicast"

echo "PASS: unicast_queue"
exit 0
