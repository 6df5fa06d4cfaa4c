/*
 * The web console's static files, served by fleetcastd on api_listen
 * beside the JSON API: GET / sends the browser to /console/, which is
 * index.html; /console/NAME is one of the files of server/console/.  The
 * files hold no secret and are served without the token (the login page
 * must load first); everything they show comes from /v1 with the token.
 * Only names compiled into the binary are served at all, so that no path
 * from a request ever reaches the file system unchecked; each is read
 * from the installed copy under $(pkgdatadir)/console if it is there (an
 * admin's change to the installed files is seen), else the compiled-in
 * copy answers, so that a bare binary has its console.  Every answer
 * carries a Content-Security-Policy without 'unsafe-inline' and the
 * headers that keep the pages out of frames and content sniffing.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "console.h"
#include "log.h"
#include "xmalloc.h"

#define CONSOLE_PREFIX		"/console/"
#define CONSOLE_MAX_FILE	(4 * 1024 * 1024)

/*
 * Scripts and styles only from files of this origin, data only from the
 * API, images from the origin or blob: (the simulator's SVG is shown as
 * an <img> of a blob, where SVG runs no script); no frames, no plugins,
 * no forms elsewhere.
 */
#define CONSOLE_CSP	"default-src 'none'; script-src 'self'; " \
	"style-src 'self'; img-src 'self' blob:; connect-src 'self'; " \
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

struct console {
	char	*dir;		/* the installed copy, may not exist */
};

static const struct {
	const char	*ext;
	const char	*type;
} console_types[] = {
	{ ".html",	"text/html; charset=utf-8" },
	{ ".js",	"text/javascript; charset=utf-8" },
	{ ".css",	"text/css; charset=utf-8" },
	{ ".svg",	"image/svg+xml" },
	{ ".png",	"image/png" },
};

struct console *
console_new(const char *dir)
{
	struct console	*c;
	struct stat	 st;

	c = xcalloc(1, sizeof(*c));
	c->dir = xstrdup(dir);
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		log_info("console: files from %s", dir);
	else
		log_info("console: the compiled-in files (%s is not there)",
		    dir);
	return (c);
}

void
console_free(struct console *c)
{
	if (c == NULL)
		return;
	free(c->dir);
	free(c);
}

/* The headers every console answer (and every API answer) carries. */
void
console_secure(struct evhttp_request *r)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(r);

	evhttp_add_header(h, "Content-Security-Policy", CONSOLE_CSP);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Cache-Control", "no-cache");
}

static const char *
console_type(const char *name)
{
	const char	*dot = strrchr(name, '.');
	size_t		 i;

	for (i = 0; dot != NULL && i < sizeof(console_types) /
	    sizeof(console_types[0]); i++)
		if (strcmp(dot, console_types[i].ext) == 0)
			return (console_types[i].type);
	return ("application/octet-stream");
}

/* The installed copy of a known file into b; -1 if there is none. */
static int
console_read(struct console *c, const char *name, struct evbuffer *b)
{
	struct stat	 st;
	char		 path[4096];
	int		 fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", c->dir, name) >=
	    sizeof(path))
		return (-1);
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		return (-1);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONSOLE_MAX_FILE) {
		log_warnx("console: %s: not a regular file of at most %d "
		    "bytes; the compiled-in copy is served", path,
		    CONSOLE_MAX_FILE);
		close(fd);
		return (-1);
	}
	/* evbuffer_add_file takes the descriptor, even on failure. */
	if (evbuffer_add_file(b, fd, 0, st.st_size) == -1) {
		log_warnx("console: %s: cannot read it", path);
		return (-1);
	}
	return (0);
}

static int
console_reply(struct evhttp_request *r, int status, const char *type,
    const char *text)
{
	struct evbuffer	*b = evbuffer_new();

	console_secure(r);
	evhttp_add_header(evhttp_request_get_output_headers(r),
	    "Content-Type", type);
	evbuffer_add(b, text, strlen(text));
	evhttp_send_reply(r, status, NULL, b);
	evbuffer_free(b);
	return (status);
}

/*
 * Answer r if path is the console's (the HTTP status), or leave it to the
 * API (0).
 */
int
console_serve(struct console *c, struct evhttp_request *r, const char *path)
{
	const struct console_file	*f;
	struct evbuffer			*b;
	enum evhttp_cmd_type		 m = evhttp_request_get_command(r);
	const char			*name;

	if (strcmp(path, "/") == 0 || strcmp(path, "/console") == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(r),
		    "Location", CONSOLE_PREFIX);
		return (console_reply(r, 302, "text/plain; charset=utf-8",
		    "the console is at " CONSOLE_PREFIX "\n"));
	}
	if (strncmp(path, CONSOLE_PREFIX, strlen(CONSOLE_PREFIX)) != 0)
		return (0);
	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		return (console_reply(r, 405, "text/plain; charset=utf-8",
		    "the console's files are read with GET\n"));
	}
	name = path + strlen(CONSOLE_PREFIX);
	if (name[0] == '\0')
		name = "index.html";
	for (f = console_files; f->name != NULL; f++)
		if (strcmp(f->name, name) == 0)
			break;
	if (f->name == NULL) {
		return (console_reply(r, 404, "text/plain; charset=utf-8",
		    "no such file in the console\n"));
	}
	b = evbuffer_new();
	if (console_read(c, f->name, b) == -1) {
		evbuffer_drain(b, evbuffer_get_length(b));
		evbuffer_add_reference(b, f->data, f->len, NULL, NULL);
	}
	console_secure(r);
	evhttp_add_header(evhttp_request_get_output_headers(r),
	    "Content-Type", console_type(f->name));
	evhttp_send_reply(r, 200, NULL, b);
	evbuffer_free(b);
	return (200);
}
