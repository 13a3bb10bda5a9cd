/*
 * webhook.c — intake of webhook deliveries (the `webhook` puller).
 *
 * databus-web receives POST /hooks/{client}/{definition} and forwards the
 * raw body and the request headers over the control socket (DrvWebhook),
 * without verifying anything: the secret lives in the client's
 * configuration, which only databusd reads. Here the delivery is checked
 * against the definition's webhook puller — body size, HMAC-SHA-256 of the
 * raw body compared in constant time with the signature header, and/or a
 * shared token header (GitLab's X-Gitlab-Token), also constant-time — and
 * seated in the open write batch. An unknown client or definition gets the
 * same answer as a bad signature. The reply (the passenger id, or
 * `duplicate` for a redelivery) goes out only after the commit that made
 * the passenger durable, so a 202 from the web always means "stored".
 * Processing and pushing start at once: the definition's running drive
 * takes the passenger if it started less than a second ago (so a stream of
 * deliveries shares one drive, one drive log and far fewer commits), else
 * a work drive is made due now.
 *
 * The worker's side of the `webhook` puller
 * (workers/drivers/drv_webhook.c) only validates the settings; it never
 * pulls anything.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "commit.h"
#include "dbs_error.h"
#include "passenger.h"
#include "quota.h"
#include "drive.h"
#include "reload.h"
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

/* Refuse the delivery when its client is over a quota or its webhook
 * rate (quota.h): DBS_EQUOTA with when to try again (the web's 429 and
 * Retry-After). */
static bool
over_quota(struct sup *s, nng_msg *msg, uint64_t id, struct store_txn *txn,
    const char *client)
{
	Dbs__ControlReply r = DBS__CONTROL_REPLY__INIT;
	char text[384];
	uint32_t after;

	if (quota_webhook_admit(s, txn, client, text, sizeof(text), &after) ==
	    DBS_OK)
		return false;
	r.id = id;
	r.code = DBS_EQUOTA;
	r.message = text;
	r.retry_after_ms = after;
	sup_control_reply(s, msg, &r, true);
	return true;
}

/*
 * Seat delivery p (its names, external id and metadata set) with its body
 * `att` in the open batch: its steps are the definition's processors and
 * pushers, after a notify step that is complete already — nothing to
 * acknowledge at the source: the web's 202 is the acknowledgement.
 */
static int
seat(struct store_txn *txn, const struct cfg_definition *def,
    Dbs__Passenger *p, Dbs__Attachment *att, uint64_t *id, bool *dup)
{
	size_t n_steps = passenger_n_steps(def);
	Dbs__Step steps[n_steps], *stepp[n_steps];

	passenger_first_steps(def, p->puller, steps, stepp);
	steps[0].state = DBS__STEP_STATE__STEP_COMPLETE;
	p->n_steps = n_steps;
	p->steps = stepp;
	return store_passenger_seat(txn, p, &att, 1, id, dup);
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
	Dbs__Attachment att = DBS__ATTACHMENT__INIT;
	struct hook_conf c;
	struct store_txn *txn;
	const char *event, *delivery, *ctype;
	char hashed[8 + 2 * crypto_hash_sha256_BYTES + 1];
	char id_hashed[WEBHOOK_ID_HASHED], event_kept[WEBHOOK_VALUE_MAX + 1];
	size_t n_md = 0;
	uint64_t id = 0;
	bool dup = false;
	int rc;

	/* An unknown client or definition is answered like a bad
	 * signature, and the signature is checked before the size, so that
	 * nobody without the secret learns which webhooks exist. */
	if (w == NULL || find_hook(w->def, &c) != DBS_OK ||
	    !webhook_authentic(&c, wh)) {
		refuse(s, msg, req_id, DBS_EAUTH, "missing or bad signature");
		return;
	}
	def = w->def;
	if (wh->body.len > c.max_body) {
		refuse(s, msg, req_id, DBS_ETOOBIG,
		    "the body is larger than max_body");
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

	/* The delivery id is the external id (hashed when it is too long
	 * or not printable, never dropped); without one, the body's hash
	 * (identical bodies are then one passenger). The event is kept,
	 * truncated and marked when too long. */
	delivery = webhook_delivery_id(
	    webhook_header(wh, c.delivery_header), id_hashed);
	if (delivery == NULL) {
		unsigned char h[crypto_hash_sha256_BYTES];

		crypto_hash_sha256(h, wh->body.data, wh->body.len);
		memcpy(hashed, "sha256:", 7);
		sodium_bin2hex(hashed + 7, sizeof(hashed) - 7, h, sizeof(h));
	}
	event = webhook_metadata(
	    webhook_header(wh, c.event_header), event_kept, WEBHOOK_VALUE_MAX);
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

	p.client = def->client;
	p.definition = def->name;
	p.puller = (char *)c.puller;
	p.external_id = (char *)(delivery != NULL ? delivery : hashed);
	p.n_metadata = n_md;
	p.metadata = mdp;
	p.pulled_us = (uint64_t)wire_now_us();
	if ((txn = sup_txn(s)) == NULL) {
		refuse(
		    s, msg, req_id, DBS_EBUSY, "the store cannot take writes");
		return;
	}
	if (over_quota(s, msg, req_id, txn, def->client))
		return;
	rc = seat(txn, def, &p, &att, &id, &dup);
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
