/*
 * sched.h — when each passenger definition drives, and how long a crashed
 * worker waits before it restarts. Pure logic over a caller-given clock
 * (milliseconds), so tests run it with a mocked clock.
 *
 * Scheduler: each definition ("slot") has a sync period. It is due at its
 * next run time; expedite makes it due now; a retry time (the earliest
 * PENDING passenger's next attempt) makes a work-only drive due earlier.
 * A slot never has two drives at once: between sched_started() and
 * sched_finished() it is never returned as due. While paused nothing is
 * due (expedite is remembered and happens on resume).
 */
#ifndef DBS_SCHED_H
#define DBS_SCHED_H

#include <stdbool.h>
#include <stdint.h>

struct sched;

struct sched *sched_new(void);
void sched_free(struct sched *s); /* accepts NULL */

/* Add slot (any uint32 key) with its period; first drive due at first_ms. */
int sched_add(
    struct sched *s, uint32_t slot, int64_t period_ms, int64_t first_ms);
void sched_remove(struct sched *s, uint32_t slot);
void sched_set_period(struct sched *s, uint32_t slot, int64_t period_ms);

void sched_expedite(struct sched *s, uint32_t slot, int64_t now_ms);
/* A work-only drive is due at at_ms (keeps the earlier of two). */
void sched_retry_at(struct sched *s, uint32_t slot, int64_t at_ms);
void sched_pause(struct sched *s, bool paused);
bool sched_paused(const struct sched *s);

/* The drive of `slot` started / finished at now_ms. The next regular drive
 * is due one period after the start of this one (never in the past: if a
 * drive overran, now_ms). */
void sched_started(struct sched *s, uint32_t slot, int64_t now_ms);
void sched_finished(struct sched *s, uint32_t slot, int64_t now_ms);

/* Whether `slot`'s worker can drive now (it is ready, not being replaced
 * or removed): a blocked slot is never returned as due and does not count
 * for sched_wakeup. Slots start unblocked. */
void sched_block(struct sched *s, uint32_t slot, bool blocked);

/* Whether `slot` waits for its client's other drives (quota.c:
 * max_concurrent_drives): like a block, but kept apart from it, so that
 * the worker's readiness and the client's quota never undo each other.
 * What is due stays due. */
void sched_hold(struct sched *s, uint32_t slot, bool held);

/*
 * A slot due at now_ms that is neither driving nor blocked, earliest due
 * first (ties: lowest slot); *pull is false for a work-only (retry)
 * drive. Returns false when none is due. O(1).
 */
bool sched_next(struct sched *s, int64_t now_ms, uint32_t *slot, bool *pull);

/* Milliseconds until the next due time of a slot that is neither driving
 * nor blocked (0 if due now), -1 if none or paused. O(1). */
int64_t sched_wakeup(const struct sched *s, int64_t now_ms);

/* Next regular run time of a slot (for status), -1 if unknown. */
int64_t sched_next_run(const struct sched *s, uint32_t slot);
int64_t sched_last_run(const struct sched *s, uint32_t slot);

/*
 * Exponential backoff with full jitter: a delay in
 * [base * 2^attempt / 2, base * 2^attempt] capped at max_ms, where `rnd` is
 * a random 64-bit value (so tests pass fixed ones). attempt 0 = first retry.
 */
int64_t backoff_delay_ms(
    uint32_t attempt, int64_t base_ms, int64_t max_ms, uint64_t rnd);

/*
 * Restart policy of a worker (s6-style): after each exit, restart_next()
 * says how long to wait (100 ms doubling to 30 s, with jitter) or -1 to
 * give up (more than max_restarts exits within window_ms: FAILED). A
 * worker that stayed up longer than stable_ms resets the doubling.
 */
struct restart_policy {
	int64_t min_ms;        /* 100 */
	int64_t max_ms;        /* 30000 */
	uint32_t max_restarts; /* 10 */
	int64_t window_ms;     /* 60000 */
	int64_t stable_ms;     /* 10000 */
};

struct restart_state {
	uint32_t consecutive; /* exits since the last stable run */
	uint32_t in_window;   /* exits inside the current window */
	int64_t window_start_ms;
};

extern const struct restart_policy restart_policy_default;

/* `started_ms` is when the exited process started, `now_ms` when it
 * exited. Returns the delay in ms, or -1 for FAILED. */
int64_t restart_next(struct restart_state *st,
    const struct restart_policy *pol, int64_t started_ms, int64_t now_ms,
    uint64_t rnd);

#endif
