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
#include "sim_input.h"

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
