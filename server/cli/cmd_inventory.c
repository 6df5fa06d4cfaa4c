/*
 * The inventory commands of the CLI: `package add|list|show|remove`,
 * `machine`, `scenario` and `run`, all over fleetcastd's HTTP JSON API.
 * The HTTP client is a small blocking HTTP/1.1 one (one request per
 * connection, Content-Length bodies, a bounded response), which is all a
 * command-line tool that makes a handful of requests needs.  Options are
 * checked here as far as they can be without the server, so that a typo
 * is exit status 2 with the option named; the server checks everything
 * again.  HTTP 400, 404, 409, 413 and 422 (the request was refused as
 * invalid) are exit status 2, anything else that fails is 1.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "conf.h"
#include "xmalloc.h"

#define HTTP_MAX_RESPONSE	(64 * 1024 * 1024)
#define HTTP_TIMEOUT_MS		30000
/*
 * The server answers package add once it has copied and verified the
 * file, which takes time in proportion to its size: the CLI waits for the
 * answer HTTP_TIMEOUT_MS plus a second per ADD_WAIT_RATE bytes, a rate
 * any disk that holds a state_dir sustains for a copy and two reads.
 */
#define ADD_WAIT_RATE		(16ULL * 1024 * 1024)
#define WATCH_INTERVAL_MS	500
#define DEFAULT_TOKEN_FILE	"/var/lib/fleetcast/api.token"	/* SPEC.md */

struct http_res {
	int	 status;
	char	*body;
	size_t	 len;
	json_t	*json;
};

/* ---- the HTTP client ---- */

static int
url_split(const char *url, char **host, char **port, char **prefix)
{
	const char	*p, *h, *he, *slash;

	if (strncmp(url, "http://", 7) != 0)
		return (-1);
	h = url + 7;
	slash = strchr(h, '/');
	he = slash != NULL ? slash : h + strlen(h);
	*prefix = xstrdup(slash != NULL ? slash : "");
	if ((*prefix)[0] != '\0' && (*prefix)[strlen(*prefix) - 1] == '/')
		(*prefix)[strlen(*prefix) - 1] = '\0';
	if (*h == '[') {
		if ((p = memchr(h, ']', he - h)) == NULL)
			goto bad;
		*host = xstrndup(h + 1, p - h - 1);
		p++;
	} else {
		for (p = h; p < he && *p != ':'; p++)
			;
		*host = xstrndup(h, p - h);
	}
	if (p < he && *p == ':')
		*port = xstrndup(p + 1, he - p - 1);
	else if (p == he)
		*port = xstrdup("80");
	else
		goto bad2;
	if ((*host)[0] == '\0' || (*port)[0] == '\0')
		goto bad3;
	return (0);
bad3:
	free(*port);
bad2:
	free(*host);
bad:
	free(*prefix);
	return (-1);
}

/* Is the API on this host, so that the server can read our files? */
static int
api_is_local(void)
{
	char	*host, *port, *prefix;
	int	 local;

	if (url_split(cli_api_url, &host, &port, &prefix) == -1)
		return (0);
	local = strcmp(host, "127.0.0.1") == 0 ||
	    strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0;
	free(host);
	free(port);
	free(prefix);
	return (local);
}

static int
load_token(char *out, size_t outlen, char *err, size_t errlen)
{
	const char	*t, *file;
	char		*dir, path[512];
	FILE		*f;

	if ((t = getenv("FLEETCAST_TOKEN")) != NULL && *t != '\0') {
		snprintf(out, outlen, "%s", t);
		return (0);
	}
	if ((file = getenv("FLEETCAST_TOKEN_FILE")) == NULL || *file == '\0') {
		/* The server's state_dir on this host, else the default. */
		file = DEFAULT_TOKEN_FILE;
		if ((dir = conf_peek(cli_server_conf(), "state_dir")) != NULL) {
			if ((size_t)snprintf(path, sizeof(path), "%s/api.token",
			    dir) < sizeof(path))
				file = path;
			free(dir);
		}
	}
	if ((f = fopen(file, "r")) == NULL) {
		snprintf(err, errlen, "admin token: %s: %s (set "
		    "FLEETCAST_TOKEN or FLEETCAST_TOKEN_FILE)", file,
		    strerror(errno));
		return (-1);
	}
	if (fgets(out, (int)outlen, f) == NULL)
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	if (out[0] == '\0') {
		snprintf(err, errlen, "admin token: %s is empty", file);
		return (-1);
	}
	return (0);
}

static int
io_wait(int fd, short ev, int ms)
{
	struct pollfd	pfd = { fd, ev, 0 };
	int		rv;

	while ((rv = poll(&pfd, 1, ms)) == -1 && errno == EINTR)
		;
	if (rv == 0)
		errno = ETIMEDOUT;
	return (rv > 0 ? 0 : -1);
}

static int
send_all(int fd, const void *buf, size_t len)
{
	const uint8_t	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if (io_wait(fd, POLLOUT, HTTP_TIMEOUT_MS) == -1)
			return (-1);
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (-1);
		p += n;
		len -= n;
	}
	return (0);
}

/* Parse the status line and headers; the body follows at *body. */
static int
parse_response(char *buf, size_t len, struct http_res *res, char *err,
    size_t errlen)
{
	char		*end, *line, *next, *colon;
	long long	 clen = -1;
	size_t		 hlen;

	if ((end = memmem(buf, len, "\r\n\r\n", 4)) == NULL) {
		snprintf(err, errlen, "API: response without a header end");
		return (-1);
	}
	*end = '\0';
	hlen = end - buf + 4;
	if (sscanf(buf, "HTTP/1.%*d %d", &res->status) != 1) {
		snprintf(err, errlen, "API: not an HTTP response");
		return (-1);
	}
	for (line = strstr(buf, "\r\n"); line != NULL; line = next) {
		line += 2;
		next = strstr(line, "\r\n");
		if (next != NULL)
			*next = '\0';
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		*colon = '\0';
		if (strcasecmp(line, "Content-Length") == 0)
			clen = strtoll(colon + 1, NULL, 10);
		else if (strcasecmp(line, "Transfer-Encoding") == 0) {
			snprintf(err, errlen, "API: chunked responses are not "
			    "supported");
			return (-1);
		}
		if (next == NULL)
			break;
	}
	if (clen >= 0 && (size_t)clen < len - hlen)
		len = hlen + clen;
	res->body = xstrndup(buf + hlen, len - hlen);
	res->len = len - hlen;
	return (0);
}

/* Where the head of a response ends and its Content-Length, if known. */
static int
head_complete(const char *buf, size_t len, size_t *hlen, long long *clen)
{
	const char	*end, *cl;

	if ((end = memmem(buf, len, "\r\n\r\n", 4)) == NULL)
		return (0);
	*hlen = end - buf + 4;
	*clen = -1;
	/* buf is NUL-terminated; the match must be within the head. */
	if ((cl = strcasestr(buf, "\r\nContent-Length:")) != NULL && cl < end)
		*clen = strtoll(cl + 17, NULL, 10);
	return (1);
}

/*
 * Read a response into *res: to the end of the connection, or (one) to
 * the end of its Content-Length so that the connection can carry another
 * request.  wait_ms bounds each wait for data.
 */
static int
http_read(int fd, int wait_ms, int one, struct http_res *res, char *err,
    size_t errlen)
{
	char		*buf = NULL;
	size_t		 blen = 0, bcap = 0, hlen;
	long long	 clen;
	ssize_t		 n;
	int		 rv = -1;

	memset(res, 0, sizeof(*res));
	for (;;) {
		if (bcap - blen < 65536) {
			bcap = bcap == 0 ? 65536 * 2 : bcap * 2;
			if (bcap > HTTP_MAX_RESPONSE) {
				snprintf(err, errlen, "API: response larger "
				    "than %d bytes", HTTP_MAX_RESPONSE);
				goto out;
			}
			buf = xreallocarray(buf, 1, bcap + 1);
		}
		if (io_wait(fd, POLLIN, wait_ms) == -1)
			goto ioerr;
		n = recv(fd, buf + blen, bcap - blen, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto ioerr;
		if (n == 0)
			break;
		blen += n;
		buf[blen] = '\0';
		if (one && head_complete(buf, blen, &hlen, &clen) &&
		    clen >= 0 && blen >= hlen + (size_t)clen)
			break;
	}
	if (buf == NULL || blen == 0) {
		snprintf(err, errlen, "API %s: empty response", cli_api_url);
		goto out;
	}
	buf[blen] = '\0';
	if (parse_response(buf, blen, res, err, errlen) == -1)
		goto out;
	res->json = json_loadb(res->body, res->len, 0, NULL);
	rv = 0;
	goto out;
ioerr:
	snprintf(err, errlen, "API %s: %s", cli_api_url, strerror(errno));
out:
	free(buf);
	return (rv);
}

/*
 * One request.  body (len bytes) or the contents of upload_fd (len bytes)
 * is sent as the request body, and the answer is waited for wait_ms
 * milliseconds at most between reads.  On success *res has the status
 * and, when the body is JSON, the parsed value.
 */
static int
http_request(const char *method, const char *path, const char *ctype,
    const void *body, size_t len, int upload_fd, int wait_ms,
    struct http_res *res, char *err, size_t errlen)
{
	struct addrinfo	 hints, *ai = NULL, *a;
	char		*host = NULL, *port = NULL, *prefix = NULL, *hdr = NULL;
	char		*auth = NULL, token[512], chunk[65536];
	ssize_t		 n;
	int		 fd = -1, rv = -1, gai, fl;
	uint64_t	 sent;

	memset(res, 0, sizeof(*res));
	if (url_split(cli_api_url, &host, &port, &prefix) == -1) {
		snprintf(err, errlen, "--api: '%s' is not http://HOST[:PORT]",
		    cli_api_url);
		return (-2);
	}
	if (load_token(token, sizeof(token), err, errlen) == -1)
		goto out;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((gai = getaddrinfo(host, port, &hints, &ai)) != 0) {
		snprintf(err, errlen, "API %s: %s", cli_api_url,
		    gai_strerror(gai));
		goto out;
	}
	for (a = ai; a != NULL; a = a->ai_next) {
		if ((fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
		    a->ai_protocol)) == -1)
			continue;
		fl = fcntl(fd, F_GETFL);
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 ||
		    (errno == EINPROGRESS && io_wait(fd, POLLOUT,
		    HTTP_TIMEOUT_MS) == 0 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &gai,
		    &(socklen_t){ sizeof(gai) }) == 0 && (errno = gai) == 0))
			break;
		close(fd);
		fd = -1;
	}
	if (fd == -1) {
		snprintf(err, errlen, "API %s: cannot connect: %s (is "
		    "fleetcastd running?)", cli_api_url, strerror(errno));
		goto out;
	}
	/*
	 * The server reads at most 1 MiB of a request body before it has
	 * checked the token; a connection that has shown the token may
	 * carry an upload.  So an upload goes second, after an
	 * authenticated request on the same connection.
	 */
	if (upload_fd != -1)
		xasprintf(&auth, "GET %s/v1/status HTTP/1.1\r\nHost: %s\r\n"
		    "Authorization: Bearer %s\r\nAccept: application/json\r\n"
		    "Content-Length: 0\r\n\r\n", prefix, host, token);
	xasprintf(&hdr, "%s %s%s HTTP/1.1\r\nHost: %s\r\n"
	    "Authorization: Bearer %s\r\nConnection: close\r\n"
	    "Accept: application/json\r\n%s%s%sContent-Length: %zu\r\n\r\n",
	    method, prefix, path, host, token, ctype != NULL ?
	    "Content-Type: " : "", ctype != NULL ? ctype : "",
	    ctype != NULL ? "\r\n" : "", len);
	explicit_bzero(token, sizeof(token));
	if (auth != NULL) {
		if (send_all(fd, auth, strlen(auth)) == -1)
			goto ioerr;
		if (http_read(fd, HTTP_TIMEOUT_MS, 1, res, err, errlen) == -1)
			goto out;
		/* Refused (the token, most likely): that is the answer. */
		if (res->status != 200) {
			rv = 0;
			goto out;
		}
		free(res->body);
		json_decref(res->json);
		memset(res, 0, sizeof(*res));
	}
	if (send_all(fd, hdr, strlen(hdr)) == -1)
		goto ioerr;
	if (upload_fd != -1) {
		for (sent = 0; sent < len; sent += n) {
			n = read(upload_fd, chunk, sizeof(chunk));
			if (n <= 0) {
				snprintf(err, errlen, "reading the package: "
				    "%s", n == 0 ? "file shrank" :
				    strerror(errno));
				goto out;
			}
			if (send_all(fd, chunk, n) == -1)
				goto ioerr;
		}
	} else if (len > 0 && send_all(fd, body, len) == -1)
		goto ioerr;
	if (http_read(fd, wait_ms, 0, res, err, errlen) == 0)
		rv = 0;
	goto out;
ioerr:
	snprintf(err, errlen, "API %s: %s", cli_api_url, strerror(errno));
out:
	if (fd != -1)
		close(fd);
	if (ai != NULL)
		freeaddrinfo(ai);
	if (auth != NULL)
		freezero(auth, strlen(auth));
	if (hdr != NULL)
		freezero(hdr, strlen(hdr));
	free(host);
	free(port);
	free(prefix);
	return (rv);
}

static void
res_free(struct http_res *res)
{
	free(res->body);
	json_decref(res->json);
	memset(res, 0, sizeof(*res));
}

/*
 * Turn what http_request() returned (rv, err) and the answer into a
 * message and an exit status: 0 with *res kept on a 2xx answer, else
 * EXIT_USAGE or EXIT_FAIL.
 */
static int
api_result(const char *cmd, int rv, const char *err, struct http_res *res)
{
	const char	*msg;

	if (rv == -2)
		return (cli_usage_error(cmd, "%s", err));
	if (rv == -1)
		return (cli_fail(cmd, "%s", err));
	if (res->status >= 200 && res->status < 300)
		return (EXIT_OK);
	msg = json_string_value(json_object_get(res->json, "error"));
	fprintf(stderr, "fleetcast %s: %s\n", cmd, msg != NULL ? msg :
	    "the server answered without an error message");
	rv = res->status;
	res_free(res);
	switch (rv) {
	case 400:
	case 404:
	case 409:
	case 413:
	case 422:
		return (EXIT_USAGE);
	default:
		return (EXIT_FAIL);
	}
}

/* Make a request with a JSON body (or none): api_result() of it. */
static int
api_call_wait(const char *cmd, const char *method, const char *path,
    json_t *body, int wait_ms, struct http_res *res)
{
	char	 err[1024], *s = NULL;
	int	 rv;

	if (body != NULL)
		s = json_dumps(body, JSON_COMPACT);
	rv = http_request(method, path, body != NULL ? "application/json" :
	    NULL, s, s != NULL ? strlen(s) : 0, -1, wait_ms, res, err,
	    sizeof(err));
	free(s);
	return (api_result(cmd, rv, err, res));
}

static int
api_call(const char *cmd, const char *method, const char *path, json_t *body,
    struct http_res *res)
{
	return (api_call_wait(cmd, method, path, body, HTTP_TIMEOUT_MS, res));
}

/* How long package add waits for the server's answer, milliseconds. */
static int
add_wait_ms(uint64_t size)
{
	uint64_t	ms = HTTP_TIMEOUT_MS + size / ADD_WAIT_RATE * 1000;

	return (ms > INT_MAX ? INT_MAX : (int)ms);
}

/* Path segments are names checked by the server; escape them anyway. */
static char *
path_of(const char *prefix, const char *name, const char *suffix)
{
	char		*esc, *p, *out;
	const char	*s;

	esc = xmalloc(strlen(name) * 3 + 1);
	for (s = name, p = esc; *s != '\0'; s++) {
		if (isalnum((unsigned char)*s) || *s == '-' || *s == '_' ||
		    *s == '.')
			*p++ = *s;
		else
			p += sprintf(p, "%%%02X", (unsigned char)*s);
	}
	*p = '\0';
	xasprintf(&out, "%s%s%s", prefix, esc, suffix);
	free(esc);
	return (out);
}

/* ---- output ---- */

static void
print_json(json_t *o)
{
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
}

static const char *
jstr(json_t *o, const char *key)
{
	json_t	*v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return ("-");
	if (json_is_string(v))
		return (json_string_value(v));
	return ("?");
}

static void
jval(json_t *o, const char *key, char *buf, size_t len)
{
	json_t	*v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		snprintf(buf, len, "-");
	else if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
	else {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		snprintf(buf, len, "%s", s != NULL ? s : "?");
		free(s);
	}
}

static void
human_bytes(uint64_t n, char *buf, size_t len)
{
	const char	*u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double		 v = (double)n;
	int		 i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%" PRIu64 " B", n);
	else
		snprintf(buf, len, "%.1f %s", v, u[i]);
}

/* Print every key of a flat object as "key: value". */
static void
print_object(json_t *o)
{
	const char	*k;
	json_t		*v;
	char		 buf[2048];

	json_object_foreach(o, k, v) {
		jval(o, k, buf, sizeof(buf));
		printf("%-20s %s\n", k, buf);
	}
}

/* ---- package ---- */

static int
package_add(int argc, char **argv)
{
	struct http_res	 res;
	struct stat	 st;
	char		 err[1024], real[PATH_MAX];
	const char	*file = NULL;
	json_t		*body;
	int		 i, json = 0, upload = 0, fd, rv;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--upload") == 0)
			upload = 1;
		else if (argv[i][0] == '-')
			return (cli_usage_error("package add", "unknown option "
			    "'%s'", argv[i]));
		else if (file == NULL)
			file = argv[i];
		else
			return (cli_usage_error("package add", "one FILE only"));
	}
	if (file == NULL)
		return (cli_usage_error("package add", "FILE.fcpkg is needed"));
	if (stat(file, &st) == -1 || !S_ISREG(st.st_mode))
		return (cli_usage_error("package add", "%s: %s", file,
		    errno != 0 ? strerror(errno) : "not a regular file"));
	if (!upload && api_is_local() && realpath(file, real) != NULL) {
		/*
		 * Same host: the server copies the file itself (up to its
		 * package size limit) and answers once it has verified it.
		 */
		body = json_pack("{s:s}", "path", real);
		rv = api_call_wait("package add", "POST", "/v1/packages", body,
		    add_wait_ms((uint64_t)st.st_size), &res);
		json_decref(body);
	} else {
		if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1)
			return (cli_usage_error("package add", "%s: %s", file,
			    strerror(errno)));
		rv = http_request("POST", "/v1/packages",
		    "application/octet-stream", NULL, (size_t)st.st_size, fd,
		    add_wait_ms((uint64_t)st.st_size), &res, err, sizeof(err));
		close(fd);
		rv = api_result("package add", rv, err, &res);
	}
	if (rv != EXIT_OK)
		return (rv);
	if (json)
		print_json(res.json);
	else
		printf("package %s%s%s added\n", jstr(res.json, "id"),
		    json_is_string(json_object_get(res.json, "version")) ?
		    " " : "", json_is_string(json_object_get(res.json,
		    "version")) ? jstr(res.json, "version") : "");
	res_free(&res);
	return (EXIT_OK);
}

static int
wants_json(int argc, char **argv, int from, const char *cmd, const char **arg)
{
	int	i, json = 0;

	*arg = NULL;
	for (i = from; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (argv[i][0] == '-') {
			cli_usage_error(cmd, "unknown option '%s'", argv[i]);
			return (-1);
		} else if (*arg == NULL)
			*arg = argv[i];
		else {
			cli_usage_error(cmd, "unexpected argument '%s'",
			    argv[i]);
			return (-1);
		}
	}
	return (json);
}

/*
 * A list subcommand: GET path, and print the answer as JSON (--json) or
 * as the table rows() makes of it.
 */
static int
list_call(int argc, char **argv, const char *cmd, const char *path,
    void (*rows)(json_t *))
{
	struct http_res	 res;
	const char	*arg;
	int		 json, rv;

	if ((json = wants_json(argc, argv, 2, cmd, &arg)) == -1)
		return (EXIT_USAGE);
	if (arg != NULL)
		return (cli_usage_error(cmd, "unexpected argument '%s'", arg));
	if ((rv = api_call(cmd, "GET", path, NULL, &res)) != EXIT_OK)
		return (rv);
	if (json)
		print_json(res.json);
	else
		rows(res.json);
	res_free(&res);
	return (EXIT_OK);
}

static void
package_rows(json_t *a)
{
	json_t	*o;
	size_t	 i;
	char	 size[32];

	printf("%-24s %-12s %-8s %-8s %10s  %s\n", "ID", "TYPE", "VERSION",
	    "URGENCY", "SIZE", "ADDED");
	json_array_foreach(a, i, o) {
		human_bytes((uint64_t)json_integer_value(json_object_get(o,
		    "size")), size, sizeof(size));
		printf("%-24s %-12s %-8s %-8s %10s  %s\n", jstr(o, "id"),
		    jstr(o, "type"), jstr(o, "version"), jstr(o, "urgency"),
		    size, jstr(o, "added_at"));
	}
}

/*
 * GET (show), POST or DELETE on one named thing: print the answer as
 * JSON (--json), else "NAME done", or for done NULL every key of it.
 */
static int
named_call(int argc, char **argv, const char *cmd, const char *method,
    const char *pre, const char *suf, const char *done)
{
	struct http_res	 res;
	const char	*arg;
	char		*path;
	int		 json, rv;

	if ((json = wants_json(argc, argv, 2, cmd, &arg)) == -1)
		return (EXIT_USAGE);
	if (arg == NULL)
		return (cli_usage_error(cmd, "a name is needed"));
	path = path_of(pre, arg, suf);
	rv = api_call(cmd, method, path, NULL, &res);
	free(path);
	if (rv != EXIT_OK)
		return (rv);
	if (json)
		print_json(res.json);
	else if (done == NULL)
		print_object(res.json);
	else
		printf("%s %s\n", arg, done);
	res_free(&res);
	return (EXIT_OK);
}

int
cmd_package_server(int argc, char **argv)
{
	if (strcmp(argv[1], "add") == 0)
		return (package_add(argc, argv));
	if (strcmp(argv[1], "list") == 0)
		return (list_call(argc, argv, "package list", "/v1/packages",
		    package_rows));
	if (strcmp(argv[1], "show") == 0)
		return (named_call(argc, argv, "package show", "GET",
		    "/v1/packages/", "", NULL));
	if (strcmp(argv[1], "remove") == 0)
		return (named_call(argc, argv, "package remove", "DELETE",
		    "/v1/packages/", "", "removed"));
	return (cli_usage_error("package", "unknown subcommand '%s'",
	    argv[1]));
}

/*
 * The start of machine, scenario and run: no subcommand is usage on
 * stderr and exit 2, --help anywhere usage on stdout and exit 0; -1 to
 * go on.
 */
static int
sub_usage(int argc, char **argv, void (*usage)(FILE *))
{
	if (argc < 2) {
		usage(stderr);
		return (EXIT_USAGE);
	}
	if (cli_wants_help(argc, argv)) {
		usage(stdout);
		return (EXIT_OK);
	}
	return (-1);
}

/* ---- machine ---- */

static void
machine_usage(FILE *f)
{
	fprintf(f, "usage: fleetcast machine list [--json]\n"
	    "       fleetcast machine show NAME [--json]\n"
	    "       fleetcast machine approve NAME [--fingerprint FP]\n"
	    "       fleetcast machine clear-error NAME\n");
}

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
		    jstr(o, "name"), jstr(o, "state"),
		    jstr(o, "request_fingerprint"), jstr(o, "segment"),
		    jstr(o, "address"), jstr(o, "last_seen"), jstr(o, "error"));
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
	char		*path;
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
	path = path_of("/v1/machines/", name, "/approve");
	rv = api_call("machine approve", "POST", path, body, &res);
	free(path);
	json_decref(body);
	if (rv != EXIT_OK)
		return (rv);
	if (json)
		print_json(res.json);
	else
		printf("%s approved (key fingerprint %s)\n", name,
		    jstr(res.json, "approved_fingerprint"));
	res_free(&res);
	return (EXIT_OK);
}

int
cmd_machine(int argc, char **argv)
{
	int	rv;

	if ((rv = sub_usage(argc, argv, machine_usage)) != -1)
		return (rv);
	if (strcmp(argv[1], "list") == 0)
		return (list_call(argc, argv, "machine list", "/v1/machines",
		    machine_rows));
	if (strcmp(argv[1], "show") == 0)
		return (named_call(argc, argv, "machine show", "GET",
		    "/v1/machines/", "", NULL));
	if (strcmp(argv[1], "approve") == 0)
		return (machine_approve(argc, argv));
	if (strcmp(argv[1], "clear-error") == 0)
		return (named_call(argc, argv, "machine clear-error", "POST",
		    "/v1/machines/", "/clear-error", "error cleared"));
	machine_usage(stderr);
	return (cli_usage_error("machine", "unknown subcommand '%s'",
	    argv[1]));
}

/* ---- scenario ---- */

static void
scenario_usage(FILE *f)
{
	fprintf(f, "usage: fleetcast scenario create NAME --package ID "
	    "[--package ID]...\n"
	    "           [--max-targets N] [--max-wait SECONDS] "
	    "[--at-next-boot] [--reboot-after]\n"
	    "           [--poweroff-after] [--unicast] [--group ADDR[:PORT]] "
	    "[--on-error stop|continue]\n"
	    "       fleetcast scenario list [--json]\n"
	    "       fleetcast scenario show NAME [--json]\n"
	    "       fleetcast scenario remove NAME\n"
	    "       fleetcast scenario run NAME --machine NAME [--machine "
	    "NAME]... [--wait]\n");
}

static int
parse_count(const char *opt, const char *s, long long min, long long max,
    long long *out)
{
	char	*end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' || errno != 0 || *out < min ||
	    *out > max) {
		cli_usage_error("scenario create", "%s: '%s' must be a whole "
		    "number from %lld to %lld", opt, s, min, max);
		return (-1);
	}
	return (0);
}

static int
scenario_create(int argc, char **argv)
{
	struct http_res	 res;
	json_t		*o, *pk, *w;
	const char	*name = NULL;
	long long	 n;
	int		 i, rv, json = 0;
	size_t		 k;

	o = json_object();
	pk = json_array();
	json_object_set_new(o, "packages", pk);
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];
		int has = i + 1 < argc;

		if (strcmp(a, "--package") == 0 && has)
			json_array_append_new(pk, json_string(argv[++i]));
		else if (strcmp(a, "--max-targets") == 0 && has) {
			if (parse_count(a, argv[++i], 1, 1000000, &n) == -1)
				goto usage;
			json_object_set_new(o, "max_targets", json_integer(n));
		} else if (strcmp(a, "--max-wait") == 0 && has) {
			if (parse_count(a, argv[++i], 1, 30 * 86400, &n) == -1)
				goto usage;
			json_object_set_new(o, "max_wait", json_integer(n));
		} else if (strcmp(a, "--at-next-boot") == 0)
			json_object_set_new(o, "at_next_boot", json_true());
		else if (strcmp(a, "--reboot-after") == 0)
			json_object_set_new(o, "reboot_after", json_true());
		else if (strcmp(a, "--poweroff-after") == 0)
			json_object_set_new(o, "poweroff_after", json_true());
		else if (strcmp(a, "--unicast") == 0)
			json_object_set_new(o, "unicast", json_true());
		else if (strcmp(a, "--group") == 0 && has)
			json_object_set_new(o, "group",
			    json_string(argv[++i]));
		else if (strcmp(a, "--on-error") == 0 && has) {
			if (strcmp(argv[i + 1], "stop") != 0 &&
			    strcmp(argv[i + 1], "continue") != 0) {
				cli_usage_error("scenario create", "--on-error: "
				    "'%s' must be stop or continue",
				    argv[i + 1]);
				goto usage;
			}
			json_object_set_new(o, "on_error",
			    json_string(argv[++i]));
		} else if (strcmp(a, "--json") == 0)
			json = 1;
		else if (a[0] == '-') {
			cli_usage_error("scenario create", "%s: %s", a,
			    has || strncmp(a, "--", 2) != 0 ?
			    "unknown option" : "needs a value");
			goto usage;
		} else if (name == NULL)
			name = a;
		else {
			cli_usage_error("scenario create", "unexpected "
			    "argument '%s'", a);
			goto usage;
		}
	}
	if (name == NULL) {
		cli_usage_error("scenario create", "NAME is needed");
		goto usage;
	}
	if (json_array_size(pk) == 0) {
		cli_usage_error("scenario create", "--package: at least one "
		    "is needed");
		goto usage;
	}
	json_object_set_new(o, "name", json_string(name));
	rv = api_call("scenario create", "POST", "/v1/scenarios", o, &res);
	json_decref(o);
	if (rv != EXIT_OK)
		return (rv);
	json_array_foreach(json_object_get(res.json, "warnings"), k, w)
		fprintf(stderr, "fleetcast scenario create: warning: %s\n",
		    json_string_value(w));
	if (json)
		print_json(res.json);
	else
		printf("scenario %s created\n", name);
	res_free(&res);
	return (EXIT_OK);
usage:
	json_decref(o);
	return (EXIT_USAGE);
}

static void
scenario_rows(json_t *a)
{
	json_t	*o, *p;
	size_t	 i, j, len;
	char	 pk[256], mt[32], mw[32];

	printf("%-24s %-11s %-8s %-24s %s\n", "NAME", "MAX TARGETS",
	    "MAX WAIT", "PACKAGES", "OPTIONS");
	json_array_foreach(a, i, o) {
		pk[0] = '\0';
		len = 0;
		json_array_foreach(json_object_get(o, "packages"), j, p) {
			if (len < sizeof(pk))
				len += snprintf(pk + len, sizeof(pk) - len,
				    "%s%s", j > 0 ? "," : "",
				    json_string_value(p));
		}
		jval(o, "max_targets", mt, sizeof(mt));
		jval(o, "max_wait", mw, sizeof(mw));
		printf("%-24s %-11s %-8s %-24s %s%s%s%s%s%s\n",
		    jstr(o, "name"), mt, mw, pk,
		    json_is_true(json_object_get(o, "unicast")) ?
		    "unicast " : "",
		    json_is_true(json_object_get(o, "at_next_boot")) ?
		    "at-next-boot " : "",
		    json_is_true(json_object_get(o, "reboot_after")) ?
		    "reboot-after " : "",
		    json_is_true(json_object_get(o, "poweroff_after")) ?
		    "poweroff-after " : "",
		    "on-error=", jstr(o, "on_error"));
	}
}

static int	run_follow(uint64_t, FILE *);

static int
scenario_run(int argc, char **argv)
{
	struct http_res	 res;
	json_t		*o, *ms;
	const char	*name = NULL;
	int		 i, rv, wait = 0;
	uint64_t	 id;
	char		*path;

	ms = json_array();
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--machine") == 0 && i + 1 < argc)
			json_array_append_new(ms, json_string(argv[++i]));
		else if (strcmp(argv[i], "--wait") == 0)
			wait = 1;
		else if (argv[i][0] == '-') {
			json_decref(ms);
			return (cli_usage_error("scenario run", "%s: %s",
			    argv[i], strcmp(argv[i], "--machine") == 0 ?
			    "needs a value" : "unknown option"));
		} else if (name == NULL)
			name = argv[i];
		else {
			json_decref(ms);
			return (cli_usage_error("scenario run", "unexpected "
			    "argument '%s'", argv[i]));
		}
	}
	if (name == NULL || json_array_size(ms) == 0) {
		json_decref(ms);
		return (cli_usage_error("scenario run", "%s is needed",
		    name == NULL ? "NAME" : "--machine"));
	}
	o = json_pack("{s:o}", "machines", ms);
	path = path_of("/v1/scenarios/", name, "/run");
	rv = api_call("scenario run", "POST", path, o, &res);
	free(path);
	json_decref(o);
	if (rv != EXIT_OK)
		return (rv);
	id = (uint64_t)json_integer_value(json_object_get(res.json, "id"));
	res_free(&res);
	rv = EXIT_OK;
	/* With --wait the progress goes to stderr: stdout ends with the id. */
	if (wait) {
		fprintf(stderr, "run %" PRIu64 "\n", id);
		rv = run_follow(id, stderr);
	}
	printf("%" PRIu64 "\n", id);
	return (rv);
}

int
cmd_scenario(int argc, char **argv)
{
	int	rv;

	if ((rv = sub_usage(argc, argv, scenario_usage)) != -1)
		return (rv);
	if (strcmp(argv[1], "create") == 0)
		return (scenario_create(argc, argv));
	if (strcmp(argv[1], "list") == 0)
		return (list_call(argc, argv, "scenario list", "/v1/scenarios",
		    scenario_rows));
	if (strcmp(argv[1], "show") == 0)
		return (named_call(argc, argv, "scenario show", "GET",
		    "/v1/scenarios/", "", NULL));
	if (strcmp(argv[1], "remove") == 0)
		return (named_call(argc, argv, "scenario remove", "DELETE",
		    "/v1/scenarios/", "", "removed"));
	if (strcmp(argv[1], "run") == 0)
		return (scenario_run(argc, argv));
	scenario_usage(stderr);
	return (cli_usage_error("scenario", "unknown subcommand '%s'",
	    argv[1]));
}

/* ---- run ---- */

static void
run_usage(FILE *f)
{
	fprintf(f, "usage: fleetcast run list [--json]\n"
	    "       fleetcast run show RUN [--json]\n"
	    "       fleetcast run watch RUN\n"
	    "       fleetcast run start RUN     # a waiting run, now, with "
	    "the ready machines\n"
	    "       fleetcast run cancel RUN\n");
}

static int
parse_run_id(const char *cmd, const char *s, uint64_t *id)
{
	char			*end;
	unsigned long long	 v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (s[0] == '\0' || s[0] == '-' || *end != '\0' || errno != 0 ||
	    v == 0) {
		cli_usage_error(cmd, "RUN: '%s' is not a run id (a whole "
		    "number from 1)", s);
		return (-1);
	}
	*id = v;
	return (0);
}

static int
get_run(const char *cmd, uint64_t id, struct http_res *res)
{
	char	path[64];

	snprintf(path, sizeof(path), "/v1/runs/%" PRIu64, id);
	return (api_call(cmd, "GET", path, NULL, res));
}

/* Total size of the run's packages, for progress bars (0: unknown). */
static uint64_t
run_total_bytes(json_t *run)
{
	struct http_res	 res;
	json_t		*p;
	size_t		 i;
	uint64_t	 total = 0;
	char		*path;

	json_array_foreach(json_object_get(json_object_get(run, "spec"),
	    "packages"), i, p) {
		path = path_of("/v1/packages/", json_string_value(p), "");
		if (http_request("GET", path, NULL, NULL, 0, -1,
		    HTTP_TIMEOUT_MS, &res, NULL, 0) != 0 || res.status != 200) {
			free(path);
			res_free(&res);
			return (0);
		}
		free(path);
		total += (uint64_t)json_integer_value(json_object_get(res.json,
		    "size"));
		res_free(&res);
	}
	return (total);
}

static int
machine_ok(const char *state)
{
	return (strcmp(state, "succeeded") == 0 ||
	    strcmp(state, "pending_boot") == 0);
}

static void
print_run_table(json_t *run, FILE *f)
{
	json_t	*m;
	size_t	 i;
	char	 bytes[32], ex[16];

	fprintf(f, "run %" JSON_INTEGER_FORMAT "  scenario %s  state %s\n",
	    json_integer_value(json_object_get(run, "id")),
	    jstr(run, "scenario"), jstr(run, "state"));
	fprintf(f, "  created %s  transfer started %s  finished %s\n",
	    jstr(run, "created_at"), jstr(run, "transfer_started_at"),
	    jstr(run, "finished_at"));
	fprintf(f, "%-24s %-13s %-9s %10s %4s  %s\n", "MACHINE", "STATE",
	    "PATH", "RECEIVED", "EXIT", "ERROR");
	json_array_foreach(json_object_get(run, "machines"), i, m) {
		human_bytes((uint64_t)json_integer_value(json_object_get(m,
		    "bytes_received")), bytes, sizeof(bytes));
		jval(m, "exit_status", ex, sizeof(ex));
		fprintf(f, "%-24s %-13s %-9s %10s %4s  %s\n", jstr(m, "name"),
		    jstr(m, "state"), jstr(m, "path"), bytes, ex,
		    jstr(m, "error"));
		/*
		 * Why the machine is on its path is a sentence (it names the
		 * subnet, or the sender's figures for a straggler): too long
		 * for a column, so it gets an indented line of its own.
		 */
		if (json_is_string(json_object_get(m, "path_reason")) &&
		    *jstr(m, "path_reason") != '\0')
			fprintf(f, "    path_reason: %s\n",
			    jstr(m, "path_reason"));
	}
}

/* The live view on a terminal: one line per machine with a bar. */
static void
draw_progress(json_t *run, uint64_t total, FILE *f, int *lines)
{
	json_t		*m;
	size_t		 i;
	uint64_t	 got;
	int		 fill, k;
	char		 bar[32];

	if (*lines > 0)
		fprintf(f, "\033[%dA", *lines);
	*lines = 0;
	fprintf(f, "\033[2Krun %" JSON_INTEGER_FORMAT " (%s): %s\n",
	    json_integer_value(json_object_get(run, "id")),
	    jstr(run, "scenario"), jstr(run, "state"));
	(*lines)++;
	json_array_foreach(json_object_get(run, "machines"), i, m) {
		got = (uint64_t)json_integer_value(json_object_get(m,
		    "bytes_received"));
		fill = total > 0 ? (int)(got >= total ? 24 :
		    (double)got / (double)total * 24) : 0;
		for (k = 0; k < 24; k++)
			bar[k] = k < fill ? '#' : '.';
		bar[24] = '\0';
		fprintf(f, "\033[2K  %-20.20s [%s] %3d%%  %-13s %s\n",
		    jstr(m, "name"), bar, total > 0 ? (int)(got >= total ?
		    100 : (double)got / (double)total * 100) : 0,
		    jstr(m, "state"), json_is_string(json_object_get(m,
		    "error")) ? jstr(m, "error") : "");
		(*lines)++;
	}
	fflush(f);
}

/*
 * Follow a run until it is finished: bars on a terminal, otherwise one
 * line per machine state change.  0 when every machine succeeded (or is
 * pending_boot), 1 otherwise.
 */
static int
run_follow(uint64_t id, FILE *f)
{
	struct http_res	 res;
	json_t		*prev = NULL, *m, *pm;
	uint64_t	 total = 0;
	int		 tty = isatty(fileno(f)), lines = 0, rv, ok;
	size_t		 i;
	struct timespec	 ts = { 0, WATCH_INTERVAL_MS * 1000000L };

	for (;;) {
		if ((rv = get_run("run watch", id, &res)) != EXIT_OK) {
			json_decref(prev);
			return (rv);
		}
		if (prev == NULL && tty)
			total = run_total_bytes(res.json);
		if (tty)
			draw_progress(res.json, total, f, &lines);
		else {
			json_array_foreach(json_object_get(res.json,
			    "machines"), i, m) {
				pm = prev != NULL ? json_array_get(
				    json_object_get(prev, "machines"), i) :
				    NULL;
				if (pm == NULL || strcmp(jstr(m, "state"),
				    jstr(pm, "state")) != 0)
					fprintf(f, "%s: %s%s%s\n",
					    jstr(m, "name"), jstr(m, "state"),
					    json_is_string(json_object_get(m,
					    "error")) ? ": " : "",
					    json_is_string(json_object_get(m,
					    "error")) ? jstr(m, "error") : "");
			}
			fflush(f);
		}
		json_decref(prev);
		prev = json_incref(res.json);
		if (strcmp(jstr(res.json, "state"), "finished") == 0)
			break;
		res_free(&res);
		nanosleep(&ts, NULL);
	}
	ok = 1;
	json_array_foreach(json_object_get(res.json, "machines"), i, m)
		if (!machine_ok(jstr(m, "state")))
			ok = 0;
	if (!tty)
		print_run_table(res.json, f);
	res_free(&res);
	json_decref(prev);
	return (ok ? EXIT_OK : EXIT_FAIL);
}

static void
run_rows(json_t *a)
{
	json_t	*o;
	size_t	 i;
	char	 nm[16], ns[16];

	printf("%-6s %-24s %-13s %8s %9s  %s\n", "RUN", "SCENARIO", "STATE",
	    "MACHINES", "SUCCEEDED", "CREATED");
	json_array_foreach(a, i, o) {
		jval(o, "machines", nm, sizeof(nm));
		jval(o, "succeeded", ns, sizeof(ns));
		printf("%-6" JSON_INTEGER_FORMAT " %-24s %-13s %8s %9s  %s\n",
		    json_integer_value(json_object_get(o, "id")),
		    jstr(o, "scenario"), jstr(o, "state"), nm, ns,
		    jstr(o, "created_at"));
	}
}

/* The RUN of run start, cancel, show and watch, and whether --json. */
static int
run_arg(int argc, char **argv, int *json, uint64_t *id)
{
	const char	*arg;

	if ((*json = wants_json(argc, argv, 2, argv[1], &arg)) == -1)
		return (EXIT_USAGE);
	if (arg == NULL)
		return (cli_usage_error(argv[1], "RUN is needed"));
	if (parse_run_id(argv[1], arg, id) == -1)
		return (EXIT_USAGE);
	return (EXIT_OK);
}

int
cmd_run(int argc, char **argv)
{
	struct http_res	 res;
	uint64_t	 id;
	int		 json, rv;

	if ((rv = sub_usage(argc, argv, run_usage)) != -1)
		return (rv);
	if (strcmp(argv[1], "list") == 0)
		return (list_call(argc, argv, "run list", "/v1/runs",
		    run_rows));
	if (strcmp(argv[1], "start") == 0 || strcmp(argv[1], "cancel") == 0) {
		char	path[64];

		if ((rv = run_arg(argc, argv, &json, &id)) != EXIT_OK)
			return (rv);
		snprintf(path, sizeof(path), "/v1/runs/%" PRIu64 "/%s", id,
		    argv[1]);
		if ((rv = api_call(argv[1], "POST", path, NULL, &res)) !=
		    EXIT_OK)
			return (rv);
		if (json)
			print_json(res.json);
		else
			printf("run %" PRIu64 " %s\n", id,
			    strcmp(argv[1], "start") == 0 ? "started" :
			    "cancelled");
		res_free(&res);
		return (EXIT_OK);
	}
	if (strcmp(argv[1], "show") == 0 || strcmp(argv[1], "watch") == 0) {
		if ((rv = run_arg(argc, argv, &json, &id)) != EXIT_OK)
			return (rv);
		if (strcmp(argv[1], "watch") == 0)
			return (run_follow(id, stdout));
		if ((rv = get_run("run show", id, &res)) != EXIT_OK)
			return (rv);
		if (json)
			print_json(res.json);
		else
			print_run_table(res.json, stdout);
		res_free(&res);
		return (EXIT_OK);
	}
	run_usage(stderr);
	return (cli_usage_error("run", "unknown subcommand '%s'", argv[1]));
}
