/*
 * Tests for the receiver (common/xrecv.c) against a scripted sender: the
 * test builds every datagram itself with the proto_* codec and sends it
 * over unicast loopback to a receiver running on the test's event_base,
 * so that it can say things a real sender never would (oversized or
 * forged datagrams, absurd geometry, floods of announces).  A receiver
 * given a unicast address binds the wildcard address on that port and
 * joins nothing, so no multicast route or namespace is needed.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "crypto.h"
#include "log.h"
#include "proto.h"
#include "udp.h"
#include "wire.h"
#include "xrecv.h"
#include "unit.h"
#include "xpeer.h"

static uint8_t	key[AEAD_KEY_LEN] = { 0x33, 0x44, 0x55 };

/* The scripted sender. */
struct fake {
	int			fd;
	struct udp_addr		to;	/* the receiver's data address */
	uint64_t		session;
	struct aead		*kd;
	struct aead		*ka;
	struct aead		*kf;
	uint64_t		seq;
	struct proto_announce	ann;
	int			nhello;
	struct proto_hello	hello;
	struct udp_addr		rcv;	/* where its HELLOs came from */
	int			nreport;
	struct proto_report	rep;
	uint64_t		naks;	/* NAK entries in all REPORTs */
};

/* The receiver under test and what its callbacks said. */
struct rcv {
	struct event_base	*base;
	struct xrecv		*xr;
	int			 locked;
	uint64_t		 lsize;
	int			 finished;
	int			 ok;
	char			 err[PROTO_ERR_MAX + 1];
	char			 out[PATH_MAX];
	/* With data and check (test_caller_verifies). */
	uint8_t			 got[8192];
	uint64_t		 ngot;		/* bytes handed to data */
	int			 disorder;	/* not in file order */
	int			 nchecks;
	int			 refuse;	/* check says no */
};

static void
rcv_locked(void *arg, uint64_t session, uint64_t size)
{
	struct rcv	*r = arg;

	r->locked = 1;
	r->lsize = size;
}

static void
rcv_finished(void *arg, int ok, const char *err)
{
	struct rcv	*r = arg;

	r->finished = 1;
	r->ok = ok;
	snprintf(r->err, sizeof(r->err), "%s", err != NULL ? err : "");
}

static void
rcv_data(void *arg, uint64_t off, const uint8_t *buf, size_t len)
{
	struct rcv	*r = arg;

	if (off != r->ngot || off + len > sizeof(r->got)) {
		r->disorder = 1;
		return;
	}
	memcpy(r->got + off, buf, len);
	r->ngot += len;
}

static int
rcv_check(void *arg, char *err, size_t errlen)
{
	struct rcv	*r = arg;

	r->nchecks++;
	if (r->refuse) {
		snprintf(err, errlen, "refused by the test");
		return (-1);
	}
	return (0);
}

static const struct xrecv_cb	rcv_cb = { rcv_locked, NULL, rcv_finished,
    NULL, NULL };

static void
rcv_start_cb(struct rcv *r, struct fake *f, const struct xrecv_conf *extra,
    const struct xrecv_cb *cb, int refuse)
{
	struct xrecv_conf		conf;
	char				addr[64], err[256];
	char				path[PATH_MAX + 16];

	memset(r, 0, sizeof(*r));
	r->refuse = refuse;
	snprintf(r->out, sizeof(r->out), "%s/out", unit_dir);
	(void)unlink(r->out);
	snprintf(path, sizeof(path), "%s.fcstate", r->out);
	(void)unlink(path);
	snprintf(path, sizeof(path), "%s.fcpart", r->out);
	(void)unlink(path);
	if (extra != NULL)
		conf = *extra;
	else
		memset(&conf, 0, sizeof(conf));
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", xpeer_free_port());
	CU_ASSERT_FATAL(udp_parse(addr, &conf.group, 0, err,
	    sizeof(err)) == 0);
	f->to = conf.group;
	if (conf.out == NULL)
		conf.out = r->out;
	memcpy(conf.key, key, sizeof(key));
	r->base = event_base_new();
	CU_ASSERT_FATAL(r->base != NULL);
	r->xr = xrecv_new(r->base, &conf, cb, r, err, sizeof(err));
	CU_ASSERT_FATAL(r->xr != NULL);
	CU_ASSERT_FATAL(xrecv_start(r->xr) == 0);
}

static void
rcv_start(struct rcv *r, struct fake *f, const struct xrecv_conf *extra)
{
	rcv_start_cb(r, f, extra, &rcv_cb, 0);
}

static void
rcv_end(struct rcv *r)
{
	xrecv_free(r->xr);
	event_base_free(r->base);
}

static void
fake_init(struct fake *f, uint64_t session, uint64_t size, uint16_t sym)
{
	uint8_t	kd[AEAD_KEY_LEN], kf[AEAD_KEY_LEN], ka[AEAD_KEY_LEN];

	memset(f, 0, sizeof(*f));
	f->fd = xpeer_socket("127.0.0.1", 0);
	f->session = session;
	CU_ASSERT_FATAL(proto_derive_keys(key, session, kd, kf, ka) == 0);
	f->kd = aead_new(kd);
	f->kf = aead_new(kf);
	f->ka = aead_new(ka);
	f->ann.deadline_ms = UINT32_MAX;
	f->ann.size = size;
	f->ann.sym = sym;
	f->ann.k = 4;
	f->ann.il = 2;
	f->ann.state = PROTO_S_SENDING;
	f->ann.rate = 1000000;
	f->ann.report_ms = 100;
	f->ann.backoff_ms = 10;
	f->ann.drop_ms = 5000;
}

/* Send from another loopback address (127.0.0.0/8 is all local). */
static void
fake_rebind(struct fake *f, const char *ip)
{
	close(f->fd);
	f->fd = xpeer_socket(ip, 0);
}

static void
fake_free(struct fake *f)
{
	close(f->fd);
	aead_free(f->kd);
	aead_free(f->kf);
	aead_free(f->ka);
}

static void
fake_raw(struct fake *f, const void *buf, size_t len,
    const struct udp_addr *to)
{
	CU_ASSERT(sendto(f->fd, buf, len, 0, (const struct sockaddr *)&to->ss,
	    to->len) == (ssize_t)len);
}

/*
 * Seal a sender packet (DATA, REPAIR, ANNOUNCE, NCF, ACK) and send it;
 * forged, one byte of its ciphertext is changed on the way.
 */
static void
fake_send2(struct fake *f, uint8_t type, const uint8_t *sub, const void *body,
    size_t len, const struct udp_addr *to, int forged)
{
	uint8_t	nonce[PROTO_NONCE_LEN], dg[PROTO_MAX_DGRAM];
	ssize_t	n;

	f->seq++;
	proto_sender_nonce(f->seq, (uint32_t)f->seq * 1000, nonce);
	n = proto_seal(type == PROTO_ACK ? f->ka : f->kd, type, f->session,
	    nonce, sub, body, len, dg, sizeof(dg));
	CU_ASSERT_FATAL(n > 0);
	if (forged)
		dg[n - PROTO_TAG_LEN - 1] ^= 0x01;
	fake_raw(f, dg, (size_t)n, to);
}

static void
fake_send(struct fake *f, uint8_t type, const uint8_t *sub, const void *body,
    size_t len, const struct udp_addr *to)
{
	fake_send2(f, type, sub, body, len, to, 0);
}

static void
fake_announce(struct fake *f)
{
	struct wire_w	w;
	uint8_t		body[PROTO_ANNOUNCE_LEN];

	wire_w_fixed(&w, body, sizeof(body));
	CU_ASSERT_FATAL(proto_put_announce(&w, &f->ann) == 0);
	fake_send(f, PROTO_ANNOUNCE, NULL, body, w.len, &f->to);
}

static void
fake_ack(struct fake *f, uint64_t challenge, uint8_t verdict)
{
	struct proto_ack	a;
	struct wire_w		w;
	uint8_t			body[PROTO_ACK_LEN];

	a.rid = f->hello.rid;
	a.incarnation = f->hello.incarnation;
	a.challenge = challenge;
	a.verdict = verdict;
	a.reason = verdict == PROTO_ACK_REJECTED ? PROTO_RJ_STRAGGLER : 0;
	wire_w_fixed(&w, body, sizeof(body));
	CU_ASSERT_FATAL(proto_put_ack(&w, &a) == 0);
	fake_send(f, PROTO_ACK, NULL, body, w.len, &f->rcv);
}

/* Symbol i as DATA, its body a pattern of i; forged or not. */
static void
fake_data(struct fake *f, uint64_t i, int forged)
{
	uint8_t		sub[PROTO_SUB_LEN], body[PROTO_MAX_SYM];
	uint64_t	left = f->ann.size - i * f->ann.sym;
	size_t		len = left < f->ann.sym ? (size_t)left : f->ann.sym, j;

	for (j = 0; j < len; j++)
		body[j] = (uint8_t)(i * 31 + j);
	wire_store64(sub, i);
	fake_send2(f, PROTO_DATA, sub, body, len, &f->to, forged);
}

/*
 * The whole file fake_data sends, into buf (len bytes, the announced
 * size), and its SHA-256 as the digest the fake announces.
 */
static void
fake_file(struct fake *f, uint8_t *buf, size_t len)
{
	struct sha256	*h;
	size_t		 j;

	for (j = 0; j < len; j++)
		buf[j] = (uint8_t)((j / f->ann.sym) * 31 + j % f->ann.sym);
	h = sha256_new();
	sha256_update(h, buf, len);
	sha256_final(h, f->ann.digest);
	sha256_free(h);
}

/* Parity number rseq of group g (its body is noise: never decoded). */
static void
fake_repair(struct fake *f, uint32_t g, uint32_t rseq, int forged)
{
	uint8_t		sub[PROTO_SUB_LEN], body[PROTO_MAX_SYM];

	memset(body, 0x77, f->ann.sym);
	wire_store32(sub, g);
	wire_store32(sub + 4, rseq);
	fake_send2(f, PROTO_REPAIR, sub, body, f->ann.sym, &f->to, forged);
}

/* Read what the receiver sent us: HELLOs and REPORTs. */
static void
fake_poll(struct fake *f)
{
	struct proto_hdr	h;
	struct proto_hello	hello;
	struct udp_addr		from;
	enum proto_drop		why;
	uint8_t			buf[PROTO_MAX_DGRAM], plain[PROTO_MAX_DGRAM];
	ssize_t			n;

	for (;;) {
		from.len = sizeof(from.ss);
		n = recvfrom(f->fd, buf, sizeof(buf), 0,
		    (struct sockaddr *)&from.ss, &from.len);
		if (n == -1)
			return;
		if (proto_decode(buf, (size_t)n, &h, &why) == -1 ||
		    h.session != f->session ||
		    proto_open(f->kf, &h, plain, sizeof(plain)) == -1)
			continue;
		if (h.type == PROTO_HELLO &&
		    proto_get_hello(plain, h.ctlen, &hello) == 0) {
			hello.rid = h.rid;
			f->hello = hello;
			f->rcv = from;
			f->nhello++;
		} else if (h.type == PROTO_REPORT &&
		    proto_get_report(plain, h.ctlen, &f->rep) == 0) {
			f->rep.rid = h.rid;
			f->nreport++;
			f->naks += f->rep.nnak;
		}
	}
}

/* Announce until the receiver says HELLO, accept it; 1 once locked. */
static int
fake_join(struct fake *f, struct rcv *r)
{
	int	i;

	for (i = 0; i < 100 && !r->locked && !r->finished; i++) {
		fake_announce(f);
		xpeer_run_ms(r->base, 20);
		fake_poll(f);
		if (f->nhello > 0) {
			fake_ack(f, f->hello.challenge, PROTO_ACK_ACCEPTED);
			xpeer_run_ms(r->base, 20);
		}
	}
	return (r->locked);
}

/*
 * The first pass is over (progress symbols sent) and the digest known:
 * announce it until the receiver finishes, confirming its DONE.
 */
static void
fake_drain(struct fake *f, struct rcv *r, uint64_t progress)
{
	int	k;

	f->ann.state = PROTO_S_DRAINING;
	f->ann.progress = progress;
	f->ann.flags = PROTO_AF_DIGEST;
	for (k = 0; k < 50 && !r->finished; k++) {
		fake_announce(f);
		xpeer_run_ms(r->base, 20);
		fake_poll(f);
		if (f->nreport > 0 && f->rep.state == PROTO_R_DONE)
			fake_ack(f, 0, PROTO_ACK_DONE);
	}
}

static uint64_t
rcv_drops(struct rcv *r, enum proto_drop d)
{
	struct xrecv_stats	st;

	xrecv_stats(r->xr, &st);
	return (st.drops[d]);
}

/*
 * Review finding 1: an ANNOUNCE of 9 KB, from anyone (no key needed), was
 * decrypted into an 8 KB stack buffer before its length was checked.  It
 * must be refused by its length, before any key is derived.
 */
static void
test_oversized_announce(void)
{
	struct fake	f;
	struct rcv	r;
	uint8_t		dg[9100];
	size_t		i;
	int		k;

	fake_init(&f, 0x1122334455667788ULL, 10000, 1024);
	rcv_start(&r, &f, NULL);
	for (i = 0; i < sizeof(dg); i++)
		dg[i] = (uint8_t)(i * 7 + 3);
	dg[0] = PROTO_MAGIC0;
	dg[1] = PROTO_MAGIC1;
	dg[2] = PROTO_VERSION;
	dg[3] = PROTO_ANNOUNCE;
	wire_store64(dg + 4, f.session);
	memset(dg + 12, 0, 4);
	for (k = 0; k < 3; k++) {
		fake_raw(&f, dg, sizeof(dg), &f.to);
		/* Announces with fresh sessions pass the rate limiter. */
		xpeer_run_ms(r.base, 30);
		wire_store64(dg + 4, f.session + k + 1);
	}
	CU_ASSERT(!r.finished);
	CU_ASSERT_EQUAL(rcv_drops(&r, PROTO_DROP_RANGE), 3);
	CU_ASSERT_EQUAL(rcv_drops(&r, PROTO_DROP_AUTH), 0);
	/* A real announce still works afterwards. */
	CU_ASSERT(fake_join(&f, &r));
	CU_ASSERT_EQUAL(r.lsize, 10000);
	rcv_end(&r);
	fake_free(&f);
}

/*
 * Review finding 5: DATA was acted on before it was authenticated.  A
 * forged DATA for the last symbol made every block before it "passed", so
 * the receiver NAKed the whole file; forged DATA and REPAIR must change
 * nothing, and the authentic stream must go on as if they never came.
 */
static void
test_forged_data_ignored(void)
{
	struct fake		f;
	struct rcv		r;
	struct xrecv_stats	st;
	uint64_t		nsym;
	int			k;

	/* 256 blocks of 8 symbols of 1 KiB. */
	fake_init(&f, 0x5eed5eed5eedULL, 2 << 20, 1024);
	nsym = (f.ann.size + f.ann.sym - 1) / f.ann.sym;
	rcv_start(&r, &f, NULL);
	CU_ASSERT_FATAL(fake_join(&f, &r));
	fake_data(&f, 0, 0);
	for (k = 0; k < 7; k++) {
		fake_data(&f, nsym - 1 - (uint64_t)k * 100, 1);
		fake_repair(&f, 400 + (uint32_t)k, 0, 1);
	}
	for (k = 0; k < 10; k++) {
		xpeer_run_ms(r.base, 20);
		fake_poll(&f);
	}
	xrecv_stats(r.xr, &st);
	CU_ASSERT_EQUAL(st.drops[PROTO_DROP_AUTH], 14);
	CU_ASSERT_EQUAL(st.packets, 1);
	CU_ASSERT_EQUAL(st.naks, 0);
	CU_ASSERT_EQUAL(f.naks, 0);
	CU_ASSERT(f.nreport > 0);
	CU_ASSERT(!r.finished);
	/* Block 0 whole (symbol 0 again: a duplicate), then block 1 starts. */
	for (k = 0; k < 8; k++)
		fake_data(&f, (uint64_t)k, 0);
	fake_data(&f, 8, 0);
	xpeer_run_ms(r.base, 20);
	xrecv_stats(r.xr, &st);
	CU_ASSERT_EQUAL(st.packets, 9);
	CU_ASSERT_EQUAL(st.duplicates, 1);
	CU_ASSERT_EQUAL(st.have_bytes, 9 * 1024);
	rcv_end(&r);
	fake_free(&f);
}

/*
 * Review finding 8: the receiver trusted the announced size.  With the
 * expected size (and SHA-256) in its configuration it must not even
 * answer a sender offering anything else.
 */
static void
test_expected_file(void)
{
	struct xrecv_conf	c;
	struct fake		wrong_size, wrong_sum, right;
	struct rcv		r;
	int			k;

	memset(&c, 0, sizeof(c));
	c.expect_size = 10000;
	c.expect_digest = 1;
	memset(c.expect_sha256, 0x11, SHA256_LEN);
	fake_init(&wrong_size, 0x5151, 20000, 1024);
	rcv_start(&r, &wrong_size, &c);
	fake_init(&wrong_sum, 0x5252, 10000, 1024);
	wrong_sum.to = wrong_size.to;
	wrong_sum.ann.flags = PROTO_AF_DIGEST;
	memset(wrong_sum.ann.digest, 0x22, SHA256_LEN);
	for (k = 0; k < 10; k++) {
		fake_announce(&wrong_size);
		fake_announce(&wrong_sum);
		xpeer_run_ms(r.base, 30);
	}
	fake_poll(&wrong_size);
	fake_poll(&wrong_sum);
	CU_ASSERT_EQUAL(wrong_size.nhello, 0);
	CU_ASSERT_EQUAL(wrong_sum.nhello, 0);
	/* The second session of a pair may wait out the derivation limit. */
	CU_ASSERT(rcv_drops(&r, PROTO_DROP_RANGE) >= 18);
	CU_ASSERT(!r.locked && !r.finished);
	/* The expected file, its digest not announced yet. */
	fake_init(&right, 0x5353, 10000, 1024);
	right.to = wrong_size.to;
	CU_ASSERT(fake_join(&right, &r));
	CU_ASSERT_EQUAL(r.lsize, 10000);
	rcv_end(&r);
	fake_free(&wrong_size);
	fake_free(&wrong_sum);
	fake_free(&right);
}

/*
 * Review finding 8, the allocations: a sender with the key offering 2^48
 * bytes in 512-byte symbols asked for 64 GiB of bitmaps, and the failed
 * allocation was fatal.  The receiver must fail cleanly, tell the sender,
 * and create nothing.
 */
static void
test_absurd_geometry(void)
{
	struct fake	f;
	struct rcv	r;
	char		part[PATH_MAX + 16];

	fake_init(&f, 0x6161, (1ULL << 48) - (1ULL << 20), 512);
	f.ann.k = 128;
	f.ann.il = 1;
	rcv_start(&r, &f, NULL);
	CU_ASSERT(!fake_join(&f, &r));
	CU_ASSERT(r.finished && !r.ok);
	CU_ASSERT(strstr(r.err, "MiB here, limit") != NULL);
	xpeer_run_ms(r.base, 20);
	fake_poll(&f);
	CU_ASSERT(f.nreport > 0 && f.rep.state == PROTO_R_FAILED);
	snprintf(part, sizeof(part), "%s.fcpart", r.out);
	CU_ASSERT(access(part, F_OK) == -1);
	rcv_end(&r);
	fake_free(&f);
}

/* Larger than max_size (fleetcast receive: the free space): refused. */
static void
test_max_size(void)
{
	struct xrecv_conf	c;
	struct fake		f;
	struct rcv		r;
	char			part[PATH_MAX + 16];

	memset(&c, 0, sizeof(c));
	c.max_size = 5000;
	fake_init(&f, 0x7171, 10000, 1024);
	rcv_start(&r, &f, &c);
	CU_ASSERT(!fake_join(&f, &r));
	CU_ASSERT(r.finished && !r.ok);
	CU_ASSERT(strstr(r.err, "cannot store 10000 bytes: No space left on "
	    "device (at most 5000 here)") != NULL);
	snprintf(part, sizeof(part), "%s.fcpart", r.out);
	CU_ASSERT(access(part, F_OK) == -1);
	rcv_end(&r);
	fake_free(&f);
}

/*
 * A child process sending well-formed ANNOUNCEs with random sessions and
 * no valid tag from 127.0.0.1, about 25,000 a second, until killed (or
 * for 10 s at most, should the test die).
 */
static pid_t
flood_start(const struct udp_addr *to)
{
	uint8_t		dg[PROTO_HDR_LEN + PROTO_ANNOUNCE_LEN + PROTO_TAG_LEN];
	uint64_t	n;
	pid_t		pid;
	int		fd;

	if ((pid = fork()) != 0)
		return (pid);
	alarm(10);
	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		_exit(1);
	memset(dg, 0x5a, sizeof(dg));
	dg[0] = PROTO_MAGIC0;
	dg[1] = PROTO_MAGIC1;
	dg[2] = PROTO_VERSION;
	dg[3] = PROTO_ANNOUNCE;
	memset(dg + 12, 0, 4);
	for (n = 1;; n++) {
		wire_store64(dg + 4, (n * 0x9e3779b97f4a7c15ULL) | 1);
		(void)sendto(fd, dg, sizeof(dg), 0,
		    (const struct sockaddr *)&to->ss, to->len);
		if (n % 4 == 0)
			usleep(100);
	}
}

static uint64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/*
 * Review finding 9: one rate limiter for every announce of an unknown
 * session, so a flood of them from one address kept the real sender's
 * first announce out nearly always.  The limit is per address now: the
 * real sender (another address) is answered at its first announce, and
 * the flood gets one key derivation every 20 ms.
 */
static void
test_announce_flood(void)
{
	struct fake	f;
	struct rcv	r;
	uint64_t	t0, ms;
	pid_t		pid;
	int		k;

	fake_init(&f, 0x9191, 10000, 1024);
	rcv_start(&r, &f, NULL);
	fake_rebind(&f, "127.0.0.2");
	t0 = now_ms();
	pid = flood_start(&f.to);
	CU_ASSERT_FATAL(pid != -1);
	xpeer_run_ms(r.base, 100);
	for (k = 0; k < 15 && f.nhello == 0; k++) {
		fake_announce(&f);
		xpeer_run_ms(r.base, 100);
		fake_poll(&f);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ms = now_ms() - t0;
	CU_ASSERT(f.nhello > 0);
	CU_ASSERT(k <= 2);
	/* The flood was there, and cost one derivation per 20 ms. */
	CU_ASSERT(rcv_drops(&r, PROTO_DROP_SESSION) > 500);
	CU_ASSERT(rcv_drops(&r, PROTO_DROP_AUTH) <= ms / 20 + 2);
	CU_ASSERT(fake_join(&f, &r));
	rcv_end(&r);
	fake_free(&f);
}

/*
 * The receiver used the caller's --out string until the end instead of a
 * copy of its own (the agent keeps its copy alive for that reason).  A
 * whole transfer must land where out said when xrecv_new was called,
 * whatever the caller's buffer holds afterwards.
 */
static void
test_out_copied(void)
{
	struct xrecv_conf	 c;
	struct fake		 f;
	struct rcv		 r;
	char			 outbuf[PATH_MAX], path[PATH_MAX];
	uint8_t			 want[3000], got[3001];
	size_t			 j;
	int			 fd;
	ssize_t			 n;

	fake_init(&f, 0x8181, sizeof(want), 1024);
	fake_file(&f, want, sizeof(want));
	snprintf(path, sizeof(path), "%s/copied", unit_dir);
	(void)unlink(path);
	snprintf(outbuf, sizeof(outbuf), "%s", path);
	memset(&c, 0, sizeof(c));
	c.out = outbuf;
	rcv_start(&r, &f, &c);
	snprintf(outbuf, sizeof(outbuf), "%s/elsewhere/x", unit_dir);
	CU_ASSERT_FATAL(fake_join(&f, &r));
	for (j = 0; j < 3; j++)
		fake_data(&f, j, 0);
	fake_drain(&f, &r, 3);
	CU_ASSERT(r.finished && r.ok);
	if (!r.ok)
		fprintf(stderr, "receiver: %s\n", r.err);
	CU_ASSERT_FATAL((fd = open(path, O_RDONLY)) != -1);
	n = read(fd, got, sizeof(got));
	close(fd);
	CU_ASSERT_EQUAL(n, (ssize_t)sizeof(want));
	CU_ASSERT(memcmp(got, want, sizeof(want)) == 0);
	rcv_end(&r);
	fake_free(&f);
}

/*
 * Issue 17, hash once: a caller that verifies the file itself (the agent,
 * against the package's signed payload digest) gets every byte once, in
 * file order, and decides before the rename; the receiver does not hash
 * the file as well.  The sender announces a digest that is not the
 * file's: only the caller's check stands between the file and its place,
 * and its refusal fails the transfer with its reason and leaves nothing.
 */
static void
test_caller_verifies(void)
{
	static const struct xrecv_cb	 cb = { rcv_locked, NULL, rcv_finished,
	    rcv_data, rcv_check };
	struct fake			 f;
	struct rcv			 r;
	struct stat			 st;
	char				 path[PATH_MAX + 16];
	uint8_t				 want[5000];
	size_t				 j;
	uint64_t			 i;
	int				 refuse;

	for (j = 0; j < sizeof(want); j++)
		want[j] = (uint8_t)((j / 512) * 31 + j % 512);
	for (refuse = 0; refuse < 2; refuse++) {
		fake_init(&f, 0x9191 + refuse, sizeof(want), 512);
		memset(f.ann.digest, 0xee, sizeof(f.ann.digest));
		rcv_start_cb(&r, &f, NULL, &cb, refuse);
		CU_ASSERT_FATAL(fake_join(&f, &r));
		/* Out of order: the callback still sees file order. */
		for (i = 10; i-- > 0;)
			fake_data(&f, i, 0);
		fake_drain(&f, &r, 10);
		CU_ASSERT(r.finished);
		CU_ASSERT_EQUAL(r.nchecks, 1);
		CU_ASSERT(!r.disorder);
		CU_ASSERT_EQUAL(r.ngot, sizeof(want));
		CU_ASSERT(memcmp(r.got, want, sizeof(want)) == 0);
		snprintf(path, sizeof(path), "%s.fcpart", r.out);
		if (!refuse) {
			CU_ASSERT(r.ok);
			if (!r.ok)
				fprintf(stderr, "receiver: %s\n", r.err);
			CU_ASSERT(stat(r.out, &st) == 0 &&
			    st.st_size == (off_t)sizeof(want));
		} else {
			CU_ASSERT(!r.ok);
			CU_ASSERT(strstr(r.err, "refused by the test") != NULL);
			CU_ASSERT(stat(r.out, &st) == -1);
			CU_ASSERT(stat(path, &st) == -1);
		}
		rcv_end(&r);
		fake_free(&f);
	}
}

/* When the state file was last written (rewritten by rename: new inode). */
static int
state_stamp(struct rcv *r, struct stat *st)
{
	char	path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s.fcstate", r->out);
	return (stat(path, st));
}

/*
 * Issue 17, the bitmap persisted in batches: it went to disk every second
 * (fdatasync, temp file, fsync, rename, directory fsync) even when nothing
 * new was on disk, a receiver waiting for its sender included.  Now only
 * what changed is persisted, still within a second of reaching the disk.
 */
static void
test_persist_when_changed(void)
{
	struct fake	f;
	struct rcv	r;
	struct stat	a, b;
	uint64_t	i;

	fake_init(&f, 0xa1a1, 3000, 1024);
	rcv_start(&r, &f, NULL);
	CU_ASSERT_FATAL(fake_join(&f, &r));
	xpeer_run_ms(r.base, 50);
	CU_ASSERT_FATAL(state_stamp(&r, &a) == 0);
	xpeer_run_ms(r.base, 2500);
	CU_ASSERT_FATAL(state_stamp(&r, &b) == 0);
	CU_ASSERT(a.st_ino == b.st_ino &&
	    a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
	    a.st_mtim.tv_nsec == b.st_mtim.tv_nsec);
	/* The block completes, is written: its bits follow within 1 s. */
	for (i = 0; i < 3; i++)
		fake_data(&f, i, 0);
	xpeer_run_ms(r.base, 1500);
	CU_ASSERT(!r.finished);
	CU_ASSERT_FATAL(state_stamp(&r, &b) == 0);
	CU_ASSERT(a.st_ino != b.st_ino ||
	    a.st_mtim.tv_sec != b.st_mtim.tv_sec ||
	    a.st_mtim.tv_nsec != b.st_mtim.tv_nsec);
	rcv_end(&r);
	fake_free(&f);
}

/*
 * Issue #12 finding 3: the receiver sent its HELLO to whoever announced
 * last and, once locked, kept that address, so one captured ANNOUNCE
 * replayed from a spoofed address at 1,650/s kept it from joining for the
 * whole replay.  Now every announcing address gets its own HELLO, and the
 * address of the authentic ACK is the sender's: it locks within a second
 * and its REPORTs go to the sender, none to the replayer.  (On main this
 * fails: the HELLOs go to the replayer, the sender never sees one.)
 */
static void
test_replayed_announce(void)
{
	struct fake	f, spoof;
	struct rcv	r;
	uint64_t	t0;
	int		i, k;

	fake_init(&f, 0xa1a1, 10000, 1024);
	rcv_start(&r, &f, NULL);
	/* The same session's keys and ANNOUNCE: a capture, replayed. */
	fake_init(&spoof, 0xa1a1, 10000, 1024);
	fake_rebind(&spoof, "127.0.0.3");
	spoof.to = f.to;
	t0 = now_ms();
	for (k = 0; k < 50 && !r.locked; k++) {
		for (i = 0; i < 30; i++)
			fake_announce(&spoof);
		if (k % 5 == 0)
			fake_announce(&f);
		xpeer_run_ms(r.base, 20);
		fake_poll(&f);
		fake_poll(&spoof);
		if (f.nhello > 0)
			fake_ack(&f, f.hello.challenge, PROTO_ACK_ACCEPTED);
	}
	CU_ASSERT_FATAL(r.locked);
	CU_ASSERT(now_ms() - t0 < 1000);
	CU_ASSERT(spoof.nhello > 0);	/* asked too, and never answered */
	/* Still replayed after locking: the sender's address holds. */
	for (k = 0; k < 10; k++) {
		for (i = 0; i < 30; i++)
			fake_announce(&spoof);
		xpeer_run_ms(r.base, 20);
	}
	fake_poll(&f);
	fake_poll(&spoof);
	CU_ASSERT(f.nreport > 0);
	CU_ASSERT_EQUAL(spoof.nreport, 0);
	rcv_end(&r);
	fake_free(&f);
	fake_free(&spoof);
}

/*
 * Issue #17: an ACK lost at 5% loss held a receiver back 0.2 to 0.3 s
 * (it said HELLO again only 200 ms later), one run in five of a 2.6 s
 * transfer to 2 receivers.  Announced every 25 ms (a waiting sender), it
 * asks again within 50 to 100 ms, and still no sooner than 40 ms: the
 * limit per address holds.  (Before, the second HELLO came at 200 ms.)
 */
static void
test_lost_ack_retried(void)
{
	struct fake	f;
	struct rcv	r;
	uint64_t	t1 = 0, t2 = 0;
	int		k;

	fake_init(&f, 0xb2b2, 10000, 1024);
	rcv_start(&r, &f, NULL);
	for (k = 0; k < 40 && t2 == 0; k++) {
		fake_announce(&f);
		xpeer_run_ms(r.base, 25);
		fake_poll(&f);
		if (f.nhello == 1 && t1 == 0)
			t1 = now_ms();	/* its ACK is "lost": none is sent */
		if (f.nhello >= 2)
			t2 = now_ms();
	}
	CU_ASSERT_FATAL(t1 != 0 && t2 != 0);
	CU_ASSERT(t2 - t1 >= 40);
	CU_ASSERT(t2 - t1 <= 110);
	/* The second HELLO's challenge locks it. */
	fake_ack(&f, f.hello.challenge, PROTO_ACK_ACCEPTED);
	xpeer_run_ms(r.base, 20);
	CU_ASSERT(r.locked);
	rcv_end(&r);
	fake_free(&f);
}

/*
 * Issue #17: a receiver that has the file says DONE until it is ACKed;
 * a lost ACK held its end 100 ms, a sixth of a 0.6 s transfer.  It says
 * DONE again within 25 ms for the first 100 ms, then every 100 ms.
 * (Before: the second DONE came 100 ms after the first.)
 */
static void
test_lost_done_ack(void)
{
	struct fake	f;
	struct rcv	r;
	uint8_t		 want[3000];
	uint64_t	 t[8];
	int		 n = 0, k, j;

	fake_init(&f, 0xd0d0, sizeof(want), 1024);
	fake_file(&f, want, sizeof(want));
	rcv_start(&r, &f, NULL);
	CU_ASSERT_FATAL(fake_join(&f, &r));
	for (j = 0; j < 3; j++)
		fake_data(&f, j, 0);
	f.ann.state = PROTO_S_DRAINING;
	f.ann.progress = 3;
	f.ann.flags = PROTO_AF_DIGEST;
	/* Its DONEs, none ACKed, for 300 ms. */
	for (k = 0; k < 60 && n < 8; k++) {
		fake_announce(&f);
		xpeer_run_ms(r.base, 5);
		f.nreport = 0;
		fake_poll(&f);
		if (f.nreport > 0 && f.rep.state == PROTO_R_DONE)
			t[n++] = now_ms();
	}
	CU_ASSERT_FATAL(n >= 5);
	/* 25 ms, with room for a test descheduled on a loaded host (was 100). */
	CU_ASSERT(t[1] - t[0] <= 70);
	CU_ASSERT(t[2] - t[1] <= 70);
	/* Later, no faster than every 100 ms. */
	CU_ASSERT(t[n - 1] - t[n - 2] >= 80);
	fake_ack(&f, 0, PROTO_ACK_DONE);
	xpeer_run_ms(r.base, 20);
	CU_ASSERT(r.finished && r.ok);
	rcv_end(&r);
	fake_free(&f);
}

/* REPORTs a locked receiver sends over ms, the fake announcing. */
static int
fake_count_reports(struct fake *f, struct rcv *r, int ms)
{
	int	k;

	f->nreport = 0;
	for (k = 0; k < ms / 10; k++) {
		fake_announce(f);
		xpeer_run_ms(r->base, 10);
		fake_poll(f);
	}
	return (f->nreport);
}

/*
 * Issue #17: the rate's first loss figure came 90-115 ms into the stream
 * (a REPORT every 100 ms), when slow start had reached 2.6 times a
 * silent 1 Gbit/s port.  A sender that announces FAST gets a REPORT every
 * 10 ms, and the usual 100 ms again once it stops saying so.  (Before:
 * 2 to 4 in 300 ms either way.)
 */
static void
test_fast_reports(void)
{
	struct fake	f;
	struct rcv	r;
	uint8_t		want[20 * 1024];
	int		n;

	fake_init(&f, 0xfa57, sizeof(want), 1024);
	fake_file(&f, want, sizeof(want));
	rcv_start(&r, &f, NULL);
	f.ann.flags = PROTO_AF_FAST;
	CU_ASSERT_FATAL(fake_join(&f, &r));
	fake_data(&f, 0, 0);		/* receiving */
	n = fake_count_reports(&f, &r, 300);
	CU_ASSERT(n >= 20);
	if (n < 20)
		fprintf(stderr, "%d REPORTs in 300 ms with FAST\n", n);
	f.ann.flags = 0;
	n = fake_count_reports(&f, &r, 300);
	CU_ASSERT(n >= 2 && n <= 5);
	if (n < 2 || n > 5)
		fprintf(stderr, "%d REPORTs in 300 ms without\n", n);
	rcv_end(&r);
	fake_free(&f);
}

/*
 * Issue #12 finding 4: random-session ANNOUNCEs exhausted the shared key
 * derivation budget.  Told its session (the agent, from START), the
 * receiver derives nothing for any other: the whole flood is `session`,
 * no forged announce is even opened (`auth` stays 0), and the real
 * sender is answered at once.  (On main every derivation the budget
 * allows fails as `auth`.)
 */
static void
test_session_filter(void)
{
	struct xrecv_conf	c;
	struct fake		f;
	struct rcv		r;
	pid_t			pid;
	int			k;

	fake_init(&f, 0xb1b1, 10000, 1024);
	memset(&c, 0, sizeof(c));
	c.session = 0xb1b1;
	rcv_start(&r, &f, &c);
	fake_rebind(&f, "127.0.0.2");
	pid = flood_start(&f.to);
	CU_ASSERT_FATAL(pid != -1);
	xpeer_run_ms(r.base, 150);
	for (k = 0; k < 15 && f.nhello == 0; k++) {
		fake_announce(&f);
		xpeer_run_ms(r.base, 50);
		fake_poll(&f);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CU_ASSERT(f.nhello > 0);
	CU_ASSERT(k <= 2);
	CU_ASSERT(rcv_drops(&r, PROTO_DROP_SESSION) > 500);
	CU_ASSERT_EQUAL(rcv_drops(&r, PROTO_DROP_AUTH), 0);
	CU_ASSERT(fake_join(&f, &r));
	rcv_end(&r);
	fake_free(&f);
}

/*
 * A member receiver (member id and key) answers only a sender keyed per
 * member, with HELLOs only its own key opens, and takes no ACK but one
 * sealed with its own ACK key: another member (which holds the run's data
 * key, but not this one's key) cannot refuse it or lock it.  A PSK
 * receiver does not answer a member-keyed sender.
 */
static void
test_member_receiver(void)
{
	struct xrecv_conf	c;
	struct fake		f;
	struct rcv		r;
	struct aead		*other, *own;
	uint8_t			k[AEAD_KEY_LEN], m[AEAD_KEY_LEN];
	int			i;

	memset(m, 0x4d, sizeof(m));
	fake_init(&f, 0xc1c1, 10000, 1024);
	memset(&c, 0, sizeof(c));
	c.rid = 0x1234;
	memcpy(c.member_key, m, sizeof(m));
	rcv_start(&r, &f, &c);
	/* A PSK sender (no MEMBERS flag): never answered. */
	for (i = 0; i < 5; i++) {
		fake_announce(&f);
		xpeer_run_ms(r.base, 20);
	}
	fake_poll(&f);
	CU_ASSERT_EQUAL(f.nhello, 0);
	rcv_end(&r);
	fake_free(&f);

	fake_init(&f, 0xc2c2, 10000, 1024);
	f.ann.flags |= PROTO_AF_MEMBERS;
	rcv_start(&r, &f, &c);
	/* Its HELLOs open with its member feedback key, its id in clear. */
	CU_ASSERT_FATAL(proto_derive(m, PROTO_K_FEEDBACK, f.session, k) == 0);
	aead_free(f.kf);
	f.kf = aead_new(k);
	for (i = 0; i < 10 && f.nhello == 0; i++) {
		fake_announce(&f);
		xpeer_run_ms(r.base, 20);
		fake_poll(&f);
	}
	CU_ASSERT_FATAL(f.nhello > 0);
	CU_ASSERT_EQUAL(f.hello.rid, 0x1234);
	/* A REJECTED sealed with another member's ACK key: not taken. */
	memset(k, 0x99, sizeof(k));
	CU_ASSERT_FATAL(proto_derive(k, PROTO_K_ACK, f.session, k) == 0);
	other = aead_new(k);
	own = f.ka;
	f.ka = other;
	fake_ack(&f, f.hello.challenge, PROTO_ACK_REJECTED);
	xpeer_run_ms(r.base, 30);
	CU_ASSERT(!r.finished);
	CU_ASSERT(rcv_drops(&r, PROTO_DROP_AUTH) >= 1);
	/* With the PSK's ACK key either (what v2 would have used). */
	f.ka = own;
	aead_free(other);
	CU_ASSERT_FATAL(proto_derive(m, PROTO_K_ACK, f.session, k) == 0);
	aead_free(f.ka);
	f.ka = aead_new(k);
	CU_ASSERT(fake_join(&f, &r));
	rcv_end(&r);
	fake_free(&f);
}

static CU_TestInfo tests[] = {
	{ "a REPORT every 10 ms while the ANNOUNCE says FAST",
	    test_fast_reports },
	{ "a replayed ANNOUNCE from a spoofed source (#12 3)",
	    test_replayed_announce },
	{ "a lost ACK is asked again within 100 ms", test_lost_ack_retried },
	{ "a lost ACK of DONE is asked again within 25 ms", test_lost_done_ack },
	{ "told its session, a flood costs nothing (#12 4)",
	    test_session_filter },
	{ "member mode: own keys, no other member's ACK",
	    test_member_receiver },
	{ "oversized ANNOUNCE refused by length", test_oversized_announce },
	{ "forged DATA and REPAIR change nothing", test_forged_data_ignored },
	{ "only the expected file is answered", test_expected_file },
	{ "absurd geometry fails cleanly", test_absurd_geometry },
	{ "larger than max_size fails cleanly", test_max_size },
	{ "an announce flood from one address", test_announce_flood },
	{ "the out path is copied", test_out_copied },
	{ "a caller that verifies gets each byte once", test_caller_verifies },
	{ "the bitmap is persisted when it changed", test_persist_when_changed },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	return (xpeer_main("test_xrecv", "xrecv", tests));
}
