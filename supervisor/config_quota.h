/*
 * config_quota.h — per-client quotas and resources, root's in databus.json:
 *
 *   "quotas": {
 *     "default": {"store_quota": "1GiB", "max_pending": 100000,
 *                 "webhook_rate": {"rate": 50, "burst": 100},
 *                 "max_concurrent_drives": 2,
 *                 "cpu_weight": 100, "memory_max": "512MiB"},
 *     "clients": {"acme": {"store_quota": "10GiB"}}
 *   }
 *
 * A member of a "clients" entry replaces the same member of "default" for
 * that client; a member absent from both is unlimited (0). A client file
 * cannot name any of them (least privilege: a client administrator may
 * save their own file, so it must not be able to raise its own quotas).
 * `webhook_rate` is a number of deliveries per second (burst: the same,
 * at least 1) or {"rate", "burst"}. What the supervisor does with them is
 * in quota.h.
 */
#ifndef DBS_CONFIG_QUOTA_H
#define DBS_CONFIG_QUOTA_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "config_parse.h"

/* One client's quotas; 0 in any member: no limit. */
struct cfg_quota {
	uint64_t store_quota;           /* bytes of passengers + attachments */
	uint64_t max_pending;           /* passengers not yet done */
	double webhook_rate;            /* deliveries per second */
	uint32_t webhook_burst;         /* bucket size (rate set: >= 1) */
	uint32_t max_concurrent_drives; /* drives at once */
	uint32_t cpu_weight;            /* cgroup cpu weight, 1-10000 */
	uint64_t memory_max;            /* cgroup memory limit, bytes */
};

struct cfg_quotas;

/*
 * Parse $.quotas of databus.json (`v`; NULL when absent: no quotas) into
 * *out. Errors name the JSON path through `p` (DBS_ECONFIG, DBS_ENOMEM);
 * *out is set only on success (NULL when absent) and freed with
 * config_quotas_free().
 */
int config_quotas_parse(
    struct pctx *p, const json_t *v, struct cfg_quotas **out);
void config_quotas_free(struct cfg_quotas *q); /* accepts NULL */

/* The quotas of `client`: its entry over the default, member by member.
 * `q` NULL: all zero (unlimited). */
struct cfg_quota config_quota_of(
    const struct cfg_quotas *q, const char *client);

/* Whether any client has a cpu_weight or memory_max (cgroups wanted). */
bool config_quotas_want_cgroups(const struct cfg_quotas *q);

#endif
