/*
 * api_dry_run.c — POST /api/v1/passengers/{client}/{name}/dry-run: run a
 * queued passenger, or uploaded samples, through a definition's
 * processors in a throwaway worker, changing nothing (databusd's
 * supervisor/dryrun.c does it; `databusctl dry-run` is the same request).
 *
 *   {"passenger": ID}
 *   {"samples": [{"name", "content_type"?, "text" | "base64"}],
 *    "metadata"?: {k: "v"}}
 *   either with "push"?: "PUSHER" (that pusher in its dry mode)
 *
 * Administrators of the client and root only (the route table says so);
 * another client's definition answers 404, as if it did not exist. The
 * body may be up to WEB_MAX_CONFIG_BODY (1 MiB), so samples are bounded by
 * that. The answer is the dry run's JSON form (record_json.h:
 * rj_dry_run_reply) with "client" and "name"; a failed step, a crash or a
 * timeout is a 200 whose "ok" is false — the dry run itself worked.
 * The body is read by dry_run_body.c into one buffer (`owned`), freed
 * with the job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "dry_run_body.h"
#include "record_json.h"
#include "web.h"

#define DRY_REPLY_MS 60000 /* databusd bounds a dry run by 55 s */

struct dry_job {
	struct web_ctl_job base;
	struct web_dry_body body; /* its arena is base.owned */
};

static void
dry_run_answer(h2o_req_t *req, struct web_ctl_job *j)
{
	json_t *doc;

	if (j->reply->code != DBS_OK) {
		if (j->reply->code == DBS_ETOOBIG)
			web_send_error(
			    req, 413, "too_large", j->reply->message);
		else
			web_ctl_error(req, j->reply);
		return;
	}
	if (j->reply->dry_run == NULL) {
		web_send_error(
		    req, 503, "unavailable", "databusd gave no dry run");
		return;
	}
	if ((doc = rj_dry_run_reply(j->reply->dry_run)) == NULL) {
		web_send_error(req, 500, "internal", "out of memory");
		return;
	}
	json_object_set_new(doc, "client", rj_string(j->client));
	json_object_set_new(doc, "name", rj_string(j->name));
	web_send_json(req, 200, doc);
}

int
web_api_dry_run(h2o_req_t *req, const struct web_args *a)
{
	struct web_session s;
	struct dry_job *j = NULL;
	json_t *body = NULL;
	const char *err;

	if (!web_check_mutation_max(req, WEB_MAX_CONFIG_BODY) ||
	    !web_session_require(req, &s))
		return 0;
	if (!web_session_sees(&s, a->client))
		return web_not_found(req);
	if (s.role == DBS__ROLE__ROLE_OPERATOR)
		return web_forbidden(req);
	if ((body = web_body_object(req)) == NULL)
		return 0;
	j = (struct dry_job *)web_ctl_job_alloc(
	    req, &s, dry_run_answer, sizeof(*j));
	/* Room for every string of the body, decoded (never longer). */
	if (j == NULL ||
	    (j->body.arena = j->base.owned =
		    malloc(req->entity.len + WEB_DRY_ARENA_EXTRA)) == NULL) {
		web_send_error(req, 500, "internal", "out of memory");
		goto out;
	}
	j->body.cap = req->entity.len + WEB_DRY_ARENA_EXTRA;
	if ((err = web_dry_run_body(body, &j->body)) != NULL) {
		web_bad_param(req, err);
		goto out;
	}
	snprintf(j->base.client, sizeof(j->base.client), "%s", a->client);
	snprintf(j->base.name, sizeof(j->base.name), "%s", a->name);
	j->body.dr.client = j->base.client;
	j->body.dr.definition = j->base.name;
	j->base.creq.verb_case = DBS__CONTROL_REQUEST__VERB_DRY_RUN;
	j->base.creq.dry_run = &j->body.dr;
	j->base.reply_timeout_ms = DRY_REPLY_MS;
	json_decref(body);
	return web_ctl_submit(req, &j->base); /* takes j */
out:
	if (j != NULL) {
		free(j->base.owned);
		free(j);
	}
	json_decref(body);
	return 0;
}
