/*
 * fuzz_api_body.c — libFuzzer target for the JSON bodies of databus-web's
 * mutations (webui/bodies.c): login, purges of the queue and the logs,
 * queue item steps, user creation and password change, config save and
 * validate, export, and a dry run's samples (webui/dry_run_body.c). The
 * handlers run exactly these functions on the body before they act; here any
 * bytes go to each of them.
 *
 * Checked besides "no crash, no leak": what a function accepts obeys its
 * contract (names valid, strings NUL-free and within their buffers, days
 * within 0..36500, a config content of the length given).
 */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "bodies.h"
#include "dry_run_body.h"
#include "params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_name(const char *s, bool may_be_empty)
{
	size_t n = strlen(s);

	if (n == 0 ? !may_be_empty : !web_valid_name(s, n))
		abort();
}

static void
object_bodies(const json_t *body)
{
	char client[65], passenger[65], step[WEB_STEP_NAME_MAX + 1];
	char username[65], password[WEB_PASSWORD_MAX + 1], buf[65];
	static const char *const keys[] = {
	    "password", "current_password", NULL};
	bool requeue, complete;
	double days;
	int role;

	for (int queue = 0; queue < 2; queue++)
		if (web_purge_body(body, queue, client, passenger, &days) ==
		    NULL) {
			check_name(client, true);
			check_name(passenger, true);
			if (!(days >= 0 && days <= WEB_DAYS_MAX) ||
			    (passenger[0] != '\0' && client[0] == '\0') ||
			    (!queue && passenger[0] != '\0'))
				abort();
		}
	if (web_steps_body(body, &requeue, step, &complete) == NULL &&
	    !requeue && (step[0] == '\0' || strlen(step) > WEB_STEP_NAME_MAX))
		abort();
	if (web_body_string(body, "client", buf, sizeof(buf)) &&
	    (buf[0] == '\0' || strlen(buf) >= sizeof(buf)))
		abort();
	for (int c = 0; c < 2; c++)
		if (web_user_create_body(body, c ? "root" : "demo", username,
			&role, password) == NULL &&
		    (!web_valid_username(username) ||
			strlen(password) < WEB_PASSWORD_MIN ||
			strlen(password) > WEB_PASSWORD_MAX))
			abort();
	if (web_body_keys(body, keys) &&
	    web_body_password(body, password, sizeof(password)) &&
	    strlen(password) < WEB_PASSWORD_MIN)
		abort();
}

/* What web_dry_run_body accepts: one of a passenger and samples, names
 * that cannot leave a directory, every byte inside the arena. */
static void
dry_run_body(const json_t *body, size_t size)
{
	static struct web_dry_body b;
	char *arena = malloc(size + WEB_DRY_ARENA_EXTRA);

	if (arena == NULL)
		return;
	b.arena = arena;
	b.cap = size + WEB_DRY_ARENA_EXTRA;
	if (web_dry_run_body(body, &b) == NULL) {
		if ((b.dr.passenger_id != 0) == (b.dr.n_samples != 0) ||
		    b.dr.n_samples > WEB_DRY_SAMPLES_MAX || b.used > b.cap ||
		    b.dr.push == NULL)
			abort();
		for (size_t i = 0; i < b.dr.n_samples; i++) {
			const Dbs__Attachment *a = b.dr.samples[i];

			if (a->name[0] == '\0' || strchr(a->name, '/') ||
			    (a->data.len > 0 &&
				((char *)a->data.data < arena ||
				    (char *)a->data.data + a->data.len >
					arena + b.cap)))
				abort();
		}
	}
	free(arena);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	char client[65], username[129], password[1025], version[80];
	const char *msg, *mode, *cl;
	char *content;
	size_t clen;
	json_t *body, *doc;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	if (web_login_body(text, size, client, sizeof(client), username,
		sizeof(username), password, sizeof(password)) &&
	    (client[0] == '\0' || username[0] == '\0' || password[0] == '\0'))
		abort();
	if ((body = web_json_object(text, size)) != NULL) {
		if (!json_is_object(body))
			abort();
		object_bodies(body);
		dry_run_body(body, size);
		json_decref(body);
	}
	for (int v = 0; v < 2; v++) {
		int rc = web_config_body(text, size, v, version,
		    sizeof(version), &content, &clen, &msg);

		if ((rc == 0) != (msg == NULL) ||
		    (rc == 0 && (content == NULL || content[clen] != '\0')) ||
		    (v && rc == 0 && strlen(version) >= sizeof(version)))
			abort();
		free(content);
	}
	doc = json_loadb(text, size, 0, NULL);
	if (web_export_body(doc, &mode, &cl) == NULL &&
	    (mode == NULL || (cl != NULL && !web_valid_name(cl, strlen(cl)))))
		abort();
	{
		struct web_pg_target t;
		bool is_pg;

		/* A target it accepts has a conninfo without a control
		 * character and a schema that is an identifier. */
		if (web_export_pg_body(doc, &is_pg, &t) == NULL && is_pg) {
			if (t.conninfo[0] == '\0' || t.schema[0] == '\0' ||
			    strchr(t.shown, '/') == NULL)
				abort();
			for (const char *c = t.conninfo; *c != '\0'; c++)
				if ((unsigned char)*c < 0x20)
					abort();
			for (const char *c = t.schema; *c != '\0'; c++)
				if (!isalnum((unsigned char)*c) && *c != '_')
					abort();
		}
	}
	json_decref(doc);
	free(text);
	return 0;
}
