/*
 * imap_view_search.c - SEARCH, SORT and THREAD in the selected mailbox
 * and their UID forms (RFC 9051 6.4.4 and 7.3.4, RFC 4731 ESEARCH return
 * options, RFC 5182 SEARCHRES "$", RFC 7162 3.1.5 MODSEQ, RFC 5256 SORT
 * and THREAD).  One store listing for all messages; the full-text index
 * narrows BODY/TEXT searches to candidates and imap_search_match always
 * confirms; a message file is mapped only when a key needs its bytes.
 *
 * Search keys come from the client (parsed); message bytes are
 * untrusted (imap_search.c reads them).
 */
#include <stdlib.h>
#include <string.h>

#include "imap/imap_search.h"
#include "imap/imap_view_int.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

/* Header bytes kept for SORT/THREAD over one command. */
#define VIEW_SORT_MAX_HEADERS	(256u * 1024 * 1024)
/* BODY/TEXT strings handed to the full-text index. */
#define VIEW_FTS_MAX_TERMS	16
/* Up to this many candidates are looked up one by one, not listed. */
#define VIEW_FTS_FEW		256

struct hit {
	uint32_t	 seq, uid;
	uint64_t	 modseq;
	unsigned	 flags;
	time_t		 internal_date;
	uint64_t	 size;
	size_t		 hoff, hlen;	/* header in hdrs (SORT/THREAD) */
};

struct search_ctx {
	struct imap_view		*v;
	const struct imap_search_key	*key;
	struct imap_search_ctx		 sc;
	unsigned			 needs;
	bool				 keep_header;
	const uint32_t			*cand;
	size_t				 ncand;
	bool				 narrowed;
	struct hit			*hits;
	size_t				 n, cap;
	struct buf			 hdrs;
	int				 failed;	/* -1 match, -2 limit */
};

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Length of the header section, blank line included (one pass). */
static size_t
header_len(struct span d)
{
	const uint8_t *p = d.p, *end = d.p + d.len;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		p++;
		if (p < end && p[0] == '\n')
			return (size_t)(p + 1 - d.p);
		if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
			return (size_t)(p + 2 - d.p);
	}
	return d.len;
}

static void
search_cb(void *ctx, const struct vs_msg *vm)
{
	struct search_ctx *s = ctx;
	const struct mailstore_message *m = vm->m;
	struct imap_search_msg sm;
	struct view_mapping mp;
	const char *err = NULL;
	uint32_t seq;
	bool mapped = false;
	int r;

	if (s->failed != 0)
		return;
	if ((seq = seqmap_seq(&s->v->map, m->uid)) == 0)
		return;
	if (s->narrowed && view_bsearch(&m->uid, s->cand, s->ncand,
	    sizeof(*s->cand), cmp_u32) == NULL)
		return;
	memset(&sm, 0, sizeof(sm));
	sm.seq = seq;
	sm.uid = m->uid;
	sm.flags = m->flags;
	sm.keywords = m->keywords != NULL ? m->keywords : "";
	sm.recent = view_is_recent(s->v, m->uid);
	sm.internal_date = m->internal_date;
	sm.size = m->size;
	sm.modseq = m->modseq;
	if (s->needs != 0 || s->keep_header) {
		if (view_map_message(m, &mp, &err) < 0) {
			log_info("imap search mailbox=%s uid=%u error=\"%s\"",
			    s->v->mailbox, m->uid, err);
			return;
		}
		mapped = true;
		sm.data = mp.data;
		sm.header = span_make(mp.data.p, header_len(mp.data));
	}
	r = imap_search_match(s->key, &sm, &s->sc);
	if (r < 0) {
		s->failed = -1;
	} else if (r == 1) {
		struct hit *h;

		if (s->n == s->cap) {
			s->cap = s->cap < 64 ? 64 : s->cap * 2;
			s->hits = xreallocarray(s->hits, s->cap,
			    sizeof(*s->hits));
		}
		h = &s->hits[s->n++];
		memset(h, 0, sizeof(*h));
		h->seq = seq;
		h->uid = m->uid;
		h->modseq = m->modseq;
		h->flags = m->flags;
		h->internal_date = m->internal_date;
		h->size = m->size;
		if (s->keep_header) {
			h->hoff = s->hdrs.len;
			h->hlen = sm.header.len;
			if (buf_append(&s->hdrs, sm.header.p,
			    sm.header.len) < 0)
				s->failed = -2;
		}
	}
	if (mapped)
		view_unmap_message(&mp);
}

static bool
has_modseq_key(const struct imap_search_key *k)
{
	for (; k != NULL; k = k->next) {
		if (k->op == IMAP_SEARCH_MODSEQ)
			return true;
		if (k->child != NULL && has_modseq_key(k->child))
			return true;
	}
	return false;
}

static int
cmp_hit_seq(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sets "$" to the sorted uids. */
static void
save_result(struct imap_view *v, const uint32_t *uids, size_t n)
{
	free(v->saved);
	v->saved = xcalloc(n + 1, sizeof(*v->saved));
	if (n > 0)
		memcpy(v->saved, uids, n * sizeof(*uids));
	view_qsort(v->saved, n, sizeof(*v->saved), cmp_u32);
	v->nsaved = n;
}

static int
put_search(struct imap_view *v, const struct imap_command *cmd,
    const struct imap_view_opts *o, const struct search_ctx *s,
    struct buf *out)
{
	bool is_uid = cmd->is_uid;
	unsigned ret = cmd->u.search.ret_flags;
	bool esearch = cmd->u.search.has_return || o->rev2;
	bool modseq = has_modseq_key(cmd->u.search.key);
	uint64_t maxmod = 0;
	uint32_t *nums;
	size_t i;
	int r = 0;

	nums = xcalloc(s->n + 1, sizeof(*nums));
	for (i = 0; i < s->n; i++) {
		nums[i] = is_uid ? s->hits[i].uid : s->hits[i].seq;
		if (s->hits[i].modseq > maxmod)
			maxmod = s->hits[i].modseq;
	}
	if (esearch && (ret & ~IMAP_SEARCH_RET_F_SAVE) == 0 &&
	    (ret & IMAP_SEARCH_RET_F_SAVE) == 0)
		ret |= IMAP_SEARCH_RET_F_ALL;	/* RETURN () and rev2 */
	if (ret & IMAP_SEARCH_RET_F_SAVE) {
		/* RFC 5182 2.4: MIN/MAX alone save only those */
		if ((ret & (IMAP_SEARCH_RET_F_ALL | IMAP_SEARCH_RET_F_COUNT))
		    == 0 && (ret & (IMAP_SEARCH_RET_F_MIN |
		    IMAP_SEARCH_RET_F_MAX)) != 0) {
			uint32_t mm[2];
			size_t nm = 0;

			if (s->n > 0 && (ret & IMAP_SEARCH_RET_F_MIN))
				mm[nm++] = s->hits[0].uid;
			if (s->n > 0 && (ret & IMAP_SEARCH_RET_F_MAX) &&
			    (nm == 0 || s->n > 1))
				mm[nm++] = s->hits[s->n - 1].uid;
			save_result(v, mm, nm);
		} else {
			uint32_t *u = xcalloc(s->n + 1, sizeof(*u));

			for (i = 0; i < s->n; i++)
				u[i] = s->hits[i].uid;
			save_result(v, u, s->n);
			free(u);
		}
	}
	if (!esearch) {
		r = buf_append_str(out, "* SEARCH");
		for (i = 0; r == 0 && i < s->n; i++)
			r = buf_printf(out, " %u", nums[i]);
		if (r == 0 && modseq && s->n > 0)
			r = buf_printf(out, " (MODSEQ %llu)",
			    (unsigned long long)maxmod);
		if (r == 0)
			r = buf_append_str(out, "\r\n");
		free(nums);
		return r;
	}
	if ((ret & ~IMAP_SEARCH_RET_F_SAVE) == 0) {
		/* SAVE alone: no ESEARCH response (RFC 5182 2.1) */
		free(nums);
		return 0;
	}
	r = buf_append_str(out, "* ESEARCH (TAG \"");
	for (i = 0; r == 0 && i < cmd->tag.len; i++) {
		uint8_t c = cmd->tag.p[i];

		if ((c == '"' || c == '\\') && buf_append_byte(out, '\\') < 0)
			r = -1;
		else if (buf_append_byte(out, c) < 0)
			r = -1;
	}
	if (r == 0)
		r = buf_append_str(out, "\")");
	if (r == 0 && is_uid)
		r = buf_append_str(out, " UID");
	if (r == 0 && s->n > 0 && (ret & IMAP_SEARCH_RET_F_MIN))
		r = buf_printf(out, " MIN %u", nums[0]);
	if (r == 0 && s->n > 0 && (ret & IMAP_SEARCH_RET_F_MAX))
		r = buf_printf(out, " MAX %u", nums[s->n - 1]);
	if (r == 0 && (ret & IMAP_SEARCH_RET_F_COUNT))
		r = buf_printf(out, " COUNT %zu", s->n);
	if (r == 0 && s->n > 0 && (ret & IMAP_SEARCH_RET_F_ALL)) {
		r = buf_append_str(out, " ALL ");
		if (r == 0)
			r = view_put_uidset(out, nums, s->n);
	}
	if (r == 0 && modseq && s->n > 0)
		r = buf_printf(out, " MODSEQ %llu", (unsigned long long)maxmod);
	if (r == 0)
		r = buf_append_str(out, "\r\n");
	free(nums);
	return r;
}

static int
put_sort_thread(const struct imap_command *cmd, struct search_ctx *s,
    struct buf *out, struct imap_result *res)
{
	struct imap_search_msg *msgs;
	size_t *order, i;
	int r = 0;

	msgs = xcalloc(s->n + 1, sizeof(*msgs));
	for (i = 0; i < s->n; i++) {
		const struct hit *h = &s->hits[i];

		msgs[i].seq = h->seq;
		msgs[i].uid = h->uid;
		msgs[i].flags = h->flags;
		msgs[i].keywords = "";
		msgs[i].internal_date = h->internal_date;
		msgs[i].size = h->size;
		msgs[i].modseq = h->modseq;
		msgs[i].header = span_make(s->hdrs.data != NULL ?
		    s->hdrs.data + h->hoff : (const uint8_t *)"", h->hlen);
		msgs[i].data = msgs[i].header;
	}
	if (cmd->name == IMAP_CMD_THREAD) {
		size_t mark = out->len;

		r = buf_append_str(out, "* THREAD ");
		if (r == 0)
			r = imap_thread(msgs, s->n, cmd->u.search.algorithm,
			    cmd->is_uid, out);
		if (r == 0)
			r = buf_append_str(out, "\r\n");
		if (r < 0) {
			out->len = mark;
			if (out->data != NULL)
				out->data[mark] = '\0';
			view_result(res, IMAP_RESULT_NO, "LIMIT",
			    "THREAD failed");
		}
		free(msgs);
		return 0;
	}
	order = xcalloc(s->n + 1, sizeof(*order));
	if (imap_sort(msgs, s->n, cmd->u.search.crit, cmd->u.search.ncrit,
	    order) < 0) {
		view_result(res, IMAP_RESULT_NO, NULL, "SORT failed");
		free(order);
		free(msgs);
		return 0;
	}
	r = buf_append_str(out, "* SORT");
	for (i = 0; r == 0 && i < s->n; i++)
		r = buf_printf(out, " %u", cmd->is_uid ? msgs[order[i]].uid :
		    msgs[order[i]].seq);
	if (r == 0)
		r = buf_append_str(out, "\r\n");
	if (r < 0)
		view_result(res, IMAP_RESULT_NO, "LIMIT", "SORT failed");
	free(order);
	free(msgs);
	return 0;
}

int
view_search(struct imap_view *v, struct mailstore *ms,
    const struct imap_command *cmd, const struct imap_view_opts *o,
    struct buf *out, struct imap_result *res)
{
	const char *verb = cmd->name == IMAP_CMD_SORT ? "SORT" :
	    cmd->name == IMAP_CMD_THREAD ? "THREAD" : "SEARCH";
	struct span cs = cmd->u.search.charset;
	struct span terms[VIEW_FTS_MAX_TERMS];
	bool body_only[VIEW_FTS_MAX_TERMS];
	struct search_ctx s;
	uint32_t *cand = NULL;
	size_t nterms;
	const char *err = NULL;
	bool save = cmd->name == IMAP_CMD_SEARCH &&
	    (cmd->u.search.ret_flags & IMAP_SEARCH_RET_F_SAVE) != 0;

	if (cs.len > 0 && !span_eq_str_ci(cs, "UTF-8") &&
	    !span_eq_str_ci(cs, "US-ASCII")) {
		if (save)
			save_result(v, NULL, 0);
		view_result(res, IMAP_RESULT_NO, "BADCHARSET (UTF-8 US-ASCII)",
		    "Unsupported charset");
		return 0;
	}
	if (cmd->name == IMAP_CMD_THREAD &&
	    !span_eq_str_ci(cmd->u.search.algorithm, "ORDEREDSUBJECT") &&
	    !span_eq_str_ci(cmd->u.search.algorithm, "REFERENCES")) {
		view_result(res, IMAP_RESULT_BAD, NULL,
		    "Unknown THREAD algorithm");
		return 0;
	}
	memset(&s, 0, sizeof(s));
	s.v = v;
	s.key = cmd->u.search.key;
	s.needs = imap_search_needs(s.key);
	s.keep_header = cmd->name != IMAP_CMD_SEARCH;
	s.sc.exists = v->map.count;
	s.sc.max_uid = seqmap_last(&v->map);
	s.sc.saved_uids = v->saved;
	s.sc.nsaved = v->nsaved;
	buf_init(&s.hdrs, VIEW_SORT_MAX_HEADERS);
	nterms = imap_search_fts_terms_kind(s.key, terms, body_only,
	    VIEW_FTS_MAX_TERMS);
	if (nterms > 0 && vs_fts(ms, v->mailbox, terms, body_only, nterms,
	    &cand,
	    &s.ncand, &s.narrowed, &err) < 0) {
		/* the index only narrows: scan everything instead */
		log_warn("imap search mailbox=%s fts error=\"%s\"",
		    v->mailbox, err);
		s.narrowed = false;
	}
	s.cand = cand;
	if (v->map.count == 0 || (s.narrowed && s.ncand == 0)) {
		/* nothing to look at */
	} else if (s.narrowed && s.ncand <= VIEW_FTS_FEW) {
		/* a few candidates: an indexed lookup each beats a listing */
		size_t i;

		for (i = 0; i < s.ncand && s.failed == 0; i++)
			if (seqmap_seq(&v->map, cand[i]) != 0 &&
			    vs_list_range(ms, v->mailbox, cand[i], cand[i],
			    false, search_cb, &s, &err) < 0)
				s.failed = -3;
	} else if (vs_list_range(ms, v->mailbox, s.narrowed ? cand[0] : 1,
	    s.narrowed ? cand[s.ncand - 1] : seqmap_last(&v->map), false,
	    search_cb, &s, &err) < 0) {
		s.failed = -3;
	}
	if (s.failed == -3)
		log_warn("imap search mailbox=%s error=\"%s\"", v->mailbox,
		    err);
	free(cand);
	s.cand = NULL;
	if (s.failed != 0) {
		if (save)
			save_result(v, NULL, 0);
		if (s.failed == -1)
			view_result(res, IMAP_RESULT_BAD, NULL,
			    "Invalid search criteria");
		else if (s.failed == -2)
			view_result(res, IMAP_RESULT_NO, "LIMIT",
			    "%s over too much data", verb);
		else
			view_result(res, IMAP_RESULT_NO, "SERVERBUG",
			    "%s failed", verb);
		goto out;
	}
	/* the listing is in UID order, which is sequence order too */
	view_qsort(s.hits, s.n, sizeof(*s.hits), cmp_hit_seq);
	view_result(res, IMAP_RESULT_OK, NULL, "%s completed", verb);
	if (cmd->name == IMAP_CMD_SEARCH) {
		if (put_search(v, cmd, o, &s, out) < 0)
			view_result(res, IMAP_RESULT_NO, "LIMIT",
			    "SEARCH response too big");
	} else {
		put_sort_thread(cmd, &s, out, res);
	}
out:
	free(s.hits);
	buf_fini(&s.hdrs);
	return 0;
}
