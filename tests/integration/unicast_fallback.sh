#!/bin/bash
#
# unicast_fallback.sh: the automatic unicast fallback on the multicast
# segment itself (issue #6).  Three agents on segment A of the namespace
# lab, fleetcastd sending at 200 Mbit/s.
#
# 1. One machine drops every multicast datagram on input (as a switch
#    without the group, or a host firewall, would): in one multicast
#    scenario it finds no multicast within the probe after START, asks for
#    unicast and gets the package by unicast beside the group; the group
#    starts without waiting out its join time for it; all three succeed
#    and each machine's path_reason says why.
# 2. One machine loses 20% of the UDP it receives: the group's sender
#    refuses it as a straggler instead of sizing everyone's repairs by it,
#    it finishes by unicast, and its receiver keeps what the multicast
#    transfer had brought (the staging file and bitmap carry over to the
#    new session).
# 3. r3 again hears no multicast, and its link is slow (40 Mbit/s): it is
#    moved to unicast, and its agent is killed (-9) in the middle of the
#    unicast transfer.  The path the server moved it to was stored before
#    the agent took it, so the restarted agent resumes on unicast (the
#    server does not repeat ASSIGN to a machine that is transferring):
#    a. restarted at once, it rejoins the unicast session from its staging
#       file without asking for anything;
#    b. restarted after the server dropped it and ended that session, it
#       finds no session within the probe time and asks for a new one.
#    Either way the run succeeds by unicast with the package run once.
# Exit 0 pass, 1 fail, 77 skip (not root, outside CI).

UL_SRCDIR=$(cd "${0%/*}/../.." && pwd)
. "$UL_SRCDIR/tests/integration/unicast_lib.sh"
ul_init fcuf

ul_lab 3 0
ul_server --rate 200M
for h in r1 r2 r3; do
	ul_agent "$h"
done
ul_wait_online r1 r2 r3
ul_ok "fleetcastd and three agents on segment A online"

# r3 hears no multicast at all (unicast still passes).
ul_no_multicast r3

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
grep -q "max wait over" "$UL_T/server.err" &&
    ul_fail "the group's sender waited out its join time for r3"
ul_ok "run $run: r1, r2 by multicast, r3 fell back to unicast, in $(ul_seconds "$run") s"
ul_no_multicast r3 off

# 2. 20% loss on r2: refused by the group's sender, finished by unicast.
lab_loss 20 r2
ul_pkg LOSSY 96
fc scenario create lossy --package LOSSY --max-targets 3 --max-wait 30 \
    >/dev/null || ul_fail "scenario create"
run=$(ul_run lossy r1 r2 r3)
ul_wait_finished "$run" 80
size=$(stat -c %s "$UL_T/LOSSY.fcpkg")
while IFS='|' read -r name state path bytes reason err; do
	echo "   $name: $state by $path, $bytes bytes ($reason)"
	[ "$state" = succeeded ] || ul_fail "$name is $state: $err"
	[ "$bytes" = "$size" ] || ul_fail "$name received $bytes of $size bytes"
	case $name in
	r2)
		[ "$path" = unicast ] || ul_fail "r2 got it by $path"
		grep -q "^unicast fallback: fell behind the group: first-pass loss" \
		    <<<"$reason" || ul_fail "r2: path_reason '$reason'"
		;;
	*)
		[ "$path" = multicast ] || ul_fail "$name got it by $path"
		;;
	esac
done < <(ul_table "$run")
grep -q "holds the same file: keeping it" "$UL_T/agent-r2.err" ||
    ul_fail "r2's unicast receiver did not keep what the multicast brought"
kept=$(sed -n 's/.*resuming, \([0-9]*\) of [0-9]* bytes already on disk.*/\1/p' \
    "$UL_T/agent-r2.err" | tail -n 1)
[ "${kept:-0}" -gt 0 ] || ul_fail "r2 resumed with nothing on disk"
ul_ok "run $run: r2 (20% loss) refused by the group, finished by unicast from $((kept / 1048576)) MiB on disk; r1, r3 by multicast"

lab_loss 0 r2

# 3. kill -9 of r3's agent in the middle of its unicast transfer.
ul_no_multicast r3
# r3's switch port: what goes to r3 is shaped, so the transfer lasts.
tc -n "$(lab_ns sw)" qdisc replace dev p-r3 root tbf rate 40mbit \
    burst 32768 latency 50ms || ul_fail "tc on p-r3"

# crash PKG DOWN: a run of PKG (16 MiB) on r3, which falls back to unicast;
# its agent is killed (-9) with a quarter of the file on disk and started
# again at once (DOWN = short) or once the server has ended the unicast
# session that lost its receiver (DOWN = long).  Sets run.
crash()
{
	local pkg=$1 down=$2 st full i ended

	ul_pkg "$pkg" 16
	fc scenario create "sc-$pkg" --package "$pkg" --max-targets 1 \
	    --max-wait 30 >/dev/null || ul_fail "scenario create"
	run=$(ul_run "sc-$pkg" r3)
	for ((i = 0; i < UL_TIMEOUT * 10; i++)); do
		grep -q "run $run: the server moves the transfer to unicast" \
		    "$UL_T/agent-r3.err" && break
		sleep 0.1
	done
	grep -q "run $run: the server moves the transfer to unicast" \
	    "$UL_T/agent-r3.err" || ul_fail "run $run: r3 was not moved to unicast"
	# Kill when the receiver's persisted bitmap (after its 68-byte
	# header, before its 32-byte digest) shows a quarter of the file:
	# 16 MiB is ~11,800 symbols.  Bits, not whole bytes: behind the
	# shaped port the loss leaves few runs of 8 symbols whole until the
	# repairs come, and counting bytes of 255 once missed the quarter.
	# One watcher that reads the file every 50 ms (a python3 started for
	# each look cost the two cores the transfer runs on).
	st=$UL_T/r3/staging/$run/pkg0.fcpkg.fcstate
	full=$(python3 - "$st" 2900 "$UL_TIMEOUT" <<'PY'
import sys, time
path, want, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
n, end = 0, time.monotonic() + limit
while time.monotonic() < end:
    try:
        d = open(path, "rb").read()[68:-32]
        n = sum(bin(b).count("1") for b in d)
    except OSError:
        pass
    if n >= want:
        break
    time.sleep(0.05)
print(n)
PY
)
	[ "${full:-0}" -ge 2900 ] ||
	    ul_fail "run $run: r3's unicast transfer did not progress (${full:-no} symbols in its state file)"
	lab_stop "${UL_AGENT_PG[r3]}" KILL 0 2>/dev/null	# no "Killed" notice
	[ -e "$st" ] || ul_fail "run $run: no receive state left after the kill"
	state=$(ul_table "$run" | awk -F'|' '$1 == "r3" { print $2 }')
	[ "$state" = transferring ] ||
	    ul_fail "run $run: r3 is $state when its agent is killed, not transferring"
	if [ "$down" = long ]; then
		# The sender drops a receiver silent for 5 s; with none left
		# the unicast session ends.
		ended="run $run: package $pkg to $(lab_addr r3) ended with failures"
		for ((i = 0; i < 200; i++)); do
			grep -qF "$ended" "$UL_T/server.err" && break
			sleep 0.1
		done
		grep -qF "$ended" "$UL_T/server.err" ||
		    ul_fail "run $run: the server did not end the orphaned unicast session"
	fi
	mv "$UL_T/agent-r3.err" "$UL_T/agent-r3.$pkg.killed"
	ul_agent r3
	ul_wait_finished "$run"
	IFS='|' read -r name state path bytes reason err < <(ul_table "$run")
	size=$(stat -c %s "$UL_T/$pkg.fcpkg")
	echo "   $name: $state by $path, $bytes bytes ($reason)"
	[ "$state" = succeeded ] || ul_fail "r3 is $state: $err"
	[ "$path" = unicast ] || ul_fail "r3 got it by $path"
	[ "$bytes" = "$size" ] || ul_fail "r3 received $bytes of $size bytes"
	[ "$(ul_ran "$pkg" r3)" = 1 ] ||
	    ul_fail "$pkg ran $(ul_ran "$pkg" r3) times on r3"
	grep -q "run $run: resuming the transfer of $pkg (unicast " \
	    "$UL_T/agent-r3.err" ||
	    ul_fail "the restarted agent did not resume on unicast"
	kept=$(sed -n 's/.*resuming, \([0-9]*\) of [0-9]* bytes already on disk.*/\1/p' \
	    "$UL_T/agent-r3.err" | tail -n 1)
	[ "${kept:-0}" -gt 0 ] || ul_fail "r3 resumed with nothing on disk"
}

# 3a. Down for a moment: it rejoins the same unicast session.
crash CRASH short
grep -q "^unicast fallback: no multicast arrived within 2 s after START" \
    <<<"$reason" || ul_fail "r3: path_reason '$reason'"
grep -q "asking for unicast" "$UL_T/agent-r3.err" &&
    ul_fail "the restarted agent asked for unicast again"
grep -q "run $run machine r3: asks for unicast again" "$UL_T/server.err" &&
    ul_fail "the server had to restart r3's unicast transfer"
ul_ok "run $run: r3's agent killed in its unicast transfer, resumed on unicast from $((kept / 1048576)) MiB on disk, succeeded, ran once"

# 3b. Down until the server ended the session: it asks for a new one.  The
# machine keeps the reason it went unicast for; the new session is history.
crash CRASH2 long
grep -q "^unicast fallback: no multicast arrived within 2 s after START" \
    <<<"$reason" || ul_fail "r3: path_reason '$reason'"
fc run show "$run" --json | python3 -c '
import json, sys
m = [m for m in json.load(sys.stdin)["machines"] if m["name"] == "r3"][0]
sys.exit(0 if any((h["detail"] or "").startswith(
    "unicast fallback: no unicast session arrived within 2 s after the "
    "agent restarted") for h in m["history"]) else 1)' ||
    ul_fail "r3: no history note for its second unicast session"
grep -q "run $run machine r3: asks for unicast again" "$UL_T/server.err" ||
    ul_fail "the server did not restart r3's unicast transfer"
ul_ok "run $run: r3's agent down until its unicast session ended: asked for a new one, resumed from $((kept / 1048576)) MiB on disk, succeeded, ran once"

echo "PASS: unicast_fallback"
exit 0
