/*
 * driver_instance.c — a driver instance (struct drv_ctx): one configured
 * entry of a passenger definition around its vtable. The host creates it,
 * runs init() with the entry's settings, calls into the driver through
 * drv_ctx_pull/peek/notify/process/push (a missing vtable entry is a no-op
 * success, and a failure always comes back with a message), and frees it
 * with fini(). Drivers see the instance only through the accessors of
 * driver.h (names, data dir, drv_retry_after).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "driver.h"
#include "driver_host.h"

#define DRV_DRY_DESC_MAX 4096

struct drv_ctx {
	const struct drv_ops *ops;
	char *name;
	char *client;
	char *definition;
	char *data_dir;
	void *state;
	bool initialised;
	uint64_t retry_after_ms; /* of the last process/push call */
	/* dry-run: pushes only describe (drv_ctx_set_dry) */
	bool dry;
	char dry_desc[DRV_DRY_DESC_MAX];
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
	if (ctx->dry) {
		ctx->dry_desc[0] = '\0';
		if (ctx->ops->dry_push == NULL) {
			/* Not a failure of the passenger: the dry run
			 * reports the step as not run (supervisor/dryrun.c
			 * knows this text by its start). */
			snprintf(ctx->dry_desc, sizeof(ctx->dry_desc),
			    "(not run: the %s pusher has no dry mode)",
			    ctx->ops->type);
			return DRV_OK;
		}
		return result_checked(
		    ctx->ops->dry_push(ctx->state, ctx, p, idempotency_key,
			ctx->dry_desc, sizeof(ctx->dry_desc), err, errlen),
		    err, errlen);
	}
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
	if (ctx->dry || ctx->ops->push_end == NULL)
		return DRV_OK;
	return result_checked(
	    ctx->ops->push_end(ctx->state, ctx, err, errlen), err, errlen);
}

int
drv_ctx_check(struct drv_ctx *ctx, char *err, size_t errlen)
{
	int rc;

	err[0] = '\0';
	if (!ctx->initialised || ctx->ops->check == NULL)
		return DBS_OK;
	rc = ctx->ops->check(ctx->state, ctx, err, errlen);
	if (rc != DBS_OK && err[0] == '\0')
		snprintf(err, errlen, "%s", dbs_strerror(rc));
	return rc;
}

void
drv_ctx_set_dry(struct drv_ctx *ctx)
{
	ctx->dry = true;
	ctx->dry_desc[0] = '\0';
}

const char *
drv_ctx_dry_description(const struct drv_ctx *ctx)
{
	return ctx->dry_desc;
}
