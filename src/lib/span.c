/*
 * span.c - helpers for borrowed byte views.
 */
#include "lib/span.h"

#include "lib/ascii.h"

bool
span_eq(struct span a, struct span b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool
span_eq_ci(struct span a, struct span b)
{
	size_t i;

	if (a.len != b.len)
		return false;
	for (i = 0; i < a.len; i++)
		if (ascii_tolower(a.p[i]) != ascii_tolower(b.p[i]))
			return false;
	return true;
}

bool
span_eq_str_ci(struct span a, const char *s)
{
	return span_eq_ci(a, span_from_str(s));
}

bool
span_starts_ci(struct span a, const char *prefix)
{
	size_t n = strlen(prefix);

	return a.len >= n && span_eq_ci(span_make(a.p, n), span_make(prefix, n));
}

struct span
span_trim(struct span a)
{
	while (a.len > 0 && (a.p[0] == ' ' || a.p[0] == '\t')) {
		a.p++;
		a.len--;
	}
	while (a.len > 0 && (a.p[a.len - 1] == ' ' || a.p[a.len - 1] == '\t'))
		a.len--;
	return a;
}

long
span_find(struct span a, uint8_t c)
{
	const uint8_t *q = a.len ? memchr(a.p, c, a.len) : NULL;

	return q ? (long)(q - a.p) : -1;
}

bool
span_split(struct span a, uint8_t c, struct span *head, struct span *rest)
{
	long i = span_find(a, c);

	if (i < 0)
		return false;
	*head = span_make(a.p, (size_t)i);
	*rest = span_make(a.p + i + 1, a.len - (size_t)i - 1);
	return true;
}

bool
span_has_nul(struct span a)
{
	return span_find(a, 0) >= 0;
}
