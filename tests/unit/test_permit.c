/*
 * test_permit.c — the table of which worker message is permitted in which
 * state (supervisor/permit.c). Every combination is checked against an
 * independent statement of the rules, so a changed cell fails a test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sup.h"

static const Dbs__WorkerState states[] = {
    DBS__WORKER_STATE__WS_STARTING,
    DBS__WORKER_STATE__WS_READY,
    DBS__WORKER_STATE__WS_BUSY,
    DBS__WORKER_STATE__WS_BACKOFF,
    DBS__WORKER_STATE__WS_FAILED,
    DBS__WORKER_STATE__WS_STOPPING,
    DBS__WORKER_STATE__WS_STOPPED,
};

static bool
alive(Dbs__WorkerState st)
{
	return st == DBS__WORKER_STATE__WS_STARTING ||
	       st == DBS__WORKER_STATE__WS_READY ||
	       st == DBS__WORKER_STATE__WS_BUSY ||
	       st == DBS__WORKER_STATE__WS_STOPPING;
}

/* The rules, said once more in another way. */
static bool
expected(Dbs__WorkerState st, bool driving, int body)
{
	switch (body) {
	case DBS__WORKER_MSG__BODY_READY:
		return st == DBS__WORKER_STATE__WS_STARTING;
	case DBS__WORKER_MSG__BODY_PULLED:
	case DBS__WORKER_MSG__BODY_NOTIFIED:
	case DBS__WORKER_MSG__BODY_WORK_RESULT:
		return driving && st == DBS__WORKER_STATE__WS_BUSY;
	case DBS__WORKER_MSG__BODY_LOG:
	case DBS__WORKER_MSG__BODY_PEEK_RESULT:
	case DBS__WORKER_MSG__BODY_HEARTBEAT:
		return alive(st);
	default:
		/* init, drive, seated, work, peek, stop: supervisor only;
		 * not set or unknown: never. */
		return false;
	}
}

static void
test_every_cell(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		for (int driving = 0; driving < 2; driving++)
			for (int body = 0; body <= 20; body++) {
				bool got = child_permitted(states[i], driving,
				    (Dbs__WorkerMsg__BodyCase)body);

				if (got != expected(states[i], driving, body))
					fail_msg(
					    "state %d driving %d body %d: "
					    "got %d",
					    states[i], driving, body, got);
			}
}

static void
test_supervisor_messages_never_accepted(void **state)
{
	static const int only_ours[] = {
	    DBS__WORKER_MSG__BODY_INIT,
	    DBS__WORKER_MSG__BODY_DRIVE,
	    DBS__WORKER_MSG__BODY_SEATED,
	    DBS__WORKER_MSG__BODY_WORK,
	    DBS__WORKER_MSG__BODY_PEEK,
	    DBS__WORKER_MSG__BODY_STOP,
	    DBS__WORKER_MSG__BODY__NOT_SET,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(only_ours) / sizeof(only_ours[0]); i++)
		assert_false(child_permitted(DBS__WORKER_STATE__WS_BUSY, true,
		    (Dbs__WorkerMsg__BodyCase)only_ours[i]));
}

static void
test_results_need_a_drive(void **state)
{
	(void)state;
	assert_true(child_permitted(DBS__WORKER_STATE__WS_BUSY, true,
	    DBS__WORKER_MSG__BODY_WORK_RESULT));
	assert_false(child_permitted(DBS__WORKER_STATE__WS_BUSY, false,
	    DBS__WORKER_MSG__BODY_WORK_RESULT));
	assert_false(child_permitted(
	    DBS__WORKER_STATE__WS_READY, false, DBS__WORKER_MSG__BODY_PULLED));
	/* A second Ready is a protocol violation. */
	assert_false(child_permitted(
	    DBS__WORKER_STATE__WS_READY, false, DBS__WORKER_MSG__BODY_READY));
	/* Out-of-range values never index past the table. */
	assert_false(child_permitted(DBS__WORKER_STATE__WS_READY, false,
	    (Dbs__WorkerMsg__BodyCase)100000));
}

static void
test_state_names(void **state)
{
	(void)state;
	assert_string_equal(
	    child_state_name(DBS__WORKER_STATE__WS_FAILED), "failed");
	assert_string_equal(
	    child_state_name(DBS__WORKER_STATE__WS_BACKOFF), "backoff");
	assert_string_equal(child_state_name((Dbs__WorkerState)99), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_cell),
	    cmocka_unit_test(test_supervisor_messages_never_accepted),
	    cmocka_unit_test(test_results_need_a_drive),
	    cmocka_unit_test(test_state_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
