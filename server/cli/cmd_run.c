/*
 * `fleetcast run list|show|watch|start|cancel`: the runs of scenarios,
 * over the server's API.  watch (and scenario run --wait) polls the run
 * until it is finished: progress bars on a terminal, one line per state
 * change otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

#define WATCH_INTERVAL_MS	500

static int
parse_run_id(const char *cmd, const char *s, uint64_t *id)
{
	char			*end;
	unsigned long long	 v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] == '\0' || s[0] == '-' || *end != '\0' || errno != 0 ||
	    v == 0) {
		cli_usage_error(cmd, "RUN: '%s' is not a run id (a whole "
		    "number from 1)", s);
		return (-1);
	}
	*id = v;
	return (0);
}

static int
get_run(const char *cmd, uint64_t id, struct http_res *res)
{
	char	path[64];

	snprintf(path, sizeof(path), "/v1/runs/%" PRIu64, id);
	return (http_call(cmd, "GET", path, NULL, res));
}

/* Total size of the run's packages, for progress bars (0: unknown). */
static uint64_t
run_total_bytes(json_t *run)
{
	struct http_res	 res;
	json_t		*p;
	size_t		 i;
	uint64_t	 total = 0;
	char		*path;

	json_array_foreach(json_object_get(json_object_get(run, "spec"),
	    "packages"), i, p) {
		path = http_path("/v1/packages/", json_string_value(p), "");
		if (http_request("GET", path, NULL, NULL, 0, -1,
		    HTTP_TIMEOUT_MS, &res, NULL, 0) != 0 || res.status != 200) {
			free(path);
			http_res_free(&res);
			return (0);
		}
		free(path);
		total += (uint64_t)json_integer_value(json_object_get(res.json,
		    "size"));
		http_res_free(&res);
	}
	return (total);
}

static int
machine_ok(const char *state)
{
	return (strcmp(state, "succeeded") == 0 ||
	    strcmp(state, "pending_boot") == 0);
}

static void
print_run_table(json_t *run, FILE *f)
{
	json_t	*m;
	size_t	 i;
	char	 bytes[32], ex[16];

	fprintf(f, "run %" JSON_INTEGER_FORMAT "  scenario %s  state %s\n",
	    json_integer_value(json_object_get(run, "id")),
	    show_str(run, "scenario"), show_str(run, "state"));
	fprintf(f, "  created %s  transfer started %s  finished %s\n",
	    show_str(run, "created_at"), show_str(run, "transfer_started_at"),
	    show_str(run, "finished_at"));
	fprintf(f, "%-24s %-13s %-9s %10s %4s  %s\n", "MACHINE", "STATE",
	    "PATH", "RECEIVED", "EXIT", "ERROR");
	json_array_foreach(json_object_get(run, "machines"), i, m) {
		show_bytes((uint64_t)json_integer_value(json_object_get(m,
		    "bytes_received")), bytes, sizeof(bytes));
		show_val(m, "exit_status", ex, sizeof(ex));
		fprintf(f, "%-24s %-13s %-9s %10s %4s  %s\n",
		    show_str(m, "name"), show_str(m, "state"),
		    show_str(m, "path"), bytes, ex,
		    show_str(m, "error"));
		/*
		 * Why the machine is on its path is a sentence (it names the
		 * subnet, or the sender's figures for a straggler): too long
		 * for a column, so it gets an indented line of its own.
		 */
		if (json_is_string(json_object_get(m, "path_reason")) &&
		    *show_str(m, "path_reason") != '\0')
			fprintf(f, "    path_reason: %s\n",
			    show_str(m, "path_reason"));
	}
}

/* The live view on a terminal: one line per machine with a bar. */
static void
draw_progress(json_t *run, uint64_t total, FILE *f, int *lines)
{
	json_t		*m;
	size_t		 i;
	uint64_t	 got;
	int		 fill, k;
	char		 bar[32];

	if (*lines > 0)
		fprintf(f, "\033[%dA", *lines);
	*lines = 0;
	fprintf(f, "\033[2Krun %" JSON_INTEGER_FORMAT " (%s): %s\n",
	    json_integer_value(json_object_get(run, "id")),
	    show_str(run, "scenario"), show_str(run, "state"));
	(*lines)++;
	json_array_foreach(json_object_get(run, "machines"), i, m) {
		got = (uint64_t)json_integer_value(json_object_get(m,
		    "bytes_received"));
		fill = total > 0 ? (int)(got >= total ? 24 :
		    (double)got / (double)total * 24) : 0;
		for (k = 0; k < 24; k++)
			bar[k] = k < fill ? '#' : '.';
		bar[24] = '\0';
		fprintf(f, "\033[2K  %-20.20s [%s] %3d%%  %-13s %s\n",
		    show_str(m, "name"), bar, total > 0 ? (int)(got >= total ?
		    100 : (double)got / (double)total * 100) : 0,
		    show_str(m, "state"), json_is_string(json_object_get(m,
		    "error")) ? show_str(m, "error") : "");
		(*lines)++;
	}
	fflush(f);
}

/*
 * Follow a run until it is finished: bars on a terminal, otherwise one
 * line per machine state change.  0 when every machine succeeded (or is
 * pending_boot), 1 otherwise.
 */
int
cmd_run_follow(uint64_t id, FILE *f)
{
	struct http_res	 res;
	json_t		*prev = NULL, *m, *pm;
	uint64_t	 total = 0;
	int		 tty = isatty(fileno(f)), lines = 0, rv, ok;
	size_t		 i;
	struct timespec	 ts = { 0, WATCH_INTERVAL_MS * 1000000L };

	for (;;) {
		if ((rv = get_run("run watch", id, &res)) != EXIT_OK) {
			json_decref(prev);
			return (rv);
		}
		if (prev == NULL && tty)
			total = run_total_bytes(res.json);
		if (tty)
			draw_progress(res.json, total, f, &lines);
		else {
			json_array_foreach(json_object_get(res.json,
			    "machines"), i, m) {
				pm = prev != NULL ? json_array_get(
				    json_object_get(prev, "machines"), i) :
				    NULL;
				if (pm == NULL || strcmp(show_str(m, "state"),
				    show_str(pm, "state")) != 0)
					fprintf(f, "%s: %s%s%s\n",
					    show_str(m, "name"),
					    show_str(m, "state"),
					    json_is_string(json_object_get(m,
					    "error")) ? ": " : "",
					    json_is_string(json_object_get(m,
					    "error")) ? show_str(m, "error") :
					    "");
			}
			fflush(f);
		}
		json_decref(prev);
		prev = json_incref(res.json);
		if (strcmp(show_str(res.json, "state"), "finished") == 0)
			break;
		http_res_free(&res);
		nanosleep(&ts, NULL);
	}
	ok = 1;
	json_array_foreach(json_object_get(res.json, "machines"), i, m)
		if (!machine_ok(show_str(m, "state")))
			ok = 0;
	if (!tty)
		print_run_table(res.json, f);
	http_res_free(&res);
	json_decref(prev);
	return (ok ? EXIT_OK : EXIT_FAIL);
}

static void
run_rows(json_t *a)
{
	json_t	*o;
	size_t	 i;
	char	 nm[16], ns[16];

	printf("%-6s %-24s %-13s %8s %9s  %s\n", "RUN", "SCENARIO", "STATE",
	    "MACHINES", "SUCCEEDED", "CREATED");
	json_array_foreach(a, i, o) {
		show_val(o, "machines", nm, sizeof(nm));
		show_val(o, "succeeded", ns, sizeof(ns));
		printf("%-6" JSON_INTEGER_FORMAT " %-24s %-13s %8s %9s  %s\n",
		    json_integer_value(json_object_get(o, "id")),
		    show_str(o, "scenario"), show_str(o, "state"), nm, ns,
		    show_str(o, "created_at"));
	}
}

/*
 * The RUN of run start, cancel, show and watch, and whether --json; cmd
 * gets "run SUB" for the messages.
 */
static int
run_arg(int argc, char **argv, int *json, uint64_t *id, char *cmd,
    size_t cmdlen)
{
	const char	*arg;

	snprintf(cmd, cmdlen, "run %s", argv[1]);
	if ((*json = http_json_arg(argc, argv, 2, cmd, &arg)) == -1)
		return (EXIT_USAGE);
	if (arg == NULL)
		return (cli_usage_error(cmd, "RUN is needed"));
	if (parse_run_id(cmd, arg, id) == -1)
		return (EXIT_USAGE);
	return (EXIT_OK);
}

/*
 * run show, start and cancel: one request about RUN (argv[1] names the
 * action in the path and in messages), and its answer printed.
 */
static int
run_request(int argc, char **argv)
{
	struct http_res	 res;
	uint64_t	 id;
	int		 json, rv, show = strcmp(argv[1], "show") == 0;
	char		 path[64], cmd[32];

	if ((rv = run_arg(argc, argv, &json, &id, cmd, sizeof(cmd))) !=
	    EXIT_OK)
		return (rv);
	if (show)
		rv = get_run(cmd, id, &res);
	else {
		snprintf(path, sizeof(path), "/v1/runs/%" PRIu64 "/%s", id,
		    argv[1]);
		rv = http_call(cmd, "POST", path, NULL, &res);
	}
	if (rv != EXIT_OK)
		return (rv);
	if (json)
		show_json(res.json);
	else if (show)
		print_run_table(res.json, stdout);
	else
		printf("run %" PRIu64 " %s\n", id,
		    strcmp(argv[1], "start") == 0 ? "started" : "cancelled");
	http_res_free(&res);
	return (EXIT_OK);
}

static int
run_watch(int argc, char **argv)
{
	uint64_t	 id;
	int		 json, rv;
	char		 cmd[32];

	if ((rv = run_arg(argc, argv, &json, &id, cmd, sizeof(cmd))) !=
	    EXIT_OK)
		return (rv);
	return (cmd_run_follow(id, stdout));
}

const struct cli_entry cmd_run_entries[] = {
	{ "run", NULL, NULL,
	    "list, show, watch, start and cancel scenario runs", NULL, NULL },
	{ "run", "list", NULL, "[--json]", NULL, &(const struct http_one){
	    "GET", "/v1/runs", NULL, NULL, run_rows } },
	{ "run", "show", run_request, "RUN [--json]", NULL, NULL },
	{ "run", "watch", run_watch, "RUN", NULL, NULL },
	{ "run", "start", run_request,
	    "RUN     # a waiting run, now, with the ready machines", NULL,
	    NULL },
	{ "run", "cancel", run_request, "RUN", NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL }
};
