/*
 * record_json.c — JSON builders for Databus records (see record_json.h).
 *
 * Each builder creates its object and adds every field through set(), which
 * reports a failed insertion (out of memory, or a NULL value from a nested
 * builder); the builder counts failures and returns NULL if there was any,
 * so callers check one pointer instead of every field.
 */
#include "record_json.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "utf8.h"

/* ------------------------------------------------------------- helpers */

static int
set(json_t *o, const char *key, json_t *v)
{
	/* json_object_set_new fails on a NULL object or value, and always
	 * takes (and on failure drops) the reference to v. */
	return json_object_set_new(o, key, v) != 0;
}

static int
append(json_t *a, json_t *v)
{
	return json_array_append_new(a, v) != 0;
}

static json_t *
finish(json_t *o, int bad)
{
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *
u64(uint64_t v)
{
	return json_integer(v > LLONG_MAX ? LLONG_MAX : (json_int_t)v);
}

static json_t *
i64(int64_t v)
{
	return json_integer((json_int_t)v);
}

/* Set o[key] = v where key may be any bytes (metadata keys come from
 * drivers). */
static int
set_anykey(json_t *o, const char *key, json_t *v)
{
	char *clean;
	int bad;

	if (dbs_utf8_valid(key, strlen(key)))
		return set(o, key, v);
	if ((clean = dbs_utf8_repair(key)) == NULL) {
		json_decref(v);
		return 1;
	}
	bad = set(o, clean, v);
	free(clean);
	return bad;
}

json_t *
rj_string(const char *s)
{
	char *clean;
	json_t *v;

	if (s == NULL)
		s = "";
	if (dbs_utf8_valid(s, strlen(s)))
		return json_string(s);
	if ((clean = dbs_utf8_repair(s)) == NULL)
		return NULL;
	v = json_string(clean);
	free(clean);
	return v;
}

const char *
rj_time_iso(int64_t ms, char buf[RJ_TIME_LEN])
{
	/* Floor division, so that times before 1970 still count forward. */
	int64_t sec = ms / 1000, frac = ms % 1000;
	time_t t;
	struct tm tm;

	if (frac < 0) {
		frac += 1000;
		sec--;
	}
	t = (time_t)sec;
	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 ||
	    tm.tm_year > 9999 - 1900) {
		buf[0] = '\0';
		return buf;
	}
	snprintf(buf, RJ_TIME_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100,
	    tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
	    tm.tm_sec % 100, (int)frac);
	return buf;
}

json_t *
rj_time(int64_t ms)
{
	char buf[RJ_TIME_LEN];

	if (ms == 0 || rj_time_iso(ms, buf)[0] == '\0')
		return json_null();
	return json_string(buf);
}

/* ---------------------------------------------------------- enum names */

static const char *const state_names[] = {
    [DBS__PASSENGER_STATE__PS_PENDING] = "pending",
    [DBS__PASSENGER_STATE__PS_DONE] = "done",
    [DBS__PASSENGER_STATE__PS_DEAD] = "dead",
};

static const char *const role_names[] = {
    [DBS__ROLE__ROLE_OPERATOR] = "operator",
    [DBS__ROLE__ROLE_ADMINISTRATOR] = "administrator",
    [DBS__ROLE__ROLE_ROOT] = "root",
};

static const char *const step_state_names[] = {
    [DBS__STEP_STATE__STEP_INCOMPLETE] = "incomplete",
    [DBS__STEP_STATE__STEP_COMPLETE] = "complete",
    [DBS__STEP_STATE__STEP_FAILED] = "failed",
    [DBS__STEP_STATE__STEP_SKIPPED] = "skipped",
};

static const char *const step_kind_names[] = {
    [DBS__STEP_KIND__SK_NOTIFY] = "notify",
    [DBS__STEP_KIND__SK_PROCESSOR] = "processor",
    [DBS__STEP_KIND__SK_PUSHER] = "pusher",
};

static const char *const log_level_names[] = {
    [DBS__LOG_LEVEL__LOG_DEBUG] = "debug",
    [DBS__LOG_LEVEL__LOG_INFO] = "info",
    [DBS__LOG_LEVEL__LOG_WARNING] = "warning",
    [DBS__LOG_LEVEL__LOG_ERROR] = "error",
};

static const char *const worker_state_names[] = {
    [DBS__WORKER_STATE__WS_STARTING] = "starting",
    [DBS__WORKER_STATE__WS_READY] = "ready",
    [DBS__WORKER_STATE__WS_BUSY] = "busy",
    [DBS__WORKER_STATE__WS_BACKOFF] = "backoff",
    [DBS__WORKER_STATE__WS_FAILED] = "failed",
    [DBS__WORKER_STATE__WS_STOPPING] = "stopping",
    [DBS__WORKER_STATE__WS_STOPPED] = "stopped",
};

static const char *const resource_names[] = {
    [DBS__RESOURCE__RES_DEFINITION] = "definition",
    [DBS__RESOURCE__RES_QUEUE_ITEM] = "queue_item",
    [DBS__RESOURCE__RES_LOG] = "log",
    [DBS__RESOURCE__RES_WORKER] = "worker",
    [DBS__RESOURCE__RES_SYSTEM] = "system",
    [DBS__RESOURCE__RES_EXPORT] = "export",
    [DBS__RESOURCE__RES_USER] = "user",
};

static const char *const event_kind_names[] = {
    [DBS__EVENT_KIND__EV_CREATE] = "create",
    [DBS__EVENT_KIND__EV_UPDATE] = "update",
    [DBS__EVENT_KIND__EV_DELETE] = "delete",
    [DBS__EVENT_KIND__EV_CREATE_LIST] = "create_list",
    [DBS__EVENT_KIND__EV_UPDATE_LIST] = "update_list",
    [DBS__EVENT_KIND__EV_DELETE_LIST] = "delete_list",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *
name_of(const char *const *names, size_t n, int v)
{
	if (v < 0 || (size_t)v >= n || names[v] == NULL)
		return "unknown";
	return names[v];
}

static int
parse_name(const char *const *names, size_t n, const char *s)
{
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (names[i] != NULL && strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

const char *
rj_state_name(int state)
{
	return name_of(state_names, NELEM(state_names), state);
}

int
rj_state_parse(const char *name)
{
	return parse_name(state_names, NELEM(state_names), name);
}

const char *
rj_role_name(int role)
{
	return name_of(role_names, NELEM(role_names), role);
}

int
rj_role_parse(const char *name)
{
	return parse_name(role_names, NELEM(role_names), name);
}

const char *
rj_step_state_name(int st)
{
	return name_of(step_state_names, NELEM(step_state_names), st);
}

int
rj_step_state_parse(const char *name)
{
	return parse_name(step_state_names, NELEM(step_state_names), name);
}

const char *
rj_step_kind_name(int kind)
{
	return name_of(step_kind_names, NELEM(step_kind_names), kind);
}

const char *
rj_log_level_name(int level)
{
	return name_of(log_level_names, NELEM(log_level_names), level);
}

const char *
rj_worker_state_name(int ws)
{
	return name_of(worker_state_names, NELEM(worker_state_names), ws);
}

const char *
rj_resource_name(int res)
{
	return name_of(resource_names, NELEM(resource_names), res);
}

const char *
rj_event_kind_name(int kind)
{
	return name_of(event_kind_names, NELEM(event_kind_names), kind);
}

/* ------------------------------------------------------------- records */

static json_t *
string_array(char *const *v, size_t n)
{
	json_t *a = json_array();
	int bad = 0;
	size_t i;

	for (i = 0; i < n; i++)
		bad |= append(a, rj_string(v[i]));
	return finish(a, bad);
}

static json_t *
metadata_object(Dbs__KeyValue *const *kv, size_t n)
{
	json_t *o = json_object();
	int bad = 0;
	size_t i;

	for (i = 0; i < n; i++)
		bad |= set_anykey(o, kv[i]->key, rj_string(kv[i]->value));
	return finish(o, bad);
}

json_t *
rj_step(const Dbs__Step *s)
{
	json_t *o;
	int bad = 0;

	if (s == NULL)
		return json_null();
	o = json_object();
	bad |= set(o, "name", rj_string(s->name));
	bad |= set(o, "kind", json_string(rj_step_kind_name(s->kind)));
	bad |= set(o, "state", json_string(rj_step_state_name(s->state)));
	bad |= set(o, "attempts", u64(s->attempts));
	bad |= set(o, "updated", rj_time(s->updated_ms));
	bad |= set(o, "error", rj_string(s->error));
	return finish(o, bad);
}

static json_t *
attachment_meta(const Dbs__AttachmentMeta *m)
{
	json_t *o = json_object();
	int bad = 0;

	bad |= set(o, "name", rj_string(m->name));
	bad |= set(o, "size", u64(m->size));
	bad |= set(o, "content_type", rj_string(m->content_type));
	return finish(o, bad);
}

json_t *
rj_passenger(const Dbs__Passenger *p)
{
	json_t *o, *steps, *atts;
	int bad = 0;
	size_t i;

	if (p == NULL)
		return json_null();
	o = json_object();
	bad |= set(o, "id", u64(p->id));
	bad |= set(o, "client", rj_string(p->client));
	bad |= set(o, "definition", rj_string(p->definition));
	bad |= set(o, "puller", rj_string(p->puller));
	bad |= set(o, "external_id", rj_string(p->external_id));
	bad |= set(o, "state", json_string(rj_state_name(p->state)));

	steps = json_array();
	for (i = 0; i < p->n_steps; i++)
		bad |= append(steps, rj_step(p->steps[i]));
	bad |= set(o, "steps", steps);

	atts = json_array();
	for (i = 0; i < p->n_attachments; i++)
		bad |= append(atts, attachment_meta(p->attachments[i]));
	bad |= set(o, "attachments", atts);

	bad |= set(o, "metadata", metadata_object(p->metadata, p->n_metadata));
	bad |= set(o, "created", rj_time(p->created_ms));
	bad |= set(o, "updated", rj_time(p->updated_ms));
	bad |= set(o, "next_attempt", rj_time(p->next_attempt_ms));
	bad |= set(o, "done", rj_time(p->done_ms));
	/* pulled_us is in microseconds (the worker's clock). */
	bad |= set(o, "pulled", rj_time(p->pulled_us / 1000));
	bad |= set(o, "attempts", u64(p->attempts));
	bad |= set(o, "last_drive", u64(p->last_drive));
	bad |= set(o, "last_error", rj_string(p->last_error));
	return finish(o, bad);
}

json_t *
rj_log_entry(const Dbs__LogEntry *e)
{
	json_t *o;
	int bad = 0;

	if (e == NULL)
		return json_null();
	o = json_object();
	bad |= set(o, "time", rj_time(e->time_ms));
	bad |= set(o, "level", json_string(rj_log_level_name(e->level)));
	bad |= set(o, "message", rj_string(e->message));
	bad |= set(o, "passenger_id", u64(e->passenger_id));
	bad |= set(o, "step", rj_string(e->step));
	return finish(o, bad);
}

json_t *
rj_log(const Dbs__Log *log, bool with_entries)
{
	json_t *o, *entries;
	int bad = 0;
	size_t i;

	if (log == NULL)
		return json_null();
	o = json_object();
	bad |= set(o, "id", u64(log->id));
	bad |= set(o, "client", rj_string(log->client));
	bad |= set(o, "definition", rj_string(log->definition));
	bad |= set(o, "drive_id", u64(log->drive_id));
	bad |= set(o, "started", rj_time(log->started_ms));
	bad |= set(o, "finished", rj_time(log->finished_ms));
	bad |= set(o, "level", json_string(rj_log_level_name(log->level)));
	bad |= set(o, "outcome", rj_string(log->outcome));
	bad |= set(o, "pulled", u64(log->pulled));
	bad |= set(o, "seated", u64(log->seated));
	bad |= set(o, "completed", u64(log->completed));
	bad |= set(o, "failed", u64(log->failed));
	bad |= set(o, "dead", u64(log->dead));
	bad |= set(o, "entry_count", u64(log->n_entries));
	bad |= set(o, "dropped_entries", u64(log->dropped_entries));
	if (with_entries) {
		entries = json_array();
		for (i = 0; i < log->n_entries; i++)
			bad |= append(entries, rj_log_entry(log->entries[i]));
		bad |= set(o, "entries", entries);
	}
	return finish(o, bad);
}

json_t *
rj_user(const Dbs__User *u)
{
	json_t *o;
	int bad = 0;

	if (u == NULL)
		return json_null();
	/* password_hash is deliberately absent: it never leaves the store. */
	o = json_object();
	bad |= set(o, "client", rj_string(u->client));
	bad |= set(o, "username", rj_string(u->username));
	bad |= set(o, "role", json_string(rj_role_name(u->role)));
	bad |= set(o, "created", rj_time(u->created_ms));
	bad |= set(o, "updated", rj_time(u->updated_ms));
	return finish(o, bad);
}

json_t *
rj_worker_info(const Dbs__WorkerInfo *w)
{
	json_t *o;
	int bad = 0;

	if (w == NULL)
		return json_null();
	o = json_object();
	bad |= set(o, "client", rj_string(w->client));
	bad |= set(o, "definition", rj_string(w->definition));
	bad |= set(o, "slot", u64(w->slot));
	bad |= set(o, "pid", json_integer(w->pid));
	bad |= set(o, "state", json_string(rj_worker_state_name(w->state)));
	bad |= set(o, "restarts", u64(w->restarts));
	bad |= set(o, "last_exit", rj_string(w->last_exit));
	bad |= set(o, "error", rj_string(w->error));
	bad |= set(o, "rss_kib", u64(w->rss_kib));
	bad |= set(o, "started", rj_time(w->started_ms));
	bad |= set(o, "backoff_until", rj_time(w->backoff_until_ms));
	return finish(o, bad);
}

json_t *
rj_definition_info(const Dbs__DefinitionInfo *d)
{
	json_t *o;
	int bad = 0;

	if (d == NULL)
		return json_null();
	o = json_object();
	bad |= set(o, "client", rj_string(d->client));
	bad |= set(o, "name", rj_string(d->name));
	bad |= set(o, "sync_period_ms", i64(d->sync_period_ms));
	bad |= set(o, "last_run", rj_time(d->last_run_ms));
	bad |= set(o, "next_run", rj_time(d->next_run_ms));
	bad |= set(o, "last_outcome", rj_string(d->last_outcome));
	bad |= set(o, "driving", json_boolean(d->driving));
	bad |= set(o, "worker", rj_worker_info(d->worker));
	bad |= set(o, "pending", u64(d->pending));
	bad |= set(o, "done", u64(d->done));
	bad |= set(o, "dead", u64(d->dead));
	bad |= set(o, "pullers", string_array(d->pullers, d->n_pullers));
	bad |=
	    set(o, "processors", string_array(d->processors, d->n_processors));
	bad |= set(o, "pushers", string_array(d->pushers, d->n_pushers));
	/* counters since databusd started */
	bad |= set(o, "drives", u64(d->drives));
	bad |= set(o, "drives_aborted", u64(d->drives_aborted));
	bad |= set(o, "failures", u64(d->step_failures));
	bad |= set(o, "went_dead", u64(d->went_dead));
	return finish(o, bad);
}

json_t *
rj_system_state(const Dbs__SystemState *s)
{
	json_t *o;
	int bad = 0;

	if (s == NULL)
		return json_null();
	o = json_object();
	bad |= set(o, "system_alias", rj_string(s->system_alias));
	bad |= set(o, "version", rj_string(s->version));
	bad |= set(o, "pid", json_integer(s->pid));
	bad |= set(o, "started", rj_time(s->started_ms));
	bad |= set(o, "paused", json_boolean(s->paused));
	bad |= set(o, "shutting_down", json_boolean(s->shutting_down));
	bad |= set(o, "intake_paused", json_boolean(s->intake_paused));
	bad |= set(o, "store_error", rj_string(s->store_error));
	bad |= set(o, "data_dir", rj_string(s->data_dir));
	if (s->web_enabled) {
		json_t *w = json_object();

		bad |= set(w, "listen", rj_string(s->web_listen));
		bad |= set(w, "pid", json_integer(s->web_pid));
		bad |= set(
		    w, "state", rj_string(rj_worker_state_name(s->web_state)));
		bad |= set(w, "restarts", json_integer(s->web_restarts));
		bad |= set(w, "error", rj_string(s->web_error));
		bad |= set(o, "web", w);
	} else {
		bad |= set(o, "web", json_null());
	}
	return finish(o, bad);
}

json_t *
rj_system_state_public(const Dbs__SystemState *s)
{
	json_t *o = rj_system_state(s), *w;

	if (!json_is_object(o))
		return o;
	json_object_del(o, "pid");
	json_object_del(o, "data_dir");
	if ((w = json_object_get(o, "web")) != NULL && json_is_object(w)) {
		json_object_del(w, "pid");
		json_object_del(w, "listen");
	}
	return o;
}

json_t *
rj_store_stats(const Dbs__StoreStats *s)
{
	json_t *o;
	int bad = 0;

	if (s == NULL)
		return json_null();
	o = json_object();
	bad |= set(o, "schema_version", u64(s->schema_version));
	bad |= set(o, "map_size", u64(s->map_size));
	bad |= set(o, "used_bytes", u64(s->used_bytes));
	bad |= set(o, "passengers", u64(s->passengers));
	bad |= set(o, "attachments", u64(s->attachments));
	bad |= set(o, "logs", u64(s->logs));
	bad |= set(o, "users", u64(s->users));
	bad |= set(o, "sessions", u64(s->sessions));
	bad |= set(o, "events", u64(s->events));
	bad |= set(o, "last_seq", u64(s->last_seq));
	bad |= set(o, "commits", u64(s->commits));
	bad |= set(o, "lmdb_gets", u64(s->lmdb_gets));
	bad |= set(o, "lmdb_puts", u64(s->lmdb_puts));
	bad |= set(o, "lmdb_dels", u64(s->lmdb_dels));
	bad |= set(o, "lmdb_cursor_steps", u64(s->lmdb_cursor_steps));
	bad |= set(o, "pg_round_trips", u64(s->pg_round_trips));
	return finish(o, bad);
}

/* A histogram: {"bounds": [s...], "counts": [n per bucket, +Inf last],
 * "count", "sum_seconds"}, or null. */
static json_t *
histogram(const Dbs__MetricsHistogram *h)
{
	json_t *o, *b, *c;
	int bad = 0;
	size_t i;

	if (h == NULL)
		return json_null();
	o = json_object();
	b = json_array();
	c = json_array();
	for (i = 0; i < h->n_bounds; i++)
		bad |= append(b, json_real(h->bounds[i]));
	for (i = 0; i < h->n_counts; i++)
		bad |= append(c, u64(h->counts[i]));
	bad |= set(o, "bounds", b);
	bad |= set(o, "counts", c);
	bad |= set(o, "count", u64(h->count));
	bad |= set(o, "sum_seconds", json_real(h->sum));
	return finish(o, bad);
}

/* A client's quotas and usage (databusd's quota.c); 0 limits: none. */
json_t *
rj_client_quota(const Dbs__ClientQuota *q)
{
	json_t *o = json_object();
	int bad = 0;

	bad |= set(o, "client", rj_string(q->client));
	bad |= set(o, "store_bytes", u64(q->store_bytes));
	bad |= set(o, "store_quota", u64(q->store_quota));
	bad |= set(o, "pending", u64(q->pending));
	bad |= set(o, "max_pending", u64(q->max_pending));
	bad |= set(o, "webhook_rate", json_real(q->webhook_rate));
	bad |= set(o, "webhook_burst", u64(q->webhook_burst));
	bad |= set(o, "webhook_refused", u64(q->webhook_refused));
	bad |= set(o, "drives", u64(q->drives));
	bad |= set(o, "max_concurrent_drives", u64(q->max_concurrent_drives));
	bad |=
	    set(o, "hit", q->hit[0] != '\0' ? rj_string(q->hit) : json_null());
	bad |= set(o, "cgroup",
	    q->cgroup[0] != '\0' ? rj_string(q->cgroup) : json_null());
	return finish(o, bad);
}

json_t *
rj_status_reply(const Dbs__StatusReply *r)
{
	json_t *o, *defs, *quotas;
	int bad = 0;
	size_t i;

	if (r == NULL)
		return json_null();
	o = json_object();
	bad |= set(o, "system", rj_system_state(r->system));
	defs = json_array();
	for (i = 0; i < r->n_definitions; i++)
		bad |= append(defs, rj_definition_info(r->definitions[i]));
	bad |= set(o, "definitions", defs);
	quotas = json_array();
	for (i = 0; i < r->n_quotas; i++)
		bad |= append(quotas, rj_client_quota(r->quotas[i]));
	bad |= set(o, "quotas", quotas);
	bad |= set(o, "store", rj_store_stats(r->store));
	bad |= set(o, "commit_latency", histogram(r->commit_latency));
	bad |= set(o, "sessions_expired", u64(r->sessions_expired));
	return finish(o, bad);
}

static json_t *
pulled_item(const Dbs__PulledItem *it)
{
	json_t *o = json_object(), *atts, *a;
	int bad = 0;
	size_t i;

	bad |= set(o, "puller", rj_string(it->puller));
	bad |= set(o, "external_id", rj_string(it->external_id));
	bad |= set(o, "pulled", rj_time(it->pulled_us / 1000));
	bad |=
	    set(o, "metadata", metadata_object(it->metadata, it->n_metadata));
	atts = json_array();
	for (i = 0; i < it->n_attachments; i++) {
		a = json_object();
		bad |= set(a, "name", rj_string(it->attachments[i]->name));
		bad |= set(a, "content_type",
		    rj_string(it->attachments[i]->content_type));
		bad |= set(a, "size", u64(it->attachments[i]->data.len));
		bad |= append(atts, a);
	}
	bad |= set(o, "attachments", atts);
	return finish(o, bad);
}

json_t *
rj_peek_result(const Dbs__PeekResult *r)
{
	json_t *o, *items;
	int bad = 0;
	size_t i;

	if (r == NULL)
		return json_null();
	o = json_object();
	bad |= set(o, "code", u64(r->code));
	bad |= set(o, "message", rj_string(r->message));
	items = json_array();
	for (i = 0; i < r->n_items; i++)
		bad |= append(items, pulled_item(r->items[i]));
	bad |= set(o, "items", items);
	return finish(o, bad);
}

/* Decode the packed instance of an event into JSON; NULL when it does not
 * decode. */
static json_t *
event_data(const Dbs__Event *ev)
{
	const uint8_t *d = ev->data.data;
	size_t len = ev->data.len;
	json_t *v = NULL, *a;
	int bad = 0;
	size_t i;

	switch (ev->resource) {
	case DBS__RESOURCE__RES_QUEUE_ITEM:
		if (ev->kind == DBS__EVENT_KIND__EV_CREATE_LIST ||
		    ev->kind == DBS__EVENT_KIND__EV_UPDATE_LIST ||
		    ev->kind == DBS__EVENT_KIND__EV_DELETE_LIST) {
			Dbs__PassengerList *l =
			    dbs__passenger_list__unpack(NULL, len, d);
			if (l == NULL)
				return NULL;
			a = json_array();
			for (i = 0; i < l->n_items; i++)
				bad |= append(a, rj_passenger(l->items[i]));
			dbs__passenger_list__free_unpacked(l, NULL);
			return finish(a, bad);
		} else {
			Dbs__Passenger *p =
			    dbs__passenger__unpack(NULL, len, d);
			if (p == NULL)
				return NULL;
			v = rj_passenger(p);
			dbs__passenger__free_unpacked(p, NULL);
		}
		return v;
	case DBS__RESOURCE__RES_LOG:
		if (ev->kind == DBS__EVENT_KIND__EV_CREATE_LIST ||
		    ev->kind == DBS__EVENT_KIND__EV_UPDATE_LIST ||
		    ev->kind == DBS__EVENT_KIND__EV_DELETE_LIST) {
			Dbs__EventLogList *ll =
			    dbs__event_log_list__unpack(NULL, len, d);
			if (ll == NULL)
				return NULL;
			a = json_array();
			for (i = 0; i < ll->n_items; i++)
				bad |= append(a, rj_log(ll->items[i], true));
			dbs__event_log_list__free_unpacked(ll, NULL);
			return finish(a, bad);
		} else {
			Dbs__Log *l = dbs__log__unpack(NULL, len, d);
			if (l == NULL)
				return NULL;
			v = rj_log(l, true);
			dbs__log__free_unpacked(l, NULL);
		}
		return v;
	case DBS__RESOURCE__RES_WORKER: {
		Dbs__WorkerInfo *w = dbs__worker_info__unpack(NULL, len, d);
		if (w == NULL)
			return NULL;
		v = rj_worker_info(w);
		dbs__worker_info__free_unpacked(w, NULL);
		return v;
	}
	case DBS__RESOURCE__RES_SYSTEM: {
		Dbs__SystemState *s = dbs__system_state__unpack(NULL, len, d);
		if (s == NULL)
			return NULL;
		/* Every user sees system events: not where it runs. */
		v = rj_system_state_public(s);
		dbs__system_state__free_unpacked(s, NULL);
		return v;
	}
	case DBS__RESOURCE__RES_DEFINITION: {
		Dbs__DefinitionInfo *di =
		    dbs__definition_info__unpack(NULL, len, d);
		if (di == NULL)
			return NULL;
		v = rj_definition_info(di);
		dbs__definition_info__free_unpacked(di, NULL);
		return v;
	}
	case DBS__RESOURCE__RES_USER: {
		Dbs__User *u = dbs__user__unpack(NULL, len, d);
		if (u == NULL)
			return NULL;
		v = rj_user(u);
		dbs__user__free_unpacked(u, NULL);
		return v;
	}
	case DBS__RESOURCE__RES_EXPORT:
		if (len == 0)
			return json_null();
		return json_loadb((const char *)d, len, JSON_DECODE_ANY, NULL);
	default:
		/* A resource newer than this program: show the event, not
		 * its data. */
		return json_null();
	}
}

json_t *
rj_event(const Dbs__Event *ev)
{
	json_t *o, *data;
	int bad = 0;

	if (ev == NULL)
		return json_null();
	if ((data = event_data(ev)) == NULL)
		return NULL;
	o = json_object();
	bad |= set(o, "seq", u64(ev->seq));
	bad |= set(o, "client", rj_string(ev->client));
	bad |= set(o, "resource", json_string(rj_resource_name(ev->resource)));
	bad |= set(o, "kind", json_string(rj_event_kind_name(ev->kind)));
	bad |= set(o, "time", rj_time(ev->time_ms));
	bad |= set(o, "data", data);
	return finish(o, bad);
}

/* dry-run: one step of a dry run. */
static json_t *
dry_run_step(const Dbs__DryRunStep *st)
{
	json_t *o = json_object();
	int bad = 0;

	bad |= set(o, "name", rj_string(st->name));
	bad |= set(o, "kind", rj_string(rj_step_kind_name(st->kind)));
	bad |= set(o, "state",
	    rj_string(st->note[0] != '\0' &&
			      st->state == DBS__STEP_STATE__STEP_INCOMPLETE
			  ? "not reached"
			  : rj_step_state_name(st->state)));
	bad |= set(o, "error", rj_string(st->error));
	bad |= set(o, "permanent", json_boolean(st->permanent));
	bad |= set(o, "note", rj_string(st->note));
	return finish(o, bad);
}

/* dry-run: an attachment after the processors, with its text when the
 * reply carries it (small UTF-8 text). */
static json_t *
dry_run_attachment(const Dbs__DryRunReply *r, const Dbs__AttachmentMeta *m)
{
	json_t *o = json_object();
	int bad = 0;

	bad |= set(o, "name", rj_string(m->name));
	bad |= set(o, "size", u64(m->size));
	bad |= set(o, "content_type", rj_string(m->content_type));
	for (size_t i = 0; i < r->n_previews; i++)
		if (strcmp(r->previews[i]->name, m->name) == 0) {
			bad |= set(o, "text",
			    json_stringn(
				(const char *)r->previews[i]->data.data,
				r->previews[i]->data.len));
			break;
		}
	return finish(o, bad);
}

json_t *
rj_dry_run_reply(const Dbs__DryRunReply *r)
{
	json_t *o, *a;
	int bad = 0;
	size_t i;

	if (r == NULL)
		return json_null();
	o = json_object();
	bad |= set(o, "outcome", rj_string(r->outcome));
	bad |= set(o, "ok",
	    json_boolean(
		!r->crashed && (strcmp(r->outcome, "ok") == 0 ||
				   strncmp(r->outcome, "skipped", 7) == 0)));
	bad |= set(o, "crashed", json_boolean(r->crashed));
	bad |= set(o, "passenger_id",
	    r->passenger_id != 0 ? u64(r->passenger_id) : json_null());
	bad |= set(o, "elapsed_ms",
	    i64(r->elapsed_us > 0 ? (r->elapsed_us + 500) / 1000 : 0));
	a = json_array();
	for (i = 0; i < r->n_steps; i++)
		bad |= append(a, dry_run_step(r->steps[i]));
	bad |= set(o, "steps", a);
	a = json_array();
	for (i = 0; i < r->n_attachments; i++)
		bad |= append(a, dry_run_attachment(r, r->attachments[i]));
	bad |= set(o, "attachments", a);
	bad |= set(o, "metadata", metadata_object(r->metadata, r->n_metadata));
	a = json_array();
	for (i = 0; i < r->n_logs; i++)
		bad |= append(a, rj_log_entry(r->logs[i]));
	bad |= set(o, "logs", a);
	a = json_array();
	for (i = 0; i < r->n_pushes; i++) {
		json_t *p = json_object();

		bad |= set(p, "pusher", rj_string(r->pushes[i]->pusher));
		bad |= set(p, "type", rj_string(r->pushes[i]->type));
		bad |= set(
		    p, "description", rj_string(r->pushes[i]->description));
		bad |= append(a, p);
	}
	bad |= set(o, "pushes", a);
	return finish(o, bad);
}
