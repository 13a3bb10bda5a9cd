/*
 * drv_webhook.c — the worker's side of the `webhook` puller.
 *
 * Webhook deliveries never pass through the worker: databus-web receives
 * them and databusd verifies and seats them (supervisor/webhook.c), so
 * that a 202 can be answered as soon as the passenger is durable. What is
 * left here is validating the settings (run by `databus-worker --check`
 * before a configuration is accepted) and a pull that has nothing to do.
 * The limits below must match what databusd and databus-web enforce.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "dbs_limits.h"
#include "driver.h"

static bool
header_name_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 100)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			(*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

/* `key` ("secret", "token") given in clear (`v`) or by the environment
 * variable `env` ("<key>_env"): at most one, long enough, set. */
static int
check_key(
    const char *v, const char *env, const char *key, char *err, size_t errlen)
{
	if (v[0] != '\0' && env[0] != '\0') {
		snprintf(err, errlen,
		    "%s: set only one of \"%s\" and \"%s_env\"", key, key,
		    key);
		return DBS_ECONFIG;
	}
	if (env[0] != '\0') {
		v = getenv(env);
		if (v == NULL) {
			snprintf(err, errlen,
			    "%s_env: environment variable \"%s\" is not set",
			    key, env);
			return DBS_ECONFIG;
		}
	}
	if ((v[0] != '\0' || env[0] != '\0') && strlen(v) < 16) {
		snprintf(err, errlen,
		    "%s%s: too short (at least 16 characters)", key,
		    env[0] != '\0' ? "_env" : "");
		return DBS_ECONFIG;
	}
	return DBS_OK;
}

static int
webhook_init(struct drv_ctx *ctx, const json_t *settings, void **state,
    char *err, size_t errlen)
{
	static const char *const keys[] = {"secret", "secret_env",
	    "signature_header", "signature_prefix", "token", "token_env",
	    "token_header", "event_header", "delivery_header", "max_body",
	    NULL};
	static const char *const headers[] = {"signature_header",
	    "token_header", "event_header", "delivery_header", NULL};
	const char *secret, *secret_env, *token, *token_env, *v;
	uint64_t max_body;
	int rc;

	*state = NULL;
	if ((rc = drv_settings_only(settings, keys, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_string(
		 settings, "secret", "", &secret, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_string(settings, "secret_env", "", &secret_env,
		 err, errlen)) != DBS_OK ||
	    (rc = drv_setting_string(
		 settings, "token", "", &token, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_string(settings, "token_env", "", &token_env,
		 err, errlen)) != DBS_OK ||
	    (rc = drv_setting_string(settings, "signature_prefix",
		 "sha256=", &v, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_uint(settings, "max_body",
		 DBS_WEBHOOK_DEFAULT_BODY, 1, DBS_WEBHOOK_MAX_BODY, &max_body,
		 err, errlen)) != DBS_OK)
		return rc;
	if (secret[0] == '\0' && secret_env[0] == '\0' && token[0] == '\0' &&
	    token_env[0] == '\0') {
		snprintf(err, errlen,
		    "secret: set \"secret\" or \"secret_env\" (a signed "
		    "body), \"token\" or \"token_env\" (a shared token "
		    "header), or both");
		return DBS_ECONFIG;
	}
	if ((rc = check_key(secret, secret_env, "secret", err, errlen)) !=
		DBS_OK ||
	    (rc = check_key(token, token_env, "token", err, errlen)) != DBS_OK)
		return rc;
	for (size_t i = 0; headers[i] != NULL; i++) {
		if ((rc = drv_setting_string(settings, headers[i], "x", &v,
			 err, errlen)) != DBS_OK)
			return rc;
		if (!header_name_ok(v)) {
			snprintf(
			    err, errlen, "%s: not a header name", headers[i]);
			return DBS_ECONFIG;
		}
	}
	return DBS_OK;
}

static void
webhook_fini(void *state)
{
	(void)state;
}

const struct drv_ops drv_webhook_ops = {
    .type = "webhook",
    .kind = DRV_PULLER,
    .init = webhook_init,
    .fini = webhook_fini,
};
