#!/usr/bin/env python3
# tests/integration/vmlab_pty.py: a Ctrl-C as a user types it, for
# vmlab_short.sh.  It starts COMMAND on a new pseudo-terminal (its own
# session, the terminal's foreground process group: a SIGINT sent to a
# background job of a shell script is ignored, a typed ^C is not), copies
# what it prints to LOG, waits until FILE exists and holds PATTERN (the
# run got as far as we want to interrupt it), then writes the terminal's
# interrupt character and waits for COMMAND to end.  It prints
# "pid PID status S" (S: the exit status, or 128+N when a signal N ended
# it) and exits 0; 3 when PATTERN never came within TIMEOUT seconds or
# COMMAND outlived the interrupt by TIMEOUT seconds (then its process group
# is killed, so nothing of it is left running).  COMMAND starts with the
# default action for SIGINT, SIGQUIT, SIGPIPE and SIGXFSZ whatever this
# script inherited: a shell ignores for good a signal ignored when it
# starts (a non-interactive shell's background job, such as a test suite
# started with '... &', has SIGINT ignored), and python ignores SIGPIPE
# and SIGXFSZ.
#   vmlab_pty.py LOG FILE PATTERN TIMEOUT -- COMMAND...
import os
import pty
import select
import signal
import sys
import termios
import time


def main():
    if len(sys.argv) < 7 or sys.argv[5] != "--":
        print("usage: vmlab_pty.py LOG FILE PATTERN TIMEOUT -- COMMAND...",
              file=sys.stderr)
        return 2
    log_path, watch, pattern = sys.argv[1], sys.argv[2], sys.argv[3]
    timeout, cmd = float(sys.argv[4]), sys.argv[6:]
    pid, fd = pty.fork()
    if pid == 0:
        try:
            for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE,
                        signal.SIGXFSZ):
                signal.signal(sig, signal.SIG_DFL)
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    log = open(log_path, "wb")
    status = None
    state, deadline = "waiting", time.monotonic() + timeout
    while status is None:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:         # EIO: the terminal has no writer left
                data = b""
            log.write(data)
            log.flush()
        wpid, st = os.waitpid(pid, os.WNOHANG)
        if wpid == pid:
            status = st
            break
        if state == "waiting":
            try:
                with open(watch, "rb") as f:
                    seen = pattern.encode() in f.read()
            except OSError:
                seen = False
            if seen:
                intr = termios.tcgetattr(fd)[6][termios.VINTR]
                os.write(fd, intr if isinstance(intr, bytes) else bytes([intr]))
                log.write(b"\n[vmlab_pty: ^C sent]\n")
                state, deadline = "interrupted", time.monotonic() + timeout
        if time.monotonic() > deadline:
            log.write(("\n[vmlab_pty: %s for %.0f s: killing]\n" % (
                "no '%s' in %s" % (pattern, watch) if state == "waiting"
                else "still running after ^C", timeout)).encode())
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            print("pid %d %s" % (pid, state))
            return 3
    # Whatever it printed last, after it exited.
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        log.write(data)
    log.close()
    code = (os.WEXITSTATUS(status) if os.WIFEXITED(status)
            else 128 + os.WTERMSIG(status))
    print("pid %d status %d%s" % (pid, code, "" if state == "interrupted"
                                  else " (ended before the interrupt)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
