/*
 * test_json_pointer.c — RFC 6901 JSON Pointer evaluation
 * (workers/drivers/json_pointer.c), with the examples of the RFC's section 5.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "drivers/json_pointer.h"

static const char *rfc_doc =
    "{\"foo\": [\"bar\", \"baz\"], \"\": 0, \"a/b\": 1, \"c%d\": 2,"
    " \"e^f\": 3, \"g|h\": 4, \"i\\\\j\": 5, \"k\\\"l\": 6, \" \": 7,"
    " \"m~n\": 8}";

static void
test_rfc_examples(void **state)
{
	json_t *doc = json_loads(rfc_doc, 0, NULL);
	static const struct {
		const char *ptr;
		int value;
	} ints[] = {{"/", 0}, {"/a~1b", 1}, {"/c%d", 2}, {"/e^f", 3},
	    {"/g|h", 4}, {"/i\\j", 5}, {"/k\"l", 6}, {"/ ", 7}, {"/m~0n", 8}};
	size_t i;

	assert_non_null(doc);
	assert_ptr_equal(jptr_get(doc, ""), doc);
	assert_string_equal(json_string_value(jptr_get(doc, "/foo/0")), "bar");
	assert_string_equal(json_string_value(jptr_get(doc, "/foo/1")), "baz");
	assert_true(json_is_array(jptr_get(doc, "/foo")));
	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		assert_int_equal(
		    json_integer_value(jptr_get(doc, ints[i].ptr)),
		    ints[i].value);
	json_decref(doc);
}

static void
test_misses_and_malformed(void **state)
{
	json_t *doc = json_loads(rfc_doc, 0, NULL);

	assert_null(jptr_get(doc, "/nope"));
	assert_null(jptr_get(doc, "/foo/2"));   /* past the end */
	assert_null(jptr_get(doc, "/foo/01"));  /* leading zero */
	assert_null(jptr_get(doc, "/foo/-"));   /* "-" never matches */
	assert_null(jptr_get(doc, "/foo/0/x")); /* into a string */
	assert_null(jptr_get(doc, "foo"));      /* no leading '/' */
	assert_null(jptr_get(doc, "/m~2n"));    /* bad escape */
	assert_false(jptr_valid("foo"));
	assert_false(jptr_valid("/a~"));
	assert_true(jptr_valid(""));
	assert_true(jptr_valid("/a~0~1/b"));
	json_decref(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc_examples),
	    cmocka_unit_test(test_misses_and_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
