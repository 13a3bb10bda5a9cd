/*
 * control_jobs.c — databus-web's calls to databusd's control socket,
 * run as pool jobs.
 *
 * Every mutation the web makes (creating and ending sessions) is a
 * ControlRequest to databusd, the only writer of the store, sent by the
 * one control client of proto/control_client.h (its own socket per call,
 * never resent). The call is blocking, so it runs on a pool thread, never
 * on the event loop.
 *
 * The read-only routes that need databusd's view (status: definitions,
 * workers, store stats) and expedite use web_ctl_job: the request is built
 * on the loop thread, sent from a pool thread, and the reply handed to the
 * route's `answer` back on the loop thread, unless the client has gone.
 */
#include <stdio.h>
#include <stdlib.h>

#include "control_client.h"
#include "dbs_error.h"
#include "web.h"

#define SEND_TIMEOUT_MS  5000
#define REPLY_TIMEOUT_MS 10000

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
	struct control_call c = {.url = url,
	    .actor = actor,
	    .send_timeout_ms = SEND_TIMEOUT_MS,
	    .reply_timeout_ms = reply_timeout_ms};

	return control_call(&c, req, out);
}

/* ------------------------------------------------- pool-run control calls */

static void
ctl_work(struct web_job *job)
{
	struct web_ctl_job *j = (struct web_ctl_job *)job;

	j->rc = web_control_timeout(j->url, j->actor, &j->creq, &j->reply,
	    j->reply_timeout_ms > 0 ? j->reply_timeout_ms : REPLY_TIMEOUT_MS);
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
	free(j->owned);
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
		free(j->owned);
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
