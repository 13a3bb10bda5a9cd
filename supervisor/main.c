/*
 * main.c — databusd: start-up, the event loop, signals and shutdown.
 *
 * The loop polls a signalfd and the receive fds of the control socket and
 * of every worker socket. Each turn: handle what arrived (adding changes
 * to one write batch; dispatch.c, control.c), commit the batch and flush
 * the messages that waited for it (commit.c), restart the workers a
 * failed commit reported (child.c), dispatch work from the committed
 * queue, run timers (restarts, heartbeats, drive timeouts, the scheduler,
 * the store probe while intake is paused), and sleep until the next
 * timer. See sup.h and commit.h for the invariants.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>

#include "arena.h"
#include "child.h"
#include "commit.h"
#include "control.h"
#include "control_socket.h"
#include "dbs_error.h"
#include "dispatch.h"
#include "dryrun.h"
#include "drive.h"
#include "event_log.h"
#include "quota.h"
#include "history.h"
#include "history_sup.h"
#include "reload.h"
#include "service.h"
#include "stall.h"
#include "status.h"
#include "wire.h"

#define EXIT_PERMANENT   100
#define EXIT_TRANSIENT   111
#define SIGKILL_GRACE_MS 2000
#define MSG_ARENA_CHUNK  (512u << 10) /* a PulledBatch of 256 x 1 KiB */

void
sup_log_at(int priority, const char *fmt, ...)
{
	char when[32];
	time_t t = time(NULL);
	struct tm tm;
	va_list ap;

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	fprintf(stderr, "%s%s databusd: ", dbs_log_prefix(priority), when);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

uint64_t
sup_random64(void)
{
	return ((uint64_t)randombytes_random() << 32) | randombytes_random();
}

/* ------------------------------------------------------------- loop */

static void
begin_shutdown(struct sup *s, const char *why)
{
	if (s->shutting_down)
		return;
	sup_log("shutting down (%s)", why);
	s->shutting_down = true;
	sup_timers_changed(s);
	s->shutdown_deadline_ms = wire_mono_ms() + s->cfg->shutdown_timeout_ms;
	web_stop(s, SIGTERM);
	sched_pause(s->sched, true);
	for (size_t i = 0; i < s->n_workers; i++) {
		struct worker *w = s->workers[i];

		if (w->state == DBS__WORKER_STATE__WS_STARTING)
			child_stop(s, w);
		if (w->state == DBS__WORKER_STATE__WS_BACKOFF ||
		    w->state == DBS__WORKER_STATE__WS_FAILED)
			w->state = DBS__WORKER_STATE__WS_STOPPED;
	}
	sup_event_system(s);
}

void
sup_begin_shutdown(struct sup *s, const char *why)
{
	begin_shutdown(s, why);
}

static bool
all_stopped(const struct sup *s)
{
	if (s->web.pid > 0)
		return false;
	for (size_t i = 0; i < s->n_workers; i++)
		if (s->workers[i]->pid > 0)
			return false;
	return true;
}

static void
shutdown_timers(struct sup *s, int64_t now, int64_t *wake)
{
	if (!s->shutting_down)
		return;
	if (now >= s->shutdown_deadline_ms) {
		int sig = s->sigterm_sent ? SIGKILL : SIGTERM;

		for (size_t i = 0; i < s->n_workers; i++)
			if (s->workers[i]->pid > 0)
				(void)kill(s->workers[i]->pid, sig);
		web_stop(s, sig);
		if (!s->sigterm_sent)
			sup_log(
			    "shutdown timeout: SIGTERM to the workers left");
		s->sigterm_sent = true;
		s->shutdown_deadline_ms = now + SIGKILL_GRACE_MS;
	}
	if (*wake < 0 || s->shutdown_deadline_ms < *wake)
		*wake = s->shutdown_deadline_ms;
}

/*
 * After a full disk or a full map, resume only once two batches fit
 * again: a probe that happens to fit in the last free pages would resume
 * intake only for the next batch to fail (faults: intake flapping, with a
 * worker restart each time). The status says what it waits for.
 */
static bool
room_again(struct sup *s)
{
	const uint64_t need = 2 * (uint64_t)SUP_BATCH_BYTES;
	uint64_t disk = 0, map = 0;

	if (s->store_rc != DBS_ENOSPC && s->store_rc != DBS_EMAPFULL)
		return true;
	if (store_room(s->st, &disk, &map) != DBS_OK)
		return true; /* cannot tell: let the probe decide */
	if (s->store_rc == DBS_ENOSPC && disk < need) {
		snprintf(s->store_error, sizeof(s->store_error),
		    "%.380s; waiting for free disk space: %llu KiB free, "
		    "%llu KiB needed",
		    s->store_cause, (unsigned long long)disk / 1024,
		    (unsigned long long)need / 1024);
		return false;
	}
	if (s->store_rc == DBS_EMAPFULL && map < need) {
		snprintf(s->store_error, sizeof(s->store_error),
		    "%.380s; the store reached store.max_size: %llu KiB "
		    "left, %llu KiB needed (raise store.max_size and restart "
		    "databusd)",
		    s->store_cause, (unsigned long long)map / 1024,
		    (unsigned long long)need / 1024);
		return false;
	}
	return true;
}

static void
probe_timers(struct sup *s, int64_t now, int64_t *wake)
{
	struct store_txn *txn;

	if (!s->intake_paused)
		return;
	if (now < s->probe_at_ms) {
		if (*wake < 0 || s->probe_at_ms < *wake)
			*wake = s->probe_at_ms;
		return;
	}
	if (sup_commit(s) != DBS_OK)
		return;
	if (!room_again(s)) {
		s->probe_at_ms = now + 1000;
		return;
	}
	if ((txn = sup_txn(s)) == NULL) {
		s->probe_at_ms = now + 1000;
		return;
	}
	if (store_meta_put_u64(txn, "probe", (uint64_t)wire_now_ms()) !=
	    DBS_OK) {
		sup_store_failed(s, DBS_EIO, "probe");
		return;
	}
	if (sup_commit(s) == DBS_OK) {
		/* The probe committed: the store takes writes again. */
		sup_log("store writable again; intake resumed");
		s->intake_paused = false;
		s->store_error[0] = '\0';
		s->store_rc = DBS_OK;
		sup_event_system(s);
	}
}

/* A PostgreSQL store can go away while databusd has nothing to write:
 * once a second without a batch, one read transaction asks it, so that
 * intake pauses (and /readyz says 503) at once rather than at the next
 * delivery; the probe above then resumes it. */
static void
ping_timers(struct sup *s, int64_t now, int64_t *wake)
{
	struct store_txn *txn;
	int rc;

	if (s->cfg->store_backend != STORE_BACKEND_POSTGRES ||
	    s->intake_paused || s->shutting_down)
		return;
	if (s->txn != NULL || now < s->ping_at_ms) {
		if (*wake < 0 || s->ping_at_ms < *wake)
			*wake = s->ping_at_ms;
		return;
	}
	s->ping_at_ms = now + 1000;
	if (*wake < 0 || s->ping_at_ms < *wake)
		*wake = s->ping_at_ms;
	if ((rc = store_txn_begin(s->st, false, &txn)) != DBS_OK) {
		sup_store_failed(s, rc, "reaching PostgreSQL");
		return;
	}
	store_txn_abort(txn);
}

static void
reap(struct sup *s)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (web_reaped(s, pid, status) ||
		    dryrun_reaped(s, pid, status))
			continue;
		for (size_t i = 0; i < s->n_workers; i++)
			if (s->workers[i]->pid == pid) {
				child_reaped(s, s->workers[i], status);
				break;
			}
	}
	(void)store_reader_check(s->st);
}

static void
handle_signals(struct sup *s, int sigfd)
{
	struct signalfd_siginfo si;
	char err[2048];

	while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(s);
			break;
		case SIGTERM:
		case SIGINT:
			begin_shutdown(
			    s, si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			break;
		case SIGHUP:
			if (sup_reload(s, err, sizeof(err)) != DBS_OK)
				sup_warn("reload refused: %s", err);
			else
				sup_log("SIGHUP: %s", err);
			break;
		}
	}
}

/* Commit the open batch; the workers a failed commit reported are
 * restarted at once. */
static void
commit(struct sup *s)
{
	sup_commit(s);
	child_restart_reported(s);
}

/* The deadlines of the running drives (a worker that missed its
 * heartbeats was killed by child_timers first). */
static void
drive_deadlines(struct sup *s, int64_t now, int64_t *wake)
{
	/* Backwards: a drive that ends leaves s->driving (its place is
	 * taken by the last one, already seen). */
	for (size_t i = s->n_driving; i-- > 0;) {
		struct worker *w = s->driving[i];

		if ((w->state == DBS__WORKER_STATE__WS_READY ||
			w->state == DBS__WORKER_STATE__WS_BUSY) &&
		    w->drive != NULL && !w->killed)
			drive_timers(s, w, now, wake);
	}
}

/* Run every module's timers and start the drives that are due; returns
 * the time of the next timer (or -1). */
static int64_t
timers(struct sup *s, int64_t now)
{
	int64_t wake = -1;

	stall_forgive(s, now); /* before any worker is judged */
	child_timers(s, now, &wake);
	drive_deadlines(s, now, &wake);
	web_timers(s, now, &wake);
	control_timers(s, now, &wake);
	dryrun_timers(s, now, &wake);
	sessions_timers(s, now, &wake);
	history_sup_timers(s, now, &wake);
	shutdown_timers(s, now, &wake);
	probe_timers(s, now, &wake);
	ping_timers(s, now, &wake);
	sup_service_timers(s, now, &wake);
	sup_events_timers(s, now, &wake);
	sup_system_live_timers(s, now, &wake);
	child_restart_reported(s);
	if (!s->shutting_down && !s->intake_paused) {
		struct worker *w;
		uint32_t slot;
		bool pull;

		quota_timers(s);
		while (sched_next(s->sched, now, &slot, &pull))
			if (quota_drive_gate(
				s, w = sup_worker_by_slot(s, slot), &pull))
				drive_start(s, w, pull);
	}
	return wake;
}

/* How long poll may sleep: until the next timer, at once while a batch
 * is open, at most a second. */
static int
poll_timeout(struct sup *s, int64_t now, int64_t wake)
{
	int64_t sw, timeout;

	if ((sw = sched_wakeup(s->sched, now)) >= 0 &&
	    (wake < 0 || now + sw < wake))
		wake = now + sw;
	if (s->txn != NULL)
		wake = now; /* dispatch again at once */
	timeout = wake < 0 ? 1000 : wake - now;
	if (timeout < 0)
		timeout = 0;
	if (timeout > 1000)
		timeout = 1000;
	return (int)timeout;
}

/* The keys of the loop's epoll set that are not worker slots (a slot is
 * a uint32). */
#define EV_SIGNALS (UINT64_MAX)
#define EV_CONTROL (UINT64_MAX - 1)
#define EV_BATCH   256 /* events taken per wait */

/* The epoll set of the loop, with the signalfd and the control socket;
 * child.c adds and removes the workers' fds as their sockets come and go,
 * so that a turn costs what is ready, not what exists. */
static int
open_loop(struct sup *s, int sigfd)
{
	struct epoll_event sig = {.events = EPOLLIN, .data.u64 = EV_SIGNALS};
	struct epoll_event ctl = {.events = EPOLLIN, .data.u64 = EV_CONTROL};

	if ((s->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, sigfd, &sig) != 0 ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->ctl_fd, &ctl) != 0) {
		sup_err("epoll: %s", strerror(errno));
		return DBS_ETRANSPORT;
	}
	return DBS_OK;
}

static void
run(struct sup *s, int sigfd)
{
	struct epoll_event ev[EV_BATCH];

	for (;;) {
		int64_t now, wake;
		int n;

		/* Commit what the last turn changed, then hand out work
		 * from the committed queue until nothing more moves. */
		for (int round = 0; round < 8; round++) {
			commit(s);
			for (size_t i = s->n_driving; i-- > 0;)
				if (i < s->n_driving)
					drive_dispatch(s, s->driving[i]);
			if (s->txn == NULL)
				break;
		}
		now = wire_mono_ms();
		wake = timers(s, now);
		sup_sweep_removed(s);
		commit(s);
		if (s->shutting_down && all_stopped(s))
			break;

		n = epoll_wait(
		    s->epfd, ev, EV_BATCH, poll_timeout(s, now, wake));
		if (n < 0 && errno != EINTR) {
			sup_err("epoll_wait: %s", strerror(errno));
			exit(EXIT_TRANSIENT);
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u64 == EV_SIGNALS)
				handle_signals(s, sigfd);
			else if (ev[i].data.u64 == EV_CONTROL)
				control_handle(s);
			else if (ev[i].data.u64 >= DRYRUN_KEY_BASE &&
				 ev[i].data.u64 < DRYRUN_KEY_END)
				dryrun_readable(s, ev[i].data.u64);
		}
		child_restart_reported(s);
		for (int i = 0; i < n; i++) {
			struct worker *w;

			if (ev[i].data.u64 > UINT32_MAX)
				continue;
			w = sup_worker_by_slot(s, (uint32_t)ev[i].data.u64);
			if (w != NULL && w->sock_open && w->recv_fd >= 0)
				dispatch_worker(s, w);
		}
	}
}

/* ---------------------------------------------------------- start-up */

static void
usage(FILE *f)
{
	fprintf(f, "usage: databusd --config FILE\n"
		   "       databusd --demo [--data DIR] [--listen HOST:PORT]\n"
		   "       databusd --version\n");
}

static int
mkdirs(const char *path, mode_t mode)
{
	char buf[4096];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -1;
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, mode) != 0 && errno != EEXIST ? -1 : 0;
}

static int
open_events(struct sup *s)
{
	char url[4200];
	int rc;

	snprintf(url, sizeof(url), "ipc://%s/events", s->run_dir);
	(void)unlink(url + 6);
	if ((rc = nng_pub0_open(&s->events)) != 0 ||
	    (rc = nng_socket_set_int(s->events, NNG_OPT_SENDBUF, 1024)) != 0 ||
	    (rc = nng_listen(s->events, url, NULL, 0)) != 0) {
		sup_err("events socket %s: %s", url, nng_strerror(rc));
		return DBS_ETRANSPORT;
	}
	return DBS_OK;
}

/* Leave before the loop started: free what is held (so leak checkers
 * stay quiet) and return `code`. */
static int
bail(struct sup *s, int code)
{
	/* Closing a socket that was never opened is a harmless error. */
	nng_close(s->ctl);
	nng_close(s->events);
	store_txn_abort(s->txn);
	s->txn = NULL;
	store_close(s->st);
	sched_free(s->sched);
	arena_free(s->msg_arena);
	quota_free(s->quota);
	history_free(s->history);
	config_free(s->cfg);
	return code;
}

struct args {
	const char *config_file, *data, *listen;
	bool demo;
};

/* Parse the command line; -1 to go on, else the exit code. */
static int
parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"demo", no_argument, NULL, 'd'},
	    {"data", required_argument, NULL, 'D'},
	    {"listen", required_argument, NULL, 'l'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			a->config_file = optarg;
			break;
		case 'd':
			a->demo = true;
			break;
		case 'D':
			a->data = optarg;
			break;
		case 'l':
			a->listen = optarg;
			break;
		case 'V':
			printf("databusd %s\n", SUP_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_PERMANENT;
		}
	}
	if (optind != argc || a->demo == (a->config_file != NULL) ||
	    (!a->demo && (a->data != NULL || a->listen != NULL))) {
		usage(stderr);
		return EXIT_PERMANENT;
	}
	return -1;
}

/* Load the configuration, create the data dir and open the store and the
 * scheduler; -1 to go on, else the exit code. */
static int
open_state(struct sup *s, const struct args *a)
{
	struct store_options so = {0};
	char err[4096], storedir[4200];
	int rc;

	rc = a->demo
		 ? config_demo(a->data, a->listen, &s->cfg, err, sizeof(err))
		 : config_load(a->config_file, &s->cfg, err, sizeof(err));
	if (rc == DBS_OK)
		rc = config_check_drivers(s->cfg, err, sizeof(err));
	if (rc != DBS_OK) {
		fprintf(
		    stderr, "%sdatabusd: %s\n", dbs_log_prefix(LOG_ERR), err);
		config_free(s->cfg);
		return rc == DBS_ENOMEM ? EXIT_TRANSIENT : EXIT_PERMANENT;
	}
	snprintf(s->run_dir, sizeof(s->run_dir), "%s/run", s->cfg->data_dir);
	snprintf(storedir, sizeof(storedir), "%s/store", s->cfg->data_dir);
	if (mkdirs(s->cfg->data_dir, 0700) != 0 || mkdirs(s->run_dir, 0700) ||
	    mkdirs(storedir, 0700) != 0) {
		fprintf(stderr, "%sdatabusd: %s: cannot create: %s\n",
		    dbs_log_prefix(LOG_ERR), s->cfg->data_dir,
		    strerror(errno));
		return bail(s, EXIT_PERMANENT);
	}
	so.max_size = s->cfg->store_max_size;
	so.event_keep = s->cfg->event_keep;
	so.dedup_horizon_ms = s->cfg->dedup_horizon_ms;
	so.backend = (enum store_backend)s->cfg->store_backend;
	so.pg_conninfo = s->cfg->pg_conninfo;
	so.pg_schema = s->cfg->pg_schema;
	if ((rc = store_open(storedir, STORE_RDWR, &so, &s->st)) != DBS_OK) {
		if (so.backend == STORE_BACKEND_POSTGRES)
			fprintf(stderr,
			    "%sdatabusd: the PostgreSQL store: %s\n",
			    dbs_log_prefix(LOG_ERR), store_last_error(NULL));
		fprintf(stderr, "%sdatabusd: %s: %s\n",
		    dbs_log_prefix(LOG_ERR), s->cfg->data_dir,
		    dbs_strerror(rc));
		return bail(s, rc == DBS_ELOCKED || rc == DBS_ESCHEMA
				   ? EXIT_PERMANENT
				   : EXIT_TRANSIENT);
	}
	/* So that databus-web and databusctl open the same store. */
	if ((rc = store_engine_record(s->cfg->data_dir, &so)) != DBS_OK) {
		fprintf(stderr,
		    "%sdatabusd: %s/store/engine.json: cannot write: %s\n",
		    dbs_log_prefix(LOG_ERR), s->cfg->data_dir,
		    dbs_strerror(rc));
		return bail(s, EXIT_TRANSIENT);
	}
	s->out_tail = &s->out_head;
	s->web.state = DBS__WORKER_STATE__WS_STOPPED;
	s->started_wall_ms = wire_now_ms();
	sup_status_start(s, wire_mono_ms());
	if ((s->sched = sched_new()) == NULL ||
	    (s->quota = quota_new()) == NULL)
		return bail(s, EXIT_TRANSIENT);
#if !defined(__SANITIZE_ADDRESS__)
	/* Under ASan each field keeps its own malloc, so that a handler
	 * keeping a pointer into a message is caught. */
	if ((s->msg_arena = arena_new(MSG_ARENA_CHUNK)) == NULL)
		return bail(s, EXIT_TRANSIENT);
#endif
	history_sup_open(s);
	return -1;
}

/* Block the signals the loop reads from a signalfd; the fd or -1. */
static int
open_signals(void)
{
	sigset_t mask;
	int sigfd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		fprintf(stderr, "%sdatabusd: signalfd: %s\n",
		    dbs_log_prefix(LOG_ERR), strerror(errno));
	return sigfd;
}

/* Where the last run left off: the last drive id and the last event. */
static void
resume_counters(struct sup *s)
{
	struct store_txn *t;
	uint64_t last = 0;

	if (store_txn_begin(s->st, false, &t) == DBS_OK) {
		(void)store_meta_get_u64(t, "last_drive_id", &last);
		(void)store_event_range(t, &(uint64_t){0}, &s->published_seq);
		store_txn_abort(t);
	}
	s->next_drive_id = last;
}

/* A worker for every definition, and databus-web; false when out of
 * memory. */
static bool
start_children(struct sup *s)
{
	dispatch_start();
	for (size_t c = 0; c < s->cfg->n_clients; c++)
		for (size_t d = 0; d < s->cfg->clients[c].n_defs; d++) {
			struct worker *w =
			    sup_add_worker(s, &s->cfg->clients[c].defs[d]);

			if (w == NULL)
				return false;
			child_spawn(s, w);
		}
	web_start(s);
	return true;
}

static void
say_ready(const struct sup *s, bool demo)
{
	printf("databusd: data dir %s\n", s->cfg->data_dir);
	if (s->cfg->web_enabled)
		printf("databusd: web %s://%s\n",
		    s->cfg->web_tls_cert != NULL ? "https" : "http",
		    s->cfg->web_listen);
	printf("databusd: control ipc://%s/control\n", s->run_dir);
	printf("databusd: %zu worker(s) for %zu client(s)%s\n", s->n_workers,
	    s->cfg->n_clients, demo ? " (demo)" : "");
	printf("databusd: ready\n");
	fflush(stdout);
}

/* After the loop: free everything and return the exit code. */
static int
finish(struct sup *s, int sigfd)
{
	bool wedged = false;

	commit(s);
	history_sup_close(s); /* while the workers name what is configured */
	if (s->sockets_left > 0) {
		/* Shutdown left the workers' sockets to the exit (child.c):
		 * nng_fini would close them one by one. The store is
		 * committed: close it and the control and event sockets
		 * (their closes remove their files from run/), and end. */
		if (control_socket_stop()) {
			nng_close(s->ctl);
			nng_close(s->events);
		}
		store_close(s->st);
		quota_free(s->quota); /* removes the clients' cgroups */
		sup_log("stopped");
		fflush(stdout);
		fflush(stderr);
		_exit(0);
	}
	sup_workers_free(s);
	/* Close every socket, let nng reap them and free the messages still
	 * queued on a dead worker's pipe before the process ends — unless a
	 * worker's socket never finished closing (child.c): nng is wedged
	 * then, and any further close or nng_fini would wait for ever. */
	for (int i = 0; i < 200 && child_closing() > 0; i++)
		(void)nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	if (child_closing() == 0 && control_socket_stop()) {
		nng_close(s->ctl);
		nng_close(s->events);
		nng_fini();
	} else {
		wedged = true;
		sup_log("%d worker socket(s) did not finish closing (nng); "
			"exiting without closing the rest",
		    child_closing());
	}
	sched_free(s->sched);
	arena_free(s->msg_arena);
	quota_free(s->quota);
	store_close(s->st);
	config_free(s->cfg);
	close(sigfd);
	if (s->epfd >= 0)
		close(s->epfd);
	sup_log("stopped");
	if (wedged) {
		/* nng still holds what the wedged sockets own, and the threads
		 * closing them wait for ever: end now, without the exit
		 * handlers (a leak checker would report nng's memory). */
		fflush(stdout);
		fflush(stderr);
		_exit(0);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct args args = {0};
	struct sup sup = {.epfd = -1, .ctl_fd = -1}, *s = &sup;
	int rc, sigfd;

	if ((rc = parse_args(argc, argv, &args)) >= 0)
		return rc;
	if (sodium_init() < 0) {
		fprintf(stderr, "%sdatabusd: libsodium failed to initialise\n",
		    dbs_log_prefix(LOG_ERR));
		return EXIT_TRANSIENT;
	}
	sup_service_open();
	if ((rc = open_state(s, &args)) >= 0)
		return rc;
	if ((sigfd = open_signals()) < 0)
		return bail(s, EXIT_TRANSIENT);
	if (users_import(s) != DBS_OK) {
		fprintf(stderr, "%sdatabusd: cannot import users: %s\n",
		    dbs_log_prefix(LOG_ERR), s->store_error);
		return bail(s, EXIT_TRANSIENT);
	}
	resume_counters(s);
	if (control_open(s) != DBS_OK || open_events(s) != DBS_OK ||
	    open_loop(s, sigfd) != DBS_OK)
		return bail(s, EXIT_TRANSIENT);
	if (!start_children(s))
		return bail(s, EXIT_TRANSIENT);
	sup_event_system(s);
	commit(s);
	say_ready(s, args.demo);
	run(s, sigfd);
	return finish(s, sigfd);
}
