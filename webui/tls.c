/*
 * tls.c — databus-web over HTTPS: the OpenSSL context h2o accepts with.
 *
 * databusd passes --tls-cert and --tls-key when databus.json has
 * "web": {"tls": {...}} (checked at config load, supervisor/config_tls.c).
 * The context serves TLS 1.2 and 1.3 only, with OpenSSL's default cipher
 * lists, no compression and no renegotiation, HTTP/1.1 (no ALPN for h2).
 * Under TLS the server also marks the session cookie Secure, expects an
 * https:// Origin on mutations and sends Strict-Transport-Security
 * (server.c, api_auth.c).
 */
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "web.h"

/* Never prompt for a passphrase: the key must be usable as it is. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

static void
openssl_error(char *err, size_t len, const char *what, const char *file)
{
	char detail[256];
	unsigned long e = ERR_peek_last_error();

	if (e != 0)
		ERR_error_string_n(e, detail, sizeof(detail));
	else
		snprintf(detail, sizeof(detail), "unknown error");
	snprintf(err, len, "%s %s: %s", what, file, detail);
	ERR_clear_error();
}

SSL_CTX *
web_tls_context(const char *cert, const char *key, char *err, size_t len)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		openssl_error(err, len, "cannot create", "the TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
				     SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		openssl_error(err, len, "cannot load the certificate", cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		openssl_error(err, len, "cannot load the key", key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		openssl_error(err, len, "the key does not match", cert);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}
