/*
 * ascii.h - locale-free ASCII character helpers for protocol keywords.
 */
#ifndef POSTINO_LIB_ASCII_H
#define POSTINO_LIB_ASCII_H

#include <stdbool.h>
#include <stddef.h>

static inline int
ascii_tolower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static inline int
ascii_toupper(int c)
{
	return (c >= 'a' && c <= 'z') ? c - ('a' - 'A') : c;
}

static inline bool
ascii_isdigit(int c)
{
	return c >= '0' && c <= '9';
}

static inline bool
ascii_isalpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool
ascii_isalnum(int c)
{
	return ascii_isalpha(c) || ascii_isdigit(c);
}

static inline bool
ascii_isxdigit(int c)
{
	return ascii_isdigit(c) || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

static inline bool
ascii_isprint(int c)
{
	return c >= 0x20 && c < 0x7f;
}

/* Compares NUL-terminated strings ASCII case-insensitively. */
int ascii_strcasecmp(const char *a, const char *b);
/* Lowercases s in place (ASCII only) and returns it. */
char *ascii_strlower(char *s);

#endif
