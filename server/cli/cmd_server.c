/*
 * `fleetcast server fingerprint`: what an agent pins before it enrolls,
 * the SHA-256 of the server's CA certificate, as the server answers it
 * over the API (GET /v1/server), printed as the agent's config line so
 * that it can be pasted into fleetcast-agent.conf.  --json shows the
 * control channel's counts as well.
 */
#include <stdio.h>

#include <jansson.h>

#include "cli.h"

static int
server_fingerprint(int argc, char **argv)
{
	struct http_res	 res;
	const char	*arg;
	int		 json, rv;

	if ((json = http_json_arg(argc, argv, 2, "server fingerprint",
	    &arg)) == -1)
		return (EXIT_USAGE);
	if (arg != NULL)
		return (cli_usage_error("server fingerprint", "unexpected "
		    "argument '%s'", arg));
	if ((rv = http_call("server fingerprint", "GET", "/v1/server", NULL,
	    &res)) != EXIT_OK)
		return (rv);
	if (json)
		show_json(res.json);
	else
		printf("server_fingerprint = %s\n", show_str(res.json,
		    "fingerprint"));
	http_res_free(&res);
	return (EXIT_OK);
}

const struct cli_entry cmd_server_entries[] = {
	{ "server", NULL, NULL, "the server's fingerprint, for the agents",
	    NULL, NULL },
	{ "server", "fingerprint", server_fingerprint, "[--json]", NULL,
	    NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL }
};
