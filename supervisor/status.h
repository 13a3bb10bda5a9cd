/*
 * status.h — what databusd says about its workers, definitions and
 * itself, for the status reply and the event log (status.c).
 *
 * The fill functions point into `s` and `w` (names, errors): the filled
 * message is valid while they are and must not be freed with the
 * protobuf-c free functions. Only sup_fill_definition_info allocates (the
 * driver name lists): free those with sup_clear_definition_info.
 */
#ifndef DBS_STATUS_H
#define DBS_STATUS_H

#include <stdint.h>

#include "databus.pb-c.h"
#include "sup.h"

/* Fix the offset between the monotonic and the wall clock, once at
 * start, so that a time shown does not jitter between two statuses. */
void sup_status_start(const struct sup *s, int64_t mono_now_ms);

void sup_fill_worker_info(
    const struct sup *s, const struct worker *w, Dbs__WorkerInfo *wi);
void sup_fill_definition_info(struct sup *s, const struct worker *w,
    Dbs__DefinitionInfo *di, Dbs__WorkerInfo *wi);
/* Frees the name lists sup_fill_definition_info allocated. */
void sup_clear_definition_info(Dbs__DefinitionInfo *di);
void sup_fill_system_state(const struct sup *s, Dbs__SystemState *ss);

/* Append an event about a worker / the system to the open batch. */
void sup_event_worker(struct sup *s, const struct worker *w);
void sup_event_system(struct sup *s);

#endif
