/*
 * permit.c — which message a worker may send in which state.
 *
 * The supervisor accepts from a worker only what its state permits, as
 * OpenSSH's privsep monitor does: anything else kills that worker (see
 * child_handle in child.c). The table lives apart from child.c so that it
 * can be tested on its own.
 */
#include "sup.h"

enum permit { P_NEVER = 0, P_ALWAYS, P_DRIVING, P_STARTING };

/* Which worker->supervisor message is accepted when. Messages that only
 * the supervisor sends (init, drive, seated, work, peek, stop) are never
 * accepted from a worker. */
static const enum permit permits[] = {
    [DBS__WORKER_MSG__BODY_READY] = P_STARTING,
    [DBS__WORKER_MSG__BODY_PULLED] = P_DRIVING,
    [DBS__WORKER_MSG__BODY_NOTIFIED] = P_DRIVING,
    [DBS__WORKER_MSG__BODY_WORK_RESULT] = P_DRIVING,
    [DBS__WORKER_MSG__BODY_LOG] = P_ALWAYS,
    [DBS__WORKER_MSG__BODY_PEEK_RESULT] = P_ALWAYS,
    [DBS__WORKER_MSG__BODY_HEARTBEAT] = P_ALWAYS,
};

bool
child_permitted(
    Dbs__WorkerState state, bool driving, Dbs__WorkerMsg__BodyCase body)
{
	enum permit p;

	if ((size_t)body >= sizeof(permits) / sizeof(permits[0]))
		return false;
	p = permits[body];
	switch (p) {
	case P_ALWAYS:
		return state == DBS__WORKER_STATE__WS_STARTING ||
		       state == DBS__WORKER_STATE__WS_READY ||
		       state == DBS__WORKER_STATE__WS_BUSY ||
		       state == DBS__WORKER_STATE__WS_STOPPING;
	case P_STARTING:
		return state == DBS__WORKER_STATE__WS_STARTING;
	case P_DRIVING:
		return driving && state == DBS__WORKER_STATE__WS_BUSY;
	case P_NEVER:
	default:
		return false;
	}
}

const char *
child_state_name(Dbs__WorkerState st)
{
	switch (st) {
	case DBS__WORKER_STATE__WS_STARTING:
		return "starting";
	case DBS__WORKER_STATE__WS_READY:
		return "ready";
	case DBS__WORKER_STATE__WS_BUSY:
		return "busy";
	case DBS__WORKER_STATE__WS_BACKOFF:
		return "backoff";
	case DBS__WORKER_STATE__WS_FAILED:
		return "failed";
	case DBS__WORKER_STATE__WS_STOPPING:
		return "stopping";
	case DBS__WORKER_STATE__WS_STOPPED:
		return "stopped";
	default:
		return "unknown";
	}
}
