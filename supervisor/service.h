/*
 * service.h — what databusd tells its service manager (systemd,
 * Type=notify), through sd_notify.h.
 *
 *   READY=1      once, when the store is open and every worker and
 *                databus-web (if enabled) have come up: each is ready,
 *                busy or failed (a failed one is named in STATUS);
 *   STATUS=...   whenever the one-line state changes: "starting: ...",
 *                "ready: ...", "paused: ...", "intake paused: <why>",
 *                "shutting down";
 *   RELOADING=1  when a reload begins, READY=1 when it ended (applied or
 *                refused);
 *   STOPPING=1   when the shutdown begins;
 *   WATCHDOG=1   every half $WATCHDOG_USEC, from the loop's timers, so a
 *                loop that hangs stops pinging and systemd restarts
 *                databusd.
 *
 * Without $NOTIFY_SOCKET all of it costs one branch a turn.
 */
#ifndef DBS_SERVICE_H
#define DBS_SERVICE_H

#include <stdint.h>

#include "sup.h"

/* Read the service manager's environment (before any child is spawned,
 * so that none inherits it). */
void sup_service_open(void);

/* Each loop turn: READY, STATUS, STOPPING and the watchdog; lowers
 * *wake to the next watchdog ping. */
void sup_service_timers(struct sup *s, int64_t now, int64_t *wake);

/* Around a reload (reload.c). */
void sup_service_reloading(struct sup *s);
void sup_service_reloaded(struct sup *s);

#endif
