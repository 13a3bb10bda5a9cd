/*
 * fuzz_worker_msg.c — libFuzzer target for what the supervisor reads from
 * a worker: a packed WorkerMsg, then the dispatch table
 * (dispatch_permitted in supervisor/dispatch.c) that decides whether its
 * state accepts it.
 *
 * Workers run driver code and are not trusted; a hostile or corrupt
 * message may kill that worker but never the supervisor.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dispatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Dbs__WorkerMsg *m;
	volatile bool sink = false;
	int st;

	m = dbs__worker_msg__unpack(NULL, size, data);
	if (m == NULL)
		return 0;
	/* Every state, plus one past the enum: the table must not read out
	 * of bounds for any body case or state. */
	for (st = DBS__WORKER_STATE__WS_STARTING;
	     st <= DBS__WORKER_STATE__WS_STOPPED + 1; st++) {
		sink ^= dispatch_permitted(
		    (Dbs__WorkerState)st, true, m->body_case);
		sink ^= dispatch_permitted(
		    (Dbs__WorkerState)st, false, m->body_case);
	}
	(void)sink;
	dbs__worker_msg__free_unpacked(m, NULL);
	return 0;
}
