/*
 * strnum.h - the one strict number parser.
 *
 * Accepts only ASCII digits: no sign, no blanks, no empty string, no
 * overflow past max.  Leading zeros are allowed.
 */
#ifndef POSTINO_LIB_STRNUM_H
#define POSTINO_LIB_STRNUM_H

#include <stdint.h>

#include "lib/span.h"

/* Returns 0 with *value_r set, or -1 if s is not a number <= max. */
int strnum_u64(struct span s, uint64_t max, uint64_t *value_r)
	__attribute__((warn_unused_result));
int strnum_u64_str(const char *s, uint64_t max, uint64_t *value_r)
	__attribute__((warn_unused_result));

#endif
