/*
 * The agents' REPORTs, one transaction per pass of the event loop.  Each
 * report changes a machine's row and adds a history row; committed one by
 * one in WAL mode with synchronous=FULL that is two fsyncs per report,
 * and a hundred machines answering an ASSIGN at once (every target ready)
 * kept the server 0.7 s on a disk before the transfer could start.  A
 * report is therefore queued here and the queue handed back (in arrival
 * order, through the caller's function) inside one BEGIN ... COMMIT as
 * soon as the loop has read what arrived together; while that commit
 * waits on the disk the next reports pile up, so the fsyncs per report
 * fall as the load rises.  Persist, then act still holds: a report's state
 * changes and what they trigger (a wave's START, CANCELs) happen in the
 * same handler, before the commit returns, and what it sends leaves only
 * when the loop writes the connections, after the commit.  The caller
 * flushes the queue before any other event about the machines (online,
 * offline, the admin's start or cancel), so that those never overtake a
 * report that came first.
 */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "ctl.h"
#include "log.h"
#include "runs_batch.h"
#include "server.h"
#include "xmalloc.h"

struct runs_batch_item {
	char				*name;
	struct ctl_msg			 m;	/* message, output: owned */
	TAILQ_ENTRY(runs_batch_item)	 entry;
};
TAILQ_HEAD(runs_batch_list, runs_batch_item);

struct runs_batch {
	struct db		*db;
	runs_batch_fn		 fn;
	void			*arg;
	struct event		*ev;
	struct runs_batch_list	 list;
	int			 flushing;
};

static void
runs_batch_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	runs_batch_flush(arg);
}

struct runs_batch *
runs_batch_new(struct event_base *base, struct db *db, runs_batch_fn fn,
    void *arg)
{
	struct runs_batch	*b;

	b = xcalloc(1, sizeof(*b));
	b->db = db;
	b->fn = fn;
	b->arg = arg;
	TAILQ_INIT(&b->list);
	if ((b->ev = event_new(base, -1, 0, runs_batch_cb, b)) == NULL)
		fatalx("runs_batch_new: event_new failed");
	return (b);
}

static void
runs_batch_item_free(struct runs_batch_item *it)
{
	free(it->name);
	free(it->m.u.report.message);
	free(it->m.u.report.output);
	free(it);
}

void
runs_batch_add(struct runs_batch *b, const char *name, struct ctl_msg *m)
{
	struct runs_batch_item	*it;

	it = xcalloc(1, sizeof(*it));
	it->name = xstrdup(name);
	it->m = *m;
	/* The strings are the queue's now. */
	m->u.report.message = NULL;
	m->u.report.output = NULL;
	TAILQ_INSERT_TAIL(&b->list, it, entry);
	/* Once the events that are active now have run. */
	if (TAILQ_FIRST(&b->list) == it && !b->flushing)
		event_active(b->ev, EV_TIMEOUT, 1);
}

void
runs_batch_flush(struct runs_batch *b)
{
	struct runs_batch_item	*it;
	int			 begun;

	/* A report's handler that flushes (it went offline) adds to this. */
	if (b->flushing || TAILQ_EMPTY(&b->list))
		return;
	b->flushing = 1;
	/*
	 * Without a transaction of our own (one is open already, or BEGIN
	 * failed) every statement commits by itself, as it did before.
	 */
	begun = db_begin(b->db) == 0;
	while ((it = TAILQ_FIRST(&b->list)) != NULL) {
		TAILQ_REMOVE(&b->list, it, entry);
		b->fn(b->arg, it->name, &it->m);
		runs_batch_item_free(it);
	}
	if (begun && db_commit(b->db) == -1) {
		log_warnx("runs: the reports' commit failed: their state "
		    "changes are not stored");
		db_rollback(b->db);
	}
	b->flushing = 0;
}

void
runs_batch_free(struct runs_batch *b)
{
	struct runs_batch_item	*it;

	if (b == NULL)
		return;
	/* At shutdown: the agents report again when they reconnect. */
	while ((it = TAILQ_FIRST(&b->list)) != NULL) {
		TAILQ_REMOVE(&b->list, it, entry);
		runs_batch_item_free(it);
	}
	event_free(b->ev);
	free(b);
}
