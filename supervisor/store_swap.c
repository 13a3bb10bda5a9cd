/*
 * store_swap.c — swapping the store under a running databusd (see
 * store_swap.h).
 *
 * restore: databusctl has copied the backup into DATA/store.staged-* and
 * verified it there. databusd stops scheduling drives, waits for the
 * drives under way to end (their passengers' ids mean nothing in the
 * backup), then, in one step of its single-threaded loop (nothing else is
 * read or written meanwhile: intake is paused for exactly that step),
 * commits the open batch, closes the store, renames DATA/store to
 * DATA/store.old-<time>, renames the staged directory to DATA/store,
 * reopens it and resumes.
 *
 * compact: no drain is needed (the compacted copy keeps every id). In one
 * step: commit, LMDB's compacting copy of the store into
 * DATA/store.compact-<pid>, a check that the copy holds as many records,
 * then the old data file goes to DATA/store.old-<time>/data.mdb and the
 * copy takes its place; reopen.
 *
 * If the new store does not open, the old one is put back and reopened.
 * databus-web is restarted afterwards (its read-only map is of the old
 * file). The reply carries the pause in microseconds.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "commit.h"
#include "dbs_error.h"
#include "store_swap.h"
#include "wire.h"

static struct {
	bool active;
	nng_msg *msg;
	uint64_t req_id;
	char staged[4096];
	bool was_paused;
	int64_t drain_from_us;
} pend;

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
reply(struct sup *s, nng_msg *msg, uint64_t id, int code, const char *text,
    Dbs__StoreSwapReply *sr)
{
	Dbs__ControlReply r = DBS__CONTROL_REPLY__INIT;

	r.id = id;
	r.code = code;
	r.message = (char *)(text != NULL ? text : dbs_strerror(code));
	r.swap = sr;
	sup_control_reply(s, msg, &r, true);
}

static int
reopen(struct sup *s, const char *dir)
{
	struct store_options so = {0};

	so.max_size = s->cfg->store_max_size;
	so.event_keep = s->cfg->event_keep;
	so.dedup_horizon_ms = s->cfg->dedup_horizon_ms;
	so.backend = (enum store_backend)s->cfg->store_backend;
	so.pg_conninfo = s->cfg->pg_conninfo;
	so.pg_schema = s->cfg->pg_schema;
	return store_open(dir, STORE_RDWR, &so, &s->st);
}

/* The compacted copy of the open store in `dir`, checked against it. */
static int
compact_copy(struct sup *s, const char *dir, char *err, size_t errlen)
{
	Dbs__StoreStats a = DBS__STORE_STATS__INIT, b = DBS__STORE_STATS__INIT;
	struct store *cp = NULL;
	struct store_txn *t;
	int rc;

	if (mkdir(dir, 0700) != 0) {
		snprintf(
		    err, errlen, "mkdir %.900s: %s", dir, strerror(errno));
		return dbs_from_errno(errno);
	}
	if ((rc = store_copy(s->st, dir)) != DBS_OK) {
		snprintf(err, errlen, "copy: %s", store_last_error(s->st));
		return rc;
	}
	if ((rc = store_txn_begin(s->st, false, &t)) == DBS_OK) {
		rc = store_stats(t, &a);
		store_txn_abort(t);
	}
	if (rc == DBS_OK &&
	    (rc = store_open(dir, STORE_RDONLY, NULL, &cp)) == DBS_OK &&
	    (rc = store_txn_begin(cp, false, &t)) == DBS_OK) {
		rc = store_stats(t, &b);
		store_txn_abort(t);
	}
	store_close(cp);
	if (rc == DBS_OK &&
	    (a.passengers != b.passengers || a.attachments != b.attachments ||
		a.logs != b.logs || a.events != b.events))
		rc = DBS_ECORRUPT;
	if (rc != DBS_OK)
		snprintf(err, errlen,
		    "the compacted copy does not match the "
		    "store; nothing changed");
	return rc;
}

static uint64_t
file_size(const char *dir)
{
	char p[4400];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/data.mdb", dir);
	return stat(p, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* Close, rename, reopen; on failure put the old store back. */
static int
swap_files(struct sup *s, const char *store, const char *staged,
    const char *old, bool compact, char *err, size_t errlen)
{
	char a[4400], b[4400];
	int rc;

	store_close(s->st);
	s->st = NULL;
	if (compact) {
		snprintf(a, sizeof(a), "%s/data.mdb", store);
		snprintf(b, sizeof(b), "%s/data.mdb", old);
		rc = mkdir(old, 0700) == 0 && rename(a, b) == 0 ? 0 : -1;
		snprintf(b, sizeof(b), "%s/data.mdb", staged);
		if (rc == 0 && rename(b, a) != 0) {
			snprintf(b, sizeof(b), "%s/data.mdb", old);
			(void)rename(b, a);
			rc = -1;
		}
		if (rc == 0)
			(void)rmdir(staged);
	} else {
		rc = rename(store, old) == 0 ? 0 : -1;
		if (rc == 0 && rename(staged, store) != 0) {
			(void)rename(old, store);
			rc = -1;
		}
	}
	if (rc != 0) {
		snprintf(
		    err, errlen, "cannot swap the store: %s", strerror(errno));
		return reopen(s, store) == DBS_OK ? DBS_EIO : DBS_EIO;
	}
	if ((rc = reopen(s, store)) == DBS_OK)
		return DBS_OK;
	snprintf(err, errlen,
	    "the new store does not open (%s); the old one "
	    "is back",
	    dbs_strerror(rc));
	if (compact) {
		snprintf(a, sizeof(a), "%s/data.mdb", store);
		snprintf(b, sizeof(b), "%s/data.mdb", old);
		(void)rename(b, a);
	} else {
		(void)rename(store, staged);
		(void)rename(old, store);
	}
	if (reopen(s, store) != DBS_OK) {
		sup_err("store swap: the store cannot be reopened");
		sup_begin_shutdown(s, "the store cannot be reopened");
	}
	return rc;
}

static void
after_swap(struct sup *s)
{
	struct store_txn *t;
	int64_t now = wire_mono_ms();

	if (store_txn_begin(s->st, false, &t) == DBS_OK) {
		(void)store_event_range(t, &(uint64_t){0}, &s->published_seq);
		store_txn_abort(t);
	}
	for (size_t i = 0; i < s->n_workers; i++)
		sched_retry_at(s->sched, s->workers[i]->slot, now);
	web_stop(s, SIGTERM); /* it comes back on the new store */
}

/* The swap itself: one step of the loop, its length the intake pause. */
static void
swap(struct sup *s, nng_msg *msg, uint64_t id, const char *staged_in,
    bool compact, int64_t drain_us)
{
	Dbs__StoreSwapReply sr = DBS__STORE_SWAP_REPLY__INIT;
	char store[4300], staged[4300], old[4300], err[1024] = "", stamp[32];
	int64_t t0 = mono_us();
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	snprintf(store, sizeof(store), "%s/store", s->cfg->data_dir);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", gmtime_r(&now, &tm));
	snprintf(old, sizeof(old), "%s/store.old-%s", s->cfg->data_dir, stamp);
	/* Two swaps within one second: the second gets its own name. */
	for (int n = 2; access(old, F_OK) == 0 && n < 1000; n++)
		snprintf(old, sizeof(old), "%s/store.old-%s-%d",
		    s->cfg->data_dir, stamp, n);
	if (compact)
		snprintf(staged, sizeof(staged), "%s/store.compact-%d",
		    s->cfg->data_dir, (int)getpid());
	else
		snprintf(staged, sizeof(staged), "%s", staged_in);
	sr.before = file_size(store);
	rc = s->txn != NULL ? sup_commit(s) : DBS_OK;
	if (rc != DBS_OK)
		snprintf(err, sizeof(err), "the open batch did not commit");
	if (rc == DBS_OK && compact)
		rc = compact_copy(s, staged, err, sizeof(err));
	if (rc == DBS_OK)
		rc = swap_files(
		    s, store, staged, old, compact, err, sizeof(err));
	sr.pause_us = mono_us() - t0;
	sr.drain_us = drain_us;
	if (rc == DBS_OK) {
		after_swap(s);
		sr.after = file_size(store);
		sr.old_store = old;
		sup_log("store %s: intake paused %.3f ms (drain %.3f ms); the "
			"old store is in %s",
		    compact ? "compacted" : "restored", sr.pause_us / 1000.0,
		    drain_us / 1000.0, old);
		snprintf(err, sizeof(err),
		    "store %s; the old one is in %.900s",
		    compact ? "compacted" : "restored", old);
	} else {
		sup_err("store %s failed: %s",
		    compact ? "compaction" : "restore", err);
	}
	reply(s, msg, id, rc, err, &sr);
}

void
store_swap_request(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req)
{
	const Dbs__StoreSwap *w = req->store_swap;
	struct stat sb;

	if (pend.active) {
		reply(s, msg, req->id, DBS_EBUSY,
		    "a restore is under way already", NULL);
		return;
	}
	if (w->compact) {
		swap(s, msg, req->id, NULL, true, 0);
		return;
	}
	if (w->staged[0] != '/' ||
	    strstr(w->staged, "/store.staged-") == NULL ||
	    stat(w->staged, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		reply(s, msg, req->id, DBS_EINVAL,
		    "restore: no staged store to swap in", NULL);
		return;
	}
	pend.active = true;
	pend.msg = msg;
	pend.req_id = req->id;
	snprintf(pend.staged, sizeof(pend.staged), "%s", w->staged);
	pend.was_paused = sched_paused(s->sched);
	pend.drain_from_us = mono_us();
	sched_pause(s->sched, true);
	sup_log("restore requested by %s: waiting for the drives under way",
	    req->actor);
}

void
store_swap_timers(struct sup *s, int64_t now, int64_t *wake)
{
	if (!pend.active)
		return;
	for (size_t i = 0; i < s->n_workers; i++)
		if (s->workers[i]->drive != NULL) {
			if (*wake < 0 || now + 5 < *wake)
				*wake = now + 5;
			return;
		}
	pend.active = false;
	swap(s, pend.msg, pend.req_id, pend.staged, false,
	    mono_us() - pend.drain_from_us);
	if (!pend.was_paused)
		sched_pause(s->sched, false);
}
