/*
 * imap_view_store.c - the store as the IMAP view uses it: listing over a
 * UID range with the cached parse, cheap mailbox state, changes and
 * expunges since a MODSEQ, flags on many messages, copy/move of many
 * messages, full-text candidates.
 *
 * Each function goes to the store's bulk call where it exists; where the
 * store does not offer one yet, it is built from the per-message calls
 * (correct, but one statement per message: XXX to be replaced by the bulk
 * calls of /work/notes/store_api.md items 1-5 and 7 as they land).
 * No untrusted input.
 */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_view_int.h"
#include "lib/ascii.h"
#include "lib/xmalloc.h"

struct range_ctx {
	struct mailstore	*ms;
	const char		*mailbox;
	uint32_t		 lo, hi;
	uint64_t		 since;		/* list_since */
	bool			 cache;
	vs_msg_fn		*fn;
	void			*ctx;
	int			 count;
};

static void
range_cb(void *ctx, const struct mailstore_message *m)
{
	struct range_ctx *rc = ctx;
	struct vs_msg vm;
	char *env = NULL, *bs = NULL, *body = NULL;
	const char *err;

	if (m->uid < rc->lo || (rc->hi != 0 && m->uid > rc->hi))
		return;
	if (rc->since != 0 && m->modseq <= rc->since)
		return;
	memset(&vm, 0, sizeof(vm));
	vm.m = m;
	if (rc->cache && mailstore_message_cache_get(rc->ms, rc->mailbox,
	    m->uid, &env, &bs, &body, &err) == 1) {
		vm.envelope = env;
		vm.bodystructure = bs;
		vm.body = body;
	}
	rc->count++;
	rc->fn(rc->ctx, &vm);
	free(env);
	free(bs);
	free(body);
}

int
vs_list_range(struct mailstore *ms, const char *mailbox, uint32_t lo,
    uint32_t hi, bool cache, vs_msg_fn *fn, void *ctx, const char **error_r)
{
	struct range_ctx rc;

	memset(&rc, 0, sizeof(rc));
	rc.ms = ms;
	rc.mailbox = mailbox;
	rc.lo = lo;
	rc.hi = hi;
	rc.cache = cache;
	rc.fn = fn;
	rc.ctx = ctx;
	if (mailstore_message_list(ms, mailbox, range_cb, &rc, error_r) < 0)
		return -1;
	return rc.count;
}

int
vs_state(struct mailstore *ms, const char *mailbox, uint32_t *uidvalidity_r,
    uint32_t *uidnext_r, uint64_t *modseq_r, const char **error_r)
{
	struct mailstore_mailbox mb;
	int r;

	if ((r = mailstore_mailbox_get(ms, mailbox, &mb, error_r)) != 1)
		return r;
	*uidvalidity_r = mb.uidvalidity;
	*uidnext_r = mb.uidnext;
	*modseq_r = mb.highestmodseq;
	return 1;
}

int
vs_list_since(struct mailstore *ms, const char *mailbox, uint64_t since,
    vs_msg_fn *fn, void *ctx, const char **error_r)
{
	struct range_ctx rc;

	memset(&rc, 0, sizeof(rc));
	rc.ms = ms;
	rc.mailbox = mailbox;
	rc.since = since;
	rc.fn = fn;
	rc.ctx = ctx;
	if (since == 0)
		rc.since = 0;
	if (mailstore_message_list(ms, mailbox, range_cb, &rc, error_r) < 0)
		return -1;
	return rc.count;
}

int
vs_expunged_since(struct mailstore *ms, const char *mailbox, uint64_t since,
    uint32_t **uids_r, size_t *n_r, bool *complete_r, const char **error_r)
{
	(void)ms;
	(void)mailbox;
	(void)since;
	(void)error_r;
	/* No expunge log yet: the caller compares UID lists. */
	*uids_r = NULL;
	*n_r = 0;
	*complete_r = false;
	return 0;
}

void
vs_flag_changes_free(struct vs_flag_change *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(c[i].keywords);
		c[i].keywords = NULL;
	}
}

/* Snapshot of the messages touched by a STORE, by position in c[]. */
struct flags_ctx {
	struct vs_flag_change	*c;
	size_t			 n;
	bool			 before;
	unsigned		*flags;
	char			**kw;
	uint64_t		*modseq;
	bool			*found;
};

static size_t
find_uid(const struct vs_flag_change *c, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
flags_cb(void *ctx, const struct vs_msg *vm)
{
	struct flags_ctx *fc = ctx;
	const struct mailstore_message *m = vm->m;
	size_t i = find_uid(fc->c, fc->n, m->uid);

	if (i >= fc->n || fc->c[i].uid != m->uid)
		return;
	fc->found[i] = true;
	fc->flags[i] = m->flags;
	free(fc->kw[i]);
	fc->kw[i] = xstrdup(m->keywords != NULL ? m->keywords : "");
	fc->modseq[i] = m->modseq;
}

/* Is word (len) in the space-separated list s, ASCII case-insensitively? */
static bool
kw_has(const char *s, const char *word, size_t len)
{
	while (*s != '\0') {
		size_t l;

		while (*s == ' ')
			s++;
		l = strcspn(s, " ");
		if (l == len && l > 0) {
			size_t k;

			for (k = 0; k < l; k++)
				if (ascii_tolower((unsigned char)s[k]) !=
				    ascii_tolower((unsigned char)word[k]))
					break;
			if (k == l)
				return true;
		}
		s += l;
	}
	return false;
}

/* Words of cur not in want, space-separated (heap). */
static char *
kw_minus(const char *cur, const char *want)
{
	struct buf b;
	char *r;

	buf_init(&b, 1u << 20);
	while (*cur != '\0') {
		size_t l;

		while (*cur == ' ')
			cur++;
		l = strcspn(cur, " ");
		if (l > 0 && !kw_has(want, cur, l) &&
		    ((b.len > 0 && buf_append_byte(&b, ' ') < 0) ||
		    buf_append(&b, cur, l) < 0))
			break;	/* cannot happen: keywords are short */
		cur += l;
	}
	r = xstrdup(b.len > 0 ? (const char *)b.data : "");
	buf_fini(&b);
	return r;
}

int
vs_store_flags(struct mailstore *ms, const char *mailbox,
    struct vs_flag_change *c, size_t n, enum vs_flag_mode mode,
    unsigned flags, const char *keywords, uint64_t unchangedsince,
    const char **error_r)
{
	struct flags_ctx fc;
	size_t i;
	int ret = -1;

	if (n == 0)
		return 0;
	memset(&fc, 0, sizeof(fc));
	fc.c = c;
	fc.n = n;
	fc.flags = xcalloc(n, sizeof(*fc.flags));
	fc.kw = xcalloc(n, sizeof(*fc.kw));
	fc.modseq = xcalloc(n, sizeof(*fc.modseq));
	fc.found = xcalloc(n, sizeof(*fc.found));
	if (vs_list_range(ms, mailbox, c[0].uid, c[n - 1].uid, false,
	    flags_cb, &fc, error_r) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		unsigned add = 0, del = 0;
		const char *kadd = NULL;
		char *kdel = NULL;
		int r1, r2;

		c[i].status = -1;
		if (!fc.found[i])
			continue;
		if (unchangedsince != 0 && fc.modseq[i] > unchangedsince) {
			c[i].status = 2;
			continue;
		}
		switch (mode) {
		case VS_FLAGS_ADD:
			add = flags;
			kadd = keywords;
			break;
		case VS_FLAGS_REMOVE:
			del = flags;
			kdel = keywords != NULL ? xstrdup(keywords) : NULL;
			break;
		case VS_FLAGS_REPLACE:
			add = flags;
			del = MAILSTORE_F_ALL & ~flags;
			kadd = keywords;
			kdel = kw_minus(fc.kw[i],
			    keywords != NULL ? keywords : "");
			break;
		}
		r1 = mailstore_message_set_flags(ms, mailbox, c[i].uid, add,
		    del, error_r);
		if (r1 < 0) {
			free(kdel);
			goto out;
		}
		r2 = 0;
		if ((kadd != NULL && *kadd != '\0') ||
		    (kdel != NULL && *kdel != '\0'))
			r2 = mailstore_message_set_keywords(ms, mailbox,
			    c[i].uid, kadd, kdel, error_r);
		free(kdel);
		if (r2 < 0)
			goto out;
		c[i].status = (r1 == 1 || r2 == 1) ? 1 : 0;
	}
	memset(fc.found, 0, n * sizeof(*fc.found));
	if (vs_list_range(ms, mailbox, c[0].uid, c[n - 1].uid, false,
	    flags_cb, &fc, error_r) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (!fc.found[i]) {
			c[i].status = -1;
			continue;
		}
		c[i].flags = fc.flags[i];
		c[i].keywords = fc.kw[i];
		fc.kw[i] = NULL;
		c[i].modseq = fc.modseq[i];
	}
	ret = 0;
out:
	for (i = 0; i < n; i++)
		free(fc.kw[i]);
	free(fc.flags);
	free(fc.kw);
	free(fc.modseq);
	free(fc.found);
	return ret;
}

int
vs_copy(struct mailstore *ms, const char *from, const uint32_t *uids,
    size_t n, const char *to, bool move, uint32_t *new_uids,
    uint32_t *uidvalidity_r, const char **error_r)
{
	struct mailstore_mailbox mb;
	size_t i;
	int r;

	if ((r = mailstore_mailbox_get(ms, to, &mb, error_r)) != 1) {
		if (r == 0)
			*error_r = "no such mailbox";
		return -1;
	}
	*uidvalidity_r = mb.uidvalidity;
	for (i = 0; i < n; i++) {
		new_uids[i] = 0;
		r = mailstore_message_copy(ms, from, uids[i], to, move,
		    &new_uids[i], uidvalidity_r, error_r);
		if (r < 0)
			return -1;
		if (r == 0)
			new_uids[i] = 0;
	}
	return 0;
}

int
vs_fts(struct mailstore *ms, const char *mailbox, const struct span *terms,
    size_t nterms, uint32_t **uids_r, size_t *n_r, bool *narrowed_r,
    const char **error_r)
{
	(void)ms;
	(void)mailbox;
	(void)terms;
	(void)nterms;
	(void)error_r;
	*uids_r = NULL;
	*n_r = 0;
	*narrowed_r = false;
	return 0;
}
