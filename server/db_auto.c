/*
 * The inventory's memory of automatic update across boots (MISSION.md
 * P5, P11; issue #15): whether an agent refused a package as not
 * applicable in an automatic run, in this boot or an earlier one.  The
 * server's own check (common/pkg_applic.c) sees what the facts show; an
 * agent may know more (the high-water mark of a version that ran and
 * failed), and asking it again at every start would keep the next service
 * pack from the machine for good.  The rows are auto.c's auto_attempts
 * (db.c) joined with the run's record of the machine.
 */
#include <stdio.h>
#include <string.h>

#include "db_int.h"
#include "server.h"

/*
 * 1 when the agent of machine refused package in an automatic run, with
 * its reason and the run in why; 0 when not; -1 on a database error.
 */
int
db_auto_refused(struct db *db, const char *machine, const char *package,
    char *why, size_t whylen)
{
	sqlite3_stmt	*st;
	char		 prefix[128];
	int		 rv;

	/* The agent's words: "ID: not applicable: REASON" (agent/run.c). */
	snprintf(prefix, sizeof(prefix), "%s: not applicable: ", package);
	st = db_prep(db, "SELECT a.run_id, m.error FROM auto_attempts a "
	    "JOIN run_machines m ON m.run_id = a.run_id AND "
	    "m.machine = a.machine WHERE a.machine = ? AND a.package = ? AND "
	    "m.state = 'error' AND substr(m.error, 1, length(?3)) = ?3 "
	    "ORDER BY a.at DESC LIMIT 1", "sss", machine, package, prefix);
	if ((rv = db_step_row(db, st, "auto_attempts")) != 1)
		return (rv);
	snprintf(why, whylen, "refused by its agent in run %lld: %s",
	    (long long)sqlite3_column_int64(st, 0),
	    (const char *)sqlite3_column_text(st, 1) + strlen(prefix));
	sqlite3_finalize(st);
	return (1);
}
