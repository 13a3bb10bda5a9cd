/*
 * oauth_token.h — OAuth 2.0 access tokens for the mail drivers' SASL
 * logins (XOAUTH2, OAUTHBEARER): Exchange Online and Gmail refuse
 * passwords over IMAP and SMTP.
 *
 * A token source is read from a driver's "oauth2" setting (an object):
 * the token endpoint, the grant (refresh_token or client_credentials),
 * the client, its secrets (literal or "env:NAME", see credential.h) and
 * the SASL mechanism. It asks the endpoint for an
 * access token (POST, application/x-www-form-urlencoded, RFC 6749
 * section 4.4 / 6), keeps it in memory until shortly before its
 * `expires_in` ends, and asks again then. Nothing it holds is ever
 * written to a log or an error message: neither the access token, nor
 * the refresh token, nor the client secret (the endpoint's own error
 * description is passed on only when it quotes none of them).
 *
 * A 400 or 401 answer of the endpoint (invalid_grant: the refresh token
 * was revoked or has expired; invalid_client; ...) is permanent: the
 * source remembers it and fails at once from then on, without asking the
 * endpoint again, until the worker restarts with a new configuration.
 * Anything else (unreachable, 5xx, 429, a malformed answer) is transient.
 *
 * Not thread-safe: one source belongs to one driver instance.
 */
#ifndef DBS_OAUTH_TOKEN_H
#define DBS_OAUTH_TOKEN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct oauth_token;

/*
 * Read the optional object `key` of `settings` into *out: NULL when the
 * key is absent. `timeout_s` bounds each request to the endpoint.
 * Contacts nothing. Returns DBS_OK, DBS_ENOMEM, or DBS_ECONFIG with
 * "<key>.<field>: ..." in `err`.
 */
int oauth_setting(const json_t *settings, const char *key, long timeout_s,
    struct oauth_token **out, char *err, size_t errlen);

/*
 * A valid access token in *token (borrowed: valid until the next call of
 * oauth_get, oauth_forget or oauth_free on `t`), asked for when none is
 * cached or the cached one is about to expire. *generation (may be NULL)
 * changes whenever the token does, so a caller can tell that a
 * connection was logged in with an older one. Returns DBS_OK;
 * DBS_EAUTH when the endpoint refused the grant (permanent);
 * DBS_ETRANSPORT when it could not be asked or gave no usable answer
 * (try again later); DBS_ENOMEM. `err` never holds a secret.
 */
int oauth_get(struct oauth_token *t, const char **token, uint64_t *generation,
    char *err, size_t errlen);

/* Drop the cached access token (the server refused it), so that the next
 * oauth_get asks the endpoint. */
void oauth_forget(struct oauth_token *t);

/* libcurl's CURLOPT_LOGIN_OPTIONS for the configured mechanism:
 * "AUTH=XOAUTH2" or "AUTH=OAUTHBEARER". */
const char *oauth_login_options(const struct oauth_token *t);

/* Wipe and free. Accepts NULL. */
void oauth_free(struct oauth_token *t);

#endif
