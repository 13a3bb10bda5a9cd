/*
 * static.c — serve the single-page app built by ./setup.
 *
 * The web UI is a directory of files made by Vite (build/webui-app/):
 * index.html, a few root files and /assets/<name>-<hash>.<ext>. This file
 * serves it to GET and HEAD requests that no API route took:
 *
 *   /assets/<name>   the file, with a long immutable cache (names carry a
 *                    content hash, so a new build gets new names);
 *   /<name.ext>      a root file when it exists (favicon);
 *   anything else    index.html, so that the app's own routes (/queue/...)
 *                    survive a reload.
 *
 * No request path ever reaches the filesystem as a path: a name must be one
 * segment of [A-Za-z0-9._-] not starting with a dot (so no "..", no "/",
 * no NUL, no percent escape), and it is opened with openat() relative to
 * the app directory with O_NOFOLLOW, so a symlink is refused too. The
 * directory itself is resolved once, at start-up, with realpath().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "web.h"

/* The largest file served; the app's biggest bundle is far smaller. */
#define STATIC_MAX_FILE (16u * 1024 * 1024)
#define STATIC_MAX_NAME 128

static char static_dir[PATH_MAX];

bool
web_static_init(const char *dir)
{
	struct stat st;

	static_dir[0] = '\0';
	if (dir == NULL)
		return false;
	if (realpath(dir, static_dir) == NULL) {
		static_dir[0] = '\0';
		return false;
	}
	if (stat(static_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		static_dir[0] = '\0';
		return false;
	}
	return true;
}

/* One path segment a file of the build may have. */
static bool
valid_file_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > STATIC_MAX_NAME || s[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '.' || c == '_' ||
			c == '-'))
			return false;
	}
	return true;
}

static const char *
mime_of(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".mjs", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".json", "application/json"},
	    {".map", "application/json"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	    {".jpg", "image/jpeg"},
	    {".ico", "image/x-icon"},
	    {".webp", "image/webp"},
	    {".woff2", "font/woff2"},
	    {".woff", "font/woff"},
	    {".txt", "text/plain; charset=utf-8"},
	};
	const char *dot = strrchr(name, '.');
	size_t i;

	if (dot == NULL)
		return NULL;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return NULL;
}

/* Open `name` in `sub` ("" or "assets") of the app directory, refusing
 * symlinks anywhere below the directory. -1 when it is not a regular
 * file there. */
static int
open_in_app(const char *sub, const char *name, struct stat *st)
{
	int dfd, fd = -1;

	dfd = open(static_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	if (sub[0] != '\0') {
		int sfd = openat(
		    dfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(dfd);
		if ((dfd = sfd) < 0)
			return -1;
	}
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(dfd);
	if (fd < 0)
		return -1;
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) ||
	    (uint64_t)st->st_size > STATIC_MAX_FILE) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
send_file(
    h2o_req_t *req, int fd, size_t size, const char *type, const char *cache)
{
	char *buf = h2o_mem_alloc_pool(&req->pool, size + 1);
	size_t got = 0;

	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != size)
		return web_send_error(
		    req, 500, "internal", "cannot read the web app's file");
	req->res.status = 200;
	req->res.reason = "OK";
	web_add_header(req, "content-security-policy",
	    "default-src 'self'; frame-ancestors 'none'");
	web_add_header(req, "x-content-type-options", "nosniff");
	web_add_header(req, "referrer-policy", "no-referrer");
	web_add_header(req, "cache-control", cache);
	web_add_header(req, "content-type", type);
	web_send_inline(req, buf, size);
	return 0;
}

static int
send_index(h2o_req_t *req)
{
	struct stat st;
	int fd = open_in_app("", "index.html", &st);

	if (fd < 0)
		return web_send_error(req, 404, "not_found",
		    "the web app is not built (run ./setup)");
	return send_file(req, fd, (size_t)st.st_size,
	    "text/html; charset=utf-8", "no-cache");
}

int
web_static(h2o_req_t *req, const struct web_args *a)
{
	h2o_iovec_t path = req->path_normalized;
	static const char assets[] = "/assets/";
	const size_t alen = sizeof(assets) - 1;
	char name[STATIC_MAX_NAME + 1];
	const char *type;
	struct stat st;
	int fd;

	(void)a;
	if (static_dir[0] == '\0')
		return web_send_error(req, 404, "not_found",
		    "the web app is not installed (databus-web --static)");
	if (path.len > alen && memcmp(path.base, assets, alen) == 0) {
		const char *s = path.base + alen;
		size_t n = path.len - alen;

		if (!valid_file_name(s, n))
			return web_send_error(
			    req, 404, "not_found", "no such file");
		memcpy(name, s, n);
		name[n] = '\0';
		if ((type = mime_of(name)) == NULL ||
		    (fd = open_in_app("assets", name, &st)) < 0)
			return web_send_error(
			    req, 404, "not_found", "no such file");
		return send_file(req, fd, (size_t)st.st_size, type,
		    "public, max-age=31536000, immutable");
	}
	/* A root file of the build (favicon.svg); anything else is a route
	 * of the app and gets index.html. */
	if (path.len > 1 && path.base[0] == '/' &&
	    valid_file_name(path.base + 1, path.len - 1) &&
	    memchr(path.base + 1, '.', path.len - 1) != NULL) {
		memcpy(name, path.base + 1, path.len - 1);
		name[path.len - 1] = '\0';
		if ((type = mime_of(name)) != NULL &&
		    strcmp(name, "index.html") != 0 &&
		    (fd = open_in_app("", name, &st)) >= 0)
			return send_file(
			    req, fd, (size_t)st.st_size, type, "no-cache");
	}
	return send_index(req);
}
