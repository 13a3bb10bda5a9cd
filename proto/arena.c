/*
 * arena.c — a bump allocator for messages that live for one turn (see
 * arena.h). Chunks are a singly linked list, the newest first; the oldest
 * (the first, of the arena's chunk size) survives resets.
 */
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

#include "arena.h"

#define ALIGN alignof(max_align_t)

struct chunk {
	struct chunk *next;
	size_t size, used;
	alignas(max_align_t) unsigned char data[];
};

struct arena {
	struct chunk *head;  /* where allocations go */
	struct chunk *first; /* kept across resets (the list's tail) */
	size_t chunk;
	ProtobufCAllocator pa;
};

static struct chunk *
chunk_new(size_t size)
{
	struct chunk *c;

	if (size > SIZE_MAX - sizeof(*c))
		return NULL;
	if ((c = malloc(sizeof(*c) + size)) == NULL)
		return NULL;
	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

static void *
pa_alloc(void *data, size_t size)
{
	return arena_alloc(data, size);
}

static void
pa_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

struct arena *
arena_new(size_t chunk)
{
	struct arena *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	if ((a->first = a->head = chunk_new(chunk)) == NULL) {
		free(a);
		return NULL;
	}
	a->chunk = chunk;
	a->pa.alloc = pa_alloc;
	a->pa.free = pa_free;
	a->pa.allocator_data = a;
	return a;
}

void *
arena_alloc(struct arena *a, size_t size)
{
	struct chunk *c = a->head;
	size_t at = (c->used + ALIGN - 1) & ~(ALIGN - 1);

	if (size == 0)
		size = 1;
	if (at > c->size || size > c->size - at) {
		size_t want = size > a->chunk ? size : a->chunk;

		if ((c = chunk_new(want)) == NULL)
			return NULL;
		c->next = a->head;
		a->head = c;
		at = 0;
	}
	c->used = at + size;
	return c->data + at;
}

ProtobufCAllocator *
arena_allocator(struct arena *a)
{
	return &a->pa;
}

void
arena_reset(struct arena *a)
{
	while (a->head != a->first) {
		struct chunk *c = a->head;

		a->head = c->next;
		free(c);
	}
	a->first->used = 0;
}

void
arena_free(struct arena *a)
{
	if (a == NULL)
		return;
	arena_reset(a);
	free(a->first);
	free(a);
}
