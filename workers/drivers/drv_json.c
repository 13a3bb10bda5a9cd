/*
 * drv_json.c — JSON forms of passengers and attachments (see drv_json.h).
 */
#include "drv_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
drv_base64_encode(const void *data, size_t len)
{
	const unsigned char *d = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	if (out == NULL)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		*o++ = b64[d[i] >> 2];
		*o++ = b64[((d[i] & 3) << 4) | (d[i + 1] >> 4)];
		*o++ = b64[((d[i + 1] & 15) << 2) | (d[i + 2] >> 6)];
		*o++ = b64[d[i + 2] & 63];
	}
	if (i < len) {
		*o++ = b64[d[i] >> 2];
		if (i + 1 < len) {
			*o++ = b64[((d[i] & 3) << 4) | (d[i + 1] >> 4)];
			*o++ = b64[(d[i + 1] & 15) << 2];
		} else {
			*o++ = b64[(d[i] & 3) << 4];
			*o++ = '=';
		}
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int
b64_value(char c)
{
	const char *p = c != '\0' ? strchr(b64, c) : NULL;

	return p != NULL ? (int)(p - b64) : -1;
}

int
drv_base64_decode(const char *s, size_t slen, void **out, size_t *len)
{
	unsigned char *buf;
	size_t i, n = 0;
	unsigned acc = 0;
	int bits = 0;

	*out = NULL;
	*len = 0;
	while (slen > 0 && s[slen - 1] == '=')
		slen--;
	buf = malloc(slen * 3 / 4 + 1);
	if (buf == NULL)
		return DBS_ENOMEM;
	for (i = 0; i < slen; i++) {
		int v = b64_value(s[i]);

		if (v < 0) {
			free(buf);
			return DBS_EINVAL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[n++] = (unsigned char)(acc >> bits);
		}
	}
	*out = buf;
	*len = n;
	return DBS_OK;
}

json_t *
drv_json_attachment(const struct drv_attachment *a)
{
	json_t *ja = json_object();

	if (ja == NULL)
		return NULL;
	json_object_set_new(ja, "name", json_string(a->name));
	json_object_set_new(ja, "content_type",
	    json_string(a->content_type != NULL ? a->content_type
						: "application/octet-stream"));
	json_object_set_new(ja, "size", json_integer((json_int_t)a->len));
	if (drv_utf8_valid(a->data, a->len) &&
	    (a->len == 0 || memchr(a->data, '\0', a->len) == NULL)) {
		json_object_set_new(ja, "text",
		    json_stringn(a->len > 0 ? a->data : "", a->len));
	} else {
		char *enc = drv_base64_encode(a->data, a->len);

		if (enc == NULL) {
			json_decref(ja);
			return NULL;
		}
		json_object_set_new(ja, "base64", json_string(enc));
		free(enc);
	}
	return ja;
}

json_t *
drv_json_passenger(const struct drv_passenger *p)
{
	json_t *doc = json_object(), *md = json_object(), *atts = json_array();
	size_t i;

	if (doc == NULL || md == NULL || atts == NULL)
		goto fail;
	for (i = 0; i < p->n_metadata; i++)
		json_object_set_new(
		    md, p->metadata[i].key, json_string(p->metadata[i].value));
	for (i = 0; i < p->n_attachments; i++) {
		json_t *ja = drv_json_attachment(&p->attachments[i]);

		if (ja == NULL)
			goto fail;
		json_array_append_new(atts, ja);
	}
	json_object_set_new(doc, "id", json_integer((json_int_t)p->id));
	json_object_set_new(doc, "client", json_string(p->client));
	json_object_set_new(doc, "definition", json_string(p->definition));
	json_object_set_new(doc, "puller", json_string(p->puller));
	json_object_set_new(doc, "external_id", json_string(p->external_id));
	json_object_set_new(doc, "metadata", md);
	json_object_set_new(doc, "attachments", atts);
	return doc;
fail:
	json_decref(md);
	json_decref(atts);
	json_decref(doc);
	return NULL;
}

int
drv_json_attachment_decode(const json_t *obj, struct drv_attachment *out,
    void **data_out, char *err, size_t errlen)
{
	const json_t *text, *b;
	const char *name, *ct;

	*data_out = NULL;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "an attachment is not an object");
		return DBS_EINVAL;
	}
	name = json_string_value(json_object_get(obj, "name"));
	ct = json_string_value(json_object_get(obj, "content_type"));
	text = json_object_get(obj, "text");
	b = json_object_get(obj, "base64");
	if (name == NULL || name[0] == '\0') {
		snprintf(err, errlen, "an attachment without a \"name\"");
		return DBS_EINVAL;
	}
	if (json_is_string(text) == json_is_string(b)) {
		snprintf(err, errlen,
		    "attachment \"%.100s\": needs exactly one of \"text\" "
		    "and \"base64\"",
		    name);
		return DBS_EINVAL;
	}
	out->name = name;
	out->content_type = ct;
	if (json_is_string(text)) {
		out->data = json_string_value(text);
		out->len = json_string_length(text);
		return DBS_OK;
	}
	if (drv_base64_decode(json_string_value(b), json_string_length(b),
		data_out, &out->len) != DBS_OK) {
		snprintf(
		    err, errlen, "attachment \"%.100s\": bad base64", name);
		return DBS_EINVAL;
	}
	out->data = *data_out;
	return DBS_OK;
}
