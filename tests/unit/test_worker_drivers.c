/*
 * test_worker_drivers.c — unit tests of the worker's drivers and glue,
 * hosted in-process the way databus-worker hosts them (driver_host.h):
 * the registry and settings helpers, each built-in driver against a temp
 * directory, the passenger view with edits, the log buffer, the streaming
 * batch encoder (decoded back with protobuf-c) and `--check`.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>

#include "batch.h"
#include "check.h"
#include "dbs_error.h"
#include "definition.h"
#include "driver.h"
#include "driver_host.h"
#include "wire.h"
#include "work.h"

/* ------------------------------------------------------------- helpers */

/* A deep copy of one emitted item. */
struct citem {
	char *ext, *ref;
	size_t n_md;
	char *key[8], *val[8];
	size_t n_att;
	char *att_name[4], *att_type[4];
	unsigned char *att_data[4];
	size_t att_len[4];
};

struct collector {
	struct citem items[64];
	size_t n;
	size_t limit;  /* 0: no limit */
	int fail_with; /* return this from emit when non-zero */
};

static int
collect(void *arg, const struct drv_item *it)
{
	struct collector *c = arg;
	struct citem *ci;
	size_t i;

	if (c->fail_with != 0)
		return c->fail_with;
	assert_true(c->n < 64);
	ci = &c->items[c->n++];
	ci->ext = strdup(it->external_id);
	ci->ref = strdup(it->source_ref);
	ci->n_md = it->n_metadata;
	assert_true(ci->n_md <= 8);
	for (i = 0; i < it->n_metadata; i++) {
		ci->key[i] = strdup(it->metadata[i].key);
		ci->val[i] = strdup(it->metadata[i].value);
	}
	ci->n_att = it->n_attachments;
	assert_true(ci->n_att <= 4);
	for (i = 0; i < it->n_attachments; i++) {
		const struct drv_attachment *a = &it->attachments[i];

		ci->att_name[i] = strdup(a->name);
		ci->att_type[i] =
		    strdup(a->content_type != NULL ? a->content_type : "");
		ci->att_data[i] = malloc(a->len + 1);
		memcpy(ci->att_data[i], a->data, a->len);
		ci->att_data[i][a->len] = '\0';
		ci->att_len[i] = a->len;
	}
	return c->limit != 0 && c->n >= c->limit ? 1 : 0;
}

static void
collector_reset(struct collector *c)
{
	size_t i, k;

	for (i = 0; i < c->n; i++) {
		struct citem *ci = &c->items[i];

		free(ci->ext);
		free(ci->ref);
		for (k = 0; k < ci->n_md; k++) {
			free(ci->key[k]);
			free(ci->val[k]);
		}
		for (k = 0; k < ci->n_att; k++) {
			free(ci->att_name[k]);
			free(ci->att_type[k]);
			free(ci->att_data[k]);
		}
	}
	memset(c, 0, sizeof(*c));
}

static const char *
md_get(const struct citem *ci, const char *key)
{
	size_t i;

	for (i = 0; i < ci->n_md; i++)
		if (strcmp(ci->key[i], key) == 0)
			return ci->val[i];
	return NULL;
}

static int
att_find(const struct citem *ci, const char *name)
{
	size_t i;

	for (i = 0; i < ci->n_att; i++)
		if (strcmp(ci->att_name[i], name) == 0)
			return (int)i;
	return -1;
}

/* Create an instance of the built-in `type` of `kind` from JSON text. */
static struct drv_ctx *
make(enum drv_kind kind, const char *type, const char *json, int want_rc,
    char *err, size_t errlen)
{
	const struct drv_ops *ops = drv_lookup(kind, type);
	json_error_t jerr;
	json_t *settings = json_loads(json, 0, &jerr);
	struct drv_ctx *ctx;
	char buf[512];
	int rc;

	assert_non_null(ops);
	assert_non_null(settings);
	ctx = drv_ctx_new(ops, "t", "client", "def", NULL);
	assert_non_null(ctx);
	if (err == NULL) {
		err = buf;
		errlen = sizeof(buf);
	}
	rc = drv_ctx_init(ctx, settings, err, errlen);
	json_decref(settings);
	if (rc != want_rc)
		fail_msg("init of %s %s: rc %d (%s), want %d", type, json, rc,
		    err, want_rc);
	if (rc != DBS_OK) {
		drv_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

static char tmp_root[] = "/tmp/dbs-test-drivers-XXXXXX";

static void
path_of(char *out, size_t len, const char *rel)
{
	snprintf(out, len, "%s/%s", tmp_root, rel);
}

static void
write_file(const char *rel, const char *content)
{
	char p[512];
	FILE *f;

	path_of(p, sizeof(p), rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static char *
read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

static size_t
count_entries(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
		    strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int
setup_tmp(void **state)
{
	strcpy(tmp_root, "/tmp/dbs-test-drivers-XXXXXX");
	assert_non_null(mkdtemp(tmp_root));
	return 0;
}

static int
teardown_tmp(void **state)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
	assert_int_equal(system(cmd), 0);
	drv_log_clear();
	return 0;
}

/* Whether a buffered log entry contains `needle`. */
static int
log_has(enum drv_level level, const char *needle)
{
	Dbs__LogEntry **e;
	size_t n, i;

	e = drv_log_entries(&n);
	for (i = 0; i < n; i++)
		if ((int)e[i]->level == (int)level &&
		    strstr(e[i]->message, needle) != NULL)
			return 1;
	return 0;
}

/* ------------------------------------------------- registry and settings */

static void
test_registry(void **state)
{
	static const struct {
		enum drv_kind kind;
		const char *type;
	} want[] = {
	    {DRV_PULLER, "demo"},
	    {DRV_PULLER, "dir"},
	    {DRV_PULLER, "bench"},
	    {DRV_PROCESSOR, "require_attachment"},
	    {DRV_PUSHER, "dir"},
	    {DRV_PUSHER, "null"},
	    {DRV_PUSHER, "http"},
	    {DRV_PULLER, "webhook"},
	    {DRV_PULLER, "http_poll"},
	    {DRV_PULLER, "exec"},
	    {DRV_PROCESSOR, "exec"},
	    {DRV_PUSHER, "exec"},
	    {DRV_PULLER, "plugin"},
	    {DRV_PROCESSOR, "plugin"},
	    {DRV_PUSHER, "plugin"},
	    {DRV_PULLER, "imap"},
	    {DRV_PUSHER, "postgres"},
	    {DRV_PUSHER, "smtp"},
	};
	size_t i, n = 0;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct drv_ops *ops =
		    drv_lookup(want[i].kind, want[i].type);

		assert_non_null(ops);
		assert_int_equal(ops->kind, want[i].kind);
		assert_string_equal(ops->type, want[i].type);
	}
	for (i = 0; drv_builtins[i].type != NULL; i++) {
		/* the core's drivers are linked in; a family's come from
		 * its module (here linked in too: module_static.c) */
		assert_true(
		    (drv_builtins[i].ops != NULL) ==
		    (strcmp(drv_builtins[i].family, DRV_FAMILY_CORE) == 0));
		n++;
	}
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	assert_null(drv_lookup(DRV_PROCESSOR, "dir"));
	assert_null(drv_lookup(DRV_PROCESSOR, "http"));
	assert_null(drv_lookup(DRV_PULLER, "null"));
	assert_null(drv_lookup(DRV_PROCESSOR, "fail"));
	assert_null(drv_lookup(DRV_PULLER, NULL));
}

static void
test_settings(void **state)
{
	json_t *s =
	    json_pack("{s:s, s:i, s:i, s:b, s:s, s:n, s:s}", "str", "x", "num",
		5, "neg", -1, "flag", 1, "empty", "", "nul", "name", "n");
	const char *str;
	uint64_t u;
	int b;
	char err[256];
	static const char *const keys[] = {
	    "str", "num", "neg", "flag", "empty", "nul", NULL};
	static const char *const fewer[] = {"str", NULL};

	assert_int_equal(
	    drv_setting_string(s, "str", NULL, &str, err, sizeof(err)),
	    DBS_OK);
	assert_string_equal(str, "x");
	assert_int_equal(
	    drv_setting_string(s, "missing", NULL, &str, err, sizeof(err)),
	    DBS_ECONFIG);
	assert_string_equal(err, "missing: missing");
	assert_int_equal(
	    drv_setting_string(s, "nul", "dflt", &str, err, sizeof(err)),
	    DBS_OK);
	assert_string_equal(str, "dflt");
	assert_int_equal(
	    drv_setting_string(s, "empty", NULL, &str, err, sizeof(err)),
	    DBS_ECONFIG);
	assert_int_equal(
	    drv_setting_string(s, "num", "d", &str, err, sizeof(err)),
	    DBS_ECONFIG);
	assert_string_equal(err, "num: expected a string");

	assert_int_equal(
	    drv_setting_uint(s, "num", 1, 0, 10, &u, err, sizeof(err)),
	    DBS_OK);
	assert_int_equal(u, 5);
	assert_int_equal(
	    drv_setting_uint(s, "num", 1, 6, 10, &u, err, sizeof(err)),
	    DBS_ECONFIG);
	assert_non_null(strstr(err, "out of range"));
	assert_int_equal(
	    drv_setting_uint(s, "neg", 1, 0, 10, &u, err, sizeof(err)),
	    DBS_ECONFIG);
	assert_int_equal(
	    drv_setting_uint(s, "absent", 7, 0, 10, &u, err, sizeof(err)),
	    DBS_OK);
	assert_int_equal(u, 7);
	assert_int_equal(
	    drv_setting_uint(s, "str", 7, 0, 10, &u, err, sizeof(err)),
	    DBS_ECONFIG);

	assert_int_equal(
	    drv_setting_bool(s, "flag", 0, &b, err, sizeof(err)), DBS_OK);
	assert_true(b);
	assert_int_equal(
	    drv_setting_bool(s, "num", 0, &b, err, sizeof(err)), DBS_ECONFIG);

	assert_int_equal(drv_settings_only(s, keys, err, sizeof(err)), DBS_OK);
	assert_int_equal(
	    drv_settings_only(s, fewer, err, sizeof(err)), DBS_ECONFIG);
	assert_non_null(strstr(err, ": unknown setting"));
	json_decref(s);

	s = json_pack("{s:s, s:s, s:s}", "name", "a", "_comment", "c",
	    "description", "d");
	assert_int_equal(drv_settings_only(s, NULL, err, sizeof(err)), DBS_OK);
	json_decref(s);
}

static void
test_utf8(void **state)
{
	assert_true(drv_utf8_valid("plain", 5));
	assert_true(drv_utf8_valid("gr\xc3\xbc\xc3\x9f", 6));
	assert_true(drv_utf8_valid("\xe2\x82\xac", 3));
	assert_true(drv_utf8_valid("\xf0\x9f\x98\x80", 4));
	assert_false(drv_utf8_valid("\xff", 1));
	assert_false(drv_utf8_valid("\xc3", 1));             /* truncated */
	assert_false(drv_utf8_valid("\xc0\xaf", 2));         /* overlong */
	assert_false(drv_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
	assert_false(drv_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
	assert_false(drv_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
}

static void
test_emit_checks(void **state)
{
	struct collector c = {0};
	struct drv_sink sink = {collect, &c};
	struct drv_kv bad_kv = {"k", "\xff"};
	struct drv_attachment noname = {NULL, NULL, "x", 1};

	assert_int_equal(
	    drv_emit(&sink, "", "r", NULL, 0, NULL, 0), DBS_EINVAL);
	assert_int_equal(
	    drv_emit(&sink, NULL, "r", NULL, 0, NULL, 0), DBS_EINVAL);
	assert_int_equal(
	    drv_emit(&sink, "a\xfe", "r", NULL, 0, NULL, 0), DBS_EINVAL);
	assert_int_equal(
	    drv_emit(&sink, "a", "r", &bad_kv, 1, NULL, 0), DBS_EINVAL);
	assert_int_equal(
	    drv_emit(&sink, "a", "r", NULL, 0, &noname, 1), DBS_EINVAL);
	assert_int_equal(c.n, 0);
	assert_int_equal(drv_emit(&sink, "a", NULL, NULL, 0, NULL, 0), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.items[0].ref, "");
	collector_reset(&c);
}

/* ------------------------------------------------------------------ demo */

static void
test_demo_mail(void **state)
{
	struct drv_ctx *ctx = make(DRV_PULLER, "demo",
	    "{\"name\":\"m\",\"type\":\"demo\",\"per_drive\":4}", DBS_OK, NULL,
	    0);
	struct collector peek = {0}, pull = {0}, again = {0};
	struct drv_sink sp = {collect, &peek}, sl = {collect, &pull},
			sa = {collect, &again};
	size_t i, with_xlsx = 0;
	char err[64];

	assert_int_equal(drv_ctx_peek(ctx, &sp), DBS_OK);
	assert_int_equal(drv_ctx_pull(ctx, &sl), DBS_OK);
	assert_int_equal(peek.n, 4);
	assert_int_equal(pull.n, 4);
	for (i = 0; i < pull.n; i++) {
		struct citem *ci = &pull.items[i];
		int b = att_find(ci, "body.txt"), x;

		/* peek showed exactly what the pull produced */
		assert_string_equal(peek.items[i].ext, ci->ext);
		assert_int_equal(strncmp(ci->ext, "mail-", 5), 0);
		assert_non_null(md_get(ci, "from"));
		assert_non_null(md_get(ci, "to"));
		assert_non_null(md_get(ci, "subject"));
		assert_non_null(md_get(ci, "date"));
		assert_true(b >= 0);
		assert_string_equal(ci->att_type[b], "text/plain");
		assert_non_null(strstr((char *)ci->att_data[b], "Hello"));
		x = att_find(ci, "report.xlsx");
		if (x >= 0) {
			with_xlsx++;
			assert_string_equal(ci->att_type[x],
			    "application/vnd.openxmlformats-officedocument."
			    "spreadsheetml.sheet");
			assert_memory_equal(ci->att_data[x], "PK\x03\x04", 4);
			/* end of central directory, 5 members */
			assert_memory_equal(
			    ci->att_data[x] + ci->att_len[x] - 22,
			    "PK\x05\x06", 4);
			assert_int_equal(
			    ci->att_data[x][ci->att_len[x] - 22 + 10], 5);
		}
		if (i > 0)
			assert_string_not_equal(ci->ext, pull.items[0].ext);
	}
	assert_int_equal(with_xlsx, 2);
	/* the next pull goes on */
	assert_int_equal(drv_ctx_pull(ctx, &sa), DBS_OK);
	assert_int_equal(again.n, 4);
	for (i = 0; i < 4; i++)
		assert_string_not_equal(again.items[i].ext, pull.items[i].ext);
	assert_int_equal(drv_ctx_notify(ctx, pull.items[0].ext,
			     pull.items[0].ref, err, sizeof(err)),
	    DBS_OK);
	collector_reset(&peek);
	collector_reset(&pull);
	collector_reset(&again);
	drv_ctx_free(ctx);
}

static void
test_demo_invoice(void **state)
{
	struct drv_ctx *ctx = make(DRV_PULLER, "demo",
	    "{\"name\":\"i\",\"type\":\"demo\",\"kind\":\"invoice\"}", DBS_OK,
	    NULL, 0);
	struct collector c = {0};
	struct drv_sink s = {collect, &c};
	char err[256];
	size_t i;

	assert_int_equal(drv_ctx_pull(ctx, &s), DBS_OK);
	assert_int_equal(c.n, 3); /* default per_drive */
	for (i = 0; i < c.n; i++) {
		struct citem *ci = &c.items[i];
		int j = att_find(ci, "invoice.json"), t;
		json_error_t jerr;
		json_t *doc;

		assert_int_equal(strncmp(ci->ext, "invoice-", 8), 0);
		assert_non_null(md_get(ci, "number"));
		assert_non_null(md_get(ci, "customer"));
		assert_non_null(md_get(ci, "amount"));
		assert_true(j >= 0);
		assert_string_equal(ci->att_type[j], "application/json");
		doc = json_loads((char *)ci->att_data[j], 0, &jerr);
		assert_non_null(doc);
		assert_string_equal(
		    json_string_value(json_object_get(doc, "number")),
		    md_get(ci, "number"));
		json_decref(doc);
		t = att_find(ci, "invoice.txt");
		assert_true(t >= 0);
		assert_string_equal(ci->att_type[t], "text/plain");
	}
	collector_reset(&c);
	drv_ctx_free(ctx);

	make(DRV_PULLER, "demo", "{\"kind\":\"fax\"}", DBS_ECONFIG, err,
	    sizeof(err));
	assert_non_null(strstr(err, "kind:"));
	make(DRV_PULLER, "demo", "{\"per_drive\":\"3\"}", DBS_ECONFIG, err,
	    sizeof(err));
	assert_string_equal(err, "per_drive: expected a whole number");
}

/* ----------------------------------------------------------------- bench */

static void
test_bench(void **state)
{
	struct drv_ctx *ctx = make(DRV_PULLER, "bench",
	    "{\"count\":10,\"per_drive\":4,\"size\":100,\"prefix\":\"x\"}",
	    DBS_OK, NULL, 0);
	struct collector c = {0};
	struct drv_sink s = {collect, &c};
	size_t want[] = {4, 4, 2, 0}, i, k, seen = 0;
	char id[16], err[128];

	assert_int_equal(drv_ctx_peek(ctx, &s), DBS_OK);
	assert_int_equal(c.n, 4);
	assert_string_equal(c.items[0].ext, "x-0");
	collector_reset(&c);
	for (i = 0; i < 4; i++) {
		assert_int_equal(drv_ctx_pull(ctx, &s), DBS_OK);
		assert_int_equal(c.n, want[i]);
		for (k = 0; k < c.n; k++, seen++) {
			snprintf(id, sizeof(id), "x-%zu", seen);
			assert_string_equal(c.items[k].ext, id);
			assert_int_equal(c.items[k].n_att, 1);
			assert_string_equal(
			    c.items[k].att_name[0], "data.bin");
			assert_int_equal(c.items[k].att_len[0], 100);
		}
		collector_reset(&c);
	}
	assert_int_equal(seen, 10);
	drv_ctx_free(ctx);

	/* per_drive 0: everything at once; a broken sink stops the pull */
	ctx = make(
	    DRV_PULLER, "bench", "{\"count\":50,\"size\":0}", DBS_OK, NULL, 0);
	c.fail_with = DBS_ETRANSPORT;
	assert_int_equal(drv_ctx_pull(ctx, &s), DBS_ETRANSPORT);
	c.fail_with = 0;
	assert_int_equal(drv_ctx_pull(ctx, &s), DBS_OK);
	assert_int_equal(c.n, 50);
	assert_string_equal(c.items[49].ext, "b-49");
	assert_int_equal(c.items[0].att_len[0], 0);
	collector_reset(&c);
	assert_int_equal(drv_ctx_pull(ctx, &s), DBS_OK);
	assert_int_equal(c.n, 0);
	drv_ctx_free(ctx);

	make(DRV_PULLER, "bench", "{}", DBS_ECONFIG, err, sizeof(err));
	assert_string_equal(err, "count: missing");
	make(DRV_PULLER, "bench", "{\"count\":1,\"prefix\":\"\"}", DBS_ECONFIG,
	    err, sizeof(err));
}

/* ------------------------------------------------------------ dir puller */

static char *
dir_puller_json(const char *extra)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "{\"path\":\"%s/in\"%s}", tmp_root, extra);
	return buf;
}

static void
test_dir_puller(void **state)
{
	struct collector c = {0};
	struct drv_sink s = {collect, &c};
	struct drv_ctx *ctx;
	char p[512], q[512], err[512], ext_a[256];
	struct stat st;
	int fd;

	path_of(p, sizeof(p), "in");
	assert_int_equal(mkdir(p, 0755), 0);
	write_file("in/a.xml", "<a/>");
	write_file("in/b.xml", "<b/>");
	write_file("in/c.txt", "text");
	write_file("in/.hidden.xml", "<h/>");
	write_file("in/.part.xml.tmp", "partial");
	path_of(p, sizeof(p), "in/sub.xml");
	assert_int_equal(mkdir(p, 0755), 0);
	path_of(p, sizeof(p), "in/link.xml");
	assert_int_equal(symlink("/etc/hostname", p), 0);
	path_of(p, sizeof(p), "in/fifo.xml");
	assert_int_equal(mkfifo(p, 0644), 0);

	ctx = make(DRV_PULLER, "dir",
	    dir_puller_json(",\"pattern\":\"*.xml\""), DBS_OK, NULL, 0);
	/* init created nothing */
	path_of(p, sizeof(p), "in/.done");
	assert_int_equal(stat(p, &st), -1);

	assert_int_equal(drv_ctx_peek(ctx, &s), DBS_OK);
	assert_int_equal(c.n, 2);
	collector_reset(&c);
	assert_int_equal(drv_ctx_pull(ctx, &s), DBS_OK);
	assert_int_equal(c.n, 2); /* not the dotfiles, dir, symlink, fifo */
	assert_string_equal(c.items[0].ref, "a.xml");
	assert_string_equal(c.items[1].ref, "b.xml");
	path_of(p, sizeof(p), "in/a.xml");
	assert_int_equal(stat(p, &st), 0);
	snprintf(ext_a, sizeof(ext_a), "a.xml:4:%lld",
	    (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
	assert_string_equal(c.items[0].ext, ext_a);
	assert_string_equal(md_get(&c.items[0], "filename"), "a.xml");
	assert_string_equal(md_get(&c.items[0], "size"), "4");
	assert_non_null(md_get(&c.items[0], "mtime"));
	assert_int_equal(c.items[0].n_att, 1);
	assert_string_equal(c.items[0].att_name[0], "a.xml");
	assert_string_equal(c.items[0].att_type[0], "application/xml");
	assert_string_equal((char *)c.items[0].att_data[0], "<a/>");

	/* notify moves the file into .done, created now; twice is fine */
	assert_int_equal(drv_ctx_notify(ctx, c.items[0].ext, c.items[0].ref,
			     err, sizeof(err)),
	    DBS_OK);
	path_of(q, sizeof(q), "in/.done/a.xml");
	assert_int_equal(stat(q, &st), 0);
	assert_int_equal(stat(p, &st), -1);
	assert_int_equal(drv_ctx_notify(ctx, c.items[0].ext, c.items[0].ref,
			     err, sizeof(err)),
	    DBS_OK);

	/* a file rewritten after the pull stays for the next drive */
	write_file("in/b.xml", "<b>changed</b>");
	assert_int_equal(drv_ctx_notify(ctx, c.items[1].ext, c.items[1].ref,
			     err, sizeof(err)),
	    DBS_OK);
	path_of(p, sizeof(p), "in/b.xml");
	assert_int_equal(stat(p, &st), 0);
	assert_true(log_has(DRV_INFO, "changed after it was pulled"));
	drv_log_clear();

	/* a new a.xml that is pulled and notified does not overwrite the
	 * one in .done */
	collector_reset(&c);
	write_file("in/a.xml", "<a>second</a>");
	assert_int_equal(drv_ctx_pull(ctx, &s), DBS_OK);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.items[0].ref, "a.xml");
	assert_int_equal(drv_ctx_notify(ctx, c.items[0].ext, c.items[0].ref,
			     err, sizeof(err)),
	    DBS_OK);
	path_of(p, sizeof(p), "in/.done");
	assert_int_equal(count_entries(p, "a.xml"), 2);
	path_of(p, sizeof(p), "in/.done/a.xml");
	{
		char *old = read_all(p, NULL);

		assert_string_equal(old, "<a/>");
		free(old);
	}

	/* source refs that try to leave the directory are refused */
	assert_int_equal(
	    drv_ctx_notify(ctx, "../x:1:1", "../x", err, sizeof(err)),
	    DBS_EINVAL);
	assert_int_equal(
	    drv_ctx_notify(ctx, "a/b:1:1", "a/b", err, sizeof(err)),
	    DBS_EINVAL);
	assert_int_equal(
	    drv_ctx_notify(ctx, "..:1:1", "..", err, sizeof(err)), DBS_EINVAL);
	collector_reset(&c);
	drv_ctx_free(ctx);

	/* max_per_drive and max_size */
	write_file("in/d.xml", "0123456789");
	ctx = make(DRV_PULLER, "dir",
	    dir_puller_json(",\"pattern\":\"*.xml\",\"max_per_drive\":1"),
	    DBS_OK, NULL, 0);
	assert_int_equal(drv_ctx_pull(ctx, &s), DBS_OK);
	assert_int_equal(c.n, 1);
	collector_reset(&c);
	drv_ctx_free(ctx);
	ctx = make(DRV_PULLER, "dir",
	    dir_puller_json(",\"pattern\":\"*.xml\",\"max_size\":12"), DBS_OK,
	    NULL, 0);
	assert_int_equal(drv_ctx_pull(ctx, &s), DBS_OK);
	assert_int_equal(c.n, 1); /* d.xml; b.xml (14 bytes) skipped */
	assert_string_equal(c.items[0].ref, "d.xml");
	assert_true(log_has(DRV_WARNING, "b.xml: skipped"));
	collector_reset(&c);
	drv_ctx_free(ctx);
	drv_log_clear();

	/* a name that is not UTF-8 is skipped with a warning */
	path_of(p, sizeof(p), "in/bad\xff.xml");
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	close(fd);
	ctx = make(DRV_PULLER, "dir",
	    dir_puller_json(",\"pattern\":\"bad*\",\"done\":\"/nonexistent/"
			    "x/y\""),
	    DBS_OK, NULL, 0);
	assert_int_equal(drv_ctx_pull(ctx, &s), DBS_OK);
	assert_int_equal(c.n, 0);
	assert_true(log_has(DRV_WARNING, "not UTF-8"));
	drv_ctx_free(ctx);
	drv_log_clear();

	/* a done directory that cannot be created is an error of notify */
	write_file("in/e.txt", "e");
	ctx = make(DRV_PULLER, "dir",
	    dir_puller_json(",\"pattern\":\"e.txt\",\"done\":\"/nonexistent/"
			    "x/y\""),
	    DBS_OK, NULL, 0);
	assert_int_equal(drv_ctx_pull(ctx, &s), DBS_OK);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.items[0].att_type[0], "text/plain");
	assert_int_not_equal(drv_ctx_notify(ctx, c.items[0].ext,
				 c.items[0].ref, err, sizeof(err)),
	    DBS_OK);
	assert_non_null(strstr(err, "done directory"));
	collector_reset(&c);
	drv_ctx_free(ctx);

	make(DRV_PULLER, "dir", "{}", DBS_ECONFIG, err, sizeof(err));
	assert_string_equal(err, "path: missing");
	make(DRV_PULLER, "dir", "{\"path\":\"/nonexistent/dir\"}", DBS_ECONFIG,
	    err, sizeof(err));
	assert_non_null(strstr(err, "path: cannot open directory"));
	make(DRV_PULLER, "dir", dir_puller_json(",\"max_per_drive\":0"),
	    DBS_ECONFIG, err, sizeof(err));
	make(DRV_PULLER, "dir", dir_puller_json(",\"patern\":\"*\""),
	    DBS_ECONFIG, err, sizeof(err));
	assert_string_equal(err, "patern: unknown setting");
}

/* ------------------------------------------------------------ dir pusher */

static void
test_dir_pusher(void **state)
{
	struct drv_attachment att[3] = {
	    {"report.xlsx", "application/vnd.ms-excel", "XLSX", 4},
	    {"../../escape.txt", "text/plain", "evil", 4},
	    {"notes.txt", NULL, "notes", 5},
	};
	struct drv_kv md[1] = {{"from", "a@example.com"}};
	struct drv_passenger p = {
	    .id = 42,
	    .client = "c",
	    .definition = "d",
	    .puller = "in",
	    .external_id = "../../etc/passwd",
	    .metadata = md,
	    .n_metadata = 1,
	    .attachments = att,
	    .n_attachments = 3,
	};
	char out[512], json[1024], f[600], err[512];
	struct drv_ctx *ctx;
	struct stat st;
	char *data;

	path_of(out, sizeof(out), "out");
	assert_int_equal(mkdir(out, 0755), 0);
	/* "name" is the entry's own name, not the file name template */
	snprintf(json, sizeof(json),
	    "{\"name\":\"out\",\"type\":\"dir\",\"path\":\"%s\","
	    "\"passenger_json\":true}",
	    out);
	ctx = make(DRV_PUSHER, "dir", json, DBS_OK, NULL, 0);
	/* a stale file of the same name is replaced */
	snprintf(f, sizeof(f), "%s/42-report.xlsx", out);
	write_file("out/42-report.xlsx", "old");
	assert_int_equal(
	    drv_ctx_push(ctx, &p, "42:t", err, sizeof(err)), DRV_OK);
	data = read_all(f, NULL);
	assert_string_equal(data, "XLSX");
	free(data);
	snprintf(f, sizeof(f), "%s/42-.._.._escape.txt", out);
	assert_int_equal(stat(f, &st), 0);
	snprintf(f, sizeof(f), "%s/escape.txt", tmp_root);
	assert_int_equal(stat(f, &st), -1);
	snprintf(f, sizeof(f), "%s/42.json", out);
	data = read_all(f, NULL);
	assert_non_null(data);
	{
		json_error_t jerr;
		json_t *doc = json_loads(data, 0, &jerr);

		assert_non_null(doc);
		assert_int_equal(
		    json_integer_value(json_object_get(doc, "id")), 42);
		assert_string_equal(
		    json_string_value(json_object_get(
			json_object_get(doc, "metadata"), "from")),
		    "a@example.com");
		assert_int_equal(
		    json_array_size(json_object_get(doc, "attachments")), 3);
		json_decref(doc);
	}
	free(data);
	assert_int_equal(count_entries(out, ""), 4);
	/* idempotent: the same files again, no temporary left behind */
	assert_int_equal(
	    drv_ctx_push(ctx, &p, "42:t", err, sizeof(err)), DRV_OK);
	assert_int_equal(count_entries(out, ""), 4);
	assert_int_equal(count_entries(out, ".tmp-"), 0);
	drv_ctx_free(ctx);

	/* {external_id} cannot climb out either */
	snprintf(json, sizeof(json),
	    "{\"path\":\"%s\",\"filename\":\"{external_id}\",\"attachment\":"
	    "\"*.xlsx\"}",
	    out);
	ctx = make(DRV_PUSHER, "dir", json, DBS_OK, NULL, 0);
	assert_int_equal(
	    drv_ctx_push(ctx, &p, "42:t", err, sizeof(err)), DRV_OK);
	snprintf(f, sizeof(f), "%s/_._.._etc_passwd", out);
	assert_int_equal(stat(f, &st), 0);
	p.external_id = "..";
	assert_int_equal(
	    drv_ctx_push(ctx, &p, "42:t", err, sizeof(err)), DRV_OK);
	snprintf(f, sizeof(f), "%s/_.", out);
	assert_int_equal(stat(f, &st), 0);
	drv_ctx_free(ctx);

	/* two attachments under one name: a permanent failure */
	snprintf(json, sizeof(json), "{\"path\":\"%s\",\"filename\":\"{id}\"}",
	    out);
	ctx = make(DRV_PUSHER, "dir", json, DBS_OK, NULL, 0);
	assert_int_equal(
	    drv_ctx_push(ctx, &p, "42:t", err, sizeof(err)), DRV_FAIL);
	assert_non_null(strstr(err, "{attachment}"));
	drv_ctx_free(ctx);

	/* a destination that became unwritable: retry later */
	snprintf(json, sizeof(json), "{\"path\":\"%s\"}", out);
	ctx = make(DRV_PUSHER, "dir", json, DBS_OK, NULL, 0);
	snprintf(f, sizeof(f), "%s/42-notes.txt", out);
	assert_int_equal(unlink(f), 0);
	assert_int_equal(mkdir(f, 0755), 0); /* a directory in the way */
	assert_int_equal(
	    drv_ctx_push(ctx, &p, "42:t", err, sizeof(err)), DRV_RETRY);
	assert_non_null(strstr(err, "42-notes.txt"));
	assert_int_equal(count_entries(out, ".tmp-"), 0);
	drv_ctx_free(ctx);

	make(DRV_PUSHER, "dir", "{}", DBS_ECONFIG, err, sizeof(err));
	assert_string_equal(err, "path: missing");
	make(DRV_PUSHER, "dir", "{\"path\":\"/nonexistent\"}", DBS_ECONFIG,
	    err, sizeof(err));
	snprintf(json, sizeof(json),
	    "{\"path\":\"%s\",\"filename\":\"{bad}\"}", out);
	make(DRV_PUSHER, "dir", json, DBS_ECONFIG, err, sizeof(err));
	assert_non_null(strstr(err, "unknown placeholder"));
	snprintf(json, sizeof(json),
	    "{\"path\":\"%s\",\"filename\":\"a/{id}\"}", out);
	make(DRV_PUSHER, "dir", json, DBS_ECONFIG, err, sizeof(err));
	assert_non_null(strstr(err, "'/'"));
}

/* ------------------------------------------------- processors and null */

static void
test_require_attachment(void **state)
{
	struct drv_attachment att[2] = {
	    {"body.txt", "text/plain", "x", 1},
	    {"REPORT.XLSX", NULL, "y", 1},
	};
	struct drv_passenger p = {
	    .id = 7, .attachments = att, .n_attachments = 2};
	struct drv_ctx *ctx;
	char err[256];

	ctx = make(DRV_PROCESSOR, "require_attachment",
	    "{\"pattern\":\"*.xlsx\"}", DBS_OK, NULL, 0);
	assert_int_equal(
	    drv_ctx_process(ctx, &p, NULL, err, sizeof(err)), DRV_OK);
	p.n_attachments = 1;
	assert_int_equal(
	    drv_ctx_process(ctx, &p, NULL, err, sizeof(err)), DRV_SKIP);
	assert_true(log_has(DRV_INFO, "no attachment matches"));
	drv_log_clear();
	drv_ctx_free(ctx);

	ctx = make(DRV_PROCESSOR, "require_attachment",
	    "{\"pattern\":\"*.xlsx\",\"case_sensitive\":true}", DBS_OK, NULL,
	    0);
	p.n_attachments = 2;
	assert_int_equal(
	    drv_ctx_process(ctx, &p, NULL, err, sizeof(err)), DRV_SKIP);
	p.n_attachments = 0;
	assert_int_equal(
	    drv_ctx_process(ctx, &p, NULL, err, sizeof(err)), DRV_SKIP);
	drv_log_clear();
	drv_ctx_free(ctx);

	make(DRV_PROCESSOR, "require_attachment", "{}", DBS_ECONFIG, err,
	    sizeof(err));
	assert_string_equal(err, "pattern: missing");
}

static void
test_null(void **state)
{
	struct drv_passenger p = {.id = 1};
	struct drv_ctx *ctx;
	char err[256];
	int i;

	ctx = make(DRV_PUSHER, "null", "{}", DBS_OK, NULL, 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(
		    drv_ctx_push(ctx, &p, "1:n", err, sizeof(err)), DRV_OK);
	drv_ctx_free(ctx);
	ctx = make(DRV_PUSHER, "null", "{\"fail_every\":3}", DBS_OK, NULL, 0);
	assert_int_equal(
	    drv_ctx_push(ctx, &p, "1:n", err, sizeof(err)), DRV_OK);
	assert_int_equal(
	    drv_ctx_push(ctx, &p, "1:n", err, sizeof(err)), DRV_OK);
	assert_int_equal(
	    drv_ctx_push(ctx, &p, "1:n", err, sizeof(err)), DRV_RETRY);
	assert_non_null(strstr(err, "on purpose"));
	drv_ctx_free(ctx);
	make(DRV_PUSHER, "null", "{\"url\":\"x\"}", DBS_ECONFIG, err,
	    sizeof(err));
}

/* ----------------------------------------------------- view, edit, logs */

static void
test_view_edit(void **state)
{
	struct drv_view v = {0};
	struct drv_edit e;
	struct drv_keep keep = {0};
	const char *kept_value;

	drv_view_reset(&v);
	assert_int_equal(drv_view_add_metadata(&v, "a", "1"), DBS_OK);
	assert_int_equal(
	    drv_view_add_attachment(&v, "x.txt", "text/plain", "xx", 2),
	    DBS_OK);
	assert_int_equal(v.p.n_metadata, 1);
	assert_int_equal(v.p.n_attachments, 1);

	/* a discarded edit changes nothing */
	drv_edit_begin(&e, &v);
	assert_int_equal(drv_edit_metadata(&e, "a", "2"), DBS_OK);
	drv_edit_discard(&e);
	assert_string_equal(v.p.metadata[0].value, "1");
	assert_false(v.replaced);

	/* a committed one replaces and adds */
	drv_edit_begin(&e, &v);
	assert_int_equal(drv_edit_metadata(&e, "a", "2"), DBS_OK);
	assert_int_equal(drv_edit_metadata(&e, "a", "3"), DBS_OK);
	assert_int_equal(drv_edit_metadata(&e, "b", "4"), DBS_OK);
	assert_int_equal(
	    drv_edit_attachment(&e, "x.txt", NULL, "yyy", 3), DBS_OK);
	assert_int_equal(
	    drv_edit_attachment(&e, "new.bin", "a/b", "z", 1), DBS_OK);
	assert_int_equal(drv_edit_metadata(&e, "", "v"), DBS_EINVAL);
	assert_int_equal(
	    drv_edit_attachment(&e, "\xff", NULL, "z", 1), DBS_EINVAL);
	assert_int_equal(drv_edit_commit(&e), DBS_OK);
	assert_true(v.replaced);
	assert_int_equal(v.p.n_metadata, 2);
	assert_string_equal(v.p.metadata[0].value, "3");
	assert_string_equal(v.p.metadata[1].key, "b");
	assert_int_equal(v.p.n_attachments, 2);
	assert_int_equal(v.p.attachments[0].len, 3);
	assert_string_equal(
	    v.p.attachments[0].content_type, "application/octet-stream");
	assert_string_equal(v.p.attachments[1].name, "new.bin");

	/* kept data survives the reset */
	kept_value = v.p.metadata[0].value;
	assert_int_equal(drv_view_keep(&v, &keep), DBS_OK);
	drv_view_reset(&v);
	assert_false(v.replaced);
	assert_int_equal(v.p.n_metadata, 0);
	assert_string_equal(kept_value, "3");
	drv_keep_free(&keep);
	drv_view_free(&v);
}

static int flushes;

static void
count_flush(void *arg)
{
	flushes++;
	drv_log_clear();
}

static void
test_log_buffer(void **state)
{
	Dbs__LogEntry **e;
	char big[DRV_LOG_MAX_MSG + 100];
	size_t n;
	int i;

	drv_log_clear();
	drv_log_host(DRV_WARNING, 9, "step", "bad \xff byte");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	drv_log_host(DRV_DEBUG, 0, NULL, "%s", big);
	e = drv_log_entries(&n);
	assert_int_equal(n, 2);
	assert_int_equal(e[0]->passenger_id, 9);
	assert_string_equal(e[0]->step, "step");
	assert_string_equal(e[0]->message, "bad ? byte");
	assert_int_equal(e[0]->level, DBS__LOG_LEVEL__LOG_WARNING);
	assert_true(e[0]->time_ms > 0);
	assert_int_equal(strlen(e[1]->message), DRV_LOG_MAX_MSG);
	drv_log_clear();

	drv_log_set_flush(count_flush, NULL);
	flushes = 0;
	for (i = 0; i < 2 * DRV_LOG_FLUSH_AT + 5; i++)
		drv_log_host(DRV_INFO, 0, NULL, "entry %d", i);
	assert_int_equal(flushes, 2);
	drv_log_entries(&n);
	assert_int_equal(n, 5);
	drv_log_set_flush(NULL, NULL);
	drv_log_clear();

	/* without a flush callback the buffer is capped, and says so */
	for (i = 0; i < 12 * DRV_LOG_FLUSH_AT; i++)
		drv_log_host(DRV_INFO, 0, NULL, "entry %d", i);
	e = drv_log_entries(&n);
	assert_int_equal(n, 10 * DRV_LOG_FLUSH_AT + 1);
	assert_non_null(strstr(e[n - 1]->message, "2000 log entries"));
	drv_log_clear();
}

/* ---------------------------------------------------------------- batch */

static Dbs__WorkerMsg *
decode(nng_msg *msg)
{
	Dbs__WorkerMsg *m =
	    (Dbs__WorkerMsg *)wire_unpack(&dbs__worker_msg__descriptor, msg);

	assert_non_null(m);
	nng_msg_free(msg);
	return m;
}

static void
test_batch(void **state)
{
	static char body[8000];
	struct drv_kv md[2] = {{"k1", "v1"}, {"k2", "v2"}};
	struct drv_attachment att[2] = {
	    {"a.txt", "text/plain", body, sizeof(body)},
	    {"b.bin", NULL, "", 0},
	};
	struct drv_item it = {"ext-1", "ref-1", md, 2, att, 2};
	struct batch b = {0};
	Dbs__LogEntry le = DBS__LOG_ENTRY__INIT, *lep = &le;
	Dbs__WorkerMsg *m;
	nng_msg *msg;
	size_t i;

	memset(body, 'q', sizeof(body));
	batch_start(&b, BATCH_PULLED);
	assert_int_equal(batch_add(&b, "p1", &it, 12345), DBS_OK);
	it.external_id = "ext-2";
	assert_int_equal(batch_add(&b, "p2", &it, 12346), DBS_OK);
	le.message = "hello";
	le.level = DBS__LOG_LEVEL__LOG_ERROR;
	assert_int_equal(
	    batch_finish_pulled(&b, 77, true, &lep, 1, &msg), DBS_OK);
	m = decode(msg);
	assert_int_equal(m->body_case, DBS__WORKER_MSG__BODY_PULLED);
	assert_int_equal(m->pulled->drive_id, 77);
	assert_true(m->pulled->last);
	assert_int_equal(m->pulled->n_items, 2);
	assert_int_equal(m->pulled->n_logs, 1);
	assert_string_equal(m->pulled->logs[0]->message, "hello");
	assert_string_equal(m->pulled->items[0]->puller, "p1");
	assert_string_equal(m->pulled->items[1]->external_id, "ext-2");
	assert_string_equal(m->pulled->items[0]->source_ref, "ref-1");
	assert_int_equal(m->pulled->items[0]->pulled_us, 12345);
	assert_int_equal(m->pulled->items[0]->n_metadata, 2);
	assert_string_equal(m->pulled->items[0]->metadata[1]->value, "v2");
	assert_int_equal(m->pulled->items[0]->n_attachments, 2);
	assert_int_equal(
	    m->pulled->items[0]->attachments[0]->data.len, sizeof(body));
	assert_string_equal(m->pulled->items[0]->attachments[1]->content_type,
	    "application/octet-stream");
	dbs__worker_msg__free_unpacked(m, NULL);

	/* an empty closing batch */
	batch_start(&b, BATCH_PULLED);
	assert_int_equal(
	    batch_finish_pulled(&b, 5, true, NULL, 0, &msg), DBS_OK);
	m = decode(msg);
	assert_int_equal(m->pulled->n_items, 0);
	assert_true(m->pulled->last);
	dbs__worker_msg__free_unpacked(m, NULL);

	/* at most BATCH_MAX_ITEMS per batch */
	batch_start(&b, BATCH_PULLED);
	att[0].len = 10;
	for (i = 0; i < BATCH_MAX_ITEMS; i++)
		assert_int_equal(batch_add(&b, "p", &it, 1), DBS_OK);
	assert_int_equal(batch_add(&b, "p", &it, 1), DBS_EBUSY);
	assert_int_equal(
	    batch_finish_pulled(&b, 5, false, NULL, 0, &msg), DBS_OK);
	m = decode(msg);
	assert_int_equal(m->pulled->n_items, BATCH_MAX_ITEMS);
	assert_false(m->pulled->last);
	dbs__worker_msg__free_unpacked(m, NULL);

	/* peeks cut bodies to previews and carry their id and code */
	batch_start(&b, BATCH_PEEK);
	att[0].len = sizeof(body);
	assert_int_equal(batch_add(&b, "p", &it, 1), DBS_OK);
	assert_int_equal(
	    batch_finish_peek(&b, 9, DBS_EDRIVER, "p: failed", &msg), DBS_OK);
	m = decode(msg);
	assert_int_equal(m->body_case, DBS__WORKER_MSG__BODY_PEEK_RESULT);
	assert_int_equal(m->peek_result->peek_id, 9);
	assert_int_equal(m->peek_result->code, DBS_EDRIVER);
	assert_string_equal(m->peek_result->message, "p: failed");
	assert_int_equal(m->peek_result->n_items, 1);
	assert_int_equal(
	    m->peek_result->items[0]->attachments[0]->data.len, BATCH_PREVIEW);
	assert_string_equal(
	    m->peek_result->items[0]->attachments[0]->name, "a.txt");
	dbs__worker_msg__free_unpacked(m, NULL);
	batch_free(&b);
}

/* ---------------------------------------------------------------- check */

static char *
run_check(const char *input, int *code)
{
	FILE *in = fmemopen((void *)input, strlen(input), "r");
	char *out = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&out, &len);

	*code = check_run(in, o);
	fclose(in);
	fclose(o);
	return out;
}

static void
test_check(void **state)
{
	char input[2048];
	char *out;
	int code;

	snprintf(input, sizeof(input),
	    "[{\"file\":\"clients/a.json\",\"path\":\"$.passengers[0]\","
	    "\"client\":\"a\",\"definition\":{\"name\":\"d\","
	    "\"pullers\":[{\"name\":\"p\",\"type\":\"demo\"},"
	    "{\"type\":\"demo\"},{\"name\":\"q\",\"type\":\"imap2\"},"
	    "{\"name\":\"p\",\"type\":\"demo\"}],"
	    "\"processors\":[{\"name\":\"r\",\"type\":\"require_attachment\","
	    "\"pattern\":\"*\"}],"
	    "\"pushers\":[{\"name\":\"o\",\"type\":\"dir\"},"
	    "{\"name\":\"n\",\"type\":\"null\"}]}},"
	    "{\"file\":\"clients/b.json\",\"path\":\"$.passengers[3]\","
	    "\"client\":\"b\",\"definition\":{\"name\":\"ok\",\"pullers\":"
	    "[{\"name\":\"in\",\"type\":\"dir\",\"path\":\"%s\"}]}}]",
	    tmp_root);
	out = run_check(input, &code);
	assert_int_equal(code, 100);
	assert_string_equal(out,
	    "clients/a.json: $.passengers[0].pullers[1].name: missing\n"
	    "clients/a.json: $.passengers[0].pullers[2].type: unknown puller "
	    "type \"imap2\"\n"
	    "clients/a.json: $.passengers[0].pullers[3].name: duplicate "
	    "puller "
	    "name \"p\"\n"
	    "clients/a.json: $.passengers[0].pushers[0]: path: missing\n");
	free(out);

	out = run_check("[{\"file\":\"f\",\"path\":\"$.passengers[0]\","
			"\"definition\":{\"pushers\":{}}}]",
	    &code);
	assert_int_equal(code, 100);
	assert_string_equal(out, "f: $.passengers[0].pushers: expected an "
				 "array\n");
	free(out);

	out = run_check("[{\"file\":\"f\",\"path\":\"$\",\"definition\":{"
			"\"pullers\":[{\"name\":\"b\",\"type\":\"bench\","
			"\"count\":1}]}}]",
	    &code);
	assert_int_equal(code, 0);
	assert_string_equal(out, "");
	free(out);

	out = run_check("not json", &code);
	assert_int_equal(code, 100);
	assert_int_equal(strncmp(out, "-: invalid JSON", 15), 0);
	free(out);
}

/* def_open stops at the first problem for Init. */
static void
problem_first(void *arg, const char *where, const char *message)
{
	char *buf = arg;

	assert_int_equal(buf[0], '\0');
	snprintf(buf, 256, "%s: %s", where, message);
}

static void
test_definition(void **state)
{
	json_error_t jerr;
	json_t *def = json_loads(
	    "{\"pullers\":[{\"name\":\"a\",\"type\":\"demo\"},"
	    "{\"name\":\"b\",\"type\":\"bench\",\"count\":3}],"
	    "\"processors\":[],\"pushers\":[{\"name\":\"n\",\"type\":"
	    "\"null\"},{\"name\":\"x\",\"type\":\"nope\"},{\"name\":\"y\","
	    "\"type\":\"nope\"}]}",
	    0, &jerr);
	struct definition *d = NULL;
	char buf[256] = "";

	assert_non_null(def);
	assert_int_equal(
	    def_open(def, "c", "d", NULL, false, problem_first, buf, &d),
	    DBS_ECONFIG);
	assert_null(d);
	assert_string_equal(buf, ".pushers[1].type: unknown pusher type "
				 "\"nope\"");
	json_array_remove(json_object_get(def, "pushers"), 2);
	json_array_remove(json_object_get(def, "pushers"), 1);
	buf[0] = '\0';
	assert_int_equal(
	    def_open(def, "c", "d", NULL, false, problem_first, buf, &d),
	    DBS_OK);
	assert_int_equal(def_count(d, DRV_PULLER), 2);
	assert_int_equal(def_count(d, DRV_PROCESSOR), 0);
	assert_int_equal(def_count(d, DRV_PUSHER), 1);
	assert_string_equal(drv_name(def_get(d, DRV_PULLER, 1)), "b");
	assert_non_null(def_find(d, DRV_PUSHER, "n"));
	assert_null(def_find(d, DRV_PULLER, "n"));
	assert_string_equal(drv_client(def_find(d, DRV_PUSHER, "n")), "c");
	assert_string_equal(drv_definition(def_find(d, DRV_PUSHER, "n")), "d");
	def_close(d);
	json_decref(def);
}

/* ----------------------------------------------------------- step engine */

/* Test drivers the registry does not have: they fail on purpose. */
static struct {
	char subject[64];
	size_t n_attachments;
	char key[64];
	int pushes;
} seen;

static int
t_init(struct drv_ctx *ctx, const json_t *settings, void **state, char *err,
    size_t errlen)
{
	*state = NULL;
	return DBS_OK;
}

static const char *
t_md(const struct drv_passenger *p, const char *key)
{
	size_t i;

	for (i = 0; i < p->n_metadata; i++)
		if (strcmp(p->metadata[i].key, key) == 0)
			return p->metadata[i].value;
	return NULL;
}

static enum drv_result
t_upper(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    struct drv_edit *edit, char *err, size_t errlen)
{
	char up[64];
	size_t i;

	snprintf(up, sizeof(up), "%s", t_md(p, "subject"));
	for (i = 0; up[i] != '\0'; i++)
		if (up[i] >= 'a' && up[i] <= 'z')
			up[i] -= 'a' - 'A';
	assert_int_equal(drv_edit_metadata(edit, "subject", up), DBS_OK);
	assert_int_equal(drv_edit_attachment(edit, "summary.txt", "text/plain",
			     up, strlen(up)),
	    DBS_OK);
	return DRV_OK;
}

static enum drv_result
t_flaky(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    struct drv_edit *edit, char *err, size_t errlen)
{
	assert_int_equal(drv_edit_metadata(edit, "flaky", "x"), DBS_OK);
	snprintf(err, errlen, "try later");
	return DRV_RETRY;
}

static enum drv_result
t_broken(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    struct drv_edit *edit, char *err, size_t errlen)
{
	snprintf(err, errlen, "bad input");
	return DRV_FAIL;
}

static enum drv_result
t_filter(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    struct drv_edit *edit, char *err, size_t errlen)
{
	return DRV_SKIP;
}

static enum drv_result
t_rec(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    const char *key, char *err, size_t errlen)
{
	snprintf(seen.subject, sizeof(seen.subject), "%s", t_md(p, "subject"));
	seen.n_attachments = p->n_attachments;
	snprintf(seen.key, sizeof(seen.key), "%s", key);
	assert_null(t_md(p, "flaky"));
	assert_string_equal(p->client, "cl");
	seen.pushes++;
	return DRV_OK;
}

static enum drv_result
t_down(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    const char *key, char *err, size_t errlen)
{
	snprintf(err, errlen, "target down");
	return DRV_RETRY;
}

static const struct drv_ops t_ops[] = {
    {.type = "upper",
	.kind = DRV_PROCESSOR,
	.init = t_init,
	.process = t_upper},
    {.type = "flaky",
	.kind = DRV_PROCESSOR,
	.init = t_init,
	.process = t_flaky},
    {.type = "broken",
	.kind = DRV_PROCESSOR,
	.init = t_init,
	.process = t_broken},
    {.type = "filter",
	.kind = DRV_PROCESSOR,
	.init = t_init,
	.process = t_filter},
    {.type = "rec", .kind = DRV_PUSHER, .init = t_init, .push = t_rec},
    {.type = "down", .kind = DRV_PUSHER, .init = t_init, .push = t_down},
};

static struct drv_ctx *t_ctx[6];

static struct drv_ctx *
t_find(void *arg, enum drv_kind kind, const char *name)
{
	size_t i;

	for (i = 0; i < 6; i++)
		if (t_ops[i].kind == kind && strcmp(t_ops[i].type, name) == 0)
			return t_ctx[i];
	return NULL;
}

struct t_step {
	const char *name;
	int kind; /* 1 processor, 2 pusher */
	int done;
};

/* A WorkItem with subject "hello", one attachment and `steps`. */
static Dbs__WorkItem *
t_item(uint64_t id, const struct t_step *steps, size_t n)
{
	static Dbs__KeyValue kv = DBS__KEY_VALUE__INIT;
	static Dbs__KeyValue *kvp[1] = {&kv};
	static Dbs__Attachment att = DBS__ATTACHMENT__INIT;
	static Dbs__Attachment *attp[1] = {&att};
	Dbs__WorkItem *wi = calloc(1, sizeof(*wi));
	Dbs__Passenger *p = calloc(1, sizeof(*p));
	size_t i;

	kv.key = "subject";
	kv.value = "hello";
	att.name = "a.txt";
	att.content_type = "text/plain";
	att.data.data = (uint8_t *)"body";
	att.data.len = 4;
	dbs__work_item__init(wi);
	dbs__passenger__init(p);
	p->id = id;
	p->n_metadata = 1;
	p->metadata = kvp;
	p->n_steps = n + 1;
	p->steps = calloc(n + 1, sizeof(*p->steps));
	/* the notify step is the supervisor's: never run, never reported */
	p->steps[0] = calloc(1, sizeof(Dbs__Step));
	dbs__step__init(p->steps[0]);
	p->steps[0]->name = "in";
	for (i = 0; i < n; i++) {
		Dbs__Step *st = calloc(1, sizeof(*st));

		dbs__step__init(st);
		st->name = (char *)steps[i].name;
		st->kind = steps[i].kind == 1 ? DBS__STEP_KIND__SK_PROCESSOR
					      : DBS__STEP_KIND__SK_PUSHER;
		st->state = steps[i].done ? DBS__STEP_STATE__STEP_COMPLETE
					  : DBS__STEP_STATE__STEP_INCOMPLETE;
		p->steps[i + 1] = st;
	}
	wi->passenger = p;
	wi->n_attachments = 1;
	wi->attachments = attp;
	return wi;
}

static void
t_item_free(Dbs__WorkItem *wi)
{
	size_t i;

	for (i = 0; i < wi->passenger->n_steps; i++)
		free(wi->passenger->steps[i]);
	free(wi->passenger->steps);
	free(wi->passenger);
	free(wi);
}

static void
t_expect(const Dbs__WorkOutcome *o, size_t i, const char *name,
    Dbs__StepState state, int permanent)
{
	assert_true(i < o->n_steps);
	assert_string_equal(o->steps[i]->name, name);
	assert_int_equal(o->steps[i]->state, state);
	assert_int_equal(o->steps[i]->permanent, permanent);
}

static void
test_work_rules(void **state)
{
	static const struct t_step s1[] = {{"upper", 1, 0}, {"rec", 2, 0}};
	static const struct t_step s2[] = {
	    {"upper", 1, 0}, {"flaky", 1, 0}, {"rec", 2, 0}, {"down", 2, 0}};
	static const struct t_step s3[] = {{"broken", 1, 0}, {"rec", 2, 0}};
	static const struct t_step s4[] = {
	    {"filter", 1, 0}, {"upper", 1, 0}, {"rec", 2, 0}, {"down", 2, 1}};
	static const struct t_step s5[] = {
	    {"upper", 1, 1}, {"down", 2, 0}, {"rec", 2, 0}, {"ghost", 2, 0}};
	Dbs__WorkItem *items[5];
	Dbs__WorkRequest rq = DBS__WORK_REQUEST__INIT;
	struct work_env env = {"cl", "def", t_find, NULL};
	struct work wk = {0};
	const Dbs__WorkOutcome *o;
	char err[64];
	size_t i;

	for (i = 0; i < 6; i++) {
		t_ctx[i] =
		    drv_ctx_new(&t_ops[i], t_ops[i].type, "cl", "def", NULL);
		assert_int_equal(
		    drv_ctx_init(t_ctx[i], NULL, err, sizeof(err)), DBS_OK);
	}
	items[0] = t_item(1, s1, 2);
	items[1] = t_item(2, s2, 4);
	items[2] = t_item(3, s3, 2);
	items[3] = t_item(4, s4, 4);
	items[4] = t_item(5, s5, 4);
	rq.drive_id = 9;
	rq.batch_id = 4;
	rq.n_items = 1;
	rq.items = items;
	drv_log_clear();
	memset(&seen, 0, sizeof(seen));

	/* 1: an edit is seen by the pusher and reported in full */
	assert_int_equal(work_run(&wk, &rq, &env), DBS_OK);
	assert_int_equal(wk.result.drive_id, 9);
	assert_int_equal(wk.result.batch_id, 4);
	assert_int_equal(wk.result.n_items, 1);
	o = wk.result.items[0];
	assert_int_equal(o->id, 1);
	assert_int_equal(o->n_steps, 2);
	t_expect(o, 0, "upper", DBS__STEP_STATE__STEP_COMPLETE, 0);
	t_expect(o, 1, "rec", DBS__STEP_STATE__STEP_COMPLETE, 0);
	assert_string_equal(seen.subject, "HELLO");
	assert_int_equal(seen.n_attachments, 2);
	assert_string_equal(seen.key, "1:rec");
	assert_true(o->replaced);
	assert_int_equal(o->n_metadata, 1);
	assert_string_equal(o->metadata[0]->value, "HELLO");
	assert_int_equal(o->n_attachments, 2);
	assert_string_equal(o->attachments[0]->name, "a.txt");
	assert_int_equal(o->attachments[0]->data.len, 4);
	assert_string_equal(o->attachments[1]->name, "summary.txt");
	assert_memory_equal(o->attachments[1]->data.data, "HELLO", 5);
	/* the result is packable as it stands */
	assert_true(protobuf_c_message_get_packed_size(&wk.result.base) > 0);

	/* all five together */
	rq.n_items = 5;
	seen.pushes = 0;
	assert_int_equal(work_run(&wk, &rq, &env), DBS_OK);
	assert_int_equal(wk.result.n_items, 5);

	/* 2: a retry stops the passenger; its own edit is dropped, the
	 * completed processor's edit is kept */
	o = wk.result.items[1];
	assert_int_equal(o->n_steps, 2);
	t_expect(o, 0, "upper", DBS__STEP_STATE__STEP_COMPLETE, 0);
	t_expect(o, 1, "flaky", DBS__STEP_STATE__STEP_FAILED, 0);
	assert_string_equal(o->steps[1]->error, "try later");
	assert_true(o->replaced);
	for (i = 0; i < o->n_metadata; i++)
		assert_string_not_equal(o->metadata[i]->key, "flaky");

	/* 3: a permanent failure, pushers not run */
	o = wk.result.items[2];
	assert_int_equal(o->n_steps, 1);
	t_expect(o, 0, "broken", DBS__STEP_STATE__STEP_FAILED, 1);
	assert_string_equal(o->steps[0]->error, "bad input");
	assert_false(o->replaced);

	/* 4: a skip completes the filter and skips what remains, but not
	 * a step already complete */
	o = wk.result.items[3];
	assert_int_equal(o->n_steps, 3);
	t_expect(o, 0, "filter", DBS__STEP_STATE__STEP_COMPLETE, 0);
	t_expect(o, 1, "upper", DBS__STEP_STATE__STEP_SKIPPED, 0);
	t_expect(o, 2, "rec", DBS__STEP_STATE__STEP_SKIPPED, 0);

	/* 5: complete processors are not run again; each pusher on its
	 * own; an unknown pusher fails permanently */
	o = wk.result.items[4];
	assert_int_equal(o->n_steps, 3);
	t_expect(o, 0, "down", DBS__STEP_STATE__STEP_FAILED, 0);
	t_expect(o, 1, "rec", DBS__STEP_STATE__STEP_COMPLETE, 0);
	t_expect(o, 2, "ghost", DBS__STEP_STATE__STEP_FAILED, 1);
	assert_false(o->replaced);
	assert_string_equal(seen.subject, "hello");
	assert_int_equal(seen.pushes, 2); /* passengers 1 and 5 */

	/* failures are in the drive log, with passenger and step */
	assert_true(log_has(DRV_WARNING, "failed: try later"));
	assert_true(log_has(DRV_ERROR, "failed permanently: bad input"));
	assert_true(log_has(DRV_ERROR, "no pusher named \"ghost\""));

	/* an oversized result gives up the edited passengers for good */
	work_shrink(&wk);
	o = wk.result.items[0];
	assert_false(o->replaced);
	t_expect(o, 0, "upper", DBS__STEP_STATE__STEP_FAILED, 1);
	work_clear(&wk);
	drv_log_clear();

	/* a WorkItem without a passenger is a protocol violation */
	{
		Dbs__Passenger *keep = items[4]->passenger;

		items[4]->passenger = NULL;
		assert_int_equal(work_run(&wk, &rq, &env), DBS_EPROTO);
		items[4]->passenger = keep;
	}
	for (i = 0; i < 5; i++)
		t_item_free(items[i]);
	work_free(&wk);
	for (i = 0; i < 6; i++)
		drv_ctx_free(t_ctx[i]);
}

/* push_end: a pusher that groups a batch (one transaction per request)
 * confirms or fails all its pushes of one request at the end. */
static struct {
	int pushes, ends;
	bool fail_end;
} tb;

static enum drv_result
tb_push(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    const char *key, char *err, size_t errlen)
{
	tb.pushes++;
	return DRV_OK;
}

static enum drv_result
tb_end(void *state, struct drv_ctx *ctx, char *err, size_t errlen)
{
	tb.ends++;
	if (!tb.fail_end)
		return DRV_OK;
	snprintf(err, errlen, "commit failed");
	return DRV_RETRY;
}

static const struct drv_ops tb_ops[] = {
    {.type = "batch",
	.kind = DRV_PUSHER,
	.init = t_init,
	.push = tb_push,
	.push_end = tb_end},
    {.type = "rec", .kind = DRV_PUSHER, .init = t_init, .push = t_rec},
};

static struct drv_ctx *tb_ctx[2];

static struct drv_ctx *
tb_find(void *arg, enum drv_kind kind, const char *name)
{
	size_t i;

	for (i = 0; i < 2; i++)
		if (strcmp(tb_ops[i].type, name) == 0)
			return tb_ctx[i];
	return NULL;
}

static void
test_work_push_end(void **state)
{
	static const struct t_step s[] = {{"batch", 2, 0}, {"rec", 2, 0}};
	static const struct t_step only_rec[] = {{"rec", 2, 0}};
	Dbs__WorkItem *items[3];
	Dbs__WorkRequest rq = DBS__WORK_REQUEST__INIT;
	struct work_env env = {"cl", "def", tb_find, NULL};
	struct work wk = {0};
	char err[64];
	size_t i;

	for (i = 0; i < 2; i++) {
		tb_ctx[i] =
		    drv_ctx_new(&tb_ops[i], tb_ops[i].type, "cl", "def", NULL);
		assert_int_equal(
		    drv_ctx_init(tb_ctx[i], NULL, err, sizeof(err)), DBS_OK);
	}
	items[0] = t_item(1, s, 2);
	items[1] = t_item(2, s, 2);
	items[2] = t_item(3, only_rec, 1);
	rq.n_items = 3;
	rq.items = items;
	drv_log_clear();
	memset(&tb, 0, sizeof(tb));

	/* confirmed: every step complete, push_end once per request */
	assert_int_equal(work_run(&wk, &rq, &env), DBS_OK);
	assert_int_equal(tb.pushes, 2);
	assert_int_equal(tb.ends, 1);
	for (i = 0; i < 2; i++) {
		t_expect(wk.result.items[i], 0, "batch",
		    DBS__STEP_STATE__STEP_COMPLETE, 0);
		t_expect(wk.result.items[i], 1, "rec",
		    DBS__STEP_STATE__STEP_COMPLETE, 0);
	}

	/* refused at the end: the batch's pushes fail, the other pusher's
	 * steps stand */
	tb.fail_end = true;
	assert_int_equal(work_run(&wk, &rq, &env), DBS_OK);
	assert_int_equal(tb.ends, 2);
	for (i = 0; i < 2; i++) {
		t_expect(wk.result.items[i], 0, "batch",
		    DBS__STEP_STATE__STEP_FAILED, 0);
		assert_string_equal(
		    wk.result.items[i]->steps[0]->error, "commit failed");
		t_expect(wk.result.items[i], 1, "rec",
		    DBS__STEP_STATE__STEP_COMPLETE, 0);
	}
	t_expect(
	    wk.result.items[2], 0, "rec", DBS__STEP_STATE__STEP_COMPLETE, 0);
	assert_true(log_has(DRV_WARNING, "failed: commit failed"));

	/* a request where the pusher did not run does not end it */
	rq.n_items = 1;
	rq.items = &items[2];
	assert_int_equal(work_run(&wk, &rq, &env), DBS_OK);
	assert_int_equal(tb.ends, 2);

	for (i = 0; i < 3; i++)
		t_item_free(items[i]);
	work_free(&wk);
	drv_log_clear();
	for (i = 0; i < 2; i++)
		drv_ctx_free(tb_ctx[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_registry),
	    cmocka_unit_test(test_settings),
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_emit_checks),
	    cmocka_unit_test(test_demo_mail),
	    cmocka_unit_test(test_demo_invoice),
	    cmocka_unit_test(test_bench),
	    cmocka_unit_test_setup_teardown(
		test_dir_puller, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(
		test_dir_pusher, setup_tmp, teardown_tmp),
	    cmocka_unit_test(test_require_attachment),
	    cmocka_unit_test(test_null),
	    cmocka_unit_test(test_view_edit),
	    cmocka_unit_test(test_log_buffer),
	    cmocka_unit_test(test_batch),
	    cmocka_unit_test_setup_teardown(
		test_check, setup_tmp, teardown_tmp),
	    cmocka_unit_test(test_definition),
	    cmocka_unit_test(test_work_rules),
	    cmocka_unit_test(test_work_push_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
