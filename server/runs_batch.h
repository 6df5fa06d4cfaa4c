/*
 * The agents' REPORTs, handled one transaction per pass of the event loop
 * (runs_batch.c).
 */
#ifndef FC_RUNS_BATCH_H
#define FC_RUNS_BATCH_H

struct ctl_msg;
struct db;
struct event_base;
struct runs_batch;

/* One report, in arrival order, inside the batch's transaction. */
typedef void	(*runs_batch_fn)(void *, const char *, const struct ctl_msg *);

struct runs_batch	*runs_batch_new(struct event_base *, struct db *,
			     runs_batch_fn, void *);
/* Takes the report's message and output (set to NULL in the caller's). */
void			 runs_batch_add(struct runs_batch *, const char *,
			     struct ctl_msg *);
void			 runs_batch_flush(struct runs_batch *);
void			 runs_batch_free(struct runs_batch *);

#endif
