/*
 * sched.c — the dispatcher's clock work: which passenger definition drives
 * next, and how long a crashed worker waits before it is started again.
 *
 * Nothing here reads a clock or sleeps. The supervisor passes "now" in
 * milliseconds to every call and sleeps itself for sched_wakeup(); tests
 * pass a mocked clock. Slots live in a plain array scanned in O(n): a
 * Databus instance has tens to hundreds of definitions, and a heap would
 * buy nothing but code.
 *
 * A slot has three reasons to be due, and the earliest wins:
 *   - its regular (pulling) drive at next_run, one period after the start
 *     of the previous pulling drive;
 *   - an expedite (operator or webhook): a pulling drive now;
 *   - a retry time: the earliest PENDING passenger's next attempt, which
 *     needs only a work-only drive (processors and pushers, no pull).
 * A slot that is driving is never due; what arrives meanwhile (expedite,
 * retry) is kept and becomes due when the drive finishes.
 */
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "sched.h"

/* What sched_next() last offered for a slot, for sched_started(). */
enum offer {
	OFFER_NONE = -1,
	OFFER_WORK = 0,
	OFFER_PULL = 1,
};

struct slot {
	uint32_t id;
	int64_t period_ms;
	int64_t next_run_ms;   /* next regular (pulling) drive */
	int64_t last_run_ms;   /* start of the last drive, -1 if none */
	int64_t pull_start_ms; /* start of the last pulling drive, -1 */
	int64_t expedite_ms;   /* when expedite was asked, -1 if not */
	int64_t retry_ms;      /* work-only drive due, -1 if none */
	bool driving;
	bool drive_pulls; /* the running drive pulls */
	enum offer offered;
};

struct sched {
	struct slot *slots;
	size_t n, cap;
	bool paused;
};

struct sched *
sched_new(void)
{
	return calloc(1, sizeof(struct sched));
}

void
sched_free(struct sched *s)
{
	if (s == NULL)
		return;
	free(s->slots);
	free(s);
}

static struct slot *
find(const struct sched *s, uint32_t id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->slots[i].id == id)
			return &s->slots[i];
	return NULL;
}

int
sched_add(struct sched *s, uint32_t slot, int64_t period_ms, int64_t first_ms)
{
	struct slot *sl;

	if (period_ms <= 0)
		return DBS_EINVAL;
	if (find(s, slot) != NULL)
		return DBS_EEXIST;
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 16;
		struct slot *v = realloc(s->slots, ncap * sizeof(*v));

		if (v == NULL)
			return DBS_ENOMEM;
		s->slots = v;
		s->cap = ncap;
	}
	sl = &s->slots[s->n++];
	*sl = (struct slot){
	    .id = slot,
	    .period_ms = period_ms,
	    .next_run_ms = first_ms,
	    .last_run_ms = -1,
	    .pull_start_ms = -1,
	    .expedite_ms = -1,
	    .retry_ms = -1,
	    .offered = OFFER_NONE,
	};
	return DBS_OK;
}

void
sched_remove(struct sched *s, uint32_t slot)
{
	struct slot *sl = find(s, slot);

	if (sl == NULL)
		return;
	*sl = s->slots[--s->n];
}

/*
 * A new period takes effect from the start of the last pulling drive, so
 * shortening it on reload makes the next drive come sooner (at once when
 * that time has passed). A slot that never pulled keeps its first time; a
 * driving slot gets it when the drive finishes.
 */
void
sched_set_period(struct sched *s, uint32_t slot, int64_t period_ms)
{
	struct slot *sl = find(s, slot);

	if (sl == NULL || period_ms <= 0)
		return;
	sl->period_ms = period_ms;
	if (!sl->driving && sl->pull_start_ms >= 0)
		sl->next_run_ms = sl->pull_start_ms + period_ms;
}

void
sched_expedite(struct sched *s, uint32_t slot, int64_t now_ms)
{
	struct slot *sl = find(s, slot);

	if (sl != NULL && sl->expedite_ms < 0)
		sl->expedite_ms = now_ms;
}

void
sched_retry_at(struct sched *s, uint32_t slot, int64_t at_ms)
{
	struct slot *sl = find(s, slot);

	if (sl != NULL && (sl->retry_ms < 0 || at_ms < sl->retry_ms))
		sl->retry_ms = at_ms;
}

void
sched_pause(struct sched *s, bool paused)
{
	s->paused = paused;
}

bool
sched_paused(const struct sched *s)
{
	return s->paused;
}

/* Whether a drive starting at now_ms should pull. */
static bool
pull_due(const struct slot *sl, int64_t now_ms)
{
	return sl->expedite_ms >= 0 || sl->next_run_ms <= now_ms;
}

void
sched_started(struct sched *s, uint32_t slot, int64_t now_ms)
{
	struct slot *sl = find(s, slot);

	if (sl == NULL)
		return;
	/* Keep the kind sched_next() offered, so that a regular time that
	 * passes between the offer and this call does not turn a work-only
	 * drive into one the scheduler believes has pulled. */
	if (sl->offered != OFFER_NONE)
		sl->drive_pulls = sl->offered == OFFER_PULL;
	else
		sl->drive_pulls = pull_due(sl, now_ms);
	sl->offered = OFFER_NONE;
	sl->driving = true;
	sl->last_run_ms = now_ms;
	if (sl->drive_pulls) {
		sl->expedite_ms = -1;
		sl->pull_start_ms = now_ms;
	}
	/* Any drive works the due PENDING passengers; a later retry time
	 * stays for a later drive. */
	if (sl->retry_ms >= 0 && sl->retry_ms <= now_ms)
		sl->retry_ms = -1;
}

void
sched_finished(struct sched *s, uint32_t slot, int64_t now_ms)
{
	struct slot *sl = find(s, slot);

	if (sl == NULL || !sl->driving)
		return;
	sl->driving = false;
	if (sl->drive_pulls) {
		sl->next_run_ms = sl->pull_start_ms + sl->period_ms;
		if (sl->next_run_ms < now_ms)
			sl->next_run_ms = now_ms;
	}
}

/* When the slot is due, whatever the reason. */
static int64_t
due_at(const struct slot *sl)
{
	int64_t t = sl->next_run_ms;

	if (sl->expedite_ms >= 0 && sl->expedite_ms < t)
		t = sl->expedite_ms;
	if (sl->retry_ms >= 0 && sl->retry_ms < t)
		t = sl->retry_ms;
	return t;
}

bool
sched_next(struct sched *s, int64_t now_ms,
    bool (*blocked)(void *ctx, uint32_t slot), void *ctx, uint32_t *slot,
    bool *pull)
{
	struct slot *best = NULL;
	int64_t best_due = 0;

	if (s->paused)
		return false;
	for (size_t i = 0; i < s->n; i++) {
		struct slot *sl = &s->slots[i];
		int64_t due;

		if (sl->driving)
			continue;
		due = due_at(sl);
		if (due > now_ms)
			continue;
		if (best != NULL &&
		    (due > best_due || (due == best_due && sl->id > best->id)))
			continue;
		if (blocked != NULL && blocked(ctx, sl->id))
			continue;
		best = sl;
		best_due = due;
	}
	if (best == NULL)
		return false;
	*slot = best->id;
	*pull = pull_due(best, now_ms);
	best->offered = *pull ? OFFER_PULL : OFFER_WORK;
	return true;
}

int64_t
sched_wakeup_unblocked(const struct sched *s, int64_t now_ms,
    bool (*blocked)(void *ctx, uint32_t slot), void *ctx)
{
	int64_t best = -1;

	if (s->paused)
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		const struct slot *sl = &s->slots[i];
		int64_t due;

		if (sl->driving)
			continue;
		if (blocked != NULL && blocked(ctx, sl->id))
			continue;
		due = due_at(sl) - now_ms;
		if (due < 0)
			due = 0;
		if (best < 0 || due < best)
			best = due;
	}
	return best;
}

int64_t
sched_wakeup(const struct sched *s, int64_t now_ms)
{
	return sched_wakeup_unblocked(s, now_ms, NULL, NULL);
}

int64_t
sched_next_run(const struct sched *s, uint32_t slot)
{
	const struct slot *sl = find(s, slot);

	if (sl == NULL)
		return -1;
	if (sl->driving && sl->drive_pulls)
		return sl->pull_start_ms + sl->period_ms;
	return sl->next_run_ms;
}

int64_t
sched_last_run(const struct sched *s, uint32_t slot)
{
	const struct slot *sl = find(s, slot);

	return sl != NULL ? sl->last_run_ms : -1;
}

/*
 * d = min(base * 2^attempt, max), computed without overflow (the shift is
 * only done when it stays under max), then a uniform value in [d/2, d].
 */
int64_t
backoff_delay_ms(
    uint32_t attempt, int64_t base_ms, int64_t max_ms, uint64_t rnd)
{
	int64_t d, lo;

	if (base_ms <= 0 || max_ms <= 0)
		return 0;
	if (base_ms >= max_ms || attempt >= 62 ||
	    base_ms > (max_ms >> attempt))
		d = max_ms;
	else
		d = base_ms << attempt;
	lo = d / 2;
	return lo + (int64_t)(rnd % (uint64_t)(d - lo + 1));
}

const struct restart_policy restart_policy_default = {
    .min_ms = 100,
    .max_ms = 30000,
    .max_restarts = 10,
    .window_ms = 60000,
    .stable_ms = 10000,
};

/*
 * The window counts the time the worker was given to run, not the time it
 * spent waiting for its restart: each returned delay moves window_start_ms
 * forward by the same amount. Counted in wall time, the doubling delays
 * alone (100 ms ... 25.6 s) would stretch ten instant crashes past a 60 s
 * window, and a crash loop would never be declared FAILED. So: more than
 * max_restarts exits within window_ms of run time is FAILED; a zeroed
 * struct restart_state is the initial state (and the one after an operator
 * restarts a FAILED worker).
 *
 * The jittered delay never goes below min_ms, the s6-style minimum pause
 * between two starts.
 */
int64_t
restart_next(struct restart_state *st, const struct restart_policy *pol,
    int64_t started_ms, int64_t now_ms, uint64_t rnd)
{
	int64_t d;

	if (now_ms - started_ms >= pol->stable_ms)
		st->consecutive = 0;
	if (st->in_window == 0 ||
	    now_ms - st->window_start_ms >= pol->window_ms) {
		st->in_window = 0;
		st->window_start_ms = now_ms;
	}
	st->in_window++;
	if (st->in_window > pol->max_restarts)
		return -1;
	d = backoff_delay_ms(st->consecutive, pol->min_ms, pol->max_ms, rnd);
	if (d < pol->min_ms)
		d = pol->min_ms;
	if (st->consecutive < UINT32_MAX)
		st->consecutive++;
	st->window_start_ms += d;
	return d;
}
