/*
 * fleetcast sim: run a scenario file against a fleet file on the server's
 * scheduler with a virtual clock (server/sim.c) and print the timeline and
 * a summary, or one JSON object, and optionally write an SVG plot.  Bad
 * input files exit 2 with the file, the JSON path and the rule broken.
 */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fsutil.h"
#include "log.h"
#include "sim.h"
#include "xmalloc.h"

static void
sim_usage(FILE *f)
{
	fprintf(f,
	    "usage: fleetcast sim --scenario FILE.json --fleet FILE.json "
	    "[--seed N] [--json]\n"
	    "           [--plot OUT.svg] [--quiet]\n"
	    "\n"
	    "Simulate a scenario run on the server's own scheduler with a "
	    "virtual clock.\n"
	    "  --scenario FILE  max_targets, max_wait, at_next_boot, unicast,\n"
	    "                   max_concurrent_machines, package_size, ...\n"
	    "  --fleet FILE     machines and/or groups with ready-time "
	    "distributions\n"
	    "  --seed N         seed of the random draws (default 1)\n"
	    "  --json           print one JSON object (waves, machines, "
	    "summary)\n"
	    "  --plot OUT.svg   draw ready times, transfer starts and "
	    "completions\n"
	    "  --quiet          print the summary only, not the timeline\n"
	    "See doc/simulation.md for the file formats.\n");
}

/* Accept --opt VALUE and --opt=VALUE. */
static int
sim_optarg(int argc, char **argv, int *i, const char *name,
    const char **val)
{
	size_t	len = strlen(name);

	if (strcmp(argv[*i], name) == 0) {
		if (*i + 1 >= argc)
			return (-1);
		*val = argv[++*i];
		return (1);
	}
	if (strncmp(argv[*i], name, len) == 0 && argv[*i][len] == '=') {
		*val = argv[*i] + len + 1;
		return (1);
	}
	return (0);
}

static int
sim_write_plot(const struct sim *sim, const char *path, const char *title)
{
	char	*buf = NULL, err[512];
	size_t	 len = 0;
	FILE	*mf;
	int	 rv;

	/* Built in memory, then written whole: no half-written plot. */
	if ((mf = open_memstream(&buf, &len)) == NULL) {
		log_warn("open_memstream");
		return (-1);
	}
	rv = sim_write_svg(sim, mf, title);
	if (fclose(mf) != 0 || rv == -1) {
		log_warnx("%s: cannot build the plot", path);
		free(buf);
		return (-1);
	}
	rv = atomic_write_file(path, buf, len, 0644, err, sizeof(err));
	if (rv == -1)
		log_warnx("%s", err);
	free(buf);
	return (rv);
}

static int
cmd_sim(int argc, char **argv)
{
	struct sim_scenario	 sc;
	struct sim_fleet	 fl;
	struct sim		*sim;
	const char		*scenario = NULL, *fleet = NULL, *plot = NULL;
	const char		*seedstr = NULL, *v;
	char			 err[1024], title[256], *end, *c1, *c2;
	uint64_t		 seed = 1;
	int			 i, r, json = 0, quiet = 0, rv = EXIT_OK;
	size_t			 k;
	static char		 obuf[1 << 16];
	/* The options that take a value, and what the value is. */
	const struct {
		const char	 *name;
		const char	**val;
		const char	 *needs;
	} valopts[] = {
		{ "--scenario", &scenario, "a file" },
		{ "--fleet", &fleet, "a file" },
		{ "--seed", &seedstr, "a number" },
		{ "--plot", &plot, "a file name" },
	};

	if (cli_wants_help(argc, argv)) {
		sim_usage(stdout);
		return (EXIT_OK);
	}
	for (i = 1; i < argc; i++) {
		r = 0;
		for (k = 0; k < sizeof(valopts) / sizeof(valopts[0]); k++)
			if ((r = sim_optarg(argc, argv, &i, valopts[k].name,
			    &v)) != 0)
				break;
		if (r != 0) {
			/* An empty plot name could not be written. */
			if (r == -1 || (valopts[k].val == &plot && *v == '\0'))
				return (cli_usage_error("sim", "%s: needs %s",
				    valopts[k].name, valopts[k].needs));
			*valopts[k].val = v;
		} else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--quiet") == 0)
			quiet = 1;
		else {
			sim_usage(stderr);
			return (cli_usage_error("sim", "unknown argument '%s'",
			    argv[i]));
		}
	}
	if (scenario == NULL || fleet == NULL) {
		sim_usage(stderr);
		return (cli_usage_error("sim", "--scenario and --fleet are "
		    "required"));
	}
	if (seedstr != NULL) {
		errno = 0;
		seed = strtoull(seedstr, &end, 10);
		if (*seedstr == '\0' || *end != '\0' || errno != 0 ||
		    *seedstr == '-')
			return (cli_usage_error("sim", "--seed: \"%s\" is not "
			    "a number 0-%" PRIu64, seedstr, UINT64_MAX));
	}

	if (sim_scenario_load(scenario, &sc, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return (EXIT_USAGE);
	}
	if (sim_fleet_load(fleet, &fl, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return (EXIT_USAGE);
	}
	if (sim_check(&sc, &fl, scenario, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		sim_fleet_free(&fl);
		return (EXIT_USAGE);
	}

	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
	sim = sim_new(&sc, &fl, seed, json || quiet ? NULL : stdout,
	    json || plot != NULL);
	sim_run(sim);
	if (json) {
		if (sim_write_json(sim, stdout) == -1)
			rv = EXIT_FAIL;
	} else
		sim_print_summary(sim, stdout);
	if (plot != NULL) {
		c1 = xstrdup(scenario);
		c2 = xstrdup(fleet);
		snprintf(title, sizeof(title), "fleetcast sim: %s on %s, "
		    "seed %" PRIu64, basename(c1), basename(c2), seed);
		free(c1);
		free(c2);
		if (sim_write_plot(sim, plot, title) == -1)
			rv = EXIT_FAIL;
	}
	if (fflush(stdout) != 0)
		rv = EXIT_FAIL;
	sim_free(sim);
	sim_fleet_free(&fl);
	return (rv);
}

const struct cli_entry cmd_sim_entries[] = {
	{ "sim", NULL, cmd_sim,
	    "simulate max-targets / max-wait behaviour of a scenario", NULL,
	    NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL }
};
