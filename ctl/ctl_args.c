/*
 * ctl_args.c — parsing databusctl's command line (see ctl_args.h).
 *
 * Parsing runs in two passes. The first splits argv into words and
 * options; every option name is known up front (names are unique across
 * verbs), so "--opt value" can take its value before the verb is known and
 * global options may come anywhere. The second pass finds the verb from the
 * first one or two words, then checks the argument count, that each option
 * applies to the verb, and the typed values.
 */
#include "ctl_args.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "record_json.h"

enum {
	OPT_CLIENT = 1u << 0,
	OPT_PASSENGER = 1u << 1,
	OPT_STATE = 1u << 2,
	OPT_LIMIT = 1u << 3,
	OPT_CURSOR = 1u << 4,
	OPT_OLDEST = 1u << 5,
	OPT_Q = 1u << 6,
	OPT_OLDER_THAN = 1u << 7,
	OPT_ROLE = 1u << 8,
	OPT_PASSWORD_STDIN = 1u << 9,
	/* Global options: allowed with every verb. */
	OPT_DATA = 1u << 10,
	OPT_SOCKET = 1u << 11,
	OPT_JSON = 1u << 12,
	OPT_HELP = 1u << 13,
	OPT_DRY_RUN = 1u << 14,
	OPT_SAMPLE = 1u << 15,
	OPT_PUSH = 1u << 16,
	OPT_TO = 1u << 17,
	OPT_SCHEMA = 1u << 18,
};

#define OPT_GLOBAL (OPT_DATA | OPT_SOCKET | OPT_JSON | OPT_HELP)

static const struct opt_desc {
	const char *name;
	unsigned bit;
	const char *metavar; /* NULL: a flag without value */
} opts[] = {
    {"client", OPT_CLIENT, "C"},
    {"passenger", OPT_PASSENGER, "P"},
    {"state", OPT_STATE, "pending|done|dead"},
    {"limit", OPT_LIMIT, "N"},
    {"cursor", OPT_CURSOR, "ID"},
    {"oldest", OPT_OLDEST, NULL},
    {"q", OPT_Q, "TEXT"},
    {"older-than", OPT_OLDER_THAN, "DURATION"},
    {"role", OPT_ROLE, "operator|administrator"},
    {"password-stdin", OPT_PASSWORD_STDIN, NULL},
    {"data", OPT_DATA, "DIR"},
    {"socket", OPT_SOCKET, "URL"},
    {"json", OPT_JSON, NULL},
    {"help", OPT_HELP, NULL},
    {"dry-run", OPT_DRY_RUN, NULL},
    {"sample", OPT_SAMPLE, "FILE"},
    {"push", OPT_PUSH, "PUSHER"},
    {"to", OPT_TO, "postgres://...|lmdb"},
    {"schema", OPT_SCHEMA, "NAME"},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static const struct verb_desc {
	const char *name;  /* "queue ls" */
	const char *group; /* first word */
	const char *sub;   /* second word, or NULL */
	enum ctl_verb id;
	unsigned min_args, max_args;
	unsigned opts;    /* OPT_* bits allowed besides the global ones */
	const char *args; /* argument synopsis */
	const char *help; /* one line */
} verbs[] = {
    {"status", "status", NULL, CTL_STATUS, 0, 0, 0, "",
	"system state, definitions and store statistics"},
    {"workers", "workers", NULL, CTL_WORKERS, 0, 0, 0, "",
	"the worker process of every definition"},
    {"pause", "pause", NULL, CTL_PAUSE, 0, 0, 0, "", "stop scheduling drives"},
    {"resume", "resume", NULL, CTL_RESUME, 0, 0, 0, "",
	"schedule drives again"},
    {"shutdown", "shutdown", NULL, CTL_SHUTDOWN, 0, 0, 0, "",
	"stop databusd cleanly"},
    {"reload", "reload", NULL, CTL_RELOAD, 0, 0, 0, "",
	"re-read the configuration files"},
    {"expedite", "expedite", NULL, CTL_EXPEDITE, 2, 2, 0, "CLIENT PASSENGER",
	"drive a passenger definition now"},
    {"peek", "peek", NULL, CTL_PEEK, 2, 2, 0, "CLIENT PASSENGER",
	"show what waits in the sources, without pulling"},
    {"history", "history", NULL, CTL_HISTORY, 0, 2, 0, "[CLIENT [PASSENGER]]",
	"throughput, failures and drives over time"},
    {"queue ls", "queue", "ls", CTL_QUEUE_LS, 0, 0,
	OPT_CLIENT | OPT_PASSENGER | OPT_STATE | OPT_LIMIT | OPT_CURSOR |
	    OPT_OLDEST | OPT_Q,
	"", "list queued passengers, newest first"},
    {"queue show", "queue", "show", CTL_QUEUE_SHOW, 2, 2, 0, "CLIENT ID",
	"one passenger with its steps, attachments and logs"},
    {"queue set", "queue", "set", CTL_QUEUE_SET, 4, 4, 0,
	"CLIENT ID STEP complete|incomplete", "mark a step of a passenger"},
    {"queue requeue", "queue", "requeue", CTL_QUEUE_REQUEUE, 2, 2, 0,
	"CLIENT ID",
	"retry every failed step (a dead passenger becomes pending)"},
    {"queue purge", "queue", "purge", CTL_QUEUE_PURGE, 0, 0,
	OPT_CLIENT | OPT_PASSENGER | OPT_OLDER_THAN, "",
	"remove completed passengers"},
    {"logs ls", "logs", "ls", CTL_LOGS_LS, 0, 0,
	OPT_CLIENT | OPT_LIMIT | OPT_CURSOR, "",
	"list drive logs, newest first"},
    {"logs show", "logs", "show", CTL_LOGS_SHOW, 2, 2, 0, "CLIENT ID",
	"one log with its entries"},
    {"logs purge", "logs", "purge", CTL_LOGS_PURGE, 0, 0,
	OPT_CLIENT | OPT_OLDER_THAN, "", "remove logs"},
    {"user ls", "user", "ls", CTL_USER_LS, 0, 1, 0, "[CLIENT]", "list users"},
    {"user add", "user", "add", CTL_USER_ADD, 2, 2,
	OPT_ROLE | OPT_PASSWORD_STDIN, "CLIENT USER",
	"create a user; the password is read from stdin"},
    {"user passwd", "user", "passwd", CTL_USER_PASSWD, 2, 2,
	OPT_PASSWORD_STDIN, "CLIENT USER",
	"set a user's password, read from stdin"},
    {"user role", "user", "role", CTL_USER_ROLE, 3, 3, 0,
	"CLIENT USER operator|administrator", "set a user's role"},
    {"user rm", "user", "rm", CTL_USER_RM, 2, 2, 0, "CLIENT USER",
	"delete a user"},
    {"user revoke", "user", "revoke", CTL_USER_REVOKE, 2, 2, 0, "CLIENT USER",
	"end every session of a user"},
    {"export", "export", NULL, CTL_EXPORT, 1, 1, OPT_CLIENT | OPT_SCHEMA,
	"FILE|postgres://...",
	"write a JSON archive of the store, or copy it into a PostgreSQL "
	"database (read-only snapshot)"},
    {"verify", "verify", NULL, CTL_VERIFY, 0, 0, 0, "",
	"check the store's indexes and references"},
    {"backup", "backup", NULL, CTL_BACKUP, 1, 1, 0, "FILE",
	"hot backup of the store to FILE (while databusd runs)"},
    {"compact", "compact", NULL, CTL_COMPACT, 0, 0, 0, "",
	"rewrite the store without free pages (databusd may run)"},
    {"import", "import", NULL, CTL_IMPORT, 1, 1,
	OPT_CLIENT | OPT_DRY_RUN | OPT_SCHEMA, "FILE|LMDB-FILE|postgres://...",
	"read a JSON archive, a store file or a PostgreSQL store back into "
	"the store"},
    {"restore", "restore", NULL, CTL_RESTORE, 1, 1, 0, "BACKUP",
	"swap the store for a verified backup (databusd may run)"},
    {"dry-run", "dry-run", NULL, CTL_DRY_RUN, 2, 2,
	OPT_PASSENGER | OPT_SAMPLE | OPT_PUSH, "CLIENT PASSENGER",
	"run a queued passenger (--passenger ID) or sample files (--sample "
	"FILE, repeated) through the processors, changing nothing"},
    {"migrate", "migrate", NULL, CTL_MIGRATE, 0, 0, OPT_TO | OPT_SCHEMA, "",
	"copy the whole store into an empty one of the other engine "
	"(--to postgres://... or --to lmdb) and compare both (databusd "
	"stopped)"},
    {"help", "help", NULL, CTL_HELP, 0, 0, 0, "", "this text"},
};

#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

static enum ctl_parse_result usage_error(char *err, size_t errlen,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static enum ctl_parse_result
usage_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return CTL_PARSE_USAGE;
}

int
ctl_parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

static const struct {
	const char *suffix;
	int64_t ms;
} units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60000},
    {"h", 3600000},
    {"d", 86400000},
    {"w", 604800000},
};

int
ctl_parse_duration(const char *s, int64_t *ms)
{
	int64_t total = 0, n, u;
	const char *p = s;
	size_t i, len;

	if (s == NULL || *s == '\0')
		return -1;
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	while (*p != '\0') {
		if (*p < '0' || *p > '9')
			return -1;
		n = 0;
		while (*p >= '0' && *p <= '9') {
			if (n > (INT64_MAX - 9) / 10)
				return -1;
			n = n * 10 + (*p++ - '0');
		}
		/* "ms" before "m": the longest suffix that matches. */
		u = 0;
		len = 0;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t l = strlen(units[i].suffix);
			if (l > len && strncmp(p, units[i].suffix, l) == 0 &&
			    (p[l] == '\0' || (p[l] >= '0' && p[l] <= '9'))) {
				u = units[i].ms;
				len = l;
			}
		}
		if (u == 0)
			return -1;
		if (n > (INT64_MAX - total) / u)
			return -1;
		total += n * u;
		p += len;
	}
	*ms = total;
	return 0;
}

void
ctl_format_duration(int64_t ms, char *buf, size_t len)
{
	static const struct {
		char unit;
		int64_t ms;
	} parts[] = {
	    {'d', 86400000}, {'h', 3600000}, {'m', 60000}, {'s', 1000}};
	const char *sign = "";
	uint64_t v, first, rest;
	size_t i;

	if (ms < 0) {
		sign = "-";
		v = (uint64_t)0 - (uint64_t)ms;
	} else {
		v = (uint64_t)ms;
	}
	if (v < 1000) {
		snprintf(buf, len, "%s%llums", sign, (unsigned long long)v);
		return;
	}
	for (i = 0; i < 4; i++) {
		if (v < (uint64_t)parts[i].ms)
			continue;
		first = v / (uint64_t)parts[i].ms;
		if (i == 3) {
			snprintf(buf, len, "%s%llus", sign,
			    (unsigned long long)first);
			return;
		}
		rest = (v % (uint64_t)parts[i].ms) / (uint64_t)parts[i + 1].ms;
		if (rest == 0)
			snprintf(buf, len, "%s%llu%c", sign,
			    (unsigned long long)first, parts[i].unit);
		else
			snprintf(buf, len, "%s%llu%c%llu%c", sign,
			    (unsigned long long)first, parts[i].unit,
			    (unsigned long long)rest, parts[i + 1].unit);
		return;
	}
}

static void
print_opts(FILE *f, unsigned bits)
{
	size_t i;

	for (i = 0; i < NOPTS; i++) {
		if (!(bits & opts[i].bit))
			continue;
		if (opts[i].metavar != NULL)
			fprintf(
			    f, " [--%s %s]", opts[i].name, opts[i].metavar);
		else
			fprintf(f, " [--%s]", opts[i].name);
	}
}

void
ctl_usage(FILE *f)
{
	size_t i;

	fputs("usage: databusctl [--data DIR | --socket URL] [--json] VERB "
	      "...\n"
	      "\n"
	      "  --data DIR    data directory of databusd (default \"var\"); "
	      "the store\n"
	      "                is read from DIR/store\n"
	      "  --socket URL  control socket (default "
	      "ipc://<absolute DIR>/run/control)\n"
	      "  --json        print one JSON document on stdout\n"
	      "\n"
	      "verbs:\n",
	    f);
	for (i = 0; i < NVERBS; i++) {
		fprintf(f, "  %s", verbs[i].group);
		if (verbs[i].sub != NULL)
			fprintf(f, " %s", verbs[i].sub);
		if (verbs[i].args[0] != '\0')
			fprintf(f, " %s", verbs[i].args);
		print_opts(f, verbs[i].opts);
		fprintf(f, "\n      %s\n", verbs[i].help);
	}
	fputs("\n"
	      "DURATION is like 30s, 5m, 2h, 7d or 1h30m. Times are shown in "
	      "local time.\n"
	      "exit status: 0 success, 1 refused or failed, 100 usage "
	      "error\n",
	    f);
}

static const struct opt_desc *
find_opt(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NOPTS; i++)
		if (strlen(opts[i].name) == len &&
		    strncmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

/* Find the verb named by words[0] (and words[1]); *used = words taken. */
static enum ctl_parse_result
find_verb(char **words, size_t n_words, const struct verb_desc **out,
    size_t *used, char *err, size_t errlen)
{
	bool group_known = false;
	char subs[128] = "";
	size_t i;

	for (i = 0; i < NVERBS; i++) {
		if (strcmp(verbs[i].group, words[0]) != 0)
			continue;
		group_known = true;
		if (verbs[i].sub == NULL) {
			*out = &verbs[i];
			*used = 1;
			return CTL_PARSE_OK;
		}
		if (n_words > 1 && strcmp(verbs[i].sub, words[1]) == 0) {
			*out = &verbs[i];
			*used = 2;
			return CTL_PARSE_OK;
		}
		if (subs[0] != '\0')
			strncat(subs, ", ", sizeof(subs) - strlen(subs) - 1);
		strncat(subs, verbs[i].sub, sizeof(subs) - strlen(subs) - 1);
	}
	if (!group_known)
		return usage_error(
		    err, errlen, "unknown verb \"%s\"", words[0]);
	if (n_words < 2)
		return usage_error(err, errlen, "%s: missing subcommand (%s)",
		    words[0], subs);
	return usage_error(err, errlen,
	    "%s: unknown subcommand \"%s\" (expected %s)", words[0], words[1],
	    subs);
}

static enum ctl_parse_result
parse_id(
    const char *verb, const char *s, uint64_t *id, char *err, size_t errlen)
{
	if (ctl_parse_u64(s, id) != 0 || *id == 0)
		return usage_error(err, errlen,
		    "%s: ID must be a positive number, not \"%s\"", verb, s);
	return CTL_PARSE_OK;
}

/* Resolve the role of a user: the root client's users are always root,
 * and only they are. `given` is the role named on the command line, or
 * NULL for the default. */
static enum ctl_parse_result
resolve_role(struct ctl_args *a, const char *given, char *err, size_t errlen)
{
	bool root_client = strcmp(a->client_arg, "root") == 0;
	int role;

	if (given == NULL) {
		a->role = root_client ? DBS__ROLE__ROLE_ROOT
				      : DBS__ROLE__ROLE_OPERATOR;
		return CTL_PARSE_OK;
	}
	if ((role = rj_role_parse(given)) < 0)
		return usage_error(err, errlen,
		    "%s: unknown role \"%s\" (expected operator or "
		    "administrator)",
		    a->verb_name, given);
	if (root_client && role != DBS__ROLE__ROLE_ROOT)
		return usage_error(err, errlen,
		    "%s: users of client \"root\" always have role root",
		    a->verb_name);
	if (!root_client && role == DBS__ROLE__ROLE_ROOT)
		return usage_error(err, errlen,
		    "%s: role root is reserved for client \"root\"",
		    a->verb_name);
	a->role = role;
	return CTL_PARSE_OK;
}

/* Give the positional arguments their meaning and check them. */
static enum ctl_parse_result
bind_args(struct ctl_args *a, const char *role_opt, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < a->n_args; i++)
		if (a->arg[i][0] == '\0')
			return usage_error(
			    err, errlen, "%s: empty argument", a->verb_name);

	switch (a->verb) {
	case CTL_EXPEDITE:
	case CTL_PEEK:
		a->client_arg = a->arg[0];
		a->definition = a->arg[1];
		break;
	case CTL_HISTORY:
		a->client_arg = a->n_args > 0 ? a->arg[0] : NULL;
		a->definition = a->n_args > 1 ? a->arg[1] : NULL;
		break;
	case CTL_DRY_RUN:
		a->client_arg = a->arg[0];
		a->definition = a->arg[1];
		if ((a->passenger != NULL) == (a->n_samples > 0))
			return usage_error(err, errlen,
			    "dry-run: give --passenger ID or --sample FILE");
		if (a->passenger != NULL)
			return parse_id(
			    a->verb_name, a->passenger, &a->id, err, errlen);
		break;
	case CTL_QUEUE_SET:
		a->step = a->arg[2];
		if (strcmp(a->arg[3], "complete") == 0)
			a->complete = true;
		else if (strcmp(a->arg[3], "incomplete") == 0)
			a->complete = false;
		else
			return usage_error(err, errlen,
			    "%s: expected complete or incomplete, not \"%s\"",
			    a->verb_name, a->arg[3]);
		/* FALLTHROUGH */
	case CTL_QUEUE_SHOW:
	case CTL_QUEUE_REQUEUE:
	case CTL_LOGS_SHOW:
		a->client_arg = a->arg[0];
		return parse_id(a->verb_name, a->arg[1], &a->id, err, errlen);
	case CTL_USER_LS:
		a->client_arg = a->n_args > 0 ? a->arg[0] : NULL;
		break;
	case CTL_USER_ADD:
		a->client_arg = a->arg[0];
		a->username = a->arg[1];
		return resolve_role(a, role_opt, err, errlen);
	case CTL_USER_ROLE:
		a->client_arg = a->arg[0];
		a->username = a->arg[1];
		return resolve_role(a, a->arg[2], err, errlen);
	case CTL_USER_PASSWD:
	case CTL_USER_RM:
	case CTL_USER_REVOKE:
		a->client_arg = a->arg[0];
		a->username = a->arg[1];
		break;
	case CTL_EXPORT:
	case CTL_BACKUP:
	case CTL_IMPORT:
	case CTL_RESTORE:
		a->file = a->arg[0];
		break;
	default:
		break;
	}
	return CTL_PARSE_OK;
}

/* Apply one option to *a. */
static enum ctl_parse_result
apply_opt(struct ctl_args *a, const struct opt_desc *o, const char *v,
    const char **role_opt, char *err, size_t errlen)
{
	uint64_t n;

	switch (o->bit) {
	case OPT_CLIENT:
		a->client = v;
		break;
	case OPT_PASSENGER:
		a->passenger = v;
		break;
	case OPT_Q:
		a->q = v;
		break;
	case OPT_STATE:
		if ((a->state = rj_state_parse(v)) < 0)
			return usage_error(err, errlen,
			    "--state: expected pending, done or dead, not "
			    "\"%s\"",
			    v);
		break;
	case OPT_LIMIT:
		if (ctl_parse_u64(v, &n) != 0 || n == 0 || n > CTL_MAX_LIMIT)
			return usage_error(err, errlen,
			    "--limit: expected a number from 1 to %u, not "
			    "\"%s\"",
			    CTL_MAX_LIMIT, v);
		a->limit = (size_t)n;
		break;
	case OPT_CURSOR:
		if (ctl_parse_u64(v, &a->cursor) != 0)
			return usage_error(err, errlen,
			    "--cursor: expected an id, not \"%s\"", v);
		break;
	case OPT_OLDEST:
		a->oldest = true;
		break;
	case OPT_OLDER_THAN:
		if (ctl_parse_duration(v, &a->older_than_ms) != 0)
			return usage_error(err, errlen,
			    "--older-than: expected a duration like 30s, 5m, "
			    "2h or 7d, not \"%s\"",
			    v);
		break;
	case OPT_ROLE:
		*role_opt = v;
		break;
	case OPT_PASSWORD_STDIN:
		a->password_stdin = true;
		break;
	case OPT_DRY_RUN:
		a->dry_run = true;
		break;
	case OPT_SAMPLE:
		if (a->n_samples == CTL_MAX_SAMPLES)
			return usage_error(err, errlen,
			    "--sample: at most %d files", CTL_MAX_SAMPLES);
		a->samples[a->n_samples++] = v;
		break;
	case OPT_PUSH:
		a->push = v;
		break;
	case OPT_TO:
		a->to = v;
		break;
	case OPT_SCHEMA:
		a->schema = v;
		break;
	case OPT_DATA:
		a->data_dir = v;
		break;
	case OPT_SOCKET:
		a->socket_url = v;
		break;
	case OPT_JSON:
		a->json = true;
		break;
	}
	return CTL_PARSE_OK;
}

/* The command line split in pass 1: words, and options with their values
 * in order. */
struct cmdline {
	const struct opt_desc **seen;
	const char **values;
	char **words;
	size_t n_seen, n_words;
	bool help;
};

/* Pass 1: sort argv into words and known options (a value may follow its
 * option as the next word or after '='); "--" ends the options. */
static enum ctl_parse_result
split_cmdline(
    int argc, char *const argv[], struct cmdline *cl, char *err, size_t errlen)
{
	bool no_more_opts = false;

	for (size_t i = 1; i < (size_t)argc; i++) {
		const char *s = argv[i], *eq, *val;
		const struct opt_desc *o;
		size_t nlen;

		if (no_more_opts || s[0] != '-' || strcmp(s, "-") == 0) {
			cl->words[cl->n_words++] = argv[i];
			continue;
		}
		if (strcmp(s, "--") == 0) {
			no_more_opts = true;
			continue;
		}
		if (strcmp(s, "-h") == 0) {
			cl->help = true;
			continue;
		}
		if (s[1] != '-')
			return usage_error(
			    err, errlen, "unknown option %s", s);
		eq = strchr(s + 2, '=');
		nlen = eq != NULL ? (size_t)(eq - (s + 2)) : strlen(s + 2);
		if ((o = find_opt(s + 2, nlen)) == NULL)
			return usage_error(err, errlen,
			    "unknown option --%.*s", (int)nlen, s + 2);
		if (o->metavar == NULL && eq != NULL)
			return usage_error(err, errlen,
			    "option --%s takes no value", o->name);
		val = eq != NULL ? eq + 1 : NULL;
		if (o->metavar != NULL && val == NULL) {
			if (i + 1 >= (size_t)argc)
				return usage_error(err, errlen,
				    "option --%s needs a value (%s)", o->name,
				    o->metavar);
			val = argv[++i];
		}
		if (o->bit == OPT_HELP)
			cl->help = true;
		cl->seen[cl->n_seen] = o;
		cl->values[cl->n_seen++] = val;
	}
	return CTL_PARSE_OK;
}

/* Pass 2: the verb, its arguments and options. */
static enum ctl_parse_result
bind_cmdline(
    const struct cmdline *cl, struct ctl_args *a, char *err, size_t errlen)
{
	const struct verb_desc *vd = NULL;
	const char *role_opt = NULL;
	size_t used = 0, i;
	enum ctl_parse_result r;

	if ((r = find_verb(cl->words, cl->n_words, &vd, &used, err, errlen)) !=
	    CTL_PARSE_OK)
		return r;
	a->verb = vd->id;
	a->verb_name = vd->name;
	a->n_args = cl->n_words - used;
	if (a->n_args < vd->min_args || a->n_args > vd->max_args)
		return usage_error(err, errlen, "%s: %s%s", vd->name,
		    vd->args[0] != '\0' ? "expects " : "takes no arguments",
		    vd->args);
	for (i = 0; i < a->n_args; i++)
		a->arg[i] = cl->words[used + i];

	for (i = 0; i < cl->n_seen; i++) {
		if (!(cl->seen[i]->bit & (vd->opts | OPT_GLOBAL)))
			return usage_error(err, errlen,
			    "%s: option --%s does not apply", vd->name,
			    cl->seen[i]->name);
		if ((r = apply_opt(a, cl->seen[i], cl->values[i], &role_opt,
			 err, errlen)) != CTL_PARSE_OK)
			return r;
	}
	if (a->passenger != NULL && a->client == NULL &&
	    a->verb != CTL_DRY_RUN)
		return usage_error(
		    err, errlen, "%s: --passenger needs --client", vd->name);
	if (a->data_dir[0] == '\0' ||
	    (a->socket_url != NULL && a->socket_url[0] == '\0'))
		return usage_error(err, errlen,
		    "--data and --socket must not "
		    "be empty");
	return bind_args(a, role_opt, err, errlen);
}

enum ctl_parse_result
ctl_args_parse(
    int argc, char *const argv[], struct ctl_args *a, char *err, size_t errlen)
{
	struct cmdline cl = {0};
	enum ctl_parse_result r;

	memset(a, 0, sizeof(*a));
	a->data_dir = CTL_DEFAULT_DATA;
	a->state = -1;
	a->limit = CTL_DEFAULT_LIMIT;
	a->role = -1;
	err[0] = '\0';

	if (argc < 1)
		argc = 1;
	cl.seen = calloc((size_t)argc, sizeof(*cl.seen));
	cl.values = calloc((size_t)argc, sizeof(*cl.values));
	cl.words = calloc((size_t)argc, sizeof(*cl.words));
	if (cl.seen == NULL || cl.values == NULL || cl.words == NULL) {
		r = usage_error(err, errlen, "out of memory");
		goto out;
	}
	if ((r = split_cmdline(argc, argv, &cl, err, errlen)) != CTL_PARSE_OK)
		goto out;
	if (cl.help || (cl.n_words > 0 && strcmp(cl.words[0], "help") == 0)) {
		a->verb = CTL_HELP;
		a->verb_name = "help";
		r = CTL_PARSE_HELP;
		goto out;
	}
	if (cl.n_words == 0) {
		r = usage_error(err, errlen, "missing verb");
		goto out;
	}
	r = bind_cmdline(&cl, a, err, errlen);
out:
	free(cl.seen);
	free(cl.values);
	free(cl.words);
	return r;
}
