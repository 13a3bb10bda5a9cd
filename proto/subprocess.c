/*
 * subprocess.c — run a program to its end with a deadline (subprocess.h).
 *
 * Three steps: start() makes the pipes and spawns the program; exchange()
 * polls stdin, stdout and stderr together, so that neither side can block
 * the other, until both outputs are closed or the deadline passes; reap()
 * waits for the exit (still within the deadline) without reaping first,
 * so that the process group still exists when it is killed, then kills
 * what is left and reaps the program.
 */
#include "subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dbs_error.h"

#define OUT_CHUNK (64u * 1024) /* stdout buffer growth */

/* Our ends of the program's stdin, stdout and stderr (-1: closed). */
struct child {
	pid_t pid;
	int in, out, err;
	size_t sent; /* bytes of spec->in written */
	size_t cap;  /* allocated size of res->out, less the NUL */
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int
fail(struct subprocess_result *res, const char *call, int error)
{
	res->failed = call;
	res->error = error;
	return DBS_EIO;
}

/* Move `*fd` above 2, so that the dup2 actions onto 0-2 cannot clobber
 * one another (the caller may run with 0-2 closed). */
static int
above_stdio(int *fd)
{
	int moved;

	if (*fd > 2)
		return 0;
	moved = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
	if (moved < 0)
		return errno;
	close(*fd);
	*fd = moved;
	return 0;
}

/* posix_spawn(p) with the program's ends of the pipes as 0-2. */
static int
spawn(const struct subprocess_spec *s, int in, int out, int err, pid_t *pid)
{
	char *const *envp = s->envp != NULL ? s->envp : environ;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, defaults;
	short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
	int e;

	if ((e = posix_spawn_file_actions_init(&fa)) != 0)
		return e;
	if ((e = posix_spawnattr_init(&attr)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return e;
	}
	/* The caller may block signals (databusd's signalfd) or ignore
	 * some: the program inherits neither. */
	sigemptyset(&none);
	sigfillset(&defaults);
	if (s->own_group)
		flags |= POSIX_SPAWN_SETPGROUP;
	if ((s->dir == NULL || (e = posix_spawn_file_actions_addchdir_np(
				    &fa, s->dir)) == 0) &&
	    (e = posix_spawn_file_actions_adddup2(&fa, in, 0)) == 0 &&
	    (e = posix_spawn_file_actions_adddup2(&fa, out, 1)) == 0 &&
	    (err < 0 ||
		(e = posix_spawn_file_actions_adddup2(&fa, err, 2)) == 0) &&
	    (e = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) == 0 &&
	    (e = posix_spawnattr_setsigmask(&attr, &none)) == 0 &&
	    (e = posix_spawnattr_setsigdefault(&attr, &defaults)) == 0 &&
	    (e = posix_spawnattr_setpgroup(&attr, 0)) == 0 &&
	    (e = posix_spawnattr_setflags(&attr, flags)) == 0)
		e = s->search_path
			? posix_spawnp(pid, s->path, &fa, &attr, s->argv, envp)
			: posix_spawn(pid, s->path, &fa, &attr, s->argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return e;
}

/* Make the pipes and start the program; DBS_OK or DBS_EIO. */
static int
start(const struct subprocess_spec *s, struct child *c,
    struct subprocess_result *res)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
	int rc = DBS_OK, e;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0 ||
	    pipe2(out, O_CLOEXEC) != 0 ||
	    (s->on_stderr != NULL && pipe2(err, O_CLOEXEC) != 0)) {
		rc = fail(res, "pipe", errno);
		goto out;
	}
	if ((e = above_stdio(&in[1])) != 0 ||
	    (e = above_stdio(&out[1])) != 0 ||
	    (err[1] >= 0 && (e = above_stdio(&err[1])) != 0)) {
		rc = fail(res, "pipe", e);
		goto out;
	}
	if ((e = spawn(s, in[1], out[1], err[1], &c->pid)) != 0) {
		c->pid = -1;
		rc = fail(res, "spawn", e);
		goto out;
	}
	c->in = in[0];
	c->out = out[0];
	c->err = err[0];
	in[0] = out[0] = err[0] = -1; /* transferred */
	if (s->in_len == 0)
		close_fd(&c->in);
out:
	for (int i = 0; i < 2; i++) {
		close_fd(&in[i]);
		close_fd(&out[i]);
		close_fd(&err[i]);
	}
	return rc;
}

/* Write what stdin takes now; close it when done or when the program
 * does not read (EPIPE). */
static void
feed(const struct subprocess_spec *s, struct child *c)
{
	ssize_t w = send(c->in, s->in + c->sent, s->in_len - c->sent,
	    MSG_NOSIGNAL | MSG_DONTWAIT);

	if (w > 0)
		c->sent += (size_t)w;
	if ((w < 0 && errno != EAGAIN && errno != EINTR) ||
	    c->sent == s->in_len)
		close_fd(&c->in);
}

/* Room to read stdout into: grow res->out by OUT_CHUNK steps up to the
 * cap (plus a chunk when the cap kills, to see it passed). */
static int
out_room(const struct subprocess_spec *s, struct child *c,
    struct subprocess_result *res)
{
	size_t limit =
	    s->out_max + (s->cap == SUBPROCESS_CAP_KILLS ? OUT_CHUNK : 0);
	size_t ncap;
	char *p;

	if (c->cap - res->out_len >= OUT_CHUNK || c->cap >= limit)
		return DBS_OK;
	ncap = c->cap != 0 ? c->cap * 2 : OUT_CHUNK;
	if (ncap > limit)
		ncap = limit;
	p = realloc(res->out, ncap + 1);
	if (p == NULL)
		return DBS_ENOMEM;
	res->out = p;
	c->cap = ncap;
	return DBS_OK;
}

static int
read_out(const struct subprocess_spec *s, struct child *c,
    struct subprocess_result *res)
{
	char drop[4096], *dst = drop;
	size_t room = sizeof(drop);
	ssize_t got;

	if (s->cap == SUBPROCESS_CAP_KILLS || res->out_len < s->out_max) {
		if (out_room(s, c, res) != DBS_OK)
			return DBS_ENOMEM;
		dst = res->out + res->out_len;
		room = c->cap - res->out_len;
	}
	got = read(c->out, dst, room);
	if (got < 0 && (errno == EINTR || errno == EAGAIN))
		return DBS_OK;
	if (got <= 0) {
		close_fd(&c->out);
		return DBS_OK;
	}
	if (dst == drop)
		return DBS_OK;
	res->out_len += (size_t)got;
	if (res->out_len > s->out_max) {
		if (s->cap == SUBPROCESS_CAP_KILLS)
			return DBS_ETOOBIG;
		res->out_len = s->out_max;
	}
	return DBS_OK;
}

static void
read_err(const struct subprocess_spec *s, struct child *c)
{
	char buf[4096];
	ssize_t got = read(c->err, buf, sizeof(buf));

	if (got > 0)
		s->on_stderr(s->arg, buf, (size_t)got);
	else if (got == 0 || (errno != EINTR && errno != EAGAIN))
		close_fd(&c->err);
}

/* Until stdout and stderr are closed: DBS_OK, DBS_ETIMEOUT, DBS_ETOOBIG,
 * DBS_ENOMEM or DBS_EIO. */
static int
exchange(const struct subprocess_spec *s, struct child *c,
    struct subprocess_result *res, int64_t deadline)
{
	int rc = DBS_OK;

	while (rc == DBS_OK && (c->out >= 0 || c->err >= 0)) {
		struct pollfd pfd[3];
		int64_t left = deadline - mono_ms();
		nfds_t n = 0;
		int k;

		if (left <= 0)
			return DBS_ETIMEOUT;
		if (c->in >= 0)
			pfd[n++] = (struct pollfd){c->in, POLLOUT, 0};
		if (c->out >= 0)
			pfd[n++] = (struct pollfd){c->out, POLLIN, 0};
		if (c->err >= 0)
			pfd[n++] = (struct pollfd){c->err, POLLIN, 0};
		k = poll(pfd, n, left > 1000 ? 1000 : (int)left);
		if (k < 0 && errno != EINTR)
			return fail(res, "poll", errno);
		for (nfds_t i = 0; k > 0 && rc == DBS_OK && i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (pfd[i].fd == c->in)
				feed(s, c);
			else if (pfd[i].fd == c->out)
				rc = read_out(s, c, res);
			else
				read_err(s, c);
		}
	}
	return rc;
}

/* Wait until the program has exited, without reaping it; DBS_OK,
 * DBS_ETIMEOUT or DBS_EIO. */
static int
wait_exit(pid_t pid, int64_t deadline, struct subprocess_result *res)
{
	for (;;) {
		struct timespec ts = {0, 5 * 1000000L};
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT) !=
		    0) {
			if (errno != EINTR)
				return fail(res, "wait", errno);
		} else if (si.si_pid == pid) {
			return DBS_OK;
		}
		if (mono_ms() >= deadline)
			return DBS_ETIMEOUT;
		nanosleep(&ts, NULL);
	}
}

/* Wait for the exit (when all went well so far), kill what is left and
 * reap; returns the final result. */
static int
reap(const struct subprocess_spec *s, struct child *c, int rc,
    int64_t deadline, struct subprocess_result *res)
{
	if (rc == DBS_OK)
		rc = wait_exit(c->pid, deadline, res);
	if (s->own_group)
		(void)kill(-c->pid, SIGKILL);
	else if (rc != DBS_OK)
		(void)kill(c->pid, SIGKILL);
	while (waitpid(c->pid, &res->status, 0) < 0 && errno == EINTR)
		;
	return rc;
}

int
subprocess_run(
    const struct subprocess_spec *spec, struct subprocess_result *res)
{
	struct child c = {.pid = -1, .in = -1, .out = -1, .err = -1};
	int64_t deadline = mono_ms() + (int64_t)spec->timeout_ms;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = start(spec, &c, res);
	if (rc != DBS_OK)
		return rc;
	rc = exchange(spec, &c, res, deadline);
	rc = reap(spec, &c, rc, deadline, res);
	close_fd(&c.in);
	close_fd(&c.out);
	close_fd(&c.err);
	if (rc == DBS_OK && res->out == NULL)
		res->out = malloc(1);
	if (rc == DBS_OK && res->out == NULL)
		rc = DBS_ENOMEM;
	if (rc != DBS_OK) {
		free(res->out);
		res->out = NULL;
		res->out_len = 0;
		return rc;
	}
	res->out[res->out_len] = '\0';
	return DBS_OK;
}
