// Overview: the fleet at a glance (machines online, offline, in error,
// waiting for approval), the runs waiting or transferring, the last runs
// with their result.

import { h, replace, table, badge, when } from "./dom.js";

export function mount(root, ctx) {
  const counts = h("div", { class: "cards" });
  const last = h("div");
  root.append(h("h1", {}, "Overview"), counts, h("h2", {}, "Last runs"), last);

  async function refresh() {
    const [ms, rs] = await Promise.all([ctx.api("GET", "/v1/machines"),
      ctx.api("GET", "/v1/runs")]);
    const n = (f) => ms.filter(f).length;
    const card = (label, v, cls, href) => h("a", { class: "card " + cls,
      href, "data-count": label }, h("span", { class: "n" }, v), label);
    replace(counts,
      card("online", n((m) => m.state === "online"), "s-online", "#machines"),
      card("offline", n((m) => m.state === "offline"), "s-offline", "#machines"),
      card("in error", n((m) => m.error), "s-error", "#machines"),
      card("waiting for approval", n((m) => m.state === "pending_approval"),
        "s-pending", "#machines"),
      card("runs waiting", rs.filter((r) => r.state === "waiting").length,
        "s-waiting", "#runs"),
      card("runs transferring", rs.filter((r) => r.state ===
        "transferring").length, "s-transferring", "#runs"));
    const rows = rs.slice(-10).reverse().map((r) => h("tr", {},
      h("td", {}, h("a", { href: "#runs/" + r.id }, String(r.id))),
      h("td", {}, r.scenario), h("td", {}, badge(r.state)),
      h("td", {}, r.succeeded + " / " + r.machines + " succeeded"),
      h("td", {}, when(r.created_at))));
    replace(last, rows.length ? table(["Run", "Scenario", "State", "Result",
      "Created"], rows) : h("p", {}, "No run yet."));
  }
  return { refresh };
}
