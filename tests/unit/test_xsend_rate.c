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

static CU_TestInfo tests[] = {
	{ "behind a shaper: the link found within 1 s, kept busy",
	    test_local_converges },
	{ "the link slower, then faster: followed", test_local_follows },
	{ "a sender descheduled: the link still busy",
	    test_local_descheduled },
	{ "a link never full: no local capacity", test_local_not_full },
	{ "proactive parity from the binomial tail", test_fec_r },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	return (unit_main("xsend_rate", tests));
}
