/*
 * json_pointer.h — JSON Pointer (RFC 6901) lookups in jansson values.
 *
 * "" is the whole document, "/a/0/b" member "a", its element 0, its
 * member "b"; "~1" stands for '/' and "~0" for '~' inside a token. Array
 * indexes are decimal without leading zeros ("-" never matches).
 */
#ifndef DBS_JSON_POINTER_H
#define DBS_JSON_POINTER_H

#include <jansson.h>
#include <stdbool.h>

/* Whether `ptr` is a well-formed pointer. */
bool jptr_valid(const char *ptr);

/* The value `ptr` points to in `doc`, borrowed from it; NULL when there is
 * none (or `ptr` is malformed). */
const json_t *jptr_get(const json_t *doc, const char *ptr);

#endif
