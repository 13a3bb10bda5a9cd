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

#include "dbs_error.h"
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
	char url[4200];
	int rc;

	snprintf(url, sizeof(url), "ipc://%s/control", s->run_dir);
	(void)remove(url + 6);
	if ((rc = nng_rep0_open_raw(&s->ctl)) != 0 ||
	    wire_socket_limits(s->ctl, 0) != DBS_OK ||
	    (rc = nng_listen(s->ctl, url, NULL, 0)) != 0 ||
	    (rc = nng_socket_get_int(s->ctl, NNG_OPT_RECVFD, &s->ctl_fd)) !=
		0) {
		sup_log("control socket %s: %s", url, nng_strerror(rc));
		return DBS_ETRANSPORT;
	}
	return DBS_OK;
}

void
sup_control_reply(struct sup *s, nng_msg *msg, Dbs__ControlReply *r, bool now)
{
	nng_msg_clear(msg); /* keeps the backtrace header */
	if (wire_append(msg, &r->base) != DBS_OK) {
		nng_msg_free(msg);
		return;
	}
	if (now)
		sup_send_now(s, msg);
	else
		sup_after_commit(s, NULL, msg);
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
	r.id = id;
	r.status = &st;
	reply_now(s, msg, &r);
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
	bool found = false;
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
	if (req->requeue) {
		if (p->state != DBS__PASSENGER_STATE__PS_DEAD) {
			snprintf(err, errlen,
			    "passenger %" PRIu64 " is not dead", p->id);
			rc = DBS_EINVAL;
			goto out;
		}
		for (size_t i = 0; i < p->n_steps; i++) {
			Dbs__Step *st = p->steps[i];

			/* A requeued passenger gets max_attempts afresh. */
			st->attempts = 0;
			if (st->state == DBS__STEP_STATE__STEP_FAILED) {
				st->state = DBS__STEP_STATE__STEP_INCOMPLETE;
				st->updated_ms = now;
			}
		}
		found = true;
	} else {
		for (size_t i = 0; i < p->n_steps; i++) {
			Dbs__Step *st = p->steps[i];

			if (strcmp(st->name, req->step) != 0)
				continue;
			st->state = req->complete
					? DBS__STEP_STATE__STEP_COMPLETE
					: DBS__STEP_STATE__STEP_INCOMPLETE;
			st->updated_ms = now;
			found = true;
		}
		if (!found) {
			snprintf(err, errlen,
			    "passenger %" PRIu64 " has no step \"%s\"", p->id,
			    req->step);
			rc = DBS_ENOTFOUND;
			goto out;
		}
	}
	/* A manual change starts the passenger afresh. */
	p->attempts = 0;
	p->state = DBS__PASSENGER_STATE__PS_PENDING;
	p->next_attempt_ms = now;
	p->last_drive = 0;
	p->updated_ms = now;
	(void)drive_settle_passenger(p, now);
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
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			(*s >= '0' && *s <= '9') || *s == '_' || *s == '-' ||
			*s == '.' || *s == '@'))
			return false;
	return true;
}

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
	if (!valid_name(req->username)) {
		snprintf(err, errlen,
		    "a user name has 1 to 64 letters, "
		    "digits or . _ - @");
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

void
control_on_peek_result(struct sup *s, struct worker *w, Dbs__PeekResult *r)
{
	for (struct peek **pp = &s->peeks; *pp != NULL; pp = &(*pp)->next) {
		struct peek *p = *pp;
		Dbs__ControlReply cr = DBS__CONTROL_REPLY__INIT;

		if (p->w != w || p->peek_id != r->peek_id)
			continue;
		*pp = p->next;
		cr.id = p->req_id;
		cr.code = r->code;
		cr.message = r->message;
		cr.peek = r;
		reply(s, p->msg, &cr);
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

static void
handle(struct sup *s, nng_msg *msg, Dbs__ControlRequest *req)
{
	char text[2048] = "";
	uint64_t count = 0;
	struct store_txn *txn;
	int rc = DBS_OK;
	int64_t now = wire_now_ms();

	switch (req->verb_case) {
	case DBS__CONTROL_REQUEST__VERB_STATUS:
		do_status(s, msg, req->id);
		return;
	case DBS__CONTROL_REQUEST__VERB_PEEK:
		do_peek(s, msg, req->id, req->peek);
		return;
	case DBS__CONTROL_REQUEST__VERB_WEBHOOK: /* drivers */
		webhook_handle(s, msg, req->id, req->webhook);
		return;
	case DBS__CONTROL_REQUEST__VERB_PAUSE:
	case DBS__CONTROL_REQUEST__VERB_RESUME: {
		bool pause =
		    req->verb_case == DBS__CONTROL_REQUEST__VERB_PAUSE;

		if (s->shutting_down) {
			rc = DBS_ESHUTDOWN;
			break;
		}
		sched_pause(s->sched, pause);
		sup_log("%s by %s", pause ? "paused" : "resumed", req->actor);
		sup_event_system(s);
		snprintf(
		    text, sizeof(text), "%s", pause ? "paused" : "resumed");
		break;
	}
	case DBS__CONTROL_REQUEST__VERB_EXPEDITE:
		rc = expedite(s, req->expedite, text, sizeof(text));
		break;
	case DBS__CONTROL_REQUEST__VERB_SET_STEP:
		rc = set_step(s, req->set_step, text, sizeof(text));
		break;
	case DBS__CONTROL_REQUEST__VERB_QUEUE_PURGE:
	case DBS__CONTROL_REQUEST__VERB_LOGS_PURGE: {
		bool queue =
		    req->verb_case == DBS__CONTROL_REQUEST__VERB_QUEUE_PURGE;
		const Dbs__Purge *p =
		    queue ? req->queue_purge : req->logs_purge;
		int64_t before =
		    p->older_than_ms > 0 ? now - p->older_than_ms : INT64_MAX;

		/* Large purges go in bounded chunks, each committed, so that
		 * no transaction grows past what LMDB can hold dirty. */
		for (;;) {
			uint64_t n = 0;

			if ((txn = sup_txn(s)) == NULL) {
				rc = DBS_EIO;
				break;
			}
			rc = queue ? store_queue_purge(txn,
					 empty_null(p->client),
					 empty_null(p->definition), before,
					 PURGE_CHUNK, &n)
				   : store_log_purge(txn,
					 empty_null(p->client), before, &n);
			if (rc != DBS_OK) {
				sup_store_failed(s, rc, "purging");
				break;
			}
			count += n;
			if (!queue || n < PURGE_CHUNK ||
			    (rc = sup_commit(s)) != DBS_OK)
				break;
		}
		if (rc != DBS_OK)
			break;
		snprintf(text, sizeof(text), "purged %" PRIu64 " %s", count,
		    queue ? "passengers" : "logs");
		break;
	}
	case DBS__CONTROL_REQUEST__VERB_USER_PUT:
		rc = user_put(s, req->user_put, text, sizeof(text));
		break;
	case DBS__CONTROL_REQUEST__VERB_USER_RM:
	case DBS__CONTROL_REQUEST__VERB_USER_REVOKE: {
		const Dbs__UserRef *u =
		    req->verb_case == DBS__CONTROL_REQUEST__VERB_USER_RM
			? req->user_rm
			: req->user_revoke;
		Dbs__User *old = NULL;

		if ((txn = sup_txn(s)) == NULL) {
			rc = DBS_EIO;
			break;
		}
		if ((rc = store_user_get(txn, u->client, u->username, &old)) !=
		    DBS_OK) {
			snprintf(text, sizeof(text), "no user %s/%s",
			    u->client, u->username);
			break;
		}
		dbs__user__free_unpacked(old, NULL);
		rc = store_session_revoke_user(
		    txn, u->client, u->username, &count);
		if (rc == DBS_OK &&
		    req->verb_case == DBS__CONTROL_REQUEST__VERB_USER_RM)
			rc = store_user_delete(txn, u->client, u->username);
		if (rc != DBS_OK) {
			sup_store_failed(s, rc, "changing a user");
			break;
		}
		snprintf(text, sizeof(text),
		    "%s %s/%s; %" PRIu64 " session(s) ended",
		    req->verb_case == DBS__CONTROL_REQUEST__VERB_USER_RM
			? "removed"
			: "revoked",
		    u->client, u->username, count);
		break;
	}
	case DBS__CONTROL_REQUEST__VERB_SESSION_CREATE:
		rc = sessions_create(s, req->session_create);
		break;
	case DBS__CONTROL_REQUEST__VERB_SESSION_TOUCH:
		rc = sessions_touch(s, req->session_touch);
		break;
	case DBS__CONTROL_REQUEST__VERB_SESSION_DELETE: {
		const Dbs__SessionRef *r = req->session_delete;

		if ((txn = sup_txn(s)) == NULL) {
			rc = DBS_EIO;
			break;
		}
		rc = store_session_delete(
		    txn, r->token_hash.data, r->token_hash.len);
		if (rc != DBS_OK && rc != DBS_ENOTFOUND)
			sup_store_failed(s, rc, "ending a session");
		break;
	}
	case DBS__CONTROL_REQUEST__VERB_RELOAD:
		rc = sup_reload(s, text, sizeof(text));
		break;
	case DBS__CONTROL_REQUEST__VERB_CONFIG_LIST:
	case DBS__CONTROL_REQUEST__VERB_CONFIG_GET:
	case DBS__CONTROL_REQUEST__VERB_CONFIG_VALIDATE:
	case DBS__CONTROL_REQUEST__VERB_CONFIG_SAVE:
	case DBS__CONTROL_REQUEST__VERB_CONFIG_BACKUPS:
	case DBS__CONTROL_REQUEST__VERB_CONFIG_BACKUP_GET:
		config_ctl_handle(s, msg, req);
		return;
	case DBS__CONTROL_REQUEST__VERB_EXPORT_EVENT:
		rc = config_export_event(
		    s, req->export_event, text, sizeof(text));
		break;
	case DBS__CONTROL_REQUEST__VERB_SHUTDOWN:
		sup_log("shutdown requested by %s", req->actor);
		snprintf(text, sizeof(text), "shutting down");
		reply_code(s, msg, req->id, DBS_OK, text);
		sup_begin_shutdown(s, "control request");
		return;
	default:
		rc = DBS_EINVAL;
		snprintf(text, sizeof(text),
		    "this databusd does not serve "
		    "request %d",
		    (int)req->verb_case);
		break;
	}
	{
		Dbs__ControlReply r = DBS__CONTROL_REPLY__INIT;

		r.id = req->id;
		r.code = rc;
		r.message = text[0] != '\0' ? text : (char *)dbs_strerror(rc);
		r.count = count;
		reply(s, msg, &r);
	}
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
			sup_log("control: a request that does not decode; "
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
