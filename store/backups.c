/*
 * backups.c — versions of configuration nodes kept in the store.
 *
 * Every save of a node (the main config, a client file, an external file)
 * appends a version, numbered 1, 2, ... per node, so an administrator can
 * see what changed and restore an earlier one. Keys are node\0 version, so
 * a node's versions are contiguous and its newest is found with one seek.
 */
#include <string.h>

#include "store_impl.h"
#include "store_pg.h"

static int
node_prefix(struct key *k, const char *node)
{
	int rc = sti_name(node, STORE_LONGNAME_MAX, false);

	if (rc != DBS_OK)
		return rc;
	key_init(k);
	key_str(k, node);
	return k->over ? DBS_ETOOBIG : DBS_OK;
}

/* The newest version of the node with this prefix, 0 when none. */
static int
latest(struct store_txn *t, const struct key *prefix, uint64_t *version)
{
	struct iter it;
	int rc;

	*version = 0;
	rc = sti_iter_open(
	    &it, t, DB_CONFIG, prefix->b, prefix->n, NULL, 0, true);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		if (it.k.mv_size == prefix->n + 8) {
			*version =
			    sti_be64((uint8_t *)it.k.mv_data + prefix->n);
			break;
		}
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND ? DBS_OK : rc;
}

int
store_config_backup_put(struct store_txn *txn, const char *node,
    const char *author, const void *content, size_t len, int64_t time_ms,
    uint64_t *version)
{
	if (sti_pg(txn))
		return stpg_config_backup_put(
		    txn, node, author, content, len, time_ms, version);
	Dbs__ConfigBackup b = DBS__CONFIG_BACKUP__INIT;
	struct key k;
	MDB_val kv;
	uint64_t last;
	int rc;

	if (version != NULL)
		*version = 0;
	if (len > 0 && content == NULL)
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = node_prefix(&k, node)) != DBS_OK)
		return rc;
	if ((rc = latest(txn, &k, &last)) != DBS_OK)
		return rc;
	b.node = (char *)node;
	b.version = last + 1;
	b.time_ms = time_ms;
	b.author = (char *)(author != NULL ? author : "");
	b.content.len = len;
	b.content.data = (uint8_t *)content;
	key_u64(&k, b.version);
	kv = key_val(&k);
	if ((rc = sti_put_msg(txn, DB_CONFIG, &kv, &b.base, 0, NULL)) !=
	    DBS_OK)
		return rc;
	txn->changes++;
	if (version != NULL)
		*version = b.version;
	return DBS_OK;
}

int
store_config_backup_get(struct store_txn *txn, const char *node,
    uint64_t version, Dbs__ConfigBackup **out)
{
	if (sti_pg(txn))
		return stpg_config_backup_get(txn, node, version, out);
	struct key k;
	MDB_val kv, v;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (out == NULL)
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = node_prefix(&k, node)) != DBS_OK)
		return rc;
	/* Version 0 asks for the newest. */
	if (version == 0 && (rc = latest(txn, &k, &version)) != DBS_OK)
		return rc;
	if (version == 0)
		return DBS_ENOTFOUND;
	key_u64(&k, version);
	kv = key_val(&k);
	if ((rc = sti_get(txn, DB_CONFIG, &kv, &v)) != DBS_OK)
		return rc;
	return sti_unpack(
	    txn, &dbs__config_backup__descriptor, &v, DB_CONFIG, out);
}

int
store_config_backup_list(struct store_txn *txn, const char *node,
    int (*cb)(void *ctx, const Dbs__ConfigBackup *b), void *ctx)
{
	if (sti_pg(txn))
		return stpg_config_backup_list(txn, node, cb, ctx);
	Dbs__ConfigBackup *b;
	struct key k;
	struct iter it;
	bool stopped = false;
	int rc;

	if (cb == NULL)
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = node_prefix(&k, node)) != DBS_OK)
		return rc;
	rc = sti_iter_open(&it, txn, DB_CONFIG, k.b, k.n, NULL, 0, true);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		if (it.k.mv_size != k.n + 8)
			continue;
		rc = sti_unpack(txn, &dbs__config_backup__descriptor, &it.v,
		    DB_CONFIG, &b);
		if (rc != DBS_OK)
			break;
		rc = cb(ctx, b);
		dbs__config_backup__free_unpacked(b, NULL);
		if (rc != 0) {
			stopped = true;
			break;
		}
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND && !stopped ? DBS_OK : rc;
}
