// Packages: the registered packages, an upload of a .fcpkg (the server
// verifies its signature against trusted_keys before it registers it and
// says why when it does not), a package's manifest, and its removal.

import { h, replace, table, bytes, when, note } from "./dom.js";

export function mount(root, ctx, arg) {
  const file = h("input", { type: "file", id: "package-file",
    accept: ".fcpkg" });
  const msg = h("p", { id: "packages-msg" });
  const list = h("div");
  const detail = h("div", { id: "package-detail" });
  let shown = arg;
  const form = h("form", { id: "package-upload", onsubmit: upload },
    h("label", {}, "Package file ", file),
    h("button", { type: "submit" }, "Upload"));
  root.append(h("h1", {}, "Packages"), form, msg, list, detail);

  async function upload(ev) {
    ev.preventDefault();
    const f = file.files[0];
    if (!f) return note(msg, "choose a .fcpkg file first", true);
    note(msg, "uploading " + f.name + " (" + bytes(f.size) + ")...", false);
    try {
      const p = await ctx.api("POST", "/v1/packages", f);
      let text = "package " + p.id + " added";
      if (p.automatic_run)
        text += "; automatic update: run " + p.automatic_run;
      note(msg, text, false);
      form.reset();
      await refresh();
    } catch (e) {
      note(msg, f.name + ": " + e.message, true);
    }
  }

  async function remove(id) {
    if (!confirm("Remove package " + id + "?")) return;
    try {
      await ctx.api("DELETE", "/v1/packages/" + encodeURIComponent(id));
      note(msg, "package " + id + " removed", false);
      if (shown === id) shown = null;
      await refresh();
    } catch (e) {
      note(msg, e.message, true);
    }
  }

  async function show(id) {
    shown = id;
    const p = await ctx.api("GET", "/v1/packages/" + encodeURIComponent(id));
    const fields = Object.keys(p).filter((k) => k !== "manifest");
    replace(detail, h("h2", {}, "Package " + p.id),
      table(["Field", "Value"], fields.map((k) => h("tr", {},
        h("td", {}, k), h("td", {}, typeof p[k] === "object" && p[k] !==
          null ? JSON.stringify(p[k]) : String(p[k]))))),
      h("h3", {}, "Manifest"),
      h("pre", { class: "manifest" }, JSON.stringify(p.manifest, null, 2)));
  }

  async function refresh() {
    const ps = await ctx.api("GET", "/v1/packages");
    replace(list, ps.length === 0 ? h("p", {}, "No package yet.") :
      table(["ID", "Type", "Urgency", "Version", "Size", "Added", ""],
        ps.map((p) => h("tr", { "data-package": p.id },
          h("td", {}, h("button", { type: "button", class: "link",
            onclick: () => show(p.id).catch((e) => note(msg, e.message,
              true)) }, p.id)),
          h("td", {}, p.type || ""), h("td", {}, p.urgency || ""),
          h("td", {}, p.version || ""),
          h("td", {}, bytes(p.size)),
          h("td", { title: p.added_at || "" }, when(p.added_at)),
          h("td", {}, h("button", { type: "button",
            onclick: () => remove(p.id) }, "Remove")))),
        { id: "packages-table" }));
    if (shown && !detail.firstChild) await show(shown);
  }
  return { refresh };
}
