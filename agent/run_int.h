/*
 * The run module's private header: what run.c, run_recv.c, run_exec.c,
 * run_report.c and boot.c share.  They are layered so that none calls
 * into a file above it: run_report.c (reports and names) and boot.c (the
 * next-boot queue, the reboot / power-off hooks) at the bottom, run_recv.c
 * (receiving a package, the unicast fallback) and run_exec.c (verifying
 * and running packages) above them, and run.c (the per-run state machine
 * and the entry points) on top.  Where a lower piece must tell run.c
 * something (a receiver ended, a child exited, a queued run's turn came,
 * a run is over), it goes through the callbacks in struct run_ctx.
 */
#ifndef FC_RUN_INT_H
#define FC_RUN_INT_H

#include <sys/queue.h>

#include <stdio.h>
#include <time.h>

#include "agent.h"

struct event;
struct xrecv;

#define RUN_PROBE_MS		2000	/* START to a joined multicast session */
#define RUN_HINT_MS		8000	/* START to telling what a unicast join saw */
#define RUN_FALLBACK_WAIT	30	/* s for the server to reroute us */

enum run_event {
	RUN_EV_ASSIGN,		/* the server assigned the run (again) */
	RUN_EV_START,		/* the transfer of a package starts */
	RUN_EV_CANCEL,		/* the server took the machine out */
	RUN_EV_RECEIVED,	/* the receiver ended: ok or error */
	RUN_EV_VERIFIED,	/* verify + extract ended: ok or error */
	RUN_EV_EXECUTED,	/* a package's executable ended */
	RUN_EV_RESUME,		/* the agent restarted: carry on */
	RUN_EV_BOOT,		/* its turn in the next-boot queue */
	RUN_EV_SYNCED,		/* the server processed our reports */
	RUN_EV_ONLINE,		/* connected again: say where we are */
	RUN_EV_PROBE,		/* no multicast session joined in time */
	RUN_EV_REROUTE_LATE,	/* the server did not reroute us in time */
};

/* What an event carries. */
struct run_evdata {
	const struct ctl_msg		*msg;
	int				 ok;
	const char			*error;
	const struct exec_result	*res;
};

/*
 * Where the transfer of the current package is (run_recv.c's fsm), while
 * the run is RECEIVING.  A receiver runs in JOINING to FAILED; ENDED and
 * FAILED wait for RUN_EV_RECEIVED, which is deferred out of the
 * receiver's own call chain.  ASKING, ASKED and REROUTED are the unicast
 * fallback: asked (the request still to go, or out and waiting
 * RUN_FALLBACK_WAIT seconds), then moved to unicast and waiting for
 * START.  STARTED is only ever the next package's: its START came while
 * this one was still being verified.
 */
enum run_recv_state {
	RUN_RECV_IDLE = 0,	/* no receiver, no verify child */
	RUN_RECV_STARTED,	/* (next package) START came early */
	RUN_RECV_JOINING,	/* receiver on, no session joined yet */
	RUN_RECV_RECEIVING,	/* receiver in a session */
	RUN_RECV_ENDED,		/* receiver done, the file is in place */
	RUN_RECV_FAILED,	/* receiver failed (recv_err) */
	RUN_RECV_VERIFYING,	/* the verify child runs */
	RUN_RECV_ASKING,	/* unicast asked for; must go (again) online */
	RUN_RECV_ASKED,		/* the request is out; waiting for ASSIGN */
	RUN_RECV_REROUTED,	/* moved to unicast; waiting for START */
};

/*
 * May the current package still ask for unicast (run_recv_may_fall_back)?
 * A fresh one while on multicast; once, on either path, after the agent
 * restarted in it; never again once it asked.
 */
enum run_recv_allow {
	RUN_RECV_FRESH = 0,
	RUN_RECV_RESUMED,
	RUN_RECV_USED,
};

enum run_recv_event {
	RUN_RECV_EV_LOCKED,	/* the receiver joined a session (ok: size) */
	RUN_RECV_EV_ENDED,	/* the receiver ended (ok, error) */
	RUN_RECV_EV_RECEIVED,	/* ... and that end is handled now */
	RUN_RECV_EV_START,	/* START for this package or the next */
	RUN_RECV_EV_ASSIGN,	/* ASSIGN again: the same path or another */
	RUN_RECV_EV_ONLINE,	/* connected again */
	RUN_RECV_EV_PROBE,	/* no session joined within RUN_PROBE_MS */
	RUN_RECV_EV_REROUTE_LATE, /* not moved within RUN_FALLBACK_WAIT */
};

struct run_ctx;
struct run_exec_stream;

struct run {
	struct run_ctx		*ctx;		/* all the runs, and callbacks */
	struct agent		*agent;		/* = ctx->agent */
	struct run_rec		*rec;
	struct pkg_manifest	*m;		/* rec->npkgs, when verified */
	char			*dir;		/* staging/<run id> */
	struct xrecv		*xr;
	char			*xr_out;	/* xrecv keeps this pointer */
	struct run_exec_stream	*stream;	/* verified while received */
	struct exec_job		*job;		/* verify child or package */
	enum run_recv_state	 recv;		/* the current package's */
	enum run_recv_state	 recv_next;	/* the next package's */
	enum run_recv_allow	 recv_allow;
	int			 recv_fatal;	/* no other path would help */
	char			*recv_err;
	struct event		*ev_defer;
	struct event		*ev_probe;	/* probe, then reroute wait */
	struct event		*ev_hint;	/* a unicast join, not answered */
	char			*fallback_why;
	int			 draining;	/* applied from the queue */
	uint64_t		 sync_seq;	/* awaiting this ack */
	uint64_t		 last_progress;
	TAILQ_ENTRY(run)	 entry;
};

/*
 * Every run of the agent, the next-boot queue's and the hooks' state
 * (boot.c), and what the pieces below run.c may ask of it.
 */
struct run_ctx {
	struct agent		*agent;
	TAILQ_HEAD(, run)	 list;

	struct run		*drain_run;	/* applied from the queue now */
	int			 drain_started;
	struct event		*ev_drain;
	struct exec_job		*hook_job;
	char			*hook_kind;	/* of hook_job */
	struct event		*ev_hook;
	time_t			 hook_wait_until;

	/* run.c's, for the pieces below it. */
	void			(*fsm)(struct run *, enum run_event,
				    struct run_evdata *);
	void			(*finish)(struct run *, int, int,
				    const char *, ...)
				    __attribute__((format(printf, 4, 5)));
	struct run		*(*load)(struct run_ctx *, uint64_t);
	void			(*receive)(struct run *);	/* pkg_index */
};

/* Where a run's files are: pkgN.fcpkg as received, pkgN/ extracted. */
static inline const char *
run_pkgfile(struct run *r, size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "%s/pkg%zu.fcpkg", r->dir, i);
	return (buf);
}

static inline const char *
run_pkgdir(struct run *r, size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "%s/pkg%zu", r->dir, i);
	return (buf);
}

/* Store the run as it is in memory. */
static inline int
run_save(struct run *r, char *err, size_t errlen)
{
	r->rec->updated_at = (int64_t)time(NULL);
	return (state_run_update(r->agent->state, r->rec, err, errlen));
}

/* run_report.c: what the agent says about a run, to the server and the log. */
const char *run_strstate(int);
const char *run_strevent(int);
int	 run_report(struct run *, int, uint16_t, uint64_t, int, int32_t,
	    const char *, const char *);
void	 run_report_sync(struct run *, int, uint16_t, int, int32_t,
	    const char *, const char *);
void	 run_report_outcome(struct run *);
void	 run_report_queued(struct run *);
void	 run_report_current(struct run *);

/* boot.c: the next-boot queue and the reboot / power-off hooks. */
void	 boot_init(struct run_ctx *);
void	 boot_shutdown(struct run_ctx *);
const char *boot_hook_for(struct run *);
int	 boot_hook_want(struct run_ctx *, const char *, char *, size_t);
void	 boot_hook_check(struct run_ctx *);
void	 boot_drain_later(struct run_ctx *);

/* run_recv.c: receiving package pkg_index, and the unicast fallback. */
void	 run_recv_init(struct run *);
void	 run_recv_fsm(struct run *, enum run_recv_event, struct run_evdata *);
const char *run_recv_strstate(int);
void	 run_recv_stop(struct run *);
int	 run_recv_start(struct run *, char *, size_t);
int	 run_recv_verify(struct run *, char *, size_t);
void	 run_recv_resume(struct run *);
int	 run_recv_advance(struct run *);
int	 run_recv_reroute(struct run *, const struct ctl_msg *, char *, size_t);

/* run_exec.c: verifying a package in a child, running the packages. */
int	 run_exec_stream_begin(struct run *);
void	 run_exec_stream_data(void *, uint64_t, const uint8_t *, size_t);
int	 run_exec_stream_check(void *, char *, size_t);
void	 run_exec_stream_free(struct run *);
int	 run_exec_verify_start(struct run *, char *, size_t);
int	 run_exec_outcome(struct run *, size_t, int, int, int32_t,
	    const char *, const char *);
void	 run_exec_next(struct run *);
int	 run_exec_mark_ok(struct run *, size_t, char *, size_t);
void	 run_exec_ended(struct run *, const struct exec_result *);

#endif
