// Runs: the list, and one run live: each machine's state, a progress bar
// of the bytes it received against the packages' size, its path and the
// reason for it, its error and exit status; a machine's row opens on its
// history and the tail of its output.  Start now starts the transfer with
// the machines ready so far; Cancel ends the run.

import { h, replace, table, badge, bytes, when, note } from "./dom.js";

export function mount(root, ctx, arg) {
  return arg ? one(root, ctx, arg) : all(root, ctx);
}

function all(root, ctx) {
  const list = h("div");
  root.append(h("h1", {}, "Runs"), list);
  async function refresh() {
    const rs = await ctx.api("GET", "/v1/runs");
    replace(list, rs.length === 0 ? h("p", {}, "No run yet: start one " +
      "from Scenarios.") : table(["Run", "Scenario", "State", "Machines",
      "Succeeded", "Created", "Finished"], rs.slice().reverse().map((r) =>
      h("tr", { "data-run": r.id },
        h("td", {}, h("a", { href: "#runs/" + r.id }, String(r.id))),
        h("td", {}, r.scenario), h("td", {}, badge(r.state)),
        h("td", {}, String(r.machines)), h("td", {}, String(r.succeeded)),
        h("td", { title: r.created_at || "" }, when(r.created_at)),
        h("td", { title: r.finished_at || "" }, when(r.finished_at)))),
      { id: "runs-table" }));
  }
  return { refresh };
}

function one(root, ctx, id) {
  const head = h("div");
  const msg = h("p", { id: "run-msg" });
  const sum = h("div", { class: "cards", id: "run-summary" });
  const list = h("div");
  const open = new Set();
  const sizes = new Map();  // package id -> bytes
  root.append(h("p", {}, h("a", { href: "#runs" }, "All runs")), head,
    h("div", { class: "bar" },
      h("button", { type: "button", id: "run-start", onclick: () =>
        control("start") }, "Start now"), " ",
      h("button", { type: "button", id: "run-cancel", onclick: () =>
        control("cancel") }, "Cancel")), msg, sum, list);

  async function control(what) {
    if (what === "cancel" && !confirm("Cancel run " + id + "?")) return;
    try {
      await ctx.api("POST", "/v1/runs/" + encodeURIComponent(id) + "/" +
        what);
      note(msg, "run " + id + ": " + (what === "start" ? "started" :
        "cancelled"), false);
      await refresh();
    } catch (e) {
      note(msg, e.message, true);
    }
  }

  function machine(m, total) {
    const got = m.bytes_received || 0;
    const pct = total > 0 ? Math.min(100, Math.round(got * 100 / total)) :
      m.state === "succeeded" ? 100 : 0;
    const tr = h("tr", { "data-machine": m.name, "data-state": m.state },
      h("td", {}, h("button", { type: "button", class: "link", onclick:
        () => { open.has(m.name) ? open.delete(m.name) : open.add(m.name);
          refresh(); } }, m.name)),
      h("td", {}, badge(m.state)),
      h("td", {}, h("progress", { max: 100, value: pct }), " " + pct + " %"),
      h("td", {}, bytes(got)), h("td", {}, m.path || ""),
      h("td", {}, m.path_reason || ""), h("td", { class: "error" },
        m.error || ""),
      h("td", {}, m.exit_status === null || m.exit_status === undefined ?
        "" : String(m.exit_status)),
      h("td", { title: m.updated_at || "" }, when(m.updated_at)));
    if (!open.has(m.name)) return tr;
    return [tr, h("tr", { class: "facts" }, h("td", { colspan: 9 },
      table(["State", "Detail", "At"], (m.history || []).map((x) =>
        h("tr", {}, h("td", {}, x.state), h("td", {}, x.detail || ""),
          h("td", {}, x.at || "")))),
      h("h3", {}, "Output (tail)"),
      h("pre", { class: "output" }, m.output || "(none)")))];
  }

  async function refresh() {
    const r = await ctx.api("GET", "/v1/runs/" + encodeURIComponent(id));
    const pk = (r.spec && r.spec.packages) || [];
    if (pk.some((p) => !sizes.has(p)))
      for (const p of await ctx.api("GET", "/v1/packages"))
        sizes.set(p.id, p.size);
    const total = pk.reduce((a, p) => a + (sizes.get(p) || 0), 0);
    replace(head, h("h1", {}, "Run " + r.id + " ", badge(r.state)),
      h("p", {}, "Scenario " + r.scenario + " · packages " + pk.join(" ") +
        " (" + bytes(total) + ") · group " + (r.group || "none") +
        (r.port ? ":" + r.port : "") + " · created " + (r.created_at || "") +
        (r.transfer_started_at ? " · transfer started " +
          r.transfer_started_at : "") + (r.finished_at ? " · finished " +
          r.finished_at : "")));
    const by = {};
    for (const m of r.machines) by[m.state] = (by[m.state] || 0) + 1;
    replace(sum, Object.keys(by).sort().map((s) => h("span", { class:
      "card s-" + s.replace(/[^a-z_]/g, ""), "data-count": s },
      h("span", { class: "n" }, String(by[s])), s)));
    replace(list, table(["Machine", "State", "Progress", "Bytes", "Path",
      "Why this path", "Error", "Exit", "Updated"],
      r.machines.map((m) => machine(m, total)), { id: "run-machines" }));
  }
  return { refresh };
}
