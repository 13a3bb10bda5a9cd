/*
 * test_child.c — the life table of databusd's children (supervisor/life.c),
 * shared by the workers and databus-web: every state × event cell against
 * an independent statement of the rules, and the backoff with a mocked
 * clock (growth, the cap, the reset after a stable run, FAILED after too
 * many exits in the window).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "life.h"

#define S(st) DBS__WORKER_STATE__WS_##st

static const Dbs__WorkerState states[] = {S(STARTING), S(READY), S(BUSY),
    S(BACKOFF), S(FAILED), S(STOPPING), S(STOPPED)};

static int
running(Dbs__WorkerState st)
{
	return st == S(STARTING) || st == S(READY) || st == S(BUSY) ||
	       st == S(STOPPING);
}

/* The rules, said once more in another way. Returns 0 for "ignored". */
static int
expected(Dbs__WorkerState st, enum child_event ev, struct child_step *out)
{
	struct child_step r = {1, st, CHILD_DO_NOTHING};

	switch (ev) {
	case CHILD_EV_SPAWNED:
		r.next = S(STARTING);
		break;
	case CHILD_EV_SPAWN_FAILED:
		r.next = S(BACKOFF);
		r.action = CHILD_DO_BACKOFF;
		break;
	case CHILD_EV_READY:
		if (st != S(STARTING))
			return 0;
		r.next = S(READY);
		break;
	case CHILD_EV_DRIVE:
		if (st != S(READY))
			return 0;
		r.next = S(BUSY);
		break;
	case CHILD_EV_IDLE:
		if (st != S(BUSY))
			return 0;
		r.next = S(READY);
		break;
	case CHILD_EV_STOP:
	case CHILD_EV_KILLED:
		if (!running(st))
			return 0;
		r.next = S(STOPPING);
		break;
	case CHILD_EV_DEADLINE:
		if (!running(st))
			return 0;
		r.next = S(STOPPING);
		r.action = CHILD_DO_KILL;
		break;
	case CHILD_EV_EXITED:
		if (!running(st))
			return 0;
		r.next = S(BACKOFF);
		r.action = CHILD_DO_BACKOFF;
		break;
	case CHILD_EV_EXITED_PERMANENT:
		if (!running(st))
			return 0;
		r.next = S(FAILED);
		break;
	case CHILD_EV_EXITED_FINAL:
		if (!running(st))
			return 0;
		r.next = S(STOPPED);
		break;
	case CHILD_EV_EXITED_RESPAWN:
		if (!running(st))
			return 0;
		r.next = S(STOPPED);
		r.action = CHILD_DO_SPAWN;
		break;
	case CHILD_EV_RESTART_DUE:
		if (st != S(BACKOFF))
			return 0;
		r.action = CHILD_DO_SPAWN;
		break;
	case CHILD_EV_CANCEL:
		if (st != S(BACKOFF) && st != S(FAILED) && st != S(STOPPED))
			return 0;
		r.next = S(STOPPED);
		break;
	default:
		return 0;
	}
	*out = r;
	return 1;
}

static void
test_every_cell(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		for (int ev = 0; ev <= CHILD_EV_COUNT; ev++) {
			struct child_step want = {0, states[i], 0};
			struct child_step got =
			    child_life(states[i], (enum child_event)ev);
			int valid =
			    expected(states[i], (enum child_event)ev, &want);

			if (got.valid != valid ||
			    (valid && (got.next != want.next ||
					  got.action != want.action)))
				fail_msg("%s × %s: got valid %d next %s "
					 "action %d",
				    child_state_name(states[i]),
				    child_event_name((enum child_event)ev),
				    got.valid, child_state_name(got.next),
				    got.action);
			if (!got.valid)
				assert_int_equal(got.next, states[i]);
		}
}

/* Readiness is a message: nothing but READY makes a starting child
 * ready (no timer, no spawn). */
static void
test_ready_only_by_message(void **state)
{
	(void)state;
	for (int ev = 0; ev < CHILD_EV_COUNT; ev++) {
		struct child_step st =
		    child_life(S(STARTING), (enum child_event)ev);

		if (ev == CHILD_EV_READY)
			assert_int_equal(st.next, S(READY));
		else
			assert_int_not_equal(st.next, S(READY));
	}
	assert_int_equal(
	    child_life(S(STOPPED), CHILD_EV_SPAWNED).next, S(STARTING));
}

/* Each quick exit doubles the delay (with jitter in [d/2, d]) up to the
 * cap; a mocked clock moves by the delay each time. */
static void
test_backoff_growth(void **state)
{
	struct restart_policy pol = {100, 30000, 1000, 3600000, 10000};
	struct restart_state rs = {0};
	int64_t now = 1000;

	(void)state;
	for (int k = 0; k < 12; k++) {
		int64_t at = 0, d = 100LL << k;

		if (d > 30000)
			d = 30000;
		assert_int_equal(child_backoff(&rs, &pol, now - 5, now,
				     (uint64_t)k * 7919, &at),
		    S(BACKOFF));
		assert_true(at - now >= d / 2 && at - now <= d);
		now = at + 5; /* restarted when due, crashed 5 ms later */
	}
}

/* A run longer than stable_ms starts the doubling again. */
static void
test_stable_run_resets(void **state)
{
	const struct restart_policy pol = restart_policy_default;
	struct restart_state rs = {0};
	int64_t at = 0, now = 0, delay = 0;

	(void)state;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(
		    child_backoff(&rs, &pol, now, now + 1, 0, &at),
		    S(BACKOFF));
		delay = at - (now + 1);
		now = at;
	}
	assert_true(delay > pol.min_ms); /* doubled by now */
	assert_int_equal(
	    child_backoff(&rs, &pol, now, now + pol.stable_ms, 0, &at),
	    S(BACKOFF));
	assert_true(at - (now + pol.stable_ms) <= pol.min_ms);
}

/* More than max_restarts exits within the window: FAILED, and the
 * restart time is left alone. */
static void
test_failed_after_too_many(void **state)
{
	const struct restart_policy pol = restart_policy_default;
	struct restart_state rs = {0};
	int64_t at = 0, now = 0;

	(void)state;
	for (uint32_t i = 0; i < pol.max_restarts; i++) {
		assert_int_equal(
		    child_backoff(&rs, &pol, now, now + 1, 0, &at),
		    S(BACKOFF));
		now += 1;
	}
	at = -7;
	assert_int_equal(
	    child_backoff(&rs, &pol, now, now + 1, 0, &at), S(FAILED));
	assert_int_equal(at, -7);
}

/* A whole life with a mocked clock: spawn, ready, drive, crash, back
 * off, restart when due, fail for good. */
static void
test_a_life(void **state)
{
	const struct restart_policy pol = restart_policy_default;
	struct restart_state rs = {0};
	Dbs__WorkerState st = S(STOPPED);
	int64_t now = 0, started = 0, at = 0;
	struct child_step step;

	(void)state;
	st = child_life(st, CHILD_EV_SPAWNED).next;
	assert_int_equal(st, S(STARTING));
	st = child_life(st, CHILD_EV_READY).next;
	st = child_life(st, CHILD_EV_DRIVE).next;
	assert_int_equal(st, S(BUSY));
	now += 50;
	step = child_life(st, CHILD_EV_EXITED);
	assert_int_equal(step.action, CHILD_DO_BACKOFF);
	st = child_backoff(&rs, &pol, started, now, 0, &at);
	assert_int_equal(st, S(BACKOFF));
	/* Not yet due: the loop only waits; then the restart is due. */
	assert_true(at > now);
	now = at;
	step = child_life(st, CHILD_EV_RESTART_DUE);
	assert_int_equal(step.action, CHILD_DO_SPAWN);
	st = child_life(st, CHILD_EV_SPAWNED).next;
	started = now;
	now += 10;
	st = child_life(st, CHILD_EV_EXITED_PERMANENT).next;
	assert_int_equal(st, S(FAILED));
	assert_false(child_life(st, CHILD_EV_RESTART_DUE).valid);
	assert_int_equal(child_life(st, CHILD_EV_CANCEL).next, S(STOPPED));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_cell),
	    cmocka_unit_test(test_ready_only_by_message),
	    cmocka_unit_test(test_backoff_growth),
	    cmocka_unit_test(test_stable_run_resets),
	    cmocka_unit_test(test_failed_after_too_many),
	    cmocka_unit_test(test_a_life),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
