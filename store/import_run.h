/*
 * import_run.h — one import from start to end (import_run.c), shared by
 * `databusctl import` and databus-web's import of an uploaded archive.
 *
 * The source is a JSON archive (archive_read) or an LMDB store file
 * (archive_read_store), told apart by the first byte, or a PostgreSQL
 * store named by a URI (archive_read_open). It is read twice:
 * import_run_check reads all of it and refuses a damaged one before
 * anything is written; import_run then puts its records into the target,
 * which is one of:
 *   - a running databusd (online: `send` set): the records go in batches
 *     as import_batch control requests, seated in databusd's group commit;
 *   - a store opened for writing (offline: databusd is stopped), in
 *     transactions of a few thousand records;
 *   - a store opened read-only (dry: nothing is written, only counted).
 * The rules (dedup, ids kept or remapped, users locked without a hash) are
 * store/import.h's; the counts and the id mapping end in `stats`.
 */
#ifndef DBS_IMPORT_RUN_H
#define DBS_IMPORT_RUN_H

#include <stdbool.h>
#include <stdio.h>

#include "archive.h"
#include "import.h"

struct import_run {
	/* in */
	const char *path;      /* the archive or store file, or a PostgreSQL
				  URI (postgres://... or postgresql://...) */
	const char *pg_schema; /* of that PostgreSQL store (NULL: databus) */
	const char *client;    /* NULL: every client's records */
	bool dry;
	bool sandbox;     /* check an LMDB file in a child process
			     (not from a threaded program) */
	struct store *st; /* offline (RDWR) or dry (either mode) */
	/* online: one control request, DBS_OK with *out (a reply whose code
	 * is DBS_OK) or an error with err filled (the callback's words). */
	int (*send)(void *ctx, Dbs__ControlRequest *req,
	    Dbs__ControlReply **out, char *err, size_t errlen);
	void *send_ctx;
	/* out */
	bool lmdb; /* the source is an LMDB store file */
	struct archive_info info;
	struct import_stats stats;
	char err[1024]; /* why it failed */
	/* private */
	FILE *f;
};

/* Open and check the whole source: DBS_OK, or an error with err set (then
 * nothing may be written). Call import_run_free in every case. */
int import_run_check(struct import_run *r);

/* Import (after a successful check). DBS_OK, or an error with err set;
 * what was committed before the error stays (stats count it). */
int import_run(struct import_run *r);

void import_run_free(struct import_run *r);

#endif
