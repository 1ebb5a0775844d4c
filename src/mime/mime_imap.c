/*
 * mime_imap.c - ENVELOPE, BODY and BODYSTRUCTURE rendering.
 *
 * RFC 3501 section 7.4.2 / RFC 9051 section 7.5.2.  Where the RFCs leave
 * room, the choices are Dovecot 2.3's (checked against the fixtures in
 * tests/data/mime/dovecot): type, subtype, encoding and disposition keep
 * the case of the message; parameter names are lowercase, plain ones in
 * order followed by RFC 2231 ones sorted by name and left encoded; text
 * parts without a charset get "charset" "us-ascii"; a multipart with no
 * parts, and a message/rfc822 part that is encoded, are written with an
 * empty text/plain part so that the syntax stays valid; message/global is
 * a plain leaf (IMAP4rev1 clients expect an envelope only after
 * message/rfc822).  Sees untrusted header text: every string is quoted or
 * sent as a literal, never copied raw.
 */
#include "mime/mime_imap.h"

#include <string.h>

#include "lib/ascii.h"
#include "mime/mime_address.h"

#define ADDR_MAX	10000	/* addresses per field in an ENVELOPE */

static bool
is_blank(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static struct span
trim(struct span s)
{
	while (s.len > 0 && is_blank(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len > 0 && is_blank(s.p[s.len - 1]))
		s.len--;
	return s;
}

static int
nstring(struct buf *out, const void *vp, size_t len, bool is_nil,
    bool literal)
{
	const uint8_t *p = vp;
	size_t i, n = 0;

	if (is_nil)
		return buf_append(out, "NIL", 3);
	for (i = 0; i < len; i++) {
		/* like Dovecot: 8-bit, line breaks, NUL and also '"' and
		 * '\\' make a literal rather than an escaped string */
		if (p[i] >= 0x80 || p[i] == '\r' || p[i] == '\n' ||
		    p[i] == 0 || p[i] == '"' || p[i] == '\\')
			literal = true;
		if (p[i] != '\r' && p[i] != '\n')
			n++;
	}
	if (literal) {
		size_t st = 0;

		if (buf_printf(out, "{%zu}\r\n", n) < 0)
			return -1;
		for (i = 0; i <= len; i++) {
			if (i == len || p[i] == '\r' || p[i] == '\n') {
				if (buf_append(out, p + st, i - st) < 0)
					return -1;
				st = i + 1;
			}
		}
		return 0;
	}
	/* nothing left to escape: '"' and '\\' went to the literal */
	if (buf_append_byte(out, '"') < 0 || buf_append(out, p, len) < 0)
		return -1;
	return buf_append_byte(out, '"');
}

int
mime_imap_nstring(struct buf *out, const void *p, size_t len, bool is_nil)
{
	return nstring(out, p, len, is_nil, false);
}

static int
nstr(struct buf *out, const char *s)
{
	return mime_imap_nstring(out, s, s != NULL ? strlen(s) : 0, s == NULL);
}

/*
 * field - a header value trimmed and unfolded, as an nstring (NIL if
 * absent).  With fold_literal (Subject, as Dovecot does) a folded value
 * goes out as a literal.
 */
static int
field_ex(struct buf *out, struct span v, bool fold_literal)
{
	struct span t;
	size_t i;

	if (v.p == NULL)
		return buf_append(out, "NIL", 3);
	t = trim(v);
	for (i = 0; i < v.len; i++) {
		if (v.p[i] == '\n' || v.p[i] == '\r') {
			struct buf u;
			int rc;

			if (fold_literal)
				return nstring(out, t.p, t.len, false, true);
			buf_init(&u, v.len + 1);
			rc = mime_header_unfold(v, &u);
			if (rc == 0)
				rc = nstring(out, u.data, u.len, false, false);
			buf_fini(&u);
			return rc;
		}
	}
	return nstring(out, t.p, t.len, false, false);
}

static int
field(struct buf *out, struct span v)
{
	return field_ex(out, v, false);
}

static int
addresses(struct buf *out, struct span v)
{
	struct arena *a;
	struct mime_address *list, *ad;
	int rc = 0;

	if (v.p == NULL)
		return buf_append(out, "NIL", 3);
	a = arena_new("imap-addr", 1024, (size_t)-1 / 2);
	list = mime_address_parse(v, a, ADDR_MAX);
	if (list == NULL) {
		arena_free(&a);
		return buf_append(out, "NIL", 3);
	}
	rc |= buf_append_byte(out, '(');
	for (ad = list; ad != NULL && rc == 0; ad = ad->next) {
		rc |= buf_append_byte(out, '(');
		if (ad->group_end) {
			rc |= buf_append_str(out, "NIL NIL NIL NIL");
		} else if (ad->group_start) {
			rc |= buf_append_str(out, "NIL NIL ");
			rc |= nstr(out, ad->mailbox);
			rc |= buf_append_str(out, " NIL");
		} else {
			rc |= nstr(out, ad->name != NULL &&
			    ad->name[0] != '\0' ? ad->name : NULL);
			rc |= buf_append_byte(out, ' ');
			rc |= nstr(out, ad->route);
			rc |= buf_append_byte(out, ' ');
			rc |= nstr(out, ad->mailbox != NULL &&
			    ad->mailbox[0] != '\0' ? ad->mailbox :
			    "MISSING_MAILBOX");
			rc |= buf_append_byte(out, ' ');
			rc |= nstr(out, ad->domain != NULL &&
			    ad->domain[0] != '\0' ? ad->domain :
			    "MISSING_DOMAIN");
		}
		rc |= buf_append_byte(out, ')');
	}
	rc |= buf_append_byte(out, ')');
	arena_free(&a);
	return rc == 0 ? 0 : -1;
}

enum env_field { E_DATE, E_SUBJECT, E_FROM, E_SENDER, E_REPLY_TO, E_TO,
	E_CC, E_BCC, E_IN_REPLY_TO, E_MESSAGE_ID, E_COUNT };

static const char *const env_names[E_COUNT] = { "date", "subject", "from",
	"sender", "reply-to", "to", "cc", "bcc", "in-reply-to", "message-id" };

static int
envelope_of(struct span hdr, struct buf *out)
{
	struct span v[E_COUNT];
	struct mime_field f;
	size_t pos = 0;
	int i, rc = 0;

	memset(v, 0, sizeof(v));
	/* the last field of each name wins, as in Dovecot */
	while (mime_header_next(hdr, &pos, &f)) {
		for (i = 0; i < E_COUNT; i++) {
			if (span_eq_str_ci(f.name, env_names[i])) {
				v[i] = f.value;
				break;
			}
		}
	}
	/* RFC 3501: sender and reply-to default to from */
	for (i = E_SENDER; i <= E_REPLY_TO; i++) {
		struct span t = v[i];

		if (t.p == NULL || trim(t).len == 0)
			v[i] = v[E_FROM];
	}
	rc |= buf_append_byte(out, '(');
	rc |= field(out, v[E_DATE]);
	rc |= buf_append_byte(out, ' ');
	rc |= field_ex(out, v[E_SUBJECT], true);
	for (i = E_FROM; i <= E_BCC; i++) {
		rc |= buf_append_byte(out, ' ');
		rc |= addresses(out, v[i]);
	}
	rc |= buf_append_byte(out, ' ');
	rc |= field(out, v[E_IN_REPLY_TO]);
	rc |= buf_append_byte(out, ' ');
	rc |= field(out, v[E_MESSAGE_ID]);
	rc |= buf_append_byte(out, ')');
	return rc == 0 ? 0 : -1;
}

int
mime_imap_envelope(const struct mime_message *m, const struct mime_part *msg,
    struct buf *out)
{
	return envelope_of(mime_part_header(m, msg), out);
}

size_t
mime_imap_size(const struct mime_message *m)
{
	return m->root->hdr_vsize + m->root->body_vsize;
}

/* raw_token - the first token of v with its case, after CFWS. */
static struct span
raw_token(struct span v, size_t *ip)
{
	size_t i = *ip, st;

	while (i < v.len) {
		if (is_blank(v.p[i]))
			i++;
		else if (v.p[i] == '(') {
			int depth = 0;

			for (; i < v.len; i++) {
				if (v.p[i] == '(')
					depth++;
				else if (v.p[i] == ')' && --depth == 0) {
					i++;
					break;
				}
			}
		} else
			break;
	}
	st = i;
	while (i < v.len && v.p[i] > ' ' && v.p[i] < 0x7f &&
	    strchr("()<>@,;:\\\"/[]?=", v.p[i]) == NULL)
		i++;
	*ip = i;
	return span_make(v.p + st, i - st);
}

static int
param_list(struct buf *out, const struct mime_param *params,
    bool add_charset)
{
	const struct mime_param *p, *ext[64];
	size_t next = 0, i, j;
	bool any = false, has_cs = false;
	int rc = 0;

	for (p = params; p != NULL; p = p->next) {
		if (strcmp(p->name, "charset") == 0)
			has_cs = true;
		if (p->is_2231) {
			if (next < 64)
				ext[next++] = p;
			continue;
		}
		rc |= buf_append_str(out, any ? " " : "(");
		rc |= nstr(out, p->raw_name);
		rc |= buf_append_byte(out, ' ');
		rc |= nstr(out, p->raw_value);
		any = true;
	}
	/* RFC 2231 parameters last, sorted by name (insertion sort) */
	for (i = 1; i < next; i++) {
		const struct mime_param *t = ext[i];

		for (j = i; j > 0 && strcmp(ext[j - 1]->raw_name,
		    t->raw_name) > 0; j--)
			ext[j] = ext[j - 1];
		ext[j] = t;
	}
	for (i = 0; i < next; i++) {
		rc |= buf_append_str(out, any ? " " : "(");
		rc |= nstr(out, ext[i]->raw_name);
		rc |= buf_append_byte(out, ' ');
		rc |= nstr(out, ext[i]->raw_value);
		any = true;
	}
	if (add_charset && !has_cs) {
		rc |= buf_append_str(out, any ? " " : "(");
		rc |= buf_append_str(out, "\"charset\" \"us-ascii\"");
		any = true;
	}
	rc |= buf_append_str(out, any ? ")" : "NIL");
	return rc == 0 ? 0 : -1;
}

/* extension - disposition, language and location. */
static int
extension(struct buf *out, const struct mime_part *p, struct arena *a)
{
	int rc = 0;

	rc |= buf_append_byte(out, ' ');
	if (p->f_disp.p == NULL) {
		rc |= buf_append_str(out, "NIL");
	} else {
		size_t i = 0;
		struct span t = raw_token(p->f_disp, &i);
		struct mime_param *params = mime_params_parse(
		    span_make(p->f_disp.p + i, p->f_disp.len - i), a);

		if (t.len == 0)
			rc |= buf_append_str(out, "NIL");
		else {
			rc |= buf_append_byte(out, '(');
			rc |= mime_imap_nstring(out, t.p, t.len, false);
			rc |= buf_append_byte(out, ' ');
			rc |= param_list(out, params, false);
			rc |= buf_append_byte(out, ')');
		}
	}
	rc |= buf_append_byte(out, ' ');
	if (p->f_lang.p == NULL) {
		rc |= buf_append_str(out, "NIL");
	} else {
		struct span v = p->f_lang;
		size_t i = 0;
		bool any = false;

		for (;;) {
			struct span t;

			while (i < v.len && (v.p[i] == ',' || is_blank(v.p[i])))
				i++;
			t = raw_token(v, &i);
			if (t.len == 0) {
				if (i < v.len) {
					i++;
					continue;
				}
				break;
			}
			rc |= buf_append_str(out, any ? " " : "(");
			rc |= mime_imap_nstring(out, t.p, t.len, false);
			any = true;
		}
		rc |= buf_append_str(out, any ? ")" : "NIL");
	}
	rc |= buf_append_byte(out, ' ');
	rc |= field(out, p->f_loc);
	return rc == 0 ? 0 : -1;
}

static const char empty_text[] = "(\"text\" \"plain\" (\"charset\" "
    "\"us-ascii\") NIL NIL \"7bit\" 0 0";

static int
body(const struct mime_message *m, const struct mime_part *p, bool ext,
    struct arena *a, struct buf *out, unsigned depth);

static int
multipart(const struct mime_message *m, const struct mime_part *p, bool ext,
    struct arena *a, struct buf *out, struct span subtype, unsigned depth)
{
	const struct mime_part *c;
	int rc = 0;

	rc |= buf_append_byte(out, '(');
	if (p->children == NULL || !(p->flags & MIME_PART_F_MULTIPART)) {
		rc |= buf_append_str(out, empty_text);
		rc |= buf_append_str(out, ext ? " NIL NIL NIL NIL)" : ")");
	}
	for (c = p->children; c != NULL && (p->flags &
	    MIME_PART_F_MULTIPART) && rc == 0; c = c->next)
		rc |= body(m, c, ext, a, out, depth + 1);
	rc |= buf_append_byte(out, ' ');
	rc |= mime_imap_nstring(out, subtype.p, subtype.len, false);
	if (ext) {
		rc |= buf_append_byte(out, ' ');
		rc |= param_list(out, p->params, false);
		rc |= extension(out, p, a);
	}
	rc |= buf_append_byte(out, ')');
	return rc == 0 ? 0 : -1;
}

static int
body(const struct mime_message *m, const struct mime_part *p, bool ext,
    struct arena *a, struct buf *out, unsigned depth)
{
	struct span type = { (const uint8_t *)p->type, strlen(p->type) };
	struct span subtype = { (const uint8_t *)p->subtype,
		strlen(p->subtype) };
	bool is_text, is_msg;
	int rc = 0;

	if (!(p->flags & MIME_PART_F_DEFAULT_TYPE) && p->f_ctype.p != NULL) {
		size_t i = 0;
		struct span t = raw_token(p->f_ctype, &i), st;

		if (i < p->f_ctype.len && p->f_ctype.p[i] == '/') {
			i++;
			st = raw_token(p->f_ctype, &i);
			if (t.len > 0 && st.len > 0) {
				type = t;
				subtype = st;
			}
		}
	}
	if (strcmp(p->type, "multipart") == 0)
		return multipart(m, p, ext, a, out, subtype, depth);
	is_text = strcmp(p->type, "text") == 0;
	is_msg = strcmp(p->type, "message") == 0 &&
	    strcmp(p->subtype, "rfc822") == 0;
	rc |= buf_append_byte(out, '(');
	rc |= mime_imap_nstring(out, type.p, type.len, false);
	rc |= buf_append_byte(out, ' ');
	rc |= mime_imap_nstring(out, subtype.p, subtype.len, false);
	rc |= buf_append_byte(out, ' ');
	rc |= param_list(out, p->params, is_text);
	rc |= buf_append_byte(out, ' ');
	rc |= field(out, p->f_id);
	rc |= buf_append_byte(out, ' ');
	rc |= field(out, p->f_desc);
	rc |= buf_append_byte(out, ' ');
	if (p->f_cte.p != NULL) {
		size_t i = 0;
		struct span t = raw_token(p->f_cte, &i);

		if (t.len == 0)
			t = span_from_str("7bit");
		rc |= mime_imap_nstring(out, t.p, t.len, false);
	} else
		rc |= buf_append_str(out, "\"7bit\"");
	rc |= buf_printf(out, " %zu", p->body_vsize);
	if (is_text)
		rc |= buf_printf(out, " %zu", p->body_lines);
	else if (is_msg) {
		rc |= buf_append_byte(out, ' ');
		if ((p->flags & MIME_PART_F_MESSAGE) && p->children != NULL) {
			rc |= mime_imap_envelope(m, p->children, out);
			rc |= buf_append_byte(out, ' ');
			rc |= body(m, p->children, ext, a, out, depth + 1);
		} else {
			/* encoded or too deep: not parsed, but the syntax
			 * still needs an envelope and a body */
			rc |= buf_append_str(out, "(NIL NIL NIL NIL NIL NIL "
			    "NIL NIL NIL NIL) ");
			rc |= buf_append_str(out, empty_text);
			rc |= buf_append_str(out, ext ? " NIL NIL NIL NIL)" :
			    ")");
		}
		rc |= buf_printf(out, " %zu", p->body_lines);
	}
	if (ext) {
		rc |= buf_append_byte(out, ' ');
		rc |= field(out, p->f_md5);
		rc |= extension(out, p, a);
	}
	rc |= buf_append_byte(out, ')');
	return rc == 0 ? 0 : -1;
}

int
mime_imap_bodystructure(const struct mime_message *m,
    const struct mime_part *p, bool extended, struct buf *out)
{
	struct arena *a = arena_new("imap-body", 4096, (size_t)-1 / 2);
	int rc = body(m, p, extended, a, out, 0);

	arena_free(&a);
	return rc;
}

int
mime_imap_compute(const void *data, size_t len, struct buf *envelope,
    struct buf *bodystructure, struct buf *body, size_t *size_r)
{
	struct mime_message *m = mime_parse(data, len, NULL);
	int rc = 0;

	if (envelope != NULL && mime_imap_envelope(m, m->root, envelope) < 0)
		rc = -1;
	if (bodystructure != NULL && mime_imap_bodystructure(m, m->root, true,
	    bodystructure) < 0)
		rc = -1;
	if (body != NULL && mime_imap_bodystructure(m, m->root, false,
	    body) < 0)
		rc = -1;
	if (size_r != NULL)
		*size_r = mime_imap_size(m);
	mime_message_free(&m);
	return rc;
}
