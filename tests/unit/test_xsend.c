/*
 * Tests for the sender (common/xsend.c) against scripted receivers: the
 * sender runs on the test's event_base and streams to a unicast loopback
 * address where the test listens; the test answers with HELLOs and
 * REPORTs it builds itself with the proto_* codec, so that it can also
 * replay them from elsewhere, as an attacker on the path would.  The
 * tests of skipping held blocks count the DATA the sender sends.
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
#include "mono.h"
#include "proto.h"
#include "udp.h"
#include "wire.h"
#include "xsend.h"
#include "unit.h"
#include "xpeer.h"

static uint8_t	key[AEAD_KEY_LEN] = { 0x66, 0x77 };

/* The sender under test. */
struct snd {
	struct event_base	*base;
	int			 own_base;
	struct xsend		*xs;
	struct udp_addr		 to;	/* where it sends: our data socket */
	int			 data;	/* bound there */
	int			 finished;
	int			 ok;
	int			 nprogress;	/* progress callbacks */
	uint64_t		 session;
	struct aead		*kd;
	struct aead		*kf;
	struct aead		*ka;
	struct udp_addr		 from;	/* source of its packets */
	int			 nann;
	struct proto_announce	 ann;	/* the last one */
	int			 nann_digest;	/* with the digest flag */
	int			 first_ann_digest;	/* the first had it */
	uint64_t		 ndata;
	uint8_t			 bdata[64];	/* blocks with DATA, per bit */
	uint32_t		 bsym;		/* symbols per block */
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
	struct aead		*kf;	/* member mode: its own keys */
	struct aead		*ka;
};

static void
snd_finished(void *arg, int ok)
{
	struct snd	*s = arg;

	s->finished = 1;
	s->ok = ok;
}

static void
snd_progress(void *arg, const struct xsend_stats *st)
{
	struct snd	*s = arg;

	s->nprogress++;
}

/*
 * A sender of a small file to a socket of ours at ip:port (port 0: any),
 * on base (NULL: its own).
 */
static void	snd_start_conf(struct snd *, struct event_base *, size_t,
		    const char *, uint16_t, const struct xsend_conf *);

static void
snd_start(struct snd *s, struct event_base *base, size_t size, const char *ip,
    uint16_t port)
{
	snd_start_conf(s, base, size, ip, port, NULL);
}

/*
 * The same, with k, I, min_receivers, rate_max, has_digest and digest
 * taken from extra when it is not NULL.
 */
static void
snd_start_conf(struct snd *s, struct event_base *base, size_t size,
    const char *ip, uint16_t port, const struct xsend_conf *extra)
{
	static const struct xsend_cb	cb = { NULL, NULL, snd_progress, NULL,
	    NULL, snd_finished };
	struct xsend_conf		conf;
	char				path[PATH_MAX], addr[64], err[256];
	uint8_t				buf[4096];
	size_t				done;
	int				fd;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "%s/src", unit_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd != -1);
	memset(buf, 0x3c, sizeof(buf));
	for (done = 0; done < size; done += sizeof(buf))
		CU_ASSERT_FATAL(write(fd, buf, size - done < sizeof(buf) ?
		    size - done : sizeof(buf)) > 0);
	close(fd);
	s->data = xpeer_socket(ip, port);
	snprintf(addr, sizeof(addr), "%s:%u", ip, xpeer_port(s->data));
	CU_ASSERT_FATAL(udp_parse(addr, &s->to, 0, err, sizeof(err)) == 0);
	memset(&conf, 0, sizeof(conf));
	conf.path = path;
	conf.group = s->to;
	conf.min_receivers = 1;
	conf.max_wait_ms = -1;
	conf.drop_ms = 2000;
	if (extra != NULL) {
		conf.k = extra->k;
		conf.il = extra->il;
		conf.min_receivers = extra->min_receivers;
		conf.rate_max = extra->rate_max;
		conf.has_digest = extra->has_digest;
		memcpy(conf.digest, extra->digest, SHA256_LEN);
		conf.members = extra->members;
		conf.nmembers = extra->nmembers;
		conf.max_receivers = extra->max_receivers;
		if (extra->drop_ms > 0)
			conf.drop_ms = extra->drop_ms;
		conf.eject_ms = extra->eject_ms;
		conf.deadline_ms = extra->deadline_ms;
	}
	s->bsym = (conf.k ? conf.k : PROTO_DEF_K) *
	    (conf.il ? conf.il : PROTO_DEF_I);
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
	uint8_t			buf[PROTO_MAX_DGRAM], plain[PROTO_MAX_DGRAM];
	uint8_t			kd[AEAD_KEY_LEN], kf[AEAD_KEY_LEN];
	uint8_t			ka[AEAD_KEY_LEN];
	uint64_t		b;
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
			    kf, ka) == 0);
			s->kd = aead_new(kd);
			s->kf = aead_new(kf);
			s->ka = aead_new(ka);
		}
		if (h.type == PROTO_ANNOUNCE &&
		    proto_open(s->kd, &h, plain, sizeof(plain)) == 0 &&
		    proto_get_announce(plain, h.ctlen, &s->ann) == 0) {
			if (s->nann == 0)
				s->first_ann_digest = (s->ann.flags &
				    PROTO_AF_DIGEST) != 0;
			if (s->ann.flags & PROTO_AF_DIGEST)
				s->nann_digest++;
			s->nann++;
		}
		if (h.type == PROTO_DATA) {
			s->ndata++;
			b = h.index / s->bsym;
			if (b < 8 * sizeof(s->bdata))
				s->bdata[b / 8] |= 1U << (b % 8);
		}
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
	aead_free(s->ka);
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
	f->fd = xpeer_socket("127.0.0.1", 0);
	f->rid = rid;
	f->incarnation = incarnation;
}

static void
frcv_send(struct frcv *f, struct snd *s, uint8_t type, const void *body,
    size_t len, uint8_t *keep, size_t *keeplen)
{
	uint8_t	nonce[PROTO_NONCE_LEN], dg[PROTO_MAX_DGRAM];
	uint8_t	sub[PROTO_SUB_LEN];
	ssize_t	n;

	CU_ASSERT_FATAL(crypto_random(nonce, sizeof(nonce)) == 0);
	proto_feedback_sub(f->rid, sub);
	n = proto_seal(f->kf != NULL ? f->kf : s->kf, type, s->session, nonce,
	    sub, body, len, dg, sizeof(dg));
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
		    proto_open(f->ka != NULL ? f->ka : s->ka, &h, plain,
		    sizeof(plain)) == 0 &&
		    proto_get_ack(plain, h.ctlen, &f->ack) == 0)
			f->nack++;
	}
}

/* Send raw bytes from another socket (an attacker's replay). */
static void
replay(struct snd *s, const uint8_t *dg, size_t len)
{
	int	fd = xpeer_socket("127.0.0.1", 0);

	CU_ASSERT(sendto(fd, dg, len, 0, (struct sockaddr *)&s->from.ss,
	    s->from.len) == (ssize_t)len);
	close(fd);
}

/* Member mode: f speaks with its own key m (once s knows the session). */
static void
frcv_member(struct frcv *f, struct snd *s, const uint8_t *m)
{
	uint8_t	k[AEAD_KEY_LEN];
	int	i;

	for (i = 0; i < 50 && s->kd == NULL; i++) {
		xpeer_run_ms(s->base, 20);
		snd_poll(s);
	}
	CU_ASSERT_FATAL(s->kd != NULL);
	CU_ASSERT_FATAL(proto_derive(m, PROTO_K_FEEDBACK, s->session, k) == 0);
	f->kf = aead_new(k);
	CU_ASSERT_FATAL(proto_derive(m, PROTO_K_ACK, s->session, k) == 0);
	f->ka = aead_new(k);
}

static void
frcv_end(struct frcv *f)
{
	close(f->fd);
	aead_free(f->kf);
	aead_free(f->ka);
	f->kf = f->ka = NULL;
}

/* Wait for the first ANNOUNCE, say HELLO, get ACCEPTED. */
static void
join(struct snd *s, struct frcv *f)
{
	int	i;

	for (i = 0; i < 50 && s->nann == 0; i++) {
		xpeer_run_ms(s->base, 20);
		snd_poll(s);
	}
	CU_ASSERT_FATAL(s->nann > 0);
	frcv_hello(f, s);
	for (i = 0; i < 50 && f->nack == 0; i++) {
		xpeer_run_ms(s->base, 10);
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
	xpeer_run_ms(s.base, 20);
	CU_ASSERT_EQUAL(snd_peer_state(&s, 0), XSP_READY);
	/*
	 * The current HELLO, replayed from another address, and from its
	 * own once the receiver has reported (it says HELLO only before).
	 */
	replay(&s, f.hello, f.hellolen);
	CU_ASSERT(sendto(f.fd, f.hello, f.hellolen, 0,
	    (struct sockaddr *)&s.from.ss, s.from.len) ==
	    (ssize_t)f.hellolen);
	xpeer_run_ms(s.base, 20);
	CU_ASSERT_EQUAL(snd_peer_state(&s, 0), XSP_READY);
	CU_ASSERT_EQUAL(snd_drops(&s, PROTO_DROP_STALE), 2);
	/* Six restarts, then the first process's HELLO replayed. */
	for (k = 2; k <= 7; k++) {
		f.incarnation = (uint32_t)k;
		f.rseq = 0;
		frcv_hello(&f, &s);
		xpeer_run_ms(s.base, 10);
	}
	frcv_report(&f, &s, PROTO_R_DONE);
	xpeer_run_ms(s.base, 20);
	CU_ASSERT_EQUAL(snd_peer_state(&s, 0), XSP_DONE);
	replay(&s, first, firstlen);
	replay(&s, f.hello, f.hellolen);
	xpeer_run_ms(s.base, 20);
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
	port = xpeer_port(a.data) + 1;
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
	xpeer_run_ms(a.base, 20);
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

	other = xpeer_socket("127.0.0.1", 0);
	port = xpeer_port(other);
	snd_start(&s, NULL, 3000, "127.0.0.2", port - 1);
	CU_ASSERT(xsend_port(s.xs) != port && xsend_port(s.xs) > 0);
	frcv_init(&f, 0x2a, 1);
	join(&s, &f);
	CU_ASSERT(addr_port(&s.from) != port);
	close(f.fd);
	close(other);
	snd_end(&s);
}

/* Blocks of 16 symbols for the skipping tests: the file is 9 blocks. */
#define SK_K		4
#define SK_I		4
#define SK_SYM		1424
#define SK_BLOCK	(SK_K * SK_I * SK_SYM)
#define SK_NBLOCKS	9
#define SK_SIZE		(8 * SK_BLOCK + 3000)	/* last block: 3 symbols */
#define SK_NSYM_Q	((8 * SK_K * SK_I + 3) / 4)	/* a quarter of it */

static void
sk_conf(struct xsend_conf *c, int min_receivers)
{
	memset(c, 0, sizeof(*c));
	c->k = SK_K;
	c->il = SK_I;
	c->min_receivers = min_receivers;
	/* Slow enough that our socket buffer holds what comes in 10 ms. */
	c->rate_max = 8 * 1024 * 1024;
}

/* A HELD body saying that blocks lo..hi-1 of chunk 0 are held. */
static size_t
held_body(struct frcv *f, uint8_t *body, size_t size, int lo, int hi)
{
	struct proto_held	h;
	struct wire_w		w;
	int			b;

	memset(&h, 0, sizeof(h));
	h.rid = f->rid;
	h.incarnation = f->incarnation;
	h.chunk = 0;
	h.nbits = SK_NBLOCKS;
	for (b = lo; b < hi; b++)
		h.bits[b / 8] |= (uint8_t)(1U << (b % 8));
	wire_w_fixed(&w, body, size);
	CU_ASSERT_FATAL(proto_put_held(&w, &h) == 0);
	return (w.len);
}

static void
frcv_held(struct frcv *f, struct snd *s, int lo, int hi)
{
	uint8_t	body[PROTO_HELD_LEN(PROTO_HELD_BITS)];
	size_t	len;

	len = held_body(f, body, sizeof(body), lo, hi);
	frcv_send(f, s, PROTO_HELD, body, len, NULL, NULL);
}

/* Run until the first pass is over (ANNOUNCE DRAINING or later). */
static void
run_first_pass(struct snd *s)
{
	int	i;

	for (i = 0; i < 300 && s->ann.state < PROTO_S_DRAINING; i++) {
		xpeer_run_ms(s->base, 10);
		snd_poll(s);
	}
	CU_ASSERT_FATAL(s->ann.state >= PROTO_S_DRAINING);
}

static int
sent_block(const struct snd *s, int b)
{
	return ((s->bdata[b / 8] >> (b % 8)) & 1);
}

static uint64_t
snd_skipped(struct snd *s)
{
	struct xsend_stats	st;

	xsend_stats(s->xs, &st);
	return (st.skipped_bytes);
}

/*
 * Two resumed receivers: the first pass skips only the blocks both hold
 * (3, 4 and 5 of 0..8), and when their halves do not overlap, nothing.
 */
static void
test_skip_intersection(void)
{
	struct xsend_conf	c;
	struct xsend_stats	st;
	struct snd		s;
	struct frcv		f1, f2;
	int			b;

	sk_conf(&c, 2);
	snd_start_conf(&s, NULL, SK_SIZE, "127.0.0.2", 0, &c);
	frcv_init(&f1, 0x51, 1);
	frcv_init(&f2, 0x52, 1);
	join(&s, &f1);
	join(&s, &f2);
	frcv_held(&f1, &s, 0, 6);
	frcv_held(&f2, &s, 3, SK_NBLOCKS);
	xpeer_run_ms(s.base, 20);
	frcv_report(&f1, &s, PROTO_R_READY);
	frcv_report(&f2, &s, PROTO_R_READY);
	run_first_pass(&s);
	xsend_stats(s.xs, &st);
	CU_ASSERT_EQUAL(st.skipped_bytes, 3 * SK_BLOCK);
	CU_ASSERT_EQUAL(st.first_pass_bytes, SK_SIZE - 3 * SK_BLOCK);
	CU_ASSERT_EQUAL(st.data_packets, 8 * 16 + 3 - 3 * 16);
	CU_ASSERT_EQUAL(s.ndata, st.data_packets);
	for (b = 0; b < SK_NBLOCKS; b++)
		CU_ASSERT_EQUAL(sent_block(&s, b), b < 3 || b > 5);
	close(f1.fd);
	close(f2.fd);
	snd_end(&s);

	snd_start_conf(&s, NULL, SK_SIZE, "127.0.0.2", 0, &c);
	frcv_init(&f1, 0x53, 1);
	frcv_init(&f2, 0x54, 1);
	join(&s, &f1);
	join(&s, &f2);
	frcv_held(&f1, &s, 0, 4);
	frcv_held(&f2, &s, 4, SK_NBLOCKS);
	xpeer_run_ms(s.base, 20);
	frcv_report(&f1, &s, PROTO_R_READY);
	frcv_report(&f2, &s, PROTO_R_READY);
	run_first_pass(&s);
	CU_ASSERT_EQUAL(snd_skipped(&s), 0);
	for (b = 0; b < SK_NBLOCKS; b++)
		CU_ASSERT(sent_block(&s, b));
	close(f1.fd);
	close(f2.fd);
	snd_end(&s);
}

/*
 * A receiver that holds blocks but whose HELD has not been heard counts
 * as holding nothing: with one resumed receiver and one that said
 * nothing, the whole file goes out.  And a receiver that joins after the
 * first pass skipped blocks gets a skipped block resent when it NAKs it.
 */
static void
test_skip_late_joiner(void)
{
	struct xsend_conf	c;
	struct xsend_stats	st;
	struct proto_report	rep;
	struct wire_w		w;
	struct snd		s;
	struct frcv		f1, f2;
	uint8_t			body[1500];

	sk_conf(&c, 2);
	snd_start_conf(&s, NULL, SK_SIZE, "127.0.0.2", 0, &c);
	frcv_init(&f1, 0x61, 1);
	frcv_init(&f2, 0x62, 1);
	join(&s, &f1);
	join(&s, &f2);
	frcv_held(&f1, &s, 0, SK_NBLOCKS);
	xpeer_run_ms(s.base, 20);
	frcv_report(&f1, &s, PROTO_R_READY);
	frcv_report(&f2, &s, PROTO_R_READY);
	run_first_pass(&s);
	CU_ASSERT_EQUAL(snd_skipped(&s), 0);
	close(f1.fd);
	close(f2.fd);
	snd_end(&s);

	/* Alone, it holds 0..5: only 6..8 go out. */
	sk_conf(&c, 1);
	snd_start_conf(&s, NULL, SK_SIZE, "127.0.0.2", 0, &c);
	frcv_init(&f1, 0x63, 1);
	join(&s, &f1);
	frcv_held(&f1, &s, 0, 6);
	xpeer_run_ms(s.base, 20);
	frcv_report(&f1, &s, PROTO_R_READY);
	run_first_pass(&s);
	CU_ASSERT_EQUAL(snd_skipped(&s), 6 * SK_BLOCK);
	CU_ASSERT(!sent_block(&s, 1));
	/* A late joiner with nothing NAKs block 1 whole. */
	frcv_init(&f2, 0x64, 1);
	join(&s, &f2);
	memset(&rep, 0, sizeof(rep));
	rep.rid = f2.rid;
	rep.incarnation = f2.incarnation;
	rep.rseq = ++f2.rseq;
	rep.state = PROTO_R_RECEIVING;
	rep.nnak = 1;
	rep.nak[0].kind = PROTO_NAK_BLOCK;
	rep.nak[0].id = 1;
	wire_w_fixed(&w, body, sizeof(body));
	CU_ASSERT_FATAL(proto_put_report(&w, &rep) == 0);
	frcv_send(&f2, &s, PROTO_REPORT, body, w.len, NULL, NULL);
	xpeer_run_ms(s.base, 50);
	snd_poll(&s);
	xsend_stats(s.xs, &st);
	CU_ASSERT_EQUAL(st.resend_packets, 16);
	CU_ASSERT(sent_block(&s, 1));
	close(f1.fd);
	close(f2.fd);
	snd_end(&s);
}

/*
 * A receiver that is done holds everything: the rest of the first pass is
 * skipped.  One that failed does not count: the first pass goes on, for
 * whoever joins later.  At 256 KiB/s the 9 blocks take 0.8 s.
 */
static void
test_skip_done(void)
{
	struct xsend_conf	c;
	struct xsend_stats	st;
	struct snd		s;
	struct frcv		f;
	int			k;

	for (k = 0; k < 2; k++) {
		sk_conf(&c, 1);
		c.rate_max = 256 * 1024;
		snd_start_conf(&s, NULL, SK_SIZE, "127.0.0.2", 0, &c);
		frcv_init(&f, 0x91 + k, 1);
		join(&s, &f);
		frcv_report(&f, &s, PROTO_R_READY);
		xpeer_run_ms(s.base, 150);
		snd_poll(&s);
		CU_ASSERT(s.ndata > 0 && s.ndata < 8 * 16);
		frcv_report(&f, &s, k == 0 ? PROTO_R_DONE : PROTO_R_FAILED);
		run_first_pass(&s);
		xsend_stats(s.xs, &st);
		if (k == 0) {
			CU_ASSERT(st.skipped_bytes >= 4 * SK_BLOCK);
			CU_ASSERT(st.data_packets < 5 * 16);
		} else {
			CU_ASSERT_EQUAL(st.skipped_bytes, 0);
			CU_ASSERT_EQUAL(st.data_packets, 8 * 16 + 3);
		}
		close(f.fd);
		snd_end(&s);
	}
}

static void
file_digest(size_t size, uint8_t md[SHA256_LEN])
{
	char	path[PATH_MAX];
	int	fd;

	snprintf(path, sizeof(path), "%s/src", unit_dir);
	fd = open(path, O_RDONLY);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_FATAL(sha256_fd(fd, 0, size, md) == 0);
	close(fd);
}

/*
 * The digest.  Given by the caller, it is announced from the first
 * ANNOUNCE on and skipped blocks are not read.  Not given, the sender
 * hashes the file as the first pass goes, reading the blocks it skips,
 * and announces the right digest once the pass is over.
 */
static void
test_skip_digest(void)
{
	struct xsend_conf	c;
	struct snd		s;
	struct frcv		f;
	uint8_t			md[SHA256_LEN];
	int			i;

	sk_conf(&c, 1);
	snd_start_conf(&s, NULL, SK_SIZE, "127.0.0.2", 0, &c);
	file_digest(SK_SIZE, md);
	frcv_init(&f, 0x71, 1);
	join(&s, &f);
	CU_ASSERT(!s.first_ann_digest);
	frcv_held(&f, &s, 2, 8);
	xpeer_run_ms(s.base, 20);
	frcv_report(&f, &s, PROTO_R_READY);
	run_first_pass(&s);
	for (i = 0; i < 30 && !(s.ann.flags & PROTO_AF_DIGEST); i++) {
		xpeer_run_ms(s.base, 10);
		snd_poll(&s);
	}
	CU_ASSERT_EQUAL(snd_skipped(&s), 6 * SK_BLOCK);
	CU_ASSERT_FATAL(s.ann.flags & PROTO_AF_DIGEST);
	CU_ASSERT(memcmp(s.ann.digest, md, SHA256_LEN) == 0);
	close(f.fd);
	snd_end(&s);

	/* Given (here a made-up one, to tell it from a computed one). */
	sk_conf(&c, 1);
	c.has_digest = 1;
	memset(c.digest, 0xd5, SHA256_LEN);
	snd_start_conf(&s, NULL, SK_SIZE, "127.0.0.2", 0, &c);
	frcv_init(&f, 0x72, 1);
	join(&s, &f);
	CU_ASSERT(s.first_ann_digest);
	CU_ASSERT(memcmp(s.ann.digest, c.digest, SHA256_LEN) == 0);
	frcv_held(&f, &s, 0, SK_NBLOCKS);
	xpeer_run_ms(s.base, 20);
	frcv_report(&f, &s, PROTO_R_READY);
	run_first_pass(&s);
	CU_ASSERT_EQUAL(snd_skipped(&s), SK_SIZE);
	CU_ASSERT_EQUAL(s.ndata, 0);
	CU_ASSERT(s.nann_digest == s.nann);
	CU_ASSERT(memcmp(s.ann.digest, c.digest, SHA256_LEN) == 0);
	close(f.fd);
	snd_end(&s);
}

/*
 * Hostile HELD bodies are counted drops and change nothing: a bitmap
 * longer than the geometry, bits past the last block, a body longer than
 * its bit count, a chunk past the file, no bits; an unknown receiver or
 * another incarnation is stale.  Nothing is skipped afterwards.
 */
static void
test_skip_hostile_held(void)
{
	struct xsend_conf	c;
	struct snd		s;
	struct frcv		f, other;
	uint8_t			body[PROTO_HELD_LEN(PROTO_HELD_BITS) + 8];
	size_t			len;
	uint64_t		range, stale;

	sk_conf(&c, 1);
	snd_start_conf(&s, NULL, SK_SIZE, "127.0.0.2", 0, &c);
	frcv_init(&f, 0x81, 1);
	join(&s, &f);
	range = snd_drops(&s, PROTO_DROP_RANGE);
	stale = snd_drops(&s, PROTO_DROP_STALE);
	/* 16 bits for 9 blocks: longer than the geometry. */
	len = held_body(&f, body, sizeof(body), 0, SK_NBLOCKS);
	wire_store16(body + 8, 16);
	body[len - 1] |= 0x80;
	frcv_send(&f, &s, PROTO_HELD, body, len, NULL, NULL);
	/* 9 bits, and bit 12 set past the last block. */
	len = held_body(&f, body, sizeof(body), 0, SK_NBLOCKS);
	body[len - 1] |= 0x10;
	frcv_send(&f, &s, PROTO_HELD, body, len, NULL, NULL);
	/* A byte more than 9 bits need. */
	len = held_body(&f, body, sizeof(body), 0, SK_NBLOCKS);
	body[len++] = 0;
	frcv_send(&f, &s, PROTO_HELD, body, len, NULL, NULL);
	/* Chunk 1: past the file. */
	len = held_body(&f, body, sizeof(body), 0, SK_NBLOCKS);
	wire_store32(body + 4, 1);
	frcv_send(&f, &s, PROTO_HELD, body, len, NULL, NULL);
	/* No bits at all. */
	len = held_body(&f, body, sizeof(body), 0, SK_NBLOCKS);
	wire_store16(body + 8, 0);
	frcv_send(&f, &s, PROTO_HELD, body, PROTO_HELD_HDR, NULL, NULL);
	/* Not a receiver of ours; ours, another incarnation. */
	frcv_init(&other, 0x82, 1);
	frcv_held(&other, &s, 0, SK_NBLOCKS);
	f.incarnation = 7;
	frcv_held(&f, &s, 0, SK_NBLOCKS);
	f.incarnation = 1;
	xpeer_run_ms(s.base, 30);
	CU_ASSERT_EQUAL(snd_drops(&s, PROTO_DROP_RANGE) - range, 5);
	CU_ASSERT_EQUAL(snd_drops(&s, PROTO_DROP_STALE) - stale, 2);
	frcv_report(&f, &s, PROTO_R_READY);
	run_first_pass(&s);
	CU_ASSERT_EQUAL(snd_skipped(&s), 0);
	close(f.fd);
	close(other.fd);
	snd_end(&s);
}

/*
 * The progress callback runs every 250 ms, waiting for receivers as
 * while sending (fleetcast send's progress line on a terminal): once it
 * shared its clock with the debug line, which reset it first.
 */
static void
test_progress(void)
{
	struct snd	s;

	snd_start(&s, NULL, 4096, "127.0.0.1", 0);
	xpeer_run_ms(s.base, 800);
	CU_ASSERT(s.nprogress >= 2);
	CU_ASSERT(s.nprogress <= 4);
	snd_end(&s);
}

/*
 * Issue #17: while it waits for receivers the sender announces every
 * 25 ms, so that a receiver that lost an ANNOUNCE (or whose HELLO's ACK
 * was lost) is asked again soon; once it sends, every 100 ms as before.
 * (Before, 100 ms while waiting too: 4 to 6 in 500 ms.)
 */
static void
test_announce_waiting(void)
{
	struct snd	s;
	struct frcv	f;
	int		n, i;

	snd_start(&s, NULL, 200000, "127.0.0.1", 0);
	xpeer_run_ms(s.base, 10);
	snd_poll(&s);
	n = s.nann;
	xpeer_run_ms(s.base, 500);
	snd_poll(&s);
	/* 20 at 25 ms; at least 10 with a loaded host's stalls (4-6 before). */
	CU_ASSERT(s.nann - n >= 10);
	CU_ASSERT(s.nann - n <= 22);
	CU_ASSERT(s.ann.state == PROTO_S_WAITING);
	frcv_init(&f, 0x1717, 1);
	join(&s, &f);
	frcv_report(&f, &s, PROTO_R_READY);
	for (i = 0; i < 100 && s.ann.state == PROTO_S_WAITING; i++) {
		xpeer_run_ms(s.base, 10);
		snd_poll(&s);
	}
	CU_ASSERT_FATAL(s.ann.state != PROTO_S_WAITING);
	n = s.nann;
	for (i = 0; i < 5; i++) {
		frcv_report(&f, &s, PROTO_R_RECEIVING);
		xpeer_run_ms(s.base, 100);
		snd_poll(&s);
	}
	/* 5 on the timer, and one at the end of the first pass. */
	CU_ASSERT(s.nann - n >= 4);
	CU_ASSERT(s.nann - n <= 7);
	frcv_end(&f);
	snd_end(&s);
}

/*
 * Issue #17: the receivers' first loss figures came 90-115 ms into the
 * stream, a REPORT every 100 ms.  The sender asks for FAST reports (every
 * 10 ms) while it waits and for the first 300 ms of the stream, then no
 * longer (not in a group of over 64, which this does not try).  (Before:
 * never.)
 */
static void
test_announce_fast(void)
{
	struct xsend_conf	c;
	struct snd		s;
	struct frcv		f;
	uint64_t		t0 = 0;
	int			i, fast_late = 0, fast_early = 0;

	sk_conf(&c, 1);
	c.rate_max = 2 * 1024 * 1024;
	c.deadline_ms = -1;
	snd_start_conf(&s, NULL, 4 * 1024 * 1024, "127.0.0.2", 0, &c);
	xpeer_run_ms(s.base, 30);
	snd_poll(&s);
	CU_ASSERT(s.ann.state == PROTO_S_WAITING);
	CU_ASSERT(s.ann.flags & PROTO_AF_FAST);
	frcv_init(&f, 0x1818, 1);
	join(&s, &f);
	frcv_report(&f, &s, PROTO_R_READY);
	for (i = 0; i < 120; i++) {
		xpeer_run_ms(s.base, 10);
		snd_poll(&s);
		if (s.ann.state == PROTO_S_SENDING && t0 == 0)
			t0 = mono_ms();
		if (t0 == 0)
			continue;
		frcv_report(&f, &s, PROTO_R_RECEIVING);
		if (mono_ms() - t0 < 150 && (s.ann.flags & PROTO_AF_FAST))
			fast_early++;
		if (mono_ms() - t0 > 450 && (s.ann.flags & PROTO_AF_FAST))
			fast_late++;
	}
	CU_ASSERT_FATAL(t0 != 0);
	CU_ASSERT(s.ann.state == PROTO_S_SENDING);	/* 2 s of stream */
	CU_ASSERT(fast_early > 0);
	CU_ASSERT(fast_late == 0);
	frcv_end(&f);
	snd_end(&s);
}

/*
 * Issue #12 finding 2c: 4,096 HELLOs with random receiver ids filled the
 * sender's table and the real receiver was refused.  In member mode an id
 * that is not a member's is dropped unread (`member`) and takes no slot,
 * a member cannot say HELLO for another (its key does not open), and the
 * real member joins.  (On main the same flood, sealed with the shared
 * feedback key, leaves the real receiver "refused".)
 */
static void
test_member_flood(void)
{
	struct xsend_member	 mem[2];
	struct xsend_conf	 c;
	struct snd		 s;
	struct frcv		 f, att;
	int			 i;

	memset(mem, 0, sizeof(mem));
	mem[0].rid = 0x1111;
	memset(mem[0].key, 0xa1, AEAD_KEY_LEN);
	mem[1].rid = 0x2222;
	memset(mem[1].key, 0xa2, AEAD_KEY_LEN);
	memset(&c, 0, sizeof(c));
	c.min_receivers = 1;
	c.members = mem;
	c.nmembers = 2;
	snd_start_conf(&s, NULL, 3000, "127.0.0.2", 0, &c);
	/* The member 0x2222 floods with random ids, sealed with its key. */
	frcv_init(&att, 1, 1);
	frcv_member(&att, &s, mem[1].key);
	CU_ASSERT(s.ann.flags & PROTO_AF_MEMBERS);
	for (i = 0; i < 4096; i++) {
		CU_ASSERT_FATAL(crypto_random(&att.rid, sizeof(att.rid)) == 0);
		if (att.rid == 0 || att.rid == 0x1111 || att.rid == 0x2222)
			continue;
		frcv_hello(&att, &s);
		if (i % 256 == 0)
			xpeer_run_ms(s.base, 1);
	}
	xpeer_run_ms(s.base, 50);
	CU_ASSERT(snd_drops(&s, PROTO_DROP_MEMBER) >= 4000);
	CU_ASSERT_EQUAL(xsend_npeers(s.xs), 0);
	/* ...and says HELLO as 0x1111: its key is not 0x1111's. */
	att.rid = 0x1111;
	frcv_hello(&att, &s);
	xpeer_run_ms(s.base, 30);
	frcv_poll(&att, &s);
	CU_ASSERT_EQUAL(att.nack, 0);
	CU_ASSERT_EQUAL(snd_drops(&s, PROTO_DROP_AUTH), 1);
	CU_ASSERT_EQUAL(xsend_npeers(s.xs), 0);
	/* The real member joins; its ACK opens with its own key only. */
	frcv_init(&f, 0x1111, 7);
	frcv_member(&f, &s, mem[0].key);
	join(&s, &f);
	CU_ASSERT_EQUAL(xsend_npeers(s.xs), 1);
	frcv_end(&f);
	frcv_end(&att);
	snd_end(&s);
}

/*
 * PSK mode: the first max_receivers get a slot, the next is refused
 * (FULL, in the ACK) until one of them goes silent; then it takes that
 * receiver's slot.
 */
static void
test_psk_max_receivers(void)
{
	struct xsend_conf	 c;
	struct snd		 s;
	struct frcv		 f[3], late;
	int			 i;

	memset(&c, 0, sizeof(c));
	c.min_receivers = 5;	/* waits: nobody reports */
	c.max_receivers = 3;
	c.drop_ms = 300;
	snd_start_conf(&s, NULL, 3000, "127.0.0.2", 0, &c);
	for (i = 0; i < 3; i++) {
		frcv_init(&f[i], 0x100 + (uint64_t)i, 1);
		join(&s, &f[i]);
	}
	frcv_init(&late, 0x200, 1);
	frcv_hello(&late, &s);
	for (i = 0; i < 20 && late.nack == 0; i++) {
		xpeer_run_ms(s.base, 10);
		frcv_poll(&late, &s);
	}
	CU_ASSERT_FATAL(late.nack > 0);
	CU_ASSERT_EQUAL(late.ack.verdict, PROTO_ACK_REJECTED);
	CU_ASSERT_EQUAL(late.ack.reason, PROTO_RJ_FULL);
	CU_ASSERT_EQUAL(xsend_npeers(s.xs), 3);
	/* One keeps talking, two go silent and are dropped. */
	for (i = 0; i < 8; i++) {
		frcv_report(&f[0], &s, PROTO_R_READY);
		xpeer_run_ms(s.base, 60);
	}
	CU_ASSERT_EQUAL(snd_peer_state(&s, 1), XSP_DROPPED);
	late.nack = 0;
	frcv_hello(&late, &s);
	for (i = 0; i < 20 && late.nack == 0; i++) {
		xpeer_run_ms(s.base, 10);
		frcv_poll(&late, &s);
	}
	CU_ASSERT_FATAL(late.nack > 0);
	CU_ASSERT_EQUAL(late.ack.verdict, PROTO_ACK_ACCEPTED);
	CU_ASSERT_EQUAL(xsend_npeers(s.xs), 3);
	CU_ASSERT_NOT_EQUAL(snd_peer_state(&s, 0), XSP_DROPPED);
	for (i = 0; i < 3; i++)
		frcv_end(&f[i]);
	frcv_end(&late);
	snd_end(&s);
}

/*
 * A receiver's feedback is bounded in rate: a burst of 200 REPORTs is
 * mostly dropped as `budget` before decryption.
 */
static void
test_feedback_rate(void)
{
	struct snd	s;
	struct frcv	f;
	int		i;

	snd_start(&s, NULL, 3000, "127.0.0.2", 0);
	frcv_init(&f, 0x77, 1);
	join(&s, &f);
	for (i = 0; i < 200; i++)
		frcv_report(&f, &s, PROTO_R_READY);
	xpeer_run_ms(s.base, 30);
	CU_ASSERT(snd_drops(&s, PROTO_DROP_BUDGET) >= 150);
	CU_ASSERT(snd_drops(&s, PROTO_DROP_BUDGET) <= 185);
	frcv_end(&f);
	snd_end(&s);
}

/* f receiving: its loss, pk packets up to hw, BLOCK NAKs lo..hi-1. */
static void
frcv_report_rx(struct frcv *f, struct snd *s, uint16_t loss_pm, uint64_t hw,
    uint32_t pk, int lo, int hi)
{
	struct proto_report	rep;
	struct wire_w		w;
	uint8_t			body[1500];
	int			b;

	memset(&rep, 0, sizeof(rep));
	rep.rid = f->rid;
	rep.incarnation = f->incarnation;
	rep.rseq = ++f->rseq;
	rep.state = PROTO_R_RECEIVING;
	rep.loss_pm = loss_pm;
	rep.rx_hw_seq = hw;
	rep.rx_packets = pk;
	rep.rx_us = (uint32_t)mono_us();	/* its clock, as xrecv's */
	for (b = lo; b < hi && rep.nnak < PROTO_NAK_MAX; b++) {
		rep.nak[rep.nnak].kind = PROTO_NAK_BLOCK;
		rep.nak[rep.nnak++].id = (uint32_t)b;
	}
	wire_w_fixed(&w, body, sizeof(body));
	CU_ASSERT_FATAL(proto_put_report(&w, &rep) == 0);
	frcv_send(f, s, PROTO_REPORT, body, w.len, NULL, NULL);
}

/* BLOCK NAKs of blocks lo..hi-1, claiming loss_pm, seen up to hw. */
static void
frcv_naks(struct frcv *f, struct snd *s, uint16_t loss_pm, uint64_t hw,
    int lo, int hi)
{
	frcv_report_rx(f, s, loss_pm, hw, 0, lo, hi);
}

/* The same, counting pk packets arrived up to hw, no loss claimed. */
static void
frcv_naks_pk(struct frcv *f, struct snd *s, uint64_t hw, uint32_t pk, int lo,
    int hi)
{
	frcv_report_rx(f, s, 0, hw, pk, lo, hi);
}

static uint64_t
snd_resent(struct snd *s)
{
	struct xsend_stats	st;

	xsend_stats(s->xs, &st);
	return (st.resend_packets);
}

/*
 * One receiver f (id rid) that joined and was ready, no deadline, the
 * first pass sent: where the NAK and budget tests begin.
 */
static void
past_first_pass(struct snd *s, struct frcv *f, uint64_t rid)
{
	struct xsend_conf	c;

	sk_conf(&c, 1);
	c.deadline_ms = -1;
	snd_start_conf(s, NULL, SK_SIZE, "127.0.0.2", 0, &c);
	frcv_init(f, rid, 1);
	join(s, f);
	frcv_report(f, s, PROTO_R_READY);
	run_first_pass(s);
}

/*
 * Issue #12 finding 2a: a REPORT with rx_hw_seq UINT64_MAX - 1 passed,
 * and BLOCK NAKs were served for any block, without limit.  Now a seq we
 * never sent is `range`; BLOCK NAKs of a receiver that was there for the
 * block and reports no loss are not plausible (`range`); one that lost a
 * lot gets each block at most 3 times, whoever asks, then `budget`.
 */
static void
test_nak_everything(void)
{
	struct snd		s;
	struct frcv		f;
	uint64_t		range, resent;
	int			i;

	past_first_pass(&s, &f, 0x91);
	range = snd_drops(&s, PROTO_DROP_RANGE);
	frcv_naks(&f, &s, 0, UINT64_MAX - 1, 0, SK_NBLOCKS);
	xpeer_run_ms(s.base, 30);
	CU_ASSERT_EQUAL(snd_drops(&s, PROTO_DROP_RANGE), range + 1);
	CU_ASSERT_EQUAL(snd_resent(&s), 0);
	/* No loss reported, there all along: not plausible. */
	frcv_naks(&f, &s, 0, 1, 0, SK_NBLOCKS);
	xpeer_run_ms(s.base, 30);
	CU_ASSERT_EQUAL(snd_drops(&s, PROTO_DROP_RANGE), range + 1 +
	    SK_NBLOCKS);
	CU_ASSERT_EQUAL(snd_resent(&s), 0);
	/* Claiming 50% loss: served, but each block 3 times at most. */
	for (i = 0; i < 10; i++) {
		frcv_naks(&f, &s, 500, 2 + (uint64_t)snd_resent(&s) * 0, 0,
		    SK_NBLOCKS);
		xpeer_run_ms(s.base, 60);
	}
	resent = snd_resent(&s);
	CU_ASSERT(resent > 0);
	CU_ASSERT(resent <= 3ULL * (8 * SK_K * SK_I + 3));
	CU_ASSERT(snd_drops(&s, PROTO_DROP_BUDGET) > 0);
	frcv_end(&f);
	snd_end(&s);
}

/*
 * A switch port whose queue overflows drops a whole block at a low
 * average loss (bench/mcast-throughput --shape-at bridge stalled for good
 * at 14.8 of 16 MiB: every BLOCK NAK was "not plausible").  A receiver
 * whose packet counts show the loss gets a BLOCK NAK served for each
 * half block it lost, and no more.
 */
static void
test_nak_counted_loss(void)
{
	struct xsend_stats	st;
	struct snd		s;
	struct frcv		f;
	uint64_t		range, resent;

	past_first_pass(&s, &f, 0x93);
	xsend_stats(s.xs, &st);
	CU_ASSERT_FATAL(st.packets >= 130);
	frcv_naks_pk(&f, &s, 1, 1, 0, 0);
	xpeer_run_ms(s.base, 30);
	range = snd_drops(&s, PROTO_DROP_RANGE);
	/* 120 packets on, 111 arrived: 9 lost, half a block is 8. */
	frcv_naks_pk(&f, &s, 121, 112, 2, 4);
	xpeer_run_ms(s.base, 60);
	resent = snd_resent(&s);
	CU_ASSERT(resent >= SK_K * SK_I);
	CU_ASSERT(resent < 2 * SK_K * SK_I);
	CU_ASSERT_EQUAL(snd_drops(&s, PROTO_DROP_RANGE), range + 1);
	frcv_end(&f);
	snd_end(&s);
}

/*
 * A lone receiver behind a bottleneck the stream overran loses a third
 * and more, its blocks' resends too: held to a quarter of the file and
 * three resends a block, it never finished (a switch port at 1 Gbit/s).
 * Loss its packet counts show, borne out by the group (here it is the
 * group), raises its budget; the same claim from one member of a group
 * whose others lose nothing buys it nothing.
 */
static void
test_budget_counted_loss(void)
{
	struct xsend_conf	c;
	struct xsend_stats	st;
	struct snd		s;
	struct frcv		f, g;
	uint64_t		hw, resent;
	int			i;

	/* Alone: 90% of everything lost, by its counts. */
	past_first_pass(&s, &f, 0x96);
	frcv_naks_pk(&f, &s, 1, 1, 0, 0);
	xpeer_run_ms(s.base, 30);
	for (i = 0; i < 8; i++) {
		xsend_stats(s.xs, &st);
		hw = st.packets;
		frcv_naks_pk(&f, &s, hw, (uint32_t)(1 + hw / 10), 0,
		    SK_NBLOCKS);
		xpeer_run_ms(s.base, 60);
	}
	resent = snd_resent(&s);
	/* A quarter of the file and 4 blocks: 32 + 64 packets. */
	CU_ASSERT(resent > 3 * SK_NBLOCKS * SK_K * SK_I / 2);
	if (resent <= 3 * SK_NBLOCKS * SK_K * SK_I / 2)
		fprintf(stderr, "lone receiver: %llu resent\n",
		    (unsigned long long)resent);
	frcv_end(&f);
	snd_end(&s);

	/* One of two claims it; the other loses nothing. */
	sk_conf(&c, 2);
	c.deadline_ms = -1;
	snd_start_conf(&s, NULL, SK_SIZE, "127.0.0.2", 0, &c);
	frcv_init(&f, 0x97, 1);
	frcv_init(&g, 0x98, 1);
	join(&s, &f);
	join(&s, &g);
	frcv_report(&f, &s, PROTO_R_READY);
	frcv_report(&g, &s, PROTO_R_READY);
	run_first_pass(&s);
	frcv_naks_pk(&f, &s, 1, 1, 0, 0);
	frcv_naks_pk(&g, &s, 1, 1, 0, 0);
	xpeer_run_ms(s.base, 30);
	for (i = 0; i < 8; i++) {
		xsend_stats(s.xs, &st);
		hw = st.packets;
		frcv_naks_pk(&g, &s, hw, (uint32_t)hw, 0, 0);
		frcv_naks_pk(&f, &s, hw, (uint32_t)(1 + hw / 10), 0,
		    SK_NBLOCKS);
		xpeer_run_ms(s.base, 60);
	}
	resent = snd_resent(&s);
	CU_ASSERT(resent <= SK_NSYM_Q + 4 * SK_K * SK_I);
	if (resent > SK_NSYM_Q + 4 * SK_K * SK_I)
		fprintf(stderr, "claimed alone: %llu resent\n",
		    (unsigned long long)resent);
	CU_ASSERT(snd_drops(&s, PROTO_DROP_BUDGET) > 0);
	frcv_end(&f);
	frcv_end(&g);
	snd_end(&s);
}

/*
 * Issue #17: a delivered rate measured over a span that began in the
 * wait (the receiver's last REPORT before the first pass, then one of
 * its first packets) is far below what was sent, and the bound of twice
 * the slowest delivery cut a lossy group's start to a fifth.  Such a
 * span is not a delivery: the rate stays where it was.
 */
static void
test_delivery_after_wait(void)
{
	struct xsend_conf	c;
	struct xsend_stats	st;
	struct snd		s;
	struct frcv		f1, f2;
	uint64_t		hw;

	sk_conf(&c, 2);
	c.rate_max = 32 * 1024 * 1024;
	snd_start_conf(&s, NULL, 16 * 1024 * 1024, "127.0.0.2", 0, &c);
	frcv_init(&f1, 0x94, 1);
	frcv_init(&f2, 0x95, 1);
	join(&s, &f1);
	frcv_report(&f1, &s, PROTO_R_READY);
	xpeer_run_ms(s.base, 700);		/* waiting for the second */
	join(&s, &f2);
	frcv_report(&f2, &s, PROTO_R_READY);
	xpeer_run_ms(s.base, 80);
	snd_poll(&s);
	xsend_stats(s.xs, &st);
	CU_ASSERT_FATAL(st.data_packets > 200);
	/* Both got 95% of what was sent; f1's span began in the wait. */
	hw = st.packets;
	frcv_report_rx(&f1, &s, 50, hw, (uint32_t)(hw * 95 / 100), 0, 0);
	frcv_report_rx(&f2, &s, 50, hw, (uint32_t)(hw * 95 / 100), 0, 0);
	xpeer_run_ms(s.base, 60);
	xsend_stats(s.xs, &st);
	CU_ASSERT(st.rate >= 0.9 * c.rate_max);
	if (st.rate < 0.9 * c.rate_max)
		fprintf(stderr, "rate %.0f, ceiling %llu\n", st.rate,
		    (unsigned long long)c.rate_max);
	frcv_end(&f1);
	frcv_end(&f2);
	snd_end(&s);
}

/*
 * Issue #17: behind a port that drops silently what exceeds its rate (a
 * switch port slower than the sender's uplink), the rate must settle on
 * the port's rate, and parity must not be sized to the overrun.  The
 * receiver here counts what such a port of 4 MB/s would let through, of
 * everything sent, every 50 ms; over the last second the rate must be
 * within 0.7 to 1.06 times the port's, and parity at most a fifth of the
 * first pass.  The port's credit is 50 ms a step even when a loaded host
 * makes a step last longer, so the port the sender sees is then slower
 * than 4 MB/s: the lower bound has room for that (CI once gave 0.785,
 * steps of about 64 ms), while the upper bound and the parity bound are
 * what the code before fails.  The session-8 rules (a cut's ceiling at most the slowest
 * delivery, no probes while a large overrun's cut is judged, parity sized
 * to the current loss after a bottleneck verdict) give 0.95 times the
 * port and 14% parity in this model; the code before them gave 1.13
 * times and 25%, and fails.  Behind the benchmark's bridge-shaped port
 * the share sent again went from 28-39% to 10-18%.
 */
static void
test_silent_port(void)
{
	struct xsend_conf	c;
	struct xsend_stats	st;
	struct snd		s;
	struct frcv		f;
	const double		port = 4e6;	/* bytes/s */
	double			credit = 0, r[20], t;
	uint64_t		last = 0, hw, dsent;
	uint32_t		pk = 0, lpm;
	int			i, j, n = 0;

	sk_conf(&c, 1);
	c.rate_max = 16 * 1024 * 1024;
	c.deadline_ms = -1;
	snd_start_conf(&s, NULL, 24 * 1024 * 1024, "127.0.0.2", 0, &c);
	frcv_init(&f, 0x97, 1);
	join(&s, &f);
	frcv_report(&f, &s, PROTO_R_READY);
	for (i = 0; i < 70; i++) {
		xpeer_run_ms(s.base, 50);
		snd_poll(&s);
		xsend_stats(s.xs, &st);
		if (st.data_packets >= st.size / SK_SYM)
			break;		/* the first pass is over */
		hw = st.packets;
		dsent = hw - last;
		last = hw;
		/* What the port passes: its rate, less what it already did. */
		credit += port * 0.05 / (SK_SYM + 60);
		j = dsent < credit ? (int)dsent : (int)credit;
		credit -= j;
		if (credit > port * 0.01 / SK_SYM)
			credit = port * 0.01 / SK_SYM;	/* a 10 ms bucket */
		pk += (uint32_t)j;
		lpm = dsent == 0 ? 0 : (uint32_t)((dsent - j) * 1000 / dsent);
		frcv_report_rx(&f, &s, (uint16_t)lpm, hw, pk, 0, 0);
		if (i >= 40 && n < 20)
			r[n++] = st.rate;
	}
	CU_ASSERT_FATAL(n >= 10);
	/* The median rate of the last second or so. */
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && r[j - 1] > r[j]; j--) {
			t = r[j];
			r[j] = r[j - 1];
			r[j - 1] = t;
		}
	t = r[n / 2] * SK_SYM / (SK_SYM + 60);	/* payload, as the port */
	CU_ASSERT(t <= 1.06 * port);
	CU_ASSERT(t >= 0.7 * port);
	CU_ASSERT(st.repair_packets <= st.data_packets / 5);
	if (t > 1.06 * port || t < 0.7 * port ||
	    st.repair_packets > st.data_packets / 5)
		fprintf(stderr, "rate %.2f MB/s behind a %.2f MB/s port, "
		    "parity %llu for %llu\n", t / 1e6, port / 1e6,
		    (unsigned long long)st.repair_packets,
		    (unsigned long long)st.data_packets);
	frcv_end(&f);
	snd_end(&s);
}

/*
 * The deadline: a receiver not done when the session's time is up after
 * the first pass is failed ("deadline") and told so (REJECTED, reason
 * DEADLINE), and the session ends.
 */
static void
test_deadline(void)
{
	struct xsend_conf	c;
	struct snd		s;
	struct frcv		f;
	struct xsend_peer_info	pi;
	int			i;

	sk_conf(&c, 1);
	c.deadline_ms = 200;
	snd_start_conf(&s, NULL, SK_SIZE, "127.0.0.2", 0, &c);
	frcv_init(&f, 0x92, 1);
	join(&s, &f);
	frcv_report(&f, &s, PROTO_R_READY);
	run_first_pass(&s);
	CU_ASSERT(s.ann.deadline_ms <= 200);
	f.nack = 0;
	for (i = 0; i < 40 && !s.finished; i++) {
		frcv_report(&f, &s, PROTO_R_RECEIVING);
		xpeer_run_ms(s.base, 20);
	}
	CU_ASSERT_FATAL(s.finished);
	CU_ASSERT(!s.ok);
	xsend_peer(s.xs, 0, &pi);
	CU_ASSERT_EQUAL(pi.state, XSP_FAILED);
	CU_ASSERT(pi.error != NULL && strncmp(pi.error, XSEND_DEADLINE,
	    strlen(XSEND_DEADLINE)) == 0);
	frcv_poll(&f, &s);
	CU_ASSERT(f.nack > 0 && f.ack.verdict == PROTO_ACK_REJECTED &&
	    f.ack.reason == PROTO_RJ_DEADLINE);
	frcv_end(&f);
	snd_end(&s);
}

static CU_TestInfo tests[] = {
	{ "announces every 25 ms while waiting, 100 ms after",
	    test_announce_waiting },
	{ "asks for FAST reports while waiting and for 300 ms",
	    test_announce_fast },
	{ "REPORTs and NAKs out of range or budget (#12 2a)",
	    test_nak_everything },
	{ "a BLOCK NAK its packet counts show is served",
	    test_nak_counted_loss },
	{ "repairs for loss the counts show and the group bears out",
	    test_budget_counted_loss },
	{ "a delivery measured from the wait does not bound the rate",
	    test_delivery_after_wait },
	{ "behind a port that drops silently: its rate, little parity",
	    test_silent_port },
	{ "the deadline fails who is not done", test_deadline },
	{ "member mode: a HELLO flood with random ids (#12 2c)",
	    test_member_flood },
	{ "PSK mode: max_receivers, then a silent one's slot",
	    test_psk_max_receivers },
	{ "feedback rate per receiver", test_feedback_rate },
	{ "progress is reported every 250 ms", test_progress },
	{ "replayed HELLOs do not reset a receiver", test_hello_replay },
	{ "the sender sends from the group's port + 1", test_fixed_port },
	{ "a port held elsewhere: an ephemeral one", test_port_taken },
	{ "the first pass skips what all receivers hold",
	    test_skip_intersection },
	{ "a receiver that said nothing, or came late, gets everything",
	    test_skip_late_joiner },
	{ "a receiver done holds all, a failed one nothing", test_skip_done },
	{ "digest given or hashed with skipped blocks", test_skip_digest },
	{ "hostile HELD bodies are counted drops", test_skip_hostile_held },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	return (xpeer_main("test_xsend", "xsend", tests));
}
