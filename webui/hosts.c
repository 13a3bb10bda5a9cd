/*
 * hosts.c — the Host allow-list: databus-web answers only requests that
 * name it, so that a page on another site cannot reach it through DNS
 * rebinding (the attacker's name resolving to this server's address: the
 * browser then sends the attacker's name as Host, and treats the answers
 * as same-origin for that site).
 *
 * Allowed by default: the host of the listen address, "localhost" and
 * the loopback literals (127.0.0.0/8, ::1); when the listen address is a
 * wildcard (0.0.0.0, ::), every address of this machine's interfaces at
 * start. `--allowed-host NAME` (databus.json's web.allowed_hosts) adds
 * names; "*" allows any Host. The port of a Host header is not compared.
 * A request without Host (HTTP/1.0) names no host of ours and is refused
 * like a foreign one: 421, before it is routed.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "web.h"

#define MAX_HOSTS 256
#define HOST_MAX  256

static char *hosts[MAX_HOSTS];
static size_t n_hosts;
static bool any_host;

/* Allow `name`; false only when out of memory. A name too long for a
 * host, or one past MAX_HOSTS, is left out (never allowed). */
static bool
add(const char *name, size_t len)
{
	char *h;
	size_t i;

	if (len == 0 || len >= HOST_MAX || n_hosts == MAX_HOSTS)
		return true;
	for (i = 0; i < n_hosts; i++)
		if (strlen(hosts[i]) == len &&
		    strncasecmp(hosts[i], name, len) == 0)
			return true;
	if ((h = strndup(name, len)) == NULL)
		return false;
	hosts[n_hosts++] = h;
	return true;
}

/* The host of a Host value or listen address ("[::1]:80" → "::1",
 * "a.b:80" → "a.b", "a.b" → "a.b"), in out[HOST_MAX]; false if empty. */
static bool
host_part(const char *s, size_t len, char *out)
{
	const char *end = s + len, *colon;

	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (close == NULL)
			return false;
		s++;
		end = close;
	} else if ((colon = memchr(s, ':', len)) != NULL &&
		   memchr(colon + 1, ':', (size_t)(end - colon - 1)) == NULL)
		end = colon;
	if (end == s || (size_t)(end - s) >= HOST_MAX)
		return false;
	memcpy(out, s, (size_t)(end - s));
	out[end - s] = '\0';
	return true;
}

static bool
add_interfaces(void)
{
	struct ifaddrs *ifa, *i;
	char buf[INET6_ADDRSTRLEN];
	bool ok = true;

	if (getifaddrs(&ifa) != 0)
		return false;
	for (i = ifa; i != NULL && ok; i = i->ifa_next) {
		const void *a = NULL;

		if (i->ifa_addr == NULL)
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			a = &((struct sockaddr_in *)i->ifa_addr)->sin_addr;
		else if (i->ifa_addr->sa_family == AF_INET6)
			a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
		if (a != NULL &&
		    inet_ntop(i->ifa_addr->sa_family, a, buf, sizeof(buf)))
			ok = add(buf, strlen(buf));
	}
	freeifaddrs(ifa);
	return ok;
}

bool
web_hosts_init(const char *listen, const char *const *extra, size_t n_extra)
{
	char host[HOST_MAX];
	size_t i;

	if (!add("localhost", 9) || !add("::1", 3))
		return false;
	if (host_part(listen, strlen(listen), host)) {
		if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
			if (!add_interfaces())
				return false;
		} else if (!add(host, strlen(host)))
			return false;
	}
	for (i = 0; i < n_extra; i++) {
		if (strcmp(extra[i], "*") == 0)
			any_host = true;
		else if (host_part(extra[i], strlen(extra[i]), host) &&
			 !add(host, strlen(host)))
			return false;
	}
	return true;
}

bool
web_host_allowed(h2o_req_t *req)
{
	char host[HOST_MAX];
	struct in_addr a4;
	size_t i;

	if (any_host)
		return true;
	if (!host_part(
		req->input.authority.base, req->input.authority.len, host))
		return false;
	/* 127.0.0.0/8 is this machine whatever the listen address. */
	if (inet_pton(AF_INET, host, &a4) == 1 &&
	    (ntohl(a4.s_addr) >> 24) == 127)
		return true;
	for (i = 0; i < n_hosts; i++)
		if (strcasecmp(hosts[i], host) == 0)
			return true;
	return false;
}
