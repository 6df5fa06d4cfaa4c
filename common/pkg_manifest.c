/*
 * The package manifest: the rules on a whole manifest (the fields one by
 * one through pkg_field.c, and those that tie fields together), the
 * canonical binary encoding that is signed, its strict decoder, signature
 * checking and the JSON form shown by `package inspect --json` and the
 * API.  The same checks run when a package is built and when one is
 * decoded, so a manifest that a modified builder wrote outside the rules
 * is refused by every reader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "crypto.h"
#include "pkg.h"
#include "wire.h"
#include "xmalloc.h"

/* Field names: the CLI option when building, the manifest field else. */
enum pkg_manifest_field {
	F_ID,
	F_TYPE,
	F_URGENCY,
	F_FLAGS,
	F_VERSION,
	F_DATE,
	F_COMPANY,
	F_SUMMARY,
	F_KB,
	F_EXEC,
	F_ARGS,
	F_OS,
	F_LANG,
	F_BASESP,
	F_SUPERSEDES,
	F_REQUIRES,
	F_COMPRESSION,
};

static const char *pkg_manifest_field_names[][2] = {
	[F_ID] = { "id", "--id" },
	[F_TYPE] = { "type", "--type" },
	[F_URGENCY] = { "urgency", "--urgency" },
	[F_FLAGS] = { "flags", "flags" },
	[F_VERSION] = { "major/minor", "--major/--minor" },
	[F_DATE] = { "release_date", "--release-date" },
	[F_COMPANY] = { "company", "--company" },
	[F_SUMMARY] = { "summary", "--summary" },
	[F_KB] = { "kb", "--kb" },
	[F_EXEC] = { "exec", "--exec" },
	[F_ARGS] = { "args", "--args" },
	[F_OS] = { "os", "--os" },
	[F_LANG] = { "lang", "--lang" },
	[F_BASESP] = { "base_sp", "--base-sp" },
	[F_SUPERSEDES] = { "supersedes", "--supersedes" },
	[F_REQUIRES] = { "requires", "--requires" },
	[F_COMPRESSION] = { "compression", "--compression" },
};

static const char *
fname(int cli, enum pkg_manifest_field f)
{
	return (pkg_manifest_field_names[f][cli ? 1 : 0]);
}


void
pkg_manifest_init(struct pkg_manifest *m)
{
	memset(m, 0, sizeof(*m));
	m->urgency = PKG_URGENCY_NORMAL;
	m->compression = PKG_COMPRESS_ZSTD;
}

void
pkg_manifest_free(struct pkg_manifest *m)
{
	size_t	i;

	free(m->exec);
	pkg_field_list_free(&m->args);
	pkg_field_list_free(&m->os);
	pkg_field_list_free(&m->lang);
	pkg_field_list_free(&m->supersedes);
	for (i = 0; i < m->nrequires; i++)
		pkg_cond_free(&m->requires[i]);
	free(m->requires);
	pkg_manifest_init(m);
}

/* Check each entry of a list (names are either os/lang names or ids). */
static int
pkg_manifest_check_list(const char *name, const struct pkg_list *l,
    size_t max, int ids, const char *self, char *err, size_t errlen)
{
	char	ename[64];
	size_t	i, j;

	if (l->n > max) {
		snprintf(err, errlen, "%s: %zu values, limit %zu", name, l->n,
		    max);
		return (-1);
	}
	for (i = 0; i < l->n; i++) {
		snprintf(ename, sizeof(ename), "%s[%zu]", name, i + 1);
		if (ids) {
			if (pkg_field_check_id(ename, l->v[i], err,
			    errlen) == -1)
				return (-1);
			if (self != NULL && strcmp(l->v[i], self) == 0) {
				snprintf(err, errlen, "%s: '%s' is the "
				    "package's own id", name, self);
				return (-1);
			}
		} else {
			if (*l->v[i] == '\0') {
				snprintf(err, errlen, "%s: empty value", ename);
				return (-1);
			}
			if (pkg_field_check_text(ename, l->v[i], PKG_NAME_MAX,
			    0, err, errlen) == -1)
				return (-1);
		}
		for (j = 0; j < i; j++) {
			if (strcmp(l->v[i], l->v[j]) == 0) {
				snprintf(err, errlen, "%s: '%s' given twice; "
				    "each value may appear once", name, l->v[i]);
				return (-1);
			}
		}
	}
	return (0);
}

/*
 * Every rule of MISSION.md P1-P10 on a filled manifest, including those
 * that tie fields together.  cli selects option names for the messages.
 */
int
pkg_manifest_check(const struct pkg_manifest *m, int cli, char *err,
    size_t errlen)
{
	char	ename[64];
	size_t	i;

	if (pkg_field_check_id(fname(cli, F_ID), m->id, err, errlen) == -1)
		return (-1);
	if (m->type < PKG_SERVICEPACK || m->type > PKG_APPLICATION) {
		snprintf(err, errlen, "%s: unknown type %d", fname(cli, F_TYPE),
		    (int)m->type);
		return (-1);
	}
	if (m->urgency < PKG_URGENCY_HIGHEST || m->urgency > PKG_URGENCY_LOW) {
		snprintf(err, errlen, "%s: unknown urgency %d",
		    fname(cli, F_URGENCY), (int)m->urgency);
		return (-1);
	}
	if (m->flags & ~PKG_F_ALL) {
		snprintf(err, errlen, "%s: unknown bits 0x%02x set",
		    fname(cli, F_FLAGS), m->flags & ~PKG_F_ALL);
		return (-1);
	}
	if (m->type == PKG_SERVICEPACK && !m->has_version) {
		snprintf(err, errlen, "%s: required for service packs (SP2 is "
		    "major 2, minor 0)", fname(cli, F_VERSION));
		return (-1);
	}
	if (!m->has_version && (m->major != 0 || m->minor != 0)) {
		snprintf(err, errlen, "%s: a version without its presence flag",
		    fname(cli, F_VERSION));
		return (-1);
	}
	if (m->year == 0 ? (m->month != 0 || m->day != 0) :
	    !pkg_field_date_valid(m->year, m->month, m->day)) {
		snprintf(err, errlen, "%s: %04u/%02u/%02u is not a real date "
		    "(YYYY/MM/DD)", fname(cli, F_DATE), m->year, m->month,
		    m->day);
		return (-1);
	}
	if (pkg_field_check_text(fname(cli, F_COMPANY), m->company,
	    PKG_COMPANY_MAX, 0, err, errlen) == -1 ||
	    pkg_field_check_text(fname(cli, F_SUMMARY), m->summary,
	    PKG_SUMMARY_MAX, 1, err, errlen) == -1 ||
	    pkg_field_check_text(fname(cli, F_KB), m->kb, PKG_KB_MAX, 0, err,
	    errlen) == -1)
		return (-1);
	if (m->type == PKG_SERVICEPACK && m->kb[0] != '\0') {
		snprintf(err, errlen, "%s: not used for service packs; a KB "
		    "number belongs to a hotfix or an application",
		    fname(cli, F_KB));
		return (-1);
	}
	if (m->exec == NULL) {
		snprintf(err, errlen, "%s: required (the program to run, "
		    "relative to the package folder)", fname(cli, F_EXEC));
		return (-1);
	}
	if (pkg_field_check_relpath(fname(cli, F_EXEC), m->exec, err,
	    errlen) == -1)
		return (-1);
	if (m->args.n > PKG_ARGS_MAX) {
		snprintf(err, errlen, "%s: %zu values, limit %d",
		    fname(cli, F_ARGS), m->args.n, PKG_ARGS_MAX);
		return (-1);
	}
	for (i = 0; i < m->args.n; i++) {
		snprintf(ename, sizeof(ename), "%s[%zu]", fname(cli, F_ARGS),
		    i + 1);
		if (pkg_field_check_text(ename, m->args.v[i], PKG_ARG_MAX, 0,
		    err, errlen) == -1)
			return (-1);
	}
	if (pkg_manifest_check_list(fname(cli, F_OS), &m->os, PKG_LIST_MAX, 0,
	    NULL, err, errlen) == -1 ||
	    pkg_manifest_check_list(fname(cli, F_LANG), &m->lang, PKG_LIST_MAX,
	    0, NULL, err, errlen) == -1 ||
	    pkg_manifest_check_list(fname(cli, F_SUPERSEDES), &m->supersedes,
	    PKG_LIST_MAX, 1, m->id, err, errlen) == -1)
		return (-1);
	if (m->base_sp[0] != '\0') {
		if (pkg_field_check_id(fname(cli, F_BASESP), m->base_sp, err,
		    errlen) == -1)
			return (-1);
		if (strcmp(m->base_sp, m->id) == 0) {
			snprintf(err, errlen, "%s: '%s' is the package's own id",
			    fname(cli, F_BASESP), m->id);
			return (-1);
		}
	}
	if (m->nrequires > PKG_LIST_MAX) {
		snprintf(err, errlen, "%s: %zu conditions, limit %d",
		    fname(cli, F_REQUIRES), m->nrequires, PKG_LIST_MAX);
		return (-1);
	}
	for (i = 0; i < m->nrequires; i++) {
		snprintf(ename, sizeof(ename), "%s[%zu]", fname(cli, F_REQUIRES),
		    i + 1);
		/* Re-parsing the canonical text applies the parser's rules. */
		if (pkg_cond_check(ename, &m->requires[i], err, errlen) == -1)
			return (-1);
	}
	if (m->compression != PKG_COMPRESS_NONE &&
	    m->compression != PKG_COMPRESS_ZSTD) {
		snprintf(err, errlen, "%s: unknown compression %d",
		    fname(cli, F_COMPRESSION), (int)m->compression);
		return (-1);
	}
	/* Sizes must fit off_t and JSON integers. */
	if (m->payload_size > INT64_MAX || m->unpacked_size > INT64_MAX ||
	    m->entries > INT64_MAX || m->built_at > INT64_MAX) {
		snprintf(err, errlen, "payload: a size beyond 2^63-1");
		return (-1);
	}
	return (0);
}

static void
put_str8(struct wire_w *w, const char *s)
{
	size_t	len = strlen(s);

	wire_put_u8(w, (uint8_t)len);
	wire_put_bytes(w, s, len);
}

static void
put_str16(struct wire_w *w, const char *s)
{
	size_t	len = strlen(s);

	wire_put_u16(w, (uint16_t)len);
	wire_put_bytes(w, s, len);
}

/*
 * The canonical encoding: fixed field order, big-endian integers, strings
 * as length + bytes.  The manifest must have passed pkg_manifest_check, so
 * every length fits its prefix.  The writer must be a growing one.
 */
void
pkg_manifest_encode(const struct pkg_manifest *m, struct wire_w *w)
{
	size_t	i;

	wire_put_u16(w, PKG_MANIFEST_VERSION);
	put_str8(w, m->id);
	wire_put_u8(w, (uint8_t)m->type);
	wire_put_u8(w, (uint8_t)m->urgency);
	wire_put_u8(w, m->flags);
	wire_put_u8(w, m->has_version ? 1 : 0);
	wire_put_u16(w, m->major);
	wire_put_u16(w, m->minor);
	wire_put_u16(w, m->year);
	wire_put_u8(w, m->month);
	wire_put_u8(w, m->day);
	put_str8(w, m->company);
	put_str16(w, m->summary);
	put_str8(w, m->kb);
	put_str16(w, m->exec);
	wire_put_u16(w, (uint16_t)m->args.n);
	for (i = 0; i < m->args.n; i++)
		put_str16(w, m->args.v[i]);
	wire_put_u8(w, (uint8_t)m->os.n);
	for (i = 0; i < m->os.n; i++)
		put_str8(w, m->os.v[i]);
	wire_put_u8(w, (uint8_t)m->lang.n);
	for (i = 0; i < m->lang.n; i++)
		put_str8(w, m->lang.v[i]);
	put_str8(w, m->base_sp);
	wire_put_u8(w, (uint8_t)m->supersedes.n);
	for (i = 0; i < m->supersedes.n; i++)
		put_str8(w, m->supersedes.v[i]);
	wire_put_u8(w, (uint8_t)m->nrequires);
	for (i = 0; i < m->nrequires; i++)
		pkg_cond_encode(&m->requires[i], w);
	wire_put_u8(w, (uint8_t)m->compression);
	wire_put_u64(w, m->payload_size);
	wire_put_bytes(w, m->payload_sha256, SHA256_LEN);
	wire_put_u64(w, m->unpacked_size);
	wire_put_u64(w, m->entries);
	wire_put_u64(w, m->built_at);
	wire_put_bytes(w, m->key_id, KEYID_LEN);
}

/* Decoder helpers: each fails naming the field it was reading. */
static int
get_str(struct wire_r *r, int wide, const char *field, char *out,
    size_t outlen, char **dup, char *err, size_t errlen)
{
	const uint8_t	*p;
	uint16_t	 len16;
	uint8_t		 len8;
	size_t		 len;

	if (wide) {
		if (wire_get_u16(r, &len16) == -1)
			goto short_input;
		len = len16;
	} else {
		if (wire_get_u8(r, &len8) == -1)
			goto short_input;
		len = len8;
	}
	if (wire_get_ptr(r, &p, len) == -1)
		goto short_input;
	if (dup == NULL && len >= outlen) {
		snprintf(err, errlen, "manifest: %s: %zu bytes, limit %zu",
		    field, len, outlen - 1);
		return (-1);
	}
	if (memchr(p, '\0', len) != NULL) {
		snprintf(err, errlen, "manifest: %s: holds a NUL byte", field);
		return (-1);
	}
	if (dup != NULL)
		*dup = xstrndup((const char *)p, len);
	else {
		memcpy(out, p, len);
		out[len] = '\0';
	}
	return (0);

short_input:
	snprintf(err, errlen, "manifest: truncated in %s", field);
	return (-1);
}

static int
get_list(struct wire_r *r, int wide_count, int wide, const char *field,
    struct pkg_list *l, char *err, size_t errlen)
{
	uint16_t	n16;
	uint8_t		n8;
	size_t		n, i;

	if (wide_count) {
		if (wire_get_u16(r, &n16) == -1)
			goto short_input;
		n = n16;
	} else {
		if (wire_get_u8(r, &n8) == -1)
			goto short_input;
		n = n8;
	}
	/* Bound the allocation before trusting the count. */
	if (n > (wide_count ? PKG_ARGS_MAX : PKG_LIST_MAX)) {
		snprintf(err, errlen, "manifest: %s: %zu values, limit %d",
		    field, n, wide_count ? PKG_ARGS_MAX : PKG_LIST_MAX);
		return (-1);
	}
	l->v = xcalloc(n == 0 ? 1 : n, sizeof(*l->v));
	for (i = 0; i < n; i++) {
		if (get_str(r, wide, field, NULL, 0, &l->v[i], err,
		    errlen) == -1)
			return (-1);
		l->n++;
	}
	return (0);

short_input:
	snprintf(err, errlen, "manifest: truncated in %s", field);
	return (-1);
}

/*
 * Strict decoding: every byte must be accounted for, every value must pass
 * the same checks as at build time, and unknown enum values or flag bits
 * are refused, so that one manifest has exactly one encoding.
 */
int
pkg_manifest_decode(struct pkg_manifest *m, const void *buf, size_t len,
    char *err, size_t errlen)
{
	struct wire_r	 r;
	uint16_t	 version;
	uint8_t		 type, urgency, hasver, comp, n;
	size_t		 i;
	char		 sub[512];

	pkg_manifest_init(m);
	wire_r_init(&r, buf, len);
	if (wire_get_u16(&r, &version) == -1)
		goto short_input;
	if (version != PKG_MANIFEST_VERSION) {
		snprintf(err, errlen, "manifest: version %u is not supported "
		    "(this build reads version %d)", version,
		    PKG_MANIFEST_VERSION);
		return (-1);
	}
	if (get_str(&r, 0, "id", m->id, sizeof(m->id), NULL, err,
	    errlen) == -1)
		goto bad;
	if (wire_get_u8(&r, &type) == -1 || wire_get_u8(&r, &urgency) == -1 ||
	    wire_get_u8(&r, &m->flags) == -1 || wire_get_u8(&r, &hasver) == -1 ||
	    wire_get_u16(&r, &m->major) == -1 ||
	    wire_get_u16(&r, &m->minor) == -1 ||
	    wire_get_u16(&r, &m->year) == -1 ||
	    wire_get_u8(&r, &m->month) == -1 || wire_get_u8(&r, &m->day) == -1)
		goto short_input;
	m->type = type;
	m->urgency = urgency;
	if (hasver > 1) {
		snprintf(err, errlen, "manifest: version flag %u is not 0 or 1",
		    hasver);
		goto bad;
	}
	m->has_version = hasver;
	if (get_str(&r, 0, "company", m->company, sizeof(m->company), NULL,
	    err, errlen) == -1 ||
	    get_str(&r, 1, "summary", m->summary, sizeof(m->summary), NULL,
	    err, errlen) == -1 ||
	    get_str(&r, 0, "kb", m->kb, sizeof(m->kb), NULL, err,
	    errlen) == -1 ||
	    get_str(&r, 1, "exec", NULL, 0, &m->exec, err, errlen) == -1 ||
	    get_list(&r, 1, 1, "args", &m->args, err, errlen) == -1 ||
	    get_list(&r, 0, 0, "os", &m->os, err, errlen) == -1 ||
	    get_list(&r, 0, 0, "lang", &m->lang, err, errlen) == -1 ||
	    get_str(&r, 0, "base_sp", m->base_sp, sizeof(m->base_sp), NULL,
	    err, errlen) == -1 ||
	    get_list(&r, 0, 0, "supersedes", &m->supersedes, err,
	    errlen) == -1)
		goto bad;
	if (wire_get_u8(&r, &n) == -1)
		goto short_input;
	if (n > PKG_LIST_MAX) {
		snprintf(err, errlen, "manifest: requires: %u conditions, "
		    "limit %d", n, PKG_LIST_MAX);
		goto bad;
	}
	m->requires = xcalloc(n == 0 ? 1 : n, sizeof(*m->requires));
	for (i = 0; i < n; i++) {
		if (pkg_cond_decode(&r, &m->requires[i], err, errlen) == -1)
			goto bad;
		m->nrequires++;
	}
	if (wire_get_u8(&r, &comp) == -1)
		goto short_input;
	m->compression = comp;
	if (wire_get_u64(&r, &m->payload_size) == -1 ||
	    wire_get_bytes(&r, m->payload_sha256, SHA256_LEN) == -1 ||
	    wire_get_u64(&r, &m->unpacked_size) == -1 ||
	    wire_get_u64(&r, &m->entries) == -1 ||
	    wire_get_u64(&r, &m->built_at) == -1 ||
	    wire_get_bytes(&r, m->key_id, KEYID_LEN) == -1)
		goto short_input;
	if (wire_r_left(&r) != 0) {
		snprintf(err, errlen, "manifest: %zu bytes after the last "
		    "field", wire_r_left(&r));
		goto bad;
	}
	if (pkg_manifest_check(m, 0, sub, sizeof(sub)) == -1) {
		snprintf(err, errlen, "manifest: %s", sub);
		goto bad;
	}
	return (0);

short_input:
	snprintf(err, errlen, "manifest: truncated at byte %zu of %zu", r.off,
	    len);
bad:
	pkg_manifest_free(m);
	return (-1);
}

/*
 * Check a manifest's signature, then decode it.  The signature covers the
 * domain string (with its NUL) followed by the manifest bytes, and is
 * checked over those raw bytes before any of them is decoded: a forged
 * manifest (from an agent's ASSIGN or an upload) never reaches the
 * decoder, only the Ed25519 check.  The key id the signer wrote is the
 * manifest's last field (KEYID_LEN bytes at the end, see
 * pkg_manifest_encode), so it picks the trusted key without decoding; the
 * decoder then reads the same bytes as the manifest's key_id.
 */
int
pkg_manifest_verify(struct pkg_manifest *m, const void *buf, size_t len,
    const uint8_t sig[ED25519_SIG_LEN], const uint8_t (*keys)[ED25519_PUB_LEN],
    size_t nkeys, char *err, size_t errlen)
{
	static const char	 domain[] = PKG_SIG_DOMAIN;
	uint8_t			 id[KEYID_LEN];
	const uint8_t		*kid;
	uint8_t			*msg;
	char			 hex[2 * KEYID_LEN + 1];
	size_t			 i;
	int			 rv;

	pkg_manifest_init(m);
	if (len < KEYID_LEN) {
		snprintf(err, errlen, "signature: the manifest is %zu bytes, "
		    "too short to name its signing key", len);
		return (-1);
	}
	kid = (const uint8_t *)buf + len - KEYID_LEN;
	hex_encode(kid, KEYID_LEN, hex);
	for (i = 0; i < nkeys; i++) {
		ed25519_keyid(keys[i], id);
		if (memcmp(id, kid, KEYID_LEN) == 0)
			break;
	}
	if (i == nkeys) {
		snprintf(err, errlen, "key: signed by key %s, which is not "
		    "among the %zu trusted key%s", hex, nkeys,
		    nkeys == 1 ? "" : "s");
		return (-1);
	}
	msg = xmalloc(sizeof(domain) + len);
	memcpy(msg, domain, sizeof(domain));
	memcpy(msg + sizeof(domain), buf, len);
	rv = ed25519_verify(keys[i], msg, sizeof(domain) + len, sig);
	free(msg);
	if (rv == -1) {
		snprintf(err, errlen, "signature: does not verify with key %s "
		    "(the manifest or the signature was altered)", hex);
		return (-1);
	}
	/* Signed by a trusted key: only now are the bytes decoded. */
	if (pkg_manifest_decode(m, buf, len, err, errlen) == -1)
		return (-1);
	return (0);
}

static json_t *
pkg_list_json(const struct pkg_list *l)
{
	json_t	*a;
	size_t	 i;

	a = json_array();
	for (i = 0; i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return (a);
}

static json_t *
pkg_str_or_null(const char *s)
{
	return (*s == '\0' ? json_null() : json_string(s));
}

/* The manifest as one JSON object; field names follow the manifest. */
struct json_t *
pkg_manifest_to_json(const struct pkg_manifest *m)
{
	json_t		*o, *req;
	char		 buf[2 * SHA256_LEN + 1], text[PKG_COND_TEXT_MAX + 1];
	struct tm	 tm;
	time_t		 t;
	size_t		 i;

	o = json_object();
	json_object_set_new(o, "format_version", json_integer(
	    PKG_MANIFEST_VERSION));
	json_object_set_new(o, "id", json_string(m->id));
	json_object_set_new(o, "type",
	    json_string(pkg_field_type_name(m->type)));
	json_object_set_new(o, "urgency", json_string(
	    pkg_field_urgency_name(m->urgency)));
	json_object_set_new(o, "company", pkg_str_or_null(m->company));
	if (m->year != 0) {
		pkg_field_format_date(m, text, sizeof(text));
		json_object_set_new(o, "release_date", json_string(text));
	} else
		json_object_set_new(o, "release_date", json_null());
	json_object_set_new(o, "summary", pkg_str_or_null(m->summary));
	json_object_set_new(o, "kb", pkg_str_or_null(m->kb));
	json_object_set_new(o, "major", m->has_version ?
	    json_integer(m->major) : json_null());
	json_object_set_new(o, "minor", m->has_version ?
	    json_integer(m->minor) : json_null());
	json_object_set_new(o, "exec", json_string(m->exec));
	json_object_set_new(o, "args", pkg_list_json(&m->args));
	json_object_set_new(o, "reboot_after_install",
	    json_boolean(m->flags & PKG_F_REBOOT));
	json_object_set_new(o, "exclusive",
	    json_boolean(m->flags & PKG_F_EXCLUSIVE));
	json_object_set_new(o, "idempotent",
	    json_boolean(m->flags & PKG_F_IDEMPOTENT));
	json_object_set_new(o, "os", pkg_list_json(&m->os));
	json_object_set_new(o, "lang", pkg_list_json(&m->lang));
	json_object_set_new(o, "base_sp", pkg_str_or_null(m->base_sp));
	json_object_set_new(o, "supersedes", pkg_list_json(&m->supersedes));
	req = json_array();
	for (i = 0; i < m->nrequires; i++) {
		pkg_cond_format(&m->requires[i], text, sizeof(text));
		json_array_append_new(req, json_string(text));
	}
	json_object_set_new(o, "requires", req);
	json_object_set_new(o, "compression", json_string(
	    pkg_field_compression_name(m->compression)));
	json_object_set_new(o, "payload_size", json_integer(
	    (json_int_t)m->payload_size));
	hex_encode(m->payload_sha256, SHA256_LEN, buf);
	json_object_set_new(o, "payload_sha256", json_string(buf));
	json_object_set_new(o, "unpacked_size", json_integer(
	    (json_int_t)m->unpacked_size));
	json_object_set_new(o, "entries", json_integer(
	    (json_int_t)m->entries));
	t = (time_t)m->built_at;
	if (m->built_at <= INT64_MAX && gmtime_r(&t, &tm) != NULL &&
	    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
		json_object_set_new(o, "built_at", json_string(text));
	else
		json_object_set_new(o, "built_at", json_null());
	hex_encode(m->key_id, KEYID_LEN, buf);
	json_object_set_new(o, "key_id", json_string(buf));
	return (o);
}
