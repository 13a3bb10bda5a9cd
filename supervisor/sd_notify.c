/*
 * sd_notify.c — systemd's notification protocol, without libsystemd.
 *
 * The protocol (sd_notify(3), "Notification protocol" in systemd's
 * documentation) is small: the service manager passes the path of an
 * AF_UNIX datagram socket in $NOTIFY_SOCKET — a file system path, or an
 * abstract address written with a leading '@' — and the service sends it
 * datagrams of newline-separated "KEY=value" assignments: READY=1,
 * RELOADING=1, STOPPING=1, STATUS=..., WATCHDOG=1. The manager tells the
 * sender by the kernel's credentials of the datagram (so with
 * NotifyAccess=main only the main pid is heard). $WATCHDOG_USEC asks for
 * WATCHDOG=1 more often than that many microseconds, and $WATCHDOG_PID, if
 * set, names the process the request is meant for.
 *
 * libsystemd would do the same in more code and one more library to link
 * for an optional feature; these ~100 lines are the whole of it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sd_notify.h"

static struct {
	int fd;
	struct sockaddr_un addr;
	socklen_t addrlen;
	int64_t watchdog_ms;
} sdn = {.fd = -1, .watchdog_ms = -1};

/* Half of $WATCHDOG_USEC, when it is meant for this process. */
static int64_t
watchdog_from_env(void)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	unsigned long long us;
	char *end;

	if (usec == NULL || *usec == '\0')
		return -1;
	errno = 0;
	us = strtoull(usec, &end, 10);
	if (errno != 0 || *end != '\0' || us == 0)
		return -1;
	if (pid != NULL && *pid != '\0' &&
	    strtol(pid, NULL, 10) != (long)getpid())
		return -1;
	return us / 2000 > 0 ? (int64_t)(us / 2000) : 1;
}

bool
sdn_open(char *err, size_t errlen)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len;

	err[0] = '\0';
	sdn.watchdog_ms = watchdog_from_env();
	if (path != NULL && *path != '\0') {
		len = strlen(path);
		memset(&sdn.addr, 0, sizeof(sdn.addr));
		sdn.addr.sun_family = AF_UNIX;
		if ((path[0] != '/' && path[0] != '@') ||
		    len >= sizeof(sdn.addr.sun_path)) {
			snprintf(err, errlen,
			    "NOTIFY_SOCKET=%.200s: not a socket path or "
			    "@abstract name",
			    path);
		} else if ((sdn.fd = socket(
				AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
			snprintf(err, errlen, "NOTIFY_SOCKET: socket: %s",
			    strerror(errno));
		} else {
			memcpy(sdn.addr.sun_path, path, len);
			if (path[0] == '@')
				sdn.addr.sun_path[0] = '\0'; /* abstract */
			sdn.addrlen = (socklen_t)(offsetof(struct sockaddr_un,
						      sun_path) +
						  len + (path[0] == '/'));
		}
	}
	if (sdn.fd < 0)
		sdn.watchdog_ms = -1; /* nobody to ping */
	(void)unsetenv("NOTIFY_SOCKET");
	(void)unsetenv("WATCHDOG_USEC");
	(void)unsetenv("WATCHDOG_PID");
	return sdn.fd >= 0;
}

bool
sdn_active(void)
{
	return sdn.fd >= 0;
}

bool
sdn_send(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	if (sdn.fd < 0)
		return true;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return false;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1; /* a long STATUS is cut, not dropped */
	/* Never wait: databusd's loop must not stall behind a service
	 * manager that does not read (its queue full, the message is lost). */
	return sendto(sdn.fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT,
		   (struct sockaddr *)&sdn.addr, sdn.addrlen) == n;
}

int64_t
sdn_watchdog_ms(void)
{
	return sdn.watchdog_ms;
}

void
sdn_close(void)
{
	if (sdn.fd >= 0)
		close(sdn.fd);
	sdn.fd = -1;
}
