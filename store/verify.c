/*
 * verify.c — store_verify: the consistency check behind `databusctl
 * verify`.
 *
 * Every index must agree with the records in both directions: each record
 * has all the entries its fields call for, and each entry is exactly the
 * key that its record's fields give (rebuilt with the same functions the
 * writers use, so that a change of layout cannot leave the check behind).
 * Attachment bodies must match their metas, counts must match the state
 * index, and the event log must be in order. Each problem is reported as a
 * sentence; the check reads only, in the caller's transaction.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "store_impl.h"
#include "store_pg.h"

struct vctx {
	struct store_txn *t;
	void (*report)(void *ctx, const char *problem);
	void *ctx;
	uint64_t problems;
};

static void vproblem(struct vctx *v, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void problem(struct vctx *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
vproblem(struct vctx *v, const char *fmt, va_list ap)
{
	char text[512];

	v->problems++;
	if (v->report == NULL)
		return;
	vsnprintf(text, sizeof(text), fmt, ap);
	v->report(v->ctx, text);
}

static void
problem(struct vctx *v, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vproblem(v, fmt, ap);
	va_end(ap);
}

static const int q_indexes[] = {DB_Q_CLIENT, DB_Q_DEF, DB_Q_CLIENT_STATE,
    DB_Q_DEF_STATE, DB_Q_DUE, DB_Q_DONE};

static int
exists(struct store_txn *t, int db, struct key *k, MDB_val *v)
{
	MDB_val kv = key_val(k), tmp;

	if (k->over)
		return DBS_ENOTFOUND;
	return sti_get(t, db, &kv, v != NULL ? v : &tmp);
}

static int expect(struct vctx *vc, int db, struct key *k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Every index entry that a record implies must be there: a missing one is
 * reported as `fmt` and the check goes on. DBS_OK, or a read error. */
static int
expect(struct vctx *vc, int db, struct key *k, const char *fmt, ...)
{
	va_list ap;
	int rc = exists(vc->t, db, k, NULL);

	if (rc != DBS_ENOTFOUND)
		return rc;
	va_start(ap, fmt);
	vproblem(vc, fmt, ap);
	va_end(ap);
	return DBS_OK;
}

/* Read passenger `id` as a view; DBS_ENOTFOUND or DBS_ECORRUPT. */
static int
passenger_view(struct store_txn *t, uint64_t id, struct pbv *pv, MDB_val *v)
{
	uint8_t idb[8];
	MDB_val k = sti_id_val(idb, id);
	int rc;

	if ((rc = sti_get(t, DB_PASSENGERS, &k, v)) != DBS_OK)
		return rc;
	return sti_pbv(pv, v->mv_data, v->mv_size);
}

/* ------------------------------------------------------------ passengers */

static int
check_record(struct vctx *vc, uint64_t id, const MDB_val *val)
{
	struct store_txn *t = vc->t;
	Dbs__Passenger *p;
	struct pfields f;
	struct key k;
	MDB_val v;
	int rc;

	rc =
	    sti_unpack(t, &dbs__passenger__descriptor, val, DB_PASSENGERS, &p);
	if (rc != DBS_OK) {
		problem(vc, "Passenger %llu does not decode.",
		    (unsigned long long)id);
		return DBS_OK;
	}
	if (p->id != id)
		problem(vc, "Passenger record under id %llu says id %llu.",
		    (unsigned long long)id, (unsigned long long)p->id);
	if ((unsigned)p->state > DBS__PASSENGER_STATE__PS_DEAD)
		problem(vc, "Passenger %llu has an unknown state %d.",
		    (unsigned long long)id, (int)p->state);
	f.client = p->client;
	f.clen = strlen(p->client);
	f.def = p->definition;
	f.dlen = strlen(p->definition);
	f.puller = p->puller;
	f.plen = strlen(p->puller);
	f.ext = p->external_id;
	f.elen = strlen(p->external_id);
	f.state = (unsigned)p->state;
	f.next = p->next_attempt_ms;
	f.done = p->done_ms;
	for (size_t i = 0; i < 6; i++) {
		if (!sti_q_indexed(q_indexes[i], f.state))
			continue;
		sti_qkey(&k, q_indexes[i], &f, id);
		rc = expect(vc, q_indexes[i], &k,
		    "Passenger %llu of %s/%s is missing from index %s.",
		    (unsigned long long)id, p->client, p->definition,
		    sti_db_names[q_indexes[i]]);
		if (rc != DBS_OK)
			goto out;
	}
	sti_key_dedup(&k, f.client, f.clen, f.def, f.dlen, f.puller, f.plen,
	    f.ext, f.elen);
	rc = exists(t, DB_Q_DEDUP, &k, &v);
	if (rc == DBS_ENOTFOUND)
		problem(vc, "Passenger %llu has no dedup entry.",
		    (unsigned long long)id);
	else if (rc != DBS_OK)
		goto out;
	else if (v.mv_size != 8 || sti_be64(v.mv_data) != id)
		problem(vc,
		    "The dedup entry of passenger %llu points elsewhere.",
		    (unsigned long long)id);
	for (size_t i = 0; i < p->n_attachments; i++) {
		const char *name = p->attachments[i]->name;

		key_init(&k);
		key_u64(&k, id);
		key_raw(&k, name, strlen(name));
		rc = exists(t, DB_ATTACHMENTS, &k, &v);
		if (rc == DBS_ENOTFOUND)
			problem(vc,
			    "Attachment \"%s\" of passenger %llu has no "
			    "body.",
			    name, (unsigned long long)id);
		else if (rc != DBS_OK)
			goto out;
		else if (v.mv_size != p->attachments[i]->size)
			problem(vc,
			    "Attachment \"%s\" of passenger %llu has %zu "
			    "bytes, its meta says %llu.",
			    name, (unsigned long long)id, v.mv_size,
			    (unsigned long long)p->attachments[i]->size);
	}
	rc = DBS_OK;
out:
	dbs__passenger__free_unpacked(p, NULL);
	return rc;
}

static int
check_records(struct vctx *vc)
{
	struct iter it;
	int rc;

	rc = sti_iter_open(&it, vc->t, DB_PASSENGERS, NULL, 0, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		if (it.k.mv_size != 8) {
			problem(vc, "A key of passengers has %zu bytes.",
			    it.k.mv_size);
			continue;
		}
		rc = check_record(vc, sti_be64(it.k.mv_data), &it.v);
		if (rc != DBS_OK)
			break;
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND ? DBS_OK : rc;
}

/* Each entry of a queue index is the key its record gives. */
static int
check_index(struct vctx *vc, int db)
{
	struct pfields f;
	struct pbv pv;
	struct iter it;
	struct key k;
	MDB_val v;
	uint64_t id;
	int rc, grc;

	rc = sti_iter_open(&it, vc->t, db, NULL, 0, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		if (it.k.mv_size < 9) {
			problem(vc, "An entry of index %s is too short.",
			    sti_db_names[db]);
			continue;
		}
		id = sti_be64((uint8_t *)it.k.mv_data + it.k.mv_size - 8);
		grc = passenger_view(vc->t, id, &pv, &v);
		if (grc == DBS_ENOTFOUND) {
			problem(vc,
			    "Index %s has an entry for passenger %llu, which "
			    "does not exist.",
			    sti_db_names[db], (unsigned long long)id);
			continue;
		}
		if (grc == DBS_ECORRUPT)
			continue; /* reported with the records */
		if (grc != DBS_OK) {
			rc = grc;
			break;
		}
		sti_pf_from_pbv(&f, &pv);
		sti_qkey(&k, db, &f, id);
		if (!sti_q_indexed(db, f.state) || k.over ||
		    k.n != it.k.mv_size || memcmp(k.b, it.k.mv_data, k.n) != 0)
			problem(vc,
			    "Index %s has an entry for passenger %llu that "
			    "does not match its record (state %u).",
			    sti_db_names[db], (unsigned long long)id, f.state);
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND ? DBS_OK : rc;
}

/* The kept key of a purged passenger has its expiry entry. */
static int
check_purged_key(struct vctx *vc, const struct iter *it)
{
	struct key k;
	MDB_val v;
	int rc;

	key_init(&k);
	key_raw(&k, (const uint8_t *)it->v.mv_data + 8, 8);
	key_raw(&k, it->k.mv_data, it->k.mv_size);
	if (k.over) {
		problem(vc, "A dedup entry has an oversized key.");
		return DBS_OK;
	}
	rc = exists(vc->t, DB_Q_DEDUP_EXP, &k, &v);
	if (rc == DBS_ENOTFOUND) {
		problem(vc,
		    "The kept dedup entry of purged passenger %llu has no "
		    "expiry entry.",
		    (unsigned long long)sti_be64(it->v.mv_data));
		return DBS_OK;
	}
	return rc;
}

/* Each expiry entry names a kept dedup entry of that expiry. */
static int
check_dedup_exp(struct vctx *vc)
{
	struct iter it;
	MDB_val k, v;
	int rc, grc;

	rc =
	    sti_iter_open(&it, vc->t, DB_Q_DEDUP_EXP, NULL, 0, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		if (it.k.mv_size <= 8) {
			problem(vc, "A dedup expiry entry has a %zu-byte key.",
			    it.k.mv_size);
			continue;
		}
		k.mv_size = it.k.mv_size - 8;
		k.mv_data = (uint8_t *)it.k.mv_data + 8;
		grc = sti_get(vc->t, DB_Q_DEDUP, &k, &v);
		if (grc != DBS_OK && grc != DBS_ENOTFOUND) {
			rc = grc;
			break;
		}
		if (grc == DBS_ENOTFOUND || v.mv_size != 16 ||
		    memcmp((uint8_t *)v.mv_data + 8, it.k.mv_data, 8) != 0)
			problem(vc, "A dedup expiry entry names no kept "
				    "dedup entry.");
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND ? DBS_OK : rc;
}

static int
check_dedup(struct vctx *vc)
{
	struct pfields f;
	struct pbv pv;
	struct iter it;
	struct key k;
	MDB_val v;
	uint64_t id;
	int rc, grc;

	rc = sti_iter_open(&it, vc->t, DB_Q_DEDUP, NULL, 0, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		if (it.v.mv_size == 16) {
			if ((rc = check_purged_key(vc, &it)) != DBS_OK)
				break;
			continue;
		}
		if (it.v.mv_size != 8) {
			problem(vc, "A dedup entry has a %zu-byte value.",
			    it.v.mv_size);
			continue;
		}
		id = sti_be64(it.v.mv_data);
		grc = passenger_view(vc->t, id, &pv, &v);
		if (grc == DBS_ENOTFOUND) {
			problem(vc,
			    "A dedup entry points to passenger %llu, which "
			    "does not exist.",
			    (unsigned long long)id);
			continue;
		}
		if (grc == DBS_ECORRUPT)
			continue;
		if (grc != DBS_OK) {
			rc = grc;
			break;
		}
		sti_pf_from_pbv(&f, &pv);
		sti_key_dedup(&k, f.client, f.clen, f.def, f.dlen, f.puller,
		    f.plen, f.ext, f.elen);
		if (k.over || k.n != it.k.mv_size ||
		    memcmp(k.b, it.k.mv_data, k.n) != 0)
			problem(vc,
			    "A dedup entry points to passenger %llu, whose "
			    "puller and external id differ.",
			    (unsigned long long)id);
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND ? DBS_OK : rc;
}

/* No orphan bodies: each belongs to a passenger with a meta of its name. */
static int
check_attachments(struct vctx *vc)
{
	Dbs__Passenger *p;
	struct iter it;
	uint8_t idb[8];
	MDB_val k, v;
	uint64_t id;
	int rc, grc;

	rc =
	    sti_iter_open(&it, vc->t, DB_ATTACHMENTS, NULL, 0, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		const char *name = (const char *)it.k.mv_data + 8;
		size_t nlen = it.k.mv_size - 8;
		bool found = false;

		if (it.k.mv_size <= 8) {
			problem(vc, "An attachment key is too short.");
			continue;
		}
		id = sti_be64(it.k.mv_data);
		k = sti_id_val(idb, id);
		grc = sti_get(vc->t, DB_PASSENGERS, &k, &v);
		if (grc == DBS_ENOTFOUND) {
			problem(vc,
			    "Attachment \"%.*s\" belongs to passenger %llu, "
			    "which does not exist.",
			    (int)nlen, name, (unsigned long long)id);
			continue;
		}
		if (grc != DBS_OK) {
			rc = grc;
			break;
		}
		if (sti_unpack(vc->t, &dbs__passenger__descriptor, &v,
			DB_PASSENGERS, &p) != DBS_OK)
			continue;
		for (size_t i = 0; i < p->n_attachments && !found; i++)
			found =
			    strlen(p->attachments[i]->name) == nlen &&
			    memcmp(p->attachments[i]->name, name, nlen) == 0;
		dbs__passenger__free_unpacked(p, NULL);
		if (!found)
			problem(vc,
			    "Attachment \"%.*s\" of passenger %llu is not in "
			    "its record.",
			    (int)nlen, name, (unsigned long long)id);
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND ? DBS_OK : rc;
}

/* q.counts against the state index, one definition (group) at a time. */
static int
compare_counts(
    struct vctx *vc, const uint8_t *g, size_t glen, const uint64_t n[3])
{
	MDB_val k = {glen, (void *)g}, v;
	uint64_t c[3] = {0, 0, 0};
	int rc;

	rc = sti_get(vc->t, DB_Q_COUNTS, &k, &v);
	if (rc != DBS_OK && rc != DBS_ENOTFOUND)
		return rc;
	if (rc == DBS_OK && v.mv_size == 24)
		for (int s = 0; s < 3; s++)
			c[s] = sti_be64((uint8_t *)v.mv_data + 8 * s);
	if (c[0] != n[0] || c[1] != n[1] || c[2] != n[2])
		problem(vc,
		    "Counts of %s/%s say %llu/%llu/%llu pending/done/dead, "
		    "the queue has %llu/%llu/%llu.",
		    (const char *)g,
		    (const char *)g + strlen((const char *)g) + 1,
		    (unsigned long long)c[0], (unsigned long long)c[1],
		    (unsigned long long)c[2], (unsigned long long)n[0],
		    (unsigned long long)n[1], (unsigned long long)n[2]);
	return DBS_OK;
}

static int
check_counts(struct vctx *vc)
{
	uint8_t group[STORE_KEY_MAX];
	size_t glen = 0;
	uint64_t n[3] = {0, 0, 0};
	struct iter it;
	int rc;

	rc =
	    sti_iter_open(&it, vc->t, DB_Q_DEF_STATE, NULL, 0, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		const uint8_t *kb = it.k.mv_data, *nul;
		size_t gl, klen = it.k.mv_size;
		unsigned s;

		nul = memchr(kb, 0, klen);
		nul = nul ? memchr(nul + 1, 0, klen - (nul + 1 - kb)) : NULL;
		if (nul == NULL || klen != (size_t)(nul + 1 - kb) + 9)
			continue; /* reported by check_index */
		gl = (size_t)(nul + 1 - kb);
		s = kb[gl];
		if (gl != glen || memcmp(group, kb, gl) != 0) {
			if (glen > 0 && (rc = compare_counts(
					     vc, group, glen, n)) != DBS_OK)
				break;
			memcpy(group, kb, gl);
			glen = gl;
			n[0] = n[1] = n[2] = 0;
		}
		if (s < 3)
			n[s]++;
	}
	sti_iter_close(&it);
	if (rc != DBS_ENOTFOUND)
		return rc;
	if (glen > 0 && (rc = compare_counts(vc, group, glen, n)) != DBS_OK)
		return rc;

	/* Counts of definitions that have no passenger at all. */
	rc = sti_iter_open(&it, vc->t, DB_Q_COUNTS, NULL, 0, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		struct iter in;
		int irc;

		irc = sti_iter_open(&in, vc->t, DB_Q_DEF_STATE, it.k.mv_data,
		    it.k.mv_size, NULL, 0, false);
		if (irc == DBS_OK)
			irc = sti_iter_next(&in);
		sti_iter_close(&in);
		if (irc == DBS_ENOTFOUND)
			problem(vc, "Counts are kept for a definition with no "
				    "passengers.");
		else if (irc != DBS_OK) {
			rc = irc;
			break;
		}
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND ? DBS_OK : rc;
}

/* ------------------------------------------------------------------ logs */

static int
log_view(struct store_txn *t, uint64_t lid, struct pbv *pv)
{
	uint8_t idb[8];
	MDB_val k = sti_id_val(idb, lid), v;
	int rc;

	if ((rc = sti_get(t, DB_LOGS, &k, &v)) != DBS_OK)
		return rc;
	return sti_pbv(pv, v.mv_data, v.mv_size);
}

static void
log_client_key(struct key *k, const struct pbv *pv, uint64_t lid)
{
	key_init(k);
	key_strn(k, pv->s[LF_CLIENT], pv->len[LF_CLIENT]);
	key_u64(k, lid);
}

static void
log_time_key(struct key *k, const struct pbv *pv, uint64_t lid)
{
	key_init(k);
	key_strn(k, pv->s[LF_CLIENT], pv->len[LF_CLIENT]);
	key_i64(k, (int64_t)pv->v[LF_FINISHED]);
	key_u64(k, lid);
}

static int
check_logs(struct vctx *vc)
{
	struct iter it;
	struct pbv pv;
	struct key k;
	uint64_t lid;
	int rc;

	rc = sti_iter_open(&it, vc->t, DB_LOGS, NULL, 0, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		if (it.k.mv_size != 8 ||
		    sti_pbv(&pv, it.v.mv_data, it.v.mv_size) != DBS_OK) {
			problem(vc, "A log record is malformed.");
			continue;
		}
		lid = sti_be64(it.k.mv_data);
		if (pv.v[LF_ID] != lid)
			problem(vc, "Log record under id %llu says id %llu.",
			    (unsigned long long)lid,
			    (unsigned long long)pv.v[LF_ID]);
		log_client_key(&k, &pv, lid);
		if ((rc = expect(vc, DB_LOGS_CLIENT, &k,
			 "Log %llu is missing from logs.client.",
			 (unsigned long long)lid)) != DBS_OK)
			break;
		log_time_key(&k, &pv, lid);
		if ((rc = expect(vc, DB_LOGS_TIME, &k,
			 "Log %llu is missing from logs.time.",
			 (unsigned long long)lid)) != DBS_OK)
			break;
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND ? DBS_OK : rc;
}

/* Entries of logs.client, logs.time and log.links name their log last
 * (log.pids first), and must be what the log's fields give. */
static int
check_log_index(struct vctx *vc, int db)
{
	struct iter it;
	struct pbv pv;
	struct key k;
	uint64_t lid, pid = 0;
	int rc, grc;

	rc = sti_iter_open(&it, vc->t, db, NULL, 0, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		const uint8_t *kb = it.k.mv_data;
		size_t klen = it.k.mv_size;

		if (klen < 16 && !(db == DB_LOGS_CLIENT && klen >= 9)) {
			problem(vc, "An entry of %s is too short.",
			    sti_db_names[db]);
			continue;
		}
		if (db == DB_LOG_PIDS) {
			lid = sti_be64(kb);
			pid = sti_be64(kb + 8);
		} else {
			lid = sti_be64(kb + klen - 8);
			if (db == DB_LOG_LINKS)
				pid = sti_be64(kb + klen - 16);
		}
		grc = log_view(vc->t, lid, &pv);
		if (grc == DBS_ENOTFOUND) {
			problem(vc,
			    "%s has an entry for log %llu, which does not "
			    "exist.",
			    sti_db_names[db], (unsigned long long)lid);
			continue;
		}
		if (grc == DBS_ECORRUPT)
			continue;
		if (grc != DBS_OK) {
			rc = grc;
			break;
		}
		switch (db) {
		case DB_LOGS_CLIENT:
			log_client_key(&k, &pv, lid);
			break;
		case DB_LOGS_TIME:
			log_time_key(&k, &pv, lid);
			break;
		default:
			key_init(&k);
			key_strn(&k, pv.s[LF_CLIENT], pv.len[LF_CLIENT]);
			key_u64(&k, pid);
			key_u64(&k, lid);
			break;
		}
		if (db == DB_LOG_PIDS) {
			/* The mirror: its link must exist. */
			if ((rc = expect(vc, DB_LOG_LINKS, &k,
				 "Log %llu lists passenger %llu without a "
				 "link.",
				 (unsigned long long)lid,
				 (unsigned long long)pid)) != DBS_OK)
				break;
			continue;
		}
		if (k.n != klen || memcmp(k.b, kb, klen) != 0)
			problem(vc,
			    "%s has an entry for log %llu that does not match "
			    "it.",
			    sti_db_names[db], (unsigned long long)lid);
		if (db == DB_LOG_LINKS) {
			key_init(&k);
			key_u64(&k, lid);
			key_u64(&k, pid);
			if ((rc = expect(vc, DB_LOG_PIDS, &k,
				 "The link of log %llu to passenger %llu "
				 "has no mirror.",
				 (unsigned long long)lid,
				 (unsigned long long)pid)) != DBS_OK)
				break;
		}
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND ? DBS_OK : rc;
}

/* -------------------------------------------------------------- sessions */

static int
check_sessions(struct vctx *vc)
{
	struct iter it;
	struct pbv pv;
	struct key k;
	MDB_val kv, v;
	int rc, grc;

	rc = sti_iter_open(&it, vc->t, DB_SESSIONS, NULL, 0, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		if (sti_pbv(&pv, it.v.mv_data, it.v.mv_size) != DBS_OK) {
			problem(vc, "A session record does not decode.");
			continue;
		}
		key_init(&k);
		key_strn(&k, pv.s[SF_CLIENT], pv.len[SF_CLIENT]);
		key_strn(&k, pv.s[SF_USER], pv.len[SF_USER]);
		key_raw(&k, it.k.mv_data, it.k.mv_size);
		if ((rc = expect(vc, DB_SESSIONS_USER, &k,
			 "A session of %.*s/%.*s is missing from "
			 "sessions.user.",
			 (int)pv.len[SF_CLIENT], pv.s[SF_CLIENT],
			 (int)pv.len[SF_USER], pv.s[SF_USER])) != DBS_OK)
			break;
	}
	sti_iter_close(&it);
	if (rc != DBS_ENOTFOUND)
		return rc;

	rc = sti_iter_open(
	    &it, vc->t, DB_SESSIONS_USER, NULL, 0, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		const uint8_t *kb = it.k.mv_data, *nul;
		size_t klen = it.k.mv_size, hl;

		nul = memchr(kb, 0, klen);
		nul = nul ? memchr(nul + 1, 0, klen - (nul + 1 - kb)) : NULL;
		hl = nul ? klen - (size_t)(nul + 1 - kb) : 0;
		if (hl == 0) {
			problem(vc, "An entry of sessions.user is malformed.");
			continue;
		}
		kv.mv_size = hl;
		kv.mv_data = (void *)(nul + 1);
		grc = sti_get(vc->t, DB_SESSIONS, &kv, &v);
		if (grc == DBS_ENOTFOUND) {
			problem(vc, "sessions.user lists a session that does "
				    "not exist.");
			continue;
		}
		if (grc != DBS_OK) {
			rc = grc;
			break;
		}
		if (sti_pbv(&pv, v.mv_data, v.mv_size) != DBS_OK)
			continue;
		key_init(&k);
		key_strn(&k, pv.s[SF_CLIENT], pv.len[SF_CLIENT]);
		key_strn(&k, pv.s[SF_USER], pv.len[SF_USER]);
		key_raw(&k, nul + 1, hl);
		if (k.n != klen || memcmp(k.b, kb, klen) != 0)
			problem(vc, "sessions.user lists a session under "
				    "another user.");
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND ? DBS_OK : rc;
}

/* ---------------------------------------------------- events, meta, misc */

/* The next id to hand out, as kept in meta (0 when never written). */
static int
high_water(struct store_txn *t, const char *name, uint64_t *next)
{
	MDB_val k = {strlen(name), (void *)name}, v;
	int rc;

	*next = 0;
	if (t->write) {
		if (strcmp(name, META_NEXT_SEQ) == 0)
			*next = t->next_seq;
		else if (strcmp(name, META_NEXT_PID) == 0)
			*next = t->next_pid;
		else
			*next = t->next_log;
		return DBS_OK;
	}
	rc = sti_get(t, DB_META, &k, &v);
	if (rc == DBS_OK && v.mv_size == 8)
		*next = sti_be64(v.mv_data);
	return rc == DBS_ENOTFOUND || rc == DBS_OK ? DBS_OK : rc;
}

/* No record may carry an id at or past the next one to hand out. */
static int
check_ids(struct vctx *vc, int db, const char *name)
{
	struct iter it;
	uint64_t next, last;
	int rc;

	if ((rc = high_water(vc->t, name, &next)) != DBS_OK)
		return rc;
	rc = sti_iter_open(&it, vc->t, db, NULL, 0, NULL, 0, true);
	if (rc != DBS_OK)
		return rc;
	rc = sti_iter_next(&it);
	if (rc == DBS_OK && it.k.mv_size == 8) {
		last = sti_be64(it.k.mv_data);
		if (next != 0 && last >= next)
			problem(vc,
			    "The last id of %s is %llu, yet %llu is the next "
			    "to hand out.",
			    sti_db_names[db], (unsigned long long)last,
			    (unsigned long long)next);
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND ? DBS_OK : rc;
}

static int
check_events(struct vctx *vc)
{
	struct iter it;
	struct pbv pv;
	uint64_t prev = 0, seq, next = 0;
	int rc;

	if ((rc = high_water(vc->t, META_NEXT_SEQ, &next)) != DBS_OK)
		return rc;
	rc = sti_iter_open(&it, vc->t, DB_EVENTS, NULL, 0, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		if (it.k.mv_size != 8 ||
		    sti_pbv(&pv, it.v.mv_data, it.v.mv_size) != DBS_OK) {
			problem(vc, "An event is malformed.");
			continue;
		}
		seq = sti_be64(it.k.mv_data);
		if (pv.v[EF_SEQ] != seq)
			problem(vc, "Event %llu says seq %llu.",
			    (unsigned long long)seq,
			    (unsigned long long)pv.v[EF_SEQ]);
		if (seq <= prev)
			problem(vc, "Event %llu follows event %llu.",
			    (unsigned long long)seq, (unsigned long long)prev);
		if (next != 0 && seq >= next)
			problem(vc,
			    "Event %llu is past the sequence high-water mark "
			    "%llu.",
			    (unsigned long long)seq, (unsigned long long)next);
		prev = seq;
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND ? DBS_OK : rc;
}

/* Records whose keys are made of their own fields: users and backups. */
static int
check_keyed(struct vctx *vc, int db)
{
	const ProtobufCMessageDescriptor *d =
	    db == DB_USERS ? &dbs__user__descriptor
			   : &dbs__config_backup__descriptor;
	ProtobufCMessage *m;
	struct iter it;
	struct key k;
	int rc;

	rc = sti_iter_open(&it, vc->t, db, NULL, 0, NULL, 0, false);
	if (rc != DBS_OK)
		return rc;
	while ((rc = sti_iter_next(&it)) == DBS_OK) {
		if (sti_unpack(vc->t, d, &it.v, db, &m) != DBS_OK) {
			problem(vc, "A record of %s does not decode.",
			    sti_db_names[db]);
			continue;
		}
		key_init(&k);
		if (db == DB_USERS) {
			Dbs__User *u = (Dbs__User *)m;

			key_str(&k, u->client);
			key_raw(&k, u->username, strlen(u->username));
		} else {
			Dbs__ConfigBackup *b = (Dbs__ConfigBackup *)m;

			key_str(&k, b->node);
			key_u64(&k, b->version);
		}
		if (k.n != it.k.mv_size || memcmp(k.b, it.k.mv_data, k.n) != 0)
			problem(vc, "A record of %s is under the wrong key.",
			    sti_db_names[db]);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	sti_iter_close(&it);
	return rc == DBS_ENOTFOUND ? DBS_OK : rc;
}

int
store_verify(struct store_txn *txn,
    void (*report)(void *ctx, const char *problem), void *ctx,
    uint64_t *problems)
{
	if (sti_pg(txn))
		return stpg_verify(txn, report, ctx, problems);
	struct vctx vc = {txn, report, ctx, 0};
	int rc;

	if (problems != NULL)
		*problems = 0;
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = check_records(&vc)) != DBS_OK)
		return rc;
	for (size_t i = 0; i < 6; i++)
		if ((rc = check_index(&vc, q_indexes[i])) != DBS_OK)
			return rc;
	if ((rc = check_dedup(&vc)) != DBS_OK ||
	    (rc = check_dedup_exp(&vc)) != DBS_OK ||
	    (rc = check_attachments(&vc)) != DBS_OK ||
	    (rc = check_counts(&vc)) != DBS_OK ||
	    (rc = check_logs(&vc)) != DBS_OK ||
	    (rc = check_log_index(&vc, DB_LOGS_CLIENT)) != DBS_OK ||
	    (rc = check_log_index(&vc, DB_LOGS_TIME)) != DBS_OK ||
	    (rc = check_log_index(&vc, DB_LOG_LINKS)) != DBS_OK ||
	    (rc = check_log_index(&vc, DB_LOG_PIDS)) != DBS_OK ||
	    (rc = check_sessions(&vc)) != DBS_OK ||
	    (rc = check_keyed(&vc, DB_USERS)) != DBS_OK ||
	    (rc = check_keyed(&vc, DB_CONFIG)) != DBS_OK ||
	    (rc = check_events(&vc)) != DBS_OK ||
	    (rc = check_ids(&vc, DB_PASSENGERS, META_NEXT_PID)) != DBS_OK ||
	    (rc = check_ids(&vc, DB_LOGS, META_NEXT_LOG)) != DBS_OK)
		return rc;
	if (problems != NULL)
		*problems = vc.problems;
	return DBS_OK;
}
