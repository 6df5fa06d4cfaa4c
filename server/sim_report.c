/*
 * The simulator's text and JSON outputs: the summary `fleetcast sim'
 * prints after the timeline, and the JSON document of every run, wave and
 * machine with the same summary as an object.  Both read a finished
 * simulation (struct sim, sim_int.h) and change nothing in it but the
 * order of its results (sim_sort()).
 */
#include <sys/types.h>

#include <arpa/inet.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sched.h"
#include "sim.h"
#include "sim_int.h"
#include "xmalloc.h"

/* Nearest rank: the smallest value with at least p% at or below it. */
static uint32_t
sim_percentile(const struct sim *sim, unsigned p)
{
	size_t	rank;

	rank = (sim->ndone * p + 99) / 100;
	if (rank == 0)
		rank = 1;
	return (sim->done[rank - 1]);
}

static int
sim_err_cmp(const void *a, const void *b)
{
	const struct sim_errcount *x = a, *y = b;

	if (x->count != y->count)
		return (x->count > y->count ? -1 : 1);
	return (strcmp(x->msg, y->msg));
}

/* The error messages with their counts, most frequent first. */
static struct sim_errcount *
sim_errlist(const struct sim *sim, size_t *n)
{
	struct sim_errcount	*l;
	size_t			 i;

	l = xcalloc(sim->nerrs + 1, sizeof(*l));
	*n = 0;
	for (i = 0; i < sim->errsize; i++)
		if (sim->errs[i].msg != NULL)
			l[(*n)++] = sim->errs[i];
	qsort(l, *n, sizeof(*l), sim_err_cmp);
	return (l);
}

#define SIM_SECS(ms)	(uint64_t)(ms) / 1000, (uint64_t)(ms) % 1000

void
sim_print_summary(const struct sim *sim, FILE *f)
{
	struct sim_errcount	*el;
	const struct sim_wsum	*w;
	size_t			 i, n, shown = 0;

	sim_sort(sim);
	fprintf(f, "\nsummary\n");
	fprintf(f, "  %-24s %" PRIu32 " (%zu refused)\n", "runs", sim->nruns,
	    sim->nrefused_runs);
	fprintf(f, "  %-24s %zu machine-runs (fleet of %zu)\n", "targets",
	    sim->ntargets, sim->fl->n);
	fprintf(f, "  (times are seconds from the start of each run)\n");
	if (sim->first_transfer == SCHED_NEVER)
		fprintf(f, "  %-24s none\n", "first transfer start");
	else
		fprintf(f, "  %-24s %" PRIu64 ".%03" PRIu64 " s\n",
		    "first transfer start", SIM_SECS(sim->first_transfer));
	fprintf(f, "  %-24s %zu (multicast %zu, unicast %zu)\n", "waves",
	    sim->nwtotal, sim->nwpath[SCHED_PATH_MULTICAST],
	    sim->nwpath[SCHED_PATH_UNICAST]);
	for (i = 0; i < sim->nwtotal && i < SIM_WLIST; i++) {
		w = &sim->wfirst[i];
		if (sim->nruns > 1)
			fprintf(f, "    run %" PRIu32 " ", w->run);
		else
			fprintf(f, "    ");
		fprintf(f, "wave %-3u %9" PRIu64 ".%03" PRIu64 " s  %-9s "
		    "%5zu machine%s%s (%s)\n", w->index, SIM_SECS(w->start),
		    sched_strpath(w->path), w->n, sim_plural(w->n),
		    w->n == 1 ? " " : "", sched_strwhy(w->why));
	}
	if (sim->nwtotal > SIM_WLIST)
		fprintf(f, "    ... %zu more\n", sim->nwtotal - SIM_WLIST);
	if (sim->nwtotal > 0)
		fprintf(f, "  %-24s min %zu, mean %.1f, max %zu\n",
		    "machines per wave", sim->wmin,
		    (double)sim->wsum / sim->nwtotal, sim->wmax);
	fprintf(f, "  %-24s", "final states");
	for (i = 0; i < SCHED_M_NSTATES; i++) {
		if (sim->states[i] == 0)
			continue;
		fprintf(f, "%s %s %zu", shown++ ? "," : "",
		    sched_strmstate(i), sim->states[i]);
	}
	fprintf(f, "\n");
	el = sim_errlist(sim, &n);
	fprintf(f, "  %-24s %zu\n", "errors and failures",
	    sim->states[SCHED_M_ERROR] + sim->states[SCHED_M_FAILED]);
	for (i = 0; i < n && i < 10; i++)
		fprintf(f, "    %6zu  %s\n", el[i].count, el[i].msg);
	if (n > 10)
		fprintf(f, "    ... %zu more messages\n", n - 10);
	free(el);
	fprintf(f, "  %-24s %zu\n", "missed",
	    sim->states[SCHED_M_MISSED]);
	fprintf(f, "  %-24s %zu\n", "queued by the limit (S7)",
	    sim->nqueued_ever);
	if (sim->ndone == 0)
		fprintf(f, "  %-24s none\n", "completion");
	else
		fprintf(f, "  %-24s %zu machine-runs: p50 %" PRIu64 ".%03"
		    PRIu64 " s, p90 %" PRIu64 ".%03" PRIu64 " s, p100 %"
		    PRIu64 ".%03" PRIu64 " s\n", "completion", sim->ndone,
		    SIM_SECS(sim_percentile(sim, 50)),
		    SIM_SECS(sim_percentile(sim, 90)),
		    SIM_SECS(sim_percentile(sim, 100)));
	fprintf(f, "  %-24s %" PRIu32 " per machine (limit %d, S13)\n",
	    "max pending next-boot", sim->max_pending, CTL_PENDING_CAP);
	fprintf(f, "  %-24s %" PRIu64 ".%03" PRIu64 " s from the first "
	    "run's start\n", "simulation end", SIM_SECS(sim->now));
}

static json_t *
sim_jtime(int64_t ms)
{
	return (ms < 0 ? json_null() : json_real(ms / 1000.0));
}

static json_t *
sim_jstring_or_null(const char *s)
{
	return (s == NULL ? json_null() : json_string(s));
}

#define SIM_JFLAGS	(JSON_REAL_PRECISION(15) | JSON_ENSURE_ASCII)

static int
sim_jdump(json_t *o, FILE *f, int last)
{
	int	rv;

	fputs("  ", f);
	rv = json_dumpf(o, f, SIM_JFLAGS);
	json_decref(o);
	fputs(last ? "\n" : ",\n", f);
	return (rv);
}

static json_t *
sim_json_summary(const struct sim *sim)
{
	json_t			*o, *st, *er, *c, *mpw;
	struct sim_errcount	*el;
	size_t			 i, n;

	o = json_object();
	json_object_set_new(o, "runs", json_integer(sim->nruns));
	json_object_set_new(o, "runs_refused",
	    json_integer(sim->nrefused_runs));
	json_object_set_new(o, "fleet", json_integer(sim->fl->n));
	json_object_set_new(o, "targets", json_integer(sim->ntargets));
	json_object_set_new(o, "first_transfer_start",
	    sim->first_transfer == SCHED_NEVER ? json_null() :
	    json_real(sim->first_transfer / 1000.0));
	json_object_set_new(o, "waves", json_integer(sim->nwtotal));
	mpw = json_array();
	for (i = 0; i < sim->nwaves; i++)
		json_array_append_new(mpw, json_integer(sim->waves[i].n));
	json_object_set_new(o, "machines_per_wave", mpw);
	st = json_object();
	for (i = 0; i < SCHED_M_NSTATES; i++)
		json_object_set_new(st, sched_strmstate(i),
		    json_integer(sim->states[i]));
	json_object_set_new(o, "states", st);
	json_object_set_new(o, "errors", json_integer(
	    sim->states[SCHED_M_ERROR] + sim->states[SCHED_M_FAILED]));
	er = json_array();
	el = sim_errlist(sim, &n);
	for (i = 0; i < n; i++)
		json_array_append_new(er, json_pack("{s:s, s:I}", "error",
		    el[i].msg, "count", (json_int_t)el[i].count));
	free(el);
	json_object_set_new(o, "error_messages", er);
	json_object_set_new(o, "missed",
	    json_integer(sim->states[SCHED_M_MISSED]));
	json_object_set_new(o, "queued", json_integer(sim->nqueued_ever));
	c = json_object();
	json_object_set_new(c, "count", json_integer(sim->ndone));
	json_object_set_new(c, "p50", sim->ndone == 0 ? json_null() :
	    json_real(sim_percentile(sim, 50) / 1000.0));
	json_object_set_new(c, "p90", sim->ndone == 0 ? json_null() :
	    json_real(sim_percentile(sim, 90) / 1000.0));
	json_object_set_new(c, "p100", sim->ndone == 0 ? json_null() :
	    json_real(sim_percentile(sim, 100) / 1000.0));
	json_object_set_new(o, "completion", c);
	json_object_set_new(o, "max_pending_boot",
	    json_integer(sim->max_pending));
	json_object_set_new(o, "end", json_real(sim->now / 1000.0));
	return (o);
}

/*
 * One object, written element by element (one per line) so that a large
 * simulation is not built twice in memory.  Times are seconds from the
 * run's start; runs[].start is from the simulation's start.
 */
int
sim_write_json(const struct sim *sim, FILE *f)
{
	const struct sim_rec	*r;
	const struct sim_wave	*w;
	const struct sim_runinfo *ri;
	json_t			*o, *ms;
	char			 gbuf[INET_ADDRSTRLEN];
	size_t			 i, j;
	int			 rv = 0;

	sim_sort(sim);
	fprintf(f, "{\n\"seed\": %" PRIu64 ",\n\"runs\": [\n", sim->seed);
	for (i = 0; i < sim->nruns; i++) {
		ri = &sim->ri[i];
		o = json_object();
		json_object_set_new(o, "run", json_integer(i + 1));
		json_object_set_new(o, "id", sim_jstring_or_null(ri->id));
		json_object_set_new(o, "start", json_real(ri->start / 1000.0));
		json_object_set_new(o, "group", ri->group == 0 ? json_null() :
		    json_string(sched_group_str(ri->group, gbuf,
		    sizeof(gbuf))));
		json_object_set_new(o, "state", ri->error != NULL ?
		    json_null() : json_string(sched_strrstate(ri->state)));
		json_object_set_new(o, "machines", json_integer(ri->ntargets));
		json_object_set_new(o, "first_transfer_start",
		    sim_jtime(ri->first_wave));
		json_object_set_new(o, "finished_at", sim_jtime(ri->finished));
		json_object_set_new(o, "error", sim_jstring_or_null(ri->error));
		rv |= sim_jdump(o, f, i + 1 == sim->nruns);
	}
	fprintf(f, "],\n\"waves\": [\n");
	for (i = 0; i < sim->nwaves; i++) {
		w = &sim->waves[i];
		o = json_object();
		json_object_set_new(o, "run", json_integer(w->run));
		json_object_set_new(o, "wave", json_integer(w->index));
		json_object_set_new(o, "start", sim_jtime(w->start));
		json_object_set_new(o, "end", sim_jtime(w->end));
		json_object_set_new(o, "path",
		    json_string(sched_strpath(w->path)));
		json_object_set_new(o, "why", json_string(sched_strwhy(w->why)));
		json_object_set_new(o, "group", w->group == 0 ? json_null() :
		    json_string(sched_group_str(w->group, gbuf,
		    sizeof(gbuf))));
		ms = json_array();
		for (j = 0; j < w->n; j++)
			json_array_append_new(ms, json_string(
			    sim->fl->m[sim->members[w->off + j]].name));
		json_object_set_new(o, "machines", ms);
		rv |= sim_jdump(o, f, i + 1 == sim->nwaves);
	}
	fprintf(f, "],\n\"machines\": [\n");
	for (i = 0; i < sim->nrecs; i++) {
		r = &sim->recs[i];
		o = json_object();
		json_object_set_new(o, "run", json_integer(r->run));
		json_object_set_new(o, "name",
		    json_string(sim->fl->m[r->machine].name));
		json_object_set_new(o, "segment", json_string(
		    sim->fl->m[r->machine].remote ? "remote" : "local"));
		json_object_set_new(o, "state",
		    json_string(sched_strmstate(r->state)));
		json_object_set_new(o, "path", r->path == SCHED_PATH_NONE ?
		    json_null() : json_string(sched_strpath(r->path)));
		json_object_set_new(o, "wave", r->wave == 0 ? json_null() :
		    json_integer(r->wave));
		json_object_set_new(o, "ready_at", sim_jtime(r->ready_at));
		json_object_set_new(o, "transfer_start",
		    sim_jtime(r->start_at));
		json_object_set_new(o, "delivered_at",
		    sim_jtime(r->delivered_at));
		json_object_set_new(o, "pending_at", sim_jtime(r->pending_at));
		json_object_set_new(o, "done_at", sim_jtime(r->done_at));
		json_object_set_new(o, "applied_at", sim_jtime(r->applied_at));
		json_object_set_new(o, "error", sim_jstring_or_null(r->error));
		rv |= sim_jdump(o, f, i + 1 == sim->nrecs);
	}
	fprintf(f, "],\n\"summary\": ");
	o = sim_json_summary(sim);
	rv |= json_dumpf(o, f, SIM_JFLAGS | JSON_INDENT(2));
	json_decref(o);
	fprintf(f, "\n}\n");
	return (rv == 0 && !ferror(f) ? 0 : -1);
}
