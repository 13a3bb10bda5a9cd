/*
 * life.h — the life of a supervised process as a state × event table
 * (life.c), shared by the workers (child.c) and databus-web (web.c).
 *
 * Like s6, databusd keeps each child in one of a few states and moves it
 * only through this table:
 *
 *   STOPPED  --spawned--> STARTING --ready--> READY --drive--> BUSY
 *   READY <--idle-- BUSY;  any running state --stop/killed--> STOPPING
 *   a running state --exited--> BACKOFF (or FAILED: too many exits)
 *                   --exited permanent--> FAILED (exit 100)
 *                   --exited final--> STOPPED (removed, shutting down)
 *                   --exited respawn--> spawn at once (changed config)
 *   BACKOFF --restart due--> spawn;  STARTING/READY/BUSY/STOPPING
 *   --deadline (ready, heartbeat, stop)--> kill;
 *   BACKOFF/FAILED --cancel--> STOPPED
 *
 * Readiness is a message the child sends (Ready from a worker, WebReady
 * from databus-web), never a guess. A step names the next state and an
 * action the caller carries out (spawn, kill, back off); an event the
 * table does not list for a state changes nothing. Everything here is
 * pure: the clock and the randomness are arguments, so the unit test
 * (tests/unit/test_child.c) drives it with a mocked clock.
 */
#ifndef DBS_LIFE_H
#define DBS_LIFE_H

#include <stdint.h>

#include "databus.pb-c.h"
#include "sched.h"

enum child_event {
	CHILD_EV_SPAWNED,          /* the process was started */
	CHILD_EV_SPAWN_FAILED,     /* it could not be started */
	CHILD_EV_READY,            /* it said it is ready */
	CHILD_EV_DRIVE,            /* a drive began */
	CHILD_EV_IDLE,             /* the drive ended */
	CHILD_EV_STOP,             /* it was told to stop */
	CHILD_EV_KILLED,           /* SIGKILL was sent */
	CHILD_EV_EXITED,           /* it ended unexpectedly */
	CHILD_EV_EXITED_PERMANENT, /* exit 100, or it refused its config */
	CHILD_EV_EXITED_FINAL,   /* it ended while removed or shutting down */
	CHILD_EV_EXITED_RESPAWN, /* it ended for a changed configuration */
	CHILD_EV_RESTART_DUE,    /* the backoff ran out */
	CHILD_EV_DEADLINE,       /* a ready, heartbeat or stop deadline */
	CHILD_EV_CANCEL,         /* shutdown or removal while not running */
	CHILD_EV_COUNT
};

enum child_action {
	CHILD_DO_NOTHING,
	CHILD_DO_SPAWN,   /* start the process (again) */
	CHILD_DO_KILL,    /* SIGKILL it */
	CHILD_DO_BACKOFF, /* child_backoff: BACKOFF, or FAILED */
};

struct child_step {
	int valid; /* 0: the event changes nothing in this state */
	Dbs__WorkerState next;
	enum child_action action;
};

/* What `ev` does in state `st`; step.valid is 0 for an event the state
 * does not expect (ignored). */
struct child_step child_life(Dbs__WorkerState st, enum child_event ev);

/* After an exit at `now_ms` of a process started at `started_ms`: how
 * long to wait (restart_next, sched.h). Returns BACKOFF with
 * *restart_at_ms set, or FAILED when it exited too often. */
Dbs__WorkerState child_backoff(struct restart_state *rs,
    const struct restart_policy *pol, int64_t started_ms, int64_t now_ms,
    uint64_t rnd, int64_t *restart_at_ms);

const char *child_state_name(Dbs__WorkerState st);
const char *child_event_name(enum child_event ev);

#endif
