/*
 * stall.h — a stall of databusd is not held against its workers
 * (stall.c).
 */
#ifndef DBS_STALL_H
#define DBS_STALL_H

#include <stdint.h>

#include "sup.h"

/*
 * Called by the loop before any worker is judged (child_timers,
 * drive_deadlines), with the loop's `now`: after a stall, restarts the
 * heartbeat clocks of live workers and moves their drives' time limits
 * on (O(workers), once per stall; O(1) otherwise).
 */
void stall_forgive(struct sup *s, int64_t now);

#endif
