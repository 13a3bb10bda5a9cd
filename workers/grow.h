/*
 * grow.h — growing an array by doubling, for the host's growable arrays
 * (the passenger view, the edits, the log buffer).
 */
#ifndef DBS_GROW_H
#define DBS_GROW_H

#include <stddef.h>

/* Grow *arr (of *cap elements of `size` bytes) to hold at least `need`,
 * doubling from 16. DBS_OK, or DBS_ENOMEM with *arr and *cap unchanged. */
int grow_array(void **arr, size_t *cap, size_t need, size_t size);

#endif
