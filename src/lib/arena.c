/*
 * arena.c - bump allocation in linked chunks.
 */
#include "lib/arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/xmalloc.h"

struct arena_chunk {
	struct arena_chunk	*next;
	size_t			 size;
	size_t			 used;
	_Alignas(16) unsigned char data[];
};

struct arena {
	const char		*name;
	size_t			 chunk;
	size_t			 max;
	size_t			 total;
	struct arena_chunk	*head;
};

static struct arena_chunk *
chunk_new(size_t size)
{
	struct arena_chunk *c = xmalloc(sizeof(*c) + size);

	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

struct arena *
arena_new(const char *name, size_t chunk, size_t max)
{
	struct arena *a = xcalloc(1, sizeof(*a));

	a->name = name;
	a->chunk = chunk < 256 ? 256 : chunk;
	a->max = max;
	a->head = chunk_new(a->chunk);
	a->total = a->chunk;
	return a;
}

void
arena_reset(struct arena *a)
{
	struct arena_chunk *c, *next;

	/* keep the last chunk in the list: it is the first one allocated */
	for (c = a->head; c->next != NULL; c = next) {
		next = c->next;
		free(c);
	}
	a->head = c;
	c->used = 0;
	a->total = c->size;
}

void
arena_free(struct arena **ap)
{
	struct arena *a = *ap;
	struct arena_chunk *c, *next;

	if (a == NULL)
		return;
	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
	*ap = NULL;
}

void *
arena_alloc(struct arena *a, size_t size)
{
	struct arena_chunk *c = a->head;
	size_t need = (size + 15) & ~(size_t)15;
	void *p;

	if (size > SIZE_MAX - 16)
		panic("arena %s: allocation of %zu bytes", a->name, size);
	if (c->size - c->used < need) {
		size_t csize = need > a->chunk ? need : a->chunk;

		if (a->total + csize > a->max)
			panic("arena %s: over its ceiling of %zu bytes",
			    a->name, a->max);
		c = chunk_new(csize);
		c->next = a->head;
		a->head = c;
		a->total += csize;
	}
	p = c->data + c->used;
	c->used += need;
	memset(p, 0, size);
	return p;
}

char *
arena_strndup(struct arena *a, const void *p, size_t n)
{
	char *s = arena_alloc(a, n + 1);

	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *
arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		panic("arena_printf: bad format");
	s = arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

size_t
arena_used(const struct arena *a)
{
	return a->total;
}
