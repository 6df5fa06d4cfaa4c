/*
 * GET /metrics (metrics.c): the server's counters in the Prometheus text
 * exposition format, on api_listen behind the admin token (api.c calls
 * metrics_write) and, when metrics_listen is set, on a listener of its
 * own without a token.  What only the API knows (its requests and
 * connections) comes through metrics_cb, asked at each scrape.
 */
#ifndef FC_METRICS_H
#define FC_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct server;
struct metrics;

/* The API's requests so far, by route and HTTP status. */
struct metrics_route {
	const char	*route;
	int		 status;
	uint64_t	 n;
};

struct metrics_api {
	const struct metrics_route *routes;
	size_t		 nroutes;
	size_t		 conns;		/* open now */
	uint64_t	 refused;	/* over a connection limit */
};

struct metrics_cb {
	void	(*api)(void *, struct metrics_api *);
};

struct metrics	*metrics_new(struct server *, const struct metrics_cb *,
		    void *, char *, size_t);
void		 metrics_free(struct metrics *);
void		 metrics_write(struct metrics *, struct evbuffer *);

#endif
