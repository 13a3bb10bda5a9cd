/*
 * dryrun.c — dry runs of a passenger definition in a throwaway worker
 * (see dryrun.h for the contract).
 *
 * A request is turned into two messages at once, while the store's pages
 * are valid: Init (the definition without its pullers, its pushers but
 * the one the request names replaced by `null` pushers) and one
 * WorkRequest whose passenger has every step incomplete. Both wait in the
 * socket's send buffer until the throwaway worker connects; the worker then
 * runs them with the code path of every drive (workers/work.c) and answers
 * Ready, perhaps LogBatches, and the WorkResult, which is turned into the
 * reply. The input's metadata and attachments are kept packed, since a
 * processor that edits nothing leaves them as they were.
 *
 * The life of a dry run: RUNNING (spawned, waiting for the result) →
 * ANSWERED (replied; the process is told to stop, or killed) → freed once
 * reaped. A crash, an Init that fails, a message out of place or the drive
 * timeout ends it with that outcome in the reply — and nothing else: no
 * worker restart counter, no passenger attempt. Its socket lives in
 * run/dry-<id> and is removed with it.
 */
#include "dryrun.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/protocol/pair1/pair.h>

#include "child.h"
#include "commit.h"
#include "dbs_error.h"
#include "utf8.h"
#include "wire.h"

#define PREVIEW_MAX       (64u << 10) /* a text attachment shown whole */
#define PREVIEWS_MAX      (1u << 20)  /* all previews of one reply */
#define LOGS_MAX          1000        /* log entries in one reply */
#define DRY_TIMEOUT_MAX   55000       /* the clients wait 60 s for a reply */
#define DRY_TIMEOUT_FLOOR 1000

enum dry_phase {
	DRY_RUNNING,
	DRY_ANSWERED,
};

/* One step of the definition, as the reply lists it. */
struct dry_step {
	char *name;
	char *type; /* the driver's */
	Dbs__StepKind kind;
	bool sent; /* runs for real: a processor, or the --push pusher */
};

struct dryrun {
	struct dryrun *next;
	uint64_t id;
	enum dry_phase phase;
	uint64_t req_id;
	nng_msg *req; /* the control request, kept for its header */
	nng_socket sock;
	bool sock_open;
	int recv_fd;
	pid_t pid; /* 0: reaped (or never started) */
	int64_t started_us;
	int64_t deadline_ms; /* monotonic */
	int64_t timeout_ms;
	uint64_t passenger_id;
	struct dry_step *steps;
	size_t n_steps;
	/* The input's metadata and attachments: a packed WorkOutcome. */
	uint8_t *input;
	size_t input_len;
	/* What the worker sent, unpacked: LogBatches, then the result. */
	Dbs__WorkerMsg **kept;
	size_t n_kept;
	char sock_path[4200];
	char label[256]; /* client/definition, for databusd's log */
};

static struct dryrun *runs;
static uint64_t next_id;

/* ------------------------------------------------------------ helpers */

static size_t
n_running(void)
{
	size_t n = 0;

	for (struct dryrun *d = runs; d != NULL; d = d->next)
		if (d->phase == DRY_RUNNING)
			n++;
	return n;
}

static const struct cfg_definition *
find_definition(const struct sup *s, const char *client, const char *name)
{
	for (size_t i = 0; i < s->cfg->n_clients; i++) {
		const struct cfg_client *c = &s->cfg->clients[i];

		if (strcmp(c->name, client) != 0)
			continue;
		for (size_t k = 0; k < c->n_defs; k++)
			if (strcmp(c->defs[k].name, name) == 0)
				return &c->defs[k];
	}
	return NULL;
}

static void
reply_error(
    struct sup *s, nng_msg *msg, uint64_t id, int code, const char *text)
{
	Dbs__ControlReply r = DBS__CONTROL_REPLY__INIT;

	r.id = id;
	r.code = code;
	r.message = (char *)(text != NULL ? text : dbs_strerror(code));
	sup_control_reply(s, msg, &r, true);
}

static void
dry_free(struct dryrun *d)
{
	if (d == NULL)
		return;
	if (d->req != NULL)
		nng_msg_free(d->req);
	for (size_t i = 0; i < d->n_steps; i++) {
		free(d->steps[i].name);
		free(d->steps[i].type);
	}
	free(d->steps);
	for (size_t i = 0; i < d->n_kept; i++)
		dbs__worker_msg__free_unpacked(d->kept[i], NULL);
	free(d->kept);
	free(d->input);
	free(d);
}

static void
close_socket(struct sup *s, struct dryrun *d)
{
	if (!d->sock_open)
		return;
	if (d->recv_fd >= 0 && s->epfd >= 0)
		(void)epoll_ctl(s->epfd, EPOLL_CTL_DEL, d->recv_fd, NULL);
	d->recv_fd = -1;
	child_close_socket(d->sock);
	d->sock_open = false;
	(void)unlink(d->sock_path);
}

/* Unlink d from the list and free it. */
static void
dry_remove(struct sup *s, struct dryrun *d)
{
	for (struct dryrun **pp = &runs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	close_socket(s, d);
	dry_free(d);
}

/* ------------------------------------------------------- the request */

/*
 * The definition's JSON for the throwaway worker: no pullers (nothing is
 * pulled, and no source is touched at init); every pusher but `push`
 * becomes a `null` pusher of the same name, which discards what it gets,
 * so that the result still says whether the passenger would be pushed or
 * a processor filtered it out (its pusher steps skipped).
 */
static char *
worker_json(const struct cfg_definition *def, const char *push)
{
	json_t *root = json_loads(def->json, 0, NULL), *pushers, *keep;
	char *text = NULL;
	size_t i;
	json_t *p;

	if (root == NULL || !json_is_object(root))
		goto out;
	keep = json_array();
	pushers = json_object_get(root, "pushers");
	json_array_foreach(pushers, i, p)
	{
		json_t *name = json_object_get(p, "name");

		if (push[0] != '\0' && json_is_string(name) &&
		    strcmp(json_string_value(name), push) == 0)
			json_array_append(keep, p);
		else
			json_array_append_new(
			    keep, json_pack("{s:O,s:s}", "name", name, "type",
				      "null"));
	}
	if (json_object_set_new(root, "pullers", json_array()) != 0 ||
	    json_object_set_new(root, "pushers", keep) != 0)
		goto out;
	text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
out:
	json_decref(root);
	return text;
}

/* The steps of `def` (copied: a reload may free it meanwhile) and the
 * Step records of the WorkRequest, every one incomplete (pushers other
 * than `push` are null pushers in the throwaway worker). */
static int
plan_steps(struct dryrun *d, const struct cfg_definition *def,
    const char *push, Dbs__Step *st, Dbs__Step **stp)
{
	size_t n = def->n_processors + def->n_pushers;

	if ((d->steps = calloc(n + 1, sizeof(*d->steps))) == NULL)
		return DBS_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		bool proc = i < def->n_processors;
		const struct cfg_driver *drv =
		    proc ? &def->processors[i]
			 : &def->pushers[i - def->n_processors];
		struct dry_step *ds = &d->steps[i];

		d->n_steps++;
		if ((ds->name = strdup(drv->name)) == NULL ||
		    (ds->type = strdup(drv->type)) == NULL)
			return DBS_ENOMEM;
		ds->kind = proc ? DBS__STEP_KIND__SK_PROCESSOR
				: DBS__STEP_KIND__SK_PUSHER;
		ds->sent = proc || strcmp(drv->name, push) == 0;
		dbs__step__init(&st[i]);
		st[i].name = ds->name;
		st[i].kind = ds->kind;
		st[i].state = DBS__STEP_STATE__STEP_INCOMPLETE;
		stp[i] = &st[i];
	}
	return DBS_OK;
}

/* The attachments of queued passenger `p`, pointing into the store's
 * pages (valid while the open batch is): DBS_ENOTFOUND when one is
 * missing, DBS_ETOOBIG past DRYRUN_MAX_INPUT. */
static int
load_attachments(struct store_txn *txn, const Dbs__Passenger *p,
    Dbs__Attachment *a, Dbs__Attachment **ap)
{
	size_t total = 0;

	for (size_t i = 0; i < p->n_attachments; i++) {
		const void *data;
		size_t len;
		int rc = store_attachment_get(
		    txn, p->id, p->attachments[i]->name, &data, &len);

		if (rc != DBS_OK)
			return rc;
		if ((total += len) > DRYRUN_MAX_INPUT)
			return DBS_ETOOBIG;
		dbs__attachment__init(&a[i]);
		a[i].name = p->attachments[i]->name;
		a[i].content_type = p->attachments[i]->content_type;
		a[i].data.data = (uint8_t *)data;
		a[i].data.len = len;
		ap[i] = &a[i];
	}
	return DBS_OK;
}

/* Keep the input's metadata and attachments, packed as a WorkOutcome. */
static int
keep_input(struct dryrun *d, const Dbs__Passenger *p, Dbs__Attachment **ap,
    size_t n_att)
{
	Dbs__WorkOutcome wo = DBS__WORK_OUTCOME__INIT;

	wo.replaced = true;
	wo.n_metadata = p->n_metadata;
	wo.metadata = p->metadata;
	wo.n_attachments = n_att;
	wo.attachments = ap;
	d->input_len = protobuf_c_message_get_packed_size(&wo.base);
	if ((d->input = malloc(d->input_len + 1)) == NULL)
		return DBS_ENOMEM;
	protobuf_c_message_pack(&wo.base, d->input);
	return DBS_OK;
}

/* Listen on run/dry-<id>, in the loop's epoll set. */
static int
open_socket(struct sup *s, struct dryrun *d, char *url, size_t urllen)
{
	struct epoll_event ev = {.events = EPOLLIN};
	int fd;

	snprintf(d->sock_path, sizeof(d->sock_path), "%s/dry-%llu", s->run_dir,
	    (unsigned long long)d->id);
	snprintf(url, urllen, "ipc://%s", d->sock_path);
	(void)unlink(d->sock_path);
	if (nng_pair1_open(&d->sock) != 0)
		return DBS_ETRANSPORT;
	d->sock_open = true;
	if (wire_socket_limits(d->sock, 0) != DBS_OK ||
	    nng_listen(d->sock, url, NULL, 0) != 0 ||
	    nng_socket_get_int(d->sock, NNG_OPT_RECVFD, &fd) != 0)
		return DBS_ETRANSPORT;
	ev.data.u64 = DRYRUN_KEY_BASE + d->id;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		return DBS_ETRANSPORT;
	d->recv_fd = fd;
	return DBS_OK;
}

/* Start the throwaway worker with the definition's limits. */
static int
spawn(struct sup *s, struct dryrun *d, const struct cfg_definition *def,
    char *url)
{
	struct worker_argv a;
	int rc;

	child_worker_argv(s, def, url, d->id % 1000000, &a);
	rc = sup_spawn(s, a.argv, &d->pid);
	if (rc != 0) {
		d->pid = 0;
		sup_warn("dry run %llu: cannot start %s: %s",
		    (unsigned long long)d->id, a.argv[0], strerror(rc));
		return DBS_ETRANSPORT;
	}
	return DBS_OK;
}

/* Send Init and the WorkRequest; they wait for the worker to dial. */
static int
send_messages(struct sup *s, struct dryrun *d,
    const struct cfg_definition *def, const char *push, Dbs__WorkItem *item)
{
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
	Dbs__Init init = DBS__INIT__INIT;
	Dbs__WorkRequest wr = DBS__WORK_REQUEST__INIT;
	char *json = worker_json(def, push);
	int rc;

	if (json == NULL)
		return DBS_ENOMEM;
	init.client = def->client;
	init.definition = def->name;
	init.config_json = json;
	init.heartbeat_ms = 0; /* no heartbeats: the deadline bounds it */
	init.data_dir = s->cfg->data_dir;
	init.dry_run = true;
	m.body_case = DBS__WORKER_MSG__BODY_INIT;
	m.init = &init;
	rc = wire_send(d->sock, &m.base, NNG_FLAG_NONBLOCK);
	free(json);
	if (rc != DBS_OK)
		return rc;
	wr.drive_id = 0;
	wr.batch_id = d->id;
	wr.n_items = 1;
	wr.items = &item;
	m.body_case = DBS__WORKER_MSG__BODY_WORK;
	m.work = &wr;
	return wire_send(d->sock, &m.base, NNG_FLAG_NONBLOCK);
}

/* The passenger of the request: the queued one (*stored, freed by the
 * caller) or a new one made of the samples. */
static int
input_passenger(struct sup *s, const Dbs__DryRun *dr, Dbs__Passenger **stored,
    Dbs__Passenger *fresh, const char **why)
{
	struct store_txn *txn;
	size_t total = 0;
	int rc;

	if (dr->passenger_id == 0) {
		for (size_t i = 0; i < dr->n_samples; i++)
			total += dr->samples[i]->data.len;
		if (total > DRYRUN_MAX_INPUT) {
			*why = "the samples are larger than 16 MiB";
			return DBS_ETOOBIG;
		}
		fresh->client = dr->client;
		fresh->definition = dr->definition;
		fresh->puller = "dry-run";
		fresh->external_id = "dry-run";
		fresh->n_metadata = dr->n_metadata;
		fresh->metadata = dr->metadata;
		return DBS_OK;
	}
	if ((txn = sup_txn(s)) == NULL) {
		*why = s->store_error;
		return DBS_EIO;
	}
	rc = store_passenger_get(txn, dr->passenger_id, stored);
	if (rc == DBS_OK &&
	    (strcmp((*stored)->client, dr->client) != 0 ||
		strcmp((*stored)->definition, dr->definition) != 0))
		rc = DBS_ENOTFOUND; /* another definition's, or tenant's */
	if (rc == DBS_ENOTFOUND)
		*why = "no such passenger in this definition";
	return rc;
}

/* Build the WorkItem, keep the input, open the socket, send the messages
 * and spawn. `why` says what failed. */
static int
start(struct sup *s, struct dryrun *d, const struct cfg_definition *def,
    const Dbs__DryRun *dr, const char **why)
{
	Dbs__Passenger fresh = DBS__PASSENGER__INIT, *stored = NULL, *p;
	Dbs__WorkItem item = DBS__WORK_ITEM__INIT;
	size_t n = def->n_processors + def->n_pushers, n_att;
	Dbs__Step *st = calloc(n + 1, sizeof(*st));
	Dbs__Step **stp = calloc(n + 1, sizeof(*stp));
	Dbs__Attachment *a = NULL, **ap = NULL;
	Dbs__Step **own_steps = NULL;
	size_t own_n = 0;
	char url[4300];
	int rc;

	if (st == NULL || stp == NULL ||
	    (rc = plan_steps(d, def, dr->push, st, stp)) != DBS_OK) {
		rc = DBS_ENOMEM;
		goto out;
	}
	if ((rc = input_passenger(s, dr, &stored, &fresh, why)) != DBS_OK)
		goto out;
	p = stored != NULL ? stored : &fresh;
	own_steps = p->steps;
	own_n = p->n_steps;
	d->passenger_id = dr->passenger_id;
	if (stored != NULL) {
		n_att = p->n_attachments;
		a = calloc(n_att + 1, sizeof(*a));
		ap = calloc(n_att + 1, sizeof(*ap));
		if (a == NULL || ap == NULL) {
			rc = DBS_ENOMEM;
			goto out;
		}
		if ((rc = load_attachments(sup_txn(s), p, a, ap)) != DBS_OK) {
			*why = rc == DBS_ETOOBIG
				   ? "the passenger's attachments"
				     " are larger than 16 MiB"
				   : "an attachment is missing";
			goto out;
		}
	} else {
		n_att = dr->n_samples;
		ap = dr->samples;
	}
	/* The steps as this run wants them; the rest of the record as it
	 * is (the worker reads id, names, metadata, attempts). */
	p->n_steps = n;
	p->steps = stp;
	item.passenger = p;
	item.n_attachments = n_att;
	item.attachments = ap;
	if ((rc = keep_input(d, p, ap, n_att)) != DBS_OK ||
	    (rc = open_socket(s, d, url, sizeof(url))) != DBS_OK ||
	    (rc = send_messages(s, d, def, dr->push, &item)) != DBS_OK ||
	    (rc = spawn(s, d, def, url)) != DBS_OK)
		*why = "cannot start the throwaway worker";
	/* The record's own steps go back before it is freed. */
	p->n_steps = own_n;
	p->steps = own_steps;
out:
	if (stored != NULL) {
		dbs__passenger__free_unpacked(stored, NULL);
		free(a);
		free(ap);
	}
	free(st);
	free(stp);
	return rc;
}

void
dryrun_request(
    struct sup *s, nng_msg *msg, uint64_t req_id, const Dbs__DryRun *dr)
{
	const struct cfg_definition *def =
	    find_definition(s, dr->client, dr->definition);
	const char *why = NULL;
	struct dryrun *d;
	int rc;

	if (def == NULL) {
		reply_error(s, msg, req_id, DBS_ENOTFOUND,
		    "no such passenger definition");
		return;
	}
	if (s->shutting_down) {
		reply_error(s, msg, req_id, DBS_ESHUTDOWN, NULL);
		return;
	}
	if (dr->passenger_id != 0 && dr->n_samples > 0) {
		reply_error(s, msg, req_id, DBS_EINVAL,
		    "give a queued passenger or samples, not both");
		return;
	}
	if (n_running() >= DRYRUN_MAX_RUNNING) {
		reply_error(s, msg, req_id, DBS_EBUSY,
		    "too many dry runs at once (4); try again when one ends");
		return;
	}
	for (size_t i = 0; dr->push[0] != '\0' && i <= def->n_pushers; i++) {
		if (i == def->n_pushers) {
			reply_error(s, msg, req_id, DBS_ENOTFOUND,
			    "--push: no pusher of that name in this "
			    "definition");
			return;
		}
		if (strcmp(def->pushers[i].name, dr->push) == 0)
			break;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		reply_error(s, msg, req_id, DBS_ENOMEM, NULL);
		return;
	}
	d->id = ++next_id;
	d->recv_fd = -1;
	snprintf(d->label, sizeof(d->label), "%s/%s", def->client, def->name);
	d->req_id = req_id;
	d->started_us = metrics_now_us();
	d->timeout_ms = s->cfg->drive_timeout_ms;
	if (d->timeout_ms > DRY_TIMEOUT_MAX)
		d->timeout_ms = DRY_TIMEOUT_MAX;
	if (d->timeout_ms < DRY_TIMEOUT_FLOOR)
		d->timeout_ms = DRY_TIMEOUT_FLOOR;
	d->deadline_ms = wire_mono_ms() + d->timeout_ms;
	d->next = runs;
	runs = d;
	if ((rc = start(s, d, def, dr, &why)) != DBS_OK) {
		if (d->pid > 0)
			(void)kill(d->pid, SIGKILL);
		d->phase = DRY_ANSWERED;
		reply_error(s, msg, req_id, rc, why);
		if (d->pid <= 0)
			dry_remove(s, d);
		return;
	}
	d->req = msg; /* kept for the reply */
	sup_timers_changed(s);
}

/* ----------------------------------------------------------- the reply */

/* Whether `a` is shown whole: small UTF-8 text, without control
 * characters other than tabs and line ends. */
static bool
previewable(const Dbs__Attachment *a)
{
	const uint8_t *d = a->data.data;

	if (a->data.len > PREVIEW_MAX)
		return false;
	for (size_t i = 0; i < a->data.len; i++)
		if ((d[i] < 0x20 && d[i] != '\t' && d[i] != '\n' &&
			d[i] != '\r') ||
		    d[i] == 0x7f)
			return false;
	return dbs_utf8_valid((const char *)d, a->data.len);
}

/* The step outcome the worker reported for `ds`, or NULL. Processors
 * come before pushers in a result, and names are unique per kind. */
static const Dbs__StepOutcome *
find_outcome(const Dbs__WorkOutcome *wo, const struct dry_step *ds)
{
	const Dbs__StepOutcome *found = NULL;

	if (wo == NULL)
		return NULL;
	for (size_t i = 0; i < wo->n_steps; i++)
		if (strcmp(wo->steps[i]->name, ds->name) == 0) {
			found = wo->steps[i];
			if (ds->kind == DBS__STEP_KIND__SK_PROCESSOR)
				break;
		}
	return found;
}

/* The --push pusher in its dry mode: complete (it said what it would
 * do), or not run (its driver has no dry mode: workers/driver_instance.c
 * says so in a text that starts with "(not run"). */
static void
dry_pusher_note(Dbs__DryRunStep *st, const Dbs__StepOutcome *so)
{
	if (strncmp(so->dry_run, "(not run", 8) == 0) {
		st->state = DBS__STEP_STATE__STEP_SKIPPED;
		st->note = so->dry_run;
	} else {
		st->note = "dry mode: it said what it would do (below); "
			   "nothing was delivered";
	}
}

/* The reply's steps and the outcome text (in `outcome`). */
static int
fill_steps(struct dryrun *d, const Dbs__WorkOutcome *wo, Dbs__DryRunReply *r,
    char *outcome, size_t len)
{
	Dbs__DryRunStep *st = calloc(d->n_steps + 1, sizeof(*st));
	Dbs__DryRunStep **stp = calloc(d->n_steps + 1, sizeof(*stp));

	if (st == NULL || stp == NULL) {
		free(st);
		free(stp);
		return DBS_ENOMEM;
	}
	snprintf(outcome, len, "ok");
	for (size_t i = 0; i < d->n_steps; i++) {
		const struct dry_step *ds = &d->steps[i];
		const Dbs__StepOutcome *so = find_outcome(wo, ds);

		dbs__dry_run_step__init(&st[i]);
		st[i].name = ds->name;
		st[i].kind = ds->kind;
		stp[i] = &st[i];
		if (so == NULL) {
			st[i].note = "not reached";
			continue;
		}
		if (so->state == DBS__STEP_STATE__STEP_SKIPPED &&
		    strcmp(outcome, "ok") == 0)
			snprintf(outcome, len,
			    "skipped: a processor filtered "
			    "the passenger out");
		if (!ds->sent) {
			st[i].state = DBS__STEP_STATE__STEP_SKIPPED;
			st[i].note =
			    so->state == DBS__STEP_STATE__STEP_SKIPPED
				? "filtered out: it would not be pushed"
				: "not run: it would be pushed; pushers do "
				  "not run in a dry run (--push NAME runs one "
				  "in dry mode)";
			continue;
		}
		st[i].state = so->state;
		st[i].error = so->error;
		st[i].permanent = so->permanent;
		if (ds->kind == DBS__STEP_KIND__SK_PUSHER &&
		    so->state == DBS__STEP_STATE__STEP_COMPLETE)
			dry_pusher_note(&st[i], so);
		if (so->state == DBS__STEP_STATE__STEP_FAILED &&
		    strcmp(outcome, "ok") == 0)
			snprintf(outcome, len, "failed: %s: %s", ds->name,
			    so->error);
		else if (so->state == DBS__STEP_STATE__STEP_SKIPPED &&
			 ds->kind == DBS__STEP_KIND__SK_PROCESSOR &&
			 strcmp(outcome, "ok") == 0)
			snprintf(outcome, len,
			    "skipped: a processor filtered "
			    "the passenger out");
	}
	r->n_steps = d->n_steps;
	r->steps = stp;
	return DBS_OK;
}

/* Attachments (metas and previews) and metadata of `wo`. */
static int
fill_result(const Dbs__WorkOutcome *wo, Dbs__DryRunReply *r)
{
	size_t n = wo->n_attachments, shown = 0;
	Dbs__AttachmentMeta *m = calloc(n + 1, sizeof(*m));
	Dbs__AttachmentMeta **mp = calloc(n + 1, sizeof(*mp));
	Dbs__Attachment **pv = calloc(n + 1, sizeof(*pv));

	r->attachments = mp;
	r->previews = pv;
	if (m == NULL || mp == NULL || pv == NULL) {
		free(m);
		return DBS_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		Dbs__Attachment *a = wo->attachments[i];

		dbs__attachment_meta__init(&m[i]);
		m[i].name = a->name;
		m[i].size = a->data.len;
		m[i].content_type = a->content_type;
		mp[i] = &m[i];
		if (previewable(a) && shown + a->data.len <= PREVIEWS_MAX) {
			shown += a->data.len;
			pv[r->n_previews++] = a;
		}
	}
	r->n_attachments = n;
	r->n_metadata = wo->n_metadata;
	r->metadata = wo->metadata;
	return DBS_OK;
}

/* Every log entry the worker sent, in order (at most LOGS_MAX). */
static int
fill_logs(struct dryrun *d, Dbs__DryRunReply *r)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n_kept; i++) {
		const Dbs__WorkerMsg *m = d->kept[i];

		n += m->body_case == DBS__WORKER_MSG__BODY_LOG
			 ? m->log->n_entries
			 : m->work_result->n_logs;
	}
	if (n > LOGS_MAX)
		n = LOGS_MAX;
	if ((r->logs = calloc(n + 1, sizeof(*r->logs))) == NULL)
		return DBS_ENOMEM;
	for (size_t i = 0; i < d->n_kept && r->n_logs < n; i++) {
		const Dbs__WorkerMsg *m = d->kept[i];
		bool log = m->body_case == DBS__WORKER_MSG__BODY_LOG;
		size_t k = log ? m->log->n_entries : m->work_result->n_logs;
		Dbs__LogEntry **e =
		    log ? m->log->entries : m->work_result->logs;

		for (size_t j = 0; j < k && r->n_logs < n; j++)
			r->logs[r->n_logs++] = e[j];
	}
	return DBS_OK;
}

/* What pushers in dry mode said they would have done. */
static int
fill_pushes(struct dryrun *d, const Dbs__WorkOutcome *wo, Dbs__DryRunReply *r)
{
	size_t n = d->n_steps;

	if ((r->pushes = calloc(n + 1, sizeof(*r->pushes))) == NULL)
		return DBS_ENOMEM;
	for (size_t i = 0; wo != NULL && i < n; i++) {
		const struct dry_step *ds = &d->steps[i];
		const Dbs__StepOutcome *so = find_outcome(wo, ds);
		Dbs__DryRunPush *p;

		if (ds->kind != DBS__STEP_KIND__SK_PUSHER || !ds->sent ||
		    so == NULL || so->dry_run[0] == '\0' ||
		    strncmp(so->dry_run, "(not run", 8) == 0)
			continue;
		if ((p = calloc(1, sizeof(*p))) == NULL)
			return DBS_ENOMEM;
		dbs__dry_run_push__init(p);
		p->pusher = ds->name;
		p->type = ds->type;
		p->description = so->dry_run;
		r->pushes[r->n_pushes++] = p;
	}
	return DBS_OK;
}

static void
free_reply_parts(Dbs__DryRunReply *r)
{
	if (r->steps != NULL)
		free(r->steps[0]);
	free(r->steps);
	if (r->attachments != NULL)
		free(r->attachments[0]);
	free(r->attachments);
	free(r->previews);
	free(r->logs);
	for (size_t i = 0; i < r->n_pushes; i++)
		free(r->pushes[i]);
	free(r->pushes);
}

/*
 * Answer the request: `wo` is the worker's outcome (NULL when it gave
 * none), `failure` the dry run's outcome when it did not end normally.
 */
static void
answer(struct sup *s, struct dryrun *d, const Dbs__WorkOutcome *wo,
    bool crashed, const char *failure)
{
	Dbs__ControlReply cr = DBS__CONTROL_REPLY__INIT;
	Dbs__DryRunReply r = DBS__DRY_RUN_REPLY__INIT;
	Dbs__WorkOutcome *input = NULL;
	const Dbs__WorkOutcome *res;
	char outcome[1024];
	int rc;

	if (d->phase != DRY_RUNNING)
		return;
	d->phase = DRY_ANSWERED;
	rc = fill_steps(d, wo, &r, outcome, sizeof(outcome));
	if (failure != NULL)
		snprintf(outcome, sizeof(outcome), "%s", failure);
	if (rc == DBS_OK && wo != NULL && !wo->replaced)
		input =
		    dbs__work_outcome__unpack(NULL, d->input_len, d->input);
	res = wo != NULL && wo->replaced ? wo : input;
	if (rc == DBS_OK && res != NULL)
		rc = fill_result(res, &r);
	if (rc == DBS_OK)
		rc = fill_logs(d, &r);
	if (rc == DBS_OK)
		rc = fill_pushes(d, wo, &r);
	r.outcome = outcome;
	r.crashed = crashed;
	r.passenger_id = d->passenger_id;
	r.elapsed_us = metrics_now_us() - d->started_us;
	cr.id = d->req_id;
	cr.code = rc;
	cr.message = rc == DBS_OK ? outcome : (char *)dbs_strerror(rc);
	cr.dry_run = rc == DBS_OK ? &r : NULL;
	sup_control_reply(s, d->req, &cr, true);
	d->req = NULL;
	free_reply_parts(&r);
	if (input != NULL)
		dbs__work_outcome__free_unpacked(input, NULL);
	sup_log("dry run %llu of %s: %s (%lld ms)", (unsigned long long)d->id,
	    d->label, outcome, (long long)(r.elapsed_us / 1000));
}

/* ------------------------------------------------ the worker's messages */

static struct dryrun *
find_run(uint64_t id)
{
	for (struct dryrun *d = runs; d != NULL; d = d->next)
		if (d->id == id)
			return d;
	return NULL;
}

/* Stop the throwaway worker: Stop if it can hear it, else SIGKILL. */
static void
end_process(struct dryrun *d, bool kill_it)
{
	Dbs__WorkerMsg m = DBS__WORKER_MSG__INIT;
	Dbs__Stop stop = DBS__STOP__INIT;

	if (d->pid <= 0)
		return;
	m.body_case = DBS__WORKER_MSG__BODY_STOP;
	m.stop = &stop;
	if (kill_it || !d->sock_open ||
	    wire_send(d->sock, &m.base, NNG_FLAG_NONBLOCK) != DBS_OK)
		(void)kill(d->pid, SIGKILL);
}

/* Keep `m` (its log entries or result are in the reply). */
static int
keep(struct dryrun *d, Dbs__WorkerMsg *m)
{
	Dbs__WorkerMsg **k = realloc(d->kept, (d->n_kept + 1) * sizeof(*k));

	if (k == NULL)
		return DBS_ENOMEM;
	d->kept = k;
	d->kept[d->n_kept++] = m;
	return DBS_OK;
}

/* Handle one message; false when the run is over (answered). */
static bool
on_message(struct sup *s, struct dryrun *d, Dbs__WorkerMsg *m)
{
	char why[700];

	switch (m->body_case) {
	case DBS__WORKER_MSG__BODY_HEARTBEAT:
		break;
	case DBS__WORKER_MSG__BODY_READY:
		if (m->ready->code == DBS_OK)
			break;
		snprintf(why, sizeof(why),
		    "the definition's drivers did not "
		    "start: %s",
		    m->ready->message);
		answer(s, d, NULL, false, why);
		break;
	case DBS__WORKER_MSG__BODY_LOG:
		if (keep(d, m) != DBS_OK)
			break;
		return true; /* kept */
	case DBS__WORKER_MSG__BODY_WORK_RESULT:
		if (m->work_result->n_items != 1 ||
		    m->work_result->batch_id != d->id) {
			answer(s, d, NULL, true,
			    "protocol violation: a result for another "
			    "request");
			end_process(d, true);
			break;
		}
		if (keep(d, m) != DBS_OK) {
			answer(s, d, NULL, false, "out of memory");
			end_process(d, true);
			break;
		}
		answer(s, d, m->work_result->items[0], false, NULL);
		end_process(d, false);
		return true; /* kept */
	default:
		answer(s, d, NULL, true,
		    "protocol violation: a message out of place");
		end_process(d, true);
		break;
	}
	dbs__worker_msg__free_unpacked(m, NULL);
	return true;
}

static void
drain(struct sup *s, struct dryrun *d)
{
	while (d->sock_open && d->phase == DRY_RUNNING) {
		Dbs__WorkerMsg *m = NULL;
		int rc = wire_recv_worker(d->sock, &m, NNG_FLAG_NONBLOCK);

		if (rc == DBS_EBUSY)
			return;
		if (rc != DBS_OK) {
			answer(s, d, NULL, true,
			    "protocol violation: a message that does not "
			    "decode");
			end_process(d, true);
			return;
		}
		(void)on_message(s, d, m);
	}
}

void
dryrun_readable(struct sup *s, uint64_t key)
{
	struct dryrun *d = find_run(key - DRYRUN_KEY_BASE);

	if (d == NULL)
		return;
	if (d->phase != DRY_RUNNING) {
		/* Answered: what else it says (a last log) is dropped. */
		Dbs__WorkerMsg *m = NULL;

		while (d->sock_open && wire_recv_worker(d->sock, &m,
					   NNG_FLAG_NONBLOCK) == DBS_OK)
			dbs__worker_msg__free_unpacked(m, NULL);
		return;
	}
	drain(s, d);
}

bool
dryrun_reaped(struct sup *s, pid_t pid, int status)
{
	struct dryrun *d;
	char why[160];

	for (d = runs; d != NULL; d = d->next)
		if (d->pid == pid)
			break;
	if (d == NULL)
		return false;
	d->pid = 0;
	drain(s, d); /* a result sent just before the exit counts */
	if (WIFSIGNALED(status))
		snprintf(why, sizeof(why),
		    "crashed: the throwaway worker was killed by signal %d "
		    "(%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(why, sizeof(why),
		    "crashed: the throwaway worker exited with status %d "
		    "before answering",
		    WEXITSTATUS(status));
	answer(s, d, NULL, true, why);
	dry_remove(s, d);
	return true;
}

void
dryrun_timers(struct sup *s, int64_t now, int64_t *wake)
{
	char why[128];

	for (struct dryrun *d = runs; d != NULL; d = d->next) {
		if (d->phase != DRY_RUNNING)
			continue;
		if (s->shutting_down) {
			answer(s, d, NULL, false,
			    "stopped: databusd is shutting down");
			end_process(d, true);
			continue;
		}
		if (now >= d->deadline_ms) {
			snprintf(why, sizeof(why),
			    "timed out after %lld ms (drive_timeout); the "
			    "throwaway worker was killed",
			    (long long)d->timeout_ms);
			answer(s, d, NULL, true, why);
			end_process(d, true);
			continue;
		}
		if (*wake < 0 || d->deadline_ms < *wake)
			*wake = d->deadline_ms;
	}
}
