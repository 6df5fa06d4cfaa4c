/*
 * What the inventory's files (db.c, db_machine.c, db_run.c) share and the
 * rest of the server does not see: the handle and the helpers that prepare,
 * run and read statements.  Parameters are bound from a format: s text
 * (NULL binds NULL), i int64_t, u uint64_t time (0 binds NULL), d int, b
 * blob (pointer and size_t), n NULL.
 */
#ifndef FC_DB_INT_H
#define FC_DB_INT_H

#include <stdarg.h>
#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

struct db {
	sqlite3		*h;
	uint64_t	 commits;	/* statements that ended in a commit */
	double		 commit_seconds;	/* their time, summed */
};

int		 db_fail(struct db *, const char *);
sqlite3_stmt	*db_vprep(struct db *, const char *, const char *, va_list);
sqlite3_stmt	*db_prep(struct db *, const char *, const char *, ...);
int		 db_exec(struct db *, const char *, const char *, ...);
json_t		*db_query_json(struct db *, const char *, const char *, ...);
json_t		*db_json_first(json_t *);
int		 db_step_row(struct db *, sqlite3_stmt *, const char *);
char		*db_col_strdup(sqlite3_stmt *, int);
int		 db_query_int64(struct db *, int64_t *, const char *,
		    const char *, ...);

#endif
