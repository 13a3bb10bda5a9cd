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
 * "newer" and "update_where" guard the update: a row stored by a later
 * event is not overwritten by an earlier one delivered after it (webhooks
 * arrive out of order and twice). "newer" names a mapped column and is
 * quoted like every name; "update_where" is SQL over EXCLUDED and the
 * table, checked to be one bounded expression, and a client administrator
 * may only write it where root's client_policy allows "sql".
 *
 * The connection is opened at the first push (never at init) and kept for
 * the next ones. `--check` connects once (drv_ops.check) to have the
 * statement prepared: a missing table or column is refused there, a
 * server out of reach only warned about. A push
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

/* A growing string (statements, dry-run descriptions). */
struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

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
	bool *from_doc;  /* pointer into the document, not the row */
	bool *conflict;  /* column is part of the conflict key */
	size_t n_conflict;
	/* The guard of the upsert's DO UPDATE: update the stored row only
	 * when the incoming value of column `newer` is greater, and/or when
	 * `update_where` (SQL over EXCLUDED and the table) holds. */
	char *newer;
	char *update_where;
	PGconn *conn; /* NULL until the first push, or after a failure */
	/* The work batch's transaction (see pgp_push_end). */
	bool tx_open;
	bool tx_lost;  /* the connection broke within the batch */
	bool conn_bad; /* a savepoint could not be rolled back */
	char tx_err[512];
	/* dry-run: while set, insert_row also writes each row's parameters
	 * here (see pgp_dry_push). */
	struct sbuf *dry;
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
	free(pg->from_doc);
	free(pg->conflict);
	free(pg->newer);
	free(pg->update_where);
	free(pg->conninfo);
	cred_free(pg->password);
	free(pg->schema);
	free(pg->table);
	free(pg->attachment);
	free(pg->rows);
	free(pg);
}

/* The column named `name`, or n_cols. */
static size_t
column_index(const struct pg_pusher *pg, const char *name)
{
	size_t j;

	for (j = 0; j < pg->n_cols; j++)
		if (strcmp(pg->cols[j], name) == 0)
			break;
	return j;
}

/* The members of `key` ("columns" or "document_columns"): {"col":
 * "/pointer", ...}, appended to the columns read so far. */
static int
read_column_map(struct pg_pusher *pg, const json_t *cols, const char *key,
    char *err, size_t errlen)
{
	const char *col;
	json_t *v;

	json_object_foreach((json_t *)cols, col, v)
	{
		const char *ptr = json_string_value(v);

		if (col[0] == '\0' || strlen(col) > 63) {
			snprintf(err, errlen,
			    "%s: a column name must have 1 to 63 bytes", key);
			return DBS_ECONFIG;
		}
		if (column_index(pg, col) < pg->n_cols) {
			snprintf(err, errlen,
			    "%s.%s: the column is mapped twice", key, col);
			return DBS_ECONFIG;
		}
		if (ptr == NULL || strlen(ptr) != json_string_length(v)) {
			snprintf(err, errlen,
			    "%s.%s: expected a JSON pointer string "
			    "(\"/field\", or \"\" for the whole row)",
			    key, col);
			return DBS_ECONFIG;
		}
		if (!jptr_valid(ptr)) {
			snprintf(err, errlen,
			    "%s.%s: \"%s\" is not a JSON pointer (it must "
			    "be empty or start with '/'; '~' only as ~0 or "
			    "~1)",
			    key, col, ptr);
			return DBS_ECONFIG;
		}
		pg->cols[pg->n_cols] = strdup(col);
		pg->pointers[pg->n_cols] = strdup(ptr);
		pg->from_doc[pg->n_cols] = strcmp(key, "columns") != 0;
		pg->n_cols++;
		if (pg->cols[pg->n_cols - 1] == NULL ||
		    pg->pointers[pg->n_cols - 1] == NULL)
			return DBS_ENOMEM;
	}
	return DBS_OK;
}

/* "columns": {"col": "/pointer", ...}, at least one, pointers into each
 * row; "document_columns" likewise, pointers into the whole document
 * (the same value for every row of it). */
static int
read_columns(
    struct pg_pusher *pg, const json_t *settings, char *err, size_t errlen)
{
	const json_t *cols = json_object_get(settings, "columns");
	const json_t *dcols = json_object_get(settings, "document_columns");
	size_t n;
	int rc;

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
	if (json_is_null(dcols))
		dcols = NULL;
	if (dcols != NULL && !json_is_object(dcols)) {
		snprintf(err, errlen,
		    "document_columns: expected an object of column names "
		    "and JSON pointers into the whole document, e.g. "
		    "{\"workflow\": \"/workflow/name\"}");
		return DBS_ECONFIG;
	}
	n = json_object_size(cols) + json_object_size(dcols);
	pg->cols = calloc(n, sizeof(*pg->cols));
	pg->pointers = calloc(n, sizeof(*pg->pointers));
	pg->from_doc = calloc(n, sizeof(*pg->from_doc));
	pg->conflict = calloc(n, sizeof(*pg->conflict));
	if (pg->cols == NULL || pg->pointers == NULL || pg->from_doc == NULL ||
	    pg->conflict == NULL)
		return DBS_ENOMEM;
	rc = read_column_map(pg, cols, "columns", err, errlen);
	if (rc == DBS_OK && dcols != NULL)
		rc = read_column_map(
		    pg, dcols, "document_columns", err, errlen);
	return rc;
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

		j = col != NULL ? column_index(pg, col) : pg->n_cols;
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

/*
 * Whether `sql` can stand as the condition of WHERE (...): a bounded
 * expression, not a way out of it. Outside quoted literals and
 * identifiers, parentheses must balance and never close more than they
 * opened, and `;`, comments (`--` and slash-star), dollar signs (dollar
 * quoting, parameters) and backslashes (E'' escapes) are refused. The
 * statement is prepared as one command, so PostgreSQL refuses a second one
 * anyway; this keeps the condition to what it claims to be.
 */
static const char *
condition_problem(const char *sql)
{
	char quote = '\0';
	long depth = 0;
	const char *c;

	for (c = sql; *c != '\0'; c++) {
		if (*c == '\\')
			return "a backslash is not allowed";
		if (quote != '\0') {
			if (*c == quote)
				quote = '\0';
			continue;
		}
		if (*c == '\'' || *c == '"')
			quote = *c;
		else if (*c == '(')
			depth++;
		else if (*c == ')' && --depth < 0)
			return "a ')' closes more than was opened";
		else if (*c == ';')
			return "';' is not allowed";
		else if (*c == '$')
			return "'$' is not allowed";
		else if ((c[0] == '-' && c[1] == '-') ||
			 (c[0] == '/' && c[1] == '*'))
			return "comments are not allowed";
	}
	if (quote != '\0')
		return "a quoted literal or name is not closed";
	if (depth != 0)
		return "a '(' is not closed";
	return NULL;
}

/* "newer": "col" and "update_where": "SQL", the guard of the update. */
static int
read_guard(
    struct pg_pusher *pg, const json_t *settings, char *err, size_t errlen)
{
	const char *newer, *where, *why;
	size_t j;
	int rc;

	if ((rc = drv_setting_string(
		 settings, "newer", "", &newer, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_string(
		 settings, "update_where", "", &where, err, errlen)) != DBS_OK)
		return rc;
	if (newer[0] == '\0' && where[0] == '\0')
		return DBS_OK;
	if (pg->n_conflict == 0 || pg->n_conflict == pg->n_cols) {
		snprintf(err, errlen,
		    "%s: only guards an update: it needs \"conflict\" and a "
		    "column outside it",
		    newer[0] != '\0' ? "newer" : "update_where");
		return DBS_ECONFIG;
	}
	if (newer[0] != '\0') {
		j = column_index(pg, newer);
		if (j == pg->n_cols || pg->conflict[j]) {
			snprintf(err, errlen,
			    "newer: \"%s\" is not one of the mapped columns "
			    "outside \"conflict\"",
			    newer);
			return DBS_ECONFIG;
		}
		if ((pg->newer = strdup(newer)) == NULL)
			return DBS_ENOMEM;
	}
	if (where[0] != '\0') {
		why = strlen(where) != json_string_length(json_object_get(
					   settings, "update_where"))
			  ? "a NUL character is not allowed"
		      : strlen(where) > 2000 ? "longer than 2000 bytes"
					     : condition_problem(where);
		if (why != NULL) {
			snprintf(err, errlen, "update_where: %s", why);
			return DBS_ECONFIG;
		}
		if ((pg->update_where = strdup(where)) == NULL)
			return DBS_ENOMEM;
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
	    "table", "columns", "document_columns", "conflict", "newer",
	    "update_where", "attachment", "rows", "missing_rows",
	    "connect_timeout", NULL};
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
	if (rc == DBS_OK)
		rc = read_guard(pg, settings, err, errlen);
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

/* WHERE of the DO UPDATE: ("table"."c" IS NULL OR "table"."c" <
 * EXCLUDED."c") for `newer`, AND (<update_where>). The stored row goes
 * by the table's name unqualified, as PostgreSQL names it there. */
static void
sb_guard(struct sbuf *b, struct pg_pusher *pg)
{
	if (pg->newer == NULL && pg->update_where == NULL)
		return;
	sb_add(b, " WHERE ");
	if (pg->newer != NULL) {
		sb_add(b, "(");
		sb_ident(b, pg->conn, pg->table);
		sb_add(b, ".");
		sb_ident(b, pg->conn, pg->newer);
		sb_add(b, " IS NULL OR ");
		sb_ident(b, pg->conn, pg->table);
		sb_add(b, ".");
		sb_ident(b, pg->conn, pg->newer);
		sb_add(b, " < EXCLUDED.");
		sb_ident(b, pg->conn, pg->newer);
		sb_add(b, ")");
	}
	if (pg->update_where != NULL) {
		sb_add(b, pg->newer != NULL ? " AND (" : "(");
		sb_add(b, pg->update_where);
		sb_add(b, ")");
	}
}

/*
 * INSERT INTO "schema"."table" ("a", "b") VALUES ($1, $2)
 *   [ON CONFLICT ("a") DO UPDATE SET "b" = EXCLUDED."b" [WHERE guard]
 *    | DO NOTHING]
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
			sb_guard(&b, pg);
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

/* dry-run: "row N: $1 (col) = 'value', ..." into pg->dry. */
static void
dry_row(struct pg_pusher *pg, const char *const *vals, size_t n)
{
	char head[64];

	snprintf(head, sizeof(head), "\nrow %zu:", n);
	sb_add(pg->dry, head);
	for (size_t i = 0; i < pg->n_cols; i++) {
		snprintf(
		    head, sizeof(head), "%s $%zu (", i > 0 ? "," : "", i + 1);
		sb_add(pg->dry, head);
		sb_add(pg->dry, pg->cols[i]);
		sb_add(pg->dry, vals[i] != NULL ? ") = '" : ") = NULL");
		if (vals[i] != NULL) {
			sb_add(pg->dry, vals[i]);
			sb_add(pg->dry, "'");
		}
	}
}

static enum drv_result
insert_row(struct pg_pusher *pg, const json_t *doc, const json_t *row,
    size_t n, char *err, size_t errlen)
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
		const json_t *v =
		    jptr_get(pg->from_doc[i] ? doc : row, pg->pointers[i]);

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
	if (pg->dry != NULL)
		dry_row(pg, vals, n);
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
		r = insert_row(pg, doc, row, i, err, errlen);
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

/* Have the prepared statement planned, not run (EXPLAIN EXECUTE with
 * every parameter NULL): planning finds what preparing does not, a
 * conflict key without a matching unique index. */
static enum drv_result
explain(struct pg_pusher *pg, char *err, size_t errlen)
{
	struct sbuf b = {0};
	enum drv_result r;
	PGresult *res;
	size_t i;

	sb_add(&b, "EXPLAIN EXECUTE " PG_STMT "(");
	for (i = 0; i < pg->n_cols; i++)
		sb_add(&b, i > 0 ? ", NULL" : "NULL");
	sb_add(&b, ")");
	if (b.oom) {
		free(b.s);
		snprintf(err, errlen, "out of memory");
		return DRV_RETRY;
	}
	res = PQexec(pg->conn, b.s);
	r = DRV_OK;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		r = failed(pg, res, "bad mapping", err, errlen);
	PQclear(res);
	free(b.s);
	return r;
}

/*
 * --check: connect (waiting at most 5 s), prepare the statement and have
 * it planned, which makes PostgreSQL resolve the table, every mapped
 * column, the guard and the conflict key's unique index. A refusal that
 * retrying cannot mend (no such table or column, no matching unique index, no
 * privilege) is a problem; a server that cannot be reached only a warning.
 * Nothing is written, and the connection is closed again.
 */
static int
pgp_check(void *state, struct drv_ctx *ctx, char *err, size_t errlen)
{
	struct pg_pusher *pg = state;
	uint64_t keep = pg->connect_timeout;
	enum drv_result r;

	pg->connect_timeout = keep < 5 ? keep : 5;
	r = ensure_conn(pg, ctx, err, errlen);
	pg->connect_timeout = keep;
	if (r == DRV_OK)
		r = explain(pg, err, errlen);
	if (pg->conn != NULL) {
		PQfinish(pg->conn);
		pg->conn = NULL;
	}
	if (r == DRV_OK)
		return DBS_OK;
	return r == DRV_FAIL ? DBS_ECONFIG : DBS_ETRANSPORT;
}

/*
 * dry-run: the statement and the parameters of each row, executed as a
 * real push would (so that PostgreSQL judges types, constraints and the
 * guard) in a transaction that is then rolled back: nothing is kept.
 */
static enum drv_result
pgp_dry_push(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    const char *idempotency_key, char *desc, size_t desclen, char *err,
    size_t errlen)
{
	struct pg_pusher *pg = state;
	struct sbuf rows = {0};
	enum drv_result r;
	char *sql = NULL, rerr[256];

	pg->dry = &rows;
	r = pgp_push(state, ctx, p, idempotency_key, err, errlen);
	pg->dry = NULL;
	if (pg->tx_open && pg->conn != NULL &&
	    exec_simple(pg, "ROLLBACK", rerr, sizeof(rerr)) != DRV_OK &&
	    pg->conn != NULL) {
		PQfinish(pg->conn); /* whatever it holds dies with it */
		pg->conn = NULL;
	}
	pg->tx_open = pg->tx_lost = pg->conn_bad = false;
	if (pg->conn != NULL)
		sql = build_sql(pg);
	snprintf(desc, desclen,
	    "%s%s%s\n(%s in a transaction that was rolled "
	    "back: nothing was kept)",
	    sql != NULL ? sql : "(no connection: statement not built)",
	    rows.s != NULL ? rows.s : "\n(no row)",
	    rows.oom ? "\n(rows cut: out of memory)" : "",
	    r == DRV_OK ? "executed" : "failed");
	free(sql);
	free(rows.s);
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
    .check = pgp_check,
    .dry_push = pgp_dry_push,
};
