/*
 * Agent upgrade by multicast (MISSION.md M4), the server's side.  The
 * agent version the server ships is the newest registered agent package
 * (id fleetcast-agent-VERSION, agentpkg.h, built by `fleetcast package
 * build-agent').  The built-in scenario agent-upgrade always names it, so
 * that `fleetcast scenario run agent-upgrade --machine ...' works by hand.
 * An agent older than that is upgraded when it comes online, or, when a
 * newer agent package is added, at once if it is online: machines that
 * qualify within agent_upgrade_window seconds are gathered into one run
 * (the scheduler's max targets is their number, so one multicast transfer
 * serves them all; its max wait lets a slow one not hold the others).
 * Each machine gets one try per boot of an agent package (the automatic
 * update's record, db_auto_attempt), so an agent that rolled back is not
 * asked again and again.  When an upgraded machine comes back, the log,
 * its event log and the run's history say from which version to which,
 * or that it still runs the old one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "agentpkg.h"
#include "log.h"
#include "pkg.h"
#include "server.h"
#include "xmalloc.h"

#define AGENTUP_SCENARIO	"agent-upgrade"
#define AGENTUP_MAX_WAIT	60	/* s the transfer waits for READY */
#define AGENTUP_MAX_INFLIGHT	65536	/* machines remembered */

/* A machine sent an agent package, until it comes back. */
struct agentup_sent {
	char		*name;
	char		*from;
	char		*to;
	uint64_t	 run;
};

struct agentup {
	struct server		*srv;
	struct event		*batch;
	int			 window;	/* s */
	char			 pkg[PKG_ID_MAX + 1];	/* "" : none */
	char			 version[AGENTPKG_VERSION_MAX + 1];
	char			**names;	/* gathered for the next run */
	size_t			 n;
	struct agentup_sent	*sent;
	size_t			 nsent;
};

/*
 * The newest agent package, and the built-in scenario naming it.  Called
 * at start and whenever packages change.
 */
void
agentup_refresh(struct agentup *au)
{
	struct server	*srv = au->srv;
	struct scenario	 sc, have;
	json_t		*a, *o;
	const char	*id;
	char		 v[AGENTPKG_VERSION_MAX + 1], err[512];
	size_t		 i;
	int		 rv, status;

	au->pkg[0] = au->version[0] = '\0';
	if ((a = db_packages_json(srv->db, NULL)) == NULL)
		return;
	json_array_foreach(a, i, o) {
		if ((id = json_string_value(json_object_get(o, "id"))) ==
		    NULL || agentpkg_version(id, v, sizeof(v)) == -1)
			continue;
		if (au->pkg[0] == '\0' || agentpkg_newer(v, au->version)) {
			snprintf(au->pkg, sizeof(au->pkg), "%s", id);
			snprintf(au->version, sizeof(au->version), "%s", v);
		}
	}
	json_decref(a);
	if (au->pkg[0] == '\0')
		return;
	rv = db_scenario_get(srv->db, AGENTUP_SCENARIO, &have);
	if (rv == 1 && have.npackages == 1 &&
	    strcmp(have.packages[0], au->pkg) == 0) {
		db_scenario_clear(&have);
		return;
	}
	if (rv == 1)
		db_scenario_clear(&have);
	memset(&sc, 0, sizeof(sc));
	snprintf(sc.name, sizeof(sc.name), "%s", AGENTUP_SCENARIO);
	sc.packages[0] = xstrdup(au->pkg);
	sc.npackages = 1;
	sc.max_wait = AGENTUP_MAX_WAIT;
	sc.on_error_stop = 1;
	if ((rv == 1 ? db_scenario_replace(srv->db, &sc, err, sizeof(err),
	    &status) : db_scenario_put(srv->db, &sc, server_now_ms(), err,
	    sizeof(err), &status)) == -1)
		log_warnx("agent upgrade: scenario %s: %s", AGENTUP_SCENARIO,
		    err);
	else
		log_info("agent upgrade: the server ships fleetcast-agent %s "
		    "(package %s, scenario %s)", au->version, au->pkg,
		    AGENTUP_SCENARIO);
	db_scenario_clear(&sc);
}

/* Forget what we sent to name; its record goes to *out (caller frees). */
static int
agentup_take_sent(struct agentup *au, const char *name,
    struct agentup_sent *out)
{
	size_t	i;

	for (i = 0; i < au->nsent; i++)
		if (strcmp(au->sent[i].name, name) == 0) {
			*out = au->sent[i];
			au->sent[i] = au->sent[--au->nsent];
			return (1);
		}
	return (0);
}

static void
agentup_sent_free(struct agentup_sent *s)
{
	free(s->name);
	free(s->from);
	free(s->to);
}

/* The gathered machines, in one run. */
static void
agentup_batch_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct agentup		*au = arg;
	struct server		*srv = au->srv;
	struct scenario		 sc;
	struct agentup_sent	 old;
	json_t			*m;
	const char		*boot, *from;
	char			 err[1024];
	uint64_t		 run = 0, now = server_now_ms();
	size_t			 i;
	int			 status;

	if (au->n == 0 || au->pkg[0] == '\0')
		goto out;
	memset(&sc, 0, sizeof(sc));
	snprintf(sc.name, sizeof(sc.name), "%s", AGENTUP_SCENARIO);
	sc.packages[0] = xstrdup(au->pkg);
	sc.npackages = 1;
	sc.max_targets = (int64_t)au->n;
	sc.max_wait = AGENTUP_MAX_WAIT;
	sc.on_error_stop = 1;
	if (runs_create_sc(srv->runs, &sc, au->names, au->n, &run, err,
	    sizeof(err), &status) == -1) {
		log_warnx("agent upgrade to %s: %s", au->version, err);
		run = 0;
	} else
		log_info("agent upgrade: run %" PRIu64 " sends fleetcast-agent "
		    "%s to %zu machine%s in one transfer", run, au->version,
		    au->n, au->n == 1 ? "" : "s");
	for (i = 0; i < au->n; i++) {
		if ((m = db_machines_json(srv->db, au->names[i])) == NULL)
			continue;
		boot = json_string_value(json_object_get(m, "boot_id"));
		from = json_string_value(json_object_get(m, "agent_version"));
		/* Tried, whatever came of it: not again in this boot. */
		if (boot != NULL)
			db_auto_attempt(srv->db, au->names[i], au->pkg, boot,
			    run, now);
		if (run != 0) {
			log_info("agent upgrade: run %" PRIu64 ": %s: %s -> %s",
			    run, au->names[i], from != NULL ? from : "?",
			    au->version);
			if (agentup_take_sent(au, au->names[i], &old))
				agentup_sent_free(&old);
			if (au->nsent < AGENTUP_MAX_INFLIGHT) {
				au->sent = xreallocarray(au->sent,
				    au->nsent + 1, sizeof(*au->sent));
				au->sent[au->nsent].name =
				    xstrdup(au->names[i]);
				au->sent[au->nsent].from = xstrdup(from != NULL ?
				    from : "?");
				au->sent[au->nsent].to = xstrdup(au->version);
				au->sent[au->nsent++].run = run;
			}
		}
		json_decref(m);
	}
out:
	for (i = 0; i < au->n; i++)
		free(au->names[i]);
	free(au->names);
	au->names = NULL;
	au->n = 0;
}

/* Is name's agent older than the one we ship, and not tried this boot? */
static int
agentup_wants(struct agentup *au, json_t *m)
{
	const char	*name, *have, *boot;
	size_t		 i;

	name = json_string_value(json_object_get(m, "name"));
	have = json_string_value(json_object_get(m, "agent_version"));
	boot = json_string_value(json_object_get(m, "boot_id"));
	if (au->pkg[0] == '\0' || name == NULL || have == NULL ||
	    boot == NULL || !json_is_true(json_object_get(m, "online")) ||
	    json_is_string(json_object_get(m, "error")) ||
	    !agentpkg_newer(au->version, have))
		return (0);
	for (i = 0; i < au->n; i++)
		if (strcmp(au->names[i], name) == 0)
			return (0);
	if (db_auto_attempted(au->srv->db, name, au->pkg, boot) != 0 ||
	    runs_machine_busy(au->srv->runs, name, au->pkg))
		return (0);
	return (1);
}

static void
agentup_gather(struct agentup *au, const char *name)
{
	struct timeval	tv = { au->window, 0 };

	au->names = xreallocarray(au->names, au->n + 1, sizeof(*au->names));
	au->names[au->n++] = xstrdup(name);
	/* The first one opens the window; those within it join. */
	if (au->n == 1)
		evtimer_add(au->batch, &tv);
}

/*
 * A machine came online (after HELLO: its agent version is stored).  One
 * we upgraded says how it went; an old one joins the next run.
 */
void
agentup_machine_online(struct agentup *au, const char *name)
{
	struct server		*srv = au->srv;
	struct agentup_sent	 s;
	const char		*have;
	json_t			*m;
	char			 line[512];
	uint64_t		 now = server_now_ms();

	if ((m = db_machines_json(srv->db, name)) == NULL)
		return;
	have = json_string_value(json_object_get(m, "agent_version"));
	if (have != NULL && agentup_take_sent(au, name, &s)) {
		if (strcmp(have, s.to) == 0) {
			snprintf(line, sizeof(line), "agent upgraded from %s "
			    "to %s (run %" PRIu64 ")", s.from, have, s.run);
			log_info("agent upgrade: %s: %s", name, line);
		} else {
			snprintf(line, sizeof(line), "agent still %s after "
			    "the upgrade to %s (run %" PRIu64 "; the run says "
			    "why)", have, s.to, s.run);
			log_warnx("agent upgrade: %s: %s", name, line);
		}
		db_event(srv->db, now, "agent", s.run, name, "%s", line);
		db_run_note(srv->db, s.run, name, line, now);
		agentup_sent_free(&s);
	}
	if (agentup_wants(au, m))
		agentup_gather(au, name);
	json_decref(m);
}

/* A package was added: a newer agent package goes to the online agents. */
void
agentup_package_added(struct agentup *au, const char *id)
{
	char	 v[AGENTPKG_VERSION_MAX + 1];
	json_t	*a, *m;
	size_t	 i;

	if (agentpkg_version(id, v, sizeof(v)) == -1)
		return;
	agentup_refresh(au);
	if (strcmp(au->pkg, id) != 0 ||
	    (a = db_machines_json(au->srv->db, NULL)) == NULL)
		return;
	json_array_foreach(a, i, m)
		if (agentup_wants(au, m))
			agentup_gather(au, json_string_value(json_object_get(m,
			    "name")));
	json_decref(a);
}

/* A machine's JSON (or an array of them) with agent_current added. */
void
agentup_annotate(struct agentup *au, json_t *j)
{
	const char	*have;
	json_t		*m;
	size_t		 i;

	if (json_is_array(j)) {
		json_array_foreach(j, i, m)
			agentup_annotate(au, m);
		return;
	}
	if (!json_is_object(j))
		return;
	have = json_string_value(json_object_get(j, "agent_version"));
	json_object_set_new(j, "agent_current", au->pkg[0] == '\0' ||
	    have == NULL ? json_null() : json_boolean(!agentpkg_newer(
	    au->version, have)));
}

/* The version the server ships, or NULL without an agent package. */
const char *
agentup_version(struct agentup *au)
{
	return (au->pkg[0] != '\0' ? au->version : NULL);
}

struct agentup *
agentup_new(struct server *srv, int window, char *err, size_t errlen)
{
	struct agentup	*au;

	au = xcalloc(1, sizeof(*au));
	au->srv = srv;
	au->window = window;
	if ((au->batch = evtimer_new(srv->base, agentup_batch_cb, au)) ==
	    NULL) {
		snprintf(err, errlen, "agent upgrade: cannot make a timer");
		free(au);
		return (NULL);
	}
	agentup_refresh(au);
	return (au);
}

void
agentup_free(struct agentup *au)
{
	size_t	i;

	if (au == NULL)
		return;
	event_free(au->batch);
	for (i = 0; i < au->n; i++)
		free(au->names[i]);
	free(au->names);
	for (i = 0; i < au->nsent; i++)
		agentup_sent_free(&au->sent[i]);
	free(au->sent);
	free(au);
}
