/*
 * auth.c — users and sessions in the store.
 *
 * Users are keyed by (client, username); their events carry the record
 * without its password hash, since events reach browsers. Sessions are
 * keyed by the hash of their token (the token itself is never stored) and
 * indexed by user in sessions.user, so that "revoke token" deletes all of a
 * user's sessions without a scan. Deleting a user revokes its sessions too:
 * a session must never outlive its account.
 *
 * users.imported remembers each user that databusd imported from a client
 * file, whatever became of it since (removed, password or role changed):
 * the store is the source of truth after the first import, so a user
 * removed must not come back from the file at the next reload.
 */
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"
#include "store_pg.h"

#define SESSION_BATCH 128

static int
user_key(struct key *k, const char *client, const char *username)
{
	int rc;

	if ((rc = sti_name(client, STORE_NAME_MAX, false)) != DBS_OK ||
	    (rc = sti_name(username, STORE_NAME_MAX, false)) != DBS_OK)
		return rc;
	key_init(k);
	key_str(k, client);
	key_raw(k, username, strlen(username));
	return k->over ? DBS_ETOOBIG : DBS_OK;
}

static int
user_event(struct store_txn *t, const Dbs__User *u, Dbs__EventKind kind)
{
	Dbs__User pub = *u;
	MDB_val v;
	int rc;

	pub.password_hash = (char *)"";
	if (kind == DBS__EVENT_KIND__EV_DELETE) {
		dbs__user__init(&pub);
		pub.client = u->client;
		pub.username = u->username;
	}
	if ((rc = sti_pack(t->st, &pub.base, &v)) != DBS_OK)
		return rc;
	return sti_ev_append(t, u->client, DBS__RESOURCE__RES_USER, kind,
	    v.mv_data, v.mv_size, NULL);
}

/* The key of client/username in *k and *kv, once `txn` is usable (for
 * writing when `write`). */
static int
user_kv(struct store_txn *txn, bool write, const char *client,
    const char *username, struct key *k, MDB_val *kv)
{
	int rc;

	if ((rc = sti_usable(txn, write)) != DBS_OK)
		return rc;
	if ((rc = user_key(k, client, username)) != DBS_OK)
		return rc;
	*kv = key_val(k);
	return DBS_OK;
}

int
store_user_put(struct store_txn *txn, const Dbs__User *u)
{
	if (sti_pg(txn))
		return stpg_user_put(txn, u);
	struct key k;
	MDB_val kv, v;
	bool exists;
	int rc;

	if (u == NULL)
		return DBS_EINVAL;
	if ((rc = user_kv(txn, true, u->client, u->username, &k, &kv)) !=
	    DBS_OK)
		return rc;
	rc = sti_get(txn, DB_USERS, &kv, &v);
	if (rc != DBS_OK && rc != DBS_ENOTFOUND)
		return rc;
	exists = rc == DBS_OK;
	rc = sti_put_msg(txn, DB_USERS, &kv, &u->base, 0, NULL);
	if (rc == DBS_OK)
		rc = user_event(txn, u,
		    exists ? DBS__EVENT_KIND__EV_UPDATE
			   : DBS__EVENT_KIND__EV_CREATE);
	if (rc != DBS_OK) {
		if (txn->poison == 0)
			txn->poison = rc;
		return rc;
	}
	txn->changes++;
	return DBS_OK;
}

/* The value of client/username in `db` (the users, or the imported
 * marks), read in `txn`. */
static int
user_lookup(struct store_txn *txn, int db, const char *client,
    const char *username, MDB_val *v)
{
	struct key k;
	MDB_val kv;
	int rc;

	if ((rc = user_kv(txn, false, client, username, &k, &kv)) != DBS_OK)
		return rc;
	return sti_get(txn, db, &kv, v);
}

int
store_user_get(struct store_txn *txn, const char *client, const char *username,
    Dbs__User **out)
{
	if (sti_pg(txn))
		return stpg_user_get(txn, client, username, out);
	MDB_val v;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (out == NULL)
		return DBS_EINVAL;
	if ((rc = user_lookup(txn, DB_USERS, client, username, &v)) != DBS_OK)
		return rc;
	return sti_unpack(txn, &dbs__user__descriptor, &v, DB_USERS, out);
}

static int revoke(struct store_txn *t, const char *client,
    const char *username, uint64_t *count);

int
store_user_delete(
    struct store_txn *txn, const char *client, const char *username)
{
	if (sti_pg(txn))
		return stpg_user_delete(txn, client, username);
	Dbs__User u = DBS__USER__INIT;
	uint64_t n;
	struct key k;
	MDB_val kv;
	int rc;

	if ((rc = user_kv(txn, true, client, username, &k, &kv)) != DBS_OK)
		return rc;
	if ((rc = sti_del(txn, DB_USERS, &kv)) != DBS_OK)
		return rc;
	u.client = (char *)client;
	u.username = (char *)username;
	rc = revoke(txn, client, username, &n);
	if (rc == DBS_OK)
		rc = user_event(txn, &u, DBS__EVENT_KIND__EV_DELETE);
	if (rc != DBS_OK) {
		if (txn->poison == 0)
			txn->poison = rc;
		return rc;
	}
	txn->changes++;
	return DBS_OK;
}

int
store_user_list(struct store_txn *txn, const char *client,
    int (*cb)(void *ctx, const Dbs__User *u), void *ctx)
{
	if (sti_pg(txn))
		return stpg_user_list(txn, client, cb, ctx);
	struct key prefix;
	struct iter it;
	Dbs__User *u;
	bool stopped = false;
	int rc;

	if (cb == NULL)
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_scope_prefix(&prefix, client, NULL, false)) != DBS_OK)
		return rc;
	rc = sti_iter_open(
	    &it, txn, DB_USERS, prefix.b, prefix.n, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		rc = sti_unpack(
		    txn, &dbs__user__descriptor, &it.v, DB_USERS, &u);
		if (rc != DBS_OK)
			break;
		rc = cb(ctx, u);
		dbs__user__free_unpacked(u, NULL);
		if (rc != 0) {
			stopped = true;
			break;
		}
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND && !stopped ? DBS_OK : rc;
}

int
store_user_count(struct store_txn *txn, const char *client, uint64_t *count)
{
	if (sti_pg(txn))
		return stpg_user_count(txn, client, count);
	struct key prefix;
	struct iter it;
	uint64_t n = 0;
	int rc;

	if (count != NULL)
		*count = 0;
	if (count == NULL)
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_scope_prefix(&prefix, client, NULL, false)) != DBS_OK)
		return rc;
	rc = sti_iter_open(
	    &it, txn, DB_USERS, prefix.b, prefix.n, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK)
		n++;
	sti_iter_close(&it);
	if (rc != DBS_ENOTFOUND)
		return rc;
	*count = n;
	return DBS_OK;
}

/* ------------------------------------------------------- imported users */

int
store_user_imported(struct store_txn *txn, const char *client,
    const char *username, bool *imported)
{
	if (sti_pg(txn))
		return stpg_user_imported(txn, client, username, imported);
	MDB_val v;
	int rc;

	if (imported != NULL)
		*imported = false;
	if (imported == NULL)
		return DBS_EINVAL;
	rc = user_lookup(txn, DB_USERS_IMPORTED, client, username, &v);
	if (rc == DBS_ENOTFOUND)
		return DBS_OK;
	if (rc == DBS_OK)
		*imported = true;
	return rc;
}

int
store_user_mark_imported(
    struct store_txn *txn, const char *client, const char *username)
{
	if (sti_pg(txn))
		return stpg_user_mark_imported(txn, client, username);
	uint8_t when[8];
	struct key k;
	MDB_val kv, v = {sizeof(when), when};
	int rc;

	if ((rc = user_kv(txn, true, client, username, &k, &kv)) != DBS_OK)
		return rc;
	sti_put_be64(when, (uint64_t)sti_now_ms());
	if ((rc = sti_put(txn, DB_USERS_IMPORTED, &kv, &v, 0)) != DBS_OK)
		return rc;
	txn->changes++;
	return DBS_OK;
}

/* -------------------------------------------------------------- sessions */

int
sti_check_hash(const uint8_t *hash, size_t len)
{
	if (hash == NULL || len == 0)
		return DBS_EINVAL;
	return len > STORE_TOKEN_MAX ? DBS_ETOOBIG : DBS_OK;
}

static void
by_user_key(struct key *k, const char *client, size_t clen, const char *user,
    size_t ulen, const void *hash, size_t hlen)
{
	key_init(k);
	key_strn(k, client, clen);
	key_strn(k, user, ulen);
	key_raw(k, hash, hlen);
}

/* Delete session `hash` and its by-user entry. */
static int
session_delete(struct store_txn *t, const uint8_t *hash, size_t len)
{
	struct pbv pv;
	struct key k;
	MDB_val kv = {len, (void *)hash}, v;
	int rc;

	if ((rc = sti_get(t, DB_SESSIONS, &kv, &v)) != DBS_OK)
		return rc;
	if (sti_pbv(&pv, v.mv_data, v.mv_size) != DBS_OK)
		return DBS_ECORRUPT;
	by_user_key(&k, pv.s[SF_CLIENT], pv.len[SF_CLIENT], pv.s[SF_USER],
	    pv.len[SF_USER], hash, len);
	if (k.over)
		return DBS_ECORRUPT;
	if ((rc = sti_del(t, DB_SESSIONS, &kv)) != DBS_OK)
		return rc;
	kv = key_val(&k);
	return sti_del_any(t, DB_SESSIONS_USER, &kv);
}

int
store_session_put(struct store_txn *txn, const Dbs__Session *s)
{
	if (sti_pg(txn))
		return stpg_session_put(txn, s);
	struct key k;
	MDB_val kv, v;
	int rc;

	if (s == NULL)
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_check_hash(s->token_hash.data, s->token_hash.len)) ||
	    (rc = sti_name(s->client, STORE_NAME_MAX, false)) ||
	    (rc = sti_name(s->username, STORE_NAME_MAX, false)))
		return rc;
	kv.mv_size = s->token_hash.len;
	kv.mv_data = s->token_hash.data;
	rc = sti_get(txn, DB_SESSIONS, &kv, &v);
	if (rc == DBS_OK)
		rc =
		    session_delete(txn, s->token_hash.data, s->token_hash.len);
	else if (rc == DBS_ENOTFOUND)
		rc = DBS_OK;
	if (rc == DBS_OK) {
		kv.mv_size = s->token_hash.len;
		kv.mv_data = s->token_hash.data;
		rc = sti_put_msg(txn, DB_SESSIONS, &kv, &s->base, 0, NULL);
	}
	if (rc == DBS_OK) {
		by_user_key(&k, s->client, strlen(s->client), s->username,
		    strlen(s->username), s->token_hash.data,
		    s->token_hash.len);
		rc = sti_put_key(txn, DB_SESSIONS_USER, &k);
	}
	if (rc != DBS_OK) {
		if (txn->poison == 0)
			txn->poison = rc;
		return rc;
	}
	txn->changes++;
	return DBS_OK;
}

int
store_session_get(struct store_txn *txn, const uint8_t *hash, size_t hash_len,
    Dbs__Session **out)
{
	if (sti_pg(txn))
		return stpg_session_get(txn, hash, hash_len, out);
	MDB_val kv = {hash_len, (void *)hash}, v;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (out == NULL)
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_check_hash(hash, hash_len)) != DBS_OK)
		return rc;
	if ((rc = sti_get(txn, DB_SESSIONS, &kv, &v)) != DBS_OK)
		return rc;
	return sti_unpack(
	    txn, &dbs__session__descriptor, &v, DB_SESSIONS, out);
}

int
store_session_delete(
    struct store_txn *txn, const uint8_t *hash, size_t hash_len)
{
	if (sti_pg(txn))
		return stpg_session_delete(txn, hash, hash_len);
	int rc;

	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_check_hash(hash, hash_len)) != DBS_OK)
		return rc;
	rc = session_delete(txn, hash, hash_len);
	if (rc != DBS_OK) {
		if (rc != DBS_ENOTFOUND && txn->poison == 0)
			txn->poison = rc;
		return rc;
	}
	txn->changes++;
	return DBS_OK;
}

/* Collect up to SESSION_BATCH token hashes, then delete them. */
struct hashes {
	uint8_t h[SESSION_BATCH][STORE_TOKEN_MAX];
	size_t len[SESSION_BATCH];
	size_t n;
};

static int
delete_hashes(struct store_txn *t, struct hashes *hs, uint64_t *count)
{
	int rc;

	for (size_t i = 0; i < hs->n; i++) {
		rc = session_delete(t, hs->h[i], hs->len[i]);
		if (rc == DBS_OK)
			(*count)++;
		else if (rc != DBS_ENOTFOUND)
			return rc;
	}
	return DBS_OK;
}

static int
revoke(struct store_txn *t, const char *client, const char *username,
    uint64_t *count)
{
	struct hashes *hs;
	struct key prefix;
	struct iter it;
	int rc;

	*count = 0;
	key_init(&prefix);
	key_str(&prefix, client);
	key_str(&prefix, username);
	if (prefix.over)
		return DBS_ETOOBIG;
	if ((hs = malloc(sizeof(*hs))) == NULL)
		return DBS_ENOMEM;
	do {
		hs->n = 0;
		rc = sti_iter_open(&it, t, DB_SESSIONS_USER, prefix.b,
		    prefix.n, NULL, 0, false);
		if (rc != DBS_OK)
			break;
		while (hs->n < SESSION_BATCH &&
		       (rc = sti_iter_next(&it)) == DBS_OK) {
			size_t hl = it.k.mv_size - prefix.n;

			if (hl == 0 || hl > STORE_TOKEN_MAX)
				continue;
			memcpy(hs->h[hs->n],
			    (uint8_t *)it.k.mv_data + prefix.n, hl);
			hs->len[hs->n++] = hl;
		}
		sti_iter_close(&it);
		if (rc == DBS_ENOTFOUND)
			rc = DBS_OK;
		if (rc == DBS_OK)
			rc = delete_hashes(t, hs, count);
		/* An entry whose session is gone must not be found again. */
		for (size_t i = 0; rc == DBS_OK && i < hs->n; i++) {
			struct key k = prefix;
			MDB_val kv;

			key_raw(&k, hs->h[i], hs->len[i]);
			kv = key_val(&k);
			rc = sti_del_any(t, DB_SESSIONS_USER, &kv);
		}
	} while (rc == DBS_OK && hs->n == SESSION_BATCH);
	free(hs);
	return rc;
}

int
store_session_revoke_user(struct store_txn *txn, const char *client,
    const char *username, uint64_t *count)
{
	if (sti_pg(txn))
		return stpg_session_revoke_user(txn, client, username, count);
	uint64_t n = 0;
	int rc;

	if (count != NULL)
		*count = 0;
	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_name(client, STORE_NAME_MAX, false)) != DBS_OK ||
	    (rc = sti_name(username, STORE_NAME_MAX, false)) != DBS_OK)
		return rc;
	if ((rc = revoke(txn, client, username, &n)) != DBS_OK) {
		if (txn->poison == 0)
			txn->poison = rc;
		return rc;
	}
	txn->changes += n;
	if (count != NULL)
		*count = n;
	return DBS_OK;
}

/* Sessions are few (one per browser login): a scan is cheap enough. */
int
store_session_expire(struct store_txn *txn, int64_t now_ms, uint64_t *count)
{
	if (sti_pg(txn))
		return stpg_session_expire(txn, now_ms, count);
	struct hashes *hs;
	struct key from;
	struct iter it;
	struct pbv pv;
	uint64_t n = 0;
	bool more;
	int rc;

	if (count != NULL)
		*count = 0;
	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	if ((hs = malloc(sizeof(*hs))) == NULL)
		return DBS_ENOMEM;
	key_init(&from);
	do {
		hs->n = 0;
		more = false;
		rc = sti_iter_open(&it, txn, DB_SESSIONS, NULL, 0,
		    from.n ? from.b : NULL, from.n, false);
		if (rc != DBS_OK)
			break;
		while ((rc = sti_iter_next(&it)) == DBS_OK) {
			if (it.k.mv_size == 0 ||
			    it.k.mv_size > STORE_TOKEN_MAX)
				continue;
			if (sti_pbv(&pv, it.v.mv_data, it.v.mv_size) != DBS_OK)
				continue; /* store_verify reports it */
			if ((int64_t)pv.v[SF_EXPIRES] >= now_ms)
				continue;
			if (hs->n == SESSION_BATCH) {
				more = true;
				break;
			}
			memcpy(hs->h[hs->n], it.k.mv_data, it.k.mv_size);
			hs->len[hs->n++] = it.k.mv_size;
			/* Resume right after this key next time. */
			key_init(&from);
			key_raw(&from, it.k.mv_data, it.k.mv_size);
			key_u8(&from, 0);
		}
		sti_iter_close(&it);
		if (rc == DBS_ENOTFOUND)
			rc = DBS_OK;
		if (rc == DBS_OK)
			rc = delete_hashes(txn, hs, &n);
	} while (rc == DBS_OK && more);
	free(hs);
	if (rc != DBS_OK) {
		if (txn->poison == 0)
			txn->poison = rc;
		return rc;
	}
	txn->changes += n;
	if (count != NULL)
		*count = n;
	return DBS_OK;
}
