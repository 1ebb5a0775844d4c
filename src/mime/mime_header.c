/*
 * mime_header.c - header fields, Content-Type parameters, encoded words.
 *
 * RFC 5322 sections 2.2 and 4.5 (folding, obsolete blanks before the
 * colon), RFC 2045 section 5.1, RFC 2183, RFC 2231 sections 3-5, RFC 2047
 * sections 2-6.  Untrusted input: everything is bounded by the input
 * length, parameter counts by MIME_MAX_PARAMS, and work is linear except
 * for duplicate-name checks, which the parameter cap bounds.
 */
#include "mime/mime_header.h"

#include <string.h>

#include "lib/ascii.h"
#include "lib/postino_limits.h"
#include "mime/mime_decode.h"

static inline bool
is_wsp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static inline bool
is_fws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool
mime_header_next(struct span hdr, size_t *pos, struct mime_field *f)
{
	size_t start = *pos, i, eol, end, colon;
	const uint8_t *nl;

	if (start >= hdr.len)
		return false;
	if (hdr.p[start] == '\n' || (hdr.p[start] == '\r' &&
	    start + 1 < hdr.len && hdr.p[start + 1] == '\n'))
		return false;		/* the empty line ending the header */
	/* find the end of the field: a line end not followed by WSP */
	i = start;
	for (;;) {
		nl = memchr(hdr.p + i, '\n', hdr.len - i);
		if (nl == NULL) {
			eol = end = hdr.len;
			break;
		}
		eol = (size_t)(nl - hdr.p);
		end = eol + 1;
		if (end < hdr.len && is_wsp(hdr.p[end])) {
			i = end;
			continue;
		}
		break;
	}
	if (eol > start && eol < hdr.len && hdr.p[eol - 1] == '\r')
		eol--;
	else if (eol == hdr.len && eol > start && hdr.p[eol - 1] == '\r')
		eol--;
	nl = memchr(hdr.p + start, ':', eol - start);
	colon = nl != NULL ? (size_t)(nl - hdr.p) : eol;
	{
		size_t ne = colon;

		/* RFC 5322 4.5: obsolete blanks before the colon */
		while (ne > start && is_wsp(hdr.p[ne - 1]))
			ne--;
		f->name = span_make(hdr.p + start, ne - start);
	}
	if (colon < eol)
		f->value = span_make(hdr.p + colon + 1, eol - colon - 1);
	else
		f->value = span_make(hdr.p + eol, 0);
	f->raw = span_make(hdr.p + start, end - start);
	*pos = end;
	return true;
}

bool
mime_header_find(struct span hdr, const char *name, struct span *value_r)
{
	struct mime_field f;
	size_t pos = 0;

	while (mime_header_next(hdr, &pos, &f)) {
		if (span_eq_str_ci(f.name, name)) {
			*value_r = f.value;
			return true;
		}
	}
	return false;
}

/* unfold_into - copy v without CR/LF and trimmed; returns length. */
static size_t
unfold_into(struct span v, uint8_t *o)
{
	size_t i, n = 0, s = 0, e = v.len;

	while (s < e && is_fws(v.p[s]))
		s++;
	while (e > s && is_fws(v.p[e - 1]))
		e--;
	for (i = s; i < e; i++) {
		if (v.p[i] != '\r' && v.p[i] != '\n')
			o[n++] = v.p[i];
	}
	return n;
}

int
mime_header_unfold(struct span value, struct buf *out)
{
	uint8_t *o = buf_reserve(out, value.len);

	if (o == NULL)
		return -1;
	out->len += unfold_into(value, o);
	out->data[out->len] = '\0';
	return 0;
}

char *
mime_header_unfold_a(struct arena *a, struct span value, size_t *len_r)
{
	char *s = arena_alloc(a, value.len + 1);
	size_t n = unfold_into(value, (uint8_t *)s);

	s[n] = '\0';
	if (len_r != NULL)
		*len_r = n;
	return s;
}

/* ---- parameters ---- */

/* skip_cfws - skip blanks, folds and (nested) comments from i. */
static size_t
skip_cfws(struct span s, size_t i)
{
	while (i < s.len) {
		if (is_fws(s.p[i])) {
			i++;
		} else if (s.p[i] == '(') {
			int depth = 0;

			for (; i < s.len; i++) {
				if (s.p[i] == '\\' && i + 1 < s.len)
					i++;
				else if (s.p[i] == '(')
					depth++;
				else if (s.p[i] == ')' && --depth == 0) {
					i++;
					break;
				}
			}
		} else
			break;
	}
	return i;
}

static inline bool
is_tspecial(uint8_t c)
{
	return c <= ' ' || c == 0x7f || c == '(' || c == ')' || c == '<' ||
	    c == '>' || c == '@' || c == ',' || c == ';' || c == ':' ||
	    c == '\\' || c == '"' || c == '/' || c == '[' || c == ']' ||
	    c == '?' || c == '=';
}

struct raw_param {
	struct span	name;		/* lowercase copy, base name */
	struct span	orig;		/* the base name as written */
	int		section;	/* -1 if none */
	bool		extended;	/* ended in '*' */
	struct span	value;		/* unquoted, in the arena */
	bool		used;
};

/* quoted_into - unquote the quoted string at s.p[i] ('"'); *i_r past it. */
static struct span
unquote(struct span s, size_t *ip, struct arena *a)
{
	size_t i = *ip + 1, n = 0, end;
	uint8_t *o;

	/* find the end first: allocate only what the string holds */
	for (end = i; end < s.len && s.p[end] != '"'; end++) {
		if (s.p[end] == '\\' && end + 1 < s.len)
			end++;
	}
	o = arena_alloc(a, end - *ip + 1);

	while (i < s.len && s.p[i] != '"') {
		if (s.p[i] == '\\' && i + 1 < s.len)
			i++;
		else if (s.p[i] == '\r' || s.p[i] == '\n') {
			i++;	/* a fold inside the quoted string */
			continue;
		}
		o[n++] = s.p[i++];
	}
	if (i < s.len)
		i++;
	*ip = i;
	return span_make(o, n);
}

static int
pct_decode(struct span in, uint8_t *o)
{
	size_t i, n = 0;

	for (i = 0; i < in.len; i++) {
		if (in.p[i] == '%' && i + 2 < in.len &&
		    ascii_isxdigit(in.p[i + 1]) &&
		    ascii_isxdigit(in.p[i + 2])) {
			int h = ascii_isdigit(in.p[i + 1]) ? in.p[i + 1] - '0' :
			    (ascii_tolower(in.p[i + 1]) - 'a' + 10);
			int l = ascii_isdigit(in.p[i + 2]) ? in.p[i + 2] - '0' :
			    (ascii_tolower(in.p[i + 2]) - 'a' + 10);

			o[n++] = (uint8_t)(h << 4 | l);
			i += 2;
		} else
			o[n++] = in.p[i];
	}
	return (int)n;
}

/* collect - lex the raw parameters into r[]; returns their count. */
static size_t
collect(struct span s, struct arena *a, struct raw_param *r, size_t max)
{
	size_t i = 0, n = 0;

	while (i < s.len && n < max) {
		size_t ns, ne, vs, ve;
		struct raw_param *p;
		char *lname;
		size_t k;

		/* to the next ';', skipping quoted strings */
		while (i < s.len && s.p[i] != ';') {
			if (s.p[i] == '"') {
				for (i++; i < s.len && s.p[i] != '"'; i++) {
					if (s.p[i] == '\\' && i + 1 < s.len)
						i++;
				}
			}
			if (i < s.len)
				i++;
		}
		if (i >= s.len)
			break;
		i = skip_cfws(s, i + 1);
		ns = i;
		while (i < s.len && !is_tspecial(s.p[i]))
			i++;
		ne = i;
		i = skip_cfws(s, i);
		if (ne == ns || i >= s.len || s.p[i] != '=')
			continue;
		i = skip_cfws(s, i + 1);
		p = &r[n];
		memset(p, 0, sizeof(*p));
		if (i < s.len && s.p[i] == '"') {
			p->value = unquote(s, &i, a);
		} else {
			/* a token, leniently: up to a blank, ';', a comment
			 * or a quote ("a=b c=d" without ';' drops c=d, as
			 * Dovecot does) */
			vs = i;
			while (i < s.len && s.p[i] != ';' && s.p[i] != '(' &&
			    s.p[i] != '"' && !is_fws(s.p[i]))
				i++;
			ve = i;
			while (ve > vs && is_fws(s.p[ve - 1]))
				ve--;
			if (ve == vs)
				continue;	/* "x=" : no value, dropped */
			{
				size_t len;
				char *v = mime_header_unfold_a(a,
				    span_make(s.p + vs, ve - vs), &len);

				p->value = span_make(v, len);
			}
		}
		lname = arena_alloc(a, ne - ns + 1);
		for (k = 0; k < ne - ns; k++)
			lname[k] = (char)ascii_tolower(s.p[ns + k]);
		/* name*, name*N, name*N* (RFC 2231 section 3 and 4) */
		p->section = -1;
		k = ne - ns;
		if (k > 1 && lname[k - 1] == '*') {
			p->extended = true;
			k--;
		}
		{
			size_t d = k;

			while (d > 0 && ascii_isdigit(lname[d - 1]))
				d--;
			if (d < k && d > 1 && lname[d - 1] == '*' &&
			    k - d <= 4 && (k - d == 1 || lname[d] != '0')) {
				int sec = 0;
				size_t q;

				for (q = d; q < k; q++)
					sec = sec * 10 + (lname[q] - '0');
				p->section = sec;
				k = d - 1;
			}
		}
		lname[k] = '\0';
		p->name = span_make(lname, k);
		p->orig = span_make(s.p + ns, k);
		n++;
	}
	return n;
}

static char *
span_dup(struct arena *a, struct span s)
{
	return arena_strndup(a, s.p, s.len);
}

static bool
is_2231(const struct raw_param *p)
{
	return p->section >= 0 || p->extended;
}

/* finish - one mime_param from the RFC 2231 pieces named like r[i]. */
static struct mime_param *
finish(struct raw_param *r, size_t n, size_t i, struct arena *a)
{
	struct mime_param *mp = arena_alloc(a, sizeof(*mp));
	struct span name = r[i].name;
	size_t j, total = 0, sec, raw_len = 0;
	bool any_ext = false, has_sections = false;
	struct raw_param *ext = NULL;
	struct raw_param *secs[64];
	size_t nsec = 0;

	/* only the RFC 2231 pieces: plain duplicates are listed apart */
	for (j = i; j < n; j++) {
		if (!span_eq(r[j].name, name) || !is_2231(&r[j]))
			continue;
		r[j].used = true;
		if (r[j].section >= 0)
			has_sections = true;
		else if (ext == NULL)
			ext = &r[j];
	}
	/* RFC 2231 continuations in section order, stopping at a gap */
	if (has_sections) {
		for (sec = 0; sec < 64; sec++) {
			struct raw_param *hit = NULL;

			for (j = i; j < n; j++) {
				if (span_eq(r[j].name, name) &&
				    is_2231(&r[j]) &&
				    r[j].section == (int)sec) {
					hit = &r[j];
					break;
				}
			}
			if (hit == NULL)
				break;
			secs[nsec++] = hit;
			total += hit->value.len;
			any_ext |= hit->extended;
		}
	}
	mp->name = span_dup(a, name);
	mp->is_2231 = true;
	if (nsec == 0 && ext == NULL) {
		/* continuation pieces without a section 0: kept as is */
		mp->value = span_dup(a, r[i].value);
		mp->raw_name = span_dup(a, r[i].orig);
		mp->raw_value = mp->value;
		return mp;
	}
	if (nsec == 0) {
		secs[0] = ext;
		nsec = 1;
		total = ext->value.len;
		any_ext = true;
	}
	{
		char *raw = arena_alloc(a, total + 1);
		uint8_t *dec = arena_alloc(a, total + 1);
		size_t dn = 0;
		struct span cs = { NULL, 0 };

		for (j = 0; j < nsec; j++) {
			struct span v = secs[j]->value;

			memcpy(raw + raw_len, v.p, v.len);
			raw_len += v.len;
			if (j == 0 && secs[j]->extended) {
				/* charset'language'value */
				const uint8_t *q1 = memchr(v.p, '\'', v.len);
				const uint8_t *q2 = q1 == NULL ? NULL :
				    memchr(q1 + 1, '\'', v.len -
				    (size_t)(q1 + 1 - v.p));

				if (q2 != NULL) {
					cs = span_make(v.p, (size_t)(q1 - v.p));
					if (q2 > q1 + 1)
						mp->language = arena_strndup(
						    a, q1 + 1,
						    (size_t)(q2 - q1 - 1));
					v = span_make(q2 + 1, v.len -
					    (size_t)(q2 + 1 - v.p));
				}
			}
			if (secs[j]->extended)
				dn += (size_t)pct_decode(v, dec + dn);
			else {
				memcpy(dec + dn, v.p, v.len);
				dn += v.len;
			}
		}
		raw[raw_len] = '\0';
		mp->raw_value = raw;
		mp->raw_name = any_ext ? arena_printf(a, "%.*s*",
		    (int)secs[0]->orig.len, (const char *)secs[0]->orig.p) :
		    span_dup(a, secs[0]->orig);
		if (cs.len > 0) {
			struct buf b;

			buf_init(&b, dn * 4 + 64);
			if (mime_charset_to_utf8(cs, span_make(dec, dn),
			    &b) == 0) {
				mp->value = arena_strndup(a, b.data, b.len);
				buf_fini(&b);
				return mp;
			}
			buf_fini(&b);
		}
		dec[dn] = '\0';
		mp->value = (const char *)dec;
	}
	return mp;
}

struct mime_param *
mime_params_parse(struct span s, struct arena *a)
{
	struct raw_param r[MIME_MAX_PARAMS];
	struct mime_param *head = NULL, **tail = &head;
	size_t n, i;

	n = collect(s, a, r, MIME_MAX_PARAMS);
	/* plain parameters first, in order, the first of a name kept (as
	 * Dovecot lists them); then each RFC 2231 parameter, joined */
	for (i = 0; i < n; i++) {
		struct mime_param *mp;
		size_t j;

		if (r[i].used || is_2231(&r[i]))
			continue;
		for (j = i; j < n; j++) {
			if (!is_2231(&r[j]) && span_eq(r[j].name, r[i].name))
				r[j].used = true;
		}
		mp = arena_alloc(a, sizeof(*mp));
		mp->name = span_dup(a, r[i].name);
		mp->value = span_dup(a, r[i].value);
		mp->raw_name = span_dup(a, r[i].orig);
		mp->raw_value = mp->value;
		*tail = mp;
		tail = &mp->next;
	}
	for (i = 0; i < n; i++) {
		struct mime_param *mp;

		if (r[i].used)
			continue;
		mp = finish(r, n, i, a);
		*tail = mp;
		tail = &mp->next;
	}
	return head;
}

const struct mime_param *
mime_param_find(const struct mime_param *list, const char *name)
{
	const struct mime_param *plain = NULL;

	/* an RFC 2231 value wins over a plain one of the same name */
	for (; list != NULL; list = list->next) {
		if (strcmp(list->name, name) != 0)
			continue;
		if (list->is_2231)
			return list;
		if (plain == NULL)
			plain = list;
	}
	return plain;
}

const char *
mime_param_get(const struct mime_param *list, const char *name)
{
	const struct mime_param *p = mime_param_find(list, name);

	return p != NULL ? p->value : NULL;
}

/* read_token - lowercase token at i (after CFWS), into the arena. */
static const char *
read_token(struct span s, size_t *ip, struct arena *a)
{
	size_t i = skip_cfws(s, *ip), st = i, k;
	char *t;

	while (i < s.len && !is_tspecial(s.p[i]))
		i++;
	t = arena_alloc(a, i - st + 1);
	for (k = st; k < i; k++)
		t[k - st] = (char)ascii_tolower(s.p[k]);
	*ip = skip_cfws(s, i);
	return t;
}

int
mime_ctype_parse(struct span v, struct arena *a, struct mime_ctype *ct)
{
	size_t i = 0;
	const char *type, *sub = "";

	type = read_token(v, &i, a);
	if (i < v.len && v.p[i] == '/') {
		i++;
		sub = read_token(v, &i, a);
	}
	ct->params = mime_params_parse(span_make(v.p + i, v.len - i), a);
	if (type[0] == '\0' || sub[0] == '\0' ||
	    (i < v.len && v.p[i] != ';')) {
		ct->type = "";
		ct->subtype = "";
		return -1;
	}
	ct->type = type;
	ct->subtype = sub;
	return 0;
}

void
mime_disposition_parse(struct span v, struct arena *a, const char **type_r,
    struct mime_param **params_r)
{
	size_t i = 0;
	const char *t = read_token(v, &i, a);

	*type_r = t[0] != '\0' ? t : NULL;
	*params_r = mime_params_parse(span_make(v.p + i, v.len - i), a);
}

/* ---- RFC 2047 ---- */

struct ew {
	struct span	charset;	/* without a "*language" suffix */
	char		enc;		/* 'B' or 'Q' */
	struct span	text;
	size_t		len;		/* of the whole "=?...?=" */
};

/* parse_ew - is there an encoded word at p? */
static bool
parse_ew(const uint8_t *p, size_t n, struct ew *ew)
{
	size_t i = 2, cs, te;
	const uint8_t *q;

	if (n < 8 || p[0] != '=' || p[1] != '?')
		return false;
	cs = i;
	while (i < n && p[i] != '?' && !is_fws(p[i]) && i - cs < 64)
		i++;
	if (i == cs || i + 3 >= n || p[i] != '?' || p[i + 2] != '?')
		return false;
	ew->charset = span_make(p + cs, i - cs);
	{
		const uint8_t *star = memchr(p + cs, '*', i - cs);

		if (star != NULL)	/* RFC 2231 section 5 language */
			ew->charset.len = (size_t)(star - (p + cs));
	}
	ew->enc = (char)ascii_toupper(p[i + 1]);
	if (ew->enc != 'B' && ew->enc != 'Q')
		return false;
	i += 3;
	/* the text runs to "?="; blanks inside are tolerated, line ends
	 * are not (they were unfolded before) */
	q = p + i;
	for (te = i; te + 1 < n; te++) {
		if (p[te] == '?' && p[te + 1] == '=')
			break;
	}
	if (te + 1 >= n)
		return false;
	ew->text = span_make(q, te - i);
	ew->len = te + 2;
	return true;
}

/* ew_bytes - append the decoded bytes of an encoded word. */
static int
ew_bytes(const struct ew *ew, struct buf *out)
{
	size_t i;

	if (ew->enc == 'B')
		return mime_base64_decode(ew->text, out, NULL);
	for (i = 0; i < ew->text.len; i++) {
		uint8_t c = ew->text.p[i];

		if (c == '_')
			c = ' ';
		else if (c == '=' && i + 2 < ew->text.len &&
		    ascii_isxdigit(ew->text.p[i + 1]) &&
		    ascii_isxdigit(ew->text.p[i + 2])) {
			int h = ascii_isdigit(ew->text.p[i + 1]) ?
			    ew->text.p[i + 1] - '0' :
			    ascii_tolower(ew->text.p[i + 1]) - 'a' + 10;
			int l = ascii_isdigit(ew->text.p[i + 2]) ?
			    ew->text.p[i + 2] - '0' :
			    ascii_tolower(ew->text.p[i + 2]) - 'a' + 10;

			c = (uint8_t)(h << 4 | l);
			i += 2;
		}
		if (buf_append_byte(out, c) < 0)
			return -1;
	}
	return 0;
}

static int
flush_pending(struct buf *pend, struct span cs, struct buf *out)
{
	int rc;

	if (pend->len == 0)
		return 0;
	rc = mime_charset_to_utf8(cs, buf_span(pend), out);
	buf_reset(pend);
	return rc == 0 ? 0 : -1;
}

int
mime_header_decode(struct span value, struct buf *out)
{
	struct buf tmp, pend;
	struct span v, pend_cs = { NULL, 0 };
	size_t i, lit;
	bool prev_ew = false;
	int rc = -1;

	buf_init(&tmp, value.len + 1);
	buf_init(&pend, value.len + 1);
	if (mime_header_unfold(value, &tmp) < 0)
		goto done;
	v = buf_span(&tmp);
	i = 0;
	lit = 0;
	while (i < v.len) {
		const uint8_t *q = memchr(v.p + i, '=', v.len - i);
		struct ew ew;
		size_t j;

		if (q == NULL)
			break;
		i = (size_t)(q - v.p);
		if (!parse_ew(v.p + i, v.len - i, &ew) ||
		    !mime_charset_known(ew.charset)) {
			i++;
			continue;
		}
		/* literal text before the word; blanks alone between two
		 * encoded words are dropped (RFC 2047 section 6.2) */
		for (j = lit; j < i && is_wsp(v.p[j]); j++)
			;
		if (!prev_ew || j < i) {
			if (flush_pending(&pend, pend_cs, out) < 0)
				goto done;
			if (buf_append(out, v.p + lit, i - lit) < 0)
				goto done;
		}
		if (pend.len > 0 && !span_eq_ci(pend_cs, ew.charset) &&
		    flush_pending(&pend, pend_cs, out) < 0)
			goto done;
		pend_cs = ew.charset;
		if (ew_bytes(&ew, &pend) < 0)
			goto done;
		i += ew.len;
		lit = i;
		prev_ew = true;
	}
	if (flush_pending(&pend, pend_cs, out) < 0)
		goto done;
	if (buf_append(out, v.p + lit, v.len - lit) < 0)
		goto done;
	rc = 0;
done:
	buf_fini(&tmp);
	buf_fini(&pend);
	return rc;
}

char *
mime_header_decode_a(struct arena *a, struct span value)
{
	struct buf b;
	char *s;

	buf_init(&b, value.len * 4 + 64);
	if (mime_header_decode(value, &b) < 0) {
		buf_reset(&b);
		if (mime_header_unfold(value, &b) < 0)
			buf_reset(&b);
	}
	s = arena_strndup(a, b.len ? (const char *)b.data : "", b.len);
	buf_fini(&b);
	return s;
}
