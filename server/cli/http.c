/*
 * The CLI's blocking HTTP/1.1 client of fleetcastd's JSON API (one request
 * per connection, Content-Length bodies, a bounded response), which is all
 * a command-line tool that makes a handful of requests needs, and the
 * helpers the inventory commands share: a request with a JSON body turned
 * into an exit status, and the subcommands that are one request (a list, a
 * named thing).  HTTP 400, 404, 409, 413 and 422 (the request was refused
 * as invalid) are exit status 2, anything else that fails is 1.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "conf.h"
#include "xmalloc.h"

#define HTTP_MAX_RESPONSE	(64 * 1024 * 1024)
#define DEFAULT_TOKEN_FILE	"/var/lib/fleetcast/api.token"	/* SPEC.md */

/* ---- the HTTP client ---- */

/* Split http[s]://HOST[:PORT][/PREFIX]; *tls says which scheme. */
static int
url_split(const char *url, char **host, char **port, char **prefix, int *tls)
{
	const char	*p, *h, *he, *slash;

	if (strncmp(url, "http://", 7) == 0) {
		*tls = 0;
		h = url + 7;
	} else if (strncmp(url, "https://", 8) == 0) {
		*tls = 1;
		h = url + 8;
	} else
		return (-1);
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
		*port = xstrdup(*tls ? "443" : "80");
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
int
http_is_local(void)
{
	char	*host, *port, *prefix;
	int	 local, tls;

	if (url_split(cli_api_url, &host, &port, &prefix, &tls) == -1)
		return (0);
	local = strcmp(host, "127.0.0.1") == 0 ||
	    strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0;
	free(host);
	free(port);
	free(prefix);
	return (local);
}

/*
 * The admin token: $FLEETCAST_TOKEN, else the file $FLEETCAST_TOKEN_FILE,
 * else api.token in the state_dir of the server's configuration on this
 * host (cli_server_conf), else in the default state directory.  A failure
 * names every place looked at and how to point the CLI elsewhere.
 */
static int
load_token(char *out, size_t outlen, char *err, size_t errlen)
{
	const char	*t, *file, *conf, *how;
	char		*dir, path[512], why[768];
	FILE		*f;

	if ((t = getenv("FLEETCAST_TOKEN")) != NULL && *t != '\0') {
		snprintf(out, outlen, "%s", t);
		return (0);
	}
	if ((file = getenv("FLEETCAST_TOKEN_FILE")) != NULL && *file != '\0')
		how = "from FLEETCAST_TOKEN_FILE";
	else {
		/* The server's state_dir on this host, else the default. */
		file = DEFAULT_TOKEN_FILE;
		conf = cli_server_conf();
		how = "the default state_dir";
		if ((dir = conf_peek(conf, "state_dir")) != NULL) {
			if ((size_t)snprintf(path, sizeof(path), "%s/api.token",
			    dir) < sizeof(path)) {
				file = path;
				how = "the state_dir of the server's config";
			}
			free(dir);
		}
		snprintf(why, sizeof(why), "%s (server config looked for: "
		    "FLEETCAST_SERVER_CONF, %s, %s: %s %s)", how,
		    CLI_SERVER_CONF, CLI_SERVER_CONF_ETC, conf,
		    access(conf, R_OK) == 0 ? "read" : "not readable");
		how = why;
	}
	if ((f = fopen(file, "r")) == NULL) {
		snprintf(err, errlen, "admin token: %s: %s; it was %s; set "
		    "FLEETCAST_TOKEN, FLEETCAST_TOKEN_FILE=STATE_DIR/api.token "
		    "or FLEETCAST_SERVER_CONF=FILE", file, strerror(errno),
		    how);
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

/* Send all of buf, through TLS when tls is set. */
static int
send_all(int fd, struct http_tls *tls, const void *buf, size_t len)
{
	const uint8_t	*p = buf;
	ssize_t		 n;

	if (tls != NULL)
		return (http_tls_write(tls, buf, len, HTTP_TIMEOUT_MS));
	while (len > 0) {
		if (http_tls_poll(fd, POLLOUT, HTTP_TIMEOUT_MS) == -1)
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
	else if (clen >= 0 && (size_t)clen > len - hlen) {
		/* The connection ended early: never act on half an answer. */
		snprintf(err, errlen, "API: response cut short: %zu of %lld "
		    "bytes", len - hlen, clen);
		return (-1);
	}
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
http_read(int fd, struct http_tls *tls, int wait_ms, int one,
    struct http_res *res, char *err, size_t errlen)
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
		if (tls != NULL)
			n = http_tls_read(tls, buf + blen, bcap - blen,
			    wait_ms);
		else if (http_tls_poll(fd, POLLIN, wait_ms) == -1)
			goto ioerr;
		else
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
int
http_request(const char *method, const char *path, const char *ctype,
    const void *body, size_t len, int upload_fd, int wait_ms,
    struct http_res *res, char *err, size_t errlen)
{
	struct addrinfo	 hints, *ai = NULL, *a;
	struct http_tls	*tls = NULL;
	char		*host = NULL, *port = NULL, *prefix = NULL, *hdr = NULL;
	char		*auth = NULL, token[512], chunk[65536];
	ssize_t		 n;
	int		 fd = -1, rv = -1, gai, fl, use_tls;
	uint64_t	 sent;

	memset(res, 0, sizeof(*res));
	if (url_split(cli_api_url, &host, &port, &prefix, &use_tls) == -1) {
		snprintf(err, errlen, "--api: '%s' is not http://HOST[:PORT] "
		    "or https://HOST[:PORT]",
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
		    (errno == EINPROGRESS && http_tls_poll(fd, POLLOUT,
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
	if (use_tls && (tls = http_tls_open(fd, host, HTTP_TIMEOUT_MS, err,
	    errlen)) == NULL)
		goto out;
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
		if (send_all(fd, tls, auth, strlen(auth)) == -1)
			goto ioerr;
		if (http_read(fd, tls, HTTP_TIMEOUT_MS, 1, res, err,
		    errlen) == -1)
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
	if (send_all(fd, tls, hdr, strlen(hdr)) == -1)
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
			if (send_all(fd, tls, chunk, n) == -1)
				goto ioerr;
		}
	} else if (len > 0 && send_all(fd, tls, body, len) == -1)
		goto ioerr;
	if (http_read(fd, tls, wait_ms, 0, res, err, errlen) == 0)
		rv = 0;
	goto out;
ioerr:
	snprintf(err, errlen, "API %s: %s", cli_api_url, strerror(errno));
out:
	http_tls_close(tls);
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

void
http_res_free(struct http_res *res)
{
	free(res->body);
	json_decref(res->json);
	memset(res, 0, sizeof(*res));
}

/* ---- the API's calls ---- */

/*
 * Turn what http_request() returned (rv, err) and the answer into a
 * message and an exit status: 0 with *res kept on a 2xx answer, else
 * EXIT_USAGE or EXIT_FAIL.
 */
int
http_result(const char *cmd, int rv, const char *err, struct http_res *res)
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
	http_res_free(res);
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

/* Make a request with a JSON body (or none): http_result() of it. */
int
http_call_wait(const char *cmd, const char *method, const char *path,
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
	return (http_result(cmd, rv, err, res));
}

int
http_call(const char *cmd, const char *method, const char *path, json_t *body,
    struct http_res *res)
{
	return (http_call_wait(cmd, method, path, body, HTTP_TIMEOUT_MS, res));
}

/* Path segments are names checked by the server; escape them anyway. */
char *
http_path(const char *prefix, const char *name, const char *suffix)
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

/*
 * http_call() on the path prefix NAME suffix, with a JSON body (or none)
 * that it frees.
 */
int
http_call_on(const char *cmd, const char *method, const char *prefix,
    const char *name, const char *suffix, json_t *body, struct http_res *res)
{
	char	*path;
	int	 rv;

	path = http_path(prefix, name, suffix);
	rv = http_call(cmd, method, path, body, res);
	free(path);
	json_decref(body);
	return (rv);
}

/* ---- the subcommands that are one request ---- */

/*
 * The arguments from argv[from] on: --json (the answer is 1, else 0) and
 * one argument at the most, in *arg; -1, after the usage error, if there
 * is anything else.
 */
int
http_json_arg(int argc, char **argv, int from, const char *cmd,
    const char **arg)
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
http_list(int argc, char **argv, const char *cmd, const char *path,
    void (*rows)(json_t *))
{
	struct http_res	 res;
	const char	*arg;
	int		 json, rv;

	if ((json = http_json_arg(argc, argv, 2, cmd, &arg)) == -1)
		return (EXIT_USAGE);
	if (arg != NULL)
		return (cli_usage_error(cmd, "unexpected argument '%s'", arg));
	if ((rv = http_call(cmd, "GET", path, NULL, &res)) != EXIT_OK)
		return (rv);
	if (json)
		show_json(res.json);
	else
		rows(res.json);
	http_res_free(&res);
	return (EXIT_OK);
}

/*
 * GET (show), POST or DELETE on one named thing: print the answer as
 * JSON (--json), else "NAME done", or for done NULL every key of it.
 */
static int
http_named(int argc, char **argv, const char *cmd, const char *method,
    const char *pre, const char *suf, const char *done)
{
	struct http_res	 res;
	const char	*arg;
	int		 json, rv;

	if ((json = http_json_arg(argc, argv, 2, cmd, &arg)) == -1)
		return (EXIT_USAGE);
	if (arg == NULL)
		return (cli_usage_error(cmd, "a name is needed"));
	if ((rv = http_call_on(cmd, method, pre, arg, suf, NULL, &res)) !=
	    EXIT_OK)
		return (rv);
	if (json)
		show_json(res.json);
	else if (done == NULL)
		show_object(res.json);
	else
		printf("%s %s\n", arg, done);
	http_res_free(&res);
	return (EXIT_OK);
}

/* Run a subcommand that is one request; cmd names it in messages. */
int
http_one(const struct http_one *o, const char *cmd, int argc, char **argv)
{
	if (o->rows != NULL)
		return (http_list(argc, argv, cmd, o->path, o->rows));
	return (http_named(argc, argv, cmd, o->method, o->path, o->suffix,
	    o->done));
}
