/*
 * xmalloc.h - allocation that never returns NULL.
 *
 * Out of memory is fatal in exactly one place (here); callers never check.
 * Sizes are checked for overflow before multiplying.
 */
#ifndef POSTINO_LIB_XMALLOC_H
#define POSTINO_LIB_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t size);
/* Like xrealloc(p, nmemb * size) but aborts on multiplication overflow. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a heap string (caller frees); aborts on allocation failure. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Overwrites len bytes so the compiler cannot elide it (for secrets). */
void explicit_wipe(void *p, size_t len);

#endif
