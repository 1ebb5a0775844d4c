/*
 * mime_build.c - message builder.
 *
 * RFC 5322 sections 2.1.1 (78/998 line lengths), 2.2.3 (folding), 3.6.4
 * (Message-ID); RFC 2045 section 6 (encodings), RFC 2046 section 5.1.1
 * (boundaries), RFC 2047 sections 4-5 (encoded words of at most 75
 * characters, never splitting a character), RFC 2231 sections 3-4 (file
 * name continuations).  Input comes from our own callers.
 *
 * Boundaries contain "=_": neither base64 nor quoted-printable output can
 * hold that pair, so only 7bit parts are searched for a collision.
 */
#include "mime/mime_build.h"

#include <stdio.h>
#include <string.h>

#include "lib/ascii.h"
#include "lib/arena.h"
#include "lib/util.h"
#include "mime/mime_address.h"

#define FOLD_AT		78
#define EW_MAX_IN	45	/* bytes per B word: 60 chars + 12 = 72 */

static bool
needs_encoding(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;

	for (; *p != '\0'; p++) {
		if (*p >= 0x80 || (*p < 0x20 && *p != '\t'))
			return true;
	}
	/* "=?" in plain text would be read back as an encoded word */
	return strstr(s, "=?") != NULL;
}

/* words_fold - append pieces separated by blanks, folding at 78. */
struct folder {
	struct buf	*out;
	size_t		 col;
	int		 rc;
};

static void
fold_piece(struct folder *f, const char *p, size_t n, bool space_before)
{
	if (space_before) {
		if (f->col + 1 + n > FOLD_AT && f->col > 1) {
			f->rc |= buf_append(f->out, "\r\n ", 3);
			f->col = 1;
		} else {
			f->rc |= buf_append_byte(f->out, ' ');
			f->col++;
		}
	}
	f->rc |= buf_append(f->out, p, n);
	f->col += n;
}

/* encoded_words - value as B encoded words, cut at character starts. */
static void
encoded_words(struct folder *f, const char *value, bool first_space)
{
	const uint8_t *p = (const uint8_t *)value;
	size_t n = strlen(value), i = 0;
	bool space = first_space;

	while (i < n) {
		size_t take = n - i > EW_MAX_IN ? EW_MAX_IN : n - i;
		struct buf w;

		/* back off to the start of a UTF-8 character */
		while (take > 1 && i + take < n && (p[i + take] & 0xc0) == 0x80)
			take--;
		buf_init(&w, 128);
		f->rc |= buf_append_str(&w, "=?UTF-8?B?");
		f->rc |= mime_base64_encode(span_make(p + i, take), 0, &w);
		f->rc |= buf_append_str(&w, "?=");
		fold_piece(f, (const char *)w.data, w.len, space);
		buf_fini(&w);
		space = true;
		i += take;
	}
}

/* plain_words - ASCII value split at blanks into foldable pieces. */
static void
plain_words(struct folder *f, const char *value, bool first_space)
{
	const char *s = value;
	bool space = first_space;

	while (*s != '\0') {
		const char *e;

		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		for (e = s; *e != '\0' && *e != ' ' && *e != '\t'; e++)
			;
		fold_piece(f, s, (size_t)(e - s), space);
		space = true;
		s = e;
	}
}

static bool
has_long_word(const char *s, size_t max)
{
	size_t run = 0;

	for (; *s != '\0'; s++) {
		run = (*s == ' ' || *s == '\t') ? 0 : run + 1;
		if (run > max)
			return true;
	}
	return false;
}

int
mime_build_header(struct buf *out, const char *name, const char *value)
{
	struct folder f = { out, 0, 0 };

	f.rc |= buf_printf(out, "%s:", name);
	f.col = strlen(name) + 1;
	if (needs_encoding(value) || has_long_word(value, 900))
		encoded_words(&f, value, true);
	else
		plain_words(&f, value, true);
	f.rc |= buf_append(out, "\r\n", 2);
	return f.rc == 0 ? 0 : -1;
}

static bool
is_atom_phrase(const char *s)
{
	for (; *s != '\0'; s++) {
		if (strchr("()<>[]:;@\\,.\"", *s) != NULL)
			return false;
	}
	return true;
}

int
mime_build_address_header(struct buf *out, const char *name,
    const char *list)
{
	struct arena *a = arena_new("build-addr", 1024, (size_t)-1 / 2);
	struct mime_address *ad;
	struct folder f = { out, 0, 0 };
	bool first = true;

	f.rc |= buf_printf(out, "%s:", name);
	f.col = strlen(name) + 1;
	for (ad = mime_address_parse(span_from_str(list), a, 1000); ad != NULL;
	    ad = ad->next) {
		struct buf one;

		if (ad->group_end) {
			f.rc |= buf_append_byte(out, ';');
			f.col++;
			first = false;
			continue;
		}
		buf_init(&one, 4096);
		if (ad->group_start) {
			if (!first) {
				f.rc |= buf_append_byte(out, ',');
				f.col++;
			}
			if (needs_encoding(ad->mailbox))
				encoded_words(&f, ad->mailbox, true);
			else
				plain_words(&f, ad->mailbox, true);
			f.rc |= buf_append_byte(out, ':');
			f.col++;
			first = true;
			buf_fini(&one);
			continue;
		}
		if (!first) {
			f.rc |= buf_append_byte(out, ',');
			f.col++;
		}
		if (ad->name != NULL && ad->name[0] != '\0') {
			if (needs_encoding(ad->name))
				encoded_words(&f, ad->name, true);
			else if (is_atom_phrase(ad->name))
				plain_words(&f, ad->name, true);
			else {
				const char *c;

				f.rc |= buf_append_byte(&one, '"');
				for (c = ad->name; *c != '\0'; c++) {
					if (*c == '"' || *c == '\\')
						f.rc |= buf_append_byte(&one,
						    '\\');
					f.rc |= buf_append_byte(&one,
					    (uint8_t)*c);
				}
				f.rc |= buf_append_byte(&one, '"');
				fold_piece(&f, (const char *)one.data,
				    one.len, true);
				buf_reset(&one);
			}
			f.rc |= buf_printf(&one, "<%s@%s>", ad->mailbox ?
			    ad->mailbox : "", ad->domain ? ad->domain : "");
		} else
			f.rc |= buf_printf(&one, "%s@%s", ad->mailbox ?
			    ad->mailbox : "", ad->domain ? ad->domain : "");
		fold_piece(&f, (const char *)one.data, one.len, true);
		buf_fini(&one);
		first = false;
	}
	f.rc |= buf_append(out, "\r\n", 2);
	arena_free(&a);
	return f.rc == 0 ? 0 : -1;
}

void
mime_build_boundary(char *out)
{
	char hex[23];

	random_hex(hex, 11);
	snprintf(out, MIME_BUILD_BOUNDARY_LEN + 1, "=_postino_%s", hex);
}

enum mime_cte
mime_build_choose_cte(struct span d, bool is_text)
{
	size_t i, line = 0, high = 0;
	bool bad = false;

	for (i = 0; i < d.len; i++) {
		uint8_t c = d.p[i];

		if (c == '\n') {
			line = 0;
			continue;
		}
		if (c == '\r' && !(i + 1 < d.len && d.p[i + 1] == '\n'))
			bad = true;
		if (c == 0)
			bad = true;
		if (c >= 0x80)
			high++;
		if (++line > 998)
			bad = true;
	}
	if (!bad && high == 0)
		return MIME_CTE_7BIT;
	if (is_text && high * 3 <= d.len && memchr(d.p, 0, d.len) == NULL)
		return MIME_CTE_QP;
	return MIME_CTE_BASE64;
}

/* pct - RFC 2231 extended-value characters. */
static bool
attr_char(uint8_t c)
{
	return ascii_isalnum(c) || strchr("!#$&+-.^_`|~", c) != NULL;
}

/* filename_param - name="..." or RFC 2231 name*N*=utf-8''... lines. */
static int
filename_param(struct buf *out, const char *param, const char *fn)
{
	const uint8_t *p = (const uint8_t *)fn;
	size_t i, n = strlen(fn), col, sec = 0;
	bool plain = !needs_encoding(fn) && n < 60;
	int rc = 0;

	if (plain) {
		rc |= buf_printf(out, ";\r\n %s=\"", param);
		for (i = 0; i < n; i++) {
			if (p[i] == '"' || p[i] == '\\')
				rc |= buf_append_byte(out, '\\');
			rc |= buf_append_byte(out, p[i]);
		}
		rc |= buf_append_byte(out, '"');
		return rc == 0 ? 0 : -1;
	}
	/* continuations of at most ~60 encoded characters each */
	i = 0;
	while (i < n || sec == 0) {
		rc |= buf_printf(out, ";\r\n %s*%zu*=%s", param, sec,
		    sec == 0 ? "utf-8''" : "");
		col = 0;
		while (i < n && col < 54) {
			if (attr_char(p[i])) {
				rc |= buf_append_byte(out, p[i]);
				col++;
			} else {
				rc |= buf_printf(out, "%%%02X", p[i]);
				col += 3;
			}
			i++;
		}
		sec++;
	}
	return rc == 0 ? 0 : -1;
}

int
mime_build_part(struct buf *out, const char *content_type, enum mime_cte cte,
    const char *disposition, const char *filename, const char *content_id,
    struct span data)
{
	int rc = 0;
	bool is_text = strncmp(content_type, "text/", 5) == 0;

	if (cte != MIME_CTE_7BIT && cte != MIME_CTE_QP &&
	    cte != MIME_CTE_BASE64)
		cte = MIME_CTE_BASE64;
	rc |= buf_printf(out, "Content-Type: %s", content_type);
	if (filename != NULL && !is_text)
		rc |= filename_param(out, "name", filename);
	rc |= buf_append_str(out, "\r\n");
	rc |= buf_printf(out, "Content-Transfer-Encoding: %s\r\n",
	    mime_cte_name(cte));
	/* a Content-ID that could break the header is left out */
	if (content_id != NULL && content_id[0] != '\0' &&
	    content_id[strcspn(content_id, " \t\r\n<>\"()")] == '\0')
		rc |= buf_printf(out, "Content-ID: <%s>\r\n", content_id);
	if (disposition != NULL) {
		rc |= buf_printf(out, "Content-Disposition: %s", disposition);
		if (filename != NULL)
			rc |= filename_param(out, "filename", filename);
		rc |= buf_append_str(out, "\r\n");
	}
	rc |= buf_append_str(out, "\r\n");
	switch (cte) {
	case MIME_CTE_BASE64:
		rc |= mime_base64_encode(data, 76, out);
		break;
	case MIME_CTE_QP:
		rc |= mime_qp_encode(data, is_text, out);
		if (data.len > 0)
			rc |= buf_append_str(out, "\r\n");
		break;
	default:
		/* 7bit: normalise line ends to CRLF */
		{
			size_t i;

			for (i = 0; i < data.len; i++) {
				if (data.p[i] == '\n' && (i == 0 ||
				    data.p[i - 1] != '\r'))
					rc |= buf_append_byte(out, '\r');
				rc |= buf_append_byte(out, data.p[i]);
			}
			if (data.len > 0 && data.p[data.len - 1] != '\n')
				rc |= buf_append_str(out, "\r\n");
		}
		break;
	}
	return rc == 0 ? 0 : -1;
}

/* boundary_for - a boundary not found in any 7bit content given. */
static void
boundary_for(char *b, const struct span *texts, size_t n)
{
	size_t i;
	bool clash;

	do {
		mime_build_boundary(b);
		clash = false;
		for (i = 0; i < n && !clash; i++) {
			if (texts[i].len > 0 && memmem(texts[i].p, texts[i].len,
			    b, strlen(b)) != NULL)
				clash = true;
		}
	} while (clash);
}

static enum mime_cte
text_cte(const struct mime_build_msg *m, struct span d)
{
	if (m->text_cte == MIME_CTE_QP || m->text_cte == MIME_CTE_BASE64)
		return m->text_cte;
	return mime_build_choose_cte(d, true);
}

/* domain_of - the domain of the first From address, for Message-ID. */
static void
domain_of(const char *from, char *out, size_t outsize)
{
	struct arena *a = arena_new("build-dom", 512, (size_t)-1 / 2);
	struct mime_address *ad = from != NULL ?
	    mime_address_parse(span_from_str(from), a, 10) : NULL;

	while (ad != NULL && ad->domain == NULL)
		ad = ad->next;
	snprintf(out, outsize, "%s", ad != NULL ? ad->domain : "localhost");
	arena_free(&a);
}

int
mime_build_message(const struct mime_build_msg *m, struct buf *out)
{
	struct span text = m->text ? span_from_str(m->text) : span_make("", 0);
	struct span html = m->html ? span_from_str(m->html) : span_make("", 0);
	char mixed[MIME_BUILD_BOUNDARY_LEN + 1];
	char alt[MIME_BUILD_BOUNDARY_LEN + 1];
	char date[64], dom[256], idbuf[40];
	struct span texts[2] = { text, html };
	bool has_alt = m->text != NULL && m->html != NULL;
	bool has_mixed = m->natt > 0;
	size_t i;
	int rc = 0;

	if (m->from != NULL)
		rc |= mime_build_address_header(out, "From", m->from);
	if (m->to != NULL)
		rc |= mime_build_address_header(out, "To", m->to);
	if (m->cc != NULL)
		rc |= mime_build_address_header(out, "Cc", m->cc);
	if (m->reply_to != NULL)
		rc |= mime_build_address_header(out, "Reply-To", m->reply_to);
	if (m->subject != NULL)
		rc |= mime_build_header(out, "Subject", m->subject);
	rfc5322_date(date, sizeof(date), m->date != 0 ? m->date : time(NULL));
	rc |= buf_printf(out, "Date: %s\r\n", date);
	if (m->message_id != NULL)
		rc |= buf_printf(out, "Message-ID: <%s>\r\n", m->message_id);
	else {
		domain_of(m->from, dom, sizeof(dom));
		random_hex(idbuf, 16);
		rc |= buf_printf(out, "Message-ID: <%s@%s>\r\n", idbuf, dom);
	}
	if (m->extra_headers != NULL)
		rc |= buf_append_str(out, m->extra_headers);
	rc |= buf_append_str(out, "MIME-Version: 1.0\r\n");
	boundary_for(mixed, texts, 2);
	boundary_for(alt, texts, 2);
	if (has_mixed) {
		rc |= buf_printf(out, "Content-Type: multipart/mixed;\r\n"
		    " boundary=\"%s\"\r\n\r\nThis is a multi-part message in "
		    "MIME format.\r\n--%s\r\n", mixed, mixed);
	}
	if (has_alt) {
		rc |= buf_printf(out, "Content-Type: multipart/alternative;"
		    "\r\n boundary=\"%s\"\r\n\r\n--%s\r\n", alt, alt);
	}
	if (m->text != NULL || m->html == NULL) {
		rc |= mime_build_part(out, "text/plain; charset=utf-8",
		    text_cte(m, text), NULL, NULL, NULL, text);
	}
	if (has_alt)
		rc |= buf_printf(out, "--%s\r\n", alt);
	if (m->html != NULL) {
		rc |= mime_build_part(out, "text/html; charset=utf-8",
		    text_cte(m, html), NULL, NULL, NULL, html);
	}
	if (has_alt)
		rc |= buf_printf(out, "--%s--\r\n", alt);
	for (i = 0; i < m->natt; i++) {
		const struct mime_build_attachment *a = &m->att[i];
		const char *ct = a->content_type != NULL ? a->content_type :
		    "application/octet-stream";

		rc |= buf_printf(out, "--%s\r\n", mixed);
		rc |= mime_build_part(out, ct, a->cte == MIME_CTE_QP ?
		    MIME_CTE_QP : MIME_CTE_BASE64, a->is_inline ? "inline" :
		    "attachment", a->filename, a->content_id, a->data);
	}
	if (has_mixed)
		rc |= buf_printf(out, "--%s--\r\n", mixed);
	return rc == 0 ? 0 : -1;
}
