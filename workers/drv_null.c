/*
 * drv_null.c — the `null` pusher: accepts every passenger and discards it.
 *
 * Useful as the last stage of a definition that only archives (with a dir
 * pusher before it), for benchmarks, and for tests of the retry path:
 * "fail_every": N makes every Nth push of this instance fail with a retry,
 * counted over the worker's lifetime.
 */
#include <stdio.h>
#include <stdlib.h>

#include "dbs_error.h"
#include "driver.h"

struct null_pusher {
	uint64_t fail_every; /* 0: never */
	uint64_t pushes;
};

static int
null_init(struct drv_ctx *ctx, const json_t *settings, void **state, char *err,
    size_t errlen)
{
	static const char *const keys[] = {"fail_every", NULL};
	struct null_pusher *np;
	uint64_t fail_every;
	int rc;

	*state = NULL;
	rc = drv_settings_only(settings, keys, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_uint(settings, "fail_every", 0, 0, UINT32_MAX,
		    &fail_every, err, errlen);
	if (rc != DBS_OK)
		return rc;
	np = calloc(1, sizeof(*np));
	if (np == NULL)
		return DBS_ENOMEM;
	np->fail_every = fail_every;
	*state = np;
	return DBS_OK;
}

static enum drv_result
null_push(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    const char *idempotency_key, char *err, size_t errlen)
{
	struct null_pusher *np = state;

	np->pushes++;
	if (np->fail_every != 0 && np->pushes % np->fail_every == 0) {
		snprintf(err, errlen,
		    "failing push %llu on purpose (fail_every %llu)",
		    (unsigned long long)np->pushes,
		    (unsigned long long)np->fail_every);
		return DRV_RETRY;
	}
	return DRV_OK;
}

static void
null_fini(void *state)
{
	free(state);
}

const struct drv_ops drv_null_ops = {
    .type = "null",
    .kind = DRV_PUSHER,
    .init = null_init,
    .push = null_push,
    .fini = null_fini,
};
