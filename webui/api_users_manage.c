/*
 * api_users_manage.c — adding and removing users, passwords, revoke.
 *
 *   POST   /api/v1/users  {"client", "username", "password", "role"?}
 *   DELETE /api/v1/users/{client}/{username}                      ({})
 *   POST   /api/v1/users/{client}/{username}/password
 *          {"password", "current_password" (for one's own)}
 *   POST   /api/v1/users/{client}/{username}/revoke               ({})
 *   POST   /api/v1/users/{client}/{username}/role  {"role"}
 *
 * Administrators manage the users of their own client, root those of every
 * client; only root may add users to client root (whose users all have
 * role root). Another client's user answers 404, an operator 403 — except
 * that every user may change its own password (proving the current one)
 * and end its own sessions. New passwords have 8 to 1024 bytes.
 *
 * A role change follows the rules of `databusctl user role` (databusd
 * checks them, control.c): operator or administrator, the users of client
 * root are always root and role root is theirs alone. Nobody changes their
 * own role (another administrator does), so an administrator cannot lock
 * themselves out by accident. The user's sessions end, since they carry
 * the old role.
 *
 * Argon2id (hashing a new password, verifying the current one) runs on a
 * pool thread, never on the event loop, and the clear text is wiped as
 * soon as it is hashed; only the hash travels to databusd (user_put).
 * databusd ends every session of a user whose password changed or who was
 * removed, so a changed password logs the user out everywhere.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bodies.h"
#include "dbs_error.h"
#include "record_json.h"
#include "throttle.h"
#include "web.h"
#include "wire.h"

#define PASSWORD_MAX WEB_PASSWORD_MAX

/* Changes of one's own password are throttled like logins (throttle.c):
 * each one counts when admitted; after GUESS_LIMIT within GUESS_WINDOW_MS
 * further ones get 429, and a wrong current password then blocks that
 * account's changes for GUESS_BLOCK_MS, so a stolen session cannot guess
 * the password fast. One check per account waits at a time. */
#define GUESS_LIMIT     5
#define GUESS_PENDING   1
#define GUESS_WINDOW_MS (5 * 60 * 1000LL)
#define GUESS_BLOCK_MS  (60 * 1000LL)
#define GUESS_SLOTS     1024

static struct web_throttle_slot guess_slots[GUESS_SLOTS];
static struct web_throttle guesses = {
    guess_slots, GUESS_SLOTS, GUESS_WINDOW_MS, GUESS_BLOCK_MS};

static void
guess_key(const char *client, const char *username, char key[140])
{
	snprintf(key, 140, "%s/%s", client, username);
}

/* Count one check of the current password, or answer 429. */
static bool
guess_admit(h2o_req_t *req, const char *client, const char *username)
{
	char key[140];

	guess_key(client, username, key);
	return web_throttle_answer(req,
	    web_throttle_admit(
		&guesses, key, GUESS_LIMIT, GUESS_PENDING, wire_now_ms()),
	    "too many wrong passwords",
	    "a password change of this account is in progress");
}

static void
guess_done(const char *client, const char *username,
    enum web_throttle_outcome outcome)
{
	char key[140];

	guess_key(client, username, key);
	web_throttle_done(&guesses, key, GUESS_LIMIT, outcome, wire_now_ms());
}

enum user_op { OP_CREATE, OP_DELETE, OP_PASSWORD, OP_REVOKE, OP_ROLE };

struct user_job {
	struct web_job job;
	enum user_op op;
	char actor[200];
	char client[65];
	char username[65];
	int role;
	char password[PASSWORD_MAX + 1];
	char current[PASSWORD_MAX + 1];
	char current_hash[crypto_pwhash_STRBYTES]; /* when verifying */
	bool verify_current;
	bool current_ok;
	int rc; /* DBS_OK or a transport / hashing error */
	Dbs__ControlReply *reply;
};

static void
wipe_free(struct user_job *j)
{
	if (j == NULL)
		return;
	if (j->reply != NULL)
		dbs__control_reply__free_unpacked(j->reply, NULL);
	sodium_memzero(j, sizeof(*j));
	free(j);
}

static void
user_work(struct web_job *job)
{
	struct user_job *j = (struct user_job *)job;
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__UserPut put = DBS__USER_PUT__INIT;
	Dbs__UserRef ref = DBS__USER_REF__INIT;
	char hash[crypto_pwhash_STRBYTES] = "";

	if (j->verify_current) {
		j->current_ok = crypto_pwhash_str_verify(j->current_hash,
				    j->current, strlen(j->current)) == 0;
		sodium_memzero(j->current, sizeof(j->current));
		if (!j->current_ok)
			goto out;
	}
	if (j->op == OP_ROLE) {
		put.client = j->client;
		put.username = j->username;
		put.set_role = true;
		put.role = (Dbs__Role)j->role;
		req.verb_case = DBS__CONTROL_REQUEST__VERB_USER_PUT;
		req.user_put = &put;
	} else if (j->op == OP_CREATE || j->op == OP_PASSWORD) {
		if (crypto_pwhash_str(hash, j->password, strlen(j->password),
			crypto_pwhash_OPSLIMIT_INTERACTIVE,
			crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
			j->rc = DBS_ENOMEM;
			goto out;
		}
		sodium_memzero(j->password, sizeof(j->password));
		put.client = j->client;
		put.username = j->username;
		put.password_hash = hash;
		put.set_password = true;
		put.create = j->op == OP_CREATE;
		put.set_role = j->op == OP_CREATE;
		put.role = (Dbs__Role)j->role;
		req.verb_case = DBS__CONTROL_REQUEST__VERB_USER_PUT;
		req.user_put = &put;
	} else {
		ref.client = j->client;
		ref.username = j->username;
		if (j->op == OP_DELETE) {
			req.verb_case = DBS__CONTROL_REQUEST__VERB_USER_RM;
			req.user_rm = &ref;
		} else {
			req.verb_case = DBS__CONTROL_REQUEST__VERB_USER_REVOKE;
			req.user_revoke = &ref;
		}
	}
	j->rc = web_control(
	    web_control_url(web_of(NULL)), j->actor, &req, &j->reply);
out:
	sodium_memzero(hash, sizeof(hash));
	sodium_memzero(j->password, sizeof(j->password));
	sodium_memzero(j->current, sizeof(j->current));
}

static void
user_done(struct web_job *job)
{
	struct user_job *j = (struct user_job *)job;
	h2o_req_t *req = web_job_req(job);
	json_t *doc;

	if (j->verify_current)
		guess_done(j->client, j->username,
		    j->current_ok ? WEB_THROTTLE_CLEAR : WEB_THROTTLE_FAILED);
	if (req == NULL)
		goto out;
	if (j->verify_current && !j->current_ok) {
		web_send_error(req, 403, "wrong_password",
		    "the current password is not right");
		goto out;
	}
	if (j->rc == DBS_ENOMEM) {
		web_send_error(req, 503, "busy",
		    "not enough memory to hash the password; try again");
		goto out;
	}
	if (j->rc != DBS_OK) {
		web_send_error(req, 503, "unavailable",
		    "databusd does not answer on the control socket");
		goto out;
	}
	if (j->reply->code != DBS_OK) {
		web_ctl_error(req, j->reply);
		goto out;
	}
	doc = json_pack("{s:o, s:o, s:o}", "client", rj_string(j->client),
	    "username", rj_string(j->username), "message",
	    rj_string(j->reply->message));
	if (doc != NULL && (j->op == OP_CREATE || j->op == OP_ROLE))
		json_object_set_new(
		    doc, "role", json_string(rj_role_name(j->role)));
	if (doc != NULL && (j->op == OP_REVOKE || j->op == OP_DELETE))
		json_object_set_new(doc,
		    j->op == OP_REVOKE ? "revoked" : "sessions_ended",
		    json_integer((json_int_t)(j->reply->count > INT64_MAX
						  ? INT64_MAX
						  : j->reply->count)));
	web_send_json(req, j->op == OP_CREATE ? 201 : 200, doc);
out:
	wipe_free(j);
}

/* The new password of the body, by the rules; answers 400 if not. */
static bool
new_password(h2o_req_t *req, json_t *body, struct user_job *j)
{
	if (!web_body_password(body, j->password, sizeof(j->password))) {
		web_bad_param(req, "a password has 8 to 1024 characters "
				   "(bytes of UTF-8) and no NUL");
		return false;
	}
	return true;
}

static struct user_job *
job_new(h2o_req_t *req, const struct web_session *s, enum user_op op)
{
	struct user_job *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		web_send_error(req, 500, "internal", "out of memory");
		return NULL;
	}
	j->op = op;
	snprintf(
	    j->actor, sizeof(j->actor), "web:%s/%s", s->client, s->username);
	return j;
}

static int
submit(h2o_req_t *req, struct user_job *j)
{
	j->job.work = user_work;
	j->job.done = user_done;
	if (!web_pool_submit(web_pool(web_of(req)), &j->job, req)) {
		if (j->verify_current)
			guess_done(
			    j->client, j->username, WEB_THROTTLE_REFUND);
		wipe_free(j);
		return web_send_error(req, 503, "busy", "server busy");
	}
	return 0;
}

/* Body of a request without parameters: {} (or nothing). */
static bool
empty_body(h2o_req_t *req)
{
	json_t *body;
	bool ok;

	if (req->entity.len == 0)
		return true;
	if ((body = web_body_object(req)) == NULL)
		return false;
	ok = json_object_size(body) == 0;
	json_decref(body);
	if (!ok)
		web_bad_param(req, "expected {}");
	return ok;
}

int
web_api_user_create(h2o_req_t *req, const struct web_args *a)
{
	struct web_session s;
	struct user_job *j = NULL;
	static const char *const create_keys[] = {
	    "client", "username", "password", "role", NULL};
	json_t *body = NULL;
	const char *msg;

	(void)a;
	if (!web_check_mutation(req) || !web_session_require(req, &s))
		return 0;
	if ((body = web_body_object(req)) == NULL)
		return 0;
	if ((j = job_new(req, &s, OP_CREATE)) == NULL)
		goto out;
	if (!web_body_keys(body, create_keys)) {
		web_bad_param(req, "expected {\"client\", \"username\", "
				   "\"password\", \"role\"}");
		goto out;
	}
	if (!web_body_string(body, "client", j->client, sizeof(j->client)) ||
	    !web_valid_name(j->client, strlen(j->client))) {
		web_bad_param(req, "client must be a client name");
		goto out;
	}
	if (!web_session_sees(&s, j->client)) {
		web_not_found(req);
		goto out;
	}
	if (s.role == DBS__ROLE__ROLE_OPERATOR) {
		web_forbidden(req);
		goto out;
	}
	if ((msg = web_user_create_body(body, j->client, j->username, &j->role,
		 j->password)) != NULL) {
		web_bad_param(req, msg);
		goto out;
	}
	json_decref(body);
	return submit(req, j);
out:
	wipe_free(j);
	json_decref(body);
	return 0;
}

/* Who may act on client/username: 404 for another tenant, 403 for an
 * operator unless `self_ok` and it is the session's own user. */
static bool
may_manage(h2o_req_t *req, const struct web_session *s, const char *client,
    const char *username, bool self_ok, bool *self)
{
	*self = strcmp(s->client, client) == 0 &&
		strcmp(s->username, username) == 0;
	if (!web_session_sees(s, client)) {
		web_not_found(req);
		return false;
	}
	if (s->role == DBS__ROLE__ROLE_OPERATOR && !(self_ok && *self)) {
		web_forbidden(req);
		return false;
	}
	return true;
}

int
web_api_user_delete(h2o_req_t *req, const struct web_args *a)
{
	const char *client = a->client, *username = a->user;
	struct web_session s;
	struct user_job *j;
	bool self;

	if (!web_check_mutation(req) || !web_session_require(req, &s))
		return 0;
	if (!may_manage(req, &s, client, username, false, &self) ||
	    !empty_body(req))
		return 0;
	if (self)
		return web_send_error(req, 409, "conflict",
		    "you cannot remove yourself; ask another administrator");
	if ((j = job_new(req, &s, OP_DELETE)) == NULL)
		return 0;
	snprintf(j->client, sizeof(j->client), "%s", client);
	snprintf(j->username, sizeof(j->username), "%s", username);
	return submit(req, j);
}

int
web_api_user_revoke(h2o_req_t *req, const struct web_args *a)
{
	const char *client = a->client, *username = a->user;
	struct web_session s;
	struct user_job *j;
	bool self;

	if (!web_check_mutation(req) || !web_session_require(req, &s))
		return 0;
	if (!may_manage(req, &s, client, username, true, &self) ||
	    !empty_body(req))
		return 0;
	if ((j = job_new(req, &s, OP_REVOKE)) == NULL)
		return 0;
	snprintf(j->client, sizeof(j->client), "%s", client);
	snprintf(j->username, sizeof(j->username), "%s", username);
	return submit(req, j);
}

int
web_api_user_password(h2o_req_t *req, const struct web_args *a)
{
	const char *client = a->client, *username = a->user;
	struct web_session s;
	struct user_job *j = NULL;
	struct store_txn *txn = NULL;
	Dbs__User *u = NULL;
	json_t *body = NULL;
	static const char *const password_keys[] = {
	    "password", "current_password", NULL};
	bool self;
	int rc;

	if (!web_check_mutation(req) || !web_session_require(req, &s))
		return 0;
	if (!may_manage(req, &s, client, username, true, &self))
		return 0;
	if ((body = web_body_object(req)) == NULL)
		return 0;
	if ((j = job_new(req, &s, OP_PASSWORD)) == NULL)
		goto out;
	if (!web_body_keys(body, password_keys)) {
		web_bad_param(req, "expected {\"password\", "
				   "\"current_password\"}");
		goto out;
	}
	snprintf(j->client, sizeof(j->client), "%s", client);
	snprintf(j->username, sizeof(j->username), "%s", username);
	if (!new_password(req, body, j))
		goto out;
	if (self) {
		/* One's own password needs the current one: a stolen session
		 * alone must not be able to take the account over. */
		if (!web_body_string(body, "current_password", j->current,
			sizeof(j->current))) {
			web_bad_param(req, "changing your own password needs "
					   "\"current_password\"");
			goto out;
		}
		if ((rc = store_txn_begin(
			 web_store(web_of(req)), false, &txn)) == DBS_OK) {
			rc = store_user_get(txn, client, username, &u);
			store_txn_abort(txn);
		}
		if (rc == DBS_ENOTFOUND) {
			web_not_found(req);
			goto out;
		}
		if (rc != DBS_OK) {
			web_send_error(req, 500, "store", dbs_strerror(rc));
			goto out;
		}
		snprintf(j->current_hash, sizeof(j->current_hash), "%s",
		    u->password_hash);
		if (!guess_admit(req, client, username))
			goto out;
		j->verify_current = true;
	}
	json_decref(body);
	if (u != NULL)
		dbs__user__free_unpacked(u, NULL);
	return submit(req, j);
out:
	if (u != NULL)
		dbs__user__free_unpacked(u, NULL);
	wipe_free(j);
	json_decref(body);
	return 0;
}

int
web_api_user_role(h2o_req_t *req, const struct web_args *a)
{
	const char *client = a->client, *username = a->user;
	static const char *const role_keys[] = {"role", NULL};
	struct web_session s;
	struct user_job *j = NULL;
	json_t *body = NULL;
	char role[32];
	bool self;

	if (!web_check_mutation(req) || !web_session_require(req, &s))
		return 0;
	if (!may_manage(req, &s, client, username, false, &self))
		return 0;
	if ((body = web_body_object(req)) == NULL)
		return 0;
	if (!web_body_keys(body, role_keys) ||
	    !web_body_string(body, "role", role, sizeof(role))) {
		web_bad_param(req, "expected {\"role\"}");
		goto out;
	}
	if (self) {
		web_send_error(req, 409, "conflict",
		    "you cannot change your own role; ask another "
		    "administrator");
		goto out;
	}
	if ((j = job_new(req, &s, OP_ROLE)) == NULL)
		goto out;
	if ((j->role = rj_role_parse(role)) < 0) {
		web_bad_param(req, "role must be operator or administrator "
				   "(root for the users of client root)");
		goto out;
	}
	snprintf(j->client, sizeof(j->client), "%s", client);
	snprintf(j->username, sizeof(j->username), "%s", username);
	json_decref(body);
	return submit(req, j);
out:
	wipe_free(j);
	json_decref(body);
	return 0;
}
