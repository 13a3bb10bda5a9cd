/*
 * main.c — databusd: start-up, the event loop, group commit and shutdown.
 *
 * The loop polls a signalfd and the receive fds of the control socket and
 * of every worker socket. Each turn: handle what arrived (adding changes
 * to one write batch), commit the batch and flush the messages that waited
 * for it, dispatch work from the committed queue, run timers (restarts,
 * heartbeats, drive timeouts, the scheduler), and sleep until the next
 * timer. See sup.h for the invariants.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>

#include "dbs_error.h"
#include "sup.h"
#include "wire.h"

#define EXIT_PERMANENT   100
#define EXIT_TRANSIENT   111
#define SIGKILL_GRACE_MS 2000

static struct config **old_cfgs; /* kept: removed workers point into them */
static size_t n_old_cfgs;

void
sup_log(const char *fmt, ...)
{
	char when[32];
	time_t t = time(NULL);
	struct tm tm;
	va_list ap;

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	fprintf(stderr, "%s databusd: ", when);
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

/* ------------------------------------------------- batch and outbox */

struct store_txn *
sup_txn(struct sup *s)
{
	int rc;

	if (s->txn != NULL)
		return s->txn;
	if (s->in_failure)
		return NULL;
	if ((rc = store_txn_begin(s->st, true, &s->txn)) != DBS_OK) {
		s->txn = NULL;
		snprintf(s->store_error, sizeof(s->store_error),
		    "cannot begin a transaction: %s", dbs_strerror(rc));
		return NULL;
	}
	return s->txn;
}

static void
send_now(struct sup *s, struct worker *w, nng_msg *msg)
{
	if (w == NULL) {
		if (nng_sendmsg(s->ctl, msg, NNG_FLAG_NONBLOCK) != 0)
			nng_msg_free(msg);
		return;
	}
	if (!w->sock_open || w->killed) {
		nng_msg_free(msg);
		return;
	}
	if (nng_sendmsg(w->sock, msg, NNG_FLAG_NONBLOCK) != 0) {
		nng_msg_free(msg);
		child_kill(s, w, "does not read its socket");
	}
}

void
sup_send_now(struct sup *s, nng_msg *msg)
{
	send_now(s, NULL, msg);
}

void
sup_after_commit(struct sup *s, struct worker *w, nng_msg *msg)
{
	struct outmsg *o;

	if (s->txn == NULL) {
		send_now(s, w, msg);
		return;
	}
	if ((o = malloc(sizeof(*o))) == NULL) {
		nng_msg_free(msg);
		if (w != NULL)
			child_kill(s, w, "out of memory");
		return;
	}
	o->next = NULL;
	o->w = w;
	o->msg = msg;
	*s->out_tail = o;
	s->out_tail = &o->next;
}

/*
 * Pack a message for a worker. Its own (non-inlined) function so that the
 * one leak nng 1.5.2 makes of ours can be named precisely: a message
 * nng_sendmsg accepted for a worker's pair1 pipe that closes at that
 * moment (the worker died) is never freed by nng. That costs one message
 * per worker death; tests/lsan.supp names this function and nothing
 * else, so any other lost message, and any lost queue entry
 * (sup_after_commit), is still reported.
 */
__attribute__((noinline)) int
sup_pack_worker_msg(const Dbs__WorkerMsg *m, nng_msg **msg)
{
	return wire_pack(&m->base, msg);
}

int
sup_send_worker(struct sup *s, struct worker *w, const Dbs__WorkerMsg *m)
{
	nng_msg *msg;
	int rc = sup_pack_worker_msg(m, &msg);

	if (rc != DBS_OK) {
		child_kill(s, w, "a message to it could not be packed");
		return rc;
	}
	sup_after_commit(s, w, msg);
	return DBS_OK;
}

/* Turn a queued control reply into an error reply with the same id. */
static void
fail_reply(struct sup *s, nng_msg *msg, int code)
{
	Dbs__ControlReply *old = (Dbs__ControlReply *)wire_unpack(
	    &dbs__control_reply__descriptor, msg);
	Dbs__ControlReply r = DBS__CONTROL_REPLY__INIT;

	r.id = old != NULL ? old->id : 0;
	r.code = code;
	r.message = s->store_error;
	if (old != NULL)
		dbs__control_reply__free_unpacked(old, NULL);
	nng_msg_clear(msg);
	if (wire_append(msg, &r.base) != DBS_OK) {
		nng_msg_free(msg);
		return;
	}
	send_now(s, NULL, msg);
}

static void
outbox_flush(struct sup *s, int failed_rc)
{
	struct outmsg *o = s->out_head;

	s->out_head = NULL;
	s->out_tail = &s->out_head;
	while (o != NULL) {
		struct outmsg *next = o->next;

		if (failed_rc == DBS_OK) {
			send_now(s, o->w, o->msg);
		} else if (o->w == NULL) {
			fail_reply(s, o->msg, failed_rc);
		} else {
			nng_msg_free(o->msg);
			/* What it was told is not stored: start it afresh. */
			if (o->w->pid > 0)
				child_kill(s, o->w, "store error");
		}
		free(o);
		o = next;
	}
}

static void
publish(struct sup *s)
{
	struct store_txn *t;
	uint64_t first = 0, last = 0;

	if (store_txn_begin(s->st, false, &t) != DBS_OK)
		return;
	(void)store_event_range(t, &first, &last);
	store_txn_abort(t);
	if (last > s->published_seq) {
		Dbs__Event ev = DBS__EVENT__INIT;

		ev.seq = last;
		s->published_seq = last;
		(void)wire_send(s->events, &ev.base, NNG_FLAG_NONBLOCK);
	}
}

void
sup_store_failed(struct sup *s, int rc, const char *what)
{
	char text[512];

	if (s->in_failure)
		return;
	s->in_failure = true;
	snprintf(text, sizeof(text), "%s: %s (%s)", what, dbs_strerror(rc),
	    store_last_error(s->st));
	if (strcmp(text, s->store_error) != 0 || !s->intake_paused)
		sup_log("store error, intake paused: %s", text);
	snprintf(s->store_error, sizeof(s->store_error), "%s", text);
	snprintf(s->store_cause, sizeof(s->store_cause), "%s", text);
	s->store_rc = rc;
	store_txn_abort(s->txn);
	s->txn = NULL;
	s->batch_bytes = 0;
	outbox_flush(s, rc);
	/* Drives whose changes were in the lost batch are inconsistent with
	 * the store now: restart their workers; the queue has all the rest. */
	for (size_t i = 0; i < s->n_workers; i++)
		if (s->workers[i]->drive != NULL)
			child_kill(s, s->workers[i], "store error");
	s->intake_paused = true;
	s->probe_at_ms = wire_mono_ms() + (rc == DBS_EMAPFULL ? 0 : 1000);
	s->in_failure = false;
}

int
sup_commit(struct sup *s)
{
	struct store_txn *txn = s->txn;
	size_t changes;
	int64_t t0;
	int rc;

	if (txn == NULL) {
		outbox_flush(s, DBS_OK);
		return DBS_OK;
	}
	changes = store_txn_changes(txn);
	s->txn = NULL;
	s->batch_bytes = 0;
	if (changes == 0) {
		store_txn_abort(txn);
		outbox_flush(s, DBS_OK);
		return DBS_OK;
	}
	t0 = metrics_now_us();
	rc = store_txn_commit(txn);
	metrics_commit_observe(s, metrics_now_us() - t0);
	if (rc != DBS_OK) {
		s->txn = NULL;
		sup_store_failed(s, rc, "commit");
		return rc;
	}
	s->commits++;
	outbox_flush(s, DBS_OK);
	publish(s);
	return DBS_OK;
}

/* --------------------------------------------------- status, events */

/* Monotonic times shown as wall-clock times, with an offset fixed at
 * start so that a value does not jitter from one status to the next. */
static int64_t wall_offset_ms;

static int64_t
mono_to_wall(int64_t mono)
{
	return mono < 0 ? 0 : mono + wall_offset_ms;
}

void
sup_fill_worker_info(
    const struct sup *s, const struct worker *w, Dbs__WorkerInfo *wi)
{
	(void)s;
	dbs__worker_info__init(wi);
	wi->client = w->def->client;
	wi->definition = w->def->name;
	wi->slot = w->slot;
	wi->pid = w->pid;
	wi->state = w->state;
	wi->restarts = w->restarts;
	wi->last_exit = (char *)w->last_exit;
	wi->error = (char *)w->error;
	wi->rss_kib = w->rss_kib;
	wi->started_ms = w->pid > 0 ? w->started_wall_ms : 0;
	if (w->state == DBS__WORKER_STATE__WS_BACKOFF)
		wi->backoff_until_ms = mono_to_wall(w->restart_at_ms);
}

static char **
driver_names(const struct cfg_driver *d, size_t n)
{
	char **names = calloc(n + 1, sizeof(*names));

	for (size_t i = 0; names != NULL && i < n; i++)
		names[i] = d[i].name;
	return names;
}

void
sup_fill_definition_info(struct sup *s, const struct worker *w,
    Dbs__DefinitionInfo *di, Dbs__WorkerInfo *wi)
{
	const struct cfg_definition *def = w->def;
	int64_t next = sched_next_run(s->sched, w->slot);
	int64_t last = sched_last_run(s->sched, w->slot);

	dbs__definition_info__init(di);
	sup_fill_worker_info(s, w, wi);
	di->client = def->client;
	di->name = def->name;
	di->sync_period_ms = def->sync_period_ms;
	di->last_run_ms = last > 0 ? mono_to_wall(last) : 0;
	di->next_run_ms = next >= 0 ? mono_to_wall(next) : 0;
	di->driving = w->drive != NULL;
	di->last_outcome = (char *)w->last_outcome;
	di->worker = wi;
	if ((di->pullers = driver_names(def->pullers, def->n_pullers)) != NULL)
		di->n_pullers = def->n_pullers;
	if ((di->processors =
		    driver_names(def->processors, def->n_processors)) != NULL)
		di->n_processors = def->n_processors;
	if ((di->pushers = driver_names(def->pushers, def->n_pushers)) != NULL)
		di->n_pushers = def->n_pushers;
	metrics_fill_definition(w, di);
}

void
sup_clear_definition_info(Dbs__DefinitionInfo *di)
{
	free(di->pullers);
	free(di->processors);
	free(di->pushers);
	di->pullers = di->processors = di->pushers = NULL;
	di->n_pullers = di->n_processors = di->n_pushers = 0;
}

void
sup_fill_system_state(const struct sup *s, Dbs__SystemState *ss)
{
	dbs__system_state__init(ss);
	ss->paused = sched_paused(s->sched) && !s->shutting_down;
	ss->shutting_down = s->shutting_down;
	ss->intake_paused = s->intake_paused;
	ss->store_error = s->intake_paused ? (char *)s->store_error : "";
	ss->system_alias = s->cfg->system_alias;
	ss->version = SUP_VERSION;
	ss->started_ms = s->started_wall_ms;
	ss->pid = getpid();
	ss->data_dir = s->cfg->data_dir;
	ss->web_enabled = s->cfg->web_enabled;
	ss->web_listen = s->cfg->web_listen;
	ss->web_pid = s->web.pid;
	ss->web_state = s->web.state;
	ss->web_restarts = s->web.restarts;
	ss->web_error = (char *)s->web.error;
}

void
sup_event_worker(struct sup *s, const struct worker *w)
{
	Dbs__WorkerInfo wi;

	sup_fill_worker_info(s, w, &wi);
	sup_event_append(s, w->def->client, DBS__RESOURCE__RES_WORKER,
	    DBS__EVENT_KIND__EV_UPDATE, &wi.base);
}

void
sup_event_system(struct sup *s)
{
	Dbs__SystemState ss;

	sup_fill_system_state(s, &ss);
	sup_event_append(s, "", DBS__RESOURCE__RES_SYSTEM,
	    DBS__EVENT_KIND__EV_UPDATE, &ss.base);
}

struct worker *
sup_find_worker(struct sup *s, const char *client, const char *definition)
{
	for (size_t i = 0; i < s->n_workers; i++) {
		struct worker *w = s->workers[i];

		if (!w->removed && strcmp(w->def->client, client) == 0 &&
		    strcmp(w->def->name, definition) == 0)
			return w;
	}
	return NULL;
}

/* ------------------------------------------------------------ workers */

static struct worker *
add_worker(struct sup *s, struct cfg_definition *def)
{
	struct worker **ws;
	struct worker *w;

	ws = realloc(s->workers, (s->n_workers + 1) * sizeof(*ws));
	if (ws == NULL)
		return NULL;
	s->workers = ws;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->slot = ++s->next_slot;
	w->def = def;
	w->recv_fd = -1;
	w->state = DBS__WORKER_STATE__WS_STOPPED;
	s->workers[s->n_workers++] = w;
	sched_add(s->sched, w->slot, def->sync_period_ms, wire_mono_ms());
	return w;
}

static void
free_worker(struct worker *w)
{
	if (w == NULL)
		return;
	if (w->sock_open)
		child_close_socket(w->sock);
	drive_free(w->drive);
	drive_free_notify(w->renotify);
	free(w->def_json);
	free(w);
}

/* Forget workers removed from the configuration once they stopped. */
static void
sweep_removed(struct sup *s)
{
	size_t j = 0;

	for (size_t i = 0; i < s->n_workers; i++) {
		struct worker *w = s->workers[i];

		if (w->removed && w->pid == 0 && w->drive == NULL) {
			sup_event_definition_kind(
			    s, w, DBS__EVENT_KIND__EV_DELETE);
			sched_remove(s->sched, w->slot);
			free_worker(w);
			continue;
		}
		s->workers[j++] = w;
	}
	s->n_workers = j;
}

int
sup_reload(struct sup *s, char *err, size_t errlen)
{
	struct config *ncfg = NULL, **olds;
	int rc;

	if (s->cfg->file == NULL) {
		snprintf(err, errlen,
		    "the demo configuration is built in; "
		    "nothing to reload");
		return DBS_OK;
	}
	if ((rc = config_load(s->cfg->file, &ncfg, err, errlen)) != DBS_OK)
		return rc;
	if ((rc = config_check_drivers(ncfg, err, errlen)) != DBS_OK)
		goto refuse;
	if (strcmp(ncfg->data_dir, s->cfg->data_dir) != 0) {
		snprintf(err, errlen,
		    "%s: $.data_dir: cannot change while "
		    "running; restart databusd",
		    ncfg->file);
		rc = DBS_ECONFIG;
		goto refuse;
	}
	olds = realloc(old_cfgs, (n_old_cfgs + 1) * sizeof(*olds));
	if (olds == NULL) {
		rc = DBS_ENOMEM;
		goto refuse;
	}
	old_cfgs = olds;
	old_cfgs[n_old_cfgs++] = s->cfg;
	s->cfg = ncfg;
	(void)users_import(s);

	for (size_t i = 0; i < s->n_workers; i++) {
		struct worker *w = s->workers[i];
		struct cfg_definition *nd =
		    (struct cfg_definition *)config_find(
			ncfg, w->def->client, w->def->name);

		if (w->removed)
			continue;
		if (nd == NULL) {
			w->removed = true;
			sup_log("reload: %s/%s removed", w->def->client,
			    w->def->name);
			continue;
		}
		w->def = nd;
		sched_set_period(s->sched, w->slot, nd->sync_period_ms);
		if (w->def_json != NULL && strcmp(nd->json, w->def_json) == 0)
			continue;
		sup_log("reload: %s/%s changed; restarting its worker",
		    nd->client, nd->name);
		switch (w->state) {
		case DBS__WORKER_STATE__WS_FAILED:
		case DBS__WORKER_STATE__WS_BACKOFF:
		case DBS__WORKER_STATE__WS_STOPPED:
			memset(&w->rs, 0, sizeof(w->rs));
			child_spawn(s, w);
			break;
		default:
			w->restart_wanted = true;
		}
	}
	for (size_t c = 0; c < ncfg->n_clients; c++)
		for (size_t d = 0; d < ncfg->clients[c].n_defs; d++) {
			struct cfg_definition *def = &ncfg->clients[c].defs[d];
			struct worker *w;

			if (sup_find_worker(s, def->client, def->name) != NULL)
				continue;
			sup_log("reload: %s/%s added", def->client, def->name);
			if ((w = add_worker(s, def)) != NULL) {
				sup_event_definition_kind(
				    s, w, DBS__EVENT_KIND__EV_CREATE);
				child_spawn(s, w);
			}
		}
	snprintf(err, errlen, "configuration reloaded");
	return DBS_OK;
refuse:
	config_free(ncfg);
	return rc;
}

/* ------------------------------------------------------------- loop */

static bool
slot_blocked(void *ctx, uint32_t slot)
{
	struct sup *s = ctx;

	for (size_t i = 0; i < s->n_workers; i++)
		if (s->workers[i]->slot == slot)
			return s->workers[i]->state !=
				   DBS__WORKER_STATE__WS_READY ||
			       s->workers[i]->restart_wanted ||
			       s->workers[i]->removed;
	return true;
}

static struct worker *
by_slot(struct sup *s, uint32_t slot)
{
	for (size_t i = 0; i < s->n_workers; i++)
		if (s->workers[i]->slot == slot)
			return s->workers[i];
	return NULL;
}

static void
begin_shutdown(struct sup *s, const char *why)
{
	if (s->shutting_down)
		return;
	sup_log("shutting down (%s)", why);
	s->shutting_down = true;
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

static void
reap(struct sup *s)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (web_reaped(s, pid, status))
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
				sup_log("reload refused: %s", err);
			else
				sup_log("SIGHUP: %s", err);
			break;
		}
	}
}

static void
run(struct sup *s, int sigfd)
{
	struct pollfd *pfd = NULL;
	struct worker **pw = NULL;
	size_t cap = 0;

	for (;;) {
		int64_t now, wake = -1, sw;
		size_t n = 0;
		int timeout;

		/* Commit what the last turn changed, then hand out work
		 * from the committed queue until nothing more moves. */
		for (int round = 0; round < 8; round++) {
			sup_commit(s);
			for (size_t i = 0; i < s->n_workers; i++)
				drive_dispatch(s, s->workers[i]);
			if (s->txn == NULL)
				break;
		}
		now = wire_mono_ms();
		child_timers(s, now, &wake);
		web_timers(s, now, &wake);
		control_timers(s, now, &wake);
		sessions_timers(s, now, &wake);
		shutdown_timers(s, now, &wake);
		probe_timers(s, now, &wake);
		sup_events_timers(s, now, &wake);
		sup_system_live_timers(s, now, &wake);
		if (!s->shutting_down && !s->intake_paused) {
			uint32_t slot;
			bool pull;

			while (sched_next(
			    s->sched, now, slot_blocked, s, &slot, &pull))
				drive_start(s, by_slot(s, slot), pull);
		}
		sweep_removed(s);
		sup_commit(s);
		if (s->shutting_down && all_stopped(s))
			break;

		if ((sw = sched_wakeup_unblocked(
			 s->sched, now, slot_blocked, s)) >= 0 &&
		    (wake < 0 || now + sw < wake))
			wake = now + sw;
		if (s->txn != NULL)
			wake = now; /* dispatch again at once */
		timeout = wake < 0 ? 1000 : (int)(wake - now);
		if (timeout < 0)
			timeout = 0;
		if (timeout > 1000)
			timeout = 1000;

		if (cap < s->n_workers + 2) {
			cap = s->n_workers + 16;
			pfd = realloc(pfd, cap * sizeof(*pfd));
			pw = realloc(pw, cap * sizeof(*pw));
			if (pfd == NULL || pw == NULL) {
				sup_log("out of memory");
				exit(EXIT_TRANSIENT);
			}
		}
		pfd[n].fd = sigfd;
		pfd[n].events = POLLIN;
		pw[n++] = NULL;
		pfd[n].fd = s->ctl_fd;
		pfd[n].events = POLLIN;
		pw[n++] = NULL;
		for (size_t i = 0; i < s->n_workers; i++) {
			if (!s->workers[i]->sock_open)
				continue;
			pfd[n].fd = s->workers[i]->recv_fd;
			pfd[n].events = POLLIN;
			pw[n++] = s->workers[i];
		}
		if (poll(pfd, n, timeout) < 0 && errno != EINTR) {
			sup_log("poll: %s", strerror(errno));
			exit(EXIT_TRANSIENT);
		}
		if (pfd[0].revents & POLLIN)
			handle_signals(s, sigfd);
		if (pfd[1].revents & POLLIN)
			control_handle(s);
		for (size_t i = 2; i < n; i++)
			if ((pfd[i].revents & POLLIN) && pw[i]->sock_open &&
			    pw[i]->recv_fd == pfd[i].fd)
				child_handle(s, pw[i]);
	}
	free(pfd);
	free(pw);
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
		sup_log("events socket %s: %s", url, nng_strerror(rc));
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
	config_free(s->cfg);
	return code;
}

int
main(int argc, char **argv)
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
	const char *config_file = NULL, *data = NULL, *listen = NULL;
	bool demo = false, wedged = false;
	struct sup sup = {0}, *s = &sup;
	struct store_options so = {0};
	char err[4096], storedir[4200];
	sigset_t mask;
	int opt, rc, sigfd;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_file = optarg;
			break;
		case 'd':
			demo = true;
			break;
		case 'D':
			data = optarg;
			break;
		case 'l':
			listen = optarg;
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
	if (optind != argc || demo == (config_file != NULL) ||
	    (!demo && (data != NULL || listen != NULL))) {
		usage(stderr);
		return EXIT_PERMANENT;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "databusd: libsodium failed to initialise\n");
		return EXIT_TRANSIENT;
	}
	rc = demo ? config_demo(data, listen, &s->cfg, err, sizeof(err))
		  : config_load(config_file, &s->cfg, err, sizeof(err));
	if (rc == DBS_OK)
		rc = config_check_drivers(s->cfg, err, sizeof(err));
	if (rc != DBS_OK) {
		fprintf(stderr, "databusd: %s\n", err);
		config_free(s->cfg);
		return rc == DBS_ENOMEM ? EXIT_TRANSIENT : EXIT_PERMANENT;
	}
	snprintf(s->run_dir, sizeof(s->run_dir), "%s/run", s->cfg->data_dir);
	snprintf(storedir, sizeof(storedir), "%s/store", s->cfg->data_dir);
	if (mkdirs(s->cfg->data_dir, 0700) != 0 || mkdirs(s->run_dir, 0700) ||
	    mkdirs(storedir, 0700) != 0) {
		fprintf(stderr, "databusd: %s: cannot create: %s\n",
		    s->cfg->data_dir, strerror(errno));
		return bail(s, EXIT_PERMANENT);
	}
	so.max_size = s->cfg->store_max_size;
	so.event_keep = s->cfg->event_keep;
	if ((rc = store_open(storedir, STORE_RDWR, &so, &s->st)) != DBS_OK) {
		fprintf(stderr, "databusd: %s: %s\n", s->cfg->data_dir,
		    dbs_strerror(rc));
		return bail(s, rc == DBS_ELOCKED || rc == DBS_ESCHEMA
				   ? EXIT_PERMANENT
				   : EXIT_TRANSIENT);
	}
	s->out_tail = &s->out_head;
	s->web.state = DBS__WORKER_STATE__WS_STOPPED;
	s->started_wall_ms = wire_now_ms();
	wall_offset_ms = s->started_wall_ms - wire_mono_ms();
	if ((s->sched = sched_new()) == NULL)
		return bail(s, EXIT_TRANSIENT);

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		fprintf(stderr, "databusd: signalfd: %s\n", strerror(errno));
		return bail(s, EXIT_TRANSIENT);
	}

	if (users_import(s) != DBS_OK) {
		fprintf(stderr, "databusd: cannot import users: %s\n",
		    s->store_error);
		return bail(s, EXIT_TRANSIENT);
	}
	{
		struct store_txn *t;
		uint64_t last = 0;

		if (store_txn_begin(s->st, false, &t) == DBS_OK) {
			(void)store_meta_get_u64(t, "last_drive_id", &last);
			(void)store_event_range(
			    t, &(uint64_t){0}, &s->published_seq);
			store_txn_abort(t);
		}
		s->next_drive_id = last;
	}
	if (control_open(s) != DBS_OK || open_events(s) != DBS_OK)
		return bail(s, EXIT_TRANSIENT);

	for (size_t c = 0; c < s->cfg->n_clients; c++)
		for (size_t d = 0; d < s->cfg->clients[c].n_defs; d++) {
			struct worker *w =
			    add_worker(s, &s->cfg->clients[c].defs[d]);

			if (w == NULL)
				return bail(s, EXIT_TRANSIENT);
			child_spawn(s, w);
		}
	web_start(s);
	sup_event_system(s);
	sup_commit(s);

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

	run(s, sigfd);

	sup_commit(s);
	for (size_t i = 0; i < s->n_workers; i++)
		free_worker(s->workers[i]);
	/* Close every socket, let nng reap them and free the messages still
	 * queued on a dead worker's pipe before the process ends — unless a
	 * worker's socket never finished closing (child.c): nng is wedged
	 * then, and any further close or nng_fini would wait for ever. */
	for (int i = 0; i < 200 && child_closing() > 0; i++)
		(void)nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	if (child_closing() == 0) {
		nng_close(s->ctl);
		nng_close(s->events);
		nng_fini();
	} else {
		wedged = true;
		sup_log("%d worker socket(s) did not finish closing (nng); "
			"exiting without closing the rest",
		    child_closing());
	}
	free(s->workers);
	sched_free(s->sched);
	store_close(s->st);
	config_free(s->cfg);
	for (size_t i = 0; i < n_old_cfgs; i++)
		config_free(old_cfgs[i]);
	free(old_cfgs);
	close(sigfd);
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
