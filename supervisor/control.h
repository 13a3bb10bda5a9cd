/*
 * control.h — the control socket of databusd (control.c): requests from
 * databus-web and databusctl, served through one verb table.
 */
#ifndef DBS_CONTROL_H
#define DBS_CONTROL_H

#include <stdint.h>

#include "databus.pb-c.h"
#include "sup.h"

/* Listen on run/control; DBS_OK or an error. */
int control_open(struct sup *s);
/* Serve the requests waiting on the socket. */
void control_handle(struct sup *s);
/* A worker answered a peek: reply to the request that waits for it. */
void control_on_peek_result(
    struct sup *s, struct worker *w, Dbs__PeekResult *r);
/* Fail the peeks waiting on w (it is gone) with `code` and `msg`. */
void control_fail_peeks(
    struct sup *s, struct worker *w, int code, const char *msg);
/* Peeks that waited too long. */
void control_timers(struct sup *s, int64_t now, int64_t *wake);

#endif
