/*
 * metrics.c — GET /metrics in the Prometheus text format (version 0.0.4),
 * held to `promtool check metrics` by tests/system/test_metrics.py.
 *
 * Who may scrape is metrics_access.c's answer: loopback peers, and the
 * addresses and bearer token that `web.metrics` in databus.json opens it
 * to; anyone else gets 404, as for a path that does not exist, because
 * the figures name every client and definition. There is no session.
 *
 * Most figures come from databusd's status reply: passengers by client,
 * definition and state, drives, failed step attempts, passengers gone
 * dead, worker restarts and states, memory, queue depth, store size and
 * record counts, the commit duration histogram recorded around each group
 * commit, and the system switches. databus-web adds its own: logins by
 * client and outcome, and open live-update sockets by client.
 *
 * Every label value comes from the configuration or the store, never
 * from what a request says, so the number of series stays bounded: a
 * login is counted by client only when the account exists (or the client
 * is open), others in one series without a client; at most
 * MAX_LOGIN_CLIENTS clients are told apart.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dbs_error.h"
#include "record_json.h"
#include "web.h"
#include "wire.h"

bool
web_peer_is_loopback(h2o_req_t *req)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	memset(&ss, 0, sizeof(ss));
	sl = req->conn->callbacks->get_peername(
	    req->conn, (struct sockaddr *)&ss);
	if (sl == 0)
		return false;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;

		return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a =
		    (const struct sockaddr_in6 *)&ss;

		if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) &&
		       a->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

/* A label value with \, " and newlines escaped. */
static void
label(FILE *f, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*s, f);
	}
}

/* ------------------------------------------- databus-web's own counts */

#define MAX_LOGIN_CLIENTS 256

/* Logins by client (loop thread only: login_done runs there). */
static struct {
	struct {
		char client[65];
		uint64_t ok, failed;
	} c[MAX_LOGIN_CLIENTS];
	size_t n;
	uint64_t unknown; /* no such account, or past MAX_LOGIN_CLIENTS */
} logins;

void
web_metrics_login(const char *client, bool known, bool ok)
{
	size_t i;

	if (!known) {
		logins.unknown++;
		return;
	}
	for (i = 0; i < logins.n; i++)
		if (strcmp(logins.c[i].client, client) == 0)
			break;
	if (i == logins.n) {
		if (logins.n == MAX_LOGIN_CLIENTS) {
			logins.unknown++;
			return;
		}
		snprintf(logins.c[i].client, sizeof(logins.c[i].client), "%s",
		    client);
		logins.n++;
	}
	if (ok)
		logins.c[i].ok++;
	else
		logins.c[i].failed++;
}

static void
head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
def_labels(FILE *f, const char *name, const Dbs__DefinitionInfo *d)
{
	fprintf(f, "%s{client=\"", name);
	label(f, d->client);
	fputs("\",definition=\"", f);
	label(f, d->name);
	fputc('"', f);
}

typedef uint64_t (*def_value)(const Dbs__DefinitionInfo *d);

static uint64_t
v_pending(const Dbs__DefinitionInfo *d)
{
	return d->pending;
}
static uint64_t
v_drives(const Dbs__DefinitionInfo *d)
{
	return d->drives;
}
static uint64_t
v_aborted(const Dbs__DefinitionInfo *d)
{
	return d->drives_aborted;
}
static uint64_t
v_step_failures(const Dbs__DefinitionInfo *d)
{
	return d->step_failures;
}
static uint64_t
v_went_dead(const Dbs__DefinitionInfo *d)
{
	return d->went_dead;
}
static uint64_t
v_restarts(const Dbs__DefinitionInfo *d)
{
	return d->worker != NULL ? d->worker->restarts : 0;
}
static uint64_t
v_rss(const Dbs__DefinitionInfo *d)
{
	return d->worker != NULL ? d->worker->rss_kib * 1024 : 0;
}
static uint64_t
v_driving(const Dbs__DefinitionInfo *d)
{
	return d->driving ? 1 : 0;
}

static void
per_def(FILE *f, const Dbs__StatusReply *st, const char *name,
    const char *type, const char *help, def_value v)
{
	head(f, name, type, help);
	for (size_t i = 0; i < st->n_definitions; i++) {
		def_labels(f, name, st->definitions[i]);
		fprintf(
		    f, "} %llu\n", (unsigned long long)v(st->definitions[i]));
	}
}

/* Per definition: passengers by state, the counters and the worker. */
static void
render_definitions(FILE *f, const Dbs__StatusReply *st)
{
	static const char *const states[] = {"pending", "done", "dead"};
	static const int wstates[] = {DBS__WORKER_STATE__WS_STARTING,
	    DBS__WORKER_STATE__WS_READY, DBS__WORKER_STATE__WS_BUSY,
	    DBS__WORKER_STATE__WS_BACKOFF, DBS__WORKER_STATE__WS_FAILED,
	    DBS__WORKER_STATE__WS_STOPPING, DBS__WORKER_STATE__WS_STOPPED};
	size_t i, k;

	head(f, "databus_passengers", "gauge",
	    "Passengers in the queue by client, definition and state.");
	for (i = 0; i < st->n_definitions; i++) {
		const Dbs__DefinitionInfo *d = st->definitions[i];
		uint64_t n[3] = {d->pending, d->done, d->dead};

		for (k = 0; k < 3; k++) {
			def_labels(f, "databus_passengers", d);
			fprintf(f, ",state=\"%s\"} %llu\n", states[k],
			    (unsigned long long)n[k]);
		}
	}
	per_def(f, st, "databus_queue_depth", "gauge",
	    "Passengers waiting for a step (pending).", v_pending);
	per_def(f, st, "databus_drives_total", "counter",
	    "Drives finished since databusd started.", v_drives);
	per_def(f, st, "databus_drives_aborted_total", "counter",
	    "Drives that did not end ok (timeout, crash, store error).",
	    v_aborted);
	per_def(f, st, "databus_step_failures_total", "counter",
	    "Failed work attempts of passengers (retried, or gone dead).",
	    v_step_failures);
	per_def(f, st, "databus_passengers_dead_total", "counter",
	    "Passengers that went dead (max_attempts or a permanent error).",
	    v_went_dead);
	per_def(f, st, "databus_driving", "gauge",
	    "1 while the definition drives.", v_driving);
	per_def(f, st, "databus_worker_restarts_total", "counter",
	    "Restarts of the definition's worker process.", v_restarts);
	per_def(f, st, "databus_worker_resident_memory_bytes", "gauge",
	    "Resident memory of the worker process, in bytes.", v_rss);
	head(f, "databus_worker_state", "gauge",
	    "1 for the state the definition's worker is in, else 0.");
	for (i = 0; i < st->n_definitions; i++) {
		const Dbs__DefinitionInfo *d = st->definitions[i];
		int cur = d->worker != NULL ? (int)d->worker->state : -1;

		for (k = 0; k < sizeof(wstates) / sizeof(wstates[0]); k++) {
			def_labels(f, "databus_worker_state", d);
			fprintf(f, ",state=\"%s\"} %d\n",
			    rj_worker_state_name(wstates[k]),
			    cur == wstates[k]);
		}
	}
}

static void
render_system(FILE *f, const Dbs__SystemState *sys)
{
	if (sys != NULL) {
		head(f, "databus_paused", "gauge",
		    "1 while paused by an operator.");
		fprintf(f, "databus_paused %d\n", sys->paused);
		head(f, "databus_intake_paused", "gauge",
		    "1 while intake is paused by a store error.");
		fprintf(f, "databus_intake_paused %d\n", sys->intake_paused);
		head(f, "databus_shutting_down", "gauge",
		    "1 while databusd shuts down.");
		fprintf(f, "databus_shutting_down %d\n", sys->shutting_down);
		head(f, "databus_start_time_seconds", "gauge",
		    "When databusd started, in seconds since the epoch.");
		fprintf(f, "databus_start_time_seconds %.3f\n",
		    (double)sys->started_ms / 1000);
		head(f, "databus_web_restarts_total", "counter",
		    "Restarts of databus-web.");
		fprintf(
		    f, "databus_web_restarts_total %u\n", sys->web_restarts);
	}
}

static void
render_store(FILE *f, const Dbs__StoreStats *ss)
{
	if (ss != NULL) {
		head(f, "databus_store_map_bytes", "gauge",
		    "Size of the store's memory map.");
		fprintf(f, "databus_store_map_bytes %llu\n",
		    (unsigned long long)ss->map_size);
		head(f, "databus_store_used_bytes", "gauge",
		    "Bytes of the store in use.");
		fprintf(f, "databus_store_used_bytes %llu\n",
		    (unsigned long long)ss->used_bytes);
		head(f, "databus_store_records", "gauge",
		    "Records in the store by kind.");
		fprintf(f,
		    "databus_store_records{kind=\"passengers\"} %llu\n"
		    "databus_store_records{kind=\"attachments\"} %llu\n"
		    "databus_store_records{kind=\"logs\"} %llu\n"
		    "databus_store_records{kind=\"users\"} %llu\n"
		    "databus_store_records{kind=\"sessions\"} %llu\n"
		    "databus_store_records{kind=\"events\"} %llu\n",
		    (unsigned long long)ss->passengers,
		    (unsigned long long)ss->attachments,
		    (unsigned long long)ss->logs,
		    (unsigned long long)ss->users,
		    (unsigned long long)ss->sessions,
		    (unsigned long long)ss->events);
		head(f, "databus_store_commits_total", "counter",
		    "Group commits of the store since databusd started.");
		fprintf(f, "databus_store_commits_total %llu\n",
		    (unsigned long long)ss->commits);
	}
}

static void
render_commit_latency(FILE *f, const Dbs__MetricsHistogram *h)
{
	size_t i;

	if (h != NULL && h->n_counts == h->n_bounds + 1) {
		uint64_t cum = 0;

		head(f, "databus_store_commit_duration_seconds", "histogram",
		    "Duration of databusd's group commits of the store (fsync "
		    "included), in seconds.");
		for (i = 0; i < h->n_bounds; i++) {
			cum += h->counts[i];
			fprintf(f,
			    "databus_store_commit_duration_seconds_bucket{le="
			    "\"%g\"} "
			    "%llu\n",
			    h->bounds[i], (unsigned long long)cum);
		}
		cum += h->counts[h->n_bounds];
		fprintf(f,
		    "databus_store_commit_duration_seconds_bucket{le=\"+Inf\"}"
		    " "
		    "%llu\n"
		    "databus_store_commit_duration_seconds_sum %.6f\n"
		    "databus_store_commit_duration_seconds_count %llu\n",
		    (unsigned long long)cum, h->sum,
		    (unsigned long long)h->count);
	}
}

/* Open live-update sockets by client: at most one entry per client with
 * a session, which the store bounds. */
struct sock_counts {
	struct {
		const char *client;
		uint64_t n;
	} c[MAX_LOGIN_CLIENTS];
	size_t n;
};

static void
count_socket(const char *client, void *arg)
{
	struct sock_counts *sc = arg;
	size_t i;

	for (i = 0; i < sc->n; i++)
		if (strcmp(sc->c[i].client, client) == 0)
			break;
	if (i == sc->n) {
		if (sc->n == MAX_LOGIN_CLIENTS)
			return;
		sc->c[sc->n++].client = client;
	}
	sc->c[i].n++;
}

static void
render_web(FILE *f)
{
	static struct sock_counts sc;
	size_t i;

	head(f, "databus_web_logins_total", "counter",
	    "Logins to an existing account (or an open client) since "
	    "databus-web started, by client and outcome.");
	for (i = 0; i < logins.n; i++) {
		fputs("databus_web_logins_total{client=\"", f);
		label(f, logins.c[i].client);
		fprintf(f, "\",outcome=\"ok\"} %llu\n",
		    (unsigned long long)logins.c[i].ok);
		fputs("databus_web_logins_total{client=\"", f);
		label(f, logins.c[i].client);
		fprintf(f, "\",outcome=\"failed\"} %llu\n",
		    (unsigned long long)logins.c[i].failed);
	}
	head(f, "databus_web_logins_unknown_account_total", "counter",
	    "Logins naming no existing account since databus-web started.");
	fprintf(f, "databus_web_logins_unknown_account_total %llu\n",
	    (unsigned long long)logins.unknown);
	memset(&sc, 0, sizeof(sc));
	web_events_each_socket(count_socket, &sc);
	head(f, "databus_web_live_sockets", "gauge",
	    "Open live-update websockets, by the client of their session.");
	for (i = 0; i < sc.n; i++) {
		fputs("databus_web_live_sockets{client=\"", f);
		label(f, sc.c[i].client);
		fprintf(f, "\"} %llu\n", (unsigned long long)sc.c[i].n);
	}
}

static void
render(FILE *f, const Dbs__StatusReply *st)
{
	if (st->system != NULL) {
		head(f, "databus_build_info", "gauge",
		    "Always 1; the version of databusd as a label.");
		fputs("databus_build_info{version=\"", f);
		label(f, st->system->version);
		fputs("\"} 1\n", f);
	}
	render_definitions(f, st);
	render_system(f, st->system);
	render_store(f, st->store);
	head(f, "databus_sessions_expired_total", "counter",
	    "Expired web sessions removed since databusd started.");
	fprintf(f, "databus_sessions_expired_total %llu\n",
	    (unsigned long long)st->sessions_expired);
	render_commit_latency(f, st->commit_latency);
	render_web(f);
}

static void
metrics_answer(h2o_req_t *req, struct web_ctl_job *j)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (j->reply->code != DBS_OK || j->reply->status == NULL) {
		web_ctl_error(req, j->reply);
		return;
	}
	if ((f = open_memstream(&text, &len)) == NULL) {
		web_send_error(req, 500, "internal", "out of memory");
		return;
	}
	render(f, j->reply->status);
	if (fclose(f) != 0 || text == NULL) {
		free(text);
		web_send_error(req, 500, "internal", "out of memory");
		return;
	}
	req->res.status = 200;
	req->res.reason = "OK";
	web_security_headers(req);
	web_add_header(
	    req, "content-type", "text/plain; version=0.0.4; charset=utf-8");
	web_send_inline(req, text, len);
	free(text);
}

int
web_metrics(h2o_req_t *req, const struct web_args *a)
{
	struct web_session none;
	struct web_ctl_job *j;

	(void)a;
	switch (web_metrics_admit(req)) {
	case 0:
		break;
	case 401:
		web_add_header(req, "www-authenticate", "Bearer");
		return web_send_error(req, 401, "unauthorized",
		    "/metrics needs the bearer token of "
		    "web.metrics.token_file");
	default:
		return web_not_found(req);
	}
	memset(&none, 0, sizeof(none));
	snprintf(none.username, sizeof(none.username), "metrics");
	if ((j = web_ctl_job_new(req, &none, metrics_answer)) == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	return web_ctl_submit_status(req, j);
}
