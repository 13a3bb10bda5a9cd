/*
 * pg_queue.c — passengers, attachments, the queue listings, counts and
 * client bytes, purge and the dedup sweep on PostgreSQL (see pg.c).
 *
 * A passenger is a row of `passengers`: its record (the packed Passenger,
 * the same bytes LMDB keeps) and, beside it, the fields its indexes are
 * made of. The dedup row is keyed by the LMDB dedup key (sti_key_dedup),
 * and holds expires_ms once its passenger is purged (the dedup horizon).
 * Each change is one statement, a round trip: a seat checks its dedup key
 * and writes the passenger and its dedup row in one (data-modifying CTEs),
 * a delete or a whole purge batch removes passengers, attachments and
 * dedup rows in one. The write transaction keeps the records it has
 * seen or written (a small hash by id): a get of one of them costs no
 * round trip, and a put of one is a pure write that waits in the
 * pipeline (pg.c) for the next read or the commit — the drive's get and
 * put of a passenger it seated cost nothing more. Counts, client bytes
 * and queue item events are
 * queued in memory with the LMDB engine's own code (queue.c, usage.c,
 * events.c) and written at commit, so they come out the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_impl.h"

/* ------------------------------------------------------ record cache */

/* Records kept at most per transaction (past it, gets and puts ask). */
#define CACHE_MAX 65536

struct pg_slot {
	uint64_t id; /* 0: empty */
	bool live;   /* false: the passenger is gone (a tombstone) */
	struct sbuf b;
};

struct pg_cache {
	struct pg_slot *v;
	size_t cap, n; /* cap: a power of two */
};

static size_t
slot_of(const struct pg_cache *c, uint64_t id)
{
	size_t i = (size_t)(id * UINT64_C(0x9e3779b97f4a7c15)) & (c->cap - 1);

	while (c->v[i].id != 0 && c->v[i].id != id)
		i = (i + 1) & (c->cap - 1);
	return i;
}

static int
cache_grow(struct pg_cache *c)
{
	struct pg_cache n = {NULL, c->cap ? 2 * c->cap : 1024, 0};

	if ((n.v = calloc(n.cap, sizeof(*n.v))) == NULL)
		return DBS_ENOMEM;
	for (size_t i = 0; i < c->cap; i++) {
		if (c->v[i].id != 0)
			n.v[slot_of(&n, c->v[i].id)] = c->v[i];
		else
			free(c->v[i].b.p);
	}
	n.n = c->n;
	free(c->v);
	*c = n;
	return DBS_OK;
}

/* Keep `rec` as the record of passenger `id` (NULL: it is gone). A
 * record that does not fit is simply not kept (the next get asks). */
static void
cache_put(struct store_txn *t, uint64_t id, const void *rec, size_t len)
{
	struct stpg *pg = t->st->pg;
	struct pg_cache *c = pg->cache;
	struct pg_slot *sl;

	if (!t->write)
		return;
	if (c == NULL && (c = pg->cache = calloc(1, sizeof(*c))) == NULL)
		return;
	if ((c->n + 1) * 2 > c->cap &&
	    (c->n >= CACHE_MAX || cache_grow(c) != DBS_OK)) {
		/* Full: forget this id rather than keep a stale record. */
		if (c->cap > 0 && c->v[slot_of(c, id)].id == id)
			c->v[slot_of(c, id)].live = false;
		return;
	}
	sl = &c->v[slot_of(c, id)];
	if (sl->id == 0) {
		sl->id = id;
		c->n++;
	}
	sl->live = false;
	if (rec == NULL)
		return;
	sl->b.len = 0;
	if (sti_sbuf_add(&sl->b, rec, len) == DBS_OK)
		sl->live = true;
}

/* The kept record of `id`, or NULL. */
static const struct sbuf *
cache_get(struct store_txn *t, uint64_t id)
{
	struct pg_cache *c = t->st->pg->cache;
	struct pg_slot *sl;

	if (!t->write || c == NULL || c->cap == 0)
		return NULL;
	sl = &c->v[slot_of(c, id)];
	return sl->id == id && sl->live ? &sl->b : NULL;
}

void
pg_cache_reset(struct stpg *pg)
{
	struct pg_cache *c = pg->cache;

	if (c == NULL)
		return;
	if (c->cap > 4096) {
		/* Let go of what a huge transaction left behind. */
		pg_cache_free(pg);
		return;
	}
	for (size_t i = 0; i < c->cap; i++)
		c->v[i].id = 0;
	c->n = 0;
}

void
pg_cache_free(struct stpg *pg)
{
	struct pg_cache *c = pg->cache;

	if (c == NULL)
		return;
	for (size_t i = 0; i < c->cap; i++)
		free(c->v[i].b.p);
	free(c->v);
	free(c);
	pg->cache = NULL;
}

/* ------------------------------------------------------------ records */

/* The columns of passengers that follow its id, from a record. */
static void
pf_of(struct pfields *f, const Dbs__Passenger *p)
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

static int
dedup_key(struct key *dk, const struct pfields *f)
{
	sti_key_dedup(dk, f->client, f->clen, f->def, f->dlen, f->puller,
	    f->plen, f->ext, f->elen);
	return dk->over ? DBS_ETOOBIG : DBS_OK;
}

/* ------------------------------------------------------------- seating */

static int
admit(struct store_txn *txn, const Dbs__Passenger *p,
    Dbs__Attachment *const *atts, size_t n_atts, uint64_t *id, bool *dup)
{
	int rc;

	if (id != NULL)
		*id = 0;
	if (dup != NULL)
		*dup = false;
	if (p == NULL || id == NULL || dup == NULL || (n_atts && !atts))
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_check_identity(p)) != DBS_OK ||
	    (rc = sti_check_attachments(atts, n_atts)) != DBS_OK)
		return rc;
	return DBS_OK;
}

/* The record's attachment metas from `atts` (st->metas, as queue.c). */
static int
fill_metas(struct store *st, Dbs__Passenger *rec, Dbs__Attachment *const *atts,
    size_t n)
{
	if (n > st->cap_metas) {
		Dbs__AttachmentMeta *m = realloc(st->metas, n * sizeof(*m));
		Dbs__AttachmentMeta **mp;

		if (m == NULL)
			return DBS_ENOMEM;
		st->metas = m;
		if ((mp = realloc(st->metap, n * sizeof(*mp))) == NULL)
			return DBS_ENOMEM;
		st->metap = mp;
		st->cap_metas = n;
	}
	for (size_t i = 0; i < n; i++) {
		dbs__attachment_meta__init(&st->metas[i]);
		st->metas[i].name = atts[i]->name;
		st->metas[i].size = atts[i]->data.len;
		if (atts[i]->content_type != NULL)
			st->metas[i].content_type = atts[i]->content_type;
		st->metap[i] = &st->metas[i];
	}
	rec->n_attachments = n;
	rec->attachments = n ? st->metap : NULL;
	return DBS_OK;
}

static int
att_put(struct store_txn *t, uint64_t id, const char *name, const void *data,
    size_t len)
{
	struct pgp q = {0};

	pgp_u64(&q, id);
	pgp_text(&q, name);
	pgp_bytes(&q, data, len);
	return pg_run(t,
	    "INSERT INTO attachments VALUES ($1::int8, $2::text, $3::bytea)"
	    " ON CONFLICT (passenger, name) DO UPDATE SET body = "
	    "EXCLUDED.body",
	    &q, NULL);
}

/* A seat in one statement: check the dedup key ($1, live or within its
 * horizon at $2) and, unless it is held (then its holder's id comes
 * back), write the passenger and its dedup row, taking over the key of a
 * purged passenger past its horizon. */
static const char seat_sql[] =
    "WITH old AS (SELECT passenger FROM dedup WHERE key = $1::bytea"
    " AND (expires_ms IS NULL OR expires_ms > $2::int8)),"
    " ins AS (INSERT INTO passengers SELECT $3::int8, $4::text,"
    " $5::text, $6::text, $7::text, $8::int8, $9::int8, $10::int8,"
    " $1::bytea, $11::bytea WHERE NOT EXISTS (SELECT 1 FROM old)),"
    " dd AS (INSERT INTO dedup SELECT $1::bytea, $3::int8, NULL::int8"
    " WHERE NOT EXISTS (SELECT 1 FROM old) ON CONFLICT (key) DO UPDATE"
    " SET passenger = EXCLUDED.passenger, expires_ms = NULL)"
    " SELECT passenger FROM old";

/* The parameters of seat_sql for `rec` packed in `b`. */
static int
seat_params(
    struct pgp *q, struct key *dk, const Dbs__Passenger *rec, struct sbuf *b)
{
	struct pfields f;
	int rc;

	pf_of(&f, rec);
	if ((rc = dedup_key(dk, &f)) != DBS_OK)
		return rc;
	if ((rc = pg_pack(b, &rec->base)) != DBS_OK)
		return rc;
	pgp_bytes(q, dk->b, dk->n);
	pgp_i64(q, sti_now_ms());
	pgp_u64(q, rec->id);
	pgp_text(q, rec->client);
	pgp_text(q, rec->definition);
	pgp_text(q, rec->puller);
	pgp_text(q, rec->external_id);
	pgp_i64(q, rec->state);
	pgp_i64(q, rec->next_attempt_ms);
	pgp_i64(q, rec->done_ms);
	pgp_bytes(q, b->p, b->len);
	return DBS_OK;
}

/* `rec` (packed in `b`) was written: queue its bytes, event and count,
 * keep its record, move the next id past it. */
static int
seated(struct store_txn *txn, const Dbs__Passenger *rec, const struct sbuf *b)
{
	struct pfields f;
	int rc;

	pf_of(&f, rec);
	rc = sti_usage_add(txn, f.client, f.clen, sti_usage_of(b->p, b->len));
	if (rc == DBS_OK)
		rc = sti_ev_item(
		    txn, f.client, f.clen, EVB_ITEM_CREATE, b->p, b->len);
	if (rc == DBS_OK)
		rc = sti_count_add(
		    txn, f.client, f.clen, f.def, f.dlen, f.state, 1);
	if (rc != DBS_OK) {
		/* Half a passenger: poison. */
		if (txn->poison == 0)
			txn->poison = rc;
		return rc;
	}
	cache_put(txn, rec->id, b->p, b->len);
	if (rec->id >= txn->next_pid)
		txn->next_pid = rec->id + 1;
	txn->changes++;
	return DBS_OK;
}

/* Write `rec` (its id the transaction's next or past it) unless its
 * dedup key is held: *dup and *id as store_passenger_seat. */
static int
write_new(struct store_txn *txn, const Dbs__Passenger *rec,
    Dbs__Attachment *const *atts, size_t n_atts, uint64_t *id, bool *dup)
{
	struct sbuf *b = &txn->st->pg->rec;
	struct key dk;
	struct pgp q = {0};
	PGresult *r;
	int rc;

	if ((rc = seat_params(&q, &dk, rec, b)) != DBS_OK)
		return rc;
	if ((rc = pg_exec(txn, seat_sql, &q, &r)) != DBS_OK)
		return rc;
	if (PQntuples(r) > 0) {
		*id = (uint64_t)pg_i64(r, 0, 0);
		*dup = true;
		PQclear(r);
		return DBS_OK;
	}
	PQclear(r);
	for (size_t i = 0; rc == DBS_OK && i < n_atts; i++)
		rc = att_put(txn, rec->id, atts[i]->name, atts[i]->data.data,
		    atts[i]->data.len);
	if (rc == DBS_OK)
		rc = seated(txn, rec, b);
	if (rc != DBS_OK)
		return pg_poison(txn, rc == DBS_EINVAL ? DBS_EIO : rc);
	*id = rec->id;
	return DBS_OK;
}

/* A new passenger's record as store_passenger_seat makes it. */
static int
new_record(struct store_txn *txn, const Dbs__Passenger *p,
    Dbs__Attachment *const *atts, size_t n_atts, uint64_t id, int64_t now,
    Dbs__Passenger *rec)
{
	*rec = *p;
	rec->id = id;
	rec->state = DBS__PASSENGER_STATE__PS_PENDING;
	rec->created_ms = now;
	rec->updated_ms = now;
	rec->next_attempt_ms = now;
	rec->done_ms = 0;
	rec->attempts = 0;
	return fill_metas(txn->st, rec, atts, n_atts);
}

/* ----------------------------------------------------- seating a batch */

struct many {
	int *tag; /* per queued statement: its seat, or -1 */
	bool *dups;
	uint64_t *ids;
};

static void
many_result(void *ctx, int i, const PGresult *r)
{
	struct many *m = ctx;
	int k = m->tag[i];

	if (k < 0 || r == NULL || PQntuples(r) == 0)
		return;
	m->dups[k] = true;
	m->ids[k] = (uint64_t)pg_i64(r, 0, 0);
}

/* Queue the seats from *i on (each with its attachments, inserted only if
 * its passenger was) while the pipeline has room. */
static int
many_queue(struct store_txn *txn, const Dbs__Passenger *const *ps,
    Dbs__Attachment *const *const *atts, const size_t *n_atts, size_t n,
    int64_t now, size_t *i, struct many *m, int *rcs)
{
	struct sbuf *b = &txn->st->pg->rec;
	int rc;

	for (; *i < n && pg_queued(txn) < PG_PIPE_MAX; (*i)++) {
		size_t k = *i, na = n_atts != NULL ? n_atts[k] : 0;
		Dbs__Attachment *const *a = atts != NULL ? atts[k] : NULL;
		Dbs__Passenger rec;
		struct key dk;
		struct pgp q = {0};

		m->dups[k] = false;
		m->ids[k] = 0;
		rcs[k] = ps[k] == NULL || (na > 0 && a == NULL) ? DBS_EINVAL
								: DBS_OK;
		if (rcs[k] == DBS_OK &&
		    ((rcs[k] = sti_check_identity(ps[k])) != DBS_OK ||
			(rcs[k] = sti_check_attachments(a, na)) != DBS_OK))
			continue;
		if (rcs[k] != DBS_OK)
			continue;
		if ((rc = new_record(txn, ps[k], a, na, txn->next_pid, now,
			 &rec)) != DBS_OK)
			return rc;
		if ((rcs[k] = seat_params(&q, &dk, &rec, b)) != DBS_OK) {
			if (rcs[k] != DBS_ETOOBIG && rcs[k] != DBS_EINVAL)
				return rcs[k];
			continue;
		}
		m->tag[pg_queued(txn)] = (int)k;
		if ((rc = pg_send(txn, seat_sql, &q)) != DBS_OK)
			return rc;
		m->ids[k] = txn->next_pid++; /* a duplicate's is never used */
		for (size_t j = 0; j < na; j++) {
			struct pgp aq = {0};

			pgp_u64(&aq, m->ids[k]);
			pgp_text(&aq, a[j]->name);
			pgp_bytes(&aq, a[j]->data.data, a[j]->data.len);
			m->tag[pg_queued(txn)] = -1;
			rc = pg_send(txn,
			    "INSERT INTO attachments SELECT $1::int8, "
			    "$2::text,"
			    " $3::bytea WHERE EXISTS (SELECT 1 FROM passengers"
			    " WHERE id = $1::int8)",
			    &aq);
			if (rc != DBS_OK)
				return rc;
		}
	}
	return DBS_OK;
}

int
stpg_passenger_seat_many(struct store_txn *txn,
    const Dbs__Passenger *const *ps, Dbs__Attachment *const *const *atts,
    const size_t *n_atts, size_t n, uint64_t *ids, bool *dups, int *rcs)
{
	struct sbuf *b = &txn->st->pg->rec;
	struct many m = {NULL, dups, ids};
	int64_t now = sti_now_ms();
	size_t i = 0, from, most = 0;
	int rc;

	if (n > 0 &&
	    (ps == NULL || ids == NULL || dups == NULL || rcs == NULL))
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	/* One tag per queued statement: what is queued already, then the
	 * seats and attachments of a round. */
	for (size_t k = 0; k < n; k++)
		most += 1 + (n_atts != NULL ? n_atts[k] : 0);
	most += (size_t)pg_queued(txn) + 1;
	if ((m.tag = malloc(most * sizeof(*m.tag))) == NULL)
		return DBS_ENOMEM;
	for (int k = 0; k < pg_queued(txn); k++)
		m.tag[k] = -1;
	while (rc == DBS_OK && i < n) {
		from = i;
		rc = many_queue(txn, ps, atts, n_atts, n, now, &i, &m, rcs);
		if (rc == DBS_OK && pg_queued(txn) > 0)
			rc = pg_sync(txn, many_result, &m);
		/* What the commit needs of the seats that wrote, in order. */
		for (size_t k = from; rc == DBS_OK && k < i; k++) {
			size_t na = n_atts != NULL ? n_atts[k] : 0;
			Dbs__Passenger rec;

			if (rcs[k] != DBS_OK || dups[k])
				continue;
			rc = new_record(txn, ps[k],
			    atts != NULL ? atts[k] : NULL, na, ids[k], now,
			    &rec);
			if (rc == DBS_OK)
				rc = pg_pack(b, &rec.base);
			if (rc == DBS_OK)
				rc = seated(txn, &rec, b);
		}
		for (int k = 0; k < PG_PIPE_MAX + 1 && (size_t)k < most; k++)
			m.tag[k] = -1;
	}
	free(m.tag);
	return rc != DBS_OK ? pg_poison(txn, rc) : DBS_OK;
}

int
stpg_passenger_seat(struct store_txn *txn, const Dbs__Passenger *p,
    Dbs__Attachment *const *atts, size_t n_atts, uint64_t *id, bool *dup)
{
	Dbs__Passenger rec;
	int64_t now;
	int rc;

	if ((rc = admit(txn, p, atts, n_atts, id, dup)) != DBS_OK)
		return rc;
	now = sti_now_ms();
	rc = new_record(txn, p, atts, n_atts, txn->next_pid, now, &rec);
	if (rc != DBS_OK)
		return rc;
	return write_new(txn, &rec, atts, n_atts, id, dup);
}

int
stpg_passenger_import(struct store_txn *txn, const Dbs__Passenger *p,
    Dbs__Attachment *const *atts, size_t n_atts, uint64_t *id, bool *dup)
{
	Dbs__Passenger rec;
	int rc;

	if ((rc = admit(txn, p, atts, n_atts, id, dup)) != DBS_OK)
		return rc;
	rec = *p;
	if (rec.id < txn->next_pid)
		rec.id = txn->next_pid;
	if (rec.state == DBS__PASSENGER_STATE__PS_PENDING)
		rec.done_ms = 0;
	if ((rc = fill_metas(txn->st, &rec, atts, n_atts)) != DBS_OK)
		return rc;
	return write_new(txn, &rec, atts, n_atts, id, dup);
}

int
stpg_passenger_lookup(struct store_txn *txn, const Dbs__Passenger *p,
    uint64_t *id, uint64_t *next_id)
{
	struct pfields f;
	struct key dk;
	struct pgp q = {0};
	PGresult *r;
	int rc;

	*id = 0;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_check_identity(p)) != DBS_OK)
		return rc;
	if (next_id != NULL) {
		if (txn->write) {
			*next_id = txn->next_pid;
		} else if ((rc = stpg_meta_get_u64(
				txn, META_NEXT_PID, next_id)) != DBS_OK) {
			return rc == DBS_ENOTFOUND ? DBS_ECORRUPT : rc;
		}
	}
	pf_of(&f, p);
	if ((rc = dedup_key(&dk, &f)) != DBS_OK)
		return rc;
	pgp_bytes(&q, dk.b, dk.n);
	pgp_i64(&q, sti_now_ms());
	rc = pg_exec(txn,
	    "SELECT passenger FROM dedup WHERE key = $1::bytea"
	    " AND (expires_ms IS NULL OR expires_ms > $2::int8)",
	    &q, &r);
	if (rc != DBS_OK)
		return rc;
	rc = PQntuples(r) == 1 ? DBS_OK : DBS_ENOTFOUND;
	if (rc == DBS_OK)
		*id = (uint64_t)pg_i64(r, 0, 0);
	PQclear(r);
	return rc;
}

int
stpg_passenger_get(struct store_txn *txn, uint64_t id, Dbs__Passenger **out)
{
	const struct sbuf *kept;
	struct pgp q = {0};
	PGresult *r;
	int rc;

	if (out == NULL)
		return DBS_EINVAL;
	*out = NULL;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	if ((kept = cache_get(txn, id)) != NULL) {
		*out = dbs__passenger__unpack(NULL, kept->len, kept->p);
		return *out != NULL ? DBS_OK : DBS_ECORRUPT;
	}
	pgp_u64(&q, id);
	rc = pg_exec(
	    txn, "SELECT record FROM passengers WHERE id = $1::int8", &q, &r);
	if (rc != DBS_OK)
		return rc;
	rc = PQntuples(r) == 1 ? pg_unpack(txn, &dbs__passenger__descriptor, r,
				     0, 0, NULL, out)
			       : DBS_ENOTFOUND;
	if (rc == DBS_OK)
		cache_put(txn, id, PQgetvalue(r, 0, 0),
		    (size_t)PQgetlength(r, 0, 0));
	PQclear(r);
	return rc;
}

/*
 * Replace the record, checking in the same statement that the passenger
 * is there with the same identity (which its dedup row and index fields
 * are made of); the old record comes back for the counts, bytes and
 * events.
 */
/* Its kept record: the put is a pure write, checked here. */
static int
put_kept(struct store_txn *txn, const Dbs__Passenger *p,
    const struct sbuf *kept, const struct sbuf *b, unsigned *os,
    int64_t *ocharge)
{
	struct pgp q = {0};
	struct pbv pv;

	if (sti_pbv(&pv, kept->p, kept->len) != DBS_OK)
		return pg_poison(txn, DBS_ECORRUPT);
	if (!pbv_eq(&pv, PF_CLIENT, p->client) ||
	    !pbv_eq(&pv, PF_DEF, p->definition) ||
	    !pbv_eq(&pv, PF_PULLER, p->puller) ||
	    !pbv_eq(&pv, PF_EXT, p->external_id))
		return DBS_EINVAL;
	*os = (unsigned)pv.v[PF_STATE];
	*ocharge = sti_usage_of(kept->p, kept->len);
	pgp_u64(&q, p->id);
	pgp_i64(&q, p->state);
	pgp_i64(&q, p->next_attempt_ms);
	pgp_i64(&q, p->done_ms);
	pgp_bytes(&q, b->p, b->len);
	return pg_run(txn,
	    "UPDATE passengers SET state = $2::int8, next_attempt_ms ="
	    " $3::int8, done_ms = $4::int8, record = $5::bytea WHERE id ="
	    " $1::int8",
	    &q, NULL);
}

/* Not kept: one statement checks that the passenger is there with the
 * same identity, replaces it and returns the old record. */
static int
put_asked(struct store_txn *txn, const Dbs__Passenger *p, const struct sbuf *b,
    unsigned *os, int64_t *ocharge)
{
	struct pgp q = {0};
	struct pbv pv;
	PGresult *r;
	int rc;

	pgp_u64(&q, p->id);
	pgp_text(&q, p->client);
	pgp_text(&q, p->definition);
	pgp_text(&q, p->puller);
	pgp_text(&q, p->external_id);
	pgp_i64(&q, p->state);
	pgp_i64(&q, p->next_attempt_ms);
	pgp_i64(&q, p->done_ms);
	pgp_bytes(&q, b->p, b->len);
	rc = pg_exec(txn,
	    "WITH old AS (SELECT record, client = $2::text AND definition ="
	    " $3::text AND puller = $4::text AND external_id = $5::text AS"
	    " same FROM passengers WHERE id = $1::int8),"
	    " up AS (UPDATE passengers SET state = $6::int8,"
	    " next_attempt_ms = $7::int8, done_ms = $8::int8, record ="
	    " $9::bytea WHERE id = $1::int8 AND (SELECT same FROM old))"
	    " SELECT record, same FROM old",
	    &q, &r);
	if (rc != DBS_OK)
		return rc;
	if (PQntuples(r) != 1)
		rc = DBS_ENOTFOUND;
	else if (PQgetlength(r, 0, 1) != 1 || PQgetvalue(r, 0, 1)[0] == 0)
		rc = DBS_EINVAL;
	else if (sti_pbv(&pv, PQgetvalue(r, 0, 0),
		     (size_t)PQgetlength(r, 0, 0)) != DBS_OK)
		rc = pg_poison(txn, DBS_ECORRUPT);
	if (rc == DBS_OK) {
		*os = (unsigned)pv.v[PF_STATE];
		*ocharge = sti_usage_of(
		    PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
	}
	PQclear(r);
	return rc;
}

int
stpg_passenger_put(struct store_txn *txn, const Dbs__Passenger *p)
{
	struct sbuf *b = &txn->st->pg->rec;
	const struct sbuf *kept;
	struct pfields nf;
	unsigned os = 0;
	int64_t ocharge = 0;
	int rc;

	if (p == NULL || p->id == 0)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_check_identity(p)) != DBS_OK)
		return rc;
	if ((rc = pg_pack(b, &p->base)) != DBS_OK)
		return rc;
	kept = cache_get(txn, p->id);
	rc = kept != NULL ? put_kept(txn, p, kept, b, &os, &ocharge)
			  : put_asked(txn, p, b, &os, &ocharge);
	if (rc != DBS_OK)
		return rc;
	pf_of(&nf, p);
	rc = sti_usage_add(
	    txn, nf.client, nf.clen, sti_usage_of(b->p, b->len) - ocharge);
	if (rc == DBS_OK)
		rc = sti_ev_item(
		    txn, nf.client, nf.clen, EVB_ITEM_UPDATE, b->p, b->len);
	if (rc == DBS_OK && os != nf.state &&
	    (rc = sti_count_add(
		 txn, nf.client, nf.clen, nf.def, nf.dlen, os, -1)) == DBS_OK)
		rc = sti_count_add(
		    txn, nf.client, nf.clen, nf.def, nf.dlen, nf.state, 1);
	if (rc != DBS_OK)
		return pg_poison(txn, rc == DBS_EINVAL ? DBS_EIO : rc);
	cache_put(txn, p->id, b->p, b->len);
	txn->changes++;
	return DBS_OK;
}

/* ------------------------------------------------------------ removing */

/*
 * Remove the passengers `sel` (a subquery of ids, with parameters from $3
 * on) with their attachments; their dedup rows go, or (keep, and a
 * horizon) stay until now + horizon. The removed come back in
 * (client, definition, done_ms, id) order — the purge's, and a delete's
 * one row — and their delete events, counts and bytes are queued.
 * *count (may be NULL) = how many.
 */
static int
remove_where(struct store_txn *t, const char *sel, struct pgp *q, bool keep,
    uint64_t *count)
{
	bool hold = keep && t->st->dedup_horizon_ms >= 0;
	char sql[2048];
	PGresult *r;
	int rc;

	if (count != NULL)
		*count = 0;
	/* $1, $2: whether the dedup rows stay, and until when. */
	sti_put_be64(q->num[0], hold ? 1 : 0);
	sti_put_be64(q->num[1],
	    (uint64_t)(hold ? sti_now_ms() + t->st->dedup_horizon_ms : 0));
	snprintf(sql, sizeof(sql),
	    "WITH d AS (DELETE FROM passengers WHERE id IN (%s) RETURNING id,"
	    " client, definition, done_ms, dedup_key, record),"
	    " a AS (DELETE FROM attachments USING d WHERE"
	    " attachments.passenger = d.id),"
	    " x AS (DELETE FROM dedup USING d WHERE dedup.key = d.dedup_key"
	    " AND dedup.passenger = d.id AND dedup.expires_ms IS NULL AND"
	    " $1::int8 = 0),"
	    " u AS (UPDATE dedup SET expires_ms = $2::int8 FROM d WHERE"
	    " dedup.key = d.dedup_key AND dedup.passenger = d.id AND"
	    " dedup.expires_ms IS NULL AND $1::int8 = 1)"
	    " SELECT id, record FROM d ORDER BY client, definition, done_ms,"
	    " id",
	    sel);
	if ((rc = pg_exec(t, sql, q, &r)) != DBS_OK)
		return rc;
	for (int i = 0; i < PQntuples(r) && rc == DBS_OK; i++) {
		const char *rec = PQgetvalue(r, i, 1);
		size_t len = (size_t)PQgetlength(r, i, 1);
		struct pfields f;
		struct pbv pv;

		if (sti_pbv(&pv, rec, len) != DBS_OK) {
			rc = DBS_ECORRUPT;
			break;
		}
		sti_pf_from_pbv(&f, &pv);
		cache_put(t, (uint64_t)pg_i64(r, i, 0), NULL, 0);
		rc = sti_ev_item_delete(
		    t, f.client, f.clen, (uint64_t)pg_i64(r, i, 0));
		if (rc == DBS_OK)
			rc = sti_count_add(
			    t, f.client, f.clen, f.def, f.dlen, f.state, -1);
		if (rc == DBS_OK)
			rc = sti_usage_add(
			    t, f.client, f.clen, -sti_usage_of(rec, len));
	}
	if (rc == DBS_OK && count != NULL)
		*count = (uint64_t)PQntuples(r);
	PQclear(r);
	if (rc != DBS_OK && t->poison == 0)
		t->poison = rc;
	return rc;
}

int
stpg_passenger_delete(struct store_txn *txn, uint64_t id)
{
	struct pgp q = {.n = 2, .fmt = {1, 1}, .len = {8, 8}};
	uint64_t n;
	int rc;

	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	q.v[0] = (const char *)q.num[0];
	q.v[1] = (const char *)q.num[1];
	pgp_u64(&q, id);
	if ((rc = remove_where(txn, "SELECT $3::int8", &q, false, &n)) !=
	    DBS_OK)
		return rc;
	if (n == 0)
		return DBS_ENOTFOUND;
	txn->changes++;
	return DBS_OK;
}

int
stpg_queue_purge(struct store_txn *txn, const char *client,
    const char *definition, int64_t before_ms, size_t max, uint64_t *count)
{
	struct pgp q = {.n = 2, .fmt = {1, 1}, .len = {8, 8}};
	struct key prefix;
	char sel[512];
	uint64_t n;
	int rc;

	if (count != NULL)
		*count = 0;
	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_scope_prefix(&prefix, client, definition, false)) !=
	    DBS_OK)
		return rc;
	q.v[0] = (const char *)q.num[0];
	q.v[1] = (const char *)q.num[1];
	pgp_i64(&q, before_ms);
	pgp_u64(&q, max ? max : INT64_MAX);
	if (client != NULL)
		pgp_text(&q, client);
	if (definition != NULL)
		pgp_text(&q, definition);
	snprintf(sel, sizeof(sel),
	    "SELECT id FROM passengers WHERE state = 1 AND done_ms < $3::int8"
	    "%s%s ORDER BY client, definition, done_ms, id LIMIT $4::int8",
	    client != NULL ? " AND client = $5::text" : "",
	    definition != NULL ? " AND definition = $6::text" : "");
	if ((rc = remove_where(txn, sel, &q, true, &n)) != DBS_OK)
		return rc;
	txn->changes += n;
	if (count != NULL)
		*count = n;
	return DBS_OK;
}

int
stpg_dedup_sweep(
    struct store_txn *txn, int64_t now_ms, size_t max, uint64_t *count)
{
	struct pgp q = {0};
	uint64_t n;
	int rc;

	if (count != NULL)
		*count = 0;
	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	pgp_i64(&q, now_ms);
	pgp_u64(&q, max ? max : INT64_MAX);
	rc = pg_run(txn,
	    "DELETE FROM dedup WHERE key IN (SELECT key FROM dedup WHERE"
	    " expires_ms IS NOT NULL AND expires_ms <= $1::int8 ORDER BY"
	    " expires_ms, key LIMIT $2::int8)",
	    &q, &n);
	if (rc != DBS_OK)
		return rc;
	txn->changes += n;
	if (count != NULL)
		*count = n;
	return DBS_OK;
}

/* --------------------------------------------------------- attachments */

int
stpg_attachment_get(struct store_txn *txn, uint64_t id, const char *name,
    const void **data, size_t *len)
{
	struct pgp q = {0};
	PGresult *r;
	int rc;

	if (data != NULL)
		*data = NULL;
	if (len != NULL)
		*len = 0;
	if (data == NULL || len == NULL)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_name(name, STORE_LONGNAME_MAX, false)) != DBS_OK)
		return rc;
	pgp_u64(&q, id);
	pgp_text(&q, name);
	rc = pg_exec(txn,
	    "SELECT body FROM attachments WHERE passenger = $1::int8 AND"
	    " name = $2::text",
	    &q, &r);
	if (rc != DBS_OK)
		return rc;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return DBS_ENOTFOUND;
	}
	/* The body lives as long as the transaction, as on LMDB. */
	if ((rc = pg_keep(txn, r)) != DBS_OK)
		return rc;
	*data = PQgetvalue(r, 0, 0);
	*len = (size_t)PQgetlength(r, 0, 0);
	return DBS_OK;
}

int
stpg_attachment_put(struct store_txn *txn, uint64_t id, const char *name,
    const void *data, size_t len)
{
	struct pgp q = {0};
	uint64_t n;
	int rc;

	if (len > 0 && data == NULL)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_name(name, STORE_LONGNAME_MAX, false)) != DBS_OK)
		return rc;
	pgp_u64(&q, id);
	pgp_text(&q, name);
	pgp_bytes(&q, data, len);
	/* Bodies belong to a passenger: no orphans. */
	rc = pg_run(txn,
	    "INSERT INTO attachments SELECT $1::int8, $2::text, $3::bytea"
	    " WHERE EXISTS (SELECT 1 FROM passengers WHERE id = $1::int8)"
	    " ON CONFLICT (passenger, name) DO UPDATE SET body ="
	    " EXCLUDED.body",
	    &q, &n);
	if (rc != DBS_OK)
		return rc;
	if (n == 0)
		return DBS_ENOTFOUND;
	txn->changes++;
	return DBS_OK;
}

int
stpg_attachment_delete(struct store_txn *txn, uint64_t id, const char *name)
{
	struct pgp q = {0};
	uint64_t n;
	int rc;

	if ((rc = pg_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_name(name, STORE_LONGNAME_MAX, false)) != DBS_OK)
		return rc;
	pgp_u64(&q, id);
	pgp_text(&q, name);
	rc = pg_run(txn,
	    "DELETE FROM attachments WHERE passenger = $1::int8 AND name ="
	    " $2::text",
	    &q, &n);
	if (rc != DBS_OK)
		return rc;
	if (n == 0)
		return DBS_ENOTFOUND;
	txn->changes++;
	return DBS_OK;
}

/* ------------------------------------------------------------ listing */

/* Decode row i's record and hand it to cb (cb's value, or an error). */
static int
deliver(struct store_txn *t, const PGresult *r, int i, int col,
    ProtobufCAllocator *alloc, int (*cb)(void *ctx, const Dbs__Passenger *p),
    void *ctx, bool *called)
{
	Dbs__Passenger *p;
	int rc;

	*called = false;
	rc = pg_unpack(t, &dbs__passenger__descriptor, r, i, col, alloc, &p);
	if (rc != DBS_OK)
		return rc;
	*called = true;
	rc = cb(ctx, p);
	if (alloc == NULL)
		dbs__passenger__free_unpacked(p, NULL);
	return rc;
}

/* Rows of a listing fetched at a time. */
#define LIST_CHUNK 256

/* The `q` of a query is an id: that passenger alone, on the first page. */
static int
list_one(struct store_txn *t, const struct store_query *q, uint64_t id,
    int (*cb)(void *ctx, const Dbs__Passenger *p), void *ctx)
{
	struct pgp a = {0};
	PGresult *r;
	bool called;
	int rc;

	if (q->cursor != 0)
		return DBS_OK;
	pgp_u64(&a, id);
	pgp_text(&a, q->client != NULL ? q->client : "");
	pgp_text(&a, q->definition != NULL ? q->definition : "");
	pgp_i64(&a, q->state);
	rc = pg_exec(t,
	    "SELECT record FROM passengers WHERE id = $1::int8"
	    " AND ($2::text = '' OR client = $2::text)"
	    " AND ($3::text = '' OR definition = $3::text)"
	    " AND ($4::int8 < 0 OR state = $4::int8)",
	    &a, &r);
	if (rc != DBS_OK)
		return rc;
	if (PQntuples(r) == 1)
		rc = deliver(t, r, 0, 0, q->alloc, cb, ctx, &called);
	PQclear(r);
	return rc;
}

/*
 * The rows come as (id, record or NULL, matches) in listing order; the
 * loop below is queue.c's, so the pages and cursors are LMDB's: a
 * substring search looks at STORE_SCAN_MAX rows at most (and says where
 * to go on), a listing fetches one row past its limit to know whether it
 * goes on.
 */
int
stpg_queue_list(struct store_txn *txn, const struct store_query *q,
    int (*cb)(void *ctx, const Dbs__Passenger *p), void *ctx,
    uint64_t *next_cursor)
{
	struct pgp a = {0};
	char sql[1024], where[512] = "", match[160] = "true";
	const char *text = NULL;
	size_t n = 0, scanned = 0;
	uint64_t id, last = 0, num, lim, from;
	bool called, done = false;
	PGresult *r;
	int rc;

	if (next_cursor != NULL)
		*next_cursor = 0;
	if (q == NULL || cb == NULL)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
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
	}
	if (!q->newest_first && q->cursor == UINT64_MAX)
		return DBS_OK;
	/* $1 the cursor (newest first from the start: past every id), $2
	 * the row limit, then the filters. */
	pgp_u64(
	    &a, q->newest_first && q->cursor == 0 ? UINT64_MAX : q->cursor);
	if (text != NULL)
		lim = STORE_SCAN_MAX + 1;
	else
		lim = q->limit ? q->limit + 1 : INT64_MAX;
	pgp_u64(&a, lim);
	if (!q->newest_first)
		strcat(where, " AND id > $1::int8");
	else
		strcat(where, " AND id < $1::int8");
	if (q->client != NULL) {
		pgp_text(&a, q->client);
		strcat(where, " AND client = $3::text");
	}
	if (q->definition != NULL) {
		pgp_text(&a, q->definition);
		strcat(where, " AND definition = $4::text");
	}
	if (q->state >= 0) {
		char c[64];

		snprintf(c, sizeof(c), " AND state = %d", q->state);
		/* Without a client LMDB scans every record: the state is a
		 * match of the search, not a bound of the scan. */
		if (text != NULL && q->client == NULL)
			snprintf(match, sizeof(match), "state = %d", q->state);
		else
			strcat(where, c);
	}
	if (text != NULL) {
		pgp_text(&a, text);
		snprintf(match + strlen(match), sizeof(match) - strlen(match),
		    " AND strpos(external_id, $%d::text) > 0", a.n);
	}
	snprintf(sql, sizeof(sql),
	    "SELECT id, CASE WHEN %s THEN record END, %s FROM passengers"
	    " WHERE true%s ORDER BY id %s LIMIT $2::int8",
	    match, match, where, q->newest_first ? "DESC" : "ASC");
	/* In chunks of LIST_CHUNK rows, each from the last one's id: a long
	 * listing never holds more in memory. */
	from = q->newest_first && q->cursor == 0 ? UINT64_MAX : q->cursor;
	while (!done) {
		uint64_t want = lim < LIST_CHUNK ? lim : LIST_CHUNK;
		int rows;

		sti_put_be64(a.num[0], from > INT64_MAX ? INT64_MAX : from);
		sti_put_be64(a.num[1], want);
		if ((rc = pg_exec(txn, sql, &a, &r)) != DBS_OK)
			return rc;
		rows = PQntuples(r);
		for (int i = 0; i < rows && !done; i++) {
			id = (uint64_t)pg_i64(r, i, 0);
			if (text != NULL && ++scanned > STORE_SCAN_MAX) {
				if (next_cursor != NULL)
					*next_cursor = last;
				done = true;
				break;
			}
			if (PQgetlength(r, i, 2) == 1 &&
			    PQgetvalue(r, i, 2)[0]) {
				if (q->limit != 0 && n == q->limit) {
					if (next_cursor != NULL)
						*next_cursor = last;
					done = true;
					break;
				}
				rc = deliver(
				    txn, r, i, 1, q->alloc, cb, ctx, &called);
				if (rc != DBS_OK) {
					if (called && next_cursor != NULL)
						*next_cursor = id;
					done = true;
					break;
				}
				n++;
			}
			last = id;
		}
		PQclear(r);
		if (!done && ((uint64_t)rows < want || (lim -= want) == 0))
			done = true;
		from = last;
	}
	return rc;
}

static int
def_check(const char *client, const char *def)
{
	int rc;

	if ((rc = sti_name(client, STORE_NAME_MAX, false)) != DBS_OK ||
	    (rc = sti_name(def, STORE_NAME_MAX, false)) != DBS_OK)
		return rc;
	return DBS_OK;
}

int
stpg_queue_due(struct store_txn *txn, const char *client,
    const char *definition, int64_t due_ms, size_t limit,
    int (*cb)(void *ctx, const Dbs__Passenger *p), void *ctx)
{
	struct pgp q = {0};
	PGresult *r;
	bool called;
	int rc;

	if (cb == NULL)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = def_check(client, definition)) != DBS_OK)
		return rc;
	pgp_text(&q, client);
	pgp_text(&q, definition);
	pgp_i64(&q, due_ms);
	pgp_u64(&q, limit ? limit : INT64_MAX);
	rc = pg_exec(txn,
	    "SELECT record FROM passengers WHERE client = $1::text AND"
	    " definition = $2::text AND state = 0 AND next_attempt_ms <="
	    " $3::int8 ORDER BY next_attempt_ms, id LIMIT $4::int8",
	    &q, &r);
	if (rc != DBS_OK)
		return rc;
	for (int i = 0; i < PQntuples(r) && rc == DBS_OK; i++)
		rc = deliver(txn, r, i, 0, NULL, cb, ctx, &called);
	PQclear(r);
	return rc;
}

int
stpg_queue_due_ids(struct store_txn *txn, const char *client,
    const char *definition, int64_t due_ms, int64_t after_due,
    uint64_t after_id, size_t max, uint64_t *ids, int64_t *dues, size_t *n)
{
	struct pgp q = {0};
	PGresult *r;
	int rc;

	*n = 0;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = def_check(client, definition)) != DBS_OK)
		return rc;
	if (max == 0)
		return DBS_OK;
	pgp_text(&q, client);
	pgp_text(&q, definition);
	pgp_i64(&q, due_ms);
	pgp_i64(&q, after_due);
	pgp_u64(&q, after_id);
	pgp_u64(&q, max);
	rc = pg_exec(txn,
	    "SELECT id, next_attempt_ms FROM passengers WHERE client ="
	    " $1::text AND definition = $2::text AND state = 0 AND"
	    " next_attempt_ms <= $3::int8 AND (next_attempt_ms, id) >"
	    " ($4::int8, $5::int8) ORDER BY next_attempt_ms, id"
	    " LIMIT $6::int8",
	    &q, &r);
	if (rc != DBS_OK)
		return rc;
	for (int i = 0; i < PQntuples(r); i++) {
		ids[i] = (uint64_t)pg_i64(r, i, 0);
		dues[i] = pg_i64(r, i, 1);
	}
	*n = (size_t)PQntuples(r);
	PQclear(r);
	return DBS_OK;
}

int
stpg_queue_next_due(struct store_txn *txn, const char *client,
    const char *definition, int64_t *due_ms)
{
	struct pgp q = {0};
	PGresult *r;
	int rc;

	if (due_ms != NULL)
		*due_ms = 0;
	if (due_ms == NULL)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = def_check(client, definition)) != DBS_OK)
		return rc;
	pgp_text(&q, client);
	pgp_text(&q, definition);
	rc = pg_exec(txn,
	    "SELECT next_attempt_ms FROM passengers WHERE client = $1::text"
	    " AND definition = $2::text AND state = 0 ORDER BY"
	    " next_attempt_ms, id LIMIT 1",
	    &q, &r);
	if (rc != DBS_OK)
		return rc;
	rc = PQntuples(r) == 1 ? DBS_OK : DBS_ENOTFOUND;
	if (rc == DBS_OK)
		*due_ms = pg_i64(r, 0, 0);
	PQclear(r);
	return rc;
}

/* --------------------------------------------------- counts and bytes */

int
stpg_queue_counts(struct store_txn *txn, const char *client,
    const char *definition, uint64_t *pending, uint64_t *done, uint64_t *dead)
{
	uint64_t *out[3] = {pending, done, dead};
	int64_t sum[3] = {0, 0, 0};
	struct key prefix;
	struct pgp q = {0};
	PGresult *r;
	int rc;

	for (int s = 0; s < 3; s++)
		if (out[s] != NULL)
			*out[s] = 0;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_scope_prefix(&prefix, client, definition, false)) !=
	    DBS_OK)
		return rc;
	pgp_text(&q, client != NULL ? client : "");
	pgp_text(&q, definition != NULL ? definition : "");
	pgp_i64(&q, client != NULL);
	pgp_i64(&q, definition != NULL);
	rc = pg_exec(txn,
	    "SELECT sum(pending)::int8, sum(done)::int8, sum(dead)::int8 FROM"
	    " counts WHERE ($3::int8 = 0 OR client = $1::text) AND"
	    " ($4::int8 = 0 OR definition = $2::text)",
	    &q, &r);
	if (rc != DBS_OK)
		return rc;
	for (int s = 0; s < 3; s++)
		sum[s] = pg_i64(r, 0, s);
	PQclear(r);
	sti_count_pending(txn, prefix.b, prefix.n, sum);
	for (int s = 0; s < 3; s++)
		if (out[s] != NULL)
			*out[s] = sum[s] > 0 ? (uint64_t)sum[s] : 0;
	return DBS_OK;
}

int
pg_counts_flush(struct store_txn *t)
{
	struct store *st = t->st;
	int rc;

	for (size_t i = 0; i < st->n_cnt; i++) {
		struct count_delta *c = &st->cnt[i];
		const char *client = (const char *)c->key;
		const char *def = client + strlen(client) + 1;
		struct pgp q = {0};

		if (c->d[0] == 0 && c->d[1] == 0 && c->d[2] == 0)
			continue;
		pgp_text(&q, client);
		pgp_text(&q, def);
		for (int s = 0; s < 3; s++)
			pgp_i64(&q, c->d[s]);
		rc = pg_run(t,
		    "INSERT INTO counts VALUES ($1::text, $2::text,"
		    " GREATEST($3::int8, 0), GREATEST($4::int8, 0),"
		    " GREATEST($5::int8, 0)) ON CONFLICT (client, definition)"
		    " DO UPDATE SET pending = GREATEST(counts.pending +"
		    " $3::int8, 0), done = GREATEST(counts.done + $4::int8, "
		    "0),"
		    " dead = GREATEST(counts.dead + $5::int8, 0)",
		    &q, NULL);
		if (rc != DBS_OK)
			return rc;
	}
	st->n_cnt = 0;
	return DBS_OK;
}

static int
usage_row(void *ctx, const char *client, int64_t delta)
{
	struct pgp q = {0};

	pgp_text(&q, client);
	pgp_i64(&q, delta);
	return pg_run(ctx,
	    "INSERT INTO client_bytes VALUES ($1::text, GREATEST($2::int8, 0))"
	    " ON CONFLICT (client) DO UPDATE SET bytes ="
	    " GREATEST(client_bytes.bytes + $2::int8, 0)",
	    &q, NULL);
}

int
pg_usage_flush(struct store_txn *t)
{
	int rc = sti_usage_each(t->st, usage_row, t);

	if (rc == DBS_OK)
		sti_usage_reset(t->st);
	return rc;
}

int
stpg_client_bytes(struct store_txn *txn, const char *client, uint64_t *out)
{
	struct pgp q = {0};
	PGresult *r;
	int64_t x;
	int rc;

	*out = 0;
	if (client == NULL || strlen(client) > STORE_NAME_MAX)
		return DBS_EINVAL;
	if ((rc = pg_usable(txn, false)) != DBS_OK)
		return rc;
	pgp_text(&q, client);
	rc = pg_exec(txn,
	    "SELECT bytes FROM client_bytes WHERE client = $1::text", &q, &r);
	if (rc != DBS_OK)
		return rc;
	x = PQntuples(r) == 1 ? pg_i64(r, 0, 0) : 0;
	PQclear(r);
	x += sti_usage_pending(txn, client);
	*out = x > 0 ? (uint64_t)x : 0;
	return DBS_OK;
}
