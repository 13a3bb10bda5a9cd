/*
 * passenger.c — the rules of a passenger's steps and state (passenger.h).
 *
 * Every change to a stored passenger's steps or state goes through here:
 * the drive (step results, notifies, the crash charge of a poison
 * passenger) and the control socket (an operator's requeue or toggle).
 * The rules are pure, so test_passenger.c checks each one with a mocked
 * clock and a mocked random source.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dbs_error.h"
#include "passenger.h"
#include "sched.h"

bool
passenger_step_done(const Dbs__Step *st)
{
	return st->state == DBS__STEP_STATE__STEP_COMPLETE ||
	       st->state == DBS__STEP_STATE__STEP_SKIPPED;
}

Dbs__Step *
passenger_find_step(
    Dbs__Passenger *p, const char *name, Dbs__StepKind kind, bool any_kind)
{
	for (size_t i = 0; i < p->n_steps; i++)
		if ((any_kind || p->steps[i]->kind == kind) &&
		    strcmp(p->steps[i]->name, name) == 0)
			return p->steps[i];
	return NULL;
}

Dbs__Step *
passenger_first_work_left(Dbs__Passenger *p)
{
	for (size_t i = 0; i < p->n_steps; i++)
		if (p->steps[i]->kind != DBS__STEP_KIND__SK_NOTIFY &&
		    !passenger_step_done(p->steps[i]))
			return p->steps[i];
	return NULL;
}

void
passenger_set_text(char **field, const char *v)
{
	if (*field != NULL && *field != protobuf_c_empty_string)
		free(*field);
	if (v == NULL || *v == '\0' || (*field = strdup(v)) == NULL)
		*field = (char *)protobuf_c_empty_string;
}

void
passenger_step_result(
    Dbs__Step *st, Dbs__StepState state, const char *error, int64_t now)
{
	st->state = state;
	st->updated_ms = now;
	if (state == DBS__STEP_STATE__STEP_FAILED) {
		st->attempts++;
		passenger_set_text(&st->error, error);
	} else {
		passenger_set_text(&st->error, "");
	}
}

void
passenger_settle(Dbs__Passenger *p, int64_t now)
{
	bool work_left = false, notify_left = false;

	if (p->state == DBS__PASSENGER_STATE__PS_DEAD)
		return;
	for (size_t i = 0; i < p->n_steps; i++) {
		if (passenger_step_done(p->steps[i]))
			continue;
		if (p->steps[i]->kind == DBS__STEP_KIND__SK_NOTIFY)
			notify_left = true;
		else
			work_left = true;
	}
	if (!work_left && !notify_left) {
		if (p->state != DBS__PASSENGER_STATE__PS_DONE)
			p->done_ms = now;
		p->state = DBS__PASSENGER_STATE__PS_DONE;
	} else {
		p->state = DBS__PASSENGER_STATE__PS_PENDING;
		p->done_ms = 0;
		if (!work_left)
			p->next_attempt_ms = PASSENGER_NEVER_MS;
		else if (p->next_attempt_ms == PASSENGER_NEVER_MS)
			p->next_attempt_ms = now;
	}
}

bool
passenger_done(Dbs__Passenger *p, int64_t now)
{
	passenger_settle(p, now);
	return p->state == DBS__PASSENGER_STATE__PS_DONE ||
	       p->next_attempt_ms == PASSENGER_NEVER_MS;
}

Dbs__PassengerState
passenger_fail(Dbs__Passenger *p, const struct cfg_retry *retry,
    bool permanent, uint64_t retry_after_ms, const char *error, int64_t now,
    passenger_rnd_fn rnd)
{
	p->attempts++;
	passenger_set_text(&p->last_error, error);
	if (permanent || p->attempts >= retry->max_attempts) {
		p->state = DBS__PASSENGER_STATE__PS_DEAD;
		p->done_ms = now;
		return p->state;
	}
	p->next_attempt_ms = now + backoff_delay_ms(p->attempts - 1,
				       retry->base_ms, retry->max_ms, rnd());
	if (retry_after_ms > PASSENGER_RETRY_AFTER_MAX_MS)
		retry_after_ms = PASSENGER_RETRY_AFTER_MAX_MS;
	if (now + (int64_t)retry_after_ms > p->next_attempt_ms)
		p->next_attempt_ms = now + (int64_t)retry_after_ms;
	return p->state;
}

/* A manual change starts the passenger afresh. */
static void
restart(Dbs__Passenger *p, int64_t now)
{
	p->attempts = 0;
	p->state = DBS__PASSENGER_STATE__PS_PENDING;
	p->next_attempt_ms = now;
	p->last_drive = 0;
	p->updated_ms = now;
	passenger_settle(p, now);
}

int
passenger_requeue(Dbs__Passenger *p, int64_t now)
{
	if (p->state != DBS__PASSENGER_STATE__PS_DEAD)
		return DBS_EINVAL;
	for (size_t i = 0; i < p->n_steps; i++) {
		Dbs__Step *st = p->steps[i];

		/* A requeued passenger gets max_attempts afresh. */
		st->attempts = 0;
		if (st->state == DBS__STEP_STATE__STEP_FAILED) {
			st->state = DBS__STEP_STATE__STEP_INCOMPLETE;
			st->updated_ms = now;
		}
	}
	restart(p, now);
	return DBS_OK;
}

int
passenger_toggle(
    Dbs__Passenger *p, const char *step, bool complete, int64_t now)
{
	bool found = false;

	for (size_t i = 0; i < p->n_steps; i++) {
		Dbs__Step *st = p->steps[i];

		if (strcmp(st->name, step) != 0)
			continue;
		st->state = complete ? DBS__STEP_STATE__STEP_COMPLETE
				     : DBS__STEP_STATE__STEP_INCOMPLETE;
		st->updated_ms = now;
		found = true;
	}
	if (!found)
		return DBS_ENOTFOUND;
	restart(p, now);
	return DBS_OK;
}

size_t
passenger_n_steps(const struct cfg_definition *def)
{
	return 1 + def->n_processors + def->n_pushers;
}

void
passenger_first_steps(const struct cfg_definition *def, const char *puller,
    Dbs__Step *steps, Dbs__Step **stepp)
{
	for (size_t i = 0; i < passenger_n_steps(def); i++) {
		dbs__step__init(&steps[i]);
		stepp[i] = &steps[i];
	}
	steps[0].name = (char *)puller;
	steps[0].kind = DBS__STEP_KIND__SK_NOTIFY;
	for (size_t i = 0; i < def->n_processors; i++) {
		steps[1 + i].name = def->processors[i].name;
		steps[1 + i].kind = DBS__STEP_KIND__SK_PROCESSOR;
	}
	for (size_t i = 0; i < def->n_pushers; i++) {
		steps[1 + def->n_processors + i].name = def->pushers[i].name;
		steps[1 + def->n_processors + i].kind =
		    DBS__STEP_KIND__SK_PUSHER;
	}
}
