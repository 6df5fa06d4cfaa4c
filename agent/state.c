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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "agent.h"
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
	    "message, reported, created_at, updated_at) VALUES (?, ?, ?, ?, "
	    "?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", err, errlen) == -1)
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
	    "key = ? WHERE run_id = ?", err, errlen) == -1)
		goto fail;
	state_bind_run_progress(stmt, 1, r);
	sqlite3_bind_int64(stmt, 6, r->updated_at);
	sqlite3_bind_blob(stmt, 7, r->key, sizeof(r->key), SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 8, (sqlite3_int64)r->run_id);
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
	    "port = ?, updated_at = ? WHERE run_id = ?", err, errlen) == -1)
		return (-1);
	sqlite3_bind_int(stmt, 1, r->path);
	sqlite3_bind_text(stmt, 2, nz(r->addr), -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 3, r->port);
	sqlite3_bind_int64(stmt, 4, r->updated_at);
	sqlite3_bind_int64(stmt, 5, (sqlite3_int64)r->run_id);
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

/* 0 and *out set, or 0 and *out NULL when there is no such run, or -1. */
int
state_run_load(struct state *st, uint64_t run_id, struct run_rec **out,
    char *err, size_t errlen)
{
	sqlite3_stmt	*stmt;
	struct run_rec	*r;
	struct run_pkg	*p;
	const void	*blob;
	int		 rc;

	*out = NULL;
	if (state_prepare(st, &stmt, "SELECT scenario, path, addr, port, key, "
	    "options, state, pkg_index, outcome, message, reported, "
	    "created_at, updated_at FROM runs WHERE run_id = ?", err,
	    errlen) == -1)
		return (-1);
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)run_id);
	/* No row: no such run (0), unless the step failed (-1). */
	if ((rc = sqlite3_step(stmt)) != SQLITE_ROW)
		return (state_finish(st, stmt, rc, "load run", err, errlen));
	r = xcalloc(1, sizeof(*r));
	r->run_id = run_id;
	r->scenario = col_str(stmt, 0);
	r->path = (uint8_t)sqlite3_column_int(stmt, 1);
	r->addr = col_str(stmt, 2);
	r->port = (uint16_t)sqlite3_column_int(stmt, 3);
	blob = sqlite3_column_blob(stmt, 4);
	if (blob != NULL && sqlite3_column_bytes(stmt, 4) == sizeof(r->key))
		memcpy(r->key, blob, sizeof(r->key));
	r->options = (uint8_t)sqlite3_column_int(stmt, 5);
	r->state = sqlite3_column_int(stmt, 6);
	r->pkg_index = (uint16_t)sqlite3_column_int(stmt, 7);
	r->outcome = sqlite3_column_int(stmt, 8);
	r->message = col_str(stmt, 9);
	r->reported = sqlite3_column_int(stmt, 10);
	r->created_at = sqlite3_column_int64(stmt, 11);
	r->updated_at = sqlite3_column_int64(stmt, 12);
	sqlite3_finalize(stmt);

	if (state_prepare(st, &stmt, "SELECT pkg_id, size, sha256, manifest, "
	    "state, bytes, has_exit, exit_status, message, output, signature "
	    "FROM run_pkgs WHERE run_id = ? ORDER BY idx", err, errlen) == -1) {
		state_run_free(r);
		return (-1);
	}
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)run_id);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		r->pkgs = xreallocarray(r->pkgs, r->npkgs + 1,
		    sizeof(*r->pkgs));
		p = &r->pkgs[r->npkgs++];
		memset(p, 0, sizeof(*p));
		p->id = col_str(stmt, 0);
		p->size = (uint64_t)sqlite3_column_int64(stmt, 1);
		blob = sqlite3_column_blob(stmt, 2);
		if (blob != NULL &&
		    sqlite3_column_bytes(stmt, 2) == sizeof(p->sha256))
			memcpy(p->sha256, blob, sizeof(p->sha256));
		p->manifest_len = (size_t)sqlite3_column_bytes(stmt, 3);
		p->manifest = xmalloc(p->manifest_len + 1);
		blob = sqlite3_column_blob(stmt, 3);
		if (blob != NULL)
			memcpy(p->manifest, blob, p->manifest_len);
		p->state = sqlite3_column_int(stmt, 4);
		p->bytes = (uint64_t)sqlite3_column_int64(stmt, 5);
		p->has_exit = sqlite3_column_int(stmt, 6);
		p->exit_status = sqlite3_column_int(stmt, 7);
		p->message = col_str(stmt, 8);
		p->output = col_str(stmt, 9);
		blob = sqlite3_column_blob(stmt, 10);
		if (blob != NULL &&
		    sqlite3_column_bytes(stmt, 10) == sizeof(p->signature))
			memcpy(p->signature, blob, sizeof(p->signature));
	}
	if (state_finish(st, stmt, rc, "load run packages", err,
	    errlen) == -1) {
		state_run_free(r);
		return (-1);
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
	explicit_bzero(r->key, sizeof(r->key));
	free(r);
}
