/*
 * batch.c — streaming encoder of PulledBatch and PeekResult messages (see
 * batch.h for why items are packed as they come).
 *
 * The buffer starts with BATCH_HEADROOM spare bytes: when the batch is
 * finished, the WorkerMsg field header (tag and length of the body) is
 * written right-aligned into them, so the whole message is contiguous
 * without moving the body.
 */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "wire.h"

/* Room for one tag byte and a 10-byte varint. */
#define BATCH_HEADROOM 16

/* Wire types and field numbers of databus.proto. */
#define WT_VARINT              0
#define WT_LEN                 2
#define F_WORKERMSG_PULLED     4
#define F_WORKERMSG_PEEKRESULT 11
#define F_PULLED_DRIVE_ID      1
#define F_PULLED_ITEMS         2
#define F_PULLED_LAST          3
#define F_PULLED_LOGS          4
#define F_PEEK_ID              1
#define F_PEEK_CODE            2
#define F_PEEK_MESSAGE         3
#define F_PEEK_ITEMS           4

static size_t
varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static uint8_t *
body(struct batch *b)
{
	return b->buf + BATCH_HEADROOM;
}

/* Make room for `more` bytes of body; doubles, so appends are amortised
 * O(1). */
static int
reserve(struct batch *b, size_t more)
{
	size_t need = b->len + more, ncap;
	uint8_t *p;

	if (need <= b->cap)
		return DBS_OK;
	ncap = b->cap != 0 ? b->cap : 64 * 1024;
	while (ncap < need)
		ncap *= 2;
	p = realloc(b->buf, BATCH_HEADROOM + ncap);
	if (p == NULL)
		return DBS_ENOMEM;
	b->buf = p;
	b->cap = ncap;
	return DBS_OK;
}

static void
put_tag(struct batch *b, unsigned field, unsigned wt)
{
	b->len += varint_put(body(b) + b->len, ((uint64_t)field << 3) | wt);
}

static void
put_varint(struct batch *b, uint64_t v)
{
	b->len += varint_put(body(b) + b->len, v);
}

/* Append field `field` holding the packed message `m`. */
static int
put_message(struct batch *b, unsigned field, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);

	if (reserve(b, 1 + 10 + len) != DBS_OK)
		return DBS_ENOMEM;
	put_tag(b, field, WT_LEN);
	put_varint(b, len);
	b->len += protobuf_c_message_pack(m, body(b) + b->len);
	return DBS_OK;
}

void
batch_start(struct batch *b, enum batch_kind kind)
{
	b->kind = kind;
	b->len = 0;
	b->n_items = 0;
}

static int
scratch(struct batch *b, size_t n_kv, size_t n_att)
{
	if (n_kv > b->cap_kv) {
		size_t cap = n_kv < 16 ? 16 : n_kv * 2;
		Dbs__KeyValue *kv = realloc(b->kv, cap * sizeof(*kv));
		Dbs__KeyValue **kvp;

		if (kv == NULL)
			return DBS_ENOMEM;
		b->kv = kv;
		kvp = realloc(b->kvp, cap * sizeof(*kvp));
		if (kvp == NULL)
			return DBS_ENOMEM;
		b->kvp = kvp;
		b->cap_kv = cap;
	}
	if (n_att > b->cap_att) {
		size_t cap = n_att < 16 ? 16 : n_att * 2;
		Dbs__Attachment *att = realloc(b->att, cap * sizeof(*att));
		Dbs__Attachment **attp;

		if (att == NULL)
			return DBS_ENOMEM;
		b->att = att;
		attp = realloc(b->attp, cap * sizeof(*attp));
		if (attp == NULL)
			return DBS_ENOMEM;
		b->attp = attp;
		b->cap_att = cap;
	}
	return DBS_OK;
}

int
batch_add(struct batch *b, const char *puller, const struct drv_item *item,
    int64_t pulled_us)
{
	Dbs__PulledItem it = DBS__PULLED_ITEM__INIT;
	size_t i, len;
	unsigned field;

	if (scratch(b, item->n_metadata, item->n_attachments) != DBS_OK)
		return DBS_ENOMEM;
	/* A view of the driver's data: protobuf-c only reads it. */
	it.puller = (char *)puller;
	it.external_id = (char *)item->external_id;
	it.source_ref = (char *)item->source_ref;
	it.pulled_us = pulled_us;
	for (i = 0; i < item->n_metadata; i++) {
		dbs__key_value__init(&b->kv[i]);
		b->kv[i].key = (char *)item->metadata[i].key;
		b->kv[i].value = (char *)item->metadata[i].value;
		b->kvp[i] = &b->kv[i];
	}
	it.n_metadata = item->n_metadata;
	it.metadata = b->kvp;
	for (i = 0; i < item->n_attachments; i++) {
		const struct drv_attachment *a = &item->attachments[i];
		Dbs__Attachment *pa = &b->att[i];

		dbs__attachment__init(pa);
		pa->name = (char *)a->name;
		pa->content_type = (char *)(a->content_type != NULL
						? a->content_type
						: "application/octet-stream");
		pa->data.data = (uint8_t *)a->data;
		pa->data.len = a->len;
		if (b->kind == BATCH_PEEK && pa->data.len > BATCH_PREVIEW)
			pa->data.len = BATCH_PREVIEW;
		b->attp[i] = pa;
	}
	it.n_attachments = item->n_attachments;
	it.attachments = b->attp;

	len = protobuf_c_message_get_packed_size(&it.base);
	if (len > BATCH_MAX_ITEM)
		return DBS_ETOOBIG;
	if (b->kind == BATCH_PULLED && b->n_items > 0 &&
	    (b->n_items >= BATCH_MAX_ITEMS || b->len + len > BATCH_MAX_BYTES))
		return DBS_EBUSY;
	if (reserve(b, 1 + 10 + len) != DBS_OK)
		return DBS_ENOMEM;
	field = b->kind == BATCH_PULLED ? F_PULLED_ITEMS : F_PEEK_ITEMS;
	put_tag(b, field, WT_LEN);
	put_varint(b, len);
	b->len += protobuf_c_message_pack(&it.base, body(b) + b->len);
	b->n_items++;
	return DBS_OK;
}

/* Write the WorkerMsg header into the headroom and copy the whole message
 * into a new nng message. */
static int
finish(struct batch *b, unsigned field, nng_msg **out)
{
	uint8_t hdr[BATCH_HEADROOM];
	size_t hlen;
	nng_msg *msg;

	*out = NULL;
	if (b->len + BATCH_HEADROOM > WIRE_MAX_MSG)
		return DBS_ETOOBIG;
	hlen = varint_put(hdr, ((uint64_t)field << 3) | WT_LEN);
	hlen += varint_put(hdr + hlen, b->len);
	memcpy(body(b) - hlen, hdr, hlen);
	if (nng_msg_alloc(&msg, hlen + b->len) != 0)
		return DBS_ENOMEM;
	memcpy(nng_msg_body(msg), body(b) - hlen, hlen + b->len);
	b->len = 0;
	b->n_items = 0;
	*out = msg;
	return DBS_OK;
}

int
batch_finish_pulled(struct batch *b, uint64_t drive_id, bool last,
    Dbs__LogEntry **logs, size_t n_logs, nng_msg **out)
{
	size_t i;

	*out = NULL;
	if (reserve(b, 2 * 11) != DBS_OK)
		return DBS_ENOMEM;
	if (drive_id != 0) {
		put_tag(b, F_PULLED_DRIVE_ID, WT_VARINT);
		put_varint(b, drive_id);
	}
	if (last) {
		put_tag(b, F_PULLED_LAST, WT_VARINT);
		put_varint(b, 1);
	}
	for (i = 0; i < n_logs; i++)
		if (put_message(b, F_PULLED_LOGS, &logs[i]->base) != DBS_OK)
			return DBS_ENOMEM;
	return finish(b, F_WORKERMSG_PULLED, out);
}

int
batch_finish_peek(struct batch *b, uint64_t peek_id, uint32_t code,
    const char *message, nng_msg **out)
{
	size_t mlen = message != NULL ? strlen(message) : 0;

	*out = NULL;
	if (reserve(b, 3 * 11 + mlen) != DBS_OK)
		return DBS_ENOMEM;
	if (peek_id != 0) {
		put_tag(b, F_PEEK_ID, WT_VARINT);
		put_varint(b, peek_id);
	}
	if (code != 0) {
		put_tag(b, F_PEEK_CODE, WT_VARINT);
		put_varint(b, code);
	}
	if (mlen > 0) {
		put_tag(b, F_PEEK_MESSAGE, WT_LEN);
		put_varint(b, mlen);
		memcpy(body(b) + b->len, message, mlen);
		b->len += mlen;
	}
	return finish(b, F_WORKERMSG_PEEKRESULT, out);
}

void
batch_free(struct batch *b)
{
	if (b == NULL)
		return;
	free(b->buf);
	free(b->kv);
	free(b->kvp);
	free(b->att);
	free(b->attp);
	memset(b, 0, sizeof(*b));
}
