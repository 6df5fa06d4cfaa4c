#!/bin/bash
#
# agent_upgrade.sh: agents upgrade themselves by multicast (MISSION.md M4)
# with a real fleetcastd and real agents.  A second build of only the
# agent, configured --with-version-suffix=-new, is the new agent.  Three
# agents run the old build, each from a copy of its own, with an
# at-next-boot run pending.  Adding the agent package that `package
# build-agent' makes of the new build upgrades all three in one run with
# one multicast transfer; each comes back online as the new version with
# its pending next-boot run intact (a restart then applies it), and
# `machine list' says it is current.  An older agent package is refused
# (never downgraded).  Then a broken "newer" agent (it exits at start)
# reaches one agent: the watchdog restores the old binary, the agent comes
# back online as before and the run says why it failed.
# Exit 0 pass, 1 fail, 77 skip (no root/unshare, outside CI).

. "${0%/*}/agent_lib.sh"
al_init "$0" "$@"
SRC=$(cd "${0%/*}/../.." && pwd)

# The new agent: the same source, another version string.
mkdir "$T/b2" && (cd "$T/b2" && "$SRC/configure" -q \
    --with-version-suffix=-new >/dev/null 2>"$T/b2.log" &&
    make -s -j2 agent/fleetcast-agent >>"$T/b2.log" 2>&1) ||
    al_fail "second build with --with-version-suffix=-new: $(tail "$T/b2.log")"
old=$("$AGENT" --version | cut -d' ' -f2)
new=$("$T/b2/agent/fleetcast-agent" --version | cut -d' ' -f2)
[ "$new" = "$old-new" ] || al_fail "versions: old '$old', new '$new'"
al_ok "second build: fleetcast-agent $new beside $old"

al_server_start --agent_upgrade_window 3
OLDAGENT=$AGENT
for m in a b c; do
	mkdir "$T/bin-$m" && cp "$OLDAGENT" "$T/bin-$m/fleetcast-agent"
	AGENT=$T/bin-$m/fleetcast-agent al_agent_start $m --upgrade_timeout 15
done
for m in a b c; do
	al_wait_online $m
done
al_pkg NB "echo NB" --type hotfix
"$FC" scenario create nb --package NB --at-next-boot >/dev/null ||
    al_fail "scenario create nb"
rnb=$(al_run nb a b c)
for m in a b c; do
	al_wait_state "$rnb" $m pending_boot
done
al_ok "three agents $old online, each with a next-boot run pending"

# The new agent package: the three are upgraded by one run.
"$FC" package build-agent --binary "$T/b2/agent/fleetcast-agent" \
    --sign-key "$T/sign.key" -o "$T/agent-new.fcpkg" >/dev/null ||
    al_fail "package build-agent"
"$FC" package add "$T/agent-new.fcpkg" >/dev/null || al_fail "package add"
for m in a b c; do
	al_wait_field $m agent_version "$new"
	al_wait_online $m
done
runs=$("$FC" run list --json | python3 -c '
import json, sys
print(" ".join(str(r["id"]) for r in json.load(sys.stdin)
    if r["scenario"] == "agent-upgrade"))')
[ -n "$runs" ] && [ "${runs// /}" = "$runs" ] ||
    al_fail "agent-upgrade runs: '$runs', wanted one"
rup=$runs
for m in a b c; do
	al_wait_state "$rup" $m succeeded
	al_has "$rup" $m path multicast || al_fail "$m: not by multicast"
	"$T/bin-$m/fleetcast-agent" --version | grep -qx "fleetcast-agent $new" ||
	    al_fail "$m: its binary is not $new"
done
n=$(grep -c "run $rup: sending package" "$T/server.log")
[ "$n" = 1 ] && grep -q "run $rup: sending package .*(3 machines)" \
    "$T/server.log" || al_fail "run $rup: $n transfers, wanted one to 3"
for m in a b c; do
	grep -q "agent upgrade: $m: agent upgraded from $old to $new" \
	    "$T/server.log" || al_fail "server log: $m not said upgraded"
	"$FC" machine list | awk -v m=$m '$1 == m' | grep -q " $new  *yes " ||
	    al_fail "machine list: $m not $new, current: $("$FC" machine list)"
done
for m in a b c; do
	[ "$(al_mstate "$rnb" $m)" = pending_boot ] ||
	    al_fail "$m: the next-boot run is $(al_mstate "$rnb" $m)"
done
al_ok "a b c upgraded to $new by run $rup, one multicast transfer; next-boot runs still pending"

# Never downgraded: the old agent as a package is refused.
"$FC" package build-agent --binary "$OLDAGENT" --sign-key "$T/sign.key" \
    -o "$T/agent-old.fcpkg" >/dev/null && "$FC" package add \
    "$T/agent-old.fcpkg" >/dev/null || al_fail "old agent package"
"$FC" scenario create down --package "fleetcast-agent-${old//./_}" \
    >/dev/null || al_fail "scenario create down"
rdown=$(al_run down a)
al_wait_state "$rdown" a error
al_has "$rdown" a error "never downgraded" ||
    al_fail "downgrade: $(al_mstate "$rdown" a error)"
al_ok "an older agent package is refused: $(al_mstate "$rdown" a error)"

# The pending runs apply at the next start, under the new agent.
for m in a b c; do
	al_agent_stop $m
	al_reboot $m
	AGENT=$T/bin-$m/fleetcast-agent al_agent_start $m --upgrade_timeout 15
done
for m in a b c; do
	al_wait_state "$rnb" $m succeeded
done
[ "$(al_ran NB)" = 3 ] || al_fail "NB ran $(al_ran NB) times, wanted 3"
al_ok "after a restart the next-boot runs applied on all three"

# A broken newer agent, to a alone: rolled back, and the run says why.
al_agent_stop b
al_agent_stop c
printf '#!/bin/sh\necho "broken agent" >&2\nexit 3\n' > "$T/broken"
chmod 755 "$T/broken"
"$FC" package build-agent --binary "$T/broken" --version 9.0 \
    --sign-key "$T/sign.key" -o "$T/agent-broken.fcpkg" >/dev/null \
    2>"$T/err" && "$FC" package add "$T/agent-broken.fcpkg" >/dev/null ||
    al_fail "broken agent package: $(cat "$T/err")"
for ((i = 0; i < AL_TIMEOUT * 10; i++)); do
	rbad=$("$FC" run list --json | python3 -c '
import json, sys
print(max([r["id"] for r in json.load(sys.stdin)
    if r["scenario"] == "agent-upgrade"]))')
	[ "$rbad" != "$rup" ] && break
	sleep 0.1
done
[ "$rbad" != "$rup" ] || al_fail "no agent-upgrade run for the broken agent"
al_wait_state "$rbad" a failed
al_has "$rbad" a error "9.0 ended before it came online" ||
    al_fail "run $rbad: a failed with: $(al_mstate "$rbad" a error)"
al_has "$rbad" a error "$new restored" ||
    al_fail "run $rbad: a: $(al_mstate "$rbad" a error)"
# The restored agent is the watchdog's process now.
AL_PIDS="$AL_PIDS $(cat "$T/a/fleetcast-agent.pid")"
al_wait_online a
[ "$(al_machine_field a agent_version)" = "$new" ] ||
    al_fail "a runs $(al_machine_field a agent_version) after the rollback"
"$T/bin-a/fleetcast-agent" --version | grep -qx "fleetcast-agent $new" ||
    al_fail "a's binary is not $new after the rollback"
grep -q "restoring fleetcast-agent $new" "$T/a.log" ||
    al_fail "a's log does not show the watchdog restoring $new"
"$FC" machine list | awk '$1 == "a"' | grep -q " $new  *no " ||
    al_fail "machine list: a is not shown behind 9.0: $("$FC" machine list)"
al_ok "the broken 9.0 rolled back on a: $(al_mstate "$rbad" a error)"
exit 0
