/*
 * config_parse.h — what the parser (config_parse.c) lends to the other
 * parts of the configuration: the built-in demo (config_demo.c) is made
 * with the same client parser, defaults and error messages, and the driver
 * check (config_check.c) uses the same default timeout. Private to
 * supervisor/config_*.c; the public header is config.h.
 */
#ifndef DBS_CONFIG_PARSE_H
#define DBS_CONFIG_PARSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define DEFAULT_LISTEN "127.0.0.1:5000"
#define DAY_MS         (24LL * 3600 * 1000)
#define MINUTE_MS      (60LL * 1000)
#define SECOND_MS      1000LL
#define STORE_DEFAULT  (64ULL << 30)

/* The event log keeps a day of history by default; a purged passenger's
 * dedup key is kept a week (store.dedup_horizon). */
#define EVENT_MAX_AGE_DEFAULT DAY_MS
#define DEDUP_HORIZON_DEFAULT (7 * DAY_MS)

/* Where messages go and which file they name. */
struct pctx {
	const char *file;
	char *err;
	size_t errlen;
};

/* "<file>: <path>: <message>" (or "<file>: <message>" when path is NULL)
 * into p->err; returns DBS_ECONFIG. */
int config_fail(struct pctx *p, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "<file>: out of memory"; returns DBS_ENOMEM. */
int config_nomem(struct pctx *p);

/* A byte count: an integer, or "512MiB", "64GiB", "1.5TB", ...
 * (1 byte to 1024TiB). */
int config_parse_size(const json_t *v, uint64_t *out);
/* "host:port" or "[v6addr]:port", port 1-65535. */
bool config_valid_listen(const char *s);
/* `rel` made absolute against `base` (not normalised); malloc'ed. */
char *config_join_path(const char *base, const char *rel);
/* databus-worker in the directory of the running program; malloc'ed, or
 * NULL with errno set. */
char *config_find_worker(void);

/* The "restart" object of databus.json into *r; with root NULL, the
 * defaults. */
int config_parse_restart(struct pctx *p, json_t *root, struct cfg_restart *r);
/* A parsed client file (`root` is its JSON) into *out. */
int config_parse_client_json(
    struct pctx *p, const char *client, json_t *root, struct cfg_client *out);

#endif
