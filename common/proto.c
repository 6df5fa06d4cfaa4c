/*
 * Encoding and decoding of the multicast transport's datagrams (see
 * proto.h and doc/protocol.md), the geometry arithmetic both ends must
 * agree on, and the per-session key derivation.  Decoders check every
 * length and range and report why a datagram is refused; they never
 * trust a field to size a copy without checking it first.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "proto.h"

static const char *proto_drop_names[PROTO_DROP_MAX] = {
	"short", "magic", "version", "type", "session", "nonce", "auth",
	"range", "stale", "early", "overflow", "member", "budget",
};

const char *
proto_drop_name(enum proto_drop d)
{
	if (d >= PROTO_DROP_MAX)
		return ("unknown");
	return (proto_drop_names[d]);
}

/* Why a sender refused us, in words for the receiver's error. */
const char *
proto_reason_name(uint8_t reason)
{
	switch (reason) {
	case PROTO_RJ_FULL:
		return ("it takes no more receivers");
	case PROTO_RJ_STRAGGLER:
		return ("we fell behind the group");
	case PROTO_RJ_BUDGET:
		return ("we asked for more repairs than it grants");
	case PROTO_RJ_DEADLINE:
		return ("its deadline passed");
	case PROTO_RJ_FINISHED:
		return ("it finished");
	}
	return ("no reason given");
}

const char *
proto_type_name(uint8_t type)
{
	switch (type) {
	case PROTO_DATA:
		return ("DATA");
	case PROTO_REPAIR:
		return ("REPAIR");
	case PROTO_ANNOUNCE:
		return ("ANNOUNCE");
	case PROTO_NCF:
		return ("NCF");
	case PROTO_ACK:
		return ("ACK");
	case PROTO_HELLO:
		return ("HELLO");
	case PROTO_REPORT:
		return ("REPORT");
	case PROTO_HELD:
		return ("HELD");
	}
	return ("?");
}

/*
 * Check the announced parameters against the protocol's limits and derive
 * the counts.  Everything later indexes arrays by these numbers, so this
 * is the one place where a hostile ANNOUNCE must be stopped.
 */
int
proto_geom_init(struct proto_geom *g, uint64_t size, uint32_t sym,
    uint32_t k, uint32_t il)
{
	memset(g, 0, sizeof(*g));
	if (size == 0 || size > PROTO_MAX_SIZE)
		return (-1);
	if (sym < PROTO_MIN_SYM || sym > PROTO_MAX_SYM || sym % 16 != 0)
		return (-1);
	if (k < 1 || k > PROTO_MAX_K || il < 1 || il > PROTO_MAX_I)
		return (-1);
	g->size = size;
	g->sym = sym;
	g->k = k;
	g->il = il;
	g->bsym = k * il;
	g->nsym = (size + sym - 1) / sym;
	g->nblocks = (g->nsym + g->bsym - 1) / g->bsym;
	g->ngroups = g->nblocks * il;
	if (g->ngroups > UINT32_MAX)
		return (-1);
	return (0);
}

/* Length of symbol i: S, or what is left of the file for the last one. */
uint32_t
proto_sym_len(const struct proto_geom *g, uint64_t i)
{
	uint64_t	off = i * g->sym;

	if (i >= g->nsym)
		return (0);
	if (g->size - off < g->sym)
		return ((uint32_t)(g->size - off));
	return (g->sym);
}

/* Number of symbols in block b (only the last block may be short). */
uint32_t
proto_block_nsym(const struct proto_geom *g, uint64_t b)
{
	uint64_t	first = b * g->bsym;

	if (b >= g->nblocks)
		return (0);
	if (g->nsym - first < g->bsym)
		return ((uint32_t)(g->nsym - first));
	return (g->bsym);
}

/* Data symbols of group gr; 0 when the group does not exist. */
uint32_t
proto_group_k(const struct proto_geom *g, uint64_t gr)
{
	uint64_t	b = gr / g->il;
	uint32_t	lane = (uint32_t)(gr % g->il);
	uint32_t	n;

	if (gr >= g->ngroups)
		return (0);
	n = proto_block_nsym(g, b);
	if (lane >= n)
		return (0);
	return ((n - lane + g->il - 1) / g->il);
}

/* The file symbol at column c of group gr. */
uint64_t
proto_group_sym(const struct proto_geom *g, uint64_t gr, uint32_t c)
{
	return ((gr / g->il) * g->bsym + (uint64_t)c * g->il + gr % g->il);
}

/* The group that symbol i belongs to. */
uint64_t
proto_sym_group(const struct proto_geom *g, uint64_t i)
{
	return ((i / g->bsym) * g->il + (i % g->bsym) % g->il);
}

/* The Cauchy matrix row carried by repair number r of a group of k. */
uint32_t
proto_parity_row(uint32_t k, uint32_t r)
{
	return (k + r % (PROTO_GF_ROWS - k));
}

/*
 * Symbol size for a path MTU: what is left of a datagram after the IP and
 * UDP headers and our own overhead, in whole 16-byte units.
 */
uint32_t
proto_sym_size(int mtu, int ipv6)
{
	int	s;

	s = mtu - (ipv6 ? 40 : 20) - 8 - PROTO_SYM_OVERHEAD;
	s -= s % 16;
	if (s < PROTO_MIN_SYM)
		s = PROTO_MIN_SYM;
	if (s > PROTO_MAX_SYM)
		s = PROTO_MAX_SYM;
	return ((uint32_t)s);
}

static int
proto_hkdf(const uint8_t key[AEAD_KEY_LEN], const char *salt,
    const uint8_t *info, size_t infolen, uint8_t out[AEAD_KEY_LEN])
{
	EVP_KDF			*kdf;
	EVP_KDF_CTX		*ctx;
	OSSL_PARAM		 params[5], *p = params;
	int			 rv = -1;

	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL)
		return (-1);
	ctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (ctx == NULL)
		return (-1);
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)key, AEAD_KEY_LEN);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	    (void *)salt, strlen(salt));
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
	    (void *)info, infolen);
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, AEAD_KEY_LEN, params) == 1)
		rv = 0;
	EVP_KDF_CTX_free(ctx);
	return (rv);
}

/*
 * One key of a session: HKDF-SHA256 of the input key (the PSK, the run's
 * data key, or a member key) with the label and the session id.  The v3
 * salt keeps every v3 key apart from the v2 keys of the same input.
 */
int
proto_derive(const uint8_t key[AEAD_KEY_LEN], const char *label,
    uint64_t session, uint8_t out[AEAD_KEY_LEN])
{
	uint8_t	info[32];
	size_t	llen = strlen(label);

	if (llen > sizeof(info) - 8)
		return (-1);
	memcpy(info, label, llen);
	wire_store64(info + llen, session);
	return (proto_hkdf(key, "fleetcast-transport-v3", info, llen + 8,
	    out));
}

/*
 * The data, feedback and ACK keys of one session from a shared input key
 * (PSK mode: every receiver holds all three).  In member mode the caller
 * derives the data key from the run's key and the other two from each
 * member's key (proto_member_key).
 */
int
proto_derive_keys(const uint8_t key[AEAD_KEY_LEN], uint64_t session,
    uint8_t kd[AEAD_KEY_LEN], uint8_t kf[AEAD_KEY_LEN],
    uint8_t ka[AEAD_KEY_LEN])
{
	if (proto_derive(key, PROTO_K_DATA, session, kd) == -1 ||
	    proto_derive(key, PROTO_K_FEEDBACK, session, kf) == -1 ||
	    proto_derive(key, PROTO_K_ACK, session, ka) == -1)
		return (-1);
	return (0);
}

/*
 * A member's key M_m from the run's feedback key F_run: bound to the run
 * and to the member (the machine's inventory id), so that one member's
 * key says nothing about another's.
 */
int
proto_member_key(const uint8_t frun[AEAD_KEY_LEN], uint64_t run_id,
    uint64_t member_id, uint8_t out[AEAD_KEY_LEN])
{
	uint8_t	info[6 + 16];

	memcpy(info, "member", 6);
	wire_store64(info + 6, run_id);
	wire_store64(info + 14, member_id);
	return (proto_hkdf(frun, "fleetcast-member-v3", info, sizeof(info),
	    out));
}

/*
 * A sender nonce: the send time (us since the session started, mod 2^32)
 * and the packet counter.  The counter alone makes it unique; the time
 * rides along for the receivers' echo at no cost.
 */
void
proto_sender_nonce(uint64_t seq, uint32_t tx_us,
    uint8_t nonce[PROTO_NONCE_LEN])
{
	wire_store32(nonce, tx_us);
	wire_store64(nonce + 4, seq);
}

/* HELLO, REPORT, HELD: the types with the receiver id sub-header. */
int
proto_is_feedback(uint8_t type)
{
	return (type == PROTO_HELLO || type == PROTO_REPORT ||
	    type == PROTO_HELD);
}

/* The sub-header of a receiver's datagram: its id. */
void
proto_feedback_sub(uint64_t rid, uint8_t sub[PROTO_SUB_LEN])
{
	wire_store64(sub, rid);
}

static int
proto_is_sender_type(uint8_t type)
{
	return (type >= PROTO_DATA && type <= PROTO_ACK);
}

/*
 * Split a datagram into header, sub-header, ciphertext and tag, checking
 * only what can be checked without the key.  The caller then compares the
 * session and opens the ciphertext with proto_open.
 */
int
proto_decode(const uint8_t *buf, size_t len, struct proto_hdr *h,
    enum proto_drop *why)
{
	struct wire_r	 r;
	uint8_t		 m0, m1, ver;
	uint32_t	 gr;
	size_t		 aadlen = PROTO_HDR_LEN;

	memset(h, 0, sizeof(*h));
	wire_r_init(&r, buf, len);
	if (wire_get_u8(&r, &m0) == -1 || wire_get_u8(&r, &m1) == -1)
		goto short_;
	if (m0 != PROTO_MAGIC0 || m1 != PROTO_MAGIC1) {
		*why = PROTO_DROP_MAGIC;
		return (-1);
	}
	if (wire_get_u8(&r, &ver) == -1)
		goto short_;
	if (ver != PROTO_VERSION) {
		*why = PROTO_DROP_VERSION;
		return (-1);
	}
	if (wire_get_u8(&r, &h->type) == -1)
		goto short_;
	switch (h->type) {
	case PROTO_DATA:
	case PROTO_REPAIR:
	case PROTO_HELLO:
	case PROTO_REPORT:
	case PROTO_HELD:
		aadlen += PROTO_SUB_LEN;
		break;
	case PROTO_ANNOUNCE:
	case PROTO_NCF:
	case PROTO_ACK:
		break;
	default:
		*why = PROTO_DROP_TYPE;
		return (-1);
	}
	if (wire_get_u64(&r, &h->session) == -1 ||
	    wire_get_bytes(&r, h->nonce, PROTO_NONCE_LEN) == -1)
		goto short_;
	if (h->session == 0) {
		*why = PROTO_DROP_SESSION;
		return (-1);
	}
	if (proto_is_sender_type(h->type)) {
		h->tx_us = wire_load32(h->nonce);
		h->seq = wire_load64(h->nonce + 4);
	}
	if (h->type == PROTO_DATA) {
		if (wire_get_u64(&r, &h->index) == -1)
			goto short_;
	} else if (h->type == PROTO_REPAIR) {
		if (wire_get_u32(&r, &gr) == -1 ||
		    wire_get_u32(&r, &h->rseq) == -1)
			goto short_;
		h->index = gr;
	} else if (proto_is_feedback(h->type)) {
		if (wire_get_u64(&r, &h->rid) == -1)
			goto short_;
		if (h->rid == 0) {
			*why = PROTO_DROP_RANGE;
			return (-1);
		}
	}
	if (wire_r_left(&r) < PROTO_TAG_LEN)
		goto short_;
	h->aad = buf;
	h->aadlen = aadlen;
	h->ct = buf + aadlen;
	h->ctlen = len - aadlen - PROTO_TAG_LEN;
	h->tag = buf + len - PROTO_TAG_LEN;
	return (0);

short_:
	*why = PROTO_DROP_SHORT;
	return (-1);
}

/* Write the 24-byte header; returns its length. */
size_t
proto_put_hdr(uint8_t *out, uint8_t type, uint64_t session,
    const uint8_t nonce[PROTO_NONCE_LEN])
{
	out[0] = PROTO_MAGIC0;
	out[1] = PROTO_MAGIC1;
	out[2] = PROTO_VERSION;
	out[3] = type;
	wire_store64(out + 4, session);
	memcpy(out + 12, nonce, PROTO_NONCE_LEN);
	return (PROTO_HDR_LEN);
}

/*
 * Build a whole datagram into out: header, optional 8-byte sub-header
 * (DATA, REPAIR; HELLO, REPORT, HELD: proto_feedback_sub), encrypted body
 * and tag.  Returns its length, or -1 when
 * it does not fit or sealing fails.
 */
ssize_t
proto_seal(struct aead *a, uint8_t type, uint64_t session,
    const uint8_t nonce[PROTO_NONCE_LEN], const uint8_t *sub,
    const void *body, size_t len, uint8_t *out, size_t cap)
{
	size_t	aadlen = PROTO_HDR_LEN + (sub != NULL ? PROTO_SUB_LEN : 0);

	if (cap < aadlen + PROTO_TAG_LEN || len > cap - aadlen - PROTO_TAG_LEN)
		return (-1);
	proto_put_hdr(out, type, session, nonce);
	if (sub != NULL)
		memcpy(out + PROTO_HDR_LEN, sub, PROTO_SUB_LEN);
	if (aead_seal(a, nonce, out, aadlen, body, len, out + aadlen,
	    out + aadlen + len) == -1)
		return (-1);
	return ((ssize_t)(aadlen + len + PROTO_TAG_LEN));
}

/*
 * Authenticate and decrypt the ciphertext of a decoded datagram into out,
 * which holds cap bytes.  The plaintext is written before the tag is
 * checked, so a datagram longer than out is refused here, before any
 * decryption: its length comes from the network.
 */
int
proto_open(struct aead *a, const struct proto_hdr *h, void *out, size_t cap)
{
	if (h->ctlen > cap)
		return (-1);
	return (aead_open(a, h->nonce, h->aad, h->aadlen, h->ct, h->ctlen,
	    out, h->tag));
}

int
proto_put_announce(struct wire_w *w, const struct proto_announce *a)
{
	wire_put_u64(w, a->size);
	wire_put_u16(w, a->sym);
	wire_put_u16(w, a->k);
	wire_put_u16(w, a->il);
	wire_put_u8(w, a->state);
	wire_put_u8(w, a->flags);
	wire_put_u64(w, a->progress);
	wire_put_u64(w, a->rate);
	wire_put_u16(w, a->report_ms);
	wire_put_u16(w, a->backoff_ms);
	wire_put_u32(w, a->drop_ms);
	wire_put_u32(w, a->deadline_ms);
	wire_put_u8(w, a->fec_r);
	wire_put_u8(w, a->phase);
	wire_put_u16(w, 0);
	return (wire_put_bytes(w, a->digest, SHA256_LEN));
}

int
proto_get_announce(const uint8_t *buf, size_t len, struct proto_announce *a)
{
	struct wire_r	r;
	uint16_t	reserved;

	if (len != PROTO_ANNOUNCE_LEN)
		return (-1);
	wire_r_init(&r, buf, len);
	if (wire_get_u64(&r, &a->size) == -1 ||
	    wire_get_u16(&r, &a->sym) == -1 ||
	    wire_get_u16(&r, &a->k) == -1 ||
	    wire_get_u16(&r, &a->il) == -1 ||
	    wire_get_u8(&r, &a->state) == -1 ||
	    wire_get_u8(&r, &a->flags) == -1 ||
	    wire_get_u64(&r, &a->progress) == -1 ||
	    wire_get_u64(&r, &a->rate) == -1 ||
	    wire_get_u16(&r, &a->report_ms) == -1 ||
	    wire_get_u16(&r, &a->backoff_ms) == -1 ||
	    wire_get_u32(&r, &a->drop_ms) == -1 ||
	    wire_get_u32(&r, &a->deadline_ms) == -1 ||
	    wire_get_u8(&r, &a->fec_r) == -1 ||
	    wire_get_u8(&r, &a->phase) == -1 ||
	    wire_get_u16(&r, &reserved) == -1 ||
	    wire_get_bytes(&r, a->digest, SHA256_LEN) == -1)
		return (-1);
	if (a->state > PROTO_S_FINISHED || (a->flags & ~PROTO_AF_ALL) != 0 ||
	    a->phase > 5 || reserved != 0)
		return (-1);
	return (0);
}

int
proto_put_ncf(struct wire_w *w, const struct proto_ncf *n)
{
	uint16_t	i;

	if (n->n > PROTO_NCF_MAX)
		return (-1);
	wire_put_u16(w, n->n);
	for (i = 0; i < n->n; i++) {
		wire_put_u32(w, n->e[i].group);
		wire_put_u32(w, n->e[i].sched);
	}
	return (w->err ? -1 : 0);
}

int
proto_get_ncf(const uint8_t *buf, size_t len, struct proto_ncf *n)
{
	struct wire_r	r;
	uint16_t	i;

	wire_r_init(&r, buf, len);
	if (wire_get_u16(&r, &n->n) == -1 || n->n > PROTO_NCF_MAX)
		return (-1);
	for (i = 0; i < n->n; i++) {
		if (wire_get_u32(&r, &n->e[i].group) == -1 ||
		    wire_get_u32(&r, &n->e[i].sched) == -1)
			return (-1);
	}
	return (0);
}

int
proto_put_ack(struct wire_w *w, const struct proto_ack *a)
{
	wire_put_u64(w, a->rid);
	wire_put_u32(w, a->incarnation);
	wire_put_u64(w, a->challenge);
	wire_put_u8(w, a->verdict);
	return (wire_put_u8(w, a->reason));
}

int
proto_get_ack(const uint8_t *buf, size_t len, struct proto_ack *a)
{
	struct wire_r	r;

	if (len != PROTO_ACK_LEN)
		return (-1);
	wire_r_init(&r, buf, len);
	if (wire_get_u64(&r, &a->rid) == -1 ||
	    wire_get_u32(&r, &a->incarnation) == -1 ||
	    wire_get_u64(&r, &a->challenge) == -1 ||
	    wire_get_u8(&r, &a->verdict) == -1 ||
	    wire_get_u8(&r, &a->reason) == -1)
		return (-1);
	if (a->verdict < PROTO_ACK_ACCEPTED || a->verdict > PROTO_ACK_REJECTED)
		return (-1);
	/* A reason only with a refusal, and one we know. */
	if (a->verdict == PROTO_ACK_REJECTED ? (a->reason < PROTO_RJ_FULL ||
	    a->reason > PROTO_RJ_FINISHED) : a->reason != PROTO_RJ_NONE)
		return (-1);
	return (0);
}

int
proto_put_hello(struct wire_w *w, const struct proto_hello *h)
{
	wire_put_u32(w, h->incarnation);
	return (wire_put_u64(w, h->challenge));
}

int
proto_get_hello(const uint8_t *buf, size_t len, struct proto_hello *h)
{
	struct wire_r	r;

	if (len != PROTO_HELLO_LEN)
		return (-1);
	wire_r_init(&r, buf, len);
	if (wire_get_u32(&r, &h->incarnation) == -1 ||
	    wire_get_u64(&r, &h->challenge) == -1)
		return (-1);
	if (h->incarnation == 0)
		return (-1);
	return (0);
}

int
proto_put_report(struct wire_w *w, const struct proto_report *p)
{
	uint16_t	i;

	if (p->errlen > PROTO_ERR_MAX || p->nnak > PROTO_NAK_MAX)
		return (-1);
	wire_put_u32(w, p->incarnation);
	wire_put_u32(w, p->rseq);
	wire_put_u8(w, p->state);
	wire_put_u8(w, p->flags);
	wire_put_u16(w, p->queue_pm);
	wire_put_u32(w, p->rx_us);
	wire_put_u64(w, p->rx_bytes);
	wire_put_u32(w, p->rx_packets);
	wire_put_u64(w, p->rx_hw_seq);
	wire_put_u32(w, p->echo_tx_us);
	wire_put_u32(w, p->echo_hold_us);
	wire_put_u32(w, p->qdelay_us);
	wire_put_u64(w, p->have_bytes);
	wire_put_u32(w, p->repairs);
	wire_put_u32(w, p->overflow);
	wire_put_u16(w, p->loss_pm);
	wire_put_u8(w, p->need97);
	wire_put_u8(w, p->need_max);
	wire_put_u16(w, p->errlen);
	wire_put_bytes(w, p->err, p->errlen);
	wire_put_u16(w, p->nnak);
	for (i = 0; i < p->nnak; i++) {
		wire_put_u8(w, p->nak[i].kind);
		wire_put_u32(w, p->nak[i].id);
		wire_put_u16(w, p->nak[i].need);
		wire_put_u32(w, p->nak[i].seen);
	}
	return (w->err ? -1 : 0);
}

/*
 * A REPORT body: every fixed field, the error text and the NAKs, and
 * nothing after them (v2's optional trailing field is a fixed one now).
 * Ranges the body alone can tell are checked here; what needs the
 * sender's state (rx_hw_seq against what it sent) is xs_report's.
 */
int
proto_get_report(const uint8_t *buf, size_t len, struct proto_report *p)
{
	struct wire_r	r;
	uint16_t	i;

	wire_r_init(&r, buf, len);
	if (wire_get_u32(&r, &p->incarnation) == -1 ||
	    wire_get_u32(&r, &p->rseq) == -1 ||
	    wire_get_u8(&r, &p->state) == -1 ||
	    wire_get_u8(&r, &p->flags) == -1 ||
	    wire_get_u16(&r, &p->queue_pm) == -1 ||
	    wire_get_u32(&r, &p->rx_us) == -1 ||
	    wire_get_u64(&r, &p->rx_bytes) == -1 ||
	    wire_get_u32(&r, &p->rx_packets) == -1 ||
	    wire_get_u64(&r, &p->rx_hw_seq) == -1 ||
	    wire_get_u32(&r, &p->echo_tx_us) == -1 ||
	    wire_get_u32(&r, &p->echo_hold_us) == -1 ||
	    wire_get_u32(&r, &p->qdelay_us) == -1 ||
	    wire_get_u64(&r, &p->have_bytes) == -1 ||
	    wire_get_u32(&r, &p->repairs) == -1 ||
	    wire_get_u32(&r, &p->overflow) == -1 ||
	    wire_get_u16(&r, &p->loss_pm) == -1 ||
	    wire_get_u8(&r, &p->need97) == -1 ||
	    wire_get_u8(&r, &p->need_max) == -1 ||
	    wire_get_u16(&r, &p->errlen) == -1)
		return (-1);
	if (p->incarnation == 0 || p->state < PROTO_R_READY ||
	    p->state > PROTO_R_FAILED || (p->flags & ~PROTO_RF_ALL) != 0 ||
	    p->queue_pm > 1000 || p->loss_pm > 1000 ||
	    p->errlen > PROTO_ERR_MAX)
		return (-1);
	if (wire_get_bytes(&r, p->err, p->errlen) == -1)
		return (-1);
	p->err[p->errlen] = '\0';
	if (wire_get_u16(&r, &p->nnak) == -1 || p->nnak > PROTO_NAK_MAX)
		return (-1);
	for (i = 0; i < p->nnak; i++) {
		if (wire_get_u8(&r, &p->nak[i].kind) == -1 ||
		    wire_get_u32(&r, &p->nak[i].id) == -1 ||
		    wire_get_u16(&r, &p->nak[i].need) == -1 ||
		    wire_get_u32(&r, &p->nak[i].seen) == -1)
			return (-1);
		if (p->nak[i].kind != PROTO_NAK_BLOCK &&
		    p->nak[i].kind != PROTO_NAK_GROUP)
			return (-1);
	}
	if (wire_r_left(&r) != 0)
		return (-1);
	return (0);
}

/* The number of HELD chunks that cover the blocks of a geometry. */
uint64_t
proto_held_chunks(const struct proto_geom *g)
{
	return ((g->nblocks + PROTO_HELD_BITS - 1) / PROTO_HELD_BITS);
}

/* The blocks in HELD chunk c, 0 past the last chunk. */
uint32_t
proto_held_nbits(const struct proto_geom *g, uint64_t c)
{
	uint64_t	first;

	if (c >= proto_held_chunks(g))
		return (0);
	first = c * PROTO_HELD_BITS;
	if (g->nblocks - first < PROTO_HELD_BITS)
		return ((uint32_t)(g->nblocks - first));
	return (PROTO_HELD_BITS);
}

int
proto_put_held(struct wire_w *w, const struct proto_held *h)
{
	if (h->nbits == 0 || h->nbits > PROTO_HELD_BITS)
		return (-1);
	wire_put_u32(w, h->incarnation);
	wire_put_u32(w, h->chunk);
	wire_put_u16(w, h->nbits);
	wire_put_bytes(w, h->bits, ((size_t)h->nbits + 7) / 8);
	return (w->err ? -1 : 0);
}

/*
 * A HELD body: the length must be exactly what the bit count says, and the
 * bits past the count in the last byte must be zero, so that a bitmap that
 * claims more blocks than it counts is refused here.  Whether the count
 * fits the geometry is the sender's check (proto_held_nbits).
 */
int
proto_get_held(const uint8_t *buf, size_t len, struct proto_held *h)
{
	struct wire_r	r;
	size_t		nbytes;

	wire_r_init(&r, buf, len);
	if (wire_get_u32(&r, &h->incarnation) == -1 ||
	    wire_get_u32(&r, &h->chunk) == -1 ||
	    wire_get_u16(&r, &h->nbits) == -1)
		return (-1);
	if (h->incarnation == 0 || h->nbits == 0 || h->nbits > PROTO_HELD_BITS)
		return (-1);
	nbytes = ((size_t)h->nbits + 7) / 8;
	if (wire_r_left(&r) != nbytes ||
	    wire_get_bytes(&r, h->bits, nbytes) == -1)
		return (-1);
	if (h->nbits % 8 != 0 &&
	    (h->bits[nbytes - 1] >> (h->nbits % 8)) != 0)
		return (-1);
	return (0);
}
