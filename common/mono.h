/*
 * The monotonic clock, in the units the modules count in.  Timeouts,
 * pacing and durations are measured on it, never on the wall clock, so a
 * clock step (NTP, an admin's `date`) cannot stretch or cut them.
 */
#ifndef FC_MONO_H
#define FC_MONO_H

#include <stdint.h>
#include <time.h>

static inline uint64_t
mono_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

static inline uint64_t
mono_us(void)
{
	return (mono_ns() / 1000);
}

static inline uint64_t
mono_ms(void)
{
	return (mono_ns() / 1000000);
}

#endif
