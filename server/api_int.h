/*
 * The HTTP API's private interface between its files: api.c, which
 * parses and answers the requests, api_package.c, which copies and
 * verifies an added package in a child process and registers it, and
 * api_sim.c, which runs the simulator for POST /v1/sim, and api_tls.c,
 * which builds the API's TLS context.  api.c calls down into them; a
 * package add's answer comes back through api_package_cb.
 */
#ifndef FC_API_INT_H
#define FC_API_INT_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define API_MAX_PACKAGE		(128ULL << 30)	/* bytes, from a path */

struct evbuffer;
struct evhttp_request;
struct json_t;
struct server;
struct api_package;

/*
 * A package add is done: status 0 and the package's JSON (NULL if it
 * could not be read back), or the HTTP status of the failure and why.
 */
struct api_package_cb {
	void	(*done)(void *, struct evhttp_request *, int, struct json_t *,
		    const char *);
};

struct api_package *api_package_new(struct server *,
		    const struct api_package_cb *, void *);
void		 api_package_free(struct api_package *);
size_t		 api_package_count(struct api_package *);
int		 api_package_start(struct api_package *,
		    struct evhttp_request *, int, struct evbuffer *,
		    const char *, uint64_t, const uint8_t (*)[ED25519_PUB_LEN],
		    size_t, char *, size_t);
void		 api_package_unlink(const char *);

struct ssl_ctx_st;

/* The API's TLS context (NULL: plain HTTP, on loopback only), or -1. */
int		 api_tls_setup(struct server *, const char *,
		    struct ssl_ctx_st **, char *, size_t);
int		 api_tls_loopback(const char *);

/* POST /v1/sim: the answer, or NULL with the HTTP status and why. */
struct json_t	*api_sim_run(struct json_t *, int *, char *, size_t);

#endif
