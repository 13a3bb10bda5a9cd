/*
 * drv_exec.c — the `exec` puller, processor and pusher: drivers written in
 * any language, as a program that speaks JSON lines (docs/drivers.md,
 * "exec protocol").
 *
 * Every call starts the configured program once: argv from `command` (no
 * shell), the worker's working directory (the configuration's folder), a
 * clean environment (PATH, LANG, DATABUS_* and the configured `env`), its
 * own process group. The request is one JSON line on stdin, then stdin is
 * closed; the program answers with JSON lines on stdout — items, log
 * entries, and one final {"type": "result"} — and exits 0. Its stderr goes
 * into the drive log line by line. Past `timeout_ms` the whole process
 * group is killed. Anything else (no result, a line that is not a JSON
 * object, a non-zero exit, a crash, too much output) is an error that says
 * which: a failed process or push is retried per the retry policy, a
 * failed pull emits nothing.
 *
 * The worker uses nng, so it never forks: the program is started with
 * posix_spawn, which execs at once (subprocess_run, proto/subprocess.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dbs_error.h"
#include "driver.h"
#include "drv_json.h"
#include "exec_proto.h"
#include "subprocess.h"

#define STDERR_KEEP  (64u * 1024) /* bytes of stderr logged per call */
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

struct exec {
	char **argv;
	char **envp;
	uint64_t timeout_ms;
	uint64_t max_output;
	bool notify; /* pullers: call the program on notify */
};

/* ------------------------------------------------------------ settings */

static void
strv_free(char **v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static void
exec_free(struct exec *e)
{
	if (e == NULL)
		return;
	strv_free(e->argv);
	strv_free(e->envp);
	free(e);
}

/* Whether `prog` can be run: a path (relative to the working directory)
 * to an executable file, or a name found in PATH. */
static bool
program_found(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4200];

	if (strchr(prog, '/') != NULL)
		return access(prog, X_OK) == 0;
	if (path == NULL)
		path = DEFAULT_PATH;
	while (*path != '\0') {
		const char *colon = strchr(path, ':');
		size_t n =
		    colon != NULL ? (size_t)(colon - path) : strlen(path);

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
		if (n > 0 && access(buf, X_OK) == 0)
			return true;
		path += n;
		if (*path == ':')
			path++;
	}
	return false;
}

static int
add_env(char ***envp, size_t *n, const char *key, const char *value)
{
	char *line, **nv;

	if (asprintf(&line, "%s=%s", key, value) < 0)
		return DBS_ENOMEM;
	nv = realloc(*envp, (*n + 2) * sizeof(*nv));
	if (nv == NULL) {
		free(line);
		return DBS_ENOMEM;
	}
	nv[(*n)++] = line;
	nv[*n] = NULL;
	*envp = nv;
	return DBS_OK;
}

static bool
env_name_ok(const char *s)
{
	if (*s == '\0' || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			(*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static int
exec_init(struct drv_ctx *ctx, const json_t *settings, void **state, char *err,
    size_t errlen, enum drv_kind kind)
{
	static const char *const keys[] = {
	    "command", "env", "timeout_ms", "max_output", NULL};
	static const char *const puller_keys[] = {
	    "command", "env", "timeout_ms", "max_output", "notify", NULL};
	const json_t *cmd = json_object_get(settings, "command");
	const json_t *env = json_object_get(settings, "env");
	struct exec *e;
	size_t i, n_env = 0;
	const char *k, *path;
	json_t *v;
	int rc, notify = 1;

	*state = NULL;
	rc = drv_settings_only(
	    settings, kind == DRV_PULLER ? puller_keys : keys, err, errlen);
	if (rc != DBS_OK)
		return rc;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return DBS_ENOMEM;
	if ((rc = drv_setting_uint(settings, "timeout_ms", 30000, 1, 86400000,
		 &e->timeout_ms, err, errlen)) != DBS_OK ||
	    (rc = drv_setting_uint(settings, "max_output", 16u << 20, 1024,
		 256u << 20, &e->max_output, err, errlen)) != DBS_OK ||
	    (kind == DRV_PULLER && (rc = drv_setting_bool(settings, "notify",
					1, &notify, err, errlen)) != DBS_OK))
		goto fail;
	e->notify = notify;
	if (!json_is_array(cmd) || json_array_size(cmd) == 0) {
		snprintf(err, errlen,
		    "command: expected an array of strings, program first");
		rc = DBS_ECONFIG;
		goto fail;
	}
	if ((e->argv = calloc(json_array_size(cmd) + 1, sizeof(char *))) ==
	    NULL)
		goto nomem;
	json_array_foreach(cmd, i, v)
	{
		if (!json_is_string(v) ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			snprintf(
			    err, errlen, "command[%zu]: expected a string", i);
			rc = DBS_ECONFIG;
			goto fail;
		}
		if ((e->argv[i] = strdup(json_string_value(v))) == NULL)
			goto nomem;
	}
	if (e->argv[0][0] == '\0' || !program_found(e->argv[0])) {
		snprintf(err, errlen,
		    "command[0]: \"%s\" is not an executable file (relative "
		    "paths are relative to the configuration's folder)",
		    e->argv[0]);
		rc = DBS_ECONFIG;
		goto fail;
	}
	path = getenv("PATH");
	if (add_env(&e->envp, &n_env, "PATH",
		path != NULL ? path : DEFAULT_PATH) != DBS_OK ||
	    add_env(&e->envp, &n_env, "LANG", "C.UTF-8") != DBS_OK ||
	    add_env(&e->envp, &n_env, "DATABUS_CLIENT", drv_client(ctx)) !=
		DBS_OK ||
	    add_env(&e->envp, &n_env, "DATABUS_DEFINITION",
		drv_definition(ctx)) != DBS_OK ||
	    add_env(&e->envp, &n_env, "DATABUS_DRIVER", drv_name(ctx)) !=
		DBS_OK)
		goto nomem;
	if (env != NULL && !json_is_null(env) && !json_is_object(env)) {
		snprintf(err, errlen, "env: expected an object of strings");
		rc = DBS_ECONFIG;
		goto fail;
	}
	json_object_foreach((json_t *)env, k, v)
	{
		const char *val = json_string_value(v);

		if (!env_name_ok(k) || val == NULL) {
			snprintf(err, errlen,
			    "env.%s: expected a variable name and a string",
			    k);
			rc = DBS_ECONFIG;
			goto fail;
		}
		if (strncmp(val, "env:", 4) == 0) {
			const char *from = val + 4;

			if ((val = getenv(from)) == NULL) {
				snprintf(err, errlen,
				    "env.%s: environment variable \"%s\" is "
				    "not set",
				    k, from);
				rc = DBS_ECONFIG;
				goto fail;
			}
		}
		if (add_env(&e->envp, &n_env, k, val) != DBS_OK)
			goto nomem;
	}
	*state = e;
	return DBS_OK;
nomem:
	rc = DBS_ENOMEM;
fail:
	exec_free(e);
	return rc;
}

/* ------------------------------------------------------------- running */

struct run {
	char *out; /* stdout, NUL-terminated */
	size_t out_len;
	json_t *lines;  /* the parsed output lines */
	json_t *result; /* borrowed from lines */
};

static void
run_free(struct run *r)
{
	free(r->out);
	json_decref(r->lines);
	memset(r, 0, sizeof(*r));
}

/* Log complete stderr lines of buf (len bytes); returns bytes used. */
static size_t
log_stderr(struct drv_ctx *ctx, uint64_t pid, char *buf, size_t len, bool all)
{
	size_t used = 0;

	for (;;) {
		char *nl = memchr(buf + used, '\n', len - used);
		size_t n;

		if (nl == NULL) {
			if (!all || used == len)
				return used;
			nl = buf + len;
		}
		n = (size_t)(nl - (buf + used));
		if (n > 0)
			drv_log(ctx, DRV_WARNING, pid, "stderr: %.*s", (int)n,
			    buf + used);
		used = (size_t)(nl - buf) + (nl < buf + len ? 1 : 0);
		if (used >= len)
			return used;
	}
}

/* The program's stderr on its way to the drive log: whole lines, the
 * first STDERR_KEEP bytes only. */
struct stderr_log {
	struct drv_ctx *ctx;
	uint64_t pid;
	char buf[4096];
	size_t len;   /* bytes in buf, not logged yet */
	size_t total; /* bytes read in all */
};

static void
stderr_chunk(void *arg, const char *data, size_t n)
{
	struct stderr_log *l = arg;

	while (n > 0) {
		size_t room = sizeof(l->buf) - 1 - l->len;
		size_t k = n < room ? n : room, used;

		memcpy(l->buf + l->len, data, k);
		data += k;
		n -= k;
		l->len += k;
		l->total += k;
		used = l->total <= STDERR_KEEP
			   ? log_stderr(l->ctx, l->pid, l->buf, l->len,
				 l->len == sizeof(l->buf) - 1)
			   : l->len;
		memmove(l->buf, l->buf + used, l->len - used);
		l->len -= used;
	}
}

static void
stderr_end(struct stderr_log *l)
{
	if (l->len > 0 && l->total <= STDERR_KEEP)
		log_stderr(l->ctx, l->pid, l->buf, l->len, true);
	if (l->total > STDERR_KEEP)
		drv_log(l->ctx, DRV_WARNING, l->pid,
		    "stderr: %zu bytes in all; only the first %u logged",
		    l->total, STDERR_KEEP);
}

/* Why the program did not give an answer, in `err`; the dbs_error. */
static int
run_failure(struct exec *e, int rc, const struct subprocess_result *sr,
    char *err, size_t errlen)
{
	const char *prog = e->argv[0];

	switch (rc) {
	case DBS_ETIMEOUT:
		snprintf(err, errlen,
		    "%s: timed out after %llu ms (process group killed)", prog,
		    (unsigned long long)e->timeout_ms);
		return DBS_ETIMEOUT;
	case DBS_ETOOBIG:
		snprintf(err, errlen,
		    "%s: more than %llu bytes of output (killed)", prog,
		    (unsigned long long)e->max_output);
		return DBS_ETOOBIG;
	case DBS_ENOMEM:
		snprintf(err, errlen, "out of memory");
		return DBS_ENOMEM;
	}
	if (strcmp(sr->failed, "spawn") == 0) {
		snprintf(err, errlen, "cannot start %s: %s", prog,
		    strerror(sr->error));
		return DBS_EDRIVER;
	}
	snprintf(err, errlen, "%s: %s", sr->failed, strerror(sr->error));
	return DBS_EIO;
}

/*
 * Run the program with `input` on stdin, in its own process group (killed
 * as a whole at the end: nothing it started outlives the call). DBS_OK
 * with r->lines set when it exited 0 with well-formed output and a result
 * line; otherwise an error with the reason in `err`.
 */
static int
run_program(struct exec *e, struct drv_ctx *ctx, uint64_t pid,
    const char *input, size_t in_len, struct run *r, char *err, size_t errlen)
{
	struct stderr_log log = {.ctx = ctx, .pid = pid};
	struct subprocess_spec spec = {
	    .path = e->argv[0],
	    .argv = e->argv,
	    .envp = e->envp,
	    .search_path = true,
	    .own_group = true,
	    .in = input,
	    .in_len = in_len,
	    .out_max = e->max_output,
	    .cap = SUBPROCESS_CAP_KILLS,
	    .timeout_ms = e->timeout_ms,
	    .on_stderr = stderr_chunk,
	    .arg = &log,
	};
	struct subprocess_result sr;
	int rc, status;

	memset(r, 0, sizeof(*r));
	rc = subprocess_run(&spec, &sr);
	stderr_end(&log);
	if (rc != DBS_OK)
		return run_failure(e, rc, &sr, err, errlen);
	r->out = sr.out; /* transferred */
	r->out_len = sr.out_len;
	status = sr.status;
	if (WIFSIGNALED(status)) {
		snprintf(err, errlen, "%s: killed by signal %d (%s)",
		    e->argv[0], WTERMSIG(status), strsignal(WTERMSIG(status)));
		rc = DBS_EDRIVER;
	} else if (WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "%s: exited with status %d", e->argv[0],
		    WEXITSTATUS(status));
		rc = DBS_EDRIVER;
	} else {
		/* Parse: one JSON object per non-empty line. */
		rc = exec_output_parse(e->argv[0], r->out, r->out_len,
		    &r->lines, &r->result, err, errlen);
	}
	if (rc != DBS_OK)
		run_free(r);
	return rc;
}

/* Send {"type": "log"} lines to the drive log. */
static void
relay_logs(struct drv_ctx *ctx, uint64_t pid, const json_t *lines)
{
	size_t i;
	json_t *l;

	json_array_foreach(lines, i, l)
	{
		enum drv_level level;
		const char *msg;

		if (exec_log_line(l, &level, &msg))
			drv_log(ctx, level, pid, "%s", msg);
	}
}

/* Run `request` (consumed); DBS_OK with the result's "status" in *status.
 * `err` gets the result's "error" or the failure. */
static int
call(struct exec *e, struct drv_ctx *ctx, uint64_t pid, json_t *request,
    struct run *r, const char **status, char *err, size_t errlen)
{
	char *text;
	int rc;

	*status = NULL;
	if (request == NULL)
		return DBS_ENOMEM;
	text = json_dumps(request, JSON_COMPACT);
	json_decref(request);
	if (text == NULL)
		return DBS_ENOMEM;
	{
		size_t len = strlen(text);
		char *line = realloc(text, len + 2);

		if (line == NULL) {
			free(text);
			return DBS_ENOMEM;
		}
		line[len] = '\n';
		line[len + 1] = '\0';
		rc = run_program(e, ctx, pid, line, len + 1, r, err, errlen);
		free(line);
	}
	if (rc != DBS_OK)
		return rc;
	relay_logs(ctx, pid, r->lines);
	*status = json_string_value(json_object_get(r->result, "status"));
	if (*status == NULL) {
		snprintf(err, errlen, "%s: the result has no \"status\"",
		    e->argv[0]);
		run_free(r);
		return DBS_EPROTO;
	}
	{
		const char *msg =
		    json_string_value(json_object_get(r->result, "error"));

		snprintf(err, errlen, "%s", msg != NULL ? msg : "");
	}
	return DBS_OK;
}

static json_t *
request(struct drv_ctx *ctx, const char *op)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "op", op, "client",
	    drv_client(ctx), "definition", drv_definition(ctx), "name",
	    drv_name(ctx));
}

/* The passenger for a request: its JSON form plus the attempt count. */
static json_t *
passenger(const struct drv_passenger *p)
{
	json_t *doc = drv_json_passenger(p);

	if (doc != NULL)
		json_object_set_new(
		    doc, "attempts", json_integer((json_int_t)p->attempts));
	return doc;
}

/* -------------------------------------------------------------- puller */

static int
puller_init(struct drv_ctx *ctx, const json_t *settings, void **state,
    char *err, size_t errlen)
{
	return exec_init(ctx, settings, state, err, errlen, DRV_PULLER);
}

static int
emit_line(struct drv_ctx *ctx, struct drv_sink *sink, const json_t *l)
{
	struct exec_item it;
	char err[200];
	int rc = exec_item_decode(l, &it, err, sizeof(err));

	if (rc == DBS_EINVAL) {
		drv_log(ctx, DRV_WARNING, 0, "item %.100s: %s",
		    it.external_id != NULL ? it.external_id : "?", err);
		rc = 2;
		goto out;
	}
	if (rc != DBS_OK)
		goto out;
	rc = drv_emit(sink, it.external_id, it.source_ref, it.kv, it.n_kv,
	    it.att, it.n_att);
	if (rc == DBS_EINVAL || rc == DBS_ETOOBIG) {
		drv_log(ctx, DRV_WARNING, 0, "item %.100s refused: %s",
		    it.external_id != NULL ? it.external_id
					   : "(no external_id)",
		    dbs_strerror(rc));
		rc = 2;
	}
out:
	exec_item_free(&it);
	return rc;
}

static int
pull_or_peek(
    void *state, struct drv_ctx *ctx, struct drv_sink *sink, const char *op)
{
	struct exec *e = state;
	struct run r;
	const char *status;
	char err[1024];
	size_t i;
	json_t *l;
	int rc;

	rc = call(e, ctx, 0, request(ctx, op), &r, &status, err, sizeof(err));
	if (rc != DBS_OK) {
		drv_log(ctx, DRV_ERROR, 0, "%s failed: %s", op, err);
		return rc == DBS_ENOMEM ? rc : DBS_EDRIVER;
	}
	if (strcmp(status, "ok") != 0) {
		drv_log(ctx, DRV_ERROR, 0, "%s failed: %s", op,
		    err[0] != '\0' ? err : status);
		run_free(&r);
		return DBS_EDRIVER;
	}
	json_array_foreach(r.lines, i, l)
	{
		const char *type =
		    json_string_value(json_object_get(l, "type"));

		if (strcmp(type, "item") != 0)
			continue;
		rc = emit_line(ctx, sink, l);
		if (rc == 2) {
			rc = DBS_OK;
			continue;
		}
		if (rc != DBS_OK)
			break;
	}
	run_free(&r);
	return rc == 1 ? DBS_OK : rc;
}

static int
exec_pull(void *state, struct drv_ctx *ctx, struct drv_sink *sink)
{
	return pull_or_peek(state, ctx, sink, "pull");
}

static int
exec_peek(void *state, struct drv_ctx *ctx, struct drv_sink *sink)
{
	return pull_or_peek(state, ctx, sink, "peek");
}

static int
exec_notify(void *state, struct drv_ctx *ctx, const char *external_id,
    const char *source_ref, char *err, size_t errlen)
{
	struct exec *e = state;
	struct run r;
	const char *status;
	json_t *rq;
	int rc;

	if (!e->notify)
		return DBS_OK;
	rq = request(ctx, "notify");
	if (rq != NULL) {
		json_object_set_new(
		    rq, "external_id", json_string(external_id));
		json_object_set_new(rq, "source_ref", json_string(source_ref));
	}
	rc = call(e, ctx, 0, rq, &r, &status, err, errlen);
	if (rc != DBS_OK)
		return rc == DBS_ENOMEM ? rc : DBS_EDRIVER;
	if (strcmp(status, "ok") != 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "status %s", status);
		rc = DBS_EDRIVER;
	}
	run_free(&r);
	return rc;
}

/* ------------------------------------------------ processor and pusher */

static void
take_retry_after(struct drv_ctx *ctx, const json_t *result)
{
	const json_t *ra = json_object_get(result, "retry_after_ms");

	if (json_is_integer(ra) && json_integer_value(ra) > 0)
		drv_retry_after(ctx, (uint64_t)json_integer_value(ra));
}

/* The edits of a processor's result: "metadata" {k: v} and
 * "attachments" [...] replace or add. */
static enum drv_result
apply_edits(
    const json_t *result, struct drv_edit *edit, char *err, size_t errlen)
{
	const json_t *md = json_object_get(result, "metadata");
	const json_t *atts = json_object_get(result, "attachments");
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach((json_t *)md, k, v)
	{
		if (!json_is_string(v) ||
		    drv_edit_metadata(edit, k, json_string_value(v)) !=
			DBS_OK) {
			snprintf(err, errlen,
			    "result: metadata \"%.100s\" is not a valid "
			    "string",
			    k);
			return DRV_RETRY;
		}
	}
	json_array_foreach(atts, i, v)
	{
		struct drv_attachment a;
		void *buf;
		int rc = drv_json_attachment_decode(v, &a, &buf, err, errlen);

		if (rc == DBS_OK)
			rc = drv_edit_attachment(
			    edit, a.name, a.content_type, a.data, a.len);
		free(buf);
		if (rc != DBS_OK) {
			if (err[0] == '\0')
				snprintf(err, errlen,
				    "result: attachment %zu: %s", i,
				    dbs_strerror(rc));
			return DRV_RETRY;
		}
	}
	return DRV_OK;
}

static int
processor_init(struct drv_ctx *ctx, const json_t *settings, void **state,
    char *err, size_t errlen)
{
	return exec_init(ctx, settings, state, err, errlen, DRV_PROCESSOR);
}

/* Run `rq` (consumed) with the passenger `p` for a processor (its edits
 * applied to `edit`) or a pusher, and map the result's status. */
static enum drv_result
passenger_call(struct exec *e, struct drv_ctx *ctx,
    const struct drv_passenger *p, json_t *rq, bool processor,
    struct drv_edit *edit, char *err, size_t errlen)
{
	const char *status;
	enum drv_result res;
	struct run r;
	int rc;

	if (rq != NULL)
		json_object_set_new(rq, "passenger", passenger(p));
	rc = call(e, ctx, p->id, rq, &r, &status, err, errlen);
	if (rc != DBS_OK) {
		if (rc == DBS_ENOMEM)
			snprintf(err, errlen, "out of memory");
		return DRV_RETRY;
	}
	res = exec_status_result(status, processor, err, errlen);
	if (processor && (res == DRV_OK || res == DRV_SKIP)) {
		enum drv_result er = apply_edits(r.result, edit, err, errlen);

		if (er != DRV_OK)
			res = er;
	}
	if (res == DRV_RETRY)
		take_retry_after(ctx, r.result);
	run_free(&r);
	return res;
}

static enum drv_result
exec_process(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    struct drv_edit *edit, char *err, size_t errlen)
{
	return passenger_call(
	    state, ctx, p, request(ctx, "process"), true, edit, err, errlen);
}

static int
pusher_init(struct drv_ctx *ctx, const json_t *settings, void **state,
    char *err, size_t errlen)
{
	return exec_init(ctx, settings, state, err, errlen, DRV_PUSHER);
}

static enum drv_result
exec_push(void *state, struct drv_ctx *ctx, const struct drv_passenger *p,
    const char *idempotency_key, char *err, size_t errlen)
{
	json_t *rq = request(ctx, "push");

	if (rq != NULL)
		json_object_set_new(
		    rq, "idempotency_key", json_string(idempotency_key));
	return passenger_call(state, ctx, p, rq, false, NULL, err, errlen);
}

static void
exec_fini(void *state)
{
	exec_free(state);
}

const struct drv_ops drv_exec_puller_ops = {
    .type = "exec",
    .kind = DRV_PULLER,
    .init = puller_init,
    .pull = exec_pull,
    .peek = exec_peek,
    .notify = exec_notify,
    .fini = exec_fini,
};

const struct drv_ops drv_exec_processor_ops = {
    .type = "exec",
    .kind = DRV_PROCESSOR,
    .init = processor_init,
    .process = exec_process,
    .fini = exec_fini,
};

const struct drv_ops drv_exec_pusher_ops = {
    .type = "exec",
    .kind = DRV_PUSHER,
    .init = pusher_init,
    .push = exec_push,
    .fini = exec_fini,
};
