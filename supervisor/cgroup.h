/*
 * cgroup.h — one control group per client for its workers, where the host
 * grants them: cgroup v2 with the cpu and memory controllers delegated to
 * databusd's own group, or cgroup v1 with writable `cpu` and `memory`
 * hierarchies. The groups live under databusd's own group in each
 * hierarchy, as databus-<pid>/<client>, with the client's cpu_weight
 * (v2 cpu.weight; v1 cpu.shares, 100 = 1024) and memory_max (v2
 * memory.max; v1 memory.limit_in_bytes). A client over memory_max meets
 * the kernel's OOM killer in its own group only: its worker dies of
 * SIGKILL and is restarted like any crashed worker.
 *
 * Under v2 a group that hands controllers down may hold no process, so
 * when databusd's own group holds it (systemd's Delegate=yes), databusd
 * first moves itself into a leaf, databus-<pid>-supervisor (cgroup.c).
 *
 * Where no group is granted, cgroup_open says why once and databusd keeps
 * only the per-worker rlimits (limits in databus.json).
 */
#ifndef DBS_CGROUP_H
#define DBS_CGROUP_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

struct cgroups;

/* Find a usable hierarchy and make databus-<pid> in it. NULL with a
 * sentence in `why` when the host grants none. */
struct cgroups *cgroup_open(char *why, size_t whylen);

/*
 * Put `pid` into the group of `client`, made (or updated) with these
 * limits first; 0 in a limit: the kernel's default (no limit). Returns 0
 * or an errno value.
 */
int cgroup_attach(struct cgroups *cg, const char *client, uint32_t cpu_weight,
    uint64_t memory_max, pid_t pid);

/* The directories of `client`'s group, comma-separated, one per
 * hierarchy ("/sys/fs/cgroup/cpu/databus-42/acme,/sys/fs/cgroup/memory/
 * databus-42/acme"), or "" when there is none yet. Valid until the next
 * call. */
const char *cgroup_name(struct cgroups *cg, const char *client);

/* Remove the groups (call once every worker is reaped) and free. */
void cgroup_close(struct cgroups *cg); /* accepts NULL */

#endif
