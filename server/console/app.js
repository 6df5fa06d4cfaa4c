// The console's entry point: the login, the navigation between pages
// (location.hash: #overview, #machines, #runs/12, ...), and the short
// polling that keeps the shown page live without a reload: every
// POLL_MS the page's refresh() asks the API again, one request at a time,
// and not while the tab is hidden.

import { api, token, setToken, setUnauthorized } from "./api.js";
import { note, replace } from "./dom.js";
import * as overview from "./overview.js";
import * as machines from "./machines.js";
import * as packages from "./packages.js";
import * as scenarios from "./scenarios.js";
import * as runs from "./runs.js";
import * as simulate from "./simulate.js";

const POLL_MS = 2000;
const pages = { overview, machines, packages, scenarios, runs, simulate };

const $ = (id) => document.getElementById(id);
let current = null;  // { name, arg, page }
let busy = false;
let timer = null;

function status(text, isError) {
  note($("status"), text, isError);
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

const ctx = { api, status, go };

function showLogin(msg) {
  setToken(null);
  current = null;
  $("nav").hidden = true;
  $("logout").hidden = true;
  replace($("page"));
  $("who").textContent = "";
  $("login").hidden = false;
  note($("login-error"), msg || "", true);
  $("token").focus();
}

async function refresh() {
  if (busy || current === null || document.hidden) return;
  busy = true;
  const shown = current;
  const t0 = performance.now();
  try {
    await shown.page.refresh();
    // How long a poll took (requests and drawing), shown and kept for
    // the load measurement in doc/console.md.
    const ms = Math.round(performance.now() - t0);
    document.body.dataset.refreshMs = ms;
    if (shown === current)
      status("updated " + new Date().toLocaleTimeString() + " (" + ms + " ms)");
  } catch (e) {
    if (shown === current && e.status !== 401) status(e.message, true);
  } finally {
    busy = false;
  }
}

function route() {
  if (!token()) return showLogin();
  const [name, arg] = (location.hash.slice(1) || "overview").split("/");
  const mod = pages[name] || overview;
  for (const a of $("nav").querySelectorAll("a"))
    a.classList.toggle("active", a.getAttribute("href") === "#" + name);
  const root = replace($("page"));
  root.dataset.page = name;
  current = { name, arg, page: mod.mount(root, ctx, arg ? decodeURIComponent(arg) : null) };
  busy = false;
  refresh();
}

async function login(ev) {
  ev.preventDefault();
  setToken($("token").value.trim());
  try {
    const s = await api("GET", "/v1/status");
    $("token").value = "";
    enter(s);
  } catch (e) {
    showLogin(e.status === 401 ? "this is not the server's admin token" :
      e.message);
  }
}

function enter(s) {
  $("login").hidden = true;
  $("nav").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = "fleetcastd " + s.version;
  route();
}

setUnauthorized(() => showLogin("the server refused the token; log in again"));
$("login").addEventListener("submit", login);
$("logout").addEventListener("click", () => showLogin());
window.addEventListener("hashchange", () => { if (token()) route(); });
document.addEventListener("visibilitychange", refresh);
timer = setInterval(refresh, POLL_MS);

if (token())
  api("GET", "/v1/status").then(enter, (e) => showLogin(e.message));
else
  showLogin();
