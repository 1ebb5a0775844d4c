/*
 * util.h - time, random identifiers and durations.
 */
#ifndef POSTINO_LIB_UTIL_H
#define POSTINO_LIB_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Fills p with n cryptographically random bytes (getrandom); fatal on error. */
void random_bytes(void *p, size_t n);
/* Writes 2*n lowercase hex digits of n random bytes plus NUL into out. */
void random_hex(char *out, size_t n);
/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t monotonic_ms(void);
/* Writes an RFC 5322 date-time for t (local zone) into out. */
void rfc5322_date(char *out, size_t outsize, time_t t);
/*
 * Parses a duration "N" (seconds) or "N" followed by s, m, h or d.
 * Returns 0 with seconds in *secs_r, -1 if malformed or too large.
 */
int duration_parse(const char *s, uint64_t *secs_r)
	__attribute__((warn_unused_result));
/* Parses a size "N" with optional K, M or G (powers of 1024). */
int size_parse(const char *s, uint64_t *bytes_r)
	__attribute__((warn_unused_result));

#endif
