/*
 * ready.c — databusd's readiness as databus-web last saw it, for /readyz.
 *
 * A probe must answer at once and say how things are now. Asking databusd
 * on the request made /readyz wait for the control call's 10 s timeout
 * before it said 503 while databusd did not answer. So a thread, started
 * by the first /readyz, asks databusd for its status every ASK_EVERY_MS
 * with a reply timeout of FRESH_MS, and records when the last request that
 * was answered was sent; /readyz answers from that alone: ready when it is
 * at most FRESH_MS old. A databusd that stops answering reads 503 within
 * about a second, whatever the thread is waiting for meanwhile. An answer
 * that says intake is paused by a store error (a full disk, an I/O error,
 * a PostgreSQL databusd cannot reach) is an answer, but not ready: the
 * node takes no deliveries until the store takes writes again.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "dbs_error.h"
#include "ready.h"
#include "web.h"
#include "wire.h"

#define ASK_EVERY_MS  250
#define FRESH_MS      1000
#define FIRST_WAIT_MS 80

static struct {
	pthread_once_t once;
	const char *url;
	atomic_llong answered_ms; /* when the last answered request left */
	atomic_bool asked;        /* the first request is done */
	atomic_bool store_down;   /* the last answer: intake paused by it */
} ready = {.once = PTHREAD_ONCE_INIT};

static void
nap_ms(long long ms)
{
	if (ms > 0)
		(void)nanosleep(&(struct timespec){ms / 1000,
				    (long)(ms % 1000) * 1000 * 1000},
		    NULL);
}

/* One status request; true when databusd answered it without error. */
static bool
ask(void)
{
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__Empty empty = DBS__EMPTY__INIT;
	Dbs__ControlReply *reply = NULL;
	int rc;

	req.verb_case = DBS__CONTROL_REQUEST__VERB_STATUS;
	req.status = &empty;
	rc = web_control_timeout(ready.url, "web", &req, &reply, FRESH_MS);
	if (rc == DBS_OK && reply->code != DBS_OK)
		rc = (int)reply->code;
	if (rc == DBS_OK)
		atomic_store(&ready.store_down,
		    reply->status != NULL && reply->status->system != NULL &&
			reply->status->system->intake_paused);
	if (reply != NULL)
		dbs__control_reply__free_unpacked(reply, NULL);
	return rc == DBS_OK;
}

static void *
ask_thread(void *arg)
{
	(void)arg;
	for (;;) {
		long long sent = wire_mono_ms();

		if (ask())
			atomic_store(&ready.answered_ms, sent);
		atomic_store(&ready.asked, true);
		nap_ms(sent + ASK_EVERY_MS - wire_mono_ms());
	}
	return NULL;
}

static void
start(void)
{
	pthread_t t;

	atomic_store(&ready.answered_ms, -(long long)FRESH_MS - 1);
	if (pthread_create(&t, NULL, ask_thread, NULL) == 0)
		pthread_detach(t); /* databus-web ends with _exit */
	else
		atomic_store(&ready.asked, true); /* never ready */
}

bool
web_ready(const char *url, const char **why)
{
	long long until;
	bool answered;

	ready.url = url;
	pthread_once(&ready.once, start);
	until = wire_mono_ms() + FIRST_WAIT_MS;
	while (!atomic_load(&ready.asked) && wire_mono_ms() < until)
		nap_ms(5);
	answered =
	    wire_mono_ms() - atomic_load(&ready.answered_ms) <= FRESH_MS;
	if (why != NULL)
		*why = !answered ? "databusd did not answer on the control "
				   "socket within the last second"
		       : atomic_load(&ready.store_down)
			   ? "the store takes no writes (intake paused by a "
			     "store error)"
			   : "";
	return answered && !atomic_load(&ready.store_down);
}
