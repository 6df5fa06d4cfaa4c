/*
 * The server's metrics in the Prometheus text exposition format (version
 * 0.0.4): machines and runs by state from the inventory, the transfers'
 * counts from xfer.c (through runs.c), the control channel's connections
 * and refusals and its agents' longest silence, the API's requests by
 * route and status (from api.c, through metrics_cb), and the time the
 * inventory's commits take, and the package feed's serial, fetch times,
 * failures and registrations (from feed.c; none without feed_url).
 * Counters end in _total, sizes are in bytes
 * and times in seconds, as Prometheus names them.  Nothing here keeps a
 * count of its own: every figure is read at the scrape from the module
 * that keeps it, so a scrape costs a few small queries and no work
 * between scrapes.  Served by api.c on api_listen (with the admin token)
 * and, when metrics_listen is set, here on a listener that needs none,
 * for a Prometheus that should not hold the admin token.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "conf.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "server.h"
#include "xmalloc.h"

struct metrics {
	struct server		*srv;
	struct metrics_cb	 cb;
	void			*arg;
	struct evhttp		*http;		/* metrics_listen, or NULL */
	uint64_t		 scrapes;
};

/* The states a gauge always shows, 0 included, so that series persist. */
static const char *metrics_machine_states[] = {
	"online", "offline", "approved", "pending_approval",
};
static const char *metrics_run_states[] = {
	"waiting", "transferring", "finished",
};
static const char *metrics_target_states[] = {
	"assigned", "ready", "queued", "transferring", "delivered",
	"pending_boot", "running", "succeeded", "failed", "error", "missed",
	"interrupted",
};

static void
metrics_head(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A label value as the format wants it: \, " and newline escaped. */
static void
metrics_label(struct evbuffer *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			evbuffer_add_printf(b, "\\%c", *v);
		else if (*v == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, v, 1);
	}
}

static void
metrics_u64(struct evbuffer *b, const char *name, const char *type,
    const char *help, uint64_t v)
{
	metrics_head(b, name, type, help);
	evbuffer_add_printf(b, "%s %" PRIu64 "\n", name, v);
}

/* One gauge by state: the listed states, from rows {"state", "n"}. */
static void
metrics_states(struct evbuffer *b, const char *name, const char *help,
    const char **states, size_t nstates, json_t *rows)
{
	json_t		*r;
	size_t		 i, j;
	json_int_t	 n;

	metrics_head(b, name, "gauge", help);
	for (i = 0; i < nstates; i++) {
		n = 0;
		json_array_foreach(rows, j, r)
			if (json_is_string(json_object_get(r, "state")) &&
			    strcmp(json_string_value(json_object_get(r,
			    "state")), states[i]) == 0)
				n = json_integer_value(json_object_get(r, "n"));
		evbuffer_add_printf(b, "%s{state=\"%s\"} %lld\n", name,
		    states[i], (long long)n);
	}
}

static void
metrics_machines(struct metrics *m, struct evbuffer *b)
{
	json_t		*o, *rows;
	const char	*k;
	json_t		*v;

	if ((o = db_machine_counts(m->srv->db)) == NULL)
		return;
	rows = json_array();
	json_object_foreach(o, k, v)
		if (strcmp(k, "error") != 0)
			json_array_append_new(rows, json_pack("{s:s, s:O}",
			    "state", k, "n", v));
	metrics_states(b, "fleetcast_machines", "Machines in the inventory "
	    "by state.", metrics_machine_states, sizeof(metrics_machine_states)
	    / sizeof(metrics_machine_states[0]), rows);
	metrics_u64(b, "fleetcast_machines_in_error", "gauge", "Machines "
	    "with a sticky scenario error (cleared by clear-error).",
	    (uint64_t)json_integer_value(json_object_get(o, "error")));
	json_decref(rows);
	json_decref(o);
}

static void
metrics_runs(struct metrics *m, struct evbuffer *b)
{
	json_t	*o;

	if ((o = db_run_counts(m->srv->db)) == NULL)
		return;
	metrics_states(b, "fleetcast_runs", "Runs by state.",
	    metrics_run_states, sizeof(metrics_run_states) /
	    sizeof(metrics_run_states[0]), json_object_get(o, "runs"));
	metrics_states(b, "fleetcast_run_machines", "Machines of the runs not "
	    "finished, by their state in the run.", metrics_target_states,
	    sizeof(metrics_target_states) / sizeof(metrics_target_states[0]),
	    json_object_get(o, "targets"));
	json_decref(o);
}

static void
metrics_xfers(struct metrics *m, struct evbuffer *b)
{
	struct xfer_totals	t;
	int			i;

	runs_xfer_totals(m->srv->runs, &t);
	metrics_u64(b, "fleetcast_transfers_started_total", "counter",
	    "Package streams started (a multicast wave's or a machine's).",
	    t.started);
	metrics_u64(b, "fleetcast_transfers_finished_total", "counter",
	    "Package streams every receiver confirmed.", t.finished);
	metrics_u64(b, "fleetcast_transfers_failed_total", "counter",
	    "Package streams that could not start or ended with failures.",
	    t.failed);
	metrics_head(b, "fleetcast_sent_bytes_total", "counter", "Bytes sent "
	    "on the data port, datagrams whole, by path.");
	evbuffer_add_printf(b, "fleetcast_sent_bytes_total{path=\"multicast\"} "
	    "%" PRIu64 "\nfleetcast_sent_bytes_total{path=\"unicast\"} %"
	    PRIu64 "\n", t.bytes_multicast, t.bytes_unicast);
	metrics_head(b, "fleetcast_send_rate_bytes", "gauge", "The streams' "
	    "current send rate together, in bytes per second.");
	evbuffer_add_printf(b, "fleetcast_send_rate_bytes %.0f\n", t.rate);
	metrics_u64(b, "fleetcast_repair_packets_total", "counter",
	    "Parity (repair) packets sent.", t.repair_packets);
	metrics_u64(b, "fleetcast_resent_packets_total", "counter",
	    "Data packets sent again.", t.resend_packets);
	metrics_head(b, "fleetcast_dropped_packets_total", "counter",
	    "Datagrams the senders refused, by reason.");
	for (i = 0; i < PROTO_DROP_MAX; i++)
		evbuffer_add_printf(b, "fleetcast_dropped_packets_total{reason="
		    "\"%s\"} %" PRIu64 "\n", proto_drop_name(i), t.drops[i]);
	metrics_u64(b, "fleetcast_unicast_streams_active", "gauge",
	    "Unicast streams held now (max_unicast_streams at most).",
	    (uint64_t)t.streams_active);
	metrics_u64(b, "fleetcast_unicast_streams_queued", "gauge",
	    "Unicast transfers waiting for a stream.",
	    (uint64_t)t.streams_queued);
}

static void
metrics_control(struct metrics *m, struct evbuffer *b)
{
	json_t		*o = control_stats_json(m->srv->control);
	static const char *refused[][2] = {
		{ "refused_per_address", "per_address" },
		{ "handshakes_given_way", "handshake_given_way" },
		{ "refused_enrolling", "enrolling" },
	};
	size_t		 i;

	metrics_head(b, "fleetcast_control_connections", "gauge", "Agent "
	    "connections on control_listen: online, or not yet.");
	evbuffer_add_printf(b, "fleetcast_control_connections{state=\"online\"}"
	    " %lld\nfleetcast_control_connections{state=\"not_online\"} %lld\n",
	    (long long)json_integer_value(json_object_get(o, "online")),
	    (long long)json_integer_value(json_object_get(o, "not_online")));
	metrics_head(b, "fleetcast_control_refused_total", "counter", "Agent "
	    "connections refused or given way before they were online.");
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		evbuffer_add_printf(b, "fleetcast_control_refused_total{reason="
		    "\"%s\"} %lld\n", refused[i][1], (long long)
		    json_integer_value(json_object_get(o, refused[i][0])));
	metrics_head(b, "fleetcast_heartbeat_lag_seconds", "gauge", "The "
	    "longest time since an online agent was last heard from (its "
	    "heartbeat is due every `heartbeat` seconds).");
	evbuffer_add_printf(b, "fleetcast_heartbeat_lag_seconds %.3f\n",
	    (double)json_integer_value(json_object_get(o, "heard_max_ms")) /
	    1000.0);
	json_decref(o);
}

static void
metrics_api(struct metrics *m, struct evbuffer *b)
{
	struct metrics_api	a;
	size_t			i;

	memset(&a, 0, sizeof(a));
	if (m->cb.api != NULL)
		m->cb.api(m->arg, &a);
	metrics_head(b, "fleetcast_api_requests_total", "counter", "API and "
	    "console requests answered, by route and HTTP status.");
	for (i = 0; i < a.nroutes; i++) {
		evbuffer_add_printf(b, "fleetcast_api_requests_total{route=\"");
		metrics_label(b, a.routes[i].route);
		evbuffer_add_printf(b, "\",status=\"%d\"} %" PRIu64 "\n",
		    a.routes[i].status, a.routes[i].n);
	}
	metrics_u64(b, "fleetcast_api_connections", "gauge", "Connections "
	    "open on api_listen.", a.conns);
	metrics_u64(b, "fleetcast_api_connections_refused_total", "counter",
	    "API connections refused over a connection limit.", a.refused);
}

static void
metrics_time(struct evbuffer *b, const char *name, const char *help,
    uint64_t ms)
{
	metrics_head(b, name, "gauge", help);
	evbuffer_add_printf(b, "%s %.3f\n", name, (double)ms / 1000.0);
}

/* The package feed, when feed_url is set: nothing otherwise. */
static void
metrics_feed(struct metrics *m, struct evbuffer *b)
{
	struct feed_stats	st;
	int			i;

	if (feed_stats(m->srv->feed, &st) == -1)
		return;
	metrics_head(b, "fleetcast_feed_info", "gauge", "The package feed: "
	    "its index URL, the state of its fetch and the last error "
	    "(kept after a success; empty: none), as labels.");
	evbuffer_add_printf(b, "fleetcast_feed_info{url=\"");
	metrics_label(b, st.url);
	evbuffer_add_printf(b, "\",state=\"");
	metrics_label(b, st.state);
	evbuffer_add_printf(b, "\",last_error=\"");
	metrics_label(b, st.last_error != NULL ? st.last_error : "");
	evbuffer_add_printf(b, "\"} 1\n");
	/* No serial accepted yet: no sample, rather than a false 0. */
	if (st.have_serial)
		metrics_u64(b, "fleetcast_feed_serial", "gauge", "The serial "
		    "of the last feed index accepted.", st.serial);
	metrics_time(b, "fleetcast_feed_last_fetch_timestamp_seconds",
	    "When the feed was last fetched, successfully or not (0: never).",
	    st.last_fetch_ms);
	metrics_time(b, "fleetcast_feed_last_success_timestamp_seconds",
	    "When a fetch of the feed last succeeded (0: never).",
	    st.last_ok_ms);
	metrics_time(b, "fleetcast_feed_next_fetch_timestamp_seconds",
	    "When the feed is fetched next (now while a fetch is under way).",
	    st.next_ms);
	metrics_u64(b, "fleetcast_feed_failures", "gauge", "Fetches of the "
	    "feed failed in a row (0 after a success).",
	    (uint64_t)st.failures);
	metrics_u64(b, "fleetcast_feed_registered_total", "counter",
	    "Packages the feed registered since the server started.",
	    st.registered);
	metrics_head(b, "fleetcast_feed_fetches_total", "counter", "Fetches "
	    "of the feed since the server started, by result.");
	for (i = 0; i < FEED_PASS_MAX; i++)
		evbuffer_add_printf(b, "fleetcast_feed_fetches_total{result="
		    "\"%s\"} %" PRIu64 "\n", feed_pass_name(i), st.passes[i]);
	feed_stats_clear(&st);
}

/* The whole exposition into b. */
void
metrics_write(struct metrics *m, struct evbuffer *b)
{
	uint64_t	n;
	double		secs;

	m->scrapes++;
	metrics_head(b, "fleetcast_build_info", "gauge", "The server's "
	    "version, as a label.");
	evbuffer_add_printf(b, "fleetcast_build_info{version=\"");
	metrics_label(b, SERVER_VERSION);
	evbuffer_add_printf(b, "\"} 1\n");
	metrics_machines(m, b);
	metrics_runs(m, b);
	metrics_xfers(m, b);
	metrics_control(m, b);
	metrics_api(m, b);
	metrics_feed(m, b);
	db_commit_stats(m->srv->db, &n, &secs);
	metrics_head(b, "fleetcast_sqlite_commit_seconds", "summary", "Time "
	    "of the inventory's commits (a write outside a transaction "
	    "commits by itself).");
	evbuffer_add_printf(b, "fleetcast_sqlite_commit_seconds_sum %.6f\n"
	    "fleetcast_sqlite_commit_seconds_count %" PRIu64 "\n", secs, n);
	metrics_u64(b, "fleetcast_metrics_scrapes_total", "counter",
	    "Scrapes of this exposition, this one included.", m->scrapes);
}

/* metrics_listen: GET /metrics only, no token, nothing else. */
static void
metrics_http_cb(struct evhttp_request *r, void *arg)
{
	struct metrics		*m = arg;
	struct evbuffer		*b = evbuffer_new();
	const char		*path = evhttp_uri_get_path(
				    evhttp_request_get_evhttp_uri(r));
	struct evkeyvalq	*h = evhttp_request_get_output_headers(r);

	if (evhttp_request_get_command(r) != EVHTTP_REQ_GET || path == NULL ||
	    strcmp(path, "/metrics") != 0) {
		evhttp_add_header(h, "Content-Type", "text/plain");
		evbuffer_add_printf(b, "metrics_listen answers GET /metrics "
		    "only\n");
		evhttp_send_reply(r, 404, NULL, b);
	} else {
		evhttp_add_header(h, "Content-Type",
		    "text/plain; version=0.0.4; charset=utf-8");
		metrics_write(m, b);
		evhttp_send_reply(r, 200, NULL, b);
	}
	evbuffer_free(b);
}

struct metrics *
metrics_new(struct server *srv, const struct metrics_cb *cb, void *arg,
    char *err, size_t errlen)
{
	struct metrics	*m;
	const char	*listen = conf_str(srv->conf, "metrics_listen");
	char		*host = NULL;
	uint16_t	 port;

	m = xcalloc(1, sizeof(*m));
	m->srv = srv;
	m->cb = *cb;
	m->arg = arg;
	if (listen == NULL || listen[0] == '\0')
		return (m);
	if (parse_hostport(listen, &host, &port) == -1) {
		snprintf(err, errlen, "metrics_listen: not host:port");
		goto fail;
	}
	if ((m->http = evhttp_new(srv->base)) == NULL ||
	    evhttp_bind_socket(m->http, host, port) == -1) {
		snprintf(err, errlen, "metrics_listen: %s: cannot listen: %s",
		    listen, strerror(errno));
		goto fail;
	}
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET);
	evhttp_set_max_body_size(m->http, 1024);
	evhttp_set_max_headers_size(m->http, 8192);
	evhttp_set_timeout(m->http, 10);
	evhttp_set_gencb(m->http, metrics_http_cb, m);
	log_info("metrics: listening on http://%s/metrics (no token)",
	    listen);
	free(host);
	return (m);
fail:
	free(host);
	metrics_free(m);
	return (NULL);
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	if (m->http != NULL)
		evhttp_free(m->http);
	free(m);
}
