/*
 * fuzz_imap_response.c — libFuzzer target for the imap puller's reader
 * of server responses (workers/drivers/imap_session.c): lines, tagged replies,
 * untagged responses and literals of any announced size.
 *
 * The input is what a hostile IMAP server sends. Its first byte picks the
 * size of the pieces the fake transport hands over (1 to 256 bytes), so
 * that lines and literals are split at every possible place. The session
 * runs the puller's commands in order until one fails; every literal
 * byte is read, so a length taken from the wire that is not honoured
 * shows up under ASan.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dbs_error.h"
#include "drivers/imap_session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
	const uint8_t *p;
	size_t len, off, chunk;
};

static int
mem_send(void *arg, const char *data, size_t len, char *err, size_t errlen)
{
	return DBS_OK;
}

static int
mem_recv(void *arg, char *buf, size_t cap, size_t *n, char *err, size_t errlen)
{
	struct mem *m = arg;
	size_t k = m->len - m->off;

	if (k > m->chunk)
		k = m->chunk;
	if (k > cap)
		k = cap;
	memcpy(buf, m->p + m->off, k);
	m->off += k;
	*n = k;
	return DBS_OK;
}

static void
mem_close(void *arg, bool quick)
{
}

static volatile unsigned sink;

static int
on_untagged(void *arg, const char *text, const struct imap_literal *lits,
    size_t n_lits)
{
	size_t i, k;

	sink += (unsigned)strlen(text);
	for (i = 0; i < n_lits; i++)
		for (k = 0; lits[i].data != NULL && k < lits[i].len; k++)
			sink += (unsigned char)lits[i].data[k];
	return DBS_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const commands[] = {"EXAMINE \"INBOX\"",
	    "UID SEARCH UNSEEN", "UID FETCH 1 (UID BODY.PEEK[])",
	    "UID FETCH 2 (UID BODY.PEEK[])", "SELECT \"INBOX\"",
	    "UID STORE 1 +FLAGS.SILENT (\\Seen)", "UID MOVE 2 \"Done\""};
	struct mem m;
	struct imap_transport t = {mem_send, mem_recv, mem_close, &m};
	struct imap_session *s;
	char err[256];
	size_t i;

	if (size < 1)
		return 0;
	m.chunk = (size_t)data[0] + 1;
	m.p = data + 1;
	m.len = size - 1;
	m.off = 0;
	/* A small literal limit, so that the "too large: dropped" path is
	 * reached too. */
	s = imap_session_new(&t, 4096);
	if (s == NULL)
		return 0;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		int rc = imap_command(
		    s, commands[i], on_untagged, NULL, err, sizeof(err));

		if (strlen(err) >= sizeof(err))
			abort();
		if (rc != DBS_OK && rc != DBS_EDRIVER)
			break;
	}
	imap_close(s);
	return 0;
}
