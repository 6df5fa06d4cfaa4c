// Scenarios: create one with every option of `fleetcast scenario create`
// (the server checks them with the same rules and the same messages, and
// the page shows its answer as it is), the list, removal, and a run on
// the machines ticked here.

import { h, replace, table, note } from "./dom.js";

// A number field: a whole number goes as a number, anything else as the
// text typed, so that the server's message names what is wrong.
function num(input) {
  const v = input.value.trim();
  if (v === "") return undefined;
  return /^[0-9]+$/.test(v) ? Number(v) : v;
}

export function mount(root, ctx) {
  const f = {
    name: h("input", { id: "sc-name", required: true, size: 30 }),
    packages: h("input", { id: "sc-packages", size: 40,
      placeholder: "package IDs in order, separated by spaces" }),
    max_targets: h("input", { id: "sc-max-targets", size: 8 }),
    max_wait: h("input", { id: "sc-max-wait", size: 8 }),
    at_next_boot: h("input", { type: "checkbox", id: "sc-at-next-boot" }),
    reboot_after: h("input", { type: "checkbox", id: "sc-reboot-after" }),
    poweroff_after: h("input", { type: "checkbox", id: "sc-poweroff-after" }),
    unicast: h("input", { type: "checkbox", id: "sc-unicast" }),
    group: h("input", { id: "sc-group", size: 22,
      placeholder: "ADDR[:PORT], empty: assigned" }),
    on_error: h("select", { id: "sc-on-error" },
      h("option", { value: "stop" }, "stop"),
      h("option", { value: "continue" }, "continue")),
  };
  const chips = h("span", { class: "chips" });
  const msg = h("p", { id: "scenarios-msg" });
  const list = h("div");
  const pick = h("div", { id: "run-machines" });
  const ticked = new Set();
  const row = (label, input, hint) => h("div", { class: "field" },
    h("label", {}, label, " ", input), hint ? h("small", {}, hint) : null);
  const form = h("form", { id: "scenario-form", onsubmit: create },
    h("h2", {}, "New scenario"),
    row("Name", f.name, "1-255 letters, digits, - . _"),
    row("Packages (--package)", f.packages), h("div", {}, "Add: ", chips),
    row("--max-targets", f.max_targets, "multicast: start when N are ready"),
    row("--max-wait", f.max_wait, "seconds: start with those ready by then"),
    row("--at-next-boot", f.at_next_boot),
    row("--reboot-after", f.reboot_after),
    row("--poweroff-after", f.poweroff_after),
    row("--unicast", f.unicast),
    row("--group", f.group),
    row("--on-error", f.on_error),
    h("button", { type: "submit" }, "Create"));
  root.append(h("h1", {}, "Scenarios"), msg, list,
    h("h2", {}, "Machines for a run"), pick, form);

  async function create(ev) {
    ev.preventDefault();
    const body = {
      name: f.name.value.trim(),
      packages: f.packages.value.split(/[\s,]+/).filter((x) => x !== ""),
      max_targets: num(f.max_targets),
      max_wait: num(f.max_wait),
      at_next_boot: f.at_next_boot.checked,
      reboot_after: f.reboot_after.checked,
      poweroff_after: f.poweroff_after.checked,
      unicast: f.unicast.checked,
      group: f.group.value.trim() || undefined,
      on_error: f.on_error.value,
    };
    try {
      const sc = await ctx.api("POST", "/v1/scenarios", body);
      note(msg, "scenario " + sc.name + " created" + (sc.warnings ?
        "; warning: " + sc.warnings.join("; ") : ""), !!sc.warnings);
      form.reset();
      await refresh();
    } catch (e) {
      note(msg, e.message, true);
    }
  }

  async function run(name) {
    if (ticked.size === 0)
      return note(msg, "--machine: at least one is needed (tick them " +
        "under Machines for a run)", true);
    try {
      const r = await ctx.api("POST", "/v1/scenarios/" +
        encodeURIComponent(name) + "/run", { machines: [...ticked] });
      ctx.go("#runs/" + r.id);
    } catch (e) {
      note(msg, e.message, true);
    }
  }

  async function remove(name) {
    if (!confirm("Remove scenario " + name + "?")) return;
    try {
      await ctx.api("DELETE", "/v1/scenarios/" + encodeURIComponent(name));
      note(msg, "scenario " + name + " removed", false);
      await refresh();
    } catch (e) {
      note(msg, e.message, true);
    }
  }

  function opts(s) {
    const o = [];
    if (s.max_targets) o.push("--max-targets " + s.max_targets);
    if (s.max_wait !== null && s.max_wait !== undefined)
      o.push("--max-wait " + s.max_wait);
    for (const k of ["at_next_boot", "reboot_after", "poweroff_after",
      "unicast"])
      if (s[k]) o.push("--" + k.replace(/_/g, "-"));
    if (s.group) o.push("--group " + s.group + (s.port ? ":" + s.port : ""));
    o.push("--on-error " + s.on_error);
    return o.join(" ");
  }

  async function refresh() {
    const [scs, ms, ps] = await Promise.all([ctx.api("GET", "/v1/scenarios"),
      ctx.api("GET", "/v1/machines"), ctx.api("GET", "/v1/packages")]);
    replace(list, scs.length === 0 ? h("p", {}, "No scenario yet.") :
      table(["Name", "Packages", "Options", ""], scs.map((s) =>
        h("tr", { "data-scenario": s.name }, h("td", {}, s.name),
          h("td", {}, (s.packages || []).join(" ")), h("td", {}, opts(s)),
          h("td", {}, h("button", { type: "button", class: "run",
            onclick: () => run(s.name) }, "Run on ticked machines"), " ",
            h("button", { type: "button", onclick: () => remove(s.name) },
              "Remove")))), { id: "scenarios-table" }));
    const names = new Set(ms.map((m) => m.name));
    for (const n of [...ticked]) if (!names.has(n)) ticked.delete(n);
    const box = (m) => h("label", { class: "pick" }, h("input", {
      type: "checkbox", value: m.name, checked: ticked.has(m.name),
      onchange: (e) => e.target.checked ? ticked.add(m.name) :
        ticked.delete(m.name) }), m.name + " (" + m.state + ")");
    replace(pick, h("button", { type: "button", id: "tick-online",
      onclick: () => { ms.filter((m) => m.state === "online").forEach((m) =>
        ticked.add(m.name)); refresh(); } }, "Tick all online"), " ",
      h("button", { type: "button", onclick: () => { ticked.clear();
        refresh(); } }, "Untick all"), h("div", { class: "picks" },
        ms.map(box)));
    replace(chips, ps.map((p) => h("button", { type: "button", class: "chip",
      onclick: () => { f.packages.value = (f.packages.value.trim() + " " +
        p.id).trim(); } }, p.id)));
  }
  return { refresh };
}
