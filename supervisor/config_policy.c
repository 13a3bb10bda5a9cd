/*
 * config_policy.c — the client policy of databus.json (config_policy.h):
 * its parsing, and the check of a client file that a client administrator
 * saves.
 *
 * Drivers run as databusd's user. A client administrator is trusted with
 * the client's passengers, not with that user: an exec driver runs any
 * command, a plugin loads any shared object, and a setting that names a
 * file or a folder (a dir pusher's path, a null pusher's record, a CA
 * bundle, libpq's file parameters) reads or writes wherever that user
 * may. So a client administrator's file may only use the driver types the
 * policy allows, and each such setting must lie under a folder the policy
 * allows, after resolving "..", relative paths (against databus.json's
 * folder, where workers run) and the symbolic links of the part of the
 * path that exists. A part that does not exist yet is taken as written,
 * with ".." applied lexically: it can only come to exist later as what a
 * driver creates there.
 *
 * The built-in types are listed here (the supervisor never links driver
 * code); workers/drivers/registry.c is the authority, and a type this
 * table does not know is refused in the policy, never allowed by default.
 */
#include <ctype.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_policy.h"
#include "dbs_error.h"
#include "names.h"

#define POLICY_MAX_ITEMS 64
#define WHERE_LEN        160

/* Every built-in driver type (of any kind), and whether the default
 * policy lets a client administrator use it. */
static const struct {
	const char *type;
	bool by_default;
} builtin_types[] = {
    {"bench", true},
    {"demo", true},
    {"dir", true},
    {"exec", false},
    {"http", true},
    {"http_poll", true},
    {"imap", true},
    {"null", true},
    {"plugin", false},
    {"postgres", true},
    {"require_attachment", true},
    {"smtp", true},
    {"webhook", true},
};

/* How a setting names a file or folder. */
enum path_how {
	PATH_PLAIN,    /* relative to databus.json's folder */
	PATH_UNDER,    /* dir puller "done": relative to "path" */
	PATH_CONNINFO, /* a libpq connection string: its file parameters */
};

/* The settings that name a file or a folder; list or type NULL: any. */
static const struct {
	const char *list;
	const char *type;
	const char *key;
	enum path_how how;
} path_settings[] = {
    {"pullers", "dir", "path", PATH_PLAIN},
    {"pullers", "dir", "done", PATH_UNDER},
    {"pushers", "dir", "path", PATH_PLAIN},
    {"pushers", "null", "record", PATH_PLAIN},
    {NULL, "plugin", "path", PATH_PLAIN},
    {NULL, NULL, "ca_file", PATH_PLAIN},
    {"pushers", "postgres", "conninfo", PATH_CONNINFO},
};

/* libpq connection parameters that name a file or a folder ("host" only
 * when it is a socket folder, starting with '/'). */
static const char *const conninfo_files[] = {"passfile", "sslcert", "sslkey",
    "sslrootcert", "sslcrl", "sslcrldir", "sslkeylogfile", "host", NULL};

static const char *const lists[] = {"pullers", "processors", "pushers"};

/* Drivers and paths of the policy, for all clients or one; a member not
 * given (has_*) falls through to the level above, then to the default. */
/* A list of names ("*": all), as given at one level of the policy. */
struct name_list {
	bool given, all;
	char **names;
	size_t n;
	char where[WHERE_LEN]; /* its JSON path, for messages */
};

struct policy_set {
	struct name_list drivers; /* driver types */
	bool has_paths;
	char **paths; /* absolute, normalised, may hold "{client}" */
	size_t n_paths;
	struct name_list env; /* databusd's variables the settings may read */
	char where_paths[WHERE_LEN];
	bool has_sql; /* "sql" given at this level */
	bool sql;     /* SQL text in settings (update_where) allowed */
	char where_sql[WHERE_LEN];
};

struct policy_client {
	char *name;
	struct policy_set set;
};

struct cfg_policy {
	struct policy_set top;
	struct policy_client *clients;
	size_t n_clients;
};

/* -------------------------------------------------------------- paths */

/* Append component `c` (`n` bytes) to the absolute path `out`. */
static int
path_push(char *out, size_t outlen, const char *c, size_t n)
{
	size_t l = strlen(out);

	if (n == 1 && c[0] == '.')
		return 0;
	if (n == 2 && c[0] == '.' && c[1] == '.') {
		char *slash = strrchr(out, '/');

		if (slash == out)
			out[1] = '\0';
		else if (slash != NULL)
			*slash = '\0';
		return 0;
	}
	if (l + 1 + n + 1 > outlen)
		return -1;
	if (l > 1)
		out[l++] = '/';
	memcpy(out + l, c, n);
	out[l + n] = '\0';
	return 0;
}

/* Append the components of `s` to the absolute path `out`, ".", ".."
 * and repeated slashes resolved without looking at the filesystem. */
static int
path_append(char *out, size_t outlen, const char *s)
{
	const char *e;

	while (*s != '\0') {
		while (*s == '/')
			s++;
		if (*s == '\0')
			break;
		for (e = s; *e != '\0' && *e != '/'; e++)
			;
		if (path_push(out, outlen, s, (size_t)(e - s)) != 0)
			return -1;
		s = e;
	}
	return 0;
}

/* An absolute path with ".", ".." and repeated slashes resolved without
 * looking at the filesystem. */
static int
path_lexical(const char *in, char *out, size_t outlen)
{
	snprintf(out, outlen, "/");
	return path_append(out, outlen, in);
}

/*
 * An absolute path as the kernel would follow it: the longest prefix that
 * exists resolved by realpath(3) (its links and ".." as they are), the
 * rest lexically. -1 when it does not fit.
 */
static int
path_resolve(const char *abs, char *out, size_t outlen)
{
	char prefix[PATH_MAX] = "", *real;
	const char *s = abs, *e;
	size_t pl = 0;

	snprintf(out, outlen, "/");
	while (*s != '\0') {
		while (*s == '/')
			s++;
		if (*s == '\0')
			break;
		for (e = s; *e != '\0' && *e != '/'; e++)
			;
		if (pl + 1 + (size_t)(e - s) + 1 > sizeof(prefix))
			return -1;
		prefix[pl++] = '/';
		memcpy(prefix + pl, s, (size_t)(e - s));
		pl += (size_t)(e - s);
		prefix[pl] = '\0';
		if ((real = realpath(prefix, NULL)) == NULL)
			break;
		if (strlen(real) + 1 > outlen) {
			free(real);
			return -1;
		}
		snprintf(out, outlen, "%s", real);
		free(real);
		s = e;
	}
	return path_append(out, outlen, s);
}

static bool
path_inside(const char *path, const char *root)
{
	size_t rl = strlen(root);

	if (strcmp(root, "/") == 0)
		return true;
	return strncmp(path, root, rl) == 0 &&
	       (path[rl] == '/' || path[rl] == '\0');
}

/* `root` with every "{client}" replaced by `client`. */
static int
path_expand(const char *root, const char *client, char *out, size_t outlen)
{
	size_t o = 0, cl = strlen(client);

	for (const char *s = root; *s != '\0';) {
		if (strncmp(s, "{client}", 8) == 0) {
			if (o + cl + 1 > outlen)
				return -1;
			memcpy(out + o, client, cl);
			o += cl;
			s += 8;
			continue;
		}
		if (o + 2 > outlen)
			return -1;
		out[o++] = *s++;
	}
	out[o] = '\0';
	return 0;
}

char *
config_policy_client_dir(const char *data_dir, const char *client)
{
	char *s;

	if (asprintf(&s, "%s/files/%s", data_dir, client) < 0)
		return NULL;
	return s;
}

/* ------------------------------------------------------------- parsing */

static void
set_clear(struct policy_set *set)
{
	for (size_t i = 0; i < set->drivers.n; i++)
		free(set->drivers.names[i]);
	free(set->drivers.names);
	for (size_t i = 0; i < set->n_paths; i++)
		free(set->paths[i]);
	free(set->paths);
	for (size_t i = 0; i < set->env.n; i++)
		free(set->env.names[i]);
	free(set->env.names);
	memset(set, 0, sizeof(*set));
}

void
config_policy_free(struct cfg_policy *pol)
{
	if (pol == NULL)
		return;
	set_clear(&pol->top);
	for (size_t i = 0; i < pol->n_clients; i++) {
		free(pol->clients[i].name);
		set_clear(&pol->clients[i].set);
	}
	free(pol->clients);
	free(pol);
}

static bool
known_type(const char *type)
{
	for (size_t i = 0;
	     i < sizeof(builtin_types) / sizeof(builtin_types[0]); i++)
		if (strcmp(builtin_types[i].type, type) == 0)
			return true;
	return false;
}

/* An array of at most POLICY_MAX_ITEMS non-empty strings. */
static int
string_array(struct pctx *p, const json_t *v, const char *where,
    const char *what, char ***out, size_t *n)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v) || json_array_size(v) > POLICY_MAX_ITEMS)
		return config_fail(p, where,
		    "expected an array of at most %d %s", POLICY_MAX_ITEMS,
		    what);
	if ((*out = calloc(json_array_size(v) + 1, sizeof(char *))) == NULL)
		return config_nomem(p);
	json_array_foreach(v, i, e)
	{
		char item[WHERE_LEN + 24];

		snprintf(item, sizeof(item), "%s[%zu]", where, i);
		if (!json_is_string(e) || json_string_length(e) == 0)
			return config_fail(p, item, "expected %s", what);
		if (((*out)[i] = strdup(json_string_value(e))) == NULL)
			return config_nomem(p);
		*n = i + 1;
	}
	return DBS_OK;
}

/* A list of names at `list->where`: each `valid`, or "*" for all; `bad`
 * is the message of an invalid one (a format taking the name). */
static int
parse_names(struct pctx *p, const json_t *v, const char *what,
    bool (*valid)(const char *), const char *bad, struct name_list *list)
{
	char item[WHERE_LEN + 24];
	int rc;

	list->given = true;
	if ((rc = string_array(
		 p, v, list->where, what, &list->names, &list->n)) != DBS_OK)
		return rc;
	for (size_t i = 0; i < list->n; i++) {
		snprintf(item, sizeof(item), "%s[%zu]", list->where, i);
		if (strcmp(list->names[i], "*") == 0)
			list->all = true;
		else if (!valid(list->names[i]))
			return config_fail(p, item, bad, list->names[i]);
	}
	return DBS_OK;
}

static bool
env_name(const char *n)
{
	bool ok = n[0] != '\0' && !isdigit((unsigned char)n[0]);

	for (const char *c = n; *c != '\0' && ok; c++)
		ok = isalnum((unsigned char)*c) || *c == '_';
	return ok;
}

static int
parse_paths(struct pctx *p, const json_t *v, const char *base_dir,
    struct policy_set *set)
{
	char item[WHERE_LEN + 24], norm[PATH_MAX];
	int rc;

	set->has_paths = true;
	if ((rc = string_array(p, v, set->where_paths, "folder names",
		 &set->paths, &set->n_paths)) != DBS_OK)
		return rc;
	for (size_t i = 0; i < set->n_paths; i++) {
		char *joined = config_join_path(base_dir, set->paths[i]);

		snprintf(item, sizeof(item), "%s[%zu]", set->where_paths, i);
		if (joined == NULL)
			return config_nomem(p);
		rc = path_lexical(joined, norm, sizeof(norm));
		free(joined);
		if (rc != 0)
			return config_fail(p, item, "path too long");
		free(set->paths[i]);
		if ((set->paths[i] = strdup(norm)) == NULL)
			return config_nomem(p);
	}
	return DBS_OK;
}

/* One level of the policy: {"drivers", "paths", "env"} (and at the top,
 * "clients", parsed by the caller). */
static int
parse_set(struct pctx *p, const json_t *obj, const char *where, bool top,
    const char *base_dir, struct policy_set *set)
{
	const char *key;
	json_t *v;
	int rc;

	snprintf(set->drivers.where, WHERE_LEN, "%s.drivers", where);
	snprintf(set->where_paths, WHERE_LEN, "%s.paths", where);
	snprintf(set->env.where, WHERE_LEN, "%s.env", where);
	snprintf(set->where_sql, WHERE_LEN, "%s.sql", where);
	if (!json_is_object(obj))
		return config_fail(p, where,
		    "expected an object {\"drivers\": [...], \"paths\": "
		    "[...]%s}",
		    top ? ", \"clients\": {...}" : "");
	json_object_foreach((json_t *)obj, key, v)
	{
		char kpath[WHERE_LEN + 80];

		if (strcmp(key, "drivers") == 0)
			rc = parse_names(p, v, "driver types", known_type,
			    "unknown driver type \"%.64s\" (expected a "
			    "built-in "
			    "type such as \"dir\" or \"exec\", or \"*\" for "
			    "all)",
			    &set->drivers);
		else if (strcmp(key, "paths") == 0)
			rc = parse_paths(p, v, base_dir, set);
		else if (strcmp(key, "env") == 0)
			rc = parse_names(p, v, "variable names", env_name,
			    "expected an environment variable name "
			    "([A-Za-z_][A-Za-z0-9_]*), or \"*\" for all",
			    &set->env);
		else if (strcmp(key, "sql") == 0) {
			rc = json_is_boolean(v)
				 ? DBS_OK
				 : config_fail(p, set->where_sql,
				       "expected true or false");
			set->has_sql = true;
			set->sql = json_is_true(v);
		} else if (top && strcmp(key, "clients") == 0)
			rc = DBS_OK;
		else {
			snprintf(kpath, sizeof(kpath), "%s.%.64s", where, key);
			rc = config_fail(p, kpath,
			    "unknown key (expected one of: drivers, paths, "
			    "env, sql%s)",
			    top ? ", clients" : "");
		}
		if (rc != DBS_OK)
			return rc;
	}
	return DBS_OK;
}

static int
parse_clients(struct pctx *p, const json_t *v, const char *base_dir,
    struct cfg_policy *pol)
{
	const char *name;
	json_t *e;

	if (v == NULL)
		return DBS_OK;
	if (!json_is_object(v))
		return config_fail(p, "$.client_policy.clients",
		    "expected an object: client name -> {\"drivers\", "
		    "\"paths\"}");
	pol->clients = calloc(json_object_size(v) + 1, sizeof(*pol->clients));
	if (pol->clients == NULL)
		return config_nomem(p);
	json_object_foreach((json_t *)v, name, e)
	{
		struct policy_client *c = &pol->clients[pol->n_clients];
		char where[WHERE_LEN];
		int rc;

		snprintf(where, sizeof(where), "$.client_policy.clients.%.64s",
		    name);
		if (!dbs_name_ok(name, strlen(name)) ||
		    strcmp(name, "root") == 0)
			return config_fail(p, where,
			    "invalid client name: use 1 to 64 of A-Z a-z 0-9 "
			    "_ "
			    "- (the root client's files are not limited)");
		if ((c->name = strdup(name)) == NULL)
			return config_nomem(p);
		pol->n_clients++;
		if ((rc = parse_set(p, e, where, false, base_dir, &c->set)) !=
		    DBS_OK)
			return rc;
	}
	return DBS_OK;
}

int
config_policy_parse(struct pctx *p, const json_t *v, const char *base_dir,
    struct cfg_policy **out)
{
	struct cfg_policy *pol;
	int rc;

	*out = NULL;
	if ((pol = calloc(1, sizeof(*pol))) == NULL)
		return config_nomem(p);
	snprintf(pol->top.drivers.where, WHERE_LEN, "$.client_policy");
	snprintf(pol->top.where_paths, WHERE_LEN, "$.client_policy");
	rc = DBS_OK;
	if (v != NULL && (rc = parse_set(p, v, "$.client_policy", true,
			      base_dir, &pol->top)) == DBS_OK)
		rc = parse_clients(
		    p, json_object_get(v, "clients"), base_dir, pol);
	if (rc != DBS_OK) {
		config_policy_free(pol);
		return rc;
	}
	*out = pol;
	return DBS_OK;
}

/* ------------------------------------------------------------- checking */

/* The policy in force for one client: its drivers and its folders,
 * resolved. */
struct effective {
	const struct name_list *drivers; /* NULL: the default */
	const char *where_drivers;
	char (*roots)[PATH_MAX];
	size_t n_roots;
	const char *where_paths;
	char shown_roots[512];
	const struct name_list *env; /* NULL: the default, none */
	const char *where_env;
	bool sql; /* default false */
	const char *where_sql;
};

/* The list in force: the client's, else the top level's, else NULL (the
 * default). */
static const struct name_list *
list_for(const struct name_list *mine, const struct name_list *top)
{
	if (mine != NULL && mine->given)
		return mine;
	return top != NULL && top->given ? top : NULL;
}

static bool
list_has(const struct name_list *l, const char *name)
{
	if (l->all)
		return true;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->names[i], name) == 0)
			return true;
	return false;
}

static const struct policy_set *
client_set(const struct cfg_policy *pol, const char *client)
{
	for (size_t i = 0; pol != NULL && i < pol->n_clients; i++)
		if (strcmp(pol->clients[i].name, client) == 0)
			return &pol->clients[i].set;
	return NULL;
}

static int
effective_roots(const struct cfg_policy_check *c, const struct policy_set *set,
    struct effective *ef)
{
	char *dflt = NULL, expanded[PATH_MAX];
	const char *one[1];
	char *const *src;
	size_t n, used = 0;
	int rc = DBS_OK;

	if (set != NULL) {
		src = set->paths;
		n = set->n_paths;
	} else {
		if ((dflt = config_policy_client_dir(
			 c->data_dir, c->client)) == NULL)
			return DBS_ENOMEM;
		one[0] = dflt;
		src = (char *const *)one;
		n = 1;
	}
	if ((ef->roots = calloc(n + 1, sizeof(*ef->roots))) == NULL) {
		free(dflt);
		return DBS_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		int w;

		if (path_expand(
			src[i], c->client, expanded, sizeof(expanded)) != 0 ||
		    path_resolve(expanded, ef->roots[ef->n_roots], PATH_MAX) !=
			0)
			continue; /* too long to name anything */
		w = snprintf(ef->shown_roots + used,
		    sizeof(ef->shown_roots) - used, "%s%s", used ? ", " : "",
		    ef->roots[ef->n_roots]);
		if (w > 0 && (size_t)w < sizeof(ef->shown_roots) - used)
			used += (size_t)w;
		ef->n_roots++;
	}
	if (ef->n_roots == 0)
		snprintf(ef->shown_roots, sizeof(ef->shown_roots), "none");
	free(dflt);
	return rc;
}

static int
effective_for(const struct cfg_policy_check *c, struct effective *ef)
{
	const struct policy_set *mine = client_set(c->pol, c->client);
	const struct policy_set *top = c->pol != NULL ? &c->pol->top : NULL;
	const struct policy_set *paths = NULL;

	memset(ef, 0, sizeof(*ef));
	ef->drivers =
	    list_for(mine ? &mine->drivers : NULL, top ? &top->drivers : NULL);
	ef->env = list_for(mine ? &mine->env : NULL, top ? &top->env : NULL);
	ef->where_drivers =
	    ef->drivers != NULL ? ef->drivers->where : "$.client_policy";
	ef->where_env = ef->env != NULL ? ef->env->where : "$.client_policy";
	ef->where_sql = "$.client_policy";
	if (mine != NULL && mine->has_sql) {
		ef->sql = mine->sql;
		ef->where_sql = mine->where_sql;
	} else if (top != NULL && top->has_sql) {
		ef->sql = top->sql;
		ef->where_sql = top->where_sql;
	}
	ef->where_paths = "$.client_policy";
	if (mine != NULL && mine->has_paths)
		paths = mine;
	else if (top != NULL && top->has_paths)
		paths = top;
	if (paths != NULL)
		ef->where_paths = paths->where_paths;
	return effective_roots(c, paths, ef);
}

static bool
type_allowed(const struct effective *ef, const char *type)
{
	if (ef->drivers == NULL) {
		for (size_t i = 0;
		     i < sizeof(builtin_types) / sizeof(builtin_types[0]); i++)
			if (strcmp(builtin_types[i].type, type) == 0)
				return builtin_types[i].by_default;
		return false;
	}
	return list_has(ef->drivers, type);
}

/* Where one entry is and what it is checked against. */
struct walk {
	const struct cfg_policy_check *c;
	const struct effective *ef;
	char *err;
	size_t errlen;
	char where[256]; /* "$.passengers[0].pushers[1]" */
};

/* Refuse the setting `key` of the entry at w->where when the file or
 * folder `value` (as written; `label` names it inside the setting) lies
 * outside every allowed folder. `rel_base` is what a relative value is
 * relative to. */
static int
check_path(struct walk *w, const char *key, const char *label,
    const char *rel_base, const char *value)
{
	char *joined = config_join_path(rel_base, value);
	char real[PATH_MAX];
	int rc;

	if (joined == NULL)
		return DBS_ENOMEM;
	rc = path_resolve(joined, real, sizeof(real));
	free(joined);
	if (rc == 0)
		for (size_t i = 0; i < w->ef->n_roots; i++)
			if (path_inside(real, w->ef->roots[i]))
				return DBS_OK;
	snprintf(w->err, w->errlen,
	    "%s: %s.%s: %s%s\"%s\" is outside the folders a client "
	    "administrator may name (%s) (%s %s)",
	    w->c->shown, w->where, key, label, label[0] ? " " : "", value,
	    w->ef->shown_roots, w->c->ticket, w->ef->where_paths);
	return DBS_ECONFIG;
}

/* Call `fn` for each key=value of a libpq connection string, in either of
 * its forms ("k=v k='v v'" or "postgresql://host,host/db?k=v&k=v"); -1
 * when it cannot be read. The values are unescaped into `buf`. */
static int
conninfo_each(const char *s, char *buf,
    int (*fn)(void *, const char *, const char *), void *ctx)
{
	const char *uri = NULL;
	int rc;

	if (strncmp(s, "postgresql://", 13) == 0)
		uri = s + 13;
	else if (strncmp(s, "postgres://", 11) == 0)
		uri = s + 11;
	if (uri != NULL) {
		size_t alen = strcspn(uri, "/?"), hl;
		const char *at = NULL, *q = strchr(uri, '?'), *h;

		for (const char *x = uri; x < uri + alen; x++)
			if (*x == '@')
				at = x;
		h = at != NULL ? at + 1 : uri;
		hl = (size_t)(uri + alen - h);
		/* Hosts: "h1:port,h2"; a socket folder is percent-encoded. */
		while (hl > 0) {
			size_t il = strcspn(h, ",");
			size_t o = 0;

			if (il > hl)
				il = hl;
			for (size_t i = 0; i < il && h[i] != ':'; i++) {
				unsigned hex;

				if (h[i] == '%' && i + 2 < il &&
				    sscanf(h + i + 1, "%2x", &hex) == 1) {
					buf[o++] = (char)hex;
					i += 2;
				} else {
					buf[o++] = h[i];
				}
			}
			buf[o] = '\0';
			if (h[0] != '[' && (rc = fn(ctx, "host", buf)) != 0)
				return rc;
			h += il;
			hl -= il;
			if (hl > 0) {
				h++;
				hl--;
			}
		}
		if (q == NULL)
			return 0;
		for (s = q + 1; *s != '\0';) {
			size_t o = 0, klen = 0;

			for (; *s != '\0' && *s != '&'; s++) {
				unsigned hex;

				if (*s == '=' && klen == 0) {
					buf[o++] = '\0';
					klen = o;
				} else if (*s == '%' &&
					   sscanf(s + 1, "%2x", &hex) == 1 &&
					   isxdigit((unsigned char)s[1]) &&
					   isxdigit((unsigned char)s[2])) {
					buf[o++] = (char)hex;
					s += 2;
				} else {
					buf[o++] = *s;
				}
			}
			buf[o] = '\0';
			if (klen == 0)
				return -1;
			if ((rc = fn(ctx, buf, buf + klen)) != 0)
				return rc;
			if (*s == '&')
				s++;
		}
		return 0;
	}
	for (;;) {
		size_t o = 0, klen;
		bool quoted;

		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\0')
			return 0;
		while (*s != '\0' && *s != '=' && !isspace((unsigned char)*s))
			buf[o++] = *s++;
		buf[o++] = '\0';
		klen = o;
		while (isspace((unsigned char)*s))
			s++;
		if (*s++ != '=')
			return -1;
		while (isspace((unsigned char)*s))
			s++;
		if ((quoted = *s == '\''))
			s++;
		for (;;) {
			if (*s == '\0') {
				if (quoted)
					return -1;
				break;
			}
			if (quoted ? *s == '\'' : isspace((unsigned char)*s)) {
				s += quoted;
				break;
			}
			if (*s == '\\' && s[1] != '\0')
				s++;
			buf[o++] = *s++;
		}
		buf[o] = '\0';
		if ((rc = fn(ctx, buf, buf + klen)) != 0)
			return rc;
	}
}

static int
conninfo_param(void *ctx, const char *key, const char *val)
{
	struct walk *w = ctx;
	char label[64];

	for (size_t i = 0; conninfo_files[i] != NULL; i++) {
		if (strcmp(key, conninfo_files[i]) != 0 || val[0] == '\0')
			continue;
		if (strcmp(key, "sslrootcert") == 0 &&
		    strcmp(val, "system") == 0)
			return 0;
		snprintf(label, sizeof(label), "%s", key);
		if (strcmp(key, "host") != 0)
			return check_path(
			    w, "conninfo", label, w->c->base_dir, val);
		/* host: a comma-separated list; folders start with '/'. */
		for (const char *h = val; *h != '\0';) {
			size_t n = strcspn(h, ",");
			char one[PATH_MAX];
			int rc;

			if (h[0] == '/' && n < sizeof(one)) {
				memcpy(one, h, n);
				one[n] = '\0';
				if ((rc = check_path(
					 w, "conninfo", label, "/", one)) != 0)
					return rc;
			}
			h += n + (h[n] == ',');
		}
	}
	return 0;
}

static int
check_conninfo(struct walk *w, const char *conninfo)
{
	char *buf = malloc(strlen(conninfo) + 2);
	int rc;

	if (buf == NULL)
		return DBS_ENOMEM;
	rc = conninfo_each(conninfo, buf, conninfo_param, w);
	free(buf);
	if (rc == -1) {
		snprintf(w->err, w->errlen,
		    "%s: %s.conninfo: cannot be read to check the files it "
		    "names (%s %s)",
		    w->c->shown, w->where, w->c->ticket, w->ef->where_paths);
		return DBS_ECONFIG;
	}
	return rc;
}

/* The settings of one entry that name files or folders. */
static int
check_entry_paths(
    struct walk *w, const char *list, const char *type, const json_t *entry)
{
	for (size_t i = 0;
	     i < sizeof(path_settings) / sizeof(path_settings[0]); i++) {
		const char *key = path_settings[i].key, *v, *dir;
		char *base;
		int rc;

		if ((path_settings[i].list != NULL &&
			strcmp(path_settings[i].list, list) != 0) ||
		    (path_settings[i].type != NULL &&
			strcmp(path_settings[i].type, type) != 0))
			continue;
		v = json_string_value(json_object_get(entry, key));
		if (v == NULL || v[0] == '\0')
			continue; /* absent or not a string: --check says */
		switch (path_settings[i].how) {
		case PATH_PLAIN:
			rc = check_path(w, key, "", w->c->base_dir, v);
			break;
		case PATH_UNDER:
			dir =
			    json_string_value(json_object_get(entry, "path"));
			if (dir == NULL)
				continue;
			if ((base = config_join_path(w->c->base_dir, dir)) ==
			    NULL)
				return DBS_ENOMEM;
			rc = check_path(w, key, "", base, v);
			free(base);
			break;
		default:
			rc = check_conninfo(w, v);
			break;
		}
		if (rc != DBS_OK)
			return rc;
	}
	return DBS_OK;
}

/* The setting at w->where + `key` reads variable `name`: allowed, or
 * refused naming it. */
static int
env_reference(struct walk *w, const char *key, const char *name)
{
	if (w->ef->env != NULL && list_has(w->ef->env, name))
		return DBS_OK;
	snprintf(w->err, w->errlen,
	    "%s: %s%s: reads databusd's environment variable \"%.64s\", "
	    "which client administrators may not (%s %s)",
	    w->c->shown, w->where, key, name, w->c->ticket, w->ef->where_env);
	return DBS_ECONFIG;
}

/* Every reference of `v` (a setting, `key` its JSON path) to databusd's
 * environment: a string "env:NAME" anywhere (HTTP headers, credentials,
 * exec's env), and a webhook's "secret_env" and "token_env". A variable
 * may hold another
 * client's secret, and a header sends it wherever the URL points. */
static int
check_env(struct walk *w, const char *key, const json_t *v)
{
	char sub[256];
	const char *k, *name = NULL;
	const json_t *e;
	size_t i;
	int rc;

	if (json_is_object(v) || json_is_array(v)) {
		json_object_foreach((json_t *)v, k, e)
		{
			snprintf(sub, sizeof(sub), "%s.%.64s", key, k);
			if ((strcmp(k, "secret_env") == 0 ||
				strcmp(k, "token_env") == 0) &&
			    json_is_string(e))
				name = json_string_value(e);
			if ((rc = name != NULL && name[0] != '\0'
				      ? env_reference(w, sub, name)
				      : check_env(w, sub, e)) != DBS_OK)
				return rc;
			name = NULL;
		}
		json_array_foreach(v, i, e)
		{
			snprintf(sub, sizeof(sub), "%s[%zu]", key, i);
			if ((rc = check_env(w, sub, e)) != DBS_OK)
				return rc;
		}
		return DBS_OK;
	}
	if (json_is_string(v) && strncmp(json_string_value(v), "env:", 4) == 0)
		return env_reference(w, key, json_string_value(v) + 4);
	return DBS_OK;
}

/* SQL text in a setting (the postgres pusher's "update_where") runs in
 * the database with the pusher's rights beyond the one table it maps: a
 * client administrator may write it only where "sql" allows. */
static int
check_sql(struct walk *w, const json_t *e)
{
	const char *v = json_string_value(json_object_get(e, "update_where"));

	if (w->ef->sql || v == NULL || v[0] == '\0')
		return DBS_OK;
	snprintf(w->err, w->errlen,
	    "%s: %s.update_where: SQL conditions are not allowed for client "
	    "administrators (%s %s)",
	    w->c->shown, w->where, w->c->ticket, w->ef->where_sql);
	return DBS_ECONFIG;
}

/* Whether `entry` stands, exactly so, in list `list` of the definition
 * named `def` of the old file. */
static bool
kept_from(
    const json_t *old, const char *def, const char *list, const json_t *entry)
{
	const json_t *defs = json_object_get(old, "passengers"), *d, *e;
	size_t i, k;

	if (def == NULL)
		return false;
	json_array_foreach(defs, i, d)
	{
		const char *name =
		    json_string_value(json_object_get(d, "name"));

		if (name == NULL || strcmp(name, def) != 0)
			continue;
		json_array_foreach(json_object_get(d, list), k, e)
		{
			if (json_equal(e, entry))
				return true;
		}
	}
	return false;
}

static int
check_definition(struct walk *w, const json_t *old, size_t i, const json_t *d)
{
	const char *def = json_string_value(json_object_get(d, "name"));
	size_t k;
	const json_t *e;
	int rc;

	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		json_array_foreach(json_object_get(d, lists[l]), k, e)
		{
			const char *type =
			    json_string_value(json_object_get(e, "type"));

			if (!json_is_object(e) || type == NULL ||
			    kept_from(old, def, lists[l], e))
				continue;
			snprintf(w->where, sizeof(w->where),
			    "$.passengers[%zu].%s[%zu]", i, lists[l], k);
			if (!type_allowed(w->ef, type)) {
				snprintf(w->err, w->errlen,
				    "%s: %s.type: driver type \"%.64s\" is "
				    "not "
				    "allowed for client administrators (%s "
				    "%s)",
				    w->c->shown, w->where, type, w->c->ticket,
				    w->ef->where_drivers);
				return DBS_ECONFIG;
			}
			if ((rc = check_entry_paths(w, lists[l], type, e)) !=
				DBS_OK ||
			    (rc = check_env(w, "", e)) != DBS_OK ||
			    (rc = check_sql(w, e)) != DBS_OK)
				return rc;
		}
	}
	return DBS_OK;
}

int
config_policy_check(const struct cfg_policy_check *c, const char *text,
    size_t len, char *err, size_t errlen)
{
	struct effective ef;
	struct walk w = {.c = c, .ef = &ef, .err = err, .errlen = errlen};
	json_t *root, *old = NULL;
	const json_t *d;
	size_t i;
	int rc;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	if (root == NULL)
		return DBS_OK; /* the validation names the syntax error */
	if (c->old != NULL)
		old = json_loadb(c->old, c->old_len, 0, NULL);
	if ((rc = effective_for(c, &ef)) == DBS_OK) {
		json_array_foreach(json_object_get(root, "passengers"), i, d)
		{
			if (json_is_object(d) &&
			    (rc = check_definition(&w, old, i, d)) != DBS_OK)
				break;
		}
	}
	free(ef.roots);
	json_decref(root);
	json_decref(old);
	return rc;
}
