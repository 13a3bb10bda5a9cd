/*
 * copy.c — whole-store copies: the hot backup and the offline compaction
 * behind `databusctl backup FILE` and `databusctl compact`.
 *
 * A backup is LMDB's own copy (mdb_env_copyfd2) of one read snapshot, so
 * it runs while databusd writes: a read transaction never blocks the
 * writer, it only keeps the pages of its snapshot from being reused until
 * the copy ends. The copy goes to a temporary file next to the target,
 * is fsync'd, and is renamed into place, so FILE is either the previous
 * file or a complete backup, never half of one.
 *
 * Compaction rewrites the store without its free pages (MDB_CP_COMPACT)
 * into a new data file and swaps it in. It needs the writer lock (so it
 * refuses while databusd runs: DBS_ELOCKED) and keeps that lock until the
 * new file is in place, so no databusd can open the store meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_impl.h"
#include "store_pg.h"

static int
errno_rc(int e)
{
	if (e == ENOSPC || e == EDQUOT)
		return DBS_ENOSPC;
	if (e == EIO)
		return DBS_EIO;
	return dbs_from_errno(e);
}

/* Copy the snapshot of `st` into `tmp` (created, must not exist), fsync
 * it and rename it to `path`. */
static int
copy_to(struct store *st, const char *path, const char *tmp, bool compact)
{
	int fd, mrc, tries = 0, rc = DBS_OK;

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		sti_set_error(st, "create %s: %s", tmp, strerror(errno));
		return errno_rc(errno);
	}
	/* databusd may grow the map while we begin: adopt its size. */
	while ((mrc = mdb_env_copyfd2(st->env, fd,
		    compact ? MDB_CP_COMPACT : 0)) == MDB_MAP_RESIZED &&
	       tries++ < 3) {
		if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
			break;
		(void)mdb_env_set_mapsize(st->env, 0);
	}
	if (mrc != 0) {
		sti_set_error(
		    st, "copying the store to %s: %s", tmp, mdb_strerror(mrc));
		rc = mrc > 0 ? errno_rc(mrc) : DBS_EIO;
		goto fail;
	}
	if (fsync(fd) != 0) {
		sti_set_error(st, "fsync %s: %s", tmp, strerror(errno));
		rc = errno_rc(errno);
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		sti_set_error(st, "close %s: %s", tmp, strerror(errno));
		rc = errno_rc(errno);
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		sti_set_error(
		    st, "rename %s to %s: %s", tmp, path, strerror(errno));
		rc = errno_rc(errno);
		goto fail;
	}
	return DBS_OK;
fail:
	if (fd >= 0)
		close(fd);
	(void)unlink(tmp);
	return rc;
}

int
store_backup(struct store *st, const char *path, uint64_t *bytes)
{
	char tmp[4200];
	struct stat sb;
	int rc;

	if (bytes != NULL)
		*bytes = 0;
	if (st == NULL || path == NULL || *path == '\0')
		return DBS_EINVAL;
	if (st->pg != NULL)
		return stpg_lmdb_only(st, "store_backup");
	if (snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid()) >=
	    (int)sizeof(tmp))
		return DBS_ETOOBIG;
	if ((rc = copy_to(st, path, tmp, false)) != DBS_OK)
		return rc;
	if (bytes != NULL && stat(path, &sb) == 0)
		*bytes = (uint64_t)sb.st_size;
	return DBS_OK;
}

int
store_compact(const char *dir, uint64_t *before, uint64_t *after, char *err,
    size_t errlen)
{
	struct store *st = NULL;
	char data[4200], tmp[4200];
	struct stat sb;
	int rc;

	if (before != NULL)
		*before = 0;
	if (after != NULL)
		*after = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (snprintf(data, sizeof(data), "%s/data.mdb", dir) >=
		(int)sizeof(data) ||
	    snprintf(tmp, sizeof(tmp), "%s/data.mdb.compact", dir) >=
		(int)sizeof(tmp))
		return DBS_ETOOBIG;
	if (stat(data, &sb) != 0) {
		snprintf(err, errlen, "%s: %s", data, strerror(errno));
		return errno == ENOENT ? DBS_ENOTFOUND : errno_rc(errno);
	}
	if (before != NULL)
		*before = (uint64_t)sb.st_size;
	/* The writer lock: refused while databusd (or another compaction)
	 * has the store open. */
	if ((rc = store_open(dir, STORE_RDWR, NULL, &st)) != DBS_OK) {
		if (rc == DBS_ELOCKED)
			snprintf(err, errlen,
			    "the store in %s is in use by a running databusd; "
			    "stop it first (compaction is offline; use "
			    "`databusctl backup FILE` while it runs)",
			    dir);
		else
			snprintf(
			    err, errlen, "cannot open the store in %s", dir);
		return rc;
	}
	(void)unlink(tmp); /* left by an interrupted compaction */
	rc = copy_to(st, tmp, tmp, true);
	if (rc != DBS_OK) {
		snprintf(err, errlen, "%s", store_last_error(st));
		goto out;
	}
	/* Swap while the lock is held; our map of the old file stays valid
	 * until store_close. */
	if (rename(tmp, data) != 0) {
		snprintf(err, errlen, "rename %s to %s: %s", tmp, data,
		    strerror(errno));
		rc = errno_rc(errno);
		(void)unlink(tmp);
		goto out;
	}
	{
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
	}
	if (after != NULL && stat(data, &sb) == 0)
		*after = (uint64_t)sb.st_size;
out:
	store_close(st);
	return rc;
}
