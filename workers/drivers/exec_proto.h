/*
 * exec_proto.h — the program side of the exec protocol, decoded
 * (exec_proto.c): stdout as JSON lines, log lines, items, result
 * statuses. drv_exec.c runs the program and acts on what these return;
 * tests/fuzz/fuzz_exec_proto.c feeds them any output.
 */
#ifndef DBS_EXEC_PROTO_H
#define DBS_EXEC_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "driver.h"

/*
 * Parse `out` (len bytes, out[len] a NUL) as one JSON object with a
 * string "type" per non-empty line ("\r\n" ends allowed). DBS_OK with
 * *lines (a new array) and *result (the last {"type": "result"}, borrowed
 * from *lines); else DBS_EPROTO (or DBS_ENOMEM) with `err` saying which
 * line of `prog`'s output, *lines NULL.
 */
int exec_output_parse(const char *prog, const char *out, size_t len,
    json_t **lines, json_t **result, char *err, size_t errlen);

/* A {"type": "log", "level"?, "message"} line: true with its level and
 * message; false for any other line. */
bool exec_log_line(const json_t *l, enum drv_level *level, const char **msg);

/* A {"type": "item"} line decoded for drv_emit: strings point into the
 * line, attachment data into the line or bufs. */
struct exec_item {
	const char *external_id; /* may be NULL */
	const char *source_ref;  /* may be NULL */
	struct drv_kv *kv;
	size_t n_kv;
	struct drv_attachment *att;
	void **bufs;
	size_t n_att;
};

/* DBS_OK; DBS_EINVAL with the reason in err (metadata not a string, a
 * bad attachment); DBS_ENOMEM. Free with exec_item_free either way. */
int exec_item_decode(
    const json_t *l, struct exec_item *it, char *err, size_t errlen);
void exec_item_free(struct exec_item *it);

/* The drv_result of a result's "status" ("ok", "skip" for processors,
 * "retry", "fail"; anything else retries). err is kept when it holds the
 * program's message, else filled. */
enum drv_result exec_status_result(
    const char *status, bool processor, char *err, size_t errlen);

#endif
