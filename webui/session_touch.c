/*
 * session_touch.c — telling databusd that a session is in use.
 *
 * databusd moves a session's idle expiry forward when it is touched
 * (control session_touch; see supervisor/sessions.c). The web touches a
 * session at most once a minute: when the session's last use, as stored, is
 * a minute old or more, and this process has not asked for that session in
 * the last minute (a small table keyed by the token hash; a collision only
 * costs an extra touch). With an idle limit under two minutes (tests, or a
 * strict deployment) the period is half the time the session had left
 * after its last touch, so that a session in use never lapses. The touch is
 * fire-and-forget on the pool: the request does not wait for it, and a full
 * pool just skips it (the next request will try again).
 */
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "web.h"
#include "wire.h"

#define TOUCH_EVERY_MS (60 * 1000LL)
#define TOUCH_SLOTS    1024

static struct {
	uint8_t hash[32];
	int64_t sent_ms;
} recent[TOUCH_SLOTS]; /* loop thread only */

struct touch_job {
	struct web_job job;
	uint8_t hash[32];
};

static void
touch_work(struct web_job *job)
{
	struct touch_job *j = (struct touch_job *)job;
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__SessionRef ref = DBS__SESSION_REF__INIT;
	Dbs__ControlReply *reply = NULL;

	ref.token_hash.data = j->hash;
	ref.token_hash.len = sizeof(j->hash);
	req.verb_case = DBS__CONTROL_REQUEST__VERB_SESSION_TOUCH;
	req.session_touch = &ref;
	(void)web_control(web_control_url(web_of(NULL)), "web", &req, &reply);
	if (reply != NULL)
		dbs__control_reply__free_unpacked(reply, NULL);
}

static void
touch_done(struct web_job *job)
{
	free(job);
}

void
web_session_touch(struct web *w, const uint8_t hash[32], int64_t last_used_ms,
    int64_t expires_ms)
{
	int64_t now = wire_now_ms(), every = TOUCH_EVERY_MS;
	struct touch_job *j;
	size_t slot;

	if ((expires_ms - last_used_ms) / 2 < every)
		every = (expires_ms - last_used_ms) / 2;
	if (now - last_used_ms < every)
		return;
	/* The hash is uniformly random: its first bytes index well. */
	slot = ((size_t)hash[0] | (size_t)hash[1] << 8) % TOUCH_SLOTS;
	if (memcmp(recent[slot].hash, hash, 32) == 0 &&
	    now - recent[slot].sent_ms < every)
		return;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return;
	memcpy(j->hash, hash, 32);
	j->job.work = touch_work;
	j->job.done = touch_done;
	if (!web_pool_submit(web_pool(w), &j->job, NULL)) {
		free(j);
		return;
	}
	memcpy(recent[slot].hash, hash, 32);
	recent[slot].sent_ms = now;
}
