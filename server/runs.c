/*
 * Scenario runs: the glue between the inventory, the scheduler (sched.c,
 * which decides when transfers start and who is in error, missed or
 * queued), the agents (ASSIGN, START, CANCEL out; REPORT in) and the
 * transfers (xfer.c, which runs the senders).  The order is always
 * persist, then act: a run and its machines are committed before any
 * agent hears of it, and every state change the scheduler decides is
 * written (with its time and reason) in its callback, before the wave that
 * follows is started.  Which path a machine's data takes is segment.c's
 * rule.
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
#include <netinet/in.h>
#include <arpa/inet.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "conf.h"
#include "log.h"
#include "runs_batch.h"
#include "sched.h"
#include "server.h"
#include "vis.h"
#include "xmalloc.h"

#define RUN_FALLBACK_MAX	3	/* unicast restarts asked per machine */
#define RUN_REASON_MAX		240	/* of an agent's words in a reason */

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
	uint8_t			 fkey[CTL_KEY_LEN];	/* F_run */
	uint8_t			*assigned;	/* per target: ASSIGN sent */
	uint8_t			*fallback;	/* per target: unicast sessions
						   asked for by the agent */
	char			**refused;	/* per target: why the group's
						   sender refused it */
	struct sched_run	*sr;
	struct xfer_run		 xr;		/* its transfers */
	int			 finished;
	TAILQ_ENTRY(run)	 entry;
};
TAILQ_HEAD(run_list, run);

struct runs {
	struct server		*srv;
	struct sched		*sched;
	struct event		*timer;
	struct event		*gc;
	struct run_list		 list;
	struct segment		 seg;		/* who hears the group */
	struct xfer_ctx		*xfers;		/* the runs' transfers */
	struct runs_batch	*reports;	/* one commit per loop pass */
};

static void	runs_rearm(struct runs *);
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
	size_t		 i;

	xfer_run_clear(&r->xr);
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
	explicit_bzero(r->fkey, sizeof(r->fkey));
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
	/* Its own id and key, to this machine only (over its TLS link). */
	xfer_member(&r->xr, t->machine->name, &m.u.assign.member_id,
	    m.u.assign.member_key);
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
	explicit_bzero(m.u.assign.member_key, sizeof(m.u.assign.member_key));
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
 * The reason a machine with a sticky error (S6) is refused in a new run:
 * the error, the run that caused it and the command that clears it.
 */
static void
refused_reason(struct runs *rs, const struct sched_machine *m, char *buf,
    size_t len)
{
	uint64_t	run = 0;

	if (db_machine_error_run(rs->srv->db, m->name, m->error, &run) == 0 &&
	    run != 0)
		snprintf(buf, len, "in error since run %" PRIu64 " (%s); clear "
		    "it with fleetcast machine clear-error %s", run, m->error,
		    m->name);
	else
		snprintf(buf, len, "in error (%s); clear it with fleetcast "
		    "machine clear-error %s", m->error, m->name);
}

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
	char			 stored[32], why[512], refused[512];
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
	if (c->ev == SCHED_EV_REFUSE && t->machine->error != NULL) {
		/* S6: say since when, and what clears it. */
		refused_reason(rs, t->machine, refused, sizeof(refused));
		error = refused;
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
	size_t		 i;
	const char	*addr;

	if (w->path == SCHED_PATH_MULTICAST) {
		xfer_multicast(rs->xfers, &r->xr, w->members, w->n, r->group);
		return;
	}
	/* Unicast: one stream per machine, to the address it came from. */
	for (i = 0; i < w->n; i++) {
		addr = control_address(rs->srv->control,
		    w->members[i]->machine->name);
		/* Ready, then gone before its stream could start: fails. */
		xfer_unicast(rs->xfers, &r->xr, w->members[i], addr != NULL ?
		    addr : "", 0);
	}
}

/* ---- what the transfers tell (xfer.c) ---- */

static void
xcb_start(void *arg, struct xfer_run *xr, struct sched_target *t,
    size_t pkg, uint64_t session)
{
	struct runs	*rs = arg;
	struct run	*r = t->run->udata;
	struct ctl_msg	 m;

	memset(&m, 0, sizeof(m));
	m.type = CTL_START;
	m.u.start.run_id = r->id;
	m.u.start.pkg_index = (uint16_t)pkg;
	m.u.start.session = session;
	control_send(rs->srv->control, t->machine->name, &m);
}

/*
 * A member out of its transfer: recorded first, then its agent is told to
 * stop receiving.  One that reported on its own meanwhile is left alone.
 */
static void
xcb_out(void *arg, struct xfer_run *xr, struct sched_target *t, int failed,
    const char *msg)
{
	struct runs	*rs = arg;

	if (t->state != SCHED_M_TRANSFERRING)
		return;
	sched_report(rs->sched, t, failed ? SCHED_EV_FAILED :
	    SCHED_EV_INTERRUPT, server_now_ms(), msg);
	run_cancel(t->run->udata, t, CTL_CANCEL_ERROR, msg);
}

static void
xcb_note(void *arg, struct xfer_run *xr, struct sched_target *t,
    const char *why)
{
	struct runs	*rs = arg;
	struct run	*r = t->run->udata;

	db_run_note(rs->srv->db, r->id, t->machine->name, why,
	    server_now_ms());
}

/* Kept until the agent asks for unicast: its path_reason. */
static void
xcb_refused(void *arg, struct xfer_run *xr, struct sched_target *t,
    const char *why)
{
	struct run	*r = t->run->udata;
	size_t		 idx = (size_t)(t - r->sr->targets);

	free(r->refused[idx]);
	r->refused[idx] = xstrdup(why);
}

static void
xcb_ended(void *arg, struct xfer_run *xr)
{
	runs_rearm(arg);
}

static const char *
xcb_address(void *arg, const char *name)
{
	struct runs	*rs = arg;

	return (control_address(rs->srv->control, name));
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

/* The scheduler's options for a run of sc; the port defaults to data_port. */
static void
run_opts(struct runs *rs, const struct scenario *sc, const char *group,
    struct sched_opts *o)
{
	scenario_sched_opts(sc, group,
	    (uint16_t)conf_int(rs->srv->conf, "data_port"), o);
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
	if (crypto_random(r->key, sizeof(r->key)) == -1 ||
	    crypto_random(r->fkey, sizeof(r->fkey)) == -1) {
		snprintf(err, errlen, "no random bytes for the run's keys");
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
	memcpy(dr.fkey, r->fkey, sizeof(dr.fkey));
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
	explicit_bzero(dr.fkey, sizeof(dr.fkey));
	memset(&dr.sc, 0, sizeof(dr.sc));
	free(dt);
	if (rv == -1) {
		snprintf(err, errlen, "database error");
		goto fail;
	}
	xfer_run_init(&r->xr, r->id, r->idstr, r->pkgs, r->npkgs, r->key,
	    r->fkey, r->port);
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
		memcpy(r->fkey, d->fkey, sizeof(r->fkey));
		/* Stored before feedback keys: one now, committed first. */
		if (!d->has_fkey && (crypto_random(r->fkey,
		    sizeof(r->fkey)) == -1 ||
		    db_run_set_fkey(rs->srv->db, d->id, r->fkey) == -1)) {
			log_warnx("run %s: cannot store its feedback key; "
			    "closing it", r->idstr);
			run_free(r);
			run_close_stored(rs, d, now);
			continue;
		}
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
		xfer_run_init(&r->xr, r->id, r->idstr, r->pkgs, r->npkgs,
		    r->key, r->fkey, r->port);
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

	/* What the machine reported before it came back comes first. */
	runs_batch_flush(rs->reports);
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

	runs_batch_flush(rs->reports);
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

/* The bytes of the run's first n packages. */
static uint64_t
run_pkgs_size(const struct run *r, size_t n)
{
	uint64_t	bytes = 0;
	size_t		i;

	for (i = 0; i < n; i++)
		bytes += r->pkgs[i].size;
	return (bytes);
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
	db_run_finish_late(rs->srv->db, m->u.report.run_id, now);
}

static void
runs_report_clean(void *arg, const char *name, const struct ctl_msg *m)
{
	struct runs		*rs = arg;
	struct run		*r;
	struct sched_target	*t;
	uint64_t		 bytes, now = server_now_ms();
	enum sched_mevent	 ev;
	struct xfer		*found;
	char			 why[160];

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
	bytes = m->u.report.bytes + run_pkgs_size(r, m->u.report.pkg_index);
	if (m->u.report.state == CTL_RS_RECEIVING ||
	    (m->u.report.state == CTL_RS_DELIVERED &&
	    m->u.report.pkg_index + 1u < r->npkgs)) {
		/* A unicast join the agent waits for: what it saw. */
		if (m->u.report.state == CTL_RS_RECEIVING &&
		    strncmp(m->u.report.message, "join: ", 6) == 0)
			xfer_hint(&r->xr, t, m->u.report.message);
		db_run_bytes(rs->srv->db, r->id, name, bytes);
		if (m->u.report.state == CTL_RS_DELIVERED)
			xfer_ready(&r->xr, t, m->u.report.pkg_index + 1u);
		return;
	}
	if (m->u.report.state == CTL_RS_READY &&
	    t->state == SCHED_M_TRANSFERRING) {
		/* Ready for a later package: one verified (DELIVERED maybe
		 * lost). */
		xfer_ready(&r->xr, t, m->u.report.pkg_index);
		/* Back on a new connection, which the START may have missed. */
		if (xfer_again(&r->xr, t, m->u.report.pkg_index) == -1) {
			snprintf(why, sizeof(why), "the agent was ready for "
			    "package %u, which is no longer being sent to it "
			    "(its START was lost with a connection)",
			    m->u.report.pkg_index);
			log_info("run %s machine %s: %s", r->idstr, name, why);
			run_fallback(r, t, m->u.report.pkg_index, why);
			runs_rearm(rs);
		}
		return;
	}
	if (m->u.report.state == CTL_RS_DELIVERED)
		db_run_bytes(rs->srv->db, r->id, name, bytes);
	ev = report_event(m->u.report.state);
	if (t->state == SCHED_M_TRANSFERRING && (ev == SCHED_EV_PENDING_BOOT ||
	    ev == SCHED_EV_RUNNING || ev == SCHED_EV_SUCCEEDED)) {
		/*
		 * Past delivered on the agent: its DELIVERED went with a
		 * connection, and what it says again after reconnecting is
		 * where it is now (agent/run_report.c).  Delivered first.
		 */
		log_info("run %s machine %s: %s report while transferring: "
		    "the DELIVERED before it was lost; taken as delivered",
		    r->idstr, name, ctl_strrstate(m->u.report.state));
		db_run_bytes(rs->srv->db, r->id, name, run_pkgs_size(r,
		    r->npkgs));
		sched_report(rs->sched, t, SCHED_EV_DELIVERED, now, NULL);
		/* Nothing more to send it (a unicast stream is freed). */
		if (t->state != SCHED_M_TRANSFERRING &&
		    (found = xfer_find(&r->xr, t)) != NULL)
			xfer_drop(found, t);
	}
	if (sched_report_data(rs->sched, t, ev, now, m->u.report.message[0] !=
	    '\0' ? m->u.report.message : NULL, m) == -1)
		log_info("run %s machine %s: %s report in state %s ignored",
		    r->idstr, name, ctl_strrstate(m->u.report.state),
		    sched_strmstate(t->state));
	runs_rearm(rs);
}

/*
 * A report from an agent.  Its message and output are the agent's words:
 * escaped here, once, before anything logs or stores them (vis.h), so
 * that an agent cannot forge log lines or send escape sequences to the
 * terminal of an admin reading `fleetcast run show`.  It is handled with
 * the others that arrived in the same pass of the loop, in one
 * transaction (runs_batch.c).
 */
void
runs_report(struct runs *rs, const char *name, const struct ctl_msg *m)
{
	struct ctl_msg	 clean = *m;

	clean.u.report.message = vis_strdup(m->u.report.message, 0);
	clean.u.report.output = vis_strdup(m->u.report.output, VIS_KEEP_NL);
	runs_batch_add(rs->reports, name, &clean);
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
	struct xfer	*found;
	size_t		 idx = (size_t)(t - r->sr->targets);
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
	found = xfer_find(&r->xr, t);
	if (r->fallback[idx] >= RUN_FALLBACK_MAX) {
		snprintf(why, sizeof(why), "unicast fallback asked for %d "
		    "times; the last: %.*s", RUN_FALLBACK_MAX + 1,
		    RUN_REASON_MAX, msg != NULL && msg[0] != '\0' ? msg :
		    "no reason given");
		log_warnx("run %s machine %s: %s", r->idstr, t->machine->name,
		    why);
		if (found != NULL)
			xfer_drop(found, t);	/* the last member: freed */
		sched_report(rs->sched, t, SCHED_EV_FAILED, server_now_ms(),
		    why);
		run_cancel(r, t, CTL_CANCEL_ERROR, why);
		runs_rearm(rs);
		return;
	}
	if (found != NULL && xfer_path(found) == SCHED_PATH_UNICAST) {
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
	xfer_unicast(rs->xfers, &r->xr, t, addr, pkg);
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
	struct run	*r;
	json_t		*j;

	/* The admin acts on what the machines reported until now. */
	runs_batch_flush(rs->reports);
	r = run_find(rs, id);
	if (r == NULL || r->finished || r->sr == NULL) {
		/* Say which: no such run, finished, or closed by a restart. */
		j = db_runs_json(rs->srv->db, (int64_t)id);
		*status = j == NULL ? 404 : 409;
		if (j == NULL)
			snprintf(err, errlen, "run %" PRIu64 ": no such run", id);
		else if (json_is_string(json_object_get(j, "state")) &&
		    strcmp(json_string_value(json_object_get(j, "state")),
		    "finished") == 0)
			snprintf(err, errlen, "run %" PRIu64 " is finished", id);
		else
			snprintf(err, errlen, "run %" PRIu64 ": not in flight "
			    "(closed by a restart)", id);
		json_decref(j);
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
runs_clear_error(struct runs *rs, const char *name, int *had, char *err,
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
	*had = dm.error != NULL;
	db_machine_clear(&dm);
	if (!*had)
		return (0);
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

/*
 * The segment rule (segment.c), under the name the control channel knows
 * it by: the inventory's segment of a machine is its path in a run.
 */
int
runs_on_segment(struct runs *rs, const char *addr, char *why, size_t len)
{
	return (segment_local(&rs->seg, addr, why, len));
}

struct runs *
runs_new(struct server *srv, char *err, size_t errlen)
{
	struct runs		*rs;
	struct sched_conf	 sc;
	struct xfer_conf	 xc;
	static const struct sched_cb cb = {
		cb_machine_state, cb_machine_error, cb_run_state,
		cb_wave_start,
	};
	static const struct xfer_cb xcb = {
		xcb_start, xcb_out, xcb_note, xcb_refused, xcb_ended,
		xcb_address,
	};

	rs = xcalloc(1, sizeof(*rs));
	rs->srv = srv;
	TAILQ_INIT(&rs->list);
	memset(&xc, 0, sizeof(xc));
	xc.state_dir = srv->state_dir;
	xc.max_streams = (int)conf_int(srv->conf, "max_unicast_streams");
	memset(&sc, 0, sizeof(sc));
	sc.max_concurrent_machines = (uint32_t)conf_int(srv->conf,
	    "max_concurrent_machines");
	sc.on_concurrency_limit = strcmp(conf_str(srv->conf,
	    "on_concurrency_limit"), "error") == 0 ? SCHED_LIMIT_ERROR :
	    SCHED_LIMIT_QUEUE;
	if (sched_group_parse_range(conf_str(srv->conf, "group_range"),
	    &sc.group_base, &sc.group_prefix, err, errlen) == -1 ||
	    server_parse_rate(conf_str(srv->conf, "rate"), &xc.rate, err,
	    errlen) == -1) {
		free(rs);
		return (NULL);
	}
	segment_init(&rs->seg, srv->conf, sc.group_base);
	rs->sched = sched_new(&sc, &cb, rs);
	rs->timer = evtimer_new(srv->base, runs_timer_cb, rs);
	rs->gc = event_new(srv->base, -1, 0, runs_gc_cb, rs);
	xc.ifindex = rs->seg.ifindex;
	rs->xfers = xfer_ctx_new(srv->base, &xc, &xcb, rs);
	rs->reports = runs_batch_new(srv->base, srv->db, runs_report_clean, rs);
	return (rs);
}

void
runs_free(struct runs *rs)
{
	struct run	*r;

	if (rs == NULL)
		return;
	runs_batch_free(rs->reports);
	while ((r = TAILQ_FIRST(&rs->list)) != NULL) {
		TAILQ_REMOVE(&rs->list, r, entry);
		run_free(r);
	}
	sched_free(rs->sched);
	event_free(rs->timer);
	event_free(rs->gc);
	xfer_ctx_free(rs->xfers);
	free(rs);
}

/* The transfers' counts, for GET /metrics. */
void
runs_xfer_totals(struct runs *rs, struct xfer_totals *t)
{
	xfer_totals(rs->xfers, t);
}
