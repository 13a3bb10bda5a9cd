/*
 * event_log.c — what databusd adds to the store's event log besides what the
 * store records by itself (queue items, logs, users), and how long the log
 * keeps it.
 *
 * Every event is appended to the open write batch, so it commits with the
 * change it describes, and carries the full instance: a WorkerInfo, a
 * DefinitionInfo (with its worker) or the SystemState. After each commit
 * main.c publishes the last seq on the events socket, a hint databus-web
 * reads the log on.
 *
 * Retention: the store trims the log to `store.event_keep` events as it
 * commits; sup_events_timers() also removes events older than
 * `store.event_max_age`, a bounded number per turn so that one commit
 * stays small. A browser that resumes from a seq the log no longer holds
 * is told to refetch (docs/web.md, "Live updates").
 */
#include <stdlib.h>

#include "commit.h"
#include "dbs_error.h"
#include "event_log.h"
#include "status.h"
#include "sup.h"
#include "wire.h"

/* Events removed by age per turn, and how often the age is checked. */
#define AGE_TRIM_MAX 10000
#define AGE_CHECK_MS 1000

void
sup_event_append(struct sup *s, const char *client, Dbs__Resource res,
    Dbs__EventKind kind, const ProtobufCMessage *m)
{
	struct store_txn *txn = sup_txn(s);
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf;
	int rc;

	if (txn == NULL || (buf = malloc(len + 1)) == NULL)
		return;
	protobuf_c_message_pack(m, buf);
	rc = store_event_append(txn, client, res, kind, buf, len, NULL);
	free(buf);
	if (rc != DBS_OK)
		sup_store_failed(s, rc, "appending an event");
}

/* A definition's full instance as of the current transaction: its state
 * and its queue counts (as the status reply gives them). */
static void
definition_event(struct sup *s, const struct worker *w, Dbs__EventKind kind,
    bool with_worker)
{
	Dbs__DefinitionInfo di;
	Dbs__WorkerInfo wi;
	struct store_txn *txn;

	sup_fill_definition_info(s, w, &di, &wi);
	if (kind != DBS__EVENT_KIND__EV_DELETE && (txn = sup_txn(s)) != NULL)
		(void)store_queue_counts(txn, w->def->client, w->def->name,
		    &di.pending, &di.done, &di.dead);
	sup_event_append(
	    s, w->def->client, DBS__RESOURCE__RES_DEFINITION, kind, &di.base);
	if (with_worker)
		sup_event_append(s, w->def->client, DBS__RESOURCE__RES_WORKER,
		    kind, &wi.base);
	sup_clear_definition_info(&di);
}

void
sup_event_definition(struct sup *s, const struct worker *w)
{
	definition_event(s, w, DBS__EVENT_KIND__EV_UPDATE, false);
}

/* A definition (with its worker) added or removed by a reload. */
void
sup_event_definition_kind(
    struct sup *s, const struct worker *w, Dbs__EventKind kind)
{
	definition_event(s, w, kind, true);
}

/*
 * A store error pauses intake (main.c, sup_store_failed) in the middle of
 * a failed commit, where no event can be written. Say so once afterwards,
 * best effort: a full map has usually grown by then and takes the small
 * event; a full disk does not, and the browser learns it when the probe
 * succeeds and intake resumes (which sup_event_system also reports).
 */
static void
announce_pause(struct sup *s)
{
	static bool announced;

	if (!s->intake_paused) {
		announced = false;
		return;
	}
	if (announced)
		return;
	announced = true;
	sup_event_system(s);
}

void
sup_events_timers(struct sup *s, int64_t now, int64_t *wake)
{
	static int64_t next_check;
	struct store_txn *txn;
	uint64_t removed = 0;
	int rc;

	announce_pause(s);
	if (s->cfg->event_max_age_ms <= 0 || s->intake_paused)
		return;
	if (now < next_check) {
		if (*wake < 0 || next_check < *wake)
			*wake = next_check;
		return;
	}
	next_check = now + AGE_CHECK_MS;
	if ((txn = sup_txn(s)) == NULL)
		return;
	rc = store_event_trim_before(txn,
	    wire_now_ms() - s->cfg->event_max_age_ms, AGE_TRIM_MAX, &removed);
	if (rc != DBS_OK)
		sup_store_failed(s, rc, "trimming the event log");
	else if (removed == AGE_TRIM_MAX)
		next_check = now; /* more to do: again next turn */
	if (*wake < 0 || next_check < *wake)
		*wake = next_check;
}
