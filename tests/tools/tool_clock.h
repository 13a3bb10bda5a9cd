/*
 * tests/tools/tool_clock.h — the clocks and the sort order the load tools
 * (ws_load, hook_load) share: seconds as doubles, monotonic for intervals,
 * wall-clock for stamps compared across processes.
 */
#ifndef TOOL_CLOCK_H
#define TOOL_CLOCK_H

#include <time.h>

static inline double
clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double
mono_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

static inline double
wall_s(void)
{
	return clock_s(CLOCK_REALTIME);
}

/* qsort order for doubles, ascending. */
static inline int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#endif
