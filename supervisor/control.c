/*
 * control.c — the control socket: requests from databus-web and databusctl.
 *
 * A raw-mode REP socket on run/control (a 0700 directory: only the owner
 * of the data dir can connect). Raw mode lets a request wait — a peek
 * waits for its worker — while later requests are served: the reply keeps
 * the request's backtrace header and goes out whenever it is ready.
 * Replies to requests that change the store go out after the commit that
 * made the change durable (sup_after_commit); if that commit fails they
 * become error replies.
 *
 * Queries (queue, logs, users) are not here: readers open the store
 * read-only themselves. A request that does not decode closes the pipe it
 * came on.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "child.h"
#include "commit.h"
#include "control.h"
#include "control_socket.h"
#include "dbs_error.h"
#include "history_sup.h"
#include "dryrun.h"
#include "import.h"
#include "names.h"
#include "passenger.h"
#include "quota.h"
#include "reload.h"
#include "status.h"
#include "store_swap.h"
#include "sup.h"
#include "webhook.h"
#include "wire.h"

#define CTL_BURST       64
#define PEEK_TIMEOUT_MS 30000
#define PEEK_LIMIT      50
#define PURGE_CHUNK     5000

struct peek {
	struct peek *next;
	uint64_t peek_id;
	uint64_t req_id;
	struct worker *w;
	nng_msg *msg; /* the request, kept for its header */
	int64_t deadline_ms;
};

int
control_open(struct sup *s)
{
	/* Behind a relay and a watchdog: control_socket.c. */
	return control_socket_open(s->run_dir, &s->ctl, &s->ctl_fd);
}

/* Send `r` as the reply to the request in `msg` (which is consumed). */
static void
reply(struct sup *s, nng_msg *msg, Dbs__ControlReply *r)
{
	sup_control_reply(s, msg, r, false);
}

/* The same, sent at once: for replies that change nothing. */
static void
reply_now(struct sup *s, nng_msg *msg, Dbs__ControlReply *r)
{
	sup_control_reply(s, msg, r, true);
}

static void
reply_code(
    struct sup *s, nng_msg *msg, uint64_t id, int code, const char *text)
{
	Dbs__ControlReply r = DBS__CONTROL_REPLY__INIT;

	r.id = id;
	r.code = code;
	r.message = (char *)(text != NULL ? text : dbs_strerror(code));
	reply(s, msg, &r);
}

/* ------------------------------------------------------------ status */

static void
do_status(struct sup *s, nng_msg *msg, uint64_t id)
{
	Dbs__ControlReply r = DBS__CONTROL_REPLY__INIT;
	Dbs__StatusReply st = DBS__STATUS_REPLY__INIT;
	Dbs__SystemState sys;
	Dbs__StoreStats stats = DBS__STORE_STATS__INIT;
	Dbs__MetricsHistogram hist;
	size_t n = s->n_workers;
	Dbs__DefinitionInfo *di = calloc(n + 1, sizeof(*di));
	Dbs__DefinitionInfo **dip = calloc(n + 1, sizeof(*dip));
	Dbs__WorkerInfo *wi = calloc(n + 1, sizeof(*wi));
	struct store_txn *txn = sup_txn(s);

	if (di == NULL || dip == NULL || wi == NULL) {
		reply_code(s, msg, id, DBS_ENOMEM, NULL);
		goto out;
	}
	sup_fill_system_state(s, &sys);
	for (size_t i = 0; i < n; i++) {
		struct worker *w = s->workers[i];

		sup_fill_definition_info(s, w, &di[i], &wi[i]);
		if (txn != NULL)
			(void)store_queue_counts(txn, w->def->client,
			    w->def->name, &di[i].pending, &di[i].done,
			    &di[i].dead);
		dip[i] = &di[i];
	}
	if (txn != NULL)
		(void)store_stats(txn, &stats);
	stats.commits = s->commits;
	metrics_fill_status(s, &st, &hist);
	st.system = &sys;
	st.n_definitions = n;
	st.definitions = dip;
	st.store = &stats;
	quota_fill_status(s, txn, &st);
	r.id = id;
	r.status = &st;
	reply_now(s, msg, &r);
	quota_clear_status(&st);
out:
	for (size_t i = 0; di != NULL && i < n; i++)
		sup_clear_definition_info(&di[i]);
	free(di);
	free(dip);
	free(wi);
}

/* ------------------------------------------------------------ queue */

static int
set_step(struct sup *s, const Dbs__SetStep *req, char *err, size_t errlen)
{
	struct store_txn *txn = sup_txn(s);
	Dbs__Passenger *p = NULL;
	int64_t now = wire_now_ms();
	struct worker *w;
	int rc;

	if (txn == NULL)
		return DBS_EIO;
	if ((rc = store_passenger_get(txn, req->id, &p)) != DBS_OK)
		return rc;
	if (strcmp(p->client, req->client) != 0) {
		/* Another client's passenger does not exist for this one. */
		rc = DBS_ENOTFOUND;
		goto out;
	}
	/* Either rule starts the passenger afresh (passenger.h). */
	if (req->requeue && (rc = passenger_requeue(p, now)) != DBS_OK) {
		snprintf(
		    err, errlen, "passenger %" PRIu64 " is not dead", p->id);
		goto out;
	}
	if (!req->requeue && (rc = passenger_toggle(p, req->step,
				  req->complete, now)) != DBS_OK) {
		snprintf(err, errlen,
		    "passenger %" PRIu64 " has no step \"%s\"", p->id,
		    req->step);
		goto out;
	}
	if ((rc = store_passenger_put(txn, p)) != DBS_OK) {
		sup_store_failed(s, rc, "changing a step");
		goto out;
	}
	if (p->state == DBS__PASSENGER_STATE__PS_PENDING &&
	    (w = sup_find_worker(s, p->client, p->definition)) != NULL)
		sched_retry_at(s->sched, w->slot, wire_mono_ms());
	snprintf(err, errlen, "passenger %" PRIu64 " is %s", p->id,
	    p->state == DBS__PASSENGER_STATE__PS_DONE ? "done" : "pending");
out:
	dbs__passenger__free_unpacked(p, NULL);
	return rc;
}

static const char *
empty_null(const char *s)
{
	return s == NULL || *s == '\0' ? NULL : s;
}

/* ------------------------------------------------------------ users */

static bool
client_exists(const struct sup *s, const char *client)
{
	if (strcmp(client, "root") == 0)
		return true;
	for (size_t i = 0; i < s->cfg->n_clients; i++)
		if (strcmp(s->cfg->clients[i].name, client) == 0)
			return true;
	return false;
}

static int
user_put(struct sup *s, const Dbs__UserPut *req, char *err, size_t errlen)
{
	struct store_txn *txn = sup_txn(s);
	Dbs__User *u = NULL, nu = DBS__USER__INIT;
	int64_t now = wire_now_ms();
	bool root = strcmp(req->client, "root") == 0;
	int rc;

	if (txn == NULL)
		return DBS_EIO;
	if (!client_exists(s, req->client)) {
		snprintf(err, errlen, "no client \"%s\"", req->client);
		return DBS_ENOTFOUND;
	}
	if (!dbs_user_name_ok(req->username, strlen(req->username))) {
		snprintf(err, errlen, "a user name has " DBS_USER_NAME_RULE);
		return DBS_EINVAL;
	}
	if (req->set_password &&
	    strncmp(req->password_hash, "$argon2id$", 10) != 0) {
		/* Only hashes are stored, never clear text. */
		snprintf(err, errlen,
		    "the password must arrive hashed with "
		    "Argon2id");
		return DBS_EINVAL;
	}
	if (req->set_role && (root != (req->role == DBS__ROLE__ROLE_ROOT))) {
		snprintf(err, errlen,
		    root ? "users of client root have role "
			   "root"
			 : "role root is for client root");
		return DBS_EINVAL;
	}
	rc = store_user_get(txn, req->client, req->username, &u);
	if (rc != DBS_OK && rc != DBS_ENOTFOUND)
		return rc;
	if (req->create && rc == DBS_OK) {
		snprintf(err, errlen, "user %s/%s exists", req->client,
		    req->username);
		rc = DBS_EEXIST;
		goto out;
	}
	if (!req->create && rc == DBS_ENOTFOUND) {
		snprintf(
		    err, errlen, "no user %s/%s", req->client, req->username);
		goto out;
	}
	if (req->create && !req->set_password) {
		snprintf(err, errlen, "a new user needs a password");
		rc = DBS_EINVAL;
		goto out;
	}
	nu.client = req->client;
	nu.username = req->username;
	nu.password_hash =
	    req->set_password ? req->password_hash : u->password_hash;
	nu.role = req->set_role
		      ? req->role
		      : (u != NULL ? u->role
				   : (root ? DBS__ROLE__ROLE_ROOT
					   : DBS__ROLE__ROLE_OPERATOR));
	nu.created_ms = u != NULL ? u->created_ms : now;
	nu.updated_ms = now;
	if ((rc = store_user_put(txn, &nu)) != DBS_OK) {
		sup_store_failed(s, rc, "saving a user");
		goto out;
	}
	if (!req->create &&
	    (req->set_password || (u != NULL && nu.role != u->role))) {
		/* A new password ends the sessions of the old one; a new
		 * role those that carry the old role. */
		uint64_t n = 0;

		if ((rc = store_session_revoke_user(
			 txn, req->client, req->username, &n)) != DBS_OK) {
			sup_store_failed(s, rc, "revoking sessions");
			goto out;
		}
	}
	sup_log("user %s/%s %s", req->client, req->username,
	    req->create ? "added" : "changed");
	snprintf(err, errlen, "user %s/%s %s", req->client, req->username,
	    req->create ? "added" : "changed");
out:
	if (u != NULL)
		dbs__user__free_unpacked(u, NULL);
	return rc;
}

/* ------------------------------------------------------------- peek */

/*
 * Why an empty peek is empty, when the definition has a webhook puller:
 * nothing waits in a webhook's source, since each delivery is seated as it
 * arrives (webhook.c). Without this, "0 item(s) waiting" reads like a
 * fault. Writes into buf and returns it, or NULL when there is nothing to
 * explain.
 */
static const char *
peek_explain(
    const struct worker *w, const Dbs__PeekResult *r, char *buf, size_t len)
{
	const struct cfg_definition *def = w->def;

	if (r->n_items > 0 || (r->message != NULL && r->message[0] != '\0') ||
	    def == NULL)
		return NULL;
	for (size_t i = 0; i < def->n_pullers; i++)
		if (strcmp(def->pullers[i].type, "webhook") == 0) {
			snprintf(buf, len,
			    "puller \"%s\" is a webhook: each delivery to "
			    "POST /hooks/%s/%s is seated in the queue as it "
			    "arrives, so nothing ever waits in its source "
			    "(look for it in the Queue)",
			    def->pullers[i].name, def->client, def->name);
			return buf;
		}
	return NULL;
}

void
control_on_peek_result(struct sup *s, struct worker *w, Dbs__PeekResult *r)
{
	for (struct peek **pp = &s->peeks; *pp != NULL; pp = &(*pp)->next) {
		struct peek *p = *pp;
		Dbs__ControlReply cr = DBS__CONTROL_REPLY__INIT;
		char why[512], *own = r->message;
		const char *explained;

		if (p->w != w || p->peek_id != r->peek_id)
			continue;
		*pp = p->next;
		cr.id = p->req_id;
		cr.code = r->code;
		cr.message = r->message;
		if ((explained = peek_explain(w, r, why, sizeof(why))) != NULL)
			r->message = cr.message = (char *)explained;
		cr.peek = r;
		reply(s, p->msg, &cr); /* packs it: `why` is done with */
		r->message = own;      /* the caller frees its own */
		free(p);
		return;
	}
	/* An answer nobody waits for (timed out): harmless. */
}

void
control_fail_peeks(struct sup *s, struct worker *w, int code, const char *msg)
{
	struct peek **pp = &s->peeks;

	while (*pp != NULL) {
		struct peek *p = *pp;

		if (w != NULL && p->w != w) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		reply_code(s, p->msg, p->req_id, code, msg);
		free(p);
	}
}

void
control_timers(struct sup *s, int64_t now, int64_t *wake)
{
	struct peek **pp = &s->peeks;

	store_swap_timers(s, now, wake);

	while (*pp != NULL) {
		struct peek *p = *pp;

		if (now < p->deadline_ms) {
			if (*wake < 0 || p->deadline_ms < *wake)
				*wake = p->deadline_ms;
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		reply_code(s, p->msg, p->req_id, DBS_ETIMEOUT,
		    "the worker did not answer the peek within 30 s");
		free(p);
	}
}

static void
do_peek(struct sup *s, nng_msg *msg, uint64_t id, const Dbs__DefRef *ref)
{
	struct worker *w = sup_find_worker(s, ref->client, ref->definition);
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
	Dbs__PeekRequest pr = DBS__PEEK_REQUEST__INIT;
	struct peek *p;

	if (w == NULL) {
		reply_code(s, msg, id, DBS_ENOTFOUND, "no such passenger");
		return;
	}
	if (w->pid <= 0 || (w->state != DBS__WORKER_STATE__WS_READY &&
			       w->state != DBS__WORKER_STATE__WS_BUSY)) {
		reply_code(
		    s, msg, id, DBS_ENOWORKER, "its worker is not running");
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		reply_code(s, msg, id, DBS_ENOMEM, NULL);
		return;
	}
	p->peek_id = ++s->next_peek_id;
	p->req_id = id;
	p->w = w;
	p->msg = msg;
	p->deadline_ms = wire_mono_ms() + PEEK_TIMEOUT_MS;
	p->next = s->peeks;
	s->peeks = p;
	pr.peek_id = p->peek_id;
	pr.limit = PEEK_LIMIT;
	m.body_case = DBS__WORKER_MSG__BODY_PEEK;
	m.peek = &pr;
	sup_send_worker(s, w, &m);
}

/* --------------------------------------------------------- dispatch */

static int
expedite(struct sup *s, const Dbs__DefRef *ref, char *err, size_t errlen)
{
	struct worker *w = sup_find_worker(s, ref->client, ref->definition);

	if (w == NULL) {
		snprintf(err, errlen, "no passenger %s/%s", ref->client,
		    ref->definition);
		return DBS_ENOTFOUND;
	}
	if (s->shutting_down)
		return DBS_ESHUTDOWN;
	if (w->state == DBS__WORKER_STATE__WS_FAILED) {
		if (w->permanent) {
			snprintf(err, errlen,
			    "its worker failed: %s; fix the "
			    "configuration and reload",
			    w->error);
			return DBS_EINVAL;
		}
		/* An operator's expedite gives a crash-looping worker
		 * another chance. */
		memset(&w->rs, 0, sizeof(w->rs));
		child_spawn(s, w);
	}
	sched_expedite(s->sched, w->slot, wire_mono_ms());
	snprintf(err, errlen, "%s/%s will drive within 1 s%s", ref->client,
	    ref->definition,
	    sched_paused(s->sched) ? " of resume (databus is paused)" : "");
	return DBS_OK;
}

/* --------------------------------------------------- the verb table */

/* What a verb's handler gives back for the common reply. */
struct verb_out {
	char text[2048]; /* "" : the text of the code */
	uint64_t count;
};

static int
do_pause(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	bool pause = req->verb_case == DBS__CONTROL_REQUEST__VERB_PAUSE;

	(void)msg;
	sched_pause(s->sched, pause);
	sup_log("%s by %s", pause ? "paused" : "resumed", req->actor);
	sup_event_system(s);
	snprintf(
	    out->text, sizeof(out->text), "%s", pause ? "paused" : "resumed");
	return DBS_OK;
}

/*
 * Queue and log purges. Large purges go in bounded chunks, each
 * committed, so that no transaction grows past what LMDB can hold dirty.
 */
static int
do_purge(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	bool queue = req->verb_case == DBS__CONTROL_REQUEST__VERB_QUEUE_PURGE;
	const Dbs__Purge *p = queue ? req->queue_purge : req->logs_purge;
	int64_t now = wire_now_ms();
	int64_t before =
	    p->older_than_ms > 0 ? now - p->older_than_ms : INT64_MAX;
	struct store_txn *txn;
	int rc;

	(void)msg;
	for (;;) {
		uint64_t n = 0;

		if ((txn = sup_txn(s)) == NULL)
			return DBS_EIO;
		rc = queue ? store_queue_purge(txn, empty_null(p->client),
				 empty_null(p->definition), before,
				 PURGE_CHUNK, &n)
			   : store_log_purge(
				 txn, empty_null(p->client), before, &n);
		if (rc != DBS_OK) {
			sup_store_failed(s, rc, "purging");
			return rc;
		}
		out->count += n;
		if (!queue || n < PURGE_CHUNK)
			break;
		if ((rc = sup_commit(s)) != DBS_OK)
			return rc;
	}
	snprintf(out->text, sizeof(out->text), "purged %" PRIu64 " %s",
	    out->count, queue ? "passengers" : "logs");
	return DBS_OK;
}

/* Remove a user, or only revoke its sessions: both end every session. */
static int
do_user_end(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	bool rm = req->verb_case == DBS__CONTROL_REQUEST__VERB_USER_RM;
	const Dbs__UserRef *u = rm ? req->user_rm : req->user_revoke;
	Dbs__User *old = NULL;
	struct store_txn *txn;
	int rc;

	(void)msg;
	if ((txn = sup_txn(s)) == NULL)
		return DBS_EIO;
	if ((rc = store_user_get(txn, u->client, u->username, &old)) !=
	    DBS_OK) {
		snprintf(out->text, sizeof(out->text), "no user %s/%s",
		    u->client, u->username);
		return rc;
	}
	dbs__user__free_unpacked(old, NULL);
	rc = store_session_revoke_user(
	    txn, u->client, u->username, &out->count);
	if (rc == DBS_OK && rm)
		rc = store_user_delete(txn, u->client, u->username);
	if (rc != DBS_OK) {
		sup_store_failed(s, rc, "changing a user");
		return rc;
	}
	snprintf(out->text, sizeof(out->text),
	    "%s %s/%s; %" PRIu64 " session(s) ended",
	    rm ? "removed" : "revoked", u->client, u->username, out->count);
	return DBS_OK;
}

static int
do_session_delete(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	const Dbs__SessionRef *r = req->session_delete;
	struct store_txn *txn;
	int rc;

	(void)msg;
	(void)out;
	if ((txn = sup_txn(s)) == NULL)
		return DBS_EIO;
	rc = store_session_delete(txn, r->token_hash.data, r->token_hash.len);
	if (rc != DBS_OK && rc != DBS_ENOTFOUND)
		sup_store_failed(s, rc, "ending a session");
	return rc;
}

static int
do_shutdown(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	(void)out;
	sup_log("shutdown requested by %s", req->actor);
	reply_code(s, msg, req->id, DBS_OK, "shutting down");
	sup_begin_shutdown(s, "control request");
	return DBS_OK;
}

/* Verbs served by one call each: thin adapters to the table's shape. */

static int
do_status_verb(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	(void)out;
	do_status(s, msg, req->id);
	return DBS_OK;
}

static int
do_peek_verb(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	(void)out;
	do_peek(s, msg, req->id, req->peek);
	return DBS_OK;
}

/* dry-run: answered by dryrun.c when the throwaway worker is done. */
static int
do_dry_run(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	(void)out;
	dryrun_request(s, msg, req->id, req->dry_run);
	return DBS_OK;
}

static int
do_webhook(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	(void)out;
	webhook_handle(s, msg, req->id, req->webhook);
	return DBS_OK;
}

static int
do_config(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	(void)out;
	config_ctl_handle(s, msg, req);
	return DBS_OK;
}

static int
do_expedite(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	(void)msg;
	return expedite(s, req->expedite, out->text, sizeof(out->text));
}

static int
do_set_step(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	(void)msg;
	return set_step(s, req->set_step, out->text, sizeof(out->text));
}

static int
do_user_put(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	(void)msg;
	return user_put(s, req->user_put, out->text, sizeof(out->text));
}

static int
do_session_create(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	(void)msg;
	(void)out;
	return sessions_create(s, req->session_create);
}

static int
do_session_touch(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	(void)msg;
	(void)out;
	return sessions_touch(s, req->session_touch);
}

static int
do_reload(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	(void)msg;
	(void)req;
	return sup_reload(s, out->text, sizeof(out->text));
}

static int
do_export_event(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	(void)msg;
	return config_export_event(
	    s, req->export_event, out->text, sizeof(out->text));
}

/*
 * databusctl import into the running databusd: one batch of an archive,
 * seated in the open write batch and answered after its commit, so the
 * counts and the id mapping it reports are durable.
 */
static int
do_import(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	const Dbs__ImportBatch *b = req->import_batch;
	Dbs__ControlReply r = DBS__CONTROL_REPLY__INIT;
	Dbs__ImportReply ir = DBS__IMPORT_REPLY__INIT;
	struct import_stats st = {0};
	struct store_txn *txn;
	int rc = DBS_OK;

	(void)out;
	if ((txn = sup_txn(s)) == NULL) {
		reply_code(s, msg, req->id, DBS_EIO, s->store_error);
		return DBS_OK;
	}
	for (size_t i = 0; rc == DBS_OK && i < b->n_items; i++) {
		const Dbs__ImportItem *it = b->items[i];

		if (it->passenger == NULL) {
			rc = DBS_EINVAL;
			break;
		}
		rc = import_passenger(txn, it->passenger, it->attachments,
		    it->n_attachments, false, &st);
		s->batch_bytes += it->passenger->n_attachments * 64;
	}
	for (size_t i = 0; rc == DBS_OK && i < b->n_users; i++)
		rc = import_user(txn, b->users[i], false, &st);
	/* The sender mapped the entries' passenger ids (ImportReply.ids). */
	for (size_t i = 0; rc == DBS_OK && i < b->n_logs; i++)
		rc = import_log(txn, b->logs[i], false, false, &st);
	if (rc != DBS_OK && rc != DBS_EINVAL && rc != DBS_ETOOBIG) {
		sup_store_failed(s, rc, "importing");
	}
	r.id = req->id;
	r.code = rc;
	r.message = (char *)dbs_strerror(rc);
	ir.added = st.added;
	ir.duplicates = st.duplicates;
	ir.n_remap_from = ir.n_remap_to = st.n_remap / 2;
	ir.remap_from = calloc(st.n_remap / 2 + 1, sizeof(uint64_t));
	ir.remap_to = calloc(st.n_remap / 2 + 1, sizeof(uint64_t));
	if (ir.remap_from == NULL || ir.remap_to == NULL)
		ir.n_remap_from = ir.n_remap_to = 0;
	for (size_t i = 0; i < ir.n_remap_from; i++) {
		ir.remap_from[i] = st.remap[2 * i];
		ir.remap_to[i] = st.remap[2 * i + 1];
	}
	ir.n_ids = st.n_ids / 2;
	ir.ids = calloc(ir.n_ids + 1, sizeof(uint64_t));
	if (ir.ids == NULL)
		ir.n_ids = 0;
	for (size_t i = 0; i < ir.n_ids; i++)
		ir.ids[i] = st.ids[2 * i + 1];
	ir.logs_added = st.logs_added;
	ir.logs_duplicates = st.logs_duplicates;
	ir.users_added = st.users_added;
	ir.users_existing = st.users_existing;
	ir.n_users_locked = st.n_locked;
	ir.users_locked = st.locked;
	r.import_reply = &ir;
	sup_control_reply(s, msg, &r, rc != DBS_OK);
	free(ir.remap_from);
	free(ir.remap_to);
	free(ir.ids);
	import_stats_free(&st);
	return DBS_OK;
}

/* restore and compact while running (store_swap.c). */
static int
do_store_swap(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	(void)out;
	store_swap_request(s, msg, req);
	return DBS_OK;
}

/* The charts' history (history_sup.c). */
static int
do_history(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	(void)out;
	history_sup_ctl(s, msg, req);
	return DBS_OK;
}

/* databus-web says it listens: its life moves to READY (web.c). */
static int
do_web_ready(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
    struct verb_out *out)
{
	(void)msg;
	return web_ready(s, req->web_ready, out->text, sizeof(out->text));
}

/*
 * How each verb is replied to. VERB_COMMON: the handler returns a code and
 * fills verb_out; the reply (code, text, count) goes out after the commit
 * of the batch the handler wrote to, so that a client never sees "done"
 * for a change that a failed commit undid. VERB_OWN: the handler replies
 * itself — at once (status), when a worker answers (peek, webhook), or as
 * config_save.c decides — or keeps the message for later.
 */
enum verb_reply {
	VERB_COMMON,
	VERB_OWN,
};

struct verb {
	Dbs__ControlRequest__VerbCase verb;
	enum verb_reply reply;
	bool refused_in_shutdown; /* DBS_ESHUTDOWN once shutdown began */
	int (*run)(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req,
	    struct verb_out *out);
};

#define V(name) DBS__CONTROL_REQUEST__VERB_##name

/* Every request the control socket serves: verb → reply, state, handler. */
static const struct verb verbs[] = {
    {V(STATUS), VERB_OWN, false, do_status_verb},
    {V(PEEK), VERB_OWN, false, do_peek_verb},
    {V(WEBHOOK), VERB_OWN, false, do_webhook}, /* for drivers */
    {V(DRY_RUN), VERB_OWN, true, do_dry_run},
    {V(PAUSE), VERB_COMMON, true, do_pause},
    {V(RESUME), VERB_COMMON, true, do_pause},
    {V(EXPEDITE), VERB_COMMON, false, do_expedite},
    {V(SET_STEP), VERB_COMMON, false, do_set_step},
    {V(QUEUE_PURGE), VERB_COMMON, false, do_purge},
    {V(LOGS_PURGE), VERB_COMMON, false, do_purge},
    {V(USER_PUT), VERB_COMMON, false, do_user_put},
    {V(USER_RM), VERB_COMMON, false, do_user_end},
    {V(USER_REVOKE), VERB_COMMON, false, do_user_end},
    {V(SESSION_CREATE), VERB_COMMON, false, do_session_create},
    {V(SESSION_TOUCH), VERB_COMMON, false, do_session_touch},
    {V(SESSION_DELETE), VERB_COMMON, false, do_session_delete},
    {V(RELOAD), VERB_COMMON, false, do_reload},
    {V(CONFIG_LIST), VERB_OWN, false, do_config},
    {V(CONFIG_GET), VERB_OWN, false, do_config},
    {V(CONFIG_VALIDATE), VERB_OWN, false, do_config},
    {V(CONFIG_SAVE), VERB_OWN, false, do_config},
    {V(CONFIG_BACKUPS), VERB_OWN, false, do_config},
    {V(CONFIG_BACKUP_GET), VERB_OWN, false, do_config},
    {V(EXPORT_EVENT), VERB_COMMON, false, do_export_event},
    {V(WEB_READY), VERB_COMMON, false, do_web_ready},
    {V(IMPORT_BATCH), VERB_OWN, true, do_import},
    {V(STORE_SWAP), VERB_OWN, true, do_store_swap},
    {V(HISTORY), VERB_OWN, false, do_history},
    {V(SHUTDOWN), VERB_OWN, false, do_shutdown},
};

#undef V

static const struct verb *
find_verb(Dbs__ControlRequest__VerbCase verb)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].verb == verb)
			return &verbs[i];
	return NULL;
}

static void
handle(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req)
{
	const struct verb *v = find_verb(req->verb_case);
	Dbs__ControlReply r = DBS__CONTROL_REPLY__INIT;
	struct verb_out out = {"", 0};
	int rc;

	if (v == NULL) {
		rc = DBS_EINVAL;
		snprintf(out.text, sizeof(out.text),
		    "this databusd does not serve request %d",
		    (int)req->verb_case);
	} else if (v->refused_in_shutdown && s->shutting_down) {
		rc = DBS_ESHUTDOWN;
	} else {
		rc = v->run(s, msg, req, &out);
		if (v->reply == VERB_OWN)
			return;
	}
	r.id = req->id;
	r.code = rc;
	r.message = out.text[0] != '\0' ? out.text : (char *)dbs_strerror(rc);
	r.count = out.count;
	reply(s, msg, &r);
}

void
control_handle(struct sup *s)
{
	for (int i = 0; i < CTL_BURST; i++) {
		Dbs__ControlRequest *req;
		nng_msg *msg;

		if (nng_recvmsg(s->ctl, &msg, NNG_FLAG_NONBLOCK) != 0)
			return;
		req = (Dbs__ControlRequest *)wire_unpack(
		    &dbs__control_request__descriptor, msg);
		if (req == NULL ||
		    req->verb_case == DBS__CONTROL_REQUEST__VERB__NOT_SET) {
			/* A broken peer: hang up on it. */
			sup_warn("control: a request that does not decode; "
				 "closing that connection");
			nng_pipe_close(nng_msg_get_pipe(msg));
			nng_msg_free(msg);
			if (req != NULL)
				dbs__control_request__free_unpacked(req, NULL);
			continue;
		}
		handle(s, msg, req);
		dbs__control_request__free_unpacked(req, NULL);
	}
}
