/*
 * params.h — the string side of request parsing in databus-web (params.c):
 * query strings, path segments, names and ids, attachment names and
 * types. Pure functions of their arguments, without h2o, so that the
 * handlers and the fuzz target tests/fuzz/fuzz_api_query.c run the same
 * code.
 */
#ifndef DBS_WEB_PARAMS_H
#define DBS_WEB_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of an export id: lower-case hex. */
#define WEB_EXPORT_ID_LEN 32

/* A client or definition name (the rule of proto/names.h). */
bool web_valid_name(const char *s, size_t len);

/* A decimal number (digits only, no sign, no space) that fits 64 bits. */
bool web_parse_u64(const char *s, uint64_t *out);

/* Value of parameter `name` in the query string `query` (the bytes after
 * '?', qlen of them; NULL for none), percent-decoded and '+' as space
 * into buf (NUL-terminated); false when absent or when it does not fit
 * or does not decode (then *bad is set). */
bool web_query_lookup(const char *query, size_t qlen, const char *name,
    char *buf, size_t len, bool *bad);

/* The `cursor` and `limit` (1..limit_max) parameters of a listing in
 * `query` (as for web_query_lookup); *cursor and *limit keep their value
 * when absent. NULL on success, else the message of the 400 answer. */
const char *web_paging_parse(const char *query, size_t qlen, uint64_t *cursor,
    size_t *limit, size_t limit_max);

/* Percent-decode one path segment into out (NUL-terminated); false for a
 * bad escape, a NUL, an empty result or more than cap-1 bytes. */
bool web_decode_segment(const char *s, size_t len, char *out, size_t cap);

/* Split a path ("a/b/c", no leading slash) into at most `maxseg`
 * percent-decoded segments of `segcap` bytes each, segment k at
 * segs + k * segcap. Returns how many, or -1 when there are more, one is
 * empty or one does not decode. */
int web_path_segments(
    const char *p, size_t len, char *segs, size_t segcap, size_t maxseg);

/* A user name path segment, percent-decoded (a browser encodes '@'), that
 * follows the user name rule of proto/names.h. */
bool web_user_segment(const char *s, size_t len, char out[65]);

/* A passenger or log id segment: 1..19 digits, not zero. */
bool web_id_segment(const char *s, size_t len, uint64_t *id);

/* An export id: WEB_EXPORT_ID_LEN characters of [0-9a-f]. */
bool web_export_id_valid(const char *s, size_t len);

/* The media type of a Content-Type value, lower-cased, without
 * parameters and spaces, into out (cap bytes, NUL-terminated). */
void web_media_type(const char *ct, char *out, size_t cap);
/* A media type served as text/plain (never as HTML). */
bool web_is_text_type(const char *mt);
/* One of the images a browser shows inline when the bytes agree with
 * `mt` ("image/png", ...), else NULL. */
const char *web_image_type(const char *mt, const unsigned char *d, size_t n);
/* A file name safe in a header and on any file system: the last path
 * component, [A-Za-z0-9._-] kept, anything else '_', no leading dot,
 * "attachment" when nothing is left. */
void web_safe_filename(const char *name, char *out, size_t cap);

#endif
