/*
 * pg_impl.h — private to the PostgreSQL engine (store/pg*.c): its handles,
 * the one way it sends a statement, and the helpers its files share.
 *
 * Every statement goes through pg_exec (its result needed) or pg_run (a
 * pure write, which in a write transaction waits in the connection's
 * pipeline for the next pg_exec or the commit): parameters in binary
 * (integers as big-endian int8, texts and byteas as their bytes, each
 * cast in the SQL so that PostgreSQL never guesses a type), results in
 * binary too, so that a record (a packed protobuf in a bytea) comes back
 * as the very bytes that were stored and an int8 as eight big-endian
 * bytes. A failed statement poisons its transaction (PostgreSQL has
 * aborted it anyway) and leaves PostgreSQL's words in the store's last
 * error.
 *
 * The tables (pg.c, schema_sql) mirror the LMDB databases of
 * store_impl.h, with PostgreSQL indexes for what LMDB keeps as index
 * databases; names are `text COLLATE "C"`, so that an ORDER BY on them is
 * the byte order the LMDB keys have.
 */
#ifndef DBS_PG_IMPL_H
#define DBS_PG_IMPL_H

#include <libpq-fe.h>

#include "store_impl.h"
#include "store_pg.h"

/* Read connections kept open for the next read transaction. */
#define PG_POOL_MAX 8
/* Pure writes queued at most before the pipeline is sent anyway. */
#define PG_PIPE_MAX 256
/* Parameters of one statement at most. */
#define PGP_MAX 16

struct stpg_txn {
	PGconn *conn;
	/* A write transaction keeps its connection in pipeline mode: a
	 * pure write (pg_run without *rows) is queued, and goes with the
	 * next statement whose result is needed, or with the COMMIT. */
	bool pipe;
	int piped; /* statements queued, results not read */
	/* Results whose bytes the caller may still hold (attachment
	 * bodies): cleared when the transaction ends. */
	PGresult **keep;
	size_t n_keep, cap_keep;
};

struct stpg {
	char *conninfo;
	char *schema;              /* as given */
	bool no_sync;              /* tests: synchronous_commit off */
	PGconn *wconn;             /* the writer's connection (RDWR) */
	struct stpg_txn wt;        /* the write transaction's */
	PGconn *idle[PG_POOL_MAX]; /* guarded by st->mu */
	size_t n_idle;
	uint64_t round_trips;   /* relaxed atomic: readers count too */
	struct sbuf rec;        /* packing of records */
	struct sbuf ev;         /* packing of events */
	struct pg_cache *cache; /* pg_queue.c: records of the write txn */
};

/* The parameters of one statement. */
struct pgp {
	int n;
	const char *v[PGP_MAX];
	int len[PGP_MAX];
	int fmt[PGP_MAX];
	uint8_t num[PGP_MAX][8];
};

static inline void
pgp_bytes(struct pgp *q, const void *p, size_t n)
{
	q->v[q->n] = n > 0 ? (const char *)p : "";
	q->len[q->n] = (int)n;
	q->fmt[q->n] = 1;
	q->n++;
}

static inline void
pgp_text(struct pgp *q, const char *s)
{
	pgp_bytes(q, s, __builtin_strlen(s));
}

static inline void
pgp_i64(struct pgp *q, int64_t v)
{
	sti_put_be64(q->num[q->n], (uint64_t)v);
	pgp_bytes(q, q->num[q->n], 8);
}

/* A u64 (ids, counts) as an int8: values past INT64_MAX clamp to it. */
static inline void
pgp_u64(struct pgp *q, uint64_t v)
{
	pgp_i64(q, v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

/* One more round trip to PostgreSQL. */
static inline void
pg_trip(struct stpg *pg)
{
	__atomic_fetch_add(&pg->round_trips, 1, __ATOMIC_RELAXED);
}

/* Run `sql` with `q` (may be NULL) in t's transaction: DBS_OK with *res
 * (may be NULL: cleared at once) for the caller to PQclear, or an error
 * that poisons t. */
int pg_exec(
    struct store_txn *t, const char *sql, const struct pgp *q, PGresult **res);
/* The same, for the statements whose rows do not matter: *rows (may be
 * NULL) gets how many rows they touched. In a commit's pipeline the
 * statement is only queued (*rows is 0). */
int pg_run(
    struct store_txn *t, const char *sql, const struct pgp *q, uint64_t *rows);

/* Queue a statement in the write transaction's pipeline, and send the
 * pipeline, handing each queued statement's result to cb (its index in
 * the queue; NULL for one that failed or was aborted after a failure):
 * the first failure is the answer, and poisons the transaction. */
int pg_send(struct store_txn *t, const char *sql, const struct pgp *q);
int pg_sync(struct store_txn *t,
    void (*cb)(void *ctx, int i, const PGresult *r), void *ctx);
/* Statements queued and not yet sent (their results unread). */
int pg_queued(const struct store_txn *t);

/* Column `col` of row `row` as an int8 (0 when NULL). */
int64_t pg_i64(const PGresult *r, int row, int col);
static inline bool
pg_null(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) != 0;
}

/* Unpack the bytea at (row, col) as `d` into *out (a message pointer):
 * DBS_ECORRUPT with a last error when it does not decode. */
int pg_unpack(struct store_txn *t, const ProtobufCMessageDescriptor *d,
    const PGresult *r, int row, int col, ProtobufCAllocator *alloc, void *out);
/* Pack `m` into `b` (reused): b->p / b->len. */
int pg_pack(struct sbuf *b, const ProtobufCMessage *m);
/* Keep `r` alive until t ends (its bytes were handed to the caller). */
int pg_keep(struct store_txn *t, PGresult *r);

/* Usable for reading (or writing): as sti_usable. */
int pg_usable(struct store_txn *t, bool write);
/* Poison t with rc (unless it is DBS_OK / ENOTFOUND / EEXIST / EINVAL);
 * returns rc. */
int pg_poison(struct store_txn *t, int rc);

/* pg_queue.c: the passenger records the write transaction has seen or
 * written (its own view of them), so that a get costs no round trip and a
 * put can wait in the pipeline. Emptied at each begin; freed at close. */
void pg_cache_reset(struct stpg *pg);
void pg_cache_free(struct stpg *pg);

/* pg_queue.c: at commit, the queue counts and client bytes that the
 * transaction changed. */
int pg_counts_flush(struct store_txn *t);
int pg_usage_flush(struct store_txn *t);

#endif
