/*
 * Runs: what the agent does with each scenario run the server assigns to
 * it, as one explicit state machine per run (run_fsm, states in
 * enum run_state).  ASSIGN → checks (signature of every manifest against
 * trusted_keys, next-boot update in progress, applicability, free space,
 * the next-boot cap) → READY → per package START → receive with the
 * transport engine into the run's root-only staging directory (run_recv.c)
 * → verify the package file and extract it (in a child process, so that
 * the loop keeps beating: run_exec.c) → DELIVERED → run the executables in
 * order now (run_exec.c), or queue the run for the next boot (boot.c) →
 * FINISHED (outcome reported) → DONE (the server has processed the
 * report).
 *
 * Every transition is written to the database before the agent acts on
 * it, so that a restart at any point continues from the last state: a
 * receiver resumes its staging file, a package whose executable had been
 * started is reported interrupted and not run twice (unless it is marked
 * idempotent), and unacknowledged reports are sent again.
 *
 * This file is the top of the run module (run_int.h): it calls the pieces
 * below it, and they come back only through the callbacks it sets in
 * struct run_ctx (fsm, finish, load).  The agent hands in what the server
 * says through run_message, run_online, run_offline and run_synced.
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
#include "ctl.h"
#include "log.h"
#include "run_int.h"
#include "xmalloc.h"
#include "xrecv.h"

#define RUN_KEEP_DONE		(30 * 24 * 3600)	/* history, seconds */
#define RUN_STALE_WAIT		(24 * 3600)	/* ASSIGNED/READY forgotten */

static void	run_fsm(struct run *, enum run_event, struct run_evdata *);
static void	run_finish(struct run *, int, int, const char *, ...)
		    __attribute__((format(printf, 4, 5)));
static void	run_resume(struct run *);

static struct run *
run_find(struct run_ctx *ctx, uint64_t id)
{
	struct run	*r;

	TAILQ_FOREACH(r, &ctx->list, entry)
		if (r->rec->run_id == id)
			return (r);
	return (NULL);
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
	run_exec_stream_free(r);
	if (r->job != NULL)
		exec_cancel(r->job);
	if (r->ev_defer != NULL)
		event_free(r->ev_defer);
	if (r->ev_probe != NULL)
		event_free(r->ev_probe);
	if (r->ev_hint != NULL)
		event_free(r->ev_hint);
	free(r->fallback_why);
	if (r->m != NULL) {
		for (i = 0; i < r->rec->npkgs; i++)
			pkg_manifest_free(&r->m[i]);
		free(r->m);
	}
	if (r->ctx->drain_run == r)
		r->ctx->drain_run = NULL;
	free(r->recv_err);
	free(r->dir);
	state_run_free(r->rec);
	free(r);
}

/*
 * The one way a run changes state: stored first, then logged.  On a
 * failed write (a full disk) the state in memory goes back as well, and
 * the caller reports the error.  Inside a transaction the caller stores
 * it with run_store_state and logs it with run_log_state once the
 * transaction has committed, so that the log never shows a transition
 * that a rollback undid.
 */
static int
run_store_state(struct run *r, int ns, char *err, size_t errlen)
{
	int	os = r->rec->state;

	r->rec->state = ns;
	if (run_save(r, err, errlen) == -1) {
		r->rec->state = os;
		log_warnx("run %" PRIu64 ": %s -> %s not stored: %s",
		    r->rec->run_id, run_strstate(os), run_strstate(ns), err);
		return (-1);
	}
	return (0);
}

static void
run_log_state(struct run *r, int os)
{
	if (os != r->rec->state)
		log_info("run %" PRIu64 ": %s -> %s", r->rec->run_id,
		    run_strstate(os), run_strstate(r->rec->state));
}

static int
run_set_state(struct run *r, int ns, char *err, size_t errlen)
{
	int	os = r->rec->state;

	if (run_store_state(r, ns, err, errlen) == -1)
		return (-1);
	run_log_state(r, os);
	return (0);
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
 * The run has its outcome: store it (with the queue entry gone and the
 * hook it asks for, in one transaction), free the staging area, report.
 * quiet: the server already knows (it cancelled us).
 */
static void
run_finish(struct run *r, int outcome, int quiet, const char *fmt, ...)
{
	struct run_ctx	*ctx = r->ctx;	/* r may be freed below */
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
	hook = quiet ? NULL : boot_hook_for(r);
	if (state_begin(r->agent->state, err, sizeof(err)) == -1)
		goto unstored;
	if (pending_remove(r->agent->state, r->rec->run_id, err,
	    sizeof(err)) == -1 ||
	    boot_hook_want(r->ctx, hook, err, sizeof(err)) == -1 ||
	    run_store_state(r, quiet ? RUN_DONE : RUN_FINISHED, err,
	    sizeof(err)) == -1) {
		state_rollback(r->agent->state);
		goto unstored;
	}
	if (state_commit(r->agent->state, err, sizeof(err)) == -1) {
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
			r->ctx->drain_run = NULL;
			boot_drain_later(r->ctx);
		}
		TAILQ_REMOVE(&r->ctx->list, r, entry);
		run_free(r);
		boot_hook_check(ctx);
		return;
	}
	run_log_state(r, os);
	if (msg[0] != '\0')
		log_info("run %" PRIu64 ": %s: %s", r->rec->run_id,
		    ctl_strrstate(outcome), msg);
	else
		log_info("run %" PRIu64 ": %s", r->rec->run_id,
		    ctl_strrstate(outcome));
	(void)pkg_remove_tree(r->dir);
	if (r->draining) {
		r->draining = 0;
		r->ctx->drain_run = NULL;
		boot_drain_later(r->ctx);
	}
	if (!quiet)
		run_report_outcome(r);
	else {
		TAILQ_REMOVE(&r->ctx->list, r, entry);
		run_free(r);
	}
	boot_hook_check(ctx);
}

static int
run_decode(struct run *r, char *err, size_t errlen)
{
	struct run_pkg	*p;
	size_t		 i;
	char		 e2[512];

	if (r->m != NULL)
		return (0);
	if (r->rec->npkgs == 0) {
		snprintf(err, errlen, "the run has no packages");
		return (-1);
	}
	r->m = xcalloc(r->rec->npkgs, sizeof(*r->m));
	for (i = 0; i < r->rec->npkgs; i++) {
		p = &r->rec->pkgs[i];
		pkg_manifest_init(&r->m[i]);
		if (pkg_manifest_verify(&r->m[i], p->manifest, p->manifest_len,
		    p->signature, (const uint8_t (*)[ED25519_PUB_LEN])
		    r->agent->keys, r->agent->nkeys, e2, sizeof(e2)) == -1) {
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
	if (statvfs(state_staging(r->agent->state), &sv) == -1) {
		snprintf(err, errlen, "staging: %s: %s",
		    state_staging(r->agent->state), strerror(errno));
		return (-1);
	}
	have = (uint64_t)sv.f_bavail * sv.f_frsize;
	if (have < need) {
		snprintf(err, errlen, "staging: %" PRIu64 " bytes free in %s, "
		    "the packages need %" PRIu64 " (file and extracted)",
		    have, state_staging(r->agent->state), need);
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

	busy = r->ctx->drain_run != NULL ? 1 : pending_busy(r->agent->state,
	    r->agent->boot_id, err, errlen);
	if (busy == -1)
		return (-1);
	if (busy) {
		snprintf(err, errlen, "%s", PENDING_BUSY_MSG);
		return (-1);
	}
	if (run_decode(r, err, errlen) == -1)
		return (-1);
	if (state_installed_list(r->agent->state, &inst, &ninst, err,
	    errlen) == -1)
		return (-1);
	for (i = 0, ok = 1; ok && i < r->rec->npkgs; i++) {
		ok = applic_check(&r->m[i], &r->agent->facts, inst, ninst, why,
		    sizeof(why));
		if (ok)
			ok = run_exec_mark_ok(r, i, why, sizeof(why));
		if (ok == -1) {
			state_installed_free(inst, ninst);
			snprintf(err, errlen, "%s", why);
			return (-1);
		}
		if (!ok)
			snprintf(err, errlen, "%s: not applicable: %s",
			    r->m[i].id, why);
	}
	state_installed_free(inst, ninst);
	if (!ok || run_check_space(r, err, errlen) == -1)
		return (-1);
	if ((r->rec->options & CTL_OPT_AT_NEXT_BOOT) &&
	    pending_reserve(r->agent->state, r->rec->run_id, PENDING_NEXT_BOOT,
	    r->agent->boot_id, err, errlen) == -1)
		return (-1);
	if (mkdir(r->dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "staging: %s: %s", r->dir,
		    strerror(errno));
		(void)pending_remove(r->agent->state, r->rec->run_id, why,
		    sizeof(why));
		return (-1);
	}
	if (run_set_state(r, RUN_READY, err, errlen) == -1) {
		(void)pending_remove(r->agent->state, r->rec->run_id, why,
		    sizeof(why));
		return (-1);
	}
	return (0);
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
		if (run_recv_verify(r, err, sizeof(err)) == -1)
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
	if (state_begin(r->agent->state, err, sizeof(err)) == -1)
		goto fail;
	if ((kind == PENDING_EXCLUSIVE && pending_reserve(r->agent->state,
	    r->rec->run_id, kind, r->agent->boot_id, err, sizeof(err)) == -1) ||
	    pending_commit(r->agent->state, r->rec->run_id, r->agent->boot_id,
	    err, sizeof(err)) == -1 ||
	    boot_hook_want(r->ctx, hook, err, sizeof(err)) == -1 ||
	    run_store_state(r, RUN_QUEUED, err, sizeof(err)) == -1) {
		state_rollback(r->agent->state);
		goto fail;
	}
	if (state_commit(r->agent->state, err, sizeof(err)) == -1)
		goto fail;
	run_log_state(r, os);
	run_report_queued(r);
	boot_hook_check(r->ctx);
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
		run_recv_resume(r);
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
			} else if (run_exec_outcome(r, i, RUN_P_INTERRUPTED, 0,
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

/*
 * The events that a run delivered, queued for the next boot or running
 * answers alike: the server asking again (ASSIGN, a reconnection) gets the
 * current state; a START, CANCEL or sync is too late to change anything.
 * Returns 1 when ev was one of them.
 */
static int
run_fsm_settled(struct run *r, enum run_event ev)
{
	switch (ev) {
	case RUN_EV_ASSIGN:
	case RUN_EV_ONLINE:
		run_report_current(r);
		return (1);
	case RUN_EV_SYNCED:
	case RUN_EV_CANCEL:
	case RUN_EV_START:
		return (1);
	default:
		return (0);
	}
}

/* The state machine: on the state, then on the event. */
static void
run_fsm(struct run *r, enum run_event ev, struct run_evdata *d)
{
	char		 err[1024];
	const char	*what;
	int		 started;

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
			if (d != NULL && run_recv_reroute(r, d->msg, err,
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
			/*
			 * A package already delivered: a START repeated for
			 * an agent back on a new connection, which crossed
			 * its DELIVERED (control-protocol.md, item 6).
			 */
			if (d->msg->u.start.pkg_index < r->rec->pkg_index) {
				log_info("run %" PRIu64 ": START for package "
				    "%u, which is delivered: ignored",
				    r->rec->run_id, d->msg->u.start.pkg_index);
				return;
			}
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
		/* The transfer's own events go to its state machine. */
		switch (ev) {
		case RUN_EV_RECEIVED:
			run_recv_fsm(r, RUN_RECV_EV_RECEIVED, d);
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
				started = run_recv_advance(r);
				if (run_set_state(r, RUN_READY, err,
				    sizeof(err)) == -1) {
					run_finish(r, CTL_RS_FAILED, 0,
					    "state_dir: %s", err);
					return;
				}
				if (started)
					run_receive(r);
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
			run_recv_fsm(r, RUN_RECV_EV_START, d);
			return;
		case RUN_EV_CANCEL:
			run_finish(r, CTL_RS_ERROR, 1, "cancelled: %s",
			    d->msg->u.cancel.message);
			return;
		case RUN_EV_ASSIGN:
			run_recv_fsm(r, RUN_RECV_EV_ASSIGN, d);
			return;
		case RUN_EV_ONLINE:
			run_recv_fsm(r, RUN_RECV_EV_ONLINE, d);
			return;
		case RUN_EV_PROBE:
			run_recv_fsm(r, RUN_RECV_EV_PROBE, d);
			return;
		case RUN_EV_REROUTE_LATE:
			run_recv_fsm(r, RUN_RECV_EV_REROUTE_LATE, d);
			return;
		case RUN_EV_SYNCED:
			return;
		default:
			break;
		}
		break;
	case RUN_DELIVERED:
		if (run_fsm_settled(r, ev))
			return;
		break;
	case RUN_QUEUED:
		switch (ev) {
		case RUN_EV_BOOT:
			if (run_decode(r, err, sizeof(err)) == -1) {
				run_finish(r, CTL_RS_FAILED, 0, "%s", err);
				return;
			}
			if (pending_set_running(r->agent->state, r->rec->run_id,
			    err, sizeof(err)) == -1) {
				run_finish(r, CTL_RS_FAILED, 0, "next-boot "
				    "queue: %s", err);
				return;
			}
			log_info("run %" PRIu64 ": applying it after the "
			    "restart", r->rec->run_id);
			run_execute(r);
			return;
		default:
			break;
		}
		if (run_fsm_settled(r, ev))
			return;
		break;
	case RUN_RUNNING:
		if (ev == RUN_EV_EXECUTED) {
			run_exec_ended(r, d->res);
			return;
		}
		if (run_fsm_settled(r, ev))
			return;
		break;
	case RUN_FINISHED:
		switch (ev) {
		case RUN_EV_SYNCED:
			r->rec->reported = 1;
			if (run_set_state(r, RUN_DONE, err, sizeof(err)) == -1)
				return;
			TAILQ_REMOVE(&r->ctx->list, r, entry);
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
	log_warnx("run %" PRIu64 ": event %s ignored in state %s",
	    r->rec->run_id, run_strevent(ev), run_strstate(r->rec->state));
}

static struct run *
run_wrap(struct run_ctx *ctx, struct run_rec *rec)
{
	struct run	*r;

	r = xcalloc(1, sizeof(*r));
	r->ctx = ctx;
	r->agent = ctx->agent;
	r->rec = rec;
	xasprintf(&r->dir, "%s/%" PRIu64, state_staging(ctx->agent->state),
	    rec->run_id);
	run_recv_init(r);
	TAILQ_INSERT_TAIL(&ctx->list, r, entry);
	return (r);
}

/*
 * A stored run whose rows broke a rule (state_run_load says which): it
 * is not resumed but finished as interrupted with that reason, reported
 * to the server like any outcome, and the agent goes on with the others.
 * 1 when r was such a run (it may be freed then).
 */
static int
run_invalid(struct run *r)
{
	if (r->rec->invalid == NULL)
		return (0);
	log_warnx("run %" PRIu64 ": %s", r->rec->run_id, r->rec->invalid);
	if (r->rec->state == RUN_DONE || r->rec->state == RUN_FINISHED)
		return (0);	/* its outcome is decided: history */
	run_finish(r, CTL_RS_INTERRUPTED, 0, "%s; not resumed",
	    r->rec->invalid);
	return (1);
}

/* A run from memory, or from the database (the next-boot queue's). */
static struct run *
run_load(struct run_ctx *ctx, uint64_t id)
{
	struct run	*r;
	struct run_rec	*rec;
	char		 err[512];

	if ((r = run_find(ctx, id)) != NULL)
		return (r);
	if (state_run_load(ctx->agent->state, id, &rec, err,
	    sizeof(err)) == -1 || rec == NULL)
		return (NULL);
	r = run_wrap(ctx, rec);
	if (run_invalid(r))
		return (NULL);
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
	rec->member_id = m->u.assign.member_id;
	memcpy(rec->member_key, m->u.assign.member_key,
	    sizeof(rec->member_key));
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
run_on_assign(struct run_ctx *ctx, const struct ctl_msg *m)
{
	struct run		*r;
	struct run_rec		*rec;
	struct ctl_msg		 rep;
	struct run_evdata	 d;
	char			 err[512], msg[600];

	if ((r = run_find(ctx, m->u.assign.run_id)) != NULL) {
		log_debug("run %" PRIu64 ": ASSIGN repeated in state %s",
		    r->rec->run_id, run_strstate(r->rec->state));
		memset(&d, 0, sizeof(d));
		d.msg = m;
		run_fsm(r, RUN_EV_ASSIGN, &d);
		return;
	}
	/* A run we finished earlier: the server missed our report. */
	if (state_run_load(ctx->agent->state, m->u.assign.run_id, &rec, err,
	    sizeof(err)) == 0 && rec != NULL) {
		r = run_wrap(ctx, rec);
		if (run_invalid(r))
			return;
		(void)run_decode(r, err, sizeof(err));
		run_fsm(r, RUN_EV_ASSIGN, NULL);
		if (r->rec->state == RUN_DONE) {
			TAILQ_REMOVE(&ctx->list, r, entry);
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
	if (state_run_insert(ctx->agent->state, rec, err, sizeof(err)) == -1) {
		/* Nothing stored, nothing to resume: just say why. */
		log_warnx("run %" PRIu64 ": %s", rec->run_id, err);
		snprintf(msg, sizeof(msg), "state_dir: %s", err);
		memset(&rep, 0, sizeof(rep));
		rep.type = CTL_REPORT;
		rep.u.report.run_id = rec->run_id;
		rep.u.report.state = CTL_RS_ERROR;
		rep.u.report.message = msg;
		rep.u.report.output = "";
		(void)agent_conn_send(ctx->agent->conn, &rep);
		state_run_free(rec);
		return;
	}
	r = run_wrap(ctx, rec);
	run_fsm(r, RUN_EV_ASSIGN, NULL);
}

void
run_message(struct run_ctx *ctx, const struct ctl_msg *m)
{
	struct run		*r;
	struct run_evdata	 d;
	uint64_t		 id;
	char			 err[512];

	memset(&d, 0, sizeof(d));
	d.msg = m;
	switch (m->type) {
	case CTL_ASSIGN:
		run_on_assign(ctx, m);
		return;
	case CTL_START:
		id = m->u.start.run_id;
		if ((r = run_find(ctx, id)) == NULL)
			break;
		log_info("run %" PRIu64 ": START package %u, session %016"
		    PRIx64, id, m->u.start.pkg_index, m->u.start.session);
		/*
		 * The session the receiver may take, stored before it is
		 * used: a restarted agent keys for it alone again.
		 */
		if (r->rec->session != m->u.start.session) {
			r->rec->session = m->u.start.session;
			if (state_run_update(r->agent->state, r->rec, err,
			    sizeof(err)) == -1)
				log_warnx("run %" PRIu64 ": %s", id, err);
		}
		run_fsm(r, RUN_EV_START, &d);
		return;
	case CTL_CANCEL:
		id = m->u.cancel.run_id;
		if ((r = run_find(ctx, id)) == NULL)
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

void
run_online(struct run_ctx *ctx)
{
	struct run	*r, *next;

	for (r = TAILQ_FIRST(&ctx->list); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		run_fsm(r, RUN_EV_ONLINE, NULL);
	}
	boot_hook_check(ctx);
}

void
run_offline(struct run_ctx *ctx)
{
	struct run	*r;

	/* Unacknowledged reports go again on the next connection. */
	TAILQ_FOREACH(r, &ctx->list, entry)
		r->sync_seq = 0;
	boot_hook_check(ctx);
}

void
run_synced(struct run_ctx *ctx, uint64_t seq)
{
	struct run	*r, *next;

	for (r = TAILQ_FIRST(&ctx->list); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		if (r->sync_seq != 0 && r->sync_seq <= seq) {
			r->sync_seq = 0;
			run_fsm(r, RUN_EV_SYNCED, NULL);
		}
	}
	boot_hook_check(ctx);
}

/* Remove staging directories of runs that are no longer active. */
static void
run_gc(struct run_ctx *ctx)
{
	DIR		*d;
	struct dirent	*de;
	uint64_t	*ids, id;
	size_t		 n, i;
	char		 err[512], *end, path[1024];
	struct run_rec	*rec;
	time_t		 now = time(NULL);

	if (state_run_ids(ctx->agent->state, 1, &ids, &n, err,
	    sizeof(err)) == 0) {
		for (i = 0; i < n; i++) {
			if (state_run_load(ctx->agent->state, ids[i], &rec, err,
			    sizeof(err)) == -1 || rec == NULL)
				continue;
			if (rec->state == RUN_DONE &&
			    now - rec->updated_at > RUN_KEEP_DONE)
				(void)state_run_delete(ctx->agent->state,
				    ids[i], err, sizeof(err));
			state_run_free(rec);
		}
		free(ids);
	}
	if ((d = opendir(state_staging(ctx->agent->state))) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		id = strtoull(de->d_name, &end, 10);
		if (*end == '\0' && run_find(ctx, id) != NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s",
		    state_staging(ctx->agent->state), de->d_name);
		log_info("staging: removing %s (no active run)", path);
		(void)pkg_remove_tree(path);
	}
	closedir(d);
}

struct run_ctx *
run_init(struct agent *agent)
{
	struct run_ctx		*ctx;
	struct run		*r, *next;
	struct run_rec		*rec;
	struct pending_entry	 e;
	uint64_t		*ids;
	size_t			 n, i;
	char			 err[512];
	time_t			 now = time(NULL);

	ctx = xcalloc(1, sizeof(*ctx));
	ctx->agent = agent;
	TAILQ_INIT(&ctx->list);
	ctx->fsm = run_fsm;
	ctx->finish = run_finish;
	ctx->load = run_load;
	ctx->receive = run_receive;
	boot_init(ctx);
	if (state_run_ids(agent->state, 0, &ids, &n, err, sizeof(err)) == -1)
		fatalx("runs: %s", err);
	for (i = 0; i < n; i++) {
		if (state_run_load(ctx->agent->state, ids[i], &rec, err,
		    sizeof(err)) == -1)
			fatalx("runs: %s", err);
		if (rec == NULL)
			continue;
		r = run_wrap(ctx, rec);
		/* A run being applied from the queue when we stopped. */
		if (rec->invalid == NULL && pending_get(ctx->agent->state, rec->run_id, &e, err,
		    sizeof(err)) == 1 && e.state == PENDING_RUNNING &&
		    rec->state == RUN_RUNNING) {
			ctx->drain_run = r;
			r->draining = 1;
			ctx->drain_started = 1;
		}
	}
	free(ids);
	if (n > 0)
		log_info("%zu run%s to carry on", n, n == 1 ? "" : "s");
	run_gc(ctx);
	for (r = TAILQ_FIRST(&ctx->list); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		if (run_invalid(r))
			continue;
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
	boot_drain_later(ctx);
	boot_hook_check(ctx);
	return (ctx);
}

void
run_shutdown(struct run_ctx *ctx)
{
	struct run	*r;

	/*
	 * Receivers keep what they have on disk for the next start; an
	 * executable still running is stopped by exec_shutdown and will be
	 * reported interrupted then.
	 */
	while ((r = TAILQ_FIRST(&ctx->list)) != NULL) {
		TAILQ_REMOVE(&ctx->list, r, entry);
		if (r->job != NULL)
			r->job = NULL;	/* exec_shutdown owns it */
		run_free(r);
	}
	boot_shutdown(ctx);
	free(ctx);
}
