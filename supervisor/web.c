/*
 * web.c — databusd supervises databus-web like a worker.
 *
 * When the configuration enables the web ("web": {"enabled": true}),
 * databusd starts databus-web (next to databusd, or $DATABUS_WEB) with the
 * data dir, the listen address and, with "tls", the certificate and key
 * files (checked at config load), restarts it with the same backoff as a
 * worker (100 ms doubling to 30 s, FAILED after too many exits) and stops
 * it at shutdown. The web talks to databusd only through the control and
 * events sockets and reads the store read-only, so there is no message
 * channel to watch here: its liveness is its process.
 */
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sup.h"
#include "wire.h"

static void
web_path(const struct sup *s, char *buf, size_t len)
{
	const char *env = getenv("DATABUS_WEB");
	char dir[4096];

	if (env != NULL && *env != '\0') {
		snprintf(buf, len, "%s", env);
		return;
	}
	snprintf(dir, sizeof(dir), "%s", s->cfg->worker_path);
	snprintf(buf, len, "%s/databus-web", dirname(dir));
}

static void
backoff(struct sup *s, int64_t now)
{
	uint64_t rnd = sup_random64();
	int64_t d = restart_next(
	    &s->web.rs, &restart_policy_default, s->web.started_ms, now, rnd);

	if (d < 0) {
		snprintf(s->web.error, sizeof(s->web.error),
		    "restarted too often; fix the cause and restart databusd");
		sup_log("databus-web: FAILED: %s", s->web.error);
		s->web.state = DBS__WORKER_STATE__WS_FAILED;
	} else {
		s->web.restart_at_ms = now + d;
		s->web.state = DBS__WORKER_STATE__WS_BACKOFF;
	}
	sup_event_system(s);
}

void
web_start(struct sup *s)
{
	char path[4200], parent[16], app[4300], dir[4200];
	char *argv[14];
	pid_t pid;
	int rc;

	if (!s->cfg->web_enabled || s->shutting_down)
		return;
	web_path(s, path, sizeof(path));
	snprintf(parent, sizeof(parent), "%d", (int)getpid());
	argv[0] = path;
	argv[1] = "--data";
	argv[2] = s->cfg->data_dir;
	argv[3] = "--listen";
	argv[4] = s->cfg->web_listen;
	/* The single-page app built by ./setup sits next to the binary. */
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(app, sizeof(app), "%s/webui-app", dirname(dir));
	argv[5] = "--parent";
	argv[6] = parent;
	argv[7] = "--static";
	argv[8] = app;
	argv[9] = NULL;
	if (s->cfg->web_tls_cert != NULL) {
		argv[9] = "--tls-cert";
		argv[10] = s->cfg->web_tls_cert;
		argv[11] = "--tls-key";
		argv[12] = s->cfg->web_tls_key;
		argv[13] = NULL;
	}
	rc = sup_spawn(s, argv, &pid);
	s->web.started_ms = wire_mono_ms();
	if (rc != 0) {
		snprintf(s->web.error, sizeof(s->web.error),
		    "cannot start %.180s: %s", path, strerror(rc));
		sup_log("databus-web: %s", s->web.error);
		backoff(s, s->web.started_ms);
		return;
	}
	s->web.pid = pid;
	s->web.error[0] = '\0';
	s->web.state = DBS__WORKER_STATE__WS_READY;
	sup_log("databus-web (pid %d) on %s://%s", (int)pid,
	    s->cfg->web_tls_cert != NULL ? "https" : "http",
	    s->cfg->web_listen);
	sup_event_system(s);
}

bool
web_reaped(struct sup *s, pid_t pid, int status)
{
	if (pid != s->web.pid || pid <= 0)
		return false;
	s->web.pid = 0;
	if (s->shutting_down) {
		s->web.state = DBS__WORKER_STATE__WS_STOPPED;
		return true;
	}
	if (WIFEXITED(status))
		snprintf(s->web.error, sizeof(s->web.error), "exited %d",
		    WEXITSTATUS(status));
	else
		snprintf(s->web.error, sizeof(s->web.error),
		    "killed by signal %d", WTERMSIG(status));
	sup_log("databus-web ended: %s", s->web.error);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 100) {
		s->web.state = DBS__WORKER_STATE__WS_FAILED;
		sup_event_system(s);
		return true;
	}
	s->web.restarts++;
	backoff(s, wire_mono_ms());
	return true;
}

void
web_timers(struct sup *s, int64_t now, int64_t *wake)
{
	if (s->web.state != DBS__WORKER_STATE__WS_BACKOFF)
		return;
	if (s->shutting_down) {
		s->web.state = DBS__WORKER_STATE__WS_STOPPED;
		return;
	}
	if (now >= s->web.restart_at_ms) {
		web_start(s);
		return;
	}
	if (*wake < 0 || s->web.restart_at_ms < *wake)
		*wake = s->web.restart_at_ms;
}

void
web_stop(struct sup *s, int sig)
{
	if (s->web.pid > 0)
		(void)kill(s->web.pid, sig);
}
