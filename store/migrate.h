/*
 * migrate.h — a whole store copied into an empty store of the other
 * engine, and per-client digests to compare two stores (migrate.c).
 */
#ifndef DBS_MIGRATE_H
#define DBS_MIGRATE_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct migrate_stats {
	uint64_t passengers, attachments, users, logs; /* read */
	uint64_t duplicates, logs_duplicates; /* there already: not written */
	size_t remapped; /* ids that had to change (0 into an empty store) */
};

/* What store_copy_records copies and how. */
struct copy_options {
	const char *client; /* NULL: every client */
	bool hashes;        /* users keep their password hashes (else they
			       come locked) */
	bool require_empty; /* refuse a target that holds anything, and
			       carry the last drive id (a migration) */
	/* Called after each of the target's commits (may be NULL); a
	 * non-zero return stops the copy with DBS_ESHUTDOWN. */
	int (*progress)(void *ctx, const struct migrate_stats *ms);
	void *ctx;
};

/*
 * Copy the records of `src` (a read snapshot) into `dst` with the import
 * rules (store/import.h): a passenger or log there already is a
 * duplicate, an id the target handed out is remapped (counted), users
 * there already are kept. DBS_OK, or an error with err set; what was
 * committed before an error stays.
 */
int store_copy_records(struct store *src, struct store *dst,
    const struct copy_options *o, struct migrate_stats *ms, char *err,
    size_t errlen);

/*
 * Copy every passenger (with its attachments), log and user of `src`
 * into `dst`, which must hold none (DBS_EEXIST otherwise), ids kept;
 * also the last drive id. Sessions, the event log and configuration
 * versions are not carried. DBS_OK, or an error with err set; what was
 * committed before an error stays in dst (it is then not empty: start
 * again on a new schema or directory).
 */
int store_migrate(struct store *src, struct store *dst,
    struct migrate_stats *ms, char *err, size_t errlen);

/* What one client holds: counts and a hash of every record. */
struct migrate_digest {
	char client[129];
	uint64_t pending, done, dead, users, logs;
	unsigned char hash[32];
	crypto_generichash_state h; /* private */
};

/* The digests of every client of `st`, sorted by client (*out: free()).
 * DBS_OK, or an error with err set. */
int store_digest(struct store *st, struct migrate_digest **out, size_t *n,
    char *err, size_t errlen);

#endif
