/*
 * webhook_verify.c — settings, headers and signature of a webhook
 * delivery (webhook_verify.h).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "webhook_verify.h"

static const char *
str_or(const json_t *obj, const char *key, const char *def)
{
	const char *v = json_string_value(json_object_get(obj, key));

	return v != NULL && v[0] != '\0' ? v : def;
}

void
webhook_conf_read(const json_t *st, struct hook_conf *c)
{
	const json_t *mb;
	const char *env;

	c->secret = str_or(st, "secret", NULL);
	env = str_or(st, "secret_env", NULL);
	if (c->secret == NULL && env != NULL)
		c->secret = getenv(env);
	c->signature_header =
	    str_or(st, "signature_header", "x-hub-signature-256");
	/* The prefix may be configured empty (a bare hex digest). */
	c->signature_prefix =
	    json_string_value(json_object_get(st, "signature_prefix"));
	if (c->signature_prefix == NULL)
		c->signature_prefix = "sha256=";
	c->event_header = str_or(st, "event_header", "x-github-event");
	c->delivery_header =
	    str_or(st, "delivery_header", "x-github-delivery");
	mb = json_object_get(st, "max_body");
	c->max_body = json_is_integer(mb) && json_integer_value(mb) > 0
			  ? (uint64_t)json_integer_value(mb)
			  : WEBHOOK_DEFAULT_MAX_BODY;
}

const char *
webhook_header(const Dbs__DrvWebhook *wh, const char *name)
{
	for (size_t i = 0; i < wh->n_headers; i++)
		if (strcasecmp(wh->headers[i]->key, name) == 0)
			return wh->headers[i]->value;
	return NULL;
}

bool
webhook_signature_ok(const struct hook_conf *c, const Dbs__DrvWebhook *wh)
{
	unsigned char want[crypto_auth_hmacsha256_BYTES];
	unsigned char got[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	const char *sig = webhook_header(wh, c->signature_header), *end = NULL;
	size_t plen = strlen(c->signature_prefix), got_len = 0;

	if (c->secret == NULL || sig == NULL ||
	    strncasecmp(sig, c->signature_prefix, plen) != 0)
		return false;
	sig += plen;
	if (strlen(sig) != 2 * sizeof(got) ||
	    sodium_hex2bin(got, sizeof(got), sig, strlen(sig), NULL, &got_len,
		&end) != 0 ||
	    got_len != sizeof(got))
		return false;
	crypto_auth_hmacsha256_init(
	    &st, (const unsigned char *)c->secret, strlen(c->secret));
	crypto_auth_hmacsha256_update(&st, wh->body.data, wh->body.len);
	crypto_auth_hmacsha256_final(&st, want);
	return sodium_memcmp(want, got, sizeof(got)) == 0;
}

const char *
webhook_clean(const char *v, size_t max)
{
	if (v == NULL || v[0] == '\0' || strlen(v) > max)
		return NULL;
	for (const char *p = v; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			return NULL;
	return v;
}
