/*
 * reload.h — the table of workers and the reload of the configuration
 * (reload.c).
 *
 * databusd keeps one worker per passenger definition in s->workers. A
 * reload adds workers for new definitions, restarts those whose
 * definition changed (at once when not running, else once idle) and
 * marks removed ones, which are forgotten once stopped
 * (sup_sweep_removed). Configurations replaced by a reload are kept until
 * exit (sup_workers_free): removed workers still point into them.
 */
#ifndef DBS_RELOAD_H
#define DBS_RELOAD_H

#include <stddef.h>

#include "sup.h"

/* The worker of client/definition, not counting removed ones; or NULL. */
struct worker *sup_find_worker(
    struct sup *s, const char *client, const char *definition);

/* The worker in `slot`, or NULL. */
struct worker *sup_worker_by_slot(struct sup *s, uint32_t slot);

/* Add a (stopped) worker for `def` and its scheduler slot; NULL when out
 * of memory. */
struct worker *sup_add_worker(struct sup *s, struct cfg_definition *def);

/* Forget workers removed from the configuration once they stopped. */
void sup_sweep_removed(struct sup *s);

/* Reload the configuration; err gets the outcome, or the reason it was
 * refused. */
int sup_reload(struct sup *s, char *err, size_t errlen);

/* At exit: free every worker and the configurations reloads replaced. */
void sup_workers_free(struct sup *s);

#endif
