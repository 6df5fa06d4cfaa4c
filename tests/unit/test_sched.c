/*
 * Tests for the scenario scheduler, one per MISSION.md rule S2-S13 plus the
 * S6 clear-error, callback order and the state machine's refusals.  The
 * clock is a plain variable: every call gets the time the test chooses,
 * and "the timer fires" is a call to sched_timeout() when
 * sched_next_deadline() says so.
 */
#include <string.h>

#include "sched.h"
#include "unit.h"

#define MAXLOG	2048

enum rec_kind { REC_MACHINE, REC_RUN, REC_WAVE, REC_ERROR };

struct rec {
	enum rec_kind		 kind;
	char			 name[32];
	enum sched_mstate	 mold, mnew;
	enum sched_rstate	 rold, rnew;
	enum sched_path		 path;
	enum sched_why		 why;
	unsigned		 index;
	size_t			 n;
	uint64_t		 t;
	int			 members_ok;	/* all transferring in wave_start */
	size_t			 active;
	enum sched_mevent	 ev;		/* machine: the cause */
	enum sched_via		 via;
	const void		*data;
};

static struct rec	 log_[MAXLOG];
static size_t		 nlog;
static struct sched	*cur;		/* for sched_active() in callbacks */
static size_t		 max_active;

static void
cb_machine(void *arg, struct sched_target *t, enum sched_mstate old,
    enum sched_mstate new, uint64_t now, const struct sched_cause *c)
{
	struct rec	*r = &log_[nlog < MAXLOG ? nlog++ : MAXLOG - 1];

	r->kind = REC_MACHINE;
	snprintf(r->name, sizeof(r->name), "%s", t->machine->name);
	r->mold = old;
	r->mnew = new;
	r->t = now;
	r->ev = c->ev;
	r->via = c->via;
	r->data = c->data;
	/* The state is already the new one when the caller hears of it. */
	CU_ASSERT_EQUAL(t->state, new);
	if (sched_active(cur) > max_active)
		max_active = sched_active(cur);
}

static void
cb_error(void *arg, struct sched_machine *m, uint64_t now)
{
	struct rec	*r = &log_[nlog < MAXLOG ? nlog++ : MAXLOG - 1];

	r->kind = REC_ERROR;
	snprintf(r->name, sizeof(r->name), "%s", m->name);
	r->t = now;
}

static void
cb_run(void *arg, struct sched_run *run, enum sched_rstate old,
    enum sched_rstate new, uint64_t now)
{
	struct rec	*r = &log_[nlog < MAXLOG ? nlog++ : MAXLOG - 1];

	r->kind = REC_RUN;
	snprintf(r->name, sizeof(r->name), "%s", run->id);
	r->rold = old;
	r->rnew = new;
	r->t = now;
}

static void
cb_wave(void *arg, const struct sched_wave *w)
{
	struct rec	*r = &log_[nlog < MAXLOG ? nlog++ : MAXLOG - 1];
	size_t		 i;

	r->kind = REC_WAVE;
	snprintf(r->name, sizeof(r->name), "%s", w->run->id);
	r->path = w->path;
	r->why = w->why;
	r->index = w->index;
	r->n = w->n;
	r->t = w->start;
	r->members_ok = 1;
	for (i = 0; i < w->n; i++)
		if (w->members[i]->state != SCHED_M_TRANSFERRING ||
		    w->members[i]->path != w->path ||
		    w->members[i]->wave != w->index)
			r->members_ok = 0;
	r->active = sched_active(cur);
}

static struct sched *
mk(uint32_t limit, enum sched_limit mode, const char *range)
{
	struct sched_conf	conf;
	struct sched_cb		cb = { cb_machine, cb_error, cb_run, cb_wave };
	char			err[256];

	memset(&conf, 0, sizeof(conf));
	conf.max_concurrent_machines = limit;
	conf.on_concurrency_limit = mode;
	CU_ASSERT_FATAL(sched_group_parse_range(range != NULL ? range :
	    "239.192.56.0/24", &conf.group_base, &conf.group_prefix, err,
	    sizeof(err)) == 0);
	nlog = 0;
	max_active = 0;
	cur = sched_new(&conf, &cb, NULL);
	return (cur);
}

static struct sched_opts
opts(uint32_t max_targets, uint64_t max_wait)
{
	struct sched_opts	o;

	memset(&o, 0, sizeof(o));
	o.max_targets = max_targets;
	o.max_wait = max_wait;
	return (o);
}

/* A run over machines PREFIX0..PREFIX(n-1), started at `now'. */
static struct sched_run *
mkrun(struct sched *s, const char *id, const struct sched_opts *o, size_t n,
    const char *prefix, uint64_t now)
{
	struct sched_machine	*ms[64];
	struct sched_run	*run;
	char			 name[32], err[256];
	size_t			 i;

	CU_ASSERT_FATAL(n <= 64);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s%zu", prefix, i);
		ms[i] = sched_machine_get(s, name);
	}
	run = sched_run_new(s, id, o, ms, n, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(run);
	sched_run_start(s, run, now);
	return (run);
}

/* Let the caller's one timer fire if it is due at `now'. */
static void
tick(struct sched *s, uint64_t now)
{
	int	guard = 0;

	while (sched_next_deadline(s) <= now) {
		sched_timeout(s, now);
		CU_ASSERT_FATAL(++guard < 100);
	}
}

static void
ready(struct sched *s, struct sched_run *run, size_t i, uint64_t now)
{
	CU_ASSERT(sched_report(s, &run->targets[i], SCHED_EV_READY, now,
	    NULL) == 0);
	tick(s, now);
}

static size_t
count_waves(void)
{
	size_t	i, n = 0;

	for (i = 0; i < nlog; i++)
		n += log_[i].kind == REC_WAVE;
	return (n);
}

static const struct rec *
wave_nr(size_t k)
{
	size_t	i;

	for (i = 0; i < nlog; i++)
		if (log_[i].kind == REC_WAVE && k-- == 0)
			return (&log_[i]);
	return (NULL);
}

/* Deliver and succeed a transferring target. */
static void
finish(struct sched *s, struct sched_target *t, uint64_t now)
{
	CU_ASSERT(sched_report(s, t, SCHED_EV_DELIVERED, now, NULL) == 0);
	CU_ASSERT(sched_report(s, t, SCHED_EV_RUNNING, now, NULL) == 0);
	CU_ASSERT(sched_report(s, t, SCHED_EV_SUCCEEDED, now, NULL) == 0);
	tick(s, now);
}

/* S2: the transfer starts when max targets machines are ready. */
static void
test_s2_max_targets(void)
{
	struct sched		*s = mk(0, SCHED_LIMIT_QUEUE, NULL);
	struct sched_opts	 o = opts(3, SCHED_NEVER);
	struct sched_run	*run = mkrun(s, "r1", &o, 5, "m", 0);
	const struct rec	*w;

	CU_ASSERT_EQUAL(run->target_count, 3);
	CU_ASSERT_EQUAL(sched_next_deadline(s), SCHED_NEVER);
	ready(s, run, 0, 1000);
	ready(s, run, 1, 2000);
	CU_ASSERT_EQUAL(count_waves(), 0);
	CU_ASSERT_EQUAL(run->state, SCHED_R_WAITING);
	CU_ASSERT(sched_report(s, &run->targets[2], SCHED_EV_READY, 3000,
	    NULL) == 0);
	/* Due at once: the caller's timer fires on its next turn. */
	CU_ASSERT_EQUAL(sched_next_deadline(s), 0);
	tick(s, 3000);
	CU_ASSERT_EQUAL_FATAL(count_waves(), 1);
	w = wave_nr(0);
	CU_ASSERT_EQUAL(w->n, 3);
	CU_ASSERT_EQUAL(w->t, 3000);
	CU_ASSERT_EQUAL(w->path, SCHED_PATH_MULTICAST);
	CU_ASSERT_EQUAL(w->why, SCHED_WHY_COUNT);
	CU_ASSERT(w->members_ok);
	CU_ASSERT_EQUAL(run->state, SCHED_R_TRANSFERRING);
	CU_ASSERT_EQUAL(run->targets[0].state, SCHED_M_TRANSFERRING);
	CU_ASSERT_EQUAL(run->targets[2].start_at, 3000);
	CU_ASSERT_EQUAL(run->targets[0].ready_at, 1000);
	sched_free(s);
}

/* S3: when max wait has passed, the transfer starts with the ready ones. */
static void
test_s3_max_wait(void)
{
	struct sched		*s = mk(0, SCHED_LIMIT_QUEUE, NULL);
	struct sched_opts	 o = opts(0, 3000);
	struct sched_run	*run = mkrun(s, "r1", &o, 4, "m", 0);
	const struct rec	*w;

	CU_ASSERT_EQUAL(sched_next_deadline(s), 3000);
	ready(s, run, 0, 500);
	ready(s, run, 1, 1000);
	tick(s, 2999);
	CU_ASSERT_EQUAL(count_waves(), 0);
	tick(s, 3000);
	CU_ASSERT_EQUAL_FATAL(count_waves(), 1);
	w = wave_nr(0);
	CU_ASSERT_EQUAL(w->n, 2);
	CU_ASSERT_EQUAL(w->why, SCHED_WHY_WAIT);
	CU_ASSERT_EQUAL(w->t, 3000);
	CU_ASSERT_EQUAL(run->targets[2].state, SCHED_M_MISSED);
	CU_ASSERT_EQUAL(run->targets[3].state, SCHED_M_MISSED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(run->targets[3].error);
	CU_ASSERT(strstr(run->targets[3].error, "max wait 3 s") != NULL);
	CU_ASSERT(strstr(run->targets[3].error, "2 of 4 ready") != NULL);
	/* Missed is not an S6 error: nothing to clear. */
	CU_ASSERT_PTR_NULL(run->targets[3].machine->error);
	/* A late ready report changes nothing. */
	CU_ASSERT(sched_report(s, &run->targets[3], SCHED_EV_READY, 4000,
	    NULL) == -1);
	CU_ASSERT_EQUAL(run->targets[3].state, SCHED_M_MISSED);
	CU_ASSERT_EQUAL(sched_next_deadline(s), SCHED_NEVER);
	sched_free(s);
}

/*
 * S4: with both set, whichever comes first; never before either.  A count
 * reached at the very instant max wait elapses counts as reached.
 */
static void
test_s4_either(void)
{
	struct sched		*s = mk(0, SCHED_LIMIT_QUEUE, NULL);
	struct sched_opts	 o = opts(2, 10000);
	struct sched_run	*a, *b, *c, *d;
	uint64_t		 t;

	/* The count first. */
	a = mkrun(s, "a", &o, 3, "a", 0);
	ready(s, a, 0, 1000);
	for (t = 1000; t < 4000; t += 250)
		tick(s, t);
	CU_ASSERT_EQUAL(count_waves(), 0);
	ready(s, a, 1, 4000);
	CU_ASSERT_EQUAL_FATAL(count_waves(), 1);
	CU_ASSERT_EQUAL(wave_nr(0)->why, SCHED_WHY_COUNT);
	CU_ASSERT_EQUAL(wave_nr(0)->t, 4000);
	CU_ASSERT_EQUAL(a->targets[2].state, SCHED_M_ERROR);
	/* The deadline of a decided run is gone. */
	CU_ASSERT_EQUAL(sched_next_deadline(s), SCHED_NEVER);

	/* Max wait first. */
	o = opts(3, 5000);
	b = mkrun(s, "b", &o, 4, "b", 20000);
	ready(s, b, 0, 21000);
	ready(s, b, 1, 22000);
	for (t = 22000; t < 25000; t += 100)
		tick(s, t);
	CU_ASSERT_EQUAL(count_waves(), 1);
	tick(s, 25000);
	CU_ASSERT_EQUAL_FATAL(count_waves(), 2);
	CU_ASSERT_EQUAL(wave_nr(1)->why, SCHED_WHY_WAIT);
	CU_ASSERT_EQUAL(wave_nr(1)->n, 2);
	CU_ASSERT_EQUAL(b->targets[2].state, SCHED_M_MISSED);

	/* Both at once: the count wins, the extra machine is in error. */
	o = opts(1, 5000);
	c = mkrun(s, "c", &o, 2, "c", 30000);
	CU_ASSERT(sched_report(s, &c->targets[0], SCHED_EV_READY, 35000,
	    NULL) == 0);
	tick(s, 35000);
	CU_ASSERT_EQUAL_FATAL(count_waves(), 3);
	CU_ASSERT_EQUAL(wave_nr(2)->why, SCHED_WHY_COUNT);
	CU_ASSERT_EQUAL(c->targets[1].state, SCHED_M_ERROR);

	/* Fewer machines than max targets: all ready is enough. */
	o = opts(5, 10000);
	d = mkrun(s, "d", &o, 2, "d", 40000);
	CU_ASSERT_EQUAL(d->target_count, 2);
	ready(s, d, 0, 41000);
	CU_ASSERT_EQUAL(count_waves(), 3);
	ready(s, d, 1, 42000);
	CU_ASSERT_EQUAL_FATAL(count_waves(), 4);
	CU_ASSERT_EQUAL(wave_nr(3)->why, SCHED_WHY_ALL_READY);
	CU_ASSERT_EQUAL(wave_nr(3)->t, 42000);
	sched_free(s);
}

/*
 * S5: neither set: nobody waits.  Machines that are ready at the same
 * instant share a wave; a later one starts its own wave; nobody is missed.
 */
static void
test_s5_at_once(void)
{
	struct sched		*s = mk(0, SCHED_LIMIT_QUEUE, NULL);
	struct sched_opts	 o = opts(0, SCHED_NEVER);
	struct sched_run	*run = mkrun(s, "r1", &o, 3, "m", 0);
	size_t			 i;

	CU_ASSERT_EQUAL(sched_next_deadline(s), SCHED_NEVER);
	ready(s, run, 0, 100);
	CU_ASSERT_EQUAL_FATAL(count_waves(), 1);
	CU_ASSERT_EQUAL(wave_nr(0)->why, SCHED_WHY_AT_ONCE);
	CU_ASSERT_EQUAL(wave_nr(0)->n, 1);
	CU_ASSERT_EQUAL(wave_nr(0)->t, 100);
	CU_ASSERT(sched_report(s, &run->targets[1], SCHED_EV_READY, 200,
	    NULL) == 0);
	CU_ASSERT(sched_report(s, &run->targets[2], SCHED_EV_READY, 200,
	    NULL) == 0);
	tick(s, 200);
	CU_ASSERT_EQUAL_FATAL(count_waves(), 2);
	CU_ASSERT_EQUAL(wave_nr(1)->n, 2);
	CU_ASSERT_EQUAL(wave_nr(1)->index, 2);
	for (i = 0; i < 3; i++)
		finish(s, &run->targets[i], 1000);
	CU_ASSERT_EQUAL(run->state, SCHED_R_FINISHED);
	CU_ASSERT_EQUAL(run->finished_at, 1000);
	sched_free(s);
}

/*
 * S6: machines beyond max targets are in error and refuse new runs with
 * that message until an admin clears the error.
 */
static void
test_s6_beyond_max_targets(void)
{
	struct sched		*s = mk(0, SCHED_LIMIT_QUEUE, NULL);
	struct sched_opts	 o = opts(3, SCHED_NEVER);
	struct sched_run	*run = mkrun(s, "r1", &o, 5, "m", 0);
	size_t			 i, nerr = 0;

	/* All five report ready in the same turn: two are beyond. */
	for (i = 0; i < 5; i++)
		CU_ASSERT(sched_report(s, &run->targets[i], SCHED_EV_READY,
		    1000, NULL) == 0);
	tick(s, 1000);
	CU_ASSERT_EQUAL_FATAL(count_waves(), 1);
	CU_ASSERT_EQUAL(wave_nr(0)->n, 3);
	for (i = 3; i < 5; i++) {
		CU_ASSERT_EQUAL(run->targets[i].state, SCHED_M_ERROR);
		CU_ASSERT_STRING_EQUAL(run->targets[i].error,
		    SCHED_ERR_MAX_TARGETS);
		CU_ASSERT_PTR_NOT_NULL(run->targets[i].machine->error);
	}
	for (i = 0; i < nlog; i++)
		nerr += log_[i].kind == REC_ERROR;
	CU_ASSERT_EQUAL(nerr, 2);
	/* The sticky error is stored before the state change is reported. */
	for (i = 0; i < nlog; i++)
		if (log_[i].kind == REC_ERROR)
			break;
	CU_ASSERT(i + 1 < nlog && log_[i + 1].kind == REC_MACHINE &&
	    log_[i + 1].mnew == SCHED_M_ERROR &&
	    strcmp(log_[i + 1].name, log_[i].name) == 0);
	for (i = 0; i < 3; i++)
		finish(s, &run->targets[i], 2000);
	CU_ASSERT_EQUAL(run->state, SCHED_R_FINISHED);
	sched_free(s);
}

/* S6, second half: refused with the message until sched_clear_error(). */
static void
test_s6_clear_error(void)
{
	struct sched		*s = mk(0, SCHED_LIMIT_QUEUE, NULL);
	struct sched_opts	 o = opts(1, SCHED_NEVER);
	struct sched_run	*r1, *r2, *r3;
	struct sched_machine	*m1;

	r1 = mkrun(s, "r1", &o, 2, "m", 0);
	ready(s, r1, 0, 10);
	m1 = r1->targets[1].machine;
	CU_ASSERT_EQUAL(r1->targets[1].state, SCHED_M_ERROR);
	CU_ASSERT_STRING_EQUAL(m1->error, SCHED_ERR_MAX_TARGETS);
	finish(s, &r1->targets[0], 20);

	/* A new run: m1 is refused at the start, with that message. */
	o = opts(0, SCHED_NEVER);
	r2 = mkrun(s, "r2", &o, 2, "m", 100);
	CU_ASSERT_EQUAL(r2->targets[1].state, SCHED_M_ERROR);
	CU_ASSERT_STRING_EQUAL(r2->targets[1].error, SCHED_ERR_MAX_TARGETS);
	CU_ASSERT_EQUAL(r2->targets[0].state, SCHED_M_ASSIGNED);
	CU_ASSERT(sched_report(s, &r2->targets[1], SCHED_EV_READY, 110,
	    NULL) == -1);
	ready(s, r2, 0, 110);
	finish(s, &r2->targets[0], 120);
	CU_ASSERT_EQUAL(r2->state, SCHED_R_FINISHED);

	/* The admin clears the error; the next run takes m1. */
	CU_ASSERT(sched_clear_error(s, m1, 200) == 0);
	CU_ASSERT_PTR_NULL(m1->error);
	CU_ASSERT(sched_clear_error(s, m1, 200) == -1);
	r3 = mkrun(s, "r3", &o, 2, "m", 300);
	CU_ASSERT_EQUAL(r3->targets[1].state, SCHED_M_ASSIGNED);
	ready(s, r3, 1, 310);
	CU_ASSERT_EQUAL(r3->targets[1].state, SCHED_M_TRANSFERRING);
	sched_free(s);
}

/*
 * S7, queue: beyond max_concurrent_machines machines are queued, start as
 * slots free up, and the limit is never exceeded.
 */
static void
test_s7_queue(void)
{
	struct sched		*s = mk(2, SCHED_LIMIT_QUEUE, NULL);
	struct sched_opts	 o = opts(5, SCHED_NEVER);
	struct sched_run	*run = mkrun(s, "r1", &o, 5, "m", 0);
	size_t			 i;

	for (i = 0; i < 5; i++)
		CU_ASSERT(sched_report(s, &run->targets[i], SCHED_EV_READY,
		    1000, NULL) == 0);
	tick(s, 1000);
	CU_ASSERT_EQUAL_FATAL(count_waves(), 1);
	CU_ASSERT_EQUAL(wave_nr(0)->n, 2);
	CU_ASSERT_EQUAL(sched_active(s), 2);
	CU_ASSERT_EQUAL(sched_queued(s), 3);
	for (i = 2; i < 5; i++) {
		CU_ASSERT_EQUAL(run->targets[i].state, SCHED_M_QUEUED);
		CU_ASSERT_PTR_NULL(run->targets[i].error);
	}
	/* Nothing is due while every slot is taken. */
	CU_ASSERT_EQUAL(sched_next_deadline(s), SCHED_NEVER);
	finish(s, &run->targets[0], 5000);
	CU_ASSERT_EQUAL_FATAL(count_waves(), 2);
	CU_ASSERT_EQUAL(wave_nr(1)->n, 1);
	CU_ASSERT_EQUAL(wave_nr(1)->why, SCHED_WHY_SLOTS);
	CU_ASSERT_EQUAL(run->targets[2].state, SCHED_M_TRANSFERRING);
	finish(s, &run->targets[1], 6000);
	finish(s, &run->targets[2], 6000);
	CU_ASSERT_EQUAL(sched_queued(s), 0);
	finish(s, &run->targets[3], 7000);
	finish(s, &run->targets[4], 7000);
	CU_ASSERT_EQUAL(run->state, SCHED_R_FINISHED);
	CU_ASSERT_EQUAL(sched_active(s), 0);
	CU_ASSERT(max_active <= 2);
	for (i = 0; i < nlog; i++)
		if (log_[i].kind == REC_WAVE)
			CU_ASSERT(log_[i].active <= 2);
	sched_free(s);
}

/* S7, error: beyond the limit machines get an error, never silence. */
static void
test_s7_error(void)
{
	struct sched		*s = mk(2, SCHED_LIMIT_ERROR, NULL);
	struct sched_opts	 o = opts(0, SCHED_NEVER);
	struct sched_run	*run = mkrun(s, "r1", &o, 4, "m", 0);
	size_t			 i;

	for (i = 0; i < 4; i++)
		CU_ASSERT(sched_report(s, &run->targets[i], SCHED_EV_READY,
		    1000, NULL) == 0);
	tick(s, 1000);
	CU_ASSERT_EQUAL(wave_nr(0)->n, 2);
	for (i = 2; i < 4; i++) {
		CU_ASSERT_EQUAL(run->targets[i].state, SCHED_M_ERROR);
		CU_ASSERT(strstr(run->targets[i].error,
		    "max_concurrent_machines 2") != NULL);
		/* Not an S6 error: the next run may take it. */
		CU_ASSERT_PTR_NULL(run->targets[i].machine->error);
	}
	CU_ASSERT_EQUAL(sched_queued(s), 0);
	sched_free(s);
}

/* S8: unicast ignores max targets and max wait; nobody waits. */
static void
test_s8_unicast(void)
{
	struct sched		*s = mk(0, SCHED_LIMIT_QUEUE, NULL);
	struct sched_opts	 o = opts(1, 1000);
	struct sched_run	*run;
	size_t			 i;

	o.unicast = 1;
	run = mkrun(s, "r1", &o, 3, "m", 0);
	CU_ASSERT_EQUAL(run->group_held, 0);
	CU_ASSERT_EQUAL(sched_next_deadline(s), SCHED_NEVER);
	for (i = 0; i < 3; i++)
		ready(s, run, i, 5000 + 1000 * i);
	CU_ASSERT_EQUAL_FATAL(count_waves(), 3);
	for (i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(wave_nr(i)->path, SCHED_PATH_UNICAST);
		CU_ASSERT_EQUAL(wave_nr(i)->why, SCHED_WHY_UNICAST);
		CU_ASSERT_EQUAL(wave_nr(i)->t, 5000 + 1000 * i);
		CU_ASSERT_EQUAL(run->targets[i].state, SCHED_M_TRANSFERRING);
		CU_ASSERT_EQUAL(run->targets[i].path, SCHED_PATH_UNICAST);
	}
	sched_free(s);
}

/* S8 fallback: off-segment machines of a multicast run go by unicast. */
static void
test_s8_remote_fallback(void)
{
	struct sched		*s = mk(0, SCHED_LIMIT_QUEUE, NULL);
	struct sched_opts	 o = opts(3, SCHED_NEVER);
	struct sched_run	*run;

	sched_machine_get(s, "m1")->remote = 1;
	run = mkrun(s, "r1", &o, 3, "m", 0);
	ready(s, run, 0, 10);
	ready(s, run, 1, 20);
	ready(s, run, 2, 30);
	CU_ASSERT_EQUAL_FATAL(count_waves(), 2);
	CU_ASSERT_EQUAL(wave_nr(0)->path, SCHED_PATH_MULTICAST);
	CU_ASSERT_EQUAL(wave_nr(0)->n, 2);
	CU_ASSERT_EQUAL(wave_nr(1)->path, SCHED_PATH_UNICAST);
	CU_ASSERT_EQUAL(wave_nr(1)->n, 1);
	CU_ASSERT_EQUAL(wave_nr(1)->t, 30);
	CU_ASSERT_EQUAL(run->targets[1].path, SCHED_PATH_UNICAST);
	CU_ASSERT(wave_nr(1)->members_ok);
	sched_free(s);
}

/* S9: runs at the same time never share a group. */
static void
test_s9_groups(void)
{
	struct sched		*s = mk(0, SCHED_LIMIT_QUEUE, "239.1.1.0/31");
	struct sched_opts	 o = opts(0, SCHED_NEVER);
	struct sched_machine	*m = sched_machine_get(s, "x");
	struct sched_run	*a, *b, *c;
	char			 err[256];

	a = mkrun(s, "a", &o, 1, "a", 0);
	b = mkrun(s, "b", &o, 1, "b", 0);
	CU_ASSERT_NOT_EQUAL(a->group, b->group);
	CU_ASSERT(a->group_auto && b->group_auto);
	/* The range of two is used up: a clear refusal. */
	c = sched_run_new(s, "c", &o, &m, 1, err, sizeof(err));
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT(strstr(err, "all 2 groups are in use") != NULL);
	/* An explicit group that collides is refused, naming the run. */
	o.group = a->group;
	c = sched_run_new(s, "c", &o, &m, 1, err, sizeof(err));
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT(strstr(err, "in use by run a") != NULL);
	/* An explicit group outside the range is fine, once. */
	o.group = 0xef020202;	/* 239.2.2.2 */
	c = sched_run_new(s, "c", &o, &m, 1, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NULL(sched_run_new(s, "d", &o, &m, 1, err,
	    sizeof(err)));
	CU_ASSERT(strstr(err, "in use by run c") != NULL);
	o.group = 0x0a000001;
	CU_ASSERT_PTR_NULL(sched_run_new(s, "e", &o, &m, 1, err,
	    sizeof(err)));
	CU_ASSERT(strstr(err, "not a multicast address") != NULL);
	/* Once a run is finished its group is free again. */
	ready(s, a, 0, 10);
	finish(s, &a->targets[0], 20);
	CU_ASSERT_EQUAL(a->state, SCHED_R_FINISHED);
	o.group = a->group;
	c = sched_run_new(s, "f", &o, &m, 1, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(c);
	sched_free(s);
}

/*
 * S10: a next-boot run ends in pending_boot per machine and is finished
 * then; the machine moves on after its restart, the run stays finished.
 */
static void
test_s10_next_boot(void)
{
	struct sched		*s = mk(0, SCHED_LIMIT_QUEUE, NULL);
	struct sched_opts	 o = opts(0, SCHED_NEVER);
	struct sched_run	*run, *now;
	struct sched_target	*t;

	o.at_next_boot = 1;
	run = mkrun(s, "r1", &o, 1, "m", 0);
	t = &run->targets[0];
	ready(s, run, 0, 10);
	CU_ASSERT(sched_report(s, t, SCHED_EV_DELIVERED, 20, NULL) == 0);
	CU_ASSERT_EQUAL(run->state, SCHED_R_TRANSFERRING);
	CU_ASSERT(sched_report(s, t, SCHED_EV_PENDING_BOOT, 20, NULL) == 0);
	CU_ASSERT_EQUAL(run->state, SCHED_R_FINISHED);
	CU_ASSERT_EQUAL(t->done_at, 20);
	CU_ASSERT_EQUAL(t->machine->npending, 1);
	CU_ASSERT(sched_report(s, t, SCHED_EV_RUNNING, 900, NULL) == 0);
	CU_ASSERT_EQUAL(t->machine->npending, 0);
	CU_ASSERT(sched_report(s, t, SCHED_EV_SUCCEEDED, 950, NULL) == 0);
	CU_ASSERT_EQUAL(t->state, SCHED_M_SUCCEEDED);
	CU_ASSERT_EQUAL(run->state, SCHED_R_FINISHED);
	CU_ASSERT_EQUAL(run->finished_at, 20);
	CU_ASSERT_EQUAL(t->done_at, 20);

	/* "Run right after delivery" never parks in pending_boot. */
	o.at_next_boot = 0;
	now = mkrun(s, "r2", &o, 1, "n", 1000);
	t = &now->targets[0];
	ready(s, now, 0, 1010);
	CU_ASSERT(sched_report(s, t, SCHED_EV_DELIVERED, 1020, NULL) == 0);
	CU_ASSERT(sched_report(s, t, SCHED_EV_PENDING_BOOT, 1020, NULL) ==
	    -1);
	CU_ASSERT_EQUAL(t->state, SCHED_M_DELIVERED);
	sched_free(s);
}

/*
 * S11: power-off at scenario end is the agent's business and needs nothing
 * of the scheduler; with at next boot the machine goes silent after
 * delivery, and such a run is finished at pending_boot all the same.
 */
static void
test_s11_poweroff(void)
{
	struct sched		*s = mk(0, SCHED_LIMIT_QUEUE, NULL);
	struct sched_opts	 o = opts(0, SCHED_NEVER);
	struct sched_machine	*m = sched_machine_get(s, "m0");
	struct sched_run	*run;
	char			 err[256];

	o.poweroff_after = 1;
	run = sched_run_new(s, "r0", &o, &m, 1, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(run);
	sched_run_free(s, run);
	o.at_next_boot = 1;
	run = mkrun(s, "r1", &o, 1, "m", 0);
	ready(s, run, 0, 10);
	CU_ASSERT(sched_report(s, &run->targets[0], SCHED_EV_DELIVERED, 20,
	    NULL) == 0);
	CU_ASSERT(sched_report(s, &run->targets[0], SCHED_EV_PENDING_BOOT, 20,
	    NULL) == 0);
	CU_ASSERT_EQUAL(run->state, SCHED_R_FINISHED);
	CU_ASSERT_EQUAL(sched_next_deadline(s), SCHED_NEVER);
	CU_ASSERT_EQUAL(run->group_held, 0);
	sched_free(s);
}

/*
 * S12: the agent refuses a run while it applies next-boot updates; that
 * error is for this run only, the next run is accepted.
 */
static void
test_s12_update_in_progress(void)
{
	struct sched		*s = mk(0, SCHED_LIMIT_QUEUE, NULL);
	struct sched_opts	 o = opts(0, 5000);
	struct sched_run	*r1, *r2;

	r1 = mkrun(s, "r1", &o, 2, "m", 0);
	CU_ASSERT(sched_report(s, &r1->targets[0], SCHED_EV_ERROR, 100,
	    "next-boot update in progress") == 0);
	CU_ASSERT_EQUAL(r1->targets[0].state, SCHED_M_ERROR);
	CU_ASSERT_STRING_EQUAL(r1->targets[0].error,
	    "next-boot update in progress");
	CU_ASSERT_PTR_NULL(r1->targets[0].machine->error);
	/* The machine in error no longer counts towards anything. */
	ready(s, r1, 1, 200);
	tick(s, 5000);
	CU_ASSERT_EQUAL(wave_nr(0)->n, 1);
	finish(s, &r1->targets[1], 6000);
	CU_ASSERT_EQUAL(r1->state, SCHED_R_FINISHED);
	r2 = mkrun(s, "r2", &o, 1, "m", 7000);
	CU_ASSERT_EQUAL(r2->targets[0].state, SCHED_M_ASSIGNED);
	ready(s, r2, 0, 7100);
	tick(s, 12000);
	CU_ASSERT_EQUAL(r2->targets[0].state, SCHED_M_TRANSFERRING);
	sched_free(s);
}

/*
 * S13: a machine holds at most 100 pending next-boot scenarios.  The agent
 * enforces the cap; the scheduler counts the pending ones per machine,
 * takes the 101st refusal as an error of that run only, and after the
 * restart the machine accepts runs again.
 */
static void
test_s13_pending_cap(void)
{
	struct sched		*s = mk(0, SCHED_LIMIT_QUEUE, NULL);
	struct sched_opts	 o = opts(0, SCHED_NEVER);
	struct sched_run	*runs[101], *after;
	struct sched_machine	*m;
	char			 id[16];
	int			 i;

	o.at_next_boot = 1;
	for (i = 0; i < 100; i++) {
		snprintf(id, sizeof(id), "r%d", i);
		runs[i] = mkrun(s, id, &o, 1, "m", 10 * i);
		ready(s, runs[i], 0, 10 * i + 1);
		CU_ASSERT(sched_report(s, &runs[i]->targets[0],
		    SCHED_EV_DELIVERED, 10 * i + 2, NULL) == 0);
		CU_ASSERT(sched_report(s, &runs[i]->targets[0],
		    SCHED_EV_PENDING_BOOT, 10 * i + 2, NULL) == 0);
		CU_ASSERT_EQUAL(runs[i]->state, SCHED_R_FINISHED);
	}
	m = runs[0]->targets[0].machine;
	CU_ASSERT_EQUAL(m->npending, 100);
	runs[100] = mkrun(s, "r100", &o, 1, "m", 2000);
	CU_ASSERT(sched_report(s, &runs[100]->targets[0], SCHED_EV_ERROR,
	    2001, "100 next-boot scenarios already pending") == 0);
	CU_ASSERT_EQUAL(runs[100]->state, SCHED_R_FINISHED);
	CU_ASSERT_PTR_NULL(m->error);
	/* The restart applies them all. */
	for (i = 0; i < 100; i++) {
		CU_ASSERT(sched_report(s, &runs[i]->targets[0],
		    SCHED_EV_RUNNING, 5000, NULL) == 0);
		CU_ASSERT(sched_report(s, &runs[i]->targets[0],
		    SCHED_EV_SUCCEEDED, 5000 + i, NULL) == 0);
	}
	CU_ASSERT_EQUAL(m->npending, 0);
	after = mkrun(s, "again", &o, 1, "m", 6000);
	ready(s, after, 0, 6001);
	CU_ASSERT_EQUAL(after->targets[0].state, SCHED_M_TRANSFERRING);
	for (i = 0; i <= 100; i++)
		sched_run_free(s, runs[i]);
	sched_free(s);
}

/*
 * Callback order: the machine changes of a decision, then the run's
 * change, then the wave, so the caller can persist before it acts.
 */
static void
test_callback_order(void)
{
	struct sched		*s = mk(0, SCHED_LIMIT_QUEUE, NULL);
	struct sched_opts	 o = opts(0, 1000);
	struct sched_run	*run = mkrun(s, "r1", &o, 3, "m", 0);
	size_t			 i, first, runidx = 0, waveidx = 0;

	ready(s, run, 0, 10);
	ready(s, run, 1, 20);
	first = nlog;
	tick(s, 1000);
	for (i = first; i < nlog; i++) {
		if (log_[i].kind == REC_RUN && runidx == 0)
			runidx = i;
		if (log_[i].kind == REC_WAVE)
			waveidx = i;
	}
	CU_ASSERT_FATAL(runidx > first && waveidx > runidx);
	for (i = first; i < runidx; i++)
		CU_ASSERT_EQUAL(log_[i].kind, REC_MACHINE);
	CU_ASSERT_EQUAL(log_[runidx].rold, SCHED_R_WAITING);
	CU_ASSERT_EQUAL(log_[runidx].rnew, SCHED_R_TRANSFERRING);
	/* Two started, one missed: all before the run and the wave. */
	CU_ASSERT_EQUAL(runidx - first, 3);
	CU_ASSERT(log_[waveidx].members_ok);
	CU_ASSERT_EQUAL(waveidx, nlog - 1);
	sched_free(s);
}

/* Events that make no sense are refused and change nothing. */
static void
test_fsm_refusals(void)
{
	struct sched		*s = mk(0, SCHED_LIMIT_QUEUE, NULL);
	struct sched_opts	 o = opts(2, SCHED_NEVER);
	struct sched_machine	*ms[2];
	struct sched_run	*run;
	char			 err[256];

	ms[0] = sched_machine_get(s, "a");
	ms[1] = sched_machine_get(s, "b");
	CU_ASSERT_PTR_EQUAL(sched_machine_find(s, "a"), ms[0]);
	CU_ASSERT_PTR_NULL(sched_machine_find(s, "zz"));
	run = sched_run_new(s, "r1", &o, ms, 2, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(run);
	/* Before the start. */
	CU_ASSERT(sched_report(s, &run->targets[0], SCHED_EV_READY, 0,
	    NULL) == -1);
	sched_run_start(s, run, 0);
	CU_ASSERT(sched_report(s, &run->targets[0], SCHED_EV_DELIVERED, 1,
	    NULL) == -1);
	CU_ASSERT(sched_report(s, &run->targets[0], SCHED_EV_SUCCEEDED, 1,
	    NULL) == -1);
	/* The scheduler's own events are not for callers. */
	CU_ASSERT(sched_report(s, &run->targets[0], SCHED_EV_START, 1,
	    NULL) == -1);
	CU_ASSERT(sched_report(s, &run->targets[0], SCHED_EV_SURPLUS, 1,
	    NULL) == -1);
	CU_ASSERT_EQUAL(run->targets[0].state, SCHED_M_ASSIGNED);
	ready(s, run, 0, 2);
	CU_ASSERT(sched_report(s, &run->targets[0], SCHED_EV_READY, 3,
	    NULL) == -1);
	CU_ASSERT_EQUAL(run->nready, 1);
	CU_ASSERT_STRING_EQUAL(sched_strmstate(SCHED_M_PENDING_BOOT),
	    "pending_boot");
	CU_ASSERT_STRING_EQUAL(sched_strrstate(SCHED_R_WAITING), "waiting");
	CU_ASSERT_STRING_EQUAL(sched_strmstate(SCHED_M_INTERRUPTED),
	    "interrupted");
	sched_free(s);
}

/* Close and admin start: the extras the server needs. */
static void
test_close_and_start_now(void)
{
	struct sched		*s = mk(0, SCHED_LIMIT_QUEUE, NULL);
	struct sched_opts	 o = opts(5, SCHED_NEVER);
	struct sched_run	*a, *b;
	uint32_t		 g;

	a = mkrun(s, "a", &o, 3, "a", 0);
	ready(s, a, 0, 10);
	CU_ASSERT(sched_run_start_now(s, a, 50) == 0);
	CU_ASSERT_EQUAL_FATAL(count_waves(), 1);
	CU_ASSERT_EQUAL(wave_nr(0)->why, SCHED_WHY_ADMIN);
	CU_ASSERT_EQUAL(a->targets[1].state, SCHED_M_MISSED);
	CU_ASSERT(sched_run_start_now(s, a, 60) == -1);

	b = mkrun(s, "b", &o, 3, "b", 100);
	g = b->group;
	ready(s, b, 0, 110);
	sched_run_close(s, b, 200, "cancelled by the admin");
	CU_ASSERT_EQUAL(b->state, SCHED_R_FINISHED);
	CU_ASSERT_EQUAL(b->targets[0].state, SCHED_M_MISSED);
	CU_ASSERT_STRING_EQUAL(b->targets[2].error, "cancelled by the admin");
	CU_ASSERT_EQUAL(b->group_held, 0);
	/* The transferring machine of `a' is interrupted on close. */
	sched_run_close(s, a, 300, "server shutting down");
	CU_ASSERT_EQUAL(a->targets[0].state, SCHED_M_INTERRUPTED);
	CU_ASSERT_EQUAL(sched_active(s), 0);
	(void)g;
	sched_free(s);
}

static void
test_group_range(void)
{
	uint32_t	base;
	unsigned	prefix;
	char		err[256], buf[32];

	CU_ASSERT(sched_group_parse_range("239.192.56.0/24", &base, &prefix,
	    err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(prefix, 24);
	CU_ASSERT_STRING_EQUAL(sched_group_str(base, buf, sizeof(buf)),
	    "239.192.56.0");
	CU_ASSERT(sched_group_parse_range("10.0.0.0/24", &base, &prefix, err,
	    sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "not a multicast") != NULL);
	CU_ASSERT(sched_group_parse_range("239.192.56.1/24", &base, &prefix,
	    err, sizeof(err)) == -1);
	CU_ASSERT(sched_group_parse_range("239.0.0.0/8", &base, &prefix, err,
	    sizeof(err)) == -1);
	CU_ASSERT(sched_group_parse_range("239.1.2.3", &base, &prefix, err,
	    sizeof(err)) == -1);
}

/* A scenario's group (S9), as the API and the simulator both read it. */
static void
test_group(void)
{
	uint32_t	a;
	uint16_t	port;
	char		err[256];

	CU_ASSERT(sched_group_parse("239.1.2.3", &a, &port, err,
	    sizeof(err)) == 0);
	CU_ASSERT_EQUAL(a, 0xef010203U);
	CU_ASSERT_EQUAL(port, 0);
	CU_ASSERT(sched_group_parse("239.1.2.3:5000", &a, &port, err,
	    sizeof(err)) == 0);
	CU_ASSERT_EQUAL(port, 5000);
	CU_ASSERT(sched_group_parse("239.1.2.3:0", &a, &port, err,
	    sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "port '0'") != NULL);
	CU_ASSERT(sched_group_parse("10.1.2.3", &a, &port, err,
	    sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "not a multicast") != NULL);
	/* The simulator accepted these before it shared the rule. */
	CU_ASSERT(sched_group_parse("224.0.0.251", &a, &port, err,
	    sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "224.0.0.0/24") != NULL);
	CU_ASSERT(sched_group_parse("host", &a, &port, err,
	    sizeof(err)) == -1);
}

/* The last machine record of target name, or NULL. */
static const struct rec *
last_machine(const char *name)
{
	size_t	i;

	for (i = nlog; i > 0; i--)
		if (log_[i - 1].kind == REC_MACHINE &&
		    strcmp(log_[i - 1].name, name) == 0)
			return (&log_[i - 1]);
	return (NULL);
}

/*
 * Each machine change names its cause: the event, the entry point, and the
 * data that entry point was given, so that a caller needs no state of its
 * own around its calls (the server's report details, restore, cancel).
 */
static void
test_cause(void)
{
	int			 tag1, tag2;
	const struct rec	*r;
	struct sched_machine	*ms[3];
	struct sched_run	*run;
	struct sched_opts	 o = opts(2, SCHED_NEVER);
	struct sched		*s = mk(0, SCHED_LIMIT_QUEUE, NULL);
	char			 err[256];

	ms[0] = sched_machine_get(s, "c0");
	ms[1] = sched_machine_get(s, "c1");
	ms[2] = sched_machine_get(s, "c2");
	sched_set_error(s, ms[2], "sticky", 0);
	run = sched_run_new(s, "rc", &o, ms, 3, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(run);
	sched_run_start_data(s, run, 0, &tag1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r = last_machine("c2"));
	CU_ASSERT_EQUAL(r->mnew, SCHED_M_ERROR);
	CU_ASSERT_EQUAL(r->ev, SCHED_EV_REFUSE);
	CU_ASSERT_EQUAL(r->via, SCHED_VIA_START);
	CU_ASSERT_PTR_EQUAL(r->data, &tag1);

	CU_ASSERT(sched_report_data(s, &run->targets[0], SCHED_EV_READY, 10,
	    NULL, &tag2) == 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r = last_machine("c0"));
	CU_ASSERT_EQUAL(r->ev, SCHED_EV_READY);
	CU_ASSERT_EQUAL(r->via, SCHED_VIA_REPORT);
	CU_ASSERT_PTR_EQUAL(r->data, &tag2);
	ready(s, run, 1, 20);
	CU_ASSERT_PTR_NULL(last_machine("c1")->data);
	/* Both ready: the scheduler's own decision starts them. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(r = last_machine("c0"));
	CU_ASSERT_EQUAL(r->mnew, SCHED_M_TRANSFERRING);
	CU_ASSERT_EQUAL(r->ev, SCHED_EV_START);
	CU_ASSERT_EQUAL(r->via, SCHED_VIA_DECISION);
	CU_ASSERT_PTR_NULL(r->data);

	sched_run_close(s, run, 30, "cancelled by the admin");
	CU_ASSERT_PTR_NOT_NULL_FATAL(r = last_machine("c1"));
	CU_ASSERT_EQUAL(r->mnew, SCHED_M_INTERRUPTED);
	CU_ASSERT_EQUAL(r->ev, SCHED_EV_INTERRUPT);
	CU_ASSERT_EQUAL(r->via, SCHED_VIA_CLOSE);
	sched_free(s);
}

static CU_TestInfo tests[] = {
	{ "S2 max targets", test_s2_max_targets },
	{ "S3 max wait", test_s3_max_wait },
	{ "S4 whichever first", test_s4_either },
	{ "S5 neither: at once", test_s5_at_once },
	{ "S6 beyond max targets", test_s6_beyond_max_targets },
	{ "S6 clear error", test_s6_clear_error },
	{ "S7 concurrency: queue", test_s7_queue },
	{ "S7 concurrency: error", test_s7_error },
	{ "S8 unicast", test_s8_unicast },
	{ "S8 remote fallback", test_s8_remote_fallback },
	{ "S9 groups", test_s9_groups },
	{ "S10 next boot", test_s10_next_boot },
	{ "S11 power off", test_s11_poweroff },
	{ "S12 update in progress", test_s12_update_in_progress },
	{ "S13 pending cap", test_s13_pending_cap },
	{ "callback order", test_callback_order },
	{ "cause of a change", test_cause },
	{ "fsm refusals", test_fsm_refusals },
	{ "close and start now", test_close_and_start_now },
	{ "group range", test_group_range },
	{ "group", test_group },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	return (unit_main("sched", tests));
}
