/*
 * Receiving a run's packages: one transport receiver (xrecv) per package,
 * into the run's root-only staging directory, and the fallback to unicast.
 * On the multicast path the agent checks that the group reaches it: when
 * no multicast session could be joined within RUN_PROBE_MS of START, or
 * the multicast transfer fails, it asks the server (REPORT fallback, with
 * the reason) to serve this package by unicast; the server answers with
 * ASSIGN for the unicast path, which the agent stores before it takes it
 * (a restart resumes on unicast), and START again, and the receiver
 * carries on from what is already in the staging file.  An agent that
 * restarted during a unicast transfer and finds no session within the
 * same probe time (the server ended it while the agent was down) asks
 * once for a new one the same way.  A request that could not be sent (the
 * agent was offline), or whose answer may have been lost with the
 * connection (the path is still multicast), goes again when the agent is
 * back online: a short outage of the segment loses the group and the
 * control connection together.  An agent moved to unicast whose START did
 * not come before the connection went (the server queues unicast
 * transfers beyond max_unicast_streams) joins the unicast session once
 * back online, as it does after a restart.  What the receiver and the
 * timers report goes to run.c's state machine through runs->fsm.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "agent.h"
#include "conf.h"
#include "ctl.h"
#include "log.h"
#include "mono.h"
#include "run_int.h"
#include "udp.h"
#include "xmalloc.h"
#include "xrecv.h"

#define RUN_PROGRESS_MS		1000	/* at most one receiving report */

static const char *run_recv_states[] = {
	"idle", "started", "joining", "receiving", "ended", "failed",
	"verifying", "asking", "asked", "rerouted",
};

static const char *run_recv_allows[] = { "fresh", "resumed", "used" };

static const char *run_recv_events[] = {
	"locked", "ended", "received", "start", "assign", "online", "probe",
	"reroute-late",
};

const char *
run_recv_strstate(int s)
{
	if (s < 0 || s > RUN_RECV_REROUTED)
		return ("?");
	return (run_recv_states[s]);
}

static const char *
run_recv_strallow(int a)
{
	if (a < 0 || a > RUN_RECV_USED)
		return ("?");
	return (run_recv_allows[a]);
}

static const char *
run_recv_strevent(int ev)
{
	if (ev < 0 || ev > RUN_RECV_EV_REROUTE_LATE)
		return ("?");
	return (run_recv_events[ev]);
}

/*
 * The one way the transfer of the current package changes state: where
 * it is, and whether it may still ask for unicast.
 */
static void
run_recv_set(struct run *r, enum run_recv_state ns, enum run_recv_allow na)
{
	if (r->recv == ns && r->recv_allow == na)
		return;
	log_debug("run %" PRIu64 ": package %s: transfer %s/%s -> %s/%s",
	    r->rec->run_id, r->rec->pkgs[r->rec->pkg_index].id,
	    run_recv_strstate(r->recv), run_recv_strallow(r->recv_allow),
	    run_recv_strstate(ns), run_recv_strallow(na));
	r->recv = ns;
	r->recv_allow = na;
}

/* No receiver and no verify child for the current package. */
static int
run_recv_idle(const struct run *r)
{
	return (r->recv == RUN_RECV_IDLE || r->recv == RUN_RECV_ASKING ||
	    r->recv == RUN_RECV_ASKED || r->recv == RUN_RECV_REROUTED);
}

/* Stop the receiver: r->xr is cleared first, so its last callback is moot. */
void
run_recv_stop(struct run *r)
{
	struct xrecv	*xr = r->xr;

	evtimer_del(r->ev_probe);
	evtimer_del(r->ev_hint);
	if (xr == NULL)
		return;
	r->xr = NULL;
	xrecv_stop(xr);
	xrecv_free(xr);
	free(r->xr_out);
	r->xr_out = NULL;
}

static void
run_recv_defer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct run		*r = arg;
	struct run_evdata	 d;

	memset(&d, 0, sizeof(d));
	d.ok = r->recv == RUN_RECV_ENDED;
	d.error = r->recv_err;
	r->ctx->fsm(r, RUN_EV_RECEIVED, &d);
}

static void
run_recv_locked(void *arg, uint64_t session, uint64_t size)
{
	struct run		*r = arg;
	struct run_pkg		*p = &r->rec->pkgs[r->rec->pkg_index];
	struct run_evdata	 d;
	char			*why = NULL;

	log_debug("run %" PRIu64 ": package %s: session %016" PRIx64 ", %"
	    PRIu64 " bytes", r->rec->run_id, p->id, session, size);
	memset(&d, 0, sizeof(d));
	d.ok = size == p->size;
	if (!d.ok) {
		xasprintf(&why, "transfer of %s: the sender offers %" PRIu64
		    " bytes, the server announced %" PRIu64, p->id, size,
		    p->size);
		d.error = why;
	}
	run_recv_fsm(r, RUN_RECV_EV_LOCKED, &d);
	free(why);
}

static void
run_recv_progress(void *arg, const struct xrecv_stats *st)
{
	struct run	*r = arg;
	uint64_t	 now = mono_ms();
	uint16_t	 i = r->rec->pkg_index;

	r->rec->pkgs[i].bytes = st->have_bytes;
	if (now - r->last_progress < RUN_PROGRESS_MS)
		return;
	r->last_progress = now;
	run_report(r, CTL_RS_RECEIVING, i, st->have_bytes, 0, 0, NULL, NULL);
}

static void
run_recv_finished(void *arg, int ok, const char *error)
{
	struct run	*r = arg;

	struct run_evdata	 d;

	if (r->xr == NULL)
		return;		/* being stopped by us */
	memset(&d, 0, sizeof(d));
	d.ok = ok;
	d.error = error;
	run_recv_fsm(r, RUN_RECV_EV_ENDED, &d);
}

/*
 * May the current package still ask the server for a unicast transfer?
 * On the multicast path once.  On the unicast path only once after the
 * agent restarted in the middle of it: the server drops a receiver silent
 * for 5 s (doc/protocol.md, Timers) and ends a unicast session that has no
 * receiver left, so an agent that was down longer finds none and asks for
 * a new one, which the server starts from the package it is on.
 */
static int
run_recv_may_fall_back(struct run *r)
{
	if (r->recv_allow == RUN_RECV_USED)
		return (0);
	return (r->rec->path == CTL_PATH_MULTICAST ||
	    r->recv_allow == RUN_RECV_RESUMED);
}

int
run_recv_start(struct run *r, char *err, size_t errlen)
{
	static const struct xrecv_cb	 cb = { run_recv_locked,
	    run_recv_progress, run_recv_finished, NULL, NULL };
	/* Verified while received: the file is hashed once (run_exec.c). */
	static const struct xrecv_cb	 cb_hash = { run_recv_locked,
	    run_recv_progress, run_recv_finished, run_exec_stream_data,
	    run_exec_stream_check };
	struct xrecv_conf		 xc;
	const char			*ifname;
	char				 dest[300], file[1024];

	memset(&xc, 0, sizeof(xc));
	snprintf(dest, sizeof(dest), strchr(r->rec->addr, ':') != NULL ?
	    "[%s]:%u" : "%s:%u", r->rec->addr, r->rec->port);
	if (udp_parse(dest, &xc.group, 0, err, errlen) == -1)
		return (-1);
	if ((ifname = conf_str(r->agent->conf, "interface")) != NULL &&
	    (xc.ifindex = udp_ifindex(ifname)) == 0) {
		snprintf(err, errlen, "interface: %s: no such interface",
		    ifname);
		return (-1);
	}
	/* The receiver holds on to the path itself: it must outlive it. */
	free(r->xr_out);
	r->xr_out = xstrdup(run_pkgfile(r, r->rec->pkg_index, file,
	    sizeof(file)));
	xc.out = r->xr_out;
	/* Only the assigned file is taken: another sender is not answered. */
	xc.expect_size = r->rec->pkgs[r->rec->pkg_index].size;
	xc.expect_digest = 1;
	memcpy(xc.expect_sha256, r->rec->pkgs[r->rec->pkg_index].sha256,
	    sizeof(xc.expect_sha256));
	/*
	 * Member keys (issue #12 finding 2): our own id and feedback key; a
	 * unicast stream is keyed by our key alone, data too.  The session
	 * of the START, stored: keys are derived for it only (finding 4).
	 * A run assigned by a server without member keys has none.
	 */
	memcpy(xc.key, r->rec->key, sizeof(xc.key));
	if (r->rec->member_id != 0) {
		xc.rid = r->rec->member_id;
		memcpy(xc.member_key, r->rec->member_key,
		    sizeof(xc.member_key));
		if (r->rec->path == CTL_PATH_UNICAST)
			memcpy(xc.key, r->rec->member_key, sizeof(xc.key));
	}
	xc.session = r->rec->session;
	free(r->recv_err);
	r->recv_err = NULL;
	r->recv_fatal = 0;
	r->last_progress = 0;
	evtimer_del(r->ev_probe);
	r->xr = xrecv_new(r->agent->base, &xc, run_exec_stream_begin(r) == 0 ?
	    &cb_hash : &cb, r, err, errlen);
	explicit_bzero(xc.key, sizeof(xc.key));
	explicit_bzero(xc.member_key, sizeof(xc.member_key));
	if (r->xr == NULL)
		return (-1);
	if (xrecv_start(r->xr) == -1) {
		snprintf(err, errlen, "receiver did not start");
		xrecv_free(r->xr);
		r->xr = NULL;
		return (-1);
	}
	/*
	 * Does the group (or, after a restart, the unicast session) reach
	 * us?  Only while this package may still ask for unicast.
	 */
	run_recv_set(r, RUN_RECV_JOINING, r->recv_allow);
	if (r->rec->path == CTL_PATH_UNICAST) {
		struct timeval	tv = { RUN_HINT_MS / 1000,
		    (RUN_HINT_MS % 1000) * 1000 };

		evtimer_add(r->ev_hint, &tv);
	}
	if (run_recv_may_fall_back(r)) {
		struct timeval	tv = { RUN_PROBE_MS / 1000,
		    (RUN_PROBE_MS % 1000) * 1000 };

		evtimer_add(r->ev_probe, &tv);
	}
	return (0);
}

/*
 * A unicast session that has not taken us on RUN_HINT_MS after START: the
 * server only knows that no answer reached it, so tell it what we saw
 * (its announcements heard and our HELLOs sent, or nothing), and its
 * message then names the port and the host that block the way.
 */
static void
run_recv_hint_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct run		*r = arg;
	struct xrecv_stats	 st;
	char			 msg[160];

	if (r->xr == NULL || r->recv != RUN_RECV_JOINING)
		return;
	xrecv_stats(r->xr, &st);
	if (st.session != 0)
		return;
	if (st.hellos > 0)
		snprintf(msg, sizeof(msg), "join: heard %" PRIu64 " "
		    "announcements, sent %" PRIu64 " HELLOs, no answer",
		    st.announces, st.hellos);
	else
		snprintf(msg, sizeof(msg), "join: heard nothing from the "
		    "sender");
	log_info("run %" PRIu64 ": unicast session not joined yet: %s",
	    r->rec->run_id, msg);
	run_report(r, CTL_RS_RECEIVING, r->rec->pkg_index,
	    r->rec->pkgs[r->rec->pkg_index].bytes, 0, 0, msg, NULL);
}

static void
run_recv_probe_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct run	*r = arg;

	r->ctx->fsm(r, (r->xr != NULL) ? RUN_EV_PROBE : RUN_EV_REROUTE_LATE,
	    NULL);
}

/*
 * Does the run wait for the server to move the current package to
 * unicast, in a way that asking again is right?  It asked (REPORT
 * fallback) and no receiver or verify runs for the package; and either
 * that REPORT never went out, or no ASSIGN for the unicast path has come
 * yet (the stored path is still multicast), so the server's answer, if
 * any, was lost with a connection.  Once the agent is on unicast it does
 * not ask again here: the server counts every request as a new unicast
 * session and allows only a few per machine and run.
 */
static int
run_recv_awaits_reroute(struct run *r)
{
	return (r->rec->state == RUN_RECEIVING &&
	    r->recv_allow == RUN_RECV_USED && (r->recv == RUN_RECV_ASKING ||
	    (r->recv == RUN_RECV_ASKED && r->rec->path == CTL_PATH_MULTICAST)));
}

/*
 * Send the request for unicast (again).  The server has RUN_FALLBACK_WAIT
 * seconds from the moment it went out; while the agent is offline nothing
 * counts, and the request goes when the connection is back (run_online).
 */
static void
run_recv_ask_unicast(struct run *r)
{
	struct timeval	 tv = { RUN_FALLBACK_WAIT, 0 };
	uint16_t	 i = r->rec->pkg_index;

	evtimer_del(r->ev_probe);
	if (run_report(r, CTL_RS_FALLBACK, i, r->rec->pkgs[i].bytes, 0, 0,
	    r->fallback_why, NULL) == -1) {
		run_recv_set(r, RUN_RECV_ASKING, RUN_RECV_USED);
		log_info("run %" PRIu64 ": package %s: offline; asking for "
		    "unicast once connected", r->rec->run_id,
		    r->rec->pkgs[i].id);
		return;
	}
	run_recv_set(r, RUN_RECV_ASKED, RUN_RECV_USED);
	evtimer_add(r->ev_probe, &tv);
}

/*
 * Ask the server to serve the current package by unicast: the receiver
 * stops (its staging file stays, so that the unicast transfer resumes from
 * it), and the server sends ASSIGN for the unicast path and START; a
 * package falls back once at most.
 */
static void
run_recv_fallback(struct run *r, const char *fmt, ...)
{
	uint16_t	 i = r->rec->pkg_index;
	char		 why[CTL_MAX_STR];
	va_list		 ap;

	run_recv_stop(r);
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	free(r->fallback_why);
	r->fallback_why = xstrdup(why);
	log_info("run %" PRIu64 ": package %s: %s; asking for unicast",
	    r->rec->run_id, r->rec->pkgs[i].id, r->fallback_why);
	run_recv_ask_unicast(r);
}

/*
 * The server moved the transfer while it was under way (a changed ASSIGN
 * in RECEIVING); the receiver has stopped.  Onto unicast: the START that
 * follows, or the connection coming back, takes it there.  Onto multicast
 * after asking for unicast: the answer is not the one asked for, so the
 * request goes again once online.  A verify child goes on: the package
 * is complete.
 */
static void
run_recv_moved(struct run *r)
{
	if (r->recv == RUN_RECV_VERIFYING)
		return;
	if (r->rec->path == CTL_PATH_UNICAST) {
		/* A request still to go goes first (RUN_RECV_EV_ONLINE). */
		if (r->recv != RUN_RECV_ASKING)
			run_recv_set(r, RUN_RECV_REROUTED, r->recv_allow);
	} else if (r->recv_allow == RUN_RECV_USED)
		run_recv_set(r, RUN_RECV_ASKING, r->recv_allow);
	else if (r->recv != RUN_RECV_REROUTED)
		run_recv_set(r, RUN_RECV_IDLE, r->recv_allow);
}

/*
 * An ASSIGN for a run we hold that names another path (the server moved
 * us to unicast): store the new path, then take it; the receiver restarts
 * on it at the START that follows.  The server does not send ASSIGN again
 * to a machine that is transferring, not even after a reconnection, so an
 * agent restarted in the middle of the unicast transfer knows its path only
 * from the database: it resumes there (run_resume) and rejoins the unicast
 * session, instead of probing the group again.  1: the path changed; 0:
 * it is the same; -1: it could not be stored (err), nothing changed.
 */
int
run_recv_reroute(struct run *r, const struct ctl_msg *m, char *err,
    size_t errlen)
{
	struct run_rec	*rec = r->rec;
	uint8_t		 opath = rec->path;
	uint16_t	 oport = rec->port;
	int64_t		 oupdated = rec->updated_at;
	uint64_t	 osession = rec->session;
	char		*oaddr = rec->addr;

	if (m == NULL || (m->u.assign.path == rec->path &&
	    m->u.assign.port == rec->port &&
	    strcmp(m->u.assign.addr, rec->addr) == 0))
		return (0);
	rec->path = m->u.assign.path;
	rec->addr = xstrdup(m->u.assign.addr);
	rec->port = m->u.assign.port;
	rec->updated_at = (int64_t)time(NULL);
	/* The old path's session is not the new one's: START tells it. */
	rec->session = 0;
	if (state_run_set_path(r->agent->state, rec, err, errlen) == -1) {
		free(rec->addr);
		rec->path = opath;
		rec->addr = oaddr;
		rec->port = oport;
		rec->updated_at = oupdated;
		rec->session = osession;
		return (-1);
	}
	free(oaddr);
	log_info("run %" PRIu64 ": the server moves the transfer to %s "
	    "%s:%u", rec->run_id, rec->path == CTL_PATH_UNICAST ?
	    "unicast" : "multicast", rec->addr, rec->port);
	run_recv_stop(r);
	if (rec->state == RUN_RECEIVING)
		run_recv_moved(r);
	return (1);
}

/* Verify and extract the received package (run_exec.c's child). */
int
run_recv_verify(struct run *r, char *err, size_t errlen)
{
	if (run_exec_verify_start(r, err, errlen) == -1)
		return (-1);
	run_recv_set(r, RUN_RECV_VERIFYING, r->recv_allow);
	return (0);
}

/* The agent restarted in this package: it may ask for unicast once. */
void
run_recv_resume(struct run *r)
{
	run_recv_set(r, r->recv, RUN_RECV_RESUMED);
}

/*
 * The run goes on to the next package (pkg_index was just incremented):
 * its transfer starts fresh.  1 when its START came early, during the
 * verify of the previous one: the caller receives it right away.
 */
int
run_recv_advance(struct run *r)
{
	int	started = r->recv_next == RUN_RECV_STARTED;

	r->recv_next = RUN_RECV_IDLE;
	run_recv_set(r, RUN_RECV_IDLE, RUN_RECV_FRESH);
	return (started);
}

/*
 * The transfer's state machine: what the receiver, the probe timer and
 * the server say about the current package, while the run is RECEIVING
 * (run_fsm hands the events on).  The receiver's own reports (locked,
 * ended) are taken in the states where a receiver runs; the server's
 * messages and the timers act on where the transfer is.
 */
void
run_recv_fsm(struct run *r, enum run_recv_event ev, struct run_evdata *d)
{
	uint16_t	 i = r->rec->pkg_index;
	const char	*id = r->rec->pkgs[i].id;
	char		 err[1024];

	switch (ev) {
	case RUN_RECV_EV_LOCKED:
		evtimer_del(r->ev_probe);
		if (r->recv != RUN_RECV_JOINING &&
		    r->recv != RUN_RECV_RECEIVING && r->recv != RUN_RECV_ENDED)
			break;
		if (d->ok) {
			if (r->recv == RUN_RECV_JOINING)
				run_recv_set(r, RUN_RECV_RECEIVING,
				    r->recv_allow);
			return;
		}
		/* Another file than the assigned one: no path would help. */
		free(r->recv_err);
		r->recv_err = xstrdup(d->error);
		r->recv_fatal = 1;
		run_recv_set(r, RUN_RECV_FAILED, r->recv_allow);
		event_active(r->ev_defer, EV_TIMEOUT, 1);
		return;
	case RUN_RECV_EV_ENDED:
		/* Handled outside the receiver's own call chain: it is freed
		 * then (run_recv_defer_cb, RUN_RECV_EV_RECEIVED). */
		if (r->recv != RUN_RECV_JOINING &&
		    r->recv != RUN_RECV_RECEIVING && r->recv != RUN_RECV_ENDED)
			;	/* the first end counts */
		else if (d->ok)
			run_recv_set(r, RUN_RECV_ENDED, r->recv_allow);
		else {
			free(r->recv_err);
			xasprintf(&r->recv_err, "transfer of %s: %s", id,
			    d->error != NULL ? d->error : "failed");
			run_recv_set(r, RUN_RECV_FAILED, r->recv_allow);
		}
		event_active(r->ev_defer, EV_TIMEOUT, 1);
		return;
	case RUN_RECV_EV_RECEIVED:
		if (r->xr == NULL)
			return;		/* stopped meanwhile */
		run_recv_stop(r);
		if (!d->ok && !r->recv_fatal && run_recv_may_fall_back(r)) {
			run_recv_fallback(r, "the %s transfer failed%s: %s",
			    r->rec->path == CTL_PATH_MULTICAST ?
			    "multicast" : "unicast",
			    r->rec->path == CTL_PATH_MULTICAST ? "" :
			    " after the agent restarted", d->error);
			return;
		}
		if (!d->ok) {
			r->ctx->finish(r, CTL_RS_FAILED, 0, "%s", d->error);
			return;
		}
		if (run_recv_verify(r, err, sizeof(err)) == -1)
			r->ctx->finish(r, CTL_RS_FAILED, 0, "%s: verify: %s",
			    id, err);
		return;
	case RUN_RECV_EV_START:
		/* The next package while this one is verified. */
		if (d->msg->u.start.pkg_index == i + 1u)
			r->recv_next = RUN_RECV_STARTED;
		/* This package again, on the path we were moved to. */
		else if (d->msg->u.start.pkg_index == i && run_recv_idle(r))
			r->ctx->receive(r);
		return;
	case RUN_RECV_EV_ASSIGN:
		switch (d != NULL ? run_recv_reroute(r, d->msg, err,
		    sizeof(err)) : 0) {
		case -1:
			r->ctx->finish(r, CTL_RS_FAILED, 0, "transfer of %s: "
			    "the server moved it to %s, which could not be "
			    "stored: state_dir: %s", id,
			    d->msg->u.assign.path == CTL_PATH_UNICAST ?
			    "unicast" : "multicast", err);
			return;
		case 1:
			return;
		}
		/*
		 * Already on unicast and asked for a new session (after a
		 * restart): the same path again is the answer; the START
		 * follows when the server has a stream free, so the reroute
		 * wait is over.
		 */
		if (r->rec->path == CTL_PATH_UNICAST && run_recv_idle(r) &&
		    r->recv_allow == RUN_RECV_USED) {
			evtimer_del(r->ev_probe);
			if (r->recv == RUN_RECV_ASKED)
				run_recv_set(r, RUN_RECV_REROUTED,
				    r->recv_allow);
			return;
		}
		run_report_current(r);
		return;
	case RUN_RECV_EV_ONLINE:
		/* The reroute we asked for may be lost: ask again. */
		if (run_recv_awaits_reroute(r)) {
			log_info("run %" PRIu64 ": package %s: online again; "
			    "asking for unicast again", r->rec->run_id, id);
			run_recv_ask_unicast(r);
			return;
		}
		/*
		 * Moved to unicast, but START may have been lost with the
		 * connection, and the server does not send it again: its
		 * session waits for this one receiver, so join it, as after a
		 * restart (run_resume).  A START still to come finds the
		 * receiver running.
		 */
		if (r->recv == RUN_RECV_REROUTED) {
			log_info("run %" PRIu64 ": package %s: online again; "
			    "joining the unicast session", r->rec->run_id, id);
			r->ctx->receive(r);
			return;
		}
		run_report_current(r);
		return;
	case RUN_RECV_EV_PROBE:
		if (r->recv != RUN_RECV_JOINING || !run_recv_may_fall_back(r))
			break;
		if (r->rec->path == CTL_PATH_MULTICAST)
			run_recv_fallback(r, "no multicast arrived within %d s "
			    "after START", RUN_PROBE_MS / 1000);
		else
			run_recv_fallback(r, "no unicast session arrived "
			    "within %d s after the agent restarted",
			    RUN_PROBE_MS / 1000);
		return;
	case RUN_RECV_EV_REROUTE_LATE:
		/*
		 * Offline, the server could not answer: the request goes
		 * again with the connection (RUN_RECV_EV_ONLINE).
		 */
		if (!agent_conn_is_online(r->agent->conn) &&
		    run_recv_awaits_reroute(r)) {
			run_recv_set(r, RUN_RECV_ASKING, r->recv_allow);
			return;
		}
		if (run_recv_idle(r) && r->recv_allow == RUN_RECV_USED)
			r->ctx->finish(r, CTL_RS_FAILED, 0, "transfer of %s: "
			    "%s, and the server did not move it to unicast "
			    "within %d s", id, r->fallback_why,
			    RUN_FALLBACK_WAIT);
		return;
	}
	log_debug("run %" PRIu64 ": package %s: transfer event %s ignored in "
	    "state %s", r->rec->run_id, id, run_recv_strevent(ev),
	    run_recv_strstate(r->recv));
}

/* The receiver's events for a new run (run.c's run_wrap). */
void
run_recv_init(struct run *r)
{
	r->ev_defer = event_new(r->agent->base, -1, 0, run_recv_defer_cb, r);
	r->ev_probe = evtimer_new(r->agent->base, run_recv_probe_cb, r);
	r->ev_hint = evtimer_new(r->agent->base, run_recv_hint_cb, r);
	if (r->ev_defer == NULL || r->ev_probe == NULL || r->ev_hint == NULL)
		fatalx("run: event_new failed");
}
