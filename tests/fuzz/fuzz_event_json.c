/*
 * fuzz_event_json.c — libFuzzer target for the event log's JSON form: a
 * packed Event whose `data` is itself decoded per resource by rj_event
 * (proto/record_json.c), then dumped as the web API and databusctl would.
 *
 * Events come from the store; a corrupt one must give NULL (or a record
 * with U+FFFD for bad UTF-8), never a crash.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "databus.pb-c.h"
#include "record_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Dbs__Event *ev;
	json_t *j;
	char *text;

	ev = dbs__event__unpack(NULL, size, data);
	if (ev == NULL)
		return 0;
	j = rj_event(ev);
	if (j != NULL) {
		/* json_dumps fails on invalid UTF-8: rj_* must never give
		 * it any, so a NULL here is a bug worth a crash. */
		text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
		if (text == NULL)
			abort();
		free(text);
		json_decref(j);
	}
	dbs__event__free_unpacked(ev, NULL);
	return 0;
}
