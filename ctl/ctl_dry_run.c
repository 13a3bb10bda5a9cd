/*
 * ctl_dry_run.c — `databusctl dry-run CLIENT PASSENGER (--passenger ID |
 * --sample FILE...) [--push PUSHER]`: run one passenger through a
 * definition's processors in a throwaway worker and show what happened,
 * changing nothing (supervisor/dryrun.c does the work).
 *
 * Sample files are read here (at most 16 MiB together, as databusd
 * accepts) and travel in the request as the attachments of a new
 * passenger, named after the files. The exit status is 0 when every step
 * that ran completed (or a processor filtered the passenger out), 1 when a
 * step failed, the throwaway worker crashed or timed out, or the request
 * was refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_cmd.h"
#include "dbs_error.h"
#include "record_json.h"

#define SAMPLES_MAX   (16u << 20)
#define PREVIEW_LINES 20

/* A content type from the file name's extension ("" when unknown). */
static const char *
content_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".json", "application/json"},
	    {".xml", "application/xml"},
	    {".txt", "text/plain"},
	    {".csv", "text/csv"},
	    {".html", "text/html"},
	    {".eml", "message/rfc822"},
	    {".pdf", "application/pdf"},
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]);
	     i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "";
}

/* Read `path` whole into a->data; the name is the file's base name. */
static int
read_sample(const char *path, Dbs__Attachment *a, size_t *total)
{
	FILE *f = fopen(path, "rb");
	const char *base = strrchr(path, '/');
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	if (f == NULL) {
		ctl_err("dry-run: %s: %s", path, strerror(errno));
		return CTL_EXIT_FAIL;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			uint8_t *p;

			cap = cap != 0 ? cap * 2 : 65536;
			if ((p = realloc(buf, cap)) == NULL)
				break;
			buf = p;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0 || *total + len > SAMPLES_MAX)
			break;
	}
	if (ferror(f) || *total + len > SAMPLES_MAX || buf == NULL) {
		ctl_err("dry-run: %s: %s", path,
		    ferror(f) ? strerror(errno)
			      : "the samples are larger than 16 MiB together");
		fclose(f);
		free(buf);
		return CTL_EXIT_FAIL;
	}
	fclose(f);
	*total += len;
	dbs__attachment__init(a);
	a->name = (char *)(base != NULL ? base + 1 : path);
	a->content_type = (char *)content_type(a->name);
	a->data.data = buf;
	a->data.len = len;
	return CTL_EXIT_OK;
}

/* An attachment's text, indented, at most PREVIEW_LINES lines. */
static void
print_preview(const Dbs__Attachment *a)
{
	const char *p = (const char *)a->data.data, *end = p + a->data.len;
	int lines = 0;

	while (p < end && lines < PREVIEW_LINES) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		char *line = strndup(p, n), *clean;

		clean = line != NULL ? ctl_clean(line, 200) : NULL;
		printf("      | %s\n", clean != NULL ? clean : "?");
		free(clean);
		free(line);
		p += n + (nl != NULL ? 1 : 0);
		lines++;
	}
	if (p < end)
		printf("      | ...\n");
}

static void
print_steps(const Dbs__DryRunReply *r)
{
	static const char *const head[] = {"STEP", "KIND", "STATE", "DETAIL"};
	struct ctl_table t;
	const char *row[4];

	ctl_table_init(&t, 4, head);
	for (size_t i = 0; i < r->n_steps; i++) {
		const Dbs__DryRunStep *st = r->steps[i];
		bool unreached = st->state == DBS__STEP_STATE__STEP_INCOMPLETE;

		row[0] = st->name;
		row[1] = rj_step_kind_name(st->kind);
		row[2] =
		    unreached ? "not reached" : rj_step_state_name(st->state);
		row[3] = st->error[0] != '\0' ? st->error : st->note;
		ctl_table_add(&t, row);
	}
	(void)ctl_table_print(&t, "  ");
}

static void
print_reply(const struct ctl *c, const Dbs__DryRunReply *r)
{
	char size[32], when[32];
	char *text = ctl_clean(r->outcome, 0);

	printf("dry run of %s/%s", c->args->client_arg, c->args->definition);
	if (r->passenger_id != 0)
		printf(
		    " (passenger %llu)", (unsigned long long)r->passenger_id);
	printf(": %s (%.1f ms)\n", text != NULL ? text : "?",
	    (double)r->elapsed_us / 1000.0);
	free(text);
	print_steps(r);
	printf("attachments:%s\n", r->n_attachments == 0 ? " none" : "");
	for (size_t i = 0; i < r->n_attachments; i++) {
		const Dbs__AttachmentMeta *m = r->attachments[i];
		char *n = ctl_clean(m->name, 0);

		printf("  %s (%s%s%s)\n", n != NULL ? n : "?",
		    ctl_size(m->size, size), m->content_type[0] ? ", " : "",
		    m->content_type);
		free(n);
		for (size_t k = 0; k < r->n_previews; k++)
			if (strcmp(r->previews[k]->name, m->name) == 0)
				print_preview(r->previews[k]);
	}
	printf("metadata:%s\n", r->n_metadata == 0 ? " none" : "");
	for (size_t i = 0; i < r->n_metadata; i++) {
		char *k = ctl_clean(r->metadata[i]->key, 80);
		char *v = ctl_clean(r->metadata[i]->value, 200);

		printf("  %s: %s\n", k != NULL ? k : "?", v != NULL ? v : "?");
		free(k);
		free(v);
	}
	for (size_t i = 0; i < r->n_pushes; i++)
		printf("pusher %s would: %s\n", r->pushes[i]->pusher,
		    r->pushes[i]->description);
	printf("log:%s\n", r->n_logs == 0 ? " no entries" : "");
	for (size_t i = 0; i < r->n_logs; i++) {
		const Dbs__LogEntry *e = r->logs[i];
		char *m = ctl_clean(e->message, 0);

		printf("  %s %-7s %s: %s\n", ctl_time_local(e->time_ms, when),
		    rj_log_level_name(e->level),
		    e->step[0] != '\0' ? e->step : "-", m != NULL ? m : "?");
		free(m);
	}
}

int
ctl_cmd_dry_run(struct ctl *c)
{
	const struct ctl_args *a = c->args;
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__DryRun dr = DBS__DRY_RUN__INIT;
	Dbs__Attachment att[CTL_MAX_SAMPLES], *attp[CTL_MAX_SAMPLES];
	Dbs__ControlReply *r = NULL;
	size_t total = 0, n = 0;
	int rc = CTL_EXIT_OK;
	bool ok;

	for (; n < a->n_samples && rc == CTL_EXIT_OK; n++) {
		rc = read_sample(a->samples[n], &att[n], &total);
		attp[n] = &att[n];
	}
	if (rc != CTL_EXIT_OK) {
		n--; /* the one that failed holds nothing */
		goto out;
	}
	dr.client = (char *)a->client_arg;
	dr.definition = (char *)a->definition;
	dr.passenger_id = a->id;
	dr.n_samples = n;
	dr.samples = attp;
	dr.push = (char *)(a->push != NULL ? a->push : "");
	req.verb_case = DBS__CONTROL_REQUEST__VERB_DRY_RUN;
	req.dry_run = &dr;
	if ((rc = ctl_request(c, &req, &r)) != CTL_EXIT_OK)
		goto out;
	if (r->dry_run == NULL) {
		ctl_err("dry-run: databusd sent no result");
		rc = CTL_EXIT_FAIL;
		goto out;
	}
	ok = !r->dry_run->crashed &&
	     (strcmp(r->dry_run->outcome, "ok") == 0 ||
		 strncmp(r->dry_run->outcome, "skipped", 7) == 0);
	if (a->json)
		rc = ctl_print_json(rj_dry_run_reply(r->dry_run));
	else
		print_reply(c, r->dry_run);
	if (rc == CTL_EXIT_OK && !ok)
		rc = CTL_EXIT_FAIL;
out:
	for (size_t i = 0; i < n; i++)
		free(att[i].data.data);
	if (r != NULL)
		dbs__control_reply__free_unpacked(r, NULL);
	return rc;
}
