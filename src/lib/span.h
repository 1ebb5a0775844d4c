/*
 * span.h - a borrowed view of bytes (never owns, never NUL-terminated).
 */
#ifndef POSTINO_LIB_SPAN_H
#define POSTINO_LIB_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct span {
	const uint8_t	*p;
	size_t		 len;
};

#define SPAN_LIT(s) ((struct span){ (const uint8_t *)(s), sizeof(s) - 1 })

static inline struct span
span_make(const void *p, size_t len)
{
	return (struct span){ p, len };
}

static inline struct span
span_from_str(const char *s)
{
	return (struct span){ (const uint8_t *)s, strlen(s) };
}

/* Exact byte equality. */
bool span_eq(struct span a, struct span b);
/* ASCII case-insensitive equality (locale-free). */
bool span_eq_ci(struct span a, struct span b);
bool span_eq_str_ci(struct span a, const char *s);
/* True if a begins with prefix, ASCII case-insensitively. */
bool span_starts_ci(struct span a, const char *prefix);
/* Removes leading and trailing SP and HTAB. */
struct span span_trim(struct span a);
/* Returns the index of the first c in a, or -1. */
long span_find(struct span a, uint8_t c);
/* Splits at the first c: head before it, *rest after it; false if none. */
bool span_split(struct span a, uint8_t c, struct span *head,
    struct span *rest);
/* Returns a NUL-free check: true if a contains a NUL byte. */
bool span_has_nul(struct span a);

#endif
