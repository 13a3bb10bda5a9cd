/*
 * dispatch.h — what databusd accepts from a worker, in which state, and
 * who handles it (dispatch.c); and what follows when a worker is gone.
 *
 * One table, in the shape of the worker's own (workers/worker.c): for
 * each message body the worker states it is permitted in and its handler.
 * Like OpenSSH's privsep monitor, anything the table does not permit in
 * the worker's state, or anything that does not decode, kills that
 * worker — never databusd.
 */
#ifndef DBS_DISPATCH_H
#define DBS_DISPATCH_H

#include <stdbool.h>

#include "databus.pb-c.h"
#include "sup.h"

/* A set of worker states: one bit per Dbs__WorkerState. */
#define DISPATCH_IN(st) (1u << DBS__WORKER_STATE__WS_##st)

typedef void dispatch_fn(struct sup *s, struct worker *w, Dbs__WorkerMsg *m);

struct dispatch_entry {
	const char *name;    /* the message, for logs */
	unsigned states;     /* DISPATCH_IN(...) | ... */
	bool driving;        /* only while the worker has a drive */
	dispatch_fn *handle; /* NULL: never accepted from a worker */
};

/* The table's entry for `body`; NULL for a body it does not know. */
const struct dispatch_entry *dispatch_entry(Dbs__WorkerMsg__BodyCase body);

/* Whether a worker in `state` (with a drive when `driving`) may send
 * `body`. */
bool dispatch_permitted(
    Dbs__WorkerState state, bool driving, Dbs__WorkerMsg__BodyCase body);

/* Handle one decoded message of `w`: its handler when permitted, else
 * kill `w`. `m` stays the caller's. */
void dispatch_message(struct sup *s, struct worker *w, Dbs__WorkerMsg *m);

/* Read and handle what w's socket holds (a burst at most). */
void dispatch_worker(struct sup *s, struct worker *w);

/* Register the "worker gone" handling with child.c (once, at start). */
void dispatch_start(void);

#endif
