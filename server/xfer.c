/*
 * The transfers of the runs' packages: a wave to its multicast group, or
 * one machine by unicast to the address its control connection comes
 * from, package after package, each by a sender of its own (xsend.c).
 * Unicast streams are limited and wait in line for a free one, a unicast
 * receiver has a join time to answer, the members have a grace time after
 * the last package for their delivery reports, and the server's rate is
 * shared by every stream that sends.  Each transfer is a state machine
 * (xfer_fsm): every timer and every sender callback is an event, and every
 * change of state goes through xfer_set_state().  What a transfer decides
 * about its members (out of it, refused by the group's sender, waiting for
 * a stream) and the START messages it needs sent reach the caller (runs.c)
 * through struct xfer_cb, so that this file knows neither the scheduler's
 * decisions nor the control channel, and never calls back up.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "crypto.h"
#include "log.h"
#include "proto.h"
#include "server.h"
#include "udp.h"
#include "xmalloc.h"
#include "xsend.h"

#define XFER_JOIN_WAIT_MS	5000	/* receivers of a wave to join */
#define XFER_GRACE_MS		120000	/* after a transfer, for reports */
#define XFER_EJECT_MS		2000	/* a straggler drags the group */
#define XFER_UNICAST_JOIN_MS	20000	/* a unicast receiver to answer */
#define XFER_SHARE_MS		250	/* streams' shares of rate, again */
#define XFER_SHARE_MIN		(256 * 1024)	/* bytes/s, xsend's floor */

/* What happens to a transfer; see xfer_fsm() for who raises which. */
enum xfer_event {
	XFER_EV_START,		/* made: its first package is due */
	XFER_EV_SLOT,		/* a unicast stream was handed to it */
	XFER_EV_STEP,		/* the deferred start of its next package */
	XFER_EV_JOINED,		/* a receiver answered its sender */
	XFER_EV_READY,		/* the agent awaits the package from now */
	XFER_EV_SENT,		/* the sender is done with its package */
	XFER_EV_JOIN_TIMEOUT,	/* the unicast receiver did not answer */
	XFER_EV_GRACE_TIMEOUT,	/* the members' time to report is over */
	XFER_EV_STOP,		/* the caller drops the transfer */
};

struct xfer {
	struct xfer_ctx		*ctx;
	struct xfer_run		*run;
	enum xfer_state		 state;
	struct sched_target	**members;
	size_t			 n;
	enum sched_path		 path;
	char			 dest[64];	/* group or the agent */
	size_t			 pkg;		/* package being sent */
	size_t			 pkg0;		/* the first it sent */
	struct xsend		*xs;
	struct event		*step;		/* next package, deferred */
	struct event		*grace;		/* GRACE and FAILED */
	struct event		*join;		/* JOINING: answer by then */
	char			*failed;	/* FAILED: why it ended early */
	/* What the agent saw of a unicast join (xfer_hint): 0 not told, 1
	 * heard the announcements and its HELLOs went unanswered, 2 heard
	 * nothing. */
	int			 hint;
	TAILQ_ENTRY(xfer)	 entry;		/* its run's */
	TAILQ_ENTRY(xfer)	 all;		/* the context's, for the rate */
	TAILQ_ENTRY(xfer)	 qentry;	/* QUEUED: the context's queue */
};

struct xfer_ctx {
	struct event_base	*base;
	struct xfer_conf	 conf;
	struct xfer_cb		 cb;
	void			*arg;
	struct event		*share;		/* rate among the streams */
	int			 active;	/* unicast streams held */
	struct xfer_list	 all;
	struct xfer_list	 queue;		/* unicast transfers waiting */
	struct xfer_totals	 totals;	/* of the streams freed */
};

static void	xfer_fsm(struct xfer *, enum xfer_event);

static const char *xfer_state_names[] = {
	"new", "queued", "starting", "joining", "sending", "grace", "failed",
	"done",
};

static const char *xfer_event_names[] = {
	"start", "slot", "step", "joined", "ready", "sent", "join_timeout",
	"grace_timeout", "stop",
};

const char *
xfer_strstate(enum xfer_state st)
{
	if ((size_t)st >= sizeof(xfer_state_names) /
	    sizeof(xfer_state_names[0]))
		return ("?");
	return (xfer_state_names[st]);
}

static const char *
xfer_strevent(enum xfer_event ev)
{
	if ((size_t)ev >= sizeof(xfer_event_names) /
	    sizeof(xfer_event_names[0]))
		return ("?");
	return (xfer_event_names[ev]);
}

enum xfer_state
xfer_state(const struct xfer *x)
{
	return (x->state);
}

enum sched_path
xfer_path(const struct xfer *x)
{
	return (x->path);
}

static void
xfer_ms(struct timeval *tv, int ms)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/*
 * Unicast streams are limited (max_unicast_streams): each holds a sender
 * with its block ring for as long as its transfer runs, so that many
 * remote machines queue instead of exhausting the server's memory, and
 * each waiting machine's history says what it waits for (MISSION.md S7:
 * a limit must not fail silently).  A stream is held from a transfer's
 * first package to its last, which is exactly in these states; a freed
 * stream goes to the longest waiting.
 */
static int
xfer_holds_stream(const struct xfer *x)
{
	return (x->path == SCHED_PATH_UNICAST &&
	    (x->state == XFER_S_STARTING || x->state == XFER_S_JOINING ||
	    x->state == XFER_S_SENDING));
}

/*
 * The one place where a transfer changes state: its place in the queue
 * and the count of unicast streams follow from the old and new states.
 */
static void
xfer_set_state(struct xfer *x, enum xfer_state new)
{
	struct xfer_ctx	*ctx = x->ctx;
	struct xfer	*q;
	int		 held = xfer_holds_stream(x);

	log_debug("run %s: transfer to %s: %s -> %s", x->run->idstr,
	    x->dest[0] != '\0' ? x->dest : "(offline)",
	    xfer_strstate(x->state), xfer_strstate(new));
	if (x->state == XFER_S_QUEUED)
		TAILQ_REMOVE(&ctx->queue, x, qentry);
	x->state = new;
	if (new == XFER_S_QUEUED)
		TAILQ_INSERT_TAIL(&ctx->queue, x, qentry);
	if (!held && xfer_holds_stream(x))
		ctx->active++;
	else if (held && !xfer_holds_stream(x)) {
		ctx->active--;
		if ((q = TAILQ_FIRST(&ctx->queue)) != NULL)
			xfer_fsm(q, XFER_EV_SLOT);
	}
}

/* A transfer's events are made when first needed: some never are. */
static void
xfer_event_free(struct event *ev)
{
	if (ev != NULL)
		event_free(ev);
}

_Static_assert(PROTO_DROP_MAX <= XFER_NDROPS, "XFER_NDROPS too small");

/* A stream's counts into t (GET /metrics), by its transfer's path. */
static void
xfer_count(struct xfer *x, struct xfer_totals *t)
{
	struct xsend_stats	st;
	size_t			i;

	xsend_stats(x->xs, &st);
	if (x->path == SCHED_PATH_UNICAST)
		t->bytes_unicast += st.wire_bytes;
	else
		t->bytes_multicast += st.wire_bytes;
	t->repair_packets += st.repair_packets;
	t->resend_packets += st.resend_packets;
	for (i = 0; i < PROTO_DROP_MAX && i < XFER_NDROPS; i++)
		t->drops[i] += st.drops[i];
	if (st.done + st.failed < st.receivers)
		t->rate += st.rate;
}

/* What the streams did: those freed, and those sending now. */
void
xfer_totals(struct xfer_ctx *ctx, struct xfer_totals *t)
{
	struct xfer	*x;

	*t = ctx->totals;
	t->rate = 0;
	TAILQ_FOREACH(x, &ctx->all, all)
		if (x->xs != NULL)
			xfer_count(x, t);
	TAILQ_FOREACH(x, &ctx->queue, qentry)
		t->streams_queued++;
	t->streams_active = ctx->active;
}

/* DONE: the transfer is forgotten; no callback. */
static void
xfer_destroy(struct xfer *x)
{
	xfer_set_state(x, XFER_S_DONE);
	xfer_event_free(x->grace);
	xfer_event_free(x->step);
	xfer_event_free(x->join);
	/* Its end reaches xfer_fsm, in DONE, while x is still whole. */
	if (x->xs != NULL) {
		xsend_stop(x->xs);
		xfer_count(x, &x->ctx->totals);
		xsend_free(x->xs);
	}
	TAILQ_REMOVE(&x->run->xfers, x, entry);
	TAILQ_REMOVE(&x->ctx->all, x, all);
	free(x->failed);
	free(x->members);
	free(x);
}

void
xfer_free(struct xfer *x)
{
	xfer_fsm(x, XFER_EV_STOP);
}

/* A member leaves a transfer, which goes on without it. */
void
xfer_drop(struct xfer *x, struct sched_target *t)
{
	size_t	i;

	for (i = 0; i < x->n; i++)
		if (x->members[i] == t)
			break;
	if (i == x->n)
		return;
	x->members[i] = x->members[--x->n];
	if (x->n == 0)
		xfer_free(x);
	else if (x->xs != NULL)
		xsend_expect(x->xs, (int)x->n);
}

/* The transfer that carries t, or NULL. */
struct xfer *
xfer_find(struct xfer_run *r, struct sched_target *t)
{
	struct xfer	*x;
	size_t		 i;

	TAILQ_FOREACH(x, &r->xfers, entry)
		for (i = 0; i < x->n; i++)
			if (x->members[i] == t)
				return (x);
	return (NULL);
}

/*
 * Members still in the transfer are out (failed, or interrupted, with the
 * reason); the caller records it and tells their agents to stop, so that
 * none waits for a stream that will not come.  Then the transfer is over,
 * and the caller hears that it ended by itself.
 */
static void
xfer_end(struct xfer *x, int failed, const char *msg)
{
	struct xfer_ctx	*ctx = x->ctx;
	struct xfer_run	*r = x->run;
	size_t		 i;

	for (i = 0; i < x->n; i++)
		ctx->cb.out(ctx->arg, r, x->members[i], failed, msg);
	xfer_destroy(x);
	ctx->cb.ended(ctx->arg, r);
}

static void
xfer_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	xfer_fsm(arg, XFER_EV_GRACE_TIMEOUT);
}

static void
xfer_join_cb(evutil_socket_t fd, short what, void *arg)
{
	xfer_fsm(arg, XFER_EV_JOIN_TIMEOUT);
}

static void
xfer_step_cb(evutil_socket_t fd, short what, void *arg)
{
	xfer_fsm(arg, XFER_EV_STEP);
}

/*
 * The agent verified and extracted a package and now starts its receiver
 * for the next, which its unicast stream already waits for: the join time
 * counts from here, not from the stream's start, so that a large package's
 * verification is not taken for a silent receiver.
 */
void
xfer_ready(struct xfer_run *r, struct sched_target *t, size_t pkg)
{
	struct xfer	*x;

	TAILQ_FOREACH(x, &r->xfers, entry)
		if (x->path == SCHED_PATH_UNICAST && x->members[0] == t &&
		    x->pkg == pkg && x->state == XFER_S_JOINING)
			xfer_fsm(x, XFER_EV_READY);
}

/*
 * The agent of a member says it is ready for package pkg while the
 * transfer is under way: it came back on a new connection and the START
 * may have gone with the old one.  While the package's stream runs, the
 * START again, with its session (an agent that has the START ignores
 * another; a late joiner is served from where it joins).  Returns 1 when
 * it was sent, 0 when the START is still to come (the package's stream is
 * not up yet), -1 when the package's stream is over or the machine is in
 * no transfer: it missed the package, and the caller moves it to unicast.
 */
int
xfer_again(struct xfer_run *r, struct sched_target *t, size_t pkg)
{
	struct xfer	*x;

	if ((x = xfer_find(r, t)) == NULL)
		return (-1);
	switch (x->state) {
	case XFER_S_NEW:
	case XFER_S_QUEUED:
	case XFER_S_STARTING:
		/* x->pkg is the one before the next START's. */
		return (pkg >= x->pkg + 1 ? 0 : -1);
	case XFER_S_JOINING:
	case XFER_S_SENDING:
		if (pkg > x->pkg)
			return (0);
		if (pkg < x->pkg || x->xs == NULL)
			return (-1);
		log_info("run %s machine %s: ready for package %zu, which is "
		    "being sent: START again", r->idstr, t->machine->name,
		    pkg);
		x->ctx->cb.start(x->ctx->arg, r, t, pkg, xsend_session(x->xs));
		return (1);
	case XFER_S_FAILED:
		return (0);	/* its members fail in a moment */
	default:
		return (-1);
	}
}

/*
 * The agent of a unicast transfer that has not joined says what it saw
 * ("join: heard N announcements, sent M HELLOs, no answer" or "join:
 * heard nothing from the sender"): kept for the join timeout's reason,
 * which can then name the blocked port and the host it is on.
 */
void
xfer_hint(struct xfer_run *r, struct sched_target *t, const char *msg)
{
	struct xfer	*x;

	TAILQ_FOREACH(x, &r->xfers, entry)
		if (x->path == SCHED_PATH_UNICAST && x->members[0] == t &&
		    x->state == XFER_S_JOINING) {
			x->hint = strstr(msg, "HELLOs") != NULL ? 1 :
			    strstr(msg, "heard nothing") != NULL ? 2 : 0;
			log_info("run %s machine %s: %s", r->idstr,
			    t->machine->name, msg);
		}
}

static void
xs_joined(void *arg, const struct xsend_peer_info *p)
{
	xfer_fsm(arg, XFER_EV_JOINED);
}

static void
xs_peer_dropped(void *arg, const struct xsend_peer_info *p)
{
	struct xfer	*x = arg;

	log_info("run %s: receiver %s dropped from %s: %s", x->run->idstr,
	    p->addr, x->dest, p->error != NULL ? p->error : "no reason");
}

/*
 * The group's sender refused a straggler (it fell behind, lost too much,
 * spent its repair budget) or failed it at the deadline: its agent will
 * ask for unicast, and the server's reason, which
 * says how far behind it was, becomes its path_reason.
 */
static void
xs_peer_done(void *arg, const struct xsend_peer_info *p)
{
	struct xfer		*x = arg;
	struct xfer_ctx		*ctx = x->ctx;
	struct xfer_run		*r = x->run;
	struct sched_target	*found = NULL;
	uint64_t		 id;
	uint8_t			 key[CTL_KEY_LEN];
	size_t			 i;

	if (p->state != XSP_FAILED || p->error == NULL ||
	    x->path != SCHED_PATH_MULTICAST ||
	    (strncmp(p->error, XSEND_STRAGGLER, strlen(XSEND_STRAGGLER)) != 0 &&
	    strncmp(p->error, XSEND_DEADLINE, strlen(XSEND_DEADLINE)) != 0))
		return;
	/*
	 * The receiver id is the member id the server gave the machine
	 * (xfer_member): the sender takes no other, so it names exactly one
	 * machine, NAT or not.
	 */
	for (i = 0; i < x->n && found == NULL; i++) {
		xfer_member(r, x->members[i]->machine->name, &id, key);
		if (id == p->rid)
			found = x->members[i];
	}
	explicit_bzero(key, sizeof(key));
	if (found == NULL)
		return;
	ctx->cb.refused(ctx->arg, r, found, p->error);
	log_info("run %s machine %s: the multicast sender refused it: %s",
	    r->idstr, found->machine->name, p->error);
}

static void
xs_finished(void *arg, int ok)
{
	struct xfer		*x = arg;
	struct xsend_stats	 st;

	xsend_stats(x->xs, &st);
	log_info("run %s: package %s to %s %s: %" PRIu64 " bytes to %d "
	    "receiver%s in %.3f s (%.1f MiB/s), %.1f%% sent again",
	    x->run->idstr, x->run->pkgs[x->pkg].id, x->dest, ok ? "sent" :
	    "ended with failures (the agents report theirs)", st.size,
	    st.receivers, st.receivers == 1 ? "" : "s", st.elapsed,
	    st.elapsed > 0 ? (double)st.size / st.elapsed / 1048576 : 0.0,
	    st.data_packets > 0 ? 100.0 * (double)(st.repair_packets +
	    st.resend_packets) / (double)st.data_packets : 0.0);
	if (ok)
		x->ctx->totals.finished++;
	else
		x->ctx->totals.failed++;
	xfer_fsm(x, XFER_EV_SENT);
}

/* ---- the server's rate, shared by its streams ---- */

struct share {
	double		 rate;		/* now, then the ceiling */
	struct xsend	*xs;
};

static int
share_cmp(const void *a, const void *b)
{
	const struct share	*x = a, *y = b;

	return (x->rate < y->rate ? -1 : x->rate > y->rate);
}

/*
 * `rate` caps the server, not each stream: the multicast waves and unicast
 * transfers it sends at once share it, so that a remote segment's unicast
 * streams cannot take the uplink from the group.  Every XFER_SHARE_MS the
 * ceiling is split by water-filling: a stream that its own rate control
 * keeps under an even share (a slow link to another segment, a slow
 * receiver) is given what it sends plus a quarter to grow into, and what
 * it leaves is split evenly among the others.  `extra` counts a stream
 * about to start; the return is the ceiling an even share gives it.
 */
static uint64_t
xfer_share(struct xfer_ctx *ctx, int extra)
{
	struct xfer		*x;
	struct xsend_stats	 st;
	struct share		*v;
	double			 left, share, even;
	size_t			 n = 0, nact = 0, nwait = 0, i;

	if (ctx->conf.rate == 0)
		return (0);
	TAILQ_FOREACH(x, &ctx->all, all)
		if (x->xs != NULL)
			n++;
	/*
	 * Streams that send are water-filled, from the front of v; one still
	 * waiting for its receivers (from the back of v) gets an even share
	 * as its ceiling, kept for it, so that it starts at that and not at
	 * the whole rate (streams of a wave start together); one lingering
	 * after its receivers for late repairs sends next to nothing and
	 * keeps its ceiling.
	 */
	v = xcalloc(n + 1, sizeof(*v));
	TAILQ_FOREACH(x, &ctx->all, all) {
		if (x->xs == NULL)
			continue;
		xsend_stats(x->xs, &st);
		if (st.elapsed <= 0)
			v[n - ++nwait].xs = x->xs;
		else if (st.done + st.failed < st.receivers) {
			v[nact].rate = st.rate;
			v[nact++].xs = x->xs;
		}
	}
	i = nact + nwait + (extra ? 1 : 0);
	even = (double)ctx->conf.rate / (double)(i > 0 ? i : 1);
	if (even < XFER_SHARE_MIN)
		even = XFER_SHARE_MIN;
	for (i = 0; i < nwait; i++)
		xsend_set_rate_max(v[n - 1 - i].xs, (uint64_t)even);
	qsort(v, nact, sizeof(*v), share_cmp);
	left = (double)ctx->conf.rate - even * (double)(nwait +
	    (extra ? 1 : 0));
	if (left < 0)
		left = 0;
	for (i = 0; i < nact; i++) {
		share = left / (double)(nact - i);
		if (v[i].rate * 1.25 < share)
			share = v[i].rate * 1.25;
		if (share < XFER_SHARE_MIN)
			share = XFER_SHARE_MIN;
		xsend_set_rate_max(v[i].xs, (uint64_t)share);
		left = left > share ? left - share : 0;
	}
	free(v);
	return ((uint64_t)even);
}

static void
xfer_share_cb(evutil_socket_t fd, short what, void *arg)
{
	xfer_share(arg, 0);
}

static const struct xsend_cb xs_cb = {
	xs_joined, NULL, NULL, xs_peer_done, xs_peer_dropped, xs_finished,
};

/*
 * Start the next package of a transfer, or end it: from NEW (its first
 * package) or STARTING (the next, or the same again once a stream was
 * free), to JOINING or SENDING, QUEUED, GRACE or FAILED.
 */
static void
xfer_next(struct xfer *x)
{
	struct xfer_ctx		*ctx = x->ctx;
	struct xfer_run		*r = x->run;
	struct xsend_conf	 xc;
	struct xsend_member	*mem = NULL;
	char			 dest[96], path[4096], err[512], why[128];
	size_t			 i;
	struct timeval		 tv;

	memset(&xc, 0, sizeof(xc));
	if (x->step == NULL)
		x->step = event_new(ctx->base, -1, 0, xfer_step_cb, x);
	if (x->xs != NULL) {
		xsend_stop(x->xs);
		xfer_count(x, &ctx->totals);
		xsend_free(x->xs);
		x->xs = NULL;
	}
	x->pkg++;
	if (x->pkg >= r->npkgs) {
		x->grace = evtimer_new(ctx->base, xfer_grace_cb, x);
		xfer_ms(&tv, ctx->conf.grace_ms);
		evtimer_add(x->grace, &tv);
		xfer_set_state(x, XFER_S_GRACE);
		return;
	}
	if (x->dest[0] == '\0') {
		snprintf(err, sizeof(err), "the agent was offline when its "
		    "unicast transfer was to start");
		goto fail;
	}
	if (x->path == SCHED_PATH_UNICAST && !xfer_holds_stream(x) &&
	    ctx->active >= ctx->conf.max_streams) {
		x->pkg--;	/* this package again when a stream frees */
		xfer_set_state(x, XFER_S_QUEUED);
		snprintf(why, sizeof(why), "unicast: waiting for a free unicast "
		    "stream (max_unicast_streams = %d, all in use)",
		    ctx->conf.max_streams);
		ctx->cb.note(ctx->arg, r, x->members[0], why);
		log_info("run %s machine %s: %s", r->idstr,
		    x->members[0]->machine->name, why);
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", ctx->conf.state_dir,
	    r->pkgs[x->pkg].file);
	xc.path = path;
	snprintf(dest, sizeof(dest), strchr(x->dest, ':') != NULL ?
	    "[%s]:%u" : "%s:%u", x->dest, r->port);
	if (udp_parse(dest, &xc.group, 0, err, sizeof(err)) == -1)
		goto fail;
	xc.ifindex = ctx->conf.ifindex;
	xc.rate_max = xfer_share(ctx, 1);
	/*
	 * The package's SHA-256, checked when it was added (the file is the
	 * server's own copy): announced from the start, it spares the sender
	 * a hash of the whole file, and held blocks are skipped unread.
	 */
	xc.has_digest = 1;
	memcpy(xc.digest, r->pkgs[x->pkg].sha256, sizeof(xc.digest));
	xc.min_receivers = (int)x->n;
	if (x->path == SCHED_PATH_MULTICAST) {
		/* Whoever is there after the join time; the rest fall back. */
		xc.max_wait_ms = XFER_JOIN_WAIT_MS;
		xc.eject_ms = XFER_EJECT_MS;
	} else {
		/*
		 * The one receiver, or nothing is sent: see JOIN_TIMEOUT in
		 * xfer_fsm.  For a later package the agent first verifies
		 * the one before, however long that takes: the join time
		 * counts from its DELIVERED (xfer_ready), the grace time
		 * until then.
		 */
		xc.max_wait_ms = -1;
		/*
		 * One machine's own stream, the last resort: no deadline or
		 * repair budget to protect others (a restarted agent may
		 * need much of it again); the join and grace timers bound it.
		 */
		xc.deadline_ms = -1;
		if (x->join == NULL)
			x->join = evtimer_new(ctx->base, xfer_join_cb, x);
		xfer_ms(&tv, x->pkg == x->pkg0 ? ctx->conf.join_ms :
		    ctx->conf.grace_ms);
		evtimer_add(x->join, &tv);
	}
	/*
	 * Only the members, each with its own key (issue #12 finding 2): no
	 * member can speak for another, no stranger takes a slot.  A unicast
	 * stream is keyed by its one member's key alone, data too, so that
	 * no other member of the run can read or forge it.
	 */
	mem = xcalloc(x->n, sizeof(*mem));
	for (i = 0; i < x->n; i++)
		xfer_member(r, x->members[i]->machine->name, &mem[i].rid,
		    mem[i].key);
	xc.members = mem;
	xc.nmembers = (int)x->n;
	memcpy(xc.key, x->path == SCHED_PATH_UNICAST ? mem[0].key : r->key,
	    sizeof(xc.key));
	x->xs = xsend_new(ctx->base, &xc, &xs_cb, x, err, sizeof(err));
	explicit_bzero(xc.key, sizeof(xc.key));
	explicit_bzero(mem, x->n * sizeof(*mem));
	free(mem);
	mem = NULL;
	if (x->xs == NULL)
		goto fail;
	/*
	 * Tell the members first, so their receivers are up in time, with
	 * the session the sender picked: they derive keys for it only.
	 */
	for (i = 0; i < x->n; i++)
		ctx->cb.start(ctx->arg, r, x->members[i], x->pkg,
		    xsend_session(x->xs));
	if (xsend_start(x->xs) == -1)
		goto fail;
	ctx->totals.started++;
	log_info("run %s: sending package %s to %s (%zu machine%s)", r->idstr,
	    r->pkgs[x->pkg].id, dest, x->n, x->n == 1 ? "" : "s");
	xfer_set_state(x, x->path == SCHED_PATH_UNICAST ? XFER_S_JOINING :
	    XFER_S_SENDING);
	return;
fail:
	explicit_bzero(xc.key, sizeof(xc.key));
	ctx->totals.failed++;
	log_warnx("run %s: transfer of %s to %s: %s", r->idstr,
	    r->pkgs[x->pkg].id, x->dest[0] != '\0' ? x->dest : "(offline)",
	    err);
	/*
	 * The members fail from the grace timer, at once but outside this
	 * call chain, which may be the scheduler's (a wave starting).
	 */
	free(x->failed);
	xasprintf(&x->failed, "transfer of %s: %s", r->pkgs[x->pkg].id, err);
	if (x->join != NULL)
		evtimer_del(x->join);
	x->grace = evtimer_new(ctx->base, xfer_grace_cb, x);
	xfer_ms(&tv, 0);
	evtimer_add(x->grace, &tv);
	xfer_set_state(x, XFER_S_FAILED);
}

/*
 * A unicast receiver that never answers (a firewall dropping the data
 * port, an agent that lost the run): the sender waits for no one else, so
 * rather than stream the package into the void, the machine fails with the
 * reason and its agent is told to stop.
 */
static void
xfer_join_timeout(struct xfer *x)
{
	char	why[384];

	if (x->hint == 1)
		snprintf(why, sizeof(why), "unicast: the agent at %s hears "
		    "this server's announcements, but none of its answers "
		    "reached the server within %d s: UDP port %u on this "
		    "server (data_port + 1), or the way back from the agent, "
		    "is blocked", x->dest, x->ctx->conf.join_ms / 1000,
		    x->run->port + 1u);
	else if (x->hint == 2)
		snprintf(why, sizeof(why), "unicast: the agent at %s heard "
		    "nothing from this server on its UDP port %u within %d s: "
		    "a firewall on the agent's machine, or on the way to it, "
		    "blocks that port", x->dest, x->run->port,
		    x->ctx->conf.join_ms / 1000);
	else
		snprintf(why, sizeof(why), "unicast: no answer from the "
		    "agent's receiver at %s, UDP port %u, within %d s (a "
		    "firewall on the way or on the machine?)", x->dest,
		    x->run->port, x->ctx->conf.join_ms / 1000);
	log_warnx("run %s machine %s: %s", x->run->idstr,
	    x->members[0]->machine->name, why);
	xfer_end(x, 1, why);
}

/*
 * The transfer state machine: switch on the state, then on the event.
 * START comes from xfer_multicast/xfer_unicast, SLOT from a transfer that
 * frees its stream, STEP from the deferred step event (never from inside
 * a sender's callback, nor from the caller's call chain), JOINED and SENT
 * from the sender, READY from xfer_ready, the timeouts from the timers
 * and STOP from xfer_free.  An event that means nothing in a state is
 * logged and dropped.
 */
static void
xfer_fsm(struct xfer *x, enum xfer_event ev)
{
	struct timeval	tv;

	/* The caller may drop a transfer in any state. */
	if (ev == XFER_EV_STOP && x->state != XFER_S_DONE) {
		xfer_destroy(x);
		return;
	}
	switch (x->state) {
	case XFER_S_NEW:
		if (ev != XFER_EV_START)
			goto bad;
		xfer_next(x);
		break;
	case XFER_S_QUEUED:
		if (ev != XFER_EV_SLOT)
			goto bad;
		/* Perhaps from inside a sender's callback: deferred. */
		xfer_set_state(x, XFER_S_STARTING);
		event_active(x->step, 0, 0);
		break;
	case XFER_S_STARTING:
		if (ev != XFER_EV_STEP)
			goto bad;
		xfer_next(x);
		break;
	case XFER_S_JOINING:
		switch (ev) {
		case XFER_EV_JOINED:
			evtimer_del(x->join);
			xfer_set_state(x, XFER_S_SENDING);
			break;
		case XFER_EV_READY:
			xfer_ms(&tv, x->ctx->conf.join_ms);
			evtimer_add(x->join, &tv);
			break;
		case XFER_EV_SENT:
			evtimer_del(x->join);
			xfer_set_state(x, XFER_S_STARTING);
			/* Freeing the sender from its own callback is not safe. */
			event_active(x->step, 0, 0);
			break;
		case XFER_EV_JOIN_TIMEOUT:
			xfer_join_timeout(x);
			break;
		default:
			goto bad;
		}
		break;
	case XFER_S_SENDING:
		switch (ev) {
		case XFER_EV_JOINED:
			break;		/* the group's other receivers */
		case XFER_EV_SENT:
			xfer_set_state(x, XFER_S_STARTING);
			/* Freeing the sender from its own callback is not safe. */
			event_active(x->step, 0, 0);
			break;
		default:
			goto bad;
		}
		break;
	case XFER_S_GRACE:
		if (ev != XFER_EV_GRACE_TIMEOUT)
			goto bad;
		/* After the last package: members that never reported. */
		xfer_end(x, 0, "no delivery report from the agent after the "
		    "transfer ended");
		break;
	case XFER_S_FAILED:
		if (ev != XFER_EV_GRACE_TIMEOUT)
			goto bad;
		xfer_end(x, 1, x->failed);
		break;
	case XFER_S_DONE:
		break;		/* its sender stopping, as it is freed */
	}
	return;
bad:
	log_debug("run %s: transfer to %s: event %s ignored in state %s",
	    x->run->idstr, x->dest[0] != '\0' ? x->dest : "(offline)",
	    xfer_strevent(ev), xfer_strstate(x->state));
}

static struct xfer *
xfer_new(struct xfer_ctx *ctx, struct xfer_run *r, enum sched_path path,
    struct sched_target **members, size_t n, const char *dest)
{
	struct xfer	*x;

	x = xcalloc(1, sizeof(*x));
	x->ctx = ctx;
	x->run = r;
	TAILQ_INSERT_TAIL(&r->xfers, x, entry);
	TAILQ_INSERT_TAIL(&ctx->all, x, all);
	x->state = XFER_S_NEW;
	x->path = path;
	x->members = xcalloc(n, sizeof(*x->members));
	memcpy(x->members, members, n * sizeof(*x->members));
	x->n = n;
	snprintf(x->dest, sizeof(x->dest), "%s", dest);
	return (x);
}

/*
 * A wave's transfer to its group.  It may start (and its members hear
 * START) from inside the caller's call chain; its failures come later.
 */
struct xfer *
xfer_multicast(struct xfer_ctx *ctx, struct xfer_run *r,
    struct sched_target **members, size_t n, const char *group)
{
	struct xfer	*x;

	x = xfer_new(ctx, r, SCHED_PATH_MULTICAST, members, n, group);
	x->pkg = (size_t)-1;
	xfer_fsm(x, XFER_EV_START);
	return (x);
}

/*
 * A transfer of its own for one machine, to the address its control
 * connection comes from ("": it is offline, and fails), from package pkg
 * on.
 */
struct xfer *
xfer_unicast(struct xfer_ctx *ctx, struct xfer_run *r, struct sched_target *t,
    const char *addr, size_t pkg)
{
	struct xfer	*x;

	x = xfer_new(ctx, r, SCHED_PATH_UNICAST, &t, 1, addr);
	x->pkg0 = pkg;
	x->pkg = pkg - 1;	/* xfer_next moves to pkg */
	xfer_fsm(x, XFER_EV_START);
	return (x);
}

void
xfer_run_init(struct xfer_run *r, uint64_t id, const char *idstr,
    const struct db_package *pkgs, size_t npkgs, const uint8_t *key,
    const uint8_t *fkey, uint16_t port)
{
	r->id = id;
	r->idstr = idstr;
	r->pkgs = pkgs;
	r->npkgs = npkgs;
	r->key = key;
	r->fkey = fkey;
	r->port = port;
	TAILQ_INIT(&r->xfers);
}

/*
 * Machine name's member id and key M_m in run r (doc/protocol.md, Keys):
 * the id is the first 8 bytes of SHA-256("fleetcast-member" || name)
 * (never 0), the same on every server start and for every run, since the
 * inventory has no stable number for a machine (it is keyed by name);
 * the key binds the run's F_run to the run and to that id.
 */
void
xfer_member(const struct xfer_run *r, const char *name, uint64_t *id,
    uint8_t *key)
{
	struct sha256	*h = sha256_new();
	uint8_t		 md[SHA256_LEN];

	sha256_update(h, "fleetcast-member", 16);
	sha256_update(h, name, strlen(name));
	sha256_final(h, md);
	sha256_free(h);
	*id = wire_load64(md);
	if (*id == 0)
		*id = 1;
	if (proto_member_key(r->fkey, r->id, *id, key) == -1)
		fatalx("run %s: member key derivation failed", r->idstr);
}

/* Stop and forget every transfer of a run, without callbacks. */
void
xfer_run_clear(struct xfer_run *r)
{
	struct xfer	*x;

	while ((x = TAILQ_FIRST(&r->xfers)) != NULL)
		xfer_free(x);
}

struct xfer_ctx *
xfer_ctx_new(struct event_base *base, const struct xfer_conf *conf,
    const struct xfer_cb *cb, void *arg)
{
	struct xfer_ctx	*ctx;
	struct timeval	 tv;

	ctx = xcalloc(1, sizeof(*ctx));
	ctx->base = base;
	ctx->conf = *conf;
	if (ctx->conf.join_ms == 0)
		ctx->conf.join_ms = XFER_UNICAST_JOIN_MS;
	if (ctx->conf.grace_ms == 0)
		ctx->conf.grace_ms = XFER_GRACE_MS;
	ctx->cb = *cb;
	ctx->arg = arg;
	TAILQ_INIT(&ctx->all);
	TAILQ_INIT(&ctx->queue);
	if (ctx->conf.rate > 0) {
		ctx->share = event_new(base, -1, EV_PERSIST, xfer_share_cb,
		    ctx);
		xfer_ms(&tv, XFER_SHARE_MS);
		event_add(ctx->share, &tv);
	}
	return (ctx);
}

/* The runs' transfers are cleared first (xfer_run_clear). */
void
xfer_ctx_free(struct xfer_ctx *ctx)
{
	if (ctx != NULL) {
		xfer_event_free(ctx->share);
		free(ctx);
	}
}
