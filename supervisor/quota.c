/*
 * quota.c — carrying out the per-client quotas (quota.h): the webhook
 * gate (usage quotas, then the token bucket), the drive gate (no pull
 * while over a usage quota; drives beyond max_concurrent_drives held in
 * the scheduler) and the quota part of the status.
 *
 * Nothing is counted here that the store counts already: usage comes
 * from its running counters in the open write batch, so a passenger done
 * or purged lifts the pause at the next delivery or drive without any
 * bookkeeping of our own. What only databusd knows — the token buckets,
 * the held slots, the refusals — lives in struct quota, per client name.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "commit.h"
#include "config_quota.h"
#include "dbs_error.h"
#include "quota.h"
#include "reload.h"
#include "wire.h"

/* A refused delivery over a usage quota is asked to come back after this:
 * usage falls only as passengers are pushed or purged. */
#define QUOTA_RETRY_MS 5000

struct client_state {
	char *name;
	double tokens;
	int64_t refill_ms; /* monotonic: when tokens was last topped up */
	uint64_t refused;
};

struct quota {
	struct client_state *c;
	size_t n, cap;
	uint32_t *held; /* slots held for max_concurrent_drives */
	size_t n_held, cap_held;
	struct cgroups *cg; /* NULL: none (yet, or not granted) */
	bool cg_tried;      /* cgroup_open was asked (once) */
};

struct quota *
quota_new(void)
{
	return calloc(1, sizeof(struct quota));
}

void
quota_free(struct quota *q)
{
	if (q == NULL)
		return;
	for (size_t i = 0; i < q->n; i++)
		free(q->c[i].name);
	free(q->c);
	free(q->held);
	cgroup_close(q->cg);
	free(q);
}

/* The state of `client`, made on first sight (NULL: out of memory). */
static struct client_state *
state_of(struct quota *q, const char *client)
{
	struct client_state *c;

	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->c[i].name, client) == 0)
			return &q->c[i];
	if (q->n == q->cap) {
		size_t cap = q->cap ? 2 * q->cap : 8;

		c = realloc(q->c, cap * sizeof(*c));
		if (c == NULL)
			return NULL;
		q->c = c;
		q->cap = cap;
	}
	c = &q->c[q->n];
	memset(c, 0, sizeof(*c));
	if ((c->name = strdup(client)) == NULL)
		return NULL;
	c->tokens = -1; /* full at the first delivery */
	q->n++;
	return c;
}

/* Which usage quota `client` is over ("store_quota", "max_pending") with
 * a sentence in msg, or NULL. */
static const char *
usage_hit(struct store_txn *txn, const char *client,
    const struct cfg_quota *cq, uint64_t *bytes, uint64_t *pending, char *msg,
    size_t msglen)
{
	*bytes = *pending = 0;
	if (txn == NULL)
		return NULL;
	if (cq->store_quota != 0 &&
	    store_client_bytes(txn, client, bytes) == DBS_OK &&
	    *bytes >= cq->store_quota) {
		snprintf(msg, msglen,
		    "client %s is over its store_quota (%llu of %llu bytes); "
		    "intake resumes when its passengers are done and purged",
		    client, (unsigned long long)*bytes,
		    (unsigned long long)cq->store_quota);
		return "store_quota";
	}
	if (cq->max_pending != 0 &&
	    store_queue_counts(txn, client, NULL, pending, NULL, NULL) ==
		DBS_OK &&
	    *pending >= cq->max_pending) {
		snprintf(msg, msglen,
		    "client %s has %llu passengers pending, its max_pending "
		    "is %llu; intake resumes as they are done",
		    client, (unsigned long long)*pending,
		    (unsigned long long)cq->max_pending);
		return "max_pending";
	}
	return NULL;
}

/* Take a token of the client's bucket; false with *wait_ms when empty. */
static bool
take_token(struct client_state *c, const struct cfg_quota *cq, int64_t now,
    uint32_t *wait_ms)
{
	double burst = cq->webhook_burst;

	if (c->tokens < 0) {
		c->tokens = burst;
	} else {
		c->tokens +=
		    (double)(now - c->refill_ms) / 1000.0 * cq->webhook_rate;
		if (c->tokens > burst)
			c->tokens = burst;
	}
	c->refill_ms = now;
	if (c->tokens >= 1) {
		c->tokens -= 1;
		return true;
	}
	*wait_ms = (uint32_t)ceil((1 - c->tokens) * 1000 / cq->webhook_rate);
	if (*wait_ms < 1)
		*wait_ms = 1;
	return false;
}

int
quota_webhook_admit(struct sup *s, struct store_txn *txn, const char *client,
    char *msg, size_t msglen, uint32_t *retry_after_ms)
{
	struct cfg_quota cq = config_quota_of(s->cfg->quotas, client);
	struct client_state *c;
	uint64_t bytes, pending;

	*retry_after_ms = 0;
	if (cq.store_quota == 0 && cq.max_pending == 0 && cq.webhook_rate <= 0)
		return DBS_OK;
	if ((c = state_of(s->quota, client)) == NULL)
		return DBS_OK; /* out of memory: no reason to refuse */
	if (usage_hit(txn, client, &cq, &bytes, &pending, msg, msglen) !=
	    NULL) {
		c->refused++;
		*retry_after_ms = QUOTA_RETRY_MS;
		return DBS_EQUOTA;
	}
	if (cq.webhook_rate > 0 &&
	    !take_token(c, &cq, wire_mono_ms(), retry_after_ms)) {
		c->refused++;
		snprintf(msg, msglen,
		    "client %s is over its webhook_rate (%g deliveries/s, "
		    "burst %u)",
		    client, cq.webhook_rate, cq.webhook_burst);
		return DBS_EQUOTA;
	}
	return DBS_OK;
}

/* Drives running now for `client`. */
static uint32_t
drives_of(const struct sup *s, const char *client)
{
	uint32_t n = 0;

	for (size_t i = 0; i < s->n_driving; i++)
		if (strcmp(s->driving[i]->def->client, client) == 0)
			n++;
	return n;
}

static bool
hold(struct sup *s, uint32_t slot)
{
	struct quota *q = s->quota;

	if (q->n_held == q->cap_held) {
		size_t cap = q->cap_held ? 2 * q->cap_held : 8;
		uint32_t *v = realloc(q->held, cap * sizeof(*v));

		if (v == NULL)
			return false;
		q->held = v;
		q->cap_held = cap;
	}
	q->held[q->n_held++] = slot;
	sched_hold(s->sched, slot, true);
	return true;
}

bool
quota_drive_gate(struct sup *s, struct worker *w, bool *pull)
{
	struct cfg_quota cq = config_quota_of(s->cfg->quotas, w->def->client);
	uint64_t bytes, pending;
	char msg[256];

	if (cq.max_concurrent_drives != 0 &&
	    drives_of(s, w->def->client) >= cq.max_concurrent_drives) {
		/* Not held (out of memory): it drives rather than being
		 * offered again at once, for ever. */
		return !hold(s, w->slot);
	}
	if (*pull && (cq.store_quota != 0 || cq.max_pending != 0) &&
	    usage_hit(sup_txn(s), w->def->client, &cq, &bytes, &pending, msg,
		sizeof(msg)) != NULL)
		*pull = false;
	return true;
}

void
quota_timers(struct sup *s)
{
	struct quota *q = s->quota;
	size_t kept = 0;

	for (size_t i = 0; i < q->n_held; i++) {
		struct worker *w = sup_worker_by_slot(s, q->held[i]);
		struct cfg_quota cq;

		if (w != NULL) {
			cq = config_quota_of(s->cfg->quotas, w->def->client);
			if (cq.max_concurrent_drives != 0 &&
			    drives_of(s, w->def->client) >=
				cq.max_concurrent_drives) {
				q->held[kept++] = q->held[i];
				continue;
			}
		}
		sched_hold(s->sched, q->held[i], false);
	}
	q->n_held = kept;
}

void
quota_worker_spawned(struct sup *s, const struct worker *w, pid_t pid)
{
	struct cfg_quota cq = config_quota_of(s->cfg->quotas, w->def->client);
	struct quota *q = s->quota;
	char why[512];
	int err;

	/* A client without cgroup quotas needs no group, unless it has one
	 * from before a reload: that one is reset to the defaults. */
	if (cq.cpu_weight == 0 && cq.memory_max == 0 &&
	    cgroup_name(q->cg, w->def->client)[0] == '\0')
		return;
	if (!q->cg_tried) {
		q->cg_tried = true;
		if ((q->cg = cgroup_open(why, sizeof(why))) == NULL)
			sup_warn("cgroups: %s; cpu_weight and memory_max of "
				 "$.quotas are not applied, workers keep "
				 "their rlimits ($.limits)",
			    why);
	}
	if (q->cg == NULL)
		return;
	err = cgroup_attach(
	    q->cg, w->def->client, cq.cpu_weight, cq.memory_max, pid);
	if (err != 0)
		sup_warn("cgroups: cannot put worker %ld of %s/%s into its "
			 "client's group: %s",
		    (long)pid, w->def->client, w->def->name, strerror(err));
}

void
quota_reloaded(struct sup *s)
{
	for (size_t i = 0; i < s->n_workers; i++) {
		struct worker *w = s->workers[i];

		if (w->pid > 0 && !w->killed && !w->removed)
			quota_worker_spawned(s, w, w->pid);
	}
}

void
quota_fill_status(struct sup *s, struct store_txn *txn, Dbs__StatusReply *st)
{
	const struct config *cfg = s->cfg;
	Dbs__ClientQuota *v, **p;
	char msg[256];

	st->n_quotas = 0;
	st->quotas = NULL;
	if (cfg->n_clients == 0)
		return;
	v = calloc(cfg->n_clients, sizeof(*v));
	p = calloc(cfg->n_clients, sizeof(*p));
	if (v == NULL || p == NULL) {
		free(v);
		free(p);
		return;
	}
	for (size_t i = 0; i < cfg->n_clients; i++) {
		const char *name = cfg->clients[i].name;
		struct cfg_quota cq = config_quota_of(cfg->quotas, name);
		struct client_state *c = state_of(s->quota, name);
		const char *hit;

		dbs__client_quota__init(&v[i]);
		v[i].client = (char *)name;
		hit = usage_hit(txn, name, &cq, &v[i].store_bytes,
		    &v[i].pending, msg, sizeof(msg));
		if (txn != NULL) {
			(void)store_client_bytes(txn, name, &v[i].store_bytes);
			(void)store_queue_counts(
			    txn, name, NULL, &v[i].pending, NULL, NULL);
		}
		v[i].store_quota = cq.store_quota;
		v[i].max_pending = cq.max_pending;
		v[i].webhook_rate = cq.webhook_rate;
		v[i].webhook_burst = cq.webhook_burst;
		v[i].webhook_refused = c != NULL ? c->refused : 0;
		v[i].drives = drives_of(s, name);
		v[i].max_concurrent_drives = cq.max_concurrent_drives;
		v[i].hit = (char *)(hit != NULL ? hit : "");
		v[i].cgroup = strdup(cgroup_name(s->quota->cg, name));
		p[i] = &v[i];
	}
	st->n_quotas = cfg->n_clients;
	st->quotas = p;
}

void
quota_clear_status(Dbs__StatusReply *st)
{
	for (size_t i = 0; i < st->n_quotas; i++)
		free(st->quotas[i]->cgroup);
	if (st->n_quotas > 0)
		free(st->quotas[0]);
	free(st->quotas);
	st->quotas = NULL;
	st->n_quotas = 0;
}
