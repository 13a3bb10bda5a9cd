/*
 * fuzz_api_query.c — libFuzzer target for what databus-web reads from a
 * request's target before any handler runs (webui/params.c): query
 * parameters and their percent-decoding, listing paging, names, ids,
 * user and export id segments, config paths, attachment names and the
 * type and file name an attachment is served with.
 *
 * The input is used whole as a query string, as a path and as a path
 * segment. Besides "no crash, no leak", each function's promise is
 * checked: a decoded value is NUL-terminated inside its buffer without
 * an inner NUL, a valid name has only [A-Za-z0-9_-], a safe file name
 * only [A-Za-z0-9._-] and no leading dot, a limit stays in its range.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
only(const char *s, const char *extra)
{
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			(*s >= '0' && *s <= '9') || strchr(extra, *s) != NULL))
			return false;
	return true;
}

static void
query(const char *q, size_t n)
{
	static const char *const names[] = {"client", "cursor", "limit",
	    "passenger", "state", "q", "download", "since", ""};
	static const size_t caps[] = {1, 2, 8, 32, 65, 300};
	char buf[301];
	uint64_t u, cursor = 7;
	size_t limit = 50;
	bool bad;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
			memset(buf, 'x', sizeof(buf));
			if (web_query_lookup(
				q, n, names[i], buf, caps[k], &bad)) {
				size_t len = strnlen(buf, caps[k]);

				if (len >= caps[k] || bad)
					abort();
				if (web_valid_name(buf, len) &&
				    (len > 64 || !only(buf, "_-")))
					abort();
				if (web_parse_u64(buf, &u) && !only(buf, ""))
					abort();
			}
			if (buf[caps[k]] != 'x')
				abort(); /* wrote past its buffer */
		}
	if (web_paging_parse(q, n, &cursor, &limit, 1000) == NULL &&
	    (limit < 1 || limit > 1000))
		abort();
}

static void
path(const char *p, size_t n, const unsigned char *raw)
{
	char segs[4][256], one[1025], mt[128], file[101], user[65];
	uint64_t id;
	int k;

	k = web_path_segments(p, n, segs[0], sizeof(segs[0]), 4);
	if (k == 0 || k > 4)
		abort();
	for (int i = 0; i < k; i++)
		if (segs[i][0] == '\0' || strlen(segs[i]) >= sizeof(segs[i]))
			abort();
	if (web_decode_segment(p, n, one, sizeof(one))) {
		/* An attachment name: served with a type and a file name
		 * taken from the stored metadata, here the decoded text. */
		web_media_type(one, mt, sizeof(mt));
		if (strlen(mt) >= sizeof(mt) || strchr(mt, ';') != NULL)
			abort();
		(void)web_is_text_type(mt);
		(void)web_image_type(mt, raw, n);
		web_safe_filename(one, file, sizeof(file));
		if (file[0] == '\0' || file[0] == '.' ||
		    strlen(file) >= sizeof(file) || !only(file, "._-"))
			abort();
	}
	if (web_user_segment(p, n, user) &&
	    (user[0] == '\0' || strlen(user) > 64 || !only(user, "_.@-") ||
		strspn(user, ".") == strlen(user)))
		abort();
	if (web_id_segment(p, n, &id) && id == 0)
		abort();
	if (web_export_id_valid(p, n) && n != WEB_EXPORT_ID_LEN)
		abort();
	if (web_valid_name(p, n) && (n == 0 || n > 64))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly `size` bytes, so that ASan sees any read past
	 * the end; plus a terminated one for the C-string functions. */
	char *q = malloc(size ? size : 1), *s = malloc(size + 1);
	uint64_t u;

	if (q == NULL || s == NULL) {
		free(q);
		free(s);
		return 0;
	}
	memcpy(q, data, size);
	memcpy(s, data, size);
	s[size] = '\0';
	query(q, size);
	path(q, size, data);
	if (web_parse_u64(s, &u) && strlen(s) == size && !only(s, ""))
		abort();
	free(q);
	free(s);
	return 0;
}
