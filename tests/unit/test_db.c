/*
 * Tests for the server's inventory: schema creation and refusal of a newer
 * schema, persistence across close and reopen, package anti-rollback data
 * and removal rules, the enrollment states of a machine, scenarios with
 * their package references, and runs with a history row per state change,
 * first-entry times and RFC 3339 output.
 */
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "server.h"
#include "unit.h"

#define FP1	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FP2	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static char	dir[] = "/tmp/test_db.XXXXXX";
static char	path[128];

static struct db *
fresh(void)
{
	char		 err[512];
	struct db	*db;

	unlink(path);
	snprintf(err, sizeof(err), "%s-wal", path);
	unlink(err);
	snprintf(err, sizeof(err), "%s-shm", path);
	unlink(err);
	db = db_open(path, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	return (db);
}

static void
put_pkg(struct db *db, const char *id, uint16_t major, uint64_t now)
{
	uint8_t			sig[ED25519_SIG_LEN] = { 1 };
	uint8_t			sha[SHA256_LEN] = { 2 };
	char			file[128];
	struct db_package_rec	p;

	snprintf(file, sizeof(file), "packages/%s.fcpkg", id);
	memset(&p, 0, sizeof(p));
	p.id = id;
	p.type = "servicepack";
	p.urgency = "normal";
	p.has_version = 1;
	p.major = major;
	p.key_id = "0011223344556677";
	p.manifest = (const uint8_t *)"M";
	p.manifest_len = 1;
	p.signature = sig;
	p.manifest_json = "{\"id\":\"x\"}";
	p.file = file;
	p.size = 1234;
	p.sha256 = sha;
	CU_ASSERT_FATAL(db_package_put(db, &p, now) == 0);
}

static void
test_schema(void)
{
	struct db	*db;
	sqlite3		*h;
	char		 err[256];

	db = fresh();
	CU_ASSERT_EQUAL(db_schema_version(db), DB_SCHEMA_VERSION);
	db_close(db);
	/* Reopening an up-to-date database migrates nothing. */
	db = db_open(path, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(db_schema_version(db), DB_SCHEMA_VERSION);
	db_close(db);
	/* A version 1 database is migrated: the later schema appears. */
	CU_ASSERT_FATAL(sqlite3_open(path, &h) == SQLITE_OK);
	CU_ASSERT(sqlite3_exec(h, "DROP TABLE auto_attempts;"
	    "ALTER TABLE machines DROP COLUMN reenroll;"
	    "ALTER TABLE run_machines DROP COLUMN path_reason;"
	    "ALTER TABLE machines DROP COLUMN csr_fp;"
	    "DROP TABLE enroll_tokens; DROP TABLE enroll_requests;"
	    "ALTER TABLE runs DROP COLUMN feedback_key;"
	    "INSERT INTO machines (name, enroll, created_at) VALUES ('old', "
	    "'enrolled', 1); INSERT INTO machines (name, enroll, csr, "
	    "created_at) VALUES ('legacy', 'pending', 'CSR', 1); "
	    "PRAGMA user_version = 1", NULL, NULL,
	    NULL) == SQLITE_OK);
	sqlite3_close(h);
	db = db_open(path, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	CU_ASSERT_EQUAL(db_schema_version(db), DB_SCHEMA_VERSION);
	CU_ASSERT(db_machine_request(db, "old", "CSR", FP1, "10.0.0.9", 2) ==
	    0);
	/* A request from before key fingerprints cannot be approved. */
	{
		char	fp[65];
		int	status;

		CU_ASSERT(db_machine_approve(db, "legacy", NULL, 2, fp, err,
		    sizeof(err), &status) == -1);
		CU_ASSERT_EQUAL(status, 409);
		CU_ASSERT(strstr(err, "before") != NULL);
	}
	CU_ASSERT(db_auto_attempt(db, "old", "P", "b1", 0, 3) == 0);
	CU_ASSERT_EQUAL(db_auto_attempted(db, "old", "P", "b1"), 1);
	CU_ASSERT_EQUAL(db_auto_attempted(db, "old", "P", "b2"), 0);
	{
		struct db_machine	m;

		CU_ASSERT_EQUAL(db_machine_get(db, "old", &m), 1);
		CU_ASSERT_EQUAL(m.reenroll, 1);
		db_machine_clear(&m);
	}
	db_close(db);
	/* A database from a newer server is refused, not damaged. */
	CU_ASSERT_FATAL(sqlite3_open(path, &h) == SQLITE_OK);
	CU_ASSERT(sqlite3_exec(h, "PRAGMA user_version = 99", NULL, NULL,
	    NULL) == SQLITE_OK);
	sqlite3_close(h);
	CU_ASSERT_PTR_NULL(db_open(path, err, sizeof(err)));
	CU_ASSERT(strstr(err, "newer") != NULL);
}

static void
test_packages(void)
{
	struct db		*db;
	struct db_package	 p;
	struct scenario	 sc;
	int			 exists, hv, status;
	uint16_t		 ma, mi;
	char			 err[256], *file;
	json_t			*j;

	db = fresh();
	CU_ASSERT(db_package_version(db, "sp2", &exists, &hv, &ma, &mi,
	    NULL) == 0);
	CU_ASSERT_EQUAL(exists, 0);
	put_pkg(db, "sp2", 2, 1000);
	CU_ASSERT(db_package_version(db, "sp2", &exists, &hv, &ma, &mi,
	    &file) == 0);
	CU_ASSERT(exists == 1 && hv == 1 && ma == 2 && mi == 0);
	CU_ASSERT_STRING_EQUAL(file, "packages/sp2.fcpkg");
	free(file);
	CU_ASSERT_EQUAL(db_package_get(db, "sp2", &p), 1);
	CU_ASSERT_EQUAL(p.size, 1234);
	CU_ASSERT_EQUAL(p.signature[0], 1);
	CU_ASSERT_EQUAL(p.sha256[0], 2);
	CU_ASSERT_EQUAL(p.manifest_len, 1);
	CU_ASSERT_STRING_EQUAL(p.file, "packages/sp2.fcpkg");
	db_package_clear(&p);
	CU_ASSERT_EQUAL(db_package_get(db, "nope", &p), 0);

	j = db_packages_json(db, "sp2");
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j,
	    "version")), "2.0");
	CU_ASSERT_EQUAL(strlen(json_string_value(json_object_get(j,
	    "sha256"))), 64);
	CU_ASSERT(json_is_object(json_object_get(j, "manifest")));
	json_decref(j);
	CU_ASSERT_PTR_NULL(db_packages_json(db, "nope"));

	/* A package named by a scenario cannot be removed. */
	memset(&sc, 0, sizeof(sc));
	strcpy(sc.name, "s1");
	sc.packages[0] = "sp2";
	sc.npackages = 1;
	sc.max_wait = -1;
	CU_ASSERT(db_scenario_put(db, &sc, 1, err, sizeof(err),
	    &status) == 0);
	CU_ASSERT(db_package_remove(db, "sp2", err, sizeof(err),
	    &status) == -1);
	CU_ASSERT_EQUAL(status, 409);
	CU_ASSERT_STRING_EQUAL(err, "package sp2: used by 1 scenario (s1); "
	    "remove it first");
	/* Every scenario in the way is named at once. */
	strcpy(sc.name, "s0");
	CU_ASSERT(db_scenario_put(db, &sc, 1, err, sizeof(err),
	    &status) == 0);
	CU_ASSERT(db_package_remove(db, "sp2", err, sizeof(err),
	    &status) == -1);
	CU_ASSERT_STRING_EQUAL(err, "package sp2: used by 2 scenarios (s0, "
	    "s1); remove them first");
	CU_ASSERT(db_scenario_remove(db, "s0", err, sizeof(err),
	    &status) == 0);
	CU_ASSERT(db_scenario_remove(db, "s1", err, sizeof(err),
	    &status) == 0);
	CU_ASSERT(db_package_remove(db, "sp2", err, sizeof(err),
	    &status) == 0);
	CU_ASSERT(db_package_remove(db, "sp2", err, sizeof(err),
	    &status) == -1);
	CU_ASSERT_EQUAL(status, 404);
	db_close(db);
}

/* The request of name: its state, CSR and key fingerprint. */
static void
check_request(struct db *db, const char *name, enum db_enroll enroll,
    const char *csr, const char *fp)
{
	struct db_machine	m;

	CU_ASSERT_EQUAL_FATAL(db_machine_get(db, name, &m), 1);
	CU_ASSERT_EQUAL(m.enroll, enroll);
	if (csr != NULL)
		CU_ASSERT_STRING_EQUAL(m.csr, csr);
	CU_ASSERT_STRING_EQUAL(m.csr_fp, fp);
	db_machine_clear(&m);
}

static void
test_machines(void)
{
	struct db		*db;
	struct db_machine	 m;
	char			 err[256], fp[65];
	int			 status;
	json_t			*j;

	db = fresh();
	CU_ASSERT(db_machine_approve(db, "vm1", NULL, 1, fp, err, sizeof(err),
	    &status) == -1);
	CU_ASSERT_EQUAL(status, 404);
	CU_ASSERT(db_machine_request(db, "vm1", "CSR1", FP1, "10.0.0.1", 5) ==
	    0);
	check_request(db, "vm1", DB_ENROLL_PENDING, "CSR1", FP1);
	j = db_machines_json(db, "vm1");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "state")),
	    "pending_approval");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j,
	    "request_fingerprint")), FP1);
	json_decref(j);

	/*
	 * Another key asks for the name before the admin decides (issue #12
	 * finding 9): the request keeps its first key, the other is a
	 * request of its own beside it; approving FP1 still works, and is
	 * the decision that drops the other.  A malformed fingerprint is bad
	 * input, one that no request has a conflict.
	 */
	CU_ASSERT_EQUAL(db_machine_request(db, "vm1", "CSRX", FP2, "10.6.6.6",
	    5), DB_REQUEST_OTHER);
	check_request(db, "vm1", DB_ENROLL_PENDING, "CSR1", FP1);
	j = db_machines_json(db, "vm1");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j,
	    "request_fingerprint")), FP1);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "other_requests")),
	    1);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(
	    json_array_get(json_object_get(j, "other_requests"), 0),
	    "fingerprint")), FP2);
	json_decref(j);
	CU_ASSERT_EQUAL(db_machines_pending(db), 2);
	CU_ASSERT(db_machine_approve(db, "vm1", "cccccccccccccccc", 6, fp, err,
	    sizeof(err), &status) == -1);
	CU_ASSERT_EQUAL(status, 409);
	CU_ASSERT(strstr(err, "no request has key") != NULL);
	CU_ASSERT(db_machine_approve(db, "vm1", "aaaa", 6, fp, err,
	    sizeof(err), &status) == -1);
	CU_ASSERT_EQUAL(status, 422);
	CU_ASSERT(db_machine_approve(db, "vm1", "zzzzzzzzzzzzzzzzzz", 6, fp,
	    err, sizeof(err), &status) == -1);
	CU_ASSERT_EQUAL(status, 422);
	/* The first key asking again refreshes its request. */
	CU_ASSERT_EQUAL(db_machine_request(db, "vm1", "CSR1", FP1, "10.0.0.1",
	    5), DB_REQUEST_MAIN);
	/* A prefix of 16 digits or more, in either case, will do. */
	CU_ASSERT(db_machine_approve(db, "vm1", "AAAAAAAAAAAAAAAAaa", 6, fp,
	    err, sizeof(err), &status) == 0);
	CU_ASSERT_STRING_EQUAL(fp, FP1);
	CU_ASSERT_EQUAL(db_machines_pending(db), 0);
	CU_ASSERT(db_machine_approve(db, "vm1", NULL, 6, fp, err, sizeof(err),
	    &status) == -1);
	CU_ASSERT_EQUAL(status, 409);
	/* An approval holds for a CSR sent again with the same key... */
	CU_ASSERT(db_machine_request(db, "vm1", "CSR2", FP1, "10.0.0.1", 7) ==
	    DB_REQUEST_MAIN);
	CU_ASSERT_EQUAL(db_machine_get(db, "vm1", &m), 1);
	CU_ASSERT_EQUAL(m.enroll, DB_ENROLL_APPROVED);
	CU_ASSERT_STRING_EQUAL(m.csr, "CSR2");
	db_machine_clear(&m);
	/* ...and another key does not withdraw it: it waits beside. */
	CU_ASSERT_EQUAL(db_machine_request(db, "vm1", "CSRY", FP2, "10.6.6.6",
	    7), DB_REQUEST_OTHER);
	check_request(db, "vm1", DB_ENROLL_APPROVED, "CSR2", FP1);
	/* At most DB_MAX_OTHER_REQUESTS others a name. */
	{
		char	ofp[65];
		int	i;

		for (i = 0; i < DB_MAX_OTHER_REQUESTS - 1; i++) {
			snprintf(ofp, sizeof(ofp), "%064d", i);
			CU_ASSERT_EQUAL(db_machine_request(db, "vm1", "CSRZ",
			    ofp, "10.6.6.7", 7), DB_REQUEST_OTHER);
		}
		CU_ASSERT_EQUAL(db_machine_request(db, "vm1", "CSRZ",
		    "9999999999999999999999999999999999999999999999999999999999999999",
		    "10.6.6.7", 7), DB_REQUEST_FULL);
	}

	CU_ASSERT(db_machine_enrolled(db, "vm1", "ab12", 8) == 0);
	CU_ASSERT_EQUAL(db_machine_get(db, "vm1", &m), 1);
	CU_ASSERT_EQUAL(m.enroll, DB_ENROLL_ENROLLED);
	CU_ASSERT_PTR_NULL(m.csr);
	CU_ASSERT_PTR_NULL(m.csr_fp);
	CU_ASSERT_STRING_EQUAL(m.cert_fp, "ab12");
	db_machine_clear(&m);
	j = db_machines_json(db, "vm1");
	CU_ASSERT(json_is_null(json_object_get(j, "request_fingerprint")));
	json_decref(j);

	CU_ASSERT(db_machine_online(db, "vm1", 1, "10.0.0.1", "local", "b1",
	    1700000000123ULL) == 0);
	CU_ASSERT(db_machine_facts(db, "vm1", "{\"os.id\":\"debian\"}") == 0);
	CU_ASSERT_EQUAL(db_machine_set_error(db, "vm1", "max targets "
	    "exceeded"), 1);
	j = db_machines_json(db, "vm1");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "state")),
	    "online");
	CU_ASSERT(json_is_true(json_object_get(j, "online")));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j,
	    "last_seen")), "2023-11-14T22:13:20.123Z");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(
	    json_object_get(j, "facts"), "os.id")), "debian");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "error")),
	    "max targets exceeded");
	json_decref(j);
	CU_ASSERT_EQUAL(db_machine_set_error(db, "vm1", NULL), 1);
	CU_ASSERT_EQUAL(db_machine_set_error(db, "ghost", NULL), 0);
	/*
	 * A new key after enrollment needs a new decision, but the request
	 * alone changes nothing: the enrolled key stays valid.
	 */
	CU_ASSERT(db_machine_approve(db, "vm1", NULL, 9, fp, err, sizeof(err),
	    &status) == -1);
	CU_ASSERT_EQUAL(status, 409);
	CU_ASSERT(db_machine_request(db, "vm1", "CSR3", FP2, "10.6.6.6", 9) ==
	    0);
	CU_ASSERT_EQUAL(db_machine_get(db, "vm1", &m), 1);
	CU_ASSERT_EQUAL(m.enroll, DB_ENROLL_ENROLLED);
	CU_ASSERT_STRING_EQUAL(m.cert_fp, "ab12");
	CU_ASSERT_EQUAL(m.reenroll, 1);
	db_machine_clear(&m);
	j = db_machines_json(db, "vm1");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j,
	    "reenrollment")), "requested");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j,
	    "address")), "10.0.0.1");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j,
	    "request_fingerprint")), FP2);
	json_decref(j);
	CU_ASSERT(db_machine_approve(db, "vm1", FP2, 10, fp, err, sizeof(err),
	    &status) == 0);
	CU_ASSERT_EQUAL(db_machine_get(db, "vm1", &m), 1);
	CU_ASSERT_EQUAL(m.enroll, DB_ENROLL_APPROVED);
	CU_ASSERT_STRING_EQUAL(m.csr, "CSR3");
	CU_ASSERT_EQUAL(m.reenroll, 0);
	db_machine_clear(&m);
	CU_ASSERT(db_machines_offline(db) == 0);
	j = db_machines_json(db, NULL);
	CU_ASSERT_EQUAL(json_array_size(j), 1);
	json_decref(j);
	db_close(db);
}

/*
 * Enrollment tokens (issue #12 finding 1): kept as a hash, refused when
 * unknown, wrong, expired, used up or for another name; each use counts.
 */
static void
test_tokens(void)
{
	struct db	*db;
	uint8_t		 h[SHA256_LEN], bad[SHA256_LEN];
	char		 err[256];
	json_t		*j;

	db = fresh();
	memset(h, 7, sizeof(h));
	memset(bad, 8, sizeof(bad));
	CU_ASSERT(db_token_add(db, "t1", h, NULL, 2, 1000, 1, "admin") == 0);
	CU_ASSERT(db_token_add(db, "t2", h, "vm1", 1, 1000, 1, "file") == 0);
	CU_ASSERT_EQUAL(db_token_check(db, "t1", h, "x", 10, err,
	    sizeof(err)), 1);
	CU_ASSERT_EQUAL(db_token_check(db, "t1", bad, "x", 10, err,
	    sizeof(err)), 0);
	CU_ASSERT(strstr(err, "not a token of this server") != NULL);
	CU_ASSERT_EQUAL(db_token_check(db, "nope", h, "x", 10, err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(db_token_check(db, "t1", h, "x", 1000, err,
	    sizeof(err)), 0);
	CU_ASSERT(strstr(err, "expired") != NULL);
	CU_ASSERT_EQUAL(db_token_check(db, "t2", h, "vm2", 10, err,
	    sizeof(err)), 0);
	CU_ASSERT(strstr(err, "for machine vm1") != NULL);
	CU_ASSERT_EQUAL(db_token_check(db, "t2", h, "vm1", 10, err,
	    sizeof(err)), 1);
	CU_ASSERT(db_token_consume(db, "t1") == 0);
	CU_ASSERT(db_token_consume(db, "t1") == 0);
	CU_ASSERT(db_token_consume(db, "t1") == -1);
	CU_ASSERT_EQUAL(db_token_check(db, "t1", h, "x", 10, err,
	    sizeof(err)), 0);
	CU_ASSERT(strstr(err, "used up (2 uses)") != NULL);
	/* Listed without their hash; the file's go at the next start. */
	j = db_tokens_json(db);
	CU_ASSERT_EQUAL(json_array_size(j), 2);
	CU_ASSERT_PTR_NULL(json_object_get(json_array_get(j, 0), "hash"));
	json_decref(j);
	CU_ASSERT(db_token_drop_origin(db, "file") == 0);
	CU_ASSERT_EQUAL(db_token_remove(db, "t2"), 0);
	CU_ASSERT_EQUAL(db_token_remove(db, "t1"), 1);
	db_close(db);
}

static void
test_scenarios(void)
{
	struct db	*db;
	struct scenario	 sc, got;
	char		 err[256];
	int		 status;

	db = fresh();
	memset(&sc, 0, sizeof(sc));
	strcpy(sc.name, "rollout");
	sc.packages[0] = "sp2";
	sc.packages[1] = "hf1";
	sc.npackages = 2;
	sc.max_targets = 3;
	sc.max_wait = 30;
	sc.at_next_boot = 1;
	sc.poweroff_after = 1;
	strcpy(sc.group, "239.1.2.3");
	sc.port = 5000;
	sc.on_error_stop = 1;
	/* Unknown package: 422 naming the field. */
	CU_ASSERT(db_scenario_put(db, &sc, 1, err, sizeof(err),
	    &status) == -1);
	CU_ASSERT_EQUAL(status, 422);
	CU_ASSERT(strncmp(err, "--package: sp2", 14) == 0);
	put_pkg(db, "sp2", 2, 1);
	put_pkg(db, "hf1", 1, 1);
	CU_ASSERT(db_scenario_put(db, &sc, 1, err, sizeof(err),
	    &status) == 0);
	CU_ASSERT(db_scenario_put(db, &sc, 1, err, sizeof(err),
	    &status) == -1);
	CU_ASSERT_EQUAL(status, 409);
	CU_ASSERT_EQUAL(db_scenario_get(db, "rollout", &got), 1);
	CU_ASSERT_EQUAL(got.npackages, 2);
	CU_ASSERT_STRING_EQUAL(got.packages[1], "hf1");
	CU_ASSERT_EQUAL(got.max_targets, 3);
	CU_ASSERT_EQUAL(got.max_wait, 30);
	CU_ASSERT(got.at_next_boot && got.poweroff_after && !got.unicast &&
	    !got.reboot_after && got.on_error_stop);
	CU_ASSERT_STRING_EQUAL(got.group, "239.1.2.3");
	CU_ASSERT_EQUAL(got.port, 5000);
	db_scenario_clear(&got);
	CU_ASSERT_EQUAL(db_scenario_get(db, "nope", &got), 0);
	CU_ASSERT(db_scenario_remove(db, "nope", err, sizeof(err),
	    &status) == -1);
	CU_ASSERT_EQUAL(status, 404);
	db_close(db);
}

static int
rfc3339(const char *s)
{
	regex_t	re;
	int	rv;

	regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
	    "\\.[0-9]{3}Z$", REG_EXTENDED | REG_NOSUB);
	rv = s != NULL && regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return (rv);
}

static void
test_runs(void)
{
	struct db	*db;
	struct db_run	 r, *act;
	struct db_target t[2];
	size_t		 nact;
	uint64_t	 id2;
	char		 st[32];
	json_t		*j, *ms, *m0, *m1;
	char		 err[256];

	db = fresh();
	put_pkg(db, "sp2", 2, 1);
	memset(&r, 0, sizeof(r));
	strcpy(r.sc.name, "rollout");
	r.sc.packages[0] = "sp2";
	r.sc.npackages = 1;
	r.sc.max_wait = -1;
	strcpy(r.group, "239.192.56.1");
	r.port = 56001;
	memset(r.key, 7, sizeof(r.key));
	memset(r.fkey, 9, sizeof(r.fkey));
	r.created_at = 1000;
	memset(t, 0, sizeof(t));
	t[0].machine = "vm1";
	t[0].state = "assigned";
	t[1].machine = "vm2";
	t[1].state = "error";
	t[1].error = "max targets exceeded";
	r.targets = t;
	r.ntargets = 2;
	CU_ASSERT_FATAL(db_run_next_id(db, &r.id) == 0);
	CU_ASSERT_EQUAL(r.id, 1);
	CU_ASSERT_FATAL(db_run_create(db, &r) == 0);
	CU_ASSERT(db_run_next_id(db, &id2) == 0);
	CU_ASSERT_EQUAL(id2, 2);

	/* vm1 can still change: the run is not finished. */
	CU_ASSERT_EQUAL(db_run_check_finished(db, r.id, 1500), 0);
	CU_ASSERT(db_run_target(db, r.id, "vm1", "ready", NULL, NULL, 0, 0,
	    -1, NULL, 2000) == 0);
	CU_ASSERT(db_run_state(db, r.id, "transferring", 3000) == 0);
	CU_ASSERT(db_run_target(db, r.id, "vm1", "transferring",
	    "multicast", NULL, 0, 0, -1, NULL, 3000) == 0);
	CU_ASSERT(db_run_path(db, r.id, "vm1", "multicast", "multicast: on "
	    "the subnet", 3000, 0) == 0);
	CU_ASSERT(db_run_path(db, r.id, "ghost", "unicast", "x", 3000,
	    1) == -1);
	CU_ASSERT(db_run_bytes(db, r.id, "vm1", 512) == 0);
	CU_ASSERT(db_run_target(db, r.id, "vm1", "failed", NULL, "exit 3", 1,
	    3, 1024, "oops\n", 4000) == 0);
	CU_ASSERT(db_run_target(db, r.id, "ghost", "failed", NULL, NULL, 0, 0,
	    -1, NULL, 4000) == -1);
	CU_ASSERT(db_run_target_state(db, r.id, "vm1", st, sizeof(st)) == 0);
	CU_ASSERT_STRING_EQUAL(st, "failed");
	CU_ASSERT(db_run_target_state(db, r.id, "ghost", st, sizeof(st)) == 0);
	CU_ASSERT_STRING_EQUAL(st, "");

	/* Still active: it is transferring. */
	CU_ASSERT(db_runs_active(db, &act, &nact) == 0);
	CU_ASSERT_EQUAL_FATAL(nact, 1);
	CU_ASSERT_EQUAL(act[0].id, r.id);
	CU_ASSERT_STRING_EQUAL(act[0].state, "transferring");
	CU_ASSERT_EQUAL(act[0].transfer_started_at, 3000);
	CU_ASSERT_EQUAL(act[0].key[31], 7);
	/* Its feedback key F_run too (issue #12). */
	CU_ASSERT(act[0].has_fkey && act[0].fkey[0] == 9 &&
	    act[0].fkey[31] == 9);
	CU_ASSERT_EQUAL_FATAL(act[0].ntargets, 2);
	CU_ASSERT_STRING_EQUAL(act[0].targets[0].state, "failed");
	CU_ASSERT_STRING_EQUAL(act[0].targets[0].path, "multicast");
	CU_ASSERT_STRING_EQUAL(act[0].targets[1].error,
	    "max targets exceeded");
	CU_ASSERT_STRING_EQUAL(act[0].sc.packages[0], "sp2");
	db_run_clear(&act[0]);
	free(act);

	/* A run restored from before F_run is given one, and keeps it. */
	{
		uint8_t	fk[CTL_KEY_LEN];

		memset(fk, 0x3c, sizeof(fk));
		CU_ASSERT(db_run_set_fkey(db, r.id, fk) == 0);
		CU_ASSERT(db_runs_active(db, &act, &nact) == 0);
		CU_ASSERT_EQUAL_FATAL(nact, 1);
		CU_ASSERT(act[0].has_fkey && act[0].fkey[5] == 0x3c);
		db_run_clear(&act[0]);
		free(act);
	}

	/* The record survives a close and reopen (kill -9 is covered by
	 * SQLite's own guarantees once a commit has returned). */
	db_close(db);
	db = db_open(path, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	/* vm1 failed, vm2 error: nothing can change, the run is finished. */
	CU_ASSERT_EQUAL(db_run_check_finished(db, r.id, 5000), 1);
	CU_ASSERT(db_run_state(db, r.id, "finished", 9000) == 0);
	CU_ASSERT(db_runs_active(db, &act, &nact) == 0);
	CU_ASSERT_EQUAL(nact, 0);
	free(act);

	j = db_runs_json(db, (int64_t)r.id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "id")),
	    (json_int_t)r.id);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j,
	    "scenario")), "rollout");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "state")),
	    "finished");
	CU_ASSERT(rfc3339(json_string_value(json_object_get(j,
	    "created_at"))));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j,
	    "finished_at")), "1970-01-01T00:00:05.000Z");	/* first kept */
	ms = json_object_get(j, "machines");
	CU_ASSERT_EQUAL_FATAL(json_array_size(ms), 2);
	m0 = json_array_get(ms, 0);
	m1 = json_array_get(ms, 1);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(m0, "name")),
	    "vm1");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(m0, "path")),
	    "multicast");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(m0,
	    "exit_status")), 3);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(m0,
	    "bytes_received")), 1024);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(m0, "history")), 4);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(m0,
	    "path_reason")), "multicast: on the subnet");
	CU_ASSERT(json_is_null(json_object_get(m1, "path")));
	CU_ASSERT(json_is_null(json_object_get(m1, "path_reason")));
	CU_ASSERT(json_is_null(json_object_get(m1, "exit_status")));
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(m1,
	    "bytes_received")), 0);
	json_decref(j);
	CU_ASSERT_PTR_NULL(db_runs_json(db, 999));

	j = db_runs_json(db, -1);
	CU_ASSERT_EQUAL(json_array_size(j), 1);
	CU_ASSERT(rfc3339(json_string_value(json_object_get(json_array_get(j,
	    0), "transfer_started_at"))));
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(j,
	    0), "machines")), 2);
	json_decref(j);

	/*
	 * At next boot: a run finished with a machine pending_boot; when that
	 * machine completes after its restart, finished_at follows it.
	 */
	t[0].state = "pending_boot";
	t[1].state = "succeeded";
	t[1].error = NULL;
	r.created_at = 10000;
	CU_ASSERT_FATAL(db_run_next_id(db, &r.id) == 0);
	CU_ASSERT_FATAL(db_run_create(db, &r) == 0);
	CU_ASSERT_EQUAL(db_run_check_finished(db, r.id, 11000), 1);
	CU_ASSERT(db_run_target(db, r.id, "vm1", "running", NULL, NULL, 0, 0,
	    -1, NULL, 20000) == 0);
	CU_ASSERT_EQUAL(db_run_finish_late(db, r.id, 20000), 0);
	CU_ASSERT(db_run_target(db, r.id, "vm1", "succeeded", NULL, NULL, 1,
	    0, -1, NULL, 21000) == 0);
	CU_ASSERT_EQUAL(db_run_finish_late(db, r.id, 21000), 1);
	j = db_runs_json(db, (int64_t)r.id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "state")),
	    "finished");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j,
	    "finished_at")), "1970-01-01T00:00:21.000Z");
	json_decref(j);
	db_close(db);
}

static void
test_time(void)
{
	char	buf[40];

	CU_ASSERT_STRING_EQUAL(db_format_time(0, buf, sizeof(buf)),
	    "1970-01-01T00:00:00.000Z");
	CU_ASSERT_STRING_EQUAL(db_format_time(1700000000001ULL, buf,
	    sizeof(buf)), "2023-11-14T22:13:20.001Z");
}

static CU_TestInfo tests[] = {
	{ "schema version and migrations", test_schema },
	{ "packages", test_packages },
	{ "machines and enrollment states", test_machines },
	{ "enrollment tokens", test_tokens },
	{ "scenarios", test_scenarios },
	{ "runs, history, persistence", test_runs },
	{ "RFC 3339 times", test_time },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	int	rv;

	if (mkdtemp(dir) == NULL)
		return (1);
	snprintf(path, sizeof(path), "%s/fleetcast.db", dir);
	rv = unit_main("db", tests);
	unlink(path);
	snprintf(path, sizeof(path), "%s/fleetcast.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/fleetcast.db-shm", dir);
	unlink(path);
	rmdir(dir);
	return (rv);
}
