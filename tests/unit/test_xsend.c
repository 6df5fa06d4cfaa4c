/*
 * Tests for the sender (common/xsend.c) against scripted receivers: the
 * sender runs on the test's event_base and streams to a unicast loopback
 * address where the test listens; the test answers with HELLOs and
 * REPORTs it builds itself with the proto_* codec, so that it can also
 * replay them from elsewhere, as an attacker on the path would.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "crypto.h"
#include "log.h"
#include "proto.h"
#include "udp.h"
#include "wire.h"
#include "xsend.h"
#include "unit.h"

static uint8_t	key[AEAD_KEY_LEN] = { 0x66, 0x77 };
static char	tmpdir[] = "/tmp/test_xsend.XXXXXX";

/* The sender under test. */
struct snd {
	struct event_base	*base;
	int			 own_base;
	struct xsend		*xs;
	struct udp_addr		 to;	/* where it sends: our data socket */
	int			 data;	/* bound there */
	int			 finished;
	int			 ok;
	uint64_t		 session;
	struct aead		*kd;
	struct aead		*kf;
	struct udp_addr		 from;	/* source of its packets */
	int			 nann;
};

/* A scripted receiver: one control socket, one identity. */
struct frcv {
	int			fd;
	uint64_t		rid;
	uint32_t		incarnation;
	uint32_t		rseq;
	uint8_t			hello[PROTO_MAX_DGRAM];	/* the last HELLO */
	size_t			hellolen;
	int			nack;
	struct proto_ack	ack;
};

static void
snd_finished(void *arg, int ok)
{
	struct snd	*s = arg;

	s->finished = 1;
	s->ok = ok;
}

static void
run_ms(struct snd *s, int ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_base_loopexit(s->base, &tv);
	event_base_dispatch(s->base);
}

static int
udp_socket(const char *ip, uint16_t port)
{
	struct sockaddr_in	sin;
	int			fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	CU_ASSERT_FATAL(fd != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	CU_ASSERT_FATAL(inet_pton(AF_INET, ip, &sin.sin_addr) == 1);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	return (fd);
}

static uint16_t
local_port(int fd)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);

	CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
	return (ntohs(sin.sin_port));
}

/*
 * A sender of a small file to a socket of ours at ip:port (port 0: any),
 * on base (NULL: its own).
 */
static void
snd_start(struct snd *s, struct event_base *base, size_t size, const char *ip,
    uint16_t port)
{
	static const struct xsend_cb	cb = { NULL, NULL, NULL, NULL, NULL,
	    snd_finished };
	struct xsend_conf		conf;
	char				path[PATH_MAX], addr[64], err[256];
	uint8_t				buf[4096];
	size_t				done;
	int				fd;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "%s/src", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd != -1);
	memset(buf, 0x3c, sizeof(buf));
	for (done = 0; done < size; done += sizeof(buf))
		CU_ASSERT_FATAL(write(fd, buf, size - done < sizeof(buf) ?
		    size - done : sizeof(buf)) > 0);
	close(fd);
	s->data = udp_socket(ip, port);
	snprintf(addr, sizeof(addr), "%s:%u", ip, local_port(s->data));
	CU_ASSERT_FATAL(udp_parse(addr, &s->to, 0, err, sizeof(err)) == 0);
	memset(&conf, 0, sizeof(conf));
	conf.path = path;
	conf.group = s->to;
	conf.min_receivers = 1;
	conf.max_wait_ms = -1;
	conf.drop_ms = 2000;
	memcpy(conf.key, key, sizeof(key));
	if ((s->base = base) == NULL) {
		s->base = event_base_new();
		s->own_base = 1;
	}
	CU_ASSERT_FATAL(s->base != NULL);
	s->xs = xsend_new(s->base, &conf, &cb, s, err, sizeof(err));
	if (s->xs == NULL)
		fprintf(stderr, "xsend_new: %s\n", err);
	CU_ASSERT_FATAL(s->xs != NULL);
	CU_ASSERT_FATAL(xsend_start(s->xs) == 0);
}

/* Read what the sender sent to the data address; learn its keys. */
static void
snd_poll(struct snd *s)
{
	struct proto_hdr	h;
	enum proto_drop		why;
	struct udp_addr		from;
	uint8_t			buf[PROTO_MAX_DGRAM];
	uint8_t			kd[AEAD_KEY_LEN], kf[AEAD_KEY_LEN];
	ssize_t			n;

	for (;;) {
		from.len = sizeof(from.ss);
		n = recvfrom(s->data, buf, sizeof(buf), 0,
		    (struct sockaddr *)&from.ss, &from.len);
		if (n == -1)
			return;
		if (proto_decode(buf, (size_t)n, &h, &why) == -1)
			continue;
		if (s->kd == NULL) {
			s->session = h.session;
			CU_ASSERT_FATAL(proto_derive_keys(key, h.session, kd,
			    kf) == 0);
			s->kd = aead_new(kd);
			s->kf = aead_new(kf);
		}
		if (h.type == PROTO_ANNOUNCE)
			s->nann++;
		s->from = from;
	}
}

static void
snd_end(struct snd *s)
{
	xsend_free(s->xs);
	if (s->own_base)
		event_base_free(s->base);
	close(s->data);
	aead_free(s->kd);
	aead_free(s->kf);
}

static enum xsend_pstate
snd_peer_state(struct snd *s, int i)
{
	struct xsend_peer_info	pi;

	CU_ASSERT_FATAL(i < xsend_npeers(s->xs));
	xsend_peer(s->xs, i, &pi);
	return (pi.state);
}

static uint64_t
snd_drops(struct snd *s, enum proto_drop d)
{
	struct xsend_stats	st;

	xsend_stats(s->xs, &st);
	return (st.drops[d]);
}

static void
frcv_init(struct frcv *f, uint64_t rid, uint32_t incarnation)
{
	memset(f, 0, sizeof(*f));
	f->fd = udp_socket("127.0.0.1", 0);
	f->rid = rid;
	f->incarnation = incarnation;
}

static void
frcv_send(struct frcv *f, struct snd *s, uint8_t type, const void *body,
    size_t len, uint8_t *keep, size_t *keeplen)
{
	uint8_t	nonce[PROTO_NONCE_LEN], dg[PROTO_MAX_DGRAM];
	ssize_t	n;

	CU_ASSERT_FATAL(crypto_random(nonce, sizeof(nonce)) == 0);
	n = proto_seal(s->kf, type, s->session, nonce, NULL, body, len, dg,
	    sizeof(dg));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT(sendto(f->fd, dg, (size_t)n, 0,
	    (struct sockaddr *)&s->from.ss, s->from.len) == n);
	if (keep != NULL) {
		memcpy(keep, dg, (size_t)n);
		*keeplen = (size_t)n;
	}
}

static void
frcv_hello(struct frcv *f, struct snd *s)
{
	struct proto_hello	h;
	struct wire_w		w;
	uint8_t			body[PROTO_HELLO_LEN];

	h.rid = f->rid;
	h.incarnation = f->incarnation;
	CU_ASSERT_FATAL(crypto_random(&h.challenge, sizeof(h.challenge)) == 0);
	wire_w_fixed(&w, body, sizeof(body));
	CU_ASSERT_FATAL(proto_put_hello(&w, &h) == 0);
	frcv_send(f, s, PROTO_HELLO, body, w.len, f->hello, &f->hellolen);
}

static void
frcv_report(struct frcv *f, struct snd *s, uint8_t state)
{
	struct proto_report	rep;
	struct wire_w		w;
	uint8_t			body[1500];

	memset(&rep, 0, sizeof(rep));
	rep.rid = f->rid;
	rep.incarnation = f->incarnation;
	rep.rseq = ++f->rseq;
	rep.state = state;
	wire_w_fixed(&w, body, sizeof(body));
	CU_ASSERT_FATAL(proto_put_report(&w, &rep) == 0);
	frcv_send(f, s, PROTO_REPORT, body, w.len, NULL, NULL);
}

/* ACKs the sender sent us. */
static void
frcv_poll(struct frcv *f, struct snd *s)
{
	struct proto_hdr	h;
	enum proto_drop		why;
	uint8_t			buf[PROTO_MAX_DGRAM], plain[PROTO_MAX_DGRAM];
	ssize_t			n;

	while ((n = recv(f->fd, buf, sizeof(buf), 0)) > 0) {
		if (proto_decode(buf, (size_t)n, &h, &why) == 0 &&
		    h.type == PROTO_ACK &&
		    proto_open(s->kd, &h, plain, sizeof(plain)) == 0 &&
		    proto_get_ack(plain, h.ctlen, &f->ack) == 0)
			f->nack++;
	}
}

/* Send raw bytes from another socket (an attacker's replay). */
static void
replay(struct snd *s, const uint8_t *dg, size_t len)
{
	int	fd = udp_socket("127.0.0.1", 0);

	CU_ASSERT(sendto(fd, dg, len, 0, (struct sockaddr *)&s->from.ss,
	    s->from.len) == (ssize_t)len);
	close(fd);
}

/* Wait for the first ANNOUNCE, say HELLO, get ACCEPTED. */
static void
join(struct snd *s, struct frcv *f)
{
	int	i;

	for (i = 0; i < 50 && s->nann == 0; i++) {
		run_ms(s, 20);
		snd_poll(s);
	}
	CU_ASSERT_FATAL(s->nann > 0);
	frcv_hello(f, s);
	for (i = 0; i < 50 && f->nack == 0; i++) {
		run_ms(s, 10);
		frcv_poll(f, s);
	}
	CU_ASSERT_FATAL(f->nack > 0);
	CU_ASSERT(f->ack.verdict == PROTO_ACK_ACCEPTED);
}

/*
 * Review finding 10: a replayed HELLO reset a receiver.  A receiver that
 * is done must stay done when its HELLO comes again from elsewhere
 * (same incarnation, another address), and a HELLO of one of its earlier
 * processes must stay refused however often it restarted.
 */
static void
test_hello_replay(void)
{
	struct snd	s;
	struct frcv	f;
	uint8_t		first[PROTO_MAX_DGRAM];
	size_t		firstlen;
	int		k;

	snd_start(&s, NULL, 3000, "127.0.0.2", 0);
	frcv_init(&f, 0xabcdef, 1);
	join(&s, &f);
	memcpy(first, f.hello, f.hellolen);
	firstlen = f.hellolen;
	frcv_report(&f, &s, PROTO_R_READY);
	run_ms(&s, 20);
	CU_ASSERT_EQUAL(snd_peer_state(&s, 0), XSP_READY);
	/*
	 * The current HELLO, replayed from another address, and from its
	 * own once the receiver has reported (it says HELLO only before).
	 */
	replay(&s, f.hello, f.hellolen);
	CU_ASSERT(sendto(f.fd, f.hello, f.hellolen, 0,
	    (struct sockaddr *)&s.from.ss, s.from.len) ==
	    (ssize_t)f.hellolen);
	run_ms(&s, 20);
	CU_ASSERT_EQUAL(snd_peer_state(&s, 0), XSP_READY);
	CU_ASSERT_EQUAL(snd_drops(&s, PROTO_DROP_STALE), 2);
	/* Six restarts, then the first process's HELLO replayed. */
	for (k = 2; k <= 7; k++) {
		f.incarnation = (uint32_t)k;
		f.rseq = 0;
		frcv_hello(&f, &s);
		run_ms(&s, 10);
	}
	frcv_report(&f, &s, PROTO_R_DONE);
	run_ms(&s, 20);
	CU_ASSERT_EQUAL(snd_peer_state(&s, 0), XSP_DONE);
	replay(&s, first, firstlen);
	replay(&s, f.hello, f.hellolen);
	run_ms(&s, 20);
	CU_ASSERT_EQUAL(snd_peer_state(&s, 0), XSP_DONE);
	CU_ASSERT_EQUAL(snd_drops(&s, PROTO_DROP_STALE), 4);
	CU_ASSERT_EQUAL(xsend_npeers(s.xs), 1);
	close(f.fd);
	snd_end(&s);
}

static uint16_t
addr_port(const struct udp_addr *a)
{
	return (ntohs(((const struct sockaddr_in *)&a->ss)->sin_port));
}

/*
 * Mission rule M5: the sender sends from a fixed port, the group's plus
 * one, so that a firewall needs that port open and not the whole
 * ephemeral range.  Two sends of one process to different groups on the
 * same port share that socket, and each gets its own receivers' answers.
 */
static void
test_fixed_port(void)
{
	struct snd	a, b;
	struct frcv	fa, fb;
	uint16_t	port;

	snd_start(&a, NULL, 3000, "127.0.0.2", 0);
	port = local_port(a.data) + 1;
	CU_ASSERT_EQUAL(xsend_port(a.xs), port);
	snd_start(&b, a.base, 5000, "127.0.0.3", port - 1);
	CU_ASSERT_EQUAL(xsend_port(b.xs), port);
	frcv_init(&fa, 0x1a, 1);
	frcv_init(&fb, 0x1b, 1);
	join(&a, &fa);
	join(&b, &fb);
	CU_ASSERT_EQUAL(addr_port(&a.from), port);
	CU_ASSERT_EQUAL(addr_port(&b.from), port);
	CU_ASSERT(a.session != b.session);
	CU_ASSERT_EQUAL(xsend_npeers(a.xs), 1);
	CU_ASSERT_EQUAL(xsend_npeers(b.xs), 1);
	CU_ASSERT_EQUAL(snd_drops(&a, PROTO_DROP_SESSION), 0);
	CU_ASSERT_EQUAL(snd_drops(&a, PROTO_DROP_AUTH), 0);
	/* One send ends; the other keeps the socket and its receiver. */
	snd_end(&b);
	frcv_report(&fa, &a, PROTO_R_READY);
	run_ms(&a, 20);
	CU_ASSERT_EQUAL(snd_peer_state(&a, 0), XSP_READY);
	close(fa.fd);
	close(fb.fd);
	snd_end(&a);
}

/*
 * The port held by another program: the send goes on from an ephemeral
 * port (with a warning) rather than failing or sharing it.
 */
static void
test_port_taken(void)
{
	struct snd	s;
	struct frcv	f;
	int		other;
	uint16_t	port;

	other = udp_socket("127.0.0.1", 0);
	port = local_port(other);
	snd_start(&s, NULL, 3000, "127.0.0.2", port - 1);
	CU_ASSERT(xsend_port(s.xs) != port && xsend_port(s.xs) > 0);
	frcv_init(&f, 0x2a, 1);
	join(&s, &f);
	CU_ASSERT(addr_port(&s.from) != port);
	close(f.fd);
	close(other);
	snd_end(&s);
}

static void
cleanup(void)
{
	char	cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static CU_TestInfo tests[] = {
	{ "replayed HELLOs do not reset a receiver", test_hello_replay },
	{ "the sender sends from the group's port + 1", test_fixed_port },
	{ "a port held elsewhere: an ephemeral one", test_port_taken },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	int	rv;

	log_init("test_xsend", 1, getenv("TEST_VERBOSE") != NULL ? 2 : 0);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return (1);
	}
	rv = unit_main("xsend", tests);
	cleanup();
	return (rv);
}
