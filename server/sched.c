/*
 * The scenario scheduler: per-run machine state machines, the S4 decision
 * (count reached or max wait elapsed), S5 and S8 immediate starts, S6
 * sticky errors, S7 concurrency slots and S9 group assignment.  It keeps
 * every decision O(1) or O(machines of the run) so that one server can hold
 * thousands of runs, and defers every wave start to sched_timeout() so that
 * machines that become ready in the same instant (or the same turn of the
 * caller's event loop) share one wave.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <netinet/in.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sched.h"
#include "xmalloc.h"

#define SCHED_NOHEAP	((size_t)-1)

TAILQ_HEAD(sched_rlist, sched_run);

struct sched {
	struct sched_conf	  conf;
	struct sched_cb		  cb;
	void			 *arg;

	struct sched_machine	**htab;
	size_t			  hsize;
	size_t			  hcount;

	struct sched_rlist	  runs;
	struct sched_rlist	  dirty;
	struct sched_tlist	  queue;	/* S7 queued targets, FIFO */
	size_t			  nqueued;
	size_t			  active;	/* targets transferring */
	char			 *limit_msg;

	struct sched_run	**heap;		/* max-wait deadlines */
	size_t			  nheap;
	size_t			  heapcap;

	uint8_t			 *groups;	/* bitmap over group_range */
	uint32_t		  ngroups;
	uint32_t		  group_next;

	/* Scratch arrays for building waves, grown on demand. */
	struct sched_target	**cand;
	struct sched_target	**mc;
	struct sched_target	**uc;
	size_t			  scratchcap;
	struct sched_target	**qtmp;		/* dispatcher, by slots */
	struct sched_target	**qsorted;
	struct sched_run	**qruns;
	size_t			  qcap;
	size_t			  ncand;
	size_t			  nmc;
	size_t			  nuc;
};

static const char *sched_mstate_names[SCHED_M_NSTATES] = {
	"assigned", "ready", "queued", "transferring", "delivered",
	"pending_boot", "running", "succeeded", "failed", "error", "missed",
	"interrupted",
};

const char *
sched_strmstate(enum sched_mstate st)
{
	if ((unsigned)st >= SCHED_M_NSTATES)
		return ("unknown");
	return (sched_mstate_names[st]);
}

const char *
sched_strrstate(enum sched_rstate st)
{
	switch (st) {
	case SCHED_R_WAITING:
		return ("waiting");
	case SCHED_R_TRANSFERRING:
		return ("transferring");
	case SCHED_R_FINISHED:
		return ("finished");
	}
	return ("unknown");
}

const char *
sched_strevent(enum sched_mevent ev)
{
	switch (ev) {
	case SCHED_EV_READY:
		return ("ready");
	case SCHED_EV_ERROR:
		return ("error");
	case SCHED_EV_DELIVERED:
		return ("delivered");
	case SCHED_EV_PENDING_BOOT:
		return ("pending_boot");
	case SCHED_EV_RUNNING:
		return ("running");
	case SCHED_EV_SUCCEEDED:
		return ("succeeded");
	case SCHED_EV_FAILED:
		return ("failed");
	case SCHED_EV_INTERRUPT:
		return ("interrupt");
	case SCHED_EV_REFUSE:
		return ("refuse");
	case SCHED_EV_SURPLUS:
		return ("surplus");
	case SCHED_EV_MISS:
		return ("miss");
	case SCHED_EV_QUEUE:
		return ("queue");
	case SCHED_EV_LIMIT:
		return ("limit");
	case SCHED_EV_START:
		return ("start");
	}
	return ("unknown");
}

const char *
sched_strpath(enum sched_path p)
{
	switch (p) {
	case SCHED_PATH_NONE:
		return ("none");
	case SCHED_PATH_MULTICAST:
		return ("multicast");
	case SCHED_PATH_UNICAST:
		return ("unicast");
	}
	return ("unknown");
}

const char *
sched_strwhy(enum sched_why why)
{
	switch (why) {
	case SCHED_WHY_COUNT:
		return ("max targets reached");
	case SCHED_WHY_ALL_READY:
		return ("all machines ready");
	case SCHED_WHY_WAIT:
		return ("max wait elapsed");
	case SCHED_WHY_AT_ONCE:
		return ("at once");
	case SCHED_WHY_UNICAST:
		return ("unicast");
	case SCHED_WHY_SLOTS:
		return ("slots freed");
	case SCHED_WHY_ADMIN:
		return ("started by the admin");
	}
	return ("unknown");
}

/*
 * A run is finished when every machine is in one of these; pending_boot is
 * final for the run although the machine later moves on (SPEC.md).
 */
int
sched_mstate_final(enum sched_mstate st)
{
	switch (st) {
	case SCHED_M_PENDING_BOOT:
	case SCHED_M_SUCCEEDED:
	case SCHED_M_FAILED:
	case SCHED_M_ERROR:
	case SCHED_M_MISSED:
	case SCHED_M_INTERRUPTED:
		return (1);
	default:
		return (0);
	}
}

struct sched *
sched_new(const struct sched_conf *conf, const struct sched_cb *cb, void *arg)
{
	struct sched	*s;

	s = xcalloc(1, sizeof(*s));
	s->conf = *conf;
	if (s->conf.group_prefix < 16 || s->conf.group_prefix > 32)
		fatalx("%s: group prefix /%u", __func__, s->conf.group_prefix);
	s->cb = *cb;
	s->arg = arg;
	s->hsize = 64;
	s->htab = xcalloc(s->hsize, sizeof(*s->htab));
	TAILQ_INIT(&s->runs);
	TAILQ_INIT(&s->dirty);
	TAILQ_INIT(&s->queue);
	s->ngroups = 1U << (32 - s->conf.group_prefix);
	s->groups = xcalloc((s->ngroups + 7) / 8, 1);
	xasprintf(&s->limit_msg, "concurrency limit reached "
	    "(max_concurrent_machines %" PRIu32 ")",
	    s->conf.max_concurrent_machines);
	return (s);
}

static void
sched_target_clear(struct sched_target *t)
{
	free(t->error_buf);
	t->error_buf = NULL;
}

void
sched_free(struct sched *s)
{
	struct sched_run	*run;
	struct sched_machine	*m, *next;
	size_t			 i;

	if (s == NULL)
		return;
	while ((run = TAILQ_FIRST(&s->runs)) != NULL)
		sched_run_free(s, run);
	for (i = 0; i < s->hsize; i++) {
		for (m = s->htab[i]; m != NULL; m = next) {
			next = m->hnext;
			free(m->name);
			free(m->error);
			free(m);
		}
	}
	free(s->htab);
	free(s->heap);
	free(s->groups);
	free(s->cand);
	free(s->mc);
	free(s->uc);
	free(s->qtmp);
	free(s->qsorted);
	free(s->qruns);
	free(s->limit_msg);
	free(s);
}

/* Machines. */

static uint64_t
sched_hash(const char *name)
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	while (*name != '\0') {
		h ^= (uint8_t)*name++;
		h *= 0x100000001b3ULL;
	}
	return (h);
}

struct sched_machine *
sched_machine_find(struct sched *s, const char *name)
{
	struct sched_machine	*m;

	m = s->htab[sched_hash(name) & (s->hsize - 1)];
	for (; m != NULL; m = m->hnext)
		if (strcmp(m->name, name) == 0)
			return (m);
	return (NULL);
}

static void
sched_machine_grow(struct sched *s)
{
	struct sched_machine	**nt, *m, *next;
	size_t			  i, nsize = s->hsize * 2, b;

	nt = xcalloc(nsize, sizeof(*nt));
	for (i = 0; i < s->hsize; i++) {
		for (m = s->htab[i]; m != NULL; m = next) {
			next = m->hnext;
			b = sched_hash(m->name) & (nsize - 1);
			m->hnext = nt[b];
			nt[b] = m;
		}
	}
	free(s->htab);
	s->htab = nt;
	s->hsize = nsize;
}

/* Find a machine by name, adding it on first use. */
struct sched_machine *
sched_machine_get(struct sched *s, const char *name)
{
	struct sched_machine	*m;
	size_t			 b;

	if ((m = sched_machine_find(s, name)) != NULL)
		return (m);
	if (s->hcount >= s->hsize)
		sched_machine_grow(s);
	m = xcalloc(1, sizeof(*m));
	m->name = xstrdup(name);
	b = sched_hash(name) & (s->hsize - 1);
	m->hnext = s->htab[b];
	s->htab[b] = m;
	s->hcount++;
	return (m);
}

/*
 * Set a sticky error: also used by the server to restore the state it
 * persisted.  The callback comes first so the error is stored before any
 * run state that depends on it.
 */
void
sched_set_error(struct sched *s, struct sched_machine *m, const char *msg,
    uint64_t now)
{
	if (m->error != NULL && strcmp(m->error, msg) == 0)
		return;
	free(m->error);
	m->error = xstrdup(msg);
	log_debug("machine %s: error \"%s\" until cleared", m->name, msg);
	if (s->cb.machine_error != NULL)
		s->cb.machine_error(s->arg, m, now);
}

/* S6: only an admin clears the error; it returns -1 if there was none. */
int
sched_clear_error(struct sched *s, struct sched_machine *m, uint64_t now)
{
	if (m->error == NULL)
		return (-1);
	free(m->error);
	m->error = NULL;
	log_debug("machine %s: error cleared", m->name);
	if (s->cb.machine_error != NULL)
		s->cb.machine_error(s->arg, m, now);
	return (0);
}

/* The max-wait deadline heap, a binary min-heap indexed from each run. */

static uint64_t
sched_deadline_of(const struct sched_run *run)
{
	return (run->started_at + run->opts.max_wait);
}

static void
sched_heap_set(struct sched *s, size_t i, struct sched_run *run)
{
	s->heap[i] = run;
	run->heap_idx = i;
}

static void
sched_heap_up(struct sched *s, size_t i)
{
	struct sched_run	*run = s->heap[i];
	size_t			 parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (sched_deadline_of(s->heap[parent]) <= sched_deadline_of(run))
			break;
		sched_heap_set(s, i, s->heap[parent]);
		i = parent;
	}
	sched_heap_set(s, i, run);
}

static void
sched_heap_down(struct sched *s, size_t i)
{
	struct sched_run	*run = s->heap[i];
	size_t			 c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= s->nheap)
			break;
		if (c + 1 < s->nheap && sched_deadline_of(s->heap[c + 1]) <
		    sched_deadline_of(s->heap[c]))
			c++;
		if (sched_deadline_of(run) <= sched_deadline_of(s->heap[c]))
			break;
		sched_heap_set(s, i, s->heap[c]);
		i = c;
	}
	sched_heap_set(s, i, run);
}

static void
sched_heap_push(struct sched *s, struct sched_run *run)
{
	if (s->nheap == s->heapcap) {
		s->heapcap = s->heapcap == 0 ? 16 : s->heapcap * 2;
		s->heap = xreallocarray(s->heap, s->heapcap,
		    sizeof(*s->heap));
	}
	s->heap[s->nheap] = run;
	run->heap_idx = s->nheap++;
	sched_heap_up(s, run->heap_idx);
}

static void
sched_heap_remove(struct sched *s, struct sched_run *run)
{
	size_t	i = run->heap_idx;

	if (i == SCHED_NOHEAP)
		return;
	run->heap_idx = SCHED_NOHEAP;
	if (i == --s->nheap)
		return;
	sched_heap_set(s, i, s->heap[s->nheap]);
	sched_heap_up(s, i);
	sched_heap_down(s, s->heap[i]->heap_idx);
}

/* Groups (S9). */

static int
sched_group_in_range(const struct sched *s, uint32_t g, uint32_t *idx)
{
	if (g - s->conf.group_base >= s->ngroups)
		return (0);
	*idx = g - s->conf.group_base;
	return (1);
}

static int
sched_group_busy(const struct sched *s, uint32_t g,
    const struct sched_run **who)
{
	const struct sched_run	*run;

	*who = NULL;
	TAILQ_FOREACH(run, &s->runs, entry) {
		if (run->group_held && run->group == g) {
			*who = run;
			return (1);
		}
	}
	return (0);
}

static void
sched_group_hold(struct sched *s, struct sched_run *run)
{
	uint32_t	idx;

	if (sched_group_in_range(s, run->group, &idx))
		s->groups[idx / 8] |= 1U << (idx % 8);
	run->group_held = 1;
}

static void
sched_group_release(struct sched *s, struct sched_run *run)
{
	uint32_t	idx;

	if (!run->group_held)
		return;
	if (sched_group_in_range(s, run->group, &idx))
		s->groups[idx / 8] &= ~(1U << (idx % 8));
	run->group_held = 0;
}

/*
 * Pick the next free group after the last one handed out, so that a group
 * just released is not reused at once by an unrelated run (late packets of
 * the old run would then reach the new one's receivers).
 */
static int
sched_group_auto(struct sched *s, uint32_t *g)
{
	uint32_t	i, idx;

	for (i = 0; i < s->ngroups; i++) {
		idx = (s->group_next + i) % s->ngroups;
		if ((s->groups[idx / 8] & (1U << (idx % 8))) == 0) {
			s->group_next = (idx + 1) % s->ngroups;
			*g = s->conf.group_base + idx;
			return (0);
		}
	}
	return (-1);
}

/* Runs. */

struct sched_run *
sched_run_new(struct sched *s, const char *id, const struct sched_opts *opts,
    struct sched_machine **machines, size_t n, char *err, size_t errlen)
{
	struct sched_run	*run;
	const struct sched_run	*who;
	char			 gbuf[INET_ADDRSTRLEN], rbuf[INET_ADDRSTRLEN];
	uint32_t		 g = 0;
	size_t			 i;

	if (n == 0) {
		snprintf(err, errlen, "run %s: no machines", id);
		return (NULL);
	}
	if (opts->max_wait != SCHED_NEVER &&
	    opts->max_wait > UINT64_MAX / 4) {
		snprintf(err, errlen, "max_wait: %" PRIu64 " ms is too long",
		    opts->max_wait);
		return (NULL);
	}
	/* S8: a unicast run sends no multicast, so it takes no group. */
	if (!opts->unicast) {
		if (opts->group != 0) {
			g = opts->group;
			if ((g & 0xf0000000U) != 0xe0000000U) {
				snprintf(err, errlen, "group: %s is not a "
				    "multicast address (224.0.0.0/4)",
				    sched_group_str(g, gbuf, sizeof(gbuf)));
				return (NULL);
			}
			if (sched_group_busy(s, g, &who)) {
				snprintf(err, errlen, "group %s: in use by run "
				    "%s; runs at the same time need different "
				    "groups (S9)",
				    sched_group_str(g, gbuf, sizeof(gbuf)),
				    who->id);
				return (NULL);
			}
		} else if (sched_group_auto(s, &g) == -1) {
			snprintf(err, errlen, "group_range %s/%u: all %" PRIu32
			    " groups are in use by running runs (S9)",
			    sched_group_str(s->conf.group_base, rbuf,
			    sizeof(rbuf)), s->conf.group_prefix, s->ngroups);
			return (NULL);
		}
	}

	run = xcalloc(1, sizeof(*run));
	run->id = xstrdup(id);
	run->opts = *opts;
	run->state = SCHED_R_WAITING;
	run->started_at = SCHED_NEVER;
	run->first_wave_at = SCHED_NEVER;
	run->finished_at = SCHED_NEVER;
	run->heap_idx = SCHED_NOHEAP;
	run->group = g;
	run->port = opts->port;
	run->group_auto = (!opts->unicast && opts->group == 0);
	TAILQ_INIT(&run->ready);
	run->targets = xcalloc(n, sizeof(*run->targets));
	run->ntargets = n;
	for (i = 0; i < n; i++) {
		run->targets[i].machine = machines[i];
		run->targets[i].run = run;
		run->targets[i].state = SCHED_M_ASSIGNED;
		run->targets[i].ready_at = SCHED_NEVER;
		run->targets[i].start_at = SCHED_NEVER;
		run->targets[i].done_at = SCHED_NEVER;
	}
	if (!opts->unicast)
		sched_group_hold(s, run);
	TAILQ_INSERT_TAIL(&s->runs, run, entry);
	if (s->scratchcap < n) {
		s->cand = xreallocarray(s->cand, n, sizeof(*s->cand));
		s->mc = xreallocarray(s->mc, n, sizeof(*s->mc));
		s->uc = xreallocarray(s->uc, n, sizeof(*s->uc));
		s->scratchcap = n;
	}
	log_debug("run %s: new, %zu machines, group %s", run->id, n,
	    opts->unicast ? "none" : sched_group_str(g, gbuf, sizeof(gbuf)));
	return (run);
}

/* S5 and S8: nobody waits for anybody. */
static int
sched_run_immediate(const struct sched_run *run)
{
	return (run->opts.unicast || (run->opts.max_targets == 0 &&
	    run->opts.max_wait == SCHED_NEVER));
}

static void
sched_dirty(struct sched *s, struct sched_run *run)
{
	if (run->dirty)
		return;
	run->dirty = 1;
	TAILQ_INSERT_TAIL(&s->dirty, run, dentry);
}

static void
sched_set_reason(struct sched_target *t, const char *msg, int copy)
{
	if (msg == NULL)
		return;
	free(t->error_buf);
	t->error_buf = NULL;
	if (copy) {
		t->error_buf = xstrdup(msg);
		t->error = t->error_buf;
	} else
		t->error = msg;
}

/*
 * The one place where a machine changes state: list membership, the
 * concurrency slot, the pending count and the finished count all follow
 * from the old and new states here, then the caller hears of it.
 */
static void
sched_mtrans(struct sched *s, struct sched_target *t, enum sched_mstate new,
    uint64_t now, const struct sched_cause *c)
{
	struct sched_run	*run = t->run;
	enum sched_mstate	 old = t->state;

	log_debug("run %s machine %s: %s -> %s", run->id, t->machine->name,
	    sched_strmstate(old), sched_strmstate(new));

	if (old == SCHED_M_READY) {
		TAILQ_REMOVE(&run->ready, t, entry);
		run->nready--;
	} else if (old == SCHED_M_QUEUED) {
		TAILQ_REMOVE(&s->queue, t, entry);
		s->nqueued--;
	} else if (old == SCHED_M_TRANSFERRING)
		s->active--;
	else if (old == SCHED_M_PENDING_BOOT)
		t->machine->npending--;

	if (new == SCHED_M_READY) {
		TAILQ_INSERT_TAIL(&run->ready, t, entry);
		run->nready++;
		t->ready_at = now;
	} else if (new == SCHED_M_QUEUED) {
		TAILQ_INSERT_TAIL(&s->queue, t, entry);
		s->nqueued++;
	} else if (new == SCHED_M_TRANSFERRING) {
		s->active++;
		t->start_at = now;
	} else if (new == SCHED_M_PENDING_BOOT)
		t->machine->npending++;

	if (sched_mstate_final(new) && t->done_at == SCHED_NEVER) {
		t->done_at = now;
		run->nfinal++;
	}
	t->state = new;
	if (s->cb.machine_state != NULL)
		s->cb.machine_state(s->arg, t, old, new, now, c);
}

/*
 * The machine state machine: switch on the state, then on the event (the
 * cause's, which travels on to the callback).  It returns -1, changing
 * nothing, for an event that makes no sense in the current state (a late
 * or duplicate agent report): that is logged and dropped, never fatal.
 */
static int
sched_machine_fsm(struct sched *s, struct sched_target *t,
    const struct sched_cause *c, uint64_t now, const char *msg)
{
	struct sched_run	*run = t->run;
	enum sched_mevent	 ev = c->ev;
	enum sched_mstate	 new;

	switch (t->state) {
	case SCHED_M_ASSIGNED:
		switch (ev) {
		case SCHED_EV_READY:
			new = SCHED_M_READY;
			break;
		case SCHED_EV_ERROR:
		case SCHED_EV_REFUSE:
		case SCHED_EV_SURPLUS:
			new = SCHED_M_ERROR;
			break;
		case SCHED_EV_MISS:
			new = SCHED_M_MISSED;
			break;
		case SCHED_EV_INTERRUPT:
			new = SCHED_M_INTERRUPTED;
			break;
		default:
			goto bad;
		}
		break;
	case SCHED_M_READY:
		switch (ev) {
		case SCHED_EV_ERROR:
		case SCHED_EV_SURPLUS:
		case SCHED_EV_LIMIT:
			new = SCHED_M_ERROR;
			break;
		case SCHED_EV_MISS:
			new = SCHED_M_MISSED;
			break;
		case SCHED_EV_QUEUE:
			new = SCHED_M_QUEUED;
			break;
		case SCHED_EV_START:
			new = SCHED_M_TRANSFERRING;
			break;
		case SCHED_EV_INTERRUPT:
			new = SCHED_M_INTERRUPTED;
			break;
		default:
			goto bad;
		}
		break;
	case SCHED_M_QUEUED:
		switch (ev) {
		case SCHED_EV_START:
			new = SCHED_M_TRANSFERRING;
			break;
		case SCHED_EV_ERROR:
			new = SCHED_M_ERROR;
			break;
		case SCHED_EV_MISS:
			new = SCHED_M_MISSED;
			break;
		case SCHED_EV_INTERRUPT:
			new = SCHED_M_INTERRUPTED;
			break;
		default:
			goto bad;
		}
		break;
	case SCHED_M_TRANSFERRING:
		switch (ev) {
		case SCHED_EV_DELIVERED:
			new = SCHED_M_DELIVERED;
			break;
		case SCHED_EV_FAILED:
			new = SCHED_M_FAILED;
			break;
		case SCHED_EV_ERROR:
			new = SCHED_M_ERROR;
			break;
		case SCHED_EV_INTERRUPT:
			new = SCHED_M_INTERRUPTED;
			break;
		default:
			goto bad;
		}
		break;
	case SCHED_M_DELIVERED:
		switch (ev) {
		case SCHED_EV_PENDING_BOOT:
			/* S10: only a next-boot run may stop here. */
			if (!run->opts.at_next_boot)
				goto bad;
			new = SCHED_M_PENDING_BOOT;
			break;
		case SCHED_EV_RUNNING:
			new = SCHED_M_RUNNING;
			break;
		case SCHED_EV_SUCCEEDED:
			new = SCHED_M_SUCCEEDED;
			break;
		case SCHED_EV_FAILED:
			new = SCHED_M_FAILED;
			break;
		case SCHED_EV_ERROR:
			new = SCHED_M_ERROR;
			break;
		case SCHED_EV_INTERRUPT:
			new = SCHED_M_INTERRUPTED;
			break;
		default:
			goto bad;
		}
		break;
	case SCHED_M_PENDING_BOOT:
		switch (ev) {
		case SCHED_EV_RUNNING:
			new = SCHED_M_RUNNING;
			break;
		case SCHED_EV_SUCCEEDED:
			new = SCHED_M_SUCCEEDED;
			break;
		case SCHED_EV_FAILED:
			new = SCHED_M_FAILED;
			break;
		default:
			goto bad;
		}
		break;
	case SCHED_M_RUNNING:
		switch (ev) {
		case SCHED_EV_SUCCEEDED:
			new = SCHED_M_SUCCEEDED;
			break;
		case SCHED_EV_FAILED:
			new = SCHED_M_FAILED;
			break;
		case SCHED_EV_INTERRUPT:
			new = SCHED_M_INTERRUPTED;
			break;
		default:
			goto bad;
		}
		break;
	case SCHED_M_SUCCEEDED:
	case SCHED_M_FAILED:
	case SCHED_M_ERROR:
	case SCHED_M_MISSED:
	case SCHED_M_INTERRUPTED:
	default:
		goto bad;
	}

	/* The reason travels with the change so the callback sees it. */
	switch (ev) {
	case SCHED_EV_ERROR:
		sched_set_reason(t, msg != NULL ? msg :
		    "the agent reported an error", 1);
		break;
	case SCHED_EV_FAILED:
		sched_set_reason(t, msg != NULL ? msg : "failed", 1);
		break;
	case SCHED_EV_INTERRUPT:
		sched_set_reason(t, msg != NULL ? msg : "interrupted", 1);
		break;
	case SCHED_EV_REFUSE:
		sched_set_reason(t, t->machine->error, 1);
		break;
	case SCHED_EV_SURPLUS:
		sched_set_error(s, t->machine, SCHED_ERR_MAX_TARGETS, now);
		sched_set_reason(t, SCHED_ERR_MAX_TARGETS, 0);
		break;
	case SCHED_EV_MISS:
	case SCHED_EV_LIMIT:
		sched_set_reason(t, msg, 0);
		break;
	default:
		break;
	}
	sched_mtrans(s, t, new, now, c);
	return (0);

bad:
	log_debug("run %s machine %s: event %s ignored in state %s", run->id,
	    t->machine->name, sched_strevent(ev), sched_strmstate(t->state));
	return (-1);
}

/* An event the scheduler raises itself, from its own decision. */
static int
sched_decide(struct sched *s, struct sched_target *t, enum sched_mevent ev,
    uint64_t now, const char *msg)
{
	struct sched_cause	c = { ev, SCHED_VIA_DECISION, NULL };

	return (sched_machine_fsm(s, t, &c, now, msg));
}

static void
sched_run_trans(struct sched *s, struct sched_run *run,
    enum sched_rstate new, uint64_t now)
{
	enum sched_rstate	old = run->state;

	log_debug("run %s: %s -> %s", run->id, sched_strrstate(old),
	    sched_strrstate(new));
	run->state = new;
	if (new == SCHED_R_FINISHED) {
		run->finished_at = now;
		sched_heap_remove(s, run);
		sched_group_release(s, run);
	}
	if (s->cb.run_state != NULL)
		s->cb.run_state(s->arg, run, old, new, now);
}

static void
sched_run_fsm(struct sched *s, struct sched_run *run, enum sched_revent ev,
    uint64_t now)
{
	switch (run->state) {
	case SCHED_R_WAITING:
		switch (ev) {
		case SCHED_REV_WAVE:
			sched_run_trans(s, run, SCHED_R_TRANSFERRING, now);
			break;
		case SCHED_REV_ALL_FINAL:
			sched_run_trans(s, run, SCHED_R_FINISHED, now);
			break;
		}
		break;
	case SCHED_R_TRANSFERRING:
		switch (ev) {
		case SCHED_REV_WAVE:
			break;
		case SCHED_REV_ALL_FINAL:
			sched_run_trans(s, run, SCHED_R_FINISHED, now);
			break;
		}
		break;
	case SCHED_R_FINISHED:
		break;
	}
}

static void
sched_run_check(struct sched *s, struct sched_run *run, uint64_t now)
{
	if (run->nfinal == run->ntargets)
		sched_run_fsm(s, run, SCHED_REV_ALL_FINAL, now);
}

static size_t
sched_free_slots(const struct sched *s)
{
	if (s->conf.max_concurrent_machines == 0)
		return (SIZE_MAX);
	if (s->active >= s->conf.max_concurrent_machines)
		return (0);
	return (s->conf.max_concurrent_machines - s->active);
}

/*
 * First half of a wave: the candidates in s->cand (ready or queued, in
 * order) take free slots; those that get one start, split by path into
 * s->mc and s->uc, and the others are queued or refused (S7).  Only machine
 * state changes happen here; sched_wave_emit() does the rest once the
 * caller has made its own machine changes.
 */
static void
sched_wave_prepare(struct sched *s, struct sched_run *run, uint64_t now)
{
	struct sched_target	*t;
	size_t			 i, slots, nstart;
	unsigned		 wmc = 0, wuc = 0;

	slots = sched_free_slots(s);
	nstart = s->ncand < slots ? s->ncand : slots;
	s->nmc = s->nuc = 0;
	for (i = 0; i < nstart; i++) {
		t = s->cand[i];
		if (run->opts.unicast || t->machine->remote)
			s->uc[s->nuc++] = t;
		else
			s->mc[s->nmc++] = t;
	}
	if (s->nmc > 0)
		wmc = ++run->nwaves;
	if (s->nuc > 0)
		wuc = ++run->nwaves;
	for (i = 0; i < s->nmc; i++) {
		s->mc[i]->path = SCHED_PATH_MULTICAST;
		s->mc[i]->wave = wmc;
		sched_decide(s, s->mc[i], SCHED_EV_START, now, NULL);
	}
	for (i = 0; i < s->nuc; i++) {
		s->uc[i]->path = SCHED_PATH_UNICAST;
		s->uc[i]->wave = wuc;
		sched_decide(s, s->uc[i], SCHED_EV_START, now, NULL);
	}
	for (i = nstart; i < s->ncand; i++) {
		t = s->cand[i];
		if (t->state != SCHED_M_READY)
			continue;	/* already queued: stays in line */
		if (s->conf.on_concurrency_limit == SCHED_LIMIT_QUEUE)
			sched_decide(s, t, SCHED_EV_QUEUE, now, NULL);
		else
			sched_decide(s, t, SCHED_EV_LIMIT, now, s->limit_msg);
	}
}

static void
sched_wave_call(struct sched *s, struct sched_run *run, enum sched_path path,
    struct sched_target **members, size_t n, enum sched_why why, uint64_t now)
{
	struct sched_wave	w;
	char			gbuf[INET_ADDRSTRLEN];

	w.run = run;
	w.index = members[0]->wave;
	w.path = path;
	w.why = why;
	w.start = now;
	w.members = members;
	w.n = n;
	log_debug("run %s: wave %u, %s%s%s, %zu machines (%s)", run->id,
	    w.index, sched_strpath(path),
	    path == SCHED_PATH_MULTICAST ? " to " : "",
	    path == SCHED_PATH_MULTICAST ?
	    sched_group_str(run->group, gbuf, sizeof(gbuf)) : "", n,
	    sched_strwhy(why));
	if (s->cb.wave_start != NULL)
		s->cb.wave_start(s->arg, &w);
}

/* Second half of a wave: the run's state, then the actions. */
static void
sched_wave_emit(struct sched *s, struct sched_run *run, enum sched_why why,
    uint64_t now)
{
	if (s->nmc + s->nuc == 0)
		return;
	if (run->first_wave_at == SCHED_NEVER) {
		run->first_wave_at = now;
		run->start_why = why;
	}
	sched_run_fsm(s, run, SCHED_REV_WAVE, now);
	if (s->nmc > 0)
		sched_wave_call(s, run, SCHED_PATH_MULTICAST, s->mc, s->nmc,
		    why, now);
	if (s->nuc > 0)
		sched_wave_call(s, run, SCHED_PATH_UNICAST, s->uc, s->nuc,
		    why, now);
	s->nmc = s->nuc = 0;
}

/* Move the first `max' ready machines of the run into s->cand. */
static void
sched_take_ready(struct sched *s, struct sched_run *run, size_t max)
{
	struct sched_target	*t;

	s->ncand = 0;
	TAILQ_FOREACH(t, &run->ready, entry) {
		if (s->ncand == max)
			break;
		s->cand[s->ncand++] = t;
	}
}

/*
 * The S4 decision, taken once per run: the ready machines (the first
 * max_targets of them, in the order they got ready) form the wave.  When
 * the count was reached, every other machine is beyond max targets and
 * gets the S6 error; when max wait elapsed, the machines not ready are
 * missed.
 */
static void
sched_start_s4(struct sched *s, struct sched_run *run, enum sched_why why,
    uint64_t now)
{
	struct sched_target	*t;
	size_t			 i, max, nready = run->nready;
	enum sched_mevent	 rest;

	sched_heap_remove(s, run);
	max = run->opts.max_targets != 0 ? run->opts.max_targets : SIZE_MAX;
	sched_take_ready(s, run, max);

	free(run->miss_reason);
	run->miss_reason = NULL;
	if (why == SCHED_WHY_COUNT || why == SCHED_WHY_ALL_READY)
		rest = SCHED_EV_SURPLUS;
	else {
		rest = SCHED_EV_MISS;
		if (why == SCHED_WHY_WAIT)
			xasprintf(&run->miss_reason, "not ready when the "
			    "transfer started (max wait %" PRIu64 " s elapsed "
			    "with %zu of %zu ready)", run->opts.max_wait / 1000,
			    nready, run->target_count);
		else
			xasprintf(&run->miss_reason, "not ready when the "
			    "admin started the transfer (%zu of %zu ready)",
			    nready, run->target_count);
	}
	sched_wave_prepare(s, run, now);
	for (i = 0; i < run->ntargets; i++) {
		t = &run->targets[i];
		if (t->state == SCHED_M_ASSIGNED || t->state == SCHED_M_READY)
			sched_decide(s, t, t->state == SCHED_M_READY ?
			    SCHED_EV_SURPLUS : rest, now, run->miss_reason);
	}
	run->decided = 1;
	sched_wave_emit(s, run, why, now);
	sched_run_check(s, run, now);
}

/*
 * Start a run: machines with a sticky S6 error are refused at once, the
 * effective target count is fixed, and the max-wait clock starts.  The
 * target count is max_targets, or every machine that can take part when
 * there are fewer (or max_targets is not set): once all of them are ready
 * there is nobody left to wait for.  data reaches machine_state with the
 * refusals (a caller restoring a stored run tells them apart by it).
 */
void
sched_run_start_data(struct sched *s, struct sched_run *run, uint64_t now,
    const void *data)
{
	struct sched_cause	 c = { SCHED_EV_REFUSE, SCHED_VIA_START, data };
	struct sched_target	*t;
	size_t			 i, eligible;

	if (run->started_at != SCHED_NEVER) {
		log_warnx("run %s: started twice", run->id);
		return;
	}
	run->started_at = now;
	eligible = run->ntargets;
	for (i = 0; i < run->ntargets; i++) {
		t = &run->targets[i];
		if (t->machine->error != NULL) {
			sched_machine_fsm(s, t, &c, now, NULL);
			eligible--;
		}
	}
	if (run->opts.max_targets != 0 && run->opts.max_targets < eligible)
		run->target_count = run->opts.max_targets;
	else
		run->target_count = eligible;
	if (!sched_run_immediate(run) && eligible > 0 &&
	    run->opts.max_wait != SCHED_NEVER)
		sched_heap_push(s, run);
	sched_run_check(s, run, now);
}

void
sched_run_start(struct sched *s, struct sched_run *run, uint64_t now)
{
	sched_run_start_data(s, run, now, NULL);
}

/* An explicit admin "start now" (an extra that MISSION.md S4 allows). */
int
sched_run_start_now(struct sched *s, struct sched_run *run, uint64_t now)
{
	if (run->started_at == SCHED_NEVER || run->decided ||
	    sched_run_immediate(run) || run->state == SCHED_R_FINISHED)
		return (-1);
	sched_start_s4(s, run, SCHED_WHY_ADMIN, now);
	return (0);
}

static void
sched_undirty(struct sched *s, struct sched_run *run)
{
	if (!run->dirty)
		return;
	TAILQ_REMOVE(&s->dirty, run, dentry);
	run->dirty = 0;
}

/*
 * Close a run that cannot finish by itself (an admin cancel, a server shut
 * down, the end of a simulation): machines that never started are missed,
 * machines in flight are interrupted, each with the reason.
 */
void
sched_run_close(struct sched *s, struct sched_run *run, uint64_t now,
    const char *reason)
{
	struct sched_cause	 c = { SCHED_EV_MISS, SCHED_VIA_CLOSE, NULL };
	struct sched_target	*t;
	size_t			 i;

	if (run->state == SCHED_R_FINISHED)
		return;
	free(run->close_reason);
	run->close_reason = xstrdup(reason != NULL ? reason :
	    "the run was closed");
	if (run->started_at == SCHED_NEVER)
		run->started_at = now;
	run->decided = 1;
	sched_heap_remove(s, run);
	sched_undirty(s, run);
	for (i = 0; i < run->ntargets; i++) {
		t = &run->targets[i];
		switch (t->state) {
		case SCHED_M_ASSIGNED:
		case SCHED_M_READY:
		case SCHED_M_QUEUED:
			c.ev = SCHED_EV_MISS;
			sched_machine_fsm(s, t, &c, now, run->close_reason);
			break;
		case SCHED_M_TRANSFERRING:
		case SCHED_M_DELIVERED:
		case SCHED_M_RUNNING:
			c.ev = SCHED_EV_INTERRUPT;
			sched_machine_fsm(s, t, &c, now, run->close_reason);
			break;
		default:
			break;
		}
	}
	sched_run_check(s, run, now);
}

/*
 * Forget a run.  It should be finished; if it is not, its slots, queue
 * places and group are given back without any callback.
 */
void
sched_run_free(struct sched *s, struct sched_run *run)
{
	struct sched_target	*t;
	size_t			 i;

	sched_undirty(s, run);
	sched_heap_remove(s, run);
	sched_group_release(s, run);
	for (i = 0; i < run->ntargets; i++) {
		t = &run->targets[i];
		switch (t->state) {
		case SCHED_M_QUEUED:
			TAILQ_REMOVE(&s->queue, t, entry);
			s->nqueued--;
			break;
		case SCHED_M_TRANSFERRING:
			s->active--;
			break;
		case SCHED_M_PENDING_BOOT:
			t->machine->npending--;
			break;
		default:
			break;
		}
		sched_target_clear(t);
	}
	TAILQ_REMOVE(&s->runs, run, entry);
	free(run->targets);
	free(run->miss_reason);
	free(run->close_reason);
	free(run->id);
	free(run);
}

/*
 * What an agent (or the sender) reported; data (the report itself, say)
 * reaches machine_state with the change it causes.  The scheduler's own
 * events are refused here.  A READY may make a wave due: it is started by
 * the next sched_timeout(), which sched_next_deadline() then asks for at
 * once.
 */
int
sched_report_data(struct sched *s, struct sched_target *t,
    enum sched_mevent ev, uint64_t now, const char *msg, const void *data)
{
	struct sched_run	*run = t->run;
	struct sched_cause	 c = { ev, SCHED_VIA_REPORT, data };

	if (ev > SCHED_EV_INTERRUPT) {
		log_warnx("run %s machine %s: event %s is the scheduler's own",
		    run->id, t->machine->name, sched_strevent(ev));
		return (-1);
	}
	if (run->started_at == SCHED_NEVER) {
		log_warnx("run %s machine %s: %s before the run started",
		    run->id, t->machine->name, sched_strevent(ev));
		return (-1);
	}
	if (sched_machine_fsm(s, t, &c, now, msg) == -1)
		return (-1);
	if (ev == SCHED_EV_READY) {
		if (sched_run_immediate(run))
			sched_dirty(s, run);
		else if (!run->decided && run->nready >= run->target_count)
			sched_dirty(s, run);
	}
	sched_run_check(s, run, now);
	return (0);
}

int
sched_report(struct sched *s, struct sched_target *t, enum sched_mevent ev,
    uint64_t now, const char *msg)
{
	return (sched_report_data(s, t, ev, now, msg, NULL));
}

uint64_t
sched_next_deadline(const struct sched *s)
{
	if (!TAILQ_EMPTY(&s->dirty))
		return (0);
	if (s->nqueued > 0 && sched_free_slots(s) > 0)
		return (0);
	if (s->nheap > 0)
		return (sched_deadline_of(s->heap[0]));
	return (SCHED_NEVER);
}

static void
sched_qgrow(struct sched *s, size_t n)
{
	if (s->qcap >= n)
		return;
	s->qtmp = xreallocarray(s->qtmp, n, sizeof(*s->qtmp));
	s->qsorted = xreallocarray(s->qsorted, n, sizeof(*s->qsorted));
	s->qruns = xreallocarray(s->qruns, n, sizeof(*s->qruns));
	s->qcap = n;
}

/*
 * S7: queued machines take the free slots strictly first come, first
 * served; those of one run that start together share one wave.
 */
static void
sched_dispatch(struct sched *s, uint64_t now)
{
	struct sched_target	*t;
	struct sched_run	*run;
	size_t			 slots, n = 0, nr = 0, i, off;

	slots = sched_free_slots(s);
	if (s->nqueued == 0 || slots == 0)
		return;
	sched_qgrow(s, s->nqueued < slots ? s->nqueued : slots);
	TAILQ_FOREACH(t, &s->queue, entry) {
		if (n == slots)
			break;
		s->qtmp[n++] = t;
		run = t->run;
		if (run->qcount++ == 0)
			s->qruns[nr++] = run;
	}
	/* A stable counting sort by run, runs in order of first place. */
	for (i = 0, off = 0; i < nr; i++) {
		s->qruns[i]->qpos = off;
		off += s->qruns[i]->qcount;
	}
	for (i = 0; i < n; i++)
		s->qsorted[s->qtmp[i]->run->qpos++] = s->qtmp[i];
	for (i = 0, off = 0; i < nr; i++) {
		run = s->qruns[i];
		memcpy(s->cand, s->qsorted + off,
		    run->qcount * sizeof(*s->cand));
		s->ncand = run->qcount;
		off += run->qcount;
		run->qcount = run->qpos = 0;
		sched_wave_prepare(s, run, now);
		sched_wave_emit(s, run, SCHED_WHY_SLOTS, now);
		sched_run_check(s, run, now);
	}
}

/*
 * The caller's timer fired (or a wave became due): start queued machines
 * that have slots, then the waves made due by ready reports, then the runs
 * whose max wait has elapsed.  A count reached at the very instant max
 * wait elapses counts as reached.
 */
void
sched_timeout(struct sched *s, uint64_t now)
{
	struct sched_run	*run;

	sched_dispatch(s, now);

	while ((run = TAILQ_FIRST(&s->dirty)) != NULL) {
		sched_undirty(s, run);
		if (run->state == SCHED_R_FINISHED)
			continue;
		if (sched_run_immediate(run)) {
			if (run->nready == 0)
				continue;
			sched_take_ready(s, run, SIZE_MAX);
			sched_wave_prepare(s, run, now);
			sched_wave_emit(s, run, run->opts.unicast ?
			    SCHED_WHY_UNICAST : SCHED_WHY_AT_ONCE, now);
			sched_run_check(s, run, now);
		} else if (!run->decided && run->nready >= run->target_count)
			sched_start_s4(s, run, run->opts.max_targets != 0 &&
			    run->target_count == run->opts.max_targets ?
			    SCHED_WHY_COUNT : SCHED_WHY_ALL_READY, now);
	}

	while (s->nheap > 0 && sched_deadline_of(s->heap[0]) <= now) {
		run = s->heap[0];
		sched_heap_remove(s, run);
		if (!run->decided && run->state != SCHED_R_FINISHED)
			sched_start_s4(s, run, SCHED_WHY_WAIT, now);
	}
}

size_t
sched_active(const struct sched *s)
{
	return (s->active);
}

size_t
sched_queued(const struct sched *s)
{
	return (s->nqueued);
}
