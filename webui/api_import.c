/*
 * api_import.c — root's import of an uploaded JSON archive, in the export
 * section, with a dry-run preview before the operator confirms.
 *
 *   POST   /api/v1/imports                   {"size": N}  -> the upload
 *   POST   /api/v1/imports/{id}/data?offset=N  raw bytes (octet-stream)
 *   POST   /api/v1/imports/{id}/preview      {"client"?}  dry run
 *   POST   /api/v1/imports/{id}/apply        {}           the import
 *   GET    /api/v1/imports/{id}              state and report
 *   DELETE /api/v1/imports/{id}
 *
 * h2o 2.2 buffers a request body whole before the handler runs, so an
 * archive arrives in pieces of at most WEB_IMPORT_CHUNK bytes, each sent
 * at the offset the server has reached (a piece sent twice is refused,
 * not appended twice), into <data_dir>/imports/<id>.json (mode 0600). At
 * most WEB_IMPORT_MAX bytes, and IMPORTS_MAX uploads at once; one left
 * untouched for IMPORT_IDLE_MS, or one that has ended (done or failed),
 * is removed when a new one needs its room.
 *
 * The preview and the import each run on a thread of their own (a big
 * archive takes a while), and the browser polls the upload's state. Both
 * are store/import_run.h's: the preview is the dry run against the web's
 * read-only store; the import sends import_batch control requests to
 * databusd, the only writer, exactly as `databusctl import` does into a
 * running databusd — so the same dedup (importing twice adds nothing),
 * id remapping and users' hashes. The import needs a preview of the same
 * upload and client first. An LMDB store file is refused here (its check
 * is sandboxed in a child process, which a threaded server does not
 * fork): `databusctl import` takes it.
 */
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
#include "import_run.h"
#include "params.h"
#include "record_json.h"
#include "web.h"
#include "wire.h"

#define IMPORTS_MAX    4
#define IMPORT_IDLE_MS (3600 * 1000)
#define REMAP_SHOWN    1000
#define BATCH_TIMEOUT  60000

enum istate {
	IS_UPLOADING,
	IS_CHECKING,
	IS_READY,
	IS_IMPORTING,
	IS_DONE,
	IS_FAILED
};

static const char *const istate_names[] = {
    "uploading", "checking", "ready", "importing", "done", "failed"};

struct upload {
	char id[WEB_EXPORT_ID_LEN + 1];
	char path[4300];
	char url[4200];
	char actor[220];
	char client[65]; /* of the preview; "" = every client */
	uint64_t size, received;
	enum istate state;
	int64_t created_ms, touched_ms;
	bool busy; /* a thread runs on it */
	bool gone; /* deleted while busy: the thread frees it */
	json_t *report;
	char error[1100];
	struct store *st;
	struct upload *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct upload *table;

static json_t *
upload_json(const struct upload *u)
{
	return json_pack("{s:s, s:I, s:I, s:s, s:o, s:o, s:o, s:o}", "id",
	    u->id, "size", (json_int_t)u->size, "received",
	    (json_int_t)u->received, "state", istate_names[u->state], "client",
	    u->client[0] != '\0' ? rj_string(u->client) : json_null(),
	    "created", rj_time(u->created_ms), "report",
	    u->report != NULL ? json_incref(u->report) : json_null(), "error",
	    u->error[0] != '\0' ? rj_string(u->error) : json_null());
}

static void
upload_free(struct upload *u)
{
	(void)unlink(u->path);
	json_decref(u->report);
	free(u);
}

/* Take u out of the table (mu held); freed now or by its thread. */
static void
unlink_upload(struct upload *u)
{
	for (struct upload **p = &table; *p != NULL; p = &(*p)->next)
		if (*p == u) {
			*p = u->next;
			break;
		}
	if (u->busy)
		u->gone = true;
	else
		upload_free(u);
}

static struct upload *
find(const char *id)
{
	for (struct upload *u = table; u != NULL; u = u->next)
		if (strcmp(u->id, id) == 0)
			return u;
	return NULL;
}

/* The report of a run (what the API and the browser show). */
static json_t *
report_json(const struct import_run *r)
{
	const struct import_stats *s = &r->stats;
	json_t *remap = json_array(), *locked = json_array();

	for (size_t i = 0; i + 1 < s->n_remap && i / 2 < REMAP_SHOWN; i += 2)
		json_array_append_new(remap,
		    json_pack("{s:I, s:I}", "from", (json_int_t)s->remap[i],
			"to", (json_int_t)s->remap[i + 1]));
	for (size_t i = 0; i < s->n_locked; i++)
		json_array_append_new(locked, rj_string(s->locked[i]));
	return json_pack("{s:b, s:i, s:I, s:I, s:o, s:I, s:I, s:I, s:o, s:I, "
			 "s:I, s:I, s:I, s:I}",
	    "dry_run", r->dry, "version", r->info.version, "added",
	    (json_int_t)s->added, "duplicates", (json_int_t)s->duplicates,
	    "remapped", remap, "remapped_count", (json_int_t)(s->n_remap / 2),
	    "users_added", (json_int_t)s->users_added, "users_existing",
	    (json_int_t)s->users_existing, "users_locked", locked, "logs",
	    (json_int_t)r->info.logs, "logs_added", (json_int_t)s->logs_added,
	    "logs_duplicates", (json_int_t)s->logs_duplicates,
	    "missing_attachments", (json_int_t)r->info.missing, "passengers",
	    (json_int_t)r->info.passengers);
}

static int
send_batch(void *ctx, Dbs__ControlRequest *req, Dbs__ControlReply **out,
    char *err, size_t errlen)
{
	struct upload *u = ctx;
	Dbs__ControlReply *reply = NULL;
	int rc;

	rc = web_control_timeout(u->url, u->actor, req, &reply, BATCH_TIMEOUT);
	if (rc != DBS_OK) {
		snprintf(err, errlen,
		    "databusd does not answer on the control socket");
		return rc;
	}
	if (reply->code != DBS_OK) {
		snprintf(err, errlen, "databusd refused a batch: %s",
		    reply->message[0] != '\0' ? reply->message
					      : dbs_strerror(reply->code));
		rc = reply->code;
		dbs__control_reply__free_unpacked(reply, NULL);
		return rc;
	}
	*out = reply;
	return DBS_OK;
}

/* The preview or the import, on its own thread. */
static void *
run_thread(void *arg)
{
	struct upload *u = arg;
	bool dry = u->state == IS_CHECKING;
	struct import_run r = {.path = u->path,
	    .client = u->client[0] != '\0' ? u->client : NULL,
	    .dry = dry,
	    .st = u->st,
	    .send = dry ? NULL : send_batch,
	    .send_ctx = u};
	int rc = import_run_check(&r);

	if (rc == DBS_OK && r.lmdb) {
		rc = DBS_EINVAL;
		snprintf(r.err, sizeof(r.err),
		    "this is an LMDB store file, not a JSON archive: import "
		    "it with `databusctl import FILE`");
	}
	if (rc == DBS_OK)
		rc = import_run(&r);
	pthread_mutex_lock(&mu);
	json_decref(u->report);
	u->report = rc == DBS_OK || !dry ? report_json(&r) : NULL;
	if (rc != DBS_OK)
		snprintf(u->error, sizeof(u->error), "%s", r.err);
	u->state = rc != DBS_OK ? IS_FAILED : dry ? IS_READY : IS_DONE;
	u->touched_ms = wire_now_ms();
	u->busy = false;
	if (u->gone)
		upload_free(u);
	else if (!dry)
		(void)unlink(u->path); /* imported: the bytes are not needed */
	pthread_mutex_unlock(&mu);
	import_run_free(&r);
	return NULL;
}

/* ------------------------------------------------------------ handlers */

static bool
root_session(h2o_req_t *req, struct web_session *s)
{
	if (!web_session_require(req, s))
		return false;
	if (s->role != DBS__ROLE__ROLE_ROOT) {
		web_forbidden(req);
		return false;
	}
	return true;
}

static void
imports_dir(char *buf, size_t len)
{
	snprintf(buf, len, "%s/imports", web_data_dir(web_of(NULL)));
}

/* Make room (mu held): remove uploads left idle, and ended ones (done or
 * failed: their report was answered) while IMPORTS_MAX are kept; count
 * those left. */
static size_t
sweep(void)
{
	int64_t now = wire_now_ms();
	struct upload *u = table, *next;
	size_t n = 0;

	for (; u != NULL; u = next) {
		next = u->next;
		if (!u->busy && now - u->touched_ms > IMPORT_IDLE_MS)
			unlink_upload(u);
		else
			n++;
	}
	for (u = table; u != NULL && n >= IMPORTS_MAX; u = next) {
		next = u->next;
		if (!u->busy &&
		    (u->state == IS_DONE || u->state == IS_FAILED)) {
			unlink_upload(u);
			n--;
		}
	}
	return n;
}

static int
import_create(h2o_req_t *req)
{
	struct web_session s;
	unsigned char rnd[16];
	struct upload *u;
	json_t *body, *size, *doc;
	char dir[4200];
	int fd;

	if (!web_check_mutation(req) || !root_session(req, &s))
		return 0;
	if ((body = web_body_object(req)) == NULL)
		return 0;
	size = json_object_get(body, "size");
	if (json_object_size(body) != 1 || !json_is_integer(size) ||
	    json_integer_value(size) <= 0 ||
	    (uint64_t)json_integer_value(size) > WEB_IMPORT_MAX) {
		json_decref(body);
		return web_bad_param(req, "expected {\"size\": N}, N bytes "
					  "from 1 to 1 GiB");
	}
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		json_decref(body);
		return web_send_error(req, 500, "internal", "out of memory");
	}
	u->size = (uint64_t)json_integer_value(size);
	json_decref(body);
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(u->id, sizeof(u->id), rnd, sizeof(rnd));
	imports_dir(dir, sizeof(dir));
	(void)mkdir(dir, 0700);
	snprintf(u->path, sizeof(u->path), "%s/%s.json", dir, u->id);
	snprintf(u->url, sizeof(u->url), "%s", web_control_url(web_of(req)));
	snprintf(
	    u->actor, sizeof(u->actor), "web:%s/%s", s.client, s.username);
	u->st = web_store(web_of(req));
	u->created_ms = u->touched_ms = wire_now_ms();
	pthread_mutex_lock(&mu);
	if (sweep() >= IMPORTS_MAX) {
		pthread_mutex_unlock(&mu);
		free(u);
		web_add_header(req, "retry-after", "10");
		return web_send_error(req, 503, "busy",
		    "four imports are under way already; finish or delete "
		    "one");
	}
	fd = open(u->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		pthread_mutex_unlock(&mu);
		free(u);
		return web_send_error(req, 500, "internal",
		    "cannot create the upload file in the data directory");
	}
	close(fd);
	u->next = table;
	table = u;
	doc = upload_json(u);
	pthread_mutex_unlock(&mu);
	return web_send_json(req, 201, doc);
}

/* Append the body at `offset` (mu held; the write is small). */
static int
append(h2o_req_t *req, struct upload *u, uint64_t offset)
{
	int fd;
	ssize_t n;

	if (u->state != IS_UPLOADING)
		return web_send_error(
		    req, 409, "conflict", "the upload is complete already");
	if (offset != u->received)
		return web_send_error(req, 409, "wrong_offset",
		    "this piece does not start where the upload has reached "
		    "(see \"received\")");
	if (req->entity.len == 0 || req->entity.len > u->size - u->received)
		return web_bad_param(req,
		    "the piece is empty or goes past the "
		    "announced size");
	if ((fd = open(u->path, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0)
		return web_send_error(
		    req, 500, "internal", "the upload file is gone");
	n = write(fd, req->entity.base, req->entity.len);
	if (n != (ssize_t)req->entity.len ||
	    (u->received + (uint64_t)n == u->size && fsync(fd) != 0)) {
		int e = n < 0 ? errno : ENOSPC;

		/* Back to where the upload was: the piece can be resent. */
		if (ftruncate(fd, (off_t)u->received) != 0)
			e = errno;
		close(fd);
		return web_send_error(req, 507, "no_space",
		    e == ENOSPC ? "no space left for the upload"
				: "cannot write the upload");
	}
	close(fd);
	u->received += (uint64_t)n;
	u->touched_ms = wire_now_ms();
	return web_send_json(req, 200, upload_json(u));
}

static bool
octet_stream(h2o_req_t *req)
{
	ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);

	return i >= 0 && h2o_memis(req->headers.entries[i].value.base,
			     req->headers.entries[i].value.len,
			     H2O_STRLIT("application/octet-stream"));
}

static int
import_data(h2o_req_t *req, const char *id)
{
	struct web_session s;
	struct upload *u;
	h2o_iovec_t q;
	uint64_t offset;
	char num[24];
	bool bad = false;
	int rc;

	if (!web_same_origin(req)) {
		return web_send_error(req, 403, "forbidden_origin",
		    "cross-origin or Origin-less requests may not change "
		    "anything");
	}
	if (!octet_stream(req))
		return web_send_error(req, 415, "unsupported_media_type",
		    "a piece of an upload is application/octet-stream");
	if (!root_session(req, &s))
		return 0;
	q = req->query_at != SIZE_MAX
		? h2o_iovec_init(req->path.base + req->query_at + 1,
		      req->path.len - req->query_at - 1)
		: h2o_iovec_init("", 0);
	if (!web_query_lookup(
		q.base, q.len, "offset", num, sizeof(num), &bad) ||
	    bad || !web_parse_u64(num, &offset))
		return web_bad_param(req, "offset (a number) is required");
	pthread_mutex_lock(&mu);
	u = find(id);
	rc = u == NULL ? web_not_found(req) : append(req, u, offset);
	pthread_mutex_unlock(&mu);
	return rc;
}

/* Start the preview (dry) or the import on a thread of its own. */
static int
start_run(h2o_req_t *req, struct upload *u, bool dry, const char *client)
{
	pthread_attr_t attr;
	pthread_t th;
	int err;

	if (u->busy)
		return web_send_error(req, 409, "busy",
		    "the upload is being checked or imported");
	if (u->received != u->size)
		return web_send_error(
		    req, 409, "incomplete", "the upload is not complete");
	if (dry && u->state == IS_DONE)
		return web_send_error(
		    req, 409, "conflict", "the upload was imported already");
	if (!dry && u->state != IS_READY)
		return web_send_error(req, 409, "preview_first",
		    "preview the import first, then confirm it");
	if (dry)
		snprintf(u->client, sizeof(u->client), "%s",
		    client != NULL ? client : "");
	u->state = dry ? IS_CHECKING : IS_IMPORTING;
	u->error[0] = '\0';
	u->busy = true;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&th, &attr, run_thread, u);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		u->busy = false;
		u->state = IS_FAILED;
		snprintf(u->error, sizeof(u->error), "cannot start: %s",
		    strerror(err));
	}
	return web_send_json(req, 202, upload_json(u));
}

static int
import_run_post(h2o_req_t *req, const char *id, bool dry)
{
	struct web_session s;
	struct upload *u;
	json_t *body, *c;
	const char *client = NULL;
	int rc;

	if (!web_check_mutation(req) || !root_session(req, &s))
		return 0;
	if ((body = web_body_object(req)) == NULL)
		return 0;
	c = json_object_get(body, "client");
	if (json_object_size(body) > (c != NULL ? 1u : 0u) ||
	    (c != NULL && !json_is_null(c) &&
		(!dry || !json_is_string(c) ||
		    !web_valid_name(
			json_string_value(c), json_string_length(c))))) {
		json_decref(body);
		return web_bad_param(req, dry ? "expected {} or {\"client\": "
						"NAME}"
					      : "expected {}");
	}
	client = json_is_string(c) ? json_string_value(c) : NULL;
	pthread_mutex_lock(&mu);
	u = find(id);
	rc = u == NULL ? web_not_found(req) : start_run(req, u, dry, client);
	pthread_mutex_unlock(&mu);
	json_decref(body);
	return rc;
}

int
web_api_import_create(h2o_req_t *req, const struct web_args *a)
{
	(void)a;
	return import_create(req);
}

int
web_api_import_data(h2o_req_t *req, const struct web_args *a)
{
	return import_data(req, a->export_id);
}

int
web_api_import_preview(h2o_req_t *req, const struct web_args *a)
{
	return import_run_post(req, a->export_id, true);
}

int
web_api_import_apply(h2o_req_t *req, const struct web_args *a)
{
	return import_run_post(req, a->export_id, false);
}

int
web_api_import_show(h2o_req_t *req, const struct web_args *a)
{
	struct web_session s;
	struct upload *u;
	json_t *doc = NULL;

	if (!root_session(req, &s))
		return 0;
	pthread_mutex_lock(&mu);
	if ((u = find(a->export_id)) != NULL)
		doc = upload_json(u);
	pthread_mutex_unlock(&mu);
	return doc != NULL ? web_send_json(req, 200, doc) : web_not_found(req);
}

int
web_api_import_delete(h2o_req_t *req, const struct web_args *a)
{
	struct web_session s;
	struct upload *u;
	bool importing = false;

	if (!web_check_mutation(req) || !root_session(req, &s))
		return 0;
	pthread_mutex_lock(&mu);
	if ((u = find(a->export_id)) != NULL &&
	    !(importing = u->state == IS_IMPORTING))
		unlink_upload(u);
	pthread_mutex_unlock(&mu);
	if (u == NULL)
		return web_not_found(req);
	if (importing)
		return web_send_error(req, 409, "busy",
		    "the import is under way; it cannot be stopped halfway");
	return web_send_json(req, 200,
	    json_pack("{s:s, s:b}", "id", a->export_id, "deleted", 1));
}
