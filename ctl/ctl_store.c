/*
 * ctl_store.c — databusctl backup and compact: whole-store copies.
 *
 * `backup FILE` opens the store read-only, like every reading verb, and
 * copies one snapshot to FILE while databusd goes on writing (a read
 * snapshot never blocks the writer). `compact` rewrites the store without
 * its free pages; it needs the writer lock, so it refuses while databusd
 * runs and says so. Both are in store/copy.c.
 *
 * While databusd runs, `compact` and `restore BACKUP` ask it to swap its
 * store (the store_swap verb, supervisor/store_swap.c): compact after
 * this verb has verified the live store, restore after it has copied
 * BACKUP into DATA/store.staged-<pid> and verified the copy there. A
 * store that does not verify is refused and nothing changes. With
 * databusd stopped, restore swaps the directories itself. Either way the
 * old store is kept as DATA/store.old-<time>.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>

#include <stdbool.h>

#include "ctl_cmd.h"
#include "dbs_error.h"
#include "record_json.h"

/* backup, compact and restore work on LMDB files: on a PostgreSQL
 * store, say so (and what to use) instead. */
static bool
lmdb_only(const struct ctl *c, const char *verb)
{
	if (store_data_backend(c->args->data_dir) != STORE_BACKEND_POSTGRES)
		return false;
	ctl_err("%s: the store of %s is in PostgreSQL; %s works on LMDB "
		"stores (use PostgreSQL's own tools: pg_dump, pg_restore, "
		"VACUUM FULL)",
	    verb, c->args->data_dir, verb);
	return true;
}

int
ctl_cmd_backup(struct ctl *c)
{
	char sz[32];
	uint64_t bytes = 0;
	char *file;
	int rc;

	if (lmdb_only(c, "backup") || ctl_store_open(c) != CTL_EXIT_OK)
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

static void
verify_report(void *ctx, const char *problem)
{
	(void)ctx;
	ctl_err("%s", problem);
}

/* Verify the store in `dir` (read-only); 0, or the exit code said. */
static int
verify_dir(struct ctl *c, const char *dir, const char *what)
{
	struct store *st = NULL;
	struct store_txn *t = NULL;
	uint64_t problems = 0;
	int rc;

	if ((rc = store_open(dir, STORE_RDONLY, NULL, &st)) == DBS_OK &&
	    (rc = store_txn_begin(st, false, &t)) == DBS_OK)
		rc = store_verify(t, verify_report, NULL, &problems);
	store_txn_abort(t);
	store_close(st);
	if (rc != DBS_OK) {
		ctl_err("%s: %s does not open as a store: %s; nothing changed",
		    c->args->verb_name, what, dbs_strerror(rc));
		return CTL_EXIT_FAIL;
	}
	if (problems > 0) {
		ctl_err("%s: %s does not verify (%llu problems); nothing "
			"changed",
		    c->args->verb_name, what, (unsigned long long)problems);
		return CTL_EXIT_FAIL;
	}
	(void)c;
	return 0;
}

/* Ask the running databusd to swap its store; print what it did. */
static int
swap_online(struct ctl *c, const char *staged, bool compact)
{
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__StoreSwap sw = DBS__STORE_SWAP__INIT;
	Dbs__ControlReply *r;
	const Dbs__StoreSwapReply *sr;
	char b1[32], b2[32];
	int rc;

	sw.staged = (char *)(staged != NULL ? staged : "");
	sw.compact = compact;
	req.verb_case = DBS__CONTROL_REQUEST__VERB_STORE_SWAP;
	req.store_swap = &sw;
	if ((rc = ctl_request(c, &req, &r)) != CTL_EXIT_OK)
		return rc;
	sr = r->swap;
	if (sr == NULL) {
		dbs__control_reply__free_unpacked(r, NULL);
		ctl_err("%s: databusd gave no figures", c->args->verb_name);
		return CTL_EXIT_FAIL;
	}
	if (c->args->json)
		rc = ctl_print_json(json_pack(
		    "{s:b, s:b, s:I, s:I, s:f, s:f, s:o}", "ok", 1, "online",
		    1, "before", (json_int_t)sr->before, "after",
		    (json_int_t)sr->after, "pause_ms", sr->pause_us / 1000.0,
		    "drain_ms", sr->drain_us / 1000.0, "old_store",
		    rj_string(sr->old_store)));
	else
		printf("%s: %s -> %s; intake paused %.1f ms%s%.1f ms); the "
		       "old store is in %s\n",
		    c->args->verb_name, ctl_size(sr->before, b1),
		    ctl_size(sr->after, b2), sr->pause_us / 1000.0,
		    compact ? " (no drain: "
			    : " (after waiting for the drives "
			      "under way: ",
		    sr->drain_us / 1000.0, sr->old_store);
	dbs__control_reply__free_unpacked(r, NULL);
	return rc;
}

int
ctl_cmd_compact(struct ctl *c)
{
	char err[1024], b1[32], b2[32];
	uint64_t before = 0, after = 0;
	int rc;

	if (lmdb_only(c, "compact"))
		return CTL_EXIT_FAIL;
	rc = store_compact(c->store_dir, &before, &after, err, sizeof(err));
	if (rc == DBS_ELOCKED) {
		/* databusd runs: it compacts, after we verified the store. */
		if (verify_dir(c, c->store_dir, "the store") != 0)
			return CTL_EXIT_FAIL;
		return swap_online(c, NULL, true);
	}
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

/* Copy `from` to `dir`/data.mdb, fsync'd. */
static int
copy_file(const char *from, const char *dir)
{
	char to[PATH_MAX + 128], buf[1 << 16];
	int in, out, rc = 0;
	ssize_t n;

	snprintf(to, sizeof(to), "%s/data.mdb", dir);
	if ((in = open(from, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if ((out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) <
	    0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			rc = -1;
			break;
		}
	if (n < 0 || fsync(out) != 0)
		rc = -1;
	close(in);
	if (close(out) != 0)
		rc = -1;
	return rc;
}

static void
remove_staged(const char *dir)
{
	char p[PATH_MAX + 128];

	snprintf(p, sizeof(p), "%s/data.mdb", dir);
	(void)unlink(p);
	snprintf(p, sizeof(p), "%s/lock.mdb", dir);
	(void)unlink(p);
	(void)rmdir(dir);
}

/* databusd is stopped: swap the directories under the writer lock. */
static int
swap_offline(struct ctl *c, struct store *held, const char *staged)
{
	char old[PATH_MAX + 64], stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", gmtime_r(&now, &tm));
	snprintf(old, sizeof(old), "%s.old-%s", c->store_dir, stamp);
	for (int n = 2; access(old, F_OK) == 0 && n < 1000; n++)
		snprintf(
		    old, sizeof(old), "%s.old-%s-%d", c->store_dir, stamp, n);
	if (rename(c->store_dir, old) != 0 ||
	    rename(staged, c->store_dir) != 0) {
		ctl_err("restore: cannot swap the store: %s", strerror(errno));
		(void)rename(old, c->store_dir);
		store_close(held);
		return CTL_EXIT_FAIL;
	}
	store_close(held);
	if (c->args->json)
		return ctl_print_json(json_pack("{s:b, s:b, s:o}", "ok", 1,
		    "online", 0, "old_store", rj_string(old)));
	printf("restore: the store is the backup now; the old store is in "
	       "%s\n",
	    old);
	return CTL_EXIT_OK;
}

int
ctl_cmd_restore(struct ctl *c)
{
	char staged[PATH_MAX + 64], data[PATH_MAX];
	struct store *held = NULL;
	int rc;

	if (lmdb_only(c, "restore"))
		return CTL_EXIT_FAIL;
	if (realpath(c->args->data_dir, data) == NULL) {
		ctl_err("restore: %s: %s", c->args->data_dir, strerror(errno));
		return CTL_EXIT_FAIL;
	}
	snprintf(
	    staged, sizeof(staged), "%s/store.staged-%d", data, (int)getpid());
	if (mkdir(staged, 0700) != 0 || copy_file(c->args->file, staged)) {
		ctl_err("restore: cannot copy %s into %s: %s", c->args->file,
		    staged, strerror(errno));
		remove_staged(staged);
		return CTL_EXIT_FAIL;
	}
	if (verify_dir(c, staged, c->args->file) != 0) {
		remove_staged(staged);
		return CTL_EXIT_FAIL;
	}
	{
		char lock[PATH_MAX + 80];

		snprintf(lock, sizeof(lock), "%s/lock.mdb", staged);
		(void)unlink(lock);
	}
	rc = store_open(c->store_dir, STORE_RDWR, NULL, &held);
	if (rc == DBS_ELOCKED)
		rc = swap_online(c, staged, false);
	else if (rc == DBS_OK)
		return swap_offline(c, held, staged);
	else
		rc = ctl_store_fail(c, "restore", rc);
	if (rc != CTL_EXIT_OK)
		remove_staged(staged);
	return rc;
}
