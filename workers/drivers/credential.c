/*
 * credential.c — literal or "env:NAME" secrets in driver settings (see
 * credential.h).
 */
#include "credential.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "driver.h"

int
cred_setting(const json_t *settings, const char *key, char **out, char *err,
    size_t errlen)
{
	const char *v = NULL, *name;
	int rc;

	*out = NULL;
	if (json_object_get(settings, key) == NULL)
		return DBS_OK;
	rc = drv_setting_string(settings, key, "", &v, err, errlen);
	if (rc != DBS_OK)
		return rc;
	if (strncmp(v, "env:", 4) == 0) {
		name = v + 4;
		if (name[0] == '\0') {
			snprintf(err, errlen,
			    "%s: \"env:\" needs a variable name", key);
			return DBS_ECONFIG;
		}
		v = getenv(name);
		if (v == NULL || v[0] == '\0') {
			snprintf(err, errlen,
			    "%s: environment variable %s is not set", key,
			    name);
			return DBS_ECONFIG;
		}
	}
	*out = strdup(v);
	return *out != NULL ? DBS_OK : DBS_ENOMEM;
}

void
cred_free(char *secret)
{
	if (secret == NULL)
		return;
	explicit_bzero(secret, strlen(secret));
	free(secret);
}
