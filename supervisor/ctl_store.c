/*
 * ctl_store.c — databusctl backup and compact: whole-store copies.
 *
 * `backup FILE` opens the store read-only, like every reading verb, and
 * copies one snapshot to FILE while databusd goes on writing (a read
 * snapshot never blocks the writer). `compact` rewrites the store without
 * its free pages; it needs the writer lock, so it refuses while databusd
 * runs and says so. Both are in store/copy.c.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ctl_cmd.h"
#include "dbs_error.h"
#include "record_json.h"

int
ctl_cmd_backup(struct ctl *c)
{
	char sz[32];
	uint64_t bytes = 0;
	char *file;
	int rc;

	if (ctl_store_open(c) != CTL_EXIT_OK)
		return CTL_EXIT_FAIL;
	if ((rc = store_backup(c->st, c->args->file, &bytes)) != DBS_OK)
		return ctl_store_fail(c, "backup", rc);
	if (c->args->json)
		return ctl_print_json(
		    json_pack("{s:b, s:o, s:I}", "ok", 1, "file",
			rj_string(c->args->file), "bytes", (json_int_t)bytes));
	file = ctl_clean(c->args->file, 0);
	printf("backup: %s written (%s)\n", file != NULL ? file : "?",
	    ctl_size(bytes, sz));
	free(file);
	return CTL_EXIT_OK;
}

int
ctl_cmd_compact(struct ctl *c)
{
	char err[1024], b1[32], b2[32];
	uint64_t before = 0, after = 0;
	int rc;

	rc = store_compact(c->store_dir, &before, &after, err, sizeof(err));
	if (rc != DBS_OK) {
		ctl_err("compact: %s: %s", dbs_strerror(rc), err);
		return CTL_EXIT_FAIL;
	}
	if (c->args->json)
		return ctl_print_json(json_pack("{s:b, s:I, s:I}", "ok", 1,
		    "before", (json_int_t)before, "after", (json_int_t)after));
	printf(
	    "compact: %s -> %s\n", ctl_size(before, b1), ctl_size(after, b2));
	return CTL_EXIT_OK;
}
