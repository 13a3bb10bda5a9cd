/*
 * api_config.c — the customizing section: configuration nodes, their
 * backups, saving and restoring.
 *
 *   GET  /api/v1/config                                  the nodes
 *   GET  /api/v1/config/{node}                           content, version
 *   PUT  /api/v1/config/{node}                           save
 *   POST /api/v1/config/{node}/validate                  check only
 *   GET  /api/v1/config/{node}/backups                   list
 *   GET  /api/v1/config/{node}/backups/{id}              one, with content
 *   POST /api/v1/config/{node}/backups/{id}/restore      save it again
 *
 * The files belong to databusd: reading, validating and saving them are
 * control requests (config_list, config_get, config_validate,
 * config_save, config_backups, config_backup_get), which carry the
 * session's scope (its client, and whether it is root) so that databusd
 * itself hides every node outside it, backups included (databusd keys
 * them by the node's kind, which only it knows). Operators get 403.
 *
 * Node names arrive percent-encoded in the path ("extra%2Fmapping.json"),
 * so routes.c reads them from the raw path, not the normalised one (its
 * {node} segment). A name is never used as a file name: databusd only
 * compares it with its list of nodes.
 */
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "bodies.h"
#include "params.h"
#include "record_json.h"
#include "web.h"

#define NODE_MAX        255
#define SAVE_TIMEOUT_MS (120 * 1000)

enum cfg_op {
	OP_LIST,
	OP_GET,
	OP_SAVE,
	OP_VALIDATE,
	OP_RESTORE,
	OP_BACKUPS,
	OP_BACKUP,
};

/* A configuration request: the control job of control_jobs.c (first, so that
 * the same path runs and frees it; base.owned is the saved content) with
 * the ConfigSave it points to. */
struct cfg_job {
	struct web_ctl_job base;
	enum cfg_op op;
	Dbs__ConfigSave cs;
	char node[NODE_MAX + 1];
	char version[80];
};

/* ----------------------------------------------------------- answers */

static json_t *
text_json(const void *data, size_t len)
{
	json_t *v = json_stringn(data != NULL ? data : "", len);

	if (v == NULL) {
		/* Not UTF-8: shown with U+FFFD for the bad bytes. */
		char *copy = strndup(data != NULL ? data : "", len);

		v = copy != NULL ? rj_string(copy) : NULL;
		free(copy);
	}
	return v;
}

static json_t *
node_json(const Dbs__CfgNode *n)
{
	return json_pack("{s:o, s:o, s:o, s:o}", "node", rj_string(n->node),
	    "kind", rj_string(n->kind), "client",
	    n->client[0] != '\0' ? rj_string(n->client) : json_null(), "file",
	    rj_string(n->file));
}

static void
answer_error(h2o_req_t *req, const Dbs__ControlReply *r)
{
	const char *msg = r->message != NULL && r->message[0] != '\0'
			      ? r->message
			      : dbs_strerror((int)r->code);

	switch (r->code) {
	case DBS_ENOTFOUND:
		web_not_found(req);
		return;
	case DBS_ECONFIG:
		web_send_error(req, 400, "invalid_config", msg);
		return;
	case DBS_EBUSY:
		web_send_error(req, 409, "conflict", msg);
		return;
	case DBS_ETOOBIG:
		web_send_error(req, 413, "too_large", msg);
		return;
	case DBS_EINVAL:
		web_send_error(req, 400, "bad_request", msg);
		return;
	default:
		web_send_error(req, 503, "unavailable", msg);
		return;
	}
}

static void
answer(h2o_req_t *req, struct web_ctl_job *base)
{
	struct cfg_job *j = (struct cfg_job *)base;
	const Dbs__ControlReply *r = base->reply;
	json_t *items, *doc;
	const Dbs__CfgNode *n = r->config_node;

	if (r->code != DBS_OK) {
		answer_error(req, r);
		return;
	}
	switch (j->op) {
	case OP_LIST:
		items = json_array();
		for (size_t i = 0;
		     r->config_nodes != NULL && i < r->config_nodes->n_items &&
		     items != NULL;
		     i++)
			json_array_append_new(
			    items, node_json(r->config_nodes->items[i]));
		web_send_json(req, 200, json_pack("{s:o}", "items", items));
		return;
	case OP_GET:
		if (n == NULL)
			break;
		doc = node_json(n);
		if (doc != NULL) {
			json_object_set_new(doc, "content",
			    text_json(n->content.data, n->content.len));
			json_object_set_new(
			    doc, "version", rj_string(n->version));
		}
		web_send_json(req, 200, doc);
		return;
	case OP_VALIDATE:
		web_send_json(req, 200,
		    json_pack("{s:s, s:o}", "node", j->node, "message",
			rj_string(r->message)));
		return;
	case OP_BACKUPS:
		items = json_array();
		for (size_t i = 0; i < r->n_config_backups && items != NULL;
		     i++) {
			const Dbs__ConfigBackup *b = r->config_backups[i];

			json_array_append_new(
			    items, json_pack("{s:I, s:o, s:o, s:I}", "id",
				       (json_int_t)b->version, "time",
				       rj_time(b->time_ms), "author",
				       rj_string(b->author), "size",
				       (json_int_t)b->size));
		}
		web_send_json(req, 200, json_pack("{s:o}", "items", items));
		return;
	case OP_BACKUP: {
		const Dbs__ConfigBackup *b = r->config_backup;

		if (b == NULL)
			break;
		web_send_json(req, 200,
		    json_pack("{s:o, s:I, s:o, s:o, s:I, s:o}", "node",
			rj_string(b->node), "id", (json_int_t)b->version,
			"time", rj_time(b->time_ms), "author",
			rj_string(b->author), "size",
			(json_int_t)b->content.len, "content",
			text_json(b->content.data, b->content.len)));
		return;
	}
	case OP_SAVE:
	case OP_RESTORE:
		if (n == NULL)
			break;
		web_send_json(req, 200,
		    json_pack("{s:s, s:o, s:o}", "node", j->node, "version",
			rj_string(n->version), "message",
			rj_string(r->message)));
		return;
	}
	web_send_error(req, 503, "unavailable", "databusd sent no node");
}

/* ---------------------------------------------------------------- jobs */

static struct cfg_job *
job_new(h2o_req_t *req, const struct web_session *s, enum cfg_op op,
    const char *node)
{
	struct cfg_job *j;
	Dbs__ControlRequest *creq;

	j = (struct cfg_job *)web_ctl_job_alloc(req, s, answer, sizeof(*j));
	if (j == NULL)
		return NULL;
	creq = &j->base.creq;
	j->op = op;
	/* A save or a validation runs `databus-worker --check` (and a save
	 * reloads): give it time. */
	if (op == OP_SAVE || op == OP_VALIDATE || op == OP_RESTORE)
		j->base.reply_timeout_ms = SAVE_TIMEOUT_MS;
	dbs__config_save__init(&j->cs);
	snprintf(j->node, sizeof(j->node), "%s", node != NULL ? node : "");
	snprintf(j->base.client, sizeof(j->base.client), "%s", s->client);
	j->cs.node = j->node;
	j->cs.author = j->base.actor;
	j->cs.scope_client = j->base.client;
	j->cs.scope_root = s->role == DBS__ROLE__ROLE_ROOT;
	j->cs.base_version = j->version;
	switch (op) {
	case OP_LIST:
		creq->verb_case = DBS__CONTROL_REQUEST__VERB_CONFIG_LIST;
		creq->config_list = &j->cs;
		break;
	case OP_GET:
		creq->verb_case = DBS__CONTROL_REQUEST__VERB_CONFIG_GET;
		creq->config_get = &j->cs;
		break;
	case OP_VALIDATE:
		creq->verb_case = DBS__CONTROL_REQUEST__VERB_CONFIG_VALIDATE;
		creq->config_validate = &j->cs;
		break;
	case OP_SAVE:
	case OP_RESTORE:
		creq->verb_case = DBS__CONTROL_REQUEST__VERB_CONFIG_SAVE;
		creq->config_save = &j->cs;
		break;
	case OP_BACKUPS:
		creq->verb_case = DBS__CONTROL_REQUEST__VERB_CONFIG_BACKUPS;
		creq->config_backups = &j->cs;
		break;
	case OP_BACKUP:
		creq->verb_case = DBS__CONTROL_REQUEST__VERB_CONFIG_BACKUP_GET;
		creq->config_backup_get = &j->cs;
		break;
	}
	return j;
}

/* ------------------------------------------------------------ handlers */

/* The body's "content" (required) and "version" (required when
 * need_version) into the job. False: answered. */
static bool
parse_body(h2o_req_t *req, struct cfg_job *j, bool need_version)
{
	const char *msg;
	char *content = NULL;
	size_t len;
	int rc =
	    web_config_body(req->entity.base, req->entity.len, need_version,
		j->version, sizeof(j->version), &content, &len, &msg);

	if (rc == 500) {
		web_send_error(req, 500, "internal", msg);
		return false;
	}
	if (rc != 0) {
		web_bad_param(req, msg);
		return false;
	}
	j->base.owned = content; /* transferred */
	j->cs.content.data = (uint8_t *)content;
	j->cs.content.len = len;
	return true;
}

static int
node_request(h2o_req_t *req, enum cfg_op op, const char *node)
{
	struct web_session s;
	struct cfg_job *j;

	if ((op == OP_SAVE || op == OP_VALIDATE) &&
	    !web_check_mutation_max(req, WEB_MAX_CONFIG_BODY))
		return 0;
	if (!web_require_admin(req, &s))
		return 0;
	if ((j = job_new(req, &s, op, node)) == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	if ((op == OP_SAVE || op == OP_VALIDATE) &&
	    !parse_body(req, j, op == OP_SAVE)) {
		free(j->base.owned);
		free(j);
		return 0;
	}
	return web_ctl_submit(req, &j->base);
}

/* Restore (POST), or list / show backups (GET): `id` is the backup's,
 * 0 for the list. */
static int
backup_request(h2o_req_t *req, enum cfg_op op, const char *node, uint64_t id)
{
	struct web_session s;
	struct cfg_job *j;

	if (op == OP_RESTORE && !web_check_mutation(req))
		return 0;
	if (!web_require_admin(req, &s))
		return 0;
	if ((j = job_new(req, &s, op, node)) == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	j->cs.restore_backup = id;
	return web_ctl_submit(req, &j->base);
}

/* -------------------------------------------------------------- handlers */

int
web_api_config_list(h2o_req_t *req, const struct web_args *a)
{
	(void)a;
	return node_request(req, OP_LIST, NULL);
}

int
web_api_config_get(h2o_req_t *req, const struct web_args *a)
{
	return node_request(req, OP_GET, a->node);
}

int
web_api_config_save(h2o_req_t *req, const struct web_args *a)
{
	return node_request(req, OP_SAVE, a->node);
}

int
web_api_config_validate(h2o_req_t *req, const struct web_args *a)
{
	return node_request(req, OP_VALIDATE, a->node);
}

int
web_api_config_backups(h2o_req_t *req, const struct web_args *a)
{
	return backup_request(req, OP_BACKUPS, a->node, 0);
}

int
web_api_config_backup(h2o_req_t *req, const struct web_args *a)
{
	return backup_request(req, OP_BACKUP, a->node, a->id);
}

int
web_api_config_restore(h2o_req_t *req, const struct web_args *a)
{
	return backup_request(req, OP_RESTORE, a->node, a->id);
}
