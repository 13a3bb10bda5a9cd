/*
 * worker_limits.h — resource limits a worker applies to itself
 * (worker_limits.c).
 */
#ifndef DBS_WORKER_LIMITS_H
#define DBS_WORKER_LIMITS_H

#include <stddef.h>

/* Apply "memory=BYTES,cpu=SECONDS,files=N" (0: no limit) with setrlimit.
 * 0, or -1 with a sentence in err. */
int worker_limits_apply(const char *spec, char *err, size_t errlen);

#endif
