/*
 * http.h — the libcurl client shared by the HTTP drivers (the `http`
 * pusher and the `http_poll` puller).
 *
 * One struct http_client per driver instance holds the settings every
 * HTTP driver has (headers with values from the environment, connect and
 * total timeouts, TLS verification with an optional CA file, or an
 * explicit `insecure`) and one curl easy handle, reused from request to
 * request so that connections to the same host stay open (keep-alive).
 * Requests are synchronous: drivers run in the worker's main thread.
 */
#ifndef DBS_WORKERS_HTTP_H
#define DBS_WORKERS_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct http_client;

/* The settings keys http_client_new reads, for drv_settings_only. */
#define HTTP_SETTING_KEYS                                                     \
	"headers", "connect_timeout_ms", "timeout_ms", "ca_file", "insecure"

/*
 * Read the common settings of `settings`: `headers` (an object of
 * strings; a value "env:NAME" takes the variable NAME of the worker's
 * environment, which must be set), `connect_timeout_ms` (default 10000),
 * `timeout_ms` (default `def_timeout_ms`), `ca_file` (a PEM bundle to
 * verify servers with) and `insecure` (true turns TLS verification off;
 * never the default). Returns DBS_OK with *out set, DBS_ECONFIG with the
 * problem in `err`, or DBS_ENOMEM.
 */
int http_client_new(const json_t *settings, uint64_t def_timeout_ms,
    struct http_client **out, char *err, size_t errlen);
void http_client_free(struct http_client *c);

/* One response. body is NUL-terminated (and cut at the request's
 * max_body, `truncated` then set). */
struct http_response {
	long status;     /* 0 when no response arrived */
	bool timed_out;  /* the connect or total timeout passed */
	char error[256]; /* transport error when status is 0 */
	char *body;
	size_t len;
	bool truncated;
	int64_t retry_after_ms;      /* Retry-After, -1 when absent */
	char *link_next;             /* Link: <...>; rel="next", or NULL */
	int64_t ratelimit_remaining; /* X-RateLimit-Remaining, or -1 */
	int64_t ratelimit_reset;     /* X-RateLimit-Reset (epoch s), or -1 */
	char *content_type;
};

/*
 * Send one request: `method` ("GET", "POST", "PUT"), `url`, extra
 * `headers` (NULL-terminated "Name: value" strings, after the configured
 * ones) and a body (NULL for none). Keeps at most max_body bytes of the
 * response body. Returns DBS_OK when a response arrived (whatever its
 * status), DBS_ETRANSPORT (with resp->error) or DBS_ETIMEOUT when none
 * did, DBS_ENOMEM. Free the response with http_response_free.
 */
int http_request(struct http_client *c, const char *method, const char *url,
    const char *const *headers, const void *body, size_t len, size_t max_body,
    struct http_response *resp);
void http_response_free(struct http_response *resp);

/* Whether a status is worth retrying: 408, 429 and 5xx. */
bool http_status_retryable(long status);

/* Header parsers (http_headers.c; fuzzed by tests/fuzz/fuzz_http_headers.c).
 * The URL of rel="next" in a Link header value (malloc'ed), or NULL; a
 * Retry-After value (seconds or an HTTP date, relative to `now`) in ms,
 * capped at a day, or -1 when it does not parse. */
char *http_link_next(const char *value);
int64_t http_retry_after_ms(const char *value, time_t now);
/* A non-negative decimal of at most 18 digits, or -1. */
int64_t http_header_int(const char *value);

/* Whether `url` starts with http:// or https:// and has a host. */
bool http_url_valid(const char *url);

#endif
