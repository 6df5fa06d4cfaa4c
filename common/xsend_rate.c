/*
 * The sender's rate control (xsend_int.h): computations over the sender's
 * state that call nothing else of the sender.  What a REPORT says feeds
 * it (a receiver's pace and backlog, its loss of everything we send, its
 * socket-queue drops); every control step it sets the rate from them:
 * the smallest rate that keeps every receiver's backlog near
 * XS_LAG_TARGET, probes upwards while everyone keeps up, cuts on drops,
 * and on loss that grows tells a bottleneck the stream overruns from a
 * lossy link (xs_rate_bottleneck).  In a group that refuses stragglers it
 * also picks the receiver to refuse, which xsend.c then tells.
 */
#include <inttypes.h>
#include <stdio.h>

#include "log.h"
#include "mono.h"
#include "proto.h"
#include "udp.h"
#include "xsend_int.h"

#define XS_RATE_START		(128.0 * 1024 * 1024)
#define XS_RATE_MIN		(256.0 * 1024)
#define XS_RATE_AUTO_MAX	(4.0 * 1024 * 1024 * 1024)
#define XS_QUEUE_PM		200	/* receiver queue fill that slows us */
#define XS_LAG_TARGET		(8 * 1024 * 1024)	/* receiver backlog */
#define XS_LAG_TAU		0.1			/* s to get there */
#define XS_CONGEST_PM		30	/* loss rise that means congestion */
#define XS_LOSS_UNKNOWN		UINT16_MAX
#define XS_FLOOR_START_PM	50	/* loss taken as the floor at first */
#define XS_STEADY_MAX_PM	300	/* more is never a link's own loss */
#define XS_EJECT_LOSS_PM	150	/* a straggler's first-pass loss */
#define XS_DLV_WIN_MS		1000	/* a delivered rate's window */
#define XS_DLV_GAIN		1.5	/* rate over the slowest delivered */
#define XS_DLV_LOSS_PM		10	/* loss from which that bound holds */
#define XS_DLV_BNECK_GAIN	1.1	/* ... once a bottleneck was judged */
#define XS_DLV_BNECK_MARGIN	0.01	/* ... on a link that loses nothing */
#define XS_DLV_HELD		0.9	/* delivery held while the rate fell */
#define XS_CEIL_NEAR		0.97	/* probes slow down from there */
#define XS_CEIL_DLV_MIN		0.7	/* a delivery under this is no ceiling */
#define XS_JUDGE_HOLD_MS	600	/* no probes while a cut is judged */
#define XS_DLV_SHORT_US		20000	/* a delivery span */
#define XS_DLV_LONG_US		250000	/* a long one */
#define XS_LOCAL_SPAN_US	100000	/* a local capacity sample's span */
#define XS_LOCAL_WIN_US		1000000	/* samples a local capacity is of */
#define XS_LOCAL_GAIN		1.1	/* rate over the local capacity */
#define XS_LOCAL_RECENT_US	1000000	/* the uplink is the bottleneck */
#define XS_BURST_LOCAL_MS	30	/* pacing burst then */

/* Before any report: slow start from XS_RATE_START, no loss known. */
void
xs_rate_init(struct xsend *s)
{
	s->rate = XS_RATE_START;
	s->slow_start = 1;
	s->loss_floor = XS_LOSS_UNKNOWN;
}

/*
 * How fast a receiver works through what we send and how far behind it
 * is, from the progress of its rx_hw_seq: our packets are numbered, so
 * the difference to our own counter is its backlog, in packets, wherever
 * that backlog sits (socket buffer, a descheduled process).
 */
static void
xs_rate_drain(struct xsend *s, struct xs_peer *p, uint64_t hw)
{
	uint64_t	now = mono_ms();
	double		pkt, inst;

	if (s->n_packets == 0 || hw > s->seq)
		return;
	pkt = (double)s->n_wire / (double)s->n_packets;
	p->lag = (uint64_t)((double)(s->seq - hw) * pkt);
	if (p->hw_ms != 0 && hw >= p->hw && now >= p->hw_ms + 20) {
		inst = (double)(hw - p->hw) * pkt * 1000.0 /
		    (double)(now - p->hw_ms);
		p->drain = p->drain == 0 ? inst : 0.5 * p->drain + 0.5 * inst;
	}
	if (p->hw_ms == 0 || now >= p->hw_ms + 20) {
		p->hw = hw;
		p->hw_ms = now;
	}
}

/*
 * A delivery sample: the packets receiver p counted since anchor a, per
 * second of its own clock (REPORT rx_us), once at least min_us of it
 * passed.  Its clock, not the REPORTs' arrivals here: those have the
 * delays' jitter in them.  Ours when its clock says over twice as much
 * as ours (a receiver cannot make itself look slower than its packet
 * counts already can), or stands while ours runs.  Anchors before the
 * first pass are moved into it: a span that began in the wait (a REPORT
 * of the wait, then one of the first packets) gave a delivery far below
 * what was sent, and the bound of twice the delivered cut the start to a
 * fifth (issue #17: 4 receivers at 5% loss took 1.85 s instead of 1.25 s
 * in two runs of five).  1 with *d set, else 0.
 */
static int
xs_rate_span(const struct xsend *s, struct xs_dspan *a, uint32_t pk,
    uint64_t now, uint32_t rx_us, uint32_t min_us, double *d)
{
	uint64_t	ours;
	uint32_t	span = rx_us - a->us;	/* its clock, mod 2^32 */
	int		ok = 0;

	if (a->set && a->ms >= s->t_send / 1000) {
		ours = (now - a->ms) * 1000;
		if (span < min_us && ours < 2 * (uint64_t)min_us)
			return (0);	/* the anchor stays */
		/* A clock that does not move, or runs away: ours. */
		if (span < min_us || span > 2 * ours + min_us)
			span = ours > UINT32_MAX ? UINT32_MAX : (uint32_t)ours;
		if (span > 0 && pk - a->pk < (1U << 31)) {
			*d = (double)(pk - a->pk) * (double)s->n_wire /
			    (double)s->n_packets * 1e6 / (double)span;
			ok = 1;
		}
	}
	a->set = 1;
	a->pk = pk;
	a->us = rx_us;
	a->ms = now;
	return (ok);
}

/*
 * What reached a receiver per second, while the first pass runs (repairs
 * alone are too few to say what the path carries).  Over 20 ms spans,
 * the largest over XS_DLV_WIN_MS: a path's capacity being what it
 * carried at best, not at a moment of cross traffic, and known early, for
 * the start.  Over XS_DLV_LONG_US spans too, for the rate that sits on
 * a bottleneck: over 20 ms a tbf's bucket, or a receiver that counts a
 * backlog at once, passes more than the rate (the best of a second of
 * 20 ms spans made a silent 1 Gbit/s port look 3-10% faster than it was;
 * a 10 ms bucket adds at most 4% to a 250 ms span).
 */
static void
xs_rate_delivered(struct xsend *s, struct xs_peer *p, uint32_t pk,
    uint64_t now, uint32_t rx_us)
{
	double	d;

	if (s->state != XS_SENDING || s->n_packets == 0) {
		p->dv_s.set = p->dv_l.set = 0;
		return;
	}
	if (xs_rate_span(s, &p->dv_s, pk, now, rx_us, XS_DLV_SHORT_US, &d) &&
	    (d >= p->dlv || now - p->dlv_ms > XS_DLV_WIN_MS)) {
		p->dlv = d;
		p->dlv_ms = now;
	}
	if (xs_rate_span(s, &p->dv_l, pk, now, rx_us, XS_DLV_LONG_US, &d) &&
	    (d >= p->dlv_l || now - p->dlv_l_ms > XS_DLV_WIN_MS)) {
		p->dlv_l = d;
		p->dlv_l_ms = now;
	}
}

/*
 * The share of everything we send that reaches a receiver (first pass,
 * repairs, announces alike): the packets it counted against the progress
 * of our packet counter as it saw it, over at least 100 packets, smoothed.
 * It follows a rate change within a report or two, which the first-pass
 * loss of whole blocks cannot do on a slow link, and it covers the
 * repair phase too.
 */
static void
xs_rate_loss(struct xsend *s, struct xs_peer *p, uint32_t pk, uint64_t hw)
{
	double		inst;
	uint64_t	dhw, now = mono_ms();
	uint32_t	dpk;

	if (p->rx_ok && hw >= p->rx_hw) {
		dhw = hw - p->rx_hw;
		if (dhw < 100)
			return;	/* a few more: fewer make a noisy share */
		dpk = pk - p->rx_pk;
		inst = dpk >= dhw ? 0 : 1000.0 * (double)(dhw - dpk) /
		    (double)dhw;
		if (dpk < dhw)
			p->lost_pk += dhw - dpk;	/* xs_repair_nak */
		/*
		 * Not over a span that began before the stream: the first
		 * REPORT of it, against one of the wait, said 26% at 5%
		 * random loss, and cut a lone pair's rate to 0.8 Gbit/s for
		 * good (as the delivered rate's spans, xs_rate_span).
		 */
		if (s->t_send == 0 || p->rx_ms >= s->t_send / 1000) {
			p->iloss = p->iloss_ms == 0 ? inst : 0.7 * p->iloss +
			    0.3 * inst;
			p->iloss_ms = now;
		}
	}
	p->rx_ok = 1;
	p->rx_pk = pk;
	p->rx_hw = hw;
	p->rx_ms = now;
}

#define XS_OVF_WINDOW_MS	500	/* overflows at about the same time */
#define XS_OVF_FOLLOW_MS	40	/* a lone overflow: one cut */
#define XS_OVF_QUIET_MS		1000	/* no longer rising: forgotten */

/*
 * Receiver p's socket buffer overflowed again.  When others overflow too
 * (or it is the only receiver) that is congestion, and the next step
 * cuts.  A receiver that overflows alone is followed for
 * XS_OVF_FOLLOW_MS, then no longer (issue #12 finding 2b: a REPORT whose
 * counter kept rising cut everyone's rate by 30% every 50 ms, 32 times
 * slower in all); it is a straggler (xs_rate_straggler) from then on.
 */
static void
xs_rate_overflow(struct xsend *s, struct xs_peer *p, uint64_t now)
{
	int	i, others = 0, with = 0;

	p->ovf_at = now;
	for (i = 0; i < s->npeers; i++) {
		if (&s->peers[i] == p || s->peers[i].state != XSP_RECEIVING)
			continue;
		others++;
		if (s->peers[i].ovf_at != 0 &&
		    now - s->peers[i].ovf_at <= XS_OVF_WINDOW_MS)
			with++;
	}
	if (others == 0 || with > 0) {
		p->ovf_alone = 0;
		s->congested_drop = 1;
		return;
	}
	if (p->ovf_alone == 0) {
		p->ovf_alone = now;
		p->ovf_base = p->overflow;
	}
	if (now - p->ovf_alone < XS_OVF_FOLLOW_MS)
		s->congested_drop = 1;
}

/*
 * What a receiver's REPORT tells the rate control: drops in its socket
 * buffer or a full queue (congestion, for the next step), its pace and
 * backlog, its loss.
 */
void
xs_rate_report(struct xsend *s, struct xs_peer *p,
    const struct proto_report *r)
{
	uint64_t	now = mono_ms();

	if (r->overflow != p->overflow) {
		if (r->overflow > p->overflow && p->state == XSP_RECEIVING)
			xs_rate_overflow(s, p, now);
		p->overflow = r->overflow;
	}
	if (r->queue_pm > XS_QUEUE_PM && p->state == XSP_RECEIVING)
		s->congested_queue = 1;
	xs_rate_drain(s, p, r->rx_hw_seq);
	s->have_rx = 1;
	xs_rate_loss(s, p, r->rx_packets, r->rx_hw_seq);
	xs_rate_delivered(s, p, r->rx_packets, now, r->rx_us);
	p->loss_pm = r->loss_pm > 1000 ? 1000 : r->loss_pm;
}

/*
 * The sender's own uplink (xsend_int.h: struct xs_local), one control
 * step at now_us, given the transmit batch's counters: sends refused with
 * ENOBUFS (full) and bytes the kernel took (accepted).  A step that saw
 * a refusal found the local queue (a tbf, the device's) full; over a run
 * of such steps the queue was full at both ends, so what the kernel took
 * is what the link carried: one capacity sample per XS_LOCAL_SPAN_US of
 * run.  The link being the bottleneck, nothing is lost by it (the batch
 * keeps a refused datagram), which no receiver's report can tell as fast
 * or as exactly.
 */
void
xs_rate_local(struct xs_local *l, uint64_t now_us, uint64_t full,
    uint64_t accepted)
{
	unsigned	i = l->s_pos % XS_LOCAL_HIST;

	if (l->us != 0 && now_us > l->us && full <= l->full)
		l->run_us = 0;		/* not full: a run ends */
	else if (l->us != 0 && now_us > l->us) {
		l->last_full = now_us;
		l->nfull++;
		if (l->run_us != 0 && now_us - l->run_us >= XS_LOCAL_SPAN_US) {
			l->s_bw[i] = (double)(accepted - l->run_acc) * 1e6 /
			    (double)(now_us - l->run_us);
			l->s_us[i] = now_us;
			l->s_pos++;
			l->run_us = 0;	/* the next span starts here */
		}
		if (l->run_us == 0) {
			l->run_us = now_us;
			l->run_acc = accepted;
		}
	}
	l->us = now_us;
	l->full = full;
	l->acc = accepted;
}

/*
 * The local capacity: the largest sample of the last XS_LOCAL_WIN_US
 * (an overestimate costs refused sends, nothing else; an underestimate
 * an idle link), while the link was found full in that time; 0 when not
 * known, so that probing finds a link that got faster.
 */
double
xs_rate_local_bw(const struct xs_local *l, uint64_t now_us)
{
	double		bw = 0;
	unsigned	i;

	if (l->last_full == 0 || now_us - l->last_full > XS_LOCAL_WIN_US)
		return (0);
	for (i = 0; i < XS_LOCAL_HIST && i < l->s_pos; i++)
		if (now_us - l->s_us[i] <= XS_LOCAL_WIN_US && l->s_bw[i] > bw)
			bw = l->s_bw[i];
	return (bw);
}

/*
 * The rate the local capacity allows: a little over it (XS_LOCAL_GAIN)
 * keeps the uplink's queue full, so the link never idles and what it
 * refuses waits in the batch; and it bounds a rate that probes would
 * push up without end behind a bottleneck that loses nothing.  The rate
 * itself when the capacity is not known.
 */
double
xs_rate_local_cap(const struct xs_local *l, uint64_t now_us, double rate)
{
	double	bw = xs_rate_local_bw(l, now_us);

	return (bw > 0 && rate > bw * XS_LOCAL_GAIN ? bw * XS_LOCAL_GAIN :
	    rate);
}

/*
 * The most the pacing may send at once, bytes: 8 ms at the rate (at
 * least four GSO super-packets), so that a switch's queue further on
 * takes the burst after a late tick.  While the uplink is known to be
 * the bottleneck nothing further on sees more than its capacity and its
 * own queue takes the burst or refuses it (ENOBUFS, kept): the burst is
 * then the local queue's XS_BURST_LOCAL_MS, so that a sender descheduled
 * for longer than 8 ms (its receivers on the same cores, a loaded host)
 * still keeps that queue from running dry.
 */
double
xs_rate_burst(const struct xsend *s, uint64_t now_us)
{
	double	b;

	b = s->rate * (xs_rate_local_bw(&s->local, now_us) > 0 ?
	    XS_BURST_LOCAL_MS : 8) / 1000.0;
	return (b < 4 * 65536 ? 4 * 65536 : b);
}

/*
 * Whether a cut for loss well over the floor is being judged, for at most
 * XS_JUDGE_HOLD_MS: a judgement counts 1000 packets of every receiver,
 * which a deep cut makes long.
 */
static int
xs_rate_judging_overrun(const struct xsend *s)
{
	return (s->cut_at != 0 && mono_ms() - s->cut_at < XS_JUDGE_HOLD_MS &&
	    s->cut_loss >= s->cut_floor + 2 * XS_CONGEST_PM);
}

/*
 * The factor of one upward probe: geometric from the start, gentler once
 * the receivers set the pace, and slow near a bottleneck found earlier
 * (the ceiling), which is forgotten once the rate passes it by far
 * without loss: the path got faster.
 */
static double
xs_rate_probe(struct xsend *s)
{
	double	f = s->slow_start ? 1.25 : 1.1;

	/*
	 * Not while a cut for a large overrun is judged: what the receivers
	 * count then must be of the rate the cut chose.  Probes during the
	 * judgement took a silent 1 Gbit/s port's cut of 0.95 back to 1.06
	 * and 5.6% loss (rate and loss of the verdict, then the floor, were
	 * the probes').  A cut for a few points over the floor (noise, at
	 * 5% random loss and 8 receivers) is still probed out of.
	 */
	if (xs_rate_judging_overrun(s))
		return (1.0);
	if (s->ceiling > 0 && s->rate > s->ceiling * 1.25)
		s->ceiling = 0;
	if (s->ceiling > 0 && s->rate >= s->ceiling * XS_CEIL_NEAR)
		return (1.005);
	/*
	 * Below a ceiling, up to where the slow approach begins, not past
	 * it: a cut leaves the rate at 0.95 of the ceiling, and one probe
	 * of 1.1 took it to 1.045, over the bottleneck again while the cut
	 * was being judged (behind a silent 1 Gbit/s port the loss of that
	 * overrun was then taken for the link's own, 7%, and sized the
	 * parity of the rest of the stream).
	 */
	if (s->ceiling > 0 && s->rate * f > s->ceiling * XS_CEIL_NEAR)
		f = s->ceiling * XS_CEIL_NEAR / s->rate;
	return (f);
}

/*
 * Whether a probe upwards may follow this step: while there is something
 * to send, and the worst loss is not rising (against old, XS_HIST steps
 * back); without that history yet, not well over the floor.  The start
 * compared the loss with itself: behind a silent 1 Gbit/s port slow
 * start went on at 12% loss, to 2.6 Gbit/s, and lost most of three
 * blocks.
 */
static int
xs_rate_may_probe(const struct xsend *s, uint16_t worst, uint16_t old)
{
	if (s->state != XS_SENDING && xs_repair_pending(s) == 0)
		return (0);
	if (worst == XS_LOSS_UNKNOWN)
		return (1);
	if (old != XS_LOSS_UNKNOWN)
		return (worst <= old);
	return (s->loss_floor == XS_LOSS_UNKNOWN ||
	    worst < s->loss_floor + XS_CONGEST_PM);
}

/*
 * Long enough for the receivers' loss to follow a rate change: a few
 * reports when they count packets, else four blocks at the current rate
 * (their first-pass loss moves once per block), 400 ms at least.
 */
static uint64_t
xs_rate_settle_ms(const struct xsend *s)
{
	double	ms;

	if (s->have_rx)
		return (300);
	ms = 4000.0 * (double)s->geom.bsym * s->geom.sym / s->rate;
	return (ms < 400 ? 400 : ms > 10000 ? 10000 : (uint64_t)ms);
}

/* A receiver's loss l, ranked against the worst and second worst yet. */
static void
xs_rate_rank(int l, int *worst, int *worst2)
{
	if (l > *worst) {
		*worst2 = *worst;
		*worst = l;
	} else if (l > *worst2)
		*worst2 = l;
}

/*
 * The worst loss (second worst, in a group that refuses stragglers) over
 * what was sent since the judging snapshot, per mille, once every
 * receiver in it has counted 1000 packets (100 after 3 s); -1 before.
 */
static int
xs_rate_judged_loss(struct xsend *s, uint64_t now)
{
	struct xs_peer	*p;
	uint64_t	 n;
	uint32_t	 pk;
	int		 i, l, worst = -1, worst2 = -1, nl = 0, short_ = 0;

	for (i = 0; i < s->npeers; i++) {
		p = &s->peers[i];
		if (!p->j_set || p->state != XSP_RECEIVING)
			continue;
		n = p->rx_hw - p->j_hw;
		if (n < 1000)
			short_ = 1;
		if (n < 100)
			continue;
		pk = p->rx_pk - p->j_pk;
		l = pk >= n ? 0 : (int)(1000 * (n - pk) / n);
		nl++;
		xs_rate_rank(l, &worst, &worst2);
	}
	if (nl == 0 || (short_ && now - s->judge_from < 3000))
		return (-1);
	return (s->conf.eject_ms > 0 && nl >= 2 ? worst2 : worst);
}

/* A delivered rate d, ranked against the lowest and second lowest. */
static void
xs_rate_rank_low(double d, double *low, double *low2)
{
	if (*low == 0 || d < *low) {
		*low2 = *low;
		*low = d;
	} else if (*low2 == 0 || d < *low2)
		*low2 = d;
}

/* Go to what got through, and remember it as the ceiling. */
static void
xs_rate_cut(struct xsend *s, uint64_t now, uint16_t worst, double sent)
{
	double	dl;

	s->ceiling = (sent < s->rate ? sent : s->rate) * (1.0 -
	    (double)(worst > s->loss_floor ? worst - s->loss_floor : 0) /
	    1000.0);
	/*
	 * At most what delivers the slowest's best delivery over the link's
	 * own loss (the first floor is only a guess, 0-5%: not then).  The
	 * loss a REPORT shows and what we sent over the last steps are of
	 * rates some steps back: a silent 1 Gbit/s port overrun in slow
	 * start was cut to 1.2 Gbit/s by them and lost 14% for another 300
	 * ms, while the delivered rate already said 1.0.  Not below 0.7 of
	 * what the loss says got through: a receiver busy with a flood of
	 * forged ANNOUNCEs counted so little over its first span that the
	 * delivery said 6 Mbit/s of 80, and the cut to it took 3 s to undo.
	 */
	if (s->g_dlv > 0) {
		dl = s->g_dlv;
		if (s->floor_judged)
			dl /= 1.0 - (double)s->loss_floor / 1000.0;
		if (dl < s->ceiling && dl >= XS_CEIL_DLV_MIN * s->ceiling)
			s->ceiling = dl;
	}
	s->rate = s->ceiling * 0.95;
	s->slow_start = 0;
	s->last_decrease = now;
	s->cut_loss = worst;
	s->cut_dlv = s->g_dlv;
	s->cut_sent = s->ceiling;
	s->judge_from = 0;
	log_debug("xsend %016" PRIx64 ": loss %.1f%% and growing: bottleneck "
	    "at about %.0f Mbit/s?", s->session, (double)worst / 10.0,
	    s->ceiling * 8 / 1e6);
}

/*
 * Loss as a rate signal.  Loss that grows well above the usual (the
 * floor) may be a bottleneck on the way (a shaped or shared link, a
 * router's queue) that the stream overruns: the rate is cut to what got
 * through (xs_rate_cut), remembered as the ceiling that probes approach
 * slowly.  The cut is then judged on what the receivers count over the
 * next 1000 packets, once their averages have followed it: if the loss
 * went away, it was a bottleneck; if it did not, it was steady loss (a
 * lossy link), which becomes the floor, so that it does not cut the rate
 * again: FEC and repairs deal with it.  Until a cut has shown otherwise,
 * the floor is a guess of 5% that a lower loss brings down, never the
 * first loss seen: a stream that overruns a bottleneck from its start
 * looks like a lossy link.
 * Returns 1 if the rate was cut (or must hold: no probe at such a loss).
 */
static int
xs_rate_bottleneck(struct xsend *s, uint64_t now, uint16_t worst,
    uint16_t old, double sent)
{
	double	congest;
	int	i, rising, judged, fell;

	if (worst == XS_LOSS_UNKNOWN)
		return (0);
	/*
	 * The floor starts at a guess, XS_FLOOR_START_PM, whatever the first
	 * loss seen, and comes down with the slow average below.  Taken from
	 * the first sample (capped at the guess), a first REPORT of a few
	 * packets said 0.3% at 5% random loss: the 5% then looked like a
	 * bottleneck, cut and judged for 350 ms.
	 */
	if (s->loss_floor == XS_LOSS_UNKNOWN)
		s->loss_floor = s->loss_slow = XS_FLOOR_START_PM;
	/*
	 * The floor comes down with a slow average: the minimum of a noisy
	 * loss would sit below what the link really loses.
	 */
	s->loss_slow = 0.9 * s->loss_slow + 0.1 * worst;
	if (s->loss_slow < s->loss_floor)
		s->loss_floor = (uint16_t)s->loss_slow;
	/*
	 * How much the loss wanders by itself.  A link that drops bursts
	 * (the lab's nftables drops whole GRO trains, a flaky radio) moves
	 * a report's loss by several points at the same rate; only a rise
	 * well beyond that is a bottleneck (at 5% random loss a rise of 3
	 * points once cut a lone receiver's rate by a third, issue #17).
	 */
	s->loss_dev = 0.9 * s->loss_dev + 0.1 * (worst > s->loss_slow ?
	    worst - s->loss_slow : s->loss_slow - worst);
	congest = 3 * s->loss_dev;
	if (congest < XS_CONGEST_PM)
		congest = XS_CONGEST_PM;
	if (congest > 3 * XS_CONGEST_PM)
		congest = 3 * XS_CONGEST_PM;	/* a run-away loss still cuts */
	if (old == XS_LOSS_UNKNOWN)
		old = worst;
	rising = worst >= old + congest / 2;
	if (s->cut_at == 0) {
		if (!((rising && worst >= s->loss_floor + congest) ||
		    worst >= s->loss_floor + 5 * XS_CONGEST_PM) ||
		    now - s->last_decrease < 100)
			return (0);
		s->cut_at = now;
		s->cut_floor = s->loss_floor;
		xs_rate_cut(s, now, worst, sent);
		return (1);
	}
	/* Judging: only a loss that runs away cuts again meanwhile. */
	if (rising && worst >= s->cut_loss + 2 * XS_CONGEST_PM &&
	    now - s->last_decrease >= 100) {
		xs_rate_cut(s, now, worst, sent);
		return (1);
	}
	if (s->judge_from == 0) {
		if (now - s->cut_at < xs_rate_settle_ms(s))
			return (0);
		s->judge_from = now;
		for (i = 0; i < s->npeers; i++) {
			s->peers[i].j_set = s->peers[i].rx_ok;
			s->peers[i].j_pk = s->peers[i].rx_pk;
			s->peers[i].j_hw = s->peers[i].rx_hw;
		}
		return (0);
	}
	if ((judged = xs_rate_judged_loss(s, now)) < 0)
		return (0);
	/*
	 * Beyond XS_STEADY_MAX_PM it is congestion whatever the cut did
	 * (streams sharing a bottleneck keep each other's loss up): go to
	 * what got through and judge again.  Never the floor: right after
	 * another decrease, wait for the next judgement instead (taking 80%
	 * loss for a link's own once let three unicast streams into one
	 * 300 Mbit/s link send one of them 10 times over).
	 */
	if (judged > XS_STEADY_MAX_PM) {
		if (now - s->last_decrease < 100)
			return (1);	/* hold the rate: no probe at this loss */
		s->loss_floor = s->cut_floor;
		xs_rate_cut(s, now, (uint16_t)judged, sent);
		return (1);
	}
	fell = judged <= s->cut_floor + (s->cut_loss - s->cut_floor) / 3 +
	    10 || judged + 2 * XS_CONGEST_PM <= s->cut_loss;
	/*
	 * What the slowest was delivered held while what we sent fell: the
	 * path lets no more through, a bottleneck's loss whatever the loss
	 * did (repairs of the overrun kept a silent 1 Gbit/s port's loss at
	 * 30% after a cut, which was taken for a lossy link, and the rate
	 * went on to 1.6 Gbit/s).  A lossy link's delivery falls with the
	 * rate.
	 */
	if (!fell && judged >= s->cut_floor + 2 * XS_CONGEST_PM &&
	    s->cut_dlv > 0 && s->g_dlv >= XS_DLV_HELD * s->cut_dlv &&
	    s->cut_sent > 0 && sent <= XS_DLV_HELD * s->cut_sent) {
		log_debug("xsend %016" PRIx64 ": delivery held at %.0f Mbit/s "
		    "while the rate fell: a bottleneck, loss %.1f%%",
		    s->session, s->g_dlv * 8 / 1e6, judged / 10.0);
		s->bneck_ms = now;
		s->loss_floor = s->cut_floor;
		s->cut_at = 0;
		s->judge_from = 0;
		if (s->rate > s->g_dlv)
			s->rate = s->g_dlv;
		s->ceiling = s->g_dlv;
		s->last_decrease = now;
		return (1);
	}
	if (fell && judged >= s->cut_floor + 2 * XS_CONGEST_PM) {
		/*
		 * Down, but not to the floor: the loss follows the rate, so
		 * there is a bottleneck and the cut fell short of it (the
		 * loss a REPORT shows is of a rate some steps back, lower
		 * than the one it cut: a switch port at 1 Gbit/s was cut to
		 * 1.35 Gbit/s, lost 25% after it, and was taken for a lossy
		 * link).  Go to what got through, and judge again; right
		 * after another decrease, hold and judge at the next step.
		 */
		if (now - s->last_decrease < 100)
			return (1);
		log_debug("xsend %016" PRIx64 ": loss down from %.1f%% to "
		    "%.1f%% after the cut: a bottleneck, cut short",
		    s->session, s->cut_loss / 10.0, judged / 10.0);
		s->loss_floor = s->cut_floor;
		s->bneck_ms = now;
		xs_rate_cut(s, now, (uint16_t)judged, sent);
		s->cut_at = now;
		return (1);
	}
	s->floor_judged = 1;
	if (fell) {
		if (judged < s->loss_floor)
			s->loss_floor = (uint16_t)judged;
		s->bneck_ms = now;
		log_debug("xsend %016" PRIx64 ": loss down to %.1f%% after the "
		    "cut: a bottleneck", s->session, judged / 10.0);
	} else {
		/*
		 * No jump back to the old rate: streams that share a
		 * bottleneck keep each other's loss up whatever one of them
		 * does, and would all jump at once.  The probes bring it back.
		 */
		s->loss_floor = (uint16_t)judged;
		s->loss_slow = judged;
		/*
		 * Nor a ceiling: there was no bottleneck to approach slowly,
		 * and the cut alone cost a lossy link's stream a third of
		 * its rate for seconds (issue #17).
		 */
		s->ceiling = 0;
		s->bneck_ms = 0;
		s->n_steady++;
		log_debug("xsend %016" PRIx64 ": loss still %.1f%% after the "
		    "cut: steady loss, not a bottleneck", s->session,
		    judged / 10.0);
	}
	s->cut_at = 0;
	s->judge_from = 0;
	return (0);
}

static double
xs_rate_median(double *v, int n)
{
	int	i, j;
	double	t;

	for (i = 1; i < n; i++)
		for (j = i; j > 0 && v[j - 1] > v[j]; j--) {
			t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

/*
 * The lower median of the receiving receivers' counted loss (of at most
 * 64 of them), for the repair budgets (xs_repair_budget): one receiver
 * alone has its own, two the smaller.
 */
static void
xs_rate_lost_ref(struct xsend *s)
{
	double	v[64];
	int	i, n = 0;

	for (i = 0; i < s->npeers && n < 64; i++)
		if (s->peers[i].state == XSP_RECEIVING)
			v[n++] = (double)s->peers[i].lost_pk;
	if (n == 0)
		return;		/* the last figure stands: the tail */
	(void)xs_rate_median(v, n);
	s->lost_ref = (uint64_t)v[(n - 1) / 2];
}

/*
 * Stragglers (only with conf.eject_ms, for a multicast group): a
 * receiver that for eject_ms loses XS_EJECT_LOSS_PM or more of the first
 * pass and at least twice what the others lose (median), or works
 * through the stream at under half the others' median pace while its
 * backlog holds the rate down, is refused (ACK REJECTED, the reason in
 * its error) so that it does not drag the group; its agent can then
 * finish by unicast.  Never the last receivers: at least two must be
 * receiving, and a refusal leaves at least one.  This returns the one
 * to refuse, marked refused and its error set, for the caller to tell
 * it and fail it (NULL: none this step).
 */
struct xs_peer *
xs_rate_straggler(struct xsend *s, uint64_t now)
{
	struct xs_peer	*p;
	double		 loss[64], pace[64], ml, mp;
	int		 i, j, n, nl, np, lossy, slow, ovf;

	if (s->conf.eject_ms <= 0 || s->state != XS_SENDING)
		return (NULL);
	for (i = 0, n = 0; i < s->npeers; i++)
		if (s->peers[i].state == XSP_RECEIVING &&
		    now - s->peers[i].hw_ms <= 500)
			n++;
	if (n < 2)
		return (NULL);
	for (i = 0; i < s->npeers; i++) {
		p = &s->peers[i];
		if (p->state != XSP_RECEIVING || now - p->hw_ms > 500) {
			p->straggle_since = 0;
			continue;
		}
		/* The others' medians, from at most 64 of them. */
		for (j = 0, nl = np = 0; j < s->npeers && nl < 64; j++) {
			if (j == i || s->peers[j].state != XSP_RECEIVING ||
			    now - s->peers[j].hw_ms > 500)
				continue;
			loss[nl++] = s->peers[j].loss_pm;
			if (s->peers[j].drain > 0)
				pace[np++] = s->peers[j].drain;
		}
		ml = nl > 0 ? xs_rate_median(loss, nl) : 0;
		mp = np > 0 ? xs_rate_median(pace, np) : 0;
		lossy = p->loss_pm >= XS_EJECT_LOSS_PM &&
		    p->loss_pm >= 2 * ml;
		slow = p->drain > 0 && mp > 0 && p->drain < 0.5 * mp &&
		    p->lag >= XS_LAG_TARGET;
		if (p->ovf_alone != 0 && now - p->ovf_at > XS_OVF_QUIET_MS)
			p->ovf_alone = 0;
		ovf = p->ovf_alone != 0;
		if (!lossy && !slow && !ovf && !p->nak_over) {
			p->straggle_since = 0;
			continue;
		}
		if (p->straggle_since == 0) {
			p->straggle_since = now;
			continue;
		}
		if (now - p->straggle_since < (uint64_t)s->conf.eject_ms)
			continue;
		if (p->nak_over)
			snprintf(p->err, sizeof(p->err), "%s: asked for %"
			    PRIu64 " repair packets, its budget is %" PRIu64,
			    XSEND_STRAGGLER, p->nak_cost,
			    xs_repair_budget(s, p));
		else if (ovf)
			snprintf(p->err, sizeof(p->err), "%s: its socket "
			    "buffer overflowed %u times in %.1f s, the others' "
			    "did not", XSEND_STRAGGLER,
			    p->overflow - p->ovf_base,
			    (now - p->ovf_alone) / 1000.0);
		else if (lossy)
			snprintf(p->err, sizeof(p->err), "%s: first-pass loss "
			    "%.1f%% for %.1f s, the others' median %.1f%%",
			    XSEND_STRAGGLER, p->loss_pm / 10.0,
			    (now - p->straggle_since) / 1000.0, ml / 10.0);
		else
			snprintf(p->err, sizeof(p->err), "%s: %.0f Mbit/s for "
			    "%.1f s, the others' median %.0f Mbit/s",
			    XSEND_STRAGGLER, p->drain * 8 / 1e6,
			    (now - p->straggle_since) / 1000.0, mp * 8 / 1e6);
		log_info("xsend %016" PRIx64 ": receiver %s refused: %s",
		    s->session, p->name, p->err);
		p->refused = 1;
		p->reason = PROTO_RJ_STRAGGLER;
		return (p);	/* one per step: the medians change */
	}
	return (NULL);
}

/*
 * One control step (every XS_CTL_MS).  The largest backlog and the
 * slowest pace it saw come back for the progress line.
 */
void
xs_rate_step(struct xsend *s, uint64_t now, uint64_t *lagp,
    double *slowestp)
{
	uint64_t	 lag = 0, now_us = mono_us(), acc, refused;
	double		 max, slowest = 0, want = 0, sent, lbw;
	double		 dlv = 0, dlv2 = 0, dl = 0, dl2 = 0, gain, nr;
	uint16_t	 old, pl;
	unsigned	 h;
	int		 i, nloss = 0, worst = 0, worst2 = 0, lfull, local;

	max = s->conf.rate_max > 0 ? (double)s->conf.rate_max :
	    XS_RATE_AUTO_MAX;
	lfull = s->local.nfull;
	udp_tx_counts(s->tx, &acc, &refused);
	xs_rate_local(&s->local, now_us, refused, acc);
	lfull = s->local.nfull != (uint64_t)lfull;
	local = s->local.last_full != 0 &&
	    now_us - s->local.last_full <= XS_LOCAL_RECENT_US;
	/*
	 * Rate control.  Each receiver that reported lately says how fast it
	 * works through the stream (drain) and how much of it is still
	 * ahead of it (lag).  The rate that would bring its lag to
	 * XS_LAG_TARGET within XS_LAG_TAU is drain + (target - lag) / tau;
	 * the group gets the smallest of these, smoothed.  Until the first
	 * estimates arrive the rate grows geometrically from XS_RATE_START.
	 * Drops in a receiver's socket buffer cut the rate hard.
	 */
	for (i = 0; i < s->npeers; i++) {
		struct xs_peer *p = &s->peers[i];
		double d;

		if (p->state != XSP_RECEIVING || now - p->hw_ms > 500)
			continue;
		/*
		 * Its loss: of everything we send, when it counts packets;
		 * else its first-pass loss average, which means something
		 * once a few blocks have passed it (it reports 0 before).
		 */
		pl = XS_LOSS_UNKNOWN;
		if (p->iloss_ms != 0 && now - p->iloss_ms <= 500)
			pl = (uint16_t)p->iloss;
		else if (p->iloss_ms == 0 && p->bytes >=
		    3 * (uint64_t)s->geom.bsym * s->geom.sym)
			pl = p->loss_pm;
		if (pl != XS_LOSS_UNKNOWN) {
			nloss++;
			xs_rate_rank(pl, &worst, &worst2);
		}
		if (p->dlv > 0 && now - p->dlv_ms <= XS_DLV_WIN_MS)
			xs_rate_rank_low(p->dlv, &dlv, &dlv2);
		if (p->dlv_l > 0 && now - p->dlv_l_ms <= XS_DLV_WIN_MS)
			xs_rate_rank_low(p->dlv_l, &dl, &dl2);
		if (p->lag > lag)
			lag = p->lag;
		if (p->drain <= 0)
			continue;
		if (slowest == 0 || p->drain < slowest)
			slowest = p->drain;
		d = p->drain + ((double)XS_LAG_TARGET - (double)p->lag) /
		    XS_LAG_TAU;
		if (d < p->drain * 0.5)
			d = p->drain * 0.5;
		if (want == 0 || d < want)
			want = d;
	}
	xs_rate_lost_ref(s);
	/*
	 * The loss history for xs_rate_bottleneck: the worst receiver's loss
	 * and what we sent, per step, XS_HIST steps back.
	 */
	h = s->h_pos % XS_HIST;
	/*
	 * Not over steps of the wait: what a sender that had just started
	 * sent over the last 200 ms was mostly nothing, and a cut at the
	 * start went to 6 Mbit/s of 80.
	 */
	sent = s->h_pos >= XS_HIST && s->t_send != 0 &&
	    s->h_ms[h] >= s->t_send / 1000 ? (double)(s->n_wire -
	    s->h_wire[h]) * 1000.0 / (double)(now - s->h_ms[h] > 0 ?
	    now - s->h_ms[h] : 1) : s->rate;
	/*
	 * A group that refuses stragglers follows its second worst
	 * receiver: one alone behind a slow or lossy link is refused
	 * (xs_rate_straggler) instead of slowing everyone down.
	 */
	if (s->conf.eject_ms > 0 && nloss >= 2)
		worst = worst2;
	if (nloss == 0)
		worst = XS_LOSS_UNKNOWN;
	/* The second slowest in a group that refuses stragglers. */
	if (s->conf.eject_ms > 0 && dlv2 > 0)
		dlv = dlv2;
	if (s->conf.eject_ms > 0 && dl2 > 0)
		dl = dl2;
	s->g_dlv = dlv;
	s->g_dlv_l = dl;
	old = s->h_pos >= XS_HIST ? s->h_loss[h] : XS_LOSS_UNKNOWN;
	s->h_loss[h] = worst;
	s->h_wire[h] = s->n_wire;
	s->h_ms[h] = now;
	s->h_pos++;
	/*
	 * While our own uplink is the bottleneck (xs_rate_local) it loses
	 * nothing, and the loss receivers see is their links' own, for FEC
	 * and repairs: only a loss no lossy link has (over
	 * XS_STEADY_MAX_PM, a slower link further on) is judged then.
	 */
	if ((!local || worst == XS_LOSS_UNKNOWN ||
	    worst > XS_STEADY_MAX_PM) &&
	    xs_rate_bottleneck(s, now, worst, old, sent)) {
		/* Cut for loss. */
		s->n_cut_loss++;
	} else if (s->congested_drop && now - s->last_decrease >= 50) {
		s->rate *= 0.7;
		if (slowest > 0 && s->rate > slowest * 0.8)
			s->rate = slowest * 0.8;
		s->slow_start = 0;
		s->last_decrease = now;
		s->n_cut_drop++;
	} else if (s->congested_queue && now - s->last_decrease >= 50) {
		s->rate *= 0.85;
		s->slow_start = 0;
		s->last_decrease = now;
		s->n_cut_queue++;
	} else if (lfull) {
		/*
		 * The uplink refused sends this step: no probe, the rate is
		 * as high as it can go; the local capacity below sets it.
		 */
	} else if (want > 0) {
		/*
		 * Everyone keeps up: probe upwards (the measured pace is
		 * only what we managed to send).  Backlog building: steer
		 * towards the target.
		 */
		if (lag < XS_LAG_TARGET / 2) {
			if (xs_rate_may_probe(s, worst, old))
				s->rate *= xs_rate_probe(s);
		} else {
			s->slow_start = 0;
			nr = 0.5 * s->rate + 0.5 * want;
			/*
			 * Not past a ceiling a cut found: steering past it
			 * made probes forget it (a silent 1 Gbit/s port cut
			 * to 1.1 Gbit/s was back at 1.5 in two steps, a
			 * third of the stream lost again).
			 */
			if (s->ceiling > 0 && nr > s->ceiling && nr > s->rate)
				nr = s->rate > s->ceiling ? s->rate : s->ceiling;
			/* Nor up while a cut is judged (xs_rate_probe). */
			if (xs_rate_judging_overrun(s) && nr > s->rate)
				nr = s->rate;
			s->rate = nr;
		}
	} else if (s->slow_start && xs_rate_may_probe(s, worst, old))
		s->rate *= xs_rate_probe(s);
	/*
	 * While receivers lose something, at most 1.5 times what the slowest
	 * (the second slowest in a group that refuses stragglers: g_dlv) was
	 * delivered at best lately: behind a bottleneck that drops silently
	 * the rate overshoots it at most by half before its loss cuts
	 * it, where probes would push it on to the ceiling (TFMCC's bound on
	 * slow start).  Without loss there is no overshoot to bound, and the
	 * bound would only slow the start.  The bound is on what we really
	 * send: a sender held back by its CPU sends far below its rate, and
	 * cutting the rate to twice a lossy link's delivery then made the
	 * pacing, not the CPU, the limit (issue #17: 5% random loss cost a
	 * lone receiver a third of its rate).  Once a cut has shown a
	 * bottleneck, what the slowest was delivered at best is about its
	 * rate: probes stay within a tenth of it; on a link that loses
	 * nothing of its own (a floor of 1% or less), within 1% of its best
	 * delivery over 250 ms spans.  At 1.1 of the best 20 ms span the
	 * probes held a silent 1 Gbit/s port overrun by 5 to 9% for the
	 * whole stream.
	 */
	gain = XS_DLV_GAIN;
	if (xs_bneck_recent(s, now) && s->loss_floor <= XS_DLV_LOSS_PM &&
	    s->g_dlv_l > 0) {
		gain = 1.0 + XS_DLV_BNECK_MARGIN;
		dlv = s->g_dlv_l;
	} else if (xs_bneck_recent(s, now))
		gain = XS_DLV_BNECK_GAIN;
	if (s->state == XS_SENDING && dlv > 0 && worst != XS_LOSS_UNKNOWN &&
	    worst >= XS_DLV_LOSS_PM && s->rate > gain * dlv &&
	    sent > gain * dlv) {
		s->rate = gain * dlv;
		s->n_cut_dlv++;
	}
	if ((lbw = xs_rate_local_cap(&s->local, now_us, s->rate)) < s->rate) {
		s->rate = lbw;
		s->slow_start = 0;
		s->n_cut_local++;
	}
	if (s->rate > max)
		s->rate = max;
	if (s->rate < XS_RATE_MIN)
		s->rate = XS_RATE_MIN;
	s->congested_drop = s->congested_queue = 0;
	*lagp = lag;
	*slowestp = slowest;
}
