/*
 * `fleetcast scenario create|list|show|remove|run`: the scenarios the
 * server keeps, over its API, and starting a run of one (with --wait,
 * followed to its end as `run watch' does).  Options are checked here as
 * far as they can be without the server, so that a typo is exit status 2
 * with the option named; the server checks everything again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static int
parse_count(const char *opt, const char *s, long long min, long long max,
    long long *out)
{
	char	*end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno != 0 || *out < min ||
	    *out > max) {
		cli_usage_error("scenario create", "%s: '%s' must be a whole "
		    "number from %lld to %lld", opt, s, min, max);
		return (-1);
	}
	return (0);
}

static int
scenario_create(int argc, char **argv)
{
	struct http_res	 res;
	json_t		*o, *pk, *w;
	const char	*name = NULL;
	long long	 n;
	int		 i, rv, json = 0;
	size_t		 k;

	o = json_object();
	pk = json_array();
	json_object_set_new(o, "packages", pk);
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];
		int has = i + 1 < argc;

		if (strcmp(a, "--package") == 0 && has)
			json_array_append_new(pk, json_string(argv[++i]));
		else if (strcmp(a, "--max-targets") == 0 && has) {
			if (parse_count(a, argv[++i], 1, 1000000, &n) == -1)
				goto usage;
			json_object_set_new(o, "max_targets", json_integer(n));
		} else if (strcmp(a, "--max-wait") == 0 && has) {
			if (parse_count(a, argv[++i], 1, 30 * 86400, &n) == -1)
				goto usage;
			json_object_set_new(o, "max_wait", json_integer(n));
		} else if (strcmp(a, "--at-next-boot") == 0)
			json_object_set_new(o, "at_next_boot", json_true());
		else if (strcmp(a, "--reboot-after") == 0)
			json_object_set_new(o, "reboot_after", json_true());
		else if (strcmp(a, "--poweroff-after") == 0)
			json_object_set_new(o, "poweroff_after", json_true());
		else if (strcmp(a, "--unicast") == 0)
			json_object_set_new(o, "unicast", json_true());
		else if (strcmp(a, "--group") == 0 && has)
			json_object_set_new(o, "group",
			    json_string(argv[++i]));
		else if (strcmp(a, "--on-error") == 0 && has) {
			if (strcmp(argv[i + 1], "stop") != 0 &&
			    strcmp(argv[i + 1], "continue") != 0) {
				cli_usage_error("scenario create", "--on-error: "
				    "'%s' must be stop or continue",
				    argv[i + 1]);
				goto usage;
			}
			json_object_set_new(o, "on_error",
			    json_string(argv[++i]));
		} else if (strcmp(a, "--json") == 0)
			json = 1;
		else if (a[0] == '-') {
			cli_usage_error("scenario create", "%s: %s", a,
			    has || strncmp(a, "--", 2) != 0 ?
			    "unknown option" : "needs a value");
			goto usage;
		} else if (name == NULL)
			name = a;
		else {
			cli_usage_error("scenario create", "unexpected "
			    "argument '%s'", a);
			goto usage;
		}
	}
	if (name == NULL) {
		cli_usage_error("scenario create", "NAME is needed");
		goto usage;
	}
	if (json_array_size(pk) == 0) {
		cli_usage_error("scenario create", "--package: at least one "
		    "is needed");
		goto usage;
	}
	json_object_set_new(o, "name", json_string(name));
	rv = http_call("scenario create", "POST", "/v1/scenarios", o, &res);
	json_decref(o);
	if (rv != EXIT_OK)
		return (rv);
	json_array_foreach(json_object_get(res.json, "warnings"), k, w)
		fprintf(stderr, "fleetcast scenario create: warning: %s\n",
		    json_string_value(w));
	if (json)
		show_json(res.json);
	else
		printf("scenario %s created\n", name);
	http_res_free(&res);
	return (EXIT_OK);
usage:
	json_decref(o);
	return (EXIT_USAGE);
}

static void
scenario_rows(json_t *a)
{
	json_t	*o, *p;
	size_t	 i, j, len;
	char	 pk[256], mt[32], mw[32], grp[64];

	printf("%-24s %-11s %-8s %-24s %s\n", "NAME", "MAX TARGETS",
	    "MAX WAIT", "PACKAGES", "OPTIONS");
	json_array_foreach(a, i, o) {
		pk[0] = '\0';
		len = 0;
		json_array_foreach(json_object_get(o, "packages"), j, p) {
			if (len < sizeof(pk))
				len += snprintf(pk + len, sizeof(pk) - len,
				    "%s%s", j > 0 ? "," : "",
				    json_string_value(p));
		}
		show_val(o, "max_targets", mt, sizeof(mt));
		show_val(o, "max_wait", mw, sizeof(mw));
		grp[0] = '\0';
		if (json_string_value(json_object_get(o, "group")) != NULL) {
			if (json_integer_value(json_object_get(o, "port")) > 0)
				snprintf(grp, sizeof(grp), "group=%s:%lld ",
				    show_str(o, "group"), (long long)
				    json_integer_value(json_object_get(o,
				    "port")));
			else
				snprintf(grp, sizeof(grp), "group=%s ",
				    show_str(o, "group"));
		}
		printf("%-24s %-11s %-8s %-24s %s%s%s%s%s%s%s\n",
		    show_str(o, "name"), mt, mw, pk, grp,
		    json_is_true(json_object_get(o, "unicast")) ?
		    "unicast " : "",
		    json_is_true(json_object_get(o, "at_next_boot")) ?
		    "at-next-boot " : "",
		    json_is_true(json_object_get(o, "reboot_after")) ?
		    "reboot-after " : "",
		    json_is_true(json_object_get(o, "poweroff_after")) ?
		    "poweroff-after " : "",
		    "on-error=", show_str(o, "on_error"));
	}
}

static int
scenario_run(int argc, char **argv)
{
	struct http_res	 res;
	json_t		*o, *ms;
	const char	*name = NULL;
	int		 i, rv, wait = 0;
	uint64_t	 id;

	ms = json_array();
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--machine") == 0 && i + 1 < argc)
			json_array_append_new(ms, json_string(argv[++i]));
		else if (strcmp(argv[i], "--wait") == 0)
			wait = 1;
		else if (argv[i][0] == '-') {
			json_decref(ms);
			return (cli_usage_error("scenario run", "%s: %s",
			    argv[i], strcmp(argv[i], "--machine") == 0 ?
			    "needs a value" : "unknown option"));
		} else if (name == NULL)
			name = argv[i];
		else {
			json_decref(ms);
			return (cli_usage_error("scenario run", "unexpected "
			    "argument '%s'", argv[i]));
		}
	}
	if (name == NULL || json_array_size(ms) == 0) {
		json_decref(ms);
		return (cli_usage_error("scenario run", "%s is needed",
		    name == NULL ? "NAME" : "--machine"));
	}
	o = json_pack("{s:o}", "machines", ms);
	rv = http_call_on("scenario run", "POST", "/v1/scenarios/", name,
	    "/run", o, &res);
	if (rv != EXIT_OK)
		return (rv);
	id = (uint64_t)json_integer_value(json_object_get(res.json, "id"));
	http_res_free(&res);
	rv = EXIT_OK;
	/* With --wait the progress goes to stderr: stdout ends with the id. */
	if (wait) {
		fprintf(stderr, "run %" PRIu64 "\n", id);
		rv = cmd_run_follow(id, stderr);
	}
	printf("%" PRIu64 "\n", id);
	return (rv);
}


const struct cli_entry cmd_scenario_entries[] = {
	{ "scenario", NULL, NULL,
	    "create, list, show, remove and run scenarios", NULL, NULL },
	{ "scenario", "create", scenario_create,
	    "NAME --package ID [--package ID]...\n"
	    "           [--max-targets N] [--max-wait SECONDS] "
	    "[--at-next-boot] [--reboot-after]\n"
	    "           [--poweroff-after] [--unicast] [--group ADDR[:PORT]] "
	    "[--on-error stop|continue]", NULL, NULL },
	{ "scenario", "list", NULL, "[--json]", NULL, &(const struct http_one){
	    "GET", "/v1/scenarios", NULL, NULL, scenario_rows } },
	{ "scenario", "show", NULL, "NAME [--json]", NULL, &(const struct
	    http_one){ "GET", "/v1/scenarios/", "", NULL, NULL } },
	{ "scenario", "remove", NULL, "NAME", NULL, &(const struct http_one){
	    "DELETE", "/v1/scenarios/", "", "removed", NULL } },
	{ "scenario", "run", scenario_run,
	    "NAME --machine NAME [--machine NAME]... [--wait]", NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL }
};
