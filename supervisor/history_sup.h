/*
 * history_sup.h — databusd's hooks into the charts' history (history.h,
 * history_sup.c): where figures change, the minute timer, the control
 * verb. Every hook is a no-op when the history could not be allocated.
 */
#ifndef DBS_HISTORY_SUP_H
#define DBS_HISTORY_SUP_H

#include <nng/nng.h>
#include <stdint.h>

#include "databus.pb-c.h"

struct sup;
struct worker;

/* At start (loads <data_dir>/history) and at shutdown (writes it). */
void history_sup_open(struct sup *s);
void history_sup_close(struct sup *s);

/* A drive of w ended: passengers done, failed attempts, gone dead, how
 * long it took (ms). */
void history_sup_drive(struct sup *s, struct worker *w, uint32_t done,
    uint32_t failed, uint32_t dead, int64_t drive_ms);
/* A group commit took elapsed_us. */
void history_sup_commit(struct sup *s, int64_t elapsed_us);
/* Once a minute: the store's size; once an hour: the file. */
void history_sup_timers(struct sup *s, int64_t now, int64_t *wake);

/* The `history` control verb: answers the request itself, at once. */
void history_sup_ctl(
    struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req);

#endif
