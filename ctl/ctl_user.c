/*
 * ctl_user.c — databusctl verbs on users: ls (read from the store), add,
 * passwd, role, rm and revoke (requests to databusd). `rm` of a client's
 * last user warns: such a client can no longer be logged into.
 *
 * Passwords are hashed here, in the CLI, with libsodium's
 * crypto_pwhash_str (Argon2id, interactive limits), so that databusd's
 * event loop never spends ~60 ms and 64 MiB on one, and only the hash
 * travels over the control socket. The clear text is read from stdin —
 * without echo on a terminal — and wiped as soon as it is hashed.
 */
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ctl_cmd.h"
#include "dbs_error.h"
#include "record_json.h"

#define PASSWORD_MAX 1024

/* ---------------------------------------------------------------- ls */

struct user_ls {
	json_t *users;
	struct ctl_table table;
	size_t n;
	int bad;
};

static int
user_row(void *ctx, const Dbs__User *u)
{
	struct user_ls *ul = ctx;
	char created[32], updated[32];
	const char *row[5];

	ul->n++;
	if (ul->users != NULL) {
		ul->bad |= json_array_append_new(ul->users, rj_user(u));
		return 0;
	}
	row[0] = u->client;
	row[1] = u->username;
	row[2] = rj_role_name(u->role);
	row[3] = ctl_time_local(u->created_ms, created);
	row[4] = ctl_time_local(u->updated_ms, updated);
	ctl_table_add(&ul->table, row);
	return 0;
}

int
ctl_cmd_user_ls(struct ctl *c)
{
	static const char *const head[] = {
	    "CLIENT", "USER", "ROLE", "CREATED", "UPDATED"};
	struct user_ls ul = {0};
	struct store_txn *txn;
	json_t *doc;
	int rc;

	if ((rc = ctl_store_begin(c, &txn)) != CTL_EXIT_OK)
		return rc;
	if (c->args->json)
		ul.users = json_array();
	else
		ctl_table_init(&ul.table, 5, head);
	rc = store_user_list(txn, c->args->client_arg, user_row, &ul);
	store_txn_abort(txn);
	if (rc != DBS_OK) {
		json_decref(ul.users);
		ctl_table_free(&ul.table);
		return ctl_store_fail(c, "user ls", rc);
	}
	if (c->args->json) {
		doc = json_pack("{s:o}", "items", ul.users);
		if (ul.bad) {
			json_decref(doc);
			doc = NULL;
		}
		return ctl_print_json(doc);
	}
	if (ul.n == 0) {
		ctl_table_free(&ul.table);
		printf("no users\n");
		return CTL_EXIT_OK;
	}
	return ctl_table_print(&ul.table, "") == 0 ? CTL_EXIT_OK
						   : CTL_EXIT_FAIL;
}

/* ---------------------------------------------------------- passwords */

/* The terminal settings to restore if a signal arrives while echo is
 * off; only touched by the one thread that reads the password. */
static struct termios saved_tty;
static volatile sig_atomic_t tty_saved;

static void
restore_tty_and_die(int sig)
{
	if (tty_saved)
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Read one line from stdin into buf (without the newline). Byte by byte
 * with read(2), so that no stdio buffer keeps a copy of the secret.
 * Returns 0, or -1 with a message printed.
 */
static int
read_line(char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;
	char ch;

	for (;;) {
		n = read(STDIN_FILENO, &ch, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ctl_err(
			    "cannot read the password: %s", strerror(errno));
			return -1;
		}
		if (n == 0 || ch == '\n')
			break;
		if (len + 1 >= cap) {
			ctl_err(
			    "password longer than %d bytes", PASSWORD_MAX - 1);
			return -1;
		}
		buf[len++] = ch;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return 0;
}

/* Prompt on stderr and read a line from the terminal without echo. */
static int
read_tty(const char *prompt, char *buf, size_t cap)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	struct sigaction sa, old[4];
	struct termios quiet;
	size_t i;
	int rc;

	fputs(prompt, stderr);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &saved_tty) != 0)
		return read_line(buf, cap);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = restore_tty_and_die;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < 4; i++)
		sigaction(sigs[i], &sa, &old[i]);
	tty_saved = 1;
	quiet = saved_tty;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	rc = read_line(buf, cap);
	(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
	tty_saved = 0;
	for (i = 0; i < 4; i++)
		sigaction(sigs[i], &old[i], NULL);
	return rc;
}

/*
 * Read the new password of CLIENT/USER and hash it into hash. On a
 * terminal (and without --password-stdin) it is asked twice; otherwise
 * one line of stdin is the password. Returns 0 or -1 (message printed).
 */
static int
read_password_hash(const struct ctl_args *a, char hash[crypto_pwhash_STRBYTES])
{
	char pw[PASSWORD_MAX], again[PASSWORD_MAX], prompt[300];
	int rc = -1;

	if (isatty(STDIN_FILENO) && !a->password_stdin) {
		snprintf(prompt, sizeof(prompt),
		    "Password for %s/%s: ", a->client_arg, a->username);
		if (read_tty(prompt, pw, sizeof(pw)) != 0 ||
		    read_tty("Repeat the password: ", again, sizeof(again)) !=
			0)
			goto out;
		if (strcmp(pw, again) != 0) {
			ctl_err("the passwords do not match");
			goto out;
		}
	} else if (isatty(STDIN_FILENO)) {
		if (read_tty("", pw, sizeof(pw)) != 0)
			goto out;
	} else if (read_line(pw, sizeof(pw)) != 0) {
		goto out;
	}
	if (pw[0] == '\0') {
		ctl_err("the password must not be empty");
		goto out;
	}
	if (crypto_pwhash_str(hash, pw, strlen(pw),
		crypto_pwhash_OPSLIMIT_INTERACTIVE,
		crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		ctl_err("cannot hash the password: out of memory");
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(pw, sizeof(pw));
	sodium_memzero(again, sizeof(again));
	return rc;
}

/* ------------------------------------------------------------ changes */

int
ctl_cmd_user_put(struct ctl *c)
{
	const struct ctl_args *a = c->args;
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__UserPut put = DBS__USER_PUT__INIT;
	Dbs__ControlReply *r;
	char hash[crypto_pwhash_STRBYTES] = "";
	int rc;

	put.client = (char *)a->client_arg;
	put.username = (char *)a->username;
	put.create = a->verb == CTL_USER_ADD;
	put.set_password = a->verb != CTL_USER_ROLE;
	put.set_role = a->verb != CTL_USER_PASSWD;
	if (put.set_role)
		put.role = (Dbs__Role)a->role;
	if (put.set_password) {
		if (read_password_hash(a, hash) != 0)
			return CTL_EXIT_FAIL;
		put.password_hash = hash;
	}
	req.verb_case = DBS__CONTROL_REQUEST__VERB_USER_PUT;
	req.user_put = &put;
	rc = ctl_request(c, &req, &r);
	sodium_memzero(hash, sizeof(hash));
	if (rc != CTL_EXIT_OK)
		return rc;
	return ctl_reply_done(c, r, NULL);
}

/*
 * After `user rm`: a client left without users can no longer be logged
 * into (unless its file says "open_access": true), which is rarely what
 * was meant, so say so. The removal stands either way.
 */
static void
warn_if_last(struct ctl *c, const char *client)
{
	struct store_txn *txn;
	uint64_t n = 1;
	int rc;

	if (ctl_store_begin(c, &txn) != CTL_EXIT_OK)
		return;
	rc = store_user_count(txn, client, &n);
	store_txn_abort(txn);
	if (rc != DBS_OK || n > 0)
		return;
	if (strcmp(client, "root") == 0)
		ctl_err("warning: no root user is left: nobody can log in as "
			"root");
	else
		ctl_err("warning: client %s has no users left: nobody can log "
			"in to it, unless its client file says "
			"\"open_access\": true",
		    client);
}

int
ctl_cmd_user_ref(struct ctl *c)
{
	const struct ctl_args *a = c->args;
	Dbs__ControlRequest req = DBS__CONTROL_REQUEST__INIT;
	Dbs__UserRef ref = DBS__USER_REF__INIT;
	Dbs__ControlReply *r;
	char human[64];
	int rc;

	ref.client = (char *)a->client_arg;
	ref.username = (char *)a->username;
	if (a->verb == CTL_USER_REVOKE) {
		req.verb_case = DBS__CONTROL_REQUEST__VERB_USER_REVOKE;
		req.user_revoke = &ref;
	} else {
		req.verb_case = DBS__CONTROL_REQUEST__VERB_USER_RM;
		req.user_rm = &ref;
	}
	if ((rc = ctl_request(c, &req, &r)) != CTL_EXIT_OK)
		return rc;
	if (a->verb != CTL_USER_REVOKE) {
		rc = ctl_reply_done(c, r, NULL);
		if (rc == CTL_EXIT_OK)
			warn_if_last(c, a->client_arg);
		return rc;
	}
	snprintf(human, sizeof(human), "ended %llu session%s",
	    (unsigned long long)r->count, r->count == 1 ? "" : "s");
	return ctl_reply_done(c, r, human);
}
