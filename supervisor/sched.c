/*
 * sched.c — the dispatcher's clock work: which passenger definition drives
 * next, and how long a crashed worker waits before it is started again.
 *
 * Nothing here reads a clock or sleeps. The supervisor passes "now" in
 * milliseconds to every call and sleeps itself for sched_wakeup(); tests
 * pass a mocked clock. A host may carry a thousand definitions, and the
 * supervisor asks what is due on every turn of its loop: the slots that
 * can drive are kept in a heap by due time, so that question costs O(1)
 * and each change O(log n), not a scan of every definition.
 *
 * A slot has three reasons to be due, and the earliest wins:
 *   - its regular (pulling) drive at next_run, one period after the start
 *     of the previous pulling drive;
 *   - an expedite (operator or webhook): a pulling drive now;
 *   - a retry time: the earliest PENDING passenger's next attempt, which
 *     needs only a work-only drive (processors and pushers, no pull).
 * A slot that is driving, or blocked (its worker is not ready:
 * sched_block), or held (its client has as many drives as its quota
 * allows: sched_hold), is never due; what arrives meanwhile (expedite, retry)
 * is kept and becomes due when the drive finishes or the block is lifted.
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

#define NOT_QUEUED SIZE_MAX

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
	bool blocked;     /* its worker cannot drive now (sched_block) */
	bool held;        /* its client drives all it may (sched_hold) */
	enum offer offered;
	size_t queued; /* index in the heap, NOT_QUEUED when not there */
};

/*
 * `slots` is sorted by id (binary search); `heap` is a min-heap, by due
 * time then id, of the slots that can drive (neither driving nor
 * blocked). So the earliest due slot is heap[0], and each change costs
 * O(log n) however many definitions there are.
 */
struct sched {
	struct slot **slots;
	size_t n, cap;
	struct slot **heap;
	size_t heap_n;
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
	for (size_t i = 0; i < s->n; i++)
		free(s->slots[i]);
	free(s->slots);
	free(s->heap);
	free(s);
}

/* Index of the first slot whose id is >= id. */
static size_t
lower_bound(const struct sched *s, uint32_t id)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->slots[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct slot *
find(const struct sched *s, uint32_t id)
{
	size_t i = lower_bound(s, id);

	return i < s->n && s->slots[i]->id == id ? s->slots[i] : NULL;
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

/* ------------------------------------------------------------- the heap */

static bool
earlier(const struct slot *a, const struct slot *b)
{
	int64_t da = due_at(a), db = due_at(b);

	return da < db || (da == db && a->id < b->id);
}

static void
heap_set(struct sched *s, size_t i, struct slot *sl)
{
	s->heap[i] = sl;
	sl->queued = i;
}

static void
sift_up(struct sched *s, size_t i)
{
	struct slot *sl = s->heap[i];

	while (i > 0 && earlier(sl, s->heap[(i - 1) / 2])) {
		heap_set(s, i, s->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(s, i, sl);
}

static void
sift_down(struct sched *s, size_t i)
{
	struct slot *sl = s->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= s->heap_n)
			break;
		if (c + 1 < s->heap_n && earlier(s->heap[c + 1], s->heap[c]))
			c++;
		if (!earlier(s->heap[c], sl))
			break;
		heap_set(s, i, s->heap[c]);
		i = c;
	}
	heap_set(s, i, sl);
}

static void
heap_remove(struct sched *s, struct slot *sl)
{
	size_t i = sl->queued;
	struct slot *last = s->heap[--s->heap_n];

	sl->queued = NOT_QUEUED;
	if (last == sl)
		return;
	heap_set(s, i, last);
	sift_up(s, i);
	sift_down(s, last->queued);
}

/* Put `sl` where its state says, after any change to it (the heap has
 * room for every slot: sched_add grows it). */
static void
requeue(struct sched *s, struct slot *sl)
{
	bool can = !sl->driving && !sl->blocked && !sl->held;

	if (!can) {
		if (sl->queued != NOT_QUEUED)
			heap_remove(s, sl);
		return;
	}
	if (sl->queued == NOT_QUEUED)
		heap_set(s, s->heap_n++, sl);
	sift_up(s, sl->queued);
	sift_down(s, sl->queued);
}

/* ------------------------------------------------------------ the slots */

int
sched_add(struct sched *s, uint32_t slot, int64_t period_ms, int64_t first_ms)
{
	struct slot *sl;
	size_t at;

	if (period_ms <= 0)
		return DBS_EINVAL;
	if (find(s, slot) != NULL)
		return DBS_EEXIST;
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 16;
		struct slot **v = realloc(s->slots, ncap * sizeof(*v));
		struct slot **h;

		if (v == NULL)
			return DBS_ENOMEM;
		s->slots = v;
		if ((h = realloc(s->heap, ncap * sizeof(*h))) == NULL)
			return DBS_ENOMEM;
		s->heap = h;
		s->cap = ncap;
	}
	if ((sl = malloc(sizeof(*sl))) == NULL)
		return DBS_ENOMEM;
	*sl = (struct slot){
	    .id = slot,
	    .period_ms = period_ms,
	    .next_run_ms = first_ms,
	    .last_run_ms = -1,
	    .pull_start_ms = -1,
	    .expedite_ms = -1,
	    .retry_ms = -1,
	    .offered = OFFER_NONE,
	    .queued = NOT_QUEUED,
	};
	/* Slots usually come in increasing order: an append. */
	at = lower_bound(s, slot);
	memmove(
	    &s->slots[at + 1], &s->slots[at], (s->n - at) * sizeof(*s->slots));
	s->slots[at] = sl;
	s->n++;
	requeue(s, sl);
	return DBS_OK;
}

void
sched_remove(struct sched *s, uint32_t slot)
{
	size_t at = lower_bound(s, slot);
	struct slot *sl;

	if (at >= s->n || s->slots[at]->id != slot)
		return;
	sl = s->slots[at];
	if (sl->queued != NOT_QUEUED)
		heap_remove(s, sl);
	memmove(&s->slots[at], &s->slots[at + 1],
	    (s->n - at - 1) * sizeof(*s->slots));
	s->n--;
	free(sl);
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
	requeue(s, sl);
}

void
sched_block(struct sched *s, uint32_t slot, bool blocked)
{
	struct slot *sl = find(s, slot);

	if (sl == NULL || sl->blocked == blocked)
		return;
	sl->blocked = blocked;
	requeue(s, sl);
}

void
sched_hold(struct sched *s, uint32_t slot, bool held)
{
	struct slot *sl = find(s, slot);

	if (sl == NULL || sl->held == held)
		return;
	sl->held = held;
	requeue(s, sl);
}

void
sched_expedite(struct sched *s, uint32_t slot, int64_t now_ms)
{
	struct slot *sl = find(s, slot);

	if (sl != NULL && sl->expedite_ms < 0) {
		sl->expedite_ms = now_ms;
		requeue(s, sl);
	}
}

void
sched_retry_at(struct sched *s, uint32_t slot, int64_t at_ms)
{
	struct slot *sl = find(s, slot);

	if (sl != NULL && (sl->retry_ms < 0 || at_ms < sl->retry_ms)) {
		sl->retry_ms = at_ms;
		requeue(s, sl);
	}
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
	requeue(s, sl);
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
	requeue(s, sl);
}

bool
sched_next(struct sched *s, int64_t now_ms, uint32_t *slot, bool *pull)
{
	struct slot *best;

	if (s->paused || s->heap_n == 0)
		return false;
	best = s->heap[0];
	if (due_at(best) > now_ms)
		return false;
	*slot = best->id;
	*pull = pull_due(best, now_ms);
	best->offered = *pull ? OFFER_PULL : OFFER_WORK;
	return true;
}

int64_t
sched_wakeup(const struct sched *s, int64_t now_ms)
{
	int64_t due;

	if (s->paused || s->heap_n == 0)
		return -1;
	due = due_at(s->heap[0]) - now_ms;
	return due < 0 ? 0 : due;
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
