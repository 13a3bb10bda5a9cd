/*
 * drv_imap_puller.c — the `imap` puller: every unseen message of an IMAP
 * folder becomes a passenger.
 *
 * A passenger carries the raw message as "message.eml", its text bodies
 * and attachments as decoded attachments (MIME parsed by GMime), and the
 * headers from, to, cc, subject, date and message_id as metadata. The
 * Message-ID is the external id, so a message offered twice (after a
 * crash, or copied into the folder again) is one passenger.
 *
 * Pull and peek read with EXAMINE (read-only) and BODY.PEEK[], so neither
 * changes a flag: a message becomes \Seen (or is moved to another folder)
 * only in notify, after its passenger is seated. The source reference
 * "<uidvalidity>:<uid>" lets notify refuse to touch a folder that was
 * recreated in between (its UIDs then name other messages).
 *
 * The connection (imap_session.c) is kept between drives and reopened
 * when it broke. With "oauth2" (oauth_token.h) the login is SASL XOAUTH2
 * or OAUTHBEARER with an access token from the configured endpoint; a
 * connection logged in with a token that has since been renewed is
 * reopened with the new one (servers may end a session whose token ran
 * out), and a token the server refuses is asked for again, once.
 */
#include <curl/curl.h>
#include <gmime/gmime.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "credential.h"
#include "dbs_error.h"
#include "driver.h"
#include "imap_session.h"
#include "mail_mime.h"
#include "oauth_token.h"

#define IMAP_MAX_SIZE (32ull << 20)

struct imap_puller {
	char *url;
	char *username;
	char *password;
	char *folder;  /* as configured */
	char *qfolder; /* as an IMAP quoted string */
	char *qmove;   /* NULL: notify marks \Seen; else the target folder */
	char *ca_file;
	bool starttls;
	bool tls_verify;
	uint64_t max_per_drive;
	uint64_t max_size;
	uint64_t timeout;
	struct oauth_token *oauth; /* NULL: password login */
	uint64_t login_gen;        /* the token generation s logged in with */
	struct imap_session *s;
	bool selected_rw;     /* the folder is SELECTed (not EXAMINEd) */
	uint64_t rw_validity; /* its UIDVALIDITY then */
};

static void
ip_free(struct imap_puller *ip)
{
	if (ip == NULL)
		return;
	imap_close(ip->s);
	free(ip->url);
	free(ip->username);
	cred_free(ip->password);
	oauth_free(ip->oauth);
	free(ip->folder);
	free(ip->qfolder);
	free(ip->qmove);
	free(ip->ca_file);
	free(ip);
}

static char *
quoted(const char *name)
{
	size_t cap = 2 * strlen(name) + 3;
	char *q = malloc(cap);

	if (q != NULL && !imap_quote(name, q, cap)) {
		free(q);
		return NULL;
	}
	return q;
}

static int
ip_init(struct drv_ctx *ctx, const json_t *settings, void **state, char *err,
    size_t errlen)
{
	static const char *const keys[] = {"url", "username", "password",
	    "folder", "move_to", "starttls", "tls_verify", "ca_file",
	    "max_per_drive", "max_size", "timeout", "oauth2", NULL};
	const char *url, *username, *folder, *move_to, *ca_file;
	struct imap_puller *ip;
	struct oauth_token *oauth = NULL;
	int starttls, tls_verify;
	uint64_t max_per_drive, max_size, timeout;
	char *password = NULL;
	int rc;

	*state = NULL;
	rc = drv_settings_only(settings, keys, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_string(
		    settings, "url", NULL, &url, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_string(
		    settings, "username", NULL, &username, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_string(
		    settings, "folder", "INBOX", &folder, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_string(
		    settings, "move_to", "", &move_to, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_string(
		    settings, "ca_file", "", &ca_file, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_bool(
		    settings, "starttls", 1, &starttls, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_bool(
		    settings, "tls_verify", 1, &tls_verify, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_uint(settings, "max_per_drive", 100, 1, 10000,
		    &max_per_drive, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_uint(settings, "max_size", 25u << 20, 1024,
		    IMAP_MAX_SIZE, &max_size, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_uint(
		    settings, "timeout", 60, 1, 3600, &timeout, err, errlen);
	if (rc == DBS_OK)
		rc =
		    cred_setting(settings, "password", &password, err, errlen);
	if (rc == DBS_OK)
		rc = oauth_setting(
		    settings, "oauth2", (long)timeout, &oauth, err, errlen);
	if (rc == DBS_OK && password != NULL && oauth != NULL) {
		snprintf(err, errlen,
		    "oauth2: not together with password (one login)");
		rc = DBS_ECONFIG;
	}
	if (rc != DBS_OK) {
		cred_free(password);
		oauth_free(oauth);
		return rc;
	}
	if (strncmp(url, "imap://", 7) != 0 &&
	    strncmp(url, "imaps://", 8) != 0) {
		snprintf(err, errlen,
		    "url: expected imap://host[:port]/ or "
		    "imaps://host[:port]/");
		cred_free(password);
		oauth_free(oauth);
		return DBS_ECONFIG;
	}
	ip = calloc(1, sizeof(*ip));
	if (ip == NULL) {
		cred_free(password);
		oauth_free(oauth);
		return DBS_ENOMEM;
	}
	ip->password = password;
	ip->oauth = oauth;
	ip->url = strdup(url);
	ip->username = strdup(username);
	ip->folder = strdup(folder);
	ip->ca_file = ca_file[0] != '\0' ? strdup(ca_file) : NULL;
	ip->qfolder = quoted(folder);
	ip->qmove = move_to[0] != '\0' ? quoted(move_to) : NULL;
	if (ip->qfolder == NULL || (move_to[0] != '\0' && ip->qmove == NULL)) {
		snprintf(err, errlen,
		    "%s: only printable ASCII folder names are supported",
		    ip->qfolder == NULL ? "folder" : "move_to");
		ip_free(ip);
		return DBS_ECONFIG;
	}
	if (ip->url == NULL || ip->username == NULL || ip->folder == NULL ||
	    (ca_file[0] != '\0' && ip->ca_file == NULL)) {
		ip_free(ip);
		return DBS_ENOMEM;
	}
	ip->starttls = starttls && strncmp(url, "imap://", 7) == 0;
	ip->tls_verify = tls_verify;
	ip->max_per_drive = max_per_drive;
	ip->max_size = max_size;
	ip->timeout = timeout;
	mail_mime_acquire();
	*state = ip;
	return DBS_OK;
}

static void
ip_fini(void *state)
{
	if (state == NULL)
		return;
	ip_free(state);
	mail_mime_release();
}

/* ------------------------------------------------------------- session */

/*
 * A usable session, opened (again) if need be: when the connection broke,
 * or when it was logged in with an OAuth token that has been renewed
 * since. A token the server refuses is dropped and asked for once more
 * (it may have been revoked before its time).
 */
static int
session(struct imap_puller *ip, char *err, size_t errlen)
{
	struct imap_login login = {
	    .url = ip->url,
	    .username = ip->username,
	    .password = ip->password,
	    .starttls = ip->starttls,
	    .tls_verify = ip->tls_verify,
	    .ca_file = ip->ca_file,
	    .timeout_s = (long)ip->timeout,
	};
	uint64_t gen = 0;
	int rc, attempt;

	for (attempt = 0;; attempt++) {
		if (ip->oauth != NULL) {
			rc = oauth_get(
			    ip->oauth, &login.bearer, &gen, err, errlen);
			if (rc != DBS_OK)
				return rc;
			login.login_options = oauth_login_options(ip->oauth);
		}
		if (imap_alive(ip->s) &&
		    (ip->oauth == NULL || gen == ip->login_gen))
			return DBS_OK;
		imap_close(ip->s);
		ip->s = NULL;
		ip->selected_rw = false;
		rc = imap_open(&login, ip->max_size, &ip->s, err, errlen);
		if (rc == DBS_OK)
			ip->login_gen = gen;
		if (rc != DBS_EAUTH || ip->oauth == NULL || attempt > 0)
			return rc;
		oauth_forget(ip->oauth);
	}
}

/* "* OK [UIDVALIDITY n]" of a SELECT or EXAMINE. */
static int
on_select(void *arg, const char *text, const struct imap_literal *lits,
    size_t n_lits)
{
	const char *p = strstr(text, "[UIDVALIDITY ");

	if (p != NULL)
		*(uint64_t *)arg = strtoull(p + 13, NULL, 10);
	return DBS_OK;
}

static int
open_folder(struct imap_puller *ip, bool rw, uint64_t *validity, char *err,
    size_t errlen)
{
	char cmd[600];
	int rc;

	*validity = 0;
	snprintf(
	    cmd, sizeof(cmd), "%s %s", rw ? "SELECT" : "EXAMINE", ip->qfolder);
	rc = imap_command(ip->s, cmd, on_select, validity, err, errlen);
	ip->selected_rw = rc == DBS_OK && rw;
	if (rc == DBS_OK && *validity == 0) {
		snprintf(err, errlen, "%s: the server sent no UIDVALIDITY",
		    ip->folder);
		return DBS_EDRIVER;
	}
	return rc;
}

/* ---------------------------------------------------------------- search */

struct uids {
	uint32_t *v;
	size_t n, cap;
};

static int
on_search(void *arg, const char *text, const struct imap_literal *lits,
    size_t n_lits)
{
	struct uids *u = arg;
	const char *p;
	char *end;

	if (strncasecmp(text, "* SEARCH", 8) != 0)
		return DBS_OK;
	for (p = text + 8;;) {
		unsigned long v = strtoul(p, &end, 10);

		if (end == p)
			break;
		if (u->n == u->cap) {
			size_t cap = u->cap != 0 ? 2 * u->cap : 64;
			uint32_t *nv = realloc(u->v, cap * sizeof(*nv));

			if (nv == NULL)
				return DBS_ENOMEM;
			u->v = nv;
			u->cap = cap;
		}
		u->v[u->n++] = (uint32_t)v;
		p = end;
	}
	return DBS_OK;
}

static int
cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* ------------------------------------------------------- message -> item */

struct parts {
	struct drv_attachment *att;
	size_t n, cap;
	GByteArray **bufs; /* owned bodies */
	char **names;      /* owned names */
	size_t n_own;
	bool oom;
};

static bool
name_taken(const struct parts *ps, const char *name)
{
	size_t i;

	for (i = 0; i < ps->n; i++)
		if (strcmp(ps->att[i].name, name) == 0)
			return true;
	return false;
}

/* Add an attachment; the name is made unique ("a.pdf", "a-2.pdf") and
 * valid UTF-8. Takes `bytes`. */
static void
parts_add(struct parts *ps, const char *name, char *type, GByteArray *bytes)
{
	char *n = NULL, *dot;
	int i;

	if (ps->oom || ps->n == ps->cap) {
		size_t cap = ps->cap != 0 ? ps->cap * 2 : 8;
		void *a =
		    ps->oom ? NULL : realloc(ps->att, cap * sizeof(*ps->att));
		void *b = a == NULL
			      ? NULL
			      : realloc(ps->bufs, cap * sizeof(*ps->bufs));
		void *c = b == NULL
			      ? NULL
			      : realloc(ps->names, cap * sizeof(*ps->names));

		if (a != NULL)
			ps->att = a;
		if (b != NULL)
			ps->bufs = b;
		if (c != NULL)
			ps->names = c;
		if (c == NULL) {
			ps->oom = true;
			g_byte_array_unref(bytes);
			g_free(type);
			return;
		}
		ps->cap = cap;
	}
	if (!drv_utf8_valid(name, strlen(name)) || name[0] == '\0')
		name = "part.bin";
	n = g_strdup(name);
	for (i = 2; name_taken(ps, n) && i < 10000; i++) {
		g_free(n);
		dot = strrchr(name, '.');
		if (dot != NULL && dot != name)
			n = g_strdup_printf(
			    "%.*s-%d%s", (int)(dot - name), name, i, dot);
		else
			n = g_strdup_printf("%s-%d", name, i);
	}
	ps->names[ps->n] = n;
	ps->bufs[ps->n] = bytes;
	ps->att[ps->n].name = n;
	ps->att[ps->n].content_type = type;
	ps->att[ps->n].data = bytes->data;
	ps->att[ps->n].len = bytes->len;
	ps->n++;
}

static void
parts_free(struct parts *ps)
{
	size_t i;

	for (i = 0; i < ps->n; i++) {
		g_free(ps->names[i]);
		g_byte_array_unref(ps->bufs[i]);
		g_free((char *)ps->att[i].content_type);
	}
	free(ps->att);
	free(ps->bufs);
	free(ps->names);
}

static GByteArray *
object_bytes(GMimeObject *obj, bool decode)
{
	GMimeStream *mem = g_mime_stream_mem_new();
	GByteArray *bytes;

	if (decode && GMIME_IS_PART(obj)) {
		GMimeDataWrapper *w = g_mime_part_get_content(GMIME_PART(obj));

		if (w != NULL)
			g_mime_data_wrapper_write_to_stream(w, mem);
	} else {
		g_mime_object_write_to_stream(obj, NULL, mem);
	}
	/* The array outlives the stream, which must not free it. */
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	g_object_unref(mem);
	return bytes;
}

struct walk {
	struct parts *ps;
	unsigned n_part;
};

/* Every leaf part: named parts keep their file name; unnamed text bodies
 * become body.txt / body.html; embedded messages become .eml. */
static void
on_part(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	struct walk *w = data;
	GMimeContentType *ct = g_mime_object_get_content_type(part);
	char *type = ct != NULL ? g_mime_content_type_get_mime_type(ct)
				: g_strdup("application/octet-stream");
	const char *fname = NULL;
	char name[64];

	if (GMIME_IS_MULTIPART(part)) {
		g_free(type);
		return;
	}
	if (GMIME_IS_PART(part))
		fname = g_mime_part_get_filename(GMIME_PART(part));
	if (fname == NULL)
		fname = g_mime_object_get_content_disposition_parameter(
		    part, "filename");
	if (fname == NULL && GMIME_IS_MESSAGE_PART(part)) {
		snprintf(name, sizeof(name), "attached-%u.eml", ++w->n_part);
		fname = name;
	} else if (fname == NULL && g_str_has_prefix(type, "text/")) {
		/* parts_add numbers a second one: body-2.txt. */
		snprintf(name, sizeof(name), "body.%s",
		    strcmp(type, "text/html") == 0 ? "html" : "txt");
		fname = name;
	} else if (fname == NULL) {
		snprintf(name, sizeof(name), "part-%u.bin", ++w->n_part);
		fname = name;
	}
	if (GMIME_IS_MESSAGE_PART(part)) {
		GMimeMessage *m =
		    g_mime_message_part_get_message(GMIME_MESSAGE_PART(part));

		if (m == NULL) {
			g_free(type);
			return;
		}
		parts_add(
		    w->ps, fname, type, object_bytes(GMIME_OBJECT(m), false));
		return;
	}
	parts_add(w->ps, fname, type, object_bytes(part, true));
}

static char *
address_list(GMimeMessage *m, GMimeAddressType t)
{
	InternetAddressList *l = g_mime_message_get_addresses(m, t);

	if (l == NULL || internet_address_list_length(l) == 0)
		return NULL;
	return internet_address_list_to_string(l, NULL, FALSE);
}

/* Parse one message and emit it. Returns what drv_emit returns. */
static int
emit_message(struct imap_puller *ip, struct drv_ctx *ctx,
    struct drv_sink *sink, uint64_t validity, uint32_t uid, const char *raw,
    size_t len)
{
	struct parts ps = {0};
	struct walk w = {&ps, 0};
	struct drv_kv md[8];
	size_t n_md = 0;
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *msg;
	GByteArray *eml;
	char *from = NULL, *to = NULL, *cc = NULL, *date = NULL, *ext = NULL;
	char ref[48], uidbuf[16];
	const char *subject, *mid;
	GDateTime *dt;
	int rc;

	snprintf(ref, sizeof(ref), "%" PRIu64 ":%" PRIu32, validity, uid);
	stream = g_mime_stream_mem_new_with_buffer(raw, len);
	parser = g_mime_parser_new_with_stream(stream);
	msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	eml = g_byte_array_sized_new((guint)len);
	g_byte_array_append(eml, (const guint8 *)raw, (guint)len);
	parts_add(&ps, "message.eml", g_strdup("message/rfc822"), eml);
	if (msg == NULL) {
		drv_log(ctx, DRV_WARNING, 0,
		    "message UID %" PRIu32 " is not a MIME message; passed on "
		    "as message.eml only",
		    uid);
	} else {
		g_mime_message_foreach(msg, on_part, &w);
		from = address_list(msg, GMIME_ADDRESS_TYPE_FROM);
		to = address_list(msg, GMIME_ADDRESS_TYPE_TO);
		cc = address_list(msg, GMIME_ADDRESS_TYPE_CC);
		dt = g_mime_message_get_date(msg);
		if (dt != NULL) {
			GDateTime *utc = g_date_time_to_utc(dt);

			date = g_date_time_format(utc, "%Y-%m-%dT%H:%M:%SZ");
			g_date_time_unref(utc);
		}
	}
	subject = msg != NULL ? g_mime_message_get_subject(msg) : NULL;
	mid = msg != NULL ? g_mime_message_get_message_id(msg) : NULL;
	if (mid != NULL && mid[0] != '\0')
		ext = g_strdup(mid);
	else
		ext = g_strdup_printf(
		    "%s:%" PRIu64 ":%" PRIu32, ip->folder, validity, uid);
#define MD(k, v)                                                              \
	do {                                                                  \
		if ((v) != NULL && drv_utf8_valid((v), strlen(v))) {          \
			md[n_md].key = (k);                                   \
			md[n_md].value = (v);                                 \
			n_md++;                                               \
		}                                                             \
	} while (0)
	MD("from", from);
	MD("to", to);
	MD("cc", cc);
	MD("subject", subject);
	MD("date", date);
	MD("message_id", mid);
	MD("folder", ip->folder);
	snprintf(uidbuf, sizeof(uidbuf), "%" PRIu32, uid);
	MD("uid", uidbuf);
#undef MD
	if (ps.oom)
		rc = DBS_ENOMEM;
	else
		rc = drv_emit(sink, ext, ref, md, n_md, ps.att, ps.n);
	if (rc == DBS_EINVAL || rc == DBS_ETOOBIG) {
		drv_log(ctx, DRV_WARNING, 0,
		    "message UID %" PRIu32 " (%s) refused: %s", uid, ext,
		    dbs_strerror(rc));
		rc = DBS_OK;
	}
	g_free(from);
	g_free(to);
	g_free(cc);
	g_free(date);
	g_free(ext);
	if (msg != NULL)
		g_object_unref(msg);
	parts_free(&ps);
	return rc;
}

/* ----------------------------------------------------------- pull, peek */

struct fetch_ctx {
	struct imap_puller *ip;
	struct drv_ctx *ctx;
	struct drv_sink *sink;
	uint64_t validity;
	uint32_t want;
	int emit_rc; /* first non-zero drv_emit result */
	bool got;
};

static int
on_fetch(void *arg, const char *text, const struct imap_literal *lits,
    size_t n_lits)
{
	struct fetch_ctx *f = arg;
	const char *p = strstr(text, " FETCH (");
	const char *u = p != NULL ? strstr(p, "UID ") : NULL;

	if (p == NULL || n_lits == 0 || f->emit_rc != 0)
		return DBS_OK;
	if (u == NULL || strtoul(u + 4, NULL, 10) != f->want) {
		return DBS_OK; /* an unsolicited FETCH (flags of another) */
	}
	f->got = true;
	if (lits[0].data == NULL) {
		drv_log(f->ctx, DRV_WARNING, 0,
		    "message UID %" PRIu32
		    " has %zu bytes, more than max_size "
		    "(%" PRIu64 "): skipped",
		    f->want, lits[0].len, f->ip->max_size);
		return DBS_OK;
	}
	f->emit_rc = emit_message(f->ip, f->ctx, f->sink, f->validity, f->want,
	    lits[0].data, lits[0].len);
	return DBS_OK;
}

static int
ip_drive(struct imap_puller *ip, struct drv_ctx *ctx, struct drv_sink *sink)
{
	struct uids u = {0};
	uint64_t validity;
	char err[1024], cmd[64];
	size_t i;
	int rc;

	rc = session(ip, err, sizeof(err));
	if (rc == DBS_OK)
		rc = open_folder(ip, false, &validity, err, sizeof(err));
	if (rc == DBS_OK)
		rc = imap_command(ip->s, "UID SEARCH UNSEEN", on_search, &u,
		    err, sizeof(err));
	if (rc != DBS_OK)
		goto fail;
	if (u.n > 1)
		qsort(u.v, u.n, sizeof(*u.v), cmp_uid);
	if (u.n > ip->max_per_drive) {
		drv_log(ctx, DRV_INFO, 0,
		    "%zu unseen messages; taking the first %" PRIu64
		    " this drive",
		    u.n, ip->max_per_drive);
		u.n = ip->max_per_drive;
	}
	for (i = 0; i < u.n; i++) {
		struct fetch_ctx f = {
		    ip, ctx, sink, validity, u.v[i], 0, false};

		snprintf(cmd, sizeof(cmd),
		    "UID FETCH %" PRIu32 " (UID BODY.PEEK[])", u.v[i]);
		rc = imap_command(ip->s, cmd, on_fetch, &f, err, sizeof(err));
		if (rc != DBS_OK)
			goto fail;
		if (f.emit_rc == 1)
			break; /* the sink has enough (peek) */
		if (f.emit_rc != 0) {
			rc = f.emit_rc;
			free(u.v);
			return rc;
		}
	}
	free(u.v);
	return DBS_OK;
fail:
	free(u.v);
	drv_log(ctx, DRV_ERROR, 0, "%s", err);
	if (!imap_alive(ip->s)) {
		imap_close(ip->s);
		ip->s = NULL;
	}
	return rc == DBS_EAUTH || rc == DBS_ENOMEM ? rc : DBS_EDRIVER;
}

static int
ip_pull(void *state, struct drv_ctx *ctx, struct drv_sink *sink)
{
	return ip_drive(state, ctx, sink);
}

static int
ip_peek(void *state, struct drv_ctx *ctx, struct drv_sink *sink)
{
	return ip_drive(state, ctx, sink);
}

/* ---------------------------------------------------------------- notify */

static int
ip_notify(void *state, struct drv_ctx *ctx, const char *external_id,
    const char *source_ref, char *err, size_t errlen)
{
	struct imap_puller *ip = state;
	unsigned long long validity, uid;
	uint64_t now_validity;
	char cmd[700];
	int rc;

	if (sscanf(source_ref, "%llu:%llu", &validity, &uid) != 2) {
		snprintf(
		    err, errlen, "bad source reference \"%s\"", source_ref);
		return DBS_EINVAL;
	}
	rc = session(ip, err, errlen);
	if (rc == DBS_OK) {
		/* SELECT once per batch of notifies (pull EXAMINEs): a
		 * folder recreated since the pull has a new UIDVALIDITY. */
		now_validity = ip->rw_validity;
		if (!ip->selected_rw)
			rc = open_folder(ip, true, &now_validity, err, errlen);
		ip->rw_validity = now_validity;
		if (rc == DBS_OK && now_validity != validity) {
			snprintf(err, errlen,
			    "%s was recreated (UIDVALIDITY %llu, now %" PRIu64
			    "): message UID %llu left as it is",
			    ip->folder, validity, now_validity, uid);
			return DBS_EDRIVER;
		}
	}
	if (rc == DBS_OK) {
		if (ip->qmove != NULL)
			snprintf(cmd, sizeof(cmd), "UID MOVE %llu %s", uid,
			    ip->qmove);
		else
			snprintf(cmd, sizeof(cmd),
			    "UID STORE %llu +FLAGS.SILENT (\\Seen)", uid);
		rc = imap_command(ip->s, cmd, NULL, NULL, err, errlen);
	}
	if (rc != DBS_OK && !imap_alive(ip->s)) {
		imap_close(ip->s);
		ip->s = NULL;
	}
	return rc;
}

const struct drv_ops drv_imap_puller_ops = {
    .type = "imap",
    .kind = DRV_PULLER,
    .init = ip_init,
    .pull = ip_pull,
    .peek = ip_peek,
    .notify = ip_notify,
    .fini = ip_fini,
};
