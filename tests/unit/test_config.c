/*
 * test_config.c — databus.json and client files, loaded from real files
 * in a temporary directory: a full example with every field, the
 * defaults, one table row per kind of mistake (each must name the file,
 * the JSON path and the problem), durations, the demo configuration, and
 * the `databus-worker --check` exchange against small shell scripts.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "config_quota.h"
#include "dbs_error.h"

/* A fresh temporary directory per test, removed afterwards. */
struct fixture {
	char dir[256];       /* as created */
	char real[PATH_MAX]; /* its real path */
	char cwd[PATH_MAX];  /* to go back to */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/test_config.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(f->dir) == NULL || realpath(f->dir, f->real) == NULL ||
	    strlen(f->real) >= sizeof(f->dir) ||
	    getcwd(f->cwd, sizeof(f->cwd)) == NULL) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	int rc;

	rc = chdir(f->cwd);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return rc;
}

/* mkdir -p of the parent of `path`. */
static void
mkparents(const char *path)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *q = buf + 1; *q != '\0'; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			fail_msg("mkdir %s: %s", buf, strerror(errno));
		*q = '/';
	}
}

static void
put(struct fixture *f, const char *rel, const char *text)
{
	char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
	mkparents(path);
	fp = fopen(path, "w");
	if (fp == NULL)
		fail_msg("fopen %s: %s", path, strerror(errno));
	fputs(text, fp);
	fclose(fp);
}

static void
put_exec(struct fixture *f, const char *rel, const char *text)
{
	char path[PATH_MAX];

	put(f, rel, text);
	snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
	assert_int_equal(chmod(path, 0755), 0);
}

static void
make_dir(struct fixture *f, const char *rel)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s/", f->dir, rel) >=
	    (int)sizeof(path))
		fail_msg("path too long: %s", rel);
	mkparents(path);
}

static void
path_of(struct fixture *f, const char *rel, char *out)
{
	snprintf(out, PATH_MAX, "%s/%s", f->dir, rel);
}

static bool
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void
expect_contains(const char *what, const char *got, const char *want)
{
	if (strstr(got, want) == NULL)
		fail_msg("%s:\n  got:  %s\n  want: ...%s...", what, got, want);
}

static const char full_ticket[] =
    "{ \"data_dir\": \"data\", \"system_alias\": \"TEST\",\n"
    "  \"web\": { \"enabled\": false, \"listen\": \"[::1]:8080\" },\n"
    "  \"clients_dir\": \"tenants\",\n"
    "  \"external_config_files\": [\"extra/mapping.json\"],\n"
    "  \"drive_timeout\": \"2m\", \"shutdown_timeout\": 10,\n"
    "  \"heartbeat\": \"250ms\", \"store\": { \"max_size\": \"512MiB\",\n"
    "  \"event_keep\": 5000, \"event_max_age\": \"2h\",\n"
    "  \"dedup_horizon\": \"3d\" } }\n";

static const char full_acme[] =
    "{ \"log_life_span\": 7,\n"
    "  \"passengers\": [ {\n"
    "      \"name\": \"invoices\", \"sync_frequency\": 0.5,\n"
    "      \"queue_life_span\": 2,\n"
    "      \"pullers\": [ { \"name\": \"inbox\", \"type\": \"dir\",\n"
    "                     \"path\": \"/srv/in\", \"pattern\": \"*.xml\" } ],\n"
    "      \"processors\": [ { \"name\": \"only-xlsx\",\n"
    "          \"type\": \"require_attachment\", \"pattern\": \"*.xlsx\" } "
    "],\n"
    "      \"pushers\": [ { \"name\": \"erp\", \"type\": \"http\",\n"
    "                     \"url\": \"http://127.0.0.1:8080/in\" },\n"
    "                   { \"name\": \"copy\", \"type\": \"dir\",\n"
    "                     \"path\": \"/srv/out\" } ],\n"
    "      \"retry\": { \"max_attempts\": 5, \"backoff\": \"2s\",\n"
    "                 \"max_backoff\": 600 } },\n"
    "    { \"name\": \"orders\", \"sync_frequency\": \"30s\",\n"
    "      \"pullers\": [ { \"name\": \"hook\", \"type\": \"webhook\" } ],\n"
    "      \"pushers\": [ { \"name\": \"sql\", \"type\": \"sql\" } ] } ],\n"
    "  \"users\": [\n"
    "    { \"username\": \"alice\", \"password\": \"a-secret\",\n"
    "      \"role\": \"administrator\" },\n"
    "    { \"username\": \"bob@acme.example\", \"password\": \"b\",\n"
    "      \"role\": \"operator\" },\n"
    "    { \"username\": \"carol\", \"password\": \"c\" } ] }\n";

static void
test_full_example(void **state)
{
	struct fixture *f = *state;
	const struct cfg_definition *d;
	const struct cfg_client *c;
	struct config *cfg = (struct config *)1;
	char path[PATH_MAX], want[PATH_MAX + 64], exe[PATH_MAX], err[512];
	ssize_t n;

	put(f, "databus.json", full_ticket);
	put(f, "extra/mapping.json", "{}");
	put(f, "tenants/acme.json", full_acme);
	put(f, "tenants/root.json",
	    "{\"users\": [{\"username\": \"root\", \"password\": \"r\"},"
	    " {\"username\": \"ops\", \"password\": \"o\", \"role\": "
	    "\"root\"}]}");
	put(f, "tenants/zeta.json", "{}");
	put(f, "tenants/notes.txt", "not a client");
	put(f, "tenants/.hidden.json", "not json");
	path_of(f, "databus.json", path);

	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), DBS_OK);
	assert_non_null(cfg);
	assert_string_equal(cfg->file, path);
	assert_string_equal(cfg->base_dir, f->real);
	snprintf(want, sizeof(want), "%s/data", f->real);
	assert_string_equal(cfg->data_dir, want);
	assert_false(is_dir(want)); /* nothing created */
	assert_string_equal(cfg->system_alias, "TEST");
	assert_false(cfg->web_enabled);
	assert_string_equal(cfg->web_listen, "[::1]:8080");
	snprintf(want, sizeof(want), "%s/tenants", f->real);
	assert_string_equal(cfg->clients_dir, want);
	assert_int_equal(cfg->n_external_files, 1);
	snprintf(want, sizeof(want), "%s/extra/mapping.json", f->real);
	assert_string_equal(cfg->external_files[0], want);
	assert_int_equal(cfg->drive_timeout_ms, 120000);
	assert_int_equal(cfg->shutdown_timeout_ms, 10000);
	assert_int_equal(cfg->heartbeat_ms, 250);
	assert_int_equal(cfg->store_max_size, 512ULL << 20);
	assert_int_equal(cfg->event_keep, 5000);
	assert_int_equal(cfg->event_max_age_ms, 2 * 3600 * 1000);
	assert_int_equal(cfg->dedup_horizon_ms, 3 * 24 * 3600 * 1000LL);

	/* databus-worker next to the running program. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(want, sizeof(want), "%s/databus-worker", exe);
	assert_string_equal(cfg->worker_path, want);

	/* Clients sorted by name; notes.txt and .hidden.json ignored. */
	assert_int_equal(cfg->n_clients, 3);
	assert_string_equal(cfg->clients[0].name, "acme");
	assert_string_equal(cfg->clients[1].name, "root");
	assert_string_equal(cfg->clients[2].name, "zeta");

	c = &cfg->clients[0];
	snprintf(want, sizeof(want), "%s/tenants/acme.json", f->dir);
	assert_string_equal(c->file, want);
	assert_int_equal(c->log_life_span_ms, 7LL * 86400000);
	assert_int_equal(c->n_defs, 2);
	d = &c->defs[0];
	assert_string_equal(d->client, "acme");
	assert_string_equal(d->name, "invoices");
	assert_string_equal(d->file, want);
	assert_string_equal(d->path, "$.passengers[0]");
	assert_int_equal(d->sync_period_ms, 30000);
	assert_int_equal(d->queue_life_span_ms, 2LL * 86400000);
	assert_int_equal(d->retry.max_attempts, 5);
	assert_int_equal(d->retry.base_ms, 2000);
	assert_int_equal(d->retry.max_ms, 600000);
	assert_int_equal(d->n_pullers, 1);
	assert_string_equal(d->pullers[0].name, "inbox");
	assert_string_equal(d->pullers[0].type, "dir");
	assert_string_equal(json_string_value(json_object_get(
				d->pullers[0].settings, "pattern")),
	    "*.xml");
	assert_int_equal(d->n_processors, 1);
	assert_string_equal(d->processors[0].name, "only-xlsx");
	assert_string_equal(d->processors[0].type, "require_attachment");
	assert_int_equal(d->n_pushers, 2);
	assert_string_equal(d->pushers[0].name, "erp");
	assert_string_equal(d->pushers[1].name, "copy");
	assert_string_equal(
	    json_string_value(json_object_get(d->pushers[0].settings, "url")),
	    "http://127.0.0.1:8080/in");
	/* The canonical JSON is the object as written, keys sorted. */
	assert_string_equal(d->json,
	    "{\"name\":\"invoices\",\"processors\":[{\"name\":\"only-xlsx\","
	    "\"pattern\":\"*.xlsx\",\"type\":\"require_attachment\"}],"
	    "\"pullers\":[{\"name\":\"inbox\",\"path\":\"/srv/in\","
	    "\"pattern\":\"*.xml\",\"type\":\"dir\"}],\"pushers\":[{\"name\":"
	    "\"erp\",\"type\":\"http\",\"url\":\"http://127.0.0.1:8080/in\"},"
	    "{\"name\":\"copy\",\"path\":\"/srv/out\",\"type\":\"dir\"}],"
	    "\"queue_life_span\":2,\"retry\":{\"backoff\":\"2s\","
	    "\"max_attempts\":5,\"max_backoff\":600},\"sync_frequency\":0.5}");

	d = &c->defs[1];
	assert_string_equal(d->name, "orders");
	assert_string_equal(d->path, "$.passengers[1]");
	assert_int_equal(d->sync_period_ms, 30000);
	assert_int_equal(d->queue_life_span_ms, 86400000);
	assert_int_equal(d->retry.max_attempts, 10);
	assert_int_equal(d->retry.base_ms, 1000);
	assert_int_equal(d->retry.max_ms, 3600000);
	assert_int_equal(d->n_processors, 0);
	assert_null(d->processors);

	assert_int_equal(c->n_users, 3);
	assert_string_equal(c->users[0].username, "alice");
	assert_string_equal(c->users[0].password, "a-secret");
	assert_int_equal(c->users[0].role, DBS__ROLE__ROLE_ADMINISTRATOR);
	assert_string_equal(c->users[1].username, "bob@acme.example");
	assert_int_equal(c->users[1].role, DBS__ROLE__ROLE_OPERATOR);
	assert_int_equal(c->users[2].role, DBS__ROLE__ROLE_OPERATOR);

	c = &cfg->clients[1];
	assert_int_equal(c->n_defs, 0);
	assert_int_equal(c->n_users, 2);
	assert_int_equal(c->users[0].role, DBS__ROLE__ROLE_ROOT);
	assert_int_equal(c->users[1].role, DBS__ROLE__ROLE_ROOT);
	assert_int_equal(cfg->clients[2].n_users, 0);
	assert_int_equal(cfg->clients[2].log_life_span_ms, 86400000);

	assert_ptr_equal(
	    config_find(cfg, "acme", "orders"), &cfg->clients[0].defs[1]);
	assert_null(config_find(cfg, "acme", "nope"));
	assert_null(config_find(cfg, "zeta", "orders"));
	assert_null(config_find(cfg, "nobody", "orders"));
	assert_null(config_find(NULL, "acme", "orders"));
	config_free(cfg);
	config_free(NULL);
}

static void
test_defaults(void **state)
{
	struct fixture *f = *state;
	struct config *cfg = NULL;
	char path[PATH_MAX], want[PATH_MAX + 64], err[512];

	put(f, "databus.json", "{}");
	make_dir(f, "clients");
	make_dir(f, "var");
	path_of(f, "databus.json", path);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), DBS_OK);
	snprintf(want, sizeof(want), "%s/var", f->real);
	assert_string_equal(cfg->data_dir, want);
	snprintf(want, sizeof(want), "%s/clients", f->real);
	assert_string_equal(cfg->clients_dir, want);
	assert_string_equal(cfg->system_alias, "DATABUS");
	assert_true(cfg->web_enabled);
	assert_string_equal(cfg->web_listen, "127.0.0.1:5000");
	assert_int_equal(cfg->n_external_files, 0);
	assert_int_equal(cfg->drive_timeout_ms, 300000);
	assert_int_equal(cfg->shutdown_timeout_ms, 30000);
	assert_int_equal(cfg->heartbeat_ms, 1000);
	assert_int_equal(cfg->store_max_size, 64ULL << 30);
	assert_int_equal(cfg->event_keep, 0); /* the store's default */
	assert_int_equal(cfg->event_max_age_ms, 24 * 3600 * 1000);
	assert_int_equal(cfg->dedup_horizon_ms, 7 * 24 * 3600 * 1000LL);
	assert_int_equal(cfg->n_clients, 0);
	config_free(cfg);
}

static void
test_relative_paths(void **state)
{
	struct fixture *f = *state;
	struct config *cfg = NULL;
	char want[PATH_MAX + 64], err[512];

	put(f, "etc/databus.json",
	    "{\"data_dir\": \"/nonexistent/dbs\", \"clients_dir\": \"../c\","
	    " \"store\": {\"max_size\": 1048576}}");
	put(f, "c/acme.json", "{\"passengers\": 3}");
	assert_int_equal(chdir(f->dir), 0);

	/* Messages name files the way the operator gave them. */
	assert_int_equal(
	    config_load("etc/databus.json", &cfg, err, sizeof(err)),
	    DBS_ECONFIG);
	assert_null(cfg);
	assert_string_equal(err, "etc/../c/acme.json: $.passengers: expected "
				 "an array of objects");

	put(f, "c/acme.json", "{}");
	assert_int_equal(
	    config_load("etc/databus.json", &cfg, err, sizeof(err)), DBS_OK);
	snprintf(want, sizeof(want), "%s/etc", f->real);
	assert_string_equal(cfg->base_dir, want);
	assert_string_equal(cfg->data_dir, "/nonexistent/dbs");
	snprintf(want, sizeof(want), "%s/c", f->real);
	assert_string_equal(cfg->clients_dir, want);
	assert_int_equal(cfg->store_max_size, 1048576);
	assert_string_equal(cfg->clients[0].file, "etc/../c/acme.json");
	assert_int_equal(cfg->store_backend, 0); /* LMDB */
	assert_null(cfg->pg_conninfo);
	config_free(cfg);

	/* The PostgreSQL store: its conninfo and schema. */
	put(f, "etc/databus.json",
	    "{\"clients_dir\": \"../c\", \"web\": {\"enabled\": false},"
	    " \"store\": {\"backend\": \"postgres\", \"postgres\":"
	    " {\"conninfo\": \"host=db1 dbname=databus\", \"schema\":"
	    " \"bus\"}}}");
	assert_int_equal(
	    config_load("etc/databus.json", &cfg, err, sizeof(err)), DBS_OK);
	assert_int_equal(cfg->store_backend, 1);
	assert_string_equal(cfg->pg_conninfo, "host=db1 dbname=databus");
	assert_string_equal(cfg->pg_schema, "bus");
	config_free(cfg);

	/* Next to databus.json: "clients/acme.json". */
	put(f, "databus.json", "{}");
	put(f, "clients/acme.json", "{\"passengers\": [{}]}");
	assert_int_equal(
	    config_load("databus.json", &cfg, err, sizeof(err)), DBS_ECONFIG);
	assert_string_equal(err, "clients/acme.json: $.passengers[0].name: "
				 "missing");
}

struct bad_ticket {
	const char *text;
	const char *want;
};

static const struct bad_ticket bad_tickets[] = {
    {"[1]", "databus.json: $: expected an object"},
    {"{\"dataa_dir\": \"x\"}",
	"databus.json: $.dataa_dir: unknown key (expected one of: "
	"data_dir, system_alias, web, clients_dir, external_config_files, "
	"drive_timeout, shutdown_timeout, heartbeat, store, limits, restart, "
	"client_policy, quotas)"},
    {"{\"data_dir\": 5}", "databus.json: $.data_dir: expected a non-empty "
			  "string"},
    {"{\"data_dir\": \"databus.json\"}", "databus.json: $.data_dir: \""},
    {"{\"data_dir\": \"databus.json\"}", "databus.json\" is not a directory"},
    {"{\"system_alias\": \"\"}",
	"databus.json: $.system_alias: expected a non-empty string"},
    {"{\"system_alias\": "
     "\"0123456789012345678901234567890123456789012345678901234567890123456"
     "789\"}",
	"databus.json: $.system_alias: at most 64 characters"},
    {"{\"web\": []}", "databus.json: $.web: expected an object"},
    {"{\"web\": {\"lisen\": \"x\"}}",
	"databus.json: $.web.lisen: unknown key (expected one of: "
	"enabled, listen, tls, allowed_hosts, session_idle, "
	"session_lifetime, metrics)"},
    {"{\"web\": {\"metrics\": []}}",
	"databus.json: $.web.metrics: expected an object"},
    {"{\"web\": {\"metrics\": {\"allow\": [\"10.0.0.1/24\", "
     "\"fd00::/129\"]}}}",
	"databus.json: $.web.metrics.allow[1]: expected an IP address or "
	"network"},
    {"{\"web\": {\"metrics\": {\"allow\": [\"example.com\"]}}}",
	"databus.json: $.web.metrics.allow[0]: expected an IP address"},
    {"{\"web\": {\"metrics\": {\"token_file\": \"nope.token\"}}}",
	"databus.json: $.web.metrics.token_file: cannot read"},
    {"{\"web\": {\"tls\": 5}}",
	"databus.json: $.web.tls: expected an object {\"cert\": FILE, "
	"\"key\": FILE}"},
    {"{\"web\": {\"tls\": {\"key\": \"k.pem\"}}}",
	"databus.json: $.web.tls.cert: missing"},
    {"{\"web\": {\"tls\": {\"cert\": \"c.pem\", \"key\": \"\"}}}",
	"databus.json: $.web.tls.key: expected a non-empty string"},
    {"{\"web\": {\"tls\": {\"cert\": \"c\", \"key\": \"k\", "
     "\"ca\": \"x\"}}}",
	"databus.json: $.web.tls.ca: unknown key (expected one of: cert, "
	"key)"},
    {"{\"web\": {\"tls\": {\"cert\": \"nope.pem\", \"key\": "
     "\"nope.key\"}}}",
	"databus.json: $.web.tls.cert: \""},
    {"{\"web\": {\"tls\": {\"cert\": \"nope.pem\", \"key\": "
     "\"nope.key\"}}}",
	"nope.pem\": No such file or directory"},
    {"{\"web\": {\"tls\": {\"cert\": \"databus.json\", \"key\": "
     "\"databus.json\"}}}",
	"databus.json\" holds no PEM certificate"},
    {"{\"web\": {\"session_idle\": \"soon\"}}",
	"databus.json: $.web.session_idle: expected a number of seconds"},
    {"{\"web\": {\"session_lifetime\": 0}}",
	"databus.json: $.web.session_lifetime: expected a number of seconds"},
    {"{\"web\": {\"enabled\": \"yes\"}}",
	"databus.json: $.web.enabled: expected true or false"},
    {"{\"web\": {\"listen\": \"localhost\"}}",
	"databus.json: $.web.listen: expected \"host:port\""},
    {"{\"web\": {\"listen\": \"127.0.0.1:0\"}}",
	"databus.json: $.web.listen: expected \"host:port\""},
    {"{\"web\": {\"listen\": \"127.0.0.1:65536\"}}",
	"databus.json: $.web.listen: expected \"host:port\""},
    {"{\"web\": {\"listen\": \":5000\"}}",
	"databus.json: $.web.listen: expected \"host:port\""},
    {"{\"web\": {\"listen\": \"::1:5000\"}}",
	"databus.json: $.web.listen: expected \"host:port\""},
    {"{\"web\": {\"listen\": \"host:50x0\"}}",
	"databus.json: $.web.listen: expected \"host:port\""},
    {"{\"web\": {\"listen\": 5000}}",
	"databus.json: $.web.listen: expected \"host:port\""},
    {"{\"clients_dir\": \"missing\"}", "databus.json: $.clients_dir: \""},
    {"{\"clients_dir\": \"missing\"}", "missing\": No such file or directory"},
    {"{\"clients_dir\": \"databus.json\"}", "is not a directory"},
    {"{\"external_config_files\": \"x\"}",
	"databus.json: $.external_config_files: expected an array of file "
	"names"},
    {"{\"external_config_files\": [\"databus.json\", 7]}",
	"databus.json: $.external_config_files[1]: expected a non-empty "
	"string"},
    {"{\"external_config_files\": [\"nope.json\"]}",
	"databus.json: $.external_config_files[0]: \""},
    {"{\"external_config_files\": [\"nope.json\"]}",
	"nope.json\": No such file or directory"},
    {"{\"external_config_files\": [\"clients\"]}",
	"databus.json: $.external_config_files[0]: \""},
    {"{\"external_config_files\": [\"clients\"]}",
	"clients\" is not a regular file"},
    {"{\"external_config_files\": [\"databus.json\", \"./databus.json\"]}",
	"databus.json: $.external_config_files[1]: \""},
    {"{\"external_config_files\": [\"databus.json\", \"./databus.json\"]}",
	"is listed twice (also at $.external_config_files[0])"},
    {"{\"drive_timeout\": \"5 minutes\"}",
	"databus.json: $.drive_timeout: expected a number of seconds or a "
	"duration string like \"250ms\", \"30s\", \"5m\", \"2h\", \"1d\" "
	"(greater than 0)"},
    {"{\"shutdown_timeout\": 0}",
	"databus.json: $.shutdown_timeout: expected a number of seconds"},
    {"{\"heartbeat\": -1}",
	"databus.json: $.heartbeat: expected a number of seconds"},
    {"{\"heartbeat\": null}",
	"databus.json: $.heartbeat: expected a number of seconds"},
    {"{\"store\": 5}", "databus.json: $.store: expected an object"},
    {"{\"store\": {\"maxsize\": 1}}",
	"databus.json: $.store.maxsize: unknown key"},
    {"{\"store\": {\"max_size\": \"64 GiB\"}}",
	"databus.json: $.store.max_size: expected a number of bytes or a "
	"size like \"512MiB\", \"64GiB\""},
    {"{\"store\": {\"max_size\": 100}}",
	"databus.json: $.store.max_size: expected a number of bytes"},
    {"{\"store\": {\"max_size\": -5}}",
	"databus.json: $.store.max_size: expected a number of bytes"},
    {"{\"store\": {\"event_keep\": 0}}",
	"databus.json: $.store.event_keep: expected a number of events from "
	"1 to 100000000"},
    {"{\"store\": {\"event_keep\": \"10\"}}",
	"databus.json: $.store.event_keep: expected a number of events"},
    {"{\"store\": {\"dedup_horizon\": \"soon\"}}",
	"databus.json: $.store.dedup_horizon: expected a number of days"},
    {"{\"store\": {\"event_max_age\": \"soon\"}}",
	"databus.json: $.store.event_max_age: expected a number of days"},
    {"{\"store\": {\"backend\": \"mysql\"}}",
	"databus.json: $.store.backend: expected \"lmdb\" or \"postgres\""},
    {"{\"web\": {\"enabled\": false}, \"store\": {\"backend\": "
     "\"postgres\"}}",
	"databus.json: $.store.postgres.conninfo: required with \"backend\": "
	"\"postgres\""},
    {"{\"store\": {\"postgres\": {\"conninfo\": 5}}}",
	"databus.json: $.store.postgres.conninfo: expected a libpq "
	"connection string"},
    {"{\"store\": {\"postgres\": {\"conninfo\": \"x\", \"schema\": "
     "\"\"}}}",
	"databus.json: $.store.postgres.schema: expected a schema name of 1 "
	"to 63 bytes"},
    {"{\"store\": {\"postgres\": {\"host\": \"db\"}}}",
	"databus.json: $.store.postgres.host: unknown key"},
    {"{\"store\": {\"max_size\": 1.5}}",
	"databus.json: $.store.max_size: expected a number of bytes"},
    {"{\"store\": {\"max_size\": \"4096TiB\"}}",
	"databus.json: $.store.max_size: expected a number of bytes"},
    {"{\"data_dir\": \"a\",\n \"data_dir\": \"b\"}",
	"databus.json: line 2, column 11: duplicate object key near "
	"'\"data_dir\"'"},
    {"{\n  \"web\": {\n    \"listen\" \"x\"\n  }\n}",
	"databus.json: line 3, column 16: ':' expected near '\"x\"'"},
    {"", "databus.json: line 1, column 0: '[' or '{' expected near end of "
	 "file"},
};

static void
test_bad_tickets(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], err[1024];

	make_dir(f, "clients");
	path_of(f, "databus.json", path);
	for (size_t i = 0; i < sizeof(bad_tickets) / sizeof(bad_tickets[0]);
	     i++) {
		struct config *cfg = (struct config *)1;
		char what[64];

		put(f, "databus.json", bad_tickets[i].text);
		snprintf(what, sizeof(what), "bad_tickets[%zu]", i);
		err[0] = '\0';
		assert_int_equal(
		    config_load(path, &cfg, err, sizeof(err)), DBS_ECONFIG);
		assert_null(cfg);
		/* The file as given, then the path and the problem. */
		assert_memory_equal(err, path, strlen(path));
		expect_contains(what, err, bad_tickets[i].want);
		/* A password in a conninfo is never repeated. */
		assert_null(strstr(err, "s3cret"));
	}
}

struct bad_client {
	const char *file; /* under clients/; NULL text = a directory */
	const char *text;
	const char *want;
};

#define P0         "{\"name\": \"a\", "
#define PULL       "\"pullers\": [{\"name\": \"p\", \"type\": \"t\"}]"
#define PUSH       "\"pushers\": [{\"name\": \"q\", \"type\": \"t\"}]"
#define DEF(extra) P0 PULL ", " PUSH extra "}"
#define ONE(def)   "{\"passengers\": [" def "]}"

static const struct bad_client bad_clients[] = {
    {"acme.json",
	ONE(DEF(
	    "") ", {\"name\": \"b\", \"pullers\": [{\"name\": \"p\"}], " PUSH
		"}"),
	"clients/acme.json: $.passengers[1].pullers[0].type: missing"},
    {"acme.json", "[]", "clients/acme.json: $: expected an object"},
    {"acme.json", "{\"passenger\": []}",
	"clients/acme.json: $.passenger: unknown key (expected one of: "
	"log_life_span, passengers, users, open_access)"},
    {"acme.json", "{\"open_access\": \"yes\"}",
	"clients/acme.json: $.open_access: expected true or false"},
    {"acme.json", "{\"passengers\": {}}",
	"clients/acme.json: $.passengers: expected an array of objects"},
    {"acme.json", "{\"passengers\": [7]}",
	"clients/acme.json: $.passengers[0]: expected an object"},
    {"acme.json", ONE(DEF(", \"sync_frequncy\": 1")),
	"clients/acme.json: $.passengers[0].sync_frequncy: unknown key "
	"(expected one of: name, sync_frequency, queue_life_span, pullers, "
	"processors, pushers, retry, limits)"},
    {"acme.json", ONE("{" PULL ", " PUSH "}"),
	"clients/acme.json: $.passengers[0].name: missing"},
    {"acme.json", ONE("{\"name\": \"in voices\", " PULL ", " PUSH "}"),
	"clients/acme.json: $.passengers[0].name: invalid name \"in voices\": "
	"use 1 to 64 of A-Z a-z 0-9 _ -"},
    {"acme.json", ONE(DEF("") ", " DEF("")),
	"clients/acme.json: $.passengers[1].name: duplicate passenger name "
	"\"a\" (also at $.passengers[0])"},
    {"acme.json", ONE(P0 PUSH "}"),
	"clients/acme.json: $.passengers[0].pullers: missing (at least 1 "
	"needed)"},
    {"acme.json", ONE(P0 PULL ", \"pushers\": []}"),
	"clients/acme.json: $.passengers[0].pushers: at least 1 entry needed"},
    {"acme.json", ONE(P0 "\"pullers\": {}, " PUSH "}"),
	"clients/acme.json: $.passengers[0].pullers: expected an array of "
	"objects"},
    {"acme.json", ONE(P0 "\"pullers\": [\"dir\"], " PUSH "}"),
	"clients/acme.json: $.passengers[0].pullers[0]: expected an object "
	"with \"name\" and \"type\""},
    {"acme.json",
	ONE(P0 "\"pullers\": [{\"name\": \"in box\", \"type\": \"t\"}], " PUSH
	       "}"),
	"clients/acme.json: $.passengers[0].pullers[0].name: invalid name "
	"\"in box\""},
    {"acme.json", ONE(P0 "\"pullers\": [{\"type\": \"t\"}], " PUSH "}"),
	"clients/acme.json: $.passengers[0].pullers[0].name: missing"},
    {"acme.json",
	ONE(P0 "\"pullers\": [{\"name\": \"p\", \"type\": \"\"}], " PUSH "}"),
	"clients/acme.json: $.passengers[0].pullers[0].type: expected a "
	"non-empty string"},
    {"acme.json",
	ONE(P0 PULL ", \"pushers\": [{\"name\": \"p\", \"type\": \"t\"}]}"),
	"clients/acme.json: $.passengers[0].pushers[0].name: duplicate name "
	"\"p\" (also at $.passengers[0].pullers[0])"},
    {"acme.json",
	ONE(DEF(", \"processors\": [{\"name\": \"x\", \"type\": \"t\"}, "
		"{\"name\": \"x\", \"type\": \"t\"}]")),
	"clients/acme.json: $.passengers[0].processors[1].name: duplicate "
	"name \"x\" (also at $.passengers[0].processors[0])"},
    {"acme.json", ONE(DEF(", \"sync_frequency\": \"fast\"")),
	"clients/acme.json: $.passengers[0].sync_frequency: expected a number "
	"of minutes or a duration string like \"250ms\", \"30s\""},
    {"acme.json", ONE(DEF(", \"sync_frequency\": 0")),
	"clients/acme.json: $.passengers[0].sync_frequency: expected a number "
	"of minutes"},
    {"acme.json", ONE(DEF(", \"sync_frequency\": \"-5m\"")),
	"clients/acme.json: $.passengers[0].sync_frequency: expected a number "
	"of minutes"},
    {"acme.json", ONE(DEF(", \"queue_life_span\": \"long\"")),
	"clients/acme.json: $.passengers[0].queue_life_span: expected a "
	"number of days"},
    {"acme.json", "{\"log_life_span\": -1}",
	"clients/acme.json: $.log_life_span: expected a number of days"},
    {"acme.json", ONE(DEF(", \"retry\": 3")),
	"clients/acme.json: $.passengers[0].retry: expected an object"},
    {"acme.json", ONE(DEF(", \"retry\": {\"attempts\": 3}")),
	"clients/acme.json: $.passengers[0].retry.attempts: unknown key"},
    {"acme.json", ONE(DEF(", \"retry\": {\"max_attempts\": 0}")),
	"clients/acme.json: $.passengers[0].retry.max_attempts: expected an "
	"integer from 1 to 1000"},
    {"acme.json", ONE(DEF(", \"retry\": {\"max_attempts\": 1001}")),
	"clients/acme.json: $.passengers[0].retry.max_attempts: expected an "
	"integer from 1 to 1000"},
    {"acme.json", ONE(DEF(", \"retry\": {\"max_attempts\": 2.5}")),
	"clients/acme.json: $.passengers[0].retry.max_attempts: expected an "
	"integer from 1 to 1000"},
    {"acme.json", ONE(DEF(", \"retry\": {\"backoff\": \"1x\"}")),
	"clients/acme.json: $.passengers[0].retry.backoff: expected a number "
	"of seconds"},
    {"acme.json",
	ONE(DEF(", \"retry\": {\"backoff\": \"2m\", \"max_backoff\": 60}")),
	"clients/acme.json: $.passengers[0].retry.max_backoff: must not be "
	"shorter than backoff"},
    {"acme.json", "{\"users\": {}}",
	"clients/acme.json: $.users: expected an array of objects"},
    {"acme.json", "{\"users\": [\"bob\"]}",
	"clients/acme.json: $.users[0]: expected an object"},
    {"acme.json", "{\"users\": [{\"username\": \"bob\", \"pasword\": \"x\"}]}",
	"clients/acme.json: $.users[0].pasword: unknown key"},
    {"acme.json", "{\"users\": [{\"username\": \"bob\"}]}",
	"clients/acme.json: $.users[0].password: missing"},
    {"acme.json", "{\"users\": [{\"username\": \"bob\", \"password\": \"\"}]}",
	"clients/acme.json: $.users[0].password: expected a non-empty string"},
    {"acme.json",
	"{\"users\": [{\"username\": \"b b\", \"password\": \"x\"}]}",
	"clients/acme.json: $.users[0].username: invalid username \"b b\""},
    {"acme.json",
	"{\"users\": [{\"username\": \"bob\", \"password\": \"x\", \"role\": "
	"\"admin\"}]}",
	"clients/acme.json: $.users[0].role: expected \"operator\" or "
	"\"administrator\""},
    {"acme.json",
	"{\"users\": [{\"username\": \"bob\", \"password\": \"x\", \"role\": "
	"\"root\"}]}",
	"clients/acme.json: $.users[0].role: expected \"operator\" or "
	"\"administrator\""},
    {"acme.json",
	"{\"users\": [{\"username\": \"bob\", \"password\": \"x\"}, "
	"{\"username\": \"bob\", \"password\": \"y\"}]}",
	"clients/acme.json: $.users[1].username: duplicate username \"bob\" "
	"(also at $.users[0])"},
    {"root.json", ONE(DEF("")),
	"clients/root.json: $.passengers: unknown key (the root client "
	"file may only contain \"users\")"},
    {"root.json", "{\"log_life_span\": 1}",
	"clients/root.json: $.log_life_span: unknown key"},
    {"root.json",
	"{\"users\": [{\"username\": \"r\", \"password\": \"x\", \"role\": "
	"\"administrator\"}]}",
	"clients/root.json: $.users[0].role: users of the root client always "
	"have role \"root\": leave role out"},
    {"bad name.json", "{}",
	"clients/bad name.json: invalid client name \"bad name\": use 1 to 64 "
	"of A-Z a-z 0-9 _ - (the file name without .json)"},
    {"dir.json", NULL, "clients/dir.json: not a regular file"},
    {"acme.json", "{\"users\": [\n  {\"username\": \"a\"\n   \"password\"",
	"clients/acme.json: line 3, column 13: '}' expected near "
	"'\"password\"'"},
    {"acme.json", "{\"users\": [], \"users\": []}",
	"clients/acme.json: line 1, column 21: duplicate object key near "
	"'\"users\"'"},
};

static void
test_bad_clients(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX], rel[PATH_MAX], err[1024];

	put(f, "databus.json", "{}");
	path_of(f, "databus.json", path);
	for (size_t i = 0; i < sizeof(bad_clients) / sizeof(bad_clients[0]);
	     i++) {
		const struct bad_client *b = &bad_clients[i];
		struct config *cfg = (struct config *)1;
		char what[64], cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s/clients'", f->dir);
		assert_int_equal(system(cmd), 0);
		make_dir(f, "clients");
		/* A valid client sorted first: it must be freed too. */
		put(f, "clients/aaa.json", ONE(DEF("")));
		snprintf(rel, sizeof(rel), "clients/%s", b->file);
		if (b->text != NULL)
			put(f, rel, b->text);
		else
			make_dir(f, rel);
		snprintf(what, sizeof(what), "bad_clients[%zu]", i);
		err[0] = '\0';
		assert_int_equal(
		    config_load(path, &cfg, err, sizeof(err)), DBS_ECONFIG);
		assert_null(cfg);
		expect_contains(what, err, b->want);
		/* The client file, named from the config file's directory. */
		assert_memory_equal(err, f->dir, strlen(f->dir));
	}
}

static void
test_driver_settings_free(void **state)
{
	struct fixture *f = *state;
	struct config *cfg = NULL;
	char path[PATH_MAX], err[512];

	/* Anything goes inside a driver entry besides name and type. */
	put(f, "databus.json", "{}");
	put(f, "clients/acme.json",
	    ONE(P0 "\"pullers\": [{\"name\": \"p\", \"type\": \"x\", "
		   "\"whatever\": {\"deep\": [1, 2]}, \"n\": null}], " PUSH
		   "}"));
	path_of(f, "databus.json", path);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), DBS_OK);
	assert_true(json_is_null(json_object_get(
	    cfg->clients[0].defs[0].pullers[0].settings, "n")));
	config_free(cfg);
}

static void
test_small_err_buffer(void **state)
{
	struct fixture *f = *state;
	struct config *cfg = NULL;
	char path[PATH_MAX], err[8];

	put(f, "databus.json", "{\"web\": 1}");
	path_of(f, "databus.json", path);
	assert_int_equal(
	    config_load(path, &cfg, err, sizeof(err)), DBS_ECONFIG);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_int_equal(config_load(path, &cfg, NULL, 0), DBS_ECONFIG);
	path_of(f, "missing.json", path);
	assert_int_equal(config_load(path, &cfg, NULL, 0), DBS_ECONFIG);
	assert_null(cfg);
}

static void
test_missing_ticket(void **state)
{
	struct fixture *f = *state;
	struct config *cfg = NULL;
	char path[PATH_MAX], err[1024];

	path_of(f, "missing.json", path);
	assert_int_equal(
	    config_load(path, &cfg, err, sizeof(err)), DBS_ECONFIG);
	assert_memory_equal(err, path, strlen(path));
	expect_contains("missing", err, "No such file or directory");
}

struct duration_case {
	const char *json;
	int64_t unit_ms;
	int64_t want; /* -1: refused */
};

static const struct duration_case durations[] = {
    {"\"250ms\"", 1000, 250},
    {"\"30s\"", 1000, 30000},
    {"\"5m\"", 1000, 300000},
    {"\"2h\"", 1000, 7200000},
    {"\"1d\"", 1000, 86400000},
    {"\"1.5s\"", 1000, 1500},
    {"\"0.5m\"", 1, 30000},
    {"\"007s\"", 1000, 7000},
    {"1", 60000, 60000},
    {"0.5", 60000, 30000},
    {"2", 86400000, 172800000},
    {"0.0006", 1000, 1}, /* rounded to the nearest ms */
    {"30", 1000, 30000},
    {"\"0s\"", 1000, -1},
    {"\"0.0001ms\"", 1000, -1},
    {"0", 1000, -1},
    {"-1", 1000, -1},
    {"-0.5", 60000, -1},
    {"0.0001", 1, -1},
    {"\"\"", 1000, -1},
    {"\"5\"", 1000, -1},
    {"\"5 m\"", 1000, -1},
    {"\" 5m\"", 1000, -1},
    {"\"5m \"", 1000, -1},
    {"\"s\"", 1000, -1},
    {"\".5s\"", 1000, -1},
    {"\"5.s\"", 1000, -1},
    {"\"-5s\"", 1000, -1},
    {"\"+5s\"", 1000, -1},
    {"\"1e3s\"", 1000, -1},
    {"\"5M\"", 1000, -1},
    {"\"5min\"", 1000, -1},
    {"\"inf\"", 1000, -1},
    {"\"nans\"", 1000, -1},
    {"\"99999999999999999999d\"", 1000, -1},
    {"1e300", 1000, -1},
    {"1", 0, -1},
    {"true", 1000, -1},
    {"null", 1000, -1},
    {"[]", 1000, -1},
};

static void
test_parse_duration(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		json_t *v =
		    json_loads(durations[i].json, JSON_DECODE_ANY, NULL);
		int64_t ms = -7;
		int rc;

		assert_non_null(v);
		rc = config_parse_duration(v, durations[i].unit_ms, &ms);
		if (durations[i].want < 0) {
			if (rc != DBS_ECONFIG || ms != -7)
				fail_msg("%s: accepted as %lld",
				    durations[i].json, (long long)ms);
		} else if (rc != DBS_OK || ms != durations[i].want) {
			fail_msg("%s: rc %d, %lld ms, want %lld",
			    durations[i].json, rc, (long long)ms,
			    (long long)durations[i].want);
		}
		json_decref(v);
	}
	assert_int_equal(config_parse_duration(NULL, 1000, NULL), DBS_ECONFIG);
}

static void
test_parse_client(void **state)
{
	struct cfg_client c;
	char err[512];
	const char *text = ONE(DEF(", \"sync_frequency\": \"90s\""));

	(void)state;
	assert_int_equal(config_parse_client("acme.json", "acme", text,
			     strlen(text), &c, err, sizeof(err)),
	    DBS_OK);
	assert_string_equal(c.name, "acme");
	assert_string_equal(c.file, "acme.json");
	assert_int_equal(c.n_defs, 1);
	assert_int_equal(c.defs[0].sync_period_ms, 90000);
	assert_string_equal(c.defs[0].file, "acme.json");
	assert_string_equal(c.defs[0].client, "acme");
	config_client_clear(&c);
	assert_null(c.name);
	assert_int_equal(c.n_defs, 0);
	config_client_clear(&c); /* twice is fine */
	config_client_clear(NULL);

	/* Only `len` bytes count: the text need not end with NUL. */
	assert_int_equal(config_parse_client("x.json", "x", "{}garbage", 2, &c,
			     err, sizeof(err)),
	    DBS_OK);
	config_client_clear(&c);

	/* On failure the out-parameter is left cleared. */
	text = "{\n\"users\": [\n{\"username\": \"r\", \"password\": 5}]}";
	memset(&c, 0xff, sizeof(c));
	assert_int_equal(config_parse_client("web:root", "root", text,
			     strlen(text), &c, err, sizeof(err)),
	    DBS_ECONFIG);
	assert_null(c.name);
	assert_null(c.users);
	assert_string_equal(
	    err, "web:root: $.users[0].password: expected a non-empty string");

	text = "{\"users\": [{\"username\": \"r\", \"password\": \"p\"}]}";
	assert_int_equal(config_parse_client("root.json", "root", text,
			     strlen(text), &c, err, sizeof(err)),
	    DBS_OK);
	assert_int_equal(c.users[0].role, DBS__ROLE__ROLE_ROOT);
	config_client_clear(&c);

	assert_int_equal(config_parse_client(
			     "x.json", "a/b", "{}", 2, &c, err, sizeof(err)),
	    DBS_ECONFIG);
	assert_string_equal(err, "x.json: invalid client name \"a/b\": use 1 "
				 "to 64 of A-Z a-z 0-9 _ - (the file name "
				 "without .json)");
	assert_int_equal(
	    config_parse_client("x.json", "", "{}", 2, &c, err, sizeof(err)),
	    DBS_ECONFIG);

	text = "{\n  \"log_life_span\": 1,\n  \"passengers\": [,]\n}";
	assert_int_equal(config_parse_client("x.json", "x", text, strlen(text),
			     &c, err, sizeof(err)),
	    DBS_ECONFIG);
	assert_string_equal(err, "x.json: line 3, column 18: unexpected token "
				 "near ','");
	/* NUL inside a string is refused, not cut short. */
	text = "{\"users\": [{\"username\": \"r\", \"password\": "
	       "\"a\\u0000b\"}]}";
	assert_int_equal(config_parse_client("x.json", "x", text, strlen(text),
			     &c, err, sizeof(err)),
	    DBS_ECONFIG);
	expect_contains(
	    "nul", err, "x.json: line 1, column 51: \\u0000 is not allowed");
}

static void
test_demo(void **state)
{
	struct fixture *f = *state;
	const struct cfg_definition *d;
	struct config *cfg = NULL;
	char want[PATH_MAX + 64], err[512];

	assert_int_equal(chdir(f->dir), 0);
	assert_int_equal(
	    config_demo(NULL, NULL, &cfg, err, sizeof(err)), DBS_OK);
	/* The demo runs from the files it wrote into its data dir. */
	snprintf(
	    want, sizeof(want), "%s/var/demo-config/databus.json", f->real);
	assert_string_equal(cfg->file, want);
	snprintf(want, sizeof(want), "%s/var/demo-config", f->real);
	assert_string_equal(cfg->base_dir, want);
	snprintf(want, sizeof(want), "%s/var", f->real);
	assert_string_equal(cfg->data_dir, want);
	snprintf(want, sizeof(want), "%s/var/files/demo/outbox", f->real);
	assert_true(is_dir(want));
	snprintf(want, sizeof(want), "%s/var/files/demo/invoices", f->real);
	assert_true(is_dir(want));
	snprintf(want, sizeof(want), "%s/var/demo-config/clients", f->real);
	assert_string_equal(cfg->clients_dir, want);
	assert_true(is_dir(want));
	assert_string_equal(cfg->system_alias, "DEMO");
	assert_true(cfg->web_enabled);
	assert_string_equal(cfg->web_listen, "127.0.0.1:5000");
	assert_int_equal(cfg->n_external_files, 1);
	assert_string_equal(cfg->external_listed[0], "extra/accounts.json");
	assert_int_equal(cfg->drive_timeout_ms, 300000);
	assert_int_equal(cfg->shutdown_timeout_ms, 30000);
	assert_int_equal(cfg->heartbeat_ms, 1000);
	assert_int_equal(cfg->store_max_size, 64ULL << 30);
	assert_non_null(strstr(cfg->worker_path, "/databus-worker"));

	assert_int_equal(cfg->n_clients, 2);
	assert_string_equal(cfg->clients[0].name, "demo");
	assert_string_equal(cfg->clients[1].name, "root");
	assert_int_equal(cfg->clients[0].n_defs, 2);
	assert_int_equal(cfg->clients[0].n_users, 1);
	assert_string_equal(cfg->clients[0].users[0].username, "demo");
	assert_string_equal(cfg->clients[0].users[0].password, "demo");
	assert_int_equal(
	    cfg->clients[0].users[0].role, DBS__ROLE__ROLE_ADMINISTRATOR);
	assert_int_equal(cfg->clients[1].n_defs, 0);
	assert_int_equal(cfg->clients[1].n_users, 1);
	assert_string_equal(cfg->clients[1].users[0].username, "root");
	assert_string_equal(cfg->clients[1].users[0].password, "root");
	assert_int_equal(cfg->clients[1].users[0].role, DBS__ROLE__ROLE_ROOT);

	d = config_find(cfg, "demo", "mails");
	assert_non_null(d);
	assert_string_equal(d->path, "$.passengers[0]");
	assert_int_equal(d->sync_period_ms, 60000);
	assert_int_equal(d->n_pullers, 1);
	assert_string_equal(d->pullers[0].name, "inbox");
	assert_string_equal(d->pullers[0].type, "demo");
	assert_string_equal(
	    json_string_value(json_object_get(d->pullers[0].settings, "kind")),
	    "mail");
	assert_int_equal(json_integer_value(json_object_get(
			     d->pullers[0].settings, "per_drive")),
	    3);
	assert_int_equal(d->n_processors, 1);
	assert_string_equal(d->processors[0].name, "only-xlsx");
	assert_string_equal(d->processors[0].type, "require_attachment");
	assert_string_equal(json_string_value(json_object_get(
				d->processors[0].settings, "pattern")),
	    "*.xlsx");
	assert_int_equal(d->n_pushers, 1);
	assert_string_equal(d->pushers[0].name, "outbox");
	assert_string_equal(d->pushers[0].type, "dir");
	assert_string_equal(
	    json_string_value(json_object_get(d->pushers[0].settings, "path")),
	    "../files/demo/outbox");

	d = config_find(cfg, "demo", "invoices");
	assert_non_null(d);
	assert_string_equal(d->pullers[0].name, "erp-export");
	assert_string_equal(
	    json_string_value(json_object_get(d->pullers[0].settings, "kind")),
	    "invoice");
	assert_int_equal(json_integer_value(json_object_get(
			     d->pullers[0].settings, "per_drive")),
	    2);
	assert_int_equal(d->n_processors, 0);
	assert_string_equal(d->pushers[0].name, "archive");
	assert_true(json_is_true(
	    json_object_get(d->pushers[0].settings, "passenger_json")));
	assert_string_equal(
	    json_string_value(json_object_get(d->pushers[0].settings, "path")),
	    "../files/demo/invoices");
	assert_non_null(strstr(d->json, "\"passenger_json\":true"));
	config_free(cfg);

	/* An edit of the files stays: the next start loads it. */
	put(f, "var/demo-config/clients/demo.json",
	    "{\"passengers\": [{\"name\": \"only\", \"pullers\": "
	    "[{\"name\": \"p\", \"type\": \"demo\"}], \"pushers\": "
	    "[{\"name\": \"n\", \"type\": \"null\"}]}]}");
	if (config_demo(NULL, NULL, &cfg, err, sizeof(err)) != DBS_OK)
		fail_msg("%s", err);
	assert_int_equal(cfg->clients[0].n_defs, 1);
	assert_string_equal(cfg->clients[0].defs[0].name, "only");
	config_free(cfg);

	/* An absolute data dir and another address. */
	snprintf(want, sizeof(want), "%s/elsewhere/data", f->dir);
	assert_int_equal(
	    config_demo(want, "0.0.0.0:8080", &cfg, err, sizeof(err)), DBS_OK);
	snprintf(want, sizeof(want), "%s/elsewhere/data", f->real);
	assert_string_equal(cfg->data_dir, want);
	assert_string_equal(cfg->web_listen, "0.0.0.0:8080");
	config_free(cfg);

	cfg = (struct config *)1;
	assert_int_equal(
	    config_demo("var", "nohost", &cfg, err, sizeof(err)), DBS_ECONFIG);
	assert_null(cfg);
	expect_contains("listen", err, "--listen \"nohost\": expected");

	/* A data dir that cannot be created. */
	put(f, "afile", "x");
	assert_int_equal(
	    config_demo("afile/sub", NULL, &cfg, err, sizeof(err)),
	    DBS_ECONFIG);
	expect_contains("mkdir", err, "cannot create");
}

/* A loaded config with two definitions for the --check tests. */
static struct config *
check_config(struct fixture *f)
{
	struct config *cfg = NULL;
	char path[PATH_MAX], err[512];

	put(f, "databus.json", "{}");
	put(f, "clients/acme.json",
	    "{\"passengers\": [" DEF("") ", {\"name\": \"b\", " PULL ", " PUSH
					 "}]}");
	put(f, "clients/zed.json",
	    "{\"passengers\": [{\"name\": \"z\", \"pullers\": [{\"name\": "
	    "\"p\", \"type\": \"demo\", \"kind\": \"mail\"}], " PUSH "}]}");
	path_of(f, "databus.json", path);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), DBS_OK);
	return cfg;
}

static void
test_check_ok(void **state)
{
	struct fixture *f = *state;
	struct config *cfg = check_config(f);
	char script[PATH_MAX * 2], prog[PATH_MAX], in[PATH_MAX], err[512];
	json_t *req, *e;

	path_of(f, "check-ok", prog);
	path_of(f, "request.json", in);
	snprintf(script, sizeof(script),
	    "#!/bin/sh\n[ \"$1\" = --check ] || exit 9\ncat > '%s'\n"
	    "echo 'a warning only'\nexit 0\n",
	    in);
	put_exec(f, "check-ok", script);
	assert_int_equal(
	    config_check_drivers_with(cfg, prog, err, sizeof(err)), DBS_OK);

	/* What the worker was given: every definition, with its origin. */
	req = json_load_file(in, 0, NULL);
	assert_non_null(req);
	assert_true(json_is_array(req));
	assert_int_equal(json_array_size(req), 3);
	e = json_array_get(req, 1);
	assert_string_equal(json_string_value(json_object_get(e, "file")),
	    cfg->clients[0].file);
	assert_string_equal(
	    json_string_value(json_object_get(e, "path")), "$.passengers[1]");
	assert_string_equal(
	    json_string_value(json_object_get(e, "client")), "acme");
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(e, "definition"), "name")),
	    "b");
	e = json_array_get(req, 2);
	assert_string_equal(
	    json_string_value(json_object_get(e, "client")), "zed");
	assert_string_equal(
	    json_string_value(json_object_get(
		json_array_get(
		    json_object_get(
			json_object_get(e, "definition"), "pullers"),
		    0),
		"kind")),
	    "mail");
	json_decref(req);

	/* config_check_drivers runs cfg->worker_path. */
	free(cfg->worker_path);
	cfg->worker_path = strdup(prog);
	assert_int_equal(config_check_drivers(cfg, err, sizeof(err)), DBS_OK);
	config_free(cfg);
}

static void
test_check_problems(void **state)
{
	struct fixture *f = *state;
	struct config *cfg = check_config(f);
	char prog[PATH_MAX], err[1024];

	path_of(f, "check-100", prog);
	put_exec(f, "check-100",
	    "#!/bin/sh\ncat > /dev/null\n"
	    "echo 'clients/acme.json: $.passengers[0].pullers[0]: no such "
	    "driver type \"t\"'\n"
	    "echo\n"
	    "echo 'clients/zed.json: $.passengers[0].pushers[0]: bad'\n"
	    "exit 100\n");
	assert_int_equal(
	    config_check_drivers_with(cfg, prog, err, sizeof(err)),
	    DBS_ECONFIG);
	assert_string_equal(err,
	    "clients/acme.json: $.passengers[0].pullers[0]: no such driver "
	    "type \"t\"\n"
	    "clients/zed.json: $.passengers[0].pushers[0]: bad");

	/* Only the first few lines, then a count. */
	put_exec(f, "check-100",
	    "#!/bin/sh\ncat > /dev/null\n"
	    "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo \"problem $i\"; "
	    "done\nexit 100\n");
	assert_int_equal(
	    config_check_drivers_with(cfg, prog, err, sizeof(err)),
	    DBS_ECONFIG);
	assert_string_equal(err, "problem 1\nproblem 2\nproblem 3\nproblem 4\n"
				 "problem 5\nproblem 6\nproblem 7\nproblem 8\n"
				 "(and 4 more)");

	put_exec(f, "check-100", "#!/bin/sh\nexit 100\n");
	assert_int_equal(
	    config_check_drivers_with(cfg, prog, err, sizeof(err)),
	    DBS_ECONFIG);
	expect_contains("silent", err,
	    "--check found problems but did not "
	    "name them");
	config_free(cfg);
}

static void
test_check_cannot_run(void **state)
{
	struct fixture *f = *state;
	struct config *cfg = check_config(f);
	char prog[PATH_MAX], want[PATH_MAX + 64], err[1024];

	path_of(f, "nope", prog);
	assert_int_equal(
	    config_check_drivers_with(cfg, prog, err, sizeof(err)),
	    DBS_ECONFIG);
	snprintf(want, sizeof(want),
	    "cannot run %s --check: No such file or directory", prog);
	assert_string_equal(err, want);

	path_of(f, "not-exec", prog);
	put(f, "not-exec", "#!/bin/sh\nexit 0\n");
	assert_int_equal(
	    config_check_drivers_with(cfg, prog, err, sizeof(err)),
	    DBS_ECONFIG);
	snprintf(want, sizeof(want),
	    "cannot run %s --check: Permission denied", prog);
	assert_string_equal(err, want);

	path_of(f, "exit3", prog);
	put_exec(f, "exit3", "#!/bin/sh\nexit 3\n");
	assert_int_equal(
	    config_check_drivers_with(cfg, prog, err, sizeof(err)),
	    DBS_ECONFIG);
	snprintf(
	    want, sizeof(want), "cannot run %s --check: exit status 3", prog);
	assert_string_equal(err, want);

	path_of(f, "killed", prog);
	put_exec(f, "killed", "#!/bin/sh\nkill -9 $$\n");
	assert_int_equal(
	    config_check_drivers_with(cfg, prog, err, sizeof(err)),
	    DBS_ECONFIG);
	snprintf(want, sizeof(want),
	    "cannot run %s --check: killed by signal 9", prog);
	assert_string_equal(err, want);

	/* Stuck: bounded by the drive timeout. */
	path_of(f, "stuck", prog);
	put_exec(f, "stuck", "#!/bin/sh\nexec sleep 30\n");
	cfg->drive_timeout_ms = 200;
	assert_int_equal(
	    config_check_drivers_with(cfg, prog, err, sizeof(err)),
	    DBS_ECONFIG);
	snprintf(want, sizeof(want),
	    "cannot run %s --check: no answer within 200 ms", prog);
	assert_string_equal(err, want);

	/* Closes its stdout but does not exit: bounded too. */
	put_exec(f, "stuck", "#!/bin/sh\nexec >&-\nexec sleep 30\n");
	assert_int_equal(
	    config_check_drivers_with(cfg, prog, err, sizeof(err)),
	    DBS_ECONFIG);
	assert_string_equal(err, want);
	config_free(cfg);
}

static void
test_check_large_exchange(void **state)
{
	struct fixture *f = *state;
	struct config *cfg = NULL;
	char path[PATH_MAX], prog[PATH_MAX], err[1024];
	size_t big = 4096, n = 200, len;
	char *text, *filler;

	/* About 800 KiB of definitions, far past pipe and socket buffers. */
	filler = malloc(big + 1);
	assert_non_null(filler);
	memset(filler, 'x', big);
	filler[big] = '\0';
	text = malloc(n * (big + 200) + 64);
	assert_non_null(text);
	len = (size_t)sprintf(text, "{\"passengers\": [");
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(text + len,
		    "%s{\"name\": \"d%zu\", \"pullers\": [{\"name\": \"p\", "
		    "\"type\": \"t\", \"blob\": \"%s\"}], " PUSH "}",
		    i > 0 ? ", " : "", i, filler);
	sprintf(text + len, "]}");
	put(f, "databus.json", "{}");
	put(f, "clients/big.json", text);
	free(text);
	free(filler);
	path_of(f, "databus.json", path);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), DBS_OK);
	assert_int_equal(cfg->clients[0].n_defs, n);

	/* Writes a lot before reading: both sides must flow at once. */
	path_of(f, "chatty", prog);
	put_exec(f, "chatty",
	    "#!/bin/sh\nhead -c 300000 /dev/zero | tr '\\0' 'y'\n"
	    "cat > /dev/null\nexit 0\n");
	assert_int_equal(
	    config_check_drivers_with(cfg, prog, err, sizeof(err)), DBS_OK);

	/* Exits without reading: EPIPE, not SIGPIPE. */
	path_of(f, "deaf", prog);
	put_exec(f, "deaf", "#!/bin/sh\necho 'x: $: refused'\nexit 100\n");
	assert_int_equal(
	    config_check_drivers_with(cfg, prog, err, sizeof(err)),
	    DBS_ECONFIG);
	assert_string_equal(err, "x: $: refused");
	config_free(cfg);
}

static void
test_check_nothing_to_check(void **state)
{
	struct fixture *f = *state;
	struct config *cfg = NULL;
	char path[PATH_MAX], err[512];

	put(f, "databus.json", "{}");
	put(f, "clients/acme.json", "{\"users\": []}");
	path_of(f, "databus.json", path);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), DBS_OK);
	/* No definitions: the worker is not even started. */
	assert_int_equal(config_check_drivers_with(
			     cfg, "/nonexistent/worker", err, sizeof(err)),
	    DBS_OK);
	config_free(cfg);
}

/*
 * The shipped example (docs/examples/) must load. It is found from this
 * file's name as the compiler saw it, relative to the build root where the
 * tests run (tests/run changes there first).
 */
static void
test_docs_example(void **state)
{
	const char *src = __FILE__, *tail = "tests/unit/test_config.c";
	size_t n = strlen(src) - strlen(tail);
	struct config *cfg = NULL;
	char path[PATH_MAX], err[1024];
	const struct cfg_definition *d;

	(void)state;
	assert_true(strlen(src) >= strlen(tail));
	snprintf(
	    path, sizeof(path), "%.*sdocs/examples/databus.json", (int)n, src);
	if (access(path, R_OK) != 0) {
		print_message("%s: %s (run from the build root)\n", path,
		    strerror(errno));
		skip();
	}
	if (config_load(path, &cfg, err, sizeof(err)) != DBS_OK)
		fail_msg("%s", err);
	assert_string_equal(cfg->system_alias, "ACME-PROD");
	assert_int_equal(cfg->n_external_files, 1);
	assert_int_equal(cfg->n_clients, 2);
	assert_int_equal(cfg->clients[1].users[0].role, DBS__ROLE__ROLE_ROOT);
	d = config_find(cfg, "acme", "invoices");
	assert_non_null(d);
	assert_int_equal(d->sync_period_ms, 30000);
	assert_int_equal(d->queue_life_span_ms, 14LL * 86400000);
	d = config_find(cfg, "acme", "mails");
	assert_non_null(d);
	assert_int_equal(d->sync_period_ms, 5 * 60000);
	config_free(cfg);
}

/*
 * config_load_staged (the customizing section's saves): the loader reads
 * staged text in place of a file, sees a staged new client, ignores a removed
 * one, reports errors in staged text against the file's name, and writes
 * nothing.
 */
static void
test_staged(void **state)
{
	struct fixture *f = *state;
	struct config *cfg = NULL;
	struct config_stage st[3];
	char ticket[PATH_MAX], acme[PATH_MAX], newc[PATH_MAX], gone[PATH_MAX];
	char err[1024];
	static const char acme_text[] =
	    "{\"log_life_span\": 1, \"passengers\": []}";
	static const char staged_acme[] =
	    "{\"log_life_span\": 3, \"passengers\": []}";
	static const char bad_acme[] =
	    "{\"log_life_span\": \"long\", \"passengers\": []}";
	struct stat sb;

	put(f, "databus.json",
	    "{\"data_dir\": \"var\", \"external_config_files\": "
	    "[\"extra/map.json\"]}");
	put(f, "extra/map.json", "{}");
	put(f, "clients/acme.json", acme_text);
	put(f, "clients/gone.json", acme_text);
	path_of(f, "databus.json", ticket);
	/* The loader names client files by the clients directory's real
	 * path. */
	snprintf(acme, sizeof(acme), "%.3000s/clients/acme.json", f->real);
	snprintf(newc, sizeof(newc), "%.3000s/clients/initech.json", f->real);
	snprintf(gone, sizeof(gone), "%.3000s/clients/gone.json", f->real);

	st[0] = (struct config_stage){
	    acme, staged_acme, sizeof(staged_acme) - 1, false};
	st[1] = (struct config_stage){newc, "{}", 2, false};
	st[2] = (struct config_stage){gone, NULL, 0, true};
	assert_int_equal(
	    config_load_staged(ticket, st, 3, &cfg, err, sizeof(err)), DBS_OK);
	assert_int_equal(cfg->n_clients, 2);
	assert_string_equal(cfg->clients[0].name, "acme");
	assert_int_equal(cfg->clients[0].log_life_span_ms, 3 * 86400000LL);
	assert_string_equal(cfg->clients[1].name, "initech");
	assert_int_equal(cfg->n_external_files, 1);
	assert_string_equal(cfg->external_listed[0], "extra/map.json");
	config_free(cfg);
	/* Nothing was written. */
	assert_int_not_equal(stat(newc, &sb), 0);
	assert_int_equal(stat(gone, &sb), 0);

	st[0].text = bad_acme;
	st[0].len = sizeof(bad_acme) - 1;
	cfg = NULL;
	assert_int_equal(
	    config_load_staged(ticket, st, 1, &cfg, err, sizeof(err)),
	    DBS_ECONFIG);
	assert_null(cfg);
	expect_contains("staged error", err, "acme.json: $.log_life_span");

	/* Without a stage, the files as they are. */
	assert_int_equal(config_load(ticket, &cfg, err, sizeof(err)), DBS_OK);
	assert_int_equal(cfg->n_clients, 2);
	assert_int_equal(cfg->clients[0].log_life_span_ms, 86400000LL);
	assert_string_equal(cfg->clients[1].name, "gone");
	config_free(cfg);
}

/* faults: worker limits (default and per definition, merged field by
 * field) and the restart policy, with their defaults. */
static void
test_limits_and_restart(void **state)
{
	struct fixture *f = *state;
	struct config *cfg = NULL;
	const struct cfg_definition *own, *dflt;
	struct cfg_limits l;
	char path[PATH_MAX], err[512];

	put(f, "databus.json",
	    "{\"limits\": {\"memory\": \"1G\", \"open_files\": 100},"
	    " \"restart\": {\"min_delay\": \"5ms\", \"max_delay\": "
	    "\"2s\", \"max_restarts\": 50, \"window\": \"10s\", "
	    "\"stable\": \"1s\"}}");
	put(f, "clients/acme.json",
	    "{\"passengers\": [{\"name\": \"own\", \"pullers\": "
	    "[{\"name\": \"b\", \"type\": \"bench\"}], \"pushers\": "
	    "[{\"name\": \"n\", \"type\": \"null\"}], \"limits\": "
	    "{\"memory\": \"256M\", \"cpu_time\": \"1m\"}}, "
	    "{\"name\": \"dflt\", \"pullers\": [{\"name\": \"b\", "
	    "\"type\": \"bench\"}], \"pushers\": [{\"name\": \"n\", "
	    "\"type\": \"null\"}]}]}");
	make_dir(f, "var");
	path_of(f, "databus.json", path);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), DBS_OK);
	own = config_find(cfg, "acme", "own");
	dflt = config_find(cfg, "acme", "dflt");
	assert_non_null(own);
	assert_non_null(dflt);
	l = config_limits(cfg, own);
	assert_int_equal(l.memory, 256ULL << 20);
	assert_int_equal(l.cpu_s, 60);
	assert_int_equal(l.open_files, 100);
	l = config_limits(cfg, dflt);
	assert_int_equal(l.memory, 1ULL << 30);
	assert_int_equal(l.cpu_s, 0);
	assert_int_equal(l.open_files, 100);
	assert_int_equal(cfg->restart.min_ms, 5);
	assert_int_equal(cfg->restart.max_ms, 2000);
	assert_int_equal(cfg->restart.max_restarts, 50);
	assert_int_equal(cfg->restart.window_ms, 10000);
	assert_int_equal(cfg->restart.stable_ms, 1000);
	config_free(cfg);

	put(f, "databus.json", "{\"restart\": {\"max_delay\": \"1ms\"}}");
	cfg = NULL;
	assert_int_equal(
	    config_load(path, &cfg, err, sizeof(err)), DBS_ECONFIG);
	assert_non_null(strstr(err, "$.restart.max_delay"));
	put(f, "databus.json", "{}");
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), DBS_OK);
	assert_int_equal(cfg->restart.min_ms, 100);
	assert_int_equal(cfg->restart.max_restarts, 10);
	assert_int_equal(cfg->limits.memory, 0);
	config_free(cfg);
}

/* $.quotas: a client's entry over the default, member by member;
 * errors name the path; a client file may not carry quotas. */
static void
test_quotas(void **state)
{
	struct fixture *f = *state;
	struct config *cfg = NULL;
	struct cfg_quota q;
	char path[PATH_MAX], err[512];

	put(f, "databus.json",
	    "{\"quotas\": {\"default\": {\"store_quota\": \"1MiB\", "
	    "\"max_pending\": 10, \"webhook_rate\": 2.5, \"cpu_weight\": "
	    "100}, \"clients\": {\"acme\": {\"max_pending\": 99, "
	    "\"webhook_rate\": {\"rate\": 5, \"burst\": 20}, "
	    "\"memory_max\": \"64MiB\", \"max_concurrent_drives\": 2}}}}");
	put(f, "clients/acme.json", "{\"passengers\": []}");
	make_dir(f, "var");
	path_of(f, "databus.json", path);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), DBS_OK);
	q = config_quota_of(cfg->quotas, "acme");
	assert_int_equal(q.store_quota, 1 << 20);
	assert_int_equal(q.max_pending, 99);
	assert_true(q.webhook_rate == 5 && q.webhook_burst == 20);
	assert_int_equal(q.max_concurrent_drives, 2);
	assert_int_equal(q.cpu_weight, 100);
	assert_int_equal(q.memory_max, 64 << 20);
	q = config_quota_of(cfg->quotas, "other");
	assert_int_equal(q.max_pending, 10);
	assert_true(q.webhook_rate == 2.5 && q.webhook_burst == 3);
	assert_int_equal(q.memory_max, 0);
	assert_true(config_quotas_want_cgroups(cfg->quotas));
	config_free(cfg);

	put(f, "databus.json",
	    "{\"quotas\": {\"clients\": {\"acme\": {\"max_pendin\": 1}}}}");
	cfg = NULL;
	assert_int_equal(
	    config_load(path, &cfg, err, sizeof(err)), DBS_ECONFIG);
	assert_non_null(strstr(err, "databus.json: "
				    "$.quotas.clients.acme.max_pendin: "
				    "unknown key"));
	put(f, "databus.json",
	    "{\"quotas\": {\"default\": "
	    "{\"webhook_rate\": 0}}}");
	assert_int_equal(
	    config_load(path, &cfg, err, sizeof(err)), DBS_ECONFIG);
	assert_non_null(
	    strstr(err, "$.quotas.default.webhook_rate: expected"));
	put(f, "databus.json", "{}");
	put(f, "clients/acme.json", "{\"quotas\": {}, \"passengers\": []}");
	assert_int_equal(
	    config_load(path, &cfg, err, sizeof(err)), DBS_ECONFIG);
	assert_non_null(strstr(err, "acme.json: $.quotas: quotas are set by "
				    "root in databus.json"));
	put(f, "clients/acme.json", "{\"passengers\": []}");
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), DBS_OK);
	assert_null(cfg->quotas);
	q = config_quota_of(cfg->quotas, "acme");
	assert_int_equal(q.store_quota, 0);
	config_free(cfg);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_full_example),
	    T(test_quotas),
	    T(test_defaults),
	    T(test_relative_paths),
	    T(test_bad_tickets),
	    T(test_bad_clients),
	    T(test_driver_settings_free),
	    T(test_small_err_buffer),
	    T(test_missing_ticket),
	    T(test_limits_and_restart),
	    cmocka_unit_test(test_parse_duration),
	    cmocka_unit_test(test_parse_client),
	    T(test_demo),
	    T(test_check_ok),
	    T(test_check_problems),
	    T(test_check_cannot_run),
	    T(test_check_large_exchange),
	    T(test_check_nothing_to_check),
	    cmocka_unit_test(test_docs_example),
	    T(test_staged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
