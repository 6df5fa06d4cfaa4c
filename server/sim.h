/*
 * The simulator behind `fleetcast sim': it loads a scenario file and a
 * fleet file (SPEC.md formats plus documented extensions), then runs the
 * server's own scheduler (sched.c) against a virtual clock, an event queue
 * and virtual agents that model ready times, transfer times, the S11-S14
 * agent behaviour and restarts.  Nothing sleeps and nothing touches the
 * network; with the same seed the result is the same on every machine.
 */
#ifndef FC_SIM_H
#define FC_SIM_H

#include <stdint.h>
#include <stdio.h>

#include "ctl.h"
#include "sched.h"

#define SIM_MAX_MACHINES	1000000
#define SIM_MAX_RUNS		100000
#define SIM_DEFAULT_LINK_RATE	125000000ULL	/* 1 Gbit/s */
#define SIM_DEFAULT_BOOT_TIME	60000ULL	/* ms */

enum sim_dist {
	SIM_DIST_FIXED,
	SIM_DIST_UNIFORM,
	SIM_DIST_EXPONENTIAL,
	SIM_DIST_NEVER,
};

/* A ready-time distribution, in ms from the run's start. */
struct sim_ready {
	enum sim_dist	 dist;
	uint64_t	 a;		/* fixed: at; uniform: min; exp: mean */
	uint64_t	 b;		/* uniform: max */
};

struct sim_machine {
	char		*name;
	struct sim_ready ready;
	int		 remote;
	uint64_t	 link_rate;	/* bytes/s */
	uint64_t	 online_at;	/* ms from the simulation start */
	uint64_t	 boot_time;	/* ms */
	uint64_t	*reboot_at;	/* ms, ascending */
	size_t		 nreboot;
	uint64_t	 reboot_every;	/* ms, 0: none */
	uint32_t	 pending;	/* next-boot scenarios pending at start */
};

struct sim_fleet {
	struct sim_machine *m;
	size_t		 n;
};

struct sim_scenario {
	struct sched_opts opts;
	uint32_t	 max_concurrent_machines;	/* 0: no limit */
	enum sched_limit on_concurrency_limit;
	uint32_t	 group_base;
	unsigned	 group_prefix;
	uint64_t	 package_size;	/* bytes, 0: not set */
	uint64_t	 rate;		/* bytes/s, 0: no cap */
	uint64_t	 exec_time;	/* ms */
	uint32_t	 runs;
	uint64_t	 run_interval;	/* ms */
	uint32_t	 targets_per_run;	/* 0: the whole fleet */
	int		 clear_errors;
	int		 restart_at_start;	/* S15: accepted, ignored */
};

/* One machine in one run, as it ended. */
struct sim_rec {
	uint32_t	 run;		/* 1-based */
	uint32_t	 machine;	/* index in the fleet */
	uint8_t		 state;		/* enum sched_mstate at the end */
	uint8_t		 first_final;	/* state that made it final */
	uint8_t		 path;
	uint32_t	 wave;
	int64_t		 ready_at;	/* ms from the run's start, -1: none */
	int64_t		 start_at;
	int64_t		 delivered_at;
	int64_t		 pending_at;
	int64_t		 done_at;
	int64_t		 applied_at;
	const char	*error;		/* interned */
};

struct sim_wave {
	uint32_t	 run;
	uint32_t	 index;
	uint8_t		 path;
	uint8_t		 why;
	uint32_t	 group;
	int64_t		 start;		/* ms from the run's start */
	int64_t		 end;
	size_t		 off;		/* into members */
	size_t		 n;
};

struct sim_runinfo {
	uint64_t	 start;		/* ms from the simulation start */
	char		*id;
	char		*error;		/* refused at creation */
	uint32_t	 group;
	uint8_t		 state;
	int64_t		 first_wave;	/* ms from the run's start, -1 */
	int64_t		 finished;
	size_t		 ntargets;
};

struct sim;

int	 sim_scenario_parse(const char *, const char *, struct sim_scenario *,
	    char *, size_t);
int	 sim_scenario_load(const char *, struct sim_scenario *, char *,
	    size_t);
int	 sim_fleet_parse(const char *, const char *, struct sim_fleet *,
	    char *, size_t);
int	 sim_fleet_load(const char *, struct sim_fleet *, char *, size_t);
void	 sim_fleet_free(struct sim_fleet *);
int	 sim_check(const struct sim_scenario *, const struct sim_fleet *,
	    const char *, char *, size_t);

struct sim *sim_new(const struct sim_scenario *, const struct sim_fleet *,
	    uint64_t, FILE *, int);
void	 sim_run(struct sim *);
void	 sim_free(struct sim *);

/* Results; records and waves only when sim_new() was asked to keep them. */
const struct sim_rec *sim_records(const struct sim *, size_t *);
const struct sim_wave *sim_waves(const struct sim *, size_t *);
const uint32_t *sim_wave_members(const struct sim *);
const struct sim_runinfo *sim_runs(const struct sim *, size_t *);
uint32_t sim_max_pending(const struct sim *);
size_t	 sim_count_state(const struct sim *, enum sched_mstate);
uint64_t sim_end(const struct sim *);

void	 sim_print_summary(const struct sim *, FILE *);
int	 sim_write_json(const struct sim *, FILE *);
int	 sim_write_svg(const struct sim *, FILE *, const char *);

#endif
