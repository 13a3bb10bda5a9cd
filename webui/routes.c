/*
 * routes.c — THE route table of databus-web: every path it answers, with
 * its method, the least role that gets an answer other than 403, and its
 * handler. Handlers never route: the segments of a path are checked here,
 * before any handler runs, and reach it parsed in a struct web_args.
 *
 * A pattern is a path whose segments are literals or typed parameters:
 *
 *   {client} {name}  a client or definition name (web_valid_name)
 *   {user}           a user name, percent-decoded (web_user_segment)
 *   {seq}            1..19 digits (a passenger or log id as typed)
 *   {id}             1..19 digits, not zero (web_id_segment)
 *   {export}         an export id (web_export_id_valid)
 *   {any}            any non-empty segment (the handler checks it)
 *   {node}           a configuration node: from the raw path, decoded
 *   {file}           an attachment name: the raw path's last segment, as
 *                    sent (the handler decodes it)
 *
 * {node} and {file} come from the raw path, since the normalised one has
 * decoded some escapes and resolved "." and ".."; the raw path must then
 * equal the normalised one, byte for byte, up to that segment. After a
 * {node}, every segment is read from the raw path, percent-decoded.
 *
 * web_route_match is a pure function of the method and the two paths, so
 * that tests/unit/test_routes.c checks the table without a server. The
 * answers it leaves to the caller: a path no route matches answers 404
 * "no such object" when it lies under a family of routes with parameters
 * (/api/v1/queue/..., /api/v1/users/...), 404 "no such resource" anywhere
 * else under /api and /hooks/; any other path is the web app's (GET and
 * HEAD). A path that a route matches but not with this method answers 405
 * with `Allow` listing the methods its routes take. HEAD goes wherever GET
 * does, except to the websocket.
 */
#include <stdio.h>
#include <string.h>

#include "params.h"
#include "web.h"

#define G  WEB_GET
#define GH (WEB_GET | WEB_HEAD)
#define P  WEB_POST

/* clang-format off */
static const struct web_route routes[] = {
	/* probes and the session */
	{GH, "/healthz",               WEB_OPEN,     web_healthz,     NULL},
	{GH, "/readyz",                WEB_OPEN,     web_readyz,      NULL},
	{GH, "/metrics",               WEB_LOOPBACK, web_metrics,     NULL},
	{P,  "/api/v1/login",          WEB_OPEN,     web_api_login,   NULL},
	{P,  "/api/v1/logout",         WEB_OPERATOR, web_api_logout,  NULL},
	{GH, "/api/v1/info",           WEB_OPEN,     web_api_info,    NULL},
	{GH, "/api/v1/me",             WEB_OPERATOR, web_api_me,      NULL},
	{G,  "/api/v1/events",         WEB_OPERATOR, web_api_events,  NULL},
	{GH, "/api/v1/about",          WEB_OPERATOR, web_api_about,   NULL},
	/* the queue and the logs */
	{GH, "/api/v1/queue",          WEB_OPERATOR, web_api_queue_list, NULL},
	{P,  "/api/v1/queue/purge",    WEB_ADMIN,    web_api_purge,   "queue"},
	{GH, "/api/v1/queue/{client}/{seq}", WEB_OPERATOR,
	    web_api_queue_show, NULL},
	{P,  "/api/v1/queue/{client}/{id}/steps", WEB_ADMIN,
	    web_api_steps, NULL},
	{GH, "/api/v1/queue/{client}/{id}/attachments/{file}", WEB_OPERATOR,
	    web_api_attachment, NULL},
	{GH, "/api/v1/queue/{client}/{id}/attachment", WEB_OPERATOR,
	    web_api_attachment, NULL},
	{GH, "/api/v1/logs",           WEB_OPERATOR, web_api_logs_list, NULL},
	{P,  "/api/v1/logs/purge",     WEB_ADMIN,    web_api_purge,   "logs"},
	{GH, "/api/v1/logs/{client}/{seq}", WEB_OPERATOR,
	    web_api_logs_show, NULL},
	/* definitions */
	{GH, "/api/v1/passengers",     WEB_OPERATOR, web_api_passengers, NULL},
	{P,  "/api/v1/passengers/{client}/{name}/expedite", WEB_OPERATOR,
	    web_api_expedite, NULL},
	{GH, "/api/v1/peek/{client}/{name}", WEB_OPERATOR,
	    web_api_peek, NULL},
	/* the charts' history */
	{GH, "/api/v1/history",        WEB_OPERATOR, web_api_history, "sum"},
	{GH, "/api/v1/history/system", WEB_ROOT,   web_api_history, "system"},
	{GH, "/api/v1/history/{client}/{name}", WEB_OPERATOR,
	    web_api_history, "definition"},
	{P,  "/api/v1/passengers/{client}/{name}/dry-run", WEB_ADMIN,
	    web_api_dry_run, NULL},
	/* users */
	{GH, "/api/v1/users",          WEB_ADMIN,    web_api_users_list, NULL},
	{P,  "/api/v1/users",          WEB_ADMIN,    web_api_user_create, NULL},
	{WEB_DELETE, "/api/v1/users/{client}/{user}", WEB_ADMIN,
	    web_api_user_delete, NULL},
	{P,  "/api/v1/users/{client}/{user}/password", WEB_OPERATOR,
	    web_api_user_password, NULL},
	{P,  "/api/v1/users/{client}/{user}/revoke", WEB_OPERATOR,
	    web_api_user_revoke, NULL},
	{P,  "/api/v1/users/{client}/{user}/role", WEB_ADMIN,
	    web_api_user_role, NULL},
	/* the system */
	{P,  "/api/v1/system/pause",   WEB_ROOT,     web_api_system,  "pause"},
	{P,  "/api/v1/system/resume",  WEB_ROOT,     web_api_system,  "resume"},
	{P,  "/api/v1/system/shutdown", WEB_ROOT,    web_api_system,
	    "shutdown"},
	/* customizing */
	{GH, "/api/v1/config",         WEB_ADMIN,    web_api_config_list, NULL},
	{GH, "/api/v1/config/{node}",  WEB_ADMIN,    web_api_config_get, NULL},
	{WEB_PUT, "/api/v1/config/{node}", WEB_ADMIN,
	    web_api_config_save, NULL},
	{P,  "/api/v1/config/{node}/validate", WEB_ADMIN,
	    web_api_config_validate, NULL},
	{GH, "/api/v1/config/{node}/backups", WEB_ADMIN,
	    web_api_config_backups, NULL},
	{GH, "/api/v1/config/{node}/backups/{id}", WEB_ADMIN,
	    web_api_config_backup, NULL},
	{P,  "/api/v1/config/{node}/backups/{id}/restore", WEB_ADMIN,
	    web_api_config_restore, NULL},
	/* exports */
	{P,  "/api/v1/export",         WEB_ADMIN,    web_api_export_create, NULL},
	{GH, "/api/v1/exports",        WEB_ADMIN,    web_api_exports_list, NULL},
	{GH, "/api/v1/exports/{export}", WEB_ADMIN,  web_api_export_show, NULL},
	{WEB_DELETE, "/api/v1/exports/{export}", WEB_ADMIN,
	    web_api_export_delete, NULL},
	{GH, "/api/v1/exports/{export}/download", WEB_ADMIN,
	    web_api_export_download, NULL},
	/* imports (root) */
	{P,  "/api/v1/imports",        WEB_ROOT,     web_api_import_create, NULL},
	{GH, "/api/v1/imports/{export}", WEB_ROOT,   web_api_import_show, NULL},
	{WEB_DELETE, "/api/v1/imports/{export}", WEB_ROOT,
	    web_api_import_delete, NULL},
	{P,  "/api/v1/imports/{export}/data", WEB_ROOT,
	    web_api_import_data, NULL},
	{P,  "/api/v1/imports/{export}/preview", WEB_ROOT,
	    web_api_import_preview, NULL},
	{P,  "/api/v1/imports/{export}/apply", WEB_ROOT,
	    web_api_import_apply, NULL},
	/* webhook intake: HMAC-authenticated, no session, no Origin */
	{P,  "/hooks/{any}/{any}",     WEB_HMAC,     web_api_hook,    NULL},
};
/* clang-format on */

/* The web app: every GET or HEAD outside /api that no route takes. */
static const struct web_route app_route = {
    GH, "*", WEB_OPEN, web_static, NULL};

#undef G
#undef GH
#undef P

const struct web_route *
web_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

const struct web_route *
web_route_app(void)
{
	return &app_route;
}

/* ------------------------------------------------------------ matching */

static const struct {
	const char *name;
	unsigned bit;
} methods[] = {
    {"GET", WEB_GET},
    {"HEAD", WEB_HEAD},
    {"POST", WEB_POST},
    {"PUT", WEB_PUT},
    {"DELETE", WEB_DELETE},
};

static unsigned
method_bit(const char *m, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strlen(methods[i].name) == len &&
		    memcmp(methods[i].name, m, len) == 0)
			return methods[i].bit;
	return 0;
}

/* Next segment of [*p, end): up to '/' or the end; advances past the
 * '/', or sets *p to NULL after the last one. False when none is left. */
static bool
next_segment(const char **p, const char *end, const char **seg, size_t *len)
{
	const char *slash;

	if (*p == NULL)
		return false;
	slash = memchr(*p, '/', (size_t)(end - *p));
	*seg = *p;
	*len = slash != NULL ? (size_t)(slash - *p) : (size_t)(end - *p);
	*p = slash != NULL ? slash + 1 : NULL;
	return true;
}

static bool
copy_name(const char *s, size_t len, char out[65])
{
	if (!web_valid_name(s, len))
		return false;
	memcpy(out, s, len);
	out[len] = '\0';
	return true;
}

static bool
parse_seq(const char *s, size_t len, uint64_t *id)
{
	char buf[24];
	size_t i;

	if (len == 0 || len > 19)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return web_parse_u64(buf, id);
}

/* One path segment against one pattern segment; parameters go to *a. */
static bool
match_segment(const char *pat, size_t plen, const char *s, size_t len,
    struct web_args *a)
{
#define IS(lit) (plen == sizeof(lit) - 1 && memcmp(pat, lit, plen) == 0)
	if (plen == 0 || pat[0] != '{')
		return plen == len && memcmp(pat, s, len) == 0;
	if (IS("{client}"))
		return copy_name(s, len, a->client);
	if (IS("{name}"))
		return copy_name(s, len, a->name);
	if (IS("{user}"))
		return web_user_segment(s, len, a->user);
	if (IS("{seq}"))
		return parse_seq(s, len, &a->id);
	if (IS("{id}"))
		return web_id_segment(s, len, &a->id);
	if (IS("{export}")) {
		if (!web_export_id_valid(s, len))
			return false;
		memcpy(a->export_id, s, len);
		a->export_id[len] = '\0';
		return true;
	}
	if (IS("{any}")) {
		if (len == 0 || a->n_any >= 2)
			return false;
		a->any[a->n_any].base = (char *)s;
		a->any[a->n_any++].len = len;
		return true;
	}
	if (IS("{node}"))
		return web_decode_segment(s, len, a->node, sizeof(a->node));
#undef IS
	return false;
}

static bool
is_raw(const char *pat, size_t plen)
{
	return (plen == 6 && memcmp(pat, "{node}", 6) == 0) ||
	       (plen == 6 && memcmp(pat, "{file}", 6) == 0);
}

/* The rest of a pattern, from a {node} or {file} on, against the raw path
 * from `raw` on. */
static bool
match_raw(const char *pp, const char *pend, const char *raw, const char *rend,
    struct web_args *a)
{
	const char *pat, *s;
	size_t plen, len;
	char dec[sizeof(a->node)];

	while (next_segment(&pp, pend, &pat, &plen)) {
		if (plen == 6 && memcmp(pat, "{file}", 6) == 0) {
			/* The last segment, as sent: the rest of the path. */
			if (raw == NULL || raw == rend ||
			    memchr(raw, '/', (size_t)(rend - raw)) != NULL)
				return false;
			a->file = h2o_iovec_init(raw, (size_t)(rend - raw));
			raw = NULL;
			continue;
		}
		if (!next_segment(&raw, rend, &s, &len))
			return false;
		if (plen == 6 && memcmp(pat, "{node}", 6) == 0) {
			if (!match_segment(pat, plen, s, len, a))
				return false;
			continue;
		}
		if (!web_decode_segment(s, len, dec, sizeof(dec)) ||
		    !match_segment(pat, plen, dec, strlen(dec), a))
			return false;
	}
	return raw == NULL; /* every segment used */
}

/* The path [path, path+plen) against `pattern`; the raw path is read from
 * the first {node} or {file} on. */
static bool
match_pattern(const char *pattern, const char *path, size_t plen,
    const char *raw, size_t rawlen, struct web_args *a)
{
	const char *pp = pattern + 1, *pend = pattern + strlen(pattern);
	const char *p = path + 1, *end = path + plen;
	const char *pat, *s;
	size_t len, patlen;

	memset(a, 0, sizeof(*a));
	if (plen == 0 || path[0] != '/')
		return false;
	for (;;) {
		const char *pat_at = pp;

		if (!next_segment(&pp, pend, &pat, &patlen))
			return p == NULL; /* both used up */
		if (is_raw(pat, patlen)) {
			size_t off = (size_t)(p - path);

			if (p == NULL || rawlen < off ||
			    memcmp(raw, path, off) != 0)
				return false;
			return match_raw(
			    pat_at, pend, raw + off, raw + rawlen, a);
		}
		if (!next_segment(&p, end, &s, &len) ||
		    !match_segment(pat, patlen, s, len, a))
			return false;
	}
}

/* A path under the pattern's family: its leading literal segments and
 * one more, non-empty (an object of that kind that does not exist). */
static bool
in_family(const char *pattern, const char *path, size_t plen)
{
	const char *end;
	size_t n;

	/* Under /api/v1/: the routes of a section (/api/v1/queue/...);
	 * elsewhere: up to the first parameter (/hooks/...). */
	if (strncmp(pattern, "/api/v1/", 8) == 0)
		end = strchr(pattern + 8, '/');
	else
		end = strchr(pattern, '{');
	if (end == NULL)
		return false;
	n = (size_t)(end - pattern) + (*end == '/' ? 1 : 0);
	return plen > n && memcmp(path, pattern, n) == 0 && path[n] != '/';
}

static bool
under_api(const char *path, size_t plen)
{
	return (plen == 4 && memcmp(path, "/api", 4) == 0) ||
	       (plen > 4 && memcmp(path, "/api/", 5) == 0);
}

static void
allow_add(char *allow, size_t cap, unsigned mask)
{
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (!(mask & methods[i].bit) || methods[i].bit == WEB_HEAD ||
		    strstr(allow, methods[i].name) != NULL)
			continue;
		if (allow[0] != '\0')
			strncat(allow, ", ", cap - strlen(allow) - 1);
		strncat(allow, methods[i].name, cap - strlen(allow) - 1);
	}
}

void
web_route_match(const char *method, size_t mlen, const char *path, size_t plen,
    const char *raw, size_t rawlen, struct web_match *m)
{
	unsigned bit = method_bit(method, mlen);
	const char *pat;
	struct web_args a;
	size_t i, n = sizeof(routes) / sizeof(routes[0]);
	bool family = false, any = false;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < n; i++) {
		pat = routes[i].pattern;
		if (!match_pattern(pat, path, plen, raw, rawlen, &a)) {
			family = family || in_family(pat, path, plen);
			continue;
		}
		any = true;
		allow_add(m->allow, sizeof(m->allow), routes[i].methods);
		if (m->route == NULL && (routes[i].methods & bit)) {
			m->route = &routes[i];
			m->args = a;
			m->args.arg = routes[i].arg;
		}
	}
	if (m->route != NULL)
		return;
	if (any) {
		m->status = 405;
	} else if (family) {
		m->status = 404;
		m->message = under_api(path, plen) ? "no such object"
						   : "no such resource";
	} else if (under_api(path, plen)) {
		m->status = 404;
		m->message = "no such resource";
	} else if (!(bit & app_route.methods)) {
		m->status = 405;
		snprintf(m->allow, sizeof(m->allow), "GET");
	} else {
		m->route = &app_route;
	}
}

/* ------------------------------------------------------------ dispatch */

int
web_route(h2o_req_t *req)
{
	struct web_match m;
	size_t rawlen =
	    req->query_at != SIZE_MAX ? req->query_at : req->path.len;

	web_framing_route(req);
	if (!web_host_allowed(req))
		return web_send_error(req, 421, "misdirected",
		    "this server does not answer for that Host; name it in "
		    "web.allowed_hosts");
	if (web_body_too_large(req))
		return 0;
	web_route_match(req->method.base, req->method.len,
	    req->path_normalized.base, req->path_normalized.len,
	    req->path.base, rawlen, &m);
	if (m.route != NULL)
		return m.route->handler(req, &m.args);
	if (m.status == 405)
		return web_not_allowed(req, m.allow);
	return web_send_error(req, 404, "not_found", m.message);
}
