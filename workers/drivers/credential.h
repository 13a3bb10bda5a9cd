/*
 * credential.h — settings that hold a secret (a password, a token).
 *
 * A secret in a client file is either the literal value or "env:NAME",
 * which reads the environment variable NAME of databus-worker (inherited
 * from databusd) when the driver starts, so the file itself need not hold
 * the password. A variable that is unset or empty is a configuration
 * error, reported by name but never with its value.
 */
#ifndef DBS_CREDENTIAL_H
#define DBS_CREDENTIAL_H

#include <jansson.h>
#include <stddef.h>

/*
 * Read the optional secret `key` of `settings` into *out: NULL when the
 * key is absent, otherwise a new string the caller frees with
 * cred_free() (which wipes it). Returns DBS_OK, DBS_ENOMEM, or
 * DBS_ECONFIG with "<key>: ..." in `err`.
 */
int cred_setting(const json_t *settings, const char *key, char **out,
    char *err, size_t errlen);

/* Overwrite and free a secret. Accepts NULL. */
void cred_free(char *secret);

#endif
