/*
 * sd_notify.h — the service manager's notification protocol (systemd's
 * sd_notify), written out: one datagram of "KEY=value" lines to the
 * AF_UNIX socket named by $NOTIFY_SOCKET.
 *
 * Nothing here knows databusd; service.c decides what to say and when.
 * Without $NOTIFY_SOCKET (not started by systemd with Type=notify) every
 * call is a no-op, so callers never test for it.
 */
#ifndef DBS_SD_NOTIFY_H
#define DBS_SD_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Read $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID once, open the
 * datagram socket, and remove the three variables from the environment
 * so that the children databusd spawns do not inherit them (only the
 * main process speaks to the service manager). A socket name starting
 * with '@' is an abstract address. Returns false when there is no socket
 * to talk to (or it cannot be used: the reason goes to `err`).
 */
bool sdn_open(char *err, size_t errlen);

/* Whether sdn_open found a socket. */
bool sdn_active(void);

/*
 * Send one message: `fmt` expands to newline-separated "KEY=value"
 * assignments ("READY=1\nSTATUS=ready"). Sent whole as one datagram or
 * not at all, without waiting; false (errno set) when it could not be
 * sent (EAGAIN: the manager's queue is full). A value must
 * not contain a newline (the caller's duty: see service.c).
 */
bool sdn_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The interval at which to send WATCHDOG=1: half of $WATCHDOG_USEC, in
 * milliseconds (at least 1), or -1 when no watchdog is asked for (or it
 * is meant for another pid, per $WATCHDOG_PID).
 */
int64_t sdn_watchdog_ms(void);

/* Close the socket (before exit; a no-op when not open). */
void sdn_close(void);

#endif
