/*
 * hook_load.c — an open-loop load of signed webhook deliveries, for
 * tests/bench/webhook: a Python client with dozens of threads on a 2-core
 * machine spends as much CPU as the server it measures and adds its own
 * scheduling stalls to every figure.
 *
 *   hook_load HOST PORT PATH SECRET RATE SECONDS CONNS OUT
 *
 * Delivery i (0 <= i < RATE*SECONDS) is due at start + i/RATE. When it is
 * due it goes out on an idle keep-alive connection (of CONNS); when none
 * is idle it waits for one, and its latency still counts from when it was
 * due, so a stalled server is not hidden (no coordinated omission). Every
 * delivery is a POST of a small JSON body with X-GitHub-Event,
 * X-GitHub-Delivery "d-<i>" (the external id) and X-Hub-Signature-256, the
 * HMAC-SHA-256 of the body with SECRET, computed before the run starts.
 *
 * Writes one line per delivery to OUT, "i due answered status" (the two
 * times in seconds since the epoch, status 0 for a broken connection), and
 * prints one JSON object: {"sent", "ok", "failed", "p50_ms", "p99_ms",
 * "max_ms", "seconds", "reconnects"}, where ok counts 202 answers and the
 * percentiles are over them. A test tool only: the server's answers are
 * trusted to be well formed HTTP/1.1 with a Content-Length.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "tool_clock.h"

#define REQ_MAX 1024

struct conn {
	int fd;
	long req; /* the delivery in flight, or -1 */
	char buf[4096];
	size_t len;
};

struct result {
	double due, answered; /* monotonic seconds */
	int status;
};

static struct sockaddr_in addr;
static struct result *res;

/* Idle connections, first in first out: every connection carries its
 * share (a stack would leave most of them unused until the server's idle
 * timeout closes them). */
static struct conn **idle;
static size_t n_ring, ring_head, n_idle;

static void
put_idle(struct conn *c)
{
	idle[(ring_head + n_idle++) % n_ring] = c;
}

static struct conn *
get_idle(void)
{
	struct conn *c = idle[ring_head];

	ring_head = (ring_head + 1) % n_ring;
	n_idle--;
	return c;
}

static int
dial(int ep, struct conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 ||
	    connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		perror("hook_load: connect");
		return -1;
	}
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->req = -1;
	c->len = 0;
	return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* Request i, complete with headers, into out; returns its length. */
static int
build_request(char *out, long i, const char *host, int port, const char *path,
    const unsigned char *key, size_t key_len)
{
	char body[256], hex[2 * crypto_auth_hmacsha256_BYTES + 1];
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	int n;

	n = snprintf(body, sizeof(body),
	    "{\"action\": \"completed\", \"workflow_run\": {\"id\": %ld, "
	    "\"name\": \"CI\", \"status\": \"completed\", \"conclusion\": "
	    "\"success\", \"run_attempt\": 1}}",
	    i);
	crypto_auth_hmacsha256_init(&st, key, key_len);
	crypto_auth_hmacsha256_update(&st, (unsigned char *)body, (size_t)n);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	return snprintf(out, REQ_MAX,
	    "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
	    "Content-Type: application/json\r\n"
	    "X-GitHub-Event: workflow_run\r\nX-GitHub-Delivery: d-%ld\r\n"
	    "X-Hub-Signature-256: sha256=%s\r\nContent-Length: %d\r\n\r\n%s",
	    path, host, port, i, hex, n, body);
}

/* A whole response in c->buf: consume it and return its status (0 when
 * the status line is not a number); -1 while more is to come. */
static int
response_done(struct conn *c)
{
	char *end, *cl;
	size_t head, body = 0;
	int status;

	c->buf[c->len] = 0;
	if ((end = strstr(c->buf, "\r\n\r\n")) == NULL)
		return -1;
	head = (size_t)(end - c->buf) + 4;
	for (cl = c->buf; (cl = strchr(cl, '\n')) != NULL && cl < end;)
		if (strncasecmp(++cl, "content-length:", 15) == 0)
			body = strtoul(cl + 15, NULL, 10);
	if (c->len < head + body)
		return -1;
	status = strncmp(c->buf, "HTTP/1.", 7) == 0 ? atoi(c->buf + 9) : 0;
	c->len -= head + body;
	memmove(c->buf, c->buf + head + body, c->len);
	return status;
}

int
main(int argc, char **argv)
{
	const char *host, *path;
	int port, nconns, ep, tfd, status;
	double rate, seconds, start, offset, end_by;
	long total, next = 0, done = 0, reconnects = 0;
	struct conn *conns;
	char(*reqs)[REQ_MAX];
	int *req_len;
	FILE *out;

	if (argc != 9) {
		fprintf(stderr, "usage: hook_load HOST PORT PATH SECRET RATE "
				"SECONDS CONNS OUT\n");
		return 2;
	}
	host = argv[1];
	port = atoi(argv[2]);
	path = argv[3];
	rate = atof(argv[5]);
	seconds = atof(argv[6]);
	nconns = atoi(argv[7]);
	total = (long)(rate * seconds);
	if (sodium_init() < 0 || port <= 0 || rate <= 0 || total <= 0 ||
	    nconns <= 0) {
		fprintf(stderr, "hook_load: bad arguments\n");
		return 2;
	}
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
		fprintf(stderr, "hook_load: HOST must be an IPv4 address\n");
		return 2;
	}
	res = calloc((size_t)total, sizeof(*res));
	reqs = calloc((size_t)total, sizeof(*reqs));
	req_len = calloc((size_t)total, sizeof(*req_len));
	conns = calloc((size_t)nconns, sizeof(*conns));
	n_ring = (size_t)nconns;
	idle = calloc(n_ring, sizeof(*idle));
	if (res == NULL || reqs == NULL || req_len == NULL || conns == NULL ||
	    idle == NULL) {
		fprintf(stderr, "hook_load: out of memory\n");
		return 1;
	}
	for (long i = 0; i < total; i++)
		req_len[i] = build_request(reqs[i], i, host, port, path,
		    (const unsigned char *)argv[4], strlen(argv[4]));

	ep = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	{
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

		if (ep < 0 || tfd < 0 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) != 0) {
			perror("hook_load: epoll");
			return 1;
		}
	}
	for (int k = 0; k < nconns; k++) {
		if (dial(ep, &conns[k]) != 0)
			return 1;
		put_idle(&conns[k]);
	}

	start = mono_s() + 0.2;
	offset = wall_s() - mono_s();
	end_by = start + seconds + 60;
	while (done < total && mono_s() < end_by) {
		struct epoll_event evs[64];
		double now = mono_s();
		int n;

		/* Everything due goes out while a connection is idle. */
		while (next < total && n_idle > 0 &&
		       start + (double)next / rate <= now) {
			struct conn *c = get_idle();

			res[next].due = start + (double)next / rate;
			c->req = next;
			if (write(c->fd, reqs[next], (size_t)req_len[next]) !=
			    req_len[next]) {
				res[next].answered = mono_s();
				res[next].status = 0;
				done++;
				close(c->fd);
				if (dial(ep, c) != 0)
					return 1;
				put_idle(c);
			}
			next++;
		}
		if (next < total && n_idle > 0) {
			double due = start + (double)next / rate;
			struct itimerspec its = {0};

			its.it_value.tv_sec = (time_t)due;
			its.it_value.tv_nsec =
			    (long)((due - (double)(time_t)due) * 1e9);
			if (its.it_value.tv_sec == 0 &&
			    its.it_value.tv_nsec == 0)
				its.it_value.tv_nsec = 1;
			(void)timerfd_settime(
			    tfd, TFD_TIMER_ABSTIME, &its, NULL);
		}
		n = epoll_wait(ep, evs, 64, 1000);
		for (int k = 0; k < n; k++) {
			struct conn *c = evs[k].data.ptr;
			ssize_t r;

			if (c == NULL) {
				uint64_t ticks;

				(void)!read(tfd, &ticks, sizeof(ticks));
				continue;
			}
			r = read(c->fd, c->buf + c->len,
			    sizeof(c->buf) - 1 - c->len);
			if (r <= 0) {
				if (r < 0 && errno == EINTR)
					continue;
				bool was_busy = c->req >= 0;

				if (was_busy) {
					res[c->req].answered = mono_s();
					res[c->req].status = 0;
					done++;
				}
				reconnects++;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				if (dial(ep, c) != 0)
					return 1;
				if (was_busy) /* an idle one is listed already
					       */
					put_idle(c);
				continue;
			}
			c->len += (size_t)r;
			if (c->req < 0 || (status = response_done(c)) < 0)
				continue;
			res[c->req].answered = mono_s();
			res[c->req].status = status;
			done++;
			c->req = -1;
			put_idle(c);
		}
	}

	if ((out = fopen(argv[8], "w")) == NULL) {
		perror(argv[8]);
		return 1;
	}
	{
		double *lat = calloc((size_t)total, sizeof(*lat));
		double first = 1e300, last = 0;
		long ok = 0;

		if (lat == NULL)
			return 1;
		for (long i = 0; i < total; i++) {
			struct result *x = &res[i];

			fprintf(out, "%ld %.6f %.6f %d\n", i, x->due + offset,
			    x->answered > 0 ? x->answered + offset : 0.0,
			    x->status);
			if (x->status == 202)
				lat[ok++] = (x->answered - x->due) * 1000.0;
			if (x->due > 0 && x->due < first)
				first = x->due;
			if (x->answered > last)
				last = x->answered;
		}
		fclose(out);
		qsort(lat, (size_t)ok, sizeof(*lat), cmp_double);
		printf("{\"sent\": %ld, \"ok\": %ld, \"failed\": %ld, "
		       "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, "
		       "\"seconds\": %.3f, \"reconnects\": %ld}\n",
		    next, ok, total - ok,
		    ok ? lat[(size_t)((double)(ok - 1) * 0.50 + 0.5)] : -1.0,
		    ok ? lat[(size_t)((double)(ok - 1) * 0.99 + 0.5)] : -1.0,
		    ok ? lat[ok - 1] : -1.0, last > first ? last - first : 0.0,
		    reconnects);
		free(lat);
	}
	return 0;
}
