/*
 * drv_http_pusher.c — the `http` pusher: delivers each passenger with one
 * HTTP request (libcurl), either one chosen attachment as the body or the
 * whole passenger as a JSON document.
 *
 * Every request carries `Idempotency-Key: <internal id>:<pusher name>`,
 * the same on every retry, so a target can drop the duplicates that
 * at-least-once delivery produces. 2xx completes the step; 408, 429, 5xx
 * and transport errors (refused, timed out) fail it for a retry, honouring
 * the target's Retry-After; any other status fails it permanently (the
 * passenger goes dead) with the start of the response in the drive log.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dbs_error.h"
#include "driver.h"
#include "drv_json.h"
#include "http.h"

/* How much of a response is kept for the log. */
#define RESPONSE_KEEP 512

struct http_pusher {
	struct http_client *http;
	char *url;
	char *method;
	char *attachment; /* glob, or NULL: the passenger as JSON */
};

static void
pusher_free(struct http_pusher *hp)
{
	if (hp == NULL)
		return;
	http_client_free(hp->http);
	free(hp->url);
	free(hp->method);
	free(hp->attachment);
	free(hp);
}

static int
http_pusher_init(struct drv_ctx *ctx, const json_t *settings, void **state,
    char *err, size_t errlen)
{
	static const char *const keys[] = {
	    "url", "method", "attachment", HTTP_SETTING_KEYS, NULL};
	const char *url, *method, *attachment;
	struct http_pusher *hp;
	int rc;

	*state = NULL;
	if ((rc = drv_settings_only(settings, keys, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_string(
		 settings, "url", NULL, &url, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_string(settings, "method", "POST", &method, err,
		 errlen)) != DBS_OK ||
	    (rc = drv_setting_string(settings, "attachment", "", &attachment,
		 err, errlen)) != DBS_OK)
		return rc;
	if (!http_url_valid(url)) {
		snprintf(
		    err, errlen, "url: expected an http:// or https:// URL");
		return DBS_ECONFIG;
	}
	if (strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0) {
		snprintf(err, errlen, "method: expected \"POST\" or \"PUT\"");
		return DBS_ECONFIG;
	}
	hp = calloc(1, sizeof(*hp));
	if (hp == NULL)
		return DBS_ENOMEM;
	rc = http_client_new(settings, 30000, &hp->http, err, errlen);
	if (rc == DBS_OK &&
	    ((hp->url = strdup(url)) == NULL ||
		(hp->method = strdup(method)) == NULL ||
		(attachment[0] != '\0' &&
		    (hp->attachment = strdup(attachment)) == NULL)))
		rc = DBS_ENOMEM;
	if (rc != DBS_OK) {
		pusher_free(hp);
		return rc;
	}
	*state = hp;
	return DBS_OK;
}

/* The passenger as compact JSON text (drv_json.h); NULL if out of
 * memory. */
static char *
passenger_json(const struct drv_passenger *p)
{
	json_t *doc = drv_json_passenger(p);
	char *out;

	if (doc == NULL)
		return NULL;
	out = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(doc);
	return out;
}

/* The response body as loggable text: UTF-8 or '?', no control chars. */
static void
response_text(const struct http_response *r, char *out, size_t outlen)
{
	size_t i, n = r->len < outlen - 1 ? r->len : outlen - 1;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)r->body[i];

		out[i] = c < 0x20 || c >= 0x7f ? ' ' : (char)c;
	}
	out[n] = '\0';
}

/* The request a push of `p` sends. */
struct request {
	const void *body;
	size_t len;
	char *doc; /* the passenger as JSON, when that is the body */
	char key_h[400], ct_h[300];
	const char *headers[3];
};

/* Fill `rq` for `p`; the caller frees rq->doc whatever the result.
 * DRV_FAIL when no attachment matches the configured glob. */
static enum drv_result
build(struct http_pusher *hp, const struct drv_passenger *p,
    const char *idempotency_key, struct request *rq, char *err, size_t errlen)
{
	const struct drv_attachment *a = NULL;
	size_t i;

	rq->doc = NULL;
	if (hp->attachment != NULL) {
		for (i = 0; i < p->n_attachments && a == NULL; i++)
			if (fnmatch(hp->attachment, p->attachments[i].name,
				0) == 0)
				a = &p->attachments[i];
		if (a == NULL) {
			snprintf(err, errlen, "no attachment matches \"%s\"",
			    hp->attachment);
			return DRV_FAIL;
		}
		rq->body = a->data;
		rq->len = a->len;
		snprintf(rq->ct_h, sizeof(rq->ct_h), "Content-Type: %s",
		    a->content_type != NULL ? a->content_type
					    : "application/octet-stream");
	} else {
		if ((rq->doc = passenger_json(p)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return DRV_RETRY;
		}
		rq->body = rq->doc;
		rq->len = strlen(rq->doc);
		snprintf(rq->ct_h, sizeof(rq->ct_h),
		    "Content-Type: application/json");
	}
	snprintf(rq->key_h, sizeof(rq->key_h), "Idempotency-Key: %s",
	    idempotency_key);
	rq->headers[0] = rq->key_h;
	rq->headers[1] = rq->ct_h;
	rq->headers[2] = NULL;
	return DRV_OK;
}

static enum drv_result
http_push(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    const char *idempotency_key, char *err, size_t errlen)
{
	struct http_pusher *hp = state;
	struct http_response resp;
	struct request rq;
	char text[RESPONSE_KEEP + 1];
	enum drv_result r;
	int rc;

	if ((r = build(hp, p, idempotency_key, &rq, err, errlen)) != DRV_OK) {
		free(rq.doc);
		return r;
	}
	rc = http_request(hp->http, hp->method, hp->url, rq.headers, rq.body,
	    rq.len, 64 * 1024, &resp);
	free(rq.doc);
	if (rc == DBS_ENOMEM) {
		snprintf(err, errlen, "out of memory");
		http_response_free(&resp);
		return DRV_RETRY;
	}
	if (rc != DBS_OK) {
		snprintf(
		    err, errlen, "%s %s: %s", hp->method, hp->url, resp.error);
		http_response_free(&resp);
		return DRV_RETRY;
	}
	if (resp.status >= 200 && resp.status < 300) {
		http_response_free(&resp);
		return DRV_OK;
	}
	response_text(&resp, text, sizeof(text));
	r = http_status_retryable(resp.status) ? DRV_RETRY : DRV_FAIL;
	snprintf(err, errlen, "%s %s: HTTP %ld%s: %s%s", hp->method, hp->url,
	    resp.status,
	    resp.retry_after_ms >= 0 && r == DRV_RETRY ? " (Retry-After)" : "",
	    text, resp.len > RESPONSE_KEEP || resp.truncated ? "…" : "");
	if (r == DRV_RETRY && resp.retry_after_ms > 0)
		drv_retry_after(ctx, (uint64_t)resp.retry_after_ms);
	http_response_free(&resp);
	return r;
}

/* dry-run: the request a push would send (method, URL, headers and the
 * start of the body); nothing is sent. The configured "headers" (which
 * may hold credentials) are not shown. */
static enum drv_result
http_dry_push(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    const char *idempotency_key, char *desc, size_t desclen, char *err,
    size_t errlen)
{
	struct http_pusher *hp = state;
	struct request rq;
	enum drv_result r;
	size_t show;
	int n;

	(void)ctx;
	if ((r = build(hp, p, idempotency_key, &rq, err, errlen)) != DRV_OK) {
		free(rq.doc);
		return r;
	}
	n = snprintf(desc, desclen, "%s %s\n%s\n%s\n(%zu-byte body",
	    hp->method, hp->url, rq.key_h, rq.ct_h, rq.len);
	show = rq.len < 1024 ? rq.len : 1024;
	if (n > 0 && (size_t)n < desclen && rq.doc != NULL)
		snprintf(desc + n, desclen - (size_t)n, "%s)\n%.*s",
		    show < rq.len ? ", the first 1024 bytes" : "", (int)show,
		    (const char *)rq.body);
	else if (n > 0 && (size_t)n < desclen)
		snprintf(desc + n, desclen - (size_t)n, ")");
	free(rq.doc);
	return DRV_OK;
}

static void
http_pusher_fini(void *state)
{
	pusher_free(state);
}

const struct drv_ops drv_http_pusher_ops = {
    .type = "http",
    .kind = DRV_PUSHER,
    .init = http_pusher_init,
    .push = http_push,
    .fini = http_pusher_fini,
    .dry_push = http_dry_push,
};
