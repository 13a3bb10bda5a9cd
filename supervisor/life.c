/*
 * life.c — the life table of a supervised process (see life.h).
 *
 * One row per state, one column per event. A cell names the next state
 * and the action; an empty cell means the event is not expected in that
 * state and changes nothing (a late timer, a second kill). The rows for
 * READY and BUSY are the same but for drive/idle; STOPPING only waits for
 * the exit (or kills at its deadline).
 */
#include <stddef.h>

#include "life.h"

#define S(st) DBS__WORKER_STATE__WS_##st
#define STEP(st, act)                                                         \
	{                                                                     \
		1, S(st), CHILD_DO_##act                                      \
	}

/* The exits and start-up events every running state shares. */
#define RUNNING_EXITS                                                         \
	[CHILD_EV_STOP] = STEP(STOPPING, NOTHING),                            \
	[CHILD_EV_KILLED] = STEP(STOPPING, NOTHING),                          \
	[CHILD_EV_EXITED] = STEP(BACKOFF, BACKOFF),                           \
	[CHILD_EV_EXITED_PERMANENT] = STEP(FAILED, NOTHING),                  \
	[CHILD_EV_EXITED_FINAL] = STEP(STOPPED, NOTHING),                     \
	[CHILD_EV_EXITED_RESPAWN] = STEP(STOPPED, SPAWN),                     \
	[CHILD_EV_SPAWNED] = STEP(STARTING, NOTHING),                         \
	[CHILD_EV_SPAWN_FAILED] = STEP(BACKOFF, BACKOFF)

static const struct child_step life[][CHILD_EV_COUNT] = {
    [S(STOPPED)] =
	{
	    [CHILD_EV_SPAWNED] = STEP(STARTING, NOTHING),
	    [CHILD_EV_SPAWN_FAILED] = STEP(BACKOFF, BACKOFF),
	    [CHILD_EV_CANCEL] = STEP(STOPPED, NOTHING),
	},
    [S(STARTING)] =
	{
	    RUNNING_EXITS,
	    [CHILD_EV_READY] = STEP(READY, NOTHING),
	    [CHILD_EV_DEADLINE] = STEP(STOPPING, KILL),
	},
    [S(READY)] =
	{
	    RUNNING_EXITS,
	    [CHILD_EV_DRIVE] = STEP(BUSY, NOTHING),
	    [CHILD_EV_DEADLINE] = STEP(STOPPING, KILL),
	},
    [S(BUSY)] =
	{
	    RUNNING_EXITS,
	    [CHILD_EV_IDLE] = STEP(READY, NOTHING),
	    [CHILD_EV_DEADLINE] = STEP(STOPPING, KILL),
	},
    [S(STOPPING)] =
	{
	    RUNNING_EXITS,
	    [CHILD_EV_DEADLINE] = STEP(STOPPING, KILL),
	},
    [S(BACKOFF)] =
	{
	    [CHILD_EV_SPAWNED] = STEP(STARTING, NOTHING),
	    [CHILD_EV_SPAWN_FAILED] = STEP(BACKOFF, BACKOFF),
	    [CHILD_EV_RESTART_DUE] = STEP(BACKOFF, SPAWN),
	    [CHILD_EV_CANCEL] = STEP(STOPPED, NOTHING),
	},
    [S(FAILED)] =
	{
	    [CHILD_EV_SPAWNED] = STEP(STARTING, NOTHING),
	    [CHILD_EV_SPAWN_FAILED] = STEP(BACKOFF, BACKOFF),
	    [CHILD_EV_CANCEL] = STEP(STOPPED, NOTHING),
	},
};

struct child_step
child_life(Dbs__WorkerState st, enum child_event ev)
{
	struct child_step none = {0, st, CHILD_DO_NOTHING};

	if ((size_t)st >= sizeof(life) / sizeof(life[0]) ||
	    (size_t)ev >= CHILD_EV_COUNT || !life[st][ev].valid)
		return none;
	return life[st][ev];
}

Dbs__WorkerState
child_backoff(struct restart_state *rs, const struct restart_policy *pol,
    int64_t started_ms, int64_t now_ms, uint64_t rnd, int64_t *restart_at_ms)
{
	int64_t d = restart_next(rs, pol, started_ms, now_ms, rnd);

	if (d < 0)
		return S(FAILED);
	*restart_at_ms = now_ms + d;
	return S(BACKOFF);
}

const char *
child_state_name(Dbs__WorkerState st)
{
	switch (st) {
	case S(STARTING):
		return "starting";
	case S(READY):
		return "ready";
	case S(BUSY):
		return "busy";
	case S(BACKOFF):
		return "backoff";
	case S(FAILED):
		return "failed";
	case S(STOPPING):
		return "stopping";
	case S(STOPPED):
		return "stopped";
	default:
		return "unknown";
	}
}

const char *
child_event_name(enum child_event ev)
{
	static const char *const names[CHILD_EV_COUNT] = {
	    [CHILD_EV_SPAWNED] = "spawned",
	    [CHILD_EV_SPAWN_FAILED] = "spawn failed",
	    [CHILD_EV_READY] = "ready",
	    [CHILD_EV_DRIVE] = "drive",
	    [CHILD_EV_IDLE] = "idle",
	    [CHILD_EV_STOP] = "stop",
	    [CHILD_EV_KILLED] = "killed",
	    [CHILD_EV_EXITED] = "exited",
	    [CHILD_EV_EXITED_PERMANENT] = "exited permanently",
	    [CHILD_EV_EXITED_FINAL] = "exited for good",
	    [CHILD_EV_EXITED_RESPAWN] = "exited to restart",
	    [CHILD_EV_RESTART_DUE] = "restart due",
	    [CHILD_EV_DEADLINE] = "deadline",
	    [CHILD_EV_CANCEL] = "cancel",
	};

	return (size_t)ev < CHILD_EV_COUNT ? names[ev] : "unknown";
}
