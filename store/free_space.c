/*
 * free_space.c — how much space the store has left: free space on the disk of
 * its data file, and free bytes its map may still use (up to max_size).
 *
 * databusd pauses intake on ENOSPC and MAP_FULL. Before it resumes, it
 * asks store_room() whether a batch would fit again, so that a tiny probe
 * commit that happens to fit does not resume intake only for the next
 * batch to fail (intake flapping, with worker restarts each time).
 *
 * LMDB reports a write that the disk could only do in part as EIO (it
 * cannot tell a short write's cause), so a commit failing with EIO on a
 * disk with (almost) no space left is reported as ENOSPC: that is what
 * the operator must fix.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "store_impl.h"
#include "store_pg.h"

/* Below this much free disk space an EIO at commit is called ENOSPC. */
#define NEARLY_FULL (4u << 20)

static int
disk_free(struct store *st, uint64_t *bytes)
{
	const char *path = NULL;
	struct statvfs sv;

	*bytes = 0;
	if (mdb_env_get_path(st->env, &path) != 0 || path == NULL)
		return DBS_EINVAL;
	if (statvfs(path, &sv) != 0)
		return dbs_from_errno(errno);
	*bytes = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	return DBS_OK;
}

int
sti_commit_error(struct store *st, int rc)
{
	uint64_t free_bytes;
	size_t n;

	if (rc != DBS_EIO || disk_free(st, &free_bytes) != DBS_OK ||
	    free_bytes >= NEARLY_FULL)
		return rc;
	n = strlen(st->err);
	snprintf(st->err + n, sizeof(st->err) - n,
	    "; %llu bytes free on the disk: no space left on device",
	    (unsigned long long)free_bytes);
	return DBS_ENOSPC;
}

int
store_room(struct store *st, uint64_t *disk_bytes, uint64_t *map_bytes)
{
	MDB_envinfo info;
	uint64_t used, limit;
	int rc;

	*disk_bytes = *map_bytes = 0;
	if (st != NULL && st->pg != NULL)
		return stpg_lmdb_only(st, "store_room");
	if (st == NULL || st->env == NULL)
		return DBS_EINVAL;
	if ((rc = disk_free(st, disk_bytes)) != DBS_OK)
		return rc;
	if (mdb_env_info(st->env, &info) != 0)
		return DBS_EIO;
	used = ((uint64_t)info.me_last_pgno + 1) * st->page_size;
	limit =
	    info.me_mapsize > st->max_size ? info.me_mapsize : st->max_size;
	*map_bytes = limit > used ? limit - used : 0;
	return DBS_OK;
}
