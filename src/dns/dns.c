/*
 * dns.c - the asynchronous resolver: c-ares queries driven by the libevent
 * loop (socket-state callback + one timer for ares_timeout), a shared
 * answer cache honouring TTLs (RFC 1035, RFC 2308 negative caching),
 * coalescing of identical concurrent queries, and callbacks always
 * delivered from a zero-delay event.  MX ordering per RFC 5321 section
 * 5.1, null MX per RFC 7505.
 *
 * Sees untrusted input: DNS answers, parsed by dns_parse.c.  c-ares is
 * used for transport only (ares_send: server list, retries, UDP->TCP on
 * truncation, ID and question matching); we build the queries (AD bit,
 * EDNS0, random unique IDs) and never use its reply parsers.
 *
 * Objects and owners:
 * - struct dns_req: one caller request, owned by the resolver, listed in
 *   d->reqs; it has one or two waits (dns_addr asks for A and AAAA).
 * - struct dns_lookup: one c-ares query in flight, found by (type, name)
 *   in d->inflight so identical queries share it; its waiters are waits.
 *   A lookup outlives cancelled requests: its answer still fills the cache.
 * - struct dns_answer: an immutable, reference-counted answer in one
 *   allocation, shared by the cache and the waits holding it.
 */
#include "dns/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "dns/dns_parse.h"
#include "lib/arena.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/strnum.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define DNS_DEFAULT_TIMEOUT_MS	2000
#define DNS_DEFAULT_TRIES	2
#define DNS_MAX_SERVERS		16

/* a name and a type: the key of the cache and of queries in flight */
struct dns_key {
	struct dns_key	*hnext;
	uint32_t	 hash;
	uint16_t	 type;
	char		 name[DNS_NAME_BUFSIZE];
};

struct dns_htab {
	struct dns_key	**b;
	size_t		 nb;		/* power of two */
	size_t		 count;
};

struct dns_answer {
	unsigned	 refs;
	enum dns_status	 status;
	uint16_t	 type;
	bool		 null_mx;
	bool		 secure;	/* AD bit of the answer */
	size_t		 n;
	size_t		 mem;		/* bytes of this allocation */
	struct dns_mx	*mx;		/* DNS_TYPE_MX */
	struct sockaddr_storage *addr;	/* DNS_TYPE_A, DNS_TYPE_AAAA */
	char		**str;		/* DNS_TYPE_TXT, DNS_TYPE_PTR */
	struct dns_tlsa	*tlsa;		/* DNS_TYPE_TLSA */
};

struct dns_centry {
	struct dns_key	 key;		/* first: found through the table */
	TAILQ_ENTRY(dns_centry) lru;
	uint64_t	 expires_ms;
	size_t		 mem;
	struct dns_answer *ans;
};
TAILQ_HEAD(dns_lru, dns_centry);

struct dns_wait {
	struct dns_req	*req;
	struct dns_lookup *lk;		/* while in flight */
	struct dns_answer *ans;		/* once answered */
	TAILQ_ENTRY(dns_wait) entry;
};
TAILQ_HEAD(dns_waits, dns_wait);

struct dns_lookup {
	struct dns_key	 key;		/* first: found through the table */
	struct dns	*d;
	uint16_t	 id;		/* DNS message ID, unique in flight */
	struct dns_waits waiters;
};

enum dns_kind { DNS_KIND_MX, DNS_KIND_ADDR, DNS_KIND_TXT, DNS_KIND_PTR,
	DNS_KIND_TLSA };

struct dns_req {
	struct dns	*d;
	enum dns_kind	 kind;
	union {
		dns_mx_fn	*mx;
		dns_addr_fn	*addr;
		dns_txt_fn	*txt;
		dns_ptr_fn	*ptr;
		dns_tlsa_fn	*tlsa;
	} cb;
	void		*ctx;
	unsigned	 nwait;
	unsigned	 pending;	/* unanswered waits (+1 starting) */
	bool		 queued;	/* on d->done */
	enum dns_status	 fail;		/* result when nwait == 0 */
	struct dns_wait	 w[2];
	TAILQ_ENTRY(dns_req) all;
	TAILQ_ENTRY(dns_req) queue;
};
TAILQ_HEAD(dns_reqs, dns_req);

struct dns_sock {
	struct dns_sock	*next;
	ares_socket_t	 fd;
	short		 what;
	struct event	*ev;
};

struct dns {
	struct event_base *base;
	ares_channel	 ch;
	bool		 ch_ok;
	struct dns_sock	*socks;
	struct event	*timer;
	struct event	*deliver;
	struct dns_reqs	 reqs;		/* every live request */
	struct dns_reqs	 done;		/* answered, callback not yet run */
	size_t		 ndone;
	struct dns_htab	 inflight;
	struct dns_htab	 cache;
	struct dns_lru	 lru;		/* most recently used first */
	size_t		 cache_mem;
	size_t		 cache_max_entries;
	size_t		 cache_max_mem;
	size_t		 max_inflight;
	bool		 no_cache;
	bool		*alive;		/* cleared by dns_free in a callback */
	struct dns_req	*current;	/* whose callback is running */
	uint64_t	 rng;
	uint8_t		 ids[65536 / 8];	/* message IDs in flight */
};

const char *
dns_status_name(enum dns_status st)
{
	switch (st) {
	case DNS_OK:		return "ok";
	case DNS_NODATA:	return "nodata";
	case DNS_NXDOMAIN:	return "nxdomain";
	case DNS_TEMPFAIL:	return "tempfail";
	case DNS_PERMFAIL:	return "permfail";
	}
	return "unknown";
}

static const char *
type_name(uint16_t type)
{
	switch (type) {
	case DNS_TYPE_A:	return "A";
	case DNS_TYPE_AAAA:	return "AAAA";
	case DNS_TYPE_MX:	return "MX";
	case DNS_TYPE_TXT:	return "TXT";
	case DNS_TYPE_PTR:	return "PTR";
	case DNS_TYPE_TLSA:	return "TLSA";
	}
	return "?";
}

/* rng_next - xorshift64*: shuffling needs no cryptographic strength */
static uint64_t
rng_next(struct dns *d)
{
	d->rng ^= d->rng >> 12;
	d->rng ^= d->rng << 25;
	d->rng ^= d->rng >> 27;
	return d->rng * 0x2545f4914f6cdd1dULL;
}

/* ---- hash table of keys ---- */

static uint32_t
key_hash(uint16_t type, const char *name)
{
	uint32_t h = 2166136261u ^ type;

	for (; *name != '\0'; name++)
		h = (h ^ (uint8_t)*name) * 16777619u;
	return h;
}

static void
htab_init(struct dns_htab *t)
{
	t->nb = 64;
	t->b = xcalloc(t->nb, sizeof(*t->b));
	t->count = 0;
}

static struct dns_key *
htab_find(const struct dns_htab *t, uint16_t type, const char *name)
{
	uint32_t h = key_hash(type, name);
	struct dns_key *k;

	for (k = t->b[h & (t->nb - 1)]; k != NULL; k = k->hnext)
		if (k->hash == h && k->type == type &&
		    strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

static void
htab_insert(struct dns_htab *t, struct dns_key *k)
{
	size_t i;

	if (t->count >= t->nb && t->nb < ((size_t)1 << 24)) {
		size_t nb = t->nb * 2;
		struct dns_key **b = xcalloc(nb, sizeof(*b)), *e, *next;

		for (i = 0; i < t->nb; i++) {
			for (e = t->b[i]; e != NULL; e = next) {
				next = e->hnext;
				e->hnext = b[e->hash & (nb - 1)];
				b[e->hash & (nb - 1)] = e;
			}
		}
		free(t->b);
		t->b = b;
		t->nb = nb;
	}
	k->hash = key_hash(k->type, k->name);
	i = k->hash & (t->nb - 1);
	k->hnext = t->b[i];
	t->b[i] = k;
	t->count++;
}

static void
htab_remove(struct dns_htab *t, struct dns_key *k)
{
	struct dns_key **pp = &t->b[k->hash & (t->nb - 1)];

	for (; *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == k) {
			*pp = k->hnext;
			t->count--;
			return;
		}
	}
	panic("dns: key not in table");
}

/* ---- answers ---- */

static struct dns_answer *
answer_ref(struct dns_answer *a)
{
	a->refs++;
	return a;
}

static void
answer_unref(struct dns_answer **ap)
{
	struct dns_answer *a = *ap;

	*ap = NULL;
	if (a != NULL && --a->refs == 0)
		free(a);
}

static size_t
round16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

static int
mx_pref_cmp(const void *x, const void *y)
{
	const struct dns_mx *a = x, *b = y;

	if (a->pref != b->pref)
		return a->pref < b->pref ? -1 : 1;
	/* equal: keep a defined order; callers shuffle among these */
	return strcmp(a->host, b->host);
}

/*
 * answer_build - one allocation holding the answer, its array and its
 * strings.  For MX, "." records are removed (null MX when nothing else
 * is left) and the rest sorted by preference.
 */
static struct dns_answer *
answer_build(enum dns_status st, uint16_t type,
    const struct dns_parse_result *r)
{
	size_t n = st == DNS_OK ? r->n : 0, i, k, elem = 0, strbytes = 0;
	size_t off_arr, off_str, total;
	struct dns_answer *a;
	char *sp;

	for (i = 0; i < n; i++) {
		const struct dns_rr *rr = &r->rr[i];

		if (type == DNS_TYPE_MX)
			strbytes += strlen(rr->u.mx.host) + 1;
		else if (type == DNS_TYPE_TXT)
			strbytes += rr->u.txt.len + 1;
		else if (type == DNS_TYPE_PTR)
			strbytes += strlen(rr->u.ptr) + 1;
		else if (type == DNS_TYPE_TLSA)
			strbytes += rr->u.tlsa.len + 1;
	}
	switch (type) {
	case DNS_TYPE_MX:	elem = sizeof(struct dns_mx); break;
	case DNS_TYPE_A:
	case DNS_TYPE_AAAA:	elem = sizeof(struct sockaddr_storage); break;
	case DNS_TYPE_TLSA:	elem = sizeof(struct dns_tlsa); break;
	default:		elem = sizeof(char *); break;
	}
	off_arr = round16(sizeof(*a));
	off_str = off_arr + round16(n * elem);
	total = off_str + strbytes;
	a = xcalloc(1, total);
	a->refs = 1;
	a->status = st;
	a->type = type;
	a->mem = total;
	a->secure = st == DNS_OK && r->authentic;
	sp = (char *)a + off_str;
	if (type == DNS_TYPE_MX)
		a->mx = (struct dns_mx *)(void *)((char *)a + off_arr);
	else if (type == DNS_TYPE_A || type == DNS_TYPE_AAAA)
		a->addr = (struct sockaddr_storage *)(void *)
		    ((char *)a + off_arr);
	else if (type == DNS_TYPE_TLSA)
		a->tlsa = (struct dns_tlsa *)(void *)((char *)a + off_arr);
	else
		a->str = (char **)(void *)((char *)a + off_arr);

	for (i = 0, k = 0; i < n; i++) {
		const struct dns_rr *rr = &r->rr[i];
		size_t l;

		switch (type) {
		case DNS_TYPE_MX:
			/* RFC 7505: "." as exchange means no mail */
			if (rr->u.mx.host[0] == '\0')
				break;
			l = strlen(rr->u.mx.host) + 1;
			memcpy(sp, rr->u.mx.host, l);
			a->mx[k].pref = rr->u.mx.pref;
			a->mx[k++].host = sp;
			sp += l;
			break;
		case DNS_TYPE_A: {
			struct sockaddr_in *sin =
			    (struct sockaddr_in *)(void *)&a->addr[k++];

			sin->sin_family = AF_INET;
			memcpy(&sin->sin_addr, rr->u.a, 4);
			break;
		}
		case DNS_TYPE_AAAA: {
			struct sockaddr_in6 *sin6 =
			    (struct sockaddr_in6 *)(void *)&a->addr[k++];

			sin6->sin6_family = AF_INET6;
			memcpy(&sin6->sin6_addr, rr->u.aaaa, 16);
			break;
		}
		case DNS_TYPE_TXT:
			memcpy(sp, rr->u.txt.data, rr->u.txt.len + 1);
			a->str[k++] = sp;
			sp += rr->u.txt.len + 1;
			break;
		case DNS_TYPE_PTR:
			l = strlen(rr->u.ptr) + 1;
			memcpy(sp, rr->u.ptr, l);
			a->str[k++] = sp;
			sp += l;
			break;
		case DNS_TYPE_TLSA:
			memcpy(sp, rr->u.tlsa.data, rr->u.tlsa.len);
			sp[rr->u.tlsa.len] = '\0';
			a->tlsa[k].usage = rr->u.tlsa.usage;
			a->tlsa[k].selector = rr->u.tlsa.selector;
			a->tlsa[k].mtype = rr->u.tlsa.mtype;
			a->tlsa[k].data = (const uint8_t *)sp;
			a->tlsa[k++].len = rr->u.tlsa.len;
			sp += rr->u.tlsa.len + 1;
			break;
		}
	}
	a->n = k;
	if (type == DNS_TYPE_MX && st == DNS_OK) {
		if (k == 0)
			a->null_mx = true;
		else
			qsort(a->mx, k, sizeof(*a->mx), mx_pref_cmp);
	}
	return a;
}

/* ---- cache ---- */

static void
cache_remove(struct dns *d, struct dns_centry *e)
{
	htab_remove(&d->cache, &e->key);
	TAILQ_REMOVE(&d->lru, e, lru);
	d->cache_mem -= e->mem;
	answer_unref(&e->ans);
	free(e);
}

static struct dns_answer *
cache_get(struct dns *d, uint16_t type, const char *name)
{
	struct dns_centry *e;

	if (d->no_cache)
		return NULL;
	e = (struct dns_centry *)htab_find(&d->cache, type, name);
	if (e == NULL)
		return NULL;
	if (monotonic_ms() >= e->expires_ms) {
		cache_remove(d, e);
		return NULL;
	}
	TAILQ_REMOVE(&d->lru, e, lru);
	TAILQ_INSERT_HEAD(&d->lru, e, lru);
	return e->ans;
}

static void
cache_put(struct dns *d, uint16_t type, const char *name,
    struct dns_answer *a, uint32_t ttl)
{
	struct dns_centry *e;
	uint32_t cap;
	size_t mem;

	cap = a->status == DNS_OK ? DNS_CACHE_MAX_TTL : DNS_CACHE_MAX_NEG_TTL;
	if (ttl > cap)
		ttl = cap;
	if (d->no_cache || ttl == 0)
		return;
	mem = sizeof(*e) + a->mem;
	if (mem > d->cache_max_mem || d->cache_max_entries == 0)
		return;
	e = (struct dns_centry *)htab_find(&d->cache, type, name);
	if (e != NULL)
		cache_remove(d, e);
	while (d->cache.count >= d->cache_max_entries ||
	    d->cache_mem + mem > d->cache_max_mem)
		cache_remove(d, TAILQ_LAST(&d->lru, dns_lru));
	e = xcalloc(1, sizeof(*e));
	e->key.type = type;
	memcpy(e->key.name, name, strlen(name) + 1);
	e->expires_ms = monotonic_ms() + (uint64_t)ttl * 1000;
	e->mem = mem;
	e->ans = answer_ref(a);
	htab_insert(&d->cache, &e->key);
	TAILQ_INSERT_HEAD(&d->lru, e, lru);
	d->cache_mem += mem;
}

void
dns_cache_flush(struct dns *d)
{
	while (!TAILQ_EMPTY(&d->lru))
		cache_remove(d, TAILQ_FIRST(&d->lru));
}

size_t
dns_cache_count(const struct dns *d)
{
	return d->cache.count;
}

/* ---- the event loop side of c-ares ---- */

static void
timer_update(struct dns *d)
{
	struct timeval tv, *tvp;

	tvp = ares_timeout(d->ch, NULL, &tv);
	if (tvp == NULL)
		evtimer_del(d->timer);
	else
		evtimer_add(d->timer, tvp);
}

static void
sock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns *d = arg;

	ares_process_fd(d->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	timer_update(d);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns *d = arg;

	(void)fd;
	(void)what;
	ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	timer_update(d);
}

/* sock_state_cb - c-ares opens, watches or closes one of its sockets */
static void
sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	struct dns_sock *s, **pp;
	short what = (short)((readable ? EV_READ : 0) |
	    (writable ? EV_WRITE : 0));

	for (pp = &d->socks; (s = *pp) != NULL; pp = &s->next)
		if (s->fd == fd)
			break;
	if (what == 0) {
		if (s != NULL) {
			*pp = s->next;
			event_free(s->ev);
			free(s);
		}
		return;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->fd = fd;
		s->next = d->socks;
		d->socks = s;
	} else if (s->what == what) {
		return;
	} else {
		event_free(s->ev);
	}
	s->what = what;
	s->ev = event_new(d->base, fd, what | EV_PERSIST, sock_cb, d);
	if (s->ev == NULL || event_add(s->ev, NULL) < 0)
		fatal("dns: cannot watch resolver socket");
}

/* ---- requests ---- */

static void
req_queue(struct dns_req *req)
{
	struct dns *d = req->d;

	req->queued = true;
	TAILQ_INSERT_TAIL(&d->done, req, queue);
	d->ndone++;
	event_active(d->deliver, EV_TIMEOUT, 0);
}

static void
wait_done(struct dns_wait *w, struct dns_answer *a)
{
	w->lk = NULL;
	w->ans = answer_ref(a);
	if (--w->req->pending == 0)
		req_queue(w->req);
}

/* status_from_ares - the failure when there is no answer to parse */
static enum dns_status
status_from_ares(int status)
{
	switch (status) {
	case ARES_ENOTFOUND:
		return DNS_NXDOMAIN;
	case ARES_ENODATA:
		return DNS_NODATA;
	case ARES_EBADNAME:
	case ARES_EBADQUERY:
	case ARES_EBADFAMILY:
		return DNS_PERMFAIL;
	default:	/* ETIMEOUT, ECONNREFUSED, ESERVFAIL, ... */
		return DNS_TEMPFAIL;
	}
}

/* id_new - an unpredictable message ID not used by a query in flight */
static uint16_t
id_new(struct dns *d)
{
	uint16_t id;

	do {
		random_bytes(&id, sizeof(id));
	} while (d->ids[id / 8] & (1u << (id % 8)));
	d->ids[id / 8] |= (uint8_t)(1u << (id % 8));
	return id;
}

static void
lookup_free(struct dns_lookup *lk)
{
	ASSERT(TAILQ_EMPTY(&lk->waiters));
	lk->d->ids[lk->id / 8] &= (uint8_t)~(1u << (lk->id % 8));
	free(lk);
}

/* on_answer - c-ares is done with one query (from ares_process_fd) */
static void
on_answer(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct dns_lookup *lk = arg;
	struct dns *d = lk->d;
	struct dns_parse_result r;
	struct dns_answer *a;
	struct dns_wait *w;
	struct arena *scratch = NULL;
	enum dns_status st;
	uint32_t ttl = 0;

	(void)timeouts;
	htab_remove(&d->inflight, &lk->key);
	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
		lookup_free(lk);
		return;
	}
	memset(&r, 0, sizeof(r));
	if (abuf != NULL && alen >= 12 && status != ARES_ETIMEOUT &&
	    status != ARES_ECONNREFUSED) {
		scratch = arena_new("dns answer", 4096, DNS_PARSE_ARENA_MAX);
		if (dns_parse_answer(abuf, (size_t)alen, lk->key.name,
		    lk->key.type, scratch, &r) < 0)
			log_info("dns bad-answer name=%s type=%s error=\"%s\"",
			    lk->key.name, type_name(lk->key.type), r.error);
		st = r.status;
		ttl = r.ttl;
	} else {
		st = status_from_ares(status);
	}
	if (st == DNS_OK && r.n == 0)
		st = DNS_PERMFAIL;	/* cannot happen: the parser's rule */
	a = answer_build(st, lk->key.type, &r);
	log_debug("dns answer name=%s type=%s status=%s n=%zu ttl=%u "
	    "dropped=%zu ares=%s", lk->key.name, type_name(lk->key.type),
	    dns_status_name(st), a->n, (unsigned)ttl, r.dropped,
	    ares_strerror(status));
	arena_free(&scratch);
	if (st == DNS_OK || st == DNS_NODATA || st == DNS_NXDOMAIN)
		cache_put(d, lk->key.type, lk->key.name, a, ttl);
	while ((w = TAILQ_FIRST(&lk->waiters)) != NULL) {
		TAILQ_REMOVE(&lk->waiters, w, entry);
		wait_done(w, a);
	}
	answer_unref(&a);
	lookup_free(lk);
}

/* wait_start - answer w from the cache, join a query, or start one */
static void
wait_start(struct dns_req *req, unsigned i, uint16_t type, const char *name)
{
	struct dns *d = req->d;
	struct dns_wait *w = &req->w[i];
	struct dns_lookup *lk;
	struct dns_answer *a;
	uint8_t q[DNS_QUERY_MAX];
	size_t qlen;

	w->req = req;
	req->nwait++;
	req->pending++;
	if ((a = cache_get(d, type, name)) != NULL) {
		log_debug("dns cache-hit name=%s type=%s status=%s", name,
		    type_name(type), dns_status_name(a->status));
		wait_done(w, a);
		return;
	}
	lk = (struct dns_lookup *)htab_find(&d->inflight, type, name);
	if (lk != NULL) {
		w->lk = lk;
		TAILQ_INSERT_TAIL(&lk->waiters, w, entry);
		return;
	}
	if (d->inflight.count >= d->max_inflight) {
		struct dns_parse_result none;

		log_warn("dns overload name=%s type=%s inflight=%zu", name,
		    type_name(type), d->inflight.count);
		memset(&none, 0, sizeof(none));
		a = answer_build(DNS_TEMPFAIL, type, &none);
		wait_done(w, a);
		answer_unref(&a);
		return;
	}
	lk = xcalloc(1, sizeof(*lk));
	lk->d = d;
	lk->key.type = type;
	memcpy(lk->key.name, name, strlen(name) + 1);
	TAILQ_INIT(&lk->waiters);
	htab_insert(&d->inflight, &lk->key);
	w->lk = lk;
	TAILQ_INSERT_TAIL(&lk->waiters, w, entry);
	/*
	 * Our own query rather than ares_query(): it sets the AD bit, so a
	 * validating resolver tells us whether the answer is secure (DANE).
	 */
	lk->id = id_new(d);
	qlen = dns_parse_build_query(name, type, lk->id, q);
	ASSERT(qlen > 0);
	/* may answer at once (no server, no memory): on_answer copes */
	ares_send(d->ch, q, (int)qlen, on_answer, lk);
	timer_update(d);
}

static struct dns_req *
req_new(struct dns *d, enum dns_kind kind, void *ctx)
{
	struct dns_req *req = xcalloc(1, sizeof(*req));

	req->d = d;
	req->kind = kind;
	req->ctx = ctx;
	req->pending = 1;	/* held while the waits start */
	TAILQ_INSERT_TAIL(&d->reqs, req, all);
	return req;
}

/* req_started - drops the starting hold; queues if all is answered */
static struct dns_req *
req_started(struct dns_req *req)
{
	if (--req->pending == 0)
		req_queue(req);
	return req;
}

static struct dns_req *
req_fail(struct dns_req *req, enum dns_status st, const char *name,
    const char *why)
{
	char esc[LOG_ESCAPE_BUFSIZE];

	log_debug("dns reject name=\"%s\" reason=\"%s\"",
	    log_escape(esc, sizeof(esc), name != NULL ? name : "",
	    name != NULL ? strlen(name) : 0), why);
	req->fail = st;
	return req_started(req);
}

static void
req_free(struct dns_req *req)
{
	struct dns *d = req->d;
	unsigned i;

	for (i = 0; i < req->nwait; i++) {
		struct dns_wait *w = &req->w[i];

		if (w->lk != NULL)
			TAILQ_REMOVE(&w->lk->waiters, w, entry);
		answer_unref(&w->ans);
	}
	if (req->queued) {
		TAILQ_REMOVE(&d->done, req, queue);
		d->ndone--;
	}
	TAILQ_REMOVE(&d->reqs, req, all);
	free(req);
}

void
dns_cancel(struct dns_req **reqp)
{
	struct dns_req *req = *reqp;

	if (req == NULL)
		return;
	*reqp = NULL;
	/* from its own callback: it is freed when the callback returns */
	if (req == req->d->current)
		return;
	req_free(req);
}

/* ---- delivering results ---- */

static void
deliver_mx(struct dns *d, struct dns_req *req)
{
	struct dns_answer *a = req->w[0].ans;
	struct dns_mx mx[DNS_MAX_RECORDS];
	size_t n = 0, i, j, k;

	if (req->nwait == 0 || a->status != DNS_OK) {
		req->cb.mx(req->ctx, req->nwait == 0 ? req->fail : a->status,
		    NULL, 0, false);
		return;
	}
	n = a->n;
	memcpy(mx, a->mx, n * sizeof(*mx));
	/* RFC 5321 5.1: random order among equal preferences */
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && mx[j].pref == mx[i].pref; j++)
			;
		for (k = j - 1; k > i; k--) {
			size_t r = i + (size_t)(rng_next(d) % (k - i + 1));
			struct dns_mx t = mx[k];

			mx[k] = mx[r];
			mx[r] = t;
		}
	}
	req->cb.mx(req->ctx, DNS_OK, n > 0 ? mx : NULL, n, a->null_mx);
}

static unsigned
status_rank(enum dns_status st)
{
	switch (st) {
	case DNS_TEMPFAIL:	return 4;
	case DNS_PERMFAIL:	return 3;
	case DNS_NXDOMAIN:	return 2;
	case DNS_NODATA:	return 1;
	case DNS_OK:		return 0;
	}
	return 0;
}

static void
deliver_addr(struct dns_req *req)
{
	struct dns_answer *a4, *a6;
	struct sockaddr_storage *v;
	enum dns_status st;
	size_t n;

	if (req->nwait == 0) {
		req->cb.addr(req->ctx, req->fail, NULL, 0);
		return;
	}
	/* dns_addr_family asks one type: its answer is w[0], whatever it is */
	a4 = req->w[0].ans;
	a6 = req->nwait > 1 ? req->w[1].ans : NULL;
	n = (a4->status == DNS_OK ? a4->n : 0) +
	    (a6 != NULL && a6->status == DNS_OK ? a6->n : 0);
	if (n == 0) {
		st = a6 == NULL || status_rank(a4->status) >=
		    status_rank(a6->status) ? a4->status : a6->status;
		if (st == DNS_OK)
			st = DNS_PERMFAIL;
		req->cb.addr(req->ctx, st, NULL, 0);
		return;
	}
	v = xcalloc(n, sizeof(*v));
	n = 0;
	if (a4->status == DNS_OK) {
		memcpy(v, a4->addr, a4->n * sizeof(*v));
		n += a4->n;
	}
	if (a6 != NULL && a6->status == DNS_OK) {
		memcpy(v + n, a6->addr, a6->n * sizeof(*v));
		n += a6->n;
	}
	req->cb.addr(req->ctx, DNS_OK, v, n);
	free(v);
}

static void
deliver_tlsa(struct dns_req *req)
{
	struct dns_answer *a = req->nwait > 0 ? req->w[0].ans : NULL;
	enum dns_status st = a != NULL ? a->status : req->fail;

	if (st == DNS_OK)
		req->cb.tlsa(req->ctx, st, a->tlsa, a->n, a->secure);
	else
		req->cb.tlsa(req->ctx, st, NULL, 0,
		    a != NULL && a->secure);
}

static void
deliver_strs(struct dns_req *req)
{
	struct dns_answer *a = req->nwait > 0 ? req->w[0].ans : NULL;
	enum dns_status st = a != NULL ? a->status : req->fail;
	const char *const *s = NULL;
	size_t n = 0;

	if (st == DNS_OK) {
		s = (const char *const *)a->str;
		n = a->n;
	}
	if (req->kind == DNS_KIND_TXT)
		req->cb.txt(req->ctx, st, s, n);
	else
		req->cb.ptr(req->ctx, st, s, n);
}

/* deliver_cb - runs the callbacks of the requests answered so far */
static void
deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns *d = arg;
	struct dns_req *req;
	size_t budget = d->ndone;
	bool alive = true;

	(void)fd;
	(void)what;
	d->alive = &alive;
	while (budget-- > 0 && (req = TAILQ_FIRST(&d->done)) != NULL) {
		TAILQ_REMOVE(&d->done, req, queue);
		d->ndone--;
		req->queued = false;
		d->current = req;
		switch (req->kind) {
		case DNS_KIND_MX:
			deliver_mx(d, req);
			break;
		case DNS_KIND_ADDR:
			deliver_addr(req);
			break;
		case DNS_KIND_TXT:
		case DNS_KIND_PTR:
			deliver_strs(req);
			break;
		case DNS_KIND_TLSA:
			deliver_tlsa(req);
			break;
		}
		if (!alive)
			return;		/* dns_free() ran in the callback */
		d->current = NULL;
		req_free(req);
	}
	d->alive = NULL;
	/* requests answered during these callbacks wait for the next run */
	if (!TAILQ_EMPTY(&d->done))
		event_active(d->deliver, EV_TIMEOUT, 0);
}

/* ---- public entry points ---- */

struct dns_req *
dns_mx(struct dns *d, const char *domain, dns_mx_fn *cb, void *ctx)
{
	struct dns_req *req = req_new(d, DNS_KIND_MX, ctx);
	char name[DNS_NAME_BUFSIZE];
	const char *why;

	req->cb.mx = cb;
	if (dns_parse_check_name(domain, name, &why) < 0)
		return req_fail(req, DNS_PERMFAIL, domain, why);
	wait_start(req, 0, DNS_TYPE_MX, name);
	return req_started(req);
}

struct dns_req *
dns_addr(struct dns *d, const char *host, dns_addr_fn *cb, void *ctx)
{
	struct dns_req *req = req_new(d, DNS_KIND_ADDR, ctx);
	char name[DNS_NAME_BUFSIZE];
	const char *why;

	req->cb.addr = cb;
	if (dns_parse_check_name(host, name, &why) < 0)
		return req_fail(req, DNS_PERMFAIL, host, why);
	wait_start(req, 0, DNS_TYPE_A, name);
	wait_start(req, 1, DNS_TYPE_AAAA, name);
	return req_started(req);
}

struct dns_req *
dns_addr_family(struct dns *d, const char *host, int family,
    dns_addr_fn *cb, void *ctx)
{
	struct dns_req *req;
	char name[DNS_NAME_BUFSIZE];
	const char *why;

	if (family != AF_INET && family != AF_INET6)
		return dns_addr(d, host, cb, ctx);
	req = req_new(d, DNS_KIND_ADDR, ctx);
	req->cb.addr = cb;
	if (dns_parse_check_name(host, name, &why) < 0)
		return req_fail(req, DNS_PERMFAIL, host, why);
	wait_start(req, 0, family == AF_INET ? DNS_TYPE_A : DNS_TYPE_AAAA,
	    name);
	return req_started(req);
}

struct dns_req *
dns_txt(struct dns *d, const char *name, dns_txt_fn *cb, void *ctx)
{
	struct dns_req *req = req_new(d, DNS_KIND_TXT, ctx);
	char qname[DNS_NAME_BUFSIZE];
	const char *why;

	req->cb.txt = cb;
	if (dns_parse_check_name(name, qname, &why) < 0)
		return req_fail(req, DNS_PERMFAIL, name, why);
	wait_start(req, 0, DNS_TYPE_TXT, qname);
	return req_started(req);
}

struct dns_req *
dns_ptr(struct dns *d, const struct sockaddr *sa, dns_ptr_fn *cb, void *ctx)
{
	struct dns_req *req = req_new(d, DNS_KIND_PTR, ctx);
	char name[DNS_NAME_BUFSIZE];

	req->cb.ptr = cb;
	if (sa == NULL || dns_parse_reverse_name(sa, name) < 0)
		return req_fail(req, DNS_PERMFAIL, NULL,
		    "unsupported address family");
	wait_start(req, 0, DNS_TYPE_PTR, name);
	return req_started(req);
}

struct dns_req *
dns_tlsa(struct dns *d, const char *host, unsigned port, dns_tlsa_fn *cb,
    void *ctx)
{
	struct dns_req *req = req_new(d, DNS_KIND_TLSA, ctx);
	char name[DNS_NAME_BUFSIZE + 16], qname[DNS_NAME_BUFSIZE];
	const char *why;

	req->cb.tlsa = cb;
	if (port == 0 || port > 65535)
		return req_fail(req, DNS_PERMFAIL, host, "bad port");
	if (dns_parse_check_name(host, qname, &why) < 0)
		return req_fail(req, DNS_PERMFAIL, host, why);
	/* RFC 6698 section 3: _PORT._tcp.HOST */
	snprintf(name, sizeof(name), "_%u._tcp.%s", port, qname);
	if (dns_parse_check_name(name, qname, &why) < 0)
		return req_fail(req, DNS_PERMFAIL, host, why);
	wait_start(req, 0, DNS_TYPE_TLSA, qname);
	return req_started(req);
}

/* parse_servers - "ADDR", "ADDR:PORT", "[V6]:PORT", "V6", space/comma */
static int
parse_servers(const char *s, struct ares_addr_port_node *nodes,
    size_t *n_r, const char **error_r)
{
	size_t n = 0;

	while (*s != '\0') {
		char tok[128], *host, *port = NULL, *close;
		size_t len = strcspn(s, " \t,");
		struct ares_addr_port_node *nd;
		uint64_t p = 53;

		if (len == 0) {
			s++;
			continue;
		}
		if (len >= sizeof(tok) || n == DNS_MAX_SERVERS) {
			*error_r = "dns: too many or too long server entries";
			return -1;
		}
		memcpy(tok, s, len);
		tok[len] = '\0';
		s += len;
		host = tok;
		if (tok[0] == '[') {
			host = tok + 1;
			if ((close = strchr(host, ']')) == NULL) {
				*error_r = "dns: missing ']' in server";
				return -1;
			}
			*close = '\0';
			if (close[1] == ':')
				port = close + 2;
			else if (close[1] != '\0') {
				*error_r = "dns: junk after ']' in server";
				return -1;
			}
		} else if ((close = strchr(tok, ':')) != NULL &&
		    strchr(close + 1, ':') == NULL) {
			*close = '\0';
			port = close + 1;
		}
		if (port != NULL && strnum_u64_str(port, 65535, &p) < 0) {
			*error_r = "dns: bad server port";
			return -1;
		}
		if (p == 0) {
			*error_r = "dns: bad server port";
			return -1;
		}
		nd = &nodes[n];
		memset(nd, 0, sizeof(*nd));
		if (inet_pton(AF_INET, host, &nd->addr.addr4) == 1) {
			nd->family = AF_INET;
		} else if (inet_pton(AF_INET6, host, &nd->addr.addr6) == 1) {
			nd->family = AF_INET6;
		} else {
			*error_r = "dns: server is not an IP address";
			return -1;
		}
		nd->udp_port = nd->tcp_port = (int)p;
		if (n > 0)
			nodes[n - 1].next = nd;
		n++;
	}
	*n_r = n;
	return 0;
}

static void
library_init(void)
{
	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
		fatal("dns: ares_library_init failed");
}

struct dns *
dns_new(struct event_base *base, const char *servers, const char **error_r)
{
	struct dns_settings set;

	memset(&set, 0, sizeof(set));
	set.servers = servers;
	return dns_new_settings(base, &set, error_r);
}

struct dns *
dns_new_settings(struct event_base *base, const struct dns_settings *set,
    const char **error_r)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct ares_addr_port_node nodes[DNS_MAX_SERVERS];
	struct ares_options o;
	size_t nservers = 0;
	struct dns *d;
	int r;

	if (set->servers != NULL && parse_servers(set->servers, nodes,
	    &nservers, error_r) < 0)
		return NULL;
	pthread_once(&once, library_init);

	d = xcalloc(1, sizeof(*d));
	d->base = base;
	TAILQ_INIT(&d->reqs);
	TAILQ_INIT(&d->done);
	TAILQ_INIT(&d->lru);
	htab_init(&d->inflight);
	htab_init(&d->cache);
	d->cache_max_entries = set->cache_entries != 0 ?
	    set->cache_entries : DNS_CACHE_MAX_ENTRIES;
	d->cache_max_mem = set->cache_bytes != 0 ?
	    set->cache_bytes : DNS_CACHE_MAX_BYTES;
	d->max_inflight = set->max_inflight != 0 ?
	    set->max_inflight : DNS_MAX_INFLIGHT;
	d->no_cache = set->no_cache;
	random_bytes(&d->rng, sizeof(d->rng));
	d->rng |= 1;
	d->timer = evtimer_new(base, timer_cb, d);
	d->deliver = event_new(base, -1, 0, deliver_cb, d);
	if (d->timer == NULL || d->deliver == NULL)
		fatal("dns: cannot create events");

	memset(&o, 0, sizeof(o));
	/* no search list, no HOSTALIASES: mail names are absolute */
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_EDNS;
	o.timeout = (int)(set->timeout_ms != 0 ?
	    set->timeout_ms : DNS_DEFAULT_TIMEOUT_MS);
	o.tries = (int)(set->tries != 0 ? set->tries : DNS_DEFAULT_TRIES);
	o.ednspsz = DNS_EDNS_SIZE;
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = d;
	r = ares_init_options(&d->ch, &o, ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS |
	    ARES_OPT_TRIES | ARES_OPT_EDNSPSZ | ARES_OPT_SOCK_STATE_CB);
	if (r != ARES_SUCCESS) {
		*error_r = ares_strerror(r);
		dns_free(&d);
		return NULL;
	}
	d->ch_ok = true;
	if (nservers > 0 &&
	    (r = ares_set_servers_ports(d->ch, nodes)) != ARES_SUCCESS) {
		*error_r = ares_strerror(r);
		dns_free(&d);
		return NULL;
	}
	return d;
}

void
dns_free(struct dns **dp)
{
	struct dns *d = *dp;
	struct dns_req *req;
	struct dns_sock *s;

	if (d == NULL)
		return;
	*dp = NULL;
	if (d->alive != NULL)
		*d->alive = false;
	while ((req = TAILQ_FIRST(&d->reqs)) != NULL)
		req_free(req);
	/* every query ends with ARES_EDESTRUCTION: lookups are freed */
	if (d->ch_ok)
		ares_destroy(d->ch);
	ASSERT(d->inflight.count == 0);
	while ((s = d->socks) != NULL) {
		d->socks = s->next;
		event_free(s->ev);
		free(s);
	}
	dns_cache_flush(d);
	free(d->inflight.b);
	free(d->cache.b);
	if (d->timer != NULL)
		event_free(d->timer);
	if (d->deliver != NULL)
		event_free(d->deliver);
	free(d);
}
