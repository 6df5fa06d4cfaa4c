/*
 * The package feed (MISSION.md P12): every feed_interval seconds, with
 * jitter so that many servers do not arrive together, fleetcastd fetches
 * feed.json and feed.json.sig from feed_url with libcurl's multi
 * interface driven by the server's own event_base (nothing here blocks
 * the loop), checks the index (its signature against feed_keys, its
 * expiry, its serial against the last one accepted, which is stored
 * before anything acts on it), downloads each package the server does not
 * have yet (resuming a partial download with Range, held to the size the
 * index gives), hashes it in slices between other events, compares it
 * with the index and hands it to the same verification and registration
 * as `package add` (api_package.c: a child checks the package's own
 * signature against trusted_keys, anti-rollback per package id, and a
 * highest package starts its automatic update there).  One fetch is one
 * pass of feed_fsm, which logs every transition; any failure leaves the
 * packages as they were, is logged and put in the event log with its
 * reason, and the next pass comes after a backoff.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "api_int.h"
#include "conf.h"
#include "crypto.h"
#include "feed_index.h"
#include "fsutil.h"
#include "log.h"
#include "pkg.h"
#include "server.h"
#include "xmalloc.h"

#define FEED_RETRY_MIN		5	/* s, first retry after a failure */
#define FEED_HASH_SLICE		(4 * 1024 * 1024)	/* bytes a loop turn */
#define FEED_CONNECT_TIMEOUT	15L	/* s */
#define FEED_STALL_TIME		60L	/* s without a byte: a failure */
#define FEED_DISK_RESERVE	(256ULL << 20)
#define FEED_MAX_REFUSED	64	/* refused package hashes kept */
#define FEED_ERR_LEN		1024
#define FEED_DIR_MAX		512	/* bytes of state_dir */
#define FEED_PART_LEN		(FEED_DIR_MAX + 6 + SHA256_LEN * 2 + 6)

enum feed_state {
	FEED_S_IDLE,		/* waiting for the next fetch */
	FEED_S_INDEX,		/* GET feed.json */
	FEED_S_SIG,		/* GET feed.json.sig */
	FEED_S_PACKAGE,		/* GET one package */
	FEED_S_HASH,		/* hashing it, a slice per loop turn */
	FEED_S_REGISTER,	/* api_package checks and registers it */
};

enum feed_event {
	FEED_E_TIMER,		/* time for a fetch */
	FEED_E_DONE,		/* the transfer or the step succeeded */
	FEED_E_NOTMOD,		/* the index is as last processed (304) */
	FEED_E_FAIL,		/* it failed; f->err says why */
};

/* One HTTP transfer: into memory (index, signature) or into a file. */
struct feed_xfer {
	CURL		*easy;
	struct curl_slist *hdrs;
	char		*mem;
	size_t		 len;
	int		 fd;		/* -1: into mem */
	uint64_t	 offset;	/* bytes already in the file (Range) */
	uint64_t	 got;
	uint64_t	 limit;		/* total bytes allowed */
	int		 checked;	/* first write: 200 or 206 seen */
	int		 oversized;
	char		*etag;
	char		*last_modified;
	char		 cerr[CURL_ERROR_SIZE];
};

struct feed {
	struct server		*srv;
	struct api_package	*ap;
	CURLM			*multi;
	struct event		*curl_timer;
	struct event		*timer;		/* next fetch, hash slices */
	enum feed_state		 state;
	char			*base;		/* feed_url without feed.json */
	char			*index_url;
	int			 interval;	/* s */
	const char		*ca;
	struct evbuffer		*empty;		/* api_package_start's body */

	struct feed_xfer	 x;
	/* The pass in progress. */
	char			*idx_buf;
	size_t			 idx_len;
	char			*etag;		/* the index's validators */
	char			*last_modified;
	struct feed_index	 idx;
	size_t			 cur;		/* the package in hand */
	char			 part[FEED_PART_LEN];	/* its download */
	struct sha256		*h;
	int			 hfd;
	uint64_t		 hashed;
	char			 err[FEED_ERR_LEN];	/* the step's */
	char			 pass_err[FEED_ERR_LEN];	/* its first */
	char			 pass_old[FEED_ERR_LEN];	/* earlier */
	size_t			 pass_registered;
	int			 pass_notmod;	/* 304: nothing new */
	int			 pass_accepted;	/* idx is the accepted index */

	/* For status. */
	uint64_t		 next_ms;
	uint64_t		 last_fetch_ms;
	uint64_t		 registered;
	int			 failures;
	uint64_t		 passes[FEED_PASS_MAX];	/* by feed_pass_result */
	uint8_t			 refused[FEED_MAX_REFUSED][SHA256_LEN];
	size_t			 nrefused;
};

static void	feed_fsm(struct feed *, enum feed_event);

static const char *
feed_strstate(enum feed_state s)
{
	switch (s) {
	case FEED_S_IDLE:
		return ("idle");
	case FEED_S_INDEX:
		return ("index");
	case FEED_S_SIG:
		return ("signature");
	case FEED_S_PACKAGE:
		return ("package");
	case FEED_S_HASH:
		return ("hash");
	case FEED_S_REGISTER:
		return ("register");
	}
	return ("?");
}

static void
feed_set_state(struct feed *f, enum feed_state s)
{
	if (f->state == s)
		return;
	log_debug("feed: %s -> %s", feed_strstate(f->state),
	    feed_strstate(s));
	f->state = s;
}

/* ---- conf ---- */

int
feed_check_conf(struct conf *c, char *err, size_t errlen)
{
	const char	*url = conf_str(c, "feed_url"), *k;
	static const char *const files[] = { "feed_keys", "feed_ca", NULL };
	size_t		 i;

	if (url == NULL)
		return (0);
	if (strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0) {
		snprintf(err, errlen, "%s: feed_url: '%s' must be an http:// "
		    "or https:// URL", conf_where(c, "feed_url"), url);
		return (-1);
	}
	if (strlen(url) > 2048) {
		snprintf(err, errlen, "%s: feed_url: %zu bytes, limit 2048",
		    conf_where(c, "feed_url"), strlen(url));
		return (-1);
	}
	for (i = 0; files[i] != NULL; i++) {
		if ((k = conf_str(c, files[i])) != NULL &&
		    access(k, R_OK) == -1) {
			snprintf(err, errlen, "%s: %s: %s: %s",
			    conf_where(c, files[i]), files[i], k,
			    strerror(errno));
			return (-1);
		}
	}
	if (conf_str(c, "feed_keys") == NULL && conf_str(c, "trusted_keys") ==
	    NULL) {
		snprintf(err, errlen, "%s: feed_url needs feed_keys or "
		    "trusted_keys: the keys that may sign the feed's index",
		    conf_where(c, "feed_url"));
		return (-1);
	}
	return (0);
}

/* ---- the schedule ---- */

/* 0 to max ms, at random. */
static uint64_t
feed_random_ms(uint64_t max)
{
	uint32_t	r = 0;

	(void)crypto_random(&r, sizeof(r));
	return (max > 0 ? r % (max + 1) : 0);
}

/* Up to a tenth more, at random, so that many servers spread out. */
static uint64_t
feed_jitter_ms(uint64_t ms)
{
	return (ms + feed_random_ms(ms / 10));
}

static void
feed_arm(struct feed *f, uint64_t ms)
{
	struct timeval	tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	f->next_ms = server_now_ms() + ms;
	evtimer_add(f->timer, &tv);
}

static void
feed_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	feed_fsm(arg, FEED_E_TIMER);
}

/* ---- libcurl on the event loop ---- */

static void
feed_curl_check(struct feed *f)
{
	CURLMsg		*m;
	int		 left;
	CURLcode	 rc;
	long		 code = 0;

	while ((m = curl_multi_info_read(f->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE || m->easy_handle != f->x.easy)
			continue;
		rc = m->data.result;
		curl_easy_getinfo(f->x.easy, CURLINFO_RESPONSE_CODE, &code);
		curl_multi_remove_handle(f->multi, f->x.easy);
		curl_easy_cleanup(f->x.easy);
		f->x.easy = NULL;
		curl_slist_free_all(f->x.hdrs);
		f->x.hdrs = NULL;
		if (rc == CURLE_FILESIZE_EXCEEDED)
			f->x.oversized = 1;
		if (f->x.oversized)
			snprintf(f->err, sizeof(f->err), "more than the %"
			    PRIu64 " bytes allowed (oversized)", f->x.limit);
		else if (rc != CURLE_OK)
			snprintf(f->err, sizeof(f->err), "%s%s%s",
			    f->x.cerr[0] != '\0' ? f->x.cerr :
			    curl_easy_strerror(rc), f->x.got > 0 ?
			    " (partial download kept for resuming)" : "", "");
		else if (code == 304) {
			feed_fsm(f, FEED_E_NOTMOD);
			continue;
		} else if (code != 200 && code != 206)
			snprintf(f->err, sizeof(f->err), "HTTP status %ld",
			    code);
		else {
			feed_fsm(f, FEED_E_DONE);
			continue;
		}
		feed_fsm(f, FEED_E_FAIL);
	}
}

static void
feed_curl_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct feed	*f = arg;
	int		 running, flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(f->multi, fd, flags, &running);
	feed_curl_check(f);
}

static void
feed_curl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct feed	*f = arg;
	int		 running;

	curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	feed_curl_check(f);
}

/* CURLMOPT_SOCKETFUNCTION: one event per socket curl wants watched. */
static int
feed_curl_socket(CURL *easy, curl_socket_t s, int what, void *arg,
    void *sockp)
{
	struct feed	*f = arg;
	struct event	*ev = sockp;
	short		 kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (ev != NULL)
			event_free(ev);
		curl_multi_assign(f->multi, s, NULL);
		return (0);
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (ev != NULL)
		event_free(ev);
	ev = event_new(f->srv->base, s, kind, feed_curl_event_cb, f);
	event_add(ev, NULL);
	curl_multi_assign(f->multi, s, ev);
	return (0);
}

/* CURLMOPT_TIMERFUNCTION. */
static int
feed_curl_timer(CURLM *multi, long ms, void *arg)
{
	struct feed	*f = arg;
	struct timeval	 tv;

	if (ms < 0) {
		evtimer_del(f->curl_timer);
		return (0);
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(f->curl_timer, &tv);
	return (0);
}

static size_t
feed_curl_write(char *data, size_t sz, size_t nmemb, void *arg)
{
	struct feed_xfer	*x = arg;
	size_t			 n = sz * nmemb;
	long			 code = 0;

	if (!x->checked && x->fd != -1) {
		/* A server that ignores Range sends it all again. */
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
		if (code == 200 && x->offset > 0) {
			if (ftruncate(x->fd, 0) == -1 ||
			    lseek(x->fd, 0, SEEK_SET) == -1)
				return (0);
			x->offset = 0;
		}
		x->checked = 1;
	}
	if (x->offset + x->got + n > x->limit) {
		x->oversized = 1;
		return (0);
	}
	if (x->fd != -1) {
		if (write_all(x->fd, data, n) == -1) {
			snprintf(x->cerr, sizeof(x->cerr), "writing the "
			    "download: %s", strerror(errno));
			return (0);
		}
	} else {
		x->mem = xreallocarray(x->mem, x->len + n + 1, 1);
		memcpy(x->mem + x->len, data, n);
		x->len += n;
		x->mem[x->len] = '\0';
	}
	x->got += n;
	return (n);
}

/* Keep a validator header's value (ETag, Last-Modified) of the index. */
static size_t
feed_curl_header(char *data, size_t sz, size_t nmemb, void *arg)
{
	struct feed_xfer	*x = arg;
	size_t			 n = sz * nmemb, l;
	char			**dst = NULL;
	const char		*v;

	if (n > 5 && strncasecmp(data, "ETag:", 5) == 0) {
		dst = &x->etag;
		v = data + 5;
	} else if (n > 14 && strncasecmp(data, "Last-Modified:", 14) == 0) {
		dst = &x->last_modified;
		v = data + 14;
	} else
		return (n);
	while (v < data + n && (*v == ' ' || *v == '\t'))
		v++;
	l = (size_t)(data + n - v);
	while (l > 0 && (v[l - 1] == '\r' || v[l - 1] == '\n' ||
	    v[l - 1] == ' '))
		l--;
	/* A header of control characters would end up in our request. */
	if (l > 0 && l < 256 && memchr(v, '\r', l) == NULL &&
	    memchr(v, '\n', l) == NULL) {
		free(*dst);
		*dst = xstrndup(v, l);
	}
	return (n);
}

static void
feed_xfer_reset(struct feed_xfer *x)
{
	free(x->mem);
	free(x->etag);
	free(x->last_modified);
	if (x->fd != -1)
		close(x->fd);
	memset(x, 0, sizeof(*x));
	x->fd = -1;
}

/*
 * Start a GET of url: into memory when fd is -1, else appended to fd,
 * which holds offset bytes already; at most limit bytes in all.  0, or
 * -1 with f->err.
 */
static int
feed_get(struct feed *f, const char *url, int fd, uint64_t offset,
    uint64_t limit, int conditional, const char *etag, const char *lm)
{
	struct feed_xfer	*x = &f->x;
	char			 h[512];
	CURL			*c;

	feed_xfer_reset(x);
	x->fd = fd;
	x->offset = offset;
	x->limit = limit;
	if ((c = curl_easy_init()) == NULL) {
		snprintf(f->err, sizeof(f->err), "curl_easy_init failed");
		return (-1);
	}
	x->easy = c;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->cerr);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, feed_curl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, feed_curl_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, FEED_CONNECT_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, FEED_STALL_TIME);
	/* Verification is libcurl's default; it is said here on purpose. */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "fleetcastd/" SERVER_VERSION);
	if (f->ca != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, f->ca);
	if (offset > 0)
		curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE,
		    (curl_off_t)offset);
	/* A Content-Length over the limit fails before a byte is taken. */
	if (fd != -1)
		curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
		    (curl_off_t)(limit - offset));
	if (conditional && etag != NULL) {
		snprintf(h, sizeof(h), "If-None-Match: %s", etag);
		x->hdrs = curl_slist_append(x->hdrs, h);
	}
	if (conditional && lm != NULL) {
		snprintf(h, sizeof(h), "If-Modified-Since: %s", lm);
		x->hdrs = curl_slist_append(x->hdrs, h);
	}
	if (x->hdrs != NULL)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, x->hdrs);
	if (curl_multi_add_handle(f->multi, c) != CURLM_OK) {
		snprintf(f->err, sizeof(f->err), "curl_multi_add_handle "
		    "failed");
		curl_easy_cleanup(c);
		x->easy = NULL;
		return (-1);
	}
	return (0);
}

/* ---- one pass ---- */

static void
feed_note(struct feed *f, const char *what)
{
	log_warnx("feed: %s", what);
	db_event(f->srv->db, server_now_ms(), "feed", 0, NULL, "%s", what);
	if (f->pass_err[0] == '\0')
		snprintf(f->pass_err, sizeof(f->pass_err), "%s", what);
}

static void
feed_pass_free(struct feed *f)
{
	free(f->idx_buf);
	f->idx_buf = NULL;
	free(f->etag);
	free(f->last_modified);
	f->etag = f->last_modified = NULL;
	feed_index_free(&f->idx);
	if (f->h != NULL)
		sha256_free(f->h);
	f->h = NULL;
	if (f->hfd != -1)
		close(f->hfd);
	f->hfd = -1;
}

/*
 * Downloads that the accepted index no longer names (a package replaced
 * by a newer one before its download completed) are of no more use.
 */
static void
feed_clean_parts(struct feed *f)
{
	struct dirent	*d;
	DIR		*dir;
	uint8_t		 sha[SHA256_LEN];
	char		 path[FEED_PART_LEN], hex[SHA256_LEN * 2 + 1];
	size_t		 i;

	snprintf(path, sizeof(path), "%s/feed", f->srv->state_dir);
	if ((dir = opendir(path)) == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		if (strlen(d->d_name) != SHA256_LEN * 2 + 5 ||
		    strcmp(d->d_name + SHA256_LEN * 2, ".part") != 0)
			continue;
		snprintf(hex, sizeof(hex), "%.*s", SHA256_LEN * 2, d->d_name);
		if (hex_decode(hex, sha, SHA256_LEN) == -1)
			continue;
		for (i = 0; i < f->idx.npkgs; i++)
			if (memcmp(f->idx.pkgs[i].sha256, sha, SHA256_LEN) == 0)
				break;
		if (i < f->idx.npkgs)
			continue;
		snprintf(path, sizeof(path), "%s/feed/%s", f->srv->state_dir,
		    d->d_name);
		log_info("feed: removing %s, a download the index no longer "
		    "names", path);
		api_package_unlink(path);
	}
	closedir(dir);
}

/* The pass is over: record how, and when the next one comes. */
static void
feed_pass_end(struct feed *f)
{
	uint64_t	now = server_now_ms(), delay;
	const char	*e = f->pass_err[0] != '\0' ? f->pass_err :
			    f->pass_old[0] != '\0' ? f->pass_old : NULL;
	char		 msg[128];
	int		 shift;

	f->last_fetch_ms = now;
	f->passes[e != NULL ? FEED_PASS_FAILED : f->pass_notmod ?
	    FEED_PASS_NOT_MODIFIED : FEED_PASS_OK]++;
	if (e != NULL) {
		f->failures++;
		shift = f->failures - 1 < 16 ? f->failures - 1 : 16;
		delay = (uint64_t)FEED_RETRY_MIN * 1000 << shift;
		if (delay > (uint64_t)f->interval * 1000)
			delay = (uint64_t)f->interval * 1000;
		db_feed_outcome(f->srv->db, now, e, f->failures, NULL, NULL);
		log_warnx("feed: fetch failed (%d in a row), next try in %"
		    PRIu64 " ms: %s", f->failures, delay, e);
	} else {
		f->failures = 0;
		delay = (uint64_t)f->interval * 1000;
		db_feed_outcome(f->srv->db, now, NULL, 0, f->etag,
		    f->last_modified);
		if (f->pass_notmod)
			snprintf(msg, sizeof(msg), "fetch done: the index is "
			    "unchanged");
		else
			snprintf(msg, sizeof(msg), "fetch done: index serial %"
			    PRIu64 ", %zu package%s registered", f->idx.serial,
			    f->pass_registered, f->pass_registered == 1 ? "" :
			    "s");
		log_info("feed: %s", msg);
		db_event(f->srv->db, now, "feed", 0, NULL, "%s", msg);
	}
	if (f->pass_accepted)
		feed_clean_parts(f);
	feed_pass_free(f);
	feed_set_state(f, FEED_S_IDLE);
	feed_arm(f, feed_jitter_ms(delay));
}

static void
feed_url_join(const struct feed *f, const char *rel, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", f->base, rel);
}

static int
feed_refused_before(const struct feed *f, const uint8_t *sha)
{
	size_t	i;

	for (i = 0; i < f->nrefused; i++)
		if (memcmp(f->refused[i], sha, SHA256_LEN) == 0)
			return (1);
	return (0);
}

/* A package's bytes were refused: not fetched again by this process. */
static void
feed_refuse(struct feed *f, const struct feed_entry *e, const char *why)
{
	char	msg[FEED_ERR_LEN + 128];

	if (f->part[0] != '\0')
		api_package_unlink(f->part);
	if (f->nrefused < FEED_MAX_REFUSED)
		memcpy(f->refused[f->nrefused++], e->sha256, SHA256_LEN);
	snprintf(msg, sizeof(msg), "package %s refused: %s", e->id, why);
	feed_note(f, msg);
}

/*
 * Whether the entry is wanted: 1 to fetch it, 0 to pass it by.  Versions
 * only go up: a lower one than registered is refused here already, the
 * registration would refuse it anyway.
 */
static int
feed_wanted(struct feed *f, const struct feed_entry *e)
{
	char		*file = NULL, a[16], msg[256];
	int		 exists, hv, c;
	uint16_t	 ma, mi;

	if (feed_refused_before(f, e->sha256)) {
		snprintf(msg, sizeof(msg), "package %s: refused before "
		    "(see the log); publish a new one", e->id);
		if (f->pass_old[0] == '\0')
			snprintf(f->pass_old, sizeof(f->pass_old), "%s", msg);
		return (0);
	}
	if (db_package_version(f->srv->db, e->id, &exists, &hv, &ma, &mi,
	    &file) == -1) {
		feed_note(f, "database error reading the packages");
		return (0);
	}
	free(file);
	if (!exists)
		return (1);
	c = feed_entry_version_cmp(e, hv, ma, mi);
	if (c > 0)
		return (1);
	if (c < 0) {
		feed_entry_version(e, a, sizeof(a));
		snprintf(msg, sizeof(msg), "version %s is below the registered "
		    "%u.%u; versions only go up (anti-rollback)", a, ma, mi);
		feed_refuse(f, e, msg);
	}
	return (0);
}

/* Find the next package wanted and start its download, or end the pass. */
static void
feed_next_package(struct feed *f)
{
	const struct feed_entry	*e;
	struct statvfs		 vfs;
	struct stat		 st;
	char			 url[4096], hex[SHA256_LEN * 2 + 1];
	char			 msg[FEED_ERR_LEN + FEED_PART_LEN];
	int			 fd;

	for (; f->cur < f->idx.npkgs; f->cur++) {
		e = &f->idx.pkgs[f->cur];
		f->part[0] = '\0';
		if (!feed_wanted(f, e))
			continue;
		/* Room for the download and the registered copy of it. */
		if (statvfs(f->srv->state_dir, &vfs) == 0 &&
		    (uint64_t)vfs.f_bavail * vfs.f_frsize < 2 * e->size +
		    FEED_DISK_RESERVE) {
			snprintf(msg, sizeof(msg), "package %s: %" PRIu64
			    " bytes, and state_dir has not room for two copies "
			    "and %llu bytes to spare", e->id, e->size,
			    FEED_DISK_RESERVE);
			feed_note(f, msg);
			continue;
		}
		hex_encode(e->sha256, SHA256_LEN, hex);
		snprintf(f->part, sizeof(f->part), "%s/feed/%s.part",
		    f->srv->state_dir, hex);
		if ((fd = open(f->part, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) ==
		    -1 || fstat(fd, &st) == -1) {
			snprintf(msg, sizeof(msg), "package %s: %s: %s", e->id,
			    f->part, strerror(errno));
			if (fd != -1)
				close(fd);
			feed_note(f, msg);
			continue;
		}
		/* A longer file than the index allows is nothing to go on. */
		if ((uint64_t)st.st_size > e->size && ftruncate(fd, 0) == 0)
			st.st_size = 0;
		if ((uint64_t)st.st_size == e->size) {
			close(fd);
			feed_set_state(f, FEED_S_PACKAGE);
			feed_fsm(f, FEED_E_DONE);
			return;
		}
		if (lseek(fd, 0, SEEK_END) == -1) {
			close(fd);
			continue;
		}
		feed_url_join(f, e->path, url, sizeof(url));
		if (st.st_size > 0)
			log_info("feed: package %s: resuming the download at "
			    "%lld of %" PRIu64 " bytes", e->id,
			    (long long)st.st_size, e->size);
		else
			log_info("feed: package %s: downloading %" PRIu64
			    " bytes from %s", e->id, e->size, url);
		if (feed_get(f, url, fd, (uint64_t)st.st_size, e->size, 0,
		    NULL, NULL) == -1) {
			snprintf(msg, sizeof(msg), "package %s: %s", e->id,
			    f->err);
			feed_note(f, msg);
			continue;
		}
		feed_set_state(f, FEED_S_PACKAGE);
		return;
	}
	feed_pass_end(f);
}

/* The index and its signature are in: judge them, then act on them. */
static void
feed_take_index(struct feed *f)
{
	struct db_feed_state	 fs;
	uint8_t			 (*keys)[ED25519_PUB_LEN] = NULL;
	uint8_t			 sha[SHA256_LEN];
	struct conf		*c = f->srv->conf;
	char			 err[FEED_ERR_LEN], msg[FEED_ERR_LEN + 64];
	const char		*kpath;
	size_t			 nkeys = 0;

	memset(&fs, 0, sizeof(fs));
	kpath = conf_str(c, "feed_keys") != NULL ? conf_str(c, "feed_keys") :
	    conf_str(c, "trusted_keys");
	keys = xcalloc(64, sizeof(*keys));
	if (kpath == NULL || ed25519_read_public(kpath, keys, 64, &nkeys, err,
	    sizeof(err)) == -1 || nkeys == 0) {
		snprintf(msg, sizeof(msg), "index refused: feed_keys: %s",
		    kpath == NULL ? "not set" : nkeys == 0 && err[0] == '\0' ?
		    "no key in the file" : err);
		goto bad;
	}
	if (feed_sig_verify(f->idx_buf, f->idx_len, f->x.mem, f->x.len,
	    (const uint8_t (*)[ED25519_PUB_LEN])keys, nkeys, err,
	    sizeof(err)) == -1 ||
	    feed_index_decode(&f->idx, f->idx_buf, f->idx_len, err,
	    sizeof(err)) == -1) {
		snprintf(msg, sizeof(msg), "index refused: %s", err);
		goto bad;
	}
	sha256(f->idx_buf, f->idx_len, sha);
	if (db_feed_get(f->srv->db, &fs) == -1) {
		snprintf(msg, sizeof(msg), "index refused: database error");
		goto bad;
	}
	if (fs.url == NULL || strcmp(fs.url, f->index_url) != 0) {
		if (fs.url != NULL)
			log_info("feed: feed_url changed from %s: its serials "
			    "start afresh", fs.url);
		if (db_feed_reset(f->srv->db, f->index_url) == -1) {
			snprintf(msg, sizeof(msg), "index refused: database "
			    "error");
			goto bad;
		}
		fs.have_serial = fs.have_sha = 0;
	}
	if (feed_index_check(&f->idx, (int64_t)time(NULL), fs.have_serial,
	    fs.serial, fs.have_sha ? fs.index_sha256 : NULL, sha, err,
	    sizeof(err)) != FEED_OK) {
		snprintf(msg, sizeof(msg), "index refused: %s", err);
		goto bad;
	}
	/* Stored before anything acts on it: the floor for rollbacks. */
	if (db_feed_accept(f->srv->db, f->idx.serial, sha,
	    f->idx.expires) == -1) {
		snprintf(msg, sizeof(msg), "index refused: database error "
		    "storing its serial");
		goto bad;
	}
	f->pass_accepted = 1;
	if (!fs.have_serial || fs.serial != f->idx.serial) {
		log_info("feed: index serial %" PRIu64 " accepted (%zu "
		    "packages)", f->idx.serial, f->idx.npkgs);
		db_event(f->srv->db, server_now_ms(), "feed", 0, NULL, "index "
		    "serial %" PRIu64 " accepted (%zu packages)", f->idx.serial,
		    f->idx.npkgs);
	}
	db_feed_clear(&fs);
	free(keys);
	f->cur = 0;
	feed_next_package(f);
	return;
bad:
	db_feed_clear(&fs);
	free(keys);
	feed_note(f, msg);
	feed_pass_end(f);
}

/* Hash the download a slice per loop turn; at the end, compare. */
static void
feed_hash_cb(evutil_socket_t fd0, short what, void *arg)
{
	struct feed		*f = arg;
	const struct feed_entry	*e = &f->idx.pkgs[f->cur];
	uint8_t			 sha[SHA256_LEN], *buf;
	struct timeval		 tv = { 0, 0 };
	ssize_t			 n;
	size_t			 want;

	/* The timer is the schedule's again, unless another slice follows. */
	event_assign(f->timer, f->srv->base, -1, 0, feed_timer_cb, f);
	buf = xmalloc(FEED_HASH_SLICE);
	want = e->size - f->hashed < FEED_HASH_SLICE ?
	    (size_t)(e->size - f->hashed) : FEED_HASH_SLICE;
	while ((n = read(f->hfd, buf, want)) == -1 && errno == EINTR)
		;
	if (n > 0) {
		sha256_update(f->h, buf, (size_t)n);
		f->hashed += (uint64_t)n;
	}
	free(buf);
	if (n < 0 || (n == 0 && f->hashed < e->size)) {
		snprintf(f->err, sizeof(f->err), "reading the download: %s",
		    n < 0 ? strerror(errno) : "shorter than expected");
		feed_fsm(f, FEED_E_FAIL);
		return;
	}
	if (f->hashed < e->size) {
		event_assign(f->timer, f->srv->base, -1, 0, feed_hash_cb, f);
		evtimer_add(f->timer, &tv);
		return;
	}
	sha256_final(f->h, sha);
	sha256_free(f->h);
	f->h = NULL;
	close(f->hfd);
	f->hfd = -1;
	if (memcmp(sha, e->sha256, SHA256_LEN) != 0) {
		snprintf(f->err, sizeof(f->err), "its SHA-256 is not the "
		    "index's (altered on the web server, or a broken "
		    "download)");
		feed_fsm(f, FEED_E_FAIL);
		return;
	}
	feed_fsm(f, FEED_E_DONE);
}

static void
feed_hash_start(struct feed *f)
{
	struct timeval	tv = { 0, 0 };

	feed_set_state(f, FEED_S_HASH);
	if ((f->hfd = open(f->part, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(f->err, sizeof(f->err), "%s: %s", f->part,
		    strerror(errno));
		feed_fsm(f, FEED_E_FAIL);
		return;
	}
	f->h = sha256_new();
	f->hashed = 0;
	event_assign(f->timer, f->srv->base, -1, 0, feed_hash_cb, f);
	evtimer_add(f->timer, &tv);
}

/*
 * The bytes are the index's: the signed manifest must say what the index
 * says, then the package goes the way of `package add`.  0, or -1 with
 * f->err (the package is refused).
 */
static int
feed_register(struct feed *f)
{
	const struct feed_entry		*e = &f->idx.pkgs[f->cur];
	const struct pkg_manifest	*m;
	uint8_t				(*keys)[ED25519_PUB_LEN] = NULL;
	struct pkg			*p = NULL;
	char				 err[FEED_ERR_LEN];
	size_t				 nkeys;
	int				 fd = -1, rv = -1;

	if (pkg_open(&p, f->part, NULL, 0, PKG_OPEN_NOVERIFY, err,
	    sizeof(err)) == -1) {
		snprintf(f->err, sizeof(f->err), "%s", err);
		return (-1);
	}
	m = pkg_get_manifest(p);
	if (strcmp(m->id, e->id) != 0 || m->type != e->type ||
	    m->urgency != e->urgency || m->has_version != e->has_version ||
	    (m->has_version && (m->major != e->major ||
	    m->minor != e->minor))) {
		snprintf(f->err, sizeof(f->err), "the package's manifest (%s, "
		    "%s, %s) is not what the index says", m->id,
		    pkg_field_type_name(m->type),
		    pkg_field_urgency_name(m->urgency));
		goto out;
	}
	if (server_load_trusted(f->srv, &keys, &nkeys, err, sizeof(err)) ==
	    -1) {
		snprintf(f->err, sizeof(f->err), "%s", err);
		goto out;
	}
	if ((fd = open(f->part, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(f->err, sizeof(f->err), "%s: %s", f->part,
		    strerror(errno));
		goto out;
	}
	if (api_package_start(f->ap, NULL, fd, f->empty, f->part, e->size,
	    (const uint8_t (*)[ED25519_PUB_LEN])keys, nkeys, err,
	    sizeof(err)) == -1) {
		snprintf(f->err, sizeof(f->err), "%s", err);
		goto out;
	}
	rv = 0;
out:
	if (fd != -1)
		close(fd);
	free(keys);
	pkg_close(p);
	return (rv);
}

/* api_package_cb: the check in the child and the registration are done. */
static void
feed_registered(void *arg, struct evhttp_request *r, int status, json_t *o,
    const char *err)
{
	struct feed		*f = arg;
	const struct feed_entry	*e = &f->idx.pkgs[f->cur];
	json_t			*ar;
	char			 v[16];

	if (f->state != FEED_S_REGISTER) {
		json_decref(o);
		return;
	}
	if (status != 0) {
		snprintf(f->err, sizeof(f->err), "%s", err);
		json_decref(o);
		feed_fsm(f, FEED_E_FAIL);
		return;
	}
	/* "SP2 2.0", or "KB100" for a package without a version. */
	if (e->has_version)
		snprintf(v, sizeof(v), " %u.%u", e->major, e->minor);
	else
		v[0] = '\0';
	ar = json_object_get(o, "automatic_run");
	log_info("feed: package %s%s registered from index serial %" PRIu64
	    "%s", e->id, v, f->idx.serial, json_is_object(ar) ?
	    ", automatic update started" : "");
	db_event(f->srv->db, server_now_ms(), "feed", 0, NULL, "package %s%s "
	    "(%s) registered from the feed, index serial %" PRIu64
	    "%s", e->id, v, pkg_field_urgency_name(e->urgency), f->idx.serial,
	    json_is_object(ar) ? "; automatic update started" : "");
	json_decref(o);
	f->registered++;
	f->pass_registered++;
	feed_fsm(f, FEED_E_DONE);
}

static const struct api_package_cb feed_package_cb = {
	feed_registered,
};

/* A step of the package in hand failed: say why, and go on to the next. */
static void
feed_package_failed(struct feed *f, int refuse)
{
	const struct feed_entry	*e = &f->idx.pkgs[f->cur];
	char			 msg[FEED_ERR_LEN + 128];

	if (refuse)
		feed_refuse(f, e, f->err);
	else {
		snprintf(msg, sizeof(msg), "package %s: download failed: %s",
		    e->id, f->err);
		feed_note(f, msg);
	}
	f->cur++;
	feed_next_package(f);
}

/*
 * The index is the one accepted before (304): it may have expired since,
 * which is what a frozen feed looks like from here.
 */
static void
feed_unchanged(struct feed *f)
{
	struct db_feed_state	fs;
	char			when[32], msg[256];

	if (db_feed_get(f->srv->db, &fs) == -1)
		return;
	if (fs.expires != 0 && (int64_t)time(NULL) >= fs.expires) {
		feed_time_format(fs.expires, when, sizeof(when));
		snprintf(msg, sizeof(msg), "index refused: index serial %"
		    PRIu64 " expired at %s and the feed has no newer one (a "
		    "frozen or stale feed; the publisher must publish again)",
		    fs.serial, when);
		feed_note(f, msg);
	}
	db_feed_clear(&fs);
}

/* A pass begins with a conditional GET of the index. */
static void
feed_pass_start(struct feed *f)
{
	struct db_feed_state	fs;
	char			msg[FEED_ERR_LEN + 64];
	int			rv;

	f->pass_err[0] = f->pass_old[0] = '\0';
	f->pass_registered = 0;
	f->pass_notmod = f->pass_accepted = 0;
	log_debug("feed: fetching %s", f->index_url);
	if (db_feed_get(f->srv->db, &fs) == -1)
		memset(&fs, 0, sizeof(fs));
	/* Validators only for the URL they came from. */
	if (fs.url != NULL && strcmp(fs.url, f->index_url) != 0)
		db_feed_clear(&fs);
	rv = feed_get(f, f->index_url, -1, 0, FEED_INDEX_MAX, 1, fs.etag,
	    fs.last_modified);
	/* Kept as they are should the index be unchanged (304). */
	f->etag = fs.etag;
	f->last_modified = fs.last_modified;
	fs.etag = fs.last_modified = NULL;
	db_feed_clear(&fs);
	feed_set_state(f, FEED_S_INDEX);
	if (rv == -1) {
		snprintf(msg, sizeof(msg), "index: %s", f->err);
		feed_note(f, msg);
		feed_pass_end(f);
	}
}

static void
feed_fsm(struct feed *f, enum feed_event ev)
{
	int	oversized;
	char	msg[FEED_ERR_LEN + 64];

	switch (f->state) {
	case FEED_S_IDLE:
		if (ev == FEED_E_TIMER)
			feed_pass_start(f);
		break;
	case FEED_S_INDEX:
		if (ev == FEED_E_NOTMOD) {
			f->pass_notmod = 1;
			feed_unchanged(f);
			feed_pass_end(f);
		} else if (ev == FEED_E_DONE) {
			f->idx_buf = f->x.mem != NULL ? f->x.mem : xstrdup("");
			f->idx_len = f->x.len;
			f->x.mem = NULL;
			/* The index's validators, for the next pass. */
			free(f->etag);
			free(f->last_modified);
			f->etag = f->x.etag;
			f->last_modified = f->x.last_modified;
			f->x.etag = f->x.last_modified = NULL;
			snprintf(msg, sizeof(msg), "%s/" FEED_SIG_NAME,
			    f->base);
			if (feed_get(f, msg, -1, 0, FEED_SIG_MAX, 0, NULL,
			    NULL) == -1) {
				feed_note(f, f->err);
				feed_pass_end(f);
				break;
			}
			feed_set_state(f, FEED_S_SIG);
		} else if (ev == FEED_E_FAIL) {
			snprintf(msg, sizeof(msg), "fetching %s: %s",
			    f->index_url, f->err);
			feed_note(f, msg);
			feed_pass_end(f);
		}
		break;
	case FEED_S_SIG:
		if (ev == FEED_E_DONE)
			feed_take_index(f);
		else if (ev == FEED_E_FAIL) {
			snprintf(msg, sizeof(msg), "fetching %s/" FEED_SIG_NAME
			    ": %s", f->base, f->err);
			feed_note(f, msg);
			feed_pass_end(f);
		}
		break;
	case FEED_S_PACKAGE:
		if (ev == FEED_E_DONE && f->x.easy == NULL && f->x.fd != -1 &&
		    f->x.offset + f->x.got < f->idx.pkgs[f->cur].size) {
			/* Complete for the web server, short for the index. */
			snprintf(f->err, sizeof(f->err), "truncated: the web "
			    "server sent %" PRIu64 " of the index's %" PRIu64
			    " bytes", f->x.offset + f->x.got,
			    f->idx.pkgs[f->cur].size);
			feed_xfer_reset(&f->x);
			feed_package_failed(f, 0);
		} else if (ev == FEED_E_DONE) {
			feed_xfer_reset(&f->x);
			feed_hash_start(f);
		} else if (ev == FEED_E_FAIL) {
			oversized = f->x.oversized;
			feed_xfer_reset(&f->x);
			/* Too big: the file is not the index's; else retry. */
			feed_package_failed(f, oversized);
		}
		break;
	case FEED_S_HASH:
		if (ev == FEED_E_DONE) {
			if (feed_register(f) == -1) {
				feed_package_failed(f, 1);
				break;
			}
			feed_set_state(f, FEED_S_REGISTER);
		} else if (ev == FEED_E_FAIL)
			feed_package_failed(f, 1);
		break;
	case FEED_S_REGISTER:
		if (ev == FEED_E_DONE) {
			/* Not on the loop: gigabytes take a while to free. */
			api_package_unlink(f->part);
			f->cur++;
			feed_next_package(f);
		} else if (ev == FEED_E_FAIL)
			feed_package_failed(f, 1);
		break;
	}
}

/* ---- status, start, stop ---- */

static json_t *
feed_time_json(uint64_t ms)
{
	char	buf[40];

	if (ms == 0)
		return (json_null());
	return (json_string(db_format_time(ms, buf, sizeof(buf))));
}

json_t *
feed_status_json(struct feed *f)
{
	struct feed_stats	 st;
	json_t			*o;

	if (feed_stats(f, &st) == -1)
		return (json_pack("{s:n, s:s}", "feed_url", "state", "off"));
	o = json_pack("{s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:i, s:I}",
	    "feed_url", st.url, "state", st.state, "interval", f->interval,
	    "serial", st.have_serial ? json_integer((json_int_t)st.serial) :
	    json_null(),
	    "last_fetch", feed_time_json(st.last_fetch_ms),
	    "last_success", feed_time_json(st.last_ok_ms),
	    "next_fetch", f->state == FEED_S_IDLE ? feed_time_json(st.next_ms) :
	    json_string("now"),
	    "last_error", st.last_error != NULL ? json_string(st.last_error) :
	    json_null(),
	    "failures", st.failures,
	    "registered", (json_int_t)st.registered);
	feed_stats_clear(&st);
	return (o);
}

const char *
feed_pass_name(enum feed_pass_result r)
{
	switch (r) {
	case FEED_PASS_OK:
		return ("ok");
	case FEED_PASS_NOT_MODIFIED:
		return ("not_modified");
	case FEED_PASS_FAILED:
		return ("failed");
	case FEED_PASS_MAX:
		break;
	}
	return ("?");
}

/*
 * The same figures as feed_status_json, as numbers (times in ms, 0 for
 * never), for metrics.c; the strings are copies for feed_stats_clear.
 */
int
feed_stats(struct feed *f, struct feed_stats *st)
{
	struct db_feed_state	 fs;
	int			 i;

	memset(st, 0, sizeof(*st));
	if (f == NULL)
		return (-1);
	if (db_feed_get(f->srv->db, &fs) == -1)
		memset(&fs, 0, sizeof(fs));
	st->url = xstrdup(f->index_url);
	st->state = feed_strstate(f->state);
	st->have_serial = fs.have_serial;
	st->serial = fs.serial;
	st->last_fetch_ms = fs.last_fetch;
	st->last_ok_ms = fs.last_ok;
	/* Not idle: a fetch is under way, so the next one is now. */
	st->next_ms = f->state == FEED_S_IDLE ? f->next_ms : server_now_ms();
	st->last_error = fs.last_error != NULL ? xstrdup(fs.last_error) :
	    NULL;
	st->failures = fs.failures;
	st->registered = f->registered;
	for (i = 0; i < FEED_PASS_MAX; i++)
		st->passes[i] = f->passes[i];
	db_feed_clear(&fs);
	return (0);
}

void
feed_stats_clear(struct feed_stats *st)
{
	free(st->url);
	free(st->last_error);
	memset(st, 0, sizeof(*st));
}

struct feed *
feed_new(struct server *srv, char *err, size_t errlen)
{
	struct feed	*f;
	const char	*url = conf_str(srv->conf, "feed_url");
	char		 dir[4096];
	size_t		 l;

	if (url == NULL)
		return (NULL);
	if (strlen(srv->state_dir) > FEED_DIR_MAX) {
		snprintf(err, errlen, "feed: state_dir: %zu bytes, limit %d "
		    "for the feed's downloads", strlen(srv->state_dir),
		    FEED_DIR_MAX);
		return (NULL);
	}
	snprintf(dir, sizeof(dir), "%s/feed", srv->state_dir);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "feed: %s: %s", dir, strerror(errno));
		return (NULL);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "feed: curl_global_init failed");
		return (NULL);
	}
	f = xcalloc(1, sizeof(*f));
	f->srv = srv;
	f->hfd = -1;
	f->x.fd = -1;
	feed_index_init(&f->idx);
	f->interval = (int)conf_int(srv->conf, "feed_interval");
	f->ca = conf_str(srv->conf, "feed_ca");
	/* feed_url names the feed's directory, or its feed.json. */
	l = strlen(url);
	if (l > strlen(FEED_INDEX_NAME) && strcmp(url + l -
	    strlen(FEED_INDEX_NAME), FEED_INDEX_NAME) == 0)
		l -= strlen(FEED_INDEX_NAME);
	while (l > 0 && url[l - 1] == '/')
		l--;
	f->base = xstrndup(url, l);
	xasprintf(&f->index_url, "%s/" FEED_INDEX_NAME, f->base);
	f->multi = curl_multi_init();
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, feed_curl_socket);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, feed_curl_timer);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	f->curl_timer = evtimer_new(srv->base, feed_curl_timer_cb, f);
	f->timer = evtimer_new(srv->base, feed_timer_cb, f);
	f->empty = evbuffer_new();
	f->ap = api_package_new(srv, &feed_package_cb, f);
	/* The first fetch soon, spread over a tenth of the interval. */
	feed_arm(f, 1000 + feed_random_ms((uint64_t)f->interval * 100));
	log_info("feed: pulling %s every %d s", f->index_url, f->interval);
	return (f);
}

void
feed_free(struct feed *f)
{
	if (f == NULL)
		return;
	if (f->x.easy != NULL) {
		curl_multi_remove_handle(f->multi, f->x.easy);
		curl_easy_cleanup(f->x.easy);
		f->x.easy = NULL;
	}
	curl_slist_free_all(f->x.hdrs);
	feed_xfer_reset(&f->x);
	feed_pass_free(f);
	api_package_free(f->ap);
	curl_multi_cleanup(f->multi);
	event_free(f->curl_timer);
	event_free(f->timer);
	evbuffer_free(f->empty);
	free(f->base);
	free(f->index_url);
	free(f);
	curl_global_cleanup();
}
