/*
 * store_pg.h — private to store/: the entry points of the PostgreSQL
 * engine (store/pg.c, pg_queue.c, pg_records.c). Every public function of
 * store.h checks first whether its store or transaction is PostgreSQL's
 * (sti_pg, store_impl.h) and then hands the call to its stpg_ twin here,
 * with the same arguments and the same contract; the LMDB code below that
 * check is untouched. This header does not include libpq: only pg*.c do
 * (pg_impl.h).
 */
#ifndef DBS_STORE_PG_H
#define DBS_STORE_PG_H

#include "store_impl.h"

int stpg_open(
    enum store_mode mode, const struct store_options *opt, struct store **out);
void stpg_close(struct store *st);
/* Why the last stpg_open of this thread failed ("" if it did not). */
const char *stpg_open_error(void);
int stpg_txn_begin(struct store *st, bool write, struct store_txn **out);
/* DBS_EINVAL, with a sentence in the store's last error: `what` is about
 * LMDB files and has no meaning on PostgreSQL. */
int stpg_lmdb_only(struct store *st, const char *what);
/* sti_ev_append's twin: insert the event row now. */
int stpg_ev_append(struct store_txn *t, const char *client, Dbs__Resource res,
    Dbs__EventKind kind, const void *data, size_t len, uint64_t *seq);

int stpg_passenger_seat_many(struct store_txn *txn,
    const Dbs__Passenger *const *ps, Dbs__Attachment *const *const *atts,
    const size_t *n_atts, size_t n, uint64_t *ids, bool *dups, int *rcs);

/* The twins of the other public functions that take a transaction. */
int stpg_meta_get_u64(struct store_txn *txn, const char *key, uint64_t *value);
int stpg_meta_put_u64(struct store_txn *txn, const char *key, uint64_t value);
int stpg_txn_commit(struct store_txn *txn);
void stpg_txn_abort(struct store_txn *txn);
int stpg_stats(struct store_txn *txn, Dbs__StoreStats *stats);
int stpg_passenger_seat(struct store_txn *txn, const Dbs__Passenger *p,
    Dbs__Attachment *const *atts, size_t n_atts, uint64_t *id, bool *dup);
int stpg_passenger_import(struct store_txn *txn, const Dbs__Passenger *p,
    Dbs__Attachment *const *atts, size_t n_atts, uint64_t *id, bool *dup);
int stpg_passenger_lookup(struct store_txn *txn, const Dbs__Passenger *p,
    uint64_t *id, uint64_t *next_id);
int stpg_passenger_get(
    struct store_txn *txn, uint64_t id, Dbs__Passenger **out);
int stpg_passenger_put(struct store_txn *txn, const Dbs__Passenger *p);
int stpg_passenger_delete(struct store_txn *txn, uint64_t id);
int stpg_attachment_get(struct store_txn *txn, uint64_t id, const char *name,
    const void **data, size_t *len);
int stpg_attachment_put(struct store_txn *txn, uint64_t id, const char *name,
    const void *data, size_t len);
int stpg_attachment_delete(
    struct store_txn *txn, uint64_t id, const char *name);
int stpg_queue_list(struct store_txn *txn, const struct store_query *q,
    int (*cb)(void *ctx, const Dbs__Passenger *p), void *ctx,
    uint64_t *next_cursor);
int stpg_queue_due(struct store_txn *txn, const char *client,
    const char *definition, int64_t due_ms, size_t limit,
    int (*cb)(void *ctx, const Dbs__Passenger *p), void *ctx);
int stpg_queue_due_ids(struct store_txn *txn, const char *client,
    const char *definition, int64_t due_ms, int64_t after_due,
    uint64_t after_id, size_t max, uint64_t *ids, int64_t *dues, size_t *n);
int stpg_queue_next_due(struct store_txn *txn, const char *client,
    const char *definition, int64_t *due_ms);
int stpg_queue_counts(struct store_txn *txn, const char *client,
    const char *definition, uint64_t *pending, uint64_t *done, uint64_t *dead);
int stpg_queue_purge(struct store_txn *txn, const char *client,
    const char *definition, int64_t before_ms, size_t max, uint64_t *count);
int stpg_dedup_sweep(
    struct store_txn *txn, int64_t now_ms, size_t max, uint64_t *count);
int stpg_event_append(struct store_txn *txn, const char *client,
    Dbs__Resource resource, Dbs__EventKind kind, const void *data, size_t len,
    uint64_t *seq);
int stpg_event_list(struct store_txn *txn, uint64_t since, size_t limit,
    int (*cb)(void *ctx, const Dbs__Event *ev), void *ctx);
int stpg_event_range(struct store_txn *txn, uint64_t *first, uint64_t *last);
int stpg_event_trim_before(
    struct store_txn *txn, int64_t before_ms, size_t max, uint64_t *count);
int stpg_event_trim(struct store_txn *txn, uint64_t keep, uint64_t *count);
int stpg_log_put(struct store_txn *txn, Dbs__Log *log,
    const uint64_t *passenger_ids, size_t n_ids);
int stpg_log_get(struct store_txn *txn, uint64_t id, Dbs__Log **out);
int stpg_log_list(struct store_txn *txn, const char *client, uint64_t cursor,
    size_t limit, int (*cb)(void *ctx, const Dbs__Log *log), void *ctx,
    uint64_t *next_cursor);
int stpg_log_list_for_passenger(struct store_txn *txn, const char *client,
    uint64_t passenger_id, int (*cb)(void *ctx, const Dbs__Log *log),
    void *ctx);
int stpg_log_purge(struct store_txn *txn, const char *client,
    int64_t before_ms, uint64_t *count);
int stpg_user_put(struct store_txn *txn, const Dbs__User *u);
int stpg_user_get(struct store_txn *txn, const char *client,
    const char *username, Dbs__User **out);
int stpg_user_delete(
    struct store_txn *txn, const char *client, const char *username);
int stpg_user_list(struct store_txn *txn, const char *client,
    int (*cb)(void *ctx, const Dbs__User *u), void *ctx);
int stpg_user_count(
    struct store_txn *txn, const char *client, uint64_t *count);
int stpg_user_imported(struct store_txn *txn, const char *client,
    const char *username, bool *imported);
int stpg_user_mark_imported(
    struct store_txn *txn, const char *client, const char *username);
int stpg_session_put(struct store_txn *txn, const Dbs__Session *s);
int stpg_session_get(struct store_txn *txn, const uint8_t *hash,
    size_t hash_len, Dbs__Session **out);
int stpg_session_delete(
    struct store_txn *txn, const uint8_t *hash, size_t hash_len);
int stpg_session_revoke_user(struct store_txn *txn, const char *client,
    const char *username, uint64_t *count);
int stpg_session_expire(
    struct store_txn *txn, int64_t now_ms, uint64_t *count);
int stpg_config_backup_put(struct store_txn *txn, const char *node,
    const char *author, const void *content, size_t len, int64_t time_ms,
    uint64_t *version);
int stpg_config_backup_get(struct store_txn *txn, const char *node,
    uint64_t version, Dbs__ConfigBackup **out);
int stpg_config_backup_list(struct store_txn *txn, const char *node,
    int (*cb)(void *ctx, const Dbs__ConfigBackup *b), void *ctx);
int stpg_verify(struct store_txn *txn,
    void (*report)(void *ctx, const char *problem), void *ctx,
    uint64_t *problems);
int stpg_client_bytes(
    struct store_txn *txn, const char *client, uint64_t *out);
int stpg_log_lookup(struct store_txn *txn, const Dbs__Log *log, uint64_t *id);

#endif
