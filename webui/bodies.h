/*
 * bodies.h — the JSON request bodies of databus-web's mutations, from
 * bytes to validated fields (bodies.c). Pure functions of the body, no
 * h2o and no session: the handlers check the session and the tenant
 * around them, tests/fuzz/fuzz_api_body.c calls them directly. A
 * function returning `const char *` gives NULL when the body is good,
 * else the message of the 400 answer.
 */
#ifndef DBS_WEB_BODIES_H
#define DBS_WEB_BODIES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define WEB_PASSWORD_MIN  8
#define WEB_PASSWORD_MAX  1024
#define WEB_STEP_NAME_MAX 256
#define WEB_DAYS_MAX      36500

/* The body as a JSON object (duplicate keys refused; data may be NULL
 * when len is 0), or NULL. */
json_t *web_json_object(const char *data, size_t len);

/* True when every key of `body` is one of `allowed` (NULL-terminated). */
bool web_body_keys(const json_t *body, const char *const *allowed);

/* A string member into buf (cap bytes): false when absent, not a string,
 * empty, with a NUL or too long. */
bool web_body_string(
    const json_t *body, const char *key, char *buf, size_t cap);

/* A user name (the rule of proto/names.h). */
bool web_valid_username(const char *s);

/* "password": WEB_PASSWORD_MIN..WEB_PASSWORD_MAX bytes, no NUL, into
 * buf (at least WEB_PASSWORD_MAX + 1 bytes). */
bool web_body_password(const json_t *body, char *buf, size_t cap);

/* POST /api/v1/auth/login: {"client", "username", "password"}, each a
 * non-empty string that fits its buffer. */
bool web_login_body(const char *data, size_t len, char *client,
    size_t client_cap, char *username, size_t username_cap, char *password,
    size_t password_cap);

/* POST /api/v1/queue/purge (queue) and /api/v1/logs/purge:
 * {"client", "passenger" (queue only), "older_than_days"}, each
 * optional; names are "" when absent, *days 0. */
const char *web_purge_body(const json_t *body, bool queue, char client[65],
    char passenger[65], double *days);

/* POST .../steps: {"requeue": true} alone (*requeue), or {"step": name,
 * "complete": bool} with the name into step (WEB_STEP_NAME_MAX + 1
 * bytes). Whether the passenger has that step is the handler's check. */
const char *web_steps_body(const json_t *body, bool *requeue,
    char step[WEB_STEP_NAME_MAX + 1], bool *complete);

/* POST /api/v1/users: the members after "client" (checked first, with
 * the keys): "username", "role" (default by client) and "password".
 * *role is a Dbs__Role. */
const char *web_user_create_body(const json_t *body, const char *client,
    char username[65], int *role, char password[WEB_PASSWORD_MAX + 1]);

/* PUT /api/v1/config/{node} (need_version) and .../validate:
 * {"content": text, "version": text}. On 0, *content is malloc'ed
 * (content_len bytes, may hold NULs, NUL-terminated) and version filled;
 * 400 with *msg, or 500 when out of memory. */
int web_config_body(const char *data, size_t len, bool need_version,
    char *version, size_t version_cap, char **content, size_t *content_len,
    const char **msg);

/* POST /api/v1/export: {"client": name|null, "mode": text} from the
 * parsed doc (NULL: not JSON); *mode and *client (NULL when absent)
 * point into doc. Which modes exist is the handler's check. */
const char *web_export_body(
    const json_t *doc, const char **mode, const char **client);

/* The PostgreSQL target of an export: {"target": "postgres", "postgres":
 * {"host", "port", "database", "user", "password", "schema"}}. */
struct web_pg_target {
	char conninfo[2200]; /* libpq key=value, quoted; holds the password */
	char schema[64];
	char shown[400]; /* "user@host:port/database", for messages */
};

/* Whether doc asks for the PostgreSQL target ("target": "postgres"); then
 * NULL with *t filled, or what is wrong. host is a name or an address,
 * never a path (no '/': a Unix socket directory is a file name); port
 * 1-65535 (default 5432); database and user 1-63 printable bytes;
 * password optional (none: libpq's passfile of databus-web's user);
 * schema an identifier of 1-63 bytes (default "databus"). A connection
 * timeout of 10 s is added. "target" other than "postgres" or
 * "archive": an error. */
const char *web_export_pg_body(
    const json_t *doc, bool *is_pg, struct web_pg_target *t);

#endif
