/*
 * What happens around a boot: the next-boot queue is applied after a
 * restart, one run after the other (boot_drain_*), and the reboot or
 * power-off command a run asked for runs once nothing else is in flight
 * and the server has the reports that precede it (boot_hook_*).  A hook
 * is stored with the boot id it was asked for in, in the same transaction
 * as the state that asks for it, so that it runs once per boot whatever
 * the command does.  The runs themselves belong to run.c: the queue asks
 * it for a run (runs->load) and hands it its turn (runs->fsm).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "agent.h"
#include "conf.h"
#include "ctl.h"
#include "log.h"
#include "run_int.h"

#define BOOT_HOOK_TIMEOUT	120	/* s for reboot/poweroff commands */
#define BOOT_HOOK_WAIT		10	/* s to wait for reports before it */

/* The next-boot queue. */

static void
boot_drain_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct run_ctx		*ctx = arg;
	struct pending_entry	 e;
	struct run		*r;
	char			 err[512];
	int			 rv;

	while (ctx->drain_run == NULL) {
		rv = pending_next_due(ctx->agent->state, ctx->agent->boot_id,
		    &e, err, sizeof(err));
		if (rv == -1) {
			log_warnx("next-boot queue: %s", err);
			return;
		}
		if (rv == 0) {
			if (ctx->drain_started) {
				ctx->drain_started = 0;
				log_info("next-boot updates applied; new "
				    "scenarios are accepted again");
			}
			boot_hook_check(ctx);
			return;
		}
		/* run.c finds the run, or loads it from the database. */
		if ((r = ctx->load(ctx, e.run_id)) == NULL) {
			log_warnx("next-boot queue: run %" PRIu64 " is "
			    "not stored; dropped", e.run_id);
			(void)pending_remove(ctx->agent->state, e.run_id, err,
			    sizeof(err));
			continue;
		}
		if (!ctx->drain_started)
			log_info("the machine restarted: applying next-boot "
			    "updates in order");
		ctx->drain_started = 1;
		ctx->drain_run = r;
		r->draining = 1;
		switch (r->rec->state) {
		case RUN_QUEUED:
			ctx->fsm(r, RUN_EV_BOOT, NULL);
			break;
		case RUN_RUNNING:
			/* Resumed by run_init; it finishes by itself. */
			break;
		default:
			log_warnx("next-boot queue: run %" PRIu64 " is %s; "
			    "dropped", e.run_id, run_strstate(r->rec->state));
			r->draining = 0;
			ctx->drain_run = NULL;
			(void)pending_remove(ctx->agent->state, e.run_id, err,
			    sizeof(err));
			break;
		}
	}
}

void
boot_drain_later(struct run_ctx *ctx)
{
	event_active(ctx->ev_drain, EV_TIMEOUT, 1);
}

/* Reboot and power off. */

/*
 * What the scenario asks for once the run has ended: reboot after a
 * successful run (scenario option) or after a package that needs it, and
 * power off at the end of the scenario, except for at-next-boot runs,
 * which power off right after delivery instead (S11).
 */
const char *
boot_hook_for(struct run *r)
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
int
boot_hook_want(struct run_ctx *ctx, const char *kind, char *err, size_t errlen)
{
	char	*cur, val[128];

	if (kind == NULL)
		return (0);
	if (state_meta_get(ctx->agent->state, "hook", &cur, err, errlen) == -1)
		return (-1);
	/* Power off wins: the next start is a boot anyway. */
	if (cur != NULL && strncmp(cur, "poweroff ", 9) == 0 &&
	    strcmp(kind, "reboot") == 0) {
		free(cur);
		return (0);
	}
	free(cur);
	snprintf(val, sizeof(val), "%s %s", kind, ctx->agent->boot_id);
	return (state_meta_set(ctx->agent->state, "hook", val, err, errlen));
}


static void
boot_hook_done(const struct exec_result *res, void *arg)
{
	struct run_ctx	*ctx = arg;
	char		 how[256], err[512], *kind = ctx->hook_kind, *out;

	ctx->hook_job = NULL;
	ctx->hook_kind = NULL;
	exec_describe(res, BOOT_HOOK_TIMEOUT, how, sizeof(how));
	out = exec_tail_text(res);
	if (res->how == EXEC_EXITED && res->exit_status == 0)
		log_info("%s_command done", kind);
	else
		log_warnx("%s_command: %s%s%s", kind, how, out[0] ? ": " : "",
		    out);
	free(out);
	/* Not again in this boot, whatever the command did. */
	if (state_meta_set(ctx->agent->state, "hook", NULL, err,
	    sizeof(err)) == -1)
		log_warnx("hook: %s", err);
	free(kind);
}

static void
boot_hook_timer(evutil_socket_t fd, short ev, void *arg)
{
	boot_hook_check(arg);
}

/*
 * Run the stored reboot or power-off command when nothing is in flight:
 * no transfer, no executable, no next-boot update left, and the server
 * has the reports that precede it (or BOOT_HOOK_WAIT seconds have passed,
 * or we are offline: the stored outcome is sent after the restart).
 */
void
boot_hook_check(struct run_ctx *ctx)
{
	struct run		 *r;
	char			 *val, *sp, err[512], **argv;
	const char		 *cmd;
	struct timeval		  tv = { 1, 0 };
	int			  waiting = 0;
	time_t			  now = time(NULL);

	if (ctx->hook_job != NULL || ctx->agent->state == NULL)
		return;
	if (state_meta_get(ctx->agent->state, "hook", &val, err,
	    sizeof(err)) == -1) {
		log_warnx("hook: %s", err);
		return;
	}
	if (val == NULL) {
		ctx->hook_wait_until = 0;
		return;
	}
	if ((sp = strchr(val, ' ')) == NULL ||
	    strcmp(sp + 1, ctx->agent->boot_id) != 0) {
		/* Asked for in an earlier boot: that restart happened. */
		(void)state_meta_set(ctx->agent->state, "hook", NULL, err,
		    sizeof(err));
		free(val);
		return;
	}
	*sp = '\0';
	if (ctx->drain_run != NULL) {
		free(val);
		return;
	}
	TAILQ_FOREACH(r, &ctx->list, entry) {
		if (r->xr != NULL || r->job != NULL ||
		    r->rec->state == RUN_RECEIVING ||
		    r->rec->state == RUN_RUNNING) {
			free(val);
			return;
		}
		if (r->sync_seq != 0)
			waiting = 1;
	}
	if (waiting && agent_conn_is_online(ctx->agent->conn)) {
		if (ctx->hook_wait_until == 0)
			ctx->hook_wait_until = now + BOOT_HOOK_WAIT;
		if (now < ctx->hook_wait_until) {
			evtimer_add(ctx->ev_hook, &tv);
			free(val);
			return;
		}
		log_warnx("%s: the server did not confirm the reports within "
		    "%d s; going ahead", val, BOOT_HOOK_WAIT);
	}
	ctx->hook_wait_until = 0;
	cmd = conf_str(ctx->agent->conf, strcmp(val, "poweroff") == 0 ?
	    "poweroff_command" : "reboot_command");
	if ((argv = exec_split(cmd, err, sizeof(err))) == NULL) {
		log_warnx("%s: %s", val, err);
		free(val);
		return;
	}
	log_info("%s: running %s_command: %s", val, val, cmd);
	ctx->hook_job = exec_command(argv, BOOT_HOOK_TIMEOUT, boot_hook_done,
	    ctx, err, sizeof(err));
	exec_free_argv(argv);
	if (ctx->hook_job != NULL)
		ctx->hook_kind = val;	/* boot_hook_done frees it */
	else {
		log_warnx("%s_command: %s", val, err);
		(void)state_meta_set(ctx->agent->state, "hook", NULL, err,
		    sizeof(err));
		free(val);
	}
}

void
boot_init(struct run_ctx *ctx)
{
	ctx->ev_drain = event_new(ctx->agent->base, -1, 0, boot_drain_cb, ctx);
	ctx->ev_hook = evtimer_new(ctx->agent->base, boot_hook_timer, ctx);
	if (ctx->ev_drain == NULL || ctx->ev_hook == NULL)
		fatalx("run: event_new failed");
}

void
boot_shutdown(struct run_ctx *ctx)
{
	if (ctx->ev_drain != NULL)
		event_free(ctx->ev_drain);
	if (ctx->ev_hook != NULL)
		event_free(ctx->ev_hook);
	ctx->ev_drain = ctx->ev_hook = NULL;
	ctx->hook_job = NULL;
}
