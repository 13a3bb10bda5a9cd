/*
 * live.c — GET /api/v1/events: the live-update websocket.
 *
 * databusd appends every committed change to the store's event log and
 * publishes "committed up to seq N" on ipc://<data>/run/events. This file
 * subscribes to that hint, reads the new events from the store once (one
 * read-only transaction), renders each one once into a complete websocket
 * frame, and hands a reference to that frame to every socket allowed to see
 * it (root: everything; other users: their own client's events and the
 * system's, user events for administrators only). The protocol (hello,
 * event, resync, heartbeat frames; close codes 4401 and 4403) is described
 * in docs/web.md, "Live updates".
 *
 * Threads: the SUB socket's receive callback runs on an nng thread; it only
 * writes to an eventfd that the loop watches, so everything else — the
 * store, the sockets, the frames — belongs to the loop thread. The hint is
 * just that: on any hint (or on the 250 ms tick, in case a hint was lost)
 * the hub reads everything after the last seq it fanned out.
 *
 * Writes: the upgrade is h2o's (h2o_http1_upgrade, with the accept key of
 * <h2o/websocket.h>), incoming frames are parsed by wslay (which also
 * answers pings and closes), but event frames bypass wslay's copying
 * queue: a server frame is not masked, so its bytes are the same for every
 * socket, and each socket writes up to EV_IOV_MAX shared frames with one
 * writev.
 *
 * Memory is bounded per socket. A socket follows the hub ("live") while
 * what it has queued stays under EV_BUDGET_BYTES. Past that it stops taking
 * frames from the hub and, once its queue has drained to half, reads the
 * events it missed from the store itself — the same path as a resume with
 * `since` — so a slow browser costs at most its budget and loses nothing;
 * only when the event log no longer reaches back is it sent `resync`.
 * All sockets together hold at most EV_TOTAL_BYTES. Catching up reuses the
 * frames of recent events (a small cache by seq) rather than rendering
 * them once per socket.
 *
 * Sessions: every 250 ms one read transaction checks the session of every
 * open socket; a socket whose session was logged out, revoked or expired
 * gets close code 4401 (and its TCP connection is cut at most a second
 * later if the close frame cannot be written).
 *
 * The system state without the store: while a store error (a full disk)
 * pauses intake nothing commits, so databusd also publishes the system
 * state itself on the events socket (supervisor/system_live.c). The nng
 * thread decodes it into a slot under a mutex; the loop hands each change
 * to every socket as an event frame without "seq" (it is in no log).
 */
#include <malloc.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <h2o/websocket.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <openssl/sha.h>

#include "dbs_error.h"
#include "record_json.h"
#include "web.h"
#include "wire.h"

#define EV_BUDGET_BYTES  (1u << 20)  /* queued per socket, at most */
#define EV_TOTAL_BYTES   (64u << 20) /* queued over all sockets */
#define EV_BUDGET_FRAMES 4096
#define EV_IOV_MAX       64           /* frames per writev */
#define EV_WRITE_BYTES   (256u << 10) /* per writev, unless one frame */
#define EV_READ_MAX      2048         /* events the hub reads per turn */
#define EV_CATCHUP_MAX   256          /* events a socket reads per turn */
#define EV_TICK_MS       250
#define EV_HEARTBEAT_MS  15000
#define EV_CLOSE_GRACE   1000 /* ms to write a close frame, then cut */
#define EV_CACHE_SLOTS   1024 /* recent frames kept for catching up */
#define EV_CACHE_BYTES   (4u << 20)
#define EV_CACHE_FRAME   (64u << 10) /* bigger frames are not kept */
#define EV_SOCKETS_MAX   4096
#define EV_RECV_MAX      4096 /* the browser sends nothing but control */
#define EV_HINT_MAX      (64u << 10) /* a hint, or a SystemState */
#define EV_SYSTEM_MAX    (32u << 10) /* a packed SystemState, at most */

#define EV_STOP_DELAY_MS 500 /* after SIGTERM, until the sockets close */

#define CLOSE_GOING_AWAY 1001
#define CLOSE_SESSION    4401

/* One rendered frame, shared by every socket it is queued on. */
struct ev_frame {
	unsigned refs;
	size_t len;
	uint8_t b[]; /* websocket frame header, then the JSON text */
};

struct ev_conn {
	h2o_linklist_t link; /* in hub.conns */
	struct hub *hub;
	h2o_socket_t *sock;
	wslay_event_context_ptr ws;
	struct wslay_event_callbacks cbs;
	struct web_session session;
	uint64_t seq; /* every event up to this one is queued or filtered */
	bool live;    /* takes frames from the hub (seq == hub.seq) */
	/* frames waiting to be written: a ring */
	struct ev_frame **q;
	size_t q_head, q_len, q_cap, q_bytes;
	/* the writev in flight */
	struct ev_frame *out[EV_IOV_MAX];
	size_t n_out, out_bytes;
	bool writing;
	/* control frames produced by wslay (pong, close): pending, in flight
	 */
	uint8_t *ctl, *ctl_out;
	size_t ctl_len, ctl_cap, ctl_out_cap;
	bool closing;         /* no more events; close after the close frame */
	uint16_t drain_close; /* close with this code once the queue is out */
	int64_t close_by_ms;  /* cut the connection then */
	int64_t last_sent_ms; /* for heartbeats */
	bool want_system;     /* gets hub.sys_live when it goes live */
	bool greeted;         /* its first frame (hello) is written */
	/* A system state that jumped the queue of a socket behind the hub
	 * supersedes the stored system events up to this seq: catching up
	 * skips them rather than show an older state after the newer. */
	uint64_t sys_seq;
};

struct hub {
	h2o_loop_t *loop;
	struct store *st;
	h2o_linklist_t conns;
	size_t n_conns;
	uint64_t seq; /* last event read from the store and fanned out */
	size_t bytes; /* queued and in flight, summed over the sockets */
	nng_socket sub;
	nng_aio *aio;
	int efd;
	h2o_socket_t *efd_sock;
	h2o_timeout_t tick_timeout, now_timeout;
	h2o_timeout_entry_t tick, again;
	int64_t stop_at_ms; /* monotonic; 0: not stopping */
	bool stopped;       /* every socket was told to go */
	/* The last system state handed out (a packed SystemState, from the
	 * log or from databusd directly), and while databusd says intake is
	 * paused, the frame that said so, for sockets that open meanwhile. */
	uint8_t sys[EV_SYSTEM_MAX];
	size_t sys_len;
	struct ev_frame *sys_live;
};

static struct hub hub;

/* The newest system state from databusd, not yet seen by the loop: the nng
 * thread writes it, the loop takes it. */
static struct {
	pthread_mutex_t lock;
	uint8_t b[EV_SYSTEM_MAX];
	size_t len;
	bool fresh;
} sys_slot = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void conn_free(struct ev_conn *c);
static void kick(struct ev_conn *c);
static void pump(struct ev_conn *c);
static void system_offer(struct ev_conn *c);
static void system_stored(const Dbs__Event *ev);

/* --------------------------------------------------------------- frames */

static struct ev_frame *
frame_new(const char *text, size_t n)
{
	size_t hl = n < 126 ? 2 : n < 65536 ? 4 : 10;
	struct ev_frame *f = malloc(sizeof(*f) + hl + n);

	if (f == NULL)
		return NULL;
	f->refs = 1;
	f->len = hl + n;
	f->b[0] = 0x81; /* FIN, text */
	if (hl == 2) {
		f->b[1] = (uint8_t)n;
	} else if (hl == 4) {
		f->b[1] = 126;
		f->b[2] = (uint8_t)(n >> 8);
		f->b[3] = (uint8_t)n;
	} else {
		f->b[1] = 127;
		for (int i = 0; i < 8; i++)
			f->b[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
	}
	memcpy(f->b + hl, text, n);
	return f;
}

/* Consumes doc. */
static struct ev_frame *
frame_json(json_t *doc)
{
	struct ev_frame *f = NULL;
	char *text;

	if (doc == NULL)
		return NULL;
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (text != NULL)
		f = frame_new(text, strlen(text));
	free(text);
	return f;
}

static void
frame_unref(struct ev_frame *f)
{
	if (f != NULL && --f->refs == 0)
		free(f);
}

/* {"type": type, "seq": seq} plus, for hello, "oldest". */
static struct ev_frame *
frame_notice(const char *type, uint64_t seq, bool with_oldest, uint64_t oldest)
{
	json_t *o =
	    json_pack("{s:s, s:I}", "type", type, "seq", (json_int_t)seq);

	if (o != NULL && with_oldest)
		json_object_set_new(
		    o, "oldest", json_integer((json_int_t)oldest));
	return frame_json(o);
}

static bool
is_list(int kind)
{
	return kind == DBS__EVENT_KIND__EV_CREATE_LIST ||
	       kind == DBS__EVENT_KIND__EV_UPDATE_LIST ||
	       kind == DBS__EVENT_KIND__EV_DELETE_LIST;
}

/* A growing text, filled by json_dump_callback. */
struct text {
	char *p;
	size_t len, cap;
};

static int
text_add(const char *s, size_t n, void *arg)
{
	struct text *t = arg;

	if (t->len + n > t->cap) {
		size_t cap = (t->len + n) * 2;
		char *p = realloc(t->p, cap);

		if (p == NULL)
			return -1;
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	return 0;
}

/*
 * A queue item list (up to STORE_EVENT_LIST_MAX bytes of records) is
 * written one passenger at a time, so that only one passenger's JSON tree
 * exists at once instead of thousands: the frame is the only large
 * allocation. Same JSON as the other events.
 */
static struct ev_frame *
frame_list(const Dbs__Event *ev)
{
	Dbs__PassengerList *l =
	    dbs__passenger_list__unpack(NULL, ev->data.len, ev->data.data);
	struct ev_frame *f = NULL;
	struct text t = {NULL, 0, 0};
	json_t *head;
	int bad;

	if (l == NULL)
		return NULL;
	head = json_pack("{s:s, s:I, s:o, s:s, s:s, s:I}", "type", "event",
	    "seq", (json_int_t)ev->seq, "client", rj_string(ev->client),
	    "resource", rj_resource_name(ev->resource), "kind",
	    rj_event_kind_name(ev->kind), "time", (json_int_t)ev->time_ms);
	bad = head == NULL ||
	      json_dump_callback(head, text_add, &t, JSON_COMPACT) != 0 ||
	      t.len < 2;
	json_decref(head);
	if (!bad) {
		t.len--; /* reopen the object */
		bad = text_add(",\"data\":{\"items\":[",
		    strlen(",\"data\":{\"items\":["), &t);
	}
	for (size_t i = 0; !bad && i < l->n_items; i++) {
		json_t *p = rj_passenger(l->items[i]);

		bad = p == NULL || (i > 0 && text_add(",", 1, &t) != 0) ||
		      json_dump_callback(p, text_add, &t, JSON_COMPACT) != 0;
		json_decref(p);
	}
	if (!bad && text_add("]}}", 3, &t) == 0)
		f = frame_new(t.p, t.len);
	free(t.p);
	dbs__passenger_list__free_unpacked(l, NULL);
	return f;
}

/*
 * The contract's form of an event: rj_event's object with "type":"event",
 * "time" in milliseconds, and list data as {"items": [...]}. NULL for an
 * event whose data does not decode (it is skipped, and said so).
 */
static struct ev_frame *
frame_event(const Dbs__Event *ev)
{
	json_t *o, *data;

	if (ev->resource == DBS__RESOURCE__RES_QUEUE_ITEM &&
	    is_list(ev->kind)) {
		struct ev_frame *f = frame_list(ev);

		if (f == NULL)
			fprintf(stderr,
			    "databus-web: event %llu does not decode; "
			    "skipped\n",
			    (unsigned long long)ev->seq);
		return f;
	}
	if ((o = rj_event(ev)) == NULL) {
		fprintf(stderr,
		    "databus-web: event %llu does not decode; skipped\n",
		    (unsigned long long)ev->seq);
		return NULL;
	}
	json_object_set_new(o, "type", json_string("event"));
	json_object_set_new(o, "time", json_integer((json_int_t)ev->time_ms));
	data = json_object_get(o, "data");
	if (is_list(ev->kind) && json_is_array(data))
		json_object_set_new(
		    o, "data", json_pack("{s:O}", "items", data));
	return frame_json(o);
}

/*
 * Recently rendered event frames by seq: sockets that catch up (a resume
 * after a network blip, a slow socket) mostly need the events the hub has
 * just rendered, so they take these instead of each rendering the same
 * events again. Bounded by EV_CACHE_BYTES; big list frames are not kept.
 */
static struct {
	uint64_t seq;
	struct ev_frame *f;
} cache[EV_CACHE_SLOTS];
static size_t cache_bytes;

/* The frame of `ev` (a new reference), from the cache or rendered. */
static struct ev_frame *
frame_for(const Dbs__Event *ev)
{
	size_t i = (size_t)(ev->seq % EV_CACHE_SLOTS);
	struct ev_frame *f;

	if (cache[i].f != NULL && cache[i].seq == ev->seq) {
		cache[i].f->refs++;
		return cache[i].f;
	}
	if ((f = frame_event(ev)) == NULL)
		return NULL;
	if (cache[i].f != NULL) {
		cache_bytes -= cache[i].f->len;
		frame_unref(cache[i].f);
		cache[i].f = NULL;
	}
	if (f->len <= EV_CACHE_FRAME &&
	    cache_bytes + f->len <= EV_CACHE_BYTES) {
		cache[i].seq = ev->seq;
		cache[i].f = f;
		f->refs++;
		cache_bytes += f->len;
	}
	return f;
}

/* ---------------------------------------------------------- visibility */

static bool
visible(const struct ev_conn *c, const Dbs__Event *ev)
{
	if (c->session.role == DBS__ROLE__ROLE_ROOT)
		return true;
	if (ev->resource == DBS__RESOURCE__RES_USER &&
	    c->session.role < DBS__ROLE__ROLE_ADMINISTRATOR)
		return false;
	if (ev->client[0] == '\0')
		return ev->resource == DBS__RESOURCE__RES_SYSTEM;
	return strcmp(ev->client, c->session.client) == 0;
}

/* -------------------------------------------------------------- queues */

static void
q_clear(struct ev_conn *c)
{
	while (c->q_len > 0) {
		frame_unref(c->q[c->q_head]);
		c->q_head = (c->q_head + 1) % c->q_cap;
		c->q_len--;
	}
	c->q_head = 0;
	hub.bytes -= c->q_bytes;
	c->q_bytes = 0;
}

/* Whether a socket must take no more frames now: its own budget is used
 * up, or all sockets together hold EV_TOTAL_BYTES and it has something
 * to write already (so that thousands of slow sockets cannot add up to
 * gigabytes; they read from the store when they have drained). */
static bool
q_full(const struct ev_conn *c)
{
	size_t mine = c->q_bytes + c->out_bytes;

	return mine >= EV_BUDGET_BYTES || c->q_len >= EV_BUDGET_FRAMES ||
	       (hub.bytes >= EV_TOTAL_BYTES && mine > 0);
}

/* Room for one more frame in the ring. */
static bool
q_room(struct ev_conn *c)
{
	size_t cap;
	struct ev_frame **q;

	if (c->q_len < c->q_cap)
		return true;
	cap = c->q_cap ? c->q_cap * 2 : 16;
	if ((q = malloc(cap * sizeof(*q))) == NULL)
		return false;
	for (size_t i = 0; i < c->q_len; i++)
		q[i] = c->q[(c->q_head + i) % c->q_cap];
	free(c->q);
	c->q = q;
	c->q_cap = cap;
	c->q_head = 0;
	return true;
}

static void
q_count(struct ev_conn *c, struct ev_frame *f)
{
	c->q_len++;
	c->q_bytes += f->len;
	hub.bytes += f->len;
	f->refs++;
}

/* Queue a reference to f (the caller keeps its own). */
static bool
q_push(struct ev_conn *c, struct ev_frame *f)
{
	if (!q_room(c))
		return false;
	c->q[(c->q_head + c->q_len) % c->q_cap] = f;
	q_count(c, f);
	return true;
}

/* Queue f to be written next, ahead of what waits, budget or not: a
 * system state is small and rare, and a browser that is seconds behind
 * on passengers' events must still learn at once that intake stopped. */
static bool
q_push_front(struct ev_conn *c, struct ev_frame *f)
{
	if (!q_room(c))
		return false;
	c->q_head = (c->q_head + c->q_cap - 1) % c->q_cap;
	c->q[c->q_head] = f;
	q_count(c, f);
	return true;
}

static struct ev_frame *
q_pop(struct ev_conn *c)
{
	struct ev_frame *f = c->q[c->q_head];

	c->q_head = (c->q_head + 1) % c->q_cap;
	c->q_len--;
	c->q_bytes -= f->len;
	return f;
}

/* Queue a notice frame of our own (hello, resync, heartbeat). */
static void
notice(struct ev_conn *c, const char *type, bool with_oldest, uint64_t oldest)
{
	struct ev_frame *f = frame_notice(type, c->seq, with_oldest, oldest);

	if (f == NULL || !q_push(c, f)) {
		frame_unref(f);
		/* Out of memory: cut it at the next tick; it reconnects. */
		c->closing = true;
		c->live = false;
		c->close_by_ms = wire_mono_ms();
		return;
	}
	frame_unref(f);
}

/* The log no longer holds what this socket needs: forget its queue, tell
 * the browser to refetch, and follow the hub from now on. */
static void
resync(struct ev_conn *c)
{
	q_clear(c);
	c->seq = hub.seq;
	c->live = true;
	notice(c, "resync", false, 0);
	system_offer(c);
}

/* -------------------------------------------------------------- writes */

static ssize_t
ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
    int flags, void *arg)
{
	struct ev_conn *c = arg;

	(void)ctx;
	(void)flags;
	if (c->ctl_len + len > c->ctl_cap) {
		size_t cap = (c->ctl_len + len) * 2;
		uint8_t *p = realloc(c->ctl, cap);

		if (p == NULL) {
			wslay_event_set_error(
			    c->ws, WSLAY_ERR_CALLBACK_FAILURE);
			return -1;
		}
		c->ctl = p;
		c->ctl_cap = cap;
	}
	memcpy(c->ctl + c->ctl_len, data, len);
	c->ctl_len += len;
	return (ssize_t)len;
}

static ssize_t
ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
    void *arg)
{
	struct ev_conn *c = arg;
	h2o_buffer_t *in = c->sock->input;

	(void)ctx;
	(void)flags;
	if (in->size == 0) {
		wslay_event_set_error(c->ws, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (len > in->size)
		len = in->size;
	memcpy(buf, in->bytes, len);
	h2o_buffer_consume(&c->sock->input, len);
	return (ssize_t)len;
}

static void
ws_msg(wslay_event_context_ptr ctx,
    const struct wslay_event_on_msg_recv_arg *a, void *arg)
{
	/* Pings and closes are answered by wslay; text from the browser
	 * means nothing here and is ignored. */
	(void)ctx;
	(void)a;
	(void)arg;
}

static void
release_out(struct ev_conn *c)
{
	for (size_t i = 0; i < c->n_out; i++)
		frame_unref(c->out[i]);
	c->n_out = 0;
	hub.bytes -= c->out_bytes;
	c->out_bytes = 0;
}

static void
on_written(h2o_socket_t *sock, const char *err)
{
	struct ev_conn *c = sock->data;

	c->writing = false;
	release_out(c);
	if (err != NULL || wslay_event_get_close_sent(c->ws)) {
		conn_free(c);
		return;
	}
	pump(c);
	kick(c);
}

/* Start a write of what is pending, unless one is in flight. Never frees
 * the connection (write callbacks run later, from the loop). */
static void
kick(struct ev_conn *c)
{
	h2o_iovec_t iov[EV_IOV_MAX + 1];
	size_t n = 0;

	if (c->sock == NULL || c->writing)
		return;
	if (c->drain_close != 0 && c->q_len == 0 && !c->closing) {
		c->closing = true;
		c->close_by_ms = wire_mono_ms() + EV_CLOSE_GRACE;
		(void)wslay_event_queue_close(c->ws, c->drain_close,
		    (const uint8_t *)"server stopping", 15);
	}
	if (wslay_event_want_write(c->ws))
		(void)wslay_event_send(c->ws);
	if (c->ctl_len > 0) {
		uint8_t *p = c->ctl_out;
		size_t cap = c->ctl_out_cap;

		/* Swap: wslay fills one buffer while the other is sent. */
		c->ctl_out = c->ctl;
		c->ctl_out_cap = c->ctl_cap;
		c->ctl = p;
		c->ctl_cap = cap;
		iov[n++] = h2o_iovec_init(c->ctl_out, c->ctl_len);
		c->ctl_len = 0;
	}
	if (!wslay_event_get_close_sent(c->ws) && !c->closing)
		while (n < EV_IOV_MAX && c->q_len > 0 &&
		       (c->out_bytes == 0 ||
			   c->out_bytes + c->q[c->q_head]->len <=
			       EV_WRITE_BYTES)) {
			struct ev_frame *f = q_pop(c);

			c->greeted = true;
			c->out[c->n_out++] = f;
			c->out_bytes += f->len;
			iov[n++] = h2o_iovec_init(f->b, f->len);
		}
	if (n == 0)
		return;
	c->writing = true;
	c->last_sent_ms = wire_mono_ms();
	h2o_socket_write(c->sock, iov, n, on_written);
}

/* Close the socket with `code` (4401: the session ended). */
static void
conn_close(struct ev_conn *c, uint16_t code, const char *why)
{
	if (c->closing)
		return;
	q_clear(c);
	c->closing = true;
	c->live = false;
	c->close_by_ms = wire_mono_ms() + EV_CLOSE_GRACE;
	(void)wslay_event_queue_close(
	    c->ws, code, (const uint8_t *)why, strlen(why));
	kick(c);
}

static void
conn_free(struct ev_conn *c)
{
	if (c == NULL)
		return;
	if (h2o_linklist_is_linked(&c->link)) {
		h2o_linklist_unlink(&c->link);
		hub.n_conns--;
	}
	if (c->sock != NULL)
		h2o_socket_close(c->sock);
	release_out(c);
	q_clear(c);
	free(c->q);
	free(c->ctl);
	free(c->ctl_out);
	if (c->ws != NULL)
		wslay_event_context_free(c->ws);
	free(c);
}

/* ---------------------------------------------------------- catching up */

struct catchup {
	struct ev_conn *c;
	uint64_t upto;
	bool gap;
};

static int
catchup_one(void *arg, const Dbs__Event *ev)
{
	struct catchup *k = arg;
	struct ev_conn *c = k->c;
	struct ev_frame *f;

	if (ev->seq > k->upto)
		return 1;
	if (ev->seq != c->seq + 1) {
		k->gap = true;
		return 1;
	}
	if (visible(c, ev) &&
	    !(ev->resource == DBS__RESOURCE__RES_SYSTEM &&
		ev->seq <= c->sys_seq) &&
	    (f = frame_for(ev)) != NULL) {
		bool ok = q_push(c, f);

		frame_unref(f);
		if (!ok)
			return 1;
	}
	c->seq = ev->seq;
	return q_full(c) ? 1 : 0;
}

/*
 * A socket behind the hub (resuming with `since`, or slow) reads what it
 * missed from the store, EV_CATCHUP_MAX events at a time, while its queue
 * is under half its budget; when it has reached the hub it goes live.
 */
static void
pump(struct ev_conn *c)
{
	struct store_txn *txn;
	struct catchup k = {c, 0, false};
	int rc;

	if (c->closing || c->drain_close != 0)
		return;
	while (!c->live && c->q_bytes + c->out_bytes < EV_BUDGET_BYTES / 2 &&
	       c->q_len < EV_BUDGET_FRAMES / 2 && !q_full(c)) {
		uint64_t before = c->seq;

		if (c->seq >= hub.seq) {
			c->seq = hub.seq;
			c->live = true;
			system_offer(c);
			break;
		}
		if (store_txn_begin(hub.st, false, &txn) != DBS_OK)
			return; /* the tick tries again */
		k.upto = hub.seq;
		rc = store_event_list(
		    txn, c->seq, EV_CATCHUP_MAX, catchup_one, &k);
		store_txn_abort(txn);
		if (k.gap || (rc == DBS_OK && c->seq == before)) {
			/* Trimmed away meanwhile. */
			resync(c);
			break;
		}
		if (c->seq == before)
			return; /* a store error, or no memory: the tick
				   retries */
	}
}

/* --------------------------------------------------------------- fan-out */

static int
fan_one(void *arg, const Dbs__Event *ev)
{
	size_t *n = arg;
	struct ev_frame *f = NULL;
	bool rendered = false;
	h2o_linklist_t *l;

	if (ev->seq != hub.seq + 1) {
		/* The log was trimmed past the hub (it fell behind): every
		 * live socket missed what lay in between. */
		hub.seq = ev->seq - 1;
		for (l = hub.conns.next; l != &hub.conns; l = l->next) {
			struct ev_conn *c =
			    H2O_STRUCT_FROM_MEMBER(struct ev_conn, link, l);

			if (c->live && !c->closing)
				resync(c);
		}
	}
	for (l = hub.conns.next; l != &hub.conns; l = l->next) {
		struct ev_conn *c =
		    H2O_STRUCT_FROM_MEMBER(struct ev_conn, link, l);

		if (!c->live || c->closing)
			continue;
		c->seq = ev->seq;
		if (!visible(c, ev))
			continue;
		if (!rendered) {
			f = frame_for(ev);
			rendered = true;
		}
		if (f == NULL)
			continue;
		if (q_full(c) || !q_push(c, f)) {
			/* Too slow: stop following the hub; it reads this
			 * event again from the store once it has drained. */
			c->seq = ev->seq - 1;
			c->live = false;
		}
	}
	frame_unref(f);
	hub.seq = ev->seq;
	if (ev->resource == DBS__RESOURCE__RES_SYSTEM)
		system_stored(ev);
	(*n)++;
	return 0;
}

/* Read what was committed after hub.seq, once, and hand it out. */
static void
fan_out(void)
{
	struct store_txn *txn;
	uint64_t first = 0, last = 0;
	size_t n = 0;
	h2o_linklist_t *l;
	int rc;

	if (store_txn_begin(hub.st, false, &txn) != DBS_OK)
		return;
	rc = store_event_range(txn, &first, &last);
	if (rc == DBS_OK && last > hub.seq)
		rc = store_event_list(txn, hub.seq, EV_READ_MAX, fan_one, &n);
	store_txn_abort(txn);
	(void)first;
	if (rc == DBS_OK && last > hub.seq &&
	    !h2o_timeout_is_linked(&hub.again))
		h2o_timeout_link(hub.loop, &hub.now_timeout, &hub.again);
	if (n == 0)
		return;
	for (l = hub.conns.next; l != &hub.conns; l = l->next)
		kick(H2O_STRUCT_FROM_MEMBER(struct ev_conn, link, l));
}

static void
on_again(h2o_timeout_entry_t *e)
{
	(void)e;
	fan_out();
}

/* ------------------------------------------- system state, not stored */

/*
 * {"type":"event","client":"","resource":"system","kind":"update",
 *  "time":ms,"data":{...}}: a stored system event's frame without "seq",
 * since it is in no log (the browser's resume point stays where it is).
 */
static struct ev_frame *
frame_system(const Dbs__SystemState *ss)
{
	return frame_json(json_pack("{s:s, s:s, s:s, s:s, s:I, s:o}", "type",
	    "event", "client", "", "resource", "system", "kind", "update",
	    "time", (json_int_t)wire_now_ms(), "data",
	    rj_system_state_public(ss)));
}

static void
system_remember(const uint8_t *b, size_t len)
{
	if (len > sizeof(hub.sys))
		len = 0; /* cannot compare: the next one counts as a change */
	memcpy(hub.sys, b, len);
	hub.sys_len = len;
}

/* A system event came from the log: it says the newest state (the one
 * databusd publishes when intake resumes is then no change); if intake is
 * paused, it is also what a socket opened meanwhile gets after hello. */
static void
system_stored(const Dbs__Event *ev)
{
	Dbs__SystemState *ss =
	    dbs__system_state__unpack(NULL, ev->data.len, ev->data.data);

	system_remember(ev->data.data, ev->data.len);
	frame_unref(hub.sys_live);
	hub.sys_live = NULL;
	if (ss != NULL && ss->intake_paused)
		hub.sys_live = frame_system(ss);
	if (ss != NULL)
		dbs__system_state__free_unpacked(ss, NULL);
}

/* A socket that is live again (after a replay, or a full queue) takes
 * the state that came while it was behind: the replayed events are older
 * than it. Called when it goes live and on every tick. */
static void
system_offer(struct ev_conn *c)
{
	if (!c->want_system || !c->live || c->closing || c->drain_close != 0 ||
	    q_full(c))
		return;
	c->want_system = false;
	if (hub.sys_live != NULL) {
		(void)q_push(c, hub.sys_live);
	} else if (c->sys_seq != 0 && hub.sys_len > 0) {
		/* A state jumped its queue and the replay skipped the stored
		 * ones before it: end on the newest, whatever it says. */
		Dbs__SystemState *ss =
		    dbs__system_state__unpack(NULL, hub.sys_len, hub.sys);
		struct ev_frame *f = ss != NULL ? frame_system(ss) : NULL;

		if (f != NULL)
			(void)q_push(c, f);
		frame_unref(f);
		if (ss != NULL)
			dbs__system_state__free_unpacked(ss, NULL);
	}
	c->sys_seq = 0;
}

/*
 * The loop's half: take the newest state databusd published and, if it
 * differs from the last one handed out, send it to every socket (system
 * events are visible to every user). A socket that is replaying older
 * events gets it when it has caught up.
 */
static void
system_fan_out(void)
{
	static uint8_t b[EV_SYSTEM_MAX];
	Dbs__SystemState *ss;
	struct ev_frame *f;
	size_t len = 0;
	bool paused;
	h2o_linklist_t *l;

	pthread_mutex_lock(&sys_slot.lock);
	if (sys_slot.fresh) {
		memcpy(b, sys_slot.b, sys_slot.len);
		len = sys_slot.len;
		sys_slot.fresh = false;
	}
	pthread_mutex_unlock(&sys_slot.lock);
	if (len == 0 || (len == hub.sys_len && memcmp(b, hub.sys, len) == 0))
		return;
	if ((ss = dbs__system_state__unpack(NULL, len, b)) == NULL) {
		fprintf(stderr, "databus-web: a system state from databusd "
				"does not decode; skipped\n");
		return;
	}
	f = frame_system(ss);
	paused = ss->intake_paused;
	dbs__system_state__free_unpacked(ss, NULL);
	if (f == NULL)
		return; /* out of memory: the next one (250 ms) counts */
	system_remember(b, len);
	frame_unref(hub.sys_live);
	hub.sys_live = NULL;
	if (paused) {
		hub.sys_live = f;
		f->refs++;
	}
	for (l = hub.conns.next; l != &hub.conns; l = l->next) {
		struct ev_conn *c =
		    H2O_STRUCT_FROM_MEMBER(struct ev_conn, link, l);

		if (c->closing || c->drain_close != 0)
			continue;
		if (!c->live || q_full(c) || !q_push(c, f)) {
			/* Behind (or about to be): it jumps the queue now, and
			 * the newest state comes again when it is live. */
			c->want_system = true;
			if (c->greeted && q_push_front(c, f)) {
				c->sys_seq = hub.seq;
				kick(c);
			}
			continue;
		}
		c->want_system = false;
		kick(c);
	}
	frame_unref(f);
}

/* On the nng thread: keep a system state databusd published (a Dbs__Event
 * with a SystemState as data; a commit hint has seq only) for the loop. */
static void
system_take(const uint8_t *body, size_t len)
{
	Dbs__Event *ev = dbs__event__unpack(NULL, len, body);

	if (ev == NULL)
		return;
	if (ev->resource == DBS__RESOURCE__RES_SYSTEM && ev->data.len > 0 &&
	    ev->data.len <= EV_SYSTEM_MAX) {
		pthread_mutex_lock(&sys_slot.lock);
		memcpy(sys_slot.b, ev->data.data, ev->data.len);
		sys_slot.len = ev->data.len;
		sys_slot.fresh = true;
		pthread_mutex_unlock(&sys_slot.lock);
	}
	dbs__event__free_unpacked(ev, NULL);
}

/* The nng thread's half: keep a published system state, wake the loop.
 * Nothing else happens here. */
static void
on_hint(void *arg)
{
	uint64_t one = 1;
	int rv = nng_aio_result(hub.aio);

	(void)arg;
	if (rv == 0) {
		nng_msg *m = nng_aio_get_msg(hub.aio);

		system_take(nng_msg_body(m), nng_msg_len(m));
		nng_msg_free(m);
	}
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
		return;
	/* EAGAIN: the counter is full, so the loop is woken anyway. */
	(void)!write(hub.efd, &one, sizeof(one));
	nng_recv_aio(hub.sub, hub.aio);
}

/* The eventfd is watched without h2o reading it (like a listener), so it
 * is drained here; otherwise it would stay readable and spin the loop. */
static void
on_wake(h2o_socket_t *sock, const char *err)
{
	uint64_t n;

	(void)sock;
	if (err != NULL)
		return;
	while (read(hub.efd, &n, sizeof(n)) == (ssize_t)sizeof(n))
		;
	fan_out();
	system_fan_out(); /* after the stored events it follows */
}

/* ----------------------------------------------------------------- tick */

static bool
session_alive(struct store_txn *txn, const struct ev_conn *c, int64_t now)
{
	Dbs__Session *s = NULL;
	bool ok;
	int rc;

	rc = store_session_get(
	    txn, c->session.hash, sizeof(c->session.hash), &s);
	if (rc != DBS_OK)
		return rc != DBS_ENOTFOUND; /* a store error: ask again */
	ok = s->expires_ms > now;
	dbs__session__free_unpacked(s, NULL);
	return ok;
}

static void
on_tick(h2o_timeout_entry_t *e)
{
	struct store_txn *txn = NULL;
	int64_t now = wire_now_ms(), mono = wire_mono_ms();
	h2o_linklist_t *l, *next;

	(void)e;
	h2o_timeout_link(hub.loop, &hub.tick_timeout, &hub.tick);
	fan_out(); /* in case a hint was lost */
	system_fan_out();
	if (hub.stop_at_ms != 0 && mono >= hub.stop_at_ms && !hub.stopped) {
		/* Stopping: what was committed meanwhile (databusd's own
		 * "shutting down") went out just above; each socket closes
		 * with 1001 once its queue is written, and the browser
		 * resumes with since when the server is back. */
		hub.stopped = true;
		for (l = hub.conns.next; l != &hub.conns; l = l->next) {
			struct ev_conn *c =
			    H2O_STRUCT_FROM_MEMBER(struct ev_conn, link, l);

			c->live = false;
			c->drain_close = CLOSE_GOING_AWAY;
		}
	}
	if (hub.n_conns > 0 && store_txn_begin(hub.st, false, &txn) != DBS_OK)
		txn = NULL;
	for (l = hub.conns.next; l != &hub.conns; l = next) {
		struct ev_conn *c =
		    H2O_STRUCT_FROM_MEMBER(struct ev_conn, link, l);

		next = l->next;
		if (c->closing) {
			if (mono >= c->close_by_ms)
				conn_free(c);
			continue;
		}
		if (txn != NULL && !session_alive(txn, c, now)) {
			conn_close(c, CLOSE_SESSION, "session ended");
			continue;
		}
		if (!c->live)
			pump(c);
		system_offer(c);
		if (c->q_len == 0 && !c->writing &&
		    mono - c->last_sent_ms >= EV_HEARTBEAT_MS)
			notice(c, "heartbeat", false, 0);
		kick(c);
	}
	store_txn_abort(txn);
}

/* ------------------------------------------------------------- the route */

static void
on_read(h2o_socket_t *sock, const char *err)
{
	struct ev_conn *c = sock->data;

	if (err != NULL || wslay_event_recv(c->ws) != 0) {
		conn_free(c);
		return;
	}
	if (wslay_event_get_close_received(c->ws) && !c->closing) {
		/* The browser closes: wslay has queued the reply. */
		q_clear(c);
		c->closing = true;
		c->live = false;
		c->close_by_ms = wire_mono_ms() + EV_CLOSE_GRACE;
	}
	kick(c);
}

struct upgrade {
	struct ev_conn *c;
	uint64_t since;
	bool has_since;
};

static void
on_upgraded(void *arg, h2o_socket_t *sock, size_t reqsize)
{
	struct upgrade *u = arg;
	struct ev_conn *c = u->c;
	struct store_txn *txn;
	uint64_t oldest = 0, last = 0;

	if (sock == NULL) {
		free(u);
		conn_free(c);
		return;
	}
	c->sock = sock;
	sock->data = c;
	h2o_buffer_consume(&sock->input, reqsize);
	fan_out(); /* be current before choosing where this socket starts */
	if (store_txn_begin(hub.st, false, &txn) == DBS_OK) {
		(void)store_event_range(txn, &oldest, &last);
		store_txn_abort(txn);
	}
	c->seq = hub.seq;
	c->live = true;
	c->want_system = true; /* databusd's own word, if intake is paused */
	notice(c, "hello", true, oldest);
	if (u->has_since && u->since != hub.seq) {
		if (u->since > hub.seq || oldest == 0 ||
		    u->since + 1 < oldest) {
			/* The log no longer reaches back (or the seq is from
			 * another store): refetch, then go on from here. */
			notice(c, "resync", false, 0);
		} else {
			/* Replay (since, hub.seq] from the log first. */
			c->seq = u->since;
			c->live = false;
			pump(c);
		}
	}
	if (c->live)
		system_offer(c);
	free(u);
	h2o_linklist_insert(&hub.conns, &c->link);
	hub.n_conns++;
	h2o_socket_read_start(sock, on_read);
	if (sock->input->size > 0)
		on_read(sock, NULL); /* frames sent right after the request */
	else
		kick(c);
}

/* Sec-WebSocket-Accept (RFC 6455 4.2.2): base64(SHA-1(key + GUID)).
 * libh2o-evloop declares h2o_websocket_create_accept_key but does not
 * export it. */
static void
accept_key(char dst[29], const char *key)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	uint8_t src[24 + sizeof(guid) - 1], sha[SHA_DIGEST_LENGTH];

	memcpy(src, key, 24);
	memcpy(src + 24, guid, sizeof(guid) - 1);
	SHA1(src, sizeof(src), sha);
	h2o_base64_encode(dst, sha, sizeof(sha), 0);
	dst[28] = '\0';
}

int
web_api_events(h2o_req_t *req, const struct web_args *a)
{
	struct web_session s;
	struct upgrade *u;
	struct ev_conn *c;
	const char *key = NULL;
	char num[32], accept[29];
	bool bad;

	(void)a;
	if (!web_same_origin(req))
		return web_send_error(req, 403, "forbidden_origin",
		    "the event stream is for pages of this origin only");
	if (!web_session_require(req, &s))
		return 0;
	if (h2o_is_websocket_handshake(req, &key) != 0 || key == NULL ||
	    req->version >= 0x200)
		return web_send_error(req, 400, "websocket_required",
		    "this resource is a websocket (HTTP/1.1 upgrade)");
	if (hub.st == NULL || hub.stop_at_ms != 0)
		return web_send_error(
		    req, 503, "unavailable", "live updates are not running");
	if (hub.n_conns >= EV_SOCKETS_MAX)
		return web_send_error(
		    req, 503, "busy", "too many live sockets");
	u = calloc(1, sizeof(*u));
	c = calloc(1, sizeof(*c));
	if (u == NULL || c == NULL) {
		free(u);
		free(c);
		return web_send_error(req, 500, "internal", "out of memory");
	}
	u->c = c;
	if (web_query_param(req, "since", num, sizeof(num), &bad)) {
		if (!web_parse_u64(num, &u->since)) {
			free(u);
			free(c);
			return web_bad_param(req, "invalid since");
		}
		u->has_since = true;
	} else if (bad) {
		free(u);
		free(c);
		return web_bad_param(req, "invalid since");
	}
	c->hub = &hub;
	c->session = s;
	c->last_sent_ms = wire_mono_ms();
	c->cbs.recv_callback = ws_recv;
	c->cbs.send_callback = ws_send;
	c->cbs.on_msg_recv_callback = ws_msg;
	if (wslay_event_context_server_init(&c->ws, &c->cbs, c) != 0) {
		free(u);
		free(c);
		return web_send_error(req, 500, "internal", "out of memory");
	}
	wslay_event_config_set_max_recv_msg_length(c->ws, EV_RECV_MAX);
	accept_key(accept, key);
	req->res.status = 101;
	req->res.reason = "Switching Protocols";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_UPGRADE, NULL,
	    H2O_STRLIT("websocket"));
	h2o_add_header_by_str(&req->pool, &req->res.headers,
	    H2O_STRLIT("sec-websocket-accept"), 0, NULL, accept,
	    strlen(accept));
	h2o_http1_upgrade(req, NULL, 0, on_upgraded, u);
	return 0;
}

/* ---------------------------------------------------------------- start */

void
web_events_stop(void)
{
	if (hub.stop_at_ms == 0)
		hub.stop_at_ms = wire_mono_ms() + EV_STOP_DELAY_MS;
}

size_t
web_events_open(void)
{
	return hub.conns.next == NULL ? 0 : hub.n_conns;
}

void
web_events_each_socket(void (*cb)(const char *client, void *arg), void *arg)
{
	h2o_linklist_t *l;

	if (hub.conns.next == NULL)
		return; /* not started */
	for (l = hub.conns.next; l != &hub.conns; l = l->next)
		cb(H2O_STRUCT_FROM_MEMBER(struct ev_conn, link, l)
			->session.client,
		    arg);
}

int
web_events_start(h2o_loop_t *loop, struct store *st, const char *data_dir)
{
	struct store_txn *txn;
	char url[4200];
	int rc;

	hub.loop = loop;
	h2o_linklist_init_anchor(&hub.conns);
	/* Frames of big lists are megabytes: a fixed mmap threshold gives
	 * them back to the system when they are freed, instead of letting
	 * glibc's adaptive threshold keep them on the heap after a burst. */
	(void)mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	if ((rc = store_txn_begin(st, false, &txn)) != DBS_OK)
		return rc;
	rc = store_event_range(txn, NULL, &hub.seq);
	store_txn_abort(txn);
	if (rc != DBS_OK)
		return rc;
	if ((hub.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		return DBS_EIO;
	snprintf(url, sizeof(url), "ipc://%s/run/events", data_dir);
	if (nng_sub0_open(&hub.sub) != 0 ||
	    nng_socket_set(hub.sub, NNG_OPT_SUB_SUBSCRIBE, "", 0) != 0 ||
	    nng_socket_set_size(hub.sub, NNG_OPT_RECVMAXSZ, EV_HINT_MAX) !=
		0 ||
	    nng_aio_alloc(&hub.aio, on_hint, NULL) != 0 ||
	    nng_dial(hub.sub, url, NULL, NNG_FLAG_NONBLOCK) != 0)
		return DBS_ETRANSPORT;
	hub.efd_sock =
	    h2o_evloop_socket_create(loop, hub.efd, H2O_SOCKET_FLAG_DONT_READ);
	h2o_socket_read_start(hub.efd_sock, on_wake);
	h2o_timeout_init(loop, &hub.tick_timeout, EV_TICK_MS);
	h2o_timeout_init(loop, &hub.now_timeout, 0);
	hub.tick.cb = on_tick;
	hub.again.cb = on_again;
	h2o_timeout_link(loop, &hub.tick_timeout, &hub.tick);
	hub.st = st;
	nng_recv_aio(hub.sub, hub.aio);
	return DBS_OK;
}
