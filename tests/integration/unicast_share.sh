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
#    for the agent to verify the first, held for 25 s by strace.
#
# Each stream's rate is the server's own figure ("... sent: N bytes to 1
# receiver in S s (R MiB/s)"): the rate cap is a ceiling, so a loaded host
# can only make a stream slower, and the upper bound is what is checked
# (with a lower bound far below a fair share, so that no stream starves).
# Exit 0 pass, 1 fail, 77 skip (not root, outside CI).

UL_SRCDIR=$(cd "${0%/*}/../.." && pwd)
. "$UL_SRCDIR/tests/integration/unicast_lib.sh"
ul_init fcus
command -v strace >/dev/null 2>&1 || ul_skip "needs strace (scripts/install-deps)"

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
# from the agent's DELIVERED).  The agent verifies while it receives, so its
# verification is made slow on purpose, and only it: strace holds the
# verification child's first look at its extraction directory for 25 s,
# longer than the 20 s join time, while the agent itself goes on (heartbeats,
# reports).  (Stopping the whole agent once the server logged the stream's
# end raced with the agent: it had often verified, reported DELIVERED and
# joined the second stream by then, and was frozen in it.)
ul_pkg SHARE3 48
ul_pkg SHARE4 4
fc scenario create uc3 --package SHARE3 --package SHARE4 --unicast \
    >/dev/null || ul_fail "scenario create uc3"
apid=$(ps -o pid=,comm= -g "${UL_AGENT_PG[b1]}" | awk '$2 ~ /fleetcast-agen/ { print $1; exit }')
[ -n "$apid" ] || ul_fail "no fleetcast-agent process in b1's group"
run=$(ul_run uc3 b1)
strace -qq -f -p "$apid" -o "$UL_T/b1.strace" \
    -e trace=newfstatat,lstat,statx -P "$UL_T/b1/staging/$run/pkg0" \
    -e inject=newfstatat,lstat,statx:delay_enter=25000000:when=1 &
strace_pid=$!
for ((i = 0; i < 100; i++)); do
	[ "$(awk '/^TracerPid:/ { print $2 }' "/proc/$apid/status")" != 0 ] &&
	    break
	sleep 0.05
done
[ $i -lt 100 ] || ul_fail "strace did not attach to b1's agent"
for ((i = 0; i < 1200; i++)); do
	grep -q "(DELAYED)" "$UL_T/b1.strace" 2>/dev/null && break
	sleep 0.05
done
kill "$strace_pid" 2>/dev/null
wait "$strace_pid" 2>/dev/null
[ $i -lt 1200 ] ||
    ul_fail "run $run: b1's verification of SHARE3 was not held (no lstat of staging/$run/pkg0 in 60 s)"
grep -q "run $run: package SHARE3 to .* sent:" "$UL_T/server.err" ||
    ul_fail "run $run: SHARE3's stream had not ended when its verification was released"
ul_wait_finished "$run"
IFS='|' read -r name state path _ _ err < <(ul_table "$run")
[ "$state" = succeeded ] && [ "$path" = unicast ] ||
    ul_fail "run $run: b1 is $state by $path: $err"
[ "$(ul_ran SHARE3 b1)$(ul_ran SHARE4 b1)" = 11 ] ||
    ul_fail "run $run: SHARE3/SHARE4 ran $(ul_ran SHARE3 b1)/$(ul_ran SHARE4 b1) times"
ul_ok "run $run: two packages by unicast, each ran once"

echo "PASS: unicast_share"
exit 0
