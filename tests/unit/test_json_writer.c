/*
 * test_json_writer.c — unit tests of proto/json_writer.c.
 *
 * The writer promises the very text that jansson's json_dumps(...,
 * JSON_COMPACT) gives for the trees of record_json.c, so most tests are
 * differential: the same input through both, byte for byte. Inputs come
 * from a fixed-seed generator biased towards what breaks writers (control
 * characters, quotes, backslashes, truncated, overlong and surrogate UTF-8
 * sequences, bytes above 0xF4, repeated and invalid metadata keys, times
 * at the edges of the calendar). Every output must also parse back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_writer.h"
#include "record_json.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(void)
{
	/* xorshift64*: reproducible from the fixed seed. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static unsigned
below(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* A NUL-terminated string of 0..max bytes (never NUL inside) mixing the
 * cases a JSON writer gets wrong. Caller frees. */
static char *
rand_string(size_t max)
{
	static const char *const pieces[] = {"\"", "\\", "/", "\b", "\f", "\n",
	    "\r", "\t", "\x01", "\x1f", "\x7f", "é", "€", "😀", "\xc3",
	    "\xe2\x82", "\xf0\x9f\x98", "\xc0\xaf", "\xe0\x80\xaf",
	    "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf5", "\xff", "\x80",
	    "\xef\xbf\xbd", "\xe2\x80\xa8", "<script>", "a", "Z", " "};
	size_t n = below((unsigned)max + 1), len = 0;
	char *s = malloc(max * 5 + 1);

	assert_non_null(s);
	while (len < n) {
		if (below(3) == 0) {
			s[len++] = (char)(1 + below(255));
		} else {
			const char *p =
			    pieces[below(sizeof(pieces) / sizeof(pieces[0]))];

			memcpy(s + len, p, strlen(p));
			len += strlen(p);
		}
	}
	s[len] = '\0';
	return s;
}

/* jansson's compact text of a tree (consumed). */
static char *
dump(json_t *v)
{
	char *t;

	assert_non_null(v);
	t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(v);
	assert_non_null(t);
	return t;
}

static void
parses(const struct jw *w)
{
	json_error_t err;
	json_t *v = json_loads(w->buf, JSON_DECODE_ANY, &err);

	if (v == NULL)
		fail_msg("writer output does not parse: %s in %s", err.text,
		    w->buf);
	json_decref(v);
}

/* ------------------------------------------------------------ strings */

static void
test_every_byte(void **state)
{
	struct jw w;
	char s[4];
	char *want;
	int c;

	(void)state;
	jw_init(&w);
	for (c = 1; c < 256; c++) {
		s[0] = 'x';
		s[1] = (char)c;
		s[2] = 'y';
		s[3] = '\0';
		jw_reset(&w);
		jw_str(&w, s);
		assert_true(jw_ok(&w));
		want = dump(rj_string(s));
		if (strcmp(w.buf, want) != 0)
			fail_msg("byte 0x%02x: writer %s, jansson %s", c,
			    w.buf, want);
		free(want);
		parses(&w);
	}
	jw_free(&w);
}

static void
test_random_strings(void **state)
{
	struct jw w;
	char *s, *want;
	int i;

	(void)state;
	jw_init(&w);
	for (i = 0; i < 20000; i++) {
		s = rand_string(24);
		jw_reset(&w);
		jw_str(&w, s);
		want = dump(rj_string(s));
		assert_string_equal(w.buf, want);
		assert_int_equal(w.len, strlen(want));
		parses(&w);
		free(want);
		free(s);
	}
	jw_free(&w);
}

static void
test_strn_stops_at_length(void **state)
{
	struct jw w;

	(void)state;
	jw_init(&w);
	/* A sequence cut by the length is invalid, even if more follows. */
	jw_strn(&w, "ab\xc3\xa9", 3);
	assert_string_equal(w.buf, "\"ab\xef\xbf\xbd\"");
	jw_reset(&w);
	jw_str(&w, NULL);
	assert_string_equal(w.buf, "\"\"");
	jw_free(&w);
}

/* ------------------------------------------------- numbers and shapes */

static void
test_numbers(void **state)
{
	static const int64_t iv[] = {0, 1, -1, 9, 10, -10, 1234567890123LL,
	    INT64_MAX, INT64_MIN, INT64_MIN + 1};
	static const uint64_t uv[] = {0, 1, 99, (uint64_t)INT64_MAX,
	    (uint64_t)INT64_MAX + 1, UINT64_MAX};
	struct jw w;
	char want[32];
	size_t i;

	(void)state;
	jw_init(&w);
	for (i = 0; i < sizeof(iv) / sizeof(iv[0]); i++) {
		jw_reset(&w);
		jw_i64(&w, iv[i]);
		snprintf(want, sizeof(want), "%lld", (long long)iv[i]);
		assert_string_equal(w.buf, want);
	}
	for (i = 0; i < sizeof(uv) / sizeof(uv[0]); i++) {
		jw_reset(&w);
		jw_u64(&w, uv[i]);
		snprintf(want, sizeof(want), "%llu",
		    (unsigned long long)(uv[i] > INT64_MAX ? INT64_MAX
							   : uv[i]));
		assert_string_equal(w.buf, want);
	}
	jw_free(&w);
}

static void
test_structure(void **state)
{
	struct jw w;

	(void)state;
	jw_init(&w);
	jw_obj_begin(&w);
	jw_key(&w, "a");
	jw_arr_begin(&w);
	jw_u64(&w, 1);
	jw_obj_begin(&w);
	jw_obj_end(&w);
	jw_arr_begin(&w);
	jw_arr_end(&w);
	jw_null(&w);
	jw_bool(&w, true);
	jw_bool(&w, false);
	jw_arr_end(&w);
	jw_key(&w, "b\"");
	jw_str(&w, "x");
	jw_key(&w, "t");
	jw_time(&w, 0);
	jw_obj_end(&w);
	assert_true(jw_ok(&w));
	assert_string_equal(w.buf,
	    "{\"a\":[1,{},[],null,true,false],\"b\\\"\":\"x\",\"t\":null}");
	parses(&w);
	/* Reset starts a new document: no stray comma. */
	jw_reset(&w);
	jw_u64(&w, 7);
	assert_string_equal(w.buf, "7");
	/* Trim below the capacity frees, and the writer still works. */
	jw_trim(&w, 0);
	assert_null(w.buf);
	jw_arr_begin(&w);
	jw_arr_end(&w);
	assert_string_equal(w.buf, "[]");
	jw_free(&w);
}

/* --------------------------------------------------------------- times */

static void
check_time(int64_t ms)
{
	char a[RJ_TIME_LEN], b[JW_TIME_LEN];
	size_t n = jw_time_iso(ms, b);

	rj_time_iso(ms, a);
	if (strcmp(a, b) != 0)
		fail_msg("time %lld: writer \"%s\", rj \"%s\"", (long long)ms,
		    b, a);
	assert_int_equal(n, strlen(b));
}

static void
test_times(void **state)
{
	/* Year 0 begins at -62167219200000; year 9999 ends before
	 * 253402300800000. */
	static const int64_t edges[] = {0, 1, -1, 999, 1000, -1000, -1001,
	    86399999, 86400000, -86400000, -86400001, 951782400000LL,
	    4107542399999LL, -62167219200000LL, -62167219200001LL,
	    253402300799999LL, 253402300800000LL, INT64_MAX, INT64_MIN,
	    INT64_MAX / 1000, INT64_MIN / 1000};
	struct jw w;
	char *want;
	size_t i;
	int k;

	(void)state;
	for (i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		check_time(edges[i]);
	for (k = 0; k < 200000; k++) {
		/* Mostly within the calendar, some far outside it. */
		int64_t ms =
		    (int64_t)(rnd() % 320000000000000ULL) - 70000000000000LL;

		if (k % 16 == 0)
			ms = (int64_t)rnd();
		check_time(ms);
	}
	jw_init(&w);
	for (i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		jw_reset(&w);
		jw_time(&w, edges[i]);
		want = dump(rj_time(edges[i]));
		assert_string_equal(w.buf, want);
		free(want);
	}
	/* Runs of nearby times go through jw_time's same-second cache,
	 * across second, day and epoch boundaries, in both directions. */
	for (i = 0; i < 3; i++) {
		static const int64_t base[] = {0, 951868799000LL, -86400000};

		for (k = -2500; k <= 2500; k += 7) {
			int64_t ms = base[i] + (i == 1 ? k : -k);

			jw_reset(&w);
			jw_time(&w, ms);
			want = dump(rj_time(ms));
			assert_string_equal(w.buf, want);
			free(want);
		}
	}
	jw_free(&w);
}

/* ----------------------------------------------------------- passengers */

static char *
pick_key(char **pool, size_t n)
{
	/* Few distinct keys, so that repeats are common. */
	return strdup(pool[below((unsigned)n)]);
}

static Dbs__Passenger *
rand_passenger(void)
{
	Dbs__Passenger *p = calloc(1, sizeof(*p));
	char *keys[6];
	size_t i, nk;

	assert_non_null(p);
	dbs__passenger__init(p);
	p->id = below(4) == 0 ? rnd() : rnd() % 5000000;
	p->client = rand_string(12);
	p->definition = rand_string(12);
	p->puller = rand_string(8);
	p->external_id = rand_string(40);
	p->state = (Dbs__PassengerState)below(5); /* 3, 4: unknown */
	p->n_steps = below(5);
	p->steps = calloc(p->n_steps + 1, sizeof(*p->steps));
	for (i = 0; i < p->n_steps; i++) {
		Dbs__Step *s = calloc(1, sizeof(*s));

		dbs__step__init(s);
		s->name = rand_string(10);
		s->kind = (Dbs__StepKind)below(4);
		s->state = (Dbs__StepState)below(5);
		s->attempts = (uint32_t)rnd();
		s->updated_ms = below(3) == 0 ? 0 : (int64_t)(rnd() >> 22);
		s->error = rand_string(30);
		p->steps[i] = s;
	}
	p->n_attachments = below(4);
	p->attachments = calloc(p->n_attachments + 1, sizeof(*p->attachments));
	for (i = 0; i < p->n_attachments; i++) {
		Dbs__AttachmentMeta *m = calloc(1, sizeof(*m));

		dbs__attachment_meta__init(m);
		m->name = rand_string(10);
		m->size = rnd();
		m->content_type = rand_string(10);
		p->attachments[i] = m;
	}
	for (nk = 0; nk < 6; nk++)
		keys[nk] = rand_string(4);
	/* Mostly a few entries; sometimes enough for the sorted path. */
	p->n_metadata = below(8) == 0 ? 17 + below(40) : below(8);
	p->metadata = calloc(p->n_metadata + 1, sizeof(*p->metadata));
	for (i = 0; i < p->n_metadata; i++) {
		Dbs__KeyValue *kv = calloc(1, sizeof(*kv));

		dbs__key_value__init(kv);
		kv->key = below(3) == 0 ? rand_string(6) : pick_key(keys, 6);
		kv->value = rand_string(12);
		p->metadata[i] = kv;
	}
	for (nk = 0; nk < 6; nk++)
		free(keys[nk]);
	p->created_ms = (int64_t)(rnd() >> 20);
	p->updated_ms = below(2) ? 0 : (int64_t)rnd();
	p->next_attempt_ms = -(int64_t)(rnd() >> 21);
	p->done_ms = below(2) ? 0 : 1714566896789LL;
	p->pulled_us = (int64_t)rnd();
	p->attempts = (uint32_t)rnd();
	p->last_drive = rnd();
	p->last_error = rand_string(20);
	return p;
}

static void
test_passenger_equivalence(void **state)
{
	struct jw w;
	char *want;
	int i;

	(void)state;
	jw_init(&w);
	for (i = 0; i < 3000; i++) {
		Dbs__Passenger *p = rand_passenger();

		/* The writer is reused without reset between documents of a
		 * page: test it inside an array as the queue page uses it. */
		jw_reset(&w);
		jw_passenger(&w, p);
		assert_true(jw_ok(&w));
		want = dump(rj_passenger(p));
		if (strcmp(w.buf, want) != 0)
			fail_msg(
			    "passenger %d differs:\nwriter  %s\njansson %s", i,
			    w.buf, want);
		parses(&w);
		free(want);
		/* The generator mallocs every part, as protobuf-c does. */
		dbs__passenger__free_unpacked(p, NULL);
	}
	jw_reset(&w);
	jw_passenger(&w, NULL);
	assert_string_equal(w.buf, "null");
	jw_free(&w);
}

static void
test_page_shape(void **state)
{
	struct jw w;
	json_t *doc, *items;
	char *want;
	int i;

	(void)state;
	jw_init(&w);
	items = json_array();
	jw_obj_begin(&w);
	jw_key(&w, "items");
	jw_arr_begin(&w);
	for (i = 0; i < 5; i++) {
		Dbs__Passenger *p = rand_passenger();

		jw_passenger(&w, p);
		json_array_append_new(items, rj_passenger(p));
		dbs__passenger__free_unpacked(p, NULL);
	}
	jw_arr_end(&w);
	jw_key(&w, "next_cursor");
	jw_u64(&w, 42);
	jw_obj_end(&w);
	doc = json_pack(
	    "{s:o, s:I}", "items", items, "next_cursor", (json_int_t)42);
	want = dump(doc);
	assert_string_equal(w.buf, want);
	free(want);
	jw_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_byte),
	    cmocka_unit_test(test_random_strings),
	    cmocka_unit_test(test_strn_stops_at_length),
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_structure),
	    cmocka_unit_test(test_times),
	    cmocka_unit_test(test_passenger_equivalence),
	    cmocka_unit_test(test_page_shape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
