/*
 * system_live.c — the system state while the store takes no writes.
 *
 * Live updates are rows of the store's event log (event_log.c), but a store
 * error (a full disk, an I/O error) pauses intake exactly because nothing
 * commits: the event saying so cannot be written, and the browser would
 * learn of the pause only when space returns. So while intake is paused by
 * a store error, databusd also publishes the SystemState itself on the
 * events socket, not stored: a Dbs__Event with resource RES_SYSTEM, kind
 * EV_UPDATE and the SystemState as data (a commit hint carries seq only).
 * databus-web hands it to every open websocket as an event frame without
 * "seq" (webui/live.c; docs/web.md, "Live updates").
 *
 * PUB/SUB may drop a message, so the state is sent again every
 * LIVE_REPEAT_MS while intake stays paused, and once more when it resumes
 * (the stored system event of the resume says the same; the hub forwards
 * only changes).
 */
#include <stdlib.h>

#include "status.h"
#include "sup.h"
#include "wire.h"

#define LIVE_REPEAT_MS 250

static void
live_send(struct sup *s)
{
	Dbs__SystemState ss;
	Dbs__Event ev = DBS__EVENT__INIT;
	size_t len;
	uint8_t *buf;

	sup_fill_system_state(s, &ss);
	len = protobuf_c_message_get_packed_size(&ss.base);
	if ((buf = malloc(len + 1)) == NULL)
		return; /* sent again at the next turn */
	protobuf_c_message_pack(&ss.base, buf);
	ev.seq = s->published_seq; /* the last stored event, for reference */
	ev.client = "";
	ev.resource = DBS__RESOURCE__RES_SYSTEM;
	ev.kind = DBS__EVENT_KIND__EV_UPDATE;
	ev.time_ms = wire_now_ms();
	ev.data.data = buf;
	ev.data.len = len;
	/* Never blocks: a subscriber that cannot take it misses this one
	 * and gets the next. */
	(void)wire_send(s->events, &ev.base, NNG_FLAG_NONBLOCK);
	free(buf);
}

void
sup_system_live_timers(struct sup *s, int64_t now, int64_t *wake)
{
	static bool was_paused;
	static int64_t next_ms;

	if (!s->intake_paused) {
		if (was_paused)
			live_send(s); /* intake resumed */
		was_paused = false;
		return;
	}
	if (!was_paused || now >= next_ms) {
		live_send(s);
		next_ms = now + LIVE_REPEAT_MS;
	}
	was_paused = true;
	if (*wake < 0 || next_ms < *wake)
		*wake = next_ms;
}
