/*
 * commit.h — the write batch of databusd, its outbox and the handling of
 * a store failure (commit.c).
 *
 * Handlers add changes to one open write transaction (sup_txn) and queue
 * whatever may only be said once those changes are durable (messages to
 * workers, control replies) with sup_after_commit(). The loop commits once
 * per burst (sup_commit) and then flushes that outbox. If the commit
 * fails, the outbox is dropped (control replies become error replies) and
 * the workers it concerned are REPORTED for a restart: commit.c never
 * kills a process itself. A reported worker (w->restart_why set) is deaf
 * and mute from then on; the loop has child.c restart it
 * (child_restart_reported), and until then no new batch begins.
 */
#ifndef DBS_COMMIT_H
#define DBS_COMMIT_H

#include <nng/nng.h>
#include <stdbool.h>

#include "databus.pb-c.h"
#include "sup.h"

/* The open write transaction, beginning one when needed. NULL when the
 * store cannot begin one (the reason is in sup->store_error) or while a
 * store failure is being handled. */
struct store_txn *sup_txn(struct sup *s);

/* Send `msg` to `w` (or, with w NULL, as a control reply) once the current
 * write batch is committed; at once when none is open. Takes `msg`. */
void sup_after_commit(struct sup *s, struct worker *w, nng_msg *msg);

/* Pack `m` and queue it for worker `w` with sup_after_commit(). */
int sup_send_worker(struct sup *s, struct worker *w, const Dbs__WorkerMsg *m);
/* Pack a message for a worker (kept a function of its own: see
 * tests/lsan.supp). */
int sup_pack_worker_msg(const Dbs__WorkerMsg *m, nng_msg **msg);

/* Send a control reply at once, whatever the open batch (for replies
 * that report and change nothing). Takes `msg`. */
void sup_send_now(struct sup *s, nng_msg *msg);

/* Send `r` as the control reply to the request in `msg` (consumed, its
 * backtrace header kept): at once when `now`, else after the commit. */
void sup_control_reply(
    struct sup *s, nng_msg *msg, Dbs__ControlReply *r, bool now);

/* Commit the open batch and flush the outbox; on failure handle it. */
int sup_commit(struct sup *s);

/* A store call failed with rc inside the batch: abort it, fail the outbox
 * and report the workers whose drives were in it for a restart. */
void sup_store_failed(struct sup *s, int rc, const char *what);

/* Report `w` for a restart (why: a static string). It is sent nothing
 * and read no more until child_restart_reported() kills it. */
void sup_report_restart(struct sup *s, struct worker *w, const char *why);

/* The reported restarts were carried out (child.c): a store failure is
 * handled, and new batches may begin again. */
void sup_restarts_done(struct sup *s);

#endif
