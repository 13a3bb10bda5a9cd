/*
 * throttle.h — a small in-memory table of attempts by key, for the login
 * throttle (api_auth.c) and the wrong-current-password throttle
 * (api_users_manage.c).
 *
 * An attempt is counted when it is admitted, before its password is
 * checked, so that many guesses sent at once are held to the same limit
 * as guesses sent one by one. Once `limit` attempts are counted within
 * the table's window, further ones are refused; when such an attempt then
 * fails, the key is blocked for the table's block time. A success clears
 * the key (web_throttle_done with WEB_THROTTLE_CLEAR) or just takes its
 * own attempt back (WEB_THROTTLE_REFUND, for a shared key such as an
 * address). At most `max_pending` attempts of a key wait for their answer
 * at once, so one key cannot fill the work queue.
 *
 * The table has a fixed number of slots, scanned linearly. When it is
 * full, a new key takes the slot with the fewest attempts seen longest
 * ago, but never one that blocks or has attempts pending: flooding the
 * table with fresh keys forgets old failures, never a block. When every
 * slot blocks or waits, the new key is refused (WEB_THROTTLE_BUSY). A
 * table belongs to the loop thread: no locking.
 */
#ifndef DBS_WEB_THROTTLE_H
#define DBS_WEB_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEB_THROTTLE_KEY 200

struct web_throttle_slot {
	char key[WEB_THROTTLE_KEY];
	int64_t first_ms, last_ms, blocked_until_ms;
	int attempts; /* admitted within the window, answered or not */
	int pending;  /* admitted, not yet answered */
};

/* Define a table as
 *   static struct web_throttle_slot slots[N];
 *   static struct web_throttle t = {slots, N, window_ms, block_ms};
 */
struct web_throttle {
	struct web_throttle_slot *slots;
	size_t n_slots;
	int64_t window_ms; /* attempts older than this are forgotten */
	int64_t block_ms;  /* how long a key stays blocked */
};

enum web_throttle_verdict {
	WEB_THROTTLE_ADMITTED,
	WEB_THROTTLE_BLOCKED, /* too many attempts: answer 429 */
	WEB_THROTTLE_BUSY,    /* too many waiting, or no slot: try later */
};

enum web_throttle_outcome {
	WEB_THROTTLE_FAILED,
	WEB_THROTTLE_CLEAR,  /* success: forget the key */
	WEB_THROTTLE_REFUND, /* success: take this attempt back */
};

/* Admit one attempt of `key` at `now_ms`, counting it. */
enum web_throttle_verdict web_throttle_admit(struct web_throttle *t,
    const char *key, int limit, int max_pending, int64_t now_ms);
/* The answer of an admitted attempt. */
void web_throttle_done(struct web_throttle *t, const char *key, int limit,
    enum web_throttle_outcome outcome, int64_t now_ms);
/* True while `key` is blocked at `now_ms` (nothing is counted). */
bool web_throttle_blocked(
    struct web_throttle *t, const char *key, int64_t now_ms);

#endif
