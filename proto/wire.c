/*
 * wire.c — packing protobuf-c messages into nng messages (see wire.h).
 */
#include "wire.h"

#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dbs_error.h"

int
wire_socket_limits(nng_socket s, int send_timeout_ms)
{
	if (nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, WIRE_MAX_MSG) != 0)
		return DBS_ETRANSPORT;
	/* Deep buffers: bursts of results must not block the sender. */
	(void)nng_socket_set_int(s, NNG_OPT_RECVBUF, 1024);
	(void)nng_socket_set_int(s, NNG_OPT_SENDBUF, 1024);
	if (send_timeout_ms > 0 &&
	    nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, send_timeout_ms) != 0)
		return DBS_ETRANSPORT;
	return DBS_OK;
}

int
wire_append(nng_msg *msg, const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	size_t old = nng_msg_len(msg);

	if (len > WIRE_MAX_MSG)
		return DBS_ETOOBIG;
	if (nng_msg_realloc(msg, old + len) != 0)
		return DBS_ENOMEM;
	protobuf_c_message_pack(m, (uint8_t *)nng_msg_body(msg) + old);
	return DBS_OK;
}

int
wire_pack(const ProtobufCMessage *m, nng_msg **out)
{
	nng_msg *msg = NULL;
	int rc;

	*out = NULL;
	if (nng_msg_alloc(&msg, 0) != 0)
		return DBS_ENOMEM;
	rc = wire_append(msg, m);
	if (rc != DBS_OK) {
		nng_msg_free(msg);
		return rc;
	}
	*out = msg;
	return DBS_OK;
}

int
wire_send(nng_socket s, const ProtobufCMessage *m, int flags)
{
	nng_msg *msg;
	int rc = wire_pack(m, &msg);

	if (rc != DBS_OK)
		return rc;
	rc = nng_sendmsg(s, msg, flags);
	if (rc == 0)
		return DBS_OK; /* msg transferred */
	nng_msg_free(msg);
	if (rc == NNG_EAGAIN)
		return DBS_EBUSY;
	if (rc == NNG_ETIMEDOUT)
		return DBS_ETIMEOUT;
	return DBS_ETRANSPORT;
}

ProtobufCMessage *
wire_unpack_with(const ProtobufCMessageDescriptor *d, const nng_msg *msg,
    ProtobufCAllocator *alloc)
{
	nng_msg *m = (nng_msg *)msg; /* nng's accessors are not const */

	return protobuf_c_message_unpack(
	    d, alloc, nng_msg_len(m), (const uint8_t *)nng_msg_body(m));
}

ProtobufCMessage *
wire_unpack(const ProtobufCMessageDescriptor *d, const nng_msg *msg)
{
	return wire_unpack_with(d, msg, NULL);
}

int
wire_recv_worker(nng_socket s, Dbs__WorkerMsg **out, int flags)
{
	return wire_recv_worker_with(s, out, flags, NULL);
}

int
wire_recv_worker_with(
    nng_socket s, Dbs__WorkerMsg **out, int flags, ProtobufCAllocator *alloc)
{
	nng_msg *msg = NULL;
	int rc;

	*out = NULL;
	rc = nng_recvmsg(s, &msg, flags);
	if (rc == NNG_EAGAIN)
		return DBS_EBUSY;
	if (rc == NNG_ETIMEDOUT)
		return DBS_ETIMEOUT;
	if (rc != 0)
		return DBS_ETRANSPORT;
	*out = (Dbs__WorkerMsg *)wire_unpack_with(
	    &dbs__worker_msg__descriptor, msg, alloc);
	nng_msg_free(msg);
	return *out != NULL ? DBS_OK : DBS_EPROTO;
}

static long long
clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long long
wire_now_ms(void)
{
	return clock_ns(CLOCK_REALTIME) / 1000000LL;
}

long long
wire_now_us(void)
{
	return clock_ns(CLOCK_REALTIME) / 1000LL;
}

long long
wire_mono_ms(void)
{
	return clock_ns(CLOCK_MONOTONIC) / 1000000LL;
}

int
wire_sync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = -1;

	if (copy == NULL)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(copy);
	return rc;
}
