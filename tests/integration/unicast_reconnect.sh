#!/bin/bash
#
# unicast_reconnect.sh: the unicast fallback survives a short outage of the
# control connection (issue #6, hardening review 1).  A short outage of a
# segment loses the group and the TCP control connection together; the
# agent's request for unicast, or the server's answer to it, is lost with
# the connection.  Two agents on segment A; r1 hears no multicast, r2 does.
#
# 1. r1's control connection is cut (killed, and the port refused) right
#    after START: when its probe asks for unicast the agent is offline and
#    the REPORT cannot be sent.  Once the port is open again the agent
#    reconnects and asks then; r1 gets the package by unicast.
# 2. r1's control connection stops delivering to r1 right after START: its
#    REPORT fallback reaches the server, but the server's ASSIGN for the
#    unicast path and START are lost.  The connection is then killed and
#    restored: on reconnection the agent, still on the multicast path,
#    asks again, the server starts a fresh unicast session, and r1
#    succeeds by unicast.
# 3. One unicast stream at a time (max_unicast_streams = 1), taken by r2's
#    slow --unicast run: r1 falls back, takes the ASSIGN for the unicast
#    path, and its transfer waits for the stream.  r1's control connection
#    is cut; the stream frees up and the server sends START into the void.
#    Back online, r1's agent joins its unicast session without START.
# 4. As 3, but offline past the unicast join time: the server fails r1;
#    back online, the agent's report gets the lost CANCEL again.
# In 1 and 2 r2 succeeds by multicast; every package runs once.
# Exit 0 pass, 1 fail, 77 skip (not root, outside CI).

UL_SRCDIR=$(cd "${0%/*}/../.." && pwd)
. "$UL_SRCDIR/tests/integration/unicast_lib.sh"
ul_init fcur

ul_lab 2 0
ul_server --rate 200M --max_unicast_streams 1
for h in r1 r2; do
	ul_agent "$h"
done
ul_wait_online r1 r2
ul_ok "fleetcastd and two agents on segment A online"

CPORT=${UL_CONTROL##*:}

# r1 hears no multicast at all (unicast still passes).
ul_no_multicast r1

# wait_log FILE TEXT [SECONDS]: until FILE has a line with TEXT (fixed).
wait_log()
{
	local i n=$(( ${3:-20} * 20 ))
	for ((i = 0; i < n; i++)); do
		grep -qF "$2" "$1" && return 0
		sleep 0.05
	done
	ul_fail "no '$2' in ${1##*/} after ${3:-20} s"
}

# kill_ctl: end r1's control connection now (its agent sees it at once).
kill_ctl()
{
	lab_exec r1 ss -K -t dst "$UL_SERVER_ADDR" dport = "$CPORT" >/dev/null ||
	    ul_fail "ss -K on r1"
}

# block_ctl: r1 cannot reach the control port (refused) until unblock_ctl.
block_ctl()
{
	lab_exec r1 nft -f - <<NFT || ul_fail "nft on r1"
table inet fcctl {
	chain output {
		type filter hook output priority 0; policy accept;
		ip daddr $UL_SERVER_ADDR tcp dport $CPORT reject with tcp reset
	}
}
NFT
}

unblock_ctl()
{
	lab_exec r1 nft delete table inet fcctl || ul_fail "nft on r1"
}

# check RUN PKG: r1 by unicast, r2 by multicast, both once, whole.
check()
{
	local run=$1 pkg=$2 size name state path bytes reason err

	size=$(stat -c %s "$UL_T/$pkg.fcpkg")
	while IFS='|' read -r name state path bytes reason err; do
		echo "   $name: $state by $path, $bytes bytes ($reason)"
		[ "$state" = succeeded ] || ul_fail "$name is $state: $err"
		[ "$bytes" = "$size" ] ||
		    ul_fail "$name received $bytes of $size bytes"
		[ "$(ul_ran "$pkg" "$name")" = 1 ] ||
		    ul_fail "$pkg ran $(ul_ran "$pkg" "$name") times on $name"
		case $name in
		r1)
			[ "$path" = unicast ] || ul_fail "r1 got it by $path"
			grep -q "^unicast fallback: no multicast arrived within 2 s after START" \
			    <<<"$reason" || ul_fail "r1: path_reason '$reason'"
			;;
		*)
			[ "$path" = multicast ] || ul_fail "$name got it by $path"
			;;
		esac
	done < <(ul_table "$run")
}

# 1. Offline when the probe asks for unicast.
ul_pkg RC1 8
fc scenario create rc1 --package RC1 --max-targets 2 --max-wait 30 \
    >/dev/null || ul_fail "scenario create"
run=$(ul_run rc1 r1 r2)
wait_log "$UL_T/agent-r1.err" "run $run: START package 0"
block_ctl
kill_ctl
wait_log "$UL_T/agent-r1.err" \
    "run $run: package RC1: no multicast arrived within 2 s after START; asking for unicast" 10
sleep 1
unblock_ctl
ul_wait_finished "$run"
check "$run" RC1
grep -qF "package RC1: offline; asking for unicast once connected" \
    "$UL_T/agent-r1.err" || ul_fail "r1's agent was not offline when it asked"
grep -qF "run $run: package RC1: online again; asking for unicast again" \
    "$UL_T/agent-r1.err" || ul_fail "r1's agent did not ask again"
ul_ok "run $run: r1 offline when it asked for unicast, asked again once connected, succeeded by unicast"

# 2. The request arrives, the answer is lost with the connection.
ul_pkg RC2 8
fc scenario create rc2 --package RC2 --max-targets 2 --max-wait 30 \
    >/dev/null || ul_fail "scenario create"
run=$(ul_run rc2 r1 r2)
wait_log "$UL_T/agent-r1.err" "run $run: START package 0"
# Only what carries data is dropped: the server's ACKs still reach r1, so
# that r1's REPORT is not held back behind unacknowledged data (Nagle) and
# does reach the server.  A pure ACK, with every TCP option, is at most
# 80 bytes; the smallest TLS record is larger.
lab_exec r1 nft -f - <<NFT || ul_fail "nft on r1"
table inet fcctl {
	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr $UL_SERVER_ADDR tcp sport $CPORT ip length > 80 drop
	}
}
NFT
wait_log "$UL_T/server.err" "run $run machine r1: unicast fallback: no multicast"
sleep 1
kill_ctl
unblock_ctl
grep -q "run $run: the server moves the transfer to unicast" \
    "$UL_T/agent-r1.err" && ul_fail "run $run: the server's ASSIGN got through"
ul_wait_finished "$run"
check "$run" RC2
grep -qF "run $run: package RC2: online again; asking for unicast again" \
    "$UL_T/agent-r1.err" || ul_fail "r1's agent did not ask again"
grep -qF "run $run machine r1: asks for unicast again" "$UL_T/server.err" ||
    ul_fail "the server did not start a fresh unicast session for r1"
ul_ok "run $run: r1's unicast ASSIGN lost with its connection, asked again on reconnection, succeeded by unicast"

# 3. START lost while r1's unicast transfer waited for the one stream.
ul_pkg RC3B 24
ul_pkg RC3 8
fc scenario create rc3b --package RC3B --unicast >/dev/null ||
    ul_fail "scenario create"
fc scenario create rc3 --package RC3 --max-targets 1 --max-wait 30 \
    >/dev/null || ul_fail "scenario create"
# r2's switch port: 24 MiB take ~5 s.
tc -n "$(lab_ns sw)" qdisc replace dev p-r2 root tbf rate 40mbit \
    burst 32768 latency 50ms || ul_fail "tc on p-r2"
run2=$(ul_run rc3b r2)
wait_log "$UL_T/server.err" "run $run2: sending package RC3B to"
run=$(ul_run rc3 r1)
wait_log "$UL_T/agent-r1.err" "run $run: the server moves the transfer to unicast"
grep -qF "run $run: sending package RC3 to $(lab_addr r1)" "$UL_T/server.err" &&
    ul_fail "run $run: r1's unicast transfer did not wait for the stream"
block_ctl
kill_ctl
wait_log "$UL_T/server.err" "run $run: sending package RC3 to $(lab_addr r1)" 40
unblock_ctl
ul_wait_finished "$run"
ul_wait_finished "$run2"
IFS='|' read -r name state path bytes reason err < <(ul_table "$run")
echo "   $name: $state by $path, $bytes bytes ($reason)"
[ "$state" = succeeded ] || ul_fail "r1 is $state: $err"
[ "$path" = unicast ] || ul_fail "r1 got it by $path"
[ "$(ul_ran RC3 r1)" = 1 ] || ul_fail "RC3 ran $(ul_ran RC3 r1) times on r1"
# One START only: the multicast one; the unicast one was lost.
[ "$(grep -cF "run $run: START package 0" "$UL_T/agent-r1.err")" = 1 ] ||
    ul_fail "run $run: the unicast START reached r1"
grep -qF "run $run: package RC3: online again; joining the unicast session" \
    "$UL_T/agent-r1.err" || ul_fail "r1's agent did not join by itself"
ul_ok "run $run: r1's START lost while its unicast transfer waited for the stream; joined the session once online, succeeded by unicast"

# 4. As 3, but r1 stays offline past its unicast join time (20 s): the
# server fails r1 and its CANCEL is lost too.  Back online, r1's agent joins
# a session that is gone and reports receiving; the server answers with
# the CANCEL again, and the agent ends the run instead of waiting forever.
ul_pkg RC4B 24
ul_pkg RC4 8
fc scenario create rc4b --package RC4B --unicast >/dev/null ||
    ul_fail "scenario create"
fc scenario create rc4 --package RC4 --max-targets 1 --max-wait 30 \
    >/dev/null || ul_fail "scenario create"
run2=$(ul_run rc4b r2)
wait_log "$UL_T/server.err" "run $run2: sending package RC4B to"
run=$(ul_run rc4 r1)
wait_log "$UL_T/agent-r1.err" "run $run: the server moves the transfer to unicast"
block_ctl
kill_ctl
wait_log "$UL_T/server.err" "run $run: sending package RC4 to $(lab_addr r1)" 40
wait_log "$UL_T/server.err" "run $run machine r1: transferring -> failed: unicast: no answer" 40
unblock_ctl
wait_log "$UL_T/agent-r1.err" "run $run: cancelled by the server" 40
ul_wait_finished "$run2"
IFS='|' read -r name state path bytes reason err < <(ul_table "$run")
echo "   $name: $state by $path ($err)"
[ "$state" = failed ] || ul_fail "r1 is $state: $err"
[ "$(ul_ran RC4 r1)" = 0 ] || ul_fail "RC4 ran $(ul_ran RC4 r1) times on r1"
ul_ok "run $run: r1 offline past its unicast join time: failed on the server, and its agent, back online, was told again and ended the run"

echo "PASS: unicast_reconnect"
exit 0
