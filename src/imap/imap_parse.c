/*
 * imap_parse.c - IMAP command reader (framing) and command parser.
 *
 * The reader frames commands: a command is a line, or several lines joined
 * by literals (RFC 9051 4.3, RFC 3501 4.3): {n} synchronizing (the owner
 * sends "+" first), {n+} non-synchronizing (RFC 7888 LITERAL+/LITERAL-),
 * ~{n} literal8 (RFC 3516).  Big APPEND literals are streamed to the
 * owner.  The parser reads the grammar of RFC 9051 section 9 (and RFC 3501
 * section 9) with CONDSTORE/QRESYNC (RFC 7162), LIST-EXTENDED/LIST-STATUS
 * (RFC 5258/5819), ESEARCH (RFC 4731), SEARCHRES (RFC 5182), UIDPLUS
 * (RFC 4315), MOVE (RFC 6851), ENABLE (RFC 5161), ID (RFC 2971), IDLE
 * (RFC 2177), COMPRESS (RFC 4978), NAMESPACE (RFC 2342), STATUS=SIZE
 * (RFC 8438), MULTIAPPEND (RFC 3502), SASL-IR (RFC 4959), UTF8=ACCEPT
 * (RFC 6855), BINARY (RFC 3516), QUOTA (RFC 9208), SORT/THREAD (RFC 5256),
 * SPECIAL-USE CREATE (RFC 6154).
 *
 * Untrusted input, before authentication: every length, count and depth
 * has a limit checked before buffering, allocating or recursing.
 */
#include "imap/imap_parse.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/ascii.h"
#include "lib/postino_limits.h"
#include "lib/strnum.h"
#include "lib/xmalloc.h"

/* ================================================================ reader */

enum imap_rstate {
	IMAP_RSTATE_LINE,		/* reading command text */
	IMAP_RSTATE_LITERAL,		/* buffering literal data */
	IMAP_RSTATE_STREAM,		/* passing literal data on */
	IMAP_RSTATE_DISCARD_LINE,	/* dropping to the end of a line */
	IMAP_RSTATE_DISCARD_LITERAL,	/* dropping refused {n+} data */
	IMAP_RSTATE_CLOSED,		/* after BYE */
};

#define IMAP_TAG_MAX	64	/* longer tags get an untagged BAD */
#define IMAP_TAIL_MAX	24	/* enough for "~{4294967295+}\r\n" */

struct imap_reader {
	struct imap_reader_limits lim, next_lim;
	enum imap_rstate	 state;
	struct buf		 buf;
	size_t			 line_start;	/* current line in buf */
	size_t			 text_len;	/* text of earlier lines */
	struct imap_literal	*lits;
	unsigned		 nlits, lits_cap;
	uint64_t		 remaining;
	bool			 done;		/* COMMAND went out */
	bool			 pending_begin;
	bool			 raw_line;
	uint8_t			 tag[IMAP_TAG_MAX];
	size_t			 tag_len;
	uint8_t			 tail[IMAP_TAIL_MAX];
	size_t			 tail_len;
};

void
imap_reader_limits_default(struct imap_reader_limits *l, bool prelogin,
    bool literal_minus)
{
	l->line_max = prelogin ? IMAP_MAX_LINE_PRELOGIN : IMAP_MAX_LINE;
	l->literal_max = IMAP_MAX_LITERAL;
	l->append_max = IMAP_MAX_APPEND;
	l->nonsync_max = literal_minus ? IMAP_MAX_LITERAL_MINUS : SIZE_MAX;
	l->command_max = IMAP_MAX_COMMAND;
	l->discard_max = IMAP_MAX_DISCARD;
	l->literals_max = IMAP_MAX_LITERALS;
	if (prelogin) {
		/* LOGIN takes two small strings; APPEND needs a login, so
		 * nothing streams and a big {n+} is a reason to hang up */
		l->literal_max = IMAP_MAX_LINE_PRELOGIN;
		l->append_max = 0;
		l->command_max = 4 * IMAP_MAX_LINE_PRELOGIN;
		l->discard_max = IMAP_MAX_LITERAL;
		l->literals_max = 16;
	}
}

static void
reader_apply_limits(struct imap_reader *r)
{
	r->lim = r->next_lim;
	r->buf.max = r->lim.command_max;
}

/*
 * lits_reserve - room for one more literal.  The table grows as literals
 * arrive (never past literals_max), so an idle session that never sent a
 * literal keeps none of it.
 */
static void
lits_reserve(struct imap_reader *r)
{
	unsigned cap;

	if (r->nlits < r->lits_cap)
		return;
	cap = r->lits_cap < 4 ? 4 : r->lits_cap * 2;
	if (cap > r->lim.literals_max)
		cap = r->lim.literals_max;
	r->lits = xreallocarray(r->lits, cap, sizeof(*r->lits));
	r->lits_cap = cap;
}

struct imap_reader *
imap_reader_new(const struct imap_reader_limits *l)
{
	struct imap_reader *r = xcalloc(1, sizeof(*r));

	r->next_lim = *l;
	buf_init(&r->buf, l->command_max);
	reader_apply_limits(r);
	r->state = IMAP_RSTATE_LINE;
	return r;
}

void
imap_reader_free(struct imap_reader **rp)
{
	struct imap_reader *r = *rp;

	if (r == NULL)
		return;
	/* a command may hold a LOGIN password */
	buf_fini_wipe(&r->buf);
	free(r->lits);
	free(r);
	*rp = NULL;
}

void
imap_reader_set_limits(struct imap_reader *r,
    const struct imap_reader_limits *l)
{
	r->next_lim = *l;
	if (r->buf.len == 0 && r->state == IMAP_RSTATE_LINE)
		reader_apply_limits(r);
}

void
imap_reader_expect_raw_line(struct imap_reader *r)
{
	r->raw_line = true;
}

static bool
is_tag_char(int c)
{
	return c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '{' &&
	    c != '%' && c != '*' && c != '"' && c != '\\' && c != '+';
}

/* reader_reset - forget the command in the buffer */
static void
reader_reset(struct imap_reader *r)
{
	if (r->buf.len > 0)
		explicit_wipe(r->buf.data, r->buf.len);
	buf_reset(&r->buf);
	r->nlits = 0;
	r->line_start = 0;
	r->text_len = 0;
	r->done = false;
	r->pending_begin = false;
	reader_apply_limits(r);
}

/* reader_save_tag - copy the tag out of the buffer for an error reply */
static void
reader_save_tag(struct imap_reader *r)
{
	size_t i;

	r->tag_len = 0;
	for (i = 0; i < r->buf.len && i <= IMAP_TAG_MAX; i++) {
		uint8_t c = r->buf.data[i];

		if (c == ' ') {
			if (i > 0 && i <= IMAP_TAG_MAX) {
				memcpy(r->tag, r->buf.data, i);
				r->tag_len = i;
			}
			return;
		}
		if (!is_tag_char(c))
			return;
	}
}

/* reader_error - fill an ERROR event; the buffered command is dropped */
static int
reader_error(struct imap_reader *r, struct imap_reader_event *ev,
    enum imap_reader_reply reply, const char *reason, enum imap_rstate next)
{
	size_t keep, i;

	reader_save_tag(r);
	/* keep the end of the current line: a literal header may be split
	 * between what was buffered and what is still to be discarded */
	r->tail_len = 0;
	if (next == IMAP_RSTATE_DISCARD_LINE) {
		keep = r->buf.len - r->line_start;
		if (keep > IMAP_TAIL_MAX)
			keep = IMAP_TAIL_MAX;
		for (i = 0; i < keep; i++)
			r->tail[i] = r->buf.data[r->buf.len - keep + i];
		r->tail_len = keep;
	}
	reader_reset(r);
	memset(ev, 0, sizeof(*ev));
	ev->type = IMAP_READER_ERROR;
	ev->reply = reply;
	ev->reason = reason;
	ev->tag = span_make(r->tag, r->tag_len);
	r->state = reply == IMAP_READER_REPLY_BYE ? IMAP_RSTATE_CLOSED : next;
	return 1;
}

struct imap_lit_hdr {
	bool		found;
	bool		valid;
	bool		nonsync;
	bool		binary;
	uint64_t	size;
};

/* find_literal_header - does line (without CRLF) end in {n}, {n+}, ~{n}? */
static struct imap_lit_hdr
find_literal_header(const uint8_t *p, size_t len)
{
	struct imap_lit_hdr h = { 0 };
	size_t end, i;

	if (len == 0 || p[len - 1] != '}')
		return h;
	end = len - 1;
	if (end > 0 && p[end - 1] == '+') {
		h.nonsync = true;
		end--;
	}
	i = end;
	while (i > 0 && ascii_isdigit(p[i - 1]))
		i--;
	if (i == 0 || p[i - 1] != '{')
		return h;
	h.found = true;
	if (i >= 2 && p[i - 2] == '~')
		h.binary = true;
	h.valid = i < end && strnum_u64(span_make(p + i, end - i),
	    UINT32_MAX, &h.size) == 0;
	return h;
}

static bool
is_append_command(const struct buf *b)
{
	size_t i = 0;

	while (i < b->len && is_tag_char(b->data[i]))
		i++;
	if (i == 0 || i >= b->len || b->data[i] != ' ')
		return false;
	return span_starts_ci(span_make(b->data + i + 1, b->len - i - 1),
	    "APPEND ");
}

/* reader_refuse_literal - a literal we will not take */
static int
reader_refuse_literal(struct imap_reader *r, struct imap_reader_event *ev,
    const struct imap_lit_hdr *h, enum imap_reader_reply reply,
    const char *reason)
{
	if (!h->nonsync)	/* the client waits for "+": just answer */
		return reader_error(r, ev, reply, reason, IMAP_RSTATE_LINE);
	/* RFC 7888 section 4: the data is on its way; read and drop it */
	if (h->size > r->lim.discard_max)
		return reader_error(r, ev, IMAP_READER_REPLY_BYE,
		    "literal too big", IMAP_RSTATE_CLOSED);
	reader_error(r, ev, reply, reason, IMAP_RSTATE_DISCARD_LITERAL);
	r->remaining = h->size;
	return 1;
}

/* reader_line_done - a line with its CRLF is in the buffer */
static int
reader_line_done(struct imap_reader *r, struct imap_reader_event *ev)
{
	const uint8_t *line = r->buf.data + r->line_start;
	size_t len = r->buf.len - r->line_start;
	struct imap_lit_hdr h;
	struct imap_literal *lit;
	bool stream = false;

	if (len < 2 || line[len - 2] != '\r')
		return reader_error(r, ev, IMAP_READER_REPLY_BAD,
		    "line must end with CRLF", IMAP_RSTATE_LINE);
	memset(ev, 0, sizeof(*ev));
	h = r->raw_line ? (struct imap_lit_hdr){ 0 } :
	    find_literal_header(line, len - 2);
	if (!h.found) {
		r->raw_line = false;
		r->text_len += len;
		r->done = true;
		ev->type = IMAP_READER_COMMAND;
		ev->cmd.text = buf_span(&r->buf);
		ev->cmd.lits = r->lits;
		ev->cmd.nlits = r->nlits;
		reader_save_tag(r);
		ev->tag = span_make(r->tag, r->tag_len);
		return 1;
	}
	if (!h.valid) {
		if (h.nonsync)	/* no way to know how much to skip */
			return reader_error(r, ev, IMAP_READER_REPLY_BYE,
			    "invalid literal size", IMAP_RSTATE_CLOSED);
		return reader_error(r, ev, IMAP_READER_REPLY_BAD,
		    "invalid literal size", IMAP_RSTATE_LINE);
	}
	if (r->nlits >= r->lim.literals_max)
		return reader_refuse_literal(r, ev, &h, IMAP_READER_REPLY_BAD,
		    "too many literals");
	if (h.nonsync && h.size > r->lim.nonsync_max)
		return reader_refuse_literal(r, ev, &h, IMAP_READER_REPLY_BAD,
		    "non-synchronizing literal too big (LITERAL-)");
	if (h.size > r->lim.literal_max) {
		if (!is_append_command(&r->buf))
			return reader_refuse_literal(r, ev, &h,
			    IMAP_READER_REPLY_BAD, "literal too big");
		if (h.size > r->lim.append_max)
			return reader_refuse_literal(r, ev, &h,
			    IMAP_READER_REPLY_TOOBIG, "message too big");
		stream = true;
	} else if (h.size > r->lim.command_max - r->buf.len) {
		return reader_refuse_literal(r, ev, &h, IMAP_READER_REPLY_BAD,
		    "command too big");
	}
	lits_reserve(r);
	lit = &r->lits[r->nlits];
	memset(lit, 0, sizeof(*lit));
	lit->offset = r->buf.len;
	lit->size = h.size;
	lit->is_binary = h.binary;
	lit->is_nonsync = h.nonsync;
	lit->is_streamed = stream;
	r->text_len += len;
	r->remaining = h.size;
	if (stream) {
		r->state = IMAP_RSTATE_STREAM;
		r->pending_begin = true;
	} else {
		r->state = IMAP_RSTATE_LITERAL;
		r->line_start = r->buf.len;
		if (h.size == 0)
			r->state = IMAP_RSTATE_LINE;
	}
	r->nlits++;
	if (!h.nonsync) {
		ev->type = IMAP_READER_CONTINUE;
		ev->size = h.size;
		ev->literal_index = r->nlits - 1;
		return 1;
	}
	return 0;
}

/* reader_discard_line - drop bytes up to LF; 1 with an event, 0 going on */
static int
reader_discard_line(struct imap_reader *r, const uint8_t *in, size_t len,
    size_t *used, struct imap_reader_event *ev)
{
	const uint8_t *lf = memchr(in, '\n', len);
	size_t n = lf != NULL ? (size_t)(lf - in) + 1 : len, keep, i;
	uint8_t tmp[IMAP_TAIL_MAX * 2];
	struct imap_lit_hdr h;

	/* keep the last IMAP_TAIL_MAX bytes seen on this line */
	keep = r->tail_len;
	memcpy(tmp, r->tail, keep);
	i = n > IMAP_TAIL_MAX ? n - IMAP_TAIL_MAX : 0;
	for (; i < n; i++) {
		if (keep == sizeof(tmp)) {
			memmove(tmp, tmp + IMAP_TAIL_MAX, IMAP_TAIL_MAX);
			keep = IMAP_TAIL_MAX;
		}
		tmp[keep++] = in[i];
	}
	if (keep > IMAP_TAIL_MAX) {
		memmove(tmp, tmp + keep - IMAP_TAIL_MAX, IMAP_TAIL_MAX);
		keep = IMAP_TAIL_MAX;
	}
	memcpy(r->tail, tmp, keep);
	r->tail_len = keep;
	*used += n;
	if (lf == NULL)
		return 0;
	r->state = IMAP_RSTATE_LINE;
	if (keep < 2 || r->tail[keep - 2] != '\r')
		return 0;
	h = find_literal_header(r->tail, keep - 2);
	r->tail_len = 0;
	if (!h.found || !h.nonsync)
		return 0;	/* a {n} line: the client waits, it got BAD */
	if (!h.valid || h.size > r->lim.discard_max) {
		memset(ev, 0, sizeof(*ev));
		ev->type = IMAP_READER_ERROR;
		ev->reply = IMAP_READER_REPLY_BYE;
		ev->reason = "literal too big";
		ev->tag = span_make(r->tag, r->tag_len);
		r->state = IMAP_RSTATE_CLOSED;
		return 1;
	}
	r->state = IMAP_RSTATE_DISCARD_LITERAL;
	r->remaining = h.size;
	return 0;
}

int
imap_reader_input(struct imap_reader *r, const uint8_t *in, size_t len,
    size_t *used_r, struct imap_reader_event *ev)
{
	size_t used = 0, n, room;
	const uint8_t *lf;
	int ret;

	*used_r = 0;
	if (r->done)
		reader_reset(r);
	else if (r->buf.len == 0 && r->state == IMAP_RSTATE_LINE)
		reader_apply_limits(r);
	for (;;) {
		switch (r->state) {
		case IMAP_RSTATE_CLOSED:
			*used_r = len;
			return 0;
		case IMAP_RSTATE_STREAM:
			memset(ev, 0, sizeof(*ev));
			ev->literal_index = r->nlits - 1;
			if (r->pending_begin) {
				r->pending_begin = false;
				ev->type = IMAP_READER_LITERAL_BEGIN;
				ev->size = r->lits[r->nlits - 1].size;
				ev->cmd.text = buf_span(&r->buf);
				ev->cmd.lits = r->lits;
				ev->cmd.nlits = r->nlits;
				*used_r = used;
				return 1;
			}
			if (r->remaining == 0) {
				ev->type = IMAP_READER_LITERAL_END;
				r->state = IMAP_RSTATE_LINE;
				r->line_start = r->buf.len;
				*used_r = used;
				return 1;
			}
			if (used == len) {
				*used_r = used;
				return 0;
			}
			n = len - used;
			if (n > r->remaining)
				n = (size_t)r->remaining;
			r->remaining -= n;
			ev->type = IMAP_READER_LITERAL_DATA;
			ev->data = span_make(in + used, n);
			*used_r = used + n;
			return 1;
		default:
			break;
		}
		if (used == len) {
			*used_r = used;
			return 0;
		}
		switch (r->state) {
		case IMAP_RSTATE_LITERAL:
			n = len - used;
			if (n > r->remaining)
				n = (size_t)r->remaining;
			/* room was checked against command_max */
			if (buf_append(&r->buf, in + used, n) != 0)
				return reader_error(r, ev,
				    IMAP_READER_REPLY_BYE, "command too big",
				    IMAP_RSTATE_CLOSED);
			used += n;
			r->remaining -= n;
			if (r->remaining == 0) {
				r->state = IMAP_RSTATE_LINE;
				r->line_start = r->buf.len;
			}
			break;
		case IMAP_RSTATE_DISCARD_LITERAL:
			n = len - used;
			if (n > r->remaining)
				n = (size_t)r->remaining;
			used += n;
			r->remaining -= n;
			if (r->remaining == 0) {
				r->state = IMAP_RSTATE_DISCARD_LINE;
				r->tail_len = 0;
			}
			break;
		case IMAP_RSTATE_DISCARD_LINE:
			ret = reader_discard_line(r, in + used, len - used,
			    &used, ev);
			if (ret != 0) {
				*used_r = used;
				return ret;
			}
			break;
		case IMAP_RSTATE_LINE:
			lf = memchr(in + used, '\n', len - used);
			n = lf != NULL ? (size_t)(lf - (in + used)) + 1 :
			    len - used;
			room = r->buf.len - r->line_start + r->text_len;
			if (room > r->lim.line_max ||
			    n > r->lim.line_max - room) {
				/* take what fits, so that the tag and the
				 * line's end are seen however input was
				 * split */
				n = room < r->lim.line_max ?
				    r->lim.line_max - room : 0;
				if (n > r->buf.max - r->buf.len)
					n = r->buf.max - r->buf.len;
				if (buf_append(&r->buf, in + used, n) == 0)
					used += n;
				*used_r = used;
				return reader_error(r, ev,
				    IMAP_READER_REPLY_BAD, "line too long",
				    IMAP_RSTATE_DISCARD_LINE);
			}
			if (buf_append(&r->buf, in + used, n) != 0) {
				*used_r = used;
				return reader_error(r, ev,
				    IMAP_READER_REPLY_BAD, "command too big",
				    IMAP_RSTATE_DISCARD_LINE);
			}
			used += n;
			if (lf != NULL) {
				ret = reader_line_done(r, ev);
				if (ret != 0) {
					*used_r = used;
					return ret;
				}
			}
			break;
		default:
			break;
		}
	}
}

/* ================================================================ mUTF-7 */

static const char mutf7_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int
mutf7_val(uint8_t c)
{
	const char *p;

	if (c == 0)
		return -1;
	p = strchr(mutf7_b64, c);
	return p != NULL ? (int)(p - mutf7_b64) : -1;
}

static int
put_utf8(struct buf *out, uint32_t cp)
{
	uint8_t b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (uint8_t)(0xc0 | (cp >> 6));
		b[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (uint8_t)(0xe0 | (cp >> 12));
		b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (uint8_t)(0xf0 | (cp >> 18));
		b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_append(out, b, n);
}

/* get_utf8 - decode one code point at s[*i]; -1 if invalid */
static int
get_utf8(struct span s, size_t *i, uint32_t *cp_r)
{
	uint8_t c = s.p[*i];
	uint32_t cp, min;
	size_t n, k;

	if (c < 0x80) {
		*cp_r = c;
		(*i)++;
		return 0;
	} else if ((c & 0xe0) == 0xc0) {
		n = 2; cp = c & 0x1f; min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3; cp = c & 0x0f; min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4; cp = c & 0x07; min = 0x10000;
	} else {
		return -1;
	}
	if (s.len - *i < n)
		return -1;
	for (k = 1; k < n; k++) {
		c = s.p[*i + k];
		if ((c & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (c & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += n;
	*cp_r = cp;
	return 0;
}

bool
imap_utf8_valid(struct span s)
{
	size_t i = 0;
	uint32_t cp;

	while (i < s.len)
		if (get_utf8(s, &i, &cp) != 0)
			return false;
	return true;
}

int
imap_mutf7_to_utf8(struct span in, struct buf *out)
{
	size_t i = 0;

	while (i < in.len) {
		uint8_t c = in.p[i];
		uint32_t bits = 0, hi = 0;
		unsigned nbits = 0, nunits = 0;
		int v;

		if (c < 0x20 || c > 0x7e)
			return -1;
		if (c != '&') {
			if (buf_append_byte(out, c) != 0)
				return -1;
			i++;
			continue;
		}
		i++;
		if (i < in.len && in.p[i] == '-') {
			if (buf_append_byte(out, '&') != 0)
				return -1;
			i++;
			continue;
		}
		/* a shift sequence: base64 of UTF-16BE, closed by '-' */
		for (;;) {
			if (i >= in.len)
				return -1;
			c = in.p[i++];
			if (c == '-')
				break;
			if ((v = mutf7_val(c)) < 0)
				return -1;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits < 16)
				continue;
			nbits -= 16;
			uint32_t u = (bits >> nbits) & 0xffff;

			bits &= (1u << nbits) - 1;
			nunits++;
			if (hi != 0) {
				if (u < 0xdc00 || u > 0xdfff)
					return -1;
				u = 0x10000 + ((hi - 0xd800) << 10) +
				    (u - 0xdc00);
				hi = 0;
			} else if (u >= 0xd800 && u <= 0xdbff) {
				hi = u;
				continue;
			} else if (u >= 0xdc00 && u <= 0xdfff) {
				return -1;
			}
			/* printable ASCII must not be encoded */
			if (u >= 0x20 && u <= 0x7e)
				return -1;
			if (put_utf8(out, u) != 0)
				return -1;
		}
		/* empty "&-" handled above; leftover bits must be zero
		 * padding shorter than one base64 digit set */
		if (nunits == 0 || hi != 0 || nbits >= 6 || bits != 0)
			return -1;
		/* "&..-&..-" must have been one sequence */
		if (i < in.len && in.p[i] == '&' &&
		    !(i + 1 < in.len && in.p[i + 1] == '-'))
			return -1;
	}
	return 0;
}

static int
mutf7_flush(struct buf *out, uint32_t *bits, unsigned *nbits)
{
	while (*nbits >= 6) {
		*nbits -= 6;
		if (buf_append_byte(out,
		    (uint8_t)mutf7_b64[(*bits >> *nbits) & 0x3f]) != 0)
			return -1;
	}
	return 0;
}

int
imap_utf8_to_mutf7(struct span in, struct buf *out)
{
	size_t i = 0;
	uint32_t cp, bits = 0;
	unsigned nbits = 0;
	bool shifted = false;

	while (i < in.len) {
		if (get_utf8(in, &i, &cp) != 0)
			return -1;
		if (cp >= 0x20 && cp <= 0x7e) {
			if (shifted) {
				if (nbits > 0) {
					bits <<= 6 - nbits;
					nbits = 6;
					if (mutf7_flush(out, &bits, &nbits))
						return -1;
				}
				if (buf_append_byte(out, '-') != 0)
					return -1;
				shifted = false;
				bits = 0;
			}
			if (buf_append_byte(out, (uint8_t)cp) != 0)
				return -1;
			if (cp == '&' && buf_append_byte(out, '-') != 0)
				return -1;
			continue;
		}
		if (!shifted) {
			if (buf_append_byte(out, '&') != 0)
				return -1;
			shifted = true;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			bits = (bits << 16) | (0xd800 + (cp >> 10));
			nbits += 16;
			if (mutf7_flush(out, &bits, &nbits))
				return -1;
			cp = 0xdc00 + (cp & 0x3ff);
		}
		bits = (bits << 16) | cp;
		nbits += 16;
		if (mutf7_flush(out, &bits, &nbits))
			return -1;
		bits &= (1u << nbits) - 1;
	}
	if (shifted) {
		if (nbits > 0) {
			bits <<= 6 - nbits;
			nbits = 6;
			if (mutf7_flush(out, &bits, &nbits))
				return -1;
		}
		if (buf_append_byte(out, '-') != 0)
			return -1;
	}
	return 0;
}

/* ================================================================ parser */

struct imap_pstate {
	struct arena			*a;
	const uint8_t			*p;
	size_t				 len, pos;
	const struct imap_literal	*lits;
	unsigned			 nlits, lit_next;
	bool				 utf8;
	unsigned			 max_nesting, max_items, depth;
	unsigned			 keys;
	size_t				 mem, max_memory;
	const char			*err;
};

static bool
fail(struct imap_pstate *ps, const char *why)
{
	if (ps->err == NULL)
		ps->err = why;
	return false;
}

static void *
palloc(struct imap_pstate *ps, size_t n)
{
	if (n > ps->max_memory - ps->mem) {
		fail(ps, "command too complex");
		return NULL;
	}
	ps->mem += n + 16;
	if (ps->mem > ps->max_memory)
		ps->mem = ps->max_memory;
	return arena_alloc(ps->a, n);
}

static void *
palloc_array(struct imap_pstate *ps, size_t n, size_t size)
{
	if (n != 0 && size > SIZE_MAX / n) {
		fail(ps, "command too complex");
		return NULL;
	}
	return palloc(ps, n * size);
}

static bool
pdup(struct imap_pstate *ps, const uint8_t *p, size_t n, struct span *out)
{
	uint8_t *d = palloc(ps, n + 1);

	if (d == NULL)
		return false;
	memcpy(d, p, n);
	*out = span_make(d, n);
	return true;
}

static int
peek(const struct imap_pstate *ps)
{
	return ps->pos < ps->len ? ps->p[ps->pos] : -1;
}

static bool
eat(struct imap_pstate *ps, int c)
{
	if (peek(ps) != c)
		return false;
	ps->pos++;
	return true;
}

static bool
expect(struct imap_pstate *ps, int c, const char *why)
{
	return eat(ps, c) || fail(ps, why);
}

static bool
sp(struct imap_pstate *ps)
{
	return expect(ps, ' ', "expected a space");
}

/* at_end - only the final CRLF is left */
static bool
at_end(const struct imap_pstate *ps)
{
	return ps->len - ps->pos == 2 && ps->p[ps->pos] == '\r' &&
	    ps->p[ps->pos + 1] == '\n';
}

static bool
is_atom_char(int c)
{
	return c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '{' &&
	    c != '%' && c != '*' && c != '"' && c != '\\' && c != ']';
}

static bool
is_astring_char(int c)
{
	return is_atom_char(c) || c == ']';
}

static bool
is_list_char(int c)
{
	return is_astring_char(c) || c == '%' || c == '*';
}

/* raw_atom - span of 1*ATOM-CHAR into the input (not copied) */
static bool
raw_atom(struct imap_pstate *ps, struct span *out)
{
	size_t start = ps->pos;

	while (ps->pos < ps->len && is_atom_char(ps->p[ps->pos]))
		ps->pos++;
	if (ps->pos == start)
		return fail(ps, "expected an atom");
	*out = span_make(ps->p + start, ps->pos - start);
	return true;
}

static bool
atom(struct imap_pstate *ps, struct span *out)
{
	struct span s;

	return raw_atom(ps, &s) && pdup(ps, s.p, s.len, out);
}

/* word - letters, digits, '.', '-': fetch items, keywords */
static struct span
word(struct imap_pstate *ps)
{
	size_t start = ps->pos;

	while (ps->pos < ps->len && (ascii_isalnum(ps->p[ps->pos]) ||
	    ps->p[ps->pos] == '.' || ps->p[ps->pos] == '-' ||
	    ps->p[ps->pos] == '='))
		ps->pos++;
	return span_make(ps->p + start, ps->pos - start);
}

static bool
number64(struct imap_pstate *ps, uint64_t max, uint64_t *out)
{
	size_t start = ps->pos;

	while (ps->pos < ps->len && ascii_isdigit(ps->p[ps->pos]) &&
	    ps->pos - start < 21)
		ps->pos++;
	if (ps->pos == start)
		return fail(ps, "expected a number");
	if (strnum_u64(span_make(ps->p + start, ps->pos - start), max,
	    out) != 0)
		return fail(ps, "number out of range");
	return true;
}

static bool
number32(struct imap_pstate *ps, uint32_t *out)
{
	uint64_t v;

	if (!number64(ps, UINT32_MAX, &v))
		return false;
	*out = (uint32_t)v;
	return true;
}

static bool
nz_number(struct imap_pstate *ps, uint32_t *out)
{
	if (!number32(ps, out))
		return false;
	return *out != 0 || fail(ps, "zero is not allowed here");
}

/* RFC 9051 number64 and RFC 7162 mod-sequence-value: up to 2^63 - 1 */
#define IMAP_NUMBER64_MAX	((uint64_t)INT64_MAX)

static bool
quoted(struct imap_pstate *ps, struct span *out)
{
	size_t i, n = 0;
	uint8_t *d;

	if (!eat(ps, '"'))
		return fail(ps, "expected a quoted string");
	for (i = ps->pos; i < ps->len; i++) {
		uint8_t c = ps->p[i];

		if (c == '"')
			break;
		if (c == '\r' || c == '\n' || c == 0)
			return fail(ps, "invalid character in quoted string");
		if (c == '\\') {
			if (i + 1 >= ps->len ||
			    (ps->p[i + 1] != '"' && ps->p[i + 1] != '\\'))
				return fail(ps, "invalid quoted escape");
			i++;
		}
		n++;
	}
	if (i >= ps->len)
		return fail(ps, "unterminated quoted string");
	if ((d = palloc(ps, n + 1)) == NULL)
		return false;
	n = 0;
	for (i = ps->pos; ps->p[i] != '"'; i++) {
		if (ps->p[i] == '\\')
			i++;
		d[n++] = ps->p[i];
	}
	ps->pos = i + 1;
	*out = span_make(d, n);
	return true;
}

struct imap_litinfo {
	bool		binary;
	bool		streamed;
	unsigned	index;
	uint64_t	size;
	struct span	raw;	/* into the input */
};

/* literal - {n}CRLF data, {n+}, or (allow8) ~{n}; raw data, not copied */
static bool
literal(struct imap_pstate *ps, bool allow8, struct imap_litinfo *li)
{
	const struct imap_literal *l = NULL;
	uint64_t size;

	memset(li, 0, sizeof(*li));
	if (eat(ps, '~')) {
		if (!allow8)
			return fail(ps, "literal8 not allowed here");
		li->binary = true;
	}
	if (!expect(ps, '{', "expected a literal"))
		return false;
	if (!number64(ps, UINT32_MAX, &size))
		return false;
	(void)eat(ps, '+');
	if (!expect(ps, '}', "invalid literal") ||
	    !expect(ps, '\r', "literal must end its line") ||
	    !expect(ps, '\n', "literal must end its line"))
		return false;
	li->size = size;
	li->index = ps->lit_next;
	if (ps->nlits > 0) {
		if (ps->lit_next >= ps->nlits)
			return fail(ps, "literal mismatch");
		l = &ps->lits[ps->lit_next];
		if (l->size != size || l->offset != ps->pos ||
		    l->is_binary != li->binary)
			return fail(ps, "literal mismatch");
		li->streamed = l->is_streamed;
	}
	ps->lit_next++;
	if (li->streamed) {
		li->raw = span_make(ps->p + ps->pos, 0);
		return true;
	}
	if (size > ps->len - ps->pos)
		return fail(ps, "literal longer than the command");
	li->raw = span_make(ps->p + ps->pos, (size_t)size);
	ps->pos += (size_t)size;
	if (!li->binary && memchr(li->raw.p, 0, li->raw.len) != NULL)
		return fail(ps, "NUL in a literal (use literal8)");
	return true;
}

static bool
string(struct imap_pstate *ps, struct span *out)
{
	struct imap_litinfo li;
	int c = peek(ps);

	if (c == '"')
		return quoted(ps, out);
	if (c != '{')
		return fail(ps, "expected a string");
	if (!literal(ps, false, &li))
		return false;
	if (li.streamed)
		return fail(ps, "literal too big");
	return pdup(ps, li.raw.p, li.raw.len, out);
}

static bool
astring(struct imap_pstate *ps, struct span *out)
{
	size_t start = ps->pos;
	int c = peek(ps);

	if (c == '"' || c == '{')
		return string(ps, out);
	while (ps->pos < ps->len && is_astring_char(ps->p[ps->pos]))
		ps->pos++;
	if (ps->pos == start)
		return fail(ps, "expected a string");
	return pdup(ps, ps->p + start, ps->pos - start, out);
}

static bool
nstring(struct imap_pstate *ps, struct imap_nstring *out)
{
	memset(out, 0, sizeof(*out));
	if (ps->len - ps->pos >= 3 && span_starts_ci(span_make(ps->p +
	    ps->pos, 3), "NIL") && (ps->len - ps->pos == 3 ||
	    !is_atom_char(ps->p[ps->pos + 3]))) {
		ps->pos += 3;
		out->is_nil = true;
		return true;
	}
	return string(ps, &out->s);
}

/* to_mailbox - check and convert a name as the client sent it */
static bool
to_mailbox(struct imap_pstate *ps, struct span raw, bool is_pattern,
    struct imap_mailbox *mb)
{
	struct buf b;
	size_t i;
	char *s;

	for (i = 0; i < raw.len; i++)
		if (raw.p[i] < 0x20 || raw.p[i] == 0x7f)
			return fail(ps, "control character in mailbox name");
	if (raw.len > STORE_MAX_MAILBOX_NAME)
		return fail(ps, "mailbox name too long");
	if (ps->utf8) {
		if (!imap_utf8_valid(raw))
			return fail(ps, "mailbox name is not UTF-8");
		s = palloc(ps, raw.len + 1);
		if (s == NULL)
			return false;
		memcpy(s, raw.p, raw.len);
		mb->name = s;
		mb->len = raw.len;
	} else {
		/* each mUTF-7 byte gives at most 3 UTF-8 bytes */
		buf_init(&b, raw.len * 3 + 16);
		if (imap_mutf7_to_utf8(raw, &b) != 0) {
			buf_fini(&b);
			return fail(ps, "mailbox name is not valid mUTF-7");
		}
		s = palloc(ps, b.len + 1);
		if (s != NULL && b.len > 0)
			memcpy(s, b.data, b.len);
		mb->name = s;
		mb->len = b.len;
		buf_fini(&b);
		if (s == NULL)
			return false;
	}
	/* RFC 9051 5.1: INBOX is case-insensitive */
	if (!is_pattern && mb->len == 5 &&
	    span_eq_str_ci(span_make(mb->name, 5), "INBOX"))
		memcpy((char *)mb->name, "INBOX", 5);
	return true;
}

static bool
mailbox(struct imap_pstate *ps, struct imap_mailbox *mb)
{
	struct span raw;

	return astring(ps, &raw) && to_mailbox(ps, raw, false, mb);
}

static bool
list_mailbox(struct imap_pstate *ps, struct imap_mailbox *mb)
{
	size_t start = ps->pos;
	struct span raw;
	int c = peek(ps);

	if (c == '"' || c == '{') {
		if (!string(ps, &raw))
			return false;
	} else {
		while (ps->pos < ps->len && is_list_char(ps->p[ps->pos]))
			ps->pos++;
		if (ps->pos == start)
			return fail(ps, "expected a mailbox pattern");
		raw = span_make(ps->p + start, ps->pos - start);
	}
	return to_mailbox(ps, raw, true, mb);
}

static bool
count_item(struct imap_pstate *ps, unsigned *count)
{
	if (*count >= ps->max_items)
		return fail(ps, "too many items");
	(*count)++;
	return true;
}

/* grow - double an arena array as items come (no declared count trusted) */
static bool
grow(struct imap_pstate *ps, void **arr, unsigned count, unsigned *cap,
    size_t size)
{
	void *n;
	unsigned ncap;

	if (count < *cap)
		return true;
	ncap = *cap == 0 ? 4 : *cap * 2;
	if ((n = palloc_array(ps, ncap, size)) == NULL)
		return false;
	if (count > 0)
		memcpy(n, *arr, (size_t)count * size);
	*arr = n;
	*cap = ncap;
	return true;
}

static bool
seq_number(struct imap_pstate *ps, uint32_t *out)
{
	if (eat(ps, '*')) {
		*out = 0;
		return true;
	}
	return nz_number(ps, out);
}

static bool
seqset(struct imap_pstate *ps, struct imap_seqset *set)
{
	unsigned cap = 0;
	struct imap_seq_range r;

	memset(set, 0, sizeof(*set));
	if (eat(ps, '$')) {
		set->is_saved = true;
		return true;
	}
	for (;;) {
		if (!seq_number(ps, &r.lo))
			return fail(ps, "invalid sequence set");
		r.hi = r.lo;
		if (eat(ps, ':') && !seq_number(ps, &r.hi))
			return fail(ps, "invalid sequence set");
		if (r.lo != 0 && r.hi != 0 && r.lo > r.hi) {
			uint32_t t = r.lo;

			r.lo = r.hi;
			r.hi = t;
		}
		if (set->count >= ps->max_items)
			return fail(ps, "too many items");
		if (!grow(ps, (void **)&set->ranges, set->count, &cap,
		    sizeof(r)))
			return false;
		set->ranges[set->count++] = r;
		if (!eat(ps, ','))
			return true;
	}
}

/* flag - \Answered etc., \Extension, or a keyword atom */
static bool
flag(struct imap_pstate *ps, struct span *out)
{
	size_t start = ps->pos;
	struct span a;

	if (eat(ps, '\\')) {
		if (peek(ps) == '*')
			return fail(ps, "\\* is not a flag");
	}
	if (!raw_atom(ps, &a))
		return fail(ps, "invalid flag");
	return pdup(ps, ps->p + start, ps->pos - start, out);
}

static bool
flag_list(struct imap_pstate *ps, struct imap_flags *fl)
{
	unsigned cap = 0;
	struct span f;

	memset(fl, 0, sizeof(*fl));
	if (!expect(ps, '(', "expected a flag list"))
		return false;
	if (eat(ps, ')'))
		return true;
	for (;;) {
		if (!flag(ps, &f))
			return false;
		if (fl->count >= ps->max_items)
			return fail(ps, "too many items");
		if (!grow(ps, (void **)&fl->v, fl->count, &cap, sizeof(f)))
			return false;
		fl->v[fl->count++] = f;
		if (eat(ps, ')'))
			return true;
		if (!sp(ps))
			return false;
	}
}

static const char *const imap_months[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static bool
month(struct imap_pstate *ps, uint8_t *m)
{
	unsigned i;

	if (ps->len - ps->pos < 3)
		return fail(ps, "invalid date");
	for (i = 0; i < 12; i++) {
		if (span_eq_str_ci(span_make(ps->p + ps->pos, 3),
		    imap_months[i])) {
			*m = (uint8_t)(i + 1);
			ps->pos += 3;
			return true;
		}
	}
	return fail(ps, "invalid month");
}

static bool
digits(struct imap_pstate *ps, unsigned n, unsigned *out)
{
	unsigned v = 0, i;

	for (i = 0; i < n; i++) {
		int c = peek(ps);

		if (c < 0 || !ascii_isdigit(c))
			return fail(ps, "invalid date");
		v = v * 10 + (unsigned)(c - '0');
		ps->pos++;
	}
	*out = v;
	return true;
}

static bool
valid_day(unsigned y, unsigned m, unsigned d)
{
	static const uint8_t mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31,
	    30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	if (d < 1 || d > mdays[m - 1])
		return false;
	return !(m == 2 && d == 29 && !leap);
}

/* date - date-day "-" date-month "-" date-year, maybe quoted */
static bool
date(struct imap_pstate *ps, struct imap_date *dt)
{
	bool q = eat(ps, '"');
	unsigned d, y;
	uint8_t m;

	if (!digits(ps, 1, &d))
		return false;
	if (peek(ps) >= 0 && ascii_isdigit(peek(ps)))
		d = d * 10 + (unsigned)(ps->p[ps->pos++] - '0');
	if (!expect(ps, '-', "invalid date") || !month(ps, &m) ||
	    !expect(ps, '-', "invalid date") || !digits(ps, 4, &y))
		return false;
	if (q && !expect(ps, '"', "invalid date"))
		return false;
	if (!valid_day(y, m, d))
		return fail(ps, "invalid date");
	dt->year = (uint16_t)y;
	dt->month = m;
	dt->day = (uint8_t)d;
	return true;
}

/* date_time - DQUOTE dd-Mon-yyyy SP hh:mm:ss SP +zzzz DQUOTE */
static bool
date_time(struct imap_pstate *ps, struct imap_datetime *dt)
{
	unsigned d, y, h, mi, s, z;
	uint8_t m;
	int sign;

	if (!expect(ps, '"', "invalid date-time"))
		return false;
	if (eat(ps, ' ')) {
		if (!digits(ps, 1, &d))
			return false;
	} else if (!digits(ps, 2, &d)) {
		return false;
	}
	if (!expect(ps, '-', "invalid date-time") || !month(ps, &m) ||
	    !expect(ps, '-', "invalid date-time") || !digits(ps, 4, &y) ||
	    !sp(ps) || !digits(ps, 2, &h) ||
	    !expect(ps, ':', "invalid date-time") || !digits(ps, 2, &mi) ||
	    !expect(ps, ':', "invalid date-time") || !digits(ps, 2, &s) ||
	    !sp(ps))
		return false;
	if (eat(ps, '+'))
		sign = 1;
	else if (eat(ps, '-'))
		sign = -1;
	else
		return fail(ps, "invalid date-time zone");
	if (!digits(ps, 4, &z) || !expect(ps, '"', "invalid date-time"))
		return false;
	if (!valid_day(y, m, d) || h > 23 || mi > 59 || s > 60 ||
	    z % 100 > 59 || z > 2359)
		return fail(ps, "invalid date-time");
	dt->date.year = (uint16_t)y;
	dt->date.month = m;
	dt->date.day = (uint8_t)d;
	dt->hour = (uint8_t)h;
	dt->min = (uint8_t)mi;
	dt->sec = (uint8_t)s;
	dt->zone = (int16_t)(sign * (int)((z / 100) * 60 + z % 100));
	return true;
}

static bool
enter(struct imap_pstate *ps)
{
	if (ps->depth >= ps->max_nesting)
		return fail(ps, "nesting too deep");
	ps->depth++;
	return true;
}

/* ---- SEARCH keys (RFC 9051 6.4.4, RFC 7162 3.1.5) ---- */

enum imap_skarg { SK_NONE, SK_ASTRING, SK_ATOM, SK_DATE, SK_NUM };

static const struct {
	const char		*name;
	enum imap_search_op	 op;
	enum imap_skarg		 arg;
} imap_search_keys[] = {
	{ "ALL", IMAP_SEARCH_ALL, SK_NONE },
	{ "ANSWERED", IMAP_SEARCH_ANSWERED, SK_NONE },
	{ "DELETED", IMAP_SEARCH_DELETED, SK_NONE },
	{ "DRAFT", IMAP_SEARCH_DRAFT, SK_NONE },
	{ "FLAGGED", IMAP_SEARCH_FLAGGED, SK_NONE },
	{ "SEEN", IMAP_SEARCH_SEEN, SK_NONE },
	{ "RECENT", IMAP_SEARCH_RECENT, SK_NONE },
	{ "NEW", IMAP_SEARCH_NEW, SK_NONE },
	{ "OLD", IMAP_SEARCH_OLD, SK_NONE },
	{ "UNANSWERED", IMAP_SEARCH_UNANSWERED, SK_NONE },
	{ "UNDELETED", IMAP_SEARCH_UNDELETED, SK_NONE },
	{ "UNDRAFT", IMAP_SEARCH_UNDRAFT, SK_NONE },
	{ "UNFLAGGED", IMAP_SEARCH_UNFLAGGED, SK_NONE },
	{ "UNSEEN", IMAP_SEARCH_UNSEEN, SK_NONE },
	{ "KEYWORD", IMAP_SEARCH_KEYWORD, SK_ATOM },
	{ "UNKEYWORD", IMAP_SEARCH_UNKEYWORD, SK_ATOM },
	{ "BCC", IMAP_SEARCH_BCC, SK_ASTRING },
	{ "BODY", IMAP_SEARCH_BODY, SK_ASTRING },
	{ "CC", IMAP_SEARCH_CC, SK_ASTRING },
	{ "FROM", IMAP_SEARCH_FROM, SK_ASTRING },
	{ "SUBJECT", IMAP_SEARCH_SUBJECT, SK_ASTRING },
	{ "TEXT", IMAP_SEARCH_TEXT, SK_ASTRING },
	{ "TO", IMAP_SEARCH_TO, SK_ASTRING },
	{ "BEFORE", IMAP_SEARCH_BEFORE, SK_DATE },
	{ "ON", IMAP_SEARCH_ON, SK_DATE },
	{ "SINCE", IMAP_SEARCH_SINCE, SK_DATE },
	{ "SENTBEFORE", IMAP_SEARCH_SENTBEFORE, SK_DATE },
	{ "SENTON", IMAP_SEARCH_SENTON, SK_DATE },
	{ "SENTSINCE", IMAP_SEARCH_SENTSINCE, SK_DATE },
	{ "LARGER", IMAP_SEARCH_LARGER, SK_NUM },
	{ "SMALLER", IMAP_SEARCH_SMALLER, SK_NUM },
};

static bool search_key(struct imap_pstate *, struct imap_search_key **);

static struct imap_search_key *
new_key(struct imap_pstate *ps, enum imap_search_op op)
{
	struct imap_search_key *k;

	if (ps->keys >= ps->max_items) {
		fail(ps, "too many search keys");
		return NULL;
	}
	ps->keys++;
	if ((k = palloc(ps, sizeof(*k))) != NULL)
		k->op = op;
	return k;
}

/* search_keys - key *(SP key) up to ')' or the end, as children of and */
static bool
search_keys(struct imap_pstate *ps, struct imap_search_key *and, int close)
{
	struct imap_search_key **tail = &and->child, *k;

	for (;;) {
		if (!search_key(ps, &k))
			return false;
		*tail = k;
		tail = &k->next;
		if (close == ')' && eat(ps, ')'))
			return true;
		if (close == 0 && at_end(ps))
			return true;
		if (!sp(ps))
			return false;
	}
}

static bool
search_key_modseq(struct imap_pstate *ps, struct imap_search_key *k)
{
	struct span type;

	if (peek(ps) == '"') {
		if (!quoted(ps, &k->field) || !sp(ps) || !raw_atom(ps, &type))
			return false;
		if (!span_eq_str_ci(type, "priv") &&
		    !span_eq_str_ci(type, "shared") &&
		    !span_eq_str_ci(type, "all"))
			return fail(ps, "invalid MODSEQ entry type");
		if (!pdup(ps, type.p, type.len, &k->str) || !sp(ps))
			return false;
	}
	return number64(ps, IMAP_NUMBER64_MAX, &k->num);
}

static bool
search_key(struct imap_pstate *ps, struct imap_search_key **out)
{
	struct imap_search_key *k;
	struct span w;
	size_t i;
	int c = peek(ps);
	bool ok;

	if (!enter(ps))
		return false;
	if (c == '(') {
		ps->pos++;
		if ((k = new_key(ps, IMAP_SEARCH_AND)) == NULL)
			return false;
		ok = search_keys(ps, k, ')');
	} else if (c == '*' || c == '$' || (c >= 0 && ascii_isdigit(c))) {
		if ((k = new_key(ps, IMAP_SEARCH_SEQSET)) == NULL)
			return false;
		ok = seqset(ps, &k->set);
	} else {
		w = word(ps);
		if (w.len == 0)
			return fail(ps, "expected a search key");
		k = NULL;
		for (i = 0; i < sizeof(imap_search_keys) /
		    sizeof(imap_search_keys[0]); i++) {
			if (!span_eq_str_ci(w, imap_search_keys[i].name))
				continue;
			if ((k = new_key(ps, imap_search_keys[i].op)) == NULL)
				return false;
			switch (imap_search_keys[i].arg) {
			case SK_NONE:
				ok = true;
				break;
			case SK_ASTRING:
				ok = sp(ps) && astring(ps, &k->str);
				break;
			case SK_ATOM:	/* flag-keyword: no backslash */
				ok = sp(ps) && atom(ps, &k->str);
				break;
			case SK_DATE:
				ok = sp(ps) && date(ps, &k->date);
				break;
			default:
				ok = sp(ps) && number64(ps, IMAP_NUMBER64_MAX,
				    &k->num);	/* number64 */
				break;
			}
			break;
		}
		if (k != NULL) {
			/* done */
		} else if (span_eq_str_ci(w, "HEADER")) {
			if ((k = new_key(ps, IMAP_SEARCH_HEADER)) == NULL)
				return false;
			ok = sp(ps) && astring(ps, &k->field) && sp(ps) &&
			    astring(ps, &k->str);
		} else if (span_eq_str_ci(w, "NOT")) {
			if ((k = new_key(ps, IMAP_SEARCH_NOT)) == NULL)
				return false;
			ok = sp(ps) && search_key(ps, &k->child);
		} else if (span_eq_str_ci(w, "OR")) {
			if ((k = new_key(ps, IMAP_SEARCH_OR)) == NULL)
				return false;
			ok = sp(ps) && search_key(ps, &k->child) && sp(ps) &&
			    search_key(ps, &k->child->next);
		} else if (span_eq_str_ci(w, "UID")) {
			if ((k = new_key(ps, IMAP_SEARCH_UID)) == NULL)
				return false;
			ok = sp(ps) && seqset(ps, &k->set);
		} else if (span_eq_str_ci(w, "MODSEQ")) {
			if ((k = new_key(ps, IMAP_SEARCH_MODSEQ)) == NULL)
				return false;
			ok = sp(ps) && search_key_modseq(ps, k);
		} else {
			return fail(ps, "unknown search key");
		}
	}
	ps->depth--;
	*out = k;
	return ok;
}

/* ---- FETCH ---- */

static bool
header_list(struct imap_pstate *ps, struct imap_section *sec)
{
	unsigned cap = 0;
	struct span f;

	if (!sp(ps) || !expect(ps, '(', "expected a header list"))
		return false;
	for (;;) {
		if (!astring(ps, &f))
			return false;
		if (f.len == 0)
			return fail(ps, "empty header field name");
		if (sec->nfields >= ps->max_items)
			return fail(ps, "too many items");
		if (!grow(ps, (void **)&sec->fields, sec->nfields, &cap,
		    sizeof(f)))
			return false;
		sec->fields[sec->nfields++] = f;
		if (eat(ps, ')'))
			return true;
		if (!sp(ps))
			return false;
	}
}

/* section - "[" ... "]" of BODY[] (binary: part numbers only) */
static bool
section(struct imap_pstate *ps, struct imap_section *sec, bool binary)
{
	unsigned cap = 0;
	uint32_t part;
	struct span w;

	memset(sec, 0, sizeof(*sec));
	if (!expect(ps, '[', "expected a section"))
		return false;
	while (peek(ps) >= 0 && ascii_isdigit(peek(ps))) {
		if (!nz_number(ps, &part))
			return false;
		if (sec->nparts >= ps->max_nesting)
			return fail(ps, "section too deep");
		if (!grow(ps, (void **)&sec->parts, sec->nparts, &cap,
		    sizeof(part)))
			return false;
		sec->parts[sec->nparts++] = part;
		if (!eat(ps, '.'))
			break;
		if (peek(ps) < 0 || !ascii_isdigit(peek(ps))) {
			if (binary)
				return fail(ps, "invalid section");
			break;
		}
	}
	/* "1." must go on with a section text */
	if (!(sec->nparts > 0 && ps->p[ps->pos - 1] == '.') && eat(ps, ']'))
		return true;
	if (binary)
		return fail(ps, "invalid section");
	if (sec->nparts > 0 && ps->p[ps->pos - 1] != '.')
		return fail(ps, "invalid section");
	w = word(ps);
	if (span_eq_str_ci(w, "HEADER")) {
		sec->text = IMAP_SECTION_HEADER;
	} else if (span_eq_str_ci(w, "HEADER.FIELDS")) {
		sec->text = IMAP_SECTION_HEADER_FIELDS;
		if (!header_list(ps, sec))
			return false;
	} else if (span_eq_str_ci(w, "HEADER.FIELDS.NOT")) {
		sec->text = IMAP_SECTION_HEADER_FIELDS_NOT;
		if (!header_list(ps, sec))
			return false;
	} else if (span_eq_str_ci(w, "TEXT")) {
		sec->text = IMAP_SECTION_TEXT;
	} else if (span_eq_str_ci(w, "MIME") && sec->nparts > 0) {
		sec->text = IMAP_SECTION_MIME;
	} else {
		return fail(ps, "invalid section");
	}
	return expect(ps, ']', "invalid section");
}

static bool
partial(struct imap_pstate *ps, struct imap_fetch_att *att)
{
	if (!eat(ps, '<'))
		return true;
	att->has_partial = true;
	/* RFC 9051: "<" number64 "." nz-number64 ">" */
	if (!number64(ps, IMAP_NUMBER64_MAX, &att->partial_offset) ||
	    !expect(ps, '.', "invalid partial") ||
	    !number64(ps, IMAP_NUMBER64_MAX, &att->partial_len))
		return false;
	if (att->partial_len == 0)
		return fail(ps, "zero is not allowed here");
	return expect(ps, '>', "invalid partial");
}

static const struct {
	const char		*name;
	enum imap_fetch_type	 type;
} imap_fetch_simple[] = {
	{ "FLAGS", IMAP_FETCH_FLAGS },
	{ "INTERNALDATE", IMAP_FETCH_INTERNALDATE },
	{ "RFC822.SIZE", IMAP_FETCH_RFC822_SIZE },
	{ "ENVELOPE", IMAP_FETCH_ENVELOPE },
	{ "BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE },
	{ "UID", IMAP_FETCH_UID },
	{ "MODSEQ", IMAP_FETCH_MODSEQ },
	{ "RFC822", IMAP_FETCH_RFC822 },
	{ "RFC822.HEADER", IMAP_FETCH_RFC822_HEADER },
	{ "RFC822.TEXT", IMAP_FETCH_RFC822_TEXT },
};

static bool
fetch_att(struct imap_pstate *ps, struct imap_fetch_att *att)
{
	struct span w = word(ps);
	size_t i;

	memset(att, 0, sizeof(*att));
	for (i = 0; i < sizeof(imap_fetch_simple) /
	    sizeof(imap_fetch_simple[0]); i++) {
		if (span_eq_str_ci(w, imap_fetch_simple[i].name)) {
			att->type = imap_fetch_simple[i].type;
			return true;
		}
	}
	if (span_eq_str_ci(w, "BODY") || span_eq_str_ci(w, "BODY.PEEK")) {
		att->is_peek = w.len > 4;
		if (peek(ps) != '[') {
			if (att->is_peek)
				return fail(ps, "BODY.PEEK needs a section");
			att->type = IMAP_FETCH_BODY;
			return true;
		}
		att->type = IMAP_FETCH_BODY_SECTION;
		return section(ps, &att->section, false) &&
		    partial(ps, att);
	}
	if (span_eq_str_ci(w, "BINARY") || span_eq_str_ci(w, "BINARY.PEEK")) {
		att->is_peek = w.len > 6;
		att->type = IMAP_FETCH_BINARY;
		return section(ps, &att->section, true) && partial(ps, att);
	}
	if (span_eq_str_ci(w, "BINARY.SIZE")) {
		att->type = IMAP_FETCH_BINARY_SIZE;
		return section(ps, &att->section, true);
	}
	return fail(ps, "unknown fetch attribute");
}

static bool
fetch_add(struct imap_pstate *ps, struct imap_command *cmd, unsigned *cap,
    const struct imap_fetch_att *att)
{
	if (cmd->u.fetch.count >= ps->max_items)
		return fail(ps, "too many items");
	if (!grow(ps, (void **)&cmd->u.fetch.atts, cmd->u.fetch.count, cap,
	    sizeof(*att)))
		return false;
	cmd->u.fetch.atts[cmd->u.fetch.count++] = *att;
	return true;
}

static bool
fetch_macro(struct imap_pstate *ps, struct imap_command *cmd, unsigned *cap,
    struct span w)
{
	static const enum imap_fetch_type all[] = { IMAP_FETCH_FLAGS,
	    IMAP_FETCH_INTERNALDATE, IMAP_FETCH_RFC822_SIZE,
	    IMAP_FETCH_ENVELOPE, IMAP_FETCH_BODY };
	struct imap_fetch_att att;
	unsigned n, i;

	if (span_eq_str_ci(w, "FAST"))
		n = 3;
	else if (span_eq_str_ci(w, "ALL"))
		n = 4;
	else if (span_eq_str_ci(w, "FULL"))
		n = 5;
	else
		return false;
	for (i = 0; i < n; i++) {
		memset(&att, 0, sizeof(att));
		att.type = all[i];
		if (!fetch_add(ps, cmd, cap, &att))
			return false;
	}
	return true;
}

static bool
parse_fetch(struct imap_pstate *ps, struct imap_command *cmd)
{
	struct imap_fetch_att att;
	unsigned cap = 0;
	size_t save;
	struct span w;

	if (!sp(ps) || !seqset(ps, &cmd->u.fetch.set) || !sp(ps))
		return false;
	if (eat(ps, '(')) {
		for (;;) {
			if (!fetch_att(ps, &att) ||
			    !fetch_add(ps, cmd, &cap, &att))
				return false;
			if (eat(ps, ')'))
				break;
			if (!sp(ps))
				return false;
		}
	} else {
		save = ps->pos;
		w = word(ps);
		if (!fetch_macro(ps, cmd, &cap, w)) {
			if (ps->err != NULL)
				return false;
			ps->pos = save;
			if (!fetch_att(ps, &att) ||
			    !fetch_add(ps, cmd, &cap, &att))
				return false;
		}
	}
	if (at_end(ps))
		return true;
	/* RFC 7162 3.1.4, 3.2.6: (CHANGEDSINCE n [VANISHED]) */
	if (!sp(ps) || !expect(ps, '(', "expected fetch modifiers"))
		return false;
	for (;;) {
		w = word(ps);
		if (span_eq_str_ci(w, "CHANGEDSINCE") &&
		    !cmd->u.fetch.has_changedsince) {
			cmd->u.fetch.has_changedsince = true;
			if (!sp(ps) || !number64(ps, IMAP_NUMBER64_MAX,
			    &cmd->u.fetch.changedsince))
				return false;
		} else if (span_eq_str_ci(w, "VANISHED") &&
		    !cmd->u.fetch.vanished) {
			cmd->u.fetch.vanished = true;
		} else {
			return fail(ps, "unknown fetch modifier");
		}
		if (eat(ps, ')'))
			break;
		if (!sp(ps))
			return false;
	}
	if (cmd->u.fetch.vanished && (!cmd->is_uid ||
	    !cmd->u.fetch.has_changedsince))
		return fail(ps, "VANISHED needs UID FETCH and CHANGEDSINCE");
	return true;
}

/* ---- the other commands ---- */

static bool
parse_store(struct imap_pstate *ps, struct imap_command *cmd)
{
	struct span w, f;
	unsigned cap = 0;

	if (!sp(ps) || !seqset(ps, &cmd->u.store.set) || !sp(ps))
		return false;
	if (eat(ps, '(')) {
		w = word(ps);
		if (!span_eq_str_ci(w, "UNCHANGEDSINCE"))
			return fail(ps, "unknown store modifier");
		cmd->u.store.has_unchangedsince = true;
		if (!sp(ps) || !number64(ps, IMAP_NUMBER64_MAX,
		    &cmd->u.store.unchangedsince) ||
		    !expect(ps, ')', "expected )") || !sp(ps))
			return false;
	}
	cmd->u.store.mode = IMAP_STORE_REPLACE;
	if (eat(ps, '+'))
		cmd->u.store.mode = IMAP_STORE_ADD;
	else if (eat(ps, '-'))
		cmd->u.store.mode = IMAP_STORE_REMOVE;
	w = word(ps);
	if (span_eq_str_ci(w, "FLAGS.SILENT"))
		cmd->u.store.silent = true;
	else if (!span_eq_str_ci(w, "FLAGS"))
		return fail(ps, "expected FLAGS");
	if (!sp(ps))
		return false;
	if (peek(ps) == '(')
		return flag_list(ps, &cmd->u.store.flags);
	for (;;) {
		if (!flag(ps, &f))
			return false;
		if (cmd->u.store.flags.count >= ps->max_items)
			return fail(ps, "too many items");
		if (!grow(ps, (void **)&cmd->u.store.flags.v,
		    cmd->u.store.flags.count, &cap, sizeof(f)))
			return false;
		cmd->u.store.flags.v[cmd->u.store.flags.count++] = f;
		if (at_end(ps))
			return true;
		if (!sp(ps))
			return false;
	}
}

static bool
parse_search(struct imap_pstate *ps, struct imap_command *cmd)
{
	struct span w;
	size_t save;

	if (!sp(ps))
		return false;
	if (cmd->name == IMAP_CMD_SEARCH && span_starts_ci(span_make(ps->p +
	    ps->pos, ps->len - ps->pos), "RETURN (")) {
		ps->pos += 8;
		cmd->u.search.has_return = true;
		while (!eat(ps, ')')) {
			w = word(ps);
			if (span_eq_str_ci(w, "MIN"))
				cmd->u.search.ret_flags |=
				    IMAP_SEARCH_RET_F_MIN;
			else if (span_eq_str_ci(w, "MAX"))
				cmd->u.search.ret_flags |=
				    IMAP_SEARCH_RET_F_MAX;
			else if (span_eq_str_ci(w, "ALL"))
				cmd->u.search.ret_flags |=
				    IMAP_SEARCH_RET_F_ALL;
			else if (span_eq_str_ci(w, "COUNT"))
				cmd->u.search.ret_flags |=
				    IMAP_SEARCH_RET_F_COUNT;
			else if (span_eq_str_ci(w, "SAVE"))
				cmd->u.search.ret_flags |=
				    IMAP_SEARCH_RET_F_SAVE;
			else
				return fail(ps, "unknown search return "
				    "option");
			if (peek(ps) != ')' && !sp(ps))
				return false;
		}
		if (!sp(ps))
			return false;
	}
	save = ps->pos;
	w = word(ps);
	if (cmd->name != IMAP_CMD_SEARCH || span_eq_str_ci(w, "CHARSET")) {
		if (cmd->name == IMAP_CMD_SEARCH && !sp(ps))
			return false;
		if (cmd->name != IMAP_CMD_SEARCH)
			ps->pos = save;
		if (!astring(ps, &cmd->u.search.charset) || !sp(ps))
			return false;
	} else {
		ps->pos = save;
	}
	if ((cmd->u.search.key = new_key(ps, IMAP_SEARCH_AND)) == NULL)
		return false;
	return search_keys(ps, cmd->u.search.key, 0);
}

static const struct {
	const char		*name;
	enum imap_sort_key	 key;
} imap_sort_keys[] = {
	{ "ARRIVAL", IMAP_SORT_ARRIVAL }, { "CC", IMAP_SORT_CC },
	{ "DATE", IMAP_SORT_DATE }, { "FROM", IMAP_SORT_FROM },
	{ "SIZE", IMAP_SORT_SIZE }, { "SUBJECT", IMAP_SORT_SUBJECT },
	{ "TO", IMAP_SORT_TO }, { "DISPLAYFROM", IMAP_SORT_DISPLAYFROM },
	{ "DISPLAYTO", IMAP_SORT_DISPLAYTO },
};

static bool
parse_sort(struct imap_pstate *ps, struct imap_command *cmd)
{
	struct imap_sort_crit c;
	unsigned cap = 0;
	struct span w;
	size_t i;

	if (!sp(ps) || !expect(ps, '(', "expected sort criteria"))
		return false;
	for (;;) {
		memset(&c, 0, sizeof(c));
		w = word(ps);
		if (span_eq_str_ci(w, "REVERSE")) {
			c.is_reverse = true;
			if (!sp(ps))
				return false;
			w = word(ps);
		}
		for (i = 0; i < sizeof(imap_sort_keys) /
		    sizeof(imap_sort_keys[0]); i++)
			if (span_eq_str_ci(w, imap_sort_keys[i].name))
				c.key = imap_sort_keys[i].key;
		if (c.key == 0)
			return fail(ps, "unknown sort criterion");
		if (cmd->u.search.ncrit >= ps->max_items)
			return fail(ps, "too many items");
		if (!grow(ps, (void **)&cmd->u.search.crit,
		    cmd->u.search.ncrit, &cap, sizeof(c)))
			return false;
		cmd->u.search.crit[cmd->u.search.ncrit++] = c;
		if (eat(ps, ')'))
			break;
		if (!sp(ps))
			return false;
	}
	return parse_search(ps, cmd);
}

static bool
parse_thread(struct imap_pstate *ps, struct imap_command *cmd)
{
	return sp(ps) && atom(ps, &cmd->u.search.algorithm) &&
	    parse_search(ps, cmd);
}

static bool
status_att(struct imap_pstate *ps, unsigned *items)
{
	static const struct {
		const char	*name;
		unsigned	 flag;
	} atts[] = {
		{ "MESSAGES", IMAP_STATUS_F_MESSAGES },
		{ "UIDNEXT", IMAP_STATUS_F_UIDNEXT },
		{ "UIDVALIDITY", IMAP_STATUS_F_UIDVALIDITY },
		{ "UNSEEN", IMAP_STATUS_F_UNSEEN },
		{ "DELETED", IMAP_STATUS_F_DELETED },
		{ "SIZE", IMAP_STATUS_F_SIZE },
		{ "RECENT", IMAP_STATUS_F_RECENT },
		{ "HIGHESTMODSEQ", IMAP_STATUS_F_HIGHESTMODSEQ },
		{ "APPENDLIMIT", IMAP_STATUS_F_APPENDLIMIT },
	};
	struct span w = word(ps);
	size_t i;

	for (i = 0; i < sizeof(atts) / sizeof(atts[0]); i++) {
		if (span_eq_str_ci(w, atts[i].name)) {
			*items |= atts[i].flag;
			return true;
		}
	}
	return fail(ps, "unknown status item");
}

static bool
status_list(struct imap_pstate *ps, unsigned *items)
{
	if (!expect(ps, '(', "expected status items"))
		return false;
	for (;;) {
		if (!status_att(ps, items))
			return false;
		if (eat(ps, ')'))
			return true;
		if (!sp(ps))
			return false;
	}
}

static bool
parse_list(struct imap_pstate *ps, struct imap_command *cmd)
{
	struct imap_mailbox mb;
	unsigned cap = 0, n = 0;
	struct span w;

	if (!sp(ps))
		return false;
	if (cmd->name == IMAP_CMD_LIST && eat(ps, '(')) {
		/* RFC 5258 list-select-opts */
		cmd->u.list.is_extended = true;
		while (!eat(ps, ')')) {
			w = word(ps);
			if (span_eq_str_ci(w, "SUBSCRIBED"))
				cmd->u.list.sel_flags |=
				    IMAP_LIST_SEL_F_SUBSCRIBED;
			else if (span_eq_str_ci(w, "REMOTE"))
				cmd->u.list.sel_flags |=
				    IMAP_LIST_SEL_F_REMOTE;
			else if (span_eq_str_ci(w, "RECURSIVEMATCH"))
				cmd->u.list.sel_flags |=
				    IMAP_LIST_SEL_F_RECURSIVEMATCH;
			else if (span_eq_str_ci(w, "SPECIAL-USE"))
				cmd->u.list.sel_flags |=
				    IMAP_LIST_SEL_F_SPECIAL_USE;
			else
				return fail(ps, "unknown list selection "
				    "option");
			if (peek(ps) != ')' && !sp(ps))
				return false;
		}
		if (cmd->u.list.sel_flags == IMAP_LIST_SEL_F_RECURSIVEMATCH)
			return fail(ps, "RECURSIVEMATCH needs another option");
		if (!sp(ps))
			return false;
	}
	if (!mailbox(ps, &cmd->u.list.ref) || !sp(ps))
		return false;
	if (cmd->name == IMAP_CMD_LIST && eat(ps, '(')) {
		cmd->u.list.is_extended = true;
		for (;;) {
			if (!list_mailbox(ps, &mb) || !count_item(ps, &n))
				return false;
			if (!grow(ps, (void **)&cmd->u.list.patterns,
			    cmd->u.list.npatterns, &cap, sizeof(mb)))
				return false;
			cmd->u.list.patterns[cmd->u.list.npatterns++] = mb;
			if (eat(ps, ')'))
				break;
			if (!sp(ps))
				return false;
		}
	} else {
		if ((cmd->u.list.patterns = palloc(ps, sizeof(mb))) == NULL ||
		    !list_mailbox(ps, &cmd->u.list.patterns[0]))
			return false;
		cmd->u.list.npatterns = 1;
	}
	if (cmd->name != IMAP_CMD_LIST || at_end(ps))
		return true;
	/* RFC 5258 list-return-opts, RFC 5819 STATUS */
	if (!sp(ps) || !span_starts_ci(span_make(ps->p + ps->pos,
	    ps->len - ps->pos), "RETURN ("))
		return fail(ps, "expected RETURN");
	ps->pos += 8;
	cmd->u.list.is_extended = true;
	while (!eat(ps, ')')) {
		w = word(ps);
		if (span_eq_str_ci(w, "SUBSCRIBED")) {
			cmd->u.list.ret_flags |= IMAP_LIST_RET_F_SUBSCRIBED;
		} else if (span_eq_str_ci(w, "CHILDREN")) {
			cmd->u.list.ret_flags |= IMAP_LIST_RET_F_CHILDREN;
		} else if (span_eq_str_ci(w, "SPECIAL-USE")) {
			cmd->u.list.ret_flags |= IMAP_LIST_RET_F_SPECIAL_USE;
		} else if (span_eq_str_ci(w, "STATUS")) {
			cmd->u.list.ret_flags |= IMAP_LIST_RET_F_STATUS;
			if (!sp(ps) || !status_list(ps,
			    &cmd->u.list.status_items))
				return false;
		} else {
			return fail(ps, "unknown list return option");
		}
		if (peek(ps) != ')' && !sp(ps))
			return false;
	}
	return true;
}

static bool
parse_select(struct imap_pstate *ps, struct imap_command *cmd)
{
	struct span w;

	if (!sp(ps) || !mailbox(ps, &cmd->u.select.mbox))
		return false;
	if (at_end(ps))
		return true;
	if (!sp(ps) || !expect(ps, '(', "expected select parameters"))
		return false;
	for (;;) {
		w = word(ps);
		if (span_eq_str_ci(w, "CONDSTORE")) {
			cmd->u.select.condstore = true;
		} else if (span_eq_str_ci(w, "QRESYNC") &&
		    !cmd->u.select.qresync) {
			/* RFC 7162 3.2.5 */
			cmd->u.select.qresync = true;
			if (!sp(ps) || !expect(ps, '(', "expected (") ||
			    !nz_number(ps, &cmd->u.select.uidvalidity) ||
			    !sp(ps) || !number64(ps, IMAP_NUMBER64_MAX,
			    &cmd->u.select.modseq))
				return false;
			if (eat(ps, ' ') && peek(ps) != '(' &&
			    !seqset(ps, &cmd->u.select.known_uids))
				return false;
			if (peek(ps) == ' ')
				ps->pos++;
			if (eat(ps, '(')) {
				if (!seqset(ps, &cmd->u.select.seq_match) ||
				    !sp(ps) || !seqset(ps,
				    &cmd->u.select.uid_match) ||
				    !expect(ps, ')', "expected )"))
					return false;
			}
			if (!expect(ps, ')', "expected )"))
				return false;
		} else {
			return fail(ps, "unknown select parameter");
		}
		if (eat(ps, ')'))
			return true;
		if (!sp(ps))
			return false;
	}
}

static bool
parse_create(struct imap_pstate *ps, struct imap_command *cmd)
{
	struct span w;

	if (!sp(ps) || !mailbox(ps, &cmd->u.create.mbox))
		return false;
	if (at_end(ps))
		return true;
	/* RFC 6154 5.2: CREATE name (USE (\Drafts)) */
	if (!sp(ps) || !expect(ps, '(', "expected create parameters"))
		return false;
	w = word(ps);
	if (!span_eq_str_ci(w, "USE"))
		return fail(ps, "unknown create parameter");
	return sp(ps) && flag_list(ps, &cmd->u.create.use) &&
	    expect(ps, ')', "expected )");
}

static bool
parse_append(struct imap_pstate *ps, struct imap_command *cmd)
{
	struct imap_append_msg *m, **tail = &cmd->u.append.msgs;
	struct imap_litinfo li;
	struct span w;
	size_t save;

	if (!sp(ps) || !mailbox(ps, &cmd->u.append.mbox))
		return false;
	do {
		if (!sp(ps))
			return false;
		if (cmd->u.append.count >= ps->max_items)
			return fail(ps, "too many messages");
		if ((m = palloc(ps, sizeof(*m))) == NULL)
			return false;
		if (peek(ps) == '(') {
			if (!flag_list(ps, &m->flags) || !sp(ps))
				return false;
		}
		if (peek(ps) == '"') {
			m->has_date = true;
			if (!date_time(ps, &m->date) || !sp(ps))
				return false;
		}
		save = ps->pos;
		w = word(ps);
		if (span_eq_str_ci(w, "UTF8")) {
			/* RFC 6855 4: UTF8 (~{n}) */
			if (!sp(ps) || !expect(ps, '(', "expected (") ||
			    !literal(ps, true, &li) ||
			    !expect(ps, ')', "expected )"))
				return false;
		} else {
			ps->pos = save;
			if (!literal(ps, true, &li))
				return false;
		}
		m->is_binary = li.binary;
		m->is_streamed = li.streamed;
		m->literal_index = li.index;
		m->size = li.size;
		m->data = li.raw;
		*tail = m;
		tail = &m->next;
		cmd->u.append.count++;
	} while (!at_end(ps));
	return true;
}

static bool
is_base64(struct span s)
{
	size_t i, pad = 0;

	if (s.len == 1 && s.p[0] == '=')
		return true;
	if (s.len % 4 != 0)
		return false;
	for (i = 0; i < s.len; i++) {
		uint8_t c = s.p[i];

		if (c == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || !(ascii_isalnum(c) || c == '+' || c == '/'))
			return false;
	}
	return pad <= 2;
}

static bool
parse_authenticate(struct imap_pstate *ps, struct imap_command *cmd)
{
	size_t start;
	struct span ir;

	if (!sp(ps) || !atom(ps, &cmd->u.authenticate.mech))
		return false;
	if (at_end(ps))
		return true;
	if (!sp(ps))
		return false;
	start = ps->pos;
	while (ps->pos < ps->len && ps->p[ps->pos] != '\r')
		ps->pos++;
	ir = span_make(ps->p + start, ps->pos - start);
	if (ir.len == 0 || !is_base64(ir))
		return fail(ps, "invalid initial response");
	cmd->u.authenticate.has_ir = true;
	return pdup(ps, ir.p, ir.len, &cmd->u.authenticate.ir);
}

static bool
parse_enable(struct imap_pstate *ps, struct imap_command *cmd)
{
	unsigned cap = 0;
	struct span a;

	do {
		if (!sp(ps) || !atom(ps, &a))
			return false;
		if (cmd->u.enable.count >= ps->max_items)
			return fail(ps, "too many items");
		if (!grow(ps, (void **)&cmd->u.enable.caps,
		    cmd->u.enable.count, &cap, sizeof(a)))
			return false;
		cmd->u.enable.caps[cmd->u.enable.count++] = a;
	} while (!at_end(ps));
	return true;
}

/* RFC 2971 3.3: at most 30 field-value pairs */
#define IMAP_ID_MAX_PAIRS	30

static bool
parse_id(struct imap_pstate *ps, struct imap_command *cmd)
{
	struct imap_id_param prm;
	unsigned cap = 0;
	struct imap_nstring nil;

	if (!sp(ps))
		return false;
	if (peek(ps) != '(') {
		if (!nstring(ps, &nil) || !nil.is_nil)
			return fail(ps, "expected ( or NIL");
		cmd->u.id.is_nil = true;
		return true;
	}
	ps->pos++;
	if (eat(ps, ')'))
		return true;
	for (;;) {
		if (!string(ps, &prm.key) || !sp(ps) ||
		    !nstring(ps, &prm.value))
			return false;
		if (cmd->u.id.count >= IMAP_ID_MAX_PAIRS)
			return fail(ps, "too many ID fields");
		if (!grow(ps, (void **)&cmd->u.id.params, cmd->u.id.count,
		    &cap, sizeof(prm)))
			return false;
		cmd->u.id.params[cmd->u.id.count++] = prm;
		if (eat(ps, ')'))
			return true;
		if (!sp(ps))
			return false;
	}
}

static bool
parse_setquota(struct imap_pstate *ps, struct imap_command *cmd)
{
	struct imap_quota_res res;
	unsigned cap = 0;

	if (!sp(ps) || !astring(ps, &cmd->u.quota.root) || !sp(ps) ||
	    !expect(ps, '(', "expected ("))
		return false;
	if (eat(ps, ')'))
		return true;
	for (;;) {
		if (!atom(ps, &res.name) || !sp(ps) ||
		    !number64(ps, IMAP_NUMBER64_MAX, &res.limit))
			return false;
		if (cmd->u.quota.count >= ps->max_items)
			return fail(ps, "too many items");
		if (!grow(ps, (void **)&cmd->u.quota.res, cmd->u.quota.count,
		    &cap, sizeof(res)))
			return false;
		cmd->u.quota.res[cmd->u.quota.count++] = res;
		if (eat(ps, ')'))
			return true;
		if (!sp(ps))
			return false;
	}
}

#define IMAP_C_UID	0x1u	/* may follow UID */
#define IMAP_C_NOARGS	0x2u	/* nothing after the name */

static const struct {
	const char		*name;
	enum imap_cmd_name	 cmd;
	unsigned		 flags;
} imap_commands[] = {
	{ "CAPABILITY", IMAP_CMD_CAPABILITY, IMAP_C_NOARGS },
	{ "NOOP", IMAP_CMD_NOOP, IMAP_C_NOARGS },
	{ "LOGOUT", IMAP_CMD_LOGOUT, IMAP_C_NOARGS },
	{ "STARTTLS", IMAP_CMD_STARTTLS, IMAP_C_NOARGS },
	{ "AUTHENTICATE", IMAP_CMD_AUTHENTICATE, 0 },
	{ "LOGIN", IMAP_CMD_LOGIN, 0 },
	{ "ENABLE", IMAP_CMD_ENABLE, 0 },
	{ "SELECT", IMAP_CMD_SELECT, 0 },
	{ "EXAMINE", IMAP_CMD_EXAMINE, 0 },
	{ "CREATE", IMAP_CMD_CREATE, 0 },
	{ "DELETE", IMAP_CMD_DELETE, 0 },
	{ "RENAME", IMAP_CMD_RENAME, 0 },
	{ "SUBSCRIBE", IMAP_CMD_SUBSCRIBE, 0 },
	{ "UNSUBSCRIBE", IMAP_CMD_UNSUBSCRIBE, 0 },
	{ "LIST", IMAP_CMD_LIST, 0 },
	{ "LSUB", IMAP_CMD_LSUB, 0 },
	{ "NAMESPACE", IMAP_CMD_NAMESPACE, IMAP_C_NOARGS },
	{ "STATUS", IMAP_CMD_STATUS, 0 },
	{ "APPEND", IMAP_CMD_APPEND, 0 },
	{ "IDLE", IMAP_CMD_IDLE, IMAP_C_NOARGS },
	{ "CHECK", IMAP_CMD_CHECK, IMAP_C_NOARGS },
	{ "CLOSE", IMAP_CMD_CLOSE, IMAP_C_NOARGS },
	{ "UNSELECT", IMAP_CMD_UNSELECT, IMAP_C_NOARGS },
	{ "EXPUNGE", IMAP_CMD_EXPUNGE, IMAP_C_UID },
	{ "SEARCH", IMAP_CMD_SEARCH, IMAP_C_UID },
	{ "FETCH", IMAP_CMD_FETCH, IMAP_C_UID },
	{ "STORE", IMAP_CMD_STORE, IMAP_C_UID },
	{ "COPY", IMAP_CMD_COPY, IMAP_C_UID },
	{ "MOVE", IMAP_CMD_MOVE, IMAP_C_UID },
	{ "SORT", IMAP_CMD_SORT, IMAP_C_UID },
	{ "THREAD", IMAP_CMD_THREAD, IMAP_C_UID },
	{ "ID", IMAP_CMD_ID, 0 },
	{ "COMPRESS", IMAP_CMD_COMPRESS, 0 },
	{ "GETQUOTA", IMAP_CMD_GETQUOTA, 0 },
	{ "GETQUOTAROOT", IMAP_CMD_GETQUOTAROOT, 0 },
	{ "SETQUOTA", IMAP_CMD_SETQUOTA, 0 },
};

static bool
parse_args(struct imap_pstate *ps, struct imap_command *cmd)
{
	switch (cmd->name) {
	case IMAP_CMD_AUTHENTICATE:
		return parse_authenticate(ps, cmd);
	case IMAP_CMD_LOGIN:
		return sp(ps) && astring(ps, &cmd->u.login.user) && sp(ps) &&
		    astring(ps, &cmd->u.login.pass);
	case IMAP_CMD_ENABLE:
		return parse_enable(ps, cmd);
	case IMAP_CMD_SELECT:
	case IMAP_CMD_EXAMINE:
		return parse_select(ps, cmd);
	case IMAP_CMD_CREATE:
		return parse_create(ps, cmd);
	case IMAP_CMD_DELETE:
	case IMAP_CMD_SUBSCRIBE:
	case IMAP_CMD_UNSUBSCRIBE:
	case IMAP_CMD_GETQUOTAROOT:
		return sp(ps) && mailbox(ps, &cmd->u.mbox);
	case IMAP_CMD_RENAME:
		return sp(ps) && mailbox(ps, &cmd->u.rename.from) &&
		    sp(ps) && mailbox(ps, &cmd->u.rename.to);
	case IMAP_CMD_LIST:
	case IMAP_CMD_LSUB:
		return parse_list(ps, cmd);
	case IMAP_CMD_STATUS:
		return sp(ps) && mailbox(ps, &cmd->u.status.mbox) &&
		    sp(ps) && status_list(ps, &cmd->u.status.items);
	case IMAP_CMD_APPEND:
		return parse_append(ps, cmd);
	case IMAP_CMD_EXPUNGE:
		if (!cmd->is_uid)
			return true;
		return sp(ps) && seqset(ps, &cmd->u.expunge.set);
	case IMAP_CMD_SEARCH:
		return parse_search(ps, cmd);
	case IMAP_CMD_FETCH:
		return parse_fetch(ps, cmd);
	case IMAP_CMD_STORE:
		return parse_store(ps, cmd);
	case IMAP_CMD_COPY:
	case IMAP_CMD_MOVE:
		return sp(ps) && seqset(ps, &cmd->u.copy.set) && sp(ps) &&
		    mailbox(ps, &cmd->u.copy.mbox);
	case IMAP_CMD_SORT:
		return parse_sort(ps, cmd);
	case IMAP_CMD_THREAD:
		return parse_thread(ps, cmd);
	case IMAP_CMD_ID:
		return parse_id(ps, cmd);
	case IMAP_CMD_COMPRESS:
		return sp(ps) && atom(ps, &cmd->u.compress);
	case IMAP_CMD_GETQUOTA:
		return sp(ps) && astring(ps, &cmd->u.quota.root);
	case IMAP_CMD_SETQUOTA:
		return parse_setquota(ps, cmd);
	default:
		return true;
	}
}

int
imap_parse_command(struct arena *a, const struct imap_command_text *in,
    const struct imap_parse_options *opt, struct imap_command **cmd_r,
    struct span *tag_r, const char **error_r)
{
	struct imap_pstate ps;
	struct imap_command *cmd;
	struct span tag, w;
	size_t i;
	unsigned flags = 0;

	memset(&ps, 0, sizeof(ps));
	ps.a = a;
	ps.p = in->text.p;
	ps.len = in->text.len;
	ps.lits = in->lits;
	ps.nlits = in->nlits;
	ps.utf8 = opt != NULL && opt->utf8;
	ps.max_nesting = opt != NULL && opt->max_nesting != 0 ?
	    opt->max_nesting : IMAP_MAX_NESTING;
	ps.max_items = opt != NULL && opt->max_items != 0 ?
	    opt->max_items : IMAP_MAX_ITEMS;
	ps.max_memory = opt != NULL && opt->max_memory != 0 ?
	    opt->max_memory : IMAP_MAX_PARSE_MEMORY;
	*cmd_r = NULL;
	if (tag_r != NULL)
		*tag_r = span_make(NULL, 0);

	while (ps.pos < ps.len && is_tag_char(ps.p[ps.pos]))
		ps.pos++;
	tag = span_make(ps.p, ps.pos);
	if (tag.len == 0 || peek(&ps) != ' ') {
		*error_r = "invalid tag";
		return -1;
	}
	if (tag_r != NULL)
		*tag_r = tag;
	if (ps.len < 2 || ps.p[ps.len - 2] != '\r' ||
	    ps.p[ps.len - 1] != '\n') {
		*error_r = "command must end with CRLF";
		return -1;
	}
	if ((cmd = palloc(&ps, sizeof(*cmd))) == NULL ||
	    !pdup(&ps, tag.p, tag.len, &cmd->tag)) {
		*error_r = ps.err;
		return -1;
	}
	ps.pos++;
	w = word(&ps);
	if (span_eq_str_ci(w, "UID")) {
		cmd->is_uid = true;
		if (!sp(&ps)) {
			*error_r = ps.err;
			return -1;
		}
		w = word(&ps);
	}
	for (i = 0; i < sizeof(imap_commands) / sizeof(imap_commands[0]);
	    i++) {
		if (span_eq_str_ci(w, imap_commands[i].name)) {
			cmd->name = imap_commands[i].cmd;
			flags = imap_commands[i].flags;
			break;
		}
	}
	if (cmd->name == 0 || (peek(&ps) != ' ' && !at_end(&ps))) {
		*error_r = "unknown command";
		return -1;
	}
	if (cmd->is_uid && !(flags & IMAP_C_UID)) {
		*error_r = "command cannot follow UID";
		return -1;
	}
	if (flags & IMAP_C_NOARGS) {
		if (!at_end(&ps)) {
			*error_r = "unexpected arguments";
			return -1;
		}
	} else if (!parse_args(&ps, cmd)) {
		*error_r = ps.err != NULL ? ps.err : "syntax error";
		return -1;
	}
	if (!at_end(&ps)) {
		*error_r = "unexpected characters after the command";
		return -1;
	}
	if (ps.nlits > 0 && ps.lit_next != ps.nlits) {
		*error_r = "literal mismatch";
		return -1;
	}
	*cmd_r = cmd;
	return 0;
}
