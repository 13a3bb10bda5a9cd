/*
 * archive.h — reading the JSON archive that store/export.c writes, record
 * by record, for `databusctl import`.
 *
 * The archive is streamed: each passenger (with its attachment bodies)
 * and each user is decoded on its own and handed to a callback as the
 * protobuf records the store takes, so memory stays flat whatever the
 * size of the archive. Formats read: version 1 (users without password
 * hashes: they come back locked) and version 2 (hashes in the whole
 * store's archive, passengers' source_ref). A newer version, another
 * "format", or anything that does not parse is refused with a message
 * naming the byte offset and the record. Logs come with their entries
 * (whose passenger ids are the archive's), after every passenger.
 *
 * An LMDB store file is read the same way (archive_read_store).
 *
 * Run it once with a callback that only counts (the check: a corrupted
 * archive is refused before anything is written), then again to import.
 */
#ifndef DBS_ARCHIVE_H
#define DBS_ARCHIVE_H

#include <stdint.h>
#include <stdio.h>

#include "databus.pb-c.h"
#include "store.h"

#define ARCHIVE_VERSION_MIN 1
#define ARCHIVE_VERSION_MAX 2

enum archive_kind {
	ARCHIVE_PASSENGER,
	ARCHIVE_USER,
	ARCHIVE_LOG,
};

struct archive_item {
	enum archive_kind kind;
	Dbs__Passenger *p;      /* ARCHIVE_PASSENGER */
	Dbs__Attachment **atts; /* its bodies */
	size_t n_atts;
	size_t missing; /* attachments the archive marks missing */
	Dbs__User *u;   /* ARCHIVE_USER; password_hash "" when absent */
	Dbs__Log *log;  /* ARCHIVE_LOG, with its entries */
};

/* Free what an item holds and empty it (but for its kind). */
void archive_item_free(struct archive_item *it);

struct archive_info {
	int version;
	uint64_t passengers, users, logs, attachments, missing;
};

/*
 * Read the archive from `f`, calling cb for every passenger, log and user (the
 * item is freed after cb returns; cb may take any record it holds by
 * setting its pointer to NULL, and then frees it with the matching
 * protobuf-c free_unpacked). cb returns 0 to go on, else that value
 * stops the reading and is returned. Returns DBS_OK, DBS_EINVAL (not an
 * archive this version reads; err says why), DBS_ECORRUPT (does not
 * parse; err names where), DBS_EIO or DBS_ENOMEM.
 */
int archive_read(FILE *f, int (*cb)(void *ctx, struct archive_item *it),
    void *ctx, struct archive_info *info, char *err, size_t errlen);

/*
 * The same from an LMDB store file (archive_store.c): a hot backup or the
 * data.mdb of a stopped installation, opened read-only without a lock
 * file (store_open_file). info->version is the store's schema version.
 * With cb NULL (the check pass) the store is also verified, so a damaged
 * file is refused before anything is written. Returns DBS_OK, DBS_EINVAL
 * (not a Databus store file), DBS_ESCHEMA (a newer schema),
 * DBS_ECORRUPT (cut short, or it does not verify) or a store error; err
 * says which.
 */
int archive_read_store(const char *path,
    int (*cb)(void *ctx, struct archive_item *it), void *ctx,
    struct archive_info *info, char *err, size_t errlen);

/* The same from a store already open (either engine), in one read
 * transaction (a snapshot), without the verify of the check pass. */
int archive_read_open(struct store *st,
    int (*cb)(void *ctx, struct archive_item *it), void *ctx,
    struct archive_info *info, char *err, size_t errlen);

#endif
