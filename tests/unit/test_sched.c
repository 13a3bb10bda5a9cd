/*
 * test_sched.c — the scheduler and the restart policy under a mocked
 * clock: every time below is a plain number of milliseconds handed to the
 * functions, so each scenario reads as a timeline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dbs_error.h"
#include "sched.h"

#define MIN 60000

static int
setup(void **state)
{
	*state = sched_new();
	return *state == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	sched_free(*state);
	return 0;
}

/* Asserts that `want` is the due slot at `now` and what kind of drive. */
static void
expect_next(struct sched *s, int64_t now, uint32_t want, bool want_pull)
{
	uint32_t slot = 0;
	bool pull = !want_pull;

	assert_true(sched_next(s, now, &slot, &pull));
	assert_int_equal(slot, want);
	assert_int_equal(pull, want_pull);
}

static void
expect_none(struct sched *s, int64_t now)
{
	uint32_t slot;
	bool pull;

	assert_false(sched_next(s, now, &slot, &pull));
}

static void
test_add_errors(void **state)
{
	struct sched *s = *state;

	assert_int_equal(sched_add(s, 1, 0, 0), DBS_EINVAL);
	assert_int_equal(sched_add(s, 1, -5, 0), DBS_EINVAL);
	assert_int_equal(sched_add(s, 1, MIN, 0), DBS_OK);
	assert_int_equal(sched_add(s, 1, MIN, 0), DBS_EEXIST);
	assert_int_equal(sched_next_run(s, 2), -1);
	assert_int_equal(sched_last_run(s, 2), -1);
	assert_int_equal(sched_last_run(s, 1), -1);
	/* Calls about unknown slots change nothing and do not crash. */
	sched_started(s, 9, 0);
	sched_finished(s, 9, 0);
	sched_expedite(s, 9, 0);
	sched_retry_at(s, 9, 0);
	sched_set_period(s, 9, 5);
	sched_remove(s, 9);
	sched_free(NULL);
}

static void
test_periodic(void **state)
{
	struct sched *s = *state;

	assert_int_equal(sched_add(s, 7, MIN, 1000), DBS_OK);
	assert_int_equal(sched_next_run(s, 7), 1000);
	expect_none(s, 999);
	assert_int_equal(sched_wakeup(s, 0), 1000);
	assert_int_equal(sched_wakeup(s, 400), 600);
	expect_next(s, 1000, 7, true);
	/* Offered but not started: still due. */
	expect_next(s, 1200, 7, true);
	sched_started(s, 7, 1200);
	assert_int_equal(sched_last_run(s, 7), 1200);
	/* While driving the next time is already known (for status). */
	assert_int_equal(sched_next_run(s, 7), 1200 + MIN);
	expect_none(s, 1300);
	assert_int_equal(sched_wakeup(s, 1300), -1);
	sched_finished(s, 7, 5000);
	/* One period after the start, not after the finish. */
	assert_int_equal(sched_next_run(s, 7), 1200 + MIN);
	assert_int_equal(sched_wakeup(s, 5000), 1200 + MIN - 5000);
	expect_none(s, 1200 + MIN - 1);
	expect_next(s, 1200 + MIN, 7, true);
}

static void
test_overrun(void **state)
{
	struct sched *s = *state;

	assert_int_equal(sched_add(s, 1, 1000, 0), DBS_OK);
	expect_next(s, 0, 1, true);
	sched_started(s, 1, 0);
	sched_finished(s, 1, 2500);
	/* Overran its period: due at the finish, not in the past. */
	assert_int_equal(sched_next_run(s, 1), 2500);
	assert_int_equal(sched_wakeup(s, 2500), 0);
	expect_next(s, 2500, 1, true);
}

static void
test_expedite_idle(void **state)
{
	struct sched *s = *state;

	assert_int_equal(sched_add(s, 1, MIN, 0), DBS_OK);
	sched_started(s, 1, 0);
	sched_finished(s, 1, 10);
	expect_none(s, 500);
	sched_expedite(s, 1, 500);
	assert_int_equal(sched_wakeup(s, 500), 0);
	expect_next(s, 500, 1, true);
	sched_started(s, 1, 501);
	sched_finished(s, 1, 600);
	/* The expedited drive was a full one: the period restarts there. */
	assert_int_equal(sched_next_run(s, 1), 501 + MIN);
	expect_none(s, 700);
}

static void
test_expedite_while_driving(void **state)
{
	struct sched *s = *state;

	assert_int_equal(sched_add(s, 1, MIN, 0), DBS_OK);
	expect_next(s, 0, 1, true);
	sched_started(s, 1, 0);
	sched_expedite(s, 1, 100);
	expect_none(s, 200); /* never two drives at once */
	assert_int_equal(sched_wakeup(s, 200), -1);
	sched_finished(s, 1, 300);
	/* Runs right after the finish. */
	assert_int_equal(sched_wakeup(s, 300), 0);
	expect_next(s, 300, 1, true);
	sched_started(s, 1, 300);
	sched_finished(s, 1, 400);
	expect_none(s, 400);
	assert_int_equal(sched_next_run(s, 1), 300 + MIN);
}

static void
test_retry_work_only(void **state)
{
	struct sched *s = *state;

	assert_int_equal(sched_add(s, 1, MIN, 0), DBS_OK);
	sched_started(s, 1, 0);
	sched_finished(s, 1, 100);
	sched_retry_at(s, 1, 5000);
	sched_retry_at(s, 1, 9000); /* the earlier one stays */
	assert_int_equal(sched_wakeup(s, 1000), 4000);
	expect_none(s, 4999);
	expect_next(s, 5000, 1, false);
	/* The regular time passes before the drive starts: the drive is
	 * still the work-only one that was offered. */
	sched_started(s, 1, MIN + 10);
	assert_int_equal(sched_last_run(s, 1), MIN + 10);
	sched_finished(s, 1, MIN + 20);
	/* A work-only drive does not move the regular schedule. */
	assert_int_equal(sched_next_run(s, 1), MIN);
	expect_next(s, MIN + 20, 1, true);
	sched_started(s, 1, MIN + 20);
	sched_finished(s, 1, MIN + 30);
	expect_none(s, MIN + 30);
}

static void
test_retry_started_without_offer(void **state)
{
	struct sched *s = *state;

	assert_int_equal(sched_add(s, 1, MIN, 0), DBS_OK);
	sched_started(s, 1, 0);
	sched_finished(s, 1, 10);
	sched_retry_at(s, 1, 1000);
	/* Started directly: the kind follows what is due at that time. */
	sched_started(s, 1, 1000);
	sched_finished(s, 1, 1100);
	assert_int_equal(sched_next_run(s, 1), MIN);
	assert_int_equal(sched_wakeup(s, 1100), MIN - 1100);
}

static void
test_retry_kept_across_drive(void **state)
{
	struct sched *s = *state;

	assert_int_equal(sched_add(s, 1, MIN, 0), DBS_OK);
	expect_next(s, 0, 1, true);
	sched_started(s, 1, 0);
	/* A step failed during the drive; its retry is later. */
	sched_retry_at(s, 1, 2000);
	sched_finished(s, 1, 500);
	expect_none(s, 1999);
	expect_next(s, 2000, 1, false);
	sched_started(s, 1, 2000);
	sched_finished(s, 1, 2100);
	expect_none(s, 2100);
	assert_int_equal(sched_wakeup(s, 2100), MIN - 2100);
	/* A retry time still ahead when a regular drive starts is kept. */
	sched_retry_at(s, 1, MIN + 5000);
	expect_next(s, MIN, 1, true);
	sched_started(s, 1, MIN);
	sched_finished(s, 1, MIN + 100);
	expect_none(s, MIN + 4999);
	expect_next(s, MIN + 5000, 1, false);
}

static void
test_retry_while_pull_due(void **state)
{
	struct sched *s = *state;

	assert_int_equal(sched_add(s, 1, MIN, 0), DBS_OK);
	sched_retry_at(s, 1, 0);
	/* Both due: the drive pulls (and does the work too). */
	expect_next(s, 0, 1, true);
	sched_started(s, 1, 0);
	sched_finished(s, 1, 10);
	expect_none(s, 10);
}

static void
test_pause_resume(void **state)
{
	struct sched *s = *state;

	assert_int_equal(sched_add(s, 1, MIN, 0), DBS_OK);
	assert_int_equal(sched_add(s, 2, MIN, 100000), DBS_OK);
	assert_false(sched_paused(s));
	sched_pause(s, true);
	assert_true(sched_paused(s));
	expect_none(s, 0);
	assert_int_equal(sched_wakeup(s, 0), -1);
	sched_expedite(s, 2, 10);
	expect_none(s, 20);
	sched_pause(s, false);
	assert_false(sched_paused(s));
	/* Slot 2's expedite was remembered; slot 1 was due earlier. */
	expect_next(s, 30, 1, true);
	sched_started(s, 1, 30);
	expect_next(s, 30, 2, true);
	sched_started(s, 2, 30);
	expect_none(s, 30);
	sched_finished(s, 1, 40);
	sched_finished(s, 2, 40);
	expect_none(s, 40);
	assert_int_equal(sched_next_run(s, 2), 30 + MIN);
}

static void
test_blocked_and_order(void **state)
{
	struct sched *s = *state;
	uint32_t slot;
	bool pull;

	assert_int_equal(sched_add(s, 5, MIN, 300), DBS_OK);
	assert_int_equal(sched_add(s, 3, MIN, 100), DBS_OK);
	assert_int_equal(sched_add(s, 4, MIN, 200), DBS_OK);
	assert_int_equal(sched_add(s, 2, MIN, 200), DBS_OK);
	/* Earliest due first; ties by slot number. */
	expect_next(s, 1000, 3, true);
	sched_block(s, 3, true);
	sched_block(s, 5, true);
	assert_true(sched_next(s, 1000, &slot, &pull));
	assert_int_equal(slot, 2);
	sched_started(s, 2, 1000);
	assert_true(sched_next(s, 1000, &slot, &pull));
	assert_int_equal(slot, 4);
	sched_started(s, 4, 1000);
	/* Only blocked slots are due: nothing to wake up for. */
	assert_false(sched_next(s, 1000, &slot, &pull));
	assert_int_equal(sched_wakeup(s, 1000), -1);
	sched_finished(s, 4, 1100);
	assert_int_equal(sched_wakeup(s, 1100), 1000 + MIN - 1100);
	/* Lifting a block makes the slot due again, in its place. */
	sched_block(s, 5, false);
	assert_int_equal(sched_wakeup(s, 1100), 0);
	expect_next(s, 1100, 5, true);
	sched_block(s, 3, false);
	expect_next(s, 1100, 3, true);
	/* A removed slot leaves the heap whatever its place. */
	sched_remove(s, 3);
	expect_next(s, 1100, 5, true);
}

/* A held slot (quota.c: its client drives all it may) is not offered
 * and stays due; a block and a hold are independent. */
static void
test_hold(void **state)
{
	struct sched *s = *state;

	assert_int_equal(sched_add(s, 1, MIN, 100), DBS_OK);
	assert_int_equal(sched_add(s, 2, MIN, 200), DBS_OK);
	sched_hold(s, 1, true);
	expect_next(s, 1000, 2, true);
	sched_started(s, 2, 1000);
	expect_none(s, 1000);
	assert_int_equal(sched_wakeup(s, 1000), -1);
	sched_block(s, 1, true);
	sched_hold(s, 1, false);
	expect_none(s, 1000);
	sched_block(s, 1, false);
	expect_next(s, 1000, 1, true);
}

/* The heap against a plain scan: random blocks, unblocks, retry times,
 * removals and re-adds over 200 slots; the due slot is always the
 * earliest (ties: lowest id) that is not blocked, and sched_wakeup says
 * when. */
static void
test_heap_matches_scan(void **state)
{
	struct sched *s = *state;
	int64_t due[200];
	bool blocked[200] = {false}, present[200];
	uint64_t r = 42;

	for (uint32_t i = 0; i < 200; i++) {
		r = r * 6364136223846793005ULL + 1442695040888963407ULL;
		due[i] = (int64_t)((r >> 33) % 100000);
		present[i] = true;
		assert_int_equal(sched_add(s, i, MIN, due[i]), DBS_OK);
	}
	for (int step = 0; step < 20000; step++) {
		uint32_t i, want = UINT32_MAX, got = 0;
		int64_t at;
		bool pull;

		r = r * 6364136223846793005ULL + 1442695040888963407ULL;
		i = (uint32_t)((r >> 33) % 200);
		at = (int64_t)((r >> 13) % 100000);
		switch ((r >> 7) % 4) {
		case 0:
			blocked[i] = !blocked[i];
			sched_block(s, i, blocked[i]);
			break;
		case 1:
			sched_retry_at(s, i, at);
			if (at < due[i])
				due[i] = at;
			break;
		case 2:
			if (present[i]) {
				sched_remove(s, i);
			} else {
				assert_int_equal(
				    sched_add(s, i, MIN, at), DBS_OK);
				due[i] = at;
				blocked[i] = false;
			}
			present[i] = !present[i];
			break;
		default:
			sched_set_period(s, i, MIN); /* changes nothing due */
			break;
		}
		for (uint32_t j = 0; j < 200; j++)
			if (present[j] && !blocked[j] &&
			    (want == UINT32_MAX || due[j] < due[want]))
				want = j;
		if (want == UINT32_MAX) {
			assert_false(sched_next(s, 200000, &got, &pull));
			assert_int_equal(sched_wakeup(s, 0), -1);
			continue;
		}
		assert_true(sched_next(s, 200000, &got, &pull));
		assert_int_equal(got, want);
		assert_int_equal(sched_wakeup(s, 0), due[want]);
	}
}

static void
test_remove_and_period(void **state)
{
	struct sched *s = *state;

	assert_int_equal(sched_add(s, 1, MIN, 0), DBS_OK);
	assert_int_equal(sched_add(s, 2, MIN, 50), DBS_OK);
	sched_remove(s, 1);
	assert_int_equal(sched_next_run(s, 1), -1);
	expect_next(s, 100, 2, true);
	sched_started(s, 2, 100);
	/* Removed while driving: its finish is ignored. */
	sched_remove(s, 2);
	sched_finished(s, 2, 200);
	expect_none(s, 10 * MIN);
	assert_int_equal(sched_wakeup(s, 0), -1);
	assert_int_equal(sched_add(s, 2, MIN, 0), DBS_OK);
	/* A period change before any drive keeps the first time. */
	sched_set_period(s, 2, 5000);
	assert_int_equal(sched_next_run(s, 2), 0);
	sched_started(s, 2, 0);
	/* While driving: applied at the finish. */
	sched_set_period(s, 2, 2000);
	sched_finished(s, 2, 100);
	assert_int_equal(sched_next_run(s, 2), 2000);
	/* Idle: counted from the start of the last pulling drive. */
	sched_set_period(s, 2, 10000);
	assert_int_equal(sched_next_run(s, 2), 10000);
	sched_set_period(s, 2, 0); /* refused */
	assert_int_equal(sched_next_run(s, 2), 10000);
}

static void
test_many_slots(void **state)
{
	struct sched *s = *state;
	uint32_t slot;
	bool pull;

	for (uint32_t i = 0; i < 300; i++)
		assert_int_equal(sched_add(s, i, MIN, 299 - i), DBS_OK);
	for (uint32_t i = 0; i < 300; i++) {
		assert_true(sched_next(s, 1000, &slot, &pull));
		assert_int_equal(slot, 299 - i);
		sched_started(s, slot, 1000);
	}
	expect_none(s, 1000);
}

static void
test_backoff_ranges(void **state)
{
	(void)state;
	/* rnd 0 gives the low end d/2, d/2 + rnd % (d/2 + 1) otherwise. */
	assert_int_equal(backoff_delay_ms(0, 1000, 3600000, 0), 500);
	assert_int_equal(backoff_delay_ms(0, 1000, 3600000, 500), 1000);
	assert_int_equal(backoff_delay_ms(0, 1000, 3600000, 501), 500);
	assert_int_equal(backoff_delay_ms(1, 1000, 3600000, 0), 1000);
	assert_int_equal(backoff_delay_ms(1, 1000, 3600000, 1000), 2000);
	assert_int_equal(backoff_delay_ms(3, 1000, 3600000, 4000), 8000);
	for (uint32_t a = 0; a < 12; a++) {
		int64_t d = 1000LL << a;

		for (uint64_t r = 0; r < 5000; r += 97) {
			int64_t v = backoff_delay_ms(a, 1000, 3600000, r);

			assert_in_range(v, d / 2, d);
		}
		assert_in_range(
		    backoff_delay_ms(a, 1000, 3600000, UINT64_MAX), d / 2, d);
	}
}

static void
test_backoff_caps(void **state)
{
	(void)state;
	/* 1000 * 2^12 > 3600000: capped, jitter within [max/2, max]. */
	assert_int_equal(backoff_delay_ms(12, 1000, 3600000, 0), 1800000);
	assert_int_equal(
	    backoff_delay_ms(12, 1000, 3600000, 1800000), 3600000);
	/* Large attempts neither overflow nor go past the cap. */
	for (uint32_t a = 20; a < 100; a++)
		assert_in_range(backoff_delay_ms(a, 1000, 3600000, 12345),
		    1800000, 3600000);
	assert_in_range(backoff_delay_ms(UINT32_MAX, 1, INT64_MAX, UINT64_MAX),
	    INT64_MAX / 2, INT64_MAX);
	assert_in_range(
	    backoff_delay_ms(62, INT64_MAX / 4, INT64_MAX, 7), 0, INT64_MAX);
	/* base above max: max. */
	assert_int_equal(backoff_delay_ms(0, 5000, 1000, 500), 1000);
	/* Degenerate inputs give no delay rather than garbage. */
	assert_int_equal(backoff_delay_ms(3, 0, 1000, 5), 0);
	assert_int_equal(backoff_delay_ms(3, 10, 0, 5), 0);
}

static void
test_restart_doubling(void **state)
{
	const struct restart_policy *pol = &restart_policy_default;
	struct restart_state st = {0};
	int64_t now = 0, want = 100;

	(void)state;
	assert_int_equal(pol->min_ms, 100);
	assert_int_equal(pol->max_ms, 30000);
	assert_int_equal(pol->max_restarts, 10);
	assert_int_equal(pol->window_ms, 60000);
	assert_int_equal(pol->stable_ms, 10000);
	/* With rnd at the top of the range: 100, 200, 400, ... capped at
	 * 30 s. rnd = d/2 picks exactly d in [d/2, d]. */
	for (int i = 0; i < 10; i++) {
		int64_t start = now, d;

		now += 50; /* crashed right away */
		d = restart_next(&st, pol, start, now, (uint64_t)want / 2);
		assert_int_equal(d, want);
		now += d;
		want = want * 2 > 30000 ? 30000 : want * 2;
	}
}

static void
test_restart_jitter_floor(void **state)
{
	const struct restart_policy *pol = &restart_policy_default;
	struct restart_state st = {0};

	(void)state;
	/* rnd 0 is the low end d/2, but never under min_ms. */
	assert_int_equal(restart_next(&st, pol, 0, 10, 0), 100);
	assert_int_equal(restart_next(&st, pol, 110, 120, 0), 100);
	assert_int_equal(restart_next(&st, pol, 220, 230, 0), 200);
	assert_int_equal(restart_next(&st, pol, 430, 440, 0), 400);
}

static void
test_restart_stable_resets(void **state)
{
	const struct restart_policy *pol = &restart_policy_default;
	struct restart_state st = {0};
	int64_t now = 0;

	(void)state;
	for (int i = 0; i < 5; i++) {
		int64_t d = restart_next(&st, pol, now, now + 10, UINT64_MAX);

		assert_true(d >= 100);
		now += 10 + d;
	}
	assert_true(restart_next(&st, pol, now, now + 10, 1600) >= 1600);
	now += 10 + 3200;
	/* Up for 10 s (stable_ms): back to the first delay. */
	assert_int_equal(restart_next(&st, pol, now, now + 10000, 50), 100);
	assert_int_equal(st.consecutive, 1);
}

static void
test_restart_failed(void **state)
{
	const struct restart_policy *pol = &restart_policy_default;
	struct restart_state st = {0};
	int64_t now = 0, want = 100;

	(void)state;
	/* Crashing 5 ms after each start, waiting the longest delays: ten
	 * restarts are granted, the eleventh exit gives up, although the
	 * waits add up to more than the 60 s window (run time counts). */
	for (int i = 0; i < 10; i++) {
		int64_t start = now, d;

		now += 5;
		d = restart_next(&st, pol, start, now, (uint64_t)want / 2);
		assert_int_equal(d, want);
		now += d;
		want = want * 2 > 30000 ? 30000 : want * 2;
	}
	assert_true(now > 60000);
	assert_int_equal(restart_next(&st, pol, now, now + 5, 0), -1);
	/* Stays FAILED until the state is reset. */
	assert_int_equal(restart_next(&st, pol, now, now + 5, 0), -1);
	st = (struct restart_state){0};
	assert_int_equal(restart_next(&st, pol, now, now + 5, 0), 100);
}

static void
test_restart_window_expires(void **state)
{
	const struct restart_policy *pol = &restart_policy_default;
	struct restart_state st = {0};
	int64_t now = 0;

	(void)state;
	/* Up 7 s each time (never stable): about 8 exits per 60 s of run
	 * time, so the window keeps restarting and it never gives up; the
	 * delay stays capped at 30 s. */
	for (int i = 0; i < 50; i++) {
		int64_t start = now, d;

		now += 7000;
		d = restart_next(&st, pol, start, now, UINT64_MAX);
		assert_true(d >= 100);
		assert_true(d <= 30000);
		now += d;
	}
	assert_int_equal(restart_next(&st, pol, now, now + 7000, 0), 15000);
}

static void
test_restart_custom_policy(void **state)
{
	struct restart_policy pol = {10, 80, 2, 1000, 500};
	struct restart_state st = {0};

	(void)state;
	assert_int_equal(restart_next(&st, &pol, 0, 1, 5), 10);
	assert_int_equal(restart_next(&st, &pol, 11, 12, 10), 20);
	assert_int_equal(restart_next(&st, &pol, 32, 33, 0), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_add_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_periodic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_overrun, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_expedite_idle, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_expedite_while_driving, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_retry_work_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_retry_started_without_offer, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_retry_kept_across_drive, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_retry_while_pull_due, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_pause_resume, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_blocked_and_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_heap_matches_scan, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_remove_and_period, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_slots, setup, teardown),
	    cmocka_unit_test(test_backoff_ranges),
	    cmocka_unit_test(test_backoff_caps),
	    cmocka_unit_test(test_restart_doubling),
	    cmocka_unit_test(test_restart_jitter_floor),
	    cmocka_unit_test(test_restart_stable_resets),
	    cmocka_unit_test(test_restart_failed),
	    cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
	    cmocka_unit_test(test_restart_window_expires),
	    cmocka_unit_test(test_restart_custom_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
