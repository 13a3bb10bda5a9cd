/*
 * driver_settings.c — the settings helpers of driver.h that every driver's
 * init() uses: read a string, a whole number in a range or a boolean from
 * its config entry with a default, and refuse keys it does not know, each
 * failure as "<key>: <problem>" (DBS_ECONFIG).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dbs_error.h"
#include "driver.h"

int
drv_setting_string(const json_t *settings, const char *key, const char *def,
    const char **out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(settings, key);

	if (v == NULL || json_is_null(v)) {
		if (def == NULL) {
			snprintf(err, errlen, "%s: missing", key);
			return DBS_ECONFIG;
		}
		*out = def;
		return DBS_OK;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "%s: expected a string", key);
		return DBS_ECONFIG;
	}
	if (def == NULL && json_string_length(v) == 0) {
		snprintf(err, errlen, "%s: must not be empty", key);
		return DBS_ECONFIG;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "%s: contains a NUL character", key);
		return DBS_ECONFIG;
	}
	*out = json_string_value(v);
	return DBS_OK;
}

int
drv_setting_uint(const json_t *settings, const char *key, uint64_t def,
    uint64_t min, uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(settings, key);
	json_int_t n;

	if (v == NULL || json_is_null(v)) {
		*out = def;
		return DBS_OK;
	}
	if (!json_is_integer(v)) {
		snprintf(err, errlen, "%s: expected a whole number", key);
		return DBS_ECONFIG;
	}
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n < min || (uint64_t)n > max) {
		snprintf(err, errlen,
		    "%s: %lld is out of range (%llu to %llu)", key,
		    (long long)n, (unsigned long long)min,
		    (unsigned long long)max);
		return DBS_ECONFIG;
	}
	*out = (uint64_t)n;
	return DBS_OK;
}

int
drv_setting_bool(const json_t *settings, const char *key, int def, int *out,
    char *err, size_t errlen)
{
	const json_t *v = json_object_get(settings, key);

	if (v == NULL || json_is_null(v)) {
		*out = def;
		return DBS_OK;
	}
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "%s: expected true or false", key);
		return DBS_ECONFIG;
	}
	*out = json_is_true(v);
	return DBS_OK;
}

int
drv_settings_only(
    const json_t *settings, const char *const *keys, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	if (!json_is_object(settings)) {
		snprintf(err, errlen, "expected an object");
		return DBS_ECONFIG;
	}
	json_object_foreach((json_t *)settings, key, v)
	{
		size_t i;
		bool known = strcmp(key, "name") == 0 ||
			     strcmp(key, "type") == 0 ||
			     strcmp(key, "description") == 0 || key[0] == '_';

		for (i = 0; !known && keys != NULL && keys[i] != NULL; i++)
			known = strcmp(key, keys[i]) == 0;
		if (!known) {
			snprintf(err, errlen, "%s: unknown setting", key);
			return DBS_ECONFIG;
		}
	}
	return DBS_OK;
}
