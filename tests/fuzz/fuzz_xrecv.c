/*
 * Fuzz target for the receiver after authentication (common/xrecv.c and
 * xrecv_join.c): what a holder of the key, a member of the run, can make
 * it do.  Each input gets a fresh receiver on unicast loopback, driven
 * through its public interface and its own sockets, as a sender would:
 * the target announces a session (keys derived from a fixed PSK the way
 * every sender derives them, proto_derive_keys), reads the HELLO, accepts
 * it, and then plays the input as datagrams sealed with the session's
 * data key, so that every one of them authenticates.  The input is
 *
 *	u16 size/37, u8 log2(sym/512), u8 k-1, u8 il-1, u8 flags,
 *	then records: u8 kind, u16 length, length bytes
 *
 * flags bit 0: the ANNOUNCE carries the file's SHA-256; bit 1: the
 * receiver expects that SHA-256.  Kinds (kind mod 7): 0 the true DATA of
 * the symbol whose index the record's first 4 bytes give (the file is a
 * fixed pattern, so transfers can complete), 1 DATA, 2 REPAIR, 3
 * ANNOUNCE, 4 NCF, each with the record's first 8 bytes as sub-header and
 * the rest as body, 5 an ACK body on the control socket (fx_ack), 6 the
 * record as a raw datagram, not sealed.  At the end the target confirms
 * a receiver's DONE, so that a complete transfer finishes.  Whatever happens, the counts the receiver
 * reports must stay within the file.
 */
#include <sys/socket.h>

#include <inttypes.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <event2/event.h>

#include "log.h"
#include "proto.h"
#include "udp.h"
#include "wire.h"
#include "xrecv.h"

#define FUZZ_NAME	"xrecv"
#define FUZZ_MAX_LEN	(1 << 16)
#include "fuzz.h"

#define FX_MAX_SIZE	(1 << 16)	/* the file: staging space is claimed */

static const uint8_t	psk[AEAD_KEY_LEN] = { 0x46, 0x43, 0x5a };

/* The scripted sender of one input. */
struct fx {
	int			 fd;	/* ours, on 127.0.0.1 */
	struct udp_addr		 group;	/* the receiver's data address */
	struct udp_addr		 ctl;	/* its control socket, from HELLO */
	uint64_t		 session;
	uint64_t		 seq;
	struct aead		*kd, *kf, *ka;
	struct proto_announce	 ann;
	struct proto_hello	 hello;
	int			 nhello;
	int			 finished;
	struct event_base	*base;
	struct xrecv		*xr;
};

/* The file's byte at offset off: a pattern anyone can recompute. */
static uint8_t
fx_byte(uint64_t off)
{
	return ((uint8_t)(off * 131 + (off >> 9)));
}

static void
fx_finished(void *arg, int ok, const char *err)
{
	struct fx	*f = arg;

	(void)ok;
	(void)err;
	f->finished = 1;
}

/*
 * One datagram from the receiver: everything it sends must open with the
 * feedback key; a HELLO tells us its id, incarnation, challenge and the
 * address of its control socket.
 */
static void
fx_heard(void *arg, const struct udp_addr *from, const uint8_t *dg,
    size_t len)
{
	struct fx		*f = arg;
	uint8_t			plain[PROTO_MAX_DGRAM];
	struct proto_hello	hello;
	struct proto_hdr	h;
	enum proto_drop		why;
	int			ok;

	ok = proto_decode(dg, len, &h, &why) == 0 && h.session == f->session &&
	    proto_open(f->kf, &h, plain, sizeof(plain)) == 0;
	if (!ok)
		fuzz_die("the receiver sent an unreadable datagram");
	if (h.type != PROTO_HELLO ||
	    proto_get_hello(plain, h.ctlen, &hello) == -1)
		return;
	hello.rid = h.rid;
	f->hello = hello;
	f->ctl = *from;
	f->nhello++;
}

/* Let the receiver read what was sent, then read what it answered. */
static void
fx_run(struct fx *f)
{
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	fuzz_udp_read(f->fd, fx_heard, f);
}

static void
fx_send(struct fx *f, uint8_t type, const uint8_t *sub, const void *body,
    size_t len, const struct udp_addr *to)
{
	uint8_t	nonce[PROTO_NONCE_LEN], dg[PROTO_MAX_DGRAM];
	ssize_t	n;

	f->seq++;
	proto_sender_nonce(f->seq, (uint32_t)f->seq * 100, nonce);
	if ((n = proto_seal(type == PROTO_ACK ? f->ka : f->kd, type, f->session, nonce, sub, body, len,
	    dg, sizeof(dg))) <= 0)
		return;		/* too large for a datagram */
	(void)sendto(f->fd, dg, (size_t)n, 0, (struct sockaddr *)&to->ss,
	    to->len);
	fx_run(f);
}

static void
fx_announce(struct fx *f)
{
	struct wire_w	w;
	uint8_t		body[PROTO_ANNOUNCE_LEN];

	wire_w_fixed(&w, body, sizeof(body));
	if (proto_put_announce(&w, &f->ann) == -1)
		fuzz_die("proto_put_announce failed");
	fx_send(f, PROTO_ANNOUNCE, NULL, body, w.len, &f->group);
}

/*
 * An ACK to the receiver's control socket.  One that decodes is sent with
 * the receiver's id and incarnation from its HELLO, which the fuzzer
 * cannot guess: its challenge and verdict are the fuzzer's.
 */
static void
fx_ack(struct fx *f, const uint8_t *body, size_t len)
{
	struct proto_ack	a;
	struct wire_w		w;
	uint8_t			buf[PROTO_ACK_LEN];

	if (f->nhello == 0)
		return;
	if (proto_get_ack(body, len, &a) == 0) {
		a.rid = f->hello.rid;
		a.incarnation = f->hello.incarnation;
		wire_w_fixed(&w, buf, sizeof(buf));
		if (proto_put_ack(&w, &a) == -1)
			fuzz_die("proto_put_ack failed");
		body = buf;
		len = w.len;
	}
	fx_send(f, PROTO_ACK, NULL, body, len, &f->ctl);
}

/* An ACK with our own verdict, for the HELLO we read. */
static void
fx_verdict(struct fx *f, uint8_t verdict)
{
	struct proto_ack	a;
	struct wire_w		w;
	uint8_t			buf[PROTO_ACK_LEN];

	a.rid = a.incarnation = 0;	/* fx_ack sets them */
	a.challenge = f->hello.challenge;
	a.verdict = verdict;
	a.reason = verdict == PROTO_ACK_REJECTED ? PROTO_RJ_FULL : 0;
	wire_w_fixed(&w, buf, sizeof(buf));
	if (proto_put_ack(&w, &a) == -1)
		fuzz_die("proto_put_ack failed");
	fx_ack(f, buf, w.len);
}

/* The true content of symbol i. */
static void
fx_data(struct fx *f, const struct proto_geom *g, uint64_t i)
{
	uint8_t		sub[PROTO_SUB_LEN], body[PROTO_MAX_SYM];
	uint64_t	off = i * g->sym;
	size_t		len = proto_sym_len(g, i), j;

	for (j = 0; j < len; j++)
		body[j] = fx_byte(off + j);
	wire_store64(sub, i);
	fx_send(f, PROTO_DATA, sub, body, len, &f->group);
}

/* Geometry from the input's first bytes, or a small default. */
static void
fx_geom(struct fx *f, const uint8_t *p, struct proto_geom *g)
{
	uint64_t	size = ((uint64_t)wire_load16(p) * 37) % FX_MAX_SIZE + 1;

	/* A sender in its first pass, with the input's geometry. */
	f->ann = (struct proto_announce){ .size = size,
	    .sym = (uint16_t)(512u << (p[2] % 5)), .k = 1 + p[3] % PROTO_MAX_K,
	    .il = 1 + p[4] % 8, .state = PROTO_S_SENDING, .rate = 1000000,
	    .report_ms = 100, .backoff_ms = 10, .drop_ms = 5000 };
	if (proto_geom_init(g, f->ann.size, f->ann.sym, f->ann.k,
	    f->ann.il) == 0)
		return;
	f->ann.size = 5000;
	f->ann.sym = 512;
	f->ann.k = 4;
	f->ann.il = 2;
	if (proto_geom_init(g, 5000, 512, 4, 2) == -1)
		fuzz_die("the default geometry is refused");
}

static void
fx_digest(const struct proto_geom *g, uint8_t md[SHA256_LEN])
{
	struct sha256	*h = sha256_new();
	uint8_t		 buf[4096];
	uint64_t	 off, j;
	size_t		 n;

	for (off = 0; off < g->size; off += n) {
		n = g->size - off < sizeof(buf) ? (size_t)(g->size - off) :
		    sizeof(buf);
		for (j = 0; j < n; j++)
			buf[j] = fx_byte(off + j);
		sha256_update(h, buf, n);
	}
	sha256_final(h, md);
	sha256_free(h);
}

static void
fx_check(struct fx *f, const struct proto_geom *g)
{
	struct xrecv_stats	st;

	xrecv_stats(f->xr, &st);
	if (st.have_bytes > g->size || st.resumed_bytes > g->size ||
	    (st.size != 0 && st.size != g->size))
		fuzz_die("the receiver holds %" PRIu64 " of %" PRIu64 " bytes "
		    "(size %" PRIu64 ")", st.have_bytes, g->size, st.size);
}

/* Play one record. */
static void
fx_record(struct fx *f, const struct proto_geom *g, uint8_t kind,
    const uint8_t *p, size_t len)
{
	uint8_t		sub[PROTO_SUB_LEN];
	size_t		hl = len < PROTO_SUB_LEN ? len : PROTO_SUB_LEN;

	memset(sub, 0, sizeof(sub));
	memcpy(sub, p, hl);
	switch (kind % 7) {
	case 0:
		if (len >= 4)
			fx_data(f, g, wire_load32(p) % g->nsym);
		break;
	case 1:
		fx_send(f, PROTO_DATA, sub, p + hl, len - hl, &f->group);
		break;
	case 2:
		fx_send(f, PROTO_REPAIR, sub, p + hl, len - hl, &f->group);
		break;
	case 3:
		fx_send(f, PROTO_ANNOUNCE, NULL, p, len, &f->group);
		break;
	case 4:
		fx_send(f, PROTO_NCF, NULL, p, len, &f->group);
		break;
	case 5:
		fx_ack(f, p, len);
		break;
	case 6:
		(void)sendto(f->fd, p, len, 0,
		    (struct sockaddr *)&f->group.ss, f->group.len);
		fx_run(f);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct xrecv_cb	 cb = { .finished = fx_finished };
	static int			 init;
	struct xrecv_conf		 conf;
	struct proto_geom		 g;
	struct fx			 f;
	struct udp_addr			 me;
	uint8_t				 kd[AEAD_KEY_LEN], kf[AEAD_KEY_LEN];
	uint8_t				 ka[AEAD_KEY_LEN];
	char				 err[256], out[sizeof(fuzz_scratch) + 16];
	size_t				 off, len;
	int				 probe;

	if (!init) {
		log_init("fuzz_xrecv", 1, 0);
		init = 1;
	}
	if (size < 6)
		return (0);
	memset(&f, 0, sizeof(f));
	fx_geom(&f, data, &g);
	if (data[5] & 1) {
		f.ann.flags |= PROTO_AF_DIGEST;
		fx_digest(&g, f.ann.digest);
	}
	f.session = 0x5eed000000000000ULL | wire_load16(data);
	if (proto_derive_keys(psk, f.session, kd, kf, ka) == -1)
		fuzz_die("proto_derive_keys failed");
	f.kd = aead_new(kd);
	f.kf = aead_new(kf);
	f.ka = aead_new(ka);
	f.fd = fuzz_udp_socket(&me);

	/* The receiver's data address: a free loopback port. */
	memset(&conf, 0, sizeof(conf));
	probe = fuzz_udp_socket(&f.group);
	close(probe);
	conf.group = f.group;
	snprintf(out, sizeof(out), "%s/out", fuzz_dir());
	conf.out = out;
	memcpy(conf.key, psk, sizeof(psk));
	if (data[5] & 2) {
		conf.expect_digest = 1;
		fx_digest(&g, conf.expect_sha256);
	}
	if ((f.base = event_base_new()) == NULL)
		fuzz_die("event_base_new failed");
	if ((f.xr = xrecv_new(f.base, &conf, &cb, &f, err,
	    sizeof(err))) == NULL)
		fuzz_die("xrecv_new: %s", err);
	xrecv_start(f.xr);

	/* Join: ANNOUNCE, HELLO, ACK. */
	fx_announce(&f);
	fx_verdict(&f, PROTO_ACK_ACCEPTED);
	for (off = 6; off + 3 <= size && !f.finished; off += 3 + len) {
		len = wire_load16(data + off + 1);
		if (len > size - off - 3)
			len = size - off - 3;
		fx_record(&f, &g, data[off], data + off + 3, len);
		fx_check(&f, &g);
	}
	/* A receiver with the whole file waits for this to finish. */
	if (!f.finished)
		fx_verdict(&f, PROTO_ACK_DONE);
	xrecv_stop(f.xr);
	fx_check(&f, &g);
	xrecv_free(f.xr);
	event_base_free(f.base);
	close(f.fd);
	aead_free(f.kd);
	aead_free(f.kf);
	aead_free(f.ka);
	fuzz_rm(out);
	snprintf(out, sizeof(out), "%s/out.fcpart", fuzz_dir());
	fuzz_rm(out);
	snprintf(out, sizeof(out), "%s/out.fcstate", fuzz_dir());
	fuzz_rm(out);
	return (0);
}
