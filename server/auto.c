/*
 * Automatic update (MISSION.md P5, P11): packages of urgency highest or
 * high reach machines without a scenario.  A highest package goes at once
 * to every online machine that needs it, when it is added; a high one goes
 * to the online machines at auto_update_time each day; and a machine that
 * starts (a new boot id) gets every highest and high package it needs, as
 * the manual's server checks applicability at machine start.  A machine
 * needs a package when its facts show no `pkg.ID` or an older version.  Of
 * several service packs it gets the newest one whose base service pack it
 * has (P11: SP3 needing SP1 or SP2 waits until the predecessor is there,
 * which the same rule delivers first).  Each package is tried on a machine
 * at most once per boot, recorded in the database, so a machine that
 * refuses one (not applicable, in error) is not asked again and again.
 * The runs are ordinary runs with a scenario snapshot named auto-ID that
 * starts at once, so they show up in `fleetcast run list`.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "conf.h"
#include "log.h"
#include "pkg.h"
#include "server.h"
#include "xmalloc.h"

#define AUTO_BATCH_MS	1000	/* machine starts gathered into one pass */

struct autoupd {
	struct server	*srv;
	struct event	*daily;
	struct event	*batch;
	char		**started;	/* machines that started, for the pass */
	size_t		 nstarted;
	int		 hour, minute;
	/* What the last pass started for its one package (only). */
	uint64_t	 only_run;
	size_t		 only_n;
};

/* One package, and the machines it goes to in this pass. */
struct auto_pkg {
	json_t		*p;
	char		**machines;
	size_t		 n;
};

int
auto_parse_time(const char *s, int *h, int *m)
{
	char	c;

	if (sscanf(s, "%2d:%2d%c", h, m, &c) != 2 || strlen(s) != 5 ||
	    *h < 0 || *h > 23 || *m < 0 || *m > 59)
		return (-1);
	return (0);
}

static const char *
fact(json_t *facts, const char *id)
{
	char	key[128];

	snprintf(key, sizeof(key), "pkg.%s", id);
	return (json_string_value(json_object_get(facts, key)));
}

/* Does a machine with these facts need package p (a db_auto_packages row)? */
static int
needs(json_t *facts, json_t *p)
{
	const char	*have;
	char		 want[16];

	if ((have = fact(facts, json_string_value(json_object_get(p,
	    "id")))) == NULL)
		return (1);
	/* Without a version, having it at all is enough. */
	if (json_integer_value(json_object_get(p, "has_version")) == 0)
		return (0);
	snprintf(want, sizeof(want), "%" JSON_INTEGER_FORMAT ".%"
	    JSON_INTEGER_FORMAT, json_integer_value(json_object_get(p,
	    "major")), json_integer_value(json_object_get(p, "minor")));
	return (pkg_vercmp(have, want) < 0);
}

/*
 * Pick the packages machine m needs among pkgs whose urgency is allowed,
 * adding m to each chosen one's list.
 */
static void
choose(struct autoupd *au, json_t *m, struct auto_pkg *pkgs, size_t npkgs,
    int highest, int high)
{
	struct server	*srv = au->srv;
	const char	*name, *boot, *urg, *id, *type, *base;
	json_t		*facts;
	size_t		 i;
	int		 sp_done = 0;

	name = json_string_value(json_object_get(m, "name"));
	boot = json_string_value(json_object_get(m, "boot_id"));
	facts = json_object_get(m, "facts");
	if (name == NULL || boot == NULL ||
	    !json_is_true(json_object_get(m, "online")) ||
	    json_is_string(json_object_get(m, "error")))
		return;
	/* Newest first (db_auto_packages' order): the first fit wins. */
	for (i = 0; i < npkgs; i++) {
		id = json_string_value(json_object_get(pkgs[i].p, "id"));
		urg = json_string_value(json_object_get(pkgs[i].p, "urgency"));
		type = json_string_value(json_object_get(pkgs[i].p, "type"));
		base = json_string_value(json_object_get(pkgs[i].p,
		    "base_sp"));
		if (id == NULL || urg == NULL || type == NULL)
			continue;
		if (!((highest && strcmp(urg, "highest") == 0) ||
		    (high && strcmp(urg, "high") == 0)))
			continue;
		if (!needs(facts, pkgs[i].p))
			continue;
		if (strcmp(type, "servicepack") == 0) {
			/* P11: one service pack, the newest it can take. */
			if (sp_done)
				continue;
			if (base != NULL && base[0] != '\0' &&
			    fact(facts, base) == NULL)
				continue;
			sp_done = 1;
		}
		if (runs_machine_busy(srv->runs, name, id) ||
		    db_auto_attempted(srv->db, name, id, boot) != 0)
			continue;
		pkgs[i].machines = xreallocarray(pkgs[i].machines,
		    pkgs[i].n + 1, sizeof(*pkgs[i].machines));
		pkgs[i].machines[pkgs[i].n++] = (char *)name;
	}
}

/* Start one run per package for the machines chosen for it. */
static void
launch(struct autoupd *au, json_t *machines, struct auto_pkg *pkgs,
    size_t npkgs)
{
	struct server	*srv = au->srv;
	struct scenario	 sc;
	const char	*id, *boot;
	char		 err[1024];
	size_t		 i, j, k;
	uint64_t	 run, now = server_now_ms();
	int		 status;
	json_t		*m;

	for (i = 0; i < npkgs; i++) {
		if (pkgs[i].n == 0)
			continue;
		id = json_string_value(json_object_get(pkgs[i].p, "id"));
		memset(&sc, 0, sizeof(sc));
		snprintf(sc.name, sizeof(sc.name), "auto-%s", id);
		sc.packages[0] = xstrdup(id);
		sc.npackages = 1;
		sc.max_wait = -1;
		sc.on_error_stop = 1;
		run = 0;
		if (runs_create_sc(srv->runs, &sc, pkgs[i].machines,
		    pkgs[i].n, &run, err, sizeof(err), &status) == -1)
			log_warnx("automatic update of %s: %s", id, err);
		else {
			log_info("automatic update: run %" PRIu64 " of %s on "
			    "%zu machine%s", run, id, pkgs[i].n,
			    pkgs[i].n == 1 ? "" : "s");
			au->only_run = run;
			au->only_n = pkgs[i].n;
		}
		/* Tried, whatever came of it: not again in this boot. */
		for (j = 0; j < pkgs[i].n; j++) {
			boot = NULL;
			json_array_foreach(machines, k, m)
				if (strcmp(json_string_value(json_object_get(m,
				    "name")), pkgs[i].machines[j]) == 0)
					boot = json_string_value(
					    json_object_get(m, "boot_id"));
			if (boot != NULL)
				db_auto_attempt(srv->db, pkgs[i].machines[j],
				    id, boot, run, now);
		}
	}
}

/*
 * One pass: the given machines (none: every machine) against the automatic
 * packages of the allowed urgencies (only: one package id, or NULL).
 */
static void
auto_pass(struct autoupd *au, char **names, size_t nnames, const char *only,
    int highest, int high)
{
	struct server	*srv = au->srv;
	json_t		*pk, *ms, *m;
	struct auto_pkg	*pkgs;
	size_t		 npkgs, i;

	if ((pk = db_auto_packages(srv->db)) == NULL)
		return;
	if ((npkgs = json_array_size(pk)) == 0) {
		json_decref(pk);
		return;
	}
	if (nnames > 0) {
		ms = json_array();
		for (i = 0; i < nnames; i++)
			if ((m = db_machines_json(srv->db, names[i])) != NULL)
				json_array_append_new(ms, m);
	} else if ((ms = db_machines_json(srv->db, NULL)) == NULL) {
		json_decref(pk);
		return;
	}
	pkgs = xcalloc(npkgs, sizeof(*pkgs));
	for (i = 0; i < npkgs; i++)
		pkgs[i].p = json_array_get(pk, i);
	json_array_foreach(ms, i, m) {
		choose(au, m, pkgs, npkgs, highest, high);
	}
	if (only != NULL)
		for (i = 0; i < npkgs; i++)
			if (strcmp(json_string_value(json_object_get(pkgs[i].p,
			    "id")), only) != 0)
				pkgs[i].n = 0;
	launch(au, ms, pkgs, npkgs);
	for (i = 0; i < npkgs; i++)
		free(pkgs[i].machines);
	free(pkgs);
	json_decref(ms);
	json_decref(pk);
}

/* A highest package was added: every online machine that needs it. */
uint64_t
auto_package_added(struct autoupd *au, const char *id, size_t *n)
{
	au->only_run = 0;
	au->only_n = 0;
	auto_pass(au, NULL, 0, id, 1, 0);
	*n = au->only_n;
	return (au->only_run);
}

/*
 * A machine started (new boot id) and reported its facts.  Starts are
 * gathered for a moment, so that a fleet powering on together shares one
 * multicast run per package instead of taking a group each.
 */
void
auto_machine_started(struct autoupd *au, const char *name)
{
	struct timeval	tv = { 0, AUTO_BATCH_MS * 1000 };
	size_t		i;

	for (i = 0; i < au->nstarted; i++)
		if (strcmp(au->started[i], name) == 0)
			return;
	au->started = xreallocarray(au->started, au->nstarted + 1,
	    sizeof(*au->started));
	au->started[au->nstarted++] = xstrdup(name);
	if (!evtimer_pending(au->batch, NULL))
		evtimer_add(au->batch, &tv);
}

static void
auto_batch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct autoupd	*au = arg;
	size_t		 i;

	auto_pass(au, au->started, au->nstarted, NULL, 1, 1);
	for (i = 0; i < au->nstarted; i++)
		free(au->started[i]);
	free(au->started);
	au->started = NULL;
	au->nstarted = 0;
}

static void
auto_arm(struct autoupd *au)
{
	time_t		now = time(NULL), next;
	struct tm	tm;
	struct timeval	tv;

	localtime_r(&now, &tm);
	tm.tm_hour = au->hour;
	tm.tm_min = au->minute;
	tm.tm_sec = 0;
	tm.tm_isdst = -1;
	if ((next = mktime(&tm)) <= now) {
		tm.tm_mday++;
		tm.tm_isdst = -1;
		next = mktime(&tm);
	}
	tv.tv_sec = next - now;
	tv.tv_usec = 0;
	evtimer_add(au->daily, &tv);
}

static void
auto_daily_cb(evutil_socket_t fd, short what, void *arg)
{
	struct autoupd	*au = arg;

	log_info("automatic update: daily pass for urgency high");
	auto_pass(au, NULL, 0, NULL, 0, 1);
	auto_arm(au);
}

struct autoupd *
auto_new(struct server *srv, char *err, size_t errlen)
{
	struct autoupd	*au;

	au = xcalloc(1, sizeof(*au));
	au->srv = srv;
	if (auto_parse_time(conf_str(srv->conf, "auto_update_time"),
	    &au->hour, &au->minute) == -1) {
		snprintf(err, errlen, "auto_update_time: not HH:MM");
		free(au);
		return (NULL);
	}
	au->daily = evtimer_new(srv->base, auto_daily_cb, au);
	au->batch = evtimer_new(srv->base, auto_batch_cb, au);
	auto_arm(au);
	return (au);
}

void
auto_free(struct autoupd *au)
{
	size_t	i;

	if (au == NULL)
		return;
	event_free(au->daily);
	event_free(au->batch);
	for (i = 0; i < au->nstarted; i++)
		free(au->started[i]);
	free(au->started);
	free(au);
}
