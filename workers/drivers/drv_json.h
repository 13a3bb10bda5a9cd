/*
 * drv_json.h — the JSON form of passengers and attachments, shared by the
 * drivers that talk JSON to the outside (the http pusher, the exec
 * drivers, plugins' hosts).
 *
 * An attachment is {"name", "content_type", "size", "text"} when its
 * content is UTF-8 without NUL bytes, {"name", "content_type", "size",
 * "base64"} otherwise; a passenger is {"id", "client", "definition",
 * "puller", "external_id", "metadata": {k: v}, "attachments": [...]}.
 * The same passenger always gives the same document (no attempt count:
 * a retried push must send identical bytes).
 */
#ifndef DBS_DRV_JSON_H
#define DBS_DRV_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "driver.h"

/* A new JSON object for `p` (NULL when out of memory). */
json_t *drv_json_passenger(const struct drv_passenger *p);
json_t *drv_json_attachment(const struct drv_attachment *a);

/*
 * Decode an attachment object ({"name", "content_type"?, "text" or
 * "base64"}) into *out; the name, content type and data point into `obj`
 * or into *data_out (malloc'ed, the caller frees it). Returns DBS_OK, or
 * DBS_EINVAL with the problem in `err`.
 */
int drv_json_attachment_decode(const json_t *obj, struct drv_attachment *out,
    void **data_out, char *err, size_t errlen);

/* Base64 (RFC 4648, with padding). encode returns a malloc'ed string;
 * decode returns DBS_OK with a malloc'ed buffer, or DBS_EINVAL. */
char *drv_base64_encode(const void *data, size_t len);
int drv_base64_decode(const char *s, size_t slen, void **out, size_t *len);

#endif
