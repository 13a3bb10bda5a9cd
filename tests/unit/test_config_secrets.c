/*
 * test_config_secrets.c — which members of a client file the web never
 * shows (supervisor/config_secrets.c: cfgsec_redact): the fixed names, any
 * name ending in _password, _secret or _token, and nothing else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "config_secrets.h"
#include "dbs_error.h"

/* The value of `key` in the redacted form of {key: "s3cr3t"}. */
static char *
shown_as(const char *key)
{
	char text[256], err[256], *out = NULL;
	json_t *root, *v;
	char *got;

	snprintf(text, sizeof(text), "{\"a\":[{\"%s\":\"s3cr3t\"}]}", key);
	assert_int_equal(cfgsec_redact("test.json", text, strlen(text), &out,
			     err, sizeof(err)),
	    DBS_OK);
	root = json_loads(out, 0, NULL);
	assert_non_null(root);
	v = json_object_get(
	    json_array_get(json_object_get(root, "a"), 0), key);
	got = strdup(json_string_value(v));
	json_decref(root);
	free(out);
	return got;
}

static void
expect(const char *key, bool hidden)
{
	char *v = shown_as(key);

	assert_string_equal(v, hidden ? "********" : "s3cr3t");
	free(v);
}

static void
test_names(void **state)
{
	(void)state;
	expect("password", true);
	expect("Secret", true);
	expect("token", true);
	expect("api_key", true);
	expect("authorization", true);
	/* The oauth2 settings of the mail drivers, and their kind. */
	expect("client_secret", true);
	expect("refresh_token", true);
	expect("current_password", true);
	expect("ACCESS_TOKEN", true);
	/* Names that only look alike stay shown. */
	expect("token_url", false);
	expect("token_header", false);
	expect("secret_env", false);
	expect("_token_", false);
	expect("username", false);
}

static void
test_bare_suffix_is_not_a_name(void **state)
{
	(void)state;
	/* "_token" alone is not "x_token": nothing before the suffix. */
	expect("_token", false);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_bare_suffix_is_not_a_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
