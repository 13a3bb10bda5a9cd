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
 * Processing and pushing start at once: the definition's running drive
 * takes the passenger if it started less than a second ago (so a stream of
 * deliveries shares one drive, one drive log and far fewer commits), else
 * a work drive is made due now.
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
#include "webhook_verify.h"
#include "wire.h"

/* The webhook puller of `def` (`databus-worker --check` allows one), or
 * DBS_ENOTFOUND. */
static int
find_hook(const struct cfg_definition *def, struct hook_conf *c)
{
	for (size_t i = 0; i < def->n_pullers; i++) {
		const struct cfg_driver *d = &def->pullers[i];

		if (strcmp(d->type, "webhook") != 0)
			continue;
		webhook_conf_read(d->settings, c);
		c->puller = d->name;
		return DBS_OK;
	}
	return DBS_ENOTFOUND;
}

static void
refuse(struct sup *s, nng_msg *msg, uint64_t id, int code, const char *text)
{
	Dbs__ControlReply r = DBS__CONTROL_REPLY__INIT;

	r.id = id;
	r.code = (uint32_t)code;
	r.message = (char *)text;
	sup_control_reply(s, msg, &r, true);
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
	if (!webhook_signature_ok(&c, wh)) {
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
	delivery = webhook_clean(webhook_header(wh, c.delivery_header), 200);
	if (delivery == NULL) {
		unsigned char h[crypto_hash_sha256_BYTES];

		crypto_hash_sha256(h, wh->body.data, wh->body.len);
		memcpy(hashed, "sha256:", 7);
		sodium_bin2hex(hashed + 7, sizeof(hashed) - 7, h, sizeof(h));
	}
	event = webhook_clean(webhook_header(wh, c.event_header), 200);
	ctype = webhook_clean(webhook_header(wh, "content-type"), 200);
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
		/* Process and push at once, not at the next schedule: in
		 * the running drive if it still takes new passengers, else
		 * in a drive made due now. */
		if (!drive_take_new(s, w))
			sched_retry_at(s->sched, w->slot, wire_mono_ms());
	}
	wr.id = id;
	wr.duplicate = dup;
	r.id = req_id;
	r.code = DBS_OK;
	r.message = dup ? "duplicate delivery" : "seated";
	r.webhook = &wr;
	sup_control_reply(s, msg, &r, false);
}
