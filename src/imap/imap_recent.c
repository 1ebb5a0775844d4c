/*
 * imap_recent.c - the process-wide table of \Recent marks (see
 * imap_recent.h; RFC 3501 section 2.3.2).  A hash table of (user id,
 * UIDVALIDITY) -> highest UID taken as recent, under one mutex, at most
 * IMAP_RECENT_MAX_ENTRIES entries (the least recently used goes first).
 *
 * No untrusted input: keys come from the store.
 */
#include "imap/imap_recent.h"

#include <pthread.h>
#include <stdlib.h>

#include "lib/xmalloc.h"

#define RECENT_BUCKETS	4096u	/* a power of two */

struct recent_entry {
	struct recent_entry	*next;
	int64_t			 user_id;
	uint32_t		 uidvalidity;
	uint32_t		 mark;
	uint64_t		 used;	/* tick of the last use */
};

static pthread_mutex_t recent_mu = PTHREAD_MUTEX_INITIALIZER;
static struct recent_entry *recent_tab[RECENT_BUCKETS];
static size_t recent_count;
static uint64_t recent_tick;

static size_t
recent_bucket(int64_t user_id, uint32_t uidvalidity)
{
	uint64_t h = (uint64_t)user_id * 0x9e3779b97f4a7c15ull ^
	    (uint64_t)uidvalidity * 0xc2b2ae3d27d4eb4full;

	return (size_t)(h >> 40) & (RECENT_BUCKETS - 1);
}

/* recent_find - the entry (lock held), or NULL */
static struct recent_entry *
recent_find(int64_t user_id, uint32_t uidvalidity)
{
	struct recent_entry *e;

	for (e = recent_tab[recent_bucket(user_id, uidvalidity)]; e != NULL;
	    e = e->next)
		if (e->user_id == user_id && e->uidvalidity == uidvalidity)
			return e;
	return NULL;
}

/* recent_evict - drops the least recently used entry (lock held) */
static void
recent_evict(void)
{
	struct recent_entry **best = NULL, **pp, *e;
	size_t b;

	for (b = 0; b < RECENT_BUCKETS; b++)
		for (pp = &recent_tab[b]; *pp != NULL; pp = &(*pp)->next)
			if (best == NULL || (*pp)->used < (*best)->used)
				best = pp;
	if (best == NULL)
		return;
	e = *best;
	*best = e->next;
	free(e);
	recent_count--;
}

uint32_t
imap_recent_claim(int64_t user_id, uint32_t uidvalidity, uint32_t max_uid)
{
	struct recent_entry *e;
	uint32_t old;

	pthread_mutex_lock(&recent_mu);
	e = recent_find(user_id, uidvalidity);
	if (e == NULL) {
		size_t b = recent_bucket(user_id, uidvalidity);

		if (recent_count >= IMAP_RECENT_MAX_ENTRIES)
			recent_evict();
		e = xcalloc(1, sizeof(*e));
		e->user_id = user_id;
		e->uidvalidity = uidvalidity;
		e->next = recent_tab[b];
		recent_tab[b] = e;
		recent_count++;
	}
	old = e->mark;
	if (max_uid > e->mark)
		e->mark = max_uid;
	e->used = ++recent_tick;
	pthread_mutex_unlock(&recent_mu);
	return old;
}

uint32_t
imap_recent_mark(int64_t user_id, uint32_t uidvalidity)
{
	struct recent_entry *e;
	uint32_t mark = 0;

	pthread_mutex_lock(&recent_mu);
	e = recent_find(user_id, uidvalidity);
	if (e != NULL)
		mark = e->mark;
	pthread_mutex_unlock(&recent_mu);
	return mark;
}

void
imap_recent_reset(void)
{
	size_t b;

	pthread_mutex_lock(&recent_mu);
	for (b = 0; b < RECENT_BUCKETS; b++) {
		while (recent_tab[b] != NULL) {
			struct recent_entry *e = recent_tab[b];

			recent_tab[b] = e->next;
			free(e);
		}
	}
	recent_count = 0;
	pthread_mutex_unlock(&recent_mu);
}
