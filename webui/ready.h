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
 * it). The first call starts the thread that asks, and waits up to 80 ms
 * for its first answer; every call returns within that.
 */
bool web_ready(const char *url);

#endif
