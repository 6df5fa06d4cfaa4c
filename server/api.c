/*
 * The HTTP JSON API on api_listen, built on evhttp and jansson, for the
 * `fleetcast` CLI and any other admin tool.  Every request must carry
 * `Authorization: Bearer TOKEN` with the token the server wrote to
 * state_dir/api.token; every answer is JSON, errors being {"error": text}
 * with the HTTP status that fits (400 malformed request, 401 token, 404 no
 * such thing, 405 method, 409 conflict with the current state, 413 too
 * large, 422 a value that breaks a rule, 500 the server failed, 503 busy,
 * 507 no room in state_dir).  The resources are /v1/packages,
 * /v1/machines, /v1/scenarios and /v1/runs; doc/fleetcastd.8 lists the
 * endpoints.  Packages arrive either as the request body (bounded by
 * API_MAX_UPLOAD, and only on a connection that has shown the token
 * before: evhttp reads a body before we see the headers, so others are
 * held to API_MAX_JSON) or, when the CLI runs on the server's host, as a
 * path the server copies from; either way the server verifies its own
 * copy before anything is registered, in a child process so that a large
 * package does not stall the event loop (api_package.c).
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "api_int.h"
#include "conf.h"
#include "console.h"
#include "metrics.h"
#include "etoken.h"
#include "log.h"
#include "server.h"
#include "xmalloc.h"

#define API_MAX_UPLOAD		(64ULL * 1024 * 1024)
#define API_MAX_JSON		(1024 * 1024)
#define API_DISK_RESERVE	(256ULL << 20)	/* left free in state_dir */
#define API_MAX_ADDS		4	/* package checks at once */
#define API_MAX_PARTS		4
#define API_MAX_WAIT		(30 * 86400)	/* --max-wait, seconds */
#define API_MAX_TARGETS		1000000
#define API_MAX_RUN_MACHINES	100000
#define API_MAX_COUNTS		96	/* (route, status) pairs counted */

/*
 * Connections (issue #12 finding 10): at most API_MAX_CONNS open, at most
 * API_MAX_CONNS_SOURCE from one address; one that has not shown the token
 * is closed after API_IDLE_TIMEOUT seconds of silence, one that has after
 * API_AUTH_TIMEOUT.  evhttp 2.1 has no connection limit of its own, and
 * tells nobody of a connection that never sends a request: each one's
 * bufferevent is made here (evhttp_set_bevcb) and held by a reference of
 * ours, so that it stays valid after evhttp let it go (bufferevent_free
 * clears its callbacks); a sweep drops our reference then, which closes
 * the socket.
 */
#define API_MAX_CONNS		128
#define API_MAX_CONNS_SOURCE	32
#define API_IDLE_TIMEOUT	10	/* s, before the token */
#define API_AUTH_TIMEOUT	600	/* s, once it was shown */

struct api_conn {
	struct api		*api;
	struct bufferevent	*bev;		/* our reference */
	struct event		*check;		/* api_conn_check, once */
	struct sockaddr_storage	 peer;
	int			 checked;	/* limits applied */
	TAILQ_ENTRY(api_conn)	 entry;
};
TAILQ_HEAD(api_conns, api_conn);

struct api {
	struct server		*srv;
	struct evhttp		*http;
	struct api_package	*pkg;	/* the package adds in flight */
	struct api_conns	 conns;
	size_t			 nconns;
	struct event		*sweep;		/* each second */
	uint64_t		 refused;	/* connections over a limit */
	char			**pkg_dirs;	/* package_dirs, resolved */
	size_t			 npkg_dirs;
	struct console		*console;	/* GET / and /console/ */
	struct metrics		*metrics;	/* GET /metrics */
	SSL_CTX			*tls;		/* NULL: plain, on loopback */
	struct metrics_route	 counts[API_MAX_COUNTS];
	size_t			 ncounts;
};

/* A request being answered. */
struct req {
	struct api		*api;
	struct evhttp_request	*r;
	enum evhttp_cmd_type	 method;
	const char		*route;		/* for the counts */
	char			*parts[API_MAX_PARTS];
	int			 nparts;
};

/*
 * The requests by route (the first parts of the path, from a fixed list,
 * so that a client cannot grow the table) and status, for GET /metrics.
 */
static const char *api_routes[] = {
	"packages", "machines", "scenarios", "runs", "status", "tokens",
	"server", "sim",
};

static const char *
api_route(const char *path)
{
	size_t	i, n;

	if (strcmp(path, "/") == 0 || strncmp(path, "/console", 8) == 0)
		return ("console");
	if (strcmp(path, "/metrics") == 0)
		return ("metrics");
	if (strncmp(path, "/v1/", 4) == 0)
		for (i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]);
		    i++) {
			n = strlen(api_routes[i]);
			if (strncmp(path + 4, api_routes[i], n) == 0 &&
			    (path[4 + n] == '\0' || path[4 + n] == '/'))
				return (api_routes[i]);
		}
	return ("other");
}

static void
api_count(struct api *api, const char *route, int status)
{
	size_t	i;

	if (route == NULL)
		route = "other";
	for (i = 0; i < api->ncounts; i++)
		if (api->counts[i].status == status &&
		    strcmp(api->counts[i].route, route) == 0) {
			api->counts[i].n++;
			return;
		}
	/* Full (not with the fixed routes and real statuses): the last. */
	if (api->ncounts == API_MAX_COUNTS) {
		api->counts[API_MAX_COUNTS - 1].route = "other";
		api->counts[API_MAX_COUNTS - 1].status = 0;
		api->counts[API_MAX_COUNTS - 1].n++;
		return;
	}
	api->counts[api->ncounts].route = route;
	api->counts[api->ncounts].status = status;
	api->counts[api->ncounts++].n = 1;
}

/* metrics_cb: what the API counted. */
static void
api_metrics_cb(void *arg, struct metrics_api *out)
{
	struct api	*api = arg;

	out->routes = api->counts;
	out->nroutes = api->ncounts;
	out->conns = api->nconns;
	out->refused = api->refused;
}

static const struct metrics_cb api_metrics_cbs = {
	api_metrics_cb,
};

static void
reply_json(struct req *q, int status, json_t *o)
{
	struct evbuffer	*b;
	char		*s;

	s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	b = evbuffer_new();
	if (s != NULL) {
		evbuffer_add(b, s, strlen(s));
		evbuffer_add(b, "\n", 1);
	}
	free(s);
	api_count(q->api, q->route, status);
	console_secure(q->r);
	evhttp_add_header(evhttp_request_get_output_headers(q->r),
	    "Content-Type", "application/json");
	evhttp_send_reply(q->r, status, NULL, b);
	evbuffer_free(b);
}

static void
reply_error(struct req *q, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
reply_error(struct req *q, int status, const char *fmt, ...)
{
	va_list	ap;
	char	msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (status >= 500)
		log_warnx("api: %s %s: %s", q->method == EVHTTP_REQ_GET ?
		    "GET" : q->method == EVHTTP_REQ_POST ? "POST" : "DELETE",
		    evhttp_request_get_uri(q->r), msg);
	if (status == 401)
		evhttp_add_header(evhttp_request_get_output_headers(q->r),
		    "WWW-Authenticate", "Bearer realm=\"fleetcast\"");
	reply_json(q, status, json_pack("{s:s}", "error", msg));
}

/* Parse the request body as a JSON object; on failure it has replied. */
static json_t *
body_json(struct req *q)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(q->r);
	size_t		 len = evbuffer_get_length(in);
	json_error_t	 je;
	json_t		*o;
	char		*s;

	if (len > API_MAX_JSON) {
		reply_error(q, 413, "request body: %zu bytes, limit %d", len,
		    API_MAX_JSON);
		return (NULL);
	}
	s = xmalloc(len + 1);
	evbuffer_copyout(in, s, len);
	s[len] = '\0';
	o = json_loads(s, JSON_REJECT_DUPLICATES, &je);
	free(s);
	if (o == NULL || !json_is_object(o)) {
		reply_error(q, 400, "request body: not a JSON object%s%s",
		    o == NULL ? ": " : "", o == NULL ? je.text : "");
		json_decref(o);
		return (NULL);
	}
	return (o);
}

/* ---- packages ---- */

/* A package add is done (api_package_cb): answer its request. */
static void
api_packages_added(void *arg, struct evhttp_request *r, int status, json_t *o,
    const char *err)
{
	struct req	q;

	memset(&q, 0, sizeof(q));
	q.api = arg;
	q.r = r;
	q.method = EVHTTP_REQ_POST;
	q.route = "packages";
	if (status != 0)
		reply_error(&q, status, "%s", err);
	else
		reply_json(&q, 201, o != NULL ? o : json_object());
}

static const struct api_package_cb api_packages_cb = {
	api_packages_added,
};

/*
 * package_dirs (issue #12 finding 10): a package is added by its path on
 * the server's host only from below one of these directories; without
 * any, only by upload.  The path is judged by its text before anything
 * is opened, so that the answer says nothing about files elsewhere: it
 * must be absolute, without "." or ".." components, and below a
 * directory of the list.  Once opened, the file's real path must still
 * be below that directory's real path (a symbolic link inside may lead
 * anywhere).
 */
static void
api_pkg_dirs_load(struct api *api)
{
	const char	*v = conf_str(api->srv->conf, "package_dirs");
	char		*copy, *p, *word, real[PATH_MAX];

	if (v == NULL || v[0] == '\0')
		return;
	copy = xstrdup(v);
	for (p = copy; (word = strsep(&p, ":")) != NULL; ) {
		if (word[0] == '\0')
			continue;
		if (realpath(word, real) == NULL) {
			log_warn("package_dirs: %s", word);
			continue;
		}
		api->pkg_dirs = xreallocarray(api->pkg_dirs,
		    api->npkg_dirs + 1, sizeof(char *));
		api->pkg_dirs[api->npkg_dirs++] = xstrdup(real);
	}
	free(copy);
}

/* path below dir (both without a trailing slash, dir may be "/")? */
static int
api_path_under(const char *path, const char *dir)
{
	size_t	n = strlen(dir);

	if (n == 1 && dir[0] == '/')
		return (path[0] == '/' && path[1] != '\0');
	return (strncmp(path, dir, n) == 0 && path[n] == '/' &&
	    path[n + 1] != '\0');
}

static int
api_path_allowed(struct api *api, const char *src, char *err, size_t errlen)
{
	const char	*c;
	size_t		 i, n;

	if (api->npkg_dirs == 0) {
		snprintf(err, errlen, "path: adding a package by its path on "
		    "the server is off (package_dirs is not set in the "
		    "server's configuration); send the file instead "
		    "('fleetcast package add FILE' uploads it)");
		return (-1);
	}
	for (c = src; *c != '\0'; c += n) {
		c += strspn(c, "/");
		n = strcspn(c, "/");
		if ((n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			goto refuse;
	}
	for (i = 0; i < api->npkg_dirs; i++)
		if (api_path_under(src, api->pkg_dirs[i]))
			return (0);
refuse:
	snprintf(err, errlen, "path: %s is not a file below package_dirs "
	    "(paths with '.' or '..' do not count); put the package there or "
	    "send the file instead", src);
	return (-1);
}

static int
api_fd_allowed(struct api *api, int fd, const char *src, char *err,
    size_t errlen)
{
	char	link[64], real[PATH_MAX];
	ssize_t	n;
	size_t	i;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, real, sizeof(real) - 1)) > 0) {
		real[n] = '\0';
		for (i = 0; i < api->npkg_dirs; i++)
			if (api_path_under(real, api->pkg_dirs[i]))
				return (0);
	}
	snprintf(err, errlen, "path: %s leads out of package_dirs (a "
	    "symbolic link?); put the package itself there", src);
	return (-1);
}

/*
 * POST /v1/packages: what can be checked at once is checked here, on the
 * loop; the copy and its verification go to a child (api_package.c).
 */
static void
api_packages_add(struct req *q)
{
	struct server		*srv = q->api->srv;
	struct evbuffer		*in = evhttp_request_get_input_buffer(q->r);
	struct statvfs		 vfs;
	struct stat		 st;
	uint8_t			 (*keys)[ED25519_PUB_LEN] = NULL;
	char			 err[1024], dst[4096];
	const char		*ctype, *src = NULL;
	json_t			*body = NULL;
	size_t			 nkeys;
	uint64_t		 size, avail;
	int			 fd = -1;

	if (api_package_count(q->api->pkg) >= API_MAX_ADDS) {
		reply_error(q, 503, "package add: %d packages are being "
		    "checked already; try again when one is done",
		    API_MAX_ADDS);
		return;
	}
	if (server_load_trusted(srv, &keys, &nkeys, err, sizeof(err)) == -1) {
		reply_error(q, 409, "%s", err);
		return;
	}
	ctype = evhttp_find_header(evhttp_request_get_input_headers(q->r),
	    "Content-Type");
	if (ctype != NULL && strncmp(ctype, "application/json", 16) == 0) {
		if ((body = body_json(q)) == NULL)
			goto out;
		src = json_string_value(json_object_get(body, "path"));
		if (src == NULL || src[0] != '/') {
			reply_error(q, 422, "path: an absolute path of a "
			    ".fcpkg file on the server's host is needed");
			goto out;
		}
		if (api_path_allowed(q->api, src, err, sizeof(err)) == -1) {
			reply_error(q, 403, "%s", err);
			goto out;
		}
		/*
		 * Non-blocking, so that a FIFO or a device cannot hang the
		 * daemon in open(); only a regular file is read at all.
		 */
		if ((fd = open(src, O_RDONLY | O_NONBLOCK | O_CLOEXEC |
		    O_NOCTTY)) == -1 || fstat(fd, &st) == -1) {
			reply_error(q, 422, "path: %s: %s", src,
			    strerror(errno));
			goto out;
		}
		/* A symbolic link inside a package dir may lead out of it. */
		if (api_fd_allowed(q->api, fd, src, err, sizeof(err)) == -1) {
			reply_error(q, 403, "%s", err);
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			reply_error(q, 422, "path: %s: not a regular file",
			    src);
			goto out;
		}
		size = (uint64_t)st.st_size;
	} else
		size = evbuffer_get_length(in);
	if (size == 0) {
		reply_error(q, 422, "package: the file is empty");
		goto out;
	}
	if (size > API_MAX_PACKAGE) {
		reply_error(q, 413, "package: %" PRIu64 " bytes, limit %llu",
		    size, API_MAX_PACKAGE);
		goto out;
	}
	snprintf(dst, sizeof(dst), "%s/packages", srv->state_dir);
	if (statvfs(dst, &vfs) == 0) {
		avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		if (avail < API_DISK_RESERVE ||
		    size > avail - API_DISK_RESERVE) {
			reply_error(q, 507, "state_dir: %" PRIu64 " bytes "
			    "free; the package needs %" PRIu64 " and %llu "
			    "are kept free", avail, size, API_DISK_RESERVE);
			goto out;
		}
	}
	if (api_package_start(q->api->pkg, q->r, fd, in, src, size,
	    (const uint8_t (*)[ED25519_PUB_LEN])keys, nkeys, err,
	    sizeof(err)) == -1)
		reply_error(q, 500, "%s", err);
out:
	if (fd != -1)
		close(fd);
	free(keys);
	json_decref(body);
}

static void
api_packages(struct req *q)
{
	struct server	*srv = q->api->srv;
	char		 err[512], path[4096], *file = NULL;
	int		 status, exists, hv;
	uint16_t	 ma, mi;
	uint64_t	 busy;
	json_t		*o;

	if (q->nparts == 2 && q->method == EVHTTP_REQ_GET) {
		if ((o = db_packages_json(srv->db, NULL)) == NULL)
			reply_error(q, 500, "database error");
		else
			reply_json(q, 200, o);
	} else if (q->nparts == 2 && q->method == EVHTTP_REQ_POST)
		api_packages_add(q);
	else if (q->nparts == 3 && q->method == EVHTTP_REQ_GET) {
		if ((o = db_packages_json(srv->db, q->parts[2])) == NULL)
			reply_error(q, 404, "package %s: no such package",
			    q->parts[2]);
		else
			reply_json(q, 200, o);
	} else if (q->nparts == 3 && q->method == EVHTTP_REQ_DELETE) {
		if ((busy = runs_using_package(srv->runs, q->parts[2])) != 0) {
			reply_error(q, 409, "package %s: run %" PRIu64 " is "
			    "sending it; wait until it is finished",
			    q->parts[2], busy);
			return;
		}
		db_package_version(srv->db, q->parts[2], &exists, &hv, &ma,
		    &mi, &file);
		if (db_package_remove(srv->db, q->parts[2], err, sizeof(err),
		    &status) == -1)
			reply_error(q, status, "%s", err);
		else {
			if (file != NULL) {
				snprintf(path, sizeof(path), "%s/%s",
				    srv->state_dir, file);
				api_package_unlink(path);
			}
			db_event(srv->db, server_now_ms(), "package", 0, NULL,
			    "package %s removed", q->parts[2]);
			reply_json(q, 200, json_pack("{s:s}", "removed",
			    q->parts[2]));
		}
		free(file);
	} else
		reply_error(q, 405, "%s: method not allowed",
		    evhttp_request_get_uri(q->r));
}

/* ---- machines ---- */

/*
 * Approve a machine's enrollment request: the one it has now, for its
 * key, or with {"fingerprint": FP} only if the request still has the key
 * the admin was shown (a prefix of 16 hex digits or more).
 */
static void
api_machine_approve(struct req *q)
{
	struct server	*srv = q->api->srv;
	struct evbuffer	*in = evhttp_request_get_input_buffer(q->r);
	json_t		*body = NULL, *v, *o;
	const char	*fp = NULL;
	char		 err[512], approved[SHA256_LEN * 2 + 1];
	int		 status;

	if (evbuffer_get_length(in) > 0) {
		if ((body = body_json(q)) == NULL)
			return;
		v = json_object_get(body, "fingerprint");
		if (v != NULL && !json_is_null(v) &&
		    (fp = json_string_value(v)) == NULL) {
			reply_error(q, 422, "fingerprint: not a string");
			goto out;
		}
	}
	if (db_machine_approve(srv->db, q->parts[2], fp, server_now_ms(),
	    approved, err, sizeof(err), &status) == -1) {
		reply_error(q, status, "%s", err);
		goto out;
	}
	log_info("api: machine %s approved for the key with fingerprint "
	    "%.16s...", q->parts[2], approved);
	control_approved(srv->control, q->parts[2]);
	if ((o = db_machines_json(srv->db, q->parts[2])) == NULL)
		o = json_object();
	json_object_set_new(o, "approved_fingerprint", json_string(approved));
	reply_json(q, 200, o);
out:
	json_decref(body);
}

/* What the inventory does not hold: is the agent current (M4). */
static void
api_machines_annotate(struct server *srv, json_t *o)
{
	json_t	*ev;

	agentup_annotate(srv->agentup, o);
	liveness_annotate(srv->liveness, o);
	/* One machine: its event log's last lines too. */
	if (json_is_object(o) && (ev = db_machine_events_json(srv->db,
	    json_string_value(json_object_get(o, "name")), 20)) != NULL)
		json_object_set_new(o, "events", ev);
}

/* POST /v1/machines/NAME/reboot or /poweroff (M2). */
static void
api_machine_power(struct req *q)
{
	struct server	*srv = q->api->srv;
	char		 err[1024];
	int		 status, action;

	action = strcmp(q->parts[3], "reboot") == 0 ? CTL_POWER_REBOOT :
	    CTL_POWER_POWEROFF;
	if (liveness_power(srv->liveness, q->parts[2], action, err,
	    sizeof(err), &status) == -1) {
		reply_error(q, status, "%s", err);
		return;
	}
	reply_json(q, 202, json_pack("{s:s, s:s}", "name", q->parts[2],
	    "requested", q->parts[3]));
}

static void
api_machines(struct req *q)
{
	struct server	*srv = q->api->srv;
	char		 err[512];
	int		 status, had;
	json_t		*o;

	if (q->nparts == 2 && q->method == EVHTTP_REQ_GET) {
		if ((o = db_machines_json(srv->db, NULL)) == NULL)
			reply_error(q, 500, "database error");
		else {
			api_machines_annotate(srv, o);
			reply_json(q, 200, o);
		}
	} else if (q->nparts == 3 && q->method == EVHTTP_REQ_GET) {
		if ((o = db_machines_json(srv->db, q->parts[2])) == NULL)
			reply_error(q, 404, "machine %s: no such machine",
			    q->parts[2]);
		else {
			api_machines_annotate(srv, o);
			reply_json(q, 200, o);
		}
	} else if (q->nparts == 4 && q->method == EVHTTP_REQ_POST &&
	    strcmp(q->parts[3], "approve") == 0)
		api_machine_approve(q);
	else if (q->nparts == 4 && q->method == EVHTTP_REQ_POST &&
	    (strcmp(q->parts[3], "reboot") == 0 ||
	    strcmp(q->parts[3], "poweroff") == 0))
		api_machine_power(q);
	else if (q->nparts == 4 && q->method == EVHTTP_REQ_POST &&
	    strcmp(q->parts[3], "clear-error") == 0) {
		if (runs_clear_error(srv->runs, q->parts[2], &had, err,
		    sizeof(err), &status) == -1) {
			reply_error(q, status, "%s", err);
			return;
		}
		/* The machine, and whether there was an error to clear. */
		o = db_machines_json(srv->db, q->parts[2]);
		if (o != NULL)
			json_object_set_new(o, "cleared", json_boolean(had));
		reply_json(q, 200, o);
	} else
		reply_error(q, 405, "%s: method not allowed",
		    evhttp_request_get_uri(q->r));
}

/* ---- enrollment tokens and the server's fingerprint ---- */

/*
 * POST /v1/tokens {"name": NAME|null, "uses": N, "expires": SECONDS}: a
 * new enrollment token, shown once (the server keeps only its hash);
 * GET /v1/tokens lists them without secrets; DELETE /v1/tokens/ID
 * revokes one.
 */
static void
api_tokens(struct req *q)
{
	struct server	*srv = q->api->srv;
	json_t		*body = NULL, *v;
	const char	*name = NULL;
	json_int_t	 uses = 1, expires = 3600;
	char		 tok[ETOKEN_MAX], err[512];
	int		 rv;

	if (q->nparts == 2 && q->method == EVHTTP_REQ_GET) {
		if ((v = db_tokens_json(srv->db)) == NULL)
			reply_error(q, 500, "database error");
		else
			reply_json(q, 200, v);
		return;
	}
	if (q->nparts == 3 && q->method == EVHTTP_REQ_DELETE) {
		if ((rv = db_token_remove(srv->db, q->parts[2])) == -1)
			reply_error(q, 500, "database error");
		else if (rv == 0)
			reply_error(q, 404, "token %s: no such token",
			    q->parts[2]);
		else {
			log_info("api: enrollment token %s revoked",
			    q->parts[2]);
			reply_json(q, 200, json_pack("{s:s}", "revoked",
			    q->parts[2]));
		}
		return;
	}
	if (q->nparts != 2 || q->method != EVHTTP_REQ_POST) {
		reply_error(q, 405, "%s: method not allowed",
		    evhttp_request_get_uri(q->r));
		return;
	}
	if (evbuffer_get_length(evhttp_request_get_input_buffer(q->r)) > 0 &&
	    (body = body_json(q)) == NULL)
		return;
	if ((v = json_object_get(body, "name")) != NULL && !json_is_null(v) &&
	    (name = json_string_value(v)) == NULL) {
		reply_error(q, 422, "name: not a string");
		goto out;
	}
	if ((v = json_object_get(body, "uses")) != NULL) {
		if (!json_is_integer(v)) {
			reply_error(q, 422, "uses: not an integer");
			goto out;
		}
		uses = json_integer_value(v);
	}
	if ((v = json_object_get(body, "expires")) != NULL) {
		if (!json_is_integer(v)) {
			reply_error(q, 422, "expires: not an integer (seconds)");
			goto out;
		}
		expires = json_integer_value(v);
	}
	if (control_token_new(srv, name, uses, expires, "admin", tok,
	    sizeof(tok), err, sizeof(err)) == -1) {
		reply_error(q, 422, "%s", err);
		goto out;
	}
	log_info("api: enrollment token made for %s, %lld uses, %lld s",
	    name != NULL ? name : "any new name", (long long)uses,
	    (long long)expires);
	reply_json(q, 200, json_pack("{s:s, s:s?, s:I, s:I, s:s}", "token",
	    tok, "name", name, "uses", uses, "expires_in", expires,
	    "fingerprint", ca_fingerprint(srv->ca)));
	explicit_bzero(tok, sizeof(tok));
out:
	json_decref(body);
}

/* GET /v1/server: what agents pin, and the control channel's counts. */
static void
api_server(struct req *q)
{
	struct server	*srv = q->api->srv;

	if (q->method != EVHTTP_REQ_GET) {
		reply_error(q, 405, "%s: method not allowed",
		    evhttp_request_get_uri(q->r));
		return;
	}
	reply_json(q, 200, json_pack("{s:s, s:o}", "fingerprint",
	    ca_fingerprint(srv->ca), "control",
	    control_stats_json(srv->control)));
}

/* ---- scenarios ---- */

static void
api_scenario_run(struct req *q)
{
	struct server	*srv = q->api->srv;
	json_t		*body, *ms, *v;
	char		**list = NULL, err[1024];
	size_t		 i, n;
	uint64_t	 id;
	int		 status;

	if ((body = body_json(q)) == NULL)
		return;
	ms = json_object_get(body, "machines");
	if (!json_is_array(ms) || (n = json_array_size(ms)) == 0) {
		reply_error(q, 422, "--machine: at least one is needed");
		goto out;
	}
	if (n > API_MAX_RUN_MACHINES) {
		reply_error(q, 422, "--machine: %zu given, limit %d", n,
		    API_MAX_RUN_MACHINES);
		goto out;
	}
	list = xcalloc(n, sizeof(*list));
	json_array_foreach(ms, i, v) {
		if (json_string_value(v) == NULL) {
			reply_error(q, 422, "--machine: not a string");
			goto out;
		}
		list[i] = (char *)json_string_value(v);
	}
	if (runs_create(srv->runs, q->parts[2], list, n, &id, err, sizeof(err),
	    &status) == -1) {
		reply_error(q, status, "%s", err);
		goto out;
	}
	/* M2: the machines it needs that are not online, checked now. */
	for (i = 0; i < n; i++)
		if (!control_online(srv->control, list[i]))
			liveness_needed(srv->liveness, list[i]);
	reply_json(q, 201, json_pack("{s:I}", "id", (json_int_t)id));
out:
	free(list);
	json_decref(body);
}

static void
api_scenarios(struct req *q)
{
	struct server	*srv = q->api->srv;
	struct scenario	 sc;
	json_t		*o, *body, *warn;
	char		 err[1024];
	int		 status;

	if (q->nparts == 2 && q->method == EVHTTP_REQ_GET) {
		if ((o = db_scenarios_json(srv->db, NULL)) == NULL)
			reply_error(q, 500, "database error");
		else
			reply_json(q, 200, o);
	} else if (q->nparts == 2 && q->method == EVHTTP_REQ_POST) {
		if ((body = body_json(q)) == NULL)
			return;
		warn = json_array();
		if (scenario_parse(body, &sc, warn, err, sizeof(err)) == -1) {
			reply_error(q, 422, "%s", err);
		} else if (db_scenario_put(srv->db, &sc, server_now_ms(), err,
		    sizeof(err), &status) == -1) {
			reply_error(q, status, "%s", err);
		} else {
			o = db_scenarios_json(srv->db, sc.name);
			if (o != NULL && json_array_size(warn) > 0)
				json_object_set(o, "warnings", warn);
			reply_json(q, 201, o != NULL ? o : json_object());
		}
		json_decref(warn);
		db_scenario_clear(&sc);
		json_decref(body);
	} else if (q->nparts == 3 && q->method == EVHTTP_REQ_GET) {
		if ((o = db_scenarios_json(srv->db, q->parts[2])) == NULL)
			reply_error(q, 404, "scenario %s: no such scenario",
			    q->parts[2]);
		else
			reply_json(q, 200, o);
	} else if (q->nparts == 3 && q->method == EVHTTP_REQ_PUT) {
		/* scenario edit: the whole scenario again, checked as new. */
		if ((body = body_json(q)) == NULL)
			return;
		warn = json_array();
		if (scenario_parse(body, &sc, warn, err, sizeof(err)) == -1)
			reply_error(q, 422, "%s", err);
		else if (strcmp(sc.name, q->parts[2]) != 0)
			reply_error(q, 422, "NAME: '%s' in the body, '%s' in the "
			    "path; a scenario cannot be renamed", sc.name,
			    q->parts[2]);
		else if (db_scenario_replace(srv->db, &sc, err, sizeof(err),
		    &status) == -1)
			reply_error(q, status, "%s", err);
		else {
			log_info("scenario %s: changed through the API",
			    sc.name);
			o = db_scenarios_json(srv->db, sc.name);
			if (o != NULL && json_array_size(warn) > 0)
				json_object_set(o, "warnings", warn);
			reply_json(q, 200, o != NULL ? o : json_object());
		}
		json_decref(warn);
		db_scenario_clear(&sc);
		json_decref(body);
	} else if (q->nparts == 3 && q->method == EVHTTP_REQ_DELETE) {
		if (db_scenario_remove(srv->db, q->parts[2], err, sizeof(err),
		    &status) == -1)
			reply_error(q, status, "%s", err);
		else
			reply_json(q, 200, json_pack("{s:s}", "removed",
			    q->parts[2]));
	} else if (q->nparts == 4 && q->method == EVHTTP_REQ_POST &&
	    strcmp(q->parts[3], "run") == 0)
		api_scenario_run(q);
	else
		reply_error(q, 405, "%s: method not allowed",
		    evhttp_request_get_uri(q->r));
}

/* ---- runs ---- */

static void
api_runs(struct req *q)
{
	struct server	*srv = q->api->srv;
	json_t		*o;
	char		*end, err[512];
	long long	 id;
	int		 status;

	if (q->method != EVHTTP_REQ_GET && !(q->nparts == 4 &&
	    q->method == EVHTTP_REQ_POST)) {
		reply_error(q, 405, "%s: method not allowed",
		    evhttp_request_get_uri(q->r));
		return;
	}
	if (q->nparts == 2) {
		if ((o = db_runs_json(srv->db, -1)) == NULL)
			reply_error(q, 500, "database error");
		else
			reply_json(q, 200, o);
		return;
	}
	if (q->nparts != 3 && !(q->nparts == 4 &&
	    (strcmp(q->parts[3], "start") == 0 ||
	    strcmp(q->parts[3], "cancel") == 0))) {
		reply_error(q, 404, "%s: no such resource",
		    evhttp_request_get_uri(q->r));
		return;
	}
	errno = 0;
	id = strtoll(q->parts[2], &end, 10);
	if (q->parts[2][0] == '\0' || *end != '\0' || errno != 0 || id < 1) {
		reply_error(q, 422, "RUN: '%s' is not a run id (a whole "
		    "number from 1)", q->parts[2]);
		return;
	}
	if ((o = db_runs_json(srv->db, id)) == NULL) {
		reply_error(q, 404, "run %lld: no such run", id);
		return;
	}
	if (q->nparts == 4) {
		json_decref(o);
		if (runs_control(srv->runs, (uint64_t)id,
		    strcmp(q->parts[3], "cancel") == 0, err, sizeof(err),
		    &status) == -1) {
			reply_error(q, status, "%s", err);
			return;
		}
		o = db_runs_json(srv->db, id);
	}
	reply_json(q, 200, o != NULL ? o : json_object());
}

/* GET /metrics with the token (metrics_listen needs none). */
static void
api_metrics(struct req *q)
{
	struct evbuffer	*b;

	if (q->method != EVHTTP_REQ_GET) {
		reply_error(q, 405, "/metrics: method not allowed");
		return;
	}
	b = evbuffer_new();
	metrics_write(q->api->metrics, b);
	api_count(q->api, q->route, 200);
	console_secure(q->r);
	evhttp_add_header(evhttp_request_get_output_headers(q->r),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(q->r, 200, NULL, b);
	evbuffer_free(b);
}

/* POST /v1/sim: `fleetcast sim` on the JSON the body carries. */
static void
api_sim(struct req *q)
{
	json_t	*body, *o;
	char	 err[1024];
	int	 status;

	if (q->method != EVHTTP_REQ_POST) {
		reply_error(q, 405, "%s: method not allowed",
		    evhttp_request_get_uri(q->r));
		return;
	}
	if ((body = body_json(q)) == NULL)
		return;
	if ((o = api_sim_run(body, &status, err, sizeof(err))) == NULL)
		reply_error(q, status, "%s", err);
	else
		reply_json(q, 200, o);
	json_decref(body);
}

static void
api_status(struct req *q)
{
	reply_json(q, 200, json_pack("{s:s, s:s, s:s}", "version",
	    SERVER_VERSION, "control_listen",
	    conf_str(q->api->srv->conf, "control_listen"), "state_dir",
	    q->api->srv->state_dir));
}

/* ---- dispatch ---- */

static int
authorized(struct api *api, struct evhttp_request *r)
{
	const char	*h;
	size_t		 len = strlen(api->srv->api_token);

	h = evhttp_find_header(evhttp_request_get_input_headers(r),
	    "Authorization");
	if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
		return (0);
	h += 7;
	if (strlen(h) != len)
		return (0);
	return (CRYPTO_memcmp(h, api->srv->api_token, len) == 0);
}

static void
api_cb(struct evhttp_request *r, void *arg)
{
	struct api		*api = arg;
	struct req		 q;
	struct evhttp_connection *evcon;
	const struct evhttp_uri	*uri;
	const char		*path;
	char			*copy, *tok, *save;
	int			 i;

	memset(&q, 0, sizeof(q));
	q.api = api;
	q.r = r;
	q.method = evhttp_request_get_command(r);
	uri = evhttp_request_get_evhttp_uri(r);
	if (uri == NULL || (path = evhttp_uri_get_path(uri)) == NULL) {
		reply_error(&q, 400, "bad request URI");
		return;
	}
	q.route = api_route(path);
	/* The console's files hold no secret: its login page needs them. */
	if ((i = console_serve(api->console, r, path)) != 0) {
		api_count(api, q.route, i);
		return;
	}
	if (!authorized(api, r)) {
		reply_error(&q, 401, "Authorization: a valid 'Bearer TOKEN' "
		    "header is needed (the token is in state_dir/api.token)");
		return;
	}
	/*
	 * evhttp reads a whole body before this callback sees the token,
	 * so bodies are held to what the JSON requests need until the
	 * connection has shown the token: from then on it may carry an
	 * upload (the CLI's package add sends one request first).
	 */
	if ((evcon = evhttp_request_get_connection(r)) != NULL) {
		evhttp_connection_set_max_body_size(evcon, API_MAX_UPLOAD);
		evhttp_connection_set_timeout(evcon, API_AUTH_TIMEOUT);
	}
	if (strcmp(path, "/metrics") == 0) {
		api_metrics(&q);
		return;
	}
	copy = xstrdup(path);
	for (tok = strtok_r(copy, "/", &save); tok != NULL;
	    tok = strtok_r(NULL, "/", &save)) {
		if (q.nparts == API_MAX_PARTS) {
			q.nparts++;
			break;
		}
		q.parts[q.nparts++] = evhttp_uridecode(tok, 0, NULL);
	}
	free(copy);
	if (q.nparts > API_MAX_PARTS || q.nparts < 2 ||
	    q.parts[0] == NULL || strcmp(q.parts[0], "v1") != 0) {
		reply_error(&q, 404, "%s: no such resource", path);
		goto out;
	}
	for (i = 0; i < q.nparts; i++)
		if (q.parts[i] == NULL || q.parts[i][0] == '\0') {
			reply_error(&q, 400, "%s: bad path", path);
			goto out;
		}
	if (strcmp(q.parts[1], "packages") == 0)
		api_packages(&q);
	else if (strcmp(q.parts[1], "machines") == 0)
		api_machines(&q);
	else if (strcmp(q.parts[1], "scenarios") == 0)
		api_scenarios(&q);
	else if (strcmp(q.parts[1], "runs") == 0)
		api_runs(&q);
	else if (strcmp(q.parts[1], "status") == 0 && q.nparts == 2)
		api_status(&q);
	else if (strcmp(q.parts[1], "tokens") == 0)
		api_tokens(&q);
	else if (strcmp(q.parts[1], "server") == 0 && q.nparts == 2)
		api_server(&q);
	else if (strcmp(q.parts[1], "feed") == 0 && q.nparts == 2)
		reply_json(&q, 200, feed_status_json(api->srv->feed));
	else if (strcmp(q.parts[1], "sim") == 0 && q.nparts == 2)
		api_sim(&q);
	else
		reply_error(&q, 404, "%s: no such resource", path);
out:
	for (i = 0; i < q.nparts && i < API_MAX_PARTS; i++)
		free(q.parts[i]);
}

/* Has evhttp let the connection go?  bufferevent_free cleared it. */
static int
api_conn_released(struct api_conn *c)
{
	bufferevent_data_cb	 rcb, wcb;
	bufferevent_event_cb	 ecb;
	void			*arg;

	bufferevent_getcb(c->bev, &rcb, &wcb, &ecb, &arg);
	return (rcb == NULL && ecb == NULL);
}

static void
api_conn_free(struct api_conn *c)
{
	TAILQ_REMOVE(&c->api->conns, c, entry);
	c->api->nconns--;
	event_free(c->check);
	bufferevent_decref(c->bev);	/* the last reference: closed */
	free(c);
}

/* Drop the connections evhttp is done with (all of them: at the end). */
static void
api_conn_sweep(struct api *api, int all)
{
	struct api_conn	*c, *next;

	for (c = TAILQ_FIRST(&api->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (all || (c->checked && api_conn_released(c)))
			api_conn_free(c);
	}
}

static void
api_conn_sweep_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	api_conn_sweep(arg, 0);
}

static int
api_same_addr(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b)
{
	const struct sockaddr_in	*a4 = (const void *)a;
	const struct sockaddr_in	*b4 = (const void *)b;
	const struct sockaddr_in6	*a6 = (const void *)a;
	const struct sockaddr_in6	*b6 = (const void *)b;

	if (a->ss_family != b->ss_family)
		return (0);
	if (a->ss_family == AF_INET)
		return (a4->sin_addr.s_addr == b4->sin_addr.s_addr);
	if (a->ss_family == AF_INET6)
		return (memcmp(&a6->sin6_addr, &b6->sin6_addr,
		    sizeof(a6->sin6_addr)) == 0);
	return (0);
}

/*
 * Right after evhttp took a new connection (its socket is set by then):
 * over a limit, it gets a 503 and is shut down, which evhttp sees as the
 * client closing; nothing of it is read.
 */
static void
api_conn_check(evutil_socket_t fd0, short ev, void *arg)
{
	static const char	 head[] = "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Type: application/json\r\nConnection: close\r\n"
	    "Content-Length: %zu\r\n\r\n%s";
	struct api_conn		*c = arg, *o;
	struct api		*api = c->api;
	socklen_t		 len = sizeof(c->peer);
	size_t			 same = 0, open = 0;
	char			 body[256], msg[512];
	int			 fd, n, per;

	(void)fd0;
	(void)ev;
	api_conn_sweep(api, 0);
	c->checked = 1;
	if (api_conn_released(c) || (fd = bufferevent_getfd(c->bev)) == -1 ||
	    getpeername(fd, (struct sockaddr *)&c->peer, &len) == -1)
		return;
	TAILQ_FOREACH(o, &api->conns, entry) {
		if (o == c || !o->checked || api_conn_released(o))
			continue;
		open++;
		if (api_same_addr(&o->peer, &c->peer))
			same++;
	}
	per = same >= API_MAX_CONNS_SOURCE;
	if (!per && open < API_MAX_CONNS)
		return;
	api->refused++;
	snprintf(body, sizeof(body), "{\"error\": \"api: too many "
	    "connections%s (%zu open, limit %d); try again later\"}",
	    per ? " from this address" : "", per ? same : open,
	    per ? API_MAX_CONNS_SOURCE : API_MAX_CONNS);
	n = snprintf(msg, sizeof(msg), head, strlen(body), body);
	/* Under TLS a plain answer would be noise: only the close. */
	if (api->tls == NULL)
		(void)send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)shutdown(fd, SHUT_RDWR);
	if (api->refused == 1 || api->refused % 100 == 0)
		log_warnx("api: connection refused, over the limit (%" PRIu64
		    " so far)", api->refused);
}

static struct bufferevent *
api_bevcb(struct event_base *base, void *arg)
{
	struct api		*api = arg;
	struct api_conn		*c;
	struct bufferevent	*bev;
	SSL			*ssl;
	const struct timeval	 now = { 0, 0 };

	/* What evhttp would make itself (in TLS), plus our reference. */
	if (api->tls != NULL) {
		if ((ssl = SSL_new(api->tls)) == NULL)
			return (NULL);
		if ((bev = bufferevent_openssl_socket_new(base, -1, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)) ==
		    NULL) {
			SSL_free(ssl);
			return (NULL);
		}
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	} else if ((bev = bufferevent_socket_new(base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		return (NULL);
	c = xcalloc(1, sizeof(*c));
	c->api = api;
	c->bev = bev;
	bufferevent_incref(bev);
	if ((c->check = evtimer_new(base, api_conn_check, c)) == NULL)
		fatalx("api: evtimer_new");
	TAILQ_INSERT_TAIL(&api->conns, c, entry);
	api->nconns++;
	evtimer_add(c->check, &now);
	return (bev);
}

struct api *
api_new(struct server *srv, char *err, size_t errlen)
{
	struct api	*api;
	char		*host = NULL;
	uint16_t	 port;

	api = xcalloc(1, sizeof(*api));
	api->srv = srv;
	TAILQ_INIT(&api->conns);
	api_pkg_dirs_load(api);
	api->pkg = api_package_new(srv, &api_packages_cb, api);
	api->console = console_new(FC_PKGDATADIR "/console");
	if ((api->metrics = metrics_new(srv, &api_metrics_cbs, api, err,
	    errlen)) == NULL)
		goto fail;
	if ((api->http = evhttp_new(srv->base)) == NULL) {
		snprintf(err, errlen, "api: evhttp_new failed");
		goto fail;
	}
	if (parse_hostport(conf_str(srv->conf, "api_listen"), &host,
	    &port) == -1) {
		snprintf(err, errlen, "api_listen: not host:port");
		goto fail;
	}
	if (api_tls_setup(srv, host, &api->tls, err, errlen) == -1)
		goto fail;
	if (evhttp_bind_socket(api->http, host, port) == -1) {
		snprintf(err, errlen, "api_listen: %s: cannot listen: %s",
		    conf_str(srv->conf, "api_listen"), strerror(errno));
		goto fail;
	}
	/* Until a connection has shown the token; see api_cb. */
	evhttp_set_max_body_size(api->http, API_MAX_JSON);
	evhttp_set_max_headers_size(api->http, 16384);
	evhttp_set_timeout(api->http, API_IDLE_TIMEOUT);
	evhttp_set_bevcb(api->http, api_bevcb, api);
	if ((api->sweep = event_new(srv->base, -1, EV_PERSIST,
	    api_conn_sweep_cb, api)) == NULL)
		fatalx("api: event_new");
	event_add(api->sweep, &(const struct timeval){ 1, 0 });
	evhttp_set_allowed_methods(api->http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_default_content_type(api->http, "application/json");
	evhttp_set_gencb(api->http, api_cb, api);
	log_info("api: listening on %s://%s", api->tls != NULL ? "https" :
	    "http", conf_str(srv->conf, "api_listen"));
	free(host);
	return (api);
fail:
	free(host);
	api_free(api);
	return (NULL);
}

void
api_free(struct api *api)
{
	if (api == NULL)
		return;
	/* Before evhttp, whose requests the package adds still hold. */
	api_package_free(api->pkg);
	if (api->http != NULL)
		evhttp_free(api->http);
	api_conn_sweep(api, 1);
	if (api->sweep != NULL)
		event_free(api->sweep);
	console_free(api->console);
	metrics_free(api->metrics);
	SSL_CTX_free(api->tls);
	while (api->npkg_dirs > 0)
		free(api->pkg_dirs[--api->npkg_dirs]);
	free(api->pkg_dirs);
	free(api);
}
