/*
 * drv_smtp_pusher.c — the `smtp` pusher: sends each passenger as a mail.
 *
 * The message is built with GMime (headers encoded per RFC 2047, file
 * names per RFC 2231, attachments in base64) and sent with libcurl's SMTP
 * (smtp:// with STARTTLS required by default, or smtps://; certificates
 * verified). Sender and recipients are fixed by the configuration —
 * passenger data never chooses where a mail goes; the subject and the
 * text are templates filled with the passenger's fields.
 *
 * The Message-ID is derived from the idempotency key, so a push repeated
 * after a crash sends a mail the receiver can recognise as the same one.
 * The easy handle is kept between pushes, so libcurl reuses the SMTP
 * connection while it stays open.
 *
 * With "oauth2" (oauth_token.h) the login is SASL XOAUTH2 or OAUTHBEARER
 * with an access token from the configured endpoint, renewed before it
 * expires; libcurl does not reuse a connection logged in with another
 * token. A token the server refuses is dropped (the retry asks for a new
 * one); an endpoint that refuses the grant fails the step permanently.
 *
 * Outcomes: a 5xx reply (recipient refused, message rejected) fails the
 * step permanently; anything else that goes wrong (server unreachable,
 * 4xx, timeout, login refused) is retried with backoff.
 */
#include <curl/curl.h>
#include <fnmatch.h>
#include <gmime/gmime.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "credential.h"
#include "dbs_error.h"
#include "driver.h"
#include "mail_mime.h"
#include "oauth_token.h"

struct smtp_pusher {
	char *url;
	char *username;
	char *password;
	struct oauth_token *oauth; /* NULL: password login, or none */
	char *from;                /* the From header as configured */
	char *mail_from;           /* its address, for MAIL FROM */
	char **to;                 /* addresses */
	char **to_hdr;             /* as configured, display names kept */
	size_t n_to;
	char *subject; /* template */
	char *text;    /* template; NULL: the metadata as "key: value" */
	char *attachment;
	char *ca_file;
	bool starttls, tls_verify;
	uint64_t timeout;
	CURL *curl;
	struct curl_slist *rcpt;
};

static void
sp_free(struct smtp_pusher *sp)
{
	size_t i;

	if (sp == NULL)
		return;
	if (sp->curl != NULL)
		curl_easy_cleanup(sp->curl);
	curl_slist_free_all(sp->rcpt);
	for (i = 0; i < sp->n_to; i++) {
		free(sp->to[i]);
		free(sp->to_hdr[i]);
	}
	free(sp->to);
	free(sp->to_hdr);
	free(sp->url);
	free(sp->username);
	cred_free(sp->password);
	oauth_free(sp->oauth);
	free(sp->from);
	free(sp->mail_from);
	free(sp->subject);
	free(sp->text);
	free(sp->attachment);
	free(sp->ca_file);
	free(sp);
}

/* The one address of `s` ("Name <a@b>" or "a@b"), or NULL. */
static char *
one_address(const char *s)
{
	InternetAddressList *l = internet_address_list_parse(NULL, s);
	InternetAddress *a;
	char *out = NULL;

	if (l == NULL)
		return NULL;
	if (internet_address_list_length(l) == 1) {
		a = internet_address_list_get_address(l, 0);
		if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
			const char *addr = internet_address_mailbox_get_addr(
			    INTERNET_ADDRESS_MAILBOX(a));

			if (addr != NULL && strchr(addr, '@') != NULL &&
			    strpbrk(addr, "\r\n<> ") == NULL)
				out = strdup(addr);
		}
	}
	g_object_unref(l);
	return out;
}

static const char *const placeholders[] = {
    "id", "external_id", "client", "definition", "puller", NULL};

/* Refuse unknown placeholders now rather than at every push. */
static int
check_template(const char *key, const char *t, char *err, size_t errlen)
{
	const char *p, *end;
	size_t i;

	for (p = strchr(t, '{'); p != NULL; p = strchr(end, '{')) {
		end = strchr(p, '}');
		if (end == NULL) {
			snprintf(err, errlen, "%s: '{' without '}'", key);
			return DBS_ECONFIG;
		}
		if (strncmp(p + 1, "metadata.", 9) == 0 && end > p + 10)
			continue;
		for (i = 0; placeholders[i] != NULL; i++)
			if ((size_t)(end - p - 1) == strlen(placeholders[i]) &&
			    strncmp(p + 1, placeholders[i], end - p - 1) == 0)
				break;
		if (placeholders[i] == NULL) {
			snprintf(err, errlen,
			    "%s: unknown placeholder %.*s (use {id}, "
			    "{external_id}, {client}, {definition}, {puller} "
			    "or "
			    "{metadata.KEY})",
			    key, (int)(end - p + 1), p);
			return DBS_ECONFIG;
		}
	}
	return DBS_OK;
}

static int
read_to(
    struct smtp_pusher *sp, const json_t *settings, char *err, size_t errlen)
{
	const json_t *to = json_object_get(settings, "to");
	json_t *v;
	size_t i, n;

	if (to == NULL || json_is_null(to)) {
		snprintf(err, errlen, "to: missing");
		return DBS_ECONFIG;
	}
	n = json_is_array(to) ? json_array_size(to) : 1;
	if ((!json_is_array(to) && !json_is_string(to)) || n == 0) {
		snprintf(err, errlen,
		    "to: expected an address or a non-empty array of them");
		return DBS_ECONFIG;
	}
	sp->to = calloc(n, sizeof(*sp->to));
	sp->to_hdr = calloc(n, sizeof(*sp->to_hdr));
	if (sp->to == NULL || sp->to_hdr == NULL)
		return DBS_ENOMEM;
	for (i = 0; i < n; i++) {
		v = json_is_array(to) ? json_array_get(to, i) : (json_t *)to;
		if (!json_is_string(v) ||
		    (sp->to[i] = one_address(json_string_value(v))) == NULL) {
			char where[32] = "to";

			if (json_is_array(to))
				snprintf(where, sizeof(where), "to[%zu]", i);
			snprintf(err, errlen, "%s: not one e-mail address: %s",
			    where,
			    json_is_string(v) ? json_string_value(v)
					      : "(not a string)");
			return DBS_ECONFIG;
		}
		sp->n_to++;
		sp->to_hdr[i] = strdup(json_string_value(v));
		if (sp->to_hdr[i] == NULL)
			return DBS_ENOMEM;
		sp->rcpt = curl_slist_append(sp->rcpt, sp->to[i]);
		if (sp->rcpt == NULL)
			return DBS_ENOMEM;
	}
	return DBS_OK;
}

static int
dup_opt(const json_t *settings, const char *key, const char *def, char **out,
    char *err, size_t errlen)
{
	const char *v;
	int rc = drv_setting_string(settings, key, def, &v, err, errlen);

	if (rc != DBS_OK)
		return rc;
	*out = v != NULL ? strdup(v) : NULL;
	return v == NULL || *out != NULL ? DBS_OK : DBS_ENOMEM;
}

static int
sp_init(struct drv_ctx *ctx, const json_t *settings, void **state, char *err,
    size_t errlen)
{
	static const char *const keys[] = {"url", "username", "password",
	    "from", "to", "subject", "text", "attachment", "starttls",
	    "tls_verify", "ca_file", "timeout", "oauth2", NULL};
	struct smtp_pusher *sp;
	int starttls, tls_verify;
	int rc;

	*state = NULL;
	rc = drv_settings_only(settings, keys, err, errlen);
	if (rc != DBS_OK)
		return rc;
	mail_mime_acquire();
	sp = calloc(1, sizeof(*sp));
	if (sp == NULL) {
		rc = DBS_ENOMEM;
		goto fail;
	}
	rc = dup_opt(settings, "url", NULL, &sp->url, err, errlen);
	if (rc == DBS_OK)
		rc = dup_opt(
		    settings, "username", "", &sp->username, err, errlen);
	if (rc == DBS_OK)
		rc = cred_setting(
		    settings, "password", &sp->password, err, errlen);
	if (rc == DBS_OK)
		rc = dup_opt(settings, "from", NULL, &sp->from, err, errlen);
	if (rc == DBS_OK)
		rc = dup_opt(settings, "subject",
		    "{definition}: {external_id}", &sp->subject, err, errlen);
	if (rc == DBS_OK)
		rc = dup_opt(settings, "text", "", &sp->text, err, errlen);
	if (rc == DBS_OK)
		rc = dup_opt(
		    settings, "attachment", "*", &sp->attachment, err, errlen);
	if (rc == DBS_OK)
		rc = dup_opt(
		    settings, "ca_file", "", &sp->ca_file, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_bool(
		    settings, "starttls", 1, &starttls, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_bool(
		    settings, "tls_verify", 1, &tls_verify, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_uint(settings, "timeout", 60, 1, 3600,
		    &sp->timeout, err, errlen);
	if (rc == DBS_OK)
		rc = oauth_setting(settings, "oauth2", (long)sp->timeout,
		    &sp->oauth, err, errlen);
	if (rc == DBS_OK && sp->oauth != NULL &&
	    (sp->password != NULL || sp->username[0] == '\0')) {
		snprintf(err, errlen, "%s",
		    sp->password != NULL
			? "oauth2: not together with password (one login)"
			: "username: missing (oauth2 logs this user in)");
		rc = DBS_ECONFIG;
	}
	if (rc == DBS_OK)
		rc = read_to(sp, settings, err, errlen);
	if (rc == DBS_OK)
		rc = check_template("subject", sp->subject, err, errlen);
	if (rc == DBS_OK)
		rc = check_template("text", sp->text, err, errlen);
	if (rc != DBS_OK)
		goto fail;
	if (strncmp(sp->url, "smtp://", 7) != 0 &&
	    strncmp(sp->url, "smtps://", 8) != 0) {
		snprintf(err, errlen,
		    "url: expected smtp://host[:port] or smtps://host[:port]");
		rc = DBS_ECONFIG;
		goto fail;
	}
	sp->mail_from = one_address(sp->from);
	if (sp->mail_from == NULL) {
		snprintf(
		    err, errlen, "from: not one e-mail address: %s", sp->from);
		rc = DBS_ECONFIG;
		goto fail;
	}
	sp->starttls = starttls && strncmp(sp->url, "smtp://", 7) == 0;
	sp->tls_verify = tls_verify;
	*state = sp;
	return DBS_OK;
fail:
	sp_free(sp);
	mail_mime_release();
	return rc;
}

static void
sp_fini(void *state)
{
	if (state == NULL)
		return;
	sp_free(state);
	mail_mime_release();
}

/* ------------------------------------------------------------- templates */

static const char *
md_get(const struct drv_passenger *p, const char *key, size_t len)
{
	size_t i;

	for (i = 0; i < p->n_metadata; i++)
		if (strlen(p->metadata[i].key) == len &&
		    strncmp(p->metadata[i].key, key, len) == 0)
			return p->metadata[i].value;
	return "";
}

/* Fill a template; `oneline` turns CR and LF into spaces (headers). */
static GString *
render(const char *t, const struct drv_passenger *p, bool oneline)
{
	GString *out = g_string_new(NULL);
	const char *end;
	char id[24];
	size_t n, i;

	snprintf(id, sizeof(id), "%llu", (unsigned long long)p->id);
	while (*t != '\0') {
		const char *v = NULL;

		if (*t != '{' || (end = strchr(t, '}')) == NULL) {
			g_string_append_c(out, *t++);
			continue;
		}
		n = (size_t)(end - t - 1);
		if (n == 2 && strncmp(t + 1, "id", 2) == 0)
			v = id;
		else if (n == 11 && strncmp(t + 1, "external_id", 11) == 0)
			v = p->external_id;
		else if (n == 6 && strncmp(t + 1, "client", 6) == 0)
			v = p->client;
		else if (n == 10 && strncmp(t + 1, "definition", 10) == 0)
			v = p->definition;
		else if (n == 6 && strncmp(t + 1, "puller", 6) == 0)
			v = p->puller;
		else if (n > 9 && strncmp(t + 1, "metadata.", 9) == 0)
			v = md_get(p, t + 10, n - 9);
		g_string_append(out, v != NULL ? v : "");
		t = end + 1;
	}
	if (oneline)
		for (i = 0; i < out->len; i++)
			if (out->str[i] == '\r' || out->str[i] == '\n')
				out->str[i] = ' ';
	return out;
}

/* -------------------------------------------------------------- message */

static GMimePart *
text_part(const char *text)
{
	GMimeTextPart *tp = g_mime_text_part_new_with_subtype("plain");

	g_mime_text_part_set_text(tp, text);
	return GMIME_PART(tp);
}

static GMimePart *
attachment_part(const struct drv_attachment *a)
{
	const char *type = a->content_type != NULL
			       ? a->content_type
			       : "application/octet-stream";
	GMimeContentType *ct = g_mime_content_type_parse(NULL, type);
	GMimePart *part;
	GMimeStream *mem;
	GMimeDataWrapper *w;

	part =
	    g_mime_part_new_with_type(g_mime_content_type_get_media_type(ct),
		g_mime_content_type_get_media_subtype(ct));
	g_object_unref(ct);
	mem = g_mime_stream_mem_new_with_buffer(a->data, a->len);
	w = g_mime_data_wrapper_new_with_stream(
	    mem, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(part, w);
	g_object_unref(w);
	g_object_unref(mem);
	g_mime_part_set_filename(part, a->name);
	g_mime_object_set_disposition(GMIME_OBJECT(part), "attachment");
	g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_BASE64);
	return part;
}

/* The whole message with CRLF line ends, ready for DATA. */
static GByteArray *
build_message(struct smtp_pusher *sp, const struct drv_passenger *p,
    const char *idempotency_key)
{
	GMimeMessage *msg = g_mime_message_new(TRUE);
	GMimeMultipart *mixed = NULL;
	GMimeFormatOptions *fmt;
	GMimeStream *mem;
	GByteArray *bytes;
	GString *subject, *text, *mid;
	GDateTime *now;
	char host[256];
	size_t i, k;

	{
		/* Parsed at init: the display name is kept. */
		InternetAddressList *l =
		    internet_address_list_parse(NULL, sp->from);

		if (l != NULL) {
			internet_address_list_append(
			    g_mime_message_get_from(msg), l);
			g_object_unref(l);
		}
	}
	for (i = 0; i < sp->n_to; i++) {
		InternetAddressList *l =
		    internet_address_list_parse(NULL, sp->to_hdr[i]);

		if (l != NULL) {
			internet_address_list_append(
			    g_mime_message_get_to(msg), l);
			g_object_unref(l);
		}
	}
	subject = render(sp->subject, p, true);
	g_mime_message_set_subject(msg, subject->str, "utf-8");
	g_string_free(subject, TRUE);
	now = g_date_time_new_now_utc();
	g_mime_message_set_date(msg, now);
	g_date_time_unref(now);
	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "databus");
	host[sizeof(host) - 1] = '\0';
	mid = g_string_new("databus.");
	for (const char *c = idempotency_key; *c != '\0'; c++)
		g_string_append_c(mid,
		    g_ascii_isalnum(*c) || *c == '-' || *c == '.' || *c == '_'
			? *c
			: '.');
	g_string_append_printf(mid, ".%s@%s", p->client, host);
	for (k = 0; k < mid->len; k++)
		if (mid->str[k] == ' ')
			mid->str[k] = '_';
	g_mime_message_set_message_id(msg, mid->str);
	g_string_free(mid, TRUE);
	g_mime_object_set_header(GMIME_OBJECT(msg),
	    "X-Databus-Idempotency-Key", idempotency_key, NULL);

	if (sp->text[0] != '\0') {
		text = render(sp->text, p, false);
	} else {
		text = g_string_new(NULL);
		g_string_append_printf(text, "Passenger %llu (%s) of %s/%s\n",
		    (unsigned long long)p->id, p->external_id, p->client,
		    p->definition);
		for (i = 0; i < p->n_metadata; i++)
			g_string_append_printf(text, "%s: %s\n",
			    p->metadata[i].key, p->metadata[i].value);
	}
	mixed = g_mime_multipart_new_with_subtype("mixed");
	{
		GMimePart *tp = text_part(text->str);

		g_mime_multipart_add(mixed, GMIME_OBJECT(tp));
		g_object_unref(tp);
	}
	g_string_free(text, TRUE);
	for (i = 0; i < p->n_attachments; i++) {
		GMimePart *ap;

		if (fnmatch(sp->attachment, p->attachments[i].name, 0) != 0)
			continue;
		ap = attachment_part(&p->attachments[i]);
		g_mime_multipart_add(mixed, GMIME_OBJECT(ap));
		g_object_unref(ap);
	}
	g_mime_message_set_mime_part(msg, GMIME_OBJECT(mixed));
	g_object_unref(mixed);

	fmt = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(
	    fmt, GMIME_NEWLINE_FORMAT_DOS);
	mem = g_mime_stream_mem_new();
	g_mime_object_write_to_stream(GMIME_OBJECT(msg), fmt, mem);
	g_mime_format_options_free(fmt);
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	g_object_unref(mem);
	g_object_unref(msg);
	return bytes;
}

/* ----------------------------------------------------------------- send */

struct upload {
	const guint8 *data;
	size_t len, off;
};

static size_t
read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct upload *u = arg;
	size_t n = size * nitems;

	if (n > u->len - u->off)
		n = u->len - u->off;
	memcpy(buf, u->data + u->off, n);
	u->off += n;
	return n;
}

static enum drv_result
sp_push(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    const char *idempotency_key, char *err, size_t errlen)
{
	struct smtp_pusher *sp = state;
	char cerr[CURL_ERROR_SIZE] = "";
	struct upload u;
	const char *bearer = NULL;
	GByteArray *msg;
	CURLcode cc;
	long code = 0;
	int rc;

	if (sp->curl == NULL && (sp->curl = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return DRV_RETRY;
	}
	if (sp->oauth != NULL) {
		rc = oauth_get(sp->oauth, &bearer, NULL, err, errlen);
		if (rc != DBS_OK)
			return rc == DBS_EAUTH ? DRV_FAIL : DRV_RETRY;
		curl_easy_setopt(sp->curl, CURLOPT_XOAUTH2_BEARER, bearer);
		curl_easy_setopt(sp->curl, CURLOPT_LOGIN_OPTIONS,
		    oauth_login_options(sp->oauth));
	}
	msg = build_message(sp, p, idempotency_key);
	u.data = msg->data;
	u.len = msg->len;
	u.off = 0;
	curl_easy_setopt(sp->curl, CURLOPT_URL, sp->url);
	curl_easy_setopt(sp->curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	if (sp->username[0] != '\0')
		curl_easy_setopt(sp->curl, CURLOPT_USERNAME, sp->username);
	if (sp->password != NULL)
		curl_easy_setopt(sp->curl, CURLOPT_PASSWORD, sp->password);
	curl_easy_setopt(sp->curl, CURLOPT_MAIL_FROM, sp->mail_from);
	curl_easy_setopt(sp->curl, CURLOPT_MAIL_RCPT, sp->rcpt);
	curl_easy_setopt(sp->curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(sp->curl, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(sp->curl, CURLOPT_READDATA, &u);
	curl_easy_setopt(
	    sp->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)u.len);
	curl_easy_setopt(sp->curl, CURLOPT_CONNECTTIMEOUT, (long)sp->timeout);
	curl_easy_setopt(sp->curl, CURLOPT_TIMEOUT, (long)sp->timeout);
	curl_easy_setopt(sp->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(sp->curl, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(
	    sp->curl, CURLOPT_SSL_VERIFYPEER, sp->tls_verify ? 1L : 0L);
	curl_easy_setopt(
	    sp->curl, CURLOPT_SSL_VERIFYHOST, sp->tls_verify ? 2L : 0L);
	if (sp->ca_file[0] != '\0')
		curl_easy_setopt(sp->curl, CURLOPT_CAINFO, sp->ca_file);
	if (sp->starttls)
		curl_easy_setopt(
		    sp->curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	cc = curl_easy_perform(sp->curl);
	curl_easy_setopt(sp->curl, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_getinfo(sp->curl, CURLINFO_RESPONSE_CODE, &code);
	g_byte_array_unref(msg);
	if (cc == CURLE_LOGIN_DENIED && sp->oauth != NULL)
		oauth_forget(sp->oauth); /* the retry asks for a new one */
	if (cc == CURLE_OK) {
		drv_log(ctx, DRV_DEBUG, p->id, "sent to %zu recipient%s",
		    sp->n_to, sp->n_to == 1 ? "" : "s");
		return DRV_OK;
	}
	snprintf(err, errlen, "%s: %s%s", sp->url,
	    cerr[0] != '\0' ? cerr : curl_easy_strerror(cc),
	    code >= 500 ? " (refused: not retried)" : "");
	/* A broken connection must not be reused for the next push. */
	curl_easy_cleanup(sp->curl);
	sp->curl = NULL;
	return code >= 500 && code < 600 ? DRV_FAIL : DRV_RETRY;
}

const struct drv_ops drv_smtp_pusher_ops = {
    .type = "smtp",
    .kind = DRV_PUSHER,
    .init = sp_init,
    .push = sp_push,
    .fini = sp_fini,
};
