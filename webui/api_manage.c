/*
 * api_manage.c — purges, peek and the system switches.
 *
 *   POST /api/v1/queue/purge   {"client"?, "passenger"?, "older_than_days"?}
 *   POST /api/v1/logs/purge    {"client"?, "older_than_days"?}
 *   GET  /api/v1/peek/{client}/{name}
 *   POST /api/v1/system/{pause,resume,shutdown}   {}
 *
 * Each is a control request made on a pool thread. Purges are for
 * administrators (their own client, the default) and root (any client, or
 * all without "client"); the queue purge removes completed passengers
 * only, as databusctl's does. Peek is for every role of the client: the
 * worker looks into its sources without pulling anything, and attachment
 * previews come back inside JSON strings, as text when they are UTF-8
 * text and base64 otherwise, so that nothing a source holds is ever
 * served as markup. The system switches are root's alone; shutdown is
 * databusd's graceful one (this server is stopped last, after it replied).
 */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "bodies.h"
#include "record_json.h"
#include "web.h"

#define DAYS_MAX 36500.0
#define DAY_MS   (24.0 * 3600 * 1000)

/* ---------------------------------------------------------------- purge */

struct purge_job {
	struct web_ctl_job base;
	Dbs__Purge purge;
	char def[65];
};

static void
purge_answer(h2o_req_t *req, struct web_ctl_job *j)
{
	if (j->reply->code != DBS_OK) {
		web_ctl_error(req, j->reply);
		return;
	}
	web_send_json(req, 200,
	    json_pack("{s:I, s:o}", "purged",
		(json_int_t)(j->reply->count > INT64_MAX ? INT64_MAX
							 : j->reply->count),
		"message", rj_string(j->reply->message)));
}

int
web_api_purge(h2o_req_t *req, const struct web_args *a)
{
	bool queue = strcmp(a->arg, "queue") == 0;
	struct web_session s;
	struct purge_job *j = NULL;
	json_t *body = NULL;
	const char *msg;
	char client[65];
	double d = 0;

	if (!web_check_mutation(req) || !web_session_require(req, &s))
		return 0;
	if ((body = web_body_object(req)) == NULL)
		return 0;
	if ((j = (struct purge_job *)web_ctl_job_alloc(
		 req, &s, purge_answer, sizeof(*j))) == NULL) {
		web_send_error(req, 500, "internal", "out of memory");
		goto out;
	}
	if ((msg = web_purge_body(body, queue, client, j->def, &d)) != NULL) {
		web_bad_param(req, msg);
		goto out;
	}
	if (client[0] != '\0' && !web_session_sees(&s, client)) {
		web_not_found(req);
		goto out;
	}
	if (s.role == DBS__ROLE__ROLE_OPERATOR) {
		web_forbidden(req);
		goto out;
	}
	if (s.role != DBS__ROLE__ROLE_ROOT)
		snprintf(client, sizeof(client), "%s", s.client);
	snprintf(j->base.client, sizeof(j->base.client), "%s", client);
	dbs__purge__init(&j->purge);
	j->purge.client = j->base.client;
	j->purge.definition = j->def;
	j->purge.older_than_ms = (int64_t)(d * DAY_MS);
	if (queue) {
		j->base.creq.verb_case =
		    DBS__CONTROL_REQUEST__VERB_QUEUE_PURGE;
		j->base.creq.queue_purge = &j->purge;
	} else {
		j->base.creq.verb_case = DBS__CONTROL_REQUEST__VERB_LOGS_PURGE;
		j->base.creq.logs_purge = &j->purge;
	}
	web_ctl_submit(req, &j->base);
	j = NULL; /* transferred */
out:
	free(j);
	json_decref(body);
	return 0;
}

/* ----------------------------------------------------------------- peek */

/* UTF-8 text without control characters other than tab and newlines. */
static bool
texty(const uint8_t *d, size_t n)
{
	json_t *probe;

	for (size_t i = 0; i < n; i++)
		if ((d[i] < 0x20 && d[i] != '\t' && d[i] != '\n' &&
			d[i] != '\r') ||
		    d[i] == 0x7f)
			return false;
	probe = json_stringn((const char *)d, n); /* NULL: not UTF-8 */
	json_decref(probe);
	return probe != NULL;
}

static json_t *
preview(const Dbs__Attachment *a)
{
	size_t n = a->data.len, cap;
	char *b64;
	json_t *s;

	if (n == 0 || texty(a->data.data, n))
		return json_pack("{s:s%, s:s}", "preview",
		    n > 0 ? (const char *)a->data.data : "", n,
		    "preview_encoding", "utf-8");
	cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	if ((b64 = malloc(cap)) == NULL)
		return NULL;
	sodium_bin2base64(
	    b64, cap, a->data.data, n, sodium_base64_VARIANT_ORIGINAL);
	s = json_pack(
	    "{s:s, s:s}", "preview", b64, "preview_encoding", "base64");
	free(b64);
	return s;
}

static void
peek_answer(h2o_req_t *req, struct web_ctl_job *j)
{
	const Dbs__PeekResult *pr = j->reply->peek;
	json_t *doc, *items;
	size_t i, k;

	if (j->reply->code != DBS_OK || pr == NULL) {
		if (j->reply->code == DBS_OK)
			web_send_error(req, 503, "unavailable",
			    "databusd gave no peek result");
		else
			web_ctl_error(req, j->reply);
		return;
	}
	if ((doc = rj_peek_result(pr)) == NULL) {
		web_send_error(req, 500, "internal", "out of memory");
		return;
	}
	items = json_object_get(doc, "items");
	for (i = 0; i < pr->n_items && i < json_array_size(items); i++) {
		const Dbs__PulledItem *it = pr->items[i];
		json_t *atts =
		    json_object_get(json_array_get(items, i), "attachments");

		for (k = 0; k < it->n_attachments && k < json_array_size(atts);
		     k++) {
			json_t *p = preview(it->attachments[k]);

			if (p == NULL ||
			    json_object_update(json_array_get(atts, k), p) !=
				0) {
				json_decref(p);
				json_decref(doc);
				web_send_error(
				    req, 500, "internal", "out of memory");
				return;
			}
			json_decref(p);
		}
	}
	json_object_set_new(doc, "client", rj_string(j->client));
	json_object_set_new(doc, "name", rj_string(j->name));
	web_send_json(req, 200, doc);
}

int
web_api_peek(h2o_req_t *req, const struct web_args *a)
{
	const char *client = a->client, *name = a->name;
	struct web_session s;
	struct web_ctl_job *j;

	if (!web_session_require(req, &s))
		return 0;
	if (!web_session_sees(&s, client))
		return web_not_found(req);
	if ((j = web_ctl_job_new(req, &s, peek_answer)) == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	snprintf(j->client, sizeof(j->client), "%s", client);
	snprintf(j->name, sizeof(j->name), "%s", name);
	j->ref.client = j->client;
	j->ref.definition = j->name;
	j->creq.verb_case = DBS__CONTROL_REQUEST__VERB_PEEK;
	j->creq.peek = &j->ref;
	return web_ctl_submit(req, j);
}

/* --------------------------------------------------------------- system */

static void
system_answer(h2o_req_t *req, struct web_ctl_job *j)
{
	if (j->reply->code != DBS_OK) {
		web_ctl_error(req, j->reply);
		return;
	}
	web_send_json(req, 200,
	    json_pack("{s:o, s:o}", "action", rj_string(j->name), "message",
		rj_string(j->reply->message)));
}

int
web_api_system(h2o_req_t *req, const struct web_args *a)
{
	const char *verb = a->arg;
	struct web_session s;
	struct web_ctl_job *j;
	json_t *body;

	if (!web_check_mutation(req) || !web_session_require(req, &s))
		return 0;
	if (s.role != DBS__ROLE__ROLE_ROOT)
		return web_forbidden(req);
	if ((body = web_body_object(req)) == NULL)
		return 0;
	if (json_object_size(body) != 0) {
		json_decref(body);
		return web_bad_param(req, "expected {}");
	}
	json_decref(body);
	if ((j = web_ctl_job_new(req, &s, system_answer)) == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	snprintf(j->name, sizeof(j->name), "%s", verb);
	if (strcmp(verb, "pause") == 0) {
		j->creq.verb_case = DBS__CONTROL_REQUEST__VERB_PAUSE;
		j->creq.pause = &j->empty;
	} else if (strcmp(verb, "resume") == 0) {
		j->creq.verb_case = DBS__CONTROL_REQUEST__VERB_RESUME;
		j->creq.resume = &j->empty;
	} else {
		j->creq.verb_case = DBS__CONTROL_REQUEST__VERB_SHUTDOWN;
		j->creq.shutdown = &j->empty;
	}
	return web_ctl_submit(req, j);
}
