/*
 * config_secrets.c — the secrets of client files, hidden and put back
 * (used by config_save.c, fuzzed by tests/fuzz/fuzz_config_secrets).
 *
 * A client file may hold secrets in clear text: users' initial passwords,
 * drivers' credentials. They never leave databusd: what the web shows, and
 * what the store keeps as a backup, has CFG_PASSWORD_MARKER in place of
 * each. A save puts the stored value back wherever the marker was left,
 * taking it from the same place in the file as it is, array elements
 * matched by "name" or "username" so that reordering is safe.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_secrets.h"
#include "dbs_error.h"

char *
cfgsec_dump(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	char *t;

	if (s == NULL)
		return NULL;
	if (asprintf(&t, "%s\n", s) < 0)
		t = NULL;
	free(s);
	return t;
}

/*
 * Secrets: the value of any member named password, secret, token,
 * api_key or authorization (any case), anywhere in a client file: users'
 * passwords, and drivers' credentials (a webhook's HMAC secret, an HTTP
 * Authorization header, ...).
 */
static bool
secret_key(const char *key)
{
	static const char *const names[] = {
	    "password", "secret", "token", "api_key", "authorization", NULL};
	/* ... and any name ending in one of these (client_secret,
	 * refresh_token of the mail drivers' oauth2, ...). */
	static const char *const suffixes[] = {
	    "_password", "_secret", "_token", NULL};
	size_t len = strlen(key);

	for (size_t i = 0; names[i] != NULL; i++)
		if (strcasecmp(key, names[i]) == 0)
			return true;
	for (size_t i = 0; suffixes[i] != NULL; i++) {
		size_t n = strlen(suffixes[i]);

		if (len > n && strcasecmp(key + len - n, suffixes[i]) == 0)
			return true;
	}
	return false;
}

static bool
is_marker(const json_t *v)
{
	return json_is_string(v) &&
	       strcmp(json_string_value(v), CFG_PASSWORD_MARKER) == 0;
}

/* Replace every secret string under v by the marker; true if any. */
static bool
redact_value(json_t *v)
{
	bool changed = false;
	const char *key;
	json_t *m;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, key, m)
		{
			if (secret_key(key) && json_is_string(m)) {
				json_object_set_new(
				    v, key, json_string(CFG_PASSWORD_MARKER));
				changed = true;
			} else {
				changed |= redact_value(m);
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m) changed |= redact_value(m);
	}
	return changed;
}

/*
 * A client file's text with every secret replaced by the marker. Text
 * without secrets comes back as it is (a copy); text that does not parse
 * is refused, since it might hold a password in clear.
 */
int
cfgsec_redact(const char *shown, const char *text, size_t len, char **out,
    char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root;

	*out = NULL;
	root = json_loadb(text, len, 0, &jerr);
	if (root == NULL) {
		snprintf(err, errlen,
		    "%s: line %d column %d: %s (the file on disk does not "
		    "parse; it is not shown, since it may hold passwords in "
		    "clear: fix it, or save over it with an empty version)",
		    shown, jerr.line, jerr.column, jerr.text);
		return DBS_ECONFIG;
	}
	*out = redact_value(root) ? cfgsec_dump(root) : strndup(text, len);
	json_decref(root);
	return *out != NULL ? DBS_OK : DBS_ENOMEM;
}

/* The element of the old array that stands for element `e` of the new
 * one: the one with the same "name" (definitions, drivers) or "username"
 * (users), else the one at the same index. */
static json_t *
counterpart(json_t *old, json_t *e, size_t i)
{
	static const char *const ids[] = {"name", "username", NULL};
	json_t *o;
	size_t k;

	for (size_t n = 0; ids[n] != NULL; n++) {
		const char *want =
		    json_string_value(json_object_get(e, ids[n]));

		if (want == NULL)
			continue;
		json_array_foreach(old, k, o)
		{
			const char *have =
			    json_string_value(json_object_get(o, ids[n]));

			if (have != NULL && strcmp(have, want) == 0)
				return o;
		}
		return NULL;
	}
	return json_array_get(old, i);
}

/*
 * Put back, under v, the stored secret of every member left as the
 * marker, taken from the same place in `old` (the file as it is), where
 * array elements are matched by name. Returns false with `err` naming the
 * JSON path when a marker has no stored value behind it.
 */
static bool
unredact_value(json_t *v, json_t *old, const char *jpath, bool *changed,
    const char *shown, char *err, size_t errlen)
{
	char sub[512];
	const char *key;
	json_t *m;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, key, m)
		{
			json_t *om = json_object_get(old, key);

			snprintf(sub, sizeof(sub), "%s.%s", jpath, key);
			if (secret_key(key) && is_marker(m)) {
				if (!json_is_string(om) || is_marker(om)) {
					snprintf(err, errlen,
					    "%s: %s: \"%s\" stands for the "
					    "stored value, but the file holds "
					    "none there: type the value",
					    shown, sub, CFG_PASSWORD_MARKER);
					return false;
				}
				json_object_set(v, key, om);
				*changed = true;
			} else if (!unredact_value(m, om, sub, changed, shown,
				       err, errlen)) {
				return false;
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m)
		{
			snprintf(sub, sizeof(sub), "%s[%zu]", jpath, i);
			if (!unredact_value(m, counterpart(old, m, i), sub,
				changed, shown, err, errlen))
				return false;
		}
	}
	return true;
}

/*
 * The new text of a client file, with the stored secrets put back where
 * the markers were left. Text that does not parse comes back as it is:
 * the loader reports it.
 */
int
cfgsec_unredact(const char *shown, const char *text, size_t len,
    const char *old, size_t old_len, char **out, char *err, size_t errlen)
{
	json_t *root, *oroot;
	bool changed = false;
	int rc = DBS_OK;

	*out = NULL;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	if (root == NULL)
		return (*out = strndup(text, len)) != NULL ? DBS_OK
							   : DBS_ENOMEM;
	oroot = old != NULL ? json_loadb(old, old_len, 0, NULL) : NULL;
	if (!unredact_value(root, oroot, "$", &changed, shown, err, errlen)) {
		rc = DBS_ECONFIG;
		goto out;
	}
	*out = changed ? cfgsec_dump(root) : strndup(text, len);
	if (*out == NULL)
		rc = DBS_ENOMEM;
out:
	json_decref(root);
	json_decref(oroot);
	return rc;
}
