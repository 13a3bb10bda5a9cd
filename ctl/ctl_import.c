/*
 * ctl_import.c — `databusctl import FILE [--client C] [--dry-run]`: a JSON
 * archive (store/export.c's) or an LMDB store file (a hot backup, or the
 * data.mdb of a stopped installation) back into the store.
 *
 * The import itself is store/import_run.h's (shared with databus-web):
 * the whole source is checked first — a damaged or unreadable one is
 * refused before anything is written, an LMDB file in a child process —
 * then imported. Into a running databusd the records go as import_batch
 * control requests (databusd, the only writer, seats each batch in its
 * group commit and answers after it); when databusd is stopped databusctl
 * opens the store for writing itself, holding the writer lock so that no
 * databusd starts meanwhile. --dry-run reads the store only and says what
 * an import would do. This file picks the target and prints the report.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_cmd.h"
#include "dbs_error.h"
#include "import_run.h"
#include "record_json.h"

static int
send_request(void *ctx, Dbs__ControlRequest *req, Dbs__ControlReply **out,
    char *err, size_t errlen)
{
	/* ctl_request says what went wrong on stderr itself. */
	if (ctl_request(ctx, req, out) != CTL_EXIT_OK) {
		snprintf(err, errlen, "databusd did not take a batch");
		return DBS_EIO;
	}
	return DBS_OK;
}

static int
report(struct ctl *c, const struct import_run *r)
{
	const struct import_stats *s = &r->stats;
	const char *verb = r->dry ? "would add" : "added";
	json_t *doc, *remap, *locked;

	if (c->args->json) {
		remap = json_array();
		locked = json_array();
		for (size_t i = 0; i + 1 < s->n_remap; i += 2)
			json_array_append_new(
			    remap, json_pack("{s:I, s:I}", "from",
				       (json_int_t)s->remap[i], "to",
				       (json_int_t)s->remap[i + 1]));
		for (size_t i = 0; i < s->n_locked; i++)
			json_array_append_new(locked, rj_string(s->locked[i]));
		doc =
		    json_pack("{s:b, s:b, s:s, s:i, s:I, s:I, s:o, s:I, s:I, "
			      "s:o, s:I, s:I, s:I}",
			"dry_run", r->dry, "online", r->send != NULL, "source",
			r->lmdb ? "lmdb" : "json", "version", r->info.version,
			"added", (json_int_t)s->added, "duplicates",
			(json_int_t)s->duplicates, "remapped", remap,
			"users_added", (json_int_t)s->users_added,
			"users_existing", (json_int_t)s->users_existing,
			"users_locked", locked, "logs_added",
			(json_int_t)s->logs_added, "logs_duplicates",
			(json_int_t)s->logs_duplicates, "missing_attachments",
			(json_int_t)r->info.missing);
		return ctl_print_json(doc);
	}
	printf("import: %s %llu passengers (%llu duplicates already in the "
	       "store), %llu logs (%llu already there), %llu users (%llu "
	       "kept as they are)\n",
	    verb, (unsigned long long)s->added,
	    (unsigned long long)s->duplicates,
	    (unsigned long long)s->logs_added,
	    (unsigned long long)s->logs_duplicates,
	    (unsigned long long)s->users_added,
	    (unsigned long long)s->users_existing);
	for (size_t i = 0; i + 1 < s->n_remap; i += 2)
		printf("id %llu -> %llu\n", (unsigned long long)s->remap[i],
		    (unsigned long long)s->remap[i + 1]);
	for (size_t i = 0; i < s->n_locked; i++) {
		char *u = ctl_clean(s->locked[i], 0), *sl;

		if (u != NULL && (sl = strchr(u, '/')) != NULL)
			*sl = ' ';
		printf("user %s has no password in the archive: it is locked "
		       "until you set one with `databusctl user passwd %s`\n",
		    s->locked[i], u != NULL ? u : "CLIENT USER");
		free(u);
	}
	return CTL_EXIT_OK;
}

/* Where to write: databusd when it runs, else the store itself. */
static int
open_target(struct ctl *c, struct import_run *r)
{
	int rc;

	if (r->dry) {
		if (ctl_store_open(c) != CTL_EXIT_OK)
			return CTL_EXIT_FAIL;
		r->st = c->st;
		return 0;
	}
	/* PostgreSQL takes no writer lock: databusd, which must learn of
	 * what is seated, always writes there. */
	rc = store_data_backend(c->args->data_dir) == STORE_BACKEND_POSTGRES
		 ? DBS_ELOCKED
		 : store_open(c->store_dir, STORE_RDWR, NULL, &r->st);
	if (rc == DBS_ELOCKED) {
		r->send = send_request; /* databusd holds the writer lock */
		r->send_ctx = c;
		return 0;
	}
	return rc == DBS_OK ? 0 : ctl_store_fail(c, "import", rc);
}

/* Whether `path` is the data file of the store being imported into. */
static bool
is_live_store(struct ctl *c, const char *path)
{
	char data[PATH_MAX + 16];
	struct stat a, b;

	snprintf(data, sizeof(data), "%s/data.mdb", c->store_dir);
	return stat(path, &a) == 0 && stat(data, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Whether `path` is the data file of a store a databusd has open (its
 * writer.lock, next to it, is held): pages may change under the reader. */
static bool
in_use(const char *path)
{
	char copy[PATH_MAX], lock[PATH_MAX + 16];
	bool held = false;
	int fd;

	snprintf(copy, sizeof(copy), "%s", path);
	snprintf(lock, sizeof(lock), "%s/writer.lock", dirname(copy));
	if ((fd = open(lock, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	if (flock(fd, LOCK_SH | LOCK_NB) != 0)
		held = errno == EWOULDBLOCK;
	close(fd);
	return held;
}

int
ctl_cmd_import(struct ctl *c)
{
	struct import_run r = {.path = c->args->file,
	    .pg_schema = c->args->schema,
	    .client = c->args->client,
	    .dry = c->args->dry_run,
	    .sandbox = true};
	/* A URI may hold a password: it is never printed. */
	const char *shown =
	    ctl_is_postgres_uri(r.path) ? "the PostgreSQL source" : r.path;
	int rc;

	if (!ctl_is_postgres_uri(r.path) && is_live_store(c, r.path)) {
		ctl_err("import: %s is the data file of this very store; "
			"nothing was imported",
		    r.path);
		return CTL_EXIT_FAIL;
	}
	if (!ctl_is_postgres_uri(r.path) && in_use(r.path)) {
		ctl_err("import: %s belongs to a store a databusd has open; "
			"import a copy of it (`databusctl --data DIR backup "
			"FILE`); nothing was imported",
		    r.path);
		return CTL_EXIT_FAIL;
	}
	if (import_run_check(&r) != DBS_OK) {
		ctl_err("import: %s: %s; nothing was imported", shown, r.err);
		import_run_free(&r);
		return CTL_EXIT_FAIL;
	}
	if ((rc = open_target(c, &r)) == 0) {
		if (import_run(&r) != DBS_OK) {
			ctl_err("import: %s: %s", shown, r.err);
			rc = CTL_EXIT_FAIL;
		} else {
			rc = report(c, &r);
		}
	}
	if (r.st != NULL && r.st != c->st)
		store_close(r.st);
	import_run_free(&r);
	return rc;
}
