/*
 * dbs_error.c — messages of the Databus error enum (see dbs_error.h).
 */
#include "dbs_error.h"

#include <errno.h>
#include <stddef.h>

static const char *const messages[DBS__LAST] = {
    [DBS_OK] = "success",
    [DBS_ENOMEM] = "out of memory",
    [DBS_EINVAL] = "invalid argument",
    [DBS_ENOTFOUND] = "not found",
    [DBS_EEXIST] = "already exists",
    [DBS_EIO] = "input/output error",
    [DBS_ENOSPC] = "no space left on device",
    [DBS_EMAPFULL] = "store is full",
    [DBS_ECORRUPT] = "corrupt record",
    [DBS_ESCHEMA] = "store schema is newer than this program",
    [DBS_ELOCKED] = "data directory is in use by another databusd",
    [DBS_ECONFIG] = "configuration error",
    [DBS_EPROTO] = "protocol violation",
    [DBS_ETIMEOUT] = "timed out",
    [DBS_EBUSY] = "busy",
    [DBS_EPAUSED] = "paused",
    [DBS_ESHUTDOWN] = "shutting down",
    [DBS_EPERM] = "not permitted",
    [DBS_EDRIVER] = "driver error",
    [DBS_ENOWORKER] = "worker not running",
    [DBS_ETRANSPORT] = "transport error",
    [DBS_ETOOBIG] = "too large",
    [DBS_EAUTH] = "authentication failed",
    [DBS_EQUOTA] = "over the client's quota",
};

const char *
dbs_strerror(int err)
{
	if (err < 0 || err >= DBS__LAST || messages[err] == NULL)
		return "unknown error";
	return messages[err];
}

int
dbs_from_errno(int errnum)
{
	switch (errnum) {
	case 0:
		return DBS_OK;
	case ENOMEM:
		return DBS_ENOMEM;
	case ENOENT:
		return DBS_ENOTFOUND;
	case EEXIST:
		return DBS_EEXIST;
	case ENOSPC:
	case EDQUOT:
		return DBS_ENOSPC;
	case EINVAL:
		return DBS_EINVAL;
	case EACCES:
	case EPERM:
		return DBS_EPERM;
	case ETIMEDOUT:
		return DBS_ETIMEOUT;
	case EAGAIN:
		return DBS_EBUSY;
	default:
		return DBS_EIO;
	}
}
