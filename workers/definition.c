/*
 * definition.c — creating and initialising the drivers of one passenger
 * definition (see definition.h).
 *
 * Every entry needs a non-empty "name", unique among the entries of its
 * kind (step results and puller dedup keys are matched by name), and a
 * "type" known to drv_lookup(); then the driver's own init() judges its
 * settings. Problems are reported with the JSON path of the entry so the
 * supervisor can show "file: $.passengers[0].pullers[1]: path: missing".
 */
#include "definition.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "driver_host.h"

#define N_KINDS 3

struct definition {
	struct drv_ctx **ctx[N_KINDS];
	size_t n[N_KINDS];
};

static const char *const kind_keys[N_KINDS] = {
    [DRV_PULLER] = "pullers",
    [DRV_PROCESSOR] = "processors",
    [DRV_PUSHER] = "pushers",
};

const char *
def_kind_name(enum drv_kind kind)
{
	switch (kind) {
	case DRV_PULLER:
		return "puller";
	case DRV_PROCESSOR:
		return "processor";
	case DRV_PUSHER:
		return "pusher";
	}
	return "driver";
}

static void
report(def_problem_fn problem, void *arg, enum drv_kind kind, size_t i,
    const char *suffix, const char *message)
{
	char where[128];

	if (i == (size_t)-1)
		snprintf(where, sizeof(where), ".%s", kind_keys[kind]);
	else
		snprintf(where, sizeof(where), ".%s[%zu]%s", kind_keys[kind],
		    i, suffix);
	problem(arg, where, message);
}

/* Check and initialise entry `i` of `kind`; *out is the instance, NULL if
 * the entry has a problem (already reported). */
static int
open_entry(struct definition *d, const json_t *entry, enum drv_kind kind,
    size_t i, const char *client, const char *definition, const char *data_dir,
    def_problem_fn problem, void *arg, struct drv_ctx **out)
{
	const json_t *jname = json_object_get(entry, "name");
	const json_t *jtype = json_object_get(entry, "type");
	const struct drv_ops *ops;
	struct drv_ctx *ctx;
	char err[512], msg[600];
	const char *name;
	size_t k;

	*out = NULL;
	if (!json_is_object(entry)) {
		report(problem, arg, kind, i, "", "expected an object");
		return DBS_ECONFIG;
	}
	if (jname == NULL || json_is_null(jname)) {
		report(problem, arg, kind, i, ".name", "missing");
		return DBS_ECONFIG;
	}
	if (!json_is_string(jname) || json_string_length(jname) == 0) {
		report(problem, arg, kind, i, ".name",
		    "expected a non-empty string");
		return DBS_ECONFIG;
	}
	name = json_string_value(jname);
	for (k = 0; k < d->n[kind]; k++)
		if (d->ctx[kind][k] != NULL &&
		    strcmp(drv_name(d->ctx[kind][k]), name) == 0) {
			snprintf(msg, sizeof(msg), "duplicate %s name \"%s\"",
			    def_kind_name(kind), name);
			report(problem, arg, kind, i, ".name", msg);
			return DBS_ECONFIG;
		}
	if (jtype == NULL || json_is_null(jtype)) {
		report(problem, arg, kind, i, ".type", "missing");
		return DBS_ECONFIG;
	}
	if (!json_is_string(jtype)) {
		report(problem, arg, kind, i, ".type", "expected a string");
		return DBS_ECONFIG;
	}
	ops = drv_lookup(kind, json_string_value(jtype));
	if (ops == NULL && !drv_module_error(kind, json_string_value(jtype),
			       msg, sizeof(msg)))
		snprintf(msg, sizeof(msg), "unknown %s type \"%s\"",
		    def_kind_name(kind), json_string_value(jtype));
	if (ops == NULL) {
		report(problem, arg, kind, i, ".type", msg);
		return DBS_ECONFIG;
	}
	/* drivers: deliveries to /hooks/<client>/<definition> go to one
	 * webhook puller, so a second one would never receive any. */
	if (kind == DRV_PULLER && strcmp(ops->type, "webhook") == 0)
		for (k = 0; k < d->n[kind]; k++)
			if (d->ctx[kind][k] != NULL &&
			    drv_ctx_ops(d->ctx[kind][k]) == ops) {
				report(problem, arg, kind, i, ".type",
				    "only one webhook puller per definition");
				return DBS_ECONFIG;
			}
	ctx = drv_ctx_new(ops, name, client, definition, data_dir);
	if (ctx == NULL)
		return DBS_ENOMEM;
	if (drv_ctx_init(ctx, entry, err, sizeof(err)) != DBS_OK) {
		report(problem, arg, kind, i, "", err);
		drv_ctx_free(ctx);
		return DBS_ECONFIG;
	}
	*out = ctx;
	return DBS_OK;
}

int
def_open(const json_t *def, const char *client, const char *definition,
    const char *data_dir, bool all, def_problem_fn problem, void *arg,
    struct definition **out)
{
	struct definition *d;
	int rc = DBS_OK;
	int kind;

	*out = NULL;
	if (!json_is_object(def)) {
		problem(arg, "", "expected an object");
		return DBS_ECONFIG;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return DBS_ENOMEM;
	for (kind = 0; kind < N_KINDS; kind++) {
		const json_t *arr = json_object_get(def, kind_keys[kind]);
		size_t i, n;

		if (arr == NULL || json_is_null(arr))
			continue;
		if (!json_is_array(arr)) {
			report(problem, arg, kind, (size_t)-1, "",
			    "expected an array");
			rc = DBS_ECONFIG;
			if (!all)
				goto fail;
			continue;
		}
		n = json_array_size(arr);
		d->ctx[kind] = calloc(n > 0 ? n : 1, sizeof(*d->ctx[kind]));
		if (d->ctx[kind] == NULL) {
			rc = DBS_ENOMEM;
			goto fail;
		}
		for (i = 0; i < n; i++) {
			int r = open_entry(d, json_array_get(arr, i), kind, i,
			    client, definition, data_dir, problem, arg,
			    &d->ctx[kind][d->n[kind]]);

			if (r == DBS_ENOMEM) {
				rc = r;
				goto fail;
			}
			if (r != DBS_OK) {
				rc = r;
				if (!all)
					goto fail;
				continue;
			}
			d->n[kind]++;
		}
	}
	if (rc != DBS_OK)
		goto fail;
	*out = d;
	return DBS_OK;
fail:
	def_close(d);
	return rc;
}

void
def_close(struct definition *d)
{
	int kind;
	size_t i;

	if (d == NULL)
		return;
	for (kind = 0; kind < N_KINDS; kind++) {
		for (i = 0; i < d->n[kind]; i++)
			drv_ctx_free(d->ctx[kind][i]);
		free(d->ctx[kind]);
	}
	free(d);
}

size_t
def_count(const struct definition *d, enum drv_kind kind)
{
	return d->n[kind];
}

struct drv_ctx *
def_get(const struct definition *d, enum drv_kind kind, size_t i)
{
	return i < d->n[kind] ? d->ctx[kind][i] : NULL;
}

struct drv_ctx *
def_find(const struct definition *d, enum drv_kind kind, const char *name)
{
	size_t i;

	for (i = 0; i < d->n[kind]; i++)
		if (strcmp(drv_name(d->ctx[kind][i]), name) == 0)
			return d->ctx[kind][i];
	return NULL;
}
