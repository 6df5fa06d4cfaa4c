#!/bin/bash
#
# agent_hooks.sh: reboot and power-off at the right moment, with a real
# fleetcastd and agent whose reboot_command and poweroff_command write
# marker files.  Checks: reboot-after (S14) calls reboot_command after a
# successful run, once the server has its outcome, and not after a failed
# one; a package marked reboot-after-install does the same on its own; an
# exclusive package makes the machine reboot first and is
# applied alone right after the restart (P8); a hook asked for in one boot
# is not repeated after that boot; poweroff-after on a scenario that runs
# at once powers the machine off at the scenario's end, after the server
# has the outcome (with at-next-boot it powers off right after delivery
# instead, S11: agent_nextboot).
# Exit 0 pass, 1 fail, 77 skip (no root/unshare, outside CI).

. "${0%/*}/agent_lib.sh"
al_init "$0" "$@"

al_server_start
al_agent_start m1
al_wait_online m1

# al_wait_mark WHAT N: until the N-th mark of m1 is there.
al_wait_mark()
{
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(al_marks m1 "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	al_fail "no $1 mark #$2 (marks: $(cat "$T/marks"))"
}

al_pkg OK "date +%s.%N >> $T/times" --type hotfix
al_pkg BAD "exit 1" --type hotfix
al_pkg RBI "date +%s.%N >> $T/times" --type hotfix --reboot-after-install
al_pkg EXCL "echo EXCL >> $T/order" --type hotfix --exclusive
"$FC" scenario create rb --package OK --reboot-after >/dev/null &&
"$FC" scenario create rbbad --package BAD --reboot-after >/dev/null &&
"$FC" scenario create rbi --package RBI >/dev/null &&
"$FC" scenario create excl --package EXCL >/dev/null &&
"$FC" scenario create poff --package OK --poweroff-after >/dev/null ||
    al_fail "scenario create"

# Reboot after a successful run, once the server has the outcome.
r=$(al_run rb m1)
al_wait_mark reboot 1
[ "$(al_mstate "$r" m1)" = succeeded ] ||
    al_fail "rebooted before the server had the outcome ($(al_mstate "$r" m1))"
ran=$(tail -n 1 "$T/times")
mark=$(grep " m1 reboot" "$T/marks" | tail -n 1 | cut -d' ' -f1)
python3 -c "import sys; sys.exit(0 if float('$mark') > float('$ran') else 1)" ||
    al_fail "reboot_command ($mark) before the package ran ($ran)"
al_ok "reboot-after: reboot_command after the successful run"

# Not after a failure.
r=$(al_run rbbad m1)
al_wait_state "$r" m1 failed
sleep 1
[ "$(al_marks m1 reboot)" = 1 ] || al_fail "rebooted after a failed run"
"$FC" machine clear-error m1 >/dev/null 2>&1
al_ok "no reboot after a failed run"

# A package that needs a reboot after its installation.
r=$(al_run rbi m1)
al_wait_state "$r" m1 succeeded
al_wait_mark reboot 2
al_ok "reboot-after-install: reboot_command after the package"

# Exclusive: reboot first, apply alone right after the restart.
r=$(al_run excl m1)
al_wait_state "$r" m1 running
al_wait_mark reboot 3
[ ! -e "$T/order" ] || al_fail "the exclusive package ran before the reboot"
al_agent_stop m1
al_reboot m1
al_agent_start m1
al_wait_online m1
al_wait_state "$r" m1 succeeded
[ "$(cat "$T/order")" = EXCL ] || al_fail "EXCL did not run once"
sleep 1
[ "$(al_marks m1 reboot)" = 3 ] && [ "$(al_marks m1 poweroff)" = 0 ] ||
    al_fail "a hook was repeated after the restart: $(cat "$T/marks")"
al_ok "exclusive: reboot first, applied right after the restart, once"

# Power off at the end of a scenario that runs at once.
n=$(wc -l < "$T/times")
r=$(al_run poff m1)
al_wait_mark poweroff 1
[ "$(al_mstate "$r" m1)" = succeeded ] ||
    al_fail "powered off before the server had the outcome ($(al_mstate "$r" m1))"
[ "$(wc -l < "$T/times")" -gt "$n" ] ||
    al_fail "powered off before the package ran"
al_ok "poweroff-after: poweroff_command at the scenario's end"

echo "PASS: agent_hooks"
exit 0
