/*
 * fleetcast: the admin command line.  This file only finds the command and
 * hands over; global options (--api) come before the command name.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "log.h"
#include "xmalloc.h"

const char *cli_api_url = "http://127.0.0.1:56080";

static const struct {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*what;
} commands[] = {
	{ "key",	cmd_key,	"generate signing keys and transport PSKs" },
	{ "package",	cmd_package,	"build, inspect, verify packages; add, list, show, remove (server)" },
	{ "machine",	cmd_machine,	"list, show, approve machines; clear errors" },
	{ "scenario",	cmd_scenario,	"create, list, show, remove and run scenarios" },
	{ "run",	cmd_run,	"list, show, watch, start and cancel scenario runs" },
	{ "send",	cmd_send,	"send a file to a multicast group (standalone)" },
	{ "receive",	cmd_receive,	"receive a file from a multicast group (standalone)" },
	{ "sim",	cmd_sim,	"simulate max-targets / max-wait behaviour of a scenario" },
	{ "bench",	cmd_bench,	"benchmark multicast throughput in a namespace lab" },
};

static void
usage(FILE *f)
{
	size_t	i;

	fprintf(f, "usage: fleetcast [--api URL] [-v] COMMAND [ARGS]\n"
	    "       fleetcast --version\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].what);
	fprintf(f, "\n'fleetcast COMMAND --help' describes each command.\n");
}

/* Print "fleetcast CMD: message" on stderr. */
static void
cli_vwarn(const char *cmd, const char *fmt, va_list ap)
{
	fprintf(stderr, "fleetcast %s: ", cmd);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* Print "fleetcast CMD: message" and return the usage exit status. */
int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	cli_vwarn(cmd, fmt, ap);
	va_end(ap);
	return (EXIT_USAGE);
}

/* Print "fleetcast CMD: message" and return the failure exit status. */
int
cli_fail(const char *cmd, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	cli_vwarn(cmd, fmt, ap);
	va_end(ap);
	return (EXIT_FAIL);
}

/*
 * After getopt_long() with opterr = 0: ':' (an option's value is missing)
 * or anything else it returned for an option it does not know, as a usage
 * error naming the option as it was typed.
 */
int
cli_getopt_error(const char *cmd, int ch, char **argv)
{
	if (ch == ':')
		return (cli_usage_error(cmd, "%s: needs a value",
		    argv[optind - 1]));
	return (cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]));
}

/*
 * The server's configuration file on this host ($FLEETCAST_SERVER_CONF, else
 * fleetcastd's default), where the CLI looks for the API's address and the
 * state directory holding the admin token when nothing else says: an admin
 * on the server's host who moved them needs no flags.
 */
const char *
cli_server_conf(void)
{
	const char	*p;

	if ((p = getenv("FLEETCAST_SERVER_CONF")) != NULL && *p != '\0')
		return (p);
	return (FC_SYSCONFDIR "/fleetcast/fleetcastd.conf");
}

/* The API URL from the server's api_listen; NULL if it does not set it. */
static char *
cli_conf_api(void)
{
	char	*listen, *host, *url;
	uint16_t port;

	if ((listen = conf_peek(cli_server_conf(), "api_listen")) == NULL)
		return (NULL);
	if (parse_hostport(listen, &host, &port) == -1) {
		free(listen);
		return (NULL);
	}
	/* A wildcard listener is reached on the loopback. */
	if (strcmp(host, "0.0.0.0") == 0 || *host == '\0')
		xasprintf(&url, "http://127.0.0.1:%u", port);
	else if (strcmp(host, "::") == 0)
		xasprintf(&url, "http://[::1]:%u", port);
	else if (strchr(host, ':') != NULL)
		xasprintf(&url, "http://[%s]:%u", host, port);
	else
		xasprintf(&url, "http://%s:%u", host, port);
	free(host);
	free(listen);
	return (url);
}

int
cli_wants_help(int argc, char **argv)
{
	int	i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return (1);
	return (0);
}

int
main(int argc, char **argv)
{
	const char	*env;
	char		*conf_url = NULL;
	size_t		 i;

	log_init("fleetcast", 1, 0);
	if ((env = getenv("FLEETCAST_API")) != NULL && *env != '\0')
		cli_api_url = env;
	else if ((conf_url = cli_conf_api()) != NULL)
		cli_api_url = conf_url;	/* lives as long as the program */
	argc--;
	argv++;
	while (argc > 0 && argv[0][0] == '-') {
		if (strcmp(argv[0], "--api") == 0) {
			if (argc < 2)
				return (cli_usage_error("--api", "needs a URL"));
			cli_api_url = argv[1];
			argc -= 2;
			argv += 2;
		} else if (strncmp(argv[0], "--api=", 6) == 0) {
			cli_api_url = argv[0] + 6;
			argc--;
			argv++;
		} else if (strcmp(argv[0], "--help") == 0 ||
		    strcmp(argv[0], "-h") == 0) {
			usage(stdout);
			return (EXIT_OK);
		} else if (strcmp(argv[0], "--version") == 0) {
			printf("fleetcast %s\n", PACKAGE_VERSION);
			return (EXIT_OK);
		} else if (strcmp(argv[0], "-v") == 0) {
			log_setverbose(log_getverbose() + 1);
			argc--;
			argv++;
		} else {
			fprintf(stderr, "fleetcast: unknown option '%s'\n",
			    argv[0]);
			usage(stderr);
			return (EXIT_USAGE);
		}
	}
	if (argc == 0) {
		usage(stderr);
		return (EXIT_USAGE);
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			return (commands[i].fn(argc, argv));
	fprintf(stderr, "fleetcast: unknown command '%s'\n", argv[0]);
	usage(stderr);
	return (EXIT_USAGE);
}
