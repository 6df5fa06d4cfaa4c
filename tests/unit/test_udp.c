/*
 * Tests for the socket layer: ADDR:PORT parsing (IPv4, [IPv6], refusals),
 * multicast detection, and the batched datagram path end to end over
 * unicast loopback: datagrams of mixed sizes go through udp_tx (GSO
 * super-packets where the kernel allows) and come back through udp_rx
 * (GRO) intact, in order, with the same boundaries, with GSO on and off.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>

#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "udp.h"
#include "unit.h"

static void
test_parse(void)
{
	struct udp_addr	a;
	char		err[128], buf[128];

	CU_ASSERT(udp_parse("239.1.2.3:5000", &a, 0, err, sizeof(err)) == 0);
	CU_ASSERT(udp_is_multicast(&a));
	CU_ASSERT_STRING_EQUAL(udp_ntop(&a, buf, sizeof(buf)),
	    "239.1.2.3:5000");
	CU_ASSERT(udp_parse("[ff15::1]:7", &a, 0, err, sizeof(err)) == 0);
	CU_ASSERT(a.ss.ss_family == AF_INET6 && udp_is_multicast(&a));
	CU_ASSERT_STRING_EQUAL(udp_ntop(&a, buf, sizeof(buf)), "[ff15::1]:7");
	CU_ASSERT(udp_parse("10.0.0.1:1", &a, 0, err, sizeof(err)) == 0);
	CU_ASSERT(!udp_is_multicast(&a));
	CU_ASSERT(udp_parse("ff15::1", &a, 1, err, sizeof(err)) == 0);

	CU_ASSERT(udp_parse("239.1.2.3", &a, 0, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "ADDR:PORT") != NULL);
	CU_ASSERT(udp_parse("239.1.2.3:0", &a, 0, err, sizeof(err)) == -1);
	CU_ASSERT(udp_parse("239.1.2.3:65536", &a, 0, err, sizeof(err)) == -1);
	CU_ASSERT(udp_parse("239.1.2.3:5x", &a, 0, err, sizeof(err)) == -1);
	CU_ASSERT(udp_parse("example.org:5", &a, 0, err, sizeof(err)) == -1);
	CU_ASSERT(udp_parse("[ff15::1:5", &a, 0, err, sizeof(err)) == -1);
	CU_ASSERT(udp_parse("", &a, 0, err, sizeof(err)) == -1);
}

/* A socket bound to an ephemeral port of 127.0.0.1, its address in *a. */
static int
loopback_socket(struct udp_addr *a)
{
	struct sockaddr_in	sin;
	socklen_t		slen = sizeof(sin);
	int			fd;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	CU_ASSERT_FATAL(fd != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&sin, &slen) == 0);
	memcpy(&a->ss, &sin, sizeof(sin));
	a->len = sizeof(sin);
	return (fd);
}

static void
roundtrip(int gso)
{
	struct udp_addr		 to, from;
	struct udp_tx		*tx;
	struct udp_rx		*rx;
	struct pollfd		 pfd;
	uint8_t			*p, *buf;
	size_t			 len, seg, off, dl;
	uint64_t		 bytes = 0, acc, full;
	int			 in, out, n, i, got = 0, one = 1, bad = 0;
	const int		 count = 300;

	in = loopback_socket(&to);
	(void)setsockopt(in, SOL_UDP, UDP_GRO, &one, sizeof(one));
	n = 8 * 1024 * 1024;
	(void)setsockopt(in, SOL_SOCKET, SO_RCVBUFFORCE, &n, sizeof(n));
	out = socket(AF_INET, SOCK_DGRAM, 0);
	CU_ASSERT_FATAL(out != -1);

	tx = udp_tx_new(out, &to, gso);
	rx = udp_rx_new(1);
	/* Runs of equal sizes (one super-packet) broken by short ones. */
	for (i = 0; i < count; i++) {
		size_t dlen = i % 50 == 49 ? 100 + i : 1472;

		if ((p = udp_tx_slot(tx, dlen)) == NULL) {
			CU_ASSERT_FATAL(udp_tx_flush(tx) == 0);
			p = udp_tx_slot(tx, dlen);
			CU_ASSERT_FATAL(p != NULL);
		}
		memset(p, i & 0xff, dlen);
		p[0] = (uint8_t)(i >> 8);
		p[1] = (uint8_t)i;
		udp_tx_commit(tx, dlen);
		bytes += dlen;
	}
	CU_ASSERT(udp_tx_flush(tx) == 0);
	udp_tx_counts(tx, &acc, &full);
	CU_ASSERT_EQUAL(acc, bytes);
	CU_ASSERT_EQUAL(full, 0);
	CU_ASSERT(udp_tx_pending(tx) == 0);
	CU_ASSERT(udp_tx_syscalls(tx) < (uint64_t)count);

	while (got < count) {
		pfd.fd = in;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 2000) != 1)
			break;
		n = udp_rx_recv(rx, in);
		CU_ASSERT_FATAL(n >= 0);
		for (i = 0; i < n; i++) {
			udp_rx_msg(rx, i, &buf, &len, &seg, &from);
			for (off = 0; off < len; off += dl) {
				size_t want = got % 50 == 49 ? 100 + got :
				    1472;

				dl = len - off < seg ? len - off : seg;
				if (dl != want ||
				    buf[off] != (uint8_t)(got >> 8) ||
				    buf[off + 1] != (uint8_t)got ||
				    buf[off + dl - 1] != (uint8_t)(got & 0xff))
					bad++;
				got++;
			}
		}
	}
	CU_ASSERT_EQUAL(got, count);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(udp_rx_overflow(rx), 0);
	udp_tx_free(tx);
	udp_rx_free(rx);
	close(in);
	close(out);
}

static void
test_batch_gso(void)
{
	roundtrip(1);
}

static void
test_batch_plain(void)
{
	roundtrip(0);
}

/* Wait for the ICMP error of a datagram to a closed port. */
static int
wait_error(int fd)
{
	struct pollfd	pfd;

	pfd.fd = fd;
	pfd.events = 0;
	return (poll(&pfd, 1, 2000) == 1 && (pfd.revents & POLLERR));
}

/*
 * The sender's socket asks for errors (IP_RECVERR: a local qdisc drop is
 * then ENOBUFS, which udp_tx_flush reports as a full link instead of
 * losing the datagram); the ICMP errors that come with it queue on the
 * socket, where they must neither keep it ready for ever (drained) nor
 * fail the next send (an earlier datagram's error: sent again).
 */
static void
test_sender_errors(void)
{
	struct udp_addr		 to;
	struct udp_tx		*tx;
	socklen_t		 slen;
	char			 err[128];
	uint8_t			*p;
	uint64_t		 acc, full;
	int			 fd, gone, v = 0;

	gone = loopback_socket(&to);
	close(gone);			/* a closed port: ICMP unreachable */
	fd = udp_sender_socket(&to, 0, 0, err, sizeof(err));
	CU_ASSERT_FATAL(fd != -1);
	slen = sizeof(v);
	CU_ASSERT(getsockopt(fd, IPPROTO_IP, IP_RECVERR, &v, &slen) == 0);
	CU_ASSERT_EQUAL(v, 1);

	CU_ASSERT(udp_sendto(fd, "x", 1, &to) == 0);
	CU_ASSERT_FATAL(wait_error(fd));
	CU_ASSERT(udp_drain_errors(fd) >= 1);
	CU_ASSERT_EQUAL(udp_drain_errors(fd), 0);
	CU_ASSERT(!wait_error(fd) || udp_drain_errors(fd) == 0);

	/* An error pending from before fails neither path's next send. */
	CU_ASSERT(udp_sendto(fd, "x", 1, &to) == 0);
	CU_ASSERT_FATAL(wait_error(fd));
	CU_ASSERT(udp_sendto(fd, "y", 1, &to) == 0);
	CU_ASSERT_FATAL(wait_error(fd));
	tx = udp_tx_new(fd, &to, 0);
	p = udp_tx_slot(tx, 10);
	CU_ASSERT_FATAL(p != NULL);
	memset(p, 0, 10);
	udp_tx_commit(tx, 10);
	CU_ASSERT_EQUAL(udp_tx_flush(tx), 0);
	udp_tx_counts(tx, &acc, &full);
	CU_ASSERT_EQUAL(acc, 10);
	udp_tx_free(tx);
	(void)udp_drain_errors(fd);
	CU_ASSERT(udp_outq(fd) >= 0);
	close(fd);
}

static CU_TestInfo tests[] = {
	{ "the sender's socket: errors asked for, drained, not fatal",
	    test_sender_errors },
	{ "ADDR:PORT parsing", test_parse },
	{ "batched datagrams, GSO", test_batch_gso },
	{ "batched datagrams, plain", test_batch_plain },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	return (unit_main("udp", tests));
}
