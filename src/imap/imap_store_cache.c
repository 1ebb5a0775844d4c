/*
 * imap_store_cache.c - a worker thread's open mailstore handles, one per
 * account, least recently used closed first (declared in imap_session.h).
 *
 * Opening a store costs an SQLite open and schema check, so IMAP sessions
 * of one account that land on the same worker share its handle; a handle
 * belongs to one thread (mailstore.h), and so does this cache.  No
 * untrusted input: user ids come from a successful login.
 */
#include "imap/imap_session.h"

#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "store/mailstore.h"

struct store_slot {
	int64_t			 user_id;
	struct mailstore	*ms;
	uint64_t		 used;		/* stamp of the last get */
};

struct imap_store_cache {
	char			*data_dir;
	struct store_slot	*slots;
	unsigned		 n, max;
	uint64_t		 clock;
};

struct imap_store_cache *
imap_store_cache_new(const char *data_dir, unsigned max_open)
{
	struct imap_store_cache *c = xcalloc(1, sizeof(*c));

	c->data_dir = xstrdup(data_dir);
	c->max = max_open > 0 ? max_open : 1;
	c->slots = xcalloc(c->max, sizeof(*c->slots));
	return c;
}

void
imap_store_cache_free(struct imap_store_cache **cp)
{
	struct imap_store_cache *c = *cp;
	unsigned i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++)
		mailstore_close(&c->slots[i].ms);
	free(c->slots);
	free(c->data_dir);
	free(c);
	*cp = NULL;
}

struct mailstore *
imap_store_cache_get(struct imap_store_cache *c, int64_t user_id,
    const char **error_r)
{
	struct mailstore *ms;
	unsigned i, victim;

	if (c == NULL) {
		*error_r = "no store cache";
		return NULL;
	}
	if (user_id <= 0) {
		*error_r = "not logged in";
		return NULL;
	}
	for (i = 0; i < c->n; i++) {
		if (c->slots[i].user_id == user_id) {
			c->slots[i].used = ++c->clock;
			return c->slots[i].ms;
		}
	}
	ms = mailstore_open(c->data_dir, user_id, error_r);
	if (ms == NULL)
		return NULL;
	if (c->n < c->max) {
		victim = c->n++;
	} else {
		victim = 0;
		for (i = 1; i < c->n; i++)
			if (c->slots[i].used < c->slots[victim].used)
				victim = i;
		mailstore_close(&c->slots[victim].ms);
	}
	c->slots[victim].user_id = user_id;
	c->slots[victim].ms = ms;
	c->slots[victim].used = ++c->clock;
	return ms;
}
