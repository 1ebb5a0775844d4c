/*
 * ascii.c - locale-free string comparisons.
 */
#include "lib/ascii.h"

int
ascii_strcasecmp(const char *a, const char *b)
{
	int ca, cb;

	do {
		ca = ascii_tolower((unsigned char)*a++);
		cb = ascii_tolower((unsigned char)*b++);
	} while (ca == cb && ca != 0);
	return ca - cb;
}

char *
ascii_strlower(char *s)
{
	char *p;

	for (p = s; *p != '\0'; p++)
		*p = (char)ascii_tolower((unsigned char)*p);
	return s;
}
