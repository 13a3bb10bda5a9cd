/*
 * sup.h — the state of databusd, shared by its modules.
 *
 * databusd is one single-threaded event loop (main.c) over a signalfd and
 * the notification fds of its nng sockets. It owns the configuration, the
 * scheduler, the table of workers (reload.c) and their processes
 * (child.c, life.c), what the workers say (dispatch.c), the drives
 * (drive.c), the control socket (control.c) and every write to the store
 * (commit.c: group commit, outbox, store failures).
 *
 * This header holds the shared state (struct sup, struct worker) and the
 * few helpers every module uses; each module declares its functions in
 * its own header (commit.h, status.h, reload.h, dispatch.h, child.h,
 * life.h, drive.h, passenger.h, control.h, event_log.h). struct sup is
 * still visible to every module: making it opaque is a later step. The
 * declarations below the state are those of the small modules with no
 * header of their own (system_live.c, config_save.c, users.c, metrics.c,
 * sessions.c).
 */
#ifndef DBS_SUP_H
#define DBS_SUP_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "log_priority.h"
#include "databus.pb-c.h"
#include "sched.h"
#include "store.h"

#define SUP_VERSION "0.1.0"

/* A batch stops taking worker messages past this many attachment bytes,
 * so one commit stays small next to the map's free space. */
#define SUP_BATCH_BYTES (16u << 20)

/* Whether databusd closes every socket and frees everything before it
 * exits. Under ASan it does, so that the leak checker sees a clean
 * teardown; a release databusd leaves the workers' sockets of a shutdown
 * to the exit (a thousand nng_close calls take seconds). */
#if defined(__SANITIZE_ADDRESS__)
#define SUP_FULL_TEARDOWN 1
#else
#define SUP_FULL_TEARDOWN 0
#endif

struct drive;
struct peek;
struct notify_batch;
struct quota;
struct history;

/* One worker process hosting one passenger definition. */
struct worker {
	uint32_t slot;
	struct cfg_definition *def; /* into sup->cfg */
	char *def_json;             /* the config it was started with */
	nng_socket sock;
	bool sock_open;
	int recv_fd;
	pid_t pid;
	pid_t pgid; /* its process group (s->worker_pgid when spawned) */
	Dbs__WorkerState state;
	int64_t started_ms;      /* monotonic */
	int64_t started_wall_ms; /* for status */
	int64_t last_beat_ms;    /* monotonic */
	int64_t beat_ms;         /* its heartbeat period (child.c) */
	bool start_queued;       /* waiting in s->start_queue */
	size_t driving_ix;       /* in s->driving while w->drive != NULL */
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
	bool killed; /* SIGKILL sent: deaf and mute until reaped */
	/* Reported for a restart by commit.c (a static string): deaf and
	 * mute until child_restart_reported() kills it. */
	const char *restart_why;
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
	/* counters for /metrics (metrics.c) */
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

/* A latency histogram (metrics.c); bucket i counts observations
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
	struct quota *quota;     /* per-client quotas (quota.h) */
	struct worker **workers; /* in slot order */
	size_t n_workers;
	uint32_t next_slot;
	/* Worker starts (child.c): how many are STARTING, and the slots
	 * waiting for a place among them, first come first started. */
	size_t n_starting;
	uint32_t *start_queue;
	size_t start_head, start_len, start_cap;
	/* What keeps a turn of the loop O(active work), not O(workers):
	 * the workers with a drive (drive.c), the earliest worker deadline
	 * of the last full look and whether a change may have moved one
	 * earlier (child.c: sup_timers_changed), whether any worker was
	 * reported for a restart (commit.c) or removed (reload.c). */
	struct worker **driving;
	size_t n_driving, cap_driving;
	int64_t child_wake_ms;
	bool child_dirty;
	bool restarts_reported;
	size_t n_removed;
	char run_dir[4096];

	nng_socket ctl; /* rep0 raw */
	int ctl_fd;
	/* The loop's epoll set: the signalfd, ctl_fd and every worker's
	 * receive fd (child.c keeps those in it, keyed by slot). */
	int epfd;
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
	int64_t ping_at_ms;    /* monotonic: next PostgreSQL ping when idle */
	int64_t started_wall_ms;
	uint64_t commits;
	bool reload_requested;
	struct web_child web;
	bool in_failure;    /* handling a store failure: no new batch */
	size_t batch_bytes; /* attachment bytes in the open batch */
	/* Worker messages are decoded into this arena and dropped with it
	 * after their handler (dispatch.c); NULL: malloc, as under ASan. */
	struct arena *msg_arena;
	bool msg_arena_busy;
	uint64_t
	    untrimmed; /* passengers touched by drives since malloc_trim */
	/* Worker sockets not closed at shutdown (SUP_FULL_TEARDOWN). */
	size_t sockets_left;
	/* The workers' own process group (child.c), how many live or
	 * unreaped workers are in it, and whether shutdown signalled it. */
	pid_t worker_pgid;
	size_t pgid_members;
	bool group_stopped;
	/* commit latency, session expiry (metrics.c, sessions.c) */
	struct sup_hist commit_hist;
	int64_t session_sweep_at_ms; /* monotonic */
	uint64_t sessions_expired;
	/* the charts' history (history_sup.c); monotonic times of the next
	 * store-size sample and the next write of its file */
	struct history *history;
	int64_t history_sample_ms, history_save_ms;
};

/* A random 64-bit value (libsodium), for backoff jitter. */
uint64_t sup_random64(void);

/* Log a line to stderr with a timestamp: "databusd: ...", at a syslog
 * priority (LOG_ERR, LOG_WARNING, LOG_INFO) that the journal sees as a
 * "<N>" prefix when stderr is the journal (log_priority.h). sup_log is
 * info, sup_warn a warning, sup_err an error. */
void sup_log_at(int priority, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define sup_log(...)  sup_log_at(LOG_INFO, __VA_ARGS__)
#define sup_warn(...) sup_log_at(LOG_WARNING, __VA_ARGS__)
#define sup_err(...)  sup_log_at(LOG_ERR, __VA_ARGS__)

/* Begin a graceful shutdown (main.c). */
void sup_begin_shutdown(struct sup *s, const char *why);

/* system_live.c: while a store error pauses intake, publish the
 * system state on the events socket (not stored), every 250 ms, and once
 * more when intake resumes. */
void sup_system_live_timers(struct sup *s, int64_t now, int64_t *wake);

/* config_save.c: config_list, config_get, config_validate and
 * config_save (answers the request itself), and export_event. */
void config_ctl_handle(
    struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req);
int config_export_event(
    struct sup *s, const Dbs__WebExportEvent *ev, char *err, size_t errlen);

/* users.c */
int users_import(struct sup *s);
/* Whether the file of `client` says "open_access": true. */
bool users_open_access(const struct sup *s, const char *client);

/* metrics.c: counters and the commit latency histogram. */
int64_t metrics_now_us(void);
void metrics_commit_observe(struct sup *s, int64_t elapsed_us);
void metrics_drive_finished(
    struct worker *w, const char *outcome, uint32_t failed, uint32_t dead);
void metrics_fill_definition(const struct worker *w, Dbs__DefinitionInfo *di);
/* Point st->commit_latency at `h`, filled from s (valid while s is). */
void metrics_fill_status(
    struct sup *s, Dbs__StatusReply *st, Dbs__MetricsHistogram *h);

/* sessions.c: session life times and the sweep of expired ones. */
int sessions_create(struct sup *s, const Dbs__SessionCreate *c);
int sessions_touch(struct sup *s, const Dbs__SessionRef *r);
void sessions_timers(struct sup *s, int64_t now, int64_t *wake);

#endif
