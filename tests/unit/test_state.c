/*
 * Tests for the agent's database: a run stored and loaded field for field,
 * updates that survive a reopen, installed packages, meta keys, a refused
 * write on a full disk that leaves the earlier state whole, and a schema
 * from a newer agent that is left untouched.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "unit_state.h"

static struct run_rec *
make_run(uint64_t id, size_t npkgs, size_t mlen)
{
	struct run_rec	*r;
	size_t		 i;
	char		 buf[32];

	r = calloc(1, sizeof(*r));
	r->run_id = id;
	r->scenario = strdup("sp2-rollout");
	r->path = 0;
	r->addr = strdup("239.192.56.7");
	r->port = 56001;
	memset(r->key, 0xab, sizeof(r->key));
	r->options = 0x09;
	r->state = RUN_ASSIGNED;
	r->message = strdup("");
	r->created_at = 1700000000;
	r->updated_at = 1700000000;
	r->npkgs = npkgs;
	r->pkgs = calloc(npkgs, sizeof(*r->pkgs));
	for (i = 0; i < npkgs; i++) {
		snprintf(buf, sizeof(buf), "PKG%zu", i);
		r->pkgs[i].id = strdup(buf);
		r->pkgs[i].size = 1000 + i;
		memset(r->pkgs[i].sha256, (int)i + 1, SHA256_LEN);
		r->pkgs[i].manifest_len = mlen;
		r->pkgs[i].manifest = malloc(mlen);
		memset(r->pkgs[i].manifest, 'm', mlen);
		r->pkgs[i].message = strdup("");
		r->pkgs[i].output = strdup("");
	}
	return (r);
}

static void
test_run_roundtrip(void)
{
	struct state	*st = unit_state_fresh("test_state");
	struct run_rec	*r, *l;
	char		 err[512];
	uint64_t	*ids;
	size_t		 n;

	/* Ids use the whole 64 bits. */
	r = make_run(0xfedcba9876543210ULL, 2, 300);
	CU_ASSERT_FATAL(state_run_insert(st, r, err, sizeof(err)) == 0);
	CU_ASSERT(state_run_insert(st, r, err, sizeof(err)) == -1);
	r->state = RUN_RUNNING;
	r->pkg_index = 1;
	r->pkgs[0].state = RUN_P_SUCCEEDED;
	r->pkgs[0].has_exit = 1;
	r->pkgs[0].exit_status = -3;
	free(r->pkgs[0].output);
	r->pkgs[0].output = strdup("line 1\nline 2\n");
	r->pkgs[1].state = RUN_P_RUNNING;
	r->pkgs[1].bytes = 5000000000ULL;
	CU_ASSERT(state_run_update(st, r, err, sizeof(err)) == 0);

	st = unit_state_reopen(st);
	CU_ASSERT_FATAL(state_run_load(st, r->run_id, &l, err,
	    sizeof(err)) == 0);
	CU_ASSERT_FATAL(l != NULL);
	CU_ASSERT_EQUAL(l->run_id, 0xfedcba9876543210ULL);
	CU_ASSERT_STRING_EQUAL(l->scenario, "sp2-rollout");
	CU_ASSERT_STRING_EQUAL(l->addr, "239.192.56.7");
	CU_ASSERT_EQUAL(l->port, 56001);
	CU_ASSERT(memcmp(l->key, r->key, sizeof(r->key)) == 0);
	CU_ASSERT_EQUAL(l->options, 0x09);
	CU_ASSERT_EQUAL(l->state, RUN_RUNNING);
	CU_ASSERT_EQUAL(l->pkg_index, 1);
	CU_ASSERT_EQUAL_FATAL(l->npkgs, 2);
	CU_ASSERT_STRING_EQUAL(l->pkgs[1].id, "PKG1");
	CU_ASSERT_EQUAL(l->pkgs[1].size, 1001);
	CU_ASSERT_EQUAL(l->pkgs[1].sha256[0], 2);
	CU_ASSERT_EQUAL(l->pkgs[1].manifest_len, 300);
	CU_ASSERT_EQUAL(l->pkgs[1].manifest[299], 'm');
	CU_ASSERT_EQUAL(l->pkgs[1].bytes, 5000000000ULL);
	CU_ASSERT_EQUAL(l->pkgs[0].state, RUN_P_SUCCEEDED);
	CU_ASSERT_EQUAL(l->pkgs[0].exit_status, -3);
	CU_ASSERT_STRING_EQUAL(l->pkgs[0].output, "line 1\nline 2\n");
	/* A run from before member keys: none, session not told. */
	CU_ASSERT_EQUAL(l->member_id, 0);
	CU_ASSERT_EQUAL(l->session, 0);
	CU_ASSERT(l->invalid == NULL);
	state_run_free(l);

	CU_ASSERT(state_run_ids(st, 0, &ids, &n, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(n, 1);
	free(ids);
	r->state = RUN_DONE;
	CU_ASSERT(state_run_update(st, r, err, sizeof(err)) == 0);
	CU_ASSERT(state_run_ids(st, 0, &ids, &n, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(n, 0);
	free(ids);
	CU_ASSERT(state_run_ids(st, 1, &ids, &n, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(n, 1);
	free(ids);
	CU_ASSERT(state_run_delete(st, r->run_id, err, sizeof(err)) == 0);
	CU_ASSERT(state_run_load(st, r->run_id, &l, err, sizeof(err)) == 0);
	CU_ASSERT(l == NULL);
	/* An update of a run that is not stored is an error. */
	CU_ASSERT(state_run_update(st, r, err, sizeof(err)) == -1);
	state_run_free(r);
	state_close(st);
}

static void
test_installed_and_meta(void)
{
	struct state		*st = unit_state_fresh("test_state");
	struct pkg_manifest	 m;
	struct installed	*in;
	char			 err[512], *v, *sup[] = { "SP1", "SP2" };
	size_t			 n;

	memset(&m, 0, sizeof(m));
	strcpy(m.id, "SP3");
	m.has_version = 1;
	m.major = 3;
	m.supersedes.v = sup;
	m.supersedes.n = 2;
	CU_ASSERT(state_installed_add(st, &m, 42, err, sizeof(err)) == 0);
	m.major = 4;
	CU_ASSERT(state_installed_add(st, &m, 43, err, sizeof(err)) == 0);
	CU_ASSERT(state_installed_list(st, &in, &n, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_STRING_EQUAL(in[0].id, "SP3");
	CU_ASSERT_EQUAL(in[0].major, 4);
	CU_ASSERT_EQUAL(in[0].run_id, 43);
	CU_ASSERT_EQUAL_FATAL(in[0].supersedes.n, 2);
	CU_ASSERT_STRING_EQUAL(in[0].supersedes.v[1], "SP2");
	state_installed_free(in, n);

	CU_ASSERT(state_meta_get(st, "hook", &v, err, sizeof(err)) == 0);
	CU_ASSERT(v == NULL);
	CU_ASSERT(state_meta_set(st, "hook", "reboot b1", err,
	    sizeof(err)) == 0);
	CU_ASSERT(state_meta_get(st, "hook", &v, err, sizeof(err)) == 0);
	CU_ASSERT(v != NULL && strcmp(v, "reboot b1") == 0);
	free(v);
	CU_ASSERT(state_meta_set(st, "hook", NULL, err, sizeof(err)) == 0);
	CU_ASSERT(state_meta_get(st, "hook", &v, err, sizeof(err)) == 0);
	CU_ASSERT(v == NULL);
	state_close(st);
}

/*
 * A full disk (SQLite's page limit stands in for it): the insert fails
 * with a sentence that says "disk full", and the earlier run is intact,
 * also after a reopen.
 */
static void
test_full_disk(void)
{
	struct state	*st = unit_state_fresh("test_state");
	struct run_rec	*a, *b, *l;
	char		 err[512];

	a = make_run(1, 1, 100);
	CU_ASSERT_FATAL(state_run_insert(st, a, err, sizeof(err)) == 0);
	CU_ASSERT(sqlite3_exec(state_db(st), "PRAGMA max_page_count = 1",
	    NULL, NULL, NULL) == SQLITE_OK);
	b = make_run(2, 3, 200000);
	CU_ASSERT(state_run_insert(st, b, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "disk full") != NULL);
	CU_ASSERT(strstr(err, "agent.db") != NULL);
	/* Nothing of the failed run is left half-written. */
	CU_ASSERT(state_run_load(st, 2, &l, err, sizeof(err)) == 0);
	CU_ASSERT(l == NULL);
	a->state = RUN_READY;
	CU_ASSERT(state_run_update(st, a, err, sizeof(err)) == 0);
	st = unit_state_reopen(st);
	CU_ASSERT(state_run_load(st, 1, &l, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(l != NULL);
	CU_ASSERT_EQUAL(l->state, RUN_READY);
	CU_ASSERT_EQUAL(l->npkgs, 1);
	state_run_free(l);
	state_run_free(a);
	state_run_free(b);
	state_close(st);
}

/*
 * Issue #12 finding 6: rows that break a rule (written here with sqlite3,
 * as a disk error or a hand edit would leave them) load as a run marked
 * invalid with the rule named, made harmless: no package index past the
 * packages, no options, every state in range.  A RECEIVING run without
 * package rows crash-looped the agent (xcalloc: zero size).
 */
static void
corrupt_case(const char *sql, const char *want)
{
	struct state	*st = unit_state_fresh("test_state");
	struct run_rec	*r, *l;
	char		 err[512];

	r = make_run(42, 2, 100);
	r->state = RUN_RECEIVING;
	r->pkg_index = 1;
	r->options = 0x0f;
	CU_ASSERT_FATAL(state_run_insert(st, r, err, sizeof(err)) == 0);
	state_run_free(r);
	CU_ASSERT_FATAL(sqlite3_exec(state_db(st), sql, NULL, NULL, NULL) ==
	    SQLITE_OK);
	st = unit_state_reopen(st);
	CU_ASSERT_FATAL(state_run_load(st, 42, &l, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(l != NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l->invalid);
	if (strstr(l->invalid, want) == NULL)
		fprintf(stderr, "\n%s: got '%s'\n", sql, l->invalid);
	CU_ASSERT(strstr(l->invalid, want) != NULL);
	CU_ASSERT(strncmp(l->invalid, "state_dir: run 42: ", 19) == 0);
	CU_ASSERT(l->npkgs == 0 || l->pkg_index < l->npkgs);
	CU_ASSERT(l->npkgs <= 2);
	CU_ASSERT_EQUAL(l->options, 0);
	CU_ASSERT(l->state >= RUN_ASSIGNED && l->state <= RUN_DONE);
	CU_ASSERT(l->outcome >= 0 && l->outcome <= CTL_RS_MAX);
	/* What is marked invalid can still be written back (finished). */
	l->state = RUN_FINISHED;
	CU_ASSERT(state_run_update(st, l, err, sizeof(err)) == 0);
	state_run_free(l);
	state_close(st);
}

static void
test_corrupt_rows(void)
{
	struct state	*st = unit_state_fresh("test_state");
	struct run_rec	*r, *l;
	char		 err[512];

	/* A sound run loads with nothing to say. */
	r = make_run(7, 2, 100);
	r->state = RUN_RECEIVING;
	CU_ASSERT_FATAL(state_run_insert(st, r, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(state_run_load(st, 7, &l, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(l != NULL);
	CU_ASSERT_PTR_NULL(l->invalid);
	CU_ASSERT_EQUAL(l->npkgs, 2);
	state_run_free(l);
	state_run_free(r);
	state_close(st);

	corrupt_case("DELETE FROM run_pkgs", "no package rows");
	corrupt_case("UPDATE runs SET pkg_index = 7", "pkg_index 7 is past");
	corrupt_case("UPDATE runs SET pkg_index = 70000", "pkg_index: 70000");
	corrupt_case("UPDATE runs SET pkg_index = -1", "pkg_index: -1");
	corrupt_case("UPDATE runs SET state = 99", "state: 99");
	corrupt_case("UPDATE runs SET path = 'x'", "path: not an integer");
	corrupt_case("UPDATE runs SET port = 70000", "port: 70000");
	corrupt_case("UPDATE runs SET key = x'0102'", "key: 2 bytes");
	corrupt_case("UPDATE runs SET options = 255", "options: 255");
	corrupt_case("UPDATE runs SET outcome = 50", "outcome: 50");
	corrupt_case("UPDATE runs SET reported = 2", "reported: 2");
	corrupt_case("UPDATE run_pkgs SET state = 42 WHERE idx = 1",
	    "run_pkgs row broken: state: 42");
	corrupt_case("UPDATE run_pkgs SET idx = 5 WHERE idx = 1", "idx: 5");
	corrupt_case("UPDATE run_pkgs SET pkg_id = 'a b' WHERE idx = 0",
	    "pkg_id");
	corrupt_case("UPDATE run_pkgs SET size = 0", "size: 0");
	corrupt_case("UPDATE run_pkgs SET sha256 = x'00'", "sha256: 1 bytes");
	corrupt_case("UPDATE run_pkgs SET signature = 'sig'",
	    "signature: not a blob");
	corrupt_case("UPDATE run_pkgs SET manifest = x''", "manifest: 0 bytes");
	corrupt_case("UPDATE run_pkgs SET has_exit = 3", "has_exit: 3");
}

/*
 * Issue #12 finding 8: the per-package high-water mark only goes up,
 * survives a restart, and the migration to schema 2 seeds it from what
 * is installed.
 */
static void
test_marks(void)
{
	struct state		*st = unit_state_fresh("test_state");
	struct pkg_manifest	 m;
	struct pkg_mark		 mark;
	char			 err[512];
	int			 found;

	pkg_manifest_init(&m);
	strcpy(m.id, "APP");
	CU_ASSERT(state_mark_get(st, "APP", &mark, &found, err,
	    sizeof(err)) == 0);
	CU_ASSERT_EQUAL(found, 0);
	m.has_version = 1;
	m.major = 2;
	m.minor = 5;
	CU_ASSERT(state_mark_raise(st, &m, 11, err, sizeof(err)) == 0);
	/* Lower, or without a version: the mark stays. */
	m.minor = 1;
	CU_ASSERT(state_mark_raise(st, &m, 12, err, sizeof(err)) == 0);
	m.has_version = 0;
	CU_ASSERT(state_mark_raise(st, &m, 13, err, sizeof(err)) == 0);
	st = unit_state_reopen(st);
	CU_ASSERT(state_mark_get(st, "APP", &mark, &found, err,
	    sizeof(err)) == 0);
	CU_ASSERT(found && mark.has_version && mark.major == 2 &&
	    mark.minor == 5 && mark.run_id == 11);
	/* Higher: raised. */
	m.has_version = 1;
	m.major = 3;
	m.minor = 0;
	CU_ASSERT(state_mark_raise(st, &m, 14, err, sizeof(err)) == 0);
	CU_ASSERT(state_mark_get(st, "APP", &mark, &found, err,
	    sizeof(err)) == 0);
	CU_ASSERT(found && mark.major == 3 && mark.minor == 0 &&
	    mark.run_id == 14);
	/* A broken mark holds at its highest. */
	CU_ASSERT(sqlite3_exec(state_db(st), "UPDATE marks SET major = 'x'",
	    NULL, NULL, NULL) == SQLITE_OK);
	CU_ASSERT(state_mark_get(st, "APP", &mark, &found, err,
	    sizeof(err)) == 0);
	CU_ASSERT(found && mark.has_version && mark.major == UINT16_MAX);

	/* Schema 1 with installed packages: schema 2 starts from them. */
	CU_ASSERT(sqlite3_exec(state_db(st), "DROP TABLE marks; "
	    "ALTER TABLE runs DROP COLUMN member_id; "
	    "ALTER TABLE runs DROP COLUMN member_key; "
	    "ALTER TABLE runs DROP COLUMN session; "
	    "PRAGMA user_version = 1; INSERT INTO installed (pkg_id, "
	    "has_version, major, minor, supersedes, run_id, installed_at) "
	    "VALUES ('SP', 1, 4, 2, '', 77, 1700000000)", NULL, NULL,
	    NULL) == SQLITE_OK);
	st = unit_state_reopen(st);
	CU_ASSERT(state_mark_get(st, "SP", &mark, &found, err,
	    sizeof(err)) == 0);
	CU_ASSERT(found && mark.has_version && mark.major == 4 &&
	    mark.minor == 2 && mark.run_id == 77);
	pkg_manifest_free(&m);
	state_close(st);
}

/* A database from a newer agent is refused, not "migrated" backwards. */
/*
 * Issue #12: the member id and key of ASSIGN and the session of START are
 * stored with the run and survive a restart; a new path clears the
 * session (START tells the new one); a member id without its key is a
 * broken row.
 */
static void
test_member_session(void)
{
	struct state	*st = unit_state_fresh("test_state");
	struct run_rec	*r, *l;
	char		 err[512];

	r = make_run(42, 1, 10);
	r->member_id = 0x8000000000000001ULL;
	memset(r->member_key, 0x6b, sizeof(r->member_key));
	CU_ASSERT_FATAL(state_run_insert(st, r, err, sizeof(err)) == 0);
	r->session = 0xfffffffffffffff0ULL;
	CU_ASSERT(state_run_update(st, r, err, sizeof(err)) == 0);
	st = unit_state_reopen(st);
	CU_ASSERT_FATAL(state_run_load(st, 42, &l, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(l != NULL);
	CU_ASSERT(l->invalid == NULL);
	CU_ASSERT_EQUAL(l->member_id, 0x8000000000000001ULL);
	CU_ASSERT(memcmp(l->member_key, r->member_key,
	    sizeof(r->member_key)) == 0);
	CU_ASSERT_EQUAL(l->session, 0xfffffffffffffff0ULL);
	state_run_free(l);
	/* Moved to unicast: the multicast session is not the new one. */
	r->session = 0;
	r->path = CTL_PATH_UNICAST;
	CU_ASSERT(state_run_set_path(st, r, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(state_run_load(st, 42, &l, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(l->session, 0);
	CU_ASSERT_EQUAL(l->member_id, 0x8000000000000001ULL);
	state_run_free(l);
	/* A member id whose key went missing. */
	CU_ASSERT(sqlite3_exec(state_db(st), "UPDATE runs SET member_key = "
	    "x'00' WHERE run_id = 42", NULL, NULL, NULL) == SQLITE_OK);
	CU_ASSERT_FATAL(state_run_load(st, 42, &l, err, sizeof(err)) == 0);
	CU_ASSERT_FATAL(l != NULL && l->invalid != NULL);
	CU_ASSERT(strstr(l->invalid, "member_key") != NULL);
	state_run_free(l);
	state_run_free(r);
	state_close(st);
}

static void
test_newer_schema(void)
{
	struct state	*st = unit_state_fresh("test_state");
	char		 err[512];

	CU_ASSERT(sqlite3_exec(state_db(st), "PRAGMA user_version = 999",
	    NULL, NULL, NULL) == SQLITE_OK);
	state_close(st);
	CU_ASSERT(state_open(&st, unit_dir, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "newer") != NULL);
}

/* The state directory and staging area are made private to root. */
static void
test_modes(void)
{
	struct state	*st = unit_state_fresh("test_state");
	struct stat	 sb;
	const char	*path;
	char		 err[512];

	state_close(st);
	CU_ASSERT(chmod(unit_dir, 0755) == 0);
	CU_ASSERT_FATAL(state_open(&st, unit_dir, err, sizeof(err)) == 0);
	CU_ASSERT(stat(unit_dir, &sb) == 0 && (sb.st_mode & 077) == 0);
	path = unit_path("staging");
	CU_ASSERT(stat(path, &sb) == 0 && (sb.st_mode & 077) == 0);
	CU_ASSERT_STRING_EQUAL(state_staging(st), path);
	state_close(st);
}

int
main(void)
{
	CU_TestInfo	tests[] = {
		{ "run roundtrip", test_run_roundtrip },
		{ "installed packages and meta", test_installed_and_meta },
		{ "full disk", test_full_disk },
		{ "member key and session (#12)", test_member_session },
		{ "newer schema refused", test_newer_schema },
		{ "private modes", test_modes },
		{ "rows that break a rule (#12)", test_corrupt_rows },
		{ "high-water marks (#12)", test_marks },
		CU_TEST_INFO_NULL,
	};
	int	rv;

	rv = unit_main("state", tests);
	(void)unit_tmpdir_remove();
	return (rv);
}
