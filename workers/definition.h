/*
 * definition.h — the driver instances of one passenger definition.
 *
 * A worker hosts exactly one definition: its pullers, processors and
 * pushers, created from the definition object of the client file
 * ({"name", ..., "pullers": [{"name", "type", ...settings}], ...}) and
 * initialised in order. `databus-worker --check` uses the same code to
 * validate definitions without keeping anything.
 */
#ifndef DBS_DEFINITION_H
#define DBS_DEFINITION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "driver.h"

struct definition;

/*
 * Reports one problem: `where` is the JSON path below the definition
 * object (".pullers[1]", ".pullers[1].type", ".pushers"), `message` what
 * is wrong. Both are valid during the call only.
 */
typedef void (*def_problem_fn)(
    void *arg, const char *where, const char *message);

/*
 * Create and initialise every driver of `def`. With `all` false the first
 * problem stops everything (Init); with `all` true every entry is checked
 * (--check). Returns DBS_OK with *out set, DBS_ECONFIG after reporting the
 * problems through `problem`, or DBS_ENOMEM. data_dir may be NULL.
 */
int def_open(const json_t *def, const char *client, const char *definition,
    const char *data_dir, bool all, def_problem_fn problem, void *arg,
    struct definition **out);

/* fini every driver (pullers first, in order) and free. Accepts NULL. */
void def_close(struct definition *d);

/* The instances of `kind`, in configuration order. */
size_t def_count(const struct definition *d, enum drv_kind kind);
struct drv_ctx *def_get(
    const struct definition *d, enum drv_kind kind, size_t i);

/* The instance of `kind` named `name`, or NULL. */
struct drv_ctx *def_find(
    const struct definition *d, enum drv_kind kind, const char *name);

/* "puller", "processor", "pusher". */
const char *def_kind_name(enum drv_kind kind);

#endif
