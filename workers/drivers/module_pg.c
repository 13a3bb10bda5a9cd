/*
 * module_pg.c — the `pg` driver family (module.h): the postgres pusher,
 * which needs libpq. Built as drivers/pg.so.
 */
#include "module.h"

extern const struct drv_ops drv_pg_pusher_ops;

DRV_MODULE(pg, &drv_pg_pusher_ops);
