/*
 * api_hooks.c — POST /hooks/{client}/{definition}: webhook intake.
 *
 * This route has no session and needs no Origin: a delivery is
 * authenticated by its HMAC signature, which databusd checks (it holds the
 * secret; the web never sees it). The handler forwards the raw body and
 * the request headers as a DrvWebhook control request and answers from
 * databusd's reply: 202 once the passenger is durably seated (with
 * "duplicate": true for a redelivery), 401 for a missing or bad signature
 * and, with the same body, for an unknown client, definition or a
 * definition without a webhook puller (so that nobody without a secret
 * learns which webhooks exist), 413 over the puller's max_body (once the
 * signature holds), 503 while databusd cannot take it.
 *
 * Webhooks come in bursts and each one waits for a group commit, so they
 * do not go through the small blocking thread pool: each request is one
 * nng context on a REQ socket shared by all hooks, driven by an nng aio
 * callback (send, then receive), and the reply is handed back to the loop
 * thread through an h2o multithread queue. Thousands of deliveries can be
 * in flight at once with no thread per request.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "dbs_limits.h"
#include "web.h"
#include "wire.h"

#define HOOK_TIMEOUT_MS   10000
#define HOOK_MAX_HEADERS  100
#define HOOK_MAX_INFLIGHT 4096
/* A 429 for a client over a quota is held this long before it goes out,
 * for at most HOOK_TARPIT_MAX deliveries at once (then at once): a
 * sender that resends as soon as it is refused then costs a few requests
 * a second, not thousands, and the other clients keep the machine. */
#define HOOK_TARPIT_MS  250
#define HOOK_TARPIT_MAX 1024

/* One delivery in flight. */
struct hook_call {
	h2o_multithread_message_t msg; /* back to the loop thread */
	h2o_req_t *req;                /* NULL once the client has gone */
	void *link;                    /* in the request's pool */
	nng_ctx ctx;
	nng_aio *aio;
	bool receiving;
	int rc;         /* of the transport */
	nng_msg *reply; /* on rc DBS_OK */
	uint64_t id;
};

struct call_link {
	struct hook_call *call;
};

/* A 429 being held (in the request's pool). */
struct tarpit {
	h2o_timeout_entry_t entry;
	h2o_req_t *req;
	const char *code, *message;
	bool done; /* sent, or the request went first */
};

static struct {
	bool ready;
	nng_socket sock;
	h2o_multithread_queue_t *mq;
	h2o_multithread_receiver_t back;
	size_t inflight;
	h2o_timeout_t tarpit_timeout;
	size_t tarpitted;
} hooks;

/* nng thread: the send finished (then receive), or the receive did. */
static void
on_aio(void *arg)
{
	struct hook_call *c = arg;
	int rv = nng_aio_result(c->aio);

	if (rv == 0 && !c->receiving) {
		c->receiving = true;
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	if (rv != 0) {
		if (!c->receiving)
			nng_msg_free(nng_aio_get_msg(c->aio));
		c->rc = rv == NNG_ETIMEDOUT ? DBS_ETIMEOUT : DBS_ETRANSPORT;
	} else {
		c->reply = nng_aio_get_msg(c->aio);
		c->rc = DBS_OK;
	}
	h2o_multithread_send_message(&hooks.back, &c->msg);
}

static void
link_disposed(void *p)
{
	struct call_link *l = p;

	if (l->call != NULL) {
		l->call->req = NULL;
		l->call->link = NULL;
	}
}

static int
status_of(int code, const char **name)
{
	switch (code) {
	case DBS_ENOTFOUND:
		*name = "not_found";
		return 404;
	case DBS_EAUTH:
		*name = "bad_signature";
		return 401;
	case DBS_ETOOBIG:
		*name = "too_large";
		return 413;
	case DBS_EINVAL:
		*name = "bad_request";
		return 400;
	default:
		*name = "unavailable";
		return 503;
	}
}

static void
tarpit_end(struct tarpit *t)
{
	if (t->done)
		return;
	t->done = true;
	if (h2o_timeout_is_linked(&t->entry))
		h2o_timeout_unlink(&t->entry);
	hooks.tarpitted--;
}

static void
tarpit_fire(h2o_timeout_entry_t *e)
{
	struct tarpit *t = H2O_STRUCT_FROM_MEMBER(struct tarpit, entry, e);
	h2o_req_t *req = t->req;

	tarpit_end(t);
	web_send_error(req, 429, t->code, t->message);
}

/* The client went before its 429 did. */
static void
tarpit_disposed(void *p)
{
	tarpit_end(p);
}

/* 429 for a client over a quota or its webhook rate (databusd's
 * quota.c), with Retry-After in whole seconds, rounded up; held for
 * HOOK_TARPIT_MS while fewer than HOOK_TARPIT_MAX are. */
static void
over_quota(h2o_req_t *req, const Dbs__ControlReply *r)
{
	char after[16];
	uint32_t s = (r->retry_after_ms + 999) / 1000;
	const char *code = strstr(r->message, "webhook_rate") != NULL
			       ? "rate_limited"
			       : "over_quota";
	struct tarpit *t;

	snprintf(after, sizeof(after), "%u", s > 0 ? s : 1);
	/* The header keeps a pointer: the text must live in the pool. */
	web_add_header(req, "retry-after",
	    h2o_strdup(&req->pool, after, strlen(after)).base);
	if (hooks.tarpitted >= HOOK_TARPIT_MAX) {
		web_send_error(req, 429, code, r->message);
		return;
	}
	t = h2o_mem_alloc_shared(&req->pool, sizeof(*t), tarpit_disposed);
	memset(t, 0, sizeof(*t));
	t->req = req;
	t->code = code;
	t->message = h2o_strdup(&req->pool, r->message, SIZE_MAX).base;
	t->entry.cb = tarpit_fire;
	hooks.tarpitted++;
	h2o_timeout_link(
	    req->conn->ctx->loop, &hooks.tarpit_timeout, &t->entry);
}

static void
answer(h2o_req_t *req, struct hook_call *c)
{
	Dbs__ControlReply *r;
	const char *name;
	json_t *doc;
	int status;

	if (c->rc != DBS_OK) {
		web_send_error(req, 503, "unavailable",
		    "databusd does not answer on the control socket");
		return;
	}
	r = (Dbs__ControlReply *)wire_unpack(
	    &dbs__control_reply__descriptor, c->reply);
	if (r == NULL || r->id != c->id) {
		if (r != NULL)
			dbs__control_reply__free_unpacked(r, NULL);
		web_send_error(req, 503, "unavailable",
		    "databusd sent a reply that does not decode");
		return;
	}
	if (r->code == DBS_EQUOTA) {
		over_quota(req, r);
		dbs__control_reply__free_unpacked(r, NULL);
		return;
	}
	if (r->code != DBS_OK || r->webhook == NULL) {
		status = status_of(
		    r->code != DBS_OK ? (int)r->code : DBS_EPROTO, &name);
		web_send_error(req, status, name,
		    r->message[0] != '\0' ? r->message
					  : dbs_strerror((int)r->code));
		dbs__control_reply__free_unpacked(r, NULL);
		return;
	}
	doc = json_pack("{s:I, s:b}", "id", (json_int_t)r->webhook->id,
	    "duplicate", r->webhook->duplicate);
	dbs__control_reply__free_unpacked(r, NULL);
	web_send_json(req, 202, doc);
}

/* Loop thread: finished calls. */
static void
on_back(h2o_multithread_receiver_t *recv, h2o_linklist_t *messages)
{
	(void)recv;
	while (!h2o_linklist_is_empty(messages)) {
		struct hook_call *c = H2O_STRUCT_FROM_MEMBER(
		    struct hook_call, msg.link, messages->next);

		h2o_linklist_unlink(&c->msg.link);
		if (c->link != NULL)
			((struct call_link *)c->link)->call = NULL;
		if (c->req != NULL)
			answer(c->req, c);
		nng_msg_free(c->reply);
		nng_ctx_close(c->ctx);
		nng_aio_free(c->aio);
		free(c);
		hooks.inflight--;
	}
}

/* Loop thread, first delivery: the shared socket and the way back. */
static int
hooks_start(h2o_req_t *req)
{
	const char *url = web_control_url(web_of(req));

	if (hooks.ready)
		return DBS_OK;
	if (nng_req0_open(&hooks.sock) != 0)
		return DBS_ETRANSPORT;
	/* Control requests are not idempotent: never resend. Dial in the
	 * background so a databusd that is restarting is reached later. */
	if (wire_socket_limits(hooks.sock, HOOK_TIMEOUT_MS) != DBS_OK ||
	    nng_socket_set_ms(
		hooks.sock, NNG_OPT_REQ_RESENDTIME, 3600 * 1000) != 0 ||
	    nng_dial(hooks.sock, url, NULL, NNG_FLAG_NONBLOCK) != 0) {
		nng_close(hooks.sock);
		return DBS_ETRANSPORT;
	}
	h2o_timeout_init(
	    req->conn->ctx->loop, &hooks.tarpit_timeout, HOOK_TARPIT_MS);
	hooks.mq = h2o_multithread_create_queue(req->conn->ctx->loop);
	h2o_multithread_register_receiver(hooks.mq, &hooks.back, on_back);
	hooks.ready = true;
	return DBS_OK;
}

/* A header value as printable ASCII for databusd: bytes outside
 * 0x20-0x7e, and '%' itself, become %XX, so that two different values
 * never become one (a delivery id with a non-ASCII byte stays distinct). */
static char *
escaped(const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out, *o;
	size_t i;

	if ((out = malloc(3 * len + 1)) == NULL)
		return NULL;
	for (i = 0, o = out; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f || c == '%') {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		} else
			*o++ = (char)c;
	}
	*o = '\0';
	return out;
}

/* Header names are tokens: anything else is dropped. */
static bool
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* The DrvWebhook request, packed. */
static nng_msg *
pack_request(h2o_req_t *req, const char *client, const char *name, uint64_t id)
{
	Dbs__ControlRequest creq = DBS__CONTROL_REQUEST__INIT;
	Dbs__DrvWebhook wh = DBS__DRV_WEBHOOK__INIT;
	Dbs__KeyValue kv[HOOK_MAX_HEADERS], *kvp[HOOK_MAX_HEADERS];
	char *strs[2 * HOOK_MAX_HEADERS];
	size_t n = 0, ns = 0, i;
	nng_msg *msg = NULL;

	for (i = 0; i < req->headers.size && n < HOOK_MAX_HEADERS; i++) {
		const h2o_header_t *h = &req->headers.entries[i];
		char *k, *v;

		/* Credentials of a browser are no business of databusd. */
		if (h2o_lcstris(
			h->name->base, h->name->len, H2O_STRLIT("cookie")) ||
		    h2o_lcstris(h->name->base, h->name->len,
			H2O_STRLIT("authorization")))
			continue;
		k = strndup(h->name->base, h->name->len);
		v = escaped(h->value.base, h->value.len);
		if (k == NULL || v == NULL || !printable(k)) {
			free(k);
			free(v);
			continue;
		}
		strs[ns++] = k;
		strs[ns++] = v;
		dbs__key_value__init(&kv[n]);
		kv[n].key = k;
		kv[n].value = v;
		kvp[n] = &kv[n];
		n++;
	}
	wh.client = (char *)client;
	wh.definition = (char *)name;
	wh.n_headers = n;
	wh.headers = kvp;
	wh.body.data = (uint8_t *)req->entity.base;
	wh.body.len = req->entity.base != NULL ? req->entity.len : 0;
	creq.id = id;
	creq.actor = "web:hook";
	creq.verb_case = DBS__CONTROL_REQUEST__VERB_WEBHOOK;
	creq.webhook = &wh;
	if (nng_msg_alloc(&msg, 0) == 0 &&
	    wire_append(msg, &creq.base) != DBS_OK) {
		nng_msg_free(msg);
		msg = NULL;
	}
	for (i = 0; i < ns; i++)
		free(strs[i]);
	return msg;
}

int
web_api_hook(h2o_req_t *req, const struct web_args *a)
{
	const char *client = a->any[0].base, *name = a->any[1].base;
	size_t clen = a->any[0].len, nlen = a->any[1].len;
	char c[65], d[65];
	struct hook_call *call;
	struct call_link *l;
	nng_msg *msg;

	if (!web_valid_name(client, clen) || !web_valid_name(name, nlen))
		return web_send_error(
		    req, 401, "bad_signature", "missing or bad signature");
	memcpy(c, client, clen);
	c[clen] = '\0';
	memcpy(d, name, nlen);
	d[nlen] = '\0';
	if (req->entity.len > DBS_WEBHOOK_MAX_BODY)
		return web_send_error(
		    req, 413, "too_large", "the body is too large");
	if (hooks_start(req) != DBS_OK)
		return web_send_error(
		    req, 503, "unavailable", "cannot open the control socket");
	if (hooks.inflight >= HOOK_MAX_INFLIGHT)
		return web_send_error(req, 503, "busy", "server busy");
	if ((call = calloc(1, sizeof(*call))) == NULL)
		return web_send_error(req, 503, "busy", "out of memory");
	randombytes_buf(&call->id, sizeof(call->id));
	call->id |= 1;
	if ((msg = pack_request(req, c, d, call->id)) == NULL) {
		free(call);
		return web_send_error(req, 503, "busy", "out of memory");
	}
	if (nng_ctx_open(&call->ctx, hooks.sock) != 0 ||
	    nng_aio_alloc(&call->aio, on_aio, call) != 0) {
		nng_ctx_close(call->ctx);
		nng_msg_free(msg);
		free(call);
		return web_send_error(req, 503, "busy", "out of resources");
	}
	nng_ctx_set_ms(call->ctx, NNG_OPT_REQ_RESENDTIME, 3600 * 1000);
	nng_aio_set_timeout(call->aio, HOOK_TIMEOUT_MS);
	l = h2o_mem_alloc_shared(&req->pool, sizeof(*l), link_disposed);
	l->call = call;
	call->req = req;
	call->link = l;
	hooks.inflight++;
	nng_aio_set_msg(call->aio, msg);
	nng_ctx_send(call->ctx, call->aio);
	return 0;
}
