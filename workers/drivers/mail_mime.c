/*
 * mail_mime.c — GMime's library state (see mail_mime.h).
 */
#include "mail_mime.h"

#include <gmime/gmime.h>
#include <stdbool.h>

static bool ready; /* the worker's driver thread only */

void
mail_mime_acquire(void)
{
	if (!ready)
		g_mime_init();
	ready = true;
}

void
mail_mime_release(void)
{
	/* Nothing: see mail_mime.h. */
}
