/*
 * metrics_access.c — who may scrape GET /metrics.
 *
 * A peer on a loopback address always may (a Prometheus agent on the
 * host, an SSH tunnel). Beyond loopback, `web.metrics` in databus.json
 * opens it (databusd passes it as --metrics-allow and
 * --metrics-token-file): `allow` lists the addresses or networks
 * (a.b.c.d, a.b.c.d/n, IPv6 likewise) that may scrape, `token_file` names
 * a file holding a bearer token that every non-loopback scrape must send
 * (`Authorization: Bearer <token>`). With both, a scrape must come from an
 * allowed address and carry the token. A peer that may not scrape gets
 * 404, as for a path that does not exist; an allowed peer without the
 * right token gets 401.
 *
 * The token is read once at start, kept only as its BLAKE2b hash, and
 * compared in constant time with the hash of what the request sends (so
 * neither its content nor its length leaks through timing). It is never
 * logged, and never on a command line: only the file's name is.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "web.h"

#define MAX_NETS  64
#define TOKEN_MAX 4096

struct net {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix; /* bits */
};

static struct {
	struct net nets[MAX_NETS];
	size_t n_nets;
	bool have_token;
	uint8_t token_hash[32];
} access_state;

/* "a.b.c.d", "a.b.c.d/n", "::1", "fd00::/8" into *n; false if malformed. */
static bool
net_parse(const char *s, struct net *n)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	long bits;

	if (strlen(s) >= sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%s", s);
	memset(n, 0, sizeof(*n));
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, n->addr) == 1) {
		n->family = AF_INET;
		n->prefix = 32;
	} else if (inet_pton(AF_INET6, buf, n->addr) == 1) {
		n->family = AF_INET6;
		n->prefix = 128;
	} else {
		return false;
	}
	if (slash != NULL) {
		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || errno != 0 ||
		    bits < 0 || bits > (long)n->prefix)
			return false;
		n->prefix = (unsigned)bits;
	}
	return true;
}

static bool
net_contains(const struct net *n, int family, const uint8_t *addr)
{
	unsigned full = n->prefix / 8, rest = n->prefix % 8;

	if (family != n->family || memcmp(n->addr, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((n->addr[full] ^ addr[full]) & (0xffu << (8 - rest))) == 0;
}

/* Read the token file: its content without trailing white space. */
static bool
read_token(const char *path, char *msg, size_t msglen)
{
	char *buf;
	size_t len;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(msg, msglen, "metrics token file %s: %s", path,
		    strerror(errno));
		return false;
	}
	if ((buf = sodium_malloc(TOKEN_MAX + 1)) == NULL) {
		fclose(f);
		snprintf(msg, msglen, "out of memory");
		return false;
	}
	len = fread(buf, 1, TOKEN_MAX + 1, f);
	fclose(f);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
			      buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	if (len < 16 || len > TOKEN_MAX || memchr(buf, '\n', len) != NULL) {
		sodium_free(buf);
		snprintf(msg, msglen,
		    "metrics token file %s: expected one line of 16 to %d "
		    "characters",
		    path, TOKEN_MAX);
		return false;
	}
	crypto_generichash(access_state.token_hash,
	    sizeof(access_state.token_hash), (const uint8_t *)buf, len, NULL,
	    0);
	sodium_free(buf);
	access_state.have_token = true;
	return true;
}

bool
web_metrics_access_init(const char *const *allow, size_t n_allow,
    const char *token_file, char *msg, size_t msglen)
{
	size_t i;

	memset(&access_state, 0, sizeof(access_state));
	if (n_allow > MAX_NETS) {
		snprintf(
		    msg, msglen, "more than %d --metrics-allow", MAX_NETS);
		return false;
	}
	for (i = 0; i < n_allow; i++)
		if (!net_parse(allow[i], &access_state.nets[i])) {
			snprintf(msg, msglen,
			    "--metrics-allow %s: expected an IP address or "
			    "network (a.b.c.d/n, ipv6/n)",
			    allow[i]);
			return false;
		}
	access_state.n_nets = n_allow;
	return token_file == NULL || read_token(token_file, msg, msglen);
}

/* The peer's address as family + bytes (a v4-mapped IPv6 peer as IPv4). */
static bool
peer(h2o_req_t *req, int *family, uint8_t addr[16])
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (req->conn->callbacks->get_peername(
		req->conn, (struct sockaddr *)&ss) == 0)
		return false;
	if (ss.ss_family == AF_INET) {
		*family = AF_INET;
		memcpy(addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
		return true;
	}
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a =
		    &((struct sockaddr_in6 *)&ss)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			*family = AF_INET;
			memcpy(addr, a->s6_addr + 12, 4);
		} else {
			*family = AF_INET6;
			memcpy(addr, a->s6_addr, 16);
		}
		return true;
	}
	return false;
}

static bool
peer_allowed(h2o_req_t *req)
{
	uint8_t addr[16];
	int family;
	size_t i;

	if (access_state.n_nets == 0)
		return access_state.have_token; /* token only: any address */
	if (!peer(req, &family, addr))
		return false;
	for (i = 0; i < access_state.n_nets; i++)
		if (net_contains(&access_state.nets[i], family, addr))
			return true;
	return false;
}

/* The bearer token of the request, hashed and compared in constant
 * time. */
static bool
token_ok(h2o_req_t *req)
{
	static const char bearer[] = "Bearer ";
	uint8_t hash[32];
	ssize_t i;
	const h2o_header_t *h;
	bool ok;

	i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
	if (i < 0)
		return false;
	h = &req->headers.entries[i];
	if (h->value.len <= sizeof(bearer) - 1 ||
	    strncasecmp(h->value.base, bearer, sizeof(bearer) - 1) != 0)
		return false;
	crypto_generichash(hash, sizeof(hash),
	    (const uint8_t *)h->value.base + sizeof(bearer) - 1,
	    h->value.len - (sizeof(bearer) - 1), NULL, 0);
	ok = sodium_memcmp(hash, access_state.token_hash, sizeof(hash)) == 0;
	sodium_memzero(hash, sizeof(hash));
	return ok;
}

int
web_metrics_admit(h2o_req_t *req)
{
	if (web_peer_is_loopback(req))
		return 0;
	if (!peer_allowed(req))
		return 404;
	if (access_state.have_token && !token_ok(req))
		return 401;
	return 0;
}
