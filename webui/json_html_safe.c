/*
 * json_html_safe.c — JSON answers never carry a raw '<', '>' or '&'.
 *
 * Those characters can only occur inside JSON strings, so each one is
 * replaced by its \u escape on the serialized text: the document parses
 * to the same value, and a JSON answer that a browser or a proxy would
 * sniff, or that code pastes into a page, holds no markup ("</script>",
 * "<img onerror=...>"). Answers without such a character (nearly all)
 * are sent as they are, without a copy.
 */
#include <string.h>

#include "web.h"

h2o_iovec_t
web_json_html_safe(h2o_mem_pool_t *pool, const char *text, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0, i;
	char *out, *o;

	for (i = 0; i < len; i++)
		n += text[i] == '<' || text[i] == '>' || text[i] == '&';
	if (n == 0)
		return h2o_iovec_init(text, len);
	o = out = h2o_mem_alloc_pool(pool, len + 5 * n);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c != '<' && c != '>' && c != '&') {
			*o++ = (char)c;
			continue;
		}
		memcpy(o, "\\u00", 4);
		o[4] = hex[c >> 4];
		o[5] = hex[c & 15];
		o += 6;
	}
	return h2o_iovec_init(out, (size_t)(o - out));
}
