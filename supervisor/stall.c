/*
 * stall.c — a stall of databusd is not held against its workers.
 *
 * While databusd does not run (SIGSTOP, a commit held up by a slow disk,
 * a starved machine), its workers keep sending heartbeats that wait
 * unread; judged on the clock alone, every worker was killed for "missed
 * heartbeats" after a 10 s stall. So before the loop judges workers:
 *
 * - when it comes more than STALL_MS after it last did (its poll sleeps
 *   1 s at most), the gap is databusd's own: the heartbeat clocks of the
 *   live workers restart now and their drives' time limits move on by
 *   the gap (logged once per stall);
 * - and a worker found overdue has what waits in its socket read before
 *   it is judged (child.c), so what it sent counts even when the loop
 *   was too busy to read it. That read is done only then, not on every
 *   turn: the loop's cost stays with its active work, not with the
 *   number of workers.
 */
#include "stall.h"

#include "drive.h"

#define STALL_MS 2000

static bool
live(const struct worker *w)
{
	return !w->killed && (w->state == DBS__WORKER_STATE__WS_READY ||
				 w->state == DBS__WORKER_STATE__WS_BUSY);
}

static void
forgive_gap(struct sup *s, int64_t now, int64_t gap)
{
	sup_warn("databusd did not run for %lld ms: not counted against "
		 "worker heartbeats and drive time limits",
	    (long long)gap);
	for (size_t i = 0; i < s->n_workers; i++) {
		struct worker *w = s->workers[i];

		if (!live(w))
			continue;
		if (w->last_beat_ms < now)
			w->last_beat_ms = now;
		if (w->drive != NULL)
			drive_postpone(w, gap);
	}
}

void
stall_forgive(struct sup *s, int64_t now)
{
	static int64_t judged_ms;
	int64_t gap = judged_ms > 0 ? now - judged_ms : 0;

	judged_ms = now;
	if (gap > STALL_MS)
		forgive_gap(s, now, gap);
}
