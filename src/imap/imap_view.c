/*
 * imap_view.c - the selected mailbox of an IMAP session: SELECT/EXAMINE
 * responses (RFC 9051 6.3.2, RFC 3501 6.3.1, CONDSTORE and QRESYNC of
 * RFC 7162 3.1.2 and 3.2.5), the sequence map, cross-session updates
 * (RFC 9051 7.5.1: EXPUNGE only when allowed, VANISHED with QRESYNC),
 * STORE (RFC 9051 6.4.6, UNCHANGEDSINCE of RFC 7162 3.1.3), COPY/MOVE
 * (RFC 4315 COPYUID, RFC 6851), EXPUNGE and UID EXPUNGE (RFC 4315),
 * \Recent for IMAP4rev1 (RFC 3501 2.3.2, marks in imap_recent.c), and
 * the dispatch of the selected-state commands.  FETCH is in
 * imap_view_fetch.c, SEARCH/SORT/THREAD in imap_view_search.c.
 *
 * Commands come parsed from an authenticated client (untrusted values,
 * checked syntax).  Nothing here touches a socket.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_view.h"
#include "imap/imap_session.h"
#include "imap/imap_view_int.h"
#include "imap/imap_recent.h"
#include "lib/ascii.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

/* ---- sequence map ---- */

void
seqmap_init(struct seqmap *m)
{
	memset(m, 0, sizeof(*m));
}

void
seqmap_fini(struct seqmap *m)
{
	free(m->runs);
	free(m->cum);
	memset(m, 0, sizeof(*m));
}

static void
seqmap_grow(struct seqmap *m, size_t need)
{
	if (need <= m->cap)
		return;
	m->cap = m->cap < 8 ? 8 : m->cap;
	while (m->cap < need)
		m->cap *= 2;
	m->runs = xreallocarray(m->runs, m->cap, sizeof(*m->runs));
	m->cum = xreallocarray(m->cum, m->cap, sizeof(*m->cum));
}

void
seqmap_append(struct seqmap *m, uint32_t uid)
{
	if (m->n > 0 && m->runs[m->n - 1].hi + 1 == uid) {
		m->runs[m->n - 1].hi = uid;
	} else {
		ASSERT(m->n == 0 || uid > m->runs[m->n - 1].hi);
		seqmap_grow(m, m->n + 1);
		m->runs[m->n].lo = m->runs[m->n].hi = uid;
		m->cum[m->n] = m->count;
		m->n++;
	}
	m->count++;
}

uint32_t
seqmap_uid(const struct seqmap *m, uint32_t seq)
{
	size_t lo = 0, hi = m->n;

	if (seq == 0 || seq > m->count)
		return 0;
	/* the last run whose cum < seq */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->cum[mid] < seq)
			lo = mid;
		else
			hi = mid;
	}
	return m->runs[lo].lo + (seq - m->cum[lo] - 1);
}

/* Index of the first run with hi >= uid (n if none). */
static size_t
seqmap_find(const struct seqmap *m, uint32_t uid)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->runs[mid].hi < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint32_t
seqmap_seq(const struct seqmap *m, uint32_t uid)
{
	size_t i = seqmap_find(m, uid);

	if (i >= m->n || uid < m->runs[i].lo)
		return 0;
	return m->cum[i] + (uid - m->runs[i].lo) + 1;
}

uint32_t
seqmap_seq_ge(const struct seqmap *m, uint32_t uid)
{
	size_t i = seqmap_find(m, uid);

	if (i >= m->n)
		return m->count + 1;
	if (uid < m->runs[i].lo)
		return m->cum[i] + 1;
	return m->cum[i] + (uid - m->runs[i].lo) + 1;
}

uint32_t
seqmap_seq_le(const struct seqmap *m, uint32_t uid)
{
	size_t i = seqmap_find(m, uid);

	if (i < m->n && uid >= m->runs[i].lo)
		return m->cum[i] + (uid - m->runs[i].lo) + 1;
	/* uid falls before run i: the last message of run i-1 */
	if (i == 0)
		return 0;
	return m->cum[i - 1] + (m->runs[i - 1].hi - m->runs[i - 1].lo) + 1;
}

uint32_t
seqmap_last(const struct seqmap *m)
{
	return m->n > 0 ? m->runs[m->n - 1].hi : 0;
}

void
seqmap_remove(struct seqmap *m, const uint32_t *uids, size_t n)
{
	struct view_run *old = m->runs;
	size_t nold = m->n, i, k = 0;

	if (n == 0 || m->n == 0)
		return;
	/* Rebuild in one pass: splitting runs may add at most n runs. */
	m->runs = NULL;
	free(m->cum);
	m->cum = NULL;
	m->n = m->cap = 0;
	m->count = 0;
	seqmap_grow(m, nold + n);
	for (i = 0; i < nold; i++) {
		uint32_t lo = old[i].lo, hi = old[i].hi;

		while (k < n && uids[k] < lo)
			k++;
		while (lo <= hi) {
			uint32_t end = hi;

			if (k < n && uids[k] <= hi)
				end = uids[k] - 1;
			if (k < n && uids[k] == lo) {
				/* lo itself goes */
			} else if (end >= lo) {
				m->runs[m->n].lo = lo;
				m->runs[m->n].hi = end;
				m->cum[m->n] = m->count;
				m->count += end - lo + 1;
				m->n++;
			}
			if (k < n && uids[k] <= hi) {
				if (uids[k] == UINT32_MAX)
					break;
				lo = uids[k] + 1;
				k++;
			} else {
				break;
			}
		}
	}
	free(old);
}

/* ---- small helpers ---- */

void
view_result(struct imap_result *res, enum imap_result_status st,
    const char *code, const char *fmt, ...)
{
	va_list ap;

	res->status = st;
	snprintf(res->code, sizeof(res->code), "%s", code != NULL ? code : "");
	res->code_long = NULL;
	va_start(ap, fmt);
	vsnprintf(res->text, sizeof(res->text), fmt, ap);
	va_end(ap);
}

void
view_result_code(struct imap_view *v, struct imap_result *res,
    const char *code)
{
	size_t len = strlen(code);

	res->code_long = NULL;
	if (len < sizeof(res->code)) {
		memcpy(res->code, code, len + 1);
		return;
	}
	free(v->long_code);
	v->long_code = xstrdup(code);
	res->code[0] = '\0';
	res->code_long = v->long_code;
}

bool
view_condstore(const struct imap_view *v, const struct imap_view_opts *o)
{
	return v->condstore || o->condstore || o->qresync;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_range(const void *a, const void *b)
{
	const struct seq_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

int
view_set_ranges(const struct imap_view *v, const struct imap_seqset *set,
    bool is_uid, struct seq_range **r_r, size_t *n_r)
{
	struct seq_range *r;
	size_t n = 0, i, k;
	uint32_t count = v->map.count;

	*r_r = NULL;
	*n_r = 0;
	if (set->is_saved) {
		r = xcalloc(v->nsaved + 1, sizeof(*r));
		for (i = 0; i < v->nsaved; i++) {
			uint32_t s = seqmap_seq(&v->map, v->saved[i]);

			if (s == 0)
				continue;
			if (n > 0 && r[n - 1].hi + 1 == s)
				r[n - 1].hi = s;
			else
				r[n].lo = r[n].hi = s, n++;
		}
		*r_r = r;
		*n_r = n;
		return 1;
	}
	r = xcalloc(set->count + 1, sizeof(*r));
	for (i = 0; i < set->count; i++) {
		uint32_t a = set->ranges[i].lo, b = set->ranges[i].hi, t;

		if (is_uid) {
			uint32_t star = seqmap_last(&v->map);

			if (star == 0)
				continue;
			a = a == 0 ? star : a;
			b = b == 0 ? star : b;
			if (a > b)
				t = a, a = b, b = t;
			a = seqmap_seq_ge(&v->map, a);
			b = seqmap_seq_le(&v->map, b);
			if (a == 0 || b == 0 || a > b)
				continue;
		} else {
			a = a == 0 ? count : a;
			b = b == 0 ? count : b;
			if (a > b)
				t = a, a = b, b = t;
			if (a == 0 || b > count) {
				free(r);
				return 0;
			}
		}
		r[n].lo = a;
		r[n].hi = b;
		n++;
	}
	view_qsort(r, n, sizeof(*r), cmp_range);
	for (i = 0, k = 0; i < n; i++) {
		if (k > 0 && r[i].lo <= r[k - 1].hi + 1) {
			if (r[i].hi > r[k - 1].hi)
				r[k - 1].hi = r[i].hi;
		} else {
			r[k++] = r[i];
		}
	}
	*r_r = r;
	*n_r = k;
	return 1;
}

uint32_t *
view_ranges_uids(const struct imap_view *v, const struct seq_range *r,
    size_t n, size_t *n_r)
{
	size_t total = 0, i, k = 0;
	uint32_t *u, s;

	for (i = 0; i < n; i++)
		total += r[i].hi - r[i].lo + 1;
	u = xcalloc(total + 1, sizeof(*u));
	for (i = 0; i < n; i++)
		for (s = r[i].lo; s <= r[i].hi; s++)
			u[k++] = seqmap_uid(&v->map, s);
	*n_r = k;
	return u;
}

/* Writes a set of numbers given in ascending order: "1:3,7". */
struct setw {
	struct buf	*out;
	bool		 open;
	uint32_t	 lo, hi;
	size_t		 items;
	int		 err;
};

static void
setw_flush(struct setw *w)
{
	if (!w->open)
		return;
	if (w->items > 0 && buf_append_byte(w->out, ',') < 0)
		w->err = -1;
	if (w->lo == w->hi) {
		if (buf_printf(w->out, "%u", w->lo) < 0)
			w->err = -1;
	} else if (buf_printf(w->out, "%u:%u", w->lo, w->hi) < 0) {
		w->err = -1;
	}
	w->items++;
	w->open = false;
}

static void
setw_add_range(struct setw *w, uint32_t lo, uint32_t hi)
{
	if (w->open && lo <= w->hi + 1 && lo >= w->lo) {
		if (hi > w->hi)
			w->hi = hi;
		return;
	}
	setw_flush(w);
	w->open = true;
	w->lo = lo;
	w->hi = hi;
}

static int
setw_end(struct setw *w)
{
	setw_flush(w);
	return w->err;
}

int
view_put_uidset(struct buf *out, const uint32_t *uids, size_t n)
{
	struct setw w = { .out = out };
	size_t i;

	for (i = 0; i < n; i++)
		setw_add_range(&w, uids[i], uids[i]);
	return setw_end(&w);
}

static const struct {
	unsigned	 bit;
	const char	*name;
} sysflags[] = {
	{ MAILSTORE_F_ANSWERED, "\\Answered" },
	{ MAILSTORE_F_FLAGGED, "\\Flagged" },
	{ MAILSTORE_F_DELETED, "\\Deleted" },
	{ MAILSTORE_F_SEEN, "\\Seen" },
	{ MAILSTORE_F_DRAFT, "\\Draft" },
};

int
view_put_flags(struct buf *out, unsigned flags, const char *keywords,
    bool recent)
{
	size_t i;
	bool first = true;

	if (buf_append_byte(out, '(') < 0)
		return -1;
	for (i = 0; i < sizeof(sysflags) / sizeof(sysflags[0]); i++) {
		if ((flags & sysflags[i].bit) == 0)
			continue;
		if ((!first && buf_append_byte(out, ' ') < 0) ||
		    buf_append_str(out, sysflags[i].name) < 0)
			return -1;
		first = false;
	}
	if (recent) {
		if ((!first && buf_append_byte(out, ' ') < 0) ||
		    buf_append_str(out, "\\Recent") < 0)
			return -1;
		first = false;
	}
	while (keywords != NULL && *keywords != '\0') {
		size_t l;

		while (*keywords == ' ')
			keywords++;
		l = strcspn(keywords, " ");
		if (l > 0) {
			if ((!first && buf_append_byte(out, ' ') < 0) ||
			    buf_append(out, keywords, l) < 0)
				return -1;
			first = false;
		}
		keywords += l;
	}
	return buf_append_byte(out, ')');
}

/* ---- \Recent (RFC 3501 2.3.2; imap_recent.h) ---- */

void
view_recent_update(struct imap_view *v, uint32_t max_uid)
{
	uint32_t mark, lo;

	if (!v->recent_on || max_uid <= v->recent_seen)
		return;
	mark = v->recent_claims ? imap_recent_claim(v->user_id,
	    v->uidvalidity, max_uid) : imap_recent_mark(v->user_id,
	    v->uidvalidity);
	/* UIDs another session took meanwhile are not ours */
	lo = (mark > v->recent_seen ? mark : v->recent_seen) + 1;
	v->recent_seen = max_uid;
	if (lo > max_uid)
		return;
	if (v->nrecent > 0 && v->recent[v->nrecent - 1].hi + 1 == lo) {
		v->recent[v->nrecent - 1].hi = max_uid;
		return;
	}
	if (v->nrecent == v->caprecent) {
		v->caprecent = v->caprecent < 4 ? 4 : v->caprecent * 2;
		v->recent = xreallocarray(v->recent, v->caprecent,
		    sizeof(*v->recent));
	}
	v->recent[v->nrecent].lo = lo;
	v->recent[v->nrecent].hi = max_uid;
	v->nrecent++;
}

void
imap_view_take_recent(struct imap_view *to, struct imap_view *from)
{
	if (to->uidvalidity != from->uidvalidity || from->nrecent == 0)
		return;
	free(to->recent);
	to->recent = from->recent;
	to->nrecent = from->nrecent;
	to->caprecent = from->caprecent;
	from->recent = NULL;
	from->nrecent = from->caprecent = 0;
	if (from->recent_seen > to->recent_seen)
		to->recent_seen = from->recent_seen;
	to->recent_told = from->recent_told;
}

bool
view_is_recent(const struct imap_view *v, uint32_t uid)
{
	size_t lo = 0, hi = v->nrecent;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v->recent[mid].hi < uid)
			lo = mid + 1;
		else if (v->recent[mid].lo > uid)
			hi = mid;
		else
			return true;
	}
	return false;
}

uint32_t
view_recent_count(const struct imap_view *v)
{
	uint32_t n = 0;
	size_t i;

	for (i = 0; i < v->nrecent; i++) {
		uint32_t a = seqmap_seq_ge(&v->map, v->recent[i].lo);
		uint32_t b = seqmap_seq_le(&v->map, v->recent[i].hi);

		if (b >= a && a != 0)
			n += b - a + 1;
	}
	return n;
}

void
view_told_add(struct imap_view *v, uint32_t uid, uint64_t modseq)
{
	if (v->ntold == v->captold) {
		v->captold = v->captold < 16 ? 16 : v->captold * 2;
		v->told = xreallocarray(v->told, v->captold,
		    sizeof(*v->told));
	}
	v->told[v->ntold].uid = uid;
	v->told[v->ntold].modseq = modseq;
	v->ntold++;
}

/* Forgets the told changes, and their memory (a STORE 1:* leaves many). */
static void
told_clear(struct imap_view *v)
{
	free(v->told);
	v->told = NULL;
	v->ntold = v->captold = 0;
}

static int
cmp_told(const void *a, const void *b)
{
	const struct view_told *x = a, *y = b;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return x->modseq < y->modseq ? -1 : x->modseq > y->modseq;
}

static bool
told_has(const struct imap_view *v, uint32_t uid, uint64_t modseq)
{
	size_t lo = 0, hi = v->ntold;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct view_told *t = &v->told[mid];

		if (t->uid < uid || (t->uid == uid && t->modseq < modseq))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->ntold && v->told[lo].uid == uid &&
	    v->told[lo].modseq == modseq;
}

void
view_own_change(struct imap_view *v, struct mailstore *ms, uint64_t h0,
    uint64_t m)
{
	uint32_t uv, un;
	uint64_t h;
	const char *err = NULL;

	if (h0 != v->modseq || m != h0 + 1)
		return;
	if (vs_state(ms, v->mailbox, &uv, &un, &h, &err) != 1 || h != m)
		return;
	v->modseq = m;
	told_clear(v);	/* every change told so far is <= m */
}

/* A mailbox name as an IMAP string: UTF-8 or modified UTF-7, quoted. */
static int
put_mailbox_name(struct buf *out, const char *name, bool utf8)
{
	struct buf m;
	size_t i;
	int r = 0;

	buf_init(&m, 4096);
	if (!utf8) {
		if (imap_utf8_to_mutf7(span_from_str(name), &m) < 0)
			r = -1;
	} else if (buf_append_str(&m, name) < 0) {
		r = -1;
	}
	if (r == 0 && buf_append_byte(out, '"') < 0)
		r = -1;
	for (i = 0; r == 0 && i < m.len; i++) {
		if ((m.data[i] == '"' || m.data[i] == '\\') &&
		    buf_append_byte(out, '\\') < 0)
			r = -1;
		else if (buf_append_byte(out, m.data[i]) < 0)
			r = -1;
	}
	if (r == 0 && buf_append_byte(out, '"') < 0)
		r = -1;
	buf_fini(&m);
	return r;
}

/* ---- sending expunges ---- */

/*
 * Tells the client that the sorted uids are gone (EXPUNGE, or VANISHED
 * with QRESYNC) and takes them out of the map.  UIDs not in the map are
 * skipped.
 */
static int
announce_expunge(struct imap_view *v, const uint32_t *uids, size_t n,
    const struct imap_view_opts *o, struct buf *out)
{
	uint32_t *in = xcalloc(n + 1, sizeof(*in));
	uint32_t *seqs = xcalloc(n + 1, sizeof(*seqs));
	size_t k = 0, i;
	int r = 0;

	for (i = 0; i < n; i++) {
		uint32_t s = seqmap_seq(&v->map, uids[i]);

		if (s == 0 || (k > 0 && in[k - 1] == uids[i]))
			continue;
		in[k] = uids[i];
		seqs[k] = s;
		k++;
	}
	if (k > 0 && o->qresync) {
		if (buf_append_str(out, "* VANISHED ") < 0 ||
		    view_put_uidset(out, in, k) < 0 ||
		    buf_append_str(out, "\r\n") < 0)
			r = -1;
	} else {
		/* ascending: each EXPUNGE renumbers the ones after it */
		for (i = 0; i < k && r == 0; i++)
			if (buf_printf(out, "* %u EXPUNGE\r\n",
			    seqs[i] - (uint32_t)i) < 0)
				r = -1;
	}
	seqmap_remove(&v->map, in, k);
	/* drop them from the pending list too */
	if (v->npending > 0 && k > 0) {
		size_t j, w = 0;

		for (j = 0; j < v->npending; j++)
			if (view_bsearch(&v->pending[j], in, k, sizeof(*in),
			    cmp_u32) == NULL)
				v->pending[w++] = v->pending[j];
		v->npending = w;
	}
	free(in);
	free(seqs);
	return r;
}

/* Adds the sorted uids (those in the map) to the pending expunges. */
static void
add_pending(struct imap_view *v, const uint32_t *uids, size_t n)
{
	size_t i, j, k;

	v->pending = xreallocarray(v->pending, v->npending + n + 1,
	    sizeof(*v->pending));
	for (i = 0; i < n; i++)
		if (seqmap_seq(&v->map, uids[i]) != 0)
			v->pending[v->npending++] = uids[i];
	view_qsort(v->pending, v->npending, sizeof(*v->pending), cmp_u32);
	for (j = 0, k = 0; j < v->npending; j++)
		if (k == 0 || v->pending[k - 1] != v->pending[j])
			v->pending[k++] = v->pending[j];
	v->npending = k;
}

/* ---- listing helpers ---- */

struct uidlist {
	uint32_t	*v;
	size_t		 n, cap;
};

static void
uidlist_push(struct uidlist *l, uint32_t uid)
{
	if (l->n == l->cap) {
		l->cap = l->cap < 64 ? 64 : l->cap * 2;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = uid;
}

static void
uidlist_cb(void *ctx, const struct vs_msg *vm)
{
	uidlist_push(ctx, vm->m->uid);
}

/*
 * The UIDs of the map that the store no longer has, up to hi (sorted,
 * heap): from the expunge log when it reaches back to since, else by
 * comparing the map with a listing.  -1 on a store error.
 */
static int
expunged_since(struct imap_view *v, struct mailstore *ms, uint64_t since,
    uint32_t **uids_r, size_t *n_r, const char **error_r)
{
	struct uidlist cur = { 0 }, gone = { 0 };
	uint32_t *log = NULL;
	size_t nlog = 0, i, j;
	bool complete = false;

	*uids_r = NULL;
	*n_r = 0;
	if (vs_expunged_since(ms, v->mailbox, since, &log, &nlog, &complete,
	    error_r) < 0)
		return -1;
	if (complete) {
		for (i = 0; i < nlog; i++)
			if (seqmap_seq(&v->map, log[i]) != 0)
				uidlist_push(&gone, log[i]);
		free(log);
		view_qsort(gone.v, gone.n, sizeof(*gone.v), cmp_u32);
		*uids_r = gone.v;
		*n_r = gone.n;
		return 0;
	}
	free(log);
	if (v->map.count == 0)
		return 0;
	if (vs_list_range(ms, v->mailbox, 1, seqmap_last(&v->map), false,
	    uidlist_cb, &cur, error_r) < 0) {
		free(cur.v);
		return -1;
	}
	view_qsort(cur.v, cur.n, sizeof(*cur.v), cmp_u32);
	for (i = 0, j = 0; i < v->map.n; i++) {
		uint32_t u;

		for (u = v->map.runs[i].lo;; u++) {
			while (j < cur.n && cur.v[j] < u)
				j++;
			if (j >= cur.n || cur.v[j] != u)
				uidlist_push(&gone, u);
			if (u == v->map.runs[i].hi)
				break;
		}
	}
	free(cur.v);
	*uids_r = gone.v;
	*n_r = gone.n;
	return 0;
}

/* ---- changed messages (sync, QRESYNC) ---- */

struct change {
	uint32_t	 uid;
	unsigned	 flags;
	char		*keywords;
	uint64_t	 modseq;
};

struct since_ctx {
	struct imap_view	*v;
	uint32_t		 known_uid;
	struct uidlist		 fresh;		/* new UIDs */
	struct change		*c;
	size_t			 n, cap;
	const struct seq_range	*only;		/* UID ranges, or NULL */
	size_t			 nonly;
};

static bool
in_uid_ranges(const struct seq_range *r, size_t n, uint32_t uid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (uid >= r[i].lo && uid <= r[i].hi)
			return true;
	return false;
}

static void
since_cb(void *ctx, const struct vs_msg *vm)
{
	struct since_ctx *sc = ctx;
	const struct mailstore_message *m = vm->m;

	if (m->uid > sc->known_uid) {
		uidlist_push(&sc->fresh, m->uid);
		return;
	}
	if (seqmap_seq(&sc->v->map, m->uid) == 0 ||
	    told_has(sc->v, m->uid, m->modseq))
		return;
	if (sc->only != NULL && !in_uid_ranges(sc->only, sc->nonly, m->uid))
		return;
	if (sc->n == sc->cap) {
		sc->cap = sc->cap < 16 ? 16 : sc->cap * 2;
		sc->c = xreallocarray(sc->c, sc->cap, sizeof(*sc->c));
	}
	sc->c[sc->n].uid = m->uid;
	sc->c[sc->n].flags = m->flags;
	sc->c[sc->n].keywords = xstrdup(m->keywords != NULL ?
	    m->keywords : "");
	sc->c[sc->n].modseq = m->modseq;
	sc->n++;
}

static int
cmp_change(const void *a, const void *b)
{
	const struct change *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static void
since_free(struct since_ctx *sc)
{
	size_t i;

	for (i = 0; i < sc->n; i++)
		free(sc->c[i].keywords);
	free(sc->c);
	free(sc->fresh.v);
}

/* "* 3 FETCH (FLAGS (..) UID 7 MODSEQ (9))" for each change in the map. */
static int
put_changes(struct imap_view *v, const struct change *c, size_t n,
    bool with_uid, bool with_modseq, struct buf *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint32_t s = seqmap_seq(&v->map, c[i].uid);

		if (s == 0)
			continue;
		if (view_bsearch(&c[i].uid, v->pending, v->npending,
		    sizeof(*v->pending), cmp_u32) != NULL)
			continue;
		if (buf_printf(out, "* %u FETCH (", s) < 0)
			return -1;
		if (with_uid && buf_printf(out, "UID %u ", c[i].uid) < 0)
			return -1;
		if (buf_append_str(out, "FLAGS ") < 0 ||
		    view_put_flags(out, c[i].flags, c[i].keywords,
		    view_is_recent(v, c[i].uid)) < 0)
			return -1;
		if (with_modseq && buf_printf(out, " MODSEQ (%llu)",
		    (unsigned long long)c[i].modseq) < 0)
			return -1;
		if (buf_append_str(out, ")\r\n") < 0)
			return -1;
	}
	return 0;
}

int
imap_view_sync(struct imap_view *v, struct mailstore *ms,
    const struct imap_view_opts *o, bool allow_expunge, struct buf *out)
{
	struct since_ctx sc;
	uint32_t uidvalidity, uidnext, *gone = NULL;
	uint64_t h;
	size_t ngone = 0, i;
	const char *err = NULL;
	int r;

	r = vs_state(ms, v->mailbox, &uidvalidity, &uidnext, &h, &err);
	if (r < 0) {
		log_warn("imap view sync mailbox=%s error=\"%s\"",
		    v->mailbox, err);
		return -1;
	}
	if (r == 0 || uidvalidity != v->uidvalidity) {
		/* deleted, or deleted and made again: the view is void */
		log_info("imap view sync mailbox=%s gone", v->mailbox);
		return -1;
	}
	memset(&sc, 0, sizeof(sc));
	if (h != v->modseq) {
		sc.v = v;
		sc.known_uid = v->known_uid;
		if (v->ntold > 1)
			view_qsort(v->told, v->ntold, sizeof(*v->told), cmp_told);
		if (vs_list_since(ms, v->mailbox, v->modseq, since_cb, &sc,
		    &err) < 0 ||
		    expunged_since(v, ms, v->modseq, &gone, &ngone,
		    &err) < 0) {
			log_warn("imap view sync mailbox=%s error=\"%s\"",
			    v->mailbox, err);
			since_free(&sc);
			return -1;
		}
		add_pending(v, gone, ngone);
		free(gone);
		v->modseq = h;
		told_clear(v);
	}
	r = 0;
	if (allow_expunge && v->npending > 0) {
		uint32_t *p = v->pending;
		size_t np = v->npending;

		v->pending = NULL;
		v->npending = 0;
		r = announce_expunge(v, p, np, o, out);
		free(p);
	}
	if (sc.fresh.n > 0) {
		view_qsort(sc.fresh.v, sc.fresh.n, sizeof(*sc.fresh.v), cmp_u32);
		for (i = 0; i < sc.fresh.n; i++) {
			if (sc.fresh.v[i] <= v->known_uid)
				continue;
			seqmap_append(&v->map, sc.fresh.v[i]);
			v->known_uid = sc.fresh.v[i];
		}
		uint32_t had = v->nrecent > 0 ? v->recent[v->nrecent - 1].hi : 0;
		uint32_t nr;

		view_recent_update(v, v->known_uid);
		if (buf_printf(out, "* %u EXISTS\r\n", v->map.count) < 0)
			r = -1;
		/* rev1: RECENT with EXISTS when it changed (RFC 3501
		 * 7.3.2), e.g. this session took new messages as recent */
		nr = view_recent_count(v);
		if (v->recent_on && (nr != v->recent_told || (v->nrecent > 0 &&
		    v->recent[v->nrecent - 1].hi != had))) {
			if (buf_printf(out, "* %u RECENT\r\n", nr) < 0)
				r = -1;
			v->recent_told = nr;
		}
	}
	if (sc.n > 0) {
		view_qsort(sc.c, sc.n, sizeof(*sc.c), cmp_change);
		if (put_changes(v, sc.c, sc.n, o->qresync,
		    view_condstore(v, o), out) < 0)
			r = -1;
	}
	since_free(&sc);
	return r;
}

/* ---- SELECT / EXAMINE ---- */

/* The client's known UIDs, as sorted merged UID ranges (clipped). */
static struct seq_range *
known_ranges(const struct imap_seqset *set, uint32_t max, size_t *n_r)
{
	struct seq_range *r = xcalloc(set->count + 1, sizeof(*r));
	size_t n = 0, i, k;

	*n_r = 0;
	if (max == 0)
		return r;
	if (set->count == 0) {
		r[0].lo = 1;
		r[0].hi = max;
		*n_r = 1;
		return r;
	}
	for (i = 0; i < set->count; i++) {
		uint32_t a = set->ranges[i].lo, b = set->ranges[i].hi, t;

		a = a == 0 ? max : a;
		b = b == 0 ? max : b;
		if (a > b)
			t = a, a = b, b = t;
		if (a > max)
			continue;
		if (b > max)
			b = max;
		r[n].lo = a;
		r[n].hi = b;
		n++;
	}
	view_qsort(r, n, sizeof(*r), cmp_range);
	for (i = 0, k = 0; i < n; i++) {
		if (k > 0 && r[i].lo <= r[k - 1].hi + 1) {
			if (r[i].hi > r[k - 1].hi)
				r[k - 1].hi = r[i].hi;
		} else {
			r[k++] = r[i];
		}
	}
	*n_r = k;
	return r;
}

int
view_put_vanished_earlier(struct imap_view *v, struct mailstore *ms,
    uint64_t since, const struct seq_range *known, size_t nknown,
    struct buf *out, const char **error_r)
{
	struct setw w = { .out = out };
	uint32_t *log = NULL;
	size_t nlog = 0, i, ri;
	bool complete = false;
	size_t mark = out->len;

	if (nknown == 0)
		return 0;
	if (vs_expunged_since(ms, v->mailbox, since, &log, &nlog, &complete,
	    error_r) < 0)
		return -1;
	if (buf_append_str(out, "* VANISHED (EARLIER) ") < 0) {
		free(log);
		return -1;
	}
	mark = out->len;
	if (complete) {
		for (i = 0; i < nlog; i++)
			if (in_uid_ranges(known, nknown, log[i]) &&
			    seqmap_seq(&v->map, log[i]) == 0)
				setw_add_range(&w, log[i], log[i]);
	} else {
		/*
		 * No log back to since: every known UID the map lacks is
		 * gone (RFC 7162 3.2.5.1 allows UIDs expunged earlier).
		 */
		for (ri = 0; ri < nknown; ri++) {
			uint32_t u = known[ri].lo;
			size_t j = seqmap_find(&v->map, u);

			while (u <= known[ri].hi) {
				uint32_t end;

				if (j < v->map.n && v->map.runs[j].lo <= u) {
					/* u is in run j: skip past it */
					if (v->map.runs[j].hi >= known[ri].hi)
						break;
					u = v->map.runs[j].hi + 1;
					j++;
					continue;
				}
				end = known[ri].hi;
				if (j < v->map.n &&
				    v->map.runs[j].lo - 1 < end)
					end = v->map.runs[j].lo - 1;
				setw_add_range(&w, u, end);
				if (end == UINT32_MAX)
					break;
				u = end + 1;
			}
		}
	}
	free(log);
	if (setw_end(&w) < 0)
		return -1;
	if (out->len == mark) {
		/* nothing vanished: take the prefix back */
		out->len = mark - strlen("* VANISHED (EARLIER) ");
		if (out->data != NULL)
			out->data[out->len] = '\0';
		return 0;
	}
	return buf_append_str(out, "\r\n");
}

static int
select_qresync(struct imap_view *v, struct mailstore *ms,
    const struct imap_command *cmd, const struct imap_view_opts *o,
    struct buf *out, const char **error_r)
{
	struct seq_range *known;
	struct since_ctx sc;
	size_t nknown;
	int r = 0;

	(void)o;
	if (cmd->u.select.uidvalidity != v->uidvalidity)
		return 0;
	known = known_ranges(&cmd->u.select.known_uids, v->known_uid,
	    &nknown);
	if (view_put_vanished_earlier(v, ms, cmd->u.select.modseq, known,
	    nknown, out, error_r) < 0) {
		free(known);
		return -1;
	}
	memset(&sc, 0, sizeof(sc));
	sc.v = v;
	sc.known_uid = v->known_uid;
	sc.only = known;
	sc.nonly = nknown;
	if (vs_list_since(ms, v->mailbox, cmd->u.select.modseq, since_cb, &sc,
	    error_r) < 0)
		r = -1;
	if (r == 0 && sc.n > 0) {
		view_qsort(sc.c, sc.n, sizeof(*sc.c), cmp_change);
		r = put_changes(v, sc.c, sc.n, true, true, out);
	}
	since_free(&sc);
	free(known);
	return r;
}

static void
view_free_members(struct imap_view *v)
{
	view_job_clear(&v->job);
	seqmap_fini(&v->map);
	free(v->mailbox);
	free(v->pending);
	free(v->told);
	free(v->saved);
	free(v->long_code);
	free(v->recent);
}

struct imap_view *
imap_view_open(struct mailstore *ms, const struct imap_command *cmd,
    bool readonly, const struct imap_view_opts *o, struct buf *out,
    struct imap_result *res)
{
	struct imap_view *v;
	struct mailstore_summary sm;
	uint32_t uidnext;
	const char *name = cmd->u.select.mbox.name, *err = NULL;
	const char *verb = readonly ? "EXAMINE" : "SELECT";
	const char *kwsp;
	size_t mark = out->len, i;
	int r;

	if (cmd->u.select.qresync && !o->qresync) {
		view_result(res, IMAP_RESULT_BAD, NULL,
		    "QRESYNC is not enabled");
		return NULL;
	}
	/* state, UIDs, first unseen, keywords: one snapshot, read from
	 * the store's summary of the mailbox (not from every message) */
	r = mailstore_mailbox_summary(ms, name, &sm, &err);
	if (r == 0) {
		view_result(res, IMAP_RESULT_NO, "NONEXISTENT",
		    "No such mailbox");
		return NULL;
	}
	if (r < 0) {
		log_warn("imap select mailbox=%s error=\"%s\"", name, err);
		view_result(res, IMAP_RESULT_NO, "SERVERBUG",
		    "%s failed", verb);
		return NULL;
	}
	v = xcalloc(1, sizeof(*v));
	v->mailbox = xstrdup(name);
	v->readonly = readonly;
	v->condstore = cmd->u.select.condstore || cmd->u.select.qresync;
	v->uidvalidity = sm.uidvalidity;
	v->modseq = sm.highestmodseq;
	uidnext = sm.uidnext;
	seqmap_init(&v->map);
	for (i = 0; i < sm.nruns; i++) {
		/* a run at once: its first UID, then the rest in place */
		if (sm.runs[i].lo <= seqmap_last(&v->map) ||
		    sm.runs[i].hi < sm.runs[i].lo)
			continue;	/* not ascending: never so */
		seqmap_append(&v->map, sm.runs[i].lo);
		v->map.runs[v->map.n - 1].hi = sm.runs[i].hi;
		v->map.count += sm.runs[i].hi - sm.runs[i].lo;
	}
	/* " kw1 kw2" after the system flags */
	kwsp = sm.keywords[0] != '\0' ? " " : "";
	v->known_uid = seqmap_last(&v->map);
	if (uidnext <= v->known_uid)
		uidnext = v->known_uid + 1;
	/* rev1 only: a rev2 session neither sees nor takes \Recent */
	v->user_id = mailstore_user_id(ms);
	v->recent_on = !o->rev2;
	v->recent_claims = !o->rev2 && !readonly;
	view_recent_update(v, v->known_uid);

	r = buf_printf(out, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen "
	    "\\Draft%s%s)\r\n* %u EXISTS\r\n", kwsp, sm.keywords,
	    v->map.count);
	if (r == 0 && !o->rev2) {
		v->recent_told = view_recent_count(v);
		r = buf_printf(out, "* %u RECENT\r\n", v->recent_told);
		if (r == 0 && sm.first_unseen != 0)
			r = buf_printf(out, "* OK [UNSEEN %zu] First "
			    "unseen\r\n", sm.first_unseen);
	}
	if (r == 0)
		r = buf_printf(out, "* OK [UIDVALIDITY %u] UIDs valid\r\n"
		    "* OK [UIDNEXT %u] Predicted next UID\r\n",
		    v->uidvalidity, uidnext);
	if (r == 0 && readonly)
		r = buf_append_str(out, "* OK [PERMANENTFLAGS ()] "
		    "Read-only mailbox\r\n");
	else if (r == 0)
		r = buf_printf(out, "* OK [PERMANENTFLAGS (\\Answered "
		    "\\Flagged \\Deleted \\Seen \\Draft%s%s \\*)] Flags "
		    "permitted\r\n", kwsp, sm.keywords);
	if (r == 0)
		r = buf_printf(out, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
		    (unsigned long long)v->modseq);
	if (r == 0 && o->rev2) {
		/* RFC 9051 6.3.2: the mailbox's LIST response */
		r = buf_append_str(out, "* LIST () \"/\" ");
		if (r == 0)
			r = put_mailbox_name(out, v->mailbox, true);
		if (r == 0)
			r = buf_append_str(out, "\r\n");
	}
	mailstore_summary_free(&sm);
	if (r == 0 && cmd->u.select.qresync)
		r = select_qresync(v, ms, cmd, o, out, &err);
	if (r < 0) {
		out->len = mark;
		if (out->data != NULL)
			out->data[mark] = '\0';
		imap_view_free(&v);
		view_result(res, IMAP_RESULT_NO, "SERVERBUG",
		    "%s failed", verb);
		return NULL;
	}
	view_result(res, IMAP_RESULT_OK, readonly ? "READ-ONLY" : "READ-WRITE",
	    "%s completed", verb);
	return v;
}

void
imap_view_free(struct imap_view **vp)
{
	struct imap_view *v = *vp;

	if (v == NULL)
		return;
	view_free_members(v);
	free(v);
	*vp = NULL;
}

const char *
imap_view_mailbox(const struct imap_view *v)
{
	return v->mailbox;
}

bool
imap_view_readonly(const struct imap_view *v)
{
	return v->readonly;
}

/* ---- STORE ---- */

void
view_job_clear(struct view_job *j)
{
	free(j->ranges);
	free(j->seen);
	if (j->changes != NULL) {
		vs_flag_changes_free(j->changes, j->nchanges);
		free(j->changes);
	}
	memset(j, 0, sizeof(*j));
}

static int
store_run(struct imap_view *v, const struct imap_view_opts *o,
    struct buf *out, struct imap_result *res)
{
	struct view_job *j = &v->job;
	const struct imap_command *cmd = j->cmd;
	bool silent = cmd->u.store.silent;
	bool modseq = view_condstore(v, o);
	bool with_uid = cmd->is_uid || o->qresync;

	while (j->ci < j->nchanges) {
		const struct vs_flag_change *c = &j->changes[j->ci];
		uint32_t s;

		if (out->len >= IMAP_SESSION_OUT_HIGH)
			return 1;
		j->ci++;
		if (c->status < 0 || c->status == 2)
			continue;
		if (silent && (c->status == 0 || !modseq))
			continue;
		if ((s = seqmap_seq(&v->map, c->uid)) == 0)
			continue;
		if (buf_printf(out, "* %u FETCH (", s) < 0)
			goto full;
		if (!silent && (buf_append_str(out, "FLAGS ") < 0 ||
		    view_put_flags(out, c->flags, c->keywords,
		    view_is_recent(v, c->uid)) < 0))
			goto full;
		if (with_uid && buf_printf(out, "%sUID %u", silent ? "" : " ",
		    c->uid) < 0)
			goto full;
		if (modseq && buf_printf(out, "%sMODSEQ (%llu)",
		    silent && !with_uid ? "" : " ",
		    (unsigned long long)c->modseq) < 0)
			goto full;
		if (buf_append_str(out, ")\r\n") < 0)
			goto full;
	}
	*res = j->done;
	view_job_clear(j);
	return 0;
full:
	view_job_clear(j);
	view_result(res, IMAP_RESULT_NO, "SERVERBUG", "STORE output too big");
	return 0;
}

static int
view_store(struct imap_view *v, struct mailstore *ms,
    const struct imap_command *cmd, const struct imap_view_opts *o,
    struct buf *out, struct imap_result *res)
{
	struct view_job *j = &v->job;
	struct seq_range *ranges;
	struct vs_flag_change *c;
	struct buf kw, mod;
	enum vs_flag_mode mode;
	uint32_t *uids, *modified, uv, un;
	unsigned flags = 0, i;
	size_t nranges, n, k, nmod = 0;
	uint64_t h0 = 0, mine = 0;
	const char *err = NULL;
	int r;

	if (v->readonly) {
		view_result(res, IMAP_RESULT_NO, NULL,
		    "Mailbox is read-only");
		return 0;
	}
	buf_init(&kw, 64u * 1024);
	for (i = 0; i < cmd->u.store.flags.count; i++) {
		struct span f = cmd->u.store.flags.v[i];
		size_t s;
		bool sys = false;

		if (f.len > 0 && f.p[0] == '\\') {
			for (s = 0; s < sizeof(sysflags) / sizeof(sysflags[0]);
			    s++)
				if (span_eq_str_ci(f, sysflags[s].name)) {
					flags |= sysflags[s].bit;
					sys = true;
				}
			/* \Recent cannot be stored: ignored (Dovecot too) */
			if (!sys && !span_eq_str_ci(f, "\\Recent")) {
				buf_fini(&kw);
				view_result(res, IMAP_RESULT_BAD, NULL,
				    "Invalid system flag");
				return 0;
			}
			continue;
		}
		if ((kw.len > 0 && buf_append_byte(&kw, ' ') < 0) ||
		    buf_append(&kw, f.p, f.len) < 0) {
			buf_fini(&kw);
			view_result(res, IMAP_RESULT_NO, "LIMIT",
			    "Too many keywords");
			return 0;
		}
	}
	if (view_set_ranges(v, &cmd->u.store.set, cmd->is_uid, &ranges,
	    &nranges) == 0) {
		buf_fini(&kw);
		view_result(res, IMAP_RESULT_BAD, NULL,
		    "Invalid message sequence number");
		return 0;
	}
	if (cmd->u.store.has_unchangedsince)
		v->condstore = true;
	uids = view_ranges_uids(v, ranges, nranges, &n);
	free(ranges);
	c = xcalloc(n + 1, sizeof(*c));
	for (k = 0; k < n; k++)
		c[k].uid = uids[k];
	free(uids);
	mode = cmd->u.store.mode == IMAP_STORE_ADD ? VS_FLAGS_ADD :
	    cmd->u.store.mode == IMAP_STORE_REMOVE ? VS_FLAGS_REMOVE :
	    VS_FLAGS_REPLACE;
	if (cmd->u.store.has_unchangedsince &&
	    cmd->u.store.unchangedsince == 0) {
		/* every message has a MODSEQ above 0 (RFC 7162 3.1.3) */
		for (k = 0; k < n; k++)
			c[k].status = 2;
		r = 0;
	} else if (vs_state(ms, v->mailbox, &uv, &un, &h0, &err) < 0) {
		r = -1;
	} else {
		r = vs_store_flags(ms, v->mailbox, c, n, mode, flags,
		    kw.len > 0 ? (const char *)kw.data : NULL,
		    cmd->u.store.has_unchangedsince ?
		    cmd->u.store.unchangedsince : 0, &err);
	}
	buf_fini(&kw);
	if (r < 0) {
		vs_flag_changes_free(c, n);
		free(c);
		log_info("imap store mailbox=%s error=\"%s\"", v->mailbox,
		    err);
		view_result(res, IMAP_RESULT_NO, NULL, "STORE failed: %s",
		    err != NULL ? err : "error");
		return 0;
	}
	modified = xcalloc(n + 1, sizeof(*modified));
	for (k = 0; k < n; k++) {
		if (c[k].status == 1) {
			view_told_add(v, c[k].uid, c[k].modseq);
			mine = c[k].modseq;
		}
		if (c[k].status == 2)
			modified[nmod++] = cmd->is_uid ? c[k].uid :
			    seqmap_seq(&v->map, c[k].uid);
	}
	if (mine != 0)
		view_own_change(v, ms, h0, mine);
	view_job_clear(j);
	j->kind = VIEW_JOB_STORE;
	j->cmd = cmd;
	j->changes = c;
	j->nchanges = n;
	view_result(&j->done, IMAP_RESULT_OK, NULL, "STORE completed");
	if (nmod > 0) {
		/* any length: at most n ranges of two 10-digit numbers */
		buf_init(&mod, 64 + 24 * (size_t)nmod);
		if (buf_append_str(&mod, "MODIFIED ") == 0 &&
		    view_put_uidset(&mod, modified, nmod) == 0) {
			view_result(&j->done, IMAP_RESULT_OK, NULL,
			    "Conditional STORE failed for some messages");
			view_result_code(v, &j->done, buf_cstr(&mod));
		} else {
			view_result(&j->done, IMAP_RESULT_NO, NULL,
			    "Conditional STORE failed");
		}
		buf_fini(&mod);
	}
	free(modified);
	return store_run(v, o, out, res);
}

/* ---- COPY / MOVE ---- */

static int
view_copy(struct imap_view *v, struct mailstore *ms,
    const struct imap_command *cmd, const struct imap_view_opts *o,
    struct buf *out, struct imap_result *res)
{
	bool move = cmd->name == IMAP_CMD_MOVE;
	const char *verb = move ? "MOVE" : "COPY";
	const char *to = cmd->u.copy.mbox.name, *err = NULL;
	struct seq_range *ranges;
	uint32_t *uids, *dst, *src, uidvalidity = 0;
	size_t nranges, n, k, ncopied = 0;
	struct buf code;
	int r;

	if (move && v->readonly) {
		view_result(res, IMAP_RESULT_NO, NULL,
		    "Mailbox is read-only");
		return 0;
	}
	if (view_set_ranges(v, &cmd->u.copy.set, cmd->is_uid, &ranges,
	    &nranges) == 0) {
		view_result(res, IMAP_RESULT_BAD, NULL,
		    "Invalid message sequence number");
		return 0;
	}
	uids = view_ranges_uids(v, ranges, nranges, &n);
	free(ranges);
	r = mailstore_mailbox_state(ms, to, NULL, NULL, NULL, &err);
	if (r == 0) {
		free(uids);
		view_result(res, IMAP_RESULT_NO, "TRYCREATE",
		    "No such mailbox");
		return 0;
	}
	if (r < 0 || n == 0) {
		free(uids);
		if (r < 0)
			view_result(res, IMAP_RESULT_NO, "SERVERBUG",
			    "%s failed", verb);
		else
			view_result(res, IMAP_RESULT_OK, NULL,
			    "No messages to %s", move ? "move" : "copy");
		return 0;
	}
	dst = xcalloc(n, sizeof(*dst));
	errno = 0;
	if (vs_copy(ms, v->mailbox, uids, n, to, move, dst, &uidvalidity,
	    &err) < 0) {
		bool quota = errno == EDQUOT;

		log_info("imap %s mailbox=%s error=\"%s\"", verb, v->mailbox,
		    err);
		free(uids);
		free(dst);
		if (quota)
			view_result(res, IMAP_RESULT_NO, "OVERQUOTA",
			    "Quota exceeded");
		else
			view_result(res, IMAP_RESULT_NO, NULL, "%s failed: %s",
			    verb, err != NULL ? err : "error");
		return 0;
	}
	src = xcalloc(n, sizeof(*src));
	for (k = 0; k < n; k++) {
		if (dst[k] == 0)
			continue;
		src[ncopied] = uids[k];
		dst[ncopied] = dst[k];
		ncopied++;
	}
	/* any length: at most 2n ranges of two 10-digit numbers */
	buf_init(&code, 64 + 48 * n);
	r = -1;
	if (ncopied > 0 && buf_printf(&code, "COPYUID %u ", uidvalidity) == 0 &&
	    view_put_uidset(&code, src, ncopied) == 0 &&
	    buf_append_byte(&code, ' ') == 0 &&
	    view_put_uidset(&code, dst, ncopied) == 0)
		r = 0;
	if (move) {
		/* RFC 6851 4.3: untagged COPYUID, then the expunges */
		if (r == 0 && (buf_append_str(out, "* OK [") < 0 ||
		    buf_append(out, code.data, code.len) < 0 ||
		    buf_append_str(out, "] Moved\r\n") < 0))
			r = -1;
		if (announce_expunge(v, src, ncopied, o, out) < 0)
			r = -1;
		view_result(res, IMAP_RESULT_OK, NULL, "MOVE completed");
	} else {
		view_result(res, IMAP_RESULT_OK, NULL, "COPY completed");
	}
	if (ncopied < n)
		view_result(res, res->status, NULL,
		    "%s completed, some messages were expunged meanwhile",
		    verb);
	if (!move && r == 0)
		view_result_code(v, res, buf_cstr(&code));
	buf_fini(&code);
	free(uids);
	free(src);
	free(dst);
	return 0;
}

/* ---- EXPUNGE ---- */

static int
view_expunge(struct imap_view *v, struct mailstore *ms,
    const struct imap_command *cmd, const struct imap_view_opts *o,
    struct buf *out, struct imap_result *res)
{
	uint32_t *uids = NULL, *gone = NULL;
	size_t n = 0, ngone = 0;
	const char *err = NULL;
	int r;

	if (v->readonly) {
		view_result(res, IMAP_RESULT_NO, NULL,
		    "Mailbox is read-only");
		return 0;
	}
	if (cmd->is_uid) {
		struct seq_range *ranges;
		size_t nranges;

		if (view_set_ranges(v, &cmd->u.expunge.set, true, &ranges,
		    &nranges) == 0) {
			view_result(res, IMAP_RESULT_BAD, NULL,
			    "Invalid UID set");
			return 0;
		}
		uids = view_ranges_uids(v, ranges, nranges, &n);
		free(ranges);
		if (n == 0) {
			free(uids);
			view_result(res, IMAP_RESULT_OK, NULL,
			    "EXPUNGE completed");
			return 0;
		}
	}
	r = mailstore_expunge(ms, v->mailbox, uids, n, true, &gone, &ngone,
	    &err);
	free(uids);
	if (r < 0) {
		log_info("imap expunge mailbox=%s error=\"%s\"", v->mailbox,
		    err);
		view_result(res, IMAP_RESULT_NO, NULL, "EXPUNGE failed");
		return 0;
	}
	r = announce_expunge(v, gone, ngone, o, out);
	free(gone);
	view_result(res, r == 0 ? IMAP_RESULT_OK : IMAP_RESULT_NO, NULL,
	    r == 0 ? "EXPUNGE completed" : "EXPUNGE output too big");
	if (r == 0 && view_condstore(v, o)) {
		uint32_t uv, un;
		uint64_t h;
		char code[64];

		/*
		 * The new HIGHESTMODSEQ in the tagged OK, as Dovecot does
		 * (RFC 7162 3.2.10): read before the session's sync, which
		 * tells everything up to at least this before the tagged
		 * line.
		 */
		if (vs_state(ms, v->mailbox, &uv, &un, &h, &err) == 1) {
			snprintf(code, sizeof(code), "HIGHESTMODSEQ %llu",
			    (unsigned long long)h);
			view_result(res, IMAP_RESULT_OK, code,
			    "EXPUNGE completed");
		}
	}
	return 0;
}

int
imap_view_close_expunge(struct imap_view *v, struct mailstore *ms)
{
	const char *err = NULL;
	size_t n = 0;

	if (v->readonly)
		return 0;
	if (mailstore_expunge(ms, v->mailbox, NULL, 0, true, NULL, &n,
	    &err) < 0) {
		log_info("imap close mailbox=%s error=\"%s\"", v->mailbox,
		    err);
		return -1;
	}
	return 0;
}

/* ---- dispatch ---- */

int
imap_view_command(struct imap_view *v, struct mailstore *ms,
    const struct imap_command *cmd, const struct imap_view_opts *o,
    struct buf *out, struct imap_result *res)
{
	view_job_clear(&v->job);
	free(v->long_code);
	v->long_code = NULL;
	view_result(res, IMAP_RESULT_OK, NULL, "completed");
	switch (cmd->name) {
	case IMAP_CMD_FETCH:
		return view_fetch_start(v, ms, cmd, o, out, res);
	case IMAP_CMD_STORE:
		return view_store(v, ms, cmd, o, out, res);
	case IMAP_CMD_SEARCH:
	case IMAP_CMD_SORT:
	case IMAP_CMD_THREAD:
		return view_search(v, ms, cmd, o, out, res);
	case IMAP_CMD_COPY:
	case IMAP_CMD_MOVE:
		return view_copy(v, ms, cmd, o, out, res);
	case IMAP_CMD_EXPUNGE:
		return view_expunge(v, ms, cmd, o, out, res);
	case IMAP_CMD_CHECK:
		view_result(res, IMAP_RESULT_OK, NULL, "CHECK completed");
		return 0;
	default:
		view_result(res, IMAP_RESULT_BAD, NULL,
		    "Command not valid in the selected state");
		return 0;
	}
}

int
imap_view_resume(struct imap_view *v, struct mailstore *ms,
    const struct imap_view_opts *o, struct buf *out, struct imap_result *res)
{
	switch (v->job.kind) {
	case VIEW_JOB_FETCH:
		return view_fetch_run(v, ms, o, out, res);
	case VIEW_JOB_STORE:
		return store_run(v, o, out, res);
	case VIEW_JOB_NONE:
		break;
	}
	view_result(res, IMAP_RESULT_OK, NULL, "completed");
	return 0;
}
