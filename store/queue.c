/*
 * queue.c — passengers in the store: seating with deduplication, records,
 * attachment bodies, the queue indexes, listings, the scheduler's due
 * queries, counts and purges.
 *
 * This is the hot path of Databus (every pulled item is seated, then
 * updated once per step), so it avoids work: a seat is one dedup lookup and
 * a handful of puts, records are packed straight into the map, an update
 * rewrites index entries only when state, next_attempt_ms or done_ms
 * change (read from the old record without decoding it), and the counts by
 * state are kept per definition as deltas applied once per commit. The key
 * layout is described in store_impl.h.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store_impl.h"
#include "store_pg.h"

static const int q_indexes[] = {DB_Q_CLIENT, DB_Q_DEF, DB_Q_CLIENT_STATE,
    DB_Q_DEF_STATE, DB_Q_DUE, DB_Q_DONE};

/* Mark the transaction unusable after a failure that left half a change. */
static int
poison(struct store_txn *t, int rc)
{
	if (rc != DBS_OK && rc != DBS_ENOTFOUND && t->poison == 0)
		t->poison = rc;
	return rc;
}

/* ---------------------------------------------------------------- keys */

void
sti_key_dedup(struct key *k, const char *client, size_t clen, const char *def,
    size_t dlen, const char *puller, size_t plen, const char *ext, size_t elen)
{
	uint8_t h[STORE_HASH_LEN];

	key_init(k);
	key_strn(k, client, clen);
	key_strn(k, def, dlen);
	key_strn(k, puller, plen);
	if (elen <= STORE_EXTID_RAW) {
		key_raw(k, ext, elen);
		return;
	}
	crypto_generichash(
	    h, sizeof(h), (const unsigned char *)ext, elen, NULL, 0);
	key_strn(k, ext, STORE_EXTID_PREFIX);
	key_raw(k, h, sizeof(h));
}

static void
pf_from_msg(struct pfields *f, const Dbs__Passenger *p)
{
	f->client = p->client;
	f->clen = strlen(p->client);
	f->def = p->definition;
	f->dlen = strlen(p->definition);
	f->puller = p->puller;
	f->plen = strlen(p->puller);
	f->ext = p->external_id;
	f->elen = strlen(p->external_id);
	f->state = (unsigned)p->state;
	f->next = p->next_attempt_ms;
	f->done = p->done_ms;
}

void
sti_pf_from_pbv(struct pfields *f, const struct pbv *pv)
{
	f->client = pv->s[PF_CLIENT];
	f->clen = pv->len[PF_CLIENT];
	f->def = pv->s[PF_DEF];
	f->dlen = pv->len[PF_DEF];
	f->puller = pv->s[PF_PULLER];
	f->plen = pv->len[PF_PULLER];
	f->ext = pv->s[PF_EXT];
	f->elen = pv->len[PF_EXT];
	f->state = (unsigned)pv->v[PF_STATE];
	f->next = (int64_t)pv->v[PF_NEXT];
	f->done = (int64_t)pv->v[PF_DONE];
}

bool
sti_q_indexed(int db, unsigned state)
{
	if (db == DB_Q_DUE)
		return state == DBS__PASSENGER_STATE__PS_PENDING;
	if (db == DB_Q_DONE)
		return state == DBS__PASSENGER_STATE__PS_DONE;
	return true;
}

void
sti_qkey(struct key *k, int db, const struct pfields *f, uint64_t id)
{
	key_init(k);
	key_strn(k, f->client, f->clen);
	switch (db) {
	case DB_Q_DEF:
		key_strn(k, f->def, f->dlen);
		break;
	case DB_Q_CLIENT_STATE:
		key_u8(k, (uint8_t)f->state);
		break;
	case DB_Q_DEF_STATE:
		key_strn(k, f->def, f->dlen);
		key_u8(k, (uint8_t)f->state);
		break;
	case DB_Q_DUE:
		key_strn(k, f->def, f->dlen);
		key_i64(k, f->next);
		break;
	case DB_Q_DONE:
		key_strn(k, f->def, f->dlen);
		key_i64(k, f->done);
		break;
	default:
		break;
	}
	key_u64(k, id);
}

static int
idx_put(struct store_txn *t, int db, const struct pfields *f, uint64_t id)
{
	struct key k;

	sti_qkey(&k, db, f, id);
	return sti_put_key(t, db, &k);
}

static int
idx_del(struct store_txn *t, int db, const struct pfields *f, uint64_t id)
{
	struct key k;

	sti_qkey(&k, db, f, id);
	return sti_del_key(t, db, &k);
}

int
sti_check_identity(const Dbs__Passenger *p)
{
	int rc;

	if ((rc = sti_name(p->client, STORE_NAME_MAX, false)) != DBS_OK ||
	    (rc = sti_name(p->definition, STORE_NAME_MAX, false)) != DBS_OK ||
	    (rc = sti_name(p->puller, STORE_NAME_MAX, false)) != DBS_OK)
		return rc;
	if (p->external_id == NULL || p->external_id[0] == '\0')
		return DBS_EINVAL;
	if ((unsigned)p->state > DBS__PASSENGER_STATE__PS_DEAD)
		return DBS_EINVAL;
	return DBS_OK;
}

/* ---------------------------------------------------------------- counts */

int
sti_count_add(struct store_txn *t, const char *client, size_t clen,
    const char *def, size_t dlen, unsigned state, int64_t delta)
{
	struct store *st = t->st;
	struct count_delta *c;
	struct key k;
	size_t i;

	if (state > DBS__PASSENGER_STATE__PS_DEAD)
		return DBS_OK;
	key_init(&k);
	key_strn(&k, client, clen);
	key_strn(&k, def, dlen);
	if (k.over || k.n > sizeof(c->key))
		return DBS_ETOOBIG;
	c = NULL;
	if (st->cnt_last < st->n_cnt) {
		c = &st->cnt[st->cnt_last];
		if (c->klen != k.n || memcmp(c->key, k.b, k.n) != 0)
			c = NULL;
	}
	for (i = 0; c == NULL && i < st->n_cnt; i++) {
		if (st->cnt[i].klen == k.n &&
		    memcmp(st->cnt[i].key, k.b, k.n) == 0) {
			c = &st->cnt[i];
			st->cnt_last = i;
		}
	}
	if (c == NULL) {
		if (st->n_cnt == st->cap_cnt) {
			size_t cap = st->cap_cnt ? st->cap_cnt * 2 : 16;
			struct count_delta *n;

			n = realloc(st->cnt, cap * sizeof(*n));
			if (n == NULL)
				return DBS_ENOMEM;
			st->cnt = n;
			st->cap_cnt = cap;
		}
		st->cnt_last = st->n_cnt++;
		c = &st->cnt[st->cnt_last];
		memcpy(c->key, k.b, k.n);
		c->klen = k.n;
		c->d[0] = c->d[1] = c->d[2] = 0;
	}
	c->d[state] += delta;
	return DBS_OK;
}

void
sti_count_pending(
    struct store_txn *t, const uint8_t *prefix, size_t plen, int64_t d[3])
{
	struct store *st = t->st;

	if (!t->write)
		return;
	for (size_t i = 0; i < st->n_cnt; i++) {
		struct count_delta *c = &st->cnt[i];

		if (c->klen < plen || memcmp(c->key, prefix, plen) != 0)
			continue;
		for (int s = 0; s < 3; s++)
			d[s] += c->d[s];
	}
}

int
sti_count_flush(struct store_txn *t)
{
	struct store *st = t->st;
	uint8_t b[24];
	int rc;

	for (size_t i = 0; i < st->n_cnt; i++) {
		struct count_delta *c = &st->cnt[i];
		MDB_val k = {c->klen, c->key}, v;
		uint64_t n[3] = {0, 0, 0};
		bool zero = true;

		if (c->d[0] == 0 && c->d[1] == 0 && c->d[2] == 0)
			continue;
		rc = sti_get(t, DB_Q_COUNTS, &k, &v);
		if (rc == DBS_OK && v.mv_size == sizeof(b)) {
			for (int s = 0; s < 3; s++)
				n[s] = sti_be64((uint8_t *)v.mv_data + 8 * s);
		} else if (rc != DBS_OK && rc != DBS_ENOTFOUND) {
			return rc;
		}
		for (int s = 0; s < 3; s++) {
			int64_t x = (int64_t)n[s] + c->d[s];

			n[s] = x > 0 ? (uint64_t)x : 0;
			sti_put_be64(b + 8 * s, n[s]);
			zero = zero && n[s] == 0;
		}
		if (zero) {
			rc = sti_del_any(t, DB_Q_COUNTS, &k);
		} else {
			v.mv_size = sizeof(b);
			v.mv_data = b;
			rc = sti_put(t, DB_Q_COUNTS, &k, &v, 0);
		}
		if (rc != DBS_OK)
			return rc;
	}
	st->n_cnt = 0;
	return DBS_OK;
}

void
sti_count_reset(struct store *st)
{
	st->n_cnt = 0;
	st->cnt_last = 0;
}

void
sti_count_free(struct store *st)
{
	free(st->cnt);
	st->cnt = NULL;
	st->n_cnt = st->cap_cnt = 0;
}

/* ------------------------------------------------------------ passengers */

static int
metas_reserve(struct store *st, size_t n)
{
	Dbs__AttachmentMeta *m;
	Dbs__AttachmentMeta **mp;

	if (n <= st->cap_metas)
		return DBS_OK;
	m = realloc(st->metas, n * sizeof(*m));
	if (m == NULL)
		return DBS_ENOMEM;
	st->metas = m;
	mp = realloc(st->metap, n * sizeof(*mp));
	if (mp == NULL)
		return DBS_ENOMEM;
	st->metap = mp;
	st->cap_metas = n;
	return DBS_OK;
}

int
sti_check_attachments(Dbs__Attachment *const *atts, size_t n)
{
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (atts[i] == NULL)
			return DBS_EINVAL;
		rc = sti_name(atts[i]->name, STORE_LONGNAME_MAX, false);
		if (rc != DBS_OK)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(atts[i]->name, atts[j]->name) == 0)
				return DBS_EINVAL;
	}
	return DBS_OK;
}

static int
att_put(struct store_txn *t, uint64_t id, const char *name, const void *data,
    size_t len)
{
	struct key k;
	MDB_val kv, v = {len, len > 0 ? (void *)data : (void *)""};

	key_init(&k);
	key_u64(&k, id);
	key_raw(&k, name, strlen(name));
	if (k.over)
		return DBS_ETOOBIG;
	kv = key_val(&k);
	return sti_put(t, DB_ATTACHMENTS, &kv, &v, 0);
}

/*
 * The dedup key of `p` in `dk`. *dup with *id when a live passenger (or a
 * purged one within the horizon) holds it; else *expired when the key of
 * a purged passenger is past its horizon (its q.dedup.exp key in `xk`).
 */
static int
dedup_check(struct store_txn *txn, const struct pfields *f, struct key *dk,
    struct key *xk, bool *expired, uint64_t *id, bool *dup)
{
	MDB_val k, v;
	int rc;

	*expired = false;
	sti_key_dedup(dk, f->client, f->clen, f->def, f->dlen, f->puller,
	    f->plen, f->ext, f->elen);
	if (dk->over)
		return DBS_ETOOBIG;
	k = key_val(dk);
	rc = sti_get(txn, DB_Q_DEDUP, &k, &v);
	if (rc == DBS_ENOTFOUND)
		return DBS_OK;
	if (rc != DBS_OK)
		return rc;
	if (v.mv_size != 8 && v.mv_size != 16)
		return DBS_ECORRUPT;
	/* A purged passenger's key counts until it expires; past that, the
	 * seat takes the key over (and the sweep, finding it live again,
	 * leaves it). */
	if (v.mv_size == 8 ||
	    sti_be_i64((uint8_t *)v.mv_data + 8) > sti_now_ms()) {
		*id = sti_be64(v.mv_data);
		*dup = true;
		return DBS_OK;
	}
	key_init(xk);
	key_raw(xk, (uint8_t *)v.mv_data + 8, 8);
	key_raw(xk, dk->b, dk->n);
	*expired = true;
	return DBS_OK;
}

/* Point the record's attachment metas at `atts` (st->metas). */
static int
fill_metas(struct store *st, Dbs__Passenger *rec, Dbs__Attachment *const *atts,
    size_t n_atts)
{
	int rc;

	if ((rc = metas_reserve(st, n_atts)) != DBS_OK)
		return rc;
	for (size_t i = 0; i < n_atts; i++) {
		dbs__attachment_meta__init(&st->metas[i]);
		st->metas[i].name = atts[i]->name;
		st->metas[i].size = atts[i]->data.len;
		if (atts[i]->content_type != NULL)
			st->metas[i].content_type = atts[i]->content_type;
		st->metap[i] = &st->metas[i];
	}
	rec->n_attachments = n_atts;
	rec->attachments = n_atts ? st->metap : NULL;
	return DBS_OK;
}

/* Write a new passenger `rec` (its id at or past txn->next_pid) with its
 * indexes, dedup key and attachments; moves next_pid past it. */
static int
write_new(struct store_txn *txn, const Dbs__Passenger *rec, struct key *dk,
    bool expired, struct key *xk, Dbs__Attachment *const *atts, size_t n_atts)
{
	struct pfields f;
	uint8_t idb[8];
	MDB_val k, v;
	int rc;

	pf_from_msg(&f, rec);
	/* From here on a failure leaves half a passenger: poison. */
	k = sti_id_val(idb, rec->id);
	rc = sti_put_msg(txn, DB_PASSENGERS, &k, &rec->base, MDB_APPEND, &v);
	if (rc == DBS_OK)
		rc = sti_usage_add(
		    txn, f.client, f.clen, sti_usage_of(v.mv_data, v.mv_size));
	if (rc == DBS_OK)
		rc = sti_ev_item(txn, f.client, f.clen, EVB_ITEM_CREATE,
		    v.mv_data, v.mv_size);
	for (size_t i = 0; rc == DBS_OK && i < 6; i++)
		if (sti_q_indexed(q_indexes[i], f.state))
			rc = idx_put(txn, q_indexes[i], &f, rec->id);
	if (rc == DBS_OK) {
		k = key_val(dk);
		v = sti_id_val(idb, rec->id);
		rc = sti_put(txn, DB_Q_DEDUP, &k, &v, 0);
	}
	if (rc == DBS_OK && expired)
		rc = sti_del_key(txn, DB_Q_DEDUP_EXP, xk);
	for (size_t i = 0; rc == DBS_OK && i < n_atts; i++)
		rc = att_put(txn, rec->id, atts[i]->name, atts[i]->data.data,
		    atts[i]->data.len);
	if (rc == DBS_OK)
		rc = sti_count_add(
		    txn, f.client, f.clen, f.def, f.dlen, f.state, 1);
	if (rc != DBS_OK)
		return poison(txn, rc);
	txn->next_pid = rec->id + 1;
	txn->changes++;
	return DBS_OK;
}

/*
 * What seating and importing a passenger check first: the arguments, a
 * writable transaction, the passenger's identity and attachments, and
 * its dedup key (*dup: already there, *id its id). On DBS_OK without
 * *dup, dk, xk and *expired are what write_new needs.
 */
static int
admit(struct store_txn *txn, const Dbs__Passenger *p,
    Dbs__Attachment *const *atts, size_t n_atts, struct key *dk,
    struct key *xk, bool *expired, uint64_t *id, bool *dup)
{
	struct pfields f;
	int rc;

	if (id != NULL)
		*id = 0;
	if (dup != NULL)
		*dup = false;
	if (p == NULL || id == NULL || dup == NULL || (n_atts && !atts))
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_check_identity(p)) != DBS_OK ||
	    (rc = sti_check_attachments(atts, n_atts)) != DBS_OK)
		return rc;
	pf_from_msg(&f, p);
	return dedup_check(txn, &f, dk, xk, expired, id, dup);
}

int
store_passenger_seat(struct store_txn *txn, const Dbs__Passenger *p,
    Dbs__Attachment *const *atts, size_t n_atts, uint64_t *id, bool *dup)
{
	if (sti_pg(txn))
		return stpg_passenger_seat(txn, p, atts, n_atts, id, dup);
	Dbs__Passenger rec;
	struct key dk, xk;
	int64_t now;
	bool expired = false; /* the key of a purged passenger, expired */
	int rc;

	rc = admit(txn, p, atts, n_atts, &dk, &xk, &expired, id, dup);
	if (rc != DBS_OK || *dup)
		return rc;
	now = sti_now_ms();
	rec = *p;
	rec.id = txn->next_pid;
	rec.state = DBS__PASSENGER_STATE__PS_PENDING;
	rec.created_ms = now;
	rec.updated_ms = now;
	rec.next_attempt_ms = now;
	rec.done_ms = 0;
	rec.attempts = 0;
	if ((rc = fill_metas(txn->st, &rec, atts, n_atts)) != DBS_OK)
		return rc;
	if ((rc = write_new(txn, &rec, &dk, expired, &xk, atts, n_atts)) !=
	    DBS_OK)
		return rc;
	*id = rec.id;
	return DBS_OK;
}

int
store_passenger_import(struct store_txn *txn, const Dbs__Passenger *p,
    Dbs__Attachment *const *atts, size_t n_atts, uint64_t *id, bool *dup)
{
	if (sti_pg(txn))
		return stpg_passenger_import(txn, p, atts, n_atts, id, dup);
	Dbs__Passenger rec;
	struct key dk, xk;
	bool expired = false;
	int rc;

	rc = admit(txn, p, atts, n_atts, &dk, &xk, &expired, id, dup);
	if (rc != DBS_OK || *dup)
		return rc;
	rec = *p;
	/* An id this store never handed out is kept; any other is
	 * remapped to the next free one (ids only grow). */
	if (rec.id < txn->next_pid)
		rec.id = txn->next_pid;
	if (rec.state == DBS__PASSENGER_STATE__PS_PENDING)
		rec.done_ms = 0;
	if ((rc = fill_metas(txn->st, &rec, atts, n_atts)) != DBS_OK)
		return rc;
	if ((rc = write_new(txn, &rec, &dk, expired, &xk, atts, n_atts)) !=
	    DBS_OK)
		return rc;
	*id = rec.id;
	return DBS_OK;
}

/* LMDB: one seat after the other (a seat costs no round trip here). */
int
store_passenger_seat_many(struct store_txn *txn,
    const Dbs__Passenger *const *ps, Dbs__Attachment *const *const *atts,
    const size_t *n_atts, size_t n, uint64_t *ids, bool *dups, int *rcs)
{
	int rc;

	if (sti_pg(txn))
		return stpg_passenger_seat_many(
		    txn, ps, atts, n_atts, n, ids, dups, rcs);
	if (n > 0 &&
	    (ps == NULL || ids == NULL || dups == NULL || rcs == NULL))
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		rcs[i] = store_passenger_seat(txn, ps[i],
		    atts != NULL ? atts[i] : NULL,
		    n_atts != NULL ? n_atts[i] : 0, &ids[i], &dups[i]);
		if (rcs[i] != DBS_OK && rcs[i] != DBS_EINVAL &&
		    rcs[i] != DBS_ETOOBIG)
			return rcs[i];
	}
	return DBS_OK;
}

int
store_passenger_lookup(struct store_txn *txn, const Dbs__Passenger *p,
    uint64_t *id, uint64_t *next_id)
{
	if (sti_pg(txn))
		return stpg_passenger_lookup(txn, p, id, next_id);
	struct pfields f;
	struct key dk, xk;
	bool expired = false, dup = false;
	int rc;

	*id = 0;
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_check_identity(p)) != DBS_OK)
		return rc;
	if (next_id != NULL &&
	    (rc = sti_next_passenger_id(txn, next_id)) != DBS_OK)
		return rc;
	pf_from_msg(&f, p);
	rc = dedup_check(txn, &f, &dk, &xk, &expired, id, &dup);
	if (rc != DBS_OK)
		return rc;
	return dup ? DBS_OK : DBS_ENOTFOUND;
}

int
store_passenger_get(struct store_txn *txn, uint64_t id, Dbs__Passenger **out)
{
	if (sti_pg(txn))
		return stpg_passenger_get(txn, id, out);
	return sti_get_by_id(
	    txn, DB_PASSENGERS, id, &dbs__passenger__descriptor, out);
}

int
store_passenger_put(struct store_txn *txn, const Dbs__Passenger *p)
{
	if (sti_pg(txn))
		return stpg_passenger_put(txn, p);
	struct pfields nf;
	struct pbv pv;
	uint8_t idb[8];
	unsigned os;
	int64_t onext, odone, ocharge;
	MDB_val k, v;
	int rc;

	if (p == NULL || p->id == 0)
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_check_identity(p)) != DBS_OK)
		return rc;
	k = sti_id_val(idb, p->id);
	if ((rc = sti_get(txn, DB_PASSENGERS, &k, &v)) != DBS_OK)
		return rc;
	if (sti_pbv(&pv, v.mv_data, v.mv_size) != DBS_OK)
		return DBS_ECORRUPT;
	/* The identity is what the indexes and dedup entry are made of. */
	if (!pbv_eq(&pv, PF_CLIENT, p->client) ||
	    !pbv_eq(&pv, PF_DEF, p->definition) ||
	    !pbv_eq(&pv, PF_PULLER, p->puller) ||
	    !pbv_eq(&pv, PF_EXT, p->external_id))
		return DBS_EINVAL;
	/* Copy the old values: the old record's bytes die with the put. */
	os = (unsigned)pv.v[PF_STATE];
	onext = (int64_t)pv.v[PF_NEXT];
	odone = (int64_t)pv.v[PF_DONE];
	pf_from_msg(&nf, p);
	ocharge = sti_usage_of(v.mv_data, v.mv_size);

	rc = sti_put_msg(txn, DB_PASSENGERS, &k, &p->base, 0, &v);
	if (rc == DBS_OK)
		rc = sti_usage_add(txn, nf.client, nf.clen,
		    sti_usage_of(v.mv_data, v.mv_size) - ocharge);
	if (rc == DBS_OK)
		rc = sti_ev_item(txn, nf.client, nf.clen, EVB_ITEM_UPDATE,
		    v.mv_data, v.mv_size);
	if (rc == DBS_OK && os != nf.state) {
		struct pfields of = nf;

		of.state = os;
		of.next = onext;
		of.done = odone;
		if ((rc = idx_del(txn, DB_Q_CLIENT_STATE, &of, p->id)) ||
		    (rc = idx_del(txn, DB_Q_DEF_STATE, &of, p->id)) ||
		    (rc = idx_put(txn, DB_Q_CLIENT_STATE, &nf, p->id)) ||
		    (rc = idx_put(txn, DB_Q_DEF_STATE, &nf, p->id)) ||
		    (rc = sti_count_add(
			 txn, nf.client, nf.clen, nf.def, nf.dlen, os, -1)) ||
		    (rc = sti_count_add(txn, nf.client, nf.clen, nf.def,
			 nf.dlen, nf.state, 1)))
			return poison(txn, rc);
	}
	/* q.due and q.done hold the time in the key: move on any change. */
	for (int i = 0; rc == DBS_OK && i < 2; i++) {
		int db = i == 0 ? DB_Q_DUE : DB_Q_DONE;
		int64_t ot = i == 0 ? onext : odone;
		int64_t nt = i == 0 ? nf.next : nf.done;
		bool was = sti_q_indexed(db, os),
		     is = sti_q_indexed(db, nf.state);
		struct pfields of = nf;

		if (was == is && (!was || ot == nt))
			continue;
		of.state = os;
		of.next = onext;
		of.done = odone;
		if (was)
			rc = idx_del(txn, db, &of, p->id);
		if (rc == DBS_OK && is)
			rc = idx_put(txn, db, &nf, p->id);
	}
	if (rc != DBS_OK)
		return poison(txn, rc);
	txn->changes++;
	return DBS_OK;
}

/* Delete every attachment body of passenger `id`. */
static int
att_delete_all(struct store_txn *t, uint64_t id)
{
	uint8_t prefix[8];
	MDB_cursor *c;
	MDB_val k, v;
	int mrc;

	sti_put_be64(prefix, id);
	if ((mrc = mdb_cursor_open(t->mt, t->st->dbi[DB_ATTACHMENTS], &c)))
		return sti_fail(t, mrc, "mdb_cursor_open", DB_ATTACHMENTS);
	for (;;) {
		k.mv_size = sizeof(prefix);
		k.mv_data = prefix;
		sti_count(t->st, STORE_OP_CURSOR);
		mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (mrc != 0 || k.mv_size < 8 || memcmp(k.mv_data, prefix, 8))
			break;
		sti_count(t->st, STORE_OP_DEL);
		if ((mrc = mdb_cursor_del(c, 0)) != 0)
			break;
		t->dirty = true;
	}
	mdb_cursor_close(c);
	if (mrc != 0 && mrc != MDB_NOTFOUND)
		return sti_fail(t, mrc, "mdb_cursor_del", DB_ATTACHMENTS);
	return DBS_OK;
}

/*
 * The dedup entry `dk` of passenger `id`, at its deletion: gone, or (when
 * `keep` and the store has a horizon) turned into the 16-byte entry of a
 * purged passenger with its q.dedup.exp entry. Only if the entry is the
 * passenger's own (it always should be).
 */
static int
dedup_release(struct store_txn *t, struct key *dk, uint64_t id, bool keep)
{
	uint8_t val[16];
	int64_t expires;
	struct key xk;
	MDB_val k = key_val(dk), v;
	int rc;

	rc = sti_get(t, DB_Q_DEDUP, &k, &v);
	if (rc == DBS_ENOTFOUND ||
	    (rc == DBS_OK && (v.mv_size != 8 || sti_be64(v.mv_data) != id)))
		return DBS_OK;
	if (rc != DBS_OK)
		return rc;
	if (!keep || t->st->dedup_horizon_ms < 0)
		return sti_del_any(t, DB_Q_DEDUP, &k);
	expires = sti_now_ms() + t->st->dedup_horizon_ms;
	sti_put_be64(val, id);
	sti_put_be64(val + 8, (uint64_t)expires ^ (UINT64_C(1) << 63));
	v.mv_size = sizeof(val);
	v.mv_data = val;
	if ((rc = sti_put(t, DB_Q_DEDUP, &k, &v, 0)) != DBS_OK)
		return rc;
	key_init(&xk);
	key_i64(&xk, expires);
	key_raw(&xk, dk->b, dk->n);
	return sti_put_key(t, DB_Q_DEDUP_EXP, &xk);
}

static int
passenger_remove(struct store_txn *t, uint64_t id, bool keep_dedup)
{
	char client[STORE_NAME_MAX + 1], def[STORE_NAME_MAX + 1];
	struct pfields f;
	struct pbv pv;
	struct key dk;
	uint8_t idb[8];
	MDB_val k, v;
	int64_t charge;
	int rc;

	k = sti_id_val(idb, id);
	if ((rc = sti_get(t, DB_PASSENGERS, &k, &v)) != DBS_OK)
		return rc;
	if (sti_pbv(&pv, v.mv_data, v.mv_size) != DBS_OK)
		return DBS_ECORRUPT;
	sti_pf_from_pbv(&f, &pv);
	if (f.clen > STORE_NAME_MAX || f.dlen > STORE_NAME_MAX)
		return DBS_ECORRUPT;
	charge = sti_usage_of(v.mv_data, v.mv_size);
	/* Keep what the keys need before the record's bytes go away. */
	memcpy(client, f.client, f.clen);
	client[f.clen] = '\0';
	memcpy(def, f.def, f.dlen);
	def[f.dlen] = '\0';
	sti_key_dedup(&dk, f.client, f.clen, f.def, f.dlen, f.puller, f.plen,
	    f.ext, f.elen);
	f.client = client;
	f.def = def;
	f.puller = f.ext = NULL;

	rc = sti_del(t, DB_PASSENGERS, &k);
	for (size_t i = 0; rc == DBS_OK && i < 6; i++)
		if (sti_q_indexed(q_indexes[i], f.state))
			rc = idx_del(t, q_indexes[i], &f, id);
	if (rc == DBS_OK && !dk.over)
		rc = dedup_release(t, &dk, id, keep_dedup);
	if (rc == DBS_OK)
		rc = att_delete_all(t, id);
	if (rc == DBS_OK)
		rc = sti_ev_item_delete(t, client, f.clen, id);
	if (rc == DBS_OK)
		rc =
		    sti_count_add(t, client, f.clen, def, f.dlen, f.state, -1);
	if (rc == DBS_OK)
		rc = sti_usage_add(t, client, f.clen, -charge);
	return poison(t, rc);
}

int
sti_passenger_delete(struct store_txn *t, uint64_t id)
{
	return passenger_remove(t, id, false);
}

int
sti_passenger_retire(struct store_txn *t, uint64_t id)
{
	return passenger_remove(t, id, true);
}

int
store_passenger_delete(struct store_txn *txn, uint64_t id)
{
	if (sti_pg(txn))
		return stpg_passenger_delete(txn, id);
	int rc;

	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_passenger_delete(txn, id)) != DBS_OK)
		return rc;
	txn->changes++;
	return DBS_OK;
}

/* ----------------------------------------------------------- attachments */

static int
att_key(struct key *k, uint64_t id, const char *name)
{
	int rc = sti_name(name, STORE_LONGNAME_MAX, false);

	if (rc != DBS_OK)
		return rc;
	key_init(k);
	key_u64(k, id);
	key_raw(k, name, strlen(name));
	return k->over ? DBS_ETOOBIG : DBS_OK;
}

int
store_attachment_get(struct store_txn *txn, uint64_t id, const char *name,
    const void **data, size_t *len)
{
	if (sti_pg(txn))
		return stpg_attachment_get(txn, id, name, data, len);
	struct key k;
	MDB_val kv, v;
	int rc;

	if (data != NULL)
		*data = NULL;
	if (len != NULL)
		*len = 0;
	if (data == NULL || len == NULL)
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = att_key(&k, id, name)) != DBS_OK)
		return rc;
	kv = key_val(&k);
	if ((rc = sti_get(txn, DB_ATTACHMENTS, &kv, &v)) != DBS_OK)
		return rc;
	*data = v.mv_data;
	*len = v.mv_size;
	return DBS_OK;
}

int
store_attachment_put(struct store_txn *txn, uint64_t id, const char *name,
    const void *data, size_t len)
{
	if (sti_pg(txn))
		return stpg_attachment_put(txn, id, name, data, len);
	uint8_t idb[8];
	struct key k;
	MDB_val kv, v;
	int rc;

	if (len > 0 && data == NULL)
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = att_key(&k, id, name)) != DBS_OK)
		return rc;
	/* Bodies belong to a passenger: no orphans. */
	kv = sti_id_val(idb, id);
	if ((rc = sti_get(txn, DB_PASSENGERS, &kv, &v)) != DBS_OK)
		return rc;
	if ((rc = att_put(txn, id, name, data, len)) != DBS_OK)
		return rc;
	txn->changes++;
	return DBS_OK;
}

int
store_attachment_delete(struct store_txn *txn, uint64_t id, const char *name)
{
	if (sti_pg(txn))
		return stpg_attachment_delete(txn, id, name);
	struct key k;
	MDB_val kv;
	int rc;

	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = att_key(&k, id, name)) != DBS_OK)
		return rc;
	kv = key_val(&k);
	if ((rc = sti_del(txn, DB_ATTACHMENTS, &kv)) != DBS_OK)
		return rc;
	txn->changes++;
	return DBS_OK;
}

/* --------------------------------------------------------------- listing */

/* Decode a record and hand it to cb; returns cb's value or an error. */
static int
deliver(struct store_txn *t, const MDB_val *v, ProtobufCAllocator *alloc,
    int (*cb)(void *ctx, const Dbs__Passenger *p), void *ctx, bool *called)
{
	Dbs__Passenger *p;
	int rc;

	*called = false;
	if (alloc == NULL) {
		rc = sti_unpack(
		    t, &dbs__passenger__descriptor, v, DB_PASSENGERS, &p);
		if (rc != DBS_OK)
			return rc;
	} else if ((p = dbs__passenger__unpack(
			alloc, v->mv_size, v->mv_data)) == NULL) {
		/* As sti_unpack: protobuf-c does not tell a corrupt record
		 * from an allocator that failed (out of memory). */
		sti_set_error(t->st, "a record of %s does not decode",
		    sti_db_names[DB_PASSENGERS]);
		return DBS_ECORRUPT;
	}
	*called = true;
	rc = cb(ctx, p);
	/* The owner of a caller's allocator reclaims its records. */
	if (alloc == NULL)
		dbs__passenger__free_unpacked(p, NULL);
	return rc;
}

bool
sti_is_number(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0' || strlen(s) > 20)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return v != 0;
}

/* Does the record match the filters that its index does not already? */
static bool
matches(const struct store_query *q, const struct pbv *pv, bool by_index)
{
	if (!by_index) {
		if (q->client != NULL && !pbv_eq(pv, PF_CLIENT, q->client))
			return false;
		if (q->definition != NULL &&
		    !pbv_eq(pv, PF_DEF, q->definition))
			return false;
	}
	if (q->state >= 0 && pv->v[PF_STATE] != (uint64_t)q->state)
		return false;
	return true;
}

static int
list_one(struct store_txn *t, const struct store_query *q, uint64_t id,
    int (*cb)(void *ctx, const Dbs__Passenger *p), void *ctx)
{
	uint8_t idb[8];
	struct pbv pv;
	MDB_val k, v;
	bool called;
	int rc;

	if (q->cursor != 0)
		return DBS_OK; /* the one match was on the first page */
	k = sti_id_val(idb, id);
	rc = sti_get(t, DB_PASSENGERS, &k, &v);
	if (rc != DBS_OK)
		return rc == DBS_ENOTFOUND ? DBS_OK : rc;
	if (sti_pbv(&pv, v.mv_data, v.mv_size) != DBS_OK)
		return DBS_ECORRUPT;
	if (!matches(q, &pv, false))
		return DBS_OK;
	return deliver(t, &v, q->alloc, cb, ctx, &called);
}

int
store_queue_list(struct store_txn *txn, const struct store_query *q,
    int (*cb)(void *ctx, const Dbs__Passenger *p), void *ctx,
    uint64_t *next_cursor)
{
	if (sti_pg(txn))
		return stpg_queue_list(txn, q, cb, ctx, next_cursor);
	struct key prefix, from;
	struct iter it;
	struct pbv pv;
	const char *text = NULL;
	size_t n = 0, scanned = 0, tlen = 0;
	uint64_t id, last = 0, num;
	bool called, by_client, stopped = false;
	int db, rc;

	if (next_cursor != NULL)
		*next_cursor = 0;
	if (q == NULL || cb == NULL)
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((q->definition != NULL && q->client == NULL) || q->state < -1 ||
	    q->state > DBS__PASSENGER_STATE__PS_DEAD)
		return DBS_EINVAL;
	if ((q->client != NULL &&
		(rc = sti_name(q->client, STORE_NAME_MAX, false))) ||
	    (q->definition != NULL &&
		(rc = sti_name(q->definition, STORE_NAME_MAX, false))))
		return rc;
	if (q->q != NULL && q->q[0] != '\0') {
		if (sti_is_number(q->q, &num))
			return list_one(txn, q, num, cb, ctx);
		text = q->q;
		tlen = strlen(text);
	}

	/* The index that answers (client, definition, state) by id. */
	by_client = q->client != NULL;
	key_init(&prefix);
	if (!by_client) {
		db = DB_PASSENGERS;
	} else {
		key_str(&prefix, q->client);
		if (q->definition != NULL)
			key_str(&prefix, q->definition);
		if (q->state >= 0)
			key_u8(&prefix, (uint8_t)q->state);
		if (q->definition != NULL)
			db = q->state >= 0 ? DB_Q_DEF_STATE : DB_Q_DEF;
		else
			db = q->state >= 0 ? DB_Q_CLIENT_STATE : DB_Q_CLIENT;
	}
	from = prefix;
	if (!q->newest_first) {
		if (q->cursor == UINT64_MAX)
			return DBS_OK;
		key_u64(&from, q->cursor + 1);
	} else if (q->cursor != 0) {
		key_u64(&from, q->cursor);
	}
	if (prefix.over || from.over)
		return DBS_ETOOBIG;
	rc = sti_iter_open(&it, txn, db, prefix.b, prefix.n,
	    from.n > prefix.n ? from.b : NULL, from.n, q->newest_first);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		MDB_val v = it.v;

		if (it.k.mv_size != prefix.n + 8)
			continue; /* not ours: store_verify reports it */
		id = sti_be64((uint8_t *)it.k.mv_data + prefix.n);
		if (text != NULL && ++scanned > STORE_SCAN_MAX) {
			/* Page on from here: the search is not over. */
			if (next_cursor != NULL)
				*next_cursor = last;
			break;
		}
		if (by_client) {
			uint8_t idb[8];
			MDB_val k = sti_id_val(idb, id);

			rc = sti_get(txn, DB_PASSENGERS, &k, &v);
			if (rc == DBS_ENOTFOUND)
				continue;
			if (rc != DBS_OK)
				break;
		}
		if (!by_client || text != NULL) {
			if (sti_pbv(&pv, v.mv_data, v.mv_size) != DBS_OK) {
				rc = DBS_ECORRUPT;
				break;
			}
			if (!by_client && !matches(q, &pv, false))
				goto skipped;
			if (text != NULL &&
			    memmem(pv.s[PF_EXT], pv.len[PF_EXT], text, tlen) ==
				NULL)
				goto skipped;
		}
		if (q->limit != 0 && n == q->limit) {
			/* One more match exists: the listing goes on. */
			if (next_cursor != NULL)
				*next_cursor = last;
			break;
		}
		rc = deliver(txn, &v, q->alloc, cb, ctx, &called);
		if (rc != DBS_OK) {
			stopped = called;
			if (called && next_cursor != NULL)
				*next_cursor = id;
			break;
		}
		n++;
	skipped:
		last = id;
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND && !stopped ? DBS_OK : rc;
}

/* The prefix client\0 def\0 of q.due / q.done / q.counts. */
static int
def_prefix(struct key *k, const char *client, const char *def)
{
	int rc;

	if ((rc = sti_name(client, STORE_NAME_MAX, false)) != DBS_OK ||
	    (rc = sti_name(def, STORE_NAME_MAX, false)) != DBS_OK)
		return rc;
	key_init(k);
	key_str(k, client);
	key_str(k, def);
	return k->over ? DBS_ETOOBIG : DBS_OK;
}

int
store_queue_due(struct store_txn *txn, const char *client,
    const char *definition, int64_t due_ms, size_t limit,
    int (*cb)(void *ctx, const Dbs__Passenger *p), void *ctx)
{
	if (sti_pg(txn))
		return stpg_queue_due(
		    txn, client, definition, due_ms, limit, cb, ctx);
	struct key prefix;
	struct iter it;
	size_t n = 0;
	bool called;
	bool stopped = false;
	int rc;

	if (cb == NULL)
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = def_prefix(&prefix, client, definition)) != DBS_OK)
		return rc;
	rc = sti_iter_open(
	    &it, txn, DB_Q_DUE, prefix.b, prefix.n, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while (
	    (limit == 0 || n < limit) && (rc = sti_iter_next(&it)) == DBS_OK) {
		const uint8_t *kb = it.k.mv_data;
		uint8_t idb[8];
		MDB_val k, v;

		if (it.k.mv_size != prefix.n + 16)
			continue;
		if (sti_be_i64(kb + prefix.n) > due_ms)
			break;
		k = sti_id_val(idb, sti_be64(kb + prefix.n + 8));
		rc = sti_get(txn, DB_PASSENGERS, &k, &v);
		if (rc == DBS_ENOTFOUND)
			continue;
		if (rc != DBS_OK)
			break;
		if ((rc = deliver(txn, &v, NULL, cb, ctx, &called)) !=
		    DBS_OK) {
			stopped = called;
			break;
		}
		n++;
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND && !stopped ? DBS_OK : rc;
}

int
store_queue_due_ids(struct store_txn *txn, const char *client,
    const char *definition, int64_t due_ms, int64_t after_due,
    uint64_t after_id, size_t max, uint64_t *ids, int64_t *dues, size_t *n)
{
	if (sti_pg(txn))
		return stpg_queue_due_ids(txn, client, definition, due_ms,
		    after_due, after_id, max, ids, dues, n);
	struct key prefix, from;
	struct iter it;
	int rc;

	*n = 0;
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = def_prefix(&prefix, client, definition)) != DBS_OK)
		return rc;
	from = prefix;
	key_i64(&from, after_due);
	key_u64(&from, after_id);
	if (from.over)
		return DBS_EINVAL;
	rc = sti_iter_open(
	    &it, txn, DB_Q_DUE, prefix.b, prefix.n, from.b, from.n, false);
	if (rc != DBS_OK)
		return rc;
	while (*n < max && (rc = sti_iter_next(&it)) == DBS_OK) {
		const uint8_t *kb = it.k.mv_data;
		int64_t due;
		uint64_t id;

		if (it.k.mv_size != prefix.n + 16)
			continue;
		due = sti_be_i64(kb + prefix.n);
		id = sti_be64(kb + prefix.n + 8);
		if (due > due_ms)
			break;
		if (due < after_due || (due == after_due && id <= after_id))
			continue; /* the cursor's own key */
		ids[*n] = id;
		dues[*n] = due;
		(*n)++;
	}
	sti_iter_close(&it);
	return rc == DBS_OK || rc == DBS_ENOTFOUND ? DBS_OK : rc;
}

int
store_queue_next_due(struct store_txn *txn, const char *client,
    const char *definition, int64_t *due_ms)
{
	if (sti_pg(txn))
		return stpg_queue_next_due(txn, client, definition, due_ms);
	struct key prefix;
	struct iter it;
	int rc;

	if (due_ms != NULL)
		*due_ms = 0;
	if (due_ms == NULL)
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = def_prefix(&prefix, client, definition)) != DBS_OK)
		return rc;
	rc = sti_iter_open(
	    &it, txn, DB_Q_DUE, prefix.b, prefix.n, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		if (it.k.mv_size == prefix.n + 16) {
			*due_ms =
			    sti_be_i64((uint8_t *)it.k.mv_data + prefix.n);
			break;
		}
	}
	sti_iter_close(&it);
	return rc;
}

int
store_queue_counts(struct store_txn *txn, const char *client,
    const char *definition, uint64_t *pending, uint64_t *done, uint64_t *dead)
{
	if (sti_pg(txn))
		return stpg_queue_counts(
		    txn, client, definition, pending, done, dead);
	uint64_t *out[3] = {pending, done, dead};
	int64_t sum[3] = {0, 0, 0};
	struct key prefix;
	struct iter it;
	int rc;

	for (int s = 0; s < 3; s++)
		if (out[s] != NULL)
			*out[s] = 0;
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_scope_prefix(&prefix, client, definition, false)) !=
	    DBS_OK)
		return rc;
	rc = sti_iter_open(
	    &it, txn, DB_Q_COUNTS, prefix.b, prefix.n, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		if (it.v.mv_size != 24)
			continue;
		for (int s = 0; s < 3; s++)
			sum[s] +=
			    (int64_t)sti_be64((uint8_t *)it.v.mv_data + 8 * s);
	}
	sti_iter_close(&it);
	if (rc != DBS_ENOTFOUND)
		return rc;
	sti_count_pending(txn, prefix.b, prefix.n, sum);
	for (int s = 0; s < 3; s++)
		if (out[s] != NULL)
			*out[s] = sum[s] > 0 ? (uint64_t)sum[s] : 0;
	return DBS_OK;
}

/* q.done is ordered by (client, definition, done_ms): in each definition
 * the old passengers come first (see sti_purge_by_time). */
int
store_queue_purge(struct store_txn *txn, const char *client,
    const char *definition, int64_t before_ms, size_t max, uint64_t *count)
{
	if (sti_pg(txn))
		return stpg_queue_purge(
		    txn, client, definition, before_ms, max, count);
	struct key prefix;
	uint64_t total;
	int rc;

	if (count != NULL)
		*count = 0;
	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_scope_prefix(&prefix, client, definition, false)) !=
	    DBS_OK)
		return rc;
	rc = sti_purge_by_time(txn, DB_Q_DONE, &prefix, 2, before_ms, false,
	    max, sti_passenger_retire, &total);
	if (rc != DBS_OK)
		return rc;
	txn->changes += total;
	if (count != NULL)
		*count = total;
	return DBS_OK;
}

/*
 * The q.dedup.exp entries come in expiry order: take the first one while
 * it is due, drop its q.dedup entry if that still is the purged
 * passenger's of this expiry (a seat may have taken the key over), and
 * the index entry. One cursor per entry keeps the iterator away from the
 * writes; the sweep is bounded by `max`.
 */
int
store_dedup_sweep(
    struct store_txn *txn, int64_t now_ms, size_t max, uint64_t *count)
{
	if (sti_pg(txn))
		return stpg_dedup_sweep(txn, now_ms, max, count);
	uint64_t n = 0;
	struct iter it;
	struct key xk;
	MDB_val k, v;
	int rc;

	if (count != NULL)
		*count = 0;
	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	while (max == 0 || n < max) {
		rc = sti_iter_open(
		    &it, txn, DB_Q_DEDUP_EXP, NULL, 0, NULL, 0, false);
		if (rc != DBS_OK)
			break;
		rc = sti_iter_next(&it);
		if (rc == DBS_OK &&
		    (it.k.mv_size <= 8 || sti_be_i64(it.k.mv_data) > now_ms))
			rc = DBS_ENOTFOUND; /* nothing due (or a bad key) */
		if (rc == DBS_OK) {
			key_init(&xk);
			key_raw(&xk, it.k.mv_data, it.k.mv_size);
		}
		sti_iter_close(&it);
		if (rc != DBS_OK)
			break;
		k.mv_size = xk.n - 8;
		k.mv_data = xk.b + 8;
		rc = sti_get(txn, DB_Q_DEDUP, &k, &v);
		if (rc == DBS_OK && v.mv_size == 16 &&
		    memcmp((uint8_t *)v.mv_data + 8, xk.b, 8) == 0)
			rc = sti_del_any(txn, DB_Q_DEDUP, &k);
		else if (rc == DBS_OK || rc == DBS_ENOTFOUND)
			rc = DBS_OK;
		if (rc == DBS_OK)
			rc = sti_del_key(txn, DB_Q_DEDUP_EXP, &xk);
		if (rc != DBS_OK)
			break;
		n++;
	}
	if (rc == DBS_ENOTFOUND)
		rc = DBS_OK;
	if (rc != DBS_OK)
		return poison(txn, rc);
	txn->changes += n;
	if (count != NULL)
		*count = n;
	return DBS_OK;
}
