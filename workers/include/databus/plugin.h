/*
 * databus/plugin.h — the plugin SDK of Databus: custom pullers, processors
 * and pushers in C (or anything with a C ABI), loaded by databus-worker
 * with dlopen.
 *
 * This header is the whole contract; it is stable. A plugin is a shared
 * object exporting one function, databus_plugin(), which receives the
 * host's function table (struct dbp_host: logging, emitting items,
 * passenger and attachment accessors, edits) and returns a description of
 * the plugin: the ABI version it was built against and its drivers, each a
 * small vtable like the built-in ones. The worker refuses a plugin whose
 * ABI version differs from its own, with a clear error, before calling
 * anything else in it.
 *
 * Plugins never link against the worker: everything they call comes
 * through struct dbp_host. They run inside the worker of one passenger
 * definition (one client), in its single main thread; they may block (the
 * drive timeout bounds them). See docs/plugins.md.
 *
 * Compatibility rules: DATABUS_PLUGIN_ABI changes whenever a structure in
 * this file changes in an incompatible way. New host functions are only
 * ever added at the end of struct dbp_host (its `size` tells a plugin
 * which ones exist); the ABI version then stays the same.
 */
#ifndef DATABUS_PLUGIN_H
#define DATABUS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes. */
#define DATABUS_PLUGIN_ABI 1

/* The two symbols a plugin exports: databus_plugin() (below) and the
 * ABI it was built for, which the worker reads before calling anything. */
#define DATABUS_PLUGIN_SYMBOL     "databus_plugin"
#define DATABUS_PLUGIN_ABI_SYMBOL "databus_plugin_abi"

/* Put this once in a plugin's source, at file scope. */
#define DATABUS_PLUGIN_DECLARE_ABI                                            \
	__attribute__((visibility("default")))                                \
	const uint32_t databus_plugin_abi = DATABUS_PLUGIN_ABI

/* Return codes of init, pull, peek and notify, and of host calls. */
#define DBP_OK      0
#define DBP_ERROR   1 /* failed; the message is in `err` or the log */
#define DBP_ENOUGH  2 /* emit: the sink wants no more items (peek) */
#define DBP_INVALID 3 /* emit/edit: this item or value is refused */

enum dbp_kind {
	DBP_PULLER = 0,
	DBP_PROCESSOR = 1,
	DBP_PUSHER = 2,
};

/* Outcome of process() and push(). */
enum dbp_result {
	DBP_RESULT_OK = 0,    /* step complete */
	DBP_RESULT_SKIP = 1,  /* processor: done, do not push */
	DBP_RESULT_RETRY = 2, /* failed; retried later with backoff */
	DBP_RESULT_FAIL = 3,  /* failed permanently: the passenger is dead */
};

enum dbp_level {
	DBP_DEBUG = 0,
	DBP_INFO = 1,
	DBP_WARNING = 2,
	DBP_ERROR_LEVEL = 3,
};

/* Opaque host objects, valid during the call they are passed to. */
struct dbp_ctx;       /* one configured driver instance */
struct dbp_sink;      /* where pull/peek put items */
struct dbp_passenger; /* read-only passenger */
struct dbp_edit;      /* a processor's changes to its passenger */

struct dbp_kv {
	const char *key;
	const char *value;
};

struct dbp_attachment {
	const char *name;
	const char *content_type; /* NULL: application/octet-stream */
	const void *data;
	size_t len;
};

/*
 * The host's functions. Strings must be UTF-8; data passed in is copied.
 * Strings and attachments returned point into host memory, valid during
 * the current call only.
 */
struct dbp_host {
	uint32_t abi; /* DATABUS_PLUGIN_ABI of the worker */
	size_t size;  /* sizeof(struct dbp_host) of the worker */

	/* The instance: its configured name, client, definition, and a
	 * data dir for scratch files ("" in a configuration check). */
	const char *(*name)(const struct dbp_ctx *ctx);
	const char *(*client)(const struct dbp_ctx *ctx);
	const char *(*definition)(const struct dbp_ctx *ctx);
	const char *(*data_dir)(const struct dbp_ctx *ctx);

	/* Add an entry to the drive log; passenger_id 0 if about none. */
	void (*log)(struct dbp_ctx *ctx, enum dbp_level level,
	    uint64_t passenger_id, const char *message);

	/* Pullers: emit one item. external_id is the dedup key in the
	 * source; source_ref comes back to notify(). Returns DBP_OK,
	 * DBP_ENOUGH (stop), DBP_INVALID (this item refused: go on) or
	 * DBP_ERROR (the worker is going away: stop and return it). */
	int (*emit)(struct dbp_sink *sink, const char *external_id,
	    const char *source_ref, const struct dbp_kv *metadata,
	    size_t n_metadata, const struct dbp_attachment *attachments,
	    size_t n_attachments);

	/* Passenger accessors. */
	uint64_t (*passenger_id)(const struct dbp_passenger *p);
	const char *(*passenger_external_id)(const struct dbp_passenger *p);
	const char *(*passenger_puller)(const struct dbp_passenger *p);
	uint32_t (*passenger_attempts)(const struct dbp_passenger *p);
	size_t (*metadata_count)(const struct dbp_passenger *p);
	/* DBP_OK and *kv set, or DBP_INVALID for i out of range. */
	int (*metadata_at)(
	    const struct dbp_passenger *p, size_t i, struct dbp_kv *kv);
	/* The value of `key`, or NULL. */
	const char *(*metadata_get)(
	    const struct dbp_passenger *p, const char *key);
	size_t (*attachment_count)(const struct dbp_passenger *p);
	int (*attachment_at)(const struct dbp_passenger *p, size_t i,
	    struct dbp_attachment *out);
	/* DBP_OK with *out, or DBP_INVALID when there is none of `name`. */
	int (*attachment_get)(const struct dbp_passenger *p, const char *name,
	    struct dbp_attachment *out);

	/* Processors: replace or add a metadata value / an attachment;
	 * applied only if process() completes (OK or SKIP). */
	int (*edit_metadata)(
	    struct dbp_edit *edit, const char *key, const char *value);
	int (*edit_attachment)(struct dbp_edit *edit, const char *name,
	    const char *content_type, const void *data, size_t len);

	/* process()/push() returning RETRY: not before `ms` (e.g. a
	 * target's Retry-After). */
	void (*retry_after)(struct dbp_ctx *ctx, uint64_t ms);
};

/* One driver of a plugin; unused entries NULL. */
struct dbp_driver {
	const char *type; /* chosen with "driver" in the configuration */
	enum dbp_kind kind;
	/* `settings` is the whole configuration entry as JSON text. Check
	 * it and set *state; on error return DBP_ERROR with the reason in
	 * `err` ("<setting>: <problem>"). */
	int (*init)(struct dbp_ctx *ctx, const char *settings, void **state,
	    char *err, size_t errlen);
	int (*pull)(void *state, struct dbp_ctx *ctx, struct dbp_sink *sink);
	int (*peek)(void *state, struct dbp_ctx *ctx, struct dbp_sink *sink);
	int (*notify)(void *state, struct dbp_ctx *ctx,
	    const char *external_id, const char *source_ref, char *err,
	    size_t errlen);
	enum dbp_result (*process)(void *state, struct dbp_ctx *ctx,
	    const struct dbp_passenger *p, struct dbp_edit *edit, char *err,
	    size_t errlen);
	/* idempotency_key is "<internal id>:<pusher name>". */
	enum dbp_result (*push)(void *state, struct dbp_ctx *ctx,
	    const struct dbp_passenger *p, const char *idempotency_key,
	    char *err, size_t errlen);
	void (*fini)(void *state); /* accepts NULL */
};

struct dbp_plugin {
	uint32_t abi;        /* DATABUS_PLUGIN_ABI when it was built */
	const char *name;    /* for messages */
	const char *version; /* for messages */
	const struct dbp_driver *const *drivers; /* NULL-terminated */
};

/*
 * Exported by every plugin: return its description (static storage), or
 * NULL to refuse the host (e.g. host->abi too old). `host` stays valid as
 * long as the plugin is loaded; keep the pointer.
 */
const struct dbp_plugin *databus_plugin(const struct dbp_host *host);

#ifdef __cplusplus
}
#endif

#endif
