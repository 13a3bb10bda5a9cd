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

/* The engine behind the contract: LMDB (embedded, the default) or
 * PostgreSQL (libpq; store/pg*.c), for deployments that outgrow one host. */
enum store_backend {
	STORE_BACKEND_LMDB = 0,
	STORE_BACKEND_POSTGRES = 1,
};

struct store_options {
	uint64_t map_size;   /* initial map size; 0 = 256 MiB */
	uint64_t max_size;   /* the map never grows past this; 0 = 64 GiB */
	uint64_t event_keep; /* events kept at least; 0 = 100000 */
	/* How long the dedup key of a purged passenger still makes a new
	 * seat with the same key a duplicate: 0 = 7 days, < 0 = not at all
	 * (the key goes with the passenger). */
	int64_t dedup_horizon_ms;
	bool no_sync; /* tests only: skip fsync (never in production) */
	/* STORE_BACKEND_POSTGRES: the libpq conninfo string (may name a
	 * password: never log it) and the schema that holds the tables
	 * (NULL: "databus"). `dir` of store_open is then not used. The map
	 * sizes and no_sync do not apply. */
	enum store_backend backend;
	const char *pg_conninfo;
	const char *pg_schema;
};

/*
 * Open (creating for STORE_RDWR) the store in directory `dir`. RDWR also
 * runs schema migrations, clears stale reader slots and takes the writer
 * lock. `opt` may be NULL for defaults. *out is set only on success.
 *
 * With opt->backend STORE_BACKEND_POSTGRES the store lives in the schema
 * opt->pg_schema of the database opt->pg_conninfo names (dir may be NULL):
 * RDWR creates or migrates the schema (DBS_ESCHEMA for a newer one), RDONLY
 * finds it (DBS_ENOTFOUND when it is missing). PostgreSQL takes no writer
 * lock: writers of the same schema serialise on its id counters. The
 * functions about LMDB files (store_open_file, store_reader_check,
 * store_copy, store_backup, store_compact, and the map part of store_room)
 * answer DBS_EINVAL (-1 for store_reader_check) on such a store. A lost
 * connection is DBS_EIO with PostgreSQL's words in store_last_error; a
 * failed commit leaves nothing of the transaction behind.
 */
int store_open(const char *dir, enum store_mode mode,
    const struct store_options *opt, struct store **out);
void store_close(struct store *st); /* accepts NULL */

/*
 * The store of the data directory `data_dir` (engine_file.c), for the
 * programs that are given a data directory rather than databusd's
 * configuration (databus-web, databusctl): the PostgreSQL store databusd
 * recorded in <data_dir>/store/engine.json when it opened it, else LMDB
 * in <data_dir>/store. `base` (may be NULL) gives the other options. On
 * failure err gets a sentence (never the conninfo).
 */
int store_open_data(const char *data_dir, enum store_mode mode,
    const struct store_options *base, struct store **out, char *err,
    size_t errlen);
/* The engine store_open_data would open (LMDB when nothing readable is
 * recorded). */
enum store_backend store_data_backend(const char *data_dir);
/* Record (PostgreSQL) or forget (LMDB) where databusd's store lives, for
 * store_open_data; databusd calls it once its store is open. */
int store_engine_record(const char *data_dir, const struct store_options *opt);

/*
 * Open the single LMDB data file `path` (a hot backup, or a store's
 * data.mdb that no databusd has open) read-only, without a lock file
 * (MDB_RDONLY | MDB_NOLOCK: nothing is written next to it), for reading
 * it as an archive (store/archive_store.c). Refused with DBS_EINVAL (not
 * an LMDB file, or not a Databus store), DBS_ESCHEMA (a newer schema) or
 * DBS_ECORRUPT (cut short); err gets a sentence. Must not be the live
 * store of a running databusd: no reader slot protects its pages.
 */
int store_open_file(
    const char *path, struct store **out, char *err, size_t errlen);

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

/* Change the dedup horizon (as store_options.dedup_horizon_ms) for the
 * purges to come; keys already kept keep their expiry. Writer only. */
void store_set_dedup_horizon(struct store *st, int64_t ms);

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

/*
 * Import (store/import.c): seat a passenger as an archive recorded it —
 * its state, steps, attempts and times are kept. Dedup as
 * store_passenger_seat (*dup: nothing written, *id the holder). p->id is
 * kept when this store never handed it out (p->id >= the next id), else
 * the passenger gets the next id: *id says which. Queues a create event.
 */
int store_passenger_import(struct store_txn *txn, const Dbs__Passenger *p,
    Dbs__Attachment *const *atts, size_t n_atts, uint64_t *id, bool *dup);

/*
 * Seat n passengers at once: as n store_passenger_seat calls in order (a
 * key seated twice in the batch is a duplicate of its first seat), with
 * each passenger's answer in ids[i], dups[i] and rcs[i]: DBS_OK (seated,
 * or a duplicate), or DBS_EINVAL / DBS_ETOOBIG for a passenger that
 * cannot be seated (nothing of it written; the others are). atts (may be
 * NULL) and n_atts (may be NULL) give each passenger's attachments. The
 * return value is DBS_OK or a store error (the transaction is then
 * poisoned, as after a failed seat). On PostgreSQL the whole batch costs
 * one round trip (a pipeline); the ids of its duplicates are not handed
 * to anyone, so the ids of a batch may skip numbers there.
 */
int store_passenger_seat_many(struct store_txn *txn,
    const Dbs__Passenger *const *ps, Dbs__Attachment *const *const *atts,
    const size_t *n_atts, size_t n, uint64_t *ids, bool *dups, int *rcs);

/* Who holds the dedup key of `p` (client, definition, puller,
 * external_id): DBS_OK with *id, or DBS_ENOTFOUND. *next_id (may be NULL)
 * gets the id the next seat would get. Works in a read transaction. */
int store_passenger_lookup(struct store_txn *txn, const Dbs__Passenger *p,
    uint64_t *id, uint64_t *next_id);

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

/* The same order, keys only (no record is read): the ids and due times of
 * at most `max` PENDING passengers of one definition due by due_ms and
 * after (after_due, after_id) — a dispatch cursor, so that a drive with
 * passengers in flight does not walk over them again. *n = how many. */
int store_queue_due_ids(struct store_txn *txn, const char *client,
    const char *definition, int64_t due_ms, int64_t after_due,
    uint64_t after_id, size_t max, uint64_t *ids, int64_t *dues, size_t *n);

/* Earliest next_attempt_ms of a PENDING passenger of the definition, or
 * DBS_ENOTFOUND when there is none. */
int store_queue_next_due(struct store_txn *txn, const char *client,
    const char *definition, int64_t *due_ms);

/* Passenger counts by state of one definition (client NULL: all). */
int store_queue_counts(struct store_txn *txn, const char *client,
    const char *definition, uint64_t *pending, uint64_t *done, uint64_t *dead);

/* Bytes the passengers of `client` take: each record plus the attachment
 * sizes it names (usage.c), counted as they change, so this costs one
 * read. Inside the write transaction it includes its own changes. */
int store_client_bytes(
    struct store_txn *txn, const char *client, uint64_t *out);

/* Delete DONE passengers (client/definition NULL = all) whose done_ms <
 * before_ms, at most `max` (0 = no limit); *count = how many. The dedup
 * key of each stays for the dedup horizon (store_options), so that the
 * same item pulled or delivered again within it is still a duplicate
 * (store_passenger_seat answers *dup with the purged passenger's id). */
int store_queue_purge(struct store_txn *txn, const char *client,
    const char *definition, int64_t before_ms, size_t max, uint64_t *count);

/* Forget the dedup keys of purged passengers that expired before now_ms,
 * at most `max` (0 = no limit); *count (may be NULL) = how many. */
int store_dedup_sweep(
    struct store_txn *txn, int64_t now_ms, size_t max, uint64_t *count);

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
/* Import (logs_import.c): the log of the store that is `log` — the same
 * client, finished_ms, started_ms, definition and drive_id: DBS_OK with
 * *id, or DBS_ENOTFOUND. Works in a read transaction. */
int store_log_lookup(struct store_txn *txn, const Dbs__Log *log, uint64_t *id);
/* Put an archive's log unless store_log_lookup finds it (*dup, *id the
 * holder). log->id is kept when this store never handed it out, else the
 * next id is given (log->id and *id say which). The entries' passenger
 * ids must be this store's already. Queues a create event. */
int store_log_import(
    struct store_txn *txn, Dbs__Log *log, uint64_t *id, bool *dup);
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
/* Whether (client, username) was imported from a client file once
 * (*imported), and recording that it was: the mark outlives the user, so
 * that a user removed or changed in the store is never imported again. */
int store_user_imported(struct store_txn *txn, const char *client,
    const char *username, bool *imported);
int store_user_mark_imported(
    struct store_txn *txn, const char *client, const char *username);

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

/* The kinds of LMDB operation StoreStats counts (lmdb_gets, ...). */
enum store_op {
	STORE_OP_GET,
	STORE_OP_PUT,
	STORE_OP_DEL,
	STORE_OP_CURSOR, /* one cursor positioning or step */
	STORE_OP__COUNT,
};

/* Sizes and counts of the store, and the LMDB operations this process
 * made on it since it was opened. */
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
 * exist and be empty) from a consistent snapshot without blocking writers.
 * The copy, dir/data.mdb, has mode 0600. */
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
 * Room left (free_space.c): *disk_bytes free on the disk of the data file (for
 * an unprivileged user), *map_bytes the map may still take before
 * max_size (free pages inside the file not counted).
 */
int store_room(struct store *st, uint64_t *disk_bytes, uint64_t *map_bytes);

/* Human text of the last error of this store (e.g. "mdb_txn_commit:
 * MDB_MAP_FULL" or the strerror of EIO), for logs. With st NULL: why the
 * last PostgreSQL store_open of this thread failed (PostgreSQL's words;
 * never the conninfo), else "no store". */
const char *store_last_error(const struct store *st);

#endif
