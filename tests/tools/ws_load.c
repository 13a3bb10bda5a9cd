/*
 * ws_load.c — many websocket clients of GET /api/v1/events in one process,
 * for tests/bench/live: a Python client cannot parse 100 sockets x 1,000
 * frames/s without measuring itself.
 *
 *   ws_load HOST PORT COOKIE CLIENTS SECONDS
 *
 * Opens CLIENTS connections (the upgrade with the dbs_session COOKIE and a
 * same-origin Origin), reads text frames with epoll for SECONDS, and for
 * every event frame takes receipt time minus the event's "time" (ms since
 * the epoch: when databusd appended it to the batch that committed it).
 * It checks that each socket's seqs increase, and prints one JSON object:
 * {"clients", "connected", "frames", "events", "resyncs", "disorder",
 *  "p50_ms", "p99_ms", "max_ms", "seconds"}.
 * A test tool only: server frames are trusted to be well formed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tool_clock.h"

struct client {
	int fd;
	bool upgraded;
	unsigned char *buf;
	size_t len, cap;
	unsigned long long last_seq;
};

static double *lat;
static size_t n_lat, cap_lat;
static unsigned long long frames, n_events, resyncs, disorder;

/* Wall-clock milliseconds: the server stamps its frames in ms. */
static double
now_ms(void)
{
	return wall_s() * 1000.0;
}

static unsigned long long
field(const char *s, size_t n, const char *name)
{
	char pat[32];
	const char *p;
	size_t pl = (size_t)snprintf(pat, sizeof(pat), "\"%s\":", name);

	for (p = s; p + pl <= s + n; p++)
		if (memcmp(p, pat, pl) == 0)
			return strtoull(p + pl, NULL, 10);
	return 0;
}

static void
on_text(struct client *c, const char *s, size_t n, double t)
{
	unsigned long long seq = field(s, n, "seq");

	frames++;
	if (n > 20 && memcmp(s, "{\"type\":\"resync\"", 16) == 0)
		resyncs++;
	if (strstr(s, "\"type\":\"event\"") == NULL || n < 20) {
		if (seq > c->last_seq)
			c->last_seq = seq;
		return;
	}
	n_events++;
	if (seq <= c->last_seq)
		disorder++;
	c->last_seq = seq;
	if (n_lat == cap_lat) {
		cap_lat = cap_lat ? cap_lat * 2 : 65536;
		lat = realloc(lat, cap_lat * sizeof(*lat));
		if (lat == NULL)
			exit(1);
	}
	lat[n_lat++] = t - (double)field(s, n, "time");
}

/* Consume whole frames from c->buf. */
static void
parse(struct client *c, double t)
{
	size_t off = 0;

	if (!c->upgraded) {
		unsigned char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);

		if (end == NULL)
			return;
		if (c->len < 12 || memcmp(c->buf + 9, "101", 3) != 0) {
			fprintf(stderr, "ws_load: upgrade refused: %.*s\n",
			    (int)(end - c->buf), c->buf);
			exit(1);
		}
		c->upgraded = true;
		off = (size_t)(end - c->buf) + 4;
	}
	for (;;) {
		unsigned char *p = c->buf + off;
		size_t avail = c->len - off, hl = 2;
		unsigned long long pl;

		if (avail < 2)
			break;
		pl = p[1] & 0x7f;
		if (pl == 126) {
			hl = 4;
			if (avail < hl)
				break;
			pl = ((unsigned)p[2] << 8) | p[3];
		} else if (pl == 127) {
			hl = 10;
			if (avail < hl)
				break;
			pl = 0;
			for (int i = 0; i < 8; i++)
				pl = (pl << 8) | p[2 + i];
		}
		if (avail < hl + pl)
			break;
		if ((p[0] & 0x0f) == 1) {
			char save = (char)p[hl + pl - 1];

			/* strstr needs a terminator: borrow the last byte,
			 * which is the object's closing brace. */
			p[hl + pl - 1] = '\0';
			on_text(c, (const char *)p + hl, (size_t)pl - 1, t);
			p[hl + pl - 1] = (unsigned char)save;
		} else if ((p[0] & 0x0f) == 8) {
			fprintf(stderr, "ws_load: closed by the server\n");
		}
		off += hl + pl;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct epoll_event ev, evs[256];
	struct client *cs;
	int ep, n, connected = 0;
	double start, end;
	char req[1024];

	if (argc != 6) {
		fputs("usage: ws_load HOST PORT COOKIE CLIENTS SECONDS\n",
		    stderr);
		return 100;
	}
	n = atoi(argv[4]);
	cs = calloc((size_t)n, sizeof(*cs));
	ep = epoll_create1(0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	snprintf(req, sizeof(req),
	    "GET /api/v1/events HTTP/1.1\r\nHost: %s:%s\r\n"
	    "Origin: http://%s:%s\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\nCookie: dbs_session=%s\r\n\r\n",
	    argv[1], argv[2], argv[1], argv[2], argv[3]);
	for (int i = 0; i < n; i++) {
		cs[i].fd = socket(AF_INET, SOCK_STREAM, 0);
		cs[i].cap = 1 << 20;
		cs[i].buf = malloc(cs[i].cap);
		if (cs[i].fd < 0 || cs[i].buf == NULL ||
		    connect(cs[i].fd, (struct sockaddr *)&sa, sizeof(sa)) !=
			0 ||
		    write(cs[i].fd, req, strlen(req)) !=
			(ssize_t)strlen(req)) {
			perror("ws_load: connect");
			return 1;
		}
		ev.events = EPOLLIN;
		ev.data.ptr = &cs[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
		connected++;
	}
	start = mono_s();
	end = start + atof(argv[5]);
	while (mono_s() < end) {
		int k = epoll_wait(ep, evs, 256, 100);

		for (int i = 0; i < k; i++) {
			struct client *c = evs[i].data.ptr;
			ssize_t r;

			if (c->cap - c->len < 65536) {
				c->cap *= 2;
				c->buf = realloc(c->buf, c->cap);
				if (c->buf == NULL)
					return 1;
			}
			r = read(c->fd, c->buf + c->len, c->cap - c->len);
			if (r <= 0) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				connected--;
				continue;
			}
			c->len += (size_t)r;
			parse(c, now_ms());
		}
	}
	qsort(lat, n_lat, sizeof(*lat), cmp_double);
	printf("{\"clients\": %d, \"connected\": %d, \"frames\": %llu, "
	       "\"events\": %llu, \"resyncs\": %llu, \"disorder\": %llu, "
	       "\"p50_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f, "
	       "\"seconds\": %.2f}\n",
	    n, connected, frames, n_events, resyncs, disorder,
	    n_lat ? lat[n_lat / 2] : -1.0,
	    n_lat ? lat[(size_t)((double)n_lat * 0.99)] : -1.0,
	    n_lat ? lat[n_lat - 1] : -1.0, mono_s() - start);
	return 0;
}
