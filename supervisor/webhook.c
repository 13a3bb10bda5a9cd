/*
 * webhook.c — intake of webhook deliveries (the `webhook` puller).
 *
 * databus-web receives POST /hooks/{client}/{definition} and forwards the
 * raw body and the request headers over the control socket (DrvWebhook),
 * without verifying anything: the secret lives in the client's
 * configuration, which only databusd reads. Here the delivery is checked
 * against the definition's webhook puller — body size, HMAC-SHA-256 of the
 * raw body compared in constant time with the signature header — and
 * seated in the open write batch. The reply (the passenger id, or
 * `duplicate` for a redelivery) goes out only after the commit that made
 * the passenger durable, so a 202 from the web always means "stored".
 * Processing and pushing start at once: a work drive of the definition is
 * made due now.
 *
 * The worker's side of the `webhook` puller (workers/drv_webhook.c) only
 * validates the settings; it never pulls anything.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dbs_error.h"
#include "sup.h"
#include "webhook.h"
#include "wire.h"

#define DEFAULT_MAX_BODY (1u << 20)

/* The settings of one webhook puller, read from its config entry. */
struct hook_conf {
	const char *puller;
	const char *secret;
	const char *signature_header;
	const char *signature_prefix;
	const char *event_header;
	const char *delivery_header;
	uint64_t max_body;
};

static const char *
str_or(const json_t *obj, const char *key, const char *def)
{
	const char *v = json_string_value(json_object_get(obj, key));

	return v != NULL && v[0] != '\0' ? v : def;
}

/* The webhook puller of `def` (`databus-worker --check` allows one), or
 * DBS_ENOTFOUND. */
static int
find_hook(const struct cfg_definition *def, struct hook_conf *c)
{
	for (size_t i = 0; i < def->n_pullers; i++) {
		const struct cfg_driver *d = &def->pullers[i];
		const json_t *st = d->settings, *mb;
		const char *env;

		if (strcmp(d->type, "webhook") != 0)
			continue;
		c->puller = d->name;
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
				  : DEFAULT_MAX_BODY;
		return DBS_OK;
	}
	return DBS_ENOTFOUND;
}

static const char *
header(const Dbs__DrvWebhook *wh, const char *name)
{
	for (size_t i = 0; i < wh->n_headers; i++)
		if (strcasecmp(wh->headers[i]->key, name) == 0)
			return wh->headers[i]->value;
	return NULL;
}

/* Whether the signature header carries HMAC-SHA-256(secret, body). */
static bool
signature_ok(const struct hook_conf *c, const Dbs__DrvWebhook *wh)
{
	unsigned char want[crypto_auth_hmacsha256_BYTES];
	unsigned char got[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	const char *sig = header(wh, c->signature_header), *end = NULL;
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

static void
send_reply(struct sup *s, nng_msg *msg, Dbs__ControlReply *r, bool now)
{
	nng_msg_clear(msg); /* keeps the backtrace header */
	if (wire_append(msg, &r->base) != DBS_OK) {
		nng_msg_free(msg);
		return;
	}
	if (now)
		sup_send_now(s, msg);
	else
		sup_after_commit(s, NULL, msg);
}

static void
refuse(struct sup *s, nng_msg *msg, uint64_t id, int code, const char *text)
{
	Dbs__ControlReply r = DBS__CONTROL_REPLY__INIT;

	r.id = id;
	r.code = (uint32_t)code;
	r.message = (char *)text;
	send_reply(s, msg, &r, true);
}

/* A header value usable as metadata or external id: UTF-8, bounded. */
static const char *
clean(const char *v, size_t max)
{
	if (v == NULL || v[0] == '\0' || strlen(v) > max)
		return NULL;
	for (const char *p = v; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			return NULL;
	return v;
}

void
webhook_handle(
    struct sup *s, nng_msg *msg, uint64_t req_id, const Dbs__DrvWebhook *wh)
{
	struct worker *w = sup_find_worker(s, wh->client, wh->definition);
	const struct cfg_definition *def;
	Dbs__ControlReply r = DBS__CONTROL_REPLY__INIT;
	Dbs__DrvWebhookReply wr = DBS__DRV_WEBHOOK_REPLY__INIT;
	Dbs__Passenger p = DBS__PASSENGER__INIT;
	Dbs__KeyValue md[3], *mdp[3];
	Dbs__Attachment att = DBS__ATTACHMENT__INIT, *attp = &att;
	struct hook_conf c;
	struct store_txn *txn;
	const char *event, *delivery, *ctype;
	char hashed[8 + 2 * crypto_hash_sha256_BYTES + 1];
	size_t n_steps, n_md = 0;
	uint64_t id = 0;
	bool dup = false;
	int rc;

	if (w == NULL || find_hook(w->def, &c) != DBS_OK) {
		refuse(s, msg, req_id, DBS_ENOTFOUND, "no such webhook");
		return;
	}
	def = w->def;
	if (wh->body.len > c.max_body) {
		refuse(s, msg, req_id, DBS_ETOOBIG,
		    "the body is larger than max_body");
		return;
	}
	if (!signature_ok(&c, wh)) {
		refuse(s, msg, req_id, DBS_EAUTH, "missing or bad signature");
		return;
	}
	if (s->shutting_down) {
		refuse(s, msg, req_id, DBS_ESHUTDOWN, "shutting down");
		return;
	}
	if (s->intake_paused) {
		refuse(s, msg, req_id, DBS_EBUSY,
		    "intake is paused by a store error");
		return;
	}

	/* The delivery id is the external id; without one, the body's
	 * hash (identical bodies are then one passenger). */
	delivery = clean(header(wh, c.delivery_header), 200);
	if (delivery == NULL) {
		unsigned char h[crypto_hash_sha256_BYTES];

		crypto_hash_sha256(h, wh->body.data, wh->body.len);
		memcpy(hashed, "sha256:", 7);
		sodium_bin2hex(hashed + 7, sizeof(hashed) - 7, h, sizeof(h));
	}
	event = clean(header(wh, c.event_header), 200);
	ctype = clean(header(wh, "content-type"), 200);
	for (size_t i = 0; i < 3; i++) {
		dbs__key_value__init(&md[i]);
		mdp[i] = &md[i];
	}
	if (event != NULL) {
		md[n_md].key = "event";
		md[n_md++].value = (char *)event;
	}
	if (delivery != NULL) {
		md[n_md].key = "delivery";
		md[n_md++].value = (char *)delivery;
	}
	att.name = "payload.json";
	if (ctype != NULL && strstr(ctype, "json") == NULL)
		att.name = "payload";
	att.content_type =
	    (char *)(ctype != NULL ? ctype : "application/json");
	att.data = wh->body;

	n_steps = 1 + def->n_processors + def->n_pushers;
	{
		Dbs__Step steps[n_steps], *stepp[n_steps];

		for (size_t i = 0; i < n_steps; i++) {
			dbs__step__init(&steps[i]);
			stepp[i] = &steps[i];
		}
		/* Nothing to acknowledge at the source: the web's 202 is
		 * the acknowledgement. */
		steps[0].name = (char *)c.puller;
		steps[0].kind = DBS__STEP_KIND__SK_NOTIFY;
		steps[0].state = DBS__STEP_STATE__STEP_COMPLETE;
		for (size_t i = 0; i < def->n_processors; i++) {
			steps[1 + i].name = def->processors[i].name;
			steps[1 + i].kind = DBS__STEP_KIND__SK_PROCESSOR;
		}
		for (size_t i = 0; i < def->n_pushers; i++) {
			steps[1 + def->n_processors + i].name =
			    def->pushers[i].name;
			steps[1 + def->n_processors + i].kind =
			    DBS__STEP_KIND__SK_PUSHER;
		}
		p.client = def->client;
		p.definition = def->name;
		p.puller = (char *)c.puller;
		p.external_id = (char *)(delivery != NULL ? delivery : hashed);
		p.n_steps = n_steps;
		p.steps = stepp;
		p.n_metadata = n_md;
		p.metadata = mdp;
		p.pulled_us = (uint64_t)wire_now_us();
		if ((txn = sup_txn(s)) == NULL) {
			refuse(s, msg, req_id, DBS_EBUSY,
			    "the store cannot take writes");
			return;
		}
		rc = store_passenger_seat(txn, &p, &attp, 1, &id, &dup);
	}
	if (rc == DBS_ETOOBIG || rc == DBS_EINVAL) {
		refuse(s, msg, req_id, rc, dbs_strerror(rc));
		return;
	}
	if (rc != DBS_OK) {
		/* The batch is aborted; replies queued with it become
		 * errors, and so does this one. */
		sup_store_failed(s, rc, "seating a webhook delivery");
		refuse(s, msg, req_id, rc, dbs_strerror(rc));
		return;
	}
	if (!dup) {
		s->batch_bytes += wh->body.len;
		/* Process and push at once, not at the next schedule. */
		sched_retry_at(s->sched, w->slot, wire_mono_ms());
	}
	wr.id = id;
	wr.duplicate = dup;
	r.id = req_id;
	r.code = DBS_OK;
	r.message = dup ? "duplicate delivery" : "seated";
	r.webhook = &wr;
	send_reply(s, msg, &r, false);
}
