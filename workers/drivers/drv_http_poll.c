/*
 * drv_http_poll.c — the `http_poll` puller: reads items from a JSON API.
 *
 * Each pull GETs `url` with the configured headers, takes the array at
 * the `items` JSON pointer of the response and emits one passenger per
 * item: external id from the `id` pointer, the item itself as the
 * attachment `item.json`, optional metadata from pointers. Pages are
 * followed through a Link rel="next" header, a `next` pointer (a URL, or a
 * cursor put into `cursor_param`), or a `page_param` counted up until a
 * page is empty — at most `max_items` items (the backfill limit) and
 * `max_pages` pages per pull. A next page on another origin (scheme, host,
 * port) than `url` is not followed: the configured headers (tokens) go
 * only where the configuration says.
 *
 * Each item is pulled once: the queue deduplicates by external id, and
 * with `watermark` (a pointer to an increasing field: an id, an ISO time)
 * the puller remembers the highest value seated and skips what is not
 * newer; with `order: "desc"` (newest first, GitHub's order) it stops
 * paging at the first old item. The watermark advances in notify, i.e.
 * only after the commit that seated the item, and is kept in a small file
 * under the data dir (<data>/drivers/<client>/<definition>/<puller>.
 * watermark), so it survives restarts.
 *
 * Rate limits: a 429/503 with Retry-After, or X-RateLimit-Remaining: 0
 * with X-RateLimit-Reset, ends the pull and no request is made before
 * that time; the items already seen are kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dbs_error.h"
#include "driver.h"
#include "http.h"

#define MAX_RESPONSE (32u << 20)

struct poll {
	struct http_client *http;
	char *url;
	char *items; /* JSON pointer of the array ("" = the document) */
	char *id;    /* JSON pointer in an item */
	char *next;  /* JSON pointer of the next URL / cursor, or NULL */
	char *cursor_param;
	char *page_param;
	uint64_t first_page;
	char *watermark; /* JSON pointer in an item, or NULL */
	bool desc;
	uint64_t max_items;
	uint64_t max_pages;
	json_t *metadata;      /* {name: pointer} */
	char *wm_path;         /* file of the stored watermark, or NULL */
	json_t *wm;            /* the stored watermark, or NULL */
	int64_t not_before_ms; /* rate limited until (wall clock) */
};

/* ------------------------------------------------------------ helpers */

/* RFC 6901 JSON pointer; NULL when it does not resolve. */
static json_t *
pointer(json_t *doc, const char *ptr)
{
	char tok[512];

	if (ptr[0] == '\0')
		return doc;
	if (ptr[0] != '/')
		return NULL;
	while (doc != NULL && *ptr == '/') {
		size_t n = 0;

		ptr++;
		while (*ptr != '\0' && *ptr != '/' && n < sizeof(tok) - 1) {
			if (ptr[0] == '~' && ptr[1] == '1') {
				tok[n++] = '/';
				ptr += 2;
			} else if (ptr[0] == '~' && ptr[1] == '0') {
				tok[n++] = '~';
				ptr += 2;
			} else {
				tok[n++] = *ptr++;
			}
		}
		tok[n] = '\0';
		if (json_is_object(doc)) {
			doc = json_object_get(doc, tok);
		} else if (json_is_array(doc)) {
			char *end;
			unsigned long i = strtoul(tok, &end, 10);

			doc = tok[0] != '\0' && *end == '\0'
				  ? json_array_get(doc, i)
				  : NULL;
		} else {
			doc = NULL;
		}
	}
	return doc;
}

static bool
pointer_valid(const char *p)
{
	return p[0] == '\0' || p[0] == '/';
}

/* A scalar as text (strings as they are, integers in decimal). */
static char *
scalar_text(const json_t *v)
{
	char *s = NULL;

	if (json_is_string(v))
		return strndup(json_string_value(v), json_string_length(v));
	if (json_is_integer(v) &&
	    asprintf(&s, "%lld", (long long)json_integer_value(v)) >= 0)
		return s;
	if (json_is_real(v) && asprintf(&s, "%.17g", json_real_value(v)) >= 0)
		return s;
	if (json_is_boolean(v))
		return strdup(json_is_true(v) ? "true" : "false");
	return NULL;
}

/* Compare two watermark values: numbers numerically, strings as bytes
 * (ISO 8601 times sort that way); a number is below any string. */
static int
wm_cmp(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b)) {
		double x = json_number_value(a), y = json_number_value(b);

		if (json_is_integer(a) && json_is_integer(b)) {
			json_int_t i = json_integer_value(a),
				   j = json_integer_value(b);

			return i < j ? -1 : i > j;
		}
		return x < y ? -1 : x > y;
	}
	if (json_is_string(a) && json_is_string(b))
		return strcmp(json_string_value(a), json_string_value(b));
	return json_is_number(a) ? -1 : 1;
}

static bool
wm_usable(const json_t *v)
{
	return json_is_number(v) || json_is_string(v);
}

static void
sanitise(char *s)
{
	if (s[0] == '.')
		s[0] = '_';
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			(*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
			*s == '.'))
			*s = '_';
}

/* mkdir -p of the directory part of `path` (0700). */
static int
make_parents(char *path)
{
	for (char *p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	return 0;
}

static void
wm_load(struct poll *pl, struct drv_ctx *ctx)
{
	json_error_t jerr;
	json_t *v;

	if (pl->wm_path == NULL || access(pl->wm_path, F_OK) != 0)
		return;
	v = json_load_file(pl->wm_path, JSON_DECODE_ANY, &jerr);
	if (v == NULL || !wm_usable(v)) {
		drv_log(ctx, DRV_WARNING, 0,
		    "ignoring the unreadable watermark file %s", pl->wm_path);
		json_decref(v);
		return;
	}
	pl->wm = v;
}

/* Write the watermark: temp file, then rename. Not fsync'ed: a
 * watermark lost in a crash only makes the next pull fetch items again,
 * which the queue's deduplication drops. */
static int
wm_store(struct poll *pl, struct drv_ctx *ctx)
{
	char tmp[4200];
	char *text;
	FILE *f;
	int ok;

	if (pl->wm_path == NULL)
		return DBS_OK;
	text = json_dumps(pl->wm, JSON_ENCODE_ANY);
	if (text == NULL)
		return DBS_ENOMEM;
	snprintf(tmp, sizeof(tmp), "%s.tmp", pl->wm_path);
	if (make_parents(tmp) != 0 || (f = fopen(tmp, "we")) == NULL) {
		drv_log(ctx, DRV_ERROR, 0, "cannot write %s: %s", tmp,
		    strerror(errno));
		free(text);
		return DBS_EIO;
	}
	ok = fputs(text, f) >= 0 && fflush(f) == 0;
	ok = fclose(f) == 0 && ok;
	free(text);
	if (!ok || rename(tmp, pl->wm_path) != 0) {
		drv_log(ctx, DRV_ERROR, 0, "cannot write %s: %s", pl->wm_path,
		    strerror(errno));
		(void)unlink(tmp);
		return DBS_EIO;
	}
	return DBS_OK;
}

/* --------------------------------------------------------------- init */

static void
poll_free(struct poll *pl)
{
	if (pl == NULL)
		return;
	http_client_free(pl->http);
	free(pl->url);
	free(pl->items);
	free(pl->id);
	free(pl->next);
	free(pl->cursor_param);
	free(pl->page_param);
	free(pl->watermark);
	free(pl->wm_path);
	json_decref(pl->metadata);
	json_decref(pl->wm);
	free(pl);
}

/* The settings of one instance, borrowed from its settings object. */
struct poll_settings {
	const char *url, *items, *id, *next, *cursor, *page, *wm, *order;
	uint64_t first_page, max_items, max_pages;
	const json_t *md;
};

/* "metadata": absent, or an object of JSON pointers. */
static int
metadata_check(const json_t *md, char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	if (md == NULL || json_is_null(md))
		return DBS_OK;
	if (!json_is_object(md)) {
		snprintf(err, errlen,
		    "metadata: expected an object of JSON pointers");
		return DBS_ECONFIG;
	}
	json_object_foreach((json_t *)md, k, v)
	{
		if (!json_is_string(v) ||
		    !pointer_valid(json_string_value(v))) {
			snprintf(err, errlen,
			    "metadata.%s: expected a JSON pointer", k);
			return DBS_ECONFIG;
		}
	}
	return DBS_OK;
}

/* The rules between settings, once each was read. */
static int
settings_check(const struct poll_settings *s, char *err, size_t errlen)
{
	if (!http_url_valid(s->url)) {
		snprintf(
		    err, errlen, "url: expected an http:// or https:// URL");
		return DBS_ECONFIG;
	}
	if (!pointer_valid(s->items) || !pointer_valid(s->id) ||
	    !pointer_valid(s->next) || !pointer_valid(s->wm)) {
		snprintf(err, errlen,
		    "%s: expected a JSON pointer (\"\" or \"/a/b\")",
		    !pointer_valid(s->items)  ? "items"
		    : !pointer_valid(s->id)   ? "id"
		    : !pointer_valid(s->next) ? "next"
					      : "watermark");
		return DBS_ECONFIG;
	}
	if (strcmp(s->order, "asc") != 0 && strcmp(s->order, "desc") != 0) {
		snprintf(err, errlen, "order: expected \"asc\" or \"desc\"");
		return DBS_ECONFIG;
	}
	if (s->cursor[0] != '\0' && s->next[0] == '\0') {
		snprintf(err, errlen,
		    "cursor_param: needs \"next\" (where the cursor is)");
		return DBS_ECONFIG;
	}
	if (s->page[0] != '\0' && s->next[0] != '\0') {
		snprintf(err, errlen,
		    "page_param: cannot be combined with \"next\"");
		return DBS_ECONFIG;
	}
	return metadata_check(s->md, err, errlen);
}

static int
settings_read(
    const json_t *settings, struct poll_settings *s, char *err, size_t errlen)
{
	static const char *const keys[] = {"url", "items", "id", "next",
	    "cursor_param", "page_param", "first_page", "watermark", "order",
	    "max_items", "max_pages", "metadata", HTTP_SETTING_KEYS, NULL};
	int rc;

	s->md = json_object_get(settings, "metadata");
	if ((rc = drv_settings_only(settings, keys, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_string(
		 settings, "url", NULL, &s->url, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_string(
		 settings, "items", "", &s->items, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_string(
		 settings, "id", NULL, &s->id, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_string(
		 settings, "next", "", &s->next, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_string(settings, "cursor_param", "", &s->cursor,
		 err, errlen)) != DBS_OK ||
	    (rc = drv_setting_string(settings, "page_param", "", &s->page, err,
		 errlen)) != DBS_OK ||
	    (rc = drv_setting_uint(settings, "first_page", 1, 0, 1000000,
		 &s->first_page, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_string(
		 settings, "watermark", "", &s->wm, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_string(settings, "order", "asc", &s->order, err,
		 errlen)) != DBS_OK ||
	    (rc = drv_setting_uint(settings, "max_items", 1000, 1, 1000000,
		 &s->max_items, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_uint(settings, "max_pages", 100, 1, 100000,
		 &s->max_pages, err, errlen)) != DBS_OK)
		return rc;
	return settings_check(s, err, errlen);
}

/* Copy the settings into `pl`; DBS_OK or DBS_ENOMEM. */
static int
settings_copy(struct poll *pl, const struct poll_settings *s)
{
	pl->first_page = s->first_page;
	pl->desc = strcmp(s->order, "desc") == 0;
	pl->max_items = s->max_items;
	pl->max_pages = s->max_pages;
	pl->metadata = s->md != NULL && json_is_object(s->md)
			   ? json_deep_copy(s->md)
			   : json_object();
	if ((pl->url = strdup(s->url)) == NULL ||
	    (pl->items = strdup(s->items)) == NULL ||
	    (pl->id = strdup(s->id)) == NULL || pl->metadata == NULL ||
	    (s->next[0] != '\0' && (pl->next = strdup(s->next)) == NULL) ||
	    (s->cursor[0] != '\0' &&
		(pl->cursor_param = strdup(s->cursor)) == NULL) ||
	    (s->page[0] != '\0' &&
		(pl->page_param = strdup(s->page)) == NULL) ||
	    (s->wm[0] != '\0' && (pl->watermark = strdup(s->wm)) == NULL))
		return DBS_ENOMEM;
	return DBS_OK;
}

/* With a watermark and a data dir: where the watermark is kept
 * (<data dir>/drivers/<client>/<definition>/<name>.watermark), and the
 * stored one loaded. */
static int
wm_open(struct poll *pl, struct drv_ctx *ctx)
{
	char c[128], d[128], n[128];

	if (pl->watermark == NULL || drv_data_dir(ctx)[0] == '\0')
		return DBS_OK;
	snprintf(c, sizeof(c), "%s", drv_client(ctx));
	snprintf(d, sizeof(d), "%s", drv_definition(ctx));
	snprintf(n, sizeof(n), "%s", drv_name(ctx));
	sanitise(c);
	sanitise(d);
	sanitise(n);
	if (asprintf(&pl->wm_path, "%s/drivers/%s/%s/%s.watermark",
		drv_data_dir(ctx), c, d, n) < 0) {
		pl->wm_path = NULL;
		return DBS_ENOMEM;
	}
	wm_load(pl, ctx);
	return DBS_OK;
}

static int
poll_init(struct drv_ctx *ctx, const json_t *settings, void **state, char *err,
    size_t errlen)
{
	struct poll_settings s;
	struct poll *pl;
	int rc;

	*state = NULL;
	if ((rc = settings_read(settings, &s, err, errlen)) != DBS_OK)
		return rc;
	if ((pl = calloc(1, sizeof(*pl))) == NULL)
		return DBS_ENOMEM;
	rc = http_client_new(settings, 30000, &pl->http, err, errlen);
	if (rc == DBS_OK)
		rc = settings_copy(pl, &s);
	if (rc == DBS_OK)
		rc = wm_open(pl, ctx);
	if (rc != DBS_OK) {
		poll_free(pl);
		return rc;
	}
	*state = pl;
	return DBS_OK;
}

/* --------------------------------------------------------------- pull */

/* url with name=value appended as a query parameter. */
static char *
with_param(const char *url, const char *name, const char *value)
{
	char *out = NULL, *enc;
	enc = malloc(3 * strlen(value) + 1);
	if (enc == NULL)
		return NULL;
	{
		static const char hex[] = "0123456789ABCDEF";
		char *o = enc;

		for (const unsigned char *p = (const unsigned char *)value;
		     *p != '\0'; p++) {
			if ((*p >= 'a' && *p <= 'z') ||
			    (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
				*o++ = (char)*p;
			} else {
				*o++ = '%';
				*o++ = hex[*p >> 4];
				*o++ = hex[*p & 15];
			}
		}
		*o = '\0';
	}
	if (asprintf(&out, "%s%c%s=%s", url, strchr(url, '?') ? '&' : '?',
		name, enc) < 0)
		out = NULL;
	free(enc);
	return out;
}

/* Length of the origin of `url` ("https://host:port"), 0 if none. */
static size_t
origin_len(const char *url)
{
	const char *p = strstr(url, "://"), *end;

	if (p == NULL)
		return 0;
	p += 3;
	end = p + strcspn(p, "/?#");
	return (size_t)(end - url);
}

/* Whether `next` is on the origin of `base`: the configured headers
 * (tokens) must never be sent to a host an API response names. */
static bool
same_origin(const char *base, const char *next)
{
	size_t n = origin_len(base);

	return n > 0 && origin_len(next) == n &&
	       strncasecmp(base, next, n) == 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Emit one item; returns what drv_emit returns, or 2 for "skipped". */
static int
emit_item(struct poll *pl, struct drv_ctx *ctx, struct drv_sink *sink,
    json_t *item, bool *old)
{
	struct drv_kv md[32];
	struct drv_attachment att;
	char *ext, *text, *ref = NULL, *vals[32];
	size_t n_md = 0;
	const char *k;
	json_t *v, *wm = NULL;
	int rc;

	*old = false;
	if (pl->watermark != NULL) {
		wm = pointer(item, pl->watermark);
		if (wm != NULL && !wm_usable(wm))
			wm = NULL;
		if (wm != NULL && pl->wm != NULL && wm_cmp(wm, pl->wm) <= 0) {
			*old = true;
			return 2;
		}
	}
	ext = scalar_text(pointer(item, pl->id));
	if (ext == NULL || ext[0] == '\0') {
		drv_log(ctx, DRV_WARNING, 0,
		    "an item without a usable id at %s: skipped", pl->id);
		free(ext);
		return 2;
	}
	text = json_dumps(item, JSON_COMPACT | JSON_SORT_KEYS);
	if (wm != NULL)
		ref = json_dumps(wm, JSON_ENCODE_ANY | JSON_COMPACT);
	if (text == NULL || (wm != NULL && ref == NULL)) {
		free(ext);
		free(text);
		free(ref);
		return DBS_ENOMEM;
	}
	json_object_foreach(pl->metadata, k, v)
	{
		char *s;

		if (n_md >= 32)
			break;
		s = scalar_text(pointer(item, json_string_value(v)));
		if (s == NULL)
			continue;
		vals[n_md] = s;
		md[n_md].key = k;
		md[n_md].value = s;
		n_md++;
	}
	att.name = "item.json";
	att.content_type = "application/json";
	att.data = text;
	att.len = strlen(text);
	rc = drv_emit(sink, ext, ref != NULL ? ref : "", md, n_md, &att, 1);
	if (rc == DBS_EINVAL || rc == DBS_ETOOBIG) {
		drv_log(ctx, DRV_WARNING, 0, "item %.200s refused: %s", ext,
		    dbs_strerror(rc));
		rc = 2;
	}
	for (size_t i = 0; i < n_md; i++)
		free(vals[i]);
	free(ext);
	free(text);
	free(ref);
	return rc;
}

/* The configured url on page `page` (page_param). */
static char *
page_url(const struct poll *pl, uint64_t page)
{
	char num[32];

	snprintf(num, sizeof(num), "%llu", (unsigned long long)page);
	return with_param(pl->url, pl->page_param, num);
}

/*
 * GET one page into `resp` (the caller frees it) and find its items.
 * DBS_OK with *doc and *items set; DBS_OK with *doc NULL when rate
 * limited (stop for now, not a failure); otherwise the error, logged.
 */
static int
fetch(struct poll *pl, struct drv_ctx *ctx, const char *url,
    struct http_response *resp, json_t **doc, json_t **items)
{
	const char *const hdrs[] = {"Accept: application/json", NULL};
	json_error_t jerr;
	int rc;

	*doc = *items = NULL;
	rc = http_request(
	    pl->http, "GET", url, hdrs, NULL, 0, MAX_RESPONSE, resp);
	if (rc != DBS_OK) {
		drv_log(ctx, DRV_ERROR, 0, "GET %s: %s", url, resp->error);
		return rc == DBS_ENOMEM ? rc : DBS_EDRIVER;
	}
	if (resp->status < 200 || resp->status >= 300) {
		if (http_status_retryable(resp->status) &&
		    resp->retry_after_ms >= 0) {
			pl->not_before_ms = now_ms() + resp->retry_after_ms;
			drv_log(ctx, DRV_WARNING, 0,
			    "GET %s: HTTP %ld; retrying after %lld s", url,
			    resp->status,
			    (long long)resp->retry_after_ms / 1000);
			return DBS_OK;
		}
		drv_log(ctx, DRV_ERROR, 0, "GET %s: HTTP %ld: %.300s", url,
		    resp->status, resp->body);
		return DBS_EDRIVER;
	}
	if (resp->truncated) {
		drv_log(ctx, DRV_ERROR, 0,
		    "GET %s: the response is larger than %u bytes", url,
		    MAX_RESPONSE);
		return DBS_EDRIVER;
	}
	*doc = json_loadb(resp->body, resp->len, 0, &jerr);
	*items = *doc != NULL ? pointer(*doc, pl->items) : NULL;
	if (!json_is_array(*items)) {
		drv_log(ctx, DRV_ERROR, 0,
		    *doc == NULL ? "GET %s: the response is not JSON"
				 : "GET %s: no array at \"%s\"",
		    url, pl->items);
		json_decref(*doc);
		*doc = *items = NULL;
		return DBS_EDRIVER;
	}
	return DBS_OK;
}

/* Emit a page's items; true when the run stops here (an old item in
 * descending order, enough items, the sink full, or an error in *rc). */
static bool
emit_page(struct poll *pl, struct drv_ctx *ctx, struct drv_sink *sink,
    json_t *items, uint64_t *emitted, int *rc)
{
	json_t *item;
	size_t i;

	json_array_foreach(items, i, item)
	{
		bool old;
		int e = emit_item(pl, ctx, sink, item, &old);

		if (old && pl->desc)
			return true;
		if (e == 2)
			continue;
		if (e == 1) /* the sink has enough (peek) */
			return true;
		if (e != DBS_OK) {
			*rc = e;
			return true;
		}
		if (++*emitted >= pl->max_items)
			return true;
	}
	return false;
}

/* Where the next page is: the Link header, the "next" pointer (a URL or
 * a cursor), or the next page number; NULL when there is none. */
static char *
next_url(const struct poll *pl, json_t *doc, const struct http_response *resp,
    uint64_t *page)
{
	json_t *nv;
	char *next = NULL;

	if (resp->link_next != NULL)
		return strdup(resp->link_next);
	if (pl->next != NULL && (nv = pointer(doc, pl->next)) != NULL) {
		char *s = scalar_text(nv);

		if (s != NULL && s[0] != '\0') {
			if (pl->cursor_param != NULL)
				next =
				    with_param(pl->url, pl->cursor_param, s);
			else if (http_url_valid(s))
				next = strdup(s);
		}
		free(s);
		return next;
	}
	if (pl->page_param != NULL)
		return page_url(pl, ++*page);
	return NULL;
}

/* Drop `next` when the rate limit is exhausted (until its reset) or when
 * it is on another origin (an error in *rc). */
static char *
next_allowed(struct poll *pl, struct drv_ctx *ctx,
    const struct http_response *resp, char *next, int *rc)
{
	if (resp->ratelimit_remaining == 0 && resp->ratelimit_reset > 0) {
		pl->not_before_ms = resp->ratelimit_reset * 1000;
		if (next != NULL)
			drv_log(ctx, DRV_WARNING, 0,
			    "rate limit exhausted; continuing after its "
			    "reset");
		free(next);
		return NULL;
	}
	if (next != NULL && !same_origin(pl->url, next)) {
		drv_log(ctx, DRV_ERROR, 0,
		    "not following the next page %.300s: another origin "
		    "than the configured url",
		    next);
		free(next);
		*rc = DBS_EDRIVER;
		return NULL;
	}
	return next;
}

/* The shared loop of pull and peek. */
static int
run(struct poll *pl, struct drv_ctx *ctx, struct drv_sink *sink, bool peek)
{
	uint64_t page = pl->first_page, pages = 0, emitted = 0;
	char *url;
	int rc = DBS_OK;

	if (!peek && pl->not_before_ms > now_ms()) {
		drv_log(ctx, DRV_INFO, 0,
		    "rate limited: no request for another %lld s",
		    (long long)((pl->not_before_ms - now_ms()) / 1000 + 1));
		return DBS_OK;
	}
	url = pl->page_param != NULL ? page_url(pl, page) : strdup(pl->url);
	if (url == NULL)
		return DBS_ENOMEM;
	while (
	    url != NULL && pages < pl->max_pages && emitted < pl->max_items) {
		struct http_response resp;
		json_t *doc, *items;
		bool stop;
		char *next = NULL;

		rc = fetch(pl, ctx, url, &resp, &doc, &items);
		pages++;
		if (doc == NULL) {
			http_response_free(&resp);
			break;
		}
		stop = emit_page(pl, ctx, sink, items, &emitted, &rc);
		if (!stop && json_array_size(items) > 0)
			next = next_url(pl, doc, &resp, &page);
		next = next_allowed(pl, ctx, &resp, next, &rc);
		json_decref(doc);
		http_response_free(&resp);
		free(url);
		url = next;
		if (stop)
			break;
	}
	free(url);
	return rc;
}

static int
poll_pull(void *state, struct drv_ctx *ctx, struct drv_sink *sink)
{
	return run(state, ctx, sink, false);
}

static int
poll_peek(void *state, struct drv_ctx *ctx, struct drv_sink *sink)
{
	return run(state, ctx, sink, true);
}

/* Seated: the watermark may advance past this item. */
static int
poll_notify(void *state, struct drv_ctx *ctx, const char *external_id,
    const char *source_ref, char *err, size_t errlen)
{
	struct poll *pl = state;
	json_error_t jerr;
	json_t *v;
	int rc;

	if (pl->watermark == NULL || source_ref[0] == '\0')
		return DBS_OK;
	v = json_loads(source_ref, JSON_DECODE_ANY, &jerr);
	if (v == NULL || !wm_usable(v)) {
		json_decref(v);
		snprintf(err, errlen, "bad watermark reference");
		return DBS_EINVAL;
	}
	if (pl->wm != NULL && wm_cmp(v, pl->wm) <= 0) {
		json_decref(v);
		return DBS_OK;
	}
	json_decref(pl->wm);
	pl->wm = v;
	rc = wm_store(pl, ctx);
	if (rc != DBS_OK)
		snprintf(err, errlen, "cannot store the watermark");
	return rc;
}

static void
poll_fini(void *state)
{
	poll_free(state);
}

const struct drv_ops drv_http_poll_ops = {
    .type = "http_poll",
    .kind = DRV_PULLER,
    .init = poll_init,
    .pull = poll_pull,
    .peek = poll_peek,
    .notify = poll_notify,
    .fini = poll_fini,
};
