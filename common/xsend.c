/*
 * The multicast sender.  It announces the session, waits for receivers as
 * --min-receivers / --max-wait say, then streams the file block by block
 * (first pass) while serving repairs: Reed-Solomon parity for groups that
 * receivers NAK, and whole-block resends for receivers that hold nothing of
 * a block (late joiners, restarted receivers).  Every packet is sealed with
 * AES-256-GCM under the session's data key; a token bucket paces the
 * stream and the rate follows the receivers' socket-queue reports and, on
 * a bottleneck it overruns, the share of packets they count.  In a group
 * it may refuse a straggler so that one slow or lossy receiver does not
 * hold everyone back (its owner can serve it alone, by unicast).  A small
 * ring of recently read blocks serves both the first pass and most repairs
 * without re-reading the file; memory does not depend on the file's size
 * except for 17 bytes of repair bookkeeping per 91 KB group.  Blocks that
 * every receiver already holds (resumed receivers say which in HELD) are
 * skipped by the first pass.  The sender
 * sends from a fixed port, the group's port plus one, so that firewalls
 * can let receivers' answers in (doc/protocol.md, Ports); the sends of one
 * process share that socket: a receiver's answer carries its session.
 * This file is the top of the module: the state machine, the first pass
 * (the pump), announces, the receivers' answers and the API of xsend.h.
 * It calls down into the rate control (xsend_rate.c), the repairs
 * (xsend_repair.c), the block ring (xsend_ring.c) and the sockets
 * (xsend_sock.c), none of which calls back up (xsend_int.h).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "proto.h"
#include "udp.h"
#include "vis.h"
#include "wire.h"
#include "xmalloc.h"
#include "xsend_int.h"

#define XS_TICK_US		1000	/* pacing timer */
#define XS_CTL_MS		25	/* rate control, drops, progress */
#define XS_PROGRESS_MS		250	/* progress callback, debug line */
#define XS_ANNOUNCE_MS		100
#define XS_ANNOUNCE_WAIT_MS	25	/* while waiting: a lost one costs less */
#define XS_REPORT_MS		100
#define XS_FAST_US		300000	/* FAST reports from the start */
#define XS_FAST_PEERS		64	/* ... in groups of at most */
#define XS_BACKOFF_MS		10
#define XS_REPAIR_SHARE		0.5	/* repairs per first-pass packet */
#define XS_SKIP_BUDGET		256	/* held blocks skipped per pump */
/*
 * A receiver reports right after its ACK; one that said HELLO and
 * nothing else for this long is not waited for (a flood of HELLOs, in PSK
 * mode, must not hold the end of the transfer).  It may still report.
 */
#define XS_JOIN_MS		1000
#define XS_DEADLINE_MIN_MS	30000

enum xsend_event {
	XE_START,
	XE_GATE,	/* enough receivers, or max wait over */
	XE_PASS_DONE,	/* first pass sent */
	XE_QUIET,	/* no repair pending, every receiver final */
	XE_BUSY,	/* a receiver joined or a repair arrived */
	XE_LINGER_OVER,
	XE_STOP,
};

static void	xsend_fsm(struct xsend *, enum xsend_event);
static void	xsend_pace_cb(evutil_socket_t, short, void *);
static void	xs_log_rate(struct xsend *);
static void	xsend_send_announce(struct xsend *);
static void	xs_set_deadline(struct xsend *);
static int	xs_deadline(struct xsend *, uint64_t);

static const char *
xsend_strstate(enum xsend_state s)
{
	switch (s) {
	case XS_INIT:
		return ("INIT");
	case XS_WAITING:
		return ("WAITING");
	case XS_SENDING:
		return ("SENDING");
	case XS_DRAINING:
		return ("DRAINING");
	case XS_LINGER:
		return ("LINGER");
	case XS_FINISHED:
		return ("FINISHED");
	}
	return ("?");
}

const char *
xsend_strpstate(enum xsend_pstate s)
{
	switch (s) {
	case XSP_JOINED:
		return ("joined");
	case XSP_READY:
		return ("ready");
	case XSP_RECEIVING:
		return ("receiving");
	case XSP_DONE:
		return ("ok");
	case XSP_FAILED:
		return ("failed");
	case XSP_DROPPED:
		return ("dropped");
	}
	return ("?");
}

static void
xsend_set_state(struct xsend *s, enum xsend_state ns)
{
	log_debug("xsend %016" PRIx64 ": %s -> %s", s->session,
	    xsend_strstate(s->state), xsend_strstate(ns));
	s->state = ns;
}

static void
xs_peer_info(struct xs_peer *p, struct xsend_peer_info *pi)
{
	pi->rid = p->rid;
	pi->addr = p->name;
	pi->state = p->state;
	pi->bytes = p->bytes;
	pi->repairs = p->repairs;
	pi->error = p->err[0] != '\0' ? p->err : NULL;
}

static void
xs_peer_state(struct xsend *s, struct xs_peer *p, enum xsend_pstate ns)
{
	struct xsend_peer_info	pi;

	if (p->state == ns)
		return;
	log_debug("xsend %016" PRIx64 ": receiver %s: %s -> %s", s->session,
	    p->name, xsend_strpstate(p->state), xsend_strpstate(ns));
	p->state = ns;
	xs_peer_info(p, &pi);
	switch (ns) {
	case XSP_READY:
		if (s->cb.ready != NULL)
			s->cb.ready(s->arg, &pi);
		break;
	case XSP_DONE:
	case XSP_FAILED:
		if (s->cb.peer_done != NULL)
			s->cb.peer_done(s->arg, &pi);
		break;
	case XSP_DROPPED:
		if (s->cb.peer_dropped != NULL)
			s->cb.peer_dropped(s->arg, &pi);
		break;
	default:
		break;
	}
}

static int
xs_peer_final(const struct xs_peer *p)
{
	return (p->state == XSP_DONE || p->state == XSP_FAILED ||
	    p->state == XSP_DROPPED);
}

/*
 * Whether every receiver that still needs data holds block b, by what
 * their HELD chunks said.  One that has not said anything about b's chunk
 * (none held, not resumed, or its HELD is still on the way) holds
 * nothing: so a receiver that joins with less keeps the blocks coming,
 * and whatever a receiver lacks of a skipped block it NAKs once the block
 * has passed, as after a loss.  A receiver that is done holds every
 * block (a resumed one can be done before the first pass is); one that
 * failed or went silent does not count, and with none but those left, or
 * before anyone joined, the first pass goes out as without skipping.
 */
static int
xs_skippable(const struct xsend *s, uint64_t b)
{
	uint64_t	c = b / PROTO_HELD_BITS;
	int		i, live = 0, done = 0;

	for (i = 0; i < s->npeers; i++) {
		const struct xs_peer *p = &s->peers[i];

		if (p->state == XSP_DONE)
			done++;
		if (xs_peer_final(p))
			continue;
		if (p->held_got == NULL ||
		    !(p->held_got[c / 8] & (1U << (c % 8))))
			return (0);
		live++;
	}
	if (live == 0)
		return (done > 0);
	return ((s->held[b / 8] & (1U << (b % 8))) != 0);
}

/*
 * Move the first pass cursor over the blocks every receiver holds.
 * Without a digest from the caller such a block is still read, so that
 * the file is hashed in order as the first pass goes (a disk read and
 * SHA-256, no network); with it, a skipped block costs nothing.  At most
 * XS_SKIP_BUDGET blocks per call (one read block counts for all of it):
 * 1 means the budget is spent and the caller should let the loop run,
 * -1 a read error.
 */
static int
xs_skip(struct xsend *s, int *budget)
{
	uint64_t	b, n, off, end;

	while (s->next_sym < s->geom.nsym &&
	    s->next_sym % s->geom.bsym == 0) {
		b = s->next_sym / s->geom.bsym;
		if (!xs_skippable(s, b))
			return (0);
		if (*budget <= 0)
			return (1);
		if (s->sha != NULL) {
			if (*budget < XS_SKIP_BUDGET)
				return (1);
			if (xs_ring_block(s, b) == NULL) {
				log_warn("xsend: read %s", s->conf.path);
				return (-1);
			}
			*budget = 0;
		} else
			(*budget)--;
		n = proto_block_nsym(&s->geom, b);
		off = s->next_sym * s->geom.sym;
		end = (s->next_sym + n) * s->geom.sym;
		if (end > s->geom.size)
			end = s->geom.size;
		s->next_sym += n;
		s->n_skipped += end - off;
		s->n_skipblocks++;
	}
	return (0);
}

/*
 * Fill the transmit batch while tokens last.  Repairs go first but take at
 * most XS_REPAIR_SHARE per first-pass packet while the first pass runs.
 */
static void
xs_pump(struct xsend *s)
{
	uint64_t	now = mono_us();
	double		burst;
	int		rv, data, budget = XS_SKIP_BUDGET;

	s->tokens += s->rate * (double)(now - s->last_us) / 1e6;
	s->last_us = now;
	burst = xs_rate_burst(s, now);
	if (s->tokens > burst)
		s->tokens = burst;
	if (udp_tx_pending(s->tx) && udp_tx_flush(s->tx) != 0)
		return;
	while (s->tokens > 0) {
		data = s->state == XS_SENDING && s->next_sym < s->geom.nsym;
		if (data && (rv = xs_skip(s, &budget)) != 0) {
			if (rv == -1) {
				xsend_fsm(s, XE_STOP);
				return;
			}
			break;
		}
		data = s->state == XS_SENDING && s->next_sym < s->geom.nsym;
		if (xs_repair_pending(s) > 0 && (!data || s->credit >= 1.0)) {
			rv = xs_repair_emit(s);
			if (rv == 0 && data)
				s->credit -= 1.0;
		} else if (data) {
			rv = xs_ring_emit_data(s, s->next_sym);
			if (rv == 0) {
				s->next_sym++;
				if (s->next_sym % s->geom.bsym == 0 ||
				    s->next_sym == s->geom.nsym)
					xs_repair_proactive(s,
					    (s->next_sym - 1) / s->geom.bsym);
				s->n_data++;
				s->credit += XS_REPAIR_SHARE;
				if (s->credit > 64)
					s->credit = 64;
			}
		} else
			break;
		if (rv == 1) {
			s->n_pace_sock++;	/* the socket, not the rate */
			break;
		}
		if (rv == -1) {
			xsend_fsm(s, XE_STOP);
			return;
		}
	}
	if (s->tokens <= 0)
		s->n_pace_rate++;	/* the rate held us back */
	if (udp_tx_flush(s->tx) == -1 && errno != EAGAIN)
		log_warn("xsend: sendmmsg");
	if (s->state == XS_SENDING && s->next_sym == s->geom.nsym &&
	    !udp_tx_pending(s->tx))
		xsend_fsm(s, XE_PASS_DONE);
}

static void
xsend_pace_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct xsend	*s = arg;

	if (s->state == XS_SENDING || s->state == XS_DRAINING ||
	    s->state == XS_LINGER)
		xs_pump(s);
}

static void
xsend_send_announce(struct xsend *s)
{
	struct proto_announce	a;
	struct wire_w		w;
	uint8_t			body[128];

	memset(&a, 0, sizeof(a));
	a.size = s->geom.size;
	a.sym = (uint16_t)s->geom.sym;
	a.k = (uint16_t)s->geom.k;
	a.il = (uint16_t)s->geom.il;
	switch (s->state) {
	case XS_INIT:
	case XS_WAITING:
		a.state = PROTO_S_WAITING;
		break;
	case XS_SENDING:
		a.state = PROTO_S_SENDING;
		break;
	case XS_DRAINING:
	case XS_LINGER:
		a.state = PROTO_S_DRAINING;
		break;
	case XS_FINISHED:
		a.state = PROTO_S_FINISHED;
		break;
	}
	/* Only what has really left: the batch may still hold some. */
	a.progress = s->next_sym;
	if (udp_tx_pending(s->tx) && udp_tx_flush(s->tx) != 0 &&
	    a.progress > 0)
		a.progress -= a.progress % s->geom.bsym;
	a.rate = (uint64_t)s->rate;
	a.report_ms = XS_REPORT_MS;
	a.backoff_ms = XS_BACKOFF_MS;
	a.drop_ms = (uint32_t)s->conf.drop_ms;
	if (s->t_deadline == 0)
		a.deadline_ms = UINT32_MAX;	/* none set (yet) */
	else
		a.deadline_ms = mono_ms() >= s->t_deadline ? 0 :
		    (uint32_t)(s->t_deadline - mono_ms());
	if (s->nmem > 0)
		a.flags |= PROTO_AF_MEMBERS;
	/*
	 * FAST: REPORTs every 10 ms instead of 100 while the rate starts.
	 * Behind a silent bottleneck the first loss figure came 90-115 ms
	 * into the stream, when slow start had reached 2.6 times the port
	 * and three blocks were mostly lost; with FAST it comes in 20.  Not
	 * in large groups: a few hundred receivers' every 10 ms is more
	 * than the admission takes (xsend_admit.c).
	 */
	if (s->npeers <= XS_FAST_PEERS && (s->state == XS_WAITING ||
	    (s->state == XS_SENDING && s->t_send != 0 &&
	    mono_us() - s->t_send < XS_FAST_US)))
		a.flags |= PROTO_AF_FAST;
	if (s->digest_ok && (s->conf.has_digest ||
	    s->next_sym == s->geom.nsym)) {
		a.flags |= PROTO_AF_DIGEST;
		memcpy(a.digest, s->digest, SHA256_LEN);
	}
	wire_w_fixed(&w, body, sizeof(body));
	proto_put_announce(&w, &a);
	xs_sock_send_ctl(s, s->kd, PROTO_ANNOUNCE, &w, &s->conf.group);
	s->announce_ms = mono_ms();
}

/*
 * Every XS_ANNOUNCE_WAIT_MS while waiting for receivers (an ANNOUNCE a
 * receiver lost delays its start by one interval), XS_ANNOUNCE_MS after.
 */
static void
xsend_announce_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct xsend	*s = arg;

	if (s->state == XS_WAITING ||
	    mono_ms() - s->announce_ms >= XS_ANNOUNCE_MS - XS_ANNOUNCE_WAIT_MS / 2)
		xsend_send_announce(s);
}

static void
xs_send_ack(struct xsend *s, struct xs_peer *p, uint64_t challenge,
    uint8_t verdict, uint8_t reason)
{
	struct proto_ack	a;
	struct wire_w		w;
	uint8_t			body[32];

	a.rid = p->rid;
	a.incarnation = p->incarnation;
	a.challenge = challenge;
	a.verdict = verdict;
	a.reason = verdict == PROTO_ACK_REJECTED ? reason : PROTO_RJ_NONE;
	wire_w_fixed(&w, body, sizeof(body));
	proto_put_ack(&w, &a);
	xs_sock_send_ctl(s, p->ka, PROTO_ACK, &w, &p->addr);
}

static struct xs_peer *
xs_find(struct xsend *s, uint64_t rid)
{
	struct xs_member	*m;
	int			 i;

	if (s->nmem > 0) {
		m = xs_admit_member(s, rid);
		return (m != NULL && m->peer >= 0 ? &s->peers[m->peer] : NULL);
	}
	for (i = 0; i < s->npeers; i++)
		if (s->peers[i].rid == rid)
			return (&s->peers[i]);
	return (NULL);
}

static void
xs_gate(struct xsend *s)
{
	int	i, ready = 0;

	if (s->state != XS_WAITING)
		return;
	for (i = 0; i < s->npeers; i++)
		if (s->peers[i].state == XSP_READY ||
		    s->peers[i].state == XSP_RECEIVING)
			ready++;
	if (s->conf.min_receivers > 0 && ready >= s->conf.min_receivers) {
		log_debug("xsend %016" PRIx64 ": %d receiver(s) ready, starting",
		    s->session, ready);
		xsend_fsm(s, XE_GATE);
	} else if (s->conf.max_wait_ms >= 0 &&
	    mono_ms() - s->t_start / 1000 >= (uint64_t)s->conf.max_wait_ms) {
		log_debug("xsend %016" PRIx64 ": max wait over, starting with "
		    "%d receiver(s)", s->session, ready);
		xsend_fsm(s, XE_GATE);
	} else if (s->conf.min_receivers <= 0 && s->conf.max_wait_ms < 0)
		xsend_fsm(s, XE_GATE);
}

/*
 * A HELLO: a new receiver gets a slot (xsend_admit.c decides whether
 * there is one), a known one is answered again or has restarted.  ka is
 * the key of our ACKs to it.
 */
static void
xs_hello(struct xsend *s, const struct proto_hello *h,
    const struct udp_addr *from, struct aead *ka)
{
	struct xs_peer		*p, tmp;
	struct xsend_peer_info	 pi;
	uint8_t			 reason = PROTO_RJ_FINISHED;
	int			 i;

	p = xs_find(s, h->rid);
	if (p == NULL) {
		if (s->state == XS_FINISHED ||
		    (p = xs_admit_slot(s, h->rid, &reason)) == NULL) {
			/* A flood of them is not answered one by one. */
			if (!xs_admit_rate(s, NULL, 0, mono_us()))
				return;
			memset(&tmp, 0, sizeof(tmp));
			tmp.rid = h->rid;
			tmp.incarnation = h->incarnation;
			tmp.addr = *from;
			tmp.ka = ka;
			xs_send_ack(s, &tmp, h->challenge, PROTO_ACK_REJECTED,
			    reason);
			return;
		}
		p->state = XSP_JOINED;
		p->incarnation = h->incarnation;
		p->addr = *from;
		p->join_sym = s->next_sym;
		udp_ntop(from, p->name, sizeof(p->name));
		log_debug("xsend %016" PRIx64 ": receiver %s joined (id %016"
		    PRIx64 ")", s->session, p->name, p->rid);
		xs_peer_info(p, &pi);
		if (s->cb.joined != NULL)
			s->cb.joined(s->arg, &pi);
	} else if (p->incarnation == h->incarnation) {
		/*
		 * The live process again: it retries while its ACK is lost,
		 * so before its first REPORT, from the same address; it is
		 * answered and nothing changes.  Otherwise it is a replay
		 * (review finding 10): taking it would reset a receiver that
		 * may be done, send its ACKs elsewhere, or keep a receiver
		 * that went away from being dropped.
		 */
		if (!udp_same(&p->addr, from) || p->state != XSP_JOINED) {
			s->drops[PROTO_DROP_STALE]++;
			return;
		}
	} else {
		/*
		 * A restarted receiver: same id, new process.  A HELLO of
		 * one of its earlier processes is a replay: taking it would
		 * make the live process's REPORTs stale.
		 */
		for (i = 0; i < XS_OLD_INC; i++)
			if (p->old_inc[i] == h->incarnation) {
				s->drops[PROTO_DROP_STALE]++;
				return;
			}
		memmove(p->old_inc + 1, p->old_inc,
		    sizeof(p->old_inc[0]) * (XS_OLD_INC - 1));
		p->old_inc[0] = p->incarnation;
		log_debug("xsend %016" PRIx64 ": receiver %s rejoined as %s",
		    s->session, p->name, udp_ntop(from, p->name,
		    sizeof(p->name)));
		p->incarnation = h->incarnation;
		p->addr = *from;
		p->join_sym = s->next_sym;
		p->last_rseq = 0;
		/* Its counters start again (xs_report: never going back). */
		p->hw = 0;
		p->rx_ok = 0;
		p->j_set = 0;
		p->err[0] = '\0';
		/* The new process says again what it holds, if anything. */
		free(p->held_got);
		p->held_got = NULL;
		xs_peer_state(s, p, XSP_JOINED);
	}
	p->last_heard = mono_ms();
	xs_send_ack(s, p, h->challenge, PROTO_ACK_ACCEPTED, 0);
	if (s->state == XS_LINGER)
		xsend_fsm(s, XE_BUSY);
}

static void
xs_report(struct xsend *s, const struct proto_report *r)
{
	struct xs_peer	*p;
	uint16_t	 i;

	if ((p = xs_find(s, r->rid)) == NULL ||
	    p->incarnation != r->incarnation ||
	    (r->rseq <= p->last_rseq && p->last_rseq != 0)) {
		s->drops[PROTO_DROP_STALE]++;
		return;
	}
	/*
	 * What only a liar reports (issue #12 finding 2a: rx_hw_seq
	 * UINT64_MAX - 1 passed and made every block look missed): a
	 * packet we never sent, going back, more bytes than the file.
	 */
	if (r->rx_hw_seq > s->seq || r->rx_hw_seq < p->hw ||
	    r->have_bytes > s->geom.size) {
		s->drops[PROTO_DROP_RANGE]++;
		return;
	}
	p->last_rseq = r->rseq;
	p->last_heard = mono_ms();
	p->reported = 1;
	/* A straggler we refused hears it again until it stops. */
	if (p->refused) {
		xs_send_ack(s, p, 0, PROTO_ACK_REJECTED, p->reason);
		return;
	}
	p->bytes = r->have_bytes;
	p->repairs = r->repairs;
	xs_rate_report(s, p, r);
	switch (r->state) {
	case PROTO_R_READY:
	case PROTO_R_RECEIVING:
		if (p->state == XSP_JOINED || p->state == XSP_DROPPED)
			xs_peer_state(s, p, XSP_READY);
		if (r->state == PROTO_R_RECEIVING && p->state == XSP_READY &&
		    s->state != XS_WAITING)
			xs_peer_state(s, p, XSP_RECEIVING);
		break;
	case PROTO_R_DONE:
		if (p->state != XSP_DONE) {
			p->bytes = s->geom.size;
			log_debug("xsend %016" PRIx64 ": receiver %s confirmed "
			    "the whole file", s->session, p->name);
			xs_peer_state(s, p, XSP_DONE);
		}
		xs_send_ack(s, p, 0, PROTO_ACK_DONE, 0);
		return;
	case PROTO_R_FAILED:
		if (p->state != XSP_FAILED) {
			/* The receiver's words, for our log and the caller. */
			(void)vis_str(p->err, sizeof(p->err), r->err, 0);
			log_warnx("xsend %016" PRIx64 ": receiver %s failed: "
			    "%s", s->session, p->name, p->err);
			xs_peer_state(s, p, XSP_FAILED);
		}
		xs_send_ack(s, p, 0, PROTO_ACK_FAILED, 0);
		return;
	}
	if (s->state == XS_WAITING)
		xs_gate(s);
	if (s->state == XS_WAITING || s->state == XS_FINISHED)
		return;
	for (i = 0; i < r->nnak; i++)
		xs_repair_nak(s, p, &r->nak[i], r->rx_hw_seq);
	xs_repair_flush_ncf(s);
	if (s->state == XS_LINGER && xs_repair_pending(s) > 0)
		xsend_fsm(s, XE_BUSY);
}

/*
 * A chunk of a receiver's held-block bitmap.  Each chunk counts once per
 * receiver process: it narrows the blocks everybody holds (the AND of
 * what all receivers said, which never grows back, so that a receiver
 * that leaves cannot make the others skip what they lack).  A bit count
 * that is not the chunk's number of blocks, or a chunk past the last
 * block, is a malformed body.
 */
static void
xs_held(struct xsend *s, const struct proto_held *h)
{
	struct xs_peer	*p;
	uint64_t	 first = (uint64_t)h->chunk * PROTO_HELD_BITS;
	size_t		 i, nbytes = ((size_t)h->nbits + 7) / 8;

	if (h->chunk >= s->nchunks ||
	    h->nbits != proto_held_nbits(&s->geom, h->chunk)) {
		s->drops[PROTO_DROP_RANGE]++;
		return;
	}
	if ((p = xs_find(s, h->rid)) == NULL ||
	    p->incarnation != h->incarnation) {
		s->drops[PROTO_DROP_STALE]++;
		return;
	}
	p->last_heard = mono_ms();
	if (p->held_got == NULL)
		p->held_got = xcalloc((s->nchunks + 7) / 8, 1);
	if (p->held_got[h->chunk / 8] & (1U << (h->chunk % 8)))
		return;		/* said again: it only repeats itself */
	p->held_got[h->chunk / 8] |= 1U << (h->chunk % 8);
	/* Chunks start on a byte: PROTO_HELD_BITS is a multiple of 8. */
	for (i = 0; i < nbytes; i++)
		s->held[first / 8 + i] &= h->bits[i];
	log_debug("xsend %016" PRIx64 ": receiver %s holds blocks of chunk "
	    "%u", s->session, p->name, h->chunk);
}

/*
 * An answer of one of our receivers: HELLO, REPORT or HELD.  Its id
 * picks its key before anything is decrypted (member mode: an id we do
 * not expect is dropped here), and each receiver's answers are bounded
 * in rate.
 */
static void
xs_feedback(struct xsend *s, const struct proto_hdr *h,
    const struct udp_addr *from)
{
	struct proto_hello	hello;
	struct proto_report	rep;
	struct proto_held	held;
	struct aead		*kf, *ka;
	uint8_t			plain[PROTO_MAX_DGRAM];

	if ((kf = xs_admit_key(s, h->rid, &ka)) == NULL ||
	    !xs_admit_rate(s, xs_find(s, h->rid), h->rid, mono_us()))
		return;
	if (proto_open(kf, h, plain, sizeof(plain)) == -1) {
		s->drops[PROTO_DROP_AUTH]++;
		return;
	}
	if (h->type == PROTO_HELLO) {
		if (proto_get_hello(plain, h->ctlen, &hello) == -1) {
			s->drops[PROTO_DROP_RANGE]++;
			return;
		}
		hello.rid = h->rid;
		xs_hello(s, &hello, from, ka);
	} else if (h->type == PROTO_HELD) {
		if (proto_get_held(plain, h->ctlen, &held) == -1) {
			s->drops[PROTO_DROP_RANGE]++;
			return;
		}
		held.rid = h->rid;
		xs_held(s, &held);
	} else {
		if (proto_get_report(plain, h->ctlen, &rep) == -1) {
			s->drops[PROTO_DROP_RANGE]++;
			return;
		}
		rep.rid = h->rid;
		xs_report(s, &rep);
	}
}

static void
xs_check_quiet(struct xsend *s)
{
	struct xs_peer	*p;
	int		 i;

	if (s->state != XS_DRAINING || xs_repair_pending(s) > 0 ||
	    udp_tx_pending(s->tx))
		return;
	for (i = 0; i < s->npeers; i++) {
		p = &s->peers[i];
		if (p->state == XSP_JOINED && !p->reported &&
		    mono_ms() - p->last_heard >= XS_JOIN_MS)
			continue;
		if (!xs_peer_final(p))
			return;
	}
	xsend_fsm(s, XE_QUIET);
}

/*
 * Every XS_CTL_MS: rate adaptation from the receivers' reports, dropping
 * receivers that went silent, the gate, progress.
 */
static void
xsend_ctl_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct xsend		*s = arg;
	struct xsend_stats	 st;
	struct xs_peer		*p;
	uint64_t		 now = mono_ms(), lag;
	double			 slowest;
	int			 i;

	/*
	 * The straggler the rate control picks, if any, is refused first, so
	 * that this step's rate no longer counts it.
	 */
	if ((p = xs_rate_straggler(s, now)) != NULL) {
		xs_send_ack(s, p, 0, PROTO_ACK_REJECTED, p->reason);
		xs_peer_state(s, p, XSP_FAILED);
	}
	xs_rate_step(s, now, &lag, &slowest);
	if (xs_deadline(s, now))
		return;

	for (i = 0; i < s->npeers; i++) {
		p = &s->peers[i];
		if (xs_peer_final(p) ||
		    now - p->last_heard < (uint64_t)s->conf.drop_ms)
			continue;
		snprintf(p->err, sizeof(p->err), "no answer for %d ms",
		    s->conf.drop_ms);
		log_warnx("xsend %016" PRIx64 ": receiver %s dropped: %s",
		    s->session, p->name, p->err);
		xs_peer_state(s, p, XSP_DROPPED);
	}
	if (s->state == XS_WAITING)
		xs_gate(s);
	xs_check_quiet(s);
	/*
	 * The debug line and the callback share one clock: each used its own
	 * test of last_progress once, and the first to run reset it for the
	 * other, so the callback never ran (issue #17).
	 */
	if (now - s->last_progress < XS_PROGRESS_MS)
		return;
	s->last_progress = now;
	if (log_getverbose() > 1)
		log_debug("xsend %016" PRIx64 ": %s pass %" PRIu64 "/%"
		    PRIu64 " parity %" PRIu64 " (%" PRIu64 " proactive)"
		    " resent %" PRIu64 " queued %" PRIu64 "+%" PRIu64
		    " rate %.0f Mbit/s delivered %.0f Mbit/s loads %" PRIu64
		    "+%" PRIu64 " lag %.1f MB slowest %.0f MB/s", s->session,
		    xsend_strstate(s->state), s->next_sym,
		    s->geom.nsym, s->n_repair, s->n_proactive,
		    s->n_resend, s->pq.len, s->bq.len,
		    s->rate * 8 / 1e6, s->g_dlv * 8 / 1e6, s->n_loads,
		    s->n_gloads, (double)lag / 1e6, slowest / 1e6);
	if (log_getverbose() > 1)
		xs_log_rate(s);
	if (s->cb.progress != NULL) {
		xsend_stats(s, &st);
		s->cb.progress(s->arg, &st);
	}
}

/*
 * What the rate control did (debug): its cuts by cause, the steps that
 * found the uplink full and its capacity, where the loss penalty of a
 * transfer shows (issue #17).
 */
static void
xs_log_rate(struct xsend *s)
{
	log_debug("xsend %016" PRIx64 ": rate cuts loss %" PRIu64 " (%"
	    PRIu64 " judged a lossy link) drops %" PRIu64 " queue %" PRIu64
	    ", held at the uplink %" PRIu64 ", at the delivered bound %"
	    PRIu64 ", uplink full %" PRIu64 " steps, %.0f Mbit/s; pacing "
	    "ticks ended by the rate %" PRIu64 ", by the socket %" PRIu64
	    "; parity queued ahead %" PRIu64 ", parity sent %" PRIu64
	    " (ahead and for NAKs), resent %" PRIu64, s->session,
	    s->n_cut_loss, s->n_steady, s->n_cut_drop, s->n_cut_queue,
	    s->n_cut_local, s->n_cut_dlv, s->local.nfull,
	    xs_rate_local_bw(&s->local, mono_us()) * 8 / 1e6, s->n_pace_rate,
	    s->n_pace_sock, s->n_proactive, s->n_repair, s->n_resend);
}

static void
xsend_linger_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct xsend	*s = arg;

	xsend_fsm(s, XE_LINGER_OVER);
}

static void
xs_finish(struct xsend *s)
{
	int	i, n, ok;

	xsend_set_state(s, XS_FINISHED);
	s->t_end = mono_us();
	xs_log_rate(s);
	for (i = 0; i < 3; i++)
		xsend_send_announce(s);
	event_del(s->ev_pace);
	event_del(s->ev_ctl);
	event_del(s->ev_announce);
	event_del(s->ev_linger);
	xs_sock_detach(s->xsock, s);
	/* Every receiver that reported, at least one: not a mere HELLO. */
	for (i = 0, n = 0, ok = 1; i < s->npeers; i++) {
		if (!s->peers[i].reported)
			continue;
		n++;
		if (s->peers[i].state != XSP_DONE)
			ok = 0;
	}
	ok = ok && n > 0;
	if (s->cb.finished != NULL)
		s->cb.finished(s->arg, ok);
}

/*
 * The deadline, set when the first pass ends (doc/protocol.md, Budgets
 * and deadline): repairs have that long.  By default the pass's own
 * duration, at least XS_DEADLINE_MIN_MS, so that no receiver (and no
 * member whose NAKs never end) keeps the session going for ever.
 */
static void
xs_set_deadline(struct xsend *s)
{
	uint64_t	now = mono_ms(), pass;

	if (s->conf.deadline_ms < 0)
		return;
	s->t_pass = now;
	pass = s->t_send != 0 ? now - s->t_send / 1000 : 0;
	s->t_deadline = now + (s->conf.deadline_ms > 0 ?
	    (uint64_t)s->conf.deadline_ms : pass > XS_DEADLINE_MIN_MS ? pass :
	    XS_DEADLINE_MIN_MS);
}

/*
 * Past the deadline: every receiver not final fails with its figures
 * (ACK REJECTED DEADLINE; fleetcastd moves it to unicast) and the
 * session ends.  1 when it did.
 */
static int
xs_deadline(struct xsend *s, uint64_t now)
{
	struct xs_peer	*p;
	int		 i;

	if (s->t_deadline == 0 || now < s->t_deadline ||
	    (s->state != XS_DRAINING && s->state != XS_LINGER))
		return (0);
	for (i = 0; i < s->npeers; i++) {
		p = &s->peers[i];
		if (xs_peer_final(p) || (p->state == XSP_JOINED &&
		    !p->reported))
			continue;
		snprintf(p->err, sizeof(p->err), "%s: %" PRIu64 " of %" PRIu64
		    " bytes %.1f s after the first pass, when the session's "
		    "time was up", XSEND_DEADLINE, p->bytes, s->geom.size,
		    (double)(now - s->t_pass) / 1000.0);
		log_warnx("xsend %016" PRIx64 ": receiver %s failed: %s",
		    s->session, p->name, p->err);
		p->refused = 1;
		p->reason = PROTO_RJ_DEADLINE;
		xs_send_ack(s, p, 0, PROTO_ACK_REJECTED, PROTO_RJ_DEADLINE);
		xs_peer_state(s, p, XSP_FAILED);
	}
	xsend_fsm(s, XE_STOP);
	return (1);
}

/* The sender's state machine: every transition goes through here. */
static void
xsend_fsm(struct xsend *s, enum xsend_event ev)
{
	struct timeval	tv;

	if (ev == XE_STOP) {
		if (s->state != XS_FINISHED)
			xs_finish(s);
		return;
	}
	switch (s->state) {
	case XS_INIT:
		if (ev == XE_START) {
			xsend_set_state(s, XS_WAITING);
			xs_gate(s);
		}
		break;
	case XS_WAITING:
		if (ev == XE_GATE) {
			xsend_set_state(s, XS_SENDING);
			s->t_send = mono_us();
			s->last_us = s->t_send;
			xsend_send_announce(s);
		}
		break;
	case XS_SENDING:
		if (ev == XE_PASS_DONE) {
			xsend_set_state(s, XS_DRAINING);
			xs_set_deadline(s);
			log_debug("xsend %016" PRIx64 ": first pass done, %"
			    PRIu64 " block(s) held by every receiver skipped",
			    s->session, s->n_skipblocks);
			xsend_send_announce(s);
		}
		break;
	case XS_DRAINING:
		if (ev == XE_QUIET) {
			s->t_quiet = mono_us();
			xsend_set_state(s, XS_LINGER);
			tv.tv_sec = s->conf.linger_ms / 1000;
			tv.tv_usec = (s->conf.linger_ms % 1000) * 1000;
			evtimer_add(s->ev_linger, &tv);
		}
		break;
	case XS_LINGER:
		if (ev == XE_BUSY) {
			evtimer_del(s->ev_linger);
			xsend_set_state(s, XS_DRAINING);
		} else if (ev == XE_LINGER_OVER)
			xs_finish(s);
		break;
	case XS_FINISHED:
		break;
	}
}

struct xsend *
xsend_new(struct event_base *base, const struct xsend_conf *conf,
    const struct xsend_cb *cb, void *arg, char *err, size_t errlen)
{
	struct xsend	*s;
	struct stat	 st;
	uint8_t		 kd[AEAD_KEY_LEN], kf[AEAD_KEY_LEN];
	uint8_t		 ka[AEAD_KEY_LEN];
	uint32_t	 sym;
	int		 mtu;

	s = xcalloc(1, sizeof(*s));
	s->base = base;
	s->conf = *conf;
	if (cb != NULL)
		s->cb = *cb;
	s->arg = arg;
	s->fd = -1;
	if (s->conf.k == 0)
		s->conf.k = PROTO_DEF_K;
	if (s->conf.il == 0)
		s->conf.il = PROTO_DEF_I;
	if (s->conf.drop_ms <= 0)
		s->conf.drop_ms = 5000;
	if (s->conf.linger_ms <= 0)
		s->conf.linger_ms = 300;
	mtu = s->conf.mtu > 0 ? s->conf.mtu : 1500;

	if ((s->fd = open(conf->path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", conf->path, strerror(errno));
		goto fail;
	}
	if (fstat(s->fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", conf->path);
		goto fail;
	}
	sym = proto_sym_size(mtu, conf->group.ss.ss_family == AF_INET6);
	if (proto_geom_init(&s->geom, (uint64_t)st.st_size, sym, s->conf.k,
	    s->conf.il) == -1) {
		snprintf(err, errlen, "%s: size %lld: must be 1 byte to 256 "
		    "TiB", conf->path, (long long)st.st_size);
		goto fail;
	}
	(void)posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	do {
		if (crypto_random(&s->session, sizeof(s->session)) == -1)
			fatalx("xsend: no randomness");
	} while (s->session == 0);
	if (proto_derive_keys(conf->key, s->session, kd, kf, ka) == -1) {
		snprintf(err, errlen, "key derivation failed");
		goto fail;
	}
	s->kd = aead_new(kd);
	s->kf = aead_new(kf);
	s->ka = aead_new(ka);
	explicit_bzero(kd, sizeof(kd));
	explicit_bzero(kf, sizeof(kf));
	explicit_bzero(ka, sizeof(ka));
	explicit_bzero(s->conf.key, sizeof(s->conf.key));
	if (xs_admit_init(s, conf, err, errlen) == -1)
		goto fail;
	s->conf.members = NULL;		/* the caller's: not kept */

	if ((s->xsock = xs_sock_open(base, conf, xs_feedback, err,
	    errlen)) == NULL)
		goto fail;
	s->tx = xs_sock_tx(s->xsock, &conf->group);
	if (conf->has_digest) {
		memcpy(s->digest, conf->digest, SHA256_LEN);
		s->digest_ok = 1;
	} else
		s->sha = sha256_new();
	s->nchunks = proto_held_chunks(&s->geom);
	/* All set: what nobody said anything about is never skipped. */
	s->held = xmalloc(s->nchunks * (PROTO_HELD_BITS / 8));
	memset(s->held, 0xff, s->nchunks * (PROTO_HELD_BITS / 8));
	xs_ring_init(s);
	s->sendbuf = xmalloc(PROTO_MAX_DGRAM);
	xs_repair_init(s);
	xs_rate_init(s);
	xsend_set_rate_max(s, conf->rate_max);

	s->ev_pace = event_new(base, -1, EV_PERSIST, xsend_pace_cb, s);
	s->ev_ctl = event_new(base, -1, EV_PERSIST, xsend_ctl_cb, s);
	s->ev_announce = event_new(base, -1, EV_PERSIST, xsend_announce_cb,
	    s);
	s->ev_linger = evtimer_new(base, xsend_linger_cb, s);
	if (s->ev_pace == NULL || s->ev_ctl == NULL ||
	    s->ev_announce == NULL || s->ev_linger == NULL)
		fatalx("xsend: event_new failed");
	log_debug("xsend %016" PRIx64 ": %s, %" PRIu64 " bytes, %" PRIu64
	    " symbols of %u, %" PRIu64 " blocks, GSO %s", s->session,
	    conf->path, s->geom.size, s->geom.nsym, s->geom.sym,
	    s->geom.nblocks, udp_tx_gso(s->tx) ? "on" : "off");
	return (s);
fail:
	xsend_free(s);
	return (NULL);
}

int
xsend_start(struct xsend *s)
{
	struct timeval	tv;

	s->t_start = mono_us();
	xs_sock_attach(s->xsock, s);
	tv.tv_sec = 0;
	tv.tv_usec = XS_TICK_US;
	event_add(s->ev_pace, &tv);
	tv.tv_usec = XS_CTL_MS * 1000;
	event_add(s->ev_ctl, &tv);
	tv.tv_usec = XS_ANNOUNCE_WAIT_MS * 1000;
	event_add(s->ev_announce, &tv);
	xsend_send_announce(s);
	xsend_fsm(s, XE_START);
	return (0);
}

void
xsend_stop(struct xsend *s)
{
	xsend_fsm(s, XE_STOP);
}

void
xsend_free(struct xsend *s)
{
	int	i;

	if (s == NULL)
		return;
	if (s->ev_pace != NULL)
		event_free(s->ev_pace);
	if (s->ev_ctl != NULL)
		event_free(s->ev_ctl);
	if (s->ev_announce != NULL)
		event_free(s->ev_announce);
	if (s->ev_linger != NULL)
		event_free(s->ev_linger);
	if (s->fd != -1)
		close(s->fd);
	if (s->xsock != NULL)
		xs_sock_release(s->xsock, s);
	udp_tx_free(s->tx);
	if (s->sha != NULL)
		sha256_free(s->sha);
	aead_free(s->kd);
	aead_free(s->kf);
	aead_free(s->ka);
	xs_admit_free(s);
	xs_ring_free(s);
	free(s->sendbuf);
	xs_repair_free(s);
	for (i = 0; s->peers != NULL && i < s->npeers; i++)
		free(s->peers[i].held_got);
	free(s->peers);
	free(s->held);
	free(s);
}

void
xsend_stats(struct xsend *s, struct xsend_stats *st)
{
	uint64_t	end;
	int		i;

	memset(st, 0, sizeof(*st));
	st->size = s->geom.size;
	st->first_pass_bytes = (s->next_sym >= s->geom.nsym ? s->geom.size :
	    s->next_sym * s->geom.sym) - s->n_skipped;
	st->skipped_bytes = s->n_skipped;
	st->packets = s->n_packets;
	st->data_packets = s->n_data;
	st->repair_packets = s->n_repair;
	st->resend_packets = s->n_resend;
	st->wire_bytes = s->n_wire;
	st->syscalls = udp_tx_syscalls(s->tx);
	st->rate = s->rate;
	end = s->t_end != 0 ? s->t_end : mono_us();
	if (s->t_send != 0)
		st->elapsed = (double)((s->t_quiet > s->t_send ? s->t_quiet :
		    end) - s->t_send) / 1e6;
	st->total = (double)(end - s->t_start) / 1e6;
	st->waited = s->t_send != 0 ? (double)(s->t_send - s->t_start) / 1e6 :
	    st->total;
	st->receivers = s->npeers;
	for (i = 0; i < s->npeers; i++) {
		if (s->peers[i].state == XSP_DONE)
			st->done++;
		else if (s->peers[i].state == XSP_FAILED ||
		    s->peers[i].state == XSP_DROPPED)
			st->failed++;
	}
	st->gso = udp_tx_gso(s->tx);
	memcpy(st->drops, s->drops, sizeof(st->drops));
}

/*
 * The number of receivers to wait for at the start, changed while the
 * sender waits (a receiver the caller moved elsewhere): the start may
 * then come at once.
 */
void
xsend_expect(struct xsend *s, int n)
{
	s->conf.min_receivers = n;
	if (s->state == XS_WAITING)
		xs_gate(s);
}

/*
 * A new ceiling (bytes/s, 0: none), e.g. the sender's share of a server's
 * rate among its other streams: the rate drops to it at once and the rate
 * control stays under it from then on.
 */
void
xsend_set_rate_max(struct xsend *s, uint64_t max)
{
	s->conf.rate_max = max;
	if (max > 0 && s->rate > (double)max)
		s->rate = (double)max;
}

int
xsend_npeers(struct xsend *s)
{
	return (s->npeers);
}

void
xsend_peer(struct xsend *s, int i, struct xsend_peer_info *pi)
{
	xs_peer_info(&s->peers[i], pi);
}

uint64_t
xsend_session(struct xsend *s)
{
	return (s->session);
}

/* The port the sender sends from and receivers answer to. */
int
xsend_port(struct xsend *s)
{
	return (xs_sock_port(s->xsock));
}
