/*
 * imap_view_store.c - the store as the IMAP view uses it: listing over a
 * UID range with the cached parse, cheap mailbox state, changes and
 * expunges since a MODSEQ, flags on many messages in one transaction,
 * copy/move of many messages in one transaction, full-text candidates.
 * Thin: one store call each (store/mailstore.h), so that the view's hot
 * paths (FETCH 1:*, STORE 1:*, SEARCH) make no per-message queries.
 * No untrusted input.
 */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_view_int.h"
#include "lib/xmalloc.h"

struct list_ctx {
	vs_msg_fn	*fn;
	void		*ctx;
};

static void
list_cb(void *ctx, const struct mailstore_message *m)
{
	struct list_ctx *lc = ctx;
	struct vs_msg vm;

	vm.m = m;
	vm.envelope = m->envelope;
	vm.bodystructure = m->bodystructure;
	vm.body = m->body;
	lc->fn(lc->ctx, &vm);
}

int
vs_list_range(struct mailstore *ms, const char *mailbox, uint32_t lo,
    uint32_t hi, bool cache, vs_msg_fn *fn, void *ctx, const char **error_r)
{
	struct list_ctx lc = { fn, ctx };

	return mailstore_message_list_range(ms, mailbox, lo, hi,
	    cache ? MAILSTORE_LIST_CACHE : 0, list_cb, &lc, error_r);
}

int
vs_state(struct mailstore *ms, const char *mailbox, uint32_t *uidvalidity_r,
    uint32_t *uidnext_r, uint64_t *modseq_r, const char **error_r)
{
	return mailstore_mailbox_state(ms, mailbox, uidvalidity_r, uidnext_r,
	    modseq_r, error_r);
}

int
vs_list_since(struct mailstore *ms, const char *mailbox, uint64_t since,
    vs_msg_fn *fn, void *ctx, const char **error_r)
{
	struct list_ctx lc = { fn, ctx };

	return mailstore_message_list_since(ms, mailbox, since, list_cb, &lc,
	    error_r);
}

int
vs_expunged_since(struct mailstore *ms, const char *mailbox, uint64_t since,
    uint32_t **uids_r, size_t *n_r, bool *complete_r, const char **error_r)
{
	return mailstore_expunged_since(ms, mailbox, since, uids_r, n_r,
	    complete_r, error_r);
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

int
vs_store_flags(struct mailstore *ms, const char *mailbox,
    struct vs_flag_change *c, size_t n, enum vs_flag_mode mode,
    unsigned flags, const char *keywords, uint64_t unchangedsince,
    const char **error_r)
{
	struct mailstore_flag_change *mc;
	enum mailstore_flag_mode mm;
	size_t i;
	int r;

	if (n == 0)
		return 0;
	mm = mode == VS_FLAGS_ADD ? MAILSTORE_FLAGS_ADD :
	    mode == VS_FLAGS_REMOVE ? MAILSTORE_FLAGS_REMOVE :
	    MAILSTORE_FLAGS_REPLACE;
	mc = xcalloc(n, sizeof(*mc));
	for (i = 0; i < n; i++)
		mc[i].uid = c[i].uid;
	r = mailstore_store_flags(ms, mailbox, mc, n, mm, flags, keywords,
	    unchangedsince, error_r);
	if (r == 0) {
		for (i = 0; i < n; i++) {
			c[i].status = mc[i].status;
			c[i].flags = mc[i].flags;
			c[i].keywords = mc[i].keywords;	/* taken over */
			c[i].modseq = mc[i].modseq;
		}
	}
	free(mc);
	return r;
}

int
vs_copy(struct mailstore *ms, const char *from, const uint32_t *uids,
    size_t n, const char *to, bool move, uint32_t *new_uids,
    uint32_t *uidvalidity_r, const char **error_r)
{
	return mailstore_copy_multi(ms, from, uids, n, to, move, new_uids,
	    uidvalidity_r, error_r);
}

int
vs_fts(struct mailstore *ms, const char *mailbox, const struct span *terms,
    const bool *body_only, size_t nterms, uint32_t **uids_r, size_t *n_r,
    bool *narrowed_r, const char **error_r)
{
	return mailstore_fts_candidates(ms, mailbox, terms, body_only, nterms,
	    uids_r, n_r, narrowed_r, error_r);
}
