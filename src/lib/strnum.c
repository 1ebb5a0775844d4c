/*
 * strnum.c - strict unsigned decimal parsing.
 */
#include "lib/strnum.h"

#include "lib/ascii.h"

int
strnum_u64(struct span s, uint64_t max, uint64_t *value_r)
{
	uint64_t v = 0;
	size_t i;

	if (s.len == 0)
		return -1;
	for (i = 0; i < s.len; i++) {
		unsigned d;

		if (!ascii_isdigit(s.p[i]))
			return -1;
		d = (unsigned)(s.p[i] - '0');
		if (d > max || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*value_r = v;
	return 0;
}

int
strnum_u64_str(const char *s, uint64_t max, uint64_t *value_r)
{
	return strnum_u64(span_from_str(s), max, value_r);
}
