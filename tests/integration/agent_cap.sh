#!/bin/bash
#
# agent_cap.sh: the next-boot cap (MISSION.md S13) with a real fleetcastd
# and agent.  100 at-next-boot runs are delivered and pending_boot; the
# 101st is refused with exactly "pending next-boot limit reached (100);
# restart the machine to apply pending updates"; a restart of the agent in
# the same boot changes nothing; after a simulated restart of the machine
# the 100 updates are applied in order and each run succeeds, and the
# scenario that was refused is then accepted (room for 100 more).
# Exit 0 pass, 1 fail, 77 skip (no root/unshare, outside CI).

. "${0%/*}/agent_lib.sh"
al_init "$0" "$@"

msg="pending next-boot limit reached (100); restart the machine to apply pending updates"
AL_TIMEOUT=120
al_server_start
al_agent_start m1
al_wait_online m1
al_pkg NBQ "echo \$FLEETCAST_RUN_ID >> $T/order" --type hotfix
"$FC" scenario create nbq --package NBQ --at-next-boot >/dev/null ||
    al_fail "scenario create"

runs=()
for ((i = 1; i <= 100; i++)); do
	runs+=("$(al_run nbq m1)")
	# Keep a few in flight, never many: each run has its own group.
	if ((i % 8 == 0)); then
		al_wait_state "${runs[$((i - 1))]}" m1 pending_boot
	fi
done
for r in "${runs[@]}"; do
	al_wait_state "$r" m1 pending_boot
done
[ "$(al_ran NBQ)" = 0 ] || al_fail "an update ran before the restart"
al_ok "100 at-next-boot runs pending_boot"

r101=$(al_run nbq m1)
al_wait_state "$r101" m1 error
[ "$(al_mstate "$r101" m1 error)" = "$msg" ] ||
    al_fail "101st: '$(al_mstate "$r101" m1 error)'"
al_ok "the 101st is refused with the exact message"

al_agent_stop m1
al_agent_start m1
al_wait_online m1
"$FC" machine clear-error m1 >/dev/null || al_fail "clear-error"
r=$(al_run nbq m1)
al_wait_state "$r" m1 error
[ "$(al_mstate "$r" m1 error)" = "$msg" ] ||
    al_fail "after an agent restart in the same boot: '$(al_mstate "$r" m1 error)'"
[ "$(al_ran NBQ)" = 0 ] || al_fail "an agent restart applied updates"
al_ok "an agent restart in the same boot keeps the queue and the cap"

al_agent_stop m1
al_reboot m1
al_agent_start m1
al_wait_online m1
for r in "${runs[@]}"; do
	al_wait_state "$r" m1 succeeded
done
[ "$(al_ran NBQ)" = 100 ] || al_fail "NBQ ran $(al_ran NBQ) times, want 100"
[ "$(tr '\n' ' ' < "$T/order")" = "${runs[*]} " ] ||
    al_fail "not applied in queue order"
al_ok "after the restart the 100 updates ran in order and succeeded"

"$FC" machine clear-error m1 >/dev/null || al_fail "clear-error"
r=$(al_run nbq m1)
al_wait_state "$r" m1 pending_boot
al_ok "the cap has room again"

echo "PASS: agent_cap"
exit 0
