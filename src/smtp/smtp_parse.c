/*
 * smtp_parse.c - SMTP command, path and ESMTP parameter parsers.
 *
 * Implements the grammar of RFC 5321 section 4.1.2 (Reverse-path,
 * Forward-path, Mailbox, Local-part, Domain, address literals), the
 * length limits of section 4.5.3.1, ESMTP parameters (RFC 5321 4.1.1.11
 * and RFC 1869), SIZE (RFC 1870), BODY (RFC 6152, RFC 3030) and SMTPUTF8
 * (RFC 6531, which lets UTF-8 appear in local parts and domains).
 *
 * Untrusted input, before authentication.  Every function is pure: spans
 * in, spans or arena copies out.  Relay protection depends on the mailbox
 * reaching the server exactly as written: "%", "!" and quoted "@" in a
 * local part are never interpreted here, and a source route is dropped
 * (RFC 5321 4.1.1.3 and appendix C), never followed.
 */
#include "smtp/smtp_parse.h"

#include <arpa/inet.h>
#include <string.h>

#include "lib/ascii.h"
#include "lib/postino_limits.h"
#include "lib/strnum.h"

#define SMTP_MAX_VERB	16
#define SMTP_MAX_LABEL	63

static const struct smtp_reply reply_mail_syntax = {
	501, "5.5.4", "Syntax: MAIL FROM:<address>"
};
static const struct smtp_reply reply_rcpt_syntax = {
	501, "5.5.4", "Syntax: RCPT TO:<address>"
};
static const struct smtp_reply reply_bad_sender = {
	501, "5.1.7", "Bad sender address syntax"
};
static const struct smtp_reply reply_bad_rcpt = {
	501, "5.1.3", "Bad recipient address syntax"
};
static const struct smtp_reply reply_long_sender = {
	501, "5.1.7", "Sender address too long"
};
static const struct smtp_reply reply_long_rcpt = {
	501, "5.1.3", "Recipient address too long"
};
static const struct smtp_reply reply_missing_bracket = {
	501, "5.5.4", "Address must be enclosed in <>"
};
static const struct smtp_reply reply_non_ascii = {
	553, "5.6.7", "Non-ASCII address needs the SMTPUTF8 parameter"
};
static const struct smtp_reply reply_unknown_param = {
	555, "5.5.4", "Unsupported parameter"
};
static const struct smtp_reply reply_bad_param = {
	501, "5.5.4", "Malformed parameter"
};
static const struct smtp_reply reply_dup_param = {
	501, "5.5.4", "Duplicate parameter"
};
static const struct smtp_reply reply_bad_size = {
	501, "5.5.4", "Bad SIZE value"
};
static const struct smtp_reply reply_bad_body = {
	501, "5.5.4", "Bad BODY value"
};

int
smtp_parse_command(struct span line, struct span *verb_r, struct span *args_r)
{
	size_t i;

	for (i = 0; i < line.len && line.p[i] != ' '; i++)
		if (!ascii_isalnum(line.p[i]))
			return -1;
	if (i == 0 || i > SMTP_MAX_VERB)
		return -1;
	*verb_r = span_make(line.p, i);
	if (i < line.len)
		*args_r = span_trim(span_make(line.p + i + 1,
		    line.len - i - 1));
	else
		*args_r = span_make(line.p + i, 0);
	return 0;
}

/* utf8_seq_len - length of the well-formed UTF-8 sequence at p, or 0 */
static size_t
utf8_seq_len(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	size_t len, i;
	uint8_t lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* past U+10FFFF */
	} else
		return 0;
	if (n < len)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

bool
smtp_parse_utf8_ok(struct span s)
{
	size_t i = 0, k;

	while (i < s.len) {
		k = utf8_seq_len(s.p + i, s.len - i);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

static bool
has_non_ascii(struct span s)
{
	size_t i;

	for (i = 0; i < s.len; i++)
		if (s.p[i] >= 0x80)
			return true;
	return false;
}

bool
smtp_parse_domain_ok(struct span d, bool utf8)
{
	size_t i, start = 0;
	bool ascii_label = true;

	if (d.len == 0 || d.len > SMTP_MAX_DOMAIN)
		return false;
	if (utf8 && !smtp_parse_utf8_ok(d))
		return false;
	for (i = 0; i <= d.len; i++) {
		uint8_t c = i < d.len ? d.p[i] : '.';

		if (c == '.') {
			size_t len = i - start;

			if (len == 0)
				return false;	/* empty label */
			if (d.p[start] == '-' || d.p[i - 1] == '-')
				return false;
			if (ascii_label && len > SMTP_MAX_LABEL)
				return false;
			start = i + 1;
			ascii_label = true;
			continue;
		}
		if (c >= 0x80) {
			if (!utf8)
				return false;
			ascii_label = false;
			continue;
		}
		if (!ascii_isalnum(c) && c != '-')
			return false;
	}
	return true;
}

/* ipv4_ok - dotted quad of 1-3 digit numbers up to 255 (RFC 5321 4.1.3) */
static bool
ipv4_ok(struct span s)
{
	size_t i = 0;
	int part;

	for (part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;

		if (part > 0) {
			if (i >= s.len || s.p[i] != '.')
				return false;
			i++;
		}
		while (i < s.len && ascii_isdigit(s.p[i]) && digits < 3) {
			v = v * 10 + (unsigned)(s.p[i] - '0');
			digits++;
			i++;
		}
		if (digits == 0 || v > 255)
			return false;
	}
	return i == s.len;
}

bool
smtp_parse_addr_literal_ok(struct span lit)
{
	struct span in;
	char tmp[64];
	struct in6_addr a6;

	if (lit.len < 3 || lit.p[0] != '[' || lit.p[lit.len - 1] != ']')
		return false;
	in = span_make(lit.p + 1, lit.len - 2);
	if (ascii_isdigit(in.p[0]))
		return ipv4_ok(in);
	if (!span_starts_ci(in, "IPv6:"))
		return false;	/* general literals: nothing can use them */
	in.p += 5;
	in.len -= 5;
	if (in.len == 0 || in.len >= sizeof(tmp) || span_has_nul(in))
		return false;
	memcpy(tmp, in.p, in.len);
	tmp[in.len] = '\0';
	return inet_pton(AF_INET6, tmp, &a6) == 1;
}

/* atext of RFC 5322 3.2.3, plus UTF-8 bytes (RFC 6531) checked elsewhere */
static bool
is_atext(uint8_t c)
{
	if (ascii_isalnum(c) || c >= 0x80)
		return true;
	return strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL && c != '\0';
}

/*
 * local_part_len - length of the Local-part at s (Dot-string or
 * Quoted-string), stopping before the '@'; 0 if malformed.
 */
static size_t
local_part_len(struct span s)
{
	size_t i = 0;

	if (s.len == 0)
		return 0;
	if (s.p[0] == '"') {
		for (i = 1; i < s.len; i++) {
			uint8_t c = s.p[i];

			if (c == '"')
				return i + 1;
			if (c == '\\') {
				/* quoted-pairSMTP = %d92 %d32-126 */
				if (i + 1 >= s.len || s.p[i + 1] < 32 ||
				    s.p[i + 1] > 126)
					return 0;
				i++;
				continue;
			}
			if (c >= 0x80)
				continue;	/* UTF-8, checked by caller */
			if (c < 32 || c > 126)
				return 0;
		}
		return 0;	/* unterminated */
	}
	for (;;) {
		size_t start = i;

		while (i < s.len && is_atext(s.p[i]))
			i++;
		if (i == start)
			return 0;	/* empty atom: leading or double dot */
		if (i < s.len && s.p[i] == '.') {
			i++;
			continue;
		}
		return i;
	}
}

int
smtp_parse_path(struct span s, bool utf8, bool allow_null, bool is_rcpt,
    size_t *used_r, struct span *mailbox_r, struct smtp_reply *err_r)
{
	const struct smtp_reply *bad = is_rcpt ? &reply_bad_rcpt :
	    &reply_bad_sender;
	const struct smtp_reply *toolong = is_rcpt ? &reply_long_rcpt :
	    &reply_long_sender;
	size_t i = 1, start, end, lp, close_at;
	struct span dom;
	long gt;

	if (s.len == 0 || s.p[0] != '<') {
		*err_r = reply_missing_bracket;
		return -1;
	}
	gt = span_find(s, '>');
	if (gt < 0) {
		*err_r = reply_missing_bracket;
		return -1;
	}
	/* the real closing bracket is found while parsing: a quoted local
	 * part may hold a '>' */
	close_at = (size_t)gt;
	if (close_at == 1) {
		if (!allow_null) {
			*err_r = *bad;
			return -1;
		}
		*used_r = 2;
		*mailbox_r = span_make(s.p + 1, 0);
		return 0;
	}
	/* A-d-l: "@dom,@dom:" is parsed and dropped (RFC 5321 4.1.2, C). */
	if (s.p[i] == '@') {
		for (;;) {
			if (i >= s.len || s.p[i] != '@') {
				*err_r = *bad;
				return -1;
			}
			start = ++i;
			while (i < s.len && s.p[i] != ',' && s.p[i] != ':' &&
			    s.p[i] != '>')
				i++;
			if (i >= s.len || s.p[i] == '>' ||
			    !smtp_parse_domain_ok(span_make(s.p + start,
			    i - start), utf8)) {
				*err_r = i - start > SMTP_MAX_DOMAIN ?
				    *toolong : *bad;
				return -1;
			}
			if (i > SMTP_MAX_PATH) {
				*err_r = *toolong;
				return -1;
			}
			if (s.p[i++] == ':')
				break;
		}
	}
	start = i;
	lp = local_part_len(span_make(s.p + i, s.len - i));
	if (lp == 0) {
		*err_r = *bad;
		return -1;
	}
	if (lp > SMTP_MAX_LOCAL_PART) {
		*err_r = *toolong;
		return -1;
	}
	i += lp;
	if (i >= s.len || s.p[i] != '@') {
		*err_r = *bad;
		return -1;
	}
	i++;
	end = i;
	if (end < s.len && s.p[end] == '[') {
		while (end < s.len && s.p[end] != ']')
			end++;
		if (end < s.len)
			end++;
	} else {
		while (end < s.len && s.p[end] != '>' && s.p[end] != ' ')
			end++;
	}
	if (end >= s.len || s.p[end] != '>') {
		*err_r = end >= s.len ? reply_missing_bracket : *bad;
		return -1;
	}
	if (end + 1 > SMTP_MAX_PATH) {
		*err_r = *toolong;
		return -1;
	}
	dom = span_make(s.p + i, end - i);
	if (dom.len > SMTP_MAX_DOMAIN) {
		*err_r = *toolong;
		return -1;
	}
	if (dom.len > 0 && dom.p[0] == '[') {
		if (!smtp_parse_addr_literal_ok(dom)) {
			*err_r = *bad;
			return -1;
		}
	} else if (!smtp_parse_domain_ok(dom, utf8)) {
		*err_r = *bad;
		return -1;
	}
	*mailbox_r = span_make(s.p + start, end - start);
	if (utf8 && !smtp_parse_utf8_ok(*mailbox_r)) {
		*err_r = *bad;
		return -1;
	}
	if (!utf8 && has_non_ascii(*mailbox_r)) {
		*err_r = reply_non_ascii;
		return -1;
	}
	*used_r = end + 1;
	return 0;
}

static bool
param_keyword_ok(struct span k)
{
	size_t i;

	if (k.len == 0 || !ascii_isalnum(k.p[0]))
		return false;
	for (i = 1; i < k.len; i++)
		if (!ascii_isalnum(k.p[i]) && k.p[i] != '-')
			return false;
	return true;
}

/* esmtp-value = 1*(%d33-60 / %d62-126), RFC 5321 4.1.2 */
static bool
param_value_ok(struct span v)
{
	size_t i;

	if (v.len == 0)
		return false;
	for (i = 0; i < v.len; i++)
		if (v.p[i] < 33 || v.p[i] > 126 || v.p[i] == '=')
			return false;
	return true;
}

/*
 * next_param - splits the next SP-separated "keyword[=value]" off *rest.
 * Returns 1 with a parameter, 0 at the end, -1 if malformed.
 */
static int
next_param(struct span *rest, struct span *key_r, struct span *val_r,
    bool *has_val_r)
{
	struct span p = *rest, word;
	size_t i = 0;
	long eq;

	while (i < p.len && p.p[i] == ' ')
		i++;
	p = span_make(p.p + i, p.len - i);
	if (p.len == 0)
		return 0;
	for (i = 0; i < p.len && p.p[i] != ' '; i++)
		;
	word = span_make(p.p, i);
	*rest = span_make(p.p + i, p.len - i);
	eq = span_find(word, '=');
	if (eq < 0) {
		*key_r = word;
		*val_r = span_make(word.p + word.len, 0);
		*has_val_r = false;
	} else {
		*key_r = span_make(word.p, (size_t)eq);
		*val_r = span_make(word.p + eq + 1, word.len - (size_t)eq - 1);
		*has_val_r = true;
		if (!param_value_ok(*val_r))
			return -1;
	}
	if (!param_keyword_ok(*key_r))
		return -1;
	return 1;
}

/* after_keyword - checks "FROM:" / "TO:" and skips blanks after it */
static bool
after_keyword(struct span args, const char *kw, struct span *rest_r)
{
	size_t n = strlen(kw), i;

	if (!span_starts_ci(args, kw))
		return false;
	i = n;
	/* RFC 5321 has no space here; many clients send one (tolerated). */
	while (i < args.len && args.p[i] == ' ')
		i++;
	*rest_r = span_make(args.p + i, args.len - i);
	return true;
}

int
smtp_parse_mail(struct span args, unsigned flags, struct arena *a,
    struct smtp_mail_args *r, struct smtp_reply *err_r)
{
	struct span rest, mbox, key, val;
	size_t used;
	bool has_val;
	int ret;

	memset(r, 0, sizeof(*r));
	r->body = SMTP_BODY_7BIT;
	if (!after_keyword(args, "FROM:", &rest)) {
		*err_r = reply_mail_syntax;
		return -1;
	}
	if (rest.len == 0 || rest.p[0] != '<') {
		*err_r = rest.len == 0 ? reply_mail_syntax :
		    reply_missing_bracket;
		return -1;
	}
	/* UTF-8 is checked for well-formedness now, for permission below */
	if (smtp_parse_path(rest, true, true, false, &used, &mbox, err_r) < 0)
		return -1;
	rest = span_make(rest.p + used, rest.len - used);
	if (rest.len > 0 && rest.p[0] != ' ') {
		*err_r = reply_mail_syntax;
		return -1;
	}
	while ((ret = next_param(&rest, &key, &val, &has_val)) == 1) {
		if (!(flags & SMTP_PARSE_F_ESMTP)) {
			*err_r = reply_unknown_param;
			return -1;
		}
		if (span_eq_str_ci(key, "SIZE")) {
			if (r->has_size) {
				*err_r = reply_dup_param;
				return -1;
			}
			if (!has_val ||
			    strnum_u64(val, UINT64_MAX, &r->size) < 0) {
				*err_r = reply_bad_size;
				return -1;
			}
			r->has_size = true;
		} else if (span_eq_str_ci(key, "BODY")) {
			if (r->has_body) {
				*err_r = reply_dup_param;
				return -1;
			}
			if (!has_val) {
				*err_r = reply_bad_body;
				return -1;
			}
			if (span_eq_str_ci(val, "7BIT"))
				r->body = SMTP_BODY_7BIT;
			else if (span_eq_str_ci(val, "8BITMIME"))
				r->body = SMTP_BODY_8BITMIME;
			else if (span_eq_str_ci(val, "BINARYMIME"))
				r->body = SMTP_BODY_BINARYMIME;
			else {
				*err_r = reply_bad_body;
				return -1;
			}
			r->has_body = true;
		} else if (span_eq_str_ci(key, "SMTPUTF8")) {
			if (!(flags & SMTP_PARSE_F_UTF8_OK)) {
				*err_r = reply_unknown_param;
				return -1;
			}
			if (has_val || r->smtputf8) {
				*err_r = has_val ? reply_bad_param :
				    reply_dup_param;
				return -1;
			}
			r->smtputf8 = true;
		} else {
			*err_r = reply_unknown_param;
			return -1;
		}
	}
	if (ret < 0) {
		*err_r = reply_bad_param;
		return -1;
	}
	if (!r->smtputf8 && has_non_ascii(mbox)) {
		*err_r = reply_non_ascii;
		return -1;
	}
	r->addr = arena_strndup(a, mbox.p, mbox.len);
	return 0;
}

int
smtp_parse_rcpt(struct span args, unsigned flags, struct arena *a,
    struct smtp_rcpt_args *r, struct smtp_reply *err_r)
{
	struct span rest, mbox, key, val;
	size_t used;
	bool has_val;
	int ret;

	memset(r, 0, sizeof(*r));
	if (!after_keyword(args, "TO:", &rest)) {
		*err_r = reply_rcpt_syntax;
		return -1;
	}
	if (rest.len == 0 || rest.p[0] != '<') {
		*err_r = rest.len == 0 ? reply_rcpt_syntax :
		    reply_missing_bracket;
		return -1;
	}
	/* RFC 5321 4.1.1.3: "<Postmaster>" without a domain is valid. */
	if (span_starts_ci(rest, "<postmaster>")) {
		used = 12;
		r->is_postmaster = true;
		mbox = SPAN_LIT("postmaster");
	} else if (smtp_parse_path(rest, true, false, true, &used, &mbox,
	    err_r) < 0)
		return -1;
	rest = span_make(rest.p + used, rest.len - used);
	if (rest.len > 0 && rest.p[0] != ' ') {
		*err_r = reply_rcpt_syntax;
		return -1;
	}
	ret = next_param(&rest, &key, &val, &has_val);
	if (ret > 0) {
		/* NOTIFY and ORCPT come with DSN support, later. */
		*err_r = reply_unknown_param;
		return -1;
	}
	if (ret < 0) {
		*err_r = reply_bad_param;
		return -1;
	}
	if (!(flags & SMTP_PARSE_F_UTF8) && has_non_ascii(mbox)) {
		*err_r = reply_non_ascii;
		return -1;
	}
	r->addr = arena_strndup(a, mbox.p, mbox.len);
	return 0;
}

bool
smtp_parse_helo_ok(struct span arg)
{
	size_t i;

	if (arg.len == 0 || arg.len > SMTP_MAX_HELO)
		return false;
	if (arg.p[0] == '[')
		return smtp_parse_addr_literal_ok(arg);
	for (i = 0; i < arg.len; i++)
		if (arg.p[i] < 0x80 && !(arg.p[i] > 0x20 && arg.p[i] < 0x7f))
			return false;
	return smtp_parse_utf8_ok(arg);
}
