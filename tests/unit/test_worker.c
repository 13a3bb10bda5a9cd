/*
 * test_worker.c — process-level tests of databus-worker: the test plays
 * the supervisor. It listens on a PAIR socket in a temp dir, starts the
 * real binary (build/databus-worker, found as ../../databus-worker from
 * this test's own path, or $DBS_WORKER) with fork+exec, and checks the
 * message flow of DESIGN.md §3 and the exit codes: Init -> Ready, Drive ->
 * PulledBatch... last, SeatResult -> Notified, WorkRequest -> WorkResult
 * with the step rules, PeekRequest -> PeekResult, heartbeats, Stop -> 0,
 * config errors -> Ready(DBS_ECONFIG) and 100, protocol violations and a
 * lost socket -> 111, and `--check`.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>

#include "databus.pb-c.h"
#include "dbs_error.h"
#include "wire.h"

extern char **environ;

static char worker_path[PATH_MAX];

/* Generous: the ASan build is several times slower. */
#define RECV_TIMEOUT_MS 20000
#define EXIT_TIMEOUT_MS 20000

struct proc {
	char dir[64];
	char url[128];
	nng_socket s;
	pid_t pid;
	unsigned heartbeats;
};

/* --------------------------------------------------------------- helpers */

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static pid_t
spawn(char *const argv[], const char *in_file, const char *out_file)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc;

	posix_spawn_file_actions_init(&fa);
	if (in_file != NULL)
		posix_spawn_file_actions_addopen(&fa, 0, in_file, O_RDONLY, 0);
	if (out_file != NULL)
		posix_spawn_file_actions_addopen(
		    &fa, 1, out_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(rc, 0);
	return pid;
}

/* The exit status of `pid` (128 + signal if killed), waiting at most
 * EXIT_TIMEOUT_MS; fails the test on a timeout. */
static int
wait_exit(pid_t pid)
{
	int status, waited = 0;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		assert_int_equal(r, 0);
		if (waited >= EXIT_TIMEOUT_MS) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("worker %d did not exit", (int)pid);
		}
		sleep_ms(10);
		waited += 10;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

static void
start_args(struct proc *p, const char *parent)
{
	char pid[32];
	char *argv[] = {worker_path, "--socket", p->url, "--slot", "1",
	    "--parent", pid, NULL};

	memset(p, 0, sizeof(*p));
	strcpy(p->dir, "/tmp/dbs-test-worker-XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	snprintf(p->url, sizeof(p->url), "ipc://%s/worker-1", p->dir);
	assert_int_equal(nng_pair1_open(&p->s), 0);
	assert_int_equal(wire_socket_limits(p->s, 10000), DBS_OK);
	assert_int_equal(
	    nng_socket_set_ms(p->s, NNG_OPT_RECVTIMEO, RECV_TIMEOUT_MS), 0);
	assert_int_equal(nng_listen(p->s, p->url, NULL, 0), 0);
	if (parent != NULL)
		snprintf(pid, sizeof(pid), "%s", parent);
	else
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
	p->pid = spawn(argv, NULL, NULL);
}

static void
start(struct proc *p)
{
	start_args(p, NULL);
}

static void
cleanup(struct proc *p)
{
	char cmd[128];

	nng_close(p->s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
	assert_int_equal(system(cmd), 0);
}

static void
send_body(struct proc *p, Dbs__WorkerMsg *m)
{
	assert_int_equal(wire_send(p->s, &m->base, 0), DBS_OK);
}

/* The next message other than a heartbeat. */
static Dbs__WorkerMsg *
recv_one(struct proc *p)
{
	for (;;) {
		Dbs__WorkerMsg *m = NULL;
		int rc = wire_recv_worker(p->s, &m, 0);

		if (rc != DBS_OK)
			fail_msg("receive: %s", dbs_strerror(rc));
		if (m->body_case != DBS__WORKER_MSG__BODY_HEARTBEAT)
			return m;
		p->heartbeats++;
		dbs__worker_msg__free_unpacked(m, NULL);
	}
}

static Dbs__WorkerMsg *
recv_expect(struct proc *p, Dbs__WorkerMsg__BodyCase body)
{
	Dbs__WorkerMsg *m = recv_one(p);

	if (m->body_case != body)
		fail_msg("expected body %d, got %d", body, m->body_case);
	return m;
}

static void
send_init(struct proc *p, const char *config, uint32_t heartbeat_ms)
{
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
	Dbs__Init in = DBS__INIT__INIT;

	in.client = "acme";
	in.definition = "mails";
	in.config_json = (char *)config;
	in.heartbeat_ms = heartbeat_ms;
	in.data_dir = p->dir;
	m.body_case = DBS__WORKER_MSG__BODY_INIT;
	m.init = &in;
	send_body(p, &m);
}

/* Init and expect Ready OK. */
static void
init_ok(struct proc *p, const char *config, uint32_t heartbeat_ms)
{
	Dbs__WorkerMsg *m;

	send_init(p, config, heartbeat_ms);
	m = recv_expect(p, DBS__WORKER_MSG__BODY_READY);
	if (m->ready->code != DBS_OK)
		fail_msg("Ready: %u %s", m->ready->code, m->ready->message);
	assert_int_equal(m->ready->pid, p->pid);
	assert_true(m->ready->version[0] != '\0');
	dbs__worker_msg__free_unpacked(m, NULL);
}

static void
send_simple(struct proc *p, Dbs__WorkerMsg__BodyCase body)
{
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
	Dbs__Stop stop = DBS__STOP__INIT;
	Dbs__Drive drive = DBS__DRIVE__INIT;
	Dbs__Ready ready = DBS__READY__INIT;

	m.body_case = body;
	switch (body) {
	case DBS__WORKER_MSG__BODY_STOP:
		m.stop = &stop;
		break;
	case DBS__WORKER_MSG__BODY_DRIVE:
		m.drive = &drive;
		break;
	case DBS__WORKER_MSG__BODY_READY:
		m.ready = &ready;
		break;
	default:
		fail();
	}
	send_body(p, &m);
}

static void
stop_ok(struct proc *p)
{
	send_simple(p, DBS__WORKER_MSG__BODY_STOP);
	assert_int_equal(wait_exit(p->pid), 0);
	cleanup(p);
}

/* All items of a drive: PulledBatch messages until `last`. */
struct pulled {
	Dbs__WorkerMsg *msgs[4096];
	size_t n_msgs;
	Dbs__PulledItem *items[20000];
	size_t n_items;
	size_t n_logs;
};

static void
drive(struct proc *p, uint64_t id, bool pull, struct pulled *out)
{
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
	Dbs__Drive d = DBS__DRIVE__INIT;
	bool last = false;

	memset(out, 0, sizeof(*out));
	d.drive_id = id;
	d.pull = pull;
	m.body_case = DBS__WORKER_MSG__BODY_DRIVE;
	m.drive = &d;
	send_body(p, &m);
	while (!last) {
		Dbs__WorkerMsg *r = recv_one(p);
		size_t i;

		if (r->body_case == DBS__WORKER_MSG__BODY_LOG) {
			out->n_logs += r->log->n_entries;
			dbs__worker_msg__free_unpacked(r, NULL);
			continue;
		}
		assert_int_equal(r->body_case, DBS__WORKER_MSG__BODY_PULLED);
		assert_int_equal(r->pulled->drive_id, id);
		assert_true(r->pulled->n_items <= 256);
		assert_true(out->n_msgs < 4096);
		out->msgs[out->n_msgs++] = r;
		for (i = 0; i < r->pulled->n_items; i++) {
			assert_true(out->n_items < 20000);
			out->items[out->n_items++] = r->pulled->items[i];
		}
		out->n_logs += r->pulled->n_logs;
		last = r->pulled->last;
	}
}

static void
pulled_free(struct pulled *pl)
{
	size_t i;

	for (i = 0; i < pl->n_msgs; i++)
		dbs__worker_msg__free_unpacked(pl->msgs[i], NULL);
	pl->n_msgs = 0;
	pl->n_items = 0;
}

static bool
has_attachment(const Dbs__PulledItem *it, const char *name)
{
	size_t i;

	for (i = 0; i < it->n_attachments; i++)
		if (strcmp(it->attachments[i]->name, name) == 0)
			return true;
	return false;
}

/* ------------------------------------------------------- a full exchange */

static const char *full_config_fmt =
    "{\"name\":\"mails\",\"sync_frequency\":1,"
    "\"pullers\":[{\"name\":\"mail\",\"type\":\"demo\",\"per_drive\":4},"
    "{\"name\":\"inv\",\"type\":\"demo\",\"kind\":\"invoice\","
    "\"per_drive\":2}],"
    "\"processors\":[{\"name\":\"xlsx\",\"type\":\"require_attachment\","
    "\"pattern\":\"*.xlsx\"}],"
    "\"pushers\":[{\"name\":\"sink\",\"type\":\"null\"},"
    "{\"name\":\"out\",\"type\":\"dir\",\"path\":\"%s/out\"}]}";

struct step_spec {
	const char *name;
	Dbs__StepKind kind;
	Dbs__StepState state;
};

/* A WorkItem for passenger `id` from a pulled item, with `steps`. */
static Dbs__WorkItem *
work_item(uint64_t id, const Dbs__PulledItem *it,
    const struct step_spec *steps, size_t n_steps)
{
	Dbs__WorkItem *wi = calloc(1, sizeof(*wi));
	Dbs__Passenger *p = calloc(1, sizeof(*p));
	size_t i;

	dbs__work_item__init(wi);
	dbs__passenger__init(p);
	p->id = id;
	p->puller = it->puller;
	p->external_id = it->external_id;
	p->n_metadata = it->n_metadata;
	p->metadata = it->metadata;
	p->n_steps = n_steps;
	p->steps = calloc(n_steps + 1, sizeof(*p->steps));
	for (i = 0; i < n_steps; i++) {
		Dbs__Step *s = calloc(1, sizeof(*s));

		dbs__step__init(s);
		s->name = (char *)steps[i].name;
		s->kind = steps[i].kind;
		s->state = steps[i].state;
		p->steps[i] = s;
	}
	wi->passenger = p;
	wi->n_attachments = it->n_attachments;
	wi->attachments = it->attachments;
	return wi;
}

static void
work_item_free(Dbs__WorkItem *wi)
{
	size_t i;

	for (i = 0; i < wi->passenger->n_steps; i++)
		free(wi->passenger->steps[i]);
	free(wi->passenger->steps);
	free(wi->passenger);
	free(wi);
}

static const Dbs__WorkOutcome *
outcome_of(const Dbs__WorkResult *r, uint64_t id)
{
	size_t i;

	for (i = 0; i < r->n_items; i++)
		if (r->items[i]->id == id)
			return r->items[i];
	fail_msg("no outcome for %llu", (unsigned long long)id);
	return NULL;
}

static void
assert_step(const Dbs__WorkOutcome *o, size_t i, const char *name,
    Dbs__StepState state)
{
	assert_true(i < o->n_steps);
	assert_string_equal(o->steps[i]->name, name);
	if (o->steps[i]->state != state)
		fail_msg("passenger %llu step %s: state %d, want %d (%s)",
		    (unsigned long long)o->id, name, o->steps[i]->state, state,
		    o->steps[i]->error);
}

static void
test_full_exchange(void **state)
{
	static const struct step_spec fresh[] = {
	    {"mail", DBS__STEP_KIND__SK_NOTIFY,
		DBS__STEP_STATE__STEP_COMPLETE},
	    {"xlsx", DBS__STEP_KIND__SK_PROCESSOR, 0},
	    {"sink", DBS__STEP_KIND__SK_PUSHER, 0},
	    {"out", DBS__STEP_KIND__SK_PUSHER, 0},
	};
	static const struct step_spec half[] = {
	    {"xlsx", DBS__STEP_KIND__SK_PROCESSOR,
		DBS__STEP_STATE__STEP_COMPLETE},
	    {"sink", DBS__STEP_KIND__SK_PUSHER,
		DBS__STEP_STATE__STEP_COMPLETE},
	    {"out", DBS__STEP_KIND__SK_PUSHER, DBS__STEP_STATE__STEP_FAILED},
	};
	static const struct step_spec ghost[] = {
	    {"ghost", DBS__STEP_KIND__SK_PROCESSOR, 0},
	    {"sink", DBS__STEP_KIND__SK_PUSHER, 0},
	};
	static const struct step_spec ghost_pusher[] = {
	    {"xlsx", DBS__STEP_KIND__SK_PROCESSOR, 0},
	    {"nowhere", DBS__STEP_KIND__SK_PUSHER, 0},
	    {"sink", DBS__STEP_KIND__SK_PUSHER, 0},
	};
	struct proc p;
	struct pulled pl;
	char config[1024], out_dir[128], f[256];
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT, *r;
	Dbs__SeatResult sr = DBS__SEAT_RESULT__INIT;
	Dbs__SeatedItem seated[8], *seatedp[8];
	Dbs__WorkRequest wr = DBS__WORK_REQUEST__INIT;
	Dbs__WorkItem *wi[16];
	Dbs__PeekRequest pk = DBS__PEEK_REQUEST__INIT;
	size_t i, n_mail = 0, n_inv = 0, n_wi = 0, info_logs = 0;
	struct stat st;

	start(&p);
	snprintf(out_dir, sizeof(out_dir), "%s/out", p.dir);
	assert_int_equal(mkdir(out_dir, 0755), 0);
	snprintf(config, sizeof(config), full_config_fmt, p.dir);
	init_ok(&p, config, 0);

	/* Drive: pull from both pullers, in order. */
	drive(&p, 7, true, &pl);
	assert_int_equal(pl.n_items, 6);
	for (i = 0; i < pl.n_items; i++) {
		const Dbs__PulledItem *it = pl.items[i];

		assert_true(it->pulled_us > 0);
		assert_true(it->external_id[0] != '\0');
		if (strcmp(it->puller, "mail") == 0) {
			assert_int_equal(n_inv, 0); /* mail comes first */
			n_mail++;
		} else {
			assert_string_equal(it->puller, "inv");
			n_inv++;
		}
	}
	assert_int_equal(n_mail, 4);
	assert_int_equal(n_inv, 2);

	/* SeatResult -> one Notified, one outcome per item. */
	for (i = 0; i < 7; i++) {
		dbs__seated_item__init(&seated[i]);
		seatedp[i] = &seated[i];
		if (i < 6) {
			seated[i].puller = pl.items[i]->puller;
			seated[i].external_id = pl.items[i]->external_id;
			seated[i].source_ref = pl.items[i]->source_ref;
			seated[i].id = i + 1;
			seated[i].duplicate = i == 0;
		} else {
			seated[i].puller = "ghost";
			seated[i].external_id = "x";
			seated[i].id = 99;
		}
	}
	sr.drive_id = 7;
	sr.n_items = 7;
	sr.items = seatedp;
	m.body_case = DBS__WORKER_MSG__BODY_SEATED;
	m.seated = &sr;
	send_body(&p, &m);
	r = recv_expect(&p, DBS__WORKER_MSG__BODY_NOTIFIED);
	assert_int_equal(r->notified->drive_id, 7);
	assert_int_equal(r->notified->n_items, 7);
	for (i = 0; i < 6; i++) {
		assert_int_equal(r->notified->items[i]->id, i + 1);
		assert_int_equal(r->notified->items[i]->code, DBS_OK);
	}
	assert_int_equal(r->notified->items[6]->id, 99);
	assert_int_equal(r->notified->items[6]->code, DBS_ENOTFOUND);
	assert_non_null(strstr(r->notified->items[6]->error, "ghost"));
	assert_true(r->notified->n_logs >= 1);
	dbs__worker_msg__free_unpacked(r, NULL);

	/* WorkRequest with the step rules. */
	for (i = 0; i < 6; i++)
		wi[n_wi++] = work_item(i + 1, pl.items[i], fresh, 4);
	wi[n_wi++] = work_item(50, pl.items[0], half, 3);
	wi[n_wi++] = work_item(51, pl.items[0], ghost, 2);
	wi[n_wi++] = work_item(52, pl.items[0], ghost_pusher, 3);
	wr.drive_id = 7;
	wr.batch_id = 3;
	wr.n_items = n_wi;
	wr.items = wi;
	m.body_case = DBS__WORKER_MSG__BODY_WORK;
	m.work = &wr;
	send_body(&p, &m);
	r = recv_expect(&p, DBS__WORKER_MSG__BODY_WORK_RESULT);
	assert_int_equal(r->work_result->drive_id, 7);
	assert_int_equal(r->work_result->batch_id, 3);
	assert_int_equal(r->work_result->n_items, n_wi);
	for (i = 0; i < 6; i++) {
		const Dbs__WorkOutcome *o = outcome_of(r->work_result, i + 1);

		assert_int_equal(o->n_steps, 3); /* not the notify step */
		assert_false(o->replaced);
		assert_step(o, 0, "xlsx", DBS__STEP_STATE__STEP_COMPLETE);
		if (has_attachment(pl.items[i], "report.xlsx")) {
			assert_step(
			    o, 1, "sink", DBS__STEP_STATE__STEP_COMPLETE);
			assert_step(
			    o, 2, "out", DBS__STEP_STATE__STEP_COMPLETE);
			snprintf(f, sizeof(f), "%s/%zu-report.xlsx", out_dir,
			    i + 1);
			assert_int_equal(stat(f, &st), 0);
			snprintf(
			    f, sizeof(f), "%s/%zu-body.txt", out_dir, i + 1);
			assert_int_equal(stat(f, &st), 0);
		} else {
			assert_step(
			    o, 1, "sink", DBS__STEP_STATE__STEP_SKIPPED);
			assert_step(
			    o, 2, "out", DBS__STEP_STATE__STEP_SKIPPED);
			snprintf(
			    f, sizeof(f), "%s/%zu-body.txt", out_dir, i + 1);
			assert_int_equal(stat(f, &st), -1);
		}
	}
	{
		const Dbs__WorkOutcome *o = outcome_of(r->work_result, 50);

		assert_int_equal(o->n_steps, 1); /* only the failed pusher */
		assert_step(o, 0, "out", DBS__STEP_STATE__STEP_COMPLETE);
		snprintf(f, sizeof(f), "%s/50-report.xlsx", out_dir);
		assert_int_equal(stat(f, &st), 0);

		o = outcome_of(r->work_result, 51);
		assert_int_equal(o->n_steps, 1); /* pushers not run */
		assert_step(o, 0, "ghost", DBS__STEP_STATE__STEP_FAILED);
		assert_true(o->steps[0]->permanent);
		assert_non_null(strstr(o->steps[0]->error, "no processor"));

		o = outcome_of(r->work_result, 52);
		assert_int_equal(o->n_steps, 3); /* one pusher does not stop
						    the other */
		assert_step(o, 0, "xlsx", DBS__STEP_STATE__STEP_COMPLETE);
		assert_step(o, 1, "nowhere", DBS__STEP_STATE__STEP_FAILED);
		assert_true(o->steps[1]->permanent);
		assert_step(o, 2, "sink", DBS__STEP_STATE__STEP_COMPLETE);
	}
	for (i = 0; i < r->work_result->n_logs; i++) {
		const Dbs__LogEntry *e = r->work_result->logs[i];

		if (e->level == DBS__LOG_LEVEL__LOG_INFO &&
		    strstr(e->message, "no attachment matches") != NULL) {
			assert_true(
			    e->passenger_id >= 1 && e->passenger_id <= 6);
			assert_string_equal(e->step, "xlsx");
			info_logs++;
		}
	}
	assert_int_equal(info_logs, 4); /* 2 mails without xlsx, 2 invoices */
	dbs__worker_msg__free_unpacked(r, NULL);
	for (i = 0; i < n_wi; i++)
		work_item_free(wi[i]);
	pulled_free(&pl);

	/* Peek: what the next pull would give, capped by the limit, with
	 * attachment previews. */
	pk.peek_id = 5;
	pk.limit = 3;
	m.body_case = DBS__WORKER_MSG__BODY_PEEK;
	m.peek = &pk;
	send_body(&p, &m);
	r = recv_expect(&p, DBS__WORKER_MSG__BODY_PEEK_RESULT);
	assert_int_equal(r->peek_result->peek_id, 5);
	assert_int_equal(r->peek_result->code, DBS_OK);
	assert_int_equal(r->peek_result->n_items, 3);
	for (i = 0; i < 3; i++)
		assert_string_equal(r->peek_result->items[i]->puller, "mail");
	dbs__worker_msg__free_unpacked(r, NULL);
	pk.limit = 0; /* default: 20 */
	send_body(&p, &m);
	r = recv_expect(&p, DBS__WORKER_MSG__BODY_PEEK_RESULT);
	assert_int_equal(r->peek_result->n_items, 6);
	dbs__worker_msg__free_unpacked(r, NULL);

	/* A retry drive pulls nothing and closes at once. */
	drive(&p, 8, false, &pl);
	assert_int_equal(pl.n_msgs, 1);
	assert_int_equal(pl.n_items, 0);
	pulled_free(&pl);

	stop_ok(&p);
}

/* --------------------------------------------------- bench and edits */

static void
test_bench_drive(void **state)
{
	struct proc p;
	struct pulled *pl = calloc(1, sizeof(*pl));
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT, *r;
	Dbs__WorkRequest wr = DBS__WORK_REQUEST__INIT;
	static const struct step_spec steps[] = {
	    {"sink", DBS__STEP_KIND__SK_PUSHER, 0},
	};
	Dbs__WorkItem **wi;
	char id[32];
	size_t i, n_last = 0;
	long long t0;

	start(&p);
	init_ok(&p,
	    "{\"pullers\":[{\"name\":\"b\",\"type\":\"bench\",\"count\":"
	    "10000,\"size\":1000}],\"pushers\":[{\"name\":\"sink\","
	    "\"type\":\"null\",\"fail_every\":1000}]}",
	    0);
	t0 = wire_mono_ms();
	drive(&p, 1, true, pl);
	print_message("pulled %zu items in %zu batches in %lld ms\n",
	    pl->n_items, pl->n_msgs, wire_mono_ms() - t0);
	assert_int_equal(pl->n_items, 10000);
	for (i = 0; i < pl->n_items; i++) {
		snprintf(id, sizeof(id), "b-%zu", i);
		assert_string_equal(pl->items[i]->external_id, id);
		assert_int_equal(pl->items[i]->attachments[0]->data.len, 1000);
	}
	for (i = 0; i < pl->n_msgs; i++)
		n_last += pl->msgs[i]->pulled->last;
	assert_int_equal(n_last, 1);
	assert_true(pl->msgs[pl->n_msgs - 1]->pulled->last);

	/* Work 5000 of them in one request. */
	wi = calloc(5000, sizeof(*wi));
	for (i = 0; i < 5000; i++)
		wi[i] = work_item(i + 1, pl->items[i], steps, 1);
	wr.drive_id = 1;
	wr.batch_id = 1;
	wr.n_items = 5000;
	wr.items = wi;
	m.body_case = DBS__WORKER_MSG__BODY_WORK;
	m.work = &wr;
	t0 = wire_mono_ms();
	send_body(&p, &m);
	r = recv_expect(&p, DBS__WORKER_MSG__BODY_WORK_RESULT);
	print_message(
	    "worked 5000 passengers in %lld ms\n", wire_mono_ms() - t0);
	assert_int_equal(r->work_result->n_items, 5000);
	for (i = 0; i < 5000; i++) {
		const Dbs__WorkOutcome *o = r->work_result->items[i];

		assert_int_equal(o->id, i + 1);
		assert_int_equal(o->n_steps, 1);
		/* fail_every 1000: pushes 1000, 2000, ... fail, to retry */
		if ((i + 1) % 1000 == 0) {
			assert_step(
			    o, 0, "sink", DBS__STEP_STATE__STEP_FAILED);
			assert_false(o->steps[0]->permanent);
		} else {
			assert_step(
			    o, 0, "sink", DBS__STEP_STATE__STEP_COMPLETE);
		}
	}
	dbs__worker_msg__free_unpacked(r, NULL);
	for (i = 0; i < 5000; i++)
		work_item_free(wi[i]);
	free(wi);
	pulled_free(pl);

	/* Everything was emitted: the next drive is empty. */
	drive(&p, 2, true, pl);
	assert_int_equal(pl->n_items, 0);
	pulled_free(pl);
	free(pl);
	stop_ok(&p);
}

static void
test_heartbeat(void **state)
{
	struct proc p;
	Dbs__WorkerMsg *m = NULL;
	long long now;

	start(&p);
	init_ok(&p, "{\"pullers\":[]}", 20);
	assert_int_equal(wire_recv_worker(p.s, &m, 0), DBS_OK);
	assert_int_equal(m->body_case, DBS__WORKER_MSG__BODY_HEARTBEAT);
	now = wire_now_ms();
	assert_true(m->heartbeat->time_ms <= now &&
		    m->heartbeat->time_ms > now - 60000);
	assert_true(m->heartbeat->rss_kib > 0);
	dbs__worker_msg__free_unpacked(m, NULL);
	stop_ok(&p);
}

/* ------------------------------------------------------ config errors */

static void
expect_config_error(const char *config, const char *message)
{
	struct proc p;
	Dbs__WorkerMsg *m;

	start(&p);
	send_init(&p, config, 0);
	m = recv_expect(&p, DBS__WORKER_MSG__BODY_READY);
	assert_int_equal(m->ready->code, DBS_ECONFIG);
	if (strncmp(m->ready->message, message, strlen(message)) != 0)
		fail_msg("Ready message \"%s\", want \"%s...\"",
		    m->ready->message, message);
	dbs__worker_msg__free_unpacked(m, NULL);
	assert_int_equal(wait_exit(p.pid), 100);
	cleanup(&p);
}

static void
test_config_errors(void **state)
{
	expect_config_error("{\"pullers\":[{\"name\":\"a\",\"type\":"
			    "\"demo\"},{\"name\":\"b\",\"type\":\"dir\"}]}",
	    "$.pullers[1]: path: missing");
	expect_config_error("{\"processors\":[{\"name\":\"f\",\"type\":"
			    "\"fail\"}]}",
	    "$.processors[0].type: unknown processor type \"fail\"");
	expect_config_error("{\"pushers\":[{\"type\":\"null\"}]}",
	    "$.pushers[0].name: missing");
	expect_config_error("{not json", "$: invalid JSON");
}

/* --------------------------------------------------------- exit codes */

static void
test_garbage_exits_111(void **state)
{
	struct proc p;
	nng_msg *msg;

	start(&p);
	init_ok(&p, "{}", 0);
	assert_int_equal(nng_msg_alloc(&msg, 0), 0);
	assert_int_equal(
	    nng_msg_append(msg, "\x0a\xff\xff\xff\xff\x0f", 6), 0);
	assert_int_equal(nng_sendmsg(p.s, msg, 0), 0);
	assert_int_equal(wait_exit(p.pid), 111);
	cleanup(&p);
}

static void
test_unexpected_exits_111(void **state)
{
	struct proc p;

	/* a body only the worker sends */
	start(&p);
	init_ok(&p, "{}", 0);
	send_simple(&p, DBS__WORKER_MSG__BODY_READY);
	assert_int_equal(wait_exit(p.pid), 111);
	cleanup(&p);

	/* a Drive before Init */
	start(&p);
	send_simple(&p, DBS__WORKER_MSG__BODY_DRIVE);
	assert_int_equal(wait_exit(p.pid), 111);
	cleanup(&p);

	/* a second Init */
	start(&p);
	init_ok(&p, "{}", 0);
	send_init(&p, "{}", 0);
	assert_int_equal(wait_exit(p.pid), 111);
	cleanup(&p);
}

static void
test_socket_lost_exits_111(void **state)
{
	struct proc p;

	start(&p);
	init_ok(&p, "{}", 0);
	nng_close(p.s);
	assert_int_equal(wait_exit(p.pid), 111);
	assert_int_equal(nng_pair1_open(&p.s), 0); /* for cleanup */
	cleanup(&p);
}

static void
test_signal_and_parent(void **state)
{
	struct proc p;

	start(&p);
	init_ok(&p, "{}", 0);
	kill(p.pid, SIGTERM);
	assert_int_equal(wait_exit(p.pid), 111);
	cleanup(&p);

	/* started for a parent that is not ours: gone at once */
	start_args(&p, "1");
	assert_int_equal(wait_exit(p.pid), 111);
	cleanup(&p);

	/* Stop before Init is a clean stop too */
	start(&p);
	send_simple(&p, DBS__WORKER_MSG__BODY_STOP);
	assert_int_equal(wait_exit(p.pid), 0);
	cleanup(&p);
}

static void
test_usage(void **state)
{
	char *none[] = {worker_path, NULL};
	char *bad_slot[] = {
	    worker_path, "--socket", "ipc:///tmp/x", "--slot", "abc", NULL};
	char *extra[] = {worker_path, "--check", "more", NULL};

	assert_int_equal(wait_exit(spawn(none, NULL, "/dev/null")), 100);
	assert_int_equal(wait_exit(spawn(bad_slot, NULL, "/dev/null")), 100);
	assert_int_equal(wait_exit(spawn(extra, NULL, "/dev/null")), 100);
}

/* -------------------------------------------------------------- --check */

static void
test_check_command(void **state)
{
	char dir[] = "/tmp/dbs-test-check-XXXXXX";
	char in[128], out[128], cmd[256];
	char *argv[] = {worker_path, "--check", NULL};
	char buf[4096];
	size_t n;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(in, sizeof(in), "%s/in.json", dir);
	snprintf(out, sizeof(out), "%s/out.txt", dir);

	f = fopen(in, "w");
	assert_non_null(f);
	fprintf(f,
	    "[{\"file\":\"clients/demo.json\",\"path\":\"$.passengers[0]\","
	    "\"client\":\"demo\",\"definition\":{\"name\":\"x\","
	    "\"pullers\":[{\"name\":\"in\",\"type\":\"dir\",\"path\":\"%s\"},"
	    "{\"name\":\"in2\",\"type\":\"ftp\"}],"
	    "\"pushers\":[{\"name\":\"o\",\"type\":\"dir\",\"path\":\"%s/"
	    "missing\"}]}}]",
	    dir, dir);
	fclose(f);
	assert_int_equal(wait_exit(spawn(argv, in, out)), 100);
	f = fopen(out, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_non_null(strstr(buf, "clients/demo.json: $.passengers[0]."
				    "pullers[1].type: unknown puller type "
				    "\"ftp\"\n"));
	assert_non_null(strstr(buf, "clients/demo.json: $.passengers[0]."
				    "pushers[0]: path: cannot open"));
	/* init changed nothing: the dir puller created no done folder */
	snprintf(cmd, sizeof(cmd), "%s/.done", dir);
	assert_int_equal(access(cmd, F_OK), -1);

	f = fopen(in, "w");
	fprintf(f, "[{\"file\":\"a.json\",\"path\":\"$.passengers[0]\","
		   "\"definition\":{\"pullers\":[{\"name\":\"d\",\"type\":"
		   "\"demo\"}]}}]");
	fclose(f);
	assert_int_equal(wait_exit(spawn(argv, in, out)), 0);
	f = fopen(out, "r");
	assert_int_equal(fread(buf, 1, sizeof(buf), f), 0);
	fclose(f);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_exchange),
	    cmocka_unit_test(test_bench_drive),
	    cmocka_unit_test(test_heartbeat),
	    cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_garbage_exits_111),
	    cmocka_unit_test(test_unexpected_exits_111),
	    cmocka_unit_test(test_socket_lost_exits_111),
	    cmocka_unit_test(test_signal_and_parent),
	    cmocka_unit_test(test_usage),
	    cmocka_unit_test(test_check_command),
	};
	const char *env = getenv("DBS_WORKER");
	char self[PATH_MAX - 64], *slash;

	if (env != NULL) {
		snprintf(worker_path, sizeof(worker_path), "%s", env);
	} else {
		snprintf(self, sizeof(self), "%s", argv[0]);
		slash = strrchr(self, '/');
		if (slash != NULL)
			*slash = '\0';
		else
			strcpy(self, ".");
		snprintf(worker_path, sizeof(worker_path),
		    "%s/../../databus-worker", self);
	}
	if (access(worker_path, X_OK) != 0) {
		fprintf(stderr,
		    "test_worker: no executable %s (set "
		    "DBS_WORKER)\n",
		    worker_path);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
