/*
 * subprocess.h — run a program to its end with a deadline: start it, feed
 * it its input on stdin, collect its stdout up to a cap and hand its
 * stderr to a callback while it runs, then wait for its exit; past the
 * deadline (or past the cap, when the cap kills) it is killed, and it is
 * always reaped before the call returns. The exec driver runs its
 * programs this way and databusd runs `databus-worker --check`.
 *
 * The program is started with posix_spawn, never a bare fork (nng is not
 * fork-safe; DESIGN §2), with an empty signal mask and every signal at its
 * default disposition, and only fds 0-2 open. Its stdin is one end of a
 * socket pair written with MSG_NOSIGNAL, so a program that exits without
 * reading gives EPIPE, never a SIGPIPE to the caller. stdin is closed once
 * all of `in` is written (at once when it is empty).
 *
 * Blocking, single-threaded: the call returns when the program has exited
 * and both output pipes are closed, or at the deadline.
 */
#ifndef DBS_SUBPROCESS_H
#define DBS_SUBPROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What happens when stdout passes `out_max` bytes. */
enum subprocess_cap {
	SUBPROCESS_CAP_KILLS = 0,     /* kill the program: DBS_ETOOBIG */
	SUBPROCESS_CAP_TRUNCATES = 1, /* keep the first out_max bytes, read
					 and drop the rest */
};

struct subprocess_spec {
	const char *path;  /* the program */
	char *const *argv; /* argv[0] included, NULL-terminated */
	char *const *envp; /* NULL: the caller's environment */
	const char *dir;   /* working directory; NULL: the caller's */
	bool search_path;  /* look a bare `path` up in the caller's PATH */
	bool own_group;    /* its own process group, killed as a whole
			      when the call ends (nothing it started
			      outlives the call) */
	const char *in;    /* stdin, `in_len` bytes (may be NULL if 0) */
	size_t in_len;
	size_t out_max; /* stdout cap, in bytes */
	enum subprocess_cap cap;
	uint64_t timeout_ms; /* from the start to the exit */
	/* stderr: each chunk as it is read, or NULL to leave the program
	 * the caller's stderr. */
	void (*on_stderr)(void *arg, const char *data, size_t len);
	void *arg;
};

struct subprocess_result {
	char *out; /* stdout, NUL-terminated; the caller frees it */
	size_t out_len;
	int status;         /* the waitpid() status */
	const char *failed; /* on DBS_EIO: the call that failed ("pipe",
			       "spawn", "poll", "wait") */
	int error;          /* on DBS_EIO: its errno */
};

/*
 * Run `spec` and fill `res` (cleared first). DBS_OK when the program ran
 * and exited: res->out and res->status are set, whatever its exit status.
 * Otherwise res->out is NULL and the result is DBS_ETIMEOUT (the deadline
 * passed: killed), DBS_ETOOBIG (more than out_max bytes of stdout with
 * SUBPROCESS_CAP_KILLS: killed), DBS_ENOMEM, or DBS_EIO with res->failed
 * and res->error saying which call failed and why (a program that cannot
 * be started is "spawn").
 */
int subprocess_run(
    const struct subprocess_spec *spec, struct subprocess_result *res);

#endif
