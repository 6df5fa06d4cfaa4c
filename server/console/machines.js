// Machines: the inventory with its search and state filter; a machine's
// facts open under its row; Clear error for a sticky scenario error and
// Approve for a pending enrollment (the key whose fingerprint is shown).

import { h, replace, table, badge, when, note } from "./dom.js";

const FILTERS = ["all", "online", "offline", "error", "pending_approval"];

export function mount(root, ctx) {
  const search = h("input", { type: "search", id: "machine-search",
    placeholder: "name, address, fact...", oninput: () => draw() });
  const filter = h("select", { id: "machine-filter", onchange: () => draw() },
    FILTERS.map((f) => h("option", { value: f }, f.replace("_", " "))));
  const msg = h("p", { id: "machines-msg" });
  const list = h("div");
  const open = new Set();
  let machines = [];
  root.append(h("h1", {}, "Machines"),
    h("div", { class: "bar" }, h("label", {}, "Search ", search),
      h("label", {}, "Show ", filter)), msg, list);

  async function act(m, what, body) {
    try {
      const r = await ctx.api("POST", "/v1/machines/" +
        encodeURIComponent(m.name) + "/" + what, body);
      note(msg, what === "approve" ? m.name + ": approved" : r.cleared ?
        m.name + ": error cleared" : m.name + ": had no error", false);
      await refresh();
    } catch (e) {
      note(msg, e.message, true);
    }
  }

  function matches(m) {
    const f = filter.value;
    if (f === "error" && !m.error) return false;
    if (f !== "all" && f !== "error" && m.state !== f) return false;
    const q = search.value.trim().toLowerCase();
    if (q === "") return true;
    const hay = [m.name, m.address, m.segment, m.agent_version, m.error,
      JSON.stringify(m.facts || {})].join(" ").toLowerCase();
    return hay.includes(q);
  }

  function row(m) {
    const facts = m.facts || {};
    const acts = [];
    if (m.error)
      acts.push(h("button", { type: "button", class: "clear-error",
        onclick: () => act(m, "clear-error") }, "Clear error"));
    if (m.state === "pending_approval" || m.reenrollment === "requested")
      acts.push(h("button", { type: "button", class: "approve",
        title: "key " + (m.request_fingerprint || ""),
        onclick: () => act(m, "approve",
          { fingerprint: m.request_fingerprint }) }, "Approve"));
    const tr = h("tr", { "data-machine": m.name },
      h("td", {}, h("button", { type: "button", class: "link",
        onclick: () => { open.has(m.name) ? open.delete(m.name) :
          open.add(m.name); draw(); } }, m.name)),
      h("td", {}, badge(m.state)),
      h("td", {}, m.address || ""), h("td", {}, m.segment || ""),
      h("td", {}, m.agent_version || ""),
      h("td", {}, facts["os.name"] || facts["os.id"] || ""),
      h("td", {}, facts["CSDVersion"] || facts["os.service_pack"] || ""),
      h("td", { title: m.last_seen || "" }, when(m.last_seen)),
      h("td", { class: "error" }, m.error || ""), h("td", {}, acts));
    if (!open.has(m.name)) return tr;
    const keys = Object.keys(facts).sort();
    return [tr, h("tr", { class: "facts" }, h("td", { colspan: 10 },
      m.request_fingerprint ? h("p", {}, "Key asking to enroll: " +
        m.request_fingerprint) : null,
      keys.length ? table(["Fact", "Value"], keys.map((k) => h("tr", {},
        h("td", {}, k), h("td", { class: "fact" }, String(facts[k]))))) :
        h("p", {}, "No facts reported yet.")))];
  }

  function draw() {
    const shown = machines.filter(matches);
    replace(list, h("p", {}, shown.length + " of " + machines.length +
      " machines"), table(["Name", "State", "Address", "Segment", "Agent",
      "OS", "Service pack", "Last seen", "Error", ""],
      shown.map(row), { id: "machines-table" }));
  }

  async function refresh() {
    machines = await ctx.api("GET", "/v1/machines");
    draw();
  }
  return { refresh };
}
