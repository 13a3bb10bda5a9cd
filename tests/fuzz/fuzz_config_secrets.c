/*
 * fuzz_config_secrets.c — libFuzzer target for the hiding and restoring of
 * client file secrets (supervisor/config_secrets.c).
 *
 * The input is two JSON texts separated by a NUL byte: the file as it is
 * (old) and the content a web user saves (new). Beyond "no crash, no
 * leak", it checks the property the web relies on: whatever redaction
 * lets out holds no secret but the marker.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_secrets.h"
#include "dbs_error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
is_secret(const char *key)
{
	static const char *const names[] = {
	    "password", "secret", "token", "api_key", "authorization", NULL};

	for (size_t i = 0; names[i] != NULL; i++)
		if (strcasecmp(key, names[i]) == 0)
			return true;
	return false;
}

/* Abort when a secret member holds anything but the marker. */
static void
check_hidden(const json_t *v)
{
	const char *key;
	json_t *m;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, m)
		{
			if (is_secret(key) && json_is_string(m) &&
			    strcmp(json_string_value(m),
				CFG_PASSWORD_MARKER) != 0)
				abort();
			check_hidden(m);
		}
	} else if (json_is_array(v)) {
		json_array_foreach((json_t *)v, i, m) check_hidden(m);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const uint8_t *nul = memchr(data, 0, size);
	size_t old_len = nul != NULL ? (size_t)(nul - data) : size;
	const char *new_text = nul != NULL ? (const char *)nul + 1 : "";
	size_t new_len = nul != NULL ? size - old_len - 1 : 0;
	char err[512], *red = NULL, *out = NULL;
	json_t *doc;

	if (cfgsec_redact("fuzz.json", text, old_len, &red, err,
		sizeof(err)) == DBS_OK) {
		if ((doc = json_loads(red, JSON_DECODE_ANY, NULL)) != NULL) {
			check_hidden(doc);
			json_decref(doc);
		}
		/* Saving what was shown gives the secrets back. */
		(void)cfgsec_unredact("fuzz.json", red, strlen(red), text,
		    old_len, &out, err, sizeof(err));
		free(out);
		out = NULL;
	}
	(void)strlen(err);
	(void)cfgsec_unredact("fuzz.json", new_text, new_len, text, old_len,
	    &out, err, sizeof(err));
	free(red);
	free(out);
	return 0;
}
