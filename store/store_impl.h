/*
 * store_impl.h — private to store/: the LMDB layout of the store and the
 * helpers its files share. Nothing here is visible outside store/.
 *
 * The store is split by concern: store.c (environment, lock, transactions,
 * map growth, meta, stats, copy), queue.c (passengers, attachments, queue
 * indexes and counts), logs.c, auth.c (users and sessions), backups.c
 * (config backups), events.c (the event log and the batching of queue item
 * events at commit) and verify.c (the consistency check).
 *
 * Key encodings. Integers are big-endian so that LMDB's byte order is the
 * numeric order; signed times (ms) have their sign bit flipped first so that
 * negative values sort before positive ones. A string is followed by a NUL,
 * which no protobuf string contains, so "a\0" never prefixes "ab\0". "id" is
 * a passenger id (u64), "lid" a log id, "st" the state as one byte.
 *
 *   meta          name (no NUL)                    -> u64
 *   passengers    id                               -> Passenger
 *   attachments   id name                          -> body
 *   q.client      client\0 id                      -> (empty)
 *   q.def         client\0 def\0 id                -> (empty)
 *   q.client.st   client\0 st id                   -> (empty)
 *   q.def.st      client\0 def\0 st id             -> (empty)
 *   q.due         client\0 def\0 next_attempt id   -> (empty)  PENDING only
 *   q.done        client\0 def\0 done_ms id        -> (empty)  DONE only
 *   q.dedup       client\0 def\0 puller\0 extkey   -> id, or id expires
 *   q.dedup.exp   expires dedup key                -> (empty)
 *   q.counts      client\0 def\0                   -> u64 pending done dead
 *   logs          lid                              -> Log
 *   logs.client   client\0 lid                     -> (empty)
 *   logs.time     client\0 finished_ms lid         -> (empty)
 *   log.links     client\0 id lid                  -> (empty)
 *   log.pids      lid id                           -> (empty)
 *   users         client\0 username                -> User
 *   users.imported client\0 username               -> imported_ms
 *   sessions      token hash                       -> Session
 *   sessions.user client\0 username\0 token hash   -> (empty)
 *   config        node\0 version                   -> ConfigBackup
 *   events        seq                              -> Event
 *
 * A q.dedup value of 8 bytes names the live passenger; one of 16 bytes is
 * the key of a purged passenger, kept until `expires` (ms, big-endian) so
 * that a redelivery within the dedup horizon is still a duplicate; each
 * such entry has its q.dedup.exp entry, in expiry order, for the sweep.
 * users.imported remembers which users of the client files were imported
 * once, so that one removed or changed since is never imported again.
 *
 * extkey is the external id itself when it has at most STORE_EXTID_RAW
 * bytes; a longer one becomes its first STORE_EXTID_PREFIX bytes, a NUL and
 * its 32-byte BLAKE2b hash. A raw external id holds no NUL, so the two forms
 * never collide, and every key stays below LMDB's 511-byte limit.
 */
#ifndef DBS_STORE_IMPL_H
#define DBS_STORE_IMPL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dbs_error.h"
#include "store.h"

/* Longest client, definition, puller and user names (bytes). */
#define STORE_NAME_MAX 128
/* Longest attachment names and config node names (bytes). */
#define STORE_LONGNAME_MAX 255
/* External ids up to this length are kept verbatim in the dedup key. */
#define STORE_EXTID_RAW    120
#define STORE_EXTID_PREFIX 64
#define STORE_HASH_LEN     32
/* Longest session token hash and meta name. */
#define STORE_TOKEN_MAX    64
#define STORE_META_KEY_MAX 200
/* LMDB's default (and smallest) maximum key size. */
#define STORE_KEY_MAX 511
/* A queue item list event is cut when it grows past this many bytes. */
#define STORE_EVENT_LIST_MAX (1u << 20)
/* The event log is trimmed when it takes more room than this. */
#define STORE_EVENT_BYTES_MAX (UINT64_C(256) << 20)
/* Substring searches look at this many records at most per call. */
#define STORE_SCAN_MAX 100000

enum store_db {
	DB_META,
	DB_PASSENGERS,
	DB_ATTACHMENTS,
	DB_Q_CLIENT,
	DB_Q_DEF,
	DB_Q_CLIENT_STATE,
	DB_Q_DEF_STATE,
	DB_Q_DUE,
	DB_Q_DONE,
	DB_Q_DEDUP,
	DB_Q_COUNTS,
	DB_LOGS,
	DB_LOGS_CLIENT,
	DB_LOGS_TIME,
	DB_LOG_LINKS,
	DB_LOG_PIDS,
	DB_USERS,
	DB_SESSIONS,
	DB_SESSIONS_USER,
	DB_CONFIG,
	DB_EVENTS,
	/* Added after the first release: a read-only open of a store that
	 * no writer of this version has opened yet finds them missing and
	 * reads them as empty (see store.absent). */
	DB_Q_DEDUP_EXP,
	DB_USERS_IMPORTED,
	DB__COUNT
};

#define DB_FIRST_ADDED DB_Q_DEDUP_EXP

extern const char *const sti_db_names[DB__COUNT];

/* Meta names used by the store itself; callers cannot write "store.*". */
#define META_SCHEMA   "store.schema_version"
#define META_NEXT_PID "store.next_passenger_id"
#define META_NEXT_LOG "store.next_log_id"
#define META_NEXT_SEQ "store.next_event_seq"
#define META_COMMITS  "store.commits"

/* A growable byte buffer, reused between transactions. */
struct sbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

/* Queue item and log changes of one client in the open write
 * transaction, as the bodies of packed PassengerLists (created, updated,
 * deleted items) and EventLogLists (created, deleted logs). */
enum {
	EVB_ITEM_CREATE,
	EVB_ITEM_UPDATE,
	EVB_ITEM_DELETE,
	EVB_LOG_CREATE,
	EVB_LOG_DELETE,
	EVB_LISTS
};

struct ev_bucket {
	char *client; /* NUL-terminated */
	size_t clen;
	size_t client_cap;
	struct sbuf list[EVB_LISTS];
};

/* Changes of the passenger counts of one definition in the open write
 * transaction; applied to q.counts at commit. */
struct count_delta {
	uint8_t key[2 * STORE_NAME_MAX + 2]; /* client\0 def\0 */
	size_t klen;
	int64_t d[3]; /* by state */
};

struct stpg_txn; /* store_pg.h */

struct store_txn {
	struct store *st;
	MDB_txn *mt;         /* NULL once a full map aborted it */
	struct stpg_txn *pg; /* the PostgreSQL engine's, else NULL */
	bool write;
	bool dirty;        /* something was written */
	int poison;        /* first fatal error; every later call returns it */
	size_t changes;    /* API-level changes */
	uint64_t next_pid; /* ids handed out by this transaction */
	uint64_t next_log;
	uint64_t next_seq;
};

struct stpg; /* store_pg.h */

struct store {
	struct stpg *pg; /* the PostgreSQL engine (store/pg.c), else NULL */
	MDB_env *env;
	enum store_mode mode;
	MDB_dbi dbi[DB__COUNT];
	int lock_fd; /* <dir>/writer.lock, flock'ed (RDWR) */
	dev_t dev;   /* of the directory: one open per process */
	ino_t ino;
	pid_t pid;
	struct store *reg_next; /* stores open in this process */
	uint64_t max_size;
	uint64_t event_keep;
	int64_t dedup_horizon_ms; /* < 0: keys go with their passenger */
	unsigned absent;          /* bit per DB_* missing (read-only) */
	size_t page_size;

	/* Next ids (writer): committed state, copied into each write txn. */
	uint64_t next_pid;
	uint64_t next_log;
	uint64_t next_seq;

	pthread_mutex_t mu; /* guards the fields below */
	unsigned readers;   /* open read transactions */
	bool writing;       /* the write transaction is taken */
	uint64_t grow_to;   /* map growth waiting for readers to end */
	char err[256];

	/* The write transaction and its scratch, reused from one to the next
	 * so that a burst of small transactions allocates nothing. */
	struct store_txn wtxn;
	struct ev_bucket *evb;
	size_t n_evb, cap_evb;
	size_t evb_last;
	struct count_delta *cnt;
	size_t n_cnt, cap_cnt;
	size_t cnt_last;
	struct usage_deltas *usage; /* usage.c */
	Dbs__AttachmentMeta *metas;
	Dbs__AttachmentMeta **metap;
	size_t cap_metas;
	struct sbuf pack; /* packing of logs and users for events */

	/* LMDB operations since the store was opened (gets, puts, deletes,
	 * cursor steps), for StoreStats: what a passenger costs the store.
	 * Relaxed atomics: readers on other threads count too. */
	uint64_t ops[STORE_OP__COUNT];
};

/* Is `t` a transaction of the PostgreSQL engine? The public functions
 * of store.h hand those to their stpg_ twin (store_pg.h). */
static inline bool
sti_pg(const struct store_txn *t)
{
	return t != NULL && t->pg != NULL;
}

/* Count one LMDB operation of kind `op` (enum store_op, store.h). */
static inline void
sti_count(struct store *st, int op)
{
	__atomic_fetch_add(&st->ops[op], 1, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------- keys */

struct key {
	uint8_t b[STORE_KEY_MAX];
	size_t n;
	bool over; /* something did not fit: the key is unusable */
};

static inline void
key_init(struct key *k)
{
	k->n = 0;
	k->over = false;
}

static inline void
key_raw(struct key *k, const void *p, size_t n)
{
	if (k->over || n > sizeof(k->b) - k->n) {
		k->over = true;
		return;
	}
	if (n > 0)
		__builtin_memcpy(k->b + k->n, p, n);
	k->n += n;
}

static inline void
key_u8(struct key *k, uint8_t v)
{
	key_raw(k, &v, 1);
}

/* A string and its terminating NUL. */
static inline void
key_strn(struct key *k, const char *s, size_t n)
{
	key_raw(k, s, n);
	key_u8(k, 0);
}

static inline void
key_str(struct key *k, const char *s)
{
	key_strn(k, s, __builtin_strlen(s));
}

static inline void
sti_put_be64(void *p, uint64_t v)
{
	uint8_t *b = p;

	for (int i = 7; i >= 0; i--) {
		b[i] = (uint8_t)v;
		v >>= 8;
	}
}

static inline uint64_t
sti_be64(const void *p)
{
	const uint8_t *b = p;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static inline void
key_u64(struct key *k, uint64_t v)
{
	uint8_t b[8];

	sti_put_be64(b, v);
	key_raw(k, b, 8);
}

/* Signed values sort as unsigned once the sign bit is flipped. */
static inline void
key_i64(struct key *k, int64_t v)
{
	key_u64(k, (uint64_t)v ^ (UINT64_C(1) << 63));
}

static inline int64_t
sti_be_i64(const void *p)
{
	return (int64_t)(sti_be64(p) ^ (UINT64_C(1) << 63));
}

static inline MDB_val
key_val(struct key *k)
{
	MDB_val v = {k->n, k->b};

	return v;
}

/* The key of a record numbered `id` (passengers, logs), written into `b`:
 * the value is valid as long as `b` is. */
static inline MDB_val
sti_id_val(uint8_t b[8], uint64_t id)
{
	MDB_val v = {8, b};

	sti_put_be64(b, id);
	return v;
}

/* The dedup key of a passenger. */
void sti_key_dedup(struct key *k, const char *client, size_t clen,
    const char *def, size_t dlen, const char *puller, size_t plen,
    const char *ext, size_t elen);

/* ---------------------------------------------- peeking at records */

/*
 * A view of the scalar and length-delimited fields (numbers below
 * PBV_FIELDS) of a packed protobuf message, without decoding it: the store
 * reads state, times and names of records this way on its hot paths.
 * Strings point into the record (not NUL-terminated); absent fields are 0
 * and "". Repeated fields keep their last occurrence.
 */
#define PBV_FIELDS 20

struct pbv {
	uint64_t v[PBV_FIELDS];
	const char *s[PBV_FIELDS];
	size_t len[PBV_FIELDS];
};

int sti_pbv(struct pbv *pv, const void *data, size_t len);

static inline bool
pbv_eq(const struct pbv *pv, int f, const char *s)
{
	size_t n = __builtin_strlen(s);

	return pv->len[f] == n && __builtin_memcmp(pv->s[f], s, n) == 0;
}

/* Field numbers of proto/databus.proto read through a pbv. */
enum {
	PF_ID = 1,
	PF_CLIENT = 2,
	PF_DEF = 3,
	PF_PULLER = 4,
	PF_EXT = 5,
	PF_STATE = 6,
	PF_NEXT = 12,
	PF_DONE = 17,
	LF_ID = 1,
	LF_CLIENT = 2,
	LF_FINISHED = 6,
	SF_HASH = 1,
	SF_CLIENT = 2,
	SF_USER = 3,
	SF_EXPIRES = 7,
	EF_SEQ = 1,
};

/* -------------------------------------------------- database access */

/* Check that txn can be used (for writing, if `write`): DBS_EINVAL or the
 * poisoning error, else DBS_OK. */
int sti_usable(struct store_txn *t, bool write);
/* The id the next seat gets (a read transaction: past the last id and the
 * high-water mark). */
int sti_next_passenger_id(struct store_txn *t, uint64_t *out);

/* Record an LMDB failure `mrc` of `op` on `db` (or -1): keep its text as
 * the store's last error, poison a write transaction, handle a full map.
 * Returns the dbs_error. */
int sti_fail(struct store_txn *t, int mrc, const char *op, int db);

/* Keep `fmt` as the last error of `st`. */
/* free_space.c: a commit's EIO on a (nearly) full disk becomes DBS_ENOSPC,
 * with the free space added to st->err; other codes pass through. */
int sti_commit_error(struct store *st, int rc);

void sti_set_error(struct store *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Get: DBS_OK, DBS_ENOTFOUND, or a (poisoning) error. */
int sti_get(struct store_txn *t, int db, MDB_val *k, MDB_val *v);
/* Put: DBS_OK or a poisoning error. */
int sti_put(
    struct store_txn *t, int db, MDB_val *k, MDB_val *v, unsigned flags);
/* Pack `m` straight into the map; *stored (may be NULL) gets the bytes as
 * kept, valid until the next write of the transaction. */
int sti_put_msg(struct store_txn *t, int db, MDB_val *k,
    const ProtobufCMessage *m, unsigned flags, MDB_val *stored);
/* Delete: DBS_OK, DBS_ENOTFOUND (not poisoning), or a poisoning error. */
int sti_del(struct store_txn *t, int db, MDB_val *k);
/* Delete, where a missing key is fine (indexes being cleaned). */
int sti_del_any(struct store_txn *t, int db, MDB_val *k);
/* Index entries (an empty value under a built key), shared by the queue,
 * log and session indexes: DBS_ETOOBIG when `k` did not fit, else as
 * sti_put and sti_del_any. */
int sti_put_key(struct store_txn *t, int db, struct key *k);
int sti_del_key(struct store_txn *t, int db, struct key *k);

/* Unpack a record as `d`; DBS_ECORRUPT (with a last error) if it fails. */
int sti_unpack(struct store_txn *t, const ProtobufCMessageDescriptor *d,
    const MDB_val *v, int db, void *out);
/* The whole of a store_*_get by id (passengers, logs): clear *out (out is
 * a pointer to the message pointer; NULL is DBS_EINVAL), check the
 * transaction, get record `id` of `db` and unpack it as `d`. */
int sti_get_by_id(struct store_txn *t, int db, uint64_t id,
    const ProtobufCMessageDescriptor *d, void *out);

/*
 * A cursor over the keys of `db` that start with `prefix`. Ascending, it
 * starts at the first key >= `from` (NULL: the prefix); descending, at the
 * last key < `from` (NULL: the last key with the prefix). The iterator must
 * not live across writes of the same transaction.
 */
struct iter {
	struct store_txn *t;
	MDB_cursor *c;
	int db;
	const uint8_t *prefix;
	size_t plen;
	bool desc;
	bool started;
	const uint8_t *from;
	size_t flen;
	MDB_val k, v;
};

int sti_iter_open(struct iter *it, struct store_txn *t, int db,
    const void *prefix, size_t plen, const void *from, size_t flen, bool desc);
/* DBS_OK with it->k / it->v set, DBS_ENOTFOUND at the end, or an error. */
int sti_iter_next(struct iter *it);
void sti_iter_close(struct iter *it);

/* Validate a name: DBS_EINVAL when NULL (or empty unless allowed),
 * DBS_ETOOBIG when longer than max. */
int sti_name(const char *s, size_t max, bool empty_ok);

/* The smallest key greater than every key with prefix p (in place);
 * false when there is none. */
bool sti_prefix_end(uint8_t *p, size_t *n);

/* The key prefix of a call scoped to a client and, within it, to a
 * definition (NULL: every one): `client\0 [def\0]`. Each name is checked
 * with sti_name(empty_ok); a definition without a client is DBS_EINVAL.
 * Listings, counts and purges of the queue, logs and users share it. */
int sti_scope_prefix(
    struct key *k, const char *client, const char *def, bool empty_ok);

/*
 * Purge by age through a time index `db` whose keys are `group time id`,
 * the group being `nuls` NUL-terminated names that start with `prefix`
 * (q.done: client\0 def\0; logs.time: client\0). Calls del(t, id) for the
 * entries older than before_ms (every entry when `all`), at most `max`
 * (0: no limit); a del that says DBS_ENOTFOUND (a dangling entry) does not
 * count. *total gets how many went, also on error. Shared by queue and log
 * purges, which differ only in the index and what a deletion is.
 */
int sti_purge_by_time(struct store_txn *t, int db, const struct key *prefix,
    int nuls, int64_t before_ms, bool all, size_t max,
    int (*del)(struct store_txn *t, uint64_t id), uint64_t *total);

int sti_sbuf_reserve(struct sbuf *b, size_t more);
int sti_sbuf_add(struct sbuf *b, const void *p, size_t n);
int sti_sbuf_varint(struct sbuf *b, uint64_t v);
/* Pack m into the store's scratch buffer. */
int sti_pack(struct store *st, const ProtobufCMessage *m, MDB_val *out);

int64_t sti_now_ms(void);

/* ------------------------------------------------------------ events */

/* Append an event now (seq from the transaction). */
int sti_ev_append(struct store_txn *t, const char *client, Dbs__Resource res,
    Dbs__EventKind kind, const void *data, size_t len, uint64_t *seq);
/* Queue a packed record on list `kind` (EVB_ITEM_CREATE, EVB_ITEM_UPDATE,
 * EVB_LOG_CREATE, EVB_LOG_DELETE) of its client. */
int sti_ev_item(struct store_txn *t, const char *client, size_t clen, int kind,
    const void *packed, size_t len);
/* Queue a deleted passenger. */
int sti_ev_item_delete(
    struct store_txn *t, const char *client, size_t clen, uint64_t id);
/* At commit: append the queued lists, then trim the log if due. */
int sti_ev_flush(struct store_txn *t);
/* The first half of that: append every queued list. */
int sti_ev_flush_lists(struct store_txn *t);
/* Append the lists collected for one client now, so that an event
 * appended next for it comes after them. */
int sti_ev_flush_client(struct store_txn *t, const char *client, size_t clen);
void sti_ev_reset(struct store *st);
void sti_ev_free(struct store *st);

/* ------------------------------------------------------- queue counts */

int sti_count_add(struct store_txn *t, const char *client, size_t clen,
    const char *def, size_t dlen, unsigned state, int64_t delta);
int sti_count_flush(struct store_txn *t);

/* usage.c: bytes charged per client (store_client_bytes). sti_usage_of is
 * the charge of a packed Passenger record; sti_usage_add queues a change
 * in the open write transaction, applied by sti_usage_flush at commit. */
struct usage_deltas;
int64_t sti_usage_of(const void *rec, size_t len);
int sti_usage_add(
    struct store_txn *t, const char *client, size_t clen, int64_t delta);
int sti_usage_flush(struct store_txn *t);
void sti_usage_reset(struct store *st);
/* The queued changes: fn for each client whose bytes changed (the
 * PostgreSQL engine writes them at commit), and the change of `client`
 * queued in the write transaction t (0 in a read transaction). */
int sti_usage_each(struct store *st,
    int (*fn)(void *ctx, const char *client, int64_t delta), void *ctx);
int64_t sti_usage_pending(struct store_txn *t, const char *client);
void sti_usage_free(struct store *st);
int sti_usage_init(struct store_txn *t);
void sti_count_reset(struct store *st);
void sti_count_free(struct store *st);
/* Pending deltas of the open write transaction for keys with prefix. */
void sti_count_pending(
    struct store_txn *t, const uint8_t *prefix, size_t plen, int64_t d[3]);

/* ------------------------------------------------------ queue indexes */

/* The fields of a passenger that its index keys are made of. */
struct pfields {
	const char *client, *def, *puller, *ext;
	size_t clen, dlen, plen, elen;
	unsigned state;
	int64_t next; /* next_attempt_ms */
	int64_t done; /* done_ms */
};

void sti_pf_from_pbv(struct pfields *f, const struct pbv *pv);
/* Does the record belong in index `db` (a DB_Q_* keyed by id)? */
bool sti_q_indexed(int db, unsigned state);
/* The key of passenger `id` in index `db` (DB_Q_CLIENT .. DB_Q_DONE). */
void sti_qkey(struct key *k, int db, const struct pfields *f, uint64_t id);

/* Check the names a passenger is keyed by, and a seat's attachments
 * (named, no name twice): DBS_OK, DBS_EINVAL or DBS_ETOOBIG. */
int sti_check_identity(const Dbs__Passenger *p);
/* Whether s is a passenger id in decimal (1 to UINT64_MAX): *out. */
bool sti_is_number(const char *s, uint64_t *out);
/* A session token hash: DBS_EINVAL when absent, DBS_ETOOBIG when longer
 * than STORE_TOKEN_MAX. */
int sti_check_hash(const uint8_t *hash, size_t len);
/* Whether log `a` is log `b` of the same client for an import: the same
 * definition, drive id and start (store_log_lookup; its finish time is
 * the key it was found by). */
bool sti_log_same(const Dbs__Log *a, const Dbs__Log *b);
int sti_check_attachments(Dbs__Attachment *const *atts, size_t n);

/* Delete passenger `id`: record, attachments, indexes, dedup entry. */
int sti_passenger_delete(struct store_txn *t, uint64_t id);
/* The same, but its dedup entry stays for the store's dedup horizon
 * (the queue purge). */
int sti_passenger_retire(struct store_txn *t, uint64_t id);

#endif
