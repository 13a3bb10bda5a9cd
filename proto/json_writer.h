/*
 * json_writer.h — a lean JSON text writer for hot listing paths.
 *
 * record_json.h builds jansson trees: right for most answers, but a page of
 * 50 passengers costs about a thousand small allocations and a tree walk.
 * The queue page of databus-web is served on its single loop thread, so it
 * writes its JSON text straight into one reusable buffer instead.
 *
 * The writer produces exactly the text that json_dumps(..., JSON_COMPACT)
 * of the equivalent jansson tree gives: the same string escaping ("\"",
 * "\\", "\b", "\f", "\n", "\r", "\t", other control characters as
 * "\u00XX", everything else verbatim), the same U+FFFD repair of invalid
 * UTF-8 as record_json.c, and, for jw_passenger, the same field order as
 * rj_passenger. tests/unit/test_json_writer.c holds it to that.
 *
 * Commas are placed by the writer: call jw_key before each member of an
 * object, nothing between array elements. An allocation failure sets a
 * sticky error; later calls do nothing and jw_ok() returns false, so a
 * caller checks once at the end.
 */
#ifndef DBS_JSON_WRITER_H
#define DBS_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "databus.pb-c.h"

/* Room for any jw_time_iso() result, with its NUL. */
#define JW_TIME_LEN 32

struct jw {
	char *buf; /* owned; NUL-terminated after every call */
	size_t len, cap;
	bool failed;
	bool comma; /* the next value or key needs a comma first */
	/* jw_time's caches: the text of the last second and of the last
	 * day written (times of a page are close to each other). */
	int64_t tsec_ms, tday;
	size_t tsec_len, tday_len;
	char tsec[JW_TIME_LEN], tdate[16];
};

/* An empty writer (no allocation yet). */
void jw_init(struct jw *w);
/* Forget the text, keep the buffer for the next document. */
void jw_reset(struct jw *w);
/* Free the buffer when it grew beyond `keep` bytes, so that one huge
 * document does not pin its memory; the writer stays usable. */
void jw_trim(struct jw *w, size_t keep);
void jw_free(struct jw *w);
/* False after an allocation failure since the last jw_reset. */
bool jw_ok(const struct jw *w);

void jw_obj_begin(struct jw *w);
void jw_obj_end(struct jw *w);
void jw_arr_begin(struct jw *w);
void jw_arr_end(struct jw *w);
/* A member name (any bytes: escaped and repaired like a string). */
void jw_key(struct jw *w, const char *key);
/* A string value; NULL writes "". */
void jw_str(struct jw *w, const char *s);
void jw_strn(struct jw *w, const char *s, size_t len);
/* Numbers as jansson writes them; u64 values above INT64_MAX are clamped,
 * as record_json.c does. */
void jw_u64(struct jw *w, uint64_t v);
void jw_i64(struct jw *w, int64_t v);
void jw_null(struct jw *w);
void jw_bool(struct jw *w, bool v);
/* An ISO time string as rj_time() gives it: null for 0 or a time that has
 * no calendar form. */
void jw_time(struct jw *w, int64_t ms);

/*
 * Format ms since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf and
 * return the length, or 0 (buf "") when the year falls outside 0..9999.
 * The same text as rj_time_iso(), without gmtime_r and snprintf.
 */
size_t jw_time_iso(int64_t ms, char buf[JW_TIME_LEN]);

/* The passenger in the form of rj_passenger() (JSON null for NULL). */
void jw_passenger(struct jw *w, const Dbs__Passenger *p);

#endif
