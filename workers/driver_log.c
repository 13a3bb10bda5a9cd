/*
 * driver_log.c — the drive log buffer: drv_log() entries (and the worker's
 * own, drv_log_host) wait here as LogEntry messages until the worker sends
 * them with its next message, or until DRV_LOG_FLUSH_AT of them make the
 * flush callback send them at once. Messages are cut to DRV_LOG_MAX_MSG
 * and made UTF-8 so that every entry encodes; without a flush callback
 * the buffer stops at a hard cap and counts what it dropped.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "databus.pb-c.h"
#include "dbs_error.h"
#include "driver.h"
#include "driver_host.h"
#include "grow.h"
#include "wire.h"

/* Without a flush callback the buffer stops growing here (entries past it
 * are dropped and counted in one closing entry). */
#define LOG_HARD_CAP (10 * DRV_LOG_FLUSH_AT)

/* A level outside enum drv_level for the one entry that reports dropped
 * entries: it may pass the cap. */
#define DRV_LOG_OVERFLOW ((enum drv_level)100)

static struct {
	Dbs__LogEntry **v;
	size_t n, cap;
	size_t dropped;
	void (*flush)(void *arg);
	void *arg;
	bool flushing;
} logbuf;

void
drv_log_set_flush(void (*flush)(void *arg), void *arg)
{
	logbuf.flush = flush;
	logbuf.arg = arg;
}

static void log_forced(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

Dbs__LogEntry **
drv_log_entries(size_t *n)
{
	if (logbuf.dropped > 0) {
		size_t dropped = logbuf.dropped;

		logbuf.dropped = 0;
		log_forced("%zu log entries were dropped (more than %d "
			   "buffered)",
		    dropped, LOG_HARD_CAP);
	}
	*n = logbuf.n;
	return logbuf.v;
}

static void
entry_free(Dbs__LogEntry *e)
{
	if (e == NULL)
		return;
	if (e->message != protobuf_c_empty_string)
		free(e->message);
	if (e->step != protobuf_c_empty_string)
		free(e->step);
	free(e);
}

void
drv_log_clear(void)
{
	size_t i;

	for (i = 0; i < logbuf.n; i++)
		entry_free(logbuf.v[i]);
	logbuf.n = 0;
	logbuf.dropped = 0;
	if (logbuf.cap > 4 * DRV_LOG_FLUSH_AT) {
		free(logbuf.v);
		logbuf.v = NULL;
		logbuf.cap = 0;
	}
}

/* Cut `s` to at most `max` bytes without splitting a UTF-8 sequence, and
 * replace what is not UTF-8 by '?', so the entry always encodes. */
static void
log_sanitise(char *s, size_t max)
{
	size_t len = strlen(s), i;

	if (len > max) {
		len = max;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
		s[len] = '\0';
	}
	if (drv_utf8_valid(s, len))
		return;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			s[i] = '?';
}

static void
log_add(enum drv_level level, uint64_t passenger_id, const char *step,
    const char *fmt, va_list ap)
{
	Dbs__LogEntry *e;
	char msg[DRV_LOG_MAX_MSG + 1];

	if (logbuf.n >= LOG_HARD_CAP && level != DRV_LOG_OVERFLOW) {
		logbuf.dropped++;
		return;
	}
	if (level == DRV_LOG_OVERFLOW)
		level = DRV_WARNING;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_sanitise(msg, DRV_LOG_MAX_MSG);
	if (grow_array((void **)&logbuf.v, &logbuf.cap, logbuf.n + 1,
		sizeof(*logbuf.v)) != DBS_OK)
		return;
	e = malloc(sizeof(*e));
	if (e == NULL)
		return;
	dbs__log_entry__init(e);
	e->time_ms = wire_now_ms();
	e->level = (Dbs__LogLevel)level;
	e->passenger_id = passenger_id;
	e->message = strdup(msg);
	if (step != NULL && step[0] != '\0') {
		e->step = strdup(step);
		if (e->step != NULL)
			log_sanitise(e->step, 256);
	}
	if (e->message == NULL || e->step == NULL) {
		if (e->message == NULL)
			e->message = (char *)protobuf_c_empty_string;
		if (e->step == NULL)
			e->step = (char *)protobuf_c_empty_string;
		entry_free(e);
		return;
	}
	logbuf.v[logbuf.n++] = e;
	if (logbuf.n >= DRV_LOG_FLUSH_AT && logbuf.flush != NULL &&
	    !logbuf.flushing) {
		logbuf.flushing = true;
		logbuf.flush(logbuf.arg);
		logbuf.flushing = false;
	}
}

void
drv_log(struct drv_ctx *ctx, enum drv_level level, uint64_t passenger_id,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_add(
	    level, passenger_id, ctx != NULL ? drv_name(ctx) : NULL, fmt, ap);
	va_end(ap);
}

void
drv_log_host(enum drv_level level, uint64_t passenger_id, const char *step,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_add(level, passenger_id, step, fmt, ap);
	va_end(ap);
}

static void
log_forced(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_add(DRV_LOG_OVERFLOW, 0, NULL, fmt, ap);
	va_end(ap);
}
