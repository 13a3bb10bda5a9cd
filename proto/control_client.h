/*
 * control_client.h — the one client of databusd's control socket
 * (control_client.c), used by databusctl and databus-web.
 *
 * A call opens its own REQ socket, dials, sends one ControlRequest (its id
 * and actor are filled in here), waits for the reply and closes the
 * socket: calls are rare and a private socket needs no locking, so calls
 * may run on several threads at once.
 *
 * Control requests are not idempotent (a re-sent "queue purge" or "user
 * add" would act twice), so REQ's automatic resend is pushed out to an
 * hour, and a request whose connection drops is abandoned instead of being
 * resent on reconnection: a pipe-removal callback cancels the pending
 * receive. A lost reply is reported, never acted on twice.
 */
#ifndef DBS_CONTROL_CLIENT_H
#define DBS_CONTROL_CLIENT_H

#include "databus.pb-c.h"

/* Where a call stopped, so that each caller words its own message. */
enum control_stage {
	CONTROL_DONE = 0,    /* a reply to this request arrived */
	CONTROL_SOCKET,      /* the socket could not be opened or set up */
	CONTROL_DIAL,        /* databusd could not be reached */
	CONTROL_SEND,        /* the request could not be sent */
	CONTROL_TIMEOUT,     /* no reply within reply_timeout_ms */
	CONTROL_DROPPED,     /* the connection closed before the reply */
	CONTROL_RECV,        /* receiving failed otherwise */
	CONTROL_UNDECODABLE, /* the reply does not decode */
	CONTROL_MISMATCH,    /* the reply answers another request */
};

/* One call: what to dial and how long to wait, and how it went. */
struct control_call {
	const char *url;          /* "ipc://<data>/run/control", ... */
	const char *actor;        /* who asks, for databusd's log and events */
	int send_timeout_ms;      /* sending the request */
	int reply_timeout_ms;     /* waiting for the reply */
	enum control_stage stage; /* out */
	int err; /* out: the nng error (SOCKET, DIAL, RECV, TIMEOUT,
		    DROPPED) or dbs error (SEND) of that stage */
};

/*
 * Send req and wait for its reply. Returns DBS_OK with *out set (free it
 * with dbs__control_reply__free_unpacked; its own code may still be an
 * error), else *out is NULL and: DBS_ETIMEOUT (no reply in time),
 * DBS_EPROTO (a reply that does not decode or answers another request),
 * the error of wire_send, or DBS_ETRANSPORT; c->stage and c->err tell
 * where. req->id is set; req->actor is NULL again on return.
 */
int control_call(
    struct control_call *c, Dbs__ControlRequest *req, Dbs__ControlReply **out);

#endif
