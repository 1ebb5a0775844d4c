/*
 * mime_parse.c - one-pass MIME structure parser.
 *
 * RFC 5322 section 2.1-2.2 (header/body split, folding; bare LF accepted),
 * RFC 2045 sections 5-6 (Content-Type and defaults, transfer encodings),
 * RFC 2046 section 5.1 (boundaries, preamble, epilogue, digest default)
 * and 5.2 (message/rfc822), RFC 6532 section 3.5 (message/global),
 * RFC 3501 section 6.4.5 (section numbers).  Sees untrusted input.
 *
 * How it stays fast and bounded: the message is scanned once, left to
 * right.  Bodies are never copied; boundary candidates ("\n--") are found
 * 16 bytes at a time with SSE2, and only those lines are compared with the
 * boundaries of the enclosing multiparts (at most max_depth of them).
 * Line counts and CRLF sizes come from one running counter that only moves
 * forward.  Parts are allocated from one arena, at most max_parts of them;
 * past the depth or part limit the rest of the content is one opaque part.
 */
#include "mime/mime_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "lib/ascii.h"
#include "lib/postino_limits.h"
#include "lib/xmalloc.h"

void
mime_limits_default(struct mime_limits *l)
{
	l->max_depth = MIME_MAX_DEPTH;
	l->max_parts = MIME_MAX_PARTS;
	l->max_header = MIME_MAX_HEADER;
	l->max_headers_total = MIME_MAX_HEADERS_TOTAL;
	l->max_header_fields = MIME_MAX_HEADER_FIELDS;
}

struct open_mp {
	struct mime_part	*part;
	const uint8_t		*b;	/* boundary */
	size_t			 blen;
};

struct pstate {
	struct mime_message	*m;
	const uint8_t		*d;
	size_t			 len;
	struct mime_limits	 lim;
	/* running line counter: counts of LF and CRLF in [0, cnt_pos) */
	size_t			 cnt_pos, lf, crlf;
	/* enclosing multiparts whose boundary is still live */
	struct open_mp		*open;
	size_t			 nopen;
	bool			 stop;	/* part limit reached */
};

/* popcount16 - inline: without -mpopcnt the builtin is a libgcc call. */
static inline unsigned
popcount16(unsigned x)
{
	x = x - ((x >> 1) & 0x5555);
	x = (x & 0x3333) + ((x >> 2) & 0x3333);
	x = (x + (x >> 4)) & 0x0f0f;
	return (x + (x >> 8)) & 0x1f;
}

/* count_range - add LF and CRLF counts of d[from, to) to *lf, *crlf. */
static void
count_range(const uint8_t *d, size_t from, size_t to, size_t *lf,
    size_t *crlf)
{
	size_t i = from, a = 0, b = 0;

	if (i == 0 && i < to) {
		a += d[0] == '\n';
		i = 1;
	}
#ifdef __SSE2__
	{
		const __m128i nl = _mm_set1_epi8('\n');
		const __m128i cr = _mm_set1_epi8('\r');

		while (i + 16 <= to) {
			__m128i v = _mm_loadu_si128((const __m128i *)(d + i));
			__m128i pv = _mm_loadu_si128(
			    (const __m128i *)(d + i - 1));
			unsigned ml = (unsigned)_mm_movemask_epi8(
			    _mm_cmpeq_epi8(v, nl));

			if (ml != 0) {
				unsigned mc = (unsigned)_mm_movemask_epi8(
				    _mm_cmpeq_epi8(pv, cr));

				a += popcount16(ml);
				b += popcount16(ml & mc);
			}
			i += 16;
		}
	}
#endif
	for (; i < to; i++) {
		if (d[i] == '\n') {
			a++;
			b += d[i - 1] == '\r';
		}
	}
	*lf += a;
	*crlf += b;
}

/* counts_at - LF and CRLF counts in [0, x). */
static void
counts_at(struct pstate *s, size_t x, size_t *lf, size_t *crlf)
{
	if (x >= s->cnt_pos) {
		count_range(s->d, s->cnt_pos, x, &s->lf, &s->crlf);
		s->cnt_pos = x;
		*lf = s->lf;
		*crlf = s->crlf;
	} else {
		size_t a = 0, b = 0;

		count_range(s->d, x, s->cnt_pos, &a, &b);
		*lf = s->lf - a;
		*crlf = s->crlf - b;
	}
}

/*
 * boundary_match - is the line at d[c] a live boundary?  Returns the
 * index in s->open (innermost first wins), or -1; *close_r tells a final
 * delimiter, *next_r is the start of the following line.
 */
static long
boundary_match(struct pstate *s, size_t c, bool *close_r, size_t *next_r)
{
	const uint8_t *d = s->d;
	size_t rest = s->len - c, k;
	long i, prefix = -1;
	const uint8_t *nl;

	if (rest < 3 || d[c] != '-' || d[c + 1] != '-')
		return -1;
	/*
	 * Like Dovecot, a line that starts with "--" and a live boundary is
	 * a boundary line whatever follows.  When boundaries are prefixes of
	 * each other, a line that matches one exactly (RFC 2046 5.1.1:
	 * "--" boundary ["--"] blanks EOL) wins over a prefix match, then
	 * the innermost boundary wins.
	 */
	for (i = (long)s->nopen - 1; i >= 0; i--) {
		const struct open_mp *o = &s->open[i];
		size_t e = c + 2 + o->blen;

		if (rest < 2 + o->blen || memcmp(d + c + 2, o->b, o->blen) != 0)
			continue;
		if (e + 1 < s->len && d[e] == '-' && d[e + 1] == '-') {
			prefix = i;
			break;
		}
		for (k = e; k < s->len && (d[k] == ' ' || d[k] == '\t'); k++)
			;
		if (k < s->len && d[k] == '\r')
			k++;
		if (k == s->len || d[k] == '\n') {
			prefix = i;
			break;
		}
		if (prefix < 0)
			prefix = i;
	}
	if (prefix < 0)
		return -1;
	{
		size_t e = c + 2 + s->open[prefix].blen;

		*close_r = e + 1 < s->len && d[e] == '-' && d[e + 1] == '-';
		nl = memchr(d + e, '\n', s->len - e);
		*next_r = nl != NULL ? (size_t)(nl - d) + 1 : s->len;
	}
	return prefix;
}

/*
 * find_boundary - the first live boundary line starting at or after the
 * line start `from`.  Returns the open[] index or -1 (none up to EOF).
 */
static long
find_boundary(struct pstate *s, size_t from, size_t *line_r, bool *close_r,
    size_t *next_r)
{
	const uint8_t *d = s->d;
	size_t n = s->len, i;
	long k;

	if (s->nopen == 0)
		return -1;
	if (from < n && (k = boundary_match(s, from, close_r, next_r)) >= 0) {
		*line_r = from;
		return k;
	}
	i = from;
	while (i + 2 < n) {
#ifdef __SSE2__
		const __m128i nl = _mm_set1_epi8('\n');
		const __m128i da = _mm_set1_epi8('-');

		/* candidates: LF followed by "--", 16 positions a time */
		while (i + 18 <= n) {
			__m128i a = _mm_loadu_si128((const __m128i *)(d + i));
			__m128i b = _mm_loadu_si128(
			    (const __m128i *)(d + i + 1));
			__m128i c = _mm_loadu_si128(
			    (const __m128i *)(d + i + 2));
			unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(
			    _mm_cmpeq_epi8(a, nl), _mm_and_si128(
			    _mm_cmpeq_epi8(b, da), _mm_cmpeq_epi8(c, da))));

			while (m != 0) {
				size_t at = i + (size_t)__builtin_ctz(m) + 1;

				k = boundary_match(s, at, close_r, next_r);
				if (k >= 0) {
					*line_r = at;
					return k;
				}
				m &= m - 1;
			}
			i += 16;
		}
		if (i + 2 >= n)
			break;
#endif
		{
			const uint8_t *p = memchr(d + i, '\n', n - i - 2);

			if (p == NULL)
				break;
			i = (size_t)(p - d) + 1;
			if (d[i] == '-' && d[i + 1] == '-' &&
			    (k = boundary_match(s, i, close_r, next_r)) >= 0) {
				*line_r = i;
				return k;
			}
		}
	}
	return -1;
}

static bool
name_is(struct span name, const char *lower, size_t len)
{
	return name.len == len && span_eq_str_ci(name, lower);
}

/* note_field - remember the MIME fields IMAP needs (first one wins). */
static void
note_field(struct mime_part *p, const struct mime_field *f)
{
	struct span n = f->name, *slot = NULL;

	if (n.len < 10 || !span_starts_ci(n, "content-"))
		return;
	switch (ascii_tolower(n.p[8])) {
	case 't':
		if (name_is(n, "content-type", 12))
			slot = &p->f_ctype;
		else if (name_is(n, "content-transfer-encoding", 25))
			slot = &p->f_cte;
		break;
	case 'i':
		if (name_is(n, "content-id", 10))
			slot = &p->f_id;
		break;
	case 'd':
		if (name_is(n, "content-description", 19))
			slot = &p->f_desc;
		else if (name_is(n, "content-disposition", 19))
			slot = &p->f_disp;
		break;
	case 'l':
		if (name_is(n, "content-language", 16))
			slot = &p->f_lang;
		else if (name_is(n, "content-location", 16))
			slot = &p->f_loc;
		break;
	case 'm':
		if (name_is(n, "content-md5", 11))
			slot = &p->f_md5;
		break;
	}
	/* the first field of a name wins, except Content-Disposition,
	 * where Dovecot keeps the last one */
	if (slot != NULL && (slot->p == NULL || slot == &p->f_disp))
		*slot = f->value;
}

/*
 * parse_header - scan the header at p->hdr_off; sets body_off.  The
 * header ends at an empty line, at a live boundary line, or at EOF.
 */
static void
parse_header(struct pstate *s, struct mime_part *p)
{
	struct span all = span_make(s->d, s->len);
	struct mime_field f;
	size_t pos = p->hdr_off, nfields = 0, dummy_next;
	bool dummy_close;

	for (;;) {
		size_t start = pos;

		if (pos >= s->len) {
			p->flags |= MIME_PART_F_NO_HEADER_END;
			p->body_off = s->len;
			return;
		}
		if (s->d[pos] == '\n') {
			p->body_off = pos + 1;
			return;
		}
		if (s->d[pos] == '\r' && pos + 1 < s->len &&
		    s->d[pos + 1] == '\n') {
			p->body_off = pos + 2;
			return;
		}
		if (s->d[pos] == '-' && s->nopen > 0 &&
		    boundary_match(s, pos, &dummy_close, &dummy_next) >= 0) {
			/* the line break before the boundary line belongs
			 * to the boundary, not to this header */
			p->flags |= MIME_PART_F_NO_HEADER_END;
			if (pos > p->hdr_off && s->d[pos - 1] == '\n')
				pos--;
			if (pos > p->hdr_off && s->d[pos - 1] == '\r')
				pos--;
			p->body_off = pos;
			return;
		}
		if (!mime_header_next(all, &pos, &f)) {
			p->body_off = pos;	/* not reached */
			return;
		}
		if (start - p->hdr_off > s->lim.max_headers_total ||
		    ++nfields > s->lim.max_header_fields ||
		    f.raw.len > s->lim.max_header) {
			p->flags |= MIME_PART_F_HEADER_LIMIT;
			continue;
		}
		note_field(p, &f);
	}
}

static void
set_default_type(struct mime_part *p, struct arena *a)
{
	p->flags |= MIME_PART_F_DEFAULT_TYPE;
	if (p->parent != NULL && mime_part_is(p->parent, "multipart",
	    "digest")) {
		p->type = "message";
		p->subtype = "rfc822";
		p->params = NULL;
		return;
	}
	p->type = "text";
	p->subtype = "plain";
	p->params = arena_alloc(a, sizeof(*p->params));
	p->params->name = p->params->raw_name = "charset";
	p->params->value = p->params->raw_value = "us-ascii";
}

/* begin_part - a new part whose header starts at off. */
static struct mime_part *
begin_part(struct pstate *s, struct mime_part *parent, size_t off)
{
	struct arena *a = s->m->arena;
	struct mime_part *p = arena_alloc(a, sizeof(*p));
	struct mime_ctype ct;
	size_t lf, crlf;

	p->parent = parent;
	if (parent != NULL) {
		if (parent->last_child != NULL)
			parent->last_child->next = p;
		else
			parent->children = p;
		parent->last_child = p;
		parent->nchildren++;
		p->depth = parent->depth + 1;
	}
	s->m->nparts++;
	p->hdr_off = off;
	counts_at(s, off, &lf, &crlf);
	p->lf0 = lf;
	p->crlf0 = crlf;
	parse_header(s, p);
	{
		size_t lf2, crlf2;

		counts_at(s, p->body_off, &lf2, &crlf2);
		p->hdr_vsize = p->body_off - p->hdr_off + (lf2 - lf) -
		    (crlf2 - crlf);
		p->lf0 = lf2;
		p->crlf0 = crlf2;
	}
	p->cte = p->f_cte.p != NULL ? mime_cte_parse(p->f_cte) :
	    MIME_CTE_7BIT;
	if (p->f_ctype.p != NULL && mime_ctype_parse(p->f_ctype, a, &ct) == 0) {
		p->type = ct.type;
		p->subtype = ct.subtype;
		p->params = ct.params;
	} else
		set_default_type(p, a);
	return p;
}

/* end_part - p's body ends at e (not before its start). */
static void
end_part(struct pstate *s, struct mime_part *p, size_t e)
{
	size_t lf, crlf;

	if (e < p->body_off) {
		/*
		 * The line break that ended the header (or the empty line)
		 * is also the one before a boundary: it belongs to the
		 * boundary, so the header gives it up.
		 */
		size_t hl, hc;

		p->body_off = e;
		if (p->hdr_off > e)
			p->hdr_off = e;
		counts_at(s, p->hdr_off, &hl, &hc);
		counts_at(s, e, &lf, &crlf);
		p->hdr_vsize = e - p->hdr_off + (lf - hl) - (crlf - hc);
		p->lf0 = lf;
		p->crlf0 = crlf;
	}
	p->end_off = e;
	counts_at(s, e, &lf, &crlf);
	p->body_lines = lf - p->lf0;
	p->body_vsize = e - p->body_off + (lf - p->lf0) - (crlf - p->crlf0);
	s->m->flags |= p->flags;
}

/* descend - decide how cur's body is read; returns true if it started
 * a child (which becomes the new current part). */
static struct mime_part *
descend(struct pstate *s, struct mime_part *cur)
{
	const char *b;
	size_t blen;

	if (strcmp(cur->type, "multipart") == 0) {
		b = mime_param_get(cur->params, "boundary");
		blen = b != NULL ? strlen(b) : 0;
		if (blen == 0 || blen > MIME_MAX_BOUNDARY) {
			cur->flags |= MIME_PART_F_NO_BOUNDARY;
			return NULL;
		}
		if (cur->depth >= s->lim.max_depth || s->stop) {
			cur->flags |= MIME_PART_F_TRUNCATED;
			return NULL;
		}
		cur->flags |= MIME_PART_F_MULTIPART;
		s->open[s->nopen].part = cur;
		s->open[s->nopen].b = (const uint8_t *)b;
		s->open[s->nopen].blen = blen;
		s->nopen++;
		return NULL;
	}
	if (strcmp(cur->type, "message") == 0 &&
	    (strcmp(cur->subtype, "rfc822") == 0 ||
	    strcmp(cur->subtype, "global") == 0) &&
	    (cur->cte == MIME_CTE_7BIT || cur->cte == MIME_CTE_8BIT ||
	    cur->cte == MIME_CTE_BINARY)) {
		if (cur->depth >= s->lim.max_depth || s->stop) {
			cur->flags |= MIME_PART_F_TRUNCATED;
			return NULL;
		}
		cur->flags |= MIME_PART_F_MESSAGE;
		if (s->m->nparts >= s->lim.max_parts) {
			s->stop = true;
			cur->flags &= ~MIME_PART_F_MESSAGE;
			cur->flags |= MIME_PART_F_TRUNCATED;
			return NULL;
		}
		return begin_part(s, cur, cur->body_off);
	}
	return NULL;
}

struct mime_message *
mime_parse(const void *data, size_t len, const struct mime_limits *limits)
{
	struct arena *a = arena_new("mime", 4096, (size_t)-1 / 2);
	struct mime_message *m = arena_alloc(a, sizeof(*m));
	struct pstate s;
	struct mime_part *cur, *p;
	size_t pos;

	memset(&s, 0, sizeof(s));
	/* an empty message may come as NULL: never do arithmetic on it */
	if (data == NULL)
		data = "";
	m->arena = a;
	m->data = data;
	m->len = len;
	s.m = m;
	s.d = data;
	s.len = len;
	if (limits != NULL)
		s.lim = *limits;
	else
		mime_limits_default(&s.lim);
	if (s.lim.max_parts == 0)
		s.lim.max_parts = 1;
	s.open = xcalloc(s.lim.max_depth + 2, sizeof(*s.open));

	cur = m->root = begin_part(&s, NULL, 0);
	for (;;) {
		struct mime_part *child;
		size_t line, next, e;
		bool is_close;
		long k;

		/* a message/rfc822 part opens its inner message at once */
		while ((child = descend(&s, cur)) != NULL)
			cur = child;
		pos = cur->body_off;
scan:
		k = s.stop ? -1 : find_boundary(&s, pos, &line, &is_close,
		    &next);
		if (k < 0)
			break;
		/* the line break before the boundary belongs to it */
		e = line;
		if (e > 0 && s.d[e - 1] == '\n') {
			e--;
			if (e > 0 && s.d[e - 1] == '\r')
				e--;
		}
		/* every part inside the matched multipart ends here */
		for (p = cur; p != s.open[k].part; p = p->parent) {
			if ((p->flags & MIME_PART_F_MULTIPART) && !p->closed)
				p->flags |= MIME_PART_F_NO_CLOSE;
			end_part(&s, p, e);
		}
		cur = s.open[k].part;
		s.nopen = (size_t)k + 1;
		if (is_close) {
			/* the epilogue runs until an outer boundary */
			cur->closed = true;
			s.nopen--;
			pos = next;
			goto scan;
		}
		if (m->nparts >= s.lim.max_parts) {
			/* no more parts: the rest is the last child's */
			s.stop = true;
			cur->flags |= MIME_PART_F_TRUNCATED;
			if (cur->children != NULL) {
				for (p = cur->children; p->next != NULL;
				    p = p->next)
					;
				/* reopen it: it runs to the end */
				cur = p;
				while (cur->children != NULL) {
					for (p = cur->children; p->next != NULL;
					    p = p->next)
						;
					cur = p;
				}
			}
			break;
		}
		cur = begin_part(&s, cur, next);
	}
	/* everything still open ends with the message */
	for (p = cur; p != NULL; p = p->parent) {
		if ((p->flags & MIME_PART_F_MULTIPART) && !p->closed)
			p->flags |= MIME_PART_F_NO_CLOSE;
		end_part(&s, p, len);
	}
	free(s.open);
	return m;
}

void
mime_message_free(struct mime_message **mp)
{
	struct arena *a;

	if (*mp == NULL)
		return;
	a = (*mp)->arena;
	arena_free(&a);
	*mp = NULL;
}

struct span
mime_part_header(const struct mime_message *m, const struct mime_part *p)
{
	return span_make(m->data + p->hdr_off, p->body_off - p->hdr_off);
}

struct span
mime_part_body(const struct mime_message *m, const struct mime_part *p)
{
	return span_make(m->data + p->body_off, p->end_off - p->body_off);
}

bool
mime_part_is(const struct mime_part *p, const char *type, const char *subtype)
{
	return strcmp(p->type, type) == 0 &&
	    (subtype == NULL || strcmp(p->subtype, subtype) == 0);
}

int
mime_part_decode(const struct mime_message *m, const struct mime_part *p,
    struct buf *out)
{
	struct span body = mime_part_body(m, p);

	if (p->flags & (MIME_PART_F_MULTIPART | MIME_PART_F_MESSAGE))
		return buf_append(out, body.p, body.len);
	return mime_decode_body(p->cte, body, out, NULL);
}

int
mime_part_text(const struct mime_message *m, const struct mime_part *p,
    struct buf *out)
{
	struct buf tmp;
	const char *cs = mime_param_get(p->params, "charset");
	int rc;

	if (cs == NULL || cs[0] == '\0')
		return mime_part_decode(m, p, out);
	buf_init(&tmp, out->max);
	if (mime_part_decode(m, p, &tmp) < 0) {
		buf_fini(&tmp);
		return -1;
	}
	rc = mime_charset_to_utf8(span_from_str(cs), buf_span(&tmp), out);
	if (rc == -2)
		rc = buf_append(out, tmp.data, tmp.len);
	buf_fini(&tmp);
	return rc;
}

const char *
mime_part_filename(struct mime_message *m, struct mime_part *p)
{
	const struct mime_param *fp = NULL;
	struct mime_param *dparams;
	const char *dtype;

	if (p->f_disp.p != NULL) {
		mime_disposition_parse(p->f_disp, m->arena, &dtype, &dparams);
		fp = mime_param_find(dparams, "filename");
	}
	if (fp == NULL)
		fp = mime_param_find(p->params, "name");
	if (fp == NULL)
		return NULL;
	/* many mailers put RFC 2047 words inside plain quoted parameters;
	 * an RFC 2231 value is already decoded */
	if (!fp->is_2231 && strstr(fp->value, "=?") != NULL)
		return mime_header_decode_a(m->arena, span_from_str(fp->value));
	return fp->value;
}

/* ---- IMAP sections ---- */

static bool
kw(const char **sp, const char *word)
{
	const char *s = *sp;

	for (; *word != '\0'; word++, s++) {
		if (ascii_toupper((unsigned char)*s) != *word)
			return false;
	}
	*sp = s;
	return true;
}

int
mime_section_find(const struct mime_message *m, const char *section,
    struct mime_section *r)
{
	const struct mime_part *p = m->root;
	const char *s = section;
	bool numbered = false, at_body = false;

	memset(r, 0, sizeof(*r));
	while (ascii_isdigit(*s)) {
		unsigned long n = 0;

		if (*s == '0')
			return -1;
		while (ascii_isdigit(*s)) {
			n = n * 10 + (unsigned long)(*s - '0');
			if (n > 1000000)
				return -1;
			s++;
		}
		/* entering a message/rfc822 part: its inner message */
		if (numbered && (p->flags & MIME_PART_F_MESSAGE)) {
			p = p->children;
			at_body = false;
		} else if (at_body)
			return -1;
		if (p->flags & MIME_PART_F_MULTIPART) {
			const struct mime_part *c = p->children;

			while (c != NULL && --n > 0)
				c = c->next;
			if (c == NULL)
				return -1;
			p = c;
		} else {
			if (n != 1)
				return -1;
			at_body = true;
		}
		numbered = true;
		if (*s == '.' && ascii_isdigit(s[1]))
			s++;
		else
			break;
	}
	if (numbered && *s != '\0') {
		if (*s != '.' || s[1] == '\0')
			return -1;
		s++;
	}
	r->part = p;
	if (*s == '\0') {
		if (!numbered) {
			r->kind = MIME_SECTION_ALL;
			r->off = 0;
			r->len = m->len;
		} else {
			r->kind = MIME_SECTION_PART;
			r->off = p->body_off;
			r->len = p->end_off - p->body_off;
		}
		return 0;
	}
	if (kw(&s, "MIME")) {
		if (!numbered || *s != '\0')
			return -1;
		r->kind = MIME_SECTION_MIME;
		r->off = p->hdr_off;
		r->len = p->body_off - p->hdr_off;
		return 0;
	}
	/* HEADER and TEXT of a numbered part need a message/rfc822 one */
	if (numbered) {
		if (!(p->flags & MIME_PART_F_MESSAGE))
			return -1;
		p = p->children;
		r->part = p;
	}
	if (kw(&s, "HEADER")) {
		r->kind = MIME_SECTION_HEADER;
		if (kw(&s, ".FIELDS")) {
			r->kind = MIME_SECTION_HEADER_FIELDS;
			if (kw(&s, ".NOT"))
				r->kind = MIME_SECTION_HEADER_FIELDS_NOT;
			if (*s != '\0' && *s != ' ')
				return -1;
		} else if (*s != '\0')
			return -1;
		r->off = p->hdr_off;
		r->len = p->body_off - p->hdr_off;
		return 0;
	}
	if (kw(&s, "TEXT") && *s == '\0') {
		r->kind = MIME_SECTION_TEXT;
		r->off = p->body_off;
		r->len = p->end_off - p->body_off;
		return 0;
	}
	return -1;
}

int
mime_header_filter(struct span hdr, const char *const *names, size_t n,
    bool not, struct buf *out)
{
	struct mime_field f;
	size_t pos = 0, i;

	while (mime_header_next(hdr, &pos, &f)) {
		bool hit = false;

		for (i = 0; i < n && !hit; i++)
			hit = span_eq_str_ci(f.name, names[i]);
		if (hit != not && buf_append(out, f.raw.p, f.raw.len) < 0)
			return -1;
	}
	return buf_append(out, "\r\n", 2);
}

/* ---- dump ---- */

static int
dump_str(struct buf *out, const char *s)
{
	/* escape so each part stays one line of blank-separated words */
	for (; *s != '\0'; s++) {
		uint8_t c = (uint8_t)*s;

		if (c <= 0x20 || c == '\\' || c == 0x7f) {
			if (buf_printf(out, "\\x%02x", c) < 0)
				return -1;
		} else if (buf_append_byte(out, c) < 0)
			return -1;
	}
	return 0;
}

static int
dump_part(struct mime_message *m, struct mime_part *p, const char *sec,
    bool bodies, struct buf *out)
{
	struct mime_param *pa;
	const char *fn;
	struct mime_part *c;
	unsigned i;

	if (buf_printf(out, "part %s %s/%s cte=%s hdr=%zu body=%zu end=%zu "
	    "vsize=%zu lines=%zu flags=%#x", sec[0] ? sec : "-", p->type,
	    p->subtype, mime_cte_name(p->cte), p->hdr_off, p->body_off,
	    p->end_off, p->body_vsize, p->body_lines, p->flags) < 0)
		return -1;
	for (pa = p->params; pa != NULL; pa = pa->next) {
		if (buf_printf(out, " param:%s=", pa->name) < 0 ||
		    dump_str(out, pa->value) < 0)
			return -1;
	}
	if ((fn = mime_part_filename(m, p)) != NULL &&
	    (buf_append_str(out, " filename=") < 0 || dump_str(out, fn) < 0))
		return -1;
	if (bodies && !(p->flags & (MIME_PART_F_MULTIPART |
	    MIME_PART_F_MESSAGE))) {
		struct buf b;
		size_t k;

		buf_init(&b, p->end_off - p->body_off + 16);
		if (mime_part_decode(m, p, &b) < 0) {
			buf_fini(&b);
			return -1;
		}
		if (buf_append_str(out, " data=") < 0)
			return -1;
		for (k = 0; k < b.len; k++) {
			if (buf_printf(out, "%02x", b.data[k]) < 0) {
				buf_fini(&b);
				return -1;
			}
		}
		buf_fini(&b);
	}
	if (buf_append_byte(out, '\n') < 0)
		return -1;
	for (c = p->children, i = 1; c != NULL; c = c->next, i++) {
		/* the inner message of a message/rfc822 part shares its
		 * number, as in IMAP; show it with ".msg" */
		const char *sub = (p->flags & MIME_PART_F_MESSAGE) ?
		    arena_printf(m->arena, "%s%smsg", sec, sec[0] ? "." : "") :
		    arena_printf(m->arena, "%s%s%u", sec, sec[0] ? "." : "", i);

		if (dump_part(m, c, sub, bodies, out) < 0)
			return -1;
	}
	return 0;
}

int
mime_dump(struct mime_message *m, bool bodies, struct buf *out)
{
	return dump_part(m, m->root, "", bodies, out);
}
