/*
 * test_drv_json.c — unit tests of the JSON forms the HTTP and exec drivers
 * exchange (workers/drivers/drv_json.c): base64 both ways, attachments as text
 * or base64, the passenger document (deterministic, so a retried push sends
 * the same bytes), and refusals of malformed attachment objects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dbs_error.h"
#include "drivers/drv_json.h"

static void
test_base64_roundtrip(void **state)
{
	unsigned char buf[300];
	static const char *const known[][2] = {{"", ""}, {"f", "Zg=="},
	    {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
	    {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		char *enc =
		    drv_base64_encode(known[i][0], strlen(known[i][0]));
		void *dec;
		size_t len;

		assert_string_equal(enc, known[i][1]);
		assert_int_equal(
		    drv_base64_decode(enc, strlen(enc), &dec, &len), DBS_OK);
		assert_int_equal(len, strlen(known[i][0]));
		assert_memory_equal(dec, known[i][0], len);
		free(enc);
		free(dec);
	}
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	for (size_t n = 0; n <= sizeof(buf); n += 13) {
		char *enc = drv_base64_encode(buf, n);
		void *dec;
		size_t len;

		assert_int_equal(
		    drv_base64_decode(enc, strlen(enc), &dec, &len), DBS_OK);
		assert_int_equal(len, n);
		if (n > 0)
			assert_memory_equal(dec, buf, n);
		free(enc);
		free(dec);
	}
}

static void
test_base64_refuses_garbage(void **state)
{
	void *dec = (void *)1;
	size_t len = 1;

	assert_int_equal(
	    drv_base64_decode("Zm9v!", 5, &dec, &len), DBS_EINVAL);
	assert_null(dec);
	assert_int_equal(len, 0);
}

static void
test_attachment_forms(void **state)
{
	struct drv_attachment text = {"a.txt", "text/plain", "héllo", 6};
	struct drv_attachment bin = {"b.bin", NULL, "\x00\xff\x01", 3};
	json_t *jt = drv_json_attachment(&text),
	       *jb = drv_json_attachment(&bin);
	struct drv_attachment out;
	void *data;
	char err[200];

	assert_string_equal(
	    json_string_value(json_object_get(jt, "text")), "héllo");
	assert_null(json_object_get(jt, "base64"));
	assert_string_equal(
	    json_string_value(json_object_get(jb, "base64")), "AP8B");
	assert_string_equal(
	    json_string_value(json_object_get(jb, "content_type")),
	    "application/octet-stream");
	assert_int_equal(json_integer_value(json_object_get(jb, "size")), 3);

	assert_int_equal(
	    drv_json_attachment_decode(jb, &out, &data, err, sizeof(err)),
	    DBS_OK);
	assert_int_equal(out.len, 3);
	assert_memory_equal(out.data, "\x00\xff\x01", 3);
	free(data);
	assert_int_equal(
	    drv_json_attachment_decode(jt, &out, &data, err, sizeof(err)),
	    DBS_OK);
	assert_int_equal(out.len, 6);
	assert_null(data);
	json_decref(jt);
	json_decref(jb);
}

static void
test_attachment_refusals(void **state)
{
	static const char *const bad[] = {"[]", "{}", "{\"name\": \"a\"}",
	    "{\"name\": \"\", \"text\": \"x\"}",
	    "{\"name\": \"a\", \"text\": \"x\", \"base64\": \"eA==\"}",
	    "{\"name\": \"a\", \"base64\": \"%%%\"}"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = json_loads(bad[i], 0, NULL);
		struct drv_attachment out;
		void *data;
		char err[200] = "";

		assert_non_null(j);
		assert_int_equal(drv_json_attachment_decode(
				     j, &out, &data, err, sizeof(err)),
		    DBS_EINVAL);
		assert_true(err[0] != '\0');
		assert_null(data);
		json_decref(j);
	}
}

static void
test_passenger_deterministic(void **state)
{
	struct drv_kv md[] = {{"b", "2"}, {"a", "1"}};
	struct drv_attachment att[] = {
	    {"x.json", "application/json", "{}", 2}};
	struct drv_passenger p = {.id = 7,
	    .client = "acme",
	    .definition = "d",
	    .puller = "p",
	    .external_id = "e-1",
	    .attempts = 1,
	    .metadata = md,
	    .n_metadata = 2,
	    .attachments = att,
	    .n_attachments = 1};
	json_t *a = drv_json_passenger(&p), *b;
	char *sa, *sb;

	p.attempts = 5; /* not part of the document */
	b = drv_json_passenger(&p);
	sa = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
	sb = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(sa, sb);
	assert_string_equal(sa,
	    "{\"attachments\":[{\"content_type\":\"application/json\","
	    "\"name\":\"x.json\",\"size\":2,\"text\":\"{}\"}],"
	    "\"client\":\"acme\",\"definition\":\"d\",\"external_id\":"
	    "\"e-1\",\"id\":7,\"metadata\":{\"a\":\"1\",\"b\":\"2\"},"
	    "\"puller\":\"p\"}");
	free(sa);
	free(sb);
	json_decref(a);
	json_decref(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base64_roundtrip),
	    cmocka_unit_test(test_base64_refuses_garbage),
	    cmocka_unit_test(test_attachment_forms),
	    cmocka_unit_test(test_attachment_refusals),
	    cmocka_unit_test(test_passenger_deterministic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
