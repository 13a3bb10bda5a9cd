/*
 * test_store.c — unit tests of store/ against a real LMDB environment in a
 * temporary directory (removed at the end of each test).
 *
 * They cover the contract of store/store.h: seating and deduplication, the
 * queue indexes and paging, state changes, due queries, counts, purges,
 * attachments, logs, users and sessions, config backups, the event log
 * (explicit and batched queue item events), id high-water marks, the writer
 * lock, snapshots, group commit, a full map that grows and one that cannot,
 * and store_verify, including that it notices an index corrupted behind
 * the store's back. Tests that need a second process (another writer, a
 * reader holding a snapshot) fork a child that opens its own handle, as
 * databus-web does. Nothing here measures time; the dedup horizon test
 * sleeps 20 ms past a 1 ms horizon.
 *
 * With DBS_TEST_PG set to a libpq conninfo, every test runs on the
 * PostgreSQL engine instead, each in a fresh schema of that database
 * (dropped at teardown): the same test code, the same contract. Tests of
 * what only LMDB has (its files, map, writer lock, corrupting it behind
 * its back) are skipped there with the reason printed, and some get a
 * PostgreSQL counterpart (a newer schema refused, snapshots).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dbs_error.h"
#include "store.h"

#define MAX_IDS 8192

/* Wall-clock ms, as the store reads it. */
static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct fx {
	char tmp[128];
	char dir[160];
	char schema[64]; /* on PostgreSQL */
	/* DBS_TEST_PG (key=value or URI form) naming the schema as the
	 * application_name of the store's connections, so that a test can
	 * find them in pg_stat_activity. */
	char conninfo[1024];
	struct store *st;
	struct store_options opt;
};

/* The conninfo of DBS_TEST_PG: run on PostgreSQL (NULL: on LMDB). */
static const char *pg_conninfo;

/* Skip the rest of a test that is about LMDB alone, saying why. */
#define LMDB_ONLY(why)                                                        \
	do {                                                                  \
		if (pg_conninfo != NULL) {                                    \
			print_message("skipped on PostgreSQL: %s\n", why);    \
			skip();                                               \
		}                                                             \
	} while (0)

/* `opt` (NULL: the defaults) for the store of f on its engine. */
static struct store_options
fx_opt(const struct fx *f, const struct store_options *opt)
{
	struct store_options o = {0};

	if (opt != NULL)
		o = *opt;
	if (pg_conninfo != NULL) {
		o.backend = STORE_BACKEND_POSTGRES;
		o.pg_conninfo = f->conninfo;
		o.pg_schema = f->schema;
	}
	return o;
}

/* store_open of f's store (its directory, or its schema). */
static int
fx_open(const struct fx *f, enum store_mode mode,
    const struct store_options *opt, struct store **out)
{
	struct store_options o = fx_opt(f, opt);

	return store_open(f->dir, mode, opt || pg_conninfo ? &o : NULL, out);
}

/* Run SQL in f's schema (PostgreSQL only): the test's hand behind the
 * store's back. */
static void pg_sql(const struct fx *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
pg_sql(const struct fx *f, const char *fmt, ...)
{
	char sql[1024];
	PGconn *c = PQconnectdb(pg_conninfo);
	PGresult *r;
	va_list ap;
	int n;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	n = snprintf(sql, sizeof(sql),
	    "SET client_min_messages = warning;"
	    " SET search_path TO \"%s\"; ",
	    f->schema);
	va_start(ap, fmt);
	vsnprintf(sql + n, sizeof(sql) - (size_t)n, fmt, ap);
	va_end(ap);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		print_message("%s: %s\n", sql, PQerrorMessage(c));
	assert_true(PQresultStatus(r) == PGRES_COMMAND_OK ||
		    PQresultStatus(r) == PGRES_TUPLES_OK);
	PQclear(r);
	PQfinish(c);
}

struct ids {
	uint64_t v[MAX_IDS];
	size_t n;
};

/* ------------------------------------------------------------- helpers */

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
open_store(struct fx *f)
{
	int rc = fx_open(f, STORE_RDWR, &f->opt, &f->st);

	if (rc != DBS_OK)
		print_message("store_open: %s: %s\n", dbs_strerror(rc),
		    f->st ? store_last_error(f->st) : "");
	assert_int_equal(rc, DBS_OK);
}

static void
reopen(struct fx *f)
{
	store_close(f->st);
	f->st = NULL;
	open_store(f);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->tmp, "/tmp/test_store.XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	snprintf(f->dir, sizeof(f->dir), "%s/store", f->tmp);
	/* A fresh schema per test: the name of its temp dir. */
	snprintf(f->schema, sizeof(f->schema), "dbs_%s", f->tmp + 16);
	if (pg_conninfo != NULL && strstr(pg_conninfo, "://") != NULL)
		snprintf(f->conninfo, sizeof(f->conninfo),
		    "%s%sapplication_name=%s", pg_conninfo,
		    strchr(pg_conninfo, '?') ? "&" : "?", f->schema);
	else if (pg_conninfo != NULL)
		snprintf(f->conninfo, sizeof(f->conninfo),
		    "%s application_name=%s", pg_conninfo, f->schema);
	f->opt.no_sync = true;
	open_store(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->st);
	if (pg_conninfo != NULL)
		pg_sql(f, "DROP SCHEMA \"%s\" CASCADE", f->schema);
	nftw(f->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct store_txn *
wbegin(struct fx *f)
{
	struct store_txn *t = NULL;

	assert_int_equal(store_txn_begin(f->st, true, &t), DBS_OK);
	return t;
}

static struct store_txn *
rbegin(struct fx *f)
{
	struct store_txn *t = NULL;

	assert_int_equal(store_txn_begin(f->st, false, &t), DBS_OK);
	return t;
}

static void
commit(struct store_txn *t)
{
	assert_int_equal(store_txn_commit(t), DBS_OK);
}

static int
seat_rc(struct store_txn *t, const char *client, const char *def,
    const char *puller, const char *ext, uint64_t *id, bool *dup)
{
	Dbs__Passenger p = DBS__PASSENGER__INIT;

	p.client = (char *)client;
	p.definition = (char *)def;
	p.puller = (char *)puller;
	p.external_id = (char *)ext;
	return store_passenger_seat(t, &p, NULL, 0, id, dup);
}

static uint64_t
seat(struct store_txn *t, const char *client, const char *def, const char *ext)
{
	uint64_t id = 0;
	bool dup = true;

	assert_int_equal(
	    seat_rc(t, client, def, "in", ext, &id, &dup), DBS_OK);
	assert_false(dup);
	assert_true(id > 0);
	return id;
}

static void
set_state(
    struct store_txn *t, uint64_t id, int state, int64_t next, int64_t done)
{
	Dbs__Passenger *p = NULL;

	assert_int_equal(store_passenger_get(t, id, &p), DBS_OK);
	p->state = (Dbs__PassengerState)state;
	p->next_attempt_ms = next;
	p->done_ms = done;
	assert_int_equal(store_passenger_put(t, p), DBS_OK);
	dbs__passenger__free_unpacked(p, NULL);
}

static int
collect(void *ctx, const Dbs__Passenger *p)
{
	struct ids *ids = ctx;

	assert_true(ids->n < MAX_IDS);
	ids->v[ids->n++] = p->id;
	return 0;
}

/* Stops the listing at the third passenger with the value 7. */
static int
collect_stop(void *ctx, const Dbs__Passenger *p)
{
	struct ids *ids = ctx;

	(void)p;
	return ++ids->n >= 3 ? 7 : 0;
}

/* A protobuf-c allocator that keeps what it gave, for listings with
 * q->alloc: the store must decode through it and free nothing itself. */
struct counting_alloc {
	size_t allocs, frees;
	void *ptrs[4096];
};

static void *
count_alloc(void *data, size_t size)
{
	struct counting_alloc *ca = data;

	if (ca->allocs == sizeof(ca->ptrs) / sizeof(ca->ptrs[0]))
		return NULL;
	return ca->ptrs[ca->allocs++] = malloc(size);
}

static void
count_free(void *data, void *ptr)
{
	((struct counting_alloc *)data)->frees++;
	free(ptr);
}

static void
count_release(struct counting_alloc *ca)
{
	for (size_t i = 0; i < ca->allocs; i++)
		free(ca->ptrs[i]);
	ca->allocs = 0;
}

static void
print_problem(void *ctx, const char *problem)
{
	(void)ctx;
	print_message("verify: %s\n", problem);
}

static uint64_t
verify(struct fx *f)
{
	struct store_txn *t = rbegin(f);
	uint64_t problems = 99;

	assert_int_equal(
	    store_verify(t, print_problem, NULL, &problems), DBS_OK);
	commit(t);
	return problems;
}

/* Page through a listing; every page holds at most `limit`. */
static void
list_all(struct fx *f, struct store_query q, size_t limit, struct ids *out)
{
	struct store_txn *t = rbegin(f);
	uint64_t next = 0;

	out->n = 0;
	q.limit = limit;
	q.cursor = 0;
	for (int pages = 0; pages < 1000; pages++) {
		size_t before = out->n;

		assert_int_equal(
		    store_queue_list(t, &q, collect, out, &next), DBS_OK);
		assert_true(limit == 0 || out->n - before <= limit);
		if (next == 0)
			break;
		q.cursor = next;
	}
	assert_int_equal(next, 0);
	commit(t);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------ open, meta */

static void
test_open_meta_schema(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	Dbs__StoreStats stats;
	uint64_t v = 0;
	struct store *other = NULL;
	MDB_env *env;
	MDB_txn *mt;
	MDB_dbi dbi;
	uint8_t nine[8] = {0, 0, 0, 0, 0, 0, 0, 9};
	MDB_val k = {20, "store.schema_version"}, d = {8, nine};

	t = wbegin(f);
	assert_int_equal(store_meta_put_u64(t, "last_drive_id", 42), DBS_OK);
	assert_int_equal(store_meta_put_u64(t, "store.commits", 1), DBS_EPERM);
	assert_int_equal(store_txn_changes(t), 1);
	commit(t);
	reopen(f);
	t = rbegin(f);
	assert_int_equal(store_meta_get_u64(t, "last_drive_id", &v), DBS_OK);
	assert_int_equal(v, 42);
	assert_int_equal(store_meta_get_u64(t, "nope", &v), DBS_ENOTFOUND);
	assert_int_equal(v, 0);
	assert_int_equal(store_stats(t, &stats), DBS_OK);
	assert_int_equal(stats.schema_version, STORE_SCHEMA_VERSION);
	assert_int_equal(stats.map_size, pg_conninfo ? 0 : 256u << 20);
	assert_true(stats.commits >= 1);
	commit(t);
	if (pg_conninfo != NULL) {
		/* PostgreSQL: no reader slots; a newer schema is refused, a
		 * missing one is not created by a reader. */
		struct store_options o = fx_opt(f, &f->opt);

		assert_int_equal(store_reader_check(f->st), -1);
		store_close(f->st);
		f->st = NULL;
		pg_sql(f, "UPDATE meta SET value = 9 WHERE name ="
			  " 'store.schema_version'");
		assert_int_equal(
		    fx_open(f, STORE_RDWR, &f->opt, &other), DBS_ESCHEMA);
		assert_null(other);
		assert_int_equal(
		    fx_open(f, STORE_RDONLY, NULL, &other), DBS_ESCHEMA);
		o.pg_schema = "dbs_missing_schema";
		assert_int_equal(
		    store_open(NULL, STORE_RDONLY, &o, &other), DBS_ENOTFOUND);
		assert_null(other);
		pg_sql(f, "UPDATE meta SET value = 1 WHERE name ="
			  " 'store.schema_version'");
		open_store(f);
		return;
	}
	assert_true(store_reader_check(f->st) >= 0);

	/* A store from a newer version is refused. */
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
	assert_int_equal(mdb_env_open(env, f->dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &mt), 0);
	assert_int_equal(mdb_dbi_open(mt, "meta", 0, &dbi), 0);
	assert_int_equal(mdb_put(mt, dbi, &k, &d, 0), 0);
	assert_int_equal(mdb_txn_commit(mt), 0);
	mdb_env_close(env);
	assert_int_equal(
	    store_open(f->dir, STORE_RDWR, &f->opt, &other), DBS_ESCHEMA);
	assert_null(other);
	assert_int_equal(
	    store_open(f->dir, STORE_RDONLY, NULL, &other), DBS_ESCHEMA);
	/* Reading a store that does not exist is an error, not a creation. */
	char missing[200];
	snprintf(missing, sizeof(missing), "%s/missing", f->tmp);
	assert_int_equal(
	    store_open(missing, STORE_RDONLY, NULL, &other), DBS_ENOTFOUND);
	/* Let teardown remove a store that opens again. */
	nine[7] = 1;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
	assert_int_equal(mdb_env_open(env, f->dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &mt), 0);
	assert_int_equal(mdb_dbi_open(mt, "meta", 0, &dbi), 0);
	assert_int_equal(mdb_put(mt, dbi, &k, &d, 0), 0);
	assert_int_equal(mdb_txn_commit(mt), 0);
	mdb_env_close(env);
	open_store(f);
}

static void
test_txn_rules(void **state)
{
	struct fx *f = *state;
	struct store_txn *t, *t2 = (void *)1, *r;
	uint64_t id = 1;
	bool dup = true;

	t = wbegin(f);
	assert_int_equal(store_txn_begin(f->st, true, &t2), DBS_EBUSY);
	assert_null(t2);
	/* A read transaction cannot write. */
	r = rbegin(f);
	assert_int_equal(
	    seat_rc(r, "c", "d", "p", "x", &id, &dup), DBS_EINVAL);
	assert_int_equal(id, 0);
	store_txn_abort(r);
	/* Bad arguments leave the write transaction usable. */
	assert_int_equal(seat_rc(t, "", "d", "p", "x", &id, &dup), DBS_EINVAL);
	assert_int_equal(seat_rc(t, "c", "d", "p", "", &id, &dup), DBS_EINVAL);
	char longname[200];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(
	    seat_rc(t, longname, "d", "p", "x", &id, &dup), DBS_ETOOBIG);
	assert_int_equal(store_passenger_delete(t, 12345), DBS_ENOTFOUND);
	seat(t, "c", "d", "x");
	assert_int_equal(store_txn_changes(t), 1);
	commit(t);
	store_txn_abort(NULL);
	store_close(NULL);
	assert_int_equal(store_txn_changes(NULL), 0);

	/* A read-only store refuses write transactions. */
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(fx_open(f, STORE_RDONLY, NULL, &f->st), DBS_OK);
	assert_int_equal(store_txn_begin(f->st, true, &t2), DBS_EPERM);
	r = rbegin(f);
	assert_int_equal(
	    store_passenger_get(r, 999, &(Dbs__Passenger *){NULL}),
	    DBS_ENOTFOUND);
	commit(r);
	reopen(f);
}

/* ------------------------------------------------------------ passengers */

static void
test_seat_get_dedup(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	Dbs__Passenger p = DBS__PASSENGER__INIT, *g = NULL;
	Dbs__KeyValue kv = DBS__KEY_VALUE__INIT, *kvs[1] = {&kv};
	Dbs__Attachment a1 = DBS__ATTACHMENT__INIT, a2 = DBS__ATTACHMENT__INIT;
	Dbs__Attachment *atts[2] = {&a1, &a2};
	uint64_t id = 0, id2 = 0, id3 = 0, id4 = 0;
	bool dup = true;
	char longext[600], longext2[600];

	p.client = "acme";
	p.definition = "invoices";
	p.puller = "inbox";
	p.external_id = "mail-1";
	p.pulled_us = 1234;
	p.n_metadata = 1;
	p.metadata = kvs;
	kv.key = "subject";
	kv.value = "hello";
	a1.name = "body.txt";
	a1.content_type = "text/plain";
	a1.data.data = (uint8_t *)"hello world";
	a1.data.len = 11;
	a2.name = "empty.bin";

	t = wbegin(f);
	assert_int_equal(
	    store_passenger_seat(t, &p, atts, 2, &id, &dup), DBS_OK);
	assert_false(dup);
	assert_int_equal(id, 1);
	/* Same dedup key in the same transaction: a duplicate. */
	assert_int_equal(
	    store_passenger_seat(t, &p, NULL, 0, &id2, &dup), DBS_OK);
	assert_true(dup);
	assert_int_equal(id2, id);
	commit(t);

	t = wbegin(f);
	assert_int_equal(
	    store_passenger_seat(t, &p, NULL, 0, &id2, &dup), DBS_OK);
	assert_true(dup);
	assert_int_equal(id2, id);
	p.puller = "other";
	assert_int_equal(
	    store_passenger_seat(t, &p, NULL, 0, &id2, &dup), DBS_OK);
	assert_false(dup);
	assert_int_equal(id2, 2);
	p.puller = "inbox";
	p.definition = "orders";
	assert_int_equal(
	    store_passenger_seat(t, &p, NULL, 0, &id3, &dup), DBS_OK);
	assert_false(dup);
	/* Long external ids are hashed into the dedup key. */
	memset(longext, 'x', sizeof(longext) - 1);
	longext[sizeof(longext) - 1] = '\0';
	memcpy(longext2, longext, sizeof(longext));
	longext2[500] = 'y';
	p.external_id = longext;
	assert_int_equal(
	    store_passenger_seat(t, &p, NULL, 0, &id4, &dup), DBS_OK);
	assert_false(dup);
	assert_int_equal(
	    store_passenger_seat(t, &p, NULL, 0, &id2, &dup), DBS_OK);
	assert_true(dup);
	assert_int_equal(id2, id4);
	p.external_id = longext2;
	assert_int_equal(
	    store_passenger_seat(t, &p, NULL, 0, &id2, &dup), DBS_OK);
	assert_false(dup);
	assert_true(id2 > id4);
	commit(t);

	t = rbegin(f);
	assert_int_equal(store_passenger_get(t, id, &g), DBS_OK);
	assert_int_equal(g->id, id);
	assert_string_equal(g->client, "acme");
	assert_string_equal(g->definition, "invoices");
	assert_string_equal(g->puller, "inbox");
	assert_string_equal(g->external_id, "mail-1");
	assert_int_equal(g->state, DBS__PASSENGER_STATE__PS_PENDING);
	assert_true(g->created_ms > 1600000000000LL);
	assert_int_equal(g->next_attempt_ms, g->created_ms);
	assert_int_equal(g->updated_ms, g->created_ms);
	assert_int_equal(g->pulled_us, 1234);
	assert_int_equal(g->n_metadata, 1);
	assert_string_equal(g->metadata[0]->value, "hello");
	assert_int_equal(g->n_attachments, 2);
	assert_string_equal(g->attachments[0]->name, "body.txt");
	assert_int_equal(g->attachments[0]->size, 11);
	assert_string_equal(g->attachments[0]->content_type, "text/plain");
	assert_int_equal(g->attachments[1]->size, 0);
	dbs__passenger__free_unpacked(g, NULL);
	g = (void *)1;
	assert_int_equal(store_passenger_get(t, 999, &g), DBS_ENOTFOUND);
	assert_null(g);
	commit(t);
	assert_int_equal(verify(f), 0);
}

static void
test_attachments(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	Dbs__Passenger p = DBS__PASSENGER__INIT;
	Dbs__Attachment a = DBS__ATTACHMENT__INIT, *atts[2] = {&a, &a};
	const void *data;
	size_t len;
	uint64_t id;
	bool dup;

	p.client = "c";
	p.definition = "d";
	p.puller = "p";
	p.external_id = "e";
	a.name = "a.xml";
	a.data.data = (uint8_t *)"<a/>";
	a.data.len = 4;
	t = wbegin(f);
	/* Two attachments of the same name are refused. */
	assert_int_equal(
	    store_passenger_seat(t, &p, atts, 2, &id, &dup), DBS_EINVAL);
	assert_int_equal(
	    store_passenger_seat(t, &p, atts, 1, &id, &dup), DBS_OK);
	assert_int_equal(
	    store_attachment_get(t, id, "a.xml", &data, &len), DBS_OK);
	assert_int_equal(len, 4);
	assert_memory_equal(data, "<a/>", 4);
	assert_int_equal(
	    store_attachment_put(t, id, "b.bin", "\0\1\2", 3), DBS_OK);
	assert_int_equal(
	    store_attachment_put(t, id, "a.xml", "<b/>!", 5), DBS_OK);
	assert_int_equal(
	    store_attachment_put(t, 777, "x", "y", 1), DBS_ENOTFOUND);
	commit(t);

	t = wbegin(f);
	assert_int_equal(
	    store_attachment_get(t, id, "a.xml", &data, &len), DBS_OK);
	assert_int_equal(len, 5);
	assert_memory_equal(data, "<b/>!", 5);
	assert_int_equal(
	    store_attachment_get(t, id, "b.bin", &data, &len), DBS_OK);
	assert_int_equal(len, 3);
	assert_int_equal(store_attachment_delete(t, id, "b.bin"), DBS_OK);
	assert_int_equal(
	    store_attachment_delete(t, id, "b.bin"), DBS_ENOTFOUND);
	assert_int_equal(
	    store_attachment_get(t, id, "b.bin", &data, &len), DBS_ENOTFOUND);
	assert_null(data);
	assert_int_equal(len, 0);
	/* The meta says 4 bytes: verify notices the replaced body. */
	commit(t);
	assert_int_equal(verify(f), 1);
	t = wbegin(f);
	assert_int_equal(
	    store_attachment_put(t, id, "a.xml", "<a/>", 4), DBS_OK);
	commit(t);
	assert_int_equal(verify(f), 0);
}

static void
test_delete_removes_everything(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	Dbs__Passenger p = DBS__PASSENGER__INIT;
	Dbs__Attachment a = DBS__ATTACHMENT__INIT, *atts[1] = {&a};
	struct store_query q = {.client = "c", .state = -1};
	struct ids ids;
	const void *data;
	size_t len;
	uint64_t id, id2, pending = 9;
	bool dup;

	p.client = "c";
	p.definition = "d";
	p.puller = "p";
	p.external_id = "e";
	a.name = "a";
	a.data.data = (uint8_t *)"x";
	a.data.len = 1;
	t = wbegin(f);
	assert_int_equal(
	    store_passenger_seat(t, &p, atts, 1, &id, &dup), DBS_OK);
	commit(t);
	t = wbegin(f);
	set_state(t, id, DBS__PASSENGER_STATE__PS_DONE, 0, 5);
	assert_int_equal(store_passenger_delete(t, id), DBS_OK);
	assert_int_equal(store_passenger_delete(t, id), DBS_ENOTFOUND);
	commit(t);

	t = rbegin(f);
	assert_int_equal(
	    store_attachment_get(t, id, "a", &data, &len), DBS_ENOTFOUND);
	assert_int_equal(
	    store_queue_counts(t, "c", "d", &pending, NULL, NULL), DBS_OK);
	assert_int_equal(pending, 0);
	commit(t);
	list_all(f, q, 0, &ids);
	assert_int_equal(ids.n, 0);
	assert_int_equal(verify(f), 0);

	/* The dedup entry went too: the same item seats anew. */
	t = wbegin(f);
	assert_int_equal(
	    store_passenger_seat(t, &p, NULL, 0, &id2, &dup), DBS_OK);
	assert_false(dup);
	assert_true(id2 > id);
	commit(t);
	assert_int_equal(verify(f), 0);
}

/* A small model of the queue to check listings against. */
struct model {
	uint64_t id[64];
	const char *client[64];
	const char *def[64];
	int state[64];
	size_t n;
};

static void
expect(const struct model *m, const char *client, const char *def, int state,
    bool desc, struct ids *out)
{
	out->n = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (client && strcmp(client, m->client[i]) != 0)
			continue;
		if (def && strcmp(def, m->def[i]) != 0)
			continue;
		if (state >= 0 && state != m->state[i])
			continue;
		out->v[out->n++] = m->id[i];
	}
	qsort(out->v, out->n, sizeof(out->v[0]), cmp_u64);
	if (desc)
		for (size_t i = 0; i < out->n / 2; i++) {
			uint64_t x = out->v[i];

			out->v[i] = out->v[out->n - 1 - i];
			out->v[out->n - 1 - i] = x;
		}
}

/* Both orders, unpaged and in pages of 7, give what the model says. */
static void
check_listing(struct fx *f, const struct model *m, const char *client,
    const char *def, int state)
{
	static struct ids got, want;

	for (int desc = 0; desc < 2; desc++) {
		for (size_t lim = 0; lim <= 7; lim += 7) {
			struct store_query q = {.client = client,
			    .definition = def,
			    .state = state,
			    .newest_first = desc};

			expect(m, client, def, state, desc, &want);
			list_all(f, q, lim, &got);
			assert_int_equal(got.n, want.n);
			assert_memory_equal(
			    got.v, want.v, want.n * sizeof(uint64_t));
		}
	}
}

static void
test_indexes_and_paging(void **state)
{
	struct fx *f = *state;
	static const char *clients[] = {"acme", "beta"};
	static const char *defs[] = {"invoices", "orders", "mails"};
	static struct model m;
	static struct ids got;
	struct store_txn *t;
	char ext[32];

	m.n = 0;
	t = wbegin(f);
	for (int i = 0; i < 40; i++) {
		snprintf(ext, sizeof(ext), "ext-%02d", i);
		m.client[m.n] = clients[i % 2];
		m.def[m.n] = defs[i % 3];
		m.state[m.n] = (i * 7) % 3;
		m.id[m.n] = seat(t, m.client[m.n], m.def[m.n], ext);
		if (m.state[m.n] != 0)
			set_state(t, m.id[m.n], m.state[m.n], 0, 1000 + i);
		m.n++;
	}
	commit(t);

	const char *cl[] = {NULL, "acme", "beta", "nobody"};
	const char *df[] = {NULL, "invoices", "orders"};
	for (size_t c = 0; c < 4; c++)
		for (size_t d = 0; d < 3; d++)
			for (int s = -1; s < 3; s++)
				if (cl[c] != NULL || df[d] == NULL)
					check_listing(f, &m, cl[c], df[d], s);

	/* q: an internal id, or a substring of the external id. */
	struct store_query q = {.client = "acme", .state = -1, .q = "3"};
	list_all(f, q, 0, &got);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.v[0], 3);
	q.q = "4";
	list_all(f, q, 0, &got); /* passenger 4 is beta's */
	assert_int_equal(got.n, 0);
	q.q = "ext-1";
	q.client = NULL;
	list_all(f, q, 3, &got); /* ext-10 .. ext-19 */
	assert_int_equal(got.n, 10);
	q.client = "beta";
	q.newest_first = true;
	list_all(f, q, 2, &got); /* the odd ones */
	assert_int_equal(got.n, 5);
	assert_int_equal(got.v[0], 20);
	/* The callback can stop the listing; its value comes back. */
	{
		struct store_txn *r = rbegin(f);
		struct store_query all = {.state = -1};
		uint64_t next = 0;

		got.n = 0;
		assert_int_equal(
		    store_queue_list(r, &all, collect_stop, &got, &next), 7);
		assert_int_equal(next, 3); /* where it stopped */
		commit(r);
	}
	/* With the caller's allocator: the same page, every record decoded
	 * and released through it. */
	{
		static struct ids plain;
		static struct counting_alloc ca;
		ProtobufCAllocator pa = {count_alloc, count_free, &ca};
		struct store_query page = {.client = "acme",
		    .state = -1,
		    .newest_first = true,
		    .limit = 7};

		list_all(f, page, 7, &plain);
		page.alloc = &pa;
		list_all(f, page, 7, &got);
		assert_int_equal(got.n, plain.n);
		assert_memory_equal(got.v, plain.v, got.n * sizeof(got.v[0]));
		assert_true(ca.allocs >= got.n);
		assert_int_equal(ca.frees, 0);
		count_release(&ca);
		page.q = "5"; /* one by its id */
		list_all(f, page, 7, &got);
		assert_int_equal(got.n, 1);
		assert_true(ca.allocs >= 1);
		assert_int_equal(ca.frees, 0);
		count_release(&ca);
	}
	/* A definition needs its client. */
	{
		struct store_txn *r = rbegin(f);
		struct store_query bad = {.definition = "x", .state = -1};

		assert_int_equal(
		    store_queue_list(r, &bad, collect, &got, NULL),
		    DBS_EINVAL);
		commit(r);
	}
	assert_int_equal(verify(f), 0);
}

static int
collect_due(void *ctx, const Dbs__Passenger *p)
{
	struct ids *ids = ctx;

	assert_int_equal(p->state, DBS__PASSENGER_STATE__PS_PENDING);
	ids->v[ids->n++] = p->id;
	return 0;
}

static void
counts(struct fx *f, const char *c, const char *d, uint64_t pe, uint64_t dn,
    uint64_t de)
{
	struct store_txn *t = rbegin(f);
	uint64_t p = 9, o = 9, x = 9;

	assert_int_equal(store_queue_counts(t, c, d, &p, &o, &x), DBS_OK);
	assert_int_equal(p, pe);
	assert_int_equal(o, dn);
	assert_int_equal(x, de);
	commit(t);
}

static void
test_state_due_counts(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	struct ids due;
	uint64_t id[6], p, d, x;
	int64_t next = 0;

	t = wbegin(f);
	for (int i = 0; i < 5; i++) {
		char ext[16];

		snprintf(ext, sizeof(ext), "e%d", i);
		id[i] = seat(t, "c", "d", ext);
	}
	id[5] = seat(t, "c", "other", "e0");
	/* Pending counts are visible inside the transaction. */
	assert_int_equal(store_queue_counts(t, "c", "d", &p, &d, &x), DBS_OK);
	assert_int_equal(p, 5);
	set_state(t, id[0], 0, 500, 0);
	set_state(t, id[1], 0, 100, 0);
	set_state(t, id[2], 0, 300, 0);
	set_state(t, id[3], 0, 100, 0);
	set_state(t, id[4], 0, 900, 0);
	assert_int_equal(store_queue_counts(t, "c", "d", &p, &d, &x), DBS_OK);
	assert_int_equal(p, 5);
	commit(t);

	t = rbegin(f);
	due.n = 0;
	assert_int_equal(
	    store_queue_due(t, "c", "d", 500, 0, collect_due, &due), DBS_OK);
	assert_int_equal(due.n, 4); /* 100 (1, 3), 300, 500 */
	assert_int_equal(due.v[0], id[1]);
	assert_int_equal(due.v[1], id[3]);
	assert_int_equal(due.v[2], id[2]);
	assert_int_equal(due.v[3], id[0]);
	due.n = 0;
	assert_int_equal(
	    store_queue_due(t, "c", "d", 10000, 2, collect_due, &due), DBS_OK);
	assert_int_equal(due.n, 2);
	{
		/* Keys only, after a cursor: (100, id[1]) is the cursor's
		 * own key, so 100/id[3], 300, 500 follow; then at most 2. */
		uint64_t ids[8];
		int64_t dues[8];
		size_t n = 0;
		uint64_t lo = id[1] < id[3] ? id[1] : id[3];
		uint64_t hi = id[1] < id[3] ? id[3] : id[1];

		assert_int_equal(store_queue_due_ids(
				     t, "c", "d", 500, 0, 0, 8, ids, dues, &n),
		    DBS_OK);
		assert_int_equal(n, 4);
		assert_int_equal(ids[0], lo);
		assert_int_equal(dues[0], 100);
		assert_int_equal(ids[3], id[0]);
		assert_int_equal(store_queue_due_ids(t, "c", "d", 500, 100, lo,
				     8, ids, dues, &n),
		    DBS_OK);
		assert_int_equal(n, 3);
		assert_int_equal(ids[0], hi);
		assert_int_equal(ids[1], id[2]);
		assert_int_equal(dues[1], 300);
		assert_int_equal(store_queue_due_ids(t, "c", "d", 10000, 100,
				     hi, 2, ids, dues, &n),
		    DBS_OK);
		assert_int_equal(n, 2);
		assert_int_equal(ids[0], id[2]);
		assert_int_equal(ids[1], id[0]);
		/* Past the last one, and another definition: nothing. */
		assert_int_equal(store_queue_due_ids(t, "c", "d", 10000, 900,
				     id[4], 8, ids, dues, &n),
		    DBS_OK);
		assert_int_equal(n, 0);
		assert_int_equal(store_queue_due_ids(t, "c", "none", 10000, 0,
				     0, 8, ids, dues, &n),
		    DBS_OK);
		assert_int_equal(n, 0);
	}
	assert_int_equal(store_queue_next_due(t, "c", "d", &next), DBS_OK);
	assert_int_equal(next, 100);
	assert_int_equal(
	    store_queue_next_due(t, "c", "none", &next), DBS_ENOTFOUND);
	commit(t);
	counts(f, "c", "d", 5, 0, 0);
	counts(f, "c", NULL, 6, 0, 0);
	counts(f, NULL, NULL, 6, 0, 0);

	/* DONE and DEAD leave the due index; DONE enters the done index. */
	t = wbegin(f);
	set_state(t, id[1], DBS__PASSENGER_STATE__PS_DONE, 100, 7000);
	set_state(t, id[3], DBS__PASSENGER_STATE__PS_DEAD, 100, 7000);
	set_state(t, id[2], 0, 50, 0); /* moves within due */
	commit(t);
	t = rbegin(f);
	due.n = 0;
	assert_int_equal(
	    store_queue_due(t, "c", "d", 500, 0, collect_due, &due), DBS_OK);
	assert_int_equal(due.n, 2);
	assert_int_equal(due.v[0], id[2]);
	assert_int_equal(due.v[1], id[0]);
	assert_int_equal(store_queue_next_due(t, "c", "d", &next), DBS_OK);
	assert_int_equal(next, 50);
	commit(t);
	counts(f, "c", "d", 3, 1, 1);
	counts(f, NULL, NULL, 4, 1, 1);
	assert_int_equal(verify(f), 0);

	/* A dead passenger requeued is due again. */
	t = wbegin(f);
	set_state(t, id[3], 0, 10, 0);
	commit(t);
	counts(f, "c", "d", 4, 1, 0);
	t = rbegin(f);
	assert_int_equal(store_queue_next_due(t, "c", "d", &next), DBS_OK);
	assert_int_equal(next, 10);
	commit(t);

	/* Identity is immutable. */
	t = wbegin(f);
	{
		Dbs__Passenger *g;
		char *puller;

		assert_int_equal(store_passenger_get(t, id[0], &g), DBS_OK);
		puller = g->puller;
		g->puller = "changed";
		assert_int_equal(store_passenger_put(t, g), DBS_EINVAL);
		g->puller = puller;
		g->id = 4242;
		assert_int_equal(store_passenger_put(t, g), DBS_ENOTFOUND);
		dbs__passenger__free_unpacked(g, NULL);
	}
	commit(t);
	assert_int_equal(verify(f), 0);
}

static void
test_purge(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	uint64_t n = 0, id;
	char ext[16];

	t = wbegin(f);
	for (int i = 0; i < 30; i++) {
		const char *c = i % 3 == 0 ? "a" : "b";
		const char *d = i % 2 == 0 ? "x" : "y";

		snprintf(ext, sizeof(ext), "e%d", i);
		id = seat(t, c, d, ext);
		if (i < 20)
			set_state(t, id, DBS__PASSENGER_STATE__PS_DONE, 0,
			    1000 + i * 100);
		else if (i < 25)
			set_state(
			    t, id, DBS__PASSENGER_STATE__PS_DEAD, 0, 1000);
	}
	commit(t);
	counts(f, NULL, NULL, 5, 20, 5);

	/* DONE before 1500: i = 0..4. */
	t = wbegin(f);
	assert_int_equal(
	    store_queue_purge(t, NULL, NULL, 1500, 0, &n), DBS_OK);
	assert_int_equal(n, 5);
	commit(t);
	counts(f, NULL, NULL, 5, 15, 5);
	/* One client, one definition: a, x is i % 6 == 0 (6, 12, 18). */
	t = wbegin(f);
	assert_int_equal(
	    store_queue_purge(t, "a", "x", 100000, 0, &n), DBS_OK);
	assert_int_equal(n, 3);
	commit(t);
	counts(f, "a", "x", 0, 0, 1);
	/* With a maximum. */
	t = wbegin(f);
	assert_int_equal(
	    store_queue_purge(t, "b", NULL, 100000, 4, &n), DBS_OK);
	assert_int_equal(n, 4);
	assert_int_equal(
	    store_queue_purge(t, NULL, NULL, 100000, 0, &n), DBS_OK);
	assert_int_equal(n, 8);
	commit(t);
	counts(f, NULL, NULL, 5, 0, 5);
	assert_int_equal(verify(f), 0);
}

static uint64_t
client_bytes(struct fx *f, const char *client)
{
	struct store_txn *t = rbegin(f);
	uint64_t n = 0;

	assert_int_equal(store_client_bytes(t, client, &n), DBS_OK);
	commit(t);
	return n;
}

/* Each client's bytes (usage.c) follow seats with attachments, record
 * and attachment changes, deletes and purges, commit by commit; an
 * aborted batch changes nothing; a reopened store keeps them. */
static void
test_client_bytes(void **state)
{
	struct fx *f = *state;
	Dbs__Passenger p = DBS__PASSENGER__INIT, *got = NULL;
	Dbs__Attachment a = DBS__ATTACHMENT__INIT, *ap = &a;
	static uint8_t body[10000];
	struct store_txn *t;
	uint64_t id, id2, n, in_txn;
	bool dup;

	a.name = "body";
	a.content_type = "text/plain";
	a.data.data = body;
	a.data.len = sizeof(body);
	p.client = "a";
	p.definition = "x";
	p.puller = "in";
	p.external_id = "e1";
	assert_int_equal(client_bytes(f, "a"), 0);
	t = wbegin(f);
	assert_int_equal(
	    store_passenger_seat(t, &p, &ap, 1, &id, &dup), DBS_OK);
	assert_int_equal(store_client_bytes(t, "a", &in_txn), DBS_OK);
	store_txn_abort(t);
	assert_true(in_txn > sizeof(body) && in_txn < sizeof(body) + 200);
	assert_int_equal(client_bytes(f, "a"), 0);

	t = wbegin(f);
	assert_int_equal(
	    store_passenger_seat(t, &p, &ap, 1, &id, &dup), DBS_OK);
	p.external_id = "e2";
	assert_int_equal(
	    store_passenger_seat(t, &p, &ap, 1, &id2, &dup), DBS_OK);
	seat(t, "b", "x", "other");
	commit(t);
	n = client_bytes(f, "a");
	assert_true(n > 2 * sizeof(body) && n < 2 * sizeof(body) + 400);
	assert_true(client_bytes(f, "b") > 0 && client_bytes(f, "b") < 200);

	/* A record that names a smaller attachment is charged less. */
	t = wbegin(f);
	assert_int_equal(store_passenger_get(t, id, &got), DBS_OK);
	got->attachments[0]->size = 10;
	got->state = DBS__PASSENGER_STATE__PS_DONE;
	got->done_ms = 1000;
	assert_int_equal(store_passenger_put(t, got), DBS_OK);
	dbs__passenger__free_unpacked(got, NULL);
	commit(t);
	assert_true(client_bytes(f, "a") < n - sizeof(body) + 100);

	/* Purge and delete bring it back to nothing. */
	t = wbegin(f);
	assert_int_equal(store_queue_purge(t, "a", NULL, 2000, 0, &n), DBS_OK);
	assert_int_equal(n, 1);
	commit(t);
	n = client_bytes(f, "a");
	assert_true(n > sizeof(body) && n < sizeof(body) + 200);
	t = wbegin(f);
	assert_int_equal(store_passenger_delete(t, id2), DBS_OK);
	commit(t);
	assert_int_equal(client_bytes(f, "a"), 0);

	/* Kept across a reopen. */
	n = client_bytes(f, "b");
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(fx_open(f, STORE_RDWR, &f->opt, &f->st), DBS_OK);
	assert_int_equal(client_bytes(f, "b"), n);
}

/* Drop from `live` the passengers that are gone (purged). */
static size_t
prune(struct fx *f, uint64_t *live, size_t n)
{
	struct store_txn *t = rbegin(f);
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		Dbs__Passenger *p = NULL;
		int rc = store_passenger_get(t, live[i], &p);

		assert_true(rc == DBS_OK || rc == DBS_ENOTFOUND);
		if (rc == DBS_OK)
			live[kept++] = live[i];
		dbs__passenger__free_unpacked(p, NULL);
	}
	commit(t);
	return kept;
}

/* Random operations, some rounds aborted, then verify; the counts must
 * match a tally of the passengers known to be alive. */
static void
test_random_mix_verify(void **state)
{
	struct fx *f = *state;
	static uint64_t live[4000], saved[4000];
	size_t n = 0, saved_n;
	uint64_t tally[3] = {0, 0, 0}, purged, c[3];
	unsigned seed = 12345;
	Dbs__StoreStats stats;
	struct store_txn *t;
	char ext[32];

	for (int round = 0; round < 30; round++) {
		t = wbegin(f);
		memcpy(saved, live, n * sizeof(live[0]));
		saved_n = n;
		for (int op = 0; op < 100; op++) {
			int r = rand_r(&seed) % 10;

			if (r < 4 || n == 0) {
				Dbs__Passenger p = DBS__PASSENGER__INIT;
				Dbs__Attachment a = DBS__ATTACHMENT__INIT;
				Dbs__Attachment *atts[1] = {&a};
				uint64_t id;
				bool dup;

				snprintf(ext, sizeof(ext), "r%d",
				    rand_r(&seed) % 3000);
				p.client = rand_r(&seed) % 2 ? "c1" : "c2";
				p.definition = rand_r(&seed) % 2 ? "d1" : "d2";
				p.puller = "p";
				p.external_id = ext;
				a.name = "att";
				a.data.data = (uint8_t *)ext;
				a.data.len = strlen(ext);
				assert_int_equal(
				    store_passenger_seat(t, &p, atts,
					rand_r(&seed) % 2, &id, &dup),
				    DBS_OK);
				if (!dup)
					live[n++] = id;
			} else if (r < 8) {
				size_t i = (size_t)rand_r(&seed) % n;
				int s = rand_r(&seed) % 3;

				set_state(t, live[i], s, rand_r(&seed) % 1000,
				    s ? rand_r(&seed) % 1000 : 0);
			} else if (r < 9) {
				size_t i = (size_t)rand_r(&seed) % n;

				assert_int_equal(
				    store_passenger_delete(t, live[i]),
				    DBS_OK);
				live[i] = live[--n];
			} else {
				size_t i = (size_t)rand_r(&seed) % n;

				assert_int_equal(
				    store_attachment_put(
					t, live[i], "extra", "zz", 2),
				    DBS_OK);
				assert_int_equal(store_attachment_delete(
						     t, live[i], "extra"),
				    DBS_OK);
			}
		}
		if (round % 7 == 6) {
			/* DONE before 300 go, in a round that is aborted. */
			assert_int_equal(
			    store_queue_purge(t, NULL, NULL, 300, 0, &purged),
			    DBS_OK);
			store_txn_abort(t);
			memcpy(live, saved, saved_n * sizeof(live[0]));
			n = saved_n;
			continue;
		}
		if (round % 10 == 9)
			assert_int_equal(
			    store_queue_purge(t, "c1", NULL, 500, 0, &purged),
			    DBS_OK);
		commit(t);
		n = prune(f, live, n);
	}
	assert_int_equal(verify(f), 0);

	t = rbegin(f);
	for (size_t i = 0; i < n; i++) {
		Dbs__Passenger *p = NULL;

		assert_int_equal(store_passenger_get(t, live[i], &p), DBS_OK);
		tally[p->state]++;
		dbs__passenger__free_unpacked(p, NULL);
	}
	assert_int_equal(
	    store_queue_counts(t, NULL, NULL, &c[0], &c[1], &c[2]), DBS_OK);
	assert_int_equal(c[0], tally[0]);
	assert_int_equal(c[1], tally[1]);
	assert_int_equal(c[2], tally[2]);
	assert_int_equal(store_stats(t, &stats), DBS_OK);
	assert_int_equal(stats.passengers, n);
	commit(t);
}

/* Break an index behind the store's back: verify must say so. */
static void
test_verify_detects_corruption(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	MDB_env *env;
	MDB_txn *mt;
	MDB_dbi dbi;
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t bogus[] = {'c', 0, 'd', 0, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
	    0, 0, 0, 0, 42};
	uint64_t problems = 0;

	t = wbegin(f);
	for (int i = 0; i < 3; i++) {
		char ext[16];

		snprintf(ext, sizeof(ext), "e%d", i);
		seat(t, "c", "d", ext);
	}
	commit(t);
	assert_int_equal(verify(f), 0);
	if (pg_conninfo != NULL) {
		/* A dedup row lost, a count wrong, behind the store's back. */
		pg_sql(f, "DELETE FROM dedup WHERE passenger = 1;"
			  " UPDATE counts SET pending = 7");
		t = rbegin(f);
		assert_int_equal(
		    store_verify(t, print_problem, NULL, &problems), DBS_OK);
		commit(t);
		assert_int_equal(problems, 2);
		return;
	}
	store_close(f->st);
	f->st = NULL;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
	assert_int_equal(mdb_env_open(env, f->dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &mt), 0);
	assert_int_equal(mdb_dbi_open(mt, "q.client", 0, &dbi), 0);
	assert_int_equal(mdb_cursor_open(mt, dbi, &c), 0);
	assert_int_equal(mdb_cursor_get(c, &k, &v, MDB_FIRST), 0);
	assert_int_equal(mdb_cursor_del(c, 0), 0);
	mdb_cursor_close(c);
	assert_int_equal(mdb_dbi_open(mt, "q.done", 0, &dbi), 0);
	k.mv_size = sizeof(bogus);
	k.mv_data = bogus;
	v.mv_size = 0;
	v.mv_data = "";
	assert_int_equal(mdb_put(mt, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(mt), 0);
	mdb_env_close(env);

	open_store(f);
	t = rbegin(f);
	assert_int_equal(
	    store_verify(t, print_problem, NULL, &problems), DBS_OK);
	commit(t);
	assert_int_equal(problems, 2);
}

static void
test_group_commit(void **state)
{
	struct fx *f = *state;
	struct store_query q = {.client = "c", .state = -1};
	struct store_txn *t;
	struct ids *ids = malloc(sizeof(*ids));
	uint64_t last = 0;
	char ext[16];

	assert_non_null(ids);
	t = wbegin(f);
	for (int i = 0; i < 1000; i++) {
		snprintf(ext, sizeof(ext), "g%d", i);
		last = seat(t, "c", "d", ext);
	}
	assert_int_equal(store_txn_changes(t), 1000);
	/* Not visible to a reader before the commit. */
	{
		struct store_txn *r = rbegin(f);
		uint64_t p = 1;

		assert_int_equal(
		    store_queue_counts(r, "c", NULL, &p, NULL, NULL), DBS_OK);
		assert_int_equal(p, 0);
		commit(r);
	}
	commit(t);
	list_all(f, q, 0, ids);
	assert_int_equal(ids->n, 1000);
	assert_int_equal(ids->v[999], last);

	t = wbegin(f);
	for (int i = 0; i < 1000; i++) {
		snprintf(ext, sizeof(ext), "h%d", i);
		seat(t, "c", "d", ext);
	}
	store_txn_abort(t);
	list_all(f, q, 0, ids);
	assert_int_equal(ids->n, 1000);
	counts(f, "c", "d", 1000, 0, 0);
	free(ids);
	assert_int_equal(verify(f), 0);
}

/* ------------------------------------------------------------------ logs */

struct logs {
	uint64_t id[64];
	size_t n;
};

static int
collect_log(void *ctx, const Dbs__Log *log)
{
	struct logs *l = ctx;

	l->id[l->n++] = log->id;
	return 0;
}

static uint64_t
put_log(
    struct store_txn *t, const char *client, int64_t finished, uint64_t about)
{
	Dbs__Log log = DBS__LOG__INIT;
	Dbs__LogEntry e = DBS__LOG_ENTRY__INIT, *ents[1] = {&e};

	log.client = (char *)client;
	log.definition = "d";
	log.finished_ms = finished;
	log.outcome = "ok";
	e.message = "seated";
	e.passenger_id = about;
	log.n_entries = about ? 1 : 0;
	log.entries = ents;
	assert_int_equal(store_log_put(t, &log, NULL, 0), DBS_OK);
	assert_true(log.id > 0);
	return log.id;
}

static void
test_logs(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	struct logs l;
	Dbs__Log log = DBS__LOG__INIT, *g;
	uint64_t ids[3] = {1, 2, 3}, next = 0, n = 0, lid[8];

	t = wbegin(f);
	for (int i = 0; i < 6; i++)
		lid[i] = put_log(
		    t, i % 2 ? "b" : "a", 1000 * (i + 1), i == 4 ? 7 : 0);
	log.client = "a";
	log.finished_ms = 500;
	assert_int_equal(store_log_put(t, &log, ids, 3), DBS_OK);
	lid[6] = log.id;
	assert_int_equal(lid[6], 7);
	commit(t);

	t = rbegin(f);
	assert_int_equal(store_log_get(t, lid[2], &g), DBS_OK);
	assert_string_equal(g->client, "a");
	assert_int_equal(g->finished_ms, 3000);
	dbs__log__free_unpacked(g, NULL);
	/* Newest first, paged. */
	l.n = 0;
	assert_int_equal(
	    store_log_list(t, NULL, 0, 4, collect_log, &l, &next), DBS_OK);
	assert_int_equal(l.n, 4);
	assert_int_equal(l.id[0], 7);
	assert_int_equal(next, 4);
	assert_int_equal(
	    store_log_list(t, NULL, next, 4, collect_log, &l, &next), DBS_OK);
	assert_int_equal(l.n, 7);
	assert_int_equal(l.id[6], 1);
	assert_int_equal(next, 0);
	l.n = 0;
	assert_int_equal(
	    store_log_list(t, "a", 0, 0, collect_log, &l, &next), DBS_OK);
	assert_int_equal(l.n, 4); /* 7, 5, 3, 1 */
	assert_int_equal(l.id[0], 7);
	assert_int_equal(l.id[3], 1);
	l.n = 0;
	assert_int_equal(
	    store_log_list(t, "a", 5, 1, collect_log, &l, &next), DBS_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.id[0], 3);
	assert_int_equal(next, 3);
	/* Links from passenger_ids and from entries. */
	l.n = 0;
	assert_int_equal(
	    store_log_list_for_passenger(t, "a", 2, collect_log, &l), DBS_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.id[0], 7);
	l.n = 0;
	assert_int_equal(
	    store_log_list_for_passenger(t, "a", 7, collect_log, &l), DBS_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.id[0], lid[4]);
	l.n = 0;
	assert_int_equal(
	    store_log_list_for_passenger(t, "b", 7, collect_log, &l), DBS_OK);
	assert_int_equal(l.n, 0);
	commit(t);
	assert_int_equal(verify(f), 0);

	/* Purge by finished time per client, then everything. */
	t = wbegin(f);
	assert_int_equal(store_log_purge(t, "a", 3500, &n), DBS_OK);
	assert_int_equal(n, 3); /* 500, 1000, 3000 */
	assert_int_equal(store_log_purge(t, NULL, 4500, &n), DBS_OK);
	assert_int_equal(n, 2); /* b's 2000, 4000 */
	commit(t);
	assert_int_equal(verify(f), 0);
	t = rbegin(f);
	l.n = 0;
	assert_int_equal(
	    store_log_list(t, NULL, 0, 0, collect_log, &l, NULL), DBS_OK);
	assert_int_equal(l.n, 2);
	l.n = 0;
	assert_int_equal(
	    store_log_list_for_passenger(t, "a", 2, collect_log, &l), DBS_OK);
	assert_int_equal(l.n, 0);
	commit(t);
	t = wbegin(f);
	assert_int_equal(store_log_purge(t, NULL, 0, &n), DBS_OK);
	assert_int_equal(n, 2);
	commit(t);
	assert_int_equal(verify(f), 0);
}

/* ------------------------------------------------------- users, sessions */

static int
count_user(void *ctx, const Dbs__User *u)
{
	(*(int *)ctx)++;
	assert_string_not_equal(u->username, "");
	return 0;
}

static void
test_users_sessions(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	Dbs__User u = DBS__USER__INIT, *g;
	Dbs__Session s = DBS__SESSION__INIT, *gs;
	uint8_t h[4][32];
	uint64_t n = 0;
	int listed = 0;

	u.client = "acme";
	u.username = "ann";
	u.password_hash = "$argon2id$v=19$...";
	u.role = DBS__ROLE__ROLE_ADMINISTRATOR;
	t = wbegin(f);
	assert_int_equal(store_user_put(t, &u), DBS_OK);
	u.username = "bob";
	assert_int_equal(store_user_put(t, &u), DBS_OK);
	u.client = "other";
	assert_int_equal(store_user_put(t, &u), DBS_OK);
	u.client = "";
	assert_int_equal(store_user_put(t, &u), DBS_EINVAL);
	for (int i = 0; i < 4; i++) {
		memset(h[i], i + 1, sizeof(h[i]));
		s.token_hash.data = h[i];
		s.token_hash.len = sizeof(h[i]);
		s.client = "acme";
		s.username = i < 3 ? "ann" : "bob";
		s.expires_ms = 1000 * (i + 1);
		assert_int_equal(store_session_put(t, &s), DBS_OK);
	}
	commit(t);

	t = rbegin(f);
	assert_int_equal(store_user_get(t, "acme", "ann", &g), DBS_OK);
	assert_string_equal(g->password_hash, "$argon2id$v=19$...");
	assert_int_equal(g->role, DBS__ROLE__ROLE_ADMINISTRATOR);
	dbs__user__free_unpacked(g, NULL);
	assert_int_equal(store_user_get(t, "acme", "zed", &g), DBS_ENOTFOUND);
	assert_int_equal(store_user_count(t, "acme", &n), DBS_OK);
	assert_int_equal(n, 2);
	assert_int_equal(store_user_count(t, NULL, &n), DBS_OK);
	assert_int_equal(n, 3);
	assert_int_equal(
	    store_user_list(t, "acme", count_user, &listed), DBS_OK);
	assert_int_equal(listed, 2);
	assert_int_equal(store_session_get(t, h[1], 32, &gs), DBS_OK);
	assert_string_equal(gs->username, "ann");
	assert_int_equal(gs->expires_ms, 2000);
	dbs__session__free_unpacked(gs, NULL);
	commit(t);

	t = wbegin(f);
	assert_int_equal(store_session_expire(t, 1500, &n), DBS_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_session_get(t, h[0], 32, &gs), DBS_ENOTFOUND);
	assert_int_equal(
	    store_session_revoke_user(t, "acme", "ann", &n), DBS_OK);
	assert_int_equal(n, 2);
	assert_int_equal(store_session_get(t, h[2], 32, &gs), DBS_ENOTFOUND);
	assert_int_equal(store_session_get(t, h[3], 32, &gs), DBS_OK);
	dbs__session__free_unpacked(gs, NULL);
	/* Deleting a user ends its sessions. */
	assert_int_equal(store_user_delete(t, "acme", "bob"), DBS_OK);
	assert_int_equal(store_user_delete(t, "acme", "bob"), DBS_ENOTFOUND);
	assert_int_equal(store_session_get(t, h[3], 32, &gs), DBS_ENOTFOUND);
	assert_int_equal(store_session_delete(t, h[3], 32), DBS_ENOTFOUND);
	commit(t);
	assert_int_equal(verify(f), 0);
}

/* The mark of an imported user outlives the user, and a reader of a store
 * that no writer of this version opened yet (no users.imported) sees no
 * mark instead of failing. */
static void
test_users_imported(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	struct store *ro = NULL;
	Dbs__User u = DBS__USER__INIT;
	MDB_env *env;
	MDB_txn *mt;
	MDB_dbi dbi;
	bool imported = true;

	u.client = "acme";
	u.username = "ann";
	u.password_hash = "$argon2id$v=19$...";
	t = wbegin(f);
	assert_int_equal(
	    store_user_imported(t, "acme", "ann", &imported), DBS_OK);
	assert_false(imported);
	assert_int_equal(store_user_put(t, &u), DBS_OK);
	assert_int_equal(store_user_mark_imported(t, "acme", "ann"), DBS_OK);
	assert_int_equal(store_user_mark_imported(t, "", "ann"), DBS_EINVAL);
	commit(t);
	t = wbegin(f);
	assert_int_equal(store_user_delete(t, "acme", "ann"), DBS_OK);
	commit(t);
	reopen(f);
	t = rbegin(f);
	assert_int_equal(
	    store_user_imported(t, "acme", "ann", &imported), DBS_OK);
	assert_true(imported);
	assert_int_equal(
	    store_user_imported(t, "acme", "bob", &imported), DBS_OK);
	assert_false(imported);
	commit(t);
	assert_int_equal(verify(f), 0);

	/* An older store: the added databases are missing. */
	LMDB_ONLY("an LMDB store made before users.imported existed");
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
	assert_int_equal(mdb_env_open(env, f->dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &mt), 0);
	assert_int_equal(mdb_dbi_open(mt, "users.imported", 0, &dbi), 0);
	assert_int_equal(mdb_drop(mt, dbi, 1), 0);
	assert_int_equal(mdb_dbi_open(mt, "q.dedup.exp", 0, &dbi), 0);
	assert_int_equal(mdb_drop(mt, dbi, 1), 0);
	assert_int_equal(mdb_txn_commit(mt), 0);
	mdb_env_close(env);
	assert_int_equal(store_open(f->dir, STORE_RDONLY, NULL, &ro), DBS_OK);
	assert_int_equal(store_txn_begin(ro, false, &t), DBS_OK);
	assert_int_equal(
	    store_user_imported(t, "acme", "ann", &imported), DBS_OK);
	assert_false(imported);
	commit(t);
	store_close(ro);
	open_store(f); /* a writer creates them again */
	assert_int_equal(verify(f), 0);
}

/* --------------------------------------------------- dedup horizon */

static bool
seat_dup(struct fx *f, const char *ext, uint64_t *id)
{
	struct store_txn *t = wbegin(f);
	bool dup = false;

	assert_int_equal(seat_rc(t, "a", "x", "in", ext, id, &dup), DBS_OK);
	commit(t);
	return dup;
}

static uint64_t
purge_all(struct fx *f)
{
	struct store_txn *t = wbegin(f);
	uint64_t n = 0;

	assert_int_equal(
	    store_queue_purge(t, NULL, NULL, INT64_MAX, 0, &n), DBS_OK);
	commit(t);
	return n;
}

static uint64_t
sweep(struct fx *f, int64_t now)
{
	struct store_txn *t = wbegin(f);
	uint64_t n = 9;

	assert_int_equal(store_dedup_sweep(t, now, 0, &n), DBS_OK);
	commit(t);
	return n;
}

/* A purged passenger's key stays a duplicate until the horizon has
 * passed; then a seat takes it over, or the sweep forgets it. */
static void
test_dedup_horizon(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	uint64_t id, id2;
	const struct timespec ms20 = {0, 20 * 1000 * 1000};

	/* The default horizon (7 days). */
	assert_false(seat_dup(f, "k1", &id));
	t = wbegin(f);
	set_state(t, id, DBS__PASSENGER_STATE__PS_DONE, 0, 1000);
	commit(t);
	assert_int_equal(purge_all(f), 1);
	assert_true(seat_dup(f, "k1", &id2));
	assert_int_equal(id2, id);
	assert_int_equal(verify(f), 0);
	assert_int_equal(sweep(f, now_ms()), 0);
	assert_true(seat_dup(f, "k1", &id2));
	/* Deleting a passenger by hand frees its key at once. */
	assert_false(seat_dup(f, "k2", &id));
	t = wbegin(f);
	assert_int_equal(store_passenger_delete(t, id), DBS_OK);
	commit(t);
	assert_false(seat_dup(f, "k2", &id2));
	assert_true(id2 > id);

	/* A short horizon: expired, the key is free again. */
	store_set_dedup_horizon(f->st, 1);
	assert_false(seat_dup(f, "k3", &id));
	t = wbegin(f);
	set_state(t, id, DBS__PASSENGER_STATE__PS_DONE, 0, 1000);
	set_state(t, id2, DBS__PASSENGER_STATE__PS_DONE, 0, 1000);
	commit(t);
	assert_int_equal(purge_all(f), 2);
	nanosleep(&ms20, NULL);
	assert_int_equal(verify(f), 0);
	assert_false(seat_dup(f, "k3", &id2)); /* taken over */
	assert_true(id2 > id);
	assert_int_equal(verify(f), 0);
	assert_int_equal(sweep(f, now_ms()), 1); /* k2 */
	assert_true(seat_dup(f, "k3", &id));     /* the live one */
	assert_int_equal(id, id2);
	assert_true(seat_dup(f, "k1", &id));          /* 7 days still */
	assert_int_equal(sweep(f, INT64_MAX / 2), 1); /* k1 */
	assert_false(seat_dup(f, "k1", &id));
	assert_int_equal(verify(f), 0);

	/* No horizon: the key goes with the passenger. */
	store_set_dedup_horizon(f->st, -1);
	t = wbegin(f);
	set_state(t, id, DBS__PASSENGER_STATE__PS_DONE, 0, 1000);
	commit(t);
	assert_int_equal(purge_all(f), 1);
	assert_false(seat_dup(f, "k1", &id2));
	assert_int_equal(sweep(f, INT64_MAX / 2), 0);
	assert_int_equal(verify(f), 0);
}

/* -------------------------------------------------------- config backups */

static int
collect_backup(void *ctx, const Dbs__ConfigBackup *b)
{
	struct ids *ids = ctx;

	ids->v[ids->n++] = b->version;
	return 0;
}

static void
test_config_backups(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	Dbs__ConfigBackup *b;
	struct ids ids;
	uint64_t v = 0;

	t = wbegin(f);
	for (int i = 1; i <= 3; i++) {
		char text[32];

		snprintf(text, sizeof(text), "{\"v\":%d}", i);
		assert_int_equal(store_config_backup_put(t, "__databus",
				     "root", text, strlen(text), 1000 * i, &v),
		    DBS_OK);
		assert_int_equal(v, (uint64_t)i);
	}
	assert_int_equal(
	    store_config_backup_put(t, "__databus2", NULL, "x", 1, 5, &v),
	    DBS_OK);
	assert_int_equal(v, 1);
	commit(t);

	t = rbegin(f);
	assert_int_equal(
	    store_config_backup_get(t, "__databus", 2, &b), DBS_OK);
	assert_int_equal(b->version, 2);
	assert_string_equal(b->author, "root");
	assert_int_equal(b->time_ms, 2000);
	assert_memory_equal(b->content.data, "{\"v\":2}", b->content.len);
	dbs__config_backup__free_unpacked(b, NULL);
	assert_int_equal(
	    store_config_backup_get(t, "__databus", 0, &b), DBS_OK);
	assert_int_equal(b->version, 3);
	dbs__config_backup__free_unpacked(b, NULL);
	assert_int_equal(
	    store_config_backup_get(t, "__databus", 4, &b), DBS_ENOTFOUND);
	assert_int_equal(
	    store_config_backup_get(t, "__none", 0, &b), DBS_ENOTFOUND);
	ids.n = 0;
	assert_int_equal(
	    store_config_backup_list(t, "__databus", collect_backup, &ids),
	    DBS_OK);
	assert_int_equal(ids.n, 3);
	assert_int_equal(ids.v[0], 3);
	assert_int_equal(ids.v[2], 1);
	commit(t);
	assert_int_equal(verify(f), 0);
}

/* ------------------------------------------------------------ event log */

struct evs {
	uint64_t seq[512];
	int kind[512];
	int res[512];
	char client[512][16];
	size_t items[512];
	size_t n;
};

static int
collect_event(void *ctx, const Dbs__Event *ev)
{
	struct evs *e = ctx;
	size_t i = e->n++;

	e->seq[i] = ev->seq;
	e->kind[i] = ev->kind;
	e->res[i] = ev->resource;
	snprintf(e->client[i], sizeof(e->client[i]), "%s", ev->client);
	e->items[i] = 0;
	if (ev->kind >= DBS__EVENT_KIND__EV_CREATE_LIST) {
		Dbs__PassengerList *l = dbs__passenger_list__unpack(
		    NULL, ev->data.len, ev->data.data);

		assert_non_null(l);
		e->items[i] = l->n_items;
		for (size_t k = 0; k < l->n_items; k++) {
			assert_string_equal(l->items[k]->client, ev->client);
			assert_true(l->items[k]->id > 0);
			if (ev->kind == DBS__EVENT_KIND__EV_DELETE_LIST)
				assert_string_equal(
				    l->items[k]->definition, "");
			else
				assert_string_equal(
				    l->items[k]->definition, "d");
		}
		dbs__passenger_list__free_unpacked(l, NULL);
	}
	return 0;
}

/* A callback may stop with any value, even one that looks like an error
 * code of the store: it comes back as is. */
static int
stop_with_3(void *ctx, const Dbs__Event *ev)
{
	(void)ctx;
	(void)ev;
	return 3;
}

static void
test_events(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	struct evs *e = calloc(1, sizeof(*e));
	uint64_t seq = 0, first, last, a1, b1, n;

	assert_non_null(e);
	t = wbegin(f);
	assert_int_equal(store_event_append(t, "", DBS__RESOURCE__RES_SYSTEM,
			     DBS__EVENT_KIND__EV_UPDATE, "x", 1, &seq),
	    DBS_OK);
	assert_int_equal(seq, 1);
	a1 = seat(t, "A", "d", "1");
	seat(t, "A", "d", "2");
	b1 = seat(t, "B", "d", "1");
	seat(t, "A", "d", "3");
	seat(t, "B", "d", "2");
	commit(t);

	t = wbegin(f);
	set_state(t, a1, 0, 5, 0);
	assert_int_equal(store_passenger_delete(t, b1), DBS_OK);
	assert_int_equal(store_event_append(t, "A", DBS__RESOURCE__RES_WORKER,
			     DBS__EVENT_KIND__EV_UPDATE, NULL, 0, &seq),
	    DBS_OK);
	assert_int_equal(seq, 4);
	commit(t);

	t = rbegin(f);
	assert_int_equal(store_event_list(t, 0, 0, collect_event, e), DBS_OK);
	assert_int_equal(e->n, 6);
	for (size_t i = 0; i < e->n; i++)
		assert_int_equal(e->seq[i], i + 1); /* no gaps */
	assert_int_equal(e->kind[1], DBS__EVENT_KIND__EV_CREATE_LIST);
	assert_string_equal(e->client[1], "A");
	assert_int_equal(e->items[1], 3);
	assert_int_equal(e->res[1], DBS__RESOURCE__RES_QUEUE_ITEM);
	assert_int_equal(e->kind[2], DBS__EVENT_KIND__EV_CREATE_LIST);
	assert_string_equal(e->client[2], "B");
	assert_int_equal(e->items[2], 2);
	assert_int_equal(e->res[3], DBS__RESOURCE__RES_WORKER);
	assert_int_equal(e->kind[4], DBS__EVENT_KIND__EV_UPDATE_LIST);
	assert_int_equal(e->items[4], 1);
	assert_int_equal(e->kind[5], DBS__EVENT_KIND__EV_DELETE_LIST);
	assert_string_equal(e->client[5], "B");
	assert_int_equal(e->items[5], 1);
	e->n = 0;
	assert_int_equal(store_event_list(t, 4, 1, collect_event, e), DBS_OK);
	assert_int_equal(e->n, 1);
	assert_int_equal(e->seq[0], 5);
	assert_int_equal(store_event_range(t, &first, &last), DBS_OK);
	assert_int_equal(first, 1);
	assert_int_equal(last, 6);
	assert_int_equal(store_event_list(t, 0, 0, stop_with_3, NULL), 3);
	commit(t);

	t = wbegin(f);
	assert_int_equal(store_event_trim(t, 2, &n), DBS_OK);
	assert_int_equal(n, 4);
	commit(t);
	t = rbegin(f);
	assert_int_equal(store_event_range(t, &first, &last), DBS_OK);
	assert_int_equal(first, 5);
	assert_int_equal(last, 6);
	commit(t);
	free(e);
	assert_int_equal(verify(f), 0);
}

/* Retention by age: the oldest events go first, at most `max` per call,
 * and the newest one always stays. */
static void
test_event_trim_before(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	uint64_t first, last, n = 99;
	int64_t future = (int64_t)time(NULL) * 1000 + 3600 * 1000;

	t = wbegin(f);
	for (int i = 0; i < 6; i++)
		assert_int_equal(
		    store_event_append(t, "", DBS__RESOURCE__RES_SYSTEM,
			DBS__EVENT_KIND__EV_UPDATE, "abc", 3, NULL),
		    DBS_OK);
	commit(t);
	t = wbegin(f);
	assert_int_equal(store_event_trim_before(t, 1000, 0, &n), DBS_OK);
	assert_int_equal(n, 0); /* nothing is that old */
	assert_int_equal(store_event_trim_before(t, future, 2, &n), DBS_OK);
	assert_int_equal(n, 2);
	commit(t);
	t = rbegin(f);
	assert_int_equal(store_event_range(t, &first, &last), DBS_OK);
	assert_int_equal(first, 3);
	assert_int_equal(last, 6);
	commit(t);
	t = wbegin(f);
	assert_int_equal(store_event_trim_before(t, future, 0, &n), DBS_OK);
	assert_int_equal(n, 3);
	commit(t);
	t = rbegin(f);
	assert_int_equal(store_event_range(t, &first, &last), DBS_OK);
	assert_int_equal(first, 6);
	assert_int_equal(last, 6);
	commit(t);
	assert_int_equal(verify(f), 0);
}

static void
test_event_autotrim(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	uint64_t first, last;
	Dbs__StoreStats stats;

	f->opt.event_keep = 10;
	reopen(f);
	for (int i = 0; i < 300; i++) {
		t = wbegin(f);
		assert_int_equal(
		    store_event_append(t, "", DBS__RESOURCE__RES_SYSTEM,
			DBS__EVENT_KIND__EV_UPDATE, "", 0, NULL),
		    DBS_OK);
		commit(t);
		t = rbegin(f);
		assert_int_equal(store_stats(t, &stats), DBS_OK);
		assert_true(
		    stats.events >= 10 || stats.events == (uint64_t)i + 1);
		assert_true(stats.events <= 10 + 64);
		commit(t);
	}
	t = rbegin(f);
	assert_int_equal(store_event_range(t, &first, &last), DBS_OK);
	assert_int_equal(last, 300);
	assert_int_equal(store_stats(t, &stats), DBS_OK);
	assert_int_equal(stats.last_seq, 300);
	assert_int_equal(last - first + 1, stats.events);
	commit(t);
}

/* A long replay (more events than a page of the engine) comes whole and
 * in order, and a limit holds. */
static void
test_event_replay(void **state)
{
	struct fx *f = *state;
	struct evs *e = calloc(1, sizeof(*e));
	struct store_txn *t;

	assert_non_null(e);
	t = wbegin(f);
	for (int i = 0; i < 200; i++)
		assert_int_equal(
		    store_event_append(t, "", DBS__RESOURCE__RES_SYSTEM,
			DBS__EVENT_KIND__EV_UPDATE, "", 0, NULL),
		    DBS_OK);
	commit(t);
	t = rbegin(f);
	assert_int_equal(store_event_list(t, 3, 0, collect_event, e), DBS_OK);
	assert_int_equal(e->n, 197);
	for (size_t i = 0; i < e->n; i++)
		assert_int_equal(e->seq[i], i + 4);
	e->n = 0;
	assert_int_equal(
	    store_event_list(t, 10, 150, collect_event, e), DBS_OK);
	assert_int_equal(e->n, 150);
	assert_int_equal(e->seq[149], 160);
	commit(t);
	free(e);
}

/* Queue item lists hold whole records: the log is bounded in bytes too
 * (a quarter of max_size here), whatever event_keep says. */
static void
test_event_trim_bytes(void **state)
{
	struct fx *f = *state;
	static char big[4000];
	Dbs__KeyValue kv = DBS__KEY_VALUE__INIT, *kvs[1] = {&kv};
	Dbs__Passenger p = DBS__PASSENGER__INIT;
	struct store_txn *t;
	Dbs__StoreStats stats;
	uint64_t first, last;
	char ext[32];
	bool dup;

	LMDB_ONLY("the event log's byte budget is a share of the LMDB map");
	memset(big, 'm', sizeof(big) - 1);
	kv.key = "big";
	kv.value = big;
	p.client = "c";
	p.definition = "d";
	p.puller = "p";
	p.n_metadata = 1;
	p.metadata = kvs;
	store_close(f->st);
	f->st = NULL;
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	f->opt.map_size = 16u << 20;
	f->opt.max_size = 16u << 20;
	open_store(f);
	for (int i = 0; i < 200; i++) {
		uint64_t ids[10];

		t = wbegin(f);
		for (int k = 0; k < 10; k++) {
			snprintf(ext, sizeof(ext), "%d-%d", i, k);
			p.external_id = ext;
			assert_int_equal(store_passenger_seat(
					     t, &p, NULL, 0, &ids[k], &dup),
			    DBS_OK);
		}
		/* Each commit appends one list of about 40 KB... */
		commit(t);
		/* ...and one small list of deletes. */
		t = wbegin(f);
		for (int k = 0; k < 10; k++)
			assert_int_equal(
			    store_passenger_delete(t, ids[k]), DBS_OK);
		commit(t);
	}
	t = rbegin(f);
	assert_int_equal(store_stats(t, &stats), DBS_OK);
	assert_int_equal(store_event_range(t, &first, &last), DBS_OK);
	assert_int_equal(last, 400);
	assert_int_equal(stats.last_seq, 400);
	assert_int_equal(last - first + 1, stats.events); /* no gaps */
	assert_true(stats.events < 300);
	assert_true(stats.events >= 50);
	commit(t);
	assert_int_equal(verify(f), 0);
}

/* ------------------------------------------------------ ids and reopening */

static void
test_ids_never_reused(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	uint64_t id, n, seq = 0;

	f->opt.no_sync = false; /* this one commits with fsync */
	reopen(f);
	t = wbegin(f);
	seat(t, "c", "d", "1");
	seat(t, "c", "d", "2");
	id = seat(t, "c", "d", "3");
	assert_int_equal(id, 3);
	put_log(t, "c", 1, 0);
	put_log(t, "c", 2, 0);
	commit(t);
	t = wbegin(f);
	assert_int_equal(store_passenger_delete(t, 3), DBS_OK);
	assert_int_equal(store_passenger_delete(t, 2), DBS_OK);
	assert_int_equal(store_log_purge(t, NULL, 0, &n), DBS_OK);
	assert_int_equal(store_event_trim(t, 0, &n), DBS_OK);
	commit(t);
	reopen(f);
	t = wbegin(f);
	assert_int_equal(seat(t, "c", "d", "4"), 4);
	assert_int_equal(put_log(t, "c", 3, 0), 3);
	assert_int_equal(store_event_append(t, "", DBS__RESOURCE__RES_SYSTEM,
			     DBS__EVENT_KIND__EV_UPDATE, "", 0, &seq),
	    DBS_OK);
	/* After the 4 list events (items and logs created, then deleted). */
	assert_true(seq > 4);
	commit(t);
	/* An aborted transaction hands its ids out again. */
	t = wbegin(f);
	assert_int_equal(seat(t, "c", "d", "5"), 5);
	store_txn_abort(t);
	t = wbegin(f);
	assert_int_equal(seat(t, "c", "d", "5"), 5);
	commit(t);
	assert_int_equal(verify(f), 0);
}

/* -------------------------------------------------- processes and locks */

static void
child_send(int fd, uint64_t v)
{
	if (write(fd, &v, sizeof(v)) != sizeof(v))
		_exit(90);
}

static uint64_t
child_recv(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		_exit(91);
	return v;
}

static uint64_t
passengers_now(struct store *st)
{
	struct store_txn *t;
	Dbs__StoreStats stats;

	if (store_txn_begin(st, false, &t) != DBS_OK)
		return UINT64_MAX;
	if (store_stats(t, &stats) != DBS_OK)
		stats.passengers = UINT64_MAX;
	store_txn_commit(t);
	return stats.passengers;
}

/* In a child: a second writer is refused, a reader sees a snapshot. */
static int
snapshot_child(const char *dir, int to_parent, int from_parent)
{
	struct store *w = NULL, *r = NULL;
	struct store_txn *t;
	Dbs__StoreStats stats;
	uint64_t before, after;

	if (store_open(dir, STORE_RDWR, NULL, &w) != DBS_ELOCKED || w != NULL)
		return 10;
	if (store_open(dir, STORE_RDONLY, NULL, &r) != DBS_OK)
		return 11;
	if (store_txn_begin(r, false, &t) != DBS_OK)
		return 12;
	if (store_stats(t, &stats) != DBS_OK)
		return 13;
	before = stats.passengers;
	child_send(to_parent, before);
	(void)child_recv(from_parent); /* the parent committed more */
	if (store_stats(t, &stats) != DBS_OK || stats.passengers != before)
		return 14;
	store_txn_commit(t);
	after = passengers_now(r);
	if (after != before + 5)
		return 15;
	store_close(r);
	return 0;
}

static void
test_lock_and_snapshot(void **state)
{
	struct fx *f = *state;
	struct store *other = (void *)1;
	struct store_txn *t;
	int up[2], down[2], status;
	pid_t pid;

	if (pg_conninfo != NULL) {
		/* PostgreSQL: a read transaction is a snapshot, on its own
		 * connection, while the writer commits. */
		struct store_txn *r;
		Dbs__StoreStats stats;

		t = wbegin(f);
		seat(t, "c", "d", "1");
		commit(t);
		r = rbegin(f);
		t = wbegin(f);
		for (int i = 0; i < 5; i++) {
			char ext[16];

			snprintf(ext, sizeof(ext), "x%d", i);
			seat(t, "c", "d", ext);
		}
		assert_int_equal(store_stats(r, &stats), DBS_OK);
		assert_int_equal(stats.passengers, 1);
		commit(t);
		assert_int_equal(store_stats(r, &stats), DBS_OK);
		assert_int_equal(stats.passengers, 1);
		commit(r);
		assert_int_equal(passengers_now(f->st), 6);
		LMDB_ONLY("the writer lock file and a second process");
	}
	/* In this process: a second writer is locked out, and a second
	 * handle on the same environment is refused (LMDB forbids it). */
	assert_int_equal(
	    store_open(f->dir, STORE_RDWR, NULL, &other), DBS_ELOCKED);
	assert_null(other);
	assert_int_equal(
	    store_open(f->dir, STORE_RDONLY, NULL, &other), DBS_EBUSY);

	t = wbegin(f);
	seat(t, "c", "d", "1");
	commit(t);
	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(down), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(snapshot_child(f->dir, up[1], down[0]));
	assert_int_equal(child_recv(up[0]), 1);
	t = wbegin(f);
	for (int i = 0; i < 5; i++) {
		char ext[16];

		snprintf(ext, sizeof(ext), "x%d", i);
		seat(t, "c", "d", ext);
	}
	commit(t);
	child_send(down[1], 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
	/* The writer lock goes with its holder. */
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(
	    store_open(f->dir, STORE_RDWR, &f->opt, &f->st), DBS_OK);
}

/* PostgreSQL: the connection of the writer dies mid-batch (a restarted
 * server, a cut link). The commit fails with DBS_EIO and PostgreSQL's
 * words, nothing of the batch is kept, and the next transaction
 * reconnects. */
static void
test_pg_connection_lost(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	Dbs__Passenger gone = DBS__PASSENGER__INIT;
	uint64_t id;

	if (pg_conninfo == NULL) {
		print_message("skipped on LMDB: a PostgreSQL connection\n");
		skip();
	}
	t = wbegin(f);
	seat(t, "c", "d", "kept");
	commit(t);
	t = wbegin(f);
	seat(t, "c", "d", "lost");
	pg_sql(f,
	    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE"
	    " application_name = '%s' AND pid <> pg_backend_pid()",
	    f->schema);
	seat_rc(t, "c", "d", "p", "lost2", &(uint64_t){0}, &(bool){false});
	assert_int_equal(store_txn_commit(t), DBS_EIO);
	print_message("store_last_error: %s\n", store_last_error(f->st));
	assert_non_null(strstr(store_last_error(f->st), "PostgreSQL"));
	t = wbegin(f);
	seat(t, "c", "d", "again");
	commit(t);
	counts(f, "c", "d", 2, 0, 0);
	assert_int_equal(verify(f), 0);

	/* Lost at the commit itself, with writes waiting to go with it:
	 * the batch is gone as a whole. */
	t = wbegin(f);
	set_state(t, seat(t, "c", "d", "at-commit"), 1, 0, 9);
	assert_int_equal(store_event_append(t, "c", DBS__RESOURCE__RES_SYSTEM,
			     DBS__EVENT_KIND__EV_UPDATE, "x", 1, NULL),
	    DBS_OK);
	pg_sql(f,
	    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE"
	    " application_name = '%s' AND pid <> pg_backend_pid()",
	    f->schema);
	assert_int_equal(store_txn_commit(t), DBS_EIO);
	counts(f, "c", "d", 2, 0, 0);
	assert_int_equal(verify(f), 0);
	t = rbegin(f);
	gone.client = "c";
	gone.definition = "d";
	gone.puller = "in";
	gone.external_id = "at-commit";
	assert_int_equal(
	    store_passenger_lookup(t, &gone, &id, NULL), DBS_ENOTFOUND);
	commit(t);

	/* Connections the server closed while idle (a restart) are found
	 * dead at the next begin and replaced there, without an error. */
	t = wbegin(f);
	seat(t, "c", "d", "healthy");
	commit(t);
	pg_sql(f,
	    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE"
	    " application_name = '%s' AND pid <> pg_backend_pid()",
	    f->schema);
	t = wbegin(f);
	seat(t, "c", "d", "after-restart");
	commit(t);
	counts(f, "c", "d", 4, 0, 0);
}

/* Import (store/import.c's calls): a passenger and a log keep their ids
 * when this store never handed them out, get the next ones otherwise,
 * and are found again as duplicates. */
static void
test_imports(void **state)
{
	struct fx *f = *state;
	Dbs__Passenger p = DBS__PASSENGER__INIT, *g = NULL;
	Dbs__Log log = DBS__LOG__INIT;
	struct store_txn *t;
	uint64_t id = 0, next = 0, first, lid = 0;
	bool dup = true;

	t = wbegin(f);
	first = seat(t, "c", "d", "live");
	p.client = "c";
	p.definition = "d";
	p.puller = "in";
	p.external_id = "old";
	p.id = 500;
	p.state = DBS__PASSENGER_STATE__PS_DONE;
	p.done_ms = 77;
	p.attempts = 3;
	assert_int_equal(
	    store_passenger_import(t, &p, NULL, 0, &id, &dup), DBS_OK);
	assert_false(dup);
	assert_int_equal(id, 500);
	p.external_id = "older";
	p.id = first; /* handed out here: remapped */
	assert_int_equal(
	    store_passenger_import(t, &p, NULL, 0, &id, &dup), DBS_OK);
	assert_false(dup);
	assert_int_equal(id, 501);
	p.external_id = "old";
	assert_int_equal(
	    store_passenger_import(t, &p, NULL, 0, &id, &dup), DBS_OK);
	assert_true(dup);
	assert_int_equal(id, 500);
	log.client = "c";
	log.definition = "d";
	log.finished_ms = 1000;
	log.started_ms = 900;
	log.drive_id = 4;
	log.id = 40;
	assert_int_equal(store_log_import(t, &log, &lid, &dup), DBS_OK);
	assert_false(dup);
	assert_int_equal(lid, 40);
	commit(t);
	counts(f, "c", "d", 1, 2, 0);

	t = rbegin(f);
	assert_int_equal(store_passenger_get(t, 500, &g), DBS_OK);
	assert_int_equal(g->attempts, 3);
	assert_int_equal(g->done_ms, 77);
	dbs__passenger__free_unpacked(g, NULL);
	p.external_id = "older";
	assert_int_equal(store_passenger_lookup(t, &p, &id, &next), DBS_OK);
	assert_int_equal(id, 501);
	assert_int_equal(next, 502);
	log.id = 0;
	assert_int_equal(store_log_lookup(t, &log, &lid), DBS_OK);
	assert_int_equal(lid, 40);
	log.drive_id = 5;
	assert_int_equal(store_log_lookup(t, &log, &lid), DBS_ENOTFOUND);
	commit(t);
	t = wbegin(f);
	log.drive_id = 4;
	log.id = 7;
	assert_int_equal(store_log_import(t, &log, &lid, &dup), DBS_OK);
	assert_true(dup);
	assert_int_equal(lid, 40);
	log.drive_id = 6;
	log.id = 7; /* handed out here (below 41): the next id */
	assert_int_equal(store_log_import(t, &log, &lid, &dup), DBS_OK);
	assert_false(dup);
	assert_int_equal(lid, 41);
	commit(t);
	assert_int_equal(verify(f), 0);
}

/* The round trips this store made so far (a read transaction of its own
 * costs three: begin, the stats query, end). */
static uint64_t
round_trips(struct fx *f)
{
	struct store_txn *t = rbegin(f);
	Dbs__StoreStats stats;

	assert_int_equal(store_stats(t, &stats), DBS_OK);
	commit(t);
	return stats.pg_round_trips;
}

/* A batch of seats: the same answers as one seat after the other
 * (duplicates of a passenger there before and of one earlier in the
 * batch, an invalid passenger refused alone), attachments only for the
 * seated; on PostgreSQL a batch of 300 costs a few round trips. */
static void
test_seat_many(void **state)
{
	struct fx *f = *state;
	static const char *ext[] = {"x1", "x0", "x2", "x1", "", "x3"};
	Dbs__Passenger p[6], *pp[6];
	Dbs__Attachment a = DBS__ATTACHMENT__INIT, *ap[1] = {&a};
	Dbs__Attachment *const *atts[6] = {ap, ap, NULL, ap, NULL, NULL};
	size_t n_atts[6] = {1, 1, 0, 1, 0, 0};
	uint64_t ids[300], x0, before, after;
	bool dups[300];
	int rcs[300];
	struct store_txn *t;
	const void *data;
	size_t len;

	a.name = "a";
	a.data.data = (uint8_t *)"body";
	a.data.len = 4;
	for (int i = 0; i < 6; i++) {
		dbs__passenger__init(&p[i]);
		p[i].client = "c";
		p[i].definition = "d";
		p[i].puller = "in"; /* seat()'s */
		p[i].external_id = (char *)ext[i];
		pp[i] = &p[i];
	}
	t = wbegin(f);
	x0 = seat(t, "c", "d", "x0");
	assert_int_equal(
	    store_passenger_seat_many(t, (const Dbs__Passenger *const *)pp,
		atts, n_atts, 6, ids, dups, rcs),
	    DBS_OK);
	commit(t);
	for (int i = 0; i < 6; i++)
		assert_int_equal(rcs[i], i == 4 ? DBS_EINVAL : DBS_OK);
	assert_false(dups[0]);
	assert_true(dups[1]);
	assert_int_equal(ids[1], x0);
	assert_false(dups[2]);
	assert_true(dups[3]);
	assert_int_equal(ids[3], ids[0]);
	assert_false(dups[5]);
	assert_true(x0 < ids[0] && ids[0] < ids[2] && ids[2] < ids[5]);
	counts(f, "c", "d", 4, 0, 0);
	t = rbegin(f);
	assert_int_equal(
	    store_attachment_get(t, ids[0], "a", &data, &len), DBS_OK);
	assert_int_equal(len, 4);
	/* The duplicate's attachment went nowhere. */
	assert_int_equal(
	    store_attachment_get(t, x0, "a", &data, &len), DBS_ENOTFOUND);
	commit(t);
	assert_int_equal(verify(f), 0);

	/* 300 at once, each with an attachment. */
	{
		static Dbs__Passenger q[300];
		static const Dbs__Passenger *qp[300];
		static Dbs__Attachment *const *qa[300];
		static size_t qn[300];
		static char qext[300][16];

		for (int i = 0; i < 300; i++) {
			dbs__passenger__init(&q[i]);
			q[i].client = "c";
			q[i].definition = "e";
			q[i].puller = "p";
			snprintf(qext[i], sizeof(qext[i]), "m%d", i);
			q[i].external_id = qext[i];
			qp[i] = &q[i];
			qa[i] = ap;
			qn[i] = 1;
		}
		before = round_trips(f);
		t = wbegin(f);
		assert_int_equal(store_passenger_seat_many(
				     t, qp, qa, qn, 300, ids, dups, rcs),
		    DBS_OK);
		commit(t);
		after = round_trips(f);
		for (int i = 0; i < 300; i++)
			assert_true(rcs[i] == DBS_OK && !dups[i]);
		counts(f, "c", "e", 300, 0, 0);
		/* Listed whole, both ways, and paged by 7. */
		{
			struct store_query lq = {
			    .client = "c", .definition = "e", .state = -1};
			static struct ids got;

			list_all(f, lq, 0, &got);
			assert_int_equal(got.n, 300);
			for (int i = 0; i < 300; i++)
				assert_int_equal(got.v[i], ids[i]);
			lq.newest_first = true;
			list_all(f, lq, 0, &got);
			assert_int_equal(got.n, 300);
			assert_int_equal(got.v[0], ids[299]);
			list_all(f, lq, 7, &got);
			assert_int_equal(got.n, 300);
			assert_int_equal(got.v[299], ids[0]);
			lq.q = "m29";
			list_all(f, lq, 0, &got);
			assert_int_equal(got.n, 11); /* m29, m290..m299 */
		}
		assert_int_equal(verify(f), 0);
		if (pg_conninfo != NULL) {
			print_message(
			    "300 seats with attachments in one batch: "
			    "%llu round trips (%.3f per "
			    "passenger)\n",
			    (unsigned long long)(after - before - 3),
			    (double)(after - before - 3) / 300);
			/* 600 statements, 256 at most per round trip, and
			 * the transaction's two. */
			assert_int_equal(after - before - 3, 3 + 2);
			/* verify reads them in chunks: the last one is
			 * checked too. */
			pg_sql(f,
			    "UPDATE passengers SET done_ms = 1 WHERE id ="
			    " (SELECT max(id) FROM passengers)");
			assert_int_equal(verify(f), 1);
		}
	}
}

/* A second writer of the same PostgreSQL schema (another handle: later,
 * another node), on a thread of its own. */
struct writer2 {
	struct fx *f;
	int committing; /* set (atomically) by the first writer */
	int saw_committing;
	uint64_t seq;
	int rc;
};

static void *
writer2_run(void *arg)
{
	struct writer2 *w = arg;
	struct store *st = NULL;
	struct store_txn *t = NULL;

	w->rc = fx_open(w->f, STORE_RDWR, &w->f->opt, &st);
	if (w->rc == DBS_OK)
		w->rc = store_txn_begin(st, true, &t); /* waits for the lock */
	w->saw_committing = __atomic_load_n(&w->committing, __ATOMIC_SEQ_CST);
	if (w->rc == DBS_OK)
		w->rc = store_event_append(t, "B", DBS__RESOURCE__RES_SYSTEM,
		    DBS__EVENT_KIND__EV_UPDATE, "b", 1, &w->seq);
	if (w->rc == DBS_OK)
		w->rc = store_txn_commit(t);
	store_close(st);
	return NULL;
}

/* PostgreSQL: writers of one schema take turns (the counter lock taken
 * at begin), so ids and event seqs are shared, gap-free and in commit
 * order across handles. */
static void
test_pg_two_writers(void **state)
{
	struct fx *f = *state;
	struct writer2 w = {.f = f};
	struct store_txn *t;
	struct timespec pause = {0, 100 * 1000 * 1000};
	uint64_t seq = 0, first, last, id1, id2;
	pthread_t th;

	if (pg_conninfo == NULL) {
		print_message("skipped on LMDB: one writer per store\n");
		skip();
	}
	t = wbegin(f);
	id1 = seat(t, "c", "d", "a");
	assert_int_equal(store_event_append(t, "A", DBS__RESOURCE__RES_SYSTEM,
			     DBS__EVENT_KIND__EV_UPDATE, "a", 1, &seq),
	    DBS_OK);
	assert_int_equal(pthread_create(&th, NULL, writer2_run, &w), 0);
	/* Give the other writer time to reach its begin and wait there. */
	nanosleep(&pause, NULL);
	__atomic_store_n(&w.committing, 1, __ATOMIC_SEQ_CST);
	commit(t);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(w.rc, DBS_OK);
	assert_true(w.saw_committing);
	/* Our create list came at commit, after our explicit event. */
	assert_int_equal(w.seq, seq + 2);
	/* This handle reads the counters afresh: no id or seq reused. */
	t = wbegin(f);
	id2 = seat(t, "c", "d", "b");
	commit(t);
	assert_int_equal(id2, id1 + 1);
	t = rbegin(f);
	assert_int_equal(store_event_range(t, &first, &last), DBS_OK);
	commit(t);
	assert_int_equal(first, 1);
	assert_int_equal(last, w.seq + 1);
	assert_int_equal(verify(f), 0);
}

/*
 * What a batch costs in round trips to PostgreSQL: a seat is one; the get
 * and put of a passenger the transaction has seen are none (the put waits
 * in the pipeline); a get of one it has not is one; the transaction adds
 * two (BEGIN with the counter lock, and the commit). LMDB makes none.
 */
static void
test_round_trips(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	uint64_t before, seated, drove, ids[200];
	const int n = 200;

	before = round_trips(f);
	t = wbegin(f);
	for (int i = 0; i < n; i++) {
		char ext[16];

		snprintf(ext, sizeof(ext), "rt%d", i);
		ids[i] = seat(t, i % 2 ? "a" : "b", "d", ext);
		set_state(t, ids[i], 0, 5, 0); /* seen: no round trip */
	}
	commit(t);
	seated = round_trips(f);
	t = wbegin(f);
	for (int i = 0; i < n; i++)
		set_state(t, ids[i], 1, 0, 7); /* a get each, puts waiting */
	commit(t);
	drove = round_trips(f);
	counts(f, "a", "d", 0, n / 2, 0);
	assert_int_equal(verify(f), 0);
	if (pg_conninfo == NULL) {
		assert_int_equal(drove, 0);
		return;
	}
	print_message("%d seats, gets and puts in one transaction: %llu "
		      "round trips; %d gets and puts of passengers it had "
		      "not seen: %llu\n",
	    n, (unsigned long long)(seated - before - 3), n,
	    (unsigned long long)(drove - seated - 3));
	assert_int_equal(seated - before - 3, n + 2);
	assert_int_equal(drove - seated - 3, n + 2);
}

/* ------------------------------------------------------------- full map */

/* Seat `n` passengers with 1 KiB bodies in one transaction. */
static int
write_batch(struct fx *f, int batch, int n)
{
	static uint8_t body[1024];
	Dbs__Passenger p = DBS__PASSENGER__INIT, *g = NULL;
	Dbs__Attachment a = DBS__ATTACHMENT__INIT, *atts[1] = {&a};
	struct store_txn *t = wbegin(f);
	char ext[32];
	uint64_t id;
	bool dup;
	int rc = DBS_OK;

	p.client = "c";
	p.definition = "d";
	p.puller = "p";
	a.name = "body";
	a.data.data = body;
	a.data.len = sizeof(body);
	for (int i = 0; i < n && rc == DBS_OK; i++) {
		snprintf(ext, sizeof(ext), "b%d-%d", batch, i);
		p.external_id = ext;
		rc = store_passenger_seat(t, &p, atts, 1, &id, &dup);
	}
	if (rc != DBS_OK) {
		/* The transaction is poisoned until aborted. */
		assert_int_equal(rc, DBS_EMAPFULL);
		assert_int_equal(store_passenger_get(t, 1, &g), DBS_EMAPFULL);
		assert_int_equal(store_txn_commit(t), DBS_EMAPFULL);
		return rc;
	}
	return store_txn_commit(t);
}

static uint64_t
map_size(struct fx *f)
{
	struct store_txn *t = rbegin(f);
	Dbs__StoreStats stats;

	assert_int_equal(store_stats(t, &stats), DBS_OK);
	commit(t);
	return stats.map_size;
}

static int
resized_child(const char *dir, int from_parent)
{
	struct store *r = NULL;
	uint64_t want;

	if (store_open(dir, STORE_RDONLY, NULL, &r) != DBS_OK)
		return 20;
	want = child_recv(from_parent);
	/* The writer grew the map past ours: the reader must follow. */
	if (passengers_now(r) != want)
		return 21;
	store_close(r);
	return 0;
}

static void
test_map_full(void **state)
{
	struct fx *f = *state;
	const uint64_t max = 1u << 20;
	uint64_t committed = 0, size, prev;
	int grows = 0, ahead = 0, status, down[2];
	bool at_max = false;
	pid_t pid;

	LMDB_ONLY("the LMDB map and its growth");
	store_close(f->st);
	f->st = NULL;
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	f->opt.map_size = 64u << 10;
	f->opt.max_size = max;
	open_store(f);
	prev = map_size(f);
	assert_int_equal(prev, 64u << 10);

	assert_int_equal(pipe(down), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(resized_child(f->dir, down[0]));

	for (int batch = 0; batch < 2000 && !at_max; batch++) {
		int rc = write_batch(f, batch, 10);
		bool grew = false;

		/* The map doubles, either ahead of need (past half full, at
		 * the start of a write) or after a MDB_MAP_FULL. */
		size = map_size(f);
		if (size != prev) {
			assert_int_equal(size, prev * 2);
			prev = size;
			grows++;
			grew = true;
			if (rc == DBS_OK)
				ahead++;
		}
		if (rc == DBS_OK) {
			committed += 10;
			continue;
		}
		assert_int_equal(rc, DBS_EMAPFULL);
		assert_non_null(strstr(store_last_error(f->st), "MAP_FULL"));
		if (!grew) {
			assert_int_equal(size, max);
			at_max = true;
			break;
		}
		/* The caller redoes its changes: they fit now. */
		assert_int_equal(write_batch(f, batch, 10), DBS_OK);
		committed += 10;
	}
	assert_true(ahead > 0);
	assert_true(at_max);
	assert_int_equal(grows, 4); /* 64 KiB -> 1 MiB */
	/* Full for good: every write fails, reads go on. */
	assert_int_equal(write_batch(f, 99999, 10), DBS_EMAPFULL);
	assert_int_equal(map_size(f), max);
	counts(f, "c", "d", committed, 0, 0);
	assert_int_equal(verify(f), 0);

	child_send(down[1], committed);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(down[0]);
	close(down[1]);

	/* Reopened, the store keeps the size it grew to. */
	f->opt.map_size = 0;
	reopen(f);
	assert_int_equal(map_size(f), 256u << 20);
	f->opt.map_size = 64u << 10;
	reopen(f);
	assert_int_equal(map_size(f), max);
}

/* ----------------------------------------------------------------- copy */

static void
test_copy_and_stats(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	struct store *copy = NULL;
	Dbs__StoreStats stats;
	char dir[200];

	t = wbegin(f);
	for (int i = 0; i < 50; i++) {
		char ext[16];

		snprintf(ext, sizeof(ext), "%d", i);
		seat(t, "c", "d", ext);
	}
	put_log(t, "c", 1, 1);
	commit(t);
	if (pg_conninfo != NULL) {
		uint64_t a = 1, b = 1;

		/* The LMDB-file tools say they are LMDB's. */
		assert_int_equal(store_copy(f->st, f->tmp), DBS_EINVAL);
		assert_non_null(strstr(store_last_error(f->st), "LMDB"));
		assert_int_equal(
		    store_backup(f->st, "/tmp/x.mdb", NULL), DBS_EINVAL);
		assert_int_equal(store_room(f->st, &a, &b), DBS_EINVAL);
		assert_int_equal(store_reader_check(f->st), -1);
		t = rbegin(f);
		assert_int_equal(store_stats(t, &stats), DBS_OK);
		assert_int_equal(stats.passengers, 50);
		assert_int_equal(stats.logs, 1);
		assert_int_equal(stats.events, 2); /* one list, one log */
		assert_int_equal(stats.last_seq, 2);
		assert_true(stats.used_bytes > 0);
		commit(t);
		return;
	}
	snprintf(dir, sizeof(dir), "%s/copy", f->tmp);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(store_copy(f->st, dir), DBS_OK);
	assert_int_equal(store_open(dir, STORE_RDWR, &f->opt, &copy), DBS_OK);
	assert_int_equal(store_txn_begin(copy, false, &t), DBS_OK);
	assert_int_equal(store_stats(t, &stats), DBS_OK);
	assert_int_equal(stats.passengers, 50);
	assert_int_equal(stats.logs, 1);
	assert_int_equal(stats.events, 2); /* one list, one log */
	assert_int_equal(stats.last_seq, 2);
	assert_true(stats.used_bytes > 0 && stats.used_bytes < stats.map_size);
	assert_int_equal(store_txn_commit(t), DBS_OK);
	store_close(copy);
}

int
main(void)
{
	pg_conninfo = getenv("DBS_TEST_PG");
	if (pg_conninfo != NULL && *pg_conninfo == '\0')
		pg_conninfo = NULL;
	if (pg_conninfo != NULL)
		print_message("test_store: on PostgreSQL (DBS_TEST_PG)\n");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_open_meta_schema, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_txn_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_seat_get_dedup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_attachments, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_delete_removes_everything, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_indexes_and_paging, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_state_due_counts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_purge, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_client_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_dedup_horizon, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_users_imported, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_random_mix_verify, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_verify_detects_corruption, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_group_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_logs, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_users_sessions, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_config_backups, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_event_trim_before, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_event_autotrim, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_event_trim_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_ids_never_reused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_lock_and_snapshot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_map_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_pg_connection_lost, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_round_trips, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_seat_many, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_imports, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_event_replay, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_pg_two_writers, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_copy_and_stats, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
