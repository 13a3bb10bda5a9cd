/*
 * test_names.c — the name rules of proto/names.h, one table of names with
 * the answer for each kind: what databusd, databusctl and databus-web all
 * accept. tests/system/test_names.py checks the processes against the
 * same kind of list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"

struct name_case {
	const char *name;
	bool entity; /* a valid client or definition name */
	bool user;   /* a valid user name */
};

static const struct name_case cases[] = {
    {"acme", true, true},
    {"a", true, true},
    {"Acme_2-x", true, true},
    {"-", true, true},
    {"ops+alerts@x.com", false, true},
    {"first.last", false, true},
    {"a@b", false, true},
    {"a+b", false, true},
    {"a..b", false, true},
    {".hidden", false, true},
    {"", false, false},
    {".", false, false},
    {"..", false, false},
    {"...", false, false},
    {"a/b", false, false},
    {"../etc", false, false},
    {"a b", false, false},
    {"caf\xc3\xa9", false, false},
    {"\xe2\x82\xac", false, false},
    {"a%40b", false, false},
    {"a\\b", false, false},
    {"a:b", false, false},
    {"a\"b", false, false},
    {"a\nb", false, false},
};

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct name_case *c = &cases[i];
		size_t n = strlen(c->name);

		if (dbs_name_ok(c->name, n) != c->entity)
			fail_msg("name \"%s\": expected %s", c->name,
			    c->entity ? "valid" : "invalid");
		if (dbs_user_name_ok(c->name, n) != c->user)
			fail_msg("user name \"%s\": expected %s", c->name,
			    c->user ? "valid" : "invalid");
	}
}

static void
test_lengths(void **state)
{
	char s[DBS_NAME_MAX + 2];

	(void)state;
	memset(s, 'x', sizeof(s));
	assert_true(dbs_name_ok(s, DBS_NAME_MAX));
	assert_true(dbs_user_name_ok(s, DBS_NAME_MAX));
	assert_false(dbs_name_ok(s, DBS_NAME_MAX + 1));
	assert_false(dbs_user_name_ok(s, DBS_NAME_MAX + 1));
	memset(s, '.', sizeof(s));
	assert_false(dbs_user_name_ok(s, DBS_NAME_MAX));
	s[DBS_NAME_MAX - 1] = 'x';
	assert_true(dbs_user_name_ok(s, DBS_NAME_MAX));
}

/* The length is the whole name: a NUL inside is a byte like any other,
 * and refused; bytes past the length are not looked at. */
static void
test_embedded_nul(void **state)
{
	(void)state;
	assert_false(dbs_name_ok("ab\0cd", 5));
	assert_false(dbs_user_name_ok("ab\0cd", 5));
	assert_true(dbs_name_ok("ab/cd", 2));
	assert_true(dbs_user_name_ok("ab..", 2));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_lengths),
	    cmocka_unit_test(test_embedded_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
