/*
 * config_check.c — asks the drivers whether they accept their settings
 * (config.h: config_check_drivers). The parser (config_parse.c) leaves the
 * settings inside a puller/processor/pusher entry alone: they belong to the
 * driver, and the supervisor never runs driver code. So the check starts a
 * `databus-worker --check` child (proto/subprocess.c), feeds it every
 * definition as JSON on its stdin and reads its verdict from its stdout,
 * all within the drive timeout; exit status 100 means "problems", printed
 * one per line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "config.h"
#include "config_parse.h"
#include "dbs_error.h"
#include "subprocess.h"

#define CHECK_MAX_OUTPUT (64 * 1024)
#define CHECK_MAX_LINES  8

/* The --check request: [{"file","path","client","definition"}, ...]. */
static char *
check_request(const struct config *cfg, size_t *n_defs)
{
	json_t *arr = json_array();
	char *text = NULL;

	*n_defs = 0;
	if (arr == NULL)
		return NULL;
	for (size_t i = 0; i < cfg->n_clients; i++) {
		const struct cfg_client *c = &cfg->clients[i];

		for (size_t k = 0; k < c->n_defs; k++) {
			const struct cfg_definition *d = &c->defs[k];
			json_t *def = json_loads(d->json, 0, NULL);

			if (def == NULL ||
			    json_array_append_new(
				arr, json_pack("{s:s, s:s, s:s, s:o}", "file",
					 d->file, "path", d->path, "client",
					 d->client, "definition", def)) != 0)
				goto out;
			(*n_defs)++;
		}
	}
	text = json_dumps(arr, JSON_COMPACT);
out:
	json_decref(arr);
	return text;
}

/* The first problems the worker printed, one per line, into err. */
static void
check_problems(const char *out, size_t len, const char *worker_path, char *err,
    size_t errlen)
{
	size_t used = 0, lines = 0, more = 0;
	const char *q = out, *end = out + len;

	if (errlen == 0)
		return;
	err[0] = '\0';
	while (q < end) {
		const char *nl = memchr(q, '\n', (size_t)(end - q));
		size_t n = nl != NULL ? (size_t)(nl - q) : (size_t)(end - q);

		if (n > 0 && q[n - 1] == '\r')
			n--;
		if (n > 0) {
			if (lines < CHECK_MAX_LINES && used < errlen) {
				int w = snprintf(err + used, errlen - used,
				    "%s%.*s", lines > 0 ? "\n" : "", (int)n,
				    q);
				if (w > 0)
					used += (size_t)w;
				lines++;
			} else {
				more++;
			}
		}
		q = nl != NULL ? nl + 1 : end;
	}
	if (lines == 0)
		snprintf(err, errlen,
		    "%s --check found problems but did not name them",
		    worker_path);
	else if (more > 0 && used < errlen)
		snprintf(err + used, errlen - used, "\n(and %zu more)", more);
}

int
config_check_drivers_with(const struct config *cfg, const char *worker_path,
    char *err, size_t errlen)
{
	char *argv[] = {NULL, "--check", NULL};
	struct subprocess_spec spec = {.cap = SUBPROCESS_CAP_TRUNCATES};
	struct subprocess_result res;
	char *request;
	size_t n_defs;
	int rc, status;

	if (errlen > 0)
		err[0] = '\0';
	if (worker_path == NULL)
		worker_path = "databus-worker";
	request = check_request(cfg, &n_defs);
	if (request == NULL) {
		if (errlen > 0)
			snprintf(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	if (n_defs == 0) {
		free(request);
		return DBS_OK;
	}
	/* Relative driver paths are relative to the configuration's
	 * directory, in the check as in the workers; a child that closed its
	 * stdout but does not exit is bounded by the same deadline. */
	argv[0] = (char *)worker_path;
	spec.path = worker_path;
	spec.argv = argv;
	spec.dir = cfg->base_dir;
	spec.in = request;
	spec.in_len = strlen(request);
	spec.out_max = CHECK_MAX_OUTPUT;
	spec.timeout_ms =
	    cfg->drive_timeout_ms > 0 ? cfg->drive_timeout_ms : 5 * MINUTE_MS;
	rc = subprocess_run(&spec, &res);
	free(request);
	if (rc == DBS_ENOMEM) {
		if (errlen > 0)
			snprintf(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	status = res.status;
	if (rc == DBS_OK && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		free(res.out);
		return DBS_OK;
	}
	if (errlen == 0) {
		/* nothing to say */
	} else if (rc == DBS_ETIMEOUT) {
		snprintf(err, errlen,
		    "cannot run %s --check: no answer within %lld ms",
		    worker_path, (long long)spec.timeout_ms);
	} else if (rc != DBS_OK) {
		snprintf(err, errlen, "cannot run %s --check: %s", worker_path,
		    strerror(res.error));
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 100) {
		check_problems(res.out, res.out_len, worker_path, err, errlen);
	} else if (WIFEXITED(status)) {
		snprintf(err, errlen, "cannot run %s --check: exit status %d",
		    worker_path, WEXITSTATUS(status));
	} else {
		snprintf(err, errlen,
		    "cannot run %s --check: killed by signal %d", worker_path,
		    WTERMSIG(status));
	}
	free(res.out);
	return DBS_ECONFIG;
}

int
config_check_drivers(const struct config *cfg, char *err, size_t errlen)
{
	return config_check_drivers_with(cfg, cfg->worker_path, err, errlen);
}
