/*
 * history.c — the rings behind the web UI's charts (history.h).
 *
 * Every series is two rings: 1,440 one-minute points and 720 one-hour
 * points, each slot standing for the wall-clock minute (hour) whose
 * number modulo the ring's size it is. A ring remembers the newest period
 * it holds; moving it forward clears the slots of the periods skipped, so
 * a ring is never scanned to be kept up, and reading a period older than
 * the ring reaches answers an empty point. Adding a value adds it to the
 * current minute and the current hour at once: there is no roll-up step
 * that could be missed, and the current hour is always as full as its
 * minutes. A clock that steps back adds into the newest period.
 *
 * Definitions are kept in an array sorted by client and definition
 * (binary search); one is added at its first drive that moved anything,
 * so that the thousand idle definitions of a big host cost nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbs_error.h"
#include "history.h"

#define MINUTE_MS (60 * 1000LL)
#define HOUR_MS   (60 * MINUTE_MS)

/* One point of a definition; counts saturate at UINT32_MAX. pending is
 * the queue depth after the last drive that ended in the point (a point
 * without drives has no sample). */
struct dpoint {
	uint32_t done, failed, dead, pending, drives;
	uint32_t drive_ms_sum, drive_ms_max;
};

/* One point of the system. used_bytes is the last sample (0: none). */
struct spoint {
	uint64_t used_bytes, commits, commit_us_sum, commit_us_max;
};

struct ddef {
	char *client, *definition;
	int64_t last_min, last_hour; /* newest period held, -1: none */
	struct dpoint min[HISTORY_MINUTES], hour[HISTORY_HOURS];
};

struct history {
	struct ddef **defs; /* sorted by client, then definition */
	size_t n_defs, cap_defs;
	int64_t sys_last_min, sys_last_hour;
	struct spoint sys_min[HISTORY_MINUTES], sys_hour[HISTORY_HOURS];
};

struct history *
history_new(void)
{
	struct history *h = calloc(1, sizeof(*h));

	if (h != NULL)
		h->sys_last_min = h->sys_last_hour = -1;
	return h;
}

static void
ddef_free(struct ddef *d)
{
	if (d == NULL)
		return;
	free(d->client);
	free(d->definition);
	free(d);
}

void
history_free(struct history *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n_defs; i++)
		ddef_free(h->defs[i]);
	free(h->defs);
	free(h);
}

int
history_range_parse(const char *s, enum history_range *r)
{
	if (s == NULL || s[0] == '\0' || strcmp(s, "24h") == 0)
		*r = HISTORY_24H;
	else if (strcmp(s, "30d") == 0)
		*r = HISTORY_30D;
	else
		return -1;
	return 0;
}

/* ------------------------------------------------------------ rings */

static void *
slot(void *base, size_t esize, size_t n, int64_t period)
{
	return (char *)base + (size_t)(period % (int64_t)n) * esize;
}

/* Move the ring's newest period up to `period`, clearing the periods in
 * between, and answer the slot to add into. */
static void *
ring_at(void *base, size_t esize, size_t n, int64_t *last, int64_t period)
{
	if (*last < 0 || period - *last >= (int64_t)n) {
		memset(base, 0, esize * n);
		*last = period;
	} else if (period > *last) {
		for (int64_t p = *last + 1; p <= period; p++)
			memset(slot(base, esize, n, p), 0, esize);
		*last = period;
	}
	return slot(base, esize, n, period < *last ? *last : period);
}

/* The slot of `period`, or NULL when the ring does not hold it. */
static const void *
ring_get(
    const void *base, size_t esize, size_t n, int64_t last, int64_t period)
{
	if (last < 0 || period > last || period <= last - (int64_t)n)
		return NULL;
	return slot((void *)base, esize, n, period);
}

static uint32_t
sat_add(uint32_t a, uint64_t b)
{
	return b >= UINT32_MAX - (uint64_t)a ? UINT32_MAX : a + (uint32_t)b;
}

static void
dpoint_add(struct dpoint *p, uint32_t done, uint32_t failed, uint32_t dead,
    uint64_t pending, uint64_t drive_ms)
{
	p->done = sat_add(p->done, done);
	p->failed = sat_add(p->failed, failed);
	p->dead = sat_add(p->dead, dead);
	p->drives = sat_add(p->drives, 1);
	p->pending = pending > UINT32_MAX ? UINT32_MAX : (uint32_t)pending;
	p->drive_ms_sum = sat_add(p->drive_ms_sum, drive_ms);
	if (drive_ms > p->drive_ms_max)
		p->drive_ms_max =
		    drive_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)drive_ms;
}

/* --------------------------------------------------------- definitions */

static int
def_cmp(const struct ddef *d, const char *client, const char *definition)
{
	int c = strcmp(d->client, client);

	return c != 0 ? c : strcmp(d->definition, definition);
}

/* The index of client/definition, or where it would go (*found false). */
static size_t
def_find(const struct history *h, const char *client, const char *definition,
    int *found)
{
	size_t lo = 0, hi = h->n_defs;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = def_cmp(h->defs[mid], client, definition);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Insert a new, empty definition at index `at`; NULL when out of memory.
 */
static struct ddef *
def_insert(
    struct history *h, size_t at, const char *client, const char *definition)
{
	struct ddef *d;

	if (h->n_defs == h->cap_defs) {
		size_t cap = h->cap_defs ? h->cap_defs * 2 : 16;
		struct ddef **nd = realloc(h->defs, cap * sizeof(*nd));

		if (nd == NULL)
			return NULL;
		h->defs = nd;
		h->cap_defs = cap;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->client = strdup(client)) == NULL ||
	    (d->definition = strdup(definition)) == NULL) {
		ddef_free(d);
		return NULL;
	}
	d->last_min = d->last_hour = -1;
	memmove(&h->defs[at + 1], &h->defs[at],
	    (h->n_defs - at) * sizeof(*h->defs));
	h->defs[at] = d;
	h->n_defs++;
	return d;
}

int
history_drive(struct history *h, const char *client, const char *definition,
    int64_t now_ms, uint32_t done, uint32_t failed, uint32_t dead,
    uint64_t pending, int64_t drive_ms)
{
	uint64_t ms = drive_ms < 0 ? 0 : (uint64_t)drive_ms;
	struct ddef *d;
	int found;
	size_t at = def_find(h, client, definition, &found);

	if (found)
		d = h->defs[at];
	else if (done == 0 && failed == 0 && dead == 0 && pending == 0)
		return DBS_OK; /* idle: nothing to remember */
	else if ((d = def_insert(h, at, client, definition)) == NULL)
		return DBS_ENOMEM;
	dpoint_add(ring_at(d->min, sizeof(struct dpoint), HISTORY_MINUTES,
		       &d->last_min, now_ms / MINUTE_MS),
	    done, failed, dead, pending, ms);
	dpoint_add(ring_at(d->hour, sizeof(struct dpoint), HISTORY_HOURS,
		       &d->last_hour, now_ms / HOUR_MS),
	    done, failed, dead, pending, ms);
	return DBS_OK;
}

void
history_retain(struct history *h,
    int (*keep)(void *ctx, const char *client, const char *definition),
    void *ctx)
{
	size_t j = 0;

	for (size_t i = 0; i < h->n_defs; i++) {
		if (keep(ctx, h->defs[i]->client, h->defs[i]->definition))
			h->defs[j++] = h->defs[i];
		else
			ddef_free(h->defs[i]);
	}
	h->n_defs = j;
}

size_t
history_definitions(const struct history *h)
{
	return h->n_defs;
}

size_t
history_bytes(const struct history *h)
{
	size_t n = sizeof(*h) + h->cap_defs * sizeof(*h->defs);

	for (size_t i = 0; i < h->n_defs; i++)
		n += sizeof(struct ddef) + strlen(h->defs[i]->client) + 1 +
		     strlen(h->defs[i]->definition) + 1;
	return n;
}

/* ------------------------------------------------------------- system */

static struct spoint *
sys_minute(struct history *h, int64_t now_ms)
{
	return ring_at(h->sys_min, sizeof(struct spoint), HISTORY_MINUTES,
	    &h->sys_last_min, now_ms / MINUTE_MS);
}

static struct spoint *
sys_hour(struct history *h, int64_t now_ms)
{
	return ring_at(h->sys_hour, sizeof(struct spoint), HISTORY_HOURS,
	    &h->sys_last_hour, now_ms / HOUR_MS);
}

void
history_commit(struct history *h, int64_t now_ms, int64_t elapsed_us)
{
	uint64_t us = elapsed_us < 0 ? 0 : (uint64_t)elapsed_us;
	struct spoint *p[2] = {sys_minute(h, now_ms), sys_hour(h, now_ms)};

	for (int i = 0; i < 2; i++) {
		p[i]->commits++;
		p[i]->commit_us_sum += us;
		if (us > p[i]->commit_us_max)
			p[i]->commit_us_max = us;
	}
}

void
history_store_size(struct history *h, int64_t now_ms, uint64_t used)
{
	if (used == 0)
		return;
	sys_minute(h, now_ms)->used_bytes = used;
	sys_hour(h, now_ms)->used_bytes = used;
}

/* ------------------------------------------------------------ reading */

void
history_series_free(struct history_series *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n_cols; i++)
		free(s->cols[i]);
	memset(s, 0, sizeof(*s));
}

/* Allocate n points of each named column. */
static int
series_init(struct history_series *s, enum history_range r, int64_t now_ms,
    const char *const *names, size_t n_cols)
{
	int64_t step = r == HISTORY_24H ? MINUTE_MS : HOUR_MS;
	size_t n = r == HISTORY_24H ? HISTORY_MINUTES : HISTORY_HOURS;

	memset(s, 0, sizeof(*s));
	s->step_ms = step;
	s->n = n;
	s->start_ms = (now_ms / step - (int64_t)n + 1) * step;
	for (size_t i = 0; i < n_cols; i++) {
		s->names[i] = names[i];
		if ((s->cols[i] = calloc(n, sizeof(uint64_t))) == NULL) {
			s->n_cols = i;
			history_series_free(s);
			return DBS_ENOMEM;
		}
		s->n_cols = i + 1;
	}
	return DBS_OK;
}

static const char *const def_names[] = {"done", "failed", "dead", "pending",
    "drives", "drive_ms_mean", "drive_ms_max"};

/* Add d's points to the columns of out (drive_ms_mean holds the sum of
 * durations until finish() divides it). */
static void
accumulate(
    const struct ddef *d, enum history_range r, struct history_series *out)
{
	uint64_t carry = 0, **c = out->cols;

	for (size_t i = 0; i < out->n; i++) {
		int64_t period = out->start_ms / out->step_ms + (int64_t)i;
		const struct dpoint *p;

		if (r == HISTORY_24H)
			p = ring_get(d->min, sizeof(*p), HISTORY_MINUTES,
			    d->last_min, period);
		else
			p = ring_get(d->hour, sizeof(*p), HISTORY_HOURS,
			    d->last_hour, period);
		if (p != NULL && p->drives > 0) {
			c[0][i] += p->done;
			c[1][i] += p->failed;
			c[2][i] += p->dead;
			carry = p->pending;
			c[4][i] += p->drives;
			c[5][i] += p->drive_ms_sum;
			if (p->drive_ms_max > c[6][i])
				c[6][i] = p->drive_ms_max;
		}
		c[3][i] += carry;
	}
}

static void
finish(struct history_series *out, uint64_t now_value)
{
	for (size_t i = 0; i < out->n; i++)
		if (out->cols[4][i] > 0)
			out->cols[5][i] /= out->cols[4][i];
	out->cols[3][out->n - 1] = now_value;
}

int
history_read(const struct history *h, const char *client,
    const char *definition, enum history_range r, int64_t now_ms,
    uint64_t now_value, struct history_series *out)
{
	int found, rc;
	size_t at = def_find(h, client, definition, &found);

	if ((rc = series_init(out, r, now_ms, def_names, 7)) != DBS_OK)
		return rc;
	if (found)
		accumulate(h->defs[at], r, out);
	finish(out, now_value);
	return DBS_OK;
}

int
history_read_sum(const struct history *h, const char *client,
    enum history_range r, int64_t now_ms, uint64_t now_value,
    struct history_series *out)
{
	int rc;

	if ((rc = series_init(out, r, now_ms, def_names, 7)) != DBS_OK)
		return rc;
	for (size_t i = 0; i < h->n_defs; i++)
		if (client == NULL || strcmp(h->defs[i]->client, client) == 0)
			accumulate(h->defs[i], r, out);
	finish(out, now_value);
	return DBS_OK;
}

static const char *const sys_names[] = {
    "used_bytes", "commits", "commit_us_mean", "commit_us_max"};

int
history_read_system(const struct history *h, enum history_range r,
    int64_t now_ms, uint64_t now_value, struct history_series *out)
{
	uint64_t carry = 0, **c;
	int rc;

	if ((rc = series_init(out, r, now_ms, sys_names, 4)) != DBS_OK)
		return rc;
	c = out->cols;
	for (size_t i = 0; i < out->n; i++) {
		int64_t period = out->start_ms / out->step_ms + (int64_t)i;
		const struct spoint *p;

		if (r == HISTORY_24H)
			p = ring_get(h->sys_min, sizeof(*p), HISTORY_MINUTES,
			    h->sys_last_min, period);
		else
			p = ring_get(h->sys_hour, sizeof(*p), HISTORY_HOURS,
			    h->sys_last_hour, period);
		if (p != NULL && p->used_bytes > 0)
			carry = p->used_bytes;
		c[0][i] = carry;
		if (p != NULL && p->commits > 0) {
			c[1][i] = p->commits;
			c[2][i] = p->commit_us_sum / p->commits;
			c[3][i] = p->commit_us_max;
		}
	}
	if (now_value > 0)
		c[0][out->n - 1] = now_value;
	return DBS_OK;
}

/* ---------------------------------------------------------- the file */

static const char magic[8] = {'D', 'B', 'S', 'H', 'I', 'S', 'T', '1'};

struct file_head {
	char magic[8];
	uint32_t dpoint, spoint, minutes, hours;
	uint64_t n_defs;
	int64_t sys_last_min, sys_last_hour;
};

static int
put(FILE *f, const void *p, size_t n)
{
	return fwrite(p, 1, n, f) == n ? 0 : -1;
}

static int
write_all(const struct history *h, FILE *f)
{
	struct file_head fh = {{0}, sizeof(struct dpoint),
	    sizeof(struct spoint), HISTORY_MINUTES, HISTORY_HOURS, h->n_defs,
	    h->sys_last_min, h->sys_last_hour};

	memcpy(fh.magic, magic, sizeof(magic));
	if (put(f, &fh, sizeof(fh)) != 0 ||
	    put(f, h->sys_min, sizeof(h->sys_min)) != 0 ||
	    put(f, h->sys_hour, sizeof(h->sys_hour)) != 0)
		return -1;
	for (size_t i = 0; i < h->n_defs; i++) {
		const struct ddef *d = h->defs[i];
		uint16_t lc = (uint16_t)strlen(d->client);
		uint16_t ld = (uint16_t)strlen(d->definition);

		if (put(f, &lc, 2) != 0 || put(f, &ld, 2) != 0 ||
		    put(f, d->client, lc) != 0 ||
		    put(f, d->definition, ld) != 0 ||
		    put(f, &d->last_min, 8) != 0 ||
		    put(f, &d->last_hour, 8) != 0 ||
		    put(f, d->min, sizeof(d->min)) != 0 ||
		    put(f, d->hour, sizeof(d->hour)) != 0)
			return -1;
	}
	return 0;
}

int
history_save(const struct history *h, const char *path)
{
	char tmp[4200];
	FILE *f;
	int bad, fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return DBS_EINVAL;
	/* The owner's alone, like the store: it names clients and
	 * definitions. */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) <
	    0)
		return DBS_EIO;
	if ((f = fdopen(fd, "wb")) == NULL) {
		close(fd);
		(void)unlink(tmp);
		return DBS_EIO;
	}
	/* No fsync: the file is a cache, and databusd's loop should not wait
	 * for the disk once an hour. A file torn by a power loss is refused
	 * at load (its length does not add up) and the history starts
	 * empty. */
	bad = write_all(h, f);
	if (fflush(f) != 0)
		bad = -1;
	if (fclose(f) != 0)
		bad = -1;
	if (bad != 0 || rename(tmp, path) != 0) {
		(void)unlink(tmp);
		return DBS_EIO;
	}
	return DBS_OK;
}

static int
get(FILE *f, void *p, size_t n)
{
	return fread(p, 1, n, f) == n ? 0 : -1;
}

/* One definition from the file, inserted in order; DBS_EINVAL when the
 * file is torn or names it twice. */
static int
read_def(struct history *h, FILE *f)
{
	char client[256], definition[256];
	uint16_t lc, ld;
	struct ddef *d;
	int found;
	size_t at;

	if (get(f, &lc, 2) != 0 || get(f, &ld, 2) != 0 || lc == 0 || ld == 0 ||
	    lc >= sizeof(client) || ld >= sizeof(definition) ||
	    get(f, client, lc) != 0 || get(f, definition, ld) != 0)
		return DBS_EINVAL;
	client[lc] = definition[ld] = '\0';
	at = def_find(h, client, definition, &found);
	if (found)
		return DBS_EINVAL;
	if ((d = def_insert(h, at, client, definition)) == NULL)
		return DBS_ENOMEM;
	if (get(f, &d->last_min, 8) != 0 || get(f, &d->last_hour, 8) != 0 ||
	    get(f, d->min, sizeof(d->min)) != 0 ||
	    get(f, d->hour, sizeof(d->hour)) != 0 || d->last_min < -1 ||
	    d->last_hour < -1)
		return DBS_EINVAL;
	return DBS_OK;
}

int
history_load(struct history *h, const char *path)
{
	struct file_head fh;
	FILE *f = fopen(path, "rb");
	int rc = DBS_OK;

	if (f == NULL)
		return errno == ENOENT ? DBS_ENOTFOUND : DBS_EIO;
	if (get(f, &fh, sizeof(fh)) != 0 ||
	    memcmp(fh.magic, magic, sizeof(magic)) != 0 ||
	    fh.dpoint != sizeof(struct dpoint) ||
	    fh.spoint != sizeof(struct spoint) ||
	    fh.minutes != HISTORY_MINUTES || fh.hours != HISTORY_HOURS ||
	    fh.n_defs > 1000000 || fh.sys_last_min < -1 ||
	    fh.sys_last_hour < -1 ||
	    get(f, h->sys_min, sizeof(h->sys_min)) != 0 ||
	    get(f, h->sys_hour, sizeof(h->sys_hour)) != 0)
		rc = DBS_EINVAL;
	for (uint64_t i = 0; rc == DBS_OK && i < fh.n_defs; i++)
		rc = read_def(h, f);
	if (rc == DBS_OK && fgetc(f) != EOF)
		rc = DBS_EINVAL;
	fclose(f);
	if (rc != DBS_OK) {
		/* Start empty rather than half loaded. */
		for (size_t i = 0; i < h->n_defs; i++)
			ddef_free(h->defs[i]);
		h->n_defs = 0;
		memset(h->sys_min, 0, sizeof(h->sys_min));
		memset(h->sys_hour, 0, sizeof(h->sys_hour));
		h->sys_last_min = h->sys_last_hour = -1;
		return rc;
	}
	h->sys_last_min = fh.sys_last_min;
	h->sys_last_hour = fh.sys_last_hour;
	return DBS_OK;
}
