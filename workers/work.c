/*
 * work.c — the step engine (see work.h for the rules).
 *
 * One request is handled with four allocations whatever its size: the
 * outcome and step-outcome arrays are sized from the request up front
 * (a passenger never reports more steps than it has). Attachment bodies
 * are never copied: the passenger view and the result point into the
 * decoded request, and only data created by processors' edits is owned,
 * kept in wk->keep until the result has been sent.
 */
#include "work.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "wire.h"

/* Where run_passenger writes one WorkOutcome. */
struct outcome_out {
	Dbs__WorkOutcome *wo;
	Dbs__StepOutcome *steps; /* room for every step of the passenger */
	Dbs__StepOutcome **stepp;
	struct drv_keep *keep;
};

static Dbs__StepOutcome *
add_step(struct outcome_out *o, const char *name, Dbs__StepState state)
{
	Dbs__StepOutcome *so = &o->steps[o->wo->n_steps];

	dbs__step_outcome__init(so);
	so->name = (char *)name;
	so->state = state;
	o->stepp[o->wo->n_steps++] = so;
	return so;
}

static void
step_failed(struct outcome_out *o, Dbs__StepOutcome *so, bool permanent,
    uint64_t id, const char *err)
{
	char *copy = strdup(err);

	so->state = DBS__STEP_STATE__STEP_FAILED;
	so->permanent = permanent;
	so->error = copy != NULL && drv_keep_add(o->keep, copy) == DBS_OK
			? copy
			: (char *)"out of memory";
	drv_log_host(permanent ? DRV_ERROR : DRV_WARNING, id, so->name, "%s%s",
	    permanent ? "failed permanently: " : "failed: ", err);
}

static bool
step_done(const Dbs__Step *s)
{
	return s->state == DBS__STEP_STATE__STEP_COMPLETE ||
	       s->state == DBS__STEP_STATE__STEP_SKIPPED;
}

/* Load the passenger of `item` into the view. */
static int
view_load(
    struct drv_view *v, const Dbs__WorkItem *item, const struct work_env *env)
{
	const Dbs__Passenger *p = item->passenger;
	size_t i;

	drv_view_reset(v);
	for (i = 0; i < p->n_metadata; i++)
		if (drv_view_add_metadata(v, p->metadata[i]->key,
			p->metadata[i]->value) != DBS_OK)
			return DBS_ENOMEM;
	for (i = 0; i < item->n_attachments; i++) {
		const Dbs__Attachment *a = item->attachments[i];

		if (drv_view_add_attachment(v, a->name,
			a->content_type[0] != '\0' ? a->content_type : NULL,
			a->data.data, a->data.len) != DBS_OK)
			return DBS_ENOMEM;
	}
	v->p.id = p->id;
	v->p.client = p->client[0] != '\0' ? p->client : env->client;
	v->p.definition =
	    p->definition[0] != '\0' ? p->definition : env->definition;
	v->p.puller = p->puller;
	v->p.external_id = p->external_id;
	v->p.attempts = p->attempts;
	return DBS_OK;
}

/* Report the edited metadata and attachments in the outcome; the view's
 * owned data moves into o->keep so it survives the next view reset. */
static int
outcome_replaced(struct drv_view *v, struct outcome_out *o)
{
	Dbs__WorkOutcome *wo = o->wo;
	Dbs__KeyValue *kv, **kvp;
	Dbs__Attachment *att, **attp;
	size_t i;
	int rc = DBS_OK;

	/* Each array goes into o->keep (or is freed) whatever happens. */
	kv = calloc(v->n_md + 1, sizeof(*kv));
	rc |= drv_keep_add(o->keep, kv);
	kvp = calloc(v->n_md + 1, sizeof(*kvp));
	rc |= drv_keep_add(o->keep, kvp);
	att = calloc(v->n_att + 1, sizeof(*att));
	rc |= drv_keep_add(o->keep, att);
	attp = calloc(v->n_att + 1, sizeof(*attp));
	rc |= drv_keep_add(o->keep, attp);
	if (rc != DBS_OK || kv == NULL || kvp == NULL || att == NULL ||
	    attp == NULL || drv_view_keep(v, o->keep) != DBS_OK)
		return DBS_ENOMEM;
	for (i = 0; i < v->n_md; i++) {
		dbs__key_value__init(&kv[i]);
		kv[i].key = (char *)v->md[i].key;
		kv[i].value = (char *)v->md[i].value;
		kvp[i] = &kv[i];
	}
	for (i = 0; i < v->n_att; i++) {
		dbs__attachment__init(&att[i]);
		att[i].name = (char *)v->att[i].name;
		att[i].content_type =
		    (char *)(v->att[i].content_type != NULL
				 ? v->att[i].content_type
				 : "application/octet-stream");
		att[i].data.data = (uint8_t *)v->att[i].data;
		att[i].data.len = v->att[i].len;
		attp[i] = &att[i];
	}
	wo->replaced = true;
	wo->n_metadata = v->n_md;
	wo->metadata = kvp;
	wo->n_attachments = v->n_att;
	wo->attachments = attp;
	return DBS_OK;
}

/* Fail the first step that would have run: the passenger is retried. */
static void
fail_unrun(struct outcome_out *o, const Dbs__Passenger *p, const char *err)
{
	size_t i;

	for (i = 0; i < p->n_steps; i++)
		if (p->steps[i]->kind != DBS__STEP_KIND__SK_NOTIFY &&
		    !step_done(p->steps[i])) {
			step_failed(o,
			    add_step(o, p->steps[i]->name,
				DBS__STEP_STATE__STEP_FAILED),
			    false, p->id, err);
			return;
		}
}

/* Remember that `ctx` pushed in this request (it gets push_end). */
static int
push_ran(struct work *wk, struct drv_ctx *ctx)
{
	size_t i;

	for (i = 0; i < wk->n_ends; i++)
		if (wk->ends[i] == ctx)
			return DBS_OK;
	if (wk->n_ends == wk->cap_ends) {
		size_t cap = wk->cap_ends != 0 ? 2 * wk->cap_ends : 8;
		void *p = realloc(wk->ends, cap * sizeof(*wk->ends));

		if (p == NULL)
			return DBS_ENOMEM;
		wk->ends = p;
		wk->cap_ends = cap;
	}
	wk->ends[wk->n_ends++] = ctx;
	return DBS_OK;
}

/* A completed push, confirmed or failed by its pusher's push_end. */
static int
push_done(
    struct work *wk, struct drv_ctx *ctx, Dbs__StepOutcome *so, uint64_t id)
{
	if (wk->n_pushed == wk->cap_pushed) {
		size_t cap = wk->cap_pushed != 0 ? 2 * wk->cap_pushed : 64;
		void *p = realloc(wk->pushed, cap * sizeof(*wk->pushed));

		if (p == NULL)
			return DBS_ENOMEM;
		wk->pushed = p;
		wk->cap_pushed = cap;
	}
	wk->pushed[wk->n_pushed].ctx = ctx;
	wk->pushed[wk->n_pushed].so = so;
	wk->pushed[wk->n_pushed].id = id;
	wk->n_pushed++;
	return DBS_OK;
}

/* push_end of every pusher that ran; a failure fails its pushes. */
static void
push_end_all(struct work *wk)
{
	char err[1024];
	size_t i, k;

	for (i = 0; i < wk->n_ends; i++) {
		struct drv_ctx *ctx = wk->ends[i];
		enum drv_result r = drv_ctx_push_end(ctx, err, sizeof(err));
		char *copy;

		if (r != DRV_RETRY && r != DRV_FAIL)
			continue;
		copy = strdup(err);
		if (copy == NULL || drv_keep_add(&wk->keep, copy) != DBS_OK)
			copy = (char *)"out of memory";
		for (k = 0; k < wk->n_pushed; k++) {
			Dbs__StepOutcome *so = wk->pushed[k].so;

			if (wk->pushed[k].ctx != ctx)
				continue;
			so->state = DBS__STEP_STATE__STEP_FAILED;
			so->permanent = r == DRV_FAIL;
			so->error = copy;
			so->retry_after_ms = drv_ctx_retry_after(ctx);
			drv_log_host(r == DRV_FAIL ? DRV_ERROR : DRV_WARNING,
			    wk->pushed[k].id, so->name, "%s%s",
			    r == DRV_FAIL ? "failed permanently: "
					  : "failed: ",
			    err);
		}
	}
	wk->n_ends = 0;
	wk->n_pushed = 0;
}

static void
run_passenger(struct work *wk, const Dbs__WorkItem *item,
    const struct work_env *env, struct outcome_out *o)
{
	const Dbs__Passenger *p = item->passenger;
	struct drv_view *v = &wk->view;
	bool skip = false, stop = false;
	char err[1024], key[64 + 256];
	size_t i;

	o->wo->id = p->id;
	if (view_load(v, item, env) != DBS_OK) {
		fail_unrun(o, p, "out of memory");
		return;
	}
	for (i = 0; i < p->n_steps && !stop; i++) {
		const Dbs__Step *s = p->steps[i];
		struct drv_ctx *ctx;
		struct drv_edit edit;
		Dbs__StepOutcome *so;
		enum drv_result r;

		if (s->kind != DBS__STEP_KIND__SK_PROCESSOR || step_done(s))
			continue;
		if (skip) {
			add_step(o, s->name, DBS__STEP_STATE__STEP_SKIPPED);
			continue;
		}
		so = add_step(o, s->name, DBS__STEP_STATE__STEP_COMPLETE);
		ctx = env->find(env->arg, DRV_PROCESSOR, s->name);
		if (ctx == NULL) {
			snprintf(err, sizeof(err),
			    "no processor named \"%s\" in this definition",
			    s->name);
			step_failed(o, so, true, p->id, err);
			stop = true;
			break;
		}
		drv_edit_begin(&edit, v);
		r = drv_ctx_process(ctx, &v->p, &edit, err, sizeof(err));
		switch (r) {
		case DRV_OK:
		case DRV_SKIP:
			if (drv_edit_commit(&edit) != DBS_OK) {
				step_failed(
				    o, so, false, p->id, "out of memory");
				stop = true;
				break;
			}
			skip = r == DRV_SKIP;
			break;
		case DRV_RETRY:
		case DRV_FAIL:
			drv_edit_discard(&edit);
			step_failed(o, so, r == DRV_FAIL, p->id, err);
			so->retry_after_ms = drv_ctx_retry_after(ctx);
			stop = true;
			break;
		}
	}
	for (i = 0; i < p->n_steps && !stop; i++) {
		const Dbs__Step *s = p->steps[i];
		struct drv_ctx *ctx;
		Dbs__StepOutcome *so;
		enum drv_result r;

		if (s->kind != DBS__STEP_KIND__SK_PUSHER || step_done(s))
			continue;
		if (skip) {
			add_step(o, s->name, DBS__STEP_STATE__STEP_SKIPPED);
			continue;
		}
		so = add_step(o, s->name, DBS__STEP_STATE__STEP_COMPLETE);
		ctx = env->find(env->arg, DRV_PUSHER, s->name);
		if (ctx == NULL) {
			snprintf(err, sizeof(err),
			    "no pusher named \"%s\" in this definition",
			    s->name);
			step_failed(o, so, true, p->id, err);
			continue;
		}
		snprintf(key, sizeof(key), "%llu:%s",
		    (unsigned long long)p->id, s->name);
		if (push_ran(wk, ctx) != DBS_OK) {
			step_failed(o, so, false, p->id, "out of memory");
			continue;
		}
		r = drv_ctx_push(ctx, &v->p, key, err, sizeof(err));
		if (r == DRV_RETRY || r == DRV_FAIL) {
			step_failed(o, so, r == DRV_FAIL, p->id, err);
			so->retry_after_ms = drv_ctx_retry_after(ctx);
		} else if (push_done(wk, ctx, so, p->id) != DBS_OK) {
			/* Cannot be confirmed by push_end: do it again. */
			step_failed(o, so, false, p->id, "out of memory");
		}
	}
	if (v->replaced && outcome_replaced(v, o) != DBS_OK) {
		/* The edits cannot be reported: redo the passenger later. */
		o->wo->replaced = false;
		o->wo->n_metadata = 0;
		o->wo->n_attachments = 0;
		for (i = 0; i < o->wo->n_steps; i++) {
			o->stepp[i]->state = DBS__STEP_STATE__STEP_FAILED;
			o->stepp[i]->permanent = false;
			o->stepp[i]->error = (char *)"out of memory";
		}
	}
}

int
work_run(
    struct work *wk, const Dbs__WorkRequest *rq, const struct work_env *env)
{
	size_t i, total = 0, si = 0;

	work_clear(wk);
	for (i = 0; i < rq->n_items; i++) {
		if (rq->items[i]->passenger == NULL)
			return DBS_EPROTO;
		total += rq->items[i]->passenger->n_steps;
	}
	wk->outs = calloc(rq->n_items + 1, sizeof(*wk->outs));
	wk->outp = calloc(rq->n_items + 1, sizeof(*wk->outp));
	wk->steps = calloc(total + 1, sizeof(*wk->steps));
	wk->stepp = calloc(total + 1, sizeof(*wk->stepp));
	if (wk->outs == NULL || wk->outp == NULL || wk->steps == NULL ||
	    wk->stepp == NULL) {
		work_clear(wk);
		return DBS_ENOMEM;
	}
	for (i = 0; i < rq->n_items; i++) {
		struct outcome_out o = {
		    &wk->outs[i], &wk->steps[si], &wk->stepp[si], &wk->keep};

		dbs__work_outcome__init(&wk->outs[i]);
		wk->outs[i].steps = &wk->stepp[si];
		wk->outp[i] = &wk->outs[i];
		run_passenger(wk, rq->items[i], env, &o);
		si += wk->outs[i].n_steps;
	}
	push_end_all(wk);
	drv_view_reset(&wk->view);
	wk->result.drive_id = rq->drive_id;
	wk->result.batch_id = rq->batch_id;
	wk->result.n_items = rq->n_items;
	wk->result.items = wk->outp;
	return DBS_OK;
}

void
work_shrink(struct work *wk)
{
	size_t i, k;

	for (i = 0; i < wk->result.n_items; i++) {
		Dbs__WorkOutcome *wo = wk->result.items[i];

		if (!wo->replaced)
			continue;
		wo->replaced = false;
		wo->n_metadata = 0;
		wo->n_attachments = 0;
		for (k = 0; k < wo->n_steps; k++) {
			wo->steps[k]->state = DBS__STEP_STATE__STEP_FAILED;
			wo->steps[k]->permanent = true;
			wo->steps[k]->error =
			    (char *)"the transformed passenger is too large "
				    "for one message";
		}
	}
}

void
work_clear(struct work *wk)
{
	wk->n_ends = 0;
	wk->n_pushed = 0;
	drv_view_reset(&wk->view);
	drv_keep_free(&wk->keep);
	free(wk->outs);
	free(wk->outp);
	free(wk->steps);
	free(wk->stepp);
	wk->outs = NULL;
	wk->outp = NULL;
	wk->steps = NULL;
	wk->stepp = NULL;
	dbs__work_result__init(&wk->result);
}

void
work_free(struct work *wk)
{
	if (wk == NULL)
		return;
	work_clear(wk);
	drv_view_free(&wk->view);
	free(wk->ends);
	free(wk->pushed);
	wk->ends = NULL;
	wk->pushed = NULL;
	wk->cap_ends = wk->cap_pushed = 0;
}
