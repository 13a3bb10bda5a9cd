/*
 * http_headers.c — parsers of the HTTP response headers the drivers act
 * on (see http.h): Link rel="next", Retry-After and plain integers
 * (X-RateLimit-*). Separate from http.c so that the fuzz target
 * (tests/fuzz/fuzz_http_headers.c) links them alone.
 */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

char *
http_link_next(const char *v)
{
	const char *p = v;

	while ((p = strchr(p, '<')) != NULL) {
		const char *close = strchr(p, '>'), *end;

		if (close == NULL)
			return NULL;
		end = strchr(close, ',');
		if (end == NULL)
			end = close + strlen(close);
		{
			char params[512];
			size_t pl = (size_t)(end - close - 1);

			if (pl >= sizeof(params))
				pl = sizeof(params) - 1;
			memcpy(params, close + 1, pl);
			params[pl] = '\0';
			if (strstr(params, "rel=\"next\"") != NULL ||
			    strstr(params, "rel=next") != NULL)
				return strndup(p + 1, (size_t)(close - p - 1));
		}
		p = end;
	}
	return NULL;
}

int64_t
http_header_int(const char *s)
{
	char *end;
	long long v;

	/* At most 18 digits: no overflow to think about. */
	if (s == NULL || *s < '0' || *s > '9' || strlen(s) > 18)
		return -1;
	v = strtoll(s, &end, 10);
	return *end == '\0' && v >= 0 ? (int64_t)v : -1;
}

int64_t
http_retry_after_ms(const char *v, time_t now)
{
	int64_t s = http_header_int(v);

	if (s < 0) {
		time_t t = curl_getdate(v, NULL);

		if (t == (time_t)-1)
			return -1;
		s = t > now ? (int64_t)(t - now) : 0;
	}
	return s > 86400 ? 86400000 : s * 1000;
}
