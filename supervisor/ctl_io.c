/*
 * ctl_io.c — what databusctl's verbs share: the control socket client, the
 * read-only store, and output (JSON documents, tables, times, sizes).
 *
 * Control requests are not idempotent (a re-sent "queue purge" or "user
 * add" would act twice), so the REQ socket's automatic resend is pushed
 * out to an hour, and a request whose connection drops is abandoned
 * instead of being resent on reconnection: a pipe-removal callback cancels
 * the pending receive.
 */
#include "ctl_cmd.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <pwd.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dbs_error.h"
#include "record_json.h"
#include "wire.h"

#define REPLY_TIMEOUT_MS (60 * 1000)
#define SEND_TIMEOUT_MS  (10 * 1000)
#define RESEND_MS        (3600 * 1000)
#define CELL_MAX         60

void
ctl_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("databusctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
ctl_init(struct ctl *c, const struct ctl_args *a)
{
	char real[PATH_MAX];
	const char *dir = a->data_dir;
	int n;

	memset(c, 0, sizeof(*c));
	c->args = a;
	n = snprintf(c->store_dir, sizeof(c->store_dir), "%s/store", dir);
	if (n < 0 || (size_t)n >= sizeof(c->store_dir)) {
		ctl_err("data directory path too long");
		return CTL_EXIT_USAGE;
	}
	if (a->socket_url != NULL) {
		n = snprintf(c->url, sizeof(c->url), "%s", a->socket_url);
	} else {
		/* A missing directory is reported when the socket is used:
		 * read-only verbs do not need it resolved. */
		if (realpath(dir, real) != NULL)
			dir = real;
		n = snprintf(
		    c->url, sizeof(c->url), "ipc://%s/run/control", dir);
	}
	if (n < 0 || (size_t)n >= sizeof(c->url)) {
		ctl_err("control socket URL too long");
		return CTL_EXIT_USAGE;
	}
	return CTL_EXIT_OK;
}

void
ctl_fini(struct ctl *c)
{
	store_close(c->st);
	c->st = NULL;
}

/* ------------------------------------------------------ control socket */

/*
 * The pending receive, shared with the pipe-removal callback, which runs
 * on an nng thread. Static so that a late callback never touches freed
 * memory. The callback counts itself in `in_callback` before it looks at
 * `aio`; recv_reply clears `aio` and then waits for the count to drop to
 * zero before it frees the aio, so no callback can cancel a freed one.
 * (Atomics rather than a mutex: <pthread.h> is not usable here, as the
 * build's -Isupervisor puts supervisor/sched.h before the system one.)
 */
static struct {
	_Atomic(nng_aio *) aio;
	atomic_bool gone;
	atomic_int in_callback;
} pending;

static void
pipe_removed(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	nng_aio *aio;

	(void)p;
	(void)ev;
	(void)arg;
	atomic_fetch_add(&pending.in_callback, 1);
	atomic_store(&pending.gone, true);
	if ((aio = atomic_load(&pending.aio)) != NULL)
		nng_aio_cancel(aio);
	atomic_fetch_sub(&pending.in_callback, 1);
}

static void
set_actor(char *buf, size_t len)
{
	struct passwd *pw = getpwuid(getuid());

	if (pw != NULL && pw->pw_name != NULL)
		snprintf(buf, len, "cli:%s", pw->pw_name);
	else
		snprintf(buf, len, "cli:uid%ld", (long)getuid());
}

/* Receive one message, giving up when the connection drops. */
static int
recv_reply(nng_socket s, nng_msg **out)
{
	struct timespec pause = {0, 1000000};
	nng_aio *aio = NULL;
	int rv;

	*out = NULL;
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0)
		return rv;
	nng_aio_set_timeout(aio, REPLY_TIMEOUT_MS);
	atomic_store(&pending.aio, aio);
	nng_recv_aio(s, aio);
	/* The pipe may have gone between the send and now. */
	if (atomic_load(&pending.gone))
		nng_aio_cancel(aio);

	nng_aio_wait(aio);
	rv = nng_aio_result(aio);
	if (rv == 0)
		*out = nng_aio_get_msg(aio);

	atomic_store(&pending.aio, NULL);
	while (atomic_load(&pending.in_callback) != 0)
		nanosleep(&pause, NULL);
	nng_aio_free(aio);
	return rv;
}

int
ctl_request(struct ctl *c, Dbs__ControlRequest *req, Dbs__ControlReply **out)
{
	nng_socket s = NNG_SOCKET_INITIALIZER;
	nng_msg *msg = NULL;
	Dbs__ControlReply *reply = NULL;
	char actor[300];
	uint64_t id;
	bool open = false;
	int rv, rc = CTL_EXIT_FAIL;

	*out = NULL;
	randombytes_buf(&id, sizeof(id));
	req->id = id != 0 ? id : 1;
	set_actor(actor, sizeof(actor));
	req->actor = actor;

	if ((rv = nng_req0_open(&s)) != 0) {
		ctl_err("cannot open a socket: %s", nng_strerror(rv));
		goto out;
	}
	open = true;
	if (wire_socket_limits(s, SEND_TIMEOUT_MS) != DBS_OK ||
	    nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, RESEND_MS) != 0 ||
	    nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, pipe_removed, NULL) !=
		0) {
		ctl_err("cannot set up the control socket");
		goto out;
	}
	atomic_store(&pending.gone, false);
	if ((rv = nng_dial(s, c->url, NULL, 0)) != 0) {
		ctl_err("cannot reach databusd at %s: %s (is it running?)",
		    c->url, nng_strerror(rv));
		goto out;
	}
	if ((rv = wire_send(s, &req->base, 0)) != DBS_OK) {
		ctl_err("cannot send the request to databusd at %s: %s",
		    c->url, dbs_strerror(rv));
		goto out;
	}
	rv = recv_reply(s, &msg);
	if (rv == NNG_ETIMEDOUT) {
		ctl_err("no reply from databusd at %s within %d s", c->url,
		    REPLY_TIMEOUT_MS / 1000);
		goto out;
	}
	if (rv == NNG_ECANCELED) {
		ctl_err("databusd at %s closed the connection before "
			"replying; the request may or may not have been done",
		    c->url);
		goto out;
	}
	if (rv != 0) {
		ctl_err("cannot receive the reply from databusd at %s: %s",
		    c->url, nng_strerror(rv));
		goto out;
	}
	reply = (Dbs__ControlReply *)wire_unpack(
	    &dbs__control_reply__descriptor, msg);
	if (reply == NULL || reply->id != req->id) {
		ctl_err("databusd at %s sent a reply that %s", c->url,
		    reply == NULL ? "does not decode"
				  : "answers another request");
		goto out;
	}
	if (reply->code != DBS_OK) {
		ctl_err("%s: %s", c->args->verb_name,
		    reply->message[0] != '\0' ? reply->message
					      : dbs_strerror(reply->code));
		goto out;
	}
	*out = reply;
	reply = NULL; /* transferred */
	rc = CTL_EXIT_OK;
out:
	if (reply != NULL)
		dbs__control_reply__free_unpacked(reply, NULL);
	nng_msg_free(msg);
	if (open)
		nng_close(s);
	req->actor = NULL; /* points to this frame */
	return rc;
}

int
ctl_reply_done(struct ctl *c, Dbs__ControlReply *r, const char *human)
{
	json_t *doc;
	char *msg;

	if (c->args->json) {
		doc = json_pack("{s:b, s:o, s:I}", "ok", 1, "message",
		    rj_string(r->message), "count", (json_int_t)r->count);
		dbs__control_reply__free_unpacked(r, NULL);
		return ctl_print_json(doc);
	}
	if (human == NULL)
		human = r->message[0] != '\0' ? r->message : "ok";
	msg = ctl_clean(human, 0);
	printf("%s\n", msg != NULL ? msg : "ok");
	free(msg);
	dbs__control_reply__free_unpacked(r, NULL);
	return CTL_EXIT_OK;
}

/* ---------------------------------------------------------------- store */

int
ctl_store_open(struct ctl *c)
{
	int rc;

	if (c->st != NULL)
		return CTL_EXIT_OK;
	rc = store_open(c->store_dir, STORE_RDONLY, NULL, &c->st);
	if (rc != DBS_OK) {
		ctl_err("cannot open the store in %s: %s", c->store_dir,
		    dbs_strerror(rc));
		return CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}

int
ctl_store_begin(struct ctl *c, struct store_txn **txn)
{
	int rc;

	*txn = NULL;
	if (ctl_store_open(c) != CTL_EXIT_OK)
		return CTL_EXIT_FAIL;
	if ((rc = store_txn_begin(c->st, false, txn)) != DBS_OK)
		return ctl_store_fail(c, "read transaction", rc);
	return CTL_EXIT_OK;
}

int
ctl_store_fail(struct ctl *c, const char *what, int rc)
{
	const char *detail = c->st != NULL ? store_last_error(c->st) : NULL;

	if (detail != NULL && detail[0] != '\0' && rc != DBS_ENOTFOUND)
		ctl_err("%s: %s (%s)", what, dbs_strerror(rc), detail);
	else
		ctl_err("%s: %s", what, dbs_strerror(rc));
	return CTL_EXIT_FAIL;
}

/* --------------------------------------------------------------- output */

int
ctl_print_json(json_t *doc)
{
	int rc;

	if (doc == NULL) {
		ctl_err("out of memory");
		return CTL_EXIT_FAIL;
	}
	rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (rc != 0 || fputc('\n', stdout) == EOF) {
		ctl_err("cannot write to stdout");
		return CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}

const char *
ctl_time_local(int64_t ms, char buf[32])
{
	time_t t;
	struct tm tm;

	if (ms == 0) {
		strcpy(buf, "-");
		return buf;
	}
	t = (time_t)(ms / 1000);
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, 32, "%lld", (long long)ms);
	return buf;
}

const char *
ctl_size(uint64_t bytes, char buf[32])
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	size_t i = 0;

	if (bytes < 1024) {
		snprintf(buf, 32, "%llu B", (unsigned long long)bytes);
		return buf;
	}
	v /= 1024;
	while (v >= 1024 && i + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		i++;
	}
	snprintf(buf, 32, "%.1f %s", v, units[i]);
	return buf;
}

char *
ctl_clean(const char *s, size_t max)
{
	json_t *j = rj_string(s); /* valid UTF-8 from here on */
	const unsigned char *p;
	char *out, *o;
	size_t chars = 0;

	if (j == NULL)
		return NULL;
	p = (const unsigned char *)json_string_value(j);
	if ((out = malloc(strlen((const char *)p) + 4)) == NULL) {
		json_decref(j);
		return NULL;
	}
	o = out;
	while (*p != '\0') {
		if ((*p & 0xc0) != 0x80) {
			/* The start of a character. */
			if (max > 0 && chars == max) {
				memcpy(o, "...", 3);
				o += 3;
				break;
			}
			chars++;
		}
		if (*p < 0x20 || *p == 0x7f) {
			*o++ = '?';
			p++;
		} else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			/* C1 controls (U+0080..U+009F): CSI is one of them. */
			*o++ = '?';
			p += 2;
		} else {
			*o++ = (char)*p++;
		}
	}
	*o = '\0';
	json_decref(j);
	return out;
}

void
ctl_field(const char *label, const char *value)
{
	char *v = ctl_clean(value, 0);

	printf("%-14s %s\n", label, v != NULL ? v : "?");
	free(v);
}

/* Characters (not bytes) of a valid UTF-8 string. */
static size_t
width(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if ((*s & 0xc0) != 0x80)
			n++;
	return n;
}

void
ctl_table_init(struct ctl_table *t, size_t ncols, const char *const *headers)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	if (headers != NULL)
		ctl_table_add(t, headers);
}

void
ctl_table_add(struct ctl_table *t, const char *const *cells)
{
	char **grown;
	size_t i, cap;

	if (t->nrows == t->cap) {
		cap = t->cap == 0 ? 16 : t->cap * 2;
		grown = realloc(t->cells, cap * t->ncols * sizeof(*grown));
		if (grown == NULL) {
			t->failed = 1;
			return;
		}
		t->cells = grown;
		t->cap = cap;
	}
	for (i = 0; i < t->ncols; i++) {
		t->cells[t->nrows * t->ncols + i] =
		    ctl_clean(cells[i] != NULL ? cells[i] : "",
			i + 1 < t->ncols ? CELL_MAX : 0);
		if (t->cells[t->nrows * t->ncols + i] == NULL)
			t->failed = 1;
	}
	t->nrows++;
}

int
ctl_table_print(struct ctl_table *t, const char *indent)
{
	size_t *w = calloc(t->ncols, sizeof(*w));
	size_t r, i, cw, last;
	const char *cell;

	if (w == NULL) {
		ctl_table_free(t);
		return -1;
	}
	for (r = 0; r < t->nrows; r++)
		for (i = 0; i < t->ncols; i++) {
			cell = t->cells[r * t->ncols + i];
			cw = cell != NULL ? width(cell) : 1;
			if (cw > w[i])
				w[i] = cw;
		}
	for (r = 0; r < t->nrows; r++) {
		/* Stop after the last non-empty cell: no trailing blanks. */
		for (last = t->ncols; last > 1; last--) {
			cell = t->cells[r * t->ncols + last - 1];
			if (cell == NULL || cell[0] != '\0')
				break;
		}
		fputs(indent, stdout);
		for (i = 0; i < last; i++) {
			cell = t->cells[r * t->ncols + i];
			if (cell == NULL)
				cell = "?";
			fputs(cell, stdout);
			if (i + 1 == last)
				break;
			/* Pad by characters, then two spaces apart. */
			printf("%*s", (int)(w[i] - width(cell) + 2), "");
		}
		fputc('\n', stdout);
	}
	free(w);
	r = (size_t)t->failed;
	ctl_table_free(t);
	if (r != 0) {
		ctl_err("out of memory: some rows are missing");
		return -1;
	}
	return 0;
}

void
ctl_table_free(struct ctl_table *t)
{
	size_t i;

	if (t->cells != NULL)
		for (i = 0; i < t->nrows * t->ncols; i++)
			free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}
