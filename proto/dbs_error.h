/*
 * dbs_error.h — the one error enum of Databus.
 *
 * Every module returns these values (0 on success, a positive code on
 * failure); they also travel in replies (ControlReply.code, Ready.code), so a
 * value never changes once shipped: add new codes at the end.
 * dbs_strerror() gives a short English sentence fragment for each.
 */
#ifndef DBS_ERROR_H
#define DBS_ERROR_H

enum dbs_error {
	DBS_OK = 0,
	DBS_ENOMEM = 1,      /* out of memory */
	DBS_EINVAL = 2,      /* invalid argument or request */
	DBS_ENOTFOUND = 3,   /* no such object (or another tenant's) */
	DBS_EEXIST = 4,      /* object already exists */
	DBS_EIO = 5,         /* I/O error (errno kept by the caller) */
	DBS_ENOSPC = 6,      /* no space left on the device */
	DBS_EMAPFULL = 7,    /* the store's map is full and cannot grow */
	DBS_ECORRUPT = 8,    /* a record does not decode */
	DBS_ESCHEMA = 9,     /* store schema from a newer version */
	DBS_ELOCKED = 10,    /* data dir in use by another databusd */
	DBS_ECONFIG = 11,    /* configuration error */
	DBS_EPROTO = 12,     /* protocol violation by a peer */
	DBS_ETIMEOUT = 13,   /* timed out */
	DBS_EBUSY = 14,      /* busy: try again later */
	DBS_EPAUSED = 15,    /* refused while paused */
	DBS_ESHUTDOWN = 16,  /* refused while shutting down */
	DBS_EPERM = 17,      /* not permitted */
	DBS_EDRIVER = 18,    /* a driver failed */
	DBS_ENOWORKER = 19,  /* the worker is not running */
	DBS_ETRANSPORT = 20, /* socket error */
	DBS_ETOOBIG = 21,    /* message or value too large */
	DBS_EAUTH = 22,      /* authentication failed */
	DBS_EQUOTA = 23,     /* over a client's quota or rate: retry later */
	DBS__LAST = 24
};

/* A static string describing `err`; never NULL, also for unknown values. */
const char *dbs_strerror(int err);

/* Map an errno value to the closest dbs_error. */
int dbs_from_errno(int errnum);

#endif
