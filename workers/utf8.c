/*
 * utf8.c — drv_utf8_valid (driver.h), the UTF-8 check of proto/utf8.h,
 * apart from driver.c so that code which needs only this (drv_json.c in
 * tests/fuzz) links without the driver registry.
 */
#include <stddef.h>

#include "driver.h"
#include "utf8.h"

/* The rule of proto/utf8.h, under the name drivers know. */
int
drv_utf8_valid(const char *str, size_t len)
{
	return dbs_utf8_valid(str, len);
}
