/*
 * server.c — databus-web: the h2o event loop, routing, and what every
 * response shares (security headers, JSON errors, request checks).
 *
 *   databus-web --data DIR --listen HOST:PORT [--parent PID]
 *
 * It opens the store in DIR/store read-only and talks to databusd over
 * ipc://DIR/run/control for every change. One thread runs the h2o loop and
 * answers quick requests itself; Argon2id and control requests go to a
 * pool of two threads (pool.c). Exit codes: 0 clean stop, 100 usage error,
 * 111 transient error (the store or the address is not available yet).
 * With --parent, the process ends when that process does
 * (PR_SET_PDEATHSIG, checked once after it is set).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dbs_error.h"
#include "params.h"
#include "web.h"
#include "wire.h"

#define EXIT_USAGE     100
#define EXIT_TRANSIENT 111

#define POOL_THREADS 2
#define POOL_QUEUE   64

struct web {
	struct store *st;
	char data_dir[PATH_MAX];
	char control_url[PATH_MAX + 32];
	struct web_pool *pool;
	char dummy_hash[crypto_pwhash_STRBYTES];
	h2o_globalconf_t config;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept_ctx;
	bool tls;
};

static struct web server;

struct web *
web_of(h2o_req_t *req)
{
	(void)req;
	return &server;
}

struct store *
web_store(struct web *w)
{
	return w->st;
}

const char *
web_data_dir(struct web *w)
{
	return w->data_dir;
}

const char *
web_control_url(struct web *w)
{
	return w->control_url;
}

struct web_pool *
web_pool(struct web *w)
{
	return w->pool;
}

const char *
web_dummy_hash(struct web *w)
{
	return w->dummy_hash;
}

bool
web_tls(struct web *w)
{
	return w->tls;
}

const char *
web_scheme(struct web *w)
{
	return w->tls ? "https" : "http";
}

/* ------------------------------------------------------------ responses */

void
web_add_header(h2o_req_t *req, const char *name, const char *value)
{
	h2o_add_header_by_str(&req->pool, &req->res.headers, name,
	    strlen(name), 1, NULL, value, strlen(value));
}

static const char *
reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 202:
		return "Accepted";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 429:
		return "Too Many Requests";
	case 503:
		return "Service Unavailable";
	default:
		return status < 500 ? "Error" : "Internal Server Error";
	}
}

void
web_security_headers(h2o_req_t *req)
{
	web_add_header(req, "content-security-policy",
	    "default-src 'self'; frame-ancestors 'none'");
	web_add_header(req, "x-content-type-options", "nosniff");
	web_add_header(req, "referrer-policy", "no-referrer");
	web_add_header(req, "cache-control", "no-store");
}

static void
common_headers(h2o_req_t *req, int status, const char *type)
{
	req->res.status = status;
	req->res.reason = reason(status);
	web_security_headers(req);
	web_add_header(req, "content-type", type);
	if (server.tls)
		web_add_header(
		    req, "strict-transport-security", "max-age=31536000");
}

void
web_response_headers(h2o_req_t *req, int status, const char *type)
{
	common_headers(req, status, type);
}

/* A whole body in one go, with its Content-Length: h2o_send_inline leaves
 * the length unset, and h2o 2.2.5 then closes the connection after the
 * answer to any request that had a body (every POST), so each webhook
 * delivery or API mutation would cost a new TCP connection. */
void
web_send_inline(h2o_req_t *req, const char *body, size_t len)
{
	req->res.content_length = len;
	h2o_send_inline(req, body, len);
}

static int
send_text(h2o_req_t *req, int status, const char *text)
{
	common_headers(req, status, "text/plain; charset=utf-8");
	web_send_inline(req, text, strlen(text));
	return 0;
}

int
web_send_json(h2o_req_t *req, int status, json_t *doc)
{
	char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;

	json_decref(doc);
	if (text == NULL) {
		status = 500;
		text = strdup("{\"error\":{\"code\":\"internal\","
			      "\"message\":\"out of memory\"}}");
		if (text == NULL)
			return send_text(req, 500, "out of memory");
	}
	common_headers(req, status, "application/json");
	{
		/* authx: no raw '<', '>', '&' in JSON (json_html_safe.c) */
		h2o_iovec_t safe =
		    web_json_html_safe(&req->pool, text, strlen(text));

		web_send_inline(req, safe.base, safe.len);
	}
	free(text);
	return 0;
}

int
web_send_json_text(h2o_req_t *req, int status, const char *text, size_t len)
{
	h2o_iovec_t safe = web_json_html_safe(&req->pool, text, len);

	common_headers(req, status, "application/json");
	web_send_inline(req, safe.base, safe.len);
	return 0;
}

int
web_send_error(
    h2o_req_t *req, int status, const char *code, const char *message)
{
	return web_send_json(req, status,
	    json_pack(
		"{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

int
web_not_found(h2o_req_t *req)
{
	return web_send_error(req, 404, "not_found", "no such object");
}

int
web_forbidden(h2o_req_t *req)
{
	return web_send_error(
	    req, 403, "forbidden", "your role may not do this");
}

int
web_bad_param(h2o_req_t *req, const char *message)
{
	return web_send_error(req, 400, "bad_request", message);
}

bool
web_method_is(h2o_req_t *req, const char *m)
{
	return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

int
web_not_allowed(h2o_req_t *req, const char *allow)
{
	web_add_header(req, "allow", allow);
	return web_send_error(
	    req, 405, "method_not_allowed", "method not allowed");
}

/*
 * The `client` query parameter of a listing, scoped to the session: a
 * non-root user lists its own client (naming another answers 404), root
 * lists the one named or, without one, all (*client NULL). Returns false
 * when it answered the request itself, with that answer's value in *ret.
 */
bool
web_param_client(h2o_req_t *req, const struct web_session *s, char *buf,
    size_t len, const char **client, int *ret)
{
	bool bad;

	*client = NULL;
	if (web_query_param(req, "client", buf, len, &bad)) {
		if (!web_valid_name(buf, strlen(buf))) {
			*ret = web_bad_param(req, "invalid client");
			return false;
		}
		*client = buf;
	} else if (bad) {
		*ret = web_bad_param(req, "invalid client");
		return false;
	}
	if (s->role != DBS__ROLE__ROLE_ROOT) {
		if (*client != NULL && strcmp(*client, s->client) != 0) {
			*ret = web_not_found(req);
			return false;
		}
		*client = s->client;
	}
	return true;
}

/* The `cursor` and `limit` (1..limit_max) query parameters of a listing;
 * same return convention as web_param_client. */
bool
web_param_paging(h2o_req_t *req, uint64_t *cursor, size_t *limit,
    size_t limit_max, int *ret)
{
	const char *msg =
	    req->query_at == SIZE_MAX
		? NULL
		: web_paging_parse(req->path.base + req->query_at + 1,
		      req->path.len - req->query_at - 1, cursor, limit,
		      limit_max);

	if (msg != NULL) {
		*ret = web_bad_param(req, msg);
		return false;
	}
	return true;
}

/* --------------------------------------------------------------- checks */

static bool
header_value(h2o_req_t *req, const char *name, h2o_iovec_t *out)
{
	ssize_t i =
	    h2o_find_header_by_str(&req->headers, name, strlen(name), -1);

	if (i < 0)
		return false;
	*out = req->headers.entries[i].value;
	return true;
}

bool
web_check_mutation(h2o_req_t *req)
{
	return web_check_mutation_max(req, WEB_MAX_BODY);
}

bool
web_same_origin(h2o_req_t *req)
{
	h2o_iovec_t origin;
	char want[300];
	int n;

	n = snprintf(want, sizeof(want), "%s://%.*s", web_scheme(&server),
	    (int)req->authority.len, req->authority.base);
	return header_value(req, "origin", &origin) && n > 0 &&
	       (size_t)n < sizeof(want) && origin.len == (size_t)n &&
	       memcmp(origin.base, want, origin.len) == 0;
}

bool
web_check_mutation_max(h2o_req_t *req, size_t max_body)
{
	h2o_iovec_t type;

	/* Same origin: browsers send Origin on every cross-site POST, so a
	 * missing or different one means the request is not the UI's. */
	if (!web_same_origin(req)) {
		web_send_error(req, 403, "forbidden_origin",
		    "cross-origin or Origin-less requests may not change "
		    "anything");
		return false;
	}
	if (req->entity.len > max_body) {
		web_send_error(
		    req, 413, "too_large", "the request body is too large");
		return false;
	}
	if (!header_value(req, "content-type", &type) ||
	    !(h2o_memis(type.base, type.len, H2O_STRLIT("application/json")) ||
		(type.len > 17 && h2o_lcstris(type.base, 17,
				      H2O_STRLIT("application/json;"))))) {
		web_send_error(req, 415, "unsupported_media_type",
		    "the request body must be application/json");
		return false;
	}
	return true;
}

void
web_peer_address(h2o_req_t *req, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	sl = req->conn->callbacks->get_peername(
	    req->conn, (struct sockaddr *)&ss);
	if (sl == 0 || getnameinfo((struct sockaddr *)&ss, sl, buf,
			   (socklen_t)len, NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(buf, len, "unknown");
}

bool
web_query_param(
    h2o_req_t *req, const char *name, char *buf, size_t len, bool *bad)
{
	if (req->query_at == SIZE_MAX) {
		*bad = false;
		return false;
	}
	return web_query_lookup(req->path.base + req->query_at + 1,
	    req->path.len - req->query_at - 1, name, buf, len, bad);
}

/* --------------------------------------------------------------- probes */

static int
method_not_allowed(h2o_req_t *req, const char *allow)
{
	web_add_header(req, "allow", allow);
	return web_send_error(
	    req, 405, "method_not_allowed", "method not allowed");
}

struct ready_job {
	struct web_job job;
	int rc;
};

static void
ready_work(struct web_job *job)
{
	struct ready_job *j = (struct ready_job *)job;
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__Empty empty = DBS__EMPTY__INIT;
	Dbs__ControlReply *reply = NULL;

	req.verb_case = DBS__CONTROL_REQUEST__VERB_STATUS;
	req.status = &empty;
	j->rc = web_control(server.control_url, "web", &req, &reply);
	if (j->rc == DBS_OK && reply->code != DBS_OK)
		j->rc = (int)reply->code;
	if (reply != NULL)
		dbs__control_reply__free_unpacked(reply, NULL);
}

static void
ready_done(struct web_job *job)
{
	struct ready_job *j = (struct ready_job *)job;
	h2o_req_t *req = web_job_req(job);

	if (req != NULL) {
		if (j->rc == DBS_OK)
			send_text(req, 200, "ready");
		else
			web_send_error(req, 503, "not_ready",
			    "databusd does not answer on the control socket");
	}
	free(j);
}

int
web_readyz(h2o_req_t *req)
{
	struct ready_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	j->job.work = ready_work;
	j->job.done = ready_done;
	if (!web_pool_submit(server.pool, &j->job, req)) {
		free(j);
		return web_send_error(req, 503, "busy", "server busy");
	}
	return 0;
}

/* -------------------------------------------------------------- routing */

static bool
is(h2o_req_t *req, const char *method)
{
	return h2o_memis(
	    req->method.base, req->method.len, method, strlen(method));
}

static bool
path_is(h2o_iovec_t path, const char *want)
{
	return h2o_memis(path.base, path.len, want, strlen(want));
}

/* /api/v1/queue/{client}/{id}: validated here, before any lookup. */
static int
route_queue_item(h2o_req_t *req, h2o_iovec_t rest)
{
	const char *slash = memchr(rest.base, '/', rest.len);
	size_t clen, ilen, i;
	const char *id;

	if (slash == NULL)
		goto notfound;
	clen = (size_t)(slash - rest.base);
	id = slash + 1;
	ilen = rest.len - clen - 1;
	if (!web_valid_name(rest.base, clen) || ilen == 0 || ilen > 19)
		goto notfound;
	for (i = 0; i < ilen; i++)
		if (id[i] < '0' || id[i] > '9')
			goto notfound;
	if (!is(req, "GET") && !is(req, "HEAD"))
		return method_not_allowed(req, "GET");
	return web_api_queue_show(req, rest.base, clen, id, ilen);
notfound:
	return web_send_error(req, 404, "not_found", "no such object");
}

/* Split "{a}/{b}" (rest of a path) into a valid name and a tail. */
static bool
split2(h2o_iovec_t rest, h2o_iovec_t *a, h2o_iovec_t *b)
{
	const char *slash = memchr(rest.base, '/', rest.len);

	if (slash == NULL)
		return false;
	*a = h2o_iovec_init(rest.base, (size_t)(slash - rest.base));
	*b = h2o_iovec_init(slash + 1, rest.len - a->len - 1);
	return web_valid_name(a->base, a->len);
}

/* /api/v1/logs/{client}/{id} */
static int
route_log_item(h2o_req_t *req, h2o_iovec_t rest)
{
	h2o_iovec_t c, id;
	size_t i;

	if (!split2(rest, &c, &id) || id.len == 0 || id.len > 19)
		return web_not_found(req);
	for (i = 0; i < id.len; i++)
		if (id.base[i] < '0' || id.base[i] > '9')
			return web_not_found(req);
	if (!is(req, "GET") && !is(req, "HEAD"))
		return method_not_allowed(req, "GET");
	return web_api_logs_show(req, c.base, c.len, id.base, id.len);
}

/* /api/v1/passengers/{client}/{name}/expedite */
static int
route_passenger(h2o_req_t *req, h2o_iovec_t rest)
{
	h2o_iovec_t c, tail, name, verb;

	if (!split2(rest, &c, &tail) || !split2(tail, &name, &verb) ||
	    !path_is(verb, "expedite"))
		return web_not_found(req);
	if (!is(req, "POST"))
		return method_not_allowed(req, "POST");
	return web_api_expedite(req, c.base, c.len, name.base, name.len);
}

static bool
has_prefix(h2o_iovec_t path, const char *prefix, h2o_iovec_t *rest)
{
	size_t n = strlen(prefix);

	if (path.len <= n || memcmp(path.base, prefix, n) != 0)
		return false;
	*rest = h2o_iovec_init(path.base + n, path.len - n);
	return true;
}

static int
on_req(h2o_handler_t *self, h2o_req_t *req)
{
	h2o_iovec_t path = req->path_normalized, rest;
	static const char qprefix[] = "/api/v1/queue/";

	(void)self;
	if (web_body_too_large(req))
		return 0;
	if (path_is(path, "/healthz")) {
		if (!is(req, "GET") && !is(req, "HEAD"))
			return method_not_allowed(req, "GET");
		return send_text(req, 200, "ok");
	}
	if (path_is(path, "/readyz")) {
		if (!is(req, "GET") && !is(req, "HEAD"))
			return method_not_allowed(req, "GET");
		return web_readyz(req);
	}
	if (path_is(path, "/api/v1/login")) {
		if (!is(req, "POST"))
			return method_not_allowed(req, "POST");
		return web_api_login(req);
	}
	if (path_is(path, "/api/v1/logout")) {
		if (!is(req, "POST"))
			return method_not_allowed(req, "POST");
		return web_api_logout(req);
	}
	if (path_is(path, "/api/v1/info")) {
		if (!is(req, "GET") && !is(req, "HEAD"))
			return method_not_allowed(req, "GET");
		return web_api_info(req);
	}
	if (path_is(path, "/api/v1/me")) {
		if (!is(req, "GET") && !is(req, "HEAD"))
			return method_not_allowed(req, "GET");
		return web_api_me(req);
	}
	{
		/* webapi: management routes and /metrics (routes_webapi.c) */
		int ret;

		if (web_route_webapi(req, path, &ret))
			return ret;
	}
	if (path_is(path, "/api/v1/queue")) {
		if (!is(req, "GET") && !is(req, "HEAD"))
			return method_not_allowed(req, "GET");
		return web_api_queue_list(req);
	}
	if (path.len > sizeof(qprefix) - 1 &&
	    memcmp(path.base, qprefix, sizeof(qprefix) - 1) == 0)
		return route_queue_item(
		    req, h2o_iovec_init(path.base + sizeof(qprefix) - 1,
			     path.len - (sizeof(qprefix) - 1)));
	if (path_is(path, "/api/v1/passengers")) {
		if (!is(req, "GET") && !is(req, "HEAD"))
			return method_not_allowed(req, "GET");
		return web_api_passengers(req);
	}
	if (has_prefix(path, "/api/v1/passengers/", &rest))
		return route_passenger(req, rest);
	if (path_is(path, "/api/v1/logs")) {
		if (!is(req, "GET") && !is(req, "HEAD"))
			return method_not_allowed(req, "GET");
		return web_api_logs_list(req);
	}
	if (has_prefix(path, "/api/v1/logs/", &rest))
		return route_log_item(req, rest);
	if (path_is(path, "/api/v1/users")) {
		if (!is(req, "GET") && !is(req, "HEAD"))
			return method_not_allowed(req, "GET");
		return web_api_users_list(req);
	}
	if (path_is(path, "/api/v1/events")) {
		if (!is(req, "GET"))
			return method_not_allowed(req, "GET");
		return web_api_events(req);
	}
	if (path_is(path, "/api/v1/about")) {
		if (!is(req, "GET") && !is(req, "HEAD"))
			return method_not_allowed(req, "GET");
		return web_api_about(req);
	}
	/* webcfg: customizing and export */
	if (path_is(path, "/api/v1/config") ||
	    has_prefix(path, "/api/v1/config/", &rest))
		return web_route_config(req);
	if (path_is(path, "/api/v1/export") ||
	    path_is(path, "/api/v1/exports") ||
	    has_prefix(path, "/api/v1/exports/", &rest))
		return web_route_export(req);
	/* drivers: webhook intake, HMAC-authenticated (no session). */
	if (has_prefix(path, "/hooks/", &rest)) {
		const char *slash = memchr(rest.base, '/', rest.len);

		if (slash == NULL || slash == rest.base ||
		    slash + 1 == rest.base + rest.len)
			return web_send_error(
			    req, 404, "not_found", "no such resource");
		if (!is(req, "POST"))
			return method_not_allowed(req, "POST");
		return web_api_hook(req, rest.base,
		    (size_t)(slash - rest.base), slash + 1,
		    (size_t)(rest.base + rest.len - slash - 1));
	}
	/* spa: the single-page app for every other GET outside /api/ */
	if (!has_prefix(path, "/api/", &rest) && !path_is(path, "/api")) {
		if (!is(req, "GET") && !is(req, "HEAD"))
			return method_not_allowed(req, "GET");
		return web_static(req);
	}
	return web_send_error(req, 404, "not_found", "no such resource");
}

/* ----------------------------------------------------------------- main */

/* webapi: SIGTERM (databusd's shutdown, or the parent's death) ends the
 * process gracefully: it keeps serving for STOP_GRACE_MS so that the
 * answers in flight — the reply to a shutdown asked for through this very
 * server — still reach their clients, then exits 0. */
#define STOP_GRACE_MS 1000
static volatile sig_atomic_t stop_requested;

static void
on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int
run_loop(h2o_evloop_t *loop)
{
	struct sigaction sa;
	int64_t stop_at = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	for (;;) {
		/* A signal may land on a pool thread: wake up to look. */
		if (h2o_evloop_run(loop, 200) != 0 && errno != EINTR)
			return EXIT_TRANSIENT;
		if (!stop_requested)
			continue;
		if (stop_at == 0) {
			stop_at = wire_now_ms() + STOP_GRACE_MS;
			web_events_stop(); /* events: close 1001, in time */
		} else if (wire_now_ms() >= stop_at) {
			/* h2o's loop has no teardown for its sockets and
			 * timers: end the process as the signal would have,
			 * without exit handlers. */
			fflush(NULL);
			_exit(0);
		}
	}
}

static void
on_accept(h2o_socket_t *listener, const char *err)
{
	h2o_socket_t *sock;

	if (err != NULL)
		return;
	if ((sock = h2o_evloop_socket_accept(listener)) == NULL)
		return;
	h2o_accept(&server.accept_ctx, sock);
}

static void
usage(void)
{
	fputs(
	    "usage: databus-web --data DIR --listen HOST:PORT "
	    "[--static DIR] [--parent PID] [--tls-cert FILE --tls-key FILE]\n",
	    stderr);
	exit(EXIT_USAGE);
}

/* Bind HOST:PORT (IPv4 or IPv6, "[::1]:5000" too). */
static int
listen_on(const char *hostport)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints, *ai = NULL;
	size_t hlen;
	int fd = -1, one = 1;

	if (colon == NULL || colon == hostport || colon[1] == '\0')
		return -2;
	hlen = (size_t)(colon - hostport);
	if (hostport[0] == '[' && hlen >= 2 && colon[-1] == ']') {
		hostport++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		return -2;
	memcpy(host, hostport, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || ai == NULL)
		return -2;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, SOMAXCONN) != 0) {
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

int
main(int argc, char **argv)
{
	const char *data = NULL, *listen_addr = NULL, *tls_cert = NULL,
		   *tls_key = NULL;
	char tls_err[600];
	const char *static_dir = NULL;
	char store_dir[PATH_MAX + 8], real[PATH_MAX];
	h2o_hostconf_t *host;
	h2o_pathconf_t *pathconf;
	h2o_handler_t *handler;
	h2o_evloop_t *loop;
	h2o_socket_t *sock;
	long parent = 0;
	char *end;
	int i, fd, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
			data = argv[++i];
		else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			listen_addr = argv[++i];
		else if (strcmp(argv[i], "--tls-cert") == 0 && i + 1 < argc)
			tls_cert = argv[++i];
		else if (strcmp(argv[i], "--tls-key") == 0 && i + 1 < argc)
			tls_key = argv[++i];
		else if (strcmp(argv[i], "--static") == 0 && i + 1 < argc)
			static_dir = argv[++i];
		else if (strcmp(argv[i], "--parent") == 0 && i + 1 < argc) {
			errno = 0;
			parent = strtol(argv[++i], &end, 10);
			if (errno != 0 || *end != '\0' || parent <= 1)
				usage();
		} else
			usage();
	}
	if (data == NULL || listen_addr == NULL ||
	    (tls_cert == NULL) != (tls_key == NULL))
		usage();
	if (parent != 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 ||
		    getppid() != (pid_t)parent) {
			fprintf(stderr, "databus-web: parent %ld is gone\n",
			    parent);
			return EXIT_TRANSIENT;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0) {
		fputs("databus-web: libsodium failed to start\n", stderr);
		return EXIT_TRANSIENT;
	}
	if (realpath(data, real) == NULL) {
		fprintf(stderr, "databus-web: data directory %s: %s\n", data,
		    strerror(errno));
		return EXIT_TRANSIENT;
	}
	snprintf(server.data_dir, sizeof(server.data_dir), "%s", real);
	snprintf(store_dir, sizeof(store_dir), "%s/store", real);
	snprintf(server.control_url, sizeof(server.control_url),
	    "ipc://%s/run/control", real);
	if ((rc = store_open(store_dir, STORE_RDONLY, NULL, &server.st)) !=
	    DBS_OK) {
		fprintf(stderr,
		    "databus-web: cannot open the store in %s: %s\n",
		    store_dir, dbs_strerror(rc));
		return EXIT_TRANSIENT;
	}
	/* Logins of unknown users verify against this hash, so that they
	 * take as long as those of known users. */
	if (crypto_pwhash_str(server.dummy_hash, "databus-dummy", 13,
		crypto_pwhash_OPSLIMIT_INTERACTIVE,
		crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		fputs("databus-web: out of memory\n", stderr);
		return EXIT_TRANSIENT;
	}
	if (static_dir != NULL && !web_static_init(static_dir))
		fprintf(stderr,
		    "databus-web: no web app in %s (run ./setup); serving "
		    "the API only\n",
		    static_dir);
	if ((fd = listen_on(listen_addr)) < 0) {
		fprintf(stderr, "databus-web: cannot listen on %s%s%s\n",
		    listen_addr, fd == -2 ? "" : ": ",
		    fd == -2 ? " (expected HOST:PORT)" : strerror(errno));
		return fd == -2 ? EXIT_USAGE : EXIT_TRANSIENT;
	}

	h2o_config_init(&server.config);
	host = h2o_config_register_host(
	    &server.config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	web_limits_install(&server.config, host);
	pathconf = h2o_config_register_path(host, "/", 0);
	handler = h2o_create_handler(pathconf, sizeof(*handler));
	handler->on_req = on_req;

	loop = h2o_evloop_create();
	h2o_context_init(&server.ctx, loop, &server.config);
	server.accept_ctx.ctx = &server.ctx;
	server.accept_ctx.hosts = server.config.hosts;
	if (tls_cert != NULL) {
		server.accept_ctx.ssl_ctx = web_tls_context(
		    tls_cert, tls_key, tls_err, sizeof(tls_err));
		if (server.accept_ctx.ssl_ctx == NULL) {
			fprintf(stderr, "databus-web: %s\n", tls_err);
			return EXIT_USAGE;
		}
		server.tls = true;
	}
	if (web_pool_create(loop, POOL_THREADS, POOL_QUEUE, &server.pool) !=
	    0) {
		fputs("databus-web: out of memory\n", stderr);
		return EXIT_TRANSIENT;
	}
	if ((rc = web_events_start(loop, server.st, real)) != DBS_OK) {
		fprintf(stderr, "databus-web: live updates: %s\n",
		    dbs_strerror(rc));
		return EXIT_TRANSIENT;
	}
	sock = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
	h2o_socket_read_start(sock, on_accept);
	printf("databus-web: listening on %s://%s\n", web_scheme(&server),
	    listen_addr);
	fflush(stdout);
	return run_loop(loop);
}
