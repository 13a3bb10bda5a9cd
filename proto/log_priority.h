/*
 * log_priority.h — syslog priority prefixes on log lines, when stderr is
 * the systemd journal.
 *
 * Under systemd, a service's stderr is a stream into journald, which
 * reads a leading "<N>" on each line as the line's syslog priority (3
 * error, 4 warning, 6 info; sd-daemon(3)). Written to a terminal or a
 * file, the prefix would only be noise, so it is given only when
 * $JOURNAL_STREAM (set by systemd to "<device>:<inode>" of the stream)
 * names the file stderr is now. The children of databusd inherit both
 * stderr and the variable, so each process decides the same way.
 */
#ifndef DBS_LOG_PRIORITY_H
#define DBS_LOG_PRIORITY_H

#include <syslog.h> /* LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO */

/*
 * "<N>" for `priority` (LOG_ERR ... LOG_DEBUG) when stderr is the
 * journal, else "". The answer is worked out at the first call and kept
 * (a static string: never freed).
 */
const char *dbs_log_prefix(int priority);

#endif
