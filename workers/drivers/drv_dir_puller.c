/*
 * drv_dir_puller.c — the `dir` puller: every regular file in a directory
 * whose name matches a glob becomes a passenger with the file as its one
 * attachment; once the passenger is seated, notify() moves the file into
 * a "done" directory.
 *
 * Safety: the directory is opened once at init and every file is opened
 * relative to it with O_NOFOLLOW, so a symlink dropped into the directory
 * is never followed; names come from readdir and never contain '/'.
 * Dotfiles are ignored, which gives writers a safe protocol: write
 * ".name.tmp", then rename it to "name". A file that changes while it is
 * read is left for the next drive.
 *
 * The external id "<name>:<size>:<mtime_ns>" names one version of a file:
 * a file rewritten under the same name is a new passenger, and notify()
 * moves a file only while it is still the version that was seated.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dbs_error.h"
#include "driver.h"

#define DIR_MAX_SIZE (64ull << 20)

struct dir_puller {
	char *path;
	int dirfd;
	char *pattern;
	char *done;  /* as configured; relative to path unless '/' */
	int done_fd; /* -1 until the first notify */
	uint64_t max_per_drive;
	uint64_t max_size;
};

static const struct {
	const char *ext;
	const char *type;
} content_types[] = {
    {"txt", "text/plain"},
    {"json", "application/json"},
    {"xml", "application/xml"},
    {"csv", "text/csv"},
    {"html", "text/html"},
    {"htm", "text/html"},
    {"pdf", "application/pdf"},
    {"xlsx",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"xls", "application/vnd.ms-excel"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
};

/* The content type of a file name, by its extension. */
static const char *
guess_type(const char *name)
{
	const char *dot = strrchr(name, '.');
	size_t i;

	if (dot != NULL && dot != name)
		for (i = 0;
		     i < sizeof(content_types) / sizeof(content_types[0]); i++)
			if (strcasecmp(dot + 1, content_types[i].ext) == 0)
				return content_types[i].type;
	return "application/octet-stream";
}

static void
dp_free(struct dir_puller *d)
{
	if (d == NULL)
		return;
	if (d->dirfd >= 0)
		close(d->dirfd);
	if (d->done_fd >= 0)
		close(d->done_fd);
	free(d->path);
	free(d->pattern);
	free(d->done);
	free(d);
}

static int
dp_init(struct drv_ctx *ctx, const json_t *settings, void **state, char *err,
    size_t errlen)
{
	static const char *const keys[] = {
	    "path", "pattern", "done", "max_per_drive", "max_size", NULL};
	const char *path, *pattern, *done;
	uint64_t max_per_drive, max_size;
	struct dir_puller *d;
	int rc;

	*state = NULL;
	rc = drv_settings_only(settings, keys, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_string(
		    settings, "path", NULL, &path, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_string(
		    settings, "pattern", "*", &pattern, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_string(
		    settings, "done", ".done", &done, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_uint(settings, "max_per_drive", 1000, 1,
		    1000000, &max_per_drive, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_uint(settings, "max_size", DIR_MAX_SIZE, 1,
		    DIR_MAX_SIZE, &max_size, err, errlen);
	if (rc != DBS_OK)
		return rc;
	if (pattern[0] == '\0') {
		snprintf(err, errlen, "pattern: must not be empty");
		return DBS_ECONFIG;
	}
	if (done[0] == '\0' || strcmp(done, ".") == 0 ||
	    strcmp(done, "./") == 0) {
		snprintf(err, errlen,
		    "done: must name another directory than path");
		return DBS_ECONFIG;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return DBS_ENOMEM;
	d->dirfd = -1;
	d->done_fd = -1;
	d->max_per_drive = max_per_drive;
	d->max_size = max_size;
	d->path = strdup(path);
	d->pattern = strdup(pattern);
	d->done = strdup(done);
	if (d->path == NULL || d->pattern == NULL || d->done == NULL) {
		dp_free(d);
		return DBS_ENOMEM;
	}
	d->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dirfd < 0) {
		snprintf(err, errlen, "path: cannot open directory \"%s\": %s",
		    path, strerror(errno));
		dp_free(d);
		return DBS_ECONFIG;
	}
	*state = d;
	return DBS_OK;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of candidate files, sorted; *out NULL-free array of *n. */
static int
list_names(struct dir_puller *d, char ***out, size_t *n_out)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dir;
	int fd;

	*out = NULL;
	*n_out = 0;
	fd = openat(d->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return dbs_from_errno(errno);
	dir = fdopendir(fd);
	if (dir == NULL) {
		close(fd);
		return dbs_from_errno(errno);
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue; /* directories, symlinks, fifos, ... */
		if (fnmatch(d->pattern, de->d_name, 0) != 0)
			continue;
		if (n == cap) {
			size_t ncap = cap != 0 ? cap * 2 : 64;
			char **p = realloc(names, ncap * sizeof(*names));

			if (p == NULL)
				goto nomem;
			names = p;
			cap = ncap;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL)
			goto nomem;
		n++;
	}
	closedir(dir);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	*out = names;
	*n_out = n;
	return DBS_OK;
nomem:
	closedir(dir);
	while (n > 0)
		free(names[--n]);
	free(names);
	return DBS_ENOMEM;
}

static long long
mtime_ns(const struct stat *st)
{
	return (long long)st->st_mtim.tv_sec * 1000000000LL +
	       st->st_mtim.tv_nsec;
}

/*
 * Read one file. Returns DBS_OK with *data (malloc'd) and *st;
 * DBS_ENOTFOUND when it is not a candidate now (gone, a symlink, not a
 * regular file, changed while read: skip it silently); DBS_ETOOBIG (with
 * *st) when larger than max_size; or an error to log.
 */
static int
read_file(struct dir_puller *d, const char *name, struct stat *st, char **data)
{
	struct stat st2;
	size_t got = 0;
	char *buf = NULL;
	int fd, rc;

	*data = NULL;
	fd = openat(d->dirfd, name,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP
			   ? DBS_ENOTFOUND
			   : dbs_from_errno(errno);
	if (fstat(fd, st) != 0) {
		rc = dbs_from_errno(errno);
		goto out;
	}
	if (!S_ISREG(st->st_mode)) {
		rc = DBS_ENOTFOUND;
		goto out;
	}
	if ((uint64_t)st->st_size > d->max_size) {
		rc = DBS_ETOOBIG;
		goto out;
	}
	buf = malloc(st->st_size > 0 ? (size_t)st->st_size : 1);
	if (buf == NULL) {
		rc = DBS_ENOMEM;
		goto out;
	}
	while (got < (size_t)st->st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st->st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = dbs_from_errno(errno);
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	/* Still being written: take it at a later drive. */
	if (got != (size_t)st->st_size || fstat(fd, &st2) != 0 ||
	    st2.st_size != st->st_size || mtime_ns(&st2) != mtime_ns(st)) {
		rc = DBS_ENOTFOUND;
		goto out;
	}
	*data = buf;
	buf = NULL; /* transferred */
	rc = DBS_OK;
out:
	free(buf);
	close(fd);
	return rc;
}

static int
scan(struct dir_puller *d, struct drv_ctx *ctx, struct drv_sink *sink)
{
	char **names = NULL;
	size_t n = 0, i;
	uint64_t emitted = 0;
	int rc;

	rc = list_names(d, &names, &n);
	if (rc != DBS_OK) {
		drv_log(ctx, DRV_ERROR, 0, "cannot list \"%s\": %s", d->path,
		    dbs_strerror(rc));
		return rc;
	}
	for (i = 0; i < n && emitted < d->max_per_drive; i++) {
		const char *name = names[i];
		char id[NAME_MAX + 64], size[32], mtime[40];
		struct drv_kv md[3];
		struct drv_attachment att;
		struct stat st;
		struct tm tm;
		char *data;

		rc = read_file(d, name, &st, &data);
		if (rc == DBS_ENOTFOUND)
			continue;
		if (rc == DBS_ETOOBIG) {
			drv_log(ctx, DRV_WARNING, 0,
			    "%s: skipped, %lld bytes is more than max_size "
			    "(%llu)",
			    name, (long long)st.st_size,
			    (unsigned long long)d->max_size);
			continue;
		}
		if (rc != DBS_OK) {
			drv_log(ctx, DRV_WARNING, 0, "%s: cannot read: %s",
			    name, dbs_strerror(rc));
			if (rc == DBS_ENOMEM)
				break;
			continue;
		}
		snprintf(id, sizeof(id), "%s:%lld:%lld", name,
		    (long long)st.st_size, mtime_ns(&st));
		snprintf(size, sizeof(size), "%lld", (long long)st.st_size);
		gmtime_r(&st.st_mtim.tv_sec, &tm);
		strftime(mtime, sizeof(mtime), "%Y-%m-%dT%H:%M:%SZ", &tm);
		md[0] = (struct drv_kv){"filename", name};
		md[1] = (struct drv_kv){"size", size};
		md[2] = (struct drv_kv){"mtime", mtime};
		att = (struct drv_attachment){
		    name, guess_type(name), data, (size_t)st.st_size};
		rc = drv_emit(sink, id, name, md, 3, &att, 1);
		free(data);
		if (rc == 1) {
			rc = DBS_OK;
			break;
		}
		if (rc == DBS_EINVAL || rc == DBS_ETOOBIG) {
			drv_log(ctx, DRV_WARNING, 0, "%s: skipped: %s", name,
			    rc == DBS_EINVAL ? "the name is not UTF-8"
					     : "too large for one message");
			rc = DBS_OK;
			continue;
		}
		if (rc != DBS_OK)
			break;
		emitted++;
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static int
dp_pull(void *state, struct drv_ctx *ctx, struct drv_sink *sink)
{
	return scan(state, ctx, sink);
}

static int
dp_peek(void *state, struct drv_ctx *ctx, struct drv_sink *sink)
{
	return scan(state, ctx, sink);
}

/* Open (and at the first time create) the done directory. */
static int
open_done(struct dir_puller *d, char *err, size_t errlen)
{
	int rel = d->done[0] != '/';
	int fd;

	if (d->done_fd >= 0)
		return DBS_OK;
	if ((rel ? mkdirat(d->dirfd, d->done, 0755) : mkdir(d->done, 0755)) !=
		0 &&
	    errno != EEXIST) {
		snprintf(err, errlen,
		    "cannot create done directory \"%s\": %s", d->done,
		    strerror(errno));
		return dbs_from_errno(errno);
	}
	/* A done directory inside `path` is never reached through a
	 * symlink; an absolute one is the operator's choice. */
	fd = rel ? openat(d->dirfd, d->done,
		       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
		 : open(d->done, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open done directory \"%s\": %s",
		    d->done, strerror(errno));
		return dbs_from_errno(errno);
	}
	d->done_fd = fd;
	return DBS_OK;
}

static int
dp_notify(void *state, struct drv_ctx *ctx, const char *external_id,
    const char *source_ref, char *err, size_t errlen)
{
	struct dir_puller *d = state;
	const char *name = source_ref;
	size_t nlen = strlen(name);
	char target[NAME_MAX + 1];
	long long size, mtime;
	struct stat st;
	int rc;

	if (nlen == 0 || nlen > NAME_MAX || strchr(name, '/') != NULL ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strncmp(external_id, name, nlen) != 0 ||
	    sscanf(external_id + nlen, ":%lld:%lld", &size, &mtime) != 2) {
		snprintf(err, errlen, "not an item of this puller: \"%s\"",
		    external_id);
		return DBS_EINVAL;
	}
	if (fstatat(d->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return DBS_OK; /* moved already */
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		return dbs_from_errno(errno);
	}
	if (!S_ISREG(st.st_mode) || st.st_size != size ||
	    mtime_ns(&st) != mtime) {
		drv_log(ctx, DRV_INFO, 0,
		    "%s changed after it was pulled; left in place for the "
		    "next drive",
		    name);
		return DBS_OK;
	}
	rc = open_done(d, err, errlen);
	if (rc != DBS_OK)
		return rc;
	if (renameat2(d->dirfd, name, d->done_fd, name, RENAME_NOREPLACE) == 0)
		return DBS_OK;
	if (errno == ENOENT)
		return DBS_OK;
	if (errno == EEXIST) {
		/* An earlier file of the same name is in done: keep both. */
		if (snprintf(target, sizeof(target), "%s.%lld", name, mtime) <
			(int)sizeof(target) &&
		    renameat(d->dirfd, name, d->done_fd, target) == 0)
			return DBS_OK;
		if (errno == ENOENT)
			return DBS_OK;
	}
	snprintf(err, errlen, "cannot move %s to %s: %s", name, d->done,
	    strerror(errno));
	return dbs_from_errno(errno);
}

static void
dp_fini(void *state)
{
	dp_free(state);
}

const struct drv_ops drv_dir_puller_ops = {
    .type = "dir",
    .kind = DRV_PULLER,
    .init = dp_init,
    .pull = dp_pull,
    .peek = dp_peek,
    .notify = dp_notify,
    .fini = dp_fini,
};
