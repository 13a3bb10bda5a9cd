/*
 * store.h — the durable store of Databus: queue, logs, users, sessions,
 * config backups and the event log.
 *
 * The API is backend-neutral: callers see opaque handles and the protobuf
 * records of proto/databus.proto, never LMDB types, so that another backend
 * (PostgreSQL) can implement the same contract. The LMDB backend keeps one
 * environment in <data_dir>/store.
 *
 * Processes: only databusd opens the store read-write (STORE_RDWR takes an
 * exclusive lock file; a second writer gets DBS_ELOCKED). databus-web and
 * databusctl open it STORE_RDONLY. A store handle must not cross a fork.
 *
 * Transactions: every function works inside a transaction. A write
 * transaction groups many changes and commits them with one fsync (group
 * commit): callers keep one open while they handle a burst of messages,
 * then commit once. Only one write transaction exists at a time; read
 * transactions are snapshots and never block the writer. A thread must not
 * hold a read transaction while it holds the write transaction.
 *
 * Errors: DBS_OK, or a dbs_error value. After any error other than
 * DBS_ENOTFOUND / DBS_EEXIST / DBS_EINVAL inside a write transaction, the
 * transaction is unusable: the caller must store_txn_abort() it. A full map
 * (at put or at commit) returns DBS_EMAPFULL after the store has grown its
 * map (if below max_size): the aborted changes must be redone by the
 * caller; when the map cannot grow the store stays full (DBS_EMAPFULL on
 * every write) until space is freed. Disk errors return DBS_EIO/DBS_ENOSPC.
 *
 * Memory: *_get functions return records that the caller frees with the
 * matching protobuf-c free_unpacked (e.g. dbs__passenger__free_unpacked(p,
 * NULL)). Pointers passed to callbacks and bodies from store_attachment_get
 * are valid until the callback returns / the transaction ends.
 */
#ifndef DBS_STORE_H
#define DBS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "databus.pb-c.h"

#define STORE_SCHEMA_VERSION 1

struct store;
struct store_txn;

enum store_mode {
	STORE_RDONLY = 0,
	STORE_RDWR = 1,
};

struct store_options {
	uint64_t map_size;   /* initial map size; 0 = 256 MiB */
	uint64_t max_size;   /* the map never grows past this; 0 = 64 GiB */
	uint64_t event_keep; /* events kept at least; 0 = 100000 */
	bool no_sync;        /* tests only: skip fsync (never in production) */
};

/*
 * Open (creating for STORE_RDWR) the store in directory `dir`. RDWR also
 * runs schema migrations, clears stale reader slots and takes the writer
 * lock. `opt` may be NULL for defaults. *out is set only on success.
 */
int store_open(const char *dir, enum store_mode mode,
    const struct store_options *opt, struct store **out);
void store_close(struct store *st); /* accepts NULL */

/* Clear reader slots of dead processes (mdb_reader_check); returns how many
 * were cleared, or -1. Call after reaping a child. */
int store_reader_check(struct store *st);

/* Begin a transaction. Only one write transaction at a time (DBS_EBUSY). */
int store_txn_begin(struct store *st, bool write, struct store_txn **out);
/* Commit (write) or end (read). Frees txn whatever the result. */
int store_txn_commit(struct store_txn *txn);
void store_txn_abort(struct store_txn *txn); /* accepts NULL */
/* Number of changes made in this write transaction so far. */
size_t store_txn_changes(const struct store_txn *txn);

/* ----------------------------------------------------------- passengers */

/*
 * Seat a passenger: `p` gives client, definition, puller, external_id,
 * steps, metadata, pulled_us; the store assigns id, created_ms/updated_ms
 * (now), state PENDING and next_attempt_ms (now), fills attachment metas
 * from `atts`, and writes the record, attachments and indexes. If the
 * dedup key (client, definition, puller, external_id) exists, nothing is
 * written, *dup is true and *id is the existing passenger's id.
 * Queues a RES_QUEUE_ITEM create event.
 */
int store_passenger_seat(struct store_txn *txn, const Dbs__Passenger *p,
    Dbs__Attachment *const *atts, size_t n_atts, uint64_t *id, bool *dup);

int store_passenger_get(
    struct store_txn *txn, uint64_t id, Dbs__Passenger **out);

/*
 * Replace the record of passenger p->id (which must exist), updating every
 * index for changes of state, next_attempt_ms or done_ms. The caller sets
 * updated_ms. Queues a RES_QUEUE_ITEM update event.
 */
int store_passenger_put(struct store_txn *txn, const Dbs__Passenger *p);

/* Delete a passenger with its attachments, indexes and dedup entry.
 * Queues a RES_QUEUE_ITEM delete event. */
int store_passenger_delete(struct store_txn *txn, uint64_t id);

/* Body of attachment `name` of passenger `id`. */
int store_attachment_get(struct store_txn *txn, uint64_t id, const char *name,
    const void **data, size_t *len);
/* Add or replace an attachment body (metas in the record are the caller's). */
int store_attachment_put(struct store_txn *txn, uint64_t id, const char *name,
    const void *data, size_t len);
int store_attachment_delete(
    struct store_txn *txn, uint64_t id, const char *name);

/* Queue listing. Results come in id order (newest first if newest_first),
 * after `cursor` (an id; 0 = from the start). */
struct store_query {
	const char *client;     /* NULL: every client */
	const char *definition; /* NULL: every definition (needs client) */
	int state;     /* -1: any, else a DBS__PASSENGER_STATE__ value */
	const char *q; /* NULL, an internal id, or a substring of the
			  external id (scans at most 100000 records) */
	uint64_t cursor;
	size_t limit; /* 0 = no limit */
	bool newest_first;
	/* NULL: records are decoded with malloc and freed after cb returns.
	 * Otherwise they are decoded with this allocator, and the store
	 * neither frees nor touches a record once cb has returned: the
	 * allocator's owner reclaims it (e.g. an arena reset in cb, so that
	 * a page costs no heap traffic). */
	ProtobufCAllocator *alloc;
};

/* Calls cb for each match; cb returns 0 to go on, non-zero to stop (that
 * value is then returned). *next_cursor (may be NULL) is the id to continue
 * from, 0 when the listing is complete. */
int store_queue_list(struct store_txn *txn, const struct store_query *q,
    int (*cb)(void *ctx, const Dbs__Passenger *p), void *ctx,
    uint64_t *next_cursor);

/* PENDING passengers of one definition whose next_attempt_ms <= due_ms, in
 * (next_attempt_ms, id) order, at most `limit`. For the scheduler. */
int store_queue_due(struct store_txn *txn, const char *client,
    const char *definition, int64_t due_ms, size_t limit,
    int (*cb)(void *ctx, const Dbs__Passenger *p), void *ctx);

/* Earliest next_attempt_ms of a PENDING passenger of the definition, or
 * DBS_ENOTFOUND when there is none. */
int store_queue_next_due(struct store_txn *txn, const char *client,
    const char *definition, int64_t *due_ms);

/* Passenger counts by state of one definition (client NULL: all). */
int store_queue_counts(struct store_txn *txn, const char *client,
    const char *definition, uint64_t *pending, uint64_t *done, uint64_t *dead);

/* Delete DONE passengers (client/definition NULL = all) whose done_ms <
 * before_ms, at most `max` (0 = no limit); *count = how many. */
int store_queue_purge(struct store_txn *txn, const char *client,
    const char *definition, int64_t before_ms, size_t max, uint64_t *count);

/* ------------------------------------------------------------------ logs */

/* Store a log; assigns log->id when it is 0. Links it to every passenger id
 * in `passenger_ids` (and to those named by its entries) so that
 * store_log_list_for_passenger finds it. Queues a RES_LOG create event. */
int store_log_put(struct store_txn *txn, Dbs__Log *log,
    const uint64_t *passenger_ids, size_t n_ids);
int store_log_get(struct store_txn *txn, uint64_t id, Dbs__Log **out);
/* Logs of a client (NULL: all), newest first, after cursor (a log id). */
int store_log_list(struct store_txn *txn, const char *client, uint64_t cursor,
    size_t limit, int (*cb)(void *ctx, const Dbs__Log *log), void *ctx,
    uint64_t *next_cursor);
int store_log_list_for_passenger(struct store_txn *txn, const char *client,
    uint64_t passenger_id, int (*cb)(void *ctx, const Dbs__Log *log),
    void *ctx);
/* Delete logs (client NULL: all) with finished_ms < before_ms (0: all). */
int store_log_purge(struct store_txn *txn, const char *client,
    int64_t before_ms, uint64_t *count);

/* ------------------------------------------------------- users, sessions */

/* Insert or replace (client, username). Queues a RES_USER event (without
 * the password hash). */
int store_user_put(struct store_txn *txn, const Dbs__User *u);
int store_user_get(struct store_txn *txn, const char *client,
    const char *username, Dbs__User **out);
int store_user_delete(
    struct store_txn *txn, const char *client, const char *username);
int store_user_list(struct store_txn *txn, const char *client,
    int (*cb)(void *ctx, const Dbs__User *u), void *ctx);
int store_user_count(
    struct store_txn *txn, const char *client, uint64_t *count);

int store_session_put(struct store_txn *txn, const Dbs__Session *s);
/* Look up by token hash (32 bytes). */
int store_session_get(struct store_txn *txn, const uint8_t *hash,
    size_t hash_len, Dbs__Session **out);
int store_session_delete(
    struct store_txn *txn, const uint8_t *hash, size_t hash_len);
/* Delete every session of a user; *count = how many. */
int store_session_revoke_user(struct store_txn *txn, const char *client,
    const char *username, uint64_t *count);
/* Delete sessions with expires_ms < now_ms. */
int store_session_expire(
    struct store_txn *txn, int64_t now_ms, uint64_t *count);

/* ------------------------------------------------------- config backups */

/* Append a version of `node`; *version = its number (1, 2, ...). */
int store_config_backup_put(struct store_txn *txn, const char *node,
    const char *author, const void *content, size_t len, int64_t time_ms,
    uint64_t *version);
int store_config_backup_get(struct store_txn *txn, const char *node,
    uint64_t version, Dbs__ConfigBackup **out);
/* Versions of a node, newest first. */
int store_config_backup_list(struct store_txn *txn, const char *node,
    int (*cb)(void *ctx, const Dbs__ConfigBackup *b), void *ctx);

/* ------------------------------------------------------------ event log */

/*
 * Append an event; *seq (may be NULL) gets its sequence number. Sequence
 * numbers increase by one per event, store-wide, and are never reused.
 * Queue item changes are appended by the store itself at commit, batched
 * per client as EV_CREATE_LIST / EV_UPDATE_LIST / EV_DELETE_LIST with a
 * packed PassengerList (deletes carry records with only id and client).
 */
int store_event_append(struct store_txn *txn, const char *client,
    Dbs__Resource resource, Dbs__EventKind kind, const void *data, size_t len,
    uint64_t *seq);
/* Events with seq > since, in order, at most `limit` (0: all). */
int store_event_list(struct store_txn *txn, uint64_t since, size_t limit,
    int (*cb)(void *ctx, const Dbs__Event *ev), void *ctx);
/* First and last sequence numbers kept (0, 0 when empty). */
int store_event_range(struct store_txn *txn, uint64_t *first, uint64_t *last);
/* Keep at most `keep` newest events; *count = how many were removed. */
int store_event_trim(struct store_txn *txn, uint64_t keep, uint64_t *count);
/* Remove the oldest events appended before before_ms, at most `max` (0: no
 * limit), always keeping the newest one; *count = how many. */
int store_event_trim_before(
    struct store_txn *txn, int64_t before_ms, size_t max, uint64_t *count);

/* ------------------------------------------------------------ meta, tools */

/* Small named values (the supervisor keeps e.g. "last_drive_id"). */
int store_meta_get_u64(
    struct store_txn *txn, const char *key, uint64_t *value);
int store_meta_put_u64(struct store_txn *txn, const char *key, uint64_t value);

int store_stats(struct store_txn *txn, Dbs__StoreStats *stats);
/* The storage engine and its version, e.g. "LMDB 0.9.24" (static). */
const char *store_engine_version(void);

/*
 * Check every index against the records, attachment references against
 * the attachment database, and event-log order. Each problem found is
 * reported through `report` (may be NULL); *problems counts them.
 */
int store_verify(struct store_txn *txn,
    void (*report)(void *ctx, const char *problem), void *ctx,
    uint64_t *problems);

/* Copy the whole environment, compacting, into directory `dir` (must
 * exist and be empty) from a consistent snapshot without blocking writers. */
int store_copy(struct store *st, const char *dir);

/*
 * Hot backup (copy.c): write one consistent snapshot of the store to the
 * file `path` (an LMDB data file: put it as DIR/store/data.mdb to use it)
 * without pausing the writer. The copy goes through `path`.tmp-<pid>,
 * fsync'd and renamed, so `path` is never half written. *bytes (may be
 * NULL) gets its size.
 */
int store_backup(struct store *st, const char *path, uint64_t *bytes);

/*
 * Offline compaction (copy.c) of the store in directory `dir`: takes the
 * writer lock (DBS_ELOCKED while databusd runs), writes a compacted copy
 * without free pages and swaps it in for data.mdb. *before and *after
 * (may be NULL) get the file sizes; err gets a sentence on failure.
 */
int store_compact(const char *dir, uint64_t *before, uint64_t *after,
    char *err, size_t errlen);

/*
 * Room left (room.c): *disk_bytes free on the disk of the data file (for
 * an unprivileged user), *map_bytes the map may still take before
 * max_size (free pages inside the file not counted).
 */
int store_room(struct store *st, uint64_t *disk_bytes, uint64_t *map_bytes);

/* Human text of the last error of this store (e.g. "mdb_txn_commit:
 * MDB_MAP_FULL" or the strerror of EIO), for logs. */
const char *store_last_error(const struct store *st);

#endif
