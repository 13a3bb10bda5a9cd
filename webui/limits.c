/*
 * limits.c — every oversized request answers 413 with our JSON error, and
 * no request makes databus-web hold more than a bounded body.
 *
 * Two layers. h2o reads a request body into memory before it calls a
 * handler, and refuses one larger than max_request_entity_size itself
 * (from Content-Length before reading anything, or while reading chunks),
 * answering with a text/plain body and closing the connection. We set that
 * limit to WEB_H2O_MAX_BODY, so a connection never buffers more, and turn
 * h2o's own error answers into ours: h2o binds a request it answers before
 * routing to the host's fallback path, and a filter there rewrites the
 * response into {"error":{"code","message"}} with the security headers
 * every answer carries. Bodies that h2o accepts but that exceed
 * WEB_MAX_BODY are refused by web_body_too_large(), which on_req calls
 * before routing, on every route and method.
 */
#include <string.h>

#include "dbs_limits.h"
#include "web.h"

/* What h2o buffers at most per request: the largest limit of any route
 * (webhook deliveries), so that h2o itself refuses anything above it. */
#define WEB_H2O_MAX_BODY DBS_WEBHOOK_MAX_BODY

struct json_error_ostream {
	h2o_ostream_t super;
	h2o_iovec_t body;
};

static void
on_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
    h2o_send_state_t state)
{
	struct json_error_ostream *o = (struct json_error_ostream *)self;

	(void)bufs;
	/* h2o sends its error text in one final call (none for HEAD);
	 * ours replaces it whole. */
	if (bufcnt != 0 && !h2o_send_state_is_in_progress(state))
		h2o_ostream_send_next(self, req, &o->body, 1, state);
	else
		h2o_ostream_send_next(self, req, NULL, 0, state);
}

static void
on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
	struct json_error_ostream *o;
	const char *code, *message;
	char *body;
	int n;

	(void)self;
	if (req->res.status < 400)
		goto next;
	switch (req->res.status) {
	case 413:
		code = "too_large";
		message = "the request body is too large";
		break;
	case 400:
		code = "bad_request";
		/* A request refused for its framing says why. */
		if ((message = web_framing_reason(req)) == NULL)
			message = "malformed request";
		break;
	default:
		/* Fixed text: nothing of the request goes into the body. */
		code = "http_error";
		message = "the server refused the request";
	}
	body = h2o_mem_alloc_pool(&req->pool, 256);
	n = snprintf(body, 256,
	    "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);
	if (n < 0 || n >= 256)
		goto next;
	/* Headers are not written yet: replace h2o's with ours. */
	memset(&req->res.headers, 0, sizeof(req->res.headers));
	web_response_headers(req, req->res.status, "application/json");
	req->res.content_length = (size_t)n;
	o = (struct json_error_ostream *)h2o_add_ostream(
	    req, sizeof(*o), slot);
	o->super.do_send = on_send;
	o->body = h2o_iovec_init(body, (size_t)n);
	slot = &o->super.next;
next:
	h2o_setup_next_ostream(req, slot);
}

void
web_limits_install(h2o_globalconf_t *conf, h2o_hostconf_t *host)
{
	h2o_filter_t *f;

	conf->max_request_entity_size = WEB_H2O_MAX_BODY;
	f = h2o_create_filter(&host->fallback_path, sizeof(*f));
	f->on_setup_ostream = on_setup_ostream;
}

/* The body limit of a route: webhook deliveries, config saves and dry
 * runs' samples carry whole documents, every other route small JSON
 * bodies. */
static size_t
body_limit(h2o_req_t *req)
{
	static const char hooks[] = "/hooks/", config[] = "/api/v1/config/",
			  imports[] = "/api/v1/imports/";
	static const char dry[] = "/dry-run";
	h2o_iovec_t p = req->path_normalized;

	if (p.len > sizeof(dry) - 1 &&
	    memcmp(p.base + p.len - (sizeof(dry) - 1), dry, sizeof(dry) - 1) ==
		0)
		return WEB_MAX_CONFIG_BODY;
	if (p.len > sizeof(hooks) - 1 &&
	    memcmp(p.base, hooks, sizeof(hooks) - 1) == 0)
		return DBS_WEBHOOK_MAX_BODY;
	if (p.len > sizeof(config) - 1 &&
	    memcmp(p.base, config, sizeof(config) - 1) == 0)
		return WEB_MAX_CONFIG_BODY;
	if (p.len > sizeof(imports) - 1 &&
	    memcmp(p.base, imports, sizeof(imports) - 1) == 0)
		return WEB_IMPORT_CHUNK; /* pieces of an upload */
	return WEB_MAX_BODY;
}

bool
web_body_too_large(h2o_req_t *req)
{
	if (req->entity.base == NULL || req->entity.len <= body_limit(req))
		return false;
	web_send_error(req, 413, "too_large", "the request body is too large");
	return true;
}
