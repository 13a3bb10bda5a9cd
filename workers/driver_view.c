/*
 * driver_view.c — the passenger as the steps of one WorkItem see it
 * (struct drv_view), the changes a transforming processor makes to it
 * (struct drv_edit, applied only when the step completes), and the
 * allocations kept past a view's reset until the worker has sent them
 * (struct drv_keep). Ownership is explicit at every step: an entry is
 * borrowed from the decoded request until an edit replaces it with a copy
 * the view owns.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "driver.h"
#include "driver_host.h"
#include "grow.h"
#include "wire.h"

static int
str_ok(const char *s)
{
	return s != NULL && drv_utf8_valid(s, strlen(s));
}

static void
view_sync(struct drv_view *v)
{
	v->p.metadata = v->md;
	v->p.n_metadata = v->n_md;
	v->p.attachments = v->att;
	v->p.n_attachments = v->n_att;
}

void
drv_view_reset(struct drv_view *v)
{
	size_t i;

	for (i = 0; i < v->n_owned; i++)
		free(v->owned[i]);
	v->n_owned = 0;
	v->n_md = 0;
	v->n_att = 0;
	v->replaced = false;
	memset(&v->p, 0, sizeof(v->p));
	view_sync(v);
}

void
drv_view_free(struct drv_view *v)
{
	if (v == NULL)
		return;
	drv_view_reset(v);
	free(v->owned);
	free(v->md);
	free(v->att);
	memset(v, 0, sizeof(*v));
}

int
drv_view_add_metadata(struct drv_view *v, const char *key, const char *value)
{
	if (grow_array((void **)&v->md, &v->cap_md, v->n_md + 1,
		sizeof(*v->md)) != DBS_OK)
		return DBS_ENOMEM;
	v->md[v->n_md].key = key;
	v->md[v->n_md].value = value;
	v->n_md++;
	view_sync(v);
	return DBS_OK;
}

int
drv_view_add_attachment(struct drv_view *v, const char *name,
    const char *content_type, const void *data, size_t len)
{
	struct drv_attachment *a;

	if (grow_array((void **)&v->att, &v->cap_att, v->n_att + 1,
		sizeof(*v->att)) != DBS_OK)
		return DBS_ENOMEM;
	a = &v->att[v->n_att++];
	a->name = name;
	a->content_type = content_type;
	a->data = data;
	a->len = len;
	view_sync(v);
	return DBS_OK;
}

static int
view_own(struct drv_view *v, void *p)
{
	if (p == NULL)
		return DBS_OK;
	if (grow_array((void **)&v->owned, &v->cap_owned, v->n_owned + 1,
		sizeof(*v->owned)) != DBS_OK)
		return DBS_ENOMEM;
	v->owned[v->n_owned++] = p;
	return DBS_OK;
}

int
drv_keep_add(struct drv_keep *keep, void *ptr)
{
	if (ptr == NULL)
		return DBS_OK;
	if (grow_array((void **)&keep->p, &keep->cap, keep->n + 1,
		sizeof(*keep->p)) != DBS_OK) {
		free(ptr);
		return DBS_ENOMEM;
	}
	keep->p[keep->n++] = ptr;
	return DBS_OK;
}

int
drv_view_keep(struct drv_view *v, struct drv_keep *keep)
{
	if (grow_array((void **)&keep->p, &keep->cap, keep->n + v->n_owned,
		sizeof(*keep->p)) != DBS_OK)
		return DBS_ENOMEM;
	if (v->n_owned > 0)
		memcpy(keep->p + keep->n, v->owned,
		    v->n_owned * sizeof(*v->owned));
	keep->n += v->n_owned;
	v->n_owned = 0; /* transferred */
	return DBS_OK;
}

void
drv_keep_free(struct drv_keep *keep)
{
	size_t i;

	if (keep == NULL)
		return;
	for (i = 0; i < keep->n; i++)
		free(keep->p[i]);
	free(keep->p);
	memset(keep, 0, sizeof(*keep));
}

void
drv_edit_begin(struct drv_edit *e, struct drv_view *v)
{
	memset(e, 0, sizeof(*e));
	e->view = v;
}

static void
edit_free_entries(struct drv_edit *e)
{
	size_t i;

	for (i = 0; i < e->n_md; i++) {
		free((char *)e->md[i].key);
		free((char *)e->md[i].value);
	}
	for (i = 0; i < e->n_att; i++) {
		free((char *)e->att[i].name);
		free((char *)e->att[i].content_type);
		free((void *)e->att[i].data);
	}
	e->n_md = 0;
	e->n_att = 0;
}

void
drv_edit_discard(struct drv_edit *e)
{
	edit_free_entries(e);
	free(e->md);
	free(e->att);
	e->md = NULL;
	e->att = NULL;
	e->cap_md = 0;
	e->cap_att = 0;
}

int
drv_edit_metadata(struct drv_edit *e, const char *key, const char *value)
{
	char *k, *val;
	size_t i;

	if (e == NULL || key == NULL || key[0] == '\0' || value == NULL ||
	    !str_ok(key) || !str_ok(value))
		return DBS_EINVAL;
	val = strdup(value);
	if (val == NULL)
		return DBS_ENOMEM;
	/* A second edit of the same key in one step replaces the first. */
	for (i = 0; i < e->n_md; i++)
		if (strcmp(e->md[i].key, key) == 0) {
			free((char *)e->md[i].value);
			e->md[i].value = val;
			return DBS_OK;
		}
	k = strdup(key);
	if (k == NULL || grow_array((void **)&e->md, &e->cap_md, e->n_md + 1,
			     sizeof(*e->md)) != DBS_OK) {
		free(k);
		free(val);
		return DBS_ENOMEM;
	}
	e->md[e->n_md].key = k;
	e->md[e->n_md].value = val;
	e->n_md++;
	return DBS_OK;
}

int
drv_edit_attachment(struct drv_edit *e, const char *name,
    const char *content_type, const void *data, size_t len)
{
	struct drv_attachment a = {0};
	size_t i;

	if (e == NULL || name == NULL || name[0] == '\0' || !str_ok(name) ||
	    (content_type != NULL && !str_ok(content_type)) ||
	    (len > 0 && data == NULL))
		return DBS_EINVAL;
	if (len > WIRE_MAX_MSG / 2)
		return DBS_ETOOBIG;
	a.name = strdup(name);
	a.content_type = strdup(
	    content_type != NULL ? content_type : "application/octet-stream");
	a.data = malloc(len > 0 ? len : 1);
	a.len = len;
	if (a.name == NULL || a.content_type == NULL || a.data == NULL ||
	    grow_array((void **)&e->att, &e->cap_att, e->n_att + 1,
		sizeof(*e->att)) != DBS_OK) {
		free((char *)a.name);
		free((char *)a.content_type);
		free((void *)a.data);
		return DBS_ENOMEM;
	}
	if (len > 0)
		memcpy((void *)a.data, data, len);
	for (i = 0; i < e->n_att; i++)
		if (strcmp(e->att[i].name, name) == 0) {
			free((char *)e->att[i].name);
			free((char *)e->att[i].content_type);
			free((void *)e->att[i].data);
			e->att[i] = a;
			return DBS_OK;
		}
	e->att[e->n_att++] = a;
	return DBS_OK;
}

/*
 * Move the pending copies into the view: each owned string or body goes
 * into v->owned first, so that an allocation failure halfway leaves every
 * pointer owned by exactly one side.
 */
int
drv_edit_commit(struct drv_edit *e)
{
	struct drv_view *v = e->view;
	size_t i, j;
	int rc = DBS_OK;

	if (e->n_md + e->n_att == 0)
		goto out;
	/* Room for every pointer up front: the loops below cannot fail. */
	if (grow_array((void **)&v->owned, &v->cap_owned,
		v->n_owned + 2 * e->n_md + 3 * e->n_att,
		sizeof(*v->owned)) != DBS_OK ||
	    grow_array((void **)&v->md, &v->cap_md, v->n_md + e->n_md,
		sizeof(*v->md)) != DBS_OK ||
	    grow_array((void **)&v->att, &v->cap_att, v->n_att + e->n_att,
		sizeof(*v->att)) != DBS_OK) {
		rc = DBS_ENOMEM;
		goto out;
	}
	for (i = 0; i < e->n_md; i++) {
		(void)view_own(v, (void *)e->md[i].key);
		(void)view_own(v, (void *)e->md[i].value);
		for (j = 0; j < v->n_md; j++)
			if (strcmp(v->md[j].key, e->md[i].key) == 0)
				break;
		if (j == v->n_md)
			v->n_md++;
		v->md[j] = e->md[i];
	}
	for (i = 0; i < e->n_att; i++) {
		(void)view_own(v, (void *)e->att[i].name);
		(void)view_own(v, (void *)e->att[i].content_type);
		(void)view_own(v, (void *)e->att[i].data);
		for (j = 0; j < v->n_att; j++)
			if (strcmp(v->att[j].name, e->att[i].name) == 0)
				break;
		if (j == v->n_att)
			v->n_att++;
		v->att[j] = e->att[i];
	}
	e->n_md = 0; /* transferred */
	e->n_att = 0;
	v->replaced = true;
	view_sync(v);
out:
	drv_edit_discard(e);
	return rc;
}
