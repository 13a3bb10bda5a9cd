/*
 * commit.c — the write batch, its outbox, publishing and store failures.
 *
 * Writes are group-committed: handlers add changes to one open write
 * transaction (sup_txn) and queue what may only be said once those
 * changes are durable (seat results to workers, control replies) with
 * sup_after_commit(). The loop commits once per burst of messages
 * (sup_commit), flushes the outbox, and publishes the last event sequence
 * number on the events socket.
 *
 * When a store call or the commit fails, the batch is lost: the control
 * replies that waited for it become error replies, and every worker that
 * was told something it depended on, or that drives on changes the batch
 * held, is reported for a restart (sup_report_restart): this file never
 * kills a process — child.c does, called by the loop, and until it did
 * (sup_restarts_done) no new batch begins, so that nothing an aborted
 * drive would write slips into the store. Intake stays paused until a
 * probe commits (main.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "commit.h"
#include "dbs_error.h"
#include "wire.h"

struct store_txn *
sup_txn(struct sup *s)
{
	int rc;

	if (s->txn != NULL)
		return s->txn;
	if (s->in_failure)
		return NULL;
	if ((rc = store_txn_begin(s->st, true, &s->txn)) != DBS_OK) {
		s->txn = NULL;
		snprintf(s->store_error, sizeof(s->store_error),
		    "cannot begin a transaction: %s (%s)", dbs_strerror(rc),
		    store_last_error(s->st));
		return NULL;
	}
	return s->txn;
}

void
sup_report_restart(struct sup *s, struct worker *w, const char *why)
{
	if (w->pid <= 0 || w->killed || w->restart_why != NULL)
		return;
	w->restart_why = why;
	s->restarts_reported = true;
}

void
sup_restarts_done(struct sup *s)
{
	s->in_failure = false;
}

/* Whether `w` may be sent anything: not once it is killed or reported. */
static bool
reachable(const struct worker *w)
{
	return w->sock_open && !w->killed && w->restart_why == NULL;
}

static void
send_now(struct sup *s, struct worker *w, nng_msg *msg)
{
	if (w == NULL) {
		if (nng_sendmsg(s->ctl, msg, NNG_FLAG_NONBLOCK) != 0)
			nng_msg_free(msg);
		return;
	}
	if (!reachable(w)) {
		nng_msg_free(msg);
		return;
	}
	if (nng_sendmsg(w->sock, msg, NNG_FLAG_NONBLOCK) != 0) {
		nng_msg_free(msg);
		sup_report_restart(s, w, "does not read its socket");
	}
}

void
sup_send_now(struct sup *s, nng_msg *msg)
{
	send_now(s, NULL, msg);
}

void
sup_control_reply(struct sup *s, nng_msg *msg, Dbs__ControlReply *r, bool now)
{
	nng_msg_clear(msg); /* keeps the backtrace header */
	if (wire_append(msg, &r->base) != DBS_OK) {
		nng_msg_free(msg);
		return;
	}
	if (now)
		sup_send_now(s, msg);
	else
		sup_after_commit(s, NULL, msg);
}

void
sup_after_commit(struct sup *s, struct worker *w, nng_msg *msg)
{
	struct outmsg *o;

	if (s->txn == NULL) {
		send_now(s, w, msg);
		return;
	}
	if ((o = malloc(sizeof(*o))) == NULL) {
		nng_msg_free(msg);
		if (w != NULL)
			sup_report_restart(s, w, "out of memory");
		return;
	}
	o->next = NULL;
	o->w = w;
	o->msg = msg;
	*s->out_tail = o;
	s->out_tail = &o->next;
}

/*
 * Pack a message for a worker. Its own (non-inlined) function so that the
 * one leak nng 1.5.2 makes of ours can be named precisely: a message
 * nng_sendmsg accepted for a worker's pair1 pipe that closes at that
 * moment (the worker died) is never freed by nng. That costs one message
 * per worker death; tests/lsan.supp names this function and nothing
 * else, so any other lost message, and any lost queue entry
 * (sup_after_commit), is still reported.
 */
__attribute__((noinline)) int
sup_pack_worker_msg(const Dbs__WorkerMsg *m, nng_msg **msg)
{
	return wire_pack(&m->base, msg);
}

int
sup_send_worker(struct sup *s, struct worker *w, const Dbs__WorkerMsg *m)
{
	nng_msg *msg;
	int rc = sup_pack_worker_msg(m, &msg);

	if (rc != DBS_OK) {
		sup_report_restart(
		    s, w, "a message to it could not be packed");
		return rc;
	}
	sup_after_commit(s, w, msg);
	return DBS_OK;
}

/* Turn a queued control reply into an error reply with the same id. */
static void
fail_reply(struct sup *s, nng_msg *msg, int code)
{
	Dbs__ControlReply *old = (Dbs__ControlReply *)wire_unpack(
	    &dbs__control_reply__descriptor, msg);
	Dbs__ControlReply r = DBS__CONTROL_REPLY__INIT;

	r.id = old != NULL ? old->id : 0;
	r.code = code;
	r.message = s->store_error;
	if (old != NULL)
		dbs__control_reply__free_unpacked(old, NULL);
	nng_msg_clear(msg);
	if (wire_append(msg, &r.base) != DBS_OK) {
		nng_msg_free(msg);
		return;
	}
	send_now(s, NULL, msg);
}

static void
outbox_flush(struct sup *s, int failed_rc)
{
	struct outmsg *o = s->out_head;

	s->out_head = NULL;
	s->out_tail = &s->out_head;
	while (o != NULL) {
		struct outmsg *next = o->next;

		if (failed_rc == DBS_OK) {
			send_now(s, o->w, o->msg);
		} else if (o->w == NULL) {
			fail_reply(s, o->msg, failed_rc);
		} else {
			nng_msg_free(o->msg);
			/* What it was told is not stored: start it afresh. */
			sup_report_restart(s, o->w, "store error");
		}
		free(o);
		o = next;
	}
}

static void
publish(struct sup *s)
{
	struct store_txn *t;
	uint64_t first = 0, last = 0;

	if (store_txn_begin(s->st, false, &t) != DBS_OK)
		return;
	(void)store_event_range(t, &first, &last);
	store_txn_abort(t);
	if (last > s->published_seq) {
		Dbs__Event ev = DBS__EVENT__INIT;

		ev.seq = last;
		s->published_seq = last;
		(void)wire_send(s->events, &ev.base, NNG_FLAG_NONBLOCK);
	}
}

void
sup_store_failed(struct sup *s, int rc, const char *what)
{
	char text[512];

	if (s->in_failure)
		return;
	s->in_failure = true; /* until the restarts are done */
	snprintf(text, sizeof(text), "%s: %s (%s)", what, dbs_strerror(rc),
	    store_last_error(s->st));
	if (strcmp(text, s->store_error) != 0 || !s->intake_paused)
		sup_err("store error, intake paused: %s", text);
	snprintf(s->store_error, sizeof(s->store_error), "%s", text);
	snprintf(s->store_cause, sizeof(s->store_cause), "%s", text);
	s->store_rc = rc;
	store_txn_abort(s->txn);
	s->txn = NULL;
	s->batch_bytes = 0;
	outbox_flush(s, rc);
	/* Drives whose changes were in the lost batch are inconsistent with
	 * the store now: restart their workers; the queue has all the rest. */
	for (size_t i = 0; i < s->n_workers; i++)
		if (s->workers[i]->drive != NULL)
			sup_report_restart(s, s->workers[i], "store error");
	s->intake_paused = true;
	s->probe_at_ms = wire_mono_ms() + (rc == DBS_EMAPFULL ? 0 : 1000);
}

int
sup_commit(struct sup *s)
{
	struct store_txn *txn = s->txn;
	size_t changes;
	int64_t t0;
	int rc;

	if (txn == NULL) {
		outbox_flush(s, DBS_OK);
		return DBS_OK;
	}
	changes = store_txn_changes(txn);
	s->txn = NULL;
	s->batch_bytes = 0;
	if (changes == 0) {
		store_txn_abort(txn);
		outbox_flush(s, DBS_OK);
		return DBS_OK;
	}
	t0 = metrics_now_us();
	rc = store_txn_commit(txn);
	metrics_commit_observe(s, metrics_now_us() - t0);
	if (rc != DBS_OK) {
		s->txn = NULL;
		sup_store_failed(s, rc, "commit");
		return rc;
	}
	s->commits++;
	outbox_flush(s, DBS_OK);
	publish(s);
	return DBS_OK;
}
