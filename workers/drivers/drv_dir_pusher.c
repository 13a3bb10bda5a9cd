/*
 * drv_dir_pusher.c — the `dir` pusher: delivers a passenger's attachments
 * (and optionally its metadata as JSON) as files into a directory.
 *
 * Every file appears atomically: it is written to ".tmp-<id>-<random>" in
 * the target directory (O_EXCL), fsync'd, renamed over its final name, and
 * the directory is fsync'd after the passenger's last file, so a reader
 * never sees a half-written file and a crash never loses an acknowledged
 * one. Delivery is idempotent: the output names derive from the internal
 * id, so a retried push replaces each file with an identical one.
 *
 * File names come from a template ("filename"; "name" is the entry's
 * own name, as for every driver) whose placeholders are sanitised to
 * [A-Za-z0-9._-] (anything else becomes '_'); a leading '.' becomes '_'
 * too, so no name is "..", hidden, or clashes with the temporary files,
 * and no name can contain '/': what a source puts in an external id or an
 * attachment name cannot escape the directory.
 *
 * Files get the permissions of "mode" (default 0640: the owner writes, its
 * group reads), set with fchmod so that the umask does not change them.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbs_error.h"
#include "driver.h"

struct dir_pusher {
	char *path;
	int dirfd;
	char *name;       /* file name template */
	char *attachment; /* glob of the attachments to write */
	int passenger_json;
	mode_t mode; /* of every file written ("mode", default 0640) */
};

static void
dq_free(struct dir_pusher *d)
{
	if (d == NULL)
		return;
	if (d->dirfd >= 0)
		close(d->dirfd);
	free(d->path);
	free(d->name);
	free(d->attachment);
	free(d);
}

static const char *const placeholders[] = {
    "{id}",
    "{attachment}",
    "{external_id}",
};

/* Length of the placeholder at `s`, or 0. */
static size_t
placeholder_at(const char *s, size_t *which)
{
	size_t i;

	for (i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]); i++)
		if (strncmp(s, placeholders[i], strlen(placeholders[i])) ==
		    0) {
			*which = i;
			return strlen(placeholders[i]);
		}
	return 0;
}

static int
check_template(const char *t, char *err, size_t errlen)
{
	size_t which;

	for (; *t != '\0'; t++) {
		size_t len = placeholder_at(t, &which);

		if (len > 0) {
			t += len - 1;
			continue;
		}
		if (*t == '{' || *t == '}') {
			snprintf(err, errlen,
			    "filename: unknown placeholder at \"%.20s\" (use "
			    "{id}, "
			    "{attachment}, {external_id})",
			    t);
			return DBS_ECONFIG;
		}
		if (*t == '/') {
			snprintf(
			    err, errlen, "filename: must not contain '/'");
			return DBS_ECONFIG;
		}
	}
	return DBS_OK;
}

static int
safe_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/*
 * Expand the template into `out` (NAME_MAX + 1 bytes). Returns DBS_OK or
 * DBS_ETOOBIG when the name would be longer than NAME_MAX.
 */
static int
expand(const char *t, const char *values[3], char *out)
{
	size_t len = 0, which;

	for (; *t != '\0'; t++) {
		size_t plen = placeholder_at(t, &which);
		const char *s = plen > 0 ? values[which] : t;
		size_t n = plen > 0 ? strlen(s) : 1;

		if (len + n > NAME_MAX)
			return DBS_ETOOBIG;
		for (size_t i = 0; i < n; i++)
			out[len++] =
			    safe_char((unsigned char)s[i]) ? s[i] : '_';
		if (plen > 0)
			t += plen - 1;
	}
	if (len == 0)
		out[len++] = '_';
	out[len] = '\0';
	if (out[0] == '.')
		out[0] = '_';
	return DBS_OK;
}

/* "mode": an octal string of permission bits, "0640" or "640", at most
 * 0777 (no setuid, setgid or sticky bit). */
static int
parse_mode(const char *s, mode_t *out, char *err, size_t errlen)
{
	unsigned long v = 0;
	size_t n = strlen(s);

	if (n < 3 || n > 4 || strspn(s, "01234567") != n ||
	    (v = strtoul(s, NULL, 8)) > 0777) {
		snprintf(err, errlen,
		    "mode: expected an octal string of permissions like "
		    "\"0640\" (at most \"0777\")");
		return DBS_ECONFIG;
	}
	*out = (mode_t)v;
	return DBS_OK;
}

static int
dq_init(struct drv_ctx *ctx, const json_t *settings, void **state, char *err,
    size_t errlen)
{
	static const char *const keys[] = {
	    "path", "filename", "attachment", "passenger_json", "mode", NULL};
	const char *path, *name, *attachment, *mode_text;
	struct dir_pusher *d;
	int passenger_json;
	mode_t mode = 0640;
	int rc;

	*state = NULL;
	rc = drv_settings_only(settings, keys, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_string(
		    settings, "path", NULL, &path, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_string(settings, "filename",
		    "{id}-{attachment}", &name, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_string(
		    settings, "attachment", "*", &attachment, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_bool(settings, "passenger_json", 0,
		    &passenger_json, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_string(
		    settings, "mode", "0640", &mode_text, err, errlen);
	if (rc == DBS_OK)
		rc = parse_mode(mode_text, &mode, err, errlen);
	if (rc == DBS_OK)
		rc = check_template(name, err, errlen);
	if (rc != DBS_OK)
		return rc;
	if (name[0] == '\0' || attachment[0] == '\0') {
		snprintf(err, errlen, "%s: must not be empty",
		    name[0] == '\0' ? "filename" : "attachment");
		return DBS_ECONFIG;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return DBS_ENOMEM;
	d->dirfd = -1;
	d->passenger_json = passenger_json;
	d->mode = mode;
	d->path = strdup(path);
	d->name = strdup(name);
	d->attachment = strdup(attachment);
	if (d->path == NULL || d->name == NULL || d->attachment == NULL) {
		dq_free(d);
		return DBS_ENOMEM;
	}
	d->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dirfd < 0 ||
	    faccessat(d->dirfd, ".", W_OK | X_OK, AT_EACCESS) != 0) {
		snprintf(err, errlen, "path: cannot %s directory \"%s\": %s",
		    d->dirfd < 0 ? "open" : "write to", path, strerror(errno));
		dq_free(d);
		return DBS_ECONFIG;
	}
	*state = d;
	return DBS_OK;
}

/*
 * Write `data` to `name` in the directory atomically (temporary file,
 * fsync, rename). The caller fsyncs the directory. Returns 0 or an errno.
 */
static int
write_atomic(struct dir_pusher *d, uint64_t id, const char *name,
    const void *data, size_t len)
{
	char tmp[64];
	size_t off = 0;
	int fd = -1, e, tries;

	for (tries = 0; fd < 0 && tries < 8; tries++) {
		uint64_t r = 0;

		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint64_t)getpid() * 2654435761u + (uint64_t)tries;
		snprintf(
		    tmp, sizeof(tmp), ".tmp-%" PRIu64 "-%016" PRIx64, id, r);
		fd = openat(d->dirfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    d->mode);
		if (fd < 0 && errno != EEXIST)
			return errno;
	}
	if (fd < 0)
		return EEXIST;
	/* Exactly the configured mode: the umask must not narrow it. */
	if (fchmod(fd, d->mode) != 0)
		goto fail;
	while (off < len) {
		ssize_t w = write(fd, (const char *)data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail;
		off += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (renameat(d->dirfd, tmp, d->dirfd, name) != 0)
		goto fail;
	return 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(d->dirfd, tmp, 0);
	return e;
}

/* A JSON string, or a placeholder when `s` is not UTF-8. */
static json_t *
jstr(const char *s)
{
	json_t *j = json_string(s != NULL ? s : "");

	return j != NULL ? j : json_string("(not UTF-8)");
}

static char *
passenger_json(const struct drv_passenger *p)
{
	json_t *o = json_object(), *md = json_object(), *atts = json_array();
	char *out = NULL;
	size_t i;

	if (o == NULL || md == NULL || atts == NULL)
		goto out;
	for (i = 0; i < p->n_metadata; i++)
		json_object_set_new(md,
		    drv_utf8_valid(
			p->metadata[i].key, strlen(p->metadata[i].key))
			? p->metadata[i].key
			: "(not UTF-8)",
		    jstr(p->metadata[i].value));
	for (i = 0; i < p->n_attachments; i++) {
		const struct drv_attachment *a = &p->attachments[i];

		json_array_append_new(
		    atts, json_pack("{s:o, s:o, s:I}", "name", jstr(a->name),
			      "content_type",
			      jstr(a->content_type != NULL
				       ? a->content_type
				       : "application/octet-stream"),
			      "size", (json_int_t)a->len));
	}
	json_object_set_new(o, "id", json_integer((json_int_t)p->id));
	json_object_set_new(o, "client", jstr(p->client));
	json_object_set_new(o, "definition", jstr(p->definition));
	json_object_set_new(o, "puller", jstr(p->puller));
	json_object_set_new(o, "external_id", jstr(p->external_id));
	json_object_set(o, "metadata", md);
	json_object_set(o, "attachments", atts);
	out = json_dumps(o, JSON_INDENT(2));
out:
	json_decref(o);
	json_decref(md);
	json_decref(atts);
	return out;
}

/* One output file of a push. */
struct output {
	char name[NAME_MAX + 1];
	const void *data;
	size_t len;
};

/*
 * The files a push of `p` writes: *outs (n of them; names, and bodies that
 * point into `p` or into *json, the passenger document when
 * passenger_json is set). The caller frees *outs and *json whatever the
 * result. DRV_FAIL for a name too long or two outputs under one name.
 */
static enum drv_result
plan(struct dir_pusher *d, const struct drv_passenger *p,
    struct output **outsp, size_t *np, char **json, char *err, size_t errlen)
{
	struct output *outs;
	char idbuf[24];
	size_t n = 0, i, k;

	snprintf(idbuf, sizeof(idbuf), "%" PRIu64, p->id);
	*outsp = outs = calloc(p->n_attachments + 2, sizeof(*outs));
	if (outs == NULL) {
		snprintf(err, errlen, "out of memory");
		return DRV_RETRY;
	}
	for (i = 0; i < p->n_attachments; i++) {
		const struct drv_attachment *a = &p->attachments[i];
		const char *values[3] = {idbuf, a->name,
		    p->external_id != NULL ? p->external_id : ""};

		if (fnmatch(d->attachment, a->name, 0) != 0)
			continue;
		if (expand(d->name, values, outs[n].name) != DBS_OK) {
			snprintf(err, errlen,
			    "file name for attachment \"%.80s\" is longer "
			    "than %d bytes",
			    a->name, NAME_MAX);
			return DRV_FAIL;
		}
		outs[n].data = a->data;
		outs[n].len = a->len;
		n++;
	}
	if (d->passenger_json) {
		if ((*json = passenger_json(p)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return DRV_RETRY;
		}
		snprintf(outs[n].name, sizeof(outs[n].name), "%s.json", idbuf);
		outs[n].data = *json;
		outs[n].len = strlen(*json);
		n++;
	}
	*np = n;
	/* Two outputs under one name would overwrite each other. */
	for (i = 0; i < n; i++)
		for (k = i + 1; k < n; k++)
			if (strcmp(outs[i].name, outs[k].name) == 0) {
				snprintf(err, errlen,
				    "two files would be named \"%s\"; put "
				    "{attachment} in the name template",
				    outs[i].name);
				return DRV_FAIL;
			}
	return DRV_OK;
}

static enum drv_result
dq_push(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    const char *idempotency_key, char *err, size_t errlen)
{
	struct dir_pusher *d = state;
	struct output *outs = NULL;
	char *json = NULL;
	size_t n = 0, i;
	enum drv_result res;
	int e;

	(void)idempotency_key;
	if ((res = plan(d, p, &outs, &n, &json, err, errlen)) != DRV_OK)
		goto out;
	if (n == 0) {
		drv_log(ctx, DRV_INFO, p->id,
		    "no attachment matches \"%s\": nothing written",
		    d->attachment);
		goto out;
	}
	/* Resolve the path again for every push: the target directory may
	 * have been replaced since init (a remount, an operator's fix). */
	{
		int fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0) {
			snprintf(err, errlen, "cannot open directory %s: %s",
			    d->path, strerror(errno));
			res = DRV_RETRY;
			goto out;
		}
		if (d->dirfd >= 0)
			close(d->dirfd);
		d->dirfd = fd;
	}
	for (i = 0; i < n; i++) {
		e = write_atomic(
		    d, p->id, outs[i].name, outs[i].data, outs[i].len);
		if (e != 0) {
			snprintf(err, errlen, "cannot write %s/%s: %s",
			    d->path, outs[i].name, strerror(e));
			res = DRV_RETRY;
			goto out;
		}
	}
	if (fsync(d->dirfd) != 0) {
		snprintf(err, errlen, "cannot sync directory %s: %s", d->path,
		    strerror(errno));
		res = DRV_RETRY;
	}
out:
	free(json);
	free(outs);
	return res;
}

/* dry-run: the paths and sizes a push would write; nothing is. */
static enum drv_result
dq_dry_push(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    const char *idempotency_key, char *desc, size_t desclen, char *err,
    size_t errlen)
{
	struct dir_pusher *d = state;
	struct output *outs = NULL;
	char *json = NULL;
	size_t n = 0, used;
	enum drv_result res;

	(void)ctx;
	(void)idempotency_key;
	res = plan(d, p, &outs, &n, &json, err, errlen);
	if (res == DRV_OK && n == 0)
		snprintf(desc, desclen,
		    "write nothing: no attachment matches \"%s\"",
		    d->attachment);
	else if (res == DRV_OK) {
		used = (size_t)snprintf(desc, desclen,
		    "write %zu file(s) into %s (mode %04o):", n, d->path,
		    (unsigned)d->mode);
		for (size_t i = 0; i < n && used < desclen; i++)
			used += (size_t)snprintf(desc + used, desclen - used,
			    "%s %s/%s (%zu bytes)", i > 0 ? ";" : "", d->path,
			    outs[i].name, outs[i].len);
	}
	free(json);
	free(outs);
	return res;
}

static void
dq_fini(void *state)
{
	dq_free(state);
}

const struct drv_ops drv_dir_pusher_ops = {
    .type = "dir",
    .kind = DRV_PUSHER,
    .init = dq_init,
    .push = dq_push,
    .fini = dq_fini,
    .dry_push = dq_dry_push,
};
