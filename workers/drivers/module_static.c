/*
 * module_static.c — drv_module_load (module.h) for programs that link
 * every driver family in (the unit tests, through libworkers.a): the
 * families are in the program already, so nothing is loaded.
 * databus-worker links module_dl.c instead.
 */
#include <stdio.h>
#include <string.h>

#include "module.h"

extern const struct drv_module drv_module_http;
extern const struct drv_module drv_module_mail;
extern const struct drv_module drv_module_pg;

static const struct drv_module *const linked[] = {
    &drv_module_http,
    &drv_module_mail,
    &drv_module_pg,
};

const struct drv_module *
drv_module_load(const char *family, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < sizeof(linked) / sizeof(linked[0]); i++)
		if (strcmp(linked[i]->family, family) == 0)
			return linked[i];
	snprintf(
	    err, errlen, "no driver module \"%s\" in this program", family);
	return NULL;
}
