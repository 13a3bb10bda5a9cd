/*
 * http.c — the libcurl client of the HTTP drivers (see http.h).
 *
 * Response headers are parsed as they arrive for what the drivers act on:
 * Retry-After (seconds or an HTTP date), Link rel="next" (pagination) and
 * GitHub's X-RateLimit-Remaining / X-RateLimit-Reset. Everything else is
 * left to curl: redirects are not followed (a pusher must not silently
 * deliver elsewhere), TLS is verified unless `insecure` is set.
 */
#include "http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dbs_error.h"
#include "driver.h"

struct http_client {
	CURL *h;
	struct curl_slist *headers; /* the configured ones */
	long connect_timeout_ms;
	long timeout_ms;
	char *ca_file;
	bool insecure;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void
global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool
header_name_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			(*s >= '0' && *s <= '9') ||
			strchr("!#$%&'*+-.^_`|~", *s)))
			return false;
	return true;
}

static bool
header_value_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s == '\r' || *s == '\n')
			return false;
	return true;
}

static int
parse_headers(
    const json_t *obj, struct curl_slist **out, char *err, size_t errlen)
{
	struct curl_slist *list = NULL, *n;
	const char *key;
	json_t *v;

	if (obj == NULL || json_is_null(obj))
		return DBS_OK;
	if (!json_is_object(obj)) {
		snprintf(
		    err, errlen, "headers: expected an object of strings");
		return DBS_ECONFIG;
	}
	json_object_foreach((json_t *)obj, key, v)
	{
		const char *val = json_string_value(v);
		char *line;

		if (!header_name_ok(key)) {
			snprintf(err, errlen,
			    "headers.%s: not a valid header name", key);
			goto fail;
		}
		if (val == NULL) {
			snprintf(
			    err, errlen, "headers.%s: expected a string", key);
			goto fail;
		}
		if (strncmp(val, "env:", 4) == 0) {
			const char *name = val + 4;

			val = getenv(name);
			if (name[0] == '\0' || val == NULL) {
				snprintf(err, errlen,
				    "headers.%s: environment variable \"%s\" "
				    "is not set",
				    key, name);
				goto fail;
			}
		}
		if (!header_value_ok(val)) {
			snprintf(err, errlen,
			    "headers.%s: the value contains a line break",
			    key);
			goto fail;
		}
		if (asprintf(&line, "%s: %s", key, val) < 0)
			goto nomem;
		n = curl_slist_append(list, line);
		free(line);
		if (n == NULL)
			goto nomem;
		list = n;
	}
	*out = list;
	return DBS_OK;
nomem:
	curl_slist_free_all(list);
	return DBS_ENOMEM;
fail:
	curl_slist_free_all(list);
	return DBS_ECONFIG;
}

int
http_client_new(const json_t *settings, uint64_t def_timeout_ms,
    struct http_client **out, char *err, size_t errlen)
{
	struct http_client *c;
	const char *ca_file;
	uint64_t cto, to;
	int insecure, rc;

	*out = NULL;
	if ((rc = drv_setting_uint(settings, "connect_timeout_ms", 10000, 1,
		 3600000, &cto, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_uint(settings, "timeout_ms", def_timeout_ms, 1,
		 86400000, &to, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_string(
		 settings, "ca_file", "", &ca_file, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_bool(
		 settings, "insecure", 0, &insecure, err, errlen)) != DBS_OK)
		return rc;
	if (insecure && ca_file[0] != '\0') {
		snprintf(
		    err, errlen, "insecure: cannot be combined with ca_file");
		return DBS_ECONFIG;
	}
	if (ca_file[0] != '\0') {
		FILE *f = fopen(ca_file, "re");

		if (f == NULL) {
			snprintf(err, errlen, "ca_file: cannot open \"%s\"",
			    ca_file);
			return DBS_ECONFIG;
		}
		fclose(f);
	}
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		snprintf(err, errlen, "cannot initialise libcurl: %s",
		    curl_easy_strerror(global_rc));
		return DBS_EDRIVER;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return DBS_ENOMEM;
	c->connect_timeout_ms = (long)cto;
	c->timeout_ms = (long)to;
	c->insecure = insecure;
	if (ca_file[0] != '\0' && (c->ca_file = strdup(ca_file)) == NULL) {
		http_client_free(c);
		return DBS_ENOMEM;
	}
	rc = parse_headers(
	    json_object_get(settings, "headers"), &c->headers, err, errlen);
	if (rc == DBS_OK && (c->h = curl_easy_init()) == NULL)
		rc = DBS_ENOMEM;
	if (rc != DBS_OK) {
		http_client_free(c);
		return rc;
	}
	*out = c;
	return DBS_OK;
}

void
http_client_free(struct http_client *c)
{
	if (c == NULL)
		return;
	if (c->h != NULL)
		curl_easy_cleanup(c->h);
	curl_slist_free_all(c->headers);
	free(c->ca_file);
	free(c);
}

bool
http_status_retryable(long status)
{
	return status == 408 || status == 429 || status >= 500;
}

bool
http_url_valid(const char *url)
{
	const char *host;

	if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else
		return false;
	return host[0] != '\0' && host[0] != '/' &&
	       strpbrk(url, " \r\n") == NULL;
}

/* ------------------------------------------------------------ receiving */

struct recv {
	struct http_response *r;
	size_t max;
	bool nomem;
};

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct recv *rv = arg;
	struct http_response *r = rv->r;
	size_t len = size * n, take = len;
	char *p;

	if (r->len + take > rv->max) {
		take = rv->max - r->len;
		r->truncated = true;
	}
	if (take == 0)
		return len;
	p = realloc(r->body, r->len + take + 1);
	if (p == NULL) {
		rv->nomem = true;
		return 0; /* aborts the transfer */
	}
	memcpy(p + r->len, data, take);
	r->len += take;
	p[r->len] = '\0';
	r->body = p;
	return len;
}

/* The value of header line `line` (len bytes) if its name is `name`, as a
 * trimmed copy; NULL otherwise. */
static char *
header_value(const char *line, size_t len, const char *name)
{
	size_t nl = strlen(name), end;
	const char *v;

	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return NULL;
	v = line + nl + 1;
	end = len - nl - 1;
	while (end > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		end--;
	}
	while (end > 0 && (v[end - 1] == '\r' || v[end - 1] == '\n' ||
			      v[end - 1] == ' ' || v[end - 1] == '\t'))
		end--;
	return strndup(v, end);
}

static size_t
on_header(char *data, size_t size, size_t n, void *arg)
{
	struct recv *rv = arg;
	struct http_response *r = rv->r;
	size_t len = size * n;
	char *v;

	/* A new status line (after a 100 Continue): forget the headers. */
	if (len > 5 && strncmp(data, "HTTP/", 5) == 0) {
		r->retry_after_ms = -1;
		r->ratelimit_remaining = -1;
		r->ratelimit_reset = -1;
		free(r->link_next);
		r->link_next = NULL;
		return len;
	}
	if ((v = header_value(data, len, "Retry-After")) != NULL) {
		int64_t ms = http_retry_after_ms(v, time(NULL));

		if (ms >= 0)
			r->retry_after_ms = ms;
		free(v);
	} else if ((v = header_value(data, len, "Link")) != NULL) {
		char *next = http_link_next(v);

		if (next != NULL) {
			free(r->link_next);
			r->link_next = next;
		}
		free(v);
	} else if ((v = header_value(data, len, "X-RateLimit-Remaining")) !=
		   NULL) {
		r->ratelimit_remaining = http_header_int(v);
		free(v);
	} else if ((v = header_value(data, len, "X-RateLimit-Reset")) !=
		   NULL) {
		r->ratelimit_reset = http_header_int(v);
		free(v);
	}
	return len;
}

/* ---------------------------------------------------------- requesting */

int
http_request(struct http_client *c, const char *method, const char *url,
    const char *const *headers, const void *body, size_t len, size_t max_body,
    struct http_response *resp)
{
	struct curl_slist *list = NULL, *n;
	struct recv rv = {resp, max_body, false};
	CURLcode cc;
	char *ct = NULL;
	int rc = DBS_OK;
	size_t i;

	memset(resp, 0, sizeof(*resp));
	resp->retry_after_ms = -1;
	resp->ratelimit_remaining = -1;
	resp->ratelimit_reset = -1;
	for (struct curl_slist *h = c->headers; h != NULL; h = h->next) {
		if ((n = curl_slist_append(list, h->data)) == NULL)
			goto nomem;
		list = n;
	}
	for (i = 0; headers != NULL && headers[i] != NULL; i++) {
		if ((n = curl_slist_append(list, headers[i])) == NULL)
			goto nomem;
		list = n;
	}
	/* curl would send "Expect: 100-continue" for large bodies: a round
	 * trip for nothing against most APIs. */
	if ((n = curl_slist_append(list, "Expect:")) == NULL)
		goto nomem;
	list = n;

	curl_easy_reset(c->h); /* keeps the connection cache */
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(
	    c->h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(c->h, CURLOPT_USERAGENT, "databus/0.1");
	curl_easy_setopt(c->h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &rv);
	curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->h, CURLOPT_HEADERDATA, &rv);
	curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, resp->error);
	if (c->ca_file != NULL)
		curl_easy_setopt(c->h, CURLOPT_CAINFO, c->ca_file);
	if (c->insecure) {
		curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c->h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(
		    c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(
		    c->h, CURLOPT_POSTFIELDS, body != NULL ? body : "");
	}
	resp->error[0] = '\0';
	cc = curl_easy_perform(c->h);
	curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, NULL);
	if (rv.nomem) {
		rc = DBS_ENOMEM;
		goto out;
	}
	if (cc != CURLE_OK) {
		if (resp->error[0] == '\0')
			snprintf(resp->error, sizeof(resp->error), "%s",
			    curl_easy_strerror(cc));
		resp->timed_out = cc == CURLE_OPERATION_TIMEDOUT;
		resp->status = 0;
		rc = resp->timed_out ? DBS_ETIMEOUT : DBS_ETRANSPORT;
		goto out;
	}
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_easy_getinfo(c->h, CURLINFO_CONTENT_TYPE, &ct);
	if (ct != NULL && (resp->content_type = strdup(ct)) == NULL)
		rc = DBS_ENOMEM;
	if (resp->body == NULL && rc == DBS_OK) {
		resp->body = strdup("");
		if (resp->body == NULL)
			rc = DBS_ENOMEM;
	}
out:
	curl_slist_free_all(list);
	return rc;
nomem:
	curl_slist_free_all(list);
	return DBS_ENOMEM;
}

void
http_response_free(struct http_response *resp)
{
	if (resp == NULL)
		return;
	free(resp->body);
	free(resp->link_next);
	free(resp->content_type);
	resp->body = NULL;
	resp->link_next = NULL;
	resp->content_type = NULL;
}
