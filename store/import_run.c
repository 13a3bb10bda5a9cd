/*
 * import_run.c — one import from start to end (see import_run.h).
 *
 * An LMDB file is told from a JSON archive by its first byte. Its check
 * pass (which also verifies it) can run in a child process that opens
 * the file itself (no LMDB environment crosses the fork), so that a file
 * damaged badly enough to crash LMDB costs a child, not the import, and
 * is refused with the signal named. Online, records are batched up to
 * BATCH_ITEMS or BATCH_BYTES of attachment bodies per control request.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dbs_error.h"
#include "import_run.h"

#define BATCH_ITEMS 1000
#define BATCH_BYTES (8u << 20)
#define TXN_ITEMS   5000

struct batch {
	struct import_run *r;
	struct store_txn *txn;
	size_t in_txn;
	Dbs__ImportItem *items[BATCH_ITEMS];
	size_t n_items;
	Dbs__User *users[BATCH_ITEMS];
	size_t n_users;
	Dbs__Log *logs[BATCH_ITEMS];
	size_t n_logs;
	uint64_t from[BATCH_ITEMS]; /* the items' archive ids */
	size_t bytes;
	int rc; /* the first failure */
};

static void
free_batch(struct batch *m)
{
	for (size_t i = 0; i < m->n_items; i++) {
		Dbs__ImportItem *x = m->items[i];

		dbs__passenger__free_unpacked(x->passenger, NULL);
		for (size_t j = 0; j < x->n_attachments; j++)
			dbs__attachment__free_unpacked(
			    x->attachments[j], NULL);
		free(x->attachments);
		free(x);
	}
	for (size_t i = 0; i < m->n_users; i++)
		dbs__user__free_unpacked(m->users[i], NULL);
	for (size_t i = 0; i < m->n_logs; i++)
		dbs__log__free_unpacked(m->logs[i], NULL);
	m->n_items = m->n_users = m->n_logs = m->bytes = 0;
}

static void
add_reply(struct import_stats *s, const Dbs__ImportReply *ir,
    const uint64_t *from, size_t n_from)
{
	for (size_t i = 0; i < ir->n_ids && i < n_from; i++)
		(void)import_add_id(s, from[i], ir->ids[i]);
	s->logs_added += ir->logs_added;
	s->logs_duplicates += ir->logs_duplicates;
	s->added += ir->added;
	s->duplicates += ir->duplicates;
	s->users_added += ir->users_added;
	s->users_existing += ir->users_existing;
	for (size_t i = 0; i < ir->n_remap_from && i < ir->n_remap_to; i++) {
		uint64_t *g = realloc(s->remap, (s->n_remap + 2) * sizeof(*g));

		if (g == NULL)
			break;
		s->remap = g;
		g[s->n_remap++] = ir->remap_from[i];
		g[s->n_remap++] = ir->remap_to[i];
	}
	for (size_t i = 0; i < ir->n_users_locked; i++) {
		char **g = realloc(s->locked, (s->n_locked + 1) * sizeof(*g));

		if (g == NULL)
			break;
		s->locked = g;
		g[s->n_locked++] = strdup(ir->users_locked[i]);
	}
	s->cap_remap = s->n_remap;
	s->cap_locked = s->n_locked;
}

static int
send_batch(struct batch *m)
{
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__ImportBatch b = DBS__IMPORT_BATCH__INIT;
	Dbs__ControlReply *reply = NULL;
	struct import_run *r = m->r;
	int rc;

	size_t n_from = m->n_items;

	if (m->n_items == 0 && m->n_users == 0 && m->n_logs == 0)
		return 0;
	for (size_t i = 0; i < m->n_items; i++)
		m->from[i] = m->items[i]->passenger->id;
	b.n_items = m->n_items;
	b.items = m->items;
	b.n_users = m->n_users;
	b.users = m->users;
	b.n_logs = m->n_logs;
	b.logs = m->logs;
	req.verb_case = DBS__CONTROL_REQUEST__VERB_IMPORT_BATCH;
	req.import_batch = &b;
	rc = r->send(r->send_ctx, &req, &reply, r->err, sizeof(r->err));
	free_batch(m);
	if (rc != DBS_OK)
		return m->rc = rc;
	if (reply->import_reply != NULL)
		add_reply(&r->stats, reply->import_reply, m->from, n_from);
	dbs__control_reply__free_unpacked(reply, NULL);
	return 0;
}

/* Online: take the item's records into the batch. */
static int
queue_item(struct batch *m, struct archive_item *it)
{
	Dbs__ImportItem *x;

	if (it->kind == ARCHIVE_USER) {
		m->users[m->n_users++] = it->u;
		it->u = NULL;
	} else if (it->kind == ARCHIVE_LOG) {
		/* Map the entries here: every passenger's batch is answered
		 * (the logs come after the passengers). */
		if (m->n_items > 0 && send_batch(m) != 0)
			return m->rc;
		for (size_t i = 0; i < it->log->n_entries; i++)
			if (it->log->entries[i]->passenger_id != 0)
				it->log->entries[i]->passenger_id =
				    import_map_id(&m->r->stats,
					it->log->entries[i]->passenger_id);
		m->logs[m->n_logs++] = it->log;
		it->log = NULL;
	} else {
		if ((x = calloc(1, sizeof(*x))) == NULL)
			return m->rc = DBS_ENOMEM;
		dbs__import_item__init(x);
		x->passenger = it->p;
		x->attachments = it->atts;
		x->n_attachments = it->n_atts;
		for (size_t i = 0; i < it->n_atts; i++)
			m->bytes += it->atts[i]->data.len;
		it->p = NULL;
		it->atts = NULL;
		it->n_atts = 0;
		m->items[m->n_items++] = x;
	}
	if (m->n_items >= BATCH_ITEMS || m->n_users >= BATCH_ITEMS ||
	    m->n_logs >= BATCH_ITEMS || m->bytes >= BATCH_BYTES)
		return send_batch(m);
	return 0;
}

static bool
wanted(const struct import_run *r, const struct archive_item *it)
{
	const char *client = it->kind == ARCHIVE_USER  ? it->u->client
			     : it->kind == ARCHIVE_LOG ? it->log->client
						       : it->p->client;

	return r->client == NULL || strcmp(client, r->client) == 0;
}

static int
apply(void *ctx, struct archive_item *it)
{
	struct batch *m = ctx;
	struct import_run *r = m->r;
	int rc;

	if (!wanted(r, it))
		return 0;
	if (r->send != NULL && !r->dry)
		return queue_item(m, it);
	if (it->kind == ARCHIVE_USER)
		rc = import_user(m->txn, it->u, r->dry, &r->stats);
	else if (it->kind == ARCHIVE_LOG)
		rc = import_log(m->txn, it->log, r->dry, true, &r->stats);
	else
		rc = import_passenger(
		    m->txn, it->p, it->atts, it->n_atts, r->dry, &r->stats);
	if (rc == DBS_OK && !r->dry && ++m->in_txn >= TXN_ITEMS) {
		m->in_txn = 0;
		rc = store_txn_commit(m->txn);
		m->txn = NULL;
		if (rc == DBS_OK)
			rc = store_txn_begin(r->st, true, &m->txn);
	}
	if (rc != DBS_OK) {
		snprintf(r->err, sizeof(r->err), "the store: %s (%s)",
		    dbs_strerror(rc), store_last_error(r->st));
		return m->rc = rc;
	}
	return 0;
}

/* The check pass of an LMDB file in a child (see the top). */
static int
check_in_child(struct import_run *r)
{
	struct {
		int rc;
		struct archive_info ai;
		char err[1024];
	} out = {.rc = DBS_EIO};
	int fds[2], status = 0;
	pid_t pid;
	ssize_t n;

	if (pipe(fds) != 0)
		return DBS_EIO;
	fflush(NULL);
	if ((pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return DBS_EIO;
	}
	if (pid == 0) {
		close(fds[0]);
		out.rc = archive_read_store(
		    r->path, NULL, NULL, &out.ai, out.err, sizeof(out.err));
		n = write(fds[1], &out, sizeof(out));
		_exit(n == (ssize_t)sizeof(out) ? 0 : 1);
	}
	close(fds[1]);
	n = read(fds[0], &out, sizeof(out));
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status)) {
		snprintf(r->err, sizeof(r->err),
		    "the store file is damaged (reading it crashed with "
		    "signal %d, %s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
		return DBS_ECORRUPT;
	}
	if (n != (ssize_t)sizeof(out)) {
		snprintf(r->err, sizeof(r->err),
		    "the check of the store file failed");
		return DBS_EIO;
	}
	r->info = out.ai;
	snprintf(r->err, sizeof(r->err), "%s", out.err);
	return out.rc;
}

/* A PostgreSQL store as the source: opened read-only (it must exist),
 * then read as an archive (archive_read_open), once per pass. */
static int
read_pg(
    struct import_run *r, int (*cb)(void *, struct archive_item *), void *ctx)
{
	struct store_options so = {.backend = STORE_BACKEND_POSTGRES};
	struct store *src = NULL;
	int rc;

	so.pg_conninfo = r->path;
	so.pg_schema = r->pg_schema;
	if ((rc = store_open(NULL, STORE_RDONLY, &so, &src)) != DBS_OK) {
		snprintf(r->err, sizeof(r->err),
		    "the PostgreSQL source (schema %s): %s: %s",
		    r->pg_schema != NULL ? r->pg_schema : "databus",
		    dbs_strerror(rc), store_last_error(NULL));
		return rc;
	}
	rc = archive_read_open(src, cb, ctx, &r->info, r->err, sizeof(r->err));
	store_close(src);
	return rc;
}

static bool
pg_source(const struct import_run *r)
{
	return strncmp(r->path, "postgres://", 11) == 0 ||
	       strncmp(r->path, "postgresql://", 13) == 0;
}

int
import_run_check(struct import_run *r)
{
	int ch;

	if (pg_source(r))
		return read_pg(r, NULL, NULL);
	if ((r->f = fopen(r->path, "r")) == NULL) {
		snprintf(r->err, sizeof(r->err), "%s", strerror(errno));
		return dbs_from_errno(errno);
	}
	setvbuf(r->f, NULL, _IOFBF, 1 << 20);
	/* A JSON archive starts with '{'; anything else is taken for LMDB. */
	while ((ch = getc(r->f)) != EOF && isspace(ch))
		;
	rewind(r->f);
	r->lmdb = ch != EOF && ch != '{';
	if (!r->lmdb)
		return archive_read(
		    r->f, NULL, NULL, &r->info, r->err, sizeof(r->err));
	if (r->sandbox)
		return check_in_child(r);
	return archive_read_store(
	    r->path, NULL, NULL, &r->info, r->err, sizeof(r->err));
}

int
import_run(struct import_run *r)
{
	struct batch *m = calloc(1, sizeof(*m));
	int rc = DBS_OK;

	if (m == NULL)
		return DBS_ENOMEM;
	m->r = r;
	if (r->dry || r->send == NULL)
		rc = store_txn_begin(r->st, !r->dry, &m->txn);
	if (rc != DBS_OK) {
		snprintf(r->err, sizeof(r->err), "the store: %s (%s)",
		    dbs_strerror(rc), store_last_error(r->st));
		free(m);
		return rc;
	}
	if (pg_source(r)) {
		rc = read_pg(r, apply, m);
	} else if (r->lmdb) {
		rc = archive_read_store(
		    r->path, apply, m, &r->info, r->err, sizeof(r->err));
	} else {
		rewind(r->f);
		rc = archive_read(
		    r->f, apply, m, &r->info, r->err, sizeof(r->err));
	}
	if (rc == DBS_OK && m->rc == DBS_OK && r->send != NULL && !r->dry)
		rc = send_batch(m);
	if (rc == DBS_OK && m->txn != NULL && !r->dry) {
		rc = store_txn_commit(m->txn);
		m->txn = NULL;
		if (rc != DBS_OK)
			snprintf(r->err, sizeof(r->err), "the store: %s (%s)",
			    dbs_strerror(rc), store_last_error(r->st));
	}
	store_txn_abort(m->txn);
	free_batch(m);
	if (rc == DBS_OK)
		rc = m->rc;
	free(m);
	return rc;
}

void
import_run_free(struct import_run *r)
{
	if (r->f != NULL)
		fclose(r->f);
	r->f = NULL;
	import_stats_free(&r->stats);
}
