/*
 * pool.c — the bounded thread pool for slow work (Argon2id, control
 * requests), so that the event loop never blocks.
 *
 * A fixed number of threads take jobs from one FIFO of bounded length; a
 * full FIFO refuses new work (the handler answers 503) instead of letting
 * memory and latency grow. A finished job travels back to the loop thread
 * through an h2o multithread queue, whose callback runs the job's `done`.
 *
 * A request may be disposed of while its job runs (the client went away).
 * The job therefore does not point into the request's memory pool from the
 * worker thread: it only keeps `req`, read on the loop thread, and a small
 * link allocated in the request's pool whose dispose callback clears
 * `req`. Both the callback and `done` run on the loop thread, so no lock is
 * needed for that hand-off.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "web.h"

struct web_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	h2o_linklist_t fifo; /* of web_job.msg.link */
	size_t queued, max_queued;
	h2o_multithread_queue_t *mq;
	h2o_multithread_receiver_t back;
	atomic_size_t in_flight; /* submitted, `done` not yet run */
};

struct job_link {
	struct web_job *job;
};

static void
link_disposed(void *p)
{
	struct job_link *l = p;

	if (l->job != NULL) {
		l->job->req = NULL;
		l->job->link = NULL;
	}
}

static void *
pool_main(void *arg)
{
	struct web_pool *p = arg;
	struct web_job *job;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (h2o_linklist_is_empty(&p->fifo))
			pthread_cond_wait(&p->cv, &p->mu);
		job = H2O_STRUCT_FROM_MEMBER(
		    struct web_job, msg.link, p->fifo.next);
		h2o_linklist_unlink(&job->msg.link);
		p->queued--;
		pthread_mutex_unlock(&p->mu);

		job->work(job);
		h2o_multithread_send_message(&p->back, &job->msg);
	}
	return NULL;
}

/* Loop thread: finished jobs. */
static void
on_back(h2o_multithread_receiver_t *r, h2o_linklist_t *messages)
{
	struct web_pool *p = H2O_STRUCT_FROM_MEMBER(struct web_pool, back, r);
	struct web_job *job;

	while (!h2o_linklist_is_empty(messages)) {
		job = H2O_STRUCT_FROM_MEMBER(
		    struct web_job, msg.link, messages->next);
		h2o_linklist_unlink(&job->msg.link);
		if (job->link != NULL)
			((struct job_link *)job->link)->job = NULL;
		job->done(job);
		atomic_fetch_sub(&p->in_flight, 1);
	}
}

int
web_pool_create(h2o_loop_t *loop, unsigned threads, size_t max_queued,
    struct web_pool **out)
{
	struct web_pool *p;
	pthread_t tid;
	unsigned i;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	h2o_linklist_init_anchor(&p->fifo);
	p->max_queued = max_queued;
	p->mq = h2o_multithread_create_queue(loop);
	h2o_multithread_register_receiver(p->mq, &p->back, on_back);
	/* The threads live as long as the process: it exits, never joins. */
	for (i = 0; i < threads; i++)
		h2o_multithread_create_thread(&tid, NULL, pool_main, p);
	*out = p;
	return 0;
}

bool
web_pool_submit(struct web_pool *p, struct web_job *job, h2o_req_t *req)
{
	struct job_link *l = NULL;
	bool ok = false;

	if (req != NULL) {
		l = h2o_mem_alloc_shared(
		    &req->pool, sizeof(*l), link_disposed);
		l->job = NULL;
	}
	pthread_mutex_lock(&p->mu);
	if (p->queued < p->max_queued) {
		job->req = req;
		job->link = l;
		if (l != NULL)
			l->job = job;
		job->msg.link.next = job->msg.link.prev = NULL;
		h2o_linklist_insert(&p->fifo, &job->msg.link);
		p->queued++;
		atomic_fetch_add(&p->in_flight, 1);
		pthread_cond_signal(&p->cv);
		ok = true;
	}
	pthread_mutex_unlock(&p->mu);
	return ok;
}

size_t
web_pool_in_flight(struct web_pool *p)
{
	return p != NULL ? atomic_load(&p->in_flight) : 0;
}

h2o_req_t *
web_job_req(struct web_job *job)
{
	return job->req;
}
