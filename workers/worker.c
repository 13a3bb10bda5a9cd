/*
 * worker.c — databus-worker: hosts the drivers of one passenger definition
 * for the supervisor, which talks to it over one nng PAIR socket.
 *
 * The supervisor listens on ipc://<data>/run/worker-<slot> and starts the
 * worker with fork+exec; the worker dials, waits for Init, creates every
 * driver and answers Ready. From then on it does what each message asks,
 * one message at a time, in the order they come (Drive, SeatResult,
 * WorkRequest, PeekRequest, Stop), while a second thread sends heartbeats.
 * Which message is allowed in which state is a table (`dispatch`): any
 * other message, or one that does not decode, is a protocol violation and
 * the worker exits 111 — the supervisor is never the one that dies.
 *
 * The worker never opens the store. Everything a driver needs arrives in
 * messages, so a crashing or hostile driver takes down only this process.
 *
 * SIGUSR1 is Stop by signal: databusd's shutdown tells a thousand idle
 * workers to stop with a kill(2) each, where a thousand Stop messages
 * cost seconds of nng hand-offs. It acts between messages, as Stop does.
 *
 * Exit codes: 0 after Stop; 100 on bad usage or a driver configuration
 * error (after Ready with the error); 111 when the socket or the parent is
 * lost, on a protocol violation, or on SIGTERM/SIGINT without Stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "check.h"
#include "databus.pb-c.h"
#include "dbs_error.h"
#include "definition.h"
#include "log_priority.h"
#include "driver_host.h"
#include "wire.h"
#include "work.h"
#include "worker_limits.h"

#ifndef DBS_VERSION
#define DBS_VERSION "0.1.0"
#endif

#define EXIT_STOP       0
#define EXIT_PERMANENT  100
#define EXIT_TRANSIENT  111
#define SEND_TIMEOUT_MS 10000
#define PARENT_CHECK_MS 60000 /* a belt to PR_SET_PDEATHSIG's braces */
#define DIAL_WAIT_MS    5000  /* how long the listener may take to appear */
#define DRAIN_MS        500   /* lets a last message leave before exit */
#define PEEK_DEFAULT    20
#define PEEK_MAX        1000

enum wstate {
	WS_WAIT_INIT = 1 << 0,
	WS_RUNNING = 1 << 1,
};

/* This process as the host of one definition's drivers: its link to the
 * supervisor, where it is in its life, its heartbeats and the message
 * being handled. (The supervisor's struct worker is its view of a worker
 * process from outside.) */
struct host {
	nng_socket sock;
	int recv_fd; /* readable when a message is in (NNG_OPT_RECVFD) */
	unsigned slot;
	enum wstate state;
	bool stop; /* Stop received */
	bool dry;  /* a dry run's throwaway worker (Init.dry_run) */
	bool dead; /* a send failed: the supervisor is gone */
	atomic_bool peer_lost;
	char *client;
	char *definition;
	struct definition *def;

	/* Heartbeats. */
	uint32_t heartbeat_ms;
	pthread_t hb_thread;
	bool hb_running;
	pthread_mutex_t hb_mu;
	pthread_cond_t hb_cv;
	bool hb_stop;

	/* The message being handled. */
	uint64_t drive_id;  /* for LogBatch flushes */
	const char *puller; /* puller being pulled or peeked */
	struct batch batch;
	uint32_t peek_left;
	struct work work;
};

static volatile sig_atomic_t got_signal;
static volatile sig_atomic_t got_stop; /* SIGUSR1: Stop */

/* Written when the supervisor's pipe goes away or a signal comes (from an
 * nng thread or a signal handler, whichever thread it lands on), so that
 * an idle worker sleeps in poll() with no timeout at all. */
static int wake_fd = -1;

static void
wake_loop(void)
{
	uint64_t one = 1;

	if (wake_fd >= 0 && write(wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is full: the loop is awake anyway */
	}
}

static void say(const struct host *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
say(const struct host *h, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%sdatabus-worker[%u]: ", dbs_log_prefix(LOG_ERR),
	    h != NULL ? h->slot : 0);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---------------------------------------------------------------- exits */

static void hb_stop(struct host *h);
static void worker_exit(struct host *h, int code) __attribute__((noreturn));

/* Finalise every driver, release everything (so leak checkers see a clean
 * exit whatever the path) and exit with `code`. */
static void
worker_exit(struct host *h, int code)
{
	hb_stop(h);
	def_close(h->def); /* fini every driver */
	h->def = NULL;
	drv_log_set_flush(NULL, NULL);
	drv_log_clear();
	batch_free(&h->batch);
	work_free(&h->work);
#if defined(__SANITIZE_ADDRESS__)
	/* A clean teardown for the leak checker; otherwise the exit closes
	 * the socket (an nng_close is a millisecond of thread hand-offs, a
	 * second of CPU when a thousand workers stop together). */
	nng_close(h->sock);
#endif
	free(h->client);
	free(h->definition);
	fflush(stderr);
	exit(code);
}

/* Give the last queued message time to reach the supervisor: nng has no
 * linger, and closing the socket drops what is still queued. */
static void
drain(struct host *h)
{
	long long until = wire_mono_ms() + DRAIN_MS;

	while (!atomic_load(&h->peer_lost) && wire_mono_ms() < until) {
		struct timespec ts = {0, 10 * 1000000L};

		nanosleep(&ts, NULL);
	}
}

/* ---------------------------------------------------------------- sends */

static int
send_msg(struct host *h, Dbs__WorkerMsg *m)
{
	int rc;

	if (h->dead)
		return DBS_ETRANSPORT;
	rc = wire_send(h->sock, &m->base, 0);
	if (rc != DBS_OK) {
		say(h, "cannot send to the supervisor: %s", dbs_strerror(rc));
		h->dead = true;
	}
	return rc;
}

static int
send_nng(struct host *h, nng_msg *msg)
{
	int rc;

	if (h->dead) {
		nng_msg_free(msg);
		return DBS_ETRANSPORT;
	}
	rc = nng_sendmsg(h->sock, msg, 0);
	if (rc != 0) {
		nng_msg_free(msg);
		say(h, "cannot send to the supervisor: %s", nng_strerror(rc));
		h->dead = true;
		return DBS_ETRANSPORT;
	}
	return DBS_OK; /* msg transferred */
}

/* Send the buffered log entries as a LogBatch (nothing if none). */
static void
flush_logs(struct host *h)
{
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
	Dbs__LogBatch lb = DBS__LOG_BATCH__INIT;
	size_t n;

	lb.entries = drv_log_entries(&n);
	if (n == 0)
		return;
	lb.n_entries = n;
	lb.drive_id = h->drive_id;
	m.body_case = DBS__WORKER_MSG__BODY_LOG;
	m.log = &lb;
	(void)send_msg(h, &m);
	drv_log_clear();
}

static void
flush_logs_cb(void *arg)
{
	flush_logs(arg);
}

/* Close the current pulled batch and send it with the buffered logs. */
static int
send_pulled(struct host *h, bool last)
{
	Dbs__LogEntry **logs;
	nng_msg *msg;
	size_t n;
	int rc;

	logs = drv_log_entries(&n);
	if (n > 0 && h->batch.len > BATCH_MAX_BYTES) {
		/* A huge single item: keep the message within bounds. */
		flush_logs(h);
		logs = drv_log_entries(&n);
	}
	rc = batch_finish_pulled(&h->batch, h->drive_id, last, logs, n, &msg);
	if (rc != DBS_OK) {
		say(h, "cannot encode a pulled batch: %s", dbs_strerror(rc));
		h->dead = true;
		return rc;
	}
	drv_log_clear();
	batch_start(&h->batch, BATCH_PULLED);
	return send_nng(h, msg);
}

/* ----------------------------------------------------------- heartbeats */

/* The resident size, from /proc/self/statm kept open: one pread per
 * heartbeat (statm_fd < 0: not known, 0). */
static uint64_t
rss_kib(int statm_fd)
{
	static long page_kib;
	unsigned long long size = 0, resident = 0;
	char buf[128];
	ssize_t n;

	if (statm_fd < 0 ||
	    (n = pread(statm_fd, buf, sizeof(buf) - 1, 0)) <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return 0;
	if (page_kib == 0)
		page_kib = sysconf(_SC_PAGESIZE) / 1024;
	return resident * (uint64_t)page_kib;
}

static void *
hb_main(void *arg)
{
	struct host *h = arg;
	struct timespec deadline;
	int statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

	pthread_mutex_lock(&h->hb_mu);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	while (!h->hb_stop) {
		deadline.tv_sec += h->heartbeat_ms / 1000;
		deadline.tv_nsec += (long)(h->heartbeat_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		while (!h->hb_stop && pthread_cond_timedwait(&h->hb_cv,
					  &h->hb_mu, &deadline) != ETIMEDOUT)
			;
		if (h->hb_stop)
			break;
		pthread_mutex_unlock(&h->hb_mu);
		{
			Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
			Dbs__Heartbeat hb = DBS__HEARTBEAT__INIT;

			hb.time_ms = wire_now_ms();
			hb.rss_kib = rss_kib(statm_fd);
			m.body_case = DBS__WORKER_MSG__BODY_HEARTBEAT;
			m.heartbeat = &hb;
			/* Never block: a full queue means the supervisor
			 * is busy reading results, which is liveness too. */
			(void)wire_send(h->sock, &m.base, NNG_FLAG_NONBLOCK);
		}
		pthread_mutex_lock(&h->hb_mu);
	}
	pthread_mutex_unlock(&h->hb_mu);
	if (statm_fd >= 0)
		close(statm_fd);
	return NULL;
}

static int
hb_start(struct host *h)
{
	pthread_condattr_t ca;

	if (h->heartbeat_ms == 0)
		return DBS_OK;
	if (h->heartbeat_ms < 10)
		h->heartbeat_ms = 10;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->hb_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&h->hb_mu, NULL);
	if (pthread_create(&h->hb_thread, NULL, hb_main, h) != 0) {
		pthread_cond_destroy(&h->hb_cv);
		pthread_mutex_destroy(&h->hb_mu);
		return DBS_ENOMEM;
	}
	h->hb_running = true;
	return DBS_OK;
}

static void
hb_stop(struct host *h)
{
	if (!h->hb_running)
		return;
	pthread_mutex_lock(&h->hb_mu);
	h->hb_stop = true;
	pthread_cond_signal(&h->hb_cv);
	pthread_mutex_unlock(&h->hb_mu);
	pthread_join(h->hb_thread, NULL);
	pthread_cond_destroy(&h->hb_cv);
	pthread_mutex_destroy(&h->hb_mu);
	h->hb_running = false;
}

/* ----------------------------------------------------------------- Init */

struct first_problem {
	char msg[1024];
	bool set;
};

static void
init_problem(void *arg, const char *where, const char *message)
{
	struct first_problem *fp = arg;

	if (fp->set)
		return;
	snprintf(fp->msg, sizeof(fp->msg), "$%s: %s", where, message);
	fp->set = true;
}

static int
send_ready(struct host *h, uint32_t code, const char *message)
{
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
	Dbs__Ready r = DBS__READY__INIT;

	r.pid = (int32_t)getpid();
	r.code = code;
	r.message = (char *)(message != NULL ? message : "");
	r.version = (char *)DBS_VERSION;
	m.body_case = DBS__WORKER_MSG__BODY_READY;
	m.ready = &r;
	return send_msg(h, &m);
}

static void init_failed(struct host *h, uint32_t code, const char *message)
    __attribute__((noreturn));

/* Answer Init with the error, let it reach the supervisor, and exit:
 * 100 for a configuration error (do not restart), 111 otherwise. */
static void
init_failed(struct host *h, uint32_t code, const char *message)
{
	say(h, "init failed: %s", message);
	if (send_ready(h, code, message) == DBS_OK) {
		flush_logs(h);
		drain(h);
	}
	worker_exit(h, code == DBS_ENOMEM ? EXIT_TRANSIENT : EXIT_PERMANENT);
}

static int
on_init(struct host *h, Dbs__WorkerMsg *m)
{
	Dbs__Init *in = m->init;
	struct first_problem fp = {.set = false};
	json_error_t jerr;
	json_t *def;
	int rc;

	h->client = strdup(in->client);
	h->definition = strdup(in->definition);
	if (h->client == NULL || h->definition == NULL)
		init_failed(h, DBS_ENOMEM, "out of memory");
	h->heartbeat_ms = in->heartbeat_ms;
	def = json_loads(in->config_json, 0, &jerr);
	if (def == NULL) {
		snprintf(
		    fp.msg, sizeof(fp.msg), "$: invalid JSON: %s", jerr.text);
		init_failed(h, DBS_ECONFIG, fp.msg);
	}
	rc = def_open(def, in->client, in->definition,
	    in->data_dir[0] != '\0' ? in->data_dir : NULL, false, init_problem,
	    &fp, &h->def);
	json_decref(def);
	if (rc != DBS_OK)
		init_failed(h, rc, fp.set ? fp.msg : dbs_strerror(rc));
	/* A dry run's pushers only say what they would do. */
	h->dry = in->dry_run;
	for (size_t i = 0; h->dry && i < def_count(h->def, DRV_PUSHER); i++)
		drv_ctx_set_dry(def_get(h->def, DRV_PUSHER, i));
	if (send_ready(h, DBS_OK, "") != DBS_OK)
		return DBS_ETRANSPORT;
	flush_logs(h);
	if (hb_start(h) != DBS_OK)
		say(h, "cannot start the heartbeat thread");
	h->state = WS_RUNNING;
	return DBS_OK;
}

/* ---------------------------------------------------------------- Drive */

static int
pull_emit(void *arg, const struct drv_item *item)
{
	struct host *h = arg;
	int rc;

	if (h->dead)
		return DBS_ETRANSPORT;
	rc = batch_add(&h->batch, h->puller, item, wire_now_us());
	if (rc == DBS_EBUSY) {
		if (send_pulled(h, false) != DBS_OK)
			return DBS_ETRANSPORT;
		rc = batch_add(&h->batch, h->puller, item, wire_now_us());
	}
	return rc;
}

static int
on_drive(struct host *h, Dbs__WorkerMsg *m)
{
	struct drv_sink sink = {pull_emit, h};
	size_t i;

	h->drive_id = m->drive->drive_id;
	batch_start(&h->batch, BATCH_PULLED);
	for (i = 0; m->drive->pull && i < def_count(h->def, DRV_PULLER); i++) {
		struct drv_ctx *ctx = def_get(h->def, DRV_PULLER, i);
		int rc;

		h->puller = drv_name(ctx);
		rc = drv_ctx_pull(ctx, &sink);
		if (h->dead)
			return DBS_ETRANSPORT;
		if (rc != DBS_OK)
			drv_log_host(DRV_ERROR, 0, h->puller,
			    "pull failed: %s", dbs_strerror(rc));
	}
	h->puller = NULL;
	return send_pulled(h, true);
}

/* ----------------------------------------------------------- SeatResult */

static int
on_seated(struct host *h, Dbs__WorkerMsg *m)
{
	Dbs__SeatResult *sr = m->seated;
	Dbs__WorkerMsg out = DBS__WORKER_MSG__INIT;
	Dbs__Notified nf = DBS__NOTIFIED__INIT;
	Dbs__NotifyOutcome *items, **itemp;
	struct drv_keep keep = {0};
	size_t i, n_logs;
	int rc;

	h->drive_id = sr->drive_id;
	items = calloc(sr->n_items + 1, sizeof(*items));
	itemp = calloc(sr->n_items + 1, sizeof(*itemp));
	if (items == NULL || itemp == NULL) {
		free(items);
		free(itemp);
		return DBS_ENOMEM;
	}
	for (i = 0; i < sr->n_items; i++) {
		Dbs__SeatedItem *si = sr->items[i];
		struct drv_ctx *ctx = def_find(h->def, DRV_PULLER, si->puller);
		char err[512];

		dbs__notify_outcome__init(&items[i]);
		itemp[i] = &items[i];
		items[i].id = si->id;
		if (ctx == NULL) {
			snprintf(err, sizeof(err),
			    "no puller named \"%s\" in this definition",
			    si->puller);
			rc = DBS_ENOTFOUND;
		} else {
			rc = drv_ctx_notify(ctx, si->external_id,
			    si->source_ref, err, sizeof(err));
		}
		if (rc == DBS_OK)
			continue;
		items[i].code = (uint32_t)rc;
		items[i].error = strdup(err);
		if (items[i].error == NULL ||
		    drv_keep_add(&keep, items[i].error) != DBS_OK)
			items[i].error = (char *)dbs_strerror(rc);
		drv_log_host(DRV_WARNING, si->id, si->puller,
		    "notify of \"%s\" failed: %s", si->external_id, err);
	}
	nf.drive_id = sr->drive_id;
	nf.n_items = sr->n_items;
	nf.items = itemp;
	nf.logs = drv_log_entries(&n_logs);
	nf.n_logs = n_logs;
	out.body_case = DBS__WORKER_MSG__BODY_NOTIFIED;
	out.notified = &nf;
	rc = send_msg(h, &out);
	drv_log_clear();
	drv_keep_free(&keep);
	free(items);
	free(itemp);
	return rc;
}

/* ---------------------------------------------------------- WorkRequest */

static struct drv_ctx *
find_driver(void *arg, enum drv_kind kind, const char *name)
{
	return def_find(arg, kind, name);
}

/* dry-run: each pusher step's outcome carries what its pusher said it
 * would do (the pushers of a dry run push one passenger). */
static void
dry_descriptions(struct host *h, Dbs__WorkResult *r)
{
	for (size_t i = 0; i < r->n_items; i++)
		for (size_t k = 0; k < r->items[i]->n_steps; k++) {
			Dbs__StepOutcome *so = r->items[i]->steps[k];
			struct drv_ctx *ctx =
			    def_find(h->def, DRV_PUSHER, so->name);

			if (ctx != NULL)
				so->dry_run =
				    (char *)drv_ctx_dry_description(ctx);
		}
}

static int
on_work(struct host *h, Dbs__WorkerMsg *m)
{
	struct work_env env = {h->client, h->definition, find_driver, h->def};
	Dbs__WorkerMsg out = DBS__WORKER_MSG__INIT;
	size_t n_logs;
	int rc;

	h->drive_id = m->work->drive_id;
	rc = work_run(&h->work, m->work, &env);
	if (rc == DBS_EPROTO)
		say(h, "protocol violation: a WorkItem without a passenger");
	if (rc != DBS_OK)
		return rc;
	if (h->dry)
		dry_descriptions(h, &h->work.result);
	h->work.result.logs = drv_log_entries(&n_logs);
	h->work.result.n_logs = n_logs;
	out.body_case = DBS__WORKER_MSG__BODY_WORK_RESULT;
	out.work_result = &h->work.result;
	if (protobuf_c_message_get_packed_size(&out.base) > WIRE_MAX_MSG)
		work_shrink(&h->work);
	rc = send_msg(h, &out);
	drv_log_clear();
	work_clear(&h->work);
	return rc;
}

/* --------------------------------------------------------------- Peek */

static int
peek_emit(void *arg, const struct drv_item *item)
{
	struct host *h = arg;
	int rc;

	if (h->peek_left == 0)
		return 1;
	rc = batch_add(&h->batch, h->puller, item, wire_now_us());
	if (rc != DBS_OK)
		return rc;
	return --h->peek_left == 0 ? 1 : 0;
}

static int
on_peek(struct host *h, Dbs__WorkerMsg *m)
{
	struct drv_sink sink = {peek_emit, h};
	char message[600] = "";
	uint32_t code = DBS_OK;
	nng_msg *msg;
	size_t i;
	int rc;

	h->drive_id = 0;
	h->peek_left = m->peek->limit != 0 ? m->peek->limit : PEEK_DEFAULT;
	if (h->peek_left > PEEK_MAX)
		h->peek_left = PEEK_MAX;
	batch_start(&h->batch, BATCH_PEEK);
	for (i = 0; i < def_count(h->def, DRV_PULLER) && h->peek_left > 0;
	     i++) {
		struct drv_ctx *ctx = def_get(h->def, DRV_PULLER, i);

		h->puller = drv_name(ctx);
		rc = drv_ctx_peek(ctx, &sink);
		if (rc == DBS_OK)
			continue;
		drv_log_host(DRV_ERROR, 0, h->puller, "peek failed: %s",
		    dbs_strerror(rc));
		if (code == DBS_OK) {
			code = DBS_EDRIVER;
			snprintf(message, sizeof(message), "%s: %s", h->puller,
			    dbs_strerror(rc));
		}
	}
	h->puller = NULL;
	rc = batch_finish_peek(
	    &h->batch, m->peek->peek_id, code, message, &msg);
	if (rc != DBS_OK) {
		say(h, "cannot encode a peek result: %s", dbs_strerror(rc));
		return rc;
	}
	rc = send_nng(h, msg);
	flush_logs(h);
	return rc;
}

/* --------------------------------------------------------------- Stop */

static int
on_stop(struct host *h, Dbs__WorkerMsg *m)
{
	h->stop = true;
	return DBS_OK;
}

/* ------------------------------------------------------------ dispatch */

/* Which message the supervisor may send in which state. Bodies not
 * listed (Ready, PulledBatch, ... — the worker's own messages) are never
 * allowed. */
static const struct {
	unsigned states;
	int (*handle)(struct host *h, Dbs__WorkerMsg *m);
} dispatch[] = {
    [DBS__WORKER_MSG__BODY_INIT] = {WS_WAIT_INIT, on_init},
    [DBS__WORKER_MSG__BODY_DRIVE] = {WS_RUNNING, on_drive},
    [DBS__WORKER_MSG__BODY_SEATED] = {WS_RUNNING, on_seated},
    [DBS__WORKER_MSG__BODY_WORK] = {WS_RUNNING, on_work},
    [DBS__WORKER_MSG__BODY_PEEK] = {WS_RUNNING, on_peek},
    [DBS__WORKER_MSG__BODY_STOP] = {WS_WAIT_INIT | WS_RUNNING, on_stop},
};

static const char *const body_names[] = {
    [DBS__WORKER_MSG__BODY__NOT_SET] = "an empty message",
    [DBS__WORKER_MSG__BODY_INIT] = "Init",
    [DBS__WORKER_MSG__BODY_READY] = "Ready",
    [DBS__WORKER_MSG__BODY_DRIVE] = "Drive",
    [DBS__WORKER_MSG__BODY_PULLED] = "PulledBatch",
    [DBS__WORKER_MSG__BODY_SEATED] = "SeatResult",
    [DBS__WORKER_MSG__BODY_NOTIFIED] = "Notified",
    [DBS__WORKER_MSG__BODY_WORK] = "WorkRequest",
    [DBS__WORKER_MSG__BODY_WORK_RESULT] = "WorkResult",
    [DBS__WORKER_MSG__BODY_LOG] = "LogBatch",
    [DBS__WORKER_MSG__BODY_PEEK] = "PeekRequest",
    [DBS__WORKER_MSG__BODY_PEEK_RESULT] = "PeekResult",
    [DBS__WORKER_MSG__BODY_HEARTBEAT] = "Heartbeat",
    [DBS__WORKER_MSG__BODY_STOP] = "Stop",
};

static int
handle(struct host *h, Dbs__WorkerMsg *m)
{
	size_t c = (size_t)m->body_case;

	if (c >= sizeof(dispatch) / sizeof(dispatch[0]) ||
	    dispatch[c].handle == NULL ||
	    (dispatch[c].states & h->state) == 0) {
		say(h, "protocol violation: %s while %s",
		    c < sizeof(body_names) / sizeof(body_names[0])
			? body_names[c]
			: "an unknown message",
		    h->state == WS_WAIT_INIT ? "waiting for Init" : "running");
		return DBS_EPROTO;
	}
	return dispatch[c].handle(h, m);
}

/* ---------------------------------------------------------------- main */

static void
on_signal(int sig)
{
	int e = errno;

	if (sig == SIGUSR1)
		got_stop = 1;
	else
		got_signal = sig;
	wake_loop();
	errno = e;
}

static void
pipe_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct host *h = arg;

	atomic_store(&h->peer_lost, true);
	wake_loop();
}

static int
dial(struct host *h, const char *url)
{
	long long until = wire_mono_ms() + DIAL_WAIT_MS;
	int rc;

	for (;;) {
		rc = nng_dial(h->sock, url, NULL, 0);
		if (rc == 0)
			return EXIT_STOP;
		if (rc != NNG_ECONNREFUSED && rc != NNG_ENOENT)
			break;
		if (wire_mono_ms() >= until)
			break;
		{
			struct timespec ts = {0, 20 * 1000000L};

			nanosleep(&ts, NULL);
		}
	}
	say(h, "cannot dial %s: %s", url, nng_strerror(rc));
	return rc == NNG_EADDRINVAL || rc == NNG_ENOTSUP ? EXIT_PERMANENT
							 : EXIT_TRANSIENT;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: databus-worker --socket URL --slot N [--parent PID]\n"
	    "                      [--limits memory=B,cpu=S,files=N]\n"
	    "       databus-worker --check < definitions.json\n"
	    "\n"
	    "Hosts the drivers of one passenger definition for databusd,\n"
	    "which starts it; --check validates driver settings (a JSON\n"
	    "array of {file, path, client, definition} on stdin).\n");
}

static bool
parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return s[0] >= '0' && s[0] <= '9' && *end == '\0' && errno == 0 &&
	       *out <= max;
}

/* The command line. */
struct options {
	const char *url;
	const char *limits;
	unsigned long long parent; /* 0: not watched */
	bool check;
	bool have_slot;
};

/* Read the command line into `o` (and the slot into `h`); -1 to go on, or
 * the exit code (usage, --version, --help). */
static int
parse_args(int argc, char **argv, struct host *h, struct options *o)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"slot", required_argument, NULL, 'n'},
	    {"parent", required_argument, NULL, 'p'},
	    {"check", no_argument, NULL, 'c'},
	    {"limits", required_argument, NULL, 'L'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	unsigned long long v;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->url = optarg;
			break;
		case 'n':
			if (!parse_uint(optarg, 1000000, &v)) {
				say(NULL, "--slot: expected a number");
				return EXIT_PERMANENT;
			}
			h->slot = (unsigned)v;
			o->have_slot = true;
			break;
		case 'p':
			if (!parse_uint(optarg, 0x7fffffff, &o->parent) ||
			    o->parent == 0) {
				say(NULL, "--parent: expected a pid");
				return EXIT_PERMANENT;
			}
			break;
		case 'c':
			o->check = true;
			break;
		case 'L':
			o->limits = optarg;
			break;
		case 'V':
			printf("databus-worker %s\n", DBS_VERSION);
			return EXIT_STOP;
		case 'h':
			usage(stdout);
			return EXIT_STOP;
		default:
			usage(stderr);
			return EXIT_PERMANENT;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_PERMANENT;
	}
	return -1;
}

/* Resource limits, death with the parent and signals, before any driver
 * is loaded; -1 to go on, or the exit code. */
static int
process_setup(struct host *h, const struct options *o)
{
	struct sigaction sa;

	/* Before any driver is loaded (faults: workers/worker_limits.c). */
	if (o->limits != NULL) {
		char err[256];

		if (worker_limits_apply(o->limits, err, sizeof(err)) != 0) {
			say(h, "%s", err);
			return EXIT_PERMANENT;
		}
	}
	/* Die with the parent; it may have died before prctl took effect. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
		say(h, "prctl: %s", strerror(errno));
		return EXIT_TRANSIENT;
	}
	if (o->parent != 0 && (unsigned long long)getppid() != o->parent) {
		say(h, "parent %llu is gone", o->parent);
		return EXIT_TRANSIENT;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return -1;
}

/* Open the socket and dial the supervisor; exits on failure. */
static void
connect_supervisor(struct host *h, const char *url)
{
	int rc;

	if (nng_pair1_open(&h->sock) != 0) {
		say(h, "cannot open a pair socket");
		exit(EXIT_TRANSIENT);
	}
	if ((wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    wire_socket_limits(h->sock, SEND_TIMEOUT_MS) != DBS_OK ||
	    nng_socket_get_int(h->sock, NNG_OPT_RECVFD, &h->recv_fd) != 0 ||
	    nng_pipe_notify(h->sock, NNG_PIPE_EV_REM_POST, pipe_removed, h) !=
		0) {
		say(h, "cannot set up the socket");
		worker_exit(h, EXIT_TRANSIENT);
	}
	rc = dial(h, url);
	if (rc != EXIT_STOP)
		worker_exit(h, rc);
}

/*
 * Sleep until a message may be in, the pipe went away or a signal came:
 * no timer wakes an idle worker but a rare check that its parent is
 * still there (PR_SET_PDEATHSIG already kills it when the parent dies).
 */
static void
wait_message(struct host *h, unsigned long long parent)
{
	struct pollfd p[2] = {{h->recv_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};

	if (got_signal != 0) {
		say(h, "signal %d without Stop", (int)got_signal);
		worker_exit(h, EXIT_TRANSIENT);
	}
	if (got_stop)
		worker_exit(h, EXIT_STOP);
	if (atomic_load(&h->peer_lost)) {
		say(h, "the supervisor closed the socket");
		worker_exit(h, EXIT_TRANSIENT);
	}
	if (poll(p, 2, PARENT_CHECK_MS) == 0 && parent != 0 &&
	    (unsigned long long)getppid() != parent) {
		say(h, "parent %llu is gone", parent);
		worker_exit(h, EXIT_TRANSIENT);
	}
}

/* Receive and handle messages, one at a time, until an exit. */
static void __attribute__((noreturn))
serve(struct host *h, unsigned long long parent)
{
	for (;;) {
		Dbs__WorkerMsg *m = NULL;
		int rc;

		if (got_signal != 0) {
			say(h, "signal %d without Stop", (int)got_signal);
			worker_exit(h, EXIT_TRANSIENT);
		}
		if (got_stop)
			worker_exit(h, EXIT_STOP);
		rc = wire_recv_worker(h->sock, &m, NNG_FLAG_NONBLOCK);
		if (rc == DBS_EBUSY) {
			wait_message(h, parent);
			continue;
		}
		if (rc == DBS_EPROTO) {
			say(h, "protocol violation: a message that does not "
			       "decode");
			worker_exit(h, EXIT_TRANSIENT);
		}
		if (rc != DBS_OK) {
			say(h, "socket lost: %s", dbs_strerror(rc));
			worker_exit(h, EXIT_TRANSIENT);
		}
		rc = handle(h, m);
		dbs__worker_msg__free_unpacked(m, NULL);
		if (h->stop)
			worker_exit(h, EXIT_STOP);
		if (rc == DBS_EPROTO || h->dead)
			worker_exit(h, EXIT_TRANSIENT);
		if (rc != DBS_OK) {
			say(h, "cannot answer: %s", dbs_strerror(rc));
			worker_exit(h, EXIT_TRANSIENT);
		}
	}
}

int
main(int argc, char **argv)
{
	static struct host h; /* zeroed; reached from callbacks */
	struct options o = {0};
	int rc;

	if ((rc = parse_args(argc, argv, &h, &o)) >= 0)
		return rc;
	if (o.check)
		return check_run(stdin, stdout);
	if (o.url == NULL || !o.have_slot) {
		usage(stderr);
		return EXIT_PERMANENT;
	}
	if ((rc = process_setup(&h, &o)) >= 0)
		return rc;
	connect_supervisor(&h, o.url);
	h.state = WS_WAIT_INIT;
	drv_log_set_flush(flush_logs_cb, &h);
	serve(&h, o.parent);
}
