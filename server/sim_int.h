/*
 * What the engine of the simulator (sim.c) shares with its outputs
 * (sim_report.c, sim_svg.c) and its users do not see: the state of a
 * simulation, struct sim, which the engine fills and the outputs read.
 * The layers: sim_input.c (files, PRNG) at the bottom, the engine above
 * it, the outputs on top; none calls a layer above it.
 */
#ifndef FC_SIM_INT_H
#define FC_SIM_INT_H

#include <stdint.h>
#include <stdio.h>

#include "sched.h"

struct sim_agent;
struct sim_ev;
struct sim_fleet;
struct sim_rec;
struct sim_runinfo;
struct sim_scenario;
struct sim_srun;
struct sim_wave;

/* The first waves, for the summary table, kept whatever keep says. */
#define SIM_WLIST	20
struct sim_wsum {
	uint32_t	 run;
	uint32_t	 index;
	uint8_t		 path;
	uint8_t		 why;
	uint64_t	 start;		/* ms from the run's start */
	size_t		 n;
};

struct sim_errcount {
	char		*msg;
	size_t		 count;
	uint64_t	 hash;
};

struct sim {
	const struct sim_scenario *sc;
	const struct sim_fleet *fl;
	struct sched	*sched;
	uint64_t	 rng[4];
	uint64_t	 seed;
	FILE		*tl;
	int		 keep;

	struct sim_agent *agents;
	struct sim_srun	*runs;
	struct sim_runinfo *ri;
	uint32_t	 nruns;
	struct sched_machine **mbuf;

	struct sim_ev	*ev;
	size_t		 nev;
	size_t		 evcap;
	uint64_t	 seq;
	size_t		 nlive_ev;	/* events other than restarts */
	uint64_t	 now;
	uint64_t	 last;		/* time of the last run activity */
	size_t		 npend_real;

	struct sim_srun	**tofree;
	size_t		 ntofree;
	size_t		 tofreecap;

	/* Results. */
	struct sim_rec	*recs;
	size_t		 nrecs;
	size_t		 reccap;
	struct sim_wave	*waves;
	size_t		 nwaves;
	size_t		 wavecap;
	uint32_t	*members;
	size_t		 nmembers;
	size_t		 memcap;
	struct sim_wsum	 wfirst[SIM_WLIST];	/* the first waves */
	size_t		 nwtotal;
	size_t		 nwpath[3];
	size_t		 wmin;
	size_t		 wmax;
	size_t		 wsum;
	uint32_t	*done;		/* completion ms from run start */
	size_t		 ndone;
	size_t		 donecap;
	size_t		 states[SCHED_M_NSTATES];
	size_t		 first_final[SCHED_M_NSTATES];
	size_t		 ntargets;
	size_t		 nqueued_ever;
	size_t		 nrefused_runs;
	uint64_t	 first_transfer;
	uint32_t	 max_pending;
	struct sim_errcount *errs;	/* open addressing by message */
	size_t		 errsize;
	size_t		 nerrs;
	char		**strs;		/* interned strings */
	size_t		 nstrs;
	size_t		 strcap;
	int		 ran;
	int		 sorted;	/* outputs sorted, after sim_run() */
};

/* The engine's, for the outputs. */
void		 sim_sort(const struct sim *);
const char	*sim_plural(size_t);

#endif
