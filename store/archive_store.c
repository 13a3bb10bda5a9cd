/*
 * archive_store.c — an LMDB store file (a hot backup made by `databusctl
 * backup`, or the data.mdb of a stopped installation) read as an archive,
 * for `databusctl import LMDB-FILE` (see archive.h).
 *
 * The file is opened on its own (store_open_file: read-only, no lock
 * file, schema checked) and read inside one read transaction. It yields
 * the same records as the JSON reader, so the import rules are the same
 * whatever the source: each passenger with its attachment bodies, then
 * each log with its entries, then each user with its password hash. Passengers
 * are taken a page of ids at a time, so memory stays flat whatever the size of
 * the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "dbs_error.h"
#include "store.h"

#define PAGE 1000

struct ids {
	uint64_t id[PAGE];
	size_t n;
};

static int
take_id(void *ctx, const Dbs__Passenger *p)
{
	struct ids *v = ctx;

	v->id[v->n++] = p->id;
	return 0;
}

/* A copy of attachment `m`'s body, or NULL (missing: counted). */
static int
body(
    struct store_txn *t, struct archive_item *it, const Dbs__AttachmentMeta *m)
{
	Dbs__Attachment *a;
	const void *data;
	size_t len;
	int rc;

	rc = store_attachment_get(t, it->p->id, m->name, &data, &len);
	if (rc == DBS_ENOTFOUND) {
		it->missing++;
		return DBS_OK;
	}
	if (rc != DBS_OK)
		return rc;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return DBS_ENOMEM;
	dbs__attachment__init(a);
	it->atts[it->n_atts++] = a;
	a->name = strdup(m->name);
	a->content_type =
	    strdup(m->content_type != NULL ? m->content_type : "");
	a->data.data = malloc(len > 0 ? len : 1);
	if (a->name == NULL || a->content_type == NULL || a->data.data == NULL)
		return DBS_ENOMEM;
	memcpy(a->data.data, data, len);
	a->data.len = len;
	return DBS_OK;
}

static int
passenger(struct store_txn *t, uint64_t id, struct archive_info *info,
    int (*cb)(void *, struct archive_item *), void *ctx)
{
	struct archive_item it = {.kind = ARCHIVE_PASSENGER};
	int rc;

	if ((rc = store_passenger_get(t, id, &it.p)) != DBS_OK)
		return rc;
	it.atts = calloc(it.p->n_attachments + 1, sizeof(*it.atts));
	if (it.atts == NULL)
		rc = DBS_ENOMEM;
	for (size_t i = 0; rc == DBS_OK && i < it.p->n_attachments; i++)
		rc = body(t, &it, it.p->attachments[i]);
	if (rc == DBS_OK) {
		info->passengers++;
		info->attachments += it.n_atts;
		info->missing += it.missing;
		if (cb != NULL)
			rc = cb(ctx, &it);
	}
	archive_item_free(&it);
	return rc;
}

struct walk {
	struct archive_info *info;
	int (*cb)(void *, struct archive_item *);
	void *ctx;
	int rc;
};

/* A copy of `m` that the item owns (the store's record lives only as long
 * as its transaction), or NULL. */
static void *
copy_msg(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len > 0 ? len : 1);
	ProtobufCMessage *out;

	if (buf == NULL)
		return NULL;
	protobuf_c_message_pack(m, buf);
	out = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
	free(buf);
	return out;
}

/* Count the item and hand it to the walk's callback. */
static int
walk_item(struct walk *us, struct archive_item *it, uint64_t *count)
{
	if (it->u == NULL && it->log == NULL)
		return us->rc = DBS_ENOMEM;
	(*count)++;
	if (us->cb != NULL)
		us->rc = us->cb(us->ctx, it);
	archive_item_free(it);
	return us->rc;
}

static int
user(void *ctx, const Dbs__User *u)
{
	struct walk *us = ctx;
	struct archive_item it = {.kind = ARCHIVE_USER};

	it.u = copy_msg(&u->base);
	return walk_item(us, &it, &us->info->users);
}

static int
log_item(void *ctx, const Dbs__Log *log)
{
	struct walk *us = ctx;
	struct archive_item it = {.kind = ARCHIVE_LOG};

	it.log = copy_msg(&log->base);
	return walk_item(us, &it, &us->info->logs);
}

struct log_ids {
	uint64_t *id;
	size_t n, cap;
};

static int
take_log_id(void *ctx, const Dbs__Log *log)
{
	struct log_ids *v = ctx;

	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 1024;
		uint64_t *id = realloc(v->id, cap * sizeof(*id));

		if (id == NULL)
			return DBS_ENOMEM;
		v->id = id;
		v->cap = cap;
	}
	v->id[v->n++] = log->id;
	return 0;
}

/* The logs oldest first (the listing is newest first), so that an import
 * into a store that never handed their ids out keeps every one: each id
 * then comes after the last it kept. */
static int
read_logs(struct store_txn *t, struct walk *us)
{
	struct log_ids v = {0};
	int rc = store_log_list(t, NULL, 0, 0, take_log_id, &v, NULL);

	for (size_t i = v.n; rc == DBS_OK && i-- > 0;) {
		Dbs__Log *log = NULL;

		if ((rc = store_log_get(t, v.id[i], &log)) != DBS_OK)
			break;
		rc = log_item(us, log);
		dbs__log__free_unpacked(log, NULL);
	}
	free(v.id);
	return rc;
}

static int
read_all(struct store_txn *t, struct archive_info *info,
    int (*cb)(void *, struct archive_item *), void *ctx)
{
	struct store_query q = {.state = -1, .limit = PAGE};
	struct walk us = {.info = info, .cb = cb, .ctx = ctx};
	struct ids *v = malloc(sizeof(*v));
	uint64_t next = 0;
	int rc;

	if (v == NULL)
		return DBS_ENOMEM;
	do {
		v->n = 0;
		rc = store_queue_list(t, &q, take_id, v, &next);
		for (size_t i = 0; rc == DBS_OK && i < v->n; i++)
			rc = passenger(t, v->id[i], info, cb, ctx);
		q.cursor = next;
	} while (rc == DBS_OK && next != 0);
	free(v);
	if (rc == DBS_OK && (rc = read_logs(t, &us)) == DBS_OK)
		rc = us.rc;
	if (rc == DBS_OK &&
	    (rc = store_user_list(t, NULL, user, &us)) == DBS_OK)
		rc = us.rc;
	return rc != DBS_OK && us.rc != DBS_OK ? us.rc : rc;
}

static void
first_problem(void *ctx, const char *problem)
{
	char *first = ctx;

	if (first[0] == '\0')
		snprintf(first, 256, "%s", problem);
}

/* The check pass: the store file must verify (indexes, attachments). */
static int
check(struct store_txn *t, char *err, size_t errlen)
{
	char first[256] = "";
	uint64_t problems = 0;
	int rc;

	rc = store_verify(t, first_problem, first, &problems);
	if (rc != DBS_OK) {
		snprintf(err, errlen, "the store file does not verify: %s",
		    dbs_strerror(rc));
		return rc;
	}
	if (problems > 0) {
		snprintf(err, errlen,
		    "the store file does not verify (%llu problems; the "
		    "first: %s)",
		    (unsigned long long)problems, first);
		return DBS_ECORRUPT;
	}
	return DBS_OK;
}

int
archive_read_open(struct store *st,
    int (*cb)(void *ctx, struct archive_item *it), void *ctx,
    struct archive_info *info, char *err, size_t errlen)
{
	struct store_txn *t = NULL;
	uint64_t schema = 0;
	int rc;

	memset(info, 0, sizeof(*info));
	if ((rc = store_txn_begin(st, false, &t)) == DBS_OK &&
	    (rc = store_meta_get_u64(t, "store.schema_version", &schema)) ==
		DBS_OK) {
		info->version = (int)schema;
		rc = read_all(t, info, cb, ctx);
	}
	if (rc != DBS_OK && err != NULL && errlen > 0 && err[0] == '\0')
		snprintf(err, errlen, "reading the store: %s (%s)",
		    dbs_strerror(rc), store_last_error(st));
	store_txn_abort(t);
	return rc;
}

int
archive_read_store(const char *path,
    int (*cb)(void *ctx, struct archive_item *it), void *ctx,
    struct archive_info *info, char *err, size_t errlen)
{
	struct store *st = NULL;
	struct store_txn *t = NULL;
	uint64_t schema = 0;
	int rc;

	memset(info, 0, sizeof(*info));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((rc = store_open_file(path, &st, err, errlen)) != DBS_OK)
		return rc;
	if ((rc = store_txn_begin(st, false, &t)) == DBS_OK &&
	    (rc = store_meta_get_u64(t, "store.schema_version", &schema)) ==
		DBS_OK) {
		info->version = (int)schema;
		rc = read_all(t, info, cb, ctx);
	}
	if (rc == DBS_OK && cb == NULL)
		rc = check(t, err, errlen);
	else if (rc != DBS_OK && err != NULL && errlen > 0 && err[0] == '\0')
		snprintf(err, errlen, "reading the store file: %s (%s)",
		    dbs_strerror(rc), store_last_error(st));
	store_txn_abort(t);
	store_close(st);
	return rc;
}
