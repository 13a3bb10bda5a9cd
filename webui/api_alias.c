/*
 * api_alias.c — the system alias for the login page.
 *
 *   GET /api/v1/alias   {"system_alias": "DEMO"}
 *
 * The only route besides login that answers without a session: the login
 * page shows which Databus it logs into, as the original did. It tells
 * nothing else (About, with versions and workers, needs a session). The
 * alias comes from databusd's status and is kept for ALIAS_TTL_MS, so
 * anonymous requests cost at most one control call every few seconds; the
 * cache lives on the loop thread only.
 */
#include <string.h>

#include "dbs_error.h"
#include "web.h"
#include "wire.h"

#define ALIAS_TTL_MS 5000

static char alias[256];
static int64_t alias_until_ms;

static int
send_alias(h2o_req_t *req)
{
	return web_send_json(
	    req, 200, json_pack("{s:s}", "system_alias", alias));
}

static void
alias_answer(h2o_req_t *req, struct web_ctl_job *j)
{
	const Dbs__StatusReply *st = j->reply->status;

	if (j->reply->code != DBS_OK || st == NULL || st->system == NULL) {
		web_send_error(
		    req, 503, "unavailable", "databusd gave no status");
		return;
	}
	snprintf(alias, sizeof(alias), "%s",
	    st->system->system_alias != NULL ? st->system->system_alias : "");
	alias_until_ms = wire_mono_ms() + ALIAS_TTL_MS;
	send_alias(req);
}

int
web_api_alias(h2o_req_t *req)
{
	struct web_session anonymous;
	struct web_ctl_job *j;

	if (alias_until_ms > wire_mono_ms())
		return send_alias(req);
	memset(&anonymous, 0, sizeof(anonymous));
	snprintf(anonymous.client, sizeof(anonymous.client), "-");
	snprintf(anonymous.username, sizeof(anonymous.username), "login-page");
	if ((j = web_ctl_job_new(req, &anonymous, alias_answer)) == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	return web_ctl_submit_status(req, j);
}
