/*
 * The scenario runs of the inventory (db.c has the database itself): a run
 * with its scenario snapshot, a row per machine and one row per state
 * change of each, what the scheduler needs to rebuild the runs in flight
 * after a restart, and their JSON form for the API.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "db_int.h"
#include "log.h"
#include "server.h"
#include "xmalloc.h"

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
 * The machines of run id that can still change by themselves: every state
 * but the final ones and, unless pending counts, pending_boot; -1 if the
 * query fails.
 */
static int64_t
db_run_open(struct db *db, uint64_t id, int pending)
{
	int64_t	open = -1;

	if (db_query_int64(db, &open, "SELECT COUNT(*) FROM run_machines "
	    "WHERE run_id = ? AND state NOT IN ('succeeded', 'failed', "
	    "'error', 'missed', 'interrupted') AND (? OR state != "
	    "'pending_boot')", "id", (int64_t)id, pending) == -1)
		return (-1);
	return (open);
}

/*
 * Mark a run not held in memory finished once none of its machines is in
 * a state that can still change by itself; 1 if it is (now) finished.
 */
int
db_run_check_finished(struct db *db, uint64_t id, uint64_t now)
{
	int64_t	open;

	if ((open = db_run_open(db, id, 0)) != 0)
		return (open == -1 ? -1 : 0);
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
	int64_t	open;

	if ((open = db_run_open(db, id, 1)) == -1)
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
	    "port, data_key, feedback_key, created_at) VALUES (?, ?, ?, "
	    "'waiting', ?, ?, ?, ?, ?)", "isssdbbu", (int64_t)r->id,
	    r->sc.name, spec, r->group, (int)r->port, r->key,
	    (size_t)CTL_KEY_LEN, r->fkey, (size_t)CTL_KEY_LEN,
	    r->created_at) == -1)
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
	explicit_bzero(r->fkey, sizeof(r->fkey));
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
	    "created_at, COALESCE(transfer_started_at, 0), feedback_key FROM "
	    "runs WHERE state != 'finished' ORDER BY id", NULL);
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
		r->state = db_col_strdup(st, 2);
		snprintf(r->group, sizeof(r->group), "%s",
		    sqlite3_column_text(st, 3));
		r->port = (uint16_t)sqlite3_column_int(st, 4);
		if (sqlite3_column_bytes(st, 5) == CTL_KEY_LEN)
			memcpy(r->key, sqlite3_column_blob(st, 5),
			    CTL_KEY_LEN);
		r->created_at = (uint64_t)sqlite3_column_int64(st, 6);
		r->transfer_started_at = (uint64_t)sqlite3_column_int64(st,
		    7);
		if (sqlite3_column_bytes(st, 8) == CTL_KEY_LEN) {
			memcpy(r->fkey, sqlite3_column_blob(st, 8),
			    CTL_KEY_LEN);
			r->has_fkey = 1;
		}
		mt = db_prep(db, "SELECT machine, state, path, error FROM "
		    "run_machines WHERE run_id = ? ORDER BY pos", "i",
		    (int64_t)r->id);
		if (mt == NULL)
			break;
		while (sqlite3_step(mt) == SQLITE_ROW) {
			r->targets = xreallocarray(r->targets, r->ntargets + 1,
			    sizeof(*r->targets));
			r->targets[r->ntargets].machine = db_col_strdup(mt, 0);
			r->targets[r->ntargets].state = db_col_strdup(mt, 1);
			r->targets[r->ntargets].path = db_col_strdup(mt, 2);
			r->targets[r->ntargets].error = db_col_strdup(mt, 3);
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

/*
 * For GET /metrics: the runs by state, and the machines of the runs not
 * finished by their state in the run: {"runs": [{"state", "n"}...],
 * "targets": [...]}.
 */
json_t *
db_run_counts(struct db *db)
{
	json_t	*r, *t;

	r = db_query_json(db, "SELECT state, COUNT(*) AS n FROM runs GROUP BY "
	    "state", NULL);
	t = db_query_json(db, "SELECT m.state, COUNT(*) AS n FROM run_machines "
	    "m JOIN runs r ON r.id = m.run_id WHERE r.state != 'finished' "
	    "GROUP BY m.state", NULL);
	if (r == NULL || t == NULL) {
		json_decref(r);
		json_decref(t);
		return (NULL);
	}
	return (json_pack("{s:o, s:o}", "runs", r, "targets", t));
}

/*
 * Give a run stored before feedback keys (schema 8) its F_run, committed
 * before any member key is derived from it.
 */
int
db_run_set_fkey(struct db *db, uint64_t id, const uint8_t *fkey)
{
	return (db_exec(db, "UPDATE runs SET feedback_key = ? WHERE id = ?",
	    "bi", fkey, (size_t)CTL_KEY_LEN, (int64_t)id) == 1 ? 0 : -1);
}
