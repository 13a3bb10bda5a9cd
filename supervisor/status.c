/*
 * status.c — the state of workers, definitions and databusd as messages.
 *
 * The status reply (control.c), the event log (event_log.c) and the live
 * system state (system_live.c) all describe the same things; this file
 * fills those descriptions once. Times databusd keeps on the monotonic
 * clock are shown as wall-clock times, with an offset fixed at start.
 */
#include <stdlib.h>
#include <unistd.h>

#include "child.h"
#include "event_log.h"
#include "status.h"

static int64_t wall_offset_ms;

void
sup_status_start(const struct sup *s, int64_t mono_now_ms)
{
	wall_offset_ms = s->started_wall_ms - mono_now_ms;
}

static int64_t
mono_to_wall(int64_t mono)
{
	return mono < 0 ? 0 : mono + wall_offset_ms;
}

void
sup_fill_worker_info(
    const struct sup *s, const struct worker *w, Dbs__WorkerInfo *wi)
{
	(void)s;
	dbs__worker_info__init(wi);
	wi->client = w->def->client;
	wi->definition = w->def->name;
	wi->slot = w->slot;
	wi->pid = w->pid;
	wi->state = w->state;
	wi->restarts = w->restarts;
	wi->last_exit = (char *)w->last_exit;
	wi->error = (char *)w->error;
	wi->rss_kib = w->rss_kib;
	wi->started_ms = w->pid > 0 ? w->started_wall_ms : 0;
	if (w->state == DBS__WORKER_STATE__WS_BACKOFF)
		wi->backoff_until_ms = mono_to_wall(w->restart_at_ms);
}

static char **
driver_names(const struct cfg_driver *d, size_t n)
{
	char **names = calloc(n + 1, sizeof(*names));

	for (size_t i = 0; names != NULL && i < n; i++)
		names[i] = d[i].name;
	return names;
}

void
sup_fill_definition_info(struct sup *s, const struct worker *w,
    Dbs__DefinitionInfo *di, Dbs__WorkerInfo *wi)
{
	const struct cfg_definition *def = w->def;
	int64_t next = sched_next_run(s->sched, w->slot);
	int64_t last = sched_last_run(s->sched, w->slot);

	dbs__definition_info__init(di);
	sup_fill_worker_info(s, w, wi);
	di->client = def->client;
	di->name = def->name;
	di->sync_period_ms = def->sync_period_ms;
	di->last_run_ms = last > 0 ? mono_to_wall(last) : 0;
	di->next_run_ms = next >= 0 ? mono_to_wall(next) : 0;
	di->driving = w->drive != NULL;
	di->last_outcome = (char *)w->last_outcome;
	di->worker = wi;
	di->open_access = users_open_access(s, def->client);
	if ((di->pullers = driver_names(def->pullers, def->n_pullers)) != NULL)
		di->n_pullers = def->n_pullers;
	if ((di->processors =
		    driver_names(def->processors, def->n_processors)) != NULL)
		di->n_processors = def->n_processors;
	if ((di->pushers = driver_names(def->pushers, def->n_pushers)) != NULL)
		di->n_pushers = def->n_pushers;
	metrics_fill_definition(w, di);
}

void
sup_clear_definition_info(Dbs__DefinitionInfo *di)
{
	free(di->pullers);
	free(di->processors);
	free(di->pushers);
	di->pullers = di->processors = di->pushers = NULL;
	di->n_pullers = di->n_processors = di->n_pushers = 0;
}

void
sup_fill_system_state(const struct sup *s, Dbs__SystemState *ss)
{
	dbs__system_state__init(ss);
	ss->paused = sched_paused(s->sched) && !s->shutting_down;
	ss->shutting_down = s->shutting_down;
	ss->intake_paused = s->intake_paused;
	ss->store_error = s->intake_paused ? (char *)s->store_error : "";
	ss->system_alias = s->cfg->system_alias;
	ss->version = SUP_VERSION;
	ss->started_ms = s->started_wall_ms;
	ss->pid = getpid();
	ss->data_dir = s->cfg->data_dir;
	ss->web_enabled = s->cfg->web_enabled;
	ss->web_listen = s->cfg->web_listen;
	ss->web_pid = s->web.pid;
	ss->web_state = s->web.state;
	ss->web_restarts = s->web.restarts;
	ss->web_error = (char *)s->web.error;
}

/*
 * Every change of a worker's state comes here: it goes to the event
 * stream, and the scheduler learns whether the worker's slot can drive
 * (ready, and neither being replaced nor removed).
 */
void
sup_event_worker(struct sup *s, const struct worker *w)
{
	Dbs__WorkerInfo wi;

	sup_timers_changed(s);
	sched_block(s->sched, w->slot,
	    w->state != DBS__WORKER_STATE__WS_READY || w->restart_wanted ||
		w->removed);

	sup_fill_worker_info(s, w, &wi);
	sup_event_append(s, w->def->client, DBS__RESOURCE__RES_WORKER,
	    DBS__EVENT_KIND__EV_UPDATE, &wi.base);
}

void
sup_event_system(struct sup *s)
{
	Dbs__SystemState ss;

	sup_fill_system_state(s, &ss);
	sup_event_append(s, "", DBS__RESOURCE__RES_SYSTEM,
	    DBS__EVENT_KIND__EV_UPDATE, &ss.base);
}
