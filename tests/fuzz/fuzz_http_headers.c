/*
 * fuzz_http_headers.c — libFuzzer target for the response headers the
 * HTTP drivers act on (workers/drivers/http.c): Link (pagination, rel="next")
 * and Retry-After (seconds or an HTTP date). Both come from remote servers.
 *
 * The input is one header value. A next URL, when found, must be a
 * substring of the input; a Retry-After is -1 or within a day.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *v = malloc(size + 1), *next;
	int64_t ms;

	if (v == NULL)
		return 0;
	memcpy(v, data, size);
	v[size] = '\0'; /* header values never hold NUL: cut there */
	next = http_link_next(v);
	if (next != NULL && strstr(v, next) == NULL)
		abort();
	free(next);
	ms = http_retry_after_ms(v, 1700000000);
	if (ms < -1 || ms > 86400000)
		abort();
	free(v);
	return 0;
}
