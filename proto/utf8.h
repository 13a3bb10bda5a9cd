/*
 * utf8.h — the one UTF-8 check of Databus (utf8.c), used wherever bytes
 * from outside become a protobuf string or a JSON string: drivers' names
 * and metadata (workers), the JSON of records (record_json.c,
 * json_writer.c), databusctl's output.
 *
 * The rule is RFC 3629 as jansson applies it: no overlong forms, no
 * surrogates, nothing above U+10FFFF. Pure functions of their arguments.
 */
#ifndef DBS_UTF8_H
#define DBS_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1 to 4) of the well-formed sequence that starts s, of which n
 * bytes (n >= 1) are available, or 0 when s starts none. */
size_t dbs_utf8_seq(const unsigned char *s, size_t n);

/* Copy the sequence that starts s (n >= 1 bytes available) to o, or
 * U+FFFD when s starts none; returns the bytes written to o (at most 4)
 * and sets *used to the bytes of s taken (1 for a bad byte). */
size_t dbs_utf8_put(char *o, const unsigned char *s, size_t n, size_t *used);

/* Whether s[0..len) is well-formed UTF-8. */
bool dbs_utf8_valid(const char *s, size_t len);

/* A malloc'd, NUL-terminated copy of the string s with U+FFFD in place of
 * every byte that starts no well-formed sequence; NULL when out of
 * memory. The caller frees it. */
char *dbs_utf8_repair(const char *s);

#endif
