/*
 * ctl_history.c — `databusctl history [CLIENT [PASSENGER]]`: what
 * databusd's history (supervisor/history.h) says of a definition, of a
 * client's definitions summed, or without arguments of the system (store
 * size, commit latency), over the last hour, 24 hours and 30 days.
 *
 * Two control requests (history, range 24h and 30d): the last hour is the
 * last 60 of the 24 hours' minute points. --json prints both series as
 * the web API does (GET /api/v1/history...), under "24h" and "30d".
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl_args.h"
#include "ctl_cmd.h"
#include "dbs_error.h"
#include "record_json.h"

/* The values of series `name`, or NULL. */
static const Dbs__HistorySeries *
series(const Dbs__HistoryReply *h, const char *name)
{
	for (size_t i = 0; h != NULL && i < h->n_series; i++)
		if (strcmp(h->series[i]->name, name) == 0)
			return h->series[i];
	return NULL;
}

/* Sum (or max, or the last value) of the last `n` points of `name`. */
enum fold { SUM, MAX, LAST };

static uint64_t
fold(const Dbs__HistoryReply *h, const char *name, size_t n, enum fold f)
{
	const Dbs__HistorySeries *s = series(h, name);
	uint64_t v = 0;

	if (s == NULL || s->n_values == 0)
		return 0;
	if (f == LAST)
		return s->values[s->n_values - 1];
	for (size_t i = s->n_values > n ? s->n_values - n : 0; i < s->n_values;
	     i++) {
		if (f == SUM)
			v += s->values[i];
		else if (s->values[i] > v)
			v = s->values[i];
	}
	return v;
}

/* The mean of `mean` weighted by `count` over the last n points. */
static uint64_t
weighted(
    const Dbs__HistoryReply *h, const char *mean, const char *count, size_t n)
{
	const Dbs__HistorySeries *m = series(h, mean), *c = series(h, count);
	uint64_t num = 0, den = 0;

	if (m == NULL || c == NULL || m->n_values != c->n_values)
		return 0;
	for (size_t i = m->n_values > n ? m->n_values - n : 0; i < m->n_values;
	     i++) {
		num += m->values[i] * c->values[i];
		den += c->values[i];
	}
	return den > 0 ? num / den : 0;
}

static json_t *
series_json(const Dbs__HistoryReply *h, const char *range)
{
	json_t *s = json_object();

	for (size_t i = 0; s != NULL && i < h->n_series; i++) {
		json_t *a = json_array();

		for (size_t k = 0; a != NULL && k < h->series[i]->n_values;
		     k++)
			json_array_append_new(a,
			    json_integer((json_int_t)h->series[i]->values[k]));
		json_object_set_new(s, h->series[i]->name, a);
	}
	return json_pack("{s:s, s:I, s:o, s:I, s:o}", "range", range,
	    "start_ms", (json_int_t)h->start_ms, "start", rj_time(h->start_ms),
	    "step_ms", (json_int_t)h->step_ms, "series", s);
}

static int
ask(struct ctl *c, const char *range, Dbs__ControlReply **out)
{
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__HistoryRef ref = DBS__HISTORY_REF__INIT;
	const struct ctl_args *a = c->args;

	ref.system = a->client_arg == NULL;
	ref.client = (char *)(a->client_arg != NULL ? a->client_arg : "");
	ref.definition = (char *)(a->definition != NULL ? a->definition : "");
	ref.range = (char *)range;
	req.verb_case = DBS__CONTROL_REQUEST__VERB_HISTORY;
	req.history = &ref;
	return ctl_request(c, &req, out);
}

static void
print_period(
    const char *what, const Dbs__HistoryReply *h, size_t n, bool system)
{
	if (system) {
		printf("%-14s %10" PRIu64 " %10" PRIu64 " us %10" PRIu64
		       " us\n",
		    what, fold(h, "commits", n, SUM),
		    weighted(h, "commit_us_mean", "commits", n),
		    fold(h, "commit_us_max", n, MAX));
		return;
	}
	printf("%-14s %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64
	       " %10" PRIu64 " ms %8" PRIu64 " ms\n",
	    what, fold(h, "done", n, SUM), fold(h, "failed", n, SUM),
	    fold(h, "dead", n, SUM), fold(h, "drives", n, SUM),
	    weighted(h, "drive_ms_mean", "drives", n),
	    fold(h, "drive_ms_max", n, MAX));
}

int
ctl_cmd_history(struct ctl *c)
{
	Dbs__ControlReply *day = NULL, *month = NULL;
	bool system = c->args->client_arg == NULL;
	int rc;

	if ((rc = ask(c, "24h", &day)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ask(c, "30d", &month)) != CTL_EXIT_OK)
		goto out;
	if (day->history == NULL || month->history == NULL) {
		ctl_err("history: databusd sent no history");
		rc = CTL_EXIT_FAIL;
	} else if (c->args->json) {
		rc = ctl_print_json(json_pack("{s:o, s:o}", "24h",
		    series_json(day->history, "24h"), "30d",
		    series_json(month->history, "30d")));
	} else if (system) {
		printf("store used now %" PRIu64 " bytes\n",
		    fold(day->history, "used_bytes", 1, LAST));
		printf("%-14s %10s %13s %13s\n", "", "commits", "mean",
		    "longest");
		print_period("last hour", day->history, 60, true);
		print_period("last 24 hours", day->history, 1440, true);
		print_period("last 30 days", month->history, 720, true);
	} else {
		printf("pending now %" PRIu64 "\n",
		    fold(day->history, "pending", 1, LAST));
		printf("%-14s %8s %8s %8s %8s %13s %11s\n", "", "done",
		    "failed", "dead", "drives", "mean drive", "longest");
		print_period("last hour", day->history, 60, false);
		print_period("last 24 hours", day->history, 1440, false);
		print_period("last 30 days", month->history, 720, false);
	}
out:
	if (day != NULL)
		dbs__control_reply__free_unpacked(day, NULL);
	if (month != NULL)
		dbs__control_reply__free_unpacked(month, NULL);
	return rc;
}
