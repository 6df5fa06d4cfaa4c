/*
 * Tests for the package manifest: every field rule from the builder's side
 * (the limit passes, one past fails, with the message naming the field)
 * and from the decoder's side (a manifest encoded outside the rules is
 * refused), the canonical encoding's round trip and strictness, signature
 * checks, the JSON form, conditions and dpkg-style version comparison.
 */
#include <string.h>

#include <jansson.h>

#include "crypto.h"
#include "pkg.h"
#include "unit.h"
#include "wire.h"
#include "xmalloc.h"

static char	err[1024];

/* A string of n copies of c (static buffer, n < 8192). */
static const char *
rep(char c, size_t n)
{
	static char	buf[8192];

	memset(buf, c, n);
	buf[n] = '\0';
	return (buf);
}

static void
valid_manifest(struct pkg_manifest *m)
{
	pkg_manifest_init(m);
	strcpy(m->id, "SP2");
	m->type = PKG_SERVICEPACK;
	m->has_version = 1;
	m->major = 2;
	m->exec = xstrdup("setup.sh");
}

/* A manifest using every field, for round trips. */
static void
full_manifest(struct pkg_manifest *m)
{
	struct pkg_cond	c;

	pkg_manifest_init(m);
	strcpy(m->id, "HF-1234_b");
	m->type = PKG_HOTFIX;
	m->urgency = PKG_URGENCY_HIGH;
	m->flags = PKG_F_REBOOT | PKG_F_EXCLUSIVE | PKG_F_IDEMPOTENT;
	m->has_version = 1;
	m->major = 65535;
	m->minor = 7;
	CU_ASSERT_FATAL(pkg_field_parse_date("d", "2024/02/29", m, err,
	    sizeof(err)) == 0);
	strcpy(m->company, "Ex\xc3\xa4mple GmbH");
	strcpy(m->summary, "line one\n\tline two");
	strcpy(m->kb, "KB5001234");
	m->exec = xstrdup("bin/install.sh");
	CU_ASSERT(pkg_field_list_add("a", &m->args, "--quiet", PKG_ARGS_MAX,
	    err, sizeof(err)) == 0);
	CU_ASSERT(pkg_field_list_add("a", &m->args, "", PKG_ARGS_MAX, err,
	    sizeof(err)) == 0);
	CU_ASSERT(pkg_field_list_add("a", &m->args, "two words", PKG_ARGS_MAX,
	    err, sizeof(err)) == 0);
	CU_ASSERT(pkg_field_list_add("o", &m->os, "debian-12", PKG_LIST_MAX,
	    err, sizeof(err)) == 0);
	CU_ASSERT(pkg_field_list_add("o", &m->os, "Ubuntu 24.04", PKG_LIST_MAX,
	    err, sizeof(err)) == 0);
	CU_ASSERT(pkg_field_list_add("l", &m->lang, "en_US", PKG_LIST_MAX, err,
	    sizeof(err)) == 0);
	strcpy(m->base_sp, "SP2");
	CU_ASSERT(pkg_field_list_add("s", &m->supersedes, "HF-1", PKG_LIST_MAX,
	    err, sizeof(err)) == 0);
	m->requires = xcalloc(3, sizeof(*m->requires));
	CU_ASSERT_FATAL(pkg_cond_parse("r", "os.version >= 12.1~rc1", &c, err,
	    sizeof(err)) == 0);
	m->requires[m->nrequires++] = c;
	CU_ASSERT_FATAL(pkg_cond_parse("r", "sp exists", &c, err,
	    sizeof(err)) == 0);
	m->requires[m->nrequires++] = c;
	CU_ASSERT_FATAL(pkg_cond_parse("r", "codename == bookworm beta", &c,
	    err, sizeof(err)) == 0);
	m->requires[m->nrequires++] = c;
	m->compression = PKG_COMPRESS_NONE;
	m->payload_size = 0x123456789ULL;
	memset(m->payload_sha256, 0xab, SHA256_LEN);
	m->unpacked_size = 5ULL << 32;
	m->entries = 3;
	m->built_at = 1700000000;
	memset(m->key_id, 0x5c, KEYID_LEN);
}

static void
test_id(void)
{
	const char	*ok[] = { "a", "SP2", "A-Z_a-z_0-9", "-", "_" };
	const char	*bad[] = { "", "a b", "a.b", "a/b", "\xc3\xa4", "a\n",
	    "a:b" };
	char		 name[80];
	size_t		 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		CU_ASSERT(pkg_field_check_id("--id", ok[i], err,
		    sizeof(err)) == 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT(pkg_field_check_id("--id", bad[i], err,
		    sizeof(err)) == -1);
		CU_ASSERT(strncmp(err, "--id: ", 6) == 0);
	}
	CU_ASSERT(pkg_field_check_id("--id", rep('a', 63), err,
	    sizeof(err)) == 0);
	strcpy(name, rep('a', 64));
	CU_ASSERT(pkg_field_check_id("--id", name, err, sizeof(err)) == -1);
	CU_ASSERT_STRING_EQUAL(err, "--id: 64 bytes, limit 63");
	CU_ASSERT(pkg_field_check_id("--id", "a b", err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "a space at byte 2") != NULL);
	CU_ASSERT(strstr(err, "A-Z a-z 0-9 - _") != NULL);
}

static void
test_text(void)
{
	char	buf[300];

	CU_ASSERT(pkg_field_check_text("--company", rep('c', 127), 127, 0, err,
	    sizeof(err)) == 0);
	CU_ASSERT(pkg_field_check_text("--company", rep('c', 128), 127, 0, err,
	    sizeof(err)) == -1);
	CU_ASSERT_STRING_EQUAL(err, "--company: 128 bytes, limit 127");
	CU_ASSERT(pkg_field_check_text("--summary", rep('s', 511), 511, 1, err,
	    sizeof(err)) == 0);
	CU_ASSERT(pkg_field_check_text("--summary", rep('s', 512), 511, 1, err,
	    sizeof(err)) == -1);
	CU_ASSERT_STRING_EQUAL(err, "--summary: 512 bytes, limit 511");
	CU_ASSERT(pkg_field_check_text("--kb", rep('k', 31), 31, 0, err,
	    sizeof(err)) == 0);
	CU_ASSERT(pkg_field_check_text("--kb", rep('k', 32), 31, 0, err,
	    sizeof(err)) == -1);
	CU_ASSERT_STRING_EQUAL(err, "--kb: 32 bytes, limit 31");

	/* Limits count bytes: 63 two-byte characters and one more byte. */
	buf[0] = '\0';
	while (strlen(buf) < 126)
		strcat(buf, "\xc3\xa4");
	strcat(buf, "x");
	CU_ASSERT(strlen(buf) == 127);
	CU_ASSERT(pkg_field_check_text("c", buf, 127, 0, err,
	    sizeof(err)) == 0);
	strcat(buf, "y");
	CU_ASSERT(pkg_field_check_text("c", buf, 127, 0, err,
	    sizeof(err)) == -1);

	/* UTF-8 and control characters. */
	CU_ASSERT(pkg_field_check_text("c", "\xe2\x82\xac \xf0\x9f\x98\x80",
	    127, 0, err, sizeof(err)) == 0);
	CU_ASSERT(pkg_field_check_text("c", "\xc3", 127, 0, err,
	    sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "UTF-8") != NULL);
	CU_ASSERT(pkg_field_check_text("c", "\xc0\xaf", 127, 0, err,
	    sizeof(err)) == -1);	/* overlong '/' */
	CU_ASSERT(pkg_field_check_text("c", "\xed\xa0\x80", 127, 0, err,
	    sizeof(err)) == -1);	/* surrogate */
	CU_ASSERT(pkg_field_check_text("c", "\xf4\x90\x80\x80", 127, 0, err,
	    sizeof(err)) == -1);	/* past U+10FFFF */
	CU_ASSERT(pkg_field_check_text("c", "\xff", 127, 0, err,
	    sizeof(err)) == -1);
	CU_ASSERT(pkg_field_check_text("c", "a\nb", 127, 0, err,
	    sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "control character 0x0a") != NULL);
	CU_ASSERT(pkg_field_check_text("c", "a\nb\tc", 511, 1, err,
	    sizeof(err)) == 0);
	CU_ASSERT(pkg_field_check_text("c", "a\rb", 511, 1, err,
	    sizeof(err)) == -1);
	CU_ASSERT(pkg_field_check_text("c", "a\x7f", 511, 1, err,
	    sizeof(err)) == -1);
	CU_ASSERT(pkg_field_check_text("c", "\x1b[31m", 511, 1, err,
	    sizeof(err)) == -1);
}

static void
test_date(void)
{
	struct pkg_manifest	m;
	const char		*ok[] = { "2024/02/29", "2000/02/29",
	    "2023/12/31", "0001/01/01", "9999/12/31", "2023/01/31",
	    "2023/04/30", "2023/02/28" };
	const char		*unreal[] = { "2023/02/29", "1900/02/29",
	    "2100/02/29", "2023/02/30", "2023/04/31", "2023/13/01",
	    "2023/00/10", "2023/01/00", "2023/01/32", "0000/01/01" };
	const char		*malformed[] = { "", "2023-01-01", "23/01/01",
	    "2023/1/01", "2023/01/1", "2023/01/01x", " 2023/01/01",
	    "20230/1/01", "2023/0a/01", "２０２３/01/01" };
	size_t			 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		pkg_manifest_init(&m);
		CU_ASSERT(pkg_field_parse_date("--release-date", ok[i], &m, err,
		    sizeof(err)) == 0);
	}
	CU_ASSERT(m.year == 2023 && m.month == 2 && m.day == 28);
	for (i = 0; i < sizeof(unreal) / sizeof(unreal[0]); i++) {
		pkg_manifest_init(&m);
		CU_ASSERT(pkg_field_parse_date("--release-date", unreal[i], &m,
		    err, sizeof(err)) == -1);
		CU_ASSERT(strstr(err, "is not a real date (YYYY/MM/DD)") !=
		    NULL);
		CU_ASSERT(m.year == 0);
	}
	CU_ASSERT(pkg_field_parse_date("--release-date", "2023/02/30", &m, err,
	    sizeof(err)) == -1);
	CU_ASSERT_STRING_EQUAL(err,
	    "--release-date: 2023/02/30 is not a real date (YYYY/MM/DD)");
	for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		CU_ASSERT(pkg_field_parse_date("--release-date", malformed[i],
		    &m, err, sizeof(err)) == -1);
		CU_ASSERT(strstr(err, "is not YYYY/MM/DD") != NULL);
	}
	m.year = 2023;
	m.month = 7;
	m.day = 4;
	pkg_field_format_date(&m, err, sizeof(err));
	CU_ASSERT_STRING_EQUAL(err, "2023/07/04");
}

static void
test_enums_numbers(void)
{
	const char		*bad[] = { "", "-1", "+1", "1x", " 1", "100000",
	    "99999999999999999999" };
	enum pkg_type		 t;
	enum pkg_urgency	 u;
	uint16_t		 v;
	size_t			 i;

	CU_ASSERT(pkg_field_parse_type("--type", "servicepack", &t, err,
	    sizeof(err)) == 0 && t == PKG_SERVICEPACK);
	CU_ASSERT(pkg_field_parse_type("--type", "hotfix", &t, err,
	    sizeof(err)) == 0 && t == PKG_HOTFIX);
	CU_ASSERT(pkg_field_parse_type("--type", "application", &t, err,
	    sizeof(err)) == 0 && t == PKG_APPLICATION);
	CU_ASSERT(pkg_field_parse_type("--type", "ServicePack", &t, err,
	    sizeof(err)) == -1);
	CU_ASSERT_STRING_EQUAL(err, "--type: 'ServicePack' is not one of "
	    "servicepack, hotfix, application");
	CU_ASSERT(pkg_field_parse_type("--type", "", &t, err,
	    sizeof(err)) == -1);
	CU_ASSERT(pkg_field_parse_urgency("--urgency", "highest", &u, err,
	    sizeof(err)) == 0 && u == PKG_URGENCY_HIGHEST);
	CU_ASSERT(pkg_field_parse_urgency("--urgency", "high", &u, err,
	    sizeof(err)) == 0 && u == PKG_URGENCY_HIGH);
	CU_ASSERT(pkg_field_parse_urgency("--urgency", "normal", &u, err,
	    sizeof(err)) == 0 && u == PKG_URGENCY_NORMAL);
	CU_ASSERT(pkg_field_parse_urgency("--urgency", "low", &u, err,
	    sizeof(err)) == 0 && u == PKG_URGENCY_LOW);
	CU_ASSERT(pkg_field_parse_urgency("--urgency", "urgent", &u, err,
	    sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "highest, high, normal, low") != NULL);

	CU_ASSERT(pkg_field_parse_u16("--major", "0", &v, err,
	    sizeof(err)) == 0 && v == 0);
	CU_ASSERT(pkg_field_parse_u16("--major", "65535", &v, err,
	    sizeof(err)) == 0 && v == 65535);
	CU_ASSERT(pkg_field_parse_u16("--major", "00002", &v, err,
	    sizeof(err)) == 0 && v == 2);
	CU_ASSERT(pkg_field_parse_u16("--major", "65536", &v, err,
	    sizeof(err)) == -1);
	CU_ASSERT_STRING_EQUAL(err,
	    "--major: '65536' is not a number from 0 to 65535");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT(pkg_field_parse_u16("--major", bad[i], &v, err,
		    sizeof(err)) == -1);
}

static void
test_relpath(void)
{
	const char	*ok[] = { "a", "a/b", "setup.sh", "a/.b/c", "..a",
	    "a..", "dir/sub dir/f" };
	const char	*bad[] = { "", "/a", "../a", "a/../b", "a/..", "a//b",
	    "a/", "./a", ".", "a/./b", "a\nb" };
	char		 path[PKG_PATH_MAX + 2];
	size_t		 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		CU_ASSERT(pkg_field_check_relpath("--exec", ok[i], err,
		    sizeof(err)) == 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT(pkg_field_check_relpath("--exec", bad[i], err,
		    sizeof(err)) == -1);
		CU_ASSERT(strncmp(err, "--exec: ", 8) == 0);
	}
	CU_ASSERT(pkg_field_check_relpath("--exec", "../x", err,
	    sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "'..'") != NULL);
	CU_ASSERT(pkg_field_check_relpath("--exec", "/bin/sh", err,
	    sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "absolute") != NULL);
	strcpy(path, rep('p', PKG_PATH_MAX));
	CU_ASSERT(pkg_field_check_relpath("--exec", path, err,
	    sizeof(err)) == 0);
	strcat(path, "p");
	CU_ASSERT(pkg_field_check_relpath("--exec", path, err,
	    sizeof(err)) == -1);
	CU_ASSERT_STRING_EQUAL(err, "--exec: 4096 bytes, limit 4095");
}

static void
test_symlink_rule(void)
{
	static const struct {
		const char	*path, *target;
		int		 ok;
	} t[] = {
		{ "l", "x", 1 },
		{ "l", "./x", 1 },
		{ "l", "sub/x", 1 },
		{ "a/l", "../x", 1 },
		{ "a/l", "..", 1 },
		{ "a/b/l", "../../x/y", 1 },
		{ "a/l", "../b/../c", 0 },	/* '..' after a name */
		{ "l", "x/..", 0 },
		{ "l", "x/../y", 0 },
		{ "l", "..", 0 },
		{ "l", "../x", 0 },
		{ "a/b/l", "../../../x", 0 },
		{ "l", "/etc/passwd", 0 },
		{ "l", "/", 0 },
		{ "l", "", 0 },
	};
	size_t	i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rv = pkg_field_check_symlink(t[i].path, t[i].target, err,
		    sizeof(err));

		if (rv != (t[i].ok ? 0 : -1))
			fprintf(stderr, "symlink %s -> %s: got %d\n",
			    t[i].path, t[i].target, rv);
		CU_ASSERT(rv == (t[i].ok ? 0 : -1));
	}
}

/* The cross-field rules and each list's limits, seen by the builder. */
static void
test_manifest_rules(void)
{
	struct pkg_manifest	m;
	char			v[32];
	size_t			i;

	valid_manifest(&m);
	CU_ASSERT(pkg_manifest_check(&m, 1, err, sizeof(err)) == 0);

	/* P7: major/minor required for service packs. */
	m.has_version = 0;
	m.major = 0;
	CU_ASSERT(pkg_manifest_check(&m, 1, err, sizeof(err)) == -1);
	CU_ASSERT(strncmp(err, "--major/--minor: required for service packs",
	    43) == 0);
	m.type = PKG_HOTFIX;
	CU_ASSERT(pkg_manifest_check(&m, 1, err, sizeof(err)) == 0);
	m.type = PKG_APPLICATION;
	CU_ASSERT(pkg_manifest_check(&m, 1, err, sizeof(err)) == 0);

	/* P6: KB for hotfixes and applications, never for service packs. */
	strcpy(m.kb, rep('k', 31));
	CU_ASSERT(pkg_manifest_check(&m, 1, err, sizeof(err)) == 0);
	m.type = PKG_SERVICEPACK;
	m.has_version = 1;
	CU_ASSERT(pkg_manifest_check(&m, 1, err, sizeof(err)) == -1);
	CU_ASSERT(strncmp(err, "--kb: not used for service packs", 32) == 0);
	m.kb[0] = '\0';

	/* Base SP and supersedes may not name the package itself. */
	strcpy(m.base_sp, "SP2");
	CU_ASSERT(pkg_manifest_check(&m, 1, err, sizeof(err)) == -1);
	CU_ASSERT(strncmp(err, "--base-sp: ", 11) == 0);
	strcpy(m.base_sp, "SP1");
	CU_ASSERT(pkg_manifest_check(&m, 1, err, sizeof(err)) == 0);
	CU_ASSERT(pkg_field_list_add("--supersedes", &m.supersedes, "SP2",
	    PKG_LIST_MAX, err, sizeof(err)) == 0);
	CU_ASSERT(pkg_manifest_check(&m, 1, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "own id") != NULL);
	pkg_field_list_free(&m.supersedes);

	/* Lists: 64 values pass, the 65th and duplicates fail. */
	for (i = 0; i < PKG_LIST_MAX; i++) {
		snprintf(v, sizeof(v), "os-%zu", i);
		CU_ASSERT(pkg_field_list_add("--os", &m.os, v, PKG_LIST_MAX,
		    err, sizeof(err)) == 0);
	}
	CU_ASSERT(pkg_manifest_check(&m, 1, err, sizeof(err)) == 0);
	CU_ASSERT(pkg_field_list_add("--os", &m.os, "one-more", PKG_LIST_MAX,
	    err, sizeof(err)) == -1);
	CU_ASSERT(strncmp(err, "--os: more than 64 values", 25) == 0);
	pkg_field_list_free(&m.os);
	CU_ASSERT(pkg_field_list_add("--lang", &m.lang, "de", PKG_LIST_MAX, err,
	    sizeof(err)) == 0);
	CU_ASSERT(pkg_field_list_add("--lang", &m.lang, "de", PKG_LIST_MAX, err,
	    sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "given twice") != NULL);
	/* The checker catches what a list built by hand smuggles in. */
	m.lang.v = xreallocarray(m.lang.v, 2, sizeof(char *));
	m.lang.v[m.lang.n++] = xstrdup("de");
	CU_ASSERT(pkg_manifest_check(&m, 1, err, sizeof(err)) == -1);
	pkg_field_list_free(&m.lang);
	m.lang.v = xcalloc(1, sizeof(char *));
	m.lang.v[m.lang.n++] = xstrdup(rep('l', 128));
	CU_ASSERT(pkg_manifest_check(&m, 1, err, sizeof(err)) == -1);
	CU_ASSERT_STRING_EQUAL(err, "--lang[1]: 128 bytes, limit 127");
	free(m.lang.v[0]);
	m.lang.v[0] = xstrdup(rep('l', 127));
	CU_ASSERT(pkg_manifest_check(&m, 1, err, sizeof(err)) == 0);
	pkg_field_list_free(&m.lang);

	/* Setup parameters: 256 of up to 4095 bytes. */
	for (i = 0; i < PKG_ARGS_MAX; i++) {
		m.args.v = xreallocarray(m.args.v, m.args.n + 1,
		    sizeof(char *));
		m.args.v[m.args.n++] = xstrdup(i == 0 ? rep('a', PKG_ARG_MAX) :
		    "-v");
	}
	CU_ASSERT(pkg_manifest_check(&m, 1, err, sizeof(err)) == 0);
	m.args.v = xreallocarray(m.args.v, m.args.n + 1, sizeof(char *));
	m.args.v[m.args.n++] = xstrdup("-v");
	CU_ASSERT(pkg_manifest_check(&m, 1, err, sizeof(err)) == -1);
	CU_ASSERT_STRING_EQUAL(err, "--args: 257 values, limit 256");
	pkg_field_list_free(&m.args);
	m.args.v = xcalloc(1, sizeof(char *));
	m.args.v[m.args.n++] = xstrdup(rep('a', PKG_ARG_MAX + 1));
	CU_ASSERT(pkg_manifest_check(&m, 1, err, sizeof(err)) == -1);
	CU_ASSERT_STRING_EQUAL(err, "--args[1]: 4096 bytes, limit 4095");
	pkg_field_list_free(&m.args);

	/* Executable path. */
	free(m.exec);
	m.exec = xstrdup("../setup.sh");
	CU_ASSERT(pkg_manifest_check(&m, 1, err, sizeof(err)) == -1);
	CU_ASSERT(strncmp(err, "--exec: ", 8) == 0);
	free(m.exec);
	m.exec = NULL;
	CU_ASSERT(pkg_manifest_check(&m, 1, err, sizeof(err)) == -1);
	CU_ASSERT(strncmp(err, "--exec: required", 16) == 0);
	m.exec = xstrdup("setup.sh");

	/* Decoder-side names are the manifest's field names. */
	strcpy(m.company, rep('c', 127));
	CU_ASSERT(pkg_manifest_check(&m, 0, err, sizeof(err)) == 0);
	m.company[0] = '\n';
	CU_ASSERT(pkg_manifest_check(&m, 0, err, sizeof(err)) == -1);
	CU_ASSERT(strncmp(err, "company: control character", 26) == 0);
	m.company[0] = '\0';
	m.year = 2023;
	m.month = 2;
	m.day = 29;
	CU_ASSERT(pkg_manifest_check(&m, 0, err, sizeof(err)) == -1);
	CU_ASSERT_STRING_EQUAL(err,
	    "release_date: 2023/02/29 is not a real date (YYYY/MM/DD)");
	m.year = m.month = m.day = 0;
	m.flags = 0x08;
	CU_ASSERT(pkg_manifest_check(&m, 0, err, sizeof(err)) == -1);
	m.flags = PKG_F_ALL;
	m.urgency = 5;
	CU_ASSERT(pkg_manifest_check(&m, 0, err, sizeof(err)) == -1);
	m.urgency = PKG_URGENCY_LOW;
	m.type = 4;
	CU_ASSERT(pkg_manifest_check(&m, 0, err, sizeof(err)) == -1);
	m.type = PKG_SERVICEPACK;
	m.compression = 2;
	CU_ASSERT(pkg_manifest_check(&m, 0, err, sizeof(err)) == -1);
	m.compression = PKG_COMPRESS_ZSTD;
	CU_ASSERT(pkg_manifest_check(&m, 0, err, sizeof(err)) == 0);
	pkg_manifest_free(&m);
}

static void
assert_same(const struct pkg_manifest *a, const struct pkg_manifest *b)
{
	size_t	i;

	CU_ASSERT_STRING_EQUAL(a->id, b->id);
	CU_ASSERT(a->type == b->type && a->urgency == b->urgency);
	CU_ASSERT(a->flags == b->flags && a->has_version == b->has_version);
	CU_ASSERT(a->major == b->major && a->minor == b->minor);
	CU_ASSERT(a->year == b->year && a->month == b->month &&
	    a->day == b->day);
	CU_ASSERT_STRING_EQUAL(a->company, b->company);
	CU_ASSERT_STRING_EQUAL(a->summary, b->summary);
	CU_ASSERT_STRING_EQUAL(a->kb, b->kb);
	CU_ASSERT_STRING_EQUAL(a->exec, b->exec);
	CU_ASSERT_FATAL(a->args.n == b->args.n && a->os.n == b->os.n &&
	    a->lang.n == b->lang.n && a->supersedes.n == b->supersedes.n &&
	    a->nrequires == b->nrequires);
	for (i = 0; i < a->args.n; i++)
		CU_ASSERT_STRING_EQUAL(a->args.v[i], b->args.v[i]);
	for (i = 0; i < a->os.n; i++)
		CU_ASSERT_STRING_EQUAL(a->os.v[i], b->os.v[i]);
	for (i = 0; i < a->lang.n; i++)
		CU_ASSERT_STRING_EQUAL(a->lang.v[i], b->lang.v[i]);
	for (i = 0; i < a->supersedes.n; i++)
		CU_ASSERT_STRING_EQUAL(a->supersedes.v[i], b->supersedes.v[i]);
	CU_ASSERT_STRING_EQUAL(a->base_sp, b->base_sp);
	for (i = 0; i < a->nrequires; i++) {
		CU_ASSERT(a->requires[i].op == b->requires[i].op);
		CU_ASSERT_STRING_EQUAL(a->requires[i].fact,
		    b->requires[i].fact);
		CU_ASSERT((a->requires[i].value == NULL) ==
		    (b->requires[i].value == NULL));
		if (a->requires[i].value != NULL &&
		    b->requires[i].value != NULL)
			CU_ASSERT_STRING_EQUAL(a->requires[i].value,
			    b->requires[i].value);
	}
	CU_ASSERT(a->compression == b->compression);
	CU_ASSERT(a->payload_size == b->payload_size);
	CU_ASSERT(memcmp(a->payload_sha256, b->payload_sha256,
	    SHA256_LEN) == 0);
	CU_ASSERT(a->unpacked_size == b->unpacked_size);
	CU_ASSERT(a->entries == b->entries && a->built_at == b->built_at);
	CU_ASSERT(memcmp(a->key_id, b->key_id, KEYID_LEN) == 0);
}

static void
test_codec_roundtrip(void)
{
	struct pkg_manifest	m, d;
	struct wire_w		w, w2;

	full_manifest(&m);
	CU_ASSERT_FATAL(pkg_manifest_check(&m, 1, err, sizeof(err)) == 0);
	wire_w_grow(&w, 64);
	pkg_manifest_encode(&m, &w);
	/* Known prefix: version 1, id length and bytes, type 2, urgency 2. */
	CU_ASSERT(w.buf[0] == 0 && w.buf[1] == 1 && w.buf[2] == 9);
	CU_ASSERT(memcmp(w.buf + 3, "HF-1234_b", 9) == 0);
	CU_ASSERT(w.buf[12] == PKG_HOTFIX && w.buf[13] == PKG_URGENCY_HIGH);
	CU_ASSERT(w.buf[14] == PKG_F_ALL && w.buf[15] == 1);
	CU_ASSERT_FATAL(pkg_manifest_decode(&d, w.buf, w.len, err,
	    sizeof(err)) == 0);
	assert_same(&m, &d);
	/* Canonical: decoding then encoding gives the same bytes. */
	wire_w_grow(&w2, 64);
	pkg_manifest_encode(&d, &w2);
	CU_ASSERT(w2.len == w.len && memcmp(w.buf, w2.buf, w.len) == 0);
	wire_w_free(&w2);
	pkg_manifest_free(&d);

	/* A minimal manifest too. */
	pkg_manifest_free(&m);
	valid_manifest(&m);
	w.len = 0;
	pkg_manifest_encode(&m, &w);
	CU_ASSERT_FATAL(pkg_manifest_decode(&d, w.buf, w.len, err,
	    sizeof(err)) == 0);
	assert_same(&m, &d);
	CU_ASSERT(d.requires != NULL || d.nrequires == 0);
	pkg_manifest_free(&d);
	pkg_manifest_free(&m);
	wire_w_free(&w);
}

/* Decode bytes; expect failure with err containing want. */
static void
decode_fails(const uint8_t *buf, size_t len, const char *want)
{
	struct pkg_manifest	d;

	CU_ASSERT(pkg_manifest_decode(&d, buf, len, err, sizeof(err)) == -1);
	if (want != NULL && strstr(err, want) == NULL) {
		fprintf(stderr, "decode error '%s' lacks '%s'\n", err, want);
		CU_FAIL("decode error text");
	}
	CU_ASSERT(d.exec == NULL && d.nrequires == 0);
}

static void
test_codec_strict(void)
{
	struct pkg_manifest	m;
	struct wire_w		w;
	uint8_t			*buf;
	size_t			 i;

	full_manifest(&m);
	wire_w_grow(&w, 64);
	pkg_manifest_encode(&m, &w);

	/* Every truncation fails, and so does one byte more. */
	for (i = 0; i < w.len; i++)
		decode_fails(w.buf, i, "manifest: ");
	buf = xmalloc(w.len + 1);
	memcpy(buf, w.buf, w.len);
	buf[w.len] = 0;
	decode_fails(buf, w.len + 1, "1 bytes after the last field");

	/* Version, enum values and flags outside the rules. */
	memcpy(buf, w.buf, w.len);
	buf[1] = 2;
	decode_fails(buf, w.len, "version 2 is not supported");
	memcpy(buf, w.buf, w.len);
	buf[12] = 0;
	decode_fails(buf, w.len, "type");
	memcpy(buf, w.buf, w.len);
	buf[13] = 9;
	decode_fails(buf, w.len, "urgency");
	memcpy(buf, w.buf, w.len);
	buf[14] = 0x80;
	decode_fails(buf, w.len, "flags");
	memcpy(buf, w.buf, w.len);
	buf[15] = 2;
	decode_fails(buf, w.len, "version flag");
	memcpy(buf, w.buf, w.len);
	buf[5] = ' ';	/* inside the id */
	decode_fails(buf, w.len, "manifest: id: ");
	memcpy(buf, w.buf, w.len);
	buf[5] = '\0';
	decode_fails(buf, w.len, "NUL");
	/* Release date 2024/02/29 -> 2023/02/29. */
	memcpy(buf, w.buf, w.len);
	CU_ASSERT(wire_load16(buf + 20) == 2024);
	wire_store16(buf + 20, 2023);
	decode_fails(buf, w.len, "release_date: 2023/02/29 is not a real date");
	free(buf);
	pkg_manifest_free(&m);

	/* Rules tying fields together hold on the decoder's side too. */
	valid_manifest(&m);
	strcpy(m.kb, "KB1");
	w.len = 0;
	pkg_manifest_encode(&m, &w);
	decode_fails(w.buf, w.len, "kb: not used for service packs");
	m.kb[0] = '\0';
	m.has_version = 0;
	m.major = 0;
	w.len = 0;
	pkg_manifest_encode(&m, &w);
	decode_fails(w.buf, w.len, "required for service packs");
	m.has_version = 1;
	free(m.exec);
	m.exec = xstrdup("/bin/sh");
	w.len = 0;
	pkg_manifest_encode(&m, &w);
	decode_fails(w.buf, w.len, "exec: /bin/sh is an absolute path");
	free(m.exec);
	m.exec = xstrdup("setup.sh");
	strcpy(m.company, rep('c', 127));
	m.company[126] = 'X';
	w.len = 0;
	pkg_manifest_encode(&m, &w);
	/* 127 passes; patch the length byte to claim 128 of the next bytes. */
	{
		struct pkg_manifest	d;
		size_t			off = 2 + 1 + 3 + 4 + 2 + 2 + 2 + 1 + 1;

		CU_ASSERT(pkg_manifest_decode(&d, w.buf, w.len, err,
		    sizeof(err)) == 0);
		pkg_manifest_free(&d);
		CU_ASSERT_FATAL(w.buf[off] == 127);
		w.buf[off] = 128;
		decode_fails(w.buf, w.len, "company: 128 bytes, limit 127");
	}
	/* A condition that does not parse, encoded by hand. */
	m.requires = xcalloc(1, sizeof(*m.requires));
	m.requires[0].op = PKG_COND_GE;
	m.requires[0].fact = xstrdup("kernel");
	m.requires[0].value = xstrdup("6 1");
	m.nrequires = 1;
	m.company[0] = '\0';
	w.len = 0;
	pkg_manifest_encode(&m, &w);
	decode_fails(w.buf, w.len, "is not a version");
	m.requires[0].op = PKG_COND_EXISTS;
	w.len = 0;
	pkg_manifest_encode(&m, &w);
	decode_fails(w.buf, w.len, "requires");
	pkg_manifest_free(&m);
	wire_w_free(&w);
}

static void
sign_manifest(const uint8_t sk[ED25519_PRIV_LEN], const uint8_t *buf,
    size_t len, uint8_t sig[ED25519_SIG_LEN])
{
	static const char	 domain[] = PKG_SIG_DOMAIN;
	uint8_t			*msg;

	msg = xmalloc(sizeof(domain) + len);
	memcpy(msg, domain, sizeof(domain));
	memcpy(msg + sizeof(domain), buf, len);
	CU_ASSERT_FATAL(ed25519_sign(sk, msg, sizeof(domain) + len, sig) == 0);
	free(msg);
}

static void
test_verify(void)
{
	struct pkg_manifest	m, d;
	struct wire_w		w;
	uint8_t			pk[2][ED25519_PUB_LEN], sk[2][ED25519_PRIV_LEN];
	uint8_t			sig[ED25519_SIG_LEN], bad[ED25519_SIG_LEN];
	size_t			i;

	CU_ASSERT_FATAL(ed25519_generate(pk[0], sk[0]) == 0);
	CU_ASSERT_FATAL(ed25519_generate(pk[1], sk[1]) == 0);
	full_manifest(&m);
	ed25519_keyid(pk[1], m.key_id);
	wire_w_grow(&w, 64);
	pkg_manifest_encode(&m, &w);
	sign_manifest(sk[1], w.buf, w.len, sig);

	/* Good with the signer among several trusted keys. */
	CU_ASSERT(pkg_manifest_verify(&d, w.buf, w.len, sig,
	    (const uint8_t (*)[ED25519_PUB_LEN])pk, 2, err, sizeof(err)) == 0);
	assert_same(&m, &d);
	pkg_manifest_free(&d);
	/* Untrusted: only the other key is trusted. */
	CU_ASSERT(pkg_manifest_verify(&d, w.buf, w.len, sig,
	    (const uint8_t (*)[ED25519_PUB_LEN])pk, 1, err, sizeof(err)) == -1);
	CU_ASSERT(strncmp(err, "key: signed by key ", 19) == 0);
	CU_ASSERT(pkg_manifest_verify(&d, w.buf, w.len, sig, NULL, 0, err,
	    sizeof(err)) == -1);
	/* Every signature byte matters. */
	for (i = 0; i < ED25519_SIG_LEN; i++) {
		memcpy(bad, sig, sizeof(bad));
		bad[i] ^= 0x01;
		CU_ASSERT(pkg_manifest_verify(&d, w.buf, w.len, bad,
		    (const uint8_t (*)[ED25519_PUB_LEN])pk, 2, err,
		    sizeof(err)) == -1);
		CU_ASSERT(strncmp(err, "signature: ", 11) == 0);
	}
	/* Every manifest byte matters (decode or signature catches it). */
	for (i = 0; i < w.len; i++) {
		w.buf[i] ^= 0x20;
		CU_ASSERT(pkg_manifest_verify(&d, w.buf, w.len, sig,
		    (const uint8_t (*)[ED25519_PUB_LEN])pk, 2, err,
		    sizeof(err)) == -1);
		w.buf[i] ^= 0x20;
	}
	/* A signature without the domain prefix does not verify. */
	CU_ASSERT_FATAL(ed25519_sign(sk[1], w.buf, w.len, bad) == 0);
	CU_ASSERT(pkg_manifest_verify(&d, w.buf, w.len, bad,
	    (const uint8_t (*)[ED25519_PUB_LEN])pk, 2, err, sizeof(err)) == -1);
	pkg_manifest_free(&m);
	wire_w_free(&w);
}

/*
 * Issue #12 finding 7: the signature is checked over the raw bytes before
 * anything is decoded.  The body below would trip the decoder at once (a
 * manifest version it does not read, then garbage), and ends with a
 * trusted key's id, as a forger would write it: with a bad signature the
 * error names the signature, not the decoder's complaint; with a good
 * signature over the same bytes, the decoder runs and names the version.
 */
static void
test_verify_before_decode(void)
{
	struct pkg_manifest	d;
	uint8_t			pk[ED25519_PUB_LEN], sk[ED25519_PRIV_LEN];
	uint8_t			body[64], sig[ED25519_SIG_LEN];

	CU_ASSERT_FATAL(ed25519_generate(pk, sk) == 0);
	memset(body, 0xa5, sizeof(body));
	body[0] = 0xff;		/* manifest version 65535 */
	body[1] = 0xff;
	ed25519_keyid(pk, body + sizeof(body) - KEYID_LEN);
	memset(sig, 0x5a, sizeof(sig));
	CU_ASSERT(pkg_manifest_verify(&d, body, sizeof(body), sig,
	    (const uint8_t (*)[ED25519_PUB_LEN])&pk, 1, err,
	    sizeof(err)) == -1);
	CU_ASSERT(strncmp(err, "signature: ", 11) == 0);
	CU_ASSERT(strstr(err, "version") == NULL);
	/* An unknown key id: refused for the key, still undecoded. */
	body[sizeof(body) - 1] ^= 0xff;
	CU_ASSERT(pkg_manifest_verify(&d, body, sizeof(body), sig,
	    (const uint8_t (*)[ED25519_PUB_LEN])&pk, 1, err,
	    sizeof(err)) == -1);
	CU_ASSERT(strncmp(err, "key: signed by key ", 19) == 0);
	body[sizeof(body) - 1] ^= 0xff;
	/* Too short to carry a key id at all. */
	CU_ASSERT(pkg_manifest_verify(&d, body, 3, sig,
	    (const uint8_t (*)[ED25519_PUB_LEN])&pk, 1, err,
	    sizeof(err)) == -1);
	CU_ASSERT(strncmp(err, "signature: ", 11) == 0);
	/* Signed: now the decoder runs, and refuses the version. */
	sign_manifest(sk, body, sizeof(body), sig);
	CU_ASSERT(pkg_manifest_verify(&d, body, sizeof(body), sig,
	    (const uint8_t (*)[ED25519_PUB_LEN])&pk, 1, err,
	    sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "manifest: version 65535") != NULL);
}

static void
test_json(void)
{
	struct pkg_manifest	 m;
	json_t			*o, *a;

	full_manifest(&m);
	o = pkg_manifest_to_json(&m);
	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "id")),
	    "HF-1234_b");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "type")),
	    "hotfix");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o,
	    "urgency")), "high");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o,
	    "release_date")), "2024/02/29");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o,
	    "company")), "Ex\xc3\xa4mple GmbH");
	CU_ASSERT(json_integer_value(json_object_get(o, "major")) == 65535);
	CU_ASSERT(json_integer_value(json_object_get(o, "minor")) == 7);
	CU_ASSERT(json_is_true(json_object_get(o, "reboot_after_install")));
	CU_ASSERT(json_is_true(json_object_get(o, "exclusive")));
	CU_ASSERT(json_is_true(json_object_get(o, "idempotent")));
	a = json_object_get(o, "args");
	CU_ASSERT(json_array_size(a) == 3);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(a, 2)),
	    "two words");
	a = json_object_get(o, "requires");
	CU_ASSERT(json_array_size(a) == 3);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(a, 0)),
	    "os.version >= 12.1~rc1");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(a, 2)),
	    "codename == bookworm beta");
	CU_ASSERT(json_integer_value(json_object_get(o, "payload_size")) ==
	    0x123456789LL);
	CU_ASSERT(json_integer_value(json_object_get(o, "unpacked_size")) ==
	    (json_int_t)(5ULL << 32));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o,
	    "built_at")), "2023-11-14T22:13:20Z");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o,
	    "key_id")), "5c5c5c5c5c5c5c5c");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o,
	    "compression")), "none");
	json_decref(o);
	pkg_manifest_free(&m);

	/* Absent optional fields are null, not empty strings. */
	valid_manifest(&m);
	m.has_version = 0;
	m.type = PKG_APPLICATION;
	o = pkg_manifest_to_json(&m);
	CU_ASSERT(json_is_null(json_object_get(o, "release_date")));
	CU_ASSERT(json_is_null(json_object_get(o, "kb")));
	CU_ASSERT(json_is_null(json_object_get(o, "major")));
	CU_ASSERT(json_is_null(json_object_get(o, "base_sp")));
	CU_ASSERT(json_array_size(json_object_get(o, "os")) == 0);
	json_decref(o);
	pkg_manifest_free(&m);
}

static void
test_cond_parse(void)
{
	static const struct {
		const char		*text;
		enum pkg_cond_op	 op;
		const char		*fact, *value, *canon;
	} ok[] = {
		{ "CSDVersion exists", PKG_COND_EXISTS, "CSDVersion", NULL,
		    "CSDVersion exists" },
		{ "  sp   exists  ", PKG_COND_EXISTS, "sp", NULL, "sp exists" },
		{ "kernel >= 6.1", PKG_COND_GE, "kernel", "6.1",
		    "kernel >= 6.1" },
		{ "kernel>=6.1.0-18-amd64", PKG_COND_GE, "kernel",
		    "6.1.0-18-amd64", "kernel >= 6.1.0-18-amd64" },
		{ "os.id == debian", PKG_COND_EQ, "os.id", "debian",
		    "os.id == debian" },
		{ "name == two  words ", PKG_COND_EQ, "name", "two  words",
		    "name == two  words" },
		{ "v >= 1:2.0~rc1+b2", PKG_COND_GE, "v", "1:2.0~rc1+b2",
		    "v >= 1:2.0~rc1+b2" },
	};
	static const char *bad[] = { "", "   ", ">= 1", "kernel", "kernel 6",
	    "kernel <= 6", "kernel != 6", "kernel > 6", "kernel ==",
	    "kernel >=  ", "a exists x", "a existsx", "a/b exists",
	    "a b exists", "k >= 1 2", "k >= 1,2", "k == a\tb" };
	struct pkg_cond	c;
	char		text[8192 + 16];
	size_t		i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CU_ASSERT_FATAL(pkg_cond_parse("--requires", ok[i].text, &c,
		    err, sizeof(err)) == 0);
		CU_ASSERT(c.op == ok[i].op);
		CU_ASSERT_STRING_EQUAL(c.fact, ok[i].fact);
		if (ok[i].value == NULL) {
			CU_ASSERT(c.value == NULL);
		} else {
			CU_ASSERT(c.value != NULL &&
			    strcmp(c.value, ok[i].value) == 0);
		}
		pkg_cond_format(&c, text, sizeof(text));
		CU_ASSERT_STRING_EQUAL(text, ok[i].canon);
		pkg_cond_free(&c);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (pkg_cond_parse("--requires", bad[i], &c, err,
		    sizeof(err)) == 0) {
			fprintf(stderr, "condition '%s' parsed\n", bad[i]);
			CU_FAIL("bad condition accepted");
			pkg_cond_free(&c);
			continue;
		}
		CU_ASSERT(strncmp(err, "--requires: ", 12) == 0);
	}
	/* Limits: fact 63 bytes, value 255 bytes. */
	snprintf(text, sizeof(text), "%s exists", rep('f', 63));
	CU_ASSERT(pkg_cond_parse("r", text, &c, err, sizeof(err)) == 0);
	pkg_cond_free(&c);
	snprintf(text, sizeof(text), "%s exists", rep('f', 64));
	CU_ASSERT(pkg_cond_parse("r", text, &c, err, sizeof(err)) == -1);
	CU_ASSERT_STRING_EQUAL(err, "r: fact name of 64 bytes, limit 63");
	snprintf(text, sizeof(text), "f == %s", rep('v', 255));
	CU_ASSERT(pkg_cond_parse("r", text, &c, err, sizeof(err)) == 0);
	pkg_cond_free(&c);
	snprintf(text, sizeof(text), "f >= %s", rep('1', 256));
	CU_ASSERT(pkg_cond_parse("r", text, &c, err, sizeof(err)) == -1);
	CU_ASSERT_STRING_EQUAL(err, "r: value of 256 bytes, limit 255");
}

static void
test_vercmp(void)
{
	/* Each row: a < b. */
	static const char *less[][2] = {
		{ "1.0", "1.1" },
		{ "1.2.3", "1.2.10" },
		{ "9", "10" },
		{ "1.0~rc1", "1.0" },
		{ "1.0~~", "1.0~~a" },
		{ "1.0~~a", "1.0~" },
		{ "1.0~", "1.0" },
		{ "1.0", "1.0a" },
		{ "1.0", "1.0+b1" },
		{ "1.0a", "1.0+" },
		{ "1.0-1", "1.0-2" },
		{ "1.0-9", "1.0-10" },
		{ "6.1.0-9-amd64", "6.1.0-18-amd64" },
		{ "2.0", "1:0.1" },
		{ "1:2.0", "2:1.0" },
		{ "1.9999", "2.0" },
		{ "1", "a" },
		{ "", "0.1" },
		{ "12", "12.1" },
		{ "2.36-9+deb12u3", "2.36-9+deb12u4" },
		{ "18446744073709551615", "18446744073709551616" },
	};
	static const char *same[][2] = {
		{ "1.0", "1.0" },
		{ "1.0", "1.00" },
		{ "0:1.0", "1.0" },
		{ "01", "1" },
		{ "1.0-0", "1.0-0" },
	};
	size_t	i;

	for (i = 0; i < sizeof(less) / sizeof(less[0]); i++) {
		if (!(pkg_vercmp(less[i][0], less[i][1]) < 0 &&
		    pkg_vercmp(less[i][1], less[i][0]) > 0)) {
			fprintf(stderr, "vercmp %s < %s fails\n", less[i][0],
			    less[i][1]);
			CU_FAIL("version order");
		}
	}
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		CU_ASSERT(pkg_vercmp(same[i][0], same[i][1]) == 0 &&
		    pkg_vercmp(same[i][1], same[i][0]) == 0);
}

/* Facts for evaluation tests: a NULL-terminated key/value table. */
static const char *facts[] = {
	"kernel", "6.1.0-18-amd64",
	"os.id", "debian",
	"sp", "2",
	"empty", "",
	NULL,
};

static const char *
lookup(void *arg, const char *key)
{
	const char	**f = arg;

	for (; f[0] != NULL; f += 2)
		if (strcmp(f[0], key) == 0)
			return (f[1]);
	return (NULL);
}

static int
eval(const char *text)
{
	struct pkg_cond	c;
	int		rv;

	CU_ASSERT_FATAL(pkg_cond_parse("r", text, &c, err, sizeof(err)) == 0);
	rv = pkg_cond_eval(&c, lookup, facts, err, sizeof(err));
	pkg_cond_free(&c);
	return (rv);
}

static void
test_cond_eval(void)
{
	struct pkg_manifest	m;
	struct pkg_cond		c;

	CU_ASSERT(eval("sp exists") == 1);
	CU_ASSERT(eval("empty exists") == 1);
	CU_ASSERT(eval("csd exists") == 0);
	CU_ASSERT_STRING_EQUAL(err,
	    "requires 'csd exists': the machine has no fact csd");
	CU_ASSERT(eval("os.id == debian") == 1);
	CU_ASSERT(eval("os.id == Debian") == 0);
	CU_ASSERT_STRING_EQUAL(err,
	    "requires 'os.id == Debian': os.id is 'debian'");
	CU_ASSERT(eval("missing == x") == 0);
	CU_ASSERT(eval("kernel >= 6.1") == 1);
	CU_ASSERT(eval("kernel >= 6.1.0-18-amd64") == 1);
	CU_ASSERT(eval("kernel >= 6.1.0-19-amd64") == 0);
	/* dpkg semantics: the revision is after the last '-'. */
	CU_ASSERT(eval("kernel >= 6.1.0-19") == 1);
	CU_ASSERT(eval("kernel >= 6.10") == 0);
	CU_ASSERT(eval("sp >= 1") == 1);
	CU_ASSERT(eval("sp >= 2") == 1);
	CU_ASSERT(eval("sp >= 3") == 0);
	CU_ASSERT(eval("missing >= 0") == 0);

	/* All conditions must hold; the first failing one is reported. */
	valid_manifest(&m);
	CU_ASSERT(pkg_requires_eval(&m, lookup, facts, err, sizeof(err)) == 1);
	m.requires = xcalloc(2, sizeof(*m.requires));
	CU_ASSERT_FATAL(pkg_cond_parse("r", "sp >= 1", &c, err,
	    sizeof(err)) == 0);
	m.requires[m.nrequires++] = c;
	CU_ASSERT(pkg_requires_eval(&m, lookup, facts, err, sizeof(err)) == 1);
	CU_ASSERT_FATAL(pkg_cond_parse("r", "os.id == ubuntu", &c, err,
	    sizeof(err)) == 0);
	m.requires[m.nrequires++] = c;
	CU_ASSERT(pkg_requires_eval(&m, lookup, facts, err, sizeof(err)) == 0);
	CU_ASSERT(strstr(err, "os.id == ubuntu") != NULL);
	pkg_manifest_free(&m);
}

static CU_TestInfo tests[] = {
	{ "id rule (P1)", test_id },
	{ "text limits, UTF-8, control characters (P2, P6)", test_text },
	{ "release date (P3)", test_date },
	{ "type, urgency, numbers (P4, P5, P7)", test_enums_numbers },
	{ "relative paths", test_relpath },
	{ "symlink targets stay inside", test_symlink_rule },
	{ "manifest rules across fields", test_manifest_rules },
	{ "codec round trip", test_codec_roundtrip },
	{ "codec strictness", test_codec_strict },
	{ "signature and trusted keys", test_verify },
	{ "signature checked before decoding (#12)",
	    test_verify_before_decode },
	{ "JSON form", test_json },
	{ "condition parsing (P10)", test_cond_parse },
	{ "dpkg version comparison", test_vercmp },
	{ "condition evaluation", test_cond_eval },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	return (unit_main("pkg_manifest", tests));
}
