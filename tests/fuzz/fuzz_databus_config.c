/*
 * fuzz_databus_config.c — libFuzzer target for the top-level databus.json
 * parser (config_load_staged in supervisor/config_parse.c, the loader databusd
 * and config saves run).
 *
 * The input is staged as the text of <dir>/databus.json, where <dir> is
 * a directory made once under $TMPDIR with an empty clients/ (the
 * default clients_dir, which must exist): the loader reads the input
 * instead of a file and finds no client files, so nothing but the input
 * decides the outcome (paths named in it are only stat'ed or read).
 * Either a whole struct config or an error message, never a crash or a
 * leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "dbs_error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[256];

static void
remove_dir(void)
{
	char *slash = strrchr(path, '/'), clients[300];

	if (slash != NULL) {
		*slash = '\0';
		snprintf(clients, sizeof(clients), "%s/clients", path);
		rmdir(clients);
		rmdir(path);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_stage st;
	struct config *cfg = NULL;
	char err[1024] = "";
	int rc;

	if (path[0] == '\0') {
		const char *tmp = getenv("TMPDIR");
		char dir[200];

		snprintf(dir, sizeof(dir), "%s/fuzz-databus-XXXXXX",
		    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
		if (mkdtemp(dir) == NULL)
			abort();
		snprintf(path, sizeof(path), "%s/clients", dir);
		if (mkdir(path, 0700) != 0)
			abort();
		snprintf(path, sizeof(path), "%s/databus.json", dir);
		atexit(remove_dir);
	}
	st.path = path;
	st.text = (const char *)data;
	st.len = size;
	st.removed = false;
	rc = config_load_staged(path, &st, 1, &cfg, err, sizeof(err));
	if (rc == DBS_OK) {
		if (cfg == NULL)
			abort();
		config_free(cfg);
	} else if (cfg != NULL || err[0] == '\0') {
		abort();
	}
	return 0;
}
