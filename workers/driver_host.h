/*
 * driver_host.h — the worker's side of the driver interface, implemented
 * by concern in driver_instance.c, driver_emit.c, driver_view.c and
 * driver_log.c (driver_settings.c and drivers/registry.c implement the
 * rest of driver.h).
 *
 * driver.h is what drivers see; this header is what databus-worker (and
 * the unit tests, which host drivers the same way) uses to run them:
 * creating a driver instance (struct drv_ctx) around a vtable, the sink
 * that receives pulled items, the passenger view that processors edit, and
 * the log buffer that collects drv_log() entries until the worker sends
 * them with its next message.
 *
 * Everything here is used from the worker's main thread only.
 */
#ifndef DBS_DRIVER_HOST_H
#define DBS_DRIVER_HOST_H

#include <stdbool.h>

#include "databus.pb-c.h"
#include "driver.h"

/* ------------------------------------------------------------ instances */

/*
 * A new, not yet initialised instance of `ops` named `name` (the config
 * entry's "name"). Strings are copied; data_dir may be NULL (--check).
 * Returns NULL when out of memory.
 */
struct drv_ctx *drv_ctx_new(const struct drv_ops *ops, const char *name,
    const char *client, const char *definition, const char *data_dir);

/* Run ops->init with `settings`. DBS_OK, or the driver's error with its
 * message in `err` (a generic one if the driver left it empty). */
int drv_ctx_init(
    struct drv_ctx *ctx, const json_t *settings, char *err, size_t errlen);

/* fini() the instance if it was initialised, then free it. Accepts NULL. */
void drv_ctx_free(struct drv_ctx *ctx);

const struct drv_ops *drv_ctx_ops(const struct drv_ctx *ctx);

/* Calls into the driver; a missing vtable entry behaves as a no-op
 * success (peek of a puller without one shows nothing). `err` always
 * holds a message when the result is not DBS_OK / DRV_OK. */
int drv_ctx_pull(struct drv_ctx *ctx, struct drv_sink *sink);
int drv_ctx_peek(struct drv_ctx *ctx, struct drv_sink *sink);
int drv_ctx_notify(struct drv_ctx *ctx, const char *external_id,
    const char *source_ref, char *err, size_t errlen);
enum drv_result drv_ctx_process(struct drv_ctx *ctx,
    const struct drv_passenger *p, struct drv_edit *edit, char *err,
    size_t errlen);
enum drv_result drv_ctx_push(struct drv_ctx *ctx,
    const struct drv_passenger *p, const char *idempotency_key, char *err,
    size_t errlen);
/* ops->push_end, or DRV_OK when the driver has none. */
enum drv_result drv_ctx_push_end(
    struct drv_ctx *ctx, char *err, size_t errlen);

/* dry-run: from now on drv_ctx_push runs ops->dry_push instead of push
 * (a pusher without one is not run: DRV_OK with the description "(not
 * run: the TYPE pusher has no dry mode)"), and push_end is not called.
 * drv_ctx_dry_description is what the last dry push said it would do (""
 * before any), valid until the next push. */
void drv_ctx_set_dry(struct drv_ctx *ctx);
const char *drv_ctx_dry_description(const struct drv_ctx *ctx);

/* ops->check (--check only), or DBS_OK when the driver has none. */
int drv_ctx_check(struct drv_ctx *ctx, char *err, size_t errlen);

/* What the driver asked with drv_retry_after() during the last process
 * or push call (0: nothing). */
uint64_t drv_ctx_retry_after(const struct drv_ctx *ctx);

/* ----------------------------------------------------------------- sink */

/* One emitted item, as drv_emit() checked it; valid during the call. */
struct drv_item {
	const char *external_id;
	const char *source_ref; /* never NULL */
	const struct drv_kv *metadata;
	size_t n_metadata;
	const struct drv_attachment *attachments;
	size_t n_attachments;
};

/* The host's receiver of drv_emit(): `emit` returns what drv_emit
 * returns (0 go on, 1 enough, or a dbs_error). */
struct drv_sink {
	int (*emit)(void *arg, const struct drv_item *item);
	void *arg;
};

/* ------------------------------------------------------- passenger view */

/*
 * The passenger as the steps of one WorkItem see it. Metadata and
 * attachments start as borrowed pointers (into the decoded WorkRequest)
 * and are replaced by owned copies as processors edit them. Reset it for
 * each passenger; its arrays are reused.
 */
struct drv_view {
	struct drv_passenger p; /* metadata/attachments point below */
	struct drv_kv *md;
	size_t n_md, cap_md;
	struct drv_attachment *att;
	size_t n_att, cap_att;
	void **owned; /* allocations the view frees at reset */
	size_t n_owned, cap_owned;
	bool replaced; /* a committed edit changed something */
};

/* Pending changes of one process() call, applied to the view only when
 * the step completes (drv_edit_commit) and dropped otherwise. */
struct drv_edit {
	struct drv_view *view;
	struct drv_kv *md; /* owned key/value copies */
	size_t n_md, cap_md;
	struct drv_attachment *att; /* owned copies */
	size_t n_att, cap_att;
};

void drv_view_reset(struct drv_view *v);
void drv_view_free(struct drv_view *v);
/* Append borrowed entries (valid until the next reset). */
int drv_view_add_metadata(
    struct drv_view *v, const char *key, const char *value);
int drv_view_add_attachment(struct drv_view *v, const char *name,
    const char *content_type, const void *data, size_t len);

/* Allocations that outlive a view reset, freed together (the worker keeps
 * edited passengers' data this way until their WorkResult is sent). */
struct drv_keep {
	void **p;
	size_t n, cap;
};

/* Add `ptr` to `keep` (freed by drv_keep_free). On DBS_ENOMEM `ptr` is
 * freed at once. */
int drv_keep_add(struct drv_keep *keep, void *ptr);
/* Move the view's owned allocations into `keep`, so the pointers the view
 * holds now stay valid after its next reset. */
int drv_view_keep(struct drv_view *v, struct drv_keep *keep);
void drv_keep_free(struct drv_keep *keep);

void drv_edit_begin(struct drv_edit *e, struct drv_view *v);
/* Apply the pending changes to the view; DBS_OK or DBS_ENOMEM. */
int drv_edit_commit(struct drv_edit *e);
/* Drop the pending changes (the step did not complete). */
void drv_edit_discard(struct drv_edit *e);

/* ------------------------------------------------------------------ log */

/* Entries are flushed (the callback runs) when this many are buffered. */
#define DRV_LOG_FLUSH_AT 1000
/* Longest message kept; longer ones are cut. */
#define DRV_LOG_MAX_MSG 4096

/* Add an entry on behalf of the worker itself (step may be NULL). */
void drv_log_host(enum drv_level level, uint64_t passenger_id,
    const char *step, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Called when DRV_LOG_FLUSH_AT entries are buffered; it should send them
 * (drv_log_entries) and drv_log_clear(). NULL: entries just accumulate. */
void drv_log_set_flush(void (*flush)(void *arg), void *arg);

/* The buffered entries, oldest first; borrowed until drv_log_clear(). */
Dbs__LogEntry **drv_log_entries(size_t *n);
void drv_log_clear(void);

#endif
