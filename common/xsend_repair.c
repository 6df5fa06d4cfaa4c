/*
 * The sender's repairs (xsend_int.h): what the receivers' NAKs ask for,
 * scheduled minus what is already on its way and confirmed to the group
 * by NCF; Reed-Solomon parity encoded a few rows at a time from the ring
 * or from the group's own symbols; whole groups or blocks resent as DATA;
 * the parity sent before anyone asks for the loss receivers report
 * (proactive FEC); and the queues that serve all of it a block at a time,
 * one packet per call, for the pump of xsend.c to interleave with the
 * first pass.  It calls only the ring and the socket layer.
 */
#include <sys/types.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fec.h"
#include "log.h"
#include "proto.h"
#include "udp.h"
#include "wire.h"
#include "xmalloc.h"
#include "xsend_int.h"

#define XS_PBATCH		8	/* parity rows encoded together */
#define XS_PCACHE		1024	/* encoded parity symbols kept */
#define XS_LOAD_MIN		8	/* busy groups that make a block load */
#define XS_FEC_EPS		0.05	/* a group still short after parity */
#define XS_FEC_MIN_PM		5	/* below 0.5% loss, NAKs only */
#define XS_FEC_BNECK_PM		5	/* parity above the loss, bottleneck */
/*
 * Budgets (doc/protocol.md, Budgets and deadline; issue #12 finding 2a:
 * one REPORT of BLOCK NAKs made the sender resend 24,415 packets, again
 * and again): a block goes out whole again at most XS_BLOCK_RESENDS
 * times whoever asks, a group gets at most twice its k in parity, all
 * NAKs together schedule at most one more copy of the file, each
 * receiver a quarter of it and XS_RX_BLOCKS blocks.  A BLOCK NAK ("I hold
 * less than half of it") is taken from a receiver that joined after the
 * block began to go out, or whose own first-pass loss makes it plausible,
 * or whose packet counts show the loss: half a block's packets for each
 * BLOCK NAK served (a switch port's queue that overflows drops a whole
 * block at a low average loss; refusing that receiver's NAKs stalled it
 * for good).
 */
#define XS_BLOCK_RESENDS	3
#define XS_RX_BLOCKS		4
#define XS_PLAUSIBLE_PM		100	/* 10% first-pass loss */

static void
xs_repair_qinit(struct xs_fifo *f, uint64_t cap)
{
	f->q = xcalloc(cap, sizeof(uint32_t));
	f->cap = cap;
}

static void
xs_repair_qpush(struct xs_fifo *f, uint32_t item)
{
	if (f->len == f->cap)
		fatalx("xsend: repair queue overflow");
	f->q[(f->head + f->len) % f->cap] = item;
	f->len++;
}

static uint32_t
xs_repair_qpop(struct xs_fifo *f)
{
	uint32_t	item = f->q[f->head];

	f->head = (f->head + 1) % f->cap;
	f->len--;
	return (item);
}

/* The repair bookkeeping for the geometry: nothing asked for yet. */
void
xs_repair_init(struct xsend *s)
{
	s->fec = fec_new();
	s->pcache = xmalloc((size_t)XS_PCACHE * s->geom.sym);
	s->gbuf = xmalloc((size_t)PROTO_MAX_K * s->geom.sym);
	s->gbuf_group = UINT32_MAX;
	s->pc_group = xreallocarray(NULL, XS_PCACHE, sizeof(uint32_t));
	s->pc_rseq = xcalloc(XS_PCACHE, sizeof(uint32_t));
	memset(s->pc_group, 0xff, XS_PCACHE * sizeof(uint32_t));
	s->g_sched = xcalloc(s->geom.ngroups, sizeof(uint32_t));
	s->g_sent = xcalloc(s->geom.ngroups, sizeof(uint32_t));
	s->g_last = xcalloc(s->geom.ngroups, sizeof(uint64_t));
	s->ncf_in = xcalloc(s->geom.ngroups, 1);
	s->b_cursor = xcalloc(s->geom.nblocks, sizeof(uint32_t));
	s->b_last = xcalloc(s->geom.nblocks, sizeof(uint64_t));
	s->b_resends = xcalloc(s->geom.nblocks, 1);
	s->b_pending = xcalloc(s->geom.nblocks, 1);
	s->g_dpend = xcalloc(s->geom.ngroups, 1);
	s->g_dcur = xcalloc(s->geom.ngroups, 1);
	s->g_dlast = xcalloc(s->geom.ngroups, sizeof(uint64_t));
	xs_repair_qinit(&s->pq, s->geom.nblocks);
	s->b_inpq = xcalloc(s->geom.nblocks, 1);
	s->b_lane = xcalloc(s->geom.nblocks, sizeof(uint16_t));
	xs_repair_qinit(&s->bq, s->geom.nblocks);
}

void
xs_repair_free(struct xsend *s)
{
	fec_free(s->fec);
	free(s->pcache);
	free(s->gbuf);
	free(s->pc_group);
	free(s->pc_rseq);
	free(s->g_sched);
	free(s->g_sent);
	free(s->g_last);
	free(s->b_inpq);
	free(s->b_lane);
	free(s->ncf_in);
	free(s->b_cursor);
	free(s->b_last);
	free(s->b_resends);
	free(s->b_pending);
	free(s->g_dpend);
	free(s->g_dcur);
	free(s->g_dlast);
	free(s->pq.q);
	free(s->bq.q);
}

/* The blocks with repair work queued: group work and whole resends. */
uint64_t
xs_repair_pending(const struct xsend *s)
{
	return (s->pq.len + s->bq.len);
}

/* Whether group g has parity or a data resend waiting. */
static int
xs_repair_busy(const struct xsend *s, uint64_t g)
{
	return (s->g_sched[g] > s->g_sent[g] || s->g_dpend[g]);
}

/*
 * Pointers to the k data symbols of group g.  From the ring when its block
 * is there, or when enough of the block's groups need work to make reading
 * the whole block worth it; otherwise only the group's own symbols are read
 * (a late NAK of one receiver must not cost a 4 MB read).
 */
static int
xs_repair_group_data(struct xsend *s, uint32_t g, uint8_t **src)
{
	uint64_t	 b = g / s->geom.il, first = b * s->geom.bsym, i;
	uint32_t	 k = proto_group_k(&s->geom, g), c, lane, busy = 0;
	uint8_t		*buf;
	size_t		 len;
	ssize_t		 n;

	if ((buf = xs_ring_held(s, b)) == NULL) {
		for (lane = 0; lane < s->geom.il; lane++)
			busy += xs_repair_busy(s, b * s->geom.il + lane);
		if (busy >= XS_LOAD_MIN && (buf = xs_ring_block(s, b)) == NULL)
			return (-1);
	}
	if (buf != NULL) {
		for (c = 0; c < k; c++)
			src[c] = buf + (size_t)(proto_group_sym(&s->geom, g,
			    c) - first) * s->geom.sym;
		return (0);
	}
	for (c = 0; c < k; c++) {
		src[c] = s->gbuf + (size_t)c * s->geom.sym;
		if (s->gbuf_group == g)
			continue;
		i = proto_group_sym(&s->geom, g, c);
		len = proto_sym_len(&s->geom, i);
		n = pread(s->fd, src[c], len, (off_t)(i * s->geom.sym));
		if (n != (ssize_t)len) {
			if (n >= 0)
				errno = EIO;
			s->gbuf_group = UINT32_MAX;
			return (-1);
		}
		if (len < s->geom.sym)
			memset(src[c] + len, 0, s->geom.sym - len);
	}
	s->gbuf_group = g;
	s->n_gloads++;
	return (0);
}

/*
 * The parity of group g, repair number r.  Rows still to be sent for a
 * group are encoded together (one pass over the group's data for up to
 * XS_PBATCH rows) into a small direct-mapped cache, since the group's turns
 * come back one packet at a time.
 */
static uint8_t *
xs_repair_parity(struct xsend *s, uint32_t g, uint32_t r)
{
	uint8_t		*src[PROTO_MAX_K], *out[XS_PBATCH];
	uint32_t	 rows[XS_PBATCH], k = proto_group_k(&s->geom, g), i, m;
	size_t		 slot;

	slot = ((size_t)g * XS_PBATCH + r) % XS_PCACHE;
	if (s->pc_group[slot] == g && s->pc_rseq[slot] == r)
		return (s->pcache + slot * s->geom.sym);
	m = s->g_sched[g] - r;
	if (m > XS_PBATCH)
		m = XS_PBATCH;
	if (m == 0)
		m = 1;
	if (xs_repair_group_data(s, g, src) == -1)
		return (NULL);
	for (i = 0; i < m; i++) {
		slot = ((size_t)g * XS_PBATCH + r + i) % XS_PCACHE;
		rows[i] = proto_parity_row(k, r + i);
		out[i] = s->pcache + slot * s->geom.sym;
		s->pc_group[slot] = g;
		s->pc_rseq[slot] = r + i;
	}
	if (fec_encode(s->fec, k, src, m, rows, out, s->geom.sym) == -1)
		fatalx("xsend: fec_encode failed");
	return (out[0]);
}

/* Seal the next parity of group g. */
static int
xs_repair_emit_parity(struct xsend *s, uint32_t g)
{
	uint8_t		 nonce[PROTO_NONCE_LEN], sub[PROTO_SUB_LEN];
	uint8_t		*p, *par;
	size_t		 dlen = PROTO_SYM_OVERHEAD + s->geom.sym;
	ssize_t		 n;

	if ((p = xs_sock_slot(s, dlen)) == NULL)
		return (1);
	if ((par = xs_repair_parity(s, g, s->g_sent[g])) == NULL) {
		log_warn("xsend: read %s", s->conf.path);
		return (-1);
	}
	if (++s->seq == UINT64_MAX)
		fatalx("xsend: nonce space exhausted");
	proto_sender_nonce(s->seq, xs_tx_us(s), nonce);
	wire_store32(sub, g);
	wire_store32(sub + 4, s->g_sent[g]);
	n = proto_seal(s->kd, PROTO_REPAIR, s->session, nonce, sub, par,
	    s->geom.sym, p, dlen);
	if (n == -1)
		fatalx("xsend: seal failed");
	udp_tx_commit(s->tx, (size_t)n);
	s->g_sent[g]++;
	s->g_last[g] = s->seq;
	s->n_packets++;
	s->n_repair++;
	s->n_wire += (uint64_t)n;
	s->tokens -= (double)n;
	return (0);
}

static void
xs_repair_queue(struct xsend *s, uint32_t g)
{
	uint32_t	b = g / s->geom.il;

	if (!s->b_inpq[b]) {
		s->b_inpq[b] = 1;
		xs_repair_qpush(&s->pq, b);
	}
}

/*
 * One repair packet.  Group work is served a block at a time, oldest block
 * first, so that the sender reads each block once however the NAKs of many
 * receivers interleave; inside the block the groups take turns, one packet
 * each (parity, or one data symbol of a group resent whole), so that a
 * burst of loss hits many groups a little rather than one group a lot.  The
 * block at the head of the block queue is resent from start to end.  Group
 * work and block resends alternate.
 */
int
xs_repair_emit(struct xsend *s)
{
	uint32_t	b, lane, n;
	uint64_t	i, g;
	int		rv;

	while (s->pq.len > 0) {
		b = s->pq.q[s->pq.head];
		for (n = 0; n < s->geom.il; n++) {
			lane = (s->b_lane[b] + n) % s->geom.il;
			if (xs_repair_busy(s, (uint64_t)b * s->geom.il + lane))
				break;
		}
		if (n < s->geom.il)
			break;
		(void)xs_repair_qpop(&s->pq);
		s->b_inpq[b] = 0;
	}
	if (s->bq.len > 0 && (s->pq.len == 0 || s->turn)) {
		b = s->bq.q[s->bq.head];
		i = (uint64_t)b * s->geom.bsym + s->b_cursor[b];
		if ((rv = xs_ring_emit_data(s, i)) != 0)
			return (rv);
		s->n_resend++;
		s->turn = 0;
		s->b_last[b] = s->seq;
		if (++s->b_cursor[b] >= proto_block_nsym(&s->geom, b)) {
			(void)xs_repair_qpop(&s->bq);
			s->b_pending[b] = 0;
		}
		return (0);
	}
	if (s->pq.len == 0)
		return (2);
	s->turn = 1;
	b = s->pq.q[s->pq.head];
	lane = (s->b_lane[b] + n) % s->geom.il;
	g = (uint64_t)b * s->geom.il + lane;
	if (s->g_dpend[g]) {
		i = proto_group_sym(&s->geom, g, s->g_dcur[g]);
		if ((rv = xs_ring_emit_data(s, i)) != 0)
			return (rv);
		s->n_resend++;
		s->g_dlast[g] = s->seq;
		if (++s->g_dcur[g] >= proto_group_k(&s->geom, g))
			s->g_dpend[g] = 0;
	} else if ((rv = xs_repair_emit_parity(s, (uint32_t)g)) != 0)
		return (rv);
	s->b_lane[b] = (uint16_t)((lane + 1) % s->geom.il);
	return (0);
}

/*
 * The proactive parity of a group of k data symbols for a receiver that
 * loses a share p of what is sent: the least r for which the group is
 * still short after its data and r parity, P[Bin(k + r, p) > r], is at
 * most XS_FEC_EPS; at most k / 4.  Parity sized to the mean loss
 * (k * p, and the 1.25 of it once used) leaves a quarter of the groups
 * short at 5% loss, each a NAK round trip; this leaves at most 5% (7
 * parity for 64 from 4.6% to 5.6%, 12 at 10%): 1 more parity per group
 * costs 1.6% of the link for all, a group short after it a NAK and one
 * or two repairs, so the last few percent are left to NAKs.
 */
uint32_t
xs_repair_fec_r(uint32_t k, double p)
{
	double		pmf, cdf, q = 1.0 - p;
	uint32_t	r, i, n;

	if (p <= 0)
		return (0);
	if (p >= 1)
		return (k / 4);
	for (r = 0; r < k / 4; r++) {
		n = k + r;
		for (i = 0, pmf = 1.0; i < n; i++)
			pmf *= q;	/* q^n, without libm */
		cdf = pmf;
		for (i = 0; i < r; i++) {
			pmf *= (double)(n - i) / (double)(i + 1) * p / q;
			cdf += pmf;
		}
		if (1.0 - cdf <= XS_FEC_EPS)
			return (r);
	}
	return (k / 4);
}

/*
 * Block b has just been sent once.  When receivers report first-pass loss,
 * queue for each of its groups the parity the worst of them will likely
 * need (xs_repair_fec_r), before anyone asks: a group then completes
 * about one block after its data instead of a NAK round trip later (or
 * several, when repairs are lost too), and blocks leave the receivers'
 * memory in order.  NAKs still cover whatever this does not.
 */
void
xs_repair_proactive(struct xsend *s, uint64_t b)
{
	uint64_t	now = mono_ms(), g;
	uint32_t	pm = 0, cur = 0, cap, k, add, lane, room, last_k = 0;
	uint32_t	last_r = 0;
	int		i, cur_known = 0;

	for (i = 0; i < s->npeers; i++) {
		struct xs_peer *p = &s->peers[i];

		if (p->state != XSP_RECEIVING || now - p->last_heard >= 1000)
			continue;
		if (p->loss_pm > pm)
			pm = p->loss_pm;
		if (p->iloss_ms != 0 && now - p->iloss_ms <= 500) {
			cur_known = 1;
			if (p->iloss > cur)
				cur = (uint32_t)p->iloss;
		}
	}
	/*
	 * Loss that the rate control lately judged a bottleneck's (it fell
	 * when the rate was cut, or the delivery held) is the rate's to
	 * remove, not parity's: parity sized to it adds to the overrun that
	 * causes it (behind a silent 1 Gbit/s port, parity queued ahead for
	 * 10-30% loss was a fifth of the stream).  Then only the loss the
	 * link has of its own, its floor, or what the receivers lose now,
	 * if more, is covered ahead: the receivers' first-pass average
	 * remembers the overrun of the start for 16 blocks, and sized to
	 * it, or to the floor and 3% more, parity was 10% of a stream that
	 * lost under 1% once the rate sat on the port.
	 */
	if (xs_bneck_recent(s, now) && s->loss_floor != UINT16_MAX) {
		cap = (cur > s->loss_floor ? cur : s->loss_floor) +
		    XS_FEC_BNECK_PM;
		if (pm > cap)
			pm = cap;
	} else if (s->cut_at != 0 && cur_known && cur + XS_FEC_BNECK_PM < pm)
		pm = cur + XS_FEC_BNECK_PM;	/* a cut is judged: its loss */
	if (pm < XS_FEC_MIN_PM)
		return;
	for (lane = 0; lane < s->geom.il; lane++) {
		g = b * s->geom.il + lane;
		if ((k = proto_group_k(&s->geom, g)) == 0)
			continue;
		if (k != last_k) {
			last_k = k;
			last_r = xs_repair_fec_r(k, pm / 1000.0);
		}
		add = last_r;
		room = (PROTO_GF_ROWS - k) - (s->g_sched[g] - s->g_sent[g]);
		if (add > room)
			add = room;
		if (add == 0)
			continue;
		s->g_sched[g] += add;
		s->n_proactive += add;
		xs_repair_queue(s, (uint32_t)g);
	}
}

void
xs_repair_flush_ncf(struct xsend *s)
{
	struct wire_w	w;
	uint8_t		body[2 + 8 * PROTO_NCF_MAX];
	uint16_t	i;

	if (s->ncf.n == 0)
		return;
	for (i = 0; i < s->ncf.n; i++) {
		s->ncf.e[i].sched = s->g_sched[s->ncf.e[i].group];
		s->ncf_in[s->ncf.e[i].group] = 0;
	}
	wire_w_fixed(&w, body, sizeof(body));
	proto_put_ncf(&w, &s->ncf);
	xs_sock_send_ctl(s, s->kd, PROTO_NCF, &w, &s->conf.group);
	s->ncf.n = 0;
}

static void
xs_repair_ncf_add(struct xsend *s, uint32_t g)
{
	if (s->ncf_in[g])
		return;
	if (s->ncf.n == PROTO_NCF_MAX)
		xs_repair_flush_ncf(s);
	s->ncf_in[g] = 1;
	s->ncf.e[s->ncf.n++].group = g;
}

/*
 * The loss p's packet counts show that the group's counts bear out: its
 * own, up to the lower median of all receivers' (xs_rate_step; its own
 * when it is alone).  Loss that everybody has is real: a bottleneck the
 * stream overran, a switch port per receiver (with one 1 Gbit/s port
 * overrun by half, a lone receiver lost 35% and, held to a quarter of
 * the file, never finished); loss one member claims alone buys it
 * nothing more (issue #12 finding 2a).
 */
static uint64_t
xs_repair_counted(const struct xsend *s, const struct xs_peer *p)
{
	return (p->lost_pk < s->lost_ref ? p->lost_pk : s->lost_ref);
}

/*
 * Heavy loss that the group bears out: 10% or more of what was sent.
 * Then neither a block's whole resends nor a group's parity is capped
 * (a link overrun by half loses blocks and their resends alike); the
 * receiver's budget and the session's still are.
 */
static int
xs_repair_heavy(const struct xsend *s, const struct xs_peer *p)
{
	return (s->n_packets > 0 && xs_repair_counted(s, p) * 1000 >=
	    (uint64_t)XS_PLAUSIBLE_PM * s->n_packets);
}

/*
 * A receiver's repair budget: a quarter of the file and a few blocks,
 * and twice its loss that the group bears out (repairs get lost too).
 */
uint64_t
xs_repair_budget(const struct xsend *s, const struct xs_peer *p)
{
	return (s->geom.nsym / 4 + (uint64_t)XS_RX_BLOCKS * s->geom.bsym +
	    2 * xs_repair_counted(s, p));
}

/*
 * Charge cost packets of new repair work to receiver p (late: work for
 * what went out before it joined, which only the session's budget
 * bounds).  0 when a budget is spent: nothing is scheduled, counted as
 * `budget`, and p is marked (a straggler, xsend_rate.c).
 */
static int
xs_repair_charge(struct xsend *s, struct xs_peer *p, uint64_t cost, int late)
{
	/* A session of one expected member (a unicast stream) is its own. */
	if (s->nmem == 1 && s->conf.deadline_ms < 0)
		return (1);
	if (s->nak_total + cost > s->geom.nsym + 2 * s->lost_ref ||
	    (!late && p->nak_cost + cost > xs_repair_budget(s, p))) {
		s->drops[PROTO_DROP_BUDGET]++;
		if (!late && !p->nak_over) {
			p->nak_over = 1;
			log_info("xsend %016" PRIx64 ": receiver %s: repair "
			    "budget spent (%" PRIu64 " packets asked for, %"
			    PRIu64 " allowed)", s->session, p->name,
			    p->nak_cost + cost, xs_repair_budget(s, p));
		}
		return (0);
	}
	s->nak_total += cost;
	if (!late)
		p->nak_cost += cost;
	return (1);
}

/*
 * One NAK of receiver p, whose REPORT said it processed up to rx_hw
 * (checked by xs_report: a seq we sent).  New work is charged to p and
 * to the session (xs_repair_charge) before it is scheduled.
 */
void
xs_repair_nak(struct xsend *s, struct xs_peer *p, const struct proto_nak *n,
    uint64_t rx_hw)
{
	uint64_t	passed = s->next_sym / s->geom.bsym;
	uint64_t	half;
	uint32_t	k, onway, add, room;
	int		late, counted;

	if (s->next_sym == s->geom.nsym)
		passed = s->geom.nblocks;
	if (n->kind == PROTO_NAK_BLOCK) {
		if (n->id >= passed || s->b_pending[n->id] ||
		    rx_hw < s->b_last[n->id])
			return;
		/*
		 * Late: part of the block went out before the receiver
		 * (re)joined, so it cannot hold it whole, whatever its loss
		 * (a resumed receiver that rejoins mid-block).
		 */
		late = (uint64_t)n->id * s->geom.bsym < p->join_sym;
		half = proto_block_nsym(&s->geom, n->id) / 2;
		counted = p->lost_pk >= p->blk_pk + half;
		if (!late && !counted && p->loss_pm < XS_PLAUSIBLE_PM &&
		    !(s->nmem == 1 && s->conf.deadline_ms < 0)) {
			s->drops[PROTO_DROP_RANGE]++;	/* not plausible */
			return;
		}
		if (s->b_resends[n->id] >= XS_BLOCK_RESENDS &&
		    !xs_repair_heavy(s, p) &&
		    !(s->nmem == 1 && s->conf.deadline_ms < 0)) {
			s->drops[PROTO_DROP_BUDGET]++;
			return;
		}
		if (!xs_repair_charge(s, p, proto_block_nsym(&s->geom, n->id),
		    late))
			return;
		if (!late)
			p->blk_pk += half;
		s->b_resends[n->id]++;
		s->b_pending[n->id] = 1;
		s->b_cursor[n->id] = 0;
		xs_repair_qpush(&s->bq, n->id);
		return;
	}
	if (n->id >= s->geom.ngroups || n->id / s->geom.il >= passed)
		return;
	k = proto_group_k(&s->geom, n->id);
	if (k == 0 || n->need == 0 || n->need > k)
		return;
	late = (uint64_t)(n->id / s->geom.il) * s->geom.bsym < p->join_sym;
	/*
	 * More than half of the group lost: its data again is as good as
	 * parity for this receiver and costs nobody a decode.
	 */
	if (n->need > k / 2) {
		if (s->g_dpend[n->id] || rx_hw < s->g_dlast[n->id])
			return;
		if (!xs_repair_charge(s, p, k, late))
			return;
		s->g_dpend[n->id] = 1;
		s->g_dcur[n->id] = 0;
		xs_repair_queue(s, n->id);
		return;
	}
	if (rx_hw >= s->g_last[n->id] || n->seen > s->g_sched[n->id])
		onway = s->g_sched[n->id] - s->g_sent[n->id];
	else
		onway = s->g_sched[n->id] - n->seen;
	if (n->need <= onway)
		return;
	add = n->need - onway;
	room = (PROTO_GF_ROWS - k) - (s->g_sched[n->id] - s->g_sent[n->id]);
	if (add > room)
		add = room;
	if (add == 0)
		return;
	/*
	 * At most twice the group's k in parity, over the whole session,
	 * unless the loss is heavy and borne out.
	 */
	if (s->g_sched[n->id] + add > 2 * k && !xs_repair_heavy(s, p))
		add = s->g_sched[n->id] >= 2 * k ? 0 : 2 * k - s->g_sched[n->id];
	if (add == 0) {
		s->drops[PROTO_DROP_BUDGET]++;
		return;
	}
	if (!xs_repair_charge(s, p, add, late))
		return;
	s->g_sched[n->id] += add;
	xs_repair_queue(s, n->id);
	xs_repair_ncf_add(s, n->id);
}
