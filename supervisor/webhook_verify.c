/*
 * webhook_verify.c — settings, headers and signature of a webhook
 * delivery (webhook_verify.h).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dbs_limits.h"
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
	c->token = str_or(st, "token", NULL);
	env = str_or(st, "token_env", NULL);
	if (c->token == NULL && env != NULL)
		c->token = getenv(env);
	c->token_header = str_or(st, "token_header", "x-gitlab-token");
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
			  : DBS_WEBHOOK_DEFAULT_BODY;
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

bool
webhook_token_ok(const struct hook_conf *c, const Dbs__DrvWebhook *wh)
{
	unsigned char want[crypto_generichash_BYTES];
	unsigned char got[crypto_generichash_BYTES];
	const char *tok = webhook_header(wh, c->token_header);

	if (c->token == NULL || c->token[0] == '\0' || tok == NULL)
		return false;
	crypto_generichash(want, sizeof(want), (const unsigned char *)c->token,
	    strlen(c->token), NULL, 0);
	crypto_generichash(got, sizeof(got), (const unsigned char *)tok,
	    strlen(tok), NULL, 0);
	return sodium_memcmp(want, got, sizeof(got)) == 0;
}

bool
webhook_authentic(const struct hook_conf *c, const Dbs__DrvWebhook *wh)
{
	bool has_secret = c->secret != NULL && c->secret[0] != '\0';
	bool has_token = c->token != NULL && c->token[0] != '\0';

	if (!has_secret && !has_token)
		return false;
	if (has_secret && !webhook_signature_ok(c, wh))
		return false;
	return !has_token || webhook_token_ok(c, wh);
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

const char *
webhook_delivery_id(const char *v, char out[WEBHOOK_ID_HASHED])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	if (v == NULL || v[0] == '\0')
		return NULL;
	if (webhook_clean(v, WEBHOOK_VALUE_MAX) != NULL)
		return v;
	crypto_hash_sha256(h, (const unsigned char *)v, strlen(v));
	memcpy(out, "delivery-sha256:", 16);
	sodium_bin2hex(out + 16, WEBHOOK_ID_HASHED - 16, h, sizeof(h));
	return out;
}

const char *
webhook_metadata(const char *v, char *out, size_t max)
{
	static const char mark[] = " [truncated]";
	size_t n, i;

	if (v == NULL || v[0] == '\0' || max < sizeof(mark))
		return NULL;
	n = strlen(v);
	if (n > max)
		n = max - (sizeof(mark) - 1);
	for (i = 0; i < n; i++)
		out[i] =
		    (unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f
			? '?'
			: v[i];
	out[i] = '\0';
	if (n < strlen(v))
		memcpy(out + i, mark, sizeof(mark));
	return out;
}
