/*
 * api_passengers.c — passenger definitions as databusd runs them, and
 * expediting one.
 *
 *   GET  /api/v1/passengers
 *   POST /api/v1/passengers/{client}/{name}/expedite
 *
 * Both are control requests (status, expedite) made on a pool thread; the
 * loop thread only checks the session and shapes the reply. Every role may
 * use them. Users of a client other than root see only their client's
 * definitions, and expediting another client's definition answers 404,
 * the same as one that does not exist, so other tenants cannot be probed.
 * The list carries the quotas of the clients the user sees ("quotas"), so
 * that the UI can say which quota pauses a client's intake.
 */
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "record_json.h"
#include "web.h"

/* The quotas of the clients the session sees (docs/configuration.md
 * #quotas), for the banner of a client whose intake a quota pauses; the
 * cgroup's directories are root's to see. */
static json_t *
quotas_seen(const struct web_session *s, const Dbs__StatusReply *st)
{
	json_t *a = json_array(), *q;

	for (size_t i = 0; a != NULL && i < st->n_quotas; i++) {
		if (!web_session_sees(s, st->quotas[i]->client))
			continue;
		q = rj_client_quota(st->quotas[i]);
		if (q != NULL && strcmp(s->client, "root") != 0)
			json_object_del(q, "cgroup");
		if (q == NULL || json_array_append_new(a, q) != 0) {
			json_decref(a);
			return json_array();
		}
	}
	return a != NULL ? a : json_array();
}

static void
list_answer(h2o_req_t *req, struct web_ctl_job *j)
{
	const Dbs__StatusReply *st = j->reply->status;
	json_t *items = json_array();
	size_t i;

	if (j->reply->code != DBS_OK || st == NULL) {
		json_decref(items);
		web_send_error(req, 503, "unavailable",
		    j->reply->message != NULL && j->reply->message[0] != '\0'
			? j->reply->message
			: "databusd gave no status");
		return;
	}
	if (items == NULL) {
		web_send_error(req, 500, "internal", "out of memory");
		return;
	}
	for (i = 0; i < st->n_definitions; i++) {
		const Dbs__DefinitionInfo *d = st->definitions[i];

		if (!web_session_sees(&j->session, d->client))
			continue;
		if (json_array_append_new(items, rj_definition_info(d)) != 0) {
			json_decref(items);
			web_send_error(req, 500, "internal", "out of memory");
			return;
		}
	}
	web_send_json(req, 200,
	    json_pack("{s:o, s:o}", "items", items, "quotas",
		quotas_seen(&j->session, st)));
}

int
web_api_passengers(h2o_req_t *req, const struct web_args *a)
{
	struct web_session s;
	struct web_ctl_job *j;

	(void)a;
	if (!web_session_require(req, &s))
		return 0;
	if ((j = web_ctl_job_new(req, &s, list_answer)) == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	return web_ctl_submit_status(req, j);
}

static void
expedite_answer(h2o_req_t *req, struct web_ctl_job *j)
{
	const char *msg = j->reply->message != NULL ? j->reply->message : "";

	switch (j->reply->code) {
	case DBS_OK:
		web_send_json(req, 200,
		    json_pack("{s:o, s:o, s:o}", "client",
			rj_string(j->client), "name", rj_string(j->name),
			"message", rj_string(msg)));
		return;
	case DBS_ENOTFOUND:
		web_not_found(req);
		return;
	case DBS_EINVAL:
		web_send_error(req, 409, "conflict",
		    msg[0] != '\0' ? msg : "cannot expedite");
		return;
	default:
		web_send_error(req, 503, "unavailable",
		    msg[0] != '\0' ? msg : dbs_strerror((int)j->reply->code));
		return;
	}
}

int
web_api_expedite(h2o_req_t *req, const struct web_args *a)
{
	const char *client = a->client, *name = a->name;
	size_t clen = strlen(client), nlen = strlen(name);
	struct web_session s;
	struct web_ctl_job *j;

	if (!web_check_mutation(req))
		return 0;
	if (!web_session_require(req, &s))
		return 0;
	if ((j = web_ctl_job_new(req, &s, expedite_answer)) == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	memcpy(j->client, client, clen);
	j->client[clen] = '\0';
	memcpy(j->name, name, nlen);
	j->name[nlen] = '\0';
	if (!web_session_sees(&s, j->client)) {
		free(j);
		return web_not_found(req);
	}
	j->ref.client = j->client;
	j->ref.definition = j->name;
	j->creq.verb_case = DBS__CONTROL_REQUEST__VERB_EXPEDITE;
	j->creq.expedite = &j->ref;
	return web_ctl_submit(req, j);
}
