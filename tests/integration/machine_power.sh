#!/bin/bash
#
# machine_power.sh: alive and power state, reboot and power-off outside a
# scenario (MISSION.md M2), with a real fleetcastd and real agents.  The
# server checks every second (liveness_interval 1) on liveness_port 9.
# m1 runs beside the server, m2 in a namespace of its own behind a veth
# pair.  `machine reboot' and `machine poweroff' run the agent's
# reboot_command / poweroff_command and land in the machine's event log,
# a failing command too; an agent that is not online is refused, naming
# its power state.  With its agent stopped a machine that answers TCP is
# agent_down; with its link down it is off; in machine list, machine show
# and the API.
# Exit 0 pass, 1 fail, 77 skip (no root/unshare, outside CI).

. "${0%/*}/agent_lib.sh"
al_init "$0" "$@"

al_server_start --control_listen 0.0.0.0:56022 --liveness_interval 1 \
    --liveness_port 9
al_agent_start m1
al_wait_online m1
al_wait_field m1 power online

# m2 behind a veth pair, in a network namespace of its own.
NS=fcpow$$
ip netns add $NS || al_fail "ip netns add"
trap 'ip netns del $NS 2>/dev/null; al_cleanup' EXIT
ip link add fcp0 type veth peer name fcp1 &&
    ip link set fcp1 netns $NS &&
    ip addr add 10.77.0.1/24 dev fcp0 && ip link set fcp0 up &&
    ip -n $NS addr add 10.77.0.2/24 dev fcp1 &&
    ip -n $NS link set fcp1 up && ip -n $NS link set lo up ||
    al_fail "veth to $NS"
echo boot-1 > "$T/m2.boot"
ip netns exec $NS "$AGENT" -d -v --server 10.77.0.1:56022 --name m2 \
    --state_dir "$T/m2" --trusted_keys "$T/sign.pub" \
    --boot_id_file "$T/m2.boot" --reboot_command false \
    --poweroff_command "$T/mark m2 poweroff" >> "$T/m2.log" 2>&1 &
M2PID=$!
AL_PIDS="$AL_PIDS $M2PID"
al_wait_online m2
al_ok "m1 and m2 online, power online"

# Reboot and power-off by hand, recorded in the event log.
"$FC" machine reboot m1 | grep -q "m1 reboot requested" ||
    al_fail "machine reboot m1"
for ((i = 0; i < 100; i++)); do
	[ "$(al_marks m1 reboot)" = 1 ] && break
	sleep 0.1
done
[ "$(al_marks m1 reboot)" = 1 ] || al_fail "m1: reboot_command not run"
"$FC" machine poweroff m2 >/dev/null || al_fail "machine poweroff m2"
"$FC" machine reboot m2 >/dev/null || al_fail "machine reboot m2"
events()
{
	"$FC" machine show "$1" --json | python3 -c '
import json, sys
for e in json.load(sys.stdin)["events"]:
    print(e["kind"], e["message"])'
}
for ((i = 0; i < 100; i++)); do
	events m2 | grep -q "^power reboot: failed: " &&
	    events m1 | grep -q "^power reboot: reboot_command ran" && break
	sleep 0.1
done
events m1 | grep -q "^power reboot requested by the admin" &&
    events m1 | grep -q "^power reboot: reboot_command ran (exit status 0)" ||
    al_fail "m1's events: $(events m1)"
events m2 | grep -q "^power poweroff: poweroff_command ran" &&
    events m2 | grep -q "^power reboot: failed: reboot_command" ||
    al_fail "m2's events: $(events m2)"
[ "$(al_marks m2 poweroff)" = 1 ] || al_fail "m2: poweroff_command not run"
al_ok "reboot and poweroff ran the agents' commands: $(events m2 | grep failed)"

# Agent stopped, machine up: agent_down; then the link goes: off.
al_agent_stop m1
kill -TERM $M2PID
al_wait_field m1 power agent_down
al_wait_field m2 power agent_down
al_machine_field m2 power_detail | grep -q "10.77.0.2:9 refused" ||
    al_fail "m2: $(al_machine_field m2 power_detail)"
"$FC" machine list | awk '$1 == "m1"' | grep -q " agent_down " ||
    al_fail "machine list: $("$FC" machine list)"
"$FC" machine reboot m1 2>"$T/err"
rc=$?
[ $rc = 1 ] && grep -q "not online (power state agent_down" "$T/err" ||
    al_fail "reboot of a silent agent: exit $rc, $(cat "$T/err")"
ip -n $NS link set fcp1 down || al_fail "link down"
AL_TIMEOUT=20 al_wait_field m2 power off
al_ok "agent_down while the host answers, off once it does not: $(al_machine_field m2 power_detail)"
exit 0
