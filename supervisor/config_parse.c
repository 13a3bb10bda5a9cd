/*
 * config_parse.c — reads the dispatcher ticket (databus.json) and every
 * client file (clients/<client>.json) into one struct config, or explains
 * in one line what is wrong: "<file>: <JSON path>: <problem>".
 *
 * The parser is strict on purpose: an unknown key, a duplicate key or name,
 * a wrong type or an out-of-range value is an error, because a typo that
 * passes silently ("sync_frequncy") is a schedule an operator never gets.
 * Only the settings inside a puller/processor/pusher entry are left alone:
 * they belong to the driver, and config_check_drivers() (config_check.c)
 * asks the drivers themselves whether they accept them. The built-in demo
 * (config_demo.c) is made with the same client parser.
 *
 * Every object is built in a local and handed to the caller only when the
 * whole configuration is valid, so a failed load or reload leaves nothing
 * half-made behind.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_parse.h"
#include "config_policy.h"
#include "config_quota.h"
#include "config_tls.h"
#include "dbs_error.h"
#include "names.h"

#define NAME_MAX_LEN 64
#define JPATH_LEN    256
/* Durations above this (about 31 700 years) are refused: no overflow. */
#define DURATION_MAX_MS 1000000000000000LL
#define STORE_MIN_SIZE  (64ULL << 10)
#define STORE_MAX_SIZE  (1ULL << 50)

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

int
config_fail(struct pctx *p, const char *path, const char *fmt, ...)
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

int
config_nomem(struct pctx *p)
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
			return config_fail(p, kpath, "unknown key (%s)", hint);
		for (size_t i = 0; allowed[i] != NULL && used < sizeof(list);
		     i++) {
			int n = snprintf(list + used, sizeof(list) - used,
			    "%s%s", i > 0 ? ", " : "", allowed[i]);
			if (n < 0)
				break;
			used += (size_t)n;
		}
		return config_fail(
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
			return config_fail(p, sub, "missing");
		return DBS_OK;
	}
	/* Without JSON_ALLOW_NUL jansson has refused "\u0000" already. */
	if (!json_is_string(v) || json_string_length(v) == 0)
		return config_fail(p, sub, "expected a non-empty string");
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
		return config_fail(p, sub,
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

int
config_parse_size(const json_t *v, uint64_t *out)
{
	return parse_size(v, out);
}

/* "host:port" or "[v6addr]:port", port 1-65535. */
bool
config_valid_listen(const char *s)
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
char *
config_join_path(const char *base, const char *rel)
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
			return config_fail(
			    p, sub, "missing (at least %zu needed)", min);
		return DBS_OK;
	}
	if (!json_is_array(arr))
		return config_fail(p, sub, "expected an array of objects");
	n = json_array_size(arr);
	if (n < min)
		return config_fail(p, sub, "at least %zu entry needed", min);
	if (n == 0)
		return DBS_OK;
	if (*n_seen + n > seen_cap)
		return config_fail(
		    p, sub, "too many drivers (at most %zu)", seen_cap);
	v = calloc(n, sizeof(*v));
	if (v == NULL)
		return config_nomem(p);
	for (i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i);
		const char *name, *type;

		jpath_index(item, sub, i);
		if (!json_is_object(e)) {
			rc = config_fail(p, item,
			    "expected an object with \"name\" and \"type\"");
			goto fail;
		}
		if ((rc = get_string(p, e, item, "name", true, &name)) != 0 ||
		    (rc = get_string(p, e, item, "type", true, &type)) != 0)
			goto fail;
		if (!dbs_name_ok(name, strlen(name))) {
			char np[JPATH_LEN];

			jpath_key(np, item, "name");
			rc = config_fail(p, np,
			    "invalid name \"%s\": use 1 to 64 of A-Z a-z 0-9 "
			    "_ -",
			    name);
			goto fail;
		}
		for (size_t k = 0; k < *n_seen; k++) {
			if (strcmp(seen[k].name, name) == 0) {
				char np[JPATH_LEN];

				jpath_key(np, item, "name");
				rc = config_fail(p, np,
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
			rc = config_nomem(p);
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
		return config_fail(p, sub, "expected an object");
	if ((rc = check_keys(p, sub, obj, keys, NULL)) != 0)
		return rc;
	v = json_object_get(obj, "max_attempts");
	if (v != NULL) {
		jpath_key(ma, sub, "max_attempts");
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 1000)
			return config_fail(
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
		return config_fail(p, ma, "must not be shorter than backoff");
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
		return config_fail(p, sub, "expected an object");
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
			return config_fail(p, k,
			    "expected a number of bytes or a size like "
			    "\"256M\", \"256MiB\", \"1GiB\"");
		if (l->memory < (16u << 20))
			return config_fail(p, k,
			    "at least 16MiB (a worker needs "
			    "that much to start)");
	}
	if ((v = json_object_get(obj, "cpu_time")) != NULL) {
		jpath_key(k, sub, "cpu_time");
		if (config_parse_duration(v, SECOND_MS, &ms) != DBS_OK ||
		    ms < SECOND_MS)
			return config_fail(p, k,
			    "expected a number of seconds or a duration "
			    "like \"60s\", \"10m\" (at least 1s)");
		l->cpu_s = (uint64_t)((ms + SECOND_MS - 1) / SECOND_MS);
	}
	if ((v = json_object_get(obj, "open_files")) != NULL) {
		jpath_key(k, sub, "open_files");
		if (!json_is_integer(v) || json_integer_value(v) < 16 ||
		    json_integer_value(v) > 1048576)
			return config_fail(
			    p, k, "expected an integer from 16 to 1048576");
		l->open_files = (uint64_t)json_integer_value(v);
	}
	return DBS_OK;
}

/* "restart": {"min_delay", "max_delay", "max_restarts", "window",
 * "stable"} of databus.json (faults). */
int
config_parse_restart(struct pctx *p, json_t *root, struct cfg_restart *r)
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
		return config_fail(p, "$.restart", "expected an object");
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
		return config_fail(p, "$.restart.max_delay",
		    "must not be shorter than min_delay");
	if ((v = json_object_get(obj, "max_restarts")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 1000000)
			return config_fail(p, "$.restart.max_restarts",
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
		return config_fail(p, path, "expected an object");
	if ((rc = check_keys(p, path, obj, keys, NULL)) != 0)
		return rc;
	if ((rc = get_string(p, obj, path, "name", true, &name)) != 0)
		return rc;
	if (!dbs_name_ok(name, strlen(name))) {
		char sub[JPATH_LEN];

		jpath_key(sub, path, "name");
		return config_fail(p, sub,
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
		return config_nomem(p);
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
		rc = config_nomem(p);
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
		return config_fail(
		    p, "$.users", "expected an array of objects");
	n = json_array_size(arr);
	if (n == 0)
		return DBS_OK;
	c->users = calloc(n, sizeof(*c->users));
	if (c->users == NULL)
		return config_nomem(p);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i);
		const char *username, *password, *role;
		struct cfg_user *u = &c->users[i];

		jpath_index(item, "$.users", i);
		if (!json_is_object(e))
			return config_fail(p, item, "expected an object");
		if ((rc = check_keys(p, item, e, keys, NULL)) != 0 ||
		    (rc = get_string(
			 p, e, item, "username", true, &username)) != 0 ||
		    (rc = get_string(
			 p, e, item, "password", true, &password)) != 0 ||
		    (rc = get_string(p, e, item, "role", false, &role)) != 0)
			return rc;
		jpath_key(sub, item, "username");
		if (!dbs_user_name_ok(username, strlen(username)))
			return config_fail(p, sub,
			    "invalid username \"%s\": use " DBS_USER_NAME_RULE,
			    username);
		for (size_t k = 0; k < i; k++)
			if (strcmp(c->users[k].username, username) == 0)
				return config_fail(p, sub,
				    "duplicate username \"%s\" (also at "
				    "$.users[%zu])",
				    username, k);
		jpath_key(sub, item, "role");
		if (is_root) {
			if (role != NULL && strcmp(role, "root") != 0)
				return config_fail(p, sub,
				    "users of the root client always have "
				    "role \"root\": leave role out");
			u->role = DBS__ROLE__ROLE_ROOT;
		} else if (role == NULL || strcmp(role, "operator") == 0) {
			u->role = DBS__ROLE__ROLE_OPERATOR;
		} else if (strcmp(role, "administrator") == 0) {
			u->role = DBS__ROLE__ROLE_ADMINISTRATOR;
		} else {
			return config_fail(p, sub,
			    "expected \"operator\" or \"administrator\"");
		}
		u->username = strdup(username);
		u->password = strdup(password);
		c->n_users = i + 1;
		if (u->username == NULL || u->password == NULL)
			return config_nomem(p);
	}
	return DBS_OK;
}

/* A client file never carries quotas: they are root's (databus.json
 * $.quotas), or a client administrator could raise their own. */
static int
refuse_quotas(struct pctx *p, json_t *root)
{
	static const char *const names[] = {"quotas", "store_quota",
	    "max_pending", "webhook_rate", "max_concurrent_drives",
	    "cpu_weight", "memory_max", NULL};
	char sub[JPATH_LEN];

	if (!json_is_object(root))
		return DBS_OK;
	for (size_t i = 0; names[i] != NULL; i++) {
		if (json_object_get(root, names[i]) == NULL)
			continue;
		jpath_key(sub, "$", names[i]);
		return config_fail(p, sub,
		    "quotas are set by root in databus.json ($.quotas), not "
		    "in a client file");
	}
	return DBS_OK;
}

/* A parsed client file (`root` is its JSON) into *out. */
int
config_parse_client_json(
    struct pctx *p, const char *client, json_t *root, struct cfg_client *out)
{
	static const char *const keys[] = {
	    "log_life_span", "passengers", "users", "open_access", NULL};
	static const char *const root_keys[] = {"users", NULL};
	bool is_root = strcmp(client, "root") == 0;
	char item[JPATH_LEN];
	struct cfg_client c;
	json_t *arr;
	size_t n;
	int rc;

	memset(&c, 0, sizeof(c));
	if (!dbs_name_ok(client, strlen(client)))
		return config_fail(p, NULL,
		    "invalid client name \"%s\": use 1 to 64 of A-Z a-z 0-9 _ "
		    "- (the file name without .json)",
		    client);
	if (!json_is_object(root))
		return config_fail(p, "$", "expected an object");
	if ((rc = refuse_quotas(p, root)) != 0)
		return rc;
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
	arr = json_object_get(root, "open_access");
	if (arr != NULL && !json_is_boolean(arr))
		return config_fail(
		    p, "$.open_access", "expected true or false");
	c.open_access = json_is_true(arr);
	arr = json_object_get(root, "passengers");
	if (arr != NULL && !json_is_array(arr))
		return config_fail(
		    p, "$.passengers", "expected an array of objects");
	n = arr != NULL ? json_array_size(arr) : 0;
	if (n > 0) {
		c.defs = calloc(n, sizeof(*c.defs));
		if (c.defs == NULL)
			return config_nomem(p);
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
				rc = config_fail(p, sub,
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
		rc = config_nomem(p);
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
	rc = config_parse_client_json(&p, client, root, out);
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
		return config_fail(p, "$.clients_dir",
		    "cannot open \"%s\": %s", cfg->clients_dir,
		    strerror(errno));
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
				rc = config_nomem(p);
				goto out;
			}
			st = staged(full);
			free(full);
			if (st != NULL && st->removed)
				continue;
		}
		if (!push_name(&names, &n, &cap, de->d_name)) {
			rc = config_nomem(p);
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
			rc = config_nomem(p);
			goto out;
		}
	}
	if (n == 0)
		goto out;
	qsort(names, n, sizeof(*names), cmp_str);
	cfg->clients = calloc(n, sizeof(*cfg->clients));
	if (cfg->clients == NULL) {
		rc = config_nomem(p);
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
			rc = config_nomem(p);
		} else if (staged(full) == NULL && stat(full, &st) != 0) {
			rc = config_fail(&cp, NULL, "%s", strerror(errno));
		} else if (staged(full) == NULL && !S_ISREG(st.st_mode)) {
			rc = config_fail(&cp, NULL, "not a regular file");
		} else if ((root = load_json(full, &jerr)) == NULL) {
			rc = fail_syntax(&cp, &jerr);
		} else {
			rc = config_parse_client_json(
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
char *
config_find_worker(void)
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
	joined = config_join_path(base, rel);
	if (joined == NULL)
		return config_nomem(p);
	if (stat(joined, &st) != 0) {
		int e = errno;

		if (e == ENOENT && !must_exist) {
			*out = joined;
			return DBS_OK;
		}
		config_fail(p, jpath, "\"%s\": %s", joined, strerror(e));
		free(joined);
		return DBS_ECONFIG;
	}
	if (!S_ISDIR(st.st_mode)) {
		config_fail(p, jpath, "\"%s\" is not a directory", joined);
		free(joined);
		return DBS_ECONFIG;
	}
	real = realpath(joined, NULL);
	if (real == NULL) {
		config_fail(p, jpath, "\"%s\": %s", joined, strerror(errno));
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
		return config_fail(p, "$.external_config_files",
		    "expected an array of file names");
	n = json_array_size(arr);
	if (n == 0)
		return DBS_OK;
	cfg->external_files = calloc(n, sizeof(*cfg->external_files));
	cfg->external_listed = calloc(n, sizeof(*cfg->external_listed));
	if (cfg->external_files == NULL || cfg->external_listed == NULL)
		return config_nomem(p);
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(arr, i);
		char *joined, *real;
		struct stat st;

		jpath_index(item, "$.external_config_files", i);
		if (!json_is_string(v) || json_string_length(v) == 0)
			return config_fail(
			    p, item, "expected a non-empty string");
		joined = config_join_path(cfg->base_dir, json_string_value(v));
		if (joined == NULL)
			return config_nomem(p);
		real = realpath(joined, NULL);
		if (real == NULL || stat(real, &st) != 0) {
			int e = errno;

			config_fail(
			    p, item, "\"%s\": %s", joined, strerror(e));
			free(joined);
			free(real);
			return DBS_ECONFIG;
		}
		free(joined);
		cfg->external_files[i] = real;
		cfg->external_listed[i] = strdup(json_string_value(v));
		cfg->n_external_files = i + 1;
		if (cfg->external_listed[i] == NULL)
			return config_nomem(p);
		if (!S_ISREG(st.st_mode))
			return config_fail(
			    p, item, "\"%s\" is not a regular file", real);
		for (size_t k = 0; k < i; k++)
			if (strcmp(cfg->external_files[k], real) == 0)
				return config_fail(p, item,
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
		return config_fail(p, "$.web.tls",
		    "expected an object {\"cert\": FILE, \"key\": FILE}");
	if ((rc = check_keys(p, "$.web.tls", tls, keys, NULL)) != 0 ||
	    (rc = get_string(p, tls, "$.web.tls", "cert", true, &cert)) != 0 ||
	    (rc = get_string(p, tls, "$.web.tls", "key", true, &key)) != 0)
		return rc;
	cfg->web_tls_cert = config_join_path(cfg->base_dir, cert);
	cfg->web_tls_key = config_join_path(cfg->base_dir, key);
	if (cfg->web_tls_cert == NULL || cfg->web_tls_key == NULL)
		return config_nomem(p);
	switch (config_tls_check(
	    cfg->web_tls_cert, cfg->web_tls_key, msg, sizeof(msg))) {
	case CONFIG_TLS_OK:
		return DBS_OK;
	case CONFIG_TLS_BAD_CERT:
		return config_fail(p, "$.web.tls.cert", "%s", msg);
	default:
		return config_fail(p, "$.web.tls.key", "%s", msg);
	}
}

/* A name for web.allowed_hosts: a DNS name or an IP literal, without
 * port or scheme ("*": any). */
static bool
valid_host_name(const char *s)
{
	size_t i, n = strlen(s);
	struct in6_addr a6;
	char inner[64];

	if (strcmp(s, "*") == 0)
		return true;
	if (strchr(s, ':') != NULL) { /* an IPv6 literal, bracketed or not */
		if (s[0] == '[' && n > 2 && n - 2 < sizeof(inner) &&
		    s[n - 1] == ']') {
			memcpy(inner, s + 1, n - 2);
			inner[n - 2] = '\0';
			s = inner;
		}
		return inet_pton(AF_INET6, s, &a6) == 1;
	}
	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '-' ||
			s[i] == '.' || s[i] == '_'))
			return false;
	return true;
}

static int
parse_web_allowed_hosts(struct pctx *p, json_t *v, struct config *cfg)
{
	char path[64];
	json_t *item;
	size_t i;

	if (!json_is_array(v) || json_array_size(v) > 64)
		return config_fail(p, "$.web.allowed_hosts",
		    "expected an array of at most 64 host names");
	cfg->web_allowed_hosts =
	    calloc(json_array_size(v) + 1, sizeof(char *));
	if (cfg->web_allowed_hosts == NULL)
		return config_nomem(p);
	json_array_foreach(v, i, item)
	{
		snprintf(path, sizeof(path), "$.web.allowed_hosts[%zu]", i);
		if (!json_is_string(item) ||
		    !valid_host_name(json_string_value(item)))
			return config_fail(p, path,
			    "expected a host name or IP address without port "
			    "(e.g. \"databus.example.com\"), or \"*\"");
		if ((cfg->web_allowed_hosts[i] =
			    strdup(json_string_value(item))) == NULL)
			return config_nomem(p);
		cfg->n_web_allowed_hosts = i + 1;
	}
	return DBS_OK;
}

/* An address or network for web.metrics.allow: a.b.c.d[/n] or an IPv6
 * address[/n] (databus-web parses it again, metrics_access.c). */
static bool
valid_network(const char *s)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned char a[16];
	long bits, max;

	if (strlen(s) >= sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%s", s);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, a) == 1)
		max = 32;
	else if (inet_pton(AF_INET6, buf, a) == 1)
		max = 128;
	else
		return false;
	if (slash == NULL)
		return true;
	errno = 0;
	bits = strtol(slash + 1, &end, 10);
	return slash[1] != '\0' && *end == '\0' && errno == 0 && bits >= 0 &&
	       bits <= max;
}

/* "metrics": {"allow": [NET...], "token_file": FILE}: who beyond loopback
 * may scrape /metrics. The token file must be readable now and not by
 * others (it is a password); only its name reaches databus-web. */
static int
parse_web_metrics(struct pctx *p, json_t *m, struct config *cfg)
{
	static const char *const keys[] = {"allow", "token_file", NULL};
	json_t *allow, *item;
	const char *file = NULL;
	char path[64];
	struct stat sb;
	size_t i;
	int rc;

	if (!json_is_object(m))
		return config_fail(p, "$.web.metrics",
		    "expected an object {\"allow\": [NET...], "
		    "\"token_file\": FILE}");
	if ((rc = check_keys(p, "$.web.metrics", m, keys, NULL)) != 0 ||
	    (rc = get_string(
		 p, m, "$.web.metrics", "token_file", false, &file)) != 0)
		return rc;
	allow = json_object_get(m, "allow");
	if (allow != NULL &&
	    (!json_is_array(allow) || json_array_size(allow) > 64))
		return config_fail(p, "$.web.metrics.allow",
		    "expected an array of at most 64 addresses or networks");
	cfg->web_metrics_allow =
	    calloc(json_array_size(allow) + 1, sizeof(char *));
	if (cfg->web_metrics_allow == NULL)
		return config_nomem(p);
	json_array_foreach(allow, i, item)
	{
		snprintf(path, sizeof(path), "$.web.metrics.allow[%zu]", i);
		if (!json_is_string(item) ||
		    !valid_network(json_string_value(item)))
			return config_fail(p, path,
			    "expected an IP address or network, e.g. "
			    "\"10.0.0.5\", \"10.1.0.0/16\" or \"fd00::/8\"");
		if ((cfg->web_metrics_allow[i] =
			    strdup(json_string_value(item))) == NULL)
			return config_nomem(p);
		cfg->n_web_metrics_allow = i + 1;
	}
	if (file == NULL)
		return DBS_OK;
	if ((cfg->web_metrics_token_file =
		    config_join_path(cfg->base_dir, file)) == NULL)
		return config_nomem(p);
	if (stat(cfg->web_metrics_token_file, &sb) != 0 ||
	    access(cfg->web_metrics_token_file, R_OK) != 0)
		return config_fail(p, "$.web.metrics.token_file",
		    "cannot read %s: %s", cfg->web_metrics_token_file,
		    strerror(errno));
	if (!S_ISREG(sb.st_mode) || (sb.st_mode & 0007) != 0)
		return config_fail(p, "$.web.metrics.token_file",
		    "%s must be a regular file that others cannot read "
		    "(chmod 600 or 640)",
		    cfg->web_metrics_token_file);
	return DBS_OK;
}

static int
parse_web(struct pctx *p, json_t *root, struct config *cfg)
{
	static const char *const keys[] = {"enabled", "listen", "tls",
	    "allowed_hosts", "session_idle", "session_lifetime", "metrics",
	    NULL};
	json_t *web = json_object_get(root, "web"), *v;
	const char *listen = NULL;
	int rc;

	cfg->web_enabled = true;
	if (web != NULL) {
		if (!json_is_object(web))
			return config_fail(p, "$.web", "expected an object");
		if ((rc = check_keys(p, "$.web", web, keys, NULL)) != 0)
			return rc;
		v = json_object_get(web, "enabled");
		if (v != NULL) {
			if (!json_is_boolean(v))
				return config_fail(p, "$.web.enabled",
				    "expected true or false");
			cfg->web_enabled = json_is_true(v);
		}
		v = json_object_get(web, "listen");
		if (v != NULL) {
			if (!json_is_string(v) ||
			    !config_valid_listen(json_string_value(v)))
				return config_fail(p, "$.web.listen",
				    "expected \"host:port\" (port 1-65535), "
				    "e.g. \"127.0.0.1:5000\" or "
				    "\"[::1]:5000\"");
			listen = json_string_value(v);
		}
		v = json_object_get(web, "tls");
		if (v != NULL && (rc = parse_web_tls(p, v, cfg)) != 0)
			return rc;
		v = json_object_get(web, "allowed_hosts");
		if (v != NULL &&
		    (rc = parse_web_allowed_hosts(p, v, cfg)) != 0)
			return rc;
		v = json_object_get(web, "metrics");
		if (v != NULL && (rc = parse_web_metrics(p, v, cfg)) != 0)
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
	return cfg->web_listen == NULL ? config_nomem(p) : DBS_OK;
}

/*
 * "backend": "lmdb" (the default) or "postgres", with "postgres":
 * {"conninfo": "...", "schema": "databus"}. Messages name the field,
 * never the conninfo (it may hold a password).
 */
static int
parse_store_backend(struct pctx *p, json_t *store, struct config *cfg)
{
	static const char *const keys[] = {"conninfo", "schema", NULL};
	json_t *v = json_object_get(store, "backend"), *pg, *s;
	int rc;

	if (v != NULL) {
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), "lmdb") == 0)
			cfg->store_backend = 0;
		else if (json_is_string(v) &&
			 strcmp(json_string_value(v), "postgres") == 0)
			cfg->store_backend = 1;
		else
			return config_fail(p, "$.store.backend",
			    "expected \"lmdb\" or \"postgres\"");
	}
	pg = json_object_get(store, "postgres");
	if (pg != NULL) {
		if (!json_is_object(pg))
			return config_fail(
			    p, "$.store.postgres", "expected an object");
		if ((rc = check_keys(p, "$.store.postgres", pg, keys, NULL)) !=
		    0)
			return rc;
		s = json_object_get(pg, "conninfo");
		if (s != NULL &&
		    (!json_is_string(s) || json_string_length(s) == 0 ||
			json_string_length(s) > 4096))
			return config_fail(p, "$.store.postgres.conninfo",
			    "expected a libpq connection string, e.g. "
			    "\"host=db1 dbname=databus user=databus\"");
		if (s != NULL &&
		    (cfg->pg_conninfo = strdup(json_string_value(s))) == NULL)
			return config_nomem(p);
		s = json_object_get(pg, "schema");
		if (s != NULL &&
		    (!json_is_string(s) || json_string_length(s) == 0 ||
			json_string_length(s) > 63))
			return config_fail(p, "$.store.postgres.schema",
			    "expected a schema name of 1 to 63 bytes");
		if (s != NULL &&
		    (cfg->pg_schema = strdup(json_string_value(s))) == NULL)
			return config_nomem(p);
	}
	if (cfg->store_backend != 1)
		return 0;
	if (cfg->pg_conninfo == NULL)
		return config_fail(p, "$.store.postgres.conninfo",
		    "required with \"backend\": \"postgres\"");
	return 0;
}

static int
parse_store(struct pctx *p, json_t *root, struct config *cfg)
{
	static const char *const keys[] = {"max_size", "event_keep",
	    "event_max_age", "dedup_horizon", "backend", "postgres", NULL};
	json_t *store = json_object_get(root, "store"), *v;
	int rc;

	cfg->store_max_size = STORE_DEFAULT;
	cfg->event_max_age_ms = EVENT_MAX_AGE_DEFAULT;
	cfg->dedup_horizon_ms = DEDUP_HORIZON_DEFAULT;
	if (store == NULL)
		return DBS_OK;
	if (!json_is_object(store))
		return config_fail(p, "$.store", "expected an object");
	if ((rc = check_keys(p, "$.store", store, keys, NULL)) != 0)
		return rc;
	if ((rc = get_duration(p, store, "$.store", "event_max_age", DAY_MS,
		 "days", EVENT_MAX_AGE_DEFAULT, &cfg->event_max_age_ms)) !=
		0 ||
	    (rc = get_duration(p, store, "$.store", "dedup_horizon", DAY_MS,
		 "days", DEDUP_HORIZON_DEFAULT, &cfg->dedup_horizon_ms)) != 0)
		return rc;
	v = json_object_get(store, "event_keep");
	if (v != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 100000000)
			return config_fail(p, "$.store.event_keep",
			    "expected a number of events from 1 to "
			    "100000000");
		cfg->event_keep = (uint64_t)json_integer_value(v);
	}
	if ((rc = parse_store_backend(p, store, cfg)) != 0)
		return rc;
	v = json_object_get(store, "max_size");
	if (v == NULL)
		return DBS_OK;
	if (parse_size(v, &cfg->store_max_size) != DBS_OK ||
	    cfg->store_max_size < STORE_MIN_SIZE)
		return config_fail(p, "$.store.max_size",
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
	    "client_policy", "quotas", NULL};
	const char *data_dir, *alias, *clients_dir;
	char *dir, *slash, *shown;
	int rc;

	if (!json_is_object(root))
		return config_fail(p, "$", "expected an object");
	if ((rc = check_keys(p, "$", root, keys, NULL)) != 0)
		return rc;

	dir = strdup(path);
	if (dir == NULL)
		return config_nomem(p);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	cfg->base_dir = realpath(slash != NULL ? dir : ".", NULL);
	free(dir);
	if (cfg->base_dir == NULL)
		return config_fail(p, NULL, "cannot resolve its directory: %s",
		    strerror(errno));

	if ((rc = get_string(p, root, "$", "data_dir", false, &data_dir)) !=
		0 ||
	    (rc = get_string(p, root, "$", "system_alias", false, &alias)) !=
		0 ||
	    (rc = get_string(
		 p, root, "$", "clients_dir", false, &clients_dir)) != 0)
		return rc;
	if (alias != NULL && strlen(alias) > NAME_MAX_LEN)
		return config_fail(p, "$.system_alias",
		    "at most %d characters", NAME_MAX_LEN);
	cfg->system_alias = strdup(alias != NULL ? alias : "DATABUS");
	if (cfg->system_alias == NULL)
		return config_nomem(p);
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
	    (rc = config_parse_restart(p, root, &cfg->restart)) != 0 ||
	    (rc = config_policy_parse(p,
		 json_object_get(root, "client_policy"), cfg->base_dir,
		 &cfg->client_policy)) != 0 ||
	    (rc = config_quotas_parse(
		 p, json_object_get(root, "quotas"), &cfg->quotas)) != 0)
		return rc;

	shown = shown_dir(path, clients_dir);
	if (shown == NULL)
		return config_nomem(p);
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
		return config_nomem(&p);
	}
	rc = parse_ticket(&p, path, root, cfg);
	json_decref(root);
	if (rc == DBS_OK) {
		cfg->file = strdup(path);
		cfg->worker_path = config_find_worker();
		if (cfg->file == NULL)
			rc = config_nomem(&p);
		else if (cfg->worker_path == NULL)
			rc = config_fail(&p, NULL,
			    "cannot locate databus-worker: %s",
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
	free(cfg->pg_conninfo);
	free(cfg->pg_schema);
	free(cfg->system_alias);
	free(cfg->web_listen);
	for (size_t i = 0; i < cfg->n_web_allowed_hosts; i++)
		free(cfg->web_allowed_hosts[i]);
	free(cfg->web_allowed_hosts);
	for (size_t i = 0; i < cfg->n_web_metrics_allow; i++)
		free(cfg->web_metrics_allow[i]);
	free(cfg->web_metrics_allow);
	free(cfg->web_metrics_token_file);
	free(cfg->web_tls_cert);
	free(cfg->web_tls_key);
	free(cfg->clients_dir);
	free(cfg->worker_path);
	config_policy_free(cfg->client_policy);
	config_quotas_free(cfg->quotas);
	free(cfg);
}
