/*
 * history.h — what databusd remembers over time, for the charts of the
 * web UI: per passenger definition its throughput (passengers done),
 * queue depth (pending), failures (failed attempts, passengers gone
 * dead) and drives (count, mean and longest duration); for the system
 * the store's used bytes and the group commits' latency.
 *
 * Each series has 1-minute points for 24 hours and 1-hour points for 30
 * days, both rings indexed by wall-clock minute or hour, so that the
 * current minute and hour are included while they fill. A value is added
 * to both rings at once (the hour is the sum of its minutes; a gauge
 * keeps its last sample). Points are compact integers (28 bytes for a
 * definition, saturating), and a definition's rings are allocated only at
 * its first drive that moved anything: an idle definition costs nothing.
 * The bound is 2,160 points, 60,480 bytes (plus its names), per
 * definition that ever carried a passenger, and the system's own rings
 * (69,120 bytes).
 *
 * The module is pure (no store, no sockets, the wall clock passed in), so
 * that tests/unit/test_history.c drives it with a mocked clock;
 * history_sup.c connects it to databusd. history_save and history_load
 * keep it across restarts in one file of the data dir.
 */
#ifndef DBS_HISTORY_H
#define DBS_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#define HISTORY_MINUTES 1440 /* 24 h of 1-minute points */
#define HISTORY_HOURS   720  /* 30 d of 1-hour points */

struct history;

enum history_range {
	HISTORY_24H, /* 1-minute points, the last 24 h */
	HISTORY_30D, /* 1-hour points, the last 30 days */
};

/* A series as read: n points of every column, oldest first; the first
 * starts at start_ms (wall clock), each lasts step_ms, the last is the
 * current minute or hour. names[i] names cols[i]; both are n_cols long.
 * Free with history_series_free. */
#define HISTORY_MAX_COLS 8
struct history_series {
	int64_t start_ms, step_ms;
	size_t n, n_cols;
	const char *names[HISTORY_MAX_COLS];
	uint64_t *cols[HISTORY_MAX_COLS];
};

/* NULL when out of memory. history_free accepts NULL. */
struct history *history_new(void);
void history_free(struct history *h);

/* Parse "24h" or "30d" (NULL or "" is 24h); -1 when it is neither. */
int history_range_parse(const char *s, enum history_range *r);

/*
 * A drive of client/definition ended at now_ms (wall clock): `done`
 * passengers completed, `failed` step attempts failed, `dead` passengers
 * went dead, `pending` waited in its queue afterwards, and it took
 * drive_ms. A drive that moved nothing (all zero) of a definition without
 * history allocates nothing. DBS_OK or DBS_ENOMEM.
 */
int history_drive(struct history *h, const char *client,
    const char *definition, int64_t now_ms, uint32_t done, uint32_t failed,
    uint32_t dead, uint64_t pending, int64_t drive_ms);

/* A group commit took elapsed_us; the store uses used_bytes (0: not
 * sampled now). */
void history_commit(struct history *h, int64_t now_ms, int64_t elapsed_us);
void history_store_size(struct history *h, int64_t now_ms, uint64_t used);

/*
 * Read a definition's series (done, failed, dead, pending, drives,
 * drive_ms_mean, drive_ms_max) or the system's (used_bytes, commits,
 * commit_us_mean, commit_us_max). A gauge (pending, used_bytes) carries
 * its last sample over the points without one, and its current point is
 * `now_value` (the live figure). A definition without history reads as
 * zeros. DBS_OK or DBS_ENOMEM; *out is cleared first.
 */
int history_read(const struct history *h, const char *client,
    const char *definition, enum history_range r, int64_t now_ms,
    uint64_t now_value, struct history_series *out);
/* The same summed over every definition of `client` (NULL: of all):
 * counts and depths add up, the mean is over all their drives, the
 * longest is the longest of any. */
int history_read_sum(const struct history *h, const char *client,
    enum history_range r, int64_t now_ms, uint64_t now_value,
    struct history_series *out);
int history_read_system(const struct history *h, enum history_range r,
    int64_t now_ms, uint64_t now_value, struct history_series *out);
void history_series_free(struct history_series *s);

/* How many definitions have history, and the bytes all of it holds. */
size_t history_definitions(const struct history *h);
size_t history_bytes(const struct history *h);

/* Forget the history of definitions that are not in the configuration
 * any more: keep(ctx, client, definition) says which stay. */
void history_retain(struct history *h,
    int (*keep)(void *ctx, const char *client, const char *definition),
    void *ctx);

/*
 * Write everything to `path` (through path.tmp and a rename; not
 * fsync'd), or read it
 * back into an empty history. The file is a cache in this host's byte
 * order: a file that is not one of ours, or torn, is ignored
 * (DBS_EINVAL) and the history starts empty. DBS_OK, DBS_EIO, DBS_EINVAL
 * or DBS_ENOMEM; load on a missing file answers DBS_ENOTFOUND.
 */
int history_save(const struct history *h, const char *path);
int history_load(struct history *h, const char *path);

#endif
