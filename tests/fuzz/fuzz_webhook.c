/*
 * fuzz_webhook.c — libFuzzer target for the checks databusd makes on a
 * webhook delivery (supervisor/webhook_verify.c): the puller's settings,
 * header lookup, the HMAC-SHA-256 signature header and the header values
 * kept as delivery id, event and content type.
 *
 * Input: the secret (first line; empty: none), the puller's settings as
 * JSON (second line; anything else: {}), then "name: value" header lines
 * up to an empty line, then the raw body. Checked besides "no crash, no
 * leak": with a secret, the correct signature of the body is accepted
 * and the same with one digit changed is refused; without one, nothing
 * is accepted; a kept header value is printable ASCII within its bound.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webhook_verify.h"

#define MAX_HEADERS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next line of [*p, end) as a malloc'ed string (cut at a NUL, as
 * header values are C strings on the wire), or NULL at the end. */
static char *
next_line(const char **p, const char *end)
{
	const char *nl;
	char *s;
	size_t n;

	if (*p >= end)
		return NULL;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	n = nl != NULL ? (size_t)(nl - *p) : (size_t)(end - *p);
	if ((s = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(s, *p, n);
	s[n] = '\0';
	*p = nl != NULL ? nl + 1 : end;
	return s;
}

static void
check_clean(const Dbs__DrvWebhook *wh, const char *name)
{
	const char *v = webhook_clean(webhook_header(wh, name), 200);

	if (v == NULL)
		return;
	if (v[0] == '\0' || strlen(v) > 200)
		abort();
	for (; *v != '\0'; v++)
		if (!isprint((unsigned char)*v))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	const char *p = (const char *)data, *end = p + size;
	Dbs__KeyValue kv[MAX_HEADERS + 1], *hp[MAX_HEADERS + 1];
	char *lines[MAX_HEADERS + 2] = {NULL}, *secret, *settings_text;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char sig[128 + 2 * sizeof(mac) + 1];
	Dbs__DrvWebhook wh = DBS__DRV_WEBHOOK__INIT;
	struct hook_conf c;
	json_t *settings;
	size_t n = 0, nlines = 0;

	if (!ready) {
		if (sodium_init() < 0)
			abort();
		ready = true;
	}
	secret = next_line(&p, end);
	settings_text = next_line(&p, end);
	settings = settings_text != NULL ? json_loads(settings_text,
					       JSON_REJECT_DUPLICATES, NULL)
					 : NULL;
	if (!json_is_object(settings)) {
		json_decref(settings);
		settings = json_object();
	}
	if (secret != NULL && secret[0] != '\0')
		json_object_set_new(settings, "secret", json_string(secret));
	webhook_conf_read(settings, &c);

	/* Headers, "name: value", up to an empty line; then the body. */
	while (n < MAX_HEADERS) {
		char *l = next_line(&p, end), *colon;

		if (l == NULL)
			break;
		lines[nlines++] = l;
		if (l[0] == '\0')
			break;
		dbs__key_value__init(&kv[n]);
		if ((colon = strchr(l, ':')) != NULL) {
			*colon = '\0';
			kv[n].value = colon + 1 + (colon[1] == ' ');
		}
		kv[n].key = l;
		hp[n] = &kv[n];
		n++;
	}
	wh.body.data = (uint8_t *)p;
	wh.body.len = (size_t)(end - p);
	wh.headers = hp + 1; /* hp[0] is for the signature below */
	memmove(hp + 1, hp, n * sizeof(hp[0]));
	wh.n_headers = n;

	(void)webhook_signature_ok(&c, &wh);
	check_clean(&wh, c.delivery_header);
	check_clean(&wh, c.event_header);
	check_clean(&wh, "content-type");
	if (c.max_body == 0)
		abort();

	/* The right signature first among the headers: accepted when there
	 * is a secret; one digit changed: refused. */
	if (strlen(c.signature_prefix) <= 128) {
		Dbs__KeyValue s = DBS__KEY_VALUE__INIT;
		size_t plen = strlen(c.signature_prefix);
		bool ok;

		memset(mac, 0, sizeof(mac));
		if (c.secret != NULL) {
			crypto_auth_hmacsha256_state hs;

			crypto_auth_hmacsha256_init(&hs,
			    (const unsigned char *)c.secret, strlen(c.secret));
			crypto_auth_hmacsha256_update(
			    &hs, wh.body.data, wh.body.len);
			crypto_auth_hmacsha256_final(&hs, mac);
		}
		memcpy(sig, c.signature_prefix, plen);
		sodium_bin2hex(
		    sig + plen, sizeof(sig) - plen, mac, sizeof(mac));
		s.key = (char *)c.signature_header;
		s.value = sig;
		wh.headers = hp;
		hp[0] = &s;
		wh.n_headers = n + 1;
		ok = webhook_signature_ok(&c, &wh);
		if (ok != (c.secret != NULL))
			abort();
		sig[plen] = sig[plen] == '0' ? '1' : '0';
		if (webhook_signature_ok(&c, &wh))
			abort();
	}
	for (size_t i = 0; i < nlines; i++)
		free(lines[i]);
	json_decref(settings);
	free(secret);
	free(settings_text);
	return 0;
}
