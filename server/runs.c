/*
 * Scenario runs: the glue between the inventory, the scheduler (sched.c,
 * which decides when transfers start and who is in error, missed or
 * queued), the agents (ASSIGN, START, CANCEL out; REPORT in) and the
 * multicast sender (xsend.c).  The order is always persist, then act: a
 * run and its machines are committed before any agent hears of it, and
 * every state change the scheduler decides is written (with its time and
 * reason) in its callback, before the wave that follows is started.
 *
 * After a restart (even kill -9) a waiting run is rebuilt from the
 * database with its original start time, group and data key, so max wait
 * still counts from the admin's `scenario run` and agents that were told
 * continue; a run that was transferring cannot resume its stream, so its
 * machines in flight become interrupted and the ones that never started
 * missed, each with the reason, while machines that already have the
 * package keep reporting into the stored run.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <net/if.h>

#include <errno.h>
#include <ifaddrs.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "conf.h"
#include "log.h"
#include "sched.h"
#include "server.h"
#include "udp.h"
#include "xmalloc.h"
#include "xsend.h"

#define RUN_JOIN_WAIT_MS	5000	/* receivers of a wave to join */
#define RUN_DELIVERY_GRACE	120	/* s after a transfer for reports */
#define RUN_EJECT_MS		2000	/* a straggler drags the group */
#define RUN_UNICAST_JOIN_MS	20000	/* a unicast receiver to answer */
#define RUN_FALLBACK_MAX	3	/* unicast restarts asked per machine */
#define RUN_REASON_MAX		240	/* of an agent's words in a reason */
#define RUN_SHARE_MS		250	/* streams' shares of rate, again */
#define RUN_SHARE_MIN		(256 * 1024)	/* bytes/s, xsend's floor */

struct run;

/* One transfer: a wave (multicast) or one machine (unicast). */
struct xfer {
	struct run		*run;
	struct sched_target	**members;
	size_t			 n;
	enum sched_path		 path;
	char			 dest[64];	/* group or the agent */
	size_t			 pkg;		/* package being sent */
	size_t			 pkg0;		/* the first it sent */
	struct xsend		*xs;
	struct event		*step;		/* next package, deferred */
	struct event		*grace;
	struct event		*join;		/* unicast: answer by then */
	int			 joined;	/* its receiver answered */
	int			 slot;		/* holds a unicast stream */
	int			 queued;	/* waits for one */
	char			*failed;	/* why it ended early */
	TAILQ_ENTRY(xfer)	 entry;
	TAILQ_ENTRY(xfer)	 qentry;	/* runs' uc_queue */
};
TAILQ_HEAD(xfer_list, xfer);

struct run {
	struct runs		*runs;
	uint64_t		 id;
	char			 idstr[RUN_ID_MAX];
	struct scenario		 sc;
	struct db_package	 pkgs[CTL_MAX_PKGS];
	size_t			 npkgs;
	char			 group[64];
	uint16_t		 port;
	uint8_t			 key[CTL_KEY_LEN];
	uint8_t			*assigned;	/* per target: ASSIGN sent */
	uint8_t			*fallback;	/* per target: unicast sessions
						   asked for by the agent */
	char			**refused;	/* per target: why the group's
						   sender refused it */
	struct sched_run	*sr;
	struct xfer_list	 xfers;
	int			 finished;
	TAILQ_ENTRY(run)	 entry;
};
TAILQ_HEAD(run_list, run);

struct runs {
	struct server		*srv;
	struct sched		*sched;
	struct event		*timer;
	struct event		*gc;
	struct event		*share;		/* rate among the streams */
	struct run_list		 list;
	uint64_t		 rate;		/* bytes/s, 0: auto */
	unsigned		 ifindex;	/* for multicast, 0: routing */
	unsigned		 seg_ifindex;	/* the segment's, 0: unknown */
	int			 uc_max;	/* max_unicast_streams */
	int			 uc_active;	/* unicast senders running */
	struct xfer_list	 uc_queue;	/* unicast transfers waiting */
};

static void	runs_rearm(struct runs *);
static void	xfer_next(struct xfer *);
static void	xfer_free(struct xfer *);
static void	xfer_unicast(struct run *, struct sched_target *, const char *,
		    size_t);
static void	run_fallback(struct run *, struct sched_target *, uint16_t,
		    const char *);

static struct run *
run_find(struct runs *rs, uint64_t id)
{
	struct run	*r;

	TAILQ_FOREACH(r, &rs->list, entry)
		if (r->id == id)
			return (r);
	return (NULL);
}

static struct sched_target *
run_target(struct run *r, const char *name, size_t *idx)
{
	size_t	i;

	for (i = 0; i < r->sr->ntargets; i++)
		if (strcmp(r->sr->targets[i].machine->name, name) == 0) {
			if (idx != NULL)
				*idx = i;
			return (&r->sr->targets[i]);
		}
	return (NULL);
}

static void
run_free(struct run *r)
{
	struct xfer	*x;
	size_t		 i;

	while ((x = TAILQ_FIRST(&r->xfers)) != NULL)
		xfer_free(x);
	for (i = 0; r->refused != NULL && r->sr != NULL &&
	    i < r->sr->ntargets; i++)
		free(r->refused[i]);
	free(r->refused);
	if (r->sr != NULL)
		sched_run_free(r->runs->sched, r->sr);
	for (i = 0; i < r->npkgs; i++)
		db_package_clear(&r->pkgs[i]);
	db_scenario_clear(&r->sc);
	explicit_bzero(r->key, sizeof(r->key));
	free(r->assigned);
	free(r->fallback);
	free(r);
}

/* ---- messages to agents ---- */

static const char *
target_path(struct run *r, struct sched_target *t)
{
	size_t	idx = (size_t)(t - r->sr->targets);

	return (r->sc.unicast || t->machine->remote || (idx <
	    r->sr->ntargets && r->fallback[idx]) ? "unicast" : "multicast");
}

/*
 * Why the machine's data takes the path the scheduler gave it: the
 * scenario's --unicast, or where the machine is (runs_on_segment).  The
 * address is looked at again here; should the machine have moved since the
 * path was chosen, the reason says so rather than contradict the path.
 */
static void
target_reason(struct run *r, struct sched_target *t, char *why, size_t len)
{
	const char	*addr;
	char		 seg[300];
	int		 local;

	if (r->sc.unicast) {
		snprintf(why, len, "unicast: the scenario asks for unicast "
		    "(--unicast)");
		return;
	}
	if ((addr = control_address(r->runs->srv->control,
	    t->machine->name)) == NULL) {
		snprintf(why, len, "%s: the machine was on %s when the "
		    "transfer started", sched_strpath(t->path),
		    t->machine->remote ? "another segment" : "the multicast "
		    "segment");
		return;
	}
	local = runs_on_segment(r->runs, addr, seg, sizeof(seg));
	if (local == (t->path == SCHED_PATH_MULTICAST))
		snprintf(why, len, "%s", seg);
	else
		snprintf(why, len, "%s: chosen when the machine was on %s; "
		    "now %s", sched_strpath(t->path), t->machine->remote ?
		    "another segment" : "the multicast segment", seg);
}

/* Tell an online agent about the run (again, after a reconnection). */
static void
run_assign(struct run *r, struct sched_target *t, size_t idx)
{
	struct server	*srv = r->runs->srv;
	struct ctl_msg	 m;
	struct ctl_pkg	 pkgs[CTL_MAX_PKGS];
	size_t		 i;
	const char	*addr;

	if (!control_online(srv->control, t->machine->name))
		return;
	memset(&m, 0, sizeof(m));
	memset(pkgs, 0, sizeof(pkgs));
	m.type = CTL_ASSIGN;
	m.u.assign.run_id = r->id;
	m.u.assign.scenario = r->sc.name;
	if (strcmp(target_path(r, t), "unicast") == 0) {
		m.u.assign.path = CTL_PATH_UNICAST;
		addr = control_address(srv->control, t->machine->name);
		m.u.assign.addr = (char *)(addr != NULL ? addr : "0.0.0.0");
	} else {
		m.u.assign.path = CTL_PATH_MULTICAST;
		m.u.assign.addr = r->group;
	}
	m.u.assign.port = r->port;
	memcpy(m.u.assign.key, r->key, CTL_KEY_LEN);
	if (r->sc.at_next_boot)
		m.u.assign.options |= CTL_OPT_AT_NEXT_BOOT;
	if (r->sc.reboot_after)
		m.u.assign.options |= CTL_OPT_REBOOT_AFTER;
	if (r->sc.poweroff_after)
		m.u.assign.options |= CTL_OPT_POWEROFF_AFTER;
	if (r->sc.on_error_stop)
		m.u.assign.options |= CTL_OPT_STOP_ON_ERROR;
	for (i = 0; i < r->npkgs; i++) {
		pkgs[i].id = r->pkgs[i].id;
		pkgs[i].size = r->pkgs[i].size;
		memcpy(pkgs[i].sha256, r->pkgs[i].sha256, CTL_HASH_LEN);
		memcpy(pkgs[i].signature, r->pkgs[i].signature, CTL_SIG_LEN);
		pkgs[i].manifest = r->pkgs[i].manifest;
		pkgs[i].manifest_len = r->pkgs[i].manifest_len;
	}
	m.u.assign.npkgs = r->npkgs;
	m.u.assign.pkgs = pkgs;
	if (control_send(srv->control, t->machine->name, &m) == 0) {
		r->assigned[idx] = 1;
		log_debug("run %s machine %s: assigned (%s)", r->idstr,
		    t->machine->name, target_path(r, t));
	}
	explicit_bzero(m.u.assign.key, sizeof(m.u.assign.key));
}

static void
cancel_send(struct runs *rs, const char *name, uint64_t id, uint8_t reason,
    const char *msg)
{
	struct ctl_msg	m;

	memset(&m, 0, sizeof(m));
	m.type = CTL_CANCEL;
	m.u.cancel.run_id = id;
	m.u.cancel.reason = reason;
	m.u.cancel.message = (char *)(msg != NULL ? msg : "");
	control_send(rs->srv->control, name, &m);
}

static void
run_cancel(struct run *r, struct sched_target *t, uint8_t reason,
    const char *msg)
{
	cancel_send(r->runs, t->machine->name, r->id, reason, msg);
}

/*
 * A machine state (by name, as stored) in which the run is over for the
 * machine without success: an agent still at work on it is told again.
 */
static int
state_failed(const char *st)
{
	return (strcmp(st, sched_strmstate(SCHED_M_FAILED)) == 0 ||
	    strcmp(st, sched_strmstate(SCHED_M_ERROR)) == 0 ||
	    strcmp(st, sched_strmstate(SCHED_M_MISSED)) == 0 ||
	    strcmp(st, sched_strmstate(SCHED_M_INTERRUPTED)) == 0);
}

/* A report from an agent that still works on a run (before delivery). */
static int
report_in_progress(const struct ctl_msg *m)
{
	switch (m->u.report.state) {
	case CTL_RS_READY:
	case CTL_RS_RECEIVING:
	case CTL_RS_DELIVERED:
	case CTL_RS_FALLBACK:
		return (1);
	default:
		return (0);
	}
}

/* ---- scheduler callbacks: persist first ---- */

/*
 * What the cause tells: an agent's report comes with the report itself
 * (runs_report), a stored run being restored with its stored record
 * (runs_restore), and the only runs this file closes are the admin's
 * cancels (runs_control).
 */
static void
cb_machine_state(void *arg, struct sched_target *t, enum sched_mstate old,
    enum sched_mstate new, uint64_t now, const struct sched_cause *c)
{
	struct runs		*rs = arg;
	struct run		*r = t->run->udata;
	const struct ctl_msg	*rep = NULL;
	const char		*st = sched_strmstate(new), *path = NULL;
	const char		*error = NULL, *output = NULL;
	char			 stored[32], why[512];
	int			 has_exit = 0, told;
	int			 cancelling = c->via == SCHED_VIA_CLOSE;
	int64_t			 exit_status = 0;

	if (c->via == SCHED_VIA_START && c->data != NULL) {
		/* Rebuilding a waiting run: what is stored stays as it is. */
		db_run_target_state(rs->srv->db, r->id, t->machine->name,
		    stored, sizeof(stored));
		if (strcmp(stored, st) == 0)
			return;
	}
	if (new == SCHED_M_TRANSFERRING)
		path = sched_strpath(t->path);
	switch (new) {
	case SCHED_M_ERROR:
	case SCHED_M_MISSED:
	case SCHED_M_INTERRUPTED:
	case SCHED_M_FAILED:
		error = t->error;
		break;
	default:
		break;
	}
	if (c->via == SCHED_VIA_REPORT)
		rep = c->data;
	if (rep != NULL) {
		if (rep->u.report.has_exit) {
			has_exit = 1;
			exit_status = rep->u.report.exit_status;
		}
		if (rep->u.report.output[0] != '\0')
			output = rep->u.report.output;
	}
	if (db_run_target(rs->srv->db, r->id, t->machine->name, st, path,
	    error, has_exit, exit_status, -1, output, now) == -1)
		log_warnx("run %s machine %s: could not record %s", r->idstr,
		    t->machine->name, st);
	if (path != NULL) {
		target_reason(r, t, why, sizeof(why));
		if (db_run_path(rs->srv->db, r->id, t->machine->name, path,
		    why, now, 0) == -1)
			log_warnx("run %s machine %s: could not record the "
			    "path", r->idstr, t->machine->name);
		log_info("run %s machine %s: %s", r->idstr, t->machine->name,
		    why);
	}
	log_info("run %s machine %s: %s -> %s%s%s", r->idstr,
	    t->machine->name, sched_strmstate(old), st,
	    error != NULL ? ": " : "", error != NULL ? error : "");
	/* An agent that was told about the run hears that it is out. */
	told = (new == SCHED_M_MISSED || new == SCHED_M_ERROR) &&
	    (old == SCHED_M_ASSIGNED || old == SCHED_M_READY ||
	    old == SCHED_M_QUEUED);
	if ((rep == NULL && told) ||
	    (cancelling && new == SCHED_M_INTERRUPTED)) {
		size_t	idx;

		if (run_target(r, t->machine->name, &idx) != NULL &&
		    r->assigned[idx])
			run_cancel(r, t, cancelling ? CTL_CANCEL_ADMIN :
			    new == SCHED_M_MISSED ? CTL_CANCEL_MISSED :
			    CTL_CANCEL_ERROR, t->error);
	}
}

static void
cb_machine_error(void *arg, struct sched_machine *m, uint64_t now)
{
	struct runs		*rs = arg;
	struct db_machine	 dm;
	int			 same;

	/* Loading a stored error into the scheduler is no new event. */
	same = db_machine_get(rs->srv->db, m->name, &dm) == 1 &&
	    ((dm.error == NULL && m->error == NULL) || (dm.error != NULL &&
	    m->error != NULL && strcmp(dm.error, m->error) == 0));
	db_machine_clear(&dm);
	if (same)
		return;
	db_machine_set_error(rs->srv->db, m->name, m->error);
	if (m->error != NULL)
		db_event(rs->srv->db, now, "error", 0, m->name,
		    "scenario execution error: %s", m->error);
}

static void
cb_run_state(void *arg, struct sched_run *sr, enum sched_rstate old,
    enum sched_rstate new, uint64_t now)
{
	struct runs	*rs = arg;
	struct run	*r = sr->udata;

	if (db_run_state(rs->srv->db, r->id, sched_strrstate(new), now) == -1)
		log_warnx("run %s: could not record %s", r->idstr,
		    sched_strrstate(new));
	log_info("run %s: %s -> %s", r->idstr, sched_strrstate(old),
	    sched_strrstate(new));
	if (new == SCHED_R_FINISHED) {
		db_event(rs->srv->db, now, "run", r->id, NULL, "run finished");
		/* Freed outside the scheduler's call chain. */
		r->finished = 1;
		event_active(rs->gc, 0, 0);
	}
}

static void
cb_wave_start(void *arg, const struct sched_wave *w)
{
	struct runs	*rs = arg;
	struct run	*r = w->run->udata;
	struct xfer	*x;
	size_t		 i;
	const char	*addr;

	if (w->path == SCHED_PATH_MULTICAST) {
		x = xcalloc(1, sizeof(*x));
		x->run = r;
		x->path = w->path;
		x->n = w->n;
		x->members = xcalloc(w->n, sizeof(*x->members));
		memcpy(x->members, w->members, w->n * sizeof(*x->members));
		snprintf(x->dest, sizeof(x->dest), "%s", r->group);
		TAILQ_INSERT_TAIL(&r->xfers, x, entry);
		x->pkg = (size_t)-1;
		xfer_next(x);
		return;
	}
	/* Unicast: one stream per machine, to the address it came from. */
	for (i = 0; i < w->n; i++) {
		addr = control_address(rs->srv->control,
		    w->members[i]->machine->name);
		/* Ready, then gone before its stream could start: fails. */
		xfer_unicast(r, w->members[i], addr != NULL ? addr : "", 0);
	}
}

/* ---- transfers ---- */

/*
 * Unicast streams are limited (max_unicast_streams): each holds a sender
 * with its block ring for as long as its transfer runs, so that many
 * remote machines queue instead of exhausting the server's memory, and
 * each waiting machine's history says what it waits for (MISSION.md S7:
 * a limit must not fail silently).  A slot is held from a transfer's first
 * package to its last; a freed slot goes to the longest waiting.
 */
static int
xfer_slot(struct xfer *x)
{
	struct runs	*rs = x->run->runs;
	char		 why[128];

	if (x->slot)
		return (1);
	if (rs->uc_active < rs->uc_max) {
		x->slot = 1;
		rs->uc_active++;
		return (1);
	}
	if (!x->queued) {
		x->queued = 1;
		TAILQ_INSERT_TAIL(&rs->uc_queue, x, qentry);
		snprintf(why, sizeof(why), "unicast: waiting for a free unicast "
		    "stream (max_unicast_streams = %d, all in use)", rs->uc_max);
		db_run_note(rs->srv->db, x->run->id, x->members[0]->machine->name,
		    why, server_now_ms());
		log_info("run %s machine %s: %s", x->run->idstr,
		    x->members[0]->machine->name, why);
	}
	return (0);
}

static void
xfer_release(struct xfer *x)
{
	struct runs	*rs = x->run->runs;
	struct xfer	*q;

	if (x->queued) {
		TAILQ_REMOVE(&rs->uc_queue, x, qentry);
		x->queued = 0;
	}
	if (!x->slot)
		return;
	x->slot = 0;
	rs->uc_active--;
	if ((q = TAILQ_FIRST(&rs->uc_queue)) != NULL) {
		TAILQ_REMOVE(&rs->uc_queue, q, qentry);
		q->queued = 0;
		q->slot = 1;
		rs->uc_active++;
		/* Not from inside a sender's callback: its step, deferred. */
		event_active(q->step, 0, 0);
	}
}

static void
xfer_free(struct xfer *x)
{
	TAILQ_REMOVE(&x->run->xfers, x, entry);
	xfer_release(x);
	if (x->xs != NULL) {
		xsend_stop(x->xs);
		xsend_free(x->xs);
	}
	if (x->grace != NULL)
		event_free(x->grace);
	if (x->step != NULL)
		event_free(x->step);
	if (x->join != NULL)
		event_free(x->join);
	free(x->failed);
	free(x->members);
	free(x);
}

/* A member leaves a multicast transfer, which goes on without it. */
static void
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

/*
 * A transfer of its own for one machine, to the address its control
 * connection comes from, from package pkg on.
 */
static void
xfer_unicast(struct run *r, struct sched_target *t, const char *addr,
    size_t pkg)
{
	struct xfer	*x;

	x = xcalloc(1, sizeof(*x));
	x->run = r;
	x->path = SCHED_PATH_UNICAST;
	x->n = 1;
	x->members = xcalloc(1, sizeof(*x->members));
	x->members[0] = t;
	snprintf(x->dest, sizeof(x->dest), "%s", addr);
	TAILQ_INSERT_TAIL(&r->xfers, x, entry);
	x->pkg0 = pkg;
	x->pkg = pkg - 1;	/* xfer_next moves to pkg */
	xfer_next(x);
}

/*
 * Members still transferring are out (ev: failed or interrupted, with the
 * reason): recorded first, then their agents are told to stop receiving,
 * so that none waits for a stream that will not come.
 */
static void
xfer_out(struct xfer *x, enum sched_mevent ev, const char *msg)
{
	struct runs		*rs = x->run->runs;
	struct sched_target	*t;
	size_t			 i;

	for (i = 0; i < x->n; i++) {
		t = x->members[i];
		if (t->state != SCHED_M_TRANSFERRING)
			continue;
		sched_report(rs->sched, t, ev, server_now_ms(), msg);
		run_cancel(x->run, t, CTL_CANCEL_ERROR, msg);
	}
}

/* After the last package: members that never reported are interrupted. */
static void
xfer_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct xfer	*x = arg;
	struct runs	*rs = x->run->runs;

	if (x->failed != NULL)
		xfer_out(x, SCHED_EV_FAILED, x->failed);
	else
		xfer_out(x, SCHED_EV_INTERRUPT, "no delivery report from the "
		    "agent after the transfer ended");
	xfer_free(x);
	runs_rearm(rs);
}

/*
 * A unicast receiver that never answers (a firewall dropping the data
 * port, an agent that lost the run): the sender waits for no one else, so
 * rather than stream the package into the void, the machine fails with the
 * reason and its agent is told to stop.
 */
static void
xfer_join_cb(evutil_socket_t fd, short what, void *arg)
{
	struct xfer	*x = arg;
	struct run	*r = x->run;
	struct runs	*rs = r->runs;
	char		 why[256];

	if (x->joined)
		return;
	snprintf(why, sizeof(why), "unicast: no answer from the agent's "
	    "receiver at %s, UDP port %u, within %d s (a firewall on the way "
	    "or on the machine?)", x->dest, r->port, RUN_UNICAST_JOIN_MS / 1000);
	log_warnx("run %s machine %s: %s", r->idstr,
	    x->members[0]->machine->name, why);
	xfer_out(x, SCHED_EV_FAILED, why);
	xfer_free(x);
	runs_rearm(rs);
}

/*
 * The agent verified and extracted a package and now starts its receiver
 * for the next, which its unicast stream already waits for: the join time
 * counts from here, not from the stream's start, so that a large package's
 * verification is not taken for a silent receiver.
 */
static void
xfer_ready_next(struct run *r, struct sched_target *t, size_t pkg)
{
	struct xfer	*x;
	struct timeval	 tv = { RUN_UNICAST_JOIN_MS / 1000, 0 };

	TAILQ_FOREACH(x, &r->xfers, entry)
		if (x->path == SCHED_PATH_UNICAST && x->members[0] == t &&
		    x->pkg == pkg && x->xs != NULL && !x->joined &&
		    x->join != NULL)
			evtimer_add(x->join, &tv);
}

static void
xs_joined(void *arg, const struct xsend_peer_info *p)
{
	struct xfer	*x = arg;

	x->joined = 1;
	if (x->join != NULL)
		evtimer_del(x->join);
}

static void
xs_peer_dropped(void *arg, const struct xsend_peer_info *p)
{
	struct xfer	*x = arg;

	log_info("run %s: receiver %s dropped from %s: %s", x->run->idstr,
	    p->addr, x->dest, p->error != NULL ? p->error : "no reason");
}

/*
 * The group's sender refused a straggler (it fell behind or lost too
 * much): its agent will ask for unicast, and the server's reason, which
 * says how far behind it was, becomes its path_reason.
 */
static void
xs_peer_done(void *arg, const struct xsend_peer_info *p)
{
	struct xfer		*x = arg;
	struct run		*r = x->run;
	struct sched_target	*found = NULL;
	const char		*addr;
	char			 host[64];
	size_t			 i, idx;

	if (p->state != XSP_FAILED || p->error == NULL ||
	    x->path != SCHED_PATH_MULTICAST ||
	    strncmp(p->error, XSEND_STRAGGLER, strlen(XSEND_STRAGGLER)) != 0)
		return;
	/* The receiver's address without its port: the machine. */
	snprintf(host, sizeof(host), "%s", p->addr);
	if (host[0] == '[')
		memmove(host, host + 1, strlen(host));
	host[strcspn(host, "]")] = '\0';
	if (strchr(host, ':') == strrchr(host, ':') && strchr(host, ':'))
		*strrchr(host, ':') = '\0';
	/*
	 * The sender knows the receiver by address and port, the server its
	 * machines by the address of their control connections: a match
	 * that is not unique (machines behind one NAT address) names no one.
	 */
	for (i = 0; i < x->n; i++) {
		addr = control_address(r->runs->srv->control,
		    x->members[i]->machine->name);
		if (addr == NULL || strcmp(addr, host) != 0)
			continue;
		if (found != NULL) {
			log_info("run %s: the multicast sender refused %s, "
			    "which is the address of more than one machine: "
			    "%s", r->idstr, p->addr, p->error);
			return;
		}
		found = x->members[i];
	}
	if (found == NULL)
		return;
	idx = (size_t)(found - r->sr->targets);
	free(r->refused[idx]);
	r->refused[idx] = xstrdup(p->error);
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
	/* Freeing the sender from its own callback is not safe: defer. */
	event_active(x->step, 0, 0);
}

static void
xfer_step_cb(evutil_socket_t fd, short what, void *arg)
{
	xfer_next(arg);
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
 * streams cannot take the uplink from the group.  Every RUN_SHARE_MS the
 * ceiling is split by water-filling: a stream that its own rate control
 * keeps under an even share (a slow link to another segment, a slow
 * receiver) is given what it sends plus a quarter to grow into, and what
 * it leaves is split evenly among the others.  `extra` counts a stream
 * about to start; the return is the ceiling an even share gives it.
 */
static uint64_t
runs_share(struct runs *rs, int extra)
{
	struct run		*r;
	struct xfer		*x;
	struct xsend_stats	 st;
	struct share		*v;
	double			 left, share, even;
	size_t			 n = 0, nact = 0, nwait = 0, i;

	if (rs->rate == 0)
		return (0);
	TAILQ_FOREACH(r, &rs->list, entry)
		TAILQ_FOREACH(x, &r->xfers, entry)
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
	TAILQ_FOREACH(r, &rs->list, entry)
		TAILQ_FOREACH(x, &r->xfers, entry) {
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
	even = (double)rs->rate / (double)(i > 0 ? i : 1);
	if (even < RUN_SHARE_MIN)
		even = RUN_SHARE_MIN;
	for (i = 0; i < nwait; i++)
		xsend_set_rate_max(v[n - 1 - i].xs, (uint64_t)even);
	qsort(v, nact, sizeof(*v), share_cmp);
	left = (double)rs->rate - even * (double)(nwait + (extra ? 1 : 0));
	if (left < 0)
		left = 0;
	for (i = 0; i < nact; i++) {
		share = left / (double)(nact - i);
		if (v[i].rate * 1.25 < share)
			share = v[i].rate * 1.25;
		if (share < RUN_SHARE_MIN)
			share = RUN_SHARE_MIN;
		xsend_set_rate_max(v[i].xs, (uint64_t)share);
		left = left > share ? left - share : 0;
	}
	free(v);
	return ((uint64_t)even);
}

static void
runs_share_cb(evutil_socket_t fd, short what, void *arg)
{
	runs_share(arg, 0);
}

static const struct xsend_cb xs_cb = {
	xs_joined, NULL, NULL, xs_peer_done, xs_peer_dropped, xs_finished,
};

/* Start the next package of a transfer, or end it. */
static void
xfer_next(struct xfer *x)
{
	struct run		*r = x->run;
	struct server		*srv = r->runs->srv;
	struct xsend_conf	 xc;
	struct ctl_msg		 m;
	char			 dest[96], path[4096], err[512];
	size_t			 i;
	struct timeval		 tv = { RUN_DELIVERY_GRACE, 0 }, jtv = { 0, 0 };

	if (x->step == NULL)
		x->step = event_new(srv->base, -1, 0, xfer_step_cb, x);
	if (x->xs != NULL) {
		xsend_stop(x->xs);
		xsend_free(x->xs);
		x->xs = NULL;
	}
	x->pkg++;
	if (x->pkg >= r->npkgs) {
		xfer_release(x);
		x->grace = evtimer_new(srv->base, xfer_grace_cb, x);
		evtimer_add(x->grace, &tv);
		return;
	}
	if (x->dest[0] == '\0') {
		snprintf(err, sizeof(err), "the agent was offline when its "
		    "unicast transfer was to start");
		goto fail;
	}
	if (x->path == SCHED_PATH_UNICAST && !xfer_slot(x)) {
		x->pkg--;	/* this package again when a slot frees */
		return;
	}
	memset(&xc, 0, sizeof(xc));
	snprintf(path, sizeof(path), "%s/%s", srv->state_dir,
	    r->pkgs[x->pkg].file);
	xc.path = path;
	snprintf(dest, sizeof(dest), strchr(x->dest, ':') != NULL ?
	    "[%s]:%u" : "%s:%u", x->dest, r->port);
	if (udp_parse(dest, &xc.group, 0, err, sizeof(err)) == -1)
		goto fail;
	xc.ifindex = r->runs->ifindex;
	xc.rate_max = runs_share(r->runs, 1);
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
		xc.max_wait_ms = RUN_JOIN_WAIT_MS;
		xc.eject_ms = RUN_EJECT_MS;
	} else {
		/*
		 * The one receiver, or nothing is sent: see xfer_join_cb.  For
		 * a later package the agent first verifies the one before,
		 * however long that takes: the join time counts from its
		 * DELIVERED (xfer_ready_next), the grace time until then.
		 */
		xc.max_wait_ms = -1;
		x->joined = 0;
		if (x->join == NULL)
			x->join = evtimer_new(srv->base, xfer_join_cb, x);
		jtv.tv_sec = x->pkg == x->pkg0 ? RUN_UNICAST_JOIN_MS / 1000 :
		    RUN_DELIVERY_GRACE;
		evtimer_add(x->join, &jtv);
	}
	memcpy(xc.key, r->key, sizeof(xc.key));
	/* Tell the members first, so their receivers are up in time. */
	memset(&m, 0, sizeof(m));
	m.type = CTL_START;
	m.u.start.run_id = r->id;
	m.u.start.pkg_index = (uint16_t)x->pkg;
	for (i = 0; i < x->n; i++)
		control_send(srv->control, x->members[i]->machine->name, &m);
	x->xs = xsend_new(srv->base, &xc, &xs_cb, x, err, sizeof(err));
	explicit_bzero(xc.key, sizeof(xc.key));
	if (x->xs == NULL || xsend_start(x->xs) == -1)
		goto fail;
	log_info("run %s: sending package %s to %s (%zu machine%s)", r->idstr,
	    r->pkgs[x->pkg].id, dest, x->n, x->n == 1 ? "" : "s");
	return;
fail:
	explicit_bzero(xc.key, sizeof(xc.key));
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
	x->pkg = r->npkgs;
	xfer_release(x);
	x->grace = evtimer_new(srv->base, xfer_grace_cb, x);
	tv.tv_sec = 0;
	evtimer_add(x->grace, &tv);
}

/* ---- the timer and garbage collection ---- */

static void
runs_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct runs	*rs = arg;

	sched_timeout(rs->sched, server_now_ms());
	runs_rearm(rs);
}

static void
runs_rearm(struct runs *rs)
{
	uint64_t	d, now = server_now_ms();
	struct timeval	tv;

	d = sched_next_deadline(rs->sched);
	if (d == SCHED_NEVER) {
		evtimer_del(rs->timer);
		return;
	}
	d = d > now ? d - now : 0;
	tv.tv_sec = (time_t)(d / 1000);
	tv.tv_usec = (suseconds_t)((d % 1000) * 1000);
	evtimer_add(rs->timer, &tv);
}

/*
 * Free finished runs.  Every machine is in a final state, so a sender
 * still lingering for late repair requests has nobody left to serve.
 */
static void
runs_gc_cb(evutil_socket_t fd, short what, void *arg)
{
	struct runs	*rs = arg;
	struct run	*r, *next;

	for (r = TAILQ_FIRST(&rs->list); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		if (!r->finished)
			continue;
		TAILQ_REMOVE(&rs->list, r, entry);
		run_free(r);
	}
}

/* ---- creating and restoring runs ---- */

static int
parse_addr(const char *s, uint32_t *a)
{
	struct in_addr	in;

	if (inet_pton(AF_INET, s, &in) != 1)
		return (-1);
	*a = ntohl(in.s_addr);
	return (0);
}

static void
run_opts(struct runs *rs, const struct scenario *sc, const char *group,
    struct sched_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_targets = sc->max_targets > 0 ? (uint32_t)sc->max_targets : 0;
	o->max_wait = sc->max_wait >= 0 ? (uint64_t)sc->max_wait * 1000 :
	    SCHED_NEVER;
	o->unicast = sc->unicast;
	o->at_next_boot = sc->at_next_boot;
	o->poweroff_after = sc->poweroff_after;
	o->reboot_after = sc->reboot_after;
	o->on_error = sc->on_error_stop ? SCHED_ON_ERROR_STOP :
	    SCHED_ON_ERROR_CONTINUE;
	if (group != NULL && group[0] != '\0')
		parse_addr(group, &o->group);
	o->port = sc->port != 0 ? sc->port :
	    (uint16_t)conf_int(rs->srv->conf, "data_port");
}

/* The scheduler's view of a machine, synced with the inventory. */
static struct sched_machine *
run_machine(struct runs *rs, const char *name)
{
	struct sched_machine	*m;
	struct db_machine	 dm;
	const char		*addr;
	char			 why[256];

	m = sched_machine_get(rs->sched, name);
	if ((addr = control_address(rs->srv->control, name)) != NULL)
		m->remote = !runs_on_segment(rs, addr, why, sizeof(why));
	if (db_machine_get(rs->srv->db, name, &dm) == 1) {
		if (dm.error != NULL && (m->error == NULL ||
		    strcmp(m->error, dm.error) != 0))
			sched_set_error(rs->sched, m, dm.error,
			    server_now_ms());
		else if (dm.error == NULL && m->error != NULL)
			sched_clear_error(rs->sched, m, server_now_ms());
	}
	db_machine_clear(&dm);
	return (m);
}

static struct run *
run_new(struct runs *rs, uint64_t id, const struct scenario *sc)
{
	struct run	*r;

	r = xcalloc(1, sizeof(*r));
	r->runs = rs;
	r->id = id;
	snprintf(r->idstr, sizeof(r->idstr), "%" PRIu64, id);
	TAILQ_INIT(&r->xfers);
	memcpy(&r->sc, sc, sizeof(r->sc));
	return (r);
}

static int
run_load_packages(struct runs *rs, struct run *r, char *err, size_t errlen)
{
	size_t	i;
	int	rv;

	for (i = 0; i < r->sc.npackages; i++) {
		rv = db_package_get(rs->srv->db, r->sc.packages[i],
		    &r->pkgs[i]);
		if (rv != 1) {
			snprintf(err, errlen, "package %s: %s",
			    r->sc.packages[i], rv == 0 ? "no longer "
			    "registered" : "database error");
			return (-1);
		}
		r->npkgs++;
	}
	return (0);
}

int
runs_create(struct runs *rs, const char *scname, char **machines, size_t n,
    uint64_t *idp, char *err, size_t errlen, int *status)
{
	struct scenario	sc;
	int		rv;

	if ((rv = db_scenario_get(rs->srv->db, scname, &sc)) != 1) {
		snprintf(err, errlen, rv == 0 ? "scenario %s: no such "
		    "scenario" : "database error", scname);
		*status = rv == 0 ? 404 : 500;
		return (-1);
	}
	return (runs_create_sc(rs, &sc, machines, n, idp, err, errlen,
	    status));
}

/*
 * Create and start a run of scenario sc (whose contents the run takes
 * over, also on failure) on the machines.
 */
int
runs_create_sc(struct runs *rs, struct scenario *scp, char **machines,
    size_t n, uint64_t *idp, char *err, size_t errlen, int *status)
{
	struct server		*srv = rs->srv;
	struct scenario		 sc;
	struct db_machine	 dm;
	struct sched_machine	**ms = NULL;
	struct sched_opts	 o;
	struct db_run		 dr;
	struct db_target	*dt = NULL;
	struct run		*r = NULL;
	size_t			 i, j;
	int			 rv;
	uint64_t		 id, now = server_now_ms();

	*status = 500;
	memset(&dr, 0, sizeof(dr));
	memcpy(&sc, scp, sizeof(sc));
	memset(scp, 0, sizeof(*scp));
	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(machines[i], machines[j]) == 0) {
				snprintf(err, errlen, "--machine: %s given "
				    "twice", machines[i]);
				*status = 422;
				goto fail;
			}
		rv = db_machine_get(srv->db, machines[i], &dm);
		j = dm.enroll;
		db_machine_clear(&dm);
		if (rv != 1 || j != DB_ENROLL_ENROLLED) {
			snprintf(err, errlen, "--machine: %s is not an enrolled "
			    "machine (fleetcast machine list)", machines[i]);
			*status = 422;
			goto fail;
		}
	}
	if (db_run_next_id(srv->db, &id) == -1) {
		snprintf(err, errlen, "database error");
		goto fail;
	}
	r = run_new(rs, id, &sc);
	memset(&sc, 0, sizeof(sc));	/* now owned by r */
	if (run_load_packages(rs, r, err, errlen) == -1) {
		*status = 409;
		goto fail;
	}
	ms = xcalloc(n, sizeof(*ms));
	for (i = 0; i < n; i++)
		ms[i] = run_machine(rs, machines[i]);
	run_opts(rs, &r->sc, r->sc.group, &o);
	/* The scheduler checks the group (S9) before anything is stored. */
	if ((r->sr = sched_run_new(rs->sched, r->idstr, &o, ms, n, err,
	    errlen)) == NULL) {
		*status = 409;
		goto fail;
	}
	r->sr->udata = r;
	r->port = r->sr->port != 0 ? r->sr->port : o.port;
	if (r->sc.unicast)
		snprintf(r->group, sizeof(r->group), "none");
	else
		sched_group_str(r->sr->group, r->group, sizeof(r->group));
	if (crypto_random(r->key, sizeof(r->key)) == -1) {
		snprintf(err, errlen, "no random bytes for the data key");
		goto fail;
	}
	r->assigned = xcalloc(n, 1);
	r->fallback = xcalloc(n, 1);
	r->refused = xcalloc(n, sizeof(*r->refused));

	/* Persist the run before any agent or timer acts on it. */
	dr.id = id;
	memcpy(&dr.sc, &r->sc, sizeof(dr.sc));
	snprintf(dr.group, sizeof(dr.group), "%s", r->group);
	dr.port = r->port;
	memcpy(dr.key, r->key, sizeof(dr.key));
	dr.created_at = now;
	dt = xcalloc(n, sizeof(*dt));
	for (i = 0; i < n; i++) {
		dt[i].machine = machines[i];
		dt[i].state = (char *)"assigned";
	}
	dr.targets = dt;
	dr.ntargets = n;
	rv = db_run_create(srv->db, &dr);
	explicit_bzero(dr.key, sizeof(dr.key));
	memset(&dr.sc, 0, sizeof(dr.sc));
	free(dt);
	if (rv == -1) {
		snprintf(err, errlen, "database error");
		goto fail;
	}
	TAILQ_INSERT_TAIL(&rs->list, r, entry);
	log_info("run %s: scenario %s on %zu machine%s, group %s:%u", r->idstr,
	    r->sc.name, n, n == 1 ? "" : "s", r->group, r->port);

	sched_run_start(rs->sched, r->sr, now);
	for (i = 0; i < r->sr->ntargets; i++)
		if (r->sr->targets[i].state == SCHED_M_ASSIGNED)
			run_assign(r, &r->sr->targets[i], i);
	runs_rearm(rs);
	free(ms);
	*idp = id;
	return (0);
fail:
	db_scenario_clear(&sc);
	if (r != NULL)
		run_free(r);
	free(ms);
	return (-1);
}

/* Close a stored run that cannot continue, machine by machine. */
static void
run_close_stored(struct runs *rs, struct db_run *d, uint64_t now)
{
	size_t		 i;
	const char	*st, *reason;

	for (i = 0; i < d->ntargets; i++) {
		st = d->targets[i].state;
		if (strcmp(st, "assigned") == 0 || strcmp(st, "ready") == 0 ||
		    strcmp(st, "queued") == 0) {
			st = "missed";
			reason = "fleetcastd restarted before this machine's "
			    "transfer started";
		} else if (strcmp(st, "transferring") == 0) {
			st = "interrupted";
			reason = "fleetcastd restarted during the transfer";
		} else
			continue;
		db_run_target(rs->srv->db, d->id, d->targets[i].machine, st,
		    NULL, reason, 0, 0, -1, NULL, now);
		log_info("run %" PRIu64 " machine %s: %s: %s", d->id,
		    d->targets[i].machine, st, reason);
	}
	if (db_run_check_finished(rs->srv->db, d->id, now) == 1)
		log_info("run %" PRIu64 ": finished", d->id);
}

int
runs_restore(struct runs *rs)
{
	struct db_run		*dr = NULL, *d;
	size_t			 n, i, j;
	struct sched_machine	**ms;
	struct sched_opts	 o;
	struct run		*r;
	char			 err[512];
	uint64_t		 now = server_now_ms();

	if (db_runs_active(rs->srv->db, &dr, &n) == -1)
		return (-1);
	for (i = 0; i < n; i++) {
		d = &dr[i];
		if (strcmp(d->state, "waiting") != 0 || d->ntargets == 0) {
			run_close_stored(rs, d, now);
			continue;
		}
		r = run_new(rs, d->id, &d->sc);
		memset(&d->sc, 0, sizeof(d->sc));
		snprintf(r->group, sizeof(r->group), "%s", d->group);
		r->port = d->port;
		memcpy(r->key, d->key, sizeof(r->key));
		if (run_load_packages(rs, r, err, sizeof(err)) == -1) {
			log_warnx("run %s: %s; closing it", r->idstr, err);
			run_free(r);
			run_close_stored(rs, d, now);
			continue;
		}
		ms = xcalloc(d->ntargets, sizeof(*ms));
		for (j = 0; j < d->ntargets; j++)
			ms[j] = run_machine(rs, d->targets[j].machine);
		run_opts(rs, &r->sc, r->sc.unicast ? NULL : d->group, &o);
		o.port = d->port;
		r->sr = sched_run_new(rs->sched, r->idstr, &o, ms, d->ntargets,
		    err, sizeof(err));
		free(ms);
		if (r->sr == NULL) {
			log_warnx("run %s: %s; closing it", r->idstr, err);
			run_free(r);
			run_close_stored(rs, d, now);
			continue;
		}
		r->sr->udata = r;
		r->assigned = xcalloc(d->ntargets, 1);
		r->fallback = xcalloc(d->ntargets, 1);
		r->refused = xcalloc(d->ntargets, sizeof(*r->refused));
		TAILQ_INSERT_TAIL(&rs->list, r, entry);
		/* Max wait counts from the admin's command, not from now. */
		sched_run_start_data(rs->sched, r->sr, d->created_at, d);
		log_info("run %s: waiting run restored (%zu machines)",
		    r->idstr, d->ntargets);
	}
	for (i = 0; i < n; i++)
		db_run_clear(&dr[i]);
	free(dr);
	runs_rearm(rs);
	return (0);
}

/* ---- events from agents ---- */

void
runs_machine_online(struct runs *rs, const char *name)
{
	struct run		*r;
	struct sched_target	*t;
	size_t			 idx;

	run_machine(rs, name);
	TAILQ_FOREACH(r, &rs->list, entry) {
		if (r->finished || r->sr == NULL)
			continue;
		if ((t = run_target(r, name, &idx)) == NULL)
			continue;
		if (t->state == SCHED_M_ASSIGNED || t->state == SCHED_M_READY)
			run_assign(r, t, idx);
	}
}

void
runs_machine_offline(struct runs *rs, const char *name)
{
	struct run		*r;
	struct sched_target	*t;

	/*
	 * Nothing is failed here: an agent that reconnects (M3) carries on
	 * and reports; one that lost its work reports interrupted itself.
	 */
	TAILQ_FOREACH(r, &rs->list, entry)
		if (r->sr != NULL && (t = run_target(r, name, NULL)) != NULL &&
		    !sched_mstate_final(t->state))
			log_info("run %s machine %s: offline while %s",
			    r->idstr, name, sched_strmstate(t->state));
}

static enum sched_mevent
report_event(uint8_t st)
{
	switch (st) {
	case CTL_RS_READY:
		return (SCHED_EV_READY);
	case CTL_RS_DELIVERED:
		return (SCHED_EV_DELIVERED);
	case CTL_RS_RUNNING:
		return (SCHED_EV_RUNNING);
	case CTL_RS_PENDING_BOOT:
		return (SCHED_EV_PENDING_BOOT);
	case CTL_RS_SUCCEEDED:
		return (SCHED_EV_SUCCEEDED);
	case CTL_RS_FAILED:
		return (SCHED_EV_FAILED);
	case CTL_RS_ERROR:
		return (SCHED_EV_ERROR);
	default:
		return (SCHED_EV_INTERRUPT);
	}
}

/* A report on a run no longer held in memory (finished, or restarted). */
static void
report_stored(struct runs *rs, const char *name, const struct ctl_msg *m)
{
	char		 stored[32], why[160];
	const char	*st;
	uint64_t	 now = server_now_ms();

	if (db_run_target_state(rs->srv->db, m->u.report.run_id, name, stored,
	    sizeof(stored)) == -1 || stored[0] == '\0') {
		log_info("machine %s: report on unknown run %" PRIu64 " "
		    "ignored", name, m->u.report.run_id);
		return;
	}
	/*
	 * An agent still at work on a run that is over for its machine (it
	 * was offline when the server failed it, and missed the CANCEL):
	 * the CANCEL again, so that it stops waiting for a stream.
	 */
	if (report_in_progress(m) && state_failed(stored)) {
		snprintf(why, sizeof(why), "the run is over for this machine "
		    "(%s on the server; fleetcast run show %" PRIu64 ")",
		    stored, m->u.report.run_id);
		cancel_send(rs, name, m->u.report.run_id, CTL_CANCEL_ERROR,
		    why);
		return;
	}
	/* Only a machine that has the package can still move on. */
	if (strcmp(stored, "delivered") != 0 &&
	    strcmp(stored, "pending_boot") != 0 &&
	    strcmp(stored, "running") != 0) {
		log_debug("machine %s: %s report on run %" PRIu64 " in state "
		    "%s ignored", name, ctl_strrstate(m->u.report.state),
		    m->u.report.run_id, stored);
		return;
	}
	switch (m->u.report.state) {
	case CTL_RS_RUNNING:
	case CTL_RS_SUCCEEDED:
	case CTL_RS_FAILED:
	case CTL_RS_INTERRUPTED:
	case CTL_RS_PENDING_BOOT:
		st = ctl_strrstate(m->u.report.state);
		break;
	default:
		return;
	}
	if (strcmp(st, stored) == 0)
		return;
	db_run_target(rs->srv->db, m->u.report.run_id, name, st, NULL,
	    m->u.report.message[0] != '\0' ? m->u.report.message : NULL,
	    m->u.report.has_exit, m->u.report.exit_status, -1,
	    m->u.report.output[0] != '\0' ? m->u.report.output : NULL, now);
	log_info("run %" PRIu64 " machine %s: %s -> %s", m->u.report.run_id,
	    name, stored, st);
	db_run_check_finished(rs->srv->db, m->u.report.run_id, now);
}

void
runs_report(struct runs *rs, const char *name, const struct ctl_msg *m)
{
	struct run		*r;
	struct sched_target	*t;
	uint64_t		 bytes, now = server_now_ms();
	size_t			 i;
	enum sched_mevent	 ev;

	r = run_find(rs, m->u.report.run_id);
	if (r == NULL || r->finished || r->sr == NULL) {
		report_stored(rs, name, m);
		return;
	}
	if ((t = run_target(r, name, NULL)) == NULL) {
		log_warnx("run %s: report from %s, which is not in it",
		    r->idstr, name);
		return;
	}
	if (m->u.report.pkg_index >= r->npkgs) {
		log_warnx("run %s machine %s: report on package %u of %zu",
		    r->idstr, name, m->u.report.pkg_index, r->npkgs);
		return;
	}
	/* Over for the machine, not for its agent: the CANCEL again. */
	if (report_in_progress(m) && state_failed(sched_strmstate(t->state))) {
		log_info("run %s machine %s: %s report, but the machine is %s: "
		    "cancelling it again", r->idstr, name,
		    ctl_strrstate(m->u.report.state),
		    sched_strmstate(t->state));
		run_cancel(r, t, CTL_CANCEL_ERROR, t->error != NULL ?
		    t->error : sched_strmstate(t->state));
		return;
	}
	if (m->u.report.state == CTL_RS_FALLBACK) {
		run_fallback(r, t, m->u.report.pkg_index, m->u.report.message);
		runs_rearm(rs);
		return;
	}
	/* Progress counts the packages before this one as received. */
	bytes = m->u.report.bytes;
	for (i = 0; i < m->u.report.pkg_index; i++)
		bytes += r->pkgs[i].size;
	if (m->u.report.state == CTL_RS_RECEIVING ||
	    (m->u.report.state == CTL_RS_DELIVERED &&
	    m->u.report.pkg_index + 1u < r->npkgs)) {
		db_run_bytes(rs->srv->db, r->id, name, bytes);
		if (m->u.report.state == CTL_RS_DELIVERED)
			xfer_ready_next(r, t, m->u.report.pkg_index + 1u);
		return;
	}
	/* Ready for a later package: one verified (DELIVERED maybe lost). */
	if (m->u.report.state == CTL_RS_READY &&
	    t->state == SCHED_M_TRANSFERRING)
		xfer_ready_next(r, t, m->u.report.pkg_index);
	if (m->u.report.state == CTL_RS_DELIVERED)
		db_run_bytes(rs->srv->db, r->id, name, bytes);
	ev = report_event(m->u.report.state);
	if (sched_report_data(rs->sched, t, ev, now, m->u.report.message[0] !=
	    '\0' ? m->u.report.message : NULL, m) == -1)
		log_info("run %s machine %s: %s report in state %s ignored",
		    r->idstr, name, ctl_strrstate(m->u.report.state),
		    sched_strmstate(t->state));
	runs_rearm(rs);
}

/*
 * The unicast fallback (MISSION.md S8, doc/protocol.md "Unicast path"): a
 * machine of the multicast segment that cannot receive the group, or whose
 * multicast transfer failed, asks for unicast.  It leaves its multicast
 * transfer (whose sender no longer waits for it) and gets a unicast
 * transfer of its own, from the package it is on, running beside the
 * group's: the agent hears ASSIGN for the unicast path, then START, and
 * its receiver resumes from what its staging file holds.  A machine that
 * asks again while already on unicast (its agent lost the new path, or its
 * unicast stream broke off) gets ASSIGN again and a fresh unicast session,
 * RUN_FALLBACK_MAX times in all: an agent that keeps asking (a bug, or a
 * hostile one rebuilding senders in a loop) then fails with the reason.
 * The agent's words in the reason are cut to RUN_REASON_MAX bytes.
 */
static void
run_fallback(struct run *r, struct sched_target *t, uint16_t pkg,
    const char *msg)
{
	struct runs	*rs = r->runs;
	struct xfer	*x, *found = NULL;
	size_t		 i, idx = (size_t)(t - r->sr->targets);
	const char	*addr;
	char		 why[RUN_REASON_MAX + 128];

	if (t->state != SCHED_M_TRANSFERRING || pkg >= r->npkgs) {
		log_info("run %s machine %s: unicast fallback for package %u "
		    "in state %s ignored", r->idstr, t->machine->name, pkg,
		    sched_strmstate(t->state));
		return;
	}
	if ((addr = control_address(rs->srv->control,
	    t->machine->name)) == NULL)
		return;		/* gone: it asks again when it is back */
	TAILQ_FOREACH(x, &r->xfers, entry)
		for (i = 0; i < x->n && found == NULL; i++)
			if (x->members[i] == t)
				found = x;
	if (r->fallback[idx] >= RUN_FALLBACK_MAX) {
		snprintf(why, sizeof(why), "unicast fallback asked for %d "
		    "times; the last: %.*s", RUN_FALLBACK_MAX + 1,
		    RUN_REASON_MAX, msg != NULL && msg[0] != '\0' ? msg :
		    "no reason given");
		log_warnx("run %s machine %s: %s", r->idstr, t->machine->name,
		    why);
		if (found != NULL && found->n == 1)
			xfer_free(found);
		else if (found != NULL)
			xfer_drop(found, t);
		sched_report(rs->sched, t, SCHED_EV_FAILED, server_now_ms(),
		    why);
		run_cancel(r, t, CTL_CANCEL_ERROR, why);
		runs_rearm(rs);
		return;
	}
	if (found != NULL && found->path == SCHED_PATH_UNICAST) {
		/* Already on unicast: a fresh session from this package. */
		log_info("run %s machine %s: asks for unicast again (package "
		    "%u); restarting its unicast transfer", r->idstr,
		    t->machine->name, pkg);
		xfer_free(found);
	} else if (found != NULL) {
		/* Out of the group: the multicast transfer goes on without. */
		xfer_drop(found, t);
	}
	if (r->refused[idx] != NULL) {
		snprintf(why, sizeof(why), "unicast fallback: %s",
		    r->refused[idx]);
		free(r->refused[idx]);
		r->refused[idx] = NULL;
	} else
		snprintf(why, sizeof(why), "unicast fallback: %.*s",
		    RUN_REASON_MAX, msg != NULL && msg[0] != '\0' ? msg :
		    "asked for by the agent");
	/*
	 * A machine already on unicast keeps the reason it got there (its
	 * subnet, --unicast, the first fallback); a new session is history.
	 */
	if (strcmp(target_path(r, t), "unicast") == 0) {
		if (db_run_note(rs->srv->db, r->id, t->machine->name, why,
		    server_now_ms()) == -1)
			log_warnx("run %s machine %s: could not record the "
			    "new unicast session", r->idstr, t->machine->name);
	} else if (db_run_path(rs->srv->db, r->id, t->machine->name,
	    "unicast", why, server_now_ms(), 1) == -1)
		log_warnx("run %s machine %s: could not record the path",
		    r->idstr, t->machine->name);
	r->fallback[idx]++;
	log_info("run %s machine %s: %s", r->idstr, t->machine->name, why);
	run_assign(r, t, idx);
	xfer_unicast(r, t, addr, pkg);
}

/*
 * The admin's extras (MISSION.md S4 allows them): start a waiting run now
 * with the machines that are ready, or cancel a run, which makes machines
 * not yet started missed and those in flight interrupted, with the reason.
 */
int
runs_control(struct runs *rs, uint64_t id, int cancel, char *err,
    size_t errlen, int *status)
{
	struct run	*r = run_find(rs, id);

	if (r == NULL || r->finished || r->sr == NULL) {
		snprintf(err, errlen, "run %" PRIu64 ": not in flight "
		    "(finished, or closed by a restart)", id);
		*status = 409;
		return (-1);
	}
	if (cancel) {
		log_info("run %s: cancelled by the admin", r->idstr);
		sched_run_close(rs->sched, r->sr, server_now_ms(),
		    "cancelled by the admin");
	} else if (sched_run_start_now(rs->sched, r->sr,
	    server_now_ms()) == -1) {
		snprintf(err, errlen, "run %" PRIu64 ": not waiting for its "
		    "transfer to start", id);
		*status = 409;
		return (-1);
	} else
		log_info("run %s: started now by the admin", r->idstr);
	runs_rearm(rs);
	return (0);
}

/* Is the machine in a run in flight that carries the package? */
int
runs_machine_busy(struct runs *rs, const char *machine, const char *pkg)
{
	struct run		*r;
	struct sched_target	*t;
	size_t			 i;

	TAILQ_FOREACH(r, &rs->list, entry) {
		if (r->finished || r->sr == NULL ||
		    (t = run_target(r, machine, NULL)) == NULL ||
		    sched_mstate_final(t->state))
			continue;
		for (i = 0; i < r->npkgs; i++)
			if (strcmp(r->pkgs[i].id, pkg) == 0)
				return (1);
	}
	return (0);
}

/* The id of a run in flight that sends package id, or 0. */
uint64_t
runs_using_package(struct runs *rs, const char *id)
{
	struct run	*r;
	size_t		 i;

	TAILQ_FOREACH(r, &rs->list, entry) {
		if (r->finished)
			continue;
		for (i = 0; i < r->npkgs; i++)
			if (strcmp(r->pkgs[i].id, id) == 0)
				return (r->id);
	}
	return (0);
}

int
runs_clear_error(struct runs *rs, const char *name, char *err,
    size_t errlen, int *status)
{
	struct sched_machine	*m;
	struct db_machine	 dm;
	int			 rv;

	if ((rv = db_machine_get(rs->srv->db, name, &dm)) != 1) {
		snprintf(err, errlen, rv == 0 ? "machine %s: no such machine" :
		    "database error", name);
		*status = rv == 0 ? 404 : 500;
		return (-1);
	}
	db_machine_clear(&dm);
	if (db_machine_set_error(rs->srv->db, name, NULL) == -1) {
		snprintf(err, errlen, "database error");
		*status = 500;
		return (-1);
	}
	if ((m = sched_machine_find(rs->sched, name)) != NULL &&
	    m->error != NULL)
		sched_clear_error(rs->sched, m, server_now_ms());
	db_event(rs->srv->db, server_now_ms(), "error", 0, name,
	    "scenario execution error cleared");
	log_info("machine %s: error cleared", name);
	runs_rearm(rs);
	return (0);
}

/* ---- segments: who can hear the multicast stream ---- */

/* An address as text to IPv4 (an IPv4-mapped IPv6 address too) or IPv6. */
static int
seg_parse(const char *s, int *family, uint8_t *a)
{
	static const uint8_t	mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };

	if (inet_pton(AF_INET, s, a) == 1) {
		*family = AF_INET;
		return (0);
	}
	if (inet_pton(AF_INET6, s, a) != 1)
		return (-1);
	if (memcmp(a, mapped, sizeof(mapped)) == 0) {
		memmove(a, a + 12, 4);
		*family = AF_INET;
	} else
		*family = AF_INET6;
	return (0);
}

static unsigned
seg_prefixlen(const uint8_t *m, size_t len)
{
	unsigned	n = 0;
	size_t		i;
	uint8_t		b;

	for (i = 0; i < len; i++)
		for (b = m[i]; b != 0; b <<= 1)
			n++;
	return (n);
}

/*
 * Is the machine at addr (where its control connection comes from) on the
 * segment the multicast stream is sent to?  It is when the address lies in
 * the subnet of an address of the sending interface; anything else is
 * behind a router, and multicast does not cross routers without multicast
 * routing, so that machine gets the data by unicast (MISSION.md S8).  Every
 * other interface of the server is beside the point: a machine on the
 * subnet of a management interface would never hear the group.  An agent
 * on the server's own host (loopback) hears the looped-back stream.  why
 * receives the reason, which is the machine's path_reason in the run.
 */
int
runs_on_segment(struct runs *rs, const char *addr, char *why, size_t len)
{
	struct ifaddrs	*ifa, *i;
	uint8_t		 a[16];
	const uint8_t	*b, *m;
	char		 ifname[IF_NAMESIZE] = "", host[INET6_ADDRSTRLEN];
	char		 sub[INET6_ADDRSTRLEN + 8];
	size_t		 k, alen;
	int		 family, local = 0, seen = 0;

	sub[0] = '\0';
	if (seg_parse(addr, &family, a) == -1) {
		snprintf(why, len, "multicast: address %s not understood, "
		    "taken as local", addr);
		return (1);
	}
	if ((family == AF_INET && a[0] == 127) || (family == AF_INET6 &&
	    memcmp(a, &in6addr_loopback, 16) == 0)) {
		snprintf(why, len, "multicast: the agent runs on the server's "
		    "own host (%s)", addr);
		return (1);
	}
	if (getifaddrs(&ifa) == -1) {
		snprintf(why, len, "multicast: the server's interfaces are "
		    "unknown (%s), %s taken as local", strerror(errno), addr);
		return (1);
	}
	alen = family == AF_INET ? 4 : 16;
	for (i = ifa; i != NULL && !local; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_netmask == NULL ||
		    i->ifa_addr->sa_family != family)
			continue;
		if (rs->seg_ifindex != 0 &&
		    if_nametoindex(i->ifa_name) != rs->seg_ifindex)
			continue;
		if (family == AF_INET) {
			b = (const uint8_t *)&((struct sockaddr_in *)
			    i->ifa_addr)->sin_addr;
			m = (const uint8_t *)&((struct sockaddr_in *)
			    i->ifa_netmask)->sin_addr;
		} else {
			b = ((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr.s6_addr;
			m = ((struct sockaddr_in6 *)
			    i->ifa_netmask)->sin6_addr.s6_addr;
		}
		local = 1;
		for (k = 0; k < alen; k++)
			if ((a[k] & m[k]) != (b[k] & m[k]))
				local = 0;
		/* Name the matching address, else the interface's first. */
		if (local || !seen) {
			seen = 1;
			snprintf(ifname, sizeof(ifname), "%s", i->ifa_name);
			if (inet_ntop(family, b, host, sizeof(host)) == NULL)
				snprintf(host, sizeof(host), "?");
			snprintf(sub, sizeof(sub), "%s/%u", host,
			    seg_prefixlen(m, alen));
		}
	}
	freeifaddrs(ifa);
	if (rs->seg_ifindex == 0) {
		snprintf(why, len, "%s: %s is %son the subnet of any interface "
		    "of the server%s%s%s", local ? "multicast" : "unicast", addr,
		    local ? "" : "not ", local ? " (" : "", local ? sub : "",
		    local ? ")" : "");
		return (local);
	}
	if (local)
		snprintf(why, len, "multicast: %s is on the subnet of the "
		    "sending interface %s (%s)", addr, ifname, sub);
	else if (seen)
		snprintf(why, len, "unicast: %s is not on the subnet of the "
		    "sending interface %s (%s); multicast does not cross "
		    "routers", addr, ifname, sub);
	else
		snprintf(why, len, "unicast: the sending interface has no %s "
		    "address, %s cannot hear its multicast", family ==
		    AF_INET ? "IPv4" : "IPv6", addr);
	return (local);
}

/*
 * The interface whose segment hears the multicast stream: the sending
 * interface, else the one the routing table picks for the groups (learnt
 * by routing a datagram socket to the first group of group_range), else 0:
 * every interface counts.
 */
static unsigned
runs_seg_interface(struct runs *rs, uint32_t group)
{
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof(sin);
	struct ifaddrs		*ifa, *i;
	unsigned		 idx = 0;
	int			 fd;

	if (rs->ifindex != 0)
		return (rs->ifindex);
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return (0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(group);
	sin.sin_port = htons(9);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &slen) == -1) {
		close(fd);
		return (0);
	}
	close(fd);
	if (getifaddrs(&ifa) == -1)
		return (0);
	for (i = ifa; i != NULL && idx == 0; i = i->ifa_next)
		if (i->ifa_addr != NULL && i->ifa_addr->sa_family == AF_INET &&
		    ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr ==
		    sin.sin_addr.s_addr)
			idx = if_nametoindex(i->ifa_name);
	freeifaddrs(ifa);
	return (idx);
}

/*
 * The multicast interface: the configured one, else (SPEC.md) the first
 * that is up, multicast-capable and not the loopback; with none of those,
 * the routing table decides.
 */
static unsigned
runs_interface(struct server *srv)
{
	struct ifaddrs	*ifa, *i;
	unsigned	 idx = 0;
	const char	*name;

	if ((name = conf_str(srv->conf, "interface")) != NULL)
		return (if_nametoindex(name));
	if (getifaddrs(&ifa) == -1)
		return (0);
	for (i = ifa; i != NULL && idx == 0; i = i->ifa_next)
		if ((i->ifa_flags & (IFF_UP | IFF_MULTICAST)) ==
		    (IFF_UP | IFF_MULTICAST) && !(i->ifa_flags & IFF_LOOPBACK))
			idx = if_nametoindex(i->ifa_name);
	freeifaddrs(ifa);
	return (idx);
}

struct runs *
runs_new(struct server *srv, char *err, size_t errlen)
{
	struct runs		*rs;
	struct sched_conf	 sc;
	struct timeval		 tv = { 0, RUN_SHARE_MS * 1000 };
	static const struct sched_cb cb = {
		cb_machine_state, cb_machine_error, cb_run_state,
		cb_wave_start,
	};

	rs = xcalloc(1, sizeof(*rs));
	rs->srv = srv;
	TAILQ_INIT(&rs->list);
	TAILQ_INIT(&rs->uc_queue);
	rs->uc_max = (int)conf_int(srv->conf, "max_unicast_streams");
	memset(&sc, 0, sizeof(sc));
	sc.max_concurrent_machines = (uint32_t)conf_int(srv->conf,
	    "max_concurrent_machines");
	sc.on_concurrency_limit = strcmp(conf_str(srv->conf,
	    "on_concurrency_limit"), "error") == 0 ? SCHED_LIMIT_ERROR :
	    SCHED_LIMIT_QUEUE;
	if (sched_parse_group_range(conf_str(srv->conf, "group_range"),
	    &sc.group_base, &sc.group_prefix, err, errlen) == -1 ||
	    server_parse_rate(conf_str(srv->conf, "rate"), &rs->rate, err,
	    errlen) == -1) {
		free(rs);
		return (NULL);
	}
	rs->ifindex = runs_interface(srv);
	if (rs->ifindex != 0)
		log_info("multicast on interface %s", if_indextoname(
		    rs->ifindex, (char[IF_NAMESIZE]){ 0 }));
	else
		log_info("multicast on the interface the routing table "
		    "chooses");
	rs->seg_ifindex = runs_seg_interface(rs, sc.group_base);
	if (rs->seg_ifindex != rs->ifindex && rs->seg_ifindex != 0)
		log_info("multicast segment: the subnets of %s",
		    if_indextoname(rs->seg_ifindex, (char[IF_NAMESIZE]){ 0 }));
	rs->sched = sched_new(&sc, &cb, rs);
	rs->timer = evtimer_new(srv->base, runs_timer_cb, rs);
	rs->gc = event_new(srv->base, -1, 0, runs_gc_cb, rs);
	if (rs->rate > 0) {
		rs->share = event_new(srv->base, -1, EV_PERSIST, runs_share_cb,
		    rs);
		event_add(rs->share, &tv);
	}
	return (rs);
}

void
runs_free(struct runs *rs)
{
	struct run	*r;

	if (rs == NULL)
		return;
	while ((r = TAILQ_FIRST(&rs->list)) != NULL) {
		TAILQ_REMOVE(&rs->list, r, entry);
		run_free(r);
	}
	sched_free(rs->sched);
	event_free(rs->timer);
	event_free(rs->gc);
	if (rs->share != NULL)
		event_free(rs->share);
	free(rs);
}
