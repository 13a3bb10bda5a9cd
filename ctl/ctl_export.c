/*
 * ctl_export.c — `databusctl export FILE [--client C]`: a JSON archive of
 * the store, written by the shared archive writer (store/export.h).
 *
 * The export reads the store read-only inside one read transaction: a
 * consistent snapshot, taken while databusd keeps running (intake is never
 * paused). The file appears atomically (FILE.tmp, fsync, rename). An
 * attachment missing from the store is marked in the file, reported, and
 * makes the exit status 1; everything else is still exported.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl_cmd.h"
#include "dbs_error.h"
#include "export.h"
#include "record_json.h"

static void
missing(void *ctx, uint64_t passenger_id, const char *name)
{
	char *clean = ctl_clean(name, 0);

	(void)ctx;
	ctl_err("export: passenger %llu: attachment \"%s\" is missing from "
		"the store",
	    (unsigned long long)passenger_id, clean != NULL ? clean : "?");
	free(clean);
}

static int
report(struct ctl *c, const struct export_stats *e)
{
	char size[32];
	json_t *doc;
	int rc = CTL_EXIT_OK;

	if (c->args->json) {
		doc = json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		    "file", rj_string(c->args->file), "clients",
		    (json_int_t)e->clients, "passengers",
		    (json_int_t)e->passengers, "attachments",
		    (json_int_t)e->attachments, "attachment_bytes",
		    (json_int_t)e->attachment_bytes, "logs",
		    (json_int_t)e->logs, "users", (json_int_t)e->users,
		    "missing_attachments", (json_int_t)e->missing);
		rc = ctl_print_json(doc);
	} else {
		char *file = ctl_clean(c->args->file, 0);
		printf("exported %llu passengers (%llu attachments, %s), %llu "
		       "logs, %llu users of %zu clients to %s\n",
		    (unsigned long long)e->passengers,
		    (unsigned long long)e->attachments,
		    ctl_size(e->attachment_bytes, size),
		    (unsigned long long)e->logs, (unsigned long long)e->users,
		    e->clients, file != NULL ? file : "?");
		free(file);
	}
	if (e->missing > 0) {
		ctl_err("export: %llu attachments were missing from the store "
			"(marked with \"error\" in %s)",
		    (unsigned long long)e->missing, c->args->file);
		rc = CTL_EXIT_FAIL;
	}
	return rc;
}

int
ctl_cmd_export(struct ctl *c)
{
	struct export_options opt = {0};
	struct export_stats stats;
	struct store_txn *txn;
	char err[1024];
	int rc;

	/* Opens the store (kept in c->st) and proves it readable. */
	if (ctl_store_begin(c, &txn) != CTL_EXIT_OK)
		return CTL_EXIT_FAIL;
	store_txn_abort(txn);
	opt.client = c->args->client;
	opt.missing = missing;
	rc = export_to_file(
	    c->st, c->args->file, &opt, &stats, err, sizeof(err));
	if (rc != DBS_OK) {
		ctl_err("export: %s", err[0] != '\0' ? err : dbs_strerror(rc));
		return CTL_EXIT_FAIL;
	}
	return report(c, &stats);
}
