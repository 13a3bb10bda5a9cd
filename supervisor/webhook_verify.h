/*
 * webhook_verify.h — the checks of a webhook delivery that depend only on
 * the puller's settings and the delivery (webhook_verify.c): settings,
 * header lookup, HMAC-SHA-256 signature, header values kept as metadata.
 * webhook.c runs them; tests/fuzz/fuzz_webhook.c feeds them anything.
 */
#ifndef DBS_SUP_WEBHOOK_VERIFY_H
#define DBS_SUP_WEBHOOK_VERIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "databus.pb-c.h"

#define WEBHOOK_DEFAULT_MAX_BODY (1u << 20)

/* The settings of one webhook puller, read from its config entry. The
 * strings point into the settings (or the environment, for secret_env). */
struct hook_conf {
	const char *puller;
	const char *secret;
	const char *signature_header;
	const char *signature_prefix;
	const char *event_header;
	const char *delivery_header;
	uint64_t max_body;
};

/* Fill *c (all but `puller`) from a webhook puller's settings object,
 * with the defaults for what is absent or empty. */
void webhook_conf_read(const json_t *settings, struct hook_conf *c);

/* The value of header `name` (case-insensitive), or NULL. */
const char *webhook_header(const Dbs__DrvWebhook *wh, const char *name);

/* Whether the signature header carries HMAC-SHA-256(secret, body), as
 * <prefix><64 hex digits>, compared in constant time. False without a
 * secret. Needs sodium_init() first. */
bool webhook_signature_ok(
    const struct hook_conf *c, const Dbs__DrvWebhook *wh);

/* `v` when it is usable as metadata or external id: non-empty, at most
 * `max` bytes of printable ASCII; else NULL. */
const char *webhook_clean(const char *v, size_t max);

#endif
