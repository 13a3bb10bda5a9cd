/*
 * users.c — users named in client files enter the store on first sight.
 *
 * A user listed in clients/<client>.json (and the demo's accounts) is
 * imported hashed with Argon2id (libsodium crypto_pwhash_str) the first
 * time databusd sees it; from then on the store is the source of truth and
 * the clear text in the file is ignored. The store marks each user it
 * imported (store_user_mark_imported), and the mark outlives the user: a
 * user removed since, or whose password or role changed, stays so at
 * every later start, reload or config save, whatever the file says.
 * Hashing costs ~60 ms and 64 MiB, so it only happens here, at start-up
 * and reload, never per request.
 *
 * A client file may say "open_access": true (never root's): while such a
 * client has no users, any login to it is accepted (webui/api_auth.c).
 * Each load says so in the log, since it leaves the client unprotected.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "commit.h"
#include "dbs_error.h"
#include "sup.h"
#include "wire.h"

static int
import_one(struct sup *s, struct store_txn *txn, const char *client,
    const struct cfg_user *cu)
{
	char hash[crypto_pwhash_STRBYTES];
	Dbs__User *old = NULL, u = DBS__USER__INIT;
	bool imported = false;
	int rc = store_user_imported(txn, client, cu->username, &imported);

	if (rc != DBS_OK || imported)
		return rc; /* once only, whatever became of it since */
	rc = store_user_get(txn, client, cu->username, &old);
	if (rc == DBS_OK) {
		/* Known already (added by hand, or imported before the store
		 * kept marks): from now on it is never imported. */
		dbs__user__free_unpacked(old, NULL);
		return store_user_mark_imported(txn, client, cu->username);
	}
	if (rc != DBS_ENOTFOUND)
		return rc;
	if (crypto_pwhash_str(hash, cu->password, strlen(cu->password),
		crypto_pwhash_OPSLIMIT_INTERACTIVE,
		crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return DBS_ENOMEM;
	u.client = (char *)client;
	u.username = cu->username;
	u.password_hash = hash;
	u.role = strcmp(client, "root") == 0 ? DBS__ROLE__ROLE_ROOT : cu->role;
	u.created_ms = u.updated_ms = wire_now_ms();
	rc = store_user_put(txn, &u);
	if (rc == DBS_OK)
		rc = store_user_mark_imported(txn, client, cu->username);
	sodium_memzero(hash, sizeof(hash));
	if (rc == DBS_OK)
		sup_log("user %s/%s imported from the configuration", client,
		    cu->username);
	return rc;
}

int
users_import(struct sup *s)
{
	struct store_txn *txn = sup_txn(s);
	int rc = DBS_OK;

	if (txn == NULL)
		return DBS_EIO;
	for (size_t c = 0; c < s->cfg->n_clients && rc == DBS_OK; c++) {
		const struct cfg_client *cl = &s->cfg->clients[c];

		if (cl->open_access)
			sup_warn(
			    "warning: client %s has \"open_access\": "
			    "true: while it has no users, any login to it "
			    "is accepted as operator",
			    cl->name);
		for (size_t u = 0; u < cl->n_users && rc == DBS_OK; u++)
			rc = import_one(s, txn, cl->name, &cl->users[u]);
	}
	if (rc != DBS_OK) {
		sup_store_failed(s, rc, "importing users");
		return rc;
	}
	return sup_commit(s);
}

bool
users_open_access(const struct sup *s, const char *client)
{
	for (size_t c = 0; c < s->cfg->n_clients; c++)
		if (strcmp(s->cfg->clients[c].name, client) == 0)
			return s->cfg->clients[c].open_access;
	return false;
}
