/*
 * Tests for the config parser: every type at and past its limits, file
 * errors carrying file:line, comments and quoting, command-line overrides.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "unit.h"

static const struct conf_def defs[] = {
	{ "state_dir", CONF_STRING, "/var/lib/x", 0, 0, NULL },
	{ "max_concurrent_machines", CONF_INT, "256", 1, 100000, NULL },
	{ "auto_approve", CONF_BOOL, "no", 0, 0, NULL },
	{ "control_listen", CONF_HOSTPORT, "0.0.0.0:56022", 0, 0, NULL },
	{ "on_concurrency_limit", CONF_ENUM, "queue", 0, 0, "queue|error" },
	{ "interface", CONF_STRING, NULL, 0, 0, NULL },
	{ NULL, 0, NULL, 0, 0, NULL },
};

static char	tmpfile_path[64];

static const char *
write_tmp(const char *text)
{
	FILE	*f;
	int	 fd;

	strcpy(tmpfile_path, "/tmp/fc-test-conf.XXXXXX");
	fd = mkstemp(tmpfile_path);
	CU_ASSERT_FATAL(fd != -1);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return (tmpfile_path);
}

static void
test_defaults(void)
{
	struct conf	*c = conf_new(defs);

	CU_ASSERT_STRING_EQUAL(conf_str(c, "state_dir"), "/var/lib/x");
	CU_ASSERT_EQUAL(conf_int(c, "max_concurrent_machines"), 256);
	CU_ASSERT_EQUAL(conf_bool(c, "auto_approve"), 0);
	CU_ASSERT_PTR_NULL(conf_str(c, "interface"));
	CU_ASSERT_STRING_EQUAL(conf_where(c, "state_dir"), "default");
	CU_ASSERT(conf_has_key(c, "auto_approve"));
	CU_ASSERT(!conf_has_key(c, "nope"));
	conf_free(c);
}

static void
test_file(void)
{
	struct conf	*c = conf_new(defs);
	char		 err[512];
	const char	*p;

	p = write_tmp("# a comment\n\n  state_dir = /srv/fc   # trailing\n"
	    "max_concurrent_machines=100000\nauto_approve = YES\n"
	    "interface = \"eth0 # not a comment\"\n"
	    "on_concurrency_limit = error\ncontrol_listen = [::1]:1\n");
	CU_ASSERT(conf_load(c, p, err, sizeof(err)) == 0);
	CU_ASSERT_STRING_EQUAL(conf_str(c, "state_dir"), "/srv/fc");
	CU_ASSERT_EQUAL(conf_int(c, "max_concurrent_machines"), 100000);
	CU_ASSERT_EQUAL(conf_bool(c, "auto_approve"), 1);
	CU_ASSERT_STRING_EQUAL(conf_str(c, "interface"),
	    "eth0 # not a comment");
	CU_ASSERT_STRING_EQUAL(conf_str(c, "on_concurrency_limit"), "error");
	unlink(p);
	conf_free(c);
}

/* Load text that must fail; the error must contain want. */
static void
expect_fail(const char *text, const char *want)
{
	struct conf	*c = conf_new(defs);
	char		 err[512] = "", expect[256];
	const char	*p;

	p = write_tmp(text);
	CU_ASSERT(conf_load(c, p, err, sizeof(err)) == -1);
	if (strstr(err, want) == NULL)
		fprintf(stderr, "\n  error '%s' lacks '%s'\n", err, want);
	CU_ASSERT(strstr(err, want) != NULL);
	/* Every file error starts with the file name. */
	snprintf(expect, sizeof(expect), "%s:", p);
	CU_ASSERT(strncmp(err, expect, strlen(expect)) == 0);
	unlink(p);
	conf_free(c);
}

static void
test_file_errors(void)
{
	expect_fail("state_dir = /a\nbogus = 1\n", ":2: unknown key 'bogus'");
	expect_fail("\n\nstate_dir\n", ":3: expected 'key = value'");
	expect_fail("max_concurrent_machines = 0\n",
	    ":1: max_concurrent_machines: 0 is out of range (1 to 100000)");
	expect_fail("max_concurrent_machines = 100001\n", "out of range");
	expect_fail("max_concurrent_machines = 12x\n",
	    "'12x' is not a whole number");
	expect_fail("max_concurrent_machines = 99999999999999999999\n",
	    "is not a whole number");
	expect_fail("auto_approve = maybe\n",
	    "auto_approve: 'maybe' is not yes or no");
	expect_fail("control_listen = 1.2.3.4\n", "is not host:port");
	expect_fail("control_listen = 1.2.3.4:0\n", "is not host:port");
	expect_fail("control_listen = 1.2.3.4:65536\n", "is not host:port");
	expect_fail("control_listen = :80\n", "is not host:port");
	expect_fail("on_concurrency_limit = drop\n",
	    "'drop' is not one of queue|error");
	expect_fail("state_dir = \"/a\n", "unterminated quote");
	expect_fail("state_dir = \"/a\" b\n", "text after the closing quote");
	expect_fail("state_dir =\n", "state_dir: empty value");
	expect_fail("state_dir = /a\nstate_dir = /b\n",
	    ":2: state_dir: set twice (first on line 1)");
}

static void
test_missing_file(void)
{
	struct conf	*c = conf_new(defs);
	char		 err[512];

	CU_ASSERT(conf_load(c, "/nonexistent/fc.conf", err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "/nonexistent/fc.conf: No such file") != NULL);
	conf_free(c);
}

static void
test_args(void)
{
	struct conf	*c = conf_new(defs);
	char		 err[512];
	char		*ok[] = { "--state_dir", "/tmp/s", "--auto_approve=yes",
	    "--control_listen", "127.0.0.1:9" };
	char		*bad1[] = { "--nope", "1" };
	char		*bad2[] = { "--max_concurrent_machines", "-1" };
	char		*bad3[] = { "--state_dir" };
	char		*bad4[] = { "state_dir", "x" };

	CU_ASSERT(conf_args(c, 5, ok, err, sizeof(err)) == 0);
	CU_ASSERT_STRING_EQUAL(conf_str(c, "state_dir"), "/tmp/s");
	CU_ASSERT_STRING_EQUAL(conf_where(c, "state_dir"), "--state_dir");
	CU_ASSERT_EQUAL(conf_bool(c, "auto_approve"), 1);
	CU_ASSERT(conf_args(c, 2, bad1, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "--nope: unknown key 'nope'") != NULL);
	CU_ASSERT(conf_args(c, 2, bad2, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "--max_concurrent_machines: "
	    "max_concurrent_machines: -1 is out of range") != NULL);
	CU_ASSERT(conf_args(c, 1, bad3, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "--state_dir: needs a value") != NULL);
	CU_ASSERT(conf_args(c, 2, bad4, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "unexpected argument 'state_dir'") != NULL);
	/* A failed override leaves the earlier value in place. */
	CU_ASSERT_EQUAL(conf_int(c, "max_concurrent_machines"), 256);
	conf_free(c);
}

static void
test_hostport(void)
{
	char		*h;
	uint16_t	 p;

	CU_ASSERT(parse_hostport("239.1.2.3:56001", &h, &p) == 0);
	CU_ASSERT_STRING_EQUAL(h, "239.1.2.3");
	CU_ASSERT_EQUAL(p, 56001);
	free(h);
	CU_ASSERT(parse_hostport("[ff15::1]:65535", &h, &p) == 0);
	CU_ASSERT_STRING_EQUAL(h, "ff15::1");
	CU_ASSERT_EQUAL(p, 65535);
	free(h);
	CU_ASSERT(parse_hostport("host:", NULL, NULL) == -1);
	CU_ASSERT(parse_hostport("[ff15::1]65535", NULL, NULL) == -1);
	CU_ASSERT(parse_hostport("h:1x", NULL, NULL) == -1);
}

static void
test_rate(void)
{
	static const struct {
		const char	*s;
		uint64_t	 bytes;
	} ok[] = {
		{ "auto", 0 },
		{ "8000", 1000 },
		{ "8k", 1000 },
		{ "500m", 62500000 },
		{ "500M", 62500000 },
		{ "500mbit", 62500000 },
		{ "2.5G", 312500000 },
		{ "1gbit/s", 125000000 },
		{ "10Gbps", 1250000000 },
		{ "1T", 125000000000ULL },
		{ "1000T", 125000000000000ULL },
	};
	static const char *bad[] = {
		"", "fast", "-1G", "0", "7999", "1001T", "1x", "1Gbits", "1 G",
		"0x10G", "inf", "nan", "1e9", ".", "G", "1.2.3M", "AUTO",
	};
	char		 err[256];
	uint64_t	 b;
	size_t		 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		b = 12345;
		CU_ASSERT_EQUAL_FATAL(parse_rate(ok[i].s, &b, err,
		    sizeof(err)), 0);
		CU_ASSERT_EQUAL(b, ok[i].bytes);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(parse_rate(bad[i], &b, err, sizeof(err)), -1);
		CU_ASSERT(strstr(err, "bits per second") != NULL);
	}
}

static CU_TestInfo tests[] = {
	{ "defaults", test_defaults },
	{ "file", test_file },
	{ "file errors name file:line and rule", test_file_errors },
	{ "missing file", test_missing_file },
	{ "--key value overrides", test_args },
	{ "host:port", test_hostport },
	{ "bit rates", test_rate },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	return (unit_main("conf", tests));
}
