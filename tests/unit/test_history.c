/*
 * test_history.c — the history rings (supervisor/history.c) under a
 * mocked wall clock: minutes and hours filling, the current minute
 * included, the hour as the sum of its minutes, gauges carried over,
 * points leaving the window, idle definitions costing nothing, and the
 * file that keeps it all across a restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dbs_error.h"
#include "history.h"

#define MIN  60000LL
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)
/* A wall clock well past the epoch, at the start of an hour. */
#define T0 (20000 * DAY)

enum { DONE, FAILED, DEAD, PENDING, DRIVES, MEAN, MAX };

static int
setup(void **state)
{
	*state = history_new();
	return *state == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	history_free(*state);
	return 0;
}

/* The point of `series` that holds wall time t. */
static size_t
at(const struct history_series *s, int64_t t)
{
	return (size_t)((t - s->start_ms) / s->step_ms);
}

static void
test_range_parse(void **state)
{
	enum history_range r;

	(void)state;
	assert_int_equal(history_range_parse(NULL, &r), 0);
	assert_int_equal(r, HISTORY_24H);
	assert_int_equal(history_range_parse("30d", &r), 0);
	assert_int_equal(r, HISTORY_30D);
	assert_int_equal(history_range_parse("24h", &r), 0);
	assert_int_equal(r, HISTORY_24H);
	assert_int_equal(history_range_parse("7d", &r), -1);
	assert_int_equal(history_range_parse("24H", &r), -1);
}

/* A drive that moved nothing allocates nothing; reading an unknown
 * definition gives zeros with the live depth as the current point. */
static void
test_idle_costs_nothing(void **state)
{
	struct history *h = *state;
	struct history_series s;
	size_t before = history_bytes(h);

	for (int i = 0; i < 1000; i++) {
		char name[32];

		snprintf(name, sizeof(name), "def%d", i);
		assert_int_equal(
		    history_drive(h, "acme", name, T0 + i, 0, 0, 0, 0, 3),
		    DBS_OK);
	}
	assert_int_equal(history_definitions(h), 0);
	assert_int_equal(history_bytes(h), before);
	assert_int_equal(
	    history_read(h, "acme", "def1", HISTORY_24H, T0, 7, &s), DBS_OK);
	assert_int_equal(s.n, HISTORY_MINUTES);
	assert_int_equal(s.step_ms, MIN);
	assert_int_equal(s.start_ms + (int64_t)(s.n - 1) * MIN, T0);
	assert_string_equal(s.names[PENDING], "pending");
	for (size_t i = 0; i < s.n; i++) {
		assert_int_equal(s.cols[DONE][i], 0);
		assert_int_equal(s.cols[PENDING][i], i + 1 == s.n ? 7 : 0);
	}
	history_series_free(&s);
}

/* Minutes fill, the current one included; the hour is their sum; the
 * mean and the longest drive; the depth carries over empty minutes. */
static void
test_minutes_and_hours(void **state)
{
	struct history *h = *state;
	struct history_series m, hr;

	history_drive(h, "acme", "inv", T0 + 10 * MIN + 5, 5, 1, 0, 4, 100);
	history_drive(
	    h, "acme", "inv", T0 + 10 * MIN + 50000, 3, 0, 1, 2, 300);
	history_drive(h, "acme", "inv", T0 + 12 * MIN, 2, 0, 0, 9, 50);
	assert_int_equal(history_definitions(h), 1);
	assert_int_equal(history_read(h, "acme", "inv", HISTORY_24H,
			     T0 + 12 * MIN + 30000, 11, &m),
	    DBS_OK);
	assert_int_equal(m.cols[DONE][at(&m, T0 + 10 * MIN)], 8);
	assert_int_equal(m.cols[FAILED][at(&m, T0 + 10 * MIN)], 1);
	assert_int_equal(m.cols[DEAD][at(&m, T0 + 10 * MIN)], 1);
	assert_int_equal(m.cols[DRIVES][at(&m, T0 + 10 * MIN)], 2);
	assert_int_equal(m.cols[MEAN][at(&m, T0 + 10 * MIN)], 200);
	assert_int_equal(m.cols[MAX][at(&m, T0 + 10 * MIN)], 300);
	assert_int_equal(m.cols[PENDING][at(&m, T0 + 10 * MIN)], 2);
	/* minute 11 had no drive: the depth carries over */
	assert_int_equal(m.cols[DONE][at(&m, T0 + 11 * MIN)], 0);
	assert_int_equal(m.cols[PENDING][at(&m, T0 + 11 * MIN)], 2);
	/* the current minute: its drive, and the live depth */
	assert_int_equal(at(&m, T0 + 12 * MIN), m.n - 1);
	assert_int_equal(m.cols[DONE][m.n - 1], 2);
	assert_int_equal(m.cols[PENDING][m.n - 1], 11);
	assert_int_equal(history_read(h, "acme", "inv", HISTORY_30D,
			     T0 + 12 * MIN + 30000, 11, &hr),
	    DBS_OK);
	assert_int_equal(hr.n, HISTORY_HOURS);
	assert_int_equal(hr.step_ms, HOUR);
	assert_int_equal(hr.start_ms + (int64_t)(hr.n - 1) * HOUR, T0);
	assert_int_equal(hr.cols[DONE][hr.n - 1], 10);
	assert_int_equal(hr.cols[DRIVES][hr.n - 1], 3);
	assert_int_equal(hr.cols[MEAN][hr.n - 1], 150);
	assert_int_equal(hr.cols[MAX][hr.n - 1], 300);
	assert_int_equal(hr.cols[DONE][hr.n - 2], 0);
	history_series_free(&m);
	history_series_free(&hr);
}

/* A minute older than 24 h is gone (its slot reused), the hour stays for
 * 30 days; a gap longer than the ring clears it whole. */
static void
test_window(void **state)
{
	struct history *h = *state;
	struct history_series s;

	history_drive(h, "acme", "inv", T0 + 5 * MIN, 4, 0, 0, 0, 10);
	/* the same slot, a day later */
	history_drive(h, "acme", "inv", T0 + DAY + 5 * MIN, 1, 0, 0, 0, 10);
	history_read(h, "acme", "inv", HISTORY_24H, T0 + DAY + 5 * MIN, 0, &s);
	assert_int_equal(s.cols[DONE][s.n - 1], 1);
	for (size_t i = 0; i + 1 < s.n; i++)
		assert_int_equal(s.cols[DONE][i], 0);
	history_series_free(&s);
	history_read(h, "acme", "inv", HISTORY_30D, T0 + DAY + 5 * MIN, 0, &s);
	assert_int_equal(s.cols[DONE][at(&s, T0)], 4);
	assert_int_equal(s.cols[DONE][at(&s, T0 + DAY)], 1);
	history_series_free(&s);
	/* 29 days on, the first hour is still there; 31 days on, not */
	history_read(h, "acme", "inv", HISTORY_30D, T0 + 29 * DAY, 0, &s);
	assert_int_equal(s.cols[DONE][at(&s, T0)], 4);
	history_series_free(&s);
	history_read(h, "acme", "inv", HISTORY_30D, T0 + 31 * DAY, 0, &s);
	for (size_t i = 0; i < s.n; i++)
		assert_int_equal(
		    s.cols[DONE][i], i == at(&s, T0 + DAY) ? 1 : 0);
	history_series_free(&s);
	/* a drive 40 days on clears every older hour */
	history_drive(h, "acme", "inv", T0 + 40 * DAY, 2, 0, 0, 0, 10);
	history_read(h, "acme", "inv", HISTORY_30D, T0 + 40 * DAY, 0, &s);
	for (size_t i = 0; i + 1 < s.n; i++)
		assert_int_equal(s.cols[DONE][i], 0);
	assert_int_equal(s.cols[DONE][s.n - 1], 2);
	history_series_free(&s);
	/* a clock stepped back adds into the newest minute */
	history_drive(h, "acme", "inv", T0 + 39 * DAY, 3, 0, 0, 0, 10);
	history_read(h, "acme", "inv", HISTORY_24H, T0 + 40 * DAY, 0, &s);
	assert_int_equal(s.cols[DONE][s.n - 1], 5);
	history_series_free(&s);
}

/* The sum of a client's definitions: counts and depths add up, the mean
 * is over every drive, the longest is the longest; other clients stay
 * out unless all are asked for. */
static void
test_sum(void **state)
{
	struct history *h = *state;
	struct history_series s;

	history_drive(h, "acme", "a", T0 + MIN, 5, 1, 0, 4, 100);
	history_drive(h, "acme", "b", T0 + MIN, 3, 0, 2, 6, 300);
	history_drive(h, "acme", "b", T0 + 2 * MIN, 1, 0, 0, 1, 20);
	history_drive(h, "globex", "a", T0 + MIN, 100, 0, 0, 50, 900);
	assert_int_equal(
	    history_read_sum(h, "acme", HISTORY_24H, T0 + 3 * MIN, 9, &s),
	    DBS_OK);
	assert_int_equal(s.cols[DONE][at(&s, T0 + MIN)], 8);
	assert_int_equal(s.cols[FAILED][at(&s, T0 + MIN)], 1);
	assert_int_equal(s.cols[DEAD][at(&s, T0 + MIN)], 2);
	assert_int_equal(s.cols[PENDING][at(&s, T0 + MIN)], 10);
	assert_int_equal(s.cols[PENDING][at(&s, T0 + 2 * MIN)], 5);
	assert_int_equal(s.cols[PENDING][s.n - 1], 9);
	assert_int_equal(s.cols[DRIVES][at(&s, T0 + MIN)], 2);
	assert_int_equal(s.cols[MEAN][at(&s, T0 + MIN)], 200);
	assert_int_equal(s.cols[MAX][at(&s, T0 + MIN)], 300);
	history_series_free(&s);
	history_read_sum(h, NULL, HISTORY_30D, T0 + 3 * MIN, 0, &s);
	assert_int_equal(s.cols[DONE][s.n - 1], 109);
	assert_int_equal(s.cols[MAX][s.n - 1], 900);
	history_series_free(&s);
}

/* Counts saturate instead of wrapping. */
static void
test_saturation(void **state)
{
	struct history *h = *state;
	struct history_series s;

	history_drive(h, "a", "b", T0, UINT32_MAX - 1, 0, 0, 0, 1);
	history_drive(h, "a", "b", T0, 5, 0, 0, (uint64_t)1 << 40, 1);
	history_read(h, "a", "b", HISTORY_24H, T0 + 30 * MIN, 0, &s);
	assert_int_equal(s.cols[DONE][at(&s, T0)], UINT32_MAX);
	assert_int_equal(s.cols[PENDING][at(&s, T0)], UINT32_MAX);
	history_series_free(&s);
}

static void
test_system(void **state)
{
	struct history *h = *state;
	struct history_series s;

	history_store_size(h, T0 + MIN, 4096);
	history_commit(h, T0 + MIN, 100);
	history_commit(h, T0 + MIN + 1, 300);
	history_commit(h, T0 + 3 * MIN, 50);
	history_read_system(h, HISTORY_24H, T0 + 3 * MIN, 8192, &s);
	assert_string_equal(s.names[0], "used_bytes");
	assert_int_equal(s.cols[0][at(&s, T0)], 0);
	assert_int_equal(s.cols[0][at(&s, T0 + MIN)], 4096);
	assert_int_equal(s.cols[0][at(&s, T0 + 2 * MIN)], 4096);
	assert_int_equal(s.cols[0][s.n - 1], 8192);
	assert_int_equal(s.cols[1][at(&s, T0 + MIN)], 2);
	assert_int_equal(s.cols[2][at(&s, T0 + MIN)], 200);
	assert_int_equal(s.cols[3][at(&s, T0 + MIN)], 300);
	assert_int_equal(s.cols[1][s.n - 1], 1);
	history_series_free(&s);
	history_read_system(h, HISTORY_30D, T0 + 3 * MIN, 0, &s);
	assert_int_equal(s.cols[0][s.n - 1], 4096);
	assert_int_equal(s.cols[1][s.n - 1], 3);
	assert_int_equal(s.cols[2][s.n - 1], 150);
	history_series_free(&s);
}

static int
keep_b(void *ctx, const char *client, const char *definition)
{
	(void)ctx;
	(void)client;
	return strcmp(definition, "b") == 0;
}

/* Definitions sorted whatever the order they come in; retain drops the
 * others. */
static void
test_many_and_retain(void **state)
{
	struct history *h = *state;
	struct history_series s;

	for (int i = 499; i >= 0; i--) {
		char name[32];

		snprintf(name, sizeof(name), "d%03d", (i * 7) % 500);
		history_drive(h, "c", name, T0, (uint32_t)i + 1, 0, 0, 0, 1);
	}
	history_drive(h, "c", "b", T0, 1, 0, 0, 0, 1);
	assert_int_equal(history_definitions(h), 501);
	/* the bound docs/web.md gives: 60,480 bytes of points a definition
	 * (plus 32 of its own and its names), 69,120 for the system's, and
	 * the index */
	assert_true(history_bytes(h) <=
		    501 * (60480 + 32 + 2 * 65) + 69120 + 1024 + 1024 * 8);
	assert_true(history_bytes(h) >= 501 * 60480 + 69120);
	history_read(h, "c", "d007", HISTORY_24H, T0, 0, &s);
	assert_int_equal(s.cols[DONE][s.n - 1], 2); /* i = 1 */
	history_series_free(&s);
	history_retain(h, keep_b, NULL);
	assert_int_equal(history_definitions(h), 1);
	history_read(h, "c", "b", HISTORY_24H, T0, 0, &s);
	assert_int_equal(s.cols[DONE][s.n - 1], 1);
	history_series_free(&s);
}

/* Saved and loaded back: the same series; a torn file loads as empty. */
static void
test_save_load(void **state)
{
	struct history *h = *state, *back = history_new();
	struct history_series a, b;
	char path[] = "/tmp/test_history.XXXXXX";
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	close(fd);
	history_drive(h, "acme", "inv", T0 + 5 * MIN, 4, 1, 0, 3, 10);
	history_drive(h, "acme", "out", T0 + 6 * MIN, 2, 0, 0, 0, 10);
	history_commit(h, T0 + 6 * MIN, 250);
	history_store_size(h, T0 + 6 * MIN, 65536);
	assert_int_equal(history_save(h, path), DBS_OK);
	assert_int_equal(history_load(back, path), DBS_OK);
	assert_int_equal(history_definitions(back), 2);
	history_read(h, "acme", "inv", HISTORY_24H, T0 + 7 * MIN, 0, &a);
	history_read(back, "acme", "inv", HISTORY_24H, T0 + 7 * MIN, 0, &b);
	for (size_t c = 0; c < a.n_cols; c++)
		assert_memory_equal(a.cols[c], b.cols[c], a.n * 8);
	history_series_free(&a);
	history_series_free(&b);
	history_read_system(back, HISTORY_24H, T0 + 7 * MIN, 0, &b);
	assert_int_equal(b.cols[0][at(&b, T0 + 6 * MIN)], 65536);
	assert_int_equal(b.cols[3][at(&b, T0 + 6 * MIN)], 250);
	history_series_free(&b);
	history_free(back);
	/* torn: cut the file short */
	assert_int_equal(truncate(path, 1000), 0);
	back = history_new();
	assert_int_equal(history_load(back, path), DBS_EINVAL);
	assert_int_equal(history_definitions(back), 0);
	history_free(back);
	/* not ours */
	f = fopen(path, "w");
	fputs("hello", f);
	fclose(f);
	back = history_new();
	assert_int_equal(history_load(back, path), DBS_EINVAL);
	history_free(back);
	unlink(path);
	back = history_new();
	assert_int_equal(history_load(back, path), DBS_ENOTFOUND);
	history_free(back);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_range_parse),
	    cmocka_unit_test_setup_teardown(
		test_idle_costs_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_minutes_and_hours, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_window, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sum, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_saturation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_system, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_many_and_retain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
