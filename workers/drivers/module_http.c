/*
 * module_http.c — the `http` driver family (module.h): the http pusher
 * and the http_poll puller, which need libcurl. Built as drivers/http.so.
 */
#include "module.h"

extern const struct drv_ops drv_http_pusher_ops;
extern const struct drv_ops drv_http_poll_ops;

DRV_MODULE(http, &drv_http_pusher_ops, &drv_http_poll_ops);
