#!/bin/bash
#
# agent_enroll.sh: enrollment, pinning and reconnection, with a real
# fleetcastd that does not approve by itself.  Checks: an agent without a
# token waits for `fleetcast machine approve` on its connection and comes
# online after it; a wrong token is refused; the right enroll_token
# enrolls at once; an agent started before its server keeps retrying and
# comes online once the server is up; a run assigned while the agent is
# restarting behind a firewall that blocks it (M3) succeeds once the
# firewall opens; a server reinstalled with a new CA is refused by the
# enrolled agent (pinned CA) with a message that says what to do.
# Exit 0 pass, 1 fail, 77 skip (no root/unshare, outside CI).

. "${0%/*}/agent_lib.sh"
al_init "$0" "$@"
command -v nft >/dev/null 2>&1 || al_skip "needs nft (nftables)"

# Started before the server: it retries until the server is there.
al_agent_start early
sleep 2
al_server_start --auto_approve no
al_agent_start a
# A token of the right form that this server never made; one of the old
# form (no id, no fingerprint) stops the agent at its config check.
fp=$("$FC" server fingerprint | sed 's/^server_fingerprint = //')
[ ${#fp} = 64 ] || al_fail "server fingerprint: '$fp'"
al_agent_start b --enroll_token \
    "0123456789abcdef.0123456789abcdef0123456789abcdef.$fp"
out=$("$AGENT" -n --server $AL_CONTROL --name old --state_dir "$T/old" \
    --trusted_keys "$T/sign.pub" --enroll_token 0123456789abcdef 2>&1) &&
    al_fail "an old-form token passed the config check"
grep -q "enroll_token.*ID.SECRET.FP" <<< "$out" ||
    al_fail "old-form token: '$out'"
al_agent_start c --enroll_token "$(cat "$T/srv/enroll.token")"
al_wait_online c
al_ok "the right enroll_token enrolls at once"

for ((i = 0; i < 50; i++)); do
	[ "$(al_machine_field a enrollment 2>/dev/null)" = pending ] && break
	sleep 0.1
done
[ "$(al_machine_field a enrollment)" = pending ] ||
    al_fail "a: enrollment '$(al_machine_field a enrollment)', want pending"
"$FC" machine approve a >/dev/null || al_fail "approve a"
al_wait_online a
al_ok "without a token: pending, then online after approval"

for ((i = 0; i < 50; i++)); do
	grep -q "enrollment refused: enroll_token .*not a token of this" \
	    "$T/b.log" && break
	sleep 0.1
done
grep -q "enrollment refused: enroll_token .*not a token of this" "$T/b.log" ||
    al_fail "b: no refusal logged"
[ "$(al_machine_field b online 2>/dev/null)" != True ] || al_fail "b online"
al_ok "a wrong token is refused"

"$FC" machine approve early >/dev/null || al_fail "approve early"
al_wait_online early
al_ok "an agent started before the server comes online"

# M3: the machine restarts behind a firewall that blocks everything for a
# while; the admin runs a scenario meanwhile.
al_pkg FW "exit 0" --type hotfix
"$FC" scenario create fw --package FW >/dev/null || al_fail "scenario create"
nft add table inet fcfw &&
nft add chain inet fcfw out '{ type filter hook output priority 0; }' &&
nft add rule inet fcfw out tcp dport 56022 drop || al_fail "nft"
al_agent_stop a
al_reboot a
al_agent_start a
for ((i = 0; i < 100; i++)); do
	[ "$(al_machine_field a online)" = False ] && break
	sleep 0.1
done
r=$(al_run fw a)
sleep 4
[ "$(al_mstate "$r" a)" = assigned ] ||
    al_fail "run state '$(al_mstate "$r" a)' behind the firewall"
nft delete table inet fcfw || al_fail "nft delete"
al_wait_state "$r" a succeeded
al_ok "a run assigned behind a late-opening firewall succeeds (M3)"

# A restart (systemd's Restart= after a crash) keeps enroll.token while
# it is good: an agent given it before the restart still enrolls.  Once
# revoked, the next start writes a new one.
tok1=$(cat "$T/srv/enroll.token")
al_server_stop
al_server_start
[ "$(cat "$T/srv/enroll.token")" = "$tok1" ] ||
    al_fail "a restart replaced enroll.token, which was still good"
grep -q "enroll.token: token .* kept" "$T/server.log" ||
    al_fail "server: no 'kept' line for enroll.token"
al_agent_start d --enroll_token "$tok1"
al_wait_online d
"$FC" machine revoke-token "${tok1%%.*}" >/dev/null ||
    al_fail "revoke-token ${tok1%%.*}"
al_server_stop
al_server_start
[ "$(cat "$T/srv/enroll.token")" != "$tok1" ] ||
    al_fail "a restart kept a revoked enroll.token"
grep -q "enroll.token: token ${tok1%%.*} replaced: not a token"     "$T/server.log" || al_fail "server: no 'replaced' line for enroll.token"
al_ok "a restart keeps a good enroll.token, replaces a revoked one"

# A reinstalled server (new CA): the enrolled agent refuses it.
al_server_stop
rm -rf "$T/srv"
al_server_start --auto_approve yes
for ((i = 0; i < 100; i++)); do
	grep -q "does not chain to the pinned CA" "$T/c.log" && break
	sleep 0.1
done
grep -q "does not chain to the pinned CA .*remove .* to enroll again" \
    "$T/c.log" || al_fail "c: no pinning refusal logged"
sleep 1
[ "$(al_machine_field c online 2>/dev/null)" != True ] ||
    al_fail "c trusted a server with another CA"
# The new server says in words what happened, not a raw TLS alert.
for ((i = 0; i < 100; i++)); do
	grep -q "the agent refused this server's certificate: it pins another CA" \
	    "$T/server.log" && break
	sleep 0.1
done
grep -q "the agent refused this server's certificate: it pins another CA.*remove agent.crt and ca.crt" \
    "$T/server.log" || al_fail "server: no plain words for the agent's refusal: $(grep -i tls "$T/server.log" | tail -2)"
al_ok "a server with another CA is refused (pinned), and the server says why"

echo "PASS: agent_enroll"
exit 0
