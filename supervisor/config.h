/*
 * config.h — the dispatcher ticket (databus.json) and the client files
 * (clients/<client>.json), parsed and validated.
 *
 * Loading never half-succeeds: either a complete struct config comes back,
 * or an error message that names the file, the JSON path and the problem,
 * e.g. "clients/demo.json: $.passengers[0].sync_frequency: expected a
 * number of minutes or a duration string like \"30s\"". Callers exit 100
 * on it (bad config is a permanent error).
 *
 * Driver-specific settings are checked by the drivers themselves: after
 * parsing, config_check_drivers() runs `databus-worker --check` (fork+exec;
 * the supervisor never runs driver code) and turns its answers into the
 * same kind of message.
 *
 * Implemented by concern: config_parse.c (loading and freeing),
 * config_demo.c (config_demo), config_check.c (config_check_drivers),
 * config_policy.c (client_policy: what a client administrator may save).
 */
#ifndef DBS_CONFIG_H
#define DBS_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "databus.pb-c.h"

struct cfg_policy;
struct cfg_quotas;

/* One puller, processor or pusher entry: {"name", "type", ...settings}. */
struct cfg_driver {
	char *name;
	char *type;
	json_t *settings; /* the whole entry object (owned reference) */
};

struct cfg_retry {
	uint32_t max_attempts; /* default 10 */
	int64_t base_ms;       /* first backoff, default 1000 */
	int64_t max_ms;        /* backoff cap, default 3600000 */
};

/* Resource limits of a worker process (faults: "limits" of a definition
 * or of databus.json); 0 = no limit. The worker applies them to itself
 * with setrlimit before any driver runs (workers/worker_limits.c). */
struct cfg_limits {
	uint64_t memory;     /* bytes of heap and private writable mappings
				(RLIMIT_DATA) */
	uint64_t cpu_s;      /* CPU seconds over the process's life */
	uint64_t open_files; /* descriptors (RLIMIT_NOFILE) */
};

/* Worker restart policy ("restart" of databus.json; see sched.h):
 * backoff from min_ms doubling to max_ms; more than max_restarts exits
 * within window_ms of run time is FAILED; stable_ms of run resets the
 * doubling. Defaults 100 ms, 30 s, 10, 60 s, 10 s. */
struct cfg_restart {
	int64_t min_ms;
	int64_t max_ms;
	uint32_t max_restarts;
	int64_t window_ms;
	int64_t stable_ms;
};

/* A passenger definition of a client. */
struct cfg_definition {
	char *client;
	char *name;
	int64_t sync_period_ms;     /* sync_frequency: minutes or "30s" */
	int64_t queue_life_span_ms; /* queue_life_span in days (default 1) */
	struct cfg_retry retry;
	struct cfg_limits limits; /* its own "limits" (0: the default) */
	struct cfg_driver *pullers;
	size_t n_pullers;
	struct cfg_driver *processors;
	size_t n_processors;
	struct cfg_driver *pushers;
	size_t n_pushers;
	/* Canonical JSON text (sorted keys, compact) of the definition
	 * object: sent to the worker in Init, and compared on reload to know
	 * whether its worker must restart. */
	char *json;
	char *file; /* the client file it came from */
	char *path; /* its JSON path there, "$.passengers[2]" */
};

struct cfg_user {
	char *username;
	char *password; /* clear text from the file; imported hashed */
	Dbs__Role role;
};

struct cfg_client {
	char *name; /* the file name without .json */
	char *file;
	int64_t log_life_span_ms; /* log_life_span in days (default 1) */
	struct cfg_definition *defs;
	size_t n_defs;
	struct cfg_user *users;
	size_t n_users;
	/* "open_access": true: while the client has no users in the store,
	 * any login to it is accepted as operator (never for root). */
	bool open_access;
};

struct config {
	char *file;     /* databus.json (the demo's too) */
	char *base_dir; /* relative paths are relative to this */
	char *data_dir; /* absolute */
	char *system_alias;
	bool web_enabled;
	char *web_listen;         /* "127.0.0.1:5000" */
	char *web_tls_cert;       /* absolute; NULL: plain HTTP */
	char *web_tls_key;        /* absolute; set with web_tls_cert */
	char **web_allowed_hosts; /* Host names beyond the defaults */
	size_t n_web_allowed_hosts;
	char **web_metrics_allow; /* networks that may scrape /metrics */
	size_t n_web_metrics_allow;
	char *web_metrics_token_file; /* absolute; NULL: no token */
	char *clients_dir;            /* absolute */
	char **external_files;        /* absolute paths */
	char **external_listed;       /* the same, as listed in databus.json */
	size_t n_external_files;
	int64_t drive_timeout_ms;    /* default 5 min */
	int64_t shutdown_timeout_ms; /* default 30 s */
	int64_t heartbeat_ms;        /* worker heartbeat period, default 1 s */
	uint64_t store_max_size;     /* "store": {"max_size": "64GiB"} */
	/* Event-log retention (events): "store": {"event_keep": 100000,
	 * "event_max_age": "1d"}; 0 keeps the store's default / no age. */
	uint64_t event_keep;
	int64_t event_max_age_ms;
	/* "store": {"dedup_horizon": "7d"}: how long a purged passenger's
	 * dedup key is kept (store_options.dedup_horizon_ms). */
	int64_t dedup_horizon_ms;
	/* "store": {"backend": "postgres", "postgres": {"conninfo": "...",
	 * "schema": "databus"}}: the store's engine (an enum store_backend,
	 * 0 = LMDB) and, for PostgreSQL, the libpq conninfo (it may hold a
	 * password: never log it) and schema (NULL: the store's default). */
	int store_backend;
	char *pg_conninfo;
	char *pg_schema;
	struct cfg_limits limits;   /* default worker limits */
	struct cfg_restart restart; /* worker restart policy */
	struct cfg_client *clients; /* sorted by name */
	size_t n_clients;
	char *worker_path; /* databus-worker next to databusd */
	/* web sessions: "web": {"session_idle", "session_lifetime"}; 0:
	 * default */
	int64_t session_idle_ms;     /* default 12 h */
	int64_t session_lifetime_ms; /* default 24 h */
	/* "client_policy": what client administrators may save
	 * (config_policy.h); NULL: the defaults */
	struct cfg_policy *client_policy;
	/* "quotas": per-client quotas and resources (config_quota.h); NULL:
	 * none */
	struct cfg_quotas *quotas;
};

/* The limits a definition's worker runs with: its own, else the default
 * of databus.json, field by field. */
struct cfg_limits config_limits(
    const struct config *cfg, const struct cfg_definition *def);

/*
 * Load databus.json at `path` and every clients/<client>.json. Relative
 * paths in the files are relative to the directory of databus.json. On
 * error returns DBS_ECONFIG (or DBS_ENOMEM) with `err` filled; *out is set
 * only on success.
 */
int config_load(
    const char *path, struct config **out, char *err, size_t errlen);

/*
 * A file as it would be after a config save (config_save.c): while
 * config_load_staged runs, the loader reads `text` instead of the file at
 * `path` (compared as the loader builds it: the --config path as given,
 * <clients_dir>/<client>.json), sees a new client file that does not exist
 * yet, and ignores a client file marked `removed`. Nothing is written.
 */
struct config_stage {
	const char *path;
	const char *text;
	size_t len;
	bool removed;
};

int config_load_staged(const char *path, const struct config_stage *stage,
    size_t n_stage, struct config **out, char *err, size_t errlen);

/*
 * The demo configuration, as files: data dir `data_dir` (default "var"),
 * web on `listen` (default 127.0.0.1:5000). The first start writes
 * <data_dir>/demo-config/ (databus.json, clients/demo.json with the
 * definitions "mails" and "invoices" and user demo/demo/demo
 * (administrator), clients/root.json with root/root/root, and the external
 * file extra/accounts.json) and <data_dir>/files/demo/{outbox,invoices};
 * every start loads those files with config_load (existing files are kept,
 * but web.listen follows `listen`). config_demo.c says more.
 */
int config_demo(const char *data_dir, const char *listen, struct config **out,
    char *err, size_t errlen);

/*
 * Parse one client file's text (for reload and for config saves from the
 * web). `file` names it in messages; `client` is its client name.
 */
int config_parse_client(const char *file, const char *client, const char *text,
    size_t len, struct cfg_client *out, char *err, size_t errlen);
void config_client_clear(struct cfg_client *c); /* frees the contents */

/*
 * Ask `worker_path --check` to initialise every driver of every definition
 * of `cfg` (then finalise it, changing nothing). Returns DBS_OK or
 * DBS_ECONFIG with the first problems in `err` ("file: $.path: message").
 */
int config_check_drivers(const struct config *cfg, char *err, size_t errlen);

/*
 * The same with an explicit program instead of cfg->worker_path (tests
 * pass a fake). The program gets on stdin a JSON array of {"file", "path",
 * "client", "definition"} objects, one per definition, and answers with
 * exit status 0 (all good) or 100 and one problem per line on stdout; any
 * other outcome is reported as "cannot run <program> --check: ...". The
 * check is bounded by cfg->drive_timeout_ms.
 */
int config_check_drivers_with(const struct config *cfg,
    const char *worker_path, char *err, size_t errlen);

/* "30s", "5m", "2h", "1d", "250ms" or a bare number times unit_ms. */
int config_parse_duration(const json_t *v, int64_t unit_ms, int64_t *out_ms);

/* Find a definition; NULL when absent. */
const struct cfg_definition *config_find(
    const struct config *cfg, const char *client, const char *definition);

void config_free(struct config *cfg); /* accepts NULL */

#endif
