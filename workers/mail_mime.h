/*
 * mail_mime.h — GMime's library state, shared by the mail drivers.
 *
 * g_mime_init() runs when the first mail driver of the process starts and
 * g_mime_shutdown() when the last one stops, whichever drivers they are
 * (an imap puller and an smtp pusher of one definition share it).
 */
#ifndef DBS_MAIL_MIME_H
#define DBS_MAIL_MIME_H

void mail_mime_acquire(void);
void mail_mime_release(void);

#endif
