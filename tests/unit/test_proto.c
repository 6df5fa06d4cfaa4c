/*
 * Tests for the transport's wire format (version 3): exact header bytes,
 * every body round-tripping and every length and range refusal of it, the
 * decoder naming the right drop reason for truncated, foreign, version 2,
 * unknown and receiver-id-less datagrams, sealing and opening (and
 * refusing tampered or wrong-key datagrams), the geometry arithmetic at
 * its edges and the key derivation (PSK and member keys).
 */
#include <string.h>

#include "proto.h"
#include "unit.h"

static const uint8_t	key[AEAD_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };

static void
test_header_bytes(void)
{
	uint8_t		nonce[PROTO_NONCE_LEN], out[PROTO_HDR_LEN];
	static const uint8_t want[PROTO_HDR_LEN] = { 0x46, 0x43, 0x03, 0x02,
	    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
	    0xa1, 0xb2, 0xc3, 0xd4, 0, 0, 0, 0, 0, 0, 0x01, 0x02 };

	proto_sender_nonce(0x0102, 0xa1b2c3d4U, nonce);
	CU_ASSERT_EQUAL(proto_put_hdr(out, PROTO_REPAIR, 0x1122334455667788ULL,
	    nonce), PROTO_HDR_LEN);
	CU_ASSERT(memcmp(out, want, sizeof(want)) == 0);
}

static struct aead *
data_key(uint64_t session)
{
	uint8_t		kd[AEAD_KEY_LEN], kf[AEAD_KEY_LEN], ka[AEAD_KEY_LEN];

	CU_ASSERT_FATAL(proto_derive_keys(key, session, kd, kf, ka) == 0);
	return (aead_new(kd));
}

static void
test_seal_open_data(void)
{
	struct aead		*a = data_key(7);
	struct proto_hdr	 h;
	enum proto_drop		 why;
	uint8_t			 nonce[PROTO_NONCE_LEN], sub[PROTO_SUB_LEN];
	uint8_t			 sym[1424], dg[1600], plain[1600];
	ssize_t			 n;
	size_t			 i;

	for (i = 0; i < sizeof(sym); i++)
		sym[i] = (uint8_t)i;
	proto_sender_nonce(42, 0xfffffffeU, nonce);
	wire_store64(sub, 123456789);
	n = proto_seal(a, PROTO_DATA, 7, nonce, sub, sym, sizeof(sym), dg,
	    sizeof(dg));
	CU_ASSERT_EQUAL(n, (ssize_t)(sizeof(sym) + PROTO_SYM_OVERHEAD));
	CU_ASSERT_FATAL(proto_decode(dg, (size_t)n, &h, &why) == 0);
	CU_ASSERT_EQUAL(h.type, PROTO_DATA);
	CU_ASSERT_EQUAL(h.session, 7);
	CU_ASSERT_EQUAL(h.seq, 42);
	CU_ASSERT_EQUAL(h.tx_us, 0xfffffffeU);
	CU_ASSERT_EQUAL(h.index, 123456789);
	CU_ASSERT_EQUAL(h.ctlen, sizeof(sym));
	CU_ASSERT(proto_open(a, &h, plain, sizeof(plain)) == 0);
	CU_ASSERT(memcmp(plain, sym, sizeof(sym)) == 0);

	/* Any flipped bit, in header, sub-header, body or tag, fails. */
	for (i = 0; i < (size_t)n; i += 97) {
		dg[i] ^= 0x10;
		if (proto_decode(dg, (size_t)n, &h, &why) == 0)
			CU_ASSERT(proto_open(a, &h, plain, sizeof(plain)) == -1);
		dg[i] ^= 0x10;
	}
	aead_free(a);

	/* Another session's key does not open it. */
	a = data_key(8);
	CU_ASSERT_FATAL(proto_decode(dg, (size_t)n, &h, &why) == 0);
	CU_ASSERT(proto_open(a, &h, plain, sizeof(plain)) == -1);
	aead_free(a);
}

/*
 * The plaintext is written before the tag is checked, so a body longer
 * than the caller's buffer must be refused before decryption starts, and
 * the buffer (and what follows it) left alone.
 */
static void
test_open_capacity(void)
{
	struct aead		*a = data_key(7);
	struct proto_hdr	 h;
	enum proto_drop		 why;
	uint8_t			 nonce[PROTO_NONCE_LEN], sub[PROTO_SUB_LEN];
	uint8_t			 sym[1424], dg[1600], plain[1600];
	ssize_t			 n;
	size_t			 i;

	memset(sym, 0x5a, sizeof(sym));
	proto_sender_nonce(1, 0, nonce);
	wire_store64(sub, 0);
	n = proto_seal(a, PROTO_DATA, 7, nonce, sub, sym, sizeof(sym), dg,
	    sizeof(dg));
	CU_ASSERT_FATAL(n > 0);
	CU_ASSERT_FATAL(proto_decode(dg, (size_t)n, &h, &why) == 0);
	memset(plain, 0xaa, sizeof(plain));
	CU_ASSERT(proto_open(a, &h, plain, sizeof(sym) - 1) == -1);
	CU_ASSERT(proto_open(a, &h, plain, 0) == -1);
	for (i = 0; i < sizeof(plain); i++)
		if (plain[i] != 0xaa)
			break;
	CU_ASSERT_EQUAL(i, sizeof(plain));
	/* Exactly the body's size is enough. */
	CU_ASSERT(proto_open(a, &h, plain, sizeof(sym)) == 0);
	CU_ASSERT(memcmp(plain, sym, sizeof(sym)) == 0);
	CU_ASSERT_EQUAL(plain[sizeof(sym)], 0xaa);
	aead_free(a);
}

static void
test_decode_drops(void)
{
	struct aead		*a = data_key(9);
	struct proto_hdr	 h;
	enum proto_drop		 why;
	uint8_t			 nonce[PROTO_NONCE_LEN], sub[PROTO_SUB_LEN];
	uint8_t			 dg[256], body[8] = { 0 };
	ssize_t			 n;
	size_t			 i;

	proto_sender_nonce(1, 77, nonce);
	memset(sub, 0, sizeof(sub));
	n = proto_seal(a, PROTO_DATA, 9, nonce, sub, body, sizeof(body), dg,
	    sizeof(dg));
	CU_ASSERT_FATAL(n > 0);
	/* Every truncation is refused as short, none crashes. */
	for (i = 0; i < PROTO_SYM_OVERHEAD; i++) {
		why = PROTO_DROP_MAX;
		CU_ASSERT(proto_decode(dg, i, &h, &why) == -1);
		if (i >= 2)
			CU_ASSERT_EQUAL(why, PROTO_DROP_SHORT);
	}
	dg[0] = 'X';
	CU_ASSERT(proto_decode(dg, (size_t)n, &h, &why) == -1);
	CU_ASSERT_EQUAL(why, PROTO_DROP_MAGIC);
	dg[0] = PROTO_MAGIC0;
	dg[2] = PROTO_VERSION + 1;
	CU_ASSERT(proto_decode(dg, (size_t)n, &h, &why) == -1);
	CU_ASSERT_EQUAL(why, PROTO_DROP_VERSION);
	dg[2] = PROTO_VERSION;
	dg[3] = 99;
	CU_ASSERT(proto_decode(dg, (size_t)n, &h, &why) == -1);
	CU_ASSERT_EQUAL(why, PROTO_DROP_TYPE);
	dg[3] = PROTO_DATA;
	/* v3 sender nonces carry the send time: any first four bytes. */
	dg[12] = 1;
	CU_ASSERT(proto_decode(dg, (size_t)n, &h, &why) == 0);
	CU_ASSERT_EQUAL(h.tx_us, 0x0100004dU);
	memset(dg + 4, 0, 8);	/* session 0 is never valid */
	CU_ASSERT(proto_decode(dg, (size_t)n, &h, &why) == -1);
	CU_ASSERT_EQUAL(why, PROTO_DROP_SESSION);
	/* A receiver type may carry any nonce; its id is in clear. */
	proto_put_hdr(dg, PROTO_HELLO, 5, (const uint8_t *)"abcdefghijkl");
	proto_feedback_sub(0x0102030405060708ULL, dg + PROTO_HDR_LEN);
	CU_ASSERT(proto_decode(dg, PROTO_HDR_LEN + PROTO_SUB_LEN +
	    PROTO_TAG_LEN, &h, &why) == 0);
	CU_ASSERT_EQUAL(h.ctlen, 0);
	CU_ASSERT_EQUAL(h.rid, 0x0102030405060708ULL);
	CU_ASSERT_EQUAL(h.aadlen, PROTO_HDR_LEN + PROTO_SUB_LEN);
	CU_ASSERT_EQUAL(h.tx_us, 0);
	/* Without its id, or with id 0, it is refused. */
	CU_ASSERT(proto_decode(dg, PROTO_HDR_LEN + PROTO_SUB_LEN +
	    PROTO_TAG_LEN - 1, &h, &why) == -1);
	CU_ASSERT_EQUAL(why, PROTO_DROP_SHORT);
	proto_feedback_sub(0, dg + PROTO_HDR_LEN);
	CU_ASSERT(proto_decode(dg, PROTO_HDR_LEN + PROTO_SUB_LEN +
	    PROTO_TAG_LEN, &h, &why) == -1);
	CU_ASSERT_EQUAL(why, PROTO_DROP_RANGE);
	/* ANNOUNCE, NCF and ACK have no sub-header. */
	proto_put_hdr(dg, PROTO_ACK, 5, nonce);
	CU_ASSERT(proto_decode(dg, PROTO_HDR_LEN + PROTO_TAG_LEN, &h,
	    &why) == 0);
	CU_ASSERT_EQUAL(h.aadlen, PROTO_HDR_LEN);
	CU_ASSERT_EQUAL(h.seq, 1);
	aead_free(a);
}

/*
 * A datagram of protocol 2 (a v2 sender's ANNOUNCE: version byte 2, a
 * nonce of four zero bytes and the counter, a 72-byte body) is dropped as
 * `version` before anything else is looked at, whatever it carries.
 */
static void
test_v2_dropped(void)
{
	struct proto_hdr	h;
	enum proto_drop		why;
	uint8_t			dg[PROTO_HDR_LEN + 72 + PROTO_TAG_LEN];
	int			t;

	memset(dg, 0x33, sizeof(dg));
	dg[0] = PROTO_MAGIC0;
	dg[1] = PROTO_MAGIC1;
	dg[2] = 2;
	memset(dg + 12, 0, 4);
	for (t = 1; t <= 18; t++) {
		dg[3] = (uint8_t)t;
		why = PROTO_DROP_MAX;
		CU_ASSERT(proto_decode(dg, sizeof(dg), &h, &why) == -1);
		CU_ASSERT_EQUAL(why, PROTO_DROP_VERSION);
	}
	CU_ASSERT_STRING_EQUAL(proto_drop_name(PROTO_DROP_VERSION),
	    "version");
}

static void
test_announce(void)
{
	struct proto_announce	a, a2;
	struct wire_w		w;
	uint8_t			buf[128];

	memset(&a, 0, sizeof(a));
	a.size = 1ULL << 40;
	a.sym = 1424;
	a.k = 64;
	a.il = 48;
	a.state = PROTO_S_DRAINING;
	a.flags = PROTO_AF_DIGEST | PROTO_AF_MEMBERS | PROTO_AF_FAST;
	a.progress = 99;
	a.rate = 123456789;
	a.report_ms = 200;
	a.backoff_ms = 10;
	a.drop_ms = 5000;
	a.deadline_ms = 0xdeadbeefU;
	a.fec_r = 7;
	a.phase = 5;
	memset(a.digest, 0xab, SHA256_LEN);
	wire_w_fixed(&w, buf, sizeof(buf));
	CU_ASSERT(proto_put_announce(&w, &a) == 0);
	CU_ASSERT_EQUAL(w.len, PROTO_ANNOUNCE_LEN);
	CU_ASSERT_EQUAL(w.len, 80);
	memset(&a2, 0, sizeof(a2));
	CU_ASSERT(proto_get_announce(buf, w.len, &a2) == 0);
	CU_ASSERT(memcmp(&a, &a2, sizeof(a)) == 0);
	/* The offsets of doc/protocol.md. */
	CU_ASSERT_EQUAL(wire_load32(buf + 40), 0xdeadbeefU);
	CU_ASSERT_EQUAL(buf[44], 7);
	CU_ASSERT_EQUAL(buf[45], 5);
	CU_ASSERT(buf[48] == 0xab && buf[79] == 0xab);
	/* Exactly 80 bytes. */
	CU_ASSERT(proto_get_announce(buf, w.len - 1, &a2) == -1);
	CU_ASSERT(proto_get_announce(buf, w.len + 1, &a2) == -1);
	CU_ASSERT(proto_get_announce(buf, 72, &a2) == -1);
	buf[14] = 9;	/* no such state */
	CU_ASSERT(proto_get_announce(buf, w.len, &a2) == -1);
	buf[14] = PROTO_S_SENDING;
	buf[15] = 0x08;	/* an unknown flag */
	CU_ASSERT(proto_get_announce(buf, w.len, &a2) == -1);
	buf[15] = PROTO_AF_DIGEST;
	buf[45] = 6;	/* no such phase */
	CU_ASSERT(proto_get_announce(buf, w.len, &a2) == -1);
	buf[45] = 0;
	buf[47] = 1;	/* reserved */
	CU_ASSERT(proto_get_announce(buf, w.len, &a2) == -1);
	buf[47] = 0;
	CU_ASSERT(proto_get_announce(buf, w.len, &a2) == 0);
}

static void
test_ncf(void)
{
	struct proto_ncf	n, n2;
	struct wire_w		w;
	uint8_t			buf[1500];
	uint16_t		i;

	n.n = PROTO_NCF_MAX;
	for (i = 0; i < n.n; i++) {
		n.e[i].group = i * 3;
		n.e[i].sched = i;
	}
	wire_w_fixed(&w, buf, sizeof(buf));
	CU_ASSERT(proto_put_ncf(&w, &n) == 0);
	CU_ASSERT_EQUAL(w.len, PROTO_NCF_LEN(PROTO_NCF_MAX));
	CU_ASSERT(proto_get_ncf(buf, w.len, &n2) == 0);
	CU_ASSERT_EQUAL(n2.n, n.n);
	CU_ASSERT(memcmp(n.e, n2.e, sizeof(n.e[0]) * n.n) == 0);
	CU_ASSERT(proto_get_ncf(buf, w.len - 1, &n2) == -1);
	wire_store16(buf, PROTO_NCF_MAX + 1);
	CU_ASSERT(proto_get_ncf(buf, w.len, &n2) == -1);
}

static void
test_ack_hello(void)
{
	struct proto_ack	k, k2;
	struct proto_hello	h, h2;
	struct wire_w		w;
	uint8_t			buf[64];

	k.rid = 77;
	k.incarnation = 5;
	k.challenge = 0xfeedface;
	k.verdict = PROTO_ACK_DONE;
	k.reason = 0;
	wire_w_fixed(&w, buf, sizeof(buf));
	CU_ASSERT(proto_put_ack(&w, &k) == 0);
	CU_ASSERT_EQUAL(w.len, PROTO_ACK_LEN);
	CU_ASSERT_EQUAL(w.len, 22);
	CU_ASSERT(proto_get_ack(buf, w.len, &k2) == 0);
	CU_ASSERT(k2.rid == 77 && k2.incarnation == 5 &&
	    k2.challenge == 0xfeedface && k2.verdict == PROTO_ACK_DONE &&
	    k2.reason == 0);
	CU_ASSERT(proto_get_ack(buf, w.len - 1, &k2) == -1);
	CU_ASSERT(proto_get_ack(buf, w.len + 1, &k2) == -1);
	buf[20] = 0;	/* no such verdict */
	CU_ASSERT(proto_get_ack(buf, w.len, &k2) == -1);
	buf[20] = 5;
	CU_ASSERT(proto_get_ack(buf, w.len, &k2) == -1);
	buf[20] = PROTO_ACK_ACCEPTED;
	buf[21] = PROTO_RJ_FULL;	/* a reason without a refusal */
	CU_ASSERT(proto_get_ack(buf, w.len, &k2) == -1);
	buf[20] = PROTO_ACK_REJECTED;
	buf[21] = 0;			/* a refusal without a reason */
	CU_ASSERT(proto_get_ack(buf, w.len, &k2) == -1);
	buf[21] = PROTO_RJ_FINISHED + 1;
	CU_ASSERT(proto_get_ack(buf, w.len, &k2) == -1);
	for (buf[21] = PROTO_RJ_FULL; buf[21] <= PROTO_RJ_FINISHED; buf[21]++) {
		CU_ASSERT(proto_get_ack(buf, w.len, &k2) == 0);
		CU_ASSERT_EQUAL(k2.reason, buf[21]);
		CU_ASSERT(strcmp(proto_reason_name(k2.reason),
		    "no reason given") != 0);
	}

	/* HELLO: 12 bytes, the receiver id is the sub-header's. */
	h.rid = 1;
	h.incarnation = 2;
	h.challenge = 3;
	wire_w_fixed(&w, buf, sizeof(buf));
	CU_ASSERT(proto_put_hello(&w, &h) == 0);
	CU_ASSERT_EQUAL(w.len, PROTO_HELLO_LEN);
	CU_ASSERT_EQUAL(w.len, 12);
	memset(&h2, 0, sizeof(h2));
	CU_ASSERT(proto_get_hello(buf, w.len, &h2) == 0);
	CU_ASSERT(h2.rid == 0 && h2.incarnation == 2 && h2.challenge == 3);
	CU_ASSERT(proto_get_hello(buf, w.len - 1, &h2) == -1);
	CU_ASSERT(proto_get_hello(buf, w.len + 1, &h2) == -1);
	h.incarnation = 0;
	wire_w_fixed(&w, buf, sizeof(buf));
	proto_put_hello(&w, &h);
	CU_ASSERT(proto_get_hello(buf, w.len, &h2) == -1);
}

static void
report_fill(struct proto_report *r)
{
	uint16_t	i;

	memset(r, 0, sizeof(*r));
	r->rid = 9;
	r->incarnation = 8;
	r->rseq = 7;
	r->state = PROTO_R_FAILED;
	r->flags = PROTO_RF_QDELAY | PROTO_RF_EARLY | PROTO_RF_FEC;
	r->queue_pm = 321;
	r->rx_us = 0x11223344U;
	r->rx_bytes = 0x0102030405060708ULL;
	r->rx_packets = 0xfffffff0U;
	r->rx_hw_seq = 555;
	r->echo_tx_us = 0x55667788U;
	r->echo_hold_us = 1234;
	r->qdelay_us = UINT32_MAX;
	r->have_bytes = 1000;
	r->repairs = 4;
	r->overflow = 3;
	r->loss_pm = 52;
	r->need97 = 6;
	r->need_max = 255;
	r->errlen = PROTO_ERR_MAX;
	memset(r->err, 'e', PROTO_ERR_MAX);
	r->nnak = PROTO_NAK_MAX;
	for (i = 0; i < r->nnak; i++) {
		r->nak[i].kind = i % 2 ? PROTO_NAK_BLOCK : PROTO_NAK_GROUP;
		r->nak[i].id = i;
		r->nak[i].need = i % 2 ? 0 : i;
		r->nak[i].seen = i % 2 ? 0 : i * 2;
	}
}

/* Encode r, expect the decoder to refuse it. */
static int
report_refused(const struct proto_report *r)
{
	struct proto_report	r2;
	struct wire_w		w;
	uint8_t			buf[1500];

	wire_w_fixed(&w, buf, sizeof(buf));
	if (proto_put_report(&w, r) == -1)
		return (1);
	return (proto_get_report(buf, w.len, &r2) == -1);
}

static void
test_report(void)
{
	struct proto_report	r, r2;
	struct wire_w		w;
	uint8_t			buf[1500];

	report_fill(&r);
	wire_w_fixed(&w, buf, sizeof(buf));
	CU_ASSERT_FATAL(proto_put_report(&w, &r) == 0);
	CU_ASSERT_EQUAL(w.len, PROTO_REPORT_LEN(PROTO_ERR_MAX, PROTO_NAK_MAX));
	/* The largest report still fits a datagram (1472 at MTU 1500). */
	CU_ASSERT(w.len + PROTO_HDR_LEN + PROTO_SUB_LEN + PROTO_TAG_LEN <=
	    1472);
	CU_ASSERT(w.len <= 1372);
	/* The offsets of doc/protocol.md. */
	CU_ASSERT_EQUAL(wire_load32(buf + 12), 0x11223344U);
	CU_ASSERT_EQUAL(wire_load64(buf + 16), 0x0102030405060708ULL);
	CU_ASSERT_EQUAL(wire_load64(buf + 28), 555);
	CU_ASSERT_EQUAL(wire_load32(buf + 36), 0x55667788U);
	CU_ASSERT_EQUAL(wire_load32(buf + 44), UINT32_MAX);
	CU_ASSERT_EQUAL(buf[66], 6);
	CU_ASSERT_EQUAL(wire_load16(buf + 68), PROTO_ERR_MAX);
	memset(&r2, 0, sizeof(r2));
	CU_ASSERT_FATAL(proto_get_report(buf, w.len, &r2) == 0);
	r2.rid = r.rid;		/* the sub-header's, not the body's */
	CU_ASSERT(memcmp(&r, &r2, sizeof(r)) == 0);
	/* Short by one, one byte too many (nothing may follow the NAKs). */
	CU_ASSERT(proto_get_report(buf, w.len - 1, &r2) == -1);
	buf[w.len] = 0;
	CU_ASSERT(proto_get_report(buf, w.len + 1, &r2) == -1);
	CU_ASSERT(proto_get_report(buf, PROTO_REPORT_HDR - 1, &r2) == -1);

	/* The smallest: no text, no NAKs. */
	r.errlen = 0;
	r.nnak = 0;
	wire_w_fixed(&w, buf, sizeof(buf));
	CU_ASSERT_FATAL(proto_put_report(&w, &r) == 0);
	CU_ASSERT_EQUAL(w.len, PROTO_REPORT_HDR);
	CU_ASSERT(proto_get_report(buf, w.len, &r2) == 0);

	/* Every range the body alone can tell. */
	report_fill(&r);
	r.incarnation = 0;
	CU_ASSERT(report_refused(&r));
	report_fill(&r);
	r.state = 0;
	CU_ASSERT(report_refused(&r));
	r.state = PROTO_R_FAILED + 1;
	CU_ASSERT(report_refused(&r));
	report_fill(&r);
	r.flags = 0x08;
	CU_ASSERT(report_refused(&r));
	report_fill(&r);
	r.queue_pm = 1001;
	CU_ASSERT(report_refused(&r));
	report_fill(&r);
	r.loss_pm = 1001;
	CU_ASSERT(report_refused(&r));
	report_fill(&r);
	r.nak[3].kind = 7;
	CU_ASSERT(report_refused(&r));
	/* Lengths over the limits: the encoder refuses them too. */
	report_fill(&r);
	r.nnak = PROTO_NAK_MAX + 1;
	wire_w_fixed(&w, buf, sizeof(buf));
	CU_ASSERT(proto_put_report(&w, &r) == -1);
	report_fill(&r);
	r.errlen = PROTO_ERR_MAX + 1;
	wire_w_fixed(&w, buf, sizeof(buf));
	CU_ASSERT(proto_put_report(&w, &r) == -1);
	/* Forged on the wire: an error length or NAK count over the limit. */
	report_fill(&r);
	r.nnak = 0;
	r.errlen = 0;
	wire_w_fixed(&w, buf, sizeof(buf));
	CU_ASSERT_FATAL(proto_put_report(&w, &r) == 0);
	wire_store16(buf + 68, PROTO_ERR_MAX + 1);
	CU_ASSERT(proto_get_report(buf, sizeof(buf), &r2) == -1);
	wire_store16(buf + 68, 0);
	wire_store16(buf + 70, PROTO_NAK_MAX + 1);
	CU_ASSERT(proto_get_report(buf, sizeof(buf), &r2) == -1);
	wire_store16(buf + 70, 1);	/* a NAK count the body lacks */
	CU_ASSERT(proto_get_report(buf, w.len, &r2) == -1);
}

static void
test_geometry(void)
{
	struct proto_geom	g;
	uint64_t		i, gr, seen;
	uint32_t		c, k, total;

	CU_ASSERT(proto_geom_init(&g, 0, 1424, 64, 48) == -1);
	CU_ASSERT(proto_geom_init(&g, 1, 1423, 64, 48) == -1);
	CU_ASSERT(proto_geom_init(&g, 1, 1424, 0, 48) == -1);
	CU_ASSERT(proto_geom_init(&g, 1, 1424, 129, 48) == -1);
	CU_ASSERT(proto_geom_init(&g, 1, 1424, 64, 256) == -1);
	CU_ASSERT(proto_geom_init(&g, PROTO_MAX_SIZE + 1, 1424, 64, 48) == -1);
	CU_ASSERT(proto_geom_init(&g, PROTO_MAX_SIZE, 8192, 128, 255) == 0);

	/* A file of 2.5 blocks and a short last symbol. */
	CU_ASSERT_FATAL(proto_geom_init(&g, 1424ULL * 3072 * 2 + 1424 * 1500 +
	    7, 1424, 64, 48) == 0);
	CU_ASSERT_EQUAL(g.nsym, 3072 * 2 + 1501);
	CU_ASSERT_EQUAL(g.nblocks, 3);
	CU_ASSERT_EQUAL(g.ngroups, 3 * 48);
	CU_ASSERT_EQUAL(proto_sym_len(&g, g.nsym - 1), 7);
	CU_ASSERT_EQUAL(proto_sym_len(&g, g.nsym - 2), 1424);
	CU_ASSERT_EQUAL(proto_sym_len(&g, g.nsym), 0);
	CU_ASSERT_EQUAL(proto_block_nsym(&g, 2), 1501);
	CU_ASSERT_EQUAL(proto_block_nsym(&g, 3), 0);
	/* Every symbol is in exactly one group, at its own column. */
	total = 0;
	for (gr = 0; gr < g.ngroups; gr++) {
		k = proto_group_k(&g, gr);
		CU_ASSERT(k <= 64);
		for (c = 0; c < k; c++) {
			i = proto_group_sym(&g, gr, c);
			CU_ASSERT_FATAL(i < g.nsym);
			CU_ASSERT_EQUAL(proto_sym_group(&g, i), gr);
		}
		total += k;
	}
	CU_ASSERT_EQUAL(total, g.nsym);
	CU_ASSERT_EQUAL(proto_group_k(&g, g.ngroups), 0);
	/* Consecutive symbols fall into different groups. */
	seen = proto_sym_group(&g, 100);
	CU_ASSERT(proto_sym_group(&g, 101) != seen);

	/* A block shorter than the interleave has empty groups. */
	CU_ASSERT_FATAL(proto_geom_init(&g, 1424 * 5, 1424, 64, 48) == 0);
	CU_ASSERT_EQUAL(proto_group_k(&g, 4), 1);
	CU_ASSERT_EQUAL(proto_group_k(&g, 5), 0);

	CU_ASSERT_EQUAL(proto_sym_size(1500, 0), 1424);
	CU_ASSERT_EQUAL(proto_sym_size(1500, 1), 1392);
	CU_ASSERT_EQUAL(proto_sym_size(100, 0), PROTO_MIN_SYM);
	CU_ASSERT_EQUAL(proto_sym_size(65536, 0), PROTO_MAX_SYM);
}

static void
test_keys(void)
{
	uint8_t	d1[AEAD_KEY_LEN], f1[AEAD_KEY_LEN], a1[AEAD_KEY_LEN];
	uint8_t	d2[AEAD_KEY_LEN], f2[AEAD_KEY_LEN], a2[AEAD_KEY_LEN];
	uint8_t	m1[AEAD_KEY_LEN], m2[AEAD_KEY_LEN], x[AEAD_KEY_LEN];

	CU_ASSERT(proto_derive_keys(key, 1, d1, f1, a1) == 0);
	CU_ASSERT(proto_derive_keys(key, 1, d2, f2, a2) == 0);
	CU_ASSERT(memcmp(d1, d2, AEAD_KEY_LEN) == 0);
	CU_ASSERT(memcmp(a1, a2, AEAD_KEY_LEN) == 0);
	CU_ASSERT(memcmp(d1, f1, AEAD_KEY_LEN) != 0);
	CU_ASSERT(memcmp(d1, a1, AEAD_KEY_LEN) != 0);
	CU_ASSERT(memcmp(f1, a1, AEAD_KEY_LEN) != 0);
	/* One label at a time gives the same keys. */
	CU_ASSERT(proto_derive(key, PROTO_K_ACK, 1, x) == 0);
	CU_ASSERT(memcmp(x, a1, AEAD_KEY_LEN) == 0);
	CU_ASSERT(proto_derive_keys(key, 2, d2, f2, a2) == 0);
	CU_ASSERT(memcmp(d1, d2, AEAD_KEY_LEN) != 0);
	CU_ASSERT(memcmp(f1, f2, AEAD_KEY_LEN) != 0);
	CU_ASSERT(memcmp(a1, a2, AEAD_KEY_LEN) != 0);
	/* Member keys: per run and per member, none equal to the input. */
	CU_ASSERT(proto_member_key(key, 10, 1, m1) == 0);
	CU_ASSERT(proto_member_key(key, 10, 2, m2) == 0);
	CU_ASSERT(memcmp(m1, m2, AEAD_KEY_LEN) != 0);
	CU_ASSERT(memcmp(m1, key, AEAD_KEY_LEN) != 0);
	CU_ASSERT(proto_member_key(key, 11, 1, m2) == 0);
	CU_ASSERT(memcmp(m1, m2, AEAD_KEY_LEN) != 0);
	CU_ASSERT(proto_member_key(key, 10, 1, m2) == 0);
	CU_ASSERT(memcmp(m1, m2, AEAD_KEY_LEN) == 0);
	CU_ASSERT(strcmp(proto_drop_name(PROTO_DROP_AUTH), "auth") == 0);
	CU_ASSERT(strcmp(proto_drop_name(PROTO_DROP_MEMBER), "member") == 0);
	CU_ASSERT(strcmp(proto_drop_name(PROTO_DROP_BUDGET), "budget") == 0);
	CU_ASSERT(strcmp(proto_drop_name(PROTO_DROP_MAX), "unknown") == 0);
}

/*
 * HELD: the length must be what the bit count says, the bits past the
 * count zero, the count 1..PROTO_HELD_BITS; the chunk arithmetic at the
 * edges of a geometry.
 */
static void
test_held(void)
{
	struct proto_held	h, h2;
	struct proto_geom	g;
	struct wire_w		w;
	struct proto_hdr	hd;
	enum proto_drop		why;
	uint8_t			buf[PROTO_HELD_LEN(PROTO_HELD_BITS) + 4];

	memset(&h, 0, sizeof(h));
	h.rid = 0x1122334455667788ULL;
	h.incarnation = 9;
	h.chunk = 3;
	h.nbits = 13;
	h.bits[0] = 0xa5;
	h.bits[1] = 0x1f;	/* bits 8..12 */
	wire_w_fixed(&w, buf, sizeof(buf));
	CU_ASSERT_FATAL(proto_put_held(&w, &h) == 0);
	CU_ASSERT_EQUAL(w.len, PROTO_HELD_LEN(13));
	CU_ASSERT_EQUAL(w.len, 12);
	memset(&h2, 0, sizeof(h2));
	CU_ASSERT(proto_get_held(buf, w.len, &h2) == 0);
	CU_ASSERT_EQUAL(h2.rid, 0);	/* the sub-header's */
	CU_ASSERT_EQUAL(h2.incarnation, 9);
	CU_ASSERT_EQUAL(h2.chunk, 3);
	CU_ASSERT_EQUAL(h2.nbits, 13);
	CU_ASSERT(memcmp(h2.bits, h.bits, 2) == 0);
	/* Short, long, a bit past the count. */
	CU_ASSERT(proto_get_held(buf, w.len - 1, &h2) == -1);
	CU_ASSERT(proto_get_held(buf, w.len + 1, &h2) == -1);
	buf[11] |= 0x20;
	CU_ASSERT(proto_get_held(buf, w.len, &h2) == -1);
	buf[11] &= 0x1f;
	/* A count of 0, or more than a chunk. */
	wire_store16(buf + 8, 0);
	CU_ASSERT(proto_get_held(buf, 10, &h2) == -1);
	h.nbits = PROTO_HELD_BITS + 1;
	wire_w_fixed(&w, buf, sizeof(buf));
	CU_ASSERT(proto_put_held(&w, &h) == -1);
	wire_store16(buf + 8, PROTO_HELD_BITS + 1);
	CU_ASSERT(proto_get_held(buf, PROTO_HELD_LEN(PROTO_HELD_BITS + 1),
	    &h2) == -1);
	/* A full chunk, incarnation 0. */
	h.nbits = PROTO_HELD_BITS;
	memset(h.bits, 0xff, sizeof(h.bits));
	wire_w_fixed(&w, buf, sizeof(buf));
	CU_ASSERT_FATAL(proto_put_held(&w, &h) == 0);
	CU_ASSERT_EQUAL(w.len, PROTO_HELD_LEN(PROTO_HELD_BITS));
	CU_ASSERT(proto_get_held(buf, w.len, &h2) == 0);
	memset(buf, 0, 4);
	CU_ASSERT(proto_get_held(buf, w.len, &h2) == -1);
	/* Chunks: 64 * 48 symbols of 1424 bytes a block. */
	CU_ASSERT_FATAL(proto_geom_init(&g, 1, 1424, 64, 48) == 0);
	CU_ASSERT_EQUAL(proto_held_chunks(&g), 1);
	CU_ASSERT_EQUAL(proto_held_nbits(&g, 0), 1);
	CU_ASSERT_EQUAL(proto_held_nbits(&g, 1), 0);
	CU_ASSERT_FATAL(proto_geom_init(&g, (uint64_t)PROTO_HELD_BITS * 64 *
	    48 * 1424 + 1, 1424, 64, 48) == 0);
	CU_ASSERT_EQUAL(g.nblocks, PROTO_HELD_BITS + 1);
	CU_ASSERT_EQUAL(proto_held_chunks(&g), 2);
	CU_ASSERT_EQUAL(proto_held_nbits(&g, 0), PROTO_HELD_BITS);
	CU_ASSERT_EQUAL(proto_held_nbits(&g, 1), 1);
	CU_ASSERT_EQUAL(proto_held_nbits(&g, 2), 0);
	/* The decoder takes the new type from receivers. */
	proto_put_hdr(buf, PROTO_HELD, 5, (const uint8_t *)"abcdefghijkl");
	proto_feedback_sub(42, buf + PROTO_HDR_LEN);
	CU_ASSERT(proto_decode(buf, PROTO_HDR_LEN + PROTO_SUB_LEN +
	    PROTO_TAG_LEN, &hd, &why) == 0);
	CU_ASSERT_EQUAL(hd.type, PROTO_HELD);
	CU_ASSERT_EQUAL(hd.rid, 42);
	CU_ASSERT_STRING_EQUAL(proto_type_name(PROTO_HELD), "HELD");
}

static CU_TestInfo tests[] = {
	{ "header bytes", test_header_bytes },
	{ "seal and open DATA", test_seal_open_data },
	{ "open refuses a body larger than its buffer", test_open_capacity },
	{ "decoder drop reasons", test_decode_drops },
	{ "a version 2 datagram is dropped as version", test_v2_dropped },
	{ "ANNOUNCE body", test_announce },
	{ "NCF body", test_ncf },
	{ "ACK and HELLO bodies", test_ack_hello },
	{ "REPORT body", test_report },
	{ "geometry", test_geometry },
	{ "key derivation", test_keys },
	{ "HELD bodies and chunks", test_held },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	return (unit_main("proto", tests));
}
