/*
 * test_passenger.c — the passenger rules of supervisor/passenger.c under a
 * mocked clock and a mocked random source: every time is a plain number of
 * milliseconds handed to the rules, and the jitter comes from `next_rnd`,
 * so each expected next attempt is exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "dbs_error.h"
#include "passenger.h"

#define NOW 1000000

/* The mocked random source: returns next_rnd and counts its calls. */
static uint64_t next_rnd;
static int rnd_calls;

static uint64_t
mock_rnd(void)
{
	rnd_calls++;
	return next_rnd;
}

/* A passenger with a notify step "in" and work steps "a" and "b", all
 * incomplete, as the drive seats it. */
struct fixture {
	Dbs__Passenger p;
	Dbs__Step st[3];
	Dbs__Step *stp[3];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	static const char *names[] = {"in", "a", "b"};

	if (f == NULL)
		return -1;
	dbs__passenger__init(&f->p);
	f->p.id = 7;
	f->p.puller = "in";
	f->p.state = DBS__PASSENGER_STATE__PS_PENDING;
	f->p.next_attempt_ms = NOW;
	f->p.last_error = (char *)protobuf_c_empty_string;
	for (int i = 0; i < 3; i++) {
		dbs__step__init(&f->st[i]);
		f->st[i].name = (char *)names[i];
		f->st[i].kind = i == 0 ? DBS__STEP_KIND__SK_NOTIFY
				       : DBS__STEP_KIND__SK_PUSHER;
		f->st[i].state = DBS__STEP_STATE__STEP_INCOMPLETE;
		f->st[i].error = (char *)protobuf_c_empty_string;
		f->stp[i] = &f->st[i];
	}
	f->p.steps = f->stp;
	f->p.n_steps = 3;
	next_rnd = 0;
	rnd_calls = 0;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	/* Strings the rules set are the passenger's own copies. */
	for (int i = 0; i < 3; i++)
		passenger_set_text(&f->st[i].error, NULL);
	passenger_set_text(&f->p.last_error, NULL);
	free(f);
	return 0;
}

static const struct cfg_retry retry = {
    .max_attempts = 3, .base_ms = 1000, .max_ms = 5000};

static void
complete(struct fixture *f, int i)
{
	passenger_step_result(
	    &f->st[i], DBS__STEP_STATE__STEP_COMPLETE, "", NOW);
}

static void
test_find_and_done(void **state)
{
	struct fixture *f = *state;

	assert_ptr_equal(
	    passenger_find_step(&f->p, "in", DBS__STEP_KIND__SK_NOTIFY, false),
	    &f->st[0]);
	assert_null(
	    passenger_find_step(&f->p, "a", DBS__STEP_KIND__SK_NOTIFY, false));
	assert_ptr_equal(passenger_find_step(&f->p, "a", 0, true), &f->st[1]);
	assert_null(passenger_find_step(&f->p, "zz", 0, true));
	assert_ptr_equal(passenger_first_work_left(&f->p), &f->st[1]);
	f->st[1].state = DBS__STEP_STATE__STEP_SKIPPED;
	assert_true(passenger_step_done(&f->st[1]));
	assert_ptr_equal(passenger_first_work_left(&f->p), &f->st[2]);
	complete(f, 2);
	assert_null(passenger_first_work_left(&f->p));
}

static void
test_step_result(void **state)
{
	struct fixture *f = *state;

	passenger_step_result(
	    &f->st[1], DBS__STEP_STATE__STEP_FAILED, "refused", NOW + 5);
	assert_int_equal(f->st[1].state, DBS__STEP_STATE__STEP_FAILED);
	assert_int_equal(f->st[1].attempts, 1);
	assert_int_equal(f->st[1].updated_ms, NOW + 5);
	assert_string_equal(f->st[1].error, "refused");
	/* Success clears the error and keeps the count of attempts. */
	passenger_step_result(
	    &f->st[1], DBS__STEP_STATE__STEP_COMPLETE, "ignored", NOW + 9);
	assert_int_equal(f->st[1].attempts, 1);
	assert_string_equal(f->st[1].error, "");
	assert_int_equal(f->st[1].updated_ms, NOW + 9);
}

static void
test_settle(void **state)
{
	struct fixture *f = *state;

	passenger_settle(&f->p, NOW);
	assert_int_equal(f->p.state, DBS__PASSENGER_STATE__PS_PENDING);
	assert_int_equal(f->p.next_attempt_ms, NOW);
	/* Only the notify left: pending, never due. */
	complete(f, 1);
	complete(f, 2);
	assert_true(passenger_done(&f->p, NOW + 1));
	assert_int_equal(f->p.state, DBS__PASSENGER_STATE__PS_PENDING);
	assert_int_equal(f->p.next_attempt_ms, PASSENGER_NEVER_MS);
	assert_int_equal(f->p.done_ms, 0);
	/* Work back (an operator reopened a step): due now. */
	f->st[2].state = DBS__STEP_STATE__STEP_INCOMPLETE;
	assert_false(passenger_done(&f->p, NOW + 2));
	assert_int_equal(f->p.next_attempt_ms, NOW + 2);
	/* Every step done: DONE, done_ms set once. */
	complete(f, 2);
	complete(f, 0);
	assert_true(passenger_done(&f->p, NOW + 3));
	assert_int_equal(f->p.state, DBS__PASSENGER_STATE__PS_DONE);
	assert_int_equal(f->p.done_ms, NOW + 3);
	passenger_settle(&f->p, NOW + 4);
	assert_int_equal(f->p.done_ms, NOW + 3);
	/* A dead passenger stays dead. */
	f->p.state = DBS__PASSENGER_STATE__PS_DEAD;
	passenger_settle(&f->p, NOW + 5);
	assert_int_equal(f->p.state, DBS__PASSENGER_STATE__PS_DEAD);
}

/* Backoff grows from base, doubling, up to max; jitter in [d/2, d]. */
static void
test_fail_backoff(void **state)
{
	struct fixture *f = *state;
	struct cfg_retry many = {
	    .max_attempts = 100, .base_ms = 1000, .max_ms = 5000};
	/* With rnd 0 the delay is d/2: 500, 1000, 2000, then the cap. */
	static const int64_t lo[] = {500, 1000, 2000, 2500, 2500};

	for (int i = 0; i < 5; i++) {
		assert_int_equal(
		    passenger_fail(&f->p, &many, false, 0, "x", NOW, mock_rnd),
		    DBS__PASSENGER_STATE__PS_PENDING);
		assert_int_equal(f->p.attempts, i + 1);
		assert_int_equal(f->p.next_attempt_ms, NOW + lo[i]);
	}
	assert_int_equal(rnd_calls, 5);
	/* The largest jitter reaches d itself: the cap, 5000. */
	next_rnd = 2500;
	passenger_fail(&f->p, &many, false, 0, "x", NOW, mock_rnd);
	assert_int_equal(f->p.next_attempt_ms, NOW + 5000);
	assert_string_equal(f->p.last_error, "x");
}

/* A target's Retry-After wins when longer, capped at a day. */
static void
test_fail_retry_after(void **state)
{
	struct fixture *f = *state;

	passenger_fail(&f->p, &retry, false, 60000, "busy", NOW, mock_rnd);
	assert_int_equal(f->p.next_attempt_ms, NOW + 60000);
	passenger_fail(&f->p, &retry, false, 10, "busy", NOW, mock_rnd);
	assert_int_equal(f->p.next_attempt_ms, NOW + 1000);
	f->p.attempts = 0;
	passenger_fail(
	    &f->p, &retry, false, UINT64_MAX, "busy", NOW, mock_rnd);
	assert_int_equal(
	    f->p.next_attempt_ms, NOW + PASSENGER_RETRY_AFTER_MAX_MS);
}

static void
test_fail_dead(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(
	    passenger_fail(&f->p, &retry, false, 0, "e1", NOW, mock_rnd),
	    DBS__PASSENGER_STATE__PS_PENDING);
	assert_int_equal(
	    passenger_fail(&f->p, &retry, false, 0, "e2", NOW, mock_rnd),
	    DBS__PASSENGER_STATE__PS_PENDING);
	/* The third failure reaches max_attempts: dead, no jitter drawn. */
	rnd_calls = 0;
	assert_int_equal(
	    passenger_fail(&f->p, &retry, false, 0, "e3", NOW + 7, mock_rnd),
	    DBS__PASSENGER_STATE__PS_DEAD);
	assert_int_equal(rnd_calls, 0);
	assert_int_equal(f->p.attempts, 3);
	assert_int_equal(f->p.done_ms, NOW + 7);
	assert_string_equal(f->p.last_error, "e3");
}

static void
test_fail_permanent(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(
	    passenger_fail(&f->p, &retry, true, 0, "gone", NOW, mock_rnd),
	    DBS__PASSENGER_STATE__PS_DEAD);
	assert_int_equal(f->p.attempts, 1);
}

static void
test_requeue(void **state)
{
	struct fixture *f = *state;

	/* Only a dead passenger is requeued. */
	assert_int_equal(passenger_requeue(&f->p, NOW), DBS_EINVAL);
	complete(f, 0);
	passenger_step_result(
	    &f->st[1], DBS__STEP_STATE__STEP_FAILED, "e", NOW);
	passenger_step_result(
	    &f->st[1], DBS__STEP_STATE__STEP_FAILED, "e", NOW);
	f->st[2].attempts = 1;
	for (int i = 0; i < 3; i++)
		passenger_fail(&f->p, &retry, false, 0, "e", NOW, mock_rnd);
	assert_int_equal(f->p.state, DBS__PASSENGER_STATE__PS_DEAD);
	f->p.last_drive = 9;
	assert_int_equal(passenger_requeue(&f->p, NOW + 100), DBS_OK);
	assert_int_equal(f->p.state, DBS__PASSENGER_STATE__PS_PENDING);
	assert_int_equal(f->p.attempts, 0);
	assert_int_equal(f->p.next_attempt_ms, NOW + 100);
	assert_int_equal(f->p.last_drive, 0);
	assert_int_equal(f->p.done_ms, 0);
	assert_int_equal(f->p.updated_ms, NOW + 100);
	/* Failed steps are incomplete again; every step's count restarts;
	 * a complete step stays complete. */
	assert_int_equal(f->st[1].state, DBS__STEP_STATE__STEP_INCOMPLETE);
	assert_int_equal(f->st[1].attempts, 0);
	assert_int_equal(f->st[1].updated_ms, NOW + 100);
	assert_int_equal(f->st[2].attempts, 0);
	assert_int_equal(f->st[0].state, DBS__STEP_STATE__STEP_COMPLETE);
	/* max_attempts afresh: two more failures leave it pending. */
	passenger_fail(&f->p, &retry, false, 0, "e", NOW, mock_rnd);
	assert_int_equal(
	    passenger_fail(&f->p, &retry, false, 0, "e", NOW, mock_rnd),
	    DBS__PASSENGER_STATE__PS_PENDING);
}

static void
test_toggle(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(
	    passenger_toggle(&f->p, "nope", true, NOW), DBS_ENOTFOUND);
	f->p.attempts = 2;
	f->p.next_attempt_ms = NOW + 50000;
	assert_int_equal(passenger_toggle(&f->p, "a", true, NOW + 1), DBS_OK);
	assert_int_equal(f->st[1].state, DBS__STEP_STATE__STEP_COMPLETE);
	assert_int_equal(f->st[1].updated_ms, NOW + 1);
	assert_int_equal(f->p.attempts, 0);
	assert_int_equal(f->p.next_attempt_ms, NOW + 1);
	assert_int_equal(f->p.state, DBS__PASSENGER_STATE__PS_PENDING);
	/* Completing the last steps makes it done; even a dead one. */
	f->p.state = DBS__PASSENGER_STATE__PS_DEAD;
	assert_int_equal(passenger_toggle(&f->p, "b", true, NOW + 2), DBS_OK);
	assert_int_equal(passenger_toggle(&f->p, "in", true, NOW + 3), DBS_OK);
	assert_int_equal(f->p.state, DBS__PASSENGER_STATE__PS_DONE);
	assert_int_equal(f->p.done_ms, NOW + 3);
	/* Reopening a step makes a done passenger pending, due now. */
	assert_int_equal(passenger_toggle(&f->p, "a", false, NOW + 4), DBS_OK);
	assert_int_equal(f->st[1].state, DBS__STEP_STATE__STEP_INCOMPLETE);
	assert_int_equal(f->p.state, DBS__PASSENGER_STATE__PS_PENDING);
	assert_int_equal(f->p.done_ms, 0);
	assert_int_equal(f->p.next_attempt_ms, NOW + 4);
	/* Reopening only the notify: pending, never due. */
	passenger_toggle(&f->p, "a", true, NOW + 5);
	passenger_toggle(&f->p, "in", false, NOW + 6);
	assert_int_equal(f->p.state, DBS__PASSENGER_STATE__PS_PENDING);
	assert_int_equal(f->p.next_attempt_ms, PASSENGER_NEVER_MS);
}

/* A new passenger's steps: notify, the processors, the pushers, in the
 * definition's order, every one incomplete. */
static void
test_first_steps(void **state)
{
	struct cfg_driver procs[2] = {{"p1", "exec", NULL}, {"p2", "x", NULL}};
	struct cfg_driver push[1] = {{"out", "http", NULL}};
	struct cfg_definition def = {0};
	Dbs__Step steps[4], *stepp[4];

	(void)state;
	def.processors = procs;
	def.n_processors = 2;
	def.pushers = push;
	def.n_pushers = 1;
	assert_int_equal(passenger_n_steps(&def), 4);
	passenger_first_steps(&def, "inbox", steps, stepp);
	assert_string_equal(stepp[0]->name, "inbox");
	assert_int_equal(stepp[0]->kind, DBS__STEP_KIND__SK_NOTIFY);
	assert_string_equal(stepp[1]->name, "p1");
	assert_int_equal(stepp[1]->kind, DBS__STEP_KIND__SK_PROCESSOR);
	assert_string_equal(stepp[2]->name, "p2");
	assert_int_equal(stepp[2]->kind, DBS__STEP_KIND__SK_PROCESSOR);
	assert_string_equal(stepp[3]->name, "out");
	assert_int_equal(stepp[3]->kind, DBS__STEP_KIND__SK_PUSHER);
	for (int i = 0; i < 4; i++) {
		assert_ptr_equal(stepp[i], &steps[i]);
		assert_int_equal(
		    steps[i].state, DBS__STEP_STATE__STEP_INCOMPLETE);
		assert_int_equal(steps[i].attempts, 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_find_and_done, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_step_result, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_settle, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_fail_backoff, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_fail_retry_after, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fail_dead, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_fail_permanent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_requeue, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_toggle, setup, teardown),
	    cmocka_unit_test(test_first_steps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
