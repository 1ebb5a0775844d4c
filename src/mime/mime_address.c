/*
 * mime_address.c - RFC 5322 address list parser.
 *
 * RFC 5322 sections 3.2 (lexical tokens, comments), 3.4 (addresses) and
 * 4.4 (obsolete routes and phrases).  Untrusted input; one pass over the
 * value, output bounded by the entry cap.
 */
#include "mime/mime_address.h"

#include <string.h>

#include "lib/buf.h"

enum tok { T_END, T_ATOM, T_QSTR, T_DLIT, T_SPECIAL };

struct lexer {
	struct span	s;
	size_t		i;
	struct arena	*a;
	const char	*comment;	/* text of the last comment passed */
};

static bool
is_atext(uint8_t c)
{
	/* atext plus '.' (obs-phrase, dot-atom) and 8-bit bytes */
	switch (c) {
	case '(': case ')': case '<': case '>': case '[': case ']':
	case ':': case ';': case '@': case '\\': case ',': case '"':
		return false;
	}
	return c > ' ' && c != 0x7f;
}

/* skip_cfws - blanks, folds and comments; remembers the last comment. */
static void
skip_cfws(struct lexer *lx)
{
	struct span s = lx->s;

	while (lx->i < s.len) {
		uint8_t c = s.p[lx->i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			lx->i++;
		} else if (c == '(') {
			size_t st = ++lx->i, end, n = 0;
			int depth = 1;
			char *t;

			/* find the end first: allocate only what it holds */
			for (end = st; end < s.len; end++) {
				if (s.p[end] == '\\' && end + 1 < s.len)
					end++;
				else if (s.p[end] == '(')
					depth++;
				else if (s.p[end] == ')' && --depth == 0)
					break;
			}
			t = arena_alloc(lx->a, end - st + 1);
			depth = 1;
			while (lx->i < s.len) {
				c = s.p[lx->i++];
				if (c == '\\' && lx->i < s.len) {
					t[n++] = (char)s.p[lx->i++];
					continue;
				}
				if (c == '(')
					depth++;
				else if (c == ')' && --depth == 0)
					break;
				if (c != '\r' && c != '\n')
					t[n++] = (char)c;
			}
			t[n] = '\0';
			lx->comment = t;
		} else
			break;
	}
}

/* next - the next token; its text in *text (arena). */
static enum tok
next(struct lexer *lx, const char **text, uint8_t *special)
{
	struct span s = lx->s;
	size_t st, n = 0;
	char *t;

	skip_cfws(lx);
	if (lx->i >= s.len)
		return T_END;
	st = lx->i;
	if (s.p[st] == '"') {
		size_t end;

		for (end = st + 1; end < s.len && s.p[end] != '"'; end++) {
			if (s.p[end] == '\\' && end + 1 < s.len)
				end++;
		}
		t = arena_alloc(lx->a, end - st + 1);
		lx->i++;
		while (lx->i < s.len && s.p[lx->i] != '"') {
			uint8_t c = s.p[lx->i++];

			if (c == '\\' && lx->i < s.len)
				c = s.p[lx->i++];
			else if (c == '\r' || c == '\n')
				continue;
			t[n++] = (char)c;
		}
		if (lx->i < s.len)
			lx->i++;
		t[n] = '\0';
		*text = t;
		return T_QSTR;
	}
	if (s.p[st] == '[') {
		while (lx->i < s.len && s.p[lx->i] != ']')
			lx->i++;
		if (lx->i < s.len)
			lx->i++;
		*text = arena_strndup(lx->a, s.p + st, lx->i - st);
		return T_DLIT;
	}
	if (is_atext(s.p[st])) {
		while (lx->i < s.len && is_atext(s.p[lx->i]))
			lx->i++;
		*text = arena_strndup(lx->a, s.p + st, lx->i - st);
		return T_ATOM;
	}
	*special = s.p[lx->i++];
	*text = NULL;
	return T_SPECIAL;
}

/* peek - the next token's kind and special char, without consuming. */
static enum tok
peek(struct lexer *lx, uint8_t *special)
{
	size_t save = lx->i;
	const char *save_c = lx->comment, *t;
	enum tok k = next(lx, &t, special);

	lx->i = save;
	lx->comment = save_c;
	return k;
}

/* read_domain - atoms, dots and literals after '@'. */
static const char *
read_domain(struct lexer *lx)
{
	struct buf b;
	const char *t, *r;
	uint8_t sp;

	buf_init(&b, lx->s.len + 1);
	for (;;) {
		enum tok k = peek(lx, &sp);

		if (k != T_ATOM && k != T_DLIT)
			break;
		(void)next(lx, &t, &sp);
		if (buf_append_str(&b, t) < 0)
			break;
	}
	r = b.len > 0 ? arena_strndup(lx->a, b.data, b.len) : NULL;
	buf_fini(&b);
	return r;
}

static struct mime_address *
add(struct arena *a, struct mime_address ***tail, unsigned *n)
{
	struct mime_address *ad = arena_alloc(a, sizeof(*ad));

	**tail = ad;
	*tail = &ad->next;
	(*n)++;
	return ad;
}

struct mime_address *
mime_address_parse(struct span value, struct arena *a, unsigned max)
{
	struct lexer lx = { value, 0, a, NULL };
	struct mime_address *head = NULL, **tail = &head, *ad;
	unsigned n = 0;
	bool in_group = false;
	struct buf phrase, local;

	buf_init(&phrase, value.len + 1);
	buf_init(&local, value.len + 1);
	while (n < max) {
		const char *t;
		uint8_t sp = 0;
		enum tok k;
		bool any = false;

		buf_reset(&phrase);
		buf_reset(&local);
		lx.comment = NULL;
		/* the phrase (or local part) up to a special */
		for (;;) {
			k = peek(&lx, &sp);
			if (k != T_ATOM && k != T_QSTR && k != T_DLIT)
				break;
			(void)next(&lx, &t, &sp);
			if (any && buf_append_byte(&phrase, ' ') < 0)
				break;
			if (buf_append_str(&phrase, t) < 0 ||
			    buf_append_str(&local, t) < 0)
				break;
			any = true;
		}
		if (k == T_END) {
			if (any) {
				ad = add(a, &tail, &n);
				if (memchr(phrase.data, ' ',
				    phrase.len) != NULL)
					ad->name = arena_strndup(a, phrase.data,
					    phrase.len);
				else
					ad->mailbox = arena_strndup(a,
					    local.data, local.len);
			}
			break;
		}
		if (k == T_SPECIAL && ((sp == ':' && !in_group) ||
		    sp == '<' || sp == '@'))
			(void)next(&lx, &t, &sp);
		else
			sp = 0;
		if (sp == ':') {
			ad = add(a, &tail, &n);
			ad->group_start = true;
			ad->mailbox = arena_strndup(a, phrase.data ?
			    (const char *)phrase.data : "", phrase.len);
			in_group = true;
			continue;
		}
		if (sp == '<') {
			const char *route = NULL, *mbox = NULL, *dom = NULL;
			struct buf lp;

			ad = add(a, &tail, &n);
			ad->name = any ? arena_strndup(a, phrase.data,
			    phrase.len) : NULL;
			/* obsolete route: "@a,@b:" */
			if (peek(&lx, &sp) == T_SPECIAL && sp == '@') {
				size_t st;

				skip_cfws(&lx);
				st = lx.i;
				while (lx.i < value.len &&
				    value.p[lx.i] != ':' &&
				    value.p[lx.i] != '>')
					lx.i++;
				if (lx.i < value.len && value.p[lx.i] == ':') {
					route = arena_strndup(a, value.p + st,
					    lx.i - st);
					lx.i++;
				} else
					lx.i = st;
			}
			buf_init(&lp, value.len + 1);
			for (;;) {
				k = peek(&lx, &sp);
				if (k != T_ATOM && k != T_QSTR)
					break;
				(void)next(&lx, &t, &sp);
				if (buf_append_str(&lp, t) < 0)
					break;
			}
			if (lp.len > 0)
				mbox = arena_strndup(a, lp.data, lp.len);
			buf_fini(&lp);
			if (peek(&lx, &sp) == T_SPECIAL && sp == '@') {
				(void)next(&lx, &t, &sp);
				dom = read_domain(&lx);
			}
			/* to the closing '>' */
			while (lx.i < value.len && value.p[lx.i] != '>')
				lx.i++;
			if (lx.i < value.len)
				lx.i++;
			ad->route = route;
			ad->mailbox = mbox;
			ad->domain = dom;
		} else if (sp == '@') {
			lx.comment = NULL;
			ad = add(a, &tail, &n);
			ad->mailbox = arena_strndup(a, local.data ?
			    (const char *)local.data : "", local.len);
			ad->domain = read_domain(&lx);
			/* "addr (Comment Name)": the comment names it */
			{
				size_t save = lx.i;

				lx.comment = NULL;
				skip_cfws(&lx);
				if (lx.comment != NULL)
					ad->name = lx.comment;
				lx.i = save;
			}
		} else if (any) {
			/* a word alone is a mailbox with no domain; several
			 * words are a display name with no address */
			ad = add(a, &tail, &n);
			if (memchr(phrase.data, ' ', phrase.len) != NULL)
				ad->name = arena_strndup(a, phrase.data,
				    phrase.len);
			else
				ad->mailbox = arena_strndup(a, local.data,
				    local.len);
		}
		/* skip what is left of this address */
		for (;;) {
			k = peek(&lx, &sp);
			if (k == T_END || (k == T_SPECIAL && (sp == ',' ||
			    sp == ';')))
				break;
			(void)next(&lx, &t, &sp);
		}
		if (k == T_SPECIAL && sp == ';') {
			(void)next(&lx, &t, &sp);
			if (in_group && n < max) {
				ad = add(a, &tail, &n);
				ad->group_end = true;
				in_group = false;
			}
		} else if (k == T_SPECIAL)
			(void)next(&lx, &t, &sp);
		if (k == T_END)
			break;
	}
	if (in_group && n < max) {
		ad = add(a, &tail, &n);
		ad->group_end = true;
	}
	buf_fini(&phrase);
	buf_fini(&local);
	return head;
}

unsigned
mime_address_count(const struct mime_address *list)
{
	unsigned n = 0;

	for (; list != NULL; list = list->next)
		n++;
	return n;
}
