/*
 * grow.c — growing an array by doubling (grow.h).
 */
#include "grow.h"

#include <stdlib.h>

#include "dbs_error.h"

int
grow_array(void **arr, size_t *cap, size_t need, size_t size)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return DBS_OK;
	ncap = *cap != 0 ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*arr, ncap * size);
	if (p == NULL)
		return DBS_ENOMEM;
	*arr = p;
	*cap = ncap;
	return DBS_OK;
}
