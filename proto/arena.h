/*
 * arena.h — a bump allocator for messages that live for one turn.
 *
 * protobuf-c's unpack allocates every sub-message, string and bytes field
 * on its own, and free_unpacked walks them all again: for databusd's
 * PulledBatch and WorkResult that is a malloc and a free per field of
 * every passenger. Decoded into an arena, a message costs a few pointer
 * bumps, and all of it goes at once when the turn is over (arena_reset).
 * Nothing may keep a pointer into such a message past the reset.
 *
 * The allocator's free is a no-op. An arena keeps its first chunk across
 * resets, so a steady stream of messages allocates nothing; a message
 * larger than a chunk gets a chunk of its own, freed at the reset.
 */
#ifndef DBS_ARENA_H
#define DBS_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

struct arena;

/* A new arena whose chunks hold `chunk` bytes, or NULL (no memory). */
struct arena *arena_new(size_t chunk);

/* `size` bytes aligned for any type, or NULL (no memory). */
void *arena_alloc(struct arena *a, size_t size);

/* The arena as a protobuf-c allocator (for unpack; its free does nothing,
 * so free_unpacked is not needed: arena_reset). */
ProtobufCAllocator *arena_allocator(struct arena *a);

/* Forget everything allocated; keeps the first chunk. */
void arena_reset(struct arena *a);

void arena_free(struct arena *a);

#endif
