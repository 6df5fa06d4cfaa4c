/*
 * What every command of the CLI uses: the API's address, the messages and
 * exit statuses of bad usage and failure, and the server's configuration
 * file on this host.  It calls nothing of the commands, so that they all
 * stand on it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const char *cli_api_url = "http://127.0.0.1:56080";

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
 * The server's configuration file on this host, where the CLI looks for the
 * API's address and the state directory holding the admin token when
 * nothing else says: an admin on the server's host who moved them needs no
 * flags.  $FLEETCAST_SERVER_CONF if set; else fleetcastd's default for this
 * build (sysconfdir), else /etc/fleetcast's, whichever exists (a build
 * installed under /usr/local still finds a server configured as the guide
 * does).  With neither, the build's default, which does not exist.
 */
const char *
cli_server_conf(void)
{
	const char	*p;

	if ((p = getenv("FLEETCAST_SERVER_CONF")) != NULL && *p != '\0')
		return (p);
	if (access(CLI_SERVER_CONF, F_OK) == -1 &&
	    access(CLI_SERVER_CONF_ETC, F_OK) == 0)
		return (CLI_SERVER_CONF_ETC);
	return (CLI_SERVER_CONF);
}

/* Is there a --help (or -h) anywhere on the command's line? */
int
cli_wants_help(int argc, char **argv)
{
	int	i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return (1);
	return (0);
}

/*
 * A duration option: "N" (in units of bare seconds each), "Ns", "Nm",
 * "Nh" or "Nd"; seconds, or -1 when it is not one or is above max.
 */
long long
cli_duration(const char *s, long long bare, long long max)
{
	char		*end;
	long long	 v, mul = bare;

	if (!isdigit((unsigned char)s[0]))
		return (-1);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0)
		return (-1);
	if (strcmp(end, "s") == 0)
		mul = 1;
	else if (strcmp(end, "m") == 0)
		mul = 60;
	else if (strcmp(end, "h") == 0)
		mul = 3600;
	else if (strcmp(end, "d") == 0)
		mul = 86400;
	else if (*end != '\0')
		return (-1);
	if (v <= 0 || v > max / mul)
		return (-1);
	return (v * mul);
}
