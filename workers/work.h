/*
 * work.h — the step engine: runs a WorkRequest's processors and pushers
 * and builds its WorkResult.
 *
 * Kept apart from the socket code so the step rules can be tested with any
 * driver, including ones that fail on purpose (no built-in does). Drivers
 * are found by name through a callback; the worker passes its definition.
 *
 * Step rules, per passenger, over the steps that are neither COMPLETE nor
 * SKIPPED (SK_NOTIFY steps belong to the supervisor and are left alone):
 *   processors, in order: DRV_OK -> COMPLETE; DRV_SKIP -> COMPLETE and
 *   every remaining processor and pusher SKIPPED; DRV_RETRY -> FAILED and
 *   the passenger stops (later processors and all pushers wait); DRV_FAIL
 *   -> the same with permanent = true;
 *   pushers, only when every processor is complete, each on its own (one
 *   failing does not stop the others), with the idempotency key
 *   "<id>:<pusher name>"; DRV_OK and DRV_SKIP -> COMPLETE.
 * After the last passenger, each pusher that ran gets push_end (once);
 * if that fails, its completed steps of this request fail with its error.
 * A step naming no configured driver fails permanently. Edits made by a
 * completed processor are visible to the later steps and reported in the
 * outcome (replaced = true, full metadata and attachments). Only the steps
 * that ran (or were skipped now) appear in the outcome.
 */
#ifndef DBS_WORK_H
#define DBS_WORK_H

#include "databus.pb-c.h"
#include "driver_host.h"

/* Where work_run finds drivers and the names it gives passengers whose
 * record leaves client/definition empty. */
struct work_env {
	const char *client;
	const char *definition;
	struct drv_ctx *(*find)(
	    void *arg, enum drv_kind kind, const char *name);
	void *arg;
};

/* Reused between requests; zero-initialise it. */
/* A push that returned DRV_OK, until its pusher's push_end confirms it. */
struct work_pushed {
	struct drv_ctx *ctx;
	Dbs__StepOutcome *so;
	uint64_t id;
};

struct work {
	Dbs__WorkResult result; /* valid from work_run to work_clear */
	struct drv_view view;
	struct drv_keep keep; /* error strings, edited data */
	Dbs__WorkOutcome *outs, **outp;
	Dbs__StepOutcome *steps, **stepp;
	/* Pushers that ran in this request (each gets push_end once) and
	 * their completed steps. */
	struct drv_ctx **ends;
	size_t n_ends, cap_ends;
	struct work_pushed *pushed;
	size_t n_pushed, cap_pushed;
};

/*
 * Run every passenger of `rq` and fill wk->result (drive_id, batch_id and
 * one outcome per item, in order; no logs). The result borrows strings
 * and bodies from `rq`, which must outlive it. Returns DBS_OK, DBS_EPROTO
 * (an item without a passenger: nothing was run) or DBS_ENOMEM.
 */
int work_run(
    struct work *wk, const Dbs__WorkRequest *rq, const struct work_env *env);

/* A result too large for one message (processors grew the attachments):
 * the edited passengers' steps fail permanently and their edits are
 * dropped, rather than looping on a message that can never be sent. */
void work_shrink(struct work *wk);

/* Free what the last result holds (keeps buffers for reuse). */
void work_clear(struct work *wk);

/* Free everything. Accepts a zeroed struct. */
void work_free(struct work *wk);

#endif
