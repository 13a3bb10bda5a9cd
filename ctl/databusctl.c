/*
 * databusctl.c — the command-line client of Databus.
 *
 *   databusctl [--data DIR | --socket URL] [--json] VERB ...
 *
 * Verbs that change something are requests to databusd over its control
 * socket (ipc://<absolute DIR>/run/control): databusd is the only writer
 * of the store. Verbs that only look (queue ls/show, logs ls/show, user
 * ls, export, verify) open the store in DIR/store read-only, so they work
 * the same whether databusd runs or not and never slow it down.
 *
 * Exit status: 0 success, 1 refused or failed (the message is on stderr as
 * "databusctl: ..."), 100 usage error. --json prints one JSON document on
 * stdout instead of text.
 *
 * This file parses the command line and dispatches; the verbs live in
 * ctl_*.c (see ctl_cmd.h).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ctl_args.h"
#include "ctl_cmd.h"

static int (*const verbs[CTL__NVERBS])(struct ctl *) = {
    [CTL_STATUS] = ctl_cmd_status,
    [CTL_WORKERS] = ctl_cmd_workers,
    [CTL_PAUSE] = ctl_cmd_simple,
    [CTL_RESUME] = ctl_cmd_simple,
    [CTL_SHUTDOWN] = ctl_cmd_simple,
    [CTL_RELOAD] = ctl_cmd_simple,
    [CTL_EXPEDITE] = ctl_cmd_expedite,
    [CTL_PEEK] = ctl_cmd_peek,
    [CTL_HISTORY] = ctl_cmd_history,
    [CTL_QUEUE_LS] = ctl_cmd_queue_ls,
    [CTL_QUEUE_SHOW] = ctl_cmd_queue_show,
    [CTL_QUEUE_SET] = ctl_cmd_queue_set,
    [CTL_QUEUE_REQUEUE] = ctl_cmd_queue_set,
    [CTL_QUEUE_PURGE] = ctl_cmd_purge,
    [CTL_LOGS_LS] = ctl_cmd_logs_ls,
    [CTL_LOGS_SHOW] = ctl_cmd_logs_show,
    [CTL_LOGS_PURGE] = ctl_cmd_purge,
    [CTL_USER_LS] = ctl_cmd_user_ls,
    [CTL_USER_ADD] = ctl_cmd_user_put,
    [CTL_USER_PASSWD] = ctl_cmd_user_put,
    [CTL_USER_ROLE] = ctl_cmd_user_put,
    [CTL_USER_RM] = ctl_cmd_user_ref,
    [CTL_USER_REVOKE] = ctl_cmd_user_ref,
    [CTL_EXPORT] = ctl_cmd_export,
    [CTL_MIGRATE] = ctl_cmd_migrate,
    [CTL_VERIFY] = ctl_cmd_verify,
    [CTL_BACKUP] = ctl_cmd_backup,
    [CTL_COMPACT] = ctl_cmd_compact,
    [CTL_IMPORT] = ctl_cmd_import,
    [CTL_RESTORE] = ctl_cmd_restore,
    [CTL_DRY_RUN] = ctl_cmd_dry_run,
};

int
main(int argc, char *argv[])
{
	struct ctl_args args;
	struct ctl c;
	char err[512];
	int rc;

	tzset(); /* human output shows local time */
	switch (ctl_args_parse(argc, argv, &args, err, sizeof(err))) {
	case CTL_PARSE_HELP:
		ctl_usage(stdout);
		return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
	case CTL_PARSE_USAGE:
		fprintf(stderr, "databusctl: %s\n", err);
		ctl_usage(stderr);
		return CTL_EXIT_USAGE;
	case CTL_PARSE_OK:
		break;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "databusctl: cannot initialise libsodium\n");
		return CTL_EXIT_FAIL;
	}
	if ((rc = ctl_init(&c, &args)) != CTL_EXIT_OK)
		return rc;
	rc = verbs[args.verb] != NULL ? verbs[args.verb](&c) : CTL_EXIT_USAGE;
	ctl_fini(&c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "databusctl: cannot write to stdout\n");
		return CTL_EXIT_FAIL;
	}
	return rc;
}
