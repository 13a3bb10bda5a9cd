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
	char client[80], def[200], state[32], text[256];
	uint64_t next = 0;
	json_t *items;
	bool bad;
	int rc, ret;

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
	if (!web_parse_u64(idbuf, &pid) || pid == 0)
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
