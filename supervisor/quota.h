/*
 * quota.h — per-client quotas and fairness (databus.json $.quotas, see
 * config_quota.h): one tenant that floods webhooks or fills the store
 * pauses only its own intake, while every other client goes on.
 *
 *   - store_quota / max_pending: while a client's passengers take at least
 *     store_quota bytes, or at least max_pending of them are not done, its
 *     webhook deliveries are refused (DBS_EQUOTA: the web answers 429 with
 *     Retry-After) and its drives do not pull (they still process and
 *     push, which is what brings the usage down). Usage is read from the
 *     store's running counters (store_client_bytes, store_queue_counts),
 *     one read each, in the open write batch: intake resumes by itself as
 *     soon as passengers are done or purged.
 *   - webhook_rate: a token bucket per client (rate per second, burst);
 *     a delivery without a token is refused with the time until the next.
 *   - max_concurrent_drives: a due drive of a client that drives that many
 *     already waits, held in the scheduler (sched_hold) and still due,
 *     until one of them ends.
 *   - cpu_weight / memory_max: the client's workers share one cgroup
 *     (cgroup.h) where the host grants one.
 *
 * Everything runs on databusd's loop thread.
 */
#ifndef DBS_QUOTA_H
#define DBS_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sup.h"

struct quota;

struct quota *quota_new(void);
void quota_free(struct quota *q); /* accepts NULL */

/*
 * May a webhook delivery of `client` be seated now? DBS_OK (a token is
 * taken), or DBS_EQUOTA with a sentence in `msg` naming the quota and
 * *retry_after_ms. Reads usage in the open batch `txn`.
 */
int quota_webhook_admit(struct sup *s, struct store_txn *txn,
    const char *client, char *msg, size_t msglen, uint32_t *retry_after_ms);

/*
 * The scheduler offers `w` a drive (main.c): false when its client drives
 * max_concurrent_drives already (the slot is then held, still due, until
 * quota_timers lets it go); else true, with *pull cleared while the client
 * is over store_quota or max_pending.
 */
bool quota_drive_gate(struct sup *s, struct worker *w, bool *pull);

/* Each turn of the loop, before the scheduler: let held slots go whose
 * client has room again. O(held slots). */
void quota_timers(struct sup *s);

/* A worker of `w` was spawned as `pid` (child.c): into its client's
 * cgroup when the client has cpu_weight or memory_max. The first such
 * worker opens the cgroups, or says once why the host grants none. */
void quota_worker_spawned(struct sup *s, const struct worker *w, pid_t pid);

/* After a reload: the running workers' groups take the new cpu_weight
 * and memory_max (what the kernel refuses, e.g. a memory_max below what
 * the group uses now, applies to the workers started later). */
void quota_reloaded(struct sup *s);

/* status: one ClientQuota per configured client into st->quotas (freed
 * by quota_clear_status). */
void quota_fill_status(
    struct sup *s, struct store_txn *txn, Dbs__StatusReply *st);
void quota_clear_status(Dbs__StatusReply *st);

#endif
