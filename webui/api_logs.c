/*
 * api_logs.c — drive logs: a paged list and one log with its entries.
 *
 *   GET /api/v1/logs?client=&cursor=&limit=
 *   GET /api/v1/logs/{client}/{id}
 *
 * Both are read-only transactions on the loop thread, open to every role.
 * A user of a client other than root sees only that client: naming
 * another client, or another client's log id, answers 404 like a missing
 * log. Log entries carry text from drivers and foreign systems; they leave
 * only as JSON strings (application/json, never HTML), so the browser
 * must put them into the page as text.
 */
#include <string.h>

#include "dbs_error.h"
#include "record_json.h"
#include "web.h"

#define LIMIT_DEFAULT 50
#define LIMIT_MAX     500

static int
add_log(void *ctx, const Dbs__Log *log)
{
	json_t *j = rj_log(log, false);

	return j == NULL || json_array_append_new(ctx, j) != 0 ? DBS_ENOMEM
							       : 0;
}

int
web_api_logs_list(h2o_req_t *req, const struct web_args *a)
{
	struct web_session s;
	struct store_txn *txn = NULL;
	char client[80];
	const char *which = NULL;
	uint64_t cursor = 0, next = 0;
	size_t limit = LIMIT_DEFAULT;
	json_t *items;
	int rc, ret;

	(void)a;
	if (!web_session_require(req, &s))
		return 0;
	if (!web_param_client(req, &s, client, sizeof(client), &which, &ret) ||
	    !web_param_paging(req, &cursor, &limit, LIMIT_MAX, &ret))
		return ret;

	if ((items = json_array()) == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	if ((rc = store_txn_begin(web_store(web_of(req)), false, &txn)) ==
	    DBS_OK) {
		rc = store_log_list(
		    txn, which, cursor, limit, add_log, items, &next);
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

int
web_api_logs_show(h2o_req_t *req, const struct web_args *a)
{
	struct web_session s;
	struct store_txn *txn = NULL;
	Dbs__Log *log = NULL;
	const char *cname = a->client;
	uint64_t lid = a->id;
	json_t *doc;
	int rc;

	if (!web_session_require(req, &s))
		return 0;
	if (lid == 0 || !web_session_sees(&s, cname))
		return web_not_found(req);
	if ((rc = store_txn_begin(web_store(web_of(req)), false, &txn)) !=
	    DBS_OK)
		return web_send_error(req, 500, "store", dbs_strerror(rc));
	rc = store_log_get(txn, lid, &log);
	store_txn_abort(txn);
	if (rc == DBS_OK && strcmp(log->client, cname) != 0)
		rc = DBS_ENOTFOUND;
	if (rc != DBS_OK) {
		if (log != NULL)
			dbs__log__free_unpacked(log, NULL);
		return rc == DBS_ENOTFOUND ? web_not_found(req)
					   : web_send_error(req, 500, "store",
						 dbs_strerror(rc));
	}
	doc = json_pack("{s:o}", "log", rj_log(log, true));
	dbs__log__free_unpacked(log, NULL);
	return web_send_json(req, 200, doc);
}
