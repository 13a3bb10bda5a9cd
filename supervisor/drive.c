/*
 * drive.c — one drive of a passenger definition (DESIGN §1).
 *
 * A drive runs in the supervisor as a small state machine fed by the
 * worker's messages:
 *
 *   Drive ──► PulledBatch* ──► seat in the store (group commit)
 *                               └─► after commit: SeatResult ──► Notified
 *   after every commit: scan the due index and send WorkRequests (at most
 *   WINDOW batches in flight) ──► WorkResult ──► step statuses, retries
 *   pull done, nothing in flight, nothing due ──► log, purge, finished.
 *
 * The order that matters for durability is kept per passenger: a source is
 * acknowledged (notify) only after the commit that seated the passenger,
 * and a passenger is sent for processing only once its seat is committed
 * (dispatch runs between commits, in a read snapshot). Processing of the
 * first seated passengers overlaps the pull of later ones, so latency from
 * pull to push stays low on large pulls.
 *
 * Every step's status is kept per passenger. A failed step makes the
 * passenger wait next_attempt_ms (exponential backoff with jitter) and,
 * after retry.max_attempts failures, dead; those rules are passenger.c's,
 * the drive reads a passenger, applies them and writes it back. A drive
 * never dispatches the same passenger twice: a cursor over the due index,
 * plus last_drive.
 *
 * Poison passengers: when the worker dies (crash, kill, drive timeout)
 * with work in flight, no step result tells which passenger was the
 * cause, and charging them all would let one poison passenger kill its
 * batch mates. So the worker's next drives send those passengers one at
 * a time (worker.isolate counts how many are left); a worker that dies
 * with a single passenger in flight in that mode is charged a failed
 * attempt on that passenger's first incomplete step, which after
 * retry.max_attempts makes it dead like any failure.
 *
 * Lost notifies: a SeatResult that the worker never answered with
 * Notified (it died in between) may have been carried out — the file
 * moved, the mail marked read — so the source will not offer the item
 * again and its notify step would stay incomplete for ever. The drive
 * keeps a copy of every SeatResult in flight; when the worker dies they
 * move to worker.renotify and the next drive sends them again first
 * (notify is idempotent: the dir puller's answer for a file moved
 * already is OK). When databusd itself died, that list died with it: so
 * the first drive of each definition after databusd starts also sends a
 * notify for every stored PENDING passenger whose notify step was never
 * answered (state INCOMPLETE; FAILED ones wait for the source to offer
 * them again), among its newest SWEEP_SCAN pending ones, using the
 * source_ref kept in the record.
 */
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "commit.h"
#include "dbs_error.h"
#include "drive.h"
#include "event_log.h"
#include "history_sup.h"
#include "passenger.h"
#include "status.h"
#include "sup.h"
#include "wire.h"

#define WINDOW          4   /* work batches in flight per drive */
#define BATCH           256 /* passengers per WorkRequest */
#define BATCH_BYTES     (8u << 20)
#define MAX_LOG_ENTRIES 1000
#define PURGE_MAX       10000
#define EXTEND_MS       1000  /* a drive takes new passengers this long */
#define EXTEND_IDS      10000 /* ... and while it touched fewer than this */
#define TRIM_AFTER      10000 /* passengers touched between heap trims */

/* A copy of one SeatResult in flight (see the top). */
struct notify_batch {
	struct notify_batch *next;
	size_t n;
	Dbs__SeatedItem *items; /* strings owned */
};

struct drive {
	uint64_t id;
	bool pull;
	bool pull_done;
	int64_t started_wall_ms;
	int64_t started_ms;  /* monotonic */
	int64_t deadline_ms; /* monotonic */
	uint32_t work_out;   /* WorkRequests in flight */
	uint32_t items_out;  /* passengers in those */
	uint64_t lone_id;    /* the passenger of a one-item batch */
	uint32_t notify_out; /* SeatResults in flight */
	bool exhausted;      /* the last scan found nothing */
	int64_t cur_due;     /* dispatch cursor over (next_attempt, id) */
	uint64_t cur_id;
	uint64_t next_batch;
	/* the drive's log */
	Dbs__LogEntry **entries;
	size_t n_entries, cap_entries;
	uint32_t dropped;
	Dbs__LogLevel level;
	uint32_t pulled, seated, completed, failed, dead;
	uint64_t *ids; /* passengers touched, linked to the log */
	size_t n_ids, cap_ids;
	struct notify_batch *nb_head, **nb_tail; /* SeatResults in flight */
};

void
drive_free_notify(struct notify_batch *nb)
{
	while (nb != NULL) {
		struct notify_batch *next = nb->next;

		for (size_t i = 0; i < nb->n; i++) {
			free(nb->items[i].puller);
			free(nb->items[i].external_id);
			free(nb->items[i].source_ref);
		}
		free(nb->items);
		free(nb);
		nb = next;
	}
}

/* Remember a SeatResult sent; false when out of memory (then it is not
 * tracked: a lost notify is then only retried when the source offers the
 * item again). */
static bool
track_notify(struct drive *d, Dbs__SeatedItem *const *items, size_t n)
{
	struct notify_batch *nb = calloc(1, sizeof(*nb));

	if (nb == NULL ||
	    (nb->items = calloc(n, sizeof(*nb->items))) == NULL) {
		free(nb);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		Dbs__SeatedItem *c = &nb->items[i];

		dbs__seated_item__init(c);
		c->id = items[i]->id;
		c->duplicate = true;
		c->puller = strdup(items[i]->puller);
		c->external_id = strdup(items[i]->external_id);
		c->source_ref = strdup(
		    items[i]->source_ref != NULL ? items[i]->source_ref : "");
		nb->n = i + 1;
		if (c->puller == NULL || c->external_id == NULL ||
		    c->source_ref == NULL) {
			drive_free_notify(nb);
			return false;
		}
	}
	if (d->nb_tail == NULL)
		d->nb_tail = &d->nb_head;
	*d->nb_tail = nb;
	d->nb_tail = &nb->next;
	return true;
}

static void
free_entry(Dbs__LogEntry *e)
{
	if (e == NULL)
		return;
	free(e->message);
	free(e->step);
	free(e);
}

void
drive_free(struct drive *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n_entries; i++)
		free_entry(d->entries[i]);
	free(d->entries);
	free(d->ids);
	drive_free_notify(d->nb_head);
	free(d);
}

static void
add_entry(struct drive *d, Dbs__LogLevel level, uint64_t pid, const char *step,
    const char *msg, int64_t time_ms)
{
	Dbs__LogEntry *e;

	if (level > d->level)
		d->level = level;
	if (d->n_entries >= MAX_LOG_ENTRIES) {
		d->dropped++;
		return;
	}
	if (d->n_entries == d->cap_entries) {
		size_t cap = d->cap_entries ? d->cap_entries * 2 : 16;
		Dbs__LogEntry **n = realloc(d->entries, cap * sizeof(*n));

		if (n == NULL)
			return;
		d->entries = n;
		d->cap_entries = cap;
	}
	if ((e = malloc(sizeof(*e))) == NULL)
		return;
	dbs__log_entry__init(e);
	e->time_ms = time_ms ? time_ms : wire_now_ms();
	e->level = level;
	e->passenger_id = pid;
	e->message = strdup(msg != NULL ? msg : "");
	e->step = strdup(step != NULL ? step : "");
	if (e->message == NULL || e->step == NULL) {
		free_entry(e);
		return;
	}
	d->entries[d->n_entries++] = e;
}

static void
logf_entry(struct drive *d, Dbs__LogLevel level, uint64_t pid,
    const char *step, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	add_entry(d, level, pid, step, buf, 0);
}

static void
take_logs(struct drive *d, Dbs__LogEntry **logs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		add_entry(d, logs[i]->level, logs[i]->passenger_id,
		    logs[i]->step, logs[i]->message, logs[i]->time_ms);
}

static void
touch(struct drive *d, uint64_t id)
{
	if (d->n_ids == d->cap_ids) {
		size_t cap = d->cap_ids ? d->cap_ids * 2 : 256;
		uint64_t *n = realloc(d->ids, cap * sizeof(*n));

		if (n == NULL)
			return;
		d->ids = n;
		d->cap_ids = cap;
	}
	d->ids[d->n_ids++] = id;
}

static void
protocol_violation(struct sup *s, struct worker *w, const char *what)
{
	char why[256];

	snprintf(why, sizeof(why), "protocol violation: %s", what);
	child_kill(s, w, why);
}

/* ------------------------------------------------------------ start */

/* True if item `si` names a stored passenger (same puller and external
 * id: the seat was committed) whose notify is still to do. A seat whose
 * commit failed must never be acknowledged to its source. */
static bool
still_to_notify(struct store_txn *txn, const Dbs__SeatedItem *si)
{
	Dbs__Passenger *p = NULL;
	Dbs__Step *st;
	bool yes;

	if (store_passenger_get(txn, si->id, &p) != DBS_OK)
		return false;
	st = passenger_find_step(
	    p, p->puller, DBS__STEP_KIND__SK_NOTIFY, false);
	yes = strcmp(p->puller, si->puller) == 0 &&
	      strcmp(p->external_id, si->external_id) == 0 && st != NULL &&
	      !passenger_step_done(st);
	dbs__passenger__free_unpacked(p, NULL);
	return yes;
}

/* The sweep looks at the newest SWEEP_SCAN pending passengers only: the
 * notifies a crash can lose are those of the last seats, and a scan of a
 * large queue would hold up the event loop at start. */
#define SWEEP_SCAN 20000
#define SWEEP_MAX  SWEEP_SCAN

struct sweep {
	Dbs__SeatedItem *items;
	Dbs__SeatedItem **itemp;
	size_t n, cap;
};

static int
sweep_cb(void *ctx, const Dbs__Passenger *p)
{
	struct sweep *sw = ctx;
	const Dbs__Step *st = NULL;

	for (size_t i = 0; i < p->n_steps && st == NULL; i++)
		if (p->steps[i]->kind == DBS__STEP_KIND__SK_NOTIFY &&
		    strcmp(p->steps[i]->name, p->puller) == 0)
			st = p->steps[i];
	if (st == NULL || st->state != DBS__STEP_STATE__STEP_INCOMPLETE ||
	    p->source_ref == NULL || p->source_ref[0] == '\0')
		return 0;
	if (sw->n == sw->cap) {
		size_t cap = sw->cap ? sw->cap * 2 : 256;
		Dbs__SeatedItem *n = realloc(sw->items, cap * sizeof(*n));

		if (n == NULL)
			return 1;
		sw->items = n;
		sw->cap = cap;
	}
	dbs__seated_item__init(&sw->items[sw->n]);
	sw->items[sw->n].id = p->id;
	sw->items[sw->n].duplicate = true;
	if ((sw->items[sw->n].puller = strdup(p->puller)) == NULL ||
	    (sw->items[sw->n].external_id = strdup(p->external_id)) == NULL ||
	    (sw->items[sw->n].source_ref = strdup(p->source_ref)) == NULL) {
		free(sw->items[sw->n].puller);
		free(sw->items[sw->n].external_id);
		return 1;
	}
	sw->n++;
	return sw->n >= SWEEP_MAX ? 1 : 0;
}

/* The first drive since databusd started: notify again what a crashed
 * databusd may have left unanswered (see the top). */
static void
sweep_notifies(struct sup *s, struct worker *w)
{
	struct drive *d = w->drive;
	struct store_txn *txn = sup_txn(s);
	struct store_query q = {0};
	struct sweep sw = {0};
	struct notify_batch *nb;

	w->notify_swept = true;
	if (txn == NULL)
		return;
	q.client = w->def->client;
	q.definition = w->def->name;
	q.state = DBS__PASSENGER_STATE__PS_PENDING;
	q.newest_first = true;
	q.limit = SWEEP_SCAN;
	(void)store_queue_list(txn, &q, sweep_cb, &sw, NULL);
	for (size_t i = 0; i < sw.n; i += BATCH) {
		size_t n = sw.n - i < BATCH ? sw.n - i : BATCH;

		if ((nb = calloc(1, sizeof(*nb))) == NULL ||
		    (nb->items = calloc(n, sizeof(*nb->items))) == NULL) {
			free(nb);
			break;
		}
		memcpy(nb->items, sw.items + i, n * sizeof(*nb->items));
		memset(sw.items + i, 0, n * sizeof(*nb->items)); /* moved */
		nb->n = n;
		nb->next = w->renotify;
		w->renotify = nb;
	}
	for (size_t i = 0; i < sw.n; i++) {
		free(sw.items[i].puller);
		free(sw.items[i].external_id);
		free(sw.items[i].source_ref);
	}
	free(sw.items);
	if (sw.n > 0)
		logf_entry(d, DBS__LOG_LEVEL__LOG_INFO, 0, "",
		    "%zu passenger(s) seated before databusd restarted wait "
		    "for their notify: sending it again",
		    sw.n);
}

/* Send again the SeatResults a dead incarnation left unanswered. */
static void
renotify(struct sup *s, struct worker *w)
{
	struct drive *d = w->drive;
	struct notify_batch *nb = w->renotify;
	struct store_txn *txn = sup_txn(s);

	w->renotify = NULL;
	while (nb != NULL) {
		struct notify_batch *next = nb->next;
		Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
		Dbs__SeatResult sr = DBS__SEAT_RESULT__INIT;
		Dbs__SeatedItem **p = calloc(nb->n, sizeof(*p));
		size_t n = 0;

		nb->next = NULL;
		if (p == NULL || txn == NULL) {
			free(p);
			drive_free_notify(nb);
			nb = next;
			continue;
		}
		for (size_t i = 0; i < nb->n; i++)
			if (still_to_notify(txn, &nb->items[i]))
				p[n++] = &nb->items[i];
		if (n == 0) {
			free(p);
			drive_free_notify(nb);
			nb = next;
			continue;
		}
		logf_entry(d, DBS__LOG_LEVEL__LOG_INFO, 0, "",
		    "notifying again %zu passenger(s) whose notify the last "
		    "worker did not answer",
		    n);
		sr.drive_id = d->id;
		sr.n_items = n;
		sr.items = p;
		m.body_case = DBS__WORKER_MSG__BODY_SEATED;
		m.seated = &sr;
		if (sup_send_worker(s, w, &m) == DBS_OK) {
			d->notify_out++;
			if (d->nb_tail == NULL)
				d->nb_tail = &d->nb_head;
			*d->nb_tail = nb; /* transferred */
			d->nb_tail = &nb->next;
		} else {
			drive_free_notify(nb);
		}
		free(p);
		nb = next;
	}
}

/* s->driving: the workers with a drive, so that the loop looks at those
 * only. */
static bool
driving_add(struct sup *s, struct worker *w)
{
	if (s->n_driving == s->cap_driving) {
		size_t ncap = s->cap_driving ? s->cap_driving * 2 : 64;
		struct worker **v = realloc(s->driving, ncap * sizeof(*v));

		if (v == NULL)
			return false;
		s->driving = v;
		s->cap_driving = ncap;
	}
	w->driving_ix = s->n_driving;
	s->driving[s->n_driving++] = w;
	return true;
}

static void
driving_remove(struct sup *s, struct worker *w)
{
	size_t i = w->driving_ix;

	if (i >= s->n_driving || s->driving[i] != w)
		return;
	s->driving[i] = s->driving[--s->n_driving];
	s->driving[i]->driving_ix = i;
}

void
drive_start(struct sup *s, struct worker *w, bool pull)
{
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
	Dbs__Drive dm = DBS__DRIVE__INIT;
	struct store_txn *txn = sup_txn(s);
	struct drive *d;

	if (txn == NULL || (d = calloc(1, sizeof(*d))) == NULL)
		return;
	d->id = ++s->next_drive_id;
	d->pull = pull;
	d->pull_done = false;
	d->started_wall_ms = wire_now_ms();
	d->started_ms = wire_mono_ms();
	d->deadline_ms = d->started_ms + s->cfg->drive_timeout_ms;
	d->level = DBS__LOG_LEVEL__LOG_INFO;
	if (store_meta_put_u64(txn, "last_drive_id", d->id) != DBS_OK) {
		drive_free(d);
		sup_store_failed(s, DBS_EIO, "saving the drive id");
		return;
	}
	if (!driving_add(s, w)) {
		drive_free(d);
		return;
	}
	w->drive = d;
	dm.drive_id = d->id;
	dm.pull = pull;
	m.body_case = DBS__WORKER_MSG__BODY_DRIVE;
	m.drive = &dm;
	sched_started(s->sched, w->slot, wire_mono_ms());
	w->state = DBS__WORKER_STATE__WS_BUSY;
	sup_event_worker(s, w);
	sup_event_definition(s, w);
	sup_send_worker(s, w, &m);
	if (!w->notify_swept)
		sweep_notifies(s, w);
	if (w->renotify != NULL)
		renotify(s, w);
}

/* ------------------------------------------------------------- seat */

static bool
is_puller(const struct cfg_definition *def, const char *name)
{
	for (size_t i = 0; i < def->n_pullers; i++)
		if (strcmp(def->pullers[i].name, name) == 0)
			return true;
	return false;
}

/* The arrays of one batch's seat (store_passenger_seat_many). */
struct seat_batch {
	Dbs__Passenger *pv, **ps;
	Dbs__Step *steps, **stepp;
	Dbs__Attachment *const **atts;
	size_t *n_atts;
	uint64_t *ids;
	bool *dups;
	int *rcs;
};

static void
seat_batch_free(struct seat_batch *sb)
{
	free(sb->pv);
	free(sb->ps);
	free(sb->steps);
	free(sb->stepp);
	free(sb->atts);
	free(sb->n_atts);
	free(sb->ids);
	free(sb->dups);
	free(sb->rcs);
}

static bool
seat_batch_alloc(struct seat_batch *sb, size_t n, size_t n_steps)
{
	sb->pv = calloc(n, sizeof(*sb->pv));
	sb->ps = calloc(n, sizeof(*sb->ps));
	sb->steps = calloc(n * n_steps, sizeof(*sb->steps));
	sb->stepp = calloc(n * n_steps, sizeof(*sb->stepp));
	sb->atts = calloc(n, sizeof(*sb->atts));
	sb->n_atts = calloc(n, sizeof(*sb->n_atts));
	sb->ids = calloc(n, sizeof(*sb->ids));
	sb->dups = calloc(n, sizeof(*sb->dups));
	sb->rcs = calloc(n, sizeof(*sb->rcs));
	return sb->pv != NULL && sb->ps != NULL && sb->steps != NULL &&
	       sb->stepp != NULL && sb->atts != NULL && sb->n_atts != NULL &&
	       sb->ids != NULL && sb->dups != NULL && sb->rcs != NULL;
}

/* Passenger i of the batch: the definition's first steps (the notify
 * step named after the item's puller) and the item's fields. */
static void
seat_batch_fill(struct seat_batch *sb, size_t i,
    const struct cfg_definition *def, const Dbs__Step *first, size_t n_steps,
    Dbs__PulledItem *it)
{
	Dbs__Passenger *p = &sb->pv[i];
	Dbs__Step *steps = &sb->steps[i * n_steps];

	memcpy(steps, first, n_steps * sizeof(*steps));
	steps[0].name = it->puller;
	for (size_t j = 0; j < n_steps; j++)
		sb->stepp[i * n_steps + j] = &steps[j];
	dbs__passenger__init(p);
	p->client = def->client;
	p->definition = def->name;
	p->puller = it->puller;
	p->external_id = it->external_id;
	p->n_steps = n_steps;
	p->steps = &sb->stepp[i * n_steps];
	p->n_metadata = it->n_metadata;
	p->metadata = it->metadata;
	p->pulled_us = it->pulled_us;
	p->source_ref = it->source_ref;
	sb->ps[i] = p;
	sb->atts[i] = it->attachments;
	sb->n_atts[i] = it->n_attachments;
}

void
drive_on_pulled(struct sup *s, struct worker *w, Dbs__PulledBatch *b)
{
	struct drive *d = w->drive;
	const struct cfg_definition *def = w->def;
	size_t n_steps = passenger_n_steps(def);
	Dbs__Step steps[n_steps];
	Dbs__Step *stepp[n_steps];
	Dbs__SeatedItem *seated = NULL, **seatedp = NULL;
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
	Dbs__SeatResult sr = DBS__SEAT_RESULT__INIT;
	struct seat_batch sb = {0};
	struct store_txn *txn;
	size_t n_seated = 0;
	int rc;

	if (b->drive_id != d->id || d->pull_done) {
		protocol_violation(s, w, "PulledBatch of another drive");
		return;
	}
	take_logs(d, b->logs, b->n_logs);
	if (b->last)
		d->pull_done = true;
	if (b->n_items == 0)
		return;
	/* A bad item is the worker's fault: nothing of its batch is
	 * seated. */
	for (size_t i = 0; i < b->n_items; i++)
		if (!is_puller(def, b->items[i]->puller) ||
		    b->items[i]->external_id[0] == '\0') {
			protocol_violation(s, w,
			    "pulled item of an unknown puller or without id");
			return;
		}
	if ((txn = sup_txn(s)) == NULL)
		return;

	/* The steps every new passenger starts with (the notify step's name
	 * is each item's puller). */
	passenger_first_steps(def, NULL, steps, stepp);

	seated = calloc(b->n_items, sizeof(*seated));
	seatedp = calloc(b->n_items, sizeof(*seatedp));
	if (seated == NULL || seatedp == NULL ||
	    !seat_batch_alloc(&sb, b->n_items, n_steps))
		goto out;
	for (size_t i = 0; i < b->n_items; i++)
		seat_batch_fill(&sb, i, def, steps, n_steps, b->items[i]);
	d->pulled += b->n_items;
	/* One call for the batch: on PostgreSQL one round trip. */
	rc = store_passenger_seat_many(txn,
	    (const Dbs__Passenger *const *)sb.ps, sb.atts, sb.n_atts,
	    b->n_items, sb.ids, sb.dups, sb.rcs);
	if (rc != DBS_OK) {
		sup_store_failed(s, rc, "seating passengers");
		goto out;
	}
	for (size_t i = 0; i < b->n_items; i++) {
		Dbs__PulledItem *it = b->items[i];
		uint64_t id = sb.ids[i];
		bool dup = sb.dups[i];

		if (sb.rcs[i] != DBS_OK) {
			/* Not seated (too big, invalid), so not acknowledged:
			 * it stays in the source and the log says why. */
			logf_entry(d, DBS__LOG_LEVEL__LOG_ERROR, 0, it->puller,
			    "cannot seat %.200s: %s", it->external_id,
			    dbs_strerror(sb.rcs[i]));
			continue;
		}
		if (!dup) {
			d->seated++;
			touch(d, id);
			/* What the drive did, passenger by passenger: the
			 * log lists what was pulled, processed and pushed
			 * where (the UI folds these under the summary). */
			logf_entry(d, DBS__LOG_LEVEL__LOG_INFO, id, it->puller,
			    "pulled %.200s", it->external_id);
			for (size_t k = 0; k < it->n_attachments; k++)
				s->batch_bytes += it->attachments[k]->data.len;
		}
		dbs__seated_item__init(&seated[n_seated]);
		seated[n_seated].puller = it->puller;
		seated[n_seated].external_id = it->external_id;
		seated[n_seated].source_ref = it->source_ref;
		seated[n_seated].id = id;
		seated[n_seated].duplicate = dup;
		seatedp[n_seated] = &seated[n_seated];
		n_seated++;
	}
	d->exhausted = false;
	if (n_seated > 0) {
		sr.drive_id = d->id;
		sr.n_items = n_seated;
		sr.items = seatedp;
		m.body_case = DBS__WORKER_MSG__BODY_SEATED;
		m.seated = &sr;
		/* Packed now, sent after the commit that seated them. */
		if (sup_send_worker(s, w, &m) == DBS_OK) {
			d->notify_out++;
			(void)track_notify(d, seatedp, n_seated);
		}
	}
out:
	seat_batch_free(&sb);
	free(seated);
	free(seatedp);
}

/* Count a failed attempt of p in the drive's tally: dead (and logged as
 * such) or to be retried. */
static void
count_failure(struct drive *d, const Dbs__Passenger *p, Dbs__PassengerState st)
{
	if (st != DBS__PASSENGER_STATE__PS_DEAD) {
		d->failed++;
		return;
	}
	d->dead++;
	logf_entry(d, DBS__LOG_LEVEL__LOG_ERROR, p->id, "",
	    "passenger %" PRIu64 " is dead after %u attempt(s)", p->id,
	    p->attempts);
}

static int
get_own(struct sup *s, struct worker *w, struct store_txn *txn, uint64_t id,
    Dbs__Passenger **out)
{
	int rc = store_passenger_get(txn, id, out);

	if (rc == DBS_ENOTFOUND)
		return rc; /* purged meanwhile */
	if (rc != DBS_OK) {
		sup_store_failed(s, rc, "reading a passenger");
		return rc;
	}
	if (strcmp((*out)->client, w->def->client) != 0 ||
	    strcmp((*out)->definition, w->def->name) != 0) {
		dbs__passenger__free_unpacked(*out, NULL);
		*out = NULL;
		protocol_violation(
		    s, w, "names another definition's passenger");
		return DBS_EPROTO;
	}
	return DBS_OK;
}

void
drive_on_notified(struct sup *s, struct worker *w, Dbs__Notified *n)
{
	struct drive *d = w->drive;
	struct store_txn *txn;
	int64_t now = wire_now_ms();

	if (n->drive_id != d->id || d->notify_out == 0) {
		protocol_violation(s, w, "unexpected Notified");
		return;
	}
	d->notify_out--;
	if (d->nb_head != NULL) {
		/* Answers come in order: this one answers the oldest. */
		struct notify_batch *nb = d->nb_head;

		d->nb_head = nb->next;
		if (d->nb_head == NULL)
			d->nb_tail = &d->nb_head;
		nb->next = NULL;
		drive_free_notify(nb);
	}
	take_logs(d, n->logs, n->n_logs);
	if ((txn = sup_txn(s)) == NULL)
		return;
	for (size_t i = 0; i < n->n_items; i++) {
		Dbs__NotifyOutcome *o = n->items[i];
		Dbs__Passenger *p = NULL;
		Dbs__Step *st;
		int rc = get_own(s, w, txn, o->id, &p);

		if (rc == DBS_ENOTFOUND)
			continue;
		if (rc != DBS_OK)
			return;
		st = passenger_find_step(
		    p, p->puller, DBS__STEP_KIND__SK_NOTIFY, false);
		if (st == NULL || passenger_step_done(st)) {
			dbs__passenger__free_unpacked(p, NULL);
			continue;
		}
		if (o->code == DBS_OK) {
			passenger_step_result(
			    st, DBS__STEP_STATE__STEP_COMPLETE, "", now);
		} else {
			/* The source was not acknowledged: it will offer the
			 * item again, and the notify is retried then. */
			passenger_step_result(
			    st, DBS__STEP_STATE__STEP_FAILED, o->error, now);
			logf_entry(d, DBS__LOG_LEVEL__LOG_WARNING, p->id,
			    p->puller, "notify failed: %s", o->error);
		}
		passenger_settle(p, now);
		p->updated_ms = now;
		if ((rc = store_passenger_put(txn, p)) != DBS_OK) {
			dbs__passenger__free_unpacked(p, NULL);
			sup_store_failed(s, rc, "recording a notify");
			return;
		}
		dbs__passenger__free_unpacked(p, NULL);
	}
}

static int
replace_content(
    struct store_txn *txn, Dbs__Passenger *p, const Dbs__WorkOutcome *o)
{
	Dbs__AttachmentMeta **metas = NULL;
	Dbs__KeyValue **kvs = NULL;
	int rc;

	/* Bodies: drop those that are gone, write the new ones. */
	for (size_t i = 0; i < p->n_attachments; i++) {
		bool kept = false;

		for (size_t j = 0; j < o->n_attachments; j++)
			kept = kept || strcmp(p->attachments[i]->name,
					   o->attachments[j]->name) == 0;
		if (!kept &&
		    (rc = store_attachment_delete(
			 txn, p->id, p->attachments[i]->name)) != DBS_OK &&
		    rc != DBS_ENOTFOUND)
			return rc;
	}
	for (size_t j = 0; j < o->n_attachments; j++)
		if ((rc = store_attachment_put(txn, p->id,
			 o->attachments[j]->name, o->attachments[j]->data.data,
			 o->attachments[j]->data.len)) != DBS_OK)
			return rc;

	metas = calloc(o->n_attachments + 1, sizeof(*metas));
	kvs = calloc(o->n_metadata + 1, sizeof(*kvs));
	if (metas == NULL || kvs == NULL)
		goto nomem;
	for (size_t j = 0; j < o->n_attachments; j++) {
		if ((metas[j] = malloc(sizeof(**metas))) == NULL)
			goto nomem;
		dbs__attachment_meta__init(metas[j]);
		metas[j]->name = strdup(o->attachments[j]->name);
		metas[j]->content_type =
		    strdup(o->attachments[j]->content_type);
		metas[j]->size = o->attachments[j]->data.len;
		if (metas[j]->name == NULL || metas[j]->content_type == NULL)
			goto nomem;
	}
	for (size_t j = 0; j < o->n_metadata; j++) {
		if ((kvs[j] = malloc(sizeof(**kvs))) == NULL)
			goto nomem;
		dbs__key_value__init(kvs[j]);
		kvs[j]->key = strdup(o->metadata[j]->key);
		kvs[j]->value = strdup(o->metadata[j]->value);
		if (kvs[j]->key == NULL || kvs[j]->value == NULL)
			goto nomem;
	}
	for (size_t i = 0; i < p->n_attachments; i++)
		dbs__attachment_meta__free_unpacked(p->attachments[i], NULL);
	free(p->attachments);
	for (size_t i = 0; i < p->n_metadata; i++)
		dbs__key_value__free_unpacked(p->metadata[i], NULL);
	free(p->metadata);
	p->attachments = metas;
	p->n_attachments = o->n_attachments;
	p->metadata = kvs;
	p->n_metadata = o->n_metadata;
	return DBS_OK;
nomem:
	for (size_t j = 0; metas != NULL && j < o->n_attachments; j++)
		if (metas[j] != NULL)
			dbs__attachment_meta__free_unpacked(metas[j], NULL);
	for (size_t j = 0; kvs != NULL && j < o->n_metadata; j++)
		if (kvs[j] != NULL)
			dbs__key_value__free_unpacked(kvs[j], NULL);
	free(metas);
	free(kvs);
	return DBS_ENOMEM;
}

void
drive_on_work_result(struct sup *s, struct worker *w, Dbs__WorkResult *r)
{
	struct drive *d = w->drive;
	const struct cfg_retry *retry = &w->def->retry;
	struct store_txn *txn;
	int64_t now = wire_now_ms();

	if (r->drive_id != d->id || d->work_out == 0) {
		protocol_violation(s, w, "unexpected WorkResult");
		return;
	}
	d->work_out--;
	d->items_out = d->items_out > r->n_items
			   ? d->items_out - (uint32_t)r->n_items
			   : 0;
	if (w->isolate > 0)
		w->isolate = w->isolate > r->n_items
				 ? w->isolate - (uint32_t)r->n_items
				 : 0;
	take_logs(d, r->logs, r->n_logs);
	if ((txn = sup_txn(s)) == NULL)
		return;
	for (size_t i = 0; i < r->n_items; i++) {
		Dbs__WorkOutcome *o = r->items[i];
		Dbs__Passenger *p = NULL;
		bool failed = false, permanent = false;
		const char *first_error = NULL;
		uint64_t retry_after_ms = 0;
		int rc = get_own(s, w, txn, o->id, &p);

		if (rc == DBS_ENOTFOUND)
			continue;
		if (rc != DBS_OK)
			return;
		if (p->state != DBS__PASSENGER_STATE__PS_PENDING) {
			/* Only pending passengers go out for work: an
			 * operator completed this one (set_step) while it
			 * was out, and the manual change wins. */
			dbs__passenger__free_unpacked(p, NULL);
			continue;
		}
		touch(d, p->id);
		for (size_t j = 0; j < o->n_steps; j++) {
			Dbs__StepOutcome *so = o->steps[j];
			Dbs__Step *st =
			    passenger_find_step(p, so->name, 0, true);

			if (st == NULL ||
			    st->kind == DBS__STEP_KIND__SK_NOTIFY) {
				dbs__passenger__free_unpacked(p, NULL);
				protocol_violation(s, w, "result for no step");
				return;
			}
			passenger_step_result(st, so->state, so->error, now);
			if (so->state == DBS__STEP_STATE__STEP_COMPLETE)
				logf_entry(d, DBS__LOG_LEVEL__LOG_INFO, p->id,
				    so->name, "%s %s",
				    st->kind == DBS__STEP_KIND__SK_PUSHER
					? "pushed to"
					: "processed by",
				    so->name);
			if (so->state == DBS__STEP_STATE__STEP_FAILED) {
				failed = true;
				permanent = permanent || so->permanent;
				if (so->retry_after_ms > retry_after_ms)
					retry_after_ms = so->retry_after_ms;
				if (first_error == NULL)
					first_error = so->error;
				logf_entry(d, DBS__LOG_LEVEL__LOG_ERROR, p->id,
				    so->name, "%s failed%s: %s", so->name,
				    so->permanent ? " permanently" : "",
				    so->error);
			}
		}
		if (o->replaced &&
		    (rc = replace_content(txn, p, o)) != DBS_OK) {
			dbs__passenger__free_unpacked(p, NULL);
			sup_store_failed(s, rc, "storing processed content");
			return;
		}
		p->last_drive = d->id;
		p->updated_ms = now;
		if (failed)
			count_failure(d, p,
			    passenger_fail(p, retry, permanent, retry_after_ms,
				first_error, now, sup_random64));
		else if (passenger_done(p, now))
			d->completed++;
		rc = store_passenger_put(txn, p);
		dbs__passenger__free_unpacked(p, NULL);
		if (rc != DBS_OK) {
			sup_store_failed(s, rc, "recording step results");
			return;
		}
	}
}

void
drive_on_log(struct sup *s, struct worker *w, Dbs__LogBatch *l)
{
	if (w->drive != NULL) {
		take_logs(w->drive, l->entries, l->n_entries);
		return;
	}
	/* Outside a drive (init, peek): a log of its own. */
	{
		Dbs__Log log = DBS__LOG__INIT;
		struct store_txn *txn = sup_txn(s);
		int rc;

		if (txn == NULL || l->n_entries == 0)
			return;
		log.client = w->def->client;
		log.definition = w->def->name;
		log.started_ms = l->entries[0]->time_ms;
		log.finished_ms = wire_now_ms();
		log.entries = l->entries;
		log.n_entries = l->n_entries;
		log.outcome = "worker log";
		for (size_t i = 0; i < l->n_entries; i++)
			if (l->entries[i]->level > log.level)
				log.level = l->entries[i]->level;
		if ((rc = store_log_put(txn, &log, NULL, 0)) != DBS_OK)
			sup_store_failed(s, rc, "writing a worker log");
	}
}

/* ---------------------------------------------------------- dispatch */

/* The due ids a dispatch looks at, fetched BATCH at a time after the
 * drive's cursor. */
struct scan {
	uint64_t ids[BATCH];
	int64_t dues[BATCH];
};

static void
free_work(Dbs__WorkItem *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (items[i].passenger != NULL)
			dbs__passenger__free_unpacked(
			    items[i].passenger, NULL);
		for (size_t j = 0; j < items[i].n_attachments; j++)
			free(items[i].attachments[j]);
		free(items[i].attachments);
	}
}

/* Read passenger `id` and its attachments from the snapshot into `it`
 * (the attachments' bytes point into the snapshot). Returns the bytes of
 * its attachments, 0 with it->passenger NULL when it is gone, or -1. */
static ssize_t
load_item(struct store_txn *txn, uint64_t id, Dbs__WorkItem *it)
{
	Dbs__Passenger *p = NULL;
	size_t bytes = 0;

	dbs__work_item__init(it);
	if (store_passenger_get(txn, id, &p) != DBS_OK)
		return 0;
	it->passenger = p;
	it->attachments =
	    calloc(p->n_attachments + 1, sizeof(*it->attachments));
	if (it->attachments == NULL)
		return -1;
	for (size_t j = 0; j < p->n_attachments; j++) {
		Dbs__Attachment *a = malloc(sizeof(*a));
		const void *data;
		size_t len;

		if (a == NULL)
			return -1;
		dbs__attachment__init(a);
		it->attachments[it->n_attachments++] = a;
		a->name = p->attachments[j]->name;
		a->content_type = p->attachments[j]->content_type;
		if (store_attachment_get(txn, p->id, p->attachments[j]->name,
			&data, &len) == DBS_OK) {
			a->data.data = (uint8_t *)data;
			a->data.len = len;
			bytes += len;
		}
	}
	return (ssize_t)bytes;
}

/*
 * Gather the next WorkRequest's passengers from the snapshot `txn`: due
 * ones after the drive's cursor (those before it are in flight or done),
 * skipping those that failed in this drive (they wait for the next). The
 * cursor moves over what is taken or skipped. Returns how many, or -1.
 */
static int
gather(struct worker *w, struct store_txn *txn, Dbs__WorkItem *items,
    Dbs__WorkItem **itemp)
{
	struct drive *d = w->drive;
	struct scan *sc = malloc(sizeof(*sc));
	int64_t now = wire_now_ms();
	size_t n = 0, bytes = 0, got = BATCH;
	int rc;

	if (sc == NULL)
		return -1;
	while (n < BATCH && got > 0 && bytes < BATCH_BYTES &&
	       (w->isolate == 0 || n < 1)) {
		size_t want = BATCH - n;

		rc = store_queue_due_ids(txn, w->def->client, w->def->name,
		    now, d->cur_due, d->cur_id, want, sc->ids, sc->dues, &got);
		if (rc != DBS_OK) {
			sup_err("scanning the queue of %s/%s: %s",
			    w->def->client, w->def->name, dbs_strerror(rc));
			free(sc);
			return n > 0 ? (int)n : -1;
		}
		for (size_t i = 0; i < got && bytes < BATCH_BYTES &&
				   (w->isolate == 0 || n < 1);
		     i++) {
			ssize_t b = load_item(txn, sc->ids[i], &items[n]);

			if (b < 0) {
				free_work(items, n + 1);
				free(sc);
				return -1;
			}
			d->cur_due = sc->dues[i];
			d->cur_id = sc->ids[i];
			if (items[n].passenger == NULL ||
			    items[n].passenger->last_drive == d->id) {
				free_work(&items[n], 1);
				continue; /* gone, or failed in this drive */
			}
			bytes += (size_t)b;
			itemp[n] = &items[n];
			n++;
		}
		if (got < want)
			break; /* the end of what is due */
	}
	free(sc);
	return (int)n;
}

/* Build and send one WorkRequest from the snapshot `txn`. Returns how many
 * passengers it carries (0: nothing due), or -1 on error. */
static int
send_batch(struct sup *s, struct worker *w, struct store_txn *txn)
{
	struct drive *d = w->drive;
	Dbs__WorkItem *items = calloc(BATCH, sizeof(*items));
	Dbs__WorkItem **itemp = calloc(BATCH, sizeof(*itemp));
	Dbs__WorkRequest wr = DBS__WORK_REQUEST__INIT;
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
	int n = -1, ret = -1;

	if (items == NULL || itemp == NULL)
		goto out;
	if ((n = gather(w, txn, items, itemp)) <= 0) {
		ret = n;
		goto out;
	}
	wr.drive_id = d->id;
	wr.batch_id = ++d->next_batch;
	wr.n_items = (size_t)n;
	wr.items = itemp;
	m.body_case = DBS__WORKER_MSG__BODY_WORK;
	m.work = &wr;
	/* No batch is open: this goes out at once, packed from the
	 * snapshot before it ends. */
	d->lone_id = n == 1 ? itemp[0]->passenger->id : 0;
	if (sup_send_worker(s, w, &m) != DBS_OK)
		goto out;
	d->work_out++;
	d->items_out += (uint32_t)n;
	ret = n;
out:
	if (n > 0)
		free_work(items, (size_t)n);
	free(items);
	free(itemp);
	return ret;
}

static void
finish(struct sup *s, struct worker *w, const char *outcome)
{
	struct drive *d = w->drive;
	const struct cfg_definition *def = w->def;
	struct store_txn *txn;
	Dbs__Log log = DBS__LOG__INIT;
	int64_t now = wire_now_ms();
	uint64_t purged = 0, logs_purged = 0;
	int rc;

	w->drive = NULL;
	driving_remove(s, w);
	if ((txn = sup_txn(s)) != NULL) {
		const struct cfg_client *c = NULL;

		for (size_t i = 0; i < s->cfg->n_clients; i++)
			if (strcmp(s->cfg->clients[i].name, def->client) == 0)
				c = &s->cfg->clients[i];
		rc = store_queue_purge(txn, def->client, def->name,
		    now - def->queue_life_span_ms, PURGE_MAX, &purged);
		if (rc == DBS_OK && c != NULL)
			rc = store_log_purge(txn, def->client,
			    now - c->log_life_span_ms, &logs_purged);
		/* The kept dedup keys of every client that have expired. */
		if (rc == DBS_OK)
			rc = store_dedup_sweep(txn, now, PURGE_MAX, NULL);
		if (rc != DBS_OK) {
			sup_store_failed(s, rc, "purging");
			txn = NULL;
		}
	}
	logf_entry(d, DBS__LOG_LEVEL__LOG_INFO, 0, "",
	    "drive %" PRIu64 " %s: pulled %u, seated %u, completed %u, "
	    "failed %u, dead %u, purged %" PRIu64 " in %lld ms",
	    d->id, outcome, d->pulled, d->seated, d->completed, d->failed,
	    d->dead, purged, (long long)(now - d->started_wall_ms));
	if (txn != NULL) {
		log.client = def->client;
		log.definition = def->name;
		log.drive_id = d->id;
		log.started_ms = d->started_wall_ms;
		log.finished_ms = now;
		log.level = d->level;
		log.entries = d->entries;
		log.n_entries = d->n_entries;
		log.dropped_entries = d->dropped;
		log.pulled = d->pulled;
		log.seated = d->seated;
		log.completed = d->completed;
		log.failed = d->failed;
		log.dead = d->dead;
		log.outcome = (char *)outcome;
		if ((rc = store_log_put(txn, &log, d->ids, d->n_ids)) !=
		    DBS_OK)
			sup_store_failed(s, rc, "writing the drive log");
	}
	metrics_drive_finished(w, outcome, d->failed, d->dead);
	history_sup_drive(
	    s, w, d->completed, d->failed, d->dead, now - d->started_wall_ms);
	snprintf(w->last_outcome, sizeof(w->last_outcome),
	    "%s: pulled %u, seated %u, completed %u, failed %u, dead %u",
	    outcome, d->pulled, d->seated, d->completed, d->failed, d->dead);
	sched_finished(s->sched, w->slot, wire_mono_ms());
	drive_schedule_retry(s, w);
	s->untrimmed += d->n_ids;
	drive_free(d);
	/* Big drives leave their heap free but mapped (glibc keeps what is
	 * below its top chunk): give it back when the last drive ends (not
	 * after every small drive: a trim walks the whole heap). */
	if (s->n_driving == 0 && s->untrimmed >= TRIM_AFTER) {
		malloc_trim(0);
		s->untrimmed = 0;
	}
	if (w->state == DBS__WORKER_STATE__WS_BUSY)
		w->state = DBS__WORKER_STATE__WS_READY;
	sup_event_worker(s, w);
	sup_event_definition(s, w);
}

void
drive_schedule_retry(struct sup *s, struct worker *w)
{
	struct store_txn *txn = s->txn, *own = NULL;
	int64_t due;

	/* Read in the open batch if there is one (it holds the newest
	 * state), else in a snapshot of our own. */
	if (txn == NULL) {
		if (store_txn_begin(s->st, false, &own) != DBS_OK)
			return;
		txn = own;
	}
	if (store_queue_next_due(txn, w->def->client, w->def->name, &due) ==
		DBS_OK &&
	    due < PASSENGER_NEVER_MS) {
		int64_t wait = due - wire_now_ms();

		sched_retry_at(
		    s->sched, w->slot, wire_mono_ms() + (wait > 0 ? wait : 0));
	}
	store_txn_abort(own);
}

bool
drive_take_new(struct sup *s, struct worker *w)
{
	struct drive *d = w->drive;
	int64_t window = s->cfg->drive_timeout_ms / 4;

	if (window > EXTEND_MS)
		window = EXTEND_MS;
	if (d == NULL || w->isolate > 0 || d->n_ids >= EXTEND_IDS ||
	    wire_mono_ms() - d->started_ms >= window)
		return false;
	d->exhausted = false;
	return true;
}

void
drive_dispatch(struct sup *s, struct worker *w)
{
	struct drive *d = w->drive;
	struct store_txn *txn = NULL;

	if (d == NULL || s->txn != NULL)
		return;
	if (!d->exhausted && d->work_out < (w->isolate > 0 ? 1 : WINDOW)) {
		if (store_txn_begin(s->st, false, &txn) != DBS_OK)
			return;
		while (d->work_out < (w->isolate > 0 ? 1 : WINDOW) &&
		       w->drive == d) {
			int n = send_batch(s, w, txn);

			if (n <= 0) {
				d->exhausted = n == 0;
				break;
			}
		}
		store_txn_abort(txn);
	}
	if (w->drive == d && d->exhausted && d->pull_done &&
	    d->work_out == 0 && d->notify_out == 0)
		finish(s, w, "ok");
}

/* The worker died while `id` was its only passenger in flight, in
 * isolation: charge that passenger a failed attempt (see the top). */
static void
charge_crash(struct sup *s, struct worker *w, uint64_t id, const char *why)
{
	struct drive *d = w->drive;
	struct store_txn *txn = sup_txn(s);
	Dbs__Passenger *p = NULL;
	Dbs__Step *st;
	char error[256];
	int64_t now = wire_now_ms();
	int rc;

	if (txn == NULL || get_own(s, w, txn, id, &p) != DBS_OK)
		return;
	if (p->state != DBS__PASSENGER_STATE__PS_PENDING) {
		dbs__passenger__free_unpacked(p, NULL);
		return;
	}
	st = passenger_first_work_left(p);
	snprintf(error, sizeof(error), "the worker died while %s had it: %s",
	    st != NULL ? st->name : "a driver", why);
	if (st != NULL)
		passenger_step_result(
		    st, DBS__STEP_STATE__STEP_FAILED, error, now);
	touch(d, p->id);
	p->updated_ms = now;
	p->last_drive = d->id;
	logf_entry(d, DBS__LOG_LEVEL__LOG_ERROR, p->id,
	    st != NULL ? st->name : "", "%s", error);
	count_failure(d, p,
	    passenger_fail(
		p, &w->def->retry, false, 0, error, now, sup_random64));
	rc = store_passenger_put(txn, p);
	dbs__passenger__free_unpacked(p, NULL);
	if (rc != DBS_OK)
		sup_store_failed(s, rc, "recording a crash attempt");
}

void
drive_abort(struct sup *s, struct worker *w, const char *why)
{
	struct drive *d = w->drive;
	char outcome[256];

	if (d == NULL)
		return;
	if (d->nb_head != NULL) {
		/* Unanswered SeatResults: the next drive sends them again. */
		struct notify_batch **tail = &w->renotify;

		while (*tail != NULL)
			tail = &(*tail)->next;
		*tail = d->nb_head;
		d->nb_head = NULL;
		d->nb_tail = &d->nb_head;
	}
	if (d->work_out > 0 && !s->shutting_down && !s->in_failure) {
		if (w->isolate > 0 && d->items_out == 1 && d->lone_id != 0) {
			charge_crash(s, w, d->lone_id, why);
			w->isolate--;
		} else if (d->items_out > w->isolate) {
			w->isolate = d->items_out;
		}
	}
	logf_entry(w->drive, DBS__LOG_LEVEL__LOG_ERROR, 0, "",
	    "drive aborted: %s", why);
	snprintf(outcome, sizeof(outcome), "aborted: %s", why);
	finish(s, w, outcome);
}

void
drive_postpone(struct worker *w, int64_t ms)
{
	w->drive->deadline_ms += ms;
}

void
drive_timers(struct sup *s, struct worker *w, int64_t now, int64_t *wake)
{
	struct drive *d = w->drive;

	if (now >= d->deadline_ms) {
		char why[128];

		snprintf(why, sizeof(why), "drive timed out after %lld s",
		    (long long)s->cfg->drive_timeout_ms / 1000);
		child_kill(s, w, why);
		return;
	}
	if (*wake < 0 || d->deadline_ms < *wake)
		*wake = d->deadline_ms;
}
