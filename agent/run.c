/*
 * Runs: what the agent does with each scenario run the server assigns to
 * it, as one explicit state machine per run (run_fsm, states in
 * enum run_state).  ASSIGN → checks (signature of every manifest against
 * trusted_keys, next-boot update in progress, applicability, free space,
 * the next-boot cap) → READY → per package START → receive with the
 * transport engine into the run's root-only staging directory → verify
 * the package file and extract it (in a child process, so that the loop
 * keeps beating) → DELIVERED → run the executables in order now, or queue
 * the run for the next boot → FINISHED (outcome reported) → DONE (the
 * server has processed the report).
 *
 * Every transition is written to the database before the agent acts on
 * it, so that a restart at any point continues from the last state: a
 * receiver resumes its staging file, a package whose executable had been
 * started is reported interrupted and not run twice (unless it is marked
 * idempotent), and unacknowledged reports are sent again.
 *
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
 * back online, as it does after a restart.
 *
 * The same module applies the next-boot queue after a restart, one run
 * after the other, and runs the reboot / power-off commands once nothing
 * else is in flight and the server has the reports that precede them.
 */
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "conf.h"
#include "ctl.h"
#include "log.h"
#include "udp.h"
#include "xmalloc.h"
#include "xrecv.h"
#include "mono.h"

#define RUN_PROGRESS_MS		1000	/* at most one receiving report */
#define RUN_VERIFY_TIMEOUT	3600	/* s for verify + extract */
#define RUN_HOOK_TIMEOUT	120	/* s for reboot/poweroff commands */
#define RUN_HOOK_WAIT		10	/* s to wait for reports before it */
#define RUN_KEEP_DONE		(30 * 24 * 3600)	/* history, seconds */
#define RUN_STALE_WAIT		(24 * 3600)	/* ASSIGNED/READY forgotten */
#define RUN_PROBE_MS		2000	/* START to a joined multicast session */
#define RUN_FALLBACK_WAIT	30	/* s for the server to reroute us */

enum run_event {
	RUN_EV_ASSIGN,		/* the server assigned the run (again) */
	RUN_EV_START,		/* the transfer of a package starts */
	RUN_EV_CANCEL,		/* the server took the machine out */
	RUN_EV_RECEIVED,	/* the receiver ended: ok or error */
	RUN_EV_VERIFIED,	/* verify + extract ended: ok or error */
	RUN_EV_EXECUTED,	/* a package's executable ended */
	RUN_EV_RESUME,		/* the agent restarted: carry on */
	RUN_EV_BOOT,		/* its turn in the next-boot queue */
	RUN_EV_SYNCED,		/* the server processed our reports */
	RUN_EV_ONLINE,		/* connected again: say where we are */
	RUN_EV_PROBE,		/* no multicast session joined in time */
	RUN_EV_REROUTE_LATE,	/* the server did not reroute us in time */
};

/* What an event carries. */
struct run_evdata {
	const struct ctl_msg		*msg;
	int				 ok;
	const char			*error;
	const struct exec_result	*res;
};

struct run {
	struct run_rec		*rec;
	struct pkg_manifest	*m;		/* rec->npkgs, when verified */
	char			*dir;		/* staging/<run id> */
	struct xrecv		*xr;
	char			*xr_out;	/* xrecv keeps this pointer */
	struct exec_job		*job;		/* verify child or package */
	int			 recv_ok;	/* deferred receiver result */
	int			 recv_fatal;	/* no other path would help */
	char			*recv_err;
	struct event		*ev_defer;
	struct event		*ev_probe;	/* probe, then reroute wait */
	int			 locked;	/* the receiver joined a session */
	int			 fallback;	/* asked for unicast: package + 1 */
	int			 fallback_unsent; /* that REPORT did not go out */
	int			 rerouted;	/* moved to unicast: package + 1 */
	int			 resumed;	/* restarted in it: package + 1 */
	char			*fallback_why;
	int			 start_next;	/* START during a verify */
	int			 draining;	/* applied from the queue */
	uint64_t		 sync_seq;	/* awaiting this ack */
	uint64_t		 last_progress;
	TAILQ_ENTRY(run)	 entry;
};

static TAILQ_HEAD(, run)	 runs = TAILQ_HEAD_INITIALIZER(runs);
static struct run		*drain_run;
static int			 drain_started;
static struct event		*ev_drain;
static struct exec_job		*hook_job;
static struct event		*ev_hook;
static time_t			 hook_wait_until;

static void	run_fsm(struct run *, enum run_event, struct run_evdata *);
static void	run_resume(struct run *);
static void	run_hook_check(void);
static void	run_drain_later(void);
static void	run_probe_cb(evutil_socket_t, short, void *);

static const char *run_states[] = {
	"assigned", "ready", "receiving", "delivered", "queued", "running",
	"finished", "done",
};

const char *
run_strstate(int s)
{
	if (s < 0 || s > RUN_DONE)
		return ("?");
	return (run_states[s]);
}


static struct run *
run_find(uint64_t id)
{
	struct run	*r;

	TAILQ_FOREACH(r, &runs, entry)
		if (r->rec->run_id == id)
			return (r);
	return (NULL);
}

static const char *
run_pkgfile(struct run *r, size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "%s/pkg%zu.fcpkg", r->dir, i);
	return (buf);
}

static const char *
run_pkgdir(struct run *r, size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "%s/pkg%zu", r->dir, i);
	return (buf);
}

static void
run_free(struct run *r)
{
	size_t	i;

	if (r->xr != NULL) {
		xrecv_stop(r->xr);
		xrecv_free(r->xr);
	}
	free(r->xr_out);
	if (r->job != NULL)
		exec_cancel(r->job);
	if (r->ev_defer != NULL)
		event_free(r->ev_defer);
	if (r->ev_probe != NULL)
		event_free(r->ev_probe);
	free(r->fallback_why);
	if (r->m != NULL) {
		for (i = 0; i < r->rec->npkgs; i++)
			pkg_manifest_free(&r->m[i]);
		free(r->m);
	}
	if (drain_run == r)
		drain_run = NULL;
	free(r->recv_err);
	free(r->dir);
	state_run_free(r->rec);
	free(r);
}

/* Persistence. */

static int
run_save(struct run *r, char *err, size_t errlen)
{
	r->rec->updated_at = (int64_t)time(NULL);
	return (state_run_update(agent->state, r->rec, err, errlen));
}

/*
 * The one way a run changes state: stored first, then logged.  On a
 * failed write (a full disk) the state in memory goes back as well, and
 * the caller reports the error.
 */
static int
run_set_state(struct run *r, int ns, char *err, size_t errlen)
{
	int	os = r->rec->state;

	r->rec->state = ns;
	if (run_save(r, err, errlen) == -1) {
		r->rec->state = os;
		log_warnx("run %" PRIu64 ": %s -> %s not stored: %s",
		    r->rec->run_id, run_strstate(os), run_strstate(ns), err);
		return (-1);
	}
	if (os != ns)
		log_info("run %" PRIu64 ": %s -> %s", r->rec->run_id,
		    run_strstate(os), run_strstate(ns));
	return (0);
}

/* Reports. */

/* -1: offline, the report was not sent (the caller may keep it). */
static int
run_report(struct run *r, int rstate, uint16_t idx, uint64_t bytes,
    int has_exit, int32_t exit_status, const char *msg, const char *output)
{
	struct ctl_msg	m;

	memset(&m, 0, sizeof(m));
	m.type = CTL_REPORT;
	m.u.report.run_id = r->rec->run_id;
	m.u.report.state = (uint8_t)rstate;
	m.u.report.pkg_index = idx;
	m.u.report.bytes = bytes;
	m.u.report.has_exit = has_exit;
	m.u.report.exit_status = exit_status;
	m.u.report.message = (char *)(msg != NULL ? msg : "");
	m.u.report.output = (char *)(output != NULL ? output : "");
	if (conn_send(agent->conn, &m) == -1)
		return (-1);
	log_debug("run %" PRIu64 ": reported %s (package %u)",
	    r->rec->run_id, ctl_strrstate(rstate), idx);
	return (0);
}

/* Report, then learn when the server has it (RUN_EV_SYNCED). */
static void
run_report_sync(struct run *r, int rstate, uint16_t idx, int has_exit,
    int32_t exit_status, const char *msg, const char *output)
{
	(void)run_report(r, rstate, idx, 0, has_exit, exit_status, msg,
	    output);
	r->sync_seq = conn_sync(agent->conn);
}

/* The final report, from what is stored. */
static void
run_report_outcome(struct run *r)
{
	struct run_pkg	*p = NULL;
	size_t		 i;

	/* The package that decided the outcome gives exit status and output. */
	for (i = 0; i < r->rec->npkgs; i++) {
		if (r->rec->pkgs[i].state == RUN_P_FAILED ||
		    r->rec->pkgs[i].state == RUN_P_INTERRUPTED) {
			p = &r->rec->pkgs[i];
			break;
		}
		if (r->rec->pkgs[i].state == RUN_P_SUCCEEDED)
			p = &r->rec->pkgs[i];
	}
	if (p != NULL && r->rec->outcome != CTL_RS_ERROR)
		run_report_sync(r, r->rec->outcome, (uint16_t)(p -
		    r->rec->pkgs), p->has_exit, p->exit_status,
		    r->rec->message, p->output);
	else
		run_report_sync(r, r->rec->outcome, 0, 0, 0, r->rec->message,
		    NULL);
}

/*
 * A queued run: pending_boot for an at-next-boot scenario (S10); a run
 * that waits for the reboot its exclusive package needs is, for the
 * server, already running (its scenario was not deferred by the admin).
 */
static void
run_report_queued(struct run *r)
{
	run_report_sync(r, (r->rec->options & CTL_OPT_AT_NEXT_BOOT) ?
	    CTL_RS_PENDING_BOOT : CTL_RS_RUNNING, 0, 0, 0, r->rec->message,
	    NULL);
}

/* Say again where the run is (a repeated ASSIGN, a reconnection). */
static void
run_report_current(struct run *r)
{
	uint16_t	i = r->rec->pkg_index;

	switch (r->rec->state) {
	case RUN_ASSIGNED:
		break;
	case RUN_READY:
		run_report(r, CTL_RS_READY, i, 0, 0, 0, NULL, NULL);
		break;
	case RUN_RECEIVING:
		run_report(r, CTL_RS_RECEIVING, i, r->rec->pkgs[i].bytes, 0, 0,
		    NULL, NULL);
		break;
	case RUN_DELIVERED:
		run_report(r, CTL_RS_DELIVERED, (uint16_t)(r->rec->npkgs - 1),
		    r->rec->pkgs[r->rec->npkgs - 1].size, 0, 0, NULL, NULL);
		break;
	case RUN_QUEUED:
		run_report_queued(r);
		break;
	case RUN_RUNNING:
		run_report(r, CTL_RS_RUNNING, i, 0, 0, 0, NULL, NULL);
		break;
	case RUN_FINISHED:
	case RUN_DONE:
		if (r->rec->reported)
			break;
		run_report_outcome(r);
		break;
	}
}

/* Ending a run. */

/* Stop the receiver: r->xr is cleared first, so its last callback is moot. */
static void
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
run_stop_work(struct run *r)
{
	run_recv_stop(r);
	if (r->job != NULL) {
		exec_cancel(r->job);
		r->job = NULL;
	}
}

/*
 * What the scenario asks for once the run has ended: reboot after a
 * successful run (scenario option) or after a package that needs it, and
 * power off at the end of the scenario, except for at-next-boot runs,
 * which power off right after delivery instead (S11).
 */
static const char *
run_hook_for(struct run *r)
{
	size_t	i;
	int	reboot = 0;

	if ((r->rec->options & CTL_OPT_POWEROFF_AFTER) &&
	    !(r->rec->options & CTL_OPT_AT_NEXT_BOOT))
		return ("poweroff");
	if ((r->rec->options & CTL_OPT_REBOOT_AFTER) &&
	    r->rec->outcome == CTL_RS_SUCCEEDED)
		reboot = 1;
	for (i = 0; r->m != NULL && i < r->rec->npkgs; i++)
		if (r->rec->pkgs[i].state == RUN_P_SUCCEEDED &&
		    (r->m[i].flags & PKG_F_REBOOT))
			reboot = 1;
	return (reboot ? "reboot" : NULL);
}

/* Record a hook in the same transaction as the state that asks for it. */
static int
run_hook_want(const char *kind, char *err, size_t errlen)
{
	char	*cur, val[128];

	if (kind == NULL)
		return (0);
	if (state_meta_get(agent->state, "hook", &cur, err, errlen) == -1)
		return (-1);
	/* Power off wins: the next start is a boot anyway. */
	if (cur != NULL && strncmp(cur, "poweroff ", 9) == 0 &&
	    strcmp(kind, "reboot") == 0) {
		free(cur);
		return (0);
	}
	free(cur);
	snprintf(val, sizeof(val), "%s %s", kind, agent->boot_id);
	return (state_meta_set(agent->state, "hook", val, err, errlen));
}

/*
 * The run has its outcome: store it (with the queue entry gone and the
 * hook it asks for, in one transaction), free the staging area, report.
 * quiet: the server already knows (it cancelled us).
 */
static void
run_finish(struct run *r, int outcome, int quiet, const char *fmt, ...)
{
	char		 msg[CTL_MAX_STR], err[512];
	va_list		 ap;
	const char	*hook;
	int		 os = r->rec->state;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	run_stop_work(r);
	free(r->rec->message);
	r->rec->message = xstrdup(msg);
	r->rec->outcome = outcome;
	r->rec->reported = quiet;
	hook = quiet ? NULL : run_hook_for(r);
	if (state_begin(agent->state, err, sizeof(err)) == -1)
		goto unstored;
	if (pending_remove(agent->state, r->rec->run_id, err,
	    sizeof(err)) == -1 ||
	    run_hook_want(hook, err, sizeof(err)) == -1 ||
	    run_set_state(r, quiet ? RUN_DONE : RUN_FINISHED, err,
	    sizeof(err)) == -1) {
		state_rollback(agent->state);
		goto unstored;
	}
	if (state_commit(agent->state, err, sizeof(err)) == -1) {
unstored:
		/*
		 * Nothing could be stored (a full disk): the server still
		 * hears the outcome, and the agent forgets the run in memory
		 * so that a restart finds the last state that was stored.
		 */
		log_warnx("run %" PRIu64 ": %s: %s", r->rec->run_id,
		    ctl_strrstate(outcome), msg);
		snprintf(msg, sizeof(msg), "%s (and the outcome could not be "
		    "stored: %s)", r->rec->message, err);
		run_report(r, outcome == CTL_RS_SUCCEEDED ? CTL_RS_FAILED :
		    outcome, 0, 0, 0, 0, msg, NULL);
		r->rec->state = os;
		if (r->draining) {
			drain_run = NULL;
			run_drain_later();
		}
		TAILQ_REMOVE(&runs, r, entry);
		run_free(r);
		run_hook_check();
		return;
	}
	if (msg[0] != '\0')
		log_info("run %" PRIu64 ": %s: %s", r->rec->run_id,
		    ctl_strrstate(outcome), msg);
	else
		log_info("run %" PRIu64 ": %s", r->rec->run_id,
		    ctl_strrstate(outcome));
	(void)pkg_remove_tree(r->dir);
	if (r->draining) {
		r->draining = 0;
		drain_run = NULL;
		run_drain_later();
	}
	if (!quiet)
		run_report_outcome(r);
	else {
		TAILQ_REMOVE(&runs, r, entry);
		run_free(r);
	}
	run_hook_check();
}

/* Checks before READY. */

static int
run_decode(struct run *r, char *err, size_t errlen)
{
	struct run_pkg	*p;
	size_t		 i;
	char		 e2[512];

	if (r->m != NULL)
		return (0);
	r->m = xcalloc(r->rec->npkgs, sizeof(*r->m));
	for (i = 0; i < r->rec->npkgs; i++) {
		p = &r->rec->pkgs[i];
		pkg_manifest_init(&r->m[i]);
		if (pkg_manifest_verify(&r->m[i], p->manifest, p->manifest_len,
		    p->signature, (const uint8_t (*)[ED25519_PUB_LEN])
		    agent->keys, agent->nkeys, e2, sizeof(e2)) == -1) {
			snprintf(err, errlen, "%s: %s", p->id, e2);
			goto fail;
		}
		if (strcmp(r->m[i].id, p->id) != 0) {
			snprintf(err, errlen, "%s: the signed manifest is for "
			    "package '%s'", p->id, r->m[i].id);
			goto fail;
		}
	}
	return (0);
fail:
	while (i-- > 0)
		pkg_manifest_free(&r->m[i]);
	free(r->m);
	r->m = NULL;
	return (-1);
}

static int
run_check_space(struct run *r, char *err, size_t errlen)
{
	struct statvfs	sv;
	uint64_t	need = 0, have;
	size_t		i;

	for (i = 0; i < r->rec->npkgs; i++)
		need += r->rec->pkgs[i].size + r->m[i].unpacked_size;
	if (statvfs(state_staging(agent->state), &sv) == -1) {
		snprintf(err, errlen, "staging: %s: %s",
		    state_staging(agent->state), strerror(errno));
		return (-1);
	}
	have = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (have < need) {
		snprintf(err, errlen, "staging: %" PRIu64 " bytes free in %s, "
		    "the packages need %" PRIu64 " (file and extracted)",
		    have, state_staging(agent->state), need);
		return (-1);
	}
	return (0);
}

/*
 * An assigned run: may it go ahead here?  0 with the run READY, or -1
 * with the reason in err (it is then finished as an error).
 */
static int
run_accept(struct run *r, char *err, size_t errlen)
{
	struct installed	*inst;
	size_t			 ninst, i;
	char			 why[768];
	int			 busy, ok;

	busy = drain_run != NULL ? 1 : pending_busy(agent->state,
	    agent->boot_id, err, errlen);
	if (busy == -1)
		return (-1);
	if (busy) {
		snprintf(err, errlen, "%s", PENDING_BUSY_MSG);
		return (-1);
	}
	if (run_decode(r, err, errlen) == -1)
		return (-1);
	if (state_installed_list(agent->state, &inst, &ninst, err,
	    errlen) == -1)
		return (-1);
	for (i = 0, ok = 1; ok && i < r->rec->npkgs; i++) {
		ok = applic_check(&r->m[i], &agent->facts, inst, ninst, why,
		    sizeof(why));
		if (!ok)
			snprintf(err, errlen, "%s: not applicable: %s",
			    r->m[i].id, why);
	}
	state_installed_free(inst, ninst);
	if (!ok || run_check_space(r, err, errlen) == -1)
		return (-1);
	if ((r->rec->options & CTL_OPT_AT_NEXT_BOOT) &&
	    pending_reserve(agent->state, r->rec->run_id, PENDING_NEXT_BOOT,
	    agent->boot_id, err, errlen) == -1)
		return (-1);
	if (mkdir(r->dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "staging: %s: %s", r->dir,
		    strerror(errno));
		(void)pending_remove(agent->state, r->rec->run_id, why,
		    sizeof(why));
		return (-1);
	}
	if (run_set_state(r, RUN_READY, err, errlen) == -1) {
		(void)pending_remove(agent->state, r->rec->run_id, why,
		    sizeof(why));
		return (-1);
	}
	return (0);
}

/* Receiving. */

static void
run_defer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct run		*r = arg;
	struct run_evdata	 d;

	memset(&d, 0, sizeof(d));
	d.ok = r->recv_ok;
	d.error = r->recv_err;
	run_fsm(r, RUN_EV_RECEIVED, &d);
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
static int
run_may_fall_back(struct run *r)
{
	int	cur = r->rec->pkg_index + 1;

	if (r->fallback == cur)
		return (0);
	return (r->rec->path == CTL_PATH_MULTICAST || r->resumed == cur);
}

static int
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
	if ((ifname = conf_str(agent->conf, "interface")) != NULL &&
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
	r->xr = xrecv_new(agent->base, &xc, &cb, r, err, errlen);
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
	if (run_may_fall_back(r)) {
		struct timeval	tv = { RUN_PROBE_MS / 1000,
		    (RUN_PROBE_MS % 1000) * 1000 };

		evtimer_add(r->ev_probe, &tv);
	}
	return (0);
}

static void
run_probe_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct run	*r = arg;

	run_fsm(r, (r->xr != NULL) ? RUN_EV_PROBE : RUN_EV_REROUTE_LATE,
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
run_awaits_reroute(struct run *r)
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
static void
run_ask_unicast(struct run *r)
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
static void
run_fallback(struct run *r, const char *fmt, ...)
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
	run_ask_unicast(r);
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
static int
run_reroute(struct run *r, const struct ctl_msg *m, char *err, size_t errlen)
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
	if (state_run_set_path(agent->state, rec, err, errlen) == -1) {
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

/* Verify and extract, in a child: the arguments it needs. */
struct run_verify {
	char		*file;
	char		*dir;
	const uint8_t	*manifest;
	size_t		 manifest_len;
	uint64_t	 size;
};

static int
run_verify_fn(void *arg, char *err, size_t errlen)
{
	struct run_verify	*v = arg;
	struct pkg		*p;
	struct stat		 sb;
	const uint8_t		*raw;
	size_t			 len;
	int			 rv;

	if (stat(v->file, &sb) == -1) {
		snprintf(err, errlen, "%s: %s", v->file, strerror(errno));
		return (1);
	}
	if ((uint64_t)sb.st_size != v->size) {
		snprintf(err, errlen, "%s: %lld bytes, the server announced %"
		    PRIu64, v->file, (long long)sb.st_size, v->size);
		return (2);
	}
	rv = pkg_open(&p, v->file, (const uint8_t (*)[ED25519_PUB_LEN])
	    agent->keys, agent->nkeys, 0, err, errlen);
	if (rv != 0)
		return (rv == PKG_EINPUT ? 2 : 1);
	raw = pkg_get_manifest_raw(p, &len);
	if (len != v->manifest_len || memcmp(raw, v->manifest, len) != 0) {
		snprintf(err, errlen, "%s: its manifest is not the one the "
		    "server assigned", v->file);
		pkg_close(p);
		return (2);
	}
	/* A restart after the rename but before it was stored. */
	if (lstat(v->dir, &sb) == 0)
		(void)pkg_remove_tree(v->dir);
	rv = pkg_extract(p, v->dir, err, errlen);
	pkg_close(p);
	return (rv == 0 ? 0 : 1);
}

static void
run_verify_done(const struct exec_result *res, void *arg)
{
	struct run		*r = arg;
	struct run_evdata	 d;
	char			*text;

	r->job = NULL;
	memset(&d, 0, sizeof(d));
	d.ok = res->how == EXEC_EXITED && res->exit_status == 0;
	text = exec_tail_text(res);
	text[strcspn(text, "\n")] = '\0';
	d.error = text[0] != '\0' ? text : "verification ended abnormally";
	run_fsm(r, RUN_EV_VERIFIED, &d);
	free(text);
}

static int
run_verify_start(struct run *r, char *err, size_t errlen)
{
	struct run_verify	v;
	struct run_pkg		*p = &r->rec->pkgs[r->rec->pkg_index];
	char			file[1024], dir[1024];

	v.file = (char *)run_pkgfile(r, r->rec->pkg_index, file, sizeof(file));
	v.dir = (char *)run_pkgdir(r, r->rec->pkg_index, dir, sizeof(dir));
	v.manifest = p->manifest;
	v.manifest_len = p->manifest_len;
	v.size = p->size;
	/* The child gets a copy of v with the fork: nothing is shared. */
	r->job = exec_fork(run_verify_fn, &v, RUN_VERIFY_TIMEOUT,
	    run_verify_done, r, err, errlen);
	return (r->job == NULL ? -1 : 0);
}

/* Start receiving package pkg_index (after START, or to resume). */
static void
run_receive(struct run *r)
{
	char	err[512], file[1024];
	struct stat sb;

	if (run_set_state(r, RUN_RECEIVING, err, sizeof(err)) == -1) {
		run_finish(r, CTL_RS_FAILED, 0, "state_dir: %s", err);
		return;
	}
	/* Complete before a restart: the receiver renamed it into place. */
	if (stat(run_pkgfile(r, r->rec->pkg_index, file, sizeof(file)),
	    &sb) == 0) {
		if (run_verify_start(r, err, sizeof(err)) == -1)
			run_finish(r, CTL_RS_FAILED, 0, "%s: verify: %s",
			    r->rec->pkgs[r->rec->pkg_index].id, err);
		return;
	}
	if (run_recv_start(r, err, sizeof(err)) == -1) {
		run_finish(r, CTL_RS_FAILED, 0, "transfer of %s: %s",
		    r->rec->pkgs[r->rec->pkg_index].id, err);
		return;
	}
	run_report(r, CTL_RS_RECEIVING, r->rec->pkg_index,
	    r->rec->pkgs[r->rec->pkg_index].bytes, 0, 0, NULL, NULL);
}

/* Running packages. */

static void
run_exec_done(const struct exec_result *res, void *arg)
{
	struct run		*r = arg;
	struct run_evdata	 d;

	r->job = NULL;
	memset(&d, 0, sizeof(d));
	d.res = res;
	run_fsm(r, RUN_EV_EXECUTED, &d);
}

/*
 * Store what became of package i and, on success, that it is installed,
 * in one transaction.
 */
static int
run_pkg_outcome(struct run *r, size_t i, int pstate, int has_exit,
    int32_t exit_status, const char *msg, const char *output)
{
	struct run_pkg	*p = &r->rec->pkgs[i];
	char		 err[512];

	p->state = pstate;
	p->has_exit = has_exit;
	p->exit_status = exit_status;
	free(p->message);
	p->message = xstrdup(msg != NULL ? msg : "");
	if (output != NULL) {
		free(p->output);
		p->output = xstrdup(output);
	}
	if (state_begin(agent->state, err, sizeof(err)) == -1)
		goto fail;
	if (pstate == RUN_P_SUCCEEDED && state_installed_add(agent->state,
	    &r->m[i], r->rec->run_id, err, sizeof(err)) == -1) {
		state_rollback(agent->state);
		goto fail;
	}
	if (run_save(r, err, sizeof(err)) == -1) {
		state_rollback(agent->state);
		goto fail;
	}
	if (state_commit(agent->state, err, sizeof(err)) == -1)
		goto fail;
	log_info("run %" PRIu64 ": package %s: %s%s%s", r->rec->run_id, p->id,
	    pstate == RUN_P_SUCCEEDED ? "succeeded" : pstate ==
	    RUN_P_INTERRUPTED ? "interrupted" : pstate == RUN_P_SKIPPED ?
	    "skipped" : "failed", p->message[0] ? ": " : "", p->message);
	if (pstate == RUN_P_SUCCEEDED)
		agent_refresh_facts();
	return (0);
fail:
	log_warnx("run %" PRIu64 ": package %s: outcome not stored: %s",
	    r->rec->run_id, p->id, err);
	return (-1);
}

/* Decide the run's outcome from its packages, then finish it. */
static void
run_conclude(struct run *r)
{
	size_t		 i, nfail = 0, nint = 0, nok = 0;
	struct run_pkg	*first = NULL;
	char		 detail[64] = "";

	for (i = 0; i < r->rec->npkgs; i++) {
		switch (r->rec->pkgs[i].state) {
		case RUN_P_SUCCEEDED:
			nok++;
			break;
		case RUN_P_FAILED:
			nfail++;
			if (first == NULL)
				first = &r->rec->pkgs[i];
			break;
		case RUN_P_INTERRUPTED:
			nint++;
			if (first == NULL)
				first = &r->rec->pkgs[i];
			break;
		default:
			break;
		}
	}
	if (r->rec->npkgs > 1)
		snprintf(detail, sizeof(detail), " (%zu of %zu packages "
		    "succeeded)", nok, r->rec->npkgs);
	if (nfail > 0)
		run_finish(r, CTL_RS_FAILED, 0, "%s: %s%s", first->id,
		    first->message, detail);
	else if (nint > 0)
		run_finish(r, CTL_RS_INTERRUPTED, 0, "%s: %s%s", first->id,
		    first->message, detail);
	else
		run_finish(r, CTL_RS_SUCCEEDED, 0, "%s", "");
}

/*
 * Run package pkg_index, or go on to the next one that is still to run;
 * when none is left, conclude.  on-error stop turns the packages after a
 * failure into skipped ones (P13).
 */
static void
run_exec_next(struct run *r)
{
	struct exec_spec	  spec;
	struct run_pkg		 *p;
	char			**argv, **envp, dir[1024], err[512];
	size_t			  i;
	int			  failed = 0;

	for (i = 0; i < r->rec->npkgs; i++)
		if (r->rec->pkgs[i].state == RUN_P_FAILED ||
		    r->rec->pkgs[i].state == RUN_P_INTERRUPTED)
			failed = 1;
	for (i = 0; i < r->rec->npkgs; i++)
		if (r->rec->pkgs[i].state == RUN_P_DELIVERED)
			break;
	if (i == r->rec->npkgs) {
		run_conclude(r);
		return;
	}
	if (failed && (r->rec->options & CTL_OPT_STOP_ON_ERROR)) {
		for (; i < r->rec->npkgs; i++)
			if (r->rec->pkgs[i].state == RUN_P_DELIVERED)
				(void)run_pkg_outcome(r, i, RUN_P_SKIPPED, 0, 0,
				    "not run: an earlier package failed and "
				    "the scenario stops on error", NULL);
		run_conclude(r);
		return;
	}
	p = &r->rec->pkgs[i];
	r->rec->pkg_index = (uint16_t)i;
	run_pkgdir(r, i, dir, sizeof(dir));
	argv = exec_pkg_argv(dir, r->m[i].exec, &r->m[i].args, err,
	    sizeof(err));
	if (argv == NULL) {
		if (run_pkg_outcome(r, i, RUN_P_FAILED, 0, 0, err, NULL) == -1)
			run_finish(r, CTL_RS_FAILED, 0, "%s: %s", p->id, err);
		else
			run_exec_next(r);
		return;
	}
	/* Stored before it starts: a restart must know it may have run. */
	p->state = RUN_P_RUNNING;
	if (run_save(r, err, sizeof(err)) == -1) {
		p->state = RUN_P_DELIVERED;
		exec_free_argv(argv);
		run_finish(r, CTL_RS_FAILED, 0, "%s: not started: state_dir: %s",
		    p->id, err);
		return;
	}
	envp = exec_env(dir, r->rec->run_id, p->id);
	memset(&spec, 0, sizeof(spec));
	spec.path = argv[0];
	spec.argv = argv;
	spec.envp = envp;
	spec.cwd = dir;
	spec.timeout = agent->exec_timeout;
	log_info("run %" PRIu64 ": package %s: running %s with %zu "
	    "parameter%s", r->rec->run_id, p->id, r->m[i].exec,
	    r->m[i].args.n, r->m[i].args.n == 1 ? "" : "s");
	run_report(r, CTL_RS_RUNNING, (uint16_t)i, 0, 0, 0, NULL, NULL);
	r->job = exec_start(&spec, run_exec_done, r, err, sizeof(err));
	exec_free_argv(argv);
	exec_free_argv(envp);
	if (r->job == NULL) {
		if (run_pkg_outcome(r, i, RUN_P_FAILED, 0, 0, err, NULL) == -1)
			run_finish(r, CTL_RS_FAILED, 0, "%s: %s", p->id, err);
		else
			run_exec_next(r);
	}
}

/* Start executing (now, or at its turn after a boot). */
static void
run_execute(struct run *r)
{
	char	err[512];

	if (run_set_state(r, RUN_RUNNING, err, sizeof(err)) == -1) {
		run_finish(r, CTL_RS_FAILED, 0, "state_dir: %s", err);
		return;
	}
	run_exec_next(r);
}

/* A package ended (RUN_EV_EXECUTED in RUNNING). */
static void
run_executed(struct run *r, const struct exec_result *res)
{
	size_t	 i = r->rec->pkg_index;
	char	 how[256], *out;
	int	 ok;

	exec_describe(res, agent->exec_timeout, how, sizeof(how));
	ok = res->how == EXEC_EXITED && res->exit_status == 0;
	out = exec_tail_text(res);
	if (run_pkg_outcome(r, i, ok ? RUN_P_SUCCEEDED : RUN_P_FAILED,
	    res->how == EXEC_EXITED, res->how == EXEC_EXITED ?
	    res->exit_status : 0, ok ? "" : how, out) == -1) {
		run_finish(r, CTL_RS_FAILED, 0, "%s: %s, but the outcome could "
		    "not be stored", r->rec->pkgs[i].id, how);
		free(out);
		return;
	}
	free(out);
	run_exec_next(r);
}

/*
 * Everything is delivered: run now, or queue for the next boot (and power
 * off now if the scenario says so, S11), or, when a package is exclusive,
 * queue it for after the reboot that it needs.
 */
static void
run_delivered(struct run *r)
{
	char		 err[512];
	size_t		 i;
	const char	*excl = NULL, *hook = NULL;
	int		 kind = 0, os = r->rec->state;

	for (i = 0; i < r->rec->npkgs; i++)
		if (r->m[i].flags & PKG_F_EXCLUSIVE)
			excl = r->m[i].id;
	if (r->rec->options & CTL_OPT_AT_NEXT_BOOT) {
		kind = PENDING_NEXT_BOOT;
		if (r->rec->options & CTL_OPT_POWEROFF_AFTER)
			hook = "poweroff";
	} else if (excl != NULL) {
		kind = PENDING_EXCLUSIVE;
		hook = "reboot";
	}
	if (kind == 0) {
		run_execute(r);
		return;
	}
	free(r->rec->message);
	if (kind == PENDING_EXCLUSIVE)
		xasprintf(&r->rec->message, "%s is exclusive: applied alone "
		    "right after a restart", excl);
	else
		r->rec->message = xstrdup("");
	if (state_begin(agent->state, err, sizeof(err)) == -1)
		goto fail;
	if ((kind == PENDING_EXCLUSIVE && pending_reserve(agent->state,
	    r->rec->run_id, kind, agent->boot_id, err, sizeof(err)) == -1) ||
	    pending_commit(agent->state, r->rec->run_id, agent->boot_id, err,
	    sizeof(err)) == -1 ||
	    run_hook_want(hook, err, sizeof(err)) == -1 ||
	    run_set_state(r, RUN_QUEUED, err, sizeof(err)) == -1) {
		state_rollback(agent->state);
		goto fail;
	}
	if (state_commit(agent->state, err, sizeof(err)) == -1)
		goto fail;
	run_report_queued(r);
	run_hook_check();
	return;
fail:
	r->rec->state = os;	/* the transaction did not happen */
	run_finish(r, CTL_RS_FAILED, 0, "queueing for the next boot: %s", err);
}

/* After a restart: carry on from the stored state. */
static void
run_resume(struct run *r)
{
	struct run_pkg	*p;
	char		 err[512];
	size_t		 i;

	switch (r->rec->state) {
	case RUN_ASSIGNED:
		/* The server assigns it again when we reconnect. */
		break;
	case RUN_READY:
		break;
	case RUN_RECEIVING:
		if (run_decode(r, err, sizeof(err)) == -1) {
			run_finish(r, CTL_RS_FAILED, 0, "%s", err);
			return;
		}
		log_info("run %" PRIu64 ": resuming the transfer of %s (%s "
		    "%s:%u)", r->rec->run_id,
		    r->rec->pkgs[r->rec->pkg_index].id, r->rec->path ==
		    CTL_PATH_UNICAST ? "unicast" : "multicast", r->rec->addr,
		    r->rec->port);
		r->resumed = r->rec->pkg_index + 1;
		run_receive(r);
		break;
	case RUN_DELIVERED:
		if (run_decode(r, err, sizeof(err)) == -1) {
			run_finish(r, CTL_RS_FAILED, 0, "%s", err);
			return;
		}
		run_delivered(r);
		break;
	case RUN_QUEUED:
		/* Its turn comes from the queue (RUN_EV_BOOT). */
		break;
	case RUN_RUNNING:
		if (run_decode(r, err, sizeof(err)) == -1) {
			run_finish(r, CTL_RS_FAILED, 0, "%s", err);
			return;
		}
		for (i = 0; i < r->rec->npkgs; i++) {
			p = &r->rec->pkgs[i];
			if (p->state != RUN_P_RUNNING)
				continue;
			if (r->m[i].flags & PKG_F_IDEMPOTENT) {
				log_info("run %" PRIu64 ": package %s was "
				    "running when the agent stopped; it is "
				    "idempotent: running it again",
				    r->rec->run_id, p->id);
				p->state = RUN_P_DELIVERED;
			} else if (run_pkg_outcome(r, i, RUN_P_INTERRUPTED, 0,
			    0, "interrupted: the agent stopped while it ran "
			    "(restart, crash or power loss); not run again, "
			    "the package is not idempotent", NULL) == -1) {
				run_finish(r, CTL_RS_INTERRUPTED, 0, "%s: "
				    "interrupted", p->id);
				return;
			}
		}
		run_exec_next(r);
		break;
	case RUN_FINISHED:
		run_report_outcome(r);
		break;
	case RUN_DONE:
		break;
	}
}

/* The state machine: on the state, then on the event. */
static void
run_fsm(struct run *r, enum run_event ev, struct run_evdata *d)
{
	char		 err[1024];
	const char	*what;

	/* A restart: each state knows how to carry on (run_resume). */
	if (ev == RUN_EV_RESUME) {
		run_resume(r);
		return;
	}
	/* The probe's timer outlived the transfer it was watching. */
	if ((ev == RUN_EV_PROBE || ev == RUN_EV_REROUTE_LATE) &&
	    r->rec->state != RUN_RECEIVING)
		return;
	switch (r->rec->state) {
	case RUN_ASSIGNED:
		switch (ev) {
		case RUN_EV_ASSIGN:
			if (run_accept(r, err, sizeof(err)) == -1) {
				run_finish(r, CTL_RS_ERROR, 0, "%s", err);
				return;
			}
			run_report(r, CTL_RS_READY, 0, 0, 0, 0, NULL, NULL);
			return;
		case RUN_EV_CANCEL:
			run_finish(r, CTL_RS_ERROR, 1, "cancelled: %s",
			    d->msg->u.cancel.message);
			return;
		case RUN_EV_ONLINE:
		case RUN_EV_SYNCED:
			return;
		default:
			break;
		}
		break;
	case RUN_READY:
		switch (ev) {
		case RUN_EV_ASSIGN:
			/*
			 * Again after a reconnection: the path may differ
			 * (the machine connects from another segment now).
			 */
			if (d != NULL && run_reroute(r, d->msg, err,
			    sizeof(err)) == -1) {
				run_finish(r, CTL_RS_ERROR, 0, "the server "
				    "moved the run to another path, which could "
				    "not be stored: state_dir: %s", err);
				return;
			}
			run_report_current(r);
			return;
		case RUN_EV_ONLINE:
			run_report_current(r);
			return;
		case RUN_EV_START:
			if (d->msg->u.start.pkg_index != r->rec->pkg_index) {
				run_finish(r, CTL_RS_FAILED, 0, "START for "
				    "package %u, expected %u",
				    d->msg->u.start.pkg_index,
				    r->rec->pkg_index);
				return;
			}
			if (run_decode(r, err, sizeof(err)) == -1) {
				run_finish(r, CTL_RS_ERROR, 0, "%s", err);
				return;
			}
			run_receive(r);
			return;
		case RUN_EV_CANCEL:
			run_finish(r, CTL_RS_ERROR, 1, "cancelled: %s",
			    d->msg->u.cancel.message);
			return;
		case RUN_EV_SYNCED:
			return;
		default:
			break;
		}
		break;
	case RUN_RECEIVING:
		switch (ev) {
		case RUN_EV_RECEIVED:
			if (r->xr == NULL)
				return;		/* stopped meanwhile */
			run_recv_stop(r);
			if (!d->ok && !r->recv_fatal && run_may_fall_back(r)) {
				run_fallback(r, "the %s transfer failed%s: %s",
				    r->rec->path == CTL_PATH_MULTICAST ?
				    "multicast" : "unicast",
				    r->rec->path == CTL_PATH_MULTICAST ? "" :
				    " after the agent restarted", d->error);
				return;
			}
			if (!d->ok) {
				run_finish(r, CTL_RS_FAILED, 0, "%s", d->error);
				return;
			}
			if (run_verify_start(r, err, sizeof(err)) == -1)
				run_finish(r, CTL_RS_FAILED, 0, "%s: verify: "
				    "%s", r->rec->pkgs[r->rec->pkg_index].id,
				    err);
			return;
		case RUN_EV_VERIFIED:
			what = r->rec->pkgs[r->rec->pkg_index].id;
			if (!d->ok) {
				run_finish(r, CTL_RS_FAILED, 0, "%s: %s", what,
				    d->error);
				return;
			}
			r->rec->pkgs[r->rec->pkg_index].state =
			    RUN_P_DELIVERED;
			r->rec->pkgs[r->rec->pkg_index].bytes =
			    r->rec->pkgs[r->rec->pkg_index].size;
			log_info("run %" PRIu64 ": package %s received, "
			    "verified and extracted", r->rec->run_id, what);
			if (r->rec->pkg_index + 1u < r->rec->npkgs) {
				run_report(r, CTL_RS_DELIVERED,
				    r->rec->pkg_index, r->rec->pkgs[
				    r->rec->pkg_index].size, 0, 0, NULL, NULL);
				r->rec->pkg_index++;
				if (run_set_state(r, RUN_READY, err,
				    sizeof(err)) == -1) {
					run_finish(r, CTL_RS_FAILED, 0,
					    "state_dir: %s", err);
					return;
				}
				if (r->start_next) {
					r->start_next = 0;
					run_receive(r);
				}
				return;
			}
			if (run_set_state(r, RUN_DELIVERED, err,
			    sizeof(err)) == -1) {
				run_finish(r, CTL_RS_FAILED, 0, "state_dir: %s",
				    err);
				return;
			}
			run_report(r, CTL_RS_DELIVERED, r->rec->pkg_index,
			    r->rec->pkgs[r->rec->pkg_index].size, 0, 0, NULL,
			    NULL);
			run_delivered(r);
			return;
		case RUN_EV_START:
			/* The next package while this one is verified. */
			if (d->msg->u.start.pkg_index == r->rec->pkg_index + 1u)
				r->start_next = 1;
			/* This package again, on the path we were moved to. */
			else if (d->msg->u.start.pkg_index ==
			    r->rec->pkg_index && r->xr == NULL &&
			    r->job == NULL)
				run_receive(r);
			return;
		case RUN_EV_CANCEL:
			run_finish(r, CTL_RS_ERROR, 1, "cancelled: %s",
			    d->msg->u.cancel.message);
			return;
		case RUN_EV_ASSIGN:
			switch (d != NULL ? run_reroute(r, d->msg, err,
			    sizeof(err)) : 0) {
			case -1:
				run_finish(r, CTL_RS_FAILED, 0, "transfer of "
				    "%s: the server moved it to %s, which could "
				    "not be stored: state_dir: %s",
				    r->rec->pkgs[r->rec->pkg_index].id,
				    d->msg->u.assign.path == CTL_PATH_UNICAST ?
				    "unicast" : "multicast", err);
				return;
			case 1:
				return;
			}
			/*
			 * Already on unicast and asked for a new session (after
			 * a restart): the same path again is the answer; the
			 * START follows when the server has a stream free, so
			 * the reroute wait is over.
			 */
			if (r->rec->path == CTL_PATH_UNICAST && r->xr == NULL &&
			    r->job == NULL &&
			    r->fallback == r->rec->pkg_index + 1) {
				evtimer_del(r->ev_probe);
				r->rerouted = r->rec->pkg_index + 1;
				return;
			}
			run_report_current(r);
			return;
		case RUN_EV_ONLINE:
			/* The reroute we asked for may be lost: ask again. */
			if (run_awaits_reroute(r)) {
				log_info("run %" PRIu64 ": package %s: online "
				    "again; asking for unicast again",
				    r->rec->run_id,
				    r->rec->pkgs[r->rec->pkg_index].id);
				run_ask_unicast(r);
				return;
			}
			/*
			 * Moved to unicast, but START may have been lost with
			 * the connection, and the server does not send it
			 * again: its session waits for this one receiver, so
			 * join it, as after a restart (run_resume).  A START
			 * still to come finds the receiver running.
			 */
			if (r->rerouted == r->rec->pkg_index + 1 &&
			    r->xr == NULL && r->job == NULL) {
				log_info("run %" PRIu64 ": package %s: online "
				    "again; joining the unicast session",
				    r->rec->run_id,
				    r->rec->pkgs[r->rec->pkg_index].id);
				run_receive(r);
				return;
			}
			run_report_current(r);
			return;
		case RUN_EV_PROBE:
			if (r->xr == NULL || r->locked || !run_may_fall_back(r))
				return;
			if (r->rec->path == CTL_PATH_MULTICAST)
				run_fallback(r, "no multicast arrived within "
				    "%d s after START", RUN_PROBE_MS / 1000);
			else
				run_fallback(r, "no unicast session arrived "
				    "within %d s after the agent restarted",
				    RUN_PROBE_MS / 1000);
			return;
		case RUN_EV_REROUTE_LATE:
			/*
			 * Offline, the server could not answer: the request
			 * goes again with the connection (RUN_EV_ONLINE).
			 */
			if (!conn_is_online(agent->conn) &&
			    run_awaits_reroute(r)) {
				r->fallback_unsent = 1;
				return;
			}
			if (r->xr == NULL && r->job == NULL &&
			    r->fallback == r->rec->pkg_index + 1)
				run_finish(r, CTL_RS_FAILED, 0, "transfer of "
				    "%s: %s, and the server did not move it "
				    "to unicast within %d s",
				    r->rec->pkgs[r->rec->pkg_index].id,
				    r->fallback_why, RUN_FALLBACK_WAIT);
			return;
		case RUN_EV_SYNCED:
			return;
		default:
			break;
		}
		break;
	case RUN_DELIVERED:
		switch (ev) {
		case RUN_EV_ASSIGN:
		case RUN_EV_ONLINE:
			run_report_current(r);
			return;
		case RUN_EV_SYNCED:
		case RUN_EV_CANCEL:
		case RUN_EV_START:
			return;
		default:
			break;
		}
		break;
	case RUN_QUEUED:
		switch (ev) {
		case RUN_EV_BOOT:
			if (run_decode(r, err, sizeof(err)) == -1) {
				run_finish(r, CTL_RS_FAILED, 0, "%s", err);
				return;
			}
			if (pending_set_running(agent->state, r->rec->run_id,
			    err, sizeof(err)) == -1) {
				run_finish(r, CTL_RS_FAILED, 0, "next-boot "
				    "queue: %s", err);
				return;
			}
			log_info("run %" PRIu64 ": applying it after the "
			    "restart", r->rec->run_id);
			run_execute(r);
			return;
		case RUN_EV_ASSIGN:
		case RUN_EV_ONLINE:
			run_report_current(r);
			return;
		case RUN_EV_SYNCED:
		case RUN_EV_CANCEL:
		case RUN_EV_START:
			return;
		default:
			break;
		}
		break;
	case RUN_RUNNING:
		switch (ev) {
		case RUN_EV_EXECUTED:
			run_executed(r, d->res);
			return;
		case RUN_EV_ASSIGN:
		case RUN_EV_ONLINE:
			run_report_current(r);
			return;
		case RUN_EV_SYNCED:
		case RUN_EV_CANCEL:
		case RUN_EV_START:
			return;
		default:
			break;
		}
		break;
	case RUN_FINISHED:
		switch (ev) {
		case RUN_EV_SYNCED:
			r->rec->reported = 1;
			if (run_set_state(r, RUN_DONE, err, sizeof(err)) == -1)
				return;
			TAILQ_REMOVE(&runs, r, entry);
			run_free(r);
			return;
		case RUN_EV_ASSIGN:
		case RUN_EV_ONLINE:
			run_report_outcome(r);
			return;
		case RUN_EV_CANCEL:
		case RUN_EV_START:
			return;
		default:
			break;
		}
		break;
	case RUN_DONE:
		if (ev == RUN_EV_ASSIGN)
			run_report_outcome(r);
		return;
	}
	log_warnx("run %" PRIu64 ": event %d ignored in state %s",
	    r->rec->run_id, (int)ev, run_strstate(r->rec->state));
}

/* Building runs from ASSIGN and from the database. */

static struct run *
run_wrap(struct run_rec *rec)
{
	struct run	*r;

	r = xcalloc(1, sizeof(*r));
	r->rec = rec;
	xasprintf(&r->dir, "%s/%" PRIu64, state_staging(agent->state),
	    rec->run_id);
	r->ev_defer = event_new(agent->base, -1, 0, run_defer_cb, r);
	r->ev_probe = evtimer_new(agent->base, run_probe_cb, r);
	if (r->ev_defer == NULL || r->ev_probe == NULL)
		fatalx("run: event_new failed");
	TAILQ_INSERT_TAIL(&runs, r, entry);
	return (r);
}

static struct run_rec *
run_rec_from(const struct ctl_msg *m)
{
	struct run_rec	*rec;
	struct run_pkg	*p;
	size_t		 i;

	rec = xcalloc(1, sizeof(*rec));
	rec->run_id = m->u.assign.run_id;
	rec->scenario = xstrdup(m->u.assign.scenario);
	rec->path = m->u.assign.path;
	rec->addr = xstrdup(m->u.assign.addr);
	rec->port = m->u.assign.port;
	memcpy(rec->key, m->u.assign.key, sizeof(rec->key));
	rec->options = m->u.assign.options;
	rec->state = RUN_ASSIGNED;
	rec->message = xstrdup("");
	rec->created_at = rec->updated_at = (int64_t)time(NULL);
	rec->npkgs = m->u.assign.npkgs;
	rec->pkgs = xcalloc(rec->npkgs, sizeof(*rec->pkgs));
	for (i = 0; i < rec->npkgs; i++) {
		p = &rec->pkgs[i];
		p->id = xstrdup(m->u.assign.pkgs[i].id);
		p->size = m->u.assign.pkgs[i].size;
		memcpy(p->sha256, m->u.assign.pkgs[i].sha256, SHA256_LEN);
		memcpy(p->signature, m->u.assign.pkgs[i].signature,
		    ED25519_SIG_LEN);
		p->manifest_len = m->u.assign.pkgs[i].manifest_len;
		p->manifest = xmalloc(p->manifest_len);
		memcpy(p->manifest, m->u.assign.pkgs[i].manifest,
		    p->manifest_len);
		p->message = xstrdup("");
		p->output = xstrdup("");
	}
	return (rec);
}

static void
run_on_assign(const struct ctl_msg *m)
{
	struct run		*r;
	struct run_rec		*rec;
	struct ctl_msg		 rep;
	struct run_evdata	 d;
	char			 err[512], msg[600];

	if ((r = run_find(m->u.assign.run_id)) != NULL) {
		log_debug("run %" PRIu64 ": ASSIGN repeated in state %s",
		    r->rec->run_id, run_strstate(r->rec->state));
		memset(&d, 0, sizeof(d));
		d.msg = m;
		run_fsm(r, RUN_EV_ASSIGN, &d);
		return;
	}
	/* A run we finished earlier: the server missed our report. */
	if (state_run_load(agent->state, m->u.assign.run_id, &rec, err,
	    sizeof(err)) == 0 && rec != NULL) {
		r = run_wrap(rec);
		(void)run_decode(r, err, sizeof(err));
		run_fsm(r, RUN_EV_ASSIGN, NULL);
		if (r->rec->state == RUN_DONE) {
			TAILQ_REMOVE(&runs, r, entry);
			run_free(r);
		}
		return;
	}
	log_info("run %" PRIu64 ": assigned: scenario %s, %zu package%s, %s "
	    "%s:%u%s%s%s%s", m->u.assign.run_id, m->u.assign.scenario,
	    m->u.assign.npkgs, m->u.assign.npkgs == 1 ? "" : "s",
	    m->u.assign.path == CTL_PATH_UNICAST ? "unicast" : "multicast",
	    m->u.assign.addr, m->u.assign.port,
	    (m->u.assign.options & CTL_OPT_AT_NEXT_BOOT) ? ", at next boot" :
	    "", (m->u.assign.options & CTL_OPT_REBOOT_AFTER) ?
	    ", reboot after" : "", (m->u.assign.options &
	    CTL_OPT_POWEROFF_AFTER) ? ", power off after" : "",
	    (m->u.assign.options & CTL_OPT_STOP_ON_ERROR) ? ", stop on error" :
	    "");
	rec = run_rec_from(m);
	if (state_run_insert(agent->state, rec, err, sizeof(err)) == -1) {
		/* Nothing stored, nothing to resume: just say why. */
		log_warnx("run %" PRIu64 ": %s", rec->run_id, err);
		snprintf(msg, sizeof(msg), "state_dir: %s", err);
		memset(&rep, 0, sizeof(rep));
		rep.type = CTL_REPORT;
		rep.u.report.run_id = rec->run_id;
		rep.u.report.state = CTL_RS_ERROR;
		rep.u.report.message = msg;
		rep.u.report.output = "";
		(void)conn_send(agent->conn, &rep);
		state_run_free(rec);
		return;
	}
	r = run_wrap(rec);
	run_fsm(r, RUN_EV_ASSIGN, NULL);
}

void
run_message(const struct ctl_msg *m)
{
	struct run		*r;
	struct run_evdata	 d;
	uint64_t		 id;

	memset(&d, 0, sizeof(d));
	d.msg = m;
	switch (m->type) {
	case CTL_ASSIGN:
		run_on_assign(m);
		return;
	case CTL_START:
		id = m->u.start.run_id;
		if ((r = run_find(id)) == NULL)
			break;
		log_info("run %" PRIu64 ": START package %u", id,
		    m->u.start.pkg_index);
		run_fsm(r, RUN_EV_START, &d);
		return;
	case CTL_CANCEL:
		id = m->u.cancel.run_id;
		if ((r = run_find(id)) == NULL)
			break;
		log_info("run %" PRIu64 ": cancelled by the server: %s", id,
		    m->u.cancel.message);
		run_fsm(r, RUN_EV_CANCEL, &d);
		return;
	default:
		log_warnx("run: %s not handled", ctl_strtype(m->type));
		return;
	}
	log_info("%s for unknown run %" PRIu64 " ignored", ctl_strtype(m->type),
	    id);
}

/* The connection. */

void
run_online(void)
{
	struct run	*r, *next;

	for (r = TAILQ_FIRST(&runs); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		run_fsm(r, RUN_EV_ONLINE, NULL);
	}
	run_hook_check();
}

void
run_offline(void)
{
	struct run	*r;

	/* Unacknowledged reports go again on the next connection. */
	TAILQ_FOREACH(r, &runs, entry)
		r->sync_seq = 0;
	run_hook_check();
}

void
run_synced(uint64_t seq)
{
	struct run	*r, *next;

	for (r = TAILQ_FIRST(&runs); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		if (r->sync_seq != 0 && r->sync_seq <= seq) {
			r->sync_seq = 0;
			run_fsm(r, RUN_EV_SYNCED, NULL);
		}
	}
	run_hook_check();
}

/* The next-boot queue. */

static void
run_drain_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct pending_entry	 e;
	struct run_rec		*rec;
	struct run		*r;
	char			 err[512];
	int			 rv;

	while (drain_run == NULL) {
		rv = pending_next_due(agent->state, agent->boot_id, &e, err,
		    sizeof(err));
		if (rv == -1) {
			log_warnx("next-boot queue: %s", err);
			return;
		}
		if (rv == 0) {
			if (drain_started) {
				drain_started = 0;
				log_info("next-boot updates applied; new "
				    "scenarios are accepted again");
			}
			run_hook_check();
			return;
		}
		if ((r = run_find(e.run_id)) == NULL) {
			if (state_run_load(agent->state, e.run_id, &rec, err,
			    sizeof(err)) == -1 || rec == NULL) {
				log_warnx("next-boot queue: run %" PRIu64 " is "
				    "not stored%s%s; dropped", e.run_id,
				    rec == NULL ? "" : ": ", err);
				(void)pending_remove(agent->state, e.run_id,
				    err, sizeof(err));
				continue;
			}
			r = run_wrap(rec);
		}
		if (!drain_started)
			log_info("the machine restarted: applying next-boot "
			    "updates in order");
		drain_started = 1;
		drain_run = r;
		r->draining = 1;
		switch (r->rec->state) {
		case RUN_QUEUED:
			run_fsm(r, RUN_EV_BOOT, NULL);
			break;
		case RUN_RUNNING:
			/* Resumed by run_init; it finishes by itself. */
			break;
		default:
			log_warnx("next-boot queue: run %" PRIu64 " is %s; "
			    "dropped", e.run_id, run_strstate(r->rec->state));
			r->draining = 0;
			drain_run = NULL;
			(void)pending_remove(agent->state, e.run_id, err,
			    sizeof(err));
			break;
		}
	}
}

static void
run_drain_later(void)
{
	event_active(ev_drain, EV_TIMEOUT, 1);
}

/* Reboot and power off. */

static void
run_hook_done(const struct exec_result *res, void *arg)
{
	char	 how[256], err[512], *kind = arg, *out;

	hook_job = NULL;
	exec_describe(res, RUN_HOOK_TIMEOUT, how, sizeof(how));
	out = exec_tail_text(res);
	if (res->how == EXEC_EXITED && res->exit_status == 0)
		log_info("%s_command done", kind);
	else
		log_warnx("%s_command: %s%s%s", kind, how, out[0] ? ": " : "",
		    out);
	free(out);
	/* Not again in this boot, whatever the command did. */
	if (state_meta_set(agent->state, "hook", NULL, err, sizeof(err)) == -1)
		log_warnx("hook: %s", err);
	free(kind);
}

static void
run_hook_timer(evutil_socket_t fd, short ev, void *arg)
{
	run_hook_check();
}

/*
 * Run the stored reboot or power-off command when nothing is in flight:
 * no transfer, no executable, no next-boot update left, and the server
 * has the reports that precede it (or RUN_HOOK_WAIT seconds have passed,
 * or we are offline: the stored outcome is sent after the restart).
 */
static void
run_hook_check(void)
{
	struct run		 *r;
	struct exec_spec	  spec;
	char			 *val, *sp, err[512], **argv;
	const char		 *cmd;
	static char		 *envp[] = { "PATH=/usr/local/sbin:"
	    "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", NULL };
	struct timeval		  tv = { 1, 0 };
	int			  waiting = 0;
	time_t			  now = time(NULL);

	if (hook_job != NULL || agent == NULL || agent->state == NULL)
		return;
	if (state_meta_get(agent->state, "hook", &val, err, sizeof(err)) == -1) {
		log_warnx("hook: %s", err);
		return;
	}
	if (val == NULL) {
		hook_wait_until = 0;
		return;
	}
	if ((sp = strchr(val, ' ')) == NULL ||
	    strcmp(sp + 1, agent->boot_id) != 0) {
		/* Asked for in an earlier boot: that restart happened. */
		(void)state_meta_set(agent->state, "hook", NULL, err,
		    sizeof(err));
		free(val);
		return;
	}
	*sp = '\0';
	if (drain_run != NULL) {
		free(val);
		return;
	}
	TAILQ_FOREACH(r, &runs, entry) {
		if (r->xr != NULL || r->job != NULL ||
		    r->rec->state == RUN_RECEIVING ||
		    r->rec->state == RUN_RUNNING) {
			free(val);
			return;
		}
		if (r->sync_seq != 0)
			waiting = 1;
	}
	if (waiting && conn_is_online(agent->conn)) {
		if (hook_wait_until == 0)
			hook_wait_until = now + RUN_HOOK_WAIT;
		if (now < hook_wait_until) {
			evtimer_add(ev_hook, &tv);
			free(val);
			return;
		}
		log_warnx("%s: the server did not confirm the reports within "
		    "%d s; going ahead", val, RUN_HOOK_WAIT);
	}
	hook_wait_until = 0;
	cmd = conf_str(agent->conf, strcmp(val, "poweroff") == 0 ?
	    "poweroff_command" : "reboot_command");
	if ((argv = exec_split(cmd, err, sizeof(err))) == NULL) {
		log_warnx("%s: %s", val, err);
		free(val);
		return;
	}
	memset(&spec, 0, sizeof(spec));
	spec.path = argv[0];
	spec.argv = argv;
	spec.envp = envp;
	spec.timeout = RUN_HOOK_TIMEOUT;
	spec.search = 1;
	log_info("%s: running %s_command: %s", val, val, cmd);
	hook_job = exec_start(&spec, run_hook_done, val, err, sizeof(err));
	exec_free_argv(argv);
	if (hook_job == NULL) {
		log_warnx("%s_command: %s", val, err);
		(void)state_meta_set(agent->state, "hook", NULL, err,
		    sizeof(err));
		free(val);
	}
}

/* Start and stop. */

/* Remove staging directories of runs that are no longer active. */
static void
run_gc(void)
{
	DIR		*d;
	struct dirent	*de;
	uint64_t	*ids, id;
	size_t		 n, i;
	char		 err[512], *end, path[1024];
	struct run_rec	*rec;
	time_t		 now = time(NULL);

	if (state_run_ids(agent->state, 1, &ids, &n, err, sizeof(err)) == 0) {
		for (i = 0; i < n; i++) {
			if (state_run_load(agent->state, ids[i], &rec, err,
			    sizeof(err)) == -1 || rec == NULL)
				continue;
			if (rec->state == RUN_DONE &&
			    now - rec->updated_at > RUN_KEEP_DONE)
				(void)state_run_delete(agent->state, ids[i],
				    err, sizeof(err));
			state_run_free(rec);
		}
		free(ids);
	}
	if ((d = opendir(state_staging(agent->state))) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		id = strtoull(de->d_name, &end, 10);
		if (*end == '\0' && run_find(id) != NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s",
		    state_staging(agent->state), de->d_name);
		log_info("staging: removing %s (no active run)", path);
		(void)pkg_remove_tree(path);
	}
	closedir(d);
}

void
run_init(void)
{
	struct run		*r, *next;
	struct run_rec		*rec;
	struct pending_entry	 e;
	uint64_t		*ids;
	size_t			 n, i;
	char			 err[512];
	time_t			 now = time(NULL);

	ev_drain = event_new(agent->base, -1, 0, run_drain_cb, NULL);
	ev_hook = evtimer_new(agent->base, run_hook_timer, NULL);
	if (ev_drain == NULL || ev_hook == NULL)
		fatalx("run: event_new failed");
	if (state_run_ids(agent->state, 0, &ids, &n, err, sizeof(err)) == -1)
		fatalx("runs: %s", err);
	for (i = 0; i < n; i++) {
		if (state_run_load(agent->state, ids[i], &rec, err,
		    sizeof(err)) == -1)
			fatalx("runs: %s", err);
		if (rec == NULL)
			continue;
		r = run_wrap(rec);
		/* A run being applied from the queue when we stopped. */
		if (pending_get(agent->state, rec->run_id, &e, err,
		    sizeof(err)) == 1 && e.state == PENDING_RUNNING &&
		    rec->state == RUN_RUNNING) {
			drain_run = r;
			r->draining = 1;
			drain_started = 1;
		}
	}
	free(ids);
	if (n > 0)
		log_info("%zu run%s to carry on", n, n == 1 ? "" : "s");
	run_gc();
	for (r = TAILQ_FIRST(&runs); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		/* Runs that never got going and that the server forgot. */
		if ((r->rec->state == RUN_ASSIGNED ||
		    r->rec->state == RUN_READY) &&
		    now - r->rec->updated_at > RUN_STALE_WAIT) {
			run_finish(r, CTL_RS_ERROR, 1, "no transfer within "
			    "%d hours", RUN_STALE_WAIT / 3600);
			continue;
		}
		run_fsm(r, RUN_EV_RESUME, NULL);
	}
	run_drain_later();
	run_hook_check();
}

void
run_shutdown(void)
{
	struct run	*r;

	/*
	 * Receivers keep what they have on disk for the next start; an
	 * executable still running is stopped by exec_shutdown and will be
	 * reported interrupted then.
	 */
	while ((r = TAILQ_FIRST(&runs)) != NULL) {
		TAILQ_REMOVE(&runs, r, entry);
		if (r->job != NULL)
			r->job = NULL;	/* exec_shutdown owns it */
		run_free(r);
	}
	if (ev_drain != NULL)
		event_free(ev_drain);
	if (ev_hook != NULL)
		event_free(ev_hook);
	ev_drain = ev_hook = NULL;
	hook_job = NULL;
}
