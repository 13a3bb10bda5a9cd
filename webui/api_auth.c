/*
 * api_auth.c — login, logout, /me, and the session check every other API
 * route goes through.
 *
 * A session token is 32 random bytes, base64url, handed to the browser in
 * an HttpOnly, SameSite=Strict cookie; the store keeps only its BLAKE2b-256
 * hash, written by databusd (session_create over the control socket). A
 * forged cookie therefore finds nothing, and a leaked store reveals no
 * usable token. Checking a session is one read-only transaction on the
 * loop thread; Argon2id and control requests run on the pool.
 *
 * Logins are throttled per account (client/username) and per peer address
 * (an IPv6 peer by its /64), in memory (throttle.c): every attempt counts
 * when it is admitted, before its password is checked, so guesses sent at
 * once meet the same limit as guesses sent one by one. After
 * THROTTLE_ACCOUNT (resp. THROTTLE_ADDRESS) attempts within
 * THROTTLE_WINDOW_MS, further ones get 429, and a failure then blocks the
 * key for THROTTLE_BLOCK_MS; a success clears the account and takes its
 * attempt back from the address. One account may have ACCOUNT_PENDING and
 * one address ADDRESS_PENDING verifications waiting at once, so a single
 * client cannot fill the pool's queue and delay everyone else's login. Unknown
 * clients, unknown users and wrong passwords all get the same 401 and cost the
 * same Argon2id verification, so answers do not tell which accounts exist.
 */
#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "bodies.h"
#include "record_json.h"
#include "throttle.h"
#include "web.h"
#include "wire.h"

#define COOKIE_NAME "dbs_session"
#define TOKEN_BYTES 32
#define TOKEN_TEXT                                                            \
	(sodium_base64_ENCODED_LEN(                                           \
	    TOKEN_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
#define THROTTLE_ACCOUNT   5
#define THROTTLE_ADDRESS   20
#define THROTTLE_WINDOW_MS (5 * 60 * 1000LL)
#define THROTTLE_BLOCK_MS  (60 * 1000LL)
#define THROTTLE_SLOTS     4096
#define ACCOUNT_PENDING    2
#define ADDRESS_PENDING    4

static const char bad_login[] = "invalid client, username or password";

/* ------------------------------------------------------------ throttle */

/* Keys "a:client/user" and "p:address", in one table (throttle.c). */
static struct web_throttle_slot throttle_slots[THROTTLE_SLOTS];
static struct web_throttle throttle = {
    throttle_slots, THROTTLE_SLOTS, THROTTLE_WINDOW_MS, THROTTLE_BLOCK_MS};

/* -------------------------------------------------------------- session */

static void
token_hash(const char *token, size_t len, uint8_t hash[32])
{
	crypto_generichash(
	    hash, 32, (const unsigned char *)token, len, NULL, 0);
}

/* The value of the dbs_session cookie, or false. */
static bool
find_cookie(h2o_req_t *req, h2o_iovec_t *out)
{
	ssize_t i = -1;
	static const char name[] = COOKIE_NAME "=";
	const size_t nlen = sizeof(name) - 1;

	while (
	    (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) >= 0) {
		h2o_iovec_t v = req->headers.entries[i].value;
		const char *p = v.base, *end = v.base + v.len, *semi;

		while (p < end) {
			while (p < end && (*p == ' ' || *p == ';'))
				p++;
			semi = memchr(p, ';', (size_t)(end - p));
			if (semi == NULL)
				semi = end;
			if ((size_t)(semi - p) > nlen &&
			    memcmp(p, name, nlen) == 0) {
				*out = h2o_iovec_init(
				    p + nlen, (size_t)(semi - p) - nlen);
				return true;
			}
			p = semi;
		}
	}
	return false;
}

/* A session that may customize: administrators and root. */
bool
web_require_admin(h2o_req_t *req, struct web_session *s)
{
	if (!web_session_require(req, s))
		return false;
	if (s->role != DBS__ROLE__ROLE_ROOT &&
	    s->role != DBS__ROLE__ROLE_ADMINISTRATOR) {
		web_forbidden(req);
		return false;
	}
	return true;
}

bool
web_session_require(h2o_req_t *req, struct web_session *s)
{
	struct store_txn *txn = NULL;
	Dbs__Session *ss = NULL;
	h2o_iovec_t token;
	int rc;

	memset(s, 0, sizeof(*s));
	if (!find_cookie(req, &token) || token.len != TOKEN_TEXT - 1)
		goto unauthorized;
	token_hash(token.base, token.len, s->hash);
	if ((rc = store_txn_begin(web_store(web_of(req)), false, &txn)) !=
	    DBS_OK) {
		web_send_error(req, 503, "store", dbs_strerror(rc));
		return false;
	}
	rc = store_session_get(txn, s->hash, sizeof(s->hash), &ss);
	store_txn_abort(txn);
	if (rc != DBS_OK || ss->expires_ms <= wire_now_ms() ||
	    strlen(ss->client) >= sizeof(s->client) ||
	    strlen(ss->username) >= sizeof(s->username))
		goto unauthorized;
	strcpy(s->client, ss->client);
	strcpy(s->username, ss->username);
	s->role = ss->role;
	web_session_touch(
	    web_of(req), s->hash, ss->last_used_ms, ss->expires_ms);
	dbs__session__free_unpacked(ss, NULL);
	return true;
unauthorized:
	if (ss != NULL)
		dbs__session__free_unpacked(ss, NULL);
	web_send_error(req, 401, "unauthorized", "not logged in");
	return false;
}

bool
web_session_sees(const struct web_session *s, const char *client)
{
	return s->role == DBS__ROLE__ROLE_ROOT ||
	       strcmp(s->client, client) == 0;
}

int
web_api_me(h2o_req_t *req, const struct web_args *a)
{
	struct web_session s;

	(void)a;
	if (!web_session_require(req, &s))
		return 0;
	return web_send_json(req, 200,
	    json_pack("{s:o, s:o, s:s}", "client", rj_string(s.client),
		"username", rj_string(s.username), "role",
		rj_role_name(s.role)));
}

/* ---------------------------------------------------------------- login */

struct login_job {
	struct web_job job;
	char client[65];
	char username[129];
	char password[1025];
	char hash[crypto_pwhash_STRBYTES];
	int role;
	bool check;      /* verify password against hash */
	bool maybe_open; /* no users in the store for this client */
	bool open;       /* an open_access client without users: any login */
	bool verified;   /* result: password ok */
	int rc;          /* result: session_create outcome */
	char token[TOKEN_TEXT];
	char account_key[200], address_key[80];
};

static void
create_session(struct login_job *j)
{
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__SessionCreate sc = DBS__SESSION_CREATE__INIT;
	Dbs__ControlReply *reply = NULL;
	uint8_t raw[TOKEN_BYTES], hash[32];
	char actor[220];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(j->token, sizeof(j->token), raw, sizeof(raw),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	token_hash(j->token, strlen(j->token), hash);
	sc.token_hash.data = hash;
	sc.token_hash.len = sizeof(hash);
	sc.client = j->client;
	sc.username = j->username;
	sc.role = j->role;
	sc.ttl_ms = 0; /* databusd's idle and absolute limits */
	req.verb_case = DBS__CONTROL_REQUEST__VERB_SESSION_CREATE;
	req.session_create = &sc;
	snprintf(actor, sizeof(actor), "web:%s/%s", j->client, j->username);
	j->rc =
	    web_control(web_control_url(web_of(NULL)), actor, &req, &reply);
	if (j->rc == DBS_OK && reply->code != DBS_OK)
		j->rc = (int)reply->code;
	if (reply != NULL)
		dbs__control_reply__free_unpacked(reply, NULL);
}

/*
 * Whether databusd runs a definition of `client` and its client file says
 * "open_access": true: the store cannot tell configured clients from
 * made-up names, the supervisor's status can. Without that flag a client
 * with no users cannot be logged into. Runs on a pool thread.
 */
static bool
client_open(const char *client)
{
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__Empty empty = DBS__EMPTY__INIT;
	Dbs__ControlReply *reply = NULL;
	bool found = false;
	size_t i;

	req.verb_case = DBS__CONTROL_REQUEST__VERB_STATUS;
	req.status = &empty;
	if (web_control(web_control_url(web_of(NULL)), "web", &req, &reply) !=
	    DBS_OK)
		return false;
	if (reply->code == DBS_OK && reply->status != NULL)
		for (i = 0; i < reply->status->n_definitions && !found; i++)
			found = strcmp(reply->status->definitions[i]->client,
				    client) == 0 &&
				reply->status->definitions[i]->open_access;
	dbs__control_reply__free_unpacked(reply, NULL);
	return found;
}

static void
login_work(struct web_job *job)
{
	struct login_job *j = (struct login_job *)job;

	if (j->maybe_open)
		j->open = client_open(j->client);
	if (j->hash[0] == '\0') {
		const char *dummy = web_dummy_hash(web_of(NULL));

		snprintf(j->hash, sizeof(j->hash), "%s",
		    dummy != NULL ? dummy : "");
	}
	if (j->open)
		j->verified = true;
	else
		j->verified = crypto_pwhash_str_verify(j->hash, j->password,
				  strlen(j->password)) == 0 &&
			      j->check;
	sodium_memzero(j->password, sizeof(j->password));
	if (j->verified)
		create_session(j);
}

static void
login_done(struct web_job *job)
{
	struct login_job *j = (struct login_job *)job;
	h2o_req_t *req = web_job_req(job);
	long long now = wire_now_ms();
	char cookie[TOKEN_TEXT + 80];
	json_t *doc;

	web_throttle_done(&throttle, j->account_key, THROTTLE_ACCOUNT,
	    j->verified ? WEB_THROTTLE_CLEAR : WEB_THROTTLE_FAILED, now);
	web_throttle_done(&throttle, j->address_key, THROTTLE_ADDRESS,
	    j->verified ? WEB_THROTTLE_REFUND : WEB_THROTTLE_FAILED, now);
	web_metrics_login(j->client, j->check || j->open, j->verified);
	if (!j->verified) {
		if (req != NULL)
			web_send_error(req, 401, "unauthorized", bad_login);
		goto out;
	}
	if (req == NULL)
		goto out; /* the session expires unused */
	if (j->rc != DBS_OK) {
		web_send_error(req, 503, "unavailable",
		    "databusd could not create the session; try again");
		goto out;
	}
	snprintf(cookie, sizeof(cookie),
	    COOKIE_NAME "=%s; HttpOnly; SameSite=Strict; Path=/%s", j->token,
	    web_tls(web_of(req)) ? "; Secure" : "");
	web_add_header(req, "set-cookie", cookie);
	doc = json_pack("{s:o, s:o, s:s}", "client", rj_string(j->client),
	    "username", rj_string(j->username), "role", rj_role_name(j->role));
	if (doc != NULL && j->open)
		json_object_set_new(doc, "warning",
		    json_string("this client has no users: any login is "
				"accepted as operator"));
	web_send_json(req, 200, doc);
out:
	sodium_memzero(j, sizeof(*j));
	free(j);
}

/* The throttle key of the peer: its address, an IPv6 peer's /64. */
static void
address_key(h2o_req_t *req, char *out, size_t len)
{
	char addr[INET6_ADDRSTRLEN];
	struct in6_addr a6;

	web_peer_address(req, addr, sizeof(addr));
	if (strchr(addr, ':') != NULL && strchr(addr, '.') == NULL &&
	    inet_pton(AF_INET6, addr, &a6) == 1) {
		memset(a6.s6_addr + 8, 0, 8);
		inet_ntop(AF_INET6, &a6, addr, sizeof(addr));
		snprintf(out, len, "p:%s/64", addr);
		return;
	}
	snprintf(out, len, "p:%s", addr);
}

/* Count one attempt on the account and on the address, or answer 429
 * (blocked) or 503 (too many waiting) and count nothing. */
static bool
admit(h2o_req_t *req, struct login_job *j, long long now)
{
	enum web_throttle_verdict v;

	v = web_throttle_admit(
	    &throttle, j->account_key, THROTTLE_ACCOUNT, ACCOUNT_PENDING, now);
	if (v == WEB_THROTTLE_ADMITTED) {
		v = web_throttle_admit(&throttle, j->address_key,
		    THROTTLE_ADDRESS, ADDRESS_PENDING, now);
		if (v != WEB_THROTTLE_ADMITTED)
			web_throttle_done(&throttle, j->account_key,
			    THROTTLE_ACCOUNT, WEB_THROTTLE_REFUND, now);
	}
	return web_throttle_answer(
	    req, v, "too many failed logins", "too many logins in progress");
}

/* Take back an admitted attempt that was never checked. */
static void
unadmit(struct login_job *j, long long now)
{
	web_throttle_done(&throttle, j->account_key, THROTTLE_ACCOUNT,
	    WEB_THROTTLE_REFUND, now);
	web_throttle_done(&throttle, j->address_key, THROTTLE_ADDRESS,
	    WEB_THROTTLE_REFUND, now);
}

int
web_api_login(h2o_req_t *req, const struct web_args *a)
{
	struct web *w = web_of(req);
	struct login_job *j = NULL;
	struct store_txn *txn = NULL;
	Dbs__User *u = NULL;
	json_t *body = NULL;
	uint64_t users = 0;
	long long now = wire_now_ms();
	int rc;

	(void)a;
	if (!web_check_mutation(req))
		return 0;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	if (!web_login_body(req->entity.base, req->entity.len, j->client,
		sizeof(j->client), j->username, sizeof(j->username),
		j->password, sizeof(j->password))) {
		web_send_error(req, 400, "bad_request",
		    "expected {\"client\", \"username\", \"password\"} as "
		    "non-empty strings");
		goto out;
	}
	snprintf(j->account_key, sizeof(j->account_key), "a:%s/%s", j->client,
	    j->username);
	address_key(req, j->address_key, sizeof(j->address_key));
	if (!admit(req, j, now))
		goto out;
	if ((rc = store_txn_begin(web_store(w), false, &txn)) != DBS_OK) {
		web_send_error(req, 503, "store", dbs_strerror(rc));
		goto unadmit;
	}
	/* A client name outside the allowed set cannot exist: it still
	 * costs a verification, like any unknown account. */
	if (web_valid_name(j->client, strlen(j->client)) &&
	    (rc = store_user_get(txn, j->client, j->username, &u)) == DBS_OK) {
		snprintf(j->hash, sizeof(j->hash), "%s", u->password_hash);
		j->role = u->role;
		j->check = true;
	} else {
		j->hash[0] =
		    '\0'; /* the dummy one, taken on the pool thread */
		if (web_valid_name(j->client, strlen(j->client)) &&
		    strcmp(j->client, "root") != 0 &&
		    store_user_count(txn, j->client, &users) == DBS_OK &&
		    users == 0) {
			j->maybe_open = true;
			j->role = DBS__ROLE__ROLE_OPERATOR;
		}
	}
	store_txn_abort(txn);
	j->job.work = login_work;
	j->job.done = login_done;
	if (!web_pool_submit(web_pool(w), &j->job, req)) {
		web_send_error(req, 503, "busy", "server busy; try again");
		goto unadmit;
	}
	j = NULL; /* transferred */
	goto out;
unadmit:
	unadmit(j, now);
out:
	if (u != NULL)
		dbs__user__free_unpacked(u, NULL);
	json_decref(body);
	if (j != NULL) {
		sodium_memzero(j, sizeof(*j));
		free(j);
	}
	return 0;
}

/* --------------------------------------------------------------- logout */

struct logout_job {
	struct web_job job;
	uint8_t hash[32];
	char actor[220];
	int rc;
};

static void
logout_work(struct web_job *job)
{
	struct logout_job *j = (struct logout_job *)job;
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__SessionRef ref = DBS__SESSION_REF__INIT;
	Dbs__ControlReply *reply = NULL;

	ref.token_hash.data = j->hash;
	ref.token_hash.len = sizeof(j->hash);
	req.verb_case = DBS__CONTROL_REQUEST__VERB_SESSION_DELETE;
	req.session_delete = &ref;
	j->rc =
	    web_control(web_control_url(web_of(NULL)), j->actor, &req, &reply);
	if (j->rc == DBS_OK && reply->code != DBS_OK &&
	    reply->code != DBS_ENOTFOUND)
		j->rc = (int)reply->code;
	if (reply != NULL)
		dbs__control_reply__free_unpacked(reply, NULL);
}

static void
logout_done(struct web_job *job)
{
	struct logout_job *j = (struct logout_job *)job;
	h2o_req_t *req = web_job_req(job);

	if (req != NULL && j->rc != DBS_OK) {
		web_send_error(req, 503, "unavailable",
		    "databusd could not end the session; try again");
	} else if (req != NULL) {
		web_add_header(req, "set-cookie",
		    web_tls(web_of(req))
			? COOKIE_NAME "=; HttpOnly; SameSite=Strict; Path=/; "
				      "Max-Age=0; Secure"
			: COOKIE_NAME "=; HttpOnly; SameSite=Strict; Path=/; "
				      "Max-Age=0");
		web_send_json(req, 200, json_pack("{s:b}", "ok", 1));
	}
	free(j);
}

int
web_api_logout(h2o_req_t *req, const struct web_args *a)
{
	struct web_session s;
	struct logout_job *j;

	(void)a;
	if (!web_check_mutation(req) || !web_session_require(req, &s))
		return 0;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	memcpy(j->hash, s.hash, sizeof(j->hash));
	snprintf(
	    j->actor, sizeof(j->actor), "web:%s/%s", s.client, s.username);
	j->job.work = logout_work;
	j->job.done = logout_done;
	if (!web_pool_submit(web_pool(web_of(req)), &j->job, req)) {
		free(j);
		return web_send_error(req, 503, "busy", "server busy");
	}
	return 0;
}
