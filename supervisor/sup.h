/*
 * sup.h — the state of databusd, shared by its modules.
 *
 * databusd is one single-threaded event loop (main.c) over a signalfd and
 * the notification fds of its nng sockets. It owns the configuration, the
 * scheduler, the table of workers (child.c), the drives (drive.c), the
 * control socket (control.c) and every write to the store.
 *
 * Writes are group-committed: handlers add changes to one open write
 * transaction (sup_txn) and queue whatever must only be said after those
 * changes are durable (seat results to workers, control replies) with
 * sup_after_commit(). The loop commits once per burst of messages and then
 * flushes that outbox; if the commit fails, the outbox is dropped and the
 * workers it concerned are restarted, so nothing is acknowledged that is
 * not stored.
 */
#ifndef DBS_SUP_H
#define DBS_SUP_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "databus.pb-c.h"
#include "sched.h"
#include "store.h"

#define SUP_VERSION "0.1.0"

/* A batch stops taking worker messages past this many attachment bytes,
 * so one commit stays small next to the map's free space. */
#define SUP_BATCH_BYTES (16u << 20)

struct drive;
struct peek;
struct notify_batch;

/* One worker process hosting one passenger definition. */
struct worker {
	uint32_t slot;
	struct cfg_definition *def; /* into sup->cfg */
	char *def_json;             /* the config it was started with */
	nng_socket sock;
	bool sock_open;
	int recv_fd;
	pid_t pid;
	Dbs__WorkerState state;
	int64_t started_ms;      /* monotonic */
	int64_t started_wall_ms; /* for status */
	int64_t last_beat_ms;    /* monotonic */
	int64_t restart_at_ms;   /* monotonic, in BACKOFF */
	struct restart_state rs;
	uint32_t restarts;
	char last_exit[64];
	char error[512];
	uint64_t rss_kib;
	bool permanent;      /* exited 100: do not restart */
	bool removed;        /* gone from the config: free when stopped */
	bool restart_wanted; /* config changed: restart when idle */
	bool stop_sent;
	bool killed;       /* SIGKILL sent: deaf and mute until reaped */
	bool resume_drive; /* crashed mid-drive: drive again once up */
	/* Passengers left to work one at a time: the worker died with this
	 * many in flight, so one of them may be poison (drive.c). */
	uint32_t isolate;
	int64_t exited_ms; /* monotonic: when the last incarnation ended */
	/* SeatResults a dead incarnation never answered: sent again at the
	 * next drive, so that no passenger waits for a lost notify. */
	struct notify_batch *renotify;
	bool notify_swept;      /* the stored lost notifies were sent again */
	struct drive *drive;    /* active drive, or NULL */
	char last_outcome[256]; /* of the last drive, for status */
	/* webapi: counters for /metrics (metrics.c) */
	uint64_t m_drives, m_aborted, m_step_failures, m_dead;
};

/* databus-web, supervised like a worker (web.c). */
struct web_child {
	pid_t pid;
	Dbs__WorkerState state;
	int64_t started_ms;    /* monotonic */
	int64_t restart_at_ms; /* monotonic, in BACKOFF */
	struct restart_state rs;
	uint32_t restarts;
	char error[256];
};

/* webapi: a latency histogram (metrics.c); bucket i counts observations
 * up to metrics_bounds[i], the last one the rest. */
#define SUP_HIST_BUCKETS 15
struct sup_hist {
	uint64_t counts[SUP_HIST_BUCKETS + 1];
	uint64_t count;
	double sum_s;
};

struct outmsg {
	struct outmsg *next;
	struct worker *w; /* NULL: a control reply */
	nng_msg *msg;
};

struct sup {
	struct config *cfg;
	struct store *st;
	struct store_txn *txn; /* the open write batch, or NULL */
	struct sched *sched;
	struct worker **workers;
	size_t n_workers;
	uint32_t next_slot;
	char run_dir[4096];

	nng_socket ctl; /* rep0 raw */
	int ctl_fd;
	nng_socket events; /* pub0 */
	uint64_t published_seq;

	struct outmsg *out_head, **out_tail;
	struct peek *peeks;
	uint64_t next_peek_id;

	uint64_t next_drive_id;
	bool shutting_down;
	int64_t shutdown_deadline_ms; /* monotonic; SIGTERM after it */
	bool sigterm_sent;
	bool intake_paused; /* by a store error */
	char store_error[512];
	int store_rc;          /* the code that paused intake */
	char store_cause[512]; /* its message, before any waiting note */
	int64_t probe_at_ms;   /* monotonic: next store probe while paused */
	int64_t started_wall_ms;
	uint64_t commits;
	bool reload_requested;
	struct web_child web;
	bool in_failure;    /* handling a store failure: no new batch */
	size_t batch_bytes; /* attachment bytes in the open batch */
	/* webapi: commit latency, session expiry (metrics.c, sessions.c) */
	struct sup_hist commit_hist;
	int64_t session_sweep_at_ms; /* monotonic */
	uint64_t sessions_expired;
};

/* A random 64-bit value (libsodium), for backoff jitter. */
uint64_t sup_random64(void);

/* Start a child process (child.c); 0 or an errno value. */
int sup_spawn(const struct sup *s, char *const argv[], pid_t *pid);

/* Log a line to stderr with a timestamp: "databusd: ..." */
void sup_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The open write transaction, beginning one when needed. NULL when the
 * store cannot begin one (the reason is in sup->store_error). */
struct store_txn *sup_txn(struct sup *s);

/* Send `msg` to `w` (or, with w NULL, as a control reply) once the current
 * write batch is committed; at once when none is open. Takes `msg`. */
void sup_after_commit(struct sup *s, struct worker *w, nng_msg *msg);

/* Pack `m` and queue it for worker `w` with sup_after_commit(). */
int sup_send_worker(struct sup *s, struct worker *w, const Dbs__WorkerMsg *m);
int sup_pack_worker_msg(const Dbs__WorkerMsg *m, nng_msg **msg);

/* Send a control reply at once, whatever the open batch (for replies
 * that report and change nothing). Takes `msg`. */
void sup_send_now(struct sup *s, nng_msg *msg);

/* dedupe: send `r` as the control reply to the request in `msg` (consumed,
 * its backtrace header kept): at once when `now`, else after the commit. */
void sup_control_reply(
    struct sup *s, nng_msg *msg, Dbs__ControlReply *r, bool now);

/* Commit the open batch and flush the outbox; on failure handle it. */
int sup_commit(struct sup *s);

/* A store call failed with rc inside the batch: abort it and handle. */
void sup_store_failed(struct sup *s, int rc, const char *what);

/* Append an event about a worker / definition / the system. */
void sup_event_worker(struct sup *s, const struct worker *w);
void sup_event_definition(struct sup *s, const struct worker *w);
void sup_event_system(struct sup *s);

/* events.c (events): append an event about a resource to the open batch;
 * a definition (and its worker) created or deleted; event-log retention by
 * age. */
void sup_event_append(struct sup *s, const char *client, Dbs__Resource res,
    Dbs__EventKind kind, const ProtobufCMessage *m);
void sup_event_definition_kind(
    struct sup *s, const struct worker *w, Dbs__EventKind kind);
void sup_events_timers(struct sup *s, int64_t now, int64_t *wake);

/* system_live.c (diskui): while a store error pauses intake, publish the
 * system state on the events socket (not stored), every 250 ms, and once
 * more when intake resumes. */
void sup_system_live_timers(struct sup *s, int64_t now, int64_t *wake);

void sup_fill_worker_info(
    const struct sup *s, const struct worker *w, Dbs__WorkerInfo *wi);
void sup_fill_definition_info(struct sup *s, const struct worker *w,
    Dbs__DefinitionInfo *di, Dbs__WorkerInfo *wi);
/* Frees the name lists sup_fill_definition_info allocated. */
void sup_clear_definition_info(Dbs__DefinitionInfo *di);
void sup_fill_system_state(const struct sup *s, Dbs__SystemState *ss);

struct worker *sup_find_worker(
    struct sup *s, const char *client, const char *definition);

/* Begin a graceful shutdown. */
void sup_begin_shutdown(struct sup *s, const char *why);

/* Reload the configuration; err gets the reason on failure. */
int sup_reload(struct sup *s, char *err, size_t errlen);

/* child.c */
int child_spawn(struct sup *s, struct worker *w);
void child_kill(struct sup *s, struct worker *w, const char *why);
void child_reaped(struct sup *s, struct worker *w, int status);
void child_handle(struct sup *s, struct worker *w);
void child_timers(struct sup *s, int64_t now, int64_t *wake);
void child_stop(struct sup *s, struct worker *w);
/* Close a worker's socket without waiting for it (a thread does), and how
 * many such closes are still under way (child.c). */
void child_close_socket(nng_socket sock);
int child_closing(void);
bool child_permitted(
    Dbs__WorkerState state, bool driving, Dbs__WorkerMsg__BodyCase body);
const char *child_state_name(Dbs__WorkerState st);

/* drive.c */
void drive_start(struct sup *s, struct worker *w, bool pull);
void drive_on_pulled(struct sup *s, struct worker *w, Dbs__PulledBatch *b);
void drive_on_notified(struct sup *s, struct worker *w, Dbs__Notified *n);
void drive_on_work_result(struct sup *s, struct worker *w, Dbs__WorkResult *r);
void drive_on_log(struct sup *s, struct worker *w, Dbs__LogBatch *l);
void drive_dispatch(struct sup *s, struct worker *w);
/* A passenger of w's definition became due now (a webhook delivery): true
 * if the running drive takes it (it is young enough), false if the caller
 * must make a drive due. */
bool drive_take_new(struct sup *s, struct worker *w);
void drive_abort(struct sup *s, struct worker *w, const char *why);
/* Ask the scheduler for a work drive when the definition's earliest
 * pending passenger is due. */
void drive_schedule_retry(struct sup *s, struct worker *w);
void drive_free(struct drive *d);
void drive_free_notify(struct notify_batch *nb); /* the whole list */
void drive_timers(struct sup *s, struct worker *w, int64_t now, int64_t *wake);
/* Recompute state/next attempt of a passenger from its steps (not for
 * dead ones); returns the new state. */
int drive_settle_passenger(Dbs__Passenger *p, int64_t now);

/* control.c */
int control_open(struct sup *s);
void control_handle(struct sup *s);
void control_on_peek_result(
    struct sup *s, struct worker *w, Dbs__PeekResult *r);
void control_fail_peeks(
    struct sup *s, struct worker *w, int code, const char *msg);
void control_timers(struct sup *s, int64_t now, int64_t *wake);

/* web.c */
void web_start(struct sup *s);
/* True when `pid` was the web's (then handled). */
bool web_reaped(struct sup *s, pid_t pid, int status);
void web_timers(struct sup *s, int64_t now, int64_t *wake);
void web_stop(struct sup *s, int sig);

/* config_save.c (webcfg): config_list, config_get, config_validate and
 * config_save (answers the request itself), and export_event. */
void config_ctl_handle(
    struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req);
int config_export_event(
    struct sup *s, const Dbs__WebExportEvent *ev, char *err, size_t errlen);

/* users.c */
int users_import(struct sup *s);

/* metrics.c (webapi): counters and the commit latency histogram. */
int64_t metrics_now_us(void);
void metrics_commit_observe(struct sup *s, int64_t elapsed_us);
void metrics_drive_finished(
    struct worker *w, const char *outcome, uint32_t failed, uint32_t dead);
void metrics_fill_definition(const struct worker *w, Dbs__DefinitionInfo *di);
/* Point st->commit_latency at `h`, filled from s (valid while s is). */
void metrics_fill_status(
    struct sup *s, Dbs__StatusReply *st, Dbs__MetricsHistogram *h);

/* sessions.c (webapi): session life times and the sweep of expired ones. */
int sessions_create(struct sup *s, const Dbs__SessionCreate *c);
int sessions_touch(struct sup *s, const Dbs__SessionRef *r);
void sessions_timers(struct sup *s, int64_t now, int64_t *wake);

#endif
