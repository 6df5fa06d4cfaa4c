/*
 * The simulator's engine: the server's scheduler run against a virtual
 * clock and virtual agents, with the timeline written as it goes.  The
 * scenario and fleet files come in through sim_input.c; the summary and
 * JSON (sim_report.c) and the plot (sim_svg.c) read the results kept here.
 * Virtual agents do what fleetcast-agent does and the scheduler cannot
 * see: they get ready after a drawn delay (or never), are off until they
 * boot, refuse a run while applying next-boot updates (S12) or when 100
 * next-boot scenarios are pending (S13), stage next-boot packages (S10),
 * power off (S11) or restart (S14) when asked, and apply what is pending
 * when they restart.  Transfers take package_size over the link rate; a
 * multicast wave goes at its slowest member's rate.
 *
 * Memory grows with the fleet and with the runs in flight; the per-machine
 * records of finished runs are kept only when JSON or a plot is asked for,
 * otherwise only a 4-byte completion time per machine and run.
 */
#include <sys/types.h>

#include <arpa/inet.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "sim.h"
#include "sim_int.h"
#include "xmalloc.h"

/*
 * The engine.  Events are kept in a binary heap ordered by time, then by
 * the order they were pushed, so that the same input replays identically.
 */
enum sim_evtype {
	SIM_EV_RUN,		/* start run number n */
	SIM_EV_READY,		/* an agent would report ready */
	SIM_EV_WAVE_DONE,	/* a multicast wave has been received */
	SIM_EV_XFER_DONE,	/* one unicast transfer is complete */
	SIM_EV_EXEC_DONE,	/* a package finished running */
	SIM_EV_APPLY_DONE,	/* a next-boot package finished at boot */
	SIM_EV_XFER_FAIL,	/* the machine was down when its wave began */
	SIM_EV_REBOOT,		/* a scheduled restart (or start, if off) */
	SIM_EV_BOOTED,		/* a machine is up again */
};

struct sim_ev {
	uint64_t	 at;
	uint64_t	 seq;
	void		*p;
	uint32_t	 type;
	uint32_t	 n;
};

struct sim_agent;

/* What the simulator keeps beside each scheduler target. */
struct sim_tinfo {
	struct sim_agent *a;
	size_t		 live_idx;
	uint64_t	 delivered_at;
	uint64_t	 pending_at;
	uint64_t	 applied_at;
	uint8_t		 first_final;
	uint8_t		 reserved;	/* holds an S13 place */
};

struct sim_srun {
	struct sim	*sim;
	struct sched_run *run;
	uint32_t	 num;		/* 1-based */
	uint64_t	 start;
	struct sim_tinfo *ti;
	size_t		 nterminal;
	size_t		 nev;		/* events that point into the run */
	int		 finished;
	int		 freeing;
	int		 collected;
};

/* A multicast wave in flight: its members finish together. */
struct sim_wdone {
	struct sim_srun	 *sr;
	size_t		  n;
	struct sched_target *t[];
};

struct sim_agent {
	const struct sim_machine *cfg;
	struct sched_machine *sm;
	uint32_t	 idx;
	int		 on;
	uint64_t	 up_at;		/* while booting; SCHED_NEVER if off */
	uint64_t	 apply_until;	/* S12: applying next-boot updates */
	uint32_t	 pending;	/* S13: staged for next boot */
	uint32_t	 reserved;	/* S13: accepted, not staged yet */
	uint32_t	 max_pending;
	size_t		 next_reboot_idx;
	uint64_t	 next_reboot_t;
	struct sched_target **live;	/* targets not terminal */
	size_t		 nlive;
	size_t		 livecap;
	struct sched_target **pend;	/* targets in pending_boot, in order */
	size_t		 npend;
	size_t		 pendcap;
};

static void	sim_agent_down(struct sim *, struct sim_agent *, const char *);

static void
sim_push(struct sim *sim, uint64_t at, uint32_t type, void *p, uint32_t n)
{
	struct sim_ev	e, *h;
	size_t		i, parent;

	if (sim->nev == sim->evcap) {
		sim->evcap = sim->evcap == 0 ? 1024 : sim->evcap * 2;
		sim->ev = xreallocarray(sim->ev, sim->evcap, sizeof(*sim->ev));
	}
	e.at = at;
	e.seq = sim->seq++;
	e.p = p;
	e.type = type;
	e.n = n;
	if (type != SIM_EV_REBOOT && type != SIM_EV_BOOTED)
		sim->nlive_ev++;
	h = sim->ev;
	i = sim->nev++;
	while (i > 0) {
		parent = (i - 1) / 2;
		if (h[parent].at < e.at || (h[parent].at == e.at &&
		    h[parent].seq < e.seq))
			break;
		h[i] = h[parent];
		i = parent;
	}
	h[i] = e;
}

static struct sim_ev
sim_pop(struct sim *sim)
{
	struct sim_ev	 top = sim->ev[0], last, *h = sim->ev;
	size_t		 i = 0, c, n;

	n = --sim->nev;
	if (top.type != SIM_EV_REBOOT && top.type != SIM_EV_BOOTED)
		sim->nlive_ev--;
	if (n == 0)
		return (top);
	last = h[n];
	for (;;) {
		c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && (h[c + 1].at < h[c].at ||
		    (h[c + 1].at == h[c].at && h[c + 1].seq < h[c].seq)))
			c++;
		if (last.at < h[c].at || (last.at == h[c].at &&
		    last.seq < h[c].seq))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = last;
	return (top);
}

/* The timeline: one line per event, time in seconds from the start. */
static void __attribute__((format(printf, 3, 4)))
sim_tl(struct sim *sim, const struct sim_srun *sr, const char *fmt, ...)
{
	va_list	ap;

	if (sim->tl == NULL)
		return;
	fprintf(sim->tl, "%9" PRIu64 ".%03" PRIu64 "  ", sim->now / 1000,
	    sim->now % 1000);
	if (sr != NULL && sim->nruns > 1)
		fprintf(sim->tl, "run %" PRIu32 ": ", sr->num);
	va_start(ap, fmt);
	vfprintf(sim->tl, fmt, ap);
	va_end(ap);
	fputc('\n', sim->tl);
}

/* "600 s" or "2.5 s": option values as the user wrote them. */
static const char *
sim_fmt_secs(uint64_t ms, char *buf, size_t len)
{
	if (ms % 1000 == 0)
		snprintf(buf, len, "%" PRIu64 " s", ms / 1000);
	else
		snprintf(buf, len, "%" PRIu64 ".%03" PRIu64 " s", ms / 1000,
		    ms % 1000);
	return (buf);
}

const char *
sim_plural(size_t n)
{
	return (n == 1 ? "" : "s");
}

static const char *
sim_intern(struct sim *sim, const char *s)
{
	size_t	i;

	if (s == NULL)
		return (NULL);
	/* Few distinct messages exist; the newest are the likeliest. */
	for (i = sim->nstrs; i > 0; i--)
		if (strcmp(sim->strs[i - 1], s) == 0)
			return (sim->strs[i - 1]);
	if (sim->nstrs == sim->strcap) {
		sim->strcap = sim->strcap == 0 ? 16 : sim->strcap * 2;
		sim->strs = xreallocarray(sim->strs, sim->strcap,
		    sizeof(*sim->strs));
	}
	sim->strs[sim->nstrs] = xstrdup(s);
	return (sim->strs[sim->nstrs++]);
}

static void
sim_errcount(struct sim *sim, const char *msg)
{
	struct sim_errcount	*old;
	size_t			 i, h, oldsize;
	uint64_t		 hash = sim_strhash(msg);

	if (sim->nerrs * 2 >= sim->errsize) {
		old = sim->errs;
		oldsize = sim->errsize;
		sim->errsize = oldsize == 0 ? 16 : oldsize * 2;
		sim->errs = xcalloc(sim->errsize, sizeof(*sim->errs));
		for (i = 0; i < oldsize; i++) {
			if (old[i].msg == NULL)
				continue;
			h = old[i].hash & (sim->errsize - 1);
			while (sim->errs[h].msg != NULL)
				h = (h + 1) & (sim->errsize - 1);
			sim->errs[h] = old[i];
		}
		free(old);
	}
	h = hash & (sim->errsize - 1);
	while (sim->errs[h].msg != NULL) {
		if (sim->errs[h].hash == hash &&
		    strcmp(sim->errs[h].msg, msg) == 0) {
			sim->errs[h].count++;
			return;
		}
		h = (h + 1) & (sim->errsize - 1);
	}
	sim->errs[h].msg = xstrdup(msg);
	sim->errs[h].hash = hash;
	sim->errs[h].count = 1;
	sim->nerrs++;
}

static int64_t
sim_rel(uint64_t t, uint64_t start)
{
	if (t == SCHED_NEVER || t < start)
		return (-1);
	return ((int64_t)(t - start));
}

static void
sim_live_add(struct sim_agent *a, struct sched_target *t)
{
	struct sim_tinfo	*ti = t->udata;

	if (a->nlive == a->livecap) {
		a->livecap = a->livecap == 0 ? 4 : a->livecap * 2;
		a->live = xreallocarray(a->live, a->livecap, sizeof(*a->live));
	}
	ti->live_idx = a->nlive;
	a->live[a->nlive++] = t;
}

static void
sim_live_remove(struct sim_agent *a, struct sched_target *t)
{
	struct sim_tinfo	*ti = t->udata;
	struct sched_target	*last;

	last = a->live[--a->nlive];
	a->live[ti->live_idx] = last;
	((struct sim_tinfo *)last->udata)->live_idx = ti->live_idx;
}

static int
sim_terminal(enum sched_mstate st)
{
	return (sched_mstate_final(st) && st != SCHED_M_PENDING_BOOT);
}

static void
sim_check_free(struct sim *sim, struct sim_srun *sr)
{
	if (sr->run == NULL || sr->freeing || !sr->finished ||
	    sr->nterminal < sr->run->ntargets || sr->nev > 0)
		return;
	sr->freeing = 1;
	if (sim->ntofree == sim->tofreecap) {
		sim->tofreecap = sim->tofreecap == 0 ? 16 : sim->tofreecap * 2;
		sim->tofree = xreallocarray(sim->tofree, sim->tofreecap,
		    sizeof(*sim->tofree));
	}
	sim->tofree[sim->ntofree++] = sr;
}

/* Scheduler callbacks. */

static void
sim_cb_machine(void *arg, struct sched_target *t, enum sched_mstate old,
    enum sched_mstate new, uint64_t now, const struct sched_cause *c)
{
	struct sim		*sim = arg;
	struct sim_tinfo	*ti = t->udata;
	struct sim_srun		*sr = t->run->udata;
	struct sim_agent	*a = ti->a;
	const char		*name = t->machine->name;

	sim->last = now;
	if (ti->first_final == 0xff && sched_mstate_final(new))
		ti->first_final = new;
	switch (new) {
	case SCHED_M_READY:
		if (!t->run->opts.unicast && !t->run->decided &&
		    (t->run->opts.max_targets != 0 ||
		    t->run->opts.max_wait != SCHED_NEVER))
			sim_tl(sim, sr, "%s ready (%zu/%zu)", name,
			    t->run->nready, t->run->target_count);
		else
			sim_tl(sim, sr, "%s ready", name);
		break;
	case SCHED_M_QUEUED:
		sim->nqueued_ever++;
		sim_tl(sim, sr, "%s queued: no free slot (S7, "
		    "max_concurrent_machines %" PRIu32 ")", name,
		    sim->sc->max_concurrent_machines);
		break;
	case SCHED_M_TRANSFERRING:
		break;		/* the wave's line says it */
	case SCHED_M_DELIVERED:
		ti->delivered_at = now;
		sim_tl(sim, sr, "%s delivered", name);
		break;
	case SCHED_M_PENDING_BOOT:
		ti->pending_at = now;
		if (ti->reserved) {
			a->reserved--;
			ti->reserved = 0;
		}
		a->pending++;
		if (a->pending > a->max_pending)
			a->max_pending = a->pending;
		if (a->npend == a->pendcap) {
			a->pendcap = a->pendcap == 0 ? 4 : a->pendcap * 2;
			a->pend = xreallocarray(a->pend, a->pendcap,
			    sizeof(*a->pend));
		}
		a->pend[a->npend++] = t;
		sim->npend_real++;
		sim_tl(sim, sr, "%s pending_boot: runs at the next start "
		    "(%" PRIu32 " pending)", name, a->pending);
		break;
	case SCHED_M_RUNNING:
		/* Running for no time at all is not worth a line. */
		if (sim->sc->exec_time > 0)
			sim_tl(sim, sr, "%s running", name);
		break;
	case SCHED_M_SUCCEEDED:
		sim_tl(sim, sr, "%s succeeded", name);
		break;
	case SCHED_M_FAILED:
	case SCHED_M_ERROR:
	case SCHED_M_MISSED:
	case SCHED_M_INTERRUPTED:
		sim_tl(sim, sr, "%s %s: %s", name, sched_strmstate(new),
		    t->error != NULL ? t->error : "?");
		break;
	case SCHED_M_ASSIGNED:
		break;
	}
	/* applied_at: the staged package starts at the machine's restart. */
	if (old == SCHED_M_PENDING_BOOT) {
		sim->npend_real--;
		ti->applied_at = now;
	}
	if (sim_terminal(new)) {
		if (ti->reserved) {
			a->reserved--;
			ti->reserved = 0;
		}
		sim_live_remove(a, t);
		sr->nterminal++;
		sim_check_free(sim, sr);
	}
}

static void
sim_cb_error(void *arg, struct sched_machine *m, uint64_t now)
{
	struct sim	*sim = arg;

	if (m->error == NULL)
		sim_tl(sim, NULL, "%s error cleared (admin clear-error, S6)",
		    m->name);
}

static void
sim_cb_run(void *arg, struct sched_run *run, enum sched_rstate old,
    enum sched_rstate new, uint64_t now)
{
	struct sim	*sim = arg;
	struct sim_srun	*sr = run->udata;

	sim->last = now;
	if (new != SCHED_R_FINISHED)
		return;
	sr->finished = 1;
	sim_tl(sim, NULL, "run %" PRIu32 " finished", sr->num);
	sim_check_free(sim, sr);
}

static uint64_t
sim_duration(const struct sim *sim, uint64_t rate)
{
	if (sim->sc->rate != 0 && sim->sc->rate < rate)
		rate = sim->sc->rate;
	if (sim->sc->package_size == 0)
		return (0);
	/* Rounded up: a transfer never ends before its last byte. */
	return ((sim->sc->package_size * 1000 + rate - 1) / rate);
}

static void
sim_cb_wave(void *arg, const struct sched_wave *w)
{
	struct sim		*sim = arg;
	struct sim_srun		*sr = w->run->udata;
	struct sim_tinfo	*ti;
	struct sim_wdone	*wd;
	struct sim_wave		*rw;
	char			 gbuf[INET_ADDRSTRLEN], dbuf[300];
	uint64_t		 rate = UINT64_MAX, d, end = w->start;
	size_t			 i;

	sim->last = w->start;
	if (sim->first_transfer == SCHED_NEVER)
		sim->first_transfer = w->start - sr->start;
	if (w->path == SCHED_PATH_MULTICAST) {
		/*
		 * The group goes at the pace of its slowest member that is
		 * listening; a member that is down fails below.
		 */
		for (i = 0; i < w->n; i++) {
			ti = w->members[i]->udata;
			if (ti->a->on && ti->a->cfg->link_rate < rate)
				rate = ti->a->cfg->link_rate;
		}
		for (i = 0; i < w->n && rate == UINT64_MAX; i++) {
			ti = w->members[i]->udata;
			if (ti->a->cfg->link_rate < rate)
				rate = ti->a->cfg->link_rate;
		}
		d = sim_duration(sim, rate);
		end = w->start + d;
		wd = xmalloc(sizeof(*wd) + w->n * sizeof(wd->t[0]));
		wd->sr = sr;
		wd->n = w->n;
		memcpy(wd->t, w->members, w->n * sizeof(wd->t[0]));
		sr->nev++;
		sim_push(sim, end, SIM_EV_WAVE_DONE, wd, 0);
		sim_tl(sim, sr, "wave %u multicast to %s: %zu machine%s (%s), "
		    "transfer %s", w->index,
		    sched_group_str(w->run->group, gbuf, sizeof(gbuf)), w->n,
		    sim_plural(w->n), sched_strwhy(w->why),
		    sim_fmt_secs(d, dbuf, sizeof(dbuf)));
	} else {
		for (i = 0; i < w->n; i++) {
			ti = w->members[i]->udata;
			d = sim_duration(sim, ti->a->cfg->link_rate);
			if (w->start + d > end)
				end = w->start + d;
			sr->nev++;
			sim_push(sim, w->start + d, SIM_EV_XFER_DONE,
			    w->members[i], 0);
		}
		if (w->n == 1)
			snprintf(dbuf, sizeof(dbuf), "%s",
			    w->members[0]->machine->name);
		else
			snprintf(dbuf, sizeof(dbuf), "%zu machines", w->n);
		if (w->why == SCHED_WHY_UNICAST)
			sim_tl(sim, sr, "wave %u unicast: %s", w->index, dbuf);
		else
			sim_tl(sim, sr, "wave %u unicast: %s (%s)", w->index,
			    dbuf, sched_strwhy(w->why));
	}

	/*
	 * A machine that got ready, then went down (a restart, an S11
	 * power-off for another run) is not listening when its wave begins:
	 * its transfer fails.  The scheduler hears of it on the event queue,
	 * as callbacks must not call back into it.
	 */
	for (i = 0; i < w->n; i++) {
		ti = w->members[i]->udata;
		if (ti->a->on)
			continue;
		sr->nev++;
		sim_push(sim, w->start, SIM_EV_XFER_FAIL, w->members[i], 0);
	}

	if (sim->nwtotal < SIM_WLIST) {
		sim->wfirst[sim->nwtotal].run = sr->num;
		sim->wfirst[sim->nwtotal].index = w->index;
		sim->wfirst[sim->nwtotal].path = (uint8_t)w->path;
		sim->wfirst[sim->nwtotal].why = (uint8_t)w->why;
		sim->wfirst[sim->nwtotal].start = w->start - sr->start;
		sim->wfirst[sim->nwtotal].n = w->n;
	}
	if (sim->nwtotal == 0 || w->n < sim->wmin)
		sim->wmin = w->n;
	if (w->n > sim->wmax)
		sim->wmax = w->n;
	sim->wsum += w->n;
	sim->nwpath[w->path]++;
	sim->nwtotal++;
	if (!sim->keep)
		return;
	if (sim->nwaves == sim->wavecap) {
		sim->wavecap = sim->wavecap == 0 ? 64 : sim->wavecap * 2;
		sim->waves = xreallocarray(sim->waves, sim->wavecap,
		    sizeof(*sim->waves));
	}
	rw = &sim->waves[sim->nwaves++];
	rw->run = sr->num;
	rw->index = w->index;
	rw->path = (uint8_t)w->path;
	rw->why = (uint8_t)w->why;
	rw->group = w->path == SCHED_PATH_MULTICAST ? w->run->group : 0;
	rw->start = sim_rel(w->start, sr->start);
	rw->end = sim_rel(end, sr->start);
	rw->off = sim->nmembers;
	rw->n = w->n;
	if (sim->nmembers + w->n > sim->memcap) {
		while (sim->nmembers + w->n > sim->memcap)
			sim->memcap = sim->memcap == 0 ? 256 :
			    sim->memcap * 2;
		sim->members = xreallocarray(sim->members, sim->memcap,
		    sizeof(*sim->members));
	}
	for (i = 0; i < w->n; i++) {
		ti = w->members[i]->udata;
		sim->members[sim->nmembers++] = ti->a->idx;
	}
}

/* Virtual agents. */

/* The next scheduled restart after `now' (at or after, at the start). */
static uint64_t
sim_next_reboot(struct sim_agent *a, uint64_t now, int inclusive)
{
	const struct sim_machine *m = a->cfg;
	uint64_t	 t1 = SCHED_NEVER, t2 = SCHED_NEVER;

	while (a->next_reboot_idx < m->nreboot &&
	    (m->reboot_at[a->next_reboot_idx] < now ||
	    (!inclusive && m->reboot_at[a->next_reboot_idx] == now)))
		a->next_reboot_idx++;
	if (a->next_reboot_idx < m->nreboot)
		t1 = m->reboot_at[a->next_reboot_idx];
	if (m->reboot_every != 0)
		t2 = (now / m->reboot_every + 1) * m->reboot_every;
	if (t1 <= t2) {
		if (t1 != SCHED_NEVER)
			a->next_reboot_idx++;
		return (t1);
	}
	return (t2);
}

static void
sim_schedule_reboot(struct sim *sim, struct sim_agent *a, int inclusive)
{
	a->next_reboot_t = sim_next_reboot(a, sim->now, inclusive);
	if (a->next_reboot_t != SCHED_NEVER)
		sim_push(sim, a->next_reboot_t, SIM_EV_REBOOT, a, 0);
}

/* When the agent will be up, SCHED_NEVER if nothing will start it. */
static uint64_t
sim_agent_up_time(const struct sim *sim, const struct sim_agent *a)
{
	if (a->on)
		return (sim->now);
	if (a->up_at != SCHED_NEVER)
		return (a->up_at);
	if (a->next_reboot_t != SCHED_NEVER)
		return (a->next_reboot_t + a->cfg->boot_time);
	return (SCHED_NEVER);
}

/*
 * The machine goes down (restart or power-off): what it was receiving or
 * running fails; what waits for next boot stays.
 */
static void
sim_agent_down(struct sim *sim, struct sim_agent *a, const char *why)
{
	struct sched_target	**copy;
	size_t			  i, n = a->nlive;
	char			  msg[128];

	a->on = 0;
	a->up_at = SCHED_NEVER;
	a->apply_until = 0;
	if (n == 0)
		return;
	copy = xreallocarray(NULL, n, sizeof(*copy));
	memcpy(copy, a->live, n * sizeof(*copy));
	for (i = 0; i < n; i++) {
		if (copy[i]->state == SCHED_M_TRANSFERRING) {
			snprintf(msg, sizeof(msg), "%s during the transfer",
			    why);
			sched_report(sim->sched, copy[i], SCHED_EV_FAILED,
			    sim->now, msg);
		} else if (copy[i]->state == SCHED_M_RUNNING) {
			snprintf(msg, sizeof(msg), "%s while the package was "
			    "running", why);
			sched_report(sim->sched, copy[i], SCHED_EV_FAILED,
			    sim->now, msg);
		}
	}
	free(copy);
}

static void
sim_agent_restart(struct sim *sim, struct sim_agent *a, const char *why)
{
	sim_tl(sim, NULL, "%s restarting (%s)", a->cfg->name, why);
	sim_agent_down(sim, a, "machine restarted");
	a->up_at = sim->now + a->cfg->boot_time;
	sim_push(sim, a->up_at, SIM_EV_BOOTED, a, 0);
}

static void
sim_exec_done(struct sim *sim, struct sched_target *t)
{
	struct sim_tinfo	*ti = t->udata;

	if (t->state != SCHED_M_RUNNING)
		return;
	sched_report(sim->sched, t, SCHED_EV_SUCCEEDED, sim->now, NULL);
	if (t->run->opts.at_next_boot || !ti->a->on)
		return;
	/* Power off at the scenario's end (S11 covers the next-boot case). */
	if (t->run->opts.poweroff_after) {
		sim_tl(sim, t->run->udata, "%s powered off at scenario end",
		    ti->a->cfg->name);
		sim_agent_down(sim, ti->a, "machine powered off");
	} else if (t->run->opts.reboot_after)
		sim_agent_restart(sim, ti->a, "reboot_after, S14");
}

static void
sim_delivered(struct sim *sim, struct sched_target *t)
{
	struct sim_tinfo	*ti = t->udata;
	struct sim_srun		*sr = t->run->udata;
	struct sim_agent	*a = ti->a;

	if (t->state != SCHED_M_TRANSFERRING)
		return;
	sched_report(sim->sched, t, SCHED_EV_DELIVERED, sim->now, NULL);
	if (t->run->opts.at_next_boot) {
		sched_report(sim->sched, t, SCHED_EV_PENDING_BOOT, sim->now,
		    NULL);
		/* S11: power off right after delivery, not after the update. */
		if (t->run->opts.poweroff_after && a->on) {
			sim_tl(sim, sr, "%s powered off after delivery (S11)",
			    a->cfg->name);
			sim_agent_down(sim, a, "machine powered off");
		}
		return;
	}
	sched_report(sim->sched, t, SCHED_EV_RUNNING, sim->now, NULL);
	if (sim->sc->exec_time == 0)
		sim_exec_done(sim, t);
	else {
		sr->nev++;
		sim_push(sim, sim->now + sim->sc->exec_time, SIM_EV_EXEC_DONE,
		    t, 0);
	}
}

/*
 * A machine is up: it runs what was pending for next boot, one package
 * after the other, and while it does, new scenarios fail (S12).  The
 * pending count starts again from zero (S13).
 */
static void
sim_agent_booted(struct sim *sim, struct sim_agent *a)
{
	struct sched_target	**copy = NULL;
	struct sim_srun		 *sr;
	size_t			  i, n = a->npend;
	uint32_t		  k = a->pending;

	a->on = 1;
	a->up_at = SCHED_NEVER;
	a->pending = 0;
	if (k == 0) {
		sim_tl(sim, NULL, "%s up", a->cfg->name);
		return;
	}
	a->apply_until = sim->now + (uint64_t)k * sim->sc->exec_time;
	sim_tl(sim, NULL, "%s up: applying %" PRIu32 " next-boot "
	    "scenario%s", a->cfg->name, k, k == 1 ? "" : "s");
	if (n > 0) {
		copy = xreallocarray(NULL, n, sizeof(*copy));
		memcpy(copy, a->pend, n * sizeof(*copy));
	}
	a->npend = 0;
	/* Packages pending from before the simulation go first. */
	for (i = 0; i < n; i++) {
		sched_report(sim->sched, copy[i], SCHED_EV_RUNNING, sim->now,
		    NULL);
		if (sim->sc->exec_time == 0)
			sched_report(sim->sched, copy[i], SCHED_EV_SUCCEEDED,
			    sim->now, NULL);
		else {
			sr = copy[i]->run->udata;
			sr->nev++;
			sim_push(sim, sim->now + (k - n + i + 1) *
			    sim->sc->exec_time, SIM_EV_APPLY_DONE, copy[i], 0);
		}
	}
	free(copy);
}

static void
sim_ready(struct sim *sim, struct sched_target *t)
{
	struct sim_tinfo	*ti = t->udata;
	struct sim_srun		*sr = t->run->udata;
	struct sim_agent	*a = ti->a;
	uint64_t		 up;

	if (t->state != SCHED_M_ASSIGNED)
		return;
	if (!a->on) {
		/* The agent reports once the machine is up, if ever. */
		if ((up = sim_agent_up_time(sim, a)) != SCHED_NEVER) {
			sr->nev++;
			sim_push(sim, up, SIM_EV_READY, t, 0);
		}
		return;
	}
	if (sim->now < a->apply_until) {
		sched_report(sim->sched, t, SCHED_EV_ERROR, sim->now,
		    "next-boot update in progress (S12): run the scenario "
		    "again after the update");
		return;
	}
	if (t->run->opts.at_next_boot) {
		if (a->pending + a->reserved >= CTL_PENDING_CAP) {
			sched_report(sim->sched, t, SCHED_EV_ERROR, sim->now,
			    "100 next-boot scenarios already pending (S13): "
			    "refused until the machine restarts");
			return;
		}
		a->reserved++;
		ti->reserved = 1;
	}
	sched_report(sim->sched, t, SCHED_EV_READY, sim->now, NULL);
}

static void
sim_run_start(struct sim *sim, uint32_t k)
{
	struct sim_srun		*sr = &sim->runs[k];
	struct sim_runinfo	*ri = &sim->ri[k];
	const struct sim_scenario *sc = sim->sc;
	struct sched_target	*t;
	struct sim_agent	*a;
	char			 id[32], err[512], gbuf[INET_ADDRSTRLEN];
	char			 opts[160], dbuf[32];
	size_t			 n, i, j, first;
	uint64_t		 d;
	int			 off = 0;

	sr->sim = sim;
	sr->num = k + 1;
	sr->start = sim->now;
	ri->start = sim->now;
	ri->first_wave = ri->finished = -1;
	snprintf(id, sizeof(id), "run-%" PRIu32, sr->num);
	ri->id = xstrdup(id);

	n = sc->targets_per_run != 0 ? sc->targets_per_run : sim->fl->n;
	first = sc->targets_per_run != 0 ?
	    ((size_t)k * sc->targets_per_run) % sim->fl->n : 0;
	for (i = 0; i < n; i++) {
		j = (first + i) % sim->fl->n;
		sim->mbuf[i] = sim->agents[j].sm;
		/* The admin clears S6 errors before each run, if asked. */
		if (sc->clear_errors && sim->mbuf[i]->error != NULL)
			sched_clear_error(sim->sched, sim->mbuf[i], sim->now);
	}
	sr->run = sched_run_new(sim->sched, id, &sc->opts, sim->mbuf, n, err,
	    sizeof(err));
	if (sr->run == NULL) {
		ri->error = xstrdup(err);
		sim->nrefused_runs++;
		sim_tl(sim, NULL, "run %" PRIu32 " refused: %s", sr->num, err);
		return;
	}
	sr->run->udata = sr;
	ri->group = sc->opts.unicast ? 0 : sr->run->group;
	ri->ntargets = n;
	sim->ntargets += n;
	sr->ti = xcalloc(n, sizeof(*sr->ti));
	for (i = 0; i < n; i++) {
		t = &sr->run->targets[i];
		sr->ti[i].a = t->machine->udata;
		sr->ti[i].first_final = 0xff;
		sr->ti[i].delivered_at = SCHED_NEVER;
		sr->ti[i].pending_at = SCHED_NEVER;
		sr->ti[i].applied_at = SCHED_NEVER;
		t->udata = &sr->ti[i];
		sim_live_add(sr->ti[i].a, t);
	}

	if (sim->tl != NULL) {
		opts[0] = '\0';
		if (sc->opts.max_targets != 0)
			off += snprintf(opts + off, sizeof(opts) - off,
			    ", max_targets %" PRIu32, sc->opts.max_targets);
		if (sc->opts.max_wait != SCHED_NEVER)
			off += snprintf(opts + off, sizeof(opts) - off,
			    ", max_wait %s", sim_fmt_secs(sc->opts.max_wait,
			    dbuf, sizeof(dbuf)));
		if (sc->opts.at_next_boot)
			snprintf(opts + off, sizeof(opts) - off,
			    ", at next boot");
		if (sc->opts.unicast)
			sim_tl(sim, NULL, "run %" PRIu32 " started: %zu "
			    "machine%s, unicast%s", sr->num, n, sim_plural(n),
			    opts);
		else
			sim_tl(sim, NULL, "run %" PRIu32 " started: %zu "
			    "machine%s, group %s%s", sr->num, n, sim_plural(n),
			    sched_group_str(sr->run->group, gbuf,
			    sizeof(gbuf)), opts);
		if (sc->restart_at_start)
			sim_tl(sim, sr, "restart_at_start is ignored for "
			    "remote updates (S15)");
	}

	sched_run_start(sim->sched, sr->run, sim->now);
	/*
	 * One draw per target whatever happens to it, so that changing one
	 * option does not shift every later draw.
	 */
	for (i = 0; i < n; i++) {
		t = &sr->run->targets[i];
		a = sr->ti[i].a;
		d = sim_draw(sim->rng, &a->cfg->ready);
		if (d == SCHED_NEVER || t->state != SCHED_M_ASSIGNED)
			continue;
		sr->nev++;
		sim_push(sim, sim->now + d, SIM_EV_READY, t, 0);
	}
}

/* Keep what the outputs need from a run, then forget it. */
static void
sim_collect(struct sim *sim, struct sim_srun *sr)
{
	struct sched_run	*run = sr->run;
	struct sim_runinfo	*ri = &sim->ri[sr->num - 1];
	struct sched_target	*t;
	struct sim_tinfo	*ti;
	struct sim_rec		*r;
	size_t			 i;
	uint64_t		 c;

	ri->state = run->state;
	ri->first_wave = sim_rel(run->first_wave_at, sr->start);
	ri->finished = sim_rel(run->finished_at, sr->start);
	for (i = 0; i < run->ntargets; i++) {
		t = &run->targets[i];
		ti = t->udata;
		sim->states[t->state]++;
		if (ti->first_final != 0xff)
			sim->first_final[ti->first_final]++;
		if ((t->state == SCHED_M_ERROR || t->state == SCHED_M_FAILED) &&
		    t->error != NULL)
			sim_errcount(sim, t->error);
		if (ti->first_final == SCHED_M_SUCCEEDED ||
		    ti->first_final == SCHED_M_PENDING_BOOT) {
			c = t->done_at - sr->start;
			if (sim->ndone == sim->donecap) {
				sim->donecap = sim->donecap == 0 ? 1024 :
				    sim->donecap * 2;
				sim->done = xreallocarray(sim->done,
				    sim->donecap, sizeof(*sim->done));
			}
			sim->done[sim->ndone++] = c > UINT32_MAX ?
			    UINT32_MAX : (uint32_t)c;
		}
		if (ti->a->max_pending > sim->max_pending)
			sim->max_pending = ti->a->max_pending;
		if (!sim->keep)
			continue;
		if (sim->nrecs == sim->reccap) {
			sim->reccap = sim->reccap == 0 ? 256 : sim->reccap * 2;
			sim->recs = xreallocarray(sim->recs, sim->reccap,
			    sizeof(*sim->recs));
		}
		r = &sim->recs[sim->nrecs++];
		r->run = sr->num;
		r->machine = ti->a->idx;
		r->state = t->state;
		r->first_final = ti->first_final;
		r->path = t->path;
		r->wave = t->wave;
		r->ready_at = sim_rel(t->ready_at, sr->start);
		r->start_at = sim_rel(t->start_at, sr->start);
		r->delivered_at = sim_rel(ti->delivered_at, sr->start);
		r->pending_at = sim_rel(ti->pending_at, sr->start);
		r->done_at = sim_rel(t->done_at, sr->start);
		r->applied_at = sim_rel(ti->applied_at, sr->start);
		r->error = sim_intern(sim, t->error);
	}
	sr->collected = 1;
	for (i = 0; i < run->ntargets; i++) {
		t = &run->targets[i];
		if (!sim_terminal(t->state))
			sim_live_remove(((struct sim_tinfo *)t->udata)->a, t);
	}
	sched_run_free(sim->sched, run);
	sr->run = NULL;
	free(sr->ti);
	sr->ti = NULL;
}

static void
sim_process(struct sim *sim, const struct sim_ev *e)
{
	struct sched_target	*t;
	struct sim_srun		*sr;
	struct sim_wdone	*wd;
	struct sim_agent	*a;
	size_t			 i;

	switch (e->type) {
	case SIM_EV_RUN:
		sim->last = sim->now;
		sim_run_start(sim, e->n);
		break;
	case SIM_EV_READY:
	case SIM_EV_XFER_DONE:
	case SIM_EV_EXEC_DONE:
	case SIM_EV_APPLY_DONE:
	case SIM_EV_XFER_FAIL:
		t = e->p;
		sr = t->run->udata;
		sr->nev--;
		if (e->type == SIM_EV_READY)
			sim_ready(sim, t);
		else if (e->type == SIM_EV_XFER_DONE)
			sim_delivered(sim, t);
		else if (e->type == SIM_EV_EXEC_DONE)
			sim_exec_done(sim, t);
		else if (e->type == SIM_EV_XFER_FAIL) {
			if (t->state == SCHED_M_TRANSFERRING)
				sched_report(sim->sched, t, SCHED_EV_FAILED,
				    sim->now, "machine was down when the "
				    "transfer started");
		} else if (t->state == SCHED_M_RUNNING)
			sched_report(sim->sched, t, SCHED_EV_SUCCEEDED,
			    sim->now, NULL);
		sim_check_free(sim, sr);
		break;
	case SIM_EV_WAVE_DONE:
		wd = e->p;
		wd->sr->nev--;
		for (i = 0; i < wd->n; i++)
			sim_delivered(sim, wd->t[i]);
		sim_check_free(sim, wd->sr);
		free(wd);
		break;
	case SIM_EV_REBOOT:
		a = e->p;
		a->next_reboot_t = SCHED_NEVER;
		sim_schedule_reboot(sim, a, 0);
		if (a->on)
			sim_agent_restart(sim, a, "scheduled");
		else if (a->up_at == SCHED_NEVER) {
			/* Powered off (S11): this is its next start. */
			sim_tl(sim, NULL, "%s starting", a->cfg->name);
			a->up_at = sim->now + a->cfg->boot_time;
			sim_push(sim, a->up_at, SIM_EV_BOOTED, a, 0);
		}
		break;
	case SIM_EV_BOOTED:
		a = e->p;
		/* A restart while booting makes this event stale. */
		if (!a->on && a->up_at == e->at)
			sim_agent_booted(sim, a);
		break;
	}
}

/*
 * Nothing but restarts is left: go on only while some of them will apply
 * a pending next-boot package, and only up to the latest such start.
 */
static uint64_t
sim_boot_horizon(const struct sim *sim)
{
	const struct sim_agent	*a;
	uint64_t		 h = SCHED_NEVER, up;
	size_t			 i;

	for (i = 0; i < sim->fl->n; i++) {
		a = &sim->agents[i];
		if (a->npend == 0)
			continue;
		if (a->on)
			up = a->next_reboot_t == SCHED_NEVER ? SCHED_NEVER :
			    a->next_reboot_t + a->cfg->boot_time;
		else
			up = sim_agent_up_time(sim, a);
		if (up == SCHED_NEVER)
			continue;
		if (h == SCHED_NEVER || up > h)
			h = up;
	}
	return (h);
}

struct sim *
sim_new(const struct sim_scenario *sc, const struct sim_fleet *fl,
    uint64_t seed, FILE *timeline, int keep)
{
	struct sim		*sim;
	struct sched_conf	 conf;
	struct sched_cb		 cb;
	struct sim_agent	*a;
	uint64_t		 x = seed;
	size_t			 i, maxn;

	sim = xcalloc(1, sizeof(*sim));
	sim->sc = sc;
	sim->fl = fl;
	sim->seed = seed;
	sim->tl = timeline;
	sim->keep = keep;
	sim->first_transfer = SCHED_NEVER;
	for (i = 0; i < 4; i++)
		sim->rng[i] = sim_splitmix(&x);

	memset(&conf, 0, sizeof(conf));
	conf.max_concurrent_machines = sc->max_concurrent_machines;
	conf.on_concurrency_limit = sc->on_concurrency_limit;
	conf.group_base = sc->group_base;
	conf.group_prefix = sc->group_prefix;
	memset(&cb, 0, sizeof(cb));
	cb.machine_state = sim_cb_machine;
	cb.machine_error = sim_cb_error;
	cb.run_state = sim_cb_run;
	cb.wave_start = sim_cb_wave;
	sim->sched = sched_new(&conf, &cb, sim);

	sim->agents = xcalloc(fl->n, sizeof(*sim->agents));
	for (i = 0; i < fl->n; i++) {
		a = &sim->agents[i];
		a->cfg = &fl->m[i];
		a->idx = (uint32_t)i;
		a->sm = sched_machine_get(sim->sched, fl->m[i].name);
		a->sm->remote = fl->m[i].remote;
		a->sm->udata = a;
		a->pending = fl->m[i].pending;
		a->max_pending = a->pending;
		a->next_reboot_t = SCHED_NEVER;
		a->on = 1;
		a->up_at = SCHED_NEVER;
	}
	sim->nruns = sc->runs;
	sim->runs = xcalloc(sim->nruns, sizeof(*sim->runs));
	sim->ri = xcalloc(sim->nruns, sizeof(*sim->ri));
	maxn = sc->targets_per_run != 0 && sc->targets_per_run < fl->n ?
	    sc->targets_per_run : fl->n;
	sim->mbuf = xcalloc(maxn, sizeof(*sim->mbuf));
	return (sim);
}

static void
sim_close_runs(struct sim *sim)
{
	struct sim_srun	*sr;
	struct sched_run *run;
	char		 reason[256];
	uint32_t	 k;

	for (k = 0; k < sim->nruns; k++) {
		sr = &sim->runs[k];
		if ((run = sr->run) == NULL || run->state == SCHED_R_FINISHED)
			continue;
		if (!run->decided && !run->opts.unicast &&
		    run->opts.max_targets != 0 &&
		    run->opts.max_wait == SCHED_NEVER)
			snprintf(reason, sizeof(reason), "the simulation "
			    "ended before max targets was reached (%zu of %zu "
			    "ready)", run->nready, run->target_count);
		else
			snprintf(reason, sizeof(reason), "the simulation "
			    "ended before the machine was ready");
		sched_run_close(sim->sched, run, sim->now, reason);
	}
}

void
sim_run(struct sim *sim)
{
	struct sim_ev	 e;
	uint64_t	 dl, horizon = SCHED_NEVER;
	uint32_t	 k;
	size_t		 i;
	struct sim_agent *a;

	if (sim->ran)
		return;
	sim->ran = 1;
	for (i = 0; i < sim->fl->n; i++) {
		a = &sim->agents[i];
		if (a->cfg->online_at > 0) {
			a->on = 0;
			a->up_at = a->cfg->online_at;
			sim_push(sim, a->up_at, SIM_EV_BOOTED, a, 0);
		}
		sim_schedule_reboot(sim, a, 1);
	}
	for (k = 0; k < sim->nruns; k++)
		sim_push(sim, (uint64_t)k * sim->sc->run_interval, SIM_EV_RUN,
		    NULL, k);

	for (;;) {
		while (sim->ntofree > 0)
			sim_collect(sim, sim->tofree[--sim->ntofree]);
		dl = sched_next_deadline(sim->sched);
		if (dl <= sim->now) {
			sched_timeout(sim->sched, sim->now);
			continue;
		}
		if (sim->nlive_ev == 0 && dl == SCHED_NEVER) {
			if (sim->npend_real == 0)
				break;
			if (horizon == SCHED_NEVER || sim->now >= horizon)
				horizon = sim_boot_horizon(sim);
			if (horizon == SCHED_NEVER || sim->nev == 0 ||
			    sim->ev[0].at > horizon)
				break;
		}
		if (sim->nev == 0 || dl < sim->ev[0].at) {
			if (dl == SCHED_NEVER)
				break;
			sim->now = dl;
			continue;
		}
		sim->now = sim->ev[0].at;
		while (sim->nev > 0 && sim->ev[0].at == sim->now) {
			e = sim_pop(sim);
			sim_process(sim, &e);
		}
	}
	/* Restarts processed after the last run activity do not count. */
	sim->now = sim->last;
	sim_close_runs(sim);
	while (sim->ntofree > 0)
		sim_collect(sim, sim->tofree[--sim->ntofree]);
	for (k = 0; k < sim->nruns; k++)
		if (sim->runs[k].run != NULL)
			sim_collect(sim, &sim->runs[k]);
	for (i = 0; i < sim->fl->n; i++)
		if (sim->agents[i].max_pending > sim->max_pending)
			sim->max_pending = sim->agents[i].max_pending;
	/* Events left are restarts and stale READYs; drop them. */
	for (i = 0; i < sim->nev; i++)
		if (sim->ev[i].type == SIM_EV_WAVE_DONE)
			free(sim->ev[i].p);
	sim->nev = 0;
}

void
sim_free(struct sim *sim)
{
	size_t		i;
	uint32_t	k;

	if (sim == NULL)
		return;
	for (i = 0; i < sim->nev; i++)
		if (sim->ev[i].type == SIM_EV_WAVE_DONE)
			free(sim->ev[i].p);
	for (k = 0; k < sim->nruns; k++) {
		if (sim->runs[k].run != NULL)
			sched_run_free(sim->sched, sim->runs[k].run);
		free(sim->runs[k].ti);
		free(sim->ri[k].id);
		free(sim->ri[k].error);
	}
	sched_free(sim->sched);
	for (i = 0; i < sim->fl->n; i++) {
		free(sim->agents[i].live);
		free(sim->agents[i].pend);
	}
	free(sim->agents);
	free(sim->runs);
	free(sim->ri);
	free(sim->mbuf);
	free(sim->ev);
	free(sim->tofree);
	free(sim->recs);
	free(sim->waves);
	free(sim->members);
	free(sim->done);
	for (i = 0; i < sim->errsize; i++)
		free(sim->errs[i].msg);
	free(sim->errs);
	for (i = 0; i < sim->nstrs; i++)
		free(sim->strs[i]);
	free(sim->strs);
	free(sim);
}

static int
sim_rec_cmp(const void *a, const void *b)
{
	const struct sim_rec	*x = a, *y = b;

	if (x->run != y->run)
		return (x->run < y->run ? -1 : 1);
	if (x->machine != y->machine)
		return (x->machine < y->machine ? -1 : 1);
	return (0);
}

static int
sim_wave_cmp(const void *a, const void *b)
{
	const struct sim_wave	*x = a, *y = b;

	if (x->run != y->run)
		return (x->run < y->run ? -1 : 1);
	if (x->index != y->index)
		return (x->index < y->index ? -1 : 1);
	return (0);
}

static int
sim_u32_cmp(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x < y ? -1 : x > y);
}

/* Runs finish in any order: sort once for the outputs. */
void
sim_sort(const struct sim *csim)
{
	struct sim	*sim = (struct sim *)csim;

	if (sim->sorted)
		return;
	sim->sorted = 1;
	if (sim->nrecs > 0)
		qsort(sim->recs, sim->nrecs, sizeof(*sim->recs), sim_rec_cmp);
	if (sim->nwaves > 0)
		qsort(sim->waves, sim->nwaves, sizeof(*sim->waves),
		    sim_wave_cmp);
	if (sim->ndone > 0)
		qsort(sim->done, sim->ndone, sizeof(*sim->done), sim_u32_cmp);
}

const struct sim_rec *
sim_records(const struct sim *sim, size_t *n)
{
	sim_sort(sim);
	*n = sim->nrecs;
	return (sim->recs);
}

const struct sim_wave *
sim_waves(const struct sim *sim, size_t *n)
{
	sim_sort(sim);
	*n = sim->nwaves;
	return (sim->waves);
}

const uint32_t *
sim_wave_members(const struct sim *sim)
{
	return (sim->members);
}

const struct sim_runinfo *
sim_runs(const struct sim *sim, size_t *n)
{
	*n = sim->nruns;
	return (sim->ri);
}

uint32_t
sim_max_pending(const struct sim *sim)
{
	return (sim->max_pending);
}

size_t
sim_count_state(const struct sim *sim, enum sched_mstate st)
{
	return ((unsigned)st < SCHED_M_NSTATES ? sim->states[st] : 0);
}

uint64_t
sim_end(const struct sim *sim)
{
	return (sim->now);
}
