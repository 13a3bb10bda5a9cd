/*
 * dispatch_stubs.c — what supervisor/dispatch.o calls, for fuzz targets
 * that link it only to exercise its table (dispatch_permitted). None of
 * these is reached from there: each aborts if it ever is.
 */
#include <stdlib.h>

#include "arena.h"
#include "child.h"
#include "control.h"
#include "drive.h"
#include "event_log.h"
#include "wire.h"

#define NEVER abort()

void
child_on_gone(child_gone_fn *fn)
{
	(void)fn;
}
void
child_kill(struct sup *s, struct worker *w, const char *why)
{
	NEVER;
}
void
child_event(
    struct sup *s, struct worker *w, enum child_event ev, const char *why)
{
	NEVER;
}
void
child_restart_reported(struct sup *s)
{
	NEVER;
}
void
drive_on_pulled(struct sup *s, struct worker *w, Dbs__PulledBatch *b)
{
	NEVER;
}
void
drive_on_notified(struct sup *s, struct worker *w, Dbs__Notified *n)
{
	NEVER;
}
void
drive_on_work_result(struct sup *s, struct worker *w, Dbs__WorkResult *r)
{
	NEVER;
}
void
drive_on_log(struct sup *s, struct worker *w, Dbs__LogBatch *l)
{
	NEVER;
}
void
drive_abort(struct sup *s, struct worker *w, const char *why)
{
	NEVER;
}
void
drive_schedule_retry(struct sup *s, struct worker *w)
{
	NEVER;
}
void
control_on_peek_result(struct sup *s, struct worker *w, Dbs__PeekResult *r)
{
	NEVER;
}
void
control_fail_peeks(struct sup *s, struct worker *w, int code, const char *msg)
{
	NEVER;
}
void
sup_event_definition(struct sup *s, const struct worker *w)
{
	NEVER;
}
void
sched_expedite(struct sched *sc, uint32_t slot, int64_t now)
{
	NEVER;
}
int64_t
restart_next(struct restart_state *st, const struct restart_policy *pol,
    int64_t started_ms, int64_t now_ms, uint64_t rnd)
{
	NEVER;
}
void
sup_log_at(int priority, const char *fmt, ...)
{
	NEVER;
}
long long
wire_mono_ms(void)
{
	NEVER;
}
int
wire_recv_worker(nng_socket s, Dbs__WorkerMsg **out, int flags)
{
	NEVER;
}
int
wire_recv_worker_with(
    nng_socket s, Dbs__WorkerMsg **out, int flags, ProtobufCAllocator *alloc)
{
	NEVER;
}
ProtobufCAllocator *
arena_allocator(struct arena *a)
{
	NEVER;
}
void
arena_reset(struct arena *a)
{
	NEVER;
}
