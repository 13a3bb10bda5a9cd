/*
 * config_save.c — the customizing section's side in databusd: the nodes
 * (files) of the configuration, reading them, validating and saving new
 * versions, and the export events databus-web reports.
 *
 * Nodes:
 *   __databus   the dispatcher ticket (--config FILE)            root
 *   __clients   the list of client files, {"clients": [{"name",   root
 *               "file"}]}: saving it adds ({}) or removes files
 *   <client>    <clients_dir>/<client>.json                      its admins
 *   <listed>    an external_config_files entry, as listed        root
 * A node name is only ever compared with the names of the running
 * configuration; the path comes from the configuration, never from the
 * request. Who may see what arrives in the request (scope_client,
 * scope_root: the web decides from the session); a node out of scope does
 * not exist for that request (DBS_ENOTFOUND).
 *
 * A save is validated exactly as a reload would do it: the whole
 * configuration is loaded with the new file staged in place of the old one
 * (config_load_staged) and every driver's settings are checked by
 * `databus-worker --check`; a client administrator's save is first held
 * to root's client policy (config_policy.h: driver types, and folders for
 * settings naming files). A bad save changes nothing and answers
 * DBS_ECONFIG with "file: $.path: problem". A good one first commits a
 * backup of the version it replaces to the store (so the old version is
 * durable before the file changes), then writes the file atomically (tmp,
 * fsync, rename, fsync of the directory) and reloads.
 *
 * Secrets: client files hold their users' passwords in clear text (the
 * store keeps only Argon2id hashes once imported) and may hold drivers'
 * credentials (a webhook's secret, ...). They never leave databusd:
 * reading a client node replaces every member named password, secret,
 * token, api_key or authorization by CFG_PASSWORD_MARKER, a save puts the
 * stored value back where the marker is left (array elements matched by
 * "name" / "username"), and backups are kept redacted.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "commit.h"
#include "config_policy.h"
#include "config_secrets.h"
#include "dbs_error.h"
#include "names.h"
#include "reload.h"
#include "sup.h"
#include "wire.h"

#define CFG_MAX_FILE        (4u << 20)
#define CFG_EXPORT_JSON_MAX 8192

enum node_kind {
	NODE_DATABUS,
	NODE_CLIENTS,
	NODE_CLIENT,
	NODE_EXTERNAL,
};

static const char *const kind_names[] = {
    "databus", "clients", "client", "external"};

struct node {
	enum node_kind kind;
	const char *name;  /* into the config or the request */
	char path[4200];   /* the file ("" for __clients) */
	const char *shown; /* the file as messages name it */
	const char *client;
};

/* ------------------------------------------------------------- nodes */

static size_t
node_count(const struct config *cfg)
{
	if (cfg->file == NULL)
		return 0; /* the demo configuration has no files */
	return 2 + cfg->n_clients + cfg->n_external_files;
}

/* The i-th node of the running configuration. */
static void
node_at(const struct config *cfg, size_t i, struct node *n)
{
	memset(n, 0, sizeof(*n));
	if (i == 0) {
		n->kind = NODE_DATABUS;
		n->name = "__databus";
		snprintf(n->path, sizeof(n->path), "%s", cfg->file);
		n->shown = cfg->file;
		return;
	}
	if (i == 1) {
		n->kind = NODE_CLIENTS;
		n->name = "__clients";
		n->shown = "__clients";
		return;
	}
	i -= 2;
	if (i < cfg->n_clients) {
		const struct cfg_client *c = &cfg->clients[i];

		n->kind = NODE_CLIENT;
		n->name = c->name;
		n->client = c->name;
		n->shown = c->file;
		snprintf(n->path, sizeof(n->path), "%s/%s.json",
		    cfg->clients_dir, c->name);
		return;
	}
	i -= cfg->n_clients;
	n->kind = NODE_EXTERNAL;
	n->name = cfg->external_listed[i];
	n->shown = cfg->external_listed[i];
	snprintf(n->path, sizeof(n->path), "%s", cfg->external_files[i]);
}

static bool
in_scope(const Dbs__ConfigSave *r, const struct node *n)
{
	if (r->scope_root)
		return true;
	return n->kind == NODE_CLIENT && r->scope_client != NULL &&
	       strcmp(n->client, r->scope_client) == 0;
}

static int
node_find(const struct config *cfg, const Dbs__ConfigSave *r, struct node *n)
{
	for (size_t i = 0; i < node_count(cfg); i++) {
		node_at(cfg, i, n);
		if (strcmp(n->name, r->node) == 0)
			return in_scope(r, n) ? DBS_OK : DBS_ENOTFOUND;
	}
	return DBS_ENOTFOUND;
}

/*
 * The key of a node's versions in the store's config backups: one
 * namespace per kind, so that no two nodes share a history whatever their
 * names (a client named like an external file, or "__databus").
 */
static void
node_key(const struct node *n, char *buf, size_t len)
{
	switch (n->kind) {
	case NODE_CLIENT:
		snprintf(buf, len, "client:%s", n->name);
		return;
	case NODE_EXTERNAL:
		snprintf(buf, len, "external:%s", n->name);
		return;
	default:
		snprintf(buf, len, "%s", n->name);
		return;
	}
}

/* node_find for backups: a client removed from the configuration keeps
 * its backups, reachable under its name. */
static int
node_find_backups(
    const struct config *cfg, const Dbs__ConfigSave *r, struct node *n)
{
	int rc = node_find(cfg, r, n);
	bool taken = false;

	if (rc == DBS_OK)
		return rc;
	for (size_t i = 0; i < node_count(cfg) && !taken; i++) {
		struct node other;

		node_at(cfg, i, &other);
		taken = strcmp(other.name, r->node) == 0;
	}
	if (taken || !dbs_name_ok(r->node, strlen(r->node)) ||
	    strncmp(r->node, "__", 2) == 0)
		return DBS_ENOTFOUND;
	memset(n, 0, sizeof(*n));
	n->kind = NODE_CLIENT;
	n->name = r->node;
	n->client = r->node;
	n->shown = r->node;
	return in_scope(r, n) ? DBS_OK : DBS_ENOTFOUND;
}

/* ------------------------------------------------------------ content */

/* The whole file at `path` (NUL-terminated, malloc'ed) into *out. */
static int
read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	ssize_t r;
	int fd, rc = DBS_EIO;

	*out = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? DBS_ENOTFOUND : DBS_EIO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if ((size_t)st.st_size > CFG_MAX_FILE) {
		snprintf(err, errlen, "%s: larger than %u bytes", path,
		    CFG_MAX_FILE);
		rc = DBS_ETOOBIG;
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		rc = DBS_ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size &&
	       (r = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)r;
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL; /* transferred */
	rc = DBS_OK;
out:
	free(buf);
	close(fd);
	return rc;
}

/* The version of a content: the first 16 bytes of its BLAKE2b, in hex. */
static void
content_version(const void *data, size_t len, char out[33])
{
	unsigned char h[16];

	crypto_generichash(h, sizeof(h), data, len, NULL, 0);
	sodium_bin2hex(out, 33, h, sizeof(h));
}

/* The __clients document of the running configuration. */
static char *
clients_doc(const struct config *cfg)
{
	json_t *arr = json_array(), *doc;
	char *s;

	for (size_t i = 0; i < cfg->n_clients; i++)
		json_array_append_new(
		    arr, json_pack("{s:s, s:s}", "name", cfg->clients[i].name,
			     "file", cfg->clients[i].file));
	doc = json_pack("{s:o}", "clients", arr);
	s = doc != NULL ? cfgsec_dump(doc) : NULL;
	json_decref(doc);
	return s;
}

/* The content of a node as it is shown (passwords redacted). */
static int
node_content(const struct config *cfg, const struct node *n, char **out,
    size_t *len, char *err, size_t errlen)
{
	char *raw = NULL;
	int rc;

	*out = NULL;
	*len = 0;
	if (n->kind == NODE_CLIENTS) {
		if ((*out = clients_doc(cfg)) == NULL)
			return DBS_ENOMEM;
		*len = strlen(*out);
		return DBS_OK;
	}
	if ((rc = read_file(n->path, &raw, len, err, errlen)) != DBS_OK)
		return rc;
	if (n->kind != NODE_CLIENT) {
		*out = raw;
		return DBS_OK;
	}
	rc = cfgsec_redact(n->shown, raw, *len, out, err, errlen);
	free(raw);
	*len = *out != NULL ? strlen(*out) : 0;
	return rc;
}

/* ---------------------------------------------------------- validate */

/* A planned change of the client files by a __clients save. */
struct clients_plan {
	char **added; /* names */
	size_t n_added;
	char **removed; /* names */
	size_t n_removed;
	char **removed_text; /* their files as they were, once removed */
};

static void
plan_clear(struct clients_plan *p)
{
	for (size_t i = 0; i < p->n_added; i++)
		free(p->added[i]);
	for (size_t i = 0; i < p->n_removed; i++) {
		free(p->removed[i]);
		if (p->removed_text != NULL)
			free(p->removed_text[i]);
	}
	free(p->added);
	free(p->removed);
	free(p->removed_text);
	memset(p, 0, sizeof(*p));
}

static int
plan_clients(const struct config *cfg, const char *text, size_t len,
    struct clients_plan *plan, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *arr, *e;
	size_t i, n;
	int rc = DBS_ECONFIG;

	memset(plan, 0, sizeof(*plan));
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(err, errlen, "__clients: line %d column %d: %s",
		    jerr.line, jerr.column, jerr.text);
		return DBS_ECONFIG;
	}
	arr = json_object_get(root, "clients");
	if (!json_is_object(root) || json_object_size(root) != 1 ||
	    !json_is_array(arr)) {
		snprintf(err, errlen,
		    "__clients: $: expected {\"clients\": [{\"name\": ...}]}");
		goto out;
	}
	n = json_array_size(arr);
	plan->added = calloc(n + 1, sizeof(char *));
	plan->removed = calloc(cfg->n_clients + 1, sizeof(char *));
	if (plan->added == NULL || plan->removed == NULL) {
		rc = DBS_ENOMEM;
		goto out;
	}
	json_array_foreach(arr, i, e)
	{
		const char *name =
		    json_string_value(json_object_get(e, "name"));
		json_t *file = json_object_get(e, "file");
		const char *key;
		json_t *v;
		bool known = false;

		if (!json_is_object(e) || name == NULL) {
			snprintf(err, errlen,
			    "__clients: $.clients[%zu]: expected an object "
			    "with a \"name\"",
			    i);
			goto out;
		}
		json_object_foreach(e, key, v)
		{
			if (strcmp(key, "name") != 0 &&
			    strcmp(key, "file") != 0) {
				snprintf(err, errlen,
				    "__clients: $.clients[%zu]: unknown key "
				    "\"%s\" (expected name, file)",
				    i, key);
				goto out;
			}
		}
		if (file != NULL && !json_is_string(file)) {
			snprintf(err, errlen,
			    "__clients: $.clients[%zu].file: expected a "
			    "string",
			    i);
			goto out;
		}
		if (!dbs_name_ok(name, strlen(name))) {
			snprintf(err, errlen,
			    "__clients: $.clients[%zu].name: invalid client "
			    "name \"%s\": use 1 to 64 of A-Z a-z 0-9 _ -",
			    i, name);
			goto out;
		}
		for (size_t k = 0; k < i; k++) {
			if (strcmp(json_string_value(json_object_get(
				       json_array_get(arr, k), "name")),
				name) == 0) {
				snprintf(err, errlen,
				    "__clients: $.clients[%zu].name: "
				    "duplicate client \"%s\" (also at "
				    "$.clients[%zu])",
				    i, name, k);
				goto out;
			}
		}
		for (size_t k = 0; k < cfg->n_clients && !known; k++)
			known = strcmp(cfg->clients[k].name, name) == 0;
		if (!known &&
		    (plan->added[plan->n_added++] = strdup(name)) == NULL) {
			rc = DBS_ENOMEM;
			goto out;
		}
	}
	for (size_t k = 0; k < cfg->n_clients; k++) {
		bool kept = false;

		json_array_foreach(arr, i, e)
		{
			kept |= strcmp(json_string_value(
					   json_object_get(e, "name")),
				    cfg->clients[k].name) == 0;
		}
		if (!kept && (plan->removed[plan->n_removed++] =
				     strdup(cfg->clients[k].name)) == NULL) {
			rc = DBS_ENOMEM;
			goto out;
		}
	}
	rc = DBS_OK;
out:
	json_decref(root);
	if (rc != DBS_OK)
		plan_clear(plan);
	return rc;
}

/*
 * Load the whole configuration with `stage` in place and check every
 * driver, as sup_reload() would; DBS_OK or DBS_ECONFIG with `err`.
 */
static int
validate_staged(struct sup *s, const struct config_stage *stage, size_t n,
    char *err, size_t errlen)
{
	struct config *ncfg = NULL;
	int rc;

	rc = config_load_staged(s->cfg->file, stage, n, &ncfg, err, errlen);
	if (rc != DBS_OK)
		return rc;
	rc = config_check_drivers(ncfg, err, errlen);
	if (rc == DBS_OK && strcmp(ncfg->data_dir, s->cfg->data_dir) != 0) {
		snprintf(err, errlen,
		    "%s: $.data_dir: cannot change while running; restart "
		    "databusd",
		    ncfg->file);
		rc = DBS_ECONFIG;
	}
	config_free(ncfg);
	return rc;
}

/*
 * A client administrator's save, validation or restore of their client
 * file (`text`, with its secrets put back): only the driver types and the
 * folders of root's client policy (config_policy.h). This runs before
 * validate(): `databus-worker --check` initialises every driver, and
 * that alone loads a plugin's shared object or creates a null pusher's
 * record file. The client's own folder (<data_dir>/files/<client>, 0750)
 * is made here, so that a save can name it.
 */
static int
check_policy(struct sup *s, const Dbs__ConfigSave *r, const struct node *n,
    const char *text, const char *old, size_t old_len, char *err,
    size_t errlen)
{
	const char *slash = strrchr(s->cfg->file, '/');
	struct cfg_policy_check c = {
	    .pol = s->cfg->client_policy,
	    .ticket = slash != NULL ? slash + 1 : s->cfg->file,
	    .client = n->client,
	    .data_dir = s->cfg->data_dir,
	    .base_dir = s->cfg->base_dir,
	    .shown = n->shown,
	    .old = old,
	    .old_len = old_len,
	};
	char files[4200], *mine;

	if (n->kind != NODE_CLIENT || r->scope_root)
		return DBS_OK; /* root's saves are not limited */
	snprintf(files, sizeof(files), "%s/files", s->cfg->data_dir);
	if ((mine = config_policy_client_dir(s->cfg->data_dir, n->client)) ==
	    NULL)
		return DBS_ENOMEM;
	if ((mkdir(files, 0750) != 0 && errno != EEXIST) ||
	    (mkdir(mine, 0750) != 0 && errno != EEXIST))
		sup_err("config: cannot make %s: %s", mine, strerror(errno));
	free(mine);
	return config_policy_check(&c, text, strlen(text), err, errlen);
}

/* The path of client `name`'s file. */
static void
client_path(const struct config *cfg, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.json", cfg->clients_dir, name);
}

static int
validate(struct sup *s, const struct node *n, const char *text, size_t len,
    const struct clients_plan *plan, char *err, size_t errlen)
{
	struct config_stage *st;
	char(*paths)[4200];
	size_t k = 0;
	int rc;

	if (n->kind == NODE_EXTERNAL) {
		size_t nl = strlen(n->name);
		json_error_t jerr;
		json_t *v;

		if (nl < 5 || strcmp(n->name + nl - 5, ".json") != 0)
			return DBS_OK;
		if ((v = json_loadb(text, len, JSON_DECODE_ANY, &jerr)) ==
		    NULL) {
			snprintf(err, errlen, "%s: line %d column %d: %s",
			    n->shown, jerr.line, jerr.column, jerr.text);
			return DBS_ECONFIG;
		}
		json_decref(v);
		return DBS_OK;
	}
	if (n->kind != NODE_CLIENTS) {
		struct config_stage one = {n->path, text, len, false};

		return validate_staged(s, &one, 1, err, errlen);
	}
	st = calloc(plan->n_added + plan->n_removed + 1, sizeof(*st));
	paths = calloc(plan->n_added + plan->n_removed + 1, sizeof(*paths));
	if (st == NULL || paths == NULL) {
		free(st);
		free(paths);
		return DBS_ENOMEM;
	}
	for (size_t i = 0; i < plan->n_added; i++, k++) {
		client_path(
		    s->cfg, plan->added[i], paths[k], sizeof(paths[k]));
		st[k] = (struct config_stage){paths[k], "{}\n", 3, false};
	}
	for (size_t i = 0; i < plan->n_removed; i++, k++) {
		client_path(
		    s->cfg, plan->removed[i], paths[k], sizeof(paths[k]));
		st[k] = (struct config_stage){paths[k], NULL, 0, true};
	}
	rc = validate_staged(s, st, k, err, errlen);
	free(st);
	free(paths);
	return rc;
}

/* -------------------------------------------------------------- write */

/* Replace the file at `path` with `text`: tmp + fsync + rename + fsync of
 * the directory. A new file gets mode 0600, an old one keeps its mode. */
static int
write_atomic(
    const char *path, const char *text, size_t len, char *err, size_t errlen)
{
	char tmp[4300];
	struct stat st;
	mode_t mode = 0600;
	size_t done = 0;
	ssize_t w;
	int fd;

	if (stat(path, &st) == 0)
		mode = st.st_mode & 07777;
	snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", path, (long)getpid());
	fd = open(
	    tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		goto fail;
	while (done < len && (w = write(fd, text + done, len - done)) > 0)
		done += (size_t)w;
	if (done != len || fsync(fd) != 0) {
		close(fd);
		goto fail_unlink;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0)
		goto fail_unlink;
	if (wire_sync_dir_of(path) != 0)
		goto fail;
	return DBS_OK;
fail_unlink:
	snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
	(void)unlink(tmp);
	return dbs_from_errno(errno);
fail:
	snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
	return dbs_from_errno(errno);
}

static int
backup(struct sup *s, const struct node *n, const char *author,
    const char *text, size_t len)
{
	struct store_txn *txn = sup_txn(s);
	char key[600];
	int rc;

	if (txn == NULL)
		return DBS_EIO;
	node_key(n, key, sizeof(key));
	rc = store_config_backup_put(
	    txn, key, author, text, len, wire_now_ms(), NULL);
	if (rc != DBS_OK) {
		sup_store_failed(s, rc, "backing up a config file");
		return rc;
	}
	return DBS_OK;
}

/* Back up client `name`'s file (redacted) and remove it; *was gets its
 * text (malloc'ed) for a rollback. */
static int
remove_client(struct sup *s, const char *name, const char *author, char **was,
    char *err, size_t errlen)
{
	char path[4200], *raw = NULL, *red = NULL;
	struct node n = {.kind = NODE_CLIENT, .name = name, .client = name};
	size_t len;
	int rc;

	client_path(s->cfg, name, path, sizeof(path));
	if ((rc = read_file(path, &raw, &len, err, errlen)) != DBS_OK)
		return rc;
	if ((rc = cfgsec_redact(name, raw, len, &red, err, errlen)) ==
		DBS_OK &&
	    (rc = backup(s, &n, author, red, strlen(red))) == DBS_OK &&
	    (rc = sup_commit(s)) == DBS_OK) {
		if (unlink(path) != 0 || wire_sync_dir_of(path) != 0) {
			snprintf(err, errlen, "%.3000s: cannot remove: %s",
			    path, strerror(errno));
			rc = dbs_from_errno(errno);
		}
	}
	if (rc == DBS_OK) {
		*was = raw;
		raw = NULL; /* transferred */
	}
	free(raw);
	free(red);
	return rc;
}

/* Undo a __clients save whose reload failed: the new files go, the
 * removed ones come back as they were. */
static void
plan_undo(struct sup *s, const struct clients_plan *plan)
{
	char path[4200], e2[256];

	for (size_t i = 0; i < plan->n_added; i++) {
		client_path(s->cfg, plan->added[i], path, sizeof(path));
		(void)unlink(path);
	}
	for (size_t i = 0; i < plan->n_removed; i++) {
		if (plan->removed_text[i] == NULL)
			continue;
		client_path(s->cfg, plan->removed[i], path, sizeof(path));
		(void)write_atomic(path, plan->removed_text[i],
		    strlen(plan->removed_text[i]), e2, sizeof(e2));
	}
}

/* ------------------------------------------------------------ replies */

static void
fill_node(Dbs__CfgNode *cn, const struct node *n)
{
	cn->node = (char *)n->name;
	cn->kind = (char *)kind_names[n->kind];
	cn->client = (char *)(n->client != NULL ? n->client : "");
	cn->file = (char *)n->shown;
}

static void
do_list(struct sup *s, nng_msg *msg, uint64_t id, const Dbs__ConfigSave *r)
{
	Dbs__ControlReply rep = DBS__CONTROL_REPLY__INIT;
	Dbs__CfgNodeList list = DBS__CFG_NODE_LIST__INIT;
	size_t total = node_count(s->cfg), k = 0;
	Dbs__CfgNode *nodes = calloc(total + 1, sizeof(*nodes));
	Dbs__CfgNode **ptrs = calloc(total + 1, sizeof(*ptrs));
	struct node *ns = calloc(total + 1, sizeof(*ns));

	rep.id = id;
	if (nodes == NULL || ptrs == NULL || ns == NULL) {
		rep.code = DBS_ENOMEM;
		rep.message = (char *)dbs_strerror(DBS_ENOMEM);
	} else {
		for (size_t i = 0; i < total; i++) {
			node_at(s->cfg, i, &ns[k]);
			if (!in_scope(r, &ns[k]))
				continue;
			dbs__cfg_node__init(&nodes[k]);
			fill_node(&nodes[k], &ns[k]);
			ptrs[k] = &nodes[k];
			k++;
		}
		list.n_items = k;
		list.items = ptrs;
		rep.config_nodes = &list;
	}
	sup_control_reply(s, msg, &rep, false);
	free(nodes);
	free(ptrs);
	free(ns);
}

static void
do_get(struct sup *s, nng_msg *msg, uint64_t id, const Dbs__ConfigSave *r)
{
	Dbs__ControlReply rep = DBS__CONTROL_REPLY__INIT;
	Dbs__CfgNode cn = DBS__CFG_NODE__INIT;
	struct node n;
	char err[2048] = "", version[33];
	char *text = NULL, *raw = NULL;
	size_t len = 0, rlen = 0;
	int rc;

	rep.id = id;
	if ((rc = node_find(s->cfg, r, &n)) != DBS_OK) {
		snprintf(err, sizeof(err), "no such node");
		goto out;
	}
	if ((rc = node_content(s->cfg, &n, &text, &len, err, sizeof(err))) !=
	    DBS_OK)
		goto out;
	/* The version is that of the file itself, not of the redacted
	 * text, so that any change on disk shows. */
	if (n.kind == NODE_CLIENT) {
		if ((rc = read_file(n.path, &raw, &rlen, err, sizeof(err))) !=
		    DBS_OK)
			goto out;
		content_version(raw, rlen, version);
	} else {
		content_version(text, len, version);
	}
	fill_node(&cn, &n);
	cn.content.data = (uint8_t *)text;
	cn.content.len = len;
	cn.version = version;
	rep.config_node = &cn;
out:
	rep.code = rc;
	if (rc != DBS_OK)
		rep.message = err[0] != '\0' ? err : (char *)dbs_strerror(rc);
	sup_control_reply(s, msg, &rep, false);
	free(text);
	free(raw);
}

/* Validate, and for config_save write and reload. */
/* The text of node n as it is now (malloc'ed): its file, or for the
 * client list the list databusd runs with. */
static int
read_current(struct sup *s, const struct node *n, char **old, size_t *old_len,
    char *err, size_t errlen)
{
	if (n->kind != NODE_CLIENTS)
		return read_file(n->path, old, old_len, err, errlen);
	if ((*old = clients_doc(s->cfg)) == NULL)
		return DBS_ENOMEM;
	*old_len = strlen(*old);
	return DBS_OK;
}

/* The backup `number` of node n, for a save that restores it. */
static int
restored_backup(struct sup *s, const struct node *n, uint64_t number,
    Dbs__ConfigBackup **b, char *err, size_t errlen)
{
	struct store_txn *txn = sup_txn(s);
	char key[600];
	int rc;

	if (txn == NULL)
		return DBS_EIO;
	node_key(n, key, sizeof(key));
	rc = store_config_backup_get(txn, key, number, b);
	if (rc != DBS_OK)
		snprintf(err, errlen, "no backup %" PRIu64, number);
	return rc;
}

/* The version a save replaces goes to the store first, durably (a client
 * file's passwords redacted): *old_red is that text, malloc'ed. */
static int
backup_current(struct sup *s, const struct node *n, const char *author,
    const char *old, size_t old_len, char **old_red, char *err, size_t errlen)
{
	int rc;

	if (n->kind == NODE_CLIENT) {
		if ((rc = cfgsec_redact(n->shown, old, old_len, old_red, err,
			 errlen)) != DBS_OK)
			return rc;
	} else if ((*old_red = strndup(old, old_len)) == NULL) {
		return DBS_ENOMEM;
	}
	if ((rc = backup(s, n, author, *old_red, strlen(*old_red))) !=
		DBS_OK ||
	    (rc = sup_commit(s)) != DBS_OK)
		snprintf(err, errlen,
		    "cannot back up the current version; nothing saved: %s",
		    s->store_error);
	return rc;
}

/* Write the saved node: its file, or for the client list the files of the
 * added clients ("{}") and the removal of the others (undone when a step
 * fails). */
static int
write_node(struct sup *s, const struct node *n, struct clients_plan *plan,
    const char *author, const char *text, size_t text_len, char *err,
    size_t errlen)
{
	int rc = DBS_OK;

	if (n->kind != NODE_CLIENTS)
		return write_atomic(n->path, text, text_len, err, errlen);
	plan->removed_text =
	    calloc(plan->n_removed + 1, sizeof(*plan->removed_text));
	if (plan->removed_text == NULL)
		rc = DBS_ENOMEM;
	for (size_t i = 0; i < plan->n_added && rc == DBS_OK; i++) {
		char path[4200];

		client_path(s->cfg, plan->added[i], path, sizeof(path));
		rc = write_atomic(path, "{}\n", 3, err, errlen);
	}
	for (size_t i = 0; i < plan->n_removed && rc == DBS_OK; i++)
		rc = remove_client(s, plan->removed[i], author,
		    &plan->removed_text[i], err, errlen);
	if (rc != DBS_OK && plan->removed_text != NULL)
		plan_undo(s, plan);
	return rc;
}

static void
do_save(struct sup *s, nng_msg *msg, uint64_t id, const Dbs__ConfigSave *r,
    bool save)
{
	Dbs__ControlReply rep = DBS__CONTROL_REPLY__INIT;
	Dbs__CfgNode cn = DBS__CFG_NODE__INIT;
	Dbs__ConfigBackup *b = NULL;
	struct clients_plan plan = {0};
	struct node n;
	char err[4096] = "", version[33] = "";
	char *old = NULL, *text = NULL, *old_red = NULL;
	const char *content = (const char *)r->content.data;
	const char *author =
	    r->author != NULL && r->author[0] != '\0' ? r->author : "unknown";
	size_t content_len = r->content.len, old_len = 0, text_len;
	int rc;

	rep.id = id;
	if ((rc = node_find(s->cfg, r, &n)) != DBS_OK) {
		snprintf(err, sizeof(err), "no such node");
		goto out;
	}
	if (save && r->restore_backup != 0) {
		if ((rc = restored_backup(s, &n, r->restore_backup, &b, err,
			 sizeof(err))) != DBS_OK)
			goto out;
		content = (const char *)b->content.data;
		content_len = b->content.len;
	}
	if (content_len > CFG_MAX_FILE) {
		rc = DBS_ETOOBIG;
		goto out;
	}
	if (content == NULL)
		content = "";

	/* The node as it is now: its version and its text. */
	if ((rc = read_current(s, &n, &old, &old_len, err, sizeof(err))) !=
	    DBS_OK)
		goto out;
	content_version(old, old_len, version);
	if (r->base_version != NULL && r->base_version[0] != '\0' &&
	    strcmp(r->base_version, version) != 0) {
		snprintf(err, sizeof(err),
		    "%s changed since you read it (now version %s): read it "
		    "again and redo your change",
		    n.shown, version);
		rc = DBS_EBUSY;
		goto out;
	}

	if (memchr(content, '\0', content_len) != NULL) {
		snprintf(err, sizeof(err), "%s: the content holds a NUL byte",
		    n.shown);
		rc = DBS_ECONFIG;
		goto out;
	}
	/* The text to write: passwords behind markers resolved. */
	if (n.kind == NODE_CLIENT) {
		rc = cfgsec_unredact(n.shown, content, content_len, old,
		    old_len, &text, err, sizeof(err));
		if (rc != DBS_OK)
			goto out;
	} else if ((text = strndup(content, content_len)) == NULL) {
		rc = DBS_ENOMEM;
		goto out;
	}
	text_len = strlen(text);
	if (n.kind == NODE_CLIENTS &&
	    (rc = plan_clients(
		 s->cfg, text, text_len, &plan, err, sizeof(err))) != DBS_OK)
		goto out;
	if ((rc = check_policy(
		 s, r, &n, text, old, old_len, err, sizeof(err))) != DBS_OK ||
	    (rc = validate(s, &n, text, text_len, &plan, err, sizeof(err))) !=
		DBS_OK)
		goto out;
	if (!save) {
		snprintf(err, sizeof(err), "%s is valid", n.shown);
		goto out;
	}

	if ((rc = backup_current(s, &n, author, old, old_len, &old_red, err,
		 sizeof(err))) != DBS_OK ||
	    (rc = write_node(s, &n, &plan, author, text, text_len, err,
		 sizeof(err))) != DBS_OK)
		goto out;
	sup_log("config: %s saved by %s", n.shown, author);
	if ((rc = sup_reload(s, err, sizeof(err))) != DBS_OK) {
		/* Something else changed on disk since the check: put the old
		 * version back, so the files match what runs. */
		char e2[256];

		if (n.kind != NODE_CLIENTS)
			(void)write_atomic(
			    n.path, old, old_len, e2, sizeof(e2));
		else if (plan.removed_text != NULL)
			plan_undo(s, &plan);
		sup_err(
		    "config: reload after saving %s failed: %s", n.shown, err);
		goto out;
	}
	/* The node may be gone (a removed external file): answer with what
	 * was written. */
	content_version(text, text_len, version);
	fill_node(&cn, &n);
	cn.version = version;
	rep.config_node = &cn;
	snprintf(
	    err, sizeof(err), "%s saved; configuration reloaded", n.shown);
out:
	rep.code = rc;
	rep.message = err[0] != '\0' ? err : (char *)dbs_strerror(rc);
	sup_control_reply(s, msg, &rep, false);
	plan_clear(&plan);
	if (b != NULL)
		dbs__config_backup__free_unpacked(b, NULL);
	free(old);
	free(old_red);
	free(text);
}

struct backup_list {
	Dbs__ConfigBackup **items;
	size_t n, cap;
};

static int
collect_backup(void *ctx, const Dbs__ConfigBackup *b)
{
	struct backup_list *l = ctx;
	Dbs__ConfigBackup *c;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		Dbs__ConfigBackup **g = realloc(l->items, cap * sizeof(*g));

		if (g == NULL)
			return DBS_ENOMEM;
		l->items = g;
		l->cap = cap;
	}
	/* The list shows no content: only its size. */
	if ((c = malloc(sizeof(*c))) == NULL)
		return DBS_ENOMEM;
	dbs__config_backup__init(c);
	c->node = NULL; /* set by the caller */
	if ((c->author = strdup(b->author)) == NULL) {
		free(c);
		return DBS_ENOMEM;
	}
	c->version = b->version;
	c->time_ms = b->time_ms;
	c->size = b->content.len;
	l->items[l->n++] = c;
	return 0;
}

static void
do_backups(
    struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req, bool one)
{
	const Dbs__ConfigSave *r =
	    one ? req->config_backup_get : req->config_backups;
	Dbs__ControlReply rep = DBS__CONTROL_REPLY__INIT;
	struct backup_list l = {0};
	Dbs__ConfigBackup *b = NULL;
	struct store_txn *txn = sup_txn(s);
	struct node n;
	char key[600];
	int rc;

	rep.id = req->id;
	if ((rc = node_find_backups(s->cfg, r, &n)) != DBS_OK)
		goto out;
	if (txn == NULL) {
		rc = DBS_EIO;
		goto out;
	}
	node_key(&n, key, sizeof(key));
	if (one) {
		rc = r->restore_backup == 0 ? DBS_ENOTFOUND
					    : store_config_backup_get(txn, key,
						  r->restore_backup, &b);
		if (rc == DBS_OK) {
			/* Shown under the node's name, not its key. */
			free(b->node);
			b->node = strdup(n.name);
			rc = b->node != NULL ? DBS_OK : DBS_ENOMEM;
			rep.config_backup = b;
		}
	} else {
		rc = store_config_backup_list(txn, key, collect_backup, &l);
		if (rc == DBS_ENOTFOUND)
			rc = DBS_OK;
		for (size_t i = 0; i < l.n && rc == DBS_OK; i++) {
			free(l.items[i]->node);
			if ((l.items[i]->node = strdup(n.name)) == NULL)
				rc = DBS_ENOMEM;
		}
		rep.n_config_backups = l.n;
		rep.config_backups = l.items;
	}
out:
	rep.code = rc;
	if (rc != DBS_OK) {
		rep.message = (char *)dbs_strerror(rc);
		rep.config_backup = NULL;
		rep.n_config_backups = 0;
	}
	sup_control_reply(s, msg, &rep, false);
	for (size_t i = 0; i < l.n; i++) {
		free(l.items[i]->node);
		free(l.items[i]->author);
		free(l.items[i]);
	}
	free(l.items);
	if (b != NULL)
		dbs__config_backup__free_unpacked(b, NULL);
}

void
config_ctl_handle(struct sup *s, nng_msg *msg, const Dbs__ControlRequest *req)
{
	switch (req->verb_case) {
	case DBS__CONTROL_REQUEST__VERB_CONFIG_LIST:
		do_list(s, msg, req->id, req->config_list);
		return;
	case DBS__CONTROL_REQUEST__VERB_CONFIG_GET:
		do_get(s, msg, req->id, req->config_get);
		return;
	case DBS__CONTROL_REQUEST__VERB_CONFIG_VALIDATE:
		do_save(s, msg, req->id, req->config_validate, false);
		return;
	case DBS__CONTROL_REQUEST__VERB_CONFIG_SAVE:
		do_save(s, msg, req->id, req->config_save, true);
		return;
	case DBS__CONTROL_REQUEST__VERB_CONFIG_BACKUPS:
		do_backups(s, msg, req, false);
		return;
	case DBS__CONTROL_REQUEST__VERB_CONFIG_BACKUP_GET:
		do_backups(s, msg, req, true);
		return;
	default: {
		Dbs__ControlReply rep = DBS__CONTROL_REPLY__INIT;

		rep.id = req->id;
		rep.code = DBS_EINVAL;
		rep.message = (char *)dbs_strerror(DBS_EINVAL);
		sup_control_reply(s, msg, &rep, false);
	}
	}
}

/* ------------------------------------------------------------ exports */

int
config_export_event(
    struct sup *s, const Dbs__WebExportEvent *ev, char *err, size_t errlen)
{
	struct store_txn *txn;
	json_t *v;
	int rc;

	if (ev->client[0] != '\0' &&
	    !dbs_name_ok(ev->client, strlen(ev->client))) {
		snprintf(err, errlen, "invalid client");
		return DBS_EINVAL;
	}
	if (ev->kind != DBS__EVENT_KIND__EV_CREATE &&
	    ev->kind != DBS__EVENT_KIND__EV_UPDATE &&
	    ev->kind != DBS__EVENT_KIND__EV_DELETE) {
		snprintf(err, errlen, "invalid event kind");
		return DBS_EINVAL;
	}
	if (ev->json.len == 0 || ev->json.len > CFG_EXPORT_JSON_MAX ||
	    (v = json_loadb((const char *)ev->json.data, ev->json.len, 0,
		 NULL)) == NULL) {
		snprintf(err, errlen, "the export must be a JSON object");
		return DBS_EINVAL;
	}
	rc = json_is_object(v) ? DBS_OK : DBS_EINVAL;
	json_decref(v);
	if (rc != DBS_OK) {
		snprintf(err, errlen, "the export must be a JSON object");
		return rc;
	}
	if ((txn = sup_txn(s)) == NULL)
		return DBS_EIO;
	rc = store_event_append(txn, ev->client, DBS__RESOURCE__RES_EXPORT,
	    ev->kind, ev->json.data, ev->json.len, NULL);
	if (rc != DBS_OK)
		sup_store_failed(s, rc, "appending an export event");
	return rc;
}
