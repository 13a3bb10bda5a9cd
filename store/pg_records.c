/*
 * pg_records.c — logs, users, sessions and config backups on PostgreSQL,
 * and store_verify's checks that apply to it (see pg.c).
 *
 * Each keeps the record LMDB keeps (the packed protobuf) in a bytea, with
 * the fields its listings order and filter by beside it; PostgreSQL's
 * indexes play the part of LMDB's index databases (logs.client, logs.time,
 * log.links/log.pids, sessions.user). Events are LMDB's: a new log goes
 * into its client's batched create list, a replaced one is an update
 * appended after the lists so far, users and their deletes are single
 * events without the password hash.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_impl.h"

/* ----------------------------------------------------------------- logs */

/* Link log `lid` to the passengers `ids` (the zeros skipped), in one
 * statement (an int8[] parameter in text form). */
static int
add_links(struct store_txn *t, const char *client, uint64_t lid,
    const uint64_t *ids, size_t n, Dbs__LogEntry *const *entries,
    size_t n_entries)
{
	struct sbuf arr = {0};
	struct pgp q = {0};
	char num[24];
	bool any = false;
	int rc = DBS_OK;

	if (sti_sbuf_add(&arr, "{", 1) != DBS_OK)
		return DBS_ENOMEM;
	for (size_t i = 0; i < n + n_entries && rc == DBS_OK; i++) {
		uint64_t pid = i < n ? ids[i] : entries[i - n]->passenger_id;
		int len;

		if (pid == 0)
			continue;
		len = snprintf(num, sizeof(num), "%s%llu", any ? "," : "",
		    (unsigned long long)pid);
		rc = sti_sbuf_add(&arr, num, (size_t)len);
		any = true;
	}
	if (rc == DBS_OK)
		rc = sti_sbuf_add(&arr, "}", 2); /* with its NUL */
	if (rc == DBS_OK && any) {
		pgp_text(&q, client);
		pgp_u64(&q, lid);
		q.v[q.n] = (const char *)arr.p;
		q.len[q.n] = 0;
		q.fmt[q.n++] = 0; /* text: the array literal */
		rc = pg_run(t,
		    "INSERT INTO log_links SELECT $1::text, "
		    "unnest($3::int8[]),"
		    " $2::int8 ON CONFLICT DO NOTHING",
		    &q, NULL);
	}
	free(arr.p);
	return rc;
}

int
stpg_log_put(struct store_txn *txn, Dbs__Log *log,
    const uint64_t *passenger_ids, size_t n_ids)
{
	struct sbuf *b;
	struct pgp q = {0};
	bool replaced, assigned = false;
	PGresult *r;
	int rc;

	if (log == NULL || (n_ids > 0 && passenger_ids == NULL))
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_name(log->client, STORE_NAME_MAX, true)) != DBS_OK)
		return rc;
	for (size_t i = 0; i < log->n_entries; i++)
		if (log->entries[i] == NULL)
			return DBS_EINVAL;
	if (log->id == 0) {
		log->id = txn->next_log;
		assigned = true;
	}
	b = &txn->st->pack;
	if ((rc = pg_pack(b, &log->base)) != DBS_OK)
		goto out;
	pgp_u64(&q, log->id);
	pgp_text(&q, log->client);
	pgp_i64(&q, log->finished_ms);
	pgp_bytes(&q, b->p, b->len);
	rc = pg_exec(txn,
	    "WITH old AS (SELECT 1 FROM logs WHERE id = $1::int8),"
	    " up AS (INSERT INTO logs VALUES ($1::int8, $2::text, $3::int8,"
	    " $4::bytea) ON CONFLICT (id) DO UPDATE SET client ="
	    " EXCLUDED.client, finished_ms = EXCLUDED.finished_ms, record ="
	    " EXCLUDED.record) SELECT count(*) FROM old",
	    &q, &r);
	if (rc != DBS_OK)
		goto out;
	replaced = pg_i64(r, 0, 0) > 0;
	PQclear(r);
	rc = add_links(txn, log->client, log->id, passenger_ids, n_ids,
	    log->entries, log->n_entries);
	if (rc == DBS_OK && !replaced)
		rc = sti_ev_item(txn, log->client, strlen(log->client),
		    EVB_LOG_CREATE, b->p, b->len);
	else if (rc == DBS_OK && (rc = sti_ev_flush_client(txn, log->client,
				      strlen(log->client))) == DBS_OK)
		rc = stpg_ev_append(txn, log->client, DBS__RESOURCE__RES_LOG,
		    DBS__EVENT_KIND__EV_UPDATE, b->p, b->len, NULL);
	if (rc != DBS_OK)
		goto out;
	if (log->id >= txn->next_log)
		txn->next_log = log->id + 1;
	txn->changes++;
out:
	if (rc != DBS_OK && txn->poison == 0)
		txn->poison = rc;
	if (rc != DBS_OK && assigned)
		log->id = 0;
	return rc;
}

/* A record by id: the whole of a *_get. */
static int
get_record(struct store_txn *txn, const char *sql, uint64_t id,
    const ProtobufCMessageDescriptor *d, void *out)
{
	struct pgp q = {0};
	PGresult *r;
	int rc;

	if (out == NULL)
		return DBS_EINVAL;
	*(void **)out = NULL;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	pgp_u64(&q, id);
	if ((rc = pg_exec(txn, sql, &q, &r)) != DBS_OK)
		return rc;
	rc = PQntuples(r) == 1 ? pg_unpack(txn, d, r, 0, 0, NULL, out)
			       : DBS_ENOTFOUND;
	PQclear(r);
	return rc;
}

int
stpg_log_get(struct store_txn *txn, uint64_t id, Dbs__Log **out)
{
	return get_record(txn, "SELECT record FROM logs WHERE id = $1::int8",
	    id, &dbs__log__descriptor, out);
}

/* Hand the logs of column 1 (ids in column 0) to cb, at most `limit`
 * (0: all; one row past it says the listing goes on). */
static int
deliver_logs(struct store_txn *t, PGresult *r, size_t limit,
    int (*cb)(void *ctx, const Dbs__Log *log), void *ctx,
    uint64_t *next_cursor)
{
	uint64_t last = 0, lid;
	size_t n = 0;
	int rc = DBS_OK;

	for (int i = 0; i < PQntuples(r); i++) {
		Dbs__Log *log;

		lid = (uint64_t)pg_i64(r, i, 0);
		if (limit != 0 && n == limit) {
			if (next_cursor != NULL)
				*next_cursor = last;
			break;
		}
		rc = pg_unpack(t, &dbs__log__descriptor, r, i, 1, NULL, &log);
		if (rc != DBS_OK)
			break;
		rc = cb(ctx, log);
		dbs__log__free_unpacked(log, NULL);
		if (rc != DBS_OK) {
			if (next_cursor != NULL)
				*next_cursor = lid;
			break;
		}
		n++;
		last = lid;
	}
	return rc;
}

int
stpg_log_list(struct store_txn *txn, const char *client, uint64_t cursor,
    size_t limit, int (*cb)(void *ctx, const Dbs__Log *log), void *ctx,
    uint64_t *next_cursor)
{
	struct key prefix;
	struct pgp q = {0};
	PGresult *r;
	int rc;

	if (next_cursor != NULL)
		*next_cursor = 0;
	if (cb == NULL)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_scope_prefix(&prefix, client, NULL, true)) != DBS_OK)
		return rc;
	pgp_u64(&q, cursor ? cursor : INT64_MAX);
	pgp_u64(&q, limit ? limit + 1 : INT64_MAX);
	pgp_text(&q, client != NULL ? client : "");
	pgp_i64(&q, client != NULL);
	rc = pg_exec(txn,
	    "SELECT id, record FROM logs WHERE ($4::int8 = 0 OR client ="
	    " $3::text) AND id < $1::int8 ORDER BY id DESC LIMIT $2::int8",
	    &q, &r);
	if (rc != DBS_OK)
		return rc;
	/* A cursor of INT64_MAX itself would skip that id: none is. */
	rc = deliver_logs(txn, r, limit, cb, ctx, next_cursor);
	PQclear(r);
	return rc;
}

int
stpg_log_list_for_passenger(struct store_txn *txn, const char *client,
    uint64_t passenger_id, int (*cb)(void *ctx, const Dbs__Log *log),
    void *ctx)
{
	struct pgp q = {0};
	PGresult *r;
	int rc;

	if (cb == NULL)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_name(client, STORE_NAME_MAX, true)) != DBS_OK)
		return rc;
	pgp_text(&q, client);
	pgp_u64(&q, passenger_id);
	rc = pg_exec(txn,
	    "SELECT l.id, l.record FROM log_links k JOIN logs l ON l.id ="
	    " k.log WHERE k.client = $1::text AND k.passenger = $2::int8"
	    " ORDER BY k.log DESC",
	    &q, &r);
	if (rc != DBS_OK)
		return rc;
	rc = deliver_logs(txn, r, 0, cb, ctx, NULL);
	PQclear(r);
	return rc;
}

int
stpg_log_lookup(struct store_txn *txn, const Dbs__Log *log, uint64_t *id)
{
	struct pgp q = {0};
	PGresult *r;
	int rc;

	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_name(log->client, STORE_NAME_MAX, true)) != DBS_OK)
		return rc;
	pgp_text(&q, log->client);
	pgp_i64(&q, log->finished_ms);
	rc = pg_exec(txn,
	    "SELECT id, record FROM logs WHERE client = $1::text AND"
	    " finished_ms = $2::int8 ORDER BY id",
	    &q, &r);
	if (rc != DBS_OK)
		return rc;
	rc = DBS_ENOTFOUND;
	for (int i = 0; i < PQntuples(r); i++) {
		Dbs__Log *old;
		bool same;

		if (pg_unpack(txn, &dbs__log__descriptor, r, i, 1, NULL,
			&old) != DBS_OK) {
			rc = DBS_ECORRUPT;
			break;
		}
		same = sti_log_same(old, log);
		dbs__log__free_unpacked(old, NULL);
		if (same) {
			*id = (uint64_t)pg_i64(r, i, 0);
			rc = DBS_OK;
			break;
		}
	}
	PQclear(r);
	return rc;
}

/* Logs finished before before_ms (0: all), each client's oldest first,
 * with their links; each goes into its client's delete list. */
int
stpg_log_purge(struct store_txn *txn, const char *client, int64_t before_ms,
    uint64_t *count)
{
	Dbs__Log gone = DBS__LOG__INIT;
	struct key prefix;
	struct pgp q = {0};
	PGresult *r;
	int rc;

	if (count != NULL)
		*count = 0;
	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_scope_prefix(&prefix, client, NULL, true)) != DBS_OK)
		return rc;
	pgp_i64(&q, before_ms);
	pgp_text(&q, client != NULL ? client : "");
	pgp_i64(&q, client != NULL);
	rc = pg_exec(txn,
	    "WITH d AS (DELETE FROM logs WHERE ($1::int8 = 0 OR finished_ms <"
	    " $1::int8) AND ($3::int8 = 0 OR client = $2::text) RETURNING id,"
	    " client, finished_ms), l AS (DELETE FROM log_links USING d WHERE"
	    " log_links.log = d.id) SELECT id, client FROM d ORDER BY client,"
	    " finished_ms, id",
	    &q, &r);
	if (rc != DBS_OK)
		return rc;
	for (int i = 0; i < PQntuples(r) && rc == DBS_OK; i++) {
		struct sbuf *b = &txn->st->pack;

		gone.id = (uint64_t)pg_i64(r, i, 0);
		gone.client = PQgetvalue(r, i, 1);
		if ((rc = pg_pack(b, &gone.base)) == DBS_OK)
			rc = sti_ev_item(txn, gone.client, strlen(gone.client),
			    EVB_LOG_DELETE, b->p, b->len);
	}
	if (rc == DBS_OK) {
		txn->changes += (uint64_t)PQntuples(r);
		if (count != NULL)
			*count = (uint64_t)PQntuples(r);
	}
	PQclear(r);
	return pg_poison(txn, rc);
}

/* ---------------------------------------------------------------- users */

static int
user_names(const char *client, const char *username)
{
	int rc;

	if ((rc = sti_name(client, STORE_NAME_MAX, false)) != DBS_OK ||
	    (rc = sti_name(username, STORE_NAME_MAX, false)) != DBS_OK)
		return rc;
	return DBS_OK;
}

/* A user's event: the record without its password hash (a delete: only
 * client and username). */
static int
user_event(struct store_txn *t, const Dbs__User *u, Dbs__EventKind kind)
{
	Dbs__User pub = *u;
	struct sbuf *b = &t->st->pack;
	int rc;

	pub.password_hash = (char *)"";
	if (kind == DBS__EVENT_KIND__EV_DELETE) {
		dbs__user__init(&pub);
		pub.client = u->client;
		pub.username = u->username;
	}
	if ((rc = pg_pack(b, &pub.base)) != DBS_OK)
		return rc;
	return stpg_ev_append(
	    t, u->client, DBS__RESOURCE__RES_USER, kind, b->p, b->len, NULL);
}

int
stpg_user_put(struct store_txn *txn, const Dbs__User *u)
{
	struct sbuf *b = &txn->st->pg->rec;
	struct pgp q = {0};
	PGresult *r;
	bool exists;
	int rc;

	if (u == NULL)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = user_names(u->client, u->username)) != DBS_OK)
		return rc;
	if ((rc = pg_pack(b, &u->base)) != DBS_OK)
		return rc;
	pgp_text(&q, u->client);
	pgp_text(&q, u->username);
	pgp_bytes(&q, b->p, b->len);
	rc = pg_exec(txn,
	    "WITH old AS (SELECT 1 FROM users WHERE client = $1::text AND"
	    " username = $2::text), up AS (INSERT INTO users VALUES ($1::text,"
	    " $2::text, $3::bytea) ON CONFLICT (client, username) DO UPDATE"
	    " SET record = EXCLUDED.record) SELECT count(*) FROM old",
	    &q, &r);
	if (rc != DBS_OK)
		return rc;
	exists = pg_i64(r, 0, 0) > 0;
	PQclear(r);
	rc = user_event(txn, u,
	    exists ? DBS__EVENT_KIND__EV_UPDATE : DBS__EVENT_KIND__EV_CREATE);
	if (rc != DBS_OK)
		return pg_poison(txn, rc == DBS_EINVAL ? DBS_EIO : rc);
	txn->changes++;
	return DBS_OK;
}

int
stpg_user_get(struct store_txn *txn, const char *client, const char *username,
    Dbs__User **out)
{
	struct pgp q = {0};
	PGresult *r;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (out == NULL)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = user_names(client, username)) != DBS_OK)
		return rc;
	pgp_text(&q, client);
	pgp_text(&q, username);
	rc = pg_exec(txn,
	    "SELECT record FROM users WHERE client = $1::text AND username ="
	    " $2::text",
	    &q, &r);
	if (rc != DBS_OK)
		return rc;
	rc = PQntuples(r) == 1
		 ? pg_unpack(txn, &dbs__user__descriptor, r, 0, 0, NULL, out)
		 : DBS_ENOTFOUND;
	PQclear(r);
	return rc;
}

/* Delete the sessions of a user: *count = how many. */
static int
revoke(struct store_txn *t, const char *client, const char *username,
    uint64_t *count)
{
	struct pgp q = {0};

	pgp_text(&q, client);
	pgp_text(&q, username);
	return pg_run(t,
	    "DELETE FROM sessions WHERE client = $1::text AND username ="
	    " $2::text",
	    &q, count);
}

int
stpg_user_delete(
    struct store_txn *txn, const char *client, const char *username)
{
	Dbs__User u = DBS__USER__INIT;
	struct pgp q = {0};
	uint64_t n;
	int rc;

	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = user_names(client, username)) != DBS_OK)
		return rc;
	pgp_text(&q, client);
	pgp_text(&q, username);
	rc = pg_run(txn,
	    "DELETE FROM users WHERE client = $1::text AND username ="
	    " $2::text",
	    &q, &n);
	if (rc != DBS_OK)
		return rc;
	if (n == 0)
		return DBS_ENOTFOUND;
	u.client = (char *)client;
	u.username = (char *)username;
	/* A session must never outlive its account. */
	rc = revoke(txn, client, username, &n);
	if (rc == DBS_OK)
		rc = user_event(txn, &u, DBS__EVENT_KIND__EV_DELETE);
	if (rc != DBS_OK)
		return pg_poison(txn, rc == DBS_EINVAL ? DBS_EIO : rc);
	txn->changes++;
	return DBS_OK;
}

int
stpg_user_list(struct store_txn *txn, const char *client,
    int (*cb)(void *ctx, const Dbs__User *u), void *ctx)
{
	struct key prefix;
	struct pgp q = {0};
	PGresult *r;
	int rc;

	if (cb == NULL)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_scope_prefix(&prefix, client, NULL, false)) != DBS_OK)
		return rc;
	pgp_text(&q, client != NULL ? client : "");
	pgp_i64(&q, client != NULL);
	rc = pg_exec(txn,
	    "SELECT record FROM users WHERE $2::int8 = 0 OR client = $1::text"
	    " ORDER BY client, username",
	    &q, &r);
	if (rc != DBS_OK)
		return rc;
	for (int i = 0; i < PQntuples(r) && rc == DBS_OK; i++) {
		Dbs__User *u;

		rc = pg_unpack(txn, &dbs__user__descriptor, r, i, 0, NULL, &u);
		if (rc != DBS_OK)
			break;
		rc = cb(ctx, u);
		dbs__user__free_unpacked(u, NULL);
	}
	PQclear(r);
	return rc;
}

int
stpg_user_count(struct store_txn *txn, const char *client, uint64_t *count)
{
	struct key prefix;
	struct pgp q = {0};
	PGresult *r;
	int rc;

	if (count != NULL)
		*count = 0;
	if (count == NULL)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_scope_prefix(&prefix, client, NULL, false)) != DBS_OK)
		return rc;
	pgp_text(&q, client != NULL ? client : "");
	pgp_i64(&q, client != NULL);
	rc = pg_exec(txn,
	    "SELECT count(*) FROM users WHERE $2::int8 = 0 OR client ="
	    " $1::text",
	    &q, &r);
	if (rc != DBS_OK)
		return rc;
	*count = (uint64_t)pg_i64(r, 0, 0);
	PQclear(r);
	return DBS_OK;
}

int
stpg_user_imported(struct store_txn *txn, const char *client,
    const char *username, bool *imported)
{
	struct pgp q = {0};
	PGresult *r;
	int rc;

	if (imported != NULL)
		*imported = false;
	if (imported == NULL)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = user_names(client, username)) != DBS_OK)
		return rc;
	pgp_text(&q, client);
	pgp_text(&q, username);
	rc = pg_exec(txn,
	    "SELECT 1 FROM users_imported WHERE client = $1::text AND"
	    " username = $2::text",
	    &q, &r);
	if (rc != DBS_OK)
		return rc;
	*imported = PQntuples(r) == 1;
	PQclear(r);
	return DBS_OK;
}

int
stpg_user_mark_imported(
    struct store_txn *txn, const char *client, const char *username)
{
	struct pgp q = {0};
	int rc;

	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = user_names(client, username)) != DBS_OK)
		return rc;
	pgp_text(&q, client);
	pgp_text(&q, username);
	pgp_i64(&q, sti_now_ms());
	rc = pg_run(txn,
	    "INSERT INTO users_imported VALUES ($1::text, $2::text, $3::int8)"
	    " ON CONFLICT (client, username) DO UPDATE SET imported_ms ="
	    " EXCLUDED.imported_ms",
	    &q, NULL);
	if (rc != DBS_OK)
		return rc;
	txn->changes++;
	return DBS_OK;
}

/* ------------------------------------------------------------- sessions */

int
stpg_session_put(struct store_txn *txn, const Dbs__Session *s)
{
	struct sbuf *b = &txn->st->pg->rec;
	struct pgp q = {0};
	int rc;

	if (s == NULL)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_check_hash(s->token_hash.data, s->token_hash.len)) ||
	    (rc = sti_name(s->client, STORE_NAME_MAX, false)) ||
	    (rc = sti_name(s->username, STORE_NAME_MAX, false)))
		return rc;
	if ((rc = pg_pack(b, &s->base)) != DBS_OK)
		return rc;
	pgp_bytes(&q, s->token_hash.data, s->token_hash.len);
	pgp_text(&q, s->client);
	pgp_text(&q, s->username);
	pgp_i64(&q, s->expires_ms);
	pgp_bytes(&q, b->p, b->len);
	rc = pg_run(txn,
	    "INSERT INTO sessions VALUES ($1::bytea, $2::text, $3::text,"
	    " $4::int8, $5::bytea) ON CONFLICT (hash) DO UPDATE SET client ="
	    " EXCLUDED.client, username = EXCLUDED.username, expires_ms ="
	    " EXCLUDED.expires_ms, record = EXCLUDED.record",
	    &q, NULL);
	if (rc != DBS_OK)
		return rc;
	txn->changes++;
	return DBS_OK;
}

int
stpg_session_get(struct store_txn *txn, const uint8_t *hash, size_t hash_len,
    Dbs__Session **out)
{
	struct pgp q = {0};
	PGresult *r;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (out == NULL)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_check_hash(hash, hash_len)) != DBS_OK)
		return rc;
	pgp_bytes(&q, hash, hash_len);
	rc = pg_exec(
	    txn, "SELECT record FROM sessions WHERE hash = $1::bytea", &q, &r);
	if (rc != DBS_OK)
		return rc;
	rc = PQntuples(r) == 1 ? pg_unpack(txn, &dbs__session__descriptor, r,
				     0, 0, NULL, out)
			       : DBS_ENOTFOUND;
	PQclear(r);
	return rc;
}

int
stpg_session_delete(
    struct store_txn *txn, const uint8_t *hash, size_t hash_len)
{
	struct pgp q = {0};
	uint64_t n;
	int rc;

	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_check_hash(hash, hash_len)) != DBS_OK)
		return rc;
	pgp_bytes(&q, hash, hash_len);
	rc =
	    pg_run(txn, "DELETE FROM sessions WHERE hash = $1::bytea", &q, &n);
	if (rc != DBS_OK)
		return rc;
	if (n == 0)
		return DBS_ENOTFOUND;
	txn->changes++;
	return DBS_OK;
}

int
stpg_session_revoke_user(struct store_txn *txn, const char *client,
    const char *username, uint64_t *count)
{
	uint64_t n = 0;
	int rc;

	if (count != NULL)
		*count = 0;
	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = user_names(client, username)) != DBS_OK)
		return rc;
	if ((rc = revoke(txn, client, username, &n)) != DBS_OK)
		return rc;
	txn->changes += n;
	if (count != NULL)
		*count = n;
	return DBS_OK;
}

int
stpg_session_expire(struct store_txn *txn, int64_t now_ms, uint64_t *count)
{
	struct pgp q = {0};
	uint64_t n = 0;
	int rc;

	if (count != NULL)
		*count = 0;
	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	pgp_i64(&q, now_ms);
	rc = pg_run(
	    txn, "DELETE FROM sessions WHERE expires_ms < $1::int8", &q, &n);
	if (rc != DBS_OK)
		return rc;
	txn->changes += n;
	if (count != NULL)
		*count = n;
	return DBS_OK;
}

/* ------------------------------------------------------- config backups */

int
stpg_config_backup_put(struct store_txn *txn, const char *node,
    const char *author, const void *content, size_t len, int64_t time_ms,
    uint64_t *version)
{
	Dbs__ConfigBackup b = DBS__CONFIG_BACKUP__INIT;
	struct sbuf *buf = &txn->st->pg->rec;
	struct pgp q = {0};
	PGresult *r;
	int rc;

	if (version != NULL)
		*version = 0;
	if (len > 0 && content == NULL)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_name(node, STORE_LONGNAME_MAX, false)) != DBS_OK)
		return rc;
	pgp_text(&q, node);
	rc = pg_exec(txn,
	    "SELECT coalesce(max(version), 0)::int8 FROM config_backups WHERE"
	    " node = $1::text",
	    &q, &r);
	if (rc != DBS_OK)
		return rc;
	b.version = (uint64_t)pg_i64(r, 0, 0) + 1;
	PQclear(r);
	b.node = (char *)node;
	b.time_ms = time_ms;
	b.author = (char *)(author != NULL ? author : "");
	b.content.len = len;
	b.content.data = (uint8_t *)content;
	if ((rc = pg_pack(buf, &b.base)) != DBS_OK)
		return rc;
	pgp_u64(&q, b.version);
	pgp_bytes(&q, buf->p, buf->len);
	rc = pg_run(txn,
	    "INSERT INTO config_backups VALUES ($1::text, $2::int8,"
	    " $3::bytea)",
	    &q, NULL);
	if (rc != DBS_OK)
		return rc;
	txn->changes++;
	if (version != NULL)
		*version = b.version;
	return DBS_OK;
}

int
stpg_config_backup_get(struct store_txn *txn, const char *node,
    uint64_t version, Dbs__ConfigBackup **out)
{
	struct pgp q = {0};
	PGresult *r;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (out == NULL)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_name(node, STORE_LONGNAME_MAX, false)) != DBS_OK)
		return rc;
	pgp_text(&q, node);
	pgp_u64(&q, version);
	/* Version 0 asks for the newest. */
	rc = pg_exec(txn,
	    "SELECT record FROM config_backups WHERE node = $1::text AND"
	    " ($2::int8 = 0 OR version = $2::int8) ORDER BY version DESC"
	    " LIMIT 1",
	    &q, &r);
	if (rc != DBS_OK)
		return rc;
	rc = PQntuples(r) == 1
		 ? pg_unpack(txn, &dbs__config_backup__descriptor, r, 0, 0,
		       NULL, out)
		 : DBS_ENOTFOUND;
	PQclear(r);
	return rc;
}

int
stpg_config_backup_list(struct store_txn *txn, const char *node,
    int (*cb)(void *ctx, const Dbs__ConfigBackup *b), void *ctx)
{
	struct pgp q = {0};
	PGresult *r;
	int rc;

	if (cb == NULL)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_name(node, STORE_LONGNAME_MAX, false)) != DBS_OK)
		return rc;
	pgp_text(&q, node);
	rc = pg_exec(txn,
	    "SELECT record FROM config_backups WHERE node = $1::text ORDER BY"
	    " version DESC",
	    &q, &r);
	if (rc != DBS_OK)
		return rc;
	for (int i = 0; i < PQntuples(r) && rc == DBS_OK; i++) {
		Dbs__ConfigBackup *b;

		rc = pg_unpack(
		    txn, &dbs__config_backup__descriptor, r, i, 0, NULL, &b);
		if (rc != DBS_OK)
			break;
		rc = cb(ctx, b);
		dbs__config_backup__free_unpacked(b, NULL);
	}
	PQclear(r);
	return rc;
}

/* --------------------------------------------------------------- verify */

struct vctx {
	struct store_txn *t;
	void (*report)(void *ctx, const char *problem);
	void *ctx;
	uint64_t problems;
};

static void problem(struct vctx *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
problem(struct vctx *v, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	v->problems++;
	if (v->report == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	v->report(v->ctx, buf);
}

/* Each row of `sql` is a problem: its first column (text) says which. */
static int
check_rows(struct vctx *v, const char *sql)
{
	PGresult *r;
	int rc;

	if ((rc = pg_exec(v->t, sql, NULL, &r)) != DBS_OK)
		return rc;
	for (int i = 0; i < PQntuples(r); i++)
		problem(v, "%s", PQgetvalue(r, i, 0));
	PQclear(r);
	return DBS_OK;
}

/* The attachment rows (passenger, name, size) of passenger `id`, from
 * *next on in `a` (ordered by passenger, name): its metas must name them
 * all, with their sizes. Rows of passengers that do not exist are
 * check_rows' (stpg_verify). */
static void
check_bodies(
    struct vctx *v, const Dbs__Passenger *p, const PGresult *a, int *next)
{
	int from, to;

	while (*next < PQntuples(a) && (uint64_t)pg_i64(a, *next, 0) < p->id)
		(*next)++;
	from = *next;
	while (*next < PQntuples(a) && (uint64_t)pg_i64(a, *next, 0) == p->id)
		(*next)++;
	to = *next;
	for (size_t i = 0; i < p->n_attachments; i++) {
		const Dbs__AttachmentMeta *m = p->attachments[i];
		int j = from;

		while (j < to && strcmp(PQgetvalue(a, j, 1), m->name) != 0)
			j++;
		if (j == to)
			problem(v,
			    "Attachment \"%s\" of passenger %llu has no "
			    "body.",
			    m->name, (unsigned long long)p->id);
		else if ((uint64_t)pg_i64(a, j, 2) != m->size)
			problem(v,
			    "Attachment \"%s\" of passenger %llu has %llu "
			    "bytes, its meta says %llu.",
			    m->name, (unsigned long long)p->id,
			    (unsigned long long)pg_i64(a, j, 2),
			    (unsigned long long)m->size);
	}
	for (int j = from; j < to; j++) {
		bool found = false;

		for (size_t i = 0; i < p->n_attachments && !found; i++)
			found = strcmp(p->attachments[i]->name,
				    PQgetvalue(a, j, 1)) == 0;
		if (!found)
			problem(v,
			    "Attachment \"%s\" of passenger %llu is not in "
			    "its record.",
			    PQgetvalue(a, j, 1), (unsigned long long)p->id);
	}
}

/* Row i of `r` (a passenger) decodes and agrees with the columns beside
 * it, its dedup key and its attachment bodies (`a`, from *next on). */
static void
check_one(
    struct vctx *v, const PGresult *r, int i, const PGresult *a, int *next)
{
	uint64_t id = (uint64_t)pg_i64(r, i, 0);
	Dbs__Passenger *p;
	struct key dk;

	if (pg_unpack(v->t, &dbs__passenger__descriptor, r, i, 9, NULL, &p) !=
	    DBS_OK) {
		problem(v, "passenger %llu: its record does not decode",
		    (unsigned long long)id);
		return;
	}
	if (p->id != id || strcmp(p->client, PQgetvalue(r, i, 1)) ||
	    strcmp(p->definition, PQgetvalue(r, i, 2)) ||
	    strcmp(p->puller, PQgetvalue(r, i, 3)) ||
	    strcmp(p->external_id, PQgetvalue(r, i, 4)) ||
	    (int64_t)p->state != pg_i64(r, i, 5) ||
	    p->next_attempt_ms != pg_i64(r, i, 6) ||
	    p->done_ms != pg_i64(r, i, 7))
		problem(v,
		    "passenger %llu: its columns differ from its record",
		    (unsigned long long)id);
	sti_key_dedup(&dk, p->client, strlen(p->client), p->definition,
	    strlen(p->definition), p->puller, strlen(p->puller),
	    p->external_id, strlen(p->external_id));
	if (dk.over || (size_t)PQgetlength(r, i, 8) != dk.n ||
	    memcmp(PQgetvalue(r, i, 8), dk.b, dk.n) != 0)
		problem(v, "passenger %llu: wrong dedup key column",
		    (unsigned long long)id);
	check_bodies(v, p, a, next);
	dbs__passenger__free_unpacked(p, NULL);
}

/* Passengers checked at a time. */
#define VERIFY_CHUNK 256

/* Every passenger by check_one, a chunk of ids at a time with the
 * attachments of those ids. */
static int
check_passengers(struct vctx *v)
{
	uint64_t after = 0;
	int rc, rows;

	do {
		struct pgp q = {0};
		PGresult *r, *a;
		int next = 0;

		pgp_u64(&q, after);
		pgp_i64(&q, VERIFY_CHUNK);
		rc = pg_exec(v->t,
		    "SELECT id, client, definition, puller, external_id,"
		    " state::int8, next_attempt_ms, done_ms, dedup_key, record"
		    " FROM passengers WHERE id > $1::int8 ORDER BY id"
		    " LIMIT $2::int8",
		    &q, &r);
		if (rc != DBS_OK)
			return rc;
		if ((rows = PQntuples(r)) == 0) {
			PQclear(r);
			break;
		}
		q.n = 1;
		pgp_u64(&q, (uint64_t)pg_i64(r, rows - 1, 0));
		rc = pg_exec(v->t,
		    "SELECT passenger, name, length(body)::int8 FROM"
		    " attachments WHERE passenger > $1::int8 AND passenger <="
		    " $2::int8 ORDER BY passenger, name",
		    &q, &a);
		if (rc != DBS_OK) {
			PQclear(r);
			return rc;
		}
		for (int i = 0; i < rows; i++)
			check_one(v, r, i, a, &next);
		after = (uint64_t)pg_i64(r, rows - 1, 0);
		PQclear(a);
		PQclear(r);
	} while (rows == VERIFY_CHUNK);
	return DBS_OK;
}

int
stpg_verify(struct store_txn *txn,
    void (*report)(void *ctx, const char *problem), void *ctx,
    uint64_t *problems)
{
	struct vctx v = {txn, report, ctx, 0};
	int rc;

	if (problems != NULL)
		*problems = 0;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	rc = check_passengers(&v);
	if (rc == DBS_OK)
		rc = check_rows(&v,
		    "SELECT 'passenger ' || p.id || ': no dedup entry' FROM"
		    " passengers p LEFT JOIN dedup d ON d.key = p.dedup_key "
		    "AND"
		    " d.passenger = p.id AND d.expires_ms IS NULL WHERE d.key "
		    "IS"
		    " NULL ORDER BY p.id");
	if (rc == DBS_OK)
		rc = check_rows(&v,
		    "SELECT 'dedup entry of missing passenger ' || d.passenger"
		    " FROM dedup d LEFT JOIN passengers p ON p.id = "
		    "d.passenger"
		    " WHERE d.expires_ms IS NULL AND p.id IS NULL ORDER BY"
		    " d.passenger");
	if (rc == DBS_OK)
		rc = check_rows(&v,
		    "SELECT 'attachment ' || a.name || ' of missing passenger "
		    "'"
		    " || a.passenger FROM attachments a LEFT JOIN passengers p"
		    " ON p.id = a.passenger WHERE p.id IS NULL");
	if (rc == DBS_OK)
		rc = check_rows(&v,
		    "SELECT 'counts of ' || coalesce(c.client, a.client) || "
		    "'/'"
		    " || coalesce(c.definition, a.definition) || ' differ from"
		    " the passengers' FROM counts c FULL JOIN (SELECT client,"
		    " definition, count(*) FILTER (WHERE state = 0) AS "
		    "pending,"
		    " count(*) FILTER (WHERE state = 1) AS done, count(*) "
		    "FILTER"
		    " (WHERE state = 2) AS dead FROM passengers GROUP BY "
		    "client,"
		    " definition) a ON a.client = c.client AND a.definition ="
		    " c.definition WHERE coalesce(c.pending, 0) <>"
		    " coalesce(a.pending, 0) OR coalesce(c.done, 0) <>"
		    " coalesce(a.done, 0) OR coalesce(c.dead, 0) <>"
		    " coalesce(a.dead, 0)");
	if (rc == DBS_OK)
		rc = check_rows(&v,
		    "SELECT 'passenger id ' || max(id) || ' not below the next"
		    " id ' || (SELECT value FROM meta WHERE name = "
		    "'" META_NEXT_PID
		    "') FROM passengers HAVING max(id) >= (SELECT value FROM"
		    " meta WHERE name = '" META_NEXT_PID "')");
	if (rc == DBS_OK)
		rc = check_rows(&v,
		    "SELECT 'log id ' || max(id) || ' not below the next id'"
		    " FROM logs HAVING max(id) >= (SELECT value FROM meta "
		    "WHERE"
		    " name = '" META_NEXT_LOG "')");
	if (rc == DBS_OK)
		rc = check_rows(&v,
		    "SELECT 'the event log has gaps: ' || count(*) || ' events"
		    " from ' || min(seq) || ' to ' || max(seq) FROM events"
		    " HAVING count(*) <> max(seq) - min(seq) + 1");
	if (rc == DBS_OK)
		rc = check_rows(&v,
		    "SELECT 'event ' || max(seq) || ' not below the next seq'"
		    " FROM events HAVING max(seq) >= (SELECT value FROM meta"
		    " WHERE name = '" META_NEXT_SEQ "')");
	if (rc != DBS_OK)
		return rc;
	if (problems != NULL)
		*problems = v.problems;
	return DBS_OK;
}
