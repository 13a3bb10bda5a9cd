/*
 * ctl_system.c — databusctl verbs about the system as a whole: status,
 * workers, pause, resume, shutdown, reload, expedite, peek (all over the
 * control socket) and verify (read-only, on the store).
 */
#include <stdlib.h>
#include <string.h>

#include "ctl_cmd.h"
#include "dbs_error.h"
#include "record_json.h"
#include "wire.h"

/* Ask databusd for its status; CTL_EXIT_OK with *out (and (*out)->status
 * set) or CTL_EXIT_FAIL. */
static int
get_status(struct ctl *c, Dbs__ControlReply **out)
{
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__Empty empty = DBS__EMPTY__INIT;
	int rc;

	req.verb_case = DBS__CONTROL_REQUEST__VERB_STATUS;
	req.status = &empty;
	if ((rc = ctl_request(c, &req, out)) != CTL_EXIT_OK)
		return rc;
	if ((*out)->status == NULL) {
		ctl_err("databusd sent a status reply without a status");
		dbs__control_reply__free_unpacked(*out, NULL);
		*out = NULL;
		return CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}

static void
print_system(const Dbs__SystemState *s)
{
	char up[32], *alias, *dir, *err;
	const char *state;

	if (s == NULL) {
		printf("system: no state reported\n");
		return;
	}
	if (s->started_ms != 0)
		ctl_format_duration(
		    wire_now_ms() - s->started_ms, up, sizeof(up));
	else
		strcpy(up, "-");
	state = s->shutting_down ? "shutting down"
		: s->paused      ? "paused"
				 : "running";
	alias =
	    ctl_clean(s->system_alias[0] != '\0' ? s->system_alias : "-", 0);
	dir = ctl_clean(s->data_dir, 0);
	printf("system %s  version %s  pid %d  up %s  %s", alias ? alias : "?",
	    s->version[0] != '\0' ? s->version : "-", (int)s->pid, up, state);
	if (s->intake_paused) {
		err = ctl_clean(s->store_error, 0);
		printf("  intake paused%s%s", err && err[0] ? ": " : "",
		    err ? err : "");
		free(err);
	}
	printf("  data %s\n", dir ? dir : "?");
	free(alias);
	free(dir);
}

static void
print_store(const Dbs__StoreStats *st)
{
	char used[32], map[32];

	if (st == NULL)
		return;
	printf("store: %llu passengers, %llu attachments, %llu logs, %llu "
	       "users, %llu sessions, %llu events (last seq %llu), %s of %s "
	       "used, schema %u\n",
	    (unsigned long long)st->passengers,
	    (unsigned long long)st->attachments, (unsigned long long)st->logs,
	    (unsigned long long)st->users, (unsigned long long)st->sessions,
	    (unsigned long long)st->events, (unsigned long long)st->last_seq,
	    ctl_size(st->used_bytes, used), ctl_size(st->map_size, map),
	    (unsigned)st->schema_version);
}

/* One line per client that has a quota: its usage, and the quota that
 * pauses its intake, if any. */
static void
print_quotas(const Dbs__StatusReply *s)
{
	for (size_t i = 0; i < s->n_quotas; i++) {
		const Dbs__ClientQuota *q = s->quotas[i];
		char used[32], limit[32];

		if (q->store_quota == 0 && q->max_pending == 0 &&
		    q->webhook_rate <= 0 && q->max_concurrent_drives == 0 &&
		    q->cgroup[0] == '\0')
			continue;
		printf("quota %s:", q->client);
		if (q->store_quota != 0)
			printf(" store %s of %s,",
			    ctl_size(q->store_bytes, used),
			    ctl_size(q->store_quota, limit));
		if (q->max_pending != 0)
			printf(" pending %llu of %llu,",
			    (unsigned long long)q->pending,
			    (unsigned long long)q->max_pending);
		if (q->webhook_rate > 0)
			printf(" webhooks %g/s (burst %u),", q->webhook_rate,
			    (unsigned)q->webhook_burst);
		if (q->max_concurrent_drives != 0)
			printf(" drives %u of %u,", (unsigned)q->drives,
			    (unsigned)q->max_concurrent_drives);
		printf(
		    " %llu refused", (unsigned long long)q->webhook_refused);
		if (q->cgroup[0] != '\0')
			printf(", cgroup %s", q->cgroup);
		if (q->hit[0] != '\0')
			printf("  INTAKE PAUSED: over %s", q->hit);
		printf("\n");
	}
}

int
ctl_cmd_status(struct ctl *c)
{
	static const char *const head[] = {"CLIENT", "DEFINITION", "WORKER",
	    "PID", "RESTARTS", "LAST RUN", "NEXT RUN", "PENDING", "DONE",
	    "DEAD", "LAST OUTCOME"};
	Dbs__ControlReply *r;
	Dbs__StatusReply *s;
	struct ctl_table t;
	char pid[16], restarts[16], last[32], next[32], p[24], d[24], x[24];
	size_t i;
	int rc;

	if ((rc = get_status(c, &r)) != CTL_EXIT_OK)
		return rc;
	s = r->status;
	if (c->args->json) {
		rc = ctl_print_json(rj_status_reply(s));
		dbs__control_reply__free_unpacked(r, NULL);
		return rc;
	}
	print_system(s->system);
	if (s->n_definitions == 0) {
		printf("no passenger definitions\n");
	} else {
		ctl_table_init(&t, 11, head);
		for (i = 0; i < s->n_definitions; i++) {
			const Dbs__DefinitionInfo *di = s->definitions[i];
			const Dbs__WorkerInfo *w = di->worker;
			const char *row[11];

			snprintf(pid, sizeof(pid), "%d", w ? (int)w->pid : 0);
			snprintf(restarts, sizeof(restarts), "%u",
			    w ? (unsigned)w->restarts : 0);
			snprintf(p, sizeof(p), "%llu",
			    (unsigned long long)di->pending);
			snprintf(d, sizeof(d), "%llu",
			    (unsigned long long)di->done);
			snprintf(x, sizeof(x), "%llu",
			    (unsigned long long)di->dead);
			row[0] = di->client;
			row[1] = di->name;
			row[2] = w ? rj_worker_state_name(w->state) : "-";
			row[3] = w && w->pid > 0 ? pid : "-";
			row[4] = w ? restarts : "-";
			row[5] = ctl_time_local(di->last_run_ms, last);
			row[6] = ctl_time_local(di->next_run_ms, next);
			row[7] = p;
			row[8] = d;
			row[9] = x;
			row[10] = di->last_outcome;
			ctl_table_add(&t, row);
		}
		if (ctl_table_print(&t, "") != 0)
			rc = CTL_EXIT_FAIL;
	}
	print_store(s->store);
	print_quotas(s);
	dbs__control_reply__free_unpacked(r, NULL);
	return rc;
}

int
ctl_cmd_workers(struct ctl *c)
{
	static const char *const head[] = {"CLIENT", "DEFINITION", "SLOT",
	    "PID", "STATE", "RESTARTS", "RSS", "LAST EXIT", "ERROR"};
	Dbs__ControlReply *r;
	Dbs__StatusReply *s;
	struct ctl_table t;
	json_t *doc, *a;
	char slot[16], pid[16], restarts[16], rss[32];
	size_t i;
	int rc, bad = 0;

	if ((rc = get_status(c, &r)) != CTL_EXIT_OK)
		return rc;
	s = r->status;
	if (c->args->json) {
		a = json_array();
		for (i = 0; i < s->n_definitions; i++)
			if (s->definitions[i]->worker != NULL)
				bad |= json_array_append_new(a,
				    rj_worker_info(s->definitions[i]->worker));
		doc = json_pack("{s:o}", "items", a);
		dbs__control_reply__free_unpacked(r, NULL);
		if (bad) {
			json_decref(doc);
			doc = NULL;
		}
		return ctl_print_json(doc);
	}
	ctl_table_init(&t, 9, head);
	for (i = 0; i < s->n_definitions; i++) {
		const Dbs__DefinitionInfo *di = s->definitions[i];
		const Dbs__WorkerInfo *w = di->worker;
		const char *row[9];

		if (w == NULL) {
			const char *none[9] = {di->client, di->name, "-", "-",
			    "-", "-", "-", "-", "no worker"};
			ctl_table_add(&t, none);
			continue;
		}
		snprintf(slot, sizeof(slot), "%u", (unsigned)w->slot);
		snprintf(pid, sizeof(pid), "%d", (int)w->pid);
		snprintf(
		    restarts, sizeof(restarts), "%u", (unsigned)w->restarts);
		row[0] = w->client[0] != '\0' ? w->client : di->client;
		row[1] = w->definition[0] != '\0' ? w->definition : di->name;
		row[2] = slot;
		row[3] = w->pid > 0 ? pid : "-";
		row[4] = rj_worker_state_name(w->state);
		row[5] = restarts;
		row[6] =
		    w->rss_kib > 0 ? ctl_size(w->rss_kib * 1024, rss) : "-";
		row[7] = w->last_exit[0] != '\0' ? w->last_exit : "-";
		row[8] = w->error;
		ctl_table_add(&t, row);
	}
	if (ctl_table_print(&t, "") != 0)
		rc = CTL_EXIT_FAIL;
	dbs__control_reply__free_unpacked(r, NULL);
	return rc;
}

int
ctl_cmd_simple(struct ctl *c)
{
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__Empty empty = DBS__EMPTY__INIT;
	Dbs__ControlReply *r;
	int rc;

	switch (c->args->verb) {
	case CTL_PAUSE:
		req.verb_case = DBS__CONTROL_REQUEST__VERB_PAUSE;
		req.pause = &empty;
		break;
	case CTL_RESUME:
		req.verb_case = DBS__CONTROL_REQUEST__VERB_RESUME;
		req.resume = &empty;
		break;
	case CTL_SHUTDOWN:
		req.verb_case = DBS__CONTROL_REQUEST__VERB_SHUTDOWN;
		req.shutdown = &empty;
		break;
	default:
		req.verb_case = DBS__CONTROL_REQUEST__VERB_RELOAD;
		req.reload = &empty;
		break;
	}
	if ((rc = ctl_request(c, &req, &r)) != CTL_EXIT_OK)
		return rc;
	return ctl_reply_done(c, r, NULL);
}

int
ctl_cmd_expedite(struct ctl *c)
{
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__DefRef ref = DBS__DEF_REF__INIT;
	Dbs__ControlReply *r;
	int rc;

	ref.client = (char *)c->args->client_arg;
	ref.definition = (char *)c->args->definition;
	req.verb_case = DBS__CONTROL_REQUEST__VERB_EXPEDITE;
	req.expedite = &ref;
	if ((rc = ctl_request(c, &req, &r)) != CTL_EXIT_OK)
		return rc;
	return ctl_reply_done(c, r, NULL);
}

static void
print_pulled_item(const Dbs__PulledItem *it)
{
	char when[32], size[32], *puller, *ext, *k, *v, *n, *ct;
	size_t i;

	puller = ctl_clean(it->puller, 0);
	ext = ctl_clean(it->external_id, 0);
	printf("%s  %s", puller ? puller : "?", ext ? ext : "?");
	if (it->pulled_us != 0)
		printf(
		    "  pulled %s", ctl_time_local(it->pulled_us / 1000, when));
	printf("\n");
	free(puller);
	free(ext);
	for (i = 0; i < it->n_metadata; i++) {
		k = ctl_clean(it->metadata[i]->key, 0);
		v = ctl_clean(it->metadata[i]->value, 200);
		printf("  %s: %s\n", k ? k : "?", v ? v : "?");
		free(k);
		free(v);
	}
	for (i = 0; i < it->n_attachments; i++) {
		n = ctl_clean(it->attachments[i]->name, 0);
		ct = ctl_clean(it->attachments[i]->content_type, 0);
		printf("  attachment %s (%s preview%s%s)\n", n ? n : "?",
		    ctl_size(it->attachments[i]->data.len, size),
		    ct && ct[0] ? ", " : "", ct ? ct : "");
		free(n);
		free(ct);
	}
}

int
ctl_cmd_peek(struct ctl *c)
{
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__DefRef ref = DBS__DEF_REF__INIT;
	Dbs__ControlReply *r;
	Dbs__PeekResult *pr;
	Dbs__PeekResult none = DBS__PEEK_RESULT__INIT;
	size_t i;
	int rc;

	ref.client = (char *)c->args->client_arg;
	ref.definition = (char *)c->args->definition;
	req.verb_case = DBS__CONTROL_REQUEST__VERB_PEEK;
	req.peek = &ref;
	if ((rc = ctl_request(c, &req, &r)) != CTL_EXIT_OK)
		return rc;
	pr = r->peek != NULL ? r->peek : &none;
	if (pr->code != DBS_OK) {
		ctl_err("peek: %s", pr->message[0] != '\0'
					? pr->message
					: dbs_strerror(pr->code));
		dbs__control_reply__free_unpacked(r, NULL);
		return CTL_EXIT_FAIL;
	}
	if (c->args->json) {
		rc = ctl_print_json(rj_peek_result(pr));
	} else if (pr->n_items == 0) {
		printf("nothing waits in the sources\n");
	} else {
		printf("%zu item%s waiting:\n", pr->n_items,
		    pr->n_items == 1 ? "" : "s");
		for (i = 0; i < pr->n_items; i++)
			print_pulled_item(pr->items[i]);
	}
	dbs__control_reply__free_unpacked(r, NULL);
	return rc;
}

struct verify_ctx {
	json_t *problems; /* --json: collected; else NULL and printed */
	int bad;
};

static void
verify_report(void *ctx, const char *problem)
{
	struct verify_ctx *v = ctx;
	char *text;

	if (v->problems != NULL) {
		v->bad |=
		    json_array_append_new(v->problems, rj_string(problem));
		return;
	}
	text = ctl_clean(problem, 0);
	printf("%s\n", text != NULL ? text : "?");
	free(text);
}

int
ctl_cmd_verify(struct ctl *c)
{
	struct verify_ctx v = {NULL, 0};
	struct store_txn *txn;
	uint64_t problems = 0;
	int rc;

	if ((rc = ctl_store_begin(c, &txn)) != CTL_EXIT_OK)
		return rc;
	if (c->args->json && (v.problems = json_array()) == NULL) {
		store_txn_abort(txn);
		ctl_err("out of memory");
		return CTL_EXIT_FAIL;
	}
	rc = store_verify(txn, verify_report, &v, &problems);
	store_txn_abort(txn);
	if (rc != DBS_OK) {
		json_decref(v.problems);
		return ctl_store_fail(c, "verify", rc);
	}
	if (c->args->json) {
		json_t *doc = json_pack("{s:o, s:I}", "problems", v.problems,
		    "count", (json_int_t)problems);
		if (v.bad) {
			json_decref(doc);
			doc = NULL;
		}
		if (ctl_print_json(doc) != CTL_EXIT_OK)
			return CTL_EXIT_FAIL;
	} else {
		printf(
		    "verify: %llu problems\n", (unsigned long long)problems);
	}
	return problems == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}
