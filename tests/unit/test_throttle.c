/*
 * test_throttle.c — unit tests of webui/throttle.c, the bounded table of
 * attempts behind the login and password-change throttles.
 *
 * What they hold: attempts count when admitted (many at once meet the
 * same limit as one by one), a failure at the limit blocks, a success
 * clears or refunds, one key cannot have more than its pending share
 * waiting, and filling the table with fresh keys never lifts a block.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "throttle.h"

#define WINDOW 300000
#define BLOCK  60000
#define SLOTS  16

static struct web_throttle_slot slots[SLOTS];
static struct web_throttle t = {slots, SLOTS, WINDOW, BLOCK};

static int
setup(void **state)
{
	(void)state;
	memset(slots, 0, sizeof(slots));
	return 0;
}

static void
test_admitted_attempts_count_before_their_answer(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < 5; i++)
		assert_int_equal(web_throttle_admit(&t, "a", 5, 100, 1000),
		    WEB_THROTTLE_ADMITTED);
	/* Five in flight: the sixth is refused before any is answered. */
	assert_int_equal(
	    web_throttle_admit(&t, "a", 5, 100, 1000), WEB_THROTTLE_BLOCKED);
	web_throttle_done(&t, "a", 5, WEB_THROTTLE_FAILED, 1100);
	assert_true(web_throttle_blocked(&t, "a", 1100));
	assert_true(web_throttle_blocked(&t, "a", 1100 + BLOCK - 1));
	assert_false(web_throttle_blocked(&t, "a", 1100 + BLOCK));
}

static void
test_success_clears_the_account_and_refunds_the_address(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < 4; i++) {
		assert_int_equal(web_throttle_admit(&t, "acct", 5, 9, 10),
		    WEB_THROTTLE_ADMITTED);
		web_throttle_done(&t, "acct", 5, WEB_THROTTLE_FAILED, 10);
	}
	assert_int_equal(
	    web_throttle_admit(&t, "acct", 5, 9, 20), WEB_THROTTLE_ADMITTED);
	web_throttle_done(&t, "acct", 5, WEB_THROTTLE_CLEAR, 20);
	for (i = 0; i < 4; i++) {
		assert_int_equal(web_throttle_admit(&t, "acct", 5, 9, 30),
		    WEB_THROTTLE_ADMITTED);
		web_throttle_done(&t, "acct", 5, WEB_THROTTLE_FAILED, 30);
	}
	assert_false(web_throttle_blocked(&t, "acct", 30));

	/* An address: successes give their attempt back. */
	for (i = 0; i < 50; i++) {
		assert_int_equal(web_throttle_admit(&t, "addr", 3, 9, 40),
		    WEB_THROTTLE_ADMITTED);
		web_throttle_done(&t, "addr", 3, WEB_THROTTLE_REFUND, 40);
	}
	assert_false(web_throttle_blocked(&t, "addr", 40));
}

static void
test_pending_share_is_bounded(void **state)
{
	(void)state;
	assert_int_equal(
	    web_throttle_admit(&t, "k", 20, 2, 0), WEB_THROTTLE_ADMITTED);
	assert_int_equal(
	    web_throttle_admit(&t, "k", 20, 2, 0), WEB_THROTTLE_ADMITTED);
	assert_int_equal(
	    web_throttle_admit(&t, "k", 20, 2, 0), WEB_THROTTLE_BUSY);
	web_throttle_done(&t, "k", 20, WEB_THROTTLE_FAILED, 5);
	assert_int_equal(
	    web_throttle_admit(&t, "k", 20, 2, 5), WEB_THROTTLE_ADMITTED);
}

static void
test_window_forgets_old_attempts(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < 4; i++) {
		web_throttle_admit(&t, "w", 5, 9, 0);
		web_throttle_done(&t, "w", 5, WEB_THROTTLE_FAILED, 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(web_throttle_admit(&t, "w", 5, 9, WINDOW + 1),
		    WEB_THROTTLE_ADMITTED);
		web_throttle_done(&t, "w", 5, WEB_THROTTLE_FAILED, WINDOW + 1);
	}
	assert_false(web_throttle_blocked(&t, "w", WINDOW + 1));
}

static void
test_fresh_keys_never_flush_a_block(void **state)
{
	char key[32];
	int i, n;

	(void)state;
	for (i = 0; i < 5; i++) {
		web_throttle_admit(&t, "victim", 5, 9, 100);
		web_throttle_done(&t, "victim", 5, WEB_THROTTLE_FAILED, 100);
	}
	assert_true(web_throttle_blocked(&t, "victim", 100));
	/* Ten times the table of fresh failing keys. */
	for (i = 0; i < SLOTS * 10; i++) {
		snprintf(key, sizeof(key), "fresh%d", i);
		if (web_throttle_admit(&t, key, 5, 9, 200 + i) ==
		    WEB_THROTTLE_ADMITTED)
			web_throttle_done(
			    &t, key, 5, WEB_THROTTLE_FAILED, 200 + i);
	}
	assert_true(web_throttle_blocked(&t, "victim", 300));
	assert_int_equal(
	    web_throttle_admit(&t, "victim", 5, 9, 300), WEB_THROTTLE_BLOCKED);

	/* A table where every slot blocks refuses new keys, and still
	 * knows every block. */
	memset(slots, 0, sizeof(slots));
	for (n = 0; n < SLOTS; n++) {
		snprintf(key, sizeof(key), "b%d", n);
		web_throttle_admit(&t, key, 1, 9, 0);
		web_throttle_done(&t, key, 1, WEB_THROTTLE_FAILED, 0);
	}
	assert_int_equal(
	    web_throttle_admit(&t, "new", 1, 9, 10), WEB_THROTTLE_BUSY);
	for (n = 0; n < SLOTS; n++) {
		snprintf(key, sizeof(key), "b%d", n);
		assert_true(web_throttle_blocked(&t, key, 10));
	}
}

static void
test_keys_with_pending_attempts_keep_their_slot(void **state)
{
	char key[32];
	int i;

	(void)state;
	assert_int_equal(
	    web_throttle_admit(&t, "slow", 5, 9, 0), WEB_THROTTLE_ADMITTED);
	for (i = 0; i < SLOTS * 4; i++) {
		snprintf(key, sizeof(key), "f%d", i);
		if (web_throttle_admit(&t, key, 5, 9, 10 + i) ==
		    WEB_THROTTLE_ADMITTED)
			web_throttle_done(
			    &t, key, 5, WEB_THROTTLE_FAILED, 10 + i);
	}
	/* Its attempt was still counted: four more reach the limit. */
	for (i = 0; i < 4; i++)
		assert_int_equal(web_throttle_admit(&t, "slow", 5, 9, 500),
		    WEB_THROTTLE_ADMITTED);
	assert_int_equal(
	    web_throttle_admit(&t, "slow", 5, 9, 500), WEB_THROTTLE_BLOCKED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(
		test_admitted_attempts_count_before_their_answer, setup),
	    cmocka_unit_test_setup(
		test_success_clears_the_account_and_refunds_the_address,
		setup),
	    cmocka_unit_test_setup(test_pending_share_is_bounded, setup),
	    cmocka_unit_test_setup(test_window_forgets_old_attempts, setup),
	    cmocka_unit_test_setup(test_fresh_keys_never_flush_a_block, setup),
	    cmocka_unit_test_setup(
		test_keys_with_pending_attempts_keep_their_slot, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
