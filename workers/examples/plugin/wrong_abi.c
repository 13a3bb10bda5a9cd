/*
 * wrong_abi.c — a plugin that claims another ABI version, as a plugin
 * built against an older or newer databus/plugin.h would. The tests check
 * that databus-worker refuses it with a clear error and never calls it.
 */
#include <stdio.h>
#include <stdlib.h>

#include "databus/plugin.h"

__attribute__((visibility("default"))) const uint32_t databus_plugin_abi =
    DATABUS_PLUGIN_ABI + 41;

__attribute__((visibility("default"))) const struct dbp_plugin *
databus_plugin(const struct dbp_host *host)
{
	/* Never reached: the worker checks databus_plugin_abi first. */
	abort();
}
