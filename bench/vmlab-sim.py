#!/usr/bin/env python3
# bench/vmlab-sim.py: the two halves of bench/vmlab's case 10 (sim-timing)
# that are about numbers.  "inputs" turns what the lab measured on real
# VMs (the run's per-machine history from `fleetcast run show --json` and
# each machine's events from `fleetcast machine show --json`) into the
# input files of `fleetcast sim`: every machine with the ready time it had,
# the scenario with the run's max targets, max wait and package size.
# "compare" puts the measured timeline beside the one `fleetcast sim
# --json` predicted from those inputs, one line a machine, and exits 1
# when they disagree on what the scheduler decides (who is in the wave,
# who is missed, when the transfer starts, to within TOLERANCE seconds);
# transfer durations are reported, not judged: the simulator's link model
# is what the comparison is there to show.
#   vmlab-sim.py inputs RUN.json MACHINES.json MAX_TARGETS MAX_WAIT SIZE \
#       FLEET-OUT SCENARIO-OUT
#   vmlab-sim.py compare RUN.json MACHINES.json SIM.json [TOLERANCE]
# MACHINES.json: {"vm1": <machine show --json>, ...}.
import datetime
import json
import sys


def die(msg):
    print("vmlab-sim: " + msg, file=sys.stderr)
    sys.exit(2)


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        die("%s: %s" % (path, e))


def ms(v):
    """A time of the API (ISO 8601 UTC with milliseconds, as SPEC.md has
    them, or milliseconds) in milliseconds; None when it is not one."""
    if isinstance(v, int):
        return v
    if not isinstance(v, str):
        return None
    try:
        d = datetime.datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return None
    d = d.replace(tzinfo=datetime.timezone.utc)
    return int(round(d.timestamp() * 1000))


def first(history, state):
    """The first time (ms) the machine entered STATE in the run."""
    for h in history:
        if h.get("state") == state and ms(h.get("at")) is not None:
            return ms(h["at"])
    return None


def measured(run, machines):
    """Per machine, seconds from the run's creation: online (the agent's
    first connection after it), ready, transfer start, delivered, done,
    and its final state."""
    t0 = ms(run.get("created_at"))
    if t0 is None:
        die("run %s: no created_at" % run.get("id"))
    out = {}
    for m in run["machines"]:
        name = m["name"]
        h = m.get("history") or []
        online = None
        for ev in (machines.get(name) or {}).get("events") or []:
            at = ms(ev.get("at"))
            if ev.get("kind") == "online" and at is not None and at >= t0:
                online = at
                break
        done = None
        for st in ("succeeded", "failed", "error", "missed", "interrupted"):
            done = first(h, st)
            if done is not None:
                break

        def rel(v):
            return None if v is None else round((v - t0) / 1000.0, 3)
        out[name] = {
            "state": m["state"],
            "path": m.get("path"),
            "online": rel(online),
            "ready": rel(first(h, "ready")),
            "transfer_start": rel(first(h, "transferring")),
            "delivered": rel(first(h, "delivered")),
            "done": rel(done),
        }
    return out


def fed(t):
    """The ready time the simulation gets.  A machine the wave left behind
    never reported ready to the run (it was missed first): its agent's
    connection is when it would have.  One that never came up: never."""
    return t["ready"] if t["ready"] is not None else t["online"]


def inputs(argv):
    run, machines = load(argv[0]), load(argv[1])
    max_targets, max_wait, size = int(argv[2]), float(argv[3]), int(argv[4])
    fleet = []
    for name, t in sorted(measured(run, machines).items()):
        fleet.append({"name": name, "ready_at": fed(t)})
    with open(argv[5], "w") as f:
        json.dump({"machines": fleet}, f, indent=1)
        f.write("\n")
    with open(argv[6], "w") as f:
        json.dump({"description": "bench/vmlab case 10, run %s" % run["id"],
                   "max_targets": max_targets, "max_wait": max_wait,
                   "package_size": size}, f, indent=1)
        f.write("\n")


def fmt(v):
    return "-" if v is None else "%.3f" % v


def compare(argv):
    run, machines, sim = load(argv[0]), load(argv[1]), load(argv[2])
    tol = float(argv[3]) if len(argv) > 3 else 2.0
    meas = measured(run, machines)
    pred = {m["name"]: m for m in sim.get("machines", [])}
    bad = []
    print("run %s: times in seconds from the run's start; measured on the "
          "VMs / predicted by fleetcast sim" % run["id"])
    row = "%-5s %7s %7s  %8s %8s  %9s %9s  %-9s %-9s  %-9s %-9s"
    print(row % ("", "agent", "ready", "transfer", "start", "delivered",
                 "", "path", "", "state", ""))
    print(row % ("vm", "online", "(fed)", "measured", "sim", "measured",
                 "sim", "measured", "sim", "measured", "sim"))
    for name in sorted(meas):
        t, p = meas[name], pred.get(name)
        if p is None:
            bad.append("%s: not in the simulation" % name)
            continue
        print(row % (name, fmt(t["online"]), fmt(fed(t)),
                     fmt(t["transfer_start"]), fmt(p["transfer_start"]),
                     fmt(t["delivered"]), fmt(p["delivered_at"]),
                     t["path"] or "-", p["path"] or "-", t["state"],
                     p["state"]))
        if t["state"] != p["state"]:
            bad.append("%s: %s on the VMs, %s in the simulation" % (
                name, t["state"], p["state"]))
        ts, ps = t["transfer_start"], p["transfer_start"]
        if (ts is None) != (ps is None):
            bad.append("%s: transfer start %s measured, %s predicted" % (
                name, fmt(ts), fmt(ps)))
        elif ts is not None and abs(ts - ps) > tol:
            bad.append("%s: transfer start %.3f s measured, %.3f s "
                       "predicted (more than %.1f s apart)" % (
                           name, ts, ps, tol))
    waves = sim.get("waves", [])
    if waves:
        w = waves[0]
        print("predicted wave 1: %s at %.3f s (%s), transfer %.3f s" % (
            ",".join(w["machines"]), w["start"], w["why"],
            w["end"] - w["start"]))
    got = [t["delivered"] - t["transfer_start"] for t in meas.values()
           if t["delivered"] is not None and t["transfer_start"] is not None]
    if got:
        print("measured transfer: %.3f s to %.3f s" % (min(got), max(got)))
    for b in bad:
        print("DISAGREE: " + b)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    if len(sys.argv) >= 8 and sys.argv[1] == "inputs":
        inputs(sys.argv[2:])
    elif len(sys.argv) in (5, 6) and sys.argv[1] == "compare":
        compare(sys.argv[2:])
    else:
        die("usage: vmlab-sim.py inputs RUN.json MACHINES.json MAX_TARGETS "
            "MAX_WAIT SIZE FLEET-OUT SCENARIO-OUT | compare RUN.json "
            "MACHINES.json SIM.json [TOLERANCE]")
