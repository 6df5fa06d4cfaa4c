// Building the page: every string that may come from an agent, a package
// or a user (names, facts, output, errors) becomes a text node or an
// attribute value, never markup.  No innerHTML anywhere in the console.

// h("td", {class: "x", onclick: fn}, "text", child, [more]) -> element.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function")
      el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else if (k.startsWith("on") || k === "srcdoc")
      throw new Error("h: no " + k + " attribute from strings");
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) add(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  add(el, children);
  return el;
}

export function bytes(n) {
  if (n === null || n === undefined) return "";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + " " + u[i];
}

// The API's times are "YYYY-MM-DDTHH:MM:SSZ" or null.
export function when(t) {
  if (!t) return "";
  const d = new Date(t);
  if (isNaN(d)) return String(t);
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  const ago = s < 60 ? s + " s ago" : s < 3600 ? Math.floor(s / 60) +
    " min ago" : s < 86400 ? Math.floor(s / 3600) + " h ago" :
    Math.floor(s / 86400) + " d ago";
  return ago;
}

export function badge(state) {
  return h("span", { class: "badge s-" + String(state).replace(/[^a-z_]/g, "") },
    String(state));
}

export function table(headers, rows, attrs) {
  return h("table", attrs || {},
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows));
}

// A message under a form: the server's error, as text.
export function note(el, text, isError) {
  el.className = isError ? "error" : "ok";
  el.textContent = text || "";
}
