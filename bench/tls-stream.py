#!/usr/bin/env python3
#
# tls-stream.py: the encrypted-TCP reference of bench/unicast-throughput.
# One TLS 1.3 connection (AES-256-GCM, the cipher fleetcast's packets use)
# carries a file from a client to a server that discards it,
# so that the unicast path can be compared not only with plain TCP
# (iperf3), which encrypts nothing, but with the cheapest authenticated and
# encrypted stream the same host can run: OpenSSL through Python's ssl
# module, 1 MiB writes, 16 KiB records.  The server prints
# "BYTES SECONDS" measured from its first byte to the end of the stream,
# as iperf3's receiver side does, and the cipher suite agreed (OpenSSL
# prefers TLS_AES_256_GCM_SHA384; Python cannot pin TLS 1.3 suites).
#
#   tls-stream.py server ADDR PORT CERT KEY
#   tls-stream.py client ADDR PORT FILE

import socket
import ssl
import sys
import time

CHUNK = 1 << 20


def server(addr, port, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    conn, _ = ls.accept()
    s = ctx.wrap_socket(conn, server_side=True)
    suite = s.cipher()[0]
    buf = bytearray(CHUNK)
    n, t0 = 0, None
    while True:
        k = s.recv_into(buf)
        if t0 is None:
            t0 = time.monotonic()
        if k == 0:
            break
        n += k
    try:
        s.unwrap()
    except (ssl.SSLError, OSError):
        pass
    print("%d %.6f %s" % (n, time.monotonic() - (t0 or time.monotonic()),
                          suite))


def client(addr, port, path):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE    # a benchmark, not a trust decision
    s = ctx.wrap_socket(socket.create_connection((addr, port)))
    buf = bytearray(CHUNK)
    with open(path, "rb", buffering=0) as f:
        while True:
            k = f.readinto(buf)
            if not k:
                break
            s.sendall(memoryview(buf)[:k])
    # close_notify, then wait for the server's: closing with its session
    # tickets unread would reset the connection and lose the stream's tail.
    s.unwrap().close()


def main(argv):
    if len(argv) == 6 and argv[1] == "server":
        server(argv[2], int(argv[3]), argv[4], argv[5])
    elif len(argv) == 5 and argv[1] == "client":
        client(argv[2], int(argv[3]), argv[4])
    else:
        sys.stderr.write("usage: tls-stream.py server ADDR PORT CERT KEY\n"
                         "       tls-stream.py client ADDR PORT FILE\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
