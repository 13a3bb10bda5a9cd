/*
 * pg.c — the PostgreSQL engine of store.h: connections, the schema and its
 * version, transactions, the id counters, meta, the event log and stats.
 * The queue lives in pg_queue.c, logs, users, sessions, backups and verify
 * in pg_records.c.
 *
 * A write transaction is one PostgreSQL transaction on the writer's
 * connection. Its first statement locks the counter rows of meta (next
 * passenger id, log id, event seq, commits) FOR UPDATE, so writers of the
 * same schema — other processes, later other nodes — take turns: ids and
 * event sequence numbers are handed out gap-free and in commit order, as
 * LMDB's single writer does. Queue counts, client bytes and the batched
 * queue item events are collected in memory as on LMDB (the same code:
 * queue.c, usage.c, events.c) and written at commit, just before COMMIT;
 * a failed COMMIT leaves nothing behind (PostgreSQL's atomicity), so the
 * caller redoes the batch as after any failed commit.
 *
 * A read transaction is a REPEATABLE READ READ ONLY transaction (a
 * snapshot, taken at its begin) on a connection of a small pool, so that
 * readers on other threads never wait for the writer, as on LMDB.
 *
 * Errors: a statement that fails is DBS_EIO (DBS_ENOSPC for a full disk,
 * DBS_EBUSY for a serialization failure or deadlock) with PostgreSQL's
 * message in store_last_error; a lost connection is reset at the next
 * transaction's begin.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_impl.h"

#define DEFAULT_SCHEMA     "databus"
#define DEFAULT_EVENT_KEEP 100000
#define DEFAULT_DEDUP_MS   (7 * 24 * 3600 * INT64_C(1000))

/* The tables of schema version 1 (see store_impl.h for their LMDB
 * twins). passengers keeps the fields its indexes are made of next to
 * the record; dedup_key is the LMDB dedup key (sti_key_dedup), so that
 * deleting a passenger finds its dedup row without decoding it. */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta ("
    " name text COLLATE \"C\" PRIMARY KEY, value bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS passengers ("
    " id bigint PRIMARY KEY, client text COLLATE \"C\" NOT NULL,"
    " definition text COLLATE \"C\" NOT NULL,"
    " puller text COLLATE \"C\" NOT NULL,"
    " external_id text COLLATE \"C\" NOT NULL, state smallint NOT NULL,"
    " next_attempt_ms bigint NOT NULL, done_ms bigint NOT NULL,"
    " dedup_key bytea NOT NULL, record bytea NOT NULL);"
    "CREATE INDEX IF NOT EXISTS passengers_client"
    " ON passengers (client, id);"
    "CREATE INDEX IF NOT EXISTS passengers_def"
    " ON passengers (client, definition, id);"
    "CREATE INDEX IF NOT EXISTS passengers_client_state"
    " ON passengers (client, state, id);"
    "CREATE INDEX IF NOT EXISTS passengers_def_state"
    " ON passengers (client, definition, state, id);"
    "CREATE INDEX IF NOT EXISTS passengers_due"
    " ON passengers (client, definition, next_attempt_ms, id)"
    " WHERE state = 0;"
    "CREATE INDEX IF NOT EXISTS passengers_done"
    " ON passengers (client, definition, done_ms, id) WHERE state = 1;"
    "CREATE TABLE IF NOT EXISTS attachments ("
    " passenger bigint NOT NULL, name text COLLATE \"C\" NOT NULL,"
    " body bytea NOT NULL, PRIMARY KEY (passenger, name));"
    "CREATE TABLE IF NOT EXISTS dedup ("
    " key bytea PRIMARY KEY, passenger bigint NOT NULL,"
    " expires_ms bigint);"
    "CREATE INDEX IF NOT EXISTS dedup_expires ON dedup (expires_ms, key)"
    " WHERE expires_ms IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS counts ("
    " client text COLLATE \"C\", definition text COLLATE \"C\","
    " pending bigint NOT NULL, done bigint NOT NULL, dead bigint NOT NULL,"
    " PRIMARY KEY (client, definition));"
    "CREATE TABLE IF NOT EXISTS client_bytes ("
    " client text COLLATE \"C\" PRIMARY KEY, bytes bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS logs ("
    " id bigint PRIMARY KEY, client text COLLATE \"C\" NOT NULL,"
    " finished_ms bigint NOT NULL, record bytea NOT NULL);"
    "CREATE INDEX IF NOT EXISTS logs_client ON logs (client, id);"
    "CREATE INDEX IF NOT EXISTS logs_time"
    " ON logs (client, finished_ms, id);"
    "CREATE TABLE IF NOT EXISTS log_links ("
    " client text COLLATE \"C\", passenger bigint, log bigint,"
    " PRIMARY KEY (client, passenger, log));"
    "CREATE INDEX IF NOT EXISTS log_links_log ON log_links (log);"
    "CREATE TABLE IF NOT EXISTS users ("
    " client text COLLATE \"C\", username text COLLATE \"C\","
    " record bytea NOT NULL, PRIMARY KEY (client, username));"
    "CREATE TABLE IF NOT EXISTS users_imported ("
    " client text COLLATE \"C\", username text COLLATE \"C\","
    " imported_ms bigint NOT NULL, PRIMARY KEY (client, username));"
    "CREATE TABLE IF NOT EXISTS sessions ("
    " hash bytea PRIMARY KEY, client text COLLATE \"C\" NOT NULL,"
    " username text COLLATE \"C\" NOT NULL, expires_ms bigint NOT NULL,"
    " record bytea NOT NULL);"
    "CREATE INDEX IF NOT EXISTS sessions_user"
    " ON sessions (client, username, hash);"
    "CREATE TABLE IF NOT EXISTS config_backups ("
    " node text COLLATE \"C\", version bigint, record bytea NOT NULL,"
    " PRIMARY KEY (node, version));"
    "CREATE TABLE IF NOT EXISTS events ("
    " seq bigint PRIMARY KEY, time_ms bigint NOT NULL,"
    " record bytea NOT NULL);"
    "INSERT INTO meta VALUES ('" META_NEXT_PID "', 1), ('" META_NEXT_LOG
    "', 1), ('" META_NEXT_SEQ "', 1), ('" META_COMMITS "', 0)"
    " ON CONFLICT (name) DO NOTHING;";

/* ------------------------------------------------------------- errors */

static void set_error(struct store *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_error(struct store *st, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(st->err, sizeof(st->err), fmt, ap);
	va_end(ap);
	/* libpq's messages end with a newline and may hold more: one line
	 * for the logs. */
	n = strlen(st->err);
	while (n > 0 && (st->err[n - 1] == '\n' || st->err[n - 1] == ' '))
		st->err[--n] = '\0';
	for (char *p = st->err; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
}

/* The dbs_error of a failed statement. */
static int
from_pg(PGconn *c, const PGresult *r)
{
	const char *state =
	    r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	if (c == NULL || PQstatus(c) != CONNECTION_OK || state == NULL)
		return DBS_EIO;
	if (strcmp(state, "53100") == 0) /* disk_full */
		return DBS_ENOSPC;
	if (strcmp(state, "53200") == 0) /* out_of_memory */
		return DBS_ENOMEM;
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		return DBS_EBUSY;
	if (strcmp(state, "54000") == 0) /* program_limit_exceeded */
		return DBS_ETOOBIG;
	return DBS_EIO;
}

int
stpg_lmdb_only(struct store *st, const char *what)
{
	set_error(st,
	    "%s works on an LMDB store only: this store is PostgreSQL's "
	    "(use PostgreSQL's own tools, e.g. pg_dump)",
	    what);
	return DBS_EINVAL;
}

int
pg_poison(struct store_txn *t, int rc)
{
	if (rc != DBS_OK && rc != DBS_ENOTFOUND && rc != DBS_EEXIST &&
	    rc != DBS_EINVAL && t->poison == 0)
		t->poison = rc;
	return rc;
}

int
pg_usable(struct store_txn *t, bool write)
{
	if (t == NULL || (write && !t->write))
		return DBS_EINVAL;
	if (t->poison != 0)
		return t->poison;
	return DBS_OK;
}

/* ---------------------------------------------------------- statements */

/* ----------------------------------------------------- the pipeline */

/* Queue a statement in the write transaction's pipeline. */
static int
pipe_send(struct store_txn *t, const char *sql, const struct pgp *q)
{
	if (!PQsendQueryParams(t->pg->conn, sql, q != NULL ? q->n : 0, NULL,
		q != NULL ? q->v : NULL, q != NULL ? q->len : NULL,
		q != NULL ? q->fmt : NULL, 1)) {
		set_error(
		    t->st, "PostgreSQL: %s", PQerrorMessage(t->pg->conn));
		return pg_poison(t, DBS_EIO);
	}
	t->pg->piped++;
	return DBS_OK;
}

/* The result of the next queued statement: *res (may be NULL) gets it
 * on success. The first failure sets the last error (`first`); the
 * statements after it come back aborted. *lost when nothing comes. */
static int
pipe_result(struct store_txn *t, PGresult **res, bool first, bool *lost)
{
	PGconn *c = t->pg->conn;
	PGresult *r = PQgetResult(c), *x;
	ExecStatusType s;
	int rc = DBS_OK;

	if (r == NULL) {
		*lost = true;
		return DBS_EIO;
	}
	s = PQresultStatus(r);
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		rc = s == PGRES_PIPELINE_ABORTED ? DBS_EIO : from_pg(c, r);
		if (first)
			set_error(t->st, "PostgreSQL: %s",
			    *PQresultErrorMessage(r) ? PQresultErrorMessage(r)
						     : PQerrorMessage(c));
	}
	while ((x = PQgetResult(c)) != NULL)
		PQclear(x);
	if (rc == DBS_OK && res != NULL)
		*res = r;
	else
		PQclear(r);
	return rc;
}

/* Send the pipeline (one round trip) and read the results of every
 * statement queued: the last one's into *res (may be NULL), each one to
 * cb (may be NULL; a failed one as NULL). */
static int
pipe_sync_each(struct store_txn *t, PGresult **res,
    void (*cb)(void *ctx, int i, const PGresult *r), void *ctx)
{
	PGconn *c = t->pg->conn;
	int rc = DBS_OK, n = t->pg->piped;
	bool lost = false;
	PGresult *r;

	t->pg->piped = 0;
	pg_trip(t->st->pg);
	if (!PQpipelineSync(c))
		lost = true;
	for (int i = 0; i < n && !lost; i++) {
		PGresult *mine = NULL;
		bool want = cb != NULL || (res != NULL && i == n - 1);
		int x =
		    pipe_result(t, want ? &mine : NULL, rc == DBS_OK, &lost);

		if (x != DBS_OK && rc == DBS_OK)
			rc = x;
		if (cb != NULL)
			cb(ctx, i, mine);
		if (mine != NULL && res != NULL && i == n - 1)
			*res = mine;
		else
			PQclear(mine);
	}
	/* The sync point's own result. */
	if (!lost && (r = PQgetResult(c)) != NULL)
		PQclear(r);
	if (lost) {
		if (rc == DBS_OK)
			set_error(t->st, "PostgreSQL: %s", PQerrorMessage(c));
		rc = DBS_EIO;
	}
	if (rc != DBS_OK && res != NULL && *res != NULL) {
		PQclear(*res);
		*res = NULL;
	}
	return rc != DBS_OK ? pg_poison(t, rc) : DBS_OK;
}

static int
pipe_sync(struct store_txn *t, PGresult **res)
{
	return pipe_sync_each(t, res, NULL, NULL);
}

int
pg_send(struct store_txn *t, const char *sql, const struct pgp *q)
{
	if (!t->pg->pipe) {
		set_error(t->st, "a pipeline outside a write transaction");
		return pg_poison(t, DBS_EPROTO);
	}
	return pipe_send(t, sql, q);
}

int
pg_sync(struct store_txn *t, void (*cb)(void *ctx, int i, const PGresult *r),
    void *ctx)
{
	return pipe_sync_each(t, NULL, cb, ctx);
}

int
pg_queued(const struct store_txn *t)
{
	return t->pg->piped;
}

/* Leave pipeline mode (at the end of the write transaction). */
static void
pipe_leave(struct store_txn *t)
{
	if (!t->pg->pipe)
		return;
	if (t->pg->piped > 0)
		(void)pipe_sync(t, NULL);
	t->pg->pipe = false;
	(void)PQexitPipelineMode(t->pg->conn);
}

/* ---------------------------------------------------------- statements */

int
pg_exec(
    struct store_txn *t, const char *sql, const struct pgp *q, PGresult **res)
{
	PGconn *c = t->pg->conn;
	PGresult *r;
	ExecStatusType s;
	int rc;

	if (res != NULL)
		*res = NULL;
	if (t->pg->pipe) {
		/* The writes queued so far go with it: one round trip. */
		if ((rc = pipe_send(t, sql, q)) != DBS_OK)
			return rc;
		return pipe_sync(t, res);
	}
	pg_trip(t->st->pg);
	r = PQexecParams(c, sql, q != NULL ? q->n : 0, NULL,
	    q != NULL ? q->v : NULL, q != NULL ? q->len : NULL,
	    q != NULL ? q->fmt : NULL, 1);
	s = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
		if (res != NULL)
			*res = r;
		else
			PQclear(r);
		return DBS_OK;
	}
	rc = from_pg(c, r);
	set_error(t->st, "PostgreSQL: %s",
	    r != NULL && *PQresultErrorMessage(r) ? PQresultErrorMessage(r)
						  : PQerrorMessage(c));
	PQclear(r);
	t->poison = t->poison ? t->poison : rc;
	return rc;
}

int
pg_run(
    struct store_txn *t, const char *sql, const struct pgp *q, uint64_t *rows)
{
	PGresult *r;
	int rc;

	if (rows != NULL)
		*rows = 0;
	if (t->pg->pipe && rows == NULL) {
		/* A pure write waits for the next read or the commit, or
		 * until PG_PIPE_MAX are queued (so that the results the
		 * server holds for us stay small: no deadlock). */
		if ((rc = pipe_send(t, sql, q)) != DBS_OK)
			return rc;
		return t->pg->piped >= PG_PIPE_MAX ? pipe_sync(t, NULL)
						   : DBS_OK;
	}
	if ((rc = pg_exec(t, sql, q, &r)) != DBS_OK)
		return rc;
	if (rows != NULL)
		*rows = PQresultStatus(r) == PGRES_TUPLES_OK
			    ? (uint64_t)PQntuples(r)
			    : strtoull(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return DBS_OK;
}

int64_t
pg_i64(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != 8)
		return 0;
	return (int64_t)sti_be64(PQgetvalue(r, row, col));
}

int
pg_unpack(struct store_txn *t, const ProtobufCMessageDescriptor *d,
    const PGresult *r, int row, int col, ProtobufCAllocator *alloc, void *out)
{
	ProtobufCMessage *m;

	m = protobuf_c_message_unpack(d, alloc,
	    (size_t)PQgetlength(r, row, col),
	    (const uint8_t *)PQgetvalue(r, row, col));
	if (m == NULL) {
		set_error(t->st, "a record of %s does not decode", d->name);
		return DBS_ECORRUPT;
	}
	*(ProtobufCMessage **)out = m;
	return DBS_OK;
}

int
pg_pack(struct sbuf *b, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	int rc;

	b->len = 0;
	if ((rc = sti_sbuf_reserve(b, n + 1)) != DBS_OK)
		return rc;
	b->len = protobuf_c_message_pack(m, b->p);
	return DBS_OK;
}

int
pg_keep(struct store_txn *t, PGresult *r)
{
	struct stpg_txn *x = t->pg;

	if (x->n_keep == x->cap_keep) {
		size_t cap = x->cap_keep ? 2 * x->cap_keep : 8;
		PGresult **k = realloc(x->keep, cap * sizeof(*k));

		if (k == NULL) {
			PQclear(r);
			return DBS_ENOMEM;
		}
		x->keep = k;
		x->cap_keep = cap;
	}
	x->keep[x->n_keep++] = r;
	return DBS_OK;
}

static void
keep_clear(struct stpg_txn *x)
{
	for (size_t i = 0; i < x->n_keep; i++)
		PQclear(x->keep[i]);
	x->n_keep = 0;
}

/* A statement outside any store transaction (opening): DBS_OK or an
 * error with st->err set. */
static int
exec_plain(struct store *st, PGconn *c, const char *sql, PGresult **res)
{
	PGresult *r;
	ExecStatusType s;
	int rc;

	pg_trip(st->pg);
	r = PQexecParams(c, sql, 0, NULL, NULL, NULL, NULL, 1);
	s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (res != NULL)
		*res = NULL;
	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
		if (res != NULL)
			*res = r;
		else
			PQclear(r);
		return DBS_OK;
	}
	rc = from_pg(c, r);
	set_error(st, "PostgreSQL: %s",
	    r != NULL && *PQresultErrorMessage(r) ? PQresultErrorMessage(r)
						  : PQerrorMessage(c));
	PQclear(r);
	return rc;
}

/* Several statements in one round trip (the simple query protocol). */
static int
exec_simple(struct store *st, PGconn *c, const char *sql)
{
	PGresult *r;
	int rc = DBS_OK;

	pg_trip(st->pg);
	if (!PQsendQuery(c, sql)) {
		set_error(st, "PostgreSQL: %s", PQerrorMessage(c));
		return DBS_EIO;
	}
	while ((r = PQgetResult(c)) != NULL) {
		ExecStatusType s = PQresultStatus(r);

		if (rc == DBS_OK && s != PGRES_COMMAND_OK &&
		    s != PGRES_TUPLES_OK) {
			rc = from_pg(c, r);
			set_error(st, "PostgreSQL: %s",
			    *PQresultErrorMessage(r) ? PQresultErrorMessage(r)
						     : PQerrorMessage(c));
		}
		PQclear(r);
	}
	return rc;
}

/* ---------------------------------------------------------- connections */

static void
no_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* A new connection with the store's schema as its search path. */
static int
connect_pg(struct store *st, PGconn **out)
{
	struct stpg *pg = st->pg;
	char sql[512], *id;
	PGconn *c;
	int rc;

	*out = NULL;
	c = PQconnectdb(pg->conninfo);
	if (c == NULL) {
		set_error(st, "PostgreSQL: out of memory");
		return DBS_ENOMEM;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		/* libpq's message names host and port, never the password. */
		set_error(st, "PostgreSQL: connecting: %s", PQerrorMessage(c));
		PQfinish(c);
		return DBS_EIO;
	}
	PQsetNoticeProcessor(c, no_notices, NULL);
	if ((id = PQescapeIdentifier(c, pg->schema, strlen(pg->schema))) ==
	    NULL) {
		set_error(st, "PostgreSQL: %s", PQerrorMessage(c));
		PQfinish(c);
		return DBS_EINVAL;
	}
	snprintf(sql, sizeof(sql), "SET search_path TO %s;%s", id,
	    pg->no_sync ? "SET synchronous_commit TO off;" : "");
	PQfreemem(id);
	if ((rc = exec_simple(st, c, sql)) != DBS_OK) {
		PQfinish(c);
		return rc;
	}
	*out = c;
	return DBS_OK;
}

/* The connection *c is fine, or replaced by a new one (a restarted
 * server, a lost link). */
static int
ensure_conn(struct store *st, PGconn **c)
{
	PGconn *n;
	int rc;

	if (PQstatus(*c) == CONNECTION_OK)
		return DBS_OK;
	if ((rc = connect_pg(st, &n)) != DBS_OK)
		return rc;
	PQfinish(*c);
	*c = n;
	return DBS_OK;
}

/* The schema version, or 0 when the schema has no meta table. */
static int
schema_version(struct store *st, PGconn *c, uint64_t *v)
{
	PGresult *r;
	bool made;
	int rc;

	*v = 0;
	rc = exec_plain(st, c, "SELECT to_regclass('meta') IS NOT NULL", &r);
	if (rc != DBS_OK)
		return rc;
	made = PQntuples(r) == 1 && PQgetlength(r, 0, 0) == 1 &&
	       PQgetvalue(r, 0, 0)[0] != 0;
	PQclear(r);
	if (!made)
		return DBS_OK;
	rc = exec_plain(st, c,
	    "SELECT value FROM meta WHERE name = '" META_SCHEMA "'", &r);
	if (rc != DBS_OK)
		return rc;
	if (PQntuples(r) == 1)
		*v = (uint64_t)pg_i64(r, 0, 0);
	PQclear(r);
	return DBS_OK;
}

/* Create or migrate the schema, under an advisory lock so that two
 * databusd starting at once do not race. */
static int
migrate(struct store *st, PGconn *c)
{
	char sql[512], *id, *lit;
	uint64_t v;
	int rc;

	id = PQescapeIdentifier(c, st->pg->schema, strlen(st->pg->schema));
	lit = PQescapeLiteral(c, st->pg->schema, strlen(st->pg->schema));
	if (id == NULL || lit == NULL) {
		PQfreemem(id);
		PQfreemem(lit);
		return DBS_ENOMEM;
	}
	snprintf(sql, sizeof(sql),
	    "BEGIN; SELECT pg_advisory_xact_lock(hashtext('databus.schema.' "
	    "|| %s)); CREATE SCHEMA IF NOT EXISTS %s;",
	    lit, id);
	PQfreemem(id);
	PQfreemem(lit);
	if ((rc = exec_simple(st, c, sql)) != DBS_OK)
		goto fail;
	if ((rc = schema_version(st, c, &v)) != DBS_OK)
		goto fail;
	if (v > STORE_SCHEMA_VERSION) {
		set_error(st,
		    "the schema %s has version %llu, newer than this "
		    "Databus (%d)",
		    st->pg->schema, (unsigned long long)v,
		    STORE_SCHEMA_VERSION);
		rc = DBS_ESCHEMA;
		goto fail;
	}
	if ((rc = exec_simple(st, c, schema_sql)) != DBS_OK)
		goto fail;
	snprintf(sql, sizeof(sql),
	    "INSERT INTO meta VALUES ('" META_SCHEMA "', %d) ON CONFLICT "
	    "(name) DO UPDATE SET value = EXCLUDED.value; COMMIT;",
	    STORE_SCHEMA_VERSION);
	if ((rc = exec_simple(st, c, sql)) != DBS_OK)
		goto fail;
	return DBS_OK;
fail:
	(void)exec_simple(st, c, "ROLLBACK");
	return rc;
}

/* A reader finds the schema made and not newer than this Databus. */
static int
check_schema(struct store *st, PGconn *c)
{
	uint64_t v;
	int rc;

	if ((rc = schema_version(st, c, &v)) != DBS_OK)
		return rc;
	if (v == 0) {
		set_error(st, "PostgreSQL has no Databus store in schema %s",
		    st->pg->schema);
		return DBS_ENOTFOUND;
	}
	if (v > STORE_SCHEMA_VERSION) {
		set_error(st,
		    "the schema %s has version %llu, newer than this "
		    "Databus (%d)",
		    st->pg->schema, (unsigned long long)v,
		    STORE_SCHEMA_VERSION);
		return DBS_ESCHEMA;
	}
	return DBS_OK;
}

/* Why the last stpg_open of this thread failed (store_last_error(NULL)):
 * the store it made is gone by then. */
static __thread char open_error[256];

const char *
stpg_open_error(void)
{
	return open_error;
}

int
stpg_open(
    enum store_mode mode, const struct store_options *opt, struct store **out)
{
	struct store *st;
	struct stpg *pg;
	PGconn *c = NULL;
	int rc;

	if (out == NULL || opt->pg_conninfo == NULL ||
	    (mode != STORE_RDONLY && mode != STORE_RDWR))
		return DBS_EINVAL;
	open_error[0] = '\0';
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return DBS_ENOMEM;
	pthread_mutex_init(&st->mu, NULL);
	st->mode = mode;
	st->lock_fd = -1;
	st->event_keep =
	    opt->event_keep ? opt->event_keep : DEFAULT_EVENT_KEEP;
	st->max_size = opt->max_size;
	st->dedup_horizon_ms = opt->dedup_horizon_ms == 0
				   ? DEFAULT_DEDUP_MS
				   : opt->dedup_horizon_ms;
	if ((pg = calloc(1, sizeof(*pg))) == NULL) {
		pthread_mutex_destroy(&st->mu);
		free(st);
		return DBS_ENOMEM;
	}
	st->pg = pg;
	pg->no_sync = opt->no_sync;
	pg->conninfo = strdup(opt->pg_conninfo);
	pg->schema =
	    strdup(opt->pg_schema != NULL && *opt->pg_schema ? opt->pg_schema
							     : DEFAULT_SCHEMA);
	if (pg->conninfo == NULL || pg->schema == NULL) {
		rc = DBS_ENOMEM;
		goto fail;
	}
	if (strlen(pg->schema) > 63) {
		set_error(st, "the schema name %s is longer than 63 bytes",
		    pg->schema);
		rc = DBS_ETOOBIG;
		goto fail;
	}
	if ((rc = connect_pg(st, &c)) != DBS_OK)
		goto fail;
	rc = mode == STORE_RDWR ? migrate(st, c) : check_schema(st, c);
	if (rc != DBS_OK)
		goto fail;
	if (mode == STORE_RDWR) {
		pg->wconn = c;
	} else {
		pg->idle[pg->n_idle++] = c;
	}
	*out = st;
	return DBS_OK;
fail:
	if (c != NULL)
		PQfinish(c);
	snprintf(open_error, sizeof(open_error), "%s",
	    st->err[0] ? st->err : dbs_strerror(rc));
	store_close(st);
	return rc;
}

void
stpg_close(struct store *st)
{
	struct stpg *pg = st->pg;

	if (pg->wconn != NULL)
		PQfinish(pg->wconn);
	for (size_t i = 0; i < pg->n_idle; i++)
		PQfinish(pg->idle[i]);
	keep_clear(&pg->wt);
	free(pg->wt.keep);
	free(pg->conninfo);
	free(pg->schema);
	free(pg->rec.p);
	free(pg->ev.p);
	pg_cache_free(pg);
	free(pg);
	sti_ev_free(st);
	sti_count_free(st);
	sti_usage_free(st);
	free(st->metas);
	free(st->metap);
	free(st->pack.p);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

/* -------------------------------------------------------- transactions */

static PGconn *
pool_take(struct store *st)
{
	PGconn *c = NULL;

	pthread_mutex_lock(&st->mu);
	if (st->pg->n_idle > 0)
		c = st->pg->idle[--st->pg->n_idle];
	pthread_mutex_unlock(&st->mu);
	return c;
}

static void
pool_give(struct store *st, PGconn *c)
{
	pthread_mutex_lock(&st->mu);
	if (PQstatus(c) == CONNECTION_OK && st->pg->n_idle < PG_POOL_MAX) {
		st->pg->idle[st->pg->n_idle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&st->mu);
	if (c != NULL)
		PQfinish(c);
}

static int
begin_read(struct store *st, struct store_txn **out)
{
	struct store_txn *t;
	PGconn *c = pool_take(st);
	int rc;

	if (c == NULL && (rc = connect_pg(st, &c)) != DBS_OK)
		return rc;
	if ((rc = ensure_conn(st, &c)) != DBS_OK) {
		PQfinish(c);
		return rc;
	}
	/* The snapshot is taken by the first statement: take it now. An
	 * idle connection the server closed (a restart) is found dead
	 * only now: once more on a new one. */
	rc = exec_simple(st, c,
	    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1");
	if (rc != DBS_OK && PQstatus(c) != CONNECTION_OK &&
	    (rc = ensure_conn(st, &c)) == DBS_OK)
		rc = exec_simple(st, c,
		    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT "
		    "1");
	if (rc != DBS_OK) {
		(void)exec_simple(st, c, "ROLLBACK");
		pool_give(st, c);
		return rc;
	}
	t = calloc(1, sizeof(*t) + sizeof(struct stpg_txn));
	if (t == NULL) {
		(void)exec_simple(st, c, "ROLLBACK");
		pool_give(st, c);
		return DBS_ENOMEM;
	}
	t->st = st;
	t->pg = (struct stpg_txn *)(t + 1);
	t->pg->conn = c;
	pthread_mutex_lock(&st->mu);
	st->readers++;
	pthread_mutex_unlock(&st->mu);
	*out = t;
	return DBS_OK;
}

/* BEGIN, lock the counters and read them into the transaction: one round
 * trip (the simple query protocol, so the values come as text). */
static int
lock_counters(struct store *st, struct store_txn *t)
{
	PGconn *c;
	PGresult *r;
	int rc = DBS_OK, rows = 0;

	if ((rc = ensure_conn(st, &st->pg->wconn)) != DBS_OK)
		return rc;
	c = t->pg->conn = st->pg->wconn;
	pg_trip(st->pg);
	if (!PQsendQuery(c,
		"BEGIN; SELECT name, value FROM meta WHERE name IN"
		" ('" META_NEXT_PID "', '" META_NEXT_LOG "', '" META_NEXT_SEQ
		"', '" META_COMMITS "') ORDER BY name FOR UPDATE")) {
		set_error(st, "PostgreSQL: %s", PQerrorMessage(c));
		return DBS_EIO;
	}
	while ((r = PQgetResult(c)) != NULL) {
		ExecStatusType s = PQresultStatus(r);

		if (rc == DBS_OK && s != PGRES_COMMAND_OK &&
		    s != PGRES_TUPLES_OK) {
			rc = from_pg(c, r);
			set_error(st, "PostgreSQL: %s",
			    *PQresultErrorMessage(r) ? PQresultErrorMessage(r)
						     : PQerrorMessage(c));
		}
		for (int i = 0; s == PGRES_TUPLES_OK && i < PQntuples(r);
		     i++) {
			const char *name = PQgetvalue(r, i, 0);
			uint64_t v = strtoull(PQgetvalue(r, i, 1), NULL, 10);

			rows++;
			if (strcmp(name, META_NEXT_PID) == 0)
				t->next_pid = v;
			else if (strcmp(name, META_NEXT_LOG) == 0)
				t->next_log = v;
			else if (strcmp(name, META_NEXT_SEQ) == 0)
				t->next_seq = v;
		}
		PQclear(r);
	}
	if (rc == DBS_OK && rows != 4) {
		set_error(st, "the counters of schema %s are missing",
		    st->pg->schema);
		rc = DBS_ECORRUPT;
	}
	if (rc != DBS_OK) {
		(void)exec_simple(st, c, "ROLLBACK");
		return rc;
	}
	/* Every statement of the transaction goes through a pipeline:
	 * pure writes wait there for the next read or the commit. */
	if (!PQenterPipelineMode(c)) {
		set_error(st, "PostgreSQL: %s", PQerrorMessage(c));
		(void)exec_simple(st, c, "ROLLBACK");
		return DBS_EIO;
	}
	t->pg->pipe = true;
	t->pg->piped = 0;
	/* What this transaction started from, to write back changes. */
	st->next_pid = t->next_pid;
	st->next_log = t->next_log;
	st->next_seq = t->next_seq;
	pg_cache_reset(st->pg);
	sti_ev_reset(st);
	sti_count_reset(st);
	sti_usage_reset(st);
	return DBS_OK;
}

/* lock_counters, once more on a new connection when the writer's was
 * found dead by it (an idle connection the server closed): nothing of
 * the transaction was done yet. */
static int
begin_write(struct store *st, struct store_txn *t)
{
	int rc = lock_counters(st, t);

	if (rc != DBS_OK && PQstatus(st->pg->wconn) != CONNECTION_OK)
		rc = lock_counters(st, t);
	return rc;
}

int
stpg_txn_begin(struct store *st, bool write, struct store_txn **out)
{
	struct store_txn *t;
	int rc;

	if (!write)
		return begin_read(st, out);
	if (st->mode != STORE_RDWR)
		return DBS_EPERM;
	pthread_mutex_lock(&st->mu);
	rc = st->writing ? DBS_EBUSY : DBS_OK;
	st->writing = true;
	pthread_mutex_unlock(&st->mu);
	if (rc != DBS_OK)
		return rc;
	t = &st->wtxn;
	memset(t, 0, sizeof(*t));
	t->st = st;
	t->write = true;
	t->pg = &st->pg->wt;
	t->pg->conn = st->pg->wconn;
	if ((rc = begin_write(st, t)) != DBS_OK) {
		pthread_mutex_lock(&st->mu);
		st->writing = false;
		pthread_mutex_unlock(&st->mu);
		return rc;
	}
	*out = t;
	return DBS_OK;
}

static void
txn_end(struct store_txn *t, bool rollback)
{
	struct store *st = t->st;
	PGconn *c = t->pg->conn;

	pipe_leave(t);
	if (rollback && PQstatus(c) == CONNECTION_OK)
		(void)exec_simple(st, c, "ROLLBACK");
	keep_clear(t->pg);
	pthread_mutex_lock(&st->mu);
	if (t->write)
		st->writing = false;
	else
		st->readers--;
	pthread_mutex_unlock(&st->mu);
	if (!t->write) {
		free(t->pg->keep);
		pool_give(st, c);
		free(t);
	}
}

/* The counters that moved, and one more commit. */
static int
commit_meta(struct store_txn *t)
{
	struct store *st = t->st;
	struct pgp q = {0};

	pgp_u64(&q, t->next_pid);
	pgp_u64(&q, t->next_log);
	pgp_u64(&q, t->next_seq);
	(void)st;
	return pg_run(t,
	    "UPDATE meta SET value = CASE name"
	    " WHEN '" META_NEXT_PID "' THEN $1::int8"
	    " WHEN '" META_NEXT_LOG "' THEN $2::int8"
	    " WHEN '" META_NEXT_SEQ "' THEN $3::int8"
	    " ELSE value + 1 END WHERE name IN ('" META_NEXT_PID
	    "', '" META_NEXT_LOG "', '" META_NEXT_SEQ "', '" META_COMMITS "')",
	    &q, NULL);
}

/* Keep event_keep events (and a slack of a sixteenth, as on LMDB). The
 * seqs kept are consecutive (trims take the oldest), so their number is
 * last - first + 1, read through the primary key; the statement checks
 * it itself, so that it can wait in the commit's pipeline. */
static int
autotrim(struct store_txn *t)
{
	struct store *st = t->st;
	uint64_t slack = st->event_keep / 16;
	struct pgp q = {0};

	if (slack < 64)
		slack = 64;
	if (t->next_seq - 1 <= st->event_keep + slack)
		return DBS_OK; /* never that many */
	pgp_u64(&q, st->event_keep);
	pgp_u64(&q, st->event_keep + slack);
	return pg_run(t,
	    "DELETE FROM events WHERE seq <= (SELECT max(seq) FROM events) -"
	    " $1::int8 AND (SELECT max(seq) - min(seq) + 1 FROM events) >"
	    " $2::int8",
	    &q, NULL);
}

int
stpg_txn_commit(struct store_txn *txn)
{
	struct store_txn *t = txn;
	int rc;

	if (!t->write) {
		txn_end(t, true);
		return DBS_OK;
	}
	/* Everything the commit writes goes into the pipeline with the
	 * COMMIT, behind the writes still queued: one round trip. */
	rc = pg_usable(t, true);
	if (rc == DBS_OK)
		rc = pg_counts_flush(t);
	if (rc == DBS_OK)
		rc = pg_usage_flush(t);
	if (rc == DBS_OK)
		rc = sti_ev_flush_lists(t);
	if (rc == DBS_OK)
		rc = autotrim(t);
	if (rc == DBS_OK && (t->dirty || t->changes > 0))
		rc = commit_meta(t);
	if (rc == DBS_OK)
		rc = pg_run(t, "COMMIT", NULL, NULL);
	if (rc == DBS_OK)
		rc = pipe_sync(t, NULL);
	txn_end(t, rc != DBS_OK);
	return rc;
}

void
stpg_txn_abort(struct store_txn *txn)
{
	txn_end(txn, true);
}

/* ---------------------------------------------------------------- meta */

int
stpg_meta_get_u64(struct store_txn *txn, const char *key, uint64_t *value)
{
	struct pgp q = {0};
	PGresult *r;
	int rc;

	if (value != NULL)
		*value = 0;
	if (value == NULL)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_name(key, STORE_META_KEY_MAX, false)) != DBS_OK)
		return rc;
	pgp_text(&q, key);
	rc = pg_exec(
	    txn, "SELECT value FROM meta WHERE name = $1::text", &q, &r);
	if (rc != DBS_OK)
		return rc;
	rc = PQntuples(r) == 1 ? DBS_OK : DBS_ENOTFOUND;
	if (rc == DBS_OK)
		*value = (uint64_t)pg_i64(r, 0, 0);
	PQclear(r);
	return rc;
}

int
stpg_meta_put_u64(struct store_txn *txn, const char *key, uint64_t value)
{
	struct pgp q = {0};
	int rc;

	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_name(key, STORE_META_KEY_MAX, false)) != DBS_OK)
		return rc;
	if (strncmp(key, "store.", 6) == 0)
		return DBS_EPERM;
	pgp_text(&q, key);
	pgp_i64(&q, (int64_t)value);
	rc = pg_run(txn,
	    "INSERT INTO meta VALUES ($1::text, $2::int8) ON CONFLICT (name)"
	    " DO UPDATE SET value = EXCLUDED.value",
	    &q, NULL);
	if (rc != DBS_OK)
		return rc;
	txn->dirty = true;
	txn->changes++;
	return DBS_OK;
}

/* ------------------------------------------------------------ events */

int
stpg_ev_append(struct store_txn *t, const char *client, Dbs__Resource res,
    Dbs__EventKind kind, const void *data, size_t len, uint64_t *seq)
{
	Dbs__Event ev = DBS__EVENT__INIT;
	struct sbuf *b = &t->st->pg->ev;
	struct pgp q = {0};
	int rc;

	ev.seq = t->next_seq;
	ev.client = (char *)(client != NULL ? client : "");
	ev.resource = res;
	ev.kind = kind;
	ev.time_ms = sti_now_ms();
	ev.data.len = len;
	ev.data.data = (uint8_t *)data;
	if ((rc = pg_pack(b, &ev.base)) != DBS_OK)
		return pg_poison(t, rc);
	pgp_u64(&q, ev.seq);
	pgp_i64(&q, ev.time_ms);
	pgp_bytes(&q, b->p, b->len);
	rc = pg_run(t,
	    "INSERT INTO events VALUES ($1::int8, $2::int8, $3::bytea)", &q,
	    NULL);
	if (rc != DBS_OK)
		return rc;
	t->dirty = true;
	t->next_seq++;
	if (seq != NULL)
		*seq = ev.seq;
	return DBS_OK;
}

int
stpg_event_append(struct store_txn *txn, const char *client,
    Dbs__Resource resource, Dbs__EventKind kind, const void *data, size_t len,
    uint64_t *seq)
{
	int rc;

	/* store_event_append checked the arguments. */
	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = stpg_ev_append(
		 txn, client, resource, kind, data, len, seq)) != DBS_OK)
		return rc;
	txn->changes++;
	return DBS_OK;
}

/* Events fetched at a time (a list event holds up to a MiB). */
#define EVENT_CHUNK 64

int
stpg_event_list(struct store_txn *txn, uint64_t since, size_t limit,
    int (*cb)(void *ctx, const Dbs__Event *ev), void *ctx)
{
	uint64_t left = limit ? limit : UINT64_MAX;
	bool done = false;
	PGresult *r;
	int rc;

	if (cb == NULL)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	while (!done && since < INT64_MAX) {
		uint64_t want = left < EVENT_CHUNK ? left : EVENT_CHUNK;
		struct pgp q = {0};
		int rows;

		pgp_u64(&q, since);
		pgp_u64(&q, want);
		rc = pg_exec(txn,
		    "SELECT seq, record FROM events WHERE seq > $1::int8"
		    " ORDER BY seq LIMIT $2::int8",
		    &q, &r);
		if (rc != DBS_OK)
			return rc;
		rows = PQntuples(r);
		for (int i = 0; i < rows && !done; i++) {
			Dbs__Event *ev;

			since = (uint64_t)pg_i64(r, i, 0);
			rc = pg_unpack(
			    txn, &dbs__event__descriptor, r, i, 1, NULL, &ev);
			if (rc == DBS_OK) {
				rc = cb(ctx, ev);
				dbs__event__free_unpacked(ev, NULL);
			}
			done = rc != DBS_OK;
		}
		PQclear(r);
		if (!done && ((uint64_t)rows < want || (left -= want) == 0))
			done = true;
	}
	return rc;
}

int
stpg_event_range(struct store_txn *txn, uint64_t *first, uint64_t *last)
{
	PGresult *r;
	int rc;

	if (first != NULL)
		*first = 0;
	if (last != NULL)
		*last = 0;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	rc = pg_exec(txn, "SELECT min(seq), max(seq) FROM events", NULL, &r);
	if (rc != DBS_OK)
		return rc;
	if (first != NULL)
		*first = (uint64_t)pg_i64(r, 0, 0);
	if (last != NULL)
		*last = (uint64_t)pg_i64(r, 0, 1);
	PQclear(r);
	return DBS_OK;
}

int
stpg_event_trim(struct store_txn *txn, uint64_t keep, uint64_t *count)
{
	struct pgp q = {0};
	uint64_t n = 0;
	int rc;

	if (count != NULL)
		*count = 0;
	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	pgp_u64(&q, keep);
	rc = pg_run(txn,
	    "DELETE FROM events WHERE seq <= (SELECT max(seq) FROM events)"
	    " - $1::int8",
	    &q, &n);
	if (rc != DBS_OK)
		return rc;
	txn->changes += n ? 1 : 0;
	if (count != NULL)
		*count = n;
	return DBS_OK;
}

/* The oldest events, up to the first one not older than before_ms, and
 * never the newest one (readers learn the last seq from it). */
int
stpg_event_trim_before(
    struct store_txn *txn, int64_t before_ms, size_t max, uint64_t *count)
{
	struct pgp q = {0};
	uint64_t n = 0;
	int rc;

	if (count != NULL)
		*count = 0;
	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	pgp_i64(&q, before_ms);
	pgp_u64(&q, max ? max : INT64_MAX);
	rc = pg_run(txn,
	    "DELETE FROM events WHERE seq IN (SELECT seq FROM events"
	    " WHERE seq < LEAST((SELECT min(seq) FROM events"
	    " WHERE time_ms >= $1::int8), (SELECT max(seq) FROM events))"
	    " ORDER BY seq LIMIT $2::int8)",
	    &q, &n);
	if (rc != DBS_OK)
		return rc;
	txn->changes += n ? 1 : 0;
	if (count != NULL)
		*count = n;
	return DBS_OK;
}

/* ------------------------------------------------------------- stats */

int
stpg_stats(struct store_txn *txn, Dbs__StoreStats *stats)
{
	PGresult *r;
	int rc;

	if (stats == NULL)
		return DBS_EINVAL;
	dbs__store_stats__init(stats);
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	rc = pg_exec(txn,
	    "SELECT (SELECT count(*) FROM passengers),"
	    " (SELECT count(*) FROM attachments), (SELECT count(*) FROM logs),"
	    " (SELECT count(*) FROM users), (SELECT count(*) FROM sessions),"
	    " (SELECT count(*) FROM events),"
	    " (SELECT value FROM meta WHERE name = '" META_NEXT_SEQ "'),"
	    " (SELECT max(seq) FROM events),"
	    " (SELECT value FROM meta WHERE name = '" META_COMMITS "'),"
	    " (SELECT value FROM meta WHERE name = '" META_SCHEMA "'),"
	    " (SELECT sum(pg_total_relation_size(c.oid))::int8 FROM pg_class c"
	    " JOIN pg_namespace n ON n.oid = c.relnamespace"
	    " WHERE n.nspname = current_schema() AND c.relkind = 'r')",
	    NULL, &r);
	if (rc != DBS_OK)
		return rc;
	stats->passengers = (uint64_t)pg_i64(r, 0, 0);
	stats->attachments = (uint64_t)pg_i64(r, 0, 1);
	stats->logs = (uint64_t)pg_i64(r, 0, 2);
	stats->users = (uint64_t)pg_i64(r, 0, 3);
	stats->sessions = (uint64_t)pg_i64(r, 0, 4);
	stats->events = (uint64_t)pg_i64(r, 0, 5);
	if (txn->write) {
		stats->last_seq = txn->next_seq - 1;
	} else {
		uint64_t next = (uint64_t)pg_i64(r, 0, 6);
		uint64_t max = (uint64_t)pg_i64(r, 0, 7);

		stats->last_seq = next > 0 ? next - 1 : 0;
		if (max > stats->last_seq)
			stats->last_seq = max;
	}
	stats->commits = (uint64_t)pg_i64(r, 0, 8);
	stats->schema_version = (uint32_t)pg_i64(r, 0, 9);
	stats->used_bytes = (uint64_t)pg_i64(r, 0, 10);
	stats->pg_round_trips =
	    __atomic_load_n(&txn->st->pg->round_trips, __ATOMIC_RELAXED);
	PQclear(r);
	return DBS_OK;
}
