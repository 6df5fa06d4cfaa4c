/*
 * `fleetcast machine list|show|approve|clear-error|reboot|poweroff|token|
 * tokens|revoke-token`: the machines the server knows (their agent
 * version and power state too) and the tokens they enroll with, over its
 * API.  Options are checked here as far as they
 * can be without the server, so that a typo is exit status 2 with the
 * option named; the server checks everything again.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

/* The agent_current field: yes, no, or - (no agent package, or unknown). */
static const char *
machine_current(json_t *o)
{
	json_t	*v = json_object_get(o, "agent_current");

	return (json_is_true(v) ? "yes" : json_is_false(v) ? "no" : "-");
}

static void
machine_rows(json_t *a)
{
	json_t	*o, *r;
	size_t	 i, j;

	/*
	 * REQUEST KEY: what machine approve --fingerprint takes; AGENT and
	 * CURRENT: its agent version, and whether it is the one the server
	 * ships (M4); POWER: online, agent_down or off (M2).
	 */
	printf("%-24s %-16s %-16s %-7s %-16s %-24s %-16s %-7s %-10s %s\n",
	    "NAME", "STATE", "REQUEST KEY", "SEGMENT", "ADDRESS", "LAST SEEN",
	    "AGENT", "CURRENT", "POWER", "ERROR");
	json_array_foreach(a, i, o) {
		printf("%-24s %-16s %-16.16s %-7s %-16s %-24s %-16s %-7s %-10s "
		    "%s\n", show_str(o, "name"), show_str(o, "state"),
		    show_str(o, "request_fingerprint"), show_str(o, "segment"),
		    show_str(o, "address"), show_str(o, "last_seen"),
		    show_str(o, "agent_version"), machine_current(o),
		    show_str(o, "power"), show_str(o, "error"));
		/* Other keys that asked for the name: requests of their own. */
		json_array_foreach(json_object_get(o, "other_requests"), j, r)
			printf("%-24s %-16s %-16.16s %-7s %-16s %-24s %-16s "
			    "%-7s %-10s %s\n", show_str(o, "name"),
			    "other_request", show_str(r, "fingerprint"), "-",
			    show_str(r, "address"), show_str(r,
			    "requested_at"), "-", "-", "-",
			    "approve with --fingerprint");
	}
}

static void
token_rows(json_t *a)
{
	json_t	*o;
	size_t	 i;
	char	 uses[64];

	printf("%-16s %-24s %-9s %-24s %s\n", "ID", "MACHINE", "USES LEFT",
	    "EXPIRES", "ORIGIN");
	json_array_foreach(a, i, o) {
		show_val(o, "uses_left", uses, sizeof(uses));
		printf("%-16s %-24s %-9s %-24s %s\n", show_str(o, "id"),
		    json_is_null(json_object_get(o, "machine")) ?
		    "(any new name)" : show_str(o, "machine"), uses,
		    show_str(o, "expires_at"), show_str(o, "origin"));
	}
}

/*
 * A new enrollment token: one use within 24 hours unless told otherwise,
 * for one name with --name.  The token (ID.SECRET.FP) is printed alone on
 * stdout, to go into the agent's enroll_token; it is shown only now.
 */
static int
machine_token(int argc, char **argv)
{
	struct http_res	 res;
	const char	*name = NULL;
	long long	 expires = 86400, uses = 1;
	char		*end;
	json_t		*body;
	int		 i, json = 0, rv;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
			continue;
		}
		if (strcmp(argv[i], "--name") != 0 &&
		    strcmp(argv[i], "--expires") != 0 &&
		    strcmp(argv[i], "--uses") != 0)
			return (cli_usage_error("machine token", "%s '%s'",
			    argv[i][0] == '-' ? "unknown option" :
			    "unexpected argument", argv[i]));
		if (i + 1 == argc)
			return (cli_usage_error("machine token", "%s needs a "
			    "value", argv[i]));
		if (strcmp(argv[i], "--name") == 0)
			name = argv[++i];
		else if (strcmp(argv[i], "--expires") == 0) {
			if ((expires = cli_duration(argv[++i], 1,
			    400LL * 86400)) == -1)
				return (cli_usage_error("machine token",
				    "--expires: '%s' is not a duration (N, Ns, "
				    "Nm, Nh or Nd, at most 366 days)",
				    argv[i]));
		} else {
			uses = strtoll(argv[++i], &end, 10);
			if (*end != '\0' || end == argv[i] || uses < 1 ||
			    uses > 1000000)
				return (cli_usage_error("machine token",
				    "--uses: '%s' must be 1 to 1000000",
				    argv[i]));
		}
	}
	body = json_pack("{s:s?, s:I, s:I}", "name", name, "uses",
	    (json_int_t)uses, "expires", (json_int_t)expires);
	rv = http_call("machine token", "POST", "/v1/tokens", body, &res);
	json_decref(body);
	if (rv != EXIT_OK)
		return (rv);
	if (json)
		show_json(res.json);
	else {
		fprintf(stderr, "enrollment token for %s, %lld use%s, expires "
		    "in %lld s; put it in the agent's enroll_token (it "
		    "carries the server fingerprint %.16s...):\n",
		    name != NULL ? name : "any new name", uses,
		    uses == 1 ? "" : "s", expires,
		    show_str(res.json, "fingerprint"));
		printf("%s\n", show_str(res.json, "token"));
	}
	http_res_free(&res);
	return (EXIT_OK);
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
	{ "machine", NULL, NULL, "list, show, approve machines; clear errors; "
	    "reboot, power off; enrollment tokens",
	    NULL, NULL },
	{ "machine", "list", NULL, "[--json]", NULL, &(const struct http_one){
	    "GET", "/v1/machines", NULL, NULL, machine_rows } },
	{ "machine", "show", NULL, "NAME [--json]", NULL, &(const struct
	    http_one){ "GET", "/v1/machines/", "", NULL, NULL } },
	{ "machine", "approve", machine_approve, "NAME [--fingerprint FP]",
	    NULL, NULL },
	{ "machine", "clear-error", machine_clear_error, "NAME [--json]",
	    NULL, NULL },
	{ "machine", "reboot", NULL, "NAME [--json]", NULL, &(const struct
	    http_one){ "POST", "/v1/machines/", "/reboot", "reboot requested "
	    "(its agent runs reboot_command; machine show has the outcome)",
	    NULL } },
	{ "machine", "poweroff", NULL, "NAME [--json]", NULL, &(const struct
	    http_one){ "POST", "/v1/machines/", "/poweroff", "power-off "
	    "requested (its agent runs poweroff_command; machine show has the "
	    "outcome)", NULL } },
	{ "machine", "token", machine_token, "[--name NAME] [--expires "
	    "DURATION] [--uses N] [--json]", NULL, NULL },
	{ "machine", "tokens", NULL, "[--json]", NULL, &(const struct
	    http_one){ "GET", "/v1/tokens", NULL, NULL, token_rows } },
	{ "machine", "revoke-token", NULL, "ID", NULL, &(const struct
	    http_one){ "DELETE", "/v1/tokens/", "", "revoked", NULL } },
	{ NULL, NULL, NULL, NULL, NULL, NULL }
};
