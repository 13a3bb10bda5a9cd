/*
 * usage.c — how many bytes each client's passengers take in the store, for
 * the supervisor's per-client store quota (store_client_bytes).
 *
 * A passenger is charged its record's bytes plus the sizes of its
 * attachments as the record names them. The charge is a function of the
 * record's bytes alone (usage_of), so that it stays exact without asking
 * anybody: seating adds the new record's charge, replacing a record adds
 * the difference of the two, removing it subtracts the old one. Changes
 * are kept per client in the open write transaction and added to the
 * counters in meta ("usage.bytes.<client>") at commit, so an aborted
 * batch changes nothing, like the passenger counts (queue.c). A store
 * that never counted (made before this file) is counted once, by a scan,
 * when it is first opened for writing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"
#include "store_pg.h"

#define USAGE_KEY     "usage.bytes."
#define USAGE_READY   "usage.ready"
#define USAGE_KEY_MAX (sizeof(USAGE_KEY) + STORE_NAME_MAX)

struct usage_delta {
	char client[STORE_NAME_MAX + 1];
	int64_t d;
};

struct usage_deltas {
	struct usage_delta *v;
	size_t n, cap;
};

/* A protobuf varint at *p (< end); false when it does not fit. */
static bool
varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t x = 0;

	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;

		x |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*out = x;
			return true;
		}
	}
	return false;
}

/* Skip a field of wire type `wt`; false when the bytes end first. */
static bool
skip(const uint8_t **p, const uint8_t *end, unsigned wt)
{
	uint64_t n;

	switch (wt) {
	case 0:
		return varint(p, end, &n);
	case 1:
		n = 8;
		break;
	case 2:
		if (!varint(p, end, &n))
			return false;
		break;
	case 5:
		n = 4;
		break;
	default:
		return false;
	}
	if (n > (uint64_t)(end - *p))
		return false;
	*p += n;
	return true;
}

/* AttachmentMeta.size (field 2) of one attachment meta's bytes. */
static uint64_t
meta_size(const uint8_t *p, const uint8_t *end)
{
	uint64_t tag, size = 0;

	while (p < end && varint(&p, end, &tag)) {
		if (tag == ((2 << 3) | 0)) {
			if (!varint(&p, end, &size))
				return 0;
		} else if (!skip(&p, end, tag & 7)) {
			break;
		}
	}
	return size;
}

int64_t
sti_usage_of(const void *rec, size_t len)
{
	const uint8_t *p = rec, *end = p + len;
	uint64_t tag, n, sum = len;

	/* Passenger.attachments is field 8, length-delimited. */
	while (p < end && varint(&p, end, &tag)) {
		if (tag != ((8 << 3) | 2)) {
			if (!skip(&p, end, tag & 7))
				break;
			continue;
		}
		if (!varint(&p, end, &n) || n > (uint64_t)(end - p))
			break;
		sum += meta_size(p, p + n);
		p += n;
	}
	return (int64_t)sum;
}

int
sti_usage_add(
    struct store_txn *t, const char *client, size_t clen, int64_t delta)
{
	struct usage_deltas *u;
	struct usage_delta *e = NULL;

	if (delta == 0 || clen > STORE_NAME_MAX)
		return DBS_OK;
	if (t->st->usage == NULL &&
	    (t->st->usage = calloc(1, sizeof(*u))) == NULL)
		return DBS_ENOMEM;
	u = t->st->usage;
	for (size_t i = 0; e == NULL && i < u->n; i++)
		if (strncmp(u->v[i].client, client, clen) == 0 &&
		    u->v[i].client[clen] == '\0')
			e = &u->v[i];
	if (e == NULL) {
		if (u->n == u->cap) {
			size_t cap = u->cap ? 2 * u->cap : 8;
			struct usage_delta *v =
			    realloc(u->v, cap * sizeof(*v));

			if (v == NULL)
				return DBS_ENOMEM;
			u->v = v;
			u->cap = cap;
		}
		e = &u->v[u->n++];
		memcpy(e->client, client, clen);
		e->client[clen] = '\0';
		e->d = 0;
	}
	e->d += delta;
	return DBS_OK;
}

static size_t
usage_key(char *k, const char *client)
{
	return (size_t)snprintf(
	    k, USAGE_KEY_MAX + 1, "%s%s", USAGE_KEY, client);
}

static int
counter_get(struct store_txn *t, const char *client, uint64_t *out)
{
	char kb[USAGE_KEY_MAX + 1];
	MDB_val k, v;
	int rc;

	k.mv_size = usage_key(kb, client);
	k.mv_data = kb;
	*out = 0;
	rc = sti_get(t, DB_META, &k, &v);
	if (rc == DBS_ENOTFOUND)
		return DBS_OK;
	if (rc == DBS_OK && v.mv_size == 8)
		*out = sti_be64(v.mv_data);
	return rc;
}

static int
counter_put(struct store_txn *t, const char *client, int64_t value)
{
	char kb[USAGE_KEY_MAX + 1];
	uint8_t b[8];
	MDB_val k, v = {8, b};

	k.mv_size = usage_key(kb, client);
	k.mv_data = kb;
	if (value <= 0)
		return sti_del_any(t, DB_META, &k);
	sti_put_be64(b, (uint64_t)value);
	return sti_put(t, DB_META, &k, &v, 0);
}

int
sti_usage_flush(struct store_txn *t)
{
	struct usage_deltas *u = t->st->usage;
	uint64_t cur;
	int rc;

	for (size_t i = 0; u != NULL && i < u->n; i++) {
		if (u->v[i].d == 0)
			continue;
		if ((rc = counter_get(t, u->v[i].client, &cur)) != DBS_OK ||
		    (rc = counter_put(t, u->v[i].client,
			 (int64_t)cur + u->v[i].d)) != DBS_OK)
			return rc;
	}
	sti_usage_reset(t->st);
	return DBS_OK;
}

void
sti_usage_reset(struct store *st)
{
	if (st->usage != NULL)
		st->usage->n = 0;
}

void
sti_usage_free(struct store *st)
{
	if (st->usage == NULL)
		return;
	free(st->usage->v);
	free(st->usage);
	st->usage = NULL;
}

/* A store that never counted: count every passenger once. */
int
sti_usage_init(struct store_txn *t)
{
	MDB_val k = {strlen(USAGE_READY), USAGE_READY}, v;
	uint8_t one[8];
	struct iter it;
	int rc;

	if ((rc = sti_get(t, DB_META, &k, &v)) != DBS_ENOTFOUND)
		return rc;
	rc = sti_iter_open(&it, t, DB_PASSENGERS, NULL, 0, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		Dbs__Passenger *p =
		    dbs__passenger__unpack(NULL, it.v.mv_size, it.v.mv_data);

		if (p == NULL)
			continue; /* store_verify reports it */
		rc = sti_usage_add(t, p->client, strlen(p->client),
		    sti_usage_of(it.v.mv_data, it.v.mv_size));
		dbs__passenger__free_unpacked(p, NULL);
	}
	sti_iter_close(&it);
	if (rc != DBS_ENOTFOUND)
		return rc;
	if ((rc = sti_usage_flush(t)) != DBS_OK)
		return rc;
	sti_put_be64(one, 1);
	v.mv_size = 8;
	v.mv_data = one;
	return sti_put(t, DB_META, &k, &v, 0);
}

int
store_client_bytes(struct store_txn *txn, const char *client, uint64_t *out)
{
	if (sti_pg(txn))
		return stpg_client_bytes(txn, client, out);
	struct usage_deltas *u;
	uint64_t cur;
	int64_t x;
	int rc;

	*out = 0;
	if (client == NULL || strlen(client) > STORE_NAME_MAX)
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = counter_get(txn, client, &cur)) != DBS_OK)
		return rc;
	x = (int64_t)cur;
	u = txn->st->usage;
	if (txn->write && u != NULL)
		for (size_t i = 0; i < u->n; i++)
			if (strcmp(u->v[i].client, client) == 0)
				x += u->v[i].d;
	*out = x > 0 ? (uint64_t)x : 0;
	return DBS_OK;
}

int
sti_usage_each(struct store *st,
    int (*fn)(void *ctx, const char *client, int64_t delta), void *ctx)
{
	struct usage_deltas *u = st->usage;
	int rc;

	for (size_t i = 0; u != NULL && i < u->n; i++)
		if (u->v[i].d != 0 &&
		    (rc = fn(ctx, u->v[i].client, u->v[i].d)) != DBS_OK)
			return rc;
	return DBS_OK;
}

int64_t
sti_usage_pending(struct store_txn *t, const char *client)
{
	struct usage_deltas *u = t->st->usage;
	int64_t x = 0;

	if (t->write && u != NULL)
		for (size_t i = 0; i < u->n; i++)
			if (strcmp(u->v[i].client, client) == 0)
				x += u->v[i].d;
	return x;
}
