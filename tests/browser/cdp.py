"""A small client of Chromium's DevTools protocol for the console's
browser test (tests/browser/console.py): starts a headless chromium with
its own profile, attaches to its page over the DevTools websocket
(python3-websocket), and offers what the test needs: navigate, evaluate
JavaScript (awaiting promises), wait for a condition, set a file input,
take screenshots.  Every JavaScript exception, console error and dialog
(alert, confirm) the page raises is recorded, so that the test can prove
that nothing ran that should not have; confirm() dialogs are accepted."""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

import websocket


class CdpError(Exception):
    pass


class Browser:
    def __init__(self, chromium, log):
        self.profile = tempfile.mkdtemp(prefix="fc-chromium.")
        self.proc = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking",
             "--disable-dev-shm-usage", "--window-size=1400,1000",
             "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0",
             "--user-data-dir=" + self.profile, "about:blank"],
            stdout=log, stderr=log)
        port = None
        path = os.path.join(self.profile, "DevToolsActivePort")
        for _ in range(300):
            if self.proc.poll() is not None:
                raise CdpError("chromium exited (status %d) at start"
                               % self.proc.returncode)
            if os.path.exists(path):
                with open(path) as f:
                    first = f.readline().strip()
                if first:
                    port = int(first)
                    break
            time.sleep(0.1)
        if port is None:
            raise CdpError("chromium wrote no DevToolsActivePort in 30 s")
        with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port,
                                    timeout=10) as r:
            targets = json.load(r)
        page = [t for t in targets if t.get("type") == "page"]
        if not page:
            raise CdpError("chromium has no page target")
        self.ws = websocket.create_connection(
            page[0]["webSocketDebuggerUrl"], timeout=30,
            suppress_origin=True)
        self.next_id = 0
        self.events = []
        self.exceptions = []
        self.dialogs = []
        self.errors = []
        for domain in ("Page", "Runtime", "Log", "DOM"):
            self.call(domain + ".enable")

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def _event(self, msg):
        m, p = msg.get("method"), msg.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.exceptions.append(d.get("exception", {}).get(
                "description") or d.get("text"))
        elif m == "Page.javascriptDialogOpening":
            self.dialogs.append((p.get("type"), p.get("message")))
            # Answered from here: the test's own confirm()s say yes.
            self.send("Page.handleJavaScriptDialog", {"accept": True})
        elif m == "Runtime.consoleAPICalled" and p.get("type") == "error":
            self.errors.append(" ".join(str(a.get("value", a.get(
                "description", ""))) for a in p.get("args", [])))
        elif m == "Log.entryAdded":
            e = p.get("entry", {})
            if e.get("level") == "error":
                self.errors.append(e.get("text", ""))

    def send(self, method, params=None):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method,
                                 "params": params or {}}))
        return self.next_id

    def call(self, method, params=None):
        want = self.send(method, params)
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == want:
                if "error" in msg:
                    raise CdpError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self._event(msg)

    def pump(self, seconds):
        """Read events for a while (dialogs are answered as they come)."""
        self.ws.settimeout(seconds)
        try:
            while True:
                self._event(json.loads(self.ws.recv()))
        except websocket.WebSocketTimeoutException:
            pass
        finally:
            self.ws.settimeout(30)

    def js(self, expr):
        r = self.call("Runtime.evaluate", {"expression": expr,
                                           "awaitPromise": True,
                                           "returnByValue": True})
        if "exceptionDetails" in r:
            raise CdpError("js: %s: %s" % (expr[:80], r["exceptionDetails"]
                           .get("exception", {}).get("description")))
        return r.get("result", {}).get("value")

    def navigate(self, url):
        self.call("Page.navigate", {"url": url})

    def wait(self, expr, what, timeout=20):
        """Until expr is truthy in the page; its last value otherwise."""
        end = time.time() + timeout
        v = None
        while time.time() < end:
            try:
                v = self.js(expr)
            except CdpError:
                v = None
            # A DOM node comes back as {}: present, so true here.
            if v is not None and v is not False and v != 0 and v != "":
                return v
            self.pump(0.2)
        raise CdpError("timed out after %d s waiting for %s (last: %r)"
                       % (timeout, what, v))

    def set_file(self, selector, path):
        doc = self.call("DOM.getDocument", {"depth": 0})
        node = self.call("DOM.querySelector", {
            "nodeId": doc["root"]["nodeId"], "selector": selector})
        if not node.get("nodeId"):
            raise CdpError("no element %s" % selector)
        self.call("DOM.setFileInputFiles", {"nodeId": node["nodeId"],
                                            "files": [path]})

    def screenshot(self, path):
        r = self.call("Page.captureScreenshot", {"format": "png",
                                                 "captureBeyondViewport":
                                                 True})
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))
