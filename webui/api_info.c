/*
 * api_info.c — what the login page may show before anyone logs in.
 *
 *   GET /api/v1/info  ->  {"system_alias": "...", "version": "..."}
 *
 * No session: the login page shows the system alias (DESIGN §6, the
 * original's login screen). Nothing else about the instance is public.
 * The answer comes from databusd's status and is cached on the loop
 * thread for a few seconds, so anonymous requests cannot turn into a
 * stream of control requests.
 */
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "web.h"
#include "wire.h"

#define INFO_TTL_MS 5000

/* Loop-thread only. */
static struct {
	int64_t fetched_ms; /* 0: never */
	char alias[256];
	char version[64];
} cache;

static int
send_info(h2o_req_t *req)
{
	json_t *doc = json_pack("{s:s, s:s}", "system_alias", cache.alias,
	    "version", cache.version);

	return web_send_json(req, 200, doc);
}

static void
info_answer(h2o_req_t *req, struct web_ctl_job *j)
{
	const Dbs__StatusReply *st = j->reply->status;

	if (j->reply->code != DBS_OK || st == NULL || st->system == NULL) {
		web_send_error(
		    req, 503, "unavailable", "databusd gave no status");
		return;
	}
	snprintf(cache.alias, sizeof(cache.alias), "%s",
	    st->system->system_alias != NULL ? st->system->system_alias : "");
	snprintf(cache.version, sizeof(cache.version), "%s",
	    st->system->version != NULL ? st->system->version : "");
	cache.fetched_ms = wire_mono_ms();
	send_info(req);
}

int
web_api_info(h2o_req_t *req, const struct web_args *a)
{
	static const struct web_session anonymous = {
	    .client = "", .username = "anonymous", .role = 0};
	struct web_ctl_job *j;

	(void)a;
	if (cache.fetched_ms != 0 &&
	    wire_mono_ms() - cache.fetched_ms < INFO_TTL_MS)
		return send_info(req);
	if ((j = web_ctl_job_new(req, &anonymous, info_answer)) == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	return web_ctl_submit_status(req, j);
}
