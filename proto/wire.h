/*
 * wire.h — protobuf messages over nng sockets.
 *
 * Every socket of Databus carries exactly one packed protobuf message per
 * nng message. These helpers pack into an nng_msg and unpack with a size
 * limit, so no caller handles raw buffers. Receive limits are set on the
 * socket itself (wire_socket_limits) so oversized messages are dropped by
 * nng before anything is allocated.
 */
#ifndef DBS_WIRE_H
#define DBS_WIRE_H

#include <nng/nng.h>
#include <protobuf-c/protobuf-c.h>

#include "databus.pb-c.h"

/* Largest message accepted on any socket. */
#define WIRE_MAX_MSG (64u << 20)

/* Set receive size limit, buffers and timeouts that every Databus socket
 * uses. Returns DBS_OK or DBS_ETRANSPORT. */
int wire_socket_limits(nng_socket s, int send_timeout_ms);

/* Pack `m` into a new nng message in *out (NULL on failure). */
int wire_pack(const ProtobufCMessage *m, nng_msg **out);

/* Pack `m` and append it to `msg` (used for raw REP replies, whose header
 * already holds the backtrace). */
int wire_append(nng_msg *msg, const ProtobufCMessage *m);

/* Pack and send `m` on `s` with nng flags (0 or NNG_FLAG_NONBLOCK).
 * Returns DBS_OK, DBS_EBUSY (would block), DBS_ETIMEOUT or DBS_ETRANSPORT. */
int wire_send(nng_socket s, const ProtobufCMessage *m, int flags);

/* Unpack the body of `msg` as a `d` message. Returns NULL when it does not
 * decode. Free the result with protobuf_c_message_free_unpacked(r, NULL). */
ProtobufCMessage *wire_unpack(
    const ProtobufCMessageDescriptor *d, const nng_msg *msg);

/* The same with protobuf-c allocator `alloc` (NULL: malloc). */
ProtobufCMessage *wire_unpack_with(const ProtobufCMessageDescriptor *d,
    const nng_msg *msg, ProtobufCAllocator *alloc);

/* Convenience: receive one WorkerMsg. *out is NULL unless DBS_OK.
 * DBS_EPROTO: a message arrived that does not decode (the peer is broken). */
int wire_recv_worker(nng_socket s, Dbs__WorkerMsg **out, int flags);

/* The same, decoded with `alloc` (e.g. an arena's: arena.h; NULL: malloc,
 * free *out with free_unpacked). */
int wire_recv_worker_with(
    nng_socket s, Dbs__WorkerMsg **out, int flags, ProtobufCAllocator *alloc);

/* Milliseconds and microseconds since the epoch (CLOCK_REALTIME), and
 * milliseconds of CLOCK_MONOTONIC. */
long long wire_now_ms(void);
long long wire_now_us(void);
long long wire_mono_ms(void);

/* fsync the directory holding `path`, so that a rename into it is durable.
 * 0, or -1 with errno set. */
int wire_sync_dir_of(const char *path);

#endif
