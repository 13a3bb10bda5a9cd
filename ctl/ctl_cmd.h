/*
 * ctl_cmd.h — the verbs of databusctl and what they share.
 *
 * databusctl.c parses the command line (ctl_args.h) and calls one verb
 * function. Verbs that change something send one ControlRequest to
 * databusd over the control socket (ctl_request); verbs that only read
 * open the store read-only and work inside one read transaction, so they
 * see a consistent snapshot and never slow databusd down. Every verb
 * function returns the exit code (CTL_EXIT_*) and has already printed its
 * result on stdout, or its error on stderr as "databusctl: <message>".
 *
 * Files: ctl_io.c (control socket, store, output helpers), ctl_system.c
 * (status, workers, pause, resume, shutdown, reload, expedite, peek,
 * verify), ctl_queue.c (queue and logs), ctl_user.c (users), ctl_export.c.
 */
#ifndef DBS_CTL_CMD_H
#define DBS_CTL_CMD_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "ctl_args.h"
#include "databus.pb-c.h"
#include "store.h"

struct ctl {
	const struct ctl_args *args;
	char url[PATH_MAX + 32];  /* control socket */
	char store_dir[PATH_MAX]; /* DIR/store */
	struct store *st;         /* opened by ctl_store_begin */
};

/* Fill c from the parsed arguments (URL and store path); 0 or exit code. */
int ctl_init(struct ctl *c, const struct ctl_args *a);
void ctl_fini(struct ctl *c);

/* Print "databusctl: <message>" on stderr. */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Send `req` (its id and actor are filled in here) and wait for the reply.
 * Returns CTL_EXIT_OK with *out set (free with
 * dbs__control_reply__free_unpacked), or CTL_EXIT_FAIL after printing why:
 * databusd not reachable, no reply within 60 s, the connection lost, a
 * reply that does not decode, or a reply with a non-zero code (its
 * message is printed).
 */
int ctl_request(
    struct ctl *c, Dbs__ControlRequest *req, Dbs__ControlReply **out);

/*
 * The common ending of verbs whose reply carries nothing but a message
 * and a count: human output is `human` if not NULL, else the reply's
 * message, else "ok"; --json gives {"ok": true, "message", "count"}.
 * Frees r.
 */
int ctl_reply_done(struct ctl *c, Dbs__ControlReply *r, const char *human);

/* Open c->st read-only unless open; CTL_EXIT_FAIL (said) when it fails. */
int ctl_store_open(struct ctl *c);

/*
 * Open the store read-only and begin a read transaction. Returns
 * CTL_EXIT_OK with *txn set, or CTL_EXIT_FAIL after printing why. End the
 * transaction with store_txn_abort(); ctl_fini closes the store.
 */
int ctl_store_begin(struct ctl *c, struct store_txn **txn);

/* Print a store error of `what` ("queue ls", ...) and return
 * CTL_EXIT_FAIL. */
int ctl_store_fail(struct ctl *c, const char *what, int rc);

/* Print doc as one JSON document on stdout and drop the reference. A NULL
 * doc (out of memory while building it) is reported as an error. */
int ctl_print_json(json_t *doc);

/* Local time "YYYY-MM-DD HH:MM:SS", or "-" for 0. */
const char *ctl_time_local(int64_t ms, char buf[32]);

/* "512 B", "12.3 KiB", "4.0 MiB", ... */
const char *ctl_size(uint64_t bytes, char buf[32]);

/*
 * A malloc'd copy of s that is safe on a terminal: valid UTF-8, control
 * characters replaced by '?', cut to `max` characters with "..." when
 * longer (0: no limit). NULL only when out of memory.
 */
char *ctl_clean(const char *s, size_t max);

/* Print "label" padded, then the cleaned value, then a newline. */
void ctl_field(const char *label, const char *value);

/*
 * A text table, with a header row unless `headers` is NULL: columns are as
 * wide as their widest cell, separated by two spaces; cells are cleaned and
 * cut at 60 characters except in the last column.
 */
struct ctl_table {
	size_t ncols, nrows, cap;
	char **cells; /* row-major, header first */
	int failed;   /* out of memory while adding */
};

void ctl_table_init(
    struct ctl_table *t, size_t ncols, const char *const *headers);
void ctl_table_add(struct ctl_table *t, const char *const *cells);
/* Print (with `indent` before every row) and free; -1 if a row was lost
 * to a lack of memory (after printing what there is). */
int ctl_table_print(struct ctl_table *t, const char *indent);
void ctl_table_free(struct ctl_table *t);

/* Verbs. Each returns an exit code. */
int ctl_cmd_status(struct ctl *c);
int ctl_cmd_workers(struct ctl *c);
int ctl_cmd_simple(struct ctl *c); /* pause, resume, shutdown, reload */
int ctl_cmd_expedite(struct ctl *c);
int ctl_cmd_peek(struct ctl *c);
/* ctl_history.c */
int ctl_cmd_history(struct ctl *c);
int ctl_cmd_verify(struct ctl *c);
int ctl_cmd_queue_ls(struct ctl *c);
int ctl_cmd_queue_show(struct ctl *c);
int ctl_cmd_queue_set(struct ctl *c); /* set and requeue */
int ctl_cmd_purge(struct ctl *c);     /* queue purge, logs purge */
int ctl_cmd_logs_ls(struct ctl *c);
int ctl_cmd_logs_show(struct ctl *c);
int ctl_cmd_user_ls(struct ctl *c);
int ctl_cmd_user_put(struct ctl *c); /* add, passwd, role */
int ctl_cmd_user_ref(struct ctl *c); /* rm, revoke */
int ctl_cmd_export(struct ctl *c);
int ctl_cmd_migrate(struct ctl *c);
/* Whether an export or import target is a PostgreSQL URI
 * (postgres://... or postgresql://...). */
bool ctl_is_postgres_uri(const char *s);
int ctl_cmd_backup(struct ctl *c);  /* ctl_store.c */
int ctl_cmd_compact(struct ctl *c); /* ctl_store.c */
int ctl_cmd_restore(struct ctl *c); /* ctl_store.c */
int ctl_cmd_import(struct ctl *c);  /* ctl_import.c */
int ctl_cmd_dry_run(struct ctl *c); /* ctl_dry_run.c */

#endif
