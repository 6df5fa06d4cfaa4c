/*
 * The helpers every part of the server shares and none owns: the wall
 * clock that timestamps the database and the agents' WELCOME, the `rate`
 * key's parser (for fleetcastd's config check and the runs' senders), and
 * the trusted package keys (the API's package add).  They live below the
 * parts that use them, so that nothing calls up into fleetcastd.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "conf.h"
#include "crypto.h"
#include "server.h"
#include "xmalloc.h"

#define MAX_TRUSTED	64

uint64_t
server_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* The `rate` key (common/conf.c parse_rate): bytes per second, 0 for auto. */
int
server_parse_rate(const char *s, uint64_t *bytes, char *err, size_t errlen)
{
	char	msg[256];

	if (parse_rate(s, bytes, msg, sizeof(msg)) == -1) {
		snprintf(err, errlen, "rate: %s", msg);
		return (-1);
	}
	return (0);
}

/*
 * The trusted public keys for package signatures, read at each use so that
 * an admin can add a key without restarting the server.
 */
int
server_load_trusted(struct server *srv, uint8_t (**keys)[ED25519_PUB_LEN],
    size_t *n, char *err, size_t errlen)
{
	const char	*path = conf_str(srv->conf, "trusted_keys");

	*keys = NULL;
	*n = 0;
	if (path == NULL) {
		snprintf(err, errlen, "trusted_keys: not set in the server "
		    "configuration; no package can be verified");
		return (-1);
	}
	*keys = xcalloc(MAX_TRUSTED, sizeof(**keys));
	if (ed25519_read_public(path, *keys, MAX_TRUSTED, n, err,
	    errlen) == -1) {
		free(*keys);
		*keys = NULL;
		return (-1);
	}
	if (*n == 0) {
		snprintf(err, errlen, "trusted_keys: %s holds no key", path);
		free(*keys);
		*keys = NULL;
		return (-1);
	}
	return (0);
}
