/*
 * bodies.c — JSON request bodies to validated fields (bodies.h).
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bodies.h"
#include "databus.pb-c.h"
#include "names.h"
#include "params.h"
#include "record_json.h"

json_t *
web_json_object(const char *data, size_t len)
{
	json_error_t jerr;
	json_t *body = json_loadb(
	    data != NULL ? data : "", len, JSON_REJECT_DUPLICATES, &jerr);

	if (!json_is_object(body)) {
		json_decref(body);
		return NULL;
	}
	return body;
}

bool
web_body_keys(const json_t *body, const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)body, key, v)
	{
		size_t i;

		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL)
			return false;
	}
	return true;
}

bool
web_body_string(const json_t *body, const char *key, char *buf, size_t cap)
{
	json_t *v = json_object_get(body, key);
	size_t n;

	if (!json_is_string(v))
		return false;
	n = json_string_length(v);
	if (n == 0 || n >= cap || memchr(json_string_value(v), 0, n) != NULL)
		return false;
	memcpy(buf, json_string_value(v), n + 1);
	return true;
}

bool
web_valid_username(const char *s)
{
	return dbs_user_name_ok(s, strlen(s));
}

bool
web_body_password(const json_t *body, char *buf, size_t cap)
{
	json_t *v = json_object_get(body, "password");
	size_t n = json_is_string(v) ? json_string_length(v) : 0;

	if (!json_is_string(v) || n < WEB_PASSWORD_MIN ||
	    n > WEB_PASSWORD_MAX || n >= cap ||
	    memchr(json_string_value(v), 0, n) != NULL)
		return false;
	memcpy(buf, json_string_value(v), n + 1);
	return true;
}

bool
web_login_body(const char *data, size_t len, char *client, size_t client_cap,
    char *username, size_t username_cap, char *password, size_t password_cap)
{
	json_t *body = web_json_object(data, len);
	bool ok = body != NULL &&
		  web_body_string(body, "client", client, client_cap) &&
		  web_body_string(body, "username", username, username_cap) &&
		  web_body_string(body, "password", password, password_cap);

	json_decref(body);
	return ok;
}

/* A name member of the body, absent (*out stays "") or valid. */
static bool
body_name(const json_t *body, const char *key, char out[65])
{
	json_t *v = json_object_get(body, key);

	out[0] = '\0';
	if (v == NULL)
		return true;
	if (!json_is_string(v) ||
	    !web_valid_name(json_string_value(v), json_string_length(v)))
		return false;
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return true;
}

const char *
web_purge_body(const json_t *body, bool queue, char client[65],
    char passenger[65], double *days)
{
	static const char *const queue_keys[] = {
	    "client", "older_than_days", "passenger", NULL};
	static const char *const log_keys[] = {
	    "client", "older_than_days", NULL};
	json_t *v;

	*days = 0;
	client[0] = passenger[0] = '\0';
	if (!web_body_keys(body, queue ? queue_keys : log_keys))
		return queue ? "expected {\"client\", \"passenger\", "
			       "\"older_than_days\"}, each optional"
			     : "expected {\"client\", "
			       "\"older_than_days\"}, each optional; logs "
			       "are purged per client";
	if (!body_name(body, "client", client) ||
	    !body_name(body, "passenger", passenger))
		return "invalid client or passenger name";
	if ((v = json_object_get(body, "older_than_days")) != NULL) {
		double d = json_is_number(v) ? json_number_value(v) : -1;

		if (!(d >= 0 && d <= WEB_DAYS_MAX) || isnan(d))
			return "older_than_days must be a number from 0 to "
			       "36500";
		*days = d;
	}
	if (passenger[0] != '\0' && client[0] == '\0')
		return "passenger needs client";
	return NULL;
}

const char *
web_steps_body(const json_t *body, bool *requeue,
    char step[WEB_STEP_NAME_MAX + 1], bool *complete)
{
	json_t *st = json_object_get(body, "step");
	json_t *cp = json_object_get(body, "complete");
	json_t *rq = json_object_get(body, "requeue");
	size_t len;

	*requeue = *complete = false;
	step[0] = '\0';
	if (rq != NULL) {
		if (json_object_size(body) != 1 || !json_is_true(rq))
			return "expected {\"requeue\": true} alone";
		*requeue = true;
		return NULL;
	}
	if (json_object_size(body) != 2 || !json_is_string(st) ||
	    !json_is_boolean(cp))
		return "expected {\"step\": name, \"complete\": true|false} "
		       "or "
		       "{\"requeue\": true}";
	len = json_string_length(st);
	if (len == 0 || len > WEB_STEP_NAME_MAX ||
	    memchr(json_string_value(st), 0, len) != NULL)
		return "invalid step name";
	memcpy(step, json_string_value(st), len + 1);
	*complete = json_is_true(cp);
	return NULL;
}

const char *
web_user_create_body(const json_t *body, const char *client, char username[65],
    int *role, char password[WEB_PASSWORD_MAX + 1])
{
	json_t *r;

	if (!web_body_string(body, "username", username, 65) ||
	    !web_valid_username(username))
		return "a user name has 1 to 64 letters, digits or . _ - @ "
		       "(not only dots)";
	r = json_object_get(body, "role");
	if (r == NULL)
		*role = strcmp(client, "root") == 0 ? DBS__ROLE__ROLE_ROOT
						    : DBS__ROLE__ROLE_OPERATOR;
	else if (!json_is_string(r) ||
		 (*role = rj_role_parse(json_string_value(r))) < 0)
		return "role must be operator, administrator or root";
	if ((strcmp(client, "root") == 0) != (*role == DBS__ROLE__ROLE_ROOT))
		return "role root is for the users of client root, and "
		       "theirs is always root";
	if (!web_body_password(body, password, WEB_PASSWORD_MAX + 1))
		return "a password has 8 to 1024 characters (bytes of UTF-8) "
		       "and no NUL";
	return NULL;
}

int
web_config_body(const char *data, size_t len, bool need_version, char *version,
    size_t version_cap, char **content, size_t *content_len, const char **msg)
{
	json_t *doc, *c, *v;
	int rc = 400;

	*content = NULL;
	*content_len = 0;
	*msg = NULL;
	doc = json_loadb(data != NULL ? data : "", len, 0, NULL);
	c = json_object_get(doc, "content");
	v = json_object_get(doc, "version");
	if (!json_is_object(doc) || !json_is_string(c)) {
		*msg = "expected {\"content\": \"...\"}";
		goto out;
	}
	if (need_version &&
	    (!json_is_string(v) || json_string_length(v) >= version_cap)) {
		*msg = "expected {\"content\": \"...\", \"version\": \"...\"} "
		       "with the version read";
		goto out;
	}
	if (need_version)
		memcpy(
		    version, json_string_value(v), json_string_length(v) + 1);
	*content = malloc(json_string_length(c) + 1); /* may hold NULs */
	if (*content == NULL) {
		*msg = "out of memory";
		rc = 500;
		goto out;
	}
	memcpy(*content, json_string_value(c), json_string_length(c) + 1);
	*content_len = json_string_length(c);
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

const char *
web_export_body(const json_t *doc, const char **mode, const char **client)
{
	json_t *c = json_object_get(doc, "client");

	*mode = json_string_value(json_object_get(doc, "mode"));
	*client = NULL;
	if (!json_is_object(doc) || *mode == NULL ||
	    (c != NULL && !json_is_null(c) && !json_is_string(c)))
		return "expected {\"client\": \"...\", \"mode\": "
		       "\"sync\"|\"async\"|\"hot_copy\"}";
	if (json_is_string(c)) {
		*client = json_string_value(c);
		if (!web_valid_name(*client, strlen(*client)))
			return "invalid client";
	}
	return NULL;
}

/* Append key='value' to the conninfo, quoting as libpq reads it. */
static bool
conn_add(char *buf, size_t cap, const char *key, const char *value)
{
	size_t n = strlen(buf);
	int w = snprintf(buf + n, cap - n, "%s%s='", n > 0 ? " " : "", key);

	if (w < 0 || (size_t)w >= cap - n)
		return false;
	n += (size_t)w;
	for (const char *p = value; *p != '\0'; p++) {
		if (n + 3 >= cap)
			return false;
		if (*p == '\'' || *p == '\\')
			buf[n++] = '\\';
		buf[n++] = *p;
	}
	if (n + 2 >= cap)
		return false;
	buf[n++] = '\'';
	buf[n] = '\0';
	return true;
}

/* 1 to max printable ASCII bytes (or any UTF-8 above it). */
static bool
plain(const char *s, size_t max)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > max)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool
host_name(const char *s)
{
	if (!plain(s, 255))
		return false;
	for (; *s != '\0'; s++)
		if (!(isalnum((unsigned char)*s) || strchr(".-:_[]", *s)))
			return false;
	return true;
}

static bool
identifier(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || !(isalpha((unsigned char)*s) || *s == '_'))
		return false;
	for (; *s != '\0'; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return false;
	return true;
}

const char *
web_export_pg_body(const json_t *doc, bool *is_pg, struct web_pg_target *t)
{
	const char *target = json_string_value(json_object_get(doc, "target"));
	json_t *pg = json_object_get(doc, "postgres"), *v;
	const char *host, *db, *user, *pw = NULL, *schema = "databus";
	json_int_t port = 5432;
	char portbuf[8];

	*is_pg = false;
	memset(t, 0, sizeof(*t));
	if (json_object_get(doc, "target") != NULL && target == NULL)
		return "target is \"archive\" or \"postgres\"";
	if (target == NULL || strcmp(target, "archive") == 0)
		return NULL;
	if (strcmp(target, "postgres") != 0)
		return "target is \"archive\" or \"postgres\"";
	*is_pg = true;
	if (!json_is_object(pg))
		return "expected \"postgres\": {\"host\", \"port\", "
		       "\"database\", \"user\", \"password\", \"schema\"}";
	host = json_string_value(json_object_get(pg, "host"));
	db = json_string_value(json_object_get(pg, "database"));
	user = json_string_value(json_object_get(pg, "user"));
	if (!host_name(host))
		return "postgres.host: a host name or address (letters, "
		       "digits, . - : _), never a path";
	if ((v = json_object_get(pg, "port")) != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 65535)
			return "postgres.port: a number from 1 to 65535";
		port = json_integer_value(v);
	}
	if (!plain(db, 63))
		return "postgres.database: 1 to 63 printable bytes";
	if (!plain(user, 63))
		return "postgres.user: 1 to 63 printable bytes";
	if ((v = json_object_get(pg, "password")) != NULL &&
	    !json_is_null(v)) {
		pw = json_string_value(v);
		if (pw == NULL || (pw[0] != '\0' && !plain(pw, 1024)))
			return "postgres.password: a string of at most 1024 "
			       "printable bytes";
	}
	if ((v = json_object_get(pg, "schema")) != NULL && !json_is_null(v)) {
		schema = json_string_value(v);
		if (schema == NULL || !identifier(schema))
			return "postgres.schema: an identifier (letters, "
			       "digits, _; 1 to 63 bytes, not starting with a "
			       "digit)";
	}
	snprintf(portbuf, sizeof(portbuf), "%d", (int)port);
	if (!conn_add(t->conninfo, sizeof(t->conninfo), "host", host) ||
	    !conn_add(t->conninfo, sizeof(t->conninfo), "port", portbuf) ||
	    !conn_add(t->conninfo, sizeof(t->conninfo), "dbname", db) ||
	    !conn_add(t->conninfo, sizeof(t->conninfo), "user", user) ||
	    (pw != NULL && pw[0] != '\0' &&
		!conn_add(t->conninfo, sizeof(t->conninfo), "password", pw)) ||
	    !conn_add(
		t->conninfo, sizeof(t->conninfo), "connect_timeout", "10"))
		return "postgres: the parameters are too long";
	snprintf(t->schema, sizeof(t->schema), "%s", schema);
	snprintf(t->shown, sizeof(t->shown), "%s@%s:%d/%s", user, host,
	    (int)port, db);
	return NULL;
}
