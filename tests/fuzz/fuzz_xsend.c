/*
 * Fuzz target for the sender after authentication (common/xsend*.c): what
 * a holder of the PSK, a member of a standalone run, can make it do with
 * its feedback.  Each input gets a fresh sender of a fixed 24,000-byte
 * file to a data socket of ours on loopback (PSK mode, at most
 * FX_MAX_RX receivers); the target learns the session from the first
 * ANNOUNCE, derives the keys as every receiver does (proto_derive_keys)
 * and plays the input as feedback datagrams sealed with the feedback
 * key, so that every one of them authenticates.  The input is records:
 *
 *	u8 kind, u8 who, u16 length, length bytes
 *
 * who picks the receiver (who % FX_NID of a few fixed ids) and the
 * control socket it speaks from (who / FX_NID % 2).  Kinds (kind mod 6):
 * 0 a HELLO of that receiver (incarnation = the record's first byte), 1
 * a REPORT body and 2 a HELD body: when the bytes decode, the id and
 * incarnation are set to the receiver's (the fuzzer cannot guess them)
 * and the body re-encoded, else they go as they are; 3 a tick: the
 * sender's loop runs for the record's first byte % 4 ms (FX_TICK_MS in
 * all); 4 a body of the
 * record's first byte as type, sealed; 5 the record as a raw datagram.
 * After each record the sender's loop runs once and what it sent is
 * read.  Invariants: the peer table stays within its bound; DATA sent
 * again stays within one copy of the file (the session's repair budget,
 * xsend_repair.c); no symbol goes out more often than its block's
 * resends allow; a receiver's reported state stays a known one.
 */
#include <sys/socket.h>

#include <inttypes.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>

#include <event2/event.h>

#include "log.h"
#include "proto.h"
#include "udp.h"
#include "wire.h"
#include "xsend.h"

#define FUZZ_NAME	"xsend"
#define FUZZ_MAX_LEN	(1 << 16)
#include "fuzz.h"

#define FX_SIZE		24000	/* the file */
#define FX_MAX_RX	4	/* max_receivers */
#define FX_NID		6	/* receiver ids the input can speak as */
#define FX_MAX_SYM	4096	/* symbols tracked (the file has fewer) */
/* xsend_repair.c: a block whole again 3 times, its groups on top. */
#define FX_SYM_MAX_SENDS	8
#define FX_TICK_MS	4	/* the ticks of one input, at most */

static const uint8_t	psk[AEAD_KEY_LEN] = { 0x58, 0x53, 0x4e };

struct fx {
	int			 data;		/* the group's address */
	int			 ctl[2];	/* receivers' sockets */
	struct udp_addr		 to;		/* the sender's socket */
	int			 known;		/* session and keys learnt */
	uint64_t		 session;
	struct aead		*kd, *kf, *ka;
	struct proto_geom	 geom;
	int			 has_geom;
	uint16_t		 sends[FX_MAX_SYM];
	uint32_t		 incarnation[FX_NID];
	int			 finished;
	unsigned		 ticked;	/* ms of ticks so far */
	struct event_base	*base;
	struct xsend		*xs;
};

static void
fx_finished(void *arg, int ok)
{
	struct fx	*f = arg;

	(void)ok;
	f->finished = 1;
}

static uint64_t
fx_rid(int i)
{
	return (0x7e57000000000000ULL + (uint64_t)i * 0x1111);
}

/* One datagram to the data address: learn the session, count DATA. */
static void
fx_heard(void *arg, const struct udp_addr *from, const uint8_t *dg,
    size_t len)
{
	struct fx		*f = arg;
	uint8_t			plain[PROTO_MAX_DGRAM];
	uint8_t			kd[AEAD_KEY_LEN], kf[AEAD_KEY_LEN];
	uint8_t			ka[AEAD_KEY_LEN];
	struct proto_announce	ann;
	struct proto_hdr	h;
	enum proto_drop		why;

	if (proto_decode(dg, len, &h, &why) == -1)
		fuzz_die("the sender sent an undecodable datagram (%s)",
		    proto_drop_name(why));
	if (!f->known) {
		f->session = h.session;
		if (proto_derive_keys(psk, h.session, kd, kf, ka) == -1)
			fuzz_die("proto_derive_keys failed");
		f->kd = aead_new(kd);
		f->kf = aead_new(kf);
		f->ka = aead_new(ka);
		f->to = *from;
		f->known = 1;
	}
	if (h.session != f->session ||
	    proto_open(f->kd, &h, plain, sizeof(plain)) == -1)
		fuzz_die("the sender sent a datagram that does not open");
	if (h.type == PROTO_ANNOUNCE && !f->has_geom &&
	    proto_get_announce(plain, h.ctlen, &ann) == 0) {
		if (proto_geom_init(&f->geom, ann.size, ann.sym, ann.k,
		    ann.il) == -1 || ann.size != FX_SIZE)
			fuzz_die("the sender announced a geometry it cannot "
			    "have (size %" PRIu64 ")", ann.size);
		if (f->geom.nsym > FX_MAX_SYM)
			fuzz_die("%" PRIu64 " symbols", f->geom.nsym);
		f->has_geom = 1;
	}
	if (h.type == PROTO_DATA && f->has_geom) {
		if (h.index >= f->geom.nsym)
			fuzz_die("DATA of symbol %" PRIu64 " of %" PRIu64,
			    h.index, f->geom.nsym);
		if (++f->sends[h.index] > FX_SYM_MAX_SENDS)
			fuzz_die("symbol %" PRIu64 " sent %u times", h.index,
			    f->sends[h.index]);
	}
}

static void
fx_drain(struct fx *f)
{
	uint8_t		dg[PROTO_MAX_DGRAM];
	int		i;

	fuzz_udp_read(f->data, fx_heard, f);
	/* ACKs are the sender's business; they must not pile up. */
	for (i = 0; i < 2; i++)
		while (recv(f->ctl[i], dg, sizeof(dg), 0) >= 0)
			;
}

static void
fx_run(struct fx *f)
{
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	fx_drain(f);
}

static void
fx_tick(struct fx *f, unsigned ms)
{
	struct timespec	t0, t;
	double		el;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		fx_drain(f);
		clock_gettime(CLOCK_MONOTONIC, &t);
		el = (double)(t.tv_sec - t0.tv_sec) * 1e3 +
		    (double)(t.tv_nsec - t0.tv_nsec) / 1e6;
		if (el < ms)
			usleep(200);
	} while (el < ms);
}

static void
fx_check(struct fx *f)
{
	struct xsend_stats	st;
	struct xsend_peer_info	pi;
	int			i, n;

	xsend_stats(f->xs, &st);
	if ((n = xsend_npeers(f->xs)) > FX_MAX_RX)
		fuzz_die("%d receivers in a table of %d", n, FX_MAX_RX);
	for (i = 0; i < n; i++) {
		xsend_peer(f->xs, i, &pi);
		if (pi.state > XSP_DROPPED)
			fuzz_die("receiver %d in state %d", i, (int)pi.state);
	}
	if (f->has_geom && st.resend_packets > f->geom.nsym)
		fuzz_die("%" PRIu64 " DATA resent for a file of %" PRIu64
		    " symbols", st.resend_packets, f->geom.nsym);
	if (st.size != 0 && st.size != FX_SIZE)
		fuzz_die("size %" PRIu64, st.size);
}

/* A feedback datagram of receiver who, sealed with the feedback key. */
static void
fx_send(struct fx *f, int who, uint8_t type, const void *body, size_t len)
{
	uint8_t	nonce[PROTO_NONCE_LEN], dg[PROTO_MAX_DGRAM];
	uint8_t	sub[PROTO_SUB_LEN];
	ssize_t	n;
	int	id = who % FX_NID;

	memset(nonce, 0, sizeof(nonce));
	wire_store64(nonce, fx_rid(id));
	if (crypto_random(nonce + 8, sizeof(nonce) - 8) == -1)
		fuzz_die("crypto_random failed");
	proto_feedback_sub(fx_rid(id), sub);
	if ((n = proto_seal(f->kf, type, f->session, nonce, sub, body, len,
	    dg, sizeof(dg))) <= 0)
		return;		/* too large for a datagram */
	(void)sendto(f->ctl[who / FX_NID % 2], dg, (size_t)n, 0,
	    (struct sockaddr *)&f->to.ss, f->to.len);
	fx_run(f);
}

/* Bytes as they are, not sealed: the MAC check must stop them. */
static void
fx_raw(struct fx *f, int who, const uint8_t *p, size_t len)
{
	(void)sendto(f->ctl[who % 2], p, len, 0,
	    (struct sockaddr *)&f->to.ss, f->to.len);
	fx_run(f);
}

static void
fx_hello(struct fx *f, int who, uint8_t inc)
{
	struct proto_hello	h;
	struct wire_w		w;
	uint8_t			body[PROTO_HELLO_LEN];

	f->incarnation[who % FX_NID] = inc;
	h.rid = fx_rid(who % FX_NID);
	h.incarnation = inc;
	h.challenge = 0xc0ffee00 + (uint64_t)who;
	wire_w_fixed(&w, body, sizeof(body));
	if (proto_put_hello(&w, &h) == -1)
		fuzz_die("proto_put_hello failed");
	fx_send(f, who, PROTO_HELLO, body, w.len);
}

/*
 * A REPORT or HELD body of receiver who: when the bytes decode, with the
 * receiver's id and incarnation put in and re-encoded, else as they are.
 */
static void
fx_feedback(struct fx *f, int who, uint8_t type, const uint8_t *p,
    size_t len)
{
	struct proto_report	r;
	struct proto_held	hd;
	struct wire_w		w;
	uint8_t			body[PROTO_MAX_DGRAM];
	uint64_t		rid = fx_rid(who % FX_NID);
	uint32_t		inc = f->incarnation[who % FX_NID];
	int			rv = 1;

	wire_w_fixed(&w, body, sizeof(body));
	if (type == PROTO_REPORT && proto_get_report(p, len, &r) == 0) {
		r.rid = rid;
		r.incarnation = inc;
		rv = proto_put_report(&w, &r);
	} else if (type == PROTO_HELD && proto_get_held(p, len, &hd) == 0) {
		hd.rid = rid;
		hd.incarnation = inc;
		rv = proto_put_held(&w, &hd);
	}
	if (rv == -1)
		fuzz_die("%s: the encoder refuses what its decoder took",
		    proto_type_name(type));
	if (rv == 0) {
		p = body;
		len = w.len;
	}
	fx_send(f, who, type, p, len);
}

static void
fx_record(struct fx *f, uint8_t kind, uint8_t who, const uint8_t *p,
    size_t len)
{
	unsigned	ms;

	switch (kind % 6) {
	case 0:
		fx_hello(f, who, len > 0 ? p[0] : 1);
		break;
	case 1:
		fx_feedback(f, who, PROTO_REPORT, p, len);
		break;
	case 2:
		fx_feedback(f, who, PROTO_HELD, p, len);
		break;
	case 3:
		/* Time is what fuzzing has least of: 4 ms an input. */
		ms = len > 0 ? p[0] % 4u : 1u;
		if (f->ticked + ms <= FX_TICK_MS) {
			f->ticked += ms;
			fx_tick(f, ms);
		} else
			fx_run(f);
		break;
	case 4:
		if (len > 0)
			fx_send(f, who, p[0], p + 1, len - 1);
		break;
	default:
		fx_raw(f, who, p, len);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct xsend_cb	 cb = { .finished = fx_finished };
	static char			 path[sizeof(fuzz_scratch) + 256];
	static int			 init;
	struct xsend_conf		 conf;
	struct udp_addr			 a;
	struct fx			 f;
	uint8_t				 buf[FX_SIZE];
	char				 err[256];
	size_t				 off, len, i;

	if (!init) {
		log_init("fuzz_xsend", 1, 0);
		for (i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)(i * 131 + (i >> 9));
		snprintf(path, sizeof(path), "%s", fuzz_file("src", buf,
		    sizeof(buf)));
		init = 1;
	}
	memset(&f, 0, sizeof(f));
	f.data = fuzz_udp_socket(&a);
	f.ctl[0] = fuzz_udp_socket(&f.to);
	f.ctl[1] = fuzz_udp_socket(&f.to);
	memset(&f.to, 0, sizeof(f.to));
	memset(&conf, 0, sizeof(conf));
	conf.path = path;
	conf.group = a;
	conf.src_port = -1;
	conf.min_receivers = 1;
	conf.max_wait_ms = -1;
	conf.max_receivers = FX_MAX_RX;
	conf.rate_max = 200000000;
	conf.drop_ms = 300;
	conf.deadline_ms = 2000;
	conf.eject_ms = 200;
	memcpy(conf.key, psk, sizeof(psk));
	if ((f.base = event_base_new()) == NULL)
		fuzz_die("event_base_new failed");
	if ((f.xs = xsend_new(f.base, &conf, &cb, &f, err,
	    sizeof(err))) == NULL)
		fuzz_die("xsend_new: %s", err);
	if (xsend_start(f.xs) == -1)
		fuzz_die("xsend_start failed");
	/* The first ANNOUNCE: the session and the sender's address. */
	fx_run(&f);
	for (i = 0; i < 200 && !f.has_geom; i++)
		fx_tick(&f, 1);
	if (!f.has_geom)
		fuzz_die("no ANNOUNCE from the sender");
	for (off = 0; off + 4 <= size && !f.finished; off += 4 + len) {
		len = wire_load16(data + off + 2);
		if (len > size - off - 4)
			len = size - off - 4;
		fx_record(&f, data[off], data[off + 1], data + off + 4, len);
		fx_check(&f);
	}
	xsend_stop(f.xs);
	fx_check(&f);
	xsend_free(f.xs);
	event_base_free(f.base);
	close(f.data);
	close(f.ctl[0]);
	close(f.ctl[1]);
	aead_free(f.kd);
	aead_free(f.kf);
	aead_free(f.ka);
	return (0);
}
