/*
 * export.c — the JSON archive writer (see export.h).
 *
 * The archive is written with the separators by hand around records that
 * jansson dumps one at a time, so memory stays flat whatever the size of
 * the store. Listings are read in pages by cursor, and each passenger is
 * fetched after its page is listed, so no store call is made from inside
 * another one's callback. Progress is the share of passengers written
 * (counted before they are listed), which dominate any archive; logs and
 * users close the last few percent.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbs_error.h"
#include "export.h"
#include "record_json.h"
#include "wire.h"

#define PAGE      1000
#define B64_CHUNK (48 * 1024) /* a multiple of 3: no padding mid-way */

/* Passengers are this share of the progress; logs and users the rest. */
#define PASSENGER_SHARE 0.95

struct export
{
	const struct export_options *opt;
	struct store_txn *txn;
	FILE *f;
	int rc; /* the first failure; stop */
	char *err;
	size_t errlen;
	bool first; /* no element written yet in the current array */
	char b64[sodium_base64_ENCODED_LEN(
	    B64_CHUNK, sodium_base64_VARIANT_ORIGINAL)];

	char **clients; /* sorted, distinct */
	size_t n_clients, cap_clients;
	uint64_t ids[PAGE]; /* one page of passenger ids */
	size_t n_ids;
	uint64_t total; /* passengers expected, for progress */

	struct export_stats st;
};

/* A failed write: a full disk stays DBS_ENOSPC (the caller answers it as
 * a store error), anything else is DBS_EIO. */
static int
write_error(int e)
{
	return e == ENOSPC || e == EDQUOT ? DBS_ENOSPC : DBS_EIO;
}

static void
fail(struct export *e, int rc, const char *fmt, ...)
{
	va_list ap;

	if (e->rc != DBS_OK)
		return;
	e->rc = rc;
	if (e->err != NULL && e->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(e->err, e->errlen, fmt, ap);
		va_end(ap);
	}
}

static void
out(struct export *e, const void *p, size_t len)
{
	if (e->rc != DBS_OK)
		return;
	errno = 0;
	if (len > 0 && fwrite(p, 1, len, e->f) != len)
		fail(e, write_error(errno), "cannot write: %s",
		    strerror(errno != 0 ? errno : EIO));
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

	s = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER |
					  JSON_ENCODE_ANY)
		      : NULL;
	json_decref(v);
	if (s == NULL) {
		fail(e, DBS_ENOMEM, "out of memory");
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
progress(struct export *e, double fraction)
{
	if (e->rc != DBS_OK || e->opt->progress == NULL)
		return;
	if (fraction > 1)
		fraction = 1;
	if (e->opt->progress(e->opt->ctx, fraction) != 0)
		fail(e, DBS_ESHUTDOWN, "export cancelled");
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

	if (e->opt->client != NULL)
		return add_client(e, e->opt->client) == 0 ? DBS_OK
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
	size_t n;

	while (len > 0 && e->rc == DBS_OK) {
		n = len < B64_CHUNK ? len : B64_CHUNK;
		sodium_bin2base64(e->b64, sizeof(e->b64), data, n,
		    sodium_base64_VARIANT_ORIGINAL);
		outs(e, e->b64);
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
		if (e->opt->missing != NULL)
			e->opt->missing(e->opt->ctx, p->id, m->name);
		outs(e, ",\"base64\":null,\"error\":\"missing from the "
			"store\"}");
		e->st.missing++;
		return;
	}
	if (rc != DBS_OK) {
		fail(e, rc, "attachment of passenger %llu: %s",
		    (unsigned long long)p->id, dbs_strerror(rc));
		return;
	}
	outs(e, ",\"base64\":\"");
	out_base64(e, data, len);
	outs(e, "\"}");
	e->st.attachments++;
	e->st.attachment_bytes += len;
}

static void
out_passenger(struct export *e, const Dbs__Passenger *p)
{
	size_t i;

	next_element(e);
	out_json(e, rj_passenger(p), true);
	/* Version 2: what a notify sent again after an import needs. */
	outs(e, ",\"source_ref\":");
	out_json(e, rj_string(p->source_ref), false);
	outs(e, ",\"attachments_data\":[");
	for (i = 0; i < p->n_attachments && e->rc == DBS_OK; i++) {
		if (i > 0)
			outs(e, ",");
		out_attachment(e, p, p->attachments[i]);
	}
	outs(e, "]}");
	e->st.passengers++;
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
	uint64_t cursor = 0, pending = 0, done = 0, dead = 0;
	size_t i;
	int rc;

	if (store_queue_counts(e->txn, e->opt->client, NULL, &pending, &done,
		&dead) == DBS_OK)
		e->total = pending + done + dead;
	q.client = e->opt->client;
	q.state = -1;
	q.limit = PAGE;
	outs(e, ",\n\"passengers\":[");
	e->first = true;
	do {
		q.cursor = cursor;
		e->n_ids = 0;
		rc = store_queue_list(e->txn, &q, collect_id, e, &cursor);
		if (rc != DBS_OK) {
			fail(e, rc, "queue: %s", dbs_strerror(rc));
			return;
		}
		for (i = 0; i < e->n_ids && e->rc == DBS_OK; i++) {
			if ((rc = store_passenger_get(
				 e->txn, e->ids[i], &p)) != DBS_OK) {
				fail(e, rc, "passenger %llu: %s",
				    (unsigned long long)e->ids[i],
				    dbs_strerror(rc));
				return;
			}
			out_passenger(e, p);
			dbs__passenger__free_unpacked(p, NULL);
		}
		if (e->total > 0)
			progress(e, PASSENGER_SHARE *
					(double)e->st.passengers /
					(double)e->total);
	} while (cursor != 0 && e->rc == DBS_OK);
	outs(e, "\n]");
	progress(e, PASSENGER_SHARE);
}

/* --------------------------------------------------------- logs, users */

static int
out_log(void *ctx, const Dbs__Log *log)
{
	struct export *e = ctx;

	next_element(e);
	out_json(e, rj_log(log, true), false);
	e->st.logs++;
	return e->rc != DBS_OK ? -1 : 0;
}

static void
out_logs(struct export *e)
{
	uint64_t cursor = 0;
	int rc;

	outs(e, ",\n\"logs\":[");
	e->first = true;
	do {
		rc = store_log_list(
		    e->txn, e->opt->client, cursor, PAGE, out_log, e, &cursor);
		if (e->rc != DBS_OK)
			return;
		if (rc != DBS_OK) {
			fail(e, rc, "logs: %s", dbs_strerror(rc));
			return;
		}
	} while (cursor != 0);
	outs(e, "\n]");
	progress(e, (1 + PASSENGER_SHARE) / 2);
}

static int
out_user(void *ctx, const Dbs__User *u)
{
	struct export *e = ctx;

	next_element(e);
	if (e->opt->client != NULL || u->password_hash == NULL ||
	    u->password_hash[0] == '\0') {
		out_json(e, rj_user(u), false);
	} else {
		/* The whole store's archive (root's) carries the hashes, so
		 * that users come back with their passwords; one client's
		 * archive never does. */
		out_json(e, rj_user(u), true);
		outs(e, ",\"password_hash\":");
		out_json(e, rj_string(u->password_hash), false);
		outs(e, "}");
	}
	e->st.users++;
	return e->rc != DBS_OK ? -1 : 0;
}

static void
out_users(struct export *e)
{
	int rc;

	outs(e, ",\n\"users\":[");
	e->first = true;
	rc = store_user_list(e->txn, e->opt->client, out_user, e);
	if (e->rc != DBS_OK)
		return;
	if (rc != DBS_OK) {
		fail(e, rc, "users: %s", dbs_strerror(rc));
		return;
	}
	outs(e, "\n]");
}

static void
out_header(struct export *e)
{
	char now[RJ_TIME_LEN];
	json_t *names = json_array();
	size_t i;
	int bad = names == NULL;

	for (i = 0; i < e->n_clients && !bad; i++)
		bad |= json_array_append_new(names, rj_string(e->clients[i]));
	if (bad) {
		json_decref(names);
		names = NULL;
	}
	outs(e,
	    "{\"format\":\"databus-export\",\"version\":" EXPORT_VERSION_STR
	    ",\"exported_at\":\"");
	outs(e, rj_time_iso(wire_now_ms(), now));
	outs(e, "\",\n\"clients\":");
	out_json(e, names, false);
}

int
export_write(struct store_txn *txn, FILE *f, const struct export_options *opt,
    struct export_stats *stats, char *err, size_t errlen)
{
	static const struct export_options none;
	struct export *e = calloc(1, sizeof(*e));
	int rc;

	if (stats != NULL)
		memset(stats, 0, sizeof(*stats));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (e == NULL) {
		if (err != NULL)
			snprintf(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	e->opt = opt != NULL ? opt : &none;
	e->txn = txn;
	e->f = f;
	e->err = err;
	e->errlen = errlen;
	if ((rc = collect_clients(e)) != DBS_OK)
		fail(e, rc, "clients: %s", dbs_strerror(rc));
	out_header(e);
	out_passengers(e);
	out_logs(e);
	out_users(e);
	outs(e, "}\n");
	progress(e, 1);
	e->st.clients = e->n_clients;
	if (stats != NULL)
		*stats = e->st;
	rc = e->rc;
	for (size_t i = 0; i < e->n_clients; i++)
		free(e->clients[i]);
	free(e->clients);
	free(e);
	return rc;
}

int
export_to_file(struct store *st, const char *path,
    const struct export_options *opt, struct export_stats *stats, char *err,
    size_t errlen)
{
	struct store_txn *txn = NULL;
	char *tmp = NULL;
	FILE *f = NULL;
	int fd = -1, rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (asprintf(&tmp, "%s.tmp", path) < 0) {
		tmp = NULL;
		rc = DBS_ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if ((rc = store_txn_begin(st, false, &txn)) != DBS_OK) {
		snprintf(err, errlen, "cannot read the store: %s",
		    store_last_error(st));
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		rc = dbs_from_errno(errno);
		snprintf(
		    err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	fd = -1; /* transferred to f */
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	rc = export_write(txn, f, opt, stats, err, errlen);
	store_txn_abort(txn);
	txn = NULL;
	if (rc == DBS_OK) {
		errno = 0;
		if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
			rc = write_error(errno);
			snprintf(err, errlen, "cannot write %s: %s", tmp,
			    strerror(errno != 0 ? errno : EIO));
		}
	}
	if (fclose(f) != 0 && rc == DBS_OK) {
		rc = write_error(errno);
		snprintf(
		    err, errlen, "cannot write %s: %s", tmp, strerror(errno));
	}
	f = NULL;
	if (rc != DBS_OK)
		goto out;
	if (rename(tmp, path) != 0) {
		rc = dbs_from_errno(errno);
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path,
		    strerror(errno));
		goto out;
	}
	if (wire_sync_dir_of(path) != 0) {
		rc = DBS_EIO;
		snprintf(err, errlen, "cannot sync the directory of %s: %s",
		    path, strerror(errno));
	}
out:
	if (rc != DBS_OK && tmp != NULL)
		(void)unlink(tmp);
	store_txn_abort(txn);
	free(tmp);
	return rc;
}
