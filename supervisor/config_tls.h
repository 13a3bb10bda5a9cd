/*
 * config_tls.h — checking the web's TLS certificate and key files (see
 * config_tls.c).
 */
#ifndef DBS_CONFIG_TLS_H
#define DBS_CONFIG_TLS_H

#include <stddef.h>

enum {
	CONFIG_TLS_OK = 0,
	CONFIG_TLS_BAD_CERT = 1, /* the message is about the certificate */
	CONFIG_TLS_BAD_KEY = 2,  /* ... about the key (or their match) */
};

/*
 * Read the PEM certificate (chain) `cert` and the unencrypted PEM private
 * key `key` and check that the key belongs to the certificate. Returns
 * CONFIG_TLS_OK, or which file is at fault with a message in msg.
 */
int config_tls_check(const char *cert, const char *key, char *msg, size_t len);

#endif
