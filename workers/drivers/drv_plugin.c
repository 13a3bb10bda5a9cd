/*
 * drv_plugin.c — the `plugin` puller, processor and pusher: drivers from
 * shared objects built against databus/plugin.h.
 *
 * The configuration names the file (`path`, relative to the
 * configuration's folder, which is the worker's working directory) and,
 * when the plugin has several drivers of the kind, which one (`driver`).
 * Only that file is loaded: a relative path is made absolute first, so
 * dlopen never searches LD_LIBRARY_PATH or the system folders. Before any
 * plugin code is called, its exported `databus_plugin_abi` must equal this
 * worker's DATABUS_PLUGIN_ABI; a mismatch is a configuration error naming
 * both versions. The whole entry goes to the plugin's init() as JSON text:
 * the plugin validates its own settings.
 *
 * The opaque types of the SDK are the worker's own (struct dbp_ctx is a
 * struct drv_ctx, and so on); the host table below only forwards.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "databus/plugin.h"
#include "dbs_error.h"
#include "driver.h"

/* ------------------------------------------------------------ the host */

static const char *
h_name(const struct dbp_ctx *c)
{
	return drv_name((const struct drv_ctx *)c);
}

static const char *
h_client(const struct dbp_ctx *c)
{
	return drv_client((const struct drv_ctx *)c);
}

static const char *
h_definition(const struct dbp_ctx *c)
{
	return drv_definition((const struct drv_ctx *)c);
}

static const char *
h_data_dir(const struct dbp_ctx *c)
{
	return drv_data_dir((const struct drv_ctx *)c);
}

static void
h_log(struct dbp_ctx *c, enum dbp_level level, uint64_t pid, const char *msg)
{
	enum drv_level l =
	    level <= DBP_ERROR_LEVEL ? (enum drv_level)level : DRV_ERROR;

	drv_log((struct drv_ctx *)c, l, pid, "%s", msg != NULL ? msg : "");
}

static int
h_emit(struct dbp_sink *sink, const char *external_id, const char *source_ref,
    const struct dbp_kv *md, size_t n_md, const struct dbp_attachment *atts,
    size_t n_atts)
{
	/* struct dbp_kv / dbp_attachment have the layout of drv_kv /
	 * drv_attachment (checked below). */
	int rc = drv_emit((struct drv_sink *)sink, external_id, source_ref,
	    (const struct drv_kv *)md, n_md,
	    (const struct drv_attachment *)atts, n_atts);

	if (rc == DBS_OK)
		return DBP_OK;
	if (rc == 1)
		return DBP_ENOUGH;
	if (rc == DBS_EINVAL || rc == DBS_ETOOBIG)
		return DBP_INVALID;
	return DBP_ERROR;
}

_Static_assert(
    sizeof(struct dbp_kv) == sizeof(struct drv_kv) &&
	offsetof(struct dbp_kv, value) == offsetof(struct drv_kv, value),
    "dbp_kv and drv_kv differ");
_Static_assert(
    sizeof(struct dbp_attachment) == sizeof(struct drv_attachment) &&
	offsetof(struct dbp_attachment, len) ==
	    offsetof(struct drv_attachment, len) &&
	offsetof(struct dbp_attachment, data) ==
	    offsetof(struct drv_attachment, data),
    "dbp_attachment and drv_attachment differ");

#define P(p) ((const struct drv_passenger *)(p))

static uint64_t
h_pid(const struct dbp_passenger *p)
{
	return P(p)->id;
}

static const char *
h_external_id(const struct dbp_passenger *p)
{
	return P(p)->external_id;
}

static const char *
h_puller(const struct dbp_passenger *p)
{
	return P(p)->puller;
}

static uint32_t
h_attempts(const struct dbp_passenger *p)
{
	return P(p)->attempts;
}

static size_t
h_md_count(const struct dbp_passenger *p)
{
	return P(p)->n_metadata;
}

static int
h_md_at(const struct dbp_passenger *p, size_t i, struct dbp_kv *kv)
{
	if (i >= P(p)->n_metadata)
		return DBP_INVALID;
	kv->key = P(p)->metadata[i].key;
	kv->value = P(p)->metadata[i].value;
	return DBP_OK;
}

static const char *
h_md_get(const struct dbp_passenger *p, const char *key)
{
	for (size_t i = 0; key != NULL && i < P(p)->n_metadata; i++)
		if (strcmp(P(p)->metadata[i].key, key) == 0)
			return P(p)->metadata[i].value;
	return NULL;
}

static size_t
h_att_count(const struct dbp_passenger *p)
{
	return P(p)->n_attachments;
}

static int
h_att_at(const struct dbp_passenger *p, size_t i, struct dbp_attachment *out)
{
	if (i >= P(p)->n_attachments)
		return DBP_INVALID;
	memcpy(out, &P(p)->attachments[i], sizeof(*out));
	return DBP_OK;
}

static int
h_att_get(const struct dbp_passenger *p, const char *name,
    struct dbp_attachment *out)
{
	for (size_t i = 0; name != NULL && i < P(p)->n_attachments; i++)
		if (strcmp(P(p)->attachments[i].name, name) == 0)
			return h_att_at(p, i, out);
	return DBP_INVALID;
}

static int
h_edit_md(struct dbp_edit *e, const char *key, const char *value)
{
	int rc = drv_edit_metadata((struct drv_edit *)e, key, value);

	return rc == DBS_OK       ? DBP_OK
	       : rc == DBS_EINVAL ? DBP_INVALID
				  : DBP_ERROR;
}

static int
h_edit_att(struct dbp_edit *e, const char *name, const char *ct,
    const void *data, size_t len)
{
	int rc =
	    drv_edit_attachment((struct drv_edit *)e, name, ct, data, len);

	return rc == DBS_OK                            ? DBP_OK
	       : rc == DBS_EINVAL || rc == DBS_ETOOBIG ? DBP_INVALID
						       : DBP_ERROR;
}

static void
h_retry_after(struct dbp_ctx *c, uint64_t ms)
{
	drv_retry_after((struct drv_ctx *)c, ms);
}

static const struct dbp_host host = {
    .abi = DATABUS_PLUGIN_ABI,
    .size = sizeof(struct dbp_host),
    .name = h_name,
    .client = h_client,
    .definition = h_definition,
    .data_dir = h_data_dir,
    .log = h_log,
    .emit = h_emit,
    .passenger_id = h_pid,
    .passenger_external_id = h_external_id,
    .passenger_puller = h_puller,
    .passenger_attempts = h_attempts,
    .metadata_count = h_md_count,
    .metadata_at = h_md_at,
    .metadata_get = h_md_get,
    .attachment_count = h_att_count,
    .attachment_at = h_att_at,
    .attachment_get = h_att_get,
    .edit_metadata = h_edit_md,
    .edit_attachment = h_edit_att,
    .retry_after = h_retry_after,
};

/* ------------------------------------------------------------ loading */

struct plugin_inst {
	void *dl;
	const struct dbp_driver *d;
	void *state;
};

static void
inst_free(struct plugin_inst *pi)
{
	if (pi == NULL)
		return;
	if (pi->d != NULL && pi->d->fini != NULL)
		pi->d->fini(pi->state);
	if (pi->dl != NULL)
		dlclose(pi->dl);
	free(pi);
}

static const char *
kind_name(enum drv_kind k)
{
	return k == DRV_PULLER      ? "puller"
	       : k == DRV_PROCESSOR ? "processor"
				    : "pusher";
}

static int
plugin_init(struct drv_ctx *ctx, const json_t *settings, void **state,
    char *err, size_t errlen, enum drv_kind kind)
{
	const char *path, *want;
	const struct dbp_plugin *pl;
	const struct dbp_plugin *(*entry)(const struct dbp_host *);
	const uint32_t *abi;
	struct plugin_inst *pi;
	char real[PATH_MAX], *text;
	struct stat st;
	size_t n_match = 0;
	int rc;

	*state = NULL;
	if ((rc = drv_setting_string(
		 settings, "path", NULL, &path, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_string(
		 settings, "driver", "", &want, err, errlen)) != DBS_OK)
		return rc;
	if (realpath(path, real) == NULL || stat(real, &st) != 0 ||
	    !S_ISREG(st.st_mode)) {
		snprintf(err, errlen,
		    "path: \"%s\" is not a file (relative paths are "
		    "relative to the configuration's folder)",
		    path);
		return DBS_ECONFIG;
	}
	if ((pi = calloc(1, sizeof(*pi))) == NULL)
		return DBS_ENOMEM;
	pi->dl = dlopen(real, RTLD_NOW | RTLD_LOCAL);
	if (pi->dl == NULL) {
		snprintf(err, errlen, "path: cannot load \"%s\": %s", path,
		    dlerror());
		goto config;
	}
	abi = dlsym(pi->dl, DATABUS_PLUGIN_ABI_SYMBOL);
	entry = (const struct dbp_plugin *(*)(const struct dbp_host *))dlsym(
	    pi->dl, DATABUS_PLUGIN_SYMBOL);
	if (abi == NULL || entry == NULL) {
		snprintf(err, errlen,
		    "path: \"%s\" is not a Databus plugin (it does not export "
		    "%s and %s)",
		    path, DATABUS_PLUGIN_ABI_SYMBOL, DATABUS_PLUGIN_SYMBOL);
		goto config;
	}
	if (*abi != DATABUS_PLUGIN_ABI) {
		snprintf(err, errlen,
		    "path: \"%s\" was built for plugin ABI %u, this "
		    "databus-worker has ABI %u: rebuild it against this "
		    "version's databus/plugin.h",
		    path, (unsigned)*abi, (unsigned)DATABUS_PLUGIN_ABI);
		goto config;
	}
	pl = entry(&host);
	if (pl == NULL || pl->abi != DATABUS_PLUGIN_ABI ||
	    pl->drivers == NULL) {
		snprintf(err, errlen,
		    "path: \"%s\" refused this databus-worker (ABI %u)", path,
		    (unsigned)DATABUS_PLUGIN_ABI);
		goto config;
	}
	for (size_t i = 0; pl->drivers[i] != NULL; i++) {
		const struct dbp_driver *d = pl->drivers[i];

		if ((int)d->kind != (int)kind || d->type == NULL ||
		    (want[0] != '\0' && strcmp(d->type, want) != 0))
			continue;
		pi->d = d;
		n_match++;
	}
	if (n_match != 1) {
		snprintf(err, errlen,
		    n_match == 0 ? "driver: plugin %s has no %s%s%s%s"
				 : "driver: plugin %s has several %ss; name "
				   "one with \"driver\"%s%s%s",
		    pl->name != NULL ? pl->name : path, kind_name(kind),
		    want[0] != '\0' ? " named \"" : "", want,
		    want[0] != '\0' ? "\"" : "");
		pi->d = NULL;
		goto config;
	}
	if (pi->d->init == NULL) {
		snprintf(err, errlen, "driver: %s has no init()", pi->d->type);
		pi->d = NULL;
		goto config;
	}
	text = json_dumps(settings, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL) {
		pi->d = NULL;
		inst_free(pi);
		return DBS_ENOMEM;
	}
	err[0] = '\0';
	rc = pi->d->init((struct dbp_ctx *)ctx, text, &pi->state, err, errlen);
	free(text);
	if (rc != DBP_OK) {
		if (err[0] == '\0')
			snprintf(
			    err, errlen, "the plugin refused its settings");
		pi->d = NULL; /* no fini after a failed init */
		goto config;
	}
	*state = pi;
	return DBS_OK;
config:
	inst_free(pi);
	return DBS_ECONFIG;
}

static int
init_puller(struct drv_ctx *ctx, const json_t *settings, void **state,
    char *err, size_t errlen)
{
	return plugin_init(ctx, settings, state, err, errlen, DRV_PULLER);
}

static int
init_processor(struct drv_ctx *ctx, const json_t *settings, void **state,
    char *err, size_t errlen)
{
	return plugin_init(ctx, settings, state, err, errlen, DRV_PROCESSOR);
}

static int
init_pusher(struct drv_ctx *ctx, const json_t *settings, void **state,
    char *err, size_t errlen)
{
	return plugin_init(ctx, settings, state, err, errlen, DRV_PUSHER);
}

static int
p_pull(void *state, struct drv_ctx *ctx, struct drv_sink *sink)
{
	struct plugin_inst *pi = state;

	if (pi->d->pull == NULL)
		return DBS_OK;
	return pi->d->pull(pi->state, (struct dbp_ctx *)ctx,
		   (struct dbp_sink *)sink) == DBP_OK
		   ? DBS_OK
		   : DBS_EDRIVER;
}

static int
p_peek(void *state, struct drv_ctx *ctx, struct drv_sink *sink)
{
	struct plugin_inst *pi = state;

	if (pi->d->peek == NULL)
		return DBS_OK;
	return pi->d->peek(pi->state, (struct dbp_ctx *)ctx,
		   (struct dbp_sink *)sink) == DBP_OK
		   ? DBS_OK
		   : DBS_EDRIVER;
}

static int
p_notify(void *state, struct drv_ctx *ctx, const char *external_id,
    const char *source_ref, char *err, size_t errlen)
{
	struct plugin_inst *pi = state;

	if (pi->d->notify == NULL)
		return DBS_OK;
	return pi->d->notify(pi->state, (struct dbp_ctx *)ctx, external_id,
		   source_ref, err, errlen) == DBP_OK
		   ? DBS_OK
		   : DBS_EDRIVER;
}

static enum drv_result
p_process(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    struct drv_edit *edit, char *err, size_t errlen)
{
	struct plugin_inst *pi = state;

	if (pi->d->process == NULL)
		return DRV_OK;
	return (enum drv_result)pi->d->process(pi->state,
	    (struct dbp_ctx *)ctx, (const struct dbp_passenger *)p,
	    (struct dbp_edit *)edit, err, errlen);
}

static enum drv_result
p_push(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    const char *key, char *err, size_t errlen)
{
	struct plugin_inst *pi = state;

	if (pi->d->push == NULL)
		return DRV_OK;
	return (enum drv_result)pi->d->push(pi->state, (struct dbp_ctx *)ctx,
	    (const struct dbp_passenger *)p, key, err, errlen);
}

static void
p_fini(void *state)
{
	inst_free(state);
}

const struct drv_ops drv_plugin_puller_ops = {
    .type = "plugin",
    .kind = DRV_PULLER,
    .init = init_puller,
    .pull = p_pull,
    .peek = p_peek,
    .notify = p_notify,
    .fini = p_fini,
};

const struct drv_ops drv_plugin_processor_ops = {
    .type = "plugin",
    .kind = DRV_PROCESSOR,
    .init = init_processor,
    .process = p_process,
    .fini = p_fini,
};

const struct drv_ops drv_plugin_pusher_ops = {
    .type = "plugin",
    .kind = DRV_PUSHER,
    .init = init_pusher,
    .push = p_push,
    .fini = p_fini,
};
