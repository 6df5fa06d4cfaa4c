#!/bin/bash
#
# server_sched.sh: fleetcastd's scheduling end to end, with five real
# agents (issue #4): max targets 3 on 5 machines gives 3 succeeded and 2 in
# the sticky "max targets exceeded" error, which refuses the next run until
# clear-error, after which a corrected scenario runs on them; max wait 3 s
# with 2 of 4 agents up starts the transfer at about 3 s with those two and
# marks the others missed; with neither set the transfer starts at once;
# a server killed with -9 in the middle of a waiting run comes back with the
# run, which still starts when its max wait (counted from `scenario run`)
# has passed.  Exit 0 pass, 1 fail, 77 skip (no root/unshare, outside CI).

. "${0%/*}/agent_lib.sh"
al_init "$0" "$@"

# Seconds from the run's creation to its transfer start.
start_delay()
{
	"$FC" run show "$1" --json | python3 -c '
import json, sys
from datetime import datetime
d = json.load(sys.stdin)
t = lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
print("%.3f" % (t(d["transfer_started_at"]) - t(d["created_at"])))'
}

# in_range X LO HI: LO <= X < HI (decimals).
in_range()
{
	python3 -c 'import sys; x, lo, hi = map(float, sys.argv[1:]); sys.exit(0 if lo <= x < hi else 1)' "$@"
}

count_state()
{
	"$FC" run show "$1" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(1 for m in d["machines"] if m["state"] == sys.argv[1]))' "$2"
}

al_server_start
for m in vm1 vm2 vm3 vm4 vm5; do
	al_agent_start $m
done
for m in vm1 vm2 vm3 vm4 vm5; do
	al_wait_online $m
done
al_ok "server and five agents online"

# 1. Max targets 3 on 5 machines (S2, S6).
al_pkg SP2 'echo sp2' --type servicepack --major 2 --minor 0
"$FC" scenario create mt --package SP2 --max-targets 3 >/dev/null ||
    al_fail "scenario create mt"
run=$(al_run mt vm1 vm2 vm3 vm4 vm5)
timeout $AL_TIMEOUT "$FC" run watch "$run" > "$T/watch.out"
rc=$?
[ $rc = 1 ] || al_fail "run watch: exit $rc, wanted 1 (2 machines in error)"
[ "$(count_state "$run" succeeded)" = 3 ] || al_fail "not 3 succeeded"
[ "$(count_state "$run" error)" = 2 ] || al_fail "not 2 in error"
errs=""
for m in vm1 vm2 vm3 vm4 vm5; do
	if [ "$(al_mstate "$run" $m)" = error ]; then
		al_has "$run" $m error "max targets exceeded" ||
		    al_fail "$m: error '$(al_mstate "$run" $m error)'"
		[ "$(al_machine_field $m error)" = "max targets exceeded" ] ||
		    al_fail "$m: machine error not sticky"
		errs="${errs:+$errs }$m"
	fi
done
al_ok "max targets 3 of 5: 3 succeeded, 2 in error ($errs)"

# The error sticks: a new run refuses those machines with the message.
run=$(al_run mt $errs)
al_wait_state "$run" ${errs%% *} error 10
al_has "$run" ${errs##* } error "max targets exceeded" ||
    al_fail "a machine in error was not refused"
for m in $errs; do
	"$FC" machine clear-error $m >/dev/null || al_fail "clear-error $m"
	[ "$(al_machine_field $m error)" = null ] || al_fail "$m: not cleared"
done
"$FC" scenario create mt2 --package SP2 --max-targets 2 >/dev/null ||
    al_fail "scenario create mt2"
run=$(al_run mt2 $errs)
timeout $AL_TIMEOUT "$FC" run watch "$run" >/dev/null ||
    al_fail "rerun after clear-error did not succeed"
al_ok "clear-error, then the corrected scenario succeeds on them"

# 2. Max wait 3 s with 2 of 4 agents up (S3, S4).
al_agent_stop vm4
al_agent_stop vm5
al_pkg HFA 'echo hfa' --type hotfix
"$FC" scenario create mw --package HFA --max-wait 3 >/dev/null ||
    al_fail "scenario create mw"
run=$(al_run mw vm1 vm2 vm4 vm5)
timeout $AL_TIMEOUT "$FC" run watch "$run" >/dev/null
d=$(start_delay "$run")
in_range "$d" 2.9 4.5 || al_fail "max wait 3 s: transfer started after $d s"
for m in vm1 vm2; do
	[ "$(al_mstate "$run" $m)" = succeeded ] || al_fail "$m not succeeded"
done
for m in vm4 vm5; do
	[ "$(al_mstate "$run" $m)" = missed ] || al_fail "$m not missed"
	al_has "$run" $m error "max wait" || al_fail "$m: no reason"
done
al_ok "max wait 3 s: started after $d s with 2 of 4, the others missed"

# 3. Neither set: at once (S5).
al_pkg HFB 'echo hfb' --type hotfix
"$FC" scenario create now --package HFB >/dev/null || al_fail "scenario now"
run=$(al_run now vm1 vm2 vm3)
timeout $AL_TIMEOUT "$FC" run watch "$run" >/dev/null ||
    al_fail "immediate run did not succeed"
d=$(start_delay "$run")
in_range "$d" 0 1 || al_fail "neither set: transfer started after $d s"
al_ok "neither max targets nor max wait: started after $d s"

# 4. kill -9 in the middle of a waiting run: nothing is lost.
al_pkg HFC 'echo hfc' --type hotfix
"$FC" scenario create rs --package HFC --max-wait 6 >/dev/null ||
    al_fail "scenario rs"
run=$(al_run rs vm1 vm4)
nruns=$("$FC" run list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
sleep 1
kill -9 "$AL_SERVER"
wait "$AL_SERVER" 2>/dev/null
al_server_start
[ "$("$FC" run show "$run" --json | al_json state)" = waiting ] ||
    al_fail "the waiting run did not survive kill -9"
[ "$("$FC" run list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = $nruns ] ||
    al_fail "runs lost or added by the restart"
timeout $AL_TIMEOUT "$FC" run watch "$run" >/dev/null
d=$(start_delay "$run")
in_range "$d" 5.9 9 || al_fail "after the restart: transfer started after $d s"
[ "$(al_mstate "$run" vm1)" = succeeded ] ||
    al_fail "vm1: $(al_mstate "$run" vm1) after the restart"
[ "$(al_mstate "$run" vm4)" = missed ] || al_fail "vm4 not missed"
al_ok "kill -9 during a waiting run: it started after $d s (max wait 6)"
exit 0
