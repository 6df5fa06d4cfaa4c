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

#include "log.h"
#include "server.h"
#include "xmalloc.h"

struct db {
	sqlite3		*h;
};

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
};

/* Columns shown as booleans, and those holding times, in JSON output. */
static const char *bool_columns[] = { "online", NULL };

static int
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
static sqlite3_stmt *
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

static sqlite3_stmt *
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
static int
db_exec(struct db *db, const char *sql, const char *fmt, ...)
{
	va_list		 ap;
	sqlite3_stmt	*st;
	int		 rv;

	va_start(ap, fmt);
	st = db_vprep(db, sql, fmt, ap);
	va_end(ap);
	if (st == NULL)
		return (-1);
	rv = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rv != SQLITE_DONE && rv != SQLITE_ROW)
		return (db_fail(db, sql));
	return (sqlite3_changes(db->h));
}

static char *
col_strdup(sqlite3_stmt *st, int i)
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
static json_t *
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
static json_t *
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
static int
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
static int
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
			*file = col_strdup(st, 3);
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
	p->file = col_strdup(st, 0);
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

/* ---- machines ---- */

static enum db_enroll
enroll_parse(const char *s)
{
	if (s == NULL)
		return (DB_ENROLL_NONE);
	if (strcmp(s, "pending") == 0)
		return (DB_ENROLL_PENDING);
	if (strcmp(s, "approved") == 0)
		return (DB_ENROLL_APPROVED);
	if (strcmp(s, "enrolled") == 0)
		return (DB_ENROLL_ENROLLED);
	return (DB_ENROLL_NONE);
}

/* 1 when the machine exists, 0 when not, -1 on error. */
int
db_machine_get(struct db *db, const char *name, struct db_machine *m)
{
	sqlite3_stmt	*st;
	int		 rv;

	memset(m, 0, sizeof(*m));
	st = db_prep(db, "SELECT enroll, csr, cert_fp, error, reenroll, "
	    "csr_fp FROM machines WHERE name = ?", "s", name);
	if ((rv = db_step_row(db, st, "machine")) != 1)
		return (rv);
	m->enroll = enroll_parse((const char *)sqlite3_column_text(st, 0));
	m->csr = col_strdup(st, 1);
	m->cert_fp = col_strdup(st, 2);
	m->error = col_strdup(st, 3);
	m->reenroll = sqlite3_column_int(st, 4);
	m->csr_fp = col_strdup(st, 5);
	sqlite3_finalize(st);
	return (1);
}

void
db_machine_clear(struct db_machine *m)
{
	free(m->csr);
	free(m->csr_fp);
	free(m->cert_fp);
	free(m->error);
	memset(m, 0, sizeof(*m));
}

/*
 * Record an enrollment request with its CSR and the fingerprint of its
 * key (fp).  A request keeps its key until an admin decides (finding 9 of
 * issue #12): the same key asking again refreshes it (an approval for it
 * holds), another key asking for the name while a request waits is
 * another request, kept beside it (enroll_requests) and listed as such,
 * never a replacement.  For an enrolled name the request is only noted
 * (reenroll): its certificate stays valid until an admin approves the new
 * key.  DB_REQUEST_MAIN: it is the name's request; DB_REQUEST_OTHER: kept
 * as another one; DB_REQUEST_FULL: the name has DB_MAX_OTHER_REQUESTS
 * others already, nothing kept; -1 on a database error.
 */
int
db_machine_request(struct db *db, const char *name, const char *csr,
    const char *fp, const char *address, uint64_t now)
{
	struct db_machine	m;
	int			rv, has_request;
	int64_t			n = 0;

	if ((rv = db_machine_get(db, name, &m)) == -1)
		return (-1);
	if (rv == 0)
		return (db_exec(db, "INSERT INTO machines (name, enroll, csr, "
		    "csr_fp, address, created_at) VALUES (?, 'pending', ?, ?, "
		    "?, ?)", "ssssu", name, csr, fp, address, now) == -1 ? -1 :
		    DB_REQUEST_MAIN);
	has_request = m.csr_fp != NULL && (m.enroll != DB_ENROLL_ENROLLED ||
	    m.reenroll);
	rv = has_request && strcmp(m.csr_fp, fp) != 0;
	db_machine_clear(&m);
	if (!rv)
		return (db_exec(db, "UPDATE machines SET csr = ?2, csr_fp = ?3, "
		    "address = CASE enroll WHEN 'enrolled' THEN address ELSE "
		    "?4 END, reenroll = CASE enroll WHEN 'enrolled' THEN 1 "
		    "ELSE 0 END WHERE name = ?1", "ssss", name, csr, fp,
		    address) == -1 ? -1 : DB_REQUEST_MAIN);
	if (db_query_int64(db, &n, "SELECT COUNT(*) FROM enroll_requests "
	    "WHERE name = ? AND csr_fp <> ?", "ss", name, fp) == -1)
		return (-1);
	if (n >= DB_MAX_OTHER_REQUESTS)
		return (DB_REQUEST_FULL);
	return (db_exec(db, "INSERT INTO enroll_requests (name, csr_fp, csr, "
	    "address, requested_at) VALUES (?1, ?2, ?3, ?4, ?5) "
	    "ON CONFLICT(name, csr_fp) DO UPDATE SET csr = ?3, address = ?4, "
	    "requested_at = ?5", "ssssu", name, fp, csr, address, now) == -1 ?
	    -1 : DB_REQUEST_OTHER);
}

/* fp: 16 to 64 hex digits, either case, a prefix of a key fingerprint. */
static int
fp_valid(const char *fp)
{
	size_t	i, len = strlen(fp);

	if (len < 16 || len > SHA256_LEN * 2)
		return (0);
	for (i = 0; i < len; i++)
		if (!((fp[i] >= '0' && fp[i] <= '9') ||
		    (fp[i] >= 'a' && fp[i] <= 'f') ||
		    (fp[i] >= 'A' && fp[i] <= 'F')))
			return (0);
	return (1);
}

/*
 * The other request of name whose key fingerprint starts with fp, made
 * the name's request (the one an approval is for); 1 when there was one.
 */
static int
db_machine_take_other(struct db *db, const char *name, const char *fp)
{
	int	rv;

	rv = db_exec(db, "UPDATE machines SET (csr, csr_fp, address) = "
	    "(SELECT r.csr, r.csr_fp, CASE machines.enroll WHEN 'enrolled' "
	    "THEN machines.address ELSE r.address END FROM enroll_requests r "
	    "WHERE r.name = ?1 AND lower(substr(r.csr_fp, 1, length(?2))) = "
	    "lower(?2) ORDER BY r.requested_at LIMIT 1), "
	    "reenroll = CASE enroll WHEN 'enrolled' THEN 1 ELSE 0 END, "
	    "enroll = CASE enroll WHEN 'approved' THEN 'pending' ELSE enroll "
	    "END WHERE name = ?1 AND EXISTS (SELECT 1 FROM enroll_requests r "
	    "WHERE r.name = ?1 AND lower(substr(r.csr_fp, 1, length(?2))) = "
	    "lower(?2))", "ss", name, fp);
	return (rv);
}

/*
 * An admin approves a request of name: the name's request (its first key
 * that still waits), or with fp (what the admin was shown, a prefix)
 * whichever of its requests has that key, another request included.  That
 * is the decision: the name's other requests are dropped.  The approved
 * fingerprint goes to approved (65 bytes).
 */
int
db_machine_approve(struct db *db, const char *name, const char *fp,
    uint64_t now, char *approved, char *err, size_t errlen, int *status)
{
	struct db_machine	m;
	int			rv;

	if (fp != NULL && !fp_valid(fp)) {
		snprintf(err, errlen, "--fingerprint: '%s' must be 16 to 64 "
		    "hex digits of the key fingerprint 'machine show' gives",
		    fp);
		*status = 422;
		return (-1);
	}
	if ((rv = db_machine_get(db, name, &m)) == -1) {
		snprintf(err, errlen, "database error");
		*status = 500;
		return (-1);
	}
	if (rv == 0) {
		snprintf(err, errlen, "machine %s: no such machine (its agent "
		    "must ask to enroll first)", name);
		*status = 404;
		return (-1);
	}
	/* The key the admin names may be one of the other requests. */
	if (fp != NULL && (m.csr_fp == NULL ||
	    strncasecmp(m.csr_fp, fp, strlen(fp)) != 0)) {
		if ((rv = db_machine_take_other(db, name, fp)) == -1) {
			db_machine_clear(&m);
			snprintf(err, errlen, "database error");
			*status = 500;
			return (-1);
		}
		if (rv == 0) {
			snprintf(err, errlen, "machine %s: no request has key "
			    "fingerprint %s (its request has %.16s...); check "
			    "'fleetcast machine show %s'", name, fp,
			    m.csr_fp != NULL ? m.csr_fp : "none", name);
			db_machine_clear(&m);
			*status = 409;
			return (-1);
		}
		db_machine_clear(&m);
		if (db_machine_get(db, name, &m) != 1) {
			snprintf(err, errlen, "database error");
			*status = 500;
			return (-1);
		}
	}
	rv = m.enroll;
	if ((rv == DB_ENROLL_ENROLLED && !m.reenroll) ||
	    rv == DB_ENROLL_APPROVED) {
		db_machine_clear(&m);
		snprintf(err, errlen, "machine %s: already %s", name,
		    rv == DB_ENROLL_ENROLLED ? "enrolled" : "approved");
		*status = 409;
		return (-1);
	}
	if (m.csr_fp == NULL) {
		db_machine_clear(&m);
		snprintf(err, errlen, "machine %s: its request was made before "
		    "requests had key fingerprints; approve it when its agent "
		    "has asked again", name);
		*status = 409;
		return (-1);
	}
	snprintf(approved, SHA256_LEN * 2 + 1, "%s", m.csr_fp);
	db_machine_clear(&m);
	if (db_exec(db, "UPDATE machines SET enroll = 'approved', "
	    "reenroll = 0 WHERE name = ? AND csr_fp = ?", "ss", name,
	    approved) != 1 ||
	    db_exec(db, "DELETE FROM enroll_requests WHERE name = ?", "s",
	    name) == -1) {
		snprintf(err, errlen, "database error");
		*status = 500;
		return (-1);
	}
	db_event(db, now, "approve", 0, name, "enrollment approved for the key "
	    "with fingerprint %s", approved);
	return (0);
}

int
db_machine_enrolled(struct db *db, const char *name, const char *fp,
    uint64_t now)
{
	if (db_exec(db, "UPDATE machines SET enroll = 'enrolled', csr = NULL, "
	    "csr_fp = NULL, reenroll = 0, cert_fp = ? WHERE name = ?", "ss",
	    fp, name) != 1 ||
	    db_exec(db, "DELETE FROM enroll_requests WHERE name = ?", "s",
	    name) == -1)
		return (-1);
	db_event(db, now, "enroll", 0, name, "certificate issued");
	return (0);
}

int
db_machine_online(struct db *db, const char *name, int online,
    const char *address, const char *segment, const char *boot_id,
    uint64_t now)
{
	if (online)
		return (db_exec(db, "UPDATE machines SET online = 1, "
		    "address = ?, segment = ?, boot_id = ?, last_seen = ? "
		    "WHERE name = ?", "sssus", address, segment, boot_id, now,
		    name) == -1 ? -1 : 0);
	return (db_exec(db, "UPDATE machines SET online = 0 WHERE name = ?",
	    "s", name) == -1 ? -1 : 0);
}

int
db_machine_seen(struct db *db, const char *name, uint64_t now)
{
	return (db_exec(db, "UPDATE machines SET last_seen = ? WHERE "
	    "name = ?", "us", now, name) == -1 ? -1 : 0);
}

int
db_machine_facts(struct db *db, const char *name, const char *facts)
{
	return (db_exec(db, "UPDATE machines SET facts = ? WHERE name = ?",
	    "ss", facts, name) == -1 ? -1 : 0);
}

int
db_machine_agent_version(struct db *db, const char *name,
    const char *version)
{
	return (db_exec(db, "UPDATE machines SET agent_version = ? WHERE "
	    "name = ?", "ss", version, name) == -1 ? -1 : 0);
}

/* Set (msg) or clear (NULL) the sticky scenario error; 0 if no machine. */
int
db_machine_set_error(struct db *db, const char *name, const char *msg)
{
	return (db_exec(db, "UPDATE machines SET error = ? WHERE name = ?",
	    "ss", msg, name));
}

/* How many requests (a name's, and other ones) wait for an admin. */
int64_t
db_machines_pending(struct db *db)
{
	int64_t	n = -1;

	if (db_query_int64(db, &n, "SELECT (SELECT COUNT(*) FROM machines "
	    "WHERE enroll = 'pending') + (SELECT COUNT(*) FROM "
	    "enroll_requests)", NULL) == -1)
		return (-1);
	return (n);
}

/* At start-up nobody is connected yet. */
int
db_machines_offline(struct db *db)
{
	return (db_exec(db, "UPDATE machines SET online = 0", NULL) == -1 ?
	    -1 : 0);
}

/*
 * Each machine's other requests (keys that asked for its name while its
 * request waited) as "other_requests": fingerprint, address, time.  They
 * are few (DB_MAX_OTHER_REQUESTS a name, CONTROL_MAX_PENDING in all).
 */
static void
db_machines_other_requests(struct db *db, json_t *machines, const char *name)
{
	json_t		*r, *o, *m;
	size_t		 i, j;
	const char	*rn;

	json_array_foreach(machines, i, m)
		json_object_set_new(m, "other_requests", json_array());
	r = db_query_json(db, "SELECT name, csr_fp AS fingerprint, address, "
	    "requested_at FROM enroll_requests WHERE ?1 IS NULL OR name = ?1 "
	    "ORDER BY name, requested_at", "s", name);
	json_array_foreach(r, i, o) {
		rn = json_string_value(json_object_get(o, "name"));
		json_array_foreach(machines, j, m)
			if (rn != NULL && strcmp(rn, json_string_value(
			    json_object_get(m, "name"))) == 0) {
				json_object_del(o, "name");
				json_array_append(json_object_get(m,
				    "other_requests"), o);
				break;
			}
	}
	json_decref(r);
}

json_t *
db_machines_json(struct db *db, const char *name)
{
	json_t	*a;

	a = db_query_json(db, "SELECT name, CASE enroll WHEN 'enrolled' "
	    "THEN CASE online WHEN 1 THEN 'online' ELSE 'offline' END "
	    "WHEN 'approved' THEN 'approved' ELSE 'pending_approval' END "
	    "AS state, online, enroll AS enrollment, CASE reenroll WHEN 1 "
	    "THEN 'requested' ELSE NULL END AS reenrollment, CASE WHEN "
	    "enroll <> 'enrolled' OR reenroll = 1 THEN csr_fp ELSE NULL END "
	    "AS request_fingerprint, address, segment, "
	    "last_seen, error, agent_version, boot_id, created_at, facts "
	    "FROM machines WHERE ?1 IS NULL OR name = ?1 ORDER BY name", "s",
	    name);
	if (a != NULL)
		db_machines_other_requests(db, a, name);
	return (name == NULL ? a : db_json_first(a));
}

/* ---- enrollment tokens ---- */

/* Keep a new token: its id, the SHA-256 of its secret, its limits. */
int
db_token_add(struct db *db, const char *id, const uint8_t hash[SHA256_LEN],
    const char *machine, int64_t uses, uint64_t expires_at, uint64_t now,
    const char *origin)
{
	return (db_exec(db, "INSERT INTO enroll_tokens (id, hash, machine, "
	    "uses_left, expires_at, created_at, origin) VALUES (?, ?, ?, ?, "
	    "?, ?, ?)", "sbsiuus", id, hash, (size_t)SHA256_LEN, machine, uses,
	    expires_at, now, origin) == 1 ? 0 : -1);
}

/* Drop the tokens of an origin (the file token of the last start). */
int
db_token_drop_origin(struct db *db, const char *origin)
{
	return (db_exec(db, "DELETE FROM enroll_tokens WHERE origin = ?", "s",
	    origin) == -1 ? -1 : 0);
}

/* Revoke a token by its id: 1 if there was one, 0 if not, -1 on error. */
int
db_token_remove(struct db *db, const char *id)
{
	return (db_exec(db, "DELETE FROM enroll_tokens WHERE id = ?", "s", id));
}

/*
 * Is the token (id, hash of its secret) good for enrolling name now?  1
 * when it is, 0 when not, with the reason in err, -1 on a database error.
 * Only a caller who holds the secret learns more than "not a token of
 * this server": whether it expired, is used up or is for another name.
 */
int
db_token_check(struct db *db, const char *id, const uint8_t hash[SHA256_LEN],
    const char *name, uint64_t now, char *err, size_t errlen)
{
	sqlite3_stmt	*st;
	const void	*h;
	const char	*machine;
	char		 tbuf[40];
	int		 rv;

	st = db_prep(db, "SELECT hash, machine, uses_left, uses, expires_at "
	    "FROM enroll_tokens WHERE id = ?", "s", id);
	if ((rv = db_step_row(db, st, "enroll token")) == -1)
		return (-1);
	if (rv == 0 || (h = sqlite3_column_blob(st, 0)) == NULL ||
	    sqlite3_column_bytes(st, 0) != SHA256_LEN ||
	    CRYPTO_memcmp(h, hash, SHA256_LEN) != 0) {
		if (rv == 1)
			sqlite3_finalize(st);
		snprintf(err, errlen, "not a token of this server (unknown, "
		    "revoked or replaced at a restart); make one with "
		    "'fleetcast machine token'");
		return (0);
	}
	rv = 0;
	machine = (const char *)sqlite3_column_text(st, 1);
	if ((uint64_t)sqlite3_column_int64(st, 4) <= now)
		snprintf(err, errlen, "expired at %s", db_format_time(
		    (uint64_t)sqlite3_column_int64(st, 4), tbuf,
		    sizeof(tbuf)));
	else if (sqlite3_column_int64(st, 2) <= 0)
		snprintf(err, errlen, "used up (%lld uses)",
		    (long long)sqlite3_column_int64(st, 3));
	else if (machine != NULL && strcmp(machine, name) != 0)
		snprintf(err, errlen, "for machine %s, not %s", machine, name);
	else
		rv = 1;
	sqlite3_finalize(st);
	return (rv);
}

/* One use of a token; 0 when it was used, -1 when it has none left. */
int
db_token_consume(struct db *db, const char *id)
{
	return (db_exec(db, "UPDATE enroll_tokens SET uses_left = uses_left "
	    "- 1, uses = uses + 1 WHERE id = ? AND uses_left > 0", "s",
	    id) == 1 ? 0 : -1);
}

json_t *
db_tokens_json(struct db *db)
{
	return (db_query_json(db, "SELECT id, machine, uses_left, uses, "
	    "expires_at, created_at, origin FROM enroll_tokens ORDER BY "
	    "created_at, id", NULL));
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

/* ---- runs ---- */

/* The id the next run will get (ids are never reused). */
int
db_run_next_id(struct db *db, uint64_t *id)
{
	int64_t	max = 0;

	if (db_query_int64(db, &max, "SELECT MAX(COALESCE((SELECT seq FROM "
	    "sqlite_sequence WHERE name = 'runs'), 0), COALESCE((SELECT "
	    "MAX(id) FROM runs), 0))", NULL) == -1)
		return (-1);
	*id = (uint64_t)max + 1;
	return (0);
}

/* The stored state of one machine in a run, "" when there is none. */
int
db_run_target_state(struct db *db, uint64_t id, const char *machine,
    char *state, size_t len)
{
	sqlite3_stmt	*st;

	state[0] = '\0';
	st = db_prep(db, "SELECT state FROM run_machines WHERE run_id = ? AND "
	    "machine = ?", "is", (int64_t)id, machine);
	if (st == NULL)
		return (-1);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(state, len, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return (0);
}

/*
 * The run in which machine got its sticky error msg (S6): the latest run
 * that recorded exactly that error for it; 0 when none is recorded.
 */
int
db_machine_error_run(struct db *db, const char *machine, const char *msg,
    uint64_t *run)
{
	int64_t	id = 0;

	*run = 0;
	if (db_query_int64(db, &id, "SELECT COALESCE(MAX(run_id), 0) FROM "
	    "run_machines WHERE machine = ? AND state = 'error' AND error = ?",
	    "ss", machine, msg) == -1)
		return (-1);
	*run = (uint64_t)id;
	return (0);
}

/*
 * Mark a run not held in memory finished once none of its machines is in
 * a state that can still change by itself; 1 if it is (now) finished.
 */
int
db_run_check_finished(struct db *db, uint64_t id, uint64_t now)
{
	int64_t	open = -1;

	if (db_query_int64(db, &open, "SELECT COUNT(*) FROM run_machines "
	    "WHERE run_id = ? AND state NOT IN ('pending_boot', 'succeeded', "
	    "'failed', 'error', 'missed', 'interrupted')", "i",
	    (int64_t)id) == -1)
		return (-1);
	if (open != 0)
		return (0);
	if (db_run_state(db, id, "finished", now) == -1)
		return (-1);
	return (1);
}

/*
 * A machine of a run that is already finished completed after its restart
 * (pending_boot -> succeeded or failed): the run's finished_at follows its
 * machines, so it becomes now once none is still open or pending.
 */
int
db_run_finish_late(struct db *db, uint64_t id, uint64_t now)
{
	int64_t	open = -1;

	if (db_query_int64(db, &open, "SELECT COUNT(*) FROM run_machines "
	    "WHERE run_id = ? AND state NOT IN ('succeeded', 'failed', "
	    "'error', 'missed', 'interrupted')", "i", (int64_t)id) == -1)
		return (-1);
	if (open != 0)
		return (db_run_check_finished(db, id, now));
	return (db_exec(db, "UPDATE runs SET state = 'finished', finished_at "
	    "= ? WHERE id = ?", "ui", now, (int64_t)id) == 1 ? 1 : -1);
}

/* Persist a new run (with r->id from db_run_next_id) and its machines. */
int
db_run_create(struct db *db, struct db_run *r)
{
	json_t	*o;
	char	*spec;
	size_t	 i;

	o = scenario_to_json(&r->sc);
	spec = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (db_begin(db) == -1) {
		free(spec);
		return (-1);
	}
	if (db_exec(db, "INSERT INTO runs (id, scenario, spec, state, grp, "
	    "port, data_key, created_at) VALUES (?, ?, ?, 'waiting', ?, ?, ?, "
	    "?)", "isssdbu", (int64_t)r->id, r->sc.name, spec, r->group,
	    (int)r->port, r->key, (size_t)CTL_KEY_LEN, r->created_at) == -1)
		goto fail;
	for (i = 0; i < r->ntargets; i++) {
		if (db_exec(db, "INSERT INTO run_machines (run_id, machine, "
		    "pos, state, path, error, updated_at) VALUES "
		    "(?, ?, ?, ?, ?, ?, ?)", "isdsssu", (int64_t)r->id,
		    r->targets[i].machine, (int)i, r->targets[i].state,
		    r->targets[i].path, r->targets[i].error,
		    r->created_at) == -1 ||
		    db_exec(db, "INSERT INTO run_history (run_id, machine, "
		    "state, detail, at) VALUES (?, ?, ?, ?, ?)", "isssu",
		    (int64_t)r->id, r->targets[i].machine,
		    r->targets[i].state, r->targets[i].error,
		    r->created_at) == -1)
			goto fail;
	}
	db_event(db, r->created_at, "run", r->id, NULL, "run of scenario %s "
	    "created for %zu machine%s", r->sc.name, r->ntargets,
	    r->ntargets == 1 ? "" : "s");
	free(spec);
	if (db_commit(db) == -1)
		goto fail;
	return (0);
fail:
	free(spec);
	db_rollback(db);
	return (-1);
}

int
db_run_state(struct db *db, uint64_t id, const char *state, uint64_t now)
{
	const char	*col = NULL;
	char		 sql[160];

	if (strcmp(state, "transferring") == 0)
		col = "transfer_started_at";
	else if (strcmp(state, "finished") == 0)
		col = "finished_at";
	if (col != NULL) {
		/* The first time it entered the state is the one kept. */
		snprintf(sql, sizeof(sql), "UPDATE runs SET state = ?, %s = "
		    "COALESCE(%s, ?) WHERE id = ?", col, col);
		return (db_exec(db, sql, "sui", state, now, (int64_t)id) == 1 ?
		    0 : -1);
	}
	return (db_exec(db, "UPDATE runs SET state = ? WHERE id = ?", "si",
	    state, (int64_t)id) == 1 ? 0 : -1);
}

/*
 * One state change of one machine in a run, with its history row.  path,
 * error and output: NULL keeps the stored value; has_exit says whether
 * exit_status is meant; bytes < 0 keeps the stored count.
 */
int
db_run_target(struct db *db, uint64_t id, const char *machine,
    const char *state, const char *path, const char *error, int has_exit,
    int64_t exit_status, int64_t bytes, const char *output, uint64_t now)
{
	if (db_exec(db, "UPDATE run_machines SET state = ?, "
	    "path = COALESCE(?, path), error = COALESCE(?, error), "
	    "exit_status = CASE ? WHEN 1 THEN ? ELSE exit_status END, "
	    "bytes_received = CASE WHEN ? < 0 THEN bytes_received ELSE ? END, "
	    "output = COALESCE(?, output), updated_at = ? "
	    "WHERE run_id = ? AND machine = ?", "sssdiiisuis", state, path,
	    error, has_exit, exit_status, bytes, bytes, output, now,
	    (int64_t)id, machine) != 1)
		return (-1);
	return (db_exec(db, "INSERT INTO run_history (run_id, machine, state, "
	    "detail, at) VALUES (?, ?, ?, ?, ?)", "isssu", (int64_t)id,
	    machine, state, error, now) == -1 ? -1 : 0);
}

/*
 * The path a machine's data takes and why: set when its transfer starts,
 * and again when it falls back to unicast, which (history) also adds a
 * history row in the machine's current state with the reason.
 */
int
db_run_path(struct db *db, uint64_t id, const char *machine,
    const char *path, const char *reason, uint64_t now, int history)
{
	if (db_exec(db, "UPDATE run_machines SET path = ?, path_reason = ?, "
	    "updated_at = ? WHERE run_id = ? AND machine = ?", "ssuis", path,
	    reason, now, (int64_t)id, machine) != 1)
		return (-1);
	if (!history)
		return (0);
	return (db_run_note(db, id, machine, reason, now));
}

/* A history row in the machine's current state: something it waits for. */
int
db_run_note(struct db *db, uint64_t id, const char *machine,
    const char *detail, uint64_t now)
{
	return (db_exec(db, "INSERT INTO run_history (run_id, machine, state, "
	    "detail, at) SELECT run_id, machine, state, ?, ? FROM run_machines "
	    "WHERE run_id = ? AND machine = ?", "suis", detail, now,
	    (int64_t)id, machine) == -1 ? -1 : 0);
}

/* Progress only: no history row for every block. */
int
db_run_bytes(struct db *db, uint64_t id, const char *machine, uint64_t bytes)
{
	return (db_exec(db, "UPDATE run_machines SET bytes_received = ? "
	    "WHERE run_id = ? AND machine = ?", "iis", (int64_t)bytes,
	    (int64_t)id, machine) == -1 ? -1 : 0);
}

void
db_run_clear(struct db_run *r)
{
	size_t	i;

	for (i = 0; i < r->ntargets; i++) {
		free(r->targets[i].machine);
		free(r->targets[i].state);
		free(r->targets[i].path);
		free(r->targets[i].error);
	}
	free(r->targets);
	free(r->state);
	db_scenario_clear(&r->sc);
	explicit_bzero(r->key, sizeof(r->key));
	memset(r, 0, sizeof(*r));
}

/* Every run not finished, with its machines, for the restart. */
int
db_runs_active(struct db *db, struct db_run **out, size_t *nout)
{
	sqlite3_stmt	*st, *mt;
	struct db_run	*runs = NULL, *r;
	size_t		 n = 0;
	json_t		*o;
	int		 rv;

	st = db_prep(db, "SELECT id, spec, state, grp, port, data_key, "
	    "created_at, COALESCE(transfer_started_at, 0) FROM runs WHERE "
	    "state != 'finished' ORDER BY id", NULL);
	if (st == NULL)
		return (-1);
	while ((rv = sqlite3_step(st)) == SQLITE_ROW) {
		runs = xreallocarray(runs, n + 1, sizeof(*runs));
		r = &runs[n++];
		memset(r, 0, sizeof(*r));
		r->id = (uint64_t)sqlite3_column_int64(st, 0);
		o = json_loads((const char *)sqlite3_column_text(st, 1), 0,
		    NULL);
		if (scenario_from_json(o, &r->sc) == -1)
			log_warnx("database: run %" PRIu64 ": unreadable "
			    "scenario snapshot", r->id);
		json_decref(o);
		snprintf(r->scenario, sizeof(r->scenario), "%s", r->sc.name);
		r->state = col_strdup(st, 2);
		snprintf(r->group, sizeof(r->group), "%s",
		    sqlite3_column_text(st, 3));
		r->port = (uint16_t)sqlite3_column_int(st, 4);
		if (sqlite3_column_bytes(st, 5) == CTL_KEY_LEN)
			memcpy(r->key, sqlite3_column_blob(st, 5),
			    CTL_KEY_LEN);
		r->created_at = (uint64_t)sqlite3_column_int64(st, 6);
		r->transfer_started_at = (uint64_t)sqlite3_column_int64(st,
		    7);
		mt = db_prep(db, "SELECT machine, state, path, error FROM "
		    "run_machines WHERE run_id = ? ORDER BY pos", "i",
		    (int64_t)r->id);
		if (mt == NULL)
			break;
		while (sqlite3_step(mt) == SQLITE_ROW) {
			r->targets = xreallocarray(r->targets, r->ntargets + 1,
			    sizeof(*r->targets));
			r->targets[r->ntargets].machine = col_strdup(mt, 0);
			r->targets[r->ntargets].state = col_strdup(mt, 1);
			r->targets[r->ntargets].path = col_strdup(mt, 2);
			r->targets[r->ntargets].error = col_strdup(mt, 3);
			r->ntargets++;
		}
		sqlite3_finalize(mt);
	}
	sqlite3_finalize(st);
	*out = runs;
	*nout = n;
	return (0);
}

/*
 * Runs as JSON: all of them (id < 0) in summary, or one with its machines
 * and each machine's history of state changes; NULL if it does not exist.
 */
json_t *
db_runs_json(struct db *db, int64_t id)
{
	json_t	*a, *o, *ms, *m, *h;
	size_t	 i;

	if (id < 0)
		return (db_query_json(db, "SELECT r.id, r.scenario, r.state, "
		    "r.grp AS \"group\", r.created_at, r.transfer_started_at, "
		    "r.finished_at, (SELECT COUNT(*) FROM run_machines m "
		    "WHERE m.run_id = r.id) AS machines, (SELECT COUNT(*) FROM "
		    "run_machines m WHERE m.run_id = r.id AND m.state IN "
		    "('succeeded', 'pending_boot')) AS succeeded FROM runs r "
		    "ORDER BY r.id", NULL));
	a = db_query_json(db, "SELECT id, scenario, state, grp AS \"group\", "
	    "port, created_at, transfer_started_at, finished_at, spec FROM "
	    "runs WHERE id = ?", "i", id);
	if ((o = db_json_first(a)) == NULL)
		return (NULL);
	/* SPEC.md wants null, not a missing key, for unset times. */
	ms = db_query_json(db, "SELECT machine AS name, state, path, "
	    "path_reason, error, exit_status, bytes_received, output, "
	    "updated_at FROM run_machines WHERE run_id = ? ORDER BY pos", "i",
	    id);
	if (ms == NULL) {
		json_decref(o);
		return (NULL);
	}
	json_array_foreach(ms, i, m) {
		h = db_query_json(db, "SELECT state, detail, at FROM "
		    "run_history WHERE run_id = ? AND machine = ? ORDER BY id",
		    "is", id, json_string_value(json_object_get(m, "name")));
		json_object_set_new(m, "history", h != NULL ? h : json_array());
	}
	json_object_set_new(o, "machines", ms);
	return (o);
}
