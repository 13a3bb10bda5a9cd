/*
 * utf8.c — well-formed UTF-8 (utf8.h): one sequence, a whole string, and
 * the repaired copy that JSON output shows for bytes that are not text.
 */
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

size_t
dbs_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0; /* overlong */
		if (c == 0xed && s[1] >= 0xa0)
			return 0; /* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0; /* overlong */
		if (c == 0xf4 && s[1] >= 0x90)
			return 0; /* above U+10FFFF */
		return 4;
	}
	return 0;
}

size_t
dbs_utf8_put(char *o, const unsigned char *s, size_t n, size_t *used)
{
	size_t k = dbs_utf8_seq(s, n);

	if (k == 0) {
		*used = 1;
		memcpy(o, "\xef\xbf\xbd", 3);
		return 3;
	}
	*used = k;
	memcpy(o, s, k);
	return k;
}

bool
dbs_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < len) {
		if ((k = dbs_utf8_seq(p + i, len - i)) == 0)
			return false;
		i += k;
	}
	return true;
}

char *
dbs_utf8_repair(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, k;
	char *out = malloc(n * 3 + 1), *o = out;

	if (out == NULL)
		return NULL;
	while (i < n) {
		o += dbs_utf8_put(o, p + i, n - i, &k);
		i += k;
	}
	*o = '\0';
	return out;
}
