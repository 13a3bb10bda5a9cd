/*
 * drv_require_attachment.c — the `require_attachment` processor: lets a
 * passenger through only if one of its attachments has a name matching a
 * glob ("*.xlsx"), or one of several (["*.xlsx", "*.xls"]). Others are
 * completed without being pushed (DRV_SKIP), with an INFO entry in the drive
 * log saying why — a filter, not an error.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "driver.h"

struct require_attachment {
	char **patterns;
	size_t n;
	char *shown; /* the patterns, for the log */
	int flags;   /* fnmatch flags */
};

static void
ra_free(struct require_attachment *ra)
{
	size_t i;

	if (ra == NULL)
		return;
	for (i = 0; i < ra->n; i++)
		free(ra->patterns[i]);
	free(ra->patterns);
	free(ra->shown);
	free(ra);
}

/* "pattern": a glob, or a non-empty array of globs. */
static int
read_patterns(struct require_attachment *ra, const json_t *settings, char *err,
    size_t errlen)
{
	const json_t *v = json_object_get(settings, "pattern");
	const char *pattern;
	json_t *item;
	size_t i;
	int rc;

	if (!json_is_array(v)) {
		rc = drv_setting_string(
		    settings, "pattern", NULL, &pattern, err, errlen);
		if (rc != DBS_OK)
			return rc;
		ra->patterns = calloc(1, sizeof(*ra->patterns));
		if (ra->patterns == NULL ||
		    (ra->patterns[0] = strdup(pattern)) == NULL)
			return DBS_ENOMEM;
		ra->n = 1;
		ra->shown = json_dumps(v, JSON_ENCODE_ANY);
		return ra->shown != NULL ? DBS_OK : DBS_ENOMEM;
	}
	if (json_array_size(v) == 0) {
		snprintf(
		    err, errlen, "pattern: an empty list matches nothing");
		return DBS_ECONFIG;
	}
	ra->patterns = calloc(json_array_size(v), sizeof(*ra->patterns));
	if (ra->patterns == NULL)
		return DBS_ENOMEM;
	json_array_foreach(v, i, item)
	{
		const char *s = json_string_value(item);

		if (s == NULL || s[0] == '\0' ||
		    strlen(s) != json_string_length(item)) {
			snprintf(err, errlen,
			    "pattern[%zu]: expected a non-empty string", i);
			return DBS_ECONFIG;
		}
		if ((ra->patterns[ra->n] = strdup(s)) == NULL)
			return DBS_ENOMEM;
		ra->n++;
	}
	ra->shown = json_dumps(v, JSON_COMPACT);
	return ra->shown != NULL ? DBS_OK : DBS_ENOMEM;
}

static int
ra_init(struct drv_ctx *ctx, const json_t *settings, void **state, char *err,
    size_t errlen)
{
	static const char *const keys[] = {"pattern", "case_sensitive", NULL};
	struct require_attachment *ra;
	int case_sensitive;
	int rc;

	*state = NULL;
	rc = drv_settings_only(settings, keys, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_bool(settings, "case_sensitive", 0,
		    &case_sensitive, err, errlen);
	if (rc != DBS_OK)
		return rc;
	ra = calloc(1, sizeof(*ra));
	if (ra == NULL)
		return DBS_ENOMEM;
	rc = read_patterns(ra, settings, err, errlen);
	if (rc != DBS_OK) {
		ra_free(ra);
		return rc;
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
	size_t i, k;

	for (i = 0; i < p->n_attachments; i++)
		for (k = 0; k < ra->n; k++)
			if (fnmatch(ra->patterns[k], p->attachments[i].name,
				ra->flags) == 0)
				return DRV_OK;
	drv_log(ctx, DRV_INFO, p->id,
	    "no attachment matches %s: completed without push", ra->shown);
	return DRV_SKIP;
}

static void
ra_fini(void *state)
{
	ra_free(state);
}

const struct drv_ops drv_require_attachment_ops = {
    .type = "require_attachment",
    .kind = DRV_PROCESSOR,
    .init = ra_init,
    .process = ra_process,
    .fini = ra_fini,
};
