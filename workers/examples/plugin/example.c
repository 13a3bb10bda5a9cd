/*
 * example.c — an example Databus plugin (docs/plugins.md): a puller and a
 * processor, built by build.ninja into build/plugins/example.so.
 *
 *   "ticks" (puller):    emits `per_drive` passengers per pull, external
 *                        ids "<prefix>-<n>", one text attachment each;
 *   "upper" (processor): upper-cases every text/plain attachment, sets the
 *                        metadata "upper" to the number of letters changed,
 *                        and skips passengers whose metadata "skip" is
 *                        "yes".
 *
 * It uses only databus/plugin.h (and jansson for its settings); it does
 * not link against databus-worker.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "databus/plugin.h"

DATABUS_PLUGIN_DECLARE_ABI;

static const struct dbp_host *H;

/* ---------------------------------------------------------------- ticks */

struct ticks {
	char prefix[64];
	unsigned per_drive;
	unsigned long long next;
};

static int
ticks_init(struct dbp_ctx *ctx, const char *settings, void **state, char *err,
    size_t errlen)
{
	json_t *s = json_loads(settings, 0, NULL), *v;
	struct ticks *t;
	const char *key;

	if (s == NULL) {
		snprintf(err, errlen, "settings are not JSON");
		return DBP_ERROR;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		json_decref(s);
		return DBP_ERROR;
	}
	snprintf(t->prefix, sizeof(t->prefix), "tick");
	t->per_drive = 3;
	json_object_foreach(s, key, v)
	{
		if (strcmp(key, "per_drive") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > 1000) {
				snprintf(err, errlen,
				    "per_drive: expected 0 to 1000");
				goto fail;
			}
			t->per_drive = (unsigned)json_integer_value(v);
		} else if (strcmp(key, "prefix") == 0) {
			if (!json_is_string(v) ||
			    json_string_length(v) >= sizeof(t->prefix) ||
			    json_string_length(v) == 0) {
				snprintf(err, errlen,
				    "prefix: expected 1 to 63 characters");
				goto fail;
			}
			snprintf(t->prefix, sizeof(t->prefix), "%s",
			    json_string_value(v));
		} else if (strcmp(key, "name") != 0 &&
			   strcmp(key, "type") != 0 &&
			   strcmp(key, "path") != 0 &&
			   strcmp(key, "driver") != 0 && key[0] != '_') {
			snprintf(err, errlen, "%s: unknown setting", key);
			goto fail;
		}
	}
	json_decref(s);
	*state = t;
	return DBP_OK;
fail:
	json_decref(s);
	free(t);
	return DBP_ERROR;
}

static int
ticks_emit(
    struct ticks *t, struct dbp_ctx *ctx, struct dbp_sink *sink, bool advance)
{
	unsigned long long n = t->next;

	for (unsigned i = 0; i < t->per_drive; i++, n++) {
		char id[100], text[100];
		struct dbp_kv md = {"source", "example plugin"};
		struct dbp_attachment a = {"tick.txt", "text/plain", text, 0};
		int rc;

		snprintf(id, sizeof(id), "%s-%llu", t->prefix, n);
		a.len = (size_t)snprintf(text, sizeof(text), "tick %llu", n);
		rc = H->emit(sink, id, "", &md, 1, &a, 1);
		if (rc == DBP_ENOUGH)
			break;
		if (rc == DBP_ERROR)
			return DBP_ERROR;
	}
	if (advance) {
		t->next = n;
		H->log(ctx, DBP_INFO, 0, "ticked");
	}
	return DBP_OK;
}

static int
ticks_pull(void *state, struct dbp_ctx *ctx, struct dbp_sink *sink)
{
	return ticks_emit(state, ctx, sink, true);
}

static int
ticks_peek(void *state, struct dbp_ctx *ctx, struct dbp_sink *sink)
{
	return ticks_emit(state, ctx, sink, false);
}

static const struct dbp_driver ticks = {
    .type = "ticks",
    .kind = DBP_PULLER,
    .init = ticks_init,
    .pull = ticks_pull,
    .peek = ticks_peek,
    .fini = free,
};

/* ---------------------------------------------------------------- upper */

static int
upper_init(struct dbp_ctx *ctx, const char *settings, void **state, char *err,
    size_t errlen)
{
	*state = NULL;
	return DBP_OK;
}

static enum dbp_result
upper_process(void *state, struct dbp_ctx *ctx, const struct dbp_passenger *p,
    struct dbp_edit *edit, char *err, size_t errlen)
{
	const char *skip = H->metadata_get(p, "skip");
	size_t changed = 0;
	char count[32];

	if (skip != NULL && strcmp(skip, "yes") == 0)
		return DBP_RESULT_SKIP;
	for (size_t i = 0; i < H->attachment_count(p); i++) {
		struct dbp_attachment a;
		char *up;

		if (H->attachment_at(p, i, &a) != DBP_OK ||
		    a.content_type == NULL ||
		    strncmp(a.content_type, "text/plain", 10) != 0)
			continue;
		if ((up = malloc(a.len + 1)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return DBP_RESULT_RETRY;
		}
		for (size_t k = 0; k < a.len; k++) {
			char c = ((const char *)a.data)[k];

			up[k] = (char)toupper((unsigned char)c);
			changed += up[k] != c;
		}
		if (H->edit_attachment(
			edit, a.name, a.content_type, up, a.len) != DBP_OK) {
			free(up);
			snprintf(err, errlen, "cannot replace %s", a.name);
			return DBP_RESULT_RETRY;
		}
		free(up);
	}
	snprintf(count, sizeof(count), "%zu", changed);
	H->edit_metadata(edit, "upper", count);
	return DBP_RESULT_OK;
}

static const struct dbp_driver upper = {
    .type = "upper",
    .kind = DBP_PROCESSOR,
    .init = upper_init,
    .process = upper_process,
};

/* --------------------------------------------------------------- plugin */

static const struct dbp_driver *const drivers[] = {&ticks, &upper, NULL};

static const struct dbp_plugin plugin = {
    .abi = DATABUS_PLUGIN_ABI,
    .name = "example",
    .version = "1.0",
    .drivers = drivers,
};

__attribute__((visibility("default"))) const struct dbp_plugin *
databus_plugin(const struct dbp_host *host)
{
	if (host->abi != DATABUS_PLUGIN_ABI)
		return NULL;
	H = host;
	return &plugin;
}
