/*
 * engine_file.c — which engine holds the store of a data directory.
 *
 * databus-web and databusctl are given a data directory, not databusd's
 * configuration. For LMDB that is enough: the store is <data>/store. For
 * PostgreSQL, databusd records where its store lives when it opens it, in
 * <data>/store/engine.json (mode 0600, written to a temporary file and
 * renamed): {"backend": "postgres", "conninfo": "...", "schema": "..."}.
 * The conninfo is the one of databus.json, which should name no password
 * (docs/configuration.md); the file is readable by databusd's user alone,
 * like the LMDB store itself. An LMDB databusd removes the file, so that
 * a data directory moved back to LMDB is read as LMDB again.
 *
 * store_open_data() opens whichever the file says, LMDB without it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "dbs_error.h"
#include "store.h"

#define ENGINE_FILE     "engine.json"
#define ENGINE_FILE_MAX (16u << 10)

static int
engine_path(char *out, size_t outlen, const char *data_dir, const char *tail)
{
	int n = snprintf(
	    out, outlen, "%s/store/%s%s", data_dir, ENGINE_FILE, tail);

	return n < 0 || (size_t)n >= outlen ? DBS_EINVAL : DBS_OK;
}

int
store_engine_record(const char *data_dir, const struct store_options *opt)
{
	char path[4200], tmp[4220];
	json_t *doc;
	char *text;
	size_t len;
	int fd, rc = DBS_OK;

	if (engine_path(path, sizeof(path), data_dir, "") != DBS_OK ||
	    engine_path(tmp, sizeof(tmp), data_dir, ".tmp") != DBS_OK)
		return DBS_EINVAL;
	if (opt == NULL || opt->backend != STORE_BACKEND_POSTGRES)
		return unlink(path) == 0 || errno == ENOENT ? DBS_OK : DBS_EIO;
	doc = json_pack("{s:s, s:s, s:s}", "backend", "postgres", "conninfo",
	    opt->pg_conninfo != NULL ? opt->pg_conninfo : "", "schema",
	    opt->pg_schema != NULL ? opt->pg_schema : "databus");
	text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (text == NULL)
		return DBS_ENOMEM;
	len = strlen(text);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
		rc = DBS_EIO;
	if (fd >= 0 && close(fd) != 0)
		rc = DBS_EIO;
	free(text);
	if (rc == DBS_OK && rename(tmp, path) != 0)
		rc = DBS_EIO;
	if (rc != DBS_OK)
		(void)unlink(tmp);
	return rc;
}

/* Read the engine file into *opt (strings in *keep, for the caller to
 * json_decref). DBS_ENOTFOUND without one. */
static int
engine_read(const char *data_dir, struct store_options *opt, json_t **keep)
{
	char path[4200];
	json_error_t jerr;
	json_t *doc, *b, *ci, *sc;

	*keep = NULL;
	if (engine_path(path, sizeof(path), data_dir, "") != DBS_OK)
		return DBS_EINVAL;
	if (access(path, F_OK) != 0)
		return errno == ENOENT ? DBS_ENOTFOUND : DBS_EIO;
	if ((doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL)
		return DBS_ECORRUPT;
	b = json_object_get(doc, "backend");
	ci = json_object_get(doc, "conninfo");
	sc = json_object_get(doc, "schema");
	if (!json_is_string(b) || strcmp(json_string_value(b), "postgres") ||
	    !json_is_string(ci) || !json_is_string(sc)) {
		json_decref(doc);
		return DBS_ECORRUPT;
	}
	opt->backend = STORE_BACKEND_POSTGRES;
	opt->pg_conninfo = json_string_value(ci);
	opt->pg_schema = json_string_value(sc);
	*keep = doc;
	return DBS_OK;
}

enum store_backend
store_data_backend(const char *data_dir)
{
	struct store_options opt = {0};
	json_t *keep;

	if (engine_read(data_dir, &opt, &keep) != DBS_OK)
		return STORE_BACKEND_LMDB;
	json_decref(keep);
	return STORE_BACKEND_POSTGRES;
}

int
store_open_data(const char *data_dir, enum store_mode mode,
    const struct store_options *base, struct store **out, char *err,
    size_t errlen)
{
	struct store_options opt = {0};
	char dir[4200];
	json_t *keep = NULL;
	int rc;

	if (base != NULL)
		opt = *base;
	rc = engine_read(data_dir, &opt, &keep);
	if (rc == DBS_ENOTFOUND) {
		if (snprintf(dir, sizeof(dir), "%s/store", data_dir) >=
		    (int)sizeof(dir))
			return DBS_EINVAL;
		rc = store_open(dir, mode, &opt, out);
		if (rc != DBS_OK)
			snprintf(err, errlen,
			    "cannot open the store in %s: %s", dir,
			    dbs_strerror(rc));
		return rc;
	}
	if (rc != DBS_OK) {
		snprintf(err, errlen, "%s/store/%s: %s", data_dir, ENGINE_FILE,
		    rc == DBS_ECORRUPT ? "not a store engine record"
				       : dbs_strerror(rc));
		return rc;
	}
	rc = store_open(NULL, mode, &opt, out);
	if (rc != DBS_OK)
		snprintf(err, errlen,
		    "cannot open the PostgreSQL store (schema %s): %s: %s",
		    opt.pg_schema, dbs_strerror(rc), store_last_error(NULL));
	json_decref(keep);
	return rc;
}
