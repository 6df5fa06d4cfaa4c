/*
 * Tests for applicability (MISSION.md P9-P11) and the facts it reads: OS
 * and language list matching, conditions on facts, base service pack and
 * supersession (SP3 on a machine with SP1, SP2 or nothing; a superseded
 * package standing for the one it replaced in conditions too), any() and
 * not with the failing term named, no downgrade, and the reason given for
 * each refusal.  Facts come from files written
 * here (os-release, locale) and from facts_command-style text.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "agent.h"

static void
add(struct pkg_list *l, const char *s)
{
	char	err[256];

	CU_ASSERT_FATAL(pkg_field_list_add("test", l, s, PKG_LIST_MAX, err,
	    sizeof(err)) == 0);
}

static void
require(struct pkg_manifest *m, const char *text)
{
	char	err[256];

	m->requires = realloc(m->requires, (m->nrequires + 1) *
	    sizeof(*m->requires));
	CU_ASSERT_FATAL(pkg_cond_parse("requires", text,
	    &m->requires[m->nrequires], err, sizeof(err)) == 0);
	m->nrequires++;
}

static void
debian_facts(struct facts *f)
{
	facts_init(f);
	CU_ASSERT(facts_set(f, "os.id", "debian") == 0);
	CU_ASSERT(facts_set(f, "os.version_id", "12") == 0);
	CU_ASSERT(facts_set(f, "lang", "ja_JP.UTF-8") == 0);
	CU_ASSERT(facts_set(f, "kernel", "6.1.0-18-amd64") == 0);
}

static void
test_os_match(void)
{
	CU_ASSERT(pkg_applic_os_match("debian", "debian", "12"));
	CU_ASSERT(pkg_applic_os_match("Debian", "debian", "12"));
	CU_ASSERT(pkg_applic_os_match("debian-12", "debian", "12"));
	CU_ASSERT(pkg_applic_os_match("debian 12", "debian", "12"));
	CU_ASSERT(pkg_applic_os_match("debian:12", "debian", "12"));
	CU_ASSERT(!pkg_applic_os_match("debian-11", "debian", "12"));
	CU_ASSERT(!pkg_applic_os_match("debian-1", "debian", "12"));
	CU_ASSERT(pkg_applic_os_match("ubuntu-22", "ubuntu", "22.04"));
	CU_ASSERT(pkg_applic_os_match("ubuntu-22.04", "ubuntu", "22.04"));
	CU_ASSERT(!pkg_applic_os_match("ubuntu-22.0", "ubuntu", "22.04"));
	CU_ASSERT(!pkg_applic_os_match("debianx", "debian", "12"));
	CU_ASSERT(!pkg_applic_os_match("deb", "debian", "12"));
	CU_ASSERT(!pkg_applic_os_match("debian-12", "debian", NULL));
	CU_ASSERT(!pkg_applic_os_match("debian", NULL, NULL));
}

static void
test_lang_match(void)
{
	CU_ASSERT(pkg_applic_lang_match("ja", "ja_JP.UTF-8"));
	CU_ASSERT(pkg_applic_lang_match("ja_JP", "ja_JP.UTF-8"));
	CU_ASSERT(pkg_applic_lang_match("JA_jp", "ja_JP.UTF-8"));
	CU_ASSERT(!pkg_applic_lang_match("en", "ja_JP.UTF-8"));
	CU_ASSERT(!pkg_applic_lang_match("en_US", "en_GB.UTF-8"));
	CU_ASSERT(pkg_applic_lang_match("en", "en_GB.UTF-8"));
	CU_ASSERT(pkg_applic_lang_match("de_DE", "de_DE@euro"));
	CU_ASSERT(pkg_applic_lang_match("C", "C.UTF-8"));
	CU_ASSERT(pkg_applic_lang_match("C", "POSIX"));
	CU_ASSERT(!pkg_applic_lang_match("j", "ja_JP.UTF-8"));
	CU_ASSERT(!pkg_applic_lang_match("ja", NULL));
}

static void
test_os_and_lang_lists(void)
{
	struct pkg_manifest	m;
	struct facts		f;
	char			why[512];

	debian_facts(&f);
	pkg_manifest_init(&m);
	strcpy(m.id, "HF1");
	/* Empty lists mean "any". */
	CU_ASSERT(applic_check(&m, &f, NULL, 0, why, sizeof(why)) == 1);
	add(&m.os, "ubuntu-22.04");
	add(&m.os, "rhel");
	CU_ASSERT(applic_check(&m, &f, NULL, 0, why, sizeof(why)) == 0);
	CU_ASSERT(strncmp(why, "os: ", 4) == 0);
	CU_ASSERT(strstr(why, "debian 12") != NULL);
	CU_ASSERT(strstr(why, "'ubuntu-22.04', 'rhel'") != NULL);
	add(&m.os, "debian-12");
	CU_ASSERT(applic_check(&m, &f, NULL, 0, why, sizeof(why)) == 1);
	add(&m.lang, "en");
	CU_ASSERT(applic_check(&m, &f, NULL, 0, why, sizeof(why)) == 0);
	CU_ASSERT(strncmp(why, "lang: ", 6) == 0);
	CU_ASSERT(strstr(why, "ja_JP.UTF-8") != NULL);
	add(&m.lang, "ja");
	CU_ASSERT(applic_check(&m, &f, NULL, 0, why, sizeof(why)) == 1);
	pkg_manifest_free(&m);
	facts_free(&f);
}

static void
test_requires(void)
{
	struct pkg_manifest	m;
	struct facts		f;
	char			why[512];

	debian_facts(&f);
	pkg_manifest_init(&m);
	strcpy(m.id, "SP3");
	require(&m, "CSDVersion exists");
	CU_ASSERT(applic_check(&m, &f, NULL, 0, why, sizeof(why)) == 0);
	CU_ASSERT(strstr(why, "CSDVersion") != NULL);
	CU_ASSERT(facts_set(&f, "CSDVersion", "Service Pack 1") == 0);
	CU_ASSERT(applic_check(&m, &f, NULL, 0, why, sizeof(why)) == 1);
	require(&m, "kernel >= 6.2");
	CU_ASSERT(applic_check(&m, &f, NULL, 0, why, sizeof(why)) == 0);
	CU_ASSERT(strstr(why, "kernel") != NULL);
	CU_ASSERT(strstr(why, "6.1.0-18-amd64") != NULL);
	CU_ASSERT(facts_set(&f, "kernel", "6.5.0-1-amd64") == 0);
	CU_ASSERT(applic_check(&m, &f, NULL, 0, why, sizeof(why)) == 1);
	require(&m, "os.id == debian");
	CU_ASSERT(applic_check(&m, &f, NULL, 0, why, sizeof(why)) == 1);
	pkg_manifest_free(&m);
	facts_free(&f);
}

/*
 * any() and not (issue #15): SP3's "SP1 or SP2 installed" as one
 * condition, and the reason naming the term that failed.  Each row sets
 * one fact (NULL: none) on the Debian machine of the row before and
 * checks the package that requires cond.
 */
static void
test_any_not(void)
{
	static const struct {
		const char	*cond, *key, *value;
		int		 ok;
		const char	*why;
	} rows[] = {
		{ "any(pkg.SP1, pkg.SP2 >= 2.1)", NULL, NULL, 0,
		    "requires 'any(pkg.SP1 exists, pkg.SP2 >= 2.1)': none of "
		    "its terms holds: 'pkg.SP1 exists': the machine has no fact "
		    "pkg.SP1; 'pkg.SP2 >= 2.1': the machine has no fact "
		    "pkg.SP2" },
		{ "any(pkg.SP1, pkg.SP2 >= 2.1)", "pkg.SP2", "2.0", 0,
		    "'pkg.SP2 >= 2.1': pkg.SP2 is '2.0'" },
		{ "any(pkg.SP1, pkg.SP2 >= 2.1)", "pkg.SP2", "2.1", 1, NULL },
		/* not: refused while the term holds, saying so. */
		{ "not kernel >= 6.1", NULL, NULL, 0, "requires 'not kernel >= "
		    "6.1': 'kernel >= 6.1' holds: kernel is '6.1.0-18-amd64'" },
		{ "not kernel >= 6.1", "kernel", "5.10.0-28-amd64", 1, NULL },
		/* Nested, and a bare fact only as a term. */
		{ "any(not (os.id == debian), all.ok)", NULL, NULL, 0,
		    "'not os.id == debian': 'os.id == debian' holds: os.id is "
		    "'debian'; 'all.ok exists': the machine has no fact "
		    "all.ok" },
		{ "any(not (os.id == debian), all.ok)", "os.id", "ubuntu", 1,
		    NULL },
	};
	struct pkg_manifest	m;
	struct facts		f;
	char			why[1024];
	size_t			i;

	debian_facts(&f);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (rows[i].key != NULL)
			CU_ASSERT(facts_set(&f, rows[i].key, rows[i].value) ==
			    0);
		pkg_manifest_init(&m);
		strcpy(m.id, "SP3");
		require(&m, rows[i].cond);
		CU_ASSERT(applic_check(&m, &f, NULL, 0, why, sizeof(why)) ==
		    rows[i].ok);
		if (rows[i].why != NULL && strstr(why, rows[i].why) == NULL) {
			fprintf(stderr, "row %zu: %s\n", i, why);
			CU_FAIL("reason");
		}
		pkg_manifest_free(&m);
	}
	facts_free(&f);
}

/* What the parser refuses, with the reason. */
static void
test_cond_refused(void)
{
	static const struct {
		const char	*text, *why;
	} bad[] = {
		{ "any(a, b", "does not close any( with ')'" },
		{ "any()", "does not start with a fact name" },
		{ "any(a) b", "text after the condition" },
		{ "pkg.SP1", "needs 'exists', '==' or '>=' after" },
		{ "not (a", "does not close '(' with ')'" },
		{ "not not not not not not not not not a", "nested deeper "
		    "than 8" },
		{ "any(k >= 1 2)", "is not a version" },
		/* found by fuzz_cond: formatted as "not exists exists" */
		{ "(not(exists))", "'exists' is the operator" },
		{ "exists exists", "'exists' is the operator" },
		{ "any(a, exists)", "'exists' is the operator" },
	};
	struct pkg_cond	c;
	char		err[1024];
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT(pkg_cond_parse("--requires", bad[i].text, &c, err,
		    sizeof(err)) == -1);
		if (strstr(err, bad[i].why) == NULL)
			fprintf(stderr, "'%s': %s\n", bad[i].text, err);
		CU_ASSERT(strstr(err, bad[i].why) != NULL);
	}
	/* A fact may still be called not or any. */
	CU_ASSERT(pkg_cond_parse("r", "not exists", &c, err, sizeof(err)) == 0);
	CU_ASSERT(c.op == PKG_COND_EXISTS && strcmp(c.fact, "not") == 0);
	pkg_cond_free(&c);
	CU_ASSERT(pkg_cond_parse("r", "any == 1", &c, err, sizeof(err)) == 0);
	CU_ASSERT(c.op == PKG_COND_EQ && strcmp(c.fact, "any") == 0);
	pkg_cond_free(&c);
}

static struct installed *
inst_one(const char *id, uint16_t major, const char *sup1, const char *sup2)
{
	struct installed	*in;

	in = calloc(1, sizeof(*in));
	in->id = strdup(id);
	in->has_version = 1;
	in->major = major;
	if (sup1 != NULL)
		add(&in->supersedes, sup1);
	if (sup2 != NULL)
		add(&in->supersedes, sup2);
	return (in);
}

static void
inst_free(struct installed *in, size_t n)
{
	CU_ASSERT_EQUAL(n, 1);
	free(in->id);
	pkg_field_list_free(&in->supersedes);
	free(in);
}

/* P11: SP3 (base SP1, supersedes SP1 and SP2) on various machines. */
static void
test_base_sp_and_supersedes(void)
{
	struct pkg_manifest	 m;
	struct facts		 f;
	struct installed	*sp1, *sp2, *sp3;
	char			 why[512];

	debian_facts(&f);
	pkg_manifest_init(&m);
	strcpy(m.id, "SP3");
	m.type = PKG_SERVICEPACK;
	m.has_version = 1;
	m.major = 3;
	strcpy(m.base_sp, "SP1");
	add(&m.supersedes, "SP1");
	add(&m.supersedes, "SP2");

	/* Nothing installed: it needs its predecessor first. */
	CU_ASSERT(applic_check(&m, &f, NULL, 0, why, sizeof(why)) == 0);
	CU_ASSERT(strncmp(why, "base_sp: ", 9) == 0);
	CU_ASSERT(strstr(why, "'SP1'") != NULL);
	sp1 = inst_one("SP1", 1, NULL, NULL);
	CU_ASSERT(applic_check(&m, &f, sp1, 1, why, sizeof(why)) == 1);
	/* SP2 supersedes SP1, so a machine with only SP2 qualifies too. */
	sp2 = inst_one("SP2", 2, "SP1", NULL);
	CU_ASSERT(applic_check(&m, &f, sp2, 1, why, sizeof(why)) == 1);
	/* A machine that has SP4 (superseding SP3) does not take SP3. */
	sp3 = inst_one("SP4", 4, "SP3", "SP2");
	CU_ASSERT(applic_check(&m, &f, sp3, 1, why, sizeof(why)) == 0);
	CU_ASSERT(strncmp(why, "supersedes: ", 12) == 0);
	CU_ASSERT(strstr(why, "'SP4'") != NULL);
	/* SP2 stands for SP1 in a condition too. */
	pkg_manifest_free(&m);
	pkg_manifest_init(&m);
	strcpy(m.id, "HF9");
	require(&m, "pkg.SP1 >= 1.5");
	CU_ASSERT(applic_check(&m, &f, sp2, 1, why, sizeof(why)) == 1);
	CU_ASSERT(applic_check(&m, &f, NULL, 0, why, sizeof(why)) == 0);
	require(&m, "not pkg.SP1 exists");
	CU_ASSERT(applic_check(&m, &f, sp2, 1, why, sizeof(why)) == 0);
	CU_ASSERT(strstr(why, "pkg.SP1 is superseded by an installed "
	    "package") != NULL);
	inst_free(sp1, 1);
	inst_free(sp2, 1);
	inst_free(sp3, 1);
	pkg_manifest_free(&m);
	facts_free(&f);
}

static void
test_no_downgrade(void)
{
	struct pkg_manifest	 m;
	struct facts		 f;
	struct installed	*in;
	char			 why[512];

	debian_facts(&f);
	pkg_manifest_init(&m);
	strcpy(m.id, "APP");
	m.has_version = 1;
	m.major = 2;
	m.minor = 1;
	in = inst_one("APP", 2, NULL, NULL);
	in->minor = 5;
	CU_ASSERT(applic_check(&m, &f, in, 1, why, sizeof(why)) == 0);
	CU_ASSERT(strncmp(why, "version: ", 9) == 0);
	CU_ASSERT(strstr(why, "2.1 is lower than the installed 2.5") != NULL);
	m.minor = 5;	/* the same version may be applied again */
	CU_ASSERT(applic_check(&m, &f, in, 1, why, sizeof(why)) == 1);
	m.major = 3;
	m.minor = 0;
	CU_ASSERT(applic_check(&m, &f, in, 1, why, sizeof(why)) == 1);
	inst_free(in, 1);
	pkg_manifest_free(&m);
	facts_free(&f);
}

/*
 * Issue #12 finding 8: the high-water mark.  Below it is refused, so is a
 * manifest without a version once a versioned one ran, and the same
 * version again unless the package is idempotent; applic_check alone let
 * all three through (the installed row may be gone, superseded, or never
 * written for a package that failed).
 */
static void
test_high_water_mark(void)
{
	static const struct {
		int		 has_version, major, minor, flags;
		int		 ok;
		const char	*why;
	} cases[] = {
		{ 0, 0, 0, 0, 0, "'APP' carries no version, but version 2.5 "
		    "of it has run here" },
		{ 1, 2, 1, 0, 0, "'APP' 2.1 is lower than 2.5, which has run "
		    "here" },
		{ 1, 1, 9, 0, 0, "lower than 2.5" },
		{ 1, 2, 5, 0, 0, "has run here already; only a package built "
		    "with --idempotent" },
		{ 1, 2, 5, PKG_F_IDEMPOTENT, 1, NULL },
		{ 1, 2, 6, 0, 1, NULL },
		{ 1, 3, 0, 0, 1, NULL },
	};
	struct pkg_manifest	 m;
	struct pkg_mark		 mark = { 1, 2, 5, 9 };
	struct pkg_mark		 unversioned = { 0, 0, 0, 9 };
	char			 why[512];
	size_t			 i;

	pkg_manifest_init(&m);
	strcpy(m.id, "APP");
	/* Never ran here, or only without a version: anything goes. */
	CU_ASSERT(applic_mark_check(&m, NULL, why, sizeof(why)) == 1);
	CU_ASSERT(applic_mark_check(&m, &unversioned, why, sizeof(why)) == 1);
	/* Where 2.5 ran. */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		m.has_version = cases[i].has_version;
		m.major = (uint16_t)cases[i].major;
		m.minor = (uint16_t)cases[i].minor;
		m.flags = (uint8_t)cases[i].flags;
		CU_ASSERT(applic_mark_check(&m, &mark, why, sizeof(why)) ==
		    cases[i].ok);
		if (cases[i].why != NULL)
			CU_ASSERT(strstr(why, cases[i].why) != NULL);
	}
	pkg_manifest_free(&m);
}

static void
write_file(const char *path, const char *text)
{
	FILE	*fp;

	CU_ASSERT_FATAL((fp = fopen(path, "w")) != NULL);
	fputs(text, fp);
	fclose(fp);
}

/* Facts from the files of a fake root, as facts_system reads them. */
static void
test_facts_files(void)
{
	struct facts	f;
	char		root[] = "/tmp/test_applic.XXXXXX", path[256];

	CU_ASSERT_FATAL(mkdtemp(root) != NULL);
	snprintf(path, sizeof(path), "%s/etc", root);
	CU_ASSERT_FATAL(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/etc/default", root);
	CU_ASSERT_FATAL(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/etc/os-release", root);
	write_file(path, "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
	    "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n"
	    "# a comment\nID=debian\nVERSION_CODENAME='bookworm'\n"
	    "HOME_URL=\"https://www.debian.org/\"\n");
	snprintf(path, sizeof(path), "%s/etc/default/locale", root);
	write_file(path, "#  File generated by update-locale\n"
	    "LANG=\"fr_FR.UTF-8\"\n");
	facts_init(&f);
	facts_system(&f, root);
	CU_ASSERT_STRING_EQUAL(facts_get(&f, "os.id"), "debian");
	CU_ASSERT_STRING_EQUAL(facts_get(&f, "os.version_id"), "12");
	CU_ASSERT_STRING_EQUAL(facts_get(&f, "os.name"),
	    "Debian GNU/Linux 12 (bookworm)");
	CU_ASSERT_STRING_EQUAL(facts_get(&f, "os.codename"), "bookworm");
	CU_ASSERT_STRING_EQUAL(facts_get(&f, "lang"), "fr_FR.UTF-8");
	CU_ASSERT(facts_get(&f, "kernel") != NULL);
	CU_ASSERT(facts_get(&f, "arch") != NULL);
	CU_ASSERT(facts_get(&f, "HOME_URL") == NULL);
	CU_ASSERT(facts_get(&f, "os.home_url") == NULL);
	/* LC_ALL wins over LANG. */
	write_file(path, "LANG=fr_FR.UTF-8\nLC_ALL=de_DE.UTF-8\n");
	CU_ASSERT(facts_locale(&f, root) == 0);
	CU_ASSERT_STRING_EQUAL(facts_get(&f, "lang"), "de_DE.UTF-8");
	facts_free(&f);
	snprintf(path, sizeof(path), "rm -rf %s", root);
	CU_ASSERT(system(path) == 0);
}

/* facts_command output: good lines in, bad ones and overrides out. */
static void
test_facts_parse(void)
{
	struct facts	f, g;
	static const char out[] =
	    "CSDVersion=Service Pack 2\n"
	    "# comment\n"
	    "\n"
	    "  dell.bios = 2.3.1  \r\n"
	    "bad key=1\n"
	    "os.id=windows\n"
	    "noequals\n"
	    "empty=\n"
	    "last=no newline";
	size_t		n;

	facts_init(&f);
	CU_ASSERT(facts_set(&f, "os.id", "debian") == 0);
	n = facts_parse(&f, out, sizeof(out) - 1, "test");
	CU_ASSERT_EQUAL(n, 4);
	CU_ASSERT_STRING_EQUAL(facts_get(&f, "CSDVersion"), "Service Pack 2");
	CU_ASSERT_STRING_EQUAL(facts_get(&f, "dell.bios"), "2.3.1");
	CU_ASSERT_STRING_EQUAL(facts_get(&f, "os.id"), "debian");
	CU_ASSERT_STRING_EQUAL(facts_get(&f, "empty"), "");
	CU_ASSERT_STRING_EQUAL(facts_get(&f, "last"), "no newline");
	CU_ASSERT(facts_get(&f, "bad key") == NULL);
	/* Sorted, so that equal sets compare equal whatever the order. */
	facts_init(&g);
	CU_ASSERT(facts_set(&g, "last", "no newline") == 0);
	CU_ASSERT(facts_set(&g, "empty", "") == 0);
	CU_ASSERT(facts_set(&g, "os.id", "debian") == 0);
	CU_ASSERT(facts_set(&g, "dell.bios", "2.3.1") == 0);
	CU_ASSERT(!facts_equal(&f, &g));
	CU_ASSERT(facts_set(&g, "CSDVersion", "Service Pack 2") == 0);
	CU_ASSERT(facts_equal(&f, &g));
	CU_ASSERT(facts_set(&g, "last", "changed") == 0);
	CU_ASSERT(!facts_equal(&f, &g));
	/* Limits. */
	CU_ASSERT(facts_set(&g, "x", "a\001b") == -1);
	CU_ASSERT(facts_set(&g, "", "v") == -1);
	CU_ASSERT(facts_set(&g, "a/b", "v") == -1);
	facts_free(&f);
	facts_free(&g);
}

int
main(void)
{
	CU_TestInfo	tests[] = {
		{ "os matching", test_os_match },
		{ "language matching", test_lang_match },
		{ "os and language lists", test_os_and_lang_lists },
		{ "requires conditions", test_requires },
		{ "base sp and supersedes", test_base_sp_and_supersedes },
		{ "any and not", test_any_not },
		{ "conditions refused", test_cond_refused },
		{ "no downgrade", test_no_downgrade },
		{ "high-water mark (#12)", test_high_water_mark },
		{ "facts from files", test_facts_files },
		{ "facts_command output", test_facts_parse },
		CU_TEST_INFO_NULL,
	};

	return (unit_main("applic", tests));
}
