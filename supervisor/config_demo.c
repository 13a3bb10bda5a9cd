/*
 * config_demo.c — the demo of `databusd --demo` (config.h: config_demo),
 * as real configuration files in its data dir.
 *
 * The first start in a data dir writes <data_dir>/demo-config/: a
 * databus.json ("data_dir": ".."), clients/demo.json (two definitions fed
 * by the demo driver, dir pushers into <data_dir>/files/demo — the demo
 * client's own folder, so its administrator may save the file under the
 * default client policy — and the user demo/demo), clients/root.json (the
 * user root/root) and one external file, extra/accounts.json. Every start
 * then loads those files with the ordinary loader (config_load), so the
 * demo is an ordinary configuration: a reload rereads it, and the web's
 * Customizing section saves, validates, diffs and restores it like any
 * other. Files that exist are never overwritten (the user's edits stay),
 * except web.listen in databus.json when it is not where --listen (by
 * default 127.0.0.1:5000) says: the command line says where the demo
 * listens, and the file says the same so that a reload does not move it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_parse.h"
#include "dbs_error.h"

#define DEMO_FILE "(built-in demo)"
#define DEMO_DIR  "demo-config"

/* mkdir -p with mode 0700: the demo's data dir and its folders are
 * databusd's alone, like any data dir (docs/configuration.md). */
static int
mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (char *q = buf + 1; *q != '\0'; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return -1;
		*q = '/';
	}
	if (mkdir(buf, 0700) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

/*
 * Write `doc` (indented JSON and a newline) to dir/name, mode 0600, unless
 * the file exists (`replace` false) — then it is left as it is. Written to
 * a temporary file and renamed, so a crash leaves no half file. Takes the
 * reference to `doc` (NULL: out of memory), whatever the outcome.
 */
static int
write_json(struct pctx *p, const char *dir, const char *name, json_t *doc,
    bool replace)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	char *text = NULL;
	int fd = -1, rc = DBS_OK;
	size_t len;

	if (doc == NULL)
		return config_nomem(p);
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
		(int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		rc = config_fail(p, NULL, "%s/%s: path too long", dir, name);
		goto out;
	}
	if (!replace && access(path, F_OK) == 0)
		goto out;
	if ((text = json_dumps(doc, JSON_INDENT(2))) == NULL) {
		rc = config_nomem(p);
		goto out;
	}
	len = strlen(text);
	text[len] = '\n'; /* the NUL becomes the final newline */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, len + 1) != (ssize_t)(len + 1) ||
	    fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
		rc = config_fail(
		    p, NULL, "cannot write \"%s\": %s", path, strerror(errno));
		if (fd >= 0)
			(void)unlink(tmp);
	}
out:
	free(text);
	json_decref(doc);
	return rc;
}

/* clients/demo.json: mails (only those with an .xlsx go to the outbox)
 * and invoices (archived with their passenger JSON). */
static json_t *
demo_client(void)
{
	return json_pack("{s:i, s:[{s:s, s:i, s:i,"
			 "  s:[{s:s, s:s, s:s, s:i}],"
			 "  s:[{s:s, s:s, s:s}],"
			 "  s:[{s:s, s:s, s:s}]},"
			 " {s:s, s:i, s:i,"
			 "  s:[{s:s, s:s, s:s, s:i}],"
			 "  s:[{s:s, s:s, s:s, s:b}]}],"
			 " s:[{s:s, s:s, s:s}]}",
	    "log_life_span", 1, "passengers",
	    /* mails */
	    "name", "mails", "sync_frequency", 1, "queue_life_span", 1,
	    "pullers", "name", "inbox", "type", "demo", "kind", "mail",
	    "per_drive", 3, "processors", "name", "only-xlsx", "type",
	    "require_attachment", "pattern", "*.xlsx", "pushers", "name",
	    "outbox", "type", "dir", "path", "../files/demo/outbox",
	    /* invoices */
	    "name", "invoices", "sync_frequency", 1, "queue_life_span", 1,
	    "pullers", "name", "erp-export", "type", "demo", "kind", "invoice",
	    "per_drive", 2, "pushers", "name", "archive", "type", "dir",
	    "path", "../files/demo/invoices", "passenger_json", 1,
	    /* users */
	    "users", "username", "demo", "password", "demo", "role",
	    "administrator");
}

/* The files of a new demo (those missing), under conf. */
static int
demo_files(struct pctx *p, const char *conf, const char *listen)
{
	char sub[PATH_MAX];
	int rc;

	if (snprintf(sub, sizeof(sub), "%s/clients", conf) >=
		(int)sizeof(sub) ||
	    mkdir_p(sub) != 0)
		return config_fail(
		    p, NULL, "cannot create \"%s\": %s", sub, strerror(errno));
	if (snprintf(sub, sizeof(sub), "%s/extra", conf) >= (int)sizeof(sub) ||
	    mkdir_p(sub) != 0)
		return config_fail(
		    p, NULL, "cannot create \"%s\": %s", sub, strerror(errno));
	if ((rc = write_json(p, conf, "databus.json",
		 json_pack("{s:s, s:s, s:{s:b, s:s}, s:s, s:[s]}", "data_dir",
		     "..", "system_alias", "DEMO", "web", "enabled", 1,
		     "listen", listen, "clients_dir", "clients",
		     "external_config_files", "extra/accounts.json"),
		 false)) != DBS_OK ||
	    (rc = write_json(p, conf, "clients/demo.json", demo_client(),
		 false)) != DBS_OK ||
	    (rc = write_json(p, conf, "clients/root.json",
		 json_pack("{s:[{s:s, s:s}]}", "users", "username", "root",
		     "password", "root"),
		 false)) != DBS_OK)
		return rc;
	/* A lookup table, as drivers may read one: invoice accounts. */
	return write_json(p, conf, "extra/accounts.json",
	    json_pack("{s:s, s:{s:s, s:s}}", "about",
		"demo lookup table: ERP customer -> ledger account",
		"accounts", "ACME", "4000", "GLOBEX", "4010"),
	    false);
}

/* Whether a databusd runs on this data dir: it holds the store's writer
 * lock (store/store.c, <data_dir>/store/writer.lock). This start will be
 * refused then, and must not change the running one's databus.json. */
static bool
demo_running(const char *data_dir)
{
	char path[PATH_MAX];
	bool busy = false;
	int fd;

	snprintf(path, sizeof(path), "%s/store/writer.lock", data_dir);
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
		return false;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0)
		busy = errno == EWOULDBLOCK;
	close(fd); /* and the lock with it */
	return busy;
}

/* --listen wins over the file: write it there if it differs. */
static int
demo_listen(
    struct pctx *p, const char *data_dir, const char *conf, const char *listen)
{
	char path[PATH_MAX];
	json_error_t jerr;
	json_t *root, *web, *was;

	if (demo_running(data_dir))
		return DBS_OK;
	snprintf(path, sizeof(path), "%s/databus.json", conf);
	if ((root = json_load_file(path, 0, &jerr)) == NULL)
		return DBS_OK; /* config_load says what is wrong with it */
	web = json_object_get(root, "web");
	was = json_is_object(web) ? json_object_get(web, "listen") : NULL;
	if (json_is_object(web) &&
	    !(json_is_string(was) &&
		strcmp(json_string_value(was), listen) == 0)) {
		json_object_set_new(web, "listen", json_string(listen));
		return write_json(p, conf, "databus.json", root, true);
	}
	json_decref(root);
	return DBS_OK;
}

int
config_demo(const char *data_dir, const char *listen, struct config **out,
    char *err, size_t errlen)
{
	struct pctx p = {DEMO_FILE, err, errlen};
	char *cwd = NULL, *abs = NULL, *real = NULL, *conf = NULL;
	char *file = NULL;
	int rc = DBS_OK;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (data_dir == NULL || data_dir[0] == '\0')
		data_dir = "var";
	if (listen != NULL && !config_valid_listen(listen))
		return config_fail(&p, NULL,
		    "--listen \"%s\": expected \"host:port\" (port 1-65535)",
		    listen);
	if ((cwd = getcwd(NULL, 0)) == NULL)
		return config_fail(&p, NULL,
		    "cannot get the current directory: %s", strerror(errno));
	if ((abs = config_join_path(cwd, data_dir)) == NULL) {
		rc = config_nomem(&p);
		goto out;
	}
	if (mkdir_p(abs) != 0 || (real = realpath(abs, NULL)) == NULL) {
		rc = config_fail(&p, NULL, "cannot create \"%s\": %s", abs,
		    strerror(errno));
		goto out;
	}
	if (asprintf(&conf, "%s/" DEMO_DIR, real) < 0 ||
	    asprintf(&file, "%s/databus.json", conf) < 0) {
		conf = file = NULL;
		rc = config_nomem(&p);
		goto out;
	}
	/* The dir pushers want their folders to exist. */
	for (int i = 0; i < 2; i++) {
		free(abs);
		if (asprintf(&abs, "%s/files/demo/%s", real,
			i == 0 ? "outbox" : "invoices") < 0) {
			abs = NULL;
			rc = config_nomem(&p);
			goto out;
		}
		if (mkdir_p(abs) != 0) {
			rc = config_fail(&p, NULL, "cannot create \"%s\": %s",
			    abs, strerror(errno));
			goto out;
		}
	}
	if (listen == NULL)
		listen = DEFAULT_LISTEN;
	if ((rc = demo_files(&p, conf, listen)) != DBS_OK ||
	    (rc = demo_listen(&p, real, conf, listen)) != DBS_OK)
		goto out;
	rc = config_load(file, out, err, errlen);
out:
	free(cwd);
	free(abs);
	free(real);
	free(conf);
	free(file);
	return rc;
}
