/*
 * `fleetcast feed`: the package feed (MISSION.md P12).  publish adds
 * signed packages to a directory any static web server can serve (the
 * packages under packages/, the index feed.json and its detached
 * signature feed.json.sig, common/feed_index.c), raising the serial each
 * time; show prints a feed's index from its URL or its directory and,
 * with --pubkey, checks its signature; status asks the server how its
 * own pulling of a feed goes (GET /v1/feed).  The feed signer's key is
 * the one that signs the index; each package keeps the signature of its
 * own signer, which the servers check against trusted_keys.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli.h"
#include "crypto.h"
#include "feed_index.h"
#include "fsutil.h"
#include "pkg.h"
#include "xmalloc.h"

#define FEED_CLI_MAXKEYS	64
#define FEED_CLI_EXPIRES	(7 * 86400)	/* default --expires */
#define FEED_CLI_CHUNK		(1024 * 1024)

enum {
	OPT_DIR = 256,
	OPT_SIGN_KEY,
	OPT_EXPIRES,
	OPT_PUBKEY,
	OPT_CA,
	OPT_JSON,
};

/* The options of publish and of show. */
static const struct option feed_publish_opts[] = {
	{ "dir", required_argument, NULL, OPT_DIR },
	{ "sign-key", required_argument, NULL, OPT_SIGN_KEY },
	{ "expires", required_argument, NULL, OPT_EXPIRES },
	{ "pubkey", required_argument, NULL, OPT_PUBKEY },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};
static const struct option feed_show_opts[] = {
	{ "pubkey", required_argument, NULL, OPT_PUBKEY },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void
feed_help(FILE *f)
{
	fprintf(f, "\n"
	    "publish  copy the packages into FEED/packages/ and write a new "
	    "FEED/feed.json\n"
	    "         (one entry per package id; the serial goes up by one) "
	    "signed with\n"
	    "         ADMIN.key into FEED/feed.json.sig; --expires DURATION "
	    "(N days, or\n"
	    "         Ns, Nm, Nh, Nd; default 7d) after which servers refuse "
	    "the index;\n"
	    "         without packages it only re-signs (publish again before "
	    "it expires);\n"
	    "         --pubkey checks each package's signature first\n"
	    "show     print a feed's index, from its URL (http or https; "
	    "--ca FILE for a\n"
	    "         private CA) or its directory; --pubkey FILE checks "
	    "the signature\n"
	    "status   the server's feed: last fetch, serial, next fetch, "
	    "last error\n");
}

/* A whole small file into memory, at most max bytes; 0 or -1 with err. */
static int
feed_read_small(const char *path, size_t max, char **out, size_t *len,
    char *err, size_t errlen)
{
	struct stat	 st;
	ssize_t		 n;
	int		 fd;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > max) {
		snprintf(err, errlen, "%s: not a regular file of at most %zu "
		    "bytes", path, max);
		close(fd);
		return (-1);
	}
	*out = xmalloc((size_t)st.st_size + 1);
	*len = 0;
	while (*len < (size_t)st.st_size) {
		n = read(fd, *out + *len, (size_t)st.st_size - *len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: %s", path, n == 0 ?
			    "shorter than it was" : strerror(errno));
			free(*out);
			*out = NULL;
			close(fd);
			return (-1);
		}
		*len += (size_t)n;
	}
	(*out)[*len] = '\0';
	close(fd);
	return (0);
}

/*
 * Copy a package into the feed's packages/ directory while hashing the
 * bytes, under a name made of its id, version and hash, so that a new
 * version never overwrites one a server may be downloading.
 */
static int
feed_copy_package(const char *dir, const char *src, struct feed_entry *e,
    char *err, size_t errlen)
{
	struct atomic_file	 af;
	struct sha256		*h;
	char			 path[4096], tmpname[4096];
	char			 hex[SHA256_LEN * 2 + 1];
	char			 ver[16], *buf;
	uint64_t		 size = 0;
	ssize_t			 n;
	int			 fd, rv = -1;

	if ((fd = open(src, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", src, strerror(errno));
		return (-1);
	}
	snprintf(tmpname, sizeof(tmpname), "%s/packages/%s.incoming", dir,
	    e->id);
	if (atomic_open(&af, tmpname, 0644, err, errlen) == -1) {
		close(fd);
		return (-1);
	}
	buf = xmalloc(FEED_CLI_CHUNK);
	h = sha256_new();
	for (;;) {
		n = read(fd, buf, FEED_CLI_CHUNK);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s", src, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		sha256_update(h, buf, (size_t)n);
		if (write_all(af.fd, buf, (size_t)n) == -1) {
			snprintf(err, errlen, "%s: %s", af.tmp,
			    strerror(errno));
			goto out;
		}
		size += (uint64_t)n;
	}
	sha256_final(h, e->sha256);
	e->size = size;
	hex_encode(e->sha256, SHA256_LEN, hex);
	feed_entry_version(e, ver, sizeof(ver));
	snprintf(e->path, sizeof(e->path), "packages/%s-%s-%.16s.fcpkg", e->id,
	    ver, hex);
	snprintf(path, sizeof(path), "%s/%s", dir, e->path);
	free(af.path);
	af.path = xstrdup(path);
	/* atomic_commit cleans up after itself when it fails. */
	rv = atomic_commit(&af, err, errlen);
out:
	if (rv == -1)
		atomic_abort(&af);
	sha256_free(h);
	free(buf);
	close(fd);
	return (rv);
}

/*
 * Read one package's manifest for its entry; with keys, its signature
 * and payload are checked too (the servers will check them anyway, so a
 * feed that holds a package nobody trusts is better refused here).
 */
static int
feed_entry_from_package(const char *file,
    const uint8_t (*keys)[ED25519_PUB_LEN], size_t nkeys,
    struct feed_entry *e, char *err, size_t errlen)
{
	const struct pkg_manifest	*m;
	struct pkg			*p;

	memset(e, 0, sizeof(*e));
	if (pkg_open(&p, file, keys, nkeys, nkeys > 0 ? 0 : PKG_OPEN_NOVERIFY,
	    err, errlen) == -1)
		return (-1);
	m = pkg_get_manifest(p);
	snprintf(e->id, sizeof(e->id), "%s", m->id);
	e->has_version = m->has_version;
	e->major = m->major;
	e->minor = m->minor;
	e->type = m->type;
	e->urgency = m->urgency;
	pkg_close(p);
	return (0);
}

static int
feed_read_keys(const char *cmd, const char *file,
    uint8_t (*keys)[ED25519_PUB_LEN], size_t *nkeys)
{
	char	err[1024];
	size_t	n;

	if (ed25519_read_public(file, keys + *nkeys, FEED_CLI_MAXKEYS - *nkeys,
	    &n, err, sizeof(err)) == -1)
		return (cli_usage_error(cmd, "--pubkey: %s", err));
	*nkeys += n;
	return (EXIT_OK);
}

/* The index in dir, if there is one: 1, 0 when there is none, -1. */
static int
feed_load_dir_index(const char *dir, struct feed_index *idx, char *err,
    size_t errlen)
{
	char	path[4096], msg[1024], *buf;
	size_t	len;

	feed_index_init(idx);
	snprintf(path, sizeof(path), "%s/" FEED_INDEX_NAME, dir);
	if (access(path, F_OK) == -1 && errno == ENOENT)
		return (0);
	if (feed_read_small(path, FEED_INDEX_MAX, &buf, &len, err,
	    errlen) == -1)
		return (-1);
	if (feed_index_decode(idx, buf, len, msg, sizeof(msg)) == -1) {
		snprintf(err, errlen, "%.512s: %.500s", path, msg);
		free(buf);
		return (-1);
	}
	free(buf);
	return (1);
}

/* Whether entry e may go into idx, by the rule that versions only go up. */
static int
feed_entry_allowed(const struct feed_index *idx, const struct feed_entry *e,
    const char *file, char *err, size_t errlen)
{
	const struct feed_entry	*old;
	char			 a[16], b[16];
	int			 c;

	if ((old = feed_index_find(idx, e->id)) == NULL)
		return (0);
	feed_entry_version(e, a, sizeof(a));
	feed_entry_version(old, b, sizeof(b));
	c = feed_entry_version_cmp(e, old->has_version, old->major,
	    old->minor);
	if (c < 0 || (c == 0 && (e->has_version || old->has_version))) {
		snprintf(err, errlen, "%s: package %s version %s is %s the "
		    "feed's %s; versions only go up (anti-rollback)", file,
		    e->id, a, c < 0 ? "lower than" : "the same as", b);
		return (-1);
	}
	return (0);
}

/*
 * argv[0] is "feed": getopt is to skip the subcommand's name instead, and
 * start afresh.
 */
static void
feed_args(int *argc, char ***argv)
{
	(*argc)--;
	(*argv)++;
	optind = 0;
	opterr = 0;
}

static int
feed_publish(int argc, char **argv)
{
	const char		*cmd = "feed publish", *dir = NULL, *key = NULL;
	uint8_t			 priv[ED25519_PRIV_LEN];
	uint8_t			 (*keys)[ED25519_PUB_LEN];
	struct feed_index	 idx;
	struct feed_entry	*es = NULL;
	char			 err[1024], path[4096];
	char			 sig[FEED_SIG_TEXT_LEN + 1];
	char			 when[32], *text = NULL;
	size_t			 nkeys = 0, i, n;
	long long		 expires = FEED_CLI_EXPIRES;
	int			 ch, rv = EXIT_USAGE, had;

	feed_args(&argc, &argv);
	keys = xcalloc(FEED_CLI_MAXKEYS, sizeof(*keys));
	feed_index_init(&idx);
	while ((ch = getopt_long(argc, argv, ":h",
	    feed_publish_opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			printf("usage: fleetcast feed publish --dir FEED "
			    "--sign-key ADMIN.key [--expires DURATION]\n"
			    "           [--pubkey SIGNER.pub]... "
			    "[PKG.fcpkg...]\n");
			feed_help(stdout);
			rv = EXIT_OK;
			goto out;
		case OPT_DIR:
			dir = optarg;
			break;
		case OPT_SIGN_KEY:
			key = optarg;
			break;
		case OPT_EXPIRES:
			if ((expires = cli_duration(optarg, 86400,
			    3660LL * 86400)) == -1) {
				cli_usage_error(cmd, "--expires: '%s' is not a "
				    "duration (N days, or Ns, Nm, Nh, Nd; at "
				    "most 3660 days)", optarg);
				goto out;
			}
			break;
		case OPT_PUBKEY:
			if (feed_read_keys(cmd, optarg, keys, &nkeys) !=
			    EXIT_OK)
				goto out;
			break;
		default:
			cli_getopt_error(cmd, ch, argv);
			goto out;
		}
	}
	if (dir == NULL || key == NULL) {
		cli_usage_error(cmd, "%s: required", dir == NULL ? "--dir" :
		    "--sign-key");
		goto out;
	}
	/* No package: the same entries re-signed, a new serial and expiry. */
	if (ed25519_read_private(key, priv, err, sizeof(err)) == -1) {
		cli_usage_error(cmd, "--sign-key: %s", err);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/packages", dir);
	if ((mkdir(dir, 0755) == -1 && errno != EEXIST) ||
	    (mkdir(path, 0755) == -1 && errno != EEXIST)) {
		rv = cli_fail(cmd, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((had = feed_load_dir_index(dir, &idx, err, sizeof(err))) == -1) {
		rv = cli_fail(cmd, "%s (fix or remove it; the serial must "
		    "go on from it)", err);
		goto out;
	}
	/* Every package is read and judged before anything is written. */
	n = (size_t)(argc - optind);
	es = xcalloc(n + 1, sizeof(*es));
	for (i = 0; i < n; i++) {
		if (feed_entry_from_package(argv[optind + i],
		    (const uint8_t (*)[ED25519_PUB_LEN])keys, nkeys, &es[i],
		    err, sizeof(err)) == -1) {
			fprintf(stderr, "fleetcast %s: %s: %s\n", cmd,
			    argv[optind + i], err);
			goto out;
		}
		if (feed_entry_allowed(&idx, &es[i], argv[optind + i], err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "fleetcast %s: %s\n", cmd, err);
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		if (feed_copy_package(dir, argv[optind + i], &es[i], err,
		    sizeof(err)) == -1) {
			rv = cli_fail(cmd, "%s", err);
			goto out;
		}
		feed_index_put(&idx, &es[i]);
	}
	idx.serial = had ? idx.serial + 1 : 1;
	idx.created = (int64_t)time(NULL);
	idx.expires = idx.created + expires;
	if ((text = feed_index_encode(&idx)) == NULL ||
	    feed_sig_make(priv, text, strlen(text), sig) == -1) {
		rv = cli_fail(cmd, "encoding or signing the index failed");
		goto out;
	}
	/*
	 * The signature first: a server that reads the new signature with
	 * the old index refuses it this once and tries again shortly.
	 */
	snprintf(path, sizeof(path), "%s/" FEED_SIG_NAME, dir);
	if (atomic_write_file(path, sig, strlen(sig), 0644, err,
	    sizeof(err)) == -1) {
		rv = cli_fail(cmd, "%s", err);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/" FEED_INDEX_NAME, dir);
	if (atomic_write_file(path, text, strlen(text), 0644, err,
	    sizeof(err)) == -1) {
		rv = cli_fail(cmd, "%s", err);
		goto out;
	}
	feed_time_format(idx.expires, when, sizeof(when));
	printf("feed %s: serial %" PRIu64 ", %zu package%s, expires %s\n", dir,
	    idx.serial, idx.npkgs, idx.npkgs == 1 ? "" : "s", when);
	rv = EXIT_OK;
out:
	explicit_bzero(priv, sizeof(priv));
	free(text);
	free(es);
	free(keys);
	feed_index_free(&idx);
	return (rv);
}

struct feed_buf {
	char	*p;
	size_t	 len;
	size_t	 max;
};

static size_t
feed_curl_write(char *data, size_t sz, size_t nmemb, void *arg)
{
	struct feed_buf	*b = arg;
	size_t		 n = sz * nmemb;

	if (n > b->max - b->len)
		return (0);	/* over the limit: curl fails the transfer */
	b->p = xreallocarray(b->p, b->len + n + 1, 1);
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return (n);
}

/* GET url into memory, at most max bytes; 0 or -1 with err. */
static int
feed_fetch_url(const char *url, const char *ca, size_t max, char **out,
    size_t *len, char *err, size_t errlen)
{
	struct feed_buf	 b = { NULL, 0, max };
	char		 cerr[CURL_ERROR_SIZE] = "";
	CURL		*c;
	CURLcode	 rc;
	long		 code = 0;

	if ((c = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "curl_easy_init failed");
		return (-1);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, feed_curl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK || code != 200) {
		if (rc == CURLE_WRITE_ERROR)
			snprintf(err, errlen, "%.900s: more than %zu bytes",
			    url, max);
		else if (rc != CURLE_OK)
			snprintf(err, errlen, "%.700s: %s", url,
			    cerr[0] != '\0' ? cerr : curl_easy_strerror(rc));
		else
			snprintf(err, errlen, "%.900s: HTTP status %ld", url,
			    code);
		free(b.p);
		return (-1);
	}
	if (b.p == NULL)
		b.p = xstrdup("");
	*out = b.p;
	*len = b.len;
	return (0);
}

static int
feed_is_url(const char *s)
{
	return (strncmp(s, "http://", 7) == 0 ||
	    strncmp(s, "https://", 8) == 0);
}

/* Fetch name (feed.json or its signature) of a feed's URL or directory. */
static int
feed_get(const char *where, const char *name, const char *ca, size_t max,
    char **out, size_t *len, char *err, size_t errlen)
{
	char	path[4096];
	size_t	l = strlen(where);

	while (l > 1 && where[l - 1] == '/')
		l--;
	snprintf(path, sizeof(path), "%.*s/%s", (int)l, where, name);
	if (feed_is_url(where))
		return (feed_fetch_url(path, ca, max, out, len, err, errlen));
	return (feed_read_small(path, max, out, len, err, errlen));
}

static void
feed_print(const struct feed_index *idx, const char *sigsay)
{
	const struct feed_entry	*e;
	char			 a[32], b[32], hex[SHA256_LEN * 2 + 1], v[16];
	size_t			 i;

	feed_time_format(idx->created, a, sizeof(a));
	feed_time_format(idx->expires, b, sizeof(b));
	printf("%-12s%" PRIu64 "\n%-12s%s\n%-12s%s%s\n%-12s%s\n%-12s%zu\n",
	    "serial:", idx->serial, "created:", a, "expires:", b,
	    (int64_t)time(NULL) >= idx->expires ? " (EXPIRED)" : "",
	    "signature:", sigsay, "packages:", idx->npkgs);
	if (idx->npkgs == 0)
		return;
	printf("\n%-24s %-8s %-12s %-8s %12s  %-16s  %s\n", "ID", "VERSION",
	    "TYPE", "URGENCY", "SIZE", "SHA256", "PATH");
	for (i = 0; i < idx->npkgs; i++) {
		e = &idx->pkgs[i];
		hex_encode(e->sha256, SHA256_LEN, hex);
		feed_entry_version(e, v, sizeof(v));
		printf("%-24s %-8s %-12s %-8s %12" PRIu64 "  %.16s  %s\n",
		    e->id, v, pkg_field_type_name(e->type),
		    pkg_field_urgency_name(e->urgency), e->size, hex, e->path);
	}
}

static int
feed_show(int argc, char **argv)
{
	const char		*cmd = "feed show", *ca = NULL, *where;
	uint8_t			 (*keys)[ED25519_PUB_LEN];
	struct feed_index	 idx;
	json_error_t		 je;
	json_t			*o;
	char			 err[1024], sigsay[1100];
	char			*buf = NULL, *sig = NULL;
	size_t			 nkeys = 0, len, slen;
	int			 ch, json = 0, rv = EXIT_USAGE;

	feed_args(&argc, &argv);
	keys = xcalloc(FEED_CLI_MAXKEYS, sizeof(*keys));
	feed_index_init(&idx);
	while ((ch = getopt_long(argc, argv, ":h",
	    feed_show_opts, NULL)) != -1) {
		if (ch == 'h') {
			printf("usage: fleetcast feed show URL|DIR [--pubkey "
			    "FILE]... [--ca FILE] [--json]\n");
			feed_help(stdout);
			rv = EXIT_OK;
			goto out;
		} else if (ch == OPT_PUBKEY) {
			if (feed_read_keys(cmd, optarg, keys, &nkeys) !=
			    EXIT_OK)
				goto out;
		} else if (ch == OPT_CA)
			ca = optarg;
		else if (ch == OPT_JSON)
			json = 1;
		else {
			cli_getopt_error(cmd, ch, argv);
			goto out;
		}
	}
	if (optind != argc - 1) {
		cli_usage_error(cmd, optind == argc ? "needs the feed's URL or "
		    "directory" : "takes one URL or directory");
		goto out;
	}
	where = argv[optind];
	rv = EXIT_FAIL;
	if (feed_get(where, FEED_INDEX_NAME, ca, FEED_INDEX_MAX, &buf, &len,
	    err, sizeof(err)) == -1) {
		fprintf(stderr, "fleetcast %s: %s\n", cmd, err);
		goto out;
	}
	snprintf(sigsay, sizeof(sigsay), "not checked (give --pubkey)");
	if (nkeys > 0) {
		if (feed_get(where, FEED_SIG_NAME, ca, FEED_SIG_MAX, &sig,
		    &slen, err, sizeof(err)) == -1 ||
		    feed_sig_verify(buf, len, sig, slen,
		    (const uint8_t (*)[ED25519_PUB_LEN])keys, nkeys, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "fleetcast %s: %s\n", cmd, err);
			goto out;
		}
		snprintf(sigsay, sizeof(sigsay), "OK (key %.16s)", sig + 8);
	}
	if (feed_index_decode(&idx, buf, len, err, sizeof(err)) == -1) {
		fprintf(stderr, "fleetcast %s: %s: %s\n", cmd, where, err);
		goto out;
	}
	if (json) {
		/* The index as published, and what was checked. */
		if ((o = json_loadb(buf, len, 0, &je)) == NULL)
			goto out;
		json_object_set_new(o, "signature_checked", json_boolean(
		    nkeys > 0));
		json_object_set_new(o, "expired", json_boolean(
		    (int64_t)time(NULL) >= idx.expires));
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("\n");
		json_decref(o);
	} else
		feed_print(&idx, sigsay);
	rv = EXIT_OK;
out:
	free(buf);
	free(sig);
	free(keys);
	feed_index_free(&idx);
	return (rv);
}

/* `feed status`: the server's answer, as name: value lines. */
static void
feed_status_rows(json_t *o)
{
	show_object(o);
}

const struct cli_entry cmd_feed_entries[] = {
	{ "feed", NULL, NULL, "publish a package feed; show one; the "
	    "server's feed status", feed_help, NULL },
	{ "feed", "publish", feed_publish, "--dir FEED --sign-key ADMIN.key "
	    "[--expires DURATION] [--pubkey FILE]... [PKG.fcpkg...]", NULL,
	    NULL },
	{ "feed", "show", feed_show, "URL|DIR [--pubkey FILE]... [--ca FILE] "
	    "[--json]", NULL, NULL },
	{ "feed", "status", NULL, "[--json]", NULL, &(const struct http_one){
	    "GET", "/v1/feed", NULL, NULL, feed_status_rows } },
	{ NULL, NULL, NULL, NULL, NULL, NULL }
};
