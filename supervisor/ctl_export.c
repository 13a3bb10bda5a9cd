/*
 * ctl_export.c — `databusctl export FILE`: a JSON archive of the store.
 *
 *   {"format": "databus-export", "version": 1, "exported_at": ISO,
 *    "clients": [names], "passengers": [passenger + "attachments_data":
 *    [{"name", "content_type", "base64"}]], "logs": [log with entries],
 *    "users": [user, never a password hash]}
 *
 * The export reads the store read-only inside one read transaction: a
 * consistent snapshot, taken while databusd keeps running (intake is never
 * paused). A store can hold gigabytes of attachments, so nothing is built
 * in memory as a whole: each record is dumped on its own with the
 * separators written by hand, and attachment bodies are base64-encoded in
 * chunks straight into the file. The file appears atomically: everything
 * goes to FILE.tmp, which is fsync'd and renamed over FILE.
 *
 * Listings are read in pages by cursor, and each passenger is fetched
 * after its page is listed, so no store call is made from inside another
 * one's callback.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_cmd.h"
#include "dbs_error.h"
#include "record_json.h"
#include "wire.h"

#define PAGE      1000
#define B64_CHUNK (48 * 1024) /* a multiple of 3: no padding mid-way */

struct export
{
	struct ctl *c;
	struct store_txn *txn;
	FILE *f;
	const char *path; /* FILE.tmp */
	int failed;       /* a message was printed; stop */
	bool first;       /* no element written yet in the current array */

	char **clients; /* sorted, distinct */
	size_t n_clients, cap_clients;
	uint64_t ids[PAGE]; /* one page of passenger ids */
	size_t n_ids;

	uint64_t passengers, attachments, attachment_bytes, missing, logs,
	    users;
};

static void
write_failed(struct export *e)
{
	if (!e->failed)
		ctl_err("export: cannot write %s: %s", e->path,
		    strerror(errno != 0 ? errno : EIO));
	e->failed = 1;
}

static void
out(struct export *e, const void *p, size_t len)
{
	if (e->failed)
		return;
	errno = 0;
	if (len > 0 && fwrite(p, 1, len, e->f) != len)
		write_failed(e);
}

static void
outs(struct export *e, const char *s)
{
	out(e, s, strlen(s));
}

/* Write v compactly and drop it; `strip` drops its closing brace so that
 * more members can follow. */
static void
out_json(struct export *e, json_t *v, bool strip)
{
	char *s;
	size_t len;

	if (v == NULL) {
		if (!e->failed)
			ctl_err("export: out of memory");
		e->failed = 1;
		return;
	}
	s = json_dumps(
	    v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	json_decref(v);
	if (s == NULL) {
		if (!e->failed)
			ctl_err("export: out of memory");
		e->failed = 1;
		return;
	}
	len = strlen(s);
	if (strip && len > 0 && s[len - 1] == '}')
		len--;
	out(e, s, len);
	free(s);
}

/* The separator before the next array element. */
static void
next_element(struct export *e)
{
	outs(e, e->first ? "\n" : ",\n");
	e->first = false;
}

static void
store_failed(struct export *e, const char *what, int rc)
{
	if (!e->failed)
		(void)ctl_store_fail(e->c, what, rc);
	e->failed = 1;
}

/* ----------------------------------------------------------- client set */

static int
add_client(struct export *e, const char *name)
{
	size_t lo = 0, hi = e->n_clients, mid;
	char **grown, *copy;
	int cmp;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		cmp = strcmp(name, e->clients[mid]);
		if (cmp == 0)
			return 0;
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (e->n_clients == e->cap_clients) {
		size_t cap = e->cap_clients == 0 ? 8 : e->cap_clients * 2;
		if ((grown = realloc(e->clients, cap * sizeof(*grown))) ==
		    NULL)
			return -1;
		e->clients = grown;
		e->cap_clients = cap;
	}
	if ((copy = strdup(name)) == NULL)
		return -1;
	memmove(e->clients + lo + 1, e->clients + lo,
	    (e->n_clients - lo) * sizeof(*e->clients));
	e->clients[lo] = copy;
	e->n_clients++;
	return 0;
}

static int
client_of_passenger(void *ctx, const Dbs__Passenger *p)
{
	return add_client(ctx, p->client);
}

static int
client_of_log(void *ctx, const Dbs__Log *log)
{
	return add_client(ctx, log->client);
}

static int
client_of_user(void *ctx, const Dbs__User *u)
{
	return add_client(ctx, u->client);
}

/* Every client that owns a passenger, a log or a user. */
static int
collect_clients(struct export *e)
{
	struct store_query q = {0};
	uint64_t cursor = 0;
	int rc;

	if (e->c->args->client != NULL)
		return add_client(e, e->c->args->client) == 0 ? DBS_OK
							      : DBS_ENOMEM;
	q.state = -1;
	q.limit = PAGE;
	do {
		q.cursor = cursor;
		rc = store_queue_list(
		    e->txn, &q, client_of_passenger, e, &cursor);
		if (rc != DBS_OK)
			return rc < 0 ? DBS_ENOMEM : rc;
	} while (cursor != 0);
	do {
		rc = store_log_list(
		    e->txn, NULL, cursor, PAGE, client_of_log, e, &cursor);
		if (rc != DBS_OK)
			return rc < 0 ? DBS_ENOMEM : rc;
	} while (cursor != 0);
	rc = store_user_list(e->txn, NULL, client_of_user, e);
	return rc < 0 ? DBS_ENOMEM : rc;
}

/* ----------------------------------------------------------- passengers */

/* Write `data` as the content of a JSON string, base64 in chunks. */
static void
out_base64(struct export *e, const unsigned char *data, size_t len)
{
	static char b64[sodium_base64_ENCODED_LEN(
	    B64_CHUNK, sodium_base64_VARIANT_ORIGINAL)];
	size_t n;

	while (len > 0 && !e->failed) {
		n = len < B64_CHUNK ? len : B64_CHUNK;
		sodium_bin2base64(
		    b64, sizeof(b64), data, n, sodium_base64_VARIANT_ORIGINAL);
		outs(e, b64);
		data += n;
		len -= n;
	}
}

static void
out_attachment(
    struct export *e, const Dbs__Passenger *p, const Dbs__AttachmentMeta *m)
{
	const void *data;
	size_t len;
	int rc;

	outs(e, "{\"name\":");
	out_json(e, rj_string(m->name), false);
	outs(e, ",\"content_type\":");
	out_json(e, rj_string(m->content_type), false);
	rc = store_attachment_get(e->txn, p->id, m->name, &data, &len);
	if (rc == DBS_ENOTFOUND) {
		/* Keep going: the rest of the store is still worth having,
		 * and the gap is marked in the file and reported. */
		char *name = ctl_clean(m->name, 0);
		ctl_err("export: passenger %llu: attachment \"%s\" is "
			"missing from the store",
		    (unsigned long long)p->id, name != NULL ? name : "?");
		free(name);
		outs(e, ",\"base64\":null,\"error\":\"missing from the "
			"store\"}");
		e->missing++;
		return;
	}
	if (rc != DBS_OK) {
		store_failed(e, "export: attachment", rc);
		return;
	}
	outs(e, ",\"base64\":\"");
	out_base64(e, data, len);
	outs(e, "\"}");
	e->attachments++;
	e->attachment_bytes += len;
}

static void
out_passenger(struct export *e, const Dbs__Passenger *p)
{
	size_t i;

	next_element(e);
	out_json(e, rj_passenger(p), true);
	outs(e, ",\"attachments_data\":[");
	for (i = 0; i < p->n_attachments && !e->failed; i++) {
		if (i > 0)
			outs(e, ",");
		out_attachment(e, p, p->attachments[i]);
	}
	outs(e, "]}");
	e->passengers++;
}

static int
collect_id(void *ctx, const Dbs__Passenger *p)
{
	struct export *e = ctx;

	e->ids[e->n_ids++] = p->id;
	return 0;
}

static void
out_passengers(struct export *e)
{
	struct store_query q = {0};
	Dbs__Passenger *p;
	uint64_t cursor = 0;
	size_t i;
	int rc;

	q.client = e->c->args->client;
	q.state = -1;
	q.limit = PAGE;
	outs(e, ",\n\"passengers\":[");
	e->first = true;
	do {
		q.cursor = cursor;
		e->n_ids = 0;
		rc = store_queue_list(e->txn, &q, collect_id, e, &cursor);
		if (rc != DBS_OK) {
			store_failed(e, "export: queue", rc);
			return;
		}
		for (i = 0; i < e->n_ids && !e->failed; i++) {
			if ((rc = store_passenger_get(
				 e->txn, e->ids[i], &p)) != DBS_OK) {
				store_failed(e, "export: passenger", rc);
				return;
			}
			out_passenger(e, p);
			dbs__passenger__free_unpacked(p, NULL);
		}
	} while (cursor != 0 && !e->failed);
	outs(e, "\n]");
}

/* --------------------------------------------------------- logs, users */

static int
out_log(void *ctx, const Dbs__Log *log)
{
	struct export *e = ctx;

	next_element(e);
	out_json(e, rj_log(log, true), false);
	e->logs++;
	return e->failed ? -1 : 0;
}

static void
out_logs(struct export *e)
{
	uint64_t cursor = 0;
	int rc;

	outs(e, ",\n\"logs\":[");
	e->first = true;
	do {
		rc = store_log_list(e->txn, e->c->args->client, cursor, PAGE,
		    out_log, e, &cursor);
		if (e->failed)
			return;
		if (rc != DBS_OK) {
			store_failed(e, "export: logs", rc);
			return;
		}
	} while (cursor != 0);
	outs(e, "\n]");
}

static int
out_user(void *ctx, const Dbs__User *u)
{
	struct export *e = ctx;

	next_element(e);
	out_json(e, rj_user(u), false);
	e->users++;
	return e->failed ? -1 : 0;
}

static void
out_users(struct export *e)
{
	int rc;

	outs(e, ",\n\"users\":[");
	e->first = true;
	rc = store_user_list(e->txn, e->c->args->client, out_user, e);
	if (e->failed)
		return;
	if (rc != DBS_OK) {
		store_failed(e, "export: users", rc);
		return;
	}
	outs(e, "\n]");
}

/* ----------------------------------------------------------------- file */

static void
out_header(struct export *e)
{
	char now[RJ_TIME_LEN];
	json_t *names = json_array();
	size_t i;
	int bad = 0;

	for (i = 0; i < e->n_clients; i++)
		bad |= json_array_append_new(names, rj_string(e->clients[i]));
	if (bad) {
		json_decref(names);
		names = NULL;
	}
	outs(e, "{\"format\":\"databus-export\",\"version\":1,"
		"\"exported_at\":\"");
	outs(e, rj_time_iso(wire_now_ms(), now));
	outs(e, "\",\n\"clients\":");
	out_json(e, names, false);
}

/* fsync the directory holding `path`, so that the rename is durable. */
static int
sync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = -1;

	if (copy == NULL)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(copy);
	return rc;
}

static int
report(struct ctl *c, const struct export *e)
{
	char size[32];
	json_t *doc;
	int rc = CTL_EXIT_OK;

	if (c->args->json) {
		doc = json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		    "file", rj_string(c->args->file), "clients",
		    (json_int_t)e->n_clients, "passengers",
		    (json_int_t)e->passengers, "attachments",
		    (json_int_t)e->attachments, "attachment_bytes",
		    (json_int_t)e->attachment_bytes, "logs",
		    (json_int_t)e->logs, "users", (json_int_t)e->users,
		    "missing_attachments", (json_int_t)e->missing);
		rc = ctl_print_json(doc);
	} else {
		char *file = ctl_clean(c->args->file, 0);
		printf("exported %llu passengers (%llu attachments, %s), %llu "
		       "logs, %llu users of %zu clients to %s\n",
		    (unsigned long long)e->passengers,
		    (unsigned long long)e->attachments,
		    ctl_size(e->attachment_bytes, size),
		    (unsigned long long)e->logs, (unsigned long long)e->users,
		    e->n_clients, file != NULL ? file : "?");
		free(file);
	}
	if (e->missing > 0) {
		ctl_err("export: %llu attachments were missing from the store "
			"(marked with \"error\" in %s)",
		    (unsigned long long)e->missing, c->args->file);
		rc = CTL_EXIT_FAIL;
	}
	return rc;
}

int
ctl_cmd_export(struct ctl *c)
{
	const char *file = c->args->file;
	struct export e = {0};
	char *tmp = NULL;
	size_t i;
	int fd = -1, rc = CTL_EXIT_FAIL, src;

	e.c = c;
	if (asprintf(&tmp, "%s.tmp", file) < 0) {
		ctl_err("export: out of memory");
		return CTL_EXIT_FAIL;
	}
	e.path = tmp;
	if (ctl_store_begin(c, &e.txn) != CTL_EXIT_OK)
		goto out;
	if ((src = collect_clients(&e)) != DBS_OK) {
		store_failed(&e, "export: clients", src);
		goto out;
	}

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ctl_err("export: cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	if ((e.f = fdopen(fd, "w")) == NULL) {
		ctl_err("export: %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	fd = -1; /* transferred to e.f */
	setvbuf(e.f, NULL, _IOFBF, 1 << 20);

	out_header(&e);
	out_passengers(&e);
	out_logs(&e);
	out_users(&e);
	outs(&e, "}\n");
	store_txn_abort(e.txn);
	e.txn = NULL;

	if (!e.failed) {
		errno = 0;
		if (fflush(e.f) != 0 || ferror(e.f) || fsync(fileno(e.f)) != 0)
			write_failed(&e);
	}
	if (fclose(e.f) != 0 && !e.failed)
		write_failed(&e);
	e.f = NULL;
	if (e.failed) {
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, file) != 0) {
		ctl_err("export: cannot rename %s to %s: %s", tmp, file,
		    strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (sync_dir(file) != 0) {
		ctl_err("export: cannot sync the directory of %s: %s", file,
		    strerror(errno));
		goto out;
	}
	rc = report(c, &e);
out:
	store_txn_abort(e.txn);
	for (i = 0; i < e.n_clients; i++)
		free(e.clients[i]);
	free(e.clients);
	free(tmp);
	return rc;
}
