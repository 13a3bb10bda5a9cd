/*
 * child.h — the life of databusd's child processes: the workers (child.c)
 * and databus-web (web.c), spawned, stopped, killed, reaped and restarted
 * through the one life table of life.h.
 *
 * child.c knows processes and their sockets, not what depends on a
 * worker: when a worker is killed or has exited it tells the one "worker
 * gone" handler registered with child_on_gone() (dispatch.c), which
 * aborts its drive and fails its peeks.
 */
#ifndef DBS_CHILD_H
#define DBS_CHILD_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "life.h"
#include "sup.h"

/* How a worker went: killed (SIGKILL sent; its successor resumes the
 * drive) or reaped (its process ended). */
enum child_gone { CHILD_GONE_KILLED, CHILD_GONE_EXITED };

typedef void child_gone_fn(
    struct sup *s, struct worker *w, enum child_gone how, const char *why);

/* Register the "worker gone" handler (dispatch.c does, at start). */
void child_on_gone(child_gone_fn *fn);

/* Start a child process with fork+exec (posix_spawn); 0 or an errno. */
int sup_spawn(const struct sup *s, char *const argv[], pid_t *pid);

/* The command line of a databus-worker for `def` on socket `url` (its
 * binary: $DATABUS_WORKER or worker_path; its resource limits), in
 * a->argv, which points into *a. */
struct worker_argv {
	char slot[24], parent[16], limits[96];
	char *argv[10];
};
void child_worker_argv(const struct sup *s, const struct cfg_definition *def,
    const char *url, unsigned long long slot, struct worker_argv *a);

/* Start w's worker (socket, process, Init); on failure it backs off. */
/* Start a worker, or queue its start while as many as the machine's
 * start slots are STARTING (the ready deadline counts from the spawn). */
int child_spawn(struct sup *s, struct worker *w);
void child_free_queue(struct sup *s);
/* SIGKILL w's worker: deaf and mute until reaped. */
void child_kill(struct sup *s, struct worker *w, const char *why);
/* Ask w's worker to stop (Stop); killed if it does not within 5 s. */
void child_stop(struct sup *s, struct worker *w);
/* w's process ended with `status` (waitpid). */
void child_reaped(struct sup *s, struct worker *w, int status);
/* Deadlines (ready, heartbeats, stop) and restarts after a backoff. */
void child_timers(struct sup *s, int64_t now, int64_t *wake);
/* Something may have moved a worker's deadline earlier (a state change, a
 * stop, a kill, a reload, the shutdown): child_timers looks at every
 * worker on its next call. */
void sup_timers_changed(struct sup *s);
/* Apply a life event to w (life.h), carrying out its action; `why` is
 * the reason of a kill. */
void child_event(
    struct sup *s, struct worker *w, enum child_event ev, const char *why);
/* Kill the workers commit.c reported for a restart (w->restart_why),
 * then let new batches begin again (sup_restarts_done). */
void child_restart_reported(struct sup *s);

/* Close a worker's socket without waiting for it (a thread does), and how
 * many such closes are still under way. */
void child_close_socket(nng_socket sock);
int child_closing(void);

/* databus-web, supervised like a worker through the same life table
 * (web.c). */
void web_start(struct sup *s);
/* databus-web says it listens (WebReady): READY. DBS_EINVAL, with err,
 * when `r` is not from the process databusd started. */
int web_ready(struct sup *s, const Dbs__WebReady *r, char *err, size_t errlen);
/* True when `pid` was the web's (then handled). */
bool web_reaped(struct sup *s, pid_t pid, int status);
void web_timers(struct sup *s, int64_t now, int64_t *wake);
/* Send `sig` to databus-web, if it runs. */
void web_stop(struct sup *s, int sig);

#endif
