/*
 * passenger.h — the rules of a passenger's steps and state, in one place.
 *
 * A passenger is PENDING while a step is left, DONE when every step is
 * complete or skipped, DEAD after a permanent failure or retry.max_attempts
 * failed attempts. These functions change a decoded Dbs__Passenger and
 * nothing else: no store, no sockets, no clock and no random source of
 * their own (the caller passes `now`, wall-clock milliseconds, and `rnd`
 * for the backoff's jitter), so tests run them with a mocked clock. The
 * caller reads the passenger, applies a rule, and writes it back.
 *
 * Strings set here (step errors, last_error) are malloc'ed copies owned by
 * the passenger and freed with it by dbs__passenger__free_unpacked.
 */
#ifndef DBS_PASSENGER_H
#define DBS_PASSENGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "databus.pb-c.h"

struct cfg_definition;
struct cfg_retry;

/* next_attempt_ms of a passenger that is not due: only the puller's notify
 * is left, which happens when the item shows up in its source again. */
#define PASSENGER_NEVER_MS 0x7fffffffffffLL

/* A Retry-After from a target is obeyed up to a day. */
#define PASSENGER_RETRY_AFTER_MAX_MS 86400000

/* The random source of the backoff's jitter (sup_random64 in databusd). */
typedef uint64_t (*passenger_rnd_fn)(void);

/* The number of steps a new passenger of `def` has. */
size_t passenger_n_steps(const struct cfg_definition *def);
/* The steps a new passenger of `def` starts with, into
 * steps[passenger_n_steps(def)] with stepp pointing at them: a notify step
 * named `puller`, then the definition's processors and its pushers, every
 * one incomplete (their names borrowed from `def`). */
void passenger_first_steps(const struct cfg_definition *def,
    const char *puller, Dbs__Step *steps, Dbs__Step **stepp);

/* True if the step needs nothing more (complete or skipped). */
bool passenger_step_done(const Dbs__Step *st);

/* The step called `name` (of kind `kind` unless `any_kind`), or NULL. */
Dbs__Step *passenger_find_step(
    Dbs__Passenger *p, const char *name, Dbs__StepKind kind, bool any_kind);

/* The first step left for a worker (not a notify, not done), or NULL. */
Dbs__Step *passenger_first_work_left(Dbs__Passenger *p);

/* Replace a string field with a copy of v ("" when v is NULL or empty or
 * the copy fails). */
void passenger_set_text(char **field, const char *v);

/*
 * Record a step's outcome at `now`: its new state, and for a failure one
 * more attempt and the error (any other state clears the error).
 */
void passenger_step_result(
    Dbs__Step *st, Dbs__StepState state, const char *error, int64_t now);

/*
 * Settle: derive state and next attempt from the steps. DONE (done_ms set
 * the first time) when every step is complete or skipped; PENDING
 * otherwise, never due (PASSENGER_NEVER_MS) when only the notify is left,
 * due now when work came back after that. A dead passenger stays dead:
 * only passenger_requeue brings it back.
 */
void passenger_settle(Dbs__Passenger *p, int64_t now);

/*
 * Done: an attempt in which no step failed. Settles the passenger and
 * returns true if nothing is left for a worker (DONE, or only the notify
 * left) — what a drive counts as completed.
 */
bool passenger_done(Dbs__Passenger *p, int64_t now);

/*
 * Fail: an attempt in which a step failed with `error`. One more attempt
 * on the passenger; DEAD (done_ms = now) if `permanent` or max_attempts is
 * reached, else due again after the backoff: min(base * 2^(attempts-1),
 * max) with jitter in [d/2, d] from rnd(), or after retry_after_ms when a
 * target asked for longer (capped at PASSENGER_RETRY_AFTER_MAX_MS).
 * Returns the new state (PS_DEAD or PS_PENDING).
 */
Dbs__PassengerState passenger_fail(Dbs__Passenger *p,
    const struct cfg_retry *retry, bool permanent, uint64_t retry_after_ms,
    const char *error, int64_t now, passenger_rnd_fn rnd);

/*
 * Requeue a dead passenger: every step gets max_attempts afresh, failed
 * steps become incomplete, and the passenger starts afresh (see
 * passenger_toggle). DBS_EINVAL if it is not dead.
 */
int passenger_requeue(Dbs__Passenger *p, int64_t now);

/*
 * An operator marks step `step` complete or incomplete; the passenger
 * starts afresh: no attempts, due now, no last drive, settled (DONE if that
 * was the last step). DBS_ENOTFOUND if it has no such step.
 */
int passenger_toggle(
    Dbs__Passenger *p, const char *step, bool complete, int64_t now);

#endif
