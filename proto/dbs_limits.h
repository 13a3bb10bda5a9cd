/*
 * dbs_limits.h — the limits that more than one process enforces, so that
 * they agree: what one checks, the other relies on.
 *
 * Webhook deliveries: databus-web reads a body of at most
 * DBS_WEBHOOK_MAX_BODY bytes (h2o answers 413 above it); databusd and the
 * webhook puller accept a `max_body` setting up to that value only, and
 * use DBS_WEBHOOK_DEFAULT_BODY when the setting is absent.
 */
#ifndef DBS_LIMITS_H
#define DBS_LIMITS_H

/* The largest webhook body any puller may accept: 1 MiB. */
#define DBS_WEBHOOK_MAX_BODY (1u << 20)

/* A webhook puller's max_body when its settings give none. */
#define DBS_WEBHOOK_DEFAULT_BODY DBS_WEBHOOK_MAX_BODY

#endif
