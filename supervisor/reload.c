/*
 * reload.c — the table of workers and the reload of the configuration.
 *
 * Each passenger definition has one worker, found by client and name or
 * by its scheduler slot. A reload (SIGHUP, the control socket, a saved
 * configuration) loads and checks the new file before it changes
 * anything; then it compares each definition's JSON with the one its
 * worker was started with: changed ones are restarted (at once when the
 * worker is not running, else when it is idle: restart_wanted), new ones
 * get a worker, and removed ones are marked and forgotten once their
 * process ended. The data dir cannot change while running.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "dbs_error.h"
#include "drive.h"
#include "event_log.h"
#include "quota.h"
#include "reload.h"
#include "service.h"
#include "wire.h"

static struct config **old_cfgs; /* kept: removed workers point into them */
static size_t n_old_cfgs;

struct worker *
sup_find_worker(struct sup *s, const char *client, const char *definition)
{
	for (size_t i = 0; i < s->n_workers; i++) {
		struct worker *w = s->workers[i];

		if (!w->removed && strcmp(w->def->client, client) == 0 &&
		    strcmp(w->def->name, definition) == 0)
			return w;
	}
	return NULL;
}

struct worker *
sup_worker_by_slot(struct sup *s, uint32_t slot)
{
	/* s->workers is in slot order: slots only grow, new workers are
	 * appended and sup_sweep_removed keeps the order. */
	size_t lo = 0, hi = s->n_workers;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->workers[mid]->slot < slot)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n_workers && s->workers[lo]->slot == slot
		   ? s->workers[lo]
		   : NULL;
}

struct worker *
sup_add_worker(struct sup *s, struct cfg_definition *def)
{
	struct worker **ws;
	struct worker *w;

	ws = realloc(s->workers, (s->n_workers + 1) * sizeof(*ws));
	if (ws == NULL)
		return NULL;
	s->workers = ws;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->slot = ++s->next_slot;
	w->def = def;
	w->recv_fd = -1;
	w->state = DBS__WORKER_STATE__WS_STOPPED;
	s->workers[s->n_workers++] = w;
	sched_add(s->sched, w->slot, def->sync_period_ms, wire_mono_ms());
	sched_block(s->sched, w->slot, true); /* until its worker is ready */
	return w;
}

/* Two optional texts are the same (both NULL, or equal). */
static bool
same_text(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
free_worker(struct worker *w)
{
	if (w == NULL)
		return;
	if (w->sock_open)
		child_close_socket(w->sock);
	drive_free(w->drive);
	drive_free_notify(w->renotify);
	free(w->def_json);
	free(w);
}

void
sup_sweep_removed(struct sup *s)
{
	size_t j = 0;

	if (s->n_removed == 0)
		return;
	for (size_t i = 0; i < s->n_workers; i++) {
		struct worker *w = s->workers[i];

		if (w->removed && w->pid == 0 && w->drive == NULL) {
			s->n_removed--;
			sup_event_definition_kind(
			    s, w, DBS__EVENT_KIND__EV_DELETE);
			sched_remove(s->sched, w->slot);
			free_worker(w);
			continue;
		}
		s->workers[j++] = w;
	}
	s->n_workers = j;
}

void
sup_workers_free(struct sup *s)
{
	for (size_t i = 0; i < s->n_workers; i++)
		free_worker(s->workers[i]);
	free(s->workers);
	s->workers = NULL;
	free(s->driving);
	s->driving = NULL;
	s->n_driving = s->cap_driving = 0;
	child_free_queue(s);
	s->n_workers = 0;
	for (size_t i = 0; i < n_old_cfgs; i++)
		config_free(old_cfgs[i]);
	free(old_cfgs);
	old_cfgs = NULL;
	n_old_cfgs = 0;
}

/* Point the existing workers at the new configuration: mark removed
 * ones, restart changed ones. */
static void
reload_existing(struct sup *s, struct config *ncfg)
{
	for (size_t i = 0; i < s->n_workers; i++) {
		struct worker *w = s->workers[i];
		struct cfg_definition *nd =
		    (struct cfg_definition *)config_find(
			ncfg, w->def->client, w->def->name);

		if (w->removed)
			continue;
		if (nd == NULL) {
			w->removed = true;
			s->n_removed++;
			sup_timers_changed(s);
			sched_block(s->sched, w->slot, true);
			sup_log("reload: %s/%s removed", w->def->client,
			    w->def->name);
			continue;
		}
		w->def = nd;
		sched_set_period(s->sched, w->slot, nd->sync_period_ms);
		if (w->def_json != NULL && strcmp(nd->json, w->def_json) == 0)
			continue;
		sup_log("reload: %s/%s changed; restarting its worker",
		    nd->client, nd->name);
		switch (w->state) {
		case DBS__WORKER_STATE__WS_FAILED:
		case DBS__WORKER_STATE__WS_BACKOFF:
		case DBS__WORKER_STATE__WS_STOPPED:
			memset(&w->rs, 0, sizeof(w->rs));
			child_spawn(s, w);
			break;
		default:
			w->restart_wanted = true;
			sup_timers_changed(s);
			sched_block(s->sched, w->slot, true);
		}
	}
}

/* Start a worker for each definition the new configuration adds. */
static void
reload_added(struct sup *s, struct config *ncfg)
{
	for (size_t c = 0; c < ncfg->n_clients; c++)
		for (size_t d = 0; d < ncfg->clients[c].n_defs; d++) {
			struct cfg_definition *def = &ncfg->clients[c].defs[d];
			struct worker *w;

			if (sup_find_worker(s, def->client, def->name) != NULL)
				continue;
			sup_log("reload: %s/%s added", def->client, def->name);
			if ((w = sup_add_worker(s, def)) != NULL) {
				sup_event_definition_kind(
				    s, w, DBS__EVENT_KIND__EV_CREATE);
				child_spawn(s, w);
			}
		}
}

static int
reload(struct sup *s, char *err, size_t errlen)
{
	struct config *ncfg = NULL, **olds;
	int rc;

	if (s->cfg->file == NULL) {
		snprintf(err, errlen,
		    "the demo configuration is built in; "
		    "nothing to reload");
		return DBS_OK;
	}
	if ((rc = config_load(s->cfg->file, &ncfg, err, errlen)) != DBS_OK)
		return rc;
	if ((rc = config_check_drivers(ncfg, err, errlen)) != DBS_OK)
		goto refuse;
	if (strcmp(ncfg->data_dir, s->cfg->data_dir) != 0) {
		snprintf(err, errlen,
		    "%s: $.data_dir: cannot change while "
		    "running; restart databusd",
		    ncfg->file);
		rc = DBS_ECONFIG;
		goto refuse;
	}
	if (ncfg->store_backend != s->cfg->store_backend ||
	    !same_text(ncfg->pg_conninfo, s->cfg->pg_conninfo) ||
	    !same_text(ncfg->pg_schema, s->cfg->pg_schema)) {
		snprintf(err, errlen,
		    "%s: $.store: the backend and its connection cannot "
		    "change while running; restart databusd",
		    ncfg->file);
		rc = DBS_ECONFIG;
		goto refuse;
	}
	olds = realloc(old_cfgs, (n_old_cfgs + 1) * sizeof(*olds));
	if (olds == NULL) {
		rc = DBS_ENOMEM;
		goto refuse;
	}
	old_cfgs = olds;
	old_cfgs[n_old_cfgs++] = s->cfg;
	s->cfg = ncfg;
	store_set_dedup_horizon(s->st, ncfg->dedup_horizon_ms);
	(void)users_import(s);
	reload_existing(s, ncfg);
	reload_added(s, ncfg);
	quota_reloaded(s);
	snprintf(err, errlen, "configuration reloaded");
	return DBS_OK;
refuse:
	config_free(ncfg);
	return rc;
}

int
sup_reload(struct sup *s, char *err, size_t errlen)
{
	int rc;

	sup_service_reloading(s);
	rc = reload(s, err, errlen);
	sup_service_reloaded(s);
	return rc;
}
