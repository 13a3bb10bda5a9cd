/*
 * import.c — an archive's records into a store (see import.h).
 *
 * The rules live in store_passenger_import (queue.c: dedup, id kept or
 * remapped, the record as archived); this file applies them record by
 * record, keeps the counts and the id mapping, and does the dry run with
 * lookups only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "import.h"

static int
add_remap(struct import_stats *st, uint64_t from, uint64_t to)
{
	if (st->n_remap + 2 > st->cap_remap) {
		size_t cap = st->cap_remap ? st->cap_remap * 2 : 64;
		uint64_t *g = realloc(st->remap, cap * sizeof(*g));

		if (g == NULL)
			return DBS_ENOMEM;
		st->remap = g;
		st->cap_remap = cap;
	}
	st->remap[st->n_remap++] = from;
	st->remap[st->n_remap++] = to;
	return DBS_OK;
}

static int
add_locked(struct import_stats *st, const Dbs__User *u)
{
	char *s;

	if (st->n_locked == st->cap_locked) {
		size_t cap = st->cap_locked ? st->cap_locked * 2 : 8;
		char **g = realloc(st->locked, cap * sizeof(*g));

		if (g == NULL)
			return DBS_ENOMEM;
		st->locked = g;
		st->cap_locked = cap;
	}
	if (asprintf(&s, "%s/%s", u->client, u->username) < 0)
		return DBS_ENOMEM;
	st->locked[st->n_locked++] = s;
	return DBS_OK;
}

int
import_add_id(struct import_stats *st, uint64_t from, uint64_t to)
{
	if (st->n_ids + 2 > st->cap_ids) {
		size_t cap = st->cap_ids ? st->cap_ids * 2 : 1024;
		uint64_t *g = realloc(st->ids, cap * sizeof(*g));

		if (g == NULL)
			return DBS_ENOMEM;
		st->ids = g;
		st->cap_ids = cap;
	}
	if (st->n_ids > 0 && st->ids[st->n_ids - 2] > from)
		st->ids_sorted = false;
	else if (st->n_ids == 0)
		st->ids_sorted = true;
	st->ids[st->n_ids++] = from;
	st->ids[st->n_ids++] = to;
	return DBS_OK;
}

static int
cmp_pair(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t
import_map_id(struct import_stats *st, uint64_t from)
{
	size_t lo = 0, hi = st->n_ids / 2;

	if (!st->ids_sorted) {
		qsort(st->ids, st->n_ids / 2, 2 * sizeof(uint64_t), cmp_pair);
		st->ids_sorted = true;
	}
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (st->ids[2 * mid] == from)
			return st->ids[2 * mid + 1];
		if (st->ids[2 * mid] < from)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

int
import_log(struct store_txn *txn, Dbs__Log *log, bool dry, bool map,
    struct import_stats *st)
{
	uint64_t id;
	bool dup = false;
	int rc;

	for (size_t i = 0; map && i < log->n_entries; i++)
		if (log->entries[i]->passenger_id != 0)
			log->entries[i]->passenger_id =
			    import_map_id(st, log->entries[i]->passenger_id);
	if (dry) {
		rc = store_log_lookup(txn, log, &id);
		dup = rc == DBS_OK;
		if (rc != DBS_OK && rc != DBS_ENOTFOUND)
			return rc;
	} else if ((rc = store_log_import(txn, log, &id, &dup)) != DBS_OK) {
		return rc;
	}
	if (dup)
		st->logs_duplicates++;
	else
		st->logs_added++;
	return DBS_OK;
}

/* What an import would do with `p`, without writing. */
static int
dry_passenger(
    struct store_txn *txn, const Dbs__Passenger *p, struct import_stats *st)
{
	uint64_t id, next;
	int rc;

	rc = store_passenger_lookup(txn, p, &id, &next);
	if (rc == DBS_OK) {
		st->duplicates++;
		return import_add_id(st, p->id, id);
	}
	if (rc != DBS_ENOTFOUND)
		return rc;
	if (st->dry_next < next)
		st->dry_next = next;
	id = p->id >= st->dry_next ? p->id : st->dry_next;
	st->dry_next = id + 1;
	st->added++;
	if ((rc = import_add_id(st, p->id, id)) != DBS_OK)
		return rc;
	return id != p->id ? add_remap(st, p->id, id) : DBS_OK;
}

int
import_passenger(struct store_txn *txn, const Dbs__Passenger *p,
    Dbs__Attachment *const *atts, size_t n_atts, bool dry,
    struct import_stats *st)
{
	uint64_t id = 0;
	bool dup = false;
	int rc;

	if (dry)
		return dry_passenger(txn, p, st);
	rc = store_passenger_import(txn, p, atts, n_atts, &id, &dup);
	if (rc != DBS_OK)
		return rc;
	if ((rc = import_add_id(st, p->id, id)) != DBS_OK)
		return rc;
	if (dup) {
		st->duplicates++;
		return DBS_OK;
	}
	st->added++;
	return id != p->id ? add_remap(st, p->id, id) : DBS_OK;
}

int
import_user(struct store_txn *txn, const Dbs__User *u, bool dry,
    struct import_stats *st)
{
	Dbs__User *old = NULL, nu;
	int rc;

	rc = store_user_get(txn, u->client, u->username, &old);
	if (rc == DBS_OK) {
		dbs__user__free_unpacked(old, NULL);
		st->users_existing++;
		return DBS_OK;
	}
	if (rc != DBS_ENOTFOUND)
		return rc;
	nu = *u;
	if (nu.password_hash == NULL)
		nu.password_hash = "";
	if (nu.password_hash[0] == '\0' && (rc = add_locked(st, u)) != DBS_OK)
		return rc;
	st->users_added++;
	if (dry)
		return DBS_OK;
	if ((rc = store_user_put(txn, &nu)) != DBS_OK)
		return rc;
	/* As if imported from a client file once: that file's entry for
	 * this user no longer overrides the store. */
	return store_user_mark_imported(txn, u->client, u->username);
}

void
import_stats_free(struct import_stats *st)
{
	for (size_t i = 0; i < st->n_locked; i++)
		free(st->locked[i]);
	free(st->locked);
	free(st->remap);
	free(st->ids);
	memset(st, 0, sizeof(*st));
}
