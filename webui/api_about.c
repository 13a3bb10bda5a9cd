/*
 * api_about.c — what is running: version, uptime, workers, store.
 *
 *   GET /api/v1/about
 *
 * One control request (status) on a pool thread. Every role may ask.
 * "libraries" names the versions of the libraries underneath.
 * Workers are those of the running definitions: root sees them all,
 * other users only their client's. Store statistics and system details
 * (data directory, pid, pause state) are root's only.
 */
#include <stdlib.h>

#include <curl/curlver.h>
#include <h2o/version.h>
#include <nng/nng.h>
#include <openssl/crypto.h>
#include <protobuf-c/protobuf-c.h>
#include <sodium.h>

#include "dbs_error.h"
#include "record_json.h"
#include "web.h"
#include "wire.h"

/* The libraries Databus runs on, as this process sees them (run-time
 * versions where the library tells; h2o and libcurl, which the workers
 * link, by the headers they were built with). */
static json_t *
libraries(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "lmdb",
	    store_engine_version(), "nng", nng_version(), "protobuf-c",
	    protobuf_c_version(), "h2o", H2O_VERSION, "libsodium",
	    sodium_version_string(), "jansson", jansson_version_str(),
	    "openssl", OpenSSL_version(OPENSSL_VERSION), "libcurl",
	    LIBCURL_VERSION);
}

static void
about_answer(h2o_req_t *req, struct web_ctl_job *j)
{
	const Dbs__StatusReply *st = j->reply->status;
	const Dbs__SystemState *sys;
	bool root = j->session.role == DBS__ROLE__ROLE_ROOT;
	json_t *workers, *doc;
	int64_t now = wire_now_ms(), uptime = 0;
	size_t i;

	if (j->reply->code != DBS_OK || st == NULL || st->system == NULL) {
		web_send_error(
		    req, 503, "unavailable", "databusd gave no status");
		return;
	}
	sys = st->system;
	if (sys->started_ms > 0 && now > sys->started_ms)
		uptime = now - sys->started_ms;
	if ((workers = json_array()) == NULL) {
		web_send_error(req, 500, "internal", "out of memory");
		return;
	}
	for (i = 0; i < st->n_definitions; i++) {
		const Dbs__DefinitionInfo *d = st->definitions[i];

		if (d->worker == NULL ||
		    !web_session_sees(&j->session, d->client))
			continue;
		if (json_array_append_new(
			workers, rj_worker_info(d->worker)) != 0) {
			json_decref(workers);
			web_send_error(req, 500, "internal", "out of memory");
			return;
		}
	}
	doc = json_pack("{s:o, s:o, s:o, s:I, s:o}", "version",
	    rj_string(sys->version), "system_alias",
	    rj_string(sys->system_alias), "started", rj_time(sys->started_ms),
	    "uptime_ms", (json_int_t)uptime, "workers", workers);
	if (doc != NULL)
		json_object_set_new(doc, "libraries", libraries());
	if (doc != NULL && root) {
		json_object_set_new(doc, "system", rj_system_state(sys));
		json_object_set_new(doc, "store",
		    st->store != NULL ? rj_store_stats(st->store)
				      : json_null());
	}
	web_send_json(req, 200, doc);
}

int
web_api_about(h2o_req_t *req, const struct web_args *a)
{
	struct web_session s;
	struct web_ctl_job *j;

	(void)a;
	if (!web_session_require(req, &s))
		return 0;
	if ((j = web_ctl_job_new(req, &s, about_answer)) == NULL)
		return web_send_error(req, 500, "internal", "out of memory");
	return web_ctl_submit_status(req, j);
}
