/*
 * buf.h - an owning byte buffer with a ceiling.
 *
 * A buf grows on demand up to max bytes (set by buf_init); an append that
 * would pass max fails with -1 and leaves the buffer unchanged, never
 * truncating silently.  data is kept NUL-terminated for convenience, but
 * len rules: data may contain NUL bytes.
 */
#ifndef POSTINO_LIB_BUF_H
#define POSTINO_LIB_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/span.h"

struct buf {
	uint8_t	*data;
	size_t	 len;
	size_t	 cap;
	size_t	 max;
};

void buf_init(struct buf *b, size_t max);
/* Frees the storage (wiping it first if wipe is set by buf_fini_wipe). */
void buf_fini(struct buf *b);
void buf_fini_wipe(struct buf *b);
/* Empties the buffer, keeping its storage. */
void buf_reset(struct buf *b);
/* Returns 0, or -1 if the result would exceed max. */
int buf_append(struct buf *b, const void *p, size_t n)
	__attribute__((warn_unused_result));
int buf_append_str(struct buf *b, const char *s)
	__attribute__((warn_unused_result));
int buf_append_byte(struct buf *b, uint8_t c)
	__attribute__((warn_unused_result));
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), warn_unused_result));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0), warn_unused_result));
/* Makes room for n more bytes; returns a pointer to write, or NULL. */
uint8_t *buf_reserve(struct buf *b, size_t n);
/* Drops the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Transfers ownership of data out (caller frees); b is left empty. */
uint8_t *buf_steal(struct buf *b, size_t *len_r);

static inline struct span
buf_span(const struct buf *b)
{
	return span_make(b->data, b->len);
}

static inline const char *
buf_cstr(const struct buf *b)
{
	return b->data != NULL ? (const char *)b->data : "";
}

#endif
