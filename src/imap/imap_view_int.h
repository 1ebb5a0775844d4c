/*
 * imap_view_int.h - private parts of the selected-mailbox view
 * (imap_view.c, imap_view_fetch.c, imap_view_search.c,
 * imap_view_store.c): the sequence map, the state of a paused command,
 * and the thin layer over the store the view uses.
 */
#ifndef POSTINO_IMAP_IMAP_VIEW_INT_H
#define POSTINO_IMAP_IMAP_VIEW_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "imap/imap_view.h"
#include "lib/span.h"
#include "store/mailstore.h"

/* ---- the sequence map: message sequence numbers <-> UIDs ---- */

/* A run of consecutive UIDs lo..hi that are all in the mailbox. */
struct view_run {
	uint32_t	lo, hi;
};

/*
 * The session's numbering: runs ascending; cum[i] is the number of
 * messages before run i, so seq -> UID is a binary search over cum and
 * UID -> seq one over the runs.  A mailbox delivered to in order is a
 * single run however many messages it holds.
 */
struct seqmap {
	struct view_run	*runs;
	uint32_t	*cum;
	size_t		 n, cap;
	uint32_t	 count;
};

void seqmap_init(struct seqmap *m);
void seqmap_fini(struct seqmap *m);
/* Appends uid (greater than every UID in the map). */
void seqmap_append(struct seqmap *m, uint32_t uid);
/* UID of seq (1-based), 0 if out of range. */
uint32_t seqmap_uid(const struct seqmap *m, uint32_t seq);
/* Sequence number of uid, 0 if absent. */
uint32_t seqmap_seq(const struct seqmap *m, uint32_t uid);
/* The first seq whose UID is >= uid (count + 1 if none). */
uint32_t seqmap_seq_ge(const struct seqmap *m, uint32_t uid);
/* The last seq whose UID is <= uid (0 if none). */
uint32_t seqmap_seq_le(const struct seqmap *m, uint32_t uid);
/* Last UID in the map, 0 if empty. */
uint32_t seqmap_last(const struct seqmap *m);
/* Removes the sorted UIDs uids[0..n) (absent ones are ignored). */
void seqmap_remove(struct seqmap *m, const uint32_t *uids, size_t n);

/* A range of sequence numbers, lo <= hi, both in 1..count. */
struct seq_range {
	uint32_t	lo, hi;
};

/* ---- the store, as the view uses it ---- */

/* As struct mailstore_flag_change (store/mailstore.h). */
enum vs_flag_mode { VS_FLAGS_REPLACE, VS_FLAGS_ADD, VS_FLAGS_REMOVE };
struct vs_flag_change {
	uint32_t	 uid;		/* in */
	int		 status;	/* 1 changed, 0 unchanged, -1 gone,
					   2 refused (UNCHANGEDSINCE) */
	unsigned	 flags;		/* after */
	char		*keywords;	/* heap, after */
	uint64_t	 modseq;	/* after */
};
void vs_flag_changes_free(struct vs_flag_change *c, size_t n);

/* A listed message; the cached parse is NULL unless asked for. */
struct vs_msg {
	const struct mailstore_message	*m;
	const char			*envelope, *bodystructure, *body;
};
typedef void vs_msg_fn(void *ctx, const struct vs_msg *vm);

int vs_list_range(struct mailstore *ms, const char *mailbox, uint32_t lo,
    uint32_t hi, bool cache, vs_msg_fn *fn, void *ctx, const char **error_r);
int vs_state(struct mailstore *ms, const char *mailbox,
    uint32_t *uidvalidity_r, uint32_t *uidnext_r, uint64_t *modseq_r,
    const char **error_r);
int vs_list_since(struct mailstore *ms, const char *mailbox, uint64_t since,
    vs_msg_fn *fn, void *ctx, const char **error_r);
int vs_expunged_since(struct mailstore *ms, const char *mailbox,
    uint64_t since, uint32_t **uids_r, size_t *n_r, bool *complete_r,
    const char **error_r);
int vs_store_flags(struct mailstore *ms, const char *mailbox,
    struct vs_flag_change *c, size_t n, enum vs_flag_mode mode,
    unsigned flags, const char *keywords, uint64_t unchangedsince,
    const char **error_r);
int vs_copy(struct mailstore *ms, const char *from, const uint32_t *uids,
    size_t n, const char *to, bool move, uint32_t *new_uids,
    uint32_t *uidvalidity_r, const char **error_r);
int vs_fts(struct mailstore *ms, const char *mailbox,
    const struct span *terms, const bool *body_only, size_t nterms, uint32_t **uids_r, size_t *n_r,
    bool *narrowed_r, const char **error_r);

/* ---- the view ---- */

/* A change this session made and already told the client about. */
struct view_told {
	uint32_t	uid;
	uint64_t	modseq;
};

enum view_job_kind { VIEW_JOB_NONE, VIEW_JOB_FETCH, VIEW_JOB_STORE };

/* A command that may pause (FETCH, STORE output). */
struct view_job {
	enum view_job_kind		 kind;
	const struct imap_command	*cmd;
	struct seq_range		*ranges;	/* FETCH */
	size_t				 nranges, ri;
	uint32_t			 next_seq;
	uint32_t			*seen;		/* \Seen just set */
	size_t				 nseen;
	bool				 cache;		/* list with cache */
	size_t				 avg;		/* bytes a message */
	bool				 failed;
	bool				 expunged;	/* some were gone */
	struct vs_flag_change		*changes;	/* STORE */
	size_t				 nchanges, ci;
	struct imap_result		 done;		/* final result */
};

struct imap_view {
	char			*mailbox;
	bool			 readonly;
	bool			 condstore;	/* enabled by SELECT or use */
	uint32_t		 uidvalidity;
	uint64_t		 modseq;	/* changes up to here are told */
	uint32_t		 known_uid;	/* highest UID ever mapped */
	struct seqmap		 map;
	uint32_t		*pending;	/* expunged, not told yet */
	size_t			 npending;
	struct view_told	*told;		/* sorted by uid */
	size_t			 ntold, captold;
	uint32_t		*saved;		/* "$" (RFC 5182), sorted */
	size_t			 nsaved;
	struct view_job		 job;
	char			*long_code;	/* imap_result.code_long */
	/* \Recent (rev1 only, imap_recent.h) */
	int64_t			 user_id;
	bool			 recent_on;	/* rev1 */
	bool			 recent_claims;	/* rev1 and read-write */
	uint32_t		 recent_seen;	/* UIDs considered so far */
	uint32_t		 recent_told;	/* the last RECENT sent */
	struct view_run		*recent;	/* UID ranges, ascending */
	size_t			 nrecent, caprecent;
};

/* Helpers shared by the view's files. */
/* qsort and bsearch that accept an empty (NULL) array. */
static inline void
view_qsort(void *base, size_t n, size_t size,
    int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

static inline void *
view_bsearch(const void *key, const void *base, size_t n, size_t size,
    int (*cmp)(const void *, const void *))
{
	return n > 0 ? bsearch(key, base, n, size, cmp) : NULL;
}

void view_result(struct imap_result *res, enum imap_result_status st,
    const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/*
 * Sets res's response code to code, of any length: in res->code when it
 * fits, else kept in v->long_code and pointed to by res->code_long.  Call
 * after view_result (which clears it).
 */
void view_result_code(struct imap_view *v, struct imap_result *res,
    const char *code);
bool view_condstore(const struct imap_view *v, const struct imap_view_opts *o);
/*
 * Turns a sequence set (or a UID set with is_uid, or "$") into sorted,
 * merged sequence ranges of the map.  1 with *r (heap, may be 0 ranges),
 * 0 when a sequence number is out of range (BAD), -1 never.
 */
int view_set_ranges(const struct imap_view *v, const struct imap_seqset *set,
    bool is_uid, struct seq_range **r, size_t *n_r);
/* The UIDs of ranges, ascending, heap. */
uint32_t *view_ranges_uids(const struct imap_view *v,
    const struct seq_range *r, size_t n, size_t *n_r);
/* Appends the UID set "1:3,7" of sorted uids (n > 0). */
int view_put_uidset(struct buf *out, const uint32_t *uids, size_t n);
/* "(\Seen $Junk)". */
int view_put_flags(struct buf *out, unsigned flags, const char *keywords,
    bool recent);
/* \Recent (rev1): whether uid is recent for this session. */
bool view_is_recent(const struct imap_view *v, uint32_t uid);
/* How many messages of the map are recent for this session. */
uint32_t view_recent_count(const struct imap_view *v);
/*
 * Takes the UIDs up to max_uid not considered yet: those above the
 * mailbox's mark (imap_recent.h) become recent for this session, and a
 * read-write rev1 view moves the mark past them.
 */
void view_recent_update(struct imap_view *v, uint32_t max_uid);
/* Remembers that the client saw uid at modseq (no FETCH from sync). */
void view_told_add(struct imap_view *v, uint32_t uid, uint64_t modseq);
/*
 * "* VANISHED (EARLIER) set" of the UIDs in known (sorted UID ranges)
 * expunged since the MODSEQ since; nothing if none.  0 or -1.
 */
int view_put_vanished_earlier(struct imap_view *v, struct mailstore *ms,
    uint64_t since, const struct seq_range *known, size_t nknown,
    struct buf *out, const char **error_r);
/*
 * After a change of ours that gave every changed message the MODSEQ m
 * (mailstore_store_flags does so), with h0 the HIGHESTMODSEQ read just
 * before it: if the client knew everything up to h0 and nobody else
 * committed around ours, it now knows everything up to m, and the next
 * sync need not list our own changes back.
 */
void view_own_change(struct imap_view *v, struct mailstore *ms, uint64_t h0,
    uint64_t m);
/* Message file bytes: mapped read-only. */
struct view_mapping {
	void		*base;
	size_t		 len;
	struct span	 data;
};
int view_map_message(const struct mailstore_message *m,
    struct view_mapping *mp, const char **error_r);
void view_unmap_message(struct view_mapping *mp);

/* FETCH (imap_view_fetch.c). */
int view_fetch_start(struct imap_view *v, struct mailstore *ms,
    const struct imap_command *cmd, const struct imap_view_opts *o,
    struct buf *out, struct imap_result *res);
int view_fetch_run(struct imap_view *v, struct mailstore *ms,
    const struct imap_view_opts *o, struct buf *out, struct imap_result *res);
void view_job_clear(struct view_job *j);

/* SEARCH, SORT, THREAD (imap_view_search.c). */
int view_search(struct imap_view *v, struct mailstore *ms,
    const struct imap_command *cmd, const struct imap_view_opts *o,
    struct buf *out, struct imap_result *res);

#endif
