/*
 * dryrun.h — dry runs of a passenger definition (`databusctl dry-run`,
 * POST /api/v1/passengers/{client}/{definition}/dry-run).
 *
 * A dry run sends one passenger — a queued one read from the store, or
 * sample files as the attachments of a new one — through a definition's
 * processors in a throwaway databus-worker started for it alone (never the
 * definition's own worker), and answers the control request with each
 * step's outcome, the log lines and the resulting attachments and
 * metadata. Nothing is seated, committed or changed: the store is only
 * read, and the worker's outcome goes nowhere but into the reply. A
 * throwaway worker that crashes or runs past the drive timeout is the dry
 * run's outcome; no worker or passenger is charged for it.
 *
 * The loop is never blocked: the throwaway worker's socket is one more fd
 * in the loop's epoll set (keys from DRYRUN_KEY_BASE up), its exit is
 * reaped with the others, and its deadline is a timer.
 */
#ifndef DBS_DRYRUN_H
#define DBS_DRYRUN_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "databus.pb-c.h"
#include "sup.h"

/* Epoll keys of dry runs: above every worker slot (a uint32), below the
 * loop's own keys (main.c). */
#define DRYRUN_KEY_BASE (UINT64_C(1) << 40)
#define DRYRUN_KEY_END  (UINT64_C(1) << 48)

/* Limits: dry runs at once, input bytes (attachments) of one. */
#define DRYRUN_MAX_RUNNING 4
#define DRYRUN_MAX_INPUT   (16u << 20)

/* Start a dry run for the control request in `msg` (kept until the
 * reply, which this module sends). */
void dryrun_request(
    struct sup *s, nng_msg *msg, uint64_t req_id, const Dbs__DryRun *dr);

/* The loop's epoll set reported `key` (DRYRUN_KEY_BASE <= key <
 * DRYRUN_KEY_END): read what that throwaway worker sent. */
void dryrun_readable(struct sup *s, uint64_t key);

/* A child was reaped: true if it was a throwaway worker (then handled). */
bool dryrun_reaped(struct sup *s, pid_t pid, int status);

/* Deadlines (drive_timeout) and the shutdown: earliest wake in *wake. */
void dryrun_timers(struct sup *s, int64_t now, int64_t *wake);

#endif
