/*
 * fuzz_exec_proto.c — libFuzzer target for what an exec driver's program
 * writes on stdout (workers/drivers/exec_proto.c): JSON lines, then each line
 * as drv_exec.c reads it — log lines, items (metadata, attachments in text or
 * base64) and the result's status and edits.
 *
 * The input is the program's whole stdout. Checked besides "no crash, no
 * leak": a parse either gives a result line among its lines or an error
 * message; a decoded item's strings and attachments are complete.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "drivers/drv_json.h"
#include "drivers/exec_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
item(const json_t *l)
{
	struct exec_item it;
	char err[200] = "";
	int rc = exec_item_decode(l, &it, err, sizeof(err));

	if (rc == DBS_OK) {
		for (size_t i = 0; i < it.n_kv; i++)
			if (it.kv[i].key == NULL || it.kv[i].value == NULL)
				abort();
		for (size_t i = 0; i < it.n_att; i++)
			if (it.att[i].name == NULL ||
			    it.att[i].name[0] == '\0' ||
			    (it.att[i].data == NULL && it.att[i].len > 0))
				abort();
	} else if (rc == DBS_EINVAL && err[0] == '\0') {
		abort();
	}
	exec_item_free(&it);
}

/* The result as exec_process and exec_push read it. */
static void
result(const json_t *r)
{
	const char *status = json_string_value(json_object_get(r, "status"));
	const char *msg = json_string_value(json_object_get(r, "error"));
	const json_t *atts = json_object_get(r, "attachments");
	char err[1024];
	const json_t *v;
	size_t i;

	if (status == NULL)
		return;
	for (int proc = 0; proc < 2; proc++) {
		enum drv_result res;

		snprintf(err, sizeof(err), "%s", msg != NULL ? msg : "");
		res = exec_status_result(status, proc, err, sizeof(err));
		if (res != DRV_OK && res != DRV_SKIP && res != DRV_RETRY &&
		    res != DRV_FAIL)
			abort();
		if ((res == DRV_SKIP && !proc) ||
		    ((res == DRV_RETRY || res == DRV_FAIL) && err[0] == '\0'))
			abort();
	}
	json_array_foreach(atts, i, v)
	{
		struct drv_attachment a;
		void *buf;

		if (drv_json_attachment_decode(
			v, &a, &buf, err, sizeof(err)) == DBS_OK &&
		    a.name == NULL)
			abort();
		free(buf);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *out = malloc(size + 1), err[1024] = "";
	json_t *lines, *res, *l;
	size_t i;
	int rc;

	if (out == NULL)
		return 0;
	memcpy(out, data, size);
	out[size] = '\0'; /* run_program terminates what it read */
	rc = exec_output_parse(
	    "prog", out, size, &lines, &res, err, sizeof(err));
	if (rc != DBS_OK) {
		if (lines != NULL || res != NULL || err[0] == '\0')
			abort();
		free(out);
		return 0;
	}
	if (res == NULL || !json_is_array(lines))
		abort();
	json_array_foreach(lines, i, l)
	{
		const char *type =
		    json_string_value(json_object_get(l, "type"));
		enum drv_level level;
		const char *msg;

		if (type == NULL)
			abort();
		if (exec_log_line(l, &level, &msg) &&
		    (msg == NULL || level > DRV_ERROR))
			abort();
		if (strcmp(type, "item") == 0)
			item(l);
	}
	result(res);
	json_decref(lines);
	free(out);
	return 0;
}
