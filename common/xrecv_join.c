/*
 * How the receiver finds a sender and locks onto its session.  Before
 * locking, an authentic ANNOUNCE of an unknown session makes a candidate
 * (key derivation is budgeted per announcing address, so that a flood of
 * forged announces cannot keep the real sender out); a HELLO with a fresh
 * challenge proves the sender is live, so that replays of old sessions
 * cannot capture the receiver; and the sender's accepting ACK locks the
 * session: its geometry is checked against what the caller expects and
 * what memory allows, the bookkeeping is sized and the staging file
 * opened.  It calls only the store below it; the fsm learns the outcome
 * from return values and r->fail.
 */
#include <netinet/in.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proto.h"
#include "udp.h"
#include "wire.h"
#include "xrecv_int.h"

#define XR_DERIVE_MS		20	/* per address, between derivations */
#define XR_DERIVE_PER_S		1000	/* all addresses together */
/*
 * HELLO again to an address at most this often, on its ANNOUNCEs (every
 * 25 ms while the sender waits): a lost ACK, or HELLO, costs one such
 * wait before the transfer can start (200 ms was up to 0.3 s of a 2.6 s
 * transfer at 5% loss).
 */
#define XR_HELLO_MS		50
#define XR_CAND_SILENT_MS	1000	/* a candidate no HELLO went to */
/*
 * Memory a session may take, all of it sized by the sender's geometry
 * (bitmaps and per-group arrays grow with the file, the ring with the
 * block).  A sender asking for more is refused before anything is
 * allocated.  The defaults need 35 MiB for a 1 GiB file at MTU 1500,
 * about 270 MiB for 100 GiB on a 9000-byte MTU.
 */
#define XR_MEM_MAX		(1ULL << 30)

/* Send HELLO with a fresh challenge to one announcing address. */
static void
xr_join_hello(struct xrecv *r, struct xr_cand *c, struct xr_csrc *src)
{
	struct proto_hello	h;
	struct wire_w		w;
	uint8_t			body[32], nonce[PROTO_NONCE_LEN];
	uint8_t			sub[PROTO_SUB_LEN];
	uint8_t			dgram[PROTO_HDR_LEN + PROTO_SUB_LEN + 32 +
				    PROTO_TAG_LEN];
	ssize_t			n;

	do {
		if (crypto_random(&src->challenge,
		    sizeof(src->challenge)) == -1 ||
		    crypto_random(nonce, sizeof(nonce)) == -1)
			fatalx("xrecv: no randomness");
	} while (src->challenge == 0);
	h.rid = r->rid;
	h.incarnation = r->incarnation;
	h.challenge = src->challenge;
	wire_w_fixed(&w, body, sizeof(body));
	proto_put_hello(&w, &h);
	proto_feedback_sub(r->rid, sub);
	n = proto_seal(c->kf, PROTO_HELLO, c->session, nonce, sub, body,
	    w.len, dgram, sizeof(dgram));
	if (n == -1)
		fatalx("xrecv: seal failed");
	if (udp_sendto(r->csock, dgram, (size_t)n, &src->addr) == -1)
		log_warn("xrecv: sendto");
	src->hello_at = c->hello_at = mono_ms();
	src->nhello++;
	r->n_hellos++;
}

/* Whether challenge is one of those we sent the candidate's addresses. */
int
xr_join_challenge(const struct xr_cand *c, uint64_t challenge)
{
	int	i;

	for (i = 0; i < c->nsrc; i++)
		if (challenge != 0 && c->src[i].challenge == challenge)
			return (1);
	return (0);
}

/*
 * The entry of an address that sent the candidate an authentic
 * ANNOUNCE: known, new while there is room, or in place of one that did
 * not answer two HELLOs (a replay from a spoofed address, probably).
 * NULL: no room; the addresses already there are being asked.
 */
static struct xr_csrc *
xr_join_source(struct xr_cand *c, const struct udp_addr *from)
{
	struct xr_csrc	*src = NULL;
	int		 i;

	for (i = 0; i < c->nsrc; i++)
		if (udp_same(&c->src[i].addr, from))
			return (&c->src[i]);
	if (c->nsrc < XR_CAND_SRC)
		src = &c->src[c->nsrc++];
	else
		for (i = 0; i < c->nsrc && src == NULL; i++)
			if (c->src[i].nhello >= 2)
				src = &c->src[i];
	if (src != NULL) {
		memset(src, 0, sizeof(*src));
		src->addr = *from;
	}
	return (src);
}

static void
xr_join_cand_free(struct xr_cand *c)
{
	aead_free(c->kd);
	aead_free(c->kf);
	aead_free(c->ka);
	memset(c, 0, sizeof(*c));
}

/* The candidate of this session, or NULL. */
struct xr_cand *
xr_join_cand(struct xrecv *r, uint64_t session)
{
	int	i;

	for (i = 0; i < r->ncand; i++)
		if (r->cand[i].session == session)
			return (&r->cand[i]);
	return (NULL);
}

/*
 * Forget the candidates that did not answer our HELLO for a while (a
 * replay?); the number left, 0 sending the fsm back to listening.
 */
int
xr_join_expire(struct xrecv *r, uint64_t now)
{
	int	i;

	for (i = 0; i < r->ncand; i++)
		if (now - r->cand[i].hello_at >= XR_CAND_SILENT_MS) {
			/* Silent candidate (a replay?): forget it. */
			xr_join_cand_free(&r->cand[i]);
			memmove(&r->cand[i], &r->cand[i + 1],
			    sizeof(r->cand[0]) * (r->ncand - i - 1));
			memset(&r->cand[r->ncand - 1], 0,
			    sizeof(r->cand[0]));
			r->ncand--;
			i--;
		}
	return (r->ncand);
}

void
xr_join_drop_all(struct xrecv *r)
{
	int	i;

	for (i = 0; i < r->ncand; i++)
		xr_join_cand_free(&r->cand[i]);
	r->ncand = 0;
}

/* An address without its port: the derivation budget is per host. */
static void
xr_join_host(struct udp_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = 0;
	else if (a->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a->ss)->sin6_port = 0;
}

/*
 * Whether an ANNOUNCE of an unknown session from this address may cost a
 * key derivation (about 10 us).  Each address gets one every
 * XR_DERIVE_MS, so that a flood of announces with random sessions from
 * one address cannot keep the real sender's out (review finding 9: one
 * limiter shared by everybody let the real sender through about once in
 * twenty announces under a 1 ms flood, less under a faster one); all
 * addresses together get XR_DERIVE_PER_S, which bounds the CPU a flood
 * from many forged addresses can take.  An address that already sent an
 * authentic ANNOUNCE is not held to that shared budget and keeps its
 * entry (issue #12 finding 4: random-session announces from 500 forged
 * addresses spent it and kept the real sender out); the others share it,
 * the one that derived least recently making room for a new one.
 */
static int
xr_join_may_derive(struct xrecv *r, const struct udp_addr *from, uint64_t now)
{
	struct xr_source	*s = NULL, *lru = NULL;
	struct udp_addr		 a = *from;
	int			 i;

	xr_join_host(&a);
	if (now / 1000 != r->derive_sec) {
		r->derive_sec = now / 1000;
		r->derive_n = 0;
	}
	for (i = 0; i < XR_SOURCES && s == NULL; i++) {
		if (r->src[i].addr.len != 0 && udp_same(&r->src[i].addr, &a))
			s = &r->src[i];
		else if (!r->src[i].authentic &&
		    (lru == NULL || r->src[i].last < lru->last))
			lru = &r->src[i];
	}
	if (s != NULL && now - s->last < XR_DERIVE_MS)
		return (0);
	if (s != NULL && s->authentic) {
		s->last = now;
		return (1);
	}
	if (r->derive_n >= XR_DERIVE_PER_S)
		return (0);
	if (s == NULL) {
		if (lru == NULL)
			return (0);	/* 32 authentic senders: no room */
		s = lru;
		memset(s, 0, sizeof(*s));
		s->addr = a;
	}
	s->last = now;
	r->derive_n++;
	return (1);
}

/* from sent an authentic ANNOUNCE: its derivations are not budgeted. */
static void
xr_join_authentic(struct xrecv *r, const struct udp_addr *from)
{
	struct udp_addr	a = *from;
	int		i;

	xr_join_host(&a);
	for (i = 0; i < XR_SOURCES; i++)
		if (r->src[i].addr.len != 0 && udp_same(&r->src[i].addr, &a))
			r->src[i].authentic = 1;
}

/*
 * An ANNOUNCE before we are locked: maybe a new candidate session.  1
 * when a candidate was sent a HELLO (the fsm then starts joining), else 0.
 */
int
xr_join_announce(struct xrecv *r, const struct proto_hdr *h,
    const struct udp_addr *from)
{
	struct proto_announce	 a;
	struct proto_geom	 geom;
	struct xr_cand		*c;
	struct xr_csrc		*src;
	struct aead		*akd, *akf, *aka;
	uint8_t			 kd[AEAD_KEY_LEN], kf[AEAD_KEY_LEN];
	uint8_t			 ka[AEAD_KEY_LEN];
	uint8_t			 plain[PROTO_ANNOUNCE_LEN];
	uint64_t		 now = mono_ms();
	int			 i;

	/*
	 * An ANNOUNCE has one size.  Anything else is refused before keys
	 * are derived or anything is decrypted: its length comes from the
	 * network and may be far larger than the body (finding 1 of the
	 * security review: 9 KB here overflowed plain).
	 */
	if (h->ctlen != PROTO_ANNOUNCE_LEN) {
		r->drops[PROTO_DROP_RANGE]++;
		return (0);
	}
	/*
	 * Told which session to take (the agent, from START): no other
	 * costs a derivation (issue #12 finding 4).
	 */
	if (r->conf.session != 0 && h->session != r->conf.session) {
		r->drops[PROTO_DROP_SESSION]++;
		return (0);
	}
	if ((c = xr_join_cand(r, h->session)) == NULL) {
		if (!xr_join_may_derive(r, from, now)) {
			r->drops[PROTO_DROP_SESSION]++;
			return (0);
		}
		if (proto_derive_keys(r->conf.key, h->session, kd, kf,
		    ka) == -1)
			fatalx("xrecv: key derivation failed");
		/* Member mode: our own feedback and ACK keys. */
		if (r->conf.rid != 0 &&
		    (proto_derive(r->conf.member_key, PROTO_K_FEEDBACK,
		    h->session, kf) == -1 ||
		    proto_derive(r->conf.member_key, PROTO_K_ACK, h->session,
		    ka) == -1))
			fatalx("xrecv: key derivation failed");
		akd = aead_new(kd);
		akf = aead_new(kf);
		aka = aead_new(ka);
		explicit_bzero(kd, sizeof(kd));
		explicit_bzero(kf, sizeof(kf));
		explicit_bzero(ka, sizeof(ka));
		if (proto_open(akd, h, plain, sizeof(plain)) == -1) {
			r->drops[PROTO_DROP_AUTH]++;
			aead_free(akd);
			aead_free(akf);
			aead_free(aka);
			return (0);
		}
		xr_join_authentic(r, from);
		/*
		 * Only an authentic announce makes room, preferably by
		 * forgetting a session that is not the expected file.
		 */
		if (r->ncand == XR_CANDIDATES) {
			for (i = 0; i < XR_CANDIDATES; i++)
				if (r->cand[i].refused)
					break;
			if (i == XR_CANDIDATES)
				i = 0;	/* the oldest */
			xr_join_cand_free(&r->cand[i]);
			memmove(&r->cand[i], &r->cand[i + 1],
			    sizeof(r->cand[0]) * (XR_CANDIDATES - 1 - i));
			memset(&r->cand[XR_CANDIDATES - 1], 0,
			    sizeof(r->cand[0]));
			r->ncand--;
		}
		c = &r->cand[r->ncand++];
		c->kd = akd;
		c->kf = akf;
		c->ka = aka;
		c->session = h->session;
	} else if (proto_open(c->kd, h, plain, sizeof(plain)) == -1) {
		r->drops[PROTO_DROP_AUTH]++;
		return (0);
	}
	if (proto_get_announce(plain, h->ctlen, &a) == -1 ||
	    proto_geom_init(&geom, a.size, a.sym, a.k, a.il) == -1) {
		r->drops[PROTO_DROP_RANGE]++;
		return (0);
	}
	/*
	 * Not the file we are waiting for (review finding 8: anyone with
	 * the key could offer 2^48 bytes and have them allocated): never
	 * answered, so never locked onto.
	 */
	if ((r->conf.expect_size != 0 && a.size != r->conf.expect_size) ||
	    (r->conf.expect_digest && (a.flags & PROTO_AF_DIGEST) &&
	    memcmp(a.digest, r->conf.expect_sha256, SHA256_LEN) != 0)) {
		if (!c->refused)
			log_debug("xrecv: session %016" PRIx64 " offers %"
			    PRIu64 " bytes, not the expected file: ignored",
			    c->session, a.size);
		c->refused = 1;
		r->drops[PROTO_DROP_RANGE]++;
		return (0);
	}
	/*
	 * A sender keyed per member answers only its members, a PSK sender
	 * no member key: the other kind is never answered.
	 */
	if (((a.flags & PROTO_AF_MEMBERS) != 0) != (r->conf.rid != 0)) {
		if (!c->refused)
			log_warnx("xrecv: session %016" PRIx64 " %s", c->session,
			    r->conf.rid != 0 ? "is not keyed per member: "
			    "ignored" : "takes only the members of a server "
			    "run (member keys), not a PSK receiver");
		c->refused = 1;
		r->drops[PROTO_DROP_RANGE]++;
		return (0);
	}
	if (a.state == PROTO_S_FINISHED)
		return (0);
	r->n_announces++;
	c->ann = a;
	/*
	 * Every address that announces the session is asked, each with its
	 * own challenge, at most once per XR_HELLO_MS: the sender is the one
	 * whose ACK answers (xr_join_lock takes its address), so a replay of
	 * its ANNOUNCE from elsewhere cannot take its place (finding 3).
	 */
	if ((src = xr_join_source(c, from)) == NULL)
		return (0);
	if (src->hello_at == 0 || now - src->hello_at >= XR_HELLO_MS) {
		xr_join_hello(r, c, src);
		return (1);
	}
	return (0);
}

void
xr_join_free_session(struct xrecv *r)
{
	int	i;

	free(r->have);
	free(r->disk);
	free(r->g_have);
	free(r->g_par);
	free(r->g_seen);
	free(r->g_head);
	free(r->g_due);
	free(r->g_inq);
	free(r->g_ncf);
	free(r->g_ncf_ms);
	free(r->b_have);
	free(r->b_rx);
	free(r->b_slot);
	free(r->b_inq);
	free(r->b_due);
	free(r->gq);
	free(r->bq);
	free(r->held_c);
	for (i = 0; i < XR_RING; i++)
		free(r->ring[i].buf);
	for (i = 0; i < XR_POOL; i++)
		free(r->pool[i].buf);
}

/*
 * The memory a session of geometry g takes here, every allocation sized
 * by the sender's numbers (the state file is written from a copy of the
 * bitmap, hence three of them).
 */
static uint64_t
xr_join_geom_mem(const struct xrecv *r, const struct proto_geom *g)
{
	uint64_t	per_group, per_block;

	per_group = sizeof(*r->g_have) + sizeof(*r->g_par) +
	    sizeof(*r->g_seen) + sizeof(*r->g_head) + sizeof(*r->g_due) +
	    sizeof(*r->g_inq) + sizeof(*r->g_ncf) + sizeof(*r->g_ncf_ms) +
	    sizeof(*r->gq);
	per_block = sizeof(*r->b_have) + sizeof(*r->b_rx) +
	    sizeof(*r->b_slot) + sizeof(*r->b_inq) + sizeof(*r->b_due) +
	    sizeof(*r->bq);
	return (3 * ((g->nsym + 7) / 8) + per_group * g->ngroups +
	    per_block * g->nblocks + proto_held_chunks(g) +
	    (uint64_t)XR_RING * g->bsym * g->sym +
	    (uint64_t)XR_POOL * g->sym + (1 << 20));
}

/* calloc that remembers a failure instead of exiting. */
static void *
xr_join_alloc(int *failed, size_t n, size_t size)
{
	void	*p;

	if (*failed)
		return (NULL);
	if ((p = calloc(n, size)) == NULL)
		*failed = 1;
	return (p);
}

/*
 * Lock onto the candidate's session, whose sender's accepting ACK came
 * from the address from: geometry, staging file (resumed or
 * pre-allocated), the bookkeeping arrays.  The sender chose the geometry,
 * so its size is checked against max_size and what it costs in memory
 * against XR_MEM_MAX before anything is allocated, and no allocation
 * failure is fatal: the receiver fails and tells the sender.
 */
int
xr_join_lock(struct xrecv *r, struct xr_cand *c, const struct udp_addr *from)
{
	struct proto_geom	 *g = &r->geom;
	uint64_t		  blen, mem;
	int			  j, nomem = 0;

	r->lock_ann = c->ann;
	r->session = c->session;
	r->kd = c->kd;
	r->kf = c->kf;
	r->ka = c->ka;
	c->kd = c->kf = c->ka = NULL;
	/* Where the authentic ACK came from, not who announced last. */
	r->sender = *from;
	if (proto_geom_init(g, c->ann.size, c->ann.sym, c->ann.k,
	    c->ann.il) == -1)
		return (-1);
	xr_join_drop_all(r);
	if (r->conf.max_size != 0 && g->size > r->conf.max_size) {
		r->fail(r, "%s: cannot store %" PRIu64 " bytes: %s (at most %"
		    PRIu64 " here)", r->part, g->size, strerror(ENOSPC),
		    r->conf.max_size);
		return (-1);
	}
	if ((mem = xr_join_geom_mem(r, g)) > XR_MEM_MAX) {
		r->fail(r, "the sender's geometry (%" PRIu64 " bytes, "
		    "symbols of %u, k %u, I %u) needs %" PRIu64 " MiB here, "
		    "limit %llu MiB", g->size, g->sym, g->k, g->il,
		    mem >> 20, XR_MEM_MAX >> 20);
		return (-1);
	}
	blen = (g->nsym + 7) / 8;
	r->have = xr_join_alloc(&nomem, blen, 1);
	r->disk = xr_join_alloc(&nomem, blen, 1);
	r->g_have = xr_join_alloc(&nomem, g->ngroups, 1);
	r->g_par = xr_join_alloc(&nomem, g->ngroups, 1);
	r->g_seen = xr_join_alloc(&nomem, g->ngroups, sizeof(uint32_t));
	r->g_head = xr_join_alloc(&nomem, g->ngroups, sizeof(int32_t));
	r->g_due = xr_join_alloc(&nomem, g->ngroups, sizeof(uint32_t));
	r->g_inq = xr_join_alloc(&nomem, g->ngroups, 1);
	r->g_ncf = xr_join_alloc(&nomem, g->ngroups, sizeof(uint32_t));
	r->g_ncf_ms = xr_join_alloc(&nomem, g->ngroups, sizeof(uint32_t));
	r->b_have = xr_join_alloc(&nomem, g->nblocks, sizeof(uint32_t));
	r->b_rx = xr_join_alloc(&nomem, g->nblocks, sizeof(uint32_t));
	r->b_slot = xr_join_alloc(&nomem, g->nblocks, 1);
	r->b_inq = xr_join_alloc(&nomem, g->nblocks, 1);
	r->b_due = xr_join_alloc(&nomem, g->nblocks, sizeof(uint32_t));
	r->gq = xr_join_alloc(&nomem, g->ngroups, sizeof(uint32_t));
	r->bq = xr_join_alloc(&nomem, g->nblocks, sizeof(uint32_t));
	r->held_c = xr_join_alloc(&nomem, proto_held_chunks(g), 1);
	for (j = 0; j < XR_RING; j++) {
		r->ring[j].block = -1;
		r->ring[j].buf = xr_join_alloc(&nomem, g->bsym, g->sym);
	}
	r->pool_free = -1;
	for (j = XR_POOL - 1; j >= 0; j--) {
		r->pool[j].buf = xr_join_alloc(&nomem, 1, g->sym);
		r->pool[j].next = r->pool_free;
		r->pool_free = j;
	}
	r->scratch = xr_join_alloc(&nomem, 1, 1 << 20);
	if (nomem) {
		r->fail(r, "cannot allocate %" PRIu64 " MiB for a file of %"
		    PRIu64 " bytes: %s", mem >> 20, g->size, strerror(ENOMEM));
		return (-1);
	}
	memset(r->g_head, 0xff, g->ngroups * sizeof(int32_t));
	memset(r->b_slot, 0xff, g->nblocks);

	if (xr_store_open(r) == -1)
		return (-1);
	/* Known in advance: the file is checked against it, not the sender. */
	if (r->conf.expect_digest) {
		memcpy(r->digest, r->conf.expect_sha256, SHA256_LEN);
		r->digest_ok = 1;
	}
	if (r->cb.check == NULL)	/* else the caller verifies */
		r->sha = sha256_new();
	r->last_heard = mono_ms();
	r->overflow_base = r->overflow;
	if (xr_store_hash(r) == -1)
		return (-1);
	if (xr_store_persist(r) == -1)
		return (-1);
	if (r->cb.locked != NULL)
		r->cb.locked(r->arg, r->session, g->size);
	return (0);
}
