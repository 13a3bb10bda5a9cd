/*
 * routes_webapi.c — routing of the management API (helper webapi's
 * routes), and what those handlers share.
 *
 *   GET  /metrics                                   (loopback only)
 *   POST /api/v1/queue/purge, POST /api/v1/logs/purge
 *   POST /api/v1/queue/{client}/{id}/steps
 *   GET  /api/v1/queue/{client}/{id}/attachments/{name}
 *   POST /api/v1/users
 *   DELETE /api/v1/users/{client}/{username}
 *   POST /api/v1/users/{client}/{username}/password
 *   POST /api/v1/users/{client}/{username}/revoke
 *   GET  /api/v1/peek/{client}/{name}
 *   POST /api/v1/system/{pause,resume,shutdown}
 *
 * server.c's on_req asks web_route_webapi first; a path that is not one of
 * these falls through to the other routes. Every path segment is checked
 * here before a handler runs: client and definition names match
 * [A-Za-z0-9_-]{1,64}, ids are decimal, user names [A-Za-z0-9_.@-]{1,64}
 * (percent-decoded, never only dots). Anything else answers 404, as an
 * object that does not exist. Attachment names are matched against the
 * passenger's list by the handler, never used as a path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "bodies.h"
#include "params.h"
#include "web.h"

/* Next segment of *rest (up to '/' or the end), advancing past it. */
static bool
segment(h2o_iovec_t *rest, h2o_iovec_t *seg)
{
	const char *slash;

	if (rest->len == 0)
		return false;
	slash = memchr(rest->base, '/', rest->len);
	*seg = h2o_iovec_init(rest->base,
	    slash != NULL ? (size_t)(slash - rest->base) : rest->len);
	if (slash != NULL)
		*rest = h2o_iovec_init(slash + 1, rest->len - seg->len - 1);
	else
		*rest = h2o_iovec_init(rest->base + rest->len, 0);
	return seg->len > 0;
}

static bool
name_seg(h2o_iovec_t seg, char out[65])
{
	if (!web_valid_name(seg.base, seg.len))
		return false;
	memcpy(out, seg.base, seg.len);
	out[seg.len] = '\0';
	return true;
}

static bool
id_seg(h2o_iovec_t seg, uint64_t *id)
{
	return web_id_segment(seg.base, seg.len, id);
}

/* A user name segment, percent-decoded (a browser encodes '@'). */
static bool
user_seg(h2o_iovec_t seg, char out[65])
{
	return web_user_segment(seg.base, seg.len, out);
}

/* /api/v1/queue/{client}/{id}/steps and .../attachments/{name}. */
static bool
route_queue(h2o_req_t *req, h2o_iovec_t rest, int *ret)
{
	h2o_iovec_t c, id, what, nm;
	char client[65];
	uint64_t pid;
	static const char att[] = "/attachments/";
	const char *raw, *q;
	size_t rawlen, pre;

	if (!segment(&rest, &c) || !segment(&rest, &id) ||
	    !segment(&rest, &what))
		return false;
	if (h2o_memis(what.base, what.len, H2O_STRLIT("steps"))) {
		if (rest.len != 0 || !name_seg(c, client) || !id_seg(id, &pid))
			*ret = web_not_found(req);
		else if (!web_method_is(req, "POST"))
			*ret = web_not_allowed(req, "POST");
		else
			*ret = web_api_steps(req, client, pid);
		return true;
	}
	if (!h2o_memis(what.base, what.len, H2O_STRLIT("attachments")))
		return false;
	if (!name_seg(c, client) || !id_seg(id, &pid) ||
	    !segment(&rest, &nm)) {
		*ret = web_not_found(req);
		return true;
	}
	if (!web_method_is(req, "GET") && !web_method_is(req, "HEAD")) {
		*ret = web_not_allowed(req, "GET");
		return true;
	}
	/* The name comes from the raw path, percent-decoded by the handler:
	 * the normalized path has resolved "." and ".." segments. The raw
	 * path must then be the same prefix, byte for byte. */
	raw = req->path.base;
	rawlen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
	pre = (size_t)(c.base - req->path_normalized.base) + c.len + 1 +
	      id.len + sizeof(att) - 1;
	if (rawlen <= pre ||
	    memcmp(raw, req->path_normalized.base, pre) != 0 ||
	    (q = memchr(raw + pre, '/', rawlen - pre)) != NULL) {
		*ret = web_not_found(req);
		return true;
	}
	*ret = web_api_attachment(req, client, pid, raw + pre, rawlen - pre);
	return true;
}

/* /api/v1/users/{client}/{username}[/password|/revoke] */
static int
route_user(h2o_req_t *req, h2o_iovec_t rest)
{
	h2o_iovec_t c, u, verb;
	char client[65], user[65];

	if (!segment(&rest, &c) || !segment(&rest, &u) ||
	    !name_seg(c, client) || !user_seg(u, user))
		return web_not_found(req);
	if (!segment(&rest, &verb)) {
		if (!web_method_is(req, "DELETE"))
			return web_not_allowed(req, "DELETE");
		return web_api_user_delete(req, client, user);
	}
	if (rest.len != 0)
		return web_not_found(req);
	if (h2o_memis(verb.base, verb.len, H2O_STRLIT("password"))) {
		if (!web_method_is(req, "POST"))
			return web_not_allowed(req, "POST");
		return web_api_user_password(req, client, user);
	}
	if (h2o_memis(verb.base, verb.len, H2O_STRLIT("revoke"))) {
		if (!web_method_is(req, "POST"))
			return web_not_allowed(req, "POST");
		return web_api_user_revoke(req, client, user);
	}
	return web_not_found(req);
}

static bool
prefix(h2o_iovec_t path, const char *p, h2o_iovec_t *rest)
{
	size_t n = strlen(p);

	if (path.len < n || memcmp(path.base, p, n) != 0)
		return false;
	*rest = h2o_iovec_init(path.base + n, path.len - n);
	return true;
}

bool
web_route_webapi(h2o_req_t *req, h2o_iovec_t path, int *ret)
{
	h2o_iovec_t rest, a, b;
	char client[65], name[65];

	if (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics"))) {
		*ret =
		    !web_method_is(req, "GET") && !web_method_is(req, "HEAD")
			? web_not_allowed(req, "GET")
			: web_metrics(req);
		return true;
	}
	if (h2o_memis(
		path.base, path.len, H2O_STRLIT("/api/v1/queue/purge")) ||
	    h2o_memis(path.base, path.len, H2O_STRLIT("/api/v1/logs/purge"))) {
		*ret = !web_method_is(req, "POST")
			   ? web_not_allowed(req, "POST")
			   : web_api_purge(req, path.base[8] == 'q');
		return true;
	}
	if (prefix(path, "/api/v1/queue/", &rest))
		return route_queue(req, rest, ret);
	if (h2o_memis(path.base, path.len, H2O_STRLIT("/api/v1/users")) &&
	    web_method_is(req, "POST")) {
		*ret = web_api_user_create(req);
		return true;
	}
	if (prefix(path, "/api/v1/users/", &rest)) {
		*ret = route_user(req, rest);
		return true;
	}
	if (prefix(path, "/api/v1/peek/", &rest)) {
		if (!segment(&rest, &a) || !segment(&rest, &b) ||
		    rest.len != 0 || !name_seg(a, client) ||
		    !name_seg(b, name))
			*ret = web_not_found(req);
		else if (!web_method_is(req, "GET") &&
			 !web_method_is(req, "HEAD"))
			*ret = web_not_allowed(req, "GET");
		else
			*ret = web_api_peek(req, client, name);
		return true;
	}
	if (prefix(path, "/api/v1/system/", &rest)) {
		if (!h2o_memis(rest.base, rest.len, H2O_STRLIT("pause")) &&
		    !h2o_memis(rest.base, rest.len, H2O_STRLIT("resume")) &&
		    !h2o_memis(rest.base, rest.len, H2O_STRLIT("shutdown")))
			*ret = web_not_found(req);
		else if (!web_method_is(req, "POST"))
			*ret = web_not_allowed(req, "POST");
		else
			*ret = web_api_system(
			    req, rest.base[0] == 'p'   ? "pause"
				 : rest.base[0] == 'r' ? "resume"
						       : "shutdown");
		return true;
	}
	return false;
}

/* ------------------------------------------------------------- shared */

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
