/*
 * The agent's database for unit tests: a state opened in a fresh scratch
 * directory, closed and opened again as a restarted agent would, and the
 * directory removed at the end (unit_tmpdir_remove()).
 */
#ifndef FC_UNIT_STATE_H
#define FC_UNIT_STATE_H

#include "agent.h"
#include "unit.h"
#include "unit_tmp.h"

/* A new, empty database in a new directory named NAME.XXXXXX. */
static inline struct state *
unit_state_fresh(const char *name)
{
	struct state	*st;
	char		 err[512];

	if (unit_dir[0] != '\0')
		CU_ASSERT(unit_tmpdir_remove() == 0);
	CU_ASSERT_FATAL(unit_tmpdir(name) == 0);
	CU_ASSERT_FATAL(state_open(&st, unit_dir, err, sizeof(err)) == 0);
	return (st);
}

/* Close st and open the same directory again. */
static inline struct state *
unit_state_reopen(struct state *st)
{
	char	err[512];

	state_close(st);
	CU_ASSERT_FATAL(state_open(&st, unit_dir, err, sizeof(err)) == 0);
	return (st);
}

#endif
