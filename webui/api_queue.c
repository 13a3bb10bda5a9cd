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
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "record_json.h"
#include "web.h"

#define LIMIT_DEFAULT 50
#define LIMIT_MAX     500

static int
not_found(h2o_req_t *req)
{
	return web_send_error(req, 404, "not_found", "no such object");
}

static int
bad_param(h2o_req_t *req, const char *message)
{
	return web_send_error(req, 400, "bad_request", message);
}

static bool
parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

static int
add_item(void *ctx, const Dbs__Passenger *p)
{
	json_t *j = rj_passenger(p);

	return j == NULL || json_array_append_new(ctx, j) != 0 ? DBS_ENOMEM
							       : 0;
}

int
web_api_queue_list(h2o_req_t *req)
{
	struct web_session s;
	struct store_query q = {0};
	struct store_txn *txn = NULL;
	char client[80], def[200], state[32], text[256], num[32];
	uint64_t v, next = 0;
	json_t *items;
	bool bad;
	int rc;

	if (!web_session_require(req, &s))
		return 0;
	q.state = -1;
	q.limit = LIMIT_DEFAULT;
	q.newest_first = true;
	if (web_query_param(req, "client", client, sizeof(client), &bad)) {
		if (!web_valid_name(client, strlen(client)))
			return bad_param(req, "invalid client");
		q.client = client;
	} else if (bad) {
		return bad_param(req, "invalid client");
	}
	if (s.role != DBS__ROLE__ROLE_ROOT) {
		if (q.client != NULL && strcmp(q.client, s.client) != 0)
			return not_found(req);
		q.client = s.client;
	}
	if (web_query_param(req, "passenger", def, sizeof(def), &bad)) {
		if (!web_valid_name(def, strlen(def)))
			return bad_param(req, "invalid passenger");
		if (q.client == NULL)
			return bad_param(req, "passenger needs client");
		q.definition = def;
	} else if (bad) {
		return bad_param(req, "invalid passenger");
	}
	if (web_query_param(req, "state", state, sizeof(state), &bad)) {
		if ((q.state = rj_state_parse(state)) < 0)
			return bad_param(
			    req, "state must be pending, done or dead");
	} else if (bad) {
		return bad_param(req, "invalid state");
	}
	if (web_query_param(req, "q", text, sizeof(text), &bad)) {
		if (text[0] != '\0')
			q.q = text;
	} else if (bad) {
		return bad_param(req, "invalid q");
	}
	if (web_query_param(req, "cursor", num, sizeof(num), &bad)) {
		if (!parse_u64(num, &q.cursor))
			return bad_param(req, "invalid cursor");
	} else if (bad) {
		return bad_param(req, "invalid cursor");
	}
	if (web_query_param(req, "limit", num, sizeof(num), &bad)) {
		if (!parse_u64(num, &v) || v < 1 || v > LIMIT_MAX)
			return bad_param(req, "limit must be 1..500");
		q.limit = (size_t)v;
	} else if (bad) {
		return bad_param(req, "invalid limit");
	}

	if ((items = json_array()) == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	if ((rc = store_txn_begin(web_store(web_of(req)), false, &txn)) ==
	    DBS_OK) {
		rc = store_queue_list(txn, &q, add_item, items, &next);
		store_txn_abort(txn);
	}
	if (rc != DBS_OK && rc != DBS_ENOTFOUND) {
		json_decref(items);
		return web_send_error(req, 500, "store", dbs_strerror(rc));
	}
	return web_send_json(req, 200,
	    json_pack("{s:o, s:I}", "items", items, "next_cursor",
		(json_int_t)(next > INT64_MAX ? INT64_MAX : next)));
}

static int
add_log(void *ctx, const Dbs__Log *log)
{
	json_t *j = rj_log(log, true);

	return j == NULL || json_array_append_new(ctx, j) != 0 ? DBS_ENOMEM
							       : 0;
}

int
web_api_queue_show(h2o_req_t *req, const char *client, size_t clen,
    const char *id, size_t idlen)
{
	struct web_session s;
	struct store_txn *txn = NULL;
	Dbs__Passenger *p = NULL;
	char cname[65], idbuf[24];
	uint64_t pid;
	json_t *logs = NULL, *doc;
	int rc;

	if (!web_session_require(req, &s))
		return 0;
	memcpy(cname, client, clen);
	cname[clen] = '\0';
	memcpy(idbuf, id, idlen);
	idbuf[idlen] = '\0';
	if (!parse_u64(idbuf, &pid) || pid == 0)
		return not_found(req);
	if (s.role != DBS__ROLE__ROLE_ROOT && strcmp(cname, s.client) != 0)
		return not_found(req);
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
		return not_found(req);
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
