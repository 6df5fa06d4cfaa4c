/*
 * The agent's persistent state: one SQLite database in state_dir (WAL
 * journal, synchronous=FULL, so a committed transaction survives kill -9
 * and power loss) and a root-only staging directory beside it.  Every
 * change of a run, of the next-boot queue and of the installed packages
 * is a transaction committed before the agent acts on it; a failed write
 * (a full disk above all) rolls back and leaves the earlier state whole.
 * Transactions are savepoints, so callers can group several changes into
 * one atomic step and the functions below still work inside it.  The
 * schema carries its version in user_version and is migrated forward.
 */
#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "agent.h"
#include "ctl.h"
#include "log.h"
#include "xmalloc.h"

struct state {
	sqlite3		*db;
	char		*dir;
	char		*path;
	char		*staging;
	int		 depth;		/* open savepoints */
};

/*
 * Schema migrations, applied in order; user_version counts those applied.
 * Append a new entry for every change: never edit an old one.
 */
static const char *state_migrations[] = {
	/* 1: the first schema. */
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL);"
	"CREATE TABLE runs ("
	"  run_id INTEGER PRIMARY KEY,"
	"  scenario TEXT NOT NULL,"
	"  path INTEGER NOT NULL,"
	"  addr TEXT NOT NULL,"
	"  port INTEGER NOT NULL,"
	"  key BLOB NOT NULL,"
	"  options INTEGER NOT NULL,"
	"  state INTEGER NOT NULL,"
	"  pkg_index INTEGER NOT NULL,"
	"  outcome INTEGER NOT NULL,"
	"  message TEXT NOT NULL,"
	"  reported INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL);"
	"CREATE TABLE run_pkgs ("
	"  run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL,"
	"  pkg_id TEXT NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  sha256 BLOB NOT NULL,"
	"  signature BLOB NOT NULL,"
	"  manifest BLOB NOT NULL,"
	"  state INTEGER NOT NULL,"
	"  bytes INTEGER NOT NULL,"
	"  has_exit INTEGER NOT NULL,"
	"  exit_status INTEGER NOT NULL,"
	"  message TEXT NOT NULL,"
	"  output TEXT NOT NULL,"
	"  PRIMARY KEY (run_id, idx));"
	"CREATE TABLE pending ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  run_id INTEGER NOT NULL UNIQUE,"
	"  kind INTEGER NOT NULL,"
	"  state INTEGER NOT NULL,"
	"  boot_id TEXT NOT NULL);"
	"CREATE TABLE installed ("
	"  pkg_id TEXT PRIMARY KEY,"
	"  has_version INTEGER NOT NULL,"
	"  major INTEGER NOT NULL,"
	"  minor INTEGER NOT NULL,"
	"  supersedes TEXT NOT NULL,"
	"  run_id INTEGER NOT NULL,"
	"  installed_at INTEGER NOT NULL);",
	/*
	 * 2: the per-package high-water mark (issue #12 finding 8): the
	 * highest version of each package id that ever started to run here,
	 * kept when the package is superseded or its installed row replaced.
	 * What is installed already ran: it seeds the marks.
	 */
	"CREATE TABLE marks ("
	"  pkg_id TEXT PRIMARY KEY,"
	"  has_version INTEGER NOT NULL,"
	"  major INTEGER NOT NULL,"
	"  minor INTEGER NOT NULL,"
	"  run_id INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL);"
	"INSERT INTO marks (pkg_id, has_version, major, minor, run_id, "
	"  updated_at) SELECT pkg_id, has_version, major, minor, run_id, "
	"  installed_at FROM installed;",
	/*
	 * 3: the member id and key the server gave this machine for a run
	 * (ASSIGN), and the transport session it was told to take (START),
	 * 0 until then (issue #12 findings 2 and 4).
	 */
	"ALTER TABLE runs ADD COLUMN member_id INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN member_key BLOB;"
	"ALTER TABLE runs ADD COLUMN session INTEGER NOT NULL DEFAULT 0;",
};
#define STATE_NMIGRATIONS \
	(sizeof(state_migrations) / sizeof(state_migrations[0]))

void
state_sqlerr(struct state *st, const char *what, char *err, size_t errlen)
{
	int	code = sqlite3_errcode(st->db);

	if (code == SQLITE_FULL)
		snprintf(err, errlen, "%s: %s: disk full (%s)", st->path, what,
		    sqlite3_errmsg(st->db));
	else
		snprintf(err, errlen, "%s: %s: %s", st->path, what,
		    sqlite3_errmsg(st->db));
}

static int
state_exec(struct state *st, const char *sql, const char *what, char *err,
    size_t errlen)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		state_sqlerr(st, what, err, errlen);
		return (-1);
	}
	return (0);
}

static int
state_prepare(struct state *st, sqlite3_stmt **stmt, const char *sql,
    char *err, size_t errlen)
{
	if (sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL) != SQLITE_OK) {
		state_sqlerr(st, "prepare", err, errlen);
		*stmt = NULL;
		return (-1);
	}
	return (0);
}

/*
 * Finalize a statement whose last sqlite3_step() returned rc.  SQLITE_DONE
 * (every row read) and SQLITE_ROW (the one row wanted read) are success;
 * anything else is an error, put in err before the statement goes.
 */
static int
state_finish(struct state *st, sqlite3_stmt *stmt, int rc, const char *what,
    char *err, size_t errlen)
{
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		state_sqlerr(st, what, err, errlen);
		sqlite3_finalize(stmt);
		return (-1);
	}
	sqlite3_finalize(stmt);
	return (0);
}

/*
 * Step a statement that returns no rows (INSERT, UPDATE, DELETE never
 * give SQLITE_ROW), then finalize it.
 */
static int
state_step_done(struct state *st, sqlite3_stmt *stmt, const char *what,
    char *err, size_t errlen)
{
	return (state_finish(st, stmt, sqlite3_step(stmt), what, err,
	    errlen));
}

static int
state_mkdir(const char *path, char *err, size_t errlen)
{
	struct stat	sb;

	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	if (stat(path, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", path);
		return (-1);
	}
	/*
	 * Staged payloads and the run keys are for root only, whatever the
	 * umask or an earlier installation left.
	 */
	if ((sb.st_mode & 077) != 0 && chmod(path, 0700) == -1) {
		snprintf(err, errlen, "%s: chmod 0700: %s", path,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

static int
state_migrate(struct state *st, char *err, size_t errlen)
{
	sqlite3_stmt	*stmt;
	int		 version;
	size_t		 i;
	char		 sql[64], what[64];

	if (state_prepare(st, &stmt, "PRAGMA user_version", err, errlen) == -1)
		return (-1);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		state_sqlerr(st, "user_version", err, errlen);
		sqlite3_finalize(stmt);
		return (-1);
	}
	version = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	if (version < 0 || (size_t)version > STATE_NMIGRATIONS) {
		snprintf(err, errlen, "%s: schema version %d is newer than "
		    "this agent knows (%zu): refusing to touch it", st->path,
		    version, STATE_NMIGRATIONS);
		return (-1);
	}
	for (i = version; i < STATE_NMIGRATIONS; i++) {
		snprintf(what, sizeof(what), "migration %zu", i + 1);
		if (state_begin(st, err, errlen) == -1)
			return (-1);
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %zu", i + 1);
		if (state_exec(st, state_migrations[i], what, err,
		    errlen) == -1 ||
		    state_exec(st, sql, what, err, errlen) == -1) {
			state_rollback(st);
			return (-1);
		}
		if (state_commit(st, err, errlen) == -1)
			return (-1);
		log_info("%s: schema migrated to version %zu", st->path, i + 1);
	}
	return (0);
}

int
state_open(struct state **stp, const char *dir, char *err, size_t errlen)
{
	struct state	*st;

	*stp = NULL;
	st = xcalloc(1, sizeof(*st));
	st->dir = xstrdup(dir);
	xasprintf(&st->path, "%s/%s", dir, STATE_DB);
	xasprintf(&st->staging, "%s/%s", dir, STATE_STAGING);
	if (state_mkdir(dir, err, errlen) == -1 ||
	    state_mkdir(st->staging, err, errlen) == -1)
		goto fail;
	if (sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		if (st->db == NULL)
			snprintf(err, errlen, "%s: cannot open", st->path);
		else
			state_sqlerr(st, "open", err, errlen);
		goto fail;
	}
	(void)chmod(st->path, 0600);
	sqlite3_busy_timeout(st->db, 5000);
	if (state_exec(st, "PRAGMA journal_mode = WAL", "journal_mode", err,
	    errlen) == -1 ||
	    state_exec(st, "PRAGMA synchronous = FULL", "synchronous", err,
	    errlen) == -1 ||
	    state_exec(st, "PRAGMA foreign_keys = ON", "foreign_keys", err,
	    errlen) == -1 ||
	    state_migrate(st, err, errlen) == -1)
		goto fail;
	*stp = st;
	return (0);
fail:
	state_close(st);
	return (-1);
}

void
state_close(struct state *st)
{
	if (st == NULL)
		return;
	if (st->db != NULL)
		sqlite3_close(st->db);
	free(st->dir);
	free(st->path);
	free(st->staging);
	free(st);
}

struct sqlite3 *
state_db(struct state *st)
{
	return (st->db);
}

const char *
state_dir(const struct state *st)
{
	return (st->dir);
}

const char *
state_staging(const struct state *st)
{
	return (st->staging);
}

/*
 * The outermost level is a real transaction (BEGIN ... COMMIT, or
 * ROLLBACK, which always ends it, even when the commit itself failed on a
 * full disk); inner levels are savepoints, so that functions that group
 * their own writes also work inside a caller's transaction.
 */
int
state_begin(struct state *st, char *err, size_t errlen)
{
	if (state_exec(st, st->depth == 0 ? "BEGIN IMMEDIATE" : "SAVEPOINT st",
	    "begin", err, errlen) == -1)
		return (-1);
	st->depth++;
	return (0);
}

int
state_commit(struct state *st, char *err, size_t errlen)
{
	if (state_exec(st, st->depth == 1 ? "COMMIT" : "RELEASE st", "commit",
	    err, errlen) == -1) {
		state_rollback(st);
		return (-1);
	}
	st->depth--;
	return (0);
}

void
state_rollback(struct state *st)
{
	if (st->depth == 0)
		return;
	if (st->depth == 1)
		(void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	else
		(void)sqlite3_exec(st->db, "ROLLBACK TO st; RELEASE st", NULL,
		    NULL, NULL);
	st->depth--;
	if (st->depth == 0 && !sqlite3_get_autocommit(st->db))
		log_warnx("%s: a transaction is still open after rollback",
		    st->path);
}

/* *val is NULL when the key is not set. */
int
state_meta_get(struct state *st, const char *key, char **val, char *err,
    size_t errlen)
{
	sqlite3_stmt	*stmt;
	int		 rc;

	*val = NULL;
	if (state_prepare(st, &stmt, "SELECT value FROM meta WHERE key = ?",
	    err, errlen) == -1)
		return (-1);
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*val = xstrdup((const char *)sqlite3_column_text(stmt, 0));
	return (state_finish(st, stmt, rc, "meta", err, errlen));
}

/* A NULL value deletes the key. */
int
state_meta_set(struct state *st, const char *key, const char *val, char *err,
    size_t errlen)
{
	sqlite3_stmt	*stmt;

	if (val == NULL) {
		if (state_prepare(st, &stmt, "DELETE FROM meta WHERE key = ?",
		    err, errlen) == -1)
			return (-1);
		sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	} else {
		if (state_prepare(st, &stmt, "INSERT OR REPLACE INTO meta "
		    "(key, value) VALUES (?, ?)", err, errlen) == -1)
			return (-1);
		sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 2, val, -1, SQLITE_STATIC);
	}
	return (state_step_done(st, stmt, "meta", err, errlen));
}

/*
 * Checking a stored run as it is loaded (issue #12 finding 6).  The
 * database is ours, but a disk error, a bad restore or a hand edit can
 * leave rows that the run code would index with or divide by: a RECEIVING
 * run without packages, a pkg_index past the last package, a key blob of
 * the wrong length.  Each column is checked against its rule; the first
 * that fails is named in rec->invalid, and the record is made harmless
 * (no packages to index past, no options that would reboot the machine,
 * every value in its range) so that run.c can finish the run as
 * interrupted with that reason and the agent goes on.
 */
static int
state_col_range(sqlite3_stmt *stmt, int i, int64_t lo, int64_t hi,
    int64_t *out, const char *what, char *why, size_t whylen)
{
	int64_t	v;

	*out = lo;
	if (sqlite3_column_type(stmt, i) != SQLITE_INTEGER) {
		snprintf(why, whylen, "%s: not an integer", what);
		return (-1);
	}
	v = sqlite3_column_int64(stmt, i);
	if (v < lo || v > hi) {
		snprintf(why, whylen, "%s: %lld, must be %lld to %lld", what,
		    (long long)v, (long long)lo, (long long)hi);
		return (-1);
	}
	*out = v;
	return (0);
}

static int
state_col_blob(sqlite3_stmt *stmt, int i, size_t min, size_t max,
    const char *what, char *why, size_t whylen)
{
	size_t	n;

	if (sqlite3_column_type(stmt, i) != SQLITE_BLOB) {
		snprintf(why, whylen, "%s: not a blob", what);
		return (-1);
	}
	n = (size_t)sqlite3_column_bytes(stmt, i);
	if (n < min || n > max) {
		snprintf(why, whylen, "%s: %zu bytes, must be %zu to %zu", what,
		    n, min, max);
		return (-1);
	}
	return (0);
}

static int
state_col_text(sqlite3_stmt *stmt, int i, const char *what, char *why,
    size_t whylen)
{
	if (sqlite3_column_type(stmt, i) != SQLITE_TEXT) {
		snprintf(why, whylen, "%s: not text", what);
		return (-1);
	}
	return (0);
}

/* Installed packages. */

int
state_installed_add(struct state *st, const struct pkg_manifest *m,
    uint64_t run_id, char *err, size_t errlen)
{
	sqlite3_stmt	*stmt;
	char		*sup;
	size_t		 i, len = 1, off = 0, n;

	/* Ids hold no blanks (P1), so one blank separates them. */
	for (i = 0; i < m->supersedes.n; i++)
		len += strlen(m->supersedes.v[i]) + 1;
	sup = xcalloc(1, len);
	for (i = 0; i < m->supersedes.n; i++) {
		if (i > 0)
			sup[off++] = ' ';
		n = strlen(m->supersedes.v[i]);
		memcpy(sup + off, m->supersedes.v[i], n);
		off += n;
	}
	sup[off] = '\0';
	if (state_prepare(st, &stmt, "INSERT OR REPLACE INTO installed "
	    "(pkg_id, has_version, major, minor, supersedes, run_id, "
	    "installed_at) VALUES (?, ?, ?, ?, ?, ?, ?)", err, errlen) == -1) {
		free(sup);
		return (-1);
	}
	sqlite3_bind_text(stmt, 1, m->id, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, m->has_version);
	sqlite3_bind_int(stmt, 3, m->major);
	sqlite3_bind_int(stmt, 4, m->minor);
	sqlite3_bind_text(stmt, 5, sup, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 6, (sqlite3_int64)run_id);
	sqlite3_bind_int64(stmt, 7, (sqlite3_int64)time(NULL));
	free(sup);
	return (state_step_done(st, stmt, "installed", err, errlen));
}

int
state_installed_list(struct state *st, struct installed **out, size_t *nout,
    char *err, size_t errlen)
{
	sqlite3_stmt	*stmt;
	struct installed *v = NULL, *in;
	size_t		 n = 0;
	char		*sup, *word, *p;
	int		 rc;

	*out = NULL;
	*nout = 0;
	if (state_prepare(st, &stmt, "SELECT pkg_id, has_version, major, "
	    "minor, supersedes, run_id, installed_at FROM installed ORDER BY "
	    "pkg_id", err, errlen) == -1)
		return (-1);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		v = xreallocarray(v, n + 1, sizeof(*v));
		in = &v[n++];
		memset(in, 0, sizeof(*in));
		in->id = xstrdup((const char *)sqlite3_column_text(stmt, 0));
		in->has_version = sqlite3_column_int(stmt, 1);
		in->major = (uint16_t)sqlite3_column_int(stmt, 2);
		in->minor = (uint16_t)sqlite3_column_int(stmt, 3);
		sup = xstrdup((const char *)sqlite3_column_text(stmt, 4));
		for (p = sup; (word = strsep(&p, " ")) != NULL; ) {
			if (*word == '\0')
				continue;
			in->supersedes.v = xreallocarray(in->supersedes.v,
			    in->supersedes.n + 1, sizeof(char *));
			in->supersedes.v[in->supersedes.n++] = xstrdup(word);
		}
		free(sup);
		in->run_id = (uint64_t)sqlite3_column_int64(stmt, 5);
		in->installed_at = sqlite3_column_int64(stmt, 6);
	}
	if (state_finish(st, stmt, rc, "installed", err, errlen) == -1) {
		state_installed_free(v, n);
		return (-1);
	}
	*out = v;
	*nout = n;
	return (0);
}

void
state_installed_free(struct installed *v, size_t n)
{
	size_t	i, j;

	for (i = 0; i < n; i++) {
		free(v[i].id);
		for (j = 0; j < v[i].supersedes.n; j++)
			free(v[i].supersedes.v[j]);
		free(v[i].supersedes.v);
	}
	free(v);
}

/*
 * High-water marks.  A mark is read, compared (applic_mark_check) and
 * raised in the transaction that stores the package as running, so that
 * nothing lower can start after it, whatever was installed or superseded
 * since.  *found is 0 when the package never ran here.
 */
int
state_mark_get(struct state *st, const char *id, struct pkg_mark *mark,
    int *found, char *err, size_t errlen)
{
	sqlite3_stmt	*stmt;
	int		 rc;
	int64_t		 v;
	char		 why[128];

	*found = 0;
	memset(mark, 0, sizeof(*mark));
	if (state_prepare(st, &stmt, "SELECT has_version, major, minor, "
	    "run_id FROM marks WHERE pkg_id = ?", err, errlen) == -1)
		return (-1);
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*found = 1;
		/* A broken mark holds at its highest: nothing passes it. */
		mark->has_version = 1;
		mark->major = mark->minor = UINT16_MAX;
		if (state_col_range(stmt, 0, 0, 1, &v, "has_version", why,
		    sizeof(why)) == 0)
			mark->has_version = (int)v;
		if (state_col_range(stmt, 1, 0, UINT16_MAX, &v, "major", why,
		    sizeof(why)) == 0)
			mark->major = (uint16_t)v;
		if (state_col_range(stmt, 2, 0, UINT16_MAX, &v, "minor", why,
		    sizeof(why)) == 0)
			mark->minor = (uint16_t)v;
		mark->run_id = (uint64_t)sqlite3_column_int64(stmt, 3);
	}
	return (state_finish(st, stmt, rc, "marks", err, errlen));
}

/* Raise the mark of m->id to m's version; a lower one is left alone. */
int
state_mark_raise(struct state *st, const struct pkg_manifest *m,
    uint64_t run_id, char *err, size_t errlen)
{
	sqlite3_stmt	*stmt;
	struct pkg_mark	 cur;
	int		 found;

	if (state_mark_get(st, m->id, &cur, &found, err, errlen) == -1)
		return (-1);
	if (found && cur.has_version && (!m->has_version ||
	    m->major < cur.major || (m->major == cur.major &&
	    m->minor <= cur.minor)))
		return (0);
	if (state_prepare(st, &stmt, "INSERT OR REPLACE INTO marks (pkg_id, "
	    "has_version, major, minor, run_id, updated_at) VALUES (?, ?, ?, "
	    "?, ?, ?)", err, errlen) == -1)
		return (-1);
	sqlite3_bind_text(stmt, 1, m->id, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, m->has_version);
	sqlite3_bind_int(stmt, 3, m->major);
	sqlite3_bind_int(stmt, 4, m->minor);
	sqlite3_bind_int64(stmt, 5, (sqlite3_int64)run_id);
	sqlite3_bind_int64(stmt, 6, (sqlite3_int64)time(NULL));
	return (state_step_done(st, stmt, "marks", err, errlen));
}

/* Runs. */

static const char *
nz(const char *s)
{
	return (s != NULL ? s : "");
}

/*
 * The fields of a run that change while it goes on, bound from parameter
 * first on: the insert writes them with the rest, the update only them.
 */
static void
state_bind_run_progress(sqlite3_stmt *stmt, int first,
    const struct run_rec *r)
{
	sqlite3_bind_int(stmt, first, r->state);
	sqlite3_bind_int(stmt, first + 1, r->pkg_index);
	sqlite3_bind_int(stmt, first + 2, r->outcome);
	sqlite3_bind_text(stmt, first + 3, nz(r->message), -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, first + 4, r->reported);
}

/* The same for one package of the run. */
static void
state_bind_pkg_progress(sqlite3_stmt *stmt, int first,
    const struct run_pkg *p)
{
	sqlite3_bind_int(stmt, first, p->state);
	sqlite3_bind_int64(stmt, first + 1, (sqlite3_int64)p->bytes);
	sqlite3_bind_int(stmt, first + 2, p->has_exit);
	sqlite3_bind_int(stmt, first + 3, p->exit_status);
	sqlite3_bind_text(stmt, first + 4, nz(p->message), -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, first + 5, nz(p->output), -1, SQLITE_STATIC);
}

int
state_run_insert(struct state *st, const struct run_rec *r, char *err,
    size_t errlen)
{
	sqlite3_stmt		*stmt;
	const struct run_pkg	*p;
	size_t			 i;

	if (state_begin(st, err, errlen) == -1)
		return (-1);
	if (state_prepare(st, &stmt, "INSERT INTO runs (run_id, scenario, "
	    "path, addr, port, key, options, state, pkg_index, outcome, "
	    "message, reported, created_at, updated_at, member_id, "
	    "member_key, session) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
	    "?, ?, ?, ?, ?)", err, errlen) == -1)
		goto fail;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)r->run_id);
	sqlite3_bind_text(stmt, 2, nz(r->scenario), -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 3, r->path);
	sqlite3_bind_text(stmt, 4, nz(r->addr), -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 5, r->port);
	sqlite3_bind_blob(stmt, 6, r->key, sizeof(r->key), SQLITE_STATIC);
	sqlite3_bind_int(stmt, 7, r->options);
	state_bind_run_progress(stmt, 8, r);
	sqlite3_bind_int64(stmt, 13, r->created_at);
	sqlite3_bind_int64(stmt, 14, r->updated_at);
	sqlite3_bind_int64(stmt, 15, (sqlite3_int64)r->member_id);
	sqlite3_bind_blob(stmt, 16, r->member_key, sizeof(r->member_key),
	    SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 17, (sqlite3_int64)r->session);
	if (state_step_done(st, stmt, "insert run", err, errlen) == -1)
		goto fail;
	for (i = 0; i < r->npkgs; i++) {
		p = &r->pkgs[i];
		if (state_prepare(st, &stmt, "INSERT INTO run_pkgs (run_id, "
		    "idx, pkg_id, size, sha256, manifest, state, bytes, "
		    "has_exit, exit_status, message, output, signature) VALUES "
		    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", err, errlen) == -1)
			goto fail;
		sqlite3_bind_int64(stmt, 1, (sqlite3_int64)r->run_id);
		sqlite3_bind_int(stmt, 2, (int)i);
		sqlite3_bind_text(stmt, 3, nz(p->id), -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 4, (sqlite3_int64)p->size);
		sqlite3_bind_blob(stmt, 5, p->sha256, sizeof(p->sha256),
		    SQLITE_STATIC);
		sqlite3_bind_blob(stmt, 6, p->manifest, (int)p->manifest_len,
		    SQLITE_STATIC);
		state_bind_pkg_progress(stmt, 7, p);
		sqlite3_bind_blob(stmt, 13, p->signature, sizeof(p->signature),
		    SQLITE_STATIC);
		if (state_step_done(st, stmt, "insert run package", err,
		    errlen) == -1)
			goto fail;
	}
	return (state_commit(st, err, errlen));
fail:
	state_rollback(st);
	return (-1);
}

/* Write back what changes during a run: never the assignment itself. */
int
state_run_update(struct state *st, const struct run_rec *r, char *err,
    size_t errlen)
{
	sqlite3_stmt		*stmt;
	const struct run_pkg	*p;
	size_t			 i;

	if (state_begin(st, err, errlen) == -1)
		return (-1);
	if (state_prepare(st, &stmt, "UPDATE runs SET state = ?, pkg_index = "
	    "?, outcome = ?, message = ?, reported = ?, updated_at = ?, "
	    "key = ?, member_id = ?, member_key = ?, session = ? WHERE "
	    "run_id = ?", err, errlen) == -1)
		goto fail;
	state_bind_run_progress(stmt, 1, r);
	sqlite3_bind_int64(stmt, 6, r->updated_at);
	sqlite3_bind_blob(stmt, 7, r->key, sizeof(r->key), SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 8, (sqlite3_int64)r->member_id);
	sqlite3_bind_blob(stmt, 9, r->member_key, sizeof(r->member_key),
	    SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 10, (sqlite3_int64)r->session);
	sqlite3_bind_int64(stmt, 11, (sqlite3_int64)r->run_id);
	if (state_step_done(st, stmt, "update run", err, errlen) == -1)
		goto fail;
	if (sqlite3_changes(st->db) != 1) {
		snprintf(err, errlen, "%s: run %llu is not stored", st->path,
		    (unsigned long long)r->run_id);
		goto fail;
	}
	for (i = 0; i < r->npkgs; i++) {
		p = &r->pkgs[i];
		if (state_prepare(st, &stmt, "UPDATE run_pkgs SET state = ?, "
		    "bytes = ?, has_exit = ?, exit_status = ?, message = ?, "
		    "output = ? WHERE run_id = ? AND idx = ?", err,
		    errlen) == -1)
			goto fail;
		state_bind_pkg_progress(stmt, 1, p);
		sqlite3_bind_int64(stmt, 7, (sqlite3_int64)r->run_id);
		sqlite3_bind_int(stmt, 8, (int)i);
		if (state_step_done(st, stmt, "update run package", err,
		    errlen) == -1)
			goto fail;
	}
	return (state_commit(st, err, errlen));
fail:
	state_rollback(st);
	return (-1);
}

/*
 * The server moved the run to another path (the unicast fallback): the
 * one part of the assignment that changes.  Stored before the agent acts
 * on it, so that an agent restarted in the middle of the unicast transfer
 * resumes on the unicast path; the server does not send ASSIGN again to a
 * machine that is transferring.
 */
int
state_run_set_path(struct state *st, const struct run_rec *r, char *err,
    size_t errlen)
{
	sqlite3_stmt	*stmt;

	if (state_prepare(st, &stmt, "UPDATE runs SET path = ?, addr = ?, "
	    "port = ?, updated_at = ?, session = ? WHERE run_id = ?", err,
	    errlen) == -1)
		return (-1);
	sqlite3_bind_int(stmt, 1, r->path);
	sqlite3_bind_text(stmt, 2, nz(r->addr), -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 3, r->port);
	sqlite3_bind_int64(stmt, 4, r->updated_at);
	sqlite3_bind_int64(stmt, 5, (sqlite3_int64)r->session);
	sqlite3_bind_int64(stmt, 6, (sqlite3_int64)r->run_id);
	if (state_step_done(st, stmt, "update run path", err, errlen) == -1)
		return (-1);
	if (sqlite3_changes(st->db) != 1) {
		snprintf(err, errlen, "%s: run %llu is not stored", st->path,
		    (unsigned long long)r->run_id);
		return (-1);
	}
	return (0);
}

static char *
col_str(sqlite3_stmt *stmt, int i)
{
	const unsigned char	*s = sqlite3_column_text(stmt, i);

	return (xstrdup(s != NULL ? (const char *)s : ""));
}

/* The first broken rule of a runs row, in why; 0 when it holds. */
static int
state_run_check(sqlite3_stmt *stmt, struct run_rec *r, char *why,
    size_t whylen)
{
	int64_t	v;

	if (state_col_text(stmt, 0, "scenario", why, whylen) == -1 ||
	    state_col_range(stmt, 1, CTL_PATH_MULTICAST, CTL_PATH_UNICAST, &v,
	    "path", why, whylen) == -1)
		return (-1);
	r->path = (uint8_t)v;
	if (state_col_text(stmt, 2, "addr", why, whylen) == -1 ||
	    state_col_range(stmt, 3, 0, UINT16_MAX, &v, "port", why,
	    whylen) == -1)
		return (-1);
	r->port = (uint16_t)v;
	if (state_col_blob(stmt, 4, AEAD_KEY_LEN, AEAD_KEY_LEN, "key", why,
	    whylen) == -1 ||
	    state_col_range(stmt, 5, 0, CTL_OPT_MASK, &v, "options", why,
	    whylen) == -1)
		return (-1);
	r->options = (uint8_t)v;
	if (state_col_range(stmt, 6, RUN_ASSIGNED, RUN_DONE, &v, "state", why,
	    whylen) == -1)
		return (-1);
	r->state = (int)v;
	if (state_col_range(stmt, 7, 0, CTL_MAX_PKGS - 1, &v, "pkg_index",
	    why, whylen) == -1)
		return (-1);
	r->pkg_index = (uint16_t)v;
	if (state_col_range(stmt, 8, 0, CTL_RS_MAX, &v, "outcome", why,
	    whylen) == -1)
		return (-1);
	r->outcome = (int)v;
	if (state_col_text(stmt, 9, "message", why, whylen) == -1 ||
	    state_col_range(stmt, 10, 0, 1, &v, "reported", why, whylen) == -1)
		return (-1);
	r->reported = (int)v;
	/* A member id needs its key; a row from before them has neither. */
	if (sqlite3_column_int64(stmt, 13) != 0 &&
	    state_col_blob(stmt, 14, AEAD_KEY_LEN, AEAD_KEY_LEN, "member_key",
	    why, whylen) == -1)
		return (-1);
	return (0);
}

/* The same for the package row idx of a run. */
static int
state_pkg_check(sqlite3_stmt *stmt, size_t idx, struct run_pkg *p, char *why,
    size_t whylen)
{
	const unsigned char	*id;
	int64_t			 v;
	char			 sub[256];

	if (state_col_range(stmt, 11, (int64_t)idx, (int64_t)idx, &v, "idx",
	    why, whylen) == -1)
		return (-1);
	id = sqlite3_column_text(stmt, 0);
	if (state_col_text(stmt, 0, "pkg_id", why, whylen) == -1)
		return (-1);
	if (pkg_field_check_id("pkg_id", (const char *)id, sub,
	    sizeof(sub)) == -1) {
		snprintf(why, whylen, "%s", sub);
		return (-1);
	}
	if (state_col_range(stmt, 1, 1, INT64_MAX, &v, "size", why,
	    whylen) == -1 ||
	    state_col_blob(stmt, 2, SHA256_LEN, SHA256_LEN, "sha256", why,
	    whylen) == -1 ||
	    state_col_blob(stmt, 3, 1, PKG_MANIFEST_MAX, "manifest", why,
	    whylen) == -1 ||
	    state_col_range(stmt, 4, RUN_P_WAITING, RUN_P_SKIPPED, &v,
	    "state", why, whylen) == -1)
		return (-1);
	p->state = (int)v;
	if (state_col_range(stmt, 5, 0, INT64_MAX, &v, "bytes", why,
	    whylen) == -1 ||
	    state_col_range(stmt, 6, 0, 1, &v, "has_exit", why, whylen) == -1 ||
	    state_col_range(stmt, 7, INT32_MIN, INT32_MAX, &v, "exit_status",
	    why, whylen) == -1 ||
	    state_col_text(stmt, 8, "message", why, whylen) == -1 ||
	    state_col_text(stmt, 9, "output", why, whylen) == -1 ||
	    state_col_blob(stmt, 10, ED25519_SIG_LEN, ED25519_SIG_LEN,
	    "signature", why, whylen) == -1)
		return (-1);
	return (0);
}

/*
 * A run that broke a rule: say which (run_id, the table, the rule) and
 * leave nothing that run.c could trip on.  Its packages are kept only if
 * they were all read and pkg_index is among them; no option survives
 * (a corrupt run must not power the machine off).
 */
static void
state_run_invalid(struct run_rec *r, const char *table, const char *why)
{
	size_t	i;

	if (r->invalid == NULL)
		xasprintf(&r->invalid, "state_dir: run %" PRIu64 ": %s row "
		    "broken: %s", r->run_id, table, why);
	r->options = 0;
	if (r->state < RUN_ASSIGNED || r->state > RUN_DONE)
		r->state = RUN_ASSIGNED;
	if (r->outcome < 0 || r->outcome > CTL_RS_MAX)
		r->outcome = 0;
	if (r->pkg_index >= r->npkgs)
		r->pkg_index = 0;
	for (i = 0; i < r->npkgs; i++)
		if (r->pkgs[i].state < RUN_P_WAITING ||
		    r->pkgs[i].state > RUN_P_SKIPPED)
			r->pkgs[i].state = RUN_P_INTERRUPTED;
}

/*
 * 0 and *out set, or 0 and *out NULL when there is no such run, or -1.
 * A run whose rows break a rule is loaded all the same, with the reason
 * in (*out)->invalid (see state_run_check).
 */
int
state_run_load(struct state *st, uint64_t run_id, struct run_rec **out,
    char *err, size_t errlen)
{
	sqlite3_stmt	*stmt;
	struct run_rec	*r;
	struct run_pkg	*p;
	const void	*blob;
	int		 rc, bad;
	char		 why[256];

	*out = NULL;
	if (state_prepare(st, &stmt, "SELECT scenario, path, addr, port, key, "
	    "options, state, pkg_index, outcome, message, reported, "
	    "created_at, updated_at, member_id, member_key, session FROM runs "
	    "WHERE run_id = ?", err, errlen) == -1)
		return (-1);
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)run_id);
	/* No row: no such run (0), unless the step failed (-1). */
	if ((rc = sqlite3_step(stmt)) != SQLITE_ROW)
		return (state_finish(st, stmt, rc, "load run", err, errlen));
	r = xcalloc(1, sizeof(*r));
	r->run_id = run_id;
	bad = state_run_check(stmt, r, why, sizeof(why)) == -1;
	r->scenario = col_str(stmt, 0);
	r->addr = col_str(stmt, 2);
	blob = sqlite3_column_blob(stmt, 4);
	if (blob != NULL && sqlite3_column_bytes(stmt, 4) == sizeof(r->key))
		memcpy(r->key, blob, sizeof(r->key));
	r->message = col_str(stmt, 9);
	r->created_at = sqlite3_column_int64(stmt, 11);
	r->updated_at = sqlite3_column_int64(stmt, 12);
	r->member_id = (uint64_t)sqlite3_column_int64(stmt, 13);
	blob = sqlite3_column_blob(stmt, 14);
	if (blob != NULL && sqlite3_column_bytes(stmt, 14) ==
	    sizeof(r->member_key))
		memcpy(r->member_key, blob, sizeof(r->member_key));
	r->session = (uint64_t)sqlite3_column_int64(stmt, 15);
	sqlite3_finalize(stmt);
	if (bad)
		state_run_invalid(r, "runs", why);

	if (state_prepare(st, &stmt, "SELECT pkg_id, size, sha256, manifest, "
	    "state, bytes, has_exit, exit_status, message, output, signature, "
	    "idx FROM run_pkgs WHERE run_id = ? ORDER BY idx", err,
	    errlen) == -1) {
		state_run_free(r);
		return (-1);
	}
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)run_id);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (r->npkgs == CTL_MAX_PKGS) {
			snprintf(why, sizeof(why), "more than %d packages",
			    CTL_MAX_PKGS);
			state_run_invalid(r, "run_pkgs", why);
			rc = SQLITE_DONE;
			break;
		}
		r->pkgs = xreallocarray(r->pkgs, r->npkgs + 1,
		    sizeof(*r->pkgs));
		p = &r->pkgs[r->npkgs];
		memset(p, 0, sizeof(*p));
		if (state_pkg_check(stmt, r->npkgs, p, why, sizeof(why)) == -1) {
			/* What follows a broken row is not trusted either. */
			state_run_invalid(r, "run_pkgs", why);
			rc = SQLITE_DONE;
			break;
		}
		r->npkgs++;
		p->id = col_str(stmt, 0);
		p->size = (uint64_t)sqlite3_column_int64(stmt, 1);
		memcpy(p->sha256, sqlite3_column_blob(stmt, 2),
		    sizeof(p->sha256));
		p->manifest_len = (size_t)sqlite3_column_bytes(stmt, 3);
		p->manifest = xmalloc(p->manifest_len + 1);
		memcpy(p->manifest, sqlite3_column_blob(stmt, 3),
		    p->manifest_len);
		p->bytes = (uint64_t)sqlite3_column_int64(stmt, 5);
		p->has_exit = sqlite3_column_int(stmt, 6);
		p->exit_status = sqlite3_column_int(stmt, 7);
		p->message = col_str(stmt, 8);
		p->output = col_str(stmt, 9);
		memcpy(p->signature, sqlite3_column_blob(stmt, 10),
		    sizeof(p->signature));
	}
	if (state_finish(st, stmt, rc, "load run packages", err,
	    errlen) == -1) {
		state_run_free(r);
		return (-1);
	}
	if (r->npkgs == 0)
		state_run_invalid(r, "run_pkgs", "the run has no package rows");
	else if (r->pkg_index >= r->npkgs) {
		snprintf(why, sizeof(why), "pkg_index %u is past the last of "
		    "its %zu package%s", r->pkg_index, r->npkgs,
		    r->npkgs == 1 ? "" : "s");
		state_run_invalid(r, "runs", why);
	}
	*out = r;
	return (0);
}

/* The ids of the runs not yet done (all == 0) or of every run, oldest first. */
int
state_run_ids(struct state *st, int all, uint64_t **ids, size_t *nids,
    char *err, size_t errlen)
{
	sqlite3_stmt	*stmt;
	uint64_t	*v = NULL;
	size_t		 n = 0;
	int		 rc;

	*ids = NULL;
	*nids = 0;
	if (state_prepare(st, &stmt, all ?
	    "SELECT run_id FROM runs ORDER BY created_at, run_id" :
	    "SELECT run_id FROM runs WHERE state != ? ORDER BY created_at, "
	    "run_id", err, errlen) == -1)
		return (-1);
	if (!all)
		sqlite3_bind_int(stmt, 1, RUN_DONE);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		v = xreallocarray(v, n + 1, sizeof(*v));
		v[n++] = (uint64_t)sqlite3_column_int64(stmt, 0);
	}
	if (state_finish(st, stmt, rc, "run ids", err, errlen) == -1) {
		free(v);
		return (-1);
	}
	*ids = v;
	*nids = n;
	return (0);
}

int
state_run_delete(struct state *st, uint64_t run_id, char *err, size_t errlen)
{
	sqlite3_stmt	*stmt;

	if (state_prepare(st, &stmt, "DELETE FROM runs WHERE run_id = ?", err,
	    errlen) == -1)
		return (-1);
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)run_id);
	return (state_step_done(st, stmt, "delete run", err, errlen));
}

void
state_run_free(struct run_rec *r)
{
	size_t	i;

	if (r == NULL)
		return;
	for (i = 0; i < r->npkgs; i++) {
		free(r->pkgs[i].id);
		free(r->pkgs[i].manifest);
		free(r->pkgs[i].message);
		free(r->pkgs[i].output);
	}
	free(r->pkgs);
	free(r->scenario);
	free(r->addr);
	free(r->message);
	free(r->invalid);
	explicit_bzero(r->key, sizeof(r->key));
	free(r);
}
