/*
 * A receiver that knows the file's SHA-256 in advance, as the agent does
 * from ASSIGN, for the integration tests: unlike `fleetcast receive` it
 * resumes its staging file on a *new* session of the same content (a
 * sender that restarted, the unicast fallback), which is what
 * transport_resume_new.sh checks.  Usage:
 *
 *	recv_expect GROUP PSKFILE OUT SHA256HEX
 *
 * It prints one JSON line (ok, resumed_bytes, received_bytes, error) and
 * exits 0 when the file arrived and verified, 1 otherwise, 2 on bad usage.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "crypto.h"
#include "log.h"
#include "psk.h"
#include "udp.h"
#include "xrecv.h"

struct rx {
	struct event_base	*base;
	int			 done;
	int			 ok;
	char			 err[256];
};

static void
rx_finished(void *arg, int ok, const char *err)
{
	struct rx	*x = arg;

	x->done = 1;
	x->ok = ok;
	snprintf(x->err, sizeof(x->err), "%s", err != NULL ? err : "");
	event_base_loopbreak(x->base);
}

int
main(int argc, char **argv)
{
	static const struct xrecv_cb	cb = { NULL, NULL, rx_finished };
	struct xrecv_conf		conf;
	struct xrecv_stats		st;
	struct xrecv			*xr;
	struct rx			x;
	char				err[384];
	const char			*p;

	if (argc != 5) {
		fprintf(stderr, "usage: recv_expect GROUP PSKFILE OUT "
		    "SHA256HEX\n");
		return (2);
	}
	log_init("recv_expect", 1, getenv("TEST_VERBOSE") != NULL ? 2 : 0);
	memset(&conf, 0, sizeof(conf));
	memset(&x, 0, sizeof(x));
	if (udp_parse(argv[1], &conf.group, 0, err, sizeof(err)) == -1) {
		fprintf(stderr, "recv_expect: GROUP: %s\n", err);
		return (2);
	}
	if (psk_read(argv[2], conf.key, err, sizeof(err)) == -1) {
		fprintf(stderr, "recv_expect: PSKFILE: %s\n", err);
		return (2);
	}
	conf.out = argv[3];
	if (strlen(argv[4]) != 2 * SHA256_LEN ||
	    hex_decode(argv[4], conf.expect_sha256, SHA256_LEN) == -1) {
		fprintf(stderr, "recv_expect: SHA256HEX: 64 hex digits\n");
		return (2);
	}
	conf.expect_digest = 1;
	if ((p = getenv("FLEETCAST_SENDER_TIMEOUT_MS")) != NULL)
		conf.sender_timeout_ms = atoi(p);
	signal(SIGPIPE, SIG_IGN);
	if ((x.base = event_base_new()) == NULL) {
		fprintf(stderr, "recv_expect: event_base_new failed\n");
		return (1);
	}
	if ((xr = xrecv_new(x.base, &conf, &cb, &x, err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "recv_expect: %s\n", err);
		return (1);
	}
	xrecv_start(xr);
	while (!x.done)
		if (event_base_dispatch(x.base) == -1)
			break;
	xrecv_stats(xr, &st);
	printf("{\"ok\": %s, \"resumed_bytes\": %llu, \"received_bytes\": "
	    "%llu, \"error\": \"%s\"}\n", x.ok ? "true" : "false",
	    (unsigned long long)st.resumed_bytes,
	    (unsigned long long)st.received_bytes, x.ok ? "" : "failed");
	if (!x.ok)
		fprintf(stderr, "recv_expect: %s\n", x.err);
	xrecv_free(xr);
	event_base_free(x.base);
	return (x.ok ? 0 : 1);
}
