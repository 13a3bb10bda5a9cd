/*
 * json_writer.c — JSON text written straight into one growable buffer (see
 * json_writer.h).
 *
 * Strings are escaped and their UTF-8 repaired in one pass over the bytes:
 * runs of plain ASCII are copied as they are, control characters and the
 * two JSON specials are escaped as jansson escapes them, valid multi-byte
 * sequences are copied whole, and every byte that starts no valid sequence
 * becomes U+FFFD (the rule of record_json.c). The buffer is reserved for
 * the worst case of a string (6 bytes per input byte, for "\u00XX") before
 * the pass, so the inner loop never checks room.
 */
#include "json_writer.h"

#include <stdlib.h>
#include <string.h>

#include "record_json.h"
#include "utf8.h"

#define JW_MIN_CAP 4096

void
jw_init(struct jw *w)
{
	memset(w, 0, sizeof(*w));
}

void
jw_reset(struct jw *w)
{
	w->len = 0;
	w->failed = false;
	w->comma = false;
	if (w->buf != NULL)
		w->buf[0] = '\0';
}

void
jw_trim(struct jw *w, size_t keep)
{
	if (w->cap > keep) {
		free(w->buf);
		w->buf = NULL;
		w->cap = 0;
	}
	jw_reset(w);
}

void
jw_free(struct jw *w)
{
	free(w->buf);
	jw_init(w);
}

bool
jw_ok(const struct jw *w)
{
	return !w->failed;
}

static bool grow(struct jw *w, size_t more);

/* Room for `more` bytes plus the NUL; false (and the sticky error) when
 * memory runs out. The common case is one comparison, inlined. */
static inline bool
reserve(struct jw *w, size_t more)
{
	if (!w->failed && more < SIZE_MAX / 2 && w->len + more < w->cap)
		return true;
	return grow(w, more);
}

static bool
grow(struct jw *w, size_t more)
{
	size_t cap;
	char *b;

	if (w->failed)
		return false;
	if (more >= SIZE_MAX / 4 - w->len) {
		w->failed = true;
		return false;
	}
	cap = w->cap < JW_MIN_CAP ? JW_MIN_CAP : w->cap;
	while (cap <= w->len + more)
		cap *= 2;
	if ((b = realloc(w->buf, cap)) == NULL) {
		w->failed = true;
		return false;
	}
	w->buf = b;
	w->cap = cap;
	return true;
}

static inline void
put(struct jw *w, const char *s, size_t n)
{
	if (!reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

/* A comma when the previous thing written at this level was a value. */
static void
value_start(struct jw *w)
{
	if (w->comma)
		put(w, ",", 1);
}

void
jw_obj_begin(struct jw *w)
{
	value_start(w);
	put(w, "{", 1);
	w->comma = false;
}

void
jw_obj_end(struct jw *w)
{
	put(w, "}", 1);
	w->comma = true;
}

void
jw_arr_begin(struct jw *w)
{
	value_start(w);
	put(w, "[", 1);
	w->comma = false;
}

void
jw_arr_end(struct jw *w)
{
	put(w, "]", 1);
	w->comma = true;
}

/* ------------------------------------------------------------- strings */

/* Bytes copied as they are: printable ASCII except '"' and '\\'. */
static inline bool
plain(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

static void
put_string(struct jw *w, const char *str, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, k;
	char *o;

	if (n > (SIZE_MAX - 16) / 6 || !reserve(w, 6 * n + 2)) {
		w->failed = true;
		return;
	}
	o = w->buf + w->len;
	*o++ = '"';
	while (i < n) {
		unsigned char c = s[i];

		if (plain(c)) {
			size_t j = i + 1;

			while (j < n && plain(s[j]))
				j++;
			memcpy(o, s + i, j - i);
			o += j - i;
			i = j;
			continue;
		}
		if (c < 0x80) {
			*o++ = '\\';
			switch (c) {
			case '"':
			case '\\':
				*o++ = (char)c;
				break;
			case '\b':
				*o++ = 'b';
				break;
			case '\f':
				*o++ = 'f';
				break;
			case '\n':
				*o++ = 'n';
				break;
			case '\r':
				*o++ = 'r';
				break;
			case '\t':
				*o++ = 't';
				break;
			default:
				memcpy(o, "u00", 3);
				o[3] = hex[c >> 4];
				o[4] = hex[c & 15];
				o += 5;
			}
			i++;
			continue;
		}
		o += dbs_utf8_put(o, s + i, n - i, &k);
		i += k;
	}
	*o++ = '"';
	*o = '\0';
	w->len = (size_t)(o - w->buf);
}

/* A member name known to need no escaping (a literal of this file). */
#define KEY(w, lit) key_plain((w), "\"" lit "\":", sizeof(lit) + 2)

static void
key_plain(struct jw *w, const char *quoted, size_t n)
{
	char *o;

	if (!reserve(w, n + 1))
		return;
	o = w->buf + w->len;
	if (w->comma)
		*o++ = ',';
	memcpy(o, quoted, n);
	o[n] = '\0';
	w->len = (size_t)(o + n - w->buf);
	w->comma = false;
}

void
jw_key(struct jw *w, const char *key)
{
	value_start(w);
	put_string(w, key, strlen(key));
	put(w, ":", 1);
	w->comma = false;
}

void
jw_strn(struct jw *w, const char *s, size_t len)
{
	value_start(w);
	put_string(w, s, len);
	w->comma = true;
}

void
jw_str(struct jw *w, const char *s)
{
	if (s == NULL)
		s = "";
	jw_strn(w, s, strlen(s));
}

/* ------------------------------------------------------------- numbers */

void
jw_u64(struct jw *w, uint64_t v)
{
	char b[24], *p = b + sizeof(b);

	if (v > INT64_MAX)
		v = INT64_MAX;
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	value_start(w);
	put(w, p, (size_t)(b + sizeof(b) - p));
	w->comma = true;
}

void
jw_i64(struct jw *w, int64_t v)
{
	char b[24], *p = b + sizeof(b);
	/* The magnitude as unsigned, so that INT64_MIN has one too. */
	uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + m % 10);
		m /= 10;
	} while (m != 0);
	if (v < 0)
		*--p = '-';
	value_start(w);
	put(w, p, (size_t)(b + sizeof(b) - p));
	w->comma = true;
}

void
jw_null(struct jw *w)
{
	value_start(w);
	put(w, "null", 4);
	w->comma = true;
}

void
jw_bool(struct jw *w, bool v)
{
	value_start(w);
	if (v)
		put(w, "true", 4);
	else
		put(w, "false", 5);
	w->comma = true;
}

/* --------------------------------------------------------------- times */

static char *
digits(char *o, unsigned v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--) {
		o[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return o + n;
}

static size_t
time_iso(int64_t ms, char buf[JW_TIME_LEN], struct jw *cache)
{
	/* Floor divisions, so that times before 1970 count forward. */
	int64_t sec = ms / 1000, frac = ms % 1000, days, sod, z, era, y;
	unsigned doe, yoe, doy, mp, d, m;
	char *o = buf;

	if (frac < 0) {
		frac += 1000;
		sec--;
	}
	days = sec / 86400;
	sod = sec % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	if (cache != NULL && cache->tday_len != 0 && cache->tday == days) {
		memcpy(o, cache->tdate, 10);
		o += 10;
		goto clock;
	}
	/* Howard Hinnant's civil_from_days (proleptic Gregorian). */
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	if (m <= 2)
		y++;
	if (y < 0 || y > 9999) {
		buf[0] = '\0';
		return 0;
	}
	o = digits(o, (unsigned)y, 4);
	*o++ = '-';
	o = digits(o, m, 2);
	*o++ = '-';
	o = digits(o, d, 2);
	if (cache != NULL) {
		cache->tday = days;
		cache->tday_len = 10;
		memcpy(cache->tdate, buf, 10);
	}
clock:
	*o++ = 'T';
	o = digits(o, (unsigned)(sod / 3600), 2);
	*o++ = ':';
	o = digits(o, (unsigned)(sod / 60 % 60), 2);
	*o++ = ':';
	o = digits(o, (unsigned)(sod % 60), 2);
	*o++ = '.';
	o = digits(o, (unsigned)frac, 3);
	*o++ = 'Z';
	*o = '\0';
	return (size_t)(o - buf);
}

size_t
jw_time_iso(int64_t ms, char buf[JW_TIME_LEN])
{
	return time_iso(ms, buf, NULL);
}

void
jw_time(struct jw *w, int64_t ms)
{
	char b[JW_TIME_LEN];
	size_t n;

	/* The times of a page are often in the same second: reuse the
	 * calendar part and write only the milliseconds. (tsec_ms is within
	 * years 0..9999, so tsec_ms + 1000 cannot overflow.) */
	if (ms != 0 && w->tsec_len != 0 && ms >= w->tsec_ms &&
	    ms < w->tsec_ms + 1000) {
		unsigned f = (unsigned)(ms - w->tsec_ms);

		memcpy(b, w->tsec, w->tsec_len);
		n = w->tsec_len;
		b[n++] = (char)('0' + f / 100);
		b[n++] = (char)('0' + f / 10 % 10);
		b[n++] = (char)('0' + f % 10);
		b[n++] = 'Z';
	} else if (ms == 0 || (n = time_iso(ms, b, w)) == 0) {
		jw_null(w);
		return;
	} else {
		/* "YYYY-MM-DDTHH:MM:SS." and the start of that second. */
		w->tsec_len = n - 4;
		memcpy(w->tsec, b, w->tsec_len);
		w->tsec_ms = ms - (b[n - 4] - '0') * 100 -
			     (b[n - 3] - '0') * 10 - (b[n - 2] - '0');
	}
	value_start(w);
	if (reserve(w, n + 2)) {
		char *o = w->buf + w->len;

		*o++ = '"';
		memcpy(o, b, n);
		o += n;
		*o++ = '"';
		*o = '\0';
		w->len = (size_t)(o - w->buf);
	}
	w->comma = true;
}

/* ------------------------------------------------------------ records */

static int
cmp_key_index(const void *a, const void *b, void *keys)
{
	const char *const *k = keys;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(k[x], k[y]);

	if (c != 0)
		return c;
	return x < y ? -1 : x > y;
}

/*
 * The metadata object. A jansson object keeps one member per key: a key
 * that repeats stays where it first appeared and takes the last value
 * (json_object_set_new replaces in place). pick[i] is the index whose
 * value member i shows, or n when member i is a repeat and is left out.
 * Small maps are compared pairwise; large ones (drivers may send many)
 * are sorted by (key, index) so that the cost stays n log n.
 */
static void
write_metadata(struct jw *w, Dbs__KeyValue *const *kv, size_t n)
{
	const char *stack_keys[16];
	size_t stack_pick[16];
	const char **keys = stack_keys;
	size_t *pick = stack_pick, *idx = NULL, i, j;
	bool repaired = false;

	jw_obj_begin(w);
	if (n == 0) {
		jw_obj_end(w);
		return;
	}
	if (n > 16) {
		keys = malloc(n * sizeof(*keys));
		pick = malloc(n * sizeof(*pick));
		idx = malloc(n * sizeof(*idx));
		if (keys == NULL || pick == NULL || idx == NULL) {
			w->failed = true;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		keys[i] = kv[i]->key != NULL ? kv[i]->key : "";
		if (!dbs_utf8_valid(keys[i], strlen(keys[i])))
			repaired = true;
	}
	if (repaired) {
		for (i = 0; i < n; i++) {
			char *c = dbs_utf8_repair(keys[i]);

			if (c == NULL) {
				for (j = 0; j < i; j++)
					free((char *)keys[j]);
				w->failed = true;
				repaired = false;
				goto out;
			}
			keys[i] = c;
		}
	}
	if (n <= 16) {
		for (i = 0; i < n; i++) {
			pick[i] = i;
			for (j = 0; j < i; j++)
				if (pick[j] != n &&
				    strcmp(keys[j], keys[i]) == 0)
					break;
			if (j < i) {
				pick[j] = i; /* the later value wins */
				pick[i] = n;
			}
		}
	} else {
		for (i = 0; i < n; i++)
			idx[i] = i;
		qsort_r(idx, n, sizeof(*idx), cmp_key_index, keys);
		for (i = 0; i < n; i = j) {
			for (j = i + 1;
			     j < n && strcmp(keys[idx[i]], keys[idx[j]]) == 0;
			     j++)
				pick[idx[j]] = n;
			pick[idx[i]] = idx[j - 1];
		}
	}
	for (i = 0; i < n; i++) {
		if (pick[i] == n)
			continue;
		jw_key(w, keys[i]);
		jw_str(w, kv[pick[i]]->value);
	}
out:
	if (repaired)
		for (i = 0; i < n; i++)
			free((char *)keys[i]);
	if (keys != stack_keys)
		free(keys);
	if (pick != stack_pick)
		free(pick);
	free(idx);
	jw_obj_end(w);
}

void
jw_passenger(struct jw *w, const Dbs__Passenger *p)
{
	size_t i;

	if (p == NULL) {
		jw_null(w);
		return;
	}
	jw_obj_begin(w);
	KEY(w, "id");
	jw_u64(w, p->id);
	KEY(w, "client");
	jw_str(w, p->client);
	KEY(w, "definition");
	jw_str(w, p->definition);
	KEY(w, "puller");
	jw_str(w, p->puller);
	KEY(w, "external_id");
	jw_str(w, p->external_id);
	KEY(w, "state");
	jw_str(w, rj_state_name(p->state));
	KEY(w, "steps");
	jw_arr_begin(w);
	for (i = 0; i < p->n_steps; i++) {
		const Dbs__Step *s = p->steps[i];

		if (s == NULL) {
			jw_null(w);
			continue;
		}
		jw_obj_begin(w);
		KEY(w, "name");
		jw_str(w, s->name);
		KEY(w, "kind");
		jw_str(w, rj_step_kind_name(s->kind));
		KEY(w, "state");
		jw_str(w, rj_step_state_name(s->state));
		KEY(w, "attempts");
		jw_u64(w, s->attempts);
		KEY(w, "updated");
		jw_time(w, s->updated_ms);
		KEY(w, "error");
		jw_str(w, s->error);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	KEY(w, "attachments");
	jw_arr_begin(w);
	for (i = 0; i < p->n_attachments; i++) {
		const Dbs__AttachmentMeta *m = p->attachments[i];

		jw_obj_begin(w);
		KEY(w, "name");
		jw_str(w, m->name);
		KEY(w, "size");
		jw_u64(w, m->size);
		KEY(w, "content_type");
		jw_str(w, m->content_type);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	KEY(w, "metadata");
	write_metadata(w, p->metadata, p->n_metadata);
	KEY(w, "created");
	jw_time(w, p->created_ms);
	KEY(w, "updated");
	jw_time(w, p->updated_ms);
	KEY(w, "next_attempt");
	jw_time(w, p->next_attempt_ms);
	KEY(w, "done");
	jw_time(w, p->done_ms);
	/* pulled_us is in microseconds (the worker's clock). */
	KEY(w, "pulled");
	jw_time(w, p->pulled_us / 1000);
	KEY(w, "attempts");
	jw_u64(w, p->attempts);
	KEY(w, "last_drive");
	jw_u64(w, p->last_drive);
	KEY(w, "last_error");
	jw_str(w, p->last_error);
	jw_obj_end(w);
}
