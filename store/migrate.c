/*
 * migrate.c — a whole store copied into an empty one of the other engine
 * (LMDB to PostgreSQL or back), for `databusctl migrate`, and the digest
 * that proves both sides hold the same.
 *
 * The copy reads the source in one read transaction (a snapshot:
 * archive_read_open) and puts its records into the target with the import
 * rules (store/import.h) in write transactions of MIGRATE_TXN_ITEMS. The
 * target must be empty, so every id is one it never handed out and is
 * kept: passengers, logs and users come out as they went in (states,
 * steps, attempts, times, password hashes). What is not carried: sessions
 * (everybody logs in again), the event log (browsers resync) and the
 * versions of configuration files (the files themselves are the
 * configuration; their history stays in the old store).
 *
 * The digest walks a store the same way and, per client, counts
 * passengers by state, users and logs and hashes (BLAKE2b, libsodium)
 * every record as the store packs it with its attachment bodies, in id
 * order: two stores with the same digests hold the same data.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "dbs_error.h"
#include "import.h"
#include "migrate.h"

#define MIGRATE_TXN_ITEMS 2000

/* -------------------------------------------------------------- copying */

struct copy {
	struct store *dst;
	struct store_txn *txn;
	const struct copy_options *o;
	struct import_stats stats;
	size_t in_txn;
	struct migrate_stats *ms;
	int rc;
};

static int
copy_item(void *ctx, struct archive_item *it)
{
	struct copy *c = ctx;
	const char *client = it->kind == ARCHIVE_USER  ? it->u->client
			     : it->kind == ARCHIVE_LOG ? it->log->client
						       : it->p->client;
	int rc;

	if (c->o->client != NULL && strcmp(client, c->o->client) != 0)
		return 0;
	if (it->kind == ARCHIVE_USER) {
		if (!c->o->hashes && it->u->password_hash != NULL)
			it->u->password_hash[0] = '\0'; /* comes locked */
		rc = import_user(c->txn, it->u, false, &c->stats);
		c->ms->users++;
	} else if (it->kind == ARCHIVE_LOG) {
		rc = import_log(c->txn, it->log, false, true, &c->stats);
		c->ms->logs++;
	} else {
		rc = import_passenger(
		    c->txn, it->p, it->atts, it->n_atts, false, &c->stats);
		c->ms->passengers++;
		c->ms->attachments += it->n_atts;
	}
	if (rc == DBS_OK && ++c->in_txn >= MIGRATE_TXN_ITEMS) {
		c->in_txn = 0;
		rc = store_txn_commit(c->txn);
		c->txn = NULL;
		if (rc == DBS_OK)
			rc = store_txn_begin(c->dst, true, &c->txn);
		if (rc == DBS_OK && c->o->progress != NULL &&
		    c->o->progress(c->o->ctx, c->ms) != 0)
			rc = DBS_ESHUTDOWN; /* stopped by its caller */
	}
	return rc == DBS_OK ? 0 : (c->rc = rc);
}

/* Whether `st` holds nothing a copy could clash with. */
static int
empty(struct store *st, bool *is_empty)
{
	Dbs__StoreStats s = DBS__STORE_STATS__INIT;
	struct store_txn *t;
	int rc;

	if ((rc = store_txn_begin(st, false, &t)) != DBS_OK)
		return rc;
	rc = store_stats(t, &s);
	store_txn_abort(t);
	*is_empty = s.passengers == 0 && s.users == 0 && s.logs == 0;
	return rc;
}

int
store_copy_records(struct store *src, struct store *dst,
    const struct copy_options *o, struct migrate_stats *ms, char *err,
    size_t errlen)
{
	struct copy c = {.dst = dst, .o = o, .ms = ms};
	struct archive_info info;
	bool is_empty = false;
	uint64_t drive_id = 0;
	struct store_txn *t;
	int rc;

	memset(ms, 0, sizeof(*ms));
	err[0] = '\0';
	if (o->require_empty) {
		if ((rc = empty(dst, &is_empty)) != DBS_OK) {
			snprintf(err, errlen, "reading the target: %s (%s)",
			    dbs_strerror(rc), store_last_error(dst));
			return rc;
		}
		if (!is_empty) {
			snprintf(err, errlen,
			    "the target store is not empty: a migration goes "
			    "into an empty store only (use `databusctl "
			    "import` to merge)");
			return DBS_EEXIST;
		}
	}
	if ((rc = store_txn_begin(dst, true, &c.txn)) != DBS_OK) {
		snprintf(err, errlen, "writing the target: %s (%s)",
		    dbs_strerror(rc), store_last_error(dst));
		return rc;
	}
	rc = archive_read_open(src, copy_item, &c, &info, err, errlen);
	if (rc == DBS_OK && c.rc == DBS_OK && o->require_empty &&
	    (rc = store_txn_begin(src, false, &t)) == DBS_OK) {
		/* Drive ids go on where they were, so logs stay apart. */
		if (store_meta_get_u64(t, "last_drive_id", &drive_id) ==
		    DBS_OK)
			rc = store_meta_put_u64(
			    c.txn, "last_drive_id", drive_id);
		store_txn_abort(t);
	}
	if (rc == DBS_OK && c.rc == DBS_OK)
		rc = store_txn_commit(c.txn);
	else
		store_txn_abort(c.txn);
	if (rc == DBS_OK)
		rc = c.rc;
	if (rc != DBS_OK && err[0] == '\0')
		snprintf(err, errlen, "writing the target: %s (%s)",
		    dbs_strerror(rc), store_last_error(dst));
	ms->remapped = c.stats.n_remap;
	ms->duplicates = c.stats.duplicates;
	ms->logs_duplicates = c.stats.logs_duplicates;
	import_stats_free(&c.stats);
	return rc;
}

int
store_migrate(struct store *src, struct store *dst, struct migrate_stats *ms,
    char *err, size_t errlen)
{
	struct copy_options o = {.hashes = true, .require_empty = true};

	return store_copy_records(src, dst, &o, ms, err, errlen);
}

/* ------------------------------------------------------------- digests */

struct digest_walk {
	struct migrate_digest **d;
	size_t *n;
	int rc;
};

static struct migrate_digest *
client_digest(struct digest_walk *w, const char *client)
{
	struct migrate_digest *d;

	for (size_t i = 0; i < *w->n; i++)
		if (strcmp((*w->d)[i].client, client) == 0)
			return &(*w->d)[i];
	d = realloc(*w->d, (*w->n + 1) * sizeof(*d));
	if (d == NULL)
		return NULL;
	*w->d = d;
	d = &d[(*w->n)++];
	memset(d, 0, sizeof(*d));
	snprintf(d->client, sizeof(d->client), "%s", client);
	crypto_generichash_init(&d->h, NULL, 0, sizeof(d->hash));
	return d;
}

/* Hash a length, then bytes, so that no two sequences hash alike. */
static void
feed(crypto_generichash_state *h, const void *b, size_t len)
{
	uint64_t n = len;

	crypto_generichash_update(h, (const unsigned char *)&n, sizeof(n));
	crypto_generichash_update(h, b, len);
}

static int
feed_msg(crypto_generichash_state *h, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *b = malloc(len + 1);

	if (b == NULL)
		return DBS_ENOMEM;
	protobuf_c_message_pack(m, b);
	feed(h, b, len);
	free(b);
	return DBS_OK;
}

static int
digest_item(void *ctx, struct archive_item *it)
{
	struct digest_walk *w = ctx;
	const char *client = it->kind == ARCHIVE_USER  ? it->u->client
			     : it->kind == ARCHIVE_LOG ? it->log->client
						       : it->p->client;
	struct migrate_digest *d = client_digest(w, client);
	int rc;

	if (d == NULL)
		return w->rc = DBS_ENOMEM;
	if (it->kind == ARCHIVE_USER) {
		d->users++;
		rc = feed_msg(&d->h, &it->u->base);
	} else if (it->kind == ARCHIVE_LOG) {
		d->logs++;
		rc = feed_msg(&d->h, &it->log->base);
	} else {
		if (it->p->state == DBS__PASSENGER_STATE__PS_PENDING)
			d->pending++;
		else if (it->p->state == DBS__PASSENGER_STATE__PS_DONE)
			d->done++;
		else
			d->dead++;
		rc = feed_msg(&d->h, &it->p->base);
		for (size_t i = 0; rc == DBS_OK && i < it->n_atts; i++) {
			feed(&d->h, it->atts[i]->name,
			    strlen(it->atts[i]->name));
			feed(&d->h, it->atts[i]->data.data,
			    it->atts[i]->data.len);
		}
	}
	return rc == DBS_OK ? 0 : (w->rc = rc);
}

static int
by_client(const void *a, const void *b)
{
	return strcmp(((const struct migrate_digest *)a)->client,
	    ((const struct migrate_digest *)b)->client);
}

int
store_digest(struct store *st, struct migrate_digest **out, size_t *n,
    char *err, size_t errlen)
{
	struct digest_walk w = {out, n, DBS_OK};
	struct archive_info info;
	int rc;

	*out = NULL;
	*n = 0;
	err[0] = '\0';
	rc = archive_read_open(st, digest_item, &w, &info, err, errlen);
	if (rc == DBS_OK)
		rc = w.rc;
	for (size_t i = 0; i < *n; i++)
		crypto_generichash_final(
		    &(*out)[i].h, (*out)[i].hash, sizeof((*out)[i].hash));
	qsort(*out, *n, sizeof(**out), by_client);
	return rc;
}
