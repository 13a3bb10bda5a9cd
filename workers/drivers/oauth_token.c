/*
 * oauth_token.c — access tokens from an OAuth 2.0 token endpoint for the
 * mail drivers' SASL logins (see oauth_token.h).
 *
 * The request is a libcurl POST of a form (grant_type, client_id, and
 * client_secret / refresh_token / scope as configured: client
 * authentication by "client_secret_post", which Microsoft's and Google's
 * endpoints accept); the answer is JSON with access_token and expires_in.
 * The token is renewed a little before it expires (a quarter of its
 * lifetime, at most a minute before), so a login never presents one
 * that is about to run out. The request body and the answer hold
 * secrets: both are wiped as soon as they have been used.
 */
#include "oauth_token.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "credential.h"
#include "dbs_error.h"
#include "driver.h"

#define OAUTH_ANSWER_MAX       65536
#define OAUTH_DEFAULT_LIFETIME 3600 /* when the answer has no expires_in */

struct oauth_token {
	char *token_url;
	bool client_credentials; /* else the refresh_token grant */
	char *client_id;
	char *client_secret; /* secret; NULL for a public client */
	char *refresh_token; /* secret; NULL with client_credentials */
	char *scope;         /* NULL: none sent */
	bool oauthbearer;    /* else XOAUTH2 */
	long timeout_s;
	char *access; /* secret; NULL: none cached */
	double renew_at;
	uint64_t generation;
	bool refused;      /* the endpoint refused the grant: permanent */
	char refusal[512]; /* why, without secrets */
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
oauth_free(struct oauth_token *t)
{
	if (t == NULL)
		return;
	free(t->token_url);
	free(t->client_id);
	cred_free(t->client_secret);
	cred_free(t->refresh_token);
	free(t->scope);
	cred_free(t->access);
	explicit_bzero(t, sizeof(*t));
	free(t);
}

/* ------------------------------------------------------------- settings */

/* http:// only to this machine: a token endpoint elsewhere needs TLS. */
static bool
url_ok(const char *url)
{
	static const char *const local[] = {"http://127.0.0.1:",
	    "http://127.0.0.1/", "http://localhost:", "http://localhost/",
	    "http://[::1]:", "http://[::1]/", NULL};
	size_t i;

	if (strncmp(url, "https://", 8) == 0 && url[8] != '\0')
		return true;
	for (i = 0; local[i] != NULL; i++)
		if (strncmp(url, local[i], strlen(local[i])) == 0)
			return true;
	return false;
}

static int
dup_string(const json_t *o, const char *key, const char *def, char **out,
    char *err, size_t errlen)
{
	const char *v = NULL;
	int rc = drv_setting_string(o, key, def, &v, err, errlen);

	*out = NULL;
	if (rc != DBS_OK || v == NULL || v[0] == '\0')
		return rc;
	*out = strdup(v);
	return *out != NULL ? DBS_OK : DBS_ENOMEM;
}

/* The fields of the "oauth2" object; errors say "<field>: ...". */
static int
read_fields(struct oauth_token *t, const json_t *o, char *err, size_t errlen)
{
	static const char *const keys[] = {"token_url", "grant", "client_id",
	    "client_secret", "refresh_token", "scope", "mechanism", NULL};
	const char *grant = NULL, *mech = NULL;
	int rc;

	rc = drv_settings_only(o, keys, err, errlen);
	if (rc == DBS_OK)
		rc = dup_string(
		    o, "token_url", NULL, &t->token_url, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_string(
		    o, "grant", "refresh_token", &grant, err, errlen);
	if (rc == DBS_OK)
		rc = dup_string(
		    o, "client_id", NULL, &t->client_id, err, errlen);
	if (rc == DBS_OK)
		rc = dup_string(o, "scope", "", &t->scope, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_string(
		    o, "mechanism", "xoauth2", &mech, err, errlen);
	if (rc == DBS_OK)
		rc = cred_setting(
		    o, "client_secret", &t->client_secret, err, errlen);
	if (rc == DBS_OK)
		rc = cred_setting(
		    o, "refresh_token", &t->refresh_token, err, errlen);
	if (rc != DBS_OK)
		return rc;
	if (!url_ok(t->token_url)) {
		snprintf(err, errlen,
		    "token_url: expected https://... (http:// only to "
		    "127.0.0.1, [::1] or localhost)");
		return DBS_ECONFIG;
	}
	if (strcmp(grant, "refresh_token") != 0 &&
	    strcmp(grant, "client_credentials") != 0) {
		snprintf(err, errlen,
		    "grant: expected \"refresh_token\" or "
		    "\"client_credentials\"");
		return DBS_ECONFIG;
	}
	t->client_credentials = strcmp(grant, "client_credentials") == 0;
	if (strcmp(mech, "xoauth2") != 0 && strcmp(mech, "oauthbearer") != 0) {
		snprintf(err, errlen,
		    "mechanism: expected \"xoauth2\" or \"oauthbearer\"");
		return DBS_ECONFIG;
	}
	t->oauthbearer = strcmp(mech, "oauthbearer") == 0;
	if (!t->client_credentials && t->refresh_token == NULL) {
		snprintf(err, errlen,
		    "refresh_token: missing (the refresh_token grant needs "
		    "one)");
		return DBS_ECONFIG;
	}
	if (t->client_credentials && t->refresh_token != NULL) {
		snprintf(err, errlen,
		    "refresh_token: not used by the client_credentials "
		    "grant");
		return DBS_ECONFIG;
	}
	if (t->client_credentials && t->client_secret == NULL) {
		snprintf(err, errlen,
		    "client_secret: missing (the client_credentials grant "
		    "needs one)");
		return DBS_ECONFIG;
	}
	return DBS_OK;
}

int
oauth_setting(const json_t *settings, const char *key, long timeout_s,
    struct oauth_token **out, char *err, size_t errlen)
{
	const json_t *o = json_object_get(settings, key);
	struct oauth_token *t;
	char e[512] = "";
	int rc;

	*out = NULL;
	if (o == NULL)
		return DBS_OK;
	if (!json_is_object(o)) {
		snprintf(err, errlen,
		    "%s: expected an object {\"token_url\", \"client_id\", "
		    "...}",
		    key);
		return DBS_ECONFIG;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return DBS_ENOMEM;
	t->timeout_s = timeout_s;
	rc = read_fields(t, o, e, sizeof(e));
	if (rc != DBS_OK) {
		if (rc == DBS_ECONFIG)
			snprintf(err, errlen, "%s.%s", key, e);
		oauth_free(t);
		return rc;
	}
	*out = t;
	return DBS_OK;
}

/* -------------------------------------------------------------- request */

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void
buf_wipe(struct buf *b)
{
	if (b->p != NULL)
		explicit_bzero(b->p, b->cap);
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	size_t cap;
	char *np;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap != 0 ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		/* No realloc: the old block holds secrets to wipe. */
		np = malloc(cap);
		if (np == NULL) {
			b->oom = true;
			return;
		}
		if (b->len > 0)
			memcpy(np, b->p, b->len);
		buf_wipe(b);
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* "&name=value", the value form-encoded. */
static void
form_add(struct buf *b, CURL *c, const char *name, const char *value)
{
	char *v = curl_easy_escape(c, value, 0);

	if (v == NULL) {
		b->oom = true;
		return;
	}
	if (b->len > 0)
		buf_add(b, "&", 1);
	buf_add(b, name, strlen(name));
	buf_add(b, "=", 1);
	buf_add(b, v, strlen(v));
	explicit_bzero(v, strlen(v));
	curl_free(v);
}

static size_t
on_answer(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	if (b->len + size * n > OAUTH_ANSWER_MAX)
		return 0; /* too long: the transfer fails */
	buf_add(b, data, size * n);
	return b->oom ? 0 : size * n;
}

/* Printable ASCII only, at most 200 characters, and nothing of ours. */
static void
describe(const struct oauth_token *t, const char *in, char *out, size_t cap)
{
	const char *secrets[] = {
	    t->client_secret, t->refresh_token, t->access};
	size_t i, o = 0;

	for (i = 0; in[i] != '\0' && o + 1 < cap && i < 200; i++)
		out[o++] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[o] = '\0';
	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		if (secrets[i] != NULL && strstr(in, secrets[i]) != NULL)
			snprintf(out, cap, "(withheld: it quotes a secret)");
}

/* A refusal (HTTP 400/401): permanent. */
static int
refused(
    struct oauth_token *t, long code, json_t *answer, char *err, size_t errlen)
{
	const char *e = json_string_value(json_object_get(answer, "error"));
	const char *d =
	    json_string_value(json_object_get(answer, "error_description"));
	char es[64], ds[256];

	describe(t, e != NULL ? e : "no error code", es, sizeof(es));
	describe(t, d != NULL ? d : "", ds, sizeof(ds));
	if (e != NULL && strcmp(e, "invalid_grant") == 0 &&
	    !t->client_credentials)
		snprintf(t->refusal, sizeof(t->refusal),
		    "oauth2: the token endpoint refused the refresh token "
		    "(invalid_grant%s%s): it was revoked or has expired; "
		    "configure a new one",
		    ds[0] != '\0' ? ": " : "", ds);
	else
		snprintf(t->refusal, sizeof(t->refusal),
		    "oauth2: the token endpoint refused the %s grant (HTTP "
		    "%ld, %s%s%s): check client_id, client_secret and scope",
		    t->client_credentials ? "client_credentials"
					  : "refresh_token",
		    code, es, ds[0] != '\0' ? ": " : "", ds);
	t->refused = true;
	snprintf(err, errlen, "%s", t->refusal);
	return DBS_EAUTH;
}

/* Take the token out of a 200 answer. */
static int
accept_answer(struct oauth_token *t, json_t *answer, char *err, size_t errlen)
{
	const char *tok =
	    json_string_value(json_object_get(answer, "access_token"));
	const char *rot =
	    json_string_value(json_object_get(answer, "refresh_token"));
	json_t *exp = json_object_get(answer, "expires_in");
	double life = OAUTH_DEFAULT_LIFETIME, margin;
	char *a, *r = NULL;
	size_t i;

	if (tok == NULL || tok[0] == '\0') {
		snprintf(err, errlen,
		    "oauth2: the token endpoint's answer has no access_token");
		return DBS_ETRANSPORT;
	}
	for (i = 0; tok[i] != '\0'; i++)
		if (tok[i] < 0x21 || tok[i] > 0x7e) {
			snprintf(err, errlen,
			    "oauth2: the access token holds characters a "
			    "SASL login cannot carry");
			return DBS_ETRANSPORT;
		}
	if (json_is_number(exp))
		life = json_number_value(exp);
	else if (json_is_string(exp))
		life = strtod(json_string_value(exp), NULL);
	if (life < 1)
		life = 1;
	margin = life / 4 < 60 ? life / 4 : 60;
	a = strdup(tok);
	if (rot != NULL && rot[0] != '\0' && !t->client_credentials)
		r = strdup(rot);
	if (a == NULL || (rot != NULL && rot[0] != '\0' &&
			     !t->client_credentials && r == NULL)) {
		cred_free(a);
		cred_free(r);
		return DBS_ENOMEM;
	}
	cred_free(t->access);
	t->access = a;
	if (r != NULL) {
		/* A rotated refresh token replaces ours (in memory only). */
		cred_free(t->refresh_token);
		t->refresh_token = r;
	}
	t->renew_at = now_s() + life - margin;
	t->generation++;
	return DBS_OK;
}

/* POST the grant; wipes everything it sent and received. */
static int
ask(struct oauth_token *t, char *err, size_t errlen)
{
	struct buf body = {0}, answer = {0};
	char cerr[CURL_ERROR_SIZE] = "";
	json_t *j = NULL;
	long code = 0;
	CURLcode cc;
	CURL *c;
	int rc;

	c = curl_easy_init();
	if (c == NULL)
		return DBS_ENOMEM;
	form_add(&body, c, "grant_type",
	    t->client_credentials ? "client_credentials" : "refresh_token");
	form_add(&body, c, "client_id", t->client_id);
	if (t->client_secret != NULL)
		form_add(&body, c, "client_secret", t->client_secret);
	if (t->refresh_token != NULL)
		form_add(&body, c, "refresh_token", t->refresh_token);
	if (t->scope != NULL)
		form_add(&body, c, "scope", t->scope);
	if (body.oom) {
		rc = DBS_ENOMEM;
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, t->token_url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.p);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body.len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_answer);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, t->timeout_s);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, t->timeout_s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	/* The system's CAs: token endpoints are public services. */
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "oauth2: %s: %s", t->token_url,
		    cerr[0] != '\0' ? cerr : curl_easy_strerror(cc));
		rc = DBS_ETRANSPORT;
		goto out;
	}
	if (!answer.oom && answer.len > 0)
		j = json_loadb(answer.p, answer.len, 0, NULL);
	if (code == 400 || code == 401)
		rc = refused(t, code, j, err, errlen);
	else if (code != 200) {
		snprintf(err, errlen,
		    "oauth2: the token endpoint answered HTTP %ld", code);
		rc = DBS_ETRANSPORT;
	} else if (!json_is_object(j)) {
		snprintf(err, errlen,
		    "oauth2: the token endpoint's answer is not a JSON "
		    "object");
		rc = DBS_ETRANSPORT;
	} else
		rc = accept_answer(t, j, err, errlen);
out:
	if (j != NULL) {
		/* Its strings held the tokens: overwrite them in place. */
		const char *k;
		json_t *v;

		json_object_foreach(j, k, v) if (json_is_string(v))
		    explicit_bzero(
			(char *)json_string_value(v), json_string_length(v));
		json_decref(j);
	}
	buf_wipe(&body);
	buf_wipe(&answer);
	curl_easy_cleanup(c);
	return rc;
}

/* ---------------------------------------------------------------- public */

int
oauth_get(struct oauth_token *t, const char **token, uint64_t *generation,
    char *err, size_t errlen)
{
	int rc;

	*token = NULL;
	if (t->refused) {
		snprintf(err, errlen, "%s", t->refusal);
		return DBS_EAUTH;
	}
	if (t->access == NULL || now_s() >= t->renew_at) {
		rc = ask(t, err, errlen);
		if (rc != DBS_OK)
			return rc;
	}
	*token = t->access;
	if (generation != NULL)
		*generation = t->generation;
	return DBS_OK;
}

void
oauth_forget(struct oauth_token *t)
{
	cred_free(t->access);
	t->access = NULL;
}

const char *
oauth_login_options(const struct oauth_token *t)
{
	return t->oauthbearer ? "AUTH=OAUTHBEARER" : "AUTH=XOAUTH2";
}
