#!/usr/bin/env python3
# bench/vmlab-ga.py: run one command inside a lab VM through its QEMU guest
# agent (the virtio-serial port org.qemu.guest_agent.0, a unix socket on the
# host), for bench/vmlab.  It is how the lab looks inside a machine (files,
# boot id, dpkg) and how it acts there (systemctl reboot, kill -9) without
# a login or a network path that the test would have to trust.  Usage:
#   vmlab-ga.py SOCKET [--timeout S] [--ping] -- COMMAND...
# prints the command's stdout (its stderr to stderr) and exits with its
# status; 124 when the guest agent does not answer in time or the command
# did not end in time (the command itself may go on in the guest).
import base64
import json
import os
import random
import socket
import sys
import time


def die(msg, code=124):
    print("vmlab-ga: " + msg, file=sys.stderr)
    sys.exit(code)


class Agent:
    def __init__(self, path, deadline):
        self.deadline = deadline
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(max(0.1, deadline - time.monotonic()))
        self.sock.connect(path)
        self.buf = b""

    def _line(self):
        while b"\n" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("guest agent closed the socket")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def call(self, cmd, args=None):
        msg = {"execute": cmd}
        if args is not None:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            line = self._line().strip(b"\xff \r")
            if not line:
                continue
            try:
                reply = json.loads(line)
            except ValueError:
                continue    # left over from an earlier, cut connection
            if "error" in reply:
                raise RuntimeError(reply["error"].get("desc", str(reply)))
            if "return" in reply:
                return reply["return"]

    def sync(self):
        # guest-sync with a fresh id: replies to earlier connections are
        # skipped until ours comes back.
        want = random.randint(1, 2**31)
        while True:
            got = self.call("guest-sync", {"id": want})
            if got == want:
                return


def main():
    argv = sys.argv[1:]
    if len(argv) < 2:
        die("usage: vmlab-ga.py SOCKET [--timeout S] [--ping] -- COMMAND...",
            2)
    path, argv = argv[0], argv[1:]
    timeout, ping = 30.0, False
    while argv and argv[0] != "--":
        if argv[0] == "--timeout" and len(argv) > 1:
            timeout, argv = float(argv[1]), argv[2:]
        elif argv[0] == "--ping":
            ping, argv = True, argv[1:]
        else:
            die("unknown option " + argv[0], 2)
    cmd = argv[1:] if argv else []
    if not ping and not cmd:
        die("no command", 2)
    deadline = time.monotonic() + timeout
    try:
        ga = Agent(path, deadline)
        ga.sync()
        if ping:
            ga.call("guest-ping")
            return 0
        pid = ga.call("guest-exec", {"path": cmd[0], "arg": cmd[1:],
                                     "capture-output": True})["pid"]
        while True:
            st = ga.call("guest-exec-status", {"pid": pid})
            if st.get("exited"):
                break
            if time.monotonic() > deadline:
                die("command did not end within %g s" % timeout)
            time.sleep(0.2)
    except (OSError, TimeoutError, ConnectionError, RuntimeError) as e:
        die("%s: %s" % (path, e))
    sys.stdout.buffer.write(base64.b64decode(st.get("out-data", "")))
    sys.stderr.buffer.write(base64.b64decode(st.get("err-data", "")))
    if "signal" in st:
        return 128 + st["signal"]
    return st.get("exitcode", 1)


if __name__ == "__main__":
    sys.exit(main())
