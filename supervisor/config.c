/*
 * config.c — reads the dispatcher ticket (databus.json) and every client
 * file (clients/<client>.json) into one struct config, or explains in one
 * line what is wrong: "<file>: <JSON path>: <problem>".
 *
 * The parser is strict on purpose: an unknown key, a duplicate key or name,
 * a wrong type or an out-of-range value is an error, because a typo that
 * passes silently ("sync_frequncy") is a schedule an operator never gets.
 * Only the settings inside a puller/processor/pusher entry are left alone:
 * they belong to the driver, and config_check_drivers() asks the drivers
 * themselves (in a `databus-worker --check` child, since the supervisor
 * never runs driver code) whether they accept them.
 *
 * Every object is built in a local and handed to the caller only when the
 * whole configuration is valid, so a failed load or reload leaves nothing
 * half-made behind.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "config_tls.h"
#include "dbs_error.h"

extern char **environ;

#define NAME_MAX_LEN   64
#define JPATH_LEN      256
#define DEFAULT_LISTEN "127.0.0.1:5000"
#define DAY_MS         (24LL * 3600 * 1000)
#define MINUTE_MS      (60LL * 1000)
#define SECOND_MS      1000LL
/* Durations above this (about 31 700 years) are refused: no overflow. */
#define DURATION_MAX_MS  1000000000000000LL
#define STORE_MIN_SIZE   (64ULL << 10)
#define STORE_MAX_SIZE   (1ULL << 50)
#define STORE_DEFAULT    (64ULL << 30)
#define CHECK_MAX_OUTPUT (64 * 1024)
#define CHECK_MAX_LINES  8

/* The event log keeps a day of history by default (events). */
#define EVENT_MAX_AGE_DEFAULT DAY_MS

/* Where messages go and which file they name. */
struct pctx {
	const char *file;
	char *err;
	size_t errlen;
};

/* The staged files of config_load_staged (none otherwise). databusd loads
 * configurations on its one loop thread only. */
static const struct config_stage *cur_stage;
static size_t n_cur_stage;

static const struct config_stage *
staged(const char *path)
{
	for (size_t i = 0; i < n_cur_stage; i++)
		if (strcmp(cur_stage[i].path, path) == 0)
			return &cur_stage[i];
	return NULL;
}

/* json_load_file, or the staged text of that path. */
static json_t *
load_json(const char *path, json_error_t *jerr)
{
	const struct config_stage *st = staged(path);

	if (st != NULL && !st->removed)
		return json_loadb(
		    st->text, st->len, JSON_REJECT_DUPLICATES, jerr);
	return json_load_file(path, JSON_REJECT_DUPLICATES, jerr);
}

static int fail(struct pctx *p, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct pctx *p, const char *path, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->errlen == 0)
		return DBS_ECONFIG;
	if (path != NULL)
		snprintf(p->err, p->errlen, "%s: %s: %s", p->file, path, msg);
	else
		snprintf(p->err, p->errlen, "%s: %s", p->file, msg);
	return DBS_ECONFIG;
}

static int
nomem(struct pctx *p)
{
	if (p->errlen > 0)
		snprintf(p->err, p->errlen, "%s: out of memory", p->file);
	return DBS_ENOMEM;
}

/*
 * JSON paths ("$.passengers[1].pullers[0].type") are only ever shown, so a
 * path longer than JPATH_LEN is cut short with "..." rather than refused.
 */
static void
jpath_key(char *dst, const char *parent, const char *key)
{
	if (snprintf(dst, JPATH_LEN, "%s.%s", parent, key) >= JPATH_LEN)
		memcpy(dst + JPATH_LEN - 4, "...", 4);
}

static void
jpath_index(char *dst, const char *parent, size_t i)
{
	if (snprintf(dst, JPATH_LEN, "%s[%zu]", parent, i) >= JPATH_LEN)
		memcpy(dst + JPATH_LEN - 4, "...", 4);
}

/* A syntax error from jansson, with its position when it has one. */
static int
fail_syntax(struct pctx *p, const json_error_t *jerr)
{
	if (p->errlen == 0)
		return DBS_ECONFIG;
	if (jerr->line > 0)
		snprintf(p->err, p->errlen, "%s: line %d, column %d: %s",
		    p->file, jerr->line, jerr->column, jerr->text);
	else
		snprintf(p->err, p->errlen, "%s: %s", p->file, jerr->text);
	return DBS_ECONFIG;
}

/* Names of clients, definitions and drivers: [A-Za-z0-9_-]{1,64}. */
static bool
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

/* User names may also be e-mail addresses: [A-Za-z0-9_.@+-]{1,64}. */
static bool
valid_username(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr("_.@+-", *s) == NULL)
			return false;
	return true;
}

/*
 * Refuse keys that are not in `allowed` (NULL-terminated), naming the
 * first one in file order and what would have been accepted.
 */
static int
check_keys(struct pctx *p, const char *path, json_t *obj,
    const char *const *allowed, const char *hint)
{
	const char *key;
	json_t *v;
	char kpath[512];

	json_object_foreach(obj, key, v)
	{
		char list[256] = "";
		size_t used = 0;
		bool ok = false;

		for (size_t i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				ok = true;
		if (ok)
			continue;
		/* The path names the offending key itself. */
		snprintf(kpath, sizeof(kpath), "%s.%s", path, key);
		if (hint != NULL)
			return fail(p, kpath, "unknown key (%s)", hint);
		for (size_t i = 0; allowed[i] != NULL && used < sizeof(list);
		     i++) {
			int n = snprintf(list + used, sizeof(list) - used,
			    "%s%s", i > 0 ? ", " : "", allowed[i]);
			if (n < 0)
				break;
			used += (size_t)n;
		}
		return fail(
		    p, kpath, "unknown key (expected one of: %s)", list);
	}
	return DBS_OK;
}

/*
 * The string member `key` of `obj`: *out = NULL when absent (and not
 * `required`), an error when it is not a non-empty string.
 */
static int
get_string(struct pctx *p, json_t *obj, const char *path, const char *key,
    bool required, const char **out)
{
	char sub[JPATH_LEN];
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	jpath_key(sub, path, key);
	if (v == NULL) {
		if (required)
			return fail(p, sub, "missing");
		return DBS_OK;
	}
	/* Without JSON_ALLOW_NUL jansson has refused "\u0000" already. */
	if (!json_is_string(v) || json_string_length(v) == 0)
		return fail(p, sub, "expected a non-empty string");
	*out = json_string_value(v);
	return DBS_OK;
}

/* A duration member with its default and the unit of bare numbers. */
static int
get_duration(struct pctx *p, json_t *obj, const char *path, const char *key,
    int64_t unit_ms, const char *unit_name, int64_t def_ms, int64_t *out)
{
	char sub[JPATH_LEN];
	json_t *v = json_object_get(obj, key);

	if (v == NULL) {
		*out = def_ms;
		return DBS_OK;
	}
	if (config_parse_duration(v, unit_ms, out) != DBS_OK) {
		jpath_key(sub, path, key);
		return fail(p, sub,
		    "expected a number of %s or a duration string like "
		    "\"250ms\", \"30s\", \"5m\", \"2h\", \"1d\" (greater than "
		    "0)",
		    unit_name);
	}
	return DBS_OK;
}

/*
 * Parse "<digits>[.<digits>]<unit>" where the unit is looked up in
 * `units`/`scales` (NULL-terminated). Returns the value in base units as
 * a double, or -1 when the text does not have that form.
 */
static double
parse_scaled(const char *s, const char *const *units, const double *scales)
{
	const char *q = s;
	double v = 0, frac = 0.1;

	if (!isdigit((unsigned char)*q))
		return -1;
	while (isdigit((unsigned char)*q))
		v = v * 10 + (*q++ - '0');
	if (*q == '.') {
		q++;
		if (!isdigit((unsigned char)*q))
			return -1;
		while (isdigit((unsigned char)*q)) {
			v += (*q++ - '0') * frac;
			frac /= 10;
		}
	}
	for (size_t i = 0; units[i] != NULL; i++)
		if (strcmp(q, units[i]) == 0)
			return v * scales[i];
	return -1;
}

int
config_parse_duration(const json_t *v, int64_t unit_ms, int64_t *out_ms)
{
	static const char *const units[] = {"ms", "s", "m", "h", "d", NULL};
	static const double scales[] = {
	    1, SECOND_MS, MINUTE_MS, 3600.0 * SECOND_MS, DAY_MS};
	double ms;

	if (v == NULL || out_ms == NULL)
		return DBS_ECONFIG;
	if (json_is_number(v)) {
		if (unit_ms <= 0)
			return DBS_ECONFIG;
		ms = json_number_value(v) * (double)unit_ms;
	} else if (json_is_string(v)) {
		ms = parse_scaled(json_string_value(v), units, scales);
	} else {
		return DBS_ECONFIG;
	}
	/* Rounded to the nearest millisecond, which must not be 0. */
	if (!isfinite(ms) || ms < 0.5 || ms > (double)DURATION_MAX_MS)
		return DBS_ECONFIG;
	*out_ms = (int64_t)(ms + 0.5);
	return DBS_OK;
}

/* A byte count: an integer, or "512MiB", "64GiB", "1.5TB", ... */
static int
parse_size(const json_t *v, uint64_t *out)
{
	static const char *const units[] = {"", "B", "KiB", "MiB", "GiB",
	    "TiB", "kB", "KB", "MB", "GB", "TB", NULL};
	static const double scales[] = {1, 1, 1024.0, 1048576.0, 1073741824.0,
	    1099511627776.0, 1e3, 1e3, 1e6, 1e9, 1e12};
	double n;

	if (json_is_integer(v)) {
		if (json_integer_value(v) <= 0)
			return DBS_ECONFIG;
		n = (double)json_integer_value(v);
	} else if (json_is_string(v)) {
		n = parse_scaled(json_string_value(v), units, scales);
	} else {
		return DBS_ECONFIG;
	}
	if (!isfinite(n) || n < 1 || n > (double)STORE_MAX_SIZE)
		return DBS_ECONFIG;
	*out = (uint64_t)n;
	return DBS_OK;
}

/* "host:port" or "[v6addr]:port", port 1-65535. */
static bool
valid_listen(const char *s)
{
	const char *q, *colon;
	long port = 0;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL || end == s + 1 || end[1] != ':')
			return false;
		for (q = s + 1; q < end; q++)
			if (!isxdigit((unsigned char)*q) && *q != ':' &&
			    *q != '.')
				return false;
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || colon == s)
			return false;
		for (q = s; q < colon; q++)
			if (!isalnum((unsigned char)*q) && *q != '.' &&
			    *q != '-')
				return false;
	}
	q = colon + 1;
	if (*q == '\0' || strlen(q) > 5)
		return false;
	for (; *q != '\0'; q++) {
		if (!isdigit((unsigned char)*q))
			return false;
		port = port * 10 + (*q - '0');
	}
	return port >= 1 && port <= 65535;
}

/* `rel` made absolute against `base` (not normalised). */
static char *
join_path(const char *base, const char *rel)
{
	char *s;

	if (rel[0] == '/')
		return strdup(rel);
	if (asprintf(&s, "%s/%s", base, rel) < 0)
		return NULL;
	return s;
}

static void
driver_clear(struct cfg_driver *d)
{
	free(d->name);
	free(d->type);
	json_decref(d->settings);
	memset(d, 0, sizeof(*d));
}

static void
drivers_free(struct cfg_driver *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		driver_clear(&v[i]);
	free(v);
}

static void
definition_clear(struct cfg_definition *d)
{
	free(d->client);
	free(d->name);
	drivers_free(d->pullers, d->n_pullers);
	drivers_free(d->processors, d->n_processors);
	drivers_free(d->pushers, d->n_pushers);
	free(d->json);
	free(d->file);
	free(d->path);
	memset(d, 0, sizeof(*d));
}

void
config_client_clear(struct cfg_client *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n_defs; i++)
		definition_clear(&c->defs[i]);
	free(c->defs);
	for (size_t i = 0; i < c->n_users; i++) {
		free(c->users[i].username);
		if (c->users[i].password != NULL) {
			explicit_bzero(c->users[i].password,
			    strlen(c->users[i].password));
			free(c->users[i].password);
		}
	}
	free(c->users);
	free(c->name);
	free(c->file);
	memset(c, 0, sizeof(*c));
}

/* Driver names seen in one definition, to refuse duplicates. */
struct seen_name {
	const char *name;
	char path[JPATH_LEN];
};

/*
 * One of "pullers", "processors", "pushers" of a definition: an array of
 * at least `min` objects, each with a unique "name" and a "type"; the rest
 * of the entry is the driver's business.
 */
static int
parse_drivers(struct pctx *p, json_t *def, const char *path, const char *key,
    size_t min, struct seen_name *seen, size_t *n_seen, size_t seen_cap,
    struct cfg_driver **out, size_t *n_out)
{
	char sub[JPATH_LEN], item[JPATH_LEN];
	json_t *arr = json_object_get(def, key);
	struct cfg_driver *v = NULL;
	size_t n, i;
	int rc;

	*out = NULL;
	*n_out = 0;
	jpath_key(sub, path, key);
	if (arr == NULL) {
		if (min > 0)
			return fail(
			    p, sub, "missing (at least %zu needed)", min);
		return DBS_OK;
	}
	if (!json_is_array(arr))
		return fail(p, sub, "expected an array of objects");
	n = json_array_size(arr);
	if (n < min)
		return fail(p, sub, "at least %zu entry needed", min);
	if (n == 0)
		return DBS_OK;
	if (*n_seen + n > seen_cap)
		return fail(
		    p, sub, "too many drivers (at most %zu)", seen_cap);
	v = calloc(n, sizeof(*v));
	if (v == NULL)
		return nomem(p);
	for (i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i);
		const char *name, *type;

		jpath_index(item, sub, i);
		if (!json_is_object(e)) {
			rc = fail(p, item,
			    "expected an object with \"name\" and \"type\"");
			goto fail;
		}
		if ((rc = get_string(p, e, item, "name", true, &name)) != 0 ||
		    (rc = get_string(p, e, item, "type", true, &type)) != 0)
			goto fail;
		if (!valid_name(name)) {
			char np[JPATH_LEN];

			jpath_key(np, item, "name");
			rc = fail(p, np,
			    "invalid name \"%s\": use 1 to 64 of A-Z a-z 0-9 "
			    "_ -",
			    name);
			goto fail;
		}
		for (size_t k = 0; k < *n_seen; k++) {
			if (strcmp(seen[k].name, name) == 0) {
				char np[JPATH_LEN];

				jpath_key(np, item, "name");
				rc = fail(p, np,
				    "duplicate name \"%s\" (also at %s)", name,
				    seen[k].path);
				goto fail;
			}
		}
		seen[*n_seen].name = name;
		snprintf(seen[*n_seen].path, JPATH_LEN, "%s", item);
		(*n_seen)++;
		v[i].name = strdup(name);
		v[i].type = strdup(type);
		v[i].settings = json_incref(e);
		if (v[i].name == NULL || v[i].type == NULL) {
			rc = nomem(p);
			goto fail;
		}
	}
	*out = v;
	*n_out = n;
	return DBS_OK;
fail:
	drivers_free(v, n);
	return rc;
}

static int
parse_retry(struct pctx *p, json_t *def, const char *path, struct cfg_retry *r)
{
	static const char *const keys[] = {
	    "max_attempts", "backoff", "max_backoff", NULL};
	char sub[JPATH_LEN], ma[JPATH_LEN];
	json_t *obj = json_object_get(def, "retry"), *v;
	int rc;

	r->max_attempts = 10;
	r->base_ms = SECOND_MS;
	r->max_ms = 3600 * SECOND_MS;
	if (obj == NULL)
		return DBS_OK;
	jpath_key(sub, path, "retry");
	if (!json_is_object(obj))
		return fail(p, sub, "expected an object");
	if ((rc = check_keys(p, sub, obj, keys, NULL)) != 0)
		return rc;
	v = json_object_get(obj, "max_attempts");
	if (v != NULL) {
		jpath_key(ma, sub, "max_attempts");
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 1000)
			return fail(
			    p, ma, "expected an integer from 1 to 1000");
		r->max_attempts = (uint32_t)json_integer_value(v);
	}
	if ((rc = get_duration(p, obj, sub, "backoff", SECOND_MS, "seconds",
		 r->base_ms, &r->base_ms)) != 0 ||
	    (rc = get_duration(p, obj, sub, "max_backoff", SECOND_MS,
		 "seconds", r->max_ms, &r->max_ms)) != 0)
		return rc;
	if (r->max_ms < r->base_ms) {
		jpath_key(ma, sub, "max_backoff");
		return fail(p, ma, "must not be shorter than backoff");
	}
	return DBS_OK;
}

/*
 * "limits": {"memory": "256MiB", "cpu_time": "60s", "open_files": 256}
 * (faults). Memory takes the sizes of parse_size plus "256M"-style
 * binary suffixes K, M, G.
 */
static int
parse_limits(
    struct pctx *p, json_t *parent, const char *path, struct cfg_limits *l)
{
	static const char *const keys[] = {
	    "memory", "cpu_time", "open_files", NULL};
	char sub[JPATH_LEN], k[JPATH_LEN];
	json_t *obj = json_object_get(parent, "limits"), *v;
	int64_t ms;
	int rc;

	memset(l, 0, sizeof(*l));
	if (obj == NULL)
		return DBS_OK;
	jpath_key(sub, path, "limits");
	if (!json_is_object(obj))
		return fail(p, sub, "expected an object");
	if ((rc = check_keys(p, sub, obj, keys, NULL)) != 0)
		return rc;
	if ((v = json_object_get(obj, "memory")) != NULL) {
		static const char *const units[] = {"K", "M", "G", NULL};
		static const double scales[] = {
		    1024.0, 1048576.0, 1073741824.0};
		double n =
		    json_is_string(v)
			? parse_scaled(json_string_value(v), units, scales)
			: -1;

		jpath_key(k, sub, "memory");
		if (n >= 1 && n <= (double)STORE_MAX_SIZE)
			l->memory = (uint64_t)n;
		else if (parse_size(v, &l->memory) != DBS_OK)
			return fail(p, k,
			    "expected a number of bytes or a size like "
			    "\"256M\", \"256MiB\", \"1GiB\"");
		if (l->memory < (16u << 20))
			return fail(p, k,
			    "at least 16MiB (a worker needs "
			    "that much to start)");
	}
	if ((v = json_object_get(obj, "cpu_time")) != NULL) {
		jpath_key(k, sub, "cpu_time");
		if (config_parse_duration(v, SECOND_MS, &ms) != DBS_OK ||
		    ms < SECOND_MS)
			return fail(p, k,
			    "expected a number of seconds or a duration "
			    "like \"60s\", \"10m\" (at least 1s)");
		l->cpu_s = (uint64_t)((ms + SECOND_MS - 1) / SECOND_MS);
	}
	if ((v = json_object_get(obj, "open_files")) != NULL) {
		jpath_key(k, sub, "open_files");
		if (!json_is_integer(v) || json_integer_value(v) < 16 ||
		    json_integer_value(v) > 1048576)
			return fail(
			    p, k, "expected an integer from 16 to 1048576");
		l->open_files = (uint64_t)json_integer_value(v);
	}
	return DBS_OK;
}

/* "restart": {"min_delay", "max_delay", "max_restarts", "window",
 * "stable"} of databus.json (faults). */
static int
parse_restart(struct pctx *p, json_t *root, struct cfg_restart *r)
{
	static const char *const keys[] = {"min_delay", "max_delay",
	    "max_restarts", "window", "stable", NULL};
	json_t *obj = json_object_get(root, "restart"), *v;
	int rc;

	r->min_ms = 100;
	r->max_ms = 30 * SECOND_MS;
	r->max_restarts = 10;
	r->window_ms = MINUTE_MS;
	r->stable_ms = 10 * SECOND_MS;
	if (obj == NULL)
		return DBS_OK;
	if (!json_is_object(obj))
		return fail(p, "$.restart", "expected an object");
	if ((rc = check_keys(p, "$.restart", obj, keys, NULL)) != 0 ||
	    (rc = get_duration(p, obj, "$.restart", "min_delay", SECOND_MS,
		 "seconds", r->min_ms, &r->min_ms)) != 0 ||
	    (rc = get_duration(p, obj, "$.restart", "max_delay", SECOND_MS,
		 "seconds", r->max_ms, &r->max_ms)) != 0 ||
	    (rc = get_duration(p, obj, "$.restart", "window", SECOND_MS,
		 "seconds", r->window_ms, &r->window_ms)) != 0 ||
	    (rc = get_duration(p, obj, "$.restart", "stable", SECOND_MS,
		 "seconds", r->stable_ms, &r->stable_ms)) != 0)
		return rc;
	if (r->max_ms < r->min_ms)
		return fail(p, "$.restart.max_delay",
		    "must not be shorter than min_delay");
	if ((v = json_object_get(obj, "max_restarts")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 1000000)
			return fail(p, "$.restart.max_restarts",
			    "expected an integer from 1 to 1000000");
		r->max_restarts = (uint32_t)json_integer_value(v);
	}
	return DBS_OK;
}

struct cfg_limits
config_limits(const struct config *cfg, const struct cfg_definition *def)
{
	struct cfg_limits l = cfg->limits;

	if (def->limits.memory != 0)
		l.memory = def->limits.memory;
	if (def->limits.cpu_s != 0)
		l.cpu_s = def->limits.cpu_s;
	if (def->limits.open_files != 0)
		l.open_files = def->limits.open_files;
	return l;
}

/* Most drivers one definition may have (pullers + processors + pushers). */
#define MAX_DRIVERS 256

static int
parse_definition(struct pctx *p, const char *client, json_t *obj,
    const char *path, struct cfg_definition *out)
{
	static const char *const keys[] = {"name", "sync_frequency",
	    "queue_life_span", "pullers", "processors", "pushers", "retry",
	    "limits", NULL};
	struct cfg_definition d;
	struct seen_name *seen = NULL;
	size_t n_seen = 0;
	const char *name;
	int rc;

	memset(&d, 0, sizeof(d));
	if (!json_is_object(obj))
		return fail(p, path, "expected an object");
	if ((rc = check_keys(p, path, obj, keys, NULL)) != 0)
		return rc;
	if ((rc = get_string(p, obj, path, "name", true, &name)) != 0)
		return rc;
	if (!valid_name(name)) {
		char sub[JPATH_LEN];

		jpath_key(sub, path, "name");
		return fail(p, sub,
		    "invalid name \"%s\": use 1 to 64 of A-Z a-z 0-9 _ -",
		    name);
	}
	if ((rc = get_duration(p, obj, path, "sync_frequency", MINUTE_MS,
		 "minutes", MINUTE_MS, &d.sync_period_ms)) != 0 ||
	    (rc = get_duration(p, obj, path, "queue_life_span", DAY_MS, "days",
		 DAY_MS, &d.queue_life_span_ms)) != 0 ||
	    (rc = parse_retry(p, obj, path, &d.retry)) != 0 ||
	    (rc = parse_limits(p, obj, path, &d.limits)) != 0)
		return rc;
	seen = calloc(MAX_DRIVERS, sizeof(*seen));
	if (seen == NULL)
		return nomem(p);
	if ((rc = parse_drivers(p, obj, path, "pullers", 1, seen, &n_seen,
		 MAX_DRIVERS, &d.pullers, &d.n_pullers)) != 0 ||
	    (rc = parse_drivers(p, obj, path, "processors", 0, seen, &n_seen,
		 MAX_DRIVERS, &d.processors, &d.n_processors)) != 0 ||
	    (rc = parse_drivers(p, obj, path, "pushers", 1, seen, &n_seen,
		 MAX_DRIVERS, &d.pushers, &d.n_pushers)) != 0)
		goto out;
	d.client = strdup(client);
	d.name = strdup(name);
	d.json = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	d.file = strdup(p->file);
	d.path = strdup(path);
	if (d.client == NULL || d.name == NULL || d.json == NULL ||
	    d.file == NULL || d.path == NULL) {
		rc = nomem(p);
		goto out;
	}
	*out = d;
	memset(&d, 0, sizeof(d)); /* transferred */
out:
	definition_clear(&d);
	free(seen);
	return rc;
}

static int
parse_users(struct pctx *p, json_t *root, bool is_root, struct cfg_client *c)
{
	static const char *const keys[] = {
	    "username", "password", "role", NULL};
	json_t *arr = json_object_get(root, "users");
	char item[JPATH_LEN], sub[JPATH_LEN];
	size_t n;
	int rc;

	if (arr == NULL)
		return DBS_OK;
	if (!json_is_array(arr))
		return fail(p, "$.users", "expected an array of objects");
	n = json_array_size(arr);
	if (n == 0)
		return DBS_OK;
	c->users = calloc(n, sizeof(*c->users));
	if (c->users == NULL)
		return nomem(p);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i);
		const char *username, *password, *role;
		struct cfg_user *u = &c->users[i];

		jpath_index(item, "$.users", i);
		if (!json_is_object(e))
			return fail(p, item, "expected an object");
		if ((rc = check_keys(p, item, e, keys, NULL)) != 0 ||
		    (rc = get_string(
			 p, e, item, "username", true, &username)) != 0 ||
		    (rc = get_string(
			 p, e, item, "password", true, &password)) != 0 ||
		    (rc = get_string(p, e, item, "role", false, &role)) != 0)
			return rc;
		jpath_key(sub, item, "username");
		if (!valid_username(username))
			return fail(p, sub,
			    "invalid username \"%s\": use 1 to 64 of A-Z a-z "
			    "0-9 _ . @ + -",
			    username);
		for (size_t k = 0; k < i; k++)
			if (strcmp(c->users[k].username, username) == 0)
				return fail(p, sub,
				    "duplicate username \"%s\" (also at "
				    "$.users[%zu])",
				    username, k);
		jpath_key(sub, item, "role");
		if (is_root) {
			if (role != NULL && strcmp(role, "root") != 0)
				return fail(p, sub,
				    "users of the root client always have "
				    "role \"root\": leave role out");
			u->role = DBS__ROLE__ROLE_ROOT;
		} else if (role == NULL || strcmp(role, "operator") == 0) {
			u->role = DBS__ROLE__ROLE_OPERATOR;
		} else if (strcmp(role, "administrator") == 0) {
			u->role = DBS__ROLE__ROLE_ADMINISTRATOR;
		} else {
			return fail(p, sub,
			    "expected \"operator\" or \"administrator\"");
		}
		u->username = strdup(username);
		u->password = strdup(password);
		c->n_users = i + 1;
		if (u->username == NULL || u->password == NULL)
			return nomem(p);
	}
	return DBS_OK;
}

/* A parsed client file (`root` is its JSON) into *out. */
static int
parse_client_json(
    struct pctx *p, const char *client, json_t *root, struct cfg_client *out)
{
	static const char *const keys[] = {
	    "log_life_span", "passengers", "users", NULL};
	static const char *const root_keys[] = {"users", NULL};
	bool is_root = strcmp(client, "root") == 0;
	char item[JPATH_LEN];
	struct cfg_client c;
	json_t *arr;
	size_t n;
	int rc;

	memset(&c, 0, sizeof(c));
	if (!valid_name(client))
		return fail(p, NULL,
		    "invalid client name \"%s\": use 1 to 64 of A-Z a-z 0-9 _ "
		    "- (the file name without .json)",
		    client);
	if (!json_is_object(root))
		return fail(p, "$", "expected an object");
	if (is_root)
		rc = check_keys(p, "$", root, root_keys,
		    "the root client file may only contain \"users\"");
	else
		rc = check_keys(p, "$", root, keys, NULL);
	if (rc != 0)
		return rc;
	if ((rc = get_duration(p, root, "$", "log_life_span", DAY_MS, "days",
		 DAY_MS, &c.log_life_span_ms)) != 0)
		return rc;
	arr = json_object_get(root, "passengers");
	if (arr != NULL && !json_is_array(arr))
		return fail(p, "$.passengers", "expected an array of objects");
	n = arr != NULL ? json_array_size(arr) : 0;
	if (n > 0) {
		c.defs = calloc(n, sizeof(*c.defs));
		if (c.defs == NULL)
			return nomem(p);
	}
	for (size_t i = 0; i < n; i++) {
		jpath_index(item, "$.passengers", i);
		rc = parse_definition(
		    p, client, json_array_get(arr, i), item, &c.defs[i]);
		if (rc != 0)
			goto fail;
		c.n_defs = i + 1;
		for (size_t k = 0; k < i; k++) {
			if (strcmp(c.defs[k].name, c.defs[i].name) == 0) {
				char sub[JPATH_LEN];

				jpath_key(sub, item, "name");
				rc = fail(p, sub,
				    "duplicate passenger name \"%s\" (also at "
				    "$.passengers[%zu])",
				    c.defs[i].name, k);
				goto fail;
			}
		}
	}
	if ((rc = parse_users(p, root, is_root, &c)) != 0)
		goto fail;
	c.name = strdup(client);
	c.file = strdup(p->file);
	if (c.name == NULL || c.file == NULL) {
		rc = nomem(p);
		goto fail;
	}
	*out = c;
	return DBS_OK;
fail:
	config_client_clear(&c);
	return rc;
}

int
config_parse_client(const char *file, const char *client, const char *text,
    size_t len, struct cfg_client *out, char *err, size_t errlen)
{
	struct pctx p = {file, err, errlen};
	json_error_t jerr;
	json_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return fail_syntax(&p, &jerr);
	rc = parse_client_json(&p, client, root, out);
	json_decref(root);
	return rc;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Every *.json of the clients directory (hidden files excepted, like a
 * shell glob), sorted. `dir_shown` is the directory as messages name it.
 */

/* Append a copy of `name` to a growing array of names; false when out of
 * memory (the array stays valid). */
static bool
push_name(char ***names, size_t *n, size_t *cap, const char *name)
{
	char *copy;

	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		char **nn = realloc(*names, ncap * sizeof(*nn));

		if (nn == NULL)
			return false;
		*names = nn;
		*cap = ncap;
	}
	if ((copy = strdup(name)) == NULL)
		return false;
	(*names)[(*n)++] = copy;
	return true;
}

static int
load_clients(struct pctx *p, struct config *cfg, const char *dir_shown)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dir;
	int rc = DBS_OK;

	dir = opendir(cfg->clients_dir);
	if (dir == NULL)
		return fail(p, "$.clients_dir", "cannot open \"%s\": %s",
		    cfg->clients_dir, strerror(errno));
	while ((de = readdir(dir)) != NULL) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len <= 5 ||
		    strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		if (n_cur_stage > 0) {
			char *full = NULL;
			const struct config_stage *st;

			if (asprintf(&full, "%s/%s", cfg->clients_dir,
				de->d_name) < 0) {
				rc = nomem(p);
				goto out;
			}
			st = staged(full);
			free(full);
			if (st != NULL && st->removed)
				continue;
		}
		if (!push_name(&names, &n, &cap, de->d_name)) {
			rc = nomem(p);
			goto out;
		}
	}
	/* Client files a staged save creates. */
	for (size_t i = 0; i < n_cur_stage; i++) {
		const char *sp = cur_stage[i].path, *base;
		size_t dl = strlen(cfg->clients_dir);
		bool seen = false;

		if (cur_stage[i].removed ||
		    strncmp(sp, cfg->clients_dir, dl) || sp[dl] != '/')
			continue;
		base = sp + dl + 1;
		for (size_t k = 0; k < n && !seen; k++)
			seen = strcmp(names[k], base) == 0;
		if (seen || strchr(base, '/') != NULL)
			continue;
		if (!push_name(&names, &n, &cap, base)) {
			rc = nomem(p);
			goto out;
		}
	}
	if (n == 0)
		goto out;
	qsort(names, n, sizeof(*names), cmp_str);
	cfg->clients = calloc(n, sizeof(*cfg->clients));
	if (cfg->clients == NULL) {
		rc = nomem(p);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char *full = NULL, *shown = NULL, *client = NULL;
		struct pctx cp = {NULL, p->err, p->errlen};
		json_error_t jerr;
		struct stat st;
		json_t *root;

		if (asprintf(&full, "%s/%s", cfg->clients_dir, names[i]) < 0)
			full = NULL;
		if (dir_shown[0] == '\0') {
			shown = strdup(names[i]);
		} else if (asprintf(&shown, "%s/%s", dir_shown, names[i]) <
			   0) {
			shown = NULL;
		}
		client = strndup(names[i], strlen(names[i]) - 5);
		cp.file = shown;
		if (full == NULL || shown == NULL || client == NULL) {
			rc = nomem(p);
		} else if (staged(full) == NULL && stat(full, &st) != 0) {
			rc = fail(&cp, NULL, "%s", strerror(errno));
		} else if (staged(full) == NULL && !S_ISREG(st.st_mode)) {
			rc = fail(&cp, NULL, "not a regular file");
		} else if ((root = load_json(full, &jerr)) == NULL) {
			rc = fail_syntax(&cp, &jerr);
		} else {
			rc = parse_client_json(
			    &cp, client, root, &cfg->clients[i]);
			json_decref(root);
		}
		free(full);
		free(shown);
		free(client);
		if (rc != 0)
			goto out;
		cfg->n_clients = i + 1;
	}
out:
	closedir(dir);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* databus-worker in the directory of the running program. */
static char *
find_worker(void)
{
	char exe[PATH_MAX], *slash, *s;
	ssize_t n;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash == NULL)
		return NULL;
	*slash = '\0';
	if (asprintf(&s, "%s/databus-worker", exe) < 0)
		return NULL;
	return s;
}

/*
 * A directory that may not exist yet, made absolute: the real path when it
 * exists, else `base`/`rel` as it stands.
 */
static int
resolve_dir(struct pctx *p, const char *jpath, const char *base,
    const char *rel, bool must_exist, char **out)
{
	struct stat st;
	char *joined, *real;

	*out = NULL;
	joined = join_path(base, rel);
	if (joined == NULL)
		return nomem(p);
	if (stat(joined, &st) != 0) {
		int e = errno;

		if (e == ENOENT && !must_exist) {
			*out = joined;
			return DBS_OK;
		}
		fail(p, jpath, "\"%s\": %s", joined, strerror(e));
		free(joined);
		return DBS_ECONFIG;
	}
	if (!S_ISDIR(st.st_mode)) {
		fail(p, jpath, "\"%s\" is not a directory", joined);
		free(joined);
		return DBS_ECONFIG;
	}
	real = realpath(joined, NULL);
	if (real == NULL) {
		fail(p, jpath, "\"%s\": %s", joined, strerror(errno));
		free(joined);
		return DBS_ECONFIG;
	}
	free(joined);
	*out = real;
	return DBS_OK;
}

static int
load_external_files(struct pctx *p, json_t *root, struct config *cfg)
{
	json_t *arr = json_object_get(root, "external_config_files");
	char item[JPATH_LEN];
	size_t n;

	if (arr == NULL)
		return DBS_OK;
	if (!json_is_array(arr))
		return fail(p, "$.external_config_files",
		    "expected an array of file names");
	n = json_array_size(arr);
	if (n == 0)
		return DBS_OK;
	cfg->external_files = calloc(n, sizeof(*cfg->external_files));
	cfg->external_listed = calloc(n, sizeof(*cfg->external_listed));
	if (cfg->external_files == NULL || cfg->external_listed == NULL)
		return nomem(p);
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(arr, i);
		char *joined, *real;
		struct stat st;

		jpath_index(item, "$.external_config_files", i);
		if (!json_is_string(v) || json_string_length(v) == 0)
			return fail(p, item, "expected a non-empty string");
		joined = join_path(cfg->base_dir, json_string_value(v));
		if (joined == NULL)
			return nomem(p);
		real = realpath(joined, NULL);
		if (real == NULL || stat(real, &st) != 0) {
			int e = errno;

			fail(p, item, "\"%s\": %s", joined, strerror(e));
			free(joined);
			free(real);
			return DBS_ECONFIG;
		}
		free(joined);
		cfg->external_files[i] = real;
		cfg->external_listed[i] = strdup(json_string_value(v));
		cfg->n_external_files = i + 1;
		if (cfg->external_listed[i] == NULL)
			return nomem(p);
		if (!S_ISREG(st.st_mode))
			return fail(
			    p, item, "\"%s\" is not a regular file", real);
		for (size_t k = 0; k < i; k++)
			if (strcmp(cfg->external_files[k], real) == 0)
				return fail(p, item,
				    "\"%s\" is listed twice (also at "
				    "$.external_config_files[%zu])",
				    real, k);
	}
	return DBS_OK;
}

/* "tls": {"cert": PEM file, "key": PEM file}, relative to databus.json;
 * both checked now (config_tls.c) and kept as absolute paths. */
static int
parse_web_tls(struct pctx *p, json_t *tls, struct config *cfg)
{
	static const char *const keys[] = {"cert", "key", NULL};
	const char *cert, *key;
	char msg[600];
	int rc;

	if (!json_is_object(tls))
		return fail(p, "$.web.tls",
		    "expected an object {\"cert\": FILE, \"key\": FILE}");
	if ((rc = check_keys(p, "$.web.tls", tls, keys, NULL)) != 0 ||
	    (rc = get_string(p, tls, "$.web.tls", "cert", true, &cert)) != 0 ||
	    (rc = get_string(p, tls, "$.web.tls", "key", true, &key)) != 0)
		return rc;
	cfg->web_tls_cert = join_path(cfg->base_dir, cert);
	cfg->web_tls_key = join_path(cfg->base_dir, key);
	if (cfg->web_tls_cert == NULL || cfg->web_tls_key == NULL)
		return nomem(p);
	switch (config_tls_check(
	    cfg->web_tls_cert, cfg->web_tls_key, msg, sizeof(msg))) {
	case CONFIG_TLS_OK:
		return DBS_OK;
	case CONFIG_TLS_BAD_CERT:
		return fail(p, "$.web.tls.cert", "%s", msg);
	default:
		return fail(p, "$.web.tls.key", "%s", msg);
	}
}

static int
parse_web(struct pctx *p, json_t *root, struct config *cfg)
{
	static const char *const keys[] = {"enabled", "listen", "tls",
	    "session_idle", "session_lifetime", NULL};
	json_t *web = json_object_get(root, "web"), *v;
	const char *listen = NULL;
	int rc;

	cfg->web_enabled = true;
	if (web != NULL) {
		if (!json_is_object(web))
			return fail(p, "$.web", "expected an object");
		if ((rc = check_keys(p, "$.web", web, keys, NULL)) != 0)
			return rc;
		v = json_object_get(web, "enabled");
		if (v != NULL) {
			if (!json_is_boolean(v))
				return fail(p, "$.web.enabled",
				    "expected true or false");
			cfg->web_enabled = json_is_true(v);
		}
		v = json_object_get(web, "listen");
		if (v != NULL) {
			if (!json_is_string(v) ||
			    !valid_listen(json_string_value(v)))
				return fail(p, "$.web.listen",
				    "expected \"host:port\" (port 1-65535), "
				    "e.g. \"127.0.0.1:5000\" or "
				    "\"[::1]:5000\"");
			listen = json_string_value(v);
		}
		v = json_object_get(web, "tls");
		if (v != NULL && (rc = parse_web_tls(p, v, cfg)) != 0)
			return rc;
		if ((rc = get_duration(p, web, "$.web", "session_idle",
			 SECOND_MS, "seconds", 0, &cfg->session_idle_ms)) !=
			0 ||
		    (rc = get_duration(p, web, "$.web", "session_lifetime",
			 SECOND_MS, "seconds", 0,
			 &cfg->session_lifetime_ms)) != 0)
			return rc;
	}
	cfg->web_listen = strdup(listen != NULL ? listen : DEFAULT_LISTEN);
	return cfg->web_listen == NULL ? nomem(p) : DBS_OK;
}

static int
parse_store(struct pctx *p, json_t *root, struct config *cfg)
{
	static const char *const keys[] = {
	    "max_size", "event_keep", "event_max_age", NULL};
	json_t *store = json_object_get(root, "store"), *v;
	int rc;

	cfg->store_max_size = STORE_DEFAULT;
	cfg->event_max_age_ms = EVENT_MAX_AGE_DEFAULT;
	if (store == NULL)
		return DBS_OK;
	if (!json_is_object(store))
		return fail(p, "$.store", "expected an object");
	if ((rc = check_keys(p, "$.store", store, keys, NULL)) != 0)
		return rc;
	if ((rc = get_duration(p, store, "$.store", "event_max_age", DAY_MS,
		 "days", EVENT_MAX_AGE_DEFAULT, &cfg->event_max_age_ms)) != 0)
		return rc;
	v = json_object_get(store, "event_keep");
	if (v != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 100000000)
			return fail(p, "$.store.event_keep",
			    "expected a number of events from 1 to "
			    "100000000");
		cfg->event_keep = (uint64_t)json_integer_value(v);
	}
	v = json_object_get(store, "max_size");
	if (v == NULL)
		return DBS_OK;
	if (parse_size(v, &cfg->store_max_size) != DBS_OK ||
	    cfg->store_max_size < STORE_MIN_SIZE)
		return fail(p, "$.store.max_size",
		    "expected a number of bytes or a size like \"512MiB\", "
		    "\"64GiB\" (from 64KiB to 1024TiB)");
	return DBS_OK;
}

/*
 * The clients directory as messages name it: relative to the directory of
 * the config file as it was given, so "clients/acme.json" when databusd
 * runs next to databus.json.
 */
static char *
shown_dir(const char *config_path, const char *clients_dir)
{
	const char *slash = strrchr(config_path, '/');
	char *s;

	if (clients_dir[0] == '/' || slash == NULL)
		return strdup(clients_dir);
	if (asprintf(&s, "%.*s/%s", (int)(slash - config_path), config_path,
		clients_dir) < 0)
		return NULL;
	return s;
}

static int
parse_ticket(
    struct pctx *p, const char *path, json_t *root, struct config *cfg)
{
	static const char *const keys[] = {"data_dir", "system_alias", "web",
	    "clients_dir", "external_config_files", "drive_timeout",
	    "shutdown_timeout", "heartbeat", "store", "limits", "restart",
	    NULL};
	const char *data_dir, *alias, *clients_dir;
	char *dir, *slash, *shown;
	int rc;

	if (!json_is_object(root))
		return fail(p, "$", "expected an object");
	if ((rc = check_keys(p, "$", root, keys, NULL)) != 0)
		return rc;

	dir = strdup(path);
	if (dir == NULL)
		return nomem(p);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	cfg->base_dir = realpath(slash != NULL ? dir : ".", NULL);
	free(dir);
	if (cfg->base_dir == NULL)
		return fail(p, NULL, "cannot resolve its directory: %s",
		    strerror(errno));

	if ((rc = get_string(p, root, "$", "data_dir", false, &data_dir)) !=
		0 ||
	    (rc = get_string(p, root, "$", "system_alias", false, &alias)) !=
		0 ||
	    (rc = get_string(
		 p, root, "$", "clients_dir", false, &clients_dir)) != 0)
		return rc;
	if (alias != NULL && strlen(alias) > NAME_MAX_LEN)
		return fail(p, "$.system_alias", "at most %d characters",
		    NAME_MAX_LEN);
	cfg->system_alias = strdup(alias != NULL ? alias : "DATABUS");
	if (cfg->system_alias == NULL)
		return nomem(p);
	if ((rc = resolve_dir(p, "$.data_dir", cfg->base_dir,
		 data_dir != NULL ? data_dir : "var", false,
		 &cfg->data_dir)) != 0)
		return rc;
	if (clients_dir == NULL)
		clients_dir = "clients";
	if ((rc = resolve_dir(p, "$.clients_dir", cfg->base_dir, clients_dir,
		 true, &cfg->clients_dir)) != 0)
		return rc;
	if ((rc = parse_web(p, root, cfg)) != 0 ||
	    (rc = load_external_files(p, root, cfg)) != 0 ||
	    (rc = get_duration(p, root, "$", "drive_timeout", SECOND_MS,
		 "seconds", 5 * MINUTE_MS, &cfg->drive_timeout_ms)) != 0 ||
	    (rc = get_duration(p, root, "$", "shutdown_timeout", SECOND_MS,
		 "seconds", 30 * SECOND_MS, &cfg->shutdown_timeout_ms)) != 0 ||
	    (rc = get_duration(p, root, "$", "heartbeat", SECOND_MS, "seconds",
		 SECOND_MS, &cfg->heartbeat_ms)) != 0 ||
	    (rc = parse_store(p, root, cfg)) != 0 ||
	    (rc = parse_limits(p, root, "$", &cfg->limits)) != 0 ||
	    (rc = parse_restart(p, root, &cfg->restart)) != 0)
		return rc;

	shown = shown_dir(path, clients_dir);
	if (shown == NULL)
		return nomem(p);
	rc = load_clients(p, cfg, shown);
	free(shown);
	return rc;
}

int
config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	struct pctx p = {path, err, errlen};
	struct config *cfg;
	json_error_t jerr;
	json_t *root;
	int rc;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	root = load_json(path, &jerr);
	if (root == NULL)
		return fail_syntax(&p, &jerr);
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		json_decref(root);
		return nomem(&p);
	}
	rc = parse_ticket(&p, path, root, cfg);
	json_decref(root);
	if (rc == DBS_OK) {
		cfg->file = strdup(path);
		cfg->worker_path = find_worker();
		if (cfg->file == NULL)
			rc = nomem(&p);
		else if (cfg->worker_path == NULL)
			rc = fail(&p, NULL, "cannot locate databus-worker: %s",
			    strerror(errno));
	}
	if (rc != DBS_OK) {
		config_free(cfg);
		return rc;
	}
	*out = cfg;
	return DBS_OK;
}

int
config_load_staged(const char *path, const struct config_stage *stage,
    size_t n_stage, struct config **out, char *err, size_t errlen)
{
	int rc;

	cur_stage = stage;
	n_cur_stage = n_stage;
	rc = config_load(path, out, err, errlen);
	cur_stage = NULL;
	n_cur_stage = 0;
	return rc;
}

/* mkdir -p with mode 0755. */
static int
mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (char *q = buf + 1; *q != '\0'; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		*q = '/';
	}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

#define DEMO_FILE "(built-in demo)"

int
config_demo(const char *data_dir, const char *listen, struct config **out,
    char *err, size_t errlen)
{
	struct pctx p = {DEMO_FILE, err, errlen};
	struct config *cfg;
	char *abs = NULL, *outbox = NULL, *invoices = NULL;
	json_t *demo = NULL, *root = NULL;
	int rc = DBS_OK;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (data_dir == NULL || data_dir[0] == '\0')
		data_dir = "var";
	if (listen == NULL)
		listen = DEFAULT_LISTEN;
	if (!valid_listen(listen))
		return fail(&p, NULL,
		    "--listen \"%s\": expected \"host:port\" (port 1-65535)",
		    listen);
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		return nomem(&p);
	cfg->base_dir = getcwd(NULL, 0);
	if (cfg->base_dir == NULL) {
		rc = fail(&p, NULL, "cannot get the current directory: %s",
		    strerror(errno));
		goto out;
	}
	abs = join_path(cfg->base_dir, data_dir);
	if (abs == NULL || asprintf(&outbox, "%s/demo/outbox", abs) < 0 ||
	    asprintf(&invoices, "%s/demo/invoices", abs) < 0) {
		outbox = invoices = NULL;
		rc = nomem(&p);
		goto out;
	}
	/* The dir pusher wants its directory to exist. */
	if (mkdir_p(outbox) != 0 || mkdir_p(invoices) != 0) {
		rc = fail(&p, NULL, "cannot create \"%s/demo\": %s", abs,
		    strerror(errno));
		goto out;
	}
	cfg->data_dir = realpath(abs, NULL);
	if (cfg->data_dir == NULL) {
		rc = fail(&p, NULL, "\"%s\": %s", abs, strerror(errno));
		goto out;
	}
	free(outbox);
	free(invoices);
	if (asprintf(&outbox, "%s/demo/outbox", cfg->data_dir) < 0 ||
	    asprintf(&invoices, "%s/demo/invoices", cfg->data_dir) < 0) {
		outbox = invoices = NULL;
		rc = nomem(&p);
		goto out;
	}
	cfg->system_alias = strdup("DEMO");
	cfg->web_enabled = true;
	cfg->web_listen = strdup(listen);
	/* There is no clients directory: this path does not exist, so a
	 * reload or a save finds nothing there instead of stray files. */
	if (asprintf(&cfg->clients_dir, "%s/demo/clients", cfg->data_dir) < 0)
		cfg->clients_dir = NULL;
	cfg->drive_timeout_ms = 5 * MINUTE_MS;
	cfg->shutdown_timeout_ms = 30 * SECOND_MS;
	cfg->heartbeat_ms = SECOND_MS;
	(void)parse_restart(NULL, NULL, &cfg->restart); /* the defaults */
	cfg->store_max_size = STORE_DEFAULT;
	cfg->event_max_age_ms = EVENT_MAX_AGE_DEFAULT;
	cfg->worker_path = find_worker();
	if (cfg->system_alias == NULL || cfg->web_listen == NULL ||
	    cfg->clients_dir == NULL) {
		rc = nomem(&p);
		goto out;
	}
	if (cfg->worker_path == NULL) {
		rc = fail(&p, NULL, "cannot locate databus-worker: %s",
		    strerror(errno));
		goto out;
	}

	demo = json_pack("{s:i, s:[{s:s, s:i, s:i,"
			 "  s:[{s:s, s:s, s:s, s:i}],"
			 "  s:[{s:s, s:s, s:s}],"
			 "  s:[{s:s, s:s, s:s}]},"
			 " {s:s, s:i, s:i,"
			 "  s:[{s:s, s:s, s:s, s:i}],"
			 "  s:[{s:s, s:s, s:s, s:b}]}],"
			 " s:[{s:s, s:s, s:s}]}",
	    "log_life_span", 1, "passengers",
	    /* mails */
	    "name", "mails", "sync_frequency", 1, "queue_life_span", 1,
	    "pullers", "name", "inbox", "type", "demo", "kind", "mail",
	    "per_drive", 3, "processors", "name", "only-xlsx", "type",
	    "require_attachment", "pattern", "*.xlsx", "pushers", "name",
	    "outbox", "type", "dir", "path", outbox,
	    /* invoices */
	    "name", "invoices", "sync_frequency", 1, "queue_life_span", 1,
	    "pullers", "name", "erp-export", "type", "demo", "kind", "invoice",
	    "per_drive", 2, "pushers", "name", "archive", "type", "dir",
	    "path", invoices, "passenger_json", 1,
	    /* users */
	    "users", "username", "demo", "password", "demo", "role",
	    "administrator");
	root = json_pack("{s:[{s:s, s:s}]}", "users", "username", "root",
	    "password", "root");
	if (demo == NULL || root == NULL) {
		rc = nomem(&p);
		goto out;
	}
	cfg->clients = calloc(2, sizeof(*cfg->clients));
	if (cfg->clients == NULL) {
		rc = nomem(&p);
		goto out;
	}
	if ((rc = parse_client_json(&p, "demo", demo, &cfg->clients[0])) != 0)
		goto out;
	cfg->n_clients = 1;
	if ((rc = parse_client_json(&p, "root", root, &cfg->clients[1])) != 0)
		goto out;
	cfg->n_clients = 2;
out:
	json_decref(demo);
	json_decref(root);
	free(abs);
	free(outbox);
	free(invoices);
	if (rc != DBS_OK) {
		config_free(cfg);
		return rc;
	}
	*out = cfg;
	return DBS_OK;
}

const struct cfg_definition *
config_find(
    const struct config *cfg, const char *client, const char *definition)
{
	if (cfg == NULL || client == NULL || definition == NULL)
		return NULL;
	for (size_t i = 0; i < cfg->n_clients; i++) {
		const struct cfg_client *c = &cfg->clients[i];

		if (strcmp(c->name, client) != 0)
			continue;
		for (size_t k = 0; k < c->n_defs; k++)
			if (strcmp(c->defs[k].name, definition) == 0)
				return &c->defs[k];
		return NULL;
	}
	return NULL;
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n_clients; i++)
		config_client_clear(&cfg->clients[i]);
	free(cfg->clients);
	for (size_t i = 0; i < cfg->n_external_files; i++) {
		free(cfg->external_files[i]);
		free(cfg->external_listed[i]);
	}
	free(cfg->external_files);
	free(cfg->external_listed);
	free(cfg->file);
	free(cfg->base_dir);
	free(cfg->data_dir);
	free(cfg->system_alias);
	free(cfg->web_listen);
	free(cfg->web_tls_cert);
	free(cfg->web_tls_key);
	free(cfg->clients_dir);
	free(cfg->worker_path);
	free(cfg);
}

/* The --check request: [{"file","path","client","definition"}, ...]. */
static char *
check_request(const struct config *cfg, size_t *n_defs)
{
	json_t *arr = json_array();
	char *text = NULL;

	*n_defs = 0;
	if (arr == NULL)
		return NULL;
	for (size_t i = 0; i < cfg->n_clients; i++) {
		const struct cfg_client *c = &cfg->clients[i];

		for (size_t k = 0; k < c->n_defs; k++) {
			const struct cfg_definition *d = &c->defs[k];
			json_t *def = json_loads(d->json, 0, NULL);

			if (def == NULL ||
			    json_array_append_new(
				arr, json_pack("{s:s, s:s, s:s, s:o}", "file",
					 d->file, "path", d->path, "client",
					 d->client, "definition", def)) != 0)
				goto out;
			(*n_defs)++;
		}
	}
	text = json_dumps(arr, JSON_COMPACT);
out:
	json_decref(arr);
	return text;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Feed `in` to the child's stdin while collecting its stdout (at most
 * CHECK_MAX_OUTPUT bytes kept), so neither side can block the other. The
 * stdin end is a socket so that a child that exits without reading gives
 * EPIPE instead of SIGPIPE (MSG_NOSIGNAL). Returns 0, or -1 on timeout.
 */
static int
check_exchange(int in_fd, int out_fd, const char *in, size_t in_len, char *buf,
    size_t *buf_len, int64_t deadline)
{
	size_t sent = 0;

	*buf_len = 0;
	if (in_len == 0) {
		close(in_fd);
		in_fd = -1;
	}
	while (out_fd >= 0) {
		struct pollfd pfd[2];
		nfds_t n = 0;
		int64_t left = deadline - mono_ms();
		int r;

		if (left <= 0)
			goto timeout;
		pfd[n++] = (struct pollfd){.fd = out_fd, .events = POLLIN};
		if (in_fd >= 0)
			pfd[n++] =
			    (struct pollfd){.fd = in_fd, .events = POLLOUT};
		r = poll(pfd, n, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno != EINTR)
			goto timeout;
		if (r <= 0)
			continue;
		if (n == 2 && pfd[1].revents != 0) {
			ssize_t w = send(in_fd, in + sent, in_len - sent,
			    MSG_NOSIGNAL | MSG_DONTWAIT);

			if (w > 0)
				sent += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) ||
			    sent == in_len) {
				close(in_fd);
				in_fd = -1;
			}
		}
		if (pfd[0].revents != 0) {
			char tmp[4096];
			ssize_t got = read(out_fd, tmp, sizeof(tmp));

			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (got <= 0) {
				close(out_fd);
				out_fd = -1;
				break;
			}
			if (*buf_len < CHECK_MAX_OUTPUT) {
				size_t keep = (size_t)got;

				if (keep > CHECK_MAX_OUTPUT - *buf_len)
					keep = CHECK_MAX_OUTPUT - *buf_len;
				memcpy(buf + *buf_len, tmp, keep);
				*buf_len += keep;
			}
		}
	}
	if (in_fd >= 0)
		close(in_fd);
	return 0;
timeout:
	if (in_fd >= 0)
		close(in_fd);
	if (out_fd >= 0)
		close(out_fd);
	return -1;
}

/* The first problems the worker printed, one per line, into err. */
static void
check_problems(const char *out, size_t len, const char *worker_path, char *err,
    size_t errlen)
{
	size_t used = 0, lines = 0, more = 0;
	const char *q = out, *end = out + len;

	if (errlen == 0)
		return;
	err[0] = '\0';
	while (q < end) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));
		size_t n = nl != NULL ? (size_t)(nl - q) : (size_t)(end - q);

		if (n > 0 && q[n - 1] == '\r')
			n--;
		if (n > 0) {
			if (lines < CHECK_MAX_LINES && used < errlen) {
				int w = snprintf(err + used, errlen - used,
				    "%s%.*s", lines > 0 ? "\n" : "", (int)n,
				    q);
				if (w > 0)
					used += (size_t)w;
				lines++;
			} else {
				more++;
			}
		}
		q = nl != NULL ? nl + 1 : end;
	}
	if (lines == 0)
		snprintf(err, errlen,
		    "%s --check found problems but did not name them",
		    worker_path);
	else if (more > 0 && used < errlen)
		snprintf(err + used, errlen - used, "\n(and %zu more)", more);
}

/*
 * Start `worker_path --check` with `in_fd` as its stdin and `out_fd` as its
 * stdout (both > 2, so the two dup2 actions cannot clobber each other).
 * posix_spawn, not a bare fork: see DESIGN §2. Returns 0 or an errno value
 * (exec failures included).
 */
static int
spawn_check(const char *worker_path, const char *dir, int in_fd, int out_fd,
    pid_t *pid)
{
	static const int reset[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT,
	    SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM};
	char *argv[] = {(char *)worker_path, "--check", NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, defaults;
	int e;

	if ((e = posix_spawn_file_actions_init(&fa)) != 0)
		return e;
	if ((e = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return e;
	}
	/* The supervisor blocks signals for its signalfd: the child must
	 * not inherit that mask, nor ignored dispositions. */
	sigemptyset(&none);
	sigemptyset(&defaults);
	for (size_t i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
		sigaddset(&defaults, reset[i]);
	/* Relative driver paths are relative to the configuration's
	 * directory, in the check as in the workers. */
	if ((dir == NULL ||
		(e = posix_spawn_file_actions_addchdir_np(&fa, dir)) == 0) &&
	    (e = posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO)) ==
		0 &&
	    (e = posix_spawn_file_actions_adddup2(
		 &fa, out_fd, STDOUT_FILENO)) == 0 &&
	    (e = posix_spawnattr_setsigmask(&attr, &none)) == 0 &&
	    (e = posix_spawnattr_setsigdefault(&attr, &defaults)) == 0 &&
	    (e = posix_spawnattr_setflags(
		 &attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) == 0)
		e = posix_spawn(pid, worker_path, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return e;
}

int
config_check_drivers_with(const struct config *cfg, const char *worker_path,
    char *err, size_t errlen)
{
	int in_sv[2] = {-1, -1}, out_p[2] = {-1, -1}, child_in = -1,
	    child_out = -1;
	char *request, *output = NULL;
	size_t n_defs, out_len = 0;
	int64_t timeout_ms, deadline;
	int rc, status = 0, e;
	pid_t pid = -1;

	if (errlen > 0)
		err[0] = '\0';
	if (worker_path == NULL)
		worker_path = "databus-worker";
	request = check_request(cfg, &n_defs);
	if (request == NULL) {
		if (errlen > 0)
			snprintf(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	if (n_defs == 0) {
		free(request);
		return DBS_OK;
	}
	output = malloc(CHECK_MAX_OUTPUT);
	if (output == NULL) {
		free(request);
		if (errlen > 0)
			snprintf(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	/* The child's ends are moved above 2 so that the dup2() calls in
	 * the child cannot overwrite one another. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_sv) != 0 ||
	    pipe2(out_p, O_CLOEXEC) != 0 ||
	    (child_in = fcntl(in_sv[1], F_DUPFD_CLOEXEC, 3)) < 0 ||
	    (child_out = fcntl(out_p[1], F_DUPFD_CLOEXEC, 3)) < 0) {
		e = errno;
	} else {
		e = spawn_check(
		    worker_path, cfg->base_dir, child_in, child_out, &pid);
	}
	if (child_in >= 0)
		close(child_in);
	if (child_out >= 0)
		close(child_out);
	if (in_sv[1] >= 0)
		close(in_sv[1]);
	if (out_p[1] >= 0)
		close(out_p[1]);
	in_sv[1] = out_p[1] = -1;
	if (e != 0) {
		rc = DBS_ECONFIG;
		if (errlen > 0)
			snprintf(err, errlen, "cannot run %s --check: %s",
			    worker_path, strerror(e));
		goto out;
	}
	timeout_ms =
	    cfg->drive_timeout_ms > 0 ? cfg->drive_timeout_ms : 5 * MINUTE_MS;
	deadline = mono_ms() + timeout_ms;
	e = check_exchange(in_sv[0], out_p[0], request, strlen(request),
	    output, &out_len, deadline);
	in_sv[0] = out_p[0] = -1; /* closed by check_exchange */
	/* Reap it; a child that closed its stdout but does not exit is
	 * bounded by the same deadline. */
	if (e != 0)
		kill(pid, SIGKILL);
	for (;;) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		pid_t r = waitpid(pid, &status, e == 0 ? WNOHANG : 0);

		if (r == pid)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = errno;
			rc = DBS_ECONFIG;
			if (errlen > 0)
				snprintf(err, errlen,
				    "cannot run %s --check: %s", worker_path,
				    strerror(e));
			goto out;
		}
		if (mono_ms() >= deadline) {
			e = -1;
			kill(pid, SIGKILL);
		} else {
			nanosleep(&ts, NULL);
		}
	}
	rc = DBS_ECONFIG;
	if (e != 0) {
		if (errlen > 0)
			snprintf(err, errlen,
			    "cannot run %s --check: no answer within %lld ms",
			    worker_path, (long long)timeout_ms);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		rc = DBS_OK;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 100) {
		check_problems(output, out_len, worker_path, err, errlen);
	} else if (errlen == 0) {
		/* nothing to say */
	} else if (WIFEXITED(status)) {
		snprintf(err, errlen, "cannot run %s --check: exit status %d",
		    worker_path, WEXITSTATUS(status));
	} else {
		snprintf(err, errlen,
		    "cannot run %s --check: killed by signal %d", worker_path,
		    WTERMSIG(status));
	}
out:
	for (int i = 0; i < 2; i++) {
		if (in_sv[i] >= 0)
			close(in_sv[i]);
		if (out_p[i] >= 0)
			close(out_p[i]);
	}
	free(output);
	free(request);
	return rc;
}

int
config_check_drivers(const struct config *cfg, char *err, size_t errlen)
{
	return config_check_drivers_with(cfg, cfg->worker_path, err, errlen);
}
