/*
 * ctl_queue.c — databusctl verbs on the queue and on drive logs.
 *
 * Listings and details (queue ls/show, logs ls/show) read the store
 * directly inside one read transaction; changes (queue set/requeue/purge,
 * logs purge) are requests to databusd, the only writer. A record asked
 * for under the wrong client is "not found", exactly like a missing one,
 * as the web API does for another tenant's objects.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl_cmd.h"
#include "dbs_error.h"
#include "record_json.h"

/* What a listing callback needs: JSON items or table rows. */
struct list_ctx {
	json_t *items; /* --json */
	struct ctl_table table;
	uint64_t passenger_id; /* queue show: entries of this passenger */
	int bad;
	size_t n;
};

/* Finish a listing: {"items": [...], "next_cursor": N} or the table and
 * a "next cursor" line. */
static int
list_done(struct ctl *c, struct list_ctx *lc, uint64_t next, const char *none)
{
	json_t *doc;
	int rc = CTL_EXIT_OK;

	if (c->args->json) {
		doc = json_pack("{s:o, s:I}", "items", lc->items,
		    "next_cursor", (json_int_t)next);
		lc->items = NULL; /* transferred */
		if (lc->bad) {
			json_decref(doc);
			doc = NULL;
		}
		return ctl_print_json(doc);
	}
	if (lc->n == 0) {
		ctl_table_free(&lc->table);
		printf("%s\n", none);
	} else if (ctl_table_print(&lc->table, "") != 0) {
		rc = CTL_EXIT_FAIL;
	}
	if (next != 0)
		printf("next cursor: %llu\n", (unsigned long long)next);
	return rc;
}

/* ---------------------------------------------------------------- queue */

static const char *const queue_head[] = {"ID", "CLIENT", "DEFINITION", "STATE",
    "EXTERNAL ID", "CREATED", "ATTEMPTS", "LAST ERROR"};

static int
queue_row(void *ctx, const Dbs__Passenger *p)
{
	struct list_ctx *lc = ctx;
	char id[24], created[32], attempts[16];
	const char *row[8];

	lc->n++;
	if (lc->items != NULL) {
		lc->bad |= json_array_append_new(lc->items, rj_passenger(p));
		return 0;
	}
	snprintf(id, sizeof(id), "%llu", (unsigned long long)p->id);
	snprintf(attempts, sizeof(attempts), "%u", (unsigned)p->attempts);
	row[0] = id;
	row[1] = p->client;
	row[2] = p->definition;
	row[3] = rj_state_name(p->state);
	row[4] = p->external_id;
	row[5] = ctl_time_local(p->created_ms, created);
	row[6] = attempts;
	row[7] = p->last_error;
	ctl_table_add(&lc->table, row);
	return 0;
}

int
ctl_cmd_queue_ls(struct ctl *c)
{
	const struct ctl_args *a = c->args;
	struct store_query q = {0};
	struct list_ctx lc = {0};
	struct store_txn *txn;
	uint64_t next = 0;
	int rc;

	q.client = a->client;
	q.definition = a->passenger;
	q.state = a->state;
	q.q = a->q;
	q.cursor = a->cursor;
	q.limit = a->limit;
	q.newest_first = !a->oldest;

	if ((rc = ctl_store_begin(c, &txn)) != CTL_EXIT_OK)
		return rc;
	if (a->json)
		lc.items = json_array();
	else
		ctl_table_init(&lc.table, 8, queue_head);
	rc = store_queue_list(txn, &q, queue_row, &lc, &next);
	store_txn_abort(txn);
	if (rc != DBS_OK) {
		json_decref(lc.items);
		ctl_table_free(&lc.table);
		return ctl_store_fail(c, "queue ls", rc);
	}
	return list_done(c, &lc, next, "no passengers");
}

static int
collect_log(void *ctx, const Dbs__Log *log)
{
	struct list_ctx *lc = ctx;
	char when[32], *text;
	const char *row[4];
	size_t i, shown = 0;

	lc->n++;
	if (lc->items != NULL) {
		lc->bad |= json_array_append_new(lc->items, rj_log(log, true));
		return 0;
	}
	/* Human form: the log in one line, then its entries about this
	 * passenger (the others concern other passengers of the drive). */
	text = ctl_clean(log->outcome, 0);
	printf("  log %llu  %s  %s  %s\n", (unsigned long long)log->id,
	    ctl_time_local(log->started_ms, when),
	    rj_log_level_name(log->level), text != NULL ? text : "?");
	free(text);
	ctl_table_init(&lc->table, 4, NULL);
	for (i = 0; i < log->n_entries; i++) {
		const Dbs__LogEntry *e = log->entries[i];

		if (e->passenger_id != lc->passenger_id)
			continue;
		row[0] = ctl_time_local(e->time_ms, when);
		row[1] = rj_log_level_name(e->level);
		row[2] = e->step[0] != '\0' ? e->step : "-";
		row[3] = e->message;
		ctl_table_add(&lc->table, row);
		shown++;
	}
	if (shown > 0)
		(void)ctl_table_print(&lc->table, "    ");
	else
		ctl_table_free(&lc->table);
	return 0;
}

static void
print_passenger(const Dbs__Passenger *p)
{
	static const char *const step_head[] = {
	    "STEP", "KIND", "STATE", "ATTEMPTS", "UPDATED", "ERROR"};
	static const char *const att_head[] = {"NAME", "SIZE", "CONTENT TYPE"};
	struct ctl_table t;
	char buf[32], n[16], id[24], size[32];
	const char *row[6];
	size_t i;

	snprintf(id, sizeof(id), "%llu", (unsigned long long)p->id);
	ctl_field("passenger:", id);
	ctl_field("client:", p->client);
	ctl_field("definition:", p->definition);
	ctl_field("puller:", p->puller);
	ctl_field("external id:", p->external_id);
	ctl_field("state:", rj_state_name(p->state));
	ctl_field("created:", ctl_time_local(p->created_ms, buf));
	ctl_field("updated:", ctl_time_local(p->updated_ms, buf));
	ctl_field(
	    "next attempt:", p->state == DBS__PASSENGER_STATE__PS_PENDING
				 ? ctl_time_local(p->next_attempt_ms, buf)
				 : "-");
	ctl_field("done:", ctl_time_local(p->done_ms, buf));
	snprintf(n, sizeof(n), "%u", (unsigned)p->attempts);
	ctl_field("attempts:", n);
	ctl_field(
	    "last error:", p->last_error[0] != '\0' ? p->last_error : "-");

	printf("steps:\n");
	ctl_table_init(&t, 6, step_head);
	for (i = 0; i < p->n_steps; i++) {
		const Dbs__Step *s = p->steps[i];

		snprintf(n, sizeof(n), "%u", (unsigned)s->attempts);
		row[0] = s->name;
		row[1] = rj_step_kind_name(s->kind);
		row[2] = rj_step_state_name(s->state);
		row[3] = n;
		row[4] = ctl_time_local(s->updated_ms, buf);
		row[5] = s->error;
		ctl_table_add(&t, row);
	}
	(void)ctl_table_print(&t, "  ");

	if (p->n_attachments > 0) {
		printf("attachments:\n");
		ctl_table_init(&t, 3, att_head);
		for (i = 0; i < p->n_attachments; i++) {
			row[0] = p->attachments[i]->name;
			row[1] = ctl_size(p->attachments[i]->size, size);
			row[2] = p->attachments[i]->content_type;
			ctl_table_add(&t, row);
		}
		(void)ctl_table_print(&t, "  ");
	}
	if (p->n_metadata > 0) {
		printf("metadata:\n");
		for (i = 0; i < p->n_metadata; i++) {
			char *k = ctl_clean(p->metadata[i]->key, 0);
			char *v = ctl_clean(p->metadata[i]->value, 200);

			printf("  %s: %s\n", k ? k : "?", v ? v : "?");
			free(k);
			free(v);
		}
	}
}

int
ctl_cmd_queue_show(struct ctl *c)
{
	const struct ctl_args *a = c->args;
	struct list_ctx lc = {0};
	struct store_txn *txn;
	Dbs__Passenger *p = NULL;
	json_t *doc;
	int rc;

	if ((rc = ctl_store_begin(c, &txn)) != CTL_EXIT_OK)
		return rc;
	rc = store_passenger_get(txn, a->id, &p);
	if (rc == DBS_OK && strcmp(p->client, a->client_arg) != 0)
		rc = DBS_ENOTFOUND;
	if (rc != DBS_OK) {
		store_txn_abort(txn);
		if (p != NULL)
			dbs__passenger__free_unpacked(p, NULL);
		if (rc == DBS_ENOTFOUND) {
			ctl_err("queue show: passenger %llu of client %s not "
				"found",
			    (unsigned long long)a->id, a->client_arg);
			return CTL_EXIT_FAIL;
		}
		return ctl_store_fail(c, "queue show", rc);
	}

	lc.passenger_id = p->id;
	if (a->json) {
		lc.items = json_array();
	} else {
		print_passenger(p);
		printf("logs:\n");
	}
	rc = store_log_list_for_passenger(
	    txn, p->client, p->id, collect_log, &lc);
	store_txn_abort(txn);
	if (rc != DBS_OK) {
		dbs__passenger__free_unpacked(p, NULL);
		json_decref(lc.items);
		return ctl_store_fail(c, "queue show: logs", rc);
	}
	if (a->json) {
		/* The passenger's own fields, plus its logs. */
		doc = rj_passenger(p);
		if (json_object_set_new(doc, "logs", lc.items) != 0 ||
		    lc.bad) {
			json_decref(doc);
			doc = NULL;
		}
		rc = ctl_print_json(doc);
	} else if (lc.n == 0) {
		printf("  none\n");
	}
	dbs__passenger__free_unpacked(p, NULL);
	return rc;
}

int
ctl_cmd_queue_set(struct ctl *c)
{
	const struct ctl_args *a = c->args;
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__SetStep set = DBS__SET_STEP__INIT;
	Dbs__ControlReply *r;
	int rc;

	set.client = (char *)a->client_arg;
	set.id = a->id;
	if (a->verb == CTL_QUEUE_REQUEUE) {
		set.step = "*";
		set.requeue = true;
	} else {
		set.step = (char *)a->step;
		set.complete = a->complete;
	}
	req.verb_case = DBS__CONTROL_REQUEST__VERB_SET_STEP;
	req.set_step = &set;
	if ((rc = ctl_request(c, &req, &r)) != CTL_EXIT_OK)
		return rc;
	return ctl_reply_done(c, r, NULL);
}

int
ctl_cmd_purge(struct ctl *c)
{
	const struct ctl_args *a = c->args;
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__Purge purge = DBS__PURGE__INIT;
	Dbs__ControlReply *r;
	bool logs = a->verb == CTL_LOGS_PURGE;
	char human[64];
	int rc;

	purge.client = (char *)(a->client != NULL ? a->client : "");
	purge.definition = (char *)(a->passenger != NULL ? a->passenger : "");
	purge.older_than_ms = a->older_than_ms;
	if (logs) {
		req.verb_case = DBS__CONTROL_REQUEST__VERB_LOGS_PURGE;
		req.logs_purge = &purge;
	} else {
		req.verb_case = DBS__CONTROL_REQUEST__VERB_QUEUE_PURGE;
		req.queue_purge = &purge;
	}
	if ((rc = ctl_request(c, &req, &r)) != CTL_EXIT_OK)
		return rc;
	snprintf(human, sizeof(human), "purged %llu %s%s",
	    (unsigned long long)r->count, logs ? "log" : "passenger",
	    r->count == 1 ? "" : "s");
	return ctl_reply_done(c, r, human);
}

/* ----------------------------------------------------------------- logs */

static const char *const logs_head[] = {"ID", "CLIENT", "DEFINITION",
    "STARTED", "DURATION", "LEVEL", "PULLED", "SEATED", "COMPLETED", "FAILED",
    "DEAD", "OUTCOME"};

static int
log_row(void *ctx, const Dbs__Log *log)
{
	struct list_ctx *lc = ctx;
	char id[24], started[32], dur[32], n[5][16];
	const char *row[12];

	lc->n++;
	if (lc->items != NULL) {
		lc->bad |=
		    json_array_append_new(lc->items, rj_log(log, false));
		return 0;
	}
	snprintf(id, sizeof(id), "%llu", (unsigned long long)log->id);
	if (log->finished_ms != 0 && log->started_ms != 0)
		ctl_format_duration(
		    log->finished_ms - log->started_ms, dur, sizeof(dur));
	else
		strcpy(dur, "-");
	snprintf(n[0], sizeof(n[0]), "%u", (unsigned)log->pulled);
	snprintf(n[1], sizeof(n[1]), "%u", (unsigned)log->seated);
	snprintf(n[2], sizeof(n[2]), "%u", (unsigned)log->completed);
	snprintf(n[3], sizeof(n[3]), "%u", (unsigned)log->failed);
	snprintf(n[4], sizeof(n[4]), "%u", (unsigned)log->dead);
	row[0] = id;
	row[1] = log->client;
	row[2] = log->definition[0] != '\0' ? log->definition : "-";
	row[3] = ctl_time_local(log->started_ms, started);
	row[4] = dur;
	row[5] = rj_log_level_name(log->level);
	row[6] = n[0];
	row[7] = n[1];
	row[8] = n[2];
	row[9] = n[3];
	row[10] = n[4];
	row[11] = log->outcome;
	ctl_table_add(&lc->table, row);
	return 0;
}

int
ctl_cmd_logs_ls(struct ctl *c)
{
	const struct ctl_args *a = c->args;
	struct list_ctx lc = {0};
	struct store_txn *txn;
	uint64_t next = 0;
	int rc;

	if ((rc = ctl_store_begin(c, &txn)) != CTL_EXIT_OK)
		return rc;
	if (a->json)
		lc.items = json_array();
	else
		ctl_table_init(&lc.table, 12, logs_head);
	rc = store_log_list(
	    txn, a->client, a->cursor, a->limit, log_row, &lc, &next);
	store_txn_abort(txn);
	if (rc != DBS_OK) {
		json_decref(lc.items);
		ctl_table_free(&lc.table);
		return ctl_store_fail(c, "logs ls", rc);
	}
	return list_done(c, &lc, next, "no logs");
}

static void
print_log(const Dbs__Log *log)
{
	static const char *const head[] = {
	    "TIME", "LEVEL", "STEP", "PASSENGER", "MESSAGE"};
	struct ctl_table t;
	char buf[32], id[24], pid[24];
	const char *row[5];
	size_t i;

	snprintf(id, sizeof(id), "%llu", (unsigned long long)log->id);
	ctl_field("log:", id);
	ctl_field("client:", log->client);
	ctl_field(
	    "definition:", log->definition[0] != '\0' ? log->definition : "-");
	snprintf(id, sizeof(id), "%llu", (unsigned long long)log->drive_id);
	ctl_field("drive:", log->drive_id != 0 ? id : "-");
	ctl_field("started:", ctl_time_local(log->started_ms, buf));
	ctl_field("finished:", ctl_time_local(log->finished_ms, buf));
	ctl_field("level:", rj_log_level_name(log->level));
	ctl_field("outcome:", log->outcome[0] != '\0' ? log->outcome : "-");
	printf("%-14s pulled %u, seated %u, completed %u, failed %u, dead "
	       "%u\n",
	    "counts:", (unsigned)log->pulled, (unsigned)log->seated,
	    (unsigned)log->completed, (unsigned)log->failed,
	    (unsigned)log->dead);
	if (log->n_entries == 0) {
		printf("no entries\n");
		return;
	}
	printf("entries:\n");
	ctl_table_init(&t, 5, head);
	for (i = 0; i < log->n_entries; i++) {
		const Dbs__LogEntry *e = log->entries[i];

		snprintf(pid, sizeof(pid), "%llu",
		    (unsigned long long)e->passenger_id);
		row[0] = ctl_time_local(e->time_ms, buf);
		row[1] = rj_log_level_name(e->level);
		row[2] = e->step[0] != '\0' ? e->step : "-";
		row[3] = e->passenger_id != 0 ? pid : "-";
		row[4] = e->message;
		ctl_table_add(&t, row);
	}
	(void)ctl_table_print(&t, "  ");
	if (log->dropped_entries > 0)
		printf("  (%u more entries were dropped)\n",
		    (unsigned)log->dropped_entries);
}

int
ctl_cmd_logs_show(struct ctl *c)
{
	const struct ctl_args *a = c->args;
	struct store_txn *txn;
	Dbs__Log *log = NULL;
	int rc;

	if ((rc = ctl_store_begin(c, &txn)) != CTL_EXIT_OK)
		return rc;
	rc = store_log_get(txn, a->id, &log);
	store_txn_abort(txn);
	if (rc == DBS_OK && strcmp(log->client, a->client_arg) != 0)
		rc = DBS_ENOTFOUND;
	if (rc != DBS_OK) {
		if (log != NULL)
			dbs__log__free_unpacked(log, NULL);
		if (rc == DBS_ENOTFOUND) {
			ctl_err("logs show: log %llu of client %s not found",
			    (unsigned long long)a->id, a->client_arg);
			return CTL_EXIT_FAIL;
		}
		return ctl_store_fail(c, "logs show", rc);
	}
	if (a->json)
		rc = ctl_print_json(rj_log(log, true));
	else
		print_log(log);
	dbs__log__free_unpacked(log, NULL);
	return rc;
}
