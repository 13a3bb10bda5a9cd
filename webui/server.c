/*
 * server.c — the server's state (the store, the control URL, the pool)
 * and what every answer of databus-web shares: the security headers,
 * JSON and error answers, the checks of a mutation (Origin, content
 * type, body size), and the adapters from a request to the pure parsers
 * of params.c (query parameters, listing scope and paging).
 *
 * main.c sets the state up before the loop runs; the handlers reach it
 * through web_of(req).
 */
#include <pthread.h>
#include <limits.h>
#include <netdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dbs_error.h"
#include "bodies.h"
#include "params.h"
#include "web.h"

struct web {
	struct store *st;
	char data_dir[PATH_MAX];
	char control_url[PATH_MAX + 32];
	struct web_pool *pool;
	char dummy_hash[crypto_pwhash_STRBYTES];
	bool tls;
};

static struct web server;

bool
web_server_init(const char *data_dir, struct store *st)
{
	snprintf(server.data_dir, sizeof(server.data_dir), "%s", data_dir);
	snprintf(server.control_url, sizeof(server.control_url),
	    "ipc://%s/run/control", data_dir);
	server.st = st;
	return true;
}

/*
 * Logins of unknown users verify against a hash made like a real one, so
 * that they take as long as those of known users. Making it costs an
 * Argon2id hash (~0.1 s, 64 MiB), which is kept off the start path: a
 * thread started once the server listens makes it, and a login that comes
 * first waits for it on its pool thread (pthread_once), never on the
 * loop.
 */
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static bool dummy_ok;

static void
make_dummy_hash(void)
{
	dummy_ok = crypto_pwhash_str(server.dummy_hash, "databus-dummy", 13,
		       crypto_pwhash_OPSLIMIT_INTERACTIVE,
		       crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0;
}

static void *
dummy_thread(void *arg)
{
	(void)arg;
	pthread_once(&dummy_once, make_dummy_hash);
	return NULL;
}

void
web_server_prepare(void)
{
	pthread_attr_t attr;
	pthread_t t;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, dummy_thread, NULL) != 0)
		pthread_once(&dummy_once, make_dummy_hash);
	pthread_attr_destroy(&attr);
}

void
web_server_set_pool(struct web_pool *pool)
{
	server.pool = pool;
}

void
web_server_set_tls(bool tls)
{
	server.tls = tls;
}

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
	pthread_once(&dummy_once, make_dummy_hash);
	return dummy_ok ? w->dummy_hash : NULL;
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

/* ------------------------------------------------------------- answers */

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

int
web_send_text(h2o_req_t *req, int status, const char *text)
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
			return web_send_text(req, 500, "out of memory");
	}
	common_headers(req, status, "application/json");
	{
		/* No raw '<', '>', '&' in JSON (json_html_safe.c). */
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

/* The request body as a JSON object; NULL after answering 400. */
json_t *
web_body_object(h2o_req_t *req)
{
	json_t *body = web_json_object(req->entity.base, req->entity.len);

	if (body == NULL)
		web_bad_param(req, "the body must be a JSON object");
	return body;
}

int
web_ctl_error(h2o_req_t *req, const Dbs__ControlReply *r)
{
	const char *msg = r->message != NULL && r->message[0] != '\0'
			      ? r->message
			      : dbs_strerror((int)r->code);

	switch (r->code) {
	case DBS_ENOTFOUND:
		return web_not_found(req);
	case DBS_EINVAL:
		return web_send_error(req, 400, "bad_request", msg);
	case DBS_EEXIST:
	case DBS_ENOWORKER:
	case DBS_EBUSY:
		return web_send_error(req, 409, "conflict", msg);
	case DBS_EPERM:
		return web_forbidden(req);
	case DBS_ETIMEOUT:
		return web_send_error(req, 504, "timeout", msg);
	default:
		return web_send_error(req, 503, "unavailable", msg);
	}
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

/* ------------------------------------------------------ request params */

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
web_throttle_answer(h2o_req_t *req, enum web_throttle_verdict v,
    const char *blocked, const char *busy)
{
	char msg[200];

	if (v == WEB_THROTTLE_ADMITTED)
		return true;
	snprintf(msg, sizeof(msg), "%s; %s",
	    v == WEB_THROTTLE_BLOCKED ? blocked : busy,
	    v == WEB_THROTTLE_BLOCKED ? "wait a minute"
				      : "try again in a second");
	web_add_header(
	    req, "retry-after", v == WEB_THROTTLE_BLOCKED ? "60" : "1");
	web_send_error(req, 429, "too_many_attempts", msg);
	return false;
}
