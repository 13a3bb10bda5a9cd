/*
 * fuzz_control_request.c — libFuzzer target for the control socket's
 * request decoding (a packed ControlRequest, as databusctl and the web UI
 * send it).
 */
#include <stddef.h>
#include <stdint.h>

#include "databus.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Dbs__ControlRequest *r;

	r = dbs__control_request__unpack(NULL, size, data);
	dbs__control_request__free_unpacked(r, NULL); /* accepts NULL */
	return 0;
}
