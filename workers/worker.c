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
 * Exit codes: 0 after Stop; 100 on bad usage or a driver configuration
 * error (after Ready with the error); 111 when the socket or the parent is
 * lost, on a protocol violation, or on SIGTERM/SIGINT without Stop.
 */
#include <errno.h>
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
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "check.h"
#include "databus.pb-c.h"
#include "dbs_error.h"
#include "definition.h"
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
#define RECV_POLL_MS    250  /* how often an idle worker checks its peer */
#define DIAL_WAIT_MS    5000 /* how long the listener may take to appear */
#define DRAIN_MS        500  /* lets a last message leave before exit */
#define PEEK_DEFAULT    20
#define PEEK_MAX        1000

enum wstate {
	WS_WAIT_INIT = 1 << 0,
	WS_RUNNING = 1 << 1,
};

struct worker {
	nng_socket sock;
	unsigned slot;
	enum wstate state;
	bool stop; /* Stop received */
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

static void say(const struct worker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
say(const struct worker *w, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "databus-worker[%u]: ", w != NULL ? w->slot : 0);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---------------------------------------------------------------- exits */

static void hb_stop(struct worker *w);
static void worker_exit(struct worker *w, int code) __attribute__((noreturn));

/* Finalise every driver, release everything (so leak checkers see a clean
 * exit whatever the path) and exit with `code`. */
static void
worker_exit(struct worker *w, int code)
{
	hb_stop(w);
	def_close(w->def); /* fini every driver */
	w->def = NULL;
	drv_log_set_flush(NULL, NULL);
	drv_log_clear();
	batch_free(&w->batch);
	work_free(&w->work);
	nng_close(w->sock);
	free(w->client);
	free(w->definition);
	fflush(stderr);
	exit(code);
}

/* Give the last queued message time to reach the supervisor: nng has no
 * linger, and closing the socket drops what is still queued. */
static void
drain(struct worker *w)
{
	long long until = wire_mono_ms() + DRAIN_MS;

	while (!atomic_load(&w->peer_lost) && wire_mono_ms() < until) {
		struct timespec ts = {0, 10 * 1000000L};

		nanosleep(&ts, NULL);
	}
}

/* ---------------------------------------------------------------- sends */

static int
send_msg(struct worker *w, Dbs__WorkerMsg *m)
{
	int rc;

	if (w->dead)
		return DBS_ETRANSPORT;
	rc = wire_send(w->sock, &m->base, 0);
	if (rc != DBS_OK) {
		say(w, "cannot send to the supervisor: %s", dbs_strerror(rc));
		w->dead = true;
	}
	return rc;
}

static int
send_nng(struct worker *w, nng_msg *msg)
{
	int rc;

	if (w->dead) {
		nng_msg_free(msg);
		return DBS_ETRANSPORT;
	}
	rc = nng_sendmsg(w->sock, msg, 0);
	if (rc != 0) {
		nng_msg_free(msg);
		say(w, "cannot send to the supervisor: %s", nng_strerror(rc));
		w->dead = true;
		return DBS_ETRANSPORT;
	}
	return DBS_OK; /* msg transferred */
}

/* Send the buffered log entries as a LogBatch (nothing if none). */
static void
flush_logs(struct worker *w)
{
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
	Dbs__LogBatch lb = DBS__LOG_BATCH__INIT;
	size_t n;

	lb.entries = drv_log_entries(&n);
	if (n == 0)
		return;
	lb.n_entries = n;
	lb.drive_id = w->drive_id;
	m.body_case = DBS__WORKER_MSG__BODY_LOG;
	m.log = &lb;
	(void)send_msg(w, &m);
	drv_log_clear();
}

static void
flush_logs_cb(void *arg)
{
	flush_logs(arg);
}

/* Close the current pulled batch and send it with the buffered logs. */
static int
send_pulled(struct worker *w, bool last)
{
	Dbs__LogEntry **logs;
	nng_msg *msg;
	size_t n;
	int rc;

	logs = drv_log_entries(&n);
	if (n > 0 && w->batch.len > BATCH_MAX_BYTES) {
		/* A huge single item: keep the message within bounds. */
		flush_logs(w);
		logs = drv_log_entries(&n);
	}
	rc = batch_finish_pulled(&w->batch, w->drive_id, last, logs, n, &msg);
	if (rc != DBS_OK) {
		say(w, "cannot encode a pulled batch: %s", dbs_strerror(rc));
		w->dead = true;
		return rc;
	}
	drv_log_clear();
	batch_start(&w->batch, BATCH_PULLED);
	return send_nng(w, msg);
}

/* ----------------------------------------------------------- heartbeats */

static uint64_t
rss_kib(void)
{
	unsigned long long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * (uint64_t)sysconf(_SC_PAGESIZE) / 1024;
}

static void *
hb_main(void *arg)
{
	struct worker *w = arg;
	struct timespec deadline;

	pthread_mutex_lock(&w->hb_mu);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	while (!w->hb_stop) {
		deadline.tv_sec += w->heartbeat_ms / 1000;
		deadline.tv_nsec += (long)(w->heartbeat_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		while (!w->hb_stop && pthread_cond_timedwait(&w->hb_cv,
					  &w->hb_mu, &deadline) != ETIMEDOUT)
			;
		if (w->hb_stop)
			break;
		pthread_mutex_unlock(&w->hb_mu);
		{
			Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
			Dbs__Heartbeat hb = DBS__HEARTBEAT__INIT;

			hb.time_ms = wire_now_ms();
			hb.rss_kib = rss_kib();
			m.body_case = DBS__WORKER_MSG__BODY_HEARTBEAT;
			m.heartbeat = &hb;
			/* Never block: a full queue means the supervisor
			 * is busy reading results, which is liveness too. */
			(void)wire_send(w->sock, &m.base, NNG_FLAG_NONBLOCK);
		}
		pthread_mutex_lock(&w->hb_mu);
	}
	pthread_mutex_unlock(&w->hb_mu);
	return NULL;
}

static int
hb_start(struct worker *w)
{
	pthread_condattr_t ca;

	if (w->heartbeat_ms == 0)
		return DBS_OK;
	if (w->heartbeat_ms < 10)
		w->heartbeat_ms = 10;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->hb_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&w->hb_mu, NULL);
	if (pthread_create(&w->hb_thread, NULL, hb_main, w) != 0) {
		pthread_cond_destroy(&w->hb_cv);
		pthread_mutex_destroy(&w->hb_mu);
		return DBS_ENOMEM;
	}
	w->hb_running = true;
	return DBS_OK;
}

static void
hb_stop(struct worker *w)
{
	if (!w->hb_running)
		return;
	pthread_mutex_lock(&w->hb_mu);
	w->hb_stop = true;
	pthread_cond_signal(&w->hb_cv);
	pthread_mutex_unlock(&w->hb_mu);
	pthread_join(w->hb_thread, NULL);
	pthread_cond_destroy(&w->hb_cv);
	pthread_mutex_destroy(&w->hb_mu);
	w->hb_running = false;
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
send_ready(struct worker *w, uint32_t code, const char *message)
{
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
	Dbs__Ready r = DBS__READY__INIT;

	r.pid = (int32_t)getpid();
	r.code = code;
	r.message = (char *)(message != NULL ? message : "");
	r.version = (char *)DBS_VERSION;
	m.body_case = DBS__WORKER_MSG__BODY_READY;
	m.ready = &r;
	return send_msg(w, &m);
}

static void init_failed(struct worker *w, uint32_t code, const char *message)
    __attribute__((noreturn));

/* Answer Init with the error, let it reach the supervisor, and exit:
 * 100 for a configuration error (do not restart), 111 otherwise. */
static void
init_failed(struct worker *w, uint32_t code, const char *message)
{
	say(w, "init failed: %s", message);
	if (send_ready(w, code, message) == DBS_OK) {
		flush_logs(w);
		drain(w);
	}
	worker_exit(w, code == DBS_ENOMEM ? EXIT_TRANSIENT : EXIT_PERMANENT);
}

static int
on_init(struct worker *w, Dbs__WorkerMsg *m)
{
	Dbs__Init *in = m->init;
	struct first_problem fp = {.set = false};
	json_error_t jerr;
	json_t *def;
	int rc;

	w->client = strdup(in->client);
	w->definition = strdup(in->definition);
	if (w->client == NULL || w->definition == NULL)
		init_failed(w, DBS_ENOMEM, "out of memory");
	w->heartbeat_ms = in->heartbeat_ms;
	def = json_loads(in->config_json, 0, &jerr);
	if (def == NULL) {
		snprintf(
		    fp.msg, sizeof(fp.msg), "$: invalid JSON: %s", jerr.text);
		init_failed(w, DBS_ECONFIG, fp.msg);
	}
	rc = def_open(def, in->client, in->definition,
	    in->data_dir[0] != '\0' ? in->data_dir : NULL, false, init_problem,
	    &fp, &w->def);
	json_decref(def);
	if (rc != DBS_OK)
		init_failed(w, rc, fp.set ? fp.msg : dbs_strerror(rc));
	if (send_ready(w, DBS_OK, "") != DBS_OK)
		return DBS_ETRANSPORT;
	flush_logs(w);
	if (hb_start(w) != DBS_OK)
		say(w, "cannot start the heartbeat thread");
	w->state = WS_RUNNING;
	return DBS_OK;
}

/* ---------------------------------------------------------------- Drive */

static int
pull_emit(void *arg, const struct drv_item *item)
{
	struct worker *w = arg;
	int rc;

	if (w->dead)
		return DBS_ETRANSPORT;
	rc = batch_add(&w->batch, w->puller, item, wire_now_us());
	if (rc == DBS_EBUSY) {
		if (send_pulled(w, false) != DBS_OK)
			return DBS_ETRANSPORT;
		rc = batch_add(&w->batch, w->puller, item, wire_now_us());
	}
	return rc;
}

static int
on_drive(struct worker *w, Dbs__WorkerMsg *m)
{
	struct drv_sink sink = {pull_emit, w};
	size_t i;

	w->drive_id = m->drive->drive_id;
	batch_start(&w->batch, BATCH_PULLED);
	for (i = 0; m->drive->pull && i < def_count(w->def, DRV_PULLER); i++) {
		struct drv_ctx *ctx = def_get(w->def, DRV_PULLER, i);
		int rc;

		w->puller = drv_name(ctx);
		rc = drv_ctx_pull(ctx, &sink);
		if (w->dead)
			return DBS_ETRANSPORT;
		if (rc != DBS_OK)
			drv_log_host(DRV_ERROR, 0, w->puller,
			    "pull failed: %s", dbs_strerror(rc));
	}
	w->puller = NULL;
	return send_pulled(w, true);
}

/* ----------------------------------------------------------- SeatResult */

static int
on_seated(struct worker *w, Dbs__WorkerMsg *m)
{
	Dbs__SeatResult *sr = m->seated;
	Dbs__WorkerMsg out = DBS__WORKER_MSG__INIT;
	Dbs__Notified nf = DBS__NOTIFIED__INIT;
	Dbs__NotifyOutcome *items, **itemp;
	struct drv_keep keep = {0};
	size_t i, n_logs;
	int rc;

	w->drive_id = sr->drive_id;
	items = calloc(sr->n_items + 1, sizeof(*items));
	itemp = calloc(sr->n_items + 1, sizeof(*itemp));
	if (items == NULL || itemp == NULL) {
		free(items);
		free(itemp);
		return DBS_ENOMEM;
	}
	for (i = 0; i < sr->n_items; i++) {
		Dbs__SeatedItem *si = sr->items[i];
		struct drv_ctx *ctx = def_find(w->def, DRV_PULLER, si->puller);
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
	rc = send_msg(w, &out);
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

static int
on_work(struct worker *w, Dbs__WorkerMsg *m)
{
	struct work_env env = {w->client, w->definition, find_driver, w->def};
	Dbs__WorkerMsg out = DBS__WORKER_MSG__INIT;
	size_t n_logs;
	int rc;

	w->drive_id = m->work->drive_id;
	rc = work_run(&w->work, m->work, &env);
	if (rc == DBS_EPROTO)
		say(w, "protocol violation: a WorkItem without a passenger");
	if (rc != DBS_OK)
		return rc;
	w->work.result.logs = drv_log_entries(&n_logs);
	w->work.result.n_logs = n_logs;
	out.body_case = DBS__WORKER_MSG__BODY_WORK_RESULT;
	out.work_result = &w->work.result;
	if (protobuf_c_message_get_packed_size(&out.base) > WIRE_MAX_MSG)
		work_shrink(&w->work);
	rc = send_msg(w, &out);
	drv_log_clear();
	work_clear(&w->work);
	return rc;
}

/* --------------------------------------------------------------- Peek */

static int
peek_emit(void *arg, const struct drv_item *item)
{
	struct worker *w = arg;
	int rc;

	if (w->peek_left == 0)
		return 1;
	rc = batch_add(&w->batch, w->puller, item, wire_now_us());
	if (rc != DBS_OK)
		return rc;
	return --w->peek_left == 0 ? 1 : 0;
}

static int
on_peek(struct worker *w, Dbs__WorkerMsg *m)
{
	struct drv_sink sink = {peek_emit, w};
	char message[600] = "";
	uint32_t code = DBS_OK;
	nng_msg *msg;
	size_t i;
	int rc;

	w->drive_id = 0;
	w->peek_left = m->peek->limit != 0 ? m->peek->limit : PEEK_DEFAULT;
	if (w->peek_left > PEEK_MAX)
		w->peek_left = PEEK_MAX;
	batch_start(&w->batch, BATCH_PEEK);
	for (i = 0; i < def_count(w->def, DRV_PULLER) && w->peek_left > 0;
	     i++) {
		struct drv_ctx *ctx = def_get(w->def, DRV_PULLER, i);

		w->puller = drv_name(ctx);
		rc = drv_ctx_peek(ctx, &sink);
		if (rc == DBS_OK)
			continue;
		drv_log_host(DRV_ERROR, 0, w->puller, "peek failed: %s",
		    dbs_strerror(rc));
		if (code == DBS_OK) {
			code = DBS_EDRIVER;
			snprintf(message, sizeof(message), "%s: %s", w->puller,
			    dbs_strerror(rc));
		}
	}
	w->puller = NULL;
	rc = batch_finish_peek(
	    &w->batch, m->peek->peek_id, code, message, &msg);
	if (rc != DBS_OK) {
		say(w, "cannot encode a peek result: %s", dbs_strerror(rc));
		return rc;
	}
	rc = send_nng(w, msg);
	flush_logs(w);
	return rc;
}

/* --------------------------------------------------------------- Stop */

static int
on_stop(struct worker *w, Dbs__WorkerMsg *m)
{
	w->stop = true;
	return DBS_OK;
}

/* ------------------------------------------------------------ dispatch */

/* Which message the supervisor may send in which state. Bodies not
 * listed (Ready, PulledBatch, ... — the worker's own messages) are never
 * allowed. */
static const struct {
	unsigned states;
	int (*handle)(struct worker *w, Dbs__WorkerMsg *m);
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
handle(struct worker *w, Dbs__WorkerMsg *m)
{
	size_t c = (size_t)m->body_case;

	if (c >= sizeof(dispatch) / sizeof(dispatch[0]) ||
	    dispatch[c].handle == NULL ||
	    (dispatch[c].states & w->state) == 0) {
		say(w, "protocol violation: %s while %s",
		    c < sizeof(body_names) / sizeof(body_names[0])
			? body_names[c]
			: "an unknown message",
		    w->state == WS_WAIT_INIT ? "waiting for Init" : "running");
		return DBS_EPROTO;
	}
	return dispatch[c].handle(w, m);
}

/* ---------------------------------------------------------------- main */

static void
on_signal(int sig)
{
	got_signal = sig;
}

static void
pipe_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct worker *w = arg;

	atomic_store(&w->peer_lost, true);
}

static int
dial(struct worker *w, const char *url)
{
	long long until = wire_mono_ms() + DIAL_WAIT_MS;
	int rc;

	for (;;) {
		rc = nng_dial(w->sock, url, NULL, 0);
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
	say(w, "cannot dial %s: %s", url, nng_strerror(rc));
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

int
main(int argc, char **argv)
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
	static struct worker w; /* zeroed; reached from callbacks */
	const char *url = NULL, *limits = NULL;
	unsigned long long v, parent = 0;
	bool check = false, have_slot = false;
	struct sigaction sa;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			url = optarg;
			break;
		case 'n':
			if (!parse_uint(optarg, 1000000, &v)) {
				say(NULL, "--slot: expected a number");
				return EXIT_PERMANENT;
			}
			w.slot = (unsigned)v;
			have_slot = true;
			break;
		case 'p':
			if (!parse_uint(optarg, 0x7fffffff, &parent) ||
			    parent == 0) {
				say(NULL, "--parent: expected a pid");
				return EXIT_PERMANENT;
			}
			break;
		case 'c':
			check = true;
			break;
		case 'L':
			limits = optarg;
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
	if (check)
		return check_run(stdin, stdout);
	if (url == NULL || !have_slot) {
		usage(stderr);
		return EXIT_PERMANENT;
	}
	/* Before any driver is loaded (faults: workers/worker_limits.c). */
	if (limits != NULL) {
		char err[256];

		if (worker_limits_apply(limits, err, sizeof(err)) != 0) {
			say(&w, "%s", err);
			return EXIT_PERMANENT;
		}
	}

	/* Die with the parent; it may have died before prctl took effect. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
		say(&w, "prctl: %s", strerror(errno));
		return EXIT_TRANSIENT;
	}
	if (parent != 0 && (unsigned long long)getppid() != parent) {
		say(&w, "parent %llu is gone", parent);
		return EXIT_TRANSIENT;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (nng_pair1_open(&w.sock) != 0) {
		say(&w, "cannot open a pair socket");
		return EXIT_TRANSIENT;
	}
	if (wire_socket_limits(w.sock, SEND_TIMEOUT_MS) != DBS_OK ||
	    nng_socket_set_ms(w.sock, NNG_OPT_RECVTIMEO, RECV_POLL_MS) != 0 ||
	    nng_pipe_notify(w.sock, NNG_PIPE_EV_REM_POST, pipe_removed, &w) !=
		0) {
		say(&w, "cannot set up the socket");
		worker_exit(&w, EXIT_TRANSIENT);
	}
	rc = dial(&w, url);
	if (rc != EXIT_STOP)
		worker_exit(&w, rc);
	w.state = WS_WAIT_INIT;
	drv_log_set_flush(flush_logs_cb, &w);

	for (;;) {
		Dbs__WorkerMsg *m = NULL;

		if (got_signal != 0) {
			say(&w, "signal %d without Stop", (int)got_signal);
			worker_exit(&w, EXIT_TRANSIENT);
		}
		rc = wire_recv_worker(w.sock, &m, 0);
		if (rc == DBS_ETIMEOUT) {
			if (atomic_load(&w.peer_lost)) {
				say(&w, "the supervisor closed the socket");
				worker_exit(&w, EXIT_TRANSIENT);
			}
			if (parent != 0 &&
			    (unsigned long long)getppid() != parent) {
				say(&w, "parent %llu is gone", parent);
				worker_exit(&w, EXIT_TRANSIENT);
			}
			continue;
		}
		if (rc == DBS_EPROTO) {
			say(&w, "protocol violation: a message that does not "
				"decode");
			worker_exit(&w, EXIT_TRANSIENT);
		}
		if (rc != DBS_OK) {
			say(&w, "socket lost: %s", dbs_strerror(rc));
			worker_exit(&w, EXIT_TRANSIENT);
		}
		rc = handle(&w, m);
		dbs__worker_msg__free_unpacked(m, NULL);
		if (w.stop)
			worker_exit(&w, EXIT_STOP);
		if (rc == DBS_EPROTO || w.dead)
			worker_exit(&w, EXIT_TRANSIENT);
		if (rc != DBS_OK) {
			say(&w, "cannot answer: %s", dbs_strerror(rc));
			worker_exit(&w, EXIT_TRANSIENT);
		}
	}
}
