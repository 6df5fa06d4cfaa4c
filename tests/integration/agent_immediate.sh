#!/bin/bash
#
# agent_immediate.sh: scenarios that run right after delivery, with a real
# fleetcastd and three real agents.  Checks: a package runs with its setup
# parameters arriving literally (no shell) and the run succeeds; a failing
# executable's real exit status and output reach the server; a package
# whose condition fails on a machine is refused there with the reason and
# applied on the machine whose facts_command supplies the fact; several
# packages run in order, and on-error stop skips what follows a failure
# while on-error continue runs it (P13); an agent that does not trust the
# signing key refuses the package; a lower version than the installed one
# is refused; a unicast scenario reaches the agent (S8), through a
# dual-stack control listener.
# Exit 0 pass, 1 fail, 77 skip (no root/unshare, outside CI).

. "${0%/*}/agent_lib.sh"
al_init "$0" "$@"

# A dual-stack listener ([::]): the agents, connecting over IPv4, are seen
# as ::ffff:127.0.0.1, which the unicast path must take as IPv4.
al_server_start --control_listen "[::]:${AL_CONTROL##*:}"
printf '#!/bin/sh\necho custom.flag=yes\necho CSDVersion=SP1\n' > "$T/facts.sh"
chmod 755 "$T/facts.sh"
al_agent_start m1
al_agent_start m2 --facts_command "$T/facts.sh"
"$FC" key generate --out "$T/other" >/dev/null || al_fail "key generate"
al_agent_start m3 --trusted_keys "$T/other.pub"
al_wait_online m1
al_wait_online m2
al_wait_online m3
al_ok "server and three agents online"

# 1. Parameters arrive literally.  (The package format refuses control
# characters in parameters, so newlines are covered by test_exec only.)
al_pkg HF1 'echo "hello from HF1"' --type hotfix --args 'a;b' \
    --args '$(touch '"$T"'/pwned)' --args "it's \"quoted\"" \
    --args '`id` > x' --major 1 --minor 0
"$FC" scenario create s-hf1 --package HF1 >/dev/null || al_fail "scenario"
run=$(al_run s-hf1 m1)
al_wait_state "$run" m1 succeeded
[ "$(al_mstate "$run" m1 exit_status)" = 0 ] || al_fail "exit status"
al_has "$run" m1 output "hello from HF1" ||
    al_fail "output tail not reported"
want="a;b|\$(touch $T/pwned)|it's \"quoted\"|\`id\` > x|"
[ "$(cat "$T/ran.HF1")" = "$want" ] ||
    al_fail "parameters changed on the way: $(cat "$T/ran.HF1")"
[ ! -e "$T/pwned" ] || al_fail "a shell ran the parameters"
[ "$("$FC" machine show m1 --json | al_json facts pkg.HF1)" = 1.0 ] ||
    al_fail "pkg.HF1 fact not reported"
al_ok "immediate run succeeded, parameters literal, no shell"

# Unicast (S8): the server sends to the agent's address.
"$FC" scenario create s-uni --package HF1 --unicast >/dev/null ||
    al_fail "scenario"
run=$(al_run s-uni m2)
al_wait_state "$run" m2 succeeded
[ "$(al_mstate "$run" m2 path)" = unicast ] || al_fail "path not unicast"
al_ok "a unicast scenario succeeded"

# 2. The real exit status and output of a failure.
al_pkg FAIL3 'echo "disk check failed" >&2; exit 3' --type hotfix
"$FC" scenario create s-fail --package FAIL3 >/dev/null || al_fail "scenario"
run=$(al_run s-fail m1)
al_wait_state "$run" m1 failed
[ "$(al_mstate "$run" m1 exit_status)" = 3 ] ||
    al_fail "exit status $(al_mstate "$run" m1 exit_status), want 3"
al_has "$run" m1 output "disk check failed" ||
    al_fail "stderr tail not reported"
al_has "$run" m1 error "FAIL3: exit status 3" ||
    al_fail "error: $(al_mstate "$run" m1 error)"
al_ok "failure reported with exit status 3 and its output"

# 3. Conditions on facts: refused with the reason, applied where they hold.
al_pkg NEEDX 'exit 0' --type hotfix --requires 'custom.flag == yes'
"$FC" scenario create s-needx --package NEEDX >/dev/null || al_fail "scenario"
run=$(al_run s-needx m1 m2)
al_wait_state "$run" m1 error
al_wait_state "$run" m2 succeeded
al_has "$run" m1 error "NEEDX: not applicable: requires 'custom.flag == yes'" ||
    al_fail "reason: $(al_mstate "$run" m1 error)"
[ "$(al_ran NEEDX)" = 1 ] || al_fail "NEEDX ran $(al_ran NEEDX) times"
"$FC" machine clear-error m1 >/dev/null 2>&1
al_ok "condition refused on m1 with its reason, applied on m2"

# 4. Several packages in order; on-error stop and continue (P13).
al_pkg HF2 'exit 0' --type hotfix
"$FC" scenario create s-stop --package FAIL3 --package HF2 \
    --on-error stop >/dev/null || al_fail "scenario"
"$FC" scenario create s-cont --package FAIL3 --package HF2 \
    --on-error continue >/dev/null || al_fail "scenario"
run=$(al_run s-stop m2)
al_wait_state "$run" m2 failed
[ "$(al_ran HF2)" = 0 ] || al_fail "on-error stop ran HF2"
"$FC" machine clear-error m2 >/dev/null 2>&1
run=$(al_run s-cont m2)
al_wait_state "$run" m2 failed
[ "$(al_ran HF2)" = 1 ] || al_fail "on-error continue did not run HF2"
al_has "$run" m2 error "1 of 2 packages succeeded" ||
    al_fail "error: $(al_mstate "$run" m2 error)"
al_ok "packages in order; stop skips, continue runs the rest"

# 5. A key the agent does not trust.
run=$(al_run s-hf1 m3)
al_wait_state "$run" m3 error
al_has "$run" m3 error "HF1: key: signed by key .* not among the 1 trusted key" ||
    al_fail "untrusted key: $(al_mstate "$run" m3 error)"
[ "$(al_ran HF1)" = 2 ] || al_fail "HF1 ran on m3"
al_ok "an untrusted signature is refused"

# 6. No lower version than the installed one.
al_pkg APP 'exit 0' --type application --major 2 --minor 0
"$FC" scenario create s-app --package APP >/dev/null || al_fail "scenario"
run=$(al_run s-app m1)
al_wait_state "$run" m1 succeeded
"$FC" scenario remove s-app >/dev/null || al_fail "scenario remove"
"$FC" package remove APP >/dev/null || al_fail "package remove"
al_pkg APP 'exit 0' --type application --major 1 --minor 5
"$FC" scenario create s-app --package APP >/dev/null || al_fail "scenario"
run=$(al_run s-app m1)
al_wait_state "$run" m1 error
al_has "$run" m1 error "version: 'APP' 1.5 is lower than the installed 2.0" ||
    al_fail "downgrade: $(al_mstate "$run" m1 error)"
al_ok "a lower version than the installed one is refused"

echo "PASS: agent_immediate"
exit 0
