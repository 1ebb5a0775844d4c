/*
 * imap_fetch.c - the data items of one FETCH response.
 *
 * RFC 9051 sections 6.4.5 and 7.5.2 (RFC 3501 for the rev1 items),
 * RFC 3516 (BINARY, BINARY.SIZE, literal8), RFC 7162 (MODSEQ).  The
 * message bytes are untrusted: they are never copied raw into the
 * response outside a literal, and every size written in front of a
 * literal is the exact count of the bytes that follow.
 *
 * Choices made to agree with Dovecot 2.3 byte for byte (checked against
 * tests/data/mime/dovecot/NAME.fetch-*):
 * - every BODY[...] and BINARY[...] value is a literal, also when empty
 *   ("{0}"), so that 8-bit bytes and line breaks never need a decision;
 * - messages are served with CRLF line ends: a bare LF goes out as CRLF,
 *   both in the data and in the sizes and partial offsets (the same
 *   counting as RFC822.SIZE); a bare CR is left alone;
 * - a NUL byte, which a {n} literal may not carry (RFC 9051 section 4.3),
 *   goes out as 0x80 in BODY[]; BINARY[] keeps it and uses literal8;
 * - BINARY of a base64 or quoted-printable part is always a literal8,
 *   other parts only when the content holds a NUL;
 * - a section naming a part that does not exist is an empty literal.
 */
#include "imap/imap_fetch.h"

#include <stdio.h>
#include <string.h>

#include "lib/ascii.h"
#include "lib/log.h"
#include "mime/mime_imap.h"
#include "mime/mime_parse.h"
#include "store/mailstore.h"

struct fetch_ctx {
	const struct imap_fetch_msg	*m;
	struct mime_message		*mm;	/* parsed on first need */
	struct buf			*out;
	const char			*error;
	bool				 unknown_cte;
};

/* ---- predicates ---- */

static bool
att_needs_data(const struct imap_fetch_att *a, const struct imap_fetch_msg *m)
{
	switch (a->type) {
	case IMAP_FETCH_ENVELOPE:
		return m->envelope == NULL;
	case IMAP_FETCH_BODY:
		return m->body == NULL;
	case IMAP_FETCH_BODYSTRUCTURE:
		return m->bodystructure == NULL;
	case IMAP_FETCH_BODY_SECTION:
	case IMAP_FETCH_BINARY:
	case IMAP_FETCH_BINARY_SIZE:
	case IMAP_FETCH_RFC822:
	case IMAP_FETCH_RFC822_HEADER:
	case IMAP_FETCH_RFC822_TEXT:
		return true;
	default:
		return false;
	}
}

bool
imap_fetch_needs_data(const struct imap_fetch_att *atts, unsigned n,
    const struct imap_fetch_msg *m)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (att_needs_data(&atts[i], m))
			return true;
	}
	return false;
}

bool
imap_fetch_sets_seen(const struct imap_fetch_att *atts, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		switch (atts[i].type) {
		case IMAP_FETCH_BODY_SECTION:
		case IMAP_FETCH_BINARY:
			if (!atts[i].is_peek)
				return true;
			break;
		case IMAP_FETCH_RFC822:
		case IMAP_FETCH_RFC822_TEXT:
			return true;
		default:
			break;
		}
	}
	return false;
}

/* ---- simple items ---- */

int
imap_fetch_flags(struct buf *out, unsigned flags, const char *keywords,
    bool recent)
{
	/* Dovecot's order, so that transcripts compare */
	static const struct {
		unsigned	 flag;
		const char	*name;
	} sys[] = {
		{ MAILSTORE_F_ANSWERED, "\\Answered" },
		{ MAILSTORE_F_FLAGGED, "\\Flagged" },
		{ MAILSTORE_F_DELETED, "\\Deleted" },
		{ MAILSTORE_F_SEEN, "\\Seen" },
		{ MAILSTORE_F_DRAFT, "\\Draft" },
	};
	bool first = true;
	size_t i;

	if (buf_append_byte(out, '(') < 0)
		return -1;
	for (i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
		if (!(flags & sys[i].flag))
			continue;
		if ((!first && buf_append_byte(out, ' ') < 0) ||
		    buf_append_str(out, sys[i].name) < 0)
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
		size_t len;

		while (*keywords == ' ')
			keywords++;
		len = strcspn(keywords, " ");
		if (len == 0)
			break;
		if ((!first && buf_append_byte(out, ' ') < 0) ||
		    buf_append(out, keywords, len) < 0)
			return -1;
		first = false;
		keywords += len;
	}
	return buf_append_byte(out, ')');
}

/* internaldate - "dd-Mon-yyyy hh:mm:ss +0000", locale-free */
static int
internaldate(struct buf *out, time_t t)
{
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_mon < 0 || tm.tm_mon > 11)
		return buf_append_str(out, "\"01-Jan-1970 00:00:00 +0000\"");
	return buf_printf(out, "\"%02d-%s-%04d %02d:%02d:%02d +0000\"",
	    tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
}

/* ---- message bytes ---- */

static struct mime_message *
parsed(struct fetch_ctx *c)
{
	if (c->mm == NULL)
		c->mm = mime_parse(c->m->data.p, c->m->data.len, NULL);
	return c->mm;
}

/* is_bare_lf - base[i] is a LF not preceded by a CR */
static inline bool
is_bare_lf(const uint8_t *base, size_t i)
{
	return base[i] == '\n' && (i == 0 || base[i - 1] != '\r');
}

/*
 * crlf_size - the size of base[off, off+len) with every bare LF counted
 * as CRLF (whether a LF is bare looks at the byte before the range too,
 * so a section is always a piece of the whole converted message).
 */
static size_t
crlf_size(const uint8_t *base, size_t off, size_t len)
{
	const uint8_t *p, *end, *lf;
	size_t n = len;

	if (len == 0)	/* base may be NULL for an empty message */
		return 0;
	p = base + off;
	end = p + len;
	while (p < end && (lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (is_bare_lf(base, (size_t)(lf - base)))
			n++;
		p = lf + 1;
	}
	return n;
}

/*
 * put - appends the converted window [vlo, vhi) of base[off, off+len):
 * bare LF as CRLF, NUL as 0x80 unless keep_nul.  Only the bytes in the
 * window are copied.  Returns 0 or -1 at the ceiling.
 */
static int
put(struct buf *out, const uint8_t *base, size_t off, size_t len,
    size_t vsize, size_t vlo, size_t vhi, bool keep_nul)
{
	uint8_t *w, *w0;
	size_t i, v;

	if (vhi == vlo)
		return 0;
	if ((w = buf_reserve(out, vhi - vlo)) == NULL)
		return -1;
	w0 = w;
	if (vsize == len) {
		/* no bare LF: the window is a plain slice */
		memcpy(w, base + off + vlo, vhi - vlo);
		if (!keep_nul) {
			for (i = 0; i < vhi - vlo; i++)
				if (w[i] == 0)
					w[i] = 0x80;
		}
	} else {
		for (i = off, v = 0; v < vhi; i++) {
			uint8_t ch = base[i];

			if (is_bare_lf(base, i)) {
				if (v >= vlo)
					*w++ = '\r';
				v++;
				if (v >= vhi)
					break;
			}
			if (v >= vlo)
				*w++ = ch == 0 && !keep_nul ? 0x80 : ch;
			v++;
		}
		ASSERT((size_t)(w - w0) == vhi - vlo);
	}
	out->len += vhi - vlo;
	out->data[out->len] = '\0';
	return 0;
}

/*
 * literal - the string base[off, off+len) as a literal ({n}, or ~{n}
 * if literal8), converted as put() does and cut to the partial window
 * [origin, origin+count) of the converted bytes.
 */
static int
literal(struct buf *out, const uint8_t *base, size_t off, size_t len,
    bool has_partial, uint64_t origin, uint64_t count, bool keep_nul,
    bool literal8)
{
	size_t vsize = crlf_size(base, off, len), vlo = 0, vhi = vsize;

	if (has_partial) {
		vlo = origin < vsize ? (size_t)origin : vsize;
		vhi = count < vsize - vlo ? vlo + (size_t)count : vsize;
	}
	if (buf_printf(out, "%s{%zu}\r\n", literal8 ? "~" : "",
	    vhi - vlo) < 0)
		return -1;
	return put(out, base, off, len, vsize, vlo, vhi, keep_nul);
}

/* ---- section names ---- */

static bool
is_plain_name_char(uint8_t ch)
{
	return ch > 0x20 && ch < 0x7f && ch != '(' && ch != ')' &&
	    ch != '{' && ch != '%' && ch != '*' && ch != '"' && ch != '\\' &&
	    ch != ']';
}

/* field_name - a header field name echoed as an astring, uppercase */
static int
field_name(struct buf *out, struct span f)
{
	bool plain = f.len > 0, quotable = true;
	size_t i;

	for (i = 0; i < f.len; i++) {
		if (!is_plain_name_char(f.p[i]))
			plain = false;
		if (f.p[i] >= 0x80 || f.p[i] == '\r' || f.p[i] == '\n' ||
		    f.p[i] == 0)
			quotable = false;
	}
	if (!plain && !quotable) {
		if (buf_printf(out, "{%zu}\r\n", f.len) < 0)
			return -1;
	} else if (!plain && buf_append_byte(out, '"') < 0)
		return -1;
	for (i = 0; i < f.len; i++) {
		uint8_t ch = (uint8_t)ascii_toupper(f.p[i]);

		if (!plain && quotable && (ch == '"' || ch == '\\') &&
		    buf_append_byte(out, '\\') < 0)
			return -1;
		if (buf_append_byte(out, ch) < 0)
			return -1;
	}
	if (!plain && quotable && buf_append_byte(out, '"') < 0)
		return -1;
	return 0;
}

static const char *
section_text_name(enum imap_section_text t)
{
	switch (t) {
	case IMAP_SECTION_HEADER:
		return "HEADER";
	case IMAP_SECTION_HEADER_FIELDS:
		return "HEADER.FIELDS";
	case IMAP_SECTION_HEADER_FIELDS_NOT:
		return "HEADER.FIELDS.NOT";
	case IMAP_SECTION_TEXT:
		return "TEXT";
	case IMAP_SECTION_MIME:
		return "MIME";
	default:
		return "";
	}
}

/* section_name - "BODY[1.HEADER.FIELDS (A B)]<origin>" */
static int
section_name(struct buf *out, const char *item, const struct imap_fetch_att *a)
{
	const struct imap_section *s = &a->section;
	unsigned i;

	if (buf_printf(out, "%s[", item) < 0)
		return -1;
	for (i = 0; i < s->nparts; i++) {
		if (buf_printf(out, "%s%u", i > 0 ? "." : "",
		    (unsigned)s->parts[i]) < 0)
			return -1;
	}
	if (s->text != IMAP_SECTION_NONE &&
	    buf_printf(out, "%s%s", s->nparts > 0 ? "." : "",
	    section_text_name(s->text)) < 0)
		return -1;
	if (s->text == IMAP_SECTION_HEADER_FIELDS ||
	    s->text == IMAP_SECTION_HEADER_FIELDS_NOT) {
		if (buf_append_str(out, " (") < 0)
			return -1;
		for (i = 0; i < s->nfields; i++) {
			if ((i > 0 && buf_append_byte(out, ' ') < 0) ||
			    field_name(out, s->fields[i]) < 0)
				return -1;
		}
		if (buf_append_byte(out, ')') < 0)
			return -1;
	}
	if (buf_append_byte(out, ']') < 0)
		return -1;
	if (a->has_partial &&
	    buf_printf(out, "<%llu>", (unsigned long long)a->partial_offset) < 0)
		return -1;
	return buf_append_byte(out, ' ');
}

/* ---- BODY[section] ---- */

/*
 * is_message - a part whose body is a message that sections enter:
 * message/rfc822 with an unencoded body, as BODYSTRUCTURE shows it
 * (message/global is a plain leaf there, and so here; Dovecot agrees).
 */
static bool
is_message(const struct mime_part *p)
{
	return (p->flags & MIME_PART_F_MESSAGE) && p->children != NULL &&
	    mime_part_is(p, "message", "rfc822");
}

/*
 * find - the byte range a section names (RFC 9051 section 6.4.5), in
 * the MIME library's parse; false if it names nothing (the value is
 * then an empty string).  Part numbers: the children of a multipart;
 * after a message/rfc822 part, the parts of the message inside; "1" of a
 * part that is neither is the part itself (its body), and nothing lies
 * below that.  A multipart without a usable boundary has, as its
 * BODYSTRUCTURE says, one empty part.  HEADER, TEXT and HEADER.FIELDS
 * after a number need a message/rfc822 part; MIME needs a number.
 */
static bool
find(struct fetch_ctx *c, const struct imap_section *s,
    struct mime_section *r)
{
	const struct mime_message *mm = parsed(c);
	const struct mime_part *p = mm->root, *ch;
	bool at_body = false;
	unsigned i;
	uint32_t n;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < s->nparts; i++) {
		n = s->parts[i];
		if (i > 0 && is_message(p)) {
			p = p->children;
			at_body = false;
		} else if (at_body) {
			return false;
		}
		if (p->flags & MIME_PART_F_MULTIPART) {
			for (ch = p->children; ch != NULL && n > 1; n--)
				ch = ch->next;
			if (ch == NULL)
				return false;
			p = ch;
		} else if (p->flags & MIME_PART_F_NO_BOUNDARY) {
			return false;
		} else if (n != 1) {
			return false;
		} else {
			at_body = true;
		}
	}
	r->part = p;
	switch (s->text) {
	case IMAP_SECTION_NONE:
		if (s->nparts == 0) {
			r->kind = MIME_SECTION_ALL;
			r->len = mm->len;
		} else {
			r->kind = MIME_SECTION_PART;
			r->off = p->body_off;
			r->len = p->end_off - p->body_off;
		}
		return true;
	case IMAP_SECTION_MIME:
		if (s->nparts == 0)
			return false;
		r->kind = MIME_SECTION_MIME;
		r->off = p->hdr_off;
		r->len = p->body_off - p->hdr_off;
		return true;
	default:
		break;
	}
	if (s->nparts > 0) {
		if (!is_message(p))
			return false;
		p = p->children;
		r->part = p;
	}
	if (s->text == IMAP_SECTION_TEXT) {
		r->kind = MIME_SECTION_TEXT;
		r->off = p->body_off;
		r->len = p->end_off - p->body_off;
	} else {
		r->kind = MIME_SECTION_HEADER;
		r->off = p->hdr_off;
		r->len = p->body_off - p->hdr_off;
	}
	return true;
}

/*
 * filter_fields - HEADER.FIELDS[.NOT]: the chosen fields, then an empty
 * line, except (as Dovecot) when nothing was chosen from a header that
 * had no empty line either.
 */
static int
filter_fields(struct span hdr, bool has_end, const struct imap_section *s,
    struct buf *tmp)
{
	bool not = s->text == IMAP_SECTION_HEADER_FIELDS_NOT;
	struct mime_field f;
	size_t pos = 0;
	unsigned i;

	while (mime_header_next(hdr, &pos, &f)) {
		bool hit = false;

		for (i = 0; i < s->nfields && !hit; i++)
			hit = span_eq_ci(f.name, s->fields[i]);
		if (hit != not && buf_append(tmp, f.raw.p, f.raw.len) < 0)
			return -1;
	}
	if (tmp->len == 0 && !has_end)
		return 0;
	return buf_append(tmp, "\r\n", 2);
}

static int
body_section(struct fetch_ctx *c, const char *item,
    const struct imap_fetch_att *a)
{
	const struct imap_section *s = &a->section;
	struct mime_section r;
	struct buf tmp;
	int rc;

	if (section_name(c->out, item, a) < 0)
		return -1;
	if (!find(c, s, &r))
		return buf_append_str(c->out, "{0}\r\n");
	if (s->text != IMAP_SECTION_HEADER_FIELDS &&
	    s->text != IMAP_SECTION_HEADER_FIELDS_NOT)
		return literal(c->out, c->m->data.p, r.off, r.len,
		    a->has_partial, a->partial_offset, a->partial_len, false,
		    false);
	buf_init(&tmp, c->out->max);
	rc = filter_fields(span_make(c->m->data.p + r.off, r.len),
	    !(r.part->flags & MIME_PART_F_NO_HEADER_END), s, &tmp);
	if (rc == 0)
		rc = literal(c->out, tmp.data, 0, tmp.len, a->has_partial,
		    a->partial_offset, a->partial_len, false, false);
	buf_fini(&tmp);
	return rc;
}

/* the rev1 items: RFC822 = BODY[], RFC822.HEADER = BODY.PEEK[HEADER],
 * RFC822.TEXT = BODY[TEXT] (RFC 3501 section 6.4.5) */
static int
rfc822_item(struct fetch_ctx *c, const char *item, enum imap_section_text t)
{
	struct imap_section s;
	struct mime_section r;

	memset(&s, 0, sizeof(s));
	s.text = t;
	if (buf_printf(c->out, "%s ", item) < 0)
		return -1;
	if (!find(c, &s, &r))
		return buf_append_str(c->out, "{0}\r\n");
	return literal(c->out, c->m->data.p, r.off, r.len, false, 0, 0,
	    false, false);
}

/* ---- BINARY ---- */

/*
 * binary_content - the decoded content of a section into tmp, and whether
 * it goes as a literal8.  Returns 0, 1 for an unknown transfer encoding,
 * -1 at a ceiling.  An empty section (a part that does not exist) gives 0
 * with tmp empty.
 */
static int
binary_content(struct fetch_ctx *c, const struct imap_section *s,
    struct buf *tmp, bool *literal8_r)
{
	const uint8_t *data = c->m->data.p;
	struct mime_section r;
	struct buf crlf;
	struct span src;
	enum mime_cte cte;
	size_t vsize;
	int rc;

	*literal8_r = false;
	if (!find(c, s, &r))
		return 0;
	cte = MIME_CTE_7BIT;
	if (r.kind == MIME_SECTION_PART &&
	    !(r.part->flags & (MIME_PART_F_MULTIPART | MIME_PART_F_MESSAGE)))
		cte = r.part->cte;
	if (cte == MIME_CTE_UNKNOWN)
		return 1;
	/* the content with CRLF line ends first: a hard line break of
	 * quoted-printable or of an unencoded part is CRLF on the wire,
	 * whatever the stored form (an encoded =0A stays a LF) */
	vsize = crlf_size(data, r.off, r.len);
	buf_init(&crlf, vsize);
	if (vsize == r.len) {
		/* already CRLF throughout (the usual case): no copy */
		src = span_make(data + r.off, r.len);
	} else {
		if (put(&crlf, data, r.off, r.len, vsize, 0, vsize, true) < 0) {
			buf_fini(&crlf);
			return -1;
		}
		src = buf_span(&crlf);
	}
	switch (cte) {
	case MIME_CTE_BASE64:
	case MIME_CTE_QP:
	case MIME_CTE_UUENCODE:
		*literal8_r = true;
		rc = mime_decode_body(cte, src, tmp, NULL);
		break;
	default:
		rc = buf_append(tmp, src.p, src.len);
		break;
	}
	buf_fini(&crlf);
	if (rc < 0)
		return -1;
	if (tmp->len > 0 && memchr(tmp->data, 0, tmp->len) != NULL)
		*literal8_r = true;
	return 0;
}

/* raw_literal - decoded bytes as they are, cut to the partial window */
static int
raw_literal(struct buf *out, const uint8_t *p, size_t len,
    const struct imap_fetch_att *a, bool literal8)
{
	size_t lo = 0, hi = len;

	if (a->has_partial) {
		lo = a->partial_offset < len ? (size_t)a->partial_offset : len;
		hi = a->partial_len < len - lo ? lo + (size_t)a->partial_len :
		    len;
	}
	if (buf_printf(out, "%s{%zu}\r\n", literal8 ? "~" : "", hi - lo) < 0)
		return -1;
	return hi > lo ? buf_append(out, p + lo, hi - lo) : 0;
}

static int
binary_item(struct fetch_ctx *c, const struct imap_fetch_att *a)
{
	struct buf tmp;
	bool literal8;
	int rc;

	buf_init(&tmp, c->out->max);
	rc = binary_content(c, &a->section, &tmp, &literal8);
	if (rc == 1) {
		c->unknown_cte = true;
	} else if (rc == 0) {
		if (a->type == IMAP_FETCH_BINARY_SIZE) {
			rc = section_name(c->out, "BINARY.SIZE", a);
			if (rc == 0)
				rc = buf_printf(c->out, "%zu", tmp.len);
		} else {
			rc = section_name(c->out, "BINARY", a);
			if (rc == 0)
				rc = raw_literal(c->out, tmp.data, tmp.len,
				    a, literal8);
		}
	}
	buf_fini(&tmp);
	return rc;
}

/* ---- one item ---- */

static int
cached_or_computed(struct fetch_ctx *c, const char *item, const char *cached,
    enum imap_fetch_type t)
{
	struct mime_message *mm;

	if (buf_printf(c->out, "%s ", item) < 0)
		return -1;
	if (cached != NULL)
		return buf_append_str(c->out, cached);
	mm = parsed(c);
	if (t == IMAP_FETCH_ENVELOPE)
		return mime_imap_envelope(mm, mm->root, c->out);
	return mime_imap_bodystructure(mm, mm->root,
	    t == IMAP_FETCH_BODYSTRUCTURE, c->out);
}

static int
render_att(struct fetch_ctx *c, const struct imap_fetch_att *a,
    const struct imap_fetch_opts *o)
{
	const struct imap_fetch_msg *m = c->m;

	switch (a->type) {
	case IMAP_FETCH_FLAGS:
		return buf_append_str(c->out, "FLAGS ") < 0 ? -1 :
		    imap_fetch_flags(c->out, m->flags, m->keywords,
		    m->recent && !o->rev2);
	case IMAP_FETCH_INTERNALDATE:
		return buf_append_str(c->out, "INTERNALDATE ") < 0 ? -1 :
		    internaldate(c->out, m->internal_date);
	case IMAP_FETCH_RFC822_SIZE:
		return buf_printf(c->out, "RFC822.SIZE %llu",
		    (unsigned long long)m->size);
	case IMAP_FETCH_ENVELOPE:
		return cached_or_computed(c, "ENVELOPE", m->envelope, a->type);
	case IMAP_FETCH_BODY:
		return cached_or_computed(c, "BODY", m->body, a->type);
	case IMAP_FETCH_BODYSTRUCTURE:
		return cached_or_computed(c, "BODYSTRUCTURE",
		    m->bodystructure, a->type);
	case IMAP_FETCH_BODY_SECTION:
		return body_section(c, "BODY", a);
	case IMAP_FETCH_BINARY:
	case IMAP_FETCH_BINARY_SIZE:
		return binary_item(c, a);
	case IMAP_FETCH_UID:
		return buf_printf(c->out, "UID %lu", (unsigned long)m->uid);
	case IMAP_FETCH_MODSEQ:
		return buf_printf(c->out, "MODSEQ (%llu)",
		    (unsigned long long)m->modseq);
	case IMAP_FETCH_RFC822:
		return rfc822_item(c, "RFC822", IMAP_SECTION_NONE);
	case IMAP_FETCH_RFC822_HEADER:
		return rfc822_item(c, "RFC822.HEADER", IMAP_SECTION_HEADER);
	case IMAP_FETCH_RFC822_TEXT:
		return rfc822_item(c, "RFC822.TEXT", IMAP_SECTION_TEXT);
	}
	c->error = "unknown FETCH item";
	return -1;
}

static bool
has_type(const struct imap_fetch_att *atts, unsigned n,
    enum imap_fetch_type t)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (atts[i].type == t)
			return true;
	return false;
}

int
imap_fetch_render(struct buf *out, const struct imap_fetch_msg *m,
    const struct imap_fetch_att *atts, unsigned n,
    const struct imap_fetch_opts *o, const char **error_r)
{
	static const struct imap_fetch_opts defaults;
	struct imap_fetch_att extra[3];
	struct fetch_ctx c;
	size_t start = out->len;
	unsigned nextra = 0, nfirst = 0, k;
	int rc = 0;

	if (o == NULL)
		o = &defaults;
	memset(&c, 0, sizeof(c));
	c.m = m;
	c.out = out;
	if (m->data.p == NULL && imap_fetch_needs_data(atts, n, m)) {
		/* the caller's bug, reported rather than rendered as an
		 * empty message */
		*error_r = "message data missing";
		return -1;
	}
	/* UID first (as Dovecot), then the items asked for, then FLAGS
	 * after an implicit \Seen and MODSEQ under CONDSTORE */
	memset(extra, 0, sizeof(extra));
	if (o->add_uid && !has_type(atts, n, IMAP_FETCH_UID)) {
		extra[nextra++].type = IMAP_FETCH_UID;
		nfirst = 1;
	}
	if (o->add_flags && !has_type(atts, n, IMAP_FETCH_FLAGS))
		extra[nextra++].type = IMAP_FETCH_FLAGS;
	if (o->add_modseq && !has_type(atts, n, IMAP_FETCH_MODSEQ))
		extra[nextra++].type = IMAP_FETCH_MODSEQ;

	if (buf_printf(out, "* %lu FETCH (", (unsigned long)m->seq) < 0)
		rc = -1;
	for (k = 0; rc == 0 && k < n + nextra; k++) {
		const struct imap_fetch_att *a;

		if (k < nfirst)
			a = &extra[k];
		else if (k < nfirst + n)
			a = &atts[k - nfirst];
		else
			a = &extra[k - n];
		if (k > 0 && buf_append_byte(out, ' ') < 0)
			rc = -1;
		else
			rc = render_att(&c, a, o);
		if (c.unknown_cte)
			break;
	}
	if (rc == 0 && !c.unknown_cte && buf_append_str(out, ")\r\n") < 0)
		rc = -1;
	mime_message_free(&c.mm);
	if (c.unknown_cte) {
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
		*error_r = "[UNKNOWN-CTE] Unknown Content-Transfer-Encoding";
		return 1;
	}
	if (rc < 0) {
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
		*error_r = c.error != NULL ? c.error :
		    "FETCH response too large";
		return -1;
	}
	return 0;
}
