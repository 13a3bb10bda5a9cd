/*
 * framing.c — strict HTTP/1 message framing: a request whose length a
 * proxy in front of us could read differently than h2o does (the
 * primitives of request smuggling, RFC 9112 §6.1 and §6.3) answers 400
 * and ends its connection; the requests before it on that connection are
 * answered as usual.
 *
 * Refused: two Content-Length headers with different values, a
 * Content-Length that is not 1 to 19 digits, Content-Length together with
 * Transfer-Encoding, a Transfer-Encoding other than exactly "chunked"
 * (any case, at most one space or tab before it, nothing after) or given
 * twice, obsolete line folding, and a head that picohttpparser refuses
 * (whitespace before a header's colon, control characters, ...), which h2o
 * would refuse with its own text answer.
 *
 * Where. h2o 2.2.5 keeps Content-Length, Transfer-Encoding and Host out of
 * req->headers and never shows a handler the raw head, so the check sits
 * under h2o, on the bytes of each connection as they are read. h2o's
 * shared library calls h2o_socket_read_start through its PLT; this file
 * defines that function, so the dynamic linker binds h2o's calls to ours,
 * and forwards to the library's (dlsym RTLD_NEXT). For a socket that
 * main.c's on_accept registered (web_framing_watch) it installs its own
 * read callback, which hands the bytes just read to the checker and then
 * calls h2o's callback. Each read callback gets sock->bytes_read set to
 * the number of plaintext bytes that read appended to sock->input (2.2.5
 * sets the count of this read, not a total, whatever socket.h says); the
 * plaintext that TLS decoded while finishing the handshake reaches
 * sock->input without a read callback, and is checked when h2o starts
 * reading HTTP. The per-socket state hangs on sock->on_close, the
 * application's slot (h2o's own server uses it the same way), which also
 * frees it.
 *
 * Same boundaries as h2o. The checker parses with the parser h2o uses,
 * from the same library: phr_parse_request on each head (with h2o's limit
 * H2O_MAX_REQLEN and its last_len), h2o_strtosize's digits for a
 * Content-Length body, phr_decode_chunked (on a copy: it decodes in place)
 * with trailers consumed, for a chunked one. It needs no buffer of its
 * own: the bytes of a head not yet complete stay in sock->input, intact
 * (h2o consumes a request only after answering it, and its chunked decoder
 * moves the bytes after a body, unchanged, to follow the decoded body), so
 * the head starts at (stream bytes since its start) before the end of
 * sock->input. When h2o will refuse something itself (a head over
 * H2O_MAX_REQLEN, a broken chunk), and after a request with an Upgrade
 * header, "PRI * HTTP/2.0" or ALPN h2, the connection is no longer HTTP/1
 * framed by us: checking stops. A request answered while checking is off
 * because of an Upgrade that was not taken ends its connection
 * (web_framing_route), so no unchecked request follows it.
 *
 * The answer. A refused head is complete and h2o has parsed none of it
 * (it parses a head only when it is complete). It is replaced, in
 * sock->input, by a head that h2o refuses itself in the way that answers
 * and closes: Transfer-Encoding "refused" makes h2o send 400 with
 * H2O_SEND_ERROR_HTTP1_CLOSE_CONNECTION, through limits.c's filter (our
 * JSON error body with the security headers), whose message is the reason
 * recorded here (web_framing_reason). Everything after it is cut off, and
 * later reads of that connection are dropped. The earlier requests in
 * sock->input are untouched and answered first, in order, as h2o always
 * does. The replacement is at least as long as what h2o already scanned of
 * that head (picohttpparser resumes its search for the end of a head at
 * last_len - 3, so a shorter head would be searched past its end). Writing
 * our own 400 instead would race h2o's answers to the requests in flight
 * and its own close; this way h2o keeps its order and its life cycle.
 *
 * Memory: a small state per connection, freed with the socket; a chunk
 * copy of SCRATCH bytes on the stack.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"

/* picohttpparser, exported by libh2o-evloop (2.2.5) but without its
 * header: declared as that version defines them. The decoder gets spare
 * room, in case a later layout is longer. */
struct phr_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};
struct phr_chunked_decoder {
	size_t bytes_left_in_chunk;
	char consume_trailer;
	char _hex_count;
	char _state;
	char spare[64];
};
int phr_parse_request(const char *buf, size_t len, const char **method,
    size_t *method_len, const char **path, size_t *path_len,
    int *minor_version, struct phr_header *headers, size_t *num_headers,
    size_t last_len);
ssize_t phr_decode_chunked(
    struct phr_chunked_decoder *decoder, char *buf, size_t *bufsz);

#define SCRATCH 4096

enum framing_state {
	F_HEAD,     /* reading a request head */
	F_LENGTH,   /* a Content-Length body: body_left bytes to go */
	F_CHUNKED,  /* a chunked body */
	F_OFF,      /* not checked any more (upgrade, HTTP/2, h2o refuses) */
	F_REJECTED, /* a request was refused: later bytes are dropped */
};

struct framing {
	h2o_socket_cb cb; /* h2o's read callback */
	enum framing_state state;
	bool upgraded;      /* F_OFF because of an Upgrade header */
	const char *reason; /* why the connection was refused */
	uint64_t fed;       /* bytes of the stream checked so far */
	uint64_t head_at;   /* stream offset of the current request */
	size_t head_seen;   /* bytes of its head already parsed (last_len) */
	uint64_t body_left;
	struct phr_chunked_decoder dec;
};

/* ------------------------------------------------------------ the head */

static bool
is_name(const struct phr_header *h, const char *name)
{
	return h->name != NULL &&
	       h2o_lcstris(h->name, h->name_len, name, strlen(name));
}

/* 1..19 digits; the value in *v. */
static bool
parse_length(const char *s, size_t len, uint64_t *v)
{
	size_t i;

	if (len == 0 || len > 19)
		return false;
	*v = 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (uint64_t)(s[i] - '0');
	}
	return true;
}

/* Exactly "chunked", any case, at most one space or tab between the
 * colon and it (picohttpparser drops them; a proxy may not). */
static bool
is_chunked(const struct phr_header *h)
{
	size_t gap = (size_t)(h->value - (h->name + h->name_len + 1));

	return h->value_len != 0 && gap <= 1 &&
	       h2o_lcstris(h->value, h->value_len, H2O_STRLIT("chunked"));
}

/* The verdict on a complete head: NULL and the body to expect in f, or
 * the reason it is refused. */
static const char *
judge_head(struct framing *f, const struct phr_header *h, size_t n)
{
	uint64_t len = 0, v;
	size_t i, n_len = 0, n_te = 0;
	bool upgrade = false;

	for (i = 0; i < n; i++) {
		if (h[i].name == NULL)
			return "obsolete line folding in the request head";
		if (is_name(&h[i], "content-length")) {
			if (!parse_length(h[i].value, h[i].value_len, &v))
				return "Content-Length must be digits";
			if (n_len++ > 0 && v != len)
				return "two different Content-Length headers";
			len = v;
		} else if (is_name(&h[i], "transfer-encoding")) {
			if (n_te++ > 0)
				return "Transfer-Encoding given twice";
			if (!is_chunked(&h[i]))
				return "Transfer-Encoding must be exactly "
				       "chunked";
		} else if (is_name(&h[i], "upgrade"))
			upgrade = true;
	}
	if (n_len > 0 && n_te > 0)
		return "Content-Length together with Transfer-Encoding";
	if (upgrade) {
		f->state = F_OFF;
		f->upgraded = true;
	} else if (n_te > 0) {
		f->state = F_CHUNKED;
		memset(&f->dec, 0, sizeof(f->dec));
		f->dec.consume_trailer = 1;
	} else if (len > 0) {
		f->state = F_LENGTH;
		f->body_left = len;
	}
	return NULL;
}

static bool
crlf_only(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

enum verdict { V_MORE, V_NEXT, V_REJECT };

/* The head of the current request, from `off` in buf (it ends at
 * `size`): V_MORE when it is not complete yet (or checking stopped),
 * V_NEXT with *used its length, V_REJECT with f->reason. */
static enum verdict
check_head(
    struct framing *f, const char *buf, size_t off, size_t size, size_t *used)
{
	struct phr_header h[H2O_MAX_HEADERS];
	size_t n = H2O_MAX_HEADERS, mlen, plen;
	size_t len = size - off < H2O_MAX_REQLEN ? size - off : H2O_MAX_REQLEN;
	const char *m, *p;
	int minor, r;

	r = phr_parse_request(
	    buf + off, len, &m, &mlen, &p, &plen, &minor, h, &n, f->head_seen);
	if (r == -2) {
		if (len == H2O_MAX_REQLEN)
			f->state = F_OFF; /* h2o refuses it */
		else
			f->head_seen = len;
		return V_MORE;
	}
	if (r == -1) {
		/* HTTP/2 with prior knowledge, or CR/LF only (h2o closes). */
		if ((len >= 12 &&
			memcmp(buf + off, "PRI * HTTP/2", 12) == 0) ||
		    crlf_only(buf + off, len)) {
			f->state = F_OFF;
			return V_MORE;
		}
		f->reason = "malformed request head";
		return V_REJECT;
	}
	f->state = F_HEAD;
	if ((f->reason = judge_head(f, h, n)) != NULL)
		return V_REJECT;
	*used = (size_t)r;
	return V_NEXT;
}

/* ---------------------------------------------------------- the bodies */

/* Bytes of [buf, buf+len) that belong to the chunked body; sets F_HEAD
 * when it ends, F_OFF when h2o will refuse it. */
static size_t
check_chunked(struct framing *f, const char *buf, size_t len)
{
	char scratch[SCRATCH];
	size_t done = 0, piece, out;
	ssize_t r;

	while (done < len) {
		piece = len - done < SCRATCH ? len - done : SCRATCH;
		memcpy(scratch, buf + done, piece);
		out = piece;
		r = phr_decode_chunked(&f->dec, scratch, &out);
		if (r == -1) {
			f->state = F_OFF; /* h2o answers 400 and closes */
			return len;
		}
		if (r >= 0) {
			f->state = F_HEAD;
			return done + piece - (size_t)r;
		}
		done += piece;
	}
	return len;
}

/*
 * Check the last n bytes of buf[0, size), which the connection just read.
 * V_MORE when all is well so far; V_REJECT with *bad the offset in buf
 * where the refused request starts.
 */
static enum verdict
check(struct framing *f, const char *buf, size_t size, size_t n, size_t *bad)
{
	size_t i = size - n, take, used;
	uint64_t back;

	f->fed += n;
	while (i < size) {
		switch (f->state) {
		case F_HEAD:
			/* The head starts `back` bytes before the end. */
			back = f->fed - f->head_at;
			if (back > size) {
				f->reason = "lost the request boundaries";
				f->state = F_OFF;
				return V_REJECT;
			}
			*bad = size - (size_t)back;
			switch (check_head(f, buf, *bad, size, &used)) {
			case V_MORE:
				return V_MORE;
			case V_REJECT:
				return V_REJECT;
			case V_NEXT:
				i = *bad + used;
				break;
			}
			break;
		case F_LENGTH:
			take = size - i < f->body_left ? size - i
						       : (size_t)f->body_left;
			i += take;
			if ((f->body_left -= take) == 0)
				f->state = F_HEAD;
			break;
		case F_CHUNKED:
			i += check_chunked(f, buf + i, size - i);
			break;
		case F_OFF:
		case F_REJECTED:
			return V_MORE;
		}
		if (f->state == F_HEAD) {
			/* A new request starts at i. */
			f->head_at = f->fed - (size - i);
			f->head_seen = 0;
		}
	}
	return V_MORE;
}

/* ----------------------------------------------------------- the socket */

static void (*next_read_start)(h2o_socket_t *, h2o_socket_cb);

static void
on_close(void *data)
{
	free(data);
}

static struct framing *
framing_of(h2o_socket_t *sock)
{
	return sock != NULL && sock->on_close.cb == on_close
		   ? sock->on_close.data
		   : NULL;
}

/* Replace the refused request, from `at` in sock->input, with a head h2o
 * answers 400 and closes on; drop the rest. False when out of memory. */
static bool
replace(struct framing *f, h2o_socket_t *sock, size_t at)
{
	static const char pre[] = "GET /", post[] = " HTTP/1.1\r\n"
						    "transfer-encoding: "
						    "refused\r\n\r\n";
	size_t min = sizeof(pre) - 1 + sizeof(post) - 1;
	size_t len = f->head_seen + 1 > min ? f->head_seen + 1 : min;
	h2o_iovec_t room;

	sock->input->size = at;
	room = h2o_buffer_reserve(&sock->input, len);
	if (room.base == NULL)
		return false;
	memcpy(room.base, pre, sizeof(pre) - 1);
	memset(room.base + sizeof(pre) - 1, 'x', len - min);
	memcpy(room.base + len - (sizeof(post) - 1), post, sizeof(post) - 1);
	sock->input->size += len;
	f->state = F_REJECTED;
	return true;
}

/* Check the last n bytes of sock->input. False when the connection must
 * end at once (out of memory, or lost count). */
static bool
feed(struct framing *f, h2o_socket_t *sock, size_t n)
{
	h2o_iovec_t alpn;
	size_t bad = 0;

	if (f->state == F_REJECTED) {
		sock->input->size -= n;
		sock->bytes_read = 0;
		return true;
	}
	if (f->state == F_OFF || n == 0)
		return true;
	if (f->fed == 0 && sock->ssl != NULL) {
		alpn = h2o_socket_ssl_get_selected_protocol(sock);
		if (alpn.len >= 2 && memcmp(alpn.base, "h2", 2) == 0) {
			f->state = F_OFF;
			return true;
		}
	}
	if (check(f, sock->input->bytes, sock->input->size, n, &bad) == V_MORE)
		return true;
	return f->state != F_OFF && replace(f, sock, bad);
}

static void
on_read(h2o_socket_t *sock, const char *err)
{
	struct framing *f = framing_of(sock);
	h2o_socket_cb cb;

	if (f == NULL)
		abort(); /* installed only where the state is */
	cb = f->cb;
	if (err == NULL && !feed(f, sock, sock->bytes_read))
		err = "refused request framing";
	cb(sock, err); /* may close the socket, and free f */
}

/* h2o's, through its PLT: see the top of the file. */
void
h2o_socket_read_start(h2o_socket_t *sock, h2o_socket_cb cb)
{
	struct framing *f = framing_of(sock);

	if (next_read_start == NULL) {
		*(void **)&next_read_start =
		    dlsym(RTLD_NEXT, "h2o_socket_read_start");
		if (next_read_start == NULL) {
			fprintf(stderr,
			    "databus-web: no h2o_socket_read_start "
			    "in libh2o-evloop\n");
			abort();
		}
	}
	if (f == NULL || f->state == F_OFF) {
		next_read_start(sock, cb);
		return;
	}
	f->cb = cb;
	/* Plaintext that TLS decoded with the end of the handshake. h2o
	 * parses it right after this call; on failure it sees the head we
	 * put in its place, or nothing. */
	if (f->fed == 0 && sock->input->size != 0 &&
	    !feed(f, sock, sock->input->size)) {
		sock->input->size = 0;
		f->state = F_REJECTED;
	}
	next_read_start(sock, on_read);
}

bool
web_framing_watch(h2o_socket_t *sock)
{
	struct framing *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return false;
	sock->on_close.cb = on_close;
	sock->on_close.data = f;
	return true;
}

static struct framing *
framing_of_req(h2o_req_t *req)
{
	if (req->conn == NULL || req->conn->callbacks->get_socket == NULL)
		return NULL;
	return framing_of(req->conn->callbacks->get_socket(req->conn));
}

const char *
web_framing_reason(h2o_req_t *req)
{
	struct framing *f = framing_of_req(req);

	return f != NULL && f->state == F_REJECTED ? f->reason : NULL;
}

void
web_framing_route(h2o_req_t *req)
{
	struct framing *f = framing_of_req(req);

	/* Checking stopped at an Upgrade: unless it is taken, nothing
	 * after this request may be read as HTTP/1 unchecked. */
	if (f != NULL && f->upgraded)
		req->http1_is_persistent = 0;
}
