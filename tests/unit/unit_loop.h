/*
 * Running a test's event loop until something has happened: the agent's
 * tests wait this way for child processes, timers and loopback peers,
 * with a deadline so that a test that waits in vain fails instead of
 * hanging.  Header-only, like unit.h.
 */
#ifndef FC_UNIT_LOOP_H
#define FC_UNIT_LOOP_H

#include <sys/time.h>

#include <stdint.h>

#include <event2/event.h>

#include "mono.h"

/* Run base in 10 ms slices until cond(arg) (1) or ms have passed (0). */
static inline int
unit_loop_until(struct event_base *base, int (*cond)(void *), void *arg,
    int ms)
{
	uint64_t	end = mono_ms() + (uint64_t)ms;
	struct timeval	slice = { 0, 10000 };

	for (;;) {
		if (cond(arg))
			return (1);
		if (mono_ms() >= end)
			return (0);
		event_base_loopexit(base, &slice);
		event_base_dispatch(base);
	}
}

#endif
