/*
 * `fleetcast scenario create|edit|list|show|remove|run`: the scenarios the
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
parse_count(const char *cmd, const char *opt, const char *s, long long min,
    long long max, long long *out)
{
	char	*end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno != 0 || *out < min ||
	    *out > max) {
		cli_usage_error(cmd, "%s: '%s' must be a whole number from "
		    "%lld to %lld", opt, s, min, max);
		return (-1);
	}
	return (0);
}

/*
 * The scenario as the server has it, as the body of an edit: its group
 * and port folded back into ADDR[:PORT] as `scenario create --group' takes.
 */
static json_t *
scenario_fetch(const char *cmd, const char *name, int *rv)
{
	struct http_res	 res;
	json_t		*o, *g, *p;
	char		 grp[64];

	if ((*rv = http_call_on(cmd, "GET", "/v1/scenarios/", name, "", NULL,
	    &res)) != EXIT_OK)
		return (NULL);
	o = json_deep_copy(res.json);
	http_res_free(&res);
	g = json_object_get(o, "group");
	p = json_object_get(o, "port");
	if (json_is_string(g) && json_is_integer(p)) {
		snprintf(grp, sizeof(grp), "%s:%lld", json_string_value(g),
		    (long long)json_integer_value(p));
		json_object_set_new(o, "group", json_string(grp));
	}
	json_object_del(o, "port");
	return (o);
}

/*
 * scenario create NAME ... and scenario edit NAME ...: the options into a
 * scenario's JSON.  An edit starts from the scenario the server has, and
 * takes the --no-* options that undo a setting; --package in an edit gives
 * the whole new list.
 */
static int
scenario_write(int argc, char **argv)
{
	struct http_res	 res;
	json_t		*o = NULL, *pk = NULL, *w;
	const char	*name = NULL, *cmd;
	long long	 n;
	int		 i, rv, json = 0, edit = strcmp(argv[1], "edit") == 0;
	size_t		 k;
	static const char *const flags[][2] = {
		{ "--at-next-boot", "at_next_boot" },
		{ "--reboot-after", "reboot_after" },
		{ "--poweroff-after", "poweroff_after" },
		{ "--unicast", "unicast" },
	};

	cmd = edit ? "scenario edit" : "scenario create";
	/* The NAME first: an edit needs it before the options apply. */
	for (i = 2; i < argc; i++) {
		if (argv[i][0] != '-') {
			name = argv[i];
			break;
		}
		if (strcmp(argv[i], "--package") == 0 ||
		    strcmp(argv[i], "--max-targets") == 0 ||
		    strcmp(argv[i], "--max-wait") == 0 ||
		    strcmp(argv[i], "--group") == 0 ||
		    strcmp(argv[i], "--on-error") == 0)
			i++;
	}
	if (name == NULL && edit) {
		cli_usage_error(cmd, "NAME is needed");
		return (EXIT_USAGE);
	}
	if (edit) {
		if ((o = scenario_fetch(cmd, name, &rv)) == NULL)
			return (rv);
	} else {
		o = json_object();
		json_object_set_new(o, "packages", json_array());
	}
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];
		int has = i + 1 < argc, on;

		if (a == name)
			continue;
		if (strcmp(a, "--package") == 0 && has) {
			if (pk == NULL) {
				pk = json_array();
				json_object_set_new(o, "packages", pk);
			}
			json_array_append_new(pk, json_string(argv[++i]));
		} else if (strcmp(a, "--max-targets") == 0 && has) {
			if (parse_count(cmd, a, argv[++i], 1, 1000000,
			    &n) == -1)
				goto usage;
			json_object_set_new(o, "max_targets", json_integer(n));
		} else if (strcmp(a, "--max-wait") == 0 && has) {
			if (parse_count(cmd, a, argv[++i], 1, 30 * 86400,
			    &n) == -1)
				goto usage;
			json_object_set_new(o, "max_wait", json_integer(n));
		} else if (edit && strcmp(a, "--no-max-targets") == 0)
			json_object_set_new(o, "max_targets", json_null());
		else if (edit && strcmp(a, "--no-max-wait") == 0)
			json_object_set_new(o, "max_wait", json_null());
		else if (edit && strcmp(a, "--no-group") == 0)
			json_object_set_new(o, "group", json_null());
		else if (strcmp(a, "--group") == 0 && has)
			json_object_set_new(o, "group",
			    json_string(argv[++i]));
		else if (strcmp(a, "--on-error") == 0 && has) {
			if (strcmp(argv[i + 1], "stop") != 0 &&
			    strcmp(argv[i + 1], "continue") != 0) {
				cli_usage_error(cmd, "--on-error: '%s' must be "
				    "stop or continue", argv[i + 1]);
				goto usage;
			}
			json_object_set_new(o, "on_error",
			    json_string(argv[++i]));
		} else if (strcmp(a, "--json") == 0)
			json = 1;
		else {
			for (k = 0; k < sizeof(flags) / sizeof(flags[0]); k++) {
				on = strcmp(a, flags[k][0]) == 0;
				if (on || (edit && strncmp(a, "--no-", 5) == 0 &&
				    strcmp(a + 5, flags[k][0] + 2) == 0)) {
					json_object_set_new(o, flags[k][1],
					    json_boolean(on));
					break;
				}
			}
			if (k < sizeof(flags) / sizeof(flags[0]))
				continue;
			if (a[0] == '-') {
				cli_usage_error(cmd, "%s: %s", a,
				    has || strncmp(a, "--", 2) != 0 ?
				    "unknown option" : "needs a value");
			} else
				cli_usage_error(cmd, "unexpected argument "
				    "'%s'", a);
			goto usage;
		}
	}
	if (name == NULL) {
		cli_usage_error(cmd, "NAME is needed");
		goto usage;
	}
	if (json_array_size(json_object_get(o, "packages")) == 0) {
		cli_usage_error(cmd, "--package: at least one is needed");
		goto usage;
	}
	json_object_set_new(o, "name", json_string(name));
	if (edit)
		rv = http_call_on(cmd, "PUT", "/v1/scenarios/", name, "", o,
		    &res);
	else {
		rv = http_call(cmd, "POST", "/v1/scenarios", o, &res);
		json_decref(o);
	}
	if (rv != EXIT_OK)
		return (rv);
	json_array_foreach(json_object_get(res.json, "warnings"), k, w)
		fprintf(stderr, "fleetcast %s: warning: %s\n", cmd,
		    json_string_value(w));
	if (json)
		show_json(res.json);
	else
		printf("scenario %s %s\n", name, edit ? "changed" : "created");
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
	    "create, edit, list, show, remove and run scenarios", NULL, NULL },
	{ "scenario", "create", scenario_write,
	    "NAME --package ID [--package ID]...\n"
	    "           [--max-targets N] [--max-wait SECONDS] "
	    "[--at-next-boot] [--reboot-after]\n"
	    "           [--poweroff-after] [--unicast] [--group ADDR[:PORT]] "
	    "[--on-error stop|continue]", NULL, NULL },
	{ "scenario", "edit", scenario_write,
	    "NAME [--package ID]... [--max-targets N | --no-max-targets]\n"
	    "           [--max-wait SECONDS | --no-max-wait] "
	    "[--[no-]at-next-boot] [--[no-]reboot-after]\n"
	    "           [--[no-]poweroff-after] [--[no-]unicast] "
	    "[--group ADDR[:PORT] | --no-group]\n"
	    "           [--on-error stop|continue]", NULL, NULL },
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
