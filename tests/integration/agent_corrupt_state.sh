#!/bin/bash
#
# agent_corrupt_state.sh: issue #12 finding 6.  An agent whose state
# database holds rows that break a rule (here: a run that was receiving,
# its package rows gone, and pkg_index past the packages of another) used
# to crash-loop (xcalloc: zero size).  Now it starts, reports such a run
# interrupted with the rule it broke, and goes on to the next run.
# Exit 0 pass, 1 fail, 77 skip (no root/unshare, outside CI).

. "${0%/*}/agent_lib.sh"
al_init "$0" "$@"

command -v sqlite3 >/dev/null || al_skip "no sqlite3 program"

al_server_start --rate 4M
al_agent_start m1
al_wait_online m1

mkdir -p "$T/p-BIG"
head -c 12000000 /dev/urandom > "$T/p-BIG/blob" || al_fail "blob"
al_pkg BIG "exit 0" --type application
al_pkg QUICK "exit 0" --type hotfix
"$FC" scenario create big --package BIG >/dev/null &&
"$FC" scenario create quick --package QUICK >/dev/null ||
    al_fail "scenario create"

# Stopped in the middle of a transfer, then the rows broken by hand.
r=$(al_run big m1)
al_wait_state "$r" m1 transferring
al_agent_stop m1 KILL
sqlite3 "$T/m1/agent.db" "DELETE FROM run_pkgs WHERE run_id = $r" ||
    al_fail "sqlite3"
al_agent_start m1
sleep 2
kill -0 "$(al_agent_pid m1)" 2>/dev/null ||
    al_fail "the agent exited on its corrupt database: $(tail -3 "$T/m1.log")"
al_wait_online m1
al_wait_state "$r" m1 interrupted
al_has "$r" m1 error "run $r: run_pkgs row broken: the run has no package rows" ||
    al_fail "reason: $(al_mstate "$r" m1 error)"
al_ok "a run without package rows: interrupted with the reason, agent up"

# It goes on: the next run succeeds.
r2=$(al_run quick m1)
al_wait_state "$r2" m1 succeeded
al_ok "the next run succeeds"

# A pkg_index past the packages (the agent stopped, the row edited).
r3=$(al_run big m1)
al_wait_state "$r3" m1 transferring
al_agent_stop m1 KILL
sqlite3 "$T/m1/agent.db" "UPDATE runs SET pkg_index = 9 WHERE run_id = $r3" ||
    al_fail "sqlite3"
al_agent_start m1
al_wait_online m1
al_wait_state "$r3" m1 interrupted
al_has "$r3" m1 error "pkg_index 9 is past the last of its 1 package" ||
    al_fail "reason: $(al_mstate "$r3" m1 error)"
kill -0 "$(al_agent_pid m1)" 2>/dev/null || al_fail "the agent exited"
al_ok "a pkg_index past the packages: interrupted with the reason"
echo "PASS: agent_corrupt_state"
exit 0
