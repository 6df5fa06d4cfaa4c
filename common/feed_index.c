/*
 * The feed index codec and its checks (see feed_index.h).  feed.json is
 * JSON so that any static web server can serve it and an admin can read
 * it; the decoder is strict all the same: every field is required and
 * checked with the same rules as the package's own fields (pkg_field.c),
 * unknown fields and duplicate ids are refused, sizes and counts are
 * bounded, and paths are relative names that cannot leave the feed.  The
 * signature covers a domain string and the raw bytes, never a decoded
 * and re-encoded form, so what was signed is exactly what is read.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "crypto.h"
#include "feed_index.h"
#include "pkg.h"
#include "xmalloc.h"

void
feed_index_init(struct feed_index *idx)
{
	memset(idx, 0, sizeof(*idx));
}

void
feed_index_free(struct feed_index *idx)
{
	free(idx->pkgs);
	feed_index_init(idx);
}

/* RFC 3339 UTC to the second, as the index writes it: 2026-12-06T23:07:54Z. */
int
feed_time_parse(const char *s, int64_t *out)
{
	struct tm	tm;
	int		y, mo, d, h, mi, se, n = 0;
	time_t		t;

	if (strlen(s) != 20 || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo,
	    &d, &h, &mi, &se, &n) != 6 || n != 20)
		return (-1);
	if (y < 1970 || !pkg_field_date_valid(y, mo, d) || h > 23 || mi > 59 ||
	    se > 59 || h < 0 || mi < 0 || se < 0)
		return (-1);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	if ((t = timegm(&tm)) == (time_t)-1)
		return (-1);
	*out = (int64_t)t;
	return (0);
}

void
feed_time_format(int64_t t, char *buf, size_t len)
{
	struct tm	tm;
	time_t		tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "?");
}

/*
 * A path in the feed: relative, made of the characters a URL carries
 * as they are, without '.' or '..' components, so that joined to the
 * feed's URL or directory it stays inside.
 */
int
feed_entry_check_path(const char *path, char *err, size_t errlen)
{
	const char	*p;

	if (strlen(path) > FEED_PATH_MAX) {
		snprintf(err, errlen, "path: %zu bytes, limit %d",
		    strlen(path), FEED_PATH_MAX);
		return (-1);
	}
	for (p = path; *p != '\0'; p++)
		if (!isascii((unsigned char)*p) ||
		    (!isalnum((unsigned char)*p) && strchr("._-/", *p) ==
		    NULL)) {
			snprintf(err, errlen, "path: '%s' may hold only "
			    "A-Z a-z 0-9 . _ - /", path);
			return (-1);
		}
	return (pkg_field_check_relpath("path", path, err, errlen));
}

/* "MAJOR.MINOR" with both parts 0-65535 in decimal and nothing else. */
static int
feed_parse_version(const char *s, struct feed_entry *e)
{
	char		 part[16], msg[128];
	const char	*dot;

	if ((dot = strchr(s, '.')) == NULL || (size_t)(dot - s) >= sizeof(part))
		return (-1);
	snprintf(part, sizeof(part), "%.*s", (int)(dot - s), s);
	if (pkg_field_parse_u16("version", part, &e->major, msg,
	    sizeof(msg)) == -1 ||
	    pkg_field_parse_u16("version", dot + 1, &e->minor, msg,
	    sizeof(msg)) == -1)
		return (-1);
	e->has_version = 1;
	return (0);
}

void
feed_entry_version(const struct feed_entry *e, char *buf, size_t len)
{
	if (e->has_version)
		snprintf(buf, len, "%u.%u", e->major, e->minor);
	else
		snprintf(buf, len, "none");
}

/*
 * The entry's version against one registered: <0, 0 or >0 as
 * major.minor compare; an entry or a registration without a version
 * compares equal to anything, since neither can replace the other.
 */
int
feed_entry_version_cmp(const struct feed_entry *e, int has_version,
    uint16_t major, uint16_t minor)
{
	if (!e->has_version || !has_version)
		return (0);
	if (e->major != major)
		return (e->major < major ? -1 : 1);
	if (e->minor != minor)
		return (e->minor < minor ? -1 : 1);
	return (0);
}

/* Every key of o must be one of names (a NULL-terminated list). */
static int
feed_only_keys(json_t *o, const char *const *names, const char *where,
    char *err, size_t errlen)
{
	const char	*k;
	json_t		*v;
	size_t		 i;

	json_object_foreach(o, k, v) {
		for (i = 0; names[i] != NULL; i++)
			if (strcmp(k, names[i]) == 0)
				break;
		if (names[i] == NULL) {
			snprintf(err, errlen, "%s: unknown field '%.64s'",
			    where, k);
			return (-1);
		}
	}
	return (0);
}

static const char *const feed_entry_keys[] = { "id", "version", "type",
    "urgency", "size", "sha256", "path", NULL };
static const char *const feed_top_keys[] = { "format", "serial", "created",
    "expires", "packages", NULL };

static int
feed_decode_entry(json_t *o, struct feed_entry *e, size_t n, char *err,
    size_t errlen)
{
	char		 where[32], msg[512];
	const char	*s;
	json_t		*v;

	snprintf(where, sizeof(where), "packages[%zu]", n);
	memset(e, 0, sizeof(*e));
	if (!json_is_object(o)) {
		snprintf(err, errlen, "%s: not an object", where);
		return (-1);
	}
	if (feed_only_keys(o, feed_entry_keys, where, err, errlen) == -1)
		return (-1);
	if ((s = json_string_value(json_object_get(o, "id"))) == NULL) {
		snprintf(err, errlen, "%s: id: a string is needed", where);
		return (-1);
	}
	if (pkg_field_check_id("id", s, msg, sizeof(msg)) == -1)
		goto bad;
	snprintf(e->id, sizeof(e->id), "%s", s);
	v = json_object_get(o, "version");
	if (v == NULL || (!json_is_null(v) && (!json_is_string(v) ||
	    feed_parse_version(json_string_value(v), e) == -1))) {
		snprintf(err, errlen, "%s (%s): version: \"MAJOR.MINOR\" or "
		    "null is needed", where, e->id);
		return (-1);
	}
	if ((s = json_string_value(json_object_get(o, "type"))) == NULL ||
	    pkg_field_parse_type("type", s, &e->type, msg, sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s (%s): type: servicepack, hotfix or "
		    "application is needed", where, e->id);
		return (-1);
	}
	if ((s = json_string_value(json_object_get(o, "urgency"))) == NULL ||
	    pkg_field_parse_urgency("urgency", s, &e->urgency, msg,
	    sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s (%s): urgency: highest, high, normal "
		    "or low is needed", where, e->id);
		return (-1);
	}
	v = json_object_get(o, "size");
	if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
	    (uint64_t)json_integer_value(v) > FEED_PKG_SIZE_MAX) {
		snprintf(err, errlen, "%s (%s): size: an integer from 1 to "
		    "%llu is needed", where, e->id, FEED_PKG_SIZE_MAX);
		return (-1);
	}
	e->size = (uint64_t)json_integer_value(v);
	if ((s = json_string_value(json_object_get(o, "sha256"))) == NULL ||
	    strlen(s) != SHA256_LEN * 2 || strspn(s, "0123456789abcdef") !=
	    SHA256_LEN * 2 || hex_decode(s, e->sha256, SHA256_LEN) == -1) {
		snprintf(err, errlen, "%s (%s): sha256: 64 lowercase hex "
		    "digits are needed", where, e->id);
		return (-1);
	}
	if ((s = json_string_value(json_object_get(o, "path"))) == NULL) {
		snprintf(err, errlen, "%s (%s): path: a string is needed",
		    where, e->id);
		return (-1);
	}
	if (feed_entry_check_path(s, msg, sizeof(msg)) == -1)
		goto bad;
	snprintf(e->path, sizeof(e->path), "%s", s);
	return (0);
bad:
	snprintf(err, errlen, "%s: %s", where, msg);
	return (-1);
}

static int
feed_decode_time(json_t *top, const char *name, int64_t *out, char *err,
    size_t errlen)
{
	const char	*s;

	if ((s = json_string_value(json_object_get(top, name))) == NULL ||
	    feed_time_parse(s, out) == -1) {
		snprintf(err, errlen, "%s: a UTC time like "
		    "2026-01-31T12:00:00Z is needed", name);
		return (-1);
	}
	return (0);
}

int
feed_index_decode(struct feed_index *idx, const void *buf, size_t len,
    char *err, size_t errlen)
{
	json_error_t	 je;
	json_t		*top, *v, *a;
	size_t		 i, j;

	feed_index_init(idx);
	if (len > FEED_INDEX_MAX) {
		snprintf(err, errlen, "index: %zu bytes, limit %d", len,
		    FEED_INDEX_MAX);
		return (-1);
	}
	if (memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "index: a NUL byte in the JSON");
		return (-1);
	}
	top = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (top == NULL) {
		snprintf(err, errlen, "index: not JSON (line %d: %s)", je.line,
		    je.text);
		return (-1);
	}
	if (!json_is_object(top)) {
		snprintf(err, errlen, "index: not a JSON object");
		goto bad;
	}
	if (feed_only_keys(top, feed_top_keys, "index", err, errlen) == -1)
		goto bad;
	v = json_object_get(top, "format");
	if (!json_is_integer(v) || json_integer_value(v) != FEED_INDEX_FORMAT) {
		snprintf(err, errlen, "format: %d is needed (this fleetcast "
		    "reads feed format %d only)", FEED_INDEX_FORMAT,
		    FEED_INDEX_FORMAT);
		goto bad;
	}
	v = json_object_get(top, "serial");
	if (!json_is_integer(v) || json_integer_value(v) < 1) {
		snprintf(err, errlen, "serial: a positive integer is needed");
		goto bad;
	}
	idx->serial = (uint64_t)json_integer_value(v);
	if (feed_decode_time(top, "created", &idx->created, err,
	    errlen) == -1 || feed_decode_time(top, "expires", &idx->expires,
	    err, errlen) == -1)
		goto bad;
	if (idx->expires <= idx->created) {
		snprintf(err, errlen, "expires: not after created");
		goto bad;
	}
	a = json_object_get(top, "packages");
	if (!json_is_array(a)) {
		snprintf(err, errlen, "packages: an array is needed");
		goto bad;
	}
	if (json_array_size(a) > FEED_PKGS_MAX) {
		snprintf(err, errlen, "packages: %zu entries, limit %d",
		    json_array_size(a), FEED_PKGS_MAX);
		goto bad;
	}
	idx->pkgs = xcalloc(json_array_size(a) + 1, sizeof(*idx->pkgs));
	for (i = 0; i < json_array_size(a); i++) {
		if (feed_decode_entry(json_array_get(a, i), &idx->pkgs[i], i,
		    err, errlen) == -1)
			goto bad;
		for (j = 0; j < i; j++)
			if (strcmp(idx->pkgs[j].id, idx->pkgs[i].id) == 0 ||
			    strcmp(idx->pkgs[j].path, idx->pkgs[i].path) == 0) {
				snprintf(err, errlen, "packages[%zu]: id %s or "
				    "path %s is also packages[%zu]'s", i,
				    idx->pkgs[i].id, idx->pkgs[i].path, j);
				goto bad;
			}
		idx->npkgs++;
	}
	json_decref(top);
	return (0);
bad:
	json_decref(top);
	feed_index_free(idx);
	return (-1);
}

/* The index as feed.json: fields in a fixed order, one entry a line. */
char *
feed_index_encode(const struct feed_index *idx)
{
	const struct feed_entry	*e;
	json_t			*top, *o;
	char			 created[32], expires[32];
	char			 hex[SHA256_LEN * 2 + 1];
	char			 ver[16], *s, *line, *out;
	size_t			 i, len, cap;

	feed_time_format(idx->created, created, sizeof(created));
	feed_time_format(idx->expires, expires, sizeof(expires));
	top = json_pack("{s:i, s:I, s:s, s:s}", "format", FEED_INDEX_FORMAT,
	    "serial", (json_int_t)idx->serial, "created", created, "expires",
	    expires);
	s = json_dumps(top, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(top);
	if (s == NULL)
		return (NULL);
	/* Room for the header, and the entries one line at a time. */
	len = strlen(s) - 1;
	cap = len + 64;
	out = xmalloc(cap);
	memcpy(out, s, len);
	free(s);
	len += (size_t)snprintf(out + len, cap - len, ",\"packages\":[");
	for (i = 0; i < idx->npkgs; i++) {
		e = &idx->pkgs[i];
		hex_encode(e->sha256, SHA256_LEN, hex);
		feed_entry_version(e, ver, sizeof(ver));
		o = json_pack("{s:s, s:o, s:s, s:s, s:I, s:s, s:s}", "id",
		    e->id, "version", e->has_version ? json_string(ver) :
		    json_null(), "type", pkg_field_type_name(e->type),
		    "urgency", pkg_field_urgency_name(e->urgency), "size",
		    (json_int_t)e->size, "sha256", hex, "path", e->path);
		line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(o);
		if (line == NULL) {
			free(out);
			return (NULL);
		}
		cap = len + strlen(line) + 64;
		out = xreallocarray(out, cap, 1);
		len += (size_t)snprintf(out + len, cap - len, "%s\n  %s",
		    i == 0 ? "" : ",", line);
		free(line);
	}
	cap = len + 8;
	out = xreallocarray(out, cap, 1);
	snprintf(out + len, cap - len, "%s]}\n", idx->npkgs > 0 ? "\n" : "");
	return (out);
}

const struct feed_entry *
feed_index_find(const struct feed_index *idx, const char *id)
{
	size_t	i;

	for (i = 0; i < idx->npkgs; i++)
		if (strcmp(idx->pkgs[i].id, id) == 0)
			return (&idx->pkgs[i]);
	return (NULL);
}

/* Add an entry, or replace the one with its id (a feed has one per id). */
void
feed_index_put(struct feed_index *idx, const struct feed_entry *e)
{
	size_t	i;

	for (i = 0; i < idx->npkgs; i++)
		if (strcmp(idx->pkgs[i].id, e->id) == 0) {
			idx->pkgs[i] = *e;
			return;
		}
	idx->pkgs = xreallocarray(idx->pkgs, idx->npkgs + 1,
	    sizeof(*idx->pkgs));
	idx->pkgs[idx->npkgs++] = *e;
}

/*
 * What a puller decides about an index whose signature held: now is the
 * wall clock; with have_last, last_serial and last_sha are the serial and
 * SHA-256 of the last index it accepted, and sha that of this one.
 */
enum feed_verdict
feed_index_check(const struct feed_index *idx, int64_t now, int have_last,
    uint64_t last_serial, const uint8_t *last_sha,
    const uint8_t sha[SHA256_LEN], char *err, size_t errlen)
{
	char	when[32];

	if (now >= idx->expires) {
		feed_time_format(idx->expires, when, sizeof(when));
		snprintf(err, errlen, "index serial %" PRIu64 " expired at %s "
		    "(a frozen or stale feed; the publisher must publish "
		    "again)", idx->serial, when);
		return (FEED_EXPIRED);
	}
	if (have_last && idx->serial < last_serial) {
		snprintf(err, errlen, "index serial %" PRIu64 " is below %"
		    PRIu64 ", the last one accepted (rollback)", idx->serial,
		    last_serial);
		return (FEED_ROLLBACK);
	}
	if (have_last && idx->serial == last_serial && last_sha != NULL &&
	    memcmp(last_sha, sha, SHA256_LEN) != 0) {
		snprintf(err, errlen, "index serial %" PRIu64 " was accepted "
		    "before with other content; a changed index needs a "
		    "higher serial", idx->serial);
		return (FEED_REUSED);
	}
	return (FEED_OK);
}

static void
feed_sig_message(const void *data, size_t len, uint8_t **msg, size_t *mlen)
{
	*mlen = sizeof(FEED_SIG_DOMAIN) + len;
	*msg = xmalloc(*mlen);
	memcpy(*msg, FEED_SIG_DOMAIN, sizeof(FEED_SIG_DOMAIN));
	memcpy(*msg + sizeof(FEED_SIG_DOMAIN), data, len);
}

int
feed_sig_make(const uint8_t priv[ED25519_PRIV_LEN], const void *data,
    size_t len, char *out)
{
	uint8_t		 pub[ED25519_PUB_LEN], kid[KEYID_LEN];
	uint8_t		 sig[ED25519_SIG_LEN], *msg;
	char		 khex[KEYID_LEN * 2 + 1], shex[ED25519_SIG_LEN * 2 + 1];
	size_t		 mlen;
	int		 rv;

	if (ed25519_public(priv, pub) == -1)
		return (-1);
	ed25519_keyid(pub, kid);
	feed_sig_message(data, len, &msg, &mlen);
	rv = ed25519_sign(priv, msg, mlen, sig);
	free(msg);
	if (rv == -1)
		return (-1);
	hex_encode(kid, KEYID_LEN, khex);
	hex_encode(sig, ED25519_SIG_LEN, shex);
	snprintf(out, FEED_SIG_TEXT_LEN + 1, "ed25519 %s %s\n", khex, shex);
	return (0);
}

int
feed_sig_verify(const void *data, size_t len, const void *sigtext,
    size_t siglen, const uint8_t (*keys)[ED25519_PUB_LEN], size_t nkeys,
    char *err, size_t errlen)
{
	const char	*t = sigtext;
	uint8_t		 kid[KEYID_LEN], want[KEYID_LEN];
	uint8_t		 sig[ED25519_SIG_LEN], *msg;
	char		 khex[KEYID_LEN * 2 + 1], shex[ED25519_SIG_LEN * 2 + 1];
	size_t		 i, mlen;
	int		 rv = -1;

	/* Exactly one line, with or without its newline. */
	if (siglen == FEED_SIG_TEXT_LEN && t[siglen - 1] == '\n')
		siglen--;
	if (siglen != FEED_SIG_TEXT_LEN - 1 || memcmp(t, "ed25519 ", 8) != 0 ||
	    t[8 + KEYID_LEN * 2] != ' ') {
		snprintf(err, errlen, "signature: %s is not one line "
		    "'ed25519 KEYID SIGNATURE'", FEED_SIG_NAME);
		return (-1);
	}
	memcpy(khex, t + 8, KEYID_LEN * 2);
	khex[KEYID_LEN * 2] = '\0';
	memcpy(shex, t + 9 + KEYID_LEN * 2, ED25519_SIG_LEN * 2);
	shex[ED25519_SIG_LEN * 2] = '\0';
	if (hex_decode(khex, want, KEYID_LEN) == -1 ||
	    hex_decode(shex, sig, ED25519_SIG_LEN) == -1) {
		snprintf(err, errlen, "signature: %s: bad hex", FEED_SIG_NAME);
		return (-1);
	}
	feed_sig_message(data, len, &msg, &mlen);
	for (i = 0; i < nkeys; i++) {
		ed25519_keyid(keys[i], kid);
		if (memcmp(kid, want, KEYID_LEN) != 0)
			continue;
		if (ed25519_verify(keys[i], msg, mlen, sig) == 0)
			rv = 0;
		else
			snprintf(err, errlen, "signature: the index does not "
			    "match its signature by key %s (altered after "
			    "signing?)", khex);
		break;
	}
	if (i == nkeys)
		snprintf(err, errlen, "signature: the index is signed by key "
		    "%s, which is not among the %zu trusted feed keys", khex,
		    nkeys);
	free(msg);
	return (rv);
}
