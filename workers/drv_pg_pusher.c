/*
 * drv_pg_pusher.c — the `postgres` pusher: inserts or upserts fields of a
 * passenger's JSON attachment as rows of a PostgreSQL table, with libpq.
 *
 * The mapping is configuration: "columns" names each column and the JSON
 * pointer (RFC 6901) its value comes from; "conflict" names the columns of
 * a unique key, which turns the INSERT into INSERT ... ON CONFLICT (key)
 * DO UPDATE, so a repeated push (at-least-once delivery) gives the same
 * row. The JSON document may hold one row (an object) or several (an
 * array, or an array found at the "rows" pointer).
 *
 * One transaction per work batch (the passengers of one WorkRequest, up
 * to 256): the first push opens it, each passenger's rows go into a
 * savepoint of their own (all or nothing per passenger: a refused row
 * rolls back its passenger only), and push_end commits. If the commit
 * fails or the connection breaks within the batch, push_end fails every
 * push of the batch that had succeeded, and they are retried.
 *
 * SQL injection is impossible by construction: values only travel as
 * parameters of one prepared statement, and the table and column names
 * are quoted by PQescapeIdentifier when the statement is built.
 *
 * The connection is opened at the first push (never at init, so
 * `--check` does not need the server) and kept for the next ones. A push
 * that cannot reach the server, or that fails for a reason that may pass
 * (SQLSTATE classes 08 connection, 40 rollback, 53 resources, 55 lock,
 * 57 operator intervention, 58 system, XX internal), returns DRV_RETRY:
 * the supervisor retries the passenger with backoff. Other errors (bad
 * mapping: no such table or column; bad data: a value the column's type
 * refuses, a NOT NULL column without value) fail the step permanently,
 * with PostgreSQL's message, since retrying cannot help.
 */
#include <fnmatch.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credential.h"
#include "dbs_error.h"
#include "driver.h"
#include "json_pointer.h"

#define PG_STMT "dbs_row"

struct pg_pusher {
	char *conninfo;
	char *password; /* NULL: from conninfo, ~/.pgpass or PGPASSWORD */
	char *schema;   /* NULL: the search_path decides */
	char *table;
	char *attachment;  /* glob */
	char *rows;        /* JSON pointer to the rows; "" the document */
	bool skip_missing; /* nothing at `rows`: done, not failed */
	uint64_t connect_timeout;
	size_t n_cols;
	char **cols;     /* column names */
	char **pointers; /* JSON pointer of each column */
	bool *conflict;  /* column is part of the conflict key */
	size_t n_conflict;
	PGconn *conn; /* NULL until the first push, or after a failure */
	/* The work batch's transaction (see pgp_push_end). */
	bool tx_open;
	bool tx_lost;  /* the connection broke within the batch */
	bool conn_bad; /* a savepoint could not be rolled back */
	char tx_err[512];
};

static void
pg_free(struct pg_pusher *pg)
{
	size_t i;

	if (pg == NULL)
		return;
	if (pg->conn != NULL)
		PQfinish(pg->conn);
	for (i = 0; i < pg->n_cols; i++) {
		free(pg->cols[i]);
		free(pg->pointers[i]);
	}
	free(pg->cols);
	free(pg->pointers);
	free(pg->conflict);
	free(pg->conninfo);
	cred_free(pg->password);
	free(pg->schema);
	free(pg->table);
	free(pg->attachment);
	free(pg->rows);
	free(pg);
}

/* "columns": {"col": "/pointer", ...}, at least one. */
static int
read_columns(
    struct pg_pusher *pg, const json_t *settings, char *err, size_t errlen)
{
	const json_t *cols = json_object_get(settings, "columns");
	const char *col;
	json_t *v;
	size_t n;

	if (cols == NULL || json_is_null(cols)) {
		snprintf(err, errlen, "columns: missing");
		return DBS_ECONFIG;
	}
	if (!json_is_object(cols) || json_object_size(cols) == 0) {
		snprintf(err, errlen,
		    "columns: expected an object of column names and JSON "
		    "pointers, e.g. {\"id\": \"/id\"}");
		return DBS_ECONFIG;
	}
	n = json_object_size(cols);
	pg->cols = calloc(n, sizeof(*pg->cols));
	pg->pointers = calloc(n, sizeof(*pg->pointers));
	pg->conflict = calloc(n, sizeof(*pg->conflict));
	if (pg->cols == NULL || pg->pointers == NULL || pg->conflict == NULL)
		return DBS_ENOMEM;
	json_object_foreach((json_t *)cols, col, v)
	{
		const char *ptr = json_string_value(v);

		if (col[0] == '\0' || strlen(col) > 63) {
			snprintf(err, errlen,
			    "columns: a column name must have 1 to 63 bytes");
			return DBS_ECONFIG;
		}
		if (ptr == NULL || strlen(ptr) != json_string_length(v)) {
			snprintf(err, errlen,
			    "columns.%s: expected a JSON pointer string "
			    "(\"/field\", or \"\" for the whole row)",
			    col);
			return DBS_ECONFIG;
		}
		if (!jptr_valid(ptr)) {
			snprintf(err, errlen,
			    "columns.%s: \"%s\" is not a JSON pointer (it "
			    "must "
			    "be empty or start with '/'; '~' only as ~0 or "
			    "~1)",
			    col, ptr);
			return DBS_ECONFIG;
		}
		pg->cols[pg->n_cols] = strdup(col);
		pg->pointers[pg->n_cols] = strdup(ptr);
		pg->n_cols++;
		if (pg->cols[pg->n_cols - 1] == NULL ||
		    pg->pointers[pg->n_cols - 1] == NULL)
			return DBS_ENOMEM;
	}
	return DBS_OK;
}

/* "conflict": ["col", ...], each one of "columns", no repeats. */
static int
read_conflict(
    struct pg_pusher *pg, const json_t *settings, char *err, size_t errlen)
{
	const json_t *conflict = json_object_get(settings, "conflict");
	json_t *v;
	size_t i, j;

	if (conflict == NULL || json_is_null(conflict))
		return DBS_OK;
	if (json_is_string(conflict)) {
		snprintf(err, errlen,
		    "conflict: expected an array of column names, e.g. "
		    "[\"%s\"]",
		    json_string_value(conflict));
		return DBS_ECONFIG;
	}
	if (!json_is_array(conflict) || json_array_size(conflict) == 0) {
		snprintf(err, errlen,
		    "conflict: expected a non-empty array of column names");
		return DBS_ECONFIG;
	}
	json_array_foreach(conflict, i, v)
	{
		const char *col = json_string_value(v);

		for (j = 0; col != NULL && j < pg->n_cols; j++)
			if (strcmp(pg->cols[j], col) == 0)
				break;
		if (col == NULL || j == pg->n_cols) {
			snprintf(err, errlen,
			    "conflict[%zu]: %s%s%s is not one of \"columns\"",
			    i, col != NULL ? "\"" : "",
			    col != NULL ? col : "a non-string",
			    col != NULL ? "\"" : "");
			return DBS_ECONFIG;
		}
		if (pg->conflict[j]) {
			snprintf(err, errlen,
			    "conflict[%zu]: \"%s\" is named twice", i, col);
			return DBS_ECONFIG;
		}
		pg->conflict[j] = true;
		pg->n_conflict++;
	}
	return DBS_OK;
}

static int
dup_setting(const json_t *settings, const char *key, const char *def,
    char **out, char *err, size_t errlen)
{
	const char *v;
	int rc = drv_setting_string(settings, key, def, &v, err, errlen);

	if (rc != DBS_OK)
		return rc;
	*out = strdup(v);
	return *out != NULL ? DBS_OK : DBS_ENOMEM;
}

static int
pgp_init(struct drv_ctx *ctx, const json_t *settings, void **state, char *err,
    size_t errlen)
{
	static const char *const keys[] = {"conninfo", "password", "schema",
	    "table", "columns", "conflict", "attachment", "rows",
	    "missing_rows", "connect_timeout", NULL};
	const char *missing_rows = "fail";
	struct pg_pusher *pg;
	PQconninfoOption *opts;
	char *perr = NULL;
	int rc;

	*state = NULL;
	rc = drv_settings_only(settings, keys, err, errlen);
	if (rc != DBS_OK)
		return rc;
	pg = calloc(1, sizeof(*pg));
	if (pg == NULL)
		return DBS_ENOMEM;
	rc = dup_setting(
	    settings, "conninfo", NULL, &pg->conninfo, err, errlen);
	if (rc == DBS_OK)
		rc = cred_setting(
		    settings, "password", &pg->password, err, errlen);
	if (rc == DBS_OK)
		rc = dup_setting(
		    settings, "schema", "", &pg->schema, err, errlen);
	if (rc == DBS_OK)
		rc = dup_setting(
		    settings, "table", NULL, &pg->table, err, errlen);
	if (rc == DBS_OK)
		rc = dup_setting(settings, "attachment", "*.json",
		    &pg->attachment, err, errlen);
	if (rc == DBS_OK)
		rc = dup_setting(settings, "rows", "", &pg->rows, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_string(settings, "missing_rows", "fail",
		    &missing_rows, err, errlen);
	if (rc == DBS_OK && strcmp(missing_rows, "fail") != 0 &&
	    strcmp(missing_rows, "skip") != 0) {
		snprintf(err, errlen,
		    "missing_rows: expected \"fail\" or \"skip\"");
		rc = DBS_ECONFIG;
	}
	pg->skip_missing = rc == DBS_OK && strcmp(missing_rows, "skip") == 0;
	if (rc == DBS_OK)
		rc = drv_setting_uint(settings, "connect_timeout", 10, 1, 3600,
		    &pg->connect_timeout, err, errlen);
	if (rc == DBS_OK)
		rc = read_columns(pg, settings, err, errlen);
	if (rc == DBS_OK)
		rc = read_conflict(pg, settings, err, errlen);
	if (rc == DBS_OK && !jptr_valid(pg->rows)) {
		snprintf(err, errlen, "rows: \"%s\" is not a JSON pointer",
		    pg->rows);
		rc = DBS_ECONFIG;
	}
	if (rc == DBS_OK && pg->attachment[0] == '\0') {
		snprintf(err, errlen, "attachment: must not be empty");
		rc = DBS_ECONFIG;
	}
	if (rc == DBS_OK &&
	    (strlen(pg->table) > 63 || strlen(pg->schema) > 63)) {
		snprintf(err, errlen, "%s: longer than 63 bytes",
		    strlen(pg->table) > 63 ? "table" : "schema");
		rc = DBS_ECONFIG;
	}
	if (rc == DBS_OK) {
		/* Refuse a malformed connection string now, not at a push. */
		opts = PQconninfoParse(pg->conninfo, &perr);
		if (opts == NULL) {
			snprintf(err, errlen, "conninfo: %s",
			    perr != NULL ? perr : "out of memory");
			/* libpq's message ends with a newline. */
			err[strcspn(err, "\n")] = '\0';
			rc = perr != NULL ? DBS_ECONFIG : DBS_ENOMEM;
			PQfreemem(perr);
		}
		PQconninfoFree(opts);
	}
	if (rc != DBS_OK) {
		pg_free(pg);
		return rc;
	}
	if (pg->schema[0] == '\0') {
		free(pg->schema);
		pg->schema = NULL;
	}
	*state = pg;
	return DBS_OK;
}

/* ------------------------------------------------------------ statement */

struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void
sb_add(struct sbuf *b, const char *s)
{
	size_t n = strlen(s);

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap != 0 ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->s, cap);
		if (p == NULL) {
			b->oom = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

static void
sb_ident(struct sbuf *b, PGconn *conn, const char *name)
{
	char *q = PQescapeIdentifier(conn, name, strlen(name));

	if (q == NULL) {
		b->oom = true;
		return;
	}
	sb_add(b, q);
	PQfreemem(q);
}

/*
 * INSERT INTO "schema"."table" ("a", "b") VALUES ($1, $2)
 *   [ON CONFLICT ("a") DO UPDATE SET "b" = EXCLUDED."b" | DO NOTHING]
 */
static char *
build_sql(struct pg_pusher *pg)
{
	struct sbuf b = {0};
	char num[32];
	size_t i;
	bool first;

	sb_add(&b, "INSERT INTO ");
	if (pg->schema != NULL) {
		sb_ident(&b, pg->conn, pg->schema);
		sb_add(&b, ".");
	}
	sb_ident(&b, pg->conn, pg->table);
	sb_add(&b, " (");
	for (i = 0; i < pg->n_cols; i++) {
		sb_add(&b, i > 0 ? ", " : "");
		sb_ident(&b, pg->conn, pg->cols[i]);
	}
	sb_add(&b, ") VALUES (");
	for (i = 0; i < pg->n_cols; i++) {
		snprintf(num, sizeof(num), "%s$%zu", i > 0 ? ", " : "", i + 1);
		sb_add(&b, num);
	}
	sb_add(&b, ")");
	if (pg->n_conflict > 0) {
		sb_add(&b, " ON CONFLICT (");
		first = true;
		for (i = 0; i < pg->n_cols; i++)
			if (pg->conflict[i]) {
				sb_add(&b, first ? "" : ", ");
				sb_ident(&b, pg->conn, pg->cols[i]);
				first = false;
			}
		if (pg->n_conflict == pg->n_cols) {
			sb_add(&b, ") DO NOTHING");
		} else {
			sb_add(&b, ") DO UPDATE SET ");
			first = true;
			for (i = 0; i < pg->n_cols; i++)
				if (!pg->conflict[i]) {
					sb_add(&b, first ? "" : ", ");
					sb_ident(&b, pg->conn, pg->cols[i]);
					sb_add(&b, " = EXCLUDED.");
					sb_ident(&b, pg->conn, pg->cols[i]);
					first = false;
				}
		}
	}
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* ------------------------------------------------------------- errors */

/* Whether a failure with this SQLSTATE may pass by itself. */
static bool
sqlstate_transient(const char *state)
{
	static const char *const classes[] = {
	    "08", "40", "53", "55", "57", "58", "XX"};
	size_t i;

	if (state == NULL || strlen(state) != 5)
		return true; /* no SQLSTATE: the connection broke */
	for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (strncmp(state, classes[i], 2) == 0)
			return true;
	return false;
}

/* Copy libpq's message without its trailing newline. */
static void
pq_message(char *err, size_t errlen, const char *what, const char *msg)
{
	size_t n;

	snprintf(err, errlen, "%s: %s", what,
	    msg != NULL && msg[0] != '\0' ? msg : "unknown error");
	n = strlen(err);
	while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = '\0';
}

/*
 * Classify a failed result: DRV_RETRY for what may pass, DRV_FAIL
 * otherwise. A broken connection is dropped (the next push reconnects).
 */
static enum drv_result
failed(struct pg_pusher *pg, PGresult *res, const char *what, char *err,
    size_t errlen)
{
	const char *state =
	    res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	enum drv_result r = sqlstate_transient(state) ? DRV_RETRY : DRV_FAIL;

	pq_message(err, errlen, what,
	    res != NULL ? PQresultErrorMessage(res)
			: PQerrorMessage(pg->conn));
	if (state != NULL && strlen(err) + 16 < errlen)
		snprintf(err + strlen(err), errlen - strlen(err),
		    " (SQLSTATE %s)", state);
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		PQfinish(pg->conn);
		pg->conn = NULL;
	}
	return r;
}

/* Run a command without parameters; DRV_OK or the classified failure. */
static enum drv_result
exec_simple(struct pg_pusher *pg, const char *sql, char *err, size_t errlen)
{
	PGresult *res = PQexec(pg->conn, sql);
	enum drv_result r = DRV_OK;

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		r = failed(pg, res, sql, err, errlen);
	PQclear(res);
	return r;
}

/* Open the connection and prepare the statement, unless already done. */
static enum drv_result
ensure_conn(
    struct pg_pusher *pg, struct drv_ctx *ctx, char *err, size_t errlen)
{
	const char *kw[5] = {
	    "dbname", "connect_timeout", "application_name", NULL, NULL};
	const char *val[5];
	char timeout[24];
	PGresult *res;
	char *sql;
	enum drv_result r;

	if (pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK)
		return DRV_OK;
	if (pg->conn != NULL)
		PQfinish(pg->conn);
	snprintf(timeout, sizeof(timeout), "%llu",
	    (unsigned long long)pg->connect_timeout);
	val[0] = pg->conninfo;
	val[1] = timeout;
	val[2] = "databus";
	if (pg->password != NULL) {
		kw[3] = "password";
		val[3] = pg->password;
	}
	val[4] = NULL;
	/* expand_dbname: "dbname" may hold a whole conninfo or URI. */
	pg->conn = PQconnectdbParams(kw, val, 1);
	if (pg->conn == NULL) {
		snprintf(err, errlen, "connect: out of memory");
		return DRV_RETRY;
	}
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		pq_message(err, errlen, "cannot connect to PostgreSQL",
		    PQerrorMessage(pg->conn));
		PQfinish(pg->conn);
		pg->conn = NULL;
		return DRV_RETRY;
	}
	sql = build_sql(pg);
	if (sql == NULL) {
		snprintf(err, errlen, "out of memory");
		PQfinish(pg->conn);
		pg->conn = NULL;
		return DRV_RETRY;
	}
	res = PQprepare(pg->conn, PG_STMT, sql, (int)pg->n_cols, NULL);
	r = DRV_OK;
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		/* Most likely the mapping: no such table or column. The
		 * connection is dropped so that a fixed table is seen. */
		r = failed(pg, res, "bad mapping", err, errlen);
		if (pg->conn != NULL) {
			PQfinish(pg->conn);
			pg->conn = NULL;
		}
	} else {
		drv_log(ctx, DRV_DEBUG, 0, "connected; statement: %s", sql);
	}
	PQclear(res);
	free(sql);
	return r;
}

/* ------------------------------------------------------------------ push */

/* The text form of a JSON value as a statement parameter; *owned is set
 * when the caller must free it. NULL for SQL NULL. */
static const char *
param_text(const json_t *v, char *num, size_t numlen, char **owned, bool *bad)
{
	*owned = NULL;
	switch (json_typeof(v)) {
	case JSON_STRING:
		if (strlen(json_string_value(v)) != json_string_length(v))
			*bad = true;
		return json_string_value(v);
	case JSON_INTEGER:
		snprintf(
		    num, numlen, "%lld", (long long)json_integer_value(v));
		return num;
	case JSON_REAL:
		snprintf(num, numlen, "%.17g", json_real_value(v));
		return num;
	case JSON_TRUE:
		return "true";
	case JSON_FALSE:
		return "false";
	case JSON_OBJECT:
	case JSON_ARRAY:
		*owned = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (*owned == NULL)
			*bad = true;
		return *owned;
	case JSON_NULL:
	default:
		return NULL;
	}
}

static enum drv_result
insert_row(struct pg_pusher *pg, const json_t *row, size_t n, char *err,
    size_t errlen)
{
	const char **vals = calloc(pg->n_cols, sizeof(*vals));
	char **owned = calloc(pg->n_cols, sizeof(*owned));
	char(*nums)[32] = calloc(pg->n_cols, sizeof(*nums));
	enum drv_result r = DRV_OK;
	PGresult *res;
	size_t i;
	bool bad = false;

	if (vals == NULL || owned == NULL || nums == NULL) {
		snprintf(err, errlen, "out of memory");
		r = DRV_RETRY;
		goto out;
	}
	for (i = 0; i < pg->n_cols; i++) {
		const json_t *v = jptr_get(row, pg->pointers[i]);

		vals[i] = v != NULL ? param_text(v, nums[i], sizeof(nums[i]),
					  &owned[i], &bad)
				    : NULL;
		if (bad) {
			snprintf(err, errlen,
			    "row %zu, column \"%s\": the value contains a NUL "
			    "character",
			    n, pg->cols[i]);
			r = DRV_FAIL;
			goto out;
		}
	}
	res = PQexecPrepared(
	    pg->conn, PG_STMT, (int)pg->n_cols, vals, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		char what[64];

		snprintf(what, sizeof(what), "row %zu", n);
		r = failed(pg, res, what, err, errlen);
	}
	PQclear(res);
out:
	for (i = 0; owned != NULL && i < pg->n_cols; i++)
		free(owned[i]);
	free(owned);
	free(vals);
	free(nums);
	return r;
}

static const struct drv_attachment *
find_attachment(const struct pg_pusher *pg, const struct drv_passenger *p)
{
	size_t i;

	for (i = 0; i < p->n_attachments; i++)
		if (fnmatch(pg->attachment, p->attachments[i].name, 0) == 0)
			return &p->attachments[i];
	return NULL;
}

static enum drv_result
pgp_push(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    const char *idempotency_key, char *err, size_t errlen)
{
	struct pg_pusher *pg = state;
	const struct drv_attachment *a = find_attachment(pg, p);
	const json_t *rows, *row;
	enum drv_result r;
	json_error_t jerr;
	json_t *doc;
	size_t i, n;
	bool reused;

	if (a == NULL) {
		snprintf(err, errlen, "no attachment matches \"%s\"",
		    pg->attachment);
		return DRV_FAIL;
	}
	doc = json_loadb(a->data, a->len, JSON_DECODE_ANY, &jerr);
	if (doc == NULL) {
		snprintf(err, errlen, "%s: not JSON (line %d: %s)", a->name,
		    jerr.line, jerr.text);
		return DRV_FAIL;
	}
	rows = jptr_get(doc, pg->rows);
	if (rows == NULL && pg->skip_missing) {
		drv_log(ctx, DRV_INFO, p->id,
		    "%s: nothing at \"%s\": no row written", a->name,
		    pg->rows);
		json_decref(doc);
		return DRV_OK;
	}
	if (rows == NULL || !(json_is_object(rows) || json_is_array(rows))) {
		snprintf(err, errlen,
		    "%s: %s \"%s\" is not an object or an array of rows",
		    a->name, rows == NULL ? "nothing at" : "the value at",
		    pg->rows);
		json_decref(doc);
		return DRV_FAIL;
	}
	n = json_is_array(rows) ? json_array_size(rows) : 1;
	if (n == 0) {
		json_decref(doc);
		return DRV_OK;
	}
	if (pg->tx_lost) {
		snprintf(err, errlen,
		    "the batch's transaction was lost (%s); retried with a "
		    "new "
		    "one",
		    pg->tx_err);
		r = DRV_RETRY;
		goto out;
	}
	if (!pg->tx_open) {
		reused = pg->conn != NULL;
		r = ensure_conn(pg, ctx, err, errlen);
		if (r == DRV_OK)
			r = exec_simple(pg, "BEGIN", err, errlen);
		if (r != DRV_OK && reused && pg->conn == NULL) {
			/* The kept connection had gone stale (server
			 * restarted): one fresh attempt before failing. */
			r = ensure_conn(pg, ctx, err, errlen);
			if (r == DRV_OK)
				r = exec_simple(pg, "BEGIN", err, errlen);
		}
		if (r != DRV_OK)
			goto out;
		pg->tx_open = true;
	}
	/* Each passenger in its own savepoint: a row refused rolls back this
	 * passenger only, and the batch's transaction goes on. */
	r = exec_simple(pg, "SAVEPOINT dbs_p", err, errlen);
	for (i = 0; r == DRV_OK && i < n; i++) {
		row = json_is_array(rows) ? json_array_get(rows, i) : rows;
		r = insert_row(pg, row, i, err, errlen);
	}
	if (r == DRV_OK)
		r = exec_simple(pg, "RELEASE SAVEPOINT dbs_p", err, errlen);
	else if (pg->conn != NULL) {
		char rerr[256];

		if (exec_simple(pg, "ROLLBACK TO SAVEPOINT dbs_p", rerr,
			sizeof(rerr)) != DRV_OK &&
		    pg->conn != NULL)
			pg->conn_bad = true;
	}
	if (pg->conn == NULL || pg->conn_bad) {
		/* The transaction is gone with the connection: the pushes
		 * of the batch so far are failed by push_end. */
		pg->tx_open = false;
		pg->tx_lost = true;
		snprintf(pg->tx_err, sizeof(pg->tx_err), "%s", err);
		if (r == DRV_OK)
			r = DRV_RETRY;
	}
	if (r == DRV_OK)
		drv_log(ctx, DRV_DEBUG, p->id, "%zu row%s written to %s", n,
		    n == 1 ? "" : "s", pg->table);
out:
	json_decref(doc);
	return r;
}

/* The end of a work batch: commit what its pushes wrote. */
static enum drv_result
pgp_push_end(void *state, struct drv_ctx *ctx, char *err, size_t errlen)
{
	struct pg_pusher *pg = state;
	enum drv_result r = DRV_OK;

	if (pg->tx_lost) {
		snprintf(err, errlen, "the batch's transaction was lost: %s",
		    pg->tx_err);
		r = DRV_RETRY;
	} else if (pg->tx_open) {
		r = exec_simple(pg, "COMMIT", err, errlen);
		/* A commit refused (a deferred constraint) rolls back the
		 * whole batch: every passenger of it is retried. */
		if (r == DRV_FAIL)
			r = DRV_RETRY;
	}
	if (pg->conn_bad && pg->conn != NULL) {
		PQfinish(pg->conn);
		pg->conn = NULL;
	}
	pg->tx_open = false;
	pg->tx_lost = false;
	pg->conn_bad = false;
	return r;
}

static void
pgp_fini(void *state)
{
	pg_free(state);
}

const struct drv_ops drv_pg_pusher_ops = {
    .type = "postgres",
    .kind = DRV_PUSHER,
    .init = pgp_init,
    .push = pgp_push,
    .fini = pgp_fini,
    .push_end = pgp_push_end,
};
