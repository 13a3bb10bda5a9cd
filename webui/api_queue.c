/*
 * api_queue.c — the queue: a paged, filtered list and one passenger with
 * its logs.
 *
 *   GET /api/v1/queue?client=&passenger=&state=&q=&cursor=&limit=
 *   GET /api/v1/queue/{client}/{id}
 *
 * Both are read-only transactions on the loop thread. Tenancy: a user of
 * a client other than root sees only that client; naming another client,
 * or another client's passenger, answers 404 exactly as a missing object
 * does, so ids of other tenants cannot be probed. Parameters are checked
 * before use and only ever reach the store as keys.
 *
 * The list is the busiest page of the UI and shares the one loop thread
 * with every other request, so it does no per-passenger heap work: the
 * store walks its index from the cursor and decodes each record into an
 * arena (below) that is rewound after the record is written, and the JSON
 * text goes straight into one reusable buffer (proto/json_writer.h, the
 * same text as the jansson form of record_json.h). Both live as long as
 * the process and belong to the loop thread; after a request they are
 * trimmed back if an unusually large page made them grow, so memory stays
 * bounded. The detail page keeps the jansson builders.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "json_writer.h"
#include "record_json.h"
#include "web.h"

#define LIMIT_DEFAULT 50
#define LIMIT_MAX     500

/* What the page buffers may keep between requests. */
#define ARENA_BLOCK   (64u * 1024)
#define JSON_KEEP_MAX (1024u * 1024)

/*
 * A bump allocator for protobuf-c. Records are decoded into one block;
 * what does not fit (a record larger than the block) is malloc'ed and
 * chained. The store never touches a record decoded with a caller's
 * allocator once the callback has returned (store.h), so the callback
 * resets the arena after writing the record: the block is reused and the
 * big pieces are freed, and a page holds at most one record's memory.
 * free() is a no-op (only protobuf-c's temporary scan slabs and a record
 * that failed to decode come through it; the next reset reclaims them).
 */
struct arena_big {
	struct arena_big *next;
	max_align_t data[];
};

struct arena {
	unsigned char *block;
	size_t used;
	struct arena_big *big;
};

static struct arena page_arena;
static struct jw page_json;

static void *
arena_alloc(void *data, size_t size)
{
	struct arena *a = data;
	size_t need = (size + 15) & ~(size_t)15;
	struct arena_big *b;

	if (need < size)
		return NULL;
	if (a->block == NULL && (a->block = malloc(ARENA_BLOCK)) == NULL)
		return NULL;
	if (need <= ARENA_BLOCK - a->used) {
		void *p = a->block + a->used;

		a->used += need;
		return p;
	}
	if (size > SIZE_MAX - sizeof(*b) ||
	    (b = malloc(sizeof(*b) + size)) == NULL)
		return NULL;
	b->next = a->big;
	a->big = b;
	return b->data;
}

static void
arena_free(void *data, void *ptr)
{
	(void)data;
	(void)ptr;
}

/* After each record, and at the end of a request. */
static void
arena_reset(struct arena *a)
{
	struct arena_big *b;

	while ((b = a->big) != NULL) {
		a->big = b->next;
		free(b);
	}
	a->used = 0;
}

static int
write_item(void *ctx, const Dbs__Passenger *p)
{
	jw_passenger(&page_json, p);
	arena_reset(ctx);
	return jw_ok(&page_json) ? 0 : DBS_ENOMEM;
}

int
web_api_queue_list(h2o_req_t *req, const struct web_args *a)
{
	struct web_session s;
	struct store_query q = {0};
	struct store_txn *txn = NULL;
	char client[80], def[200], state[32], text[256];
	ProtobufCAllocator pa = {arena_alloc, arena_free, &page_arena};
	uint64_t next = 0;
	bool bad;
	int rc, ret;

	(void)a;
	if (!web_session_require(req, &s))
		return 0;
	q.state = -1;
	q.limit = LIMIT_DEFAULT;
	q.newest_first = true;
	if (!web_param_client(
		req, &s, client, sizeof(client), &q.client, &ret))
		return ret;
	if (web_query_param(req, "passenger", def, sizeof(def), &bad)) {
		if (!web_valid_name(def, strlen(def)))
			return web_bad_param(req, "invalid passenger");
		if (q.client == NULL)
			return web_bad_param(req, "passenger needs client");
		q.definition = def;
	} else if (bad) {
		return web_bad_param(req, "invalid passenger");
	}
	if (web_query_param(req, "state", state, sizeof(state), &bad)) {
		if ((q.state = rj_state_parse(state)) < 0)
			return web_bad_param(
			    req, "state must be pending, done or dead");
	} else if (bad) {
		return web_bad_param(req, "invalid state");
	}
	if (web_query_param(req, "q", text, sizeof(text), &bad)) {
		if (text[0] != '\0')
			q.q = text;
	} else if (bad) {
		return web_bad_param(req, "invalid q");
	}
	if (!web_param_paging(req, &q.cursor, &q.limit, LIMIT_MAX, &ret))
		return ret;

	q.alloc = &pa;
	jw_reset(&page_json);
	jw_obj_begin(&page_json);
	jw_key(&page_json, "items");
	jw_arr_begin(&page_json);
	if ((rc = store_txn_begin(web_store(web_of(req)), false, &txn)) ==
	    DBS_OK) {
		rc = store_queue_list(txn, &q, write_item, &page_arena, &next);
		store_txn_abort(txn);
	}
	arena_reset(&page_arena);
	jw_arr_end(&page_json);
	jw_key(&page_json, "next_cursor");
	jw_u64(&page_json, next);
	jw_obj_end(&page_json);
	if (rc == DBS_ENOMEM || !jw_ok(&page_json))
		ret = web_send_error(req, 500, "internal", "out of memory");
	else if (rc != DBS_OK && rc != DBS_ENOTFOUND)
		ret = web_send_error(req, 500, "store", dbs_strerror(rc));
	else
		ret =
		    web_send_json_text(req, 200, page_json.buf, page_json.len);
	jw_trim(&page_json, JSON_KEEP_MAX);
	return ret;
}

static int
add_log(void *ctx, const Dbs__Log *log)
{
	json_t *j = rj_log(log, true);

	return j == NULL || json_array_append_new(ctx, j) != 0 ? DBS_ENOMEM
							       : 0;
}

int
web_api_queue_show(h2o_req_t *req, const struct web_args *a)
{
	struct web_session s;
	struct store_txn *txn = NULL;
	Dbs__Passenger *p = NULL;
	const char *cname = a->client;
	uint64_t pid = a->id;
	json_t *logs = NULL, *doc;
	int rc;

	if (!web_session_require(req, &s))
		return 0;
	if (pid == 0)
		return web_not_found(req);
	if (s.role != DBS__ROLE__ROLE_ROOT && strcmp(cname, s.client) != 0)
		return web_not_found(req);
	if ((rc = store_txn_begin(web_store(web_of(req)), false, &txn)) !=
	    DBS_OK)
		return web_send_error(req, 500, "store", dbs_strerror(rc));
	rc = store_passenger_get(txn, pid, &p);
	if (rc == DBS_OK && strcmp(p->client, cname) != 0)
		rc = DBS_ENOTFOUND;
	if (rc == DBS_OK) {
		if ((logs = json_array()) == NULL)
			rc = DBS_ENOMEM;
		else
			rc = store_log_list_for_passenger(
			    txn, cname, pid, add_log, logs);
		if (rc == DBS_ENOTFOUND)
			rc = DBS_OK;
	}
	store_txn_abort(txn);
	if (rc == DBS_ENOTFOUND) {
		if (p != NULL)
			dbs__passenger__free_unpacked(p, NULL);
		json_decref(logs);
		return web_not_found(req);
	}
	if (rc != DBS_OK) {
		if (p != NULL)
			dbs__passenger__free_unpacked(p, NULL);
		json_decref(logs);
		return web_send_error(req, 500, "store", dbs_strerror(rc));
	}
	doc = json_pack(
	    "{s:o, s:o}", "passenger", rj_passenger(p), "logs", logs);
	dbs__passenger__free_unpacked(p, NULL);
	return web_send_json(req, 200, doc);
}
