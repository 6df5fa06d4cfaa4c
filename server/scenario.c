/*
 * A scenario's options in one place, for the API, the database and the
 * runs: the check of a scenario a client sends against every rule
 * (scenario_parse, whose errors name the CLI option the value came from),
 * its JSON form, which the database stores and the API shows
 * (scenario_to_json, and scenario_from_json for what this server wrote),
 * and the scheduler's options for a run of it (scenario_sched_opts).
 */
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pkg.h"
#include "sched.h"
#include "server.h"
#include "xmalloc.h"

#define SCENARIO_MAX_WAIT	(30 * 86400)	/* --max-wait, seconds */
#define SCENARIO_MAX_TARGETS	1000000

/* ADDR[:PORT] (sched_group_parse's rule); addr gets ADDR, dotted. */
static int
scenario_parse_group(const char *s, char *addr, size_t alen, uint16_t *port,
    char *err, size_t errlen)
{
	struct in_addr	in;
	uint32_t	a;
	char		msg[256];

	if (sched_group_parse(s, &a, port, msg, sizeof(msg)) == -1) {
		snprintf(err, errlen, "--group: %s", msg);
		return (-1);
	}
	in.s_addr = htonl(a);
	if (inet_ntop(AF_INET, &in, addr, alen) == NULL) {
		snprintf(err, errlen, "--group: '%s' is too long", s);
		return (-1);
	}
	return (0);
}

static int
scenario_get_bool(json_t *o, const char *key, int *v, char *err, size_t errlen)
{
	json_t	*j = json_object_get(o, key);

	*v = 0;
	if (j == NULL || json_is_null(j))
		return (0);
	if (!json_is_boolean(j)) {
		snprintf(err, errlen, "%s: must be true or false", key);
		return (-1);
	}
	*v = json_is_true(j);
	return (0);
}

/*
 * Check a scenario sent by a client against every rule, naming the CLI
 * option in errors since that is where the value came from.
 */
int
scenario_parse(json_t *o, struct scenario *sc, json_t *warnings, char *err,
    size_t errlen)
{
	json_t		*p, *v;
	const char	*s;
	size_t		 i, j;

	memset(sc, 0, sizeof(*sc));
	sc->max_wait = -1;
	sc->on_error_stop = 1;
	if ((s = json_string_value(json_object_get(o, "name"))) == NULL)
		s = "";
	if (ctl_check_name("NAME", s, err, errlen) == -1)
		return (-1);
	snprintf(sc->name, sizeof(sc->name), "%s", s);
	p = json_object_get(o, "packages");
	if (!json_is_array(p) || json_array_size(p) == 0) {
		snprintf(err, errlen, "--package: at least one is needed");
		return (-1);
	}
	if (json_array_size(p) > CTL_MAX_PKGS) {
		snprintf(err, errlen, "--package: %zu given, limit %d",
		    json_array_size(p), CTL_MAX_PKGS);
		return (-1);
	}
	json_array_foreach(p, i, v) {
		if ((s = json_string_value(v)) == NULL ||
		    pkg_field_check_id("--package", s, err, errlen) == -1) {
			if (s == NULL)
				snprintf(err, errlen, "--package: not a "
				    "string");
			return (-1);
		}
		for (j = 0; j < sc->npackages; j++)
			if (strcmp(sc->packages[j], s) == 0) {
				snprintf(err, errlen, "--package: %s given "
				    "twice", s);
				return (-1);
			}
		sc->packages[sc->npackages++] = xstrdup(s);
	}
	if ((v = json_object_get(o, "max_targets")) != NULL &&
	    !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > SCENARIO_MAX_TARGETS) {
			snprintf(err, errlen, "--max-targets: must be a whole "
			    "number from 1 to %d", SCENARIO_MAX_TARGETS);
			return (-1);
		}
		sc->max_targets = json_integer_value(v);
	}
	if ((v = json_object_get(o, "max_wait")) != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > SCENARIO_MAX_WAIT) {
			snprintf(err, errlen, "--max-wait: must be a whole "
			    "number of seconds from 1 to %d",
			    SCENARIO_MAX_WAIT);
			return (-1);
		}
		sc->max_wait = json_integer_value(v);
	}
	if (scenario_get_bool(o, "at_next_boot", &sc->at_next_boot, err,
	    errlen) == -1 || scenario_get_bool(o, "reboot_after",
	    &sc->reboot_after, err, errlen) == -1 ||
	    scenario_get_bool(o, "poweroff_after", &sc->poweroff_after, err,
	    errlen) == -1 || scenario_get_bool(o, "unicast", &sc->unicast,
	    err, errlen) == -1)
		return (-1);
	if (sc->poweroff_after && sc->reboot_after) {
		snprintf(err, errlen, "--poweroff-after and --reboot-after: "
		    "choose one");
		return (-1);
	}
	if ((v = json_object_get(o, "group")) != NULL && !json_is_null(v)) {
		if ((s = json_string_value(v)) == NULL) {
			snprintf(err, errlen, "--group: not a string");
			return (-1);
		}
		if (sc->unicast) {
			snprintf(err, errlen, "--group: not used with "
			    "--unicast (S8: data goes by unicast)");
			return (-1);
		}
		if (scenario_parse_group(s, sc->group, sizeof(sc->group),
		    &sc->port, err, errlen) == -1)
			return (-1);
	}
	if ((v = json_object_get(o, "on_error")) != NULL && !json_is_null(v)) {
		s = json_string_value(v);
		if (s != NULL && strcmp(s, "stop") == 0)
			sc->on_error_stop = 1;
		else if (s != NULL && strcmp(s, "continue") == 0)
			sc->on_error_stop = 0;
		else {
			snprintf(err, errlen, "--on-error: must be stop or "
			    "continue");
			return (-1);
		}
	}
	if (sc->unicast && (sc->max_targets > 0 || sc->max_wait >= 0))
		json_array_append_new(warnings, json_string("--max-targets "
		    "and --max-wait are ignored with --unicast (S8)"));
	return (0);
}

/* The JSON form of a scenario, as the database stores and the API shows it. */
json_t *
scenario_to_json(const struct scenario *sc)
{
	json_t	*o, *p;
	size_t	 i;

	p = json_array();
	for (i = 0; i < sc->npackages; i++)
		json_array_append_new(p, json_string(sc->packages[i]));
	o = json_pack("{s:s, s:o, s:o, s:o, s:b, s:b, s:b, s:b, s:o, s:o, "
	    "s:s}",
	    "name", sc->name,
	    "packages", p,
	    "max_targets", sc->max_targets > 0 ?
	    json_integer(sc->max_targets) : json_null(),
	    "max_wait", sc->max_wait >= 0 ? json_integer(sc->max_wait) :
	    json_null(),
	    "at_next_boot", sc->at_next_boot,
	    "reboot_after", sc->reboot_after,
	    "poweroff_after", sc->poweroff_after,
	    "unicast", sc->unicast,
	    "group", sc->group[0] != '\0' ? json_string(sc->group) :
	    json_null(),
	    "port", sc->port != 0 ? json_integer(sc->port) : json_null(),
	    "on_error", sc->on_error_stop ? "stop" : "continue");
	return (o);
}

/* The inverse, for snapshots this server wrote; -1 if it is not one. */
int
scenario_from_json(json_t *o, struct scenario *sc)
{
	json_t		*p, *v;
	size_t		 i;
	const char	*s;

	memset(sc, 0, sizeof(*sc));
	sc->max_wait = -1;
	/*
	 * A name or group too long for its buffer was not written by this
	 * server: cut, it could end inside a UTF-8 character, and then
	 * scenario_to_json gives NULL (found by fuzz_scenario).
	 */
	if (!json_is_object(o) ||
	    (s = json_string_value(json_object_get(o, "name"))) == NULL ||
	    strlen(s) >= sizeof(sc->name))
		return (-1);
	snprintf(sc->name, sizeof(sc->name), "%s", s);
	p = json_object_get(o, "packages");
	json_array_foreach(p, i, v) {
		if (i >= CTL_MAX_PKGS || json_string_value(v) == NULL)
			break;
		sc->packages[sc->npackages++] = xstrdup(json_string_value(v));
	}
	if (sc->npackages == 0)
		return (-1);
	if (json_is_integer(v = json_object_get(o, "max_targets")))
		sc->max_targets = json_integer_value(v);
	if (json_is_integer(v = json_object_get(o, "max_wait")))
		sc->max_wait = json_integer_value(v);
	sc->at_next_boot = json_is_true(json_object_get(o, "at_next_boot"));
	sc->reboot_after = json_is_true(json_object_get(o, "reboot_after"));
	sc->poweroff_after = json_is_true(json_object_get(o,
	    "poweroff_after"));
	sc->unicast = json_is_true(json_object_get(o, "unicast"));
	if ((s = json_string_value(json_object_get(o, "group"))) != NULL) {
		if (strlen(s) >= sizeof(sc->group))
			return (-1);
		snprintf(sc->group, sizeof(sc->group), "%s", s);
	}
	if (json_is_integer(v = json_object_get(o, "port")))
		sc->port = (uint16_t)json_integer_value(v);
	s = json_string_value(json_object_get(o, "on_error"));
	sc->on_error_stop = s != NULL && strcmp(s, "stop") == 0;
	return (0);
}

/* A dotted IPv4 address, in host order. */
static int
scenario_parse_addr(const char *s, uint32_t *a)
{
	struct in_addr	in;

	if (inet_pton(AF_INET, s, &in) != 1)
		return (-1);
	*a = ntohl(in.s_addr);
	return (0);
}

/*
 * The scheduler's options for a run of sc, to the multicast group (NULL or
 * "" : one from group_range) and, for a scenario without a port, data_port.
 */
void
scenario_sched_opts(const struct scenario *sc, const char *group,
    uint16_t data_port, struct sched_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_targets = sc->max_targets > 0 ? (uint32_t)sc->max_targets : 0;
	o->max_wait = sc->max_wait >= 0 ? (uint64_t)sc->max_wait * 1000 :
	    SCHED_NEVER;
	o->unicast = sc->unicast;
	o->at_next_boot = sc->at_next_boot;
	o->poweroff_after = sc->poweroff_after;
	o->reboot_after = sc->reboot_after;
	o->on_error = sc->on_error_stop ? SCHED_ON_ERROR_STOP :
	    SCHED_ON_ERROR_CONTINUE;
	if (group != NULL && group[0] != '\0')
		scenario_parse_addr(group, &o->group);
	o->port = sc->port != 0 ? sc->port : data_port;
}
