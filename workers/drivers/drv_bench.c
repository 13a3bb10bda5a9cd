/*
 * drv_bench.c — the `bench` puller: emits `count` synthetic passengers
 * ("<prefix>-<n>", n from 0) over the worker's lifetime, for throughput
 * benchmarks of the whole bus.
 *
 * Everything is prepared at init (the attachment body is one buffer shared
 * by every item), so a pull costs one snprintf and one drv_emit per item.
 * The counter lives in memory only: after a worker restart the sequence
 * starts over from 0 and the queue's dedup drops the repeats.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "driver.h"

#define BENCH_MAX_SIZE (16u << 20)

struct bench {
	uint64_t count;
	uint64_t per_drive; /* 0: everything in the first drive */
	uint64_t next;      /* next n to emit */
	char *prefix;
	void *data;
	size_t size;
};

static int
bench_init(struct drv_ctx *ctx, const json_t *settings, void **state,
    char *err, size_t errlen)
{
	static const char *const keys[] = {
	    "count", "size", "prefix", "per_drive", NULL};
	static const char pattern[] = "databus bench payload ";
	struct bench *b;
	uint64_t count, size, per_drive;
	const char *prefix;
	size_t i;
	int rc;

	*state = NULL;
	rc = drv_settings_only(settings, keys, err, errlen);
	if (rc != DBS_OK)
		return rc;
	if (json_object_get(settings, "count") == NULL) {
		snprintf(err, errlen, "count: missing");
		return DBS_ECONFIG;
	}
	rc = drv_setting_uint(
	    settings, "count", 0, 0, UINT32_MAX, &count, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_uint(settings, "size", 1024, 0,
		    BENCH_MAX_SIZE, &size, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_uint(settings, "per_drive", 0, 0, UINT32_MAX,
		    &per_drive, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_string(
		    settings, "prefix", "b", &prefix, err, errlen);
	if (rc != DBS_OK)
		return rc;
	if (prefix[0] == '\0' || strlen(prefix) > 64 ||
	    !drv_utf8_valid(prefix, strlen(prefix))) {
		snprintf(err, errlen,
		    "prefix: expected 1 to 64 bytes of UTF-8 text");
		return DBS_ECONFIG;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return DBS_ENOMEM;
	b->count = count;
	b->per_drive = per_drive;
	b->size = size;
	b->prefix = strdup(prefix);
	b->data = malloc(size > 0 ? size : 1);
	if (b->prefix == NULL || b->data == NULL) {
		free(b->prefix);
		free(b->data);
		free(b);
		return DBS_ENOMEM;
	}
	for (i = 0; i < size; i++)
		((char *)b->data)[i] = pattern[i % (sizeof(pattern) - 1)];
	*state = b;
	return DBS_OK;
}

/* Emit items from b->next on, up to the per-drive share; advance the
 * counter only when `consume`. */
static int
bench_emit(struct bench *b, struct drv_sink *sink, int consume)
{
	struct drv_attachment att = {
	    .name = "data.bin",
	    .content_type = "application/octet-stream",
	    .data = b->data,
	    .len = b->size,
	};
	uint64_t n = b->next, end = b->count;
	char id[96], num[24];
	struct drv_kv kv = {.key = "n", .value = num};
	int rc;

	if (b->per_drive != 0 && end - n > b->per_drive)
		end = n + b->per_drive;
	for (; n < end; n++) {
		snprintf(id, sizeof(id), "%s-%llu", b->prefix,
		    (unsigned long long)n);
		snprintf(num, sizeof(num), "%llu", (unsigned long long)n);
		rc = drv_emit(sink, id, id, &kv, 1, &att, 1);
		if (rc == 1)
			break;
		if (rc != DBS_OK)
			return rc;
		if (consume)
			b->next = n + 1;
	}
	return DBS_OK;
}

static int
bench_pull(void *state, struct drv_ctx *ctx, struct drv_sink *sink)
{
	return bench_emit(state, sink, 1);
}

static int
bench_peek(void *state, struct drv_ctx *ctx, struct drv_sink *sink)
{
	return bench_emit(state, sink, 0);
}

static int
bench_notify(void *state, struct drv_ctx *ctx, const char *external_id,
    const char *source_ref, char *err, size_t errlen)
{
	return DBS_OK;
}

static void
bench_fini(void *state)
{
	struct bench *b = state;

	if (b == NULL)
		return;
	free(b->prefix);
	free(b->data);
	free(b);
}

const struct drv_ops drv_bench_ops = {
    .type = "bench",
    .kind = DRV_PULLER,
    .init = bench_init,
    .pull = bench_pull,
    .peek = bench_peek,
    .notify = bench_notify,
    .fini = bench_fini,
};
