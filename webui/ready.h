/*
 * ready.h — databusd's readiness as databus-web last saw it, for /readyz
 * (ready.c).
 */
#ifndef DBS_WEB_READY_H
#define DBS_WEB_READY_H

#include <stdbool.h>

/*
 * Whether databusd answered a status request sent at most 1 s ago on the
 * control socket at `url` (a string that outlives the process's use of
 * it) and said its store takes writes (intake not paused by a store error:
 * a full disk, an I/O error, a PostgreSQL it cannot reach). The first call
 * starts the thread that asks, and waits up to 80 ms for its first
 * answer; every call returns within that. *why (may be NULL) says what is
 * not ready, in words for anyone (no detail of the store).
 */
bool web_ready(const char *url, const char **why);

#endif
