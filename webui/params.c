/*
 * params.c — query strings, path segments, names, ids and attachment
 * types of databus-web's requests (params.h). No h2o here: the handlers
 * pass the bytes, tests/fuzz/fuzz_api_query.c does the same.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "params.h"

bool
web_valid_name(const char *s, size_t len)
{
	return dbs_name_ok(s, len);
}

bool
web_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool
web_query_lookup(const char *query, size_t qlen, const char *name, char *buf,
    size_t len, bool *bad)
{
	const char *p, *end, *amp, *eq;
	size_t nlen = strlen(name), o;

	*bad = false;
	if (query == NULL)
		return false;
	p = query;
	end = query + qlen;
	for (; p < end; p = amp + 1) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq == NULL || (size_t)(eq - p) != nlen ||
		    memcmp(p, name, nlen) != 0)
			continue;
		for (o = 0, p = eq + 1; p < amp; p++) {
			int c = (unsigned char)*p;

			if (c == '%') {
				int hi, lo;

				if (amp - p < 3 || (hi = hexval(p[1])) < 0 ||
				    (lo = hexval(p[2])) < 0)
					goto bad;
				c = hi * 16 + lo;
				p += 2;
			} else if (c == '+') {
				c = ' ';
			}
			if (c == 0 || o + 1 >= len)
				goto bad;
			buf[o++] = (char)c;
		}
		buf[o] = '\0';
		return true;
	}
	return false;
bad:
	*bad = true;
	return false;
}

const char *
web_paging_parse(const char *query, size_t qlen, uint64_t *cursor,
    size_t *limit, size_t limit_max)
{
	char num[32];
	uint64_t v;
	bool bad;

	if (web_query_lookup(query, qlen, "cursor", num, sizeof(num), &bad)) {
		if (!web_parse_u64(num, cursor))
			return "invalid cursor";
	} else if (bad) {
		return "invalid cursor";
	}
	if (web_query_lookup(query, qlen, "limit", num, sizeof(num), &bad)) {
		if (!web_parse_u64(num, &v) || v < 1 || v > limit_max)
			return "limit out of range";
		*limit = (size_t)v;
	} else if (bad) {
		return "invalid limit";
	}
	return NULL;
}

bool
web_decode_segment(const char *s, size_t len, char *out, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		int c = (unsigned char)s[i], hi, lo;

		if (c == '%') {
			if (i + 2 >= len || (hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0)
				return false;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == 0 || o + 1 >= cap)
			return false;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return o > 0;
}

int
web_path_segments(
    const char *p, size_t len, char *segs, size_t segcap, size_t maxseg)
{
	const char *end = p + len, *slash;
	size_t nseg = 0;

	for (; p <= end; p = slash + 1) {
		if ((slash = memchr(p, '/', (size_t)(end - p))) == NULL)
			slash = end;
		if (nseg == maxseg ||
		    !web_decode_segment(
			p, (size_t)(slash - p), segs + nseg * segcap, segcap))
			return -1;
		nseg++;
	}
	return (int)nseg;
}

bool
web_user_segment(const char *s, size_t len, char out[65])
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len || (hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0)
				return false;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == 0 || o >= DBS_NAME_MAX)
			return false;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return dbs_user_name_ok(out, o);
}

bool
web_id_segment(const char *s, size_t len, uint64_t *id)
{
	char buf[24];

	if (len == 0 || len > 19)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return web_parse_u64(buf, id) && *id != 0;
}

bool
web_export_id_valid(const char *s, size_t len)
{
	if (len != WEB_EXPORT_ID_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
			(s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

void
web_media_type(const char *ct, char *out, size_t cap)
{
	size_t o = 0;

	for (; ct != NULL && *ct != '\0' && *ct != ';' && o + 1 < cap; ct++)
		if (!isspace((unsigned char)*ct))
			out[o++] = (char)tolower((unsigned char)*ct);
	out[o] = '\0';
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool
web_is_text_type(const char *mt)
{
	static const char *const types[] = {"application/json",
	    "application/xml", "application/csv", "application/x-ndjson",
	    "application/yaml", "application/x-yaml", "application/toml",
	    "application/javascript", "application/sql", NULL};

	if (strncmp(mt, "text/", 5) == 0)
		return true;
	for (size_t i = 0; types[i] != NULL; i++)
		if (strcmp(mt, types[i]) == 0)
			return true;
	return ends_with(mt, "+json") ||
	       (ends_with(mt, "+xml") && strcmp(mt, "image/svg+xml") != 0);
}

const char *
web_image_type(const char *mt, const unsigned char *d, size_t n)
{
	if (strcmp(mt, "image/png") == 0 && n >= 8 &&
	    memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
		return "image/png";
	if ((strcmp(mt, "image/jpeg") == 0 || strcmp(mt, "image/jpg") == 0) &&
	    n >= 3 && memcmp(d, "\xff\xd8\xff", 3) == 0)
		return "image/jpeg";
	if (strcmp(mt, "image/gif") == 0 && n >= 6 &&
	    (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0))
		return "image/gif";
	if (strcmp(mt, "image/webp") == 0 && n >= 12 &&
	    memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
		return "image/webp";
	return NULL;
}

void
web_safe_filename(const char *name, char *out, size_t cap)
{
	const char *base = name, *p;
	size_t o = 0;

	for (p = name; *p != '\0'; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	for (p = base; *p != '\0' && o + 1 < cap; p++) {
		char c = *p;

		if (o == 0 && c == '.')
			continue;
		out[o++] = (isalnum((unsigned char)c) || c == '.' ||
			       c == '_' || c == '-')
			       ? c
			       : '_';
	}
	out[o] = '\0';
	if (o == 0)
		snprintf(out, cap, "attachment");
}
