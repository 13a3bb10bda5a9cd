/*
 * control_socket.h — the control socket's listener, kept answering
 * whatever its clients do (control_socket.c).
 *
 * Clients connect to run/control as ever; databusd relays each connection,
 * once its SP handshake is complete, to the REP socket's own listener on
 * run/control.nng, and a watchdog thread checks every second that a
 * connection made through run/control reaches the REP socket, replacing
 * the nng listener (and logging it) when it does not.
 */
#ifndef DBS_CONTROL_SOCKET_H
#define DBS_CONTROL_SOCKET_H

#include <stdbool.h>

#include <nng/nng.h>

/*
 * Open the raw REP socket in *sock, listening behind run_dir/control, and
 * start the relay and watchdog threads. *recv_fd is the socket's
 * NNG_OPT_RECVFD for the loop's poll. Returns DBS_OK, or DBS_ETRANSPORT
 * (logged) with nothing left open. Call once.
 */
int control_socket_open(const char *run_dir, nng_socket *sock, int *recv_fd);

/*
 * Stop both threads (joined within about 2 s; a thread that does not end
 * by then is left running and reported as false). The caller closes the
 * socket afterwards, and only when this returned true.
 */
bool control_socket_stop(void);

#endif
