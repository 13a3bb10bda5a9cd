/*
 * control_client.c — a ControlRequest to databusd and its reply
 * (control_client.h).
 *
 * Abandoning a request whose connection drops: each call registers itself
 * in a list of pending calls under a number, and hands that number (not a
 * pointer) to nng's pipe-removal callback, which runs on an nng thread and
 * may come late. The callback looks the number up under the list's lock,
 * marks the call gone and cancels its receive; a call that has already
 * left the list is simply not found, so no callback ever touches a
 * finished call's memory.
 */
#include "control_client.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>

#include "dbs_error.h"
#include "wire.h"

#define RESEND_MS (3600 * 1000)

struct pending {
	struct pending *next;
	uintptr_t number;
	nng_aio *aio; /* the receive, once started */
	bool gone;    /* the connection dropped */
};

static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pending *pending_list;
static uintptr_t pending_next = 1;

static void
pending_add(struct pending *p)
{
	pthread_mutex_lock(&pending_lock);
	p->number = pending_next++;
	p->next = pending_list;
	pending_list = p;
	pthread_mutex_unlock(&pending_lock);
}

/* Take p out of the list, if it is still there. */
static void
pending_remove(struct pending *p)
{
	struct pending **pp;

	pthread_mutex_lock(&pending_lock);
	for (pp = &pending_list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	pthread_mutex_unlock(&pending_lock);
}

/* Start the receive of p's call unless its connection has already gone
 * (then the receive is cancelled at once). */
static void
pending_receive(struct pending *p, nng_socket s, nng_aio *aio)
{
	nng_recv_aio(s, aio);
	pthread_mutex_lock(&pending_lock);
	p->aio = aio;
	if (p->gone)
		nng_aio_cancel(aio);
	pthread_mutex_unlock(&pending_lock);
}

static void
pipe_removed(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	uintptr_t number = (uintptr_t)arg;
	struct pending *p;

	(void)pipe;
	(void)ev;
	pthread_mutex_lock(&pending_lock);
	for (p = pending_list; p != NULL; p = p->next)
		if (p->number == number) {
			p->gone = true;
			if (p->aio != NULL)
				nng_aio_cancel(p->aio);
			break;
		}
	pthread_mutex_unlock(&pending_lock);
}

/* Receive one message within the timeout, giving up when the connection
 * drops (NNG_ECANCELED). */
static int
recv_reply(nng_socket s, struct pending *p, int timeout_ms, nng_msg **out)
{
	nng_aio *aio = NULL;
	int rv;

	*out = NULL;
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0)
		return rv;
	nng_aio_set_timeout(aio, timeout_ms);
	pending_receive(p, s, aio);
	nng_aio_wait(aio);
	rv = nng_aio_result(aio);
	if (rv == 0)
		*out = nng_aio_get_msg(aio);
	pending_remove(p); /* before the aio goes: no late cancel */
	nng_aio_free(aio);
	return rv;
}

/* Open and set up the REQ socket of a call; false (stage set) on error. */
static bool
open_socket(struct control_call *c, struct pending *p, nng_socket *s)
{
	if ((c->err = nng_req0_open(s)) != 0)
		return false;
	if (wire_socket_limits(*s, c->send_timeout_ms) != DBS_OK ||
	    (c->err = nng_socket_set_ms(
		 *s, NNG_OPT_REQ_RESENDTIME, RESEND_MS)) != 0 ||
	    (c->err = nng_pipe_notify(*s, NNG_PIPE_EV_REM_POST, pipe_removed,
		 (void *)p->number)) != 0) {
		nng_close(*s);
		return false;
	}
	return true;
}

static int
stop(struct control_call *c, enum control_stage stage, int rc)
{
	c->stage = stage;
	return rc;
}

int
control_call(
    struct control_call *c, Dbs__ControlRequest *req, Dbs__ControlReply **out)
{
	nng_socket s = NNG_SOCKET_INITIALIZER;
	nng_msg *msg = NULL;
	Dbs__ControlReply *reply = NULL;
	struct pending p = {0};
	uint64_t id;
	int rc;

	*out = NULL;
	c->err = 0;
	randombytes_buf(&id, sizeof(id));
	req->id = id != 0 ? id : 1;
	req->actor = (char *)c->actor;
	pending_add(&p);
	if (!open_socket(c, &p, &s)) {
		rc = stop(c, CONTROL_SOCKET, DBS_ETRANSPORT);
		goto out_open;
	}
	if ((c->err = nng_dial(s, c->url, NULL, 0)) != 0) {
		rc = stop(c, CONTROL_DIAL, DBS_ETRANSPORT);
		goto out;
	}
	if ((rc = wire_send(s, &req->base, 0)) != DBS_OK) {
		c->err = rc;
		rc = stop(c, CONTROL_SEND, rc);
		goto out;
	}
	if ((c->err = recv_reply(s, &p, c->reply_timeout_ms, &msg)) != 0) {
		rc = c->err == NNG_ETIMEDOUT
			 ? stop(c, CONTROL_TIMEOUT, DBS_ETIMEOUT)
		     : c->err == NNG_ECANCELED
			 ? stop(c, CONTROL_DROPPED, DBS_ETRANSPORT)
			 : stop(c, CONTROL_RECV, DBS_ETRANSPORT);
		goto out;
	}
	reply = (Dbs__ControlReply *)wire_unpack(
	    &dbs__control_reply__descriptor, msg);
	if (reply == NULL || reply->id != req->id) {
		rc = stop(c,
		    reply == NULL ? CONTROL_UNDECODABLE : CONTROL_MISMATCH,
		    DBS_EPROTO);
		goto out;
	}
	*out = reply;
	reply = NULL; /* transferred */
	rc = stop(c, CONTROL_DONE, DBS_OK);
out:
	nng_close(s);
out_open:
	pending_remove(&p); /* no callback finds it from here on */
	if (reply != NULL)
		dbs__control_reply__free_unpacked(reply, NULL);
	nng_msg_free(msg);
	req->actor = NULL; /* the caller's string */
	return rc;
}
