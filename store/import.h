/*
 * import.h — putting an archive's records into a store (import.c), for
 * `databusctl import`: in databusd's write batch when it runs (the
 * import_batch control verb), or in databusctl's own write transaction
 * when it is stopped.
 *
 * Passengers keep their external ids, state, steps, attempts and times.
 * The dedup key (client, definition, puller, external id) decides what is
 * already there: such a passenger is a duplicate and nothing is written,
 * so importing the same archive twice adds nothing. An id this store never
 * handed out is kept; any other is remapped to the next free id, and the
 * pair is recorded. A user that exists is kept as it is; a new one comes
 * with its password hash, or without one (locked: nobody can log in as it
 * until `databusctl user passwd` sets a password).
 *
 * Logs keep their entries, linked to the passengers' ids here; one that
 * is there already is a duplicate (store_log_lookup).
 *
 * A dry run looks without writing (any transaction, read-only included)
 * and counts what an import would do.
 */
#ifndef DBS_IMPORT_H
#define DBS_IMPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

struct import_stats {
	uint64_t added, duplicates;
	uint64_t users_added, users_existing;
	uint64_t *remap; /* pairs: archive id, new id */
	size_t n_remap, cap_remap;
	char **locked; /* "client/user" of users added without a hash */
	size_t n_locked, cap_locked;
	uint64_t dry_next; /* a dry run's next id (0: not known yet) */
	/* Every passenger seen: pairs archive id, id here (added or the
	 * holder of its dedup key), to map the passenger ids of log entries
	 * (the archive's logs come after its passengers). */
	uint64_t *ids;
	size_t n_ids, cap_ids;
	bool ids_sorted;
	uint64_t logs_added, logs_duplicates;
};

/* One passenger with its attachment bodies. */
int import_passenger(struct store_txn *txn, const Dbs__Passenger *p,
    Dbs__Attachment *const *atts, size_t n_atts, bool dry,
    struct import_stats *st);

/* One user (password_hash "" or NULL: created locked). */
int import_user(struct store_txn *txn, const Dbs__User *u, bool dry,
    struct import_stats *st);

/*
 * One log. With `map`, the passenger ids of its entries are the
 * archive's: each becomes the id here of that passenger (import_map_id),
 * or 0 when the archive did not hold it. Without, they are this store's
 * already (the sender mapped them). A log that is there already (same
 * client, definition, drive and times) is a duplicate. Changes `log`.
 */
int import_log(struct store_txn *txn, Dbs__Log *log, bool dry, bool map,
    struct import_stats *st);

/* Record that archive passenger `from` is `to` here; the id here of an
 * archive passenger (0: not seen). */
int import_add_id(struct import_stats *st, uint64_t from, uint64_t to);
uint64_t import_map_id(struct import_stats *st, uint64_t from);

void import_stats_free(struct import_stats *st);

#endif
