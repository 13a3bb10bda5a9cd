/*
 * test_config_policy.c — the client policy of databus.json: its parsing
 * (errors name the JSON path) and the check of a client file saved by a
 * client administrator, in a scratch folder: <tmp>/etc is databus.json's
 * folder, <tmp>/var the data dir, with the client's own folder
 * var/files/acme and a symbolic link in it that points out.
 */
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

#include "config_policy.h"
#include "dbs_error.h"

static char tmp[256], etc[300], var[300], mine[400];
static char err[2048];

static int
setup(void **state)
{
	char path[600];

	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/dbs-policy-XXXXXX");
	if (mkdtemp(tmp) == NULL)
		return -1;
	snprintf(etc, sizeof(etc), "%s/etc", tmp);
	snprintf(var, sizeof(var), "%s/var", tmp);
	snprintf(mine, sizeof(mine), "%s/files/acme", var);
	mkdir(etc, 0700);
	mkdir(var, 0700);
	snprintf(path, sizeof(path), "%s/files", var);
	mkdir(path, 0700);
	mkdir(mine, 0700);
	snprintf(path, sizeof(path), "%s/out", mine);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/escape", mine);
	return symlink("/tmp", path);
}

static int
teardown(void **state)
{
	char cmd[400];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

/* The policy of `json` (NULL: none given); fails the test on error. */
static struct cfg_policy *
policy(const char *json)
{
	struct pctx p = {"databus.json", err, sizeof(err)};
	struct cfg_policy *pol = NULL;
	json_t *v = json != NULL ? json_loads(json, 0, NULL) : NULL;
	int rc = config_policy_parse(&p, v, etc, &pol);

	json_decref(v);
	if (rc != DBS_OK)
		fail_msg("%s", err);
	return pol;
}

/* The error of parsing `json` as a client policy. */
static const char *
policy_error(const char *json)
{
	struct pctx p = {"databus.json", err, sizeof(err)};
	struct cfg_policy *pol = NULL;
	json_t *v = json_loads(json, 0, NULL);
	int rc;

	assert_non_null(v);
	rc = config_policy_parse(&p, v, etc, &pol);
	json_decref(v);
	assert_int_equal(rc, DBS_ECONFIG);
	assert_null(pol);
	return err;
}

/* Check a client file of `client` holding one definition with `driver`
 * in `list`; `old` the file it replaces (may be NULL). */
static int
check_with(const struct cfg_policy *pol, const char *client, const char *list,
    const char *driver, const char *old)
{
	char text[4096];
	struct cfg_policy_check c = {
	    .pol = pol,
	    .ticket = "databus.json",
	    .client = client,
	    .data_dir = var,
	    .base_dir = etc,
	    .shown = "clients/acme.json",
	    .old = old,
	    .old_len = old != NULL ? strlen(old) : 0,
	};

	snprintf(text, sizeof(text),
	    "{\"passengers\": [{\"name\": \"one\", \"%s\": [%s]}]}", list,
	    driver);
	err[0] = '\0';
	return config_policy_check(&c, text, strlen(text), err, sizeof(err));
}

static int
check(const struct cfg_policy *pol, const char *list, const char *driver)
{
	return check_with(pol, "acme", list, driver, NULL);
}

static void
assert_refused(int rc, const char *want)
{
	assert_int_equal(rc, DBS_ECONFIG);
	if (strstr(err, want) == NULL)
		fail_msg("\"%s\" not in \"%s\"", want, err);
}

static void
test_default_driver_types(void **state)
{
	struct cfg_policy *pol = policy(NULL);

	(void)state;
	assert_refused(check(pol, "pushers",
			   "{\"name\": \"x\", \"type\": \"exec\", "
			   "\"command\": [\"id\"]}"),
	    "clients/acme.json: $.passengers[0].pushers[0].type: driver type "
	    "\"exec\" is not allowed for client administrators (databus.json "
	    "$.client_policy)");
	assert_refused(check(pol, "pullers",
			   "{\"name\": \"x\", \"type\": \"plugin\", "
			   "\"path\": \"x.so\"}"),
	    "$.passengers[0].pullers[0].type: driver type \"plugin\"");
	assert_refused(check(pol, "processors",
			   "{\"name\": \"x\", \"type\": \"nosuch\"}"),
	    "\"nosuch\" is not allowed");
	assert_int_equal(check(pol, "pushers",
			     "{\"name\": \"x\", \"type\": \"http\", "
			     "\"url\": \"http://example.com/\"}"),
	    DBS_OK);
	/* No policy at all (NULL) is the same as the defaults. */
	assert_int_equal(
	    check(NULL, "pushers", "{\"name\": \"x\", \"type\": \"exec\"}"),
	    DBS_ECONFIG);
	config_policy_free(pol);
}

static void
test_default_paths(void **state)
{
	struct cfg_policy *pol = policy(NULL);
	char d[1024];

	(void)state;
	snprintf(d, sizeof(d),
	    "{\"name\": \"x\", \"type\": \"dir\", \"path\": \"%s\"}", mine);
	assert_int_equal(check(pol, "pushers", d), DBS_OK);
	snprintf(d, sizeof(d),
	    "{\"name\": \"x\", \"type\": \"dir\", \"path\": \"%s/out\"}",
	    mine);
	assert_int_equal(check(pol, "pushers", d), DBS_OK);
	/* Not there yet: taken as written. */
	snprintf(d, sizeof(d),
	    "{\"name\": \"x\", \"type\": \"dir\", \"path\": "
	    "\"%s/new/deeper\"}",
	    mine);
	assert_int_equal(check(pol, "pushers", d), DBS_OK);
	/* Relative to databus.json's folder: ../var/files/acme. */
	assert_int_equal(check(pol, "pushers",
			     "{\"name\": \"x\", \"type\": \"dir\", "
			     "\"path\": \"../var/files/acme/out\"}"),
	    DBS_OK);
	assert_refused(check(pol, "pushers",
			   "{\"name\": \"x\", \"type\": \"dir\", "
			   "\"path\": \"/tmp/x\"}"),
	    "$.passengers[0].pushers[0].path: \"/tmp/x\" is outside the "
	    "folders a client administrator may name");
	assert_refused(check(pol, "pushers",
			   "{\"name\": \"x\", \"type\": \"dir\", "
			   "\"path\": \"../..\"}"),
	    "\"../..\" is outside");
	assert_refused(check(pol, "pushers",
			   "{\"name\": \"x\", \"type\": \"dir\", "
			   "\"path\": \"../var/files/acme/../globex\"}"),
	    "is outside");
	/* A name that goes out and back in by "..": as the kernel goes. */
	snprintf(d, sizeof(d),
	    "{\"name\": \"x\", \"type\": \"dir\", \"path\": "
	    "\"%s/out/../../acme/out\"}",
	    mine);
	assert_int_equal(check(pol, "pushers", d), DBS_OK);
	/* A symbolic link inside the folder that points out, also when the
	 * rest does not exist or climbs back up through it. */
	snprintf(d, sizeof(d),
	    "{\"name\": \"x\", \"type\": \"dir\", \"path\": \"%s/escape\"}",
	    mine);
	assert_refused(check(pol, "pushers", d), "/escape\" is outside");
	snprintf(d, sizeof(d),
	    "{\"name\": \"x\", \"type\": \"dir\", \"path\": "
	    "\"%s/escape/nosuch/x\"}",
	    mine);
	assert_refused(check(pol, "pushers", d), "is outside");
	snprintf(d, sizeof(d),
	    "{\"name\": \"x\", \"type\": \"dir\", \"path\": "
	    "\"%s/escape/../files/acme\"}",
	    mine);
	assert_refused(check(pol, "pushers", d), "is outside");
	/* Another client's folder is not this one's. */
	assert_refused(check_with(pol, "globex", "pushers",
			   "{\"name\": \"x\", \"type\": \"dir\", "
			   "\"path\": \"../var/files/acme\"}",
			   NULL),
	    "is outside");
	config_policy_free(pol);
}

static void
test_every_path_setting(void **state)
{
	struct cfg_policy *pol = policy(NULL);
	char d[1024];

	(void)state;
	/* dir puller: path, and done relative to it unless absolute. */
	snprintf(d, sizeof(d),
	    "{\"name\": \"x\", \"type\": \"dir\", \"path\": \"%s\", "
	    "\"done\": \"done\"}",
	    mine);
	assert_int_equal(check(pol, "pullers", d), DBS_OK);
	snprintf(d, sizeof(d),
	    "{\"name\": \"x\", \"type\": \"dir\", \"path\": \"%s\", "
	    "\"done\": \"../../../x\"}",
	    mine);
	assert_refused(check(pol, "pullers", d),
	    "$.passengers[0].pullers[0].done: \"../../../x\" is outside");
	snprintf(d, sizeof(d),
	    "{\"name\": \"x\", \"type\": \"dir\", \"path\": \"%s\", "
	    "\"done\": \"/var/tmp\"}",
	    mine);
	assert_refused(check(pol, "pullers", d), ".done: \"/var/tmp\"");
	assert_refused(check(pol, "pullers",
			   "{\"name\": \"x\", \"type\": \"dir\", "
			   "\"path\": \"/etc\"}"),
	    "pullers[0].path: \"/etc\"");
	/* null pusher's record, any driver's ca_file. */
	assert_refused(check(pol, "pushers",
			   "{\"name\": \"x\", \"type\": \"null\", "
			   "\"record\": \"/etc/cron.d/x\"}"),
	    ".record: \"/etc/cron.d/x\"");
	assert_refused(check(pol, "pushers",
			   "{\"name\": \"x\", \"type\": \"http\", \"url\": "
			   "\"https://x/\", \"ca_file\": \"/etc/shadow\"}"),
	    ".ca_file: \"/etc/shadow\"");
	assert_refused(check(pol, "pullers",
			   "{\"name\": \"x\", \"type\": \"imap\", "
			   "\"ca_file\": \"/root/ca.pem\"}"),
	    ".ca_file: \"/root/ca.pem\"");
	/* libpq's file parameters, in both forms of a connection string. */
	assert_int_equal(check(pol, "pushers",
			     "{\"name\": \"x\", \"type\": \"postgres\", "
			     "\"conninfo\": \"host=db dbname=app "
			     "sslrootcert=system\"}"),
	    DBS_OK);
	assert_refused(check(pol, "pushers",
			   "{\"name\": \"x\", \"type\": \"postgres\", "
			   "\"conninfo\": \"host=db sslkey = '/root/k "
			   "ey'\"}"),
	    ".conninfo: sslkey \"/root/k ey\" is outside");
	assert_refused(check(pol, "pushers",
			   "{\"name\": \"x\", \"type\": \"postgres\", "
			   "\"conninfo\": \"host=db,/run/postgresql\"}"),
	    ".conninfo: host \"/run/postgresql\"");
	assert_refused(
	    check(pol, "pushers",
		"{\"name\": \"x\", \"type\": \"postgres\", "
		"\"conninfo\": \"postgresql://u@%2Frun%2Fpg/app\"}"),
	    "host \"/run/pg\"");
	assert_refused(check(pol, "pushers",
			   "{\"name\": \"x\", \"type\": \"postgres\", "
			   "\"conninfo\": \"postgres://db/app?sslmode=require&"
			   "passfile=%2Froot%2F.pgpass\"}"),
	    "passfile \"/root/.pgpass\"");
	assert_refused(check(pol, "pushers",
			   "{\"name\": \"x\", \"type\": \"postgres\", "
			   "\"conninfo\": \"host='db\"}"),
	    ".conninfo: cannot be read");
	config_policy_free(pol);
}

static void
test_policy_given(void **state)
{
	struct cfg_policy *pol = policy(
	    "{\"drivers\": [\"dir\", \"bench\"], \"paths\": "
	    "[\"/srv/{client}/in\", \"../var/shared\"], \"clients\": "
	    "{\"ops\": {\"drivers\": [\"*\"], \"paths\": [\"/\"]}, "
	    "\"acme\": {\"drivers\": [\"exec\", \"bench\", \"dir\"]}}}");
	char d[1024];

	(void)state;
	/* acme: its own drivers, the top's paths. */
	assert_int_equal(
	    check(pol, "pushers", "{\"name\": \"x\", \"type\": \"exec\"}"),
	    DBS_OK);
	assert_refused(
	    check(pol, "pushers", "{\"name\": \"x\", \"type\": \"null\"}"),
	    "(databus.json $.client_policy.clients.acme.drivers)");
	assert_int_equal(check(pol, "pushers",
			     "{\"name\": \"x\", \"type\": \"dir\", "
			     "\"path\": \"/srv/acme/in/a\"}"),
	    DBS_OK);
	snprintf(d, sizeof(d),
	    "{\"name\": \"x\", \"type\": \"dir\", \"path\": \"%s/shared\"}",
	    var);
	assert_int_equal(check(pol, "pushers", d), DBS_OK);
	/* The default client folder is no longer among them. */
	snprintf(d, sizeof(d),
	    "{\"name\": \"x\", \"type\": \"dir\", \"path\": \"%s\"}", mine);
	assert_refused(
	    check(pol, "pushers", d), "(databus.json $.client_policy.paths)");
	/* globex: the top level; ops: anything. */
	assert_refused(check_with(pol, "globex", "pushers",
			   "{\"name\": \"x\", \"type\": \"exec\"}", NULL),
	    "(databus.json $.client_policy.drivers)");
	assert_refused(check_with(pol, "globex", "pushers",
			   "{\"name\": \"x\", \"type\": \"dir\", "
			   "\"path\": \"/srv/acme/in\"}",
			   NULL),
	    "is outside");
	assert_int_equal(check_with(pol, "ops", "pushers",
			     "{\"name\": \"x\", \"type\": \"plugin\", "
			     "\"path\": \"/usr/lib/x.so\"}",
			     NULL),
	    DBS_OK);
	config_policy_free(pol);
}

/* databusd's environment: no "env:NAME" value and no webhook secret_env
 * by default, anywhere in an entry; the policy names what it allows. */
static void
test_environment(void **state)
{
	struct cfg_policy *pol =
	    policy("{\"env\": [\"SHARED_TOKEN\"], \"clients\": "
		   "{\"ops\": {\"env\": [\"*\"]}}}");

	(void)state;
	assert_refused(check(NULL, "pushers",
			   "{\"name\": \"x\", \"type\": \"http\", \"url\": "
			   "\"http://e.example/\", \"headers\": "
			   "{\"Authorization\": \"env:OTHER_TOKEN\"}}"),
	    "$.passengers[0].pushers[0].headers.Authorization: reads "
	    "databusd's environment variable \"OTHER_TOKEN\"");
	assert_refused(check(NULL, "pullers",
			   "{\"name\": \"h\", \"type\": \"webhook\", "
			   "\"secret_env\": \"OTHER_SECRET\"}"),
	    "$.passengers[0].pullers[0].secret_env: reads");
	assert_refused(check(NULL, "pushers",
			   "{\"name\": \"m\", \"type\": \"smtp\", "
			   "\"auth\": [{\"password\": \"env:X\"}]}"),
	    "(databus.json $.client_policy)");
	/* A literal that only looks alike is not a reference. */
	assert_int_equal(check(NULL, "pushers",
			     "{\"name\": \"x\", \"type\": \"null\", "
			     "\"note\": \"environment: env\"}"),
	    DBS_OK);
	/* Named by the policy: allowed; others still not. */
	assert_int_equal(check(pol, "pushers",
			     "{\"name\": \"x\", \"type\": \"http\", "
			     "\"headers\": {\"A\": \"env:SHARED_TOKEN\"}}"),
	    DBS_OK);
	assert_refused(check(pol, "pushers",
			   "{\"name\": \"x\", \"type\": \"http\", "
			   "\"headers\": {\"A\": \"env:OTHER\"}}"),
	    "(databus.json $.client_policy.env)");
	assert_int_equal(check_with(pol, "ops", "pushers",
			     "{\"name\": \"x\", \"type\": \"http\", "
			     "\"headers\": {\"A\": \"env:ANY\"}}",
			     NULL),
	    DBS_OK);
	assert_string_equal(policy_error("{\"env\": [\"A-B\"]}"),
	    "databus.json: $.client_policy.env[0]: expected an environment "
	    "variable name ([A-Za-z_][A-Za-z0-9_]*), or \"*\" for all");
	config_policy_free(pol);
}

/* An entry root put there, kept exactly as it is in the same definition,
 * is not checked again; changed or moved, it is. */
static void
test_kept_entries(void **state)
{
	struct cfg_policy *pol = policy(NULL);
	const char *exec = "{\"name\": \"x\", \"type\": \"exec\", "
			   "\"command\": [\"id\"]}";
	const char *old = "{\"passengers\": [{\"name\": \"one\", "
			  "\"pushers\": [{\"name\": \"x\", \"type\": "
			  "\"exec\", \"command\": [\"id\"]}]}]}";
	const char *other = "{\"passengers\": [{\"name\": \"two\", "
			    "\"pushers\": [{\"name\": \"x\", \"type\": "
			    "\"exec\", \"command\": [\"id\"]}]}]}";

	(void)state;
	assert_int_equal(
	    check_with(pol, "acme", "pushers", exec, old), DBS_OK);
	assert_refused(check_with(pol, "acme", "pushers",
			   "{\"name\": \"x\", \"type\": \"exec\", "
			   "\"command\": [\"sh\"]}",
			   old),
	    "\"exec\" is not allowed");
	assert_refused(check_with(pol, "acme", "pushers", exec, other),
	    "\"exec\" is not allowed");
	assert_refused(check_with(pol, "acme", "processors", exec, old),
	    "\"exec\" is not allowed");
	config_policy_free(pol);
}

static void
test_bad_policies(void **state)
{
	(void)state;
	assert_string_equal(policy_error("[]"),
	    "databus.json: $.client_policy: expected an object "
	    "{\"drivers\": [...], \"paths\": [...], \"clients\": {...}}");
	assert_string_equal(policy_error("{\"driver\": []}"),
	    "databus.json: $.client_policy.driver: unknown key (expected one "
	    "of: drivers, paths, env, sql, clients)");
	assert_non_null(strstr(policy_error("{\"drivers\": [\"dir\", 3]}"),
	    "$.client_policy.drivers[1]: expected driver types"));
	assert_non_null(strstr(policy_error("{\"drivers\": [\"exex\"]}"),
	    "$.client_policy.drivers[0]: unknown driver type \"exex\""));
	assert_non_null(strstr(policy_error("{\"paths\": \"/srv\"}"),
	    "$.client_policy.paths: expected an array"));
	assert_non_null(strstr(policy_error("{\"paths\": [\"\"]}"),
	    "$.client_policy.paths[0]: expected folder names"));
	assert_non_null(strstr(policy_error("{\"clients\": []}"),
	    "$.client_policy.clients: expected an object"));
	assert_non_null(strstr(policy_error("{\"clients\": {\"a b\": {}}}"),
	    "$.client_policy.clients.a b: invalid client name"));
	assert_non_null(strstr(policy_error("{\"clients\": {\"root\": {}}}"),
	    "$.client_policy.clients.root: invalid client name"));
	assert_non_null(strstr(
	    policy_error("{\"clients\": {\"acme\": {\"clients\": {}}}}"),
	    "$.client_policy.clients.acme.clients: unknown key (expected "
	    "one of: drivers, paths, env, sql)"));
	assert_non_null(strstr(
	    policy_error("{\"clients\": {\"acme\": {\"paths\": [1]}}}"),
	    "$.client_policy.clients.acme.paths[0]: expected folder names"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_driver_types),
	    cmocka_unit_test(test_default_paths),
	    cmocka_unit_test(test_every_path_setting),
	    cmocka_unit_test(test_policy_given),
	    cmocka_unit_test(test_kept_entries),
	    cmocka_unit_test(test_environment),
	    cmocka_unit_test(test_bad_policies),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
