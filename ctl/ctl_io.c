/*
 * ctl_io.c — what databusctl's verbs share: control requests (sent by the
 * one client of proto/control_client.h, with databusctl's timeouts and
 * messages), the read-only store, and output (JSON documents, tables,
 * times, sizes).
 */
#include "ctl_cmd.h"

#include <errno.h>
#include <nng/nng.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control_client.h"
#include "dbs_error.h"
#include "record_json.h"

#define REPLY_TIMEOUT_MS (60 * 1000)
#define SEND_TIMEOUT_MS  (10 * 1000)
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

static void
set_actor(char *buf, size_t len)
{
	struct passwd *pw = getpwuid(getuid());

	if (pw != NULL && pw->pw_name != NULL)
		snprintf(buf, len, "cli:%s", pw->pw_name);
	else
		snprintf(buf, len, "cli:uid%ld", (long)getuid());
}

/* Say why call `k` to c->url got no usable reply. */
static void
say_failure(const struct ctl *c, const struct control_call *k)
{
	switch (k->stage) {
	case CONTROL_SOCKET:
		ctl_err("cannot set up the control socket%s%s",
		    k->err != 0 ? ": " : "",
		    k->err != 0 ? nng_strerror(k->err) : "");
		break;
	case CONTROL_DIAL:
		ctl_err("cannot reach databusd at %s: %s (is it running?)",
		    c->url, nng_strerror(k->err));
		break;
	case CONTROL_SEND:
		ctl_err("cannot send the request to databusd at %s: %s",
		    c->url, dbs_strerror(k->err));
		break;
	case CONTROL_TIMEOUT:
		ctl_err("no reply from databusd at %s within %d s", c->url,
		    REPLY_TIMEOUT_MS / 1000);
		break;
	case CONTROL_DROPPED:
		ctl_err("databusd at %s closed the connection before "
			"replying; the request may or may not have been done",
		    c->url);
		break;
	case CONTROL_UNDECODABLE:
	case CONTROL_MISMATCH:
		ctl_err("databusd at %s sent a reply that %s", c->url,
		    k->stage == CONTROL_UNDECODABLE
			? "does not decode"
			: "answers another request");
		break;
	default:
		ctl_err("cannot receive the reply from databusd at %s: %s",
		    c->url, nng_strerror(k->err));
	}
}

int
ctl_request(struct ctl *c, Dbs__ControlRequest *req, Dbs__ControlReply **out)
{
	Dbs__ControlReply *reply = NULL;
	char actor[300];
	struct control_call k = {.url = c->url,
	    .actor = actor,
	    .send_timeout_ms = SEND_TIMEOUT_MS,
	    .reply_timeout_ms = REPLY_TIMEOUT_MS};

	*out = NULL;
	set_actor(actor, sizeof(actor));
	if (control_call(&k, req, &reply) != DBS_OK) {
		say_failure(c, &k);
		return CTL_EXIT_FAIL;
	}
	if (reply->code != DBS_OK) {
		ctl_err("%s: %s", c->args->verb_name,
		    reply->message[0] != '\0' ? reply->message
					      : dbs_strerror(reply->code));
		dbs__control_reply__free_unpacked(reply, NULL);
		return CTL_EXIT_FAIL;
	}
	*out = reply;
	return CTL_EXIT_OK;
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
	char err[PATH_MAX + 512];
	int rc;

	if (c->st != NULL)
		return CTL_EXIT_OK;
	rc = store_open_data(
	    c->args->data_dir, STORE_RDONLY, NULL, &c->st, err, sizeof(err));
	if (rc != DBS_OK) {
		ctl_err("%s", err);
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
