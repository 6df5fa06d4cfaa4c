#!/bin/bash
#
# agent_nextboot.sh: "deliver now, run at the next start" (MISSION.md
# S10-S12) with a real fleetcastd and agent.  Three at-next-boot runs are
# delivered and reported pending_boot without running; the one with
# power-off-after calls poweroff_command right after delivery, before any
# update ran (S11).  A simulated restart (new boot id, agent restarted)
# applies the queued updates in queue order and each run then shows
# succeeded; while they are applied a new scenario is refused with "next-
# boot update in progress" (S12); the power-off is not repeated after the
# updates; afterwards new scenarios are accepted again.
# Exit 0 pass, 1 fail, 77 skip (no root/unshare, outside CI).

. "${0%/*}/agent_lib.sh"
al_init "$0" "$@"

al_server_start
al_agent_start m1
al_wait_online m1

al_pkg NB1 "echo NB1 >> $T/order" --type hotfix
al_pkg NBSLOW "echo NBSLOW-start >> $T/order; sleep 8; echo NBSLOW >> $T/order" \
    --type hotfix
al_pkg NB2 "echo NB2 >> $T/order" --type hotfix
al_pkg NOW "echo NOW >> $T/order" --type hotfix
"$FC" scenario create nb1 --package NB1 --at-next-boot >/dev/null &&
"$FC" scenario create nbslow --package NBSLOW --at-next-boot >/dev/null &&
"$FC" scenario create nboff --package NB2 --at-next-boot --poweroff-after \
    >/dev/null &&
"$FC" scenario create now --package NOW >/dev/null || al_fail "scenario create"

r1=$(al_run nb1 m1)
al_wait_state "$r1" m1 pending_boot
r2=$(al_run nbslow m1)
al_wait_state "$r2" m1 pending_boot
[ "$(al_marks m1 poweroff)" = 0 ] || al_fail "powered off without being asked"
r3=$(al_run nboff m1)
al_wait_state "$r3" m1 pending_boot
for ((i = 0; i < 50; i++)); do
	[ "$(al_marks m1 poweroff)" = 1 ] && break
	sleep 0.1
done
[ "$(al_marks m1 poweroff)" = 1 ] ||
    al_fail "poweroff_command not called after delivery (S11)"
[ ! -e "$T/order" ] || al_fail "an update ran before the restart: $(cat "$T/order")"
[ "$("$FC" run show "$r3" --json | al_json state)" = finished ] ||
    al_fail "a run with every machine pending_boot is not finished"
al_ok "3 runs delivered and pending_boot, none ran; power-off right after delivery"

# The machine restarts.
al_agent_stop m1
al_reboot m1
al_agent_start m1
for ((i = 0; i < 100; i++)); do
	grep -q NBSLOW-start "$T/order" 2>/dev/null && break
	sleep 0.1
done
grep -q NBSLOW-start "$T/order" || al_fail "queued updates not applied"
al_wait_online m1
r4=$(al_run now m1)
al_wait_state "$r4" m1 error
al_has "$r4" m1 error "^next-boot update in progress$" ||
    al_fail "S12: $(al_mstate "$r4" m1 error)"
al_ok "a scenario during the next-boot updates is refused (S12)"

al_wait_state "$r1" m1 succeeded
al_wait_state "$r2" m1 succeeded
al_wait_state "$r3" m1 succeeded
[ "$(tr '\n' ' ' < "$T/order")" = "NB1 NBSLOW-start NBSLOW NB2 " ] ||
    al_fail "order: $(tr '\n' ' ' < "$T/order")"
[ "$(al_ran NOW)" = 0 ] || al_fail "the refused scenario ran"
sleep 1
[ "$(al_marks m1 poweroff)" = 1 ] || al_fail "powered off again after the updates"
al_ok "after the restart: applied in order, each run succeeded, no second power-off"

"$FC" machine clear-error m1 >/dev/null || al_fail "clear-error"
r5=$(al_run now m1)
al_wait_state "$r5" m1 succeeded
[ "$(al_ran NOW)" = 1 ] || al_fail "NOW did not run"
al_ok "new scenarios are accepted again"

# Restarting the agent again in the same boot changes nothing.
al_agent_stop m1
al_agent_start m1
al_wait_online m1
sleep 1
[ "$(wc -l < "$T/order")" = 5 ] || al_fail "something ran again: $(cat "$T/order")"
al_ok "an agent restart in the same boot runs nothing again"

echo "PASS: agent_nextboot"
exit 0
