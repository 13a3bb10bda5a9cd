/*
 * config_policy.h — what a client administrator may put in their own
 * client file: which driver types, and which filesystem folders the
 * settings that name a file or a folder may point into. The policy is
 * root's, in databus.json:
 *
 *   "client_policy": {
 *     "drivers": ["dir", "http", ...],        default: every built-in
 *                                             type but exec and plugin
 *     "paths": ["/srv/in/{client}", ...],     default: the client's own
 *                                             <data_dir>/files/<client>
 *     "env": ["PARTNER_TOKEN", ...],          default: none — no "env:NAME"
 *                                             value, no webhook secret_env
 *                                             or token_env
 *     "sql": false,                           default: false — no SQL text
 *                                             (postgres update_where)
 *     "clients": {"acme": {"drivers": [...], "paths": [...], "env": [...],
 *                          "sql": true}}
 *   }
 *
 * A member of a "clients" entry replaces the same member above it for
 * that client. The check applies to saves, validations and restores of a
 * client file by that client's administrator (config_save.c); root's saves
 * and files edited on disk are not limited. It runs before any driver sees
 * the settings: `databus-worker --check` initialises every driver, and
 * initialising a plugin loads its shared object, a null pusher opens its
 * record file.
 */
#ifndef DBS_CONFIG_POLICY_H
#define DBS_CONFIG_POLICY_H

#include <jansson.h>
#include <stddef.h>

#include "config_parse.h"

struct cfg_policy;

/*
 * Parse $.client_policy of databus.json (`v`; NULL when absent: the
 * defaults) into *out, relative paths against `base_dir`. Errors name the
 * JSON path through `p` (DBS_ECONFIG, DBS_ENOMEM); *out is set only on
 * success and freed with config_policy_free().
 */
int config_policy_parse(struct pctx *p, const json_t *v, const char *base_dir,
    struct cfg_policy **out);
void config_policy_free(struct cfg_policy *pol); /* accepts NULL */

/* The folder the default policy lets client `client` name:
 * <data_dir>/files/<client>; malloc'ed (NULL: out of memory). */
char *config_policy_client_dir(const char *data_dir, const char *client);

/*
 * The inputs of one check. `pol` NULL means the defaults. `ticket` names
 * databus.json in messages, `shown` the client file. Relative paths in the
 * client file resolve against `base_dir`, as the worker resolves them (it
 * runs there). `old` is the file as it stands (NULL or unparsable: none):
 * a driver entry kept exactly as it is in the same definition there (put
 * by root) is not checked again, so a client administrator can still
 * edit the rest of a file to which root gave an exec puller.
 */
struct cfg_policy_check {
	const struct cfg_policy *pol;
	const char *ticket;
	const char *client;
	const char *data_dir;
	const char *base_dir;
	const char *shown;
	const char *old;
	size_t old_len;
};

/*
 * Check the new text of client file c->client against the policy. DBS_OK
 * (also when the text does not parse: the validation that follows says
 * why), or DBS_ECONFIG with `err` "<shown>: <JSON path>: <problem>
 * (<ticket> $.client_policy...)", or DBS_ENOMEM. Reads the filesystem
 * (symbolic links of the existing part of each path are resolved), writes
 * nothing.
 */
int config_policy_check(const struct cfg_policy_check *c, const char *text,
    size_t len, char *err, size_t errlen);

#endif
