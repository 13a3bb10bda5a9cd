/*
 * mail_mime.c — GMime's library state (see mail_mime.h).
 */
#include "mail_mime.h"

#include <gmime/gmime.h>

static unsigned users; /* the worker's driver thread only */

void
mail_mime_acquire(void)
{
	if (users++ == 0)
		g_mime_init();
}

void
mail_mime_release(void)
{
	if (--users == 0)
		g_mime_shutdown();
}
