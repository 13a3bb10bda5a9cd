/*
 * module.h — driver families as modules loaded on demand.
 *
 * databus-worker links only the drivers that need nothing beyond nng,
 * protobuf-c, jansson and libc (the core). The others come in families,
 * one shared object each, grouped by the libraries they pull in: `http`
 * (libcurl: the http pusher and the http_poll puller), `mail` (libcurl and
 * GMime: the imap puller and the smtp pusher) and `pg` (libpq: the
 * postgres pusher). The registry (registry.c) knows every built-in type
 * and its family, and loads a family's module the first time a
 * definition names one of its types, so an idle dir -> null worker maps
 * none of those libraries.
 *
 * A module exports one symbol, `drv_module_<family>`, a struct drv_module
 * naming its drivers. Its code calls back into the worker through
 * driver.h only (databus-worker exports those functions, see
 * host.dynlist). This is not the plugin ABI (databus/plugin.h): a module
 * belongs to the build of databus-worker next to it, and is refused when
 * its DRV_MODULE_ABI or its struct drv_ops differ.
 *
 * Where modules are found (module_dl.c): $DATABUS_DRIVER_DIR, which must
 * be an absolute path, or else the folder `drivers` next to the running
 * databus-worker; the file is <folder>/<family>.so. Never a name from a
 * configuration. A loaded module stays loaded until the process exits
 * (see module_dl.c for why it is never unloaded).
 *
 * The unit tests link every family into one archive instead
 * (module_static.c implements drv_module_load without dlopen).
 */
#ifndef DBS_DRV_MODULE_H
#define DBS_DRV_MODULE_H

#include <stddef.h>
#include <stdint.h>

#include "driver.h"

/* Bump when struct drv_module or driver.h changes incompatibly. */
#define DRV_MODULE_ABI 1

struct drv_module {
	uint32_t abi;                     /* DRV_MODULE_ABI of its build */
	uint32_t ops_size;                /* sizeof(struct drv_ops) there */
	const char *family;               /* "http", "mail", "pg" */
	const struct drv_ops *const *ops; /* NULL-terminated */
};

/* Defines the module's one exported symbol, drv_module_<family>. */
#define DRV_MODULE(fam, ...)                                                  \
	static const struct drv_ops *const drv_module_ops_[] = {              \
	    __VA_ARGS__, NULL};                                               \
	__attribute__((visibility("default")))                                \
	const struct drv_module drv_module_##fam = {DRV_MODULE_ABI,           \
	    (uint32_t)sizeof(struct drv_ops), #fam, drv_module_ops_}

/*
 * The module of `family` (a name from the registry's table, never from
 * a configuration), loaded now. Returns it, or NULL with `err` naming the
 * file and why it did not load (dlerror(), a missing symbol, another
 * build's ABI). Each call loads again: the registry caches the answer.
 */
const struct drv_module *drv_module_load(
    const char *family, char *err, size_t errlen);

#endif
