/*
 * control.c — databus-web's client of databusd's control socket.
 *
 * Every mutation the web makes (creating and ending sessions) is a
 * ControlRequest to databusd, the only writer of the store. The call is
 * blocking, so it runs on a pool thread, never on the event loop. Each call
 * uses its own REQ socket: calls are rare (login, logout, readiness) and a
 * private socket needs no locking between pool threads. Control requests
 * are not idempotent, so REQ's automatic resend is pushed out past the
 * receive timeout: a lost reply is reported, never acted on twice.
 *
 * The read-only routes that need databusd's view (status: definitions,
 * workers, store stats) and expedite use web_ctl_job: the request is built
 * on the loop thread, sent from a pool thread, and the reply handed to the
 * route's `answer` back on the loop thread, unless the client has gone.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

#include "dbs_error.h"
#include "web.h"
#include "wire.h"

#define SEND_TIMEOUT_MS  5000
#define REPLY_TIMEOUT_MS 10000
#define RESEND_MS        (3600 * 1000)

int
web_control(const char *url, const char *actor, Dbs__ControlRequest *req,
    Dbs__ControlReply **out)
{
	return web_control_timeout(url, actor, req, out, REPLY_TIMEOUT_MS);
}

int
web_control_timeout(const char *url, const char *actor,
    Dbs__ControlRequest *req, Dbs__ControlReply **out, int reply_timeout_ms)
{
	nng_socket s = NNG_SOCKET_INITIALIZER;
	nng_msg *msg = NULL;
	Dbs__ControlReply *reply = NULL;
	uint64_t id;
	bool open = false;
	int rc = DBS_ETRANSPORT, rv;

	*out = NULL;
	randombytes_buf(&id, sizeof(id));
	req->id = id != 0 ? id : 1;
	req->actor = (char *)actor;
	if (nng_req0_open(&s) != 0)
		goto out;
	open = true;
	if (wire_socket_limits(s, SEND_TIMEOUT_MS) != DBS_OK ||
	    nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, RESEND_MS) != 0 ||
	    nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, reply_timeout_ms) != 0)
		goto out;
	if (nng_dial(s, url, NULL, 0) != 0)
		goto out;
	if ((rc = wire_send(s, &req->base, 0)) != DBS_OK)
		goto out;
	rv = nng_recvmsg(s, &msg, 0);
	if (rv != 0) {
		rc = rv == NNG_ETIMEDOUT ? DBS_ETIMEOUT : DBS_ETRANSPORT;
		goto out;
	}
	reply = (Dbs__ControlReply *)wire_unpack(
	    &dbs__control_reply__descriptor, msg);
	if (reply == NULL || reply->id != req->id) {
		rc = DBS_EPROTO;
		goto out;
	}
	*out = reply;
	reply = NULL; /* transferred */
	rc = DBS_OK;
out:
	if (reply != NULL)
		dbs__control_reply__free_unpacked(reply, NULL);
	nng_msg_free(msg);
	if (open)
		nng_close(s);
	req->actor = NULL; /* the caller's string */
	return rc;
}

/* ------------------------------------------------- pool-run control calls */

static void
ctl_work(struct web_job *job)
{
	struct web_ctl_job *j = (struct web_ctl_job *)job;

	j->rc = web_control(j->url, j->actor, &j->creq, &j->reply);
}

static void
ctl_done(struct web_job *job)
{
	struct web_ctl_job *j = (struct web_ctl_job *)job;
	h2o_req_t *req = web_job_req(job);

	if (req != NULL) {
		if (j->rc != DBS_OK)
			web_send_error(req, 503, "unavailable",
			    "databusd does not answer on the control socket");
		else
			j->answer(req, j);
	}
	if (j->reply != NULL)
		dbs__control_reply__free_unpacked(j->reply, NULL);
	free(j);
}

struct web_ctl_job *
web_ctl_job_alloc(h2o_req_t *req, const struct web_session *s,
    void (*answer)(h2o_req_t *req, struct web_ctl_job *j), size_t size)
{
	struct web_ctl_job *j;

	if (size < sizeof(*j) || (j = calloc(1, size)) == NULL)
		return NULL;
	dbs__control_request__init(&j->creq);
	dbs__empty__init(&j->empty);
	dbs__def_ref__init(&j->ref);
	j->session = *s;
	j->answer = answer;
	j->url = web_control_url(web_of(req));
	snprintf(
	    j->actor, sizeof(j->actor), "web:%s/%s", s->client, s->username);
	return j;
}

struct web_ctl_job *
web_ctl_job_new(h2o_req_t *req, const struct web_session *s,
    void (*answer)(h2o_req_t *req, struct web_ctl_job *j))
{
	return web_ctl_job_alloc(req, s, answer, sizeof(struct web_ctl_job));
}

int
web_ctl_submit(h2o_req_t *req, struct web_ctl_job *j)
{
	j->job.work = ctl_work;
	j->job.done = ctl_done;
	if (!web_pool_submit(web_pool(web_of(req)), &j->job, req)) {
		free(j);
		return web_send_error(req, 503, "busy", "server busy");
	}
	return 0;
}

int
web_ctl_submit_status(h2o_req_t *req, struct web_ctl_job *j)
{
	j->creq.verb_case = DBS__CONTROL_REQUEST__VERB_STATUS;
	j->creq.status = &j->empty;
	return web_ctl_submit(req, j);
}
