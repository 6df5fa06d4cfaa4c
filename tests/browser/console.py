"""The web console in a real browser (run by tests/browser/console.sh,
which starts fleetcastd and three agents first): log in, see the agents
online, upload a package, create a scenario (a bad value first, to see
the server's message), run it and watch every machine reach succeeded
on the Runs page, make and clear a sticky error, and check that a fact
holding markup is shown as text and runs nothing.  Screenshots go to
--shots.  Exit 0 pass, 1 fail."""

import argparse
import json
import os
import re
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402

XSS = "<img src=x onerror=alert(1)>"

# Helpers defined in the page for the steps below.
HELPERS = r"""
window.t = {
  q: (s) => document.querySelector(s),
  qa: (s) => [...document.querySelectorAll(s)],
  set: (s, v) => { const e = document.querySelector(s); e.value = v;
    e.dispatchEvent(new Event("input", {bubbles: true}));
    e.dispatchEvent(new Event("change", {bubbles: true})); return true; },
  click: (s) => { const e = document.querySelector(s);
    if (!e) return false; e.click(); return true; },
  text: (s) => { const e = document.querySelector(s);
    return e ? e.textContent : null; },
};
true
"""


def api(args, method, path, body=None):
    req = urllib.request.Request(args.url + path, method=method,
                                 data=None if body is None else
                                 json.dumps(body).encode())
    req.add_header("Authorization", "Bearer " + args.token)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def step(msg):
    print("ok: %s (%.1f s)" % (msg, time.time() - START), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--feed-url")
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--package", required=True)
    ap.add_argument("--package-id", required=True)
    ap.add_argument("--second-package-id", required=True)
    ap.add_argument("--machines", nargs="+", required=True)
    ap.add_argument("--xss-machine", required=True)
    ap.add_argument("--shots", required=True)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    with open(args.token_file) as f:
        args.token = f.read().strip()
    os.makedirs(args.shots, exist_ok=True)

    # The headers of the console's own files.
    with urllib.request.urlopen(args.url + "/console/app.js") as r:
        csp = r.headers.get("Content-Security-Policy", "")
        if "unsafe-inline" in csp or "script-src 'self'" not in csp or \
                "frame-ancestors 'none'" not in csp:
            raise cdp.CdpError("Content-Security-Policy: %r" % csp)
        if r.headers.get("X-Content-Type-Options") != "nosniff":
            raise cdp.CdpError("no X-Content-Type-Options: nosniff")
    step("console files served with the CSP and nosniff")

    log = open(args.log, "ab")
    b = cdp.Browser(args.chromium, log)
    try:
        run(b, args)
    finally:
        b.close()


def run(b, args):
    shot = lambda n: b.screenshot(os.path.join(args.shots, n + ".png"))
    n = len(args.machines)
    b.navigate(args.url + "/")
    b.wait("location.pathname === '/console/' && "
           "document.getElementById('login') && "
           "!document.getElementById('login').hidden", "the login form")
    b.js(HELPERS)
    # A wrong token is refused with a message.
    b.js("t.set('#token', 'not-the-token'); "
         "t.q('#login').requestSubmit(); true")
    b.wait("(t.text('#login-error') || '').includes('not the server')",
           "the wrong token's message")
    b.errors.clear()   # the 401 of that attempt, logged by the browser
    b.js("t.set('#token', %s); t.q('#login').requestSubmit(); true"
         % json.dumps(args.token))
    b.wait("!document.getElementById('nav').hidden", "the console after login")
    if args.token in b.js("location.href"):
        raise cdp.CdpError("the token is in the URL")
    if b.js("sessionStorage.getItem('fleetcast.token')") != args.token:
        raise cdp.CdpError("the token is not in sessionStorage")
    step("logged in (a wrong token refused; the token only in sessionStorage)")

    b.wait("(t.text('[data-count=\"online\"] .n') || '') === '%d'" % n,
           "%d machines online on the overview" % n, 30)
    shot("overview")
    step("overview: %d machines online" % n)
    # The feed panel: "no feed configured", or with --feed-url the feed's
    # URL and the error of its first fetch (console.sh points it at a
    # port nobody listens on).
    if args.feed_url is None:
        b.wait("(t.text('[data-feed]') || '') === 'no feed configured'",
               "'no feed configured' on the overview")
        step("overview: no feed configured")
    else:
        b.wait("t.text('[data-feed-field=\"URL\"]') === %s"
               % json.dumps(args.feed_url), "the feed's URL on the overview")
        b.wait("(t.text('[data-feed-field=\"last error\"]') || '')"
               ".startsWith('fetching ')", "the feed's last error", 30)
        step("overview: the feed's URL, its last error")

    b.js("location.hash = '#machines'; true")
    b.wait("t.qa('#machines-table tr[data-machine]').filter((r) => "
           "r.textContent.includes('online')).length === %d" % n,
           "%d machines online on the Machines page" % n)
    # The fact with markup, opened under its row: text, no element made.
    b.js("t.qa('#machines-table tr[data-machine=\"%s\"] button.link')[0]"
         ".click(); true" % args.xss_machine)
    b.wait("t.qa('td.fact').some((c) => c.textContent === %s)"
           % json.dumps(XSS), "the markup fact shown as text")
    imgs = b.js("document.querySelectorAll('main img').length")
    if imgs != 0:
        raise cdp.CdpError("%d <img> in the page: markup was parsed" % imgs)
    b.js("t.set('#machine-search', 'onerror'); true")
    b.wait("t.qa('#machines-table tr[data-machine]').length === 1",
           "the search finding the machine by its fact")
    shot("machines")
    b.js("t.set('#machine-search', ''); true")
    step("machines: all online; the fact %s is text, no element" % XSS)

    b.js("location.hash = '#packages'; true")
    b.wait("t.q('#package-file')", "the upload form")
    b.js(HELPERS)
    b.set_file("#package-file", args.package)
    b.js("t.q('#package-upload').requestSubmit(); true")
    b.wait("t.q('tr[data-package=\"%s\"]')" % args.package_id,
           "package %s in the list" % args.package_id, 30)
    b.js("t.q('tr[data-package=\"%s\"] button.link').click(); true"
         % args.package_id)
    b.wait("(t.text('pre.manifest') || '').includes('%s')" % args.package_id,
           "the manifest")
    shot("packages")
    step("package %s uploaded, its manifest shown" % args.package_id)

    b.js("location.hash = '#scenarios'; true")
    b.wait("t.q('#tick-online')", "the scenario page")
    b.js(HELPERS)
    b.js("t.set('#sc-name', 'web-sp'); t.set('#sc-packages', '%s'); "
         "t.set('#sc-max-targets', '0'); "
         "t.q('#scenario-form').requestSubmit(); true" % args.package_id)
    b.wait("(t.text('#scenarios-msg') || '').includes('--max-targets: must "
           "be a whole number')", "the server's --max-targets message")
    b.js("t.set('#sc-max-targets', '%d'); "
         "t.q('#scenario-form').requestSubmit(); true" % n)
    b.wait("t.q('tr[data-scenario=\"web-sp\"]')", "scenario web-sp created")
    b.js("t.click('#tick-online'); true")
    b.wait("t.qa('#run-machines input:checked').length === %d" % n,
           "%d machines ticked" % n)
    b.js("t.q('tr[data-scenario=\"web-sp\"] button.run').click(); true")
    rid = b.wait("location.hash.startsWith('#runs/') && "
                 "location.hash.slice(6)", "the run's page")
    step("scenario created (bad --max-targets refused with the server's "
         "message); run %s started on %d machines" % (rid, n))

    b.js(HELPERS)
    b.wait("t.qa('#run-machines tr[data-state=\"succeeded\"]').length === %d"
           % n, "every machine succeeded on the Runs page", 45)
    b.wait("t.qa('#run-machines progress').every((p) => p.value === 100)",
           "full progress bars")
    b.pump(0.5)
    shot("runs")
    r = api(args, "GET", "/v1/runs/" + rid)
    if [m["state"] for m in r["machines"]] != ["succeeded"] * n:
        raise cdp.CdpError("the API says %r" % r["machines"])
    step("run %s: all %d machines succeeded in the page" % (rid, n))

    # A sticky error: max targets n - 1 leaves one machine out.
    b.js("location.hash = '#scenarios'; true")
    b.wait("t.q('#tick-online')", "the scenario page")
    b.js(HELPERS)
    b.js("t.set('#sc-name', 'web-mt'); t.set('#sc-packages', '%s'); "
         "t.set('#sc-max-targets', '%d'); "
         "t.q('#scenario-form').requestSubmit(); true"
         % (args.second_package_id, n - 1))
    b.wait("t.q('tr[data-scenario=\"web-mt\"]')", "scenario web-mt created")
    b.js("t.click('#tick-online'); true")
    b.wait("t.qa('#run-machines input:checked').length === %d" % n,
           "%d machines ticked" % n)
    b.js("t.q('tr[data-scenario=\"web-mt\"] button.run').click(); true")
    b.wait("location.hash.startsWith('#runs/') && location.hash !== "
           "'#runs/%s'" % rid, "the second run's page")
    b.js(HELPERS)
    b.wait("t.qa('#run-machines tr[data-state=\"error\"]').some((r) => "
           "r.textContent.includes('max targets exceeded'))",
           "a machine in error (max targets exceeded)", 30)
    b.js("location.hash = '#machines'; true")
    b.wait("t.q('#machine-filter')", "the machines page")
    b.js(HELPERS)
    b.js("t.set('#machine-filter', 'error'); true")
    bad = b.wait("t.q('#machines-table tr[data-machine] button.clear-error')"
                 " && t.q('#machines-table tr[data-machine]').dataset"
                 ".machine", "a Clear error button")
    b.js("t.q('#machines-table tr[data-machine] button.clear-error')"
         ".click(); true")
    b.wait("(t.text('#machines-msg') || '').includes('error cleared')",
           "the cleared message")
    b.wait("!t.qa('#machines-table tr[data-machine]').some((r) => "
           "r.dataset.machine === %s)" % json.dumps(bad),
           "the machine gone from the error filter")
    if api(args, "GET", "/v1/machines/" + bad)["error"] is not None:
        raise cdp.CdpError("%s: the server still has its error" % bad)
    step("machine %s: error cleared from the page" % bad)

    b.pump(0.5)
    if b.dialogs:
        raise cdp.CdpError("dialogs opened: %r" % b.dialogs)
    if b.exceptions:
        raise cdp.CdpError("JavaScript exceptions: %r" % b.exceptions)
    # The statuses this test provokes (the wrong token, the bad value)
    # are logged by the browser; anything else (a CSP refusal) fails.
    errs = [e for e in b.errors if not re.match(r"Failed to load resource: "
            r"the server responded with a status of (401|422)", e)]
    if errs:
        raise cdp.CdpError("console errors: %r" % errs)
    step("no dialog, no exception, no console error (CSP included)")


if __name__ == "__main__":
    START = time.time()
    try:
        main()
    except (cdp.CdpError, OSError) as e:
        print("FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
