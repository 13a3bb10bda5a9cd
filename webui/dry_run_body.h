/*
 * dry_run_body.h — the JSON body of POST /api/v1/passengers/{client}/
 * {name}/dry-run, from a parsed object to the DryRun control request
 * (dry_run_body.c). A pure function of the body, like bodies.h: the
 * handler (api_dry_run.c) checks the session and the tenant around it,
 * tests/fuzz/fuzz_api_body.c calls it directly.
 *
 *   {"passenger": ID}
 *   {"samples": [{"name", "content_type"?, "text" | "base64"}],
 *    "metadata"?: {k: "v"}}
 *   either with "push"?: "PUSHER"
 */
#ifndef DBS_WEB_DRY_RUN_BODY_H
#define DBS_WEB_DRY_RUN_BODY_H

#include <jansson.h>
#include <stddef.h>

#include "databus.pb-c.h"

#define WEB_DRY_SAMPLES_MAX  64
#define WEB_DRY_METADATA_MAX 64
/* The arena needs the body's length plus this much. */
#define WEB_DRY_ARENA_EXTRA 4096

/*
 * Where the request is built. The caller sets `arena` to a buffer of
 * `cap` bytes, at least the body's length plus WEB_DRY_ARENA_EXTRA: every
 * name, text and decoded body is copied there (a JSON string never
 * decodes longer than it is written), so `dr` stays valid as long as the
 * arena and this struct do, whatever happens to the JSON object.
 */
struct web_dry_body {
	Dbs__DryRun dr; /* client and definition are the caller's */
	Dbs__Attachment att[WEB_DRY_SAMPLES_MAX];
	Dbs__Attachment *attp[WEB_DRY_SAMPLES_MAX];
	Dbs__KeyValue kv[WEB_DRY_METADATA_MAX];
	Dbs__KeyValue *kvp[WEB_DRY_METADATA_MAX];
	char push[65];
	char *arena;
	size_t used, cap;
};

/* Fill j->dr from `body`: NULL when it is good, else the message of the
 * 400 answer. Accepted: exactly one of a positive passenger id and 1 to
 * 64 samples, each named (1 to 255 bytes, no '/') with a text or base64
 * body; metadata only with samples; push a name under 65 bytes. */
const char *web_dry_run_body(const json_t *body, struct web_dry_body *j);

#endif
