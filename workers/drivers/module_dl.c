/*
 * module_dl.c — drv_module_load (module.h) for databus-worker: a driver
 * family's shared object, opened with dlopen.
 *
 * The file is <folder>/<family>.so where the folder is
 * $DATABUS_DRIVER_DIR (an absolute path; packaging points it at
 * /usr/lib/databus/drivers) or else `drivers` next to the running
 * databus-worker (/proc/self/exe), which is where the build puts them
 * (build/drivers, build/asan/drivers). The family name comes from the
 * registry's own table, and the path always holds a slash, so dlopen
 * never searches LD_LIBRARY_PATH or the system folders.
 *
 * RTLD_NOW finds an unresolved symbol at once (a module of another build)
 * instead of in the middle of a drive; RTLD_LOCAL keeps a module's
 * libraries out of the way of plugins and of the other modules. A module
 * that loaded is never dlclose()d: its drivers may run until the worker
 * exits, nothing is gained by unmapping it at exit, and LeakSanitizer,
 * which reports at exit, could no longer name the functions of a module
 * unloaded before then.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "module.h"

/* The folder of the modules into `dir`; 0, or -1 with `err` set. */
static int
module_dir(char *dir, size_t len, char *err, size_t errlen)
{
	const char *env = secure_getenv("DATABUS_DRIVER_DIR");
	ssize_t n;
	char *slash;

	if (env != NULL && env[0] != '\0') {
		if (env[0] != '/') {
			snprintf(err, errlen,
			    "DATABUS_DRIVER_DIR \"%s\" is not an absolute "
			    "path",
			    env);
			return -1;
		}
		if ((size_t)snprintf(dir, len, "%s", env) >= len) {
			snprintf(
			    err, errlen, "DATABUS_DRIVER_DIR is too long");
			return -1;
		}
		return 0;
	}
	n = readlink("/proc/self/exe", dir, len - 1);
	if (n <= 0 || (size_t)n >= len - 1) {
		snprintf(err, errlen,
		    "cannot find the folder of databus-worker "
		    "(/proc/self/exe); set DATABUS_DRIVER_DIR");
		return -1;
	}
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (slash == NULL ||
	    (size_t)(slash - dir) + sizeof("/drivers") > len) {
		snprintf(
		    err, errlen, "odd path of databus-worker \"%s\"", dir);
		return -1;
	}
	memcpy(slash, "/drivers", sizeof("/drivers"));
	return 0;
}

const struct drv_module *
drv_module_load(const char *family, char *err, size_t errlen)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], sym[64];
	const struct drv_module *m;
	void *dl;

	if (module_dir(dir, sizeof(dir), err, errlen) != 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s.so", dir, family);
	snprintf(sym, sizeof(sym), "drv_module_%s", family);
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		snprintf(err, errlen, "driver module %s did not load: %s",
		    path, dlerror());
		return NULL;
	}
	m = dlsym(dl, sym);
	if (m == NULL) {
		snprintf(err, errlen,
		    "driver module %s is not a Databus driver module "
		    "(no symbol %s)",
		    path, sym);
		goto refuse;
	}
	if (m->abi != DRV_MODULE_ABI ||
	    m->ops_size != (uint32_t)sizeof(struct drv_ops) ||
	    m->family == NULL || strcmp(m->family, family) != 0 ||
	    m->ops == NULL) {
		snprintf(err, errlen,
		    "driver module %s belongs to another build of "
		    "databus-worker (module ABI %u, this worker's %u)",
		    path, (unsigned)m->abi, (unsigned)DRV_MODULE_ABI);
		goto refuse;
	}
	return m; /* never unloaded, see above */
refuse:
	dlclose(dl);
	return NULL;
}
