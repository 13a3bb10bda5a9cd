/*
 * test_arena.c — proto/arena.c: aligned bump allocations, a chunk of its
 * own for what does not fit, resets that keep the first chunk, and a real
 * WorkerMsg decoded into an arena and read back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "databus.pb-c.h"

static void
test_alignment_and_chunks(void **state)
{
	struct arena *a = arena_new(1024);
	unsigned char *p, *q, *big;

	(void)state;
	assert_non_null(a);
	p = arena_alloc(a, 3);
	q = arena_alloc(a, 8);
	assert_non_null(p);
	assert_non_null(q);
	assert_int_equal((uintptr_t)q % _Alignof(max_align_t), 0);
	assert_true(q >= p + 3);
	memset(p, 1, 3);
	memset(q, 2, 8);
	/* Larger than a chunk: its own, and the small ones go on. */
	big = arena_alloc(a, 1 << 20);
	assert_non_null(big);
	memset(big, 3, 1 << 20);
	for (int i = 0; i < 200; i++) {
		unsigned char *r = arena_alloc(a, 100);

		assert_non_null(r);
		memset(r, 4, 100);
	}
	assert_int_equal(p[0], 1);
	assert_int_equal(q[7], 2);
	/* After a reset, allocation starts again in the first chunk. */
	arena_reset(a);
	assert_ptr_equal(arena_alloc(a, 3), p);
	arena_free(a);
	arena_free(NULL);
}

static void
test_unpack_into_arena(void **state)
{
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT, *out;
	Dbs__PulledBatch b = DBS__PULLED_BATCH__INIT;
	Dbs__PulledItem it[3], *itp[3];
	struct arena *a = arena_new(4096);
	uint8_t *buf;
	size_t len;
	char ext[3][16];

	(void)state;
	for (int i = 0; i < 3; i++) {
		dbs__pulled_item__init(&it[i]);
		snprintf(ext[i], sizeof(ext[i]), "x%d", i);
		it[i].external_id = ext[i];
		itp[i] = &it[i];
	}
	b.drive_id = 7;
	b.n_items = 3;
	b.items = itp;
	m.body_case = DBS__WORKER_MSG__BODY_PULLED;
	m.pulled = &b;
	len = dbs__worker_msg__get_packed_size(&m);
	buf = malloc(len);
	dbs__worker_msg__pack(&m, buf);
	for (int round = 0; round < 3; round++) {
		out = dbs__worker_msg__unpack(arena_allocator(a), len, buf);
		assert_non_null(out);
		assert_int_equal(out->body_case, DBS__WORKER_MSG__BODY_PULLED);
		assert_int_equal(out->pulled->drive_id, 7);
		assert_int_equal(out->pulled->n_items, 3);
		assert_string_equal(out->pulled->items[2]->external_id, "x2");
		arena_reset(a);
	}
	/* Garbage fails cleanly with the arena too. */
	buf[0] = 0xff;
	assert_null(dbs__worker_msg__unpack(arena_allocator(a), len, buf));
	arena_reset(a);
	free(buf);
	arena_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alignment_and_chunks),
	    cmocka_unit_test(test_unpack_into_arena),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
