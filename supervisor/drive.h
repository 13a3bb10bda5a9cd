/*
 * drive.h — one drive of a passenger definition (drive.c): started by the
 * scheduler or a webhook, fed by the worker's messages (dispatch.c), and
 * ended, aborted or timed out here. The step and state rules a drive
 * applies to each passenger are passenger.h's.
 */
#ifndef DBS_DRIVE_H
#define DBS_DRIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "databus.pb-c.h"
#include "sup.h"

/* Begin a drive of w's definition: a pull first when `pull`. */
void drive_start(struct sup *s, struct worker *w, bool pull);

/* What the worker says during a drive (dispatch.c's table calls these). */
void drive_on_pulled(struct sup *s, struct worker *w, Dbs__PulledBatch *b);
void drive_on_notified(struct sup *s, struct worker *w, Dbs__Notified *n);
void drive_on_work_result(struct sup *s, struct worker *w, Dbs__WorkResult *r);
void drive_on_log(struct sup *s, struct worker *w, Dbs__LogBatch *l);

/* Between commits (no batch open): send the worker the passengers now
 * due, up to the window of batches in flight. */
void drive_dispatch(struct sup *s, struct worker *w);
/* A passenger of w's definition became due now (a webhook delivery): true
 * if the running drive takes it (it is young enough), false if the caller
 * must make a drive due. */
bool drive_take_new(struct sup *s, struct worker *w);
/* End w's drive, its worker gone: unanswered notifies wait for the next
 * drive, passengers in flight are isolated (or charged, see drive.c). */
void drive_abort(struct sup *s, struct worker *w, const char *why);
/* Ask the scheduler for a work drive when the definition's earliest
 * pending passenger is due. */
void drive_schedule_retry(struct sup *s, struct worker *w);
void drive_free(struct drive *d);
void drive_free_notify(struct notify_batch *nb); /* the whole list */
/* The drive's deadline: its worker is killed when it passes. */
void drive_timers(struct sup *s, struct worker *w, int64_t now, int64_t *wake);
/* Move the time limit of w's drive on by `ms` (a stall of databusd;
 * stall.c). */
void drive_postpone(struct worker *w, int64_t ms);

#endif
