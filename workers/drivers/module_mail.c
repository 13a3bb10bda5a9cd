/*
 * module_mail.c — the `mail` driver family (module.h): the imap puller
 * and the smtp pusher, which need libcurl and GMime (so GLib). Built as
 * drivers/mail.so.
 */
#include "module.h"

extern const struct drv_ops drv_imap_puller_ops;
extern const struct drv_ops drv_smtp_pusher_ops;

DRV_MODULE(mail, &drv_imap_puller_ops, &drv_smtp_pusher_ops);
