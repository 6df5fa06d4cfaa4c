/*
 * Automatic update (MISSION.md P5, P11): packages of urgency highest or
 * high reach machines without a scenario.  A highest package goes at once
 * to every online machine that needs it, when it is added; a high one goes
 * to the online machines at auto_update_time each day; and a machine that
 * starts (a new boot id) gets every highest and high package it needs, as
 * soon as its agent has reported its facts.  A machine needs a package
 * when its facts show no `pkg.ID` or an older version, and it gets it only
 * when the package applies there: the same check as the agent's
 * (common/pkg_applic.c: OS, language, supersedes, version, requires, base
 * service pack, a superseding package standing for the one it replaced),
 * against the facts the machine reported and the supersedes lists of the
 * registered packages it holds.  Of several service packs it gets the
 * newest applicable one (P11: SP3 needing SP1 or SP2 waits until the
 * predecessor is there, which the same rule delivers first).  Each package
 * is tried on a machine at most once per boot, recorded in the database,
 * so a machine where one failed is not asked again and again; one that
 * its agent refused as not applicable (it knew better than the facts) is
 * not asked again in any boot (db_auto_refused): the next pass falls back
 * to the next service pack.  The runs are ordinary runs with a scenario
 * snapshot named auto-ID that starts at once, so they show up in
 * `fleetcast run list`.
 */
#include <inttypes.h>
#include <stdarg.h>
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
	uint64_t	 batch_end;	/* ms: starts before it share a pass */
	int		 hour, minute;
	int		 pass_named;	/* this pass: given machines only */
	uint64_t	(*clock)(void);	/* wall clock in ms (tests fake it) */
	/* What the last pass started for its one package (only). */
	uint64_t	 only_run;
	size_t		 only_n;
};

/* One registered package, decoded from its signed manifest. */
struct auto_known {
	char			*id;
	struct pkg_manifest	 m;
	int			 ok;	/* m decoded */
};

/* One automatic package, and the machines it goes to in this pass. */
struct auto_pkg {
	json_t			*p;
	const struct auto_known	*k;
	char			**machines;
	size_t			 n;
};

/* What a pass reads: the automatic packages and every registered one. */
struct auto_catalog {
	struct auto_known	*known;
	size_t			 nknown;
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
 * Every registered package, decoded from the signed manifest stored when
 * it was added (verified then): its rules for the applicability check,
 * and the supersedes list that a machine holding it has.
 */
static void
catalog_load(struct autoupd *au, struct auto_catalog *cat)
{
	struct db_package	 dp;
	json_t			*all, *o;
	const char		*id;
	char			 err[512];
	size_t			 i;
	struct auto_known	*k;

	memset(cat, 0, sizeof(*cat));
	if ((all = db_packages_json(au->srv->db, NULL)) == NULL)
		return;
	cat->known = xcalloc(json_array_size(all) + 1, sizeof(*cat->known));
	json_array_foreach(all, i, o) {
		if ((id = json_string_value(json_object_get(o, "id"))) == NULL)
			continue;
		k = &cat->known[cat->nknown++];
		k->id = xstrdup(id);
		pkg_manifest_init(&k->m);
		if (db_package_get(au->srv->db, id, &dp) != 1)
			continue;
		if (pkg_manifest_decode(&k->m, dp.manifest, dp.manifest_len,
		    err, sizeof(err)) == -1)
			log_warnx("automatic update: package %s: stored "
			    "manifest: %s", id, err);
		else
			k->ok = 1;
		db_package_clear(&dp);
	}
	json_decref(all);
}

static const struct auto_known *
catalog_find(const struct auto_catalog *cat, const char *id)
{
	size_t	i;

	for (i = 0; i < cat->nknown; i++)
		if (strcmp(cat->known[i].id, id) == 0)
			return (&cat->known[i]);
	return (NULL);
}

static void
catalog_free(struct auto_catalog *cat)
{
	size_t	i;

	for (i = 0; i < cat->nknown; i++) {
		free(cat->known[i].id);
		pkg_manifest_free(&cat->known[i].m);
	}
	free(cat->known);
}

/* The applicability check's view of a machine's facts. */
static const char *
facts_json_lookup(void *arg, const char *key)
{
	return (json_string_value(json_object_get(arg, key)));
}

/*
 * The packages a machine holds, from its pkg.ID facts ("MAJOR.MINOR", or
 * "0" without a version), with the supersedes lists of the registered
 * packages of those ids.  The names point into facts; free the array.
 */
static struct pkg_installed *
machine_installed(const struct auto_catalog *cat, json_t *facts, size_t *n)
{
	struct pkg_installed	*v;
	const struct auto_known	*k;
	const char		*key;
	json_t			*val;
	unsigned		 maj, min;
	char			 c;

	*n = 0;
	v = xcalloc(json_object_size(facts) + 1, sizeof(*v));
	json_object_foreach(facts, key, val) {
		if (strncmp(key, "pkg.", 4) != 0 || key[4] == '\0' ||
		    !json_is_string(val))
			continue;
		v[*n].id = key + 4;
		if (sscanf(json_string_value(val), "%u.%u%c", &maj, &min,
		    &c) == 2 && maj <= UINT16_MAX && min <= UINT16_MAX) {
			v[*n].has_version = 1;
			v[*n].major = (uint16_t)maj;
			v[*n].minor = (uint16_t)min;
		}
		if ((k = catalog_find(cat, key + 4)) != NULL && k->ok)
			v[*n].supersedes = &k->m.supersedes;
		(*n)++;
	}
	return (v);
}

/*
 * Why a package is left out: in the log for the machines that just
 * started (a few), at debug level for a whole fleet's daily pass.
 */
static void auto_say(struct autoupd *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
auto_say(struct autoupd *au, const char *fmt, ...)
{
	char	msg[2048];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (au->pass_named)
		log_info("%s", msg);
	else
		log_debug("%s", msg);
}

/*
 * Pick the packages machine m needs among pkgs whose urgency is allowed
 * and that apply to it, adding m to each chosen one's list.
 */
static void
choose(struct autoupd *au, const struct auto_catalog *cat, json_t *m,
    struct auto_pkg *pkgs, size_t npkgs, int highest, int high)
{
	struct server		*srv = au->srv;
	const char		*name, *boot, *urg, *id;
	struct pkg_installed	*inst;
	json_t			*facts;
	char			 why[768];
	size_t			 i, ninst;
	int			 sp, sp_done = 0;

	name = json_string_value(json_object_get(m, "name"));
	boot = json_string_value(json_object_get(m, "boot_id"));
	facts = json_object_get(m, "facts");
	if (name == NULL || boot == NULL || !json_is_object(facts) ||
	    !json_is_true(json_object_get(m, "online")) ||
	    json_is_string(json_object_get(m, "error")))
		return;
	inst = machine_installed(cat, facts, &ninst);
	/* Newest first (db_auto_packages' order): the first fit wins. */
	for (i = 0; i < npkgs; i++) {
		id = json_string_value(json_object_get(pkgs[i].p, "id"));
		urg = json_string_value(json_object_get(pkgs[i].p, "urgency"));
		if (id == NULL || urg == NULL || pkgs[i].k == NULL)
			continue;
		if (!((highest && strcmp(urg, "highest") == 0) ||
		    (high && strcmp(urg, "high") == 0)))
			continue;
		sp = pkgs[i].k->m.type == PKG_SERVICEPACK;
		/* P11: one service pack, the newest it can take. */
		if ((sp && sp_done) || !needs(facts, pkgs[i].p))
			continue;
		if (runs_machine_busy(srv->runs, name, id)) {
			sp_done |= sp;	/* the one it is getting */
			continue;
		}
		/* Refused or failed in this boot: the next one, if any. */
		if (db_auto_attempted(srv->db, name, id, boot) != 0)
			continue;
		/*
		 * Refused by the agent, in any boot: it knows what the facts
		 * do not show (a version that ran here); asking at every start
		 * would keep the next one away for good.
		 */
		if (db_auto_refused(srv->db, name, id, why, sizeof(why)) == 1) {
			auto_say(au, "automatic update: %s: %s: %s; the next one",
			    name, id, why);
			continue;
		}
		if (!pkg_applic_check(&pkgs[i].k->m, facts_json_lookup, facts,
		    inst, ninst, why, sizeof(why))) {
			auto_say(au, "automatic update: %s: %s: not applicable: %s",
			    name, id, why);
			continue;
		}
		sp_done |= sp;
		pkgs[i].machines = xreallocarray(pkgs[i].machines,
		    pkgs[i].n + 1, sizeof(*pkgs[i].machines));
		pkgs[i].machines[pkgs[i].n++] = (char *)name;
	}
	free(inst);
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
	uint64_t	 run, now = au->clock();
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
	struct server		*srv = au->srv;
	json_t			*pk, *ms, *m;
	struct auto_pkg		*pkgs;
	struct auto_catalog	 cat;
	const struct auto_known	*k;
	size_t			 npkgs, i;

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
	catalog_load(au, &cat);
	pkgs = xcalloc(npkgs, sizeof(*pkgs));
	for (i = 0; i < npkgs; i++) {
		pkgs[i].p = json_array_get(pk, i);
		k = catalog_find(&cat, json_string_value(json_object_get(
		    pkgs[i].p, "id")));
		/* A manifest that does not decode is sent to no one. */
		pkgs[i].k = k != NULL && k->ok ? k : NULL;
	}
	json_array_foreach(ms, i, m) {
		au->pass_named = nnames > 0;
		choose(au, &cat, m, pkgs, npkgs, highest, high);
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
	catalog_free(&cat);
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

static void
auto_started_pass(struct autoupd *au)
{
	size_t	i;

	auto_pass(au, au->started, au->nstarted, NULL, 1, 1);
	for (i = 0; i < au->nstarted; i++)
		free(au->started[i]);
	free(au->started);
	au->started = NULL;
	au->nstarted = 0;
}

/*
 * A machine started (new boot id) and its agent has just reported its
 * facts (control.c calls on the first heartbeat that carries them).  The
 * pass runs at once; machines that start within AUTO_BATCH_MS after it
 * are gathered into one pass at the end of that moment, so that a fleet
 * powering on together shares one multicast run per package instead of
 * taking a group each, and the first of them does not wait.
 */
void
auto_machine_started(struct autoupd *au, const char *name)
{
	struct timeval	tv = { 0, AUTO_BATCH_MS * 1000 };
	uint64_t	now = au->clock();
	size_t		i;

	for (i = 0; i < au->nstarted; i++)
		if (strcmp(au->started[i], name) == 0)
			return;
	au->started = xreallocarray(au->started, au->nstarted + 1,
	    sizeof(*au->started));
	au->started[au->nstarted++] = xstrdup(name);
	if (evtimer_pending(au->batch, NULL))
		return;		/* gathered: goes at the end of the moment */
	if (now >= au->batch_end) {
		au->batch_end = now + AUTO_BATCH_MS;
		auto_started_pass(au);
		/* The moment after it, for the machines that follow. */
	}
	evtimer_add(au->batch, &tv);
}

static void
auto_batch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct autoupd	*au = arg;

	if (au->nstarted > 0) {
		au->batch_end = au->clock() + AUTO_BATCH_MS;
		auto_started_pass(au);
	}
}

/*
 * The next auto_update_time (local time) strictly after now, in seconds
 * since the epoch: today's if it is still ahead, else tomorrow's (mktime
 * normalises the day and finds the offset across a DST change).
 */
time_t
auto_next_daily(time_t now, int hour, int minute)
{
	struct tm	tm;
	time_t		next;

	localtime_r(&now, &tm);
	tm.tm_hour = hour;
	tm.tm_min = minute;
	tm.tm_sec = 0;
	tm.tm_isdst = -1;
	if ((next = mktime(&tm)) <= now) {
		localtime_r(&now, &tm);
		tm.tm_mday++;
		tm.tm_hour = hour;
		tm.tm_min = minute;
		tm.tm_sec = 0;
		tm.tm_isdst = -1;
		next = mktime(&tm);
	}
	return (next);
}

static void
auto_arm(struct autoupd *au)
{
	uint64_t	now = au->clock(), next, ms;
	struct timeval	tv;

	next = (uint64_t)auto_next_daily((time_t)(now / 1000), au->hour,
	    au->minute) * 1000;
	ms = next > now ? next - now : 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
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

/* Tests run the daily timer on a clock of their own; armed anew. */
void
auto_set_clock(struct autoupd *au, uint64_t (*clock)(void))
{
	au->clock = clock;
	evtimer_del(au->daily);
	auto_arm(au);
}

struct autoupd *
auto_new(struct server *srv, char *err, size_t errlen)
{
	struct autoupd	*au;

	au = xcalloc(1, sizeof(*au));
	au->srv = srv;
	au->clock = server_now_ms;
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
