/*
 * control_socket.c — the control socket's listener, kept answering
 * whatever its clients do.
 *
 * nng 1.5.2 (Debian 12's) loses an IPC listener for good when a peer hangs
 * up during the 8-byte SP handshake: the transport hands the failed
 * negotiation's NNG_ECLOSED to the listener's pending accept, and the
 * socket's accept loop takes NNG_ECLOSED for "this listener was closed"
 * and never asks for another connection (nanomsg/nng#1518, fixed after
 * 1.5.2 by mapping that error to NNG_ECONNSHUT). The transport itself
 * keeps accepting and negotiating: every later client completes its
 * handshake and then waits, unmatched, for ever, and once such a client
 * gives up, nng's poller thread spins on its hung-up descriptor. A
 * client killed by a timeout, a port scanner or a two-line script
 * (connect, send 3 bytes, close) was enough.
 *
 * So nng is never shown a handshake that does not complete. Clients
 * connect to run/control, a plain Unix socket served by the relay
 * thread here: it reads the client's 8-byte SP header (within 5 s), only
 * then connects to the REP socket's real listener on run/control.nng
 * (again on its next turns while that listener's backlog is full: nng
 * accepts one connection at a time, and a burst of clients must wait,
 * not be cut), passes the header on, waits for nng's header and hands it back,
 * and from then on copies bytes both ways. A client that hangs up before its
 * header is complete never reaches nng; one that hangs up while nng
 * answers is relayed until nng's side of the handshake is done, then
 * closed like any finished connection.
 *
 * And should the listener wedge anyway (a same-user process can still
 * reach run/control.nng directly), it is noticed two ways: the relay sees
 * a client's handshake complete while nng adds no pipe to the socket
 * (NNG_PIPE_EV_ADD_PRE) within 2 s, and a watchdog thread makes such a
 * connection itself every 3 s and checks the same. Either way the
 * watchdog logs it and replaces the nng listener: the old one is closed on a
 * thread joined within 1 s (a close can wedge in 1.5.2, nanomsg/nng#1543; see
 * child.c), which also closes the pipes it had accepted and so ends any
 * spinning, and a new one listens on the same path. The REP socket
 * stays, and with it the descriptor databusd's loop polls and the
 * replies still owed; clients connected through the old listener see
 * their connection close and dial again.
 *
 * An idle databusd wakes neither thread but for that probe: the relay
 * polls without a timeout when no connection is in a timed phase.
 *
 * Neither thread touches struct sup: the loop keeps using the socket as
 * before. Timeouts count at most TICK_MAX_MS for each turn of a thread's
 * loop, so that a SIGSTOP of databusd does not make a connection look
 * late.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "control_socket.h"
#include "dbs_error.h"
#include "sup.h"
#include "wire.h"

#define RELAY_MAX      256   /* connections relayed at once */
#define HELLO_MAX      64    /* of which still sending their header */
#define HELLO_MS       5000  /* for a client's header */
#define HELLO_GRACE_MS 500   /* before a silent one may be evicted */
#define ANSWER_MS      12000 /* for nng's header (> its own 10 s) */
#define TICK_MAX_MS    200   /* the most one turn of a loop counts */
#define RELAY_BUF      65536 /* per direction and connection */
#define PROBE_EVERY_MS 3000  /* the watchdog's own probe */
#define PROBE_ADD_MS   2000  /* handshake done .. pipe added */
#define SP_HEADER      8

enum conn_phase {
	PH_HELLO,  /* reading the client's SP header */
	PH_DIAL,   /* header read; nng's listen backlog was full */
	PH_ANSWER, /* header passed on; reading nng's */
	PH_RELAY,  /* copying both ways */
};

struct buf {
	unsigned char data[RELAY_BUF];
	size_t len, off;
};

struct conn {
	struct conn *next;
	int cfd, ifd; /* the client, nng (-1 until PH_ANSWER) */
	enum conn_phase phase;
	int ms_left; /* for the current phase, but PH_RELAY */
	unsigned char head[SP_HEADER];
	size_t head_len;
	unsigned added_at_dial; /* cs.added when the header went to nng */
	struct buf c2i, i2c;
};

static struct {
	nng_socket sock;
	nng_listener listener;
	char public_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char inner_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char inner_url[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
	int listen_fd;
	int wake[2]; /* written to stop the relay */
	pthread_t relay, watchdog;
	bool relay_running, watchdog_running;
	atomic_bool stopping;
	atomic_uint added; /* pipes nng added to the socket */
	/* The watchdog sleeps on `cv` between probes; the relay wakes it
	 * with `suspect` set when a relayed handshake completed and nng
	 * added no pipe at all within PROBE_ADD_MS (see relay_suspect). */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool suspect;
} cs = {.listen_fd = -1, .wake = {-1, -1}, .mu = PTHREAD_MUTEX_INITIALIZER};

/* ------------------------------------------------------------ helpers */

/* An SP header of a REQ peer (databusctl, databus-web): nng would refuse
 * any other protocol after the handshake, which the relay would take for
 * a wedged listener. */
static bool
valid_header(const unsigned char *h)
{
	return h[0] == 0 && h[1] == 'S' && h[2] == 'P' && h[3] == 0 &&
	       h[4] == (NNG_REP0_PEER >> 8) &&
	       h[5] == (NNG_REP0_PEER & 0xff) && h[6] == 0 && h[7] == 0;
}

static int
unix_socket(const char *path, bool listening)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd =
	    socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (listening ? bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
			    listen(fd, 128) != 0
		      : connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void
pipe_added(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)ev;
	(void)arg;
	atomic_fetch_add(&cs.added, 1);
}

/* -------------------------------------------------------------- relay */

static void
conn_free(struct conn *c)
{
	close(c->cfd);
	if (c->ifd >= 0)
		close(c->ifd);
	free(c);
}

/* Write what `b` holds to fd; false when the peer is gone. */
static bool
buf_flush(struct buf *b, int fd)
{
	while (b->off < b->len) {
		ssize_t n = send(fd, b->data + b->off, b->len - b->off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ||
			       errno == EINTR;
		b->off += (size_t)n;
	}
	b->len = b->off = 0;
	return true;
}

/* Read into an empty `b`; false at end of stream or on an error. */
static bool
buf_fill(struct buf *b, int fd)
{
	ssize_t n = recv(fd, b->data, sizeof(b->data), MSG_DONTWAIT);

	if (n > 0) {
		b->len = (size_t)n;
		b->off = 0;
		return true;
	}
	return n < 0 &&
	       (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

/* Read more of a header into c->head; false when the peer is gone. */
static bool
read_header(struct conn *c, int fd)
{
	ssize_t n = recv(
	    fd, c->head + c->head_len, SP_HEADER - c->head_len, MSG_DONTWAIT);

	if (n > 0) {
		c->head_len += (size_t)n;
		return true;
	}
	return n < 0 &&
	       (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

/*
 * Connect to nng's listener and pass the client's header on. A full
 * listen backlog (a burst of clients while nng accepts one at a time)
 * is not the client's fault: the connection stays in PH_DIAL and the
 * relay tries again on its next turn, within ANSWER_MS.
 */
static bool
conn_dial(struct conn *c)
{
	c->added_at_dial = atomic_load(&cs.added);
	if ((c->ifd = unix_socket(cs.inner_path, false)) < 0)
		return errno == EAGAIN;
	if (send(c->ifd, c->head, SP_HEADER, MSG_NOSIGNAL | MSG_DONTWAIT) !=
	    SP_HEADER)
		return false;
	c->phase = PH_ANSWER;
	c->head_len = 0;
	return true;
}

/*
 * One poll event for `c`: returns false when the connection is done.
 * Once nng has its end (PH_ANSWER), the client's leaving is ignored
 * until nng's header is in: only then may nng's end close.
 */
static bool
conn_step(struct conn *c, short crev, short irev)
{
	switch (c->phase) {
	case PH_HELLO:
		if (crev == 0)
			return true;
		if (!read_header(c, c->cfd))
			return false;
		if (c->head_len < SP_HEADER)
			return true;
		if (!valid_header(c->head))
			return false;
		c->phase = PH_DIAL;
		c->ms_left = ANSWER_MS;
		/* fall through */
	case PH_DIAL:
		return conn_dial(c);
	case PH_ANSWER:
		if (irev == 0)
			return true;
		if (!read_header(c, c->ifd))
			return false;
		if (c->head_len < SP_HEADER)
			return true;
		/* nng's handshake is done: from here on either end may go. */
		memcpy(c->i2c.data, c->head, SP_HEADER);
		c->i2c.len = SP_HEADER;
		c->i2c.off = 0;
		c->phase = PH_RELAY;
		return buf_flush(&c->i2c, c->cfd);
	case PH_RELAY:
		if ((crev & POLLOUT) && !buf_flush(&c->i2c, c->cfd))
			return false;
		if ((irev & POLLOUT) && !buf_flush(&c->c2i, c->ifd))
			return false;
		if ((crev & (POLLIN | POLLHUP | POLLERR)) && c->c2i.len == 0 &&
		    (!buf_fill(&c->c2i, c->cfd) ||
			!buf_flush(&c->c2i, c->ifd)))
			return false;
		if ((irev & (POLLIN | POLLHUP | POLLERR)) && c->i2c.len == 0 &&
		    (!buf_fill(&c->i2c, c->ifd) ||
			!buf_flush(&c->i2c, c->cfd)))
			return false;
		return true;
	}
	return false;
}

/* What to poll for on each end of `c`. */
static void
conn_events(const struct conn *c, short *cev, short *iev)
{
	*cev = *iev = 0;
	switch (c->phase) {
	case PH_HELLO:
		*cev = POLLIN;
		break;
	case PH_DIAL: /* retried on every turn (see relay_thread) */
		break;
	case PH_ANSWER:
		*iev = POLLIN;
		break;
	case PH_RELAY:
		*cev = c->i2c.len > 0 ? POLLOUT : 0;
		*cev |= c->c2i.len == 0 ? POLLIN : 0;
		*iev = c->c2i.len > 0 ? POLLOUT : 0;
		*iev |= c->i2c.len == 0 ? POLLIN : 0;
		break;
	}
}

/*
 * The oldest connection that may be closed to make room for a new one
 * (the list is newest first), or NULL: with every header slot taken, a
 * connection still silent after HELLO_GRACE_MS; with every slot taken,
 * any relayed one. A burst of clients is never cut: they wait in the
 * listen backlog until the headers before them are read.
 */
static struct conn **
evictable(struct conn **list, int n_conns, int n_hello)
{
	struct conn **victim = NULL;

	for (struct conn **pc = list; *pc != NULL; pc = &(*pc)->next) {
		const struct conn *c = *pc;

		if (n_hello >= HELLO_MAX
			? c->phase == PH_HELLO &&
			      c->ms_left < HELLO_MS - HELLO_GRACE_MS
			: n_conns >= RELAY_MAX && c->phase == PH_RELAY)
			victim = pc;
	}
	return victim;
}

/* Whether a new connection can be taken now, closing an evictable one
 * when `evict` and there is no free slot. */
static bool
room(struct conn **list, int *n_conns, int *n_hello, bool evict)
{
	struct conn **victim, *c;

	while (*n_hello >= HELLO_MAX || *n_conns >= RELAY_MAX) {
		if ((victim = evictable(list, *n_conns, *n_hello)) == NULL)
			return false;
		if (!evict)
			return true;
		c = *victim;
		*victim = c->next;
		if (c->phase == PH_HELLO)
			(*n_hello)--;
		(*n_conns)--;
		conn_free(c);
	}
	return true;
}

/*
 * Accept what is waiting and has room (see evictable()): whoever holds
 * many connections open cannot keep a new client out for long, and an
 * nng dialer whose connection closes dials again.
 */
static void
relay_accept(struct conn **list, int *n_conns, int *n_hello)
{
	while (room(list, n_conns, n_hello, true)) {
		int fd = accept4(
		    cs.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0)
			return;
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->cfd = fd;
		c->ifd = -1;
		c->phase = PH_HELLO;
		c->ms_left = HELLO_MS;
		c->next = *list;
		*list = c;
		(*n_conns)++;
		(*n_hello)++;
	}
}

/* The milliseconds since *last, at most TICK_MAX_MS (see the top). */
static int
tick(int64_t *last)
{
	int64_t now = wire_mono_ms(), dt = now - *last;

	*last = now;
	return dt < 0 ? 0 : dt > TICK_MAX_MS ? TICK_MAX_MS : (int)dt;
}

/* Wake the watchdog: a relayed handshake went unanswered by nng. */
static void
relay_suspect(void)
{
	pthread_mutex_lock(&cs.mu);
	cs.suspect = true;
	pthread_cond_signal(&cs.cv);
	pthread_mutex_unlock(&cs.mu);
}

/*
 * The relay's own evidence of a wedged listener: a connection's handshake
 * completed (nng sent its header) and no pipe at all was added to the
 * socket since that header went in, for PROBE_ADD_MS. `check` holds the
 * one pending judgement (ms left, or -1, and cs.added when it began); a
 * burst of clients never trips it, since each added pipe clears it.
 */
struct wedge_check {
	int left_ms;
	unsigned added;
};

static void
wedge_begin(struct wedge_check *w, const struct conn *c)
{
	if (w->left_ms < 0 && atomic_load(&cs.added) == c->added_at_dial) {
		w->left_ms = PROBE_ADD_MS;
		w->added = c->added_at_dial;
	}
}

static void
wedge_tick(struct wedge_check *w, int dt)
{
	if (w->left_ms < 0)
		return;
	if (atomic_load(&cs.added) != w->added) {
		w->left_ms = -1;
	} else if ((w->left_ms -= dt) <= 0) {
		w->left_ms = -1;
		relay_suspect();
	}
}

/* How long the relay's poll may sleep: for ever when nothing is timed (an
 * idle databusd wakes for nothing), 10 ms while a connection waits for
 * room in nng's backlog. */
static int
relay_wait_ms(const struct conn *list, const struct wedge_check *w)
{
	int ms = w->left_ms >= 0 ? w->left_ms : -1;

	for (const struct conn *c = list; c != NULL; c = c->next) {
		int want = c->phase == PH_DIAL    ? 10
			   : c->phase == PH_RELAY ? -1
						  : 100;

		if (want >= 0 && (ms < 0 || want < ms))
			ms = want;
	}
	return ms;
}

static void *
relay_thread(void *arg)
{
	struct pollfd *pfd = calloc(2 + 2 * RELAY_MAX, sizeof(*pfd));
	struct conn *list = NULL;
	struct wedge_check wedge = {-1, 0};
	int n_conns = 0, n_hello = 0;
	int64_t last = wire_mono_ms();

	(void)arg;
	if (pfd == NULL) {
		sup_err("control socket: out of memory; relay not started");
		return NULL;
	}
	while (!atomic_load(&cs.stopping)) {
		size_t n = 2;
		int dt;

		pfd[0] = (struct pollfd){cs.wake[0], POLLIN, 0};
		/* Without room, new clients wait in the backlog (and the
		 * listening socket is left out, or it would wake the poll). */
		pfd[1] = (struct pollfd){
		    room(&list, &n_conns, &n_hello, false) ? cs.listen_fd : -1,
		    POLLIN, 0};
		for (struct conn *c = list; c != NULL; c = c->next) {
			conn_events(c, &pfd[n].events, &pfd[n + 1].events);
			/* An end not waited for is left out: a hung-up one
			 * would wake the poll for ever. */
			pfd[n].fd = pfd[n].events != 0 ? c->cfd : -1;
			pfd[n + 1].fd = pfd[n + 1].events != 0 ? c->ifd : -1;
			pfd[n].revents = pfd[n + 1].revents = 0;
			n += 2;
		}
		if (poll(pfd, n, relay_wait_ms(list, &wedge)) < 0 &&
		    errno != EINTR) {
			sup_err(
			    "control socket: relay poll: %s", strerror(errno));
			break;
		}
		dt = tick(&last);
		wedge_tick(&wedge, dt);
		n = 2;
		for (struct conn **pc = &list; *pc != NULL; n += 2) {
			struct conn *c = *pc;
			enum conn_phase was = c->phase;
			bool keep;

			if (c->phase != PH_RELAY)
				c->ms_left -= dt;
			keep = c->ms_left > 0 && conn_step(c, pfd[n].revents,
						     pfd[n + 1].revents);
			if (was == PH_HELLO && (!keep || c->phase != PH_HELLO))
				n_hello--;
			if (keep && was == PH_ANSWER && c->phase == PH_RELAY)
				wedge_begin(&wedge, c);
			if (keep) {
				pc = &c->next;
				continue;
			}
			*pc = c->next;
			conn_free(c);
			n_conns--;
		}
		if (pfd[1].revents & POLLIN)
			relay_accept(&list, &n_conns, &n_hello);
	}
	while (list != NULL) {
		struct conn *c = list;

		list = c->next;
		conn_free(c);
	}
	free(pfd);
	return NULL;
}

/* ----------------------------------------------------------- watchdog */

/* Sleep until the next probe or the relay's suspicion; false when asked
 * to stop meanwhile. *suspect: the relay saw a handshake go unanswered. */
static bool
watchdog_wait(bool *suspect)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += PROBE_EVERY_MS / 1000;
	pthread_mutex_lock(&cs.mu);
	while (!cs.suspect && !atomic_load(&cs.stopping) &&
	       pthread_cond_timedwait(&cs.cv, &cs.mu, &until) == 0)
		;
	*suspect = cs.suspect;
	cs.suspect = false;
	pthread_mutex_unlock(&cs.mu);
	return !atomic_load(&cs.stopping);
}

/*
 * A connection through run/control, as a REQ client makes it: true when
 * nng added a pipe to the socket after the handshake. The probe holds
 * its connection until it knows, and the relay shields nng from it
 * anyway.
 */
static bool
probe(char *why, size_t whylen)
{
	static const unsigned char req0[SP_HEADER] = {
	    0, 'S', 'P', 0, 0, NNG_REP0_PEER, 0, 0};
	unsigned char head[SP_HEADER];
	size_t got = 0;
	unsigned before = atomic_load(&cs.added);
	int fd = unix_socket(cs.public_path, false), left = ANSWER_MS;
	int64_t last = wire_mono_ms();
	bool ok = false;

	if (fd < 0) {
		snprintf(why, whylen, "cannot connect to %s: %s",
		    cs.public_path, strerror(errno));
		return false;
	}
	if (send(fd, req0, sizeof(req0), MSG_NOSIGNAL) != sizeof(req0)) {
		snprintf(why, whylen, "cannot send the SP header");
		goto out;
	}
	while (got < SP_HEADER && left > 0 && !atomic_load(&cs.stopping)) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t n;

		(void)poll(&p, 1, 100);
		left -= tick(&last);
		n = recv(fd, head + got, SP_HEADER - got, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			snprintf(why, whylen, "the handshake was refused");
			goto out;
		}
		if (n > 0)
			got += (size_t)n;
	}
	if (got < SP_HEADER) {
		snprintf(
		    why, whylen, "no SP header within %d s", ANSWER_MS / 1000);
		goto out;
	}
	for (left = PROBE_ADD_MS; left > 0 && !atomic_load(&cs.stopping);
	     left -= tick(&last)) {
		if (atomic_load(&cs.added) != before) {
			ok = true;
			goto out;
		}
		(void)nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	snprintf(why, whylen,
	    "the handshake completed but nng did not take the connection "
	    "within %d s",
	    PROBE_ADD_MS / 1000);
out:
	close(fd);
	return ok || atomic_load(&cs.stopping);
}

static void *
listener_close_thread(void *arg)
{
	nng_listener l = {.id = (uint32_t)(uintptr_t)arg};

	nng_listener_close(l);
	return NULL;
}

/* Close the nng listener on a thread joined within 1 s; a close that
 * wedges is left to its thread. */
static void
close_listener(nng_listener l)
{
	struct timespec until;
	pthread_t t;

	if (pthread_create(&t, NULL, listener_close_thread,
		(void *)(uintptr_t)l.id) != 0) {
		nng_listener_close(l);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	if (pthread_timedjoin_np(t, NULL, &until) != 0) {
		sup_err("control socket: the old listener did not close "
			"within 1 s; leaving it to a thread");
		pthread_detach(t);
	}
}

static int
listen_inner(void)
{
	(void)remove(cs.inner_path);
	return nng_listen(cs.sock, cs.inner_url, &cs.listener, 0);
}

static void
replace_listener(const char *why)
{
	int rc;

	sup_warn("control socket: a connection through %s did not reach "
		 "databusd (%s): replacing the nng listener",
	    cs.public_path, why);
	close_listener(cs.listener);
	if ((rc = listen_inner()) != 0)
		sup_err("control socket: cannot listen on %s again: %s; "
			"retrying in 1 s",
		    cs.inner_url, nng_strerror(rc));
	else
		sup_log("control socket: listening again on %s", cs.inner_url);
}

static void *
watchdog_thread(void *arg)
{
	char why[256];

	(void)arg;
	for (bool suspect; watchdog_wait(&suspect);) {
		if (suspect)
			replace_listener(
			    "a relayed handshake completed but nng "
			    "added no pipe within 2 s");
		else if (!probe(why, sizeof(why)))
			replace_listener(why);
	}
	return NULL;
}

/* ------------------------------------------------------- open and stop */

static bool
join_within(pthread_t t, int seconds)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += seconds;
	if (pthread_timedjoin_np(t, NULL, &until) == 0)
		return true;
	pthread_detach(t);
	return false;
}

int
control_socket_open(const char *run_dir, nng_socket *sock, int *recv_fd)
{
	int rc = 0;
	const char *what = "";

	if (snprintf(cs.public_path, sizeof(cs.public_path), "%s/control",
		run_dir) >= (int)sizeof(cs.public_path) ||
	    snprintf(cs.inner_path, sizeof(cs.inner_path), "%s/control.nng",
		run_dir) >= (int)sizeof(cs.inner_path)) {
		sup_err("control socket: %s/control: path too long", run_dir);
		return DBS_ETRANSPORT;
	}
	snprintf(
	    cs.inner_url, sizeof(cs.inner_url), "ipc://%s", cs.inner_path);
	(void)remove(cs.public_path);
	if ((rc = nng_rep0_open_raw(&cs.sock)) != 0) {
		what = "open";
		goto fail;
	}
	if ((rc = wire_socket_limits(cs.sock, 0) != DBS_OK ? NNG_EINVAL : 0) !=
		0 ||
	    (rc = nng_pipe_notify(
		 cs.sock, NNG_PIPE_EV_ADD_PRE, pipe_added, NULL)) != 0 ||
	    (rc = listen_inner()) != 0 ||
	    (rc = nng_socket_get_int(cs.sock, NNG_OPT_RECVFD, recv_fd)) != 0) {
		what = cs.inner_url;
		goto fail_close;
	}
	if ((cs.listen_fd = unix_socket(cs.public_path, true)) < 0 ||
	    pipe2(cs.wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		sup_err(
		    "control socket %s: %s", cs.public_path, strerror(errno));
		goto fail_fds;
	}
	if (pthread_create(&cs.relay, NULL, relay_thread, NULL) != 0)
		goto fail_fds;
	cs.relay_running = true;
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&cs.cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (pthread_create(&cs.watchdog, NULL, watchdog_thread, NULL) == 0)
		cs.watchdog_running = true;
	else
		sup_err("control socket: no watchdog thread (%s)",
		    strerror(errno));
	*sock = cs.sock;
	return DBS_OK;

fail_fds:
	if (cs.listen_fd >= 0)
		close(cs.listen_fd);
	cs.listen_fd = -1;
	nng_close(cs.sock);
	return DBS_ETRANSPORT;
fail_close:
	nng_close(cs.sock);
fail:
	sup_err("control socket %s: %s", what, nng_strerror(rc));
	return DBS_ETRANSPORT;
}

bool
control_socket_stop(void)
{
	bool ok = true;

	atomic_store(&cs.stopping, true);
	pthread_mutex_lock(&cs.mu);
	pthread_cond_broadcast(&cs.cv);
	pthread_mutex_unlock(&cs.mu);
	if (cs.wake[1] >= 0 && write(cs.wake[1], "x", 1) < 0)
		sup_err(
		    "control socket: waking the relay: %s", strerror(errno));
	if (cs.relay_running && !join_within(cs.relay, 2))
		ok = false;
	if (cs.watchdog_running && !join_within(cs.watchdog, 2))
		ok = false;
	cs.relay_running = cs.watchdog_running = false;
	if (!ok) {
		sup_err("control socket: a thread did not stop within 2 s");
		return false;
	}
	if (cs.listen_fd >= 0) {
		close(cs.listen_fd);
		(void)remove(cs.public_path);
	}
	cs.listen_fd = -1;
	return true;
}
