/*
 * drv_null.c — the `null` pusher: accepts every passenger and discards it.
 *
 * Useful as the last stage of a definition that only archives (with a dir
 * pusher before it), for benchmarks, and for tests of the retry path:
 * "fail_every": N makes every Nth push of this instance fail with a retry,
 * counted over the worker's lifetime.
 *
 * Two more settings exist for the fault tests (docs/faults.md), never for
 * production: "crash_on": EXTERNAL_ID aborts the worker when it pushes
 * that passenger (a poison passenger); "hog": "memory" | "cpu" | "files"
 * makes every push use memory, CPU or descriptors without bound until a
 * resource limit stops it (an allocation or open that fails aborts the
 * worker, as a driver that cannot cope would crash). "record": FILE
 * appends one line "<idempotency key> <external id>" per accepted push
 * (one write(2) with O_APPEND, done before the push is acknowledged), so
 * a test can check what a target received, duplicates included.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbs_error.h"
#include "driver.h"

struct null_pusher {
	uint64_t fail_every; /* 0: never */
	uint64_t pushes;
	char *crash_on; /* NULL: never */
	char *hog;      /* NULL, "memory", "cpu" or "files" */
	int record_fd;  /* -1: none */
};

/* Use the resource without bound; returns only if it is not known. */
static void
hog(const char *what)
{
	if (strcmp(what, "memory") == 0) {
		for (;;) {
			char *p = malloc(1 << 20);

			if (p == NULL) {
				fprintf(stderr, "null pusher: hog: out of "
						"memory\n");
				abort();
			}
			memset(p, 1, 1 << 20);
		}
	}
	if (strcmp(what, "cpu") == 0) {
		volatile uint64_t x = 0;

		for (;;)
			x++;
	}
	if (strcmp(what, "files") == 0) {
		for (;;)
			if (open("/dev/null", O_RDONLY) < 0) {
				fprintf(stderr, "null pusher: hog: cannot "
						"open a file\n");
				abort();
			}
	}
}

static int
null_init(struct drv_ctx *ctx, const json_t *settings, void **state, char *err,
    size_t errlen)
{
	static const char *const keys[] = {
	    "fail_every", "crash_on", "hog", "record", NULL};
	struct null_pusher *np;
	const char *crash_on = NULL, *hog_what = NULL, *record = NULL;
	uint64_t fail_every;
	int rc;

	*state = NULL;
	rc = drv_settings_only(settings, keys, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_uint(settings, "fail_every", 0, 0, UINT32_MAX,
		    &fail_every, err, errlen);
	/* Optional strings: a NULL default would make them required. */
	if (rc == DBS_OK && json_object_get(settings, "crash_on") != NULL)
		rc = drv_setting_string(
		    settings, "crash_on", NULL, &crash_on, err, errlen);
	if (rc == DBS_OK && json_object_get(settings, "hog") != NULL)
		rc = drv_setting_string(
		    settings, "hog", NULL, &hog_what, err, errlen);
	if (rc == DBS_OK && json_object_get(settings, "record") != NULL)
		rc = drv_setting_string(
		    settings, "record", NULL, &record, err, errlen);
	if (rc != DBS_OK)
		return rc;
	if (hog_what != NULL && strcmp(hog_what, "memory") != 0 &&
	    strcmp(hog_what, "cpu") != 0 && strcmp(hog_what, "files") != 0) {
		snprintf(err, errlen, "hog: expected memory, cpu or files");
		return DBS_ECONFIG;
	}
	np = calloc(1, sizeof(*np));
	if (np == NULL)
		return DBS_ENOMEM;
	np->fail_every = fail_every;
	np->record_fd = -1;
	if (record != NULL &&
	    (np->record_fd = open(record,
		 O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		snprintf(
		    err, errlen, "record: %s: %s", record, strerror(errno));
		free(np);
		return DBS_EIO;
	}
	if ((crash_on != NULL && (np->crash_on = strdup(crash_on)) == NULL) ||
	    (hog_what != NULL && (np->hog = strdup(hog_what)) == NULL)) {
		free(np->crash_on);
		free(np);
		return DBS_ENOMEM;
	}
	*state = np;
	return DBS_OK;
}

static enum drv_result
null_push(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    const char *idempotency_key, char *err, size_t errlen)
{
	struct null_pusher *np = state;

	np->pushes++;
	if (np->crash_on != NULL && p->external_id != NULL &&
	    strcmp(p->external_id, np->crash_on) == 0) {
		fprintf(stderr, "null pusher: crash_on %s: aborting\n",
		    np->crash_on);
		abort();
	}
	if (np->hog != NULL)
		hog(np->hog);
	if (np->fail_every != 0 && np->pushes % np->fail_every == 0) {
		snprintf(err, errlen,
		    "failing push %llu on purpose (fail_every %llu)",
		    (unsigned long long)np->pushes,
		    (unsigned long long)np->fail_every);
		return DRV_RETRY;
	}
	if (np->record_fd >= 0) {
		char line[1024];
		int n = snprintf(line, sizeof(line), "%s %s\n",
		    idempotency_key, p->external_id);

		if (n < 0 || (size_t)n >= sizeof(line) ||
		    write(np->record_fd, line, (size_t)n) != n) {
			snprintf(err, errlen, "record: cannot write");
			return DRV_RETRY;
		}
	}
	return DRV_OK;
}

static void
null_fini(void *state)
{
	struct null_pusher *np = state;

	if (np == NULL)
		return;
	free(np->crash_on);
	free(np->hog);
	if (np->record_fd >= 0)
		close(np->record_fd);
	free(np);
}

/* dry-run: the null pusher's dry mode keeps nothing either (no record,
 * no crash, no hog: those are for the real pushes of fault tests). */
static enum drv_result
null_dry_push(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    const char *idempotency_key, char *desc, size_t desclen, char *err,
    size_t errlen)
{
	(void)state;
	(void)ctx;
	(void)p;
	(void)err;
	(void)errlen;
	snprintf(desc, desclen, "accept %s and discard it", idempotency_key);
	return DRV_OK;
}

const struct drv_ops drv_null_ops = {
    .type = "null",
    .kind = DRV_PUSHER,
    .init = null_init,
    .push = null_push,
    .fini = null_fini,
    .dry_push = null_dry_push,
};
