#!/bin/bash
#
# agent_fulldisk.sh: a full disk in the agent's state_dir (a small tmpfs
# mounted in the test's private mount namespace), with a real fleetcastd.
# Checks: a package larger than the free staging space is refused before
# the transfer with a sentence giving both numbers; a disk that fills up
# while the agent waits for the transfer gives the server a clear error
# (no space / disk full), the agent keeps running, and once space is back
# the next run succeeds and a restarted agent finds its earlier state
# (installed packages) intact.
# Exit 0 pass, 1 fail, 77 skip (no root/unshare, outside CI).

. "${0%/*}/agent_lib.sh"
al_init "$0" "$@"

mkdir -p "$T/m1"
mount -t tmpfs -o size=3m tmpfs "$T/m1" || al_skip "cannot mount a tmpfs"
AL_UMOUNT=$T/m1
trap 'al_cleanup; umount "$AL_UMOUNT" 2>/dev/null' EXIT

al_server_start
al_agent_start m1
al_agent_start m2
al_wait_online m1
al_wait_online m2
# m2 goes away, so that a run on m1 and m2 waits for its max wait.
al_agent_stop m2

al_pkg OK1 "exit 0" --type hotfix --major 1 --minor 0
# A second one for after the disk full: OK1 again would be refused by the
# agent's anti-rollback mark (same version, not idempotent).
al_pkg OK2 "exit 0" --type hotfix --major 1 --minor 0
mkdir -p "$T/p-HUGE" "$T/p-MID"
head -c 4000000 /dev/urandom > "$T/p-HUGE/blob"
head -c 1000000 /dev/urandom > "$T/p-MID/blob"
al_pkg HUGE "exit 0" --type application
al_pkg MID "exit 0" --type application
"$FC" scenario create ok1 --package OK1 >/dev/null &&
"$FC" scenario create ok2 --package OK2 >/dev/null &&
"$FC" scenario create huge --package HUGE >/dev/null &&
"$FC" scenario create mid --package MID --max-targets 2 --max-wait 3 \
    >/dev/null || al_fail "scenario create"

r=$(al_run ok1 m1)
al_wait_state "$r" m1 succeeded
al_ok "a first package installed"

r=$(al_run huge m1)
al_wait_state "$r" m1 error
al_has "$r" m1 error "^HUGE: |staging: [0-9]+ bytes free in .*, the packages need [0-9]+" ||
    al_fail "reason: $(al_mstate "$r" m1 error)"
"$FC" machine clear-error m1 >/dev/null 2>&1
al_ok "too large for the staging space: refused before the transfer"

# The disk fills up while the run waits for its transfer (max wait 3 s).
r=$(al_run mid m1 m2)
al_wait_state "$r" m1 ready
dd if=/dev/zero of="$T/m1/filler" bs=64k >/dev/null 2>&1
al_wait_state "$r" m1 failed 30
al_has "$r" m1 error "[Nn]o space left|disk full|bytes free" ||
    al_fail "no clear disk error: $(al_mstate "$r" m1 error)"
kill -0 "$(al_agent_pid m1)" 2>/dev/null || al_fail "the agent died"
al_ok "disk full during the run: '$(al_mstate "$r" m1 error | cut -c1-100)'"

rm -f "$T/m1/filler"
"$FC" machine clear-error m1 >/dev/null 2>&1
r=$(al_run ok2 m1)
al_wait_state "$r" m1 succeeded
al_agent_stop m1
al_agent_start m1
al_wait_online m1
[ "$("$FC" machine show m1 --json | al_json facts pkg.OK1)" = 1.0 ] &&
[ "$("$FC" machine show m1 --json | al_json facts pkg.OK2)" = 1.0 ] ||
    al_fail "installed packages lost"
al_ok "space back: runs succeed, a restarted agent has its state"

echo "PASS: agent_fulldisk"
exit 0
