/*
 * web.c — databusd supervises databus-web like a worker.
 *
 * When the configuration enables the web ("web": {"enabled": true}),
 * databusd starts databus-web (next to databusd, or $DATABUS_WEB) with the
 * data dir, the listen address and, with "tls", the certificate and key
 * files (checked at config load), and moves it through the same life
 * table as a worker (life.h): STARTING until databus-web says, with a
 * WebReady control request, that it listens; READY then; restarted with
 * the default backoff (100 ms doubling to 30 s, FAILED after too many
 * exits) and stopped at shutdown. The web talks to databusd only through
 * the control and events sockets and reads the store read-only, so there
 * is no heartbeat to watch: its liveness is its process.
 */
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dbs_error.h"
#include "child.h"
#include "status.h"
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
set_state(struct sup *s, Dbs__WorkerState st)
{
	if (s->web.state == st)
		return;
	s->web.state = st;
	sup_event_system(s);
}

/* After an exit (or a failed start) at `now`: BACKOFF, or FAILED when it
 * exited too often. */
static void
backoff(struct sup *s, int64_t now)
{
	Dbs__WorkerState next =
	    child_backoff(&s->web.rs, &restart_policy_default,
		s->web.started_ms, now, sup_random64(), &s->web.restart_at_ms);

	if (next == DBS__WORKER_STATE__WS_FAILED) {
		snprintf(s->web.error, sizeof(s->web.error),
		    "restarted too often; fix the cause and restart databusd");
		sup_err("databus-web: FAILED: %s", s->web.error);
	}
	s->web.state = next;
	sup_event_system(s);
}

/* Apply a life event to databus-web, carrying out its action. */
static void
web_event(struct sup *s, enum child_event ev, int64_t now)
{
	struct child_step step = child_life(s->web.state, ev);

	if (!step.valid)
		return;
	switch (step.action) {
	case CHILD_DO_SPAWN:
		web_start(s);
		break;
	case CHILD_DO_BACKOFF:
		backoff(s, now);
		break;
	case CHILD_DO_KILL:
		web_stop(s, SIGKILL);
		break;
	case CHILD_DO_NOTHING:
		set_state(s, step.next);
		break;
	}
}

void
web_start(struct sup *s)
{
	char path[4200], parent[16], app[4300], dir[4200];
	char *argv[16 + 2 * 64 + 2 * 64];
	size_t i, n;
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
	n = 9;
	if (s->cfg->web_tls_cert != NULL) {
		argv[n++] = "--tls-cert";
		argv[n++] = s->cfg->web_tls_cert;
		argv[n++] = "--tls-key";
		argv[n++] = s->cfg->web_tls_key;
	}
	for (i = 0; i < s->cfg->n_web_allowed_hosts && i < 64; i++) {
		argv[n++] = "--allowed-host";
		argv[n++] = s->cfg->web_allowed_hosts[i];
	}
	for (i = 0; i < s->cfg->n_web_metrics_allow && i < 64; i++) {
		argv[n++] = "--metrics-allow";
		argv[n++] = s->cfg->web_metrics_allow[i];
	}
	if (s->cfg->web_metrics_token_file != NULL) {
		argv[n++] = "--metrics-token-file";
		argv[n++] = s->cfg->web_metrics_token_file;
	}
	argv[n] = NULL;
	rc = sup_spawn(s, argv, &pid);
	s->web.started_ms = wire_mono_ms();
	if (rc != 0) {
		snprintf(s->web.error, sizeof(s->web.error),
		    "cannot start %.180s: %s", path, strerror(rc));
		sup_err("databus-web: %s", s->web.error);
		web_event(s, CHILD_EV_SPAWN_FAILED, s->web.started_ms);
		return;
	}
	s->web.pid = pid;
	s->web.error[0] = '\0';
	sup_log("databus-web (pid %d) on %s://%s", (int)pid,
	    s->cfg->web_tls_cert != NULL ? "https" : "http",
	    s->cfg->web_listen);
	s->web.state = DBS__WORKER_STATE__WS_BACKOFF; /* so the event fires */
	web_event(s, CHILD_EV_SPAWNED, s->web.started_ms);
}

int
web_ready(struct sup *s, const Dbs__WebReady *r, char *err, size_t errlen)
{
	if (s->web.pid <= 0 || r->pid != (uint32_t)s->web.pid) {
		snprintf(err, errlen,
		    "pid %u is not the supervised databus-web", r->pid);
		return DBS_EINVAL;
	}
	web_event(s, CHILD_EV_READY, wire_mono_ms());
	snprintf(
	    err, errlen, "databus-web %s", child_state_name(s->web.state));
	return DBS_OK;
}

bool
web_reaped(struct sup *s, pid_t pid, int status)
{
	if (pid != s->web.pid || pid <= 0)
		return false;
	s->web.pid = 0;
	if (s->shutting_down) {
		web_event(s, CHILD_EV_EXITED_FINAL, wire_mono_ms());
		return true;
	}
	if (WIFEXITED(status))
		snprintf(s->web.error, sizeof(s->web.error), "exited %d",
		    WEXITSTATUS(status));
	else
		snprintf(s->web.error, sizeof(s->web.error),
		    "killed by signal %d", WTERMSIG(status));
	sup_warn("databus-web ended: %s", s->web.error);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 100) {
		web_event(s, CHILD_EV_EXITED_PERMANENT, wire_mono_ms());
		return true;
	}
	s->web.restarts++;
	web_event(s, CHILD_EV_EXITED, wire_mono_ms());
	return true;
}

void
web_timers(struct sup *s, int64_t now, int64_t *wake)
{
	if (s->web.state != DBS__WORKER_STATE__WS_BACKOFF)
		return;
	if (s->shutting_down) {
		web_event(s, CHILD_EV_CANCEL, now);
		return;
	}
	if (now >= s->web.restart_at_ms) {
		web_event(s, CHILD_EV_RESTART_DUE, now);
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
