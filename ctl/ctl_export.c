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
#include "migrate.h"
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

bool
ctl_is_postgres_uri(const char *s)
{
	return strncmp(s, "postgres://", 11) == 0 ||
	       strncmp(s, "postgresql://", 13) == 0;
}

/* export postgres://...: the records (a client's: without password
 * hashes) copied into the schema with the import rules, so that exporting
 * again adds only what is new. */
static int
export_to_postgres(struct ctl *c)
{
	struct store_options so = {.backend = STORE_BACKEND_POSTGRES};
	struct copy_options o = {
	    .client = c->args->client, .hashes = c->args->client == NULL};
	const char *schema =
	    c->args->schema != NULL ? c->args->schema : "databus";
	struct migrate_stats ms;
	struct store *dst = NULL;
	char err[1024];
	int rc;

	so.pg_conninfo = c->args->file;
	so.pg_schema = schema;
	if (ctl_store_open(c) != CTL_EXIT_OK)
		return CTL_EXIT_FAIL;
	/* The test connection (and the schema, created or checked) before
	 * anything is read. */
	if ((rc = store_open(NULL, STORE_RDWR, &so, &dst)) != DBS_OK) {
		ctl_err("export: the PostgreSQL target (schema %s): %s: %s",
		    schema, dbs_strerror(rc), store_last_error(NULL));
		return CTL_EXIT_FAIL;
	}
	rc = store_copy_records(c->st, dst, &o, &ms, err, sizeof(err));
	store_close(dst);
	if (rc != DBS_OK) {
		ctl_err("export: %s", err);
		return CTL_EXIT_FAIL;
	}
	if (c->args->json)
		return ctl_print_json(
		    json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			"to", "postgres", "schema", schema, "passengers",
			(json_int_t)ms.passengers, "attachments",
			(json_int_t)ms.attachments, "logs",
			(json_int_t)ms.logs, "users", (json_int_t)ms.users,
			"duplicates", (json_int_t)ms.duplicates,
			"logs_duplicates", (json_int_t)ms.logs_duplicates,
			"remapped", (json_int_t)ms.remapped));
	printf("exported %llu passengers (%llu attachments), %llu logs, %llu "
	       "users to PostgreSQL schema %s (%llu passengers and %llu logs "
	       "were there already; %zu ids remapped)\n",
	    (unsigned long long)ms.passengers,
	    (unsigned long long)ms.attachments, (unsigned long long)ms.logs,
	    (unsigned long long)ms.users, schema,
	    (unsigned long long)ms.duplicates,
	    (unsigned long long)ms.logs_duplicates, ms.remapped);
	return CTL_EXIT_OK;
}

int
ctl_cmd_export(struct ctl *c)
{
	struct export_options opt = {0};
	struct export_stats stats;
	struct store_txn *txn;
	char err[1024];
	int rc;

	if (ctl_is_postgres_uri(c->args->file))
		return export_to_postgres(c);
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
