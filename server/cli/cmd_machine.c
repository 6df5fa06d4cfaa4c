/*
 * `fleetcast machine list|show|approve|clear-error`: the machines the
 * server knows, over its API.  Options are checked here as far as they
 * can be without the server, so that a typo is exit status 2 with the
 * option named; the server checks everything again.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static void
machine_rows(json_t *a)
{
	json_t	*o;
	size_t	 i;

	/* REQUEST KEY: what machine approve --fingerprint takes. */
	printf("%-24s %-16s %-16s %-7s %-16s %-24s %s\n", "NAME", "STATE",
	    "REQUEST KEY", "SEGMENT", "ADDRESS", "LAST SEEN", "ERROR");
	json_array_foreach(a, i, o)
		printf("%-24s %-16s %-16.16s %-7s %-16s %-24s %s\n",
		    show_str(o, "name"), show_str(o, "state"),
		    show_str(o, "request_fingerprint"), show_str(o, "segment"),
		    show_str(o, "address"), show_str(o, "last_seen"),
		    show_str(o, "error"));
}

/*
 * Approve the enrollment request a machine has now; with --fingerprint,
 * only if it still has the key the admin saw in machine list or show.
 */
static int
machine_approve(int argc, char **argv)
{
	struct http_res	 res;
	const char	*name = NULL, *fp = NULL;
	json_t		*body = NULL;
	size_t		 k;
	int		 i, json = 0, rv;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--fingerprint") == 0) {
			if (++i == argc)
				return (cli_usage_error("machine approve",
				    "--fingerprint needs a value"));
			fp = argv[i];
		} else if (argv[i][0] == '-')
			return (cli_usage_error("machine approve", "unknown "
			    "option '%s'", argv[i]));
		else if (name == NULL)
			name = argv[i];
		else
			return (cli_usage_error("machine approve", "unexpected "
			    "argument '%s'", argv[i]));
	}
	if (name == NULL)
		return (cli_usage_error("machine approve", "a name is needed"));
	if (fp != NULL) {
		for (k = 0; fp[k] != '\0' && isxdigit((unsigned char)fp[k]);
		    k++)
			;
		if (fp[k] != '\0' || k < 16 || k > 64)
			return (cli_usage_error("machine approve",
			    "--fingerprint: '%s' must be 16 to 64 hex digits "
			    "of the REQUEST KEY that machine list or show "
			    "gives", fp));
		body = json_pack("{s:s}", "fingerprint", fp);
	}
	rv = http_call_on("machine approve", "POST", "/v1/machines/", name,
	    "/approve", body, &res);
	if (rv != EXIT_OK)
		return (rv);
	if (json)
		show_json(res.json);
	else
		printf("%s approved (key fingerprint %s)\n", name,
		    show_str(res.json, "approved_fingerprint"));
	http_res_free(&res);
	return (EXIT_OK);
}

/* Clear a machine's sticky error (S6), saying whether it had one. */
static int
machine_clear_error(int argc, char **argv)
{
	struct http_res	 res;
	const char	*name;
	int		 json, rv;

	if ((json = http_json_arg(argc, argv, 2, "machine clear-error",
	    &name)) == -1)
		return (EXIT_USAGE);
	if (name == NULL)
		return (cli_usage_error("machine clear-error", "NAME is "
		    "needed"));
	rv = http_call_on("machine clear-error", "POST", "/v1/machines/",
	    name, "/clear-error", NULL, &res);
	if (rv != EXIT_OK)
		return (rv);
	if (json)
		show_json(res.json);
	else if (json_is_false(json_object_get(res.json, "cleared")))
		printf("%s has no error to clear\n", name);
	else
		printf("%s error cleared\n", name);
	http_res_free(&res);
	return (EXIT_OK);
}

const struct cli_entry cmd_machine_entries[] = {
	{ "machine", NULL, NULL, "list, show, approve machines; clear errors",
	    NULL, NULL },
	{ "machine", "list", NULL, "[--json]", NULL, &(const struct http_one){
	    "GET", "/v1/machines", NULL, NULL, machine_rows } },
	{ "machine", "show", NULL, "NAME [--json]", NULL, &(const struct
	    http_one){ "GET", "/v1/machines/", "", NULL, NULL } },
	{ "machine", "approve", machine_approve, "NAME [--fingerprint FP]",
	    NULL, NULL },
	{ "machine", "clear-error", machine_clear_error, "NAME [--json]",
	    NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL }
};
