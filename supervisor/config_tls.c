/*
 * config_tls.c — the check of "web": {"tls": {"cert", "key"}} at load.
 *
 * databus-web loads the files itself when it starts; checking them here
 * first turns a typo, an unreadable key or a key of another certificate
 * into a config error that names the file and the JSON path and stops
 * databusd (exit 100), instead of a web server that fails to start again
 * and again. Only PEM files are accepted, and the key must not be
 * encrypted: nobody is there to type a passphrase.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config_tls.h"

/* Refuse to ask for a passphrase (OpenSSL would prompt on the tty). */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

int
config_tls_check(const char *cert, const char *key, char *msg, size_t len)
{
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	FILE *f;
	int which = CONFIG_TLS_OK;

	if ((f = fopen(cert, "re")) == NULL) {
		snprintf(msg, len, "\"%s\": %s", cert, strerror(errno));
		which = CONFIG_TLS_BAD_CERT;
		goto out;
	}
	x = PEM_read_X509(f, NULL, no_passphrase, NULL);
	fclose(f);
	if (x == NULL) {
		snprintf(msg, len, "\"%s\" holds no PEM certificate", cert);
		which = CONFIG_TLS_BAD_CERT;
		goto out;
	}
	if ((f = fopen(key, "re")) == NULL) {
		snprintf(msg, len, "\"%s\": %s", key, strerror(errno));
		which = CONFIG_TLS_BAD_KEY;
		goto out;
	}
	k = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
	fclose(f);
	if (k == NULL) {
		snprintf(msg, len,
		    "\"%s\" holds no PEM private key (or an encrypted one: "
		    "the key must not need a passphrase)",
		    key);
		which = CONFIG_TLS_BAD_KEY;
		goto out;
	}
	if (X509_check_private_key(x, k) != 1) {
		snprintf(msg, len,
		    "\"%s\" is not the key of the certificate in \"%s\"", key,
		    cert);
		which = CONFIG_TLS_BAD_KEY;
	}
out:
	X509_free(x);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return which;
}
