/*
 * drv_require_attachment.c — the `require_attachment` processor: lets a
 * passenger through only if one of its attachments has a name matching a
 * glob ("*.xlsx"). Others are completed without being pushed (DRV_SKIP),
 * with an INFO entry in the drive log saying why — a filter, not an error.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "driver.h"

struct require_attachment {
	char *pattern;
	int flags; /* fnmatch flags */
};

static int
ra_init(struct drv_ctx *ctx, const json_t *settings, void **state, char *err,
    size_t errlen)
{
	static const char *const keys[] = {"pattern", "case_sensitive", NULL};
	struct require_attachment *ra;
	const char *pattern;
	int case_sensitive;
	int rc;

	*state = NULL;
	rc = drv_settings_only(settings, keys, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_string(
		    settings, "pattern", NULL, &pattern, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_bool(settings, "case_sensitive", 0,
		    &case_sensitive, err, errlen);
	if (rc != DBS_OK)
		return rc;
	ra = calloc(1, sizeof(*ra));
	if (ra == NULL || (ra->pattern = strdup(pattern)) == NULL) {
		free(ra);
		return DBS_ENOMEM;
	}
	ra->flags = case_sensitive ? 0 : FNM_CASEFOLD;
	*state = ra;
	return DBS_OK;
}

static enum drv_result
ra_process(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    struct drv_edit *edit, char *err, size_t errlen)
{
	struct require_attachment *ra = state;
	size_t i;

	for (i = 0; i < p->n_attachments; i++)
		if (fnmatch(ra->pattern, p->attachments[i].name, ra->flags) ==
		    0)
			return DRV_OK;
	drv_log(ctx, DRV_INFO, p->id,
	    "no attachment matches \"%s\": completed without push",
	    ra->pattern);
	return DRV_SKIP;
}

static void
ra_fini(void *state)
{
	struct require_attachment *ra = state;

	if (ra == NULL)
		return;
	free(ra->pattern);
	free(ra);
}

const struct drv_ops drv_require_attachment_ops = {
    .type = "require_attachment",
    .kind = DRV_PROCESSOR,
    .init = ra_init,
    .process = ra_process,
    .fini = ra_fini,
};
