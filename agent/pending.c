/*
 * The next-boot queue (MISSION.md S10-S13), a table of the agent's
 * database ordered by a sequence number that never goes back.  A run that
 * is to be applied at the next start reserves its place when the agent
 * accepts it, so that the cap of CTL_PENDING_CAP holds even while several such
 * runs are still receiving; it is committed once every package is
 * delivered, recording the boot id of the moment.  An entry is due when
 * the agent runs under another boot id than that one: the machine has
 * restarted since.  Due entries are applied in order and removed one by
 * one as their outcome is stored; while any is left the machine is
 * "applying next-boot updates" and refuses new scenarios (S12).  Once the
 * queue is empty again the cap has room for CTL_PENDING_CAP more (S13).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "agent.h"
#include "xmalloc.h"

static int
pending_prepare(struct state *st, sqlite3_stmt **stmt, const char *sql,
    char *err, size_t errlen)
{
	if (sqlite3_prepare_v2(state_db(st), sql, -1, stmt, NULL) !=
	    SQLITE_OK) {
		state_sqlerr(st, "pending", err, errlen);
		*stmt = NULL;
		return (-1);
	}
	return (0);
}

/*
 * Finalize a statement whose last sqlite3_step() returned rc: SQLITE_DONE
 * (every row read) and SQLITE_ROW (the one row wanted read) are success.
 */
static int
pending_finish(struct state *st, sqlite3_stmt *stmt, int rc, char *err,
    size_t errlen)
{
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		state_sqlerr(st, "pending", err, errlen);
		sqlite3_finalize(stmt);
		return (-1);
	}
	sqlite3_finalize(stmt);
	return (0);
}

/* Step a statement that returns no rows, then finalize it. */
static int
pending_done(struct state *st, sqlite3_stmt *stmt, char *err, size_t errlen)
{
	return (pending_finish(st, stmt, sqlite3_step(stmt), err, errlen));
}

/* The entries of one kind, or of every kind when kind is -1. */
static int
pending_count_kind(struct state *st, int kind, size_t *n, char *err,
    size_t errlen)
{
	sqlite3_stmt	*stmt;

	if (pending_prepare(st, &stmt, kind == -1 ?
	    "SELECT count(*) FROM pending" :
	    "SELECT count(*) FROM pending WHERE kind = ?", err, errlen) == -1)
		return (-1);
	if (kind != -1)
		sqlite3_bind_int(stmt, 1, kind);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		state_sqlerr(st, "pending", err, errlen);
		sqlite3_finalize(stmt);
		return (-1);
	}
	*n = (size_t)sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return (0);
}

/* Every entry counts: reserved, queued and those being applied. */
int
pending_count(struct state *st, size_t *n, char *err, size_t errlen)
{
	return (pending_count_kind(st, -1, n, err, errlen));
}

/*
 * Take a place in the queue for a run.  An at-next-boot run is refused
 * with PENDING_FULL_MSG when CTL_PENDING_CAP of them wait already (S13); a
 * run that waits for the reboot its exclusive package asked for is not an
 * at-next-boot scenario and is not counted.  Reserving twice for the same
 * run (a repeated ASSIGN) keeps the first place.
 */
int
pending_reserve(struct state *st, uint64_t run_id, int kind,
    const char *boot_id, char *err, size_t errlen)
{
	struct pending_entry	 e;
	sqlite3_stmt		*stmt;
	size_t			 n;
	int			 found;

	if (state_begin(st, err, errlen) == -1)
		return (-1);
	if ((found = pending_get(st, run_id, &e, err, errlen)) == -1)
		goto fail;
	if (found)
		return (state_commit(st, err, errlen));
	if (pending_count_kind(st, PENDING_NEXT_BOOT, &n, err, errlen) == -1)
		goto fail;
	if (kind == PENDING_NEXT_BOOT && n >= CTL_PENDING_CAP) {
		snprintf(err, errlen, "%s", PENDING_FULL_MSG);
		goto fail;
	}
	if (pending_prepare(st, &stmt, "INSERT INTO pending (run_id, kind, "
	    "state, boot_id) VALUES (?, ?, ?, ?)", err, errlen) == -1)
		goto fail;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)run_id);
	sqlite3_bind_int(stmt, 2, kind);
	sqlite3_bind_int(stmt, 3, PENDING_RESERVED);
	sqlite3_bind_text(stmt, 4, boot_id, -1, SQLITE_STATIC);
	if (pending_done(st, stmt, err, errlen) == -1)
		goto fail;
	return (state_commit(st, err, errlen));
fail:
	state_rollback(st);
	return (-1);
}

static int
pending_update(struct state *st, uint64_t run_id, const char *sql,
    int estate, const char *boot_id, char *err, size_t errlen)
{
	sqlite3_stmt	*stmt;

	if (pending_prepare(st, &stmt, sql, err, errlen) == -1)
		return (-1);
	sqlite3_bind_int(stmt, 1, estate);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)run_id);
	if (boot_id != NULL)
		sqlite3_bind_text(stmt, 3, boot_id, -1, SQLITE_STATIC);
	if (pending_done(st, stmt, err, errlen) == -1)
		return (-1);
	if (sqlite3_changes(state_db(st)) != 1) {
		snprintf(err, errlen, "run %llu has no place in the next-boot "
		    "queue", (unsigned long long)run_id);
		return (-1);
	}
	return (0);
}

/* The run's packages are delivered: it waits for a boot other than this. */
int
pending_commit(struct state *st, uint64_t run_id, const char *boot_id,
    char *err, size_t errlen)
{
	return (pending_update(st, run_id, "UPDATE pending SET state = ?, "
	    "boot_id = ?3 WHERE run_id = ?2", PENDING_QUEUED, boot_id, err,
	    errlen));
}

int
pending_set_running(struct state *st, uint64_t run_id, char *err,
    size_t errlen)
{
	return (pending_update(st, run_id, "UPDATE pending SET state = ? "
	    "WHERE run_id = ?", PENDING_RUNNING, NULL, err, errlen));
}

int
pending_remove(struct state *st, uint64_t run_id, char *err, size_t errlen)
{
	sqlite3_stmt	*stmt;

	if (pending_prepare(st, &stmt, "DELETE FROM pending WHERE run_id = ?",
	    err, errlen) == -1)
		return (-1);
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)run_id);
	return (pending_done(st, stmt, err, errlen));
}

static void
pending_row(sqlite3_stmt *stmt, struct pending_entry *e)
{
	const unsigned char	*b;

	memset(e, 0, sizeof(*e));
	e->seq = sqlite3_column_int64(stmt, 0);
	e->run_id = (uint64_t)sqlite3_column_int64(stmt, 1);
	e->kind = sqlite3_column_int(stmt, 2);
	e->state = sqlite3_column_int(stmt, 3);
	if ((b = sqlite3_column_text(stmt, 4)) != NULL)
		snprintf(e->boot_id, sizeof(e->boot_id), "%s", b);
}

/* Step a query for one entry: 1 and *e filled, 0 for none, -1 on error. */
static int
pending_fetch(struct state *st, sqlite3_stmt *stmt, struct pending_entry *e,
    char *err, size_t errlen)
{
	int	rc;

	if ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		pending_row(stmt, e);
	if (pending_finish(st, stmt, rc, err, errlen) == -1)
		return (-1);
	return (rc == SQLITE_ROW);
}

/* 1 and *e filled when found, 0 when the run has no entry, -1 on error. */
int
pending_get(struct state *st, uint64_t run_id, struct pending_entry *e,
    char *err, size_t errlen)
{
	sqlite3_stmt	*stmt;

	if (pending_prepare(st, &stmt, "SELECT seq, run_id, kind, state, "
	    "boot_id FROM pending WHERE run_id = ?", err, errlen) == -1)
		return (-1);
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)run_id);
	return (pending_fetch(st, stmt, e, err, errlen));
}

/*
 * The first due entry in queue order: delivered (or already being
 * applied) under another boot than the current one.  1 when found.
 */
int
pending_next_due(struct state *st, const char *boot_id,
    struct pending_entry *e, char *err, size_t errlen)
{
	sqlite3_stmt	*stmt;

	if (pending_prepare(st, &stmt, "SELECT seq, run_id, kind, state, "
	    "boot_id FROM pending WHERE state IN (?, ?) AND boot_id != ? "
	    "ORDER BY seq LIMIT 1", err, errlen) == -1)
		return (-1);
	sqlite3_bind_int(stmt, 1, PENDING_QUEUED);
	sqlite3_bind_int(stmt, 2, PENDING_RUNNING);
	sqlite3_bind_text(stmt, 3, boot_id, -1, SQLITE_STATIC);
	return (pending_fetch(st, stmt, e, err, errlen));
}

/* 1 while next-boot updates are being applied (S12), else 0. */
int
pending_busy(struct state *st, const char *boot_id, char *err, size_t errlen)
{
	struct pending_entry	e;

	return (pending_next_due(st, boot_id, &e, err, errlen));
}
