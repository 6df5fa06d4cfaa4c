#!/usr/bin/env python3
#
# mcast-report.py: turns the per-transfer rows that bench/mcast-throughput
# writes (rows.txt, one line per transfer and repeat, fields split by '|')
# into its results: one row per tool, receiver count, loss level and
# shaping, with the median of the repeats (min and max beside it), the
# ratio to udpcast, the fraction of the link each row reached (of the tbf
# rate when shaped, of the limit-write row when not), CPU seconds per GiB,
# and the CSV, JSON, text table and gnuplot scripts of the charts.  A row
# is ok only when every one of its repeats was; a FAIL row gives the
# reasons and no numbers.  Run by mcast-throughput, never by hand.

import argparse
import json
import statistics
import sys

FIELDS = ("tool", "receivers", "loss", "result", "wall", "mibs", "retrans",
          "rss_s", "rss_r", "reason", "s_wall", "shape", "rep", "s_user",
          "s_sys", "r_user", "r_sys", "recv_pct")

# The columns of the first version come first, in their order: scripts and
# doc/performance.md read them by name.
CSV_COLUMNS = (
    "tool", "receivers", "loss_pct", "size_bytes", "result", "wall_s",
    "mib_s", "retrans_pct", "ratio_to_udpcast", "sender_rss_mib",
    "receiver_rss_max_mib", "sender_exit_s", "reason",
    "rate", "tbf_burst", "tbf_latency", "repeats", "repeats_ok",
    "mib_s_min", "mib_s_max", "wall_s_min", "wall_s_max", "link_mib_s",
    "link_fraction", "sender_user_s_per_gib", "sender_sys_s_per_gib",
    "receiver_user_s_per_gib", "receiver_sys_s_per_gib", "received_pct")

COLORS = {"fleetcast": "#1f5fbf", "udpcast": "#c0392b", "uftp": "#27864a",
          "limit-write": "#000000", "limit-discard": "#7f7f7f"}


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def rate_bits(rate):
    for suffix, mult in (("gbit", 10**9), ("mbit", 10**6), ("kbit", 10**3),
                         ("bit", 1)):
        if rate.endswith(suffix):
            return int(rate[:-len(suffix)]) * mult
    return int(rate)


def median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def read_rows(path):
    runs = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("|")
            parts += [""] * (len(FIELDS) - len(parts))
            runs.append(dict(zip(FIELDS, parts)))
    return runs


def aggregate(runs):
    groups, order = {}, []
    for r in runs:
        key = (r["shape"] or "none", int(r["receivers"]), int(r["loss"]),
               r["tool"])
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(r)
    rows = []
    for key in order:
        shape, n, loss, tool = key
        rs = groups[key]
        ok = [r for r in rs if r["result"] == "ok"]
        row = {"shape": shape, "tool": tool, "receivers": n, "loss": loss,
               "repeats": len(rs), "repeats_ok": len(ok)}
        if shape == "none":
            row.update(rate="none", burst="", latency="")
        else:
            # RATE/BURST/LATENCY, and /bridge when the bridge's ports
            # towards the receivers are shaped instead of the sender.
            parts = shape.split("/") + ["sender"]
            row["rate"], row["burst"], row["latency"] = parts[:3]
            row["shape_at"] = parts[3]
        # Peak RSS: the largest over the repeats, failed ones included.
        for k in ("rss_s", "rss_r"):
            vals = [num(r[k]) for r in rs if num(r[k]) is not None]
            row[k] = max(vals) if vals else None
        if len(ok) == len(rs):
            row["result"], row["reason"] = "ok", ""
            for k in ("wall", "mibs", "s_wall", "s_user", "s_sys", "r_user",
                      "r_sys", "recv_pct"):
                row[k] = median(num(r[k]) for r in ok)
            rt = [num(r["retrans"]) for r in ok]
            row["retrans"] = median(rt) if None not in rt else None
            mibs = [num(r["mibs"]) for r in ok]
            walls = [num(r["wall"]) for r in ok]
            row.update(mibs_min=min(mibs), mibs_max=max(mibs),
                       wall_min=min(walls), wall_max=max(walls))
        else:
            row["result"] = "FAIL"
            if len(rs) == 1:
                row["reason"] = rs[0]["reason"]
            else:
                row["reason"] = "; ".join(
                    "repeat %s: %s" % (r["rep"], r["reason"])
                    for r in rs if r["result"] != "ok")
        rows.append(row)

    by_key = {(r["shape"], r["receivers"], r["loss"], r["tool"]): r
              for r in rows}

    def mibs_of(shape, n, loss, tool):
        r = by_key.get((shape, n, loss, tool))
        if r is not None and r["result"] == "ok":
            return r["mibs"]
        return None

    for r in rows:
        ok = r["result"] == "ok"
        base = mibs_of(r["shape"], r["receivers"], r["loss"], "udpcast")
        r["ratio"] = r["mibs"] / base if ok and base else None
        if r["shape"] != "none":
            link = rate_bits(r["rate"]) / 8 / 1048576
        elif r["tool"] == "limit-discard":
            link = None
        elif r["tool"] == "limit-write":
            link = mibs_of("none", r["receivers"], r["loss"], "limit-discard")
        else:
            link = mibs_of("none", r["receivers"], r["loss"], "limit-write")
        r["link"] = link
        r["fraction"] = r["mibs"] / link if ok and link else None
    return rows


def fmt(v, digits):
    return "n/a" if v is None else "%.*f" % (digits, v)


def jnum(v, digits):
    return None if v is None else round(v, digits)


def rss(v):
    return "n/a" if v is None else "%.1f" % v


def write_csv(rows, path, size):
    # As the first version wrote it: the reason always quoted (it may hold
    # commas), every other field plain.
    with open(path, "w") as f:
        f.write(",".join(CSV_COLUMNS) + "\n")
        for r in rows:
            ok = r["result"] == "ok"
            reason = '"%s"' % r["reason"].replace('"', '""')
            f.write(",".join(str(v) for v in [
                r["tool"], r["receivers"], r["loss"], size, r["result"],
                fmt(r.get("wall") if ok else None, 3),
                fmt(r.get("mibs") if ok else None, 2),
                fmt(r.get("retrans") if ok else None, 2),
                fmt(r["ratio"], 2), rss(r["rss_s"]), rss(r["rss_r"]),
                fmt(r.get("s_wall") if ok else None, 3), reason,
                r["rate"], r["burst"], r["latency"], r["repeats"],
                r["repeats_ok"],
                fmt(r.get("mibs_min"), 2), fmt(r.get("mibs_max"), 2),
                fmt(r.get("wall_min"), 3), fmt(r.get("wall_max"), 3),
                fmt(r["link"], 2), fmt(r["fraction"], 3),
                fmt(r.get("s_user"), 3), fmt(r.get("s_sys"), 3),
                fmt(r.get("r_user"), 3), fmt(r.get("r_sys"), 3),
                fmt(r.get("recv_pct"), 1)]) + "\n")


def write_json(rows, path, size):
    out = []
    for r in rows:
        ok = r["result"] == "ok"
        out.append({
            "tool": r["tool"], "receivers": r["receivers"],
            "loss_pct": r["loss"], "size_bytes": size, "result": r["result"],
            "wall_s": jnum(r.get("wall") if ok else None, 3),
            "mib_s": jnum(r.get("mibs") if ok else None, 2),
            "retrans_pct": jnum(r.get("retrans") if ok else None, 2),
            "ratio_to_udpcast": jnum(r["ratio"], 2),
            "sender_rss_mib": jnum(r["rss_s"], 1),
            "receiver_rss_max_mib": jnum(r["rss_r"], 1),
            "sender_exit_s": jnum(r.get("s_wall") if ok else None, 3),
            "reason": r["reason"] or None,
            "rate": r["rate"], "tbf_burst": r["burst"] or None,
            "tbf_latency": r["latency"] or None, "repeats": r["repeats"],
            "repeats_ok": r["repeats_ok"],
            "mib_s_min": jnum(r.get("mibs_min"), 2),
            "mib_s_max": jnum(r.get("mibs_max"), 2),
            "wall_s_min": jnum(r.get("wall_min"), 3),
            "wall_s_max": jnum(r.get("wall_max"), 3),
            "link_mib_s": jnum(r["link"], 2),
            "link_fraction": jnum(r["fraction"], 3),
            "sender_user_s_per_gib": jnum(r.get("s_user"), 3),
            "sender_sys_s_per_gib": jnum(r.get("s_sys"), 3),
            "receiver_user_s_per_gib": jnum(r.get("r_user"), 3),
            "receiver_sys_s_per_gib": jnum(r.get("r_sys"), 3),
            "received_pct": jnum(r.get("recv_pct"), 1)})
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


def cpu(u, s):
    if u is None or s is None:
        return "n/a"
    return "%.2f+%.2f" % (u, s)


def write_table(rows, path, head):
    line = "%-13s %3s %5s %8s %8s %9s %11s %9s %9s %7s %12s %12s  %s\n"
    with open(path, "w") as f:
        f.write(head + "\n")
        shape = None
        for r in rows:
            if r["shape"] != shape:
                shape = r["shape"]
                if shape == "none":
                    f.write("\nunshaped (of link: of the limit-write row;"
                            " limit-write: of limit-discard)\n")
                else:
                    f.write("\n%s shaped: tbf rate %s burst %s latency"
                            " %s = %.1f MiB/s (of link: of that rate)\n"
                            % ("bridge (ports to the receivers)"
                               if r.get("shape_at") == "bridge" else
                               "sender", r["rate"], r["burst"], r["latency"],
                               rate_bits(r["rate"]) / 8 / 1048576))
                f.write(line % ("tool", "N", "loss%", "wall s", "MiB/s",
                                "retrans%", "vs udpcast", "RSS s MiB",
                                "RSS r MiB", "of link", "snd u+s/GiB",
                                "rcv u+s/GiB", "result"))
            if r["result"] == "ok":
                f.write(line % (
                    r["tool"], r["receivers"], r["loss"], fmt(r["wall"], 2),
                    fmt(r["mibs"], 1), fmt(r["retrans"], 2),
                    fmt(r["ratio"], 2), rss(r["rss_s"]), rss(r["rss_r"]),
                    fmt(r["fraction"], 2), cpu(r["s_user"], r["s_sys"]),
                    cpu(r["r_user"], r["r_sys"]), "ok"))
            else:
                f.write(line % (
                    r["tool"], r["receivers"], r["loss"], "-", "-", "-", "-",
                    rss(r["rss_s"]), rss(r["rss_r"]), "-", "-", "-",
                    "FAIL: " + r["reason"]))


def write_plot(rows, out, name, terms, title, ylabel, value, tools, shaped):
    """One gnuplot script for one chart; returns False when it has no
    point.  One colour per tool, one dash pattern per loss (and bucket)."""
    series = {}
    for r in rows:
        if r["result"] != "ok" or (r["shape"] != "none") != shaped:
            continue
        if r["tool"] not in tools or value(r) is None:
            continue
        label = "%s, %d%% loss" % (r["tool"], r["loss"])
        if shaped:
            label += ", %s bucket" % r["burst"]
        series.setdefault((r["tool"], label), []).append(
            (r["receivers"], value(r)))
    if not series:
        return False
    plots, ns, dts = [], set(), {}
    # The key lists the tools in the run's order, each tool's losses in
    # turn, whatever row failed.
    rank = {t: i for i, t in enumerate(tools)}
    keys = sorted(series, key=lambda k: (rank.get(k[0], len(rank)), k[1]))
    for i, (tool, label) in enumerate(keys):
        pts = series[(tool, label)]
        dat = "%s/%s-%d.dat" % (out, name, i)
        with open(dat, "w") as f:
            for n, v in sorted(pts):
                f.write("%d %.4f\n" % (n, v))
                ns.add(n)
        dt = dts.setdefault(label.split(", ", 1)[1], len(dts) + 1)
        plots.append("'%s' using 1:2 with linespoints lw 2 pt 7 lc rgb '%s'"
                     " dt %d title '%s'" % (dat, COLORS.get(tool, "#555555"),
                                            dt, label))
    # The limit rows sit an order of magnitude above the tools when
    # unshaped: a log scale keeps both readable.
    logy = not shaped and any(t.startswith("limit") for t, _ in series)
    with open("%s/%s.gp" % (out, name), "w") as f:
        for term, ext in terms:
            if logy:
                f.write("set logscale y 10\n")
            f.write("set terminal %s\nset output '%s/%s.%s'\n"
                    % (term, out, name, ext))
            f.write("set title '%s'\nset xlabel 'receivers (N)'\n"
                    "set ylabel '%s'\nset logscale x 2\nset xtics (%s)\n"
                    "set xrange [0.8:%d]\nset yrange [%s:*]\nset grid\n"
                    "set key outside right top\nplot %s\n"
                    % (title, ylabel, ", ".join(str(n) for n in sorted(ns)),
                       max(ns) + max(ns) // 4 + 1, "*" if logy else "0",
                       ", ".join(plots)))
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--head", default="")
    ap.add_argument("--tools", default="")
    ap.add_argument("--png", action="store_true")
    a = ap.parse_args()

    rows = aggregate(read_rows(a.rows))
    write_csv(rows, a.out + "/results.csv", a.size)
    write_json(rows, a.out + "/results.json", a.size)
    write_table(rows, a.out + "/table.txt", a.head)

    terms = [("svg size 900,560 dynamic", "svg")]
    if a.png:
        terms.append(("pngcairo size 900,560 font 'sans,10'", "png"))
    tools = [t for t in a.tools.split(",") if t != "limit-discard"]
    mib = "%.0f MiB file" % (a.size / 1048576)
    plotted = []
    # The main chart: unshaped rows, or the shaped ones when the run had
    # only those.  limit-discard (GiB/s) would flatten the rest: it is in
    # the table.
    shaped_only = all(r["shape"] != "none" for r in rows)
    if write_plot(rows, a.out, "plot", terms,
                  "multicast throughput, %s, MTU 1500 veth LAN%s"
                  % (mib, ", sender shaped" if shaped_only else ""),
                  "MiB/s (sender start to last receiver done)",
                  lambda r: r["mibs"], tools, shaped_only):
        plotted.append("plot")
    if not shaped_only and write_plot(
            rows, a.out, "plot-shaped", terms,
            "shaped sender (tbf), %s: fraction of the tbf rate" % mib,
            "MiB/s over the tbf rate", lambda r: r["fraction"], tools, True):
        plotted.append("plot-shaped")
    print(" ".join(plotted))


if __name__ == "__main__":
    sys.exit(main())
