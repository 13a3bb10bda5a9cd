/*
 * check.c — `databus-worker --check` (see check.h): the supervisor's way
 * to have driver settings validated by the drivers themselves before it
 * accepts a configuration.
 */
#include "check.h"

#include <jansson.h>
#include <stdbool.h>
#include <string.h>

#include "dbs_error.h"
#include "definition.h"
#include "driver_host.h"

struct check_ctx {
	FILE *out;
	const char *file;
	const char *path;
	size_t problems;
};

static void
problem(void *arg, const char *where, const char *message)
{
	struct check_ctx *c = arg;

	fprintf(c->out, "%s: %s%s: %s\n", c->file, c->path, where, message);
	c->problems++;
}

/*
 * Ask every driver that can look at its target (drv_ops.check) whether
 * its settings work there: a refusal is a problem; a target that could
 * not be asked (a database down) is only a warning, on stderr, since the
 * configuration may well be right and the target come back.
 */
static void
check_targets(struct check_ctx *c, const struct definition *d)
{
	for (int kind = DRV_PULLER; kind <= DRV_PUSHER; kind++)
		for (size_t i = 0; i < def_count(d, kind); i++) {
			char where[64], err[512];
			int rc = drv_ctx_check(
			    def_get(d, kind, i), err, sizeof(err));

			snprintf(where, sizeof(where), ".%ss[%zu]",
			    def_kind_name(kind), i);
			if (rc == DBS_ECONFIG)
				problem(c, where, err);
			else if (rc != DBS_OK)
				fprintf(stderr, "%s: %s%s: warning: %s\n",
				    c->file, c->path, where, err);
		}
}

static const char *
string_or(const json_t *obj, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : def;
}

int
check_run(FILE *in, FILE *out)
{
	struct check_ctx c = {.out = out};
	json_error_t jerr;
	json_t *root, *item;
	size_t i;

	root = json_loadf(in, 0, &jerr);
	if (root == NULL) {
		fprintf(out, "-: invalid JSON input at line %d: %s\n",
		    jerr.line, jerr.text);
		return 100;
	}
	if (!json_is_array(root)) {
		fprintf(out, "-: expected a JSON array of definitions\n");
		json_decref(root);
		return 100;
	}
	json_array_foreach(root, i, item)
	{
		struct definition *d = NULL;
		char where[64];
		int rc;

		snprintf(where, sizeof(where), "$[%zu]", i);
		c.file = string_or(item, "file", "-");
		c.path = string_or(item, "path", where);
		if (!json_is_object(item)) {
			problem(&c, "", "expected an object");
			continue;
		}
		rc = def_open(json_object_get(item, "definition"),
		    string_or(item, "client", ""),
		    string_or(json_object_get(item, "definition"), "name", ""),
		    NULL, true, problem, &c, &d);
		if (rc == DBS_ENOMEM) {
			problem(&c, "", dbs_strerror(rc));
			continue;
		}
		if (d != NULL)
			check_targets(&c, d);
		def_close(d);
		/* Entries drivers logged during init have nowhere to go. */
		drv_log_clear();
	}
	json_decref(root);
	fflush(out);
	return c.problems > 0 ? 100 : 0;
}
