/*
 * web.h — the parts of databus-web that its handler files share.
 *
 * databus-web is one h2o event loop (server.c) with thin handlers, one file
 * per group of routes (api_auth.c, api_queue.c, api_passengers.c,
 * api_logs.c, api_users.c, api_about.c). The loop thread answers
 * everything that is quick: it reads the store (opened read-only) directly.
 * Anything slow — Argon2id verification and requests to databusd over the
 * control socket — goes to a small bounded thread pool (pool.c), whose
 * results come back to the loop thread before a response is written. No
 * file outside webui/ includes <h2o.h>; this header is private to webui/.
 */
#ifndef DBS_WEB_H
#define DBS_WEB_H

#include <h2o.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "databus.pb-c.h"
#include "store.h"

/* Request bodies larger than this are refused with 413. */
#define WEB_MAX_BODY (16u * 1024)

struct web;      /* the server: store, control URL, pool, throttle table */
struct web_pool; /* the thread pool of slow work */

/* ------------------------------------------------------------ server.c */

/* The store and the URL of databusd's control socket, owned by the
 * server; valid while it runs. */
struct store *web_store(struct web *w);
const char *web_control_url(struct web *w);
struct web_pool *web_pool(struct web *w);
/* Hash used to make a login of an unknown user cost the same time. */
const char *web_dummy_hash(struct web *w);

/* Sends body (copied) as the whole answer, with its Content-Length. */
void web_send_inline(h2o_req_t *req, const char *body, size_t len);
/* Send a JSON document (consumed, json_decref'd) with `status`, plus the
 * security headers every response carries. Returns 0 (handled). */
int web_send_json(h2o_req_t *req, int status, json_t *doc);
/* Send {"error":{"code","message"}} with `status`. Returns 0. */
int web_send_error(
    h2o_req_t *req, int status, const char *code, const char *message);
/* Add a header to the response (value copied into the request pool). */
void web_add_header(h2o_req_t *req, const char *name, const char *value);

/* Checks every mutation passes: an Origin equal to http://<Host>
 * (https://<Host> under TLS, see web_scheme), a JSON content type and a
 * body within WEB_MAX_BODY. On failure the error response has been sent
 * and false is returned. */
bool web_check_mutation(h2o_req_t *req);

/* True when the request's Origin is this server's own (scheme://Host). */
bool web_same_origin(h2o_req_t *req);

/* The peer's address as text ("127.0.0.1"), into buf. */
void web_peer_address(h2o_req_t *req, char *buf, size_t len);

/* Value of query parameter `name`, percent-decoded into buf; false when
 * absent or when it does not fit / does not decode. *bad is set when the
 * parameter is present but malformed. */
bool web_query_param(
    h2o_req_t *req, const char *name, char *buf, size_t len, bool *bad);

/* A name made only of [A-Za-z0-9_-], 1..64 characters. */
bool web_valid_name(const char *s, size_t len);

/* ------------------------------------------------------------- pool.c */

/*
 * A job: `work` runs on a pool thread, then `done` on the loop thread.
 * `done` always runs, once. The request a job answers may have gone in
 * between (the client disconnected): web_job_req() is then NULL and
 * `done` only frees its data. Jobs are malloc'ed by the caller as a
 * struct whose first member is struct web_job, and freed by `done`.
 */
struct web_job {
	h2o_multithread_message_t msg; /* private */
	void (*work)(struct web_job *job);
	void (*done)(struct web_job *job);
	h2o_req_t *req; /* private: use web_job_req() */
	void *link;     /* private */
};

int web_pool_create(h2o_loop_t *loop, unsigned threads, size_t max_queued,
    struct web_pool **out);
/* Queue `job` for `req` (NULL: no request). Returns false when the queue is
 * full: the caller answers 503 and frees the job itself. */
bool web_pool_submit(struct web_pool *p, struct web_job *job, h2o_req_t *req);
h2o_req_t *web_job_req(struct web_job *job);

/* ---------------------------------------------------------- control.c */

/*
 * Send `req` to databusd and wait for its reply (blocking: call it on a
 * pool thread only). Sets req->id and req->actor (restored to NULL). On
 * DBS_OK *out is the reply (free with dbs__control_reply__free_unpacked),
 * whose own code may still be an error. Returns DBS_ETRANSPORT when
 * databusd cannot be reached, DBS_ETIMEOUT without a reply.
 */
int web_control(const char *url, const char *actor, Dbs__ControlRequest *req,
    Dbs__ControlReply **out);

/* ------------------------------------------------------------- auth */

/* The session of a request, copied out of the store. */
struct web_session {
	char client[65];
	char username[129];
	int role;
	uint8_t hash[32];
};

/* Look up the request's dbs_session cookie. On success fills *s and
 * returns true; otherwise sends 401 and returns false. */
bool web_session_require(h2o_req_t *req, struct web_session *s);

/* True when the session may see `client`: its own, or any for root. */
bool web_session_sees(const struct web_session *s, const char *client);

/* ---------------------------------------------------------- control.c */

/*
 * A control request run on the pool for a route. Build it with
 * web_ctl_job_new (actor "web:client/user"), fill creq (empty and ref are
 * there to point into), then web_ctl_submit (or web_ctl_submit_status for
 * the status verb), which answers 503 itself when the pool is full.
 * `answer` runs on the loop thread only when databusd replied and the
 * request is still there; it sends the response. The job and its reply
 * are freed afterwards.
 */
struct web_ctl_job {
	struct web_job job;
	Dbs__ControlRequest creq;
	Dbs__Empty empty;
	Dbs__DefRef ref;
	char client[65];
	char name[65];
	struct web_session session;
	void (*answer)(h2o_req_t *req, struct web_ctl_job *j);
	const char *url;
	char actor[200];
	int rc;                   /* of the transport */
	Dbs__ControlReply *reply; /* on rc DBS_OK */
};

struct web_ctl_job *web_ctl_job_new(h2o_req_t *req,
    const struct web_session *s,
    void (*answer)(h2o_req_t *req, struct web_ctl_job *j));
int web_ctl_submit(h2o_req_t *req, struct web_ctl_job *j);
int web_ctl_submit_status(h2o_req_t *req, struct web_ctl_job *j);

/* Shared by the handler files. */
int web_not_found(h2o_req_t *req);
int web_forbidden(h2o_req_t *req);
int web_bad_param(h2o_req_t *req, const char *message);
bool web_parse_u64(const char *s, uint64_t *out);
/* dedupe: routing helpers shared by the route files. */
bool web_method_is(h2o_req_t *req, const char *m);
/* 405 with the `allow` header. */
int web_not_allowed(h2o_req_t *req, const char *allow);
/* A session of an administrator or root; false: answered (401/403). */
bool web_require_admin(h2o_req_t *req, struct web_session *s);
/* Listing parameters; false: the request was answered (value in *ret). */
bool web_param_client(h2o_req_t *req, const struct web_session *s, char *buf,
    size_t len, const char **client, int *ret);
bool web_param_paging(h2o_req_t *req, uint64_t *cursor, size_t *limit,
    size_t limit_max, int *ret);

/* Route handlers; each returns 0 after sending a response. */
int web_api_login(h2o_req_t *req);
int web_api_logout(h2o_req_t *req);
int web_api_me(h2o_req_t *req);
/* api_info.c: GET /api/v1/info, public (the login page's alias). */
int web_api_info(h2o_req_t *req);
int web_api_queue_list(h2o_req_t *req);
int web_api_queue_show(h2o_req_t *req, const char *client, size_t clen,
    const char *id, size_t idlen);
int web_api_passengers(h2o_req_t *req);
int web_api_expedite(h2o_req_t *req, const char *client, size_t clen,
    const char *name, size_t nlen);
int web_api_logs_list(h2o_req_t *req);
int web_api_logs_show(h2o_req_t *req, const char *client, size_t clen,
    const char *id, size_t idlen);
int web_api_users_list(h2o_req_t *req);
int web_api_about(h2o_req_t *req);
int web_readyz(h2o_req_t *req);

/* ------------------------------------------------------------ webcfg */

/* Config bodies carry whole files: up to this much (other mutations:
 * WEB_MAX_BODY). h2o refuses anything larger before a handler runs. */
#define WEB_MAX_CONFIG_BODY (1u << 20)

/* web_check_mutation with another body limit. */
bool web_check_mutation_max(h2o_req_t *req, size_t max_body);
/* The absolute data directory (exports live in <data_dir>/exports). */
const char *web_data_dir(struct web *w);
/* The security headers of every response, for responses built by h2o
 * itself (h2o_file_send). */
void web_security_headers(h2o_req_t *req);

/* web_control with another reply timeout (config saves run the driver
 * check, which may take longer than the default 10 s). */
int web_control_timeout(const char *url, const char *actor,
    Dbs__ControlRequest *req, Dbs__ControlReply **out, int reply_timeout_ms);

/* api_config.c: /api/v1/config and /api/v1/config/... */
int web_route_config(h2o_req_t *req);
/* api_export.c: /api/v1/export, /api/v1/exports and /api/v1/exports/... */
int web_route_export(h2o_req_t *req);

/* ----------------------------------------------------- events.c (events) */

/* GET /api/v1/events: the live-update websocket (docs/web.md). */
int web_api_events(h2o_req_t *req);
/* Subscribe to databusd's events socket in <data_dir>/run and start the
 * fan-out on `loop`; DBS_OK or a dbs_error. */
int web_events_start(h2o_loop_t *loop, struct store *st, const char *data_dir);
/* The process is stopping: EV_STOP_DELAY_MS later, every socket gets the
 * events committed until then and is closed with 1001 (going away). */
void web_events_stop(void);
/* ---------------------------------------------- drivers: api_hooks.c */

/* Webhook bodies up to this size are read (the per-puller max_body,
 * checked by databusd, is at most this); larger ones get 413 from h2o. */
#define WEB_HOOK_MAX_BODY (1u << 20)

/* POST /hooks/{client}/{definition}: HMAC-authenticated webhook intake,
 * no session, no Origin. */
int web_api_hook(h2o_req_t *req, const char *client, size_t clen,
    const char *name, size_t nlen);
/* webperf: JSON text written by the caller (proto/json_writer.h), copied
 * into the request's pool, with the headers of web_send_json. Returns 0. */
int web_send_json_text(
    h2o_req_t *req, int status, const char *text, size_t len);

/* webperf: the status, security headers and content type every answer
 * carries (what web_send_json sets), for code that writes its own body. */
void web_response_headers(h2o_req_t *req, int status, const char *type);

/* webperf (limits.c): h2o's body limit, and its own error answers (413
 * and the like, sent before routing) rewritten as our JSON errors. */
void web_limits_install(h2o_globalconf_t *conf, h2o_hostconf_t *host);
/* A body above WEB_MAX_BODY on any route: answers 413 and returns true. */
bool web_body_too_large(h2o_req_t *req);

/* webperf (tls.c): the TLS context for --tls-cert/--tls-key, or NULL with
 * the reason in err. */
SSL_CTX *web_tls_context(
    const char *cert, const char *key, char *err, size_t len);
/* True when the server speaks HTTPS: cookies are Secure, the Origin of a
 * mutation must be https://<Host>, answers carry HSTS. */
bool web_tls(struct web *w);
/* "https" or "http", for building the expected Origin. */
const char *web_scheme(struct web *w);

/* The server a request belongs to (set at start-up). */
struct web *web_of(h2o_req_t *req);

/* ------------------------------------------------- webapi (helper webapi)
 * Management routes: routes_webapi.c dispatches them (called from on_req
 * before the other /api/v1 routes); api_queue_item.c (steps,
 * attachments), api_manage.c (purges, peek, system), api_users_manage.c
 * (users), metrics.c (/metrics), session_touch.c (last-used touch). */

/* Routes the request if it is one of webapi's; true with the handler's
 * return value in *ret, false when the request is not one of them. */
bool web_route_webapi(h2o_req_t *req, h2o_iovec_t path, int *ret);
/* The request body as a JSON object; NULL after answering 400. */
json_t *web_body_object(h2o_req_t *req);
/* Answer a control reply whose code is not DBS_OK with the matching
 * status (404, 400, 409, 503, 504). */
int web_ctl_error(h2o_req_t *req, const Dbs__ControlReply *r);
/* Ask databusd to touch the session (at most once a minute each; more
 * often only when its idle limit is under two minutes). */
void web_session_touch(struct web *w, const uint8_t hash[32],
    int64_t last_used_ms, int64_t expires_ms);
/* web_ctl_job_new for a larger job struct (size bytes, the web_ctl_job
 * first), for routes that need more request fields; freed by the same
 * path. */
struct web_ctl_job *web_ctl_job_alloc(h2o_req_t *req,
    const struct web_session *s,
    void (*answer)(h2o_req_t *req, struct web_ctl_job *j), size_t size);
/* True when the peer is on a loopback address. */
bool web_peer_is_loopback(h2o_req_t *req);

int web_api_steps(h2o_req_t *req, const char *client, uint64_t id);
int web_api_attachment(h2o_req_t *req, const char *client, uint64_t id,
    const char *name, size_t nlen);
int web_api_purge(h2o_req_t *req, bool queue);
int web_api_peek(h2o_req_t *req, const char *client, const char *name);
int web_api_system(h2o_req_t *req, const char *verb);
int web_api_user_create(h2o_req_t *req);
int web_api_user_delete(
    h2o_req_t *req, const char *client, const char *username);
int web_api_user_password(
    h2o_req_t *req, const char *client, const char *username);
int web_api_user_revoke(
    h2o_req_t *req, const char *client, const char *username);
int web_metrics(h2o_req_t *req);

/* ------------------------------------------------ static.c (spa) */

/* Serve the built single-page app from `dir` (resolved now). False when
 * it is not a directory: the API still works, pages answer 404. */
bool web_static_init(const char *dir);
/* Answer a GET/HEAD that no API route took: /assets/<name>, a root file
 * of the build, or index.html for the app's own routes. */
int web_static(h2o_req_t *req);

/* authx: JSON text with '<', '>' and '&' as \u escapes (json_html_safe.c);
 * returns text itself when it has none, else a copy in pool. */
h2o_iovec_t web_json_html_safe(
    h2o_mem_pool_t *pool, const char *text, size_t len);

#endif
