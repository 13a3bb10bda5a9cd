/*
 * throttle.c — attempts by key with a bounded table (throttle.h).
 */
#include <stdio.h>
#include <string.h>

#include "throttle.h"

static bool
blocking(const struct web_throttle_slot *s, int64_t now_ms)
{
	return s->blocked_until_ms > now_ms;
}

/* Attempts that still count at `now_ms`. */
static int
counted(const struct web_throttle *t, const struct web_throttle_slot *s,
    int64_t now_ms)
{
	return now_ms - s->first_ms > t->window_ms ? 0 : s->attempts;
}

/* Whether `a` is a better slot to reuse than `b`: fewer attempts, then
 * seen longer ago. */
static bool
better_victim(const struct web_throttle *t, const struct web_throttle_slot *a,
    const struct web_throttle_slot *b, int64_t now_ms)
{
	int ca = counted(t, a, now_ms), cb = counted(t, b, now_ms);

	return ca != cb ? ca < cb : a->last_ms < b->last_ms;
}

static struct web_throttle_slot *
find(struct web_throttle *t, const char *key, bool create, int64_t now_ms)
{
	struct web_throttle_slot *s, *victim = NULL;

	for (s = t->slots; s < t->slots + t->n_slots; s++) {
		if (s->key[0] == '\0') {
			if (victim == NULL || victim->key[0] != '\0')
				victim = s;
			continue;
		}
		if (strcmp(s->key, key) == 0)
			return s;
		if (s->pending > 0 || blocking(s, now_ms))
			continue;
		if (victim == NULL || (victim->key[0] != '\0' &&
					  better_victim(t, s, victim, now_ms)))
			victim = s;
	}
	if (!create || victim == NULL)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	snprintf(victim->key, sizeof(victim->key), "%s", key);
	victim->first_ms = now_ms;
	return victim;
}

enum web_throttle_verdict
web_throttle_admit(struct web_throttle *t, const char *key, int limit,
    int max_pending, int64_t now_ms)
{
	struct web_throttle_slot *s = find(t, key, true, now_ms);

	if (s == NULL)
		return WEB_THROTTLE_BUSY;
	if (blocking(s, now_ms))
		return WEB_THROTTLE_BLOCKED;
	if (now_ms - s->first_ms > t->window_ms) {
		s->first_ms = now_ms;
		s->attempts = 0;
	}
	if (s->attempts >= limit)
		return WEB_THROTTLE_BLOCKED;
	if (s->pending >= max_pending)
		return WEB_THROTTLE_BUSY;
	s->attempts++;
	s->pending++;
	s->last_ms = now_ms;
	return WEB_THROTTLE_ADMITTED;
}

void
web_throttle_done(struct web_throttle *t, const char *key, int limit,
    enum web_throttle_outcome outcome, int64_t now_ms)
{
	struct web_throttle_slot *s = find(t, key, false, now_ms);

	if (s == NULL)
		return;
	if (s->pending > 0)
		s->pending--;
	s->last_ms = now_ms;
	switch (outcome) {
	case WEB_THROTTLE_FAILED:
		if (counted(t, s, now_ms) >= limit) {
			s->blocked_until_ms = now_ms + t->block_ms;
			s->attempts = 0;
			s->first_ms = now_ms;
		}
		break;
	case WEB_THROTTLE_CLEAR:
		s->attempts = 0;
		s->blocked_until_ms = 0;
		if (s->pending == 0)
			memset(s, 0, sizeof(*s));
		break;
	case WEB_THROTTLE_REFUND:
		if (s->attempts > 0)
			s->attempts--;
		break;
	}
}

bool
web_throttle_blocked(struct web_throttle *t, const char *key, int64_t now_ms)
{
	struct web_throttle_slot *s = find(t, key, false, now_ms);

	return s != NULL && blocking(s, now_ms);
}
