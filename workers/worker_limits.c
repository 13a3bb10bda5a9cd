/*
 * worker_limits.c — the resource limits a worker applies to itself.
 *
 * databusd passes a definition's "limits" (docs/configuration.md) as
 * `--limits memory=BYTES,cpu=SECONDS,files=N` (0: no limit). The worker
 * calls setrlimit on itself at start, before it loads any driver, so the
 * limits bind every driver it hosts and nothing else: databusd and the
 * other workers are separate processes.
 *
 *   memory  RLIMIT_DATA: heap and private writable mappings (thread stacks
 *           included). An allocation past it fails; a driver that cannot
 *           cope crashes the worker, which databusd restarts.
 *   cpu     RLIMIT_CPU: CPU seconds over the worker's life. At the soft
 *           limit the kernel sends SIGXCPU (which ends the worker), one
 *           second later SIGKILL. The restarted worker has a fresh budget.
 *   files   RLIMIT_NOFILE: open descriptors; opening more fails (EMFILE).
 *
 * Under AddressSanitizer a memory limit cannot work (the shadow memory is
 * terabytes of mappings), so that build leaves memory unlimited and says
 * so on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "worker_limits.h"

#if defined(__SANITIZE_ADDRESS__)
#define LIMITS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LIMITS_ASAN 1
#endif
#endif

static int
set(int resource, rlim_t soft, rlim_t hard, const char *name, char *err,
    size_t errlen)
{
	struct rlimit rl;

	if (getrlimit(resource, &rl) != 0) {
		snprintf(
		    err, errlen, "getrlimit %s: %s", name, strerror(errno));
		return -1;
	}
	/* Never raise a limit that is lower already (we may not). */
	if (rl.rlim_max != RLIM_INFINITY && hard > rl.rlim_max)
		hard = rl.rlim_max;
	if (soft > hard)
		soft = hard;
	rl.rlim_cur = soft;
	rl.rlim_max = hard;
	if (setrlimit(resource, &rl) != 0) {
		snprintf(err, errlen, "setrlimit %s %llu: %s", name,
		    (unsigned long long)soft, strerror(errno));
		return -1;
	}
	return 0;
}

int
worker_limits_apply(const char *spec, char *err, size_t errlen)
{
	unsigned long long memory = 0, cpu = 0, files = 0;
	int n = -1;

	if (sscanf(spec, "memory=%llu,cpu=%llu,files=%llu%n", &memory, &cpu,
		&files, &n) != 3 ||
	    n < 0 || spec[n] != '\0') {
		snprintf(err, errlen,
		    "--limits: expected memory=BYTES,cpu=SECONDS,files=N");
		return -1;
	}
	if (memory != 0) {
#ifdef LIMITS_ASAN
		fprintf(stderr,
		    "databus-worker: memory limit %llu not "
		    "applied under AddressSanitizer\n",
		    memory);
#else
		if (set(RLIMIT_DATA, memory, memory, "memory", err, errlen) !=
		    0)
			return -1;
#endif
	}
	if (cpu != 0 &&
	    set(RLIMIT_CPU, cpu, cpu + 1, "cpu_time", err, errlen) != 0)
		return -1;
	if (files != 0 &&
	    set(RLIMIT_NOFILE, files, files, "open_files", err, errlen) != 0)
		return -1;
	return 0;
}
