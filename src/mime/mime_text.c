/*
 * mime_text.c - the searchable text of a message (header and body) for
 * IMAP SEARCH (RFC 9051 section 6.4.4) and the full-text index.
 *
 * Walks the tree of mime_parse() in document order: the top-level header
 * goes to one buffer, every text part (decoded: RFC 2045 transfer
 * encodings, RFC 2047 words, charsets to UTF-8), the header and text of
 * each message/rfc822 part inside, and the file names of other parts go
 * to the other.  Sees untrusted input (every delivered message); the
 * output is bounded by the callers' buffer ceilings, and a part is decoded
 * into scratch buffers no larger than the room left, so a 50 MiB base64
 * attachment costs nothing past the ceiling.
 */
#include "mime/mime_text.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "lib/buf.h"
#include "mime/mime_decode.h"
#include "mime/mime_header.h"
#include "mime/mime_parse.h"

struct text_out {
	struct buf	*b;
	bool		 full;		/* the ceiling was reached */
};

static size_t
room(const struct text_out *o)
{
	return o->b->max - o->b->len;
}

/* utf8_cut - the longest prefix of p[0..n) not ending inside a UTF-8
 * sequence (bytes that are not UTF-8 at all are left alone) */
static size_t
utf8_cut(const uint8_t *p, size_t n)
{
	size_t i = n, back = 0;

	while (i > 0 && back < 4 && (p[i - 1] & 0xc0) == 0x80) {
		i--;
		back++;
	}
	if (i == 0 || p[i - 1] < 0xc0)
		return n;	/* ASCII or not UTF-8: nothing to trim */
	/* p[i - 1] leads a sequence of need bytes; back of them follow */
	{
		uint8_t c = p[i - 1];
		size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;

		if (back + 1 >= need)
			return n;
		return i - 1;
	}
}

/* put - appends what fits; NUL bytes become blanks (they cannot be
 * searched for and would upset C-string consumers of the index) */
static void
put(struct text_out *o, const void *p, size_t n)
{
	size_t r = room(o), i, start;
	uint8_t *z;

	if (o->full)
		return;
	if (n > r) {
		n = utf8_cut(p, r);
		o->full = true;
	}
	start = o->b->len;
	if (n == 0 || buf_append(o->b, p, n) < 0)
		return;
	for (i = start; (z = memchr(o->b->data + i, '\0', o->b->len - i)) !=
	    NULL; i = (size_t)(z - o->b->data) + 1)
		*z = ' ';
}

static void
put_str(struct text_out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* sep - the "\n" between two parts' contributions */
static void
sep(struct text_out *o)
{
	if (o->b->len > 0 && o->b->data[o->b->len - 1] != '\n')
		put(o, "\n", 1);
}

/* header_text - "Name: value\n" for every field of hdr, values unfolded
 * and RFC 2047-decoded */
static void
header_text(struct span hdr, struct text_out *o)
{
	struct mime_field f;
	struct buf v;
	size_t pos = 0;

	while (!o->full && mime_header_next(hdr, &pos, &f)) {
		put(o, f.name.p, f.name.len);
		put(o, ": ", 2);
		/* decoding gives at most four bytes per input byte */
		buf_init(&v, f.value.len * 4 + 64);
		if (mime_header_decode(f.value, &v) < 0)
			o->full = true;
		put(o, v.data, v.len);
		buf_fini(&v);
		put(o, "\n", 1);
	}
}

/*
 * body_prefix - the part of a body worth decoding when room bytes are
 * left: every decoder gives at most one byte per input byte and
 * quoted-printable at worst one per three, so three times the room (cut
 * at a line end, where no encoding splits a unit) fills it in all but
 * pathological cases, and a 50 MiB part costs no more than a small one
 */
static struct span
body_prefix(struct span body, size_t r)
{
	size_t want = r > (SIZE_MAX - 1024) / 3 ? SIZE_MAX : r * 3 + 1024;
	size_t n;

	if (body.len <= want)
		return body;
	for (n = want; n > 0 && body.p[n - 1] != '\n'; n--)
		;
	return span_make(body.p, n > 0 ? n : want);
}

/* put_text - text of a part; uuencoded blocks inside plain text (old
 * mailers' attachments) count as attachments: their file name only */
static void
put_text(struct text_out *o, const uint8_t *p, size_t n)
{
	struct span rest = span_make(p, n), block, name;

	while (rest.len > 0 && memmem(rest.p, rest.len, "begin ", 6) != NULL &&
	    mime_uu_find(rest, &block, &name)) {
		put(o, rest.p, (size_t)(block.p - rest.p));
		put(o, name.p, name.len);
		put(o, "\n", 1);
		rest.len -= (size_t)(block.p + block.len - rest.p);
		rest.p = block.p + block.len;
	}
	put(o, rest.p, rest.len);
}

/* leaf_text - the decoded, UTF-8 text of a leaf part */
static void
leaf_text(const struct mime_message *m, const struct mime_part *p,
    struct text_out *o)
{
	const char *cs = mime_param_get(p->params, "charset");
	struct span in = body_prefix(mime_part_body(m, p), room(o));
	struct buf raw, utf;
	int rc;

	/* decoded output is never longer than its input */
	buf_init(&raw, in.len + 64);
	if (p->flags & (MIME_PART_F_MULTIPART | MIME_PART_F_MESSAGE))
		rc = buf_append(&raw, in.p, in.len);
	else
		rc = mime_decode_body(p->cte, in, &raw, NULL);
	if (rc < 0 || cs == NULL || cs[0] == '\0') {
		put_text(o, raw.data, raw.len);
		buf_fini(&raw);
		return;
	}
	/* no charset takes more than four UTF-8 bytes per input byte */
	buf_init(&utf, raw.len > (SIZE_MAX - 64) / 4 ? SIZE_MAX :
	    raw.len * 4 + 64);
	rc = mime_charset_to_utf8(span_from_str(cs), buf_span(&raw), &utf);
	if (rc == -2)
		put_text(o, raw.data, raw.len);	/* unknown charset */
	else
		put_text(o, utf.data, utf.len);	/* all, or a prefix */
	buf_fini(&utf);
	buf_fini(&raw);
}

/* part_text - one part's own contribution (not its children's) */
static void
part_text(struct mime_message *m, struct mime_part *p, struct text_out *o)
{
	const char *name;

	/* the header of a message inside a message/rfc822 part */
	if (p->parent != NULL && (p->parent->flags & MIME_PART_F_MESSAGE)) {
		sep(o);
		header_text(mime_part_header(m, p), o);
	}
	if (p->children != NULL)
		return;	/* multipart or message: children speak */
	name = mime_part_filename(m, p);
	if (name != NULL && name[0] != '\0') {
		sep(o);
		put_str(o, name);
		put(o, "\n", 1);
	}
	if (mime_part_is(p, "text", NULL) ||
	    (p->flags & (MIME_PART_F_MULTIPART | MIME_PART_F_MESSAGE))) {
		/* text, or a multipart/message that a limit left opaque:
		 * its raw body may still hold text worth finding */
		sep(o);
		leaf_text(m, p, o);
	}
}

/* next_part - pre-order successor of p in the tree, or NULL */
static struct mime_part *
next_part(struct mime_part *p)
{
	if (p->children != NULL)
		return p->children;
	while (p != NULL && p->next == NULL)
		p = p->parent;
	return p != NULL ? p->next : NULL;
}

int
mime_text_extract(const void *data, size_t len, struct buf *header,
    struct buf *body)
{
	struct mime_message *m;
	struct mime_part *p;
	struct text_out o;

	if ((m = mime_parse(data, len, NULL)) == NULL || m->root == NULL) {
		mime_message_free(&m);
		return -1;
	}
	if (header != NULL) {
		o.b = header;
		o.full = false;
		header_text(mime_part_header(m, m->root), &o);
	}
	if (body != NULL) {
		o.b = body;
		o.full = false;
		for (p = m->root; p != NULL && !o.full; p = next_part(p))
			part_text(m, p, &o);
	}
	mime_message_free(&m);
	return 0;
}
