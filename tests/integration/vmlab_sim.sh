#!/bin/bash
#
# vmlab_sim.sh: the numbers half of the VM lab's case 10 (bench/vmlab-sim.py)
# without the VMs.  vmlab_sim.run.json and vmlab_sim.machines.json are what
# `fleetcast run show --json` and `fleetcast machine show --json` (its
# events) said after a real case 10 run on 3 TCG VMs (max targets 3, max
# wait 30 s; vm3's agent started after max wait).  The test turns them into
# the simulator's inputs and checks them (the ready times as measured, the
# online event before the run ignored, the missed machine's connection
# time), runs the real `fleetcast sim` on them and checks that the
# comparison agrees, then changes the measured run (a transfer start 5 s
# late, a missed machine that succeeded, a machine the simulation does not
# have) and checks that each is reported as a disagreement with status 1,
# and that unreadable input is refused with status 2.  Exit 0 pass, 1 fail.

here=$(cd "${0%/*}" && pwd)
top_srcdir=${top_srcdir:-$here/../..}
top_builddir=${top_builddir:-.}
FC=$(cd "$top_builddir" && pwd)/server/cli/fleetcast
VS=$top_srcdir/bench/vmlab-sim.py
RUN=$here/vmlab_sim.run.json
MACH=$here/vmlab_sim.machines.json

fail()
{
	echo "FAIL: $*"
	exit 1
}

[ -x "$FC" ] || fail "$FC: not built"
out=$(mktemp -d "${TMPDIR:-/tmp}/fc-vmlab-sim.XXXXXX") || exit 1
trap 'rm -rf "$out"' EXIT

python3 "$VS" inputs "$RUN" "$MACH" 3 30 4196391 "$out/fleet.json" \
    "$out/scenario.json" || fail "inputs: status $?"
python3 - "$out/fleet.json" "$out/scenario.json" <<'PY' || fail "the simulator's inputs"
import json, sys
f = json.load(open(sys.argv[1]))
got = [(m["name"], m["ready_at"]) for m in f["machines"]]
# vm1, vm2: their "ready" in the run; vm3, missed before it was ready:
# its agent's first connection after the run was created (vm1's
# connection before the run is not taken).
assert got == [("vm1", 0.933), ("vm2", 8.847), ("vm3", 51.103)], got
s = json.load(open(sys.argv[2]))
assert (s["max_targets"], s["max_wait"], s["package_size"]) == (3, 30, 4196391), s
PY
echo "ok: inputs: ready times 0.933, 8.847, 51.103; max targets 3, max wait 30"

"$FC" sim --scenario "$out/scenario.json" --fleet "$out/fleet.json" --json \
    > "$out/sim.json" || fail "fleetcast sim: status $?"
python3 "$VS" compare "$RUN" "$MACH" "$out/sim.json" > "$out/cmp.txt"
rc=$?
cat "$out/cmp.txt"
[ $rc = 0 ] || fail "compare of the real run: status $rc, want 0"
grep -qE '^vm1 +0\.886 +0\.933 +30\.002 +30\.000 +33\.887 +30\.034 +multicast +multicast +succeeded +succeeded' \
    "$out/cmp.txt" || fail "compare: vm1's line"
grep -qE '^vm3 .* missed +missed' "$out/cmp.txt" || fail "compare: vm3's line"
grep -q '^predicted wave 1: vm1,vm2 at 30.000 s (max wait elapsed)' \
    "$out/cmp.txt" || fail "compare: the predicted wave"
echo "ok: the real run and the simulation agree"

# mutate NAME PYTHON-STATEMENT: the real run changed; compare must say so.
mutate()
{
	python3 - "$RUN" "$out/run-$1.json" "$2" <<'PY' || fail "mutating the run"
import json, sys
r = json.load(open(sys.argv[1]))
m = {x["name"]: x for x in r["machines"]}
exec(sys.argv[3])
json.dump(r, open(sys.argv[2], "w"))
PY
	python3 "$VS" compare "$out/run-$1.json" "$MACH" "$out/sim.json" \
	    > "$out/cmp-$1.txt"
	rc=$?
	[ $rc = 1 ] || { cat "$out/cmp-$1.txt"; fail "$1: status $rc, want 1"; }
}

mutate late 'for h in m["vm2"]["history"]:
    if h["state"] == "transferring":
        h["at"] = h["at"].replace("02:27:56.", "02:28:01.")
        break'
grep -q '^DISAGREE: vm2: transfer start 35.002 s measured, 30.000 s predicted' \
    "$out/cmp-late.txt" || { cat "$out/cmp-late.txt"; fail "late: no disagreement on vm2"; }
mutate state 'm["vm3"]["state"] = "succeeded"'
grep -q '^DISAGREE: vm3: succeeded on the VMs, missed in the simulation' \
    "$out/cmp-state.txt" || { cat "$out/cmp-state.txt"; fail "state: no disagreement on vm3"; }
mutate extra 'r["machines"].append({"name": "vm4", "state": "missed", "history": []})'
grep -q '^DISAGREE: vm4: not in the simulation' "$out/cmp-extra.txt" ||
    { cat "$out/cmp-extra.txt"; fail "extra: no disagreement on vm4"; }
echo "ok: a late transfer start, a wrong state, a machine too many: status 1 each"

echo '{"id": 1' > "$out/bad.json"
python3 "$VS" compare "$out/bad.json" "$MACH" "$out/sim.json" > "$out/bad.out" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "bad.json" "$out/bad.out" ||
    fail "bad JSON: status $rc, want 2 naming the file ($(cat "$out/bad.out"))"
python3 "$VS" inputs > "$out/usage.out" 2>&1
[ $? = 2 ] && grep -q usage "$out/usage.out" || fail "no arguments: want the usage, status 2"
echo "ok: bad input refused with status 2"
echo "PASS: vmlab_sim"
exit 0
