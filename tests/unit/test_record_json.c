/*
 * test_record_json.c — unit tests of proto/record_json.c: every builder's
 * field names, types and values, ISO times, enum names and parsers, UTF-8
 * repair, that no password hash ever appears, and the decoding of event
 * data per resource.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "record_json.h"

/* 2024-05-01T12:34:56.789Z */
#define T1 1714566896789LL

static const char *
str(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	assert_non_null(v);
	assert_true(json_is_string(v));
	return json_string_value(v);
}

static long long
num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	assert_non_null(v);
	assert_true(json_is_integer(v));
	return (long long)json_integer_value(v);
}

static void
is_null(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	assert_non_null(v);
	assert_true(json_is_null(v));
}

/* ------------------------------------------------------------- values */

static void
test_time_iso(void **state)
{
	char buf[RJ_TIME_LEN];
	json_t *v;

	(void)state;
	assert_string_equal(rj_time_iso(0, buf), "1970-01-01T00:00:00.000Z");
	assert_string_equal(rj_time_iso(T1, buf), "2024-05-01T12:34:56.789Z");
	assert_string_equal(
	    rj_time_iso(T1 - 789, buf), "2024-05-01T12:34:56.000Z");
	/* Before the epoch the milliseconds still count forward. */
	assert_string_equal(rj_time_iso(-1, buf), "1969-12-31T23:59:59.999Z");
	/* Leap day. */
	assert_string_equal(
	    rj_time_iso(951782400000LL, buf), "2000-02-29T00:00:00.000Z");
	/* No calendar form: empty, and rj_time gives null. */
	assert_string_equal(rj_time_iso(INT64_MAX, buf), "");
	v = rj_time(INT64_MAX);
	assert_true(json_is_null(v));
	json_decref(v);

	v = rj_time(0);
	assert_true(json_is_null(v));
	json_decref(v);
	v = rj_time(T1);
	assert_string_equal(json_string_value(v), "2024-05-01T12:34:56.789Z");
	json_decref(v);
}

static void
test_string_utf8(void **state)
{
	json_t *v;

	(void)state;
	v = rj_string(NULL);
	assert_string_equal(json_string_value(v), "");
	json_decref(v);
	v = rj_string("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
	assert_string_equal(json_string_value(v),
	    "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
	json_decref(v);
	/* A stray byte, a truncated sequence, an overlong form and a
	 * surrogate each become U+FFFD per byte. */
	v = rj_string("a\xff"
		      "b");
	assert_string_equal(json_string_value(v), "a\xef\xbf\xbd"
						  "b");
	json_decref(v);
	v = rj_string("x\xc3");
	assert_string_equal(json_string_value(v), "x\xef\xbf\xbd");
	json_decref(v);
	v = rj_string("\xc0\xaf");
	assert_string_equal(json_string_value(v), "\xef\xbf\xbd\xef\xbf\xbd");
	json_decref(v);
	v = rj_string("\xed\xa0\x80");
	assert_string_equal(
	    json_string_value(v), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	json_decref(v);
	v = rj_string("\xf4\x90\x80\x80"); /* above U+10FFFF */
	assert_non_null(v);
	assert_null(strstr(json_string_value(v), "\xf4\x90"));
	json_decref(v);
}

/* --------------------------------------------------------- enum names */

static void
test_names_and_parsers(void **state)
{
	(void)state;
	assert_string_equal(
	    rj_state_name(DBS__PASSENGER_STATE__PS_PENDING), "pending");
	assert_string_equal(
	    rj_state_name(DBS__PASSENGER_STATE__PS_DONE), "done");
	assert_string_equal(
	    rj_state_name(DBS__PASSENGER_STATE__PS_DEAD), "dead");
	assert_string_equal(rj_state_name(3), "unknown");
	assert_string_equal(rj_state_name(-1), "unknown");
	assert_int_equal(
	    rj_state_parse("pending"), DBS__PASSENGER_STATE__PS_PENDING);
	assert_int_equal(
	    rj_state_parse("done"), DBS__PASSENGER_STATE__PS_DONE);
	assert_int_equal(
	    rj_state_parse("dead"), DBS__PASSENGER_STATE__PS_DEAD);
	assert_int_equal(rj_state_parse("Dead"), -1);
	assert_int_equal(rj_state_parse(""), -1);
	assert_int_equal(rj_state_parse("unknown"), -1);
	assert_int_equal(rj_state_parse(NULL), -1);

	assert_string_equal(
	    rj_role_name(DBS__ROLE__ROLE_OPERATOR), "operator");
	assert_string_equal(
	    rj_role_name(DBS__ROLE__ROLE_ADMINISTRATOR), "administrator");
	assert_string_equal(rj_role_name(DBS__ROLE__ROLE_ROOT), "root");
	assert_string_equal(rj_role_name(7), "unknown");
	assert_int_equal(rj_role_parse("operator"), DBS__ROLE__ROLE_OPERATOR);
	assert_int_equal(
	    rj_role_parse("administrator"), DBS__ROLE__ROLE_ADMINISTRATOR);
	assert_int_equal(rj_role_parse("root"), DBS__ROLE__ROLE_ROOT);
	assert_int_equal(rj_role_parse("admin"), -1);
	assert_int_equal(rj_role_parse(NULL), -1);

	assert_int_equal(rj_step_state_parse("incomplete"),
	    DBS__STEP_STATE__STEP_INCOMPLETE);
	assert_int_equal(
	    rj_step_state_parse("skipped"), DBS__STEP_STATE__STEP_SKIPPED);
	assert_int_equal(rj_step_state_parse("done"), -1);
	assert_string_equal(
	    rj_step_state_name(DBS__STEP_STATE__STEP_FAILED), "failed");
	assert_string_equal(
	    rj_step_kind_name(DBS__STEP_KIND__SK_NOTIFY), "notify");
	assert_string_equal(
	    rj_step_kind_name(DBS__STEP_KIND__SK_PROCESSOR), "processor");
	assert_string_equal(
	    rj_step_kind_name(DBS__STEP_KIND__SK_PUSHER), "pusher");
	assert_string_equal(
	    rj_log_level_name(DBS__LOG_LEVEL__LOG_WARNING), "warning");
	assert_string_equal(
	    rj_worker_state_name(DBS__WORKER_STATE__WS_BACKOFF), "backoff");
	assert_string_equal(
	    rj_worker_state_name(DBS__WORKER_STATE__WS_STOPPED), "stopped");
	assert_string_equal(
	    rj_resource_name(DBS__RESOURCE__RES_QUEUE_ITEM), "queue_item");
	assert_string_equal(
	    rj_event_kind_name(DBS__EVENT_KIND__EV_DELETE_LIST),
	    "delete_list");
	assert_string_equal(rj_event_kind_name(99), "unknown");
}

/* ------------------------------------------------------------ records */

/* A passenger with every field set; the strings live in static storage. */
struct sample {
	Dbs__Passenger p;
	Dbs__Step s[3], *sp[3];
	Dbs__AttachmentMeta a, *ap[1];
	Dbs__KeyValue kv[3], *kvp[3];
};

static void
sample_init(struct sample *x)
{
	Dbs__Passenger p = DBS__PASSENGER__INIT;
	Dbs__Step s = DBS__STEP__INIT;
	Dbs__AttachmentMeta a = DBS__ATTACHMENT_META__INIT;
	Dbs__KeyValue kv = DBS__KEY_VALUE__INIT;
	int i;

	x->p = p;
	for (i = 0; i < 3; i++) {
		x->s[i] = s;
		x->sp[i] = &x->s[i];
		x->kv[i] = kv;
		x->kvp[i] = &x->kv[i];
	}
	x->s[0].name = "inbox";
	x->s[0].kind = DBS__STEP_KIND__SK_NOTIFY;
	x->s[0].state = DBS__STEP_STATE__STEP_COMPLETE;
	x->s[0].attempts = 1;
	x->s[0].updated_ms = T1;
	x->s[1].name = "only-xlsx";
	x->s[1].kind = DBS__STEP_KIND__SK_PROCESSOR;
	x->s[1].state = DBS__STEP_STATE__STEP_SKIPPED;
	x->s[2].name = "erp";
	x->s[2].kind = DBS__STEP_KIND__SK_PUSHER;
	x->s[2].state = DBS__STEP_STATE__STEP_FAILED;
	x->s[2].attempts = 3;
	x->s[2].error = "HTTP 503";
	x->a = a;
	x->a.name = "invoice.xlsx";
	x->a.size = 12345;
	x->a.content_type = "application/vnd.ms-excel";
	x->ap[0] = &x->a;
	x->kv[0].key = "subject";
	x->kv[0].value = "Hello";
	x->kv[1].key = "subject"; /* repeated: the last one wins */
	x->kv[1].value = "Hello again";
	x->kv[2].key = "bad\xff";
	x->kv[2].value = "v";

	x->p.id = 42;
	x->p.client = "demo";
	x->p.definition = "mails";
	x->p.puller = "inbox";
	x->p.external_id = "msg-1";
	x->p.state = DBS__PASSENGER_STATE__PS_DEAD;
	x->p.n_steps = 3;
	x->p.steps = x->sp;
	x->p.n_attachments = 1;
	x->p.attachments = x->ap;
	x->p.n_metadata = 3;
	x->p.metadata = x->kvp;
	x->p.created_ms = T1;
	x->p.updated_ms = T1 + 1000;
	x->p.next_attempt_ms = 0;
	x->p.attempts = 3;
	x->p.last_drive = 7;
	x->p.last_error = "erp: HTTP 503";
	x->p.pulled_us = T1 * 1000 - 5000;
	x->p.done_ms = T1 + 2000;
}

static void
check_sample(const json_t *o)
{
	const json_t *steps, *atts, *meta, *s;

	assert_true(json_is_object(o));
	assert_int_equal(num(o, "id"), 42);
	assert_string_equal(str(o, "client"), "demo");
	assert_string_equal(str(o, "definition"), "mails");
	assert_string_equal(str(o, "puller"), "inbox");
	assert_string_equal(str(o, "external_id"), "msg-1");
	assert_string_equal(str(o, "state"), "dead");
	assert_string_equal(str(o, "created"), "2024-05-01T12:34:56.789Z");
	assert_string_equal(str(o, "updated"), "2024-05-01T12:34:57.789Z");
	assert_string_equal(str(o, "done"), "2024-05-01T12:34:58.789Z");
	assert_string_equal(str(o, "pulled"), "2024-05-01T12:34:56.784Z");
	is_null(o, "next_attempt");
	assert_int_equal(num(o, "attempts"), 3);
	assert_int_equal(num(o, "last_drive"), 7);
	assert_string_equal(str(o, "last_error"), "erp: HTTP 503");

	steps = json_object_get(o, "steps");
	assert_true(json_is_array(steps));
	assert_int_equal(json_array_size(steps), 3);
	s = json_array_get(steps, 0);
	assert_string_equal(str(s, "name"), "inbox");
	assert_string_equal(str(s, "kind"), "notify");
	assert_string_equal(str(s, "state"), "complete");
	assert_int_equal(num(s, "attempts"), 1);
	assert_string_equal(str(s, "updated"), "2024-05-01T12:34:56.789Z");
	assert_string_equal(str(s, "error"), "");
	s = json_array_get(steps, 1);
	assert_string_equal(str(s, "kind"), "processor");
	assert_string_equal(str(s, "state"), "skipped");
	is_null(s, "updated");
	s = json_array_get(steps, 2);
	assert_string_equal(str(s, "kind"), "pusher");
	assert_string_equal(str(s, "state"), "failed");
	assert_int_equal(num(s, "attempts"), 3);
	assert_string_equal(str(s, "error"), "HTTP 503");

	atts = json_object_get(o, "attachments");
	assert_int_equal(json_array_size(atts), 1);
	s = json_array_get(atts, 0);
	assert_string_equal(str(s, "name"), "invoice.xlsx");
	assert_int_equal(num(s, "size"), 12345);
	assert_string_equal(
	    str(s, "content_type"), "application/vnd.ms-excel");

	meta = json_object_get(o, "metadata");
	assert_true(json_is_object(meta));
	assert_int_equal(json_object_size(meta), 2);
	assert_string_equal(str(meta, "subject"), "Hello again");
	assert_string_equal(str(meta, "bad\xef\xbf\xbd"), "v");
}

static void
test_passenger(void **state)
{
	struct sample x;
	json_t *o;

	(void)state;
	sample_init(&x);
	o = rj_passenger(&x.p);
	assert_non_null(o);
	check_sample(o);
	json_decref(o);

	/* A fresh passenger: empty arrays and object, unset times null. */
	{
		Dbs__Passenger p = DBS__PASSENGER__INIT;

		o = rj_passenger(&p);
		assert_string_equal(str(o, "state"), "pending");
		assert_int_equal(
		    json_array_size(json_object_get(o, "steps")), 0);
		assert_int_equal(
		    json_array_size(json_object_get(o, "attachments")), 0);
		assert_int_equal(
		    json_object_size(json_object_get(o, "metadata")), 0);
		is_null(o, "created");
		is_null(o, "done");
		is_null(o, "pulled");
		json_decref(o);
	}
	o = rj_passenger(NULL);
	assert_true(json_is_null(o));
	json_decref(o);
}

static void
test_huge_id_is_clamped(void **state)
{
	Dbs__Passenger p = DBS__PASSENGER__INIT;
	json_t *o;

	(void)state;
	p.id = UINT64_MAX;
	o = rj_passenger(&p);
	assert_int_equal(num(o, "id"), INT64_MAX);
	json_decref(o);
}

static void
test_user_never_shows_hash(void **state)
{
	Dbs__User u = DBS__USER__INIT;
	json_t *o;
	char *text;

	(void)state;
	u.client = "demo";
	u.username = "alice";
	u.password_hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA";
	u.role = DBS__ROLE__ROLE_ADMINISTRATOR;
	u.created_ms = T1;
	o = rj_user(&u);
	assert_string_equal(str(o, "client"), "demo");
	assert_string_equal(str(o, "username"), "alice");
	assert_string_equal(str(o, "role"), "administrator");
	assert_string_equal(str(o, "created"), "2024-05-01T12:34:56.789Z");
	is_null(o, "updated");
	assert_null(json_object_get(o, "password_hash"));
	assert_int_equal(json_object_size(o), 5);
	text = json_dumps(o, 0);
	assert_null(strstr(text, "argon2"));
	assert_null(strstr(text, "password"));
	free(text);
	json_decref(o);
}

static void
sample_log(Dbs__Log *log, Dbs__LogEntry *e, Dbs__LogEntry **ep)
{
	Dbs__Log l = DBS__LOG__INIT;
	Dbs__LogEntry en = DBS__LOG_ENTRY__INIT;

	*log = l;
	e[0] = en;
	e[1] = en;
	e[0].time_ms = T1;
	e[0].level = DBS__LOG_LEVEL__LOG_INFO;
	e[0].message = "pulled 1";
	e[1].time_ms = T1 + 1;
	e[1].level = DBS__LOG_LEVEL__LOG_ERROR;
	e[1].message = "push failed";
	e[1].passenger_id = 42;
	e[1].step = "erp";
	ep[0] = &e[0];
	ep[1] = &e[1];
	log->id = 9;
	log->client = "demo";
	log->definition = "mails";
	log->drive_id = 7;
	log->started_ms = T1;
	log->finished_ms = T1 + 250;
	log->level = DBS__LOG_LEVEL__LOG_ERROR;
	log->n_entries = 2;
	log->entries = ep;
	log->dropped_entries = 4;
	log->pulled = 1;
	log->seated = 1;
	log->failed = 1;
	log->outcome = "ok";
}

static void
test_log(void **state)
{
	Dbs__Log log;
	Dbs__LogEntry e[2], *ep[2];
	const json_t *entries, *en;
	json_t *o;

	(void)state;
	sample_log(&log, e, ep);
	o = rj_log(&log, true);
	assert_int_equal(num(o, "id"), 9);
	assert_string_equal(str(o, "client"), "demo");
	assert_string_equal(str(o, "definition"), "mails");
	assert_int_equal(num(o, "drive_id"), 7);
	assert_string_equal(str(o, "started"), "2024-05-01T12:34:56.789Z");
	assert_string_equal(str(o, "finished"), "2024-05-01T12:34:57.039Z");
	assert_string_equal(str(o, "level"), "error");
	assert_string_equal(str(o, "outcome"), "ok");
	assert_int_equal(num(o, "pulled"), 1);
	assert_int_equal(num(o, "seated"), 1);
	assert_int_equal(num(o, "completed"), 0);
	assert_int_equal(num(o, "failed"), 1);
	assert_int_equal(num(o, "dead"), 0);
	assert_int_equal(num(o, "entry_count"), 2);
	assert_int_equal(num(o, "dropped_entries"), 4);
	entries = json_object_get(o, "entries");
	assert_int_equal(json_array_size(entries), 2);
	en = json_array_get(entries, 1);
	assert_string_equal(str(en, "time"), "2024-05-01T12:34:56.790Z");
	assert_string_equal(str(en, "level"), "error");
	assert_string_equal(str(en, "message"), "push failed");
	assert_int_equal(num(en, "passenger_id"), 42);
	assert_string_equal(str(en, "step"), "erp");
	json_decref(o);

	o = rj_log(&log, false);
	assert_null(json_object_get(o, "entries"));
	assert_int_equal(num(o, "entry_count"), 2);
	json_decref(o);
}

static void
sample_worker(Dbs__WorkerInfo *w)
{
	Dbs__WorkerInfo init = DBS__WORKER_INFO__INIT;

	*w = init;
	w->client = "demo";
	w->definition = "mails";
	w->slot = 3;
	w->pid = 4321;
	w->state = DBS__WORKER_STATE__WS_BUSY;
	w->restarts = 2;
	w->last_exit = "signal 9";
	w->error = "";
	w->rss_kib = 2048;
	w->started_ms = T1;
}

static void
test_worker_and_definition(void **state)
{
	Dbs__WorkerInfo w;
	Dbs__DefinitionInfo d = DBS__DEFINITION_INFO__INIT;
	char *pullers[] = {"inbox"}, *pushers[] = {"erp", "archive"};
	const json_t *a;
	json_t *o;

	(void)state;
	sample_worker(&w);
	o = rj_worker_info(&w);
	assert_string_equal(str(o, "client"), "demo");
	assert_string_equal(str(o, "definition"), "mails");
	assert_int_equal(num(o, "slot"), 3);
	assert_int_equal(num(o, "pid"), 4321);
	assert_string_equal(str(o, "state"), "busy");
	assert_int_equal(num(o, "restarts"), 2);
	assert_string_equal(str(o, "last_exit"), "signal 9");
	assert_int_equal(num(o, "rss_kib"), 2048);
	assert_string_equal(str(o, "started"), "2024-05-01T12:34:56.789Z");
	is_null(o, "backoff_until");
	json_decref(o);

	d.client = "demo";
	d.name = "mails";
	d.sync_period_ms = 60000;
	d.last_run_ms = T1;
	d.last_outcome = "ok";
	d.driving = true;
	d.worker = &w;
	d.pending = 5;
	d.done = 6;
	d.dead = 1;
	d.n_pullers = 1;
	d.pullers = pullers;
	d.n_pushers = 2;
	d.pushers = pushers;
	d.drives = 7;
	d.drives_aborted = 1;
	d.step_failures = 3;
	d.went_dead = 2;
	o = rj_definition_info(&d);
	assert_string_equal(str(o, "client"), "demo");
	assert_string_equal(str(o, "name"), "mails");
	assert_int_equal(num(o, "sync_period_ms"), 60000);
	assert_string_equal(str(o, "last_run"), "2024-05-01T12:34:56.789Z");
	is_null(o, "next_run");
	assert_string_equal(str(o, "last_outcome"), "ok");
	assert_true(json_is_true(json_object_get(o, "driving")));
	assert_string_equal(
	    str(json_object_get(o, "worker"), "state"), "busy");
	assert_int_equal(num(o, "pending"), 5);
	assert_int_equal(num(o, "done"), 6);
	assert_int_equal(num(o, "dead"), 1);
	a = json_object_get(o, "pushers");
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(
	    json_string_value(json_array_get(a, 1)), "archive");
	assert_int_equal(json_array_size(json_object_get(o, "processors")), 0);
	assert_int_equal(num(o, "drives"), 7);
	assert_int_equal(num(o, "drives_aborted"), 1);
	assert_int_equal(num(o, "failures"), 3);
	assert_int_equal(num(o, "went_dead"), 2);
	json_decref(o);

	d.worker = NULL;
	o = rj_definition_info(&d);
	is_null(o, "worker");
	json_decref(o);
}

static void
test_status_reply(void **state)
{
	Dbs__SystemState s = DBS__SYSTEM_STATE__INIT;
	Dbs__StoreStats st = DBS__STORE_STATS__INIT;
	Dbs__DefinitionInfo d = DBS__DEFINITION_INFO__INIT, *dp[1] = {&d};
	Dbs__StatusReply r = DBS__STATUS_REPLY__INIT;
	Dbs__MetricsHistogram h = DBS__METRICS_HISTOGRAM__INIT;
	double bounds[2] = {0.001, 0.01};
	uint64_t counts[3] = {4, 2, 0};
	const json_t *sys, *store, *defs, *lat;
	json_t *o;

	(void)state;
	s.paused = true;
	s.intake_paused = true;
	s.store_error = "no space left on device";
	s.system_alias = "TEST";
	s.version = "0.1.0";
	s.started_ms = T1;
	s.pid = 100;
	s.data_dir = "/srv/var";
	st.map_size = 1 << 28;
	st.used_bytes = 4096;
	st.passengers = 12;
	st.last_seq = 99;
	st.schema_version = 1;
	d.client = "demo";
	d.name = "mails";
	r.system = &s;
	r.store = &st;
	r.n_definitions = 1;
	r.definitions = dp;
	h.n_bounds = 2;
	h.bounds = bounds;
	h.n_counts = 3;
	h.counts = counts;
	h.count = 6;
	h.sum = 0.5;
	r.commit_latency = &h;
	r.sessions_expired = 4;

	o = rj_status_reply(&r);
	sys = json_object_get(o, "system");
	assert_true(json_is_true(json_object_get(sys, "paused")));
	assert_true(json_is_false(json_object_get(sys, "shutting_down")));
	assert_true(json_is_true(json_object_get(sys, "intake_paused")));
	assert_string_equal(
	    str(sys, "store_error"), "no space left on device");
	assert_string_equal(str(sys, "system_alias"), "TEST");
	assert_string_equal(str(sys, "version"), "0.1.0");
	assert_string_equal(str(sys, "started"), "2024-05-01T12:34:56.789Z");
	assert_int_equal(num(sys, "pid"), 100);
	assert_string_equal(str(sys, "data_dir"), "/srv/var");
	store = json_object_get(o, "store");
	assert_int_equal(num(store, "map_size"), 1 << 28);
	assert_int_equal(num(store, "used_bytes"), 4096);
	assert_int_equal(num(store, "passengers"), 12);
	assert_int_equal(num(store, "last_seq"), 99);
	assert_int_equal(num(store, "schema_version"), 1);
	assert_int_equal(num(store, "sessions"), 0);
	defs = json_object_get(o, "definitions");
	assert_int_equal(json_array_size(defs), 1);
	assert_string_equal(str(json_array_get(defs, 0), "name"), "mails");
	lat = json_object_get(o, "commit_latency");
	assert_int_equal(json_array_size(json_object_get(lat, "bounds")), 2);
	assert_int_equal(json_integer_value(json_array_get(
			     json_object_get(lat, "counts"), 1)),
	    2);
	assert_int_equal(num(lat, "count"), 6);
	assert_true(
	    json_real_value(json_object_get(lat, "sum_seconds")) == 0.5);
	assert_int_equal(num(o, "sessions_expired"), 4);
	json_decref(o);

	/* A reply without parts: null members, not a crash. */
	r.system = NULL;
	r.store = NULL;
	r.commit_latency = NULL;
	r.n_definitions = 0;
	o = rj_status_reply(&r);
	is_null(o, "system");
	is_null(o, "store");
	is_null(o, "commit_latency");
	assert_int_equal(
	    json_array_size(json_object_get(o, "definitions")), 0);
	json_decref(o);
}

static void
test_peek_result(void **state)
{
	Dbs__PeekResult r = DBS__PEEK_RESULT__INIT;
	Dbs__PulledItem it = DBS__PULLED_ITEM__INIT, *itp[1] = {&it};
	Dbs__Attachment a = DBS__ATTACHMENT__INIT, *ap[1] = {&a};
	Dbs__KeyValue kv = DBS__KEY_VALUE__INIT, *kvp[1] = {&kv};
	const json_t *item, *att;
	json_t *o;
	char *text;

	(void)state;
	a.name = "f.xml";
	a.content_type = "application/xml";
	a.data.data = (uint8_t *)"<f/>";
	a.data.len = 4;
	kv.key = "path";
	kv.value = "/srv/in/f.xml";
	it.puller = "inbox";
	it.external_id = "f.xml";
	it.source_ref = "private-ref";
	it.n_metadata = 1;
	it.metadata = kvp;
	it.n_attachments = 1;
	it.attachments = ap;
	r.n_items = 1;
	r.items = itp;
	o = rj_peek_result(&r);
	assert_int_equal(num(o, "code"), 0);
	item = json_array_get(json_object_get(o, "items"), 0);
	assert_string_equal(str(item, "puller"), "inbox");
	assert_string_equal(str(item, "external_id"), "f.xml");
	assert_string_equal(
	    str(json_object_get(item, "metadata"), "path"), "/srv/in/f.xml");
	att = json_array_get(json_object_get(item, "attachments"), 0);
	assert_string_equal(str(att, "name"), "f.xml");
	assert_int_equal(num(att, "size"), 4);
	text = json_dumps(o, 0);
	assert_null(strstr(text, "private-ref"));
	free(text);
	json_decref(o);
}

/* ------------------------------------------------------------- events */

static json_t *
event_of(Dbs__Resource res, Dbs__EventKind kind, const ProtobufCMessage *m)
{
	Dbs__Event ev = DBS__EVENT__INIT;
	uint8_t *buf = NULL;
	json_t *o;

	ev.seq = 77;
	ev.client = "demo";
	ev.resource = res;
	ev.kind = kind;
	ev.time_ms = T1;
	if (m != NULL) {
		ev.data.len = protobuf_c_message_get_packed_size(m);
		buf = malloc(ev.data.len + 1);
		protobuf_c_message_pack(m, buf);
		ev.data.data = buf;
	}
	o = rj_event(&ev);
	free(buf);
	return o;
}

static void
test_event_queue_items(void **state)
{
	struct sample x;
	Dbs__PassengerList list = DBS__PASSENGER_LIST__INIT;
	Dbs__Passenger del = DBS__PASSENGER__INIT, *items[2];
	const json_t *data;
	json_t *o;

	(void)state;
	sample_init(&x);
	o = event_of(DBS__RESOURCE__RES_QUEUE_ITEM, DBS__EVENT_KIND__EV_UPDATE,
	    &x.p.base);
	assert_int_equal(num(o, "seq"), 77);
	assert_string_equal(str(o, "client"), "demo");
	assert_string_equal(str(o, "resource"), "queue_item");
	assert_string_equal(str(o, "kind"), "update");
	assert_string_equal(str(o, "time"), "2024-05-01T12:34:56.789Z");
	check_sample(json_object_get(o, "data"));
	json_decref(o);

	del.id = 43;
	del.client = "demo";
	items[0] = &x.p;
	items[1] = &del;
	list.n_items = 2;
	list.items = items;
	o = event_of(DBS__RESOURCE__RES_QUEUE_ITEM,
	    DBS__EVENT_KIND__EV_CREATE_LIST, &list.base);
	assert_string_equal(str(o, "kind"), "create_list");
	data = json_object_get(o, "data");
	assert_true(json_is_array(data));
	assert_int_equal(json_array_size(data), 2);
	check_sample(json_array_get(data, 0));
	assert_int_equal(num(json_array_get(data, 1), "id"), 43);
	json_decref(o);
}

static void
test_event_other_resources(void **state)
{
	Dbs__Log log;
	Dbs__LogEntry e[2], *ep[2];
	Dbs__WorkerInfo w;
	Dbs__SystemState s = DBS__SYSTEM_STATE__INIT;
	Dbs__DefinitionInfo d = DBS__DEFINITION_INFO__INIT;
	Dbs__User u = DBS__USER__INIT;
	json_t *o;
	char *text;

	(void)state;
	sample_log(&log, e, ep);
	o = event_of(
	    DBS__RESOURCE__RES_LOG, DBS__EVENT_KIND__EV_CREATE, &log.base);
	assert_string_equal(str(o, "resource"), "log");
	assert_int_equal(json_array_size(json_object_get(
			     json_object_get(o, "data"), "entries")),
	    2);
	json_decref(o);

	/* Logs a commit stored, as one list. */
	{
		Dbs__EventLogList ll = DBS__EVENT_LOG_LIST__INIT;
		Dbs__Log gone = DBS__LOG__INIT, *lp[2] = {&log, &gone};

		gone.id = 9;
		gone.client = "demo";
		ll.n_items = 2;
		ll.items = lp;
		o = event_of(DBS__RESOURCE__RES_LOG,
		    DBS__EVENT_KIND__EV_CREATE_LIST, &ll.base);
		assert_string_equal(str(o, "kind"), "create_list");
		assert_int_equal(
		    json_array_size(json_object_get(o, "data")), 2);
		assert_int_equal(
		    num(json_array_get(json_object_get(o, "data"), 1), "id"),
		    9);
		json_decref(o);
	}

	sample_worker(&w);
	o = event_of(
	    DBS__RESOURCE__RES_WORKER, DBS__EVENT_KIND__EV_UPDATE, &w.base);
	assert_string_equal(str(json_object_get(o, "data"), "state"), "busy");
	json_decref(o);

	s.paused = true;
	o = event_of(
	    DBS__RESOURCE__RES_SYSTEM, DBS__EVENT_KIND__EV_UPDATE, &s.base);
	assert_true(json_is_true(
	    json_object_get(json_object_get(o, "data"), "paused")));
	json_decref(o);

	d.client = "demo";
	d.name = "mails";
	o = event_of(DBS__RESOURCE__RES_DEFINITION, DBS__EVENT_KIND__EV_UPDATE,
	    &d.base);
	assert_string_equal(str(json_object_get(o, "data"), "name"), "mails");
	json_decref(o);

	/* Even if a writer forgot to strip it, the hash does not show. */
	u.client = "demo";
	u.username = "bob";
	u.password_hash = "$argon2id$secret";
	o = event_of(
	    DBS__RESOURCE__RES_USER, DBS__EVENT_KIND__EV_CREATE, &u.base);
	assert_string_equal(
	    str(json_object_get(o, "data"), "username"), "bob");
	text = json_dumps(o, 0);
	assert_null(strstr(text, "argon2id"));
	free(text);
	json_decref(o);
}

/* A system event goes to every user: it says whether intake is paused and
 * why, but not the pids, the data directory or the web's address, which
 * only root sees in GET /api/v1/about. */
static void
test_event_system_public(void **state)
{
	Dbs__SystemState s = DBS__SYSTEM_STATE__INIT;
	Dbs__Event ev = DBS__EVENT__INIT;
	uint8_t buf[512];
	json_t *o, *d, *w;

	(void)state;
	s.intake_paused = true;
	s.store_error = "no space left on device";
	s.system_alias = "TEST";
	s.pid = 100;
	s.data_dir = "/srv/var";
	s.web_enabled = true;
	s.web_listen = "10.0.0.1:5000";
	s.web_pid = 101;
	s.web_state = DBS__WORKER_STATE__WS_READY;
	assert_true(protobuf_c_message_get_packed_size(&s.base) < sizeof(buf));
	ev.seq = 7;
	ev.resource = DBS__RESOURCE__RES_SYSTEM;
	ev.kind = DBS__EVENT_KIND__EV_UPDATE;
	ev.data.len = protobuf_c_message_pack(&s.base, buf);
	ev.data.data = buf;
	o = rj_event(&ev);
	d = json_object_get(o, "data");
	assert_true(json_is_true(json_object_get(d, "intake_paused")));
	assert_string_equal(str(d, "store_error"), "no space left on device");
	assert_string_equal(str(d, "system_alias"), "TEST");
	assert_null(json_object_get(d, "pid"));
	assert_null(json_object_get(d, "data_dir"));
	w = json_object_get(d, "web");
	assert_string_equal(str(w, "state"), "ready");
	assert_null(json_object_get(w, "pid"));
	assert_null(json_object_get(w, "listen"));
	json_decref(o);

	/* The full state stays for root's about. */
	o = rj_system_state(&s);
	assert_int_equal(num(o, "pid"), 100);
	assert_string_equal(str(o, "data_dir"), "/srv/var");
	json_decref(o);
}

static void
test_event_export_unknown_corrupt(void **state)
{
	Dbs__Event ev = DBS__EVENT__INIT;
	static const char export_json[] = "{\"id\":3,\"state\":\"done\"}";
	static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
	json_t *o;

	(void)state;
	ev.resource = DBS__RESOURCE__RES_EXPORT;
	ev.data.data = (uint8_t *)export_json;
	ev.data.len = strlen(export_json);
	o = rj_event(&ev);
	assert_int_equal(num(json_object_get(o, "data"), "id"), 3);
	json_decref(o);

	ev.data.len = 0;
	o = rj_event(&ev);
	is_null(o, "data");
	json_decref(o);

	/* Not JSON: corrupt. */
	ev.data.data = (uint8_t *)"{nope";
	ev.data.len = 5;
	assert_null(rj_event(&ev));

	/* A resource from a newer program: the event, without its data. */
	ev.resource = (Dbs__Resource)42;
	o = rj_event(&ev);
	assert_string_equal(str(o, "resource"), "unknown");
	is_null(o, "data");
	json_decref(o);

	/* Records that do not decode: NULL. */
	ev.resource = DBS__RESOURCE__RES_QUEUE_ITEM;
	ev.kind = DBS__EVENT_KIND__EV_UPDATE_LIST;
	ev.data.data = (uint8_t *)garbage;
	ev.data.len = sizeof(garbage);
	assert_null(rj_event(&ev));
	ev.resource = DBS__RESOURCE__RES_LOG;
	assert_null(rj_event(&ev));

	o = rj_event(NULL);
	assert_true(json_is_null(o));
	json_decref(o);
}

static void
test_null_records(void **state)
{
	json_t *v[9];
	size_t i;

	(void)state;
	v[0] = rj_log(NULL, true);
	v[1] = rj_log_entry(NULL);
	v[2] = rj_user(NULL);
	v[3] = rj_worker_info(NULL);
	v[4] = rj_definition_info(NULL);
	v[5] = rj_system_state(NULL);
	v[6] = rj_store_stats(NULL);
	v[7] = rj_peek_result(NULL);
	v[8] = rj_step(NULL);
	for (i = 0; i < 9; i++) {
		assert_true(json_is_null(v[i]));
		json_decref(v[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_time_iso),
	    cmocka_unit_test(test_string_utf8),
	    cmocka_unit_test(test_names_and_parsers),
	    cmocka_unit_test(test_passenger),
	    cmocka_unit_test(test_huge_id_is_clamped),
	    cmocka_unit_test(test_user_never_shows_hash),
	    cmocka_unit_test(test_log),
	    cmocka_unit_test(test_worker_and_definition),
	    cmocka_unit_test(test_status_reply),
	    cmocka_unit_test(test_peek_result),
	    cmocka_unit_test(test_event_queue_items),
	    cmocka_unit_test(test_event_other_resources),
	    cmocka_unit_test(test_event_export_unknown_corrupt),
	    cmocka_unit_test(test_event_system_public),
	    cmocka_unit_test(test_null_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
