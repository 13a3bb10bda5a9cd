/*
 * logs.c — drive logs in the store: one record per drive (or system
 * happening), listed newest first per client, linked to the passengers its
 * entries concern, and purged by age.
 *
 * Besides the record, a log has an entry in logs.client (listing), one in
 * logs.time (purging by finished_ms without decoding records) and, per
 * linked passenger, one in log.links (the passenger's logs) and its mirror
 * in log.pids (so that deleting a log finds its links). Passenger deletion
 * leaves links alone: the log still tells what happened to that id.
 */
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"
#include "store_pg.h"

#define LOG_BATCH 256

static void
key_client_lid(struct key *k, const char *c, size_t clen, uint64_t lid)
{
	key_init(k);
	key_strn(k, c, clen);
	key_u64(k, lid);
}

static void
key_time(struct key *k, const char *c, size_t clen, int64_t t, uint64_t lid)
{
	key_init(k);
	key_strn(k, c, clen);
	key_i64(k, t);
	key_u64(k, lid);
}

static int
add_link(struct store_txn *t, const char *client, uint64_t pid, uint64_t lid)
{
	struct key k;
	int rc;

	key_init(&k);
	key_str(&k, client);
	key_u64(&k, pid);
	key_u64(&k, lid);
	if ((rc = sti_put_key(t, DB_LOG_LINKS, &k)) != DBS_OK)
		return rc;
	key_init(&k);
	key_u64(&k, lid);
	key_u64(&k, pid);
	return sti_put_key(t, DB_LOG_PIDS, &k);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Link the log to each passenger it names, in `ids` or in its entries,
 * once (a drive's passengers usually appear in both, some in several
 * entries) and in id order, so that the index pages fill in order. */
static int
add_links(struct store_txn *t, const Dbs__Log *log, const uint64_t *ids,
    size_t n_ids)
{
	size_t n = 0, cap = n_ids + log->n_entries;
	uint64_t *all;
	int rc = DBS_OK;

	if (cap == 0)
		return DBS_OK;
	if ((all = malloc(cap * sizeof(*all))) == NULL)
		return DBS_ENOMEM;
	for (size_t i = 0; i < n_ids; i++)
		if (ids[i] != 0)
			all[n++] = ids[i];
	for (size_t i = 0; i < log->n_entries; i++)
		if (log->entries[i]->passenger_id != 0)
			all[n++] = log->entries[i]->passenger_id;
	qsort(all, n, sizeof(*all), cmp_u64);
	for (size_t i = 0; i < n && rc == DBS_OK; i++)
		if (i == 0 || all[i] != all[i - 1])
			rc = add_link(t, log->client, all[i], log->id);
	free(all);
	return rc;
}

int
store_log_put(struct store_txn *txn, Dbs__Log *log,
    const uint64_t *passenger_ids, size_t n_ids)
{
	if (sti_pg(txn))
		return stpg_log_put(txn, log, passenger_ids, n_ids);
	struct store *st;
	bool replaced = false, assigned = false, wrote = false;
	uint8_t idb[8];
	struct key k;
	MDB_val kv, v;
	int rc;

	if (log == NULL || (n_ids > 0 && passenger_ids == NULL))
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_name(log->client, STORE_NAME_MAX, true)) != DBS_OK)
		return rc;
	for (size_t i = 0; i < log->n_entries; i++)
		if (log->entries[i] == NULL)
			return DBS_EINVAL;
	st = txn->st;
	if (log->id == 0) {
		log->id = txn->next_log;
		assigned = true;
	}
	kv = sti_id_val(idb, log->id);
	rc = sti_get(txn, DB_LOGS, &kv, &v);
	if (rc == DBS_OK) {
		/* Replacing: its listing and time entries move. */
		struct pbv pv;
		char client[STORE_NAME_MAX + 1];
		size_t clen;
		int64_t fin;

		if (sti_pbv(&pv, v.mv_data, v.mv_size) != DBS_OK ||
		    pv.len[LF_CLIENT] > STORE_NAME_MAX) {
			rc = DBS_ECORRUPT;
			goto out;
		}
		clen = pv.len[LF_CLIENT];
		memcpy(client, pv.s[LF_CLIENT], clen);
		fin = (int64_t)pv.v[LF_FINISHED];
		replaced = true;
		wrote = true;
		key_client_lid(&k, client, clen, log->id);
		if ((rc = sti_del_key(txn, DB_LOGS_CLIENT, &k)) != DBS_OK)
			goto out;
		key_time(&k, client, clen, fin, log->id);
		if ((rc = sti_del_key(txn, DB_LOGS_TIME, &k)) != DBS_OK)
			goto out;
	} else if (rc != DBS_ENOTFOUND) {
		goto out;
	}
	wrote = true; /* from here on a failure leaves half a log */

	kv = sti_id_val(idb, log->id);
	if ((rc = sti_put_msg(txn, DB_LOGS, &kv, &log->base, 0, &v)) != DBS_OK)
		goto out;
	/* Keep the bytes for the event before the next write moves them. */
	st->pack.len = 0;
	if ((rc = sti_sbuf_add(&st->pack, v.mv_data, v.mv_size)) != DBS_OK)
		goto out;
	key_client_lid(&k, log->client, strlen(log->client), log->id);
	if ((rc = sti_put_key(txn, DB_LOGS_CLIENT, &k)) != DBS_OK)
		goto out;
	key_time(
	    &k, log->client, strlen(log->client), log->finished_ms, log->id);
	if ((rc = sti_put_key(txn, DB_LOGS_TIME, &k)) != DBS_OK)
		goto out;
	if ((rc = add_links(txn, log, passenger_ids, n_ids)) != DBS_OK)
		goto out;
	/* New logs go into the client's create list; a replaced one is an
	 * update, after the lists collected so far (which may hold its
	 * create). */
	if (!replaced)
		rc = sti_ev_item(txn, log->client, strlen(log->client),
		    EVB_LOG_CREATE, st->pack.p, st->pack.len);
	else if ((rc = sti_ev_flush_client(
		      txn, log->client, strlen(log->client))) == DBS_OK)
		rc = sti_ev_append(txn, log->client, DBS__RESOURCE__RES_LOG,
		    DBS__EVENT_KIND__EV_UPDATE, st->pack.p, st->pack.len,
		    NULL);
	if (rc != DBS_OK)
		goto out;
	if (log->id >= txn->next_log)
		txn->next_log = log->id + 1;
	txn->changes++;
out:
	if (rc != DBS_OK && wrote && txn->poison == 0)
		txn->poison = rc;
	if (rc != DBS_OK && assigned)
		log->id = 0;
	return rc;
}

int
store_log_get(struct store_txn *txn, uint64_t id, Dbs__Log **out)
{
	if (sti_pg(txn))
		return stpg_log_get(txn, id, out);
	return sti_get_by_id(txn, DB_LOGS, id, &dbs__log__descriptor, out);
}

/* Get log `lid` and hand it to cb; a missing log is skipped (*called is
 * false). */
static int
deliver(struct store_txn *t, uint64_t lid,
    int (*cb)(void *ctx, const Dbs__Log *log), void *ctx, bool *called)
{
	Dbs__Log *log;
	uint8_t idb[8];
	MDB_val k, v;
	int rc;

	*called = false;
	k = sti_id_val(idb, lid);
	rc = sti_get(t, DB_LOGS, &k, &v);
	if (rc != DBS_OK)
		return rc == DBS_ENOTFOUND ? DBS_OK : rc;
	if ((rc = sti_unpack(t, &dbs__log__descriptor, &v, DB_LOGS, &log)))
		return rc;
	*called = true;
	rc = cb(ctx, log);
	dbs__log__free_unpacked(log, NULL);
	return rc;
}

int
store_log_list(struct store_txn *txn, const char *client, uint64_t cursor,
    size_t limit, int (*cb)(void *ctx, const Dbs__Log *log), void *ctx,
    uint64_t *next_cursor)
{
	if (sti_pg(txn))
		return stpg_log_list(
		    txn, client, cursor, limit, cb, ctx, next_cursor);
	struct key prefix, from;
	struct iter it;
	uint64_t lid, last = 0;
	size_t n = 0;
	bool called;
	bool stopped = false;
	int rc;

	if (next_cursor != NULL)
		*next_cursor = 0;
	if (cb == NULL)
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_scope_prefix(&prefix, client, NULL, true)) != DBS_OK)
		return rc;
	from = prefix;
	if (cursor != 0)
		key_u64(&from, cursor);
	rc = sti_iter_open(&it, txn, client ? DB_LOGS_CLIENT : DB_LOGS,
	    prefix.b, prefix.n, cursor ? from.b : NULL, from.n, true);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		if (it.k.mv_size != prefix.n + 8)
			continue;
		lid = sti_be64((uint8_t *)it.k.mv_data + prefix.n);
		if (limit != 0 && n == limit) {
			if (next_cursor != NULL)
				*next_cursor = last;
			break;
		}
		if (client == NULL) {
			Dbs__Log *log;

			rc = sti_unpack(
			    txn, &dbs__log__descriptor, &it.v, DB_LOGS, &log);
			if (rc != DBS_OK)
				break;
			called = true;
			rc = cb(ctx, log);
			dbs__log__free_unpacked(log, NULL);
		} else {
			rc = deliver(txn, lid, cb, ctx, &called);
		}
		if (rc != DBS_OK) {
			stopped = called;
			if (called && next_cursor != NULL)
				*next_cursor = lid;
			break;
		}
		if (called) {
			n++;
			last = lid;
		}
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND && !stopped ? DBS_OK : rc;
}

int
store_log_list_for_passenger(struct store_txn *txn, const char *client,
    uint64_t passenger_id, int (*cb)(void *ctx, const Dbs__Log *log),
    void *ctx)
{
	if (sti_pg(txn))
		return stpg_log_list_for_passenger(
		    txn, client, passenger_id, cb, ctx);
	struct key prefix;
	struct iter it;
	bool called, stopped = false;
	int rc;

	if (cb == NULL)
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_name(client, STORE_NAME_MAX, true)) != DBS_OK)
		return rc;
	key_init(&prefix);
	key_str(&prefix, client);
	key_u64(&prefix, passenger_id);
	rc = sti_iter_open(
	    &it, txn, DB_LOG_LINKS, prefix.b, prefix.n, NULL, 0, true);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		if (it.k.mv_size != prefix.n + 8)
			continue;
		rc = deliver(txn, sti_be64((uint8_t *)it.k.mv_data + prefix.n),
		    cb, ctx, &called);
		if (rc != DBS_OK) {
			stopped = called;
			break;
		}
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND && !stopped ? DBS_OK : rc;
}

/* Delete log `lid` with its entries in every index, and queue its delete
 * event (a Log with only id and client). */
static int
log_delete(struct store_txn *t, uint64_t lid)
{
	char client[STORE_NAME_MAX + 1];
	uint64_t pids[LOG_BATCH];
	Dbs__Log gone = DBS__LOG__INIT;
	struct pbv pv;
	struct iter it;
	uint8_t idb[8];
	struct key k;
	MDB_val kv, v;
	size_t clen, n;
	int64_t fin;
	int rc;

	kv = sti_id_val(idb, lid);
	if ((rc = sti_get(t, DB_LOGS, &kv, &v)) != DBS_OK)
		return rc;
	if (sti_pbv(&pv, v.mv_data, v.mv_size) != DBS_OK ||
	    pv.len[LF_CLIENT] > STORE_NAME_MAX)
		return DBS_ECORRUPT;
	clen = pv.len[LF_CLIENT];
	memcpy(client, pv.s[LF_CLIENT], clen);
	client[clen] = '\0';
	fin = (int64_t)pv.v[LF_FINISHED];
	if ((rc = sti_del(t, DB_LOGS, &kv)) != DBS_OK)
		return rc;
	key_client_lid(&k, client, clen, lid);
	if ((rc = sti_del_key(t, DB_LOGS_CLIENT, &k)) != DBS_OK)
		return rc;
	key_time(&k, client, clen, fin, lid);
	if ((rc = sti_del_key(t, DB_LOGS_TIME, &k)) != DBS_OK)
		return rc;
	do {
		key_init(&k);
		key_u64(&k, lid);
		rc = sti_iter_open(
		    &it, t, DB_LOG_PIDS, k.b, k.n, NULL, 0, false);
		if (rc != DBS_OK)
			return rc;
		n = 0;
		while (n < LOG_BATCH && (rc = sti_iter_next(&it)) == DBS_OK)
			if (it.k.mv_size == 16)
				pids[n++] =
				    sti_be64((uint8_t *)it.k.mv_data + 8);
		sti_iter_close(&it);
		if (rc != DBS_OK && rc != DBS_ENOTFOUND)
			return rc;
		for (size_t i = 0; i < n; i++) {
			key_init(&k);
			key_strn(&k, client, clen);
			key_u64(&k, pids[i]);
			key_u64(&k, lid);
			if ((rc = sti_del_key(t, DB_LOG_LINKS, &k)) != DBS_OK)
				return rc;
			key_init(&k);
			key_u64(&k, lid);
			key_u64(&k, pids[i]);
			if ((rc = sti_del_key(t, DB_LOG_PIDS, &k)) != DBS_OK)
				return rc;
		}
	} while (n == LOG_BATCH);
	gone.id = lid;
	gone.client = client;
	if ((rc = sti_pack(t->st, &gone.base, &v)) != DBS_OK)
		return rc;
	return sti_ev_item(
	    t, client, strlen(client), EVB_LOG_DELETE, v.mv_data, v.mv_size);
}

/* logs.time is ordered by (client, finished_ms), so each client's old logs
 * come first; before_ms 0 purges every log. */
int
store_log_purge(struct store_txn *txn, const char *client, int64_t before_ms,
    uint64_t *count)
{
	if (sti_pg(txn))
		return stpg_log_purge(txn, client, before_ms, count);
	struct key prefix;
	uint64_t total;
	int rc;

	if (count != NULL)
		*count = 0;
	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_scope_prefix(&prefix, client, NULL, true)) != DBS_OK)
		return rc;
	rc = sti_purge_by_time(txn, DB_LOGS_TIME, &prefix, 1, before_ms,
	    before_ms == 0, 0, log_delete, &total);
	if (rc != DBS_OK) {
		if (txn->poison == 0)
			txn->poison = rc;
		return rc;
	}
	txn->changes += total;
	if (count != NULL)
		*count = total;
	return DBS_OK;
}
