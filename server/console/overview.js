// Overview: the fleet at a glance (machines online, offline, in error,
// waiting for approval), the runs waiting or transferring, the last runs
// with their result, and the package feed (its URL, state, serial, last
// and next fetch, last error) or "no feed configured".

import { h, replace, table, badge, when } from "./dom.js";

export function mount(root, ctx) {
  const counts = h("div", { class: "cards" });
  const last = h("div");
  const feed = h("div", { "data-feed": "" });
  root.append(h("h1", {}, "Overview"), counts, h("h2", {}, "Last runs"), last,
    h("h2", {}, "Package feed"), feed);

  // GET /v1/feed: feed_url null when none is set.  Times are the API's
  // (when() shows them as an age; next_fetch may be "now" or in the future).
  function feedPanel(f) {
    if (!f || !f.feed_url) return h("p", { "data-feed-none": "" },
      "no feed configured");
    const at = (t) => !t ? "never" : t === "now" ? "now" :
      new Date(t) > Date.now() ? String(t) : when(t) + " (" + t + ")";
    const row = (k, v) => h("tr", {}, h("th", {}, k),
      h("td", { "data-feed-field": k }, v));
    return h("table", { class: "kv" }, h("tbody", {},
      row("URL", f.feed_url), row("state", badge(f.state)),
      row("serial", f.serial === null ? "none accepted" : String(f.serial)),
      row("last fetch", at(f.last_fetch)),
      row("last success", at(f.last_success)),
      row("next fetch", at(f.next_fetch)),
      row("failures in a row", String(f.failures)),
      row("registered", String(f.registered)),
      row("last error", f.last_error === null ? "none" : f.last_error)));
  }

  async function refresh() {
    const [ms, rs, fd] = await Promise.all([ctx.api("GET", "/v1/machines"),
      ctx.api("GET", "/v1/runs"), ctx.api("GET", "/v1/feed")]);
    replace(feed, feedPanel(fd));
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
