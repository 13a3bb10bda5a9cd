/*
 * driver_emit.c — drv_emit(), the one way a puller hands over an item: it
 * checks what the driver gave (a non-empty external id, UTF-8 strings,
 * named attachments) before the host's sink sees it, so a driver's
 * mistake refuses that item only (DBS_EINVAL) and never reaches the wire.
 */
#include <string.h>

#include "dbs_error.h"
#include "driver.h"
#include "driver_host.h"

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
