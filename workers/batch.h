/*
 * batch.h — streaming encoder of the worker's item-carrying messages.
 *
 * A pull can produce hundreds of thousands of items, each with attachment
 * bodies. Building a Dbs__PulledBatch with copies of every item and packing
 * it at the end would copy each body twice and allocate per field. Instead
 * a batch packs each item, as it is emitted, straight into one growing
 * buffer that already is the serialised message (a WorkerMsg whose body is
 * a PulledBatch or a PeekResult): the body is copied once from the driver
 * and once more into the nng message. The buffer is kept between batches.
 *
 * Protobuf allows the fields of a message in any order, so items come
 * first and the scalar fields and log entries are appended at the end.
 */
#ifndef DBS_BATCH_H
#define DBS_BATCH_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "databus.pb-c.h"
#include "driver_host.h"
#include "wire.h"

/* A pulled batch is sent when it holds this many items or bytes. */
#define BATCH_MAX_ITEMS 256
#define BATCH_MAX_BYTES (4u << 20)
/* The largest single item (room is left for logs and framing). */
#define BATCH_MAX_ITEM (WIRE_MAX_MSG - (1u << 20))
/* Attachment bodies in a PeekResult are cut to this many bytes. */
#define BATCH_PREVIEW 4096

enum batch_kind {
	BATCH_PULLED, /* WorkerMsg.pulled (PulledBatch) */
	BATCH_PEEK,   /* WorkerMsg.peek_result (PeekResult) */
};

struct batch {
	enum batch_kind kind;
	uint8_t *buf; /* BATCH_HEADROOM bytes, then the body */
	size_t len;   /* bytes of body */
	size_t cap;   /* bytes allocated after the headroom */
	size_t n_items;
	/* Scratch for one item's protobuf view, reused. */
	Dbs__KeyValue *kv;
	Dbs__KeyValue **kvp;
	size_t cap_kv;
	Dbs__Attachment *att;
	Dbs__Attachment **attp;
	size_t cap_att;
};

/* Start an empty batch of `kind` (keeps buffers of an earlier use). */
void batch_start(struct batch *b, enum batch_kind kind);

/*
 * Append one item pulled by `puller` at `pulled_us`. Peek batches cut
 * attachment bodies to BATCH_PREVIEW bytes. Returns DBS_OK; DBS_EBUSY when
 * the pulled batch is not empty and the item would make it pass
 * BATCH_MAX_ITEMS or BATCH_MAX_BYTES (send it, then add again); DBS_ETOOBIG
 * when the item alone is larger than BATCH_MAX_ITEM; DBS_ENOMEM. Nothing
 * is appended unless DBS_OK.
 */
int batch_add(struct batch *b, const char *puller, const struct drv_item *item,
    int64_t pulled_us);

/*
 * Close the batch into a new nng message in *out: a PulledBatch with
 * drive_id, last and the log entries, or a PeekResult with peek_id, code
 * and message (entries are ignored). The batch is empty afterwards.
 * Returns DBS_OK or DBS_ENOMEM / DBS_ETOOBIG.
 */
int batch_finish_pulled(struct batch *b, uint64_t drive_id, bool last,
    Dbs__LogEntry **logs, size_t n_logs, nng_msg **out);
int batch_finish_peek(struct batch *b, uint64_t peek_id, uint32_t code,
    const char *message, nng_msg **out);

/* Free the buffers. Accepts a zeroed batch. */
void batch_free(struct batch *b);

#endif
