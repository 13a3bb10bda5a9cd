/*
 * test_dispatch.c — the table of the messages databusd takes from a
 * worker (supervisor/dispatch.c): which body is permitted in which state
 * (every combination against an independent statement of the rules, so a
 * changed cell fails a test), which handler each body reaches, that an
 * unknown or unpermitted message kills the worker (and only the worker),
 * and what follows when a worker is gone. The modules dispatch.c calls
 * are stubs here that count their calls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "child.h"
#include "control.h"
#include "dispatch.h"
#include "drive.h"
#include "event_log.h"
#include "wire.h"

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
				bool got = dispatch_permitted(states[i],
				    driving, (Dbs__WorkerMsg__BodyCase)body);

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
		assert_false(dispatch_permitted(DBS__WORKER_STATE__WS_BUSY,
		    true, (Dbs__WorkerMsg__BodyCase)only_ours[i]));
}

static void
test_results_need_a_drive(void **state)
{
	(void)state;
	assert_true(dispatch_permitted(DBS__WORKER_STATE__WS_BUSY, true,
	    DBS__WORKER_MSG__BODY_WORK_RESULT));
	assert_false(dispatch_permitted(DBS__WORKER_STATE__WS_BUSY, false,
	    DBS__WORKER_MSG__BODY_WORK_RESULT));
	assert_false(dispatch_permitted(
	    DBS__WORKER_STATE__WS_READY, false, DBS__WORKER_MSG__BODY_PULLED));
	/* A second Ready is a protocol violation. */
	assert_false(dispatch_permitted(
	    DBS__WORKER_STATE__WS_READY, false, DBS__WORKER_MSG__BODY_READY));
	/* Out-of-range values never index past the table. */
	assert_false(dispatch_permitted(DBS__WORKER_STATE__WS_READY, false,
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

/* ------------------------------------------------ stubs that count */

static struct {
	int ready_event, pulled, notified, work_result, log, peek_result;
	int killed, aborted, peeks_failed, expedited, retry, def_events;
	const struct worker *killed_w;
	char fail_msg[64];
} calls;
static child_gone_fn *gone_fn;

void
child_on_gone(child_gone_fn *fn)
{
	gone_fn = fn;
}
void
child_kill(struct sup *s, struct worker *w, const char *why)
{
	(void)s;
	(void)why;
	calls.killed++;
	calls.killed_w = w;
	w->killed = true;
}
void
child_event(
    struct sup *s, struct worker *w, enum child_event ev, const char *why)
{
	(void)s;
	(void)why;
	if (ev == CHILD_EV_READY) {
		calls.ready_event++;
		w->state = DBS__WORKER_STATE__WS_READY;
	}
}
void
child_restart_reported(struct sup *s)
{
	(void)s;
}
void
drive_on_pulled(struct sup *s, struct worker *w, Dbs__PulledBatch *b)
{
	calls.pulled++;
}
void
drive_on_notified(struct sup *s, struct worker *w, Dbs__Notified *n)
{
	calls.notified++;
}
void
drive_on_work_result(struct sup *s, struct worker *w, Dbs__WorkResult *r)
{
	calls.work_result++;
}
void
drive_on_log(struct sup *s, struct worker *w, Dbs__LogBatch *l)
{
	calls.log++;
}
void
drive_abort(struct sup *s, struct worker *w, const char *why)
{
	calls.aborted++;
}
void
drive_schedule_retry(struct sup *s, struct worker *w)
{
	calls.retry++;
}
void
control_on_peek_result(struct sup *s, struct worker *w, Dbs__PeekResult *r)
{
	calls.peek_result++;
}
void
control_fail_peeks(struct sup *s, struct worker *w, int code, const char *msg)
{
	calls.peeks_failed++;
	snprintf(calls.fail_msg, sizeof(calls.fail_msg), "%s", msg);
}
void
sup_event_definition(struct sup *s, const struct worker *w)
{
	calls.def_events++;
}
void
sched_expedite(struct sched *sc, uint32_t slot, int64_t now)
{
	calls.expedited++;
}
int64_t
restart_next(struct restart_state *st, const struct restart_policy *pol,
    int64_t started_ms, int64_t now_ms, uint64_t rnd)
{
	return -1; /* the life table's backoff is test_child's */
}
void
sup_log_at(int priority, const char *fmt, ...)
{
	(void)priority;
	(void)fmt;
}

/* ------------------------------------------------ the table at work */

static struct cfg_definition def = {.client = "c", .name = "d"};

static void
reset(struct worker *w, Dbs__WorkerState st, bool driving)
{
	static struct drive *some_drive = (struct drive *)&def;

	memset(&calls, 0, sizeof(calls));
	memset(w, 0, sizeof(*w));
	w->def = &def;
	w->state = st;
	w->drive = driving ? some_drive : NULL;
}

/* Each permitted body reaches its own handler, and nothing else. */
static void
test_each_body_its_handler(void **state)
{
	struct sup s = {0};
	struct worker w;
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
	Dbs__Ready ready = DBS__READY__INIT;
	Dbs__Heartbeat hb = DBS__HEARTBEAT__INIT;
	struct {
		Dbs__WorkerMsg__BodyCase body;
		Dbs__WorkerState st;
		int *counter;
	} cases[] = {
	    {DBS__WORKER_MSG__BODY_READY, DBS__WORKER_STATE__WS_STARTING,
		&calls.ready_event},
	    {DBS__WORKER_MSG__BODY_PULLED, DBS__WORKER_STATE__WS_BUSY,
		&calls.pulled},
	    {DBS__WORKER_MSG__BODY_NOTIFIED, DBS__WORKER_STATE__WS_BUSY,
		&calls.notified},
	    {DBS__WORKER_MSG__BODY_WORK_RESULT, DBS__WORKER_STATE__WS_BUSY,
		&calls.work_result},
	    {DBS__WORKER_MSG__BODY_LOG, DBS__WORKER_STATE__WS_STOPPING,
		&calls.log},
	    {DBS__WORKER_MSG__BODY_PEEK_RESULT, DBS__WORKER_STATE__WS_READY,
		&calls.peek_result},
	};

	(void)state;
	m.ready = &ready;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int total;

		reset(&w, cases[i].st, true);
		m.body_case = cases[i].body;
		dispatch_message(&s, &w, &m);
		assert_int_equal(*cases[i].counter, 1);
		total = calls.ready_event + calls.pulled + calls.notified +
			calls.work_result + calls.log + calls.peek_result;
		assert_int_equal(total, 1);
		assert_int_equal(calls.killed, 0);
		assert_true(w.last_beat_ms > 0); /* proves it alive */
		assert_non_null(dispatch_entry(cases[i].body)->handle);
	}
	reset(&w, DBS__WORKER_STATE__WS_READY, false);
	hb.rss_kib = 1234;
	m.body_case = DBS__WORKER_MSG__BODY_HEARTBEAT;
	m.heartbeat = &hb;
	dispatch_message(&s, &w, &m);
	assert_int_equal(w.rss_kib, 1234);
	assert_int_equal(calls.killed, 0);
}

/* An unpermitted or unknown message kills the worker that sent it —
 * through child_kill, never by ending databusd — and reaches no
 * handler. */
static void
test_unpermitted_kills_the_worker(void **state)
{
	struct sup s = {0};
	struct worker w;
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
	const int bodies[] = {DBS__WORKER_MSG__BODY_READY,
	    DBS__WORKER_MSG__BODY_PULLED, DBS__WORKER_MSG__BODY_INIT,
	    DBS__WORKER_MSG__BODY_STOP, DBS__WORKER_MSG__BODY__NOT_SET, 99,
	    100000};

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		/* READY without a drive permits none of these. */
		reset(&w, DBS__WORKER_STATE__WS_READY, false);
		m.body_case = (Dbs__WorkerMsg__BodyCase)bodies[i];
		dispatch_message(&s, &w, &m);
		assert_int_equal(calls.killed, 1);
		assert_ptr_equal(calls.killed_w, &w);
		assert_int_equal(calls.ready_event + calls.pulled, 0);
	}
}

/* A failed Ready marks the worker permanent and does not make it READY. */
static void
test_refused_ready(void **state)
{
	struct sup s = {0};
	struct worker w;
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
	Dbs__Ready ready = DBS__READY__INIT;

	(void)state;
	reset(&w, DBS__WORKER_STATE__WS_STARTING, false);
	ready.code = 5;
	ready.message = "bad config";
	m.body_case = DBS__WORKER_MSG__BODY_READY;
	m.ready = &ready;
	dispatch_message(&s, &w, &m);
	assert_true(w.permanent);
	assert_string_equal(w.error, "bad config");
	assert_int_equal(calls.ready_event, 0);
	/* A good one after a crash mid-drive resumes that work. */
	reset(&w, DBS__WORKER_STATE__WS_STARTING, false);
	ready.code = 0;
	w.resume_drive = true;
	dispatch_message(&s, &w, &m);
	assert_int_equal(calls.ready_event, 1);
	assert_int_equal(calls.expedited, 1);
	assert_int_equal(calls.retry, 0);
	assert_false(w.resume_drive);
}

/* A worker gone: killed, its drive is aborted and resumed by its
 * successor; exited, the drive is aborted; its peeks fail either way. */
static void
test_worker_gone(void **state)
{
	struct sup s = {0};
	struct worker w;

	(void)state;
	dispatch_start();
	assert_non_null(gone_fn);
	reset(&w, DBS__WORKER_STATE__WS_BUSY, true);
	gone_fn(&s, &w, CHILD_GONE_KILLED, "missed heartbeats");
	assert_int_equal(calls.aborted, 1);
	assert_true(w.resume_drive);
	assert_string_equal(calls.fail_msg, "missed heartbeats");
	reset(&w, DBS__WORKER_STATE__WS_READY, false);
	gone_fn(&s, &w, CHILD_GONE_EXITED, "exit 1");
	assert_int_equal(calls.aborted, 0);
	assert_false(w.resume_drive);
	assert_string_equal(calls.fail_msg, "worker exited");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_cell),
	    cmocka_unit_test(test_supervisor_messages_never_accepted),
	    cmocka_unit_test(test_results_need_a_drive),
	    cmocka_unit_test(test_state_names),
	    cmocka_unit_test(test_each_body_its_handler),
	    cmocka_unit_test(test_unpermitted_kills_the_worker),
	    cmocka_unit_test(test_refused_ready),
	    cmocka_unit_test(test_worker_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
