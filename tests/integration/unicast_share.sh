#!/bin/bash
#
# unicast_share.sh: the server's `rate` is shared by the streams it sends at
# once (issue #6: the unicast path is paced so that it does not starve the
# multicast stream).  fleetcastd with rate = 80M (9.5 MiB/s) in the routed
# lab:
#
# 1. a --unicast scenario on two machines of segment B: two unicast
#    streams, each held to about half of the rate, not each at the whole
#    rate (which would send 160 Mbit/s from a server told 80);
# 2. one multicast scenario on a machine of A and one of B: the group's
#    stream and B's unicast stream share the rate the same way;
# 3. a --unicast scenario of two packages: the second one's stream waits
#    for the agent to verify the first.
#
# Each stream's rate is the server's own figure ("... sent: N bytes to 1
# receiver in S s (R MiB/s)"): the rate cap is a ceiling, so a loaded host
# can only make a stream slower, and the upper bound is what is checked
# (with a lower bound far below a fair share, so that no stream starves).
# Exit 0 pass, 1 fail, 77 skip (not root, outside CI).

UL_SRCDIR=$(cd "${0%/*}/../.." && pwd)
. "$UL_SRCDIR/tests/integration/unicast_lib.sh"
ul_init fcus

ul_lab 1 2
ul_server --rate 80M
for h in r1 b1 b2; do
	ul_agent "$h"
done
ul_wait_online r1 b1 b2
ul_ok "fleetcastd (rate 80M) on A, r1 on A, b1 and b2 on B online"

# rates RUN: the MiB/s of each of the run's streams, one per line: DEST RATE
rates()
{
	sed -n "s/^.*run $1: package [^ ]* to \([^ ]*\) sent: .* (\([0-9.]*\) MiB\/s).*$/\1 \2/p" \
	    "$UL_T/server.err"
}

# check RUN WANT: WANT streams, each between 1.5 and 6.5 MiB/s (the whole
# rate is 9.5 MiB/s: two streams at it would show about 9.5 each).
check()
{
	local run=$1 want=$2 n=0 dest mibs
	while read -r dest mibs; do
		n=$((n + 1))
		echo "   stream to $dest: $mibs MiB/s"
		awk -v r="$mibs" 'BEGIN { exit !(r >= 1.5 && r <= 6.5) }' ||
		    ul_fail "run $run: the stream to $dest ran at $mibs MiB/s, not about half of 9.5"
	done < <(rates "$run")
	[ "$n" = "$want" ] ||
	    ul_fail "run $run: $n streams in the server's log, wanted $want"
	while IFS='|' read -r name state path _ _ err; do
		[ "$state" = succeeded ] ||
		    ul_fail "run $run: $name is $state: $err"
	done < <(ul_table "$run")
}

ul_pkg SHARE1 12
fc scenario create uc2 --package SHARE1 --unicast >/dev/null ||
    ul_fail "scenario create uc2"
run=$(ul_run uc2 b1 b2)
ul_wait_finished "$run"
check "$run" 2
ul_ok "run $run: two unicast streams shared the 80M rate"

ul_pkg SHARE2 12
fc scenario create mix2 --package SHARE2 --max-targets 2 --max-wait 30 \
    >/dev/null || ul_fail "scenario create mix2"
run=$(ul_run mix2 r1 b1)
ul_wait_finished "$run"
check "$run" 2
ul_ok "run $run: the multicast stream to r1 and the unicast stream to b1 shared the 80M rate"

# 3. Two packages by unicast: the stream for the second waits while the
# agent verifies the first, however long that takes (its join time counts
# from the agent's DELIVERED).  The agent is stopped for 25 s as soon as
# the first stream ends, as a verification that outlasts the 20 s join time.
ul_pkg SHARE3 48
ul_pkg SHARE4 4
fc scenario create uc3 --package SHARE3 --package SHARE4 --unicast \
    >/dev/null || ul_fail "scenario create uc3"
run=$(ul_run uc3 b1)
for ((i = 0; i < 600; i++)); do
	grep -q "run $run: package SHARE3 to .* sent:" "$UL_T/server.err" && break
	sleep 0.05
done
kill -STOP -- "-${UL_AGENT_PG[b1]}" || ul_fail "cannot stop b1's agent"
sleep 25
kill -CONT -- "-${UL_AGENT_PG[b1]}"
ul_wait_finished "$run"
IFS='|' read -r name state path _ _ err < <(ul_table "$run")
[ "$state" = succeeded ] && [ "$path" = unicast ] ||
    ul_fail "run $run: b1 is $state by $path: $err"
[ "$(ul_ran SHARE3 b1)$(ul_ran SHARE4 b1)" = 11 ] ||
    ul_fail "run $run: SHARE3/SHARE4 ran $(ul_ran SHARE3 b1)/$(ul_ran SHARE4 b1) times"
ul_ok "run $run: two packages by unicast, each ran once"

echo "PASS: unicast_share"
exit 0
