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

static enum drv_result
http_push(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    const char *idempotency_key, char *err, size_t errlen)
{
	struct http_pusher *hp = state;
	struct http_response resp;
	const struct drv_attachment *a = NULL;
	char key_h[400], ct_h[300], text[RESPONSE_KEEP + 1];
	const char *headers[3];
	const void *body;
	char *doc = NULL;
	size_t len, i;
	enum drv_result r;
	int rc;

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
		body = a->data;
		len = a->len;
		snprintf(ct_h, sizeof(ct_h), "Content-Type: %s",
		    a->content_type != NULL ? a->content_type
					    : "application/octet-stream");
	} else {
		if ((doc = passenger_json(p)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return DRV_RETRY;
		}
		body = doc;
		len = strlen(doc);
		snprintf(ct_h, sizeof(ct_h), "Content-Type: application/json");
	}
	snprintf(key_h, sizeof(key_h), "Idempotency-Key: %s", idempotency_key);
	headers[0] = key_h;
	headers[1] = ct_h;
	headers[2] = NULL;
	rc = http_request(hp->http, hp->method, hp->url, headers, body, len,
	    64 * 1024, &resp);
	free(doc);
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
};
