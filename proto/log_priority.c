/*
 * log_priority.c — whether stderr is the journal, and the "<N>" prefix
 * of a line's priority if so (see log_priority.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "log_priority.h"

/* Whether $JOURNAL_STREAM is "<dev>:<ino>" of stderr. */
static bool
stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int end = 0;

	if (env == NULL || sscanf(env, "%llu:%llu%n", &dev, &ino, &end) != 2 ||
	    env[end] != '\0' || fstat(2, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

const char *
dbs_log_prefix(int priority)
{
	static const char *const prefixes[] = {
	    "<0>", "<1>", "<2>", "<3>", "<4>", "<5>", "<6>", "<7>"};
	/* -1: not yet known. Two threads asking first both work out the
	 * same answer, so the race is harmless. */
	static int journal = -1;

	if (journal < 0)
		journal = stderr_is_journal();
	if (!journal || priority < 0 || priority > 7)
		return "";
	return prefixes[priority];
}
