/*
 * imap_session.c — IMAP commands over a connection libcurl opened and
 * authenticated (see imap_session.h for why).
 *
 * The reader keeps one receive buffer. A response line that ends in a
 * literal marker "{N}" is followed by exactly N bytes of data, then the
 * rest of the response: literals are read by count, never scanned for
 * line ends, so no content of a message can be mistaken for protocol.
 */
#include "imap_session.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbs_error.h"

#define MAX_LINE (4u << 20) /* a SEARCH of a very large folder */

/* libcurl's connection, behind struct imap_transport. */
struct curl_conn {
	CURL *curl;
	curl_socket_t sock;
	long timeout_s;
};

struct imap_session {
	struct imap_transport t;
	size_t max_literal;
	char *buf; /* received, not yet consumed: buf[off, len) */
	size_t off, len, cap;
	unsigned tag;
	bool dead;
	/* One response being assembled. */
	char *text;
	size_t text_len, text_cap;
	struct imap_literal *lits;
	size_t n_lits, cap_lits;
};

static int
grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap != 0 ? *cap : 64;
	void *np;

	if (need <= *cap)
		return DBS_OK;
	while (ncap < need)
		ncap *= 2;
	np = realloc(*p, ncap * size);
	if (np == NULL)
		return DBS_ENOMEM;
	*p = np;
	*cap = ncap;
	return DBS_OK;
}

/* Wait until the socket is readable (or writable) within the timeout. */
static int
wait_sock(struct curl_conn *c, bool write)
{
	struct pollfd pfd = {
	    .fd = c->sock, .events = write ? POLLOUT : POLLIN};
	int rc;

	do
		rc = poll(&pfd, 1, (int)(c->timeout_s * 1000));
	while (rc < 0 && errno == EINTR);
	return rc > 0 ? DBS_OK : rc == 0 ? DBS_ETIMEOUT : DBS_ETRANSPORT;
}

static int
curl_conn_recv(
    void *arg, char *buf, size_t cap, size_t *n, char *err, size_t errlen)
{
	struct curl_conn *c = arg;
	CURLcode cc;
	int rc;

	for (;;) {
		*n = 0;
		cc = curl_easy_recv(c->curl, buf, cap, n);
		if (cc == CURLE_OK)
			return DBS_OK;
		if (cc != CURLE_AGAIN) {
			snprintf(err, errlen, "receive: %s",
			    curl_easy_strerror(cc));
			return DBS_ETRANSPORT;
		}
		rc = wait_sock(c, false);
		if (rc != DBS_OK) {
			snprintf(err, errlen, "%s waiting for the server",
			    rc == DBS_ETIMEOUT ? "timed out" : "poll failed");
			return rc;
		}
	}
}

static int
curl_conn_send(
    void *arg, const char *data, size_t len, char *err, size_t errlen)
{
	struct curl_conn *c = arg;
	size_t sent;
	CURLcode cc;

	while (len > 0) {
		cc = curl_easy_send(c->curl, data, len, &sent);
		if (cc == CURLE_AGAIN) {
			if (wait_sock(c, true) != DBS_OK) {
				snprintf(err, errlen, "send timed out");
				return DBS_ETRANSPORT;
			}
			continue;
		}
		if (cc != CURLE_OK) {
			snprintf(
			    err, errlen, "send: %s", curl_easy_strerror(cc));
			return DBS_ETRANSPORT;
		}
		data += sent;
		len -= sent;
	}
	return DBS_OK;
}

static void
curl_conn_close(void *arg, bool quick)
{
	struct curl_conn *c = arg;

	if (quick) {
		if (c->timeout_s > 2)
			c->timeout_s = 2; /* do not wait long for a goodbye */
		return;
	}
	curl_easy_cleanup(c->curl);
	free(c);
}

/* Read more bytes into the buffer. */
static int
fill(struct imap_session *s, char *err, size_t errlen)
{
	size_t n = 0;
	int rc;

	if (s->off > 0 && s->off == s->len)
		s->off = s->len = 0;
	if (s->off > 0 && s->len + 16384 > s->cap) {
		memmove(s->buf, s->buf + s->off, s->len - s->off);
		s->len -= s->off;
		s->off = 0;
	}
	if (grow((void **)&s->buf, &s->cap, s->len + 65536, 1) != DBS_OK)
		return DBS_ENOMEM;
	rc = s->t.recv(
	    s->t.arg, s->buf + s->len, s->cap - s->len, &n, err, errlen);
	if (rc != DBS_OK)
		return rc;
	if (n == 0) {
		snprintf(err, errlen, "the server closed the connection");
		return DBS_ETRANSPORT;
	}
	s->len += n;
	return DBS_OK;
}

/* The next line without its CRLF, NUL-terminated in place; valid until
 * the next read. */
static int
read_line(
    struct imap_session *s, char **line, size_t *len, char *err, size_t errlen)
{
	size_t scanned = 0;
	char *nl;
	int rc;

	for (;;) {
		/* Nothing buffered yet: buf may still be NULL. */
		nl = s->len > s->off + scanned
			 ? memchr(s->buf + s->off + scanned, '\n',
			       s->len - s->off - scanned)
			 : NULL;
		if (nl != NULL)
			break;
		scanned = s->len - s->off;
		if (scanned > MAX_LINE) {
			snprintf(err, errlen,
			    "a response line is longer than "
			    "%u bytes",
			    MAX_LINE);
			return DBS_ETRANSPORT;
		}
		rc = fill(s, err, errlen);
		if (rc != DBS_OK)
			return rc;
	}
	*line = s->buf + s->off;
	*len = (size_t)(nl - *line);
	s->off += *len + 1;
	if (*len > 0 && (*line)[*len - 1] == '\r')
		(*len)--;
	(*line)[*len] = '\0';
	return DBS_OK;
}

static int
text_add(struct imap_session *s, const char *p, size_t n)
{
	if (grow((void **)&s->text, &s->text_cap, s->text_len + n + 1, 1) !=
	    DBS_OK)
		return DBS_ENOMEM;
	memcpy(s->text + s->text_len, p, n);
	s->text_len += n;
	s->text[s->text_len] = '\0';
	return DBS_OK;
}

/* A line ending in "{N}" (or the non-synchronising "{N+}") announces a
 * literal of N bytes. */
static bool
literal_size(const char *line, size_t len, size_t *n)
{
	size_t i, end;
	unsigned long long v = 0;

	if (len < 3 || line[len - 1] != '}')
		return false;
	end = len - 1;
	if (line[end - 1] == '+')
		end--;
	for (i = end; i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9'; i--)
		;
	if (i == end || i == 0 || line[i - 1] != '{' || end - i > 12)
		return false;
	for (; i < end; i++)
		v = v * 10 + (unsigned)(line[i] - '0');
	*n = (size_t)v;
	return true;
}

/* Read N literal bytes: kept in a new allocation, or dropped when larger
 * than the session's limit. */
static int
read_literal(struct imap_session *s, size_t n, struct imap_literal *lit,
    char *err, size_t errlen)
{
	char *data = NULL;
	size_t got = 0, take;
	int rc;

	if (n <= s->max_literal) {
		data = malloc(n + 1);
		if (data == NULL)
			return DBS_ENOMEM;
	}
	while (got < n) {
		if (s->off == s->len) {
			rc = fill(s, err, errlen);
			if (rc != DBS_OK) {
				free(data);
				return rc;
			}
		}
		take = s->len - s->off;
		if (take > n - got)
			take = n - got;
		if (data != NULL)
			memcpy(data + got, s->buf + s->off, take);
		s->off += take;
		got += take;
	}
	if (data != NULL)
		data[n] = '\0';
	lit->data = data;
	lit->len = n;
	return DBS_OK;
}

static void
response_clear(struct imap_session *s)
{
	size_t i;

	for (i = 0; i < s->n_lits; i++)
		free((char *)s->lits[i].data);
	s->n_lits = 0;
	s->text_len = 0;
	if (s->text != NULL)
		s->text[0] = '\0';
}

int
imap_command(struct imap_session *s, const char *command, imap_untagged_fn fn,
    void *arg, char *err, size_t errlen)
{
	char tag[16], *line, *cmd = NULL;
	size_t len, taglen, n = 0;
	int rc, fn_rc = DBS_OK;

	if (s->dead) {
		snprintf(err, errlen, "the connection is closed");
		return DBS_ETRANSPORT;
	}
	snprintf(tag, sizeof(tag), "D%u", ++s->tag);
	taglen = strlen(tag);
	if (asprintf(&cmd, "%s %s\r\n", tag, command) < 0)
		return DBS_ENOMEM;
	rc = s->t.send(s->t.arg, cmd, strlen(cmd), err, errlen);
	free(cmd);
	while (rc == DBS_OK) {
		rc = read_line(s, &line, &len, err, errlen);
		if (rc != DBS_OK)
			break;
		if (len > taglen && strncmp(line, tag, taglen) == 0 &&
		    line[taglen] == ' ') {
			const char *status = line + taglen + 1;

			if (strncasecmp(status, "OK", 2) == 0)
				return fn_rc;
			snprintf(err, errlen, "%s: %s", command, status);
			return DBS_EDRIVER;
		}
		if (line[0] == '+') {
			snprintf(
			    err, errlen, "unexpected continuation: %s", line);
			rc = DBS_ETRANSPORT;
			break;
		}
		/* An untagged response, with its literals. */
		response_clear(s);
		for (;;) {
			bool lit = literal_size(line, len, &n);

			rc = text_add(s, line, len);
			if (rc != DBS_OK || !lit)
				break;
			rc = grow((void **)&s->lits, &s->cap_lits,
			    s->n_lits + 1, sizeof(*s->lits));
			if (rc == DBS_OK)
				rc = read_literal(
				    s, n, &s->lits[s->n_lits], err, errlen);
			if (rc != DBS_OK)
				break;
			s->n_lits++;
			rc = read_line(s, &line, &len, err, errlen);
			if (rc != DBS_OK)
				break;
		}
		if (rc != DBS_OK)
			break;
		if (strncasecmp(s->text, "* BYE", 5) == 0) {
			snprintf(err, errlen,
			    "the server closed the session: %s", s->text);
			rc = DBS_ETRANSPORT;
			break;
		}
		if (fn != NULL && fn_rc == DBS_OK)
			fn_rc = fn(arg, s->text, s->lits, s->n_lits);
		response_clear(s);
	}
	response_clear(s);
	s->dead = true;
	return rc;
}

struct imap_session *
imap_session_new(const struct imap_transport *t, size_t max_literal)
{
	struct imap_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->t = *t;
	s->max_literal = max_literal;
	return s;
}

int
imap_open(const struct imap_login *login, size_t max_literal,
    struct imap_session **out, char *err, size_t errlen)
{
	struct imap_transport t = {
	    curl_conn_send, curl_conn_recv, curl_conn_close, NULL};
	char cerr[CURL_ERROR_SIZE] = "";
	struct curl_conn *c;
	CURLcode cc;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->curl = curl_easy_init()) == NULL) {
		free(c);
		return DBS_ENOMEM;
	}
	c->timeout_s = login->timeout_s;
	curl_easy_setopt(c->curl, CURLOPT_URL, login->url);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "imap,imaps");
	curl_easy_setopt(c->curl, CURLOPT_USERNAME, login->username);
	if (login->password != NULL)
		curl_easy_setopt(c->curl, CURLOPT_PASSWORD, login->password);
	if (login->bearer != NULL) {
		/* SASL XOAUTH2 or OAUTHBEARER, nothing else. */
		curl_easy_setopt(
		    c->curl, CURLOPT_XOAUTH2_BEARER, login->bearer);
		curl_easy_setopt(
		    c->curl, CURLOPT_LOGIN_OPTIONS, login->login_options);
	}
	/* libcurl connects, does TLS and logs in, then hands over. */
	curl_easy_setopt(c->curl, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, login->timeout_s);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, login->timeout_s);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(
	    c->curl, CURLOPT_SSL_VERIFYPEER, login->tls_verify ? 1L : 0L);
	curl_easy_setopt(
	    c->curl, CURLOPT_SSL_VERIFYHOST, login->tls_verify ? 2L : 0L);
	if (login->ca_file != NULL)
		curl_easy_setopt(c->curl, CURLOPT_CAINFO, login->ca_file);
	if (login->starttls)
		curl_easy_setopt(
		    c->curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	cc = curl_easy_perform(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL);
	if (cc == CURLE_OK && curl_easy_getinfo(c->curl, CURLINFO_ACTIVESOCKET,
				  &c->sock) != CURLE_OK)
		cc = CURLE_COULDNT_CONNECT;
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", login->url,
		    cerr[0] != '\0' ? cerr : curl_easy_strerror(cc));
		curl_conn_close(c, false);
		return cc == CURLE_LOGIN_DENIED ? DBS_EAUTH : DBS_ETRANSPORT;
	}
	t.arg = c;
	*out = imap_session_new(&t, max_literal);
	if (*out == NULL) {
		curl_conn_close(c, false);
		return DBS_ENOMEM;
	}
	return DBS_OK;
}

bool
imap_alive(const struct imap_session *s)
{
	return s != NULL && !s->dead;
}

void
imap_close(struct imap_session *s)
{
	char err[256];

	if (s == NULL)
		return;
	if (!s->dead) {
		s->t.close(s->t.arg, true);
		(void)imap_command(s, "LOGOUT", NULL, NULL, err, sizeof(err));
	}
	response_clear(s);
	s->t.close(s->t.arg, false);
	free(s->buf);
	free(s->text);
	free(s->lits);
	free(s);
}

bool
imap_quote(const char *name, char *out, size_t outlen)
{
	size_t o = 0;
	const unsigned char *p;

	if (outlen < 3)
		return false;
	out[o++] = '"';
	for (p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p < 0x20 || *p >= 0x7f)
			return false;
		if (o + 4 > outlen)
			return false;
		if (*p == '"' || *p == '\\')
			out[o++] = '\\';
		out[o++] = (char)*p;
	}
	out[o++] = '"';
	out[o] = '\0';
	return true;
}
