/*
 * `fleetcast bench`: a thin front end to the benchmark scripts.  The
 * benchmarks build a namespace lab and drive several programs at once,
 * which is shell work, so they are scripts installed in $(pkgdatadir)/bench
 * (the lab beside them in $(pkgdatadir)/lab).  This command finds them, the
 * installed copies or, when this fleetcast runs from its build tree, the
 * ones in the source tree, points them at this very binary (FLEETCAST) so
 * that what is measured is what was run, and executes the one asked for.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cli.h"
#include "log.h"
#include "xmalloc.h"

#ifndef FC_PKGDATADIR
#error "FC_PKGDATADIR must be defined by the build (Makefile.am AM_CPPFLAGS)"
#endif
#ifndef FC_BINDIR
#error "FC_BINDIR must be defined by the build (Makefile.am AM_CPPFLAGS)"
#endif
#ifndef FC_ABS_SRCDIR
#error "FC_ABS_SRCDIR must be defined by the build (Makefile.am AM_CPPFLAGS)"
#endif

#define BENCH_NAME_MAX	64

struct bench_paths {
	char	*bench_dir;	/* directory of the benchmark scripts */
	char	*lab;		/* lab.sh */
	char	*self;		/* this executable, resolved */
	int	 installed;	/* running from $(bindir) */
};

static void
bench_usage(FILE *f, const struct bench_paths *bp)
{
	fprintf(f,
	    "usage: fleetcast bench BENCHMARK [ARGS...]\n"
	    "       fleetcast bench lab COMMAND [ARGS...]\n"
	    "       fleetcast bench list\n"
	    "\n"
	    "Runs a benchmark script in a lab of network namespaces (a bridge,\n"
	    "a sender and N receivers, MTU 1500, optional loss and shaping) that\n"
	    "never touches the host's own network.  Needs root.  The benchmark\n"
	    "measures this fleetcast binary (it is passed as FLEETCAST).\n"
	    "\n"
	    "  mcast-throughput [--quick] [--size SIZE] [--receivers 1,2,4,8]\n"
	    "      [--loss 0,5] [--tools fleetcast,udpcast,uftp] [--out DIR] ...\n"
	    "      fleetcast send/receive against udpcast and uftp in the same\n"
	    "      run: wall time, MiB/s, retransmissions, ratio to udpcast,\n"
	    "      peak RSS; every copy compared byte for byte; CSV, JSON and a\n"
	    "      gnuplot chart in DIR.  'fleetcast bench mcast-throughput\n"
	    "      --help' lists every option.\n"
	    "  vmlab [--vms N] [--memory MiB] [--out DIR] [--json] [--keep]\n"
	    "      [--short] [--cases LIST] [--deb FILE] [--cache DIR]\n"
	    "      real Debian 12 virtual machines (QEMU, KVM or TCG) with\n"
	    "      the fleetcast-agent .deb, started by systemd, on a bridge\n"
	    "      in a network namespace with a real fleetcastd: enrollment,\n"
	    "      service packs, next-boot updates across real reboots,\n"
	    "      power-off, the next-boot limit, automatic updates, agent\n"
	    "      crashes; a table or --json, exit 0 only if every case\n"
	    "      passed ('fleetcast bench vmlab --help').\n"
	    "  lab up|down|exec|loss|shape|hosts|list ...\n"
	    "      build and use the lab by hand ('fleetcast bench lab help').\n"
	    "  list\n"
	    "      the benchmarks found.\n"
	    "\n"
	    "Scripts are taken from $FLEETCAST_BENCH_DIR if set, else from the\n"
	    "source tree when this fleetcast runs uninstalled, else from\n"
	    "%s/bench.\n", FC_PKGDATADIR);
	if (bp != NULL && bp->bench_dir != NULL)
		fprintf(f, "Here: %s (lab: %s)\n", bp->bench_dir,
		    bp->lab != NULL ? bp->lab : "not found");
	fprintf(f, "\nSee doc/performance.md for the method and results.\n");
}

static int
bench_is_file(const char *path, int exec)
{
	struct stat	st;

	if (stat(path, &st) == -1 || !S_ISREG(st.st_mode))
		return (0);
	return (!exec || access(path, X_OK) == 0);
}

/*
 * Decide where the scripts are.  An installed fleetcast (the executable
 * sits in $(bindir)) uses $(pkgdatadir); one run from its build tree uses
 * the source tree, so that a developer measures the scripts being edited
 * and not an older installed copy.
 */
static void
bench_find(struct bench_paths *bp)
{
	char		 self[PATH_MAX], bindir[PATH_MAX], top[PATH_MAX];
	const char	*env;
	char		*slash, *src;
	ssize_t		 n;

	memset(bp, 0, sizeof(*bp));
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		bp->self = xstrdup(self);
		if ((slash = strrchr(self, '/')) != NULL)
			*slash = '\0';
		if (realpath(FC_BINDIR, bindir) != NULL &&
		    strcmp(self, bindir) == 0)
			bp->installed = 1;
	}

	if ((env = getenv("FLEETCAST_BENCH_DIR")) != NULL && *env != '\0')
		bp->bench_dir = xstrdup(env);
	else if (!bp->installed && realpath(FC_ABS_SRCDIR, top) != NULL) {
		xasprintf(&src, "%s/bench/lib.sh", top);
		if (bench_is_file(src, 0))
			xasprintf(&bp->bench_dir, "%s/bench", top);
		free(src);
	}
	if (bp->bench_dir == NULL)
		xasprintf(&bp->bench_dir, "%s/bench", FC_PKGDATADIR);

	if ((env = getenv("FLEETCAST_LAB")) != NULL && *env != '\0')
		bp->lab = xstrdup(env);
	else {
		/* Installed: pkgdatadir/lab; source tree: tests/lab. */
		xasprintf(&src, "%s/../lab/lab.sh", bp->bench_dir);
		if (!bench_is_file(src, 0)) {
			free(src);
			xasprintf(&src, "%s/../tests/lab/lab.sh",
			    bp->bench_dir);
		}
		if (bench_is_file(src, 0) && realpath(src, top) != NULL)
			bp->lab = xstrdup(top);
		free(src);
	}
}

static void
bench_free(struct bench_paths *bp)
{
	free(bp->bench_dir);
	free(bp->lab);
	free(bp->self);
}

/* A benchmark is named like its script: a-z, 0-9 and '-', no path. */
static int
bench_valid_name(const char *name)
{
	size_t	len = strlen(name);

	if (len == 0 || len > BENCH_NAME_MAX || name[0] == '-')
		return (0);
	return (strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") == len);
}

static int
bench_list(const struct bench_paths *bp)
{
	DIR		*d;
	struct dirent	*de;
	char		*path;
	int		 found = 0;

	if ((d = opendir(bp->bench_dir)) == NULL) {
		log_warn("%s", bp->bench_dir);
		return (EXIT_FAIL);
	}
	while ((de = readdir(d)) != NULL) {
		if (!bench_valid_name(de->d_name))
			continue;
		xasprintf(&path, "%s/%s", bp->bench_dir, de->d_name);
		if (bench_is_file(path, 1)) {
			printf("%s\n", de->d_name);
			found = 1;
		}
		free(path);
	}
	closedir(d);
	if (!found) {
		log_warnx("no benchmark in %s", bp->bench_dir);
		return (EXIT_FAIL);
	}
	return (EXIT_OK);
}

/* Replace this process with SCRIPT ARGS...; returns only on failure. */
static int
bench_exec(const struct bench_paths *bp, const char *script, int argc,
    char **argv)
{
	char	**nargv;
	int	  i;

	if (!bench_is_file(script, 1)) {
		log_warnx("%s: not found or not executable (see 'fleetcast "
		    "bench --help' for where scripts are looked for)", script);
		return (EXIT_FAIL);
	}
	/* The benchmark measures this binary unless told otherwise. */
	if (bp->self != NULL && setenv("FLEETCAST", bp->self, 0) == -1) {
		log_warn("setenv FLEETCAST");
		return (EXIT_FAIL);
	}
	if (bp->lab != NULL && setenv("FLEETCAST_LAB", bp->lab, 0) == -1) {
		log_warn("setenv FLEETCAST_LAB");
		return (EXIT_FAIL);
	}
	nargv = xcalloc(argc + 1, sizeof(*nargv));
	nargv[0] = (char *)script;
	for (i = 1; i < argc; i++)
		nargv[i] = argv[i];
	nargv[argc] = NULL;
	fflush(stdout);
	execv(script, nargv);
	log_warn("%s", script);
	free(nargv);
	return (EXIT_FAIL);
}

static int
cmd_bench(int argc, char **argv)
{
	struct bench_paths	 bp;
	char			*script;
	int			 rv;

	/*
	 * Only `fleetcast bench --help` is ours: a --help after the
	 * benchmark's name belongs to the script.
	 */
	bench_find(&bp);
	if (argc < 2) {
		bench_usage(stderr, &bp);
		bench_free(&bp);
		return (EXIT_USAGE);
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		bench_usage(stdout, &bp);
		bench_free(&bp);
		return (EXIT_OK);
	}
	if (strcmp(argv[1], "list") == 0) {
		if (argc == 3 && (strcmp(argv[2], "--help") == 0 ||
		    strcmp(argv[2], "-h") == 0)) {
			printf("usage: fleetcast bench list\n\n"
			    "Prints the benchmarks found in %s, one a line.\n",
			    bp.bench_dir);
			bench_free(&bp);
			return (EXIT_OK);
		}
		if (argc > 2) {
			bench_free(&bp);
			return (cli_usage_error("bench", "list: takes no "
			    "arguments"));
		}
		rv = bench_list(&bp);
		bench_free(&bp);
		return (rv);
	}
	if (strcmp(argv[1], "lab") == 0) {
		if (bp.lab == NULL) {
			log_warnx("lab.sh not found near %s; set FLEETCAST_LAB",
			    bp.bench_dir);
			bench_free(&bp);
			return (EXIT_FAIL);
		}
		script = xstrdup(bp.lab);
	} else {
		if (!bench_valid_name(argv[1])) {
			bench_free(&bp);
			return (cli_usage_error("bench", "'%.*s': not a "
			    "benchmark name (a-z 0-9 -, at most %d bytes; "
			    "'fleetcast bench list')", BENCH_NAME_MAX + 1,
			    argv[1], BENCH_NAME_MAX));
		}
		xasprintf(&script, "%s/%s", bp.bench_dir, argv[1]);
		if (!bench_is_file(script, 1)) {
			rv = cli_usage_error("bench", "'%s': no such benchmark "
			    "in %s ('fleetcast bench list')", argv[1],
			    bp.bench_dir);
			free(script);
			bench_free(&bp);
			return (rv);
		}
	}
	rv = bench_exec(&bp, script, argc - 1, argv + 1);
	free(script);
	bench_free(&bp);
	return (rv);
}

const struct cli_entry cmd_bench_entries[] = {
	{ "bench", NULL, cmd_bench,
	    "benchmark multicast throughput in a namespace lab; run the VM lab",
	    NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL }
};
