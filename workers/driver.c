/*
 * driver.c — the glue between databus-worker and its drivers: the registry
 * of built-in drivers, driver instances (struct drv_ctx), drv_emit() and
 * the sink behind it, the passenger view that transforming processors edit
 * (struct drv_edit), the settings helpers, and the buffer that keeps
 * drv_log() entries until the worker sends them along with its next
 * message.
 *
 * Nothing here knows the socket: the worker plugs in a sink callback and a
 * log flush callback (driver_host.h), which also lets unit tests host
 * drivers without a supervisor.
 */
#include "driver.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "databus.pb-c.h"
#include "dbs_error.h"
#include "driver_host.h"
#include "wire.h"

/* ------------------------------------------------------------- registry */

extern const struct drv_ops drv_demo_ops;
extern const struct drv_ops drv_bench_ops;
extern const struct drv_ops drv_dir_puller_ops;
extern const struct drv_ops drv_dir_pusher_ops;
extern const struct drv_ops drv_null_ops;
extern const struct drv_ops drv_require_attachment_ops;
extern const struct drv_ops drv_http_pusher_ops;
extern const struct drv_ops drv_webhook_ops;
extern const struct drv_ops drv_http_poll_ops;
extern const struct drv_ops drv_exec_puller_ops;
extern const struct drv_ops drv_exec_processor_ops;
extern const struct drv_ops drv_exec_pusher_ops;
extern const struct drv_ops drv_plugin_puller_ops;
extern const struct drv_ops drv_plugin_processor_ops;
extern const struct drv_ops drv_plugin_pusher_ops;
extern const struct drv_ops drv_pg_pusher_ops;   /* mailsql */
extern const struct drv_ops drv_imap_puller_ops; /* mailsql */
extern const struct drv_ops drv_smtp_pusher_ops; /* mailsql */

const struct drv_ops *const drv_registry[] = {
    &drv_demo_ops,
    &drv_bench_ops,
    &drv_dir_puller_ops,
    &drv_require_attachment_ops,
    &drv_dir_pusher_ops,
    &drv_null_ops,
    &drv_http_pusher_ops,
    &drv_webhook_ops,
    &drv_http_poll_ops,
    &drv_exec_puller_ops,
    &drv_exec_processor_ops,
    &drv_exec_pusher_ops,
    &drv_plugin_puller_ops,
    &drv_plugin_processor_ops,
    &drv_plugin_pusher_ops,
    &drv_imap_puller_ops, /* mailsql */
    &drv_pg_pusher_ops,   /* mailsql */
    &drv_smtp_pusher_ops, /* mailsql */
    NULL,
};

const struct drv_ops *
drv_lookup(enum drv_kind kind, const char *type)
{
	size_t i;

	if (type == NULL)
		return NULL;
	for (i = 0; drv_registry[i] != NULL; i++)
		if (drv_registry[i]->kind == kind &&
		    strcmp(drv_registry[i]->type, type) == 0)
			return drv_registry[i];
	return NULL;
}

/* ------------------------------------------------------------ instances */

struct drv_ctx {
	const struct drv_ops *ops;
	char *name;
	char *client;
	char *definition;
	char *data_dir;
	void *state;
	bool initialised;
	uint64_t retry_after_ms; /* of the last process/push call */
};

static char *
dup_or_empty(const char *s)
{
	return strdup(s != NULL ? s : "");
}

struct drv_ctx *
drv_ctx_new(const struct drv_ops *ops, const char *name, const char *client,
    const char *definition, const char *data_dir)
{
	struct drv_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL)
		return NULL;
	ctx->ops = ops;
	ctx->name = dup_or_empty(name);
	ctx->client = dup_or_empty(client);
	ctx->definition = dup_or_empty(definition);
	ctx->data_dir = dup_or_empty(data_dir);
	if (ctx->name == NULL || ctx->client == NULL ||
	    ctx->definition == NULL || ctx->data_dir == NULL) {
		drv_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

int
drv_ctx_init(
    struct drv_ctx *ctx, const json_t *settings, char *err, size_t errlen)
{
	int rc;

	err[0] = '\0';
	if (ctx->initialised) {
		snprintf(err, errlen, "initialised twice");
		return DBS_EINVAL;
	}
	rc = ctx->ops->init(ctx, settings, &ctx->state, err, errlen);
	if (rc != DBS_OK) {
		ctx->state = NULL;
		if (err[0] == '\0')
			snprintf(err, errlen, "%s", dbs_strerror(rc));
		return rc;
	}
	ctx->initialised = true;
	return DBS_OK;
}

void
drv_ctx_free(struct drv_ctx *ctx)
{
	if (ctx == NULL)
		return;
	if (ctx->initialised && ctx->ops->fini != NULL)
		ctx->ops->fini(ctx->state);
	free(ctx->name);
	free(ctx->client);
	free(ctx->definition);
	free(ctx->data_dir);
	free(ctx);
}

const struct drv_ops *
drv_ctx_ops(const struct drv_ctx *ctx)
{
	return ctx->ops;
}

const char *
drv_name(const struct drv_ctx *ctx)
{
	return ctx->name;
}

const char *
drv_client(const struct drv_ctx *ctx)
{
	return ctx->client;
}

const char *
drv_definition(const struct drv_ctx *ctx)
{
	return ctx->definition;
}

const char *
drv_data_dir(const struct drv_ctx *ctx)
{
	return ctx->data_dir;
}

void
drv_retry_after(struct drv_ctx *ctx, uint64_t ms)
{
	if (ctx != NULL)
		ctx->retry_after_ms = ms;
}

uint64_t
drv_ctx_retry_after(const struct drv_ctx *ctx)
{
	return ctx->retry_after_ms;
}

int
drv_ctx_pull(struct drv_ctx *ctx, struct drv_sink *sink)
{
	if (ctx->ops->pull == NULL)
		return DBS_OK;
	return ctx->ops->pull(ctx->state, ctx, sink);
}

int
drv_ctx_peek(struct drv_ctx *ctx, struct drv_sink *sink)
{
	if (ctx->ops->peek == NULL)
		return DBS_OK;
	return ctx->ops->peek(ctx->state, ctx, sink);
}

int
drv_ctx_notify(struct drv_ctx *ctx, const char *external_id,
    const char *source_ref, char *err, size_t errlen)
{
	int rc;

	err[0] = '\0';
	if (ctx->ops->notify == NULL)
		return DBS_OK;
	rc = ctx->ops->notify(
	    ctx->state, ctx, external_id, source_ref, err, errlen);
	if (rc != DBS_OK && err[0] == '\0')
		snprintf(err, errlen, "%s", dbs_strerror(rc));
	return rc;
}

static enum drv_result
result_checked(enum drv_result r, char *err, size_t errlen)
{
	switch (r) {
	case DRV_OK:
	case DRV_SKIP:
		return r;
	case DRV_RETRY:
	case DRV_FAIL:
		if (err[0] == '\0')
			snprintf(err, errlen, "failed without a message");
		return r;
	}
	snprintf(err, errlen, "driver returned an unknown result %d", (int)r);
	return DRV_FAIL;
}

enum drv_result
drv_ctx_process(struct drv_ctx *ctx, const struct drv_passenger *p,
    struct drv_edit *edit, char *err, size_t errlen)
{
	err[0] = '\0';
	ctx->retry_after_ms = 0;
	if (ctx->ops->process == NULL)
		return DRV_OK;
	return result_checked(
	    ctx->ops->process(ctx->state, ctx, p, edit, err, errlen), err,
	    errlen);
}

enum drv_result
drv_ctx_push(struct drv_ctx *ctx, const struct drv_passenger *p,
    const char *idempotency_key, char *err, size_t errlen)
{
	err[0] = '\0';
	ctx->retry_after_ms = 0;
	if (ctx->ops->push == NULL)
		return DRV_OK;
	return result_checked(
	    ctx->ops->push(ctx->state, ctx, p, idempotency_key, err, errlen),
	    err, errlen);
}

enum drv_result
drv_ctx_push_end(struct drv_ctx *ctx, char *err, size_t errlen)
{
	err[0] = '\0';
	ctx->retry_after_ms = 0;
	if (ctx->ops->push_end == NULL)
		return DRV_OK;
	return result_checked(
	    ctx->ops->push_end(ctx->state, ctx, err, errlen), err, errlen);
}

/* ------------------------------------------------------------ drv_emit */

/* drv_utf8_valid is in utf8.c (linked alone by tests/fuzz). */

static int
str_ok(const char *s)
{
	return s != NULL && drv_utf8_valid(s, strlen(s));
}

int
drv_emit(struct drv_sink *sink, const char *external_id,
    const char *source_ref, const struct drv_kv *metadata, size_t n_metadata,
    const struct drv_attachment *attachments, size_t n_attachments)
{
	struct drv_item item;
	size_t i;

	if (sink == NULL || sink->emit == NULL)
		return DBS_EINVAL;
	if (!str_ok(external_id) || external_id[0] == '\0')
		return DBS_EINVAL;
	if (source_ref == NULL)
		source_ref = "";
	if (!str_ok(source_ref))
		return DBS_EINVAL;
	if ((n_metadata > 0 && metadata == NULL) ||
	    (n_attachments > 0 && attachments == NULL))
		return DBS_EINVAL;
	for (i = 0; i < n_metadata; i++)
		if (!str_ok(metadata[i].key) || !str_ok(metadata[i].value))
			return DBS_EINVAL;
	for (i = 0; i < n_attachments; i++) {
		const struct drv_attachment *a = &attachments[i];

		if (!str_ok(a->name) || a->name[0] == '\0' ||
		    (a->content_type != NULL && !str_ok(a->content_type)) ||
		    (a->len > 0 && a->data == NULL))
			return DBS_EINVAL;
	}
	item.external_id = external_id;
	item.source_ref = source_ref;
	item.metadata = metadata;
	item.n_metadata = n_metadata;
	item.attachments = attachments;
	item.n_attachments = n_attachments;
	return sink->emit(sink->arg, &item);
}

/* ------------------------------------------------------- passenger view */

/* Grow an array of `size`-byte elements to hold at least `need`. */
static int
grow(void **arr, size_t *cap, size_t need, size_t size)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return DBS_OK;
	ncap = *cap != 0 ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*arr, ncap * size);
	if (p == NULL)
		return DBS_ENOMEM;
	*arr = p;
	*cap = ncap;
	return DBS_OK;
}

static void
view_sync(struct drv_view *v)
{
	v->p.metadata = v->md;
	v->p.n_metadata = v->n_md;
	v->p.attachments = v->att;
	v->p.n_attachments = v->n_att;
}

void
drv_view_reset(struct drv_view *v)
{
	size_t i;

	for (i = 0; i < v->n_owned; i++)
		free(v->owned[i]);
	v->n_owned = 0;
	v->n_md = 0;
	v->n_att = 0;
	v->replaced = false;
	memset(&v->p, 0, sizeof(v->p));
	view_sync(v);
}

void
drv_view_free(struct drv_view *v)
{
	if (v == NULL)
		return;
	drv_view_reset(v);
	free(v->owned);
	free(v->md);
	free(v->att);
	memset(v, 0, sizeof(*v));
}

int
drv_view_add_metadata(struct drv_view *v, const char *key, const char *value)
{
	if (grow((void **)&v->md, &v->cap_md, v->n_md + 1, sizeof(*v->md)) !=
	    DBS_OK)
		return DBS_ENOMEM;
	v->md[v->n_md].key = key;
	v->md[v->n_md].value = value;
	v->n_md++;
	view_sync(v);
	return DBS_OK;
}

int
drv_view_add_attachment(struct drv_view *v, const char *name,
    const char *content_type, const void *data, size_t len)
{
	struct drv_attachment *a;

	if (grow((void **)&v->att, &v->cap_att, v->n_att + 1,
		sizeof(*v->att)) != DBS_OK)
		return DBS_ENOMEM;
	a = &v->att[v->n_att++];
	a->name = name;
	a->content_type = content_type;
	a->data = data;
	a->len = len;
	view_sync(v);
	return DBS_OK;
}

static int
view_own(struct drv_view *v, void *p)
{
	if (p == NULL)
		return DBS_OK;
	if (grow((void **)&v->owned, &v->cap_owned, v->n_owned + 1,
		sizeof(*v->owned)) != DBS_OK)
		return DBS_ENOMEM;
	v->owned[v->n_owned++] = p;
	return DBS_OK;
}

int
drv_keep_add(struct drv_keep *keep, void *ptr)
{
	if (ptr == NULL)
		return DBS_OK;
	if (grow((void **)&keep->p, &keep->cap, keep->n + 1,
		sizeof(*keep->p)) != DBS_OK) {
		free(ptr);
		return DBS_ENOMEM;
	}
	keep->p[keep->n++] = ptr;
	return DBS_OK;
}

int
drv_view_keep(struct drv_view *v, struct drv_keep *keep)
{
	if (grow((void **)&keep->p, &keep->cap, keep->n + v->n_owned,
		sizeof(*keep->p)) != DBS_OK)
		return DBS_ENOMEM;
	if (v->n_owned > 0)
		memcpy(keep->p + keep->n, v->owned,
		    v->n_owned * sizeof(*v->owned));
	keep->n += v->n_owned;
	v->n_owned = 0; /* transferred */
	return DBS_OK;
}

void
drv_keep_free(struct drv_keep *keep)
{
	size_t i;

	if (keep == NULL)
		return;
	for (i = 0; i < keep->n; i++)
		free(keep->p[i]);
	free(keep->p);
	memset(keep, 0, sizeof(*keep));
}

void
drv_edit_begin(struct drv_edit *e, struct drv_view *v)
{
	memset(e, 0, sizeof(*e));
	e->view = v;
}

static void
edit_free_entries(struct drv_edit *e)
{
	size_t i;

	for (i = 0; i < e->n_md; i++) {
		free((char *)e->md[i].key);
		free((char *)e->md[i].value);
	}
	for (i = 0; i < e->n_att; i++) {
		free((char *)e->att[i].name);
		free((char *)e->att[i].content_type);
		free((void *)e->att[i].data);
	}
	e->n_md = 0;
	e->n_att = 0;
}

void
drv_edit_discard(struct drv_edit *e)
{
	edit_free_entries(e);
	free(e->md);
	free(e->att);
	e->md = NULL;
	e->att = NULL;
	e->cap_md = 0;
	e->cap_att = 0;
}

int
drv_edit_metadata(struct drv_edit *e, const char *key, const char *value)
{
	char *k, *val;
	size_t i;

	if (e == NULL || key == NULL || key[0] == '\0' || value == NULL ||
	    !str_ok(key) || !str_ok(value))
		return DBS_EINVAL;
	val = strdup(value);
	if (val == NULL)
		return DBS_ENOMEM;
	/* A second edit of the same key in one step replaces the first. */
	for (i = 0; i < e->n_md; i++)
		if (strcmp(e->md[i].key, key) == 0) {
			free((char *)e->md[i].value);
			e->md[i].value = val;
			return DBS_OK;
		}
	k = strdup(key);
	if (k == NULL || grow((void **)&e->md, &e->cap_md, e->n_md + 1,
			     sizeof(*e->md)) != DBS_OK) {
		free(k);
		free(val);
		return DBS_ENOMEM;
	}
	e->md[e->n_md].key = k;
	e->md[e->n_md].value = val;
	e->n_md++;
	return DBS_OK;
}

int
drv_edit_attachment(struct drv_edit *e, const char *name,
    const char *content_type, const void *data, size_t len)
{
	struct drv_attachment a = {0};
	size_t i;

	if (e == NULL || name == NULL || name[0] == '\0' || !str_ok(name) ||
	    (content_type != NULL && !str_ok(content_type)) ||
	    (len > 0 && data == NULL))
		return DBS_EINVAL;
	if (len > WIRE_MAX_MSG / 2)
		return DBS_ETOOBIG;
	a.name = strdup(name);
	a.content_type = strdup(
	    content_type != NULL ? content_type : "application/octet-stream");
	a.data = malloc(len > 0 ? len : 1);
	a.len = len;
	if (a.name == NULL || a.content_type == NULL || a.data == NULL ||
	    grow((void **)&e->att, &e->cap_att, e->n_att + 1,
		sizeof(*e->att)) != DBS_OK) {
		free((char *)a.name);
		free((char *)a.content_type);
		free((void *)a.data);
		return DBS_ENOMEM;
	}
	if (len > 0)
		memcpy((void *)a.data, data, len);
	for (i = 0; i < e->n_att; i++)
		if (strcmp(e->att[i].name, name) == 0) {
			free((char *)e->att[i].name);
			free((char *)e->att[i].content_type);
			free((void *)e->att[i].data);
			e->att[i] = a;
			return DBS_OK;
		}
	e->att[e->n_att++] = a;
	return DBS_OK;
}

/*
 * Move the pending copies into the view: each owned string or body goes
 * into v->owned first, so that an allocation failure halfway leaves every
 * pointer owned by exactly one side.
 */
int
drv_edit_commit(struct drv_edit *e)
{
	struct drv_view *v = e->view;
	size_t i, j;
	int rc = DBS_OK;

	if (e->n_md + e->n_att == 0)
		goto out;
	/* Room for every pointer up front: the loops below cannot fail. */
	if (grow((void **)&v->owned, &v->cap_owned,
		v->n_owned + 2 * e->n_md + 3 * e->n_att,
		sizeof(*v->owned)) != DBS_OK ||
	    grow((void **)&v->md, &v->cap_md, v->n_md + e->n_md,
		sizeof(*v->md)) != DBS_OK ||
	    grow((void **)&v->att, &v->cap_att, v->n_att + e->n_att,
		sizeof(*v->att)) != DBS_OK) {
		rc = DBS_ENOMEM;
		goto out;
	}
	for (i = 0; i < e->n_md; i++) {
		(void)view_own(v, (void *)e->md[i].key);
		(void)view_own(v, (void *)e->md[i].value);
		for (j = 0; j < v->n_md; j++)
			if (strcmp(v->md[j].key, e->md[i].key) == 0)
				break;
		if (j == v->n_md)
			v->n_md++;
		v->md[j] = e->md[i];
	}
	for (i = 0; i < e->n_att; i++) {
		(void)view_own(v, (void *)e->att[i].name);
		(void)view_own(v, (void *)e->att[i].content_type);
		(void)view_own(v, (void *)e->att[i].data);
		for (j = 0; j < v->n_att; j++)
			if (strcmp(v->att[j].name, e->att[i].name) == 0)
				break;
		if (j == v->n_att)
			v->n_att++;
		v->att[j] = e->att[i];
	}
	e->n_md = 0; /* transferred */
	e->n_att = 0;
	v->replaced = true;
	view_sync(v);
out:
	drv_edit_discard(e);
	return rc;
}

/* ------------------------------------------------------------- settings */

int
drv_setting_string(const json_t *settings, const char *key, const char *def,
    const char **out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(settings, key);

	if (v == NULL || json_is_null(v)) {
		if (def == NULL) {
			snprintf(err, errlen, "%s: missing", key);
			return DBS_ECONFIG;
		}
		*out = def;
		return DBS_OK;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "%s: expected a string", key);
		return DBS_ECONFIG;
	}
	if (def == NULL && json_string_length(v) == 0) {
		snprintf(err, errlen, "%s: must not be empty", key);
		return DBS_ECONFIG;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "%s: contains a NUL character", key);
		return DBS_ECONFIG;
	}
	*out = json_string_value(v);
	return DBS_OK;
}

int
drv_setting_uint(const json_t *settings, const char *key, uint64_t def,
    uint64_t min, uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(settings, key);
	json_int_t n;

	if (v == NULL || json_is_null(v)) {
		*out = def;
		return DBS_OK;
	}
	if (!json_is_integer(v)) {
		snprintf(err, errlen, "%s: expected a whole number", key);
		return DBS_ECONFIG;
	}
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n < min || (uint64_t)n > max) {
		snprintf(err, errlen,
		    "%s: %lld is out of range (%llu to %llu)", key,
		    (long long)n, (unsigned long long)min,
		    (unsigned long long)max);
		return DBS_ECONFIG;
	}
	*out = (uint64_t)n;
	return DBS_OK;
}

int
drv_setting_bool(const json_t *settings, const char *key, int def, int *out,
    char *err, size_t errlen)
{
	const json_t *v = json_object_get(settings, key);

	if (v == NULL || json_is_null(v)) {
		*out = def;
		return DBS_OK;
	}
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "%s: expected true or false", key);
		return DBS_ECONFIG;
	}
	*out = json_is_true(v);
	return DBS_OK;
}

int
drv_settings_only(
    const json_t *settings, const char *const *keys, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	if (!json_is_object(settings)) {
		snprintf(err, errlen, "expected an object");
		return DBS_ECONFIG;
	}
	json_object_foreach((json_t *)settings, key, v)
	{
		size_t i;
		bool known = strcmp(key, "name") == 0 ||
			     strcmp(key, "type") == 0 ||
			     strcmp(key, "description") == 0 || key[0] == '_';

		for (i = 0; !known && keys != NULL && keys[i] != NULL; i++)
			known = strcmp(key, keys[i]) == 0;
		if (!known) {
			snprintf(err, errlen, "%s: unknown setting", key);
			return DBS_ECONFIG;
		}
	}
	return DBS_OK;
}

/* ------------------------------------------------------------------ log */

/* Without a flush callback the buffer stops growing here (entries past it
 * are dropped and counted in one closing entry). */
#define LOG_HARD_CAP (10 * DRV_LOG_FLUSH_AT)

/* A level outside enum drv_level for the one entry that reports dropped
 * entries: it may pass the cap. */
#define DRV_LOG_OVERFLOW ((enum drv_level)100)

static struct {
	Dbs__LogEntry **v;
	size_t n, cap;
	size_t dropped;
	void (*flush)(void *arg);
	void *arg;
	bool flushing;
} logbuf;

void
drv_log_set_flush(void (*flush)(void *arg), void *arg)
{
	logbuf.flush = flush;
	logbuf.arg = arg;
}

static void log_forced(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

Dbs__LogEntry **
drv_log_entries(size_t *n)
{
	if (logbuf.dropped > 0) {
		size_t dropped = logbuf.dropped;

		logbuf.dropped = 0;
		log_forced("%zu log entries were dropped (more than %d "
			   "buffered)",
		    dropped, LOG_HARD_CAP);
	}
	*n = logbuf.n;
	return logbuf.v;
}

static void
entry_free(Dbs__LogEntry *e)
{
	if (e == NULL)
		return;
	if (e->message != protobuf_c_empty_string)
		free(e->message);
	if (e->step != protobuf_c_empty_string)
		free(e->step);
	free(e);
}

void
drv_log_clear(void)
{
	size_t i;

	for (i = 0; i < logbuf.n; i++)
		entry_free(logbuf.v[i]);
	logbuf.n = 0;
	logbuf.dropped = 0;
	if (logbuf.cap > 4 * DRV_LOG_FLUSH_AT) {
		free(logbuf.v);
		logbuf.v = NULL;
		logbuf.cap = 0;
	}
}

/* Cut `s` to at most `max` bytes without splitting a UTF-8 sequence, and
 * replace what is not UTF-8 by '?', so the entry always encodes. */
static void
log_sanitise(char *s, size_t max)
{
	size_t len = strlen(s), i;

	if (len > max) {
		len = max;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
		s[len] = '\0';
	}
	if (drv_utf8_valid(s, len))
		return;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			s[i] = '?';
}

static void
log_add(enum drv_level level, uint64_t passenger_id, const char *step,
    const char *fmt, va_list ap)
{
	Dbs__LogEntry *e;
	char msg[DRV_LOG_MAX_MSG + 1];

	if (logbuf.n >= LOG_HARD_CAP && level != DRV_LOG_OVERFLOW) {
		logbuf.dropped++;
		return;
	}
	if (level == DRV_LOG_OVERFLOW)
		level = DRV_WARNING;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_sanitise(msg, DRV_LOG_MAX_MSG);
	if (grow((void **)&logbuf.v, &logbuf.cap, logbuf.n + 1,
		sizeof(*logbuf.v)) != DBS_OK)
		return;
	e = malloc(sizeof(*e));
	if (e == NULL)
		return;
	dbs__log_entry__init(e);
	e->time_ms = wire_now_ms();
	e->level = (Dbs__LogLevel)level;
	e->passenger_id = passenger_id;
	e->message = strdup(msg);
	if (step != NULL && step[0] != '\0') {
		e->step = strdup(step);
		if (e->step != NULL)
			log_sanitise(e->step, 256);
	}
	if (e->message == NULL || e->step == NULL) {
		if (e->message == NULL)
			e->message = (char *)protobuf_c_empty_string;
		if (e->step == NULL)
			e->step = (char *)protobuf_c_empty_string;
		entry_free(e);
		return;
	}
	logbuf.v[logbuf.n++] = e;
	if (logbuf.n >= DRV_LOG_FLUSH_AT && logbuf.flush != NULL &&
	    !logbuf.flushing) {
		logbuf.flushing = true;
		logbuf.flush(logbuf.arg);
		logbuf.flushing = false;
	}
}

void
drv_log(struct drv_ctx *ctx, enum drv_level level, uint64_t passenger_id,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_add(level, passenger_id, ctx != NULL ? ctx->name : NULL, fmt, ap);
	va_end(ap);
}

void
drv_log_host(enum drv_level level, uint64_t passenger_id, const char *step,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_add(level, passenger_id, step, fmt, ap);
	va_end(ap);
}

static void
log_forced(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_add(DRV_LOG_OVERFLOW, 0, NULL, fmt, ap);
	va_end(ap);
}
