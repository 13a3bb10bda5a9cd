/*
 * ctl_migrate.c — `databusctl migrate --to postgres://...|lmdb [--schema
 * S]`: the installation's store copied whole into an empty store of the
 * other engine, both sides compared, and what to change in databus.json
 * printed (store/migrate.h).
 *
 * databusd must be stopped (nothing may change under the copy): its
 * control socket must not answer, and an LMDB source is opened for
 * writing, which takes its writer lock. The source is the store the data
 * directory names (store_open_data); the target is the PostgreSQL schema
 * given, or LMDB in <data>/store, which must hold no store yet. The old
 * store is left as it was. Exit 0 only when every client's counts and
 * content hash are the same on both sides.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_cmd.h"
#include "dbs_error.h"
#include "migrate.h"
#include "record_json.h"

#define DEFAULT_SCHEMA "databus"

/* Whether databusd answers on <data>/run/control (a plain Unix socket). */
static bool
databusd_runs(const char *data_dir)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, n;
	bool up;

	n = snprintf(
	    sa.sun_path, sizeof(sa.sun_path), "%s/run/control", data_dir);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return false;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return false;
	up = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return up;
}

static bool
is_postgres(const char *to)
{
	return strncmp(to, "postgres://", 11) == 0 ||
	       strncmp(to, "postgresql://", 13) == 0 ||
	       strchr(to, '=') != NULL;
}

/* Open the target: the PostgreSQL schema, or LMDB in <data>/store. */
static int
open_target(struct ctl *c, bool pg, const char *schema, struct store **dst)
{
	struct store_options so = {0};
	char err[PATH_MAX + 16];
	int rc;

	if (pg) {
		so.backend = STORE_BACKEND_POSTGRES;
		so.pg_conninfo = c->args->to;
		so.pg_schema = schema;
		rc = store_open(NULL, STORE_RDWR, &so, dst);
		if (rc != DBS_OK)
			ctl_err("migrate: the PostgreSQL target (schema %s): "
				"%s: %s",
			    schema, dbs_strerror(rc), store_last_error(NULL));
		return rc;
	}
	snprintf(err, sizeof(err), "%s/data.mdb", c->store_dir);
	if (access(err, F_OK) == 0) {
		ctl_err("migrate: %s already holds an LMDB store; move it "
			"aside first (it is not overwritten)",
		    c->store_dir);
		return DBS_EEXIST;
	}
	if (mkdir(c->store_dir, 0700) != 0 && errno != EEXIST) {
		ctl_err("migrate: %s: %s", c->store_dir, strerror(errno));
		return DBS_EIO;
	}
	rc = store_open(c->store_dir, STORE_RDWR, NULL, dst);
	if (rc != DBS_OK)
		ctl_err("migrate: cannot create the store in %s: %s",
		    c->store_dir, dbs_strerror(rc));
	return rc;
}

static void
hex(const unsigned char *h, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static bool
same(const struct migrate_digest *a, const struct migrate_digest *b)
{
	return strcmp(a->client, b->client) == 0 && a->pending == b->pending &&
	       a->done == b->done && a->dead == b->dead &&
	       a->users == b->users && a->logs == b->logs &&
	       memcmp(a->hash, b->hash, sizeof(a->hash)) == 0;
}

/* Compare and print; true when both sides are the same. */
static bool
compare(struct ctl *c, const struct migrate_digest *a, size_t na,
    const struct migrate_digest *b, size_t nb, json_t *out)
{
	bool ok = na == nb;
	char h[65];

	if (!c->args->json)
		printf("%-20s %9s %9s %7s %6s %7s  %-16s %s\n", "CLIENT",
		    "PENDING", "DONE", "DEAD", "USERS", "LOGS", "HASH",
		    "TARGET");
	for (size_t i = 0; i < na; i++) {
		bool eq = i < nb && same(&a[i], &b[i]);

		ok = ok && eq;
		hex(a[i].hash, sizeof(a[i].hash), h);
		if (c->args->json) {
			json_array_append_new(out,
			    json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:s, "
				      "s:b}",
				"client", rj_string(a[i].client), "pending",
				(json_int_t)a[i].pending, "done",
				(json_int_t)a[i].done, "dead",
				(json_int_t)a[i].dead, "users",
				(json_int_t)a[i].users, "logs",
				(json_int_t)a[i].logs, "hash", h, "same", eq));
			continue;
		}
		h[16] = '\0';
		printf("%-20s %9llu %9llu %7llu %6llu %7llu  %-16s %s\n",
		    a[i].client, (unsigned long long)a[i].pending,
		    (unsigned long long)a[i].done,
		    (unsigned long long)a[i].dead,
		    (unsigned long long)a[i].users,
		    (unsigned long long)a[i].logs, h, eq ? "same" : "DIFFERS");
	}
	return ok;
}

/*
 * The conninfo to print: a password in it (URI user:PASSWORD@, or
 * password=VALUE, quoted or not) becomes "***", so that it never reaches
 * a terminal's scrollback or a log. out has room for 2 * strlen(in) + 16
 * (each "password=" of at least 9 bytes grows by at most 3).
 */
static void
masked(const char *in, char *out)
{
	const char *p = in, *at, *colon, *v;
	char *o = out;

	if (strncmp(in, "postgres", 8) == 0 && (v = strstr(in, "://")) &&
	    (at = strchr(v + 3, '@')) != NULL &&
	    (colon = memchr(v + 3, ':', (size_t)(at - (v + 3)))) != NULL) {
		memcpy(o, in, (size_t)(colon + 1 - in));
		o += colon + 1 - in;
		memcpy(o, "***", 3);
		strcpy(o + 3, at);
		return;
	}
	while (*p != '\0') {
		if (strncmp(p, "password", 8) == 0 &&
		    (p == in || p[-1] == ' ') &&
		    (v = p + 8 + strspn(p + 8, " "))[0] == '=') {
			v += 1 + strspn(v + 1, " ");
			memcpy(o, "password=***", 12);
			o += 12;
			if (*v == '\'') {
				for (v++; *v != '\0' && *v != '\''; v++)
					if (*v == '\\' && v[1] != '\0')
						v++;
				if (*v == '\'')
					v++;
			} else {
				v += strcspn(v, " ");
			}
			p = v;
			continue;
		}
		*o++ = *p++;
	}
	*o = '\0';
}

static void
advise(bool pg, const char *to, const char *schema)
{
	char *shown;
	json_t *j;
	char *s;

	if (!pg) {
		printf("in databus.json, set \"store\": {\"backend\": "
		       "\"lmdb\"} (or leave \"backend\" out), then start "
		       "databusd\n");
		return;
	}
	/* The conninfo as given but for a password: JSON-quoted. */
	if ((shown = malloc(2 * strlen(to) + 16)) == NULL)
		return;
	masked(to, shown);
	j = json_pack("{s:s, s:{s:s, s:s}}", "backend", "postgres", "postgres",
	    "conninfo", shown, "schema", schema);
	s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	printf("in databus.json, set \"store\": %s (keep any password out "
	       "of the conninfo: PGPASSWORD or a passfile), then start "
	       "databusd\n",
	    s != NULL ? s : "?");
	free(s);
	json_decref(j);
	free(shown);
}

static int
run(struct ctl *c, bool pg, const char *schema, struct store *src,
    struct store *dst)
{
	struct migrate_digest *a = NULL, *b = NULL;
	struct migrate_stats ms;
	size_t na = 0, nb = 0;
	char err[1024];
	json_t *clients = json_array();
	bool ok;
	int rc;

	if ((rc = store_migrate(src, dst, &ms, err, sizeof(err))) != DBS_OK) {
		ctl_err("migrate: %s", err);
		json_decref(clients);
		return CTL_EXIT_FAIL;
	}
	if ((rc = store_digest(src, &a, &na, err, sizeof(err))) != DBS_OK ||
	    (rc = store_digest(dst, &b, &nb, err, sizeof(err))) != DBS_OK) {
		ctl_err("migrate: comparing: %s", err);
		free(a);
		free(b);
		json_decref(clients);
		return CTL_EXIT_FAIL;
	}
	if (!c->args->json)
		printf("migrated %llu passengers (%llu attachments), %llu "
		       "logs, %llu users to %s\n",
		    (unsigned long long)ms.passengers,
		    (unsigned long long)ms.attachments,
		    (unsigned long long)ms.logs, (unsigned long long)ms.users,
		    pg ? "PostgreSQL" : "LMDB");
	ok = compare(c, a, na, b, nb, clients);
	free(a);
	free(b);
	if (c->args->json) {
		ctl_print_json(json_pack("{s:b, s:s, s:s?, s:I, s:I, s:I, "
					 "s:I, s:o}",
		    "same", ok, "to", pg ? "postgres" : "lmdb", "schema",
		    pg ? schema : NULL, "passengers",
		    (json_int_t)ms.passengers, "attachments",
		    (json_int_t)ms.attachments, "logs", (json_int_t)ms.logs,
		    "users", (json_int_t)ms.users, "clients", clients));
	} else {
		json_decref(clients);
		if (ok)
			advise(pg, c->args->to, schema);
	}
	if (!ok) {
		ctl_err("migrate: the target differs from the source (see "
			"above); do not switch databus.json to it");
		return CTL_EXIT_FAIL;
	}
	if (!pg)
		(void)store_engine_record(c->args->data_dir, NULL);
	return CTL_EXIT_OK;
}

int
ctl_cmd_migrate(struct ctl *c)
{
	const char *to = c->args->to;
	const char *schema =
	    c->args->schema != NULL ? c->args->schema : DEFAULT_SCHEMA;
	struct store *src = NULL, *dst = NULL;
	enum store_backend from;
	char err[PATH_MAX + 512];
	bool pg;
	int rc;

	if (to == NULL) {
		ctl_err("migrate: say where to: --to postgres://... (or a "
			"libpq conninfo) or --to lmdb");
		return CTL_EXIT_USAGE;
	}
	if (strcmp(to, "lmdb") != 0 && !is_postgres(to)) {
		ctl_err("migrate: --to: expected postgres://..., a libpq "
			"conninfo (key=value ...) or lmdb");
		return CTL_EXIT_USAGE;
	}
	pg = strcmp(to, "lmdb") != 0;
	from = store_data_backend(c->args->data_dir);
	if ((from == STORE_BACKEND_POSTGRES) == pg) {
		ctl_err("migrate: the store of %s is in %s already",
		    c->args->data_dir, pg ? "PostgreSQL" : "LMDB");
		return CTL_EXIT_FAIL;
	}
	if (databusd_runs(c->args->data_dir)) {
		ctl_err("migrate: databusd is running on %s: stop it first "
			"(nothing may change during the copy)",
		    c->args->data_dir);
		return CTL_EXIT_FAIL;
	}
	/* An LMDB source is opened for writing: its lock keeps a databusd
	 * from starting meanwhile. */
	rc = store_open_data(c->args->data_dir,
	    from == STORE_BACKEND_LMDB ? STORE_RDWR : STORE_RDONLY, NULL, &src,
	    err, sizeof(err));
	if (rc == DBS_ELOCKED) {
		ctl_err("migrate: databusd holds the store of %s: stop it "
			"first",
		    c->args->data_dir);
		return CTL_EXIT_FAIL;
	}
	if (rc != DBS_OK) {
		ctl_err("migrate: %s", err);
		return CTL_EXIT_FAIL;
	}
	if (open_target(c, pg, schema, &dst) != DBS_OK) {
		store_close(src);
		return CTL_EXIT_FAIL;
	}
	rc = run(c, pg, schema, src, dst);
	store_close(dst);
	store_close(src);
	return rc;
}
