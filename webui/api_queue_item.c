/*
 * api_queue_item.c — changing one passenger's steps, and its attachments.
 *
 *   POST /api/v1/queue/{client}/{id}/steps
 *        {"step": NAME, "complete": true|false} or {"requeue": true}
 *   GET  /api/v1/queue/{client}/{id}/attachments/{name}[?download=1]
 *
 * Steps: administrators of the passenger's client and root; an operator
 * gets 403, another client's passenger (or none) 404. The body is checked
 * against the passenger as the store has it (the step must exist; requeue
 * is for dead passengers only) and then sent to databusd as set_step,
 * which checks again and commits; the reply is the passenger as committed.
 *
 * Attachments: every role of the client. The name in the path is
 * percent-decoded and compared with the passenger's attachment list; it
 * only ever selects a store key. What the browser gets is chosen so that
 * nothing stored can run as a page: text types go out as
 * text/plain; charset=utf-8 (HTML included), PNG/JPEG/GIF/WebP images
 * inline with their type when their first bytes agree, everything else
 * (SVG too) as application/octet-stream with Content-Disposition:
 * attachment and a sanitized file name; ?download=1 makes any of them an
 * attachment. These responses carry `Content-Security-Policy: sandbox;
 * default-src 'none'` instead of the API's policy.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "bodies.h"
#include "params.h"
#include "record_json.h"
#include "web.h"

#define STEP_NAME_MAX WEB_STEP_NAME_MAX
#define ATT_NAME_MAX  1024
#define FILENAME_MAX_ 100

/* The passenger `id` of `client`, or NULL after answering (404 / 500). */
static Dbs__Passenger *
passenger_of(h2o_req_t *req, const char *client, uint64_t id)
{
	struct store_txn *txn = NULL;
	Dbs__Passenger *p = NULL;
	int rc;

	if ((rc = store_txn_begin(web_store(web_of(req)), false, &txn)) !=
	    DBS_OK) {
		web_send_error(req, 500, "store", dbs_strerror(rc));
		return NULL;
	}
	rc = store_passenger_get(txn, id, &p);
	store_txn_abort(txn);
	if (rc == DBS_OK && strcmp(p->client, client) != 0) {
		dbs__passenger__free_unpacked(p, NULL);
		p = NULL;
		rc = DBS_ENOTFOUND;
	}
	if (rc == DBS_ENOTFOUND)
		web_not_found(req);
	else if (rc != DBS_OK)
		web_send_error(req, 500, "store", dbs_strerror(rc));
	return p;
}

/* ---------------------------------------------------------------- steps */

struct steps_job {
	struct web_ctl_job base;
	Dbs__SetStep set;
	char step[STEP_NAME_MAX + 1];
	uint64_t id;
};

static void
steps_answer(h2o_req_t *req, struct web_ctl_job *jb)
{
	struct steps_job *j = (struct steps_job *)jb;
	const char *msg = jb->reply->message != NULL ? jb->reply->message : "";
	Dbs__Passenger *p;

	if (jb->reply->code != DBS_OK) {
		web_ctl_error(req, jb->reply);
		return;
	}
	/* databusd replied after its commit: the store has the change. */
	if ((p = passenger_of(req, jb->client, j->id)) == NULL)
		return;
	web_send_json(req, 200,
	    json_pack("{s:o, s:o}", "passenger", rj_passenger(p), "message",
		rj_string(msg)));
	dbs__passenger__free_unpacked(p, NULL);
}

/* Check the body against the passenger; fill j->set. Answers 400/409
 * itself and returns false on a bad body. */
static bool
steps_body(
    h2o_req_t *req, json_t *body, const Dbs__Passenger *p, struct steps_job *j)
{
	const char *msg;
	bool requeue, complete;
	size_t i;

	if ((msg = web_steps_body(body, &requeue, j->step, &complete)) !=
	    NULL) {
		web_bad_param(req, msg);
		return false;
	}
	if (requeue) {
		if (p->state != DBS__PASSENGER_STATE__PS_DEAD) {
			web_send_error(req, 409, "conflict",
			    "only a dead passenger can be requeued");
			return false;
		}
		j->set.requeue = true;
		snprintf(j->step, sizeof(j->step), "*");
		return true;
	}
	for (i = 0; i < p->n_steps; i++)
		if (strcmp(p->steps[i]->name, j->step) == 0)
			break;
	if (i == p->n_steps) {
		web_bad_param(req, "the passenger has no step of that name");
		return false;
	}
	j->set.complete = complete;
	return true;
}

int
web_api_steps(h2o_req_t *req, const struct web_args *a)
{
	const char *client = a->client;
	uint64_t id = a->id;
	struct web_session s;
	struct steps_job *j = NULL;
	Dbs__Passenger *p = NULL;
	json_t *body = NULL;

	if (!web_check_mutation(req) || !web_session_require(req, &s))
		return 0;
	if (!web_session_sees(&s, client))
		return web_not_found(req);
	if (s.role == DBS__ROLE__ROLE_OPERATOR)
		return web_forbidden(req);
	if ((body = web_body_object(req)) == NULL)
		return 0;
	if ((p = passenger_of(req, client, id)) == NULL)
		goto out;
	j = (struct steps_job *)web_ctl_job_alloc(
	    req, &s, steps_answer, sizeof(*j));
	if (j == NULL) {
		web_send_error(req, 500, "internal", "out of memory");
		goto out;
	}
	dbs__set_step__init(&j->set);
	if (!steps_body(req, body, p, j))
		goto out;
	snprintf(j->base.client, sizeof(j->base.client), "%s", client);
	j->id = id;
	j->set.client = j->base.client;
	j->set.id = id;
	j->set.step = j->step;
	j->base.creq.verb_case = DBS__CONTROL_REQUEST__VERB_SET_STEP;
	j->base.creq.set_step = &j->set;
	web_ctl_submit(req, &j->base);
	j = NULL; /* transferred */
out:
	free(j);
	if (p != NULL)
		dbs__passenger__free_unpacked(p, NULL);
	json_decref(body);
	return 0;
}

/* ---------------------------------------------------------- attachments */

int
web_api_attachment(h2o_req_t *req, const struct web_args *a)
{
	const char *client = a->client, *name = a->file.base;
	uint64_t id = a->id;
	size_t nlen = a->file.len;
	struct web_session s;
	struct store_txn *txn = NULL;
	Dbs__Passenger *p = NULL;
	const Dbs__AttachmentMeta *meta = NULL;
	char want[ATT_NAME_MAX + 1], mt[128], file[FILENAME_MAX_ + 1],
	    disp[FILENAME_MAX_ + 40], flag[8];
	const char *type;
	const void *data = NULL;
	size_t len = 0, i;
	bool download = false, bad;
	int rc;

	if (!web_session_require(req, &s))
		return 0;
	if (!web_session_sees(&s, client))
		return web_not_found(req);
	if (web_query_param(req, "download", flag, sizeof(flag), &bad))
		download = strcmp(flag, "1") == 0 || strcmp(flag, "true") == 0;
	else if (bad)
		return web_bad_param(req, "invalid download");
	/* .../attachments/{file}: the name as one %-encoded segment;
	 * .../attachment?name=: any name, "." and ".." too, which a path
	 * segment cannot carry (clients resolve them). */
	if (nlen == 0) {
		if (!web_query_param(req, "name", want, sizeof(want), &bad) ||
		    want[0] == '\0')
			return web_bad_param(
			    req, "expected ?name=<attachment name>");
	} else if (!web_decode_segment(name, nlen, want, sizeof(want)))
		return web_not_found(req);
	if ((p = passenger_of(req, client, id)) == NULL)
		return 0;
	for (i = 0; i < p->n_attachments && meta == NULL; i++)
		if (strcmp(p->attachments[i]->name, want) == 0)
			meta = p->attachments[i];
	if (meta == NULL) {
		dbs__passenger__free_unpacked(p, NULL);
		return web_not_found(req);
	}
	web_media_type(meta->content_type, mt, sizeof(mt));
	web_safe_filename(meta->name, file, sizeof(file));
	rc = store_txn_begin(web_store(web_of(req)), false, &txn);
	if (rc == DBS_OK)
		rc = store_attachment_get(txn, id, meta->name, &data, &len);
	dbs__passenger__free_unpacked(p, NULL);
	if (rc != DBS_OK) {
		store_txn_abort(txn);
		return rc == DBS_ENOTFOUND ? web_not_found(req)
					   : web_send_error(req, 500, "store",
						 dbs_strerror(rc));
	}
	if (web_is_text_type(mt)) {
		type = "text/plain; charset=utf-8";
	} else if ((type = web_image_type(mt, data, len)) == NULL) {
		type = "application/octet-stream";
		download = true;
	}
	snprintf(disp, sizeof(disp), "%s; filename=\"%s\"",
	    download ? "attachment" : "inline", file);
	req->res.status = 200;
	req->res.reason = "OK";
	web_add_header(
	    req, "content-security-policy", "sandbox; default-src 'none'");
	web_add_header(req, "x-content-type-options", "nosniff");
	web_add_header(req, "referrer-policy", "no-referrer");
	web_add_header(req, "cache-control", "no-store");
	web_add_header(req, "content-type", type);
	web_add_header(req, "content-disposition", disp);
	/* web_send_inline copies the body: the store's pointer is valid
	 * until the transaction ends, right after. */
	web_send_inline(req, data, len);
	store_txn_abort(txn);
	return 0;
}
