/*
 * test_ctl_args.c — unit tests of supervisor/ctl_args.c: databusctl's
 * command line. Every verb form that system tests and operators rely on,
 * every usage error (which must exit 100 before anything is sent), and the
 * duration and number parsers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_args.h"
#include "databus.pb-c.h"

static char err[256];

/* Parse a NULL-terminated list of words (argv[0] is added). */
static enum ctl_parse_result
parse(struct ctl_args *a, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	char *s;

	argv[argc++] = "databusctl";
	va_start(ap, a);
	while ((s = va_arg(ap, char *)) != NULL)
		argv[argc++] = s;
	va_end(ap);
	argv[argc] = NULL;
	return ctl_args_parse(argc, argv, a, err, sizeof(err));
}

#define OK(a, ...) assert_int_equal(parse(a, __VA_ARGS__, NULL), CTL_PARSE_OK)
#define USAGE(a, ...)                                                         \
	assert_int_equal(parse(a, __VA_ARGS__, NULL), CTL_PARSE_USAGE)

static void
test_defaults_and_globals(void **state)
{
	struct ctl_args a;

	(void)state;
	OK(&a, "status");
	assert_int_equal(a.verb, CTL_STATUS);
	assert_string_equal(a.verb_name, "status");
	assert_string_equal(a.data_dir, "var");
	assert_null(a.socket_url);
	assert_false(a.json);
	assert_int_equal(a.limit, 50);
	assert_int_equal(a.state, -1);

	OK(&a, "--data", "/tmp/x", "--json", "workers");
	assert_int_equal(a.verb, CTL_WORKERS);
	assert_string_equal(a.data_dir, "/tmp/x");
	assert_true(a.json);

	/* Global options after the verb, and --opt=value. */
	OK(&a, "pause", "--json", "--data=/srv/var");
	assert_int_equal(a.verb, CTL_PAUSE);
	assert_true(a.json);
	assert_string_equal(a.data_dir, "/srv/var");

	OK(&a, "--socket", "ipc:///tmp/c", "shutdown");
	assert_int_equal(a.verb, CTL_SHUTDOWN);
	assert_string_equal(a.socket_url, "ipc:///tmp/c");

	OK(&a, "resume");
	assert_int_equal(a.verb, CTL_RESUME);
	OK(&a, "reload");
	assert_int_equal(a.verb, CTL_RELOAD);
	OK(&a, "verify");
	assert_int_equal(a.verb, CTL_VERIFY);
}

static void
test_help(void **state)
{
	struct ctl_args a;

	(void)state;
	assert_int_equal(parse(&a, "help", NULL), CTL_PARSE_HELP);
	assert_int_equal(parse(&a, "--help", NULL), CTL_PARSE_HELP);
	assert_int_equal(parse(&a, "-h", NULL), CTL_PARSE_HELP);
	assert_int_equal(
	    parse(&a, "queue", "ls", "--help", NULL), CTL_PARSE_HELP);
}

static void
test_usage_errors(void **state)
{
	struct ctl_args a;

	(void)state;
	assert_int_equal(parse(&a, NULL), CTL_PARSE_USAGE);
	assert_string_equal(err, "missing verb");
	USAGE(&a, "frobnicate");
	assert_string_equal(err, "unknown verb \"frobnicate\"");
	USAGE(&a, "status", "--bogus");
	assert_string_equal(err, "unknown option --bogus");
	USAGE(&a, "-x", "status");
	USAGE(&a, "queue");
	assert_non_null(strstr(err, "missing subcommand"));
	assert_non_null(strstr(err, "ls, show, set, requeue, purge"));
	USAGE(&a, "queue", "frob");
	assert_non_null(strstr(err, "unknown subcommand \"frob\""));
	USAGE(&a, "status", "extra");
	assert_string_equal(err, "status: takes no arguments");
	USAGE(&a, "expedite");
	assert_string_equal(err, "expedite: expects CLIENT PASSENGER");
	USAGE(&a, "expedite", "demo");
	USAGE(&a, "expedite", "demo", "mails", "more");
	USAGE(&a, "user", "add", "acme");
	/* An option of another verb. */
	USAGE(&a, "status", "--limit", "5");
	assert_string_equal(err, "status: option --limit does not apply");
	/* A value missing, or given to a flag. */
	USAGE(&a, "queue", "ls", "--limit");
	assert_non_null(strstr(err, "needs a value"));
	USAGE(&a, "queue", "ls", "--oldest=yes");
	USAGE(&a, "--data", "", "status");
	USAGE(&a, "expedite", "", "mails");
}

static void
test_expedite_peek(void **state)
{
	struct ctl_args a;

	(void)state;
	OK(&a, "expedite", "demo", "mails");
	assert_int_equal(a.verb, CTL_EXPEDITE);
	assert_string_equal(a.client_arg, "demo");
	assert_string_equal(a.definition, "mails");
	OK(&a, "peek", "demo", "invoices");
	assert_int_equal(a.verb, CTL_PEEK);
	assert_string_equal(a.definition, "invoices");
}

static void
test_queue_ls(void **state)
{
	struct ctl_args a;

	(void)state;
	OK(&a, "queue", "ls");
	assert_int_equal(a.verb, CTL_QUEUE_LS);
	assert_string_equal(a.verb_name, "queue ls");
	assert_null(a.client);
	assert_false(a.oldest);

	OK(&a, "queue", "ls", "--client", "acme", "--passenger", "orders",
	    "--state", "dead", "--limit", "3", "--cursor", "17", "--oldest",
	    "--q", "f01");
	assert_string_equal(a.client, "acme");
	assert_string_equal(a.passenger, "orders");
	assert_int_equal(a.state, DBS__PASSENGER_STATE__PS_DEAD);
	assert_int_equal(a.limit, 3);
	assert_int_equal(a.cursor, 17);
	assert_true(a.oldest);
	assert_string_equal(a.q, "f01");

	USAGE(&a, "queue", "ls", "--state", "finished");
	USAGE(&a, "queue", "ls", "--limit", "0");
	USAGE(&a, "queue", "ls", "--limit", "100001");
	USAGE(&a, "queue", "ls", "--limit", "-1");
	USAGE(&a, "queue", "ls", "--limit", "3x");
	USAGE(&a, "queue", "ls", "--cursor", "x");
	USAGE(&a, "queue", "ls", "--passenger", "orders");
	assert_string_equal(err, "queue ls: --passenger needs --client");
	OK(&a, "queue", "ls", "--limit", "100000");
}

static void
test_queue_changes(void **state)
{
	struct ctl_args a;

	(void)state;
	OK(&a, "queue", "show", "acme", "42");
	assert_int_equal(a.verb, CTL_QUEUE_SHOW);
	assert_string_equal(a.client_arg, "acme");
	assert_int_equal(a.id, 42);
	USAGE(&a, "queue", "show", "acme", "0");
	USAGE(&a, "queue", "show", "acme", "abc");
	USAGE(&a, "queue", "show", "acme", "-5");

	OK(&a, "queue", "set", "acme", "42", "out", "incomplete");
	assert_int_equal(a.verb, CTL_QUEUE_SET);
	assert_int_equal(a.id, 42);
	assert_string_equal(a.step, "out");
	assert_false(a.complete);
	OK(&a, "queue", "set", "acme", "42", "out", "complete");
	assert_true(a.complete);
	USAGE(&a, "queue", "set", "acme", "42", "out", "maybe");
	assert_non_null(strstr(err, "complete or incomplete"));

	OK(&a, "queue", "requeue", "acme", "7");
	assert_int_equal(a.verb, CTL_QUEUE_REQUEUE);
	assert_int_equal(a.id, 7);

	OK(&a, "queue", "purge");
	assert_int_equal(a.verb, CTL_QUEUE_PURGE);
	assert_int_equal(a.older_than_ms, 0);
	OK(&a, "queue", "purge", "--client", "acme", "--passenger", "orders",
	    "--older-than", "7d");
	assert_int_equal(a.older_than_ms, 7 * 86400000LL);
	USAGE(&a, "queue", "purge", "--older-than", "7");
	USAGE(&a, "queue", "purge", "--state", "done");
}

static void
test_logs(void **state)
{
	struct ctl_args a;

	(void)state;
	OK(&a, "logs", "ls", "--client", "demo", "--limit", "5", "--cursor",
	    "9");
	assert_int_equal(a.verb, CTL_LOGS_LS);
	assert_string_equal(a.client, "demo");
	assert_int_equal(a.limit, 5);
	assert_int_equal(a.cursor, 9);
	USAGE(&a, "logs", "ls", "--state", "done");
	OK(&a, "logs", "show", "demo", "12");
	assert_int_equal(a.verb, CTL_LOGS_SHOW);
	assert_int_equal(a.id, 12);
	OK(&a, "logs", "purge", "--older-than", "1h30m");
	assert_int_equal(a.verb, CTL_LOGS_PURGE);
	assert_int_equal(a.older_than_ms, 5400000);
	USAGE(&a, "logs", "purge", "--passenger", "x", "--client", "c");
}

static void
test_users(void **state)
{
	struct ctl_args a;

	(void)state;
	OK(&a, "user", "ls");
	assert_int_equal(a.verb, CTL_USER_LS);
	assert_null(a.client_arg);
	OK(&a, "user", "ls", "acme");
	assert_string_equal(a.client_arg, "acme");

	OK(&a, "user", "add", "acme", "bob", "--password-stdin");
	assert_int_equal(a.verb, CTL_USER_ADD);
	assert_string_equal(a.client_arg, "acme");
	assert_string_equal(a.username, "bob");
	assert_int_equal(a.role, DBS__ROLE__ROLE_OPERATOR);
	assert_true(a.password_stdin);
	OK(&a, "user", "add", "acme", "carol", "--role", "administrator");
	assert_int_equal(a.role, DBS__ROLE__ROLE_ADMINISTRATOR);
	assert_false(a.password_stdin);
	/* The root client's users are root, and only they are. */
	OK(&a, "user", "add", "root", "admin");
	assert_int_equal(a.role, DBS__ROLE__ROLE_ROOT);
	OK(&a, "user", "add", "root", "admin", "--role", "root");
	assert_int_equal(a.role, DBS__ROLE__ROLE_ROOT);
	USAGE(&a, "user", "add", "root", "admin", "--role", "operator");
	USAGE(&a, "user", "add", "acme", "bob", "--role", "root");
	USAGE(&a, "user", "add", "acme", "bob", "--role", "boss");

	OK(&a, "user", "passwd", "acme", "bob");
	assert_int_equal(a.verb, CTL_USER_PASSWD);
	USAGE(&a, "user", "passwd", "acme", "bob", "--role", "operator");
	OK(&a, "user", "role", "acme", "bob", "administrator");
	assert_int_equal(a.verb, CTL_USER_ROLE);
	assert_int_equal(a.role, DBS__ROLE__ROLE_ADMINISTRATOR);
	USAGE(&a, "user", "role", "acme", "bob", "root");
	USAGE(&a, "user", "role", "acme", "bob");
	OK(&a, "user", "rm", "acme", "bob");
	assert_int_equal(a.verb, CTL_USER_RM);
	OK(&a, "user", "revoke", "acme", "bob");
	assert_int_equal(a.verb, CTL_USER_REVOKE);
	/* "--" lets a name start with a dash. */
	OK(&a, "user", "rm", "acme", "--", "-odd");
	assert_string_equal(a.username, "-odd");
}

static void
test_export(void **state)
{
	struct ctl_args a;

	(void)state;
	OK(&a, "export", "/tmp/out.json", "--client", "acme");
	assert_int_equal(a.verb, CTL_EXPORT);
	assert_string_equal(a.file, "/tmp/out.json");
	assert_string_equal(a.client, "acme");
	USAGE(&a, "export");
}

static void
test_duration(void **state)
{
	int64_t ms;
	char buf[32];

	(void)state;
	assert_int_equal(ctl_parse_duration("0", &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(ctl_parse_duration("250ms", &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(ctl_parse_duration("30s", &ms), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(ctl_parse_duration("5m", &ms), 0);
	assert_int_equal(ms, 300000);
	assert_int_equal(ctl_parse_duration("2h", &ms), 0);
	assert_int_equal(ms, 7200000);
	assert_int_equal(ctl_parse_duration("1d", &ms), 0);
	assert_int_equal(ms, 86400000);
	assert_int_equal(ctl_parse_duration("2w", &ms), 0);
	assert_int_equal(ms, 1209600000);
	assert_int_equal(ctl_parse_duration("1h30m", &ms), 0);
	assert_int_equal(ms, 5400000);
	assert_int_equal(ctl_parse_duration("1m500ms", &ms), 0);
	assert_int_equal(ms, 60500);
	assert_int_equal(ctl_parse_duration("", &ms), -1);
	assert_int_equal(ctl_parse_duration("5", &ms), -1);
	assert_int_equal(ctl_parse_duration("m", &ms), -1);
	assert_int_equal(ctl_parse_duration("5x", &ms), -1);
	assert_int_equal(ctl_parse_duration("5 m", &ms), -1);
	assert_int_equal(ctl_parse_duration("-5m", &ms), -1);
	assert_int_equal(ctl_parse_duration("5mm", &ms), -1);
	assert_int_equal(ctl_parse_duration("99999999999999999999d", &ms), -1);
	assert_int_equal(ctl_parse_duration("9999999999999999d", &ms), -1);

	ctl_format_duration(0, buf, sizeof(buf));
	assert_string_equal(buf, "0ms");
	ctl_format_duration(250, buf, sizeof(buf));
	assert_string_equal(buf, "250ms");
	ctl_format_duration(45000, buf, sizeof(buf));
	assert_string_equal(buf, "45s");
	ctl_format_duration(300000, buf, sizeof(buf));
	assert_string_equal(buf, "5m");
	ctl_format_duration(312000, buf, sizeof(buf));
	assert_string_equal(buf, "5m12s");
	ctl_format_duration(3 * 3600000 + 2 * 60000 + 59000, buf, sizeof(buf));
	assert_string_equal(buf, "3h2m");
	ctl_format_duration(2 * 86400000LL + 4 * 3600000, buf, sizeof(buf));
	assert_string_equal(buf, "2d4h");
	ctl_format_duration(-90000, buf, sizeof(buf));
	assert_string_equal(buf, "-1m30s");
	ctl_format_duration(INT64_MIN, buf, sizeof(buf));
	assert_true(buf[0] == '-');
}

static void
test_u64(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(ctl_parse_u64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(ctl_parse_u64("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(ctl_parse_u64("18446744073709551616", &v), -1);
	assert_int_equal(ctl_parse_u64("", &v), -1);
	assert_int_equal(ctl_parse_u64(" 1", &v), -1);
	assert_int_equal(ctl_parse_u64("+1", &v), -1);
	assert_int_equal(ctl_parse_u64("1 ", &v), -1);
	assert_int_equal(ctl_parse_u64(NULL, &v), -1);
}

static void
test_usage_lists_every_verb(void **state)
{
	static const char *const verbs[] = {"status", "workers", "pause",
	    "resume", "shutdown", "reload", "expedite CLIENT PASSENGER",
	    "peek CLIENT PASSENGER", "queue ls", "queue show CLIENT ID",
	    "queue set CLIENT ID STEP complete|incomplete",
	    "queue requeue CLIENT ID", "queue purge", "logs ls",
	    "logs show CLIENT ID", "logs purge", "user ls", "user add",
	    "user passwd", "user role", "user rm", "user revoke",
	    "export FILE", "verify", "--older-than DURATION", "--oldest",
	    "--password-stdin"};
	char text[8192];
	FILE *f = fmemopen(text, sizeof(text), "w");
	size_t i;

	(void)state;
	assert_non_null(f);
	ctl_usage(f);
	fclose(f);
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strstr(text, verbs[i]) == NULL)
			fail_msg("usage lacks \"%s\"", verbs[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_and_globals),
	    cmocka_unit_test(test_help),
	    cmocka_unit_test(test_usage_errors),
	    cmocka_unit_test(test_expedite_peek),
	    cmocka_unit_test(test_queue_ls),
	    cmocka_unit_test(test_queue_changes),
	    cmocka_unit_test(test_logs),
	    cmocka_unit_test(test_users),
	    cmocka_unit_test(test_export),
	    cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_u64),
	    cmocka_unit_test(test_usage_lists_every_verb),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
