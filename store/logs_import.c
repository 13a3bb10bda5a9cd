/*
 * logs_import.c — a log of an archive into the store (store_log_import,
 * for store/import.c).
 *
 * A log has no external key, so what it is decides whether it is there
 * already: the same client, finish and start times, definition and drive
 * id. The logs.time index (client, finished_ms, lid) finds the few logs
 * that finished in the same millisecond, so the check costs one seek. A
 * log's id is kept when this store never handed it out, else the log gets
 * the next one, as passengers do.
 */
#include <string.h>

#include "store_impl.h"
#include "store_pg.h"

bool
sti_log_same(const Dbs__Log *a, const Dbs__Log *b)
{
	return a->started_ms == b->started_ms && a->drive_id == b->drive_id &&
	       strcmp(a->definition, b->definition) == 0;
}

int
store_log_lookup(struct store_txn *txn, const Dbs__Log *log, uint64_t *id)
{
	if (sti_pg(txn))
		return stpg_log_lookup(txn, log, id);
	struct key prefix;
	struct iter it;
	Dbs__Log *old;
	uint64_t lid;
	bool same;
	int rc;

	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_name(log->client, STORE_NAME_MAX, true)) != DBS_OK)
		return rc;
	key_init(&prefix);
	key_str(&prefix, log->client);
	key_i64(&prefix, log->finished_ms);
	if (prefix.over)
		return DBS_ETOOBIG;
	rc = sti_iter_open(
	    &it, txn, DB_LOGS_TIME, prefix.b, prefix.n, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		if (it.k.mv_size != prefix.n + 8)
			continue;
		lid = sti_be64((uint8_t *)it.k.mv_data + prefix.n);
		rc = sti_get_by_id(
		    txn, DB_LOGS, lid, &dbs__log__descriptor, &old);
		if (rc == DBS_ENOTFOUND)
			continue;
		if (rc != DBS_OK)
			break;
		same = sti_log_same(old, log);
		dbs__log__free_unpacked(old, NULL);
		if (same) {
			*id = lid;
			break;
		}
	}
	sti_iter_close(&it);
	return rc;
}

int
store_log_import(struct store_txn *txn, Dbs__Log *log, uint64_t *id, bool *dup)
{
	int rc;

	*dup = false;
	rc = store_log_lookup(txn, log, id);
	if (rc == DBS_OK) {
		*dup = true;
		return DBS_OK;
	}
	if (rc != DBS_ENOTFOUND)
		return rc;
	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	if (log->id < txn->next_log)
		log->id = 0; /* handed out here already: the next id */
	if ((rc = store_log_put(txn, log, NULL, 0)) != DBS_OK)
		return rc;
	*id = log->id;
	return DBS_OK;
}
