/*
 * sessions.c — how long a web session lives, and the sweep of dead ones.
 *
 * A session ends at the earlier of two limits: idle (no request for
 * `web.session_idle`, default 12 h) and absolute (`web.session_lifetime`
 * after login, default 24 h). The store keeps one `expires_ms` per session:
 * the earlier of the two as of the last touch. databus-web checks it on
 * every request and asks databusd to touch a session (session_touch) at most
 * once a minute while it is used, which moves the idle limit forward but
 * never past the absolute one; so idle time is measured to the minute.
 *
 * Expired sessions are already refused by the web; the sweep here removes
 * them from the store every minute (or sooner when the idle limit is
 * short), so that the sessions table does not grow with abandoned logins.
 */
#include <stdio.h>

#include "commit.h"
#include "dbs_error.h"
#include "sup.h"
#include "wire.h"

#define IDLE_DEFAULT_MS     (12LL * 3600 * 1000)
#define LIFETIME_DEFAULT_MS (24LL * 3600 * 1000)
#define SWEEP_MAX_MS        (60LL * 1000)
#define SWEEP_MIN_MS        1000LL

static int64_t
idle_ms(const struct sup *s)
{
	return s->cfg->session_idle_ms > 0 ? s->cfg->session_idle_ms
					   : IDLE_DEFAULT_MS;
}

static int64_t
lifetime_ms(const struct sup *s)
{
	return s->cfg->session_lifetime_ms > 0 ? s->cfg->session_lifetime_ms
					       : LIFETIME_DEFAULT_MS;
}

/* The expiry of a session created at `created` and used at `now`. */
static int64_t
expiry(const struct sup *s, int64_t created, int64_t now)
{
	int64_t idle = now + idle_ms(s), end = created + lifetime_ms(s);

	return idle < end ? idle : end;
}

int
sessions_create(struct sup *s, const Dbs__SessionCreate *c)
{
	Dbs__Session ss = DBS__SESSION__INIT;
	struct store_txn *txn;
	int64_t now = wire_now_ms();
	int rc;

	if (c->token_hash.len != 32 || c->ttl_ms < 0)
		return DBS_EINVAL;
	if ((txn = sup_txn(s)) == NULL)
		return DBS_EIO;
	ss.token_hash = c->token_hash;
	ss.client = c->client;
	ss.username = c->username;
	ss.role = c->role;
	ss.created_ms = now;
	ss.last_used_ms = now;
	ss.expires_ms = expiry(s, now, now);
	/* A caller may ask for a shorter first period, never a longer one
	 * (use continues to extend it up to the absolute end). */
	if (c->ttl_ms > 0 && now + c->ttl_ms < ss.expires_ms)
		ss.expires_ms = now + c->ttl_ms;
	if ((rc = store_session_put(txn, &ss)) != DBS_OK)
		sup_store_failed(s, rc, "saving a session");
	return rc;
}

int
sessions_touch(struct sup *s, const Dbs__SessionRef *r)
{
	struct store_txn *txn;
	Dbs__Session *ss = NULL;
	int64_t now = wire_now_ms(), next;
	int rc;

	if ((txn = sup_txn(s)) == NULL)
		return DBS_EIO;
	rc =
	    store_session_get(txn, r->token_hash.data, r->token_hash.len, &ss);
	if (rc != DBS_OK)
		return rc;
	if (ss->expires_ms <= now) {
		/* Too late: it is gone (the sweep would remove it). */
		rc = store_session_delete(
		    txn, r->token_hash.data, r->token_hash.len);
		if (rc != DBS_OK && rc != DBS_ENOTFOUND)
			sup_store_failed(s, rc, "ending a session");
		else
			rc = DBS_ENOTFOUND;
		goto out;
	}
	next = expiry(s, ss->created_ms, now);
	/* Never later than the absolute end, never earlier than before. */
	if (next > ss->expires_ms)
		ss->expires_ms = next;
	ss->last_used_ms = now;
	if ((rc = store_session_put(txn, ss)) != DBS_OK)
		sup_store_failed(s, rc, "touching a session");
out:
	dbs__session__free_unpacked(ss, NULL);
	return rc;
}

void
sessions_timers(struct sup *s, int64_t now, int64_t *wake)
{
	struct store_txn *txn;
	uint64_t n = 0;
	int64_t period = idle_ms(s) / 4;
	int rc;

	if (period > SWEEP_MAX_MS)
		period = SWEEP_MAX_MS;
	if (period < SWEEP_MIN_MS)
		period = SWEEP_MIN_MS;
	if (now < s->session_sweep_at_ms) {
		if (*wake < 0 || s->session_sweep_at_ms < *wake)
			*wake = s->session_sweep_at_ms;
		return;
	}
	s->session_sweep_at_ms = now + period;
	if (s->intake_paused || (txn = sup_txn(s)) == NULL)
		return;
	if ((rc = store_session_expire(txn, wire_now_ms(), &n)) != DBS_OK) {
		sup_store_failed(s, rc, "removing expired sessions");
		return;
	}
	s->sessions_expired += n;
	if (n > 0)
		sup_log(
		    "%llu expired session(s) removed", (unsigned long long)n);
}
