#!/bin/bash
#
# agent_crash.sh: kill -9 of the agent at the bad moments, with a real
# fleetcastd (its send rate capped so that a transfer lasts seconds).
# Checks: killed while its package's executable runs, the restarted agent
# reports the run interrupted and does not run the package again; the same
# with a package marked idempotent runs it again and succeeds; killed in
# the middle of a transfer, the restarted agent resumes the staging file
# (it does not start from zero) and the run ends succeeded; a server
# restart while the agent is connected (and the agent's reconnection with
# back-off) does not fail the next run (M3).
# Exit 0 pass, 1 fail, 77 skip (no root/unshare, outside CI).

. "${0%/*}/agent_lib.sh"
al_init "$0" "$@"

al_server_start --rate 16M
al_agent_start m1
al_wait_online m1

al_pkg SLOW "echo \$\$ > $T/slow.pid; sleep 20" --type hotfix
al_pkg IDEM "n=\$(wc -l < $T/ran.IDEM); [ \$n -ge 2 ] && exit 0; echo \$\$ > $T/idem.pid; sleep 20" \
    --type hotfix --idempotent
mkdir -p "$T/p-BIG"
head -c 12000000 /dev/urandom > "$T/p-BIG/blob" || al_fail "blob"
al_pkg BIG "cmp -s blob $T/p-BIG/blob" --type application
al_pkg QUICK "exit 0" --type hotfix
"$FC" scenario create slow --package SLOW >/dev/null &&
"$FC" scenario create idem --package IDEM >/dev/null &&
"$FC" scenario create big --package BIG >/dev/null &&
"$FC" scenario create quick --package QUICK >/dev/null ||
    al_fail "scenario create"

# kill -9 while the executable runs: interrupted, not run twice.
r=$(al_run slow m1)
al_wait_state "$r" m1 running
for ((i = 0; i < 50; i++)); do
	[ -s "$T/slow.pid" ] && break
	sleep 0.1
done
al_agent_stop m1 KILL
kill "$(cat "$T/slow.pid")" 2>/dev/null
al_agent_start m1
al_wait_state "$r" m1 interrupted
al_has "$r" m1 error "SLOW: interrupted: the agent stopped while it ran" ||
    al_fail "reason: $(al_mstate "$r" m1 error)"
sleep 1
[ "$(al_ran SLOW)" = 1 ] || al_fail "SLOW ran $(al_ran SLOW) times"
al_ok "killed during a run: reported interrupted, not run again"

# The same with an idempotent package: run again, succeeded.
r=$(al_run idem m1)
al_wait_state "$r" m1 running
for ((i = 0; i < 50; i++)); do
	[ -s "$T/idem.pid" ] && break
	sleep 0.1
done
al_agent_stop m1 KILL
kill "$(cat "$T/idem.pid")" 2>/dev/null
al_agent_start m1
al_wait_state "$r" m1 succeeded
[ "$(al_ran IDEM)" = 2 ] || al_fail "IDEM ran $(al_ran IDEM) times, want 2"
al_ok "killed during an idempotent package: run again, succeeded"

# kill -9 in the middle of a transfer: the staging file resumes.
r=$(al_run big m1)
al_wait_state "$r" m1 transferring
# Kill when the receiver's persisted bitmap (after its 36-byte header)
# shows about a third of the file on disk.
st=$T/m1/staging/$r/pkg0.fcpkg.fcstate
for ((i = 0; i < 200; i++)); do
	full=$(od -An -v -tu1 -j36 "$st" 2>/dev/null | tr -s ' ' '\n' |
	    grep -c '^255$')
	[ "${full:-0}" -ge 300 ] && break
	sleep 0.05
done
[ "${full:-0}" -ge 300 ] || al_fail "the transfer did not progress"
al_agent_stop m1 KILL
[ -e "$st" ] || al_fail "no persisted receive state after the kill"
al_agent_start m1
al_wait_state "$r" m1 succeeded 90
grep -q "run $r: resuming the transfer of BIG" "$T/m1.log" ||
    al_fail "the agent did not resume the transfer"
on_disk=$(sed -n 's/.*resuming, \([0-9]*\) of 12[0-9]* bytes already on disk/\1/p' \
    "$T/m1.log" | tail -n 1)
[ "${on_disk:-0}" -gt 0 ] || al_fail "the transfer started from zero again"
al_ok "killed during a transfer: resumed with $on_disk bytes on disk, succeeded"

# A server restart does not fail the next run; the agent reconnects.
al_server_stop
sleep 2
al_server_start --rate 16M
al_wait_online m1
r=$(al_run quick m1)
al_wait_state "$r" m1 succeeded
al_ok "after a server restart the agent reconnects and runs go on"

echo "PASS: agent_crash"
exit 0
