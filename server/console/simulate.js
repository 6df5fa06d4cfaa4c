// Simulate: `fleetcast sim` from the browser.  The scenario and the fleet
// in the simulator's formats (doc/simulation.md) go to POST /v1/sim; the
// timeline, the summary and the SVG plot come back.  The plot is shown as
// an <img> of a blob URL: an image runs no script, whatever the SVG holds.

import { h, replace, note } from "./dom.js";

const SCENARIO = `{
  "max_targets": 40,
  "max_wait": 600,
  "package_size": 1073741824,
  "exec_time": 240
}`;

const FLEET = `{
  "groups": [
    {"prefix": "desk-", "count": 24, "ready": {"dist": "uniform", "min": 20, "max": 240}},
    {"prefix": "late-", "count": 15, "ready": {"dist": "exponential", "mean": 1200}},
    {"prefix": "away-", "count": 5, "ready": {"dist": "never"}}
  ]
}`;

export function mount(root, ctx) {
  const sc = h("textarea", { id: "sim-scenario", rows: 12, cols: 60,
    spellcheck: "false" });
  const fl = h("textarea", { id: "sim-fleet", rows: 12, cols: 60,
    spellcheck: "false" });
  const seed = h("input", { id: "sim-seed", value: "1", size: 8 });
  sc.value = SCENARIO;
  fl.value = FLEET;
  const msg = h("p", { id: "sim-msg" });
  const out = h("div", { id: "sim-out" });
  let url = null;
  root.append(h("h1", {}, "Simulate"),
    h("p", {}, "The server's own scheduler on a virtual clock, as " +
      "'fleetcast sim --scenario S --fleet F' runs it."),
    h("form", { id: "sim-form", onsubmit: run },
      h("div", { class: "cols" },
        h("label", {}, "Scenario", h("br"), sc),
        h("label", {}, "Fleet", h("br"), fl)),
      h("label", {}, "Seed ", seed), " ",
      h("button", { type: "submit" }, "Simulate")), msg, out);

  async function run(ev) {
    ev.preventDefault();
    const s = seed.value.trim();
    note(msg, "simulating...", false);
    try {
      const r = await ctx.api("POST", "/v1/sim", { scenario: sc.value,
        fleet: fl.value, seed: /^[0-9]+$/.test(s) ? Number(s) : s });
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(new Blob([r.svg], { type: "image/svg+xml" }));
      note(msg, "seed " + r.seed, false);
      replace(out, h("h2", {}, "Plot"),
        h("img", { id: "sim-plot", src: url, alt: "simulated timeline" }),
        h("h2", {}, "Summary"), h("pre", { id: "sim-summary" }, r.summary),
        h("h2", {}, "Timeline"), h("pre", { id: "sim-timeline",
          class: "output" }, r.timeline));
    } catch (e) {
      note(msg, e.message, true);
    }
  }
  // Nothing live here: the page is redrawn only on a run.
  return { refresh: async () => {} };
}
