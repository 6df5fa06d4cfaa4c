/*
 * fleetcast: the admin command line.  This file only finds the command in
 * the one table of commands and subcommands and hands over; global options
 * (--api) come before the command name.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "log.h"
#include "xmalloc.h"

/*
 * The command table: every command and every subcommand that goes to the
 * server, in the order of `fleetcast --help' and of each command's usage
 * lines.
 */
static const struct cli_entry *const cli_table[] = {
	cmd_key_entries,
	cmd_package_entries,
	cmd_feed_entries,
	cmd_agentpkg_entries,
	cmd_machine_entries,
	cmd_server_entries,
	cmd_scenario_entries,
	cmd_run_entries,
	cmd_send_entries,
	cmd_sim_entries,
	cmd_bench_entries,
};
#define CLI_NTABLE	(sizeof(cli_table) / sizeof(cli_table[0]))

static void
usage(FILE *f)
{
	const struct cli_entry	*e;
	size_t			 i;

	fprintf(f, "usage: fleetcast [--api URL] [--ca FILE] [-v] COMMAND "
	    "[ARGS]\n"
	    "       fleetcast --version\n\ncommands:\n");
	for (i = 0; i < CLI_NTABLE; i++)
		for (e = cli_table[i]; e->name != NULL; e++)
			if (e->sub == NULL)
				fprintf(f, "  %-10s %s\n", e->name, e->usage);
	fprintf(f, "\n'fleetcast COMMAND --help' describes each command.\n");
}

/* A command's usage: one line per subcommand entry, then its own help. */
static void
cli_sub_usage(FILE *f, const struct cli_entry *own)
{
	const struct cli_entry	*e;
	size_t			 i;
	int			 first = 1;

	for (i = 0; i < CLI_NTABLE; i++)
		for (e = cli_table[i]; e->name != NULL; e++) {
			if (e->sub == NULL || strcmp(e->name, own->name) != 0)
				continue;
			fprintf(f, "%sfleetcast %s %s %s\n", first ?
			    "usage: " : "       ", e->name, e->sub, e->usage);
			first = 0;
		}
	if (own->help != NULL)
		own->help(f);
}

/* Run a subcommand's entry: its function, or its one request. */
static int
cli_run_sub(const struct cli_entry *e, int argc, char **argv)
{
	char	cmd[64];

	if (e->fn != NULL)
		return (e->fn(argc, argv));
	snprintf(cmd, sizeof(cmd), "%s %s", e->name, e->sub);
	return (http_one(e->one, cmd, argc, argv));
}

/*
 * Run the command argv[0].  A subcommand of the table runs unless --help
 * is anywhere on the line; anything else goes to the command's own
 * function, or, for a command that is nothing but its subcommands, is
 * its usage: on stdout for --help, else on stderr with exit 2.
 */
static int
cli_dispatch(int argc, char **argv)
{
	const struct cli_entry	*e, *own = NULL, *sub = NULL;
	size_t			 i;

	for (i = 0; i < CLI_NTABLE; i++)
		for (e = cli_table[i]; e->name != NULL; e++) {
			if (strcmp(e->name, argv[0]) != 0)
				continue;
			if (e->sub == NULL)
				own = e;
			else if (argc >= 2 && strcmp(e->sub, argv[1]) == 0)
				sub = e;
		}
	if (own == NULL) {
		fprintf(stderr, "fleetcast: unknown command '%s'\n", argv[0]);
		usage(stderr);
		return (EXIT_USAGE);
	}
	if (sub != NULL) {
		if (cli_wants_help(argc, argv)) {
			cli_sub_usage(stdout, own);
			return (EXIT_OK);
		}
		return (cli_run_sub(sub, argc, argv));
	}
	if (own->fn != NULL)
		return (own->fn(argc, argv));
	if (argc < 2) {
		cli_sub_usage(stderr, own);
		return (EXIT_USAGE);
	}
	if (cli_wants_help(argc, argv)) {
		cli_sub_usage(stdout, own);
		return (EXIT_OK);
	}
	cli_sub_usage(stderr, own);
	return (cli_usage_error(argv[0], "unknown subcommand '%s'", argv[1]));
}

/*
 * The API URL from the server's api_listen; NULL if it does not set it.
 * https when the config gives the API TLS (api_tls = ca or a certificate
 * of its own).  The server CA's certificate names fleetcastd, localhost
 * and the host's name, not its addresses, so with api_tls = ca the API
 * is reached as localhost (a wildcard or loopback listener) or by the
 * host's name.
 */
static char *
cli_conf_api(void)
{
	const char *conf = cli_server_conf();
	char	*listen, *host, *url, *v, name[256];
	const char *s = "http";
	uint16_t port;
	int	 ca = 0;

	if ((listen = conf_peek(conf, "api_listen")) == NULL)
		return (NULL);
	if (parse_hostport(listen, &host, &port) == -1) {
		free(listen);
		return (NULL);
	}
	if ((v = conf_peek(conf, "api_tls")) != NULL) {
		ca = strcmp(v, "ca") == 0;
		free(v);
	}
	if ((v = conf_peek(conf, "api_tls_cert")) != NULL) {
		if (*v != '\0')
			s = "https";
		free(v);
	}
	if (ca) {
		s = "https";
		if (*host == '\0' || strcmp(host, "0.0.0.0") == 0 ||
		    strcmp(host, "::") == 0 || strncmp(host, "127.", 4) == 0 ||
		    strcmp(host, "::1") == 0)
			snprintf(name, sizeof(name), "localhost");
		else if (gethostname(name, sizeof(name)) == -1)
			name[0] = '\0';
		name[sizeof(name) - 1] = '\0';
		if (name[0] != '\0') {
			free(host);
			host = xstrdup(name);
		}
	}
	/* A wildcard listener is reached on the loopback. */
	if (strcmp(host, "0.0.0.0") == 0 || *host == '\0')
		xasprintf(&url, "%s://127.0.0.1:%u", s, port);
	else if (strcmp(host, "::") == 0)
		xasprintf(&url, "%s://[::1]:%u", s, port);
	else if (strchr(host, ':') != NULL)
		xasprintf(&url, "%s://[%s]:%u", s, host, port);
	else
		xasprintf(&url, "%s://%s:%u", s, host, port);
	free(host);
	free(listen);
	return (url);
}

/*
 * A global option with a value, NAME VALUE or NAME=VALUE, into *val: the
 * arguments it took, 0 if argv[0] is not NAME, -1 (said) without a value.
 */
static int
cli_global_opt(int argc, char **argv, const char *name, const char *what,
    const char **val)
{
	size_t	len = strlen(name);

	if (strncmp(argv[0], name, len) != 0)
		return (0);
	if (argv[0][len] == '=') {
		*val = argv[0] + len + 1;
		return (1);
	}
	if (argv[0][len] != '\0')
		return (0);
	if (argc < 2) {
		cli_usage_error(name, "needs %s", what);
		return (-1);
	}
	*val = argv[1];
	return (2);
}

int
main(int argc, char **argv)
{
	const char	*env;
	char		*conf_url = NULL;
	int		 n;

	log_init("fleetcast", 1, 0);
	if ((env = getenv("FLEETCAST_API")) != NULL && *env != '\0')
		cli_api_url = env;
	else if ((conf_url = cli_conf_api()) != NULL)
		cli_api_url = conf_url;	/* lives as long as the program */
	argc--;
	argv++;
	while (argc > 0 && argv[0][0] == '-') {
		if ((n = cli_global_opt(argc, argv, "--api", "a URL",
		    &cli_api_url)) != 0 || (n = cli_global_opt(argc, argv,
		    "--ca", "a file of CA certificates (PEM)",
		    &cli_api_ca)) != 0) {
			if (n == -1)
				return (EXIT_USAGE);
			argc -= n;
			argv += n;
		} else if (strcmp(argv[0], "--help") == 0 ||
		    strcmp(argv[0], "-h") == 0) {
			usage(stdout);
			return (EXIT_OK);
		} else if (strcmp(argv[0], "--version") == 0) {
			printf("fleetcast %s\n", FC_VERSION);
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
	return (cli_dispatch(argc, argv));
}
