/*
 * bench/blast: the lab's ceiling for bench/mcast-throughput's `limit' rows.
 * It moves bytes by multicast as cheaply as Linux allows and does nothing
 * else: no protocol, no repair, no crypto, no pacing.  `blast send' pushes
 * SIZE bytes (whole segments of --segment bytes) to the group with UDP GSO
 * (one sendmmsg call carries up to 8 x 44 segments), then a short end
 * marker, repeated so that a lossy link still sees one.  `blast recv' joins
 * the group, takes UDP_GRO trains with recvmmsg into 1 MiB of buffers and
 * either discards them or appends them with one pwritev per batch to
 * --out; it stops at the end marker (or after --idle ms of silence) and
 * prints one JSON line: bytes and datagrams received and the wall-clock
 * times (microseconds since the epoch) of the first and last data, which
 * the benchmark sets against the sender's start.  What is lost stays lost:
 * a receiver reports how much it got, and the benchmark counts that.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <arpa/inet.h>
#include <net/if.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define BLAST_MARKER "BLASTEND"
#define BLAST_MARKER_LEN 8
#define BLAST_MARKERS 20	/* end markers, 5 ms apart */
#define BLAST_BATCH 8		/* messages per sendmmsg */
#define BLAST_RBATCH 16		/* messages per recvmmsg */
#define BLAST_RBUF 65536	/* one GRO train at most */
#define BLAST_GSO_MAX 64	/* the kernel's segment limit per send */

struct blast_opts {
	struct sockaddr_in group;
	unsigned ifindex;
	const char *ifname;
	uint64_t size;
	size_t segment;
	const char *out;
	int idle_ms;
	int timeout_s;
};

static void
blast_usage(FILE *f)
{
	fprintf(f,
	    "usage: blast send --group ADDR:PORT --interface IF --size BYTES"
	    " [--segment N]\n"
	    "       blast recv --group ADDR:PORT --interface IF [--out FILE]"
	    " [--segment N]\n"
	    "                  [--idle MS] [--timeout SECONDS]\n"
	    "Bare multicast blast (UDP GSO, UDP_GRO + recvmmsg) for"
	    " bench/mcast-throughput.\n"
	    "  --segment N   datagram payload, default 1472 (MTU 1500)\n"
	    "  --out FILE    recv: append what arrives to FILE (default:"
	    " discard)\n"
	    "  --idle MS     recv: stop after MS of silence once data came,"
	    " default 2000\n"
	    "  --timeout S   recv: give up when nothing came in S seconds,"
	    " default 60\n");
}

static int64_t
blast_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* blast_number: a whole number in [min, max] or exit 2 naming the option. */
static uint64_t
blast_number(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' ||
	    v < min || v > max) {
		fprintf(stderr, "blast: %s: '%s': a whole number %" PRIu64
		    "-%" PRIu64 "\n", opt, s, min, max);
		exit(2);
	}
	return v;
}

static void
blast_parse_group(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	size_t hl;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	hl = colon != NULL ? (size_t)(colon - s) : 0;
	if (colon == NULL || hl == 0 || hl >= sizeof(host)) {
		fprintf(stderr, "blast: --group: '%s': use ADDR:PORT\n", s);
		exit(2);
	}
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1 ||
	    !IN_MULTICAST(ntohl(sa->sin_addr.s_addr))) {
		fprintf(stderr, "blast: --group: '%s': not an IPv4 multicast"
		    " address\n", host);
		exit(2);
	}
	sa->sin_port = htons((uint16_t)blast_number("--group port", colon + 1,
	    1, 65535));
}

static void
blast_die(const char *what)
{
	fprintf(stderr, "blast: %s: %s\n", what, strerror(errno));
	exit(1);
}

/*
 * blast_send_all: send one batch, retrying what the kernel did not take.
 * ENOBUFS is a full queue below the socket (a tbf, a busy device): wait a
 * millisecond and offer it again rather than lose it, as a real sender
 * would.
 */
static void
blast_send_all(int fd, struct mmsghdr *m, unsigned n)
{
	while (n > 0) {
		int k = sendmmsg(fd, m, n, 0);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS || errno == EAGAIN) {
				(void)poll(NULL, 0, 1);
				continue;
			}
			blast_die("sendmmsg");
		}
		m += k;
		n -= (unsigned)k;
	}
}

static int
blast_send(const struct blast_opts *o)
{
	struct ip_mreqn mr;
	struct mmsghdr m[BLAST_BATCH];
	struct iovec iov[BLAST_BATCH];
	unsigned char ttl = 1, loop = 0;
	int fd, gso, one = 1;
	size_t per_msg, i;
	uint64_t segs, sent_segs = 0;
	unsigned char *buf;
	int64_t t0, t1;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		blast_die("socket");
	memset(&mr, 0, sizeof(mr));
	mr.imr_ifindex = (int)o->ifindex;
	/* No receiver sits on the sender's host: the loop would only cost. */
	if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof(mr)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, 1) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, 1) < 0)
		blast_die("multicast socket options");
	/* Without IP_RECVERR a full qdisc drops the datagram silently. */
	(void)setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&o->group,
	    sizeof(o->group)) < 0)
		blast_die("connect");

	gso = (int)o->segment;
	per_msg = (65507 / o->segment);
	if (per_msg > BLAST_GSO_MAX)
		per_msg = BLAST_GSO_MAX;
	if (setsockopt(fd, SOL_UDP, UDP_SEGMENT, &gso, sizeof(gso)) < 0) {
		fprintf(stderr, "blast: UDP_SEGMENT: %s: one datagram per"
		    " message\n", strerror(errno));
		per_msg = 1;
	}
	buf = malloc(per_msg * o->segment);
	if (buf == NULL)
		blast_die("malloc");
	for (i = 0; i < per_msg * o->segment; i++)
		buf[i] = (unsigned char)(i * 131 + 7);

	segs = (o->size + o->segment - 1) / o->segment;
	t0 = blast_now_us();
	while (sent_segs < segs) {
		unsigned n = 0;

		while (n < BLAST_BATCH && sent_segs < segs) {
			uint64_t k = segs - sent_segs;

			if (k > per_msg)
				k = per_msg;
			iov[n].iov_base = buf;
			iov[n].iov_len = (size_t)k * o->segment;
			memset(&m[n], 0, sizeof(m[n]));
			m[n].msg_hdr.msg_iov = &iov[n];
			m[n].msg_hdr.msg_iovlen = 1;
			sent_segs += k;
			n++;
		}
		blast_send_all(fd, m, n);
	}
	t1 = blast_now_us();

	/* The marker is shorter than a segment: it cannot be data. */
	gso = 0;
	(void)setsockopt(fd, SOL_UDP, UDP_SEGMENT, &gso, sizeof(gso));
	for (i = 0; i < BLAST_MARKERS; i++) {
		if (send(fd, BLAST_MARKER, BLAST_MARKER_LEN, 0) < 0 &&
		    errno != ENOBUFS)
			blast_die("send (end marker)");
		(void)poll(NULL, 0, 5);
	}
	printf("{\"bytes\": %" PRIu64 ", \"segments\": %" PRIu64
	    ", \"segment\": %zu, \"start_us\": %" PRId64 ", \"end_us\": %"
	    PRId64 "}\n", segs * o->segment, segs, o->segment, t0, t1);
	free(buf);
	close(fd);
	return 0;
}

/* blast_write: append the batch's data to the output file at once. */
static void
blast_write(int out, struct iovec *iov, int n, uint64_t *off)
{
	while (n > 0) {
		ssize_t w = pwritev(out, iov, n, (off_t)*off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			blast_die("pwritev --out");
		}
		*off += (uint64_t)w;
		/* A short write: step past what went, retry the rest. */
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
}

static int
blast_recv(const struct blast_opts *o)
{
	struct ip_mreqn mr;
	struct sockaddr_in any;
	struct mmsghdr m[BLAST_RBATCH];
	struct iovec iov[BLAST_RBATCH], wio[BLAST_RBATCH];
	struct timeval tv = { 0, 100000 };
	int fd, out = -1, one = 1, rcvbuf = 16 << 20, i, gro;
	unsigned char *buf;
	uint64_t bytes = 0, datagrams = 0, off = 0;
	int64_t first = 0, last = 0, start, now;
	const char *end = "timeout";

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		blast_die("socket");
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* As root the buffer may pass rmem_max: a ceiling gets every help. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
	    sizeof(rcvbuf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		    sizeof(rcvbuf));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	gro = setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
	if (!gro)
		fprintf(stderr, "blast: UDP_GRO: %s: one datagram per buffer\n",
		    strerror(errno));
	memset(&any, 0, sizeof(any));
	any.sin_family = AF_INET;
	any.sin_addr = o->group.sin_addr;
	any.sin_port = o->group.sin_port;
	if (bind(fd, (const struct sockaddr *)&any, sizeof(any)) < 0)
		blast_die("bind");
	memset(&mr, 0, sizeof(mr));
	mr.imr_multiaddr = o->group.sin_addr;
	mr.imr_ifindex = (int)o->ifindex;
	if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
		blast_die("IP_ADD_MEMBERSHIP");
	if (o->out != NULL) {
		out = open(o->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0644);
		if (out < 0)
			blast_die(o->out);
	}
	buf = malloc((size_t)BLAST_RBATCH * BLAST_RBUF);
	if (buf == NULL)
		blast_die("malloc");
	for (i = 0; i < BLAST_RBATCH; i++) {
		iov[i].iov_base = buf + (size_t)i * BLAST_RBUF;
		iov[i].iov_len = BLAST_RBUF;
	}

	start = blast_now_us();
	for (;;) {
		int n, nw = 0, done = 0;

		for (i = 0; i < BLAST_RBATCH; i++) {
			memset(&m[i].msg_hdr, 0, sizeof(m[i].msg_hdr));
			m[i].msg_hdr.msg_iov = &iov[i];
			m[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(fd, m, BLAST_RBATCH, MSG_WAITFORONE, NULL);
		now = blast_now_us();
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				blast_die("recvmmsg");
			if (first != 0 && now - last > (int64_t)o->idle_ms * 1000) {
				end = "idle";
				break;
			}
			if (first == 0 &&
			    now - start > (int64_t)o->timeout_s * 1000000) {
				end = "timeout";
				break;
			}
			continue;
		}
		for (i = 0; i < n; i++) {
			size_t len = m[i].msg_len, tail = len % o->segment;

			/*
			 * Data comes in whole segments; GRO may glue the
			 * short end marker to the last train.
			 */
			if (tail != 0) {
				if (tail == BLAST_MARKER_LEN &&
				    memcmp((char *)iov[i].iov_base + len - tail,
				    BLAST_MARKER, BLAST_MARKER_LEN) == 0)
					done = 1;
				len -= tail;
			}
			if (len == 0)
				continue;
			if (first == 0)
				first = now;
			last = now;
			bytes += len;
			datagrams += len / o->segment;
			wio[nw].iov_base = iov[i].iov_base;
			wio[nw].iov_len = len;
			nw++;
		}
		if (out >= 0 && nw > 0)
			blast_write(out, wio, nw, &off);
		if (done) {
			end = "marker";
			break;
		}
	}
	if (out >= 0 && close(out) < 0)
		blast_die("close --out");
	printf("{\"bytes\": %" PRIu64 ", \"datagrams\": %" PRIu64
	    ", \"first_us\": %" PRId64 ", \"last_us\": %" PRId64
	    ", \"gro\": %s, \"end\": \"%s\"}\n", bytes, datagrams, first, last,
	    gro ? "true" : "false", end);
	free(buf);
	close(fd);
	/* Nothing at all is a failure: the lab or the sender is broken. */
	return bytes > 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "group", required_argument, NULL, 'g' },
		{ "interface", required_argument, NULL, 'i' },
		{ "size", required_argument, NULL, 's' },
		{ "segment", required_argument, NULL, 'S' },
		{ "out", required_argument, NULL, 'o' },
		{ "idle", required_argument, NULL, 'I' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct blast_opts o;
	const char *mode, *group = NULL;
	int c, send_mode;

	memset(&o, 0, sizeof(o));
	o.segment = 1472;
	o.idle_ms = 2000;
	o.timeout_s = 60;
	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		blast_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	mode = argv[1];
	if (strcmp(mode, "send") != 0 && strcmp(mode, "recv") != 0) {
		fprintf(stderr, "blast: '%s': the mode is send or recv\n", mode);
		return 2;
	}
	send_mode = mode[0] == 's';
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'g': group = optarg; break;
		case 'i': o.ifname = optarg; break;
		case 's':
			o.size = blast_number("--size", optarg, 1,
			    UINT64_C(1) << 50);
			break;
		case 'S':
			o.segment = (size_t)blast_number("--segment", optarg,
			    BLAST_MARKER_LEN + 1, 65507);
			break;
		case 'o': o.out = optarg; break;
		case 'I':
			o.idle_ms = (int)blast_number("--idle", optarg, 1,
			    3600000);
			break;
		case 't':
			o.timeout_s = (int)blast_number("--timeout", optarg, 1,
			    86400);
			break;
		case 'h':
			blast_usage(stdout);
			return 0;
		default:
			blast_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "blast: '%s': unexpected argument\n",
		    argv[optind]);
		return 2;
	}
	if (group == NULL || o.ifname == NULL) {
		fprintf(stderr, "blast: --group and --interface are required\n");
		return 2;
	}
	blast_parse_group(group, &o.group);
	o.ifindex = if_nametoindex(o.ifname);
	if (o.ifindex == 0) {
		fprintf(stderr, "blast: --interface: '%s': %s\n", o.ifname,
		    strerror(errno));
		return 2;
	}
	if (send_mode) {
		if (o.size == 0) {
			fprintf(stderr, "blast: send: --size is required\n");
			return 2;
		}
		if (o.out != NULL) {
			fprintf(stderr, "blast: send: --out is for recv\n");
			return 2;
		}
		return blast_send(&o);
	}
	if (o.size != 0) {
		fprintf(stderr, "blast: recv: --size is for send\n");
		return 2;
	}
	return blast_recv(&o);
}
