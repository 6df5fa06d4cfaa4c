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

# As a daemon (no -d): the log goes to log_file, the pid file holds the
# daemon's pid and is removed when it stops on SIGTERM.
"$FCD" --state_dir "$T/srv2" --control_listen 127.0.0.1:56222 \
    --api_listen 127.0.0.1:56280 --trusted_keys "$T/sign.pub" \
    --interface lo --log_file "$T/srv2.log" 2>"$T/srv2.err"
rc=$?
[ "$rc" = 0 ] || al_fail "fleetcastd as a daemon: exit $rc: $(cat "$T/srv2.err")"
for ((i = 0; i < 100; i++)); do
	[ -s "$T/srv2/fleetcastd.pid" ] && grep -q "started" "$T/srv2.log" 2>/dev/null &&
	    break
	sleep 0.1
done
dpid=$(cat "$T/srv2/fleetcastd.pid" 2>/dev/null)
[ -n "$dpid" ] && kill -0 "$dpid" 2>/dev/null ||
    al_fail "no live pid in $T/srv2/fleetcastd.pid ('$dpid')"
AL_PIDS="$AL_PIDS $dpid"
[ "$(cat "$T/srv2/lock")" = "$dpid" ] ||
    al_fail "the lock file holds '$(cat "$T/srv2/lock")', the daemon is $dpid"
grep -Eq "^[0-9T:.-]+Z fleetcastd\[$dpid\]: fleetcastd .* started" "$T/srv2.log" ||
    al_fail "log_file: no start line: $(head -3 "$T/srv2.log")"
[ "$(grep -c "schema version\|database: created" "$T/srv2.log")" = 1 ] ||
    al_fail "more than one schema line on a first start: $(grep schema "$T/srv2.log")"
kill -TERM "$dpid"
for ((i = 0; i < 100; i++)); do
	kill -0 "$dpid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$dpid" 2>/dev/null && al_fail "the daemon did not stop on SIGTERM"
[ -e "$T/srv2/fleetcastd.pid" ] && al_fail "the pid file stayed after SIGTERM"
grep -q "stopped" "$T/srv2.log" || al_fail "log_file: no 'stopped' line"
al_ok "a daemon logs to log_file, keeps its pid in state_dir/fleetcastd.pid, removes it on SIGTERM"

# Once the first has stopped, the directory is free again.
al_agent_stop a
al_agent_start a
al_wait_online a
al_ok "after the first agent stopped, a new one takes the state_dir"
exit 0
