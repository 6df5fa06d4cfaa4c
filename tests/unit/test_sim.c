/*
 * Tests for the simulator: input errors name the file, the JSON path and
 * the rule; each rule S2-S13 shows in a small simulation; results depend
 * on the seed only; and a property test over many random scenarios and
 * fleets checks the invariants from the per-machine records, independently
 * of the scheduler's own bookkeeping.
 */
#include <stdarg.h>
#include <string.h>

#include "sched.h"
#include "sim.h"
#include "unit.h"

struct run {
	struct sim_scenario	 sc;
	struct sim_fleet	 fl;
	struct sim		*sim;
	const struct sim_rec	*recs;
	size_t			 nrecs;
	const struct sim_wave	*waves;
	size_t			 nwaves;
	const struct sim_runinfo *runs;
	size_t			 nruns;
};

/* Run a scenario and fleet given as JSON text; NULL on an input error. */
static int
simulate(struct run *r, const char *scenario, const char *fleet,
    uint64_t seed)
{
	char	err[512];

	memset(r, 0, sizeof(*r));
	if (sim_scenario_parse(scenario, "scenario.json", &r->sc, err,
	    sizeof(err)) == -1 || sim_fleet_parse(fleet, "fleet.json", &r->fl,
	    err, sizeof(err)) == -1 || sim_check(&r->sc, &r->fl,
	    "scenario.json", err, sizeof(err)) == -1) {
		fprintf(stderr, "unexpected input error: %s\n", err);
		return (-1);
	}
	r->sim = sim_new(&r->sc, &r->fl, seed, NULL, 1);
	sim_run(r->sim);
	r->recs = sim_records(r->sim, &r->nrecs);
	r->waves = sim_waves(r->sim, &r->nwaves);
	r->runs = sim_runs(r->sim, &r->nruns);
	return (0);
}

static void
done(struct run *r)
{
	sim_free(r->sim);
	sim_fleet_free(&r->fl);
}

static const struct sim_rec *
rec(const struct run *r, uint32_t run, const char *name)
{
	size_t	i;

	for (i = 0; i < r->nrecs; i++)
		if (r->recs[i].run == run &&
		    strcmp(r->fl.m[r->recs[i].machine].name, name) == 0)
			return (&r->recs[i]);
	CU_FAIL("no such record");
	return (&r->recs[0]);
}

static size_t
count(const struct run *r, enum sched_mstate st)
{
	size_t	i, n = 0;

	for (i = 0; i < r->nrecs; i++)
		n += r->recs[i].state == st;
	return (n);
}

/* The error a scenario or fleet text gives, or "" if it loads. */
static const char *
scenario_err(const char *text)
{
	static char		 err[512];
	struct sim_scenario	 sc;

	if (sim_scenario_parse(text, "scenario.json", &sc, err,
	    sizeof(err)) == 0)
		err[0] = '\0';
	return (err);
}

static const char *
fleet_err(const char *text)
{
	static char		 err[512];
	struct sim_fleet	 fl;

	if (sim_fleet_parse(text, "fleet.json", &fl, err, sizeof(err)) == 0) {
		sim_fleet_free(&fl);
		err[0] = '\0';
	}
	return (err);
}

static void
test_input_errors(void)
{
	CU_ASSERT_STRING_EQUAL(fleet_err("{\"groups\": [{\"prefix\":\"a\","
	    "\"count\":1,\"ready\":{\"dist\":\"fixed\",\"at\":1}},"
	    "{\"prefix\":\"b\",\"count\":1,\"ready\":{\"dist\":\"never\"}},"
	    "{\"prefix\":\"c\",\"count\":2,\"ready\":{\"dist\":\"gauss\"}}]}"),
	    "fleet.json: groups[2].ready.dist: \"gauss\" is not one of "
	    "fixed|uniform|exponential|never");
	CU_ASSERT_STRING_EQUAL(fleet_err("{\"machines\": [{\"name\":\"x\","
	    "\"ready_at\": -1}]}"),
	    "fleet.json: machines[0].ready_at: -1 seconds is out of range "
	    "0-1e9");
	CU_ASSERT_STRING_EQUAL(fleet_err("{\"machines\": [{\"name\":\"x\"}]}"),
	    "fleet.json: machines[0].ready_at: missing (seconds from the "
	    "run's start, or null for never)");
	CU_ASSERT_STRING_EQUAL(fleet_err("{\"machines\": [{\"name\":\"a1\","
	    "\"ready_at\":null}], \"groups\": [{\"prefix\":\"a\",\"count\":3,"
	    "\"ready\":{\"dist\":\"never\"}}]}"),
	    "fleet.json: groups[0]: \"a1\" is already used by machines[0]");
	CU_ASSERT_STRING_EQUAL(fleet_err("{\"groups\": [{\"prefix\":\"a\","
	    "\"count\":3,\"ready\":{\"dist\":\"uniform\",\"min\":30,"
	    "\"max\":10}}]}"),
	    "fleet.json: groups[0].ready.min: 30.000 is larger than max "
	    "10.000");
	CU_ASSERT_STRING_EQUAL(fleet_err("{\"groups\": [{\"prefix\":\"a\","
	    "\"count\":3,\"ready\":{\"dist\":\"fixed\",\"at\":1},"
	    "\"segment\":\"lan\"}]}"),
	    "fleet.json: groups[0].segment: \"lan\" is not one of "
	    "local|remote");
	CU_ASSERT_STRING_EQUAL(fleet_err("{\"groups\": [{\"prefix\":\"a\","
	    "\"count\":3,\"ready\":{\"dist\":\"exponential\",\"at\":1}}]}"),
	    "fleet.json: groups[0].ready.at: unknown key (known keys: dist, "
	    "mean)");
	CU_ASSERT_STRING_EQUAL(fleet_err("[1, 2]"),
	    "fleet.json: the top level must be a JSON object");
	CU_ASSERT_STRING_EQUAL(fleet_err("{}"),
	    "fleet.json: no machines (give machines or groups)");
	CU_ASSERT(strncmp(fleet_err("{\"machines\": [}"),
	    "fleet.json: line 1, column ", 27) == 0);
	CU_ASSERT_STRING_EQUAL(fleet_err("{\"machines\": [{\"name\":\"a\","
	    "\"ready_at\":1,\"reboot_at\":[5, 5]}]}"),
	    "fleet.json: machines[0].reboot_at[1]: 5 is not after the "
	    "previous entry (the list must ascend)");

	CU_ASSERT_STRING_EQUAL(scenario_err("{\"max_target\": 4}"),
	    "scenario.json: max_target: unknown key (known keys: "
	    "max_targets, max_wait, at_next_boot, unicast, "
	    "max_concurrent_machines, package_size, on_concurrency_limit, "
	    "poweroff_after, reboot_after, restart_at_start, exec_time, "
	    "rate, group, group_range, runs, run_interval, targets_per_run, "
	    "clear_errors, description)");
	CU_ASSERT_STRING_EQUAL(scenario_err("{\"max_targets\": 0}"),
	    "scenario.json: max_targets: 0 is out of range 1-1000000");
	CU_ASSERT_STRING_EQUAL(scenario_err("{\"max_targets\": 2.5}"),
	    "scenario.json: max_targets: 2.5 is not an integer");
	CU_ASSERT_STRING_EQUAL(scenario_err("{\"unicast\": \"yes\"}"),
	    "scenario.json: unicast: \"yes\" is not true or false");
	CU_ASSERT_STRING_EQUAL(scenario_err("{\"poweroff_after\": 1}"),
	    "scenario.json: poweroff_after: 1 is not true or false");
	CU_ASSERT_STRING_EQUAL(scenario_err("{\"group\": \"10.1.1.1\"}"),
	    "scenario.json: group: 10.1.1.1 is not a multicast address "
	    "(224.0.0.0/4)");
	/* The server's rule (S9): 224.0.0.0/24 is not a scenario's group. */
	CU_ASSERT_STRING_EQUAL(scenario_err("{\"group\": \"224.0.0.9\"}"),
	    "scenario.json: group: 224.0.0.9 is in 224.0.0.0/24, reserved for "
	    "local network control");
	CU_ASSERT_STRING_EQUAL(scenario_err("{\"on_concurrency_limit\": "
	    "\"drop\"}"), "scenario.json: on_concurrency_limit: \"drop\" is "
	    "not one of queue|error");
	{
		struct sim_scenario	sc;
		char			err[512];

		CU_ASSERT(sim_scenario_load("/nonexistent/s.json", &sc, err,
		    sizeof(err)) == -1);
		CU_ASSERT_STRING_EQUAL(err, "/nonexistent/s.json: No such "
		    "file or directory");
		CU_ASSERT(sim_scenario_load("/", &sc, err, sizeof(err)) == -1);
		CU_ASSERT_STRING_EQUAL(err, "/: not a regular file");
	}
	/* Absent and null both mean "not set". */
	CU_ASSERT_STRING_EQUAL(scenario_err("{\"max_targets\": null, "
	    "\"max_wait\": null}"), "");
}

/* S2, S4, S6: the count is reached first; the rest are beyond it. */
static void
test_sim_s2_s6(void)
{
	struct run	r;
	size_t		i;

	CU_ASSERT_FATAL(simulate(&r, "{\"max_targets\": 4, \"max_wait\": 100,"
	    " \"package_size\": 1000000}", "{\"groups\": [{\"prefix\": \"m\","
	    " \"count\": 6, \"ready\": {\"dist\": \"uniform\", \"min\": 1, "
	    "\"max\": 50}, \"link_rate\": 100000}]}", 7) == 0);
	CU_ASSERT_EQUAL_FATAL(r.nwaves, 1);
	CU_ASSERT_EQUAL(r.waves[0].n, 4);
	CU_ASSERT_EQUAL(r.waves[0].why, SCHED_WHY_COUNT);
	CU_ASSERT(r.waves[0].start <= 50000);
	/* 1 MB at 100 kB/s. */
	CU_ASSERT_EQUAL(r.waves[0].end - r.waves[0].start, 10000);
	CU_ASSERT_EQUAL(count(&r, SCHED_M_SUCCEEDED), 4);
	CU_ASSERT_EQUAL(count(&r, SCHED_M_ERROR), 2);
	for (i = 0; i < r.nrecs; i++)
		if (r.recs[i].state == SCHED_M_ERROR)
			CU_ASSERT_STRING_EQUAL(r.recs[i].error,
			    "max targets exceeded");
	done(&r);
}

/* S3: max wait elapses; the machines not ready are missed. */
static void
test_sim_s3(void)
{
	struct run	r;

	CU_ASSERT_FATAL(simulate(&r, "{\"max_targets\": 8, \"max_wait\": 60}",
	    "{\"groups\": [{\"prefix\": \"on\", \"count\": 5, \"ready\": "
	    "{\"dist\": \"fixed\", \"at\": 10}}, {\"prefix\": \"off\", "
	    "\"count\": 5, \"ready\": {\"dist\": \"never\"}}]}", 1) == 0);
	CU_ASSERT_EQUAL_FATAL(r.nwaves, 1);
	CU_ASSERT_EQUAL(r.waves[0].start, 60000);
	CU_ASSERT_EQUAL(r.waves[0].n, 5);
	CU_ASSERT_EQUAL(r.waves[0].why, SCHED_WHY_WAIT);
	CU_ASSERT_EQUAL(count(&r, SCHED_M_MISSED), 5);
	CU_ASSERT(strstr(rec(&r, 1, "off1")->error, "max wait 60 s") != NULL);
	CU_ASSERT_EQUAL(rec(&r, 1, "off1")->done_at, 60000);
	CU_ASSERT_EQUAL(rec(&r, 1, "on1")->ready_at, 10000);
	done(&r);
}

/* S5: neither set: a wave per instant, nobody waits or is missed. */
static void
test_sim_s5(void)
{
	struct run	r;

	CU_ASSERT_FATAL(simulate(&r, "{}", "{\"machines\": ["
	    "{\"name\": \"a\", \"ready_at\": 10}, {\"name\": \"b\", "
	    "\"ready_at\": 10}, {\"name\": \"c\", \"ready_at\": 20}, "
	    "{\"name\": \"d\", \"ready_at\": 10}]}", 1) == 0);
	CU_ASSERT_EQUAL_FATAL(r.nwaves, 2);
	CU_ASSERT_EQUAL(r.waves[0].start, 10000);
	CU_ASSERT_EQUAL(r.waves[0].n, 3);
	CU_ASSERT_EQUAL(r.waves[0].why, SCHED_WHY_AT_ONCE);
	CU_ASSERT_EQUAL(r.waves[1].start, 20000);
	CU_ASSERT_EQUAL(r.waves[1].n, 1);
	CU_ASSERT_EQUAL(count(&r, SCHED_M_SUCCEEDED), 4);
	done(&r);
}

/* S6 over two runs: refused until cleared; clear_errors clears. */
static void
test_sim_s6_runs(void)
{
	static const char *fleet = "{\"groups\": [{\"prefix\": \"m\", "
	    "\"count\": 5, \"ready\": {\"dist\": \"uniform\", \"min\": 0, "
	    "\"max\": 9}}]}";
	struct run	r;
	size_t		i, refused = 0;

	CU_ASSERT_FATAL(simulate(&r, "{\"max_targets\": 3, \"runs\": 2, "
	    "\"run_interval\": 100}", fleet, 3) == 0);
	CU_ASSERT_EQUAL(count(&r, SCHED_M_ERROR), 4);
	for (i = 0; i < r.nrecs; i++) {
		if (r.recs[i].run != 2 || r.recs[i].state != SCHED_M_ERROR)
			continue;
		/* Refused at the start, not by a wave of run 2. */
		CU_ASSERT_EQUAL(r.recs[i].done_at, 0);
		CU_ASSERT_EQUAL(r.recs[i].ready_at, -1);
		CU_ASSERT_STRING_EQUAL(r.recs[i].error,
		    "max targets exceeded");
		refused++;
	}
	CU_ASSERT_EQUAL(refused, 2);
	/* Run 2 had only 3 machines left: all of them go. */
	CU_ASSERT_EQUAL(r.waves[1].n, 3);
	done(&r);

	CU_ASSERT_FATAL(simulate(&r, "{\"max_targets\": 3, \"runs\": 2, "
	    "\"run_interval\": 100, \"clear_errors\": true}", fleet, 3) == 0);
	for (i = 0; i < r.nrecs; i++)
		if (r.recs[i].run == 2 && r.recs[i].state == SCHED_M_ERROR)
			CU_ASSERT(r.recs[i].done_at > 0);
	CU_ASSERT_EQUAL(count(&r, SCHED_M_SUCCEEDED), 6);
	done(&r);
}

/* Concurrent transfers at any instant, from the records alone. */
static size_t
max_concurrent(const struct run *r)
{
	int64_t		*ev;
	size_t		 i, n = 0, cur = 0, max = 0;
	const struct sim_rec *x;
	int64_t		 base, end;

	ev = calloc(2 * r->nrecs + 1, sizeof(*ev));
	for (i = 0; i < r->nrecs; i++) {
		x = &r->recs[i];
		if (x->start_at < 0)
			continue;
		base = (int64_t)r->runs[x->run - 1].start;
		end = x->delivered_at >= 0 ? x->delivered_at : x->done_at;
		if (end <= x->start_at)
			continue;
		/* Ends sort before starts at the same instant. */
		ev[n++] = (base + x->start_at) * 2 + 1;
		ev[n++] = (base + end) * 2;
	}
	for (i = 1; i < n; i++) {
		int64_t	v = ev[i];
		size_t	j = i;

		while (j > 0 && ev[j - 1] > v) {
			ev[j] = ev[j - 1];
			j--;
		}
		ev[j] = v;
	}
	for (i = 0; i < n; i++) {
		if (ev[i] & 1) {
			if (++cur > max)
				max = cur;
		} else
			cur--;
	}
	free(ev);
	return (max);
}

/* S7: queued machines start as slots free up; or they get an error. */
static void
test_sim_s7(void)
{
	static const char *fleet = "{\"groups\": [{\"prefix\": \"m\", "
	    "\"count\": 30, \"ready\": {\"dist\": \"fixed\", \"at\": 0}, "
	    "\"link_rate\": 1000000}]}";
	struct run	r;
	size_t		i;

	CU_ASSERT_FATAL(simulate(&r, "{\"max_concurrent_machines\": 10, "
	    "\"package_size\": 10000000}", fleet, 1) == 0);
	CU_ASSERT_EQUAL_FATAL(r.nwaves, 3);
	for (i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(r.waves[i].n, 10);
		CU_ASSERT_EQUAL(r.waves[i].start, 10000 * (int64_t)i);
	}
	CU_ASSERT_EQUAL(r.waves[1].why, SCHED_WHY_SLOTS);
	CU_ASSERT_EQUAL(count(&r, SCHED_M_SUCCEEDED), 30);
	CU_ASSERT_EQUAL(max_concurrent(&r), 10);
	done(&r);

	CU_ASSERT_FATAL(simulate(&r, "{\"max_concurrent_machines\": 10, "
	    "\"on_concurrency_limit\": \"error\", \"package_size\": 10000000}",
	    fleet, 1) == 0);
	CU_ASSERT_EQUAL(r.nwaves, 1);
	CU_ASSERT_EQUAL(count(&r, SCHED_M_ERROR), 20);
	CU_ASSERT_STRING_EQUAL(rec(&r, 1, "m30")->error,
	    "concurrency limit reached (max_concurrent_machines 10)");
	done(&r);
}

/* S8: unicast ignores max targets and wait; remote machines fall back. */
static void
test_sim_s8(void)
{
	static const char *fleet = "{\"machines\": [{\"name\": \"a\", "
	    "\"ready_at\": 5}, {\"name\": \"b\", \"ready_at\": 500}, "
	    "{\"name\": \"c\", \"ready_at\": 7, \"segment\": \"remote\"}]}";
	struct run	r;
	size_t		i;

	CU_ASSERT_FATAL(simulate(&r, "{\"unicast\": true, \"max_targets\": 1,"
	    " \"max_wait\": 1}", fleet, 1) == 0);
	CU_ASSERT_EQUAL_FATAL(r.nwaves, 3);
	for (i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(r.waves[i].path, SCHED_PATH_UNICAST);
	CU_ASSERT_EQUAL(rec(&r, 1, "b")->start_at, 500000);
	CU_ASSERT_EQUAL(count(&r, SCHED_M_SUCCEEDED), 3);
	CU_ASSERT_EQUAL(r.runs[0].group, 0);
	done(&r);

	CU_ASSERT_FATAL(simulate(&r, "{\"max_wait\": 10}", fleet, 1) == 0);
	CU_ASSERT_EQUAL_FATAL(r.nwaves, 2);
	CU_ASSERT_EQUAL(r.waves[0].path, SCHED_PATH_MULTICAST);
	CU_ASSERT_EQUAL(r.waves[0].n, 1);
	CU_ASSERT_EQUAL(r.waves[1].path, SCHED_PATH_UNICAST);
	CU_ASSERT_EQUAL(r.waves[1].start, 10000);
	CU_ASSERT_EQUAL(rec(&r, 1, "c")->path, SCHED_PATH_UNICAST);
	CU_ASSERT_EQUAL(rec(&r, 1, "b")->state, SCHED_M_MISSED);
	done(&r);
}

/* S9: runs that overlap get different groups; a fixed group collides. */
static void
test_sim_s9(void)
{
	static const char *fleet = "{\"groups\": [{\"prefix\": \"m\", "
	    "\"count\": 3, \"ready\": {\"dist\": \"fixed\", \"at\": 1}, "
	    "\"link_rate\": 1000}]}";
	struct run	r;

	CU_ASSERT_FATAL(simulate(&r, "{\"runs\": 3, \"run_interval\": 5, "
	    "\"package_size\": 100000}", fleet, 1) == 0);
	CU_ASSERT_EQUAL_FATAL(r.nruns, 3);
	CU_ASSERT_NOT_EQUAL(r.runs[0].group, r.runs[1].group);
	CU_ASSERT_NOT_EQUAL(r.runs[1].group, r.runs[2].group);
	CU_ASSERT_NOT_EQUAL(r.runs[0].group, r.runs[2].group);
	done(&r);

	CU_ASSERT_FATAL(simulate(&r, "{\"runs\": 2, \"run_interval\": 5, "
	    "\"package_size\": 100000, \"group\": \"239.1.2.3\"}", fleet,
	    1) == 0);
	CU_ASSERT_PTR_NULL(r.runs[0].error);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r.runs[1].error);
	CU_ASSERT(strstr(r.runs[1].error, "group 239.1.2.3: in use by run "
	    "run-1") != NULL);
	done(&r);
}

/* S10, S11: next boot; power off right after delivery. */
static void
test_sim_s10_s11(void)
{
	struct run		 r;
	const struct sim_rec	*x;

	CU_ASSERT_FATAL(simulate(&r, "{\"at_next_boot\": true}",
	    "{\"machines\": [{\"name\": \"a\", \"ready_at\": 5, "
	    "\"reboot_at\": [3600], \"boot_time\": 60}]}", 1) == 0);
	x = rec(&r, 1, "a");
	CU_ASSERT_EQUAL(x->first_final, SCHED_M_PENDING_BOOT);
	CU_ASSERT_EQUAL(x->pending_at, 5000);
	CU_ASSERT_EQUAL(x->done_at, 5000);
	CU_ASSERT_EQUAL(x->applied_at, 3660000);
	CU_ASSERT_EQUAL(x->state, SCHED_M_SUCCEEDED);
	CU_ASSERT_EQUAL(r.runs[0].finished, 5000);
	done(&r);

	/*
	 * Powered off after run 1's delivery, the machine is off when run 2
	 * comes: it is ready only after its next start (S11).
	 */
	CU_ASSERT_FATAL(simulate(&r, "{\"at_next_boot\": true, "
	    "\"poweroff_after\": true, \"runs\": 2, \"run_interval\": 100}",
	    "{\"machines\": [{\"name\": \"a\", \"ready_at\": 5, "
	    "\"reboot_at\": [3600], \"boot_time\": 60}]}", 1) == 0);
	CU_ASSERT_EQUAL(rec(&r, 1, "a")->applied_at, 3660000);
	CU_ASSERT_EQUAL(rec(&r, 2, "a")->ready_at, 3660000 - 100000);
	CU_ASSERT_EQUAL(rec(&r, 2, "a")->first_final, SCHED_M_PENDING_BOOT);
	/* No restart after that: run 2's package waits. */
	CU_ASSERT_EQUAL(rec(&r, 2, "a")->state, SCHED_M_PENDING_BOOT);
	done(&r);
}

/* S12: a run that comes while next-boot updates are applied fails. */
static void
test_sim_s12(void)
{
	struct run	r;

	CU_ASSERT_FATAL(simulate(&r, "{\"exec_time\": 30}",
	    "{\"machines\": [{\"name\": \"busy\", \"ready_at\": 170, "
	    "\"pending\": 2, \"reboot_at\": [100], \"boot_time\": 60}, "
	    "{\"name\": \"idle\", \"ready_at\": 230, \"pending\": 2, "
	    "\"reboot_at\": [100], \"boot_time\": 60}]}", 1) == 0);
	CU_ASSERT_EQUAL(rec(&r, 1, "busy")->state, SCHED_M_ERROR);
	CU_ASSERT(strncmp(rec(&r, 1, "busy")->error,
	    "next-boot update in progress", 28) == 0);
	/* Two packages of 30 s from 160 s: done at 220 s. */
	CU_ASSERT_EQUAL(rec(&r, 1, "idle")->state, SCHED_M_SUCCEEDED);
	done(&r);
}

/* S13: 100 pending next-boot scenarios; the 101st waits for a restart. */
static void
test_sim_s13(void)
{
	struct run	r;
	size_t		i, refused = 0;

	CU_ASSERT_FATAL(simulate(&r, "{\"at_next_boot\": true, \"runs\": 4, "
	    "\"run_interval\": 1000}", "{\"machines\": [{\"name\": \"a\", "
	    "\"ready_at\": 1, \"pending\": 98, \"reboot_at\": [2500]}]}",
	    1) == 0);
	for (i = 0; i < r.nrecs; i++) {
		if (r.recs[i].state == SCHED_M_ERROR) {
			refused++;
			CU_ASSERT_EQUAL(r.recs[i].run, 3);
			CU_ASSERT(strstr(r.recs[i].error, "(S13)") != NULL);
		}
	}
	/* 98 + runs 1 and 2 = 100; run 3 refused; run 4 after the restart. */
	CU_ASSERT_EQUAL(refused, 1);
	CU_ASSERT_EQUAL(rec(&r, 1, "a")->applied_at, 2560000 - 0);
	CU_ASSERT_EQUAL(rec(&r, 4, "a")->first_final, SCHED_M_PENDING_BOOT);
	CU_ASSERT_EQUAL(sim_max_pending(r.sim), 100);
	done(&r);
}

/* Ready, then down when the wave starts: that transfer fails. */
static void
test_sim_down_at_wave(void)
{
	struct run	r;

	CU_ASSERT_FATAL(simulate(&r, "{\"max_wait\": 30, \"package_size\": "
	    "1000000}", "{\"machines\": [{\"name\": \"up\", \"ready_at\": 5}, "
	    "{\"name\": \"down\", \"ready_at\": 5, \"reboot_at\": [10], "
	    "\"boot_time\": 60, \"link_rate\": 1000}, {\"name\": \"back\", \"ready_at\": 5, "
	    "\"reboot_at\": [10], \"boot_time\": 5}, {\"name\": \"never\", "
	    "\"ready_at\": null}]}", 1) == 0);
	CU_ASSERT_EQUAL_FATAL(r.nwaves, 1);
	CU_ASSERT_EQUAL(r.waves[0].n, 3);
	CU_ASSERT_EQUAL(r.waves[0].start, 30000);
	/* 1 MB at 1 Gbit/s: the slow link of "down" does not count. */
	CU_ASSERT_EQUAL(r.waves[0].end, 30008);
	CU_ASSERT_EQUAL(rec(&r, 1, "up")->state, SCHED_M_SUCCEEDED);
	CU_ASSERT_EQUAL(rec(&r, 1, "back")->state, SCHED_M_SUCCEEDED);
	CU_ASSERT_EQUAL(rec(&r, 1, "down")->state, SCHED_M_FAILED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rec(&r, 1, "down")->error);
	CU_ASSERT_STRING_EQUAL(rec(&r, 1, "down")->error,
	    "machine was down when the transfer started");
	CU_ASSERT_EQUAL(rec(&r, 1, "down")->done_at, 30000);
	done(&r);
}

/* Same seed, same result; another seed, other draws. */
static void
test_determinism(void)
{
	static const char *sc = "{\"max_targets\": 20, \"max_wait\": 300}";
	static const char *fl = "{\"groups\": [{\"prefix\": \"m\", "
	    "\"count\": 30, \"ready\": {\"dist\": \"exponential\", "
	    "\"mean\": 200}}]}";
	struct run	a, b, c;
	size_t		i, same = 0;

	CU_ASSERT_FATAL(simulate(&a, sc, fl, 42) == 0);
	CU_ASSERT_FATAL(simulate(&b, sc, fl, 42) == 0);
	CU_ASSERT_FATAL(simulate(&c, sc, fl, 43) == 0);
	CU_ASSERT_EQUAL_FATAL(a.nrecs, b.nrecs);
	for (i = 0; i < a.nrecs; i++) {
		CU_ASSERT_EQUAL(a.recs[i].ready_at, b.recs[i].ready_at);
		CU_ASSERT_EQUAL(a.recs[i].state, b.recs[i].state);
		CU_ASSERT_EQUAL(a.recs[i].done_at, b.recs[i].done_at);
		same += a.recs[i].ready_at == c.recs[i].ready_at;
	}
	CU_ASSERT(same < a.nrecs / 2);
	done(&a);
	done(&b);
	done(&c);
}

/*
 * The property test.  Random scenarios and fleets, then from the records:
 * no multicast wave beyond max targets; no first transfer before max wait
 * unless the count was reached; no transfer while the limit is full; no
 * machine with more than 100 pending next-boot scenarios; overlapping runs
 * on different groups; every machine in a final state.
 */
static uint64_t	prng = 88172645463325252ULL;

static uint64_t
rnd(uint64_t n)
{
	prng ^= prng << 13;
	prng ^= prng >> 7;
	prng ^= prng << 17;
	return (n == 0 ? 0 : prng % n);
}

static void
appendf(char *buf, size_t len, const char *fmt, ...)
{
	size_t	off = strlen(buf);
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf + off, len - off, fmt, ap);
	va_end(ap);
}

static void
random_case(char *sc, size_t sclen, char *fl, size_t fllen)
{
	static const char *dists[] = {
	    "{\"dist\": \"fixed\", \"at\": %u}",
	    "{\"dist\": \"uniform\", \"min\": 0, \"max\": %u}",
	    "{\"dist\": \"exponential\", \"mean\": %u}",
	};
	size_t		 g, ng;
	int		 many = rnd(5) == 0;
	unsigned	 nmach = 0;

	snprintf(sc, sclen, "{\"package_size\": %u", (unsigned)rnd(50000000));
	if (rnd(2))
		appendf(sc, sclen, ", \"max_targets\": %u",
		    (unsigned)rnd(30) + 1);
	if (rnd(2))
		appendf(sc, sclen, ", \"max_wait\": %u", (unsigned)rnd(400));
	if (rnd(8) == 0)
		appendf(sc, sclen, ", \"unicast\": true");
	if (many || rnd(3) == 0) {
		appendf(sc, sclen, ", \"at_next_boot\": true");
		if (rnd(3) == 0)
			appendf(sc, sclen, ", \"poweroff_after\": true");
	} else if (rnd(4) == 0)
		appendf(sc, sclen, ", \"reboot_after\": true");
	if (rnd(2))
		appendf(sc, sclen, ", \"max_concurrent_machines\": %u, "
		    "\"on_concurrency_limit\": \"%s\"", (unsigned)rnd(20) + 1,
		    rnd(3) == 0 ? "error" : "queue");
	if (rnd(2))
		appendf(sc, sclen, ", \"exec_time\": %u", (unsigned)rnd(60));
	if (many)
		appendf(sc, sclen, ", \"runs\": %u, \"run_interval\": %u",
		    100 + (unsigned)rnd(30), (unsigned)rnd(20) + 1);
	else
		appendf(sc, sclen, ", \"runs\": %u, \"run_interval\": %u",
		    (unsigned)rnd(4) + 1, (unsigned)rnd(300));
	if (rnd(3) == 0)
		appendf(sc, sclen, ", \"clear_errors\": true");
	appendf(sc, sclen, "}");

	snprintf(fl, fllen, "{\"groups\": [");
	ng = rnd(3) + 1;
	for (g = 0; g < ng; g++) {
		unsigned n = many ? (unsigned)rnd(3) + 1 :
		    (unsigned)rnd(25) + 1;

		nmach += n;
		appendf(fl, fllen, "%s{\"prefix\": \"g%zu-\", \"count\": %u, "
		    "\"ready\": ", g > 0 ? ", " : "", g, n);
		if (rnd(4) == 0)
			appendf(fl, fllen, "{\"dist\": \"never\"}");
		else
			appendf(fl, fllen, dists[rnd(3)],
			    (unsigned)rnd(500) + 1);
		appendf(fl, fllen, ", \"link_rate\": %u, \"segment\": \"%s\"",
		    (unsigned)rnd(10000000) + 100000,
		    rnd(5) == 0 ? "remote" : "local");
		if (rnd(3) == 0)
			appendf(fl, fllen, ", \"reboot_every\": %u",
			    (unsigned)rnd(2000) + 100);
		if (rnd(4) == 0)
			appendf(fl, fllen, ", \"online_at\": %u",
			    (unsigned)rnd(600));
		if (rnd(3) == 0)
			appendf(fl, fllen, ", \"reboot_at\": [%u, %u]",
			    (unsigned)rnd(500) + 1, (unsigned)rnd(500) + 600);
		appendf(fl, fllen, "}");
	}
	appendf(fl, fllen, "]}");
	(void)nmach;
}

static void
check_invariants(const struct run *r, const char *sc, const char *fl)
{
	const struct sim_scenario *o = &r->sc;
	const struct sim_rec	*x;
	const struct sim_wave	*w;
	size_t			 i, j, k, nready, eligible, ntargets;
	size_t			 pend, limit;
	int			 ok = 1;
	int64_t			 t0, t1, a0, a1, ta, tb;

	for (i = 0; i < r->nwaves; i++) {
		w = &r->waves[i];
		/* Never more than max targets in a multicast wave. */
		if (w->path == SCHED_PATH_MULTICAST &&
		    o->opts.max_targets != 0 && w->n > o->opts.max_targets)
			ok = 0;
		/* Before max wait, only if the count was reached. */
		if (o->opts.unicast || (o->opts.max_targets == 0 &&
		    o->opts.max_wait == SCHED_NEVER))
			continue;
		/* S4 decides once: other waves only take freed slots. */
		for (j = 0; j < r->nwaves; j++)
			if (r->waves[j].run == w->run &&
			    r->waves[j].why != SCHED_WHY_SLOTS &&
			    w->why != SCHED_WHY_SLOTS &&
			    r->waves[j].start != w->start)
				ok = 0;
		if (o->opts.max_wait != SCHED_NEVER &&
		    w->start >= (int64_t)o->opts.max_wait)
			continue;
		if (w->why == SCHED_WHY_SLOTS)
			continue;
		nready = eligible = ntargets = 0;
		for (j = 0; j < r->nrecs; j++) {
			x = &r->recs[j];
			if (x->run != w->run)
				continue;
			ntargets++;
			/* Refused at the start: a sticky error, no ready. */
			if (!(x->state == SCHED_M_ERROR && x->done_at == 0 &&
			    x->ready_at < 0))
				eligible++;
			if (x->ready_at >= 0 && x->ready_at <= w->start)
				nready++;
		}
		if (nready < (o->opts.max_targets != 0 &&
		    o->opts.max_targets < eligible ? o->opts.max_targets :
		    eligible))
			ok = 0;
		if (w->why != SCHED_WHY_COUNT && w->why != SCHED_WHY_ALL_READY)
			ok = 0;
	}
	for (i = 0; i < r->nrecs; i++) {
		x = &r->recs[i];
		/* Every machine ends in a final state. */
		if (!sched_mstate_final(x->state))
			ok = 0;
		/* S8: a unicast scenario never misses a machine by waiting. */
		if (o->opts.unicast && x->state == SCHED_M_MISSED &&
		    strstr(x->error, "max wait") != NULL)
			ok = 0;
	}
	/* S13: at most 100 staged per machine at any time. */
	for (i = 0; i < r->nrecs && ok; i++) {
		x = &r->recs[i];
		if (x->pending_at < 0)
			continue;
		t0 = (int64_t)r->runs[x->run - 1].start + x->pending_at;
		pend = 0;
		for (k = 0; k < r->nrecs; k++) {
			if (r->recs[k].machine != x->machine ||
			    r->recs[k].pending_at < 0)
				continue;
			ta = (int64_t)r->runs[r->recs[k].run - 1].start;
			a0 = ta + r->recs[k].pending_at;
			a1 = r->recs[k].applied_at < 0 ? INT64_MAX :
			    ta + r->recs[k].applied_at;
			if (a0 <= t0 && t0 < a1)
				pend++;
		}
		if (pend > CTL_PENDING_CAP)
			ok = 0;
	}
	if (sim_max_pending(r->sim) > CTL_PENDING_CAP)
		ok = 0;
	/* S7: the limit is never exceeded. */
	limit = o->max_concurrent_machines;
	if (limit != 0 && max_concurrent(r) > limit)
		ok = 0;
	/* S9: runs that overlap in time never share a group. */
	for (i = 0; i < r->nruns; i++) {
		if (r->runs[i].group == 0 || r->runs[i].error != NULL)
			continue;
		t0 = (int64_t)r->runs[i].start;
		t1 = r->runs[i].finished < 0 ? INT64_MAX :
		    t0 + r->runs[i].finished;
		for (j = i + 1; j < r->nruns; j++) {
			if (r->runs[j].group != r->runs[i].group ||
			    r->runs[j].error != NULL)
				continue;
			tb = (int64_t)r->runs[j].start;
			if (tb < t1)
				ok = 0;
		}
	}
	if (!ok)
		fprintf(stderr, "\ninvariant broken for\n  scenario %s\n  "
		    "fleet %s\n", sc, fl);
	CU_ASSERT(ok);
}

static void
test_property(void)
{
	char		sc[1024], fl[2048];
	struct run	r;
	int		i, hit_cap = 0, hit_queue = 0, hit_wait = 0;
	size_t		j;

	for (i = 0; i < 300; i++) {
		random_case(sc, sizeof(sc), fl, sizeof(fl));
		if (simulate(&r, sc, fl, (uint64_t)i) == -1) {
			fprintf(stderr, "  scenario %s\n  fleet %s\n", sc, fl);
			CU_FAIL("random input refused");
			continue;
		}
		check_invariants(&r, sc, fl);
		for (j = 0; j < r.nrecs; j++)
			if (r.recs[j].error != NULL &&
			    strstr(r.recs[j].error, "(S13)") != NULL)
				hit_cap = 1;
		for (j = 0; j < r.nwaves; j++) {
			hit_queue |= r.waves[j].why == SCHED_WHY_SLOTS;
			hit_wait |= r.waves[j].why == SCHED_WHY_WAIT;
		}
		done(&r);
	}
	/* The random cases must reach the rules they check. */
	CU_ASSERT(hit_cap);
	CU_ASSERT(hit_queue);
	CU_ASSERT(hit_wait);
}

static CU_TestInfo tests[] = {
	{ "input errors", test_input_errors },
	{ "S2 S4 S6 count first", test_sim_s2_s6 },
	{ "S3 max wait", test_sim_s3 },
	{ "S5 at once", test_sim_s5 },
	{ "S6 over runs", test_sim_s6_runs },
	{ "S7 queue and error", test_sim_s7 },
	{ "S8 unicast and fallback", test_sim_s8 },
	{ "S9 groups", test_sim_s9 },
	{ "S10 S11 next boot, power off", test_sim_s10_s11 },
	{ "S12 update in progress", test_sim_s12 },
	{ "S13 pending cap", test_sim_s13 },
	{ "down when the wave starts", test_sim_down_at_wave },
	{ "determinism", test_determinism },
	{ "property", test_property },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	return (unit_main("sim", tests));
}
