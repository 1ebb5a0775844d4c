/*
 * imap_search.c - SEARCH criteria evaluation: RFC 9051 section 6.4.4
 * (every key), RFC 3501's RECENT/NEW/OLD, RFC 5182 "$", RFC 7162 MODSEQ.
 *
 * One message at a time, pure.  String keys are case-insensitive
 * substring matches over folded text (imap_search_fold: ASCII and the
 * simple lowercase of the common alphabets); header keys look at the
 * RFC 2047-decoded, unfolded value of every field of that name; BODY and
 * TEXT look at mime_text_extract(), the very text the full-text index
 * holds.  What a message costs is loaded lazily once per call and shared
 * by all keys.  Message bytes are untrusted; the keys come from a parsed
 * command (depth bounded by the parser's IMAP_MAX_NESTING).
 */
#include "imap/imap_search.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imap/imap_search_int.h"
#include "lib/ascii.h"
#include "lib/buf.h"
#include "lib/postino_limits.h"
#include "mime/mime_header.h"
#include "mime/mime_text.h"
#include "store/mailstore.h"

/* ---- case folding ---- */

/* fold_cp - simple lowercase of the letters we fold; others unchanged.
 * Every mapping keeps the UTF-8 length, so folded text is as long as the
 * original and offsets agree. */
static uint32_t
fold_cp(uint32_t c)
{
	if (c < 0x80)
		return (uint32_t)ascii_tolower((int)c);
	if (c < 0x100)
		return (c >= 0xc0 && c <= 0xde && c != 0xd7) ? c + 0x20 : c;
	if (c < 0x180) {
		if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 ||
		    c == 0x17f)
			return c;	/* I-dot, dotless i, kra, 'n, long s */
		if (c == 0x178)
			return 0xff;	/* Y diaeresis */
		if (c <= 0x137 || (c >= 0x14a && c <= 0x177))
			return c | 1;	/* upper even, lower odd */
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
			return (c & 1) ? c + 1 : c;
		return c;
	}
	if (c >= 0x386 && c <= 0x3ab) {	/* Greek */
		if (c == 0x386)
			return 0x3ac;
		if (c >= 0x388 && c <= 0x38a)
			return c + 37;
		if (c == 0x38c)
			return 0x3cc;
		if (c == 0x38e || c == 0x38f)
			return c + 63;
		if (c >= 0x391 && c != 0x3a2)
			return c + 32;
		return c;
	}
	if (c >= 0x400 && c <= 0x52f) {	/* Cyrillic */
		if (c <= 0x40f)
			return c + 80;
		if (c <= 0x42f)
			return c + 32;
		/* not U+0528..U+052F (Unicode 7): SQLite does not fold
		 * them, and the index must stay a superset */
		if ((c >= 0x460 && c <= 0x481) || (c >= 0x48a && c <= 0x4bf) ||
		    (c >= 0x4d0 && c <= 0x527))
			return c | 1;
		if (c == 0x4c0)
			return 0x4cf;
		if (c >= 0x4c1 && c <= 0x4ce)
			return (c & 1) ? c + 1 : c;
		return c;
	}
	if (c >= 0x531 && c <= 0x556)	/* Armenian */
		return c + 48;
	if ((c >= 0x1e00 && c <= 0x1e95) || (c >= 0x1ea0 && c <= 0x1eff))
		return c | 1;		/* Latin Extended Additional */
	if (c >= 0xff21 && c <= 0xff3a)	/* fullwidth A-Z */
		return c + 32;
	return c;
}

/* utf8_decode - a well-formed sequence at p[0..n): its length and code
 * point, or 0 if p does not start one */
static size_t
utf8_decode(const uint8_t *p, size_t n, uint32_t *cp)
{
	uint32_t c = p[0];
	size_t len, i;

	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		c &= 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		c &= 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		c &= 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	*cp = c;
	return len;
}

static size_t
utf8_encode(uint32_t c, uint8_t *o)
{
	if (c < 0x80) {
		o[0] = (uint8_t)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (uint8_t)(0xc0 | (c >> 6));
		o[1] = (uint8_t)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (uint8_t)(0xe0 | (c >> 12));
		o[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
		o[2] = (uint8_t)(0x80 | (c & 0x3f));
		return 3;
	}
	o[0] = (uint8_t)(0xf0 | (c >> 18));
	o[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3f));
	o[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3f));
	o[3] = (uint8_t)(0x80 | (c & 0x3f));
	return 4;
}

/* ASCII lowercase of a byte below 0x80 */
static const uint8_t ascii_lower[128] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
	16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
	' ', '!', '"', '#', '$', '%', '&', '\'', '(', ')', '*', '+', ',', '-',
	'.', '/', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';',
	'<', '=', '>', '?', '@', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i',
	'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v', 'w',
	'x', 'y', 'z', '[', '\\', ']', '^', '_', '`', 'a', 'b', 'c', 'd', 'e',
	'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's',
	't', 'u', 'v', 'w', 'x', 'y', 'z', '{', '|', '}', '~', 127,
};

int
imap_search_fold(struct span in, struct buf *out)
{
	uint8_t *o;
	size_t i = 0, n, k;
	uint32_t c, f;

	if ((o = buf_reserve(out, in.len)) == NULL)
		return -1;
	while (i < in.len) {
		if (in.p[i] < 0x80) {
			/* the common case, kept to a table lookup per byte */
			do {
				*o++ = ascii_lower[in.p[i++]];
			} while (i < in.len && in.p[i] < 0x80);
			continue;
		}
		n = utf8_decode(in.p + i, in.len - i, &c);
		if (n == 0) {
			*o++ = in.p[i++];	/* not UTF-8: as it is */
			continue;
		}
		f = fold_cp(c);
		if (f != c && (k = utf8_encode(f, o)) == n) {
			o += k;
		} else {
			memcpy(o, in.p + i, n);	/* same length always */
			o += n;
		}
		i += n;
	}
	out->len += in.len;
	out->data[out->len] = '\0';
	return 0;
}

static bool
contains_folded(struct span hay, struct span needle)
{
	if (needle.len == 0)
		return true;
	if (hay.len < needle.len)
		return false;
	return memmem(hay.p, hay.len, needle.p, needle.len) != NULL;
}

bool
imap_search_contains(struct span hay, struct span needle)
{
	struct buf fh, fn;
	bool r;

	buf_init(&fh, hay.len);
	buf_init(&fn, needle.len);
	if (imap_search_fold(hay, &fh) < 0 || imap_search_fold(needle, &fn) < 0)
		r = false;	/* cannot happen: the ceilings fit */
	else
		r = contains_folded(buf_span(&fh), buf_span(&fn));
	buf_fini(&fh);
	buf_fini(&fn);
	return r;
}

/* ---- RFC 5322 dates ---- */

struct date_tok {
	char	s[16];
	size_t	len;
};

/* date_tokens - words of value without comments, split at blanks and
 * commas; a "+hhmm" zone is a word of its own */
static size_t
date_tokens(struct span v, struct date_tok *t, size_t max)
{
	size_t i = 0, n = 0;
	int depth = 0;

	while (i < v.len && n < max) {
		uint8_t c = v.p[i];

		if (depth > 0 || c == '(') {
			if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			else if (c == '\\')
				i++;
			i++;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
		    c == ',') {
			i++;
			continue;
		}
		t[n].len = 0;
		do {
			if (t[n].len < sizeof(t[n].s) - 1)
				t[n].s[t[n].len++] = (char)v.p[i];
			i++;
		} while (i < v.len && v.p[i] != ' ' && v.p[i] != '\t' &&
		    v.p[i] != '\r' && v.p[i] != '\n' && v.p[i] != ',' &&
		    v.p[i] != '(' && v.p[i] != '+' && v.p[i] != '-');
		t[n].s[t[n].len] = '\0';
		n++;
	}
	return n;
}

static bool
tok_num(const struct date_tok *t, size_t minlen, size_t maxlen, int *v)
{
	size_t i;

	if (t->len < minlen || t->len > maxlen)
		return false;
	*v = 0;
	for (i = 0; i < t->len; i++) {
		if (!ascii_isdigit(t->s[i]))
			return false;
		*v = *v * 10 + (t->s[i] - '0');
	}
	return true;
}

static int
month_of(const struct date_tok *t)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	int i;

	if (t->len < 3)
		return 0;
	for (i = 0; i < 12; i++) {
		if (ascii_tolower(t->s[0]) == months[i * 3] &&
		    ascii_tolower(t->s[1]) == months[i * 3 + 1] &&
		    ascii_tolower(t->s[2]) == months[i * 3 + 2])
			return i + 1;
	}
	return 0;
}

/* zone_of - minutes east of UTC of a zone token (RFC 5322 4.3) */
static bool
zone_of(const struct date_tok *t, int *minutes)
{
	static const struct {
		const char	*name;
		int		 hours;
	} names[] = {
		{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 }, { "Z", 0 },
		{ "EST", -5 }, { "EDT", -4 }, { "CST", -6 }, { "CDT", -5 },
		{ "MST", -7 }, { "MDT", -6 }, { "PST", -8 }, { "PDT", -7 },
	};
	size_t i;
	int v;

	if (t->len == 5 && (t->s[0] == '+' || t->s[0] == '-')) {
		struct date_tok d = *t;

		memmove(d.s, d.s + 1, 5);
		d.len = 4;
		if (!tok_num(&d, 4, 4, &v) || v % 100 > 59)
			return false;
		*minutes = (v / 100) * 60 + v % 100;
		if (t->s[0] == '-')
			*minutes = -*minutes;
		return true;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (ascii_strcasecmp(t->s, names[i].name) == 0) {
			*minutes = names[i].hours * 60;
			return true;
		}
	}
	return false;
}

static bool
time_of(const struct date_tok *t, int *h, int *m, int *s)
{
	struct date_tok part;
	const char *p = t->s;
	int *out[3] = { h, m, s };
	int i;

	*s = 0;
	for (i = 0; i < 3 && *p != '\0'; i++) {
		part.len = 0;
		while (*p != '\0' && *p != ':' && part.len < 3)
			part.s[part.len++] = *p++;
		part.s[part.len] = '\0';
		if (!tok_num(&part, 1, 2, out[i]))
			return false;
		if (*p == ':')
			p++;
	}
	return i >= 2 && *p == '\0' && *h < 24 && *m < 60 && *s <= 60;
}

bool
imap_search_date_parse(struct span value, struct imap_date *date_r,
    time_t *utc_r)
{
	struct date_tok t[8];
	size_t n = date_tokens(value, t, 8), i = 0;
	int day, mon, year, h = 0, mi = 0, s = 0, zone = 0;
	struct tm tm;

	if (n > 0 && ascii_isalpha(t[0].s[0]))
		i++;	/* day of week (no weekday is a month name) */
	if (i + 3 > n || !tok_num(&t[i], 1, 2, &day) ||
	    (mon = month_of(&t[i + 1])) == 0 ||
	    !tok_num(&t[i + 2], 2, 4, &year))
		return false;
	if (t[i + 2].len == 2)
		year += year < 50 ? 2000 : 1900;
	else if (t[i + 2].len == 3)
		year += 1900;
	if (day < 1 || day > 31 || year < 1000)
		return false;
	date_r->year = (uint16_t)year;
	date_r->month = (uint8_t)mon;
	date_r->day = (uint8_t)day;
	if (utc_r == NULL)
		return true;
	i += 3;
	if (i < n && time_of(&t[i], &h, &mi, &s)) {
		i++;
		if (i < n && !zone_of(&t[i], &zone))
			zone = 0;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	*utc_r = timegm(&tm) - (time_t)zone * 60;
	return true;
}

struct span
imap_search_header_of(struct span data)
{
	size_t i;

	/* an empty header: the message starts with the empty line */
	if (data.len > 0 && data.p[0] == '\n')
		return span_make(data.p, 1);
	if (data.len > 1 && data.p[0] == '\r' && data.p[1] == '\n')
		return span_make(data.p, 2);
	for (i = 0; i < data.len; i++) {
		if (data.p[i] != '\n')
			continue;
		if (i + 1 < data.len && data.p[i + 1] == '\n')
			return span_make(data.p, i + 2);
		if (i + 2 < data.len && data.p[i + 1] == '\r' &&
		    data.p[i + 2] == '\n')
			return span_make(data.p, i + 3);
	}
	return data;
}

/* ---- what the keys need ---- */

unsigned
imap_search_needs(const struct imap_search_key *k)
{
	unsigned need = 0;

	for (; k != NULL; k = k->next) {
		switch (k->op) {
		case IMAP_SEARCH_AND:
		case IMAP_SEARCH_OR:
		case IMAP_SEARCH_NOT:
			need |= imap_search_needs(k->child);
			break;
		case IMAP_SEARCH_BCC:
		case IMAP_SEARCH_CC:
		case IMAP_SEARCH_FROM:
		case IMAP_SEARCH_SUBJECT:
		case IMAP_SEARCH_TO:
		case IMAP_SEARCH_HEADER:
		case IMAP_SEARCH_SENTBEFORE:
		case IMAP_SEARCH_SENTON:
		case IMAP_SEARCH_SENTSINCE:
			need |= IMAP_SEARCH_NEED_HEADER;
			break;
		case IMAP_SEARCH_BODY:
		case IMAP_SEARCH_TEXT:
			need |= IMAP_SEARCH_NEED_BODY;
			break;
		default:
			break;
		}
	}
	return need;
}

static void
terms_walk(const struct imap_search_key *k, struct span *terms,
    bool *body_only, size_t max, size_t *n)
{
	for (; k != NULL && *n < max; k = k->next) {
		if (k->op == IMAP_SEARCH_AND) {
			terms_walk(k->child, terms, body_only, max, n);
		} else if ((k->op == IMAP_SEARCH_BODY ||
		    k->op == IMAP_SEARCH_TEXT) && k->str.len > 0) {
			if (body_only != NULL)
				body_only[*n] = k->op == IMAP_SEARCH_BODY;
			terms[(*n)++] = k->str;
		}
	}
}

size_t
imap_search_fts_terms_kind(const struct imap_search_key *k,
    struct span *terms, bool *body_only_r, size_t max)
{
	size_t n = 0;

	if (k == NULL)
		return 0;
	if (k->op == IMAP_SEARCH_AND)
		terms_walk(k->child, terms, body_only_r, max, &n);
	else if (max > 0) {
		/* a lone key: only itself, not its siblings */
		struct imap_search_key one = *k;

		one.next = NULL;
		terms_walk(&one, terms, body_only_r, max, &n);
	}
	return n;
}

size_t
imap_search_fts_terms(const struct imap_search_key *k, struct span *terms,
    size_t max)
{
	return imap_search_fts_terms_kind(k, terms, NULL, max);
}

/* ---- matching ---- */

/* what one message has loaded so far */
struct mstate {
	const struct imap_search_msg	*m;
	const struct imap_search_ctx	*c;
	struct span			 hdr;
	bool				 have_text, text_failed;
	struct buf			 htext, btext;	/* folded */
	bool				 have_sent, sent_ok;
	struct imap_date		 sent;
};

static unsigned
day_number(const struct imap_date *d)
{
	return (unsigned)d->year * 512u + (unsigned)d->month * 32u + d->day;
}

static struct imap_date
internal_day(const struct mstate *st)
{
	time_t t = st->m->internal_date + (time_t)st->c->zone_minutes * 60;
	struct imap_date d = { 0, 0, 0 };
	struct tm tm;

	if (gmtime_r(&t, &tm) != NULL) {
		d.year = (uint16_t)(tm.tm_year + 1900);
		d.month = (uint8_t)(tm.tm_mon + 1);
		d.day = (uint8_t)tm.tm_mday;
	}
	return d;
}

static bool
load_text(struct mstate *st)
{
	struct buf h, b;
	int rc;

	if (st->have_text)
		return !st->text_failed;
	st->have_text = true;
	buf_init(&h, MIME_TEXT_MAX_HEADER);
	buf_init(&b, MIME_TEXT_MAX_BODY);
	buf_init(&st->htext, MIME_TEXT_MAX_HEADER);
	buf_init(&st->btext, MIME_TEXT_MAX_BODY);
	rc = mime_text_extract(st->m->data.p, st->m->data.len, &h, &b);
	if (rc < 0 || imap_search_fold(buf_span(&h), &st->htext) < 0 ||
	    imap_search_fold(buf_span(&b), &st->btext) < 0)
		st->text_failed = true;
	buf_fini(&h);
	buf_fini(&b);
	return !st->text_failed;
}

/* field_match - any field called name whose decoded value holds the
 * folded needle (empty needle: the field is present) */
static bool
field_match(struct mstate *st, const char *name, struct span fname,
    struct span needle)
{
	struct mime_field f;
	struct buf v, fv;
	size_t pos = 0;
	bool hit = false;

	while (!hit && mime_header_next(st->hdr, &pos, &f)) {
		if (name != NULL ? !span_eq_str_ci(f.name, name) :
		    !span_eq_ci(f.name, fname))
			continue;
		if (needle.len == 0)
			return true;
		buf_init(&v, f.value.len * 4 + 64);
		buf_init(&fv, f.value.len * 4 + 64);
		if (mime_header_decode(f.value, &v) == 0 &&
		    imap_search_fold(buf_span(&v), &fv) == 0)
			hit = contains_folded(buf_span(&fv), needle);
		buf_fini(&v);
		buf_fini(&fv);
	}
	return hit;
}

static bool
sent_date(struct mstate *st, struct imap_date *d)
{
	struct span v;

	if (!st->have_sent) {
		st->have_sent = true;
		st->sent_ok = mime_header_find(st->hdr, "Date", &v) &&
		    imap_search_date_parse(v, &st->sent, NULL);
	}
	*d = st->sent;
	return st->sent_ok;
}

static bool
has_keyword(const char *list, struct span kw)
{
	const char *p = list, *e;

	if (list == NULL || kw.len == 0)
		return false;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		for (e = p; *e != '\0' && *e != ' '; e++)
			;
		if ((size_t)(e - p) == kw.len &&
		    span_eq_ci(span_make(p, kw.len), kw))
			return true;
		p = e;
	}
	return false;
}

/* flag_bit - a system flag named as a keyword ("\Seen"), or 0 */
static unsigned
flag_bit(struct span s)
{
	if (span_eq_str_ci(s, "\\Seen"))
		return MAILSTORE_F_SEEN;
	if (span_eq_str_ci(s, "\\Answered"))
		return MAILSTORE_F_ANSWERED;
	if (span_eq_str_ci(s, "\\Flagged"))
		return MAILSTORE_F_FLAGGED;
	if (span_eq_str_ci(s, "\\Deleted"))
		return MAILSTORE_F_DELETED;
	if (span_eq_str_ci(s, "\\Draft"))
		return MAILSTORE_F_DRAFT;
	return 0;
}

static bool
keyword_match(const struct imap_search_msg *m, struct span kw)
{
	unsigned bit = flag_bit(kw);

	if (bit != 0)
		return (m->flags & bit) != 0;
	return has_keyword(m->keywords, kw);
}

static bool
uid_saved(const struct imap_search_ctx *c, uint32_t uid)
{
	size_t lo = 0, hi = c->nsaved;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->saved_uids[mid] == uid)
			return true;
		if (c->saved_uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* in_set - v in the set, "*" (0) standing for star; "$" looks at uid */
static bool
in_set(const struct imap_seqset *s, uint32_t v, uint32_t star,
    const struct imap_search_ctx *c, uint32_t uid)
{
	unsigned i;

	if (s->is_saved)
		return c->saved_uids != NULL && uid_saved(c, uid);
	for (i = 0; i < s->count; i++) {
		uint32_t lo = s->ranges[i].lo, hi = s->ranges[i].hi, t;

		if (lo == 0)
			lo = star;
		if (hi == 0)
			hi = star;
		if (lo > hi) {
			t = lo;
			lo = hi;
			hi = t;
		}
		if (v >= lo && v <= hi && v != 0)
			return true;
	}
	return false;
}

static int match_key(const struct imap_search_key *k, struct mstate *st);

/* string_key - the folded key string against text or header fields */
static int
string_key(const struct imap_search_key *k, struct mstate *st)
{
	struct buf needle;
	const char *name = NULL;
	int r = 0;

	buf_init(&needle, k->str.len);
	if (imap_search_fold(k->str, &needle) < 0) {
		buf_fini(&needle);
		return -1;
	}
	switch (k->op) {
	case IMAP_SEARCH_BODY:
	case IMAP_SEARCH_TEXT:
		if (!load_text(st)) {
			r = -1;
			break;
		}
		r = contains_folded(buf_span(&st->btext), buf_span(&needle)) ||
		    (k->op == IMAP_SEARCH_TEXT && contains_folded(
		    buf_span(&st->htext), buf_span(&needle)));
		break;
	case IMAP_SEARCH_HEADER:
		r = field_match(st, NULL, k->field, buf_span(&needle));
		break;
	default:
		name = k->op == IMAP_SEARCH_BCC ? "Bcc" :
		    k->op == IMAP_SEARCH_CC ? "Cc" :
		    k->op == IMAP_SEARCH_FROM ? "From" :
		    k->op == IMAP_SEARCH_TO ? "To" : "Subject";
		/* an empty string: the field is present, as for HEADER */
		r = field_match(st, name, k->field, buf_span(&needle));
		break;
	}
	buf_fini(&needle);
	return r;
}

static int
match_list_and(const struct imap_search_key *k, struct mstate *st)
{
	int r;

	for (; k != NULL; k = k->next) {
		if ((r = match_key(k, st)) != 1)
			return r;
	}
	return 1;
}

static int
match_key(const struct imap_search_key *k, struct mstate *st)
{
	const struct imap_search_msg *m = st->m;
	struct imap_date d;
	int r;

	switch (k->op) {
	case IMAP_SEARCH_AND:
		return match_list_and(k->child, st);
	case IMAP_SEARCH_OR:
		if (k->child == NULL || k->child->next == NULL)
			return -1;
		if ((r = match_key(k->child, st)) != 0)
			return r;
		return match_key(k->child->next, st);
	case IMAP_SEARCH_NOT:
		if (k->child == NULL)
			return -1;
		r = match_key(k->child, st);
		return r < 0 ? r : !r;
	case IMAP_SEARCH_SEQSET:
		return in_set(&k->set, m->seq, st->c->exists, st->c, m->uid);
	case IMAP_SEARCH_UID:
		return in_set(&k->set, m->uid, st->c->max_uid, st->c, m->uid);
	case IMAP_SEARCH_ALL:
		return 1;
	case IMAP_SEARCH_ANSWERED:
		return (m->flags & MAILSTORE_F_ANSWERED) != 0;
	case IMAP_SEARCH_DELETED:
		return (m->flags & MAILSTORE_F_DELETED) != 0;
	case IMAP_SEARCH_DRAFT:
		return (m->flags & MAILSTORE_F_DRAFT) != 0;
	case IMAP_SEARCH_FLAGGED:
		return (m->flags & MAILSTORE_F_FLAGGED) != 0;
	case IMAP_SEARCH_SEEN:
		return (m->flags & MAILSTORE_F_SEEN) != 0;
	case IMAP_SEARCH_UNANSWERED:
		return (m->flags & MAILSTORE_F_ANSWERED) == 0;
	case IMAP_SEARCH_UNDELETED:
		return (m->flags & MAILSTORE_F_DELETED) == 0;
	case IMAP_SEARCH_UNDRAFT:
		return (m->flags & MAILSTORE_F_DRAFT) == 0;
	case IMAP_SEARCH_UNFLAGGED:
		return (m->flags & MAILSTORE_F_FLAGGED) == 0;
	case IMAP_SEARCH_UNSEEN:
		return (m->flags & MAILSTORE_F_SEEN) == 0;
	case IMAP_SEARCH_RECENT:
		return m->recent;
	case IMAP_SEARCH_NEW:
		return m->recent && (m->flags & MAILSTORE_F_SEEN) == 0;
	case IMAP_SEARCH_OLD:
		return !m->recent;
	case IMAP_SEARCH_KEYWORD:
		return keyword_match(m, k->str);
	case IMAP_SEARCH_UNKEYWORD:
		return !keyword_match(m, k->str);
	case IMAP_SEARCH_BCC:
	case IMAP_SEARCH_BODY:
	case IMAP_SEARCH_CC:
	case IMAP_SEARCH_FROM:
	case IMAP_SEARCH_SUBJECT:
	case IMAP_SEARCH_TEXT:
	case IMAP_SEARCH_TO:
	case IMAP_SEARCH_HEADER:
		return string_key(k, st);
	case IMAP_SEARCH_BEFORE:
		d = internal_day(st);
		return day_number(&d) < day_number(&k->date);
	case IMAP_SEARCH_ON:
		d = internal_day(st);
		return day_number(&d) == day_number(&k->date);
	case IMAP_SEARCH_SINCE:
		d = internal_day(st);
		return day_number(&d) >= day_number(&k->date);
	case IMAP_SEARCH_SENTBEFORE:
		return sent_date(st, &d) &&
		    day_number(&d) < day_number(&k->date);
	case IMAP_SEARCH_SENTON:
		return sent_date(st, &d) &&
		    day_number(&d) == day_number(&k->date);
	case IMAP_SEARCH_SENTSINCE:
		return sent_date(st, &d) &&
		    day_number(&d) >= day_number(&k->date);
	case IMAP_SEARCH_LARGER:
		return m->size > k->num;
	case IMAP_SEARCH_SMALLER:
		return m->size < k->num;
	case IMAP_SEARCH_MODSEQ:
		/* one modseq per message: the entry name and type (RFC 7162
		 * 3.1.5) cannot narrow further */
		return m->modseq >= k->num;
	}
	return -1;
}

int
imap_search_match(const struct imap_search_key *k,
    const struct imap_search_msg *m, const struct imap_search_ctx *c)
{
	struct mstate st;
	int r;

	memset(&st, 0, sizeof(st));
	st.m = m;
	st.c = c;
	st.hdr = m->header.len > 0 || m->data.len == 0 ? m->header :
	    imap_search_header_of(m->data);
	r = match_key(k, &st);
	if (st.have_text) {
		buf_fini(&st.htext);
		buf_fini(&st.btext);
	}
	return r;
}
