/*
 * fuzz_json_writer.c — libFuzzer target for proto/json_writer.c: a packed
 * Passenger (any bytes in its strings: protobuf-c does not check UTF-8),
 * written by jw_passenger and by rj_passenger + json_dumps. The two texts
 * must be identical and parse back; any difference aborts.
 *
 * The queue page of databus-web sends jw_passenger's text to browsers, so
 * this is the proof that the fast path says exactly what the API's jansson
 * form says, for every record a driver can produce.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "databus.pb-c.h"
#include "json_writer.h"
#include "record_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Dbs__Passenger *p;
	struct jw w;
	json_t *j, *back;
	char *want;

	p = dbs__passenger__unpack(NULL, size, data);
	if (p == NULL)
		return 0;
	jw_init(&w);
	jw_passenger(&w, p);
	j = rj_passenger(p);
	if (j == NULL || !jw_ok(&w))
		abort(); /* only out of memory, which libFuzzer reports */
	want = json_dumps(j, JSON_COMPACT);
	if (want == NULL)
		abort();
	if (strcmp(want, w.buf) != 0 || strlen(w.buf) != w.len) {
		fprintf(stderr, "json_writer differs:\n  jw: %s\n  rj: %s\n",
		    w.buf, want);
		abort();
	}
	if ((back = json_loads(w.buf, 0, NULL)) == NULL)
		abort();
	json_decref(back);
	free(want);
	json_decref(j);
	jw_free(&w);
	dbs__passenger__free_unpacked(p, NULL);
	return 0;
}
