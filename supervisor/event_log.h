/*
 * event_log.h — what databusd appends to the store's event log besides
 * what the store records by itself, and its retention by age
 * (event_log.c). Events about a worker or the system are status.h's.
 */
#ifndef DBS_EVENT_LOG_H
#define DBS_EVENT_LOG_H

#include <stdint.h>

#include "databus.pb-c.h"
#include "sup.h"

/* Append an event about a resource to the open batch. */
void sup_event_append(struct sup *s, const char *client, Dbs__Resource res,
    Dbs__EventKind kind, const ProtobufCMessage *m);
/* A definition (and its worker) changed, created or deleted. */
void sup_event_definition(struct sup *s, const struct worker *w);
void sup_event_definition_kind(
    struct sup *s, const struct worker *w, Dbs__EventKind kind);
/* Remove events older than store.event_max_age, a bounded number a turn. */
void sup_events_timers(struct sup *s, int64_t now, int64_t *wake);

#endif
