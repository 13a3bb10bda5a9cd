/*
 * store_swap.h — `databusctl restore` and `databusctl compact` while
 * databusd runs (store_swap.c): databusd pauses intake, swaps its store
 * for another data file and resumes, keeping the old one aside.
 */
#ifndef DBS_STORE_SWAP_H
#define DBS_STORE_SWAP_H

#include <nng/nng.h>

#include "databus.pb-c.h"
#include "sup.h"

/* The store_swap control verb: starts the swap, replies when done. */
void store_swap_request(
    struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req);

/* A restore waits for the drives under way to end: called by the loop's
 * timers (control_timers), it swaps once they have. */
void store_swap_timers(struct sup *s, int64_t now, int64_t *wake);

#endif
