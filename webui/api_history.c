/*
 * api_history.c — the history behind the charts (supervisor/history.h).
 *
 *   GET /api/v1/history/{client}/{name}?range=24h|30d
 *   GET /api/v1/history?client=&range=24h|30d
 *   GET /api/v1/history/system?range=24h|30d
 *
 * One control request (history) on a pool thread; databusd keeps the
 * rings. A definition's history is for every role of its client (another
 * client's answers 404, as everywhere); the system's (store size, commit
 * latency) is root's, like the store figures of /api/v1/about. Without a
 * definition it is the sum of the client's definitions (the user's own
 * client; root: the one named, or every client), which the Passengers
 * page charts. The
 * answer is columns: one array per series, one value per point, the
 * first point starting at start_ms, each lasting step_ms, the last one
 * the current minute or hour as it fills.
 */
#include <stdio.h>
#include <string.h>

#include "dbs_error.h"
#include "record_json.h"
#include "web.h"

struct history_job {
	struct web_ctl_job base;
	Dbs__HistoryRef ref;
	char range[8];
};

static void
history_answer(h2o_req_t *req, struct web_ctl_job *j)
{
	const struct history_job *hj = (const struct history_job *)j;
	const Dbs__HistoryReply *hr = j->reply->history;
	json_t *series, *doc;

	if (j->reply->code != DBS_OK) {
		web_ctl_error(req, j->reply);
		return;
	}
	if (hr == NULL || (series = json_object()) == NULL) {
		web_send_error(
		    req, 503, "unavailable", "databusd gave no history");
		return;
	}
	for (size_t i = 0; i < hr->n_series; i++) {
		const Dbs__HistorySeries *s = hr->series[i];
		json_t *a = json_array();

		for (size_t k = 0; a != NULL && k < s->n_values; k++)
			json_array_append_new(a,
			    json_integer((json_int_t)(s->values[k] > INT64_MAX
							  ? INT64_MAX
							  : s->values[k])));
		if (a == NULL ||
		    json_object_set_new(series, s->name, a) != 0) {
			json_decref(series);
			web_send_error(req, 500, "internal", "out of memory");
			return;
		}
	}
	doc = json_pack("{s:s, s:I, s:o, s:I, s:o}", "range", hj->range,
	    "start_ms", (json_int_t)hr->start_ms, "start",
	    rj_time(hr->start_ms), "step_ms", (json_int_t)hr->step_ms,
	    "series", series);
	if (doc != NULL && !hj->ref.system && j->client[0] != '\0')
		json_object_set_new(doc, "client", rj_string(j->client));
	if (doc != NULL && !hj->ref.system && j->name[0] != '\0')
		json_object_set_new(doc, "definition", rj_string(j->name));
	web_send_json(req, 200, doc);
}

int
web_api_history(h2o_req_t *req, const struct web_args *a)
{
	bool system = strcmp(a->arg, "system") == 0, bad = false;
	bool sum = strcmp(a->arg, "sum") == 0;
	char range[8] = "24h", cbuf[65];
	const char *client = a->client;
	struct web_session s;
	struct history_job *j;
	int ret = 0;

	if (!web_session_require(req, &s))
		return 0;
	if (system && s.role != DBS__ROLE__ROLE_ROOT)
		return web_forbidden(req);
	if (sum &&
	    !web_param_client(req, &s, cbuf, sizeof(cbuf), &client, &ret))
		return ret;
	if (!system && !sum && !web_session_sees(&s, a->client))
		return web_not_found(req);
	if (web_query_param(req, "range", range, sizeof(range), &bad) || bad) {
		if (bad ||
		    (strcmp(range, "24h") != 0 && strcmp(range, "30d") != 0))
			return web_bad_param(req, "range must be 24h or 30d");
	}
	j = (struct history_job *)web_ctl_job_alloc(
	    req, &s, history_answer, sizeof(*j));
	if (j == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	snprintf(j->range, sizeof(j->range), "%s", range);
	dbs__history_ref__init(&j->ref);
	j->ref.system = system;
	j->ref.range = j->range;
	if (!system) {
		snprintf(j->base.client, sizeof(j->base.client), "%s",
		    client != NULL ? client : "");
		snprintf(j->base.name, sizeof(j->base.name), "%s",
		    sum ? "" : a->name);
		j->ref.client = j->base.client;
		j->ref.definition = j->base.name;
	}
	j->base.creq.verb_case = DBS__CONTROL_REQUEST__VERB_HISTORY;
	j->base.creq.history = &j->ref;
	return web_ctl_submit(req, &j->base);
}
