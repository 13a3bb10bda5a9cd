/*
 * export.h — the JSON archive of a store (or of one client's part of it).
 *
 *   {"format": "databus-export", "version": 2, "exported_at": ISO,
 *    "clients": [names], "passengers": [passenger + "source_ref" +
 *    "attachments_data": [{"name", "content_type", "base64"}]],
 *    "logs": [log with entries], "users": [user (+ "password_hash")]}
 *
 * Password hashes: the archive of the whole store (root's) carries each
 * user's Argon2id hash, so that an import brings users back with their
 * passwords; the archive of one client (export_options.client set: what
 * a client administrator gets) never does. Version 1 (before source_ref
 * and hashes) is still read by the importer (store/archive.h).
 *
 * Used by `databusctl export` and by databus-web's export section. The
 * writer reads inside one read transaction the caller gives it: a
 * consistent snapshot taken while databusd keeps writing (intake is never
 * paused). Nothing is built in memory as a whole: each record is dumped on
 * its own and attachment bodies are base64-encoded in chunks straight into
 * the stream.
 */
#ifndef DBS_EXPORT_H
#define DBS_EXPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "store.h"

#define EXPORT_VERSION     2
#define EXPORT_VERSION_STR "2"

struct export_stats {
	size_t clients;
	uint64_t passengers, attachments, attachment_bytes, logs, users;
	uint64_t missing; /* attachments missing from the store */
};

struct export_options {
	const char *client; /* NULL: every client */
	/*
	 * Called after each page of passengers and at the end of each part,
	 * with the fraction done (0..1). A non-zero return stops the export
	 * (export_write then returns DBS_ESHUTDOWN). May be NULL.
	 */
	int (*progress)(void *ctx, double fraction);
	/* An attachment is missing from the store (the archive marks it
	 * with "error" and goes on). May be NULL. */
	void (*missing)(void *ctx, uint64_t passenger_id, const char *name);
	void *ctx;
};

/*
 * Write the archive to `f` from `txn`. Returns DBS_OK, DBS_EIO (the
 * stream failed: errno as the failing stdio call left it), a store error,
 * DBS_ENOMEM, or DBS_ESHUTDOWN when `progress` asked to stop. `err` (may
 * be NULL) gets a one-line reason. *stats (may be NULL) counts what was
 * written.
 */
int export_write(struct store_txn *txn, FILE *f,
    const struct export_options *opt, struct export_stats *stats, char *err,
    size_t errlen);

/*
 * The same into the file `path`, atomically: everything goes to
 * `path`.tmp, which is fsync'd and renamed over `path`, and the directory
 * is fsync'd. On failure no file is left at `path` (nor the .tmp). Opens
 * its own read transaction on `st`.
 */
int export_to_file(struct store *st, const char *path,
    const struct export_options *opt, struct export_stats *stats, char *err,
    size_t errlen);

#endif
