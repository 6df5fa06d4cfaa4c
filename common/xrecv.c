/*
 * The multicast receiver.  It listens for an authentic ANNOUNCE, proves
 * the sender is live with a HELLO challenge before locking onto that
 * session (so replays of old sessions cannot capture it), then decrypts
 * DATA straight into a small ring of block buffers, rebuilds lost symbols
 * from REPAIR parity with ISA-L, and writes whole blocks into the staging
 * file with pwrite.  A bitmap of the symbols on disk is persisted after an
 * fdatasync, so a receiver killed and restarted asks only for what it
 * lacks.  Losses are NAKed after a random back-off unless the sender's NCF
 * shows that enough repairs are already on their way.  The SHA-256 is
 * computed in file order as blocks complete and compared with the one the
 * sender announces before the file is renamed into place (or the caller
 * is handed the bytes and verifies them: xrecv_cb.check).  A receiver
 * that starts with blocks on disk tells the sender which (HELD), so that
 * a new session of the same content does not send them again.
 *
 * This file holds the state machine, the public API and the receive path
 * (DATA, REPAIR, decoding, NAKs, REPORT and HELD); finding and locking a
 * session is in xrecv_join.c, the staging and state files in
 * xrecv_store.c, both below it (xrecv_int.h).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "fec.h"
#include "log.h"
#include "proto.h"
#include "udp.h"
#include "wire.h"
#include "xmalloc.h"
#include "xrecv_int.h"

#define XR_TICK_MS		5
#define XR_REPORT_MS		100	/* heartbeat while receiving */
#define XR_REPORT_FAST_MS	10	/* ... when the ANNOUNCE says FAST */
#define XR_LOSS_BLOCKS		16	/* blocks the first-pass loss averages */
#define XR_RENAK_MS		30
#define XR_NCF_MS		100
#define XR_PERSIST_MS		1000
#define XR_DONE_MS		100
/*
 * DONE again every 25 ms for its first 100 ms: a lost ACK of it held the
 * end of a 0.6 s transfer 100 ms (one run in three at 5% loss).
 */
#define XR_DONE_FAST_MS		25
#define XR_DONE_FAST_SPAN_MS	100
#define XR_DONE_GIVEUP_MS	3000
#define XR_CONGEST_MS		10
#define XR_HELD_WAIT_MS		100	/* HELD again, sender waiting */
#define XR_HELD_MS		1000	/* HELD again, first pass running */
#define XR_HELD_BURST		64	/* HELD chunks sent at once */
#define XR_BUDGET		2048	/* datagrams per wake-up, then timers */

enum xrecv_event {
	XRE_START,
	XRE_CANDIDATE,	/* an authentic ANNOUNCE of a new session */
	XRE_ACCEPTED,	/* the sender answered our challenge */
	XRE_JOIN_TIMEOUT, /* every candidate stayed silent */
	XRE_COMPLETE,	/* file verified and in place */
	XRE_ACKED,	/* the sender confirmed our DONE */
	XRE_GIVEUP,	/* DONE never confirmed: stop anyway */
	XRE_FAIL,
};

static void	xrecv_fsm(struct xrecv *, enum xrecv_event);
static void	xr_fail(struct xrecv *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	xr_send_report(struct xrecv *, int);

/* Milliseconds since start, for the compact per-group timers. */
static uint32_t
xr_ms(struct xrecv *r)
{
	return ((uint32_t)(mono_ms() - r->t0_ms));
}

static const char *
xrecv_strstate(enum xrecv_state s)
{
	switch (s) {
	case XR_INIT:
		return ("INIT");
	case XR_LISTEN:
		return ("LISTEN");
	case XR_JOINING:
		return ("JOINING");
	case XR_RECEIVING:
		return ("RECEIVING");
	case XR_DONE:
		return ("DONE");
	case XR_FINISHED:
		return ("FINISHED");
	case XR_FAILED:
		return ("FAILED");
	}
	return ("?");
}

static void
xrecv_set_state(struct xrecv *r, enum xrecv_state ns)
{
	log_debug("xrecv %016" PRIx64 ": %s -> %s", r->session,
	    xrecv_strstate(r->state), xrecv_strstate(ns));
	r->state = ns;
}

static uint32_t
xr_rand(uint32_t n)
{
	uint32_t	v;

	if (n == 0)
		return (0);
	if (crypto_random(&v, sizeof(v)) == -1)
		v = (uint32_t)mono_us();
	return (v % n);
}

static void
xr_q_group(struct xrecv *r, uint32_t g, uint32_t due)
{
	if (r->g_inq[g])
		return;
	r->g_inq[g] = 1;
	r->g_due[g] = due;
	r->gq[(r->gq_head + r->gq_len) % r->geom.ngroups] = g;
	r->gq_len++;
}

static void
xr_q_block(struct xrecv *r, uint32_t b, uint32_t due)
{
	if (r->b_inq[b])
		return;
	r->b_inq[b] = 1;
	r->b_due[b] = due;
	r->bq[(r->bq_head + r->bq_len) % r->geom.nblocks] = b;
	r->bq_len++;
}

/* Queue the losses of a block that has passed for a NAK. */
static void
xr_block_passed(struct xrecv *r, uint64_t b)
{
	uint32_t	now = xr_ms(r), back = 10, lane;
	uint64_t	g;

	if (r->b_have[b] == proto_block_nsym(&r->geom, b))
		return;
	/* Most of it lost: the block again beats parity for every group. */
	if (r->b_have[b] < proto_block_nsym(&r->geom, b) / 2) {
		xr_q_block(r, (uint32_t)b, now + xr_rand(back));
		return;
	}
	for (lane = 0; lane < r->geom.il; lane++) {
		g = b * r->geom.il + lane;
		if (proto_group_k(&r->geom, g) > r->g_have[g])
			xr_q_group(r, (uint32_t)g, now + xr_rand(back));
	}
}

/*
 * Blocks before upto have been sent once.  With live, because a DATA
 * symbol of a later block arrived: then what is missing of them is first
 * pass loss, averaged for the sender's proactive parity (the first block
 * after joining is left out: a late joiner did not lose its start).
 */
static void
xr_advance_passed(struct xrecv *r, uint64_t upto, int live)
{
	double	miss;
	uint32_t n;

	if (upto > r->geom.nblocks)
		upto = r->geom.nblocks;
	while (r->passed < upto) {
		n = proto_block_nsym(&r->geom, r->passed);
		/*
		 * Whole here and not one symbol of it in the first pass: the
		 * sender skipped it (we said we hold it).  No loss sample.
		 */
		if (live && r->b_have[r->passed] == n &&
		    r->b_rx[r->passed] == 0) {
			xr_block_passed(r, r->passed++);
			continue;
		}
		/*
		 * The mean of the first XR_LOSS_BLOCKS samples, then an
		 * average of about as many: a link that drops bursts (the
		 * lab's whole GSO trains, about 70 of them a block) moves
		 * one block's loss by a few points, and the sender sizes
		 * every group's parity for the worst receiver's figure (at
		 * 5% loss and 8 receivers an average of 5 blocks asked 13.7%
		 * of parity where 11% was enough).  Parity is per group and
		 * interleaved, so the bursts themselves need nothing more.
		 */
		if (live && r->live_blocks++ > 0 && n > 0) {
			miss = r->b_rx[r->passed] >= n ? 0 :
			    (double)(n - r->b_rx[r->passed]) / n;
			r->loss += (miss - r->loss) / (double)(r->live_blocks -
			    1 < XR_LOSS_BLOCKS ? r->live_blocks - 1 :
			    XR_LOSS_BLOCKS);
		}
		xr_block_passed(r, r->passed++);
	}
}


/* Everything held and hashed: verified and renamed into place, done. */
static void
xr_try_finish(struct xrecv *r)
{
	if (r->state != XR_RECEIVING || r->nhave != r->geom.nsym ||
	    r->hash_next != r->geom.nblocks || !r->digest_ok)
		return;
	if (xr_store_finish(r) == -1)
		return;
	xrecv_fsm(r, XRE_COMPLETE);
}

static void
xr_block_complete(struct xrecv *r, uint64_t b)
{
	r->blocks_done++;
	if (r->b_slot[b] >= 0 &&
	    xr_store_writeback(r, &r->ring[r->b_slot[b]]) == -1)
		return;
	if (xr_store_hash(r) == -1)
		return;
	xr_try_finish(r);
}

static void
xr_par_free_group(struct xrecv *r, uint32_t g)
{
	int32_t	i, next;

	for (i = r->g_head[g]; i != -1; i = next) {
		next = r->pool[i].next;
		r->pool[i].next = r->pool_free;
		r->pool_free = i;
	}
	r->g_head[g] = -1;
	r->g_par[g] = 0;
}

/* Rebuild the missing data symbols of group g from what it holds. */
static void
xr_decode(struct xrecv *r, uint32_t g)
{
	uint32_t	 k = proto_group_k(&r->geom, g), c, n = 0, nmiss = 0;
	uint32_t	 rows[PROTO_MAX_K], miss[PROTO_MAX_K];
	uint8_t		*src[PROTO_MAX_K], *out[PROTO_MAX_K];
	uint64_t	 b = g / r->geom.il, first = b * r->geom.bsym, i;
	struct xr_slot	*sl;
	int32_t		 p;

	if ((sl = xr_store_block(r, b)) == NULL)
		return;
	for (c = 0; c < k; c++) {
		i = proto_group_sym(&r->geom, g, c);
		if (xr_bit(r->have, i)) {
			if (n < k) {
				rows[n] = c;
				src[n++] = sl->buf + (i - first) * r->geom.sym;
			}
		} else {
			miss[nmiss] = c;
			out[nmiss++] = sl->buf + (i - first) * r->geom.sym;
		}
	}
	for (p = r->g_head[g]; p != -1 && n < k; p = r->pool[p].next) {
		rows[n] = r->pool[p].row;
		src[n++] = r->pool[p].buf;
	}
	if (n < k || nmiss == 0)
		return;
	if (fec_decode(r->fec, k, rows, src, nmiss, miss, out,
	    r->geom.sym) == -1) {
		log_warnx("xrecv %016" PRIx64 ": group %u: decode failed",
		    r->session, g);
		xr_par_free_group(r, g);
		return;
	}
	xr_par_free_group(r, g);
	for (c = 0; c < nmiss; c++) {
		i = proto_group_sym(&r->geom, g, miss[c]);
		xr_setbit(r->have, i);
		r->nhave++;
		r->b_have[b]++;
		r->g_have[g]++;
		r->n_decoded++;
	}
	if (r->b_have[b] == proto_block_nsym(&r->geom, b))
		xr_block_complete(r, b);
}

/*
 * A DATA symbol.  Nothing is touched before the packet is authentic: no
 * ring slot is loaded or evicted, no block counts as passed, no NAK is
 * scheduled (review finding 5: forged DATA far ahead made receivers NAK
 * thousands of blocks and churn their ring).  When the symbol's block is
 * in the ring already, the symbol is decrypted in place, since the space
 * of a symbol we do not hold is not state; otherwise (the first symbol of
 * each new block) it goes through the scratch symbol first.
 */
static void
xr_data(struct xrecv *r, const struct proto_hdr *h)
{
	uint64_t	 i = h->index, b, g;
	uint32_t	 len;
	struct xr_slot	*sl;
	uint8_t		*dst;
	size_t		 off;
	int		 resend, held;

	if (i >= r->geom.nsym || h->ctlen != (len = proto_sym_len(&r->geom,
	    i))) {
		r->drops[PROTO_DROP_RANGE]++;
		return;
	}
	b = i / r->geom.bsym;
	off = (size_t)(i % r->geom.bsym) * r->geom.sym;
	resend = b < r->passed;
	held = xr_bit(r->have, i);
	/* A resent symbol we hold teaches us nothing: not worth a decrypt. */
	if (held && resend) {
		r->n_dup++;
		return;
	}
	if (!held && r->b_slot[b] >= 0)
		dst = r->ring[r->b_slot[b]].buf + off;
	else
		dst = r->symbuf;
	if (proto_open(r->kd, h, dst, r->geom.sym) == -1) {
		r->drops[PROTO_DROP_AUTH]++;
		return;
	}
	xr_saw_seq(r, h);
	r->last_heard = mono_ms();
	if (!resend) {
		xr_advance_passed(r, b, 1);
		/* Held already (resumed) counts as arrived: it is not loss. */
		r->b_rx[b]++;
	}
	if (held) {
		r->n_dup++;
		return;
	}
	if ((sl = xr_store_block(r, b)) == NULL)
		return;
	if (dst == r->symbuf) {
		dst = sl->buf + off;
		memcpy(dst, r->symbuf, len);
	}
	if (len < r->geom.sym)
		memset(dst + len, 0, r->geom.sym - len);
	if (r->t_first == 0)
		r->t_first = mono_us();
	r->n_packets++;
	r->received_bytes += len;
	if (resend)
		r->n_repairs++;
	xr_setbit(r->have, i);
	r->nhave++;
	r->b_have[b]++;
	g = proto_sym_group(&r->geom, i);
	r->g_have[g]++;
	if (r->g_have[g] < proto_group_k(&r->geom, g) &&
	    r->g_have[g] + r->g_par[g] >= proto_group_k(&r->geom, g))
		xr_decode(r, (uint32_t)g);
	else if (r->g_par[g] > 0 &&
	    r->g_have[g] == proto_group_k(&r->geom, g))
		xr_par_free_group(r, (uint32_t)g);
	if (r->state == XR_RECEIVING &&
	    r->b_have[b] == proto_block_nsym(&r->geom, b))
		xr_block_complete(r, b);
}

/*
 * The parity pool is full: the group whose parity should make room, the
 * one furthest from decoding, unless that is the group this parity is for
 * (UINT32_MAX: none).  Without this, groups that each hold some parity
 * and wait for more could fill the pool and never complete.  It only
 * chooses: the caller frees the victim once the new parity is authentic.
 */
static uint32_t
xr_pool_victim(struct xrecv *r, uint32_t g, uint32_t k)
{
	uint32_t	victim = UINT32_MAX, vg, need, worst = 0;
	int		i;

	for (i = 0; i < XR_POOL; i++) {
		vg = r->pool[i].group;
		need = proto_group_k(&r->geom, vg) - r->g_have[vg] -
		    r->g_par[vg];
		if (victim == UINT32_MAX || need > worst) {
			victim = vg;
			worst = need;
		}
	}
	if (victim == UINT32_MAX || victim == g ||
	    worst < k - r->g_have[g] - r->g_par[g])
		return (UINT32_MAX);
	return (victim);
}

/*
 * A REPAIR symbol.  As for DATA, nothing changes before it is authentic:
 * it is decrypted into a free pool entry (not linked anywhere until then)
 * or, with the pool full, into the scratch symbol, and only then does the
 * victim group lose its parity.
 */
static void
xr_repair(struct xrecv *r, const struct proto_hdr *h)
{
	uint64_t	g = h->index;
	uint32_t	k, row, victim = UINT32_MAX;
	uint8_t		*dst;
	int32_t		p;

	if (g >= r->geom.ngroups || (k = proto_group_k(&r->geom, g)) == 0 ||
	    h->ctlen != r->geom.sym) {
		r->drops[PROTO_DROP_RANGE]++;
		return;
	}
	if (r->g_have[g] + r->g_par[g] >= k) {
		r->n_dup++;
		return;
	}
	row = proto_parity_row(k, h->rseq);
	for (p = r->g_head[g]; p != -1; p = r->pool[p].next)
		if (r->pool[p].row == row) {
			r->n_dup++;
			return;
		}
	if (r->pool_free == -1) {
		if ((victim = xr_pool_victim(r, (uint32_t)g, k)) ==
		    UINT32_MAX) {
			r->n_dup++;	/* it will be asked for again */
			return;
		}
		dst = r->symbuf;
	} else
		dst = r->pool[r->pool_free].buf;
	if (proto_open(r->kd, h, dst, r->geom.sym) == -1) {
		r->drops[PROTO_DROP_AUTH]++;
		return;
	}
	if (victim != UINT32_MAX) {
		xr_par_free_group(r, victim);
		memcpy(r->pool[r->pool_free].buf, r->symbuf, r->geom.sym);
	}
	p = r->pool_free;
	xr_saw_seq(r, h);
	r->last_heard = mono_ms();
	r->pool_free = r->pool[p].next;
	r->pool[p].group = (uint32_t)g;
	r->pool[p].row = row;
	r->pool[p].next = r->g_head[g];
	r->g_head[g] = p;
	r->g_par[g]++;
	if (h->rseq + 1 > r->g_seen[g])
		r->g_seen[g] = h->rseq + 1;
	r->n_packets++;
	r->n_repairs++;
	if (r->g_have[g] + r->g_par[g] >= k)
		xr_decode(r, (uint32_t)g);
}

static void
xr_ncf(struct xrecv *r, const struct proto_ncf *n)
{
	uint32_t	now = xr_ms(r);
	uint16_t	i;

	for (i = 0; i < n->n; i++) {
		if (n->e[i].group >= r->geom.ngroups)
			continue;
		r->g_ncf[n->e[i].group] = n->e[i].sched;
		r->g_ncf_ms[n->e[i].group] = now;
	}
}

static void
xr_announce_locked(struct xrecv *r, const struct proto_announce *a)
{
	if (a->size != r->geom.size || a->sym != r->geom.sym ||
	    a->k != r->geom.k || a->il != r->geom.il) {
		r->drops[PROTO_DROP_RANGE]++;
		return;
	}
	if ((a->flags & PROTO_AF_DIGEST) && !r->digest_ok) {
		memcpy(r->digest, a->digest, SHA256_LEN);
		r->digest_ok = 1;
	} else if ((a->flags & PROTO_AF_DIGEST) &&
	    memcmp(a->digest, r->digest, SHA256_LEN) != 0) {
		xr_fail(r, "the sender's SHA-256 is not the expected one");
		return;
	}
	r->ann_state = a->state;
	r->ann_fast = (a->flags & PROTO_AF_FAST) != 0;
	if (a->progress <= r->geom.nsym && a->progress > r->ann_progress)
		r->ann_progress = a->progress;
	if (a->progress <= r->geom.nsym) {
		if (a->progress == r->geom.nsym)
			xr_advance_passed(r, r->geom.nblocks, 0);
		else
			xr_advance_passed(r, a->progress / r->geom.bsym, 0);
	}
	xr_try_finish(r);
	if (a->state == PROTO_S_FINISHED && r->state == XR_RECEIVING)
		xr_fail(r, "the sender finished before the file was "
		    "complete (%" PRIu64 " of %" PRIu64 " bytes)",
		    r->nhave * r->geom.sym > r->geom.size ? r->geom.size :
		    r->nhave * r->geom.sym, r->geom.size);
}

static void
xr_ack(struct xrecv *r, const struct proto_hdr *h, const uint8_t *plain,
    const struct udp_addr *from)
{
	struct proto_ack	 a;
	struct xr_cand		*c;

	if (proto_get_ack(plain, h->ctlen, &a) == -1 || a.rid != r->rid ||
	    a.incarnation != r->incarnation) {
		r->drops[PROTO_DROP_RANGE]++;
		return;
	}
	if (r->state == XR_JOINING) {
		c = xr_join_cand(r, h->session);
		if (c == NULL || !xr_join_challenge(c, a.challenge)) {
			r->drops[PROTO_DROP_STALE]++;
			return;
		}
		if (a.verdict == PROTO_ACK_REJECTED) {
			xr_fail(r, "the sender refused us: %s",
			    proto_reason_name(a.reason));
			return;
		}
		if (a.verdict != PROTO_ACK_ACCEPTED)
			return;
		if (xr_join_lock(r, c, from) == -1) {
			if (r->state != XR_FAILED)
				xr_fail(r, "cannot lock onto the session");
			return;
		}
		xrecv_fsm(r, XRE_ACCEPTED);
		return;
	}
	if (h->session != r->session) {
		r->drops[PROTO_DROP_SESSION]++;
		return;
	}
	if (a.verdict == PROTO_ACK_DONE && r->state == XR_DONE)
		xrecv_fsm(r, XRE_ACKED);
	else if (a.verdict == PROTO_ACK_REJECTED && r->state == XR_RECEIVING)
		xr_fail(r, "the sender refused us: %s",
		    proto_reason_name(a.reason));
}

static struct aead *
xr_cand_key(struct xrecv *r, uint64_t session)
{
	struct xr_cand	*c = xr_join_cand(r, session);

	return (c != NULL ? c->kd : NULL);
}

/* The key a candidate's ACKs are sealed with (Ka, Ka_m), or NULL. */
static struct aead *
xr_cand_ack_key(struct xrecv *r, uint64_t session)
{
	struct xr_cand	*c = xr_join_cand(r, session);

	return (c != NULL ? c->ka : NULL);
}

/* One datagram from the group. */
static void
xr_dgram(struct xrecv *r, const uint8_t *buf, size_t len,
    const struct udp_addr *from)
{
	struct proto_hdr	h;
	struct proto_announce	a;
	struct proto_ncf	ncf;
	enum proto_drop		why;
	uint8_t			plain[PROTO_MAX_DGRAM];

	if (proto_decode(buf, len, &h, &why) == -1) {
		r->drops[why]++;
		return;
	}
	if (h.type != PROTO_DATA && h.type != PROTO_REPAIR &&
	    h.type != PROTO_ANNOUNCE && h.type != PROTO_NCF) {
		r->drops[PROTO_DROP_TYPE]++;
		return;
	}
	if (r->state == XR_LISTEN || r->state == XR_JOINING) {
		if (h.type == PROTO_ANNOUNCE) {
			if (xr_join_announce(r, &h, from))
				xrecv_fsm(r, XRE_CANDIDATE);
		} else if (xr_cand_key(r, h.session) != NULL)
			r->drops[PROTO_DROP_EARLY]++;
		else
			r->drops[PROTO_DROP_SESSION]++;
		return;
	}
	if (h.session != r->session) {
		r->drops[PROTO_DROP_SESSION]++;
		return;
	}
	if (r->state != XR_RECEIVING && r->state != XR_DONE)
		return;
	/* Arrived, useful or not: the sender compares with its count. */
	r->rx_packets++;
	r->rx_bytes += len;
	switch (h.type) {
	case PROTO_DATA:
		if (r->state == XR_RECEIVING)
			xr_data(r, &h);
		else
			r->n_dup++;
		return;
	case PROTO_REPAIR:
		if (r->state == XR_RECEIVING)
			xr_repair(r, &h);
		else
			r->n_dup++;
		return;
	}
	if ((h.type == PROTO_ANNOUNCE && h.ctlen != PROTO_ANNOUNCE_LEN) ||
	    (h.type == PROTO_NCF && h.ctlen > PROTO_NCF_LEN(PROTO_NCF_MAX))) {
		r->drops[PROTO_DROP_RANGE]++;
		return;
	}
	if (proto_open(r->kd, &h, plain, sizeof(plain)) == -1) {
		r->drops[PROTO_DROP_AUTH]++;
		return;
	}
	r->last_heard = mono_ms();
	xr_saw_seq(r, &h);
	if (h.type == PROTO_ANNOUNCE) {
		if (proto_get_announce(plain, h.ctlen, &a) == -1) {
			r->drops[PROTO_DROP_RANGE]++;
			return;
		}
		if (r->state == XR_RECEIVING)
			xr_announce_locked(r, &a);
	} else {
		if (proto_get_ncf(plain, h.ctlen, &ncf) == -1) {
			r->drops[PROTO_DROP_RANGE]++;
			return;
		}
		xr_ncf(r, &ncf);
	}
}

static void
xrecv_group_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct xrecv	*r = arg;
	struct udp_addr	 from;
	uint8_t		*buf;
	size_t		 len, seg, off, dl;
	int		 n, i, budget = 0, q;
	uint32_t	 ovf;

	while (budget < XR_BUDGET) {
		if ((n = udp_rx_recv(r->rx, r->gsock)) <= 0) {
			if (n == -1)
				log_warn("xrecv: recvmmsg");
			break;
		}
		for (i = 0; i < n; i++) {
			udp_rx_msg(r->rx, i, &buf, &len, &seg, &from);
			r->n_reads++;
			for (off = 0; off < len; off += dl) {
				dl = len - off < seg ? len - off : seg;
				xr_dgram(r, buf + off, dl, &from);
				r->n_dgrams++;
				budget++;
				if (r->state == XR_FAILED ||
				    r->state == XR_FINISHED)
					return;
			}
		}
		if (n < 4)
			break;
	}
	ovf = udp_rx_overflow(r->rx);
	if (ovf != r->overflow) {
		r->drops[PROTO_DROP_OVERFLOW] += ovf - r->overflow;
		r->overflow = ovf;
	}
	if ((q = udp_queue_permille(r->gsock)) > r->queue_pm)
		r->queue_pm = q;
	if (r->state == XR_RECEIVING && (r->overflow != r->overflow_reported ||
	    q > 200) && mono_ms() - r->last_report >= XR_CONGEST_MS)
		xr_send_report(r, 0);
}

static void
xrecv_ctl_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct xrecv		*r = arg;
	struct proto_hdr	 h;
	struct aead		*kd;
	enum proto_drop		 why;
	struct udp_addr		 from;
	uint8_t			 buf[PROTO_MAX_DGRAM], plain[PROTO_MAX_DGRAM];
	ssize_t			 n;
	int			 i;

	for (i = 0; i < 64; i++) {
		from.len = sizeof(from.ss);
		n = recvfrom(r->csock, buf, sizeof(buf), MSG_DONTWAIT,
		    (struct sockaddr *)&from.ss, &from.len);
		if (n == -1)
			break;
		if (proto_decode(buf, (size_t)n, &h, &why) == -1) {
			r->drops[why]++;
			continue;
		}
		if (h.type != PROTO_ACK) {
			r->drops[PROTO_DROP_TYPE]++;
			continue;
		}
		if (r->state == XR_JOINING)
			kd = xr_cand_ack_key(r, h.session);
		else
			kd = h.session == r->session ? r->ka : NULL;
		if (kd == NULL) {
			r->drops[PROTO_DROP_SESSION]++;
			continue;
		}
		if (proto_open(kd, &h, plain, sizeof(plain)) == -1) {
			r->drops[PROTO_DROP_AUTH]++;
			continue;
		}
		xr_ack(r, &h, plain, &from);
		if (r->state == XR_FAILED || r->state == XR_FINISHED)
			return;
	}
}

static uint64_t
xr_have_bytes(struct xrecv *r)
{
	uint64_t	b = r->nhave * r->geom.sym;

	return (b > r->geom.size ? r->geom.size : b);
}

/*
 * Tell the sender which blocks we hold, complete on disk from before
 * (a block counts only whole: the disk has data symbols, no parity), in
 * HELD chunks, at most max of them, round robin: the first pass of a new
 * session of the same content then skips them when every receiver holds
 * them.  Only chunks with a block held at the start and not all passed by
 * the first pass yet; HELD may be lost, so this goes on every
 * XR_HELD_WAIT_MS while the sender waits and every XR_HELD_MS after, until
 * the first pass is past them.  A sender that does not know HELD drops it.
 */
static void
xr_send_held(struct xrecv *r, uint64_t max)
{
	struct proto_held	 h;
	struct wire_w		 w;
	uint8_t			 body[PROTO_HELD_LEN(PROTO_HELD_BITS)];
	uint8_t			 nonce[PROTO_NONCE_LEN], sub[PROTO_SUB_LEN];
	uint8_t			 dgram[PROTO_HDR_LEN + PROTO_SUB_LEN +
				    sizeof(body) + PROTO_TAG_LEN];
	uint64_t		 nc = proto_held_chunks(&r->geom), c, scan;
	uint64_t		 passed, first, sent = 0;
	uint32_t		 i;
	ssize_t			 n;

	if (r->held_c == NULL)
		return;
	passed = r->ann_progress >= r->geom.nsym ? r->geom.nblocks :
	    r->ann_progress / r->geom.bsym;
	for (scan = 0; scan < nc && sent < max; scan++) {
		c = (r->held_next + scan) % nc;
		first = c * PROTO_HELD_BITS;
		h.nbits = (uint16_t)proto_held_nbits(&r->geom, c);
		if (!r->held_c[c])
			continue;
		if (passed >= first + h.nbits) {
			r->held_c[c] = 0;	/* the first pass is past it */
			continue;
		}
		h.rid = r->rid;
		h.incarnation = r->incarnation;
		h.chunk = (uint32_t)c;
		memset(h.bits, 0, sizeof(h.bits));
		for (i = 0; i < h.nbits; i++)
			if (r->b_have[first + i] ==
			    proto_block_nsym(&r->geom, first + i))
				h.bits[i / 8] |= (uint8_t)(1U << (i % 8));
		if (crypto_random(nonce, sizeof(nonce)) == -1)
			fatalx("xrecv: no randomness");
		wire_w_fixed(&w, body, sizeof(body));
		if (proto_put_held(&w, &h) == -1)
			fatalx("xrecv: held too long");
		proto_feedback_sub(r->rid, sub);
		n = proto_seal(r->kf, PROTO_HELD, r->session, nonce, sub,
		    body, w.len, dgram, sizeof(dgram));
		if (n == -1)
			fatalx("xrecv: seal failed");
		if (udp_sendto(r->csock, dgram, (size_t)n, &r->sender) == -1 &&
		    errno != EAGAIN)
			log_warn("xrecv: sendto");
		sent++;
		r->held_next = c + 1;
	}
	r->last_held = mono_ms();
}

/* Build and send a REPORT; with naks, due NAKs ride along. */
static void
xr_send_report(struct xrecv *r, int naks)
{
	struct proto_report	 rep;
	struct wire_w		 w;
	uint8_t			 body[1500], nonce[PROTO_NONCE_LEN];
	uint8_t			 dgram[1600], sub[PROTO_SUB_LEN];
	uint32_t		 now = xr_ms(r), g, b, k, need;
	uint64_t		 scan;
	ssize_t			 n;

	memset(&rep, 0, sizeof(rep));
	rep.rid = r->rid;
	rep.incarnation = r->incarnation;
	rep.rseq = ++r->rseq;
	switch (r->state) {
	case XR_DONE:
	case XR_FINISHED:
		rep.state = PROTO_R_DONE;
		break;
	case XR_FAILED:
		rep.state = PROTO_R_FAILED;
		rep.errlen = (uint16_t)strlen(r->err);
		memcpy(rep.err, r->err, rep.errlen);
		break;
	default:
		rep.state = r->t_first != 0 || r->nhave > 0 ?
		    PROTO_R_RECEIVING : PROTO_R_READY;
		break;
	}
	rep.queue_pm = r->queue_pm < 0 ? 0 : r->queue_pm > 1000 ? 1000 :
	    (uint16_t)r->queue_pm;
	rep.loss_pm = (uint16_t)(r->loss * 1000 + 0.5);
	r->queue_pm = 0;
	if (r->have != NULL)
		rep.have_bytes = xr_have_bytes(r);
	rep.rx_hw_seq = r->rx_hw_seq;
	rep.rx_packets = r->rx_packets;
	rep.rx_bytes = r->rx_bytes;
	rep.rx_us = (uint32_t)mono_us();
	if (r->rx_hw_seq != 0) {
		rep.echo_tx_us = r->rx_hw_tx_us;
		rep.echo_hold_us = (uint32_t)(mono_us() - r->rx_hw_at);
	}
	/* Not measured by this receiver (yet): said so, not made up. */
	rep.qdelay_us = UINT32_MAX;
	rep.need97 = rep.need_max = 255;
	rep.repairs = (uint32_t)r->n_repairs;
	rep.overflow = r->overflow - r->overflow_base;
	r->overflow_reported = r->overflow;

	if (naks && r->state == XR_RECEIVING) {
		for (scan = r->bq_len; scan > 0 && rep.nnak < PROTO_NAK_MAX;
		    scan--) {
			b = r->bq[r->bq_head];
			if ((int32_t)(r->b_due[b] - now) > 0)
				break;
			r->bq_head = (r->bq_head + 1) % r->geom.nblocks;
			r->bq_len--;
			r->b_inq[b] = 0;
			if (r->b_have[b] == proto_block_nsym(&r->geom, b))
				continue;
			if (r->b_have[b] >= proto_block_nsym(&r->geom, b) / 2) {
				/* Mostly there now: NAK its groups. */
				xr_block_passed(r, b);
				continue;
			}
			rep.nak[rep.nnak].kind = PROTO_NAK_BLOCK;
			rep.nak[rep.nnak++].id = b;
			xr_q_block(r, b, now + XR_RENAK_MS);
		}
		for (scan = r->gq_len; scan > 0 && rep.nnak < PROTO_NAK_MAX;
		    scan--) {
			g = r->gq[r->gq_head];
			if ((int32_t)(r->g_due[g] - now) > 0)
				break;
			r->gq_head = (r->gq_head + 1) % r->geom.ngroups;
			r->gq_len--;
			r->g_inq[g] = 0;
			k = proto_group_k(&r->geom, g);
			if (r->g_have[g] >= k)
				continue;
			need = k - r->g_have[g] - r->g_par[g];
			if (need == 0 || need > k) {
				xr_q_group(r, g, now + XR_RENAK_MS);
				continue;
			}
			/* Suppressed: the NCF says enough is on its way. */
			if (now - r->g_ncf_ms[g] < XR_NCF_MS &&
			    r->g_ncf[g] >= r->g_seen[g] &&
			    r->g_ncf[g] - r->g_seen[g] >= need) {
				xr_q_group(r, g, now + XR_RENAK_MS);
				continue;
			}
			rep.nak[rep.nnak].kind = PROTO_NAK_GROUP;
			rep.nak[rep.nnak].id = g;
			rep.nak[rep.nnak].need = (uint16_t)need;
			rep.nak[rep.nnak++].seen = r->g_seen[g];
			xr_q_group(r, g, now + XR_RENAK_MS);
		}
		if (rep.nnak == 0)
			return;
		r->n_naks += rep.nnak;
	}
	if (crypto_random(nonce, sizeof(nonce)) == -1)
		fatalx("xrecv: no randomness");
	wire_w_fixed(&w, body, sizeof(body));
	if (proto_put_report(&w, &rep) == -1)
		fatalx("xrecv: report too long");
	proto_feedback_sub(r->rid, sub);
	n = proto_seal(r->kf, PROTO_REPORT, r->session, nonce, sub, body,
	    w.len, dgram, sizeof(dgram));
	if (n == -1)
		fatalx("xrecv: seal failed");
	if (udp_sendto(r->csock, dgram, (size_t)n, &r->sender) == -1 &&
	    errno != EAGAIN)
		log_warn("xrecv: sendto");
	r->n_reports++;
	r->last_report = mono_ms();
}

static void
xr_fail(struct xrecv *r, const char *fmt, ...)
{
	va_list	ap;

	if (r->state == XR_FAILED || r->state == XR_FINISHED)
		return;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	xrecv_fsm(r, XRE_FAIL);
}

static void
xrecv_tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct xrecv		*r = arg;
	struct xrecv_stats	 st;
	uint64_t		 now = mono_ms();

	switch (r->state) {
	case XR_JOINING:
		if (xr_join_expire(r, now) == 0)
			xrecv_fsm(r, XRE_JOIN_TIMEOUT);
		break;
	case XR_RECEIVING:
		xr_send_report(r, 1);
		if (r->state != XR_RECEIVING)
			break;
		if (now - r->last_report >= (r->ann_fast ?
		    XR_REPORT_FAST_MS : XR_REPORT_MS))
			xr_send_report(r, 0);
		if (now - r->last_held >= (r->ann_state == PROTO_S_WAITING ?
		    XR_HELD_WAIT_MS : XR_HELD_MS))
			xr_send_held(r, XR_HELD_BURST / 8);
		if (now - r->last_persist >= XR_PERSIST_MS)
			(void)xr_store_persist(r);
		if (r->state == XR_RECEIVING)
			(void)xr_store_reserve_ahead(r);
		if (r->state == XR_RECEIVING && now - r->last_heard >=
		    (uint64_t)r->conf.sender_timeout_ms)
			xr_fail(r, "the sender has been silent for %d ms",
			    r->conf.sender_timeout_ms);
		break;
	case XR_DONE:
		if (now - r->done_since >= XR_DONE_GIVEUP_MS)
			xrecv_fsm(r, XRE_GIVEUP);
		else if (now - r->last_report >= (now - r->done_since <
		    XR_DONE_FAST_SPAN_MS ? XR_DONE_FAST_MS : XR_DONE_MS))
			xr_send_report(r, 0);
		break;
	default:
		break;
	}
	if (r->state == XR_RECEIVING && log_getverbose() > 1 &&
	    now - r->last_progress >= 250)
		log_debug("xrecv %016" PRIx64 ": have %" PRIu64 "/%" PRIu64
		    " blocks %" PRIu64 " hashed %" PRIu64 " naks %" PRIu64
		    " queued %" PRIu64 "+%" PRIu64 " repairs %" PRIu64
		    " dup %" PRIu64 " overflow %u loads %" PRIu64 " hashreads %"
		    PRIu64, r->session, r->nhave,
		    r->geom.nsym, r->blocks_done, r->hash_next, r->n_naks,
		    r->gq_len, r->bq_len, r->n_repairs, r->n_dup, r->overflow,
		    r->n_loads, r->n_hashreads);
	if (r->state == XR_RECEIVING && now - r->last_progress >= 250 &&
	    r->cb.progress == NULL)
		r->last_progress = now;
	if (r->cb.progress != NULL && r->state == XR_RECEIVING &&
	    now - r->last_progress >= 250) {
		r->last_progress = now;
		xrecv_stats(r, &st);
		r->cb.progress(r->arg, &st);
	}
}

static void
xr_end(struct xrecv *r, int ok)
{
	event_del(r->ev_g);
	event_del(r->ev_c);
	event_del(r->ev_tick);
	r->t_end = mono_us();
	if (r->cb.finished != NULL)
		r->cb.finished(r->arg, ok, ok ? NULL : r->err);
}

/* The receiver's state machine: every transition goes through here. */
static void
xrecv_fsm(struct xrecv *r, enum xrecv_event ev)
{
	int	i;

	if (ev == XRE_FAIL) {
		if (r->state == XR_FAILED || r->state == XR_FINISHED)
			return;
		log_warnx("xrecv %016" PRIx64 ": %s", r->session, r->err);
		if (r->state == XR_RECEIVING && r->fd != -1 &&
		    r->have != NULL)
			(void)fdatasync(r->fd);
		xrecv_set_state(r, XR_FAILED);
		/* Tell the sender, a few times, so that it does not wait. */
		if (r->session != 0 && r->kf != NULL)
			for (i = 0; i < 3; i++)
				xr_send_report(r, 0);
		xr_end(r, 0);
		return;
	}
	switch (r->state) {
	case XR_INIT:
		if (ev == XRE_START)
			xrecv_set_state(r, XR_LISTEN);
		break;
	case XR_LISTEN:
		if (ev == XRE_CANDIDATE)
			xrecv_set_state(r, XR_JOINING);
		break;
	case XR_JOINING:
		if (ev == XRE_ACCEPTED) {
			xrecv_set_state(r, XR_RECEIVING);
			log_debug("xrecv %016" PRIx64 ": joined, %" PRIu64
			    " bytes", r->session, r->geom.size);
			/* Before READY: the sender may start on it. */
			r->ann_state = r->lock_ann.state;
			xr_send_held(r, XR_HELD_BURST);
			xr_send_report(r, 0);
			xr_announce_locked(r, &r->lock_ann);
		} else if (ev == XRE_JOIN_TIMEOUT)
			xrecv_set_state(r, XR_LISTEN);
		break;
	case XR_RECEIVING:
		if (ev == XRE_COMPLETE) {
			xrecv_set_state(r, XR_DONE);
			r->done_since = mono_ms();
			r->t_end = mono_us();
			xr_send_report(r, 0);
		}
		break;
	case XR_DONE:
		if (ev == XRE_ACKED || ev == XRE_GIVEUP) {
			if (ev == XRE_GIVEUP)
				log_warnx("xrecv %016" PRIx64 ": the sender "
				    "did not confirm our DONE", r->session);
			xrecv_set_state(r, XR_FINISHED);
			xr_end(r, 1);
		}
		break;
	case XR_FINISHED:
	case XR_FAILED:
		break;
	}
}

struct xrecv *
xrecv_new(struct event_base *base, const struct xrecv_conf *conf,
    const struct xrecv_cb *cb, void *arg, char *err, size_t errlen)
{
	struct xrecv	*r;

	r = xcalloc(1, sizeof(*r));
	r->base = base;
	r->conf = *conf;
	/* Ours: the caller's string need not outlive this call. */
	r->out = xstrdup(conf->out);
	r->conf.out = r->out;
	if (cb != NULL)
		r->cb = *cb;
	r->arg = arg;
	r->fail = xr_fail;
	r->fd = r->gsock = r->csock = -1;
	r->queue_pm = 0;
	if (r->conf.sender_timeout_ms <= 0)
		r->conf.sender_timeout_ms = 15000;
	xasprintf(&r->part, "%s.fcpart", conf->out);
	xasprintf(&r->statepath, "%s.fcstate", conf->out);
	if (xr_store_load(r, NULL) == -1) {
		do {
			if (crypto_random(&r->rid, sizeof(r->rid)) == -1)
				fatalx("xrecv: no randomness");
		} while (r->rid == 0);
	}
	/* A member is who the server says, whatever the state file says. */
	if (conf->rid != 0)
		r->rid = conf->rid;
	do {
		if (crypto_random(&r->incarnation,
		    sizeof(r->incarnation)) == -1)
			fatalx("xrecv: no randomness");
	} while (r->incarnation == 0);
	if ((r->gsock = udp_group_socket(&conf->group, conf->ifindex, &r->gro,
	    err, errlen)) == -1)
		goto fail;
	if ((r->csock = udp_ctl_socket(conf->group.ss.ss_family, err,
	    errlen)) == -1)
		goto fail;
	r->rx = udp_rx_new(r->gro);
	r->fec = fec_new();
	r->ev_g = event_new(base, r->gsock, EV_READ | EV_PERSIST,
	    xrecv_group_cb, r);
	r->ev_c = event_new(base, r->csock, EV_READ | EV_PERSIST,
	    xrecv_ctl_cb, r);
	r->ev_tick = event_new(base, -1, EV_PERSIST, xrecv_tick_cb, r);
	if (r->ev_g == NULL || r->ev_c == NULL || r->ev_tick == NULL)
		fatalx("xrecv: event_new failed");
	return (r);
fail:
	xrecv_free(r);
	return (NULL);
}

int
xrecv_start(struct xrecv *r)
{
	struct timeval	tv;

	r->t_start = mono_us();
	r->t0_ms = mono_ms();
	event_add(r->ev_g, NULL);
	event_add(r->ev_c, NULL);
	tv.tv_sec = 0;
	tv.tv_usec = XR_TICK_MS * 1000;
	event_add(r->ev_tick, &tv);
	xrecv_fsm(r, XRE_START);
	return (0);
}

/* Interrupted: keep what is on disk for a restart, then stop. */
void
xrecv_stop(struct xrecv *r)
{
	if (r->state == XR_RECEIVING) {
		(void)xr_store_flush(r);
		if (r->state == XR_RECEIVING)
			(void)xr_store_persist(r);
	}
	if (r->state != XR_FAILED && r->state != XR_FINISHED) {
		snprintf(r->err, sizeof(r->err), "interrupted");
		xrecv_fsm(r, XRE_FAIL);
	}
}

void
xrecv_free(struct xrecv *r)
{
	if (r == NULL)
		return;
	if (r->ev_g != NULL)
		event_free(r->ev_g);
	if (r->ev_c != NULL)
		event_free(r->ev_c);
	if (r->ev_tick != NULL)
		event_free(r->ev_tick);
	xr_join_drop_all(r);
	if (r->gsock != -1)
		close(r->gsock);
	if (r->csock != -1)
		close(r->csock);
	if (r->fd != -1)
		close(r->fd);
	udp_rx_free(r->rx);
	fec_free(r->fec);
	if (r->sha != NULL)
		sha256_free(r->sha);
	aead_free(r->kd);
	aead_free(r->kf);
	aead_free(r->ka);
	xr_join_free_session(r);
	free(r->scratch);
	free(r->out);
	free(r->part);
	free(r->statepath);
	explicit_bzero(r->conf.key, sizeof(r->conf.key));
	explicit_bzero(r->conf.member_key, sizeof(r->conf.member_key));
	free(r);
}

void
xrecv_stats(struct xrecv *r, struct xrecv_stats *st)
{
	uint64_t	end;

	memset(st, 0, sizeof(*st));
	st->session = r->session;
	st->size = r->geom.size;
	if (r->have != NULL)
		st->have_bytes = xr_have_bytes(r);
	st->resumed_bytes = r->resumed_bytes;
	st->received_bytes = r->received_bytes;
	st->packets = r->n_packets;
	st->reads = r->n_reads;
	st->datagrams = r->n_dgrams;
	st->repairs = r->n_repairs;
	st->decoded = r->n_decoded;
	st->duplicates = r->n_dup;
	st->naks = r->n_naks;
	st->reports = r->n_reports;
	st->announces = r->n_announces;
	st->hellos = r->n_hellos;
	end = r->t_end != 0 ? r->t_end : mono_us();
	if (r->t_first != 0)
		st->elapsed = (double)(end - r->t_first) / 1e6;
	st->total = (double)(end - r->t_start) / 1e6;
	st->gro = r->gro;
	if (r->session != 0)
		st->sender = r->sender;
	memcpy(st->drops, r->drops, sizeof(st->drops));
}
