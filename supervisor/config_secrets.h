/*
 * config_secrets.h — hiding and restoring the secrets of a client file.
 *
 * A secret is the string value of any member named password, secret,
 * token, api_key or authorization (any case), anywhere in the document.
 */
#ifndef DBS_CONFIG_SECRETS_H
#define DBS_CONFIG_SECRETS_H

#include <jansson.h>
#include <stddef.h>

#define CFG_PASSWORD_MARKER "********"

/* `v` as indented JSON text with a final newline (malloc'ed), or NULL. */
char *cfgsec_dump(json_t *v);

/*
 * *out (malloc'ed) = `text` with every secret replaced by the marker; a
 * copy of `text` when it holds none. Text that does not parse is refused
 * with DBS_ECONFIG and `err` ("<shown>: line L column C: ..."): it might
 * hold a password in clear.
 */
int cfgsec_redact(const char *shown, const char *text, size_t len, char **out,
    char *err, size_t errlen);

/*
 * *out (malloc'ed) = `text` with the stored value (from `old`, the file as
 * it is; may be NULL) put back wherever the marker was left. Text that
 * does not parse comes back as it is (the loader will report it). A marker
 * with no stored value behind it gives DBS_ECONFIG with `err` naming its
 * JSON path.
 */
int cfgsec_unredact(const char *shown, const char *text, size_t len,
    const char *old, size_t old_len, char **out, char *err, size_t errlen);

#endif
