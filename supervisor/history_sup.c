/*
 * history_sup.c — databusd's side of the charts' history (history.h): it
 * feeds the rings where the figures change and answers the `history`
 * control verb.
 *
 * Fed by: the end of every drive (drive.c: passengers done, failed
 * attempts, gone dead, its duration; the queue depth is read then from
 * the store's per-definition counts, in the open batch so that it counts
 * what the drive wrote), every group commit (metrics.c: its latency), and
 * a timer that samples the store's used bytes once a minute and writes
 * the history to <data_dir>/history once an hour and at shutdown, so
 * that a restart keeps it (a crash loses at most the last hour). The file
 * is a cache: one that does not load is set aside and the history starts
 * empty.
 *
 * Who may read what (tenant, role) is databus-web's check; databusd
 * answers DBS_ENOTFOUND for a definition that is not in its
 * configuration. An empty definition asks for the sum of a client's
 * definitions (an empty client: of every client), which is what the
 * Passengers page charts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commit.h"
#include "dbs_error.h"
#include "history.h"
#include "history_sup.h"
#include "sup.h"
#include "wire.h"

#define SAMPLE_MS 60000
#define SAVE_MS   (60 * 60000)

static void
file_path(const struct sup *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s/history", s->cfg->data_dir);
}

void
history_sup_open(struct sup *s)
{
	char path[4200];
	int rc;

	if ((s->history = history_new()) == NULL)
		return; /* no charts' history; nothing else depends on it */
	file_path(s, path, sizeof(path));
	rc = history_load(s->history, path);
	if (rc == DBS_EINVAL || rc == DBS_EIO)
		sup_warn("%s: not a history this databusd wrote (%s); "
			 "starting the charts' history empty",
		    path, dbs_strerror(rc));
}

/* Whether client/definition is still configured (history_retain). */
static int
configured(void *ctx, const char *client, const char *definition)
{
	const struct sup *s = ctx;

	for (size_t i = 0; i < s->n_workers; i++) {
		const struct cfg_definition *d = s->workers[i]->def;

		if (!s->workers[i]->removed && d != NULL &&
		    strcmp(d->client, client) == 0 &&
		    strcmp(d->name, definition) == 0)
			return 1;
	}
	return 0;
}

static void
save(struct sup *s)
{
	char path[4200];
	int rc;

	if (s->history == NULL)
		return;
	history_retain(s->history, configured, s);
	file_path(s, path, sizeof(path));
	if ((rc = history_save(s->history, path)) != DBS_OK)
		sup_warn("%s: cannot write the charts' history: %s", path,
		    dbs_strerror(rc));
}

void
history_sup_close(struct sup *s)
{
	save(s);
	history_free(s->history);
	s->history = NULL;
}

/* The queue depth of w's definition now, from the open batch if any. */
static uint64_t
pending_now(struct sup *s, const struct cfg_definition *def)
{
	struct store_txn *t = s->txn, *own = NULL;
	uint64_t pending = 0;

	if (t == NULL && store_txn_begin(s->st, false, &own) == DBS_OK)
		t = own;
	if (t != NULL)
		(void)store_queue_counts(
		    t, def->client, def->name, &pending, NULL, NULL);
	store_txn_abort(own);
	return pending;
}

void
history_sup_drive(struct sup *s, struct worker *w, uint32_t done,
    uint32_t failed, uint32_t dead, int64_t drive_ms)
{
	if (s->history == NULL || w->def == NULL)
		return;
	if (history_drive(s->history, w->def->client, w->def->name,
		wire_now_ms(), done, failed, dead, pending_now(s, w->def),
		drive_ms) != DBS_OK)
		sup_warn("the charts' history: out of memory");
}

void
history_sup_commit(struct sup *s, int64_t elapsed_us)
{
	if (s->history != NULL)
		history_commit(s->history, wire_now_ms(), elapsed_us);
}

static uint64_t
used_bytes(struct sup *s)
{
	Dbs__StoreStats st = DBS__STORE_STATS__INIT;
	struct store_txn *t;

	if (store_txn_begin(s->st, false, &t) != DBS_OK)
		return 0;
	(void)store_stats(t, &st);
	store_txn_abort(t);
	return st.used_bytes;
}

void
history_sup_timers(struct sup *s, int64_t now, int64_t *wake)
{
	if (s->history == NULL)
		return;
	if (now >= s->history_sample_ms) {
		history_store_size(s->history, wire_now_ms(), used_bytes(s));
		s->history_sample_ms = now + SAMPLE_MS;
		if (s->history_save_ms == 0)
			s->history_save_ms = now + SAVE_MS;
		else if (now >= s->history_save_ms) {
			save(s);
			s->history_save_ms = now + SAVE_MS;
		}
	}
	if (*wake < 0 || s->history_sample_ms < *wake)
		*wake = s->history_sample_ms;
}

/* The w of client/definition, or NULL. */
static const struct worker *
find(const struct sup *s, const char *client, const char *definition)
{
	for (size_t i = 0; i < s->n_workers; i++) {
		const struct worker *w = s->workers[i];

		if (!w->removed && w->def != NULL &&
		    strcmp(w->def->client, client) == 0 &&
		    strcmp(w->def->name, definition) == 0)
			return w;
	}
	return NULL;
}

/* Every definition of `client` ("": of every client) summed. */
static int
read_sum(struct sup *s, const char *client, enum history_range r,
    struct history_series *hs)
{
	const char *c = client[0] != '\0' ? client : NULL;
	struct store_txn *t = s->txn, *own = NULL;
	uint64_t pending = 0;

	if (s->history == NULL)
		return DBS_ENOMEM;
	if (t == NULL && store_txn_begin(s->st, false, &own) == DBS_OK)
		t = own;
	if (t != NULL)
		(void)store_queue_counts(t, c, NULL, &pending, NULL, NULL);
	store_txn_abort(own);
	return history_read_sum(s->history, c, r, wire_now_ms(), pending, hs);
}

/* Read the series asked for into *hs; a dbs_error code. A definition
 * "" asks for the sum of the client's. */
static int
read_series(struct sup *s, const Dbs__HistoryRef *ref,
    struct history_series *hs, char *err, size_t errlen)
{
	enum history_range r;
	const struct worker *w = NULL;

	if (history_range_parse(ref->range, &r) != 0) {
		snprintf(err, errlen, "range must be 24h or 30d");
		return DBS_EINVAL;
	}
	if (!ref->system && ref->definition[0] == '\0')
		return read_sum(s, ref->client, r, hs);
	if (!ref->system &&
	    (w = find(s, ref->client, ref->definition)) == NULL) {
		snprintf(err, errlen, "no such definition");
		return DBS_ENOTFOUND;
	}
	if (s->history == NULL) {
		snprintf(err, errlen, "the charts' history is not kept");
		return DBS_ENOMEM;
	}
	if (ref->system)
		return history_read_system(
		    s->history, r, wire_now_ms(), used_bytes(s), hs);
	return history_read(s->history, w->def->client, w->def->name, r,
	    wire_now_ms(), pending_now(s, w->def), hs);
}

void
history_sup_ctl(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req)
{
	Dbs__ControlReply r = DBS__CONTROL_REPLY__INIT;
	Dbs__HistoryReply hr = DBS__HISTORY_REPLY__INIT;
	Dbs__HistorySeries ser[HISTORY_MAX_COLS], *serp[HISTORY_MAX_COLS];
	struct history_series hs = {0};
	char err[200] = "";

	r.id = req->id;
	r.code = read_series(s, req->history, &hs, err, sizeof(err));
	if (r.code == DBS_OK) {
		hr.start_ms = hs.start_ms;
		hr.step_ms = hs.step_ms;
		for (size_t i = 0; i < hs.n_cols; i++) {
			dbs__history_series__init(&ser[i]);
			ser[i].name = (char *)hs.names[i];
			ser[i].n_values = hs.n;
			ser[i].values = hs.cols[i];
			serp[i] = &ser[i];
		}
		hr.n_series = hs.n_cols;
		hr.series = serp;
		r.history = &hr;
	}
	r.message = err[0] != '\0' ? err : (char *)dbs_strerror(r.code);
	sup_control_reply(s, msg, &r, true);
	history_series_free(&hs);
}
