/*
 * names.c — the name rules of names.h, written once for databusd,
 * databusctl and databus-web. ASCII only and independent of the locale
 * (no isalnum), so the three processes cannot disagree.
 */
#include "names.h"

#include <string.h>

static bool
alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

bool
dbs_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > DBS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!alnum(s[i]) && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

bool
dbs_user_name_ok(const char *s, size_t len)
{
	bool dots = true;

	if (len == 0 || len > DBS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!alnum(s[i]) && (s[i] == '\0' || !strchr("_.@+-", s[i])))
			return false;
		dots = dots && s[i] == '.';
	}
	return !dots;
}
