/*
 * service.c — databusd's state told to the service manager (service.h).
 *
 * The loop calls sup_service_timers() every turn, after the messages of
 * the turn were handled: it works out the one-line state from struct sup
 * and sends what changed. So no handler needs to know about systemd: a
 * pause, a store failure or a worker coming up shows in the next turn's
 * STATUS, and READY=1 goes out in the turn in which the last child came
 * up. The watchdog ping lives here too, so only a turning loop pings.
 */
#include <stdio.h>
#include <string.h>

#include "child.h"
#include "sd_notify.h"
#include "service.h"
#include "wire.h"

static struct {
	bool ready_sent;    /* READY=1 went out once */
	bool stopping_sent; /* STOPPING=1 went out */
	bool reloading;     /* between RELOADING=1 and its READY=1 */
	int64_t ping_at_ms; /* monotonic: next WATCHDOG=1 */
	char status[512];   /* the last STATUS sent */
} svc;

void
sup_service_open(void)
{
	char err[256];

	if (!sdn_open(err, sizeof(err)) && err[0] != '\0')
		sup_warn("%s; not notifying the service manager", err);
}

/* Whether a child in state `st` has come up for good or bad. */
static bool
came_up(Dbs__WorkerState st)
{
	return st == DBS__WORKER_STATE__WS_READY ||
	       st == DBS__WORKER_STATE__WS_BUSY ||
	       st == DBS__WORKER_STATE__WS_FAILED;
}

/* The one-line state into `buf`; returns whether every child came up. */
static bool
describe(const struct sup *s, char *buf, size_t len)
{
	size_t up = 0, failed = 0, running = s->web.pid > 0, n = s->n_workers;
	bool web_up = !s->cfg->web_enabled || came_up(s->web.state);
	char web[300] = "";
	const char *st;

	for (size_t i = 0; i < n; i++) {
		up += came_up(s->workers[i]->state);
		failed += s->workers[i]->state == DBS__WORKER_STATE__WS_FAILED;
		running += s->workers[i]->pid > 0;
	}
	if (s->cfg->web_enabled)
		snprintf(web, sizeof(web), "; web %s://%s %s",
		    s->cfg->web_tls_cert != NULL ? "https" : "http",
		    s->cfg->web_listen, child_state_name(s->web.state));
	if (s->shutting_down)
		st = "shutting down";
	else if (s->intake_paused)
		st = "intake paused";
	else if (up < n || !web_up)
		st = "starting";
	else if (sched_paused(s->sched))
		st = "paused";
	else
		st = "ready";
	if (s->shutting_down)
		snprintf(buf, len, "%s: %zu process(es) left", st, running);
	else if (s->intake_paused)
		snprintf(buf, len, "%s: %.400s", st, s->store_error);
	else
		snprintf(buf, len, "%s: %zu of %zu worker(s) up, %zu failed%s",
		    st, up - failed, n, failed, web);
	for (char *p = buf; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' '; /* one line: a newline would end the value */
	return up == n && web_up;
}

void
sup_service_timers(struct sup *s, int64_t now, int64_t *wake)
{
	int64_t every = sdn_watchdog_ms();
	char status[sizeof(svc.status)];
	bool all_up;

	if (!sdn_active())
		return;
	all_up = describe(s, status, sizeof(status));
	if (s->shutting_down && !svc.stopping_sent) {
		svc.stopping_sent = true;
		sdn_send("STOPPING=1\nSTATUS=%s", status);
	} else if (!svc.ready_sent && all_up && !s->shutting_down) {
		svc.ready_sent = true;
		sdn_send("READY=1\nSTATUS=%s", status);
	} else if (strcmp(status, svc.status) != 0) {
		sdn_send("STATUS=%s", status);
	}
	memcpy(svc.status, status, sizeof(status));
	if (every > 0) {
		if (now >= svc.ping_at_ms) {
			sdn_send("WATCHDOG=1");
			svc.ping_at_ms = now + every;
		}
		if (*wake < 0 || svc.ping_at_ms < *wake)
			*wake = svc.ping_at_ms;
	}
}

void
sup_service_reloading(struct sup *s)
{
	if (!sdn_active() || !svc.ready_sent || s->shutting_down)
		return;
	svc.reloading = true;
	sdn_send("RELOADING=1\nSTATUS=reloading the configuration\n"
		 "MONOTONIC_USEC=%lld",
	    (long long)wire_mono_ms() * 1000);
}

void
sup_service_reloaded(struct sup *s)
{
	(void)s;
	if (!svc.reloading)
		return;
	svc.reloading = false;
	sdn_send("READY=1");
	svc.status[0] = '\0'; /* the next turn says the state again */
}
