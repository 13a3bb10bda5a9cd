/*
 * mail_mime.h — GMime's library state, shared by the mail drivers.
 *
 * g_mime_init() runs when the first mail driver of the process starts,
 * whichever driver it is (an imap puller and an smtp pusher of one
 * definition share it). g_mime_shutdown() is never called: GMime cannot be
 * initialised again after it (its tables stay destroyed, and every call
 * then logs GLib-CRITICAL and leaks), and `databus-worker --check` starts
 * and stops every mail definition of the configuration in turn. The state
 * stays reachable until the process exits, so it is no leak.
 */
#ifndef DBS_MAIL_MIME_H
#define DBS_MAIL_MIME_H

void mail_mime_acquire(void);
void mail_mime_release(void);

#endif
