/*
 * driver.h — the interface between databus-worker and its drivers.
 *
 * A driver is a vtable (struct drv_ops) of one kind: puller, processor or
 * pusher. The worker creates one instance per configured entry of its
 * passenger definition with init(), calls pull/peek/notify, process or push
 * as the supervisor asks, and fini() at the end. Drivers never see the
 * store or the wire format: they get plain C views of passengers and emit
 * items through a sink. Drivers run in the worker's single main thread; a
 * driver may block (the supervisor's drive timeout bounds it).
 *
 * Built-in drivers register in drv_builtins (drivers/registry.c); those
 * that need libcurl, GMime or libpq come in family modules loaded on
 * first use (drivers/module.h). Plugins wrap the same vtable behind a
 * stable ABI header (databus/plugin.h, drivers/drv_plugin.c).
 */
#ifndef DBS_DRIVER_H
#define DBS_DRIVER_H

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum drv_kind {
	DRV_PULLER = 0,
	DRV_PROCESSOR = 1,
	DRV_PUSHER = 2,
};

/* Outcome of process() and push(). */
enum drv_result {
	DRV_OK = 0,    /* step complete */
	DRV_SKIP = 1,  /* processor: complete the passenger without pushing */
	DRV_RETRY = 2, /* failed; try again later (with backoff) */
	DRV_FAIL = 3,  /* failed permanently: the passenger is dead */
};

/* Log levels: the values of Dbs__LogLevel. */
enum drv_level {
	DRV_DEBUG = 0,
	DRV_INFO = 1,
	DRV_WARNING = 2,
	DRV_ERROR = 3,
};

struct drv_kv {
	const char *key;
	const char *value;
};

struct drv_attachment {
	const char *name;
	const char *content_type; /* may be NULL: application/octet-stream */
	const void *data;
	size_t len;
};

/* A read-only view of a passenger, valid during the call only. */
struct drv_passenger {
	uint64_t id;
	const char *client;
	const char *definition;
	const char *puller;
	const char *external_id;
	uint32_t attempts;
	const struct drv_kv *metadata;
	size_t n_metadata;
	const struct drv_attachment *attachments;
	size_t n_attachments;
};

struct drv_ctx;  /* per driver instance: names, logging */
struct drv_sink; /* where pull/peek put items */
struct drv_edit; /* changes a transforming processor makes */

/* Names of the instance (config "name" and "type"), its client and
 * definition, and the data dir (scratch space, never the store). */
const char *drv_name(const struct drv_ctx *ctx);
const char *drv_client(const struct drv_ctx *ctx);
const char *drv_definition(const struct drv_ctx *ctx);
const char *drv_data_dir(const struct drv_ctx *ctx);

/* Add an entry to the drive log; passenger_id 0 when not about one. */
void drv_log(struct drv_ctx *ctx, enum drv_level level, uint64_t passenger_id,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* From process() or push() returning DRV_RETRY: do not retry this
 * passenger before `ms` milliseconds (e.g. a target's Retry-After). The
 * supervisor waits the longer of this and its own backoff. */
void drv_retry_after(struct drv_ctx *ctx, uint64_t ms);

/*
 * Emit one item from pull() or peek(). `external_id` identifies it in the
 * source (the dedup key); `source_ref` is private to the puller and comes
 * back to notify(). Data is copied. Returns 0 to go on, 1 when the sink
 * wants no more items (peek limit reached), or a dbs_error.
 *
 * Two errors refuse only this item, and the puller may log it and go on:
 * DBS_EINVAL (an empty external id, a string that is not UTF-8, a NULL
 * name) and DBS_ETOOBIG (the item does not fit in one message, about
 * 63 MiB). Any other error means the sink is broken (the supervisor is
 * gone): stop and return it.
 */
int drv_emit(struct drv_sink *sink, const char *external_id,
    const char *source_ref, const struct drv_kv *metadata, size_t n_metadata,
    const struct drv_attachment *attachments, size_t n_attachments);

/* For transforming processors: replace or add an attachment / a metadata
 * value of the passenger being processed. Data is copied. */
int drv_edit_attachment(struct drv_edit *edit, const char *name,
    const char *content_type, const void *data, size_t len);
int drv_edit_metadata(
    struct drv_edit *edit, const char *key, const char *value);

struct drv_ops {
	const char *type;
	enum drv_kind kind;
	/* Validate `settings` (the whole config entry, a JSON object) and set
	 * up *state. On error return DBS_ECONFIG with `err` saying which
	 * setting is wrong and why. */
	int (*init)(struct drv_ctx *ctx, const json_t *settings, void **state,
	    char *err, size_t errlen);
	/* Pullers: emit new items. Return DBS_OK or an error (logged; the
	 * items emitted before it are still seated). */
	int (*pull)(void *state, struct drv_ctx *ctx, struct drv_sink *sink);
	/* Pullers: emit what pull would, without changing the source. */
	int (*peek)(void *state, struct drv_ctx *ctx, struct drv_sink *sink);
	/* Pullers: the item is durably seated; acknowledge it to the source
	 * (mark read, move away). Must be idempotent. */
	int (*notify)(void *state, struct drv_ctx *ctx,
	    const char *external_id, const char *source_ref, char *err,
	    size_t errlen);
	/* Processors. */
	enum drv_result (*process)(void *state, struct drv_ctx *ctx,
	    const struct drv_passenger *p, struct drv_edit *edit, char *err,
	    size_t errlen);
	/* Pushers. `idempotency_key` is "<id>:<pusher name>". */
	enum drv_result (*push)(void *state, struct drv_ctx *ctx,
	    const struct drv_passenger *p, const char *idempotency_key,
	    char *err, size_t errlen);
	void (*fini)(void *state); /* accepts NULL state */
	/* Pushers, optional: called once after the passengers of one work
	 * batch were pushed, when push() ran at least once, so that a pusher
	 * can group a batch (one database transaction) and complete it here.
	 * DRV_OK confirms the batch; DRV_RETRY or DRV_FAIL, with `err`, turns
	 * every push of the batch that returned DRV_OK into that failure. */
	enum drv_result (*push_end)(
	    void *state, struct drv_ctx *ctx, char *err, size_t errlen);
	/* Optional, `databus-worker --check` only, after init() succeeded:
	 * look at the target itself (a database's table and columns).
	 * DBS_OK: fine; DBS_ECONFIG: the settings cannot work there (a
	 * problem, the configuration is refused); any other error: the
	 * target could not be asked (unreachable), reported as a warning
	 * only. `err` says what in either case. Bounded by a few seconds. */
	int (*check)(
	    void *state, struct drv_ctx *ctx, char *err, size_t errlen);
	/* Pushers, optional: the dry mode of `databusctl dry-run --push`.
	 * Write into `desc` (at most desclen bytes, NUL-terminated) what
	 * push() would do for `p` — the request it would send, the files
	 * it would write — and deliver nothing, change nothing outside the
	 * worker. DRV_OK, or DRV_FAIL with `err` (push() would fail the
	 * same way). A pusher without it is not run in a dry run. */
	enum drv_result (*dry_push)(void *state, struct drv_ctx *ctx,
	    const struct drv_passenger *p, const char *idempotency_key,
	    char *desc, size_t desclen, char *err, size_t errlen);
};

/*
 * Settings helpers for init(). Each reads `key` of the `settings` object
 * into *out, or the default when the key is absent (a JSON null counts as
 * absent). They return DBS_OK, or DBS_ECONFIG with "<key>: <problem>" in
 * `err`. Strings stay owned by `settings` (valid as long as it is; copy
 * them into the state). drv_setting_string with def == NULL makes the key
 * required and refuses an empty string.
 */
int drv_setting_string(const json_t *settings, const char *key,
    const char *def, const char **out, char *err, size_t errlen);
int drv_setting_uint(const json_t *settings, const char *key, uint64_t def,
    uint64_t min, uint64_t max, uint64_t *out, char *err, size_t errlen);
int drv_setting_bool(const json_t *settings, const char *key, int def,
    int *out, char *err, size_t errlen);

/*
 * Refuse settings a driver does not know (typos must not pass silently).
 * `keys` is NULL-terminated; "name" and "type" are always allowed, and so
 * are "description" and keys starting with "_" (comments). Returns DBS_OK
 * or DBS_ECONFIG with "<key>: unknown setting" in `err`.
 */
int drv_settings_only(
    const json_t *settings, const char *const *keys, char *err, size_t errlen);

/* Whether `s` (of `len` bytes) is well-formed UTF-8. */
int drv_utf8_valid(const char *s, size_t len);

/*
 * The built-in driver of `kind` named `type`, or NULL. A driver of a
 * family module (drivers/module.h) loads that module the first time; if
 * it cannot be loaded the answer is NULL, and drv_module_error says why.
 */
const struct drv_ops *drv_lookup(enum drv_kind kind, const char *type);

/* After drv_lookup(kind, type) returned NULL: 1 with the reason in `err`
 * when `type` is a built-in whose family module did not load (its path
 * and dlerror()), 0 when there is no such built-in. */
int drv_module_error(
    enum drv_kind kind, const char *type, char *err, size_t errlen);

/* Every built-in driver, by name (for docs and validation), ending with
 * a NULL type. `ops` is set for the core's drivers, linked into
 * databus-worker, and NULL for a family module's (drv_lookup loads it). */
#define DRV_FAMILY_CORE "core"
struct drv_builtin {
	enum drv_kind kind;
	const char *type;
	const char *family; /* DRV_FAMILY_CORE, "http", "mail" or "pg" */
	const struct drv_ops *ops;
};
extern const struct drv_builtin drv_builtins[];

#endif
