/*
 * registry.c — the table of built-in drivers and the lookup by kind and
 * type (declared in driver.h). Adding a built-in driver is a file in this
 * folder, its line in workers/build.ninja and its entry here; the worker
 * and `--check` find it by drv_lookup().
 *
 * Each entry names the driver's family. The core's drivers are linked
 * into databus-worker; the others live in a family module (module.h),
 * loaded the first time drv_lookup() is asked for one of its types. The
 * outcome of that load, the module or the reason it failed, is kept for
 * the life of the process: the worker reports the reason as a
 * configuration error of the entry (drv_module_error) and exits 100, and
 * `--check` reports it for every entry of that family.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "module.h"

extern const struct drv_ops drv_demo_ops;
extern const struct drv_ops drv_bench_ops;
extern const struct drv_ops drv_dir_puller_ops;
extern const struct drv_ops drv_dir_pusher_ops;
extern const struct drv_ops drv_null_ops;
extern const struct drv_ops drv_require_attachment_ops;
extern const struct drv_ops drv_webhook_ops;
extern const struct drv_ops drv_exec_puller_ops;
extern const struct drv_ops drv_exec_processor_ops;
extern const struct drv_ops drv_exec_pusher_ops;
extern const struct drv_ops drv_plugin_puller_ops;
extern const struct drv_ops drv_plugin_processor_ops;
extern const struct drv_ops drv_plugin_pusher_ops;

#define CORE(kind, type, ops)                                                 \
	{                                                                     \
		kind, type, DRV_FAMILY_CORE, ops                              \
	}
#define IN(fam, kind, type)                                                   \
	{                                                                     \
		kind, type, fam, NULL                                         \
	}

const struct drv_builtin drv_builtins[] = {
    CORE(DRV_PULLER, "demo", &drv_demo_ops),
    CORE(DRV_PULLER, "bench", &drv_bench_ops),
    CORE(DRV_PULLER, "dir", &drv_dir_puller_ops),
    CORE(DRV_PROCESSOR, "require_attachment", &drv_require_attachment_ops),
    CORE(DRV_PUSHER, "dir", &drv_dir_pusher_ops),
    CORE(DRV_PUSHER, "null", &drv_null_ops),
    CORE(DRV_PULLER, "webhook", &drv_webhook_ops),
    CORE(DRV_PULLER, "exec", &drv_exec_puller_ops),
    CORE(DRV_PROCESSOR, "exec", &drv_exec_processor_ops),
    CORE(DRV_PUSHER, "exec", &drv_exec_pusher_ops),
    CORE(DRV_PULLER, "plugin", &drv_plugin_puller_ops),
    CORE(DRV_PROCESSOR, "plugin", &drv_plugin_processor_ops),
    CORE(DRV_PUSHER, "plugin", &drv_plugin_pusher_ops),
    IN("http", DRV_PUSHER, "http"),
    IN("http", DRV_PULLER, "http_poll"),
    IN("mail", DRV_PULLER, "imap"),
    IN("mail", DRV_PUSHER, "smtp"),
    IN("pg", DRV_PUSHER, "postgres"),
    {0, NULL, NULL, NULL},
};

/* What became of each family's module in this process. */
static struct family {
	const char *name;
	bool tried;
	const struct drv_module *module; /* NULL when it failed */
	char error[512];
} families[] = {{"http"}, {"mail"}, {"pg"}};

static const struct drv_builtin *
builtin(enum drv_kind kind, const char *type)
{
	size_t i;

	if (type == NULL)
		return NULL;
	for (i = 0; drv_builtins[i].type != NULL; i++)
		if (drv_builtins[i].kind == kind &&
		    strcmp(drv_builtins[i].type, type) == 0)
			return &drv_builtins[i];
	return NULL;
}

/* The family of `b`, its module loaded (or its failure noted) once. */
static struct family *
family_of(const struct drv_builtin *b)
{
	struct family *f = NULL;
	size_t i;

	for (i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		if (strcmp(families[i].name, b->family) == 0)
			f = &families[i];
	if (f == NULL)
		abort(); /* a family missing from the table above */
	if (!f->tried) {
		f->tried = true;
		f->module =
		    drv_module_load(f->name, f->error, sizeof(f->error));
	}
	return f;
}

const struct drv_ops *
drv_lookup(enum drv_kind kind, const char *type)
{
	const struct drv_builtin *b = builtin(kind, type);
	const struct family *f;
	size_t i;

	if (b == NULL || b->ops != NULL)
		return b != NULL ? b->ops : NULL;
	f = family_of(b);
	if (f->module == NULL)
		return NULL;
	for (i = 0; f->module->ops[i] != NULL; i++)
		if (f->module->ops[i]->kind == kind &&
		    strcmp(f->module->ops[i]->type, type) == 0)
			return f->module->ops[i];
	return NULL;
}

int
drv_module_error(
    enum drv_kind kind, const char *type, char *err, size_t errlen)
{
	const struct drv_builtin *b = builtin(kind, type);
	const struct family *f;

	if (b == NULL || b->ops != NULL)
		return 0;
	f = family_of(b);
	if (f->module == NULL)
		snprintf(err, errlen, "%s", f->error);
	else
		snprintf(err, errlen,
		    "driver module \"%s\" has no driver \"%s\" of this kind "
		    "(a module of another build?)",
		    f->name, type);
	return 1;
}
