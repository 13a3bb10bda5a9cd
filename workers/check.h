/*
 * check.h — `databus-worker --check`: validate driver settings for the
 * supervisor, which never runs driver code itself.
 *
 * Input (stdin): a JSON array of {"file", "path", "client", "definition"},
 * where "definition" is a passenger definition object and "path" its JSON
 * path in "file" ("$.passengers[0]"). Every puller, processor and pusher
 * is looked up and its init() run and undone (drivers' init changes
 * nothing outside the process). Output: one line per problem,
 * "<file>: <path>.pullers[1]: <message>".
 */
#ifndef DBS_CHECK_H
#define DBS_CHECK_H

#include <stdio.h>

/* Returns the exit status: 0 no problem, 100 problems (or bad input,
 * reported as "-: <message>"). */
int check_run(FILE *in, FILE *out);

#endif
