/*
 * api_export.c — the export section: archives of a client's data (or of
 * every client's), and hot copies of the whole store.
 *
 *   POST   /api/v1/export              {"client", "mode": sync|async|hot_copy,
 *                                        "target": archive|postgres,
 *                                        "postgres": {...}}
 *   GET    /api/v1/exports             the session's exports
 *   GET    /api/v1/exports/{id}
 *   GET    /api/v1/exports/{id}/download
 *   DELETE /api/v1/exports/{id}
 *
 * Intake is never paused: an archive is written from one read transaction
 * (store/export.h) and a hot copy is LMDB's compacting copy of one
 * snapshot (store_copy), both of which run beside databusd's writes.
 *
 * A sync export runs on the pool into a hidden temporary file in
 * <data_dir>/exports, which h2o sends and which is unlinked as soon as h2o
 * has it open. Async exports and hot copies each run on a thread of their
 * own (at most EXPORTS_RUNNING at once) and are kept in a table guarded by
 * one mutex, shared by the loop thread and those threads. Their files are
 * <data_dir>/exports/<id>.json (archive) or <id>.mdb (store copy), with
 * <id>.meta holding the export's JSON form, so that the list survives a
 * restart of databus-web. Ids are 16 random bytes in hex, made here; a
 * request's id is only compared with the table's, never put in a path.
 *
 * The PostgreSQL target (root's: it makes databus-web connect where the
 * request says) copies the records into a PostgreSQL store of the schema
 * given (store_copy_records, with the import rules: exporting again adds
 * only what is new), connecting first, so that a wrong address or
 * password fails before anything is read. Its conninfo (which may hold a
 * password) lives in memory only for the copy: never in the .meta file,
 * the API or a message.
 *
 * Progress goes to the live event stream: only databusd writes the store,
 * so the export thread sends export_event control requests (resource
 * export, the export's JSON as data) at most every EVENT_PERIOD_MS (a quarter
 * of a second), and at start and end. An export of one client is that client's
 * event; one of every client and a hot copy are system events (root only).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbs_error.h"
#include "bodies.h"
#include "export.h"
#include "migrate.h"
#include "params.h"
#include "record_json.h"
#include "web.h"
#include "wire.h"

#define EXPORTS_RUNNING 2
#define EVENT_PERIOD_MS 250
#define ID_LEN          WEB_EXPORT_ID_LEN

enum xstate {
	XS_RUNNING,
	XS_DONE,
	XS_FAILED,
};

static const char *const state_names[] = {"running", "done", "failed"};

struct xport {
	char id[ID_LEN + 1];
	char client[65]; /* "" = every client, or a hot copy */
	char owner[200]; /* client/username */
	bool hot;
	bool pg;         /* the PostgreSQL target */
	char schema[64]; /* pg: the target's schema */
	char shown[400]; /* pg: user@host:port/database */
	char *conninfo;  /* pg, while running; wiped and freed after */
	uint64_t total;  /* pg: records to read */
	enum xstate state;
	double progress;
	uint64_t size;
	int64_t created_ms, finished_ms;
	char error[512];
	bool cancel; /* deleted while running */
	int refs;    /* the table's and the thread's */
	int64_t last_event_ms;
	struct store *st;
	char url[4200];
	struct xport *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct xport *table; /* newest first */
static bool loaded;
static unsigned running;

/* ----------------------------------------------------------- helpers */

static bool
valid_id(const char *s, size_t len)
{
	return web_export_id_valid(s, len);
}

static void
exports_dir(char *buf, size_t len)
{
	snprintf(buf, len, "%s/exports", web_data_dir(web_of(NULL)));
}

/* <data>/exports/<id><suffix> */
static void
export_path(const char *id, const char *suffix, char *buf, size_t len)
{
	char dir[4200];

	exports_dir(dir, sizeof(dir));
	snprintf(buf, len, "%s/%s%s", dir, id, suffix);
}

static const char *
file_suffix(const struct xport *x)
{
	return x->hot ? ".mdb" : ".json";
}

/* The export's JSON form (the API's and the event's). Call with mu held
 * or on an export no other thread sees. */
static json_t *
xport_json(const struct xport *x)
{
	json_t *doc = json_pack(
	    "{s:s, s:o, s:s, s:s, s:s, s:f, s:I, s:o, s:o, s:o, s:o}", "id",
	    x->id, "client",
	    x->client[0] != '\0' ? rj_string(x->client) : json_null(), "mode",
	    x->hot ? "hot_copy" : "async", "target",
	    x->hot ? "lmdb" : (x->pg ? "postgres" : "archive"), "state",
	    state_names[x->state], "progress", x->progress, "size",
	    (json_int_t)x->size, "created", rj_time(x->created_ms), "finished",
	    rj_time(x->finished_ms), "error",
	    x->error[0] != '\0' ? rj_string(x->error) : json_null(), "owner",
	    rj_string(x->owner));

	if (doc != NULL && x->pg) {
		json_object_set_new(doc, "schema", rj_string(x->schema));
		json_object_set_new(doc, "destination", rj_string(x->shown));
	}
	return doc;
}

/* Wipe and free the conninfo (it may hold a password). */
static void
forget_conninfo(struct xport *x)
{
	if (x->conninfo != NULL) {
		sodium_memzero(x->conninfo, strlen(x->conninfo));
		free(x->conninfo);
		x->conninfo = NULL;
	}
}

static void
unref(struct xport *x)
{
	if (--x->refs == 0) {
		forget_conninfo(x);
		free(x);
	}
}

/* The session may see the export: root all, others their client's. */
static bool
sees(const struct web_session *s, const struct xport *x)
{
	return s->role == DBS__ROLE__ROLE_ROOT ||
	       (x->client[0] != '\0' && strcmp(x->client, s->client) == 0);
}

/* Write <id>.meta (the export's JSON), replacing it atomically. */
static void
write_meta(const struct xport *x)
{
	char path[4300], tmp[4400];
	char *text;
	json_t *doc;
	FILE *f = NULL;
	int fd;

	pthread_mutex_lock(&mu);
	doc = xport_json(x);
	pthread_mutex_unlock(&mu);
	text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (text == NULL)
		return;
	export_path(x->id, ".meta", path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	/* 0600 like the export itself, whatever the umask. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0 && (f = fdopen(fd, "w")) == NULL)
		close(fd);
	if (f != NULL) {
		bool ok = fputs(text, f) >= 0;

		if (fclose(f) != 0 || !ok || rename(tmp, path) != 0)
			(void)unlink(tmp);
	}
	free(text);
}

/* What an export leaves behind when it stops half-way. */
static void
remove_partial(const char *id)
{
	char path[4300];

	export_path(id, ".json.tmp", path, sizeof(path));
	(void)unlink(path);
	export_path(id, ".d/data.mdb", path, sizeof(path));
	(void)unlink(path);
	export_path(id, ".d", path, sizeof(path));
	(void)rmdir(path);
}

static void
remove_files(const char *id)
{
	char path[4300];

	remove_partial(id);
	export_path(id, ".json", path, sizeof(path));
	(void)unlink(path);
	export_path(id, ".mdb", path, sizeof(path));
	(void)unlink(path);
	export_path(id, ".meta", path, sizeof(path));
	(void)unlink(path);
}

/* ------------------------------------------------------ the event log */

struct event_job {
	struct web_job job;
	char url[4200];
	char client[65];
	Dbs__EventKind kind;
	char *json;
};

static void
send_event_now(
    const char *url, const char *client, Dbs__EventKind kind, const char *json)
{
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__WebExportEvent ev = DBS__WEB_EXPORT_EVENT__INIT;
	Dbs__ControlReply *reply = NULL;

	ev.client = (char *)client;
	ev.kind = kind;
	ev.json.data = (uint8_t *)json;
	ev.json.len = strlen(json);
	req.verb_case = DBS__CONTROL_REQUEST__VERB_EXPORT_EVENT;
	req.export_event = &ev;
	/* The event is a notification: a lost one only delays the browser
	 * until the next (or its next refetch). */
	if (web_control(url, "web:export", &req, &reply) == DBS_OK)
		dbs__control_reply__free_unpacked(reply, NULL);
}

/* Send the export's current form as an event (from an export thread). */
static void
xport_event(struct xport *x, Dbs__EventKind kind)
{
	char client[65];
	char *text;
	json_t *doc;

	pthread_mutex_lock(&mu);
	doc = xport_json(x);
	snprintf(client, sizeof(client), "%s", x->client);
	x->last_event_ms = wire_mono_ms();
	pthread_mutex_unlock(&mu);
	text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (text != NULL)
		send_event_now(x->url, client, kind, text);
	free(text);
}

static void
event_work(struct web_job *job)
{
	struct event_job *j = (struct event_job *)job;

	send_event_now(j->url, j->client, j->kind, j->json);
}

static void
event_done(struct web_job *job)
{
	struct event_job *j = (struct event_job *)job;

	free(j->json);
	free(j);
}

/* From the loop thread: send the event on the pool, answering nobody. */
static void
xport_event_async(struct xport *x, Dbs__EventKind kind)
{
	struct event_job *j = calloc(1, sizeof(*j));
	json_t *doc = xport_json(x);

	if (j == NULL || doc == NULL ||
	    (j->json = json_dumps(doc, JSON_COMPACT)) == NULL) {
		free(j);
		json_decref(doc);
		return;
	}
	json_decref(doc);
	snprintf(j->url, sizeof(j->url), "%s", x->url);
	snprintf(j->client, sizeof(j->client), "%s", x->client);
	j->kind = kind;
	j->job.work = event_work;
	j->job.done = event_done;
	if (!web_pool_submit(web_pool(web_of(NULL)), &j->job, NULL)) {
		free(j->json);
		free(j);
	}
}

/* ------------------------------------------------------ export threads */

static int
on_progress(void *ctx, double fraction)
{
	struct xport *x = ctx;
	bool cancel, due;

	pthread_mutex_lock(&mu);
	x->progress = fraction;
	cancel = x->cancel;
	due = wire_mono_ms() - x->last_event_ms >= EVENT_PERIOD_MS;
	pthread_mutex_unlock(&mu);
	if (due && !cancel && fraction < 1)
		xport_event(x, DBS__EVENT_KIND__EV_UPDATE);
	return cancel ? 1 : 0;
}

static int
fsync_path(const char *path, bool dir)
{
	int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* A compacting copy of the store into <id>.mdb. */
static int
hot_copy(struct xport *x, char *err, size_t errlen)
{
	char dir[4300], src[4400], dst[4300], exdir[4200];
	struct store_txn *txn;
	int rc;

	export_path(x->id, ".d", dir, sizeof(dir));
	export_path(x->id, ".mdb", dst, sizeof(dst));
	snprintf(src, sizeof(src), "%s/data.mdb", dir);
	if (mkdir(dir, 0700) != 0) {
		snprintf(err, errlen, "cannot create the copy's directory: %s",
		    strerror(errno));
		return DBS_EIO;
	}
	/* A read transaction first adopts a map databusd may have grown. */
	if ((rc = store_txn_begin(x->st, false, &txn)) == DBS_OK)
		store_txn_abort(txn);
	rc = store_copy(x->st, dir);
	if (rc != DBS_OK) {
		snprintf(err, errlen, "copy failed: %s (%s)", dbs_strerror(rc),
		    store_last_error(x->st));
	} else if (fsync_path(src, false) != 0 || rename(src, dst) != 0) {
		snprintf(
		    err, errlen, "cannot keep the copy: %s", strerror(errno));
		rc = DBS_EIO;
	}
	(void)unlink(src);
	(void)rmdir(dir);
	exports_dir(exdir, sizeof(exdir));
	if (rc == DBS_OK)
		(void)fsync_path(exdir, true);
	return rc;
}

static int
on_copied(void *ctx, const struct migrate_stats *ms)
{
	struct xport *x = ctx;
	uint64_t read = ms->passengers + ms->logs + ms->users;

	return on_progress(x, x->total > 0 && read < x->total
				  ? (double)read / (double)x->total
				  : 0.99);
}

/* Connect, then copy (see the top); err never holds the conninfo. */
static int
pg_copy(struct store *src, const char *conninfo, const char *schema,
    const char *client, struct xport *x, struct migrate_stats *ms, char *err,
    size_t errlen)
{
	struct store_options so = {.backend = STORE_BACKEND_POSTGRES};
	struct copy_options o = {.client = client, .hashes = client == NULL};
	Dbs__StoreStats stats = DBS__STORE_STATS__INIT;
	struct store_txn *t;
	struct store *dst = NULL;
	int rc;

	so.pg_conninfo = conninfo;
	so.pg_schema = schema;
	if ((rc = store_open(NULL, STORE_RDWR, &so, &dst)) != DBS_OK) {
		snprintf(err, errlen, "the PostgreSQL target: %s: %s",
		    dbs_strerror(rc), store_last_error(NULL));
		return rc;
	}
	if (x != NULL) {
		if (store_txn_begin(src, false, &t) == DBS_OK) {
			if (store_stats(t, &stats) == DBS_OK)
				x->total = stats.passengers + stats.logs +
					   stats.users;
			store_txn_abort(t);
		}
		o.progress = on_copied;
		o.ctx = x;
	}
	rc = store_copy_records(src, dst, &o, ms, err, errlen);
	store_close(dst);
	return rc;
}

static void *
export_thread(void *arg)
{
	struct xport *x = arg;
	struct export_options opt = {0};
	char path[4300], err[512] = "";
	struct stat st;
	bool cancel;
	int rc;

	xport_event(x, DBS__EVENT_KIND__EV_CREATE);
	export_path(x->id, file_suffix(x), path, sizeof(path));
	if (x->pg) {
		struct migrate_stats ms;

		rc = pg_copy(x->st, x->conninfo, x->schema,
		    x->client[0] != '\0' ? x->client : NULL, x, &ms, err,
		    sizeof(err));
		pthread_mutex_lock(&mu);
		forget_conninfo(x);
		x->size = ms.passengers;
		pthread_mutex_unlock(&mu);
	} else if (x->hot) {
		rc = hot_copy(x, err, sizeof(err));
	} else {
		opt.client = x->client[0] != '\0' ? x->client : NULL;
		opt.progress = on_progress;
		opt.ctx = x;
		rc = export_to_file(x->st, path, &opt, NULL, err, sizeof(err));
	}
	pthread_mutex_lock(&mu);
	x->state = rc == DBS_OK ? XS_DONE : XS_FAILED;
	if (rc == DBS_OK) {
		x->progress = 1;
		if (!x->pg)
			x->size =
			    stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
	} else {
		snprintf(x->error, sizeof(x->error), "%s",
		    err[0] != '\0' ? err : dbs_strerror(rc));
	}
	x->finished_ms = wire_now_ms();
	cancel = x->cancel;
	pthread_mutex_unlock(&mu);
	if (cancel) {
		remove_files(x->id);
	} else {
		write_meta(x);
		xport_event(x, DBS__EVENT_KIND__EV_UPDATE);
	}
	pthread_mutex_lock(&mu);
	running--;
	unref(x);
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* ------------------------------------------------------------- table */

/* Exports of an earlier databus-web: their .meta files. An export that
 * was running then is failed now; leftovers of unfinished files go. */
static void
load_existing(void)
{
	char dir[4200], path[4600];
	struct dirent *de;
	DIR *d;

	exports_dir(dir, sizeof(dir));
	(void)mkdir(dir, 0700);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		struct xport *x, **pp;
		json_t *doc, *v;
		const char *state;
		bool interrupted;

		if (strncmp(de->d_name, ".sync-", 6) == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			(void)unlink(path);
			continue;
		}
		if (len != ID_LEN + 5 ||
		    strcmp(de->d_name + ID_LEN, ".meta") ||
		    !valid_id(de->d_name, ID_LEN))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((doc = json_load_file(path, 0, NULL)) == NULL)
			continue;
		if ((x = calloc(1, sizeof(*x))) == NULL) {
			json_decref(doc);
			break;
		}
		memcpy(x->id, de->d_name, ID_LEN);
		snprintf(x->client, sizeof(x->client), "%s",
		    json_string_value(json_object_get(doc, "client")) != NULL
			? json_string_value(json_object_get(doc, "client"))
			: "");
		snprintf(x->owner, sizeof(x->owner), "%s",
		    json_string_value(json_object_get(doc, "owner")) != NULL
			? json_string_value(json_object_get(doc, "owner"))
			: "");
		v = json_object_get(doc, "mode");
		x->hot = json_is_string(v) &&
			 strcmp(json_string_value(v), "hot_copy") == 0;
		v = json_object_get(doc, "target");
		x->pg = json_is_string(v) &&
			strcmp(json_string_value(v), "postgres") == 0;
		snprintf(x->schema, sizeof(x->schema), "%s",
		    json_string_value(json_object_get(doc, "schema")) != NULL
			? json_string_value(json_object_get(doc, "schema"))
			: "");
		snprintf(x->shown, sizeof(x->shown), "%s",
		    json_string_value(json_object_get(doc, "destination")) !=
			    NULL
			? json_string_value(
			      json_object_get(doc, "destination"))
			: "");
		x->size =
		    (uint64_t)json_integer_value(json_object_get(doc, "size"));
		x->progress =
		    json_number_value(json_object_get(doc, "progress"));
		state = json_string_value(json_object_get(doc, "state"));
		x->state = state != NULL && strcmp(state, "done") == 0
			       ? XS_DONE
			       : XS_FAILED;
		snprintf(x->error, sizeof(x->error), "%s",
		    json_string_value(json_object_get(doc, "error")) != NULL
			? json_string_value(json_object_get(doc, "error"))
			: (x->state == XS_FAILED ? "databus-web stopped "
						   "during the export"
						 : ""));
		interrupted = state == NULL || strcmp(state, "running") == 0;
		json_decref(doc); /* state points into it */
		if (interrupted)
			remove_partial(x->id);
		{
			struct stat st;

			export_path(x->id, ".meta", path, sizeof(path));
			x->created_ms = stat(path, &st) == 0
					    ? (int64_t)st.st_mtime * 1000
					    : 0;
		}
		x->finished_ms = x->created_ms;
		x->refs = 1;
		snprintf(x->url, sizeof(x->url), "%s",
		    web_control_url(web_of(NULL)));
		x->st = web_store(web_of(NULL));
		/* Keep the table newest first. */
		for (pp = &table;
		     *pp != NULL && (*pp)->created_ms >= x->created_ms;
		     pp = &(*pp)->next)
			;
		x->next = *pp;
		*pp = x;
	}
	closedir(d);
}

static void
ensure_loaded(void)
{
	pthread_mutex_lock(&mu);
	if (!loaded) {
		loaded = true;
		load_existing();
	}
	pthread_mutex_unlock(&mu);
}

/* The export `id` the session may see, or NULL. With mu held. */
static struct xport *
find(const struct web_session *s, const char *id, size_t len)
{
	if (!valid_id(id, len))
		return NULL;
	for (struct xport *x = table; x != NULL; x = x->next)
		if (memcmp(x->id, id, ID_LEN) == 0)
			return sees(s, x) ? x : NULL;
	return NULL;
}

/* ------------------------------------------------------------ handlers */

/* "databus-export-demo-20261122T172501Z.json" */
static void
download_name(const char *client, bool hot, int64_t ms, char *buf, size_t len)
{
	char iso[RJ_TIME_LEN], stamp[32];
	size_t o = 0;

	rj_time_iso(ms, iso);
	for (size_t i = 0; iso[i] != '\0' && iso[i] != '.' && o + 2 < 32; i++)
		if (iso[i] != '-' && iso[i] != ':')
			stamp[o++] = iso[i];
	stamp[o++] = 'Z';
	stamp[o] = '\0';
	if (hot)
		snprintf(buf, len,
		    "attachment; filename=\"databus-store-%s.mdb\"", stamp);
	else
		snprintf(buf, len,
		    "attachment; filename=\"databus-export-%s-%s.json\"",
		    client[0] != '\0' ? client : "all", stamp);
}

static int
send_file(h2o_req_t *req, const char *path, const char *mime,
    const char *disposition)
{
	web_security_headers(req);
	web_add_header(req, "content-disposition", disposition);
	if (h2o_file_send(req, 200, "OK", path,
		h2o_iovec_init(mime, strlen(mime)), 0) != 0) {
		/* Headers added above are dropped by an error response. */
		req->res.headers = (h2o_headers_t){NULL};
		return web_not_found(req);
	}
	return 0;
}

/* Sync exports running; they hold a pool thread each, so at most one at a
 * time keeps the other free for logins and control requests. Only the
 * loop thread touches it. */
static unsigned syncs;

struct sync_job {
	struct web_job job;
	struct store *st;
	char client[65];
	char path[4300];
	int rc;
	char err[512];
};

static void
sync_work(struct web_job *job)
{
	struct sync_job *j = (struct sync_job *)job;
	struct export_options opt = {0};

	opt.client = j->client[0] != '\0' ? j->client : NULL;
	j->rc =
	    export_to_file(j->st, j->path, &opt, NULL, j->err, sizeof(j->err));
}

/*
 * A sync export that failed. The data dir's disk full, an I/O error or a
 * store that cannot be read are store errors, answered like the others
 * (docs/web.md): 503 "store" with what failed, and a Retry-After, since
 * they pass once space returns. Anything else is the export's own failure.
 */
static void
sync_error(h2o_req_t *req, int rc, const char *err)
{
	char msg[700];

	switch (rc) {
	case DBS_ENOSPC:
	case DBS_EIO:
	case DBS_EMAPFULL:
	case DBS_ECORRUPT:
		snprintf(msg, sizeof(msg), "store error: %s (%s)",
		    dbs_strerror(rc), err);
		web_add_header(req, "retry-after", "60");
		web_send_error(req, 503, "store", msg);
		break;
	default:
		web_send_error(req, 500, "export_failed", err);
	}
}

static void
sync_done(struct web_job *job)
{
	struct sync_job *j = (struct sync_job *)job;
	h2o_req_t *req = web_job_req(job);
	char disposition[200];

	if (req != NULL) {
		if (j->rc != DBS_OK) {
			sync_error(req, j->rc, j->err);
		} else {
			download_name(j->client, false, wire_now_ms(),
			    disposition, sizeof(disposition));
			/* h2o has the file open once this returns. */
			send_file(
			    req, j->path, "application/json", disposition);
		}
	}
	(void)unlink(j->path);
	syncs--;
	free(j);
}

static int
start_sync(h2o_req_t *req, const char *client)
{
	struct sync_job *j = calloc(1, sizeof(*j));
	unsigned char rnd[16];
	char hex[33], dir[4200];

	if (j == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	if (syncs > 0) {
		free(j);
		web_add_header(req, "retry-after", "5");
		return web_send_error(req, 503, "busy",
		    "a sync export is running; try again, or use an async "
		    "export");
	}
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
	exports_dir(dir, sizeof(dir));
	snprintf(j->path, sizeof(j->path), "%s/.sync-%s.json", dir, hex);
	snprintf(j->client, sizeof(j->client), "%s", client);
	j->st = web_store(web_of(req));
	j->job.work = sync_work;
	j->job.done = sync_done;
	if (!web_pool_submit(web_pool(web_of(req)), &j->job, req)) {
		free(j);
		return web_send_error(req, 503, "busy", "server busy");
	}
	syncs++;
	return 0;
}

static int
start_async(h2o_req_t *req, const struct web_session *s, const char *client,
    bool hot, const struct web_pg_target *pg)
{
	struct xport *x;
	unsigned char rnd[16];
	pthread_attr_t attr;
	pthread_t th;
	json_t *doc;
	int err;

	if ((x = calloc(1, sizeof(*x))) == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(x->id, sizeof(x->id), rnd, sizeof(rnd));
	snprintf(x->client, sizeof(x->client), "%s", client);
	snprintf(x->owner, sizeof(x->owner), "%s/%s", s->client, s->username);
	x->hot = hot;
	if (pg != NULL) {
		x->pg = true;
		snprintf(x->schema, sizeof(x->schema), "%s", pg->schema);
		snprintf(x->shown, sizeof(x->shown), "%s", pg->shown);
		if ((x->conninfo = strdup(pg->conninfo)) == NULL) {
			free(x);
			return web_send_error(
			    req, 500, "internal", "out of memory");
		}
	}
	x->state = XS_RUNNING;
	x->created_ms = wire_now_ms();
	x->refs = 2; /* the table and the thread */
	x->st = web_store(web_of(req));
	snprintf(x->url, sizeof(x->url), "%s", web_control_url(web_of(req)));

	pthread_mutex_lock(&mu);
	if (running >= EXPORTS_RUNNING) {
		pthread_mutex_unlock(&mu);
		forget_conninfo(x);
		free(x);
		web_add_header(req, "retry-after", "10");
		return web_send_error(req, 503, "busy",
		    "two exports are running already; try again when one "
		    "is done");
	}
	running++;
	x->next = table;
	table = x;
	doc = xport_json(x);
	pthread_mutex_unlock(&mu);
	write_meta(x);

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&th, &attr, export_thread, x);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		pthread_mutex_lock(&mu);
		running--;
		x->state = XS_FAILED;
		snprintf(x->error, sizeof(x->error), "cannot start: %s",
		    strerror(err));
		x->finished_ms = wire_now_ms();
		x->refs--;
		json_decref(doc);
		doc = xport_json(x);
		pthread_mutex_unlock(&mu);
		write_meta(x);
	}
	return web_send_json(req, 202, doc);
}

/* A sync export to PostgreSQL: the copy on the pool, the counts as the
 * answer. */
struct pg_sync_job {
	struct web_job job;
	struct store *st;
	struct web_pg_target t;
	char client[65];
	struct migrate_stats ms;
	int rc;
	char err[700];
};

static void
pg_sync_work(struct web_job *job)
{
	struct pg_sync_job *j = (struct pg_sync_job *)job;

	j->rc = pg_copy(j->st, j->t.conninfo, j->t.schema,
	    j->client[0] != '\0' ? j->client : NULL, NULL, &j->ms, j->err,
	    sizeof(j->err));
	sodium_memzero(j->t.conninfo, sizeof(j->t.conninfo));
}

static void
pg_sync_done(struct web_job *job)
{
	struct pg_sync_job *j = (struct pg_sync_job *)job;
	h2o_req_t *req = web_job_req(job);

	if (req != NULL && j->rc != DBS_OK)
		web_send_error(req, 502, "export_failed", j->err);
	else if (req != NULL)
		web_send_json(req, 200,
		    json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:I, "
			      "s:I, s:I}",
			"target", "postgres", "schema", j->t.schema,
			"destination", j->t.shown, "client",
			j->client[0] != '\0' ? rj_string(j->client)
					     : json_null(),
			"passengers", (json_int_t)j->ms.passengers,
			"attachments", (json_int_t)j->ms.attachments, "logs",
			(json_int_t)j->ms.logs, "users",
			(json_int_t)j->ms.users, "duplicates",
			(json_int_t)j->ms.duplicates, "logs_duplicates",
			(json_int_t)j->ms.logs_duplicates, "remapped",
			(json_int_t)j->ms.remapped));
	syncs--;
	free(j);
}

static int
start_pg_sync(
    h2o_req_t *req, const char *client, const struct web_pg_target *t)
{
	struct pg_sync_job *j;

	if (syncs > 0) {
		web_add_header(req, "retry-after", "5");
		return web_send_error(req, 503, "busy",
		    "a sync export is running; try again, or use an async "
		    "export");
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	j->t = *t;
	snprintf(j->client, sizeof(j->client), "%s", client);
	j->st = web_store(web_of(req));
	j->job.work = pg_sync_work;
	j->job.done = pg_sync_done;
	if (!web_pool_submit(web_pool(web_of(req)), &j->job, req)) {
		sodium_memzero(j->t.conninfo, sizeof(j->t.conninfo));
		free(j);
		return web_send_error(req, 503, "busy", "server busy");
	}
	syncs++;
	return 0;
}

static int
export_post(h2o_req_t *req)
{
	struct web_session s;
	struct web_pg_target pg;
	const char *mode, *client = NULL, *msg;
	char which[65];
	bool is_pg = false;
	json_t *doc;
	int rc;

	if (!web_check_mutation(req))
		return 0;
	if (!web_require_admin(req, &s))
		return 0;
	doc = json_loadb(req->entity.base, req->entity.len, 0, NULL);
	if ((msg = web_export_body(doc, &mode, &client)) != NULL ||
	    (msg = web_export_pg_body(doc, &is_pg, &pg)) != NULL) {
		json_decref(doc);
		return web_bad_param(req, msg);
	}
	if (is_pg && s.role != DBS__ROLE__ROLE_ROOT) {
		/* It makes this server connect where the request says. */
		json_decref(doc);
		return web_forbidden(req);
	}
	snprintf(which, sizeof(which), "%s", client != NULL ? client : "");
	if (s.role != DBS__ROLE__ROLE_ROOT) {
		if (client != NULL && strcmp(client, s.client) != 0) {
			json_decref(doc);
			return web_not_found(req);
		}
		snprintf(which, sizeof(which), "%s", s.client);
	}
	ensure_loaded();
	if (is_pg && strcmp(mode, "sync") == 0) {
		rc = start_pg_sync(req, which, &pg);
	} else if (is_pg && strcmp(mode, "async") == 0) {
		rc = start_async(req, &s, which, false, &pg);
	} else if (is_pg) {
		rc = web_bad_param(req, "a PostgreSQL export is \"sync\" or "
					"\"async\"");
	} else if (strcmp(mode, "sync") == 0) {
		rc = start_sync(req, which);
	} else if (strcmp(mode, "async") == 0) {
		rc = start_async(req, &s, which, false, NULL);
	} else if (strcmp(mode, "hot_copy") == 0) {
		if (s.role != DBS__ROLE__ROLE_ROOT)
			rc = web_forbidden(req);
		else if (client != NULL)
			rc = web_bad_param(req,
			    "a hot copy is of the whole store: leave client "
			    "out");
		else
			rc = start_async(req, &s, "", true, NULL);
	} else {
		rc = web_bad_param(
		    req, "mode is one of \"sync\", \"async\", \"hot_copy\"");
	}
	sodium_memzero(pg.conninfo, sizeof(pg.conninfo));
	json_decref(doc);
	return rc;
}

static int
exports_list(h2o_req_t *req)
{
	struct web_session s;
	json_t *items;

	if (!web_require_admin(req, &s))
		return 0;
	ensure_loaded();
	if ((items = json_array()) == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	pthread_mutex_lock(&mu);
	for (struct xport *x = table; x != NULL; x = x->next)
		if (sees(&s, x))
			json_array_append_new(items, xport_json(x));
	pthread_mutex_unlock(&mu);
	return web_send_json(req, 200, json_pack("{s:o}", "items", items));
}

static int
export_show(h2o_req_t *req, const char *id, size_t len)
{
	struct web_session s;
	struct xport *x;
	json_t *doc = NULL;

	if (!web_require_admin(req, &s))
		return 0;
	ensure_loaded();
	pthread_mutex_lock(&mu);
	if ((x = find(&s, id, len)) != NULL)
		doc = xport_json(x);
	pthread_mutex_unlock(&mu);
	if (x == NULL)
		return web_not_found(req);
	return web_send_json(req, 200, doc);
}

static int
export_download(h2o_req_t *req, const char *id, size_t len)
{
	struct web_session s;
	struct xport *x;
	char path[4300], disposition[200];
	enum xstate state = XS_FAILED;
	bool hot = false, pg = false;

	if (!web_require_admin(req, &s))
		return 0;
	ensure_loaded();
	pthread_mutex_lock(&mu);
	if ((x = find(&s, id, len)) != NULL) {
		state = x->state;
		hot = x->hot;
		pg = x->pg;
		export_path(x->id, file_suffix(x), path, sizeof(path));
		download_name(x->client, x->hot, x->created_ms, disposition,
		    sizeof(disposition));
	}
	pthread_mutex_unlock(&mu);
	if (x == NULL)
		return web_not_found(req);
	if (pg)
		return web_send_error(req, 409, "no_file",
		    "a PostgreSQL export went into its database: there is no "
		    "file to download");
	if (state == XS_RUNNING)
		return web_send_error(
		    req, 409, "running", "the export is still running");
	if (state == XS_FAILED)
		return web_send_error(
		    req, 409, "failed", "the export failed: nothing to send");
	return send_file(req, path,
	    hot ? "application/octet-stream" : "application/json",
	    disposition);
}

static int
export_delete(h2o_req_t *req, const char *id, size_t len)
{
	struct web_session s;
	struct xport *x, **pp;
	bool was_running = false;

	if (!web_check_mutation(req))
		return 0;
	if (!web_require_admin(req, &s))
		return 0;
	ensure_loaded();
	pthread_mutex_lock(&mu);
	if ((x = find(&s, id, len)) != NULL) {
		for (pp = &table; *pp != x; pp = &(*pp)->next)
			;
		*pp = x->next;
		was_running = x->state == XS_RUNNING;
		x->cancel = true;
		xport_event_async(x, DBS__EVENT_KIND__EV_DELETE);
	}
	pthread_mutex_unlock(&mu);
	if (x == NULL)
		return web_not_found(req);
	/* A running export's thread removes its files when it stops. */
	if (!was_running)
		remove_files(x->id);
	pthread_mutex_lock(&mu);
	unref(x);
	pthread_mutex_unlock(&mu);
	return web_send_json(
	    req, 200, json_pack("{s:s%, s:b}", "id", id, len, "deleted", 1));
}

/* -------------------------------------------------------------- handlers */

int
web_api_export_create(h2o_req_t *req, const struct web_args *a)
{
	(void)a;
	return export_post(req);
}

int
web_api_exports_list(h2o_req_t *req, const struct web_args *a)
{
	(void)a;
	return exports_list(req);
}

int
web_api_export_show(h2o_req_t *req, const struct web_args *a)
{
	return export_show(req, a->export_id, strlen(a->export_id));
}

int
web_api_export_delete(h2o_req_t *req, const struct web_args *a)
{
	return export_delete(req, a->export_id, strlen(a->export_id));
}

int
web_api_export_download(h2o_req_t *req, const struct web_args *a)
{
	return export_download(req, a->export_id, strlen(a->export_id));
}
