/*
 * The simulator's input (sim_input.c): what a scenario file and a fleet
 * file say, once checked, and the seeded draws of ready times from the
 * fleet's distributions.  sim.h includes it; the engine (sim.c) is the
 * only user of the draws and the hash at the end.
 */
#ifndef FC_SIM_INPUT_H
#define FC_SIM_INPUT_H

#include <stddef.h>
#include <stdint.h>

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

/* For the engine: the PRNG's seeding and draws, and the names' hash. */
uint64_t sim_splitmix(uint64_t *);
uint64_t sim_draw(uint64_t[4], const struct sim_ready *);
uint64_t sim_strhash(const char *);

#endif
