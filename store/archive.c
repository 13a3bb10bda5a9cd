/*
 * archive.c — the streaming reader of JSON archives (see archive.h).
 *
 * The top level ({"format", "version", ..., "passengers": [...], "logs":
 * [...], "users": [...]}) is scanned here byte by byte; every element of
 * the arrays is handed to jansson, which reads it from our byte source one
 * byte per call and stops exactly at its closing brace
 * (JSON_DISABLE_EOF_CHECK), so the scan goes on where jansson stopped.
 * Top-level scalars other than strings are skipped here too: jansson reads
 * one byte past a number, which would be lost.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive.h"
#include "dbs_error.h"
#include "record_json.h"

struct rd {
	FILE *f;
	uint64_t off; /* bytes consumed */
	int back;     /* a byte pushed back, or -1 */
	int rc;
	char *err;
	size_t errlen;
	struct archive_info *info;
	int (*cb)(void *ctx, struct archive_item *it);
	void *ctx;
	bool header; /* format and version seen and accepted */
	char *buf;   /* the bytes of the record being read */
	size_t cap;
	unsigned char *in; /* read ahead from f */
	size_t in_pos, in_len;
};

#define IN_CAP (1u << 20)

static int
fail(struct rd *r, int rc, const char *fmt, ...)
{
	va_list ap;

	if (r->rc != DBS_OK)
		return r->rc;
	r->rc = rc;
	if (r->err != NULL && r->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(r->err, r->errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int
get(struct rd *r)
{
	int c;

	if (r->back >= 0) {
		c = r->back;
		r->back = -1;
	} else {
		if (r->in_pos == r->in_len) {
			r->in_pos = 0;
			r->in_len = fread(r->in, 1, IN_CAP, r->f);
			if (r->in_len == 0) {
				if (ferror(r->f))
					fail(r, DBS_EIO, "cannot read: %s",
					    strerror(errno));
				return -1;
			}
		}
		c = r->in[r->in_pos++];
	}
	r->off++;
	return c;
}

static void
unget(struct rd *r, int c)
{
	if (c >= 0) {
		r->back = c;
		r->off--;
	}
}

/* The next byte that is not white space. */
static int
next(struct rd *r)
{
	int c;

	while ((c = get(r)) >= 0 && isspace(c))
		;
	return c;
}

static size_t
feed(void *buf, size_t len, void *data)
{
	struct rd *r = data;
	int c;

	if (len == 0 || (c = get(r)) < 0)
		return 0;
	*(char *)buf = (char)c;
	return 1;
}

/* One JSON value (an object, array or string) from the stream. */
static json_t *
load(struct rd *r, const char *what)
{
	json_error_t je;
	uint64_t at = r->off;
	json_t *v;

	v = json_load_callback(
	    feed, r, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &je);
	if (v == NULL)
		fail(r, DBS_ECORRUPT,
		    "the archive does not parse in %s (byte %llu): %s", what,
		    (unsigned long long)at, je.text);
	return v;
}

/*
 * One record (a JSON object) of an array: its bytes are gathered up to
 * the brace that closes it (strings and escapes followed; a string's
 * plain bytes copied in runs from the read-ahead buffer), then parsed at
 * once — much faster than jansson reading through the byte callback.
 */
/* Room for `more` bytes after the n of the record's buffer. */
static bool
room(struct rd *r, size_t n, size_t more)
{
	size_t cap = r->cap ? r->cap : 1 << 16;
	char *g;

	while (n + more + 1 > cap)
		cap *= 2;
	if (cap == r->cap)
		return true;
	if ((g = realloc(r->buf, cap)) == NULL)
		return false;
	r->buf = g;
	r->cap = cap;
	return true;
}

/* Inside a string: take the bytes up to the next quote or backslash
 * straight from the read-ahead buffer. */
static size_t
string_run(struct rd *r, size_t n)
{
	const unsigned char *p, *q, *e;
	size_t k;

	while (r->back < 0 && r->in_pos < r->in_len) {
		p = q = r->in + r->in_pos;
		e = r->in + r->in_len;
		while (q < e && *q != '"' && *q != '\\')
			q++;
		if ((k = (size_t)(q - p)) == 0 || !room(r, n, k))
			break;
		memcpy(r->buf + n, p, k);
		n += k;
		r->in_pos += k;
		r->off += k;
	}
	return n;
}

static json_t *
load_record(struct rd *r, const char *what)
{
	uint64_t at = r->off;
	json_error_t je;
	size_t n = 0;
	int c, depth = 0;
	bool in_str = false, esc = false;
	json_t *v;

	do {
		if ((c = get(r)) < 0)
			break;
		if (!room(r, n, 1)) {
			fail(r, DBS_ENOMEM, "out of memory in %s", what);
			return NULL;
		}
		r->buf[n++] = (char)c;
		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
			if (in_str && !esc)
				n = string_run(r, n);
		} else if (c == '"') {
			in_str = true;
			n = string_run(r, n);
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			depth--;
		} else if (n == 1 && !isspace(c)) {
			break; /* not an object: jansson says what it is */
		}
	} while (depth > 0 || (n == 1 && isspace(c)) || in_str);
	if (c < 0 && r->rc != DBS_OK)
		return NULL;
	v = json_loadb(r->buf, n, 0, &je);
	if (v == NULL)
		fail(r, DBS_ECORRUPT,
		    "the archive does not parse in %s (byte %llu): %s", what,
		    (unsigned long long)(at + (uint64_t)je.position),
		    c < 0 ? "premature end of input" : je.text);
	return v;
}

/* ----------------------------------------------------- record decoding */

static int64_t
time_ms(json_t *v)
{
	const char *s = json_string_value(v);
	struct tm tm = {0};
	int ms = 0, n = 0;

	if (s == NULL)
		return json_is_null(v) || v == NULL ? 0 : -1;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year,
		&tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
		&ms, &n) != 7 ||
	    s[n] != '\0')
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

static char *
str(json_t *o, const char *key, bool required, bool *bad)
{
	json_t *v = json_object_get(o, key);
	char *s;

	if (v == NULL || json_is_null(v)) {
		*bad |= required;
		return strdup("");
	}
	if (!json_is_string(v)) {
		*bad = true;
		return strdup("");
	}
	s = strdup(json_string_value(v));
	if (s == NULL)
		*bad = true;
	return s;
}

static uint64_t
u64(json_t *o, const char *key, bool *bad)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		*bad = true;
		return 0;
	}
	return (uint64_t)json_integer_value(v);
}

static int64_t
when(json_t *o, const char *key, bool *bad)
{
	int64_t t = time_ms(json_object_get(o, key));

	if (t < 0) {
		*bad = true;
		return 0;
	}
	return t;
}

static int
kind_parse(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (s != NULL && strcmp(s, rj_step_kind_name(i)) == 0)
			return i;
	return -1;
}

static Dbs__Step *
step(json_t *o, bool *bad)
{
	Dbs__Step *s = calloc(1, sizeof(*s));
	int k, st;

	if (s == NULL || !json_is_object(o)) {
		*bad = true;
		free(s);
		return NULL;
	}
	dbs__step__init(s);
	s->name = str(o, "name", true, bad);
	s->error = str(o, "error", false, bad);
	k = kind_parse(json_string_value(json_object_get(o, "kind")));
	st = rj_step_state_parse(
	    json_string_value(json_object_get(o, "state")));
	*bad |= k < 0 || st < 0;
	s->kind = k < 0 ? 0 : k;
	s->state = st < 0 ? 0 : st;
	s->attempts = (uint32_t)u64(o, "attempts", bad);
	s->updated_ms = when(o, "updated", bad);
	return s;
}

static Dbs__Attachment *
attachment(json_t *o, bool *bad, bool *missing)
{
	const char *b64 = json_string_value(json_object_get(o, "base64"));
	Dbs__Attachment *a;
	size_t len = b64 != NULL ? strlen(b64) : 0, n = 0;

	*missing = false;
	if (!json_is_object(o)) {
		*bad = true;
		return NULL;
	}
	if (b64 == NULL) {
		/* Marked missing by the export: the body never left. */
		*missing = json_is_null(json_object_get(o, "base64"));
		*bad |= !*missing;
		return NULL;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		*bad = true;
		return NULL;
	}
	dbs__attachment__init(a);
	a->name = str(o, "name", true, bad);
	a->content_type = str(o, "content_type", false, bad);
	a->data.data = malloc(len / 4 * 3 + 3);
	if (a->data.data == NULL ||
	    sodium_base642bin(a->data.data, len / 4 * 3 + 3, b64, len, NULL,
		&n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
		*bad = true;
	a->data.len = n;
	return a;
}

static void
metadata(Dbs__Passenger *p, json_t *o, bool *bad)
{
	const char *k;
	json_t *v;
	size_t i = 0;

	if (o == NULL)
		return;
	if (!json_is_object(o)) {
		*bad = true;
		return;
	}
	p->metadata = calloc(json_object_size(o) + 1, sizeof(*p->metadata));
	if (p->metadata == NULL) {
		*bad = true;
		return;
	}
	json_object_foreach(o, k, v)
	{
		Dbs__KeyValue *kv = calloc(1, sizeof(*kv));

		if (kv == NULL || !json_is_string(v)) {
			free(kv);
			*bad = true;
			return;
		}
		dbs__key_value__init(kv);
		kv->key = strdup(k);
		kv->value = strdup(json_string_value(v));
		p->metadata[i++] = kv;
		p->n_metadata = i;
		*bad |= kv->key == NULL || kv->value == NULL;
	}
}

void
archive_item_free(struct archive_item *it)
{
	for (size_t i = 0; i < it->n_atts; i++)
		dbs__attachment__free_unpacked(it->atts[i], NULL);
	free(it->atts);
	if (it->p != NULL)
		dbs__passenger__free_unpacked(it->p, NULL);
	if (it->u != NULL)
		dbs__user__free_unpacked(it->u, NULL);
	if (it->log != NULL)
		dbs__log__free_unpacked(it->log, NULL);
	*it = (struct archive_item){.kind = it->kind};
}

static void
passenger_steps(Dbs__Passenger *p, json_t *steps, bool *bad)
{
	json_t *v;
	size_t i;

	if (!json_is_array(steps)) {
		*bad = true;
		return;
	}
	p->steps = calloc(json_array_size(steps) + 1, sizeof(*p->steps));
	if (p->steps == NULL) {
		*bad = true;
		return;
	}
	json_array_foreach(steps, i, v)
	{
		if ((p->steps[i] = step(v, bad)) == NULL)
			return;
		p->n_steps = i + 1;
	}
}

static void
passenger_atts(struct archive_item *it, json_t *data, bool *bad)
{
	json_t *v;
	size_t i;
	bool missing;

	if (data == NULL)
		return;
	if (!json_is_array(data)) {
		*bad = true;
		return;
	}
	it->atts = calloc(json_array_size(data) + 1, sizeof(*it->atts));
	if (it->atts == NULL) {
		*bad = true;
		return;
	}
	json_array_foreach(data, i, v)
	{
		Dbs__Attachment *a = attachment(v, bad, &missing);

		if (a != NULL)
			it->atts[it->n_atts++] = a;
		it->missing += missing;
	}
}

/* A passenger object of the archive as a record; false when malformed. */
static bool
passenger(struct archive_item *it, json_t *o)
{
	Dbs__Passenger *p = calloc(1, sizeof(*p));
	bool bad = !json_is_object(o);
	int st;

	if ((it->p = p) == NULL)
		return false;
	dbs__passenger__init(p);
	p->id = u64(o, "id", &bad);
	p->client = str(o, "client", true, &bad);
	p->definition = str(o, "definition", true, &bad);
	p->puller = str(o, "puller", true, &bad);
	p->external_id = str(o, "external_id", true, &bad);
	st = rj_state_parse(json_string_value(json_object_get(o, "state")));
	bad |= st < 0;
	p->state = st < 0 ? 0 : st;
	passenger_steps(p, json_object_get(o, "steps"), &bad);
	metadata(p, json_object_get(o, "metadata"), &bad);
	p->created_ms = when(o, "created", &bad);
	p->updated_ms = when(o, "updated", &bad);
	p->next_attempt_ms = when(o, "next_attempt", &bad);
	p->done_ms = when(o, "done", &bad);
	p->pulled_us = when(o, "pulled", &bad) * 1000;
	p->attempts = (uint32_t)u64(o, "attempts", &bad);
	p->last_drive = u64(o, "last_drive", &bad);
	p->last_error = str(o, "last_error", false, &bad);
	p->source_ref = str(o, "source_ref", false, &bad);
	passenger_atts(it, json_object_get(o, "attachments_data"), &bad);
	return !bad && p->external_id[0] != '\0';
}

static bool
user(struct archive_item *it, json_t *o)
{
	Dbs__User *u = calloc(1, sizeof(*u));
	bool bad = !json_is_object(o);
	int role;

	if ((it->u = u) == NULL)
		return false;
	dbs__user__init(u);
	u->client = str(o, "client", true, &bad);
	u->username = str(o, "username", true, &bad);
	u->password_hash = str(o, "password_hash", false, &bad);
	role = rj_role_parse(json_string_value(json_object_get(o, "role")));
	bad |= role < 0;
	u->role = role < 0 ? 0 : role;
	u->created_ms = when(o, "created", &bad);
	u->updated_ms = when(o, "updated", &bad);
	if (u->password_hash[0] != '\0' &&
	    strncmp(u->password_hash, "$argon2id$", 10) != 0)
		bad = true;
	return !bad && u->client[0] != '\0' && u->username[0] != '\0';
}

static int
level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (s != NULL && strcmp(s, rj_log_level_name(i)) == 0)
			return i;
	return -1;
}

static Dbs__LogEntry *
log_entry(json_t *o, bool *bad)
{
	Dbs__LogEntry *e = calloc(1, sizeof(*e));
	int lv;

	if (e == NULL || !json_is_object(o)) {
		*bad = true;
		free(e);
		return NULL;
	}
	dbs__log_entry__init(e);
	e->time_ms = when(o, "time", bad);
	lv = level_parse(json_string_value(json_object_get(o, "level")));
	*bad |= lv < 0;
	e->level = lv < 0 ? 0 : lv;
	e->message = str(o, "message", false, bad);
	e->passenger_id = u64(o, "passenger_id", bad);
	e->step = str(o, "step", false, bad);
	return e;
}

/* A log object of the archive (with its entries); false when malformed. */
static bool
log_record(struct archive_item *it, json_t *o)
{
	Dbs__Log *l = calloc(1, sizeof(*l));
	json_t *entries = json_object_get(o, "entries"), *v;
	bool bad = !json_is_object(o);
	size_t i;
	int lv;

	if ((it->log = l) == NULL)
		return false;
	dbs__log__init(l);
	l->id = u64(o, "id", &bad);
	l->client = str(o, "client", true, &bad);
	l->definition = str(o, "definition", false, &bad);
	l->drive_id = u64(o, "drive_id", &bad);
	l->started_ms = when(o, "started", &bad);
	l->finished_ms = when(o, "finished", &bad);
	lv = level_parse(json_string_value(json_object_get(o, "level")));
	bad |= lv < 0;
	l->level = lv < 0 ? 0 : lv;
	l->outcome = str(o, "outcome", false, &bad);
	l->pulled = (uint32_t)u64(o, "pulled", &bad);
	l->seated = (uint32_t)u64(o, "seated", &bad);
	l->completed = (uint32_t)u64(o, "completed", &bad);
	l->failed = (uint32_t)u64(o, "failed", &bad);
	l->dead = (uint32_t)u64(o, "dead", &bad);
	l->dropped_entries = (uint32_t)u64(o, "dropped_entries", &bad);
	if (entries != NULL && !json_is_array(entries))
		return false;
	l->entries = calloc(json_array_size(entries) + 1, sizeof(*l->entries));
	if (l->entries == NULL)
		return false;
	json_array_foreach(entries, i, v)
	{
		if ((l->entries[i] = log_entry(v, &bad)) == NULL)
			return false;
		l->n_entries = i + 1;
	}
	return !bad;
}

/* ------------------------------------------------------------ the scan */

static int
element(struct rd *r, const char *key, uint64_t n)
{
	struct archive_item it = {0};
	char what[64];
	json_t *v;
	bool ok;
	int rc;

	snprintf(what, sizeof(what), "%s[%llu]", key, (unsigned long long)n);
	if ((v = load_record(r, what)) == NULL)
		return r->rc;
	it.kind = strcmp(key, "users") == 0  ? ARCHIVE_USER
		  : strcmp(key, "logs") == 0 ? ARCHIVE_LOG
					     : ARCHIVE_PASSENGER;
	ok = it.kind == ARCHIVE_USER  ? user(&it, v)
	     : it.kind == ARCHIVE_LOG ? log_record(&it, v)
				      : passenger(&it, v);
	json_decref(v);
	if (!ok) {
		archive_item_free(&it);
		return fail(r, DBS_ECORRUPT,
		    "%s (ending at byte %llu) is not a valid %s", what,
		    (unsigned long long)r->off,
		    it.kind == ARCHIVE_USER  ? "user"
		    : it.kind == ARCHIVE_LOG ? "log"
					     : "passenger");
	}
	if (it.kind == ARCHIVE_USER) {
		r->info->users++;
	} else if (it.kind == ARCHIVE_LOG) {
		r->info->logs++;
	} else {
		r->info->passengers++;
		r->info->attachments += it.n_atts;
		r->info->missing += it.missing;
	}
	rc = r->cb != NULL ? r->cb(r->ctx, &it) : 0;
	archive_item_free(&it);
	if (rc != 0 && r->rc == DBS_OK)
		r->rc = rc;
	return r->rc;
}

/* The elements of a record array, streamed one by one. */
static int
records(struct rd *r, const char *key)
{
	uint64_t n = 0;
	int c;

	if (!r->header)
		return fail(r, DBS_EINVAL,
		    "not a Databus archive: \"%s\" before \"format\" and "
		    "\"version\"",
		    key);
	if (next(r) != '[')
		return fail(r, DBS_ECORRUPT,
		    "\"%s\" is not an array (byte %llu)", key,
		    (unsigned long long)r->off);
	if ((c = next(r)) == ']')
		return DBS_OK;
	unget(r, c);
	for (;;) {
		if (element(r, key, n++) != DBS_OK)
			return r->rc;
		c = next(r);
		if (c == ']')
			return DBS_OK;
		if (c != ',')
			return fail(r, DBS_ECORRUPT,
			    "the archive is cut or damaged in \"%s\" after "
			    "element %llu (byte %llu)",
			    key, (unsigned long long)n - 1,
			    (unsigned long long)r->off);
	}
}

/* A top-level number or literal, up to the next delimiter. */
static int
scalar(struct rd *r, char *buf, size_t len)
{
	size_t n = 0;
	int c;

	c = next(r);
	while (c >= 0 && c != ',' && c != '}' && !isspace(c)) {
		if (n + 1 < len)
			buf[n++] = (char)c;
		c = get(r);
	}
	buf[n] = '\0';
	unget(r, c);
	return n > 0 ? DBS_OK : fail(r, DBS_ECORRUPT, "a value is missing");
}

static int
value(struct rd *r, const char *key, const char **format)
{
	char buf[32], *end;
	json_t *v;
	long ver;
	int c = next(r);

	unget(r, c);
	if (strcmp(key, "passengers") == 0 || strcmp(key, "logs") == 0 ||
	    strcmp(key, "users") == 0)
		return records(r, key);
	if (c != '"' && c != '{' && c != '[') {
		if (scalar(r, buf, sizeof(buf)) != DBS_OK)
			return r->rc;
		if (strcmp(key, "version") != 0)
			return DBS_OK;
		ver = strtol(buf, &end, 10);
		if (*end != '\0' || *format == NULL)
			return fail(r, DBS_EINVAL,
			    "not a Databus archive (\"format\": "
			    "\"databus-export\" must come first)");
		if (ver < ARCHIVE_VERSION_MIN || ver > ARCHIVE_VERSION_MAX)
			return fail(r, DBS_EINVAL,
			    "archive format version %s is not read by this "
			    "version of Databus (it reads versions %d to "
			    "%d)%s",
			    buf, ARCHIVE_VERSION_MIN, ARCHIVE_VERSION_MAX,
			    ver > ARCHIVE_VERSION_MAX
				? "; import it with a newer databusctl"
				: "");
		r->info->version = (int)ver;
		r->header = true;
		return DBS_OK;
	}
	if ((v = load(r, key)) == NULL)
		return r->rc;
	if (strcmp(key, "format") == 0) {
		if (!json_is_string(v) ||
		    strcmp(json_string_value(v), "databus-export") != 0) {
			json_decref(v);
			return fail(r, DBS_EINVAL,
			    "not a Databus archive (\"format\" is not "
			    "\"databus-export\")");
		}
		*format = "databus-export";
	}
	json_decref(v);
	return DBS_OK;
}

static int
scan(struct rd *r)
{
	const char *format = NULL;
	json_t *k;
	int c;

	if (next(r) != '{')
		return fail(r, DBS_EINVAL,
		    "not a Databus archive (not a JSON object)");
	for (;;) {
		if ((c = next(r)) != '"')
			return fail(r, DBS_ECORRUPT,
			    "the archive is cut or damaged at byte %llu",
			    (unsigned long long)r->off);
		unget(r, c);
		if ((k = load(r, "a key")) == NULL)
			return r->rc;
		if (next(r) != ':') {
			json_decref(k);
			return fail(r, DBS_ECORRUPT,
			    "the archive is damaged at byte %llu",
			    (unsigned long long)r->off);
		}
		value(r, json_string_value(k), &format);
		json_decref(k);
		if (r->rc != DBS_OK)
			return r->rc;
		c = next(r);
		if (c == '}')
			break;
		if (c != ',')
			return fail(r, DBS_ECORRUPT,
			    "the archive is cut or damaged at byte %llu",
			    (unsigned long long)r->off);
	}
	if (!r->header)
		return fail(r, DBS_EINVAL,
		    "not a Databus archive (no \"format\" and \"version\")");
	if (next(r) >= 0)
		return fail(r, DBS_ECORRUPT,
		    "the archive has trailing bytes after its end (byte %llu)",
		    (unsigned long long)r->off);
	return r->rc;
}

int
archive_read(FILE *f, int (*cb)(void *ctx, struct archive_item *it), void *ctx,
    struct archive_info *info, char *err, size_t errlen)
{
	struct rd r = {.f = f,
	    .back = -1,
	    .err = err,
	    .errlen = errlen,
	    .info = info,
	    .cb = cb,
	    .ctx = ctx};
	int rc;

	memset(info, 0, sizeof(*info));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((r.in = malloc(IN_CAP)) == NULL)
		return DBS_ENOMEM;
	rc = scan(&r);
	free(r.buf);
	free(r.in);
	return rc;
}
