#!/bin/bash
#
# state_lock.sh: one daemon per state directory.  A second fleetcastd on
# the same state_dir exits 1 at once, naming the first one's pid, and
# leaves the machines of the first shown online (it used to mark them all
# offline before failing to bind); a second fleetcast-agent on the same
# state_dir exits 1 likewise instead of knocking the first off its server
# every few seconds.  Exit 0 pass, 1 fail, 77 skip (no root/unshare,
# outside CI).

. "${0%/*}/agent_lib.sh"
al_init "$0" "$@"

al_server_start
al_agent_start a
al_wait_online a

# The second server: other ports, same state_dir.
timeout 10 "$FCD" -d --state_dir "$T/srv" --control_listen 127.0.0.1:56122 \
    --api_listen 127.0.0.1:56180 --trusted_keys "$T/sign.pub" \
    --interface lo > "$T/second-server.out" 2>&1
rc=$?
[ "$rc" = 1 ] || al_fail "a second fleetcastd on the same state_dir: exit $rc, want 1"
grep -q "another fleetcastd (pid $AL_SERVER) is using $T/srv" \
    "$T/second-server.out" ||
    al_fail "second fleetcastd: $(cat "$T/second-server.out")"
[ "$(cat "$T/srv/lock")" = "$AL_SERVER" ] ||
    al_fail "the lock file holds '$(cat "$T/srv/lock")', want $AL_SERVER"
sleep 1
[ "$(al_machine_field a state)" = online ] ||
    al_fail "a: '$(al_machine_field a state)' after the second server, want online"
al_ok "a second fleetcastd exits at once and the first's machines stay online"

timeout 10 "$AGENT" -d --server $AL_CONTROL --name a2 --state_dir "$T/a" \
    --trusted_keys "$T/sign.pub" --boot_id_file "$T/a.boot" \
    --interface lo > "$T/second-agent.out" 2>&1
rc=$?
[ "$rc" = 1 ] || al_fail "a second agent on the same state_dir: exit $rc, want 1"
grep -q "another fleetcast-agent (pid $(al_agent_pid a)) is using $T/a" \
    "$T/second-agent.out" ||
    al_fail "second agent: $(cat "$T/second-agent.out")"
sleep 2
grep -q "unexpected eof" "$T/a.log" &&
    al_fail "the first agent lost its connection: $(grep 'unexpected eof' "$T/a.log" | head -1)"
[ "$(al_machine_field a state)" = online ] ||
    al_fail "a: '$(al_machine_field a state)' after the second agent, want online"
al_ok "a second fleetcast-agent exits at once and the first stays online"

# Once the first has stopped, the directory is free again.
al_agent_stop a
al_agent_start a
al_wait_online a
al_ok "after the first agent stopped, a new one takes the state_dir"
exit 0
