/*
 * connlimit.c - connection counting in total and per client address.
 *
 * A small chained hash table keyed by the textual address; entries are
 * removed when their count drops to zero, so its size follows the number
 * of distinct live clients, never the history.
 */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"

#define CONN_LIMIT_BUCKETS 1024

struct conn_entry {
	struct conn_entry	*next;
	unsigned		 count;
	char			 addr[];
};

struct conn_limit {
	unsigned		 max_total;
	unsigned		 max_per_ip;
	unsigned		 total;
	struct conn_entry	*buckets[CONN_LIMIT_BUCKETS];
};

static unsigned
hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % CONN_LIMIT_BUCKETS;
}

struct conn_limit *
conn_limit_new(unsigned max_total, unsigned max_per_ip)
{
	struct conn_limit *cl = xcalloc(1, sizeof(*cl));

	cl->max_total = max_total;
	cl->max_per_ip = max_per_ip;
	return cl;
}

void
conn_limit_free(struct conn_limit **clp)
{
	struct conn_limit *cl = *clp;
	struct conn_entry *e, *next;
	size_t i;

	if (cl == NULL)
		return;
	for (i = 0; i < CONN_LIMIT_BUCKETS; i++)
		for (e = cl->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	free(cl);
	*clp = NULL;
}

bool
conn_limit_enter(struct conn_limit *cl, const char *addr)
{
	struct conn_entry **pp = &cl->buckets[hash(addr)], *e;
	size_t len;

	if (cl->max_total != 0 && cl->total >= cl->max_total)
		return false;
	for (e = *pp; e != NULL; e = e->next)
		if (strcmp(e->addr, addr) == 0)
			break;
	if (e != NULL && cl->max_per_ip != 0 && e->count >= cl->max_per_ip)
		return false;
	if (e == NULL) {
		len = strlen(addr);
		e = xcalloc(1, sizeof(*e) + len + 1);
		memcpy(e->addr, addr, len);
		e->next = *pp;
		*pp = e;
	}
	e->count++;
	cl->total++;
	return true;
}

void
conn_limit_leave(struct conn_limit *cl, const char *addr)
{
	struct conn_entry **pp, *e;

	for (pp = &cl->buckets[hash(addr)]; (e = *pp) != NULL; pp = &e->next)
		if (strcmp(e->addr, addr) == 0)
			break;
	if (e == NULL)
		return;
	cl->total--;
	if (--e->count == 0) {
		*pp = e->next;
		free(e);
	}
}
