/*
 * child.c — the life of a databus-worker process, seen from databusd.
 *
 * Each passenger definition gets one worker: databusd opens a PAIR socket
 * listening on run/worker-<slot>, spawns the worker (posix_spawn: fork+exec,
 * never a bare fork — nng is not fork-safe), and sends Init; the worker
 * answers Ready. A worker is STARTING until Ready, READY when idle, BUSY
 * while it drives, STOPPING once told to stop or killed, BACKOFF while it
 * waits to be restarted after a crash, and FAILED when it exited with a
 * permanent error or crashed too often (sched.h: restart_next).
 *
 * Like OpenSSH's privsep monitor, the supervisor accepts from a worker only
 * the messages its state permits (child_permitted, a table); anything else,
 * or anything that does not decode, kills that worker — never databusd.
 * A new socket is opened for every incarnation so that nothing a dead
 * worker left in a buffer is taken for its successor's.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sodium.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>

#include "dbs_error.h"
#include "sup.h"
#include "wire.h"

extern char **environ;

#define READY_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS  5000
#define RECV_BURST       64

/* The restart policy of databus.json ("restart"; sched.h). */
static struct restart_policy
worker_policy(const struct sup *s)
{
	const struct cfg_restart *r = &s->cfg->restart;
	struct restart_policy pol = {
	    r->min_ms, r->max_ms, r->max_restarts, r->window_ms, r->stable_ms};

	return pol;
}

static void
set_state(struct sup *s, struct worker *w, Dbs__WorkerState st)
{
	if (w->state == st)
		return;
	w->state = st;
	sup_event_worker(s, w);
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

static void
close_socket(struct worker *w)
{
	if (!w->sock_open)
		return;
	child_close_socket(w->sock);
	w->sock_open = false;
	w->recv_fd = -1;
}

static int
open_socket(struct sup *s, struct worker *w, char *url, size_t urllen)
{
	char path[4200];
	int rc;

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
	    (rc = nng_socket_get_int(w->sock, NNG_OPT_RECVFD, &w->recv_fd)) !=
		0) {
		sup_log("worker %u: cannot listen on %s: %s", w->slot, url,
		    nng_strerror(rc));
		close_socket(w);
		return DBS_ETRANSPORT;
	}
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
int
sup_spawn(const struct sup *s, char *const argv[], pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int rc;

	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(
	    &attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
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
child_spawn(struct sup *s, struct worker *w)
{
	char url[4300], slot[16], parent[16], limits[96];
	struct cfg_limits lim = config_limits(s->cfg, w->def);
	char *argv[10];
	pid_t pid;
	int rc;

	if (open_socket(s, w, url, sizeof(url)) != DBS_OK)
		goto fail;
	snprintf(slot, sizeof(slot), "%u", w->slot);
	snprintf(parent, sizeof(parent), "%d", (int)getpid());
	argv[0] = (char *)worker_binary(s);
	argv[1] = "--socket";
	argv[2] = url;
	argv[3] = "--slot";
	argv[4] = slot;
	argv[5] = "--parent";
	argv[6] = parent;
	argv[7] = NULL;
	/* Resource limits: the worker applies them to itself before any
	 * driver runs (workers/worker_limits.c). */
	if (lim.memory != 0 || lim.cpu_s != 0 || lim.open_files != 0) {
		snprintf(limits, sizeof(limits),
		    "memory=%llu,cpu=%llu,files=%llu",
		    (unsigned long long)lim.memory,
		    (unsigned long long)lim.cpu_s,
		    (unsigned long long)lim.open_files);
		argv[7] = "--limits";
		argv[8] = limits;
		argv[9] = NULL;
	}

	rc = sup_spawn(s, argv, &pid);
	if (rc != 0) {
		snprintf(w->error, sizeof(w->error), "cannot start %s: %s",
		    argv[0], strerror(rc));
		sup_log("worker %s/%s: %s", w->def->client, w->def->name,
		    w->error);
		close_socket(w);
		goto fail;
	}
	w->pid = pid;
	w->started_ms = wire_mono_ms();
	w->started_wall_ms = wire_now_ms();
	w->last_beat_ms = w->started_ms;
	w->stop_sent = false;
	w->killed = false;
	w->permanent = false;
	w->error[0] = '\0';

	{
		Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
		Dbs__Init init = DBS__INIT__INIT;

		init.client = w->def->client;
		init.definition = w->def->name;
		init.config_json = w->def->json;
		init.heartbeat_ms = (uint32_t)s->cfg->heartbeat_ms;
		init.data_dir = s->cfg->data_dir;
		m.body_case = DBS__WORKER_MSG__BODY_INIT;
		m.init = &init;
		/* Queued in the socket until the worker connects. */
		if (wire_send(w->sock, &m.base, NNG_FLAG_NONBLOCK) != DBS_OK) {
			child_kill(s, w, "cannot send Init");
			return DBS_ETRANSPORT;
		}
	}
	free(w->def_json);
	w->def_json = strdup(w->def->json);
	w->state = DBS__WORKER_STATE__WS_BACKOFF; /* so the event fires */
	set_state(s, w, DBS__WORKER_STATE__WS_STARTING);
	return DBS_OK;
fail:
	w->permanent = false;
	/* Treat a failed start like a crash: back off and try again. */
	{
		const struct restart_policy pol = worker_policy(s);
		int64_t now = wire_mono_ms();
		uint64_t rnd = sup_random64();
		int64_t d = restart_next(&w->rs, &pol, now, now, rnd);

		if (d < 0) {
			set_state(s, w, DBS__WORKER_STATE__WS_FAILED);
		} else {
			w->restart_at_ms = now + d;
			set_state(s, w, DBS__WORKER_STATE__WS_BACKOFF);
		}
	}
	return DBS_ETRANSPORT;
}

void
child_kill(struct sup *s, struct worker *w, const char *why)
{
	if (w->pid <= 0 || w->killed)
		return;
	sup_log("worker %s/%s (pid %d): killed: %s", w->def->client,
	    w->def->name, (int)w->pid, why);
	snprintf(w->error, sizeof(w->error), "%s", why);
	(void)kill(w->pid, SIGKILL);
	/* Nothing more is read from or sent to it, but its socket is closed
	 * only once it is reaped: closing while the pipe is still being torn
	 * down is what wedges nng 1.5.2 (see child_close_socket). */
	w->killed = true;
	w->recv_fd = -1;
	if (w->drive != NULL) {
		/* Its successor finishes the work at once. */
		w->resume_drive = true;
		drive_abort(s, w, why);
	}
	control_fail_peeks(s, w, DBS_ENOWORKER, why);
	set_state(s, w, DBS__WORKER_STATE__WS_STOPPING);
}

void
child_stop(struct sup *s, struct worker *w)
{
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
	Dbs__Stop stop = DBS__STOP__INIT;

	if (w->pid <= 0 || w->stop_sent || w->killed)
		return;
	m.body_case = DBS__WORKER_MSG__BODY_STOP;
	m.stop = &stop;
	w->stop_sent = true;
	w->restart_at_ms = wire_mono_ms() + STOP_TIMEOUT_MS;
	if (!w->sock_open ||
	    wire_send(w->sock, &m.base, NNG_FLAG_NONBLOCK) != DBS_OK) {
		child_kill(s, w, "cannot send Stop");
		return;
	}
	set_state(s, w, DBS__WORKER_STATE__WS_STOPPING);
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

void
child_reaped(struct sup *s, struct worker *w, int status)
{
	int64_t now = wire_mono_ms();
	bool was_driving = w->drive != NULL;

	describe_exit(status, w->last_exit, sizeof(w->last_exit));
	w->exited_ms = now;
	if (!w->stop_sent || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		sup_log("worker %s/%s (pid %d) ended: %s", w->def->client,
		    w->def->name, (int)w->pid, w->last_exit);
	w->pid = 0;
	close_socket(w);
	if (was_driving)
		drive_abort(s, w, w->last_exit);
	control_fail_peeks(s, w, DBS_ENOWORKER, "worker exited");

	if (w->removed || s->shutting_down) {
		set_state(s, w, DBS__WORKER_STATE__WS_STOPPED);
		return;
	}
	if (w->restart_wanted) {
		/* A changed configuration: start the new one at once. */
		w->restart_wanted = false;
		memset(&w->rs, 0, sizeof(w->rs));
		child_spawn(s, w);
		return;
	}
	if (w->permanent ||
	    (WIFEXITED(status) && WEXITSTATUS(status) == 100)) {
		if (w->error[0] == '\0')
			snprintf(w->error, sizeof(w->error),
			    "permanent error (exit 100); fix the "
			    "configuration "
			    "and reload");
		w->permanent = true;
		set_state(s, w, DBS__WORKER_STATE__WS_FAILED);
		return;
	}
	{
		const struct restart_policy pol = worker_policy(s);
		uint64_t rnd = sup_random64();
		int64_t d =
		    restart_next(&w->rs, &pol, w->started_ms, now, rnd);

		if (d < 0) {
			snprintf(w->error, sizeof(w->error),
			    "restarted too often (%u exits within %lld s); "
			    "expedite it to try again",
			    w->rs.in_window, (long long)pol.window_ms / 1000);
			sup_log("worker %s/%s: FAILED: %s", w->def->client,
			    w->def->name, w->error);
			set_state(s, w, DBS__WORKER_STATE__WS_FAILED);
			return;
		}
		w->restarts++;
		w->restart_at_ms = now + d;
		w->resume_drive = w->resume_drive || was_driving;
		set_state(s, w, DBS__WORKER_STATE__WS_BACKOFF);
	}
}

static void
on_ready(struct sup *s, struct worker *w, const Dbs__Ready *r)
{
	if (r->code != DBS_OK) {
		snprintf(w->error, sizeof(w->error), "%s",
		    r->message != NULL ? r->message : dbs_strerror(r->code));
		w->permanent = true;
		sup_log("worker %s/%s: %s", w->def->client, w->def->name,
		    w->error);
		return; /* it exits 100 next */
	}
	w->error[0] = '\0';
	if (w->exited_ms > 0) {
		/* A restart: how long the definition was without a worker
		 * (the fault tests read this line; docs/faults.md). */
		int64_t now = wire_mono_ms();

		sup_log("worker %s/%s (pid %d) ready %lld ms after the last "
			"exit, %lld ms after its start (mono %lld)",
		    w->def->client, w->def->name, (int)w->pid,
		    (long long)(now - w->exited_ms),
		    (long long)(now - w->started_ms), (long long)now);
		w->exited_ms = 0;
	}
	set_state(s, w, DBS__WORKER_STATE__WS_READY);
	if (w->resume_drive) {
		/* It crashed mid-drive: finish that work now. */
		w->resume_drive = false;
		sched_expedite(s->sched, w->slot, wire_mono_ms());
	} else {
		drive_schedule_retry(s, w);
	}
	sup_event_definition(s, w);
}

static void
dispatch(struct sup *s, struct worker *w, Dbs__WorkerMsg *m)
{
	switch (m->body_case) {
	case DBS__WORKER_MSG__BODY_READY:
		on_ready(s, w, m->ready);
		break;
	case DBS__WORKER_MSG__BODY_PULLED:
		drive_on_pulled(s, w, m->pulled);
		break;
	case DBS__WORKER_MSG__BODY_NOTIFIED:
		drive_on_notified(s, w, m->notified);
		break;
	case DBS__WORKER_MSG__BODY_WORK_RESULT:
		drive_on_work_result(s, w, m->work_result);
		break;
	case DBS__WORKER_MSG__BODY_LOG:
		drive_on_log(s, w, m->log);
		break;
	case DBS__WORKER_MSG__BODY_PEEK_RESULT:
		control_on_peek_result(s, w, m->peek_result);
		break;
	case DBS__WORKER_MSG__BODY_HEARTBEAT:
		if (m->heartbeat->rss_kib != 0)
			w->rss_kib = m->heartbeat->rss_kib;
		break;
	default:
		break; /* child_permitted() let nothing else through */
	}
}

void
child_handle(struct sup *s, struct worker *w)
{
	for (int i = 0; i < RECV_BURST && w->sock_open && !w->killed &&
			s->batch_bytes < SUP_BATCH_BYTES;
	     i++) {
		Dbs__WorkerMsg *m = NULL;
		char why[160];
		int rc = wire_recv_worker(w->sock, &m, NNG_FLAG_NONBLOCK);

		if (rc == DBS_EBUSY)
			return;
		if (rc == DBS_EPROTO) {
			child_kill(
			    s, w, "sent a message that does not decode");
			return;
		}
		if (rc != DBS_OK) {
			child_kill(s, w, "socket error");
			return;
		}
		/* Any message proves the worker alive. */
		w->last_beat_ms = wire_mono_ms();
		if (!child_permitted(
			w->state, w->drive != NULL, m->body_case)) {
			snprintf(why, sizeof(why),
			    "sent an unexpected message (field %d) while %s",
			    (int)m->body_case, child_state_name(w->state));
			dbs__worker_msg__free_unpacked(m, NULL);
			child_kill(s, w, why);
			return;
		}
		dispatch(s, w, m);
		dbs__worker_msg__free_unpacked(m, NULL);
	}
}

static void
wake_at(int64_t *wake, int64_t at)
{
	if (*wake < 0 || at < *wake)
		*wake = at;
}

void
child_timers(struct sup *s, int64_t now, int64_t *wake)
{
	int64_t beat_limit = 3 * s->cfg->heartbeat_ms + 2000;

	for (size_t i = 0; i < s->n_workers; i++) {
		struct worker *w = s->workers[i];

		switch (w->state) {
		case DBS__WORKER_STATE__WS_BACKOFF:
			if (s->shutting_down || w->removed) {
				set_state(s, w, DBS__WORKER_STATE__WS_STOPPED);
			} else if (now >= w->restart_at_ms) {
				child_spawn(s, w);
			} else {
				wake_at(wake, w->restart_at_ms);
			}
			break;
		case DBS__WORKER_STATE__WS_STARTING:
			if (now - w->started_ms > READY_TIMEOUT_MS &&
			    !w->permanent)
				child_kill(s, w, "not ready within 10 s");
			else
				wake_at(
				    wake, w->started_ms + READY_TIMEOUT_MS);
			break;
		case DBS__WORKER_STATE__WS_READY:
		case DBS__WORKER_STATE__WS_BUSY:
			if (now - w->last_beat_ms > beat_limit) {
				child_kill(s, w, "missed heartbeats");
				break;
			}
			wake_at(wake, w->last_beat_ms + beat_limit);
			if (w->drive != NULL)
				drive_timers(s, w, now, wake);
			else if (w->restart_wanted || w->removed ||
				 s->shutting_down)
				child_stop(s, w);
			break;
		case DBS__WORKER_STATE__WS_STOPPING:
			if (w->pid > 0 && w->stop_sent &&
			    now > w->restart_at_ms)
				child_kill(s, w, "did not stop within 5 s");
			else if (w->stop_sent)
				wake_at(wake, w->restart_at_ms);
			break;
		default:
			break;
		}
	}
}
