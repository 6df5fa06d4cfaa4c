#!/usr/bin/env python3
#
# mcast-probe.py: a tiny IPv4 multicast sender and receiver for checking a
# lab (tests/lab/lab.sh) before real tools run in it: does a datagram sent
# to a group on one host reach the hosts that joined it, and only those?
# It is independent of fleetcast on purpose, so that a lab fault is never
# mistaken for a transport bug.
#
#   mcast-probe.py recv GROUP PORT IFADDR SECONDS [EXPECT]
#       join GROUP on the interface with address IFADDR, count datagrams
#       that carry the probe token until SECONDS pass or EXPECT arrived;
#       print the count.
#   mcast-probe.py send GROUP PORT IFADDR COUNT [TTL]
#       send COUNT probe datagrams (20 ms apart) out of IFADDR's interface.

import select
import socket
import sys
import time

TOKEN = b"fleetcast-lab-probe"


def usage():
    sys.stderr.write(
        "usage: mcast-probe.py recv GROUP PORT IFADDR SECONDS [EXPECT]\n"
        "       mcast-probe.py send GROUP PORT IFADDR COUNT [TTL]\n")
    sys.exit(2)


def recv(group, port, ifaddr, seconds, expect):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Binding to the group address keeps unicast and other groups out.
    s.bind((group, port))
    mreq = socket.inet_aton(group) + socket.inet_aton(ifaddr)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    deadline = time.monotonic() + seconds
    n = 0
    while expect == 0 or n < expect:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([s], [], [], left)
        if ready and s.recv(2048) == TOKEN:
            n += 1
    print(n)
    return 0


def send(group, port, ifaddr, count, ttl):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                 socket.inet_aton(ifaddr))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
    for _ in range(count):
        s.sendto(TOKEN, (group, port))
        time.sleep(0.02)
    return 0


def main(argv):
    if len(argv) < 6:
        usage()
    try:
        group, port, ifaddr = argv[2], int(argv[3]), argv[4]
        if argv[1] == "recv":
            expect = int(argv[6]) if len(argv) > 6 else 0
            return recv(group, port, ifaddr, float(argv[5]), expect)
        if argv[1] == "send":
            ttl = int(argv[6]) if len(argv) > 6 else 1
            return send(group, port, ifaddr, int(argv[5]), ttl)
    except ValueError as e:
        sys.stderr.write("mcast-probe.py: %s\n" % e)
        return 2
    usage()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
