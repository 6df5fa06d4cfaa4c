#!/bin/bash
#
# auto_sp.sh: automatic update picks the right service pack (MISSION.md
# P5, P11; issue #15), with a real fleetcastd and two real agents.  With
# SP9 (--os plan9, not applicable) and SP5 (applicable), both urgency high,
# a starting machine gets SP5 within moments of connecting and SP9 is never
# sent, at its first start nor at a restart; the server's log gives the
# same reason for SP9 as the agent gives when a scenario sends it anyway.
# A machine holding SPB (which supersedes SPA) gets SPC (--base-sp SPA) at
# its next start.  A bare machine gets a predecessor first (SP3 needs SP1
# or SP2: it gets SP2, then SP3 at the start after).  A service pack its
# agent refused (a version that ran there, which the facts do not show) is
# not sent again at the next start: the machine gets the next one.
# Exit 0 pass, 1 fail, 77 skip (no root/unshare, outside CI).

. "${0%/*}/agent_lib.sh"
al_init "$0" "$@"

# auto_run ID MACHINE: the id of the newest automatic run of package ID,
# waiting for it AL_TIMEOUT seconds at most ("" if none).
auto_run()
{
	local i id
	for ((i = 0; i < ${3:-$AL_TIMEOUT} * 10; i++)); do
		id=$(sed -n "s/.*automatic update: run \([0-9]*\) of $1 on.*/\1/p" \
		    "$T/server.log" | tail -n 1)
		[ -n "$id" ] && { echo "$id"; return 0; }
		sleep 0.1
	done
	echo ""
}

# boot NAME ROLE: the machine starts (again: a new boot id) and connects.
boot()
{
	if [ -n "$(al_agent_pid "$1")" ]; then
		al_agent_stop "$1"
		al_reboot "$1"
	fi
	al_agent_start "$1" --facts_command "$T/facts-$2.sh"
	al_wait_online "$1"
}

# gets ID NAME WHY: an automatic run of ID reaches NAME within 5 s of its
# connecting and succeeds there.
gets()
{
	local run
	run=$(auto_run "$1" "$2" 5)
	[ -n "$run" ] || al_fail "$3"
	al_wait_state "$run" "$2" succeeded
}

# The agents tell their role through facts_command (role=a, role=b).
for r in a b c d; do
	printf '#!/bin/sh\necho role=%s\n' $r > "$T/facts-$r.sh"
	chmod 755 "$T/facts-$r.sh"
done

al_server_start
al_pkg SP9 'exit 0' --type servicepack --major 9 --minor 0 --urgency high \
    --os plan9 --requires 'role == a'
al_pkg SP5 'exit 0' --type servicepack --major 5 --minor 0 --urgency high \
    --requires 'role == a'

# 1. SP9 does not apply, SP5 does: m1 gets SP5 as soon as it connects.
boot m1 a
t0=$SECONDS
gets SP5 m1 "no automatic run of SP5 within 5 s of connecting"
[ "$(al_ran SP5)" = 1 ] || al_fail "SP5 ran $(al_ran SP5) times"
[ "$(al_ran SP9)" = 0 ] || al_fail "SP9 ran"
! grep -q "automatic update: run [0-9]* of SP9" "$T/server.log" ||
    al_fail "an automatic run of SP9 was started"
al_wait_log "$T/server.log" "automatic update: m1: SP9: not applicable: os: "
al_ok "m1 got SP5 ($(( SECONDS - t0 )) s after connecting), SP9 never sent"

# The same reason on both sides.
srv_why=$(sed -n 's/.*automatic update: m1: SP9: not applicable: //p' \
    "$T/server.log" | head -n 1)
"$FC" scenario create s-sp9 --package SP9 >/dev/null || al_fail "scenario"
run9=$(al_run s-sp9 m1)
al_wait_state "$run9" m1 error
agent_why=$(al_mstate "$run9" m1 error)
[ "$agent_why" = "SP9: not applicable: $srv_why" ] ||
    al_fail "reasons differ: server '$srv_why', agent '$agent_why'"
"$FC" machine clear-error m1 >/dev/null || al_fail "clear-error"
al_ok "server and agent give the same reason: $srv_why"

# A restart of the machine: SP5 is there, SP9 still does not apply.
boot m1 a
al_wait_log "$T/m1.log" "fleetcast-agent .*boot id boot-2"
sleep 2
[ "$(al_ran SP5)" = 1 ] || al_fail "SP5 ran again: $(al_ran SP5)"
[ "$(al_ran SP9)" = 0 ] || al_fail "SP9 ran at the restart"
al_ok "restart: nothing more"

# 2. SPB supersedes SPA; SPC builds on SPA: m2 holding SPB gets SPC.
boot m2 b
al_pkg SPB 'exit 0' --type servicepack --major 2 --minor 0 --supersedes SPA
"$FC" scenario create s-spb --package SPB >/dev/null || al_fail "scenario"
runb=$(al_run s-spb m2)
al_wait_state "$runb" m2 succeeded
al_pkg SPC 'exit 0' --type servicepack --major 3 --minor 0 --urgency high \
    --base-sp SPA --requires 'role == b'
boot m2 b
gets SPC m2 "m2 (holding SPB, which supersedes SPA) did not get SPC"
[ "$(al_ran SPC)" = 1 ] || al_fail "SPC ran $(al_ran SPC) times"
al_ok "SPB stands for SPA: m2 got SPC (--base-sp SPA) automatically"

# 3. Predecessor first (P11): SP3 needs SP1 or SP2; a bare m3 gets SP2
# (the newest that applies) at its start and SP3 at the next one.
al_pkg SP2 'exit 0' --type servicepack --major 2 --minor 5 --urgency high \
    --requires 'role == c' --supersedes SP1
al_pkg SP3 'exit 0' --type servicepack --major 3 --minor 5 --urgency high \
    --requires 'role == c' --base-sp SP1 --supersedes SP2
boot m3 c
gets SP2 m3 "bare m3 did not get SP2 first"
al_wait_log "$T/server.log" "automatic update: m3: SP3: not applicable: base_sp: "
boot m3 c
gets SP3 m3 "m3 with SP2 did not get SP3 at its next start"
al_ok "predecessor first: SP2, then SP3 at the next start"

# 4. The agent refuses what the facts do not show: SP7 failed on m4 once
# (its version ran there: the agent's high-water mark), so at the next
# start the agent refuses it; cleared, m4 gets SP6 at the start after
# rather than SP7 refused again and again.
al_pkg SP7 'exit 1' --type servicepack --major 7 --minor 0 --urgency high \
    --requires 'role == d'
al_pkg SP6 'exit 0' --type servicepack --major 6 --minor 0 --urgency high \
    --requires 'role == d'
boot m4 d
run=$(auto_run SP7 m4 5)
[ -n "$run" ] || al_fail "m4 did not get SP7"
al_wait_state "$run" m4 failed
boot m4 d
for ((i = 0; i < 50; i++)); do
	run2=$(auto_run SP7 m4 5)
	[ "$run2" != "$run" ] && break
	sleep 0.1
done
[ "$run2" != "$run" ] || al_fail "SP7 not tried again at m4's next start"
al_wait_state "$run2" m4 error
al_has "$run2" m4 error "SP7: not applicable: version: 'SP7' 7.0 has run here already" ||
    al_fail "refusal: $(al_mstate "$run2" m4 error)"
"$FC" machine clear-error m4 >/dev/null || al_fail "clear-error"
boot m4 d
gets SP6 m4 "m4 did not fall back to SP6 after its agent refused SP7"
grep -q "automatic update: m4: SP7: refused by its agent in run $run2: " \
    "$T/server.log" || al_fail "the fallback is not logged"
[ "$(al_ran SP7)" = 1 ] || al_fail "SP7 ran $(al_ran SP7) times"
al_ok "refused by the agent: the next start falls back to SP6"

echo "PASS: auto_sp"
exit 0
