#!/bin/bash
#
# sec_idle.sh: silent sockets against the agents' port (issue #12 finding
# 5).  An attacker keeps 300 TCP connections open to control_listen that
# never say anything, first from one address, then from 300 addresses (one
# each); while each attack goes on, an enrolled agent that restarts comes
# online within a few seconds.  The server refuses what is over the limit
# per address, gives the TLS handshake a few seconds, lets the oldest
# handshake give way when their pool is full, and counts all of it (GET
# /v1/server).  Exit 0 pass, 1 fail, 77 skip (no root/unshare, outside CI).

. "${0%/*}/agent_lib.sh"
al_init "$0" "$@"

# sec_idle_flood N SOURCES...: hold N silent connections to the control
# port from the given source addresses, opening new ones as the server
# closes them, until killed.
sec_idle_flood()
{
	python3 - "$@" <<'PY' >> "$T/flood.log" 2>&1 &
import select, socket, sys, time
n = int(sys.argv[1])
srcs = sys.argv[2:]
socks = {}
opened = 0
def fill():
    global opened
    for i in range(n):
        if i in socks:
            continue
        s = socket.socket()
        s.setblocking(False)
        s.bind((srcs[i % len(srcs)], 0))
        try:
            s.connect(("127.0.0.1", 56022))
        except BlockingIOError:
            pass
        socks[i] = s
        opened += 1
last = 0
while True:
    fill()
    r, _, _ = select.select(list(socks.values()), [], [], 0.05)
    for s in r:
        try:
            d = s.recv(4096)
        except OSError:
            d = b""
        if not d:
            for k, v in list(socks.items()):
                if v is s:
                    del socks[k]
            s.close()
    if time.time() - last > 1:
        print("open", len(socks), "opened", opened, flush=True)
        last = time.time()
    time.sleep(0.02)
PY
	SEC_FLOOD=$!
	AL_PIDS="$AL_PIDS $SEC_FLOOD"
}

# sec_idle_back NAME SECONDS: restart the agent, it must be online in time.
sec_idle_back()
{
	local i
	al_agent_stop "$1"
	for ((i = 0; i < 50; i++)); do
		[ "$(al_machine_field "$1" online)" = False ] && break
		sleep 0.1
	done
	al_agent_start "$1"
	for ((i = 0; i < $2 * 10; i++)); do
		[ "$(al_machine_field "$1" online 2>/dev/null)" = True ] &&
		    return 0
		sleep 0.1
	done
	al_fail "$1 did not come online within $2 s under the flood" \
	    "($(tail -n 1 "$T/flood.log"))"
}

al_server_start
al_agent_start a
al_wait_online a

# sec_idle_case COUNTER WHAT SOURCES...: 300 silent connections from
# SOURCES while the agent restarts; the server counted COUNTER.
sec_idle_case()
{
	local counter=$1 what=$2 n
	shift 2
	sec_idle_flood 300 "$@"
	sleep 3
	sec_idle_back a 5
	kill "$SEC_FLOOD"
	wait "$SEC_FLOOD" 2>/dev/null
	n=$("$FC" server fingerprint --json | al_json control "$counter")
	[ "$n" -gt 0 ] || al_fail "$counter: $n"
	al_ok "300 silent connections from $what: online in time ($n $counter)"
}

# From one address (not the agent's), then from 300, one each.
sec_idle_case refused_per_address "one address" 127.0.0.2
srcs=""
for ((i = 0; i < 300; i++)); do
	srcs="$srcs 127.0.$((i / 200 + 1)).$((i % 200 + 1))"
done
sec_idle_case handshakes_given_way "300 addresses" $srcs

echo "PASS: sec_idle"
exit 0
