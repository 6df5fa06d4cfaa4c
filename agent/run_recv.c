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

/* Stop the receiver: r->xr is cleared first, so its last callback is moot. */
void
run_recv_stop(struct run *r)
{
	struct xrecv	*xr = r->xr;

	evtimer_del(r->ev_probe);
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
	d.ok = r->recv_ok;
	d.error = r->recv_err;
	r->ctx->fsm(r, RUN_EV_RECEIVED, &d);
}

static void
run_recv_locked(void *arg, uint64_t session, uint64_t size)
{
	struct run	*r = arg;
	struct run_pkg	*p = &r->rec->pkgs[r->rec->pkg_index];

	log_debug("run %" PRIu64 ": package %s: session %016" PRIx64 ", %"
	    PRIu64 " bytes", r->rec->run_id, p->id, session, size);
	r->locked = 1;
	evtimer_del(r->ev_probe);
	if (size != p->size && r->recv_err == NULL) {
		xasprintf(&r->recv_err, "transfer of %s: the sender offers %"
		    PRIu64 " bytes, the server announced %" PRIu64, p->id,
		    size, p->size);
		r->recv_ok = 0;
		r->recv_fatal = 1;
		event_active(r->ev_defer, EV_TIMEOUT, 1);
	}
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

	if (r->xr == NULL)
		return;		/* being stopped by us */
	/* Handled outside the receiver's own call chain: it is freed then. */
	if (r->recv_err == NULL) {
		r->recv_ok = ok;
		if (!ok)
			xasprintf(&r->recv_err, "transfer of %s: %s",
			    r->rec->pkgs[r->rec->pkg_index].id,
			    error != NULL ? error : "failed");
	}
	event_active(r->ev_defer, EV_TIMEOUT, 1);
}

/*
 * May the current package still ask the server for a unicast transfer?
 * On the multicast path once.  On the unicast path only once after the
 * agent restarted in the middle of it: the server drops a receiver silent
 * for 5 s (doc/protocol.md, Timers) and ends a unicast session that has no
 * receiver left, so an agent that was down longer finds none and asks for
 * a new one, which the server starts from the package it is on.
 */
int
run_recv_may_fall_back(struct run *r)
{
	int	cur = r->rec->pkg_index + 1;

	if (r->fallback == cur)
		return (0);
	return (r->rec->path == CTL_PATH_MULTICAST || r->resumed == cur);
}

int
run_recv_start(struct run *r, char *err, size_t errlen)
{
	static const struct xrecv_cb	 cb = { run_recv_locked,
	    run_recv_progress, run_recv_finished };
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
	memcpy(xc.key, r->rec->key, sizeof(xc.key));
	free(r->recv_err);
	r->recv_err = NULL;
	r->recv_ok = 0;
	r->recv_fatal = 0;
	r->last_progress = 0;
	evtimer_del(r->ev_probe);
	r->xr = xrecv_new(r->agent->base, &xc, &cb, r, err, errlen);
	explicit_bzero(xc.key, sizeof(xc.key));
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
	r->locked = 0;
	if (run_recv_may_fall_back(r)) {
		struct timeval	tv = { RUN_PROBE_MS / 1000,
		    (RUN_PROBE_MS % 1000) * 1000 };

		evtimer_add(r->ev_probe, &tv);
	}
	return (0);
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
int
run_recv_awaits_reroute(struct run *r)
{
	return (r->rec->state == RUN_RECEIVING &&
	    r->fallback == r->rec->pkg_index + 1 && r->xr == NULL &&
	    r->job == NULL && (r->fallback_unsent ||
	    r->rec->path == CTL_PATH_MULTICAST));
}

/*
 * Send the request for unicast (again).  The server has RUN_FALLBACK_WAIT
 * seconds from the moment it went out; while the agent is offline nothing
 * counts, and the request goes when the connection is back (run_online).
 */
void
run_recv_ask_unicast(struct run *r)
{
	struct timeval	 tv = { RUN_FALLBACK_WAIT, 0 };
	uint16_t	 i = r->rec->pkg_index;

	evtimer_del(r->ev_probe);
	if (run_report(r, CTL_RS_FALLBACK, i, r->rec->pkgs[i].bytes, 0, 0,
	    r->fallback_why, NULL) == -1) {
		r->fallback_unsent = 1;
		log_info("run %" PRIu64 ": package %s: offline; asking for "
		    "unicast once connected", r->rec->run_id,
		    r->rec->pkgs[i].id);
		return;
	}
	r->fallback_unsent = 0;
	evtimer_add(r->ev_probe, &tv);
}

/*
 * Ask the server to serve the current package by unicast: the receiver
 * stops (its staging file stays, so that the unicast transfer resumes from
 * it), and the server sends ASSIGN for the unicast path and START; a
 * package falls back once at most.
 */
void
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
	r->fallback = i + 1;
	log_info("run %" PRIu64 ": package %s: %s; asking for unicast",
	    r->rec->run_id, r->rec->pkgs[i].id, r->fallback_why);
	run_recv_ask_unicast(r);
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
	char		*oaddr = rec->addr;

	if (m == NULL || (m->u.assign.path == rec->path &&
	    m->u.assign.port == rec->port &&
	    strcmp(m->u.assign.addr, rec->addr) == 0))
		return (0);
	rec->path = m->u.assign.path;
	rec->addr = xstrdup(m->u.assign.addr);
	rec->port = m->u.assign.port;
	rec->updated_at = (int64_t)time(NULL);
	if (state_run_set_path(r->agent->state, rec, err, errlen) == -1) {
		free(rec->addr);
		rec->path = opath;
		rec->addr = oaddr;
		rec->port = oport;
		rec->updated_at = oupdated;
		return (-1);
	}
	free(oaddr);
	log_info("run %" PRIu64 ": the server moves the transfer to %s "
	    "%s:%u", rec->run_id, rec->path == CTL_PATH_UNICAST ?
	    "unicast" : "multicast", rec->addr, rec->port);
	run_recv_stop(r);
	if (rec->state == RUN_RECEIVING && rec->path == CTL_PATH_UNICAST)
		r->rerouted = rec->pkg_index + 1;
	return (1);
}

/* The receiver's events for a new run (run.c's run_wrap). */
void
run_recv_init(struct run *r)
{
	r->ev_defer = event_new(r->agent->base, -1, 0, run_recv_defer_cb, r);
	r->ev_probe = evtimer_new(r->agent->base, run_recv_probe_cb, r);
	if (r->ev_defer == NULL || r->ev_probe == NULL)
		fatalx("run: event_new failed");
}
