/*
 * auth_throttle.c - failed-login counters with delay and block (sans-I/O).
 *
 * One counter per key: "a:" + client address, or "u:" + login name
 * lowercased (logins are case-insensitive, so "Bob@x" and "bob@x" are one
 * account to guess at).  Counters live in a chained hash table with a
 * keyed hash (random seed, so a client cannot pick names that all land in
 * one chain) and on a least-recently-touched list; when the table is full
 * the oldest counter goes.  An attacker with many addresses can thus push
 * old counters out, but the account counter keeps being touched by the
 * guessing itself, so it stays.
 *
 * Untrusted input (addresses, names) is only hashed and compared; keys
 * longer than AUTH_THROTTLE_MAX_KEY are cut (still distinct enough).
 */
#include "auth/auth_throttle.h"

#include <stdlib.h>
#include <string.h>

#include "lib/ascii.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

struct throttle_entry {
	struct throttle_entry	*hnext;		/* hash chain */
	struct throttle_entry	*prev, *next;	/* LRU list, newest first */
	uint64_t		 hash;
	uint64_t		 first_ms;	/* first failure of this run */
	uint64_t		 last_ms;	/* last failure */
	unsigned		 failures;
	bool			 is_account;
	char			 key[];
};

struct auth_throttle {
	struct auth_throttle_config	 cfg;
	struct throttle_entry		**table;
	size_t				 nbuckets;
	size_t				 count;
	struct throttle_entry		*newest, *oldest;
	uint64_t			 seed;
};

void
auth_throttle_defaults(struct auth_throttle_config *c)
{
	memset(c, 0, sizeof(*c));
	c->addr.delay_after = 3;
	c->addr.block_after = 10;
	c->account.delay_after = 5;
	c->account.block_after = 30;
	c->delay_ms = 1000;
	c->max_delay_ms = 8000;
	c->window_ms = 15 * 60 * 1000;
	c->block_ms = 15 * 60 * 1000;
	c->max_entries = AUTH_THROTTLE_MAX_ENTRIES;
}

struct auth_throttle *
auth_throttle_new(const struct auth_throttle_config *cfg)
{
	struct auth_throttle *t = xcalloc(1, sizeof(*t));
	struct auth_throttle_config d;

	auth_throttle_defaults(&d);
	t->cfg = *cfg;
	if (t->cfg.addr.delay_after == 0 && t->cfg.addr.block_after == 0)
		t->cfg.addr = d.addr;
	if (t->cfg.account.delay_after == 0 &&
	    t->cfg.account.block_after == 0)
		t->cfg.account = d.account;
	if (t->cfg.delay_ms == 0)
		t->cfg.delay_ms = d.delay_ms;
	if (t->cfg.max_delay_ms == 0)
		t->cfg.max_delay_ms = d.max_delay_ms;
	if (t->cfg.window_ms == 0)
		t->cfg.window_ms = d.window_ms;
	if (t->cfg.block_ms == 0)
		t->cfg.block_ms = d.block_ms;
	if (t->cfg.max_entries == 0)
		t->cfg.max_entries = d.max_entries;
	t->nbuckets = 64;
	while (t->nbuckets < t->cfg.max_entries && t->nbuckets < (1u << 20))
		t->nbuckets *= 2;
	t->table = xcalloc(t->nbuckets, sizeof(*t->table));
	random_bytes(&t->seed, sizeof(t->seed));
	return t;
}

void
auth_throttle_free(struct auth_throttle **tp)
{
	struct auth_throttle *t = *tp;
	struct throttle_entry *e, *next;

	if (t == NULL)
		return;
	for (e = t->newest; e != NULL; e = next) {
		next = e->next;
		free(e);
	}
	free(t->table);
	free(t);
	*tp = NULL;
}

size_t
auth_throttle_count(const struct auth_throttle *t)
{
	return t->count;
}

/* make_key - "a:addr" or "u:name" (lowercased), cut to the limit */
static void
make_key(char out[AUTH_THROTTLE_MAX_KEY + 3], bool account, const char *v)
{
	size_t i;

	out[0] = account ? 'u' : 'a';
	out[1] = ':';
	for (i = 0; v[i] != '\0' && i < AUTH_THROTTLE_MAX_KEY; i++)
		out[2 + i] = account ? ascii_tolower(v[i]) : v[i];
	out[2 + i] = '\0';
}

/* key_hash - FNV-1a over the seed and the key, then a final mix */
static uint64_t
key_hash(const struct auth_throttle *t, const char *key)
{
	uint64_t h = 0xcbf29ce484222325ull ^ t->seed;
	size_t i;

	for (i = 0; key[i] != '\0'; i++) {
		h ^= (uint8_t)key[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static void
lru_unlink(struct auth_throttle *t, struct throttle_entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		t->newest = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		t->oldest = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_push(struct auth_throttle *t, struct throttle_entry *e)
{
	e->next = t->newest;
	e->prev = NULL;
	if (t->newest != NULL)
		t->newest->prev = e;
	t->newest = e;
	if (t->oldest == NULL)
		t->oldest = e;
}

static void
entry_remove(struct auth_throttle *t, struct throttle_entry *e)
{
	struct throttle_entry **pp = &t->table[e->hash & (t->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(t, e);
	free(e);
	t->count--;
}

/* expired - nothing left to remember: window and block both over */
static bool
expired(const struct auth_throttle *t, const struct throttle_entry *e,
    uint64_t now)
{
	return now >= e->first_ms + t->cfg.window_ms &&
	    now >= e->last_ms + t->cfg.block_ms;
}

static struct throttle_entry *
entry_find(struct auth_throttle *t, const char *key, uint64_t h)
{
	struct throttle_entry *e;

	for (e = t->table[h & (t->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* lookup - the live counter of (kind, v), or NULL; drops a stale one */
static struct throttle_entry *
lookup(struct auth_throttle *t, bool account, const char *v, uint64_t now)
{
	char key[AUTH_THROTTLE_MAX_KEY + 3];
	struct throttle_entry *e;

	if (v == NULL || v[0] == '\0')
		return NULL;
	make_key(key, account, v);
	e = entry_find(t, key, key_hash(t, key));
	if (e != NULL && expired(t, e, now)) {
		entry_remove(t, e);
		e = NULL;
	}
	return e;
}

static const struct auth_throttle_limits *
limits_of(const struct auth_throttle *t, const struct throttle_entry *e)
{
	return e->is_account ? &t->cfg.account : &t->cfg.addr;
}

static enum auth_throttle_verdict
verdict_of(const struct auth_throttle *t, const struct throttle_entry *e,
    uint64_t now, uint64_t *delay_r)
{
	const struct auth_throttle_limits *l = limits_of(t, e);
	uint64_t d;
	unsigned extra;

	*delay_r = 0;
	if (l->block_after > 0 && e->failures >= l->block_after &&
	    now < e->last_ms + t->cfg.block_ms)
		return AUTH_THROTTLE_BLOCK;
	if (l->delay_after == 0 || e->failures < l->delay_after)
		return AUTH_THROTTLE_ALLOW;
	d = t->cfg.delay_ms;
	for (extra = e->failures - l->delay_after; extra > 0 &&
	    d < t->cfg.max_delay_ms; extra--)
		d *= 2;
	*delay_r = d < t->cfg.max_delay_ms ? d : t->cfg.max_delay_ms;
	return AUTH_THROTTLE_DELAY;
}

enum auth_throttle_verdict
auth_throttle_check(struct auth_throttle *t, const char *addr,
    const char *user, uint64_t now_ms, uint64_t *delay_ms_r)
{
	struct throttle_entry *e[2];
	enum auth_throttle_verdict v = AUTH_THROTTLE_ALLOW, v1;
	uint64_t delay = 0, d1;
	size_t i;

	e[0] = lookup(t, false, addr, now_ms);
	e[1] = lookup(t, true, user, now_ms);
	for (i = 0; i < 2; i++) {
		if (e[i] == NULL)
			continue;
		v1 = verdict_of(t, e[i], now_ms, &d1);
		if (v1 > v)
			v = v1;
		if (d1 > delay)
			delay = d1;
	}
	if (delay_ms_r != NULL)
		*delay_ms_r = v == AUTH_THROTTLE_DELAY ? delay : 0;
	return v;
}

/* count_one - one more failure for (kind, v); true if it just blocked */
static bool
count_one(struct auth_throttle *t, bool account, const char *v,
    uint64_t now)
{
	char key[AUTH_THROTTLE_MAX_KEY + 3];
	struct throttle_entry *e;
	uint64_t h;
	size_t len;

	if (v == NULL || v[0] == '\0')
		return false;
	make_key(key, account, v);
	h = key_hash(t, key);
	e = entry_find(t, key, h);
	if (e != NULL && expired(t, e, now)) {
		entry_remove(t, e);
		e = NULL;
	}
	if (e == NULL) {
		if (t->count >= t->cfg.max_entries)
			entry_remove(t, t->oldest);
		len = strlen(key);
		e = xcalloc(1, sizeof(*e) + len + 1);
		memcpy(e->key, key, len + 1);
		e->hash = h;
		e->is_account = account;
		e->first_ms = now;
		e->hnext = t->table[h & (t->nbuckets - 1)];
		t->table[h & (t->nbuckets - 1)] = e;
		t->count++;
	} else {
		lru_unlink(t, e);
	}
	lru_push(t, e);
	e->last_ms = now;
	if (e->failures < UINT32_MAX)
		e->failures++;
	return limits_of(t, e)->block_after > 0 &&
	    e->failures == limits_of(t, e)->block_after;
}

bool
auth_throttle_failure(struct auth_throttle *t, const char *addr,
    const char *user, uint64_t now_ms)
{
	bool a = count_one(t, false, addr, now_ms);
	bool u = count_one(t, true, user, now_ms);

	return a || u;
}

void
auth_throttle_success(struct auth_throttle *t, const char *addr,
    const char *user, uint64_t now_ms)
{
	struct throttle_entry *e;

	(void)addr;
	if ((e = lookup(t, true, user, now_ms)) != NULL)
		entry_remove(t, e);
}
