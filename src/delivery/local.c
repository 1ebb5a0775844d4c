/*
 * local.c - the local delivery agent (runs on the queue's worker thread).
 *
 * Storage quota (RFC 9208): a message that would take an account past its
 * limit (the user's, or [store] quota) is deferred with 452 4.2.2 and
 * retried by the queue; at the last attempt of its queue lifetime it fails
 * with 552 5.2.2 (RFC 3463 "mailbox full"), so the bounce says so.
 */
#include "delivery/local.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "conf/config.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "mime/mime_imap.h"
#include "queue/queue.h"
#include "store/mailstore.h"
#include "store/quota.h"
#include "store/resolve.h"

#define LOCAL_MAX_OPEN_STORES 128
/* Ceiling of one cached IMAP structure string; past it, IMAP computes it. */
#define LOCAL_MAX_CACHED_PARSE	(4u * 1024 * 1024)

struct open_store {
	int64_t			 user_id;
	struct mailstore	*ms;
};

struct local_delivery {
	char			*data_dir;
	uint64_t		 default_quota;	/* [store] quota */
	uint64_t		 lifetime;	/* [queue] lifetime */
	struct accounts		*accounts;	/* worker thread's handle */
	struct open_store	 stores[LOCAL_MAX_OPEN_STORES];
	size_t			 nstores;
};

/*
 * The parse IMAP needs (ENVELOPE, BODYSTRUCTURE, BODY), computed once per
 * message at delivery so that FETCH never re-parses.  The prepended
 * Return-Path:/Delivered-To: lines change none of them.
 */
struct parse_cache {
	const struct queue_job	*job;
	char			*envelope;
	char			*bodystructure;
	char			*body;
};

/* take_string - the buffer as a C string, or NULL if it holds a NUL */
static char *
take_string(struct buf *b)
{
	if (b->len == 0 || memchr(b->data, '\0', b->len) != NULL) {
		buf_fini(b);
		return NULL;
	}
	return (char *)buf_steal(b, NULL);
}

static void
parse_cache_fill(struct parse_cache *pc, const struct queue_job *job)
{
	long pagesize = sysconf(_SC_PAGESIZE);
	uint64_t start = job->offset - job->offset % (uint64_t)pagesize;
	size_t maplen = (size_t)(job->offset - start + job->size);
	struct buf env, bs, body;
	void *map;

	pc->job = job;
	if (job->size == 0)
		return;
	map = mmap(NULL, maplen, PROT_READ, MAP_PRIVATE, job->fd,
	    (off_t)start);
	if (map == MAP_FAILED) {
		log_warn("delivery: cannot map qid=%s for parsing", job->qid);
		return;
	}
	buf_init(&env, LOCAL_MAX_CACHED_PARSE);
	buf_init(&bs, LOCAL_MAX_CACHED_PARSE);
	buf_init(&body, LOCAL_MAX_CACHED_PARSE);
	if (mime_imap_compute((const char *)map + (job->offset - start),
	    (size_t)job->size, &env, &bs, &body, NULL) == 0) {
		pc->envelope = take_string(&env);
		pc->bodystructure = take_string(&bs);
		pc->body = take_string(&body);
	}
	buf_fini(&env);
	buf_fini(&bs);
	buf_fini(&body);
	munmap(map, maplen);
}

static void
parse_cache_fini(struct parse_cache *pc)
{
	free(pc->envelope);
	free(pc->bodystructure);
	free(pc->body);
}

/* One delivery of a message to one user, on behalf of one recipient. */
struct item {
	struct queue_job_rcpt	*rcpt;
	int64_t			 user_id;
	uint64_t		 quota;		/* the user's; 0: default */
	char			*prefix;
	char			*key;
	const struct queue_job	*job;
	size_t			 seq;		/* position in the batch */
	const struct parse_cache *pc;
};

struct local_delivery *
local_delivery_new(const struct config *cfg)
{
	struct local_delivery *ld = xcalloc(1, sizeof(*ld));

	ld->data_dir = xstrdup(cfg->data_dir);
	ld->default_quota = cfg->store_quota;
	ld->lifetime = cfg->lifetime;
	return ld;
}

static void
close_stores(struct local_delivery *ld)
{
	size_t i;

	for (i = 0; i < ld->nstores; i++)
		mailstore_close(&ld->stores[i].ms);
	ld->nstores = 0;
}

void
local_delivery_free(struct local_delivery **ldp)
{
	struct local_delivery *ld = *ldp;

	if (ld == NULL)
		return;
	close_stores(ld);
	accounts_close(&ld->accounts);
	free(ld->data_dir);
	free(ld);
	*ldp = NULL;
}

static struct mailstore *
get_store(struct local_delivery *ld, int64_t user_id, const char **error_r)
{
	struct mailstore *ms;
	size_t i;

	for (i = 0; i < ld->nstores; i++)
		if (ld->stores[i].user_id == user_id)
			return ld->stores[i].ms;
	ms = mailstore_open(ld->data_dir, user_id, error_r);
	if (ms == NULL)
		return NULL;
	/* small messages of a batch share one file: no inode per message */
	mailstore_set_packing(ms, true);
	if (ld->nstores == LOCAL_MAX_OPEN_STORES)
		close_stores(ld);	/* simple: start over when full */
	ld->stores[ld->nstores].user_id = user_id;
	ld->stores[ld->nstores].ms = ms;
	ld->nstores++;
	return ms;
}

static void
set_status(struct queue_job_rcpt *r, enum queue_rcpt_status st,
    const char *error)
{
	r->status = st;
	free(r->error);
	r->error = error != NULL ? xstrdup(error) : NULL;
}

static void
defer_all(struct queue_job *const *jobs, size_t njobs, const char *why)
{
	size_t i, j;

	for (i = 0; i < njobs; i++)
		for (j = 0; j < jobs[i]->nrcpts; j++)
			set_status(&jobs[i]->rcpts[j], QUEUE_RCPT_DEFERRED,
			    why);
}

/* expand_rcpt - resolve one recipient into items; sets final states */
static void
expand_rcpt(struct local_delivery *ld, const struct queue_job *job,
    struct queue_job_rcpt *r, struct item **items, size_t *nitems,
    size_t *cap)
{
	struct resolve_result res;
	size_t k;

	r->status = QUEUE_RCPT_PENDING;
	switch (resolve_expand(ld->accounts, r->addr, &res)) {
	case RESOLVE_OK:
		break;
	case RESOLVE_UNKNOWN_USER:
		set_status(r, QUEUE_RCPT_FAILED,
		    "550 5.1.1 recipient address rejected: user unknown");
		resolve_result_fini(&res);
		return;
	case RESOLVE_NOT_LOCAL:
		/* the queue hands it to the remote agent */
		set_status(r, QUEUE_RCPT_REMOTE, NULL);
		resolve_result_fini(&res);
		return;
	case RESOLVE_ALIAS_ERROR:
	case RESOLVE_TEMPFAIL:
		set_status(r, QUEUE_RCPT_DEFERRED, res.error != NULL ?
		    res.error : "451 4.3.0 temporary lookup failure");
		resolve_result_fini(&res);
		return;
	}
	for (k = 0; k < res.nlocal; k++) {
		struct item *it;
		size_t m;

		/* one copy per user per message, whatever the route */
		for (m = 0; m < *nitems; m++)
			if ((*items)[m].job == job &&
			    (*items)[m].user_id == res.local[k].user_id)
				break;
		if (m < *nitems)
			continue;
		if (*nitems == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			*items = xreallocarray(*items, *cap, sizeof(**items));
		}
		it = &(*items)[(*nitems)++];
		it->rcpt = r;
		it->job = job;
		it->seq = *nitems - 1;
		it->user_id = res.local[k].user_id;
		it->quota = res.local[k].quota_bytes;
		it->prefix = xasprintf("Return-Path: <%s>\r\nDelivered-To: "
		    "%s\r\n", job->sender, res.local[k].address);
		it->key = xasprintf("%s %s", job->qid, res.local[k].address);
	}
	if (res.nremote > 0) {
		r->forward = xreallocarray(NULL, res.nremote, sizeof(char *));
		for (k = 0; k < res.nremote; k++)
			r->forward[k] = xstrdup(res.remote[k]);
		r->nforward = res.nremote;
	}
	resolve_result_fini(&res);
}

/* cmp_item_user - by user, then in arrival order (UIDs follow arrival) */
static int
cmp_item_user(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->user_id != y->user_id)
		return (x->user_id > y->user_id) - (x->user_id < y->user_id);
	return (x->seq > y->seq) - (x->seq < y->seq);
}

void
local_delivery_run(void *ctx, struct queue_job *const *jobs, size_t njobs)
{
	struct local_delivery *ld = ctx;
	struct item *items = NULL;
	struct mailstore_delivery *d = NULL;
	struct mailstore_batch *batches = NULL;
	struct parse_cache *pcs;
	size_t nitems = 0, cap = 0, nb = 0, i, j;
	const char *err = NULL;

	if (ld->accounts == NULL) {
		ld->accounts = accounts_open(ld->data_dir, &err);
		if (ld->accounts == NULL) {
			log_error("delivery: cannot open accounts: %s",
			    err ? err : "?");
			defer_all(jobs, njobs, "451 4.3.0 account database "
			    "unavailable");
			return;
		}
	}
	pcs = xcalloc(njobs ? njobs : 1, sizeof(*pcs));
	for (i = 0; i < njobs; i++) {
		size_t first = nitems;

		for (j = 0; j < jobs[i]->nrcpts; j++)
			expand_rcpt(ld, jobs[i], &jobs[i]->rcpts[j], &items,
			    &nitems, &cap);
		if (nitems > first)
			parse_cache_fill(&pcs[i], jobs[i]);
		for (j = first; j < nitems; j++)
			items[j].pc = &pcs[i];
	}

	/* group by account: one batch per user, one sync for all */
	if (nitems > 1)
		qsort(items, nitems, sizeof(*items), cmp_item_user);
	d = xcalloc(nitems ? nitems : 1, sizeof(*d));
	batches = xcalloc(nitems ? nitems : 1, sizeof(*batches));
	for (i = 0; i < nitems; i++) {
		struct item *it = &items[i];
		struct mailstore *ms;

		d[i].dedupe_key = it->key;
		d[i].prefix = it->prefix;
		d[i].prefix_len = strlen(it->prefix);
		d[i].fd = it->job->fd;
		d[i].offset = it->job->offset;
		d[i].size = it->job->size;
		/* the inbound policy judged it junk (docs/policy.md) */
		if (it->job->flags & QUEUE_ENV_F_JUNK)
			d[i].special = MAILSTORE_SPECIAL_JUNK;
		d[i].internal_date = 0;
		d[i].envelope = it->pc->envelope;
		d[i].bodystructure = it->pc->bodystructure;
		d[i].body = it->pc->body;
		d[i].status = -1;
		if (nb > 0 && batches[nb - 1].ms != NULL &&
		    mailstore_user_id(batches[nb - 1].ms) == it->user_id) {
			batches[nb - 1].n++;
			continue;
		}
		ms = get_store(ld, it->user_id, &err);
		if (ms == NULL) {
			log_error("delivery: cannot open store user=%lld: %s",
			    (long long)it->user_id, err ? err : "?");
			d[i].error = "mail store unavailable";
			continue;
		}
		/* the batch is one user's: one limit for all of it */
		mailstore_set_quota(ms, quota_limit(it->quota,
		    ld->default_quota));
		batches[nb].ms = ms;
		batches[nb].d = &d[i];
		batches[nb].n = 1;
		nb++;
	}
	if (nb > 0 && mailstore_deliver_multi(batches, nb, &err) < 0) {
		log_error("delivery: store batch failed: %s", err ? err : "?");
		for (i = 0; i < nitems; i++)
			d[i].status = -1;
	}
	/* a recipient is delivered when all its users have the message */
	for (i = 0; i < nitems; i++) {
		struct queue_job_rcpt *r = items[i].rcpt;

		if (d[i].status == 0) {
			log_info("delivered qid=%s rcpt=<%s> user=%lld uid=%u%s",
			    items[i].job->qid, r->addr,
			    (long long)items[i].user_id, d[i].uid,
			    d[i].duplicate ? " duplicate=yes" : "");
			continue;
		}
		if (d[i].over_quota) {
			const struct queue_job *job = items[i].job;
			time_t now = time(NULL);

			log_info("delivery deferred qid=%s rcpt=<%s> user=%lld"
			    " reason=over-quota", job->qid, r->addr,
			    (long long)items[i].user_id);
			/* the queue's last try (it is due at the expiry):
			 * fail in our words, so the bounce says 5.2.2 */
			if (ld->lifetime > 0 && now >= job->arrival +
			    (time_t)ld->lifetime)
				set_status(r, QUEUE_RCPT_FAILED,
				    "552 5.2.2 Mailbox full");
			else if (r->status != QUEUE_RCPT_FAILED)
				set_status(r, QUEUE_RCPT_DEFERRED,
				    "452 4.2.2 Mailbox full");
			continue;
		}
		if (r->status == QUEUE_RCPT_FAILED)
			continue;
		set_status(r, QUEUE_RCPT_DEFERRED, d[i].error != NULL ?
		    d[i].error : "451 4.3.0 mail store write failed");
	}
	for (i = 0; i < njobs; i++) {
		for (j = 0; j < jobs[i]->nrcpts; j++) {
			struct queue_job_rcpt *r = &jobs[i]->rcpts[j];

			if (r->status == QUEUE_RCPT_PENDING)
				r->status = QUEUE_RCPT_DELIVERED;
			if (r->status != QUEUE_RCPT_DELIVERED &&
			    r->nforward > 0) {
				/* re-expanded on retry: drop for now */
				for (size_t k = 0; k < r->nforward; k++)
					free(r->forward[k]);
				free(r->forward);
				r->forward = NULL;
				r->nforward = 0;
			}
		}
	}
	for (i = 0; i < nitems; i++) {
		free(items[i].prefix);
		free(items[i].key);
	}
	for (i = 0; i < njobs; i++)
		parse_cache_fini(&pcs[i]);
	free(pcs);
	free(items);
	free(d);
	free(batches);
}
