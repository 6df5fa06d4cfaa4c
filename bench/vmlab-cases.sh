# bench/vmlab-cases.sh: the cases of bench/vmlab (issue 13), each a
# function vc_NAME that returns 0 when the case passed and leaves in
# VL_DETAIL what it measured or why it failed, and the report (results.json
# and the table).  Everything goes through the real fleetcastd and the
# fleetcast CLI (vl_fc); what happens inside a machine is read through its
# guest agent (vl_ga).  Sourced by bench/vmlab after vmlab-lib.sh.

# Waiting limits: TCG boots a machine in about 13 s alone, several times
# that with 3 machines on 2 loaded cores.
if [ "$VL_ACCEL" = kvm ]; then
	VC_BOOT=120
else
	VC_BOOT=360
fi
VC_ORDER=/var/lib/fcvm-order	# where the lab's packages write "ID boot-id"
VC_NM=$((VL_VMS < 3 ? VL_VMS : 3))	# machines cases 3-10 use
# The CLI the helpers below talk through: the lab's server (vl_fc), or
# case 9's server VM.
VC_CLI=vl_fc

vc_fail()
{
	VL_DETAIL=$*
	return 1
}

# vc_json PATH...: a field of the JSON on stdin.
vc_json()
{
	python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError:
    d = None     # no answer (a machine not known yet): no value
for k in sys.argv[1:]:
    if not isinstance(d, (dict, list)):
        d = None
        break
    d = d[int(k)] if isinstance(d, list) else d.get(k)
print("null" if d is None else d)
' "$@"
}

vc_mfield()
{
	"$VC_CLI" machine show "$1" --json 2>/dev/null | vc_json "$2"
}

vc_fact()
{
	"$VC_CLI" machine show "$1" --json 2>/dev/null | vc_json facts "$2"
}

# vc_boot_note I: remember VM I's boot id as the server has it now.
vc_boot_note()
{
	local b f=$VL_OUT/work/boot.vm$1
	b=$(vc_mfield "vm$1" boot_id)
	[ -n "$b" ] && [ "$b" != null ] || return 0
	[ -f "$f" ] && [ "$(tail -n 1 "$f")" = "$b" ] && return 0
	echo "$b" >> "$f"
}

vc_boot_now()
{
	vl_ga "$1" cat /proc/sys/kernel/random/boot_id
}

# vc_wait_online SECONDS I...: until every vmI is online on the server.
vc_wait_online()
{
	local t=$1 end i all
	shift
	end=$((SECONDS + t))
	while [ $SECONDS -lt $end ]; do
		all=1
		for i in "$@"; do
			[ "$(vc_mfield "vm$i" online)" = True ] || all=0
		done
		[ $all = 1 ] && return 0
		sleep 1
	done
	return 1
}

# vc_wait_boot_change I OLD SECONDS: until the server has a boot id for
# vmI other than OLD, reported by an agent that is online.
vc_wait_boot_change()
{
	local end=$((SECONDS + $3)) b
	while [ $SECONDS -lt $end ]; do
		b=$(vc_mfield "vm$1" boot_id)
		[ -n "$b" ] && [ "$b" != null ] && [ "$b" != "$2" ] &&
		    [ "$(vc_mfield "vm$1" online)" = True ] && return 0
		sleep 1
	done
	return 1
}

# vc_pkg ID SCRIPT-BODY [build options]: a package whose setup.sh (sh)
# records "ID boot-id" in VC_ORDER, then runs SCRIPT-BODY.
vc_pkg()
{
	local id=$1 body=$2 d=$VL_OUT/work/p-$1
	shift 2
	mkdir -p "$d"
	cat > "$d/setup.sh" <<EOF
#!/bin/sh
set -e
echo "$id \$(cat /proc/sys/kernel/random/boot_id)" >> $VC_ORDER
$body
EOF
	chmod 755 "$d/setup.sh"
	"$VL_FC" package build --dir "$d" --exec setup.sh --id "$id" \
	    --sign-key "$VL_OUT/sign.key" -o "$VL_OUT/work/$id.fcpkg" "$@" \
	    > "$VL_OUT/work/$id.build.log" 2>&1 || return 1
	"$VC_CLI" package add "$VL_OUT/work/$id.fcpkg" >/dev/null
}

# vc_run SCENARIO I...: start a run on vmI..., print its id.
vc_run()
{
	local sc=$1
	shift
	# The machine names are vm1..vm32: no quoting needed when split.
	# shellcheck disable=SC2046
	"$VC_CLI" scenario run "$sc" $(printf -- '--machine vm%s ' "$@") \
	    2>>"$VL_OUT/cli.log" > "$VL_OUT/work/run.out" || return 1
	tail -n 1 "$VL_OUT/work/run.out"
}

vc_mstate()
{
	"$VC_CLI" run show "$1" --json 2>/dev/null | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
for m in d["machines"]:
    if m["name"] == sys.argv[1]:
        v = m[sys.argv[2]]
        print("null" if v is None else v)
' "vm$2" "${3:-state}"
}

# vc_wait_state RUN STATE SECONDS I...: until every vmI is in STATE in the
# run; gives up early when one is in another final state.
vc_wait_state()
{
	local run=$1 want=$2 end=$((SECONDS + $3)) i all s
	shift 3
	while [ $SECONDS -lt $end ]; do
		all=1
		for i in "$@"; do
			s=$(vc_mstate "$run" "$i")
			[ "$s" = "$want" ] && continue
			all=0
			case $s in
			succeeded|failed|error|missed|interrupted)
				VC_WHY="vm$i is $s ($(vc_mstate "$run" "$i" error))"
				return 1 ;;
			esac
		done
		[ $all = 1 ] && return 0
		sleep 1
	done
	VC_WHY="run $run: not every machine $want after $3 s ($(for i in "$@"; do
	    printf 'vm%s %s ' "$i" "$(vc_mstate "$run" "$i")"; done))"
	return 1
}

# vc_order I: the lab packages' lines in vmI, space-separated, with the
# boot id shortened to its first 8 characters.
vc_order()
{
	vl_ga "$1" cat "$VC_ORDER" 2>/dev/null |
	    awk '{ printf "%s%s@%s", (NR > 1 ? " " : ""), $1, substr($2, 1, 8) }'
}

vc_seq()
{
	seq 1 "$1" | tr '\n' ' '
}

# ---- 1 ------------------------------------------------------------------
vc_enroll()
{
	local i t0=$SECONDS bad=""
	for ((i = 1; i <= VL_VMS; i++)); do
		vl_vm_start "$i"
	done
	# shellcheck disable=SC2046
	vc_wait_online "$VC_BOOT" $(vc_seq "$VL_VMS") ||
	    vc_fail "not every agent online after $VC_BOOT s: $(vl_fc machine list 2>&1 | tr '\n' ';')" ||
	    return 1
	local t_on=$((SECONDS - t0))
	for ((i = 1; i <= VL_VMS; i++)); do
		vl_ga_wait "$i" 60 || bad="$bad vm$i(guest agent)"
		[ "$(vl_ga "$i" systemctl is-active fleetcast-agent.service)" = active ] ||
		    bad="$bad vm$i(unit not active)"
		[ "$(vc_mfield "vm$i" enrollment)" = enrolled ] ||
		    bad="$bad vm$i(not enrolled)"
		vc_boot_note "$i"
	done
	[ -z "$bad" ] || vc_fail "online, but:$bad" || return 1
	VL_ENROLLED=1
	VL_DETAIL="$VL_VMS agents started by systemd enrolled with the token and online $t_on s after power-on"
}

# ---- 2 ------------------------------------------------------------------
# The service pack carries a .deb built here: it drops a file and a fact
# (fcdemo.version=1) that the agent reports after the run.
vc_servicepack()
{
	local d=$VL_OUT/work/fcdemo run i bad="" t0
	mkdir -p "$d/DEBIAN" "$d/usr/share/fcdemo" "$d/etc/fleetcast/facts.d"
	cat > "$d/DEBIAN/control" <<EOF
Package: fcdemo
Version: 1
Architecture: all
Maintainer: fleetcast VM lab <vmlab@example.net>
Description: fleetcast VM lab demo package
 Installed by the lab's service pack.
EOF
	echo "installed by the fleetcast VM lab" > "$d/usr/share/fcdemo/marker"
	echo "fcdemo.version=1" > "$d/etc/fleetcast/facts.d/fcdemo.facts"
	mkdir -p "$VL_OUT/work/p-SP1"
	dpkg-deb --root-owner-group --build "$d" \
	    "$VL_OUT/work/p-SP1/fcdemo_1_all.deb" >/dev/null 2>&1 ||
	    vc_fail "dpkg-deb --build of the demo package" || return 1
	vc_pkg SP1 'dpkg -i "$(dirname "$0")/fcdemo_1_all.deb"' \
	    --type servicepack --major 1 --minor 0 \
	    --requires 'os.version_id == 12' ||
	    vc_fail "package build/add SP1 (see work/SP1.build.log)" || return 1
	vl_fc scenario create sp1 --package SP1 >/dev/null 2>&1 ||
	    vc_fail "scenario create sp1" || return 1
	t0=$SECONDS
	# shellcheck disable=SC2046
	run=$(vc_run sp1 $(vc_seq "$VL_VMS")) || vc_fail "scenario run sp1" ||
	    return 1
	# shellcheck disable=SC2046
	vc_wait_state "$run" succeeded 180 $(vc_seq "$VL_VMS") ||
	    vc_fail "$VC_WHY" || return 1
	for ((i = 1; i <= VL_VMS; i++)); do
		[ "$(vl_ga "$i" dpkg-query -W -f '${Version}' fcdemo)" = 1 ] ||
		    bad="$bad vm$i(fcdemo not installed)"
		vl_ga "$i" test -f /usr/share/fcdemo/marker ||
		    bad="$bad vm$i(no marker file)"
		local j
		for ((j = 0; j < 30; j++)); do
			[ "$(vc_fact "vm$i" fcdemo.version)" = 1 ] && break
			sleep 1
		done
		[ "$(vc_fact "vm$i" fcdemo.version)" = 1 ] ||
		    bad="$bad vm$i(fact fcdemo.version '$(vc_fact "vm$i" fcdemo.version)')"
		[ "$(vc_fact "vm$i" os.version_id)" = 12 ] ||
		    bad="$bad vm$i(os.version_id '$(vc_fact "vm$i" os.version_id)')"
	done
	[ -z "$bad" ] || vc_fail "run $run succeeded but:$bad" || return 1
	VL_DETAIL="run $run (requires os.version_id == 12) succeeded on $VL_VMS in $((SECONDS - t0)) s; dpkg has fcdemo 1, facts fcdemo.version=1"
}

# ---- 3 ------------------------------------------------------------------
vc_nextboot()
{
	local r1 r2 i bad="" old new got want t0
	# shellcheck disable=SC2046
	set -- $(vc_seq "$VC_NM")
	vc_pkg NB1 ":" --type hotfix && vc_pkg NB2 ":" --type hotfix ||
	    vc_fail "package build/add NB1 NB2" || return 1
	vl_fc scenario create nb1 --package NB1 --at-next-boot >/dev/null 2>&1 &&
	vl_fc scenario create nb2 --package NB2 --at-next-boot >/dev/null 2>&1 ||
	    vc_fail "scenario create nb1 nb2" || return 1
	for i in "$@"; do
		vl_ga "$i" rm -f "$VC_ORDER"
	done
	r1=$(vc_run nb1 "$@") && vc_wait_state "$r1" pending_boot 120 "$@" ||
	    vc_fail "nb1: ${VC_WHY:-scenario run}" || return 1
	r2=$(vc_run nb2 "$@") && vc_wait_state "$r2" pending_boot 120 "$@" ||
	    vc_fail "nb2: ${VC_WHY:-scenario run}" || return 1
	for i in "$@"; do
		[ -z "$(vc_order "$i")" ] ||
		    bad="$bad vm$i(ran before the reboot: $(vc_order "$i"))"
	done
	[ -z "$bad" ] || vc_fail "$bad" || return 1
	t0=$SECONDS
	for i in "$@"; do
		eval "old_$i=\$(vc_mfield vm$i boot_id)"
		vl_ga "$i" --timeout 10 systemctl reboot >/dev/null 2>&1
	done
	for i in "$@"; do
		eval "old=\$old_$i"
		vc_wait_boot_change "$i" "$old" "$VC_BOOT" ||
		    bad="$bad vm$i(no new boot id after $VC_BOOT s)"
		vc_boot_note "$i"
	done
	[ -z "$bad" ] || vc_fail "$bad" || return 1
	vc_wait_state "$r1" succeeded 120 "$@" &&
	vc_wait_state "$r2" succeeded 120 "$@" || vc_fail "$VC_WHY" || return 1
	for i in "$@"; do
		vl_ga_wait "$i" 60
		new=$(vc_boot_now "$i")
		eval "old=\$old_$i"
		[ "$new" = "$(vc_mfield "vm$i" boot_id)" ] ||
		    bad="$bad vm$i(server has boot id $(vc_mfield "vm$i" boot_id), machine $new)"
		[ "$new" != "$old" ] || bad="$bad vm$i(boot id unchanged)"
		got=$(vc_order "$i")
		want="NB1@${new:0:8} NB2@${new:0:8}"
		[ "$got" = "$want" ] || bad="$bad vm$i(order '$got', want '$want')"
	done
	[ -z "$bad" ] || vc_fail "$bad" || return 1
	VL_DETAIL="runs $r1 $r2 pending_boot, systemctl reboot, both applied once in order with the new boot id on $VC_NM; reboot to succeeded $((SECONDS - t0)) s"
}

# ---- 4 ------------------------------------------------------------------
# --reboot-after (scenario): the machine reboots after the package ran;
# --exclusive (package): it reboots before running it, so the line it
# writes carries a boot id the run did not start in.
vc_reboot_exclusive()
{
	local i=$((VC_NM >= 2 ? 2 : 1)) r b0 b1 b2 got
	vc_pkg RA1 ":" --type hotfix &&
	vc_pkg EX1 ":" --type hotfix --exclusive ||
	    vc_fail "package build/add RA1 EX1" || return 1
	vl_fc scenario create ra1 --package RA1 --reboot-after >/dev/null 2>&1 &&
	vl_fc scenario create ex1 --package EX1 >/dev/null 2>&1 ||
	    vc_fail "scenario create ra1 ex1" || return 1
	vl_ga "$i" rm -f "$VC_ORDER"
	b0=$(vc_mfield "vm$i" boot_id)
	r=$(vc_run ra1 "$i") && vc_wait_state "$r" succeeded 120 "$i" ||
	    vc_fail "ra1: ${VC_WHY:-scenario run}" || return 1
	vc_wait_boot_change "$i" "$b0" "$VC_BOOT" ||
	    vc_fail "ra1 succeeded but vm$i did not reboot" || return 1
	vc_boot_note "$i"
	b1=$(vc_mfield "vm$i" boot_id)
	got=$(vc_order "$i")
	[ "$got" = "RA1@${b0:0:8}" ] ||
	    vc_fail "ra1: order '$got', want RA1 in the boot before the reboot (${b0:0:8})" ||
	    return 1
	vl_ga "$i" rm -f "$VC_ORDER"
	r=$(vc_run ex1 "$i") || vc_fail "scenario run ex1" || return 1
	vc_wait_boot_change "$i" "$b1" "$VC_BOOT" ||
	    vc_fail "exclusive ex1: vm$i did not reboot" || return 1
	vc_boot_note "$i"
	vc_wait_state "$r" succeeded 120 "$i" || vc_fail "ex1: $VC_WHY" ||
	    return 1
	b2=$(vc_mfield "vm$i" boot_id)
	vl_ga_wait "$i" 60
	got=$(vc_order "$i")
	[ "$got" = "EX1@${b2:0:8}" ] ||
	    vc_fail "ex1: order '$got', want EX1 after the reboot (${b2:0:8})" ||
	    return 1
	VL_DETAIL="vm$i: RA1 ran in boot ${b0:0:8} then rebooted to ${b1:0:8}; exclusive EX1 rebooted first and ran in ${b2:0:8}"
}

# ---- 5 ------------------------------------------------------------------
vc_poweroff()
{
	local r t0 b0 new got end
	vc_pkg NB3 ":" --type hotfix || vc_fail "package build/add NB3" ||
	    return 1
	vl_fc scenario create nb3 --package NB3 --at-next-boot \
	    --poweroff-after >/dev/null 2>&1 ||
	    vc_fail "scenario create nb3" || return 1
	vl_ga 1 rm -f "$VC_ORDER"
	b0=$(vc_mfield vm1 boot_id)
	t0=$SECONDS
	r=$(vc_run nb3 1) && vc_wait_state "$r" pending_boot 120 1 ||
	    vc_fail "nb3: ${VC_WHY:-scenario run}" || return 1
	end=$((SECONDS + 120))
	while vl_vm_running 1 && [ $SECONDS -lt $end ]; do
		sleep 1
	done
	! vl_vm_running 1 ||
	    vc_fail "run $r pending_boot but vm1's QEMU still runs after 120 s" ||
	    return 1
	local t_off=$((SECONDS - t0))
	[ "$(vc_mstate "$r" 1)" = pending_boot ] ||
	    vc_fail "vm1 off, run state $(vc_mstate "$r" 1)" || return 1
	vl_vm_start 1
	vc_wait_boot_change 1 "$b0" "$VC_BOOT" ||
	    vc_fail "vm1 started again: no new boot id after $VC_BOOT s" ||
	    return 1
	vc_boot_note 1
	vc_wait_state "$r" succeeded 120 1 || vc_fail "$VC_WHY" || return 1
	vl_ga_wait 1 60
	new=$(vc_boot_now 1)
	got=$(vc_order 1)
	[ "$got" = "NB3@${new:0:8}" ] ||
	    vc_fail "order '$got', want NB3 once in the new boot ${new:0:8}" ||
	    return 1
	VL_DETAIL="QEMU exited $t_off s after the run started (delivered, nothing ran); started again, NB3 ran once in boot ${new:0:8}, run $r succeeded"
}

# ---- 6 ------------------------------------------------------------------
# S13: 100 pending next-boot runs at most.  One scenario, run 101 times on
# one machine: the 101st is refused with the queue's reason; after a
# reboot (the queue applied) the same scenario is accepted again.
vc_pending_limit()
{
	local i=1 k r last b0 n
	vc_pkg PL1 ":" --type hotfix --idempotent || vc_fail "package PL1" ||
	    return 1
	vl_fc scenario create pl1 --package PL1 --at-next-boot >/dev/null 2>&1 ||
	    vc_fail "scenario create pl1" || return 1
	vl_ga "$i" rm -f "$VC_ORDER"
	for ((k = 1; k <= 100; k++)); do
		r=$(vc_run pl1 "$i") && vc_wait_state "$r" pending_boot 60 "$i" ||
		    vc_fail "pending run $k: ${VC_WHY:-scenario run}" || return 1
	done
	r=$(vc_run pl1 "$i") || vc_fail "scenario run 101" || return 1
	vc_wait_state "$r" error 60 "$i"
	[ "$(vc_mstate "$r" "$i")" = error ] ||
	    vc_fail "the 101st: state $(vc_mstate "$r" "$i"), want error" ||
	    return 1
	last=$(vc_mstate "$r" "$i" error)
	vl_fc machine clear-error "vm$i" >/dev/null 2>&1
	b0=$(vc_mfield "vm$i" boot_id)
	vl_ga "$i" --timeout 10 systemctl reboot >/dev/null 2>&1
	vc_wait_boot_change "$i" "$b0" "$VC_BOOT" ||
	    vc_fail "no new boot after the reboot" || return 1
	vc_boot_note "$i"
	vc_wait_state "$r" error 5 "$i"
	# The queue is applied after the boot: room again once it is.
	local end=$((SECONDS + 300))
	while [ $SECONDS -lt $end ]; do
		n=$(vl_ga "$i" cat "$VC_ORDER" 2>/dev/null | wc -l)
		[ "$n" -ge 100 ] && break
		sleep 2
	done
	[ "$n" = 100 ] || vc_fail "after the reboot $n of 100 applied" ||
	    return 1
	vl_fc machine clear-error "vm$i" >/dev/null 2>&1
	r=$(vc_run pl1 "$i") && vc_wait_state "$r" pending_boot 60 "$i" ||
	    vc_fail "after the reboot: ${VC_WHY:-scenario run}" || return 1
	VL_DETAIL="vm$i: 100 pending, the 101st refused ($last); after a reboot the 100 applied and a new one is pending again"
}

# ---- 7 ------------------------------------------------------------------
vc_auto_update()
{
	local i=$VC_NM b0 end run
	b0=$(vc_mfield "vm$i" boot_id)
	vl_ga "$i" --timeout 10 systemctl poweroff >/dev/null 2>&1
	end=$((SECONDS + 120))
	while vl_vm_running "$i" && [ $SECONDS -lt $end ]; do
		sleep 1
	done
	! vl_vm_running "$i" || vc_fail "vm$i did not power off" || return 1
	vc_pkg AU1 ":" --type hotfix --urgency highest ||
	    vc_fail "package build/add AU1" || return 1
	vl_vm_start "$i"
	vc_wait_boot_change "$i" "$b0" "$VC_BOOT" ||
	    vc_fail "vm$i started: no new boot id" || return 1
	vc_boot_note "$i"
	end=$((SECONDS + 180))
	while [ $SECONDS -lt $end ]; do
		run=$(vl_fc run list --json 2>/dev/null | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if r.get("scenario") == "auto-AU1":
        print(r["id"])
' | tail -n 1)
		[ -n "$run" ] && [ "$(vc_mstate "$run" "$i")" = succeeded ] && break
		sleep 2
	done
	[ -n "$run" ] && [ "$(vc_mstate "$run" "$i")" = succeeded ] ||
	    vc_fail "no auto-AU1 run succeeded on vm$i (run '${run:-none}')" ||
	    return 1
	vl_ga_wait "$i" 60
	[ "$(vc_order "$i" | grep -o 'AU1@' | wc -l)" = 1 ] ||
	    vc_fail "AU1 ran '$(vc_order "$i")' on vm$i" || return 1
	VL_DETAIL="vm$i off when AU1 (urgency highest) was added; at its start run $run (auto-AU1) succeeded, AU1 ran once"
}

# ---- 8 ------------------------------------------------------------------
# A package big enough that its transfer takes seconds; the agent is
# killed (SIGKILL, by its unit) while the run is transferring.
vc_agent_kill()
{
	local i=$((VC_NM >= 2 ? 2 : 1)) d=$VL_OUT/work/p-BIG1 r end s pid0 pid1
	mkdir -p "$d"
	head -c $((64 << 20)) /dev/urandom > "$d/payload" ||
	    vc_fail "payload" || return 1
	vc_pkg BIG1 ":" --type hotfix || vc_fail "package build/add BIG1" ||
	    return 1
	vl_fc scenario create big1 --package BIG1 >/dev/null 2>&1 ||
	    vc_fail "scenario create big1" || return 1
	vl_ga "$i" rm -f "$VC_ORDER"
	pid0=$(vl_ga "$i" systemctl show -p MainPID --value fleetcast-agent)
	r=$(vc_run big1 "$i") || vc_fail "scenario run big1" || return 1
	end=$((SECONDS + 120))
	while [ $SECONDS -lt $end ]; do
		s=$(vc_mstate "$r" "$i")
		[ "$s" = transferring ] && [ "$(vc_mstate "$r" "$i" bytes_received)" -gt 0 ] 2>/dev/null && break
		case $s in succeeded|failed|error) break ;; esac
		sleep 0.5
	done
	[ "$s" = transferring ] ||
	    vc_fail "never saw vm$i transferring (state $s)" || return 1
	local at=$(vc_mstate "$r" "$i" bytes_received)
	vl_ga "$i" systemctl kill -s KILL fleetcast-agent.service ||
	    vc_fail "systemctl kill in vm$i" || return 1
	vc_wait_state "$r" succeeded 300 "$i" || vc_fail "$VC_WHY" || return 1
	pid1=$(vl_ga "$i" systemctl show -p MainPID --value fleetcast-agent)
	[ "$pid1" != "$pid0" ] && [ "$pid1" != 0 ] ||
	    vc_fail "the agent's pid did not change ($pid0 -> $pid1)" || return 1
	[ "$(vc_order "$i" | grep -o 'BIG1@' | wc -l)" = 1 ] ||
	    vc_fail "BIG1 ran '$(vc_order "$i")'" || return 1
	VL_DETAIL="vm$i: agent killed at $at bytes; systemd restarted it (pid $pid0 -> $pid1), run $r succeeded, BIG1 ran once"
}

# ---- report -------------------------------------------------------------

vl_boot_ids_note()
{
	local i
	for ((i = 1; i <= VL_VMS; i++)); do
		vc_boot_note "$i" 2>/dev/null
	done
}

# vl_report FILE: results.json, the --json output (issue 13's shape).
vl_report()
{
	local r
	for r in "${VL_RESULTS[@]}"; do
		printf '%s\n' "$r"
	done | python3 -c '
import json, os, sys
vms, accel, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cases = []
for line in sys.stdin:
    n, name, ok, secs, detail = line.rstrip("\n").split("|", 4)
    cases.append({"name": name, "ok": ok == "true", "seconds": int(secs),
                  "detail": detail})
boots = {}
for i in range(1, vms + 1):
    p = os.path.join(work, "boot.vm%d" % i)
    boots["vm%d" % i] = open(p).read().split() if os.path.exists(p) else []
json.dump({"vms": vms, "accel": accel, "cases": cases, "boot_ids": boots},
          sys.stdout, indent=2)
print()
' "$VL_VMS" "$VL_ACCEL" "$VL_OUT/work" > "$1.tmp" && mv "$1.tmp" "$1"
}

vl_table()
{
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print("%d VMs, %s" % (d["vms"], d["accel"]))
print("%-18s %-6s %7s  %s" % ("CASE", "RESULT", "SECONDS", "DETAIL"))
for c in d["cases"]:
    print("%-18s %-6s %7d  %s" % (c["name"], "ok" if c["ok"] else "FAIL",
          c["seconds"], c["detail"]))
for vm, ids in sorted(d["boot_ids"].items()):
    print("%s boots: %s" % (vm, " ".join(i[:8] for i in ids)))
' "$1"
}
