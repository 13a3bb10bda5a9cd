/*
 * api_users.c — the users of a client.
 *
 *   GET /api/v1/users?client=
 *
 * A read-only transaction on the loop thread. Administrators see the users
 * of their own client (the default); root sees any client's, or every
 * client's without ?client=. Naming another client answers 404 as for a
 * client that does not exist; an operator of the client gets 403. Users
 * leave through rj_user, which has no password hash.
 */
#include <string.h>

#include "dbs_error.h"
#include "record_json.h"
#include "web.h"

static int
add_user(void *ctx, const Dbs__User *u)
{
	json_t *j = rj_user(u);

	return j == NULL || json_array_append_new(ctx, j) != 0 ? DBS_ENOMEM
							       : 0;
}

int
web_api_users_list(h2o_req_t *req, const struct web_args *a)
{
	struct web_session s;
	struct store_txn *txn = NULL;
	char client[80];
	const char *which = NULL;
	json_t *items;
	bool bad;
	int rc;

	(void)a;
	if (!web_session_require(req, &s))
		return 0;
	if (web_query_param(req, "client", client, sizeof(client), &bad)) {
		if (!web_valid_name(client, strlen(client)))
			return web_bad_param(req, "invalid client");
		which = client;
	} else if (bad) {
		return web_bad_param(req, "invalid client");
	}
	if (s.role != DBS__ROLE__ROLE_ROOT) {
		if (which != NULL && strcmp(which, s.client) != 0)
			return web_not_found(req);
		if (s.role != DBS__ROLE__ROLE_ADMINISTRATOR)
			return web_forbidden(req);
		which = s.client;
	}

	if ((items = json_array()) == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	if ((rc = store_txn_begin(web_store(web_of(req)), false, &txn)) ==
	    DBS_OK) {
		rc = store_user_list(txn, which, add_user, items);
		store_txn_abort(txn);
	}
	if (rc != DBS_OK && rc != DBS_ENOTFOUND) {
		json_decref(items);
		return web_send_error(req, 500, "store", dbs_strerror(rc));
	}
	return web_send_json(req, 200, json_pack("{s:o}", "items", items));
}
