/*
 * arena.h - chunked bump allocator with a ceiling.
 *
 * Memory comes from chunks of `chunk` bytes (larger requests get their own
 * chunk); all of it is released at once by arena_reset or arena_free.
 * Allocations are zeroed and 16-byte aligned.  Passing `max` total bytes
 * is a bug of the caller's limits and aborts; callers check their own
 * limits first.
 */
#ifndef POSTINO_LIB_ARENA_H
#define POSTINO_LIB_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct arena;

struct arena *arena_new(const char *name, size_t chunk, size_t max);
void arena_free(struct arena **a);
/* Releases every allocation, keeping the first chunk. */
void arena_reset(struct arena *a);
void *arena_alloc(struct arena *a, size_t size);
char *arena_strndup(struct arena *a, const void *p, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_printf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
size_t arena_used(const struct arena *a);

#endif
