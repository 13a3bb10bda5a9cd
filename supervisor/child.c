/*
 * child.c — the life of a databus-worker process, seen from databusd.
 *
 * Each passenger definition gets one worker: databusd opens a PAIR socket
 * listening on run/worker-<slot>, spawns the worker (posix_spawn: fork+exec,
 * never a bare fork — nng is not fork-safe), and sends Init; the worker
 * answers Ready. Every change of a worker's state goes through the life
 * table (life.h): STARTING until Ready, READY when idle, BUSY while it
 * drives, STOPPING once told to stop or killed, BACKOFF while it waits to
 * be restarted after a crash, and FAILED when it exited with a permanent
 * error or crashed too often (sched.h: restart_next).
 *
 * This file holds the process life only: what a worker says is
 * dispatch.c's, and what depends on a worker (its drive, its peeks) is
 * told through the "worker gone" handler when it is killed or reaped.
 * A new socket is opened for every incarnation so that nothing a dead
 * worker left in a buffer is taken for its successor's.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>

#include "child.h"
#include "commit.h"
#include "dbs_error.h"
#include "dispatch.h"
#include "quota.h"
#include "reload.h"
#include "status.h"
#include "wire.h"

extern char **environ;

#define READY_TIMEOUT_MS 10000  /* of a starting worker's own time */
#define READY_WALL_MS    120000 /* however long it waited for a CPU */
#define STOP_TIMEOUT_MS  5000
#define EXIT_PERMANENT   100
#define BEAT_SPACING_MS  60 /* per worker: ~17 heartbeats/s in all */
#define BEAT_MAX_MS      60000

static child_gone_fn *gone_fn;

void
child_on_gone(child_gone_fn *fn)
{
	gone_fn = fn;
}

static void
gone(struct sup *s, struct worker *w, enum child_gone how, const char *why)
{
	if (gone_fn != NULL)
		gone_fn(s, w, how, why);
}

/* The restart policy of databus.json ("restart"; sched.h). */
static struct restart_policy
worker_policy(const struct sup *s)
{
	const struct cfg_restart *r = &s->cfg->restart;
	struct restart_policy pol = {
	    r->min_ms, r->max_ms, r->max_restarts, r->window_ms, r->stable_ms};

	return pol;
}

/* Every state change of a worker: counted for the start pacing, told to
 * the event stream and the scheduler. */
static void
set_state(struct sup *s, struct worker *w, Dbs__WorkerState st)
{
	if (w->state == st)
		return;
	if (w->state == DBS__WORKER_STATE__WS_STARTING)
		s->n_starting--;
	if (st == DBS__WORKER_STATE__WS_STARTING)
		s->n_starting++;
	w->state = st;
	sup_event_worker(s, w);
}

/* Back off after an exit at `now` (or a failed start): BACKOFF, or
 * FAILED when it exited too often. */
static void
back_off(struct sup *s, struct worker *w, int64_t started_ms, int64_t now)
{
	const struct restart_policy pol = worker_policy(s);
	Dbs__WorkerState next = child_backoff(
	    &w->rs, &pol, started_ms, now, sup_random64(), &w->restart_at_ms);

	set_state(s, w, next);
}

/*
 * nng 1.5.2's nng_close can wait for ever on a pipe whose peer was just
 * killed (nanomsg/nng#1543, fixed in later releases): seen here when a
 * failed commit kills the workers that had work in flight. The loop must
 * not wait on that for ever, so a worker's socket is closed on a thread
 * of its own, joined at once (within a second: it is almost always done);
 * a close that never ends costs that thread and the socket, not the
 * supervisor. child_closing() counts the closes under way
 * (main.c waits a little for them at exit).
 */
static atomic_int closing;

static void *
close_thread(void *arg)
{
	nng_socket sock = {.id = (uint32_t)(uintptr_t)arg};

	nng_close(sock);
	atomic_fetch_sub(&closing, 1);
	return NULL;
}

void
child_close_socket(nng_socket sock)
{
	struct timespec until;
	pthread_t t;
	int rc;

	atomic_fetch_add(&closing, 1);
	if (pthread_create(
		&t, NULL, close_thread, (void *)(uintptr_t)sock.id) != 0) {
		nng_close(sock); /* no thread: the old, blocking way */
		atomic_fetch_sub(&closing, 1);
		return;
	}
	/* Almost always done at once; a wedged close is left to its
	 * thread after a second. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	if ((rc = pthread_timedjoin_np(t, NULL, &until)) != 0) {
		if (rc == ETIMEDOUT)
			sup_log("a worker socket did not close within 1 s; "
				"leaving it to a thread");
		else
			sup_log("a worker socket's close could not be "
				"joined (%s); leaving it to a thread",
			    strerror(rc));
		pthread_detach(t);
	}
}

int
child_closing(void)
{
	return atomic_load(&closing);
}

/* The fd the loop waits on for `w`'s messages (-1: none, deaf): kept in
 * the loop's epoll set under the worker's slot. */
static void
set_recv_fd(struct sup *s, struct worker *w, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = w->slot};

	if (w->recv_fd >= 0 && s->epfd >= 0)
		(void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, w->recv_fd, NULL);
	w->recv_fd = fd;
	if (fd >= 0 && s->epfd >= 0 &&
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		sup_log("worker %u: epoll_ctl: %s", w->slot, strerror(errno));
}

static void
close_socket(struct sup *s, struct worker *w)
{
	if (!w->sock_open)
		return;
	set_recv_fd(s, w, -1);
	w->sock_open = false;
	if (s->shutting_down && !SUP_FULL_TEARDOWN) {
		/* databusd is about to exit: an nng_close costs a millisecond
		 * or more of hand-offs, seconds for a thousand workers, and
		 * exit closes them all at once. Only the listener's file is
		 * removed, as its close would. */
		char path[4200];

		snprintf(
		    path, sizeof(path), "%s/worker-%u", s->run_dir, w->slot);
		(void)unlink(path);
		s->sockets_left++;
		return;
	}
	child_close_socket(w->sock);
}

static int
open_socket(struct sup *s, struct worker *w, char *url, size_t urllen)
{
	char path[4200];
	int rc, fd;

	snprintf(path, sizeof(path), "%s/worker-%u", s->run_dir, w->slot);
	snprintf(url, urllen, "ipc://%s", path);
	(void)unlink(path); /* a stale socket file of a previous incarnation */
	if ((rc = nng_pair1_open(&w->sock)) != 0) {
		sup_log("worker %u: nng_pair1_open: %s", w->slot,
		    nng_strerror(rc));
		return DBS_ETRANSPORT;
	}
	w->sock_open = true;
	if (wire_socket_limits(w->sock, 0) != DBS_OK ||
	    (rc = nng_listen(w->sock, url, NULL, 0)) != 0 ||
	    (rc = nng_socket_get_int(w->sock, NNG_OPT_RECVFD, &fd)) != 0) {
		sup_log("worker %u: cannot listen on %s: %s", w->slot, url,
		    nng_strerror(rc));
		close_socket(s, w);
		return DBS_ETRANSPORT;
	}
	set_recv_fd(s, w, fd);
	return DBS_OK;
}

static const char *
worker_binary(const struct sup *s)
{
	const char *env = getenv("DATABUS_WORKER");

	return env != NULL && *env != '\0' ? env : s->cfg->worker_path;
}

/*
 * Start argv[0] with fork+exec (posix_spawn; a bare fork is not safe once
 * nng runs): default signal dispositions and an empty mask (databusd blocks
 * signals for its signalfd), stdin from /dev/null, no descriptor of ours
 * beyond stdout and stderr, and the directory of databus.json as working
 * directory, so that relative paths in settings are relative to it.
 * Returns 0 or an errno value.
 */
/* posix_spawn with a clean signal state, stdin from /dev/null and no other
 * descriptor; into process group *group when group is not NULL (0: a new
 * group, the child's own). */
static int
spawn_in(
    const struct sup *s, char *const argv[], pid_t *pid, const pid_t *group)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
	int rc;

	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	if (group != NULL) {
		posix_spawnattr_setpgroup(&attr, *group);
		flags |= POSIX_SPAWN_SETPGROUP;
	}
	posix_spawnattr_setflags(&attr, flags);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (s->cfg->base_dir != NULL)
		posix_spawn_file_actions_addchdir_np(&fa, s->cfg->base_dir);
	rc = posix_spawn(pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return rc;
}

int
sup_spawn(const struct sup *s, char *const argv[], pid_t *pid)
{
	return spawn_in(s, argv, pid, NULL);
}

/*
 * Workers run in a process group of their own: a terminal's Ctrl-C
 * reaches databusd alone (which stops them in order), and a shutdown
 * with no drive running tells all of them to stop with one kill(2)
 * (stop_group). Stopping a thousand one by one costs a second: each
 * kill wakes a worker that takes the CPU until it has exited.
 */
static int
spawn_grouped(struct sup *s, struct worker *w, char *const argv[], pid_t *pid)
{
	int rc = spawn_in(s, argv, pid, &s->worker_pgid);

	if (rc == EPERM && s->worker_pgid != 0) {
		/* The group is gone: start a new one. */
		s->worker_pgid = 0;
		s->pgid_members = 0;
		rc = spawn_in(s, argv, pid, &s->worker_pgid);
	}
	if (rc != 0)
		return rc;
	if (s->worker_pgid == 0)
		s->worker_pgid = *pid;
	s->pgid_members++;
	w->pgid = s->worker_pgid;
	return 0;
}

void
child_event(
    struct sup *s, struct worker *w, enum child_event ev, const char *why)
{
	struct child_step step = child_life(w->state, ev);

	if (!step.valid)
		return;
	switch (step.action) {
	case CHILD_DO_SPAWN:
		/* The spawn sets the state: spawned or spawn failed. */
		child_spawn(s, w);
		break;
	case CHILD_DO_KILL:
		child_kill(s, w, why);
		break;
	case CHILD_DO_BACKOFF:
		back_off(s, w, w->started_ms, wire_mono_ms());
		break;
	case CHILD_DO_NOTHING:
		set_state(s, w, step.next);
		break;
	}
}

/* Send Init; it waits in the socket until the worker connects. */
static int
send_init(struct sup *s, struct worker *w)
{
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
	Dbs__Init init = DBS__INIT__INIT;

	init.client = w->def->client;
	init.definition = w->def->name;
	init.config_json = w->def->json;
	init.heartbeat_ms = (uint32_t)w->beat_ms;
	init.data_dir = s->cfg->data_dir;
	m.body_case = DBS__WORKER_MSG__BODY_INIT;
	m.init = &init;
	return wire_send(w->sock, &m.base, NNG_FLAG_NONBLOCK);
}

void
child_worker_argv(const struct sup *s, const struct cfg_definition *def,
    const char *url, unsigned long long slot, struct worker_argv *a)
{
	struct cfg_limits lim = config_limits(s->cfg, def);
	char **argv = a->argv;

	snprintf(a->slot, sizeof(a->slot), "%llu", slot);
	snprintf(a->parent, sizeof(a->parent), "%d", (int)getpid());
	argv[0] = (char *)worker_binary(s);
	argv[1] = "--socket";
	argv[2] = (char *)url;
	argv[3] = "--slot";
	argv[4] = a->slot;
	argv[5] = "--parent";
	argv[6] = a->parent;
	argv[7] = NULL;
	/* Resource limits: the worker applies them to itself before any
	 * driver runs (workers/worker_limits.c). */
	if (lim.memory != 0 || lim.cpu_s != 0 || lim.open_files != 0) {
		snprintf(a->limits, sizeof(a->limits),
		    "memory=%llu,cpu=%llu,files=%llu",
		    (unsigned long long)lim.memory,
		    (unsigned long long)lim.cpu_s,
		    (unsigned long long)lim.open_files);
		argv[7] = "--limits";
		argv[8] = a->limits;
		argv[9] = NULL;
	}
}

/* Start the process; 0 or an errno value. */
static int
spawn_worker(struct sup *s, struct worker *w, char *url, pid_t *pid)
{
	struct worker_argv a;
	int rc;

	child_worker_argv(s, w->def, url, w->slot, &a);
	if ((rc = spawn_grouped(s, w, a.argv, pid)) == 0)
		quota_worker_spawned(s, w, *pid);
	return rc;
}

/*
 * The heartbeat period a worker is given: the configured one, longer on a
 * host with many workers, so that all of them together send about 17
 * heartbeats a second at most (1,000 workers: one each 60 s), capped at
 * 60 s. A heartbeat costs ~0.5 ms of CPU in all (thread hand-offs in the
 * worker, in nng and in databusd), so 100 a second would be 5 % of a core
 * for nothing. A worker keeps the period it started with.
 */
static int64_t
beat_period(const struct sup *s)
{
	int64_t scaled = (int64_t)s->n_workers * BEAT_SPACING_MS;

	if (scaled > BEAT_MAX_MS)
		scaled = BEAT_MAX_MS;
	return scaled > s->cfg->heartbeat_ms ? scaled : s->cfg->heartbeat_ms;
}

/* How many workers may be STARTING at once: starting is CPU work (exec,
 * the dynamic linker, nng, the drivers' init), so a few per core keep the
 * machine busy without a thousand processes fighting over it. */
static size_t
start_slots(void)
{
	static size_t slots;

	if (slots == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		slots = n < 2 ? 8 : (size_t)n * 4;
	}
	return slots;
}

static int spawn_now(struct sup *s, struct worker *w);

/*
 * Start a worker's process, or queue it when start_slots() are all taken
 * (child_start_queued takes it on once a place is free). A big start is
 * so paced instead of launching every worker at once, and each worker's
 * ready deadline counts from its own spawn.
 */
int
child_spawn(struct sup *s, struct worker *w)
{
	if (w->start_queued)
		return DBS_OK;
	if (s->n_starting < start_slots() && s->start_len == 0)
		return spawn_now(s, w);
	if (s->start_len == s->start_cap) {
		size_t ncap = s->start_cap ? s->start_cap * 2 : 64;
		uint32_t *q = malloc(ncap * sizeof(*q));

		if (q == NULL)
			return spawn_now(s, w);
		for (size_t i = 0; i < s->start_len; i++)
			q[i] =
			    s->start_queue[(s->start_head + i) % s->start_cap];
		free(s->start_queue);
		s->start_queue = q;
		s->start_head = 0;
		s->start_cap = ncap;
	}
	s->start_queue[(s->start_head + s->start_len++) % s->start_cap] =
	    w->slot;
	w->start_queued = true;
	return DBS_OK;
}

/* Start queued workers while there are start slots free. */
static void
child_start_queued(struct sup *s)
{
	while (s->start_len > 0 && s->n_starting < start_slots()) {
		uint32_t slot = s->start_queue[s->start_head];
		struct worker *w;

		s->start_head = (s->start_head + 1) % s->start_cap;
		s->start_len--;
		if ((w = sup_worker_by_slot(s, slot)) == NULL ||
		    !w->start_queued)
			continue;
		w->start_queued = false;
		if (s->shutting_down || w->removed || w->pid > 0)
			continue;
		spawn_now(s, w);
	}
}

void
child_free_queue(struct sup *s)
{
	free(s->start_queue);
	s->start_queue = NULL;
	s->start_head = s->start_len = s->start_cap = 0;
}

static int
spawn_now(struct sup *s, struct worker *w)
{
	char url[4300];
	pid_t pid;
	int rc;

	if (open_socket(s, w, url, sizeof(url)) != DBS_OK)
		goto fail;
	if ((rc = spawn_worker(s, w, url, &pid)) != 0) {
		snprintf(w->error, sizeof(w->error), "cannot start %s: %s",
		    worker_binary(s), strerror(rc));
		sup_log("worker %s/%s: %s", w->def->client, w->def->name,
		    w->error);
		close_socket(s, w);
		goto fail;
	}
	w->pid = pid;
	w->started_ms = wire_mono_ms();
	w->started_wall_ms = wire_now_ms();
	w->last_beat_ms = w->started_ms;
	w->beat_ms = beat_period(s);
	w->stop_sent = false;
	w->killed = false;
	w->restart_why = NULL;
	w->permanent = false;
	w->error[0] = '\0';
	free(w->def_json);
	w->def_json = strdup(w->def->json);
	w->state = DBS__WORKER_STATE__WS_BACKOFF; /* so the event fires */
	set_state(s, w, child_life(w->state, CHILD_EV_SPAWNED).next);
	if (send_init(s, w) != DBS_OK) {
		child_kill(s, w, "cannot send Init");
		return DBS_ETRANSPORT;
	}
	return DBS_OK;
fail:
	w->permanent = false;
	/* Treat a failed start like a crash: back off and try again. */
	if (child_life(w->state, CHILD_EV_SPAWN_FAILED).valid) {
		int64_t now = wire_mono_ms();

		back_off(s, w, now, now);
	}
	return DBS_ETRANSPORT;
}

void
child_kill(struct sup *s, struct worker *w, const char *why)
{
	if (w->pid <= 0 || w->killed)
		return;
	sup_timers_changed(s);
	sup_log("worker %s/%s (pid %d): killed: %s", w->def->client,
	    w->def->name, (int)w->pid, why);
	snprintf(w->error, sizeof(w->error), "%s", why);
	(void)kill(w->pid, SIGKILL);
	/* Nothing more is read from or sent to it, but its socket is closed
	 * only once it is reaped: closing while the pipe is still being torn
	 * down is what wedges nng 1.5.2 (see child_close_socket). */
	w->killed = true;
	w->restart_why = NULL;
	set_recv_fd(s, w, -1);
	gone(s, w, CHILD_GONE_KILLED, why);
	child_event(s, w, CHILD_EV_KILLED, why);
}

void
child_restart_reported(struct sup *s)
{
	if (!s->restarts_reported) {
		sup_restarts_done(s);
		return;
	}
	s->restarts_reported = false;
	for (size_t i = 0; i < s->n_workers; i++) {
		struct worker *w = s->workers[i];

		if (w->restart_why != NULL)
			child_kill(s, w, w->restart_why);
	}
	sup_restarts_done(s);
}

void
child_stop(struct sup *s, struct worker *w)
{
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
	Dbs__Stop stop = DBS__STOP__INIT;

	sup_timers_changed(s);
	if (w->pid <= 0 || w->stop_sent || w->killed)
		return;
	m.body_case = DBS__WORKER_MSG__BODY_STOP;
	m.stop = &stop;
	w->stop_sent = true;
	w->restart_at_ms = wire_mono_ms() + STOP_TIMEOUT_MS;
	if (s->shutting_down) {
		/* Stop by signal (workers/worker.c): a kill costs
		 * microseconds, a Stop message through nng a millisecond
		 * or more, times a thousand workers at shutdown. */
		if (kill(w->pid, SIGUSR1) != 0) {
			child_kill(s, w, "cannot signal Stop");
			return;
		}
		child_event(s, w, CHILD_EV_STOP, NULL);
		return;
	}
	if (!w->sock_open ||
	    wire_send(w->sock, &m.base, NNG_FLAG_NONBLOCK) != DBS_OK) {
		child_kill(s, w, "cannot send Stop");
		return;
	}
	child_event(s, w, CHILD_EV_STOP, NULL);
}

static void
describe_exit(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "status %d", status);
}

/* Which exit event a reaped worker makes: the life table takes it on. */
static enum child_event
exit_event(const struct sup *s, const struct worker *w, int status)
{
	if (w->removed || s->shutting_down)
		return CHILD_EV_EXITED_FINAL;
	if (w->restart_wanted)
		return CHILD_EV_EXITED_RESPAWN;
	if (w->permanent ||
	    (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_PERMANENT))
		return CHILD_EV_EXITED_PERMANENT;
	return CHILD_EV_EXITED;
}

/* An unexpected exit at `now`: back off, or FAILED when it exited too
 * often. */
static void
exited(struct sup *s, struct worker *w, int64_t now, bool was_driving)
{
	const struct restart_policy pol = worker_policy(s);
	Dbs__WorkerState next = child_backoff(&w->rs, &pol, w->started_ms, now,
	    sup_random64(), &w->restart_at_ms);

	if (next == DBS__WORKER_STATE__WS_FAILED) {
		snprintf(w->error, sizeof(w->error),
		    "restarted too often (%u exits within %lld s); "
		    "expedite it to try again",
		    w->rs.in_window, (long long)pol.window_ms / 1000);
		sup_log("worker %s/%s: FAILED: %s", w->def->client,
		    w->def->name, w->error);
	} else {
		w->restarts++;
		w->resume_drive = w->resume_drive || was_driving;
	}
	set_state(s, w, next);
}

void
child_reaped(struct sup *s, struct worker *w, int status)
{
	int64_t now = wire_mono_ms();
	bool was_driving = w->drive != NULL;
	enum child_event ev;

	describe_exit(status, w->last_exit, sizeof(w->last_exit));
	w->exited_ms = now;
	if (!w->stop_sent || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		sup_log("worker %s/%s (pid %d) ended: %s", w->def->client,
		    w->def->name, (int)w->pid, w->last_exit);
	w->pid = 0;
	if (w->pgid != 0 && w->pgid == s->worker_pgid && s->pgid_members > 0 &&
	    --s->pgid_members == 0)
		s->worker_pgid = 0; /* the group is gone with its last */
	w->pgid = 0;
	w->restart_why = NULL;
	close_socket(s, w);
	gone(s, w, CHILD_GONE_EXITED, w->last_exit);

	switch ((ev = exit_event(s, w, status))) {
	case CHILD_EV_EXITED_RESPAWN:
		/* A changed configuration: start the new one at once. */
		w->restart_wanted = false;
		memset(&w->rs, 0, sizeof(w->rs));
		break;
	case CHILD_EV_EXITED_PERMANENT:
		if (w->error[0] == '\0')
			snprintf(w->error, sizeof(w->error),
			    "permanent error (exit 100); fix the "
			    "configuration "
			    "and reload");
		w->permanent = true;
		break;
	default:
		break;
	}
	if (child_life(w->state, ev).action == CHILD_DO_BACKOFF)
		exited(s, w, now, was_driving);
	else
		child_event(s, w, ev, NULL);
}

static void
wake_at(int64_t *wake, int64_t at)
{
	if (*wake < 0 || at < *wake)
		*wake = at;
}

/* The milliseconds the main thread of `pid` spent runnable but waiting
 * for a CPU (the second field of /proc/PID/schedstat), or 0. */
static int64_t
cpu_wait_ms(pid_t pid)
{
	char path[64];
	unsigned long long on_cpu = 0, waited = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	if (fscanf(f, "%llu %llu", &on_cpu, &waited) != 2)
		waited = 0;
	fclose(f);
	return (int64_t)(waited / 1000000ULL);
}

/*
 * A starting worker has READY_TIMEOUT_MS of its own time to say Ready:
 * the time it spent waiting for a CPU does not count, so a worker slow
 * because the machine is busy (a big start, a load spike) is not killed
 * as hung, while one that hangs in its set-up (sleeping or spinning) is,
 * after 10 s. READY_WALL_MS bounds the wait whatever the load. Returns the
 * time of its deadline, -1 when it is overdue.
 */
static int64_t
ready_deadline(const struct worker *w, int64_t now)
{
	int64_t at = w->started_ms + READY_TIMEOUT_MS, waited;

	if (now < at)
		return at;
	waited = cpu_wait_ms(w->pid);
	at += waited;
	if (at > w->started_ms + READY_WALL_MS)
		at = w->started_ms + READY_WALL_MS;
	return now < at ? at : -1;
}

/* The deadlines of one worker: its restart, its Ready, its heartbeats,
 * its stop. */
static void
worker_timers(struct sup *s, struct worker *w, int64_t now, int64_t *wake)
{
	int64_t beat_limit = 3 * w->beat_ms + 2000, at;

	switch (w->state) {
	case DBS__WORKER_STATE__WS_BACKOFF:
		if (s->shutting_down || w->removed)
			child_event(s, w, CHILD_EV_CANCEL, NULL);
		else if (now >= w->restart_at_ms)
			child_event(s, w, CHILD_EV_RESTART_DUE, NULL);
		else
			wake_at(wake, w->restart_at_ms);
		break;
	case DBS__WORKER_STATE__WS_STARTING:
		if ((at = ready_deadline(w, now)) < 0 && !w->permanent)
			child_event(s, w, CHILD_EV_DEADLINE,
			    "not ready within 10 s of its own time");
		else if (at >= 0)
			wake_at(wake, at);
		break;
	case DBS__WORKER_STATE__WS_READY:
	case DBS__WORKER_STATE__WS_BUSY:
		/* Before judging, read what waits in its socket: a heartbeat
		 * may be there, behind the loop's own delay. */
		if (now - w->last_beat_ms > beat_limit && w->sock_open)
			dispatch_worker(s, w);
		if (w->killed || w->pid <= 0 ||
		    (w->state != DBS__WORKER_STATE__WS_READY &&
			w->state != DBS__WORKER_STATE__WS_BUSY))
			break;
		if (now - w->last_beat_ms > beat_limit) {
			child_event(
			    s, w, CHILD_EV_DEADLINE, "missed heartbeats");
			break;
		}
		wake_at(wake, w->last_beat_ms + beat_limit);
		if (w->drive == NULL &&
		    (w->restart_wanted || w->removed || s->shutting_down))
			child_stop(s, w);
		break;
	case DBS__WORKER_STATE__WS_STOPPING:
		if (w->pid > 0 && w->stop_sent && now > w->restart_at_ms)
			child_event(s, w, CHILD_EV_DEADLINE,
			    "did not stop within 5 s");
		else if (w->stop_sent)
			wake_at(wake, w->restart_at_ms);
		break;
	default:
		break;
	}
}

void
sup_timers_changed(struct sup *s)
{
	s->child_dirty = true;
}

/*
 * Every worker's deadlines are looked at only when the earliest of them
 * is due or something may have moved one earlier (a state change, a
 * stop, a kill, a reload, the shutdown: sup_timers_changed). A heartbeat
 * only moves a deadline later, so an idle host with a thousand workers
 * looks at them about once per heartbeat period, not on every turn.
 */
/* At shutdown, once no drive runs, every worker of the group is told to
 * stop at once (see spawn_grouped); those outside it, or when the kill
 * fails, are stopped one by one by worker_timers. */
static void
stop_group(struct sup *s, int64_t now)
{
	if (!s->shutting_down || s->group_stopped || s->n_driving > 0 ||
	    s->worker_pgid <= 0)
		return;
	s->group_stopped = true;
	if (kill(-s->worker_pgid, SIGUSR1) != 0) {
		sup_warn("cannot signal the workers' group %d: %s",
		    (int)s->worker_pgid, strerror(errno));
		return;
	}
	for (size_t i = 0; i < s->n_workers; i++) {
		struct worker *w = s->workers[i];

		if (w->pid <= 0 || w->pgid != s->worker_pgid || w->stop_sent ||
		    w->killed)
			continue;
		w->stop_sent = true;
		w->restart_at_ms = now + STOP_TIMEOUT_MS;
		child_event(s, w, CHILD_EV_STOP, NULL);
	}
	sup_timers_changed(s);
}

void
child_timers(struct sup *s, int64_t now, int64_t *wake)
{
	int64_t mine = -1;

	stop_group(s, now);
	child_start_queued(s);
	if (!s->child_dirty && s->child_wake_ms >= 0 &&
	    now < s->child_wake_ms) {
		wake_at(wake, s->child_wake_ms);
		return;
	}
	if (!s->child_dirty && s->child_wake_ms < 0)
		return; /* no deadline at all, nothing changed */
	s->child_dirty = false;
	for (size_t i = 0; i < s->n_workers; i++)
		worker_timers(s, s->workers[i], now, &mine);
	/* A deadline acted on just now may have changed states: those
	 * marked the timers changed, and the next turn looks again. */
	s->child_wake_ms = mine;
	if (mine >= 0)
		wake_at(wake, mine);
}
