/*
 * exec_proto.c — the exec protocol's output, decoded (exec_proto.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "drv_json.h"
#include "exec_proto.h"

int
exec_output_parse(const char *prog, const char *out, size_t len,
    json_t **lines, json_t **result, char *err, size_t errlen)
{
	const char *p = out, *end = out + len;
	size_t lineno = 0;

	*result = NULL;
	if ((*lines = json_array()) == NULL)
		return DBS_ENOMEM;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		json_error_t jerr;
		json_t *line;
		const char *type;

		lineno++;
		if (n == 0 || (n == 1 && p[0] == '\r')) {
			p += n + 1;
			continue;
		}
		line = json_loadb(p, n, JSON_REJECT_DUPLICATES, &jerr);
		type = json_string_value(json_object_get(line, "type"));
		if (!json_is_object(line) || type == NULL) {
			snprintf(err, errlen,
			    "%s: output line %zu is not a JSON object with a "
			    "\"type\": %.80s",
			    prog, lineno, p);
			for (char *c = err; *c != '\0'; c++)
				if ((unsigned char)*c < 0x20)
					*c = ' ';
			json_decref(line);
			goto fail;
		}
		json_array_append_new(*lines, line);
		if (strcmp(type, "result") == 0)
			*result = line;
		p += n + 1;
	}
	if (*result == NULL) {
		snprintf(err, errlen,
		    "%s: exited without a {\"type\": \"result\"} line", prog);
		goto fail;
	}
	return DBS_OK;
fail:
	json_decref(*lines);
	*lines = NULL;
	*result = NULL;
	return DBS_EPROTO;
}

bool
exec_log_line(const json_t *l, enum drv_level *level, const char **msg)
{
	const char *type = json_string_value(json_object_get(l, "type"));
	const char *lv = json_string_value(json_object_get(l, "level"));

	*msg = json_string_value(json_object_get(l, "message"));
	*level = DRV_INFO;
	if (type == NULL || strcmp(type, "log") != 0 || *msg == NULL)
		return false;
	if (lv != NULL && strcmp(lv, "debug") == 0)
		*level = DRV_DEBUG;
	else if (lv != NULL && strcmp(lv, "warning") == 0)
		*level = DRV_WARNING;
	else if (lv != NULL && strcmp(lv, "error") == 0)
		*level = DRV_ERROR;
	return true;
}

int
exec_item_decode(
    const json_t *l, struct exec_item *it, char *err, size_t errlen)
{
	const json_t *md = json_object_get(l, "metadata");
	const json_t *atts = json_object_get(l, "attachments");
	size_t n_md = json_object_size(md), n_att = json_array_size(atts), k;
	const char *key;
	json_t *v;

	memset(it, 0, sizeof(*it));
	it->external_id = json_string_value(json_object_get(l, "external_id"));
	it->source_ref = json_string_value(json_object_get(l, "source_ref"));
	it->kv = calloc(n_md + 1, sizeof(*it->kv));
	it->att = calloc(n_att + 1, sizeof(*it->att));
	it->bufs = calloc(n_att + 1, sizeof(*it->bufs));
	if (it->kv == NULL || it->att == NULL || it->bufs == NULL)
		return DBS_ENOMEM;
	json_object_foreach((json_t *)md, key, v)
	{
		if (!json_is_string(v)) {
			snprintf(err, errlen,
			    "metadata %.100s is not a string", key);
			return DBS_EINVAL;
		}
		it->kv[it->n_kv].key = key;
		it->kv[it->n_kv].value = json_string_value(v);
		it->n_kv++;
	}
	json_array_foreach(atts, k, v)
	{
		it->n_att = k + 1; /* bufs[k] is freed from now on */
		if (drv_json_attachment_decode(
			v, &it->att[k], &it->bufs[k], err, errlen) != DBS_OK)
			return DBS_EINVAL;
	}
	return DBS_OK;
}

void
exec_item_free(struct exec_item *it)
{
	for (size_t k = 0; it->bufs != NULL && k < it->n_att; k++)
		free(it->bufs[k]);
	free(it->bufs);
	free(it->kv);
	free(it->att);
	memset(it, 0, sizeof(*it));
}

enum drv_result
exec_status_result(
    const char *status, bool processor, char *err, size_t errlen)
{
	if (strcmp(status, "ok") == 0)
		return DRV_OK;
	if (processor && strcmp(status, "skip") == 0)
		return DRV_SKIP;
	if (strcmp(status, "retry") == 0 || strcmp(status, "fail") == 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "the program answered \"%s\"",
			    status);
		return status[0] == 'r' ? DRV_RETRY : DRV_FAIL;
	}
	snprintf(err, errlen, "unknown result status \"%.50s\"", status);
	return DRV_RETRY;
}
