/*
 * ctl_args.h — the command line of databusctl, parsed.
 *
 *   databusctl [--data DIR | --socket URL] [--json] VERB [ARGS] [OPTIONS]
 *
 * One table in ctl_args.c describes every verb: its words ("queue ls"),
 * how many arguments it takes and which options it allows; the usage text
 * is printed from the same table, so the two cannot drift apart. Parsing
 * checks everything that can be checked without databusd or the store
 * (numbers, durations, state and role names, the root role rule), so that
 * a usage error always exits 100 before anything is sent.
 *
 * This module does no I/O except printing the usage text, which keeps it
 * testable on its own (tests/unit/test_ctl_args.c).
 */
#ifndef DBS_CTL_ARGS_H
#define DBS_CTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes of databusctl (DESIGN.md §2, §9). */
#define CTL_EXIT_OK    0
#define CTL_EXIT_FAIL  1   /* refused or failed */
#define CTL_EXIT_USAGE 100 /* bad command line */

#define CTL_DEFAULT_DATA  "var"
#define CTL_DEFAULT_LIMIT 50
#define CTL_MAX_LIMIT     100000
#define CTL_MAX_ARGS      4
#define CTL_MAX_SAMPLES   64 /* --sample FILE, repeated (dry-run) */

enum ctl_verb {
	CTL_HELP,
	CTL_STATUS,
	CTL_WORKERS,
	CTL_PAUSE,
	CTL_RESUME,
	CTL_SHUTDOWN,
	CTL_RELOAD,
	CTL_EXPEDITE,
	CTL_PEEK,
	CTL_HISTORY,
	CTL_QUEUE_LS,
	CTL_QUEUE_SHOW,
	CTL_QUEUE_SET,
	CTL_QUEUE_REQUEUE,
	CTL_QUEUE_PURGE,
	CTL_LOGS_LS,
	CTL_LOGS_SHOW,
	CTL_LOGS_PURGE,
	CTL_USER_LS,
	CTL_USER_ADD,
	CTL_USER_PASSWD,
	CTL_USER_ROLE,
	CTL_USER_RM,
	CTL_USER_REVOKE,
	CTL_EXPORT,
	CTL_VERIFY,
	CTL_BACKUP,
	CTL_COMPACT,
	CTL_IMPORT,
	CTL_RESTORE,
	CTL_DRY_RUN,
	CTL_MIGRATE,
	CTL__NVERBS
};

/*
 * The parsed command line. Strings point into argv. Fields a verb does not
 * use keep their defaults.
 */
struct ctl_args {
	const char *data_dir;   /* --data, default "var" */
	const char *socket_url; /* --socket, NULL: from data_dir */
	bool json;              /* --json */
	enum ctl_verb verb;
	const char *verb_name;         /* "queue ls", for messages */
	const char *arg[CTL_MAX_ARGS]; /* positional arguments */
	size_t n_args;

	/* Options. */
	const char *client;    /* --client, NULL: all */
	const char *passenger; /* --passenger (definition), NULL: all */
	const char *q;         /* --q */
	int state;             /* --state, -1: any */
	size_t limit;          /* --limit, default 50 */
	uint64_t cursor;       /* --cursor, 0: from the start */
	bool oldest;           /* --oldest */
	int64_t older_than_ms; /* --older-than, 0: everything eligible */
	bool password_stdin;   /* --password-stdin */
	bool dry_run;          /* --dry-run (import) */
	/* dry-run: --passenger ID (a queued passenger, in `id`), or
	 * --sample FILE (repeated); --push PUSHER */
	const char *samples[CTL_MAX_SAMPLES];
	size_t n_samples;
	const char *push;
	/* migrate: --to postgres://...|conninfo|lmdb, --schema NAME */
	const char *to;
	const char *schema;

	/* Positional arguments by meaning, checked by the parser. */
	const char *client_arg; /* CLIENT (NULL for "user ls" without it) */
	const char *definition; /* PASSENGER of expedite, peek, dry-run */
	const char *username;   /* USER of the user verbs */
	const char *step;       /* STEP of queue set */
	const char *file;       /* FILE of export and backup */
	uint64_t id;   /* ID of queue show/set/requeue, logs show; dry-run's
			* --passenger */
	bool complete; /* queue set: complete (true) or incomplete */
	int role;      /* user add (--role) and user role */
};

enum ctl_parse_result {
	CTL_PARSE_OK = 0,
	CTL_PARSE_HELP = 1,  /* --help, -h or help: print usage, exit 0 */
	CTL_PARSE_USAGE = 2, /* usage error, err says why: exit 100 */
};

/*
 * Parse argv[1..argc-1] into *a. Global options may appear before or after
 * the verb; "--opt=value" and "--opt value" are both accepted, and "--"
 * ends the options. On CTL_PARSE_USAGE, err holds a message without the
 * "databusctl: " prefix.
 */
enum ctl_parse_result ctl_args_parse(int argc, char *const argv[],
    struct ctl_args *a, char *err, size_t errlen);

/* The usage text, listing every verb with its options. */
void ctl_usage(FILE *f);

/*
 * Durations: "250ms", "30s", "5m", "2h", "1d", "1w", and sums such as
 * "1h30m". A bare "0" means zero; any other number needs a unit. Returns 0
 * or -1 (syntax error or overflow).
 */
int ctl_parse_duration(const char *s, int64_t *ms);

/* Format ms as "250ms", "45s", "5m", "5m12s", "3h2m", "2d4h" (the two
 * largest units); negative values get a '-'. */
void ctl_format_duration(int64_t ms, char *buf, size_t len);

/* A decimal unsigned number, nothing else (no sign, no spaces): 0 or -1. */
int ctl_parse_u64(const char *s, uint64_t *out);

#endif
