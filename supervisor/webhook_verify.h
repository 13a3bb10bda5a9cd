/*
 * webhook_verify.h — the checks of a webhook delivery that depend only on
 * the puller's settings and the delivery (webhook_verify.c): settings,
 * header lookup, HMAC-SHA-256 signature, shared token header, header
 * values kept as metadata.
 * webhook.c runs them; tests/fuzz/fuzz_webhook.c feeds them anything.
 */
#ifndef DBS_SUP_WEBHOOK_VERIFY_H
#define DBS_SUP_WEBHOOK_VERIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "databus.pb-c.h"

/* The settings of one webhook puller, read from its config entry. The
 * strings point into the settings (or the environment, for secret_env). */
struct hook_conf {
	const char *puller;
	const char *secret;
	const char *signature_header;
	const char *signature_prefix;
	const char *token; /* NULL: no shared token header checked */
	const char *token_header;
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

/* Whether the token header carries exactly the configured shared token
 * (GitLab's X-Gitlab-Token), compared in constant time (hashes of both,
 * so that not even the length leaks). False without a token. */
bool webhook_token_ok(const struct hook_conf *c, const Dbs__DrvWebhook *wh);

/* Whether the delivery passes every check its puller configures (the
 * signature when a secret is set, the token when a token is set), and
 * at least one is. */
bool webhook_authentic(const struct hook_conf *c, const Dbs__DrvWebhook *wh);

/* `v` when it is usable as metadata or external id: non-empty, at most
 * `max` bytes of printable ASCII; else NULL. */
const char *webhook_clean(const char *v, size_t max);

/* The longest delivery id or event kept as it is. */
#define WEBHOOK_VALUE_MAX 200
/* "delivery-sha256:" and 64 hex digits. */
#define WEBHOOK_ID_HASHED (16 + 64 + 1)

/* The external id of a delivery from its id header `v`: `v` itself when
 * webhook_clean() keeps it, else (longer than WEBHOOK_VALUE_MAX, or with
 * bytes that are not printable ASCII) "delivery-sha256:<hex>" of it in
 * out[WEBHOOK_ID_HASHED], so that two different ids never merge. NULL
 * for a missing or empty header (the caller then uses the body's hash). */
const char *webhook_delivery_id(const char *v, char out[WEBHOOK_ID_HASHED]);

/* A header value kept as metadata: printable ASCII as it is, any other
 * byte as '?', and a value longer than `max` cut to fit with the mark
 * " [truncated]" at its end, in out[max + 1]. NULL for a missing or empty
 * header. */
const char *webhook_metadata(const char *v, char *out, size_t max);

#endif
