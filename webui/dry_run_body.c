/*
 * dry_run_body.c — the dry run's request body (see dry_run_body.h).
 */
#include "dry_run_body.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "bodies.h"

static char *
arena_copy(struct web_dry_body *j, const void *p, size_t n)
{
	char *out;

	if (n + 1 > j->cap - j->used)
		return NULL;
	out = j->arena + j->used;
	memcpy(out, p, n);
	out[n] = '\0';
	j->used += n + 1;
	return out;
}

/* One sample {"name", "content_type"?, "text" | "base64"} into att[i]. */
static const char *
parse_sample(struct web_dry_body *j, const json_t *o, size_t i)
{
	const json_t *name = json_object_get(o, "name");
	const json_t *ct = json_object_get(o, "content_type");
	const json_t *text = json_object_get(o, "text");
	const json_t *b64 = json_object_get(o, "base64");
	Dbs__Attachment *a = &j->att[i];
	const char *n;

	if (!json_is_object(o) || !json_is_string(name))
		return "each sample needs a \"name\"";
	n = json_string_value(name);
	if (n[0] == '\0' || strlen(n) > 255 || strchr(n, '/') != NULL ||
	    strlen(n) != json_string_length(name))
		return "a sample's name must be 1 to 255 bytes without '/'";
	if ((text != NULL) == (b64 != NULL) ||
	    !json_is_string(text != NULL ? text : b64))
		return "each sample needs \"text\" or \"base64\" (a string)";
	if (ct != NULL && !json_is_string(ct))
		return "\"content_type\" must be a string";
	dbs__attachment__init(a);
	a->name = arena_copy(j, n, strlen(n));
	a->content_type = ct != NULL ? arena_copy(j, json_string_value(ct),
					   json_string_length(ct))
				     : arena_copy(j, "", 0);
	if (text != NULL) {
		a->data.data = (uint8_t *)arena_copy(
		    j, json_string_value(text), json_string_length(text));
		a->data.len = json_string_length(text);
	} else {
		const char *s = json_string_value(b64);
		size_t room = j->cap - j->used, len = 0;

		a->data.data = (uint8_t *)j->arena + j->used;
		if (sodium_base642bin(a->data.data, room, s,
			json_string_length(b64), " \r\n", &len, NULL,
			sodium_base64_VARIANT_ORIGINAL) != 0)
			return "a sample's \"base64\" is not base64";
		a->data.len = len;
		j->used += len;
	}
	if (a->name == NULL || a->content_type == NULL || a->data.data == NULL)
		return "the samples are too large";
	j->attp[i] = a;
	return NULL;
}

/* "metadata": {k: "v"} of the samples' passenger. */
static const char *
parse_metadata(struct web_dry_body *j, const json_t *md)
{
	const char *k;
	json_t *v;

	if (md == NULL)
		return NULL;
	if (!json_is_object(md) || json_object_size(md) > WEB_DRY_METADATA_MAX)
		return "\"metadata\" must be an object of at most 64 strings";
	json_object_foreach((json_t *)md, k, v)
	{
		Dbs__KeyValue *kv = &j->kv[j->dr.n_metadata];

		if (!json_is_string(v))
			return "\"metadata\" values must be strings";
		dbs__key_value__init(kv);
		kv->key = arena_copy(j, k, strlen(k));
		kv->value =
		    arena_copy(j, json_string_value(v), json_string_length(v));
		if (kv->key == NULL || kv->value == NULL)
			return "the metadata is too large";
		j->kvp[j->dr.n_metadata++] = kv;
	}
	j->dr.metadata = j->kvp;
	return NULL;
}

const char *
web_dry_run_body(const json_t *body, struct web_dry_body *j)
{
	static const char *const keys[] = {
	    "passenger", "samples", "metadata", "push", NULL};
	const json_t *pid = json_object_get(body, "passenger");
	const json_t *samples = json_object_get(body, "samples");
	const json_t *push = json_object_get(body, "push");
	const char *err;
	size_t i;

	dbs__dry_run__init(&j->dr);
	j->used = 0;
	if (!web_body_keys(body, keys))
		return "unknown member: the body takes \"passenger\" or "
		       "\"samples\" (with \"metadata\"), and \"push\"";
	if ((pid != NULL) == (samples != NULL))
		return "give \"passenger\" (an id) or \"samples\"";
	if (push != NULL &&
	    (!json_is_string(push) ||
		json_string_length(push) >= sizeof(j->push) ||
		strlen(json_string_value(push)) != json_string_length(push)))
		return "\"push\" must be a pusher's name";
	if (push != NULL)
		memcpy(j->push, json_string_value(push),
		    json_string_length(push) + 1);
	j->dr.push = j->push;
	if (pid != NULL) {
		if (!json_is_integer(pid) || json_integer_value(pid) <= 0)
			return "\"passenger\" must be a positive id";
		j->dr.passenger_id = (uint64_t)json_integer_value(pid);
		return json_object_get(body, "metadata") != NULL
			   ? "\"metadata\" goes with \"samples\" only"
			   : NULL;
	}
	if (!json_is_array(samples) || json_array_size(samples) == 0 ||
	    json_array_size(samples) > WEB_DRY_SAMPLES_MAX)
		return "\"samples\" must be an array of 1 to 64 samples";
	for (i = 0; i < json_array_size(samples); i++)
		if ((err = parse_sample(j, json_array_get(samples, i), i)) !=
		    NULL)
			return err;
	j->dr.n_samples = i;
	j->dr.samples = j->attp;
	return parse_metadata(j, json_object_get(body, "metadata"));
}
