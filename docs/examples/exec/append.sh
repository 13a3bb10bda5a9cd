#!/bin/sh
# An exec pusher in plain shell: appends each request line to $OUT_FILE,
# once per idempotency key (a retried push is not appended twice).
#
# The request is one JSON line on stdin; the answer is one JSON line on
# stdout. Without a JSON tool the key is cut out with sed: the exec driver
# writes "idempotency_key" as a plain "<id>:<pusher>" string.
set -eu
IFS= read -r request
key=$(printf '%s\n' "$request" |
	sed -n 's/.*"idempotency_key": *"\([0-9]*:[^"]*\)".*/\1/p')
if [ -z "$key" ]; then
	echo '{"type":"result","status":"fail","error":"no idempotency key"}'
	exit 0
fi
if ! grep -qF "\"idempotency_key\": \"$key\"" "$OUT_FILE" 2>/dev/null &&
   ! grep -qF "\"idempotency_key\":\"$key\"" "$OUT_FILE" 2>/dev/null; then
	printf '%s\n' "$request" >>"$OUT_FILE"
fi
echo "pushed $key" >&2
printf '{"type":"log","level":"info","message":"appended %s"}\n' "$key"
echo '{"type":"result","status":"ok"}'
