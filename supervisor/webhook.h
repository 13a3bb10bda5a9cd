/*
 * webhook.h — intake of webhook deliveries forwarded by databus-web
 * (webhook.c).
 */
#ifndef DBS_SUP_WEBHOOK_H
#define DBS_SUP_WEBHOOK_H

#include <nng/nng.h>
#include <stdint.h>

#include "databus.pb-c.h"

struct sup;

/*
 * Handle the control request `msg` (consumed) carrying `wh`: verify it
 * against the definition's webhook puller, seat the passenger in the open
 * batch and reply after its commit (ControlReply.webhook), or reply at
 * once with DBS_ENOTFOUND (no such definition or no webhook puller),
 * DBS_ETOOBIG (over max_body), DBS_EAUTH (missing or bad signature),
 * DBS_EBUSY / DBS_ESHUTDOWN.
 */
void webhook_handle(
    struct sup *s, nng_msg *msg, uint64_t req_id, const Dbs__DrvWebhook *wh);

#endif
