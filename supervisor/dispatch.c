/*
 * dispatch.c — the messages databusd takes from its workers, and what
 * follows when a worker is gone.
 *
 * Each message body has one row in `table`: the worker states it is
 * permitted in and its handler. The rows say, from the worker's life
 * (life.h): Ready only while STARTING; what a drive returns (pulled,
 * notified, work results) only while BUSY with a drive; logs, peek results
 * and heartbeats whenever the worker runs. Messages only databusd sends
 * (init, drive, seated, work, peek, stop) have no handler. A message not
 * permitted — or one that does not decode — kills the worker (child.c),
 * never databusd; any message proves the worker alive.
 *
 * When a worker is killed or its process ended, child.c calls
 * worker_gone here: its drive is aborted (after a kill, its successor
 * resumes that work at once) and the peeks waiting for it fail.
 */
#include <stdio.h>

#include "arena.h"
#include "child.h"
#include "commit.h"
#include "control.h"
#include "dbs_error.h"
#include "dispatch.h"
#include "drive.h"
#include "event_log.h"
#include "wire.h"

#define RECV_BURST 64

/* The states a worker process runs in. */
#define ALIVE                                                                 \
	(DISPATCH_IN(STARTING) | DISPATCH_IN(READY) | DISPATCH_IN(BUSY) |     \
	    DISPATCH_IN(STOPPING))

static void
on_ready(struct sup *s, struct worker *w, Dbs__WorkerMsg *m)
{
	const Dbs__Ready *r = m->ready;

	if (r->code != DBS_OK) {
		snprintf(w->error, sizeof(w->error), "%s",
		    r->message != NULL ? r->message : dbs_strerror(r->code));
		w->permanent = true;
		sup_err("worker %s/%s: %s", w->def->client, w->def->name,
		    w->error);
		return; /* it exits 100 next */
	}
	w->error[0] = '\0';
	if (w->exited_ms > 0) {
		/* A restart: how long the definition was without a worker
		 * (the fault tests read this line; docs/faults.md). */
		int64_t now = wire_mono_ms();

		sup_log("worker %s/%s (pid %d) ready %lld ms after the last "
			"exit, %lld ms after its start (mono %lld)",
		    w->def->client, w->def->name, (int)w->pid,
		    (long long)(now - w->exited_ms),
		    (long long)(now - w->started_ms), (long long)now);
		w->exited_ms = 0;
	}
	child_event(s, w, CHILD_EV_READY, NULL);
	if (w->resume_drive) {
		/* It crashed mid-drive: finish that work now. */
		w->resume_drive = false;
		sched_expedite(s->sched, w->slot, wire_mono_ms());
	} else {
		drive_schedule_retry(s, w);
	}
	sup_event_definition(s, w);
}

static void
on_pulled(struct sup *s, struct worker *w, Dbs__WorkerMsg *m)
{
	drive_on_pulled(s, w, m->pulled);
}

static void
on_notified(struct sup *s, struct worker *w, Dbs__WorkerMsg *m)
{
	drive_on_notified(s, w, m->notified);
}

static void
on_work_result(struct sup *s, struct worker *w, Dbs__WorkerMsg *m)
{
	drive_on_work_result(s, w, m->work_result);
}

static void
on_log(struct sup *s, struct worker *w, Dbs__WorkerMsg *m)
{
	drive_on_log(s, w, m->log);
}

static void
on_peek_result(struct sup *s, struct worker *w, Dbs__WorkerMsg *m)
{
	control_on_peek_result(s, w, m->peek_result);
}

static void
on_heartbeat(struct sup *s, struct worker *w, Dbs__WorkerMsg *m)
{
	(void)s;
	if (m->heartbeat->rss_kib != 0)
		w->rss_kib = m->heartbeat->rss_kib;
}

static const struct dispatch_entry table[] = {
    [DBS__WORKER_MSG__BODY__NOT_SET] = {"an empty message", 0, false, NULL},
    [DBS__WORKER_MSG__BODY_INIT] = {"Init", 0, false, NULL},
    [DBS__WORKER_MSG__BODY_READY] = {"Ready", DISPATCH_IN(STARTING), false,
	on_ready},
    [DBS__WORKER_MSG__BODY_DRIVE] = {"Drive", 0, false, NULL},
    [DBS__WORKER_MSG__BODY_PULLED] = {"PulledBatch", DISPATCH_IN(BUSY), true,
	on_pulled},
    [DBS__WORKER_MSG__BODY_SEATED] = {"SeatResult", 0, false, NULL},
    [DBS__WORKER_MSG__BODY_NOTIFIED] = {"Notified", DISPATCH_IN(BUSY), true,
	on_notified},
    [DBS__WORKER_MSG__BODY_WORK] = {"WorkRequest", 0, false, NULL},
    [DBS__WORKER_MSG__BODY_WORK_RESULT] = {"WorkResult", DISPATCH_IN(BUSY),
	true, on_work_result},
    [DBS__WORKER_MSG__BODY_LOG] = {"LogBatch", ALIVE, false, on_log},
    [DBS__WORKER_MSG__BODY_PEEK] = {"PeekRequest", 0, false, NULL},
    [DBS__WORKER_MSG__BODY_PEEK_RESULT] = {"PeekResult", ALIVE, false,
	on_peek_result},
    [DBS__WORKER_MSG__BODY_HEARTBEAT] = {"Heartbeat", ALIVE, false,
	on_heartbeat},
};

const struct dispatch_entry *
dispatch_entry(Dbs__WorkerMsg__BodyCase body)
{
	if ((size_t)body >= sizeof(table) / sizeof(table[0]) ||
	    table[body].name == NULL)
		return NULL;
	return &table[body];
}

bool
dispatch_permitted(
    Dbs__WorkerState state, bool driving, Dbs__WorkerMsg__BodyCase body)
{
	const struct dispatch_entry *e = dispatch_entry(body);

	if (e == NULL || e->handle == NULL || (unsigned)state >= 32)
		return false;
	if ((e->states & (1u << state)) == 0)
		return false;
	return !e->driving || driving;
}

void
dispatch_message(struct sup *s, struct worker *w, Dbs__WorkerMsg *m)
{
	const struct dispatch_entry *e = dispatch_entry(m->body_case);
	char why[160];

	/* Any message proves the worker alive. */
	w->last_beat_ms = wire_mono_ms();
	if (!dispatch_permitted(w->state, w->drive != NULL, m->body_case)) {
		if (e != NULL)
			snprintf(why, sizeof(why),
			    "sent an unexpected message (%s, field %d) while "
			    "%s",
			    e->name, (int)m->body_case,
			    child_state_name(w->state));
		else
			snprintf(why, sizeof(why),
			    "sent an unexpected message (field %d) while %s",
			    (int)m->body_case, child_state_name(w->state));
		child_kill(s, w, why);
		return;
	}
	e->handle(s, w, m);
}

void
dispatch_worker(struct sup *s, struct worker *w)
{
	for (int i = 0;
	     i < RECV_BURST && w->sock_open && !w->killed &&
	     w->restart_why == NULL && s->batch_bytes < SUP_BATCH_BYTES;
	     i++) {
		Dbs__WorkerMsg *m = NULL;
		/* The arena, unless a handler of an outer message is using
		 * it (a nested dispatch then mallocs). */
		bool arena = s->msg_arena != NULL && !s->msg_arena_busy;
		int rc = wire_recv_worker_with(w->sock, &m, NNG_FLAG_NONBLOCK,
		    arena ? arena_allocator(s->msg_arena) : NULL);

		if (rc != DBS_OK) {
			if (arena)
				arena_reset(s->msg_arena);
			if (rc == DBS_EBUSY)
				return;
			child_kill(s, w,
			    rc == DBS_EPROTO
				? "sent a message that does not decode"
				: "socket error");
			return;
		}
		s->msg_arena_busy |= arena;
		dispatch_message(s, w, m);
		if (arena) {
			arena_reset(s->msg_arena);
			s->msg_arena_busy = false;
		} else {
			dbs__worker_msg__free_unpacked(m, NULL);
		}
		/* A store failure the message met restarts workers now. */
		child_restart_reported(s);
	}
}

static void
worker_gone(
    struct sup *s, struct worker *w, enum child_gone how, const char *why)
{
	if (how == CHILD_GONE_KILLED) {
		if (w->drive != NULL) {
			/* Its successor finishes the work at once. */
			w->resume_drive = true;
			drive_abort(s, w, why);
		}
		control_fail_peeks(s, w, DBS_ENOWORKER, why);
		return;
	}
	if (w->drive != NULL)
		drive_abort(s, w, why);
	control_fail_peeks(s, w, DBS_ENOWORKER, "worker exited");
}

void
dispatch_start(void)
{
	child_on_gone(worker_gone);
}
