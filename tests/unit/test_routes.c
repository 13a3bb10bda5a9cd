/*
 * test_routes.c — unit tests of webui/routes.c, the route table of
 * databus-web, through its pure match function (no server runs).
 *
 * The first test walks a list written here, independently of the table:
 * one request per route, with the handler, the method mask and the role
 * it must come to, and checks that every row of the table is reached.
 * The others check the parameters handed to the handlers and the answers
 * without a route: 404 "no such object" under a family of routes, 404 "no
 * such resource" elsewhere under /api and /hooks/, 405 with the methods
 * of the path, and the web app for any other GET.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "web.h"

#define GH        (WEB_GET | WEB_HEAD)
#define EXPORT_ID "0123456789abcdef0123456789abcdef"

struct want {
	const char *method, *path;
	web_handler *handler;
	unsigned methods;
	enum web_access role;
};

static const struct want every_route[] = {
    {"GET", "/healthz", web_healthz, GH, WEB_OPEN},
    {"HEAD", "/readyz", web_readyz, GH, WEB_OPEN},
    {"GET", "/metrics", web_metrics, GH, WEB_LOOPBACK},
    {"POST", "/api/v1/login", web_api_login, WEB_POST, WEB_OPEN},
    {"POST", "/api/v1/logout", web_api_logout, WEB_POST, WEB_OPERATOR},
    {"GET", "/api/v1/info", web_api_info, GH, WEB_OPEN},
    {"GET", "/api/v1/me", web_api_me, GH, WEB_OPERATOR},
    {"GET", "/api/v1/events", web_api_events, WEB_GET, WEB_OPERATOR},
    {"GET", "/api/v1/about", web_api_about, GH, WEB_OPERATOR},
    {"GET", "/api/v1/queue", web_api_queue_list, GH, WEB_OPERATOR},
    {"POST", "/api/v1/queue/purge", web_api_purge, WEB_POST, WEB_ADMIN},
    {"GET", "/api/v1/queue/acme/12", web_api_queue_show, GH, WEB_OPERATOR},
    {"POST", "/api/v1/queue/acme/12/steps", web_api_steps, WEB_POST,
	WEB_ADMIN},
    {"GET", "/api/v1/queue/acme/12/attachments/a.txt", web_api_attachment, GH,
	WEB_OPERATOR},
    {"GET", "/api/v1/queue/acme/12/attachment", web_api_attachment, GH,
	WEB_OPERATOR},
    {"GET", "/api/v1/logs", web_api_logs_list, GH, WEB_OPERATOR},
    {"POST", "/api/v1/logs/purge", web_api_purge, WEB_POST, WEB_ADMIN},
    {"GET", "/api/v1/logs/acme/7", web_api_logs_show, GH, WEB_OPERATOR},
    {"GET", "/api/v1/passengers", web_api_passengers, GH, WEB_OPERATOR},
    {"POST", "/api/v1/passengers/acme/orders/expedite", web_api_expedite,
	WEB_POST, WEB_OPERATOR},
    {"POST", "/api/v1/passengers/acme/orders/dry-run", web_api_dry_run,
	WEB_POST, WEB_ADMIN},
    {"GET", "/api/v1/peek/acme/orders", web_api_peek, GH, WEB_OPERATOR},
    {"GET", "/api/v1/history/acme/orders", web_api_history, GH, WEB_OPERATOR},
    {"GET", "/api/v1/history/system", web_api_history, GH, WEB_ROOT},
    {"GET", "/api/v1/history", web_api_history, GH, WEB_OPERATOR},
    {"GET", "/api/v1/users", web_api_users_list, GH, WEB_ADMIN},
    {"POST", "/api/v1/users", web_api_user_create, WEB_POST, WEB_ADMIN},
    {"DELETE", "/api/v1/users/acme/ann", web_api_user_delete, WEB_DELETE,
	WEB_ADMIN},
    {"POST", "/api/v1/users/acme/ann/password", web_api_user_password,
	WEB_POST, WEB_OPERATOR},
    {"POST", "/api/v1/users/acme/ann/revoke", web_api_user_revoke, WEB_POST,
	WEB_OPERATOR},
    {"POST", "/api/v1/users/acme/ann/role", web_api_user_role, WEB_POST,
	WEB_ADMIN},
    {"POST", "/api/v1/system/pause", web_api_system, WEB_POST, WEB_ROOT},
    {"POST", "/api/v1/system/resume", web_api_system, WEB_POST, WEB_ROOT},
    {"POST", "/api/v1/system/shutdown", web_api_system, WEB_POST, WEB_ROOT},
    {"GET", "/api/v1/config", web_api_config_list, GH, WEB_ADMIN},
    {"GET", "/api/v1/config/acme", web_api_config_get, GH, WEB_ADMIN},
    {"PUT", "/api/v1/config/acme", web_api_config_save, WEB_PUT, WEB_ADMIN},
    {"POST", "/api/v1/config/acme/validate", web_api_config_validate, WEB_POST,
	WEB_ADMIN},
    {"GET", "/api/v1/config/acme/backups", web_api_config_backups, GH,
	WEB_ADMIN},
    {"GET", "/api/v1/config/acme/backups/3", web_api_config_backup, GH,
	WEB_ADMIN},
    {"POST", "/api/v1/config/acme/backups/3/restore", web_api_config_restore,
	WEB_POST, WEB_ADMIN},
    {"POST", "/api/v1/export", web_api_export_create, WEB_POST, WEB_ADMIN},
    {"GET", "/api/v1/exports", web_api_exports_list, GH, WEB_ADMIN},
    {"GET", "/api/v1/exports/" EXPORT_ID, web_api_export_show, GH, WEB_ADMIN},
    {"DELETE", "/api/v1/exports/" EXPORT_ID, web_api_export_delete, WEB_DELETE,
	WEB_ADMIN},
    {"GET", "/api/v1/exports/" EXPORT_ID "/download", web_api_export_download,
	GH, WEB_ADMIN},
    {"POST", "/api/v1/imports", web_api_import_create, WEB_POST, WEB_ROOT},
    {"GET", "/api/v1/imports/" EXPORT_ID, web_api_import_show, GH, WEB_ROOT},
    {"DELETE", "/api/v1/imports/" EXPORT_ID, web_api_import_delete, WEB_DELETE,
	WEB_ROOT},
    {"POST", "/api/v1/imports/" EXPORT_ID "/data", web_api_import_data,
	WEB_POST, WEB_ROOT},
    {"POST", "/api/v1/imports/" EXPORT_ID "/preview", web_api_import_preview,
	WEB_POST, WEB_ROOT},
    {"POST", "/api/v1/imports/" EXPORT_ID "/apply", web_api_import_apply,
	WEB_POST, WEB_ROOT},
    {"POST", "/hooks/acme/orders", web_api_hook, WEB_POST, WEB_HMAC},
};

/* Match with the raw path equal to the normalised one. */
static void
match(const char *method, const char *path, struct web_match *m)
{
	web_route_match(
	    method, strlen(method), path, strlen(path), path, strlen(path), m);
}

static void
match_raw(
    const char *method, const char *path, const char *raw, struct web_match *m)
{
	web_route_match(
	    method, strlen(method), path, strlen(path), raw, strlen(raw), m);
}

static void
test_every_route(void **state)
{
	size_t n, i, k, nw = sizeof(every_route) / sizeof(every_route[0]);
	const struct web_route *table = web_routes(&n);
	bool reached[64] = {false};
	struct web_match m;

	(void)state;
	assert_true(n <= 64);
	for (i = 0; i < nw; i++) {
		const struct want *w = &every_route[i];

		match(w->method, w->path, &m);
		if (m.route == NULL)
			fail_msg("%s %s: %d", w->method, w->path, m.status);
		assert_ptr_equal(m.route->handler, w->handler);
		assert_int_equal(m.route->methods, w->methods);
		assert_int_equal(m.route->role, w->role);
		k = (size_t)(m.route - table);
		assert_true(k < n);
		reached[k] = true;
	}
	for (k = 0; k < n; k++)
		if (!reached[k])
			fail_msg("route %s is not tested", table[k].pattern);
	assert_int_equal(n, nw);
}

static void
test_arguments(void **state)
{
	struct web_match m;

	(void)state;
	match("GET", "/api/v1/queue/acme/0042", &m);
	assert_ptr_equal(m.route->handler, web_api_queue_show);
	assert_string_equal(m.args.client, "acme");
	assert_int_equal(m.args.id, 42);

	match("POST", "/api/v1/users/acme/ops%40x.com/password", &m);
	assert_ptr_equal(m.route->handler, web_api_user_password);
	assert_string_equal(m.args.user, "ops@x.com");

	match("POST", "/api/v1/queue/purge", &m);
	assert_string_equal(m.args.arg, "queue");
	match("POST", "/api/v1/system/resume", &m);
	assert_string_equal(m.args.arg, "resume");

	match("DELETE", "/api/v1/exports/" EXPORT_ID, &m);
	assert_string_equal(m.args.export_id, EXPORT_ID);

	match("POST", "/hooks/acme/orders", &m);
	assert_int_equal(m.args.n_any, 2);
	assert_int_equal(m.args.any[0].len, 4);
	assert_memory_equal(m.args.any[1].base, "orders", 6);

	/* Config nodes come from the raw path, percent-decoded. */
	match_raw("PUT", "/api/v1/config/extra%2Fmapping.json",
	    "/api/v1/config/extra%2Fmapping.json", &m);
	assert_ptr_equal(m.route->handler, web_api_config_save);
	assert_string_equal(m.args.node, "extra/mapping.json");
	match_raw("POST", "/api/v1/config/a/backups/9/restore",
	    "/api/v1/config/a/%62ackups/9/restore", &m);
	assert_ptr_equal(m.route->handler, web_api_config_restore);
	assert_int_equal(m.args.id, 9);

	/* An attachment name is the raw last segment, as sent. */
	match_raw("GET", "/api/v1/queue/acme/5/attachments/a b",
	    "/api/v1/queue/acme/5/attachments/a%20b", &m);
	assert_ptr_equal(m.route->handler, web_api_attachment);
	assert_int_equal(m.args.id, 5);
	assert_int_equal(m.args.file.len, 5);
	assert_memory_equal(m.args.file.base, "a%20b", 5);
}

static void
expect(const char *method, const char *path, int status, const char *text)
{
	struct web_match m;

	match(method, path, &m);
	if (m.route != NULL || m.status != status)
		fail_msg("%s %s: route %s, status %d", method, path,
		    m.route != NULL ? m.route->pattern : "-", m.status);
	if (status == 404)
		assert_string_equal(m.message, text);
	else
		assert_string_equal(m.allow, text);
}

static void
test_not_found(void **state)
{
	(void)state;
	expect("GET", "/api", 404, "no such resource");
	expect("GET", "/api/v1/nope", 404, "no such resource");
	expect("GET", "/api/v1/queue/", 404, "no such resource");
	expect("GET", "/api/v1/login/x", 404, "no such resource");
	expect("GET", "/api/v1/queue/acme", 404, "no such object");
	expect("GET", "/api/v1/queue/bad!name/1", 404, "no such object");
	expect("GET", "/api/v1/queue/acme/12x", 404, "no such object");
	expect("GET", "/api/v1/queue/acme/12345678901234567890", 404,
	    "no such object");
	expect("POST", "/api/v1/queue/acme/0/steps", 404, "no such object");
	expect("GET", "/api/v1/logs/acme/1/2", 404, "no such object");
	expect("POST", "/api/v1/passengers/acme/orders/run", 404,
	    "no such object");
	expect("POST", "/api/v1/system/reboot", 404, "no such object");
	expect("GET", "/api/v1/exports/xyz", 404, "no such object");
	expect("DELETE", "/api/v1/users/acme/..", 404, "no such object");
	expect("GET", "/api/v1/config/a/b/c/d/e", 404, "no such object");
	expect("POST", "/hooks/acme", 404, "no such resource");
	expect("POST", "/hooks/acme/orders/x", 404, "no such resource");
}

static void
test_attachment_raw_path(void **state)
{
	struct web_match m;

	(void)state;
	/* ".." resolved by the normalisation: the raw path differs before
	 * the name, so the route does not match. */
	match_raw("GET", "/api/v1/queue/acme/5/attachments/b",
	    "/api/v1/queue/acme/5/x/../attachments/b", &m);
	assert_null(m.route);
	assert_int_equal(m.status, 404);
	match_raw("GET", "/api/v1/queue/acme/5/attachments/b",
	    "/api/v1/queue/acme/5/attachments/a/../b", &m);
	assert_null(m.route);
}

static void
test_methods(void **state)
{
	(void)state;
	expect("DELETE", "/api/v1/queue", 405, "GET");
	expect("HEAD", "/api/v1/events", 405, "GET");
	expect("GET", "/api/v1/login", 405, "POST");
	expect("PATCH", "/api/v1/config/acme", 405, "GET, PUT");
	expect("POST", "/api/v1/exports/" EXPORT_ID, 405, "GET, DELETE");
	expect("PUT", "/api/v1/users", 405, "GET, POST");
	expect("GET", "/api/v1/users/acme/ann", 405, "DELETE");
	expect("GET", "/api/v1/system/pause", 405, "POST");
	expect("GET", "/hooks/acme/orders", 405, "POST");
	expect("POST", "/dashboard", 405, "GET");
	expect("POST", "/", 405, "GET");
}

static void
test_web_app(void **state)
{
	const char *paths[] = {"/", "/queue", "/assets/index.js", "/hooks/",
	    "/metrics/x", "/apix", "/healthz/x"};
	struct web_match m;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		match("GET", paths[i], &m);
		assert_ptr_equal(m.route, web_route_app());
		assert_ptr_equal(m.route->handler, web_static);
		match("HEAD", paths[i], &m);
		assert_ptr_equal(m.route, web_route_app());
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_route),
	    cmocka_unit_test(test_arguments),
	    cmocka_unit_test(test_not_found),
	    cmocka_unit_test(test_attachment_raw_path),
	    cmocka_unit_test(test_methods),
	    cmocka_unit_test(test_web_app),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
