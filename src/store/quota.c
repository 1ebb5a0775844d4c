/*
 * quota.c - the RCPT-time quota check (RFC 9208 storage; the SMTP reply is
 * RFC 3463's 4.2.2 "mailbox full").
 *
 * A per-thread cache of open mail store handles: the SMTP event loop asks
 * for the same few accounts again and again, and opening an SQLite
 * database per RCPT would cost more than the rest of the check.  The
 * usage counter is read with a prepared statement that is reset after
 * each use, so every check sees the latest commit.  No untrusted input.
 */
#include "store/quota.h"

#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "store/mailstore.h"

struct cached_store {
	int64_t			 user_id;
	char			*data_dir;
	struct mailstore	*ms;
};

static __thread struct cached_store cache[QUOTA_CACHE_STORES];
static __thread size_t next_slot;

uint64_t
quota_limit(uint64_t user_quota, uint64_t default_quota)
{
	return user_quota != 0 ? user_quota : default_quota;
}

/* store_for - a cached handle, opened (evicting round-robin) if needed */
static struct mailstore *
store_for(const char *data_dir, int64_t user_id, const char **error_r)
{
	struct cached_store *c;
	struct mailstore *ms;
	size_t i;

	for (i = 0; i < QUOTA_CACHE_STORES; i++)
		if (cache[i].ms != NULL && cache[i].user_id == user_id &&
		    strcmp(cache[i].data_dir, data_dir) == 0)
			return cache[i].ms;
	if ((ms = mailstore_open(data_dir, user_id, error_r)) == NULL)
		return NULL;
	c = &cache[next_slot];
	next_slot = (next_slot + 1) % QUOTA_CACHE_STORES;
	mailstore_close(&c->ms);
	free(c->data_dir);
	c->user_id = user_id;
	c->data_dir = xstrdup(data_dir);
	c->ms = ms;
	return ms;
}

int
quota_account_full(const char *data_dir, int64_t user_id, uint64_t limit,
    const char **error_r)
{
	struct mailstore *ms;
	uint64_t bytes = 0;

	if (limit == 0)
		return 0;
	if ((ms = store_for(data_dir, user_id, error_r)) == NULL)
		return -1;
	if (mailstore_usage(ms, &bytes, NULL, error_r) < 0)
		return -1;
	return bytes >= limit ? 1 : 0;
}

void
quota_cache_clear(void)
{
	size_t i;

	for (i = 0; i < QUOTA_CACHE_STORES; i++) {
		mailstore_close(&cache[i].ms);
		free(cache[i].data_dir);
		cache[i].data_dir = NULL;
		cache[i].user_id = 0;
	}
	next_slot = 0;
}
