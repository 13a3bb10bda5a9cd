/*
 * json_pointer.c — RFC 6901 JSON Pointer evaluation (see json_pointer.h).
 */
#include "json_pointer.h"

#include <stdlib.h>
#include <string.h>

bool
jptr_valid(const char *ptr)
{
	const char *s;

	if (ptr[0] == '\0')
		return true;
	if (ptr[0] != '/')
		return false;
	for (s = ptr; *s != '\0'; s++)
		if (*s == '~' && s[1] != '0' && s[1] != '1')
			return false;
	return true;
}

/* Decode the token in [s, end) into `out` (at most as long). */
static void
token(const char *s, const char *end, char *out)
{
	while (s < end) {
		if (*s == '~') {
			*out++ = s[1] == '1' ? '/' : '~';
			s += 2;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

static bool
array_index(const char *tok, size_t *out)
{
	char *end;
	unsigned long long n;

	if (tok[0] < '0' || tok[0] > '9' || (tok[0] == '0' && tok[1] != '\0'))
		return false;
	n = strtoull(tok, &end, 10);
	if (*end != '\0')
		return false;
	*out = (size_t)n;
	return true;
}

const json_t *
jptr_get(const json_t *doc, const char *ptr)
{
	const json_t *cur = doc;
	const char *s = ptr;
	char *tok;
	size_t idx;

	if (!jptr_valid(ptr))
		return NULL;
	tok = malloc(strlen(ptr) + 1);
	if (tok == NULL)
		return NULL;
	while (cur != NULL && *s == '/') {
		const char *end = strchr(s + 1, '/');

		if (end == NULL)
			end = s + strlen(s);
		token(s + 1, end, tok);
		if (json_is_object(cur))
			cur = json_object_get(cur, tok);
		else if (json_is_array(cur) && array_index(tok, &idx))
			cur = json_array_get(cur, idx);
		else
			cur = NULL;
		s = end;
	}
	free(tok);
	return cur;
}
