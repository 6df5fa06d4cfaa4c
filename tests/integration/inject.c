/*
 * A hostile peer for the transport's integration tests.  It records a
 * session's datagrams and replays them later (into another session), and
 * during a transfer it answers real datagrams with forged copies (same
 * header, altered ciphertext: authentication must fail), truncated copies
 * and random garbage.  Receivers must drop and count all of it and still
 * deliver the right file.  It also sends datagrams no sender ever builds:
 * ANNOUNCEs far longer than an ANNOUNCE body (review finding 1: one of
 * them overflowed the receiver's stack before its length was checked).
 *
 *
 * With the PSK it also plays a receiver that speaks the protocol (issue
 * #12): hellos floods the sender with HELLOs of random receiver ids;
 * spoof replays the live session's ANNOUNCE from another address
 * (SRCADDR, a local one) 1,650 times a second; nakall joins and NAKs
 * every block in every REPORT; overflow joins and reports a socket
 * overflow counter that keeps rising, with no loss.  Without the PSK,
 * forge floods the group with ANNOUNCEs of random sessions sealed with a
 * random key, from 250 local addresses in turn (finding 4: each one costs
 * a receiver that does not know the session a key derivation).
 *
 *   inject record GROUP:PORT FILE COUNT SECONDS
 *   inject replay GROUP:PORT FILE
 *   inject attack GROUP:PORT SECONDS
 *   inject oversize GROUP:PORT LENGTH
 *   inject hellos|nakall|overflow GROUP:PORT PSK SECONDS
 *   inject spoof GROUP:PORT PSK SECONDS SRCADDR
 *   inject forge GROUP:PORT SECONDS
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "proto.h"
#include "psk.h"
#include "wire.h"

static void
die(const char *what)
{
	fprintf(stderr, "inject: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
parse(const char *s, struct sockaddr_in *sin)
{
	char		 host[64];
	const char	*colon = strchr(s, ':');

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host)) {
		fprintf(stderr, "inject: %s: want ADDR:PORT\n", s);
		exit(2);
	}
	memcpy(host, s, colon - s);
	host[colon - s] = '\0';
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
		fprintf(stderr, "inject: %s: bad address\n", host);
		exit(2);
	}
}

static int
join(const struct sockaddr_in *group)
{
	struct ip_mreqn	mr;
	int		fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		die("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		die("SO_REUSEADDR");
	if (bind(fd, (const struct sockaddr *)group, sizeof(*group)) == -1)
		die("bind");
	memset(&mr, 0, sizeof(mr));
	mr.imr_multiaddr = group->sin_addr;
	if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr,
	    sizeof(mr)) == -1)
		die("IP_ADD_MEMBERSHIP");
	return (fd);
}

static int
sender(uint16_t *port)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd;

	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		die("socket");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		die("bind");
	*port = sin.sin_port;
	return (fd);
}

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* Wait for one datagram of the group, not one of our own. */
static ssize_t
next(int fd, uint16_t own, uint8_t *buf, size_t len, double until)
{
	struct sockaddr_in	from;
	struct pollfd		pfd;
	socklen_t		flen;
	ssize_t			n;
	int			ms;

	for (;;) {
		ms = (int)((until - now()) * 1000);
		if (ms <= 0)
			return (-1);
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, ms) <= 0)
			continue;
		flen = sizeof(from);
		n = recvfrom(fd, buf, len, 0, (struct sockaddr *)&from, &flen);
		if (n <= 0)
			continue;
		if (from.sin_port == own)
			continue;
		if (n < 4 || buf[0] != 'F' || buf[1] != 'C')
			continue;
		return (n);
	}
}

/* A receiver of ours that speaks the protocol: hellos, spoof, nakall... */
struct member {
	int			 gfd, cfd;
	uint16_t		 own;
	uint64_t		 session;
	struct aead		*kd, *kf, *ka;
	struct sockaddr_in	 sender;	/* the ANNOUNCE's source */
	uint8_t			 ann[PROTO_MAX_DGRAM];
	size_t			 annlen;
	struct proto_announce	 a;
	uint64_t		 hw;		/* highest seq seen */
	uint32_t		 pk;		/* its packets, as received */
	uint64_t		 bytes;
	uint64_t		 rid;
	uint32_t		 inc, rseq;
};

/* Wait for an authentic ANNOUNCE (the first that opens with the PSK). */
static void
member_find(struct member *m, const char *pskfile, const char *group,
    double until)
{
	struct sockaddr_in	 g, from;
	struct proto_hdr	 h;
	enum proto_drop		 why;
	uint8_t			 psk[PSK_LEN], kd[32], kf[32], ka[32];
	uint8_t			 buf[PROTO_MAX_DGRAM], plain[PROTO_MAX_DGRAM];
	socklen_t		 flen;
	char			 err[256];
	ssize_t			 n;

	if (psk_read(pskfile, psk, err, sizeof(err)) == -1) {
		fprintf(stderr, "inject: %s\n", err);
		exit(2);
	}
	parse(group, &g);
	memset(m, 0, sizeof(*m));
	m->gfd = join(&g);
	m->cfd = sender(&m->own);
	while (now() < until) {
		flen = sizeof(from);
		n = recvfrom(m->gfd, buf, sizeof(buf), 0,
		    (struct sockaddr *)&from, &flen);
		if (n <= 0 || proto_decode(buf, (size_t)n, &h, &why) == -1 ||
		    h.type != PROTO_ANNOUNCE)
			continue;
		if (proto_derive_keys(psk, h.session, kd, kf, ka) == -1)
			exit(1);
		m->kd = aead_new(kd);
		if (proto_open(m->kd, &h, plain, sizeof(plain)) == -1 ||
		    proto_get_announce(plain, h.ctlen, &m->a) == -1) {
			aead_free(m->kd);
			continue;
		}
		m->kf = aead_new(kf);
		m->ka = aead_new(ka);
		m->session = h.session;
		m->sender = from;
		memcpy(m->ann, buf, (size_t)n);
		m->annlen = (size_t)n;
		/* The sender answers on its own port, the group's + 1. */
		m->sender.sin_port = htons(ntohs(g.sin_port) + 1);
		return;
	}
	fprintf(stderr, "inject: no ANNOUNCE heard\n");
	exit(1);
}

static void
member_send(struct member *m, uint8_t type, uint64_t rid, struct wire_w *w)
{
	uint8_t	nonce[PROTO_NONCE_LEN], sub[PROTO_SUB_LEN];
	uint8_t	dg[PROTO_MAX_DGRAM];
	ssize_t	n;

	(void)crypto_random(nonce, sizeof(nonce));
	proto_feedback_sub(rid, sub);
	n = proto_seal(m->kf, type, m->session, nonce, sub, w->buf, w->len,
	    dg, sizeof(dg));
	if (n > 0)
		(void)sendto(m->cfd, dg, (size_t)n, 0,
		    (struct sockaddr *)&m->sender, sizeof(m->sender));
}

static void
member_hello(struct member *m, uint64_t rid)
{
	struct proto_hello	h;
	struct wire_w		w;
	uint8_t			body[PROTO_HELLO_LEN];

	h.rid = rid;
	h.incarnation = m->inc;
	(void)crypto_random(&h.challenge, sizeof(h.challenge));
	wire_w_fixed(&w, body, sizeof(body));
	proto_put_hello(&w, &h);
	member_send(m, PROTO_HELLO, rid, &w);
}

/* Keep up with the sender's seq: what an honest receiver reports. */
static void
member_drain(struct member *m)
{
	struct proto_hdr	h;
	enum proto_drop		why;
	uint8_t			buf[PROTO_MAX_DGRAM];
	ssize_t			n;

	while ((n = recv(m->gfd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		if (proto_decode(buf, (size_t)n, &h, &why) == 0 &&
		    h.session == m->session && h.type <= PROTO_NCF) {
			m->pk++;
			m->bytes += (uint64_t)n;
			if (h.seq > m->hw)
				m->hw = h.seq;
		}
	while (recv(m->cfd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/*
 * nakall (finding 2a: one REPORT of BLOCK NAKs made the sender multicast
 * 24,415 repair packets, without limit) and overflow (finding 2b: a
 * rising overflow counter cut everyone's rate to the floor): a joined
 * receiver's REPORT every 20 ms.
 */
static long
member_report_loop(struct member *m, int nakall, double until)
{
	struct proto_report	 r;
	struct proto_geom	 g;
	struct wire_w		 w;
	uint8_t			 body[1500];
	uint64_t		 next = 0;
	uint32_t		 ovf = 0;
	long			 sent = 0;
	int			 i;

	if (proto_geom_init(&g, m->a.size, m->a.sym, m->a.k, m->a.il) == -1)
		exit(1);
	(void)crypto_random(&m->rid, sizeof(m->rid));
	m->rid |= 1;
	m->inc = 77;
	member_hello(m, m->rid);
	while (now() < until) {
		usleep(20000);
		member_drain(m);
		memset(&r, 0, sizeof(r));
		r.rid = m->rid;
		r.incarnation = m->inc;
		r.rseq = ++m->rseq;
		r.state = PROTO_R_RECEIVING;
		r.rx_hw_seq = m->hw;
		/* Healthy: every packet up to hw arrived, whatever did. */
		r.rx_packets = (uint32_t)m->hw;
		r.rx_bytes = m->bytes;
		r.qdelay_us = UINT32_MAX;
		r.need97 = r.need_max = 255;
		if (nakall) {
			for (i = 0; i < PROTO_NAK_MAX; i++) {
				r.nak[i].kind = PROTO_NAK_BLOCK;
				r.nak[i].id = (uint32_t)(next++ % g.nblocks);
			}
			r.nnak = PROTO_NAK_MAX;
		} else
			r.overflow = (ovf += 500);
		wire_w_fixed(&w, body, sizeof(body));
		if (proto_put_report(&w, &r) == -1)
			exit(1);
		member_send(m, PROTO_REPORT, m->rid, &w);
		sent++;
		if (m->rseq % 25 == 0)
			member_hello(m, m->rid);	/* in case it was lost */
	}
	return (sent);
}

static int
member_main(int argc, char **argv)
{
	struct member		 m;
	struct sockaddr_in	 g, src;
	double			 until;
	long			 n = 0;
	uint64_t		 rid;

	member_find(&m, argv[3], argv[2], now() + 20);
	until = now() + atof(argv[4]);
	if (strcmp(argv[1], "hellos") == 0) {
		m.inc = 1;
		while (now() < until) {
			(void)crypto_random(&rid, sizeof(rid));
			member_hello(&m, rid | 1);
			if (++n % 64 == 0)
				usleep(10000);
			if (n % 512 == 0)
				member_drain(&m);
		}
		printf("hellos %ld\n", n);
		return (0);
	}
	if (strcmp(argv[1], "spoof") == 0 && argc == 6) {
		/* The captured ANNOUNCE from another local address. */
		parse(argv[2], &g);
		memset(&src, 0, sizeof(src));
		src.sin_family = AF_INET;
		if (inet_pton(AF_INET, argv[5], &src.sin_addr) != 1)
			exit(2);
		close(m.cfd);
		if ((m.cfd = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
		    bind(m.cfd, (struct sockaddr *)&src, sizeof(src)) == -1)
			die("bind SRCADDR");
		while (now() < until) {
			(void)sendto(m.cfd, m.ann, m.annlen, 0,
			    (struct sockaddr *)&g, sizeof(g));
			if (++n % 16 == 0)
				usleep(9700);	/* about 1,650 a second */
		}
		printf("spoofed %ld\n", n);
		return (0);
	}
	if (strcmp(argv[1], "nakall") == 0 || strcmp(argv[1], "overflow") == 0) {
		n = member_report_loop(&m, strcmp(argv[1], "nakall") == 0,
		    until);
		printf("%s reports %ld\n", argv[1], n);
		return (0);
	}
	fprintf(stderr, "inject: bad usage\n");
	return (2);
}

/*
 * forge: ANNOUNCEs of the right length, each of a new random session,
 * sealed with a key no sender has, sent from 127.0.1.1 .. 127.0.1.250 in
 * turn (all on lo: the test's namespace owns 127.0.0.0/8), 10,000 a
 * second.  Prints how many went out.
 */
static int
forge_main(const char *group, double seconds)
{
	struct sockaddr_in	 g, src;
	struct aead		*k;
	uint8_t			 key[AEAD_KEY_LEN], body[PROTO_ANNOUNCE_LEN];
	uint8_t			 nonce[PROTO_NONCE_LEN], dg[PROTO_MAX_DGRAM];
	uint64_t		 session;
	double			 until = now() + seconds;
	ssize_t			 len;
	long			 n = 0;
	int			 fd[250], i;

	parse(group, &g);
	for (i = 0; i < 250; i++) {
		memset(&src, 0, sizeof(src));
		src.sin_family = AF_INET;
		src.sin_addr.s_addr = htonl(0x7f000101U + (uint32_t)i);
		if ((fd[i] = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
		    bind(fd[i], (struct sockaddr *)&src, sizeof(src)) == -1)
			die("bind 127.0.1.x");
	}
	(void)crypto_random(key, sizeof(key));
	if ((k = aead_new(key)) == NULL)
		die("aead_new");
	while (now() < until) {
		(void)crypto_random(&session, sizeof(session));
		(void)crypto_random(nonce, sizeof(nonce));
		(void)crypto_random(body, sizeof(body));
		len = proto_seal(k, PROTO_ANNOUNCE, session, nonce, NULL, body,
		    sizeof(body), dg, sizeof(dg));
		if (len > 0)
			(void)sendto(fd[n % 250], dg, (size_t)len, 0,
			    (struct sockaddr *)&g, sizeof(g));
		if (++n % 100 == 0)
			usleep(10000);
	}
	aead_free(k);
	for (i = 0; i < 250; i++)
		close(fd[i]);
	printf("forged %ld\n", n);
	return (0);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in	 group;
	uint8_t			 buf[65536], copy[65536];
	uint16_t		 own, len16;
	FILE			*f;
	ssize_t			 n;
	double			 until;
	long			 count, done = 0, forged = 0, trunc = 0, junk = 0;
	int			 fd, out, i;

	if (argc < 4) {
		fprintf(stderr, "usage: inject record|replay|attack "
		    "GROUP:PORT ...\n");
		return (2);
	}
	if ((argc == 5 && (strcmp(argv[1], "hellos") == 0 ||
	    strcmp(argv[1], "nakall") == 0 ||
	    strcmp(argv[1], "overflow") == 0)) ||
	    (argc == 6 && strcmp(argv[1], "spoof") == 0))
		return (member_main(argc, argv));
	if (argc == 4 && strcmp(argv[1], "forge") == 0)
		return (forge_main(argv[2], atof(argv[3])));
	parse(argv[2], &group);
	srandom((unsigned)getpid());
	out = sender(&own);

	if (strcmp(argv[1], "record") == 0 && argc == 6) {
		fd = join(&group);
		count = atol(argv[4]);
		until = now() + atof(argv[5]);
		if ((f = fopen(argv[3], "w")) == NULL)
			die(argv[3]);
		while (done < count &&
		    (n = next(fd, own, buf, sizeof(buf), until)) > 0) {
			len16 = (uint16_t)n;
			fwrite(&len16, sizeof(len16), 1, f);
			fwrite(buf, 1, (size_t)n, f);
			done++;
		}
		fclose(f);
		printf("recorded %ld\n", done);
		return (done > 0 ? 0 : 1);
	}
	if (strcmp(argv[1], "replay") == 0 && argc == 4) {
		if ((f = fopen(argv[3], "r")) == NULL)
			die(argv[3]);
		while (fread(&len16, sizeof(len16), 1, f) == 1 &&
		    fread(buf, 1, len16, f) == len16) {
			if (sendto(out, buf, len16, 0,
			    (struct sockaddr *)&group, sizeof(group)) == -1)
				die("sendto");
			done++;
			if (done % 32 == 0)
				usleep(1000);
		}
		fclose(f);
		printf("replayed %ld\n", done);
		return (done > 0 ? 0 : 1);
	}
	if (strcmp(argv[1], "attack") == 0 && argc == 4) {
		fd = join(&group);
		until = now() + atof(argv[3]);
		while ((n = next(fd, own, buf, sizeof(buf), until)) > 0) {
			if (++done % 8 != 0)
				continue;
			/* Forged: real header, ciphertext and tag altered. */
			memcpy(copy, buf, (size_t)n);
			/*
			 * Point DATA and REPAIR at symbols not held yet, so
			 * that receivers really try (and fail) to open them.
			 */
			if (copy[3] == 1 && n >= 32)
				copy[31] += 100;
			else if (copy[3] == 2 && n >= 32)
				copy[29] += 4;
			for (i = 40; i < n; i += 7)
				copy[i] ^= (uint8_t)random() | 1;
			copy[n - 1] ^= 0x55;
			sendto(out, copy, (size_t)n, 0,
			    (struct sockaddr *)&group, sizeof(group));
			forged++;
			/* Truncated inside the header. */
			sendto(out, buf, 20, 0, (struct sockaddr *)&group,
			    sizeof(group));
			trunc++;
			/* Garbage. */
			for (i = 0; i < 200; i++)
				copy[i] = (uint8_t)random();
			sendto(out, copy, 200, 0, (struct sockaddr *)&group,
			    sizeof(group));
			junk++;
		}
		printf("forged %ld truncated %ld garbage %ld\n", forged, trunc,
		    junk);
		return (forged > 0 ? 0 : 1);
	}
	if (strcmp(argv[1], "oversize") == 0 && argc == 4) {
		count = atol(argv[3]);
		if (count < 40 || count > 65507) {
			fprintf(stderr, "inject: LENGTH: 40 to 65507\n");
			return (2);
		}
		/*
		 * Header of an ANNOUNCE (version 3), a fresh session each
		 * time, a sender nonce, then noise.
		 */
		for (i = 0; i < count; i++)
			buf[i] = (uint8_t)random();
		buf[0] = 'F';
		buf[1] = 'C';
		buf[2] = 3;
		buf[3] = 3;
		for (done = 0; done < 3; done++) {
			buf[4] = (uint8_t)(done + 1);
			memset(buf + 12, 0, 4);
			if (sendto(out, buf, (size_t)count, 0,
			    (struct sockaddr *)&group, sizeof(group)) == -1)
				die("sendto");
			/* Past the receiver's announce rate limit. */
			usleep(30000);
		}
		printf("oversize %ld x%ld\n", count, done);
		return (0);
	}
	fprintf(stderr, "inject: bad usage\n");
	return (2);
}
