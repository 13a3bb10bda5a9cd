/*
 * fake_worker.c — a misbehaving databus-worker for system tests.
 *
 * databusd execs the binary named by $DATABUS_WORKER for every worker. The
 * system tests point it here. For every slot except $DBS_FAKE_SLOT (and for
 * `--check` runs, which have no slot) this program simply execv()s the real
 * worker ($DBS_REAL_WORKER) with the same argv, so those workers behave
 * normally. For the fake slot it speaks just enough of the protocol to be
 * taken for a healthy worker — it dials the socket, waits for Init and
 * answers Ready{pid, code=0} — and then misbehaves, as chosen by
 * $DBS_FAKE_MODE:
 *
 *   garbage     (default) bytes that do not decode as a WorkerMsg;
 *   unexpected  a well-formed WorkerMsg the supervisor never accepts from
 *               a worker (an Init);
 *   hang        nothing more: no heartbeat, no answer to Drive (a hung
 *               driver; the drive timeout or heartbeat check must end it);
 *   silent      never answers Init at all (stuck while starting);
 *   block       after Ready, blocks in read(2) on a pipe nobody writes
 *               (a driver stuck in a blocked read; faults);
 *
 * and then sleeps, so that only the supervisor can end it (the test asserts
 * that it does). Optional:
 *   DBS_FAKE_PIDFILE  the fake writes its pid there before misbehaving;
 *   DBS_FAKE_ONCE     a marker file: if it exists the slot runs the real
 *                     worker, otherwise the fake creates it and misbehaves
 *                     (so the restarted worker is healthy again);
 *   DBS_FAKE_STARTS   a file to which each fake start appends "<pid>
 *                     <CLOCK_MONOTONIC ms>" (faults: backoff timing);
 *   DBS_FAKE_PAIR     0 or 1: nng pair protocol version (default: the one
 *                     databus-worker uses, FAKE_PAIR_VERSION below).
 * It dies with its parent (PR_SET_PDEATHSIG) and never sleeps more than
 * 120 s, so a broken supervisor cannot leave it behind for long.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>
#include <nng/protocol/pair1/pair.h>

#include "databus.pb-c.h"
#include "wire.h"

/* databus-worker opens its socket with nng_pair1_open (workers/worker.c). */
#ifndef FAKE_PAIR_VERSION
#define FAKE_PAIR_VERSION 1
#endif

static const char *
arg_value(int argc, char **argv, const char *name)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

static void
exec_real(char **argv)
{
	const char *real = getenv("DBS_REAL_WORKER");

	if (real == NULL || *real == '\0') {
		fprintf(stderr, "fake_worker: DBS_REAL_WORKER is not set\n");
		exit(100);
	}
	execv(real, argv);
	fprintf(stderr, "fake_worker: execv %s: %s\n", real, strerror(errno));
	exit(111);
}

/* True if the marker file existed; otherwise creates it. */
static int
once_taken(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);

	if (fd < 0)
		return 1;
	close(fd);
	return 0;
}

static void
write_pidfile(const char *path)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL)
		return;
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);
	rename(tmp, path);
}

int
main(int argc, char **argv)
{
	const char *slot = arg_value(argc, argv, "--slot");
	const char *url = arg_value(argc, argv, "--socket");
	const char *parent = arg_value(argc, argv, "--parent");
	const char *fake = getenv("DBS_FAKE_SLOT");
	const char *once = getenv("DBS_FAKE_ONCE");
	const char *pidfile = getenv("DBS_FAKE_PIDFILE");
	const char *mode = getenv("DBS_FAKE_MODE");
	const char *pairv = getenv("DBS_FAKE_PAIR");
	int version = FAKE_PAIR_VERSION;
	nng_socket s;
	Dbs__WorkerMsg *in = NULL;
	int rc;

	if (slot == NULL || url == NULL || fake == NULL ||
	    strcmp(slot, fake) != 0)
		exec_real(argv);
	if (once != NULL && *once != '\0' && once_taken(once))
		exec_real(argv);

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getenv("DBS_FAKE_STARTS") != NULL) {
		FILE *f = fopen(getenv("DBS_FAKE_STARTS"), "a");
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (f != NULL) {
			fprintf(f, "%d %lld\n", (int)getpid(),
			    (long long)now.tv_sec * 1000 +
				now.tv_nsec / 1000000);
			fclose(f);
		}
	}
	if (parent != NULL && getppid() != (pid_t)atol(parent))
		return 111;
	if (pairv != NULL && *pairv != '\0')
		version = atoi(pairv);
	if (mode == NULL || *mode == '\0')
		mode = "garbage";

	rc = version == 0 ? nng_pair0_open(&s) : nng_pair1_open(&s);
	if (rc != 0) {
		fprintf(stderr, "fake_worker: open: %s\n", nng_strerror(rc));
		return 111;
	}
	(void)nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 30000);
	(void)nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 5000);
	(void)nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 10);
	if ((rc = nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		fprintf(stderr, "fake_worker: dial %s: %s\n", url,
		    nng_strerror(rc));
		return 111;
	}
	if (strcmp(mode, "silent") == 0) {
		if (pidfile != NULL && *pidfile != '\0')
			write_pidfile(pidfile);
		goto sleep;
	}
	/* Wait for Init, as a real worker does. */
	for (;;) {
		rc = wire_recv_worker(s, &in, 0);
		if (rc != 0) {
			fprintf(
			    stderr, "fake_worker: no Init (error %d)\n", rc);
			return 111;
		}
		int is_init = in->body_case == DBS__WORKER_MSG__BODY_INIT;
		protobuf_c_message_free_unpacked(&in->base, NULL);
		if (is_init)
			break;
	}

	Dbs__Ready ready = DBS__READY__INIT;
	Dbs__WorkerMsg out = DBS__WORKER_MSG__INIT;
	ready.pid = (int32_t)getpid();
	ready.code = 0;
	ready.version = "fake";
	out.body_case = DBS__WORKER_MSG__BODY_READY;
	out.ready = &ready;
	if ((rc = wire_send(s, &out.base, 0)) != 0) {
		fprintf(stderr, "fake_worker: send Ready: error %d\n", rc);
		return 111;
	}
	if (pidfile != NULL && *pidfile != '\0')
		write_pidfile(pidfile);

	if (strcmp(mode, "hang") == 0) {
		rc = 0;
	} else if (strcmp(mode, "block") == 0) {
		int fds[2];
		char c;

		if (pipe(fds) != 0)
			return 111;
		fprintf(stderr, "fake_worker: slot %s pid %d blocks in read\n",
		    slot, (int)getpid());
		/* Blocks until the supervisor kills us (PDEATHSIG bounds
		 * it if the supervisor dies). */
		(void)read(fds[0], &c, 1);
		return 111;
	} else if (strcmp(mode, "unexpected") == 0) {
		Dbs__Init init = DBS__INIT__INIT;
		Dbs__WorkerMsg bad = DBS__WORKER_MSG__INIT;
		init.client = "evil";
		init.definition = "evil";
		bad.body_case = DBS__WORKER_MSG__BODY_INIT;
		bad.init = &init;
		rc = wire_send(s, &bad.base, 0);
	} else {
		/* Tag 1 (wire type 7: invalid) then an over-long varint:
		 * protobuf-c refuses both. */
		static const unsigned char junk[] = {0x0f, 0xff, 0xff, 0xff,
		    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 'g',
		    'a', 'r', 'b', 'a', 'g', 'e'};
		nng_msg *m = NULL;
		if (nng_msg_alloc(&m, 0) == 0 &&
		    nng_msg_append(m, junk, sizeof(junk)) == 0) {
			rc = nng_sendmsg(s, m, 0);
			if (rc != 0)
				nng_msg_free(m);
		} else {
			rc = NNG_ENOMEM;
		}
	}
	if (rc != 0)
		fprintf(stderr, "fake_worker: send %s: error %d\n", mode, rc);
	fprintf(stderr, "fake_worker: slot %s pid %d sent %s\n", slot,
	    (int)getpid(), mode);

sleep:
	/* Stay up until the supervisor ends us (bounded). Messages that
	 * arrive meanwhile (Drive, ...) stay unread. */
	for (int i = 0; i < 1200; i++) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
		if (parent != NULL && getppid() != (pid_t)atol(parent))
			break;
	}
	nng_close(s);
	return 0;
}
