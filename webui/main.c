/*
 * main.c — databus-web: start-up, the h2o event loop, accepting
 * connections, and the graceful stop.
 *
 *   databus-web --data DIR --listen HOST:PORT [--static DIR] [--parent PID]
 *               [--tls-cert FILE --tls-key FILE] [--allowed-host NAME]...
 *               [--metrics-allow NET]... [--metrics-token-file FILE]
 *
 * It opens the store in DIR/store read-only and talks to databusd over
 * ipc://DIR/run/control for every change. One thread runs the h2o loop and
 * answers quick requests itself; Argon2id and control requests go to a
 * pool of two threads (pool.c). Every request goes through the route table
 * (routes.c). Exit codes: 0 clean stop, 100 usage error, 111 transient
 * error (the store or the address is not available yet). With --parent,
 * the process ends when that process does (PR_SET_PDEATHSIG, checked once
 * after it is set), and it tells databusd once it listens (WebReady).
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dbs_error.h"
#include "web.h"
#include "wire.h"

#define EXIT_USAGE     100
#define EXIT_TRANSIENT 111

#define POOL_THREADS 2
#define POOL_QUEUE   64

#define MAX_ALLOWED_HOSTS 64
#define MAX_METRICS_ALLOW 64

struct options {
	const char *data, *listen, *tls_cert, *tls_key, *static_dir;
	const char *allowed_hosts[MAX_ALLOWED_HOSTS];
	size_t n_allowed_hosts;
	const char *metrics_allow[MAX_METRICS_ALLOW], *metrics_token_file;
	size_t n_metrics_allow;
	long parent;
};

/* The h2o side of the server: one host, one handler, one loop. */
static struct {
	h2o_globalconf_t config;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept_ctx;
} loop_state;

/* SIGTERM (databusd's shutdown, or the parent's death) ends the process
 * gracefully: live updates are closed (1001, after what databusd
 * committed meanwhile), and it keeps serving while answers are in flight
 * — the reply to a shutdown asked for through this very server — then
 * exits 0: STOP_FLUSH_MS after the last pool job finished and the last
 * live socket closed (time for what was answered to leave), STOP_GRACE_MS
 * at most. */
#define STOP_GRACE_MS 1000
#define STOP_FLUSH_MS 30
static volatile sig_atomic_t stop_requested;

static void
on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int
run_loop(h2o_evloop_t *loop, struct web_pool *pool)
{
	struct sigaction sa;
	int64_t stop_at = 0, quiet_at = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGINT);
	pthread_sigmask(SIG_UNBLOCK, &sa.sa_mask, NULL);
	for (;;) {
		int64_t now;

		/* Wake up now and then anyway (and often while stopping). */
		if (h2o_evloop_run(loop, stop_at != 0 ? 10 : 200) != 0 &&
		    errno != EINTR)
			return EXIT_TRANSIENT;
		if (!stop_requested)
			continue;
		now = wire_now_ms();
		if (stop_at == 0) {
			stop_at = now + STOP_GRACE_MS;
			web_events_stop(); /* live updates: close 1001, in time
					    */
		}
		if (web_pool_in_flight(pool) > 0 || web_events_open() > 0)
			quiet_at = 0;
		else if (quiet_at == 0)
			quiet_at = now + STOP_FLUSH_MS;
		if (now >= stop_at || (quiet_at != 0 && now >= quiet_at)) {
			/* h2o's loop has no teardown for its sockets and
			 * timers: end the process as the signal would have,
			 * without exit handlers. */
			fflush(NULL);
			_exit(0);
		}
	}
}

static void
on_accept(h2o_socket_t *listener, const char *err)
{
	h2o_socket_t *sock;

	if (err != NULL)
		return;
	if ((sock = h2o_evloop_socket_accept(listener)) == NULL)
		return;
	if (!web_framing_watch(sock)) {
		h2o_socket_close(sock);
		return;
	}
	h2o_accept(&loop_state.accept_ctx, sock);
}

static int
on_req(h2o_handler_t *self, h2o_req_t *req)
{
	(void)self;
	return web_route(req);
}

static void
usage(void)
{
	fputs(
	    "usage: databus-web --data DIR --listen HOST:PORT "
	    "[--static DIR] [--parent PID] [--tls-cert FILE --tls-key FILE]\n"
	    "       [--allowed-host NAME]... [--metrics-allow NET]... "
	    "[--metrics-token-file FILE]\n",
	    stderr);
	exit(EXIT_USAGE);
}

static void
parse_args(int argc, char **argv, struct options *o)
{
	char *end;
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
			o->data = argv[++i];
		else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			o->listen = argv[++i];
		else if (strcmp(argv[i], "--tls-cert") == 0 && i + 1 < argc)
			o->tls_cert = argv[++i];
		else if (strcmp(argv[i], "--tls-key") == 0 && i + 1 < argc)
			o->tls_key = argv[++i];
		else if (strcmp(argv[i], "--allowed-host") == 0 &&
			 i + 1 < argc &&
			 o->n_allowed_hosts < MAX_ALLOWED_HOSTS)
			o->allowed_hosts[o->n_allowed_hosts++] = argv[++i];
		else if (strcmp(argv[i], "--metrics-allow") == 0 &&
			 i + 1 < argc &&
			 o->n_metrics_allow < MAX_METRICS_ALLOW)
			o->metrics_allow[o->n_metrics_allow++] = argv[++i];
		else if (strcmp(argv[i], "--metrics-token-file") == 0 &&
			 i + 1 < argc)
			o->metrics_token_file = argv[++i];
		else if (strcmp(argv[i], "--static") == 0 && i + 1 < argc)
			o->static_dir = argv[++i];
		else if (strcmp(argv[i], "--parent") == 0 && i + 1 < argc) {
			errno = 0;
			o->parent = strtol(argv[++i], &end, 10);
			if (errno != 0 || *end != '\0' || o->parent <= 1)
				usage();
		} else
			usage();
	}
	if (o->data == NULL || o->listen == NULL ||
	    (o->tls_cert == NULL) != (o->tls_key == NULL))
		usage();
}

/* Bind HOST:PORT (IPv4 or IPv6, "[::1]:5000" too). */
static int
listen_on(const char *hostport)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints, *ai = NULL;
	size_t hlen;
	int fd = -1, one = 1;

	if (colon == NULL || colon == hostport || colon[1] == '\0')
		return -2;
	hlen = (size_t)(colon - hostport);
	if (hostport[0] == '[' && hlen >= 2 && colon[-1] == ']') {
		hostport++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		return -2;
	memcpy(host, hostport, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || ai == NULL)
		return -2;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, SOMAXCONN) != 0) {
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* The data directory (absolute, into real), the store in it read-only,
 * and the web app. 0 or an exit code, after saying why. */
static int
open_data(const struct options *o, char real[PATH_MAX], struct store **st)
{
	char msg[PATH_MAX + 200], err[PATH_MAX + 512];

	if (realpath(o->data, real) == NULL) {
		fprintf(stderr, "databus-web: data directory %s: %s\n",
		    o->data, strerror(errno));
		return EXIT_TRANSIENT;
	}
	if (store_open_data(real, STORE_RDONLY, NULL, st, err, sizeof(err)) !=
	    DBS_OK) {
		fprintf(stderr, "databus-web: %s\n", err);
		return EXIT_TRANSIENT;
	}
	if (!web_server_init(real, *st)) {
		fputs("databus-web: out of memory\n", stderr);
		return EXIT_TRANSIENT;
	}
	if (!web_hosts_init(o->listen, o->allowed_hosts, o->n_allowed_hosts)) {
		fputs("databus-web: cannot list the allowed hosts\n", stderr);
		return EXIT_TRANSIENT;
	}
	if (!web_metrics_access_init(o->metrics_allow, o->n_metrics_allow,
		o->metrics_token_file, msg, sizeof(msg))) {
		fprintf(stderr, "databus-web: %s\n", msg);
		return EXIT_USAGE;
	}
	if (o->static_dir != NULL && !web_static_init(o->static_dir))
		fprintf(stderr,
		    "databus-web: no web app in %s (run ./setup); serving "
		    "the API only\n",
		    o->static_dir);
	return 0;
}

/* h2o's configuration, its loop, TLS, the pool and the live updates.
 * 0 or an exit code, after saying why. */
static int
start_loop(const struct options *o, struct store *st, const char *real,
    h2o_evloop_t **out)
{
	h2o_hostconf_t *host;
	h2o_pathconf_t *pathconf;
	h2o_handler_t *handler;
	h2o_evloop_t *loop;
	struct web_pool *pool;
	char tls_err[600];
	int rc;

	h2o_config_init(&loop_state.config);
	host = h2o_config_register_host(
	    &loop_state.config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	web_limits_install(&loop_state.config, host);
	pathconf = h2o_config_register_path(host, "/", 0);
	handler = h2o_create_handler(pathconf, sizeof(*handler));
	handler->on_req = on_req;

	loop = h2o_evloop_create();
	h2o_context_init(&loop_state.ctx, loop, &loop_state.config);
	loop_state.accept_ctx.ctx = &loop_state.ctx;
	loop_state.accept_ctx.hosts = loop_state.config.hosts;
	if (o->tls_cert != NULL) {
		loop_state.accept_ctx.ssl_ctx = web_tls_context(
		    o->tls_cert, o->tls_key, tls_err, sizeof(tls_err));
		if (loop_state.accept_ctx.ssl_ctx == NULL) {
			fprintf(stderr, "databus-web: %s\n", tls_err);
			return EXIT_USAGE;
		}
		web_server_set_tls(true);
	}
	if (web_pool_create(loop, POOL_THREADS, POOL_QUEUE, &pool) != 0) {
		fputs("databus-web: out of memory\n", stderr);
		return EXIT_TRANSIENT;
	}
	web_server_set_pool(pool);
	if ((rc = web_events_start(loop, st, real)) != DBS_OK) {
		fprintf(stderr, "databus-web: live updates: %s\n",
		    dbs_strerror(rc));
		return EXIT_TRANSIENT;
	}
	*out = loop;
	return 0;
}

/* Tell databusd that this process listens (WebReady): databusd marks the
 * web READY on this message, not on a guess. Only when supervised. */
static void
tell_ready(const struct options *o)
{
	Dbs__ControlRequest rq = DBS__CONTROL_REQUEST__INIT;
	Dbs__WebReady wr = DBS__WEB_READY__INIT;
	Dbs__ControlReply *rp = NULL;

	if (o->parent == 0)
		return;
	wr.pid = (uint32_t)getpid();
	rq.verb_case = DBS__CONTROL_REQUEST__VERB_WEB_READY;
	rq.web_ready = &wr;
	(void)web_control(web_control_url(web_of(NULL)), "web", &rq, &rp);
	if (rp != NULL)
		dbs__control_reply__free_unpacked(rp, NULL);
}

int
main(int argc, char **argv)
{
	struct options o;
	char real[PATH_MAX];
	struct store *st = NULL;
	h2o_evloop_t *loop = NULL;
	h2o_socket_t *sock;
	sigset_t stop_signals;
	int fd, rc;

	/* Every thread started from here on (pool, live updates, readiness)
	 * has SIGTERM and SIGINT blocked: they reach the loop thread, which
	 * unblocks them in run_loop, so a stop wakes the loop at once. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	parse_args(argc, argv, &o);
	if (o.parent != 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 ||
		    getppid() != (pid_t)o.parent) {
			fprintf(stderr, "databus-web: parent %ld is gone\n",
			    o.parent);
			return EXIT_TRANSIENT;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0) {
		fputs("databus-web: libsodium failed to start\n", stderr);
		return EXIT_TRANSIENT;
	}

	/* Start-up: the data, the listening socket, the loop; then accept
	 * connections and run. */
	if ((rc = open_data(&o, real, &st)) != 0)
		return rc;
	if ((fd = listen_on(o.listen)) < 0) {
		fprintf(stderr, "databus-web: cannot listen on %s%s%s\n",
		    o.listen, fd == -2 ? "" : ": ",
		    fd == -2 ? " (expected HOST:PORT)" : strerror(errno));
		return fd == -2 ? EXIT_USAGE : EXIT_TRANSIENT;
	}
	if ((rc = start_loop(&o, st, real, &loop)) != 0)
		return rc;
	sock = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
	h2o_socket_read_start(sock, on_accept);
	printf("databus-web: listening on %s://%s\n", web_scheme(web_of(NULL)),
	    o.listen);
	fflush(stdout);
	tell_ready(&o);
	web_server_prepare();
	return run_loop(loop, web_pool(web_of(NULL)));
}
