/*
 * fuzz_client_config.c — libFuzzer target for the client file parser
 * (config_parse_client in supervisor/config_parse.c).
 *
 * Client files come from operators and, through config saves, from the
 * web UI: any byte string must give either a complete struct cfg_client or
 * an error message, never a crash or a leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg_client c;
	char err[512];

	(void)config_parse_client("fuzz.json", "fuzz", (const char *)data,
	    size, &c, err, sizeof(err));
	/* The message must be a terminated string whatever happened. */
	(void)strlen(err);
	config_client_clear(&c);
	return 0;
}
