/*
 * store.c — the LMDB environment behind store.h: opening and locking,
 * transactions, map growth, meta values, statistics and copies, and the
 * small helpers (keys, record views, cursors, error texts) that the other
 * files of store/ share through store_impl.h.
 *
 * Why it looks the way it does. Only databusd writes, so a write transaction
 * is a singleton embedded in the store with its scratch buffers, and a burst
 * of group commits allocates nothing. LMDB forbids opening one environment
 * twice in a process (closing either copy would drop the other's POSIX
 * locks), so the store keeps a list of the directories it has open and
 * refuses a second open. A full map is not fatal: the write transaction is
 * aborted, the map doubles (up to max_size) as soon as no read transaction
 * of this process is open, and the caller redoes its changes.
 *
 * Poisoning. A call that fails inside a write transaction after it has
 * begun to write (a full map, an I/O error, no memory) leaves the
 * transaction half changed, so the transaction keeps that error: every
 * later call, and the commit, return it until store_txn_abort(). Errors
 * found before anything is written (DBS_EINVAL, DBS_ETOOBIG, DBS_ENOTFOUND,
 * DBS_EEXIST) leave it usable. A full map also ends the LMDB transaction
 * at once, so that the map can grow before the caller redoes its work.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "store_impl.h"
#include "store_pg.h"
#include "wire.h"

#define DEFAULT_MAP_SIZE   (UINT64_C(256) << 20)
#define DEFAULT_MAX_SIZE   (UINT64_C(64) << 30)
#define DEFAULT_EVENT_KEEP 100000
#define DEFAULT_DEDUP_MS   (INT64_C(7) * 24 * 3600 * 1000)
#define MAX_DBS            32

const char *const sti_db_names[DB__COUNT] = {
    [DB_META] = "meta",
    [DB_PASSENGERS] = "passengers",
    [DB_ATTACHMENTS] = "attachments",
    [DB_Q_CLIENT] = "q.client",
    [DB_Q_DEF] = "q.def",
    [DB_Q_CLIENT_STATE] = "q.client.st",
    [DB_Q_DEF_STATE] = "q.def.st",
    [DB_Q_DUE] = "q.due",
    [DB_Q_DONE] = "q.done",
    [DB_Q_DEDUP] = "q.dedup",
    [DB_Q_COUNTS] = "q.counts",
    [DB_LOGS] = "logs",
    [DB_LOGS_CLIENT] = "logs.client",
    [DB_LOGS_TIME] = "logs.time",
    [DB_LOG_LINKS] = "log.links",
    [DB_LOG_PIDS] = "log.pids",
    [DB_USERS] = "users",
    [DB_SESSIONS] = "sessions",
    [DB_SESSIONS_USER] = "sessions.user",
    [DB_CONFIG] = "config",
    [DB_EVENTS] = "events",
    [DB_Q_DEDUP_EXP] = "q.dedup.exp",
    [DB_USERS_IMPORTED] = "users.imported",
};

/* Stores open in this process, by directory (see the top of the file). */
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct store *registry;

/* ------------------------------------------------------------- errors */

static int
from_mdb(int mrc)
{
	switch (mrc) {
	case MDB_SUCCESS:
		return DBS_OK;
	case MDB_NOTFOUND:
		return DBS_ENOTFOUND;
	case MDB_KEYEXIST:
		return DBS_EEXIST;
	case MDB_MAP_FULL:
		return DBS_EMAPFULL;
	case MDB_TXN_FULL:
	case MDB_BAD_VALSIZE:
		return DBS_ETOOBIG;
	case MDB_READERS_FULL:
	case MDB_MAP_RESIZED:
		return DBS_EBUSY;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_INCOMPATIBLE:
		return DBS_ECORRUPT;
	case EIO:
		return DBS_EIO;
	case ENOSPC:
	case EDQUOT:
		return DBS_ENOSPC;
	case ENOMEM:
		return DBS_ENOMEM;
	case EROFS:
		return DBS_EPERM;
	default:
		return mrc > 0 ? dbs_from_errno(mrc) : DBS_EIO;
	}
}

void
sti_set_error(struct store *st, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&st->mu);
	va_start(ap, fmt);
	vsnprintf(st->err, sizeof(st->err), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&st->mu);
}

static void append_error(struct store *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
append_error(struct store *st, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	pthread_mutex_lock(&st->mu);
	n = strlen(st->err);
	va_start(ap, fmt);
	vsnprintf(st->err + n, sizeof(st->err) - n, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&st->mu);
}

/*
 * Double the map, up to max_size. Called only when this process has no
 * write transaction; if read transactions are open, mdb_env_set_mapsize
 * would pull the map from under them, so the growth waits for the next
 * write transaction that begins when none is open.
 */
static void
map_grow(struct store *st)
{
	MDB_envinfo info;
	uint64_t cur, want;
	int mrc = 0;
	bool later = false;

	if (mdb_env_info(st->env, &info) != 0)
		return;
	cur = info.me_mapsize;
	if (cur >= st->max_size) {
		append_error(st,
		    "; the map is at its maximum size (%llu bytes)",
		    (unsigned long long)cur);
		return;
	}
	want = cur > st->max_size / 2 ? st->max_size : cur * 2;
	want -= want % st->page_size;
	if (want <= cur)
		return;
	pthread_mutex_lock(&st->mu);
	if (st->readers == 0) {
		mrc = mdb_env_set_mapsize(st->env, want);
		st->grow_to = 0;
	} else {
		st->grow_to = want;
		later = true;
	}
	pthread_mutex_unlock(&st->mu);
	if (mrc != 0)
		append_error(
		    st, "; growing the map failed: %s", mdb_strerror(mrc));
	else
		append_error(st, "; map %s to %llu bytes",
		    later ? "will grow" : "grown", (unsigned long long)want);
}

int
sti_fail(struct store_txn *t, int mrc, const char *op, int db)
{
	struct store *st = t->st;
	int err = from_mdb(mrc);

	sti_set_error(st, "%s(%s): %s", op, db >= 0 ? sti_db_names[db] : "env",
	    mdb_strerror(mrc));
	if (!t->write)
		return err;
	if (t->poison == 0)
		t->poison = err;
	if (mrc == MDB_MAP_FULL) {
		if (t->mt != NULL) {
			mdb_txn_abort(t->mt);
			t->mt = NULL;
		}
		map_grow(st);
	}
	return err;
}

int
sti_usable(struct store_txn *t, bool write)
{
	if (t == NULL || (write && !t->write))
		return DBS_EINVAL;
	if (t->poison != 0)
		return t->poison;
	if (t->mt == NULL && t->pg == NULL)
		return DBS_EINVAL;
	return DBS_OK;
}

/* ------------------------------------------------------------- access */

int
sti_get(struct store_txn *t, int db, MDB_val *k, MDB_val *v)
{
	int mrc;

	if (t->st->absent & 1u << db)
		return DBS_ENOTFOUND;
	sti_count(t->st, STORE_OP_GET);
	mrc = mdb_get(t->mt, t->st->dbi[db], k, v);
	if (mrc == MDB_NOTFOUND)
		return DBS_ENOTFOUND;
	if (mrc != 0)
		return sti_fail(t, mrc, "mdb_get", db);
	return DBS_OK;
}

int
sti_put(struct store_txn *t, int db, MDB_val *k, MDB_val *v, unsigned flags)
{
	int mrc = mdb_put(t->mt, t->st->dbi[db], k, v, flags);

	sti_count(t->st, STORE_OP_PUT);
	if (mrc != 0) {
		/* An append out of order means our counters are wrong. */
		if (mrc == MDB_KEYEXIST && (flags & MDB_APPEND))
			mrc = MDB_CORRUPTED;
		return sti_fail(t, mrc, "mdb_put", db);
	}
	t->dirty = true;
	return DBS_OK;
}

int
sti_put_msg(struct store_txn *t, int db, MDB_val *k, const ProtobufCMessage *m,
    unsigned flags, MDB_val *stored)
{
	MDB_val v;
	int rc;

	v.mv_size = protobuf_c_message_get_packed_size(m);
	v.mv_data = NULL;
	rc = sti_put(t, db, k, &v, flags | MDB_RESERVE);
	if (rc != DBS_OK)
		return rc;
	protobuf_c_message_pack(m, v.mv_data);
	if (stored != NULL)
		*stored = v;
	return DBS_OK;
}

int
sti_del(struct store_txn *t, int db, MDB_val *k)
{
	int mrc = mdb_del(t->mt, t->st->dbi[db], k, NULL);

	sti_count(t->st, STORE_OP_DEL);
	if (mrc == MDB_NOTFOUND)
		return DBS_ENOTFOUND;
	if (mrc != 0)
		return sti_fail(t, mrc, "mdb_del", db);
	t->dirty = true;
	return DBS_OK;
}

int
sti_del_any(struct store_txn *t, int db, MDB_val *k)
{
	int rc = sti_del(t, db, k);

	return rc == DBS_ENOTFOUND ? DBS_OK : rc;
}

int
sti_put_key(struct store_txn *t, int db, struct key *k)
{
	MDB_val kv = key_val(k), v = {0, (void *)""};

	if (k->over)
		return DBS_ETOOBIG;
	return sti_put(t, db, &kv, &v, 0);
}

int
sti_del_key(struct store_txn *t, int db, struct key *k)
{
	MDB_val kv = key_val(k);

	if (k->over)
		return DBS_ETOOBIG;
	return sti_del_any(t, db, &kv);
}

int
sti_unpack(struct store_txn *t, const ProtobufCMessageDescriptor *d,
    const MDB_val *v, int db, void *out)
{
	ProtobufCMessage *m;

	m = protobuf_c_message_unpack(d, NULL, v->mv_size, v->mv_data);
	if (m == NULL) {
		sti_set_error(
		    t->st, "a record of %s does not decode", sti_db_names[db]);
		return DBS_ECORRUPT;
	}
	*(ProtobufCMessage **)out = m;
	return DBS_OK;
}

int
sti_get_by_id(struct store_txn *t, int db, uint64_t id,
    const ProtobufCMessageDescriptor *d, void *out)
{
	uint8_t idb[8];
	MDB_val k, v;
	int rc;

	if (out != NULL)
		*(ProtobufCMessage **)out = NULL;
	if (out == NULL)
		return DBS_EINVAL;
	if ((rc = sti_usable(t, false)) != DBS_OK)
		return rc;
	k = sti_id_val(idb, id);
	if ((rc = sti_get(t, db, &k, &v)) != DBS_OK)
		return rc;
	return sti_unpack(t, d, &v, db, out);
}

int
sti_iter_open(struct iter *it, struct store_txn *t, int db, const void *prefix,
    size_t plen, const void *from, size_t flen, bool desc)
{
	int mrc;

	memset(it, 0, sizeof(*it));
	it->t = t;
	it->db = db;
	it->prefix = prefix;
	it->plen = plen;
	it->from = from;
	it->flen = flen;
	it->desc = desc;
	if (t->st->absent & 1u << db)
		return DBS_OK; /* it->c NULL: an empty iteration */
	mrc = mdb_cursor_open(t->mt, t->st->dbi[db], &it->c);
	if (mrc != 0) {
		it->c = NULL;
		return sti_fail(t, mrc, "mdb_cursor_open", db);
	}
	return DBS_OK;
}

static int
iter_first(struct iter *it)
{
	uint8_t end[STORE_KEY_MAX];
	size_t n;
	bool bounded;
	int mrc;

	if (!it->desc) {
		if (it->from != NULL) {
			it->k.mv_size = it->flen;
			it->k.mv_data = (void *)it->from;
		} else {
			it->k.mv_size = it->plen;
			it->k.mv_data = (void *)it->prefix;
		}
		if (it->k.mv_size == 0)
			return mdb_cursor_get(
			    it->c, &it->k, &it->v, MDB_FIRST);
		return mdb_cursor_get(it->c, &it->k, &it->v, MDB_SET_RANGE);
	}
	if (it->from != NULL) {
		n = it->flen < sizeof(end) ? it->flen : sizeof(end);
		memcpy(end, it->from, n);
		bounded = n > 0;
	} else {
		n = it->plen < sizeof(end) ? it->plen : sizeof(end);
		if (n > 0)
			memcpy(end, it->prefix, n);
		bounded = sti_prefix_end(end, &n);
	}
	if (!bounded)
		return mdb_cursor_get(it->c, &it->k, &it->v, MDB_LAST);
	it->k.mv_size = n;
	it->k.mv_data = end;
	mrc = mdb_cursor_get(it->c, &it->k, &it->v, MDB_SET_RANGE);
	if (mrc == MDB_NOTFOUND)
		return mdb_cursor_get(it->c, &it->k, &it->v, MDB_LAST);
	if (mrc != 0)
		return mrc;
	return mdb_cursor_get(it->c, &it->k, &it->v, MDB_PREV);
}

int
sti_iter_next(struct iter *it)
{
	int mrc;

	if (it->c == NULL)
		return DBS_ENOTFOUND;
	sti_count(it->t->st, STORE_OP_CURSOR);
	if (!it->started) {
		it->started = true;
		mrc = iter_first(it);
	} else {
		mrc = mdb_cursor_get(
		    it->c, &it->k, &it->v, it->desc ? MDB_PREV : MDB_NEXT);
	}
	if (mrc == MDB_NOTFOUND)
		return DBS_ENOTFOUND;
	if (mrc != 0)
		return sti_fail(it->t, mrc, "mdb_cursor_get", it->db);
	if (it->k.mv_size < it->plen ||
	    (it->plen > 0 && memcmp(it->k.mv_data, it->prefix, it->plen) != 0))
		return DBS_ENOTFOUND;
	return DBS_OK;
}

void
sti_iter_close(struct iter *it)
{
	if (it->c != NULL)
		mdb_cursor_close(it->c);
	it->c = NULL;
}

/* ------------------------------------------------------------ helpers */

static bool
get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		if (p >= end)
			return false;
		v |= (uint64_t)(*p & 0x7f) << shift;
		if ((*p++ & 0x80) == 0) {
			*pp = p;
			*out = v;
			return true;
		}
	}
	return false;
}

int
sti_pbv(struct pbv *pv, const void *data, size_t len)
{
	const uint8_t *p = data, *end = p + len;
	uint64_t tag, x;

	for (int i = 0; i < PBV_FIELDS; i++) {
		pv->v[i] = 0;
		pv->s[i] = "";
		pv->len[i] = 0;
	}
	while (p < end) {
		if (!get_varint(&p, end, &tag) || tag >> 3 == 0)
			return DBS_ECORRUPT;
		uint64_t f = tag >> 3;
		switch (tag & 7) {
		case 0:
			if (!get_varint(&p, end, &x))
				return DBS_ECORRUPT;
			if (f < PBV_FIELDS)
				pv->v[f] = x;
			break;
		case 1:
			if (end - p < 8)
				return DBS_ECORRUPT;
			p += 8;
			break;
		case 2:
			if (!get_varint(&p, end, &x) ||
			    x > (uint64_t)(end - p))
				return DBS_ECORRUPT;
			if (f < PBV_FIELDS) {
				pv->s[f] = (const char *)p;
				pv->len[f] = x;
			}
			p += x;
			break;
		case 5:
			if (end - p < 4)
				return DBS_ECORRUPT;
			p += 4;
			break;
		default:
			return DBS_ECORRUPT;
		}
	}
	return DBS_OK;
}

int
sti_name(const char *s, size_t max, bool empty_ok)
{
	size_t n;

	if (s == NULL)
		return DBS_EINVAL;
	n = strlen(s);
	if (n == 0 && !empty_ok)
		return DBS_EINVAL;
	return n > max ? DBS_ETOOBIG : DBS_OK;
}

bool
sti_prefix_end(uint8_t *p, size_t *n)
{
	while (*n > 0) {
		if (p[*n - 1] != 0xff) {
			p[*n - 1]++;
			return true;
		}
		(*n)--;
	}
	return false;
}

int
sti_scope_prefix(
    struct key *k, const char *client, const char *def, bool empty_ok)
{
	int rc;

	key_init(k);
	if (def != NULL && client == NULL)
		return DBS_EINVAL;
	if (client != NULL) {
		if ((rc = sti_name(client, STORE_NAME_MAX, empty_ok)) !=
		    DBS_OK)
			return rc;
		key_str(k, client);
	}
	if (def != NULL) {
		if ((rc = sti_name(def, STORE_NAME_MAX, empty_ok)) != DBS_OK)
			return rc;
		key_str(k, def);
	}
	return DBS_OK;
}

/* How many ids sti_purge_by_time collects before it closes its cursor and
 * deletes them. */
#define PURGE_BATCH 256

/* The length of the group (`nuls` NUL-terminated names) that starts key
 * `kb`, or 0 when the key is not `group time id`. */
static size_t
purge_group(const uint8_t *kb, size_t klen, int nuls)
{
	size_t glen = 0;

	for (int i = 0; i < nuls; i++) {
		const uint8_t *nul = memchr(kb + glen, 0, klen - glen);

		if (nul == NULL)
			return 0;
		glen = (size_t)(nul + 1 - kb);
	}
	return klen == glen + 16 ? glen : 0;
}

int
sti_purge_by_time(struct store_txn *t, int db, const struct key *prefix,
    int nuls, int64_t before_ms, bool all, size_t max,
    int (*del)(struct store_txn *t, uint64_t id), uint64_t *total)
{
	uint64_t ids[PURGE_BATCH];
	struct key from = *prefix;
	struct iter it;
	size_t n;
	int rc;

	*total = 0;
	do {
		n = 0;
		rc = sti_iter_open(
		    &it, t, db, prefix->b, prefix->n, from.b, from.n, false);
		if (rc != DBS_OK)
			break;
		while (n < PURGE_BATCH && (max == 0 || *total + n < max) &&
		       (rc = sti_iter_next(&it)) == DBS_OK) {
			const uint8_t *kb = it.k.mv_data;
			size_t glen, klen = it.k.mv_size;

			if ((glen = purge_group(kb, klen, nuls)) == 0)
				continue;
			if (all || sti_be_i64(kb + glen) < before_ms) {
				/* Resume after this key (+ a NUL byte is the
				 * next possible key), so that a dangling entry
				 * is stepped over, not found again. */
				ids[n++] = sti_be64(kb + glen + 8);
				key_init(&from);
				key_raw(&from, kb, klen);
				key_u8(&from, 0);
				continue;
			}
			/* Past the cut in this group: the next group. */
			key_init(&from);
			key_raw(&from, kb, glen);
			if (!sti_prefix_end(from.b, &from.n))
				break;
			sti_iter_close(&it);
			rc = sti_iter_open(&it, t, db, prefix->b, prefix->n,
			    from.b, from.n, false);
			if (rc != DBS_OK)
				break;
		}
		sti_iter_close(&it);
		if (rc == DBS_ENOTFOUND)
			rc = DBS_OK;
		for (size_t i = 0; i < n && rc == DBS_OK; i++) {
			rc = del(t, ids[i]);
			if (rc == DBS_OK)
				(*total)++;
			else if (rc == DBS_ENOTFOUND)
				rc = DBS_OK;
		}
	} while (
	    rc == DBS_OK && n == PURGE_BATCH && (max == 0 || *total < max));
	return rc;
}

int
sti_sbuf_reserve(struct sbuf *b, size_t more)
{
	size_t cap;
	uint8_t *p;

	if (more <= b->cap - b->len)
		return DBS_OK;
	if (more > SIZE_MAX / 2 - b->len)
		return DBS_ETOOBIG;
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL)
		return DBS_ENOMEM;
	b->p = p;
	b->cap = cap;
	return DBS_OK;
}

int
sti_sbuf_add(struct sbuf *b, const void *p, size_t n)
{
	int rc = sti_sbuf_reserve(b, n);

	if (rc != DBS_OK)
		return rc;
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return DBS_OK;
}

int
sti_sbuf_varint(struct sbuf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	do {
		tmp[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v != 0)
			tmp[n] |= 0x80;
		n++;
	} while (v != 0);
	return sti_sbuf_add(b, tmp, n);
}

int
sti_pack(struct store *st, const ProtobufCMessage *m, MDB_val *out)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	int rc;

	st->pack.len = 0;
	if ((rc = sti_sbuf_reserve(&st->pack, n)) != DBS_OK)
		return rc;
	protobuf_c_message_pack(m, st->pack.p);
	out->mv_size = n;
	out->mv_data = st->pack.p;
	return DBS_OK;
}

int64_t
sti_now_ms(void)
{
	return (int64_t)wire_now_ms();
}

/* ---------------------------------------------------------------- meta */

static int
meta_get(struct store_txn *t, const char *name, uint64_t *v)
{
	MDB_val k = {strlen(name), (void *)name}, d;
	int rc;

	*v = 0;
	if ((rc = sti_get(t, DB_META, &k, &d)) != DBS_OK)
		return rc;
	if (d.mv_size != 8) {
		sti_set_error(
		    t->st, "meta value %s has %zu bytes", name, d.mv_size);
		return DBS_ECORRUPT;
	}
	*v = sti_be64(d.mv_data);
	return DBS_OK;
}

static int
meta_put(struct store_txn *t, const char *name, uint64_t v)
{
	uint8_t b[8];
	MDB_val k = {strlen(name), (void *)name}, d = {8, b};

	sti_put_be64(b, v);
	return sti_put(t, DB_META, &k, &d, 0);
}

int
store_meta_get_u64(struct store_txn *txn, const char *key, uint64_t *value)
{
	if (sti_pg(txn))
		return stpg_meta_get_u64(txn, key, value);
	int rc;

	if (value != NULL)
		*value = 0;
	if (value == NULL)
		return DBS_EINVAL;
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((rc = sti_name(key, STORE_META_KEY_MAX, false)) != DBS_OK)
		return rc;
	return meta_get(txn, key, value);
}

int
store_meta_put_u64(struct store_txn *txn, const char *key, uint64_t value)
{
	if (sti_pg(txn))
		return stpg_meta_put_u64(txn, key, value);
	int rc;

	if ((rc = sti_usable(txn, true)) != DBS_OK)
		return rc;
	if ((rc = sti_name(key, STORE_META_KEY_MAX, false)) != DBS_OK)
		return rc;
	if (strncmp(key, "store.", 6) == 0)
		return DBS_EPERM;
	if ((rc = meta_put(txn, key, value)) != DBS_OK)
		return rc;
	txn->changes++;
	return DBS_OK;
}

/* The next id of `db`: past its last key and past the high-water mark kept
 * in meta, so that deleting the newest records never lets an id return. */
static int
next_id(struct store_txn *t, int db, const char *name, uint64_t *out)
{
	MDB_cursor *c = NULL;
	MDB_val k, v;
	uint64_t hw;
	int rc, mrc;

	*out = 1;
	rc = meta_get(t, name, &hw);
	if (rc == DBS_OK && hw > *out)
		*out = hw;
	else if (rc != DBS_OK && rc != DBS_ENOTFOUND)
		return rc;
	if ((mrc = mdb_cursor_open(t->mt, t->st->dbi[db], &c)) != 0)
		return sti_fail(t, mrc, "mdb_cursor_open", db);
	mrc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	mdb_cursor_close(c);
	if (mrc == MDB_NOTFOUND)
		return DBS_OK;
	if (mrc != 0)
		return sti_fail(t, mrc, "mdb_cursor_get", db);
	if (k.mv_size != 8) {
		sti_set_error(t->st, "a key of %s has %zu bytes",
		    sti_db_names[db], k.mv_size);
		return DBS_ECORRUPT;
	}
	if (sti_be64(k.mv_data) >= *out)
		*out = sti_be64(k.mv_data) + 1;
	return DBS_OK;
}

/* ------------------------------------------------------------ opening */

static int
registry_add(struct store *st)
{
	struct store *o;
	int rc = DBS_OK;

	pthread_mutex_lock(&registry_mu);
	for (o = registry; o != NULL; o = o->reg_next) {
		if (o->dev == st->dev && o->ino == st->ino &&
		    o->pid == st->pid) {
			rc = DBS_EBUSY;
			break;
		}
	}
	if (rc == DBS_OK) {
		st->reg_next = registry;
		registry = st;
	}
	pthread_mutex_unlock(&registry_mu);
	return rc;
}

static void
registry_remove(struct store *st)
{
	struct store **pp;

	pthread_mutex_lock(&registry_mu);
	for (pp = &registry; *pp != NULL; pp = &(*pp)->reg_next) {
		if (*pp == st) {
			*pp = st->reg_next;
			break;
		}
	}
	pthread_mutex_unlock(&registry_mu);
}

/* Open every database; for a new or older store, create and migrate. */
static int
open_dbs(struct store *st)
{
	struct store_txn t = {.st = st, .write = st->mode == STORE_RDWR};
	unsigned flags = st->mode == STORE_RDWR ? MDB_CREATE : 0;
	uint64_t schema = 0;
	int rc, mrc;

	for (int tries = 0;; tries++) {
		mrc = mdb_txn_begin(st->env, NULL,
		    st->mode == STORE_RDWR ? 0 : MDB_RDONLY, &t.mt);
		if (mrc != MDB_MAP_RESIZED || tries > 2)
			break;
		mdb_env_set_mapsize(st->env, 0);
	}
	if (mrc != 0) {
		t.mt = NULL;
		return sti_fail(&t, mrc, "mdb_txn_begin", -1);
	}
	mrc = mdb_dbi_open(
	    t.mt, sti_db_names[DB_META], flags, &st->dbi[DB_META]);
	if (mrc != 0) {
		if (mrc == MDB_NOTFOUND)
			sti_set_error(st, "the store was never initialised");
		rc = mrc == MDB_NOTFOUND
			 ? DBS_ENOTFOUND
			 : sti_fail(&t, mrc, "mdb_dbi_open", -1);
		goto out;
	}
	rc = meta_get(&t, META_SCHEMA, &schema);
	if (rc != DBS_OK && rc != DBS_ENOTFOUND)
		goto out;
	if (schema > STORE_SCHEMA_VERSION) {
		sti_set_error(st, "store schema %llu is newer than %d",
		    (unsigned long long)schema, STORE_SCHEMA_VERSION);
		rc = DBS_ESCHEMA;
		goto out;
	}
	for (int i = 0; i < DB__COUNT; i++) {
		mrc = mdb_dbi_open(t.mt, sti_db_names[i], flags, &st->dbi[i]);
		if (mrc == MDB_NOTFOUND && i >= DB_FIRST_ADDED) {
			st->absent |= 1u << i; /* read-only, older store */
			continue;
		}
		if (mrc != 0) {
			sti_set_error(st, "mdb_dbi_open(%s): %s",
			    sti_db_names[i], mdb_strerror(mrc));
			rc = mrc == MDB_NOTFOUND ? DBS_ENOTFOUND
						 : from_mdb(mrc);
			goto out;
		}
	}
	if (st->mode == STORE_RDWR) {
		/*
		 * Version 1 is the first schema: a store without a version is
		 * new. Later versions add their migrations here, one step per
		 * version, in this transaction.
		 */
		if (schema < STORE_SCHEMA_VERSION &&
		    (rc = meta_put(&t, META_SCHEMA, STORE_SCHEMA_VERSION)) !=
			DBS_OK)
			goto out;
		if ((rc = next_id(&t, DB_PASSENGERS, META_NEXT_PID,
			 &st->next_pid)) != DBS_OK ||
		    (rc = next_id(&t, DB_LOGS, META_NEXT_LOG,
			 &st->next_log)) != DBS_OK ||
		    (rc = next_id(&t, DB_EVENTS, META_NEXT_SEQ,
			 &st->next_seq)) != DBS_OK ||
		    (rc = sti_usage_init(&t)) != DBS_OK)
			goto out;
	}
	mrc = mdb_txn_commit(t.mt);
	t.mt = NULL;
	rc = mrc == 0 ? DBS_OK : sti_fail(&t, mrc, "mdb_txn_commit", -1);
out:
	if (t.mt != NULL)
		mdb_txn_abort(t.mt);
	return rc;
}

int
sti_next_passenger_id(struct store_txn *t, uint64_t *out)
{
	if (t->write) {
		*out = t->next_pid;
		return DBS_OK;
	}
	return next_id(t, DB_PASSENGERS, META_NEXT_PID, out);
}

static int
open_env(struct store *st, const char *dir, const struct store_options *opt)
{
	unsigned flags = MDB_NOTLS;
	uint64_t want;
	MDB_envinfo info;
	MDB_stat ms;
	char data[4096];
	struct stat sb;
	bool fresh;
	int mrc, dead;

	snprintf(data, sizeof(data), "%s/data.mdb", dir);
	fresh = stat(data, &sb) != 0 && errno == ENOENT;

	if ((mrc = mdb_env_create(&st->env)) != 0) {
		st->env = NULL;
		goto fail;
	}
	if ((mrc = mdb_env_set_maxdbs(st->env, MAX_DBS)) != 0)
		goto fail;
	if (st->mode == STORE_RDONLY)
		flags |= MDB_RDONLY;
	else if (opt != NULL && opt->no_sync)
		flags |= MDB_NOSYNC;
	if ((mrc = mdb_env_open(st->env, dir, flags, 0600)) != 0)
		goto fail;
	if ((mrc = mdb_env_stat(st->env, &ms)) != 0)
		goto fail;
	st->page_size = ms.ms_psize;
	if (mdb_env_get_maxkeysize(st->env) < STORE_KEY_MAX) {
		sti_set_error(st, "LMDB keys are limited to %d bytes",
		    mdb_env_get_maxkeysize(st->env));
		return DBS_EINVAL;
	}
	if (st->mode == STORE_RDONLY) {
		/* A reader maps the largest size the writer may grow to (the
		 * file need not be that large: only pages it holds are read),
		 * so a long read — an export — never holds up the next ones:
		 * LMDB lets a reader adopt a grown map only while none of its
		 * transactions is open. */
		uint64_t most = st->max_size - st->max_size % st->page_size;

		if (mdb_env_info(st->env, &info) == 0 &&
		    info.me_mapsize < most)
			(void)mdb_env_set_mapsize(st->env, most);
		return DBS_OK;
	}
	if ((mrc = mdb_reader_check(st->env, &dead)) != 0)
		goto fail;
	/* A new store gets the configured size; an existing one keeps the
	 * size its map has grown to, if that is larger. */
	want = opt != NULL && opt->map_size ? opt->map_size : DEFAULT_MAP_SIZE;
	want += st->page_size - 1;
	want -= want % st->page_size;
	if (want > st->max_size)
		st->max_size = want;
	if ((mrc = mdb_env_info(st->env, &info)) != 0)
		goto fail;
	if ((fresh ? info.me_mapsize != want : info.me_mapsize < want) &&
	    (mrc = mdb_env_set_mapsize(st->env, want)) != 0)
		goto fail;
	return DBS_OK;
fail:
	sti_set_error(st, "opening LMDB in %s: %s", dir, mdb_strerror(mrc));
	if (mrc == ENOENT)
		return DBS_ENOTFOUND;
	return from_mdb(mrc);
}

int
store_open(const char *dir, enum store_mode mode,
    const struct store_options *opt, struct store **out)
{
	struct store *st = NULL;
	char path[4096];
	struct stat sb;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (opt != NULL && opt->backend == STORE_BACKEND_POSTGRES)
		return stpg_open(mode, opt, out);
	if (dir == NULL || out == NULL ||
	    (mode != STORE_RDONLY && mode != STORE_RDWR))
		return DBS_EINVAL;
	if (snprintf(path, sizeof(path), "%s/writer.lock", dir) >=
	    (int)sizeof(path))
		return DBS_ETOOBIG;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return DBS_ENOMEM;
	pthread_mutex_init(&st->mu, NULL);
	st->mode = mode;
	st->lock_fd = -1;
	st->pid = getpid();
	st->max_size =
	    opt != NULL && opt->max_size ? opt->max_size : DEFAULT_MAX_SIZE;
	st->event_keep = opt != NULL && opt->event_keep ? opt->event_keep
							: DEFAULT_EVENT_KEEP;
	store_set_dedup_horizon(st, opt != NULL ? opt->dedup_horizon_ms : 0);
	if (sodium_init() < 0) {
		rc = DBS_ENOMEM;
		goto fail;
	}
	if (mode == STORE_RDWR && mkdir(dir, 0700) != 0 && errno != EEXIST) {
		sti_set_error(st, "mkdir %s: %s", dir, strerror(errno));
		rc = dbs_from_errno(errno);
		goto fail;
	}
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		sti_set_error(st, "%s is not a directory", dir);
		rc = DBS_ENOTFOUND;
		goto fail;
	}
	st->dev = sb.st_dev;
	st->ino = sb.st_ino;
	if (mode == STORE_RDWR) {
		st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (st->lock_fd < 0) {
			sti_set_error(
			    st, "open %s: %s", path, strerror(errno));
			rc = dbs_from_errno(errno);
			goto fail;
		}
		if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
			sti_set_error(
			    st, "%s is locked by another writer", path);
			rc = errno == EWOULDBLOCK ? DBS_ELOCKED
						  : dbs_from_errno(errno);
			goto fail;
		}
	}
	if ((rc = registry_add(st)) != DBS_OK) {
		sti_set_error(st, "%s is already open in this process", dir);
		st->pid = 0; /* not in the registry */
		goto fail;
	}
	if ((rc = open_env(st, dir, opt)) != DBS_OK)
		goto fail;
	if ((rc = open_dbs(st)) != DBS_OK)
		goto fail;
	*out = st;
	return DBS_OK;
fail:
	store_close(st);
	return rc;
}

/* The LMDB environment of the single file `path`, read-only and without
 * a lock file (see store_open_file); refuses a file cut short, whose
 * pages past its end LMDB would map and fault on. */
static int
open_file_env(struct store *st, const char *path)
{
	MDB_envinfo info;
	MDB_stat ms;
	struct stat sb;
	int mrc;

	if (stat(path, &sb) != 0) {
		sti_set_error(st, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? DBS_ENOTFOUND : dbs_from_errno(errno);
	}
	if (!S_ISREG(sb.st_mode)) {
		sti_set_error(st, "%s is not a file", path);
		return DBS_EINVAL;
	}
	if ((mrc = mdb_env_create(&st->env)) != 0) {
		st->env = NULL;
		return from_mdb(mrc);
	}
	if ((mrc = mdb_env_set_maxdbs(st->env, MAX_DBS)) != 0)
		return from_mdb(mrc);
	mrc = mdb_env_open(st->env, path,
	    MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0600);
	if (mrc == MDB_INVALID || mrc == MDB_VERSION_MISMATCH ||
	    mrc == EINVAL) {
		sti_set_error(
		    st, "not an LMDB store file (%s)", mdb_strerror(mrc));
		return DBS_EINVAL;
	}
	if (mrc != 0) {
		sti_set_error(st, "opening %s: %s", path, mdb_strerror(mrc));
		return from_mdb(mrc);
	}
	if ((mrc = mdb_env_stat(st->env, &ms)) != 0 ||
	    (mrc = mdb_env_info(st->env, &info)) != 0)
		return from_mdb(mrc);
	st->page_size = ms.ms_psize;
	if ((uint64_t)(info.me_last_pgno + 1) * ms.ms_psize >
	    (uint64_t)sb.st_size) {
		sti_set_error(st,
		    "the file is cut short: it has %llu bytes, its pages "
		    "reach %llu",
		    (unsigned long long)sb.st_size,
		    (unsigned long long)(info.me_last_pgno + 1) * ms.ms_psize);
		return DBS_ECORRUPT;
	}
	return DBS_OK;
}

int
store_open_file(const char *path, struct store **out, char *err, size_t errlen)
{
	struct store *st;
	struct store_txn *t = NULL;
	uint64_t schema = 0;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (path == NULL || out == NULL)
		return DBS_EINVAL;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return DBS_ENOMEM;
	pthread_mutex_init(&st->mu, NULL);
	st->mode = STORE_RDONLY;
	st->lock_fd = -1;
	st->max_size = DEFAULT_MAX_SIZE;
	st->event_keep = DEFAULT_EVENT_KEEP;
	store_set_dedup_horizon(st, 0);
	if ((rc = open_file_env(st, path)) != DBS_OK)
		goto fail;
	if ((rc = open_dbs(st)) != DBS_OK) {
		if (rc == DBS_ENOTFOUND) {
			sti_set_error(st, "an LMDB file, but not a Databus "
					  "store (it has no \"meta\")");
			rc = DBS_EINVAL;
		}
		goto fail;
	}
	if ((rc = store_txn_begin(st, false, &t)) == DBS_OK)
		rc = meta_get(t, META_SCHEMA, &schema);
	store_txn_abort(t);
	if (rc == DBS_ENOTFOUND || (rc == DBS_OK && schema == 0)) {
		sti_set_error(st, "an LMDB file, but not a Databus store (no "
				  "schema version)");
		rc = DBS_EINVAL;
	}
	if (rc != DBS_OK)
		goto fail;
	*out = st;
	return DBS_OK;
fail:
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s",
		    st->err[0] ? st->err : dbs_strerror(rc));
	store_close(st);
	return rc;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->pg != NULL) {
		stpg_close(st);
		return;
	}
	if (st->wtxn.mt != NULL)
		mdb_txn_abort(st->wtxn.mt);
	if (st->env != NULL)
		mdb_env_close(st->env);
	if (st->pid != 0)
		registry_remove(st);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	sti_ev_free(st);
	sti_count_free(st);
	sti_usage_free(st);
	free(st->metas);
	free(st->metap);
	free(st->pack.p);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

int
store_reader_check(struct store *st)
{
	int dead = 0;

	if (st == NULL || st->env == NULL)
		return -1; /* also PostgreSQL's: it has no reader slots */
	if (mdb_reader_check(st->env, &dead) != 0)
		return -1;
	return dead;
}

/* -------------------------------------------------------- transactions */

static int
begin_read(struct store *st, struct store_txn *t)
{
	int mrc;

	pthread_mutex_lock(&st->mu);
	for (int tries = 0;; tries++) {
		mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &t->mt);
		if (mrc != MDB_MAP_RESIZED || tries > 2)
			break;
		/* The writer grew the map past ours: adopt its size, which
		 * is only safe while no transaction of ours uses the map. */
		if (st->readers > 0)
			break;
		if ((mrc = mdb_env_set_mapsize(st->env, 0)) != 0)
			break;
	}
	if (mrc == 0)
		st->readers++;
	pthread_mutex_unlock(&st->mu);
	if (mrc != 0) {
		t->mt = NULL;
		return sti_fail(t, mrc, "mdb_txn_begin", -1);
	}
	return DBS_OK;
}

static int
begin_write(struct store *st, struct store_txn *t)
{
	int mrc;

	pthread_mutex_lock(&st->mu);
	/* Grow ahead of need: past half full, double the map now,
	 * so that ordinary growth never costs a MDB_MAP_FULL and the batch
	 * it aborts. */
	if (st->grow_to == 0 && st->readers == 0) {
		MDB_envinfo info;

		if (mdb_env_info(st->env, &info) == 0 &&
		    info.me_mapsize < st->max_size &&
		    (uint64_t)(info.me_last_pgno + 1) * st->page_size >
			info.me_mapsize / 2) {
			uint64_t want = info.me_mapsize > st->max_size / 2
					    ? st->max_size
					    : (uint64_t)info.me_mapsize * 2;

			want -= want % st->page_size;
			if (want > info.me_mapsize)
				st->grow_to = want;
		}
	}
	if (st->grow_to != 0 && st->readers == 0) {
		mrc = mdb_env_set_mapsize(st->env, st->grow_to);
		st->grow_to = 0;
		if (mrc != 0) {
			pthread_mutex_unlock(&st->mu);
			return sti_fail(t, mrc, "mdb_env_set_mapsize", -1);
		}
	}
	pthread_mutex_unlock(&st->mu);
	mrc = mdb_txn_begin(st->env, NULL, 0, &t->mt);
	if (mrc != 0) {
		t->mt = NULL;
		t->write = false; /* nothing to poison */
		return sti_fail(t, mrc, "mdb_txn_begin", -1);
	}
	sti_ev_reset(st);
	sti_count_reset(st);
	sti_usage_reset(st);
	return DBS_OK;
}

int
store_txn_begin(struct store *st, bool write, struct store_txn **out)
{
	struct store_txn *t;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (st == NULL || out == NULL)
		return DBS_EINVAL;
	if (st->pg != NULL)
		return stpg_txn_begin(st, write, out);
	if (!write) {
		if ((t = calloc(1, sizeof(*t))) == NULL)
			return DBS_ENOMEM;
		t->st = st;
		if ((rc = begin_read(st, t)) != DBS_OK) {
			free(t);
			return rc;
		}
		*out = t;
		return DBS_OK;
	}
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
	t->next_pid = st->next_pid;
	t->next_log = st->next_log;
	t->next_seq = st->next_seq;
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
txn_end(struct store_txn *t)
{
	struct store *st = t->st;

	if (t->mt != NULL)
		mdb_txn_abort(t->mt);
	t->mt = NULL;
	pthread_mutex_lock(&st->mu);
	if (t->write)
		st->writing = false;
	else
		st->readers--;
	pthread_mutex_unlock(&st->mu);
	if (!t->write)
		free(t);
}

/* Before the commit: the high-water marks of ids, and the commit count. */
static int
commit_meta(struct store_txn *t)
{
	struct store *st = t->st;
	uint64_t commits = 0;
	int rc;

	if (t->next_pid != st->next_pid &&
	    (rc = meta_put(t, META_NEXT_PID, t->next_pid)) != DBS_OK)
		return rc;
	if (t->next_log != st->next_log &&
	    (rc = meta_put(t, META_NEXT_LOG, t->next_log)) != DBS_OK)
		return rc;
	if (t->next_seq != st->next_seq &&
	    (rc = meta_put(t, META_NEXT_SEQ, t->next_seq)) != DBS_OK)
		return rc;
	rc = meta_get(t, META_COMMITS, &commits);
	if (rc != DBS_OK && rc != DBS_ENOTFOUND)
		return rc;
	return meta_put(t, META_COMMITS, commits + 1);
}

int
store_txn_commit(struct store_txn *txn)
{
	if (sti_pg(txn))
		return stpg_txn_commit(txn);
	struct store_txn *t = txn;
	struct store *st;
	int rc, mrc;

	if (t == NULL)
		return DBS_EINVAL;
	st = t->st;
	if (!t->write) {
		txn_end(t);
		return DBS_OK;
	}
	rc = sti_usable(t, true);
	if (rc == DBS_OK)
		rc = sti_count_flush(t);
	if (rc == DBS_OK)
		rc = sti_usage_flush(t);
	if (rc == DBS_OK)
		rc = sti_ev_flush(t);
	if (rc == DBS_OK && t->dirty)
		rc = commit_meta(t);
	if (rc == DBS_OK) {
		mrc = mdb_txn_commit(t->mt);
		t->mt = NULL;
		if (mrc != 0) {
			rc = sti_commit_error(
			    st, sti_fail(t, mrc, "mdb_txn_commit", -1));
		} else {
			st->next_pid = t->next_pid;
			st->next_log = t->next_log;
			st->next_seq = t->next_seq;
		}
	}
	txn_end(t);
	return rc;
}

void
store_txn_abort(struct store_txn *txn)
{
	if (sti_pg(txn)) {
		stpg_txn_abort(txn);
		return;
	}
	if (txn != NULL)
		txn_end(txn);
}

void
store_set_dedup_horizon(struct store *st, int64_t ms)
{
	if (st != NULL)
		st->dedup_horizon_ms = ms == 0 ? DEFAULT_DEDUP_MS : ms;
}

size_t
store_txn_changes(const struct store_txn *txn)
{
	return txn != NULL ? txn->changes : 0;
}

/* -------------------------------------------------------------- tools */

static uint64_t
entries(struct store_txn *t, int db)
{
	MDB_stat ms;

	if ((t->st->absent & 1u << db) ||
	    mdb_stat(t->mt, t->st->dbi[db], &ms) != 0)
		return 0;
	return ms.ms_entries;
}

static uint64_t
load_op(struct store *st, int op)
{
	return __atomic_load_n(&st->ops[op], __ATOMIC_RELAXED);
}

int
store_stats(struct store_txn *txn, Dbs__StoreStats *stats)
{
	if (sti_pg(txn))
		return stpg_stats(txn, stats);
	MDB_envinfo info;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	uint64_t x = 0;
	int rc, mrc;

	if (stats == NULL)
		return DBS_EINVAL;
	dbs__store_stats__init(stats);
	if ((rc = sti_usable(txn, false)) != DBS_OK)
		return rc;
	if ((mrc = mdb_env_info(txn->st->env, &info)) != 0)
		return sti_fail(txn, mrc, "mdb_env_info", -1);
	stats->map_size = info.me_mapsize;
	stats->used_bytes =
	    ((uint64_t)info.me_last_pgno + 1) * txn->st->page_size;
	stats->passengers = entries(txn, DB_PASSENGERS);
	stats->attachments = entries(txn, DB_ATTACHMENTS);
	stats->logs = entries(txn, DB_LOGS);
	stats->users = entries(txn, DB_USERS);
	stats->sessions = entries(txn, DB_SESSIONS);
	stats->events = entries(txn, DB_EVENTS);
	if (txn->write) {
		stats->last_seq = txn->next_seq - 1;
	} else {
		if (meta_get(txn, META_NEXT_SEQ, &x) == DBS_OK && x > 0)
			stats->last_seq = x - 1;
		mrc = mdb_cursor_open(txn->mt, txn->st->dbi[DB_EVENTS], &c);
		if (mrc == 0 && mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 &&
		    k.mv_size == 8 && sti_be64(k.mv_data) > stats->last_seq)
			stats->last_seq = sti_be64(k.mv_data);
		if (c != NULL)
			mdb_cursor_close(c);
	}
	if (meta_get(txn, META_COMMITS, &x) == DBS_OK)
		stats->commits = x;
	if (meta_get(txn, META_SCHEMA, &x) == DBS_OK)
		stats->schema_version = (uint32_t)x;
	stats->lmdb_gets = load_op(txn->st, STORE_OP_GET);
	stats->lmdb_puts = load_op(txn->st, STORE_OP_PUT);
	stats->lmdb_dels = load_op(txn->st, STORE_OP_DEL);
	stats->lmdb_cursor_steps = load_op(txn->st, STORE_OP_CURSOR);
	return DBS_OK;
}

int
store_copy(struct store *st, const char *dir)
{
	char path[4200];
	int fd, mrc;

	if (st == NULL || dir == NULL)
		return DBS_EINVAL;
	if (st->pg != NULL)
		return stpg_lmdb_only(st, "store_copy");
	if (snprintf(path, sizeof(path), "%s/data.mdb", dir) >=
	    (int)sizeof(path))
		return DBS_ETOOBIG;
	/* Our own descriptor, so that the copy is the owner's alone (0600)
	 * like the store, whatever the umask. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		mrc = errno;
		sti_set_error(st, "create %s: %s", path, strerror(mrc));
		return mrc == ENOENT ? DBS_ENOTFOUND : from_mdb(mrc);
	}
	mrc = mdb_env_copyfd2(st->env, fd, MDB_CP_COMPACT);
	if (close(fd) != 0 && mrc == 0)
		mrc = errno;
	if (mrc != 0) {
		sti_set_error(
		    st, "copying the store to %s: %s", dir, mdb_strerror(mrc));
		return from_mdb(mrc);
	}
	return DBS_OK;
}

const char *
store_last_error(const struct store *st)
{
	if (st == NULL)
		return *stpg_open_error() ? stpg_open_error() : "no store";
	return st->err;
}

const char *
store_engine_version(void)
{
	static char v[64];
	int major, minor, patch;

	if (v[0] == '\0') {
		(void)mdb_version(&major, &minor, &patch);
		snprintf(v, sizeof(v), "LMDB %d.%d.%d", major, minor, patch);
	}
	return v;
}
