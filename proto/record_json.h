/*
 * record_json.h — the JSON form of Databus records (jansson).
 *
 * databusctl --json, exports and the web API all show the same records, so
 * they share one set of builders here instead of each inventing field
 * names. The rules are the same for every builder:
 *
 *   - ids and counters are JSON numbers (uint64 values above 2^63-1, which
 *     never occur in practice, are clamped);
 *   - times are ISO-8601 UTC strings with milliseconds
 *     ("2024-05-01T12:34:56.789Z"), or null when the field is 0 (unset);
 *   - enums are lower-case names ("pending", "administrator", ...);
 *   - strings that are not valid UTF-8 (driver errors, external ids from
 *     foreign systems) get U+FFFD for each invalid byte, because JSON text
 *     must be UTF-8;
 *   - secrets never leave: rj_user has no password hash, and no builder
 *     shows session token hashes or puller-private source references.
 *
 * Every builder returns a new reference the caller owns (json_decref), JSON
 * null for a NULL record, and NULL only when memory runs out (or, for
 * rj_event, when the event's data does not decode).
 */
#ifndef DBS_RECORD_JSON_H
#define DBS_RECORD_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "databus.pb-c.h"

/* Room for any rj_time_iso() result, with its NUL. */
#define RJ_TIME_LEN 32

/* -------------------------------------------------------------- records */

/*
 * {"id", "client", "definition", "puller", "external_id", "state",
 *  "steps": [{"name", "kind", "state", "attempts", "updated", "error"}],
 *  "attachments": [{"name", "size", "content_type"}],
 *  "metadata": {key: value}, "created", "updated", "next_attempt", "done",
 *  "pulled", "attempts", "last_drive", "last_error"}
 * Metadata keys are unique in JSON: when a key repeats, the last one wins.
 */
json_t *rj_passenger(const Dbs__Passenger *p);
json_t *rj_step(const Dbs__Step *s);

/*
 * {"id", "client", "definition", "drive_id", "started", "finished",
 *  "level", "outcome", "pulled", "seated", "completed", "failed", "dead",
 *  "entry_count", "dropped_entries"} plus, when with_entries, "entries":
 * [{"time", "level", "message", "passenger_id", "step"}].
 */
json_t *rj_log(const Dbs__Log *log, bool with_entries);
json_t *rj_log_entry(const Dbs__LogEntry *e);

/* {"client", "username", "role", "created", "updated"}: never the hash. */
json_t *rj_user(const Dbs__User *u);

/* {"client", "definition", "slot", "pid", "state", "restarts",
 *  "last_exit", "error", "rss_kib", "started", "backoff_until"} */
json_t *rj_worker_info(const Dbs__WorkerInfo *w);

/* {"client", "name", "sync_period_ms", "last_run", "next_run",
 *  "last_outcome", "driving", "worker", "pending", "done", "dead",
 *  "pullers", "processors", "pushers", "drives", "drives_aborted",
 *  "failures", "went_dead"} (the last four counted since databusd
 *  started) */
json_t *rj_definition_info(const Dbs__DefinitionInfo *d);

/* {"system_alias", "version", "pid", "started", "paused",
 *  "shutting_down", "intake_paused", "store_error", "data_dir"} */
json_t *rj_system_state(const Dbs__SystemState *s);
/* The same without what only root sees in GET /api/v1/about (the pids,
 * the data directory, the web's listen address): for system events, which
 * every user receives. */
json_t *rj_system_state_public(const Dbs__SystemState *s);

/* {"schema_version", "map_size", "used_bytes", "passengers",
 *  "attachments", "logs", "users", "sessions", "events", "last_seq",
 *  "commits"} */
json_t *rj_store_stats(const Dbs__StoreStats *s);

/* {"system": ..., "definitions": [...], "store": ..., "commit_latency":
 *  {"bounds": [seconds...], "counts": [per bucket, +Inf last], "count",
 *  "sum_seconds"}, "sessions_expired"} */
json_t *rj_status_reply(const Dbs__StatusReply *r);
json_t *rj_client_quota(const Dbs__ClientQuota *q);

/* {"code", "message", "items": [{"puller", "external_id", "pulled",
 *  "metadata", "attachments": [{"name", "content_type", "size"}]}]}
 * where "size" is the length of the (possibly cut) preview. */
json_t *rj_peek_result(const Dbs__PeekResult *r);

/* dry-run: {"outcome", "ok", "crashed", "passenger_id", "elapsed_ms",
 * "steps": [{"name", "kind", "state", "error", "permanent", "note"}],
 * "attachments": [{"name", "size", "content_type", "text"?}], "metadata",
 * "logs": [log entries], "pushes": [{"pusher", "type", "description"}]}. "ok"
 * is true when no step failed and the worker did not crash. */
json_t *rj_dry_run_reply(const Dbs__DryRunReply *r);

/*
 * {"seq", "client", "resource", "kind", "time", "data"} with `data` the
 * event's packed instance decoded into its JSON form: RES_QUEUE_ITEM gives
 * a passenger, or an array of passengers for the *_LIST kinds; RES_LOG a
 * log with its entries, or an array of them for the *_LIST kinds; RES_WORKER,
 * RES_SYSTEM, RES_DEFINITION and RES_USER their records. RES_EXPORT data is
 * JSON text and is embedded as it is (empty: null). A resource unknown to this
 * program gives null data. Returns NULL when the data does not decode (a
 * corrupt event) or memory runs out.
 */
json_t *rj_event(const Dbs__Event *ev);

/* ------------------------------------------------------------- values */

/* A JSON string of `s` (NULL gives ""), invalid UTF-8 replaced. */
json_t *rj_string(const char *s);

/* An ISO time string for ms since the epoch, or null when ms is 0. */
json_t *rj_time(int64_t ms);

/*
 * Format `ms` (milliseconds since the epoch, UTC) as
 * "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf and return buf. Times that have no
 * calendar form give "".
 */
const char *rj_time_iso(int64_t ms, char buf[RJ_TIME_LEN]);

/* ------------------------------------------------------- enum names */

/*
 * Names of enum values, as used in JSON and on the command line. A value
 * outside the enum gives "unknown". The parsers return the enum value, or
 * -1 when the name is not one of them (names are case-sensitive).
 */
const char *rj_state_name(int state); /* pending, done, dead */
int rj_state_parse(const char *name);
const char *rj_role_name(int role); /* operator, administrator, root */
int rj_role_parse(const char *name);
const char *rj_step_state_name(int st); /* incomplete, complete, ... */
int rj_step_state_parse(const char *name);
const char *rj_step_kind_name(int kind);  /* notify, processor, pusher */
const char *rj_log_level_name(int level); /* debug, info, warning, error */
const char *rj_worker_state_name(int ws); /* starting, ready, busy, ... */
const char *rj_resource_name(int res);    /* definition, queue_item, ... */
const char *rj_event_kind_name(int kind); /* create, ..., delete_list */

#endif
