/*
 * imap_sort.c - SORT and THREAD (RFC 5256: base subject section 2.1,
 * sent date 2.2, SORT section 3, THREAD=ORDEREDSUBJECT and
 * THREAD=REFERENCES section 4; RFC 5957 DISPLAYFROM/DISPLAYTO).
 *
 * Pure: the caller hands over the messages with their headers.  String
 * keys compare with i;ascii-casemap, RFC 5256's default collation.  The
 * header fields looked at are cut to IMAP_SORT_MAX_FIELD bytes, so memory
 * is bounded by the number of messages.  THREAD=REFERENCES walks its
 * trees with explicit stacks: a reference chain as long as the mailbox
 * costs no call depth.  Message headers are untrusted.
 */
#include "imap/imap_search.h"

#include <stdlib.h>
#include <string.h>

#include "imap/imap_search_int.h"
#include "lib/arena.h"
#include "lib/ascii.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "mime/mime_address.h"
#include "mime/mime_header.h"

/* header bytes of one field read for sorting and threading */
#define IMAP_SORT_MAX_FIELD	4096
/* References bytes read (the last ones) */
#define IMAP_SORT_MAX_REFS	(64u * 1024)
/* addresses read from one field to find the first mailbox */
#define IMAP_SORT_MAX_ADDRS	16

/* ---- base subject (RFC 5256 section 2.1) ---- */

static bool
starts_ci(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && span_eq_ci(span_make(s, n), span_from_str(prefix));
}

/* blob_len - length of a subj-blob ("[" *BLOBCHAR "]" *WSP) at s, or 0 */
static size_t
blob_len(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || s[0] != '[')
		return 0;
	for (i = 1; i < len && s[i] != '[' && s[i] != ']'; i++)
		;
	if (i >= len || s[i] != ']')
		return 0;
	for (i++; i < len && s[i] == ' '; i++)
		;
	return i;
}

/* leader_len - length of a subj-leader at s (*subj-blob subj-refwd, or
 * a blank), 0 if none; *refwd_r tells which */
static size_t
leader_len(const char *s, size_t len, bool *refwd_r)
{
	size_t i = 0, b;

	*refwd_r = false;
	if (len > 0 && s[0] == ' ')
		return 1;
	while ((b = blob_len(s + i, len - i)) > 0)
		i += b;
	if (starts_ci(s + i, len - i, "re"))
		i += 2;
	else if (starts_ci(s + i, len - i, "fwd"))
		i += 3;
	else if (starts_ci(s + i, len - i, "fw"))
		i += 2;
	else
		return 0;
	while (i < len && s[i] == ' ')
		i++;
	i += blob_len(s + i, len - i);
	if (i >= len || s[i] != ':')
		return 0;
	*refwd_r = true;
	return i + 1;
}

char *
imap_search_base_subject(struct arena *a, struct span value,
    bool *is_reply_r)
{
	struct buf b;
	char *s;
	size_t len = 0, i, n, start = 0;
	bool reply = false, changed, refwd;

	if (value.len > IMAP_SORT_MAX_FIELD)
		value.len = IMAP_SORT_MAX_FIELD;
	/* (1) decoded, tabs and line breaks as blanks, runs of blanks
	 * collapsed */
	buf_init(&b, value.len * 4 + 64);
	if (mime_header_decode(value, &b) < 0)
		buf_reset(&b);
	s = arena_alloc(a, b.len + 1);
	for (i = 0; i < b.len; i++) {
		char c = (char)b.data[i];

		if (c == '\t' || c == '\r' || c == '\n' || c == '\0')
			c = ' ';
		if (c == ' ' && len > 0 && s[len - 1] == ' ')
			continue;
		s[len++] = c;
	}
	buf_fini(&b);
	for (;;) {
		/* (2) trailers: blanks and "(fwd)" */
		for (;;) {
			if (len > start && s[len - 1] == ' ')
				len--;
			else if (len - start >= 5 &&
			    starts_ci(s + len - 5, 5, "(fwd)")) {
				len -= 5;
				reply = true;	/* a forward (5C) */
			}
			else
				break;
		}
		/* (3)-(5) leaders, and blobs that leave something behind */
		do {
			changed = false;
			while ((n = leader_len(s + start, len - start,
			    &refwd)) > 0) {
				start += n;
				reply |= refwd;
				changed = true;
			}
			n = blob_len(s + start, len - start);
			if (n > 0 && start + n < len) {
				start += n;
				changed = true;
			}
		} while (changed);
		/* (6) "[fwd: ... ]" */
		if (len - start >= 6 && starts_ci(s + start, len - start,
		    "[fwd:") && s[len - 1] == ']') {
			start += 5;
			len--;
			reply = true;
			continue;
		}
		break;
	}
	if (is_reply_r != NULL)
		*is_reply_r = reply;
	memmove(s, s + start, len - start);
	s[len - start] = '\0';
	return s;
}

/* ---- per-message facts ---- */

struct sinfo {
	const struct imap_search_msg	*m;
	size_t				 idx;
	time_t				 sent;	/* sent date */
	const char			*str[IMAP_SORT_DISPLAYTO + 1];
	const char			*subject;	/* base subject */
	bool				 is_reply;
};

static struct span
msg_header(const struct imap_search_msg *m)
{
	return m->header.len > 0 || m->data.len == 0 ? m->header :
	    imap_search_header_of(m->data);
}

static bool
field(const struct imap_search_msg *m, const char *name, struct span *v)
{
	if (!mime_header_find(msg_header(m), name, v))
		return false;
	if (v->len > IMAP_SORT_MAX_FIELD)
		v->len = IMAP_SORT_MAX_FIELD;
	return true;
}

static time_t
sent_date(const struct imap_search_msg *m)
{
	struct imap_date d;
	struct span v;
	time_t t;

	if (field(m, "Date", &v) && imap_search_date_parse(v, &d, &t))
		return t;
	return m->internal_date;	/* RFC 5256 section 2.2 */
}

/* first_addr - the first mailbox of an address field, or NULL */
static const struct mime_address *
first_addr(struct arena *a, const struct imap_search_msg *m,
    const char *name)
{
	const struct mime_address *ad;
	struct span v;

	if (!field(m, name, &v))
		return NULL;
	for (ad = mime_address_parse(v, a, IMAP_SORT_MAX_ADDRS); ad != NULL;
	    ad = ad->next) {
		if (!ad->group_start && !ad->group_end && ad->mailbox != NULL)
			return ad;
	}
	return NULL;
}

/* addr_key - RFC 5256: the addr-mailbox of the first address */
static const char *
addr_key(struct arena *a, const struct imap_search_msg *m, const char *name)
{
	const struct mime_address *ad = first_addr(a, m, name);

	return ad != NULL ? ad->mailbox : "";
}

/* display_key - RFC 5957: the decoded display name of the first address,
 * else its addr-spec */
static const char *
display_key(struct arena *a, const struct imap_search_msg *m,
    const char *name)
{
	const struct mime_address *ad = first_addr(a, m, name);
	const char *s;

	if (ad == NULL)
		return "";
	if (ad->name != NULL && ad->name[0] != '\0') {
		s = mime_header_decode_a(a, span_from_str(ad->name));
		if (s[0] != '\0')
			return s;
	}
	if (ad->domain == NULL)
		return ad->mailbox;
	return arena_printf(a, "%s@%s", ad->mailbox, ad->domain);
}

static const char *
subject_of(struct arena *a, const struct imap_search_msg *m, bool *reply)
{
	struct span v;

	*reply = false;
	if (!field(m, "Subject", &v))
		return "";
	return imap_search_base_subject(a, v, reply);
}

/* ---- SORT ---- */

struct sort_ctx {
	const struct sinfo		*info;
	const struct imap_sort_crit	*crit;
	unsigned			 ncrit;
};

static int
cmp_num(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b ? 1 : 0;
}

static int
cmp_time(time_t a, time_t b)
{
	return a < b ? -1 : a > b ? 1 : 0;
}

static int
sort_cmp(const void *pa, const void *pb, void *arg)
{
	const struct sort_ctx *sc = arg;
	const struct sinfo *a = &sc->info[*(const size_t *)pa];
	const struct sinfo *b = &sc->info[*(const size_t *)pb];
	unsigned i;
	int r;

	for (i = 0; i < sc->ncrit; i++) {
		enum imap_sort_key k = sc->crit[i].key;

		switch (k) {
		case IMAP_SORT_ARRIVAL:
			r = cmp_time(a->m->internal_date, b->m->internal_date);
			break;
		case IMAP_SORT_DATE:
			r = cmp_time(a->sent, b->sent);
			break;
		case IMAP_SORT_SIZE:
			r = cmp_num(a->m->size, b->m->size);
			break;
		case IMAP_SORT_SUBJECT:
			r = ascii_strcasecmp(a->subject, b->subject);
			break;
		default:
			r = ascii_strcasecmp(a->str[k], b->str[k]);
			break;
		}
		if (r != 0)
			return sc->crit[i].is_reverse ? -r : r;
	}
	/* RFC 5256 section 3: ties in sequence order, never reversed */
	return cmp_num(a->m->seq, b->m->seq);
}

int
imap_sort(const struct imap_search_msg *msgs, size_t n,
    const struct imap_sort_crit *crit, unsigned ncrit, size_t *order_r)
{
	struct arena *a;
	struct sinfo *info;
	struct sort_ctx sc;
	unsigned need = 0, i;
	size_t j;

	for (i = 0; i < ncrit; i++) {
		if (crit[i].key < IMAP_SORT_ARRIVAL ||
		    crit[i].key > IMAP_SORT_DISPLAYTO)
			return -1;
		need |= 1u << crit[i].key;
	}
	if (n == 0)
		return 0;
	a = arena_new("imap sort", 16384, SIZE_MAX / 4);
	info = xcalloc(n, sizeof(*info));
	for (j = 0; j < n; j++) {
		const struct imap_search_msg *m = &msgs[j];
		struct sinfo *s = &info[j];

		s->m = m;
		s->idx = j;
		order_r[j] = j;
		if (need & (1u << IMAP_SORT_DATE))
			s->sent = sent_date(m);
		if (need & (1u << IMAP_SORT_SUBJECT))
			s->subject = subject_of(a, m, &s->is_reply);
		if (need & (1u << IMAP_SORT_FROM))
			s->str[IMAP_SORT_FROM] = addr_key(a, m, "From");
		if (need & (1u << IMAP_SORT_TO))
			s->str[IMAP_SORT_TO] = addr_key(a, m, "To");
		if (need & (1u << IMAP_SORT_CC))
			s->str[IMAP_SORT_CC] = addr_key(a, m, "Cc");
		if (need & (1u << IMAP_SORT_DISPLAYFROM))
			s->str[IMAP_SORT_DISPLAYFROM] =
			    display_key(a, m, "From");
		if (need & (1u << IMAP_SORT_DISPLAYTO))
			s->str[IMAP_SORT_DISPLAYTO] = display_key(a, m, "To");
	}
	sc.info = info;
	sc.crit = crit;
	sc.ncrit = ncrit;
	qsort_r(order_r, n, sizeof(*order_r), sort_cmp, &sc);
	free(info);
	arena_free(&a);
	return 0;
}

/* ---- THREAD ---- */

struct tnode {
	struct tnode		*parent, *child, *next, *prev;
	const struct sinfo	*info;		/* NULL: a dummy */
	const char		*id;		/* Message-ID, or NULL */
	struct tnode		*hnext;		/* hash chain */
};

struct thread {
	struct arena	*a;
	struct sinfo	*info;
	size_t		 n;
	bool		 use_uid;
	struct tnode	**hash;
	size_t		 hsize;
	struct tnode	**all;		/* every node, as created */
	size_t		 nall, capall;
};

static struct tnode *
node_new(struct thread *t)
{
	struct tnode *x = arena_alloc(t->a, sizeof(*x));

	if (t->nall == t->capall) {
		t->capall = t->capall == 0 ? 64 : t->capall * 2;
		t->all = xreallocarray(t->all, t->capall, sizeof(*t->all));
	}
	t->all[t->nall++] = x;
	return x;
}

static size_t
id_hash(const char *s, size_t len)
{
	size_t h = 5381, i;

	for (i = 0; i < len; i++)
		h = h * 33 + (uint8_t)s[i];
	return h;
}

/* id_node - the node of a message ID, created (as a dummy) if new */
static struct tnode *
id_node(struct thread *t, const char *id, size_t len)
{
	size_t h = id_hash(id, len) & (t->hsize - 1);
	struct tnode *x;

	for (x = t->hash[h]; x != NULL; x = x->hnext) {
		if (strlen(x->id) == len && memcmp(x->id, id, len) == 0)
			return x;
	}
	x = node_new(t);
	x->id = arena_strndup(t->a, id, len);
	x->hnext = t->hash[h];
	t->hash[h] = x;
	return x;
}

/* next_id - the next "<...>" message ID in v from *pos (without the
 * brackets, blanks dropped), false at the end */
static bool
next_id(struct span v, size_t *pos, struct buf *id)
{
	size_t i = *pos, j;

	for (;;) {
		while (i < v.len && v.p[i] != '<')
			i++;
		if (i >= v.len)
			break;
		for (j = i + 1; j < v.len && v.p[j] != '>' && v.p[j] != '<';
		    j++)
			;
		if (j >= v.len)
			break;
		if (v.p[j] == '<') {
			i = j;	/* "<a <b>": start again at the second */
			continue;
		}
		buf_reset(id);
		for (i++; i < j; i++) {
			if (v.p[i] != ' ' && v.p[i] != '\t' && v.p[i] != '\r' &&
			    v.p[i] != '\n' && buf_append_byte(id, v.p[i]) < 0)
				break;
		}
		*pos = j + 1;
		if (id->len > 0 && memchr(id->data, '@', id->len) != NULL)
			return true;
		i = j + 1;	/* "<>" or no "@": not a message ID */
	}
	*pos = v.len;
	return false;
}

/* would_loop - whether making c a child of p makes a cycle */
static bool
would_loop(const struct tnode *p, const struct tnode *c)
{
	if (c->child == NULL)
		return p == c;	/* a leaf is nobody's ancestor: no walk */
	for (; p != NULL; p = p->parent) {
		if (p == c)
			return true;
	}
	return false;
}

static void
unlink_node(struct tnode *c)
{
	if (c->parent == NULL)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->parent->child = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->parent = c->prev = c->next = NULL;
}

/* link_node - c becomes p's first child (sibling order does not matter
 * until step 6 sorts every list; O(1) keeps wide threads linear) */
static void
link_node(struct tnode *p, struct tnode *c)
{
	c->parent = p;
	c->prev = NULL;
	c->next = p->child;
	if (p->child != NULL)
		p->child->prev = c;
	p->child = c;
}

/* fix_prev - sets the prev pointers of x's children from their order */
static void
fix_prev(struct tnode *x)
{
	struct tnode *c, *prev = NULL;

	for (c = x->child; c != NULL; c = c->next) {
		c->prev = prev;
		prev = c;
	}
}

/* refs_link - steps 1A and 1B for one message */
static void
refs_link(struct thread *t, struct tnode *msg)
{
	const struct imap_search_msg *m = msg->info->m;
	struct tnode *prev = NULL, *c;
	struct span v;
	struct buf id;
	size_t pos = 0;
	bool any = false;

	buf_init(&id, IMAP_SORT_MAX_FIELD);
	if (mime_header_find(msg_header(m), "References", &v)) {
		/* a long thread's References outgrow the usual cut, and the
		 * last IDs (the parent) matter most: keep the tail (a cut ID
		 * at its start has no "<" and is skipped) */
		if (v.len > IMAP_SORT_MAX_REFS) {
			v.p += v.len - IMAP_SORT_MAX_REFS;
			v.len = IMAP_SORT_MAX_REFS;
		}
		while (next_id(v, &pos, &id)) {
			any = true;
			c = id_node(t, (const char *)id.data, id.len);
			if (prev != NULL && c->parent == NULL &&
			    !would_loop(prev, c))
				link_node(prev, c);
			prev = c;
		}
	}
	if (!any && field(m, "In-Reply-To", &v)) {
		pos = 0;
		if (next_id(v, &pos, &id))
			prev = id_node(t, (const char *)id.data, id.len);
	}
	buf_fini(&id);
	/* 1B: the last reference is the parent, replacing any earlier
	 * (truncated-References) guess */
	if (prev == msg)
		prev = NULL;	/* a message referring to itself */
	if (msg->parent != NULL)
		unlink_node(msg);
	if (prev != NULL && !would_loop(prev, msg))
		link_node(prev, msg);
}

static time_t
node_date(const struct tnode *x)
{
	return x->info != NULL ? x->info->sent :
	    x->child != NULL ? node_date(x->child) : 0;
}

static uint32_t
node_seq(const struct tnode *x)
{
	/* a dummy's first child is a message (dummies only sit at the
	 * top after pruning) */
	return x->info != NULL ? x->info->m->seq :
	    x->child != NULL ? node_seq(x->child) : 0;
}

static int
node_cmp(const void *pa, const void *pb)
{
	const struct tnode *a = *(struct tnode *const *)pa;
	const struct tnode *b = *(struct tnode *const *)pb;
	int r = cmp_time(node_date(a), node_date(b));

	return r != 0 ? r : cmp_num(node_seq(a), node_seq(b));
}

/* sort_children - orders x's children by sent date (then sequence) */
static void
sort_children(struct tnode *x, struct tnode ***tmp, size_t *cap)
{
	struct tnode *c, **pp;
	size_t k = 0, i;

	for (c = x->child; c != NULL; c = c->next)
		k++;
	if (k < 2)
		return;
	if (k > *cap) {
		*cap = k;
		*tmp = xreallocarray(*tmp, k, sizeof(**tmp));
	}
	for (c = x->child, i = 0; c != NULL; c = c->next)
		(*tmp)[i++] = c;
	qsort(*tmp, k, sizeof(**tmp), node_cmp);
	pp = &x->child;
	for (i = 0; i < k; i++) {
		*pp = (*tmp)[i];
		pp = &(*tmp)[i]->next;
	}
	*pp = NULL;
	fix_prev(x);
}

/* preorder - every node under root, parents before children */
static size_t
preorder(struct tnode *root, struct tnode **out, size_t max)
{
	struct tnode **stack = xreallocarray(NULL, max + 1, sizeof(*stack));
	struct tnode *c;
	size_t sp = 0, n = 0;

	stack[sp++] = root;
	while (sp > 0) {
		struct tnode *x = stack[--sp];

		if (n < max + 1)
			out[n++] = x;
		for (c = x->child; c != NULL && sp < max + 1; c = c->next)
			stack[sp++] = c;
	}
	free(stack);
	return n;
}

/* prune - step 3: dummies go, their children move up (to the top level
 * only when they are alone) */
static void
prune(struct tnode *root, struct tnode **order, size_t n)
{
	size_t i;

	/* reverse pre-order: every child list is final before its parent
	 * looks at it */
	for (i = n; i-- > 0;) {
		struct tnode *x = order[i], *c, *next, *head = NULL, **tail;

		tail = &head;
		for (c = x->child; c != NULL; c = next) {
			next = c->next;
			if (c->info == NULL && c->child == NULL)
				continue;		/* 3A */
			if (c->info == NULL && (x != root ||
			    c->child->next == NULL)) {
				struct tnode *g;	/* 3B */

				for (g = c->child; g != NULL; g = g->next) {
					g->parent = x;
					*tail = g;
					tail = &g->next;
				}
				continue;
			}
			*tail = c;
			tail = &c->next;
		}
		*tail = NULL;
		x->child = head;
		fix_prev(x);
	}
}

struct subj_entry {
	const char	*key;
	struct tnode	*node;
};

static const char *
node_subject(const struct tnode *x, bool *reply)
{
	if (x->info == NULL)
		x = x->child;	/* a dummy: its first child's */
	*reply = x->info->is_reply;
	return x->info->subject;
}

/* subj_slot - the table slot of subject s (open addressing) */
static struct subj_entry *
subj_slot(struct subj_entry *tab, size_t size, const char *s)
{
	size_t h = 5381, i;
	const char *p;

	for (p = s; *p != '\0'; p++)
		h = h * 33 + (size_t)ascii_tolower((unsigned char)*p);
	for (i = h & (size - 1);; i = (i + 1) & (size - 1)) {
		if (tab[i].key == NULL || ascii_strcasecmp(tab[i].key, s) == 0)
			return &tab[i];
	}
}

/* merge_subjects - step 5 over the top-level nodes top[0..k) */
static void
merge_subjects(struct thread *t, struct tnode *root, struct tnode **top,
    size_t k)
{
	struct subj_entry *tab, *e;
	size_t size = 16, i;
	bool reply, treply;
	const char *s;

	while (size < k * 2)
		size *= 2;
	tab = xcalloc(size, sizeof(*tab));
	for (i = 0; i < k; i++) {			/* 5B, 5C */
		s = node_subject(top[i], &reply);
		if (s[0] == '\0')
			continue;
		e = subj_slot(tab, size, s);
		if (e->node == NULL) {
			e->key = s;
			e->node = top[i];
			continue;
		}
		node_subject(e->node, &treply);
		if ((top[i]->info == NULL && e->node->info != NULL) ||
		    (e->node->info != NULL && top[i]->info != NULL &&
		    treply && !reply))
			e->node = top[i];
	}
	for (i = 0; i < k; i++) {			/* 5D */
		struct tnode *cur = top[i], *old, *d, *c, *next;

		if (cur->parent != root)
			continue;	/* moved under another already */
		s = node_subject(cur, &reply);
		if (s[0] == '\0')
			continue;
		e = subj_slot(tab, size, s);
		if ((old = e->node) == cur)
			continue;
		node_subject(old, &treply);
		unlink_node(cur);
		if (old->info == NULL && cur->info == NULL) {
			for (c = cur->child; c != NULL; c = next) {
				next = c->next;
				link_node(old, c);
			}
			cur->child = NULL;
		} else if (old->info == NULL) {
			link_node(old, cur);
		} else if (cur->info == NULL) {
			unlink_node(old);
			link_node(cur, old);
			link_node(root, cur);
			e->node = cur;
		} else if (reply && !treply) {
			link_node(old, cur);
		} else {
			d = node_new(t);
			unlink_node(old);
			link_node(root, d);
			link_node(d, old);
			link_node(d, cur);
			e->node = d;
		}
	}
	free(tab);
}

/* emit - appends the thread of top as one thread-list */
static int
emit(struct thread *t, struct tnode *top, struct tnode **stack,
    struct buf *out)
{
	struct tnode *cur = top;
	size_t sp = 0;
	bool wrote;

	if (buf_append_byte(out, '(') < 0)
		return -1;
	for (;;) {
		wrote = false;
		for (;;) {
			if (cur->info != NULL) {
				uint32_t v = t->use_uid ? cur->info->m->uid :
				    cur->info->m->seq;

				if (buf_printf(out, wrote ? " %u" : "%u",
				    (unsigned)v) < 0)
					return -1;
				wrote = true;
			}
			if (cur->child != NULL && cur->child->next == NULL) {
				cur = cur->child;
				continue;
			}
			break;
		}
		if (cur->child != NULL) {
			/* two or more children: each its own list */
			if ((wrote && buf_append_byte(out, ' ') < 0) ||
			    buf_append_byte(out, '(') < 0)
				return -1;
			stack[sp++] = cur->child;
			cur = cur->child;
			continue;
		}
		for (;;) {
			if (buf_append_byte(out, ')') < 0)
				return -1;
			if (sp == 0)
				return 0;
			if (stack[sp - 1]->next != NULL) {
				stack[sp - 1] = stack[sp - 1]->next;
				cur = stack[sp - 1];
				if (buf_append_byte(out, '(') < 0)
					return -1;
				break;
			}
			sp--;
		}
	}
}

static int
emit_all(struct thread *t, struct tnode *root, struct buf *out)
{
	struct tnode **stack, *c;
	int rc = 0;

	stack = xreallocarray(NULL, t->nall + 1, sizeof(*stack));
	for (c = root->child; c != NULL && rc == 0; c = c->next)
		rc = emit(t, c, stack, out);
	free(stack);
	return rc;
}

static int
thread_references(struct thread *t, struct buf *out)
{
	struct tnode *root, **order, **tmp = NULL, **top, *c, *x;
	struct buf id;
	size_t i, n, k, cap = 0;
	struct span v;
	int rc;

	t->hsize = 16;
	while (t->hsize < t->n * 4)
		t->hsize *= 2;
	t->hash = xcalloc(t->hsize, sizeof(*t->hash));
	buf_init(&id, IMAP_SORT_MAX_FIELD);
	/* step 1: a node per message (a missing or repeated Message-ID
	 * gets a node of its own), then the links */
	for (i = 0; i < t->n; i++) {
		size_t pos = 0;

		x = NULL;
		if (field(t->info[i].m, "Message-ID", &v) &&
		    next_id(v, &pos, &id)) {
			x = id_node(t, (const char *)id.data, id.len);
			if (x->info != NULL)
				x = NULL;	/* duplicate */
		}
		if (x == NULL)
			x = node_new(t);
		x->info = &t->info[i];
		refs_link(t, x);
	}
	buf_fini(&id);
	/* step 2: the parentless under a root */
	root = arena_alloc(t->a, sizeof(*root));
	n = t->nall;
	for (i = 0; i < n; i++) {
		if (t->all[i]->parent == NULL)
			link_node(root, t->all[i]);
	}
	/* step 3 */
	order = xreallocarray(NULL, n + 1, sizeof(*order));
	k = preorder(root, order, n);
	prune(root, order, k);
	/* step 4: the top level by date (a dummy by its first child) */
	for (c = root->child; c != NULL; c = c->next) {
		if (c->info == NULL)
			sort_children(c, &tmp, &cap);
	}
	sort_children(root, &tmp, &cap);
	/* step 5 */
	for (k = 0, c = root->child; c != NULL; c = c->next)
		k++;
	top = xreallocarray(NULL, k + 1, sizeof(*top));
	for (k = 0, c = root->child; c != NULL; c = c->next)
		top[k++] = c;
	merge_subjects(t, root, top, k);
	free(top);
	/* step 6: every sibling list by date, dummies' children first */
	free(order);
	order = xreallocarray(NULL, t->nall + 1, sizeof(*order));
	k = preorder(root, order, t->nall);
	for (i = k; i-- > 0;)
		sort_children(order[i], &tmp, &cap);
	free(order);
	free(tmp);
	/* step 7 */
	rc = emit_all(t, root, out);
	return rc;
}

static int
subj_cmp(const void *pa, const void *pb)
{
	const struct sinfo *a = *(const struct sinfo *const *)pa;
	const struct sinfo *b = *(const struct sinfo *const *)pb;
	int r = ascii_strcasecmp(a->subject, b->subject);

	if (r == 0)
		r = cmp_time(a->sent, b->sent);
	return r != 0 ? r : cmp_num(a->m->seq, b->m->seq);
}

static int
thread_orderedsubject(struct thread *t, struct buf *out)
{
	const struct sinfo **s;
	struct tnode root, *x, *first = NULL, *last = NULL, **tmp = NULL;
	size_t i, cap = 0;
	int rc;

	memset(&root, 0, sizeof(root));
	s = xreallocarray(NULL, t->n, sizeof(*s));
	for (i = 0; i < t->n; i++)
		s[i] = &t->info[i];
	qsort(s, t->n, sizeof(*s), subj_cmp);
	/* each run of one base subject is a thread: the first message
	 * the parent, the others its children */
	for (i = 0; i < t->n; i++) {
		x = node_new(t);
		x->info = s[i];
		if (first != NULL && ascii_strcasecmp(first->info->subject,
		    s[i]->subject) == 0) {
			/* appended: the children stay in date order */
			x->parent = first;
			x->prev = last;
			if (last != NULL)
				last->next = x;
			else
				first->child = x;
			last = x;
		} else {
			link_node(&root, x);
			first = x;
			last = NULL;
		}
	}
	free(s);
	sort_children(&root, &tmp, &cap);	/* by the first's date */
	free(tmp);
	rc = emit_all(t, &root, out);
	return rc;
}

int
imap_thread(const struct imap_search_msg *msgs, size_t n,
    struct span algorithm, bool use_uid, struct buf *out)
{
	struct thread t;
	size_t i;
	int rc;
	bool refs = span_eq_str_ci(algorithm, "REFERENCES");

	if (!refs && !span_eq_str_ci(algorithm, "ORDEREDSUBJECT"))
		return -1;
	if (n == 0)
		return 0;
	memset(&t, 0, sizeof(t));
	t.a = arena_new("imap thread", 16384, SIZE_MAX / 4);
	t.n = n;
	t.use_uid = use_uid;
	t.info = xcalloc(n, sizeof(*t.info));
	for (i = 0; i < n; i++) {
		t.info[i].m = &msgs[i];
		t.info[i].idx = i;
		t.info[i].sent = sent_date(&msgs[i]);
		t.info[i].subject = subject_of(t.a, &msgs[i],
		    &t.info[i].is_reply);
	}
	rc = refs ? thread_references(&t, out) :
	    thread_orderedsubject(&t, out);
	free(t.hash);
	free(t.all);
	free(t.info);
	arena_free(&t.a);
	return rc;
}
