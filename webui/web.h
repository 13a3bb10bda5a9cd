/*
 * web.h — the parts of databus-web that its handler files share.
 *
 * databus-web is one h2o event loop (main.c) with thin handlers, one file
 * per group of routes (api_*.c), found through one route table
 * (routes.c); server.c holds what every answer shares. The loop thread
 * answers
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
#include "params.h"
#include "store.h"
#include "throttle.h"

/* Request bodies larger than this are refused with 413. */
#define WEB_MAX_BODY (16u * 1024)

struct web;      /* the server: store, control URL, pool */
struct web_pool; /* the thread pool of slow work */

/* ------------------------------------------------------------ server.c */

/* The server's state, set up once by main.c before the loop runs: the
 * data directory (absolute) and the store opened in it, and the pool.
 * web_server_init computes the control URL (false when that fails). */
bool web_server_init(const char *data_dir, struct store *st);
/* Start making the dummy hash on a thread of its own (web_dummy_hash
 * waits for it; NULL if it could not be made). */
void web_server_prepare(void);
void web_server_set_pool(struct web_pool *pool);
void web_server_set_tls(bool tls);

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
/* Send `text` as text/plain with `status`. Returns 0. */
int web_send_text(h2o_req_t *req, int status, const char *text);
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

/* A throttle's verdict (throttle.h): true when admitted, else answered
 * 429 with Retry-After (60 s when blocked, with `blocked`; 1 s when too
 * many wait, with `busy`). */
bool web_throttle_answer(h2o_req_t *req, enum web_throttle_verdict v,
    const char *blocked, const char *busy);

/* hosts.c: the Host allow-list (DNS rebinding). */
bool web_hosts_init(
    const char *listen, const char *const *extra, size_t n_extra);
bool web_host_allowed(h2o_req_t *req);

/* The peer's address as text ("127.0.0.1"), into buf. */
void web_peer_address(h2o_req_t *req, char *buf, size_t len);

/* Value of query parameter `name`, percent-decoded into buf; false when
 * absent or when it does not fit / does not decode. *bad is set when the
 * parameter is present but malformed. */
bool web_query_param(
    h2o_req_t *req, const char *name, char *buf, size_t len, bool *bad);

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
/* Jobs submitted whose `done` has not run yet (0 for a NULL pool). */
size_t web_pool_in_flight(struct web_pool *p);

/* ----------------------------------------------------- control_jobs.c */

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

/* ----------------------------------------------------- control_jobs.c */

/*
 * A control request run on the pool for a route. Build it with
 * web_ctl_job_new (actor "web:client/user"), fill creq (empty and ref are
 * there to point into), then web_ctl_submit (or web_ctl_submit_status for
 * the status verb), which answers 503 itself when the pool is full.
 * `answer` runs on the loop thread only when databusd replied and the
 * request is still there; it sends the response. The job, its reply and
 * `owned` are freed afterwards.
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
	int reply_timeout_ms;     /* 0: web_control's */
	void *owned; /* malloc'ed by the route, freed with the job */
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

/* ------------------------------------------------- configuration, exports */

/* Config bodies carry whole files: up to this much (other mutations:
 * WEB_MAX_BODY). h2o refuses anything larger before a handler runs. */
#define WEB_MAX_CONFIG_BODY (1u << 20)

/* An uploaded archive (api_import.c) comes in pieces of at most
 * WEB_IMPORT_CHUNK bytes (h2o's own body limit), WEB_IMPORT_MAX in all. */
#define WEB_IMPORT_CHUNK (1u << 20)
#define WEB_IMPORT_MAX   (UINT64_C(1) << 30)

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

/* ------------------------------------------------------------- live.c */

/* Subscribe to databusd's events socket in <data_dir>/run and start the
 * fan-out on `loop`; DBS_OK or a dbs_error. */
int web_events_start(h2o_loop_t *loop, struct store *st, const char *data_dir);
/* The process is stopping: EV_STOP_DELAY_MS later, every socket gets the
 * events committed until then and is closed with 1001 (going away). */
void web_events_stop(void);
/* Live sockets still open (0 before web_events_start). */
size_t web_events_open(void);
/* Call cb with the client of each open live-update socket's session
 * (for /metrics). Loop thread. */
void web_events_each_socket(
    void (*cb)(const char *client, void *arg), void *arg);

/* ------------------------------------------------------------ responses */

/* JSON text written by the caller (proto/json_writer.h), copied
 * into the request's pool, with the headers of web_send_json. Returns 0. */
int web_send_json_text(
    h2o_req_t *req, int status, const char *text, size_t len);

/* The status, security headers and content type every answer
 * carries (what web_send_json sets), for code that writes its own body. */
void web_response_headers(h2o_req_t *req, int status, const char *type);

/* limits.c: h2o's body limit, and its own error answers (413
 * and the like, sent before routing) rewritten as our JSON errors. */
void web_limits_install(h2o_globalconf_t *conf, h2o_hostconf_t *host);
/* A body above WEB_MAX_BODY on any route: answers 413 and returns true. */
bool web_body_too_large(h2o_req_t *req);

/* framing.c: strict HTTP/1 framing (request smuggling). main.c registers
 * each accepted socket before h2o_accept; false when out of memory (the
 * socket must then be closed). web_framing_reason is why h2o's 400 on
 * this request's connection refused it (NULL: not refused by framing);
 * web_framing_route, called before routing, ends the connection after
 * the answer when checking stopped at an Upgrade header. */
bool web_framing_watch(h2o_socket_t *sock);
const char *web_framing_reason(h2o_req_t *req);
void web_framing_route(h2o_req_t *req);

/* tls.c: the TLS context for --tls-cert/--tls-key, or NULL with
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

/* ------------------------------------------- what the handlers share */

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

/* ------------------------------------------------------------ static.c */

/* Serve the built single-page app from `dir` (resolved now). False when
 * it is not a directory: the API still works, pages answer 404. */
bool web_static_init(const char *dir);
/* JSON text with '<', '>' and '&' as \u escapes (json_html_safe.c);
 * returns text itself when it has none, else a copy in pool. */
h2o_iovec_t web_json_html_safe(
    h2o_mem_pool_t *pool, const char *text, size_t len);

/* ------------------------------------------------------------ routes.c */

/* Who may use a route: the least role that gets an answer other than
 * 403 (or 401). The handler itself checks it, after the checks that come
 * first in its answers (Origin, content type, body); test_routes.c pins
 * the table, tests/system/test_auth_*.py the answers. */
enum web_access {
	WEB_OPEN,     /* anyone: probes, login, the app */
	WEB_LOOPBACK, /* a peer on a loopback address (/metrics) */
	WEB_HMAC,     /* the definition's webhook secret, no session */
	WEB_OPERATOR, /* any session */
	WEB_ADMIN,    /* an administrator's or root's session */
	WEB_ROOT,     /* root's session */
};

/* Methods, as a mask. */
enum {
	WEB_GET = 1u << 0,
	WEB_HEAD = 1u << 1,
	WEB_POST = 1u << 2,
	WEB_PUT = 1u << 3,
	WEB_DELETE = 1u << 4,
};

/* The parameters of a matched path (routes.c says which pattern segment
 * fills which field); the rest is zero. */
struct web_args {
	char client[65];                       /* {client} */
	char name[65];                         /* {name}: a definition */
	char user[65];                         /* {user}, decoded */
	char node[256];                        /* {node}, decoded */
	char export_id[WEB_EXPORT_ID_LEN + 1]; /* {export} */
	uint64_t id;                           /* {seq} or {id} */
	h2o_iovec_t file;   /* {file}: into the request's raw path */
	h2o_iovec_t any[2]; /* {any}, in order: into the path */
	size_t n_any;
	const char *arg; /* the route's own argument ("queue", "pause") */
};

/* A handler answers the request (returns 0 after sending a response). */
typedef int web_handler(h2o_req_t *req, const struct web_args *a);

struct web_route {
	unsigned methods;     /* WEB_GET | WEB_HEAD, ... */
	const char *pattern;  /* "/api/v1/queue/{client}/{seq}" */
	enum web_access role; /* the least role answered */
	web_handler *handler;
	const char *arg; /* handed to the handler in web_args.arg */
};

/* What a method and a path come to: a route (and its arguments), or the
 * answer without one: 404 with `message`, 405 with `allow`. */
struct web_match {
	const struct web_route *route;
	struct web_args args;
	int status;          /* 404 or 405 when route is NULL */
	const char *message; /* of the 404 */
	char allow[48];      /* of the 405: "GET, PUT" */
};

/* Match a request line: the method, the normalised path and the raw path
 * (without the query). Pure: touches no server state. */
void web_route_match(const char *method, size_t mlen, const char *path,
    size_t plen, const char *raw, size_t rawlen, struct web_match *m);
/* Route a request: the body limit, then the match, then the handler or
 * the 404/405 answer. Returns 0. */
int web_route(h2o_req_t *req);
/* The table, for tests and docs; and the web app's route, taken by every
 * GET or HEAD outside /api that no route matches. */
const struct web_route *web_routes(size_t *n);
const struct web_route *web_route_app(void);

/* ----------------------------------------------------------- handlers */

/* probes.c */
int web_healthz(h2o_req_t *req, const struct web_args *a);
int web_readyz(h2o_req_t *req, const struct web_args *a);
/* metrics.c: Prometheus text, for the peers metrics_access.c admits */
int web_metrics(h2o_req_t *req, const struct web_args *a);
/* Count a login that named an existing account (or an open client): by
 * client, ok or failed; and one that named no account. Loop thread. */
void web_metrics_login(const char *client, bool known, bool ok);
/* metrics_access.c: --metrics-allow networks and --metrics-token-file;
 * false with *msg on a malformed network or an unusable token file. */
bool web_metrics_access_init(const char *const *allow, size_t n_allow,
    const char *token_file, char *msg, size_t msglen);
/* 0 when the peer may scrape /metrics, else the status to answer (404
 * for a peer that may not, 401 for a missing or wrong token). */
int web_metrics_admit(h2o_req_t *req);
/* api_auth.c, api_info.c */
int web_api_login(h2o_req_t *req, const struct web_args *a);
int web_api_logout(h2o_req_t *req, const struct web_args *a);
int web_api_me(h2o_req_t *req, const struct web_args *a);
int web_api_info(h2o_req_t *req, const struct web_args *a);
/* live.c: the live-update websocket (docs/web.md) */
int web_api_events(h2o_req_t *req, const struct web_args *a);
/* api_about.c */
int web_api_about(h2o_req_t *req, const struct web_args *a);
/* api_queue.c, api_queue_item.c, api_logs.c */
int web_api_queue_list(h2o_req_t *req, const struct web_args *a);
int web_api_queue_show(h2o_req_t *req, const struct web_args *a);
int web_api_steps(h2o_req_t *req, const struct web_args *a);
int web_api_attachment(h2o_req_t *req, const struct web_args *a);
int web_api_logs_list(h2o_req_t *req, const struct web_args *a);
int web_api_logs_show(h2o_req_t *req, const struct web_args *a);
/* api_manage.c: purges (arg "queue" or "logs"), peek, system (arg: the
 * verb) */
int web_api_purge(h2o_req_t *req, const struct web_args *a);
int web_api_peek(h2o_req_t *req, const struct web_args *a);
int web_api_system(h2o_req_t *req, const struct web_args *a);
/* api_history.c: the charts' history (arg "system", "sum" or
 * "definition") */
int web_api_history(h2o_req_t *req, const struct web_args *a);
/* api_passengers.c */
int web_api_passengers(h2o_req_t *req, const struct web_args *a);
int web_api_expedite(h2o_req_t *req, const struct web_args *a);
/* api_dry_run.c */
int web_api_dry_run(h2o_req_t *req, const struct web_args *a);
/* api_users.c, api_users_manage.c */
int web_api_users_list(h2o_req_t *req, const struct web_args *a);
int web_api_user_create(h2o_req_t *req, const struct web_args *a);
int web_api_user_delete(h2o_req_t *req, const struct web_args *a);
int web_api_user_password(h2o_req_t *req, const struct web_args *a);
int web_api_user_revoke(h2o_req_t *req, const struct web_args *a);
int web_api_user_role(h2o_req_t *req, const struct web_args *a);
/* api_config.c */
int web_api_config_list(h2o_req_t *req, const struct web_args *a);
int web_api_config_get(h2o_req_t *req, const struct web_args *a);
int web_api_config_save(h2o_req_t *req, const struct web_args *a);
int web_api_config_validate(h2o_req_t *req, const struct web_args *a);
int web_api_config_backups(h2o_req_t *req, const struct web_args *a);
int web_api_config_backup(h2o_req_t *req, const struct web_args *a);
int web_api_config_restore(h2o_req_t *req, const struct web_args *a);
/* api_export.c */
int web_api_export_create(h2o_req_t *req, const struct web_args *a);
int web_api_exports_list(h2o_req_t *req, const struct web_args *a);
int web_api_export_show(h2o_req_t *req, const struct web_args *a);
int web_api_export_delete(h2o_req_t *req, const struct web_args *a);
int web_api_export_download(h2o_req_t *req, const struct web_args *a);
/* api_import.c: root's import of an uploaded archive. */
int web_api_import_create(h2o_req_t *req, const struct web_args *a);
int web_api_import_data(h2o_req_t *req, const struct web_args *a);
int web_api_import_preview(h2o_req_t *req, const struct web_args *a);
int web_api_import_apply(h2o_req_t *req, const struct web_args *a);
int web_api_import_show(h2o_req_t *req, const struct web_args *a);
int web_api_import_delete(h2o_req_t *req, const struct web_args *a);
/* api_hooks.c: POST /hooks/{client}/{definition} (any[0], any[1]) */
int web_api_hook(h2o_req_t *req, const struct web_args *a);
/* static.c: /assets/<name>, a root file of the build, or index.html for
 * the app's own routes */
int web_static(h2o_req_t *req, const struct web_args *a);

#endif
