/*
 * events.c — the store's event log: every committed change of a resource,
 * numbered by a store-wide sequence, so that databus-web can stream live
 * updates and a reconnecting browser can resume with `since=<seq>`.
 *
 * Queue items change by the thousand per commit, so their events are not
 * written one by one: during a write transaction the store collects the
 * packed records per client and kind (created, updated, deleted) and, at
 * commit, appends one EV_CREATE_LIST / EV_UPDATE_LIST / EV_DELETE_LIST per
 * client and kind. Logs are collected the same way (created, and deleted by
 * purges) into EV_CREATE_LIST / EV_DELETE_LIST of EventLogList. A list body
 * is built directly in protobuf wire format (field 1 of PassengerList or
 * EventLogList, repeated) from the bytes the record was stored with, so
 * nothing is packed twice. A list that grows past
 * STORE_EVENT_LIST_MAX is appended early with the other lists of its
 * client, in kind order, so an item's create never follows its update.
 *
 * The log keeps event_keep events: commits trim it in batches of a
 * sixteenth of that, so the cost per event stays constant. Because a list
 * event holds up to STORE_EVENT_LIST_MAX bytes of records, the log is also
 * kept under STORE_EVENT_BYTES_MAX (or a quarter of max_size): a busy queue
 * would otherwise keep gigabytes of history that no browser will replay
 * (a client that falls behind the log refetches instead).
 */
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"
#include "store_pg.h"

static struct ev_bucket *
bucket(struct store *st, const char *client, size_t clen)
{
	struct ev_bucket *b;

	if (st->evb_last < st->n_evb) {
		b = &st->evb[st->evb_last];
		if (b->clen == clen && memcmp(b->client, client, clen) == 0)
			return b;
	}
	for (size_t i = 0; i < st->n_evb; i++) {
		b = &st->evb[i];
		if (b->clen == clen && memcmp(b->client, client, clen) == 0) {
			st->evb_last = i;
			return b;
		}
	}
	if (st->n_evb == st->cap_evb) {
		size_t cap = st->cap_evb ? st->cap_evb * 2 : 8;

		b = realloc(st->evb, cap * sizeof(*b));
		if (b == NULL)
			return NULL;
		memset(b + st->cap_evb, 0, (cap - st->cap_evb) * sizeof(*b));
		st->evb = b;
		st->cap_evb = cap;
	}
	b = &st->evb[st->n_evb];
	if (b->client_cap < clen + 1) {
		char *c = realloc(b->client, clen + 1);

		if (c == NULL)
			return NULL;
		b->client = c;
		b->client_cap = clen + 1;
	}
	memcpy(b->client, client, clen);
	b->client[clen] = '\0';
	b->clen = clen;
	for (int k = 0; k < EVB_LISTS; k++)
		b->list[k].len = 0;
	st->evb_last = st->n_evb++;
	return b;
}

/* The resource and kind of each list of a bucket, in the order they are
 * appended. */
static const struct {
	Dbs__Resource res;
	Dbs__EventKind kind;
} list_event[EVB_LISTS] = {
    [EVB_ITEM_CREATE] = {DBS__RESOURCE__RES_QUEUE_ITEM,
	DBS__EVENT_KIND__EV_CREATE_LIST},
    [EVB_ITEM_UPDATE] = {DBS__RESOURCE__RES_QUEUE_ITEM,
	DBS__EVENT_KIND__EV_UPDATE_LIST},
    [EVB_ITEM_DELETE] = {DBS__RESOURCE__RES_QUEUE_ITEM,
	DBS__EVENT_KIND__EV_DELETE_LIST},
    [EVB_LOG_CREATE] = {DBS__RESOURCE__RES_LOG,
	DBS__EVENT_KIND__EV_CREATE_LIST},
    [EVB_LOG_DELETE] = {DBS__RESOURCE__RES_LOG,
	DBS__EVENT_KIND__EV_DELETE_LIST},
};

static int
flush_bucket(struct store_txn *t, struct ev_bucket *b)
{
	int rc;

	for (int k = 0; k < EVB_LISTS; k++) {
		if (b->list[k].len == 0)
			continue;
		rc = sti_ev_append(t, b->client, list_event[k].res,
		    list_event[k].kind, b->list[k].p, b->list[k].len, NULL);
		if (rc != DBS_OK)
			return rc;
		b->list[k].len = 0;
	}
	return DBS_OK;
}

static size_t
bucket_size(const struct ev_bucket *b)
{
	size_t n = 0;

	for (int k = 0; k < EVB_LISTS; k++)
		n += b->list[k].len;
	return n;
}

int
sti_ev_flush_client(struct store_txn *t, const char *client, size_t clen)
{
	struct store *st = t->st;

	for (size_t i = 0; i < st->n_evb; i++)
		if (st->evb[i].clen == clen &&
		    memcmp(st->evb[i].client, client, clen) == 0)
			return flush_bucket(t, &st->evb[i]);
	return DBS_OK;
}

/* One element of PassengerList.items or EventLogList.items (both field 1,
 * length-delimited): tag, length, and the packed record. */
int
sti_ev_item(struct store_txn *t, const char *client, size_t clen, int kind,
    const void *packed, size_t len)
{
	struct ev_bucket *b = bucket(t->st, client, clen);
	struct sbuf *l;
	int rc;

	if (b == NULL)
		return DBS_ENOMEM;
	l = &b->list[kind];
	if ((rc = sti_sbuf_reserve(l, len + 11)) != DBS_OK)
		return rc;
	l->p[l->len++] = 0x0a;
	if ((rc = sti_sbuf_varint(l, len)) != DBS_OK ||
	    (rc = sti_sbuf_add(l, packed, len)) != DBS_OK)
		return rc;
	if (bucket_size(b) > STORE_EVENT_LIST_MAX)
		return flush_bucket(t, b);
	return DBS_OK;
}

static size_t
varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* A deleted item is a Passenger with only id (field 1) and client (2). */
int
sti_ev_item_delete(
    struct store_txn *t, const char *client, size_t clen, uint64_t id)
{
	struct ev_bucket *b = bucket(t->st, client, clen);
	size_t inner = 1 + varint_len(id) + 1 + varint_len(clen) + clen;
	uint8_t tag;
	struct sbuf *l;
	int rc;

	if (b == NULL)
		return DBS_ENOMEM;
	l = &b->list[EVB_ITEM_DELETE];
	tag = 0x0a;
	if ((rc = sti_sbuf_add(l, &tag, 1)) ||
	    (rc = sti_sbuf_varint(l, inner)))
		return rc;
	tag = 0x08;
	if ((rc = sti_sbuf_add(l, &tag, 1)) || (rc = sti_sbuf_varint(l, id)))
		return rc;
	tag = 0x12;
	if ((rc = sti_sbuf_add(l, &tag, 1)) ||
	    (rc = sti_sbuf_varint(l, clen)) ||
	    (rc = sti_sbuf_add(l, client, clen)))
		return rc;
	if (bucket_size(b) > STORE_EVENT_LIST_MAX)
		return flush_bucket(t, b);
	return DBS_OK;
}

int
sti_ev_append(struct store_txn *t, const char *client, Dbs__Resource res,
    Dbs__EventKind kind, const void *data, size_t len, uint64_t *seq)
{
	Dbs__Event ev = DBS__EVENT__INIT;
	struct key k;
	MDB_val kv;
	int rc;

	if (sti_pg(t))
		return stpg_ev_append(t, client, res, kind, data, len, seq);
	ev.seq = t->next_seq;
	ev.client = (char *)(client != NULL ? client : "");
	ev.resource = res;
	ev.kind = kind;
	ev.time_ms = sti_now_ms();
	ev.data.len = len;
	ev.data.data = (uint8_t *)data;
	key_init(&k);
	key_u64(&k, ev.seq);
	kv = key_val(&k);
	rc = sti_put_msg(t, DB_EVENTS, &kv, &ev.base, MDB_APPEND, NULL);
	if (rc != DBS_OK)
		return rc;
	t->next_seq++;
	if (seq != NULL)
		*seq = ev.seq;
	return DBS_OK;
}

/* Remove the oldest events so that `keep` remain; *removed = how many. */
static int
trim(struct store_txn *t, uint64_t keep, uint64_t *removed)
{
	MDB_cursor *c;
	MDB_stat ms;
	MDB_val k, v;
	uint64_t excess;
	int mrc;

	*removed = 0;
	if ((mrc = mdb_stat(t->mt, t->st->dbi[DB_EVENTS], &ms)) != 0)
		return sti_fail(t, mrc, "mdb_stat", DB_EVENTS);
	if (ms.ms_entries <= keep)
		return DBS_OK;
	excess = ms.ms_entries - keep;
	if ((mrc = mdb_cursor_open(t->mt, t->st->dbi[DB_EVENTS], &c)) != 0)
		return sti_fail(t, mrc, "mdb_cursor_open", DB_EVENTS);
	while (*removed < excess) {
		sti_count(t->st, STORE_OP_CURSOR);
		if ((mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) != 0)
			break;
		sti_count(t->st, STORE_OP_DEL);
		if ((mrc = mdb_cursor_del(c, 0)) != 0)
			break;
		t->dirty = true;
		(*removed)++;
	}
	mdb_cursor_close(c);
	if (mrc != 0 && mrc != MDB_NOTFOUND)
		return sti_fail(t, mrc, "mdb_cursor_del", DB_EVENTS);
	return DBS_OK;
}

int
sti_ev_flush_lists(struct store_txn *t)
{
	struct store *st = t->st;
	int rc;

	for (size_t i = 0; i < st->n_evb; i++)
		if ((rc = flush_bucket(t, &st->evb[i])) != DBS_OK)
			return rc;
	st->n_evb = 0;
	return DBS_OK;
}

int
sti_ev_flush(struct store_txn *t)
{
	struct store *st = t->st;
	uint64_t slack = st->event_keep / 16, removed, bytes, budget, keep;
	MDB_stat ms;
	int rc, mrc;

	if ((rc = sti_ev_flush_lists(t)) != DBS_OK)
		return rc;
	if (slack < 64)
		slack = 64;
	if ((mrc = mdb_stat(t->mt, st->dbi[DB_EVENTS], &ms)) != 0)
		return sti_fail(t, mrc, "mdb_stat", DB_EVENTS);
	if (ms.ms_entries > st->event_keep + slack)
		return trim(t, st->event_keep, &removed);
	/* Queue item lists carry whole records: bound the bytes as well,
	 * down to three quarters of the budget at a time. */
	bytes = (uint64_t)(ms.ms_branch_pages + ms.ms_leaf_pages +
			   ms.ms_overflow_pages) *
		ms.ms_psize;
	budget = st->max_size / 4 < STORE_EVENT_BYTES_MAX
		     ? st->max_size / 4
		     : STORE_EVENT_BYTES_MAX;
	if (bytes <= budget || ms.ms_entries < 2)
		return DBS_OK;
	keep = (uint64_t)((double)ms.ms_entries * 0.75 * (double)budget /
			  (double)bytes);
	return trim(
	    t, keep < ms.ms_entries ? keep : ms.ms_entries - 1, &removed);
}

void
sti_ev_reset(struct store *st)
{
	/* Let go of buffers a huge transaction left behind. */
	for (size_t i = 0; i < st->cap_evb; i++) {
		for (int k = 0; k < EVB_LISTS; k++) {
			struct sbuf *l = &st->evb[i].list[k];

			if (l->cap > 4 * STORE_EVENT_LIST_MAX) {
				free(l->p);
				l->p = NULL;
				l->cap = 0;
			}
			l->len = 0;
		}
	}
	st->n_evb = 0;
	st->evb_last = 0;
}

void
sti_ev_free(struct store *st)
{
	for (size_t i = 0; i < st->cap_evb; i++) {
		free(st->evb[i].client);
		for (int k = 0; k < EVB_LISTS; k++)
			free(st->evb[i].list[k].p);
	}
	free(st->evb);
	st->evb = NULL;
	st->n_evb = st->cap_evb = 0;
}

/* -------------------------------------------------------------- the API */

int
store_event_append(struct store_txn *txn, const char *client,
    Dbs__Resource resource, Dbs__EventKind kind, const void *data, size_t len,
    uint64_t *seq)
{
	int rc;

	/* The arguments are the contract's: checked once, for both
	 * engines. */
	if (seq != NULL)
		*seq = 0;
	if (client != NULL &&
	    (rc = sti_name(client, STORE_NAME_MAX, true)) != DBS_OK)
		return rc;
	if ((unsigned)resource > DBS__RESOURCE__RES_USER ||
	    (unsigned)kind > DBS__EVENT_KIND__EV_DELETE_LIST ||
	    (len > 0 && data == NULL))
		return DBS_EINVAL;
	if (sti_pg(txn))
		return stpg_event_append(
		    txn, client, resource, kind, data, len, seq);
	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	rc = sti_ev_append(txn, client, resource, kind, data, len, seq);
	if (rc != DBS_OK)
		return rc;
	txn->changes++;
	return DBS_OK;
}

int
store_event_list(struct store_txn *txn, uint64_t since, size_t limit,
    int (*cb)(void *ctx, const Dbs__Event *ev), void *ctx)
{
	if (sti_pg(txn))
		return stpg_event_list(txn, since, limit, cb, ctx);
	struct key from;
	struct iter it;
	Dbs__Event *ev;
	size_t n = 0;
	bool stopped = false;
	int rc;

	if (cb == NULL)
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if (since == UINT64_MAX)
		return DBS_OK;
	key_init(&from);
	key_u64(&from, since + 1);
	rc =
	    sti_iter_open(&it, txn, DB_EVENTS, NULL, 0, from.b, from.n, false);
	if (rc != DBS_OK)
		return rc;
	while (
	    (limit == 0 || n < limit) && (rc = sti_iter_next(&it)) == DBS_OK) {
		rc = sti_unpack(
		    txn, &dbs__event__descriptor, &it.v, DB_EVENTS, &ev);
		if (rc != DBS_OK)
			break;
		rc = cb(ctx, ev);
		dbs__event__free_unpacked(ev, NULL);
		if (rc != 0) {
			stopped = true;
			break;
		}
		n++;
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND && !stopped ? DBS_OK : rc;
}

static int
edge(struct store_txn *t, bool last, uint64_t *seq)
{
	struct iter it;
	int rc;

	*seq = 0;
	rc = sti_iter_open(&it, t, DB_EVENTS, NULL, 0, NULL, 0, last);
	if (rc != DBS_OK)
		return rc;
	rc = sti_iter_next(&it);
	if (rc == DBS_OK && it.k.mv_size == 8)
		*seq = sti_be64(it.k.mv_data);
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND ? DBS_OK : rc;
}

int
store_event_range(struct store_txn *txn, uint64_t *first, uint64_t *last)
{
	if (sti_pg(txn))
		return stpg_event_range(txn, first, last);
	uint64_t f = 0, l = 0;
	int rc;

	if (first != NULL)
		*first = 0;
	if (last != NULL)
		*last = 0;
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = edge(txn, false, &f)) != DBS_OK ||
	    (rc = edge(txn, true, &l)) != DBS_OK)
		return rc;
	if (first != NULL)
		*first = f;
	if (last != NULL)
		*last = l;
	return DBS_OK;
}

/* time_ms (field 5) of a packed Event, read without unpacking its data;
 * -1 when the bytes do not hold one. */
static int64_t
packed_time(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint64_t tag = 0, v = 0;
		int sh = 0;

		while (i < n && sh < 64) {
			tag |= (uint64_t)(p[i] & 0x7f) << sh;
			sh += 7;
			if ((p[i++] & 0x80) == 0)
				break;
		}
		if ((tag & 7) == 0 || (tag & 7) == 2) {
			sh = 0;
			while (i < n && sh < 64) {
				v |= (uint64_t)(p[i] & 0x7f) << sh;
				sh += 7;
				if ((p[i++] & 0x80) == 0)
					break;
			}
			if ((tag >> 3) == 5 && (tag & 7) == 0)
				return (int64_t)v;
			if ((tag & 7) == 2) {
				if (v > n - i)
					return -1;
				i += (size_t)v;
			}
		} else if ((tag & 7) == 1) {
			i += 8;
		} else if ((tag & 7) == 5) {
			i += 4;
		} else {
			return -1;
		}
	}
	return -1;
}

int
store_event_trim_before(
    struct store_txn *txn, int64_t before_ms, size_t max, uint64_t *count)
{
	if (sti_pg(txn))
		return stpg_event_trim_before(txn, before_ms, max, count);
	MDB_cursor *c;
	MDB_stat ms;
	MDB_val k, v;
	uint64_t removed = 0;
	int mrc, rc;

	if (count != NULL)
		*count = 0;
	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	if ((mrc = mdb_stat(txn->mt, txn->st->dbi[DB_EVENTS], &ms)) != 0)
		return sti_fail(txn, mrc, "mdb_stat", DB_EVENTS);
	if ((mrc = mdb_cursor_open(txn->mt, txn->st->dbi[DB_EVENTS], &c)) != 0)
		return sti_fail(txn, mrc, "mdb_cursor_open", DB_EVENTS);
	/* The newest event stays: readers learn the last seq from it. */
	while ((max == 0 || removed < max) && removed + 1 < ms.ms_entries) {
		int64_t t;

		sti_count(txn->st, STORE_OP_CURSOR);
		if ((mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) != 0)
			break;
		t = packed_time(v.mv_data, v.mv_size);
		if (t < 0 || t >= before_ms)
			break;
		sti_count(txn->st, STORE_OP_DEL);
		if ((mrc = mdb_cursor_del(c, 0)) != 0)
			break;
		txn->dirty = true;
		removed++;
	}
	mdb_cursor_close(c);
	if (mrc != 0 && mrc != MDB_NOTFOUND)
		return sti_fail(txn, mrc, "mdb_cursor_del", DB_EVENTS);
	txn->changes += removed ? 1 : 0;
	if (count != NULL)
		*count = removed;
	return DBS_OK;
}

int
store_event_trim(struct store_txn *txn, uint64_t keep, uint64_t *count)
{
	if (sti_pg(txn))
		return stpg_event_trim(txn, keep, count);
	uint64_t removed = 0;
	int rc;

	if (count != NULL)
		*count = 0;
	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = trim(txn, keep, &removed)) != DBS_OK)
		return rc;
	txn->changes += removed ? 1 : 0;
	if (count != NULL)
		*count = removed;
	return DBS_OK;
}
