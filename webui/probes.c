/*
 * probes.c — the two probes of databus-web, open to anyone:
 *
 *   GET /healthz   200 "ok" while the loop answers
 *   GET /readyz    200 "ready" when databusd answered a status request on
 *                  the control socket sent at most 1 s ago and its store
 *                  takes writes, else 503; at once, from the state
 *                  ready.c keeps
 */
#include "ready.h"
#include "web.h"

int
web_healthz(h2o_req_t *req, const struct web_args *a)
{
	(void)a;
	return web_send_text(req, 200, "ok");
}

/* From the state ready.c keeps, never waiting on databusd. */
int
web_readyz(h2o_req_t *req, const struct web_args *a)
{
	const char *why;

	(void)a;
	if (web_ready(web_control_url(web_of(req)), &why))
		return web_send_text(req, 200, "ready");
	return web_send_error(req, 503, "not_ready", why);
}
