/*
 * The scenario scheduler (MISSION.md S1-S15): it decides when the transfer
 * of a scenario run starts, which machines are in each wave, and which ones
 * are queued, refused, missed or in error.  It does no I/O and reads no
 * clock: every entry point takes `now' in milliseconds, and after each call
 * the caller asks sched_next_deadline() and arms one timer that calls
 * sched_timeout().  fleetcastd runs it on its libevent loop against the
 * real clock; `fleetcast sim' runs the same code against a virtual clock.
 *
 * Decisions reach the caller through callbacks, always in this order: first
 * every machine state change a decision causes (so the caller can persist
 * them), then the run state change, and last the action (wave_start).  The
 * callbacks must not call back into the scheduler except for the read-only
 * getters; they may record work for later.
 */
#ifndef FC_SCHED_H
#define FC_SCHED_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#define SCHED_NEVER		UINT64_MAX	/* no deadline / time not set */
#define SCHED_GROUP_PORT	0		/* port 0: the server's data_port */

/* Per-machine states of a run, named exactly as in SPEC.md. */
enum sched_mstate {
	SCHED_M_ASSIGNED,
	SCHED_M_READY,
	SCHED_M_QUEUED,
	SCHED_M_TRANSFERRING,
	SCHED_M_DELIVERED,
	SCHED_M_PENDING_BOOT,
	SCHED_M_RUNNING,
	SCHED_M_SUCCEEDED,
	SCHED_M_FAILED,
	SCHED_M_ERROR,
	SCHED_M_MISSED,
	SCHED_M_INTERRUPTED,
};
#define SCHED_M_NSTATES		(SCHED_M_INTERRUPTED + 1)

/* Run states, as in SPEC.md. */
enum sched_rstate {
	SCHED_R_WAITING,
	SCHED_R_TRANSFERRING,
	SCHED_R_FINISHED,
};

/*
 * Machine events.  The first group comes from the caller (what the agent
 * reported, or the sender for DELIVERED/FAILED); the second group is raised
 * by the scheduler itself and refused from sched_report().
 */
enum sched_mevent {
	SCHED_EV_READY,		/* agent joined the group, applicable */
	SCHED_EV_ERROR,		/* agent refused (S12, S13, applicability) */
	SCHED_EV_DELIVERED,	/* the whole package arrived and verified */
	SCHED_EV_PENDING_BOOT,	/* staged to run at next boot (S10) */
	SCHED_EV_RUNNING,	/* the package is executing */
	SCHED_EV_SUCCEEDED,	/* exit status 0 */
	SCHED_EV_FAILED,	/* transfer or execution failed */
	SCHED_EV_INTERRUPT,	/* server restart, agent lost mid-transfer */
	/* Raised by the scheduler only. */
	SCHED_EV_REFUSE,	/* machine has a sticky error (S6) */
	SCHED_EV_SURPLUS,	/* beyond max targets (S6) */
	SCHED_EV_MISS,		/* not ready when the transfer started */
	SCHED_EV_QUEUE,		/* no free slot (S7, queue) */
	SCHED_EV_LIMIT,		/* no free slot (S7, error) */
	SCHED_EV_START,		/* put in a wave */
};

/* Run events. */
enum sched_revent {
	SCHED_REV_WAVE,		/* a wave started */
	SCHED_REV_ALL_FINAL,	/* every machine is in a final state */
};

enum sched_path {
	SCHED_PATH_NONE,
	SCHED_PATH_MULTICAST,
	SCHED_PATH_UNICAST,
};

/* Why a wave started; shown in timelines and logs. */
enum sched_why {
	SCHED_WHY_COUNT,	/* ready machines reached max targets */
	SCHED_WHY_ALL_READY,	/* every machine that can take part is ready */
	SCHED_WHY_WAIT,		/* max wait elapsed */
	SCHED_WHY_AT_ONCE,	/* neither max targets nor max wait (S5) */
	SCHED_WHY_UNICAST,	/* unicast scenario (S8) */
	SCHED_WHY_SLOTS,	/* queued machines got free slots (S7) */
	SCHED_WHY_ADMIN,	/* explicit "start now" */
};

enum sched_limit {
	SCHED_LIMIT_QUEUE,
	SCHED_LIMIT_ERROR,
};

enum sched_on_error {
	SCHED_ON_ERROR_STOP,
	SCHED_ON_ERROR_CONTINUE,
};

/* Server-wide settings (SPEC.md server keys). */
struct sched_conf {
	uint32_t		 max_concurrent_machines;	/* 0: no limit */
	enum sched_limit	 on_concurrency_limit;
	uint32_t		 group_base;	/* group_range, host order */
	unsigned		 group_prefix;	/* 16..32 */
};

/* Scenario options the scheduler needs (S2-S15). */
struct sched_opts {
	uint32_t		 max_targets;	/* 0: not set */
	uint64_t		 max_wait;	/* ms; SCHED_NEVER: not set */
	int			 unicast;	/* S8 */
	int			 at_next_boot;	/* S10 */
	int			 poweroff_after; /* at the end; S11: after delivery */
	int			 reboot_after;	/* S14 */
	enum sched_on_error	 on_error;
	uint32_t		 group;		/* 0: auto from group_range */
	uint16_t		 port;		/* 0: data_port */
};

/* A machine known to the scheduler, across runs. */
struct sched_machine {
	char			*name;
	char			*error;		/* sticky S6 error, or NULL */
	int			 remote;	/* off-segment: unicast fallback */
	uint32_t		 npending;	/* targets in pending_boot */
	void			*udata;		/* the caller's */
	struct sched_machine	*hnext;
};

/* One machine in one run.  Read-only for the caller except udata. */
struct sched_target {
	struct sched_machine	*machine;
	struct sched_run	*run;
	enum sched_mstate	 state;
	enum sched_path		 path;
	unsigned		 wave;		/* 1-based; 0: in none yet */
	uint64_t		 ready_at;	/* SCHED_NEVER until known */
	uint64_t		 start_at;
	uint64_t		 done_at;	/* first final state */
	const char		*error;		/* reason for error/missed/... */
	char			*error_buf;	/* owned copy behind error */
	void			*udata;
	TAILQ_ENTRY(sched_target) entry;	/* run's ready list or queue */
};
TAILQ_HEAD(sched_tlist, sched_target);

struct sched_run {
	char			*id;
	struct sched_opts	 opts;
	enum sched_rstate	 state;
	uint64_t		 started_at;	/* SCHED_NEVER before start */
	uint64_t		 first_wave_at;
	uint64_t		 finished_at;
	enum sched_why		 start_why;	/* of the first wave */
	uint32_t		 group;		/* in use while not finished */
	uint16_t		 port;
	int			 group_auto;
	int			 group_held;
	struct sched_target	*targets;
	size_t			 ntargets;
	size_t			 target_count;	/* effective S2 count */
	size_t			 nready;	/* in the ready list */
	size_t			 nfinal;
	unsigned		 nwaves;
	char			*miss_reason;	/* shared by missed targets */
	char			*close_reason;
	int			 decided;	/* S4 decision taken */
	struct sched_tlist	 ready;		/* in the order they got ready */
	size_t			 heap_idx;	/* in the max-wait heap, or -1 */
	int			 dirty;
	size_t			 qpos;		/* scratch for the dispatcher */
	size_t			 qcount;
	void			*udata;		/* the caller's */
	TAILQ_ENTRY(sched_run)	 entry;
	TAILQ_ENTRY(sched_run)	 dentry;
};

/* A wave as handed to wave_start: valid during the callback only. */
struct sched_wave {
	struct sched_run	*run;
	unsigned		 index;		/* 1-based within the run */
	enum sched_path		 path;
	enum sched_why		 why;
	uint64_t		 start;
	struct sched_target	**members;
	size_t			 n;
};

/*
 * Which entry point a machine state change came through, handed to
 * machine_state with the event: the scheduler's own decisions come from
 * sched_timeout() and sched_run_start_now().
 */
enum sched_via {
	SCHED_VIA_DECISION,	/* the scheduler decided (waves, S4, S7) */
	SCHED_VIA_START,	/* sched_run_start: sticky errors refused */
	SCHED_VIA_REPORT,	/* sched_report: the agent or the sender */
	SCHED_VIA_CLOSE,	/* sched_run_close */
};

/*
 * What caused a machine state change: the event, its entry point, and the
 * data the caller gave that call (sched_report_data, sched_run_start_data;
 * NULL otherwise), so that a caller needs no state of its own set around
 * its calls to tell, in the callback, a report's details from a decision.
 * Valid during the callback only.
 */
struct sched_cause {
	enum sched_mevent	 ev;
	enum sched_via		 via;
	const void		*data;
};

struct sched_cb {
	void	(*machine_state)(void *, struct sched_target *,
		    enum sched_mstate, enum sched_mstate, uint64_t,
		    const struct sched_cause *);
	void	(*machine_error)(void *, struct sched_machine *, uint64_t);
	void	(*run_state)(void *, struct sched_run *, enum sched_rstate,
		    enum sched_rstate, uint64_t);
	void	(*wave_start)(void *, const struct sched_wave *);
};

struct sched;

struct sched	*sched_new(const struct sched_conf *, const struct sched_cb *,
		    void *);
void		 sched_free(struct sched *);
int		 sched_group_parse(const char *, uint32_t *, uint16_t *, char *,
		    size_t);
int		 sched_group_parse_range(const char *, uint32_t *, unsigned *,
		    char *, size_t);
const char	*sched_group_str(uint32_t, char *, size_t);

struct sched_machine *sched_machine_get(struct sched *, const char *);
struct sched_machine *sched_machine_find(struct sched *, const char *);
void		 sched_set_error(struct sched *, struct sched_machine *,
		    const char *, uint64_t);
int		 sched_clear_error(struct sched *, struct sched_machine *,
		    uint64_t);

struct sched_run *sched_run_new(struct sched *, const char *,
		    const struct sched_opts *, struct sched_machine **, size_t,
		    char *, size_t);
void		 sched_run_start(struct sched *, struct sched_run *, uint64_t);
void		 sched_run_start_data(struct sched *, struct sched_run *,
		    uint64_t, const void *);
int		 sched_run_start_now(struct sched *, struct sched_run *,
		    uint64_t);
void		 sched_run_close(struct sched *, struct sched_run *, uint64_t,
		    const char *);
void		 sched_run_free(struct sched *, struct sched_run *);

int		 sched_report(struct sched *, struct sched_target *,
		    enum sched_mevent, uint64_t, const char *);
int		 sched_report_data(struct sched *, struct sched_target *,
		    enum sched_mevent, uint64_t, const char *, const void *);
uint64_t	 sched_next_deadline(const struct sched *);
void		 sched_timeout(struct sched *, uint64_t);

size_t		 sched_active(const struct sched *);
size_t		 sched_queued(const struct sched *);
int		 sched_mstate_final(enum sched_mstate);
const char	*sched_strmstate(enum sched_mstate);
const char	*sched_strrstate(enum sched_rstate);
const char	*sched_strevent(enum sched_mevent);
const char	*sched_strpath(enum sched_path);
const char	*sched_strwhy(enum sched_why);

/* The message of a sticky S6 error, and of runs refused because of it. */
#define SCHED_ERR_MAX_TARGETS	"max targets exceeded"

#endif
