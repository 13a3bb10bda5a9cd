/*
 * metrics.c — the figures databusd keeps for /metrics: how long its group
 * commits take, and per definition how many drives finished, were aborted,
 * how many step attempts failed and how many passengers went dead.
 *
 * The commit latency is a histogram with fixed bounds (Prometheus style),
 * recorded around every store_txn_commit in sup_commit. Everything is in
 * memory since databusd started; the status reply carries it to
 * databus-web, which renders the Prometheus text.
 */
#include <string.h>
#include <time.h>

#include "history_sup.h"
#include "sup.h"

/* Upper bounds in seconds: an fsync'd commit costs ~0.25 ms here, a
 * large batch or a slow disk tens of milliseconds. */
static const double bounds[SUP_HIST_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001,
    0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};

int64_t
metrics_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
metrics_commit_observe(struct sup *s, int64_t elapsed_us)
{
	double sec = (elapsed_us < 0 ? 0 : (double)elapsed_us) / 1e6;
	size_t i = 0;

	while (i < SUP_HIST_BUCKETS && sec > bounds[i])
		i++;
	s->commit_hist.counts[i]++;
	s->commit_hist.count++;
	s->commit_hist.sum_s += sec;
	history_sup_commit(s, elapsed_us);
}

void
metrics_drive_finished(
    struct worker *w, const char *outcome, uint32_t failed, uint32_t dead)
{
	w->m_drives++;
	if (strcmp(outcome, "ok") != 0)
		w->m_aborted++;
	/* Every failed attempt: retried ones and those that went dead. */
	w->m_step_failures += failed + dead;
	w->m_dead += dead;
}

void
metrics_fill_definition(const struct worker *w, Dbs__DefinitionInfo *di)
{
	di->drives = w->m_drives;
	di->drives_aborted = w->m_aborted;
	di->step_failures = w->m_step_failures;
	di->went_dead = w->m_dead;
}

void
metrics_fill_status(
    struct sup *s, Dbs__StatusReply *st, Dbs__MetricsHistogram *h)
{
	dbs__metrics_histogram__init(h);
	h->n_bounds = SUP_HIST_BUCKETS;
	h->bounds = (double *)bounds; /* read-only use by the packer */
	h->n_counts = SUP_HIST_BUCKETS + 1;
	h->counts = s->commit_hist.counts;
	h->count = s->commit_hist.count;
	h->sum = s->commit_hist.sum_s;
	st->commit_latency = h;
	st->sessions_expired = s->sessions_expired;
}
