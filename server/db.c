/*
 * The server's inventory in SQLite: packages with their verified manifests,
 * machines (enrollment, address, segment, facts, online state, last seen,
 * sticky error), scenarios, runs with a row per machine and one row per
 * state change of each, and an event log.  The database lives in state_dir
 * in WAL mode with synchronous=FULL, so that whatever a commit returned for
 * survives kill -9 and power loss; the server commits a decision before it
 * acts on it.  The schema is versioned with PRAGMA user_version and brought
 * forward by the ordered migrations below, each in its own transaction.
 * Times are milliseconds since the epoch, UTC, and are shown in RFC 3339.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "db_int.h"
#include "log.h"
#include "server.h"
#include "xmalloc.h"


/*
 * Schema migrations, in order.  migrations[i] brings version i to i + 1.
 * Never edit a released migration: append a new one and bump
 * DB_SCHEMA_VERSION.
 */
static const char *migrations[] = {
	/* 0 -> 1: the first schema. */
	"CREATE TABLE packages ("
	"  id TEXT PRIMARY KEY,"
	"  type TEXT NOT NULL,"
	"  urgency TEXT NOT NULL,"
	"  has_version INTEGER NOT NULL,"
	"  major INTEGER NOT NULL,"
	"  minor INTEGER NOT NULL,"
	"  key_id TEXT NOT NULL,"
	"  manifest BLOB NOT NULL,"
	"  signature BLOB NOT NULL,"
	"  manifest_json TEXT NOT NULL,"
	"  file TEXT NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  sha256 BLOB NOT NULL,"
	"  added_at INTEGER NOT NULL);"
	"CREATE TABLE machines ("
	"  name TEXT PRIMARY KEY,"
	"  enroll TEXT NOT NULL,"		/* pending|approved|enrolled */
	"  csr TEXT,"
	"  cert_fp TEXT,"
	"  address TEXT,"
	"  segment TEXT,"
	"  facts TEXT NOT NULL DEFAULT '{}',"
	"  online INTEGER NOT NULL DEFAULT 0,"
	"  last_seen INTEGER,"
	"  boot_id TEXT,"
	"  agent_version TEXT,"
	"  error TEXT,"
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE scenarios ("
	"  name TEXT PRIMARY KEY,"
	"  spec TEXT NOT NULL,"			/* JSON, scenario_to_json */
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE scenario_packages ("
	"  scenario TEXT NOT NULL REFERENCES scenarios(name)"
	"    ON DELETE CASCADE,"
	"  pos INTEGER NOT NULL,"
	"  package TEXT NOT NULL REFERENCES packages(id),"
	"  PRIMARY KEY (scenario, pos));"
	"CREATE TABLE runs ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  scenario TEXT NOT NULL,"
	"  spec TEXT NOT NULL,"			/* scenario snapshot */
	"  state TEXT NOT NULL,"		/* waiting|transferring|finished */
	"  grp TEXT NOT NULL,"
	"  port INTEGER NOT NULL,"
	"  data_key BLOB NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  transfer_started_at INTEGER,"
	"  finished_at INTEGER);"
	"CREATE TABLE run_machines ("
	"  run_id INTEGER NOT NULL REFERENCES runs(id),"
	"  machine TEXT NOT NULL,"
	"  pos INTEGER NOT NULL,"
	"  state TEXT NOT NULL,"
	"  path TEXT,"
	"  error TEXT,"
	"  exit_status INTEGER,"
	"  bytes_received INTEGER NOT NULL DEFAULT 0,"
	"  output TEXT,"
	"  updated_at INTEGER NOT NULL,"
	"  PRIMARY KEY (run_id, machine));"
	"CREATE TABLE run_history ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  run_id INTEGER NOT NULL,"
	"  machine TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  detail TEXT,"
	"  at INTEGER NOT NULL);"
	"CREATE INDEX run_history_run ON run_history(run_id, machine);"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  at INTEGER NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  run_id INTEGER,"
	"  machine TEXT,"
	"  message TEXT NOT NULL);",

	/*
	 * 1 -> 2: a request to enroll again under a name that is enrolled is
	 * kept aside (reenroll) instead of undoing the enrollment, so that a
	 * stranger cannot lock a machine out by asking for its name.
	 */
	"ALTER TABLE machines ADD COLUMN reenroll INTEGER NOT NULL DEFAULT 0;",

	/*
	 * 2 -> 3: automatic update (MISSION.md P5) tries a package on a
	 * machine at most once per boot of the machine.
	 */
	"CREATE TABLE auto_attempts ("
	"  machine TEXT NOT NULL,"
	"  package TEXT NOT NULL,"
	"  boot_id TEXT NOT NULL,"
	"  run_id INTEGER,"
	"  at INTEGER NOT NULL,"
	"  PRIMARY KEY (machine, package, boot_id));",

	/*
	 * 3 -> 4: each machine of a run says why its data took the path it
	 * took (the unicast fallback, MISSION.md S8).
	 */
	"ALTER TABLE run_machines ADD COLUMN path_reason TEXT;",

	/*
	 * 4 -> 5: an enrollment request keeps the SHA-256 of its CSR's public
	 * key, and an approval is for that key only (a later request with
	 * another key under the name does not inherit it).
	 */
	"ALTER TABLE machines ADD COLUMN csr_fp TEXT;",

	/*
	 * 5 -> 6: enrollment tokens with an expiry and a number of uses,
	 * optionally for one machine, kept as the SHA-256 of their secret;
	 * and the other requests of a name: a request keeps its key until
	 * an admin decides, so another key asking for the same name is a
	 * request of its own, beside it, instead of replacing it.
	 */
	"CREATE TABLE enroll_tokens ("
	"  id TEXT PRIMARY KEY,"
	"  hash BLOB NOT NULL,"
	"  machine TEXT,"			/* NULL: any name */
	"  uses_left INTEGER NOT NULL,"
	"  uses INTEGER NOT NULL DEFAULT 0,"
	"  expires_at INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  origin TEXT NOT NULL);"		/* file|admin */
	"CREATE TABLE enroll_requests ("
	"  name TEXT NOT NULL,"
	"  csr_fp TEXT NOT NULL,"
	"  csr TEXT NOT NULL,"
	"  address TEXT,"
	"  requested_at INTEGER NOT NULL,"
	"  PRIMARY KEY (name, csr_fp));",

		/*
	 * 6 -> 7: the package feed's state (server/feed.c, db_feed.c): one
	 * row, the last index accepted (its serial is what a rollback is
	 * judged against, so it is stored before anything acts on the index),
	 * the validators for a conditional GET, and the last outcome.  IF
	 * NOT EXISTS: test_db's "version 1" database is made by dropping the
	 * later tables from a new one, which does not know of this one.
	 */
	"CREATE TABLE IF NOT EXISTS feed_state ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  url TEXT,"
	"  serial INTEGER,"
	"  index_sha256 BLOB,"
	"  expires INTEGER,"		/* s: the accepted index's expiry */
	"  etag TEXT,"
	"  last_modified TEXT,"
	"  last_fetch INTEGER,"
	"  last_ok INTEGER,"
	"  last_error TEXT,"
	"  failures INTEGER NOT NULL DEFAULT 0);",
	/*
	 * 7 -> 8: each run's feedback key F_run (issue #12 finding 2), from
	 * which every member's own transport key is derived; runs stored
	 * before it get one when they are restored.
	 */
	"ALTER TABLE runs ADD COLUMN feedback_key BLOB;",
};

/* Columns shown as booleans, and those holding times, in JSON output. */
static const char *bool_columns[] = { "online", NULL };

int
db_fail(struct db *db, const char *what)
{
	log_warnx("database: %s: %s", what, sqlite3_errmsg(db->h));
	return (-1);
}

/*
 * Prepare sql and bind its parameters from fmt: s text (NULL binds NULL),
 * i int64_t, u uint64_t time (0 binds NULL), d int, b blob (pointer and
 * size_t), n NULL.
 */
sqlite3_stmt *
db_vprep(struct db *db, const char *sql, const char *fmt, va_list ap)
{
	sqlite3_stmt	*st;
	int		 i, rv = SQLITE_OK;
	const char	*s;
	const void	*p;
	size_t		 len;
	uint64_t	 u;

	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK) {
		db_fail(db, sql);
		return (NULL);
	}
	for (i = 1; fmt != NULL && *fmt != '\0' && rv == SQLITE_OK; fmt++, i++) {
		switch (*fmt) {
		case 's':
			s = va_arg(ap, const char *);
			rv = s == NULL ? sqlite3_bind_null(st, i) :
			    sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
			break;
		case 'i':
			rv = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
			break;
		case 'u':
			u = va_arg(ap, uint64_t);
			rv = u == 0 ? sqlite3_bind_null(st, i) :
			    sqlite3_bind_int64(st, i, (sqlite3_int64)u);
			break;
		case 'd':
			rv = sqlite3_bind_int(st, i, va_arg(ap, int));
			break;
		case 'b':
			p = va_arg(ap, const void *);
			len = va_arg(ap, size_t);
			rv = sqlite3_bind_blob64(st, i, p, len,
			    SQLITE_TRANSIENT);
			break;
		case 'n':
			rv = sqlite3_bind_null(st, i);
			break;
		default:
			fatalx("db_vprep: bad format '%c'", *fmt);
		}
	}
	if (rv != SQLITE_OK) {
		db_fail(db, "bind");
		sqlite3_finalize(st);
		return (NULL);
	}
	return (st);
}

sqlite3_stmt *
db_prep(struct db *db, const char *sql, const char *fmt, ...)
{
	va_list		 ap;
	sqlite3_stmt	*st;

	va_start(ap, fmt);
	st = db_vprep(db, sql, fmt, ap);
	va_end(ap);
	return (st);
}

/* Run a statement that returns no rows; the number of changed rows or -1. */
int
db_exec(struct db *db, const char *sql, const char *fmt, ...)
{
	va_list		 ap;
	sqlite3_stmt	*st;
	struct timespec	 t0, t1;
	int		 rv, commits;

	va_start(ap, fmt);
	st = db_vprep(db, sql, fmt, ap);
	va_end(ap);
	if (st == NULL)
		return (-1);
	/*
	 * A write outside a transaction commits by itself, as COMMIT does:
	 * their time is the commit latency of GET /metrics.
	 */
	commits = strcmp(sql, "COMMIT") == 0 || (!sqlite3_stmt_readonly(st) &&
	    sqlite3_get_autocommit(db->h));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rv = sqlite3_step(st);
	sqlite3_finalize(st);
	if (commits) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		db->commits++;
		db->commit_seconds += (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	}
	if (rv != SQLITE_DONE && rv != SQLITE_ROW)
		return (db_fail(db, sql));
	return (sqlite3_changes(db->h));
}

char *
db_col_strdup(sqlite3_stmt *st, int i)
{
	const unsigned char	*s;

	if ((s = sqlite3_column_text(st, i)) == NULL)
		return (NULL);
	return (xstrdup((const char *)s));
}

char *
db_format_time(uint64_t ms, char *buf, size_t len)
{
	time_t		t = (time_t)(ms / 1000);
	struct tm	tm;

	gmtime_r(&t, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
	return (buf);
}

static int
is_time_column(const char *name)
{
	size_t	len = strlen(name);

	return (strcmp(name, "last_seen") == 0 || strcmp(name, "at") == 0 ||
	    (len > 3 && strcmp(name + len - 3, "_at") == 0));
}

static int
is_bool_column(const char *name)
{
	const char	**p;

	for (p = bool_columns; *p != NULL; p++)
		if (strcmp(*p, name) == 0)
			return (1);
	return (0);
}

/* One result row as a JSON object, with times and booleans converted. */
static json_t *
db_row_json(sqlite3_stmt *st)
{
	json_t		*o, *v;
	const char	*name, *text;
	char		 tbuf[40];
	int		 i, n;

	o = json_object();
	n = sqlite3_column_count(st);
	for (i = 0; i < n; i++) {
		name = sqlite3_column_name(st, i);
		switch (sqlite3_column_type(st, i)) {
		case SQLITE_INTEGER:
			if (is_time_column(name))
				v = json_string(db_format_time(
				    (uint64_t)sqlite3_column_int64(st, i), tbuf,
				    sizeof(tbuf)));
			else if (is_bool_column(name))
				v = json_boolean(sqlite3_column_int(st, i));
			else
				v = json_integer(sqlite3_column_int64(st, i));
			break;
		case SQLITE_FLOAT:
			v = json_real(sqlite3_column_double(st, i));
			break;
		case SQLITE_TEXT:
			text = (const char *)sqlite3_column_text(st, i);
			/* JSON held in a column is shown as JSON. */
			if (strcmp(name, "facts") == 0 ||
			    strcmp(name, "spec") == 0 ||
			    strcmp(name, "manifest") == 0) {
				v = json_loads(text, 0, NULL);
				if (v == NULL)
					v = json_string(text);
			} else
				v = json_string(text);
			break;
		case SQLITE_NULL:
			v = json_null();
			break;
		default:
			continue;
		}
		json_object_set_new(o, name, v);
	}
	return (o);
}

/* All rows of a query as a JSON array; NULL on a database error. */
json_t *
db_query_json(struct db *db, const char *sql, const char *fmt, ...)
{
	va_list		 ap;
	sqlite3_stmt	*st;
	json_t		*a;
	int		 rv;

	va_start(ap, fmt);
	st = db_vprep(db, sql, fmt, ap);
	va_end(ap);
	if (st == NULL)
		return (NULL);
	a = json_array();
	while ((rv = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(a, db_row_json(st));
	sqlite3_finalize(st);
	if (rv != SQLITE_DONE) {
		json_decref(a);
		db_fail(db, sql);
		return (NULL);
	}
	return (a);
}

/* The row of a query for one name: its first, NULL when there is none. */
json_t *
db_json_first(json_t *a)
{
	json_t	*o;

	if ((o = json_array_get(a, 0)) != NULL)
		json_incref(o);
	json_decref(a);
	return (o);
}

/*
 * Step a statement (NULL: it could not be prepared) that selects one row:
 * 1 with the row to read and the statement for the caller to finalize, 0
 * when there is no row and -1 on an error, the statement finalized.
 */
int
db_step_row(struct db *db, sqlite3_stmt *st, const char *what)
{
	int	rv;

	if (st == NULL)
		return (-1);
	if ((rv = sqlite3_step(st)) == SQLITE_ROW)
		return (1);
	sqlite3_finalize(st);
	return (rv == SQLITE_DONE ? 0 : db_fail(db, what));
}

/*
 * A query for one number (a count, a version): *out is its first column,
 * left as it is when there is no row; -1 if it cannot be prepared.
 */
int
db_query_int64(struct db *db, int64_t *out, const char *sql,
    const char *fmt, ...)
{
	va_list		 ap;
	sqlite3_stmt	*st;

	va_start(ap, fmt);
	st = db_vprep(db, sql, fmt, ap);
	va_end(ap);
	if (st == NULL)
		return (-1);
	if (sqlite3_step(st) == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return (0);
}

static int
db_migrate(struct db *db, char *err, size_t errlen)
{
	int	v, from, n = sizeof(migrations) / sizeof(migrations[0]);
	char	sql[64];

	if ((v = db_schema_version(db)) == -1) {
		snprintf(err, errlen, "reading the schema version: %s",
		    sqlite3_errmsg(db->h));
		return (-1);
	}
	if (v > n) {
		snprintf(err, errlen, "schema version %d is newer than this "
		    "fleetcastd knows (%d)", v, n);
		return (-1);
	}
	from = v;
	for (; v < n; v++) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL,
		    NULL) != SQLITE_OK ||
		    sqlite3_exec(db->h, migrations[v], NULL, NULL,
		    NULL) != SQLITE_OK ||
		    sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL) !=
		    SQLITE_OK) {
			snprintf(err, errlen, "migration to schema version "
			    "%d: %s", v + 1, sqlite3_errmsg(db->h));
			sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
			return (-1);
		}
	}
	/* One line for the whole way, not one per step. */
	if (from == 0)
		log_info("database: created (schema version %d)", n);
	else if (from < n)
		log_info("database: schema version %d -> %d", from, n);
	return (0);
}

struct db *
db_open(const char *path, char *err, size_t errlen)
{
	struct db	*db;

	db = xcalloc(1, sizeof(*db));
	if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, db->h != NULL ?
		    sqlite3_errmsg(db->h) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(db->h, 5000);
	if (sqlite3_exec(db->h, "PRAGMA journal_mode = WAL;"
	    "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;", NULL, NULL,
	    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db->h));
		goto fail;
	}
	if (db_migrate(db, err, errlen) == -1)
		goto fail;
	return (db);
fail:
	sqlite3_close(db->h);
	free(db);
	return (NULL);
}

void
db_close(struct db *db)
{
	if (db == NULL)
		return;
	sqlite3_close(db->h);
	free(db);
}

int
db_schema_version(struct db *db)
{
	int64_t	v = -1;

	if (db_query_int64(db, &v, "PRAGMA user_version", NULL) == -1)
		return (-1);
	return ((int)v);
}

int
db_begin(struct db *db)
{
	return (db_exec(db, "BEGIN IMMEDIATE", NULL) == -1 ? -1 : 0);
}

int
db_commit(struct db *db)
{
	return (db_exec(db, "COMMIT", NULL) == -1 ? -1 : 0);
}

/* The commits so far and their time in seconds, for GET /metrics. */
void
db_commit_stats(struct db *db, uint64_t *n, double *seconds)
{
	*n = db->commits;
	*seconds = db->commit_seconds;
}

void
db_rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->h))
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

void
db_event(struct db *db, uint64_t now, const char *kind, uint64_t run,
    const char *machine, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	db_exec(db, "INSERT INTO events (at, kind, run_id, machine, message) "
	    "VALUES (?, ?, ?, ?, ?)", "ususs", now, kind, run, machine, msg);
}

/* ---- packages ---- */

/* 1 and the version when the package exists, 0 when not, -1 on error. */
int
db_package_version(struct db *db, const char *id, int *exists,
    int *has_version, uint16_t *major, uint16_t *minor, char **file)
{
	sqlite3_stmt	*st;
	int		 rv;

	st = db_prep(db, "SELECT has_version, major, minor, file FROM "
	    "packages WHERE id = ?", "s", id);
	if (st == NULL)
		return (-1);
	*exists = 0;
	if (file != NULL)
		*file = NULL;
	if ((rv = sqlite3_step(st)) == SQLITE_ROW) {
		*exists = 1;
		*has_version = sqlite3_column_int(st, 0);
		*major = (uint16_t)sqlite3_column_int(st, 1);
		*minor = (uint16_t)sqlite3_column_int(st, 2);
		if (file != NULL)
			*file = db_col_strdup(st, 3);
	}
	sqlite3_finalize(st);
	if (rv != SQLITE_ROW && rv != SQLITE_DONE)
		return (db_fail(db, "package version"));
	return (0);
}

int
db_package_exists(struct db *db, const char *id)
{
	int		exists, hv;
	uint16_t	ma, mi;

	if (db_package_version(db, id, &exists, &hv, &ma, &mi, NULL) == -1)
		return (-1);
	return (exists);
}

/* Insert or replace (a higher version) a verified package. */
int
db_package_put(struct db *db, const struct db_package_rec *p, uint64_t now)
{
	if (db_exec(db, "INSERT OR REPLACE INTO packages (id, type, urgency, "
	    "has_version, major, minor, key_id, manifest, signature, "
	    "manifest_json, file, size, sha256, added_at) VALUES "
	    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", "sssdddsbbssibu",
	    p->id, p->type, p->urgency, p->has_version, (int)p->major,
	    (int)p->minor, p->key_id, p->manifest, p->manifest_len,
	    p->signature, (size_t)ED25519_SIG_LEN, p->manifest_json, p->file,
	    (int64_t)p->size, p->sha256, (size_t)SHA256_LEN, now) == -1)
		return (-1);
	return (0);
}

/* Refused while a scenario names the package; *status is the HTTP code. */
int
db_package_remove(struct db *db, const char *id, char *err, size_t errlen,
    int *status)
{
	sqlite3_stmt	*st;
	int		 rv;

	char		 names[1024];
	size_t		 len = 0, n = 0;

	/* Every scenario that names it, so that one answer lists them all. */
	st = db_prep(db, "SELECT DISTINCT scenario FROM scenario_packages "
	    "WHERE package = ? ORDER BY scenario", "s", id);
	if (st == NULL)
		goto internal;
	names[0] = '\0';
	while ((rv = sqlite3_step(st)) == SQLITE_ROW) {
		n++;
		if (len < sizeof(names))
			len += snprintf(names + len, sizeof(names) - len,
			    "%s%s", n > 1 ? ", " : "",
			    sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	if (rv != SQLITE_DONE)
		goto internal;
	if (n > 0) {
		snprintf(err, errlen, "package %s: used by %zu scenario%s (%s); "
		    "remove %s first", id, n, n == 1 ? "" : "s", names,
		    n == 1 ? "it" : "them");
		*status = 409;
		return (-1);
	}
	if ((rv = db_exec(db, "DELETE FROM packages WHERE id = ?", "s",
	    id)) == -1)
		goto internal;
	if (rv == 0) {
		snprintf(err, errlen, "package %s: no such package", id);
		*status = 404;
		return (-1);
	}
	return (0);
internal:
	snprintf(err, errlen, "database error");
	*status = 500;
	return (-1);
}

int
db_package_get(struct db *db, const char *id, struct db_package *p)
{
	sqlite3_stmt	*st;
	int		 rv;
	const void	*b;
	int		 n;

	memset(p, 0, sizeof(*p));
	st = db_prep(db, "SELECT file, size, sha256, signature, manifest "
	    "FROM packages WHERE id = ?", "s", id);
	if ((rv = db_step_row(db, st, "package")) != 1)
		return (rv);
	snprintf(p->id, sizeof(p->id), "%s", id);
	p->file = db_col_strdup(st, 0);
	p->size = (uint64_t)sqlite3_column_int64(st, 1);
	if (sqlite3_column_bytes(st, 2) == SHA256_LEN)
		memcpy(p->sha256, sqlite3_column_blob(st, 2), SHA256_LEN);
	if (sqlite3_column_bytes(st, 3) == ED25519_SIG_LEN)
		memcpy(p->signature, sqlite3_column_blob(st, 3),
		    ED25519_SIG_LEN);
	b = sqlite3_column_blob(st, 4);
	n = sqlite3_column_bytes(st, 4);
	p->manifest = xmalloc(n > 0 ? n : 1);
	if (n > 0)
		memcpy(p->manifest, b, n);
	p->manifest_len = n;
	sqlite3_finalize(st);
	return (1);
}

void
db_package_clear(struct db_package *p)
{
	free(p->file);
	free(p->manifest);
	memset(p, 0, sizeof(*p));
}

/* All packages (id NULL) or one; NULL when that one does not exist. */
json_t *
db_packages_json(struct db *db, const char *id)
{
	json_t	*a, *o;
	size_t	 i;
	char	 hex[SHA256_LEN * 2 + 1];
	sqlite3_stmt *st;

	a = db_query_json(db, "SELECT id, type, urgency, CASE has_version "
	    "WHEN 1 THEN major || '.' || minor ELSE NULL END AS version, "
	    "key_id, size, added_at, manifest_json AS manifest FROM packages "
	    "WHERE ?1 IS NULL OR id = ?1 ORDER BY id", "s", id);
	if (a == NULL)
		return (NULL);
	/* The file hash, in hex. */
	json_array_foreach(a, i, o) {
		st = db_prep(db, "SELECT sha256 FROM packages WHERE id = ?",
		    "s", json_string_value(json_object_get(o, "id")));
		if (st != NULL && sqlite3_step(st) == SQLITE_ROW &&
		    sqlite3_column_bytes(st, 0) == SHA256_LEN) {
			hex_encode(sqlite3_column_blob(st, 0), SHA256_LEN, hex);
			json_object_set_new(o, "sha256", json_string(hex));
		}
		sqlite3_finalize(st);
	}
	return (id == NULL ? a : db_json_first(a));
}

/* Packages of automatic update (urgency highest or high), newest first. */
json_t *
db_auto_packages(struct db *db)
{
	return (db_query_json(db, "SELECT id, type, urgency, has_version, "
	    "major, minor, json_extract(manifest_json, '$.base_sp') AS "
	    "base_sp FROM packages WHERE urgency IN ('highest', 'high') "
	    "ORDER BY major DESC, minor DESC, id", NULL));
}

/* 1 when package was already tried on machine during this boot. */
int
db_auto_attempted(struct db *db, const char *machine, const char *package,
    const char *boot_id)
{
	sqlite3_stmt	*st;
	int		 rv;

	st = db_prep(db, "SELECT 1 FROM auto_attempts WHERE machine = ? AND "
	    "package = ? AND boot_id = ?", "sss", machine, package, boot_id);
	if (st == NULL)
		return (-1);
	rv = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return (rv);
}

int
db_auto_attempt(struct db *db, const char *machine, const char *package,
    const char *boot_id, uint64_t run, uint64_t now)
{
	return (db_exec(db, "INSERT OR REPLACE INTO auto_attempts (machine, "
	    "package, boot_id, run_id, at) VALUES (?, ?, ?, ?, ?)", "sssuu",
	    machine, package, boot_id, run, now) == -1 ? -1 : 0);
}

/* ---- scenarios ---- */

void
db_scenario_clear(struct scenario *sc)
{
	size_t	i;

	for (i = 0; i < sc->npackages; i++)
		free(sc->packages[i]);
	memset(sc, 0, sizeof(*sc));
}

/*
 * Store a scenario: a new one (replace 0: 409 if the name is taken, checked
 * first so that no constraint error reaches the log) or a new version of
 * an existing one (replace 1: scenario edit; 404 if there is none).  Runs
 * keep the snapshot they were created with, so an edit changes only the
 * runs to come.
 */
static int
db_scenario_store(struct db *db, const struct scenario *sc, uint64_t now,
    int replace, char *err, size_t errlen, int *status)
{
	json_t	*o;
	char	*spec;
	size_t	 i;
	int	 rv;
	int64_t	 exists = 0;

	*status = 500;
	snprintf(err, errlen, "database error");
	for (i = 0; i < sc->npackages; i++) {
		if ((rv = db_package_exists(db, sc->packages[i])) == -1)
			return (-1);
		if (rv == 0) {
			snprintf(err, errlen, "--package: %s is not a "
			    "registered package (fleetcast package list)",
			    sc->packages[i]);
			*status = 422;
			return (-1);
		}
	}
	if (db_query_int64(db, &exists, "SELECT COUNT(*) FROM scenarios "
	    "WHERE name = ?", "s", sc->name) == -1)
		return (-1);
	if (!replace && exists) {
		snprintf(err, errlen, "scenario %s: already exists; change it "
		    "with fleetcast scenario edit, or remove it first",
		    sc->name);
		*status = 409;
		return (-1);
	}
	if (replace && !exists) {
		snprintf(err, errlen, "scenario %s: no such scenario",
		    sc->name);
		*status = 404;
		return (-1);
	}
	o = scenario_to_json(sc);
	spec = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (db_begin(db) == -1) {
		free(spec);
		return (-1);
	}
	if (replace)
		rv = db_exec(db, "UPDATE scenarios SET spec = ? WHERE name = ?",
		    "ss", spec, sc->name) == -1 || db_exec(db, "DELETE FROM "
		    "scenario_packages WHERE scenario = ?", "s", sc->name) == -1 ?
		    -1 : 0;
	else
		rv = db_exec(db, "INSERT INTO scenarios (name, spec, "
		    "created_at) VALUES (?, ?, ?)", "ssu", sc->name, spec, now);
	free(spec);
	if (rv == -1) {
		db_rollback(db);
		return (-1);
	}
	for (i = 0; i < sc->npackages; i++) {
		if (db_exec(db, "INSERT INTO scenario_packages (scenario, "
		    "pos, package) VALUES (?, ?, ?)", "sds", sc->name, (int)i,
		    sc->packages[i]) == -1) {
			db_rollback(db);
			return (-1);
		}
	}
	if (db_commit(db) == -1) {
		db_rollback(db);
		return (-1);
	}
	return (0);
}

int
db_scenario_put(struct db *db, const struct scenario *sc, uint64_t now,
    char *err, size_t errlen, int *status)
{
	return (db_scenario_store(db, sc, now, 0, err, errlen, status));
}

int
db_scenario_replace(struct db *db, const struct scenario *sc, char *err,
    size_t errlen, int *status)
{
	return (db_scenario_store(db, sc, 0, 1, err, errlen, status));
}

int
db_scenario_get(struct db *db, const char *name, struct scenario *sc)
{
	sqlite3_stmt	*st;
	json_t		*o;
	int		 rv;

	memset(sc, 0, sizeof(*sc));
	st = db_prep(db, "SELECT spec FROM scenarios WHERE name = ?", "s",
	    name);
	if ((rv = db_step_row(db, st, "scenario")) != 1)
		return (rv);
	o = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
	sqlite3_finalize(st);
	rv = scenario_from_json(o, sc);
	json_decref(o);
	if (rv == -1) {
		log_warnx("database: scenario %s: unreadable spec", name);
		db_scenario_clear(sc);
		return (-1);
	}
	return (1);
}

int
db_scenario_remove(struct db *db, const char *name, char *err,
    size_t errlen, int *status)
{
	int	rv;

	if ((rv = db_exec(db, "DELETE FROM scenarios WHERE name = ?", "s",
	    name)) == -1) {
		snprintf(err, errlen, "database error");
		*status = 500;
		return (-1);
	}
	if (rv == 0) {
		snprintf(err, errlen, "scenario %s: no such scenario", name);
		*status = 404;
		return (-1);
	}
	return (0);
}

json_t *
db_scenarios_json(struct db *db, const char *name)
{
	json_t	*a, *o, *spec;
	size_t	 i;

	a = db_query_json(db, "SELECT spec, created_at FROM scenarios WHERE "
	    "?1 IS NULL OR name = ?1 ORDER BY name", "s", name);
	if (a == NULL)
		return (NULL);
	/* Flatten: the spec's fields plus created_at. */
	json_array_foreach(a, i, o) {
		spec = json_object_get(o, "spec");
		if (json_is_object(spec)) {
			json_object_set(spec, "created_at",
			    json_object_get(o, "created_at"));
			json_array_set(a, i, spec);
		}
	}
	return (name == NULL ? a : db_json_first(a));
}
