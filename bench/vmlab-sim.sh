# bench/vmlab-sim.sh: case 10 of bench/vmlab (sim-timing), the simulator
# checked against real machines.  The agents of vm1..vmN are stopped, a
# scenario with max targets N and max wait VCM_WAIT seconds is run on them,
# and their agents are started again one after the other (VCM_STEP apart,
# the last one after max wait), so the machines become ready at different
# times as a fleet does.  The measured per-machine timeline (the run's
# history on the server: ready, transferring, delivered, done) becomes the
# input of `fleetcast sim` (the ready times, the run's options and package
# size), and the two timelines are written side by side to sim-timing.txt
# in --out; the case fails when the simulator and the server disagree on
# the wave, the missed machine or the transfer start.  Sourced by
# bench/vmlab after vmlab-cases.sh; the numbers are bench/vmlab-sim.py's.

VCM_WAIT=30	# max wait (s)
VCM_STEP=8	# between two agents' starts (s)
VCM_LATE=20	# the last agent starts this long after max wait (s)
VCM_SIZE=4	# MiB of payload

vcm_ms()
{
	date +%s%3N
}

vc_sim_timing()
{
	local d=$VL_OUT/work/p-SIM1 r i k end s t0 size off fin
	# shellcheck disable=SC2046
	set -- $(vc_seq "$VC_NM")
	[ $# -ge 2 ] || vc_fail "needs 2 machines or more (--vms 2)" || return 1
	mkdir -p "$d"
	head -c $((VCM_SIZE << 20)) /dev/urandom > "$d/payload" ||
	    vc_fail "payload" || return 1
	vc_pkg SIM1 ":" --type hotfix || vc_fail "package build/add SIM1" ||
	    return 1
	size=$(stat -c %s "$VL_OUT/work/SIM1.fcpkg")
	vl_fc scenario create sim1 --package SIM1 --max-targets $# \
	    --max-wait "$VCM_WAIT" >/dev/null 2>&1 ||
	    vc_fail "scenario create sim1" || return 1
	for i in "$@"; do
		vl_ga "$i" systemctl stop fleetcast-agent.service ||
		    vc_fail "vm$i: systemctl stop fleetcast-agent" || return 1
	done
	end=$((SECONDS + 30))
	for i in "$@"; do
		while [ "$(vc_mfield "vm$i" online)" = True ] && [ $SECONDS -lt $end ]; do
			sleep 0.5
		done
	done
	[ $SECONDS -lt $end ] || vc_fail "the agents stopped, but not offline on the server" ||
	    return 1
	r=$(vc_run sim1 "$@") || vc_fail "scenario run sim1" || return 1
	t0=$(vcm_ms)
	# Machine k (from 0) starts at k * VCM_STEP s; the last one after
	# max wait, so the wave goes without it.
	k=0
	for i in "$@"; do
		if [ "$i" = "$VC_NM" ]; then
			off=$(((VCM_WAIT + VCM_LATE) * 1000))
		else
			off=$((k * VCM_STEP * 1000))
		fi
		while [ $(($(vcm_ms) - t0)) -lt "$off" ]; do
			sleep 0.2
		done
		vl_ga "$i" systemctl start --no-block fleetcast-agent.service ||
		    vc_fail "vm$i: systemctl start fleetcast-agent" || return 1
		echo "vm$i $(($(vcm_ms) - t0))" >> "$VL_OUT/work/sim-starts"
		k=$((k + 1))
	done
	end=$((SECONDS + 240))
	while [ $SECONDS -lt $end ]; do
		s=$(vl_fc run show "$r" --json 2>/dev/null | vc_json state)
		[ "$s" = finished ] && break
		sleep 1
	done
	[ "$s" = finished ] || vc_fail "run $r: $s after 240 s" || return 1
	vc_wait_online 120 "$@" || vc_fail "not every agent back online" ||
	    return 1
	vl_fc run show "$r" --json > "$VL_OUT/work/sim-run.json" ||
	    vc_fail "run show $r" || return 1
	{
		echo "{"
		for i in "$@"; do
			[ "$i" = 1 ] || echo ","
			echo "\"vm$i\":"
			vl_fc machine show "vm$i" --json
		done
		echo "}"
	} > "$VL_OUT/work/sim-machines.json"
	python3 "$VL_HERE/vmlab-sim.py" inputs "$VL_OUT/work/sim-run.json" \
	    "$VL_OUT/work/sim-machines.json" $# "$VCM_WAIT" "$size" \
	    "$VL_OUT/sim.fleet.json" "$VL_OUT/sim.scenario.json" ||
	    vc_fail "the simulator's inputs from run $r" || return 1
	"$VL_FC" sim --scenario "$VL_OUT/sim.scenario.json" \
	    --fleet "$VL_OUT/sim.fleet.json" --json > "$VL_OUT/work/sim.json" \
	    2> "$VL_OUT/work/sim.err" ||
	    vc_fail "fleetcast sim: $(head -c 300 "$VL_OUT/work/sim.err")" ||
	    return 1
	{
		echo "fleetcast sim --scenario sim.scenario.json --fleet sim.fleet.json"
		echo "agents started (ms from the run): $(tr '\n' ' ' < "$VL_OUT/work/sim-starts")"
		python3 "$VL_HERE/vmlab-sim.py" compare "$VL_OUT/work/sim-run.json" \
		    "$VL_OUT/work/sim-machines.json" "$VL_OUT/work/sim.json"
	} > "$VL_OUT/sim-timing.txt"
	fin=$?
	cat "$VL_OUT/sim-timing.txt" >&2
	[ $fin = 0 ] ||
	    vc_fail "the simulator and run $r disagree: $(grep DISAGREE "$VL_OUT/sim-timing.txt" | tr '\n' ';')" ||
	    return 1
	VL_DETAIL="run $r (max targets $#, max wait $VCM_WAIT s, agents started $VCM_STEP s apart, the last after max wait): $(grep -E '^predicted|^measured' "$VL_OUT/sim-timing.txt" | tr '\n' ';') side by side in sim-timing.txt"
}
