/*
 * imap_session.h — one authenticated IMAP connection for the imap puller.
 *
 * libcurl opens the connection, does TLS (imaps:// or STARTTLS, with
 * certificate verification) and logs in (SASL), with CURLOPT_CONNECT_ONLY;
 * this module then sends the few commands the puller needs over that
 * connection (curl_easy_send / curl_easy_recv) and reads the responses,
 * literals included.
 *
 * Why not libcurl's own IMAP commands: a libcurl fetch (imap://host/
 * INBOX;UID=n) always sends BODY[] — which sets \Seen, so a message would
 * look handled before it is seated — and a custom "UID FETCH n BODY.PEEK[]"
 * request loses the literal that holds the message (libcurl 7.88 passes
 * custom responses on line by line and drops literals; curl issue #536).
 * The puller must read without changing anything until notify, hence
 * BODY.PEEK over the connection libcurl set up.
 *
 * Everything here blocks, bounded by the session's timeout per read.
 */
#ifndef DBS_IMAP_SESSION_H
#define DBS_IMAP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct imap_session;

struct imap_login {
	const char *url; /* imap://host[:port]/ or imaps://... */
	const char *username;
	const char *password;
	const char *bearer;        /* an OAuth 2.0 access token, or NULL */
	const char *login_options; /* with bearer: "AUTH=XOAUTH2", ... */
	bool starttls;             /* imap://: require STARTTLS before login */
	bool tls_verify;     /* verify the server's certificate and name */
	const char *ca_file; /* NULL: the system's CAs */
	long timeout_s;      /* connect and per-read timeout */
};

/* One untagged response: its text with each literal replaced by "{N}",
 * and the literals in order (data is NULL for a literal longer than the
 * session's limit, which was read and dropped; len is still its size). */
struct imap_literal {
	const char *data;
	size_t len;
};

typedef int (*imap_untagged_fn)(void *arg, const char *text,
    const struct imap_literal *lits, size_t n_lits);

/*
 * Connect and log in. Returns DBS_OK with *out set, or DBS_ETRANSPORT /
 * DBS_EAUTH / DBS_ENOMEM with a message in `err` (libcurl's, which never
 * contains the password or the bearer token).
 */
int imap_open(const struct imap_login *login, size_t max_literal,
    struct imap_session **out, char *err, size_t errlen);

/*
 * Send one command (the tag is added) and read up to its tagged reply.
 * Each untagged response is handed to `fn` (may be NULL); a non-zero
 * return of `fn` is kept and returned once the reply has been read.
 * Returns DBS_OK on "OK", DBS_EDRIVER on "NO"/"BAD" (the server's text
 * in `err`), DBS_ETRANSPORT when the connection failed (the session is
 * then unusable: imap_close it), or fn's error.
 */
int imap_command(struct imap_session *s, const char *command,
    imap_untagged_fn fn, void *arg, char *err, size_t errlen);

/*
 * How a session moves bytes: imap_open plugs in libcurl's connection;
 * the fuzz target plugs in memory. recv stores at least one byte, or sets
 * *n = 0 when the peer closed; send sends everything; both return DBS_OK
 * or an error with a message in `err`. close(arg, true) says the session
 * is about to say goodbye (wait less); close(arg, false) frees it.
 */
struct imap_transport {
	int (*send)(
	    void *arg, const char *data, size_t len, char *err, size_t errlen);
	int (*recv)(void *arg, char *buf, size_t cap, size_t *n, char *err,
	    size_t errlen);
	void (*close)(void *arg, bool quick);
	void *arg;
};

/* A session over `t` (connected and logged in), or NULL when out of
 * memory. imap_close() closes the transport too. */
struct imap_session *imap_session_new(
    const struct imap_transport *t, size_t max_literal);

/* Whether the connection is still usable. */
bool imap_alive(const struct imap_session *s);

/* LOGOUT (best effort) and free. Accepts NULL. */
void imap_close(struct imap_session *s);

/* Append `name` as an IMAP quoted string to `out` (of `outlen` bytes).
 * Returns false if it does not fit or holds characters a quoted string
 * cannot (CR, LF, NUL, non-ASCII). */
bool imap_quote(const char *name, char *out, size_t outlen);

#endif
