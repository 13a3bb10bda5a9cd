/*
 * names.h — the one rule for the names Databus is given: client names,
 * passenger definition names (and the names of their drivers), and user
 * names. databusd applies it when it loads the configuration, when it
 * saves client files and on the control socket; databus-web applies it to
 * request paths and bodies; so a name one of them accepts is accepted by
 * all, and a name one refuses is refused by all.
 *
 * Client and definition names also name files (clients/<name>.json), the
 * worker sockets and URL path segments (/api/v1/queue/<client>/<name>), so
 * they keep a strict rule: 1 to 64 of A-Z a-z 0-9 _ -. User names only
 * appear inside the store and in percent-encoded path segments, and are
 * often e-mail addresses: 1 to 64 of A-Z a-z 0-9 _ . @ + -, not made only
 * of dots (so "." and ".." never stand for a user in a path).
 *
 * Both functions take a length, so that a path segment or a JSON string
 * with a NUL inside is checked as it is (a NUL is refused like any other
 * byte outside the rule). Pure functions of their arguments.
 */
#ifndef DBS_NAMES_H
#define DBS_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* The longest name of any kind, in bytes (all are ASCII). */
#define DBS_NAME_MAX 64

/* The rules in words, for error messages. */
#define DBS_NAME_RULE      "1 to 64 of A-Z a-z 0-9 _ -"
#define DBS_USER_NAME_RULE "1 to 64 of A-Z a-z 0-9 _ . @ + -, not only dots"

/* Whether s[0..len) is a valid client or definition (or driver) name. */
bool dbs_name_ok(const char *s, size_t len);

/* Whether s[0..len) is a valid user name. */
bool dbs_user_name_ok(const char *s, size_t len);

#endif
