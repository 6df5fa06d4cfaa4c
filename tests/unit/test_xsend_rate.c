/*
 * Tests for the sender's rate control on virtual time
 * (common/xsend_rate.c, xs_rate_local*) and for the size of the proactive
 * parity (common/xsend_repair.c, xs_repair_fec_r).  The uplink is a
 * simulated token-bucket shaper with a queue (what the bench's tc tbf
 * does): every millisecond it carries its rate and takes what the sender
 * offers while the queue has room, refusing the rest the way IP_RECVERR
 * makes the kernel refuse it (ENOBUFS: the datagram stays with the
 * sender).  The sender probes upwards by 25% per control step of 25 ms
 * until the uplink refuses, as xs_rate_step does, takes the rate the
 * local capacity allows and paces with xs_rate_burst; the tests check
 * that it finds the link within a second, keeps it busy (descheduled at
 * times too), and follows it when it gets slower or faster.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xsend_int.h"
#include "unit.h"

#define MS		1000ULL		/* us */
#define CHUNK		65000.0		/* one GSO super-packet */
#define QLIMIT		(3.75e6)	/* tbf limit: 10 ms bucket, 20 ms */
#define LINK_1G		(1e9 / 8 * 1472 / 1514)	/* UDP payload bytes/s */

/* The simulated uplink and the sender in front of it. */
struct sim {
	double		 cap;		/* link rate, bytes/s */
	double		 queue;		/* bytes queued */
	double		 carried;	/* bytes the link carried */
	uint64_t	 full;		/* offers refused */
	uint64_t	 accepted;	/* bytes taken */
	double		 tokens;
	uint64_t	 now;		/* us */
	int		 gap;		/* ms of every 50 the sender sleeps */
	struct xsend	 x;		/* its rate and xs_local, for xsend_rate.c */
};

#define rate	x.rate
#define l	x.local

static void
sim_init(struct sim *s, double cap, double r)
{
	memset(s, 0, sizeof(*s));
	s->cap = cap;
	s->rate = r;
	s->now = 1000 * MS;	/* not 0: 0 means "never" in xs_local */
}

/* One millisecond: the link drains, the sender offers its tokens. */
static void
sim_tick(struct sim *s)
{
	double	out = s->cap / 1000.0;

	if (out > s->queue)
		out = s->queue;
	s->queue -= out;
	s->carried += out;
	s->tokens += s->rate / 1000.0;
	if (s->tokens > xs_rate_burst(&s->x, s->now))
		s->tokens = xs_rate_burst(&s->x, s->now);
	/* Descheduled: the tokens wait, capped, for the next tick. */
	while (s->tokens >= CHUNK && (s->now / MS) % 50 >= (uint64_t)s->gap) {
		if (s->queue + CHUNK > QLIMIT) {
			s->full++;	/* ENOBUFS: kept, offered again */
			break;
		}
		s->queue += CHUNK;
		s->accepted += (uint64_t)CHUNK;
		s->tokens -= CHUNK;
	}
	s->now += MS;
}

/*
 * ms of virtual time; a control step every 25 ms: probe by 25% unless
 * the uplink refused sends in the step, then the local capacity's cap.
 */
static void
sim_run(struct sim *s, int ms)
{
	uint64_t	before;
	int		i, j;

	for (i = 0; i < ms; i += 25) {
		for (j = 0; j < 25; j++)
			sim_tick(s);
		before = s->l.nfull;
		xs_rate_local(&s->l, s->now, s->full, s->accepted);
		if (s->l.nfull == before)
			s->rate *= 1.25;
		s->rate = xs_rate_local_cap(&s->l, s->now, s->rate);
	}
}

/* What the link carried over ms more of virtual time, bytes/s. */
static double
sim_carried(struct sim *s, int ms)
{
	double	c0 = s->carried;

	sim_run(s, ms);
	return ((s->carried - c0) * 1000.0 / ms);
}

/*
 * From 32 MiB/s behind a 1 Gbit/s shaper: the capacity is known and the
 * rate on it within a second, and the link then stays busy while the
 * rate stays within the gain over it (refusals cost nothing).
 */
static void
test_local_converges(void)
{
	struct sim	s;
	double		bw, got;

	sim_init(&s, LINK_1G, 32.0 * 1024 * 1024);
	sim_run(&s, 1000);
	bw = xs_rate_local_bw(&s.l, s.now);
	CU_ASSERT(bw >= 0.98 * LINK_1G && bw <= 1.05 * LINK_1G);
	CU_ASSERT(s.rate >= LINK_1G && s.rate <= 1.16 * LINK_1G);
	got = sim_carried(&s, 3000);
	CU_ASSERT(got >= 0.995 * LINK_1G);
	CU_ASSERT(s.rate >= LINK_1G && s.rate <= 1.16 * LINK_1G);
}

/*
 * A sender descheduled for 20 ms of every 50 (its receivers on the same
 * cores, a loaded host) keeps the link busy from the shaper's queue: the
 * pacing's burst is the queue's depth once the uplink is the known
 * bottleneck, not 8 ms.
 */
static void
test_local_descheduled(void)
{
	struct sim	s;
	double		got;

	sim_init(&s, LINK_1G, 32.0 * 1024 * 1024);
	s.gap = 20;
	sim_run(&s, 1500);
	CU_ASSERT(xs_rate_local_bw(&s.l, s.now) > 0);
	got = sim_carried(&s, 2000);
	CU_ASSERT(got >= 0.98 * LINK_1G);
	s.l.last_full = 0;		/* not known: 8 ms */
	CU_ASSERT(xs_rate_burst(&s.x, s.now) < 0.01 * s.rate);
}

/* The link gets slower (shared), then faster: followed both ways. */
static void
test_local_follows(void)
{
	struct sim	s;
	double		got;

	sim_init(&s, LINK_1G, 32.0 * 1024 * 1024);
	sim_run(&s, 2000);
	s.cap = LINK_1G / 2;
	sim_run(&s, 1200);
	CU_ASSERT(s.rate <= 1.16 * LINK_1G / 2);
	got = sim_carried(&s, 1000);
	CU_ASSERT(got >= 0.995 * LINK_1G / 2);
	s.cap = 2.5 * LINK_1G;
	sim_run(&s, 1500);
	got = sim_carried(&s, 1000);
	CU_ASSERT(got >= 0.99 * 2.5 * LINK_1G);
	CU_ASSERT(s.rate <= 1.16 * 2.5 * LINK_1G);
}

/*
 * A sender below its link never sees it full: no capacity, no cap (a
 * receiver or a slower link further on sets its rate).
 */
static void
test_local_not_full(void)
{
	struct sim	s;
	int		i;

	sim_init(&s, LINK_1G, LINK_1G * 0.8);
	for (i = 0; i < 80; i++) {
		sim_tick(&s);
		if (i % 25 == 24)
			xs_rate_local(&s.l, s.now, s.full, s.accepted);
	}
	CU_ASSERT_EQUAL(s.full, 0);
	CU_ASSERT(xs_rate_local_bw(&s.l, s.now) == 0);
	CU_ASSERT(xs_rate_local_cap(&s.l, s.now, 5e9) == 5e9);
}

/*
 * Proactive parity per group of 64 from the binomial tail: the least r
 * with P[Bin(64 + r, p) > r] <= 5% (figures computed independently with
 * exact binomial sums), at most k / 4; none without loss.  At 5% loss, 7
 * (2.5% of the groups short), and still 7 at 5.2% and 5.6%, where 3%
 * would ask for 8: receivers' estimates of a 5% loss scatter there.
 */
static void
test_fec_r(void)
{
	CU_ASSERT_EQUAL(xs_repair_fec_r(64, 0), 0);
	CU_ASSERT_EQUAL(xs_repair_fec_r(64, 0.005), 1);
	CU_ASSERT_EQUAL(xs_repair_fec_r(64, 0.01), 2);
	CU_ASSERT_EQUAL(xs_repair_fec_r(64, 0.02), 3);
	CU_ASSERT_EQUAL(xs_repair_fec_r(64, 0.05), 7);
	CU_ASSERT_EQUAL(xs_repair_fec_r(64, 0.052), 7);
	CU_ASSERT_EQUAL(xs_repair_fec_r(64, 0.056), 7);
	CU_ASSERT_EQUAL(xs_repair_fec_r(64, 0.10), 12);
	CU_ASSERT_EQUAL(xs_repair_fec_r(64, 0.15), 16);	/* k / 4 */
	CU_ASSERT_EQUAL(xs_repair_fec_r(64, 1.0), 16);
	CU_ASSERT_EQUAL(xs_repair_fec_r(4, 0.05), 1);
	CU_ASSERT_EQUAL(xs_repair_fec_r(3, 0.05), 0);	/* k / 4 = 0 */
}


#undef rate
#undef l

/*
 * The whole rate control (xs_rate_report, xs_rate_step) on virtual time,
 * against a model of a remote bottleneck: a drop-tail queue (a switch
 * port: it refuses the sender nothing, no ENOBUFS) of BUF bytes drained
 * at C bytes/s, then N receivers, each losing a share of what reaches it
 * at random (its own lossy link).  The sender paces 1472-byte datagrams
 * at x.rate every millisecond; every receiver REPORTs every 20 ms what it
 * counted (rx_bytes on its clock, rx_packets, rx_hw_seq, its first-pass
 * loss), staggered; the control steps every 25 ms, as xsend.c does.  The
 * propagation delay is a millisecond's tick.  Deterministic (a fixed
 * linear congruential generator), milliseconds of CPU.
 */
#define DG		1472.0		/* datagram, bytes */
#define MAXR		8
#define QMAX		4096		/* queue entries: one per ms */
#define C_300M		(300e6 / 8 * 1472 / 1514)
#define BUF_SMALL	(512.0 * 1024)
#define BUF_LARGE	(3.75 * 1024 * 1024)

struct mrecv {
	uint64_t	 bytes, pk, hw, last_pk, last_hw;
	double		 loss_ewma;		/* per mille */
};

struct model {
	struct xsend	 x;
	struct xs_peer	 peers[MAXR];
	struct mrecv	 r[MAXR];
	int		 n;
	double		 cap, buf, rloss;
	uint64_t	 now_ms;
	double		 tokens, qbytes;
	/* The queue: per entry the highest seq it holds and its count. */
	uint64_t	 q_hi[QMAX], q_n[QMAX];
	unsigned	 q_head, q_len;
	uint64_t	 sent, dropped, carried;	/* datagrams */
	uint32_t	 rng;
};

static double
model_rand(struct model *m)
{
	m->rng = m->rng * 1103515245u + 12345u;
	return ((double)((m->rng >> 8) & 0xffffff) / 16777216.0);
}

static void
model_init(struct model *m, int n, double cap, double buf, double rloss)
{
	int	i;

	memset(m, 0, sizeof(*m));
	m->n = n;
	m->cap = cap;
	m->buf = buf;
	m->rloss = rloss;
	m->rng = 17;
	m->now_ms = 1000;	/* not 0: 0 means "never" */
	m->x.state = XS_SENDING;
	m->x.geom.sym = 1424;
	m->x.geom.bsym = 3072;
	m->x.geom.nsym = UINT32_MAX;
	m->x.peers = m->peers;
	m->x.npeers = n;
	for (i = 0; i < n; i++) {
		m->peers[i].state = XSP_RECEIVING;
		m->peers[i].member = -1;
	}
	m->x.vclock_us = m->now_ms * 1000;
	xs_rate_init(&m->x);
}

/* Receiver i gets k datagrams, the highest hi; it loses some at random. */
static void
model_deliver(struct model *m, uint64_t k, uint64_t hi)
{
	uint64_t	j, kept;
	int		i;

	for (i = 0; i < m->n; i++) {
		for (j = 0, kept = 0; j < k; j++)
			if (model_rand(m) >= m->rloss)
				kept++;
		m->r[i].pk += kept;
		m->r[i].bytes += (uint64_t)(kept * DG);
		if (kept > 0)
			m->r[i].hw = hi;
	}
}

static void
model_report(struct model *m, int i)
{
	struct proto_report	 rep;
	struct mrecv		*r = &m->r[i];
	uint64_t		 dhw = r->hw - r->last_hw;

	if (dhw > 0) {
		double inst = r->pk - r->last_pk >= dhw ? 0 :
		    1000.0 * (double)(dhw - (r->pk - r->last_pk)) / dhw;
		r->loss_ewma = 0.8 * r->loss_ewma + 0.2 * inst;
	}
	r->last_hw = r->hw;
	r->last_pk = r->pk;
	memset(&rep, 0, sizeof(rep));
	rep.state = PROTO_R_RECEIVING;
	rep.rx_us = (uint32_t)(m->now_ms * 1000);
	rep.rx_bytes = r->bytes;
	rep.rx_packets = (uint32_t)r->pk;
	rep.rx_hw_seq = r->hw;
	rep.qdelay_us = UINT32_MAX;
	rep.loss_pm = (uint16_t)r->loss_ewma;
	rep.need97 = rep.need_max = 255;
	xs_rate_report(&m->x, &m->peers[i], &rep);
}

/* One millisecond: send, queue or drop, drain, deliver, report, step. */
static void
model_tick(struct model *m)
{
	uint64_t	k, room, out, lag, seq0;
	double		slowest, burst;
	int		i;

	m->x.vclock_us = m->now_ms * 1000;
	m->tokens += m->x.rate / 1000.0;
	burst = m->x.rate * 0.008;
	if (m->tokens > burst && burst > 4 * 65536)
		m->tokens = burst;
	k = (uint64_t)(m->tokens / DG);
	m->tokens -= (double)k * DG;
	seq0 = m->x.seq;
	m->x.seq += k;
	m->x.n_packets += k;
	m->x.n_wire += (uint64_t)(k * DG);
	m->sent += k;
	room = (uint64_t)((m->buf - m->qbytes) / DG);
	if (k > room) {
		m->dropped += k - room;	/* drop-tail: the newest */
		k = room;
	}
	if (k > 0 && m->q_len < QMAX) {
		m->q_hi[(m->q_head + m->q_len) % QMAX] = seq0 + k;
		m->q_n[(m->q_head + m->q_len) % QMAX] = k;
		m->q_len++;
		m->qbytes += (double)k * DG;
	}
	/* The port carries C this millisecond, whole datagrams. */
	out = (uint64_t)(m->cap / 1000.0 / DG + 0.5);
	while (out > 0 && m->q_len > 0) {
		unsigned h = m->q_head;
		uint64_t t = m->q_n[h] < out ? m->q_n[h] : out;

		m->q_n[h] -= t;
		out -= t;
		m->qbytes -= (double)t * DG;
		m->carried += t;
		model_deliver(m, t, m->q_hi[h] - m->q_n[h]);
		if (m->q_n[h] == 0) {
			m->q_head = (h + 1) % QMAX;
			m->q_len--;
		}
	}
	for (i = 0; i < m->n; i++)
		if ((m->now_ms + (uint64_t)i * 7) % 20 == 0)
			model_report(m, i);
	if (m->now_ms % 25 == 0) {
		xs_rate_step(&m->x, m->now_ms, &lag, &slowest);
		if (getenv("MODEL_TRACE") != NULL && m->now_ms < 12000)
			fprintf(stderr, "%6llu ms rate %5.0f ceil %5.0f dlv "
			    "%5.0f floor %u q %4.0f KiB drop %llu ss %d\n",
			    (unsigned long long)m->now_ms, m->x.rate * 8e-6,
			    m->x.ceiling * 8e-6, m->x.g_dlv * 8e-6,
			    m->x.loss_floor, m->qbytes / 1024,
			    (unsigned long long)m->dropped, m->x.slow_start);
	}
	m->now_ms++;
}

/* ms more of virtual time; what the port carried, bytes/s. */
static double
model_run(struct model *m, int ms)
{
	uint64_t	c0 = m->carried;
	int		i;

	for (i = 0; i < ms; i++)
		model_tick(m);
	return ((double)(m->carried - c0) * DG * 1000.0 / ms);
}

/*
 * One case: from the start, the port is full (at least 0.9 C) within a
 * second, and stays so for nine more, the loss it causes at most 1% of
 * what was sent over the ten seconds (random loss never counts: it is
 * the receivers' links, after the port); with random loss the rate must
 * not sink below 0.9 C either (a lossy link is FEC's job, not the rate
 * control's).
 */
static void
model_case(int n, double cap, double buf, double rloss)
{
	struct model	*m = calloc(1, sizeof(*m));
	double		 got;
	int		 w, bad = 0;

	CU_ASSERT_FATAL(m != NULL);
	model_init(m, n, cap, buf, rloss);
	model_run(m, 1000);
	for (w = 0; w < 36; w++) {
		got = model_run(m, 250);
		if (got < 0.9 * cap)
			bad++;
	}
	if (bad != 0 || m->dropped > m->sent / 100)
		fprintf(stderr, "\n  N=%d C=%.0f Mbit/s buffer %.0f KiB loss "
		    "%.0f%%: %d of 36 windows under 0.9 C, congestion loss "
		    "%.2f%%, rate %.0f Mbit/s ", n, cap * 8 / 1e6, buf / 1024,
		    rloss * 100, bad, 100.0 * m->dropped / m->sent,
		    m->x.rate * 8 / 1e6);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT(m->dropped <= m->sent / 100);
	free(m);
}

/* Every N of 1, 2, 8, both buffers, without and with 5% random loss. */
static void
model_grid(double cap)
{
	int	n[] = { 1, 2, 8 }, i;

	for (i = 0; i < 3; i++) {
		model_case(n[i], cap, BUF_SMALL, 0);
		model_case(n[i], cap, BUF_LARGE, 0);
		model_case(n[i], cap, BUF_SMALL, 0.05);
		model_case(n[i], cap, BUF_LARGE, 0.05);
	}
}

static void
test_model_1g(void)
{
	model_grid(LINK_1G);
}

static void
test_model_300m(void)
{
	model_grid(C_300M);
}

/*
 * The port's rate halves (another stream, a renegotiated link): within
 * 500 ms the sender is down to it (sends at most 1.1 x 0.5 C) and the
 * port is full again (at least 0.9 x 0.5 C), and the loss of the change
 * stays small.
 */
static void
test_model_drop(void)
{
	struct model	*m = calloc(1, sizeof(*m));
	uint64_t	 s0, d0;
	double		 got, sent;

	CU_ASSERT_FATAL(m != NULL);
	model_init(m, 2, LINK_1G, BUF_LARGE, 0);
	model_run(m, 3000);
	m->cap = LINK_1G / 2;
	model_run(m, 500);
	s0 = m->sent;
	d0 = m->dropped;
	got = model_run(m, 1000);
	sent = (double)(m->sent - s0) * DG;
	CU_ASSERT(got >= 0.9 * LINK_1G / 2);
	CU_ASSERT(sent <= 1.1 * LINK_1G / 2);
	CU_ASSERT(m->dropped - d0 <= (m->sent - s0) / 100);
	free(m);
}

static CU_TestInfo tests[] = {
	{ "behind a shaper: the link found within 1 s, kept busy",
	    test_local_converges },
	{ "the link slower, then faster: followed", test_local_follows },
	{ "a sender descheduled: the link still busy",
	    test_local_descheduled },
	{ "a link never full: no local capacity", test_local_not_full },
	{ "proactive parity from the binomial tail", test_fec_r },
	{ "a 1 Gbit/s switch port: found in 1 s, held, little loss",
	    test_model_1g },
	{ "a 300 Mbit/s switch port: found in 1 s, held, little loss",
	    test_model_300m },
	{ "the port halves: followed within 500 ms", test_model_drop },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	return (unit_main("xsend_rate", tests));
}
