/*
 * config_quota.c — parsing $.quotas of databus.json (config_quota.h): the
 * default quotas of every client and the entries that replace some of
 * them for one client. Only databus.json carries them: a client file that
 * names a quota is refused by the client parser, so a client
 * administrator cannot raise their own.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config_quota.h"
#include "dbs_error.h"
#include "names.h"

/* Which members an entry sets (the others come from the default). */
enum {
	Q_STORE = 1 << 0,
	Q_PENDING = 1 << 1,
	Q_RATE = 1 << 2,
	Q_DRIVES = 1 << 3,
	Q_CPU = 1 << 4,
	Q_MEM = 1 << 5,
};

struct quota_entry {
	char *client; /* NULL: the default */
	unsigned set;
	struct cfg_quota q;
};

struct cfg_quotas {
	struct quota_entry def;
	struct quota_entry *clients;
	size_t n_clients;
};

#define PATH_LEN 320

/* "<parent><suffix>" into sub (PATH_LEN), cut short when too long: paths
 * are only ever shown. */
static void
sub_path(char *sub, const char *parent, const char *suffix)
{
	if (snprintf(sub, PATH_LEN, "%s%s", parent, suffix) >= PATH_LEN)
		memcpy(sub + PATH_LEN - 4, "...", 4);
}

/* "<parent>.<key>" the same way. */
static void
sub_key(char *sub, const char *parent, const char *key)
{
	if (snprintf(sub, PATH_LEN, "%s.%s", parent, key) >= PATH_LEN)
		memcpy(sub + PATH_LEN - 4, "...", 4);
}

static int
parse_count(struct pctx *p, const char *path, const json_t *v, uint64_t min,
    uint64_t max, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min ||
	    (uint64_t)json_integer_value(v) > max)
		return config_fail(p, path,
		    "expected an integer from %llu to %llu",
		    (unsigned long long)min, (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return DBS_OK;
}

/* "webhook_rate": 50 or {"rate": 50, "burst": 100}. */
static int
parse_rate(
    struct pctx *p, const char *path, const json_t *v, struct cfg_quota *q)
{
	const json_t *r = v, *b = NULL;
	char sub[PATH_LEN];
	uint64_t burst;
	double rate;
	int rc;

	if (json_is_object(v)) {
		const char *key;
		json_t *x;

		json_object_foreach((json_t *)v, key, x)
		{
			if (strcmp(key, "rate") != 0 &&
			    strcmp(key, "burst") != 0) {
				sub_key(sub, path, key);
				return config_fail(p, sub,
				    "unknown key (expected one of: rate, "
				    "burst)");
			}
		}
		r = json_object_get(v, "rate");
		b = json_object_get(v, "burst");
		sub_path(sub, path, ".rate");
		if (r == NULL)
			return config_fail(p, sub, "missing");
	} else {
		sub_path(sub, path, "");
	}
	rate = json_is_number(r) ? json_number_value(r) : -1;
	if (!isfinite(rate) || rate <= 0 || rate > 1e6)
		return config_fail(p, sub,
		    "expected deliveries per second, a number above 0 and "
		    "at most 1000000 (or {\"rate\", \"burst\"})");
	q->webhook_rate = rate;
	burst = (uint64_t)ceil(rate);
	if (b != NULL) {
		sub_path(sub, path, ".burst");
		if ((rc = parse_count(p, sub, b, 1, 1000000, &burst)) != 0)
			return rc;
	}
	q->webhook_burst = (uint32_t)(burst < 1 ? 1 : burst);
	return DBS_OK;
}

static int
parse_bytes(struct pctx *p, const char *path, const json_t *v, uint64_t min,
    uint64_t *out)
{
	if (config_parse_size(v, out) != DBS_OK || *out < min)
		return config_fail(p, path,
		    "expected a number of bytes or a size like \"512MiB\", "
		    "\"10GiB\" (at least %llu bytes)",
		    (unsigned long long)min);
	return DBS_OK;
}

/* One member of an entry. */
static int
parse_member(struct pctx *p, const char *path, const char *key,
    const json_t *v, struct quota_entry *e)
{
	uint64_t n;
	int rc;

	if (strcmp(key, "store_quota") == 0) {
		e->set |= Q_STORE;
		return parse_bytes(p, path, v, 4096, &e->q.store_quota);
	}
	if (strcmp(key, "max_pending") == 0) {
		e->set |= Q_PENDING;
		return parse_count(
		    p, path, v, 1, UINT64_C(1) << 40, &e->q.max_pending);
	}
	if (strcmp(key, "webhook_rate") == 0) {
		e->set |= Q_RATE;
		return parse_rate(p, path, v, &e->q);
	}
	if (strcmp(key, "max_concurrent_drives") == 0) {
		e->set |= Q_DRIVES;
		rc = parse_count(p, path, v, 1, 100000, &n);
		e->q.max_concurrent_drives = (uint32_t)n;
		return rc;
	}
	if (strcmp(key, "cpu_weight") == 0) {
		e->set |= Q_CPU;
		rc = parse_count(p, path, v, 1, 10000, &n);
		e->q.cpu_weight = (uint32_t)n;
		return rc;
	}
	if (strcmp(key, "memory_max") == 0) {
		e->set |= Q_MEM;
		return parse_bytes(p, path, v, 16u << 20, &e->q.memory_max);
	}
	return config_fail(p, path,
	    "unknown key (expected one of: store_quota, max_pending, "
	    "webhook_rate, max_concurrent_drives, cpu_weight, memory_max)");
}

static int
parse_entry(
    struct pctx *p, const char *path, const json_t *v, struct quota_entry *e)
{
	char sub[PATH_LEN];
	const char *key;
	json_t *x;
	int rc;

	if (!json_is_object(v))
		return config_fail(p, path, "expected an object");
	json_object_foreach((json_t *)v, key, x)
	{
		sub_key(sub, path, key);
		if ((rc = parse_member(p, sub, key, x, e)) != DBS_OK)
			return rc;
	}
	return DBS_OK;
}

static int
parse_clients(struct pctx *p, const json_t *v, struct cfg_quotas *q)
{
	char sub[PATH_LEN];
	const char *key;
	json_t *x;
	int rc;

	if (!json_is_object(v))
		return config_fail(p, "$.quotas.clients",
		    "expected an object of client name: quotas");
	q->clients = calloc(json_object_size(v) + 1, sizeof(*q->clients));
	if (q->clients == NULL)
		return config_nomem(p);
	json_object_foreach((json_t *)v, key, x)
	{
		struct quota_entry *e = &q->clients[q->n_clients];

		sub_key(sub, "$.quotas.clients", key);
		if (!dbs_name_ok(key, strlen(key)))
			return config_fail(p, sub,
			    "invalid client name: use 1 to 64 of A-Z a-z "
			    "0-9 _ -");
		if ((e->client = strdup(key)) == NULL)
			return config_nomem(p);
		q->n_clients++;
		if ((rc = parse_entry(p, sub, x, e)) != DBS_OK)
			return rc;
	}
	return DBS_OK;
}

int
config_quotas_parse(struct pctx *p, const json_t *v, struct cfg_quotas **out)
{
	struct cfg_quotas *q;
	const char *key;
	json_t *x;
	int rc = DBS_OK;

	*out = NULL;
	if (v == NULL)
		return DBS_OK;
	if (!json_is_object(v))
		return config_fail(p, "$.quotas", "expected an object");
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return config_nomem(p);
	json_object_foreach((json_t *)v, key, x)
	{
		if (strcmp(key, "default") == 0)
			rc = parse_entry(p, "$.quotas.default", x, &q->def);
		else if (strcmp(key, "clients") == 0)
			rc = parse_clients(p, x, q);
		else
			rc = config_fail(p, "$.quotas",
			    "unknown key \"%s\" (expected one of: default, "
			    "clients)",
			    key);
		if (rc != DBS_OK)
			break;
	}
	if (rc != DBS_OK) {
		config_quotas_free(q);
		return rc;
	}
	*out = q;
	return DBS_OK;
}

void
config_quotas_free(struct cfg_quotas *q)
{
	if (q == NULL)
		return;
	for (size_t i = 0; i < q->n_clients; i++)
		free(q->clients[i].client);
	free(q->clients);
	free(q);
}

struct cfg_quota
config_quota_of(const struct cfg_quotas *q, const char *client)
{
	struct cfg_quota r = {0};
	const struct quota_entry *e = NULL;

	if (q == NULL)
		return r;
	r = q->def.q;
	for (size_t i = 0; client != NULL && i < q->n_clients; i++)
		if (strcmp(q->clients[i].client, client) == 0)
			e = &q->clients[i];
	if (e == NULL)
		return r;
	if (e->set & Q_STORE)
		r.store_quota = e->q.store_quota;
	if (e->set & Q_PENDING)
		r.max_pending = e->q.max_pending;
	if (e->set & Q_RATE) {
		r.webhook_rate = e->q.webhook_rate;
		r.webhook_burst = e->q.webhook_burst;
	}
	if (e->set & Q_DRIVES)
		r.max_concurrent_drives = e->q.max_concurrent_drives;
	if (e->set & Q_CPU)
		r.cpu_weight = e->q.cpu_weight;
	if (e->set & Q_MEM)
		r.memory_max = e->q.memory_max;
	return r;
}

bool
config_quotas_want_cgroups(const struct cfg_quotas *q)
{
	if (q == NULL)
		return false;
	if (q->def.set & (Q_CPU | Q_MEM))
		return true;
	for (size_t i = 0; i < q->n_clients; i++)
		if (q->clients[i].set & (Q_CPU | Q_MEM))
			return true;
	return false;
}
