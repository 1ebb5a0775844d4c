/*
 * spf.c - Sender Policy Framework (RFC 7208): the record parser (sections
 * 4.5, 4.6 and 12), the macro expander (section 7) and check_host()
 * (sections 4, 5 and 6) as a resumable, sans-I/O state machine.
 *
 * Untrusted input, before authentication: the SMTP client chooses the
 * identity and the address, and anyone who owns a domain chooses the
 * records we read.  Every record, name and list taken from an answer is
 * bounded (SPF_MAX_* in lib/postino_limits.h) and nothing here recurses:
 * include frames sit on a fixed stack whose depth the 10-lookup limit
 * bounds (section 4.6.4).
 *
 * Choices where RFC 7208 leaves room (see docs/spf.md):
 * - The whole record is syntax-checked before any term is evaluated
 *   (section 4.6: errors anywhere give permerror).
 * - A target name that cannot be a DNS name after expansion (an empty or
 *   over-long label) makes a, mx, ptr and exists not match; include and
 *   redirect then give permerror (section 4.8, the suite accepts both).
 * - Void lookups (section 4.6.4) are counted for the query a term itself
 *   makes (a, mx, ptr, exists), not for the address lookups of each MX or
 *   PTR name nor for exp=.
 * - %{i} of an IPv6 address uses upper-case nibbles, as the reference
 *   implementation and the OpenSPF test suite do (DNS ignores case).
 */
#include "policy/spf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ascii.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/xmalloc.h"

#define SPF_NAME_SIZE		(DNS_MAX_NAME + 1)
#define SPF_MAX_MACRO_VALUE	1024		/* one macro's value */
#define SPF_MAX_DEPTH		(SPF_MAX_LOOKUPS + 1)

/* ------------------------------------------------------------------ */
/* names */

const char *
spf_result_name(enum spf_result r)
{
	switch (r) {
	case SPF_NONE:		return "none";
	case SPF_NEUTRAL:	return "neutral";
	case SPF_PASS:		return "pass";
	case SPF_FAIL:		return "fail";
	case SPF_SOFTFAIL:	return "softfail";
	case SPF_TEMPERROR:	return "temperror";
	case SPF_PERMERROR:	return "permerror";
	}
	return "permerror";
}

const char *
spf_qtype_name(enum spf_qtype t)
{
	switch (t) {
	case SPF_Q_TXT:		return "TXT";
	case SPF_Q_A:		return "A";
	case SPF_Q_AAAA:	return "AAAA";
	case SPF_Q_MX:		return "MX";
	case SPF_Q_PTR:		return "PTR";
	}
	return "?";
}

/* ------------------------------------------------------------------ */
/* macros (section 7) */

static bool
macro_literal(uint8_t c, unsigned flags)
{
	if (c == ' ')
		return (flags & SPF_MACRO_F_EXP) != 0;
	return c >= 0x21 && c <= 0x7e && c != '%';
}

static bool
macro_delimiter(uint8_t c)
{
	return c == '.' || c == '-' || c == '+' || c == ',' || c == '/' ||
	    c == '_' || c == '=';
}

static bool
macro_letter(uint8_t c, unsigned flags)
{
	switch (ascii_tolower(c)) {
	case 's': case 'l': case 'o': case 'd': case 'i': case 'p':
	case 'h': case 'v':
		return true;
	case 'c': case 'r': case 't':
		return (flags & SPF_MACRO_F_EXP) != 0;
	}
	return false;
}

static bool
url_unreserved(uint8_t c)
{
	return ascii_isalnum(c) || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

/* macro_value - the raw value of a macro letter, in tmp if built. */
static const char *
macro_value(const struct spf_macro_env *env, int letter, char *tmp,
    size_t tmpsize)
{
	const struct sockaddr *sa = env->ip;
	const uint8_t *a;
	size_t i, o;

	switch (ascii_tolower(letter)) {
	case 's': return env->sender;
	case 'l': return env->local;
	case 'o': return env->sender_domain;
	case 'd': return env->domain;
	case 'h': return env->helo;
	case 'p':
		return env->validated != NULL ? env->validated : "unknown";
	case 'r':
		return env->receiver != NULL ? env->receiver : "unknown";
	case 't':
		snprintf(tmp, tmpsize, "%lld", (long long)env->now);
		return tmp;
	case 'v':
		if (sa == NULL)
			return "";
		return sa->sa_family == AF_INET6 ? "ip6" : "in-addr";
	case 'c':
	case 'i':
		if (sa == NULL)
			return "";
		if (sa->sa_family == AF_INET) {
			a = (const uint8_t *)
			    &((const struct sockaddr_in *)sa)->sin_addr;
			snprintf(tmp, tmpsize, "%u.%u.%u.%u", a[0], a[1],
			    a[2], a[3]);
			return tmp;
		}
		if (sa->sa_family != AF_INET6)
			return "";
		a = (const uint8_t *)
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (ascii_tolower(letter) == 'c') {
			if (inet_ntop(AF_INET6, a, tmp, tmpsize) == NULL)
				return "";
			return tmp;
		}
		/* 32 nibbles, dot-separated (section 7.3) */
		for (i = 0, o = 0; i < 16 && o + 4 < tmpsize; i++) {
			tmp[o++] = "0123456789ABCDEF"[a[i] >> 4];
			tmp[o++] = '.';
			tmp[o++] = "0123456789ABCDEF"[a[i] & 15];
			tmp[o++] = '.';
		}
		tmp[o > 0 ? o - 1 : 0] = '\0';
		return tmp;
	}
	return "";
}

/*
 * macro_emit - splits value on the delimiters, reverses if asked, keeps
 * the rightmost `keep` parts (0: all) and appends them joined by dots,
 * URL-escaped for an upper-case letter (section 7.3).
 */
static int
macro_emit(struct buf *out, const char *value, const char *delims,
    size_t keep, bool reverse, bool escape)
{
	size_t starts[SPF_MAX_MACRO_VALUE + 1], ends[SPF_MAX_MACRO_VALUE + 1];
	size_t len = strlen(value), nparts = 0, i, first, k, idx;
	const uint8_t *v = (const uint8_t *)value;

	if (len > SPF_MAX_MACRO_VALUE)
		return -1;
	starts[0] = 0;
	for (i = 0; i < len; i++) {
		if (strchr(delims, v[i]) != NULL) {
			ends[nparts++] = i;
			starts[nparts] = i + 1;
		}
	}
	ends[nparts++] = len;
	first = keep != 0 && keep < nparts ? nparts - keep : 0;
	for (k = first; k < nparts; k++) {
		idx = reverse ? nparts - 1 - k : k;
		if (k > first && buf_append_byte(out, '.') < 0)
			return -1;
		for (i = starts[idx]; i < ends[idx]; i++) {
			if (!escape || url_unreserved(v[i])) {
				if (buf_append_byte(out, v[i]) < 0)
					return -1;
			} else if (buf_printf(out, "%%%02X", v[i]) < 0)
				return -1;
		}
	}
	return 0;
}

int
spf_macro_expand(const struct spf_macro_env *env, struct span in,
    unsigned flags, struct buf *out, const char **error_r)
{
	const uint8_t *p = in.p;
	size_t i = 0, j, keep;
	char delims[8], tmp[80];
	size_t ndelims;
	bool reverse;
	int letter;

	while (i < in.len) {
		if (p[i] != '%') {
			if (!macro_literal(p[i], flags)) {
				*error_r = "invalid character in macro-string";
				return -1;
			}
			if (env != NULL && buf_append_byte(out, p[i]) < 0)
				goto toolong;
			i++;
			continue;
		}
		if (i + 1 >= in.len) {
			*error_r = "'%' at the end of a macro-string";
			return -1;
		}
		switch (p[i + 1]) {
		case '%':
		case '_':
		case '-':
			if (env != NULL &&
			    buf_append_str(out, p[i + 1] == '%' ? "%" :
			    p[i + 1] == '_' ? " " : "%20") < 0)
				goto toolong;
			i += 2;
			continue;
		case '{':
			break;
		default:
			*error_r = "'%' not followed by '{', '%', '_' or '-'";
			return -1;
		}
		j = i + 2;
		if (j >= in.len || !macro_letter(p[j], flags)) {
			*error_r = "invalid macro letter";
			return -1;
		}
		letter = p[j++];
		keep = 0;
		if (j < in.len && ascii_isdigit(p[j])) {
			while (j < in.len && ascii_isdigit(p[j])) {
				/* a huge count means "all parts" anyway */
				if (keep < 100000)
					keep = keep * 10 + (size_t)(p[j] - '0');
				j++;
			}
			if (keep == 0) {
				*error_r = "macro part count of zero";
				return -1;
			}
		}
		reverse = false;
		if (j < in.len && ascii_tolower(p[j]) == 'r') {
			reverse = true;
			j++;
		}
		ndelims = 0;
		while (j < in.len && macro_delimiter(p[j])) {
			if (ndelims < sizeof(delims) - 1 &&
			    memchr(delims, p[j], ndelims) == NULL)
				delims[ndelims++] = (char)p[j];
			j++;
		}
		if (j >= in.len || p[j] != '}') {
			*error_r = "malformed macro";
			return -1;
		}
		delims[ndelims] = '\0';
		if (ndelims == 0) {
			delims[0] = '.';
			delims[1] = '\0';
		}
		if (env != NULL) {
			const char *v = macro_value(env, letter, tmp,
			    sizeof(tmp));
			if (macro_emit(out, v != NULL ? v : "", delims, keep,
			    reverse, letter >= 'A' && letter <= 'Z') < 0)
				goto toolong;
		}
		i = j + 1;
	}
	return 0;
toolong:
	*error_r = "macro expansion too long";
	return -1;
}

bool
spf_macro_uses_p(struct span in)
{
	size_t i;

	for (i = 0; i + 2 < in.len; i++) {
		if (in.p[i] != '%')
			continue;
		if (in.p[i + 1] == '{' && ascii_tolower(in.p[i + 2]) == 'p')
			return true;
		i++;	/* skip the escaped character */
	}
	return false;
}

int
spf_domain_finish(struct span e, char *out, size_t outsize)
{
	const uint8_t *p = e.p;
	size_t len = e.len, i, label;

	if (len > 0 && p[len - 1] == '.')
		len--;
	/* section 7.3: drop labels from the left until it fits */
	while (len > DNS_MAX_NAME) {
		const uint8_t *dot = memchr(p, '.', len);

		if (dot == NULL)
			return -1;
		len -= (size_t)(dot + 1 - p);
		p = dot + 1;
	}
	if (len == 0 || len + 1 > outsize)
		return -1;
	label = 0;
	for (i = 0; i < len; i++) {
		if (p[i] == '\0')
			return -1;
		if (p[i] == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if (++label > 63)
			return -1;
	}
	if (label == 0)
		return -1;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

/* ------------------------------------------------------------------ */
/* record syntax (sections 4.6.1, 5, 6, 12) */

enum spf_kind {
	SPF_K_ALL,
	SPF_K_INCLUDE,
	SPF_K_A,
	SPF_K_MX,
	SPF_K_PTR,
	SPF_K_IP4,
	SPF_K_IP6,
	SPF_K_EXISTS,
	SPF_K_REDIRECT,
	SPF_K_EXP,
	SPF_K_UNKNOWN,		/* unknown modifier: checked, ignored */
};

struct spf_term {
	enum spf_kind	 kind;
	uint8_t		 qual;		/* '+', '-', '~', '?' */
	struct span	 text;		/* the whole term */
	struct span	 spec;		/* domain-spec; p NULL if none */
	unsigned	 cidr4, cidr6;
	uint8_t		 net[16];	/* ip4 (4 bytes) / ip6 network */
};

static bool
is_toplabel(struct span l)
{
	bool alpha = false, dash = false;
	size_t i;

	if (l.len == 0 || !ascii_isalnum(l.p[0]) ||
	    !ascii_isalnum(l.p[l.len - 1]))
		return false;
	for (i = 0; i < l.len; i++) {
		if (ascii_isalpha(l.p[i]))
			alpha = true;
		else if (l.p[i] == '-')
			dash = true;
		else if (!ascii_isdigit(l.p[i]))
			return false;
	}
	return alpha || dash;
}

/* domain-spec = macro-string domain-end (section 7.1) */
static int
check_domain_spec(struct span s, const char **error_r)
{
	size_t i, tail = 0;
	struct span lit;
	long dot;

	if (s.len == 0) {
		*error_r = "empty domain-spec";
		return -1;
	}
	if (spf_macro_expand(NULL, s, 0, NULL, error_r) < 0)
		return -1;
	/* where the trailing literal text starts */
	for (i = 0; i < s.len; i++) {
		if (s.p[i] != '%')
			continue;
		if (s.p[i + 1] == '{') {
			while (s.p[i] != '}')
				i++;
		} else
			i++;
		tail = i + 1;
	}
	if (tail == s.len)
		return 0;		/* ends with a macro-expand */
	lit = span_make(s.p + tail, s.len - tail);
	if (lit.len > 0 && lit.p[lit.len - 1] == '.')
		lit.len--;
	for (dot = -1, i = 0; i < lit.len; i++)
		if (lit.p[i] == '.')
			dot = (long)i;
	if (dot < 0 || !is_toplabel(span_make(lit.p + dot + 1,
	    lit.len - (size_t)dot - 1))) {
		*error_r = "domain-spec must end in a macro or a valid "
		    "top label";
		return -1;
	}
	return 0;
}

/* a CIDR length: "0" or digits without a leading zero, at most max */
static int
parse_cidr(struct span d, unsigned max, unsigned *r)
{
	unsigned v = 0;
	size_t i;

	if (d.len == 0 || d.len > 3 || (d.p[0] == '0' && d.len > 1))
		return -1;
	for (i = 0; i < d.len; i++) {
		if (!ascii_isdigit(d.p[i]))
			return -1;
		v = v * 10 + (unsigned)(d.p[i] - '0');
	}
	if (v > max)
		return -1;
	*r = v;
	return 0;
}

/* dual-cidr-length = [ "/" ip4-cidr ] [ "//" ip6-cidr ], whole span */
static int
parse_dual_cidr(struct span s, struct spf_term *t)
{
	size_t i;

	if (s.len == 0)
		return 0;
	if (s.len >= 2 && s.p[0] == '/' && s.p[1] == '/')
		return parse_cidr(span_make(s.p + 2, s.len - 2), 128,
		    &t->cidr6);
	if (s.p[0] != '/')
		return -1;
	for (i = 1; i + 1 < s.len; i++)
		if (s.p[i] == '/' && s.p[i + 1] == '/')
			break;
	if (i + 1 >= s.len)
		i = s.len;
	if (parse_cidr(span_make(s.p + 1, i - 1), 32, &t->cidr4) < 0)
		return -1;
	if (i == s.len)
		return 0;
	return parse_cidr(span_make(s.p + i + 2, s.len - i - 2), 128,
	    &t->cidr6);
}

/* splits "domain-spec[/N][//M]" into the spec and its CIDR suffix */
static int
split_spec_cidr(struct span arg, struct spf_term *t)
{
	size_t j = arg.len, k;

	k = j;
	while (k > 0 && ascii_isdigit(arg.p[k - 1]))
		k--;
	if (k < j && k >= 2 && arg.p[k - 1] == '/' && arg.p[k - 2] == '/') {
		j = k - 2;
		k = j;
		while (k > 0 && ascii_isdigit(arg.p[k - 1]))
			k--;
		if (k < j && k >= 1 && arg.p[k - 1] == '/')
			j = k - 1;
	} else if (k < j && k >= 1 && arg.p[k - 1] == '/')
		j = k - 1;
	t->spec = span_make(arg.p, j);
	return parse_dual_cidr(span_make(arg.p + j, arg.len - j), t);
}

/* ip4-network: four qnums, no leading zeros (section 5.6) */
static int
parse_ip4(struct span s, uint8_t out[4])
{
	size_t i = 0, part, start;
	unsigned v;

	for (part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= s.len || s.p[i] != '.')
				return -1;
			i++;
		}
		start = i;
		v = 0;
		while (i < s.len && ascii_isdigit(s.p[i]) && i - start < 3)
			v = v * 10 + (unsigned)(s.p[i++] - '0');
		if (i == start || v > 255 || (s.p[start] == '0' &&
		    i - start > 1))
			return -1;
		out[part] = (uint8_t)v;
	}
	return i == s.len ? 0 : -1;
}

static int
parse_ip6(struct span s, uint8_t out[16])
{
	char tmp[INET6_ADDRSTRLEN + 1];
	size_t i;

	if (s.len == 0 || s.len >= sizeof(tmp))
		return -1;
	for (i = 0; i < s.len; i++)
		if (!ascii_isxdigit(s.p[i]) && s.p[i] != ':' &&
		    s.p[i] != '.')
			return -1;
	memcpy(tmp, s.p, s.len);
	tmp[s.len] = '\0';
	return inet_pton(AF_INET6, tmp, out) == 1 ? 0 : -1;
}

static const struct {
	const char	*name;
	enum spf_kind	 kind;
} spf_mechs[] = {
	{ "all", SPF_K_ALL }, { "include", SPF_K_INCLUDE },
	{ "a", SPF_K_A }, { "mx", SPF_K_MX }, { "ptr", SPF_K_PTR },
	{ "ip4", SPF_K_IP4 }, { "ip6", SPF_K_IP6 },
	{ "exists", SPF_K_EXISTS },
};

/* parse_mechanism - the part after the name of a directive */
static int
parse_mechanism(struct spf_term *t, struct span rest, const char **error_r)
{
	bool colon = rest.len > 0 && rest.p[0] == ':';
	struct span arg = colon ? span_make(rest.p + 1, rest.len - 1) :
	    span_make(NULL, 0);
	long slash;

	switch (t->kind) {
	case SPF_K_ALL:
		if (rest.len != 0)
			goto bad;
		return 0;
	case SPF_K_INCLUDE:
	case SPF_K_EXISTS:
		if (!colon)
			goto bad;
		t->spec = arg;
		return check_domain_spec(arg, error_r);
	case SPF_K_PTR:
		if (rest.len == 0)
			return 0;
		if (!colon)
			goto bad;
		t->spec = arg;
		return check_domain_spec(arg, error_r);
	case SPF_K_A:
	case SPF_K_MX:
		t->cidr4 = 32;
		t->cidr6 = 128;
		if (rest.len == 0)
			return 0;
		if (!colon) {
			if (parse_dual_cidr(rest, t) < 0) {
				*error_r = "invalid CIDR length";
				return -1;
			}
			return 0;
		}
		if (split_spec_cidr(arg, t) < 0) {
			*error_r = "invalid CIDR length";
			return -1;
		}
		return check_domain_spec(t->spec, error_r);
	case SPF_K_IP4:
	case SPF_K_IP6:
		if (!colon)
			goto bad;
		slash = span_find(arg, '/');
		t->cidr4 = 32;
		t->cidr6 = 128;
		if (slash >= 0 && parse_cidr(span_make(arg.p + slash + 1,
		    arg.len - (size_t)slash - 1),
		    t->kind == SPF_K_IP4 ? 32 : 128,
		    t->kind == SPF_K_IP4 ? &t->cidr4 : &t->cidr6) < 0) {
			*error_r = "invalid CIDR length";
			return -1;
		}
		if (slash >= 0)
			arg.len = (size_t)slash;
		if ((t->kind == SPF_K_IP4 ? parse_ip4(arg, t->net) :
		    parse_ip6(arg, t->net)) < 0) {
			*error_r = "invalid IP network";
			return -1;
		}
		return 0;
	default:
		break;
	}
bad:
	*error_r = "malformed mechanism";
	return -1;
}

/*
 * parse_term - the next term of a validated-or-not record from *pos
 * (terms are separated by one or more SP, section 4.6.1).  Returns 1 with
 * a term, 0 at the end, -1 with a reason.
 */
static int
parse_term(struct span rec, size_t *pos, struct spf_term *t,
    const char **error_r)
{
	size_t i = *pos, start, end, ns;
	struct span term, name;
	bool has_qual = false;

	while (i < rec.len && rec.p[i] == ' ')
		i++;
	if (i == rec.len) {
		*pos = i;
		return 0;
	}
	start = i;
	while (i < rec.len && rec.p[i] != ' ')
		i++;
	end = i;
	*pos = end;
	term = span_make(rec.p + start, end - start);
	memset(t, 0, sizeof(*t));
	t->text = term;
	t->qual = '+';
	i = 0;
	if (term.p[0] == '+' || term.p[0] == '-' || term.p[0] == '~' ||
	    term.p[0] == '?') {
		t->qual = term.p[0];
		has_qual = true;
		i = 1;
	}
	ns = i;
	while (i < term.len && (ascii_isalnum(term.p[i]) ||
	    term.p[i] == '-' || term.p[i] == '_' || term.p[i] == '.'))
		i++;
	name = span_make(term.p + ns, i - ns);
	if (i < term.len && term.p[i] == '=') {
		struct span value = span_make(term.p + i + 1,
		    term.len - i - 1);

		if (has_qual || name.len == 0 || !ascii_isalpha(name.p[0])) {
			*error_r = "invalid modifier name";
			return -1;
		}
		t->spec = value;
		if (span_eq_str_ci(name, "redirect")) {
			t->kind = SPF_K_REDIRECT;
			return check_domain_spec(value, error_r) < 0 ? -1 : 1;
		}
		if (span_eq_str_ci(name, "exp")) {
			t->kind = SPF_K_EXP;
			return check_domain_spec(value, error_r) < 0 ? -1 : 1;
		}
		t->kind = SPF_K_UNKNOWN;
		return spf_macro_expand(NULL, value, 0, NULL, error_r) < 0 ?
		    -1 : 1;
	}
	for (size_t k = 0; k < sizeof(spf_mechs) / sizeof(spf_mechs[0]);
	    k++) {
		if (span_eq_str_ci(name, spf_mechs[k].name)) {
			t->kind = spf_mechs[k].kind;
			return parse_mechanism(t, span_make(term.p + i,
			    term.len - i), error_r) < 0 ? -1 : 1;
		}
	}
	*error_r = "unknown mechanism";
	return -1;
}

bool
spf_record_is_spf(struct span txt)
{
	return txt.len >= 6 && span_starts_ci(txt, "v=spf1") &&
	    (txt.len == 6 || txt.p[6] == ' ');
}

int
spf_record_validate(struct span rec, const char **error_r)
{
	struct spf_term t;
	size_t pos = 6;
	unsigned redirects = 0, exps = 0;
	int r;

	if (rec.len > SPF_MAX_RECORD) {
		*error_r = "SPF record too long";
		return -1;
	}
	if (!spf_record_is_spf(rec)) {
		*error_r = "not an SPF record";
		return -1;
	}
	while ((r = parse_term(rec, &pos, &t, error_r)) == 1) {
		if (t.kind == SPF_K_REDIRECT && ++redirects > 1) {
			*error_r = "redirect= given twice";
			return -1;
		}
		if (t.kind == SPF_K_EXP && ++exps > 1) {
			*error_r = "exp= given twice";
			return -1;
		}
	}
	return r;
}

/* ------------------------------------------------------------------ */
/* check_host() */

enum spf_phase {
	SPF_PH_FRAME,		/* fetch or evaluate in the top frame */
	SPF_PH_MX_NEXT,		/* address lookup of the next MX host */
	SPF_PH_PTR_NEXT,	/* validation of the next PTR name */
	SPF_PH_P_NEXT,		/* %{p}: validation of the next name */
	SPF_PH_EXP,		/* fetching the explanation */
	SPF_PH_P_START,		/* %{p}: start, then back to p_return */
};

enum spf_wait {
	SPF_W_RECORD,
	SPF_W_A,
	SPF_W_EXISTS,
	SPF_W_MX,
	SPF_W_MX_ADDR,
	SPF_W_PTR,
	SPF_W_PTR_ADDR,
	SPF_W_P_PTR,
	SPF_W_P_ADDR,
	SPF_W_EXP,
};

struct spf_ip {
	int		 family;	/* AF_INET or AF_INET6 */
	uint8_t		 a[16];
};

struct spf_frame {
	char		 domain[SPF_NAME_SIZE];
	char		*rec;		/* the selected record (owned) */
	size_t		 rec_len;
	size_t		 pos;		/* next term */
	struct span	 redirect;	/* domain-specs in rec; p NULL if */
	struct span	 exp;		/* the record has none */
	bool		 via_redirect;
	bool		 fetched;
	bool		 in_term;	/* t is being evaluated */
	struct spf_term	 t;
	size_t		 next;		/* position after t */
};

struct spf_check {
	struct spf_ip	 ip;
	struct sockaddr_storage ss;	/* ip as a sockaddr, for macros */
	char		 sender[2 * SPF_MAX_IDENTITY + 2];
	char		 local[SPF_MAX_IDENTITY + 1];
	char		 sender_domain[SPF_MAX_IDENTITY + 1];
	char		 helo[SPF_MAX_IDENTITY + 1];
	char		 receiver[SPF_MAX_IDENTITY + 1];
	char		 domain[SPF_NAME_SIZE];
	time_t		 now;

	struct spf_frame frames[SPF_MAX_DEPTH];
	size_t		 depth;
	unsigned	 lookups, voids;
	enum spf_phase	 phase;

	bool		 waiting;
	enum spf_wait	 wait;
	enum spf_qtype	 qtype;
	char		 qname[SPF_NAME_SIZE];

	/* the mx or ptr term being evaluated */
	char		 target[SPF_NAME_SIZE];
	char		 names[SPF_MAX_MX_NAMES > SPF_MAX_PTR_NAMES ?
			    SPF_MAX_MX_NAMES : SPF_MAX_PTR_NAMES]
			    [SPF_NAME_SIZE];
	size_t		 nnames, iname;

	/* %{p}: the validated names of the client address */
	enum { SPF_P_NONE, SPF_P_RUNNING, SPF_P_DONE } p_state;
	enum spf_phase	 p_return;
	char		 pnames[SPF_MAX_PTR_NAMES][SPF_NAME_SIZE];
	bool		 pvalid[SPF_MAX_PTR_NAMES];
	size_t		 npnames, ipname;
	char		 pchosen[SPF_NAME_SIZE];

	struct buf	 tmp;		/* macro expansions */

	bool		 done;
	enum spf_result	 result;
	const char	*problem;
	char		*explanation;
	char		*mechanism;
};

static void
copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void
finish(struct spf_check *c, enum spf_result r, const char *problem)
{
	c->done = true;
	c->waiting = false;
	c->result = r;
	if (problem != NULL && (r == SPF_PERMERROR || r == SPF_TEMPERROR ||
	    r == SPF_NONE))
		c->problem = problem;
}

/* section 4.3: a multi-label name of LDH labels, each 1..63 bytes */
static bool
valid_initial_domain(char *d)
{
	size_t len = strlen(d), i, label = 0, labels = 1;

	if (len > 0 && d[len - 1] == '.')
		d[--len] = '\0';
	if (len == 0 || len > DNS_MAX_NAME)
		return false;
	for (i = 0; i < len; i++) {
		if (d[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
			labels++;
		} else if (ascii_isalnum(d[i]) || d[i] == '-' ||
		    d[i] == '_') {
			if (++label > 63)
				return false;
		} else
			return false;
	}
	return label > 0 && labels >= 2;
}

struct spf_check *
spf_check_new(const struct sockaddr *client_ip, const char *domain,
    const char *sender, const char *helo, const char *receiver)
{
	struct spf_check *c = xcalloc(1, sizeof(*c));
	const char *at;
	size_t ll;

	buf_init(&c->tmp, SPF_MAX_EXPANSION);
	c->now = time(NULL);
	c->depth = 0;
	if (helo == NULL)
		helo = "";
	if (strlen(helo) > SPF_MAX_IDENTITY ||
	    (sender != NULL && strlen(sender) > SPF_MAX_IDENTITY) ||
	    (domain != NULL && strlen(domain) > SPF_MAX_IDENTITY) ||
	    (receiver != NULL && strlen(receiver) > SPF_MAX_IDENTITY)) {
		finish(c, SPF_NONE, "identity too long");
		return c;
	}
	copy_str(c->helo, sizeof(c->helo), helo);
	copy_str(c->receiver, sizeof(c->receiver),
	    receiver != NULL ? receiver : "unknown");
	/* the identity (sections 2.4, 4.3) */
	if (sender == NULL || *sender == '\0') {
		copy_str(c->local, sizeof(c->local), "postmaster");
		copy_str(c->sender_domain, sizeof(c->sender_domain), helo);
	} else if ((at = strrchr(sender, '@')) == NULL) {
		copy_str(c->local, sizeof(c->local), "postmaster");
		copy_str(c->sender_domain, sizeof(c->sender_domain), sender);
	} else {
		ll = (size_t)(at - sender);
		if (ll == 0)
			copy_str(c->local, sizeof(c->local), "postmaster");
		else {
			memcpy(c->local, sender, ll);
			c->local[ll] = '\0';
		}
		copy_str(c->sender_domain, sizeof(c->sender_domain), at + 1);
	}
	snprintf(c->sender, sizeof(c->sender), "%s@%s", c->local,
	    c->sender_domain);
	if (domain == NULL)
		domain = c->sender_domain;
	if (strlen(domain) >= sizeof(c->domain)) {
		finish(c, SPF_NONE, "malformed domain");
		return c;
	}
	copy_str(c->domain, sizeof(c->domain), domain);

	/* the address; IPv4-mapped IPv6 is IPv4 (section 5) */
	if (client_ip != NULL && client_ip->sa_family == AF_INET) {
		const struct sockaddr_in *s4 =
		    (const struct sockaddr_in *)client_ip;
		c->ip.family = AF_INET;
		memcpy(c->ip.a, &s4->sin_addr, 4);
	} else if (client_ip != NULL && client_ip->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 =
		    (const struct sockaddr_in6 *)client_ip;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			c->ip.family = AF_INET;
			memcpy(c->ip.a, s6->sin6_addr.s6_addr + 12, 4);
		} else {
			c->ip.family = AF_INET6;
			memcpy(c->ip.a, &s6->sin6_addr, 16);
		}
	} else {
		finish(c, SPF_NONE, "unsupported client address");
		return c;
	}
	if (c->ip.family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&c->ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, c->ip.a, 4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&c->ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, c->ip.a, 16);
	}

	if (!valid_initial_domain(c->domain)) {
		finish(c, SPF_NONE, "malformed domain");
		return c;
	}
	c->depth = 1;
	copy_str(c->frames[0].domain, sizeof(c->frames[0].domain),
	    c->domain);
	c->phase = SPF_PH_FRAME;
	return c;
}

void
spf_check_set_time(struct spf_check *c, time_t now)
{
	c->now = now;
}

void
spf_check_free(struct spf_check **cp)
{
	struct spf_check *c = *cp;
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < SPF_MAX_DEPTH; i++)
		free(c->frames[i].rec);
	buf_fini(&c->tmp);
	free(c->explanation);
	free(c->mechanism);
	free(c);
	*cp = NULL;
}

static struct spf_frame *
top(struct spf_check *c)
{
	ASSERT(c->depth > 0);
	return &c->frames[c->depth - 1];
}

static void
query(struct spf_check *c, enum spf_qtype t, const char *name,
    enum spf_wait w)
{
	c->waiting = true;
	c->qtype = t;
	c->wait = w;
	copy_str(c->qname, sizeof(c->qname), name);
}

static void
query_addr(struct spf_check *c, const char *name, enum spf_wait w)
{
	query(c, c->ip.family == AF_INET ? SPF_Q_A : SPF_Q_AAAA, name, w);
}

static void
query_ptr(struct spf_check *c, enum spf_wait w)
{
	char name[SPF_NAME_SIZE];
	size_t o = 0;
	int i;

	if (c->ip.family == AF_INET) {
		snprintf(name, sizeof(name), "%u.%u.%u.%u.in-addr.arpa",
		    c->ip.a[3], c->ip.a[2], c->ip.a[1], c->ip.a[0]);
	} else {
		for (i = 15; i >= 0; i--) {
			name[o++] = "0123456789abcdef"[c->ip.a[i] & 15];
			name[o++] = '.';
			name[o++] = "0123456789abcdef"[c->ip.a[i] >> 4];
			name[o++] = '.';
		}
		memcpy(name + o, "ip6.arpa", sizeof("ip6.arpa"));
	}
	query(c, SPF_Q_PTR, name, w);
}

/* true if name is d or a subdomain of it (ASCII case-insensitive) */
static bool
name_within(const char *name, const char *d)
{
	size_t nl = strlen(name), dl = strlen(d);

	if (nl < dl)
		return false;
	if (ascii_strcasecmp(name + nl - dl, d) != 0)
		return false;
	return nl == dl || name[nl - dl - 1] == '.';
}

/* the %{p} value for current domain d (section 7.3) */
static const char *
choose_p(struct spf_check *c, const char *d)
{
	size_t i;

	for (i = 0; i < c->npnames; i++)
		if (c->pvalid[i] && name_within(c->pnames[i], d))
			return c->pnames[i];
	for (i = 0; i < c->npnames; i++)
		if (c->pvalid[i])
			return c->pnames[i];
	return "unknown";
}

static int
expand(struct spf_check *c, struct span s, unsigned flags, const char *d,
    const char **error_r)
{
	struct spf_macro_env env = {
		.sender = c->sender,
		.local = c->local,
		.sender_domain = c->sender_domain,
		.domain = d,
		.helo = c->helo,
		.receiver = c->receiver,
		.ip = (const struct sockaddr *)&c->ss,
		.now = c->now,
	};

	if (c->p_state == SPF_P_DONE) {
		copy_str(c->pchosen, sizeof(c->pchosen), choose_p(c, d));
		env.validated = c->pchosen;
	}
	buf_reset(&c->tmp);
	return spf_macro_expand(&env, s, flags, &c->tmp, error_r);
}

/*
 * expand_target - expands a domain-spec in the current frame into out.
 * Returns 1 with a name, 0 if it is no usable DNS name, -1 on an
 * expansion error.
 */
static int
expand_target(struct spf_check *c, struct span spec, char *out,
    const char **error_r)
{
	if (expand(c, spec, 0, top(c)->domain, error_r) < 0)
		return -1;
	return spf_domain_finish(buf_span(&c->tmp), out, SPF_NAME_SIZE) < 0 ?
	    0 : 1;
}

static void
start_p(struct spf_check *c, enum spf_phase ret)
{
	c->p_state = SPF_P_RUNNING;
	c->p_return = ret;
	c->npnames = 0;
	c->ipname = 0;
	query_ptr(c, SPF_W_P_PTR);
}

static enum spf_result
qual_result(uint8_t q)
{
	switch (q) {
	case '-':	return SPF_FAIL;
	case '~':	return SPF_SOFTFAIL;
	case '?':	return SPF_NEUTRAL;
	default:	return SPF_PASS;
	}
}

static void mech_match(struct spf_check *);
static void mech_nomatch(struct spf_check *);

/* frame_result - the current frame's check_host() ended with r */
static void
frame_result(struct spf_check *c, enum spf_result r, bool by_mech)
{
	struct spf_frame *f = top(c);

	if (r == SPF_TEMPERROR || r == SPF_PERMERROR) {
		finish(c, r, NULL);
		return;
	}
	if (r == SPF_NONE && (f->via_redirect || c->depth > 1)) {
		finish(c, SPF_PERMERROR, f->via_redirect ?
		    "redirect= target has no SPF record" :
		    "include: target has no SPF record");
		return;
	}
	if (c->depth == 1) {
		if (by_mech)
			c->mechanism = xstrndup((const char *)f->t.text.p,
			    f->t.text.len);
		c->result = r;
		if (r == SPF_FAIL && by_mech && f->exp.p != NULL) {
			c->phase = SPF_PH_EXP;
			return;
		}
		finish(c, r, NULL);
		return;
	}
	/* the end of an include (section 5.2) */
	free(f->rec);
	memset(f, 0, sizeof(*f));
	c->depth--;
	if (r == SPF_PASS)
		mech_match(c);
	else
		mech_nomatch(c);
}

static void
mech_match(struct spf_check *c)
{
	frame_result(c, qual_result(top(c)->t.qual), true);
}

static void
mech_nomatch(struct spf_check *c)
{
	struct spf_frame *f = top(c);

	f->in_term = false;
	f->pos = f->next;
	c->phase = SPF_PH_FRAME;
}

static bool
ip_in_net(const struct spf_ip *ip, int family, const uint8_t *net,
    unsigned bits)
{
	size_t full = bits / 8;
	unsigned rest = bits % 8;
	uint8_t mask;

	if (ip->family != family)
		return false;
	if (memcmp(ip->a, net, full) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return (ip->a[full] & mask) == (net[full] & mask);
}

static bool
count_void(struct spf_check *c)
{
	if (++c->voids > SPF_MAX_VOID_LOOKUPS) {
		finish(c, SPF_PERMERROR, "too many void DNS lookups");
		return false;
	}
	return true;
}

/* end_of_terms - no mechanism matched: redirect= or neutral (4.7) */
static void
end_of_terms(struct spf_check *c)
{
	struct spf_frame *f = top(c);
	char target[SPF_NAME_SIZE];
	const char *err = NULL;
	int r;

	if (f->redirect.p == NULL) {
		frame_result(c, SPF_NEUTRAL, false);
		return;
	}
	if (spf_macro_uses_p(f->redirect) && c->p_state != SPF_P_DONE) {
		start_p(c, SPF_PH_FRAME);
		return;
	}
	if (++c->lookups > SPF_MAX_LOOKUPS) {
		finish(c, SPF_PERMERROR, "too many DNS lookups");
		return;
	}
	r = expand_target(c, f->redirect, target, &err);
	if (r <= 0) {
		finish(c, SPF_PERMERROR, r < 0 ? err :
		    "redirect= target is not a domain name");
		return;
	}
	/* section 6.1: check_host() on the target replaces this record */
	free(f->rec);
	memset(f, 0, sizeof(*f));
	copy_str(f->domain, sizeof(f->domain), target);
	f->via_redirect = true;
	c->phase = SPF_PH_FRAME;
}

/* eval_term - evaluates (or resumes) the top frame's next term */
static void
eval_term(struct spf_check *c)
{
	struct spf_frame *f = top(c);
	struct spf_term *t = &f->t;
	char target[SPF_NAME_SIZE];
	const char *err = "malformed record";
	int r;

	if (!f->in_term) {
		size_t next = f->pos;

		r = parse_term(span_make(f->rec, f->rec_len), &next, t, &err);
		if (r < 0) {
			/* validated before: cannot happen */
			finish(c, SPF_PERMERROR, err);
			return;
		}
		if (r == 0) {
			end_of_terms(c);
			return;
		}
		if (t->kind == SPF_K_REDIRECT || t->kind == SPF_K_EXP ||
		    t->kind == SPF_K_UNKNOWN) {
			f->pos = next;
			return;
		}
		f->in_term = true;
		f->next = next;
	}
	switch (t->kind) {
	case SPF_K_ALL:
		mech_match(c);
		return;
	case SPF_K_IP4:
	case SPF_K_IP6:
		if (ip_in_net(&c->ip, t->kind == SPF_K_IP4 ? AF_INET :
		    AF_INET6, t->net, t->kind == SPF_K_IP4 ? t->cidr4 :
		    t->cidr6))
			mech_match(c);
		else
			mech_nomatch(c);
		return;
	default:
		break;
	}
	/* the terms that query DNS (section 4.6.4) */
	if (t->spec.p != NULL && spf_macro_uses_p(t->spec) &&
	    c->p_state != SPF_P_DONE) {
		start_p(c, SPF_PH_FRAME);
		return;
	}
	if (++c->lookups > SPF_MAX_LOOKUPS) {
		finish(c, SPF_PERMERROR, "too many DNS lookups");
		return;
	}
	if (t->spec.p != NULL) {
		r = expand_target(c, t->spec, target, &err);
		if (r < 0) {
			finish(c, SPF_PERMERROR, err);
			return;
		}
		if (r == 0) {
			if (t->kind == SPF_K_INCLUDE)
				finish(c, SPF_PERMERROR,
				    "include: target is not a domain name");
			else
				mech_nomatch(c);
			return;
		}
	} else
		copy_str(target, sizeof(target), f->domain);

	switch (t->kind) {
	case SPF_K_A:
		query_addr(c, target, SPF_W_A);
		return;
	case SPF_K_EXISTS:
		query(c, SPF_Q_A, target, SPF_W_EXISTS);
		return;
	case SPF_K_MX:
		query(c, SPF_Q_MX, target, SPF_W_MX);
		return;
	case SPF_K_PTR:
		copy_str(c->target, sizeof(c->target), target);
		query_ptr(c, SPF_W_PTR);
		return;
	case SPF_K_INCLUDE:
		if (c->depth >= SPF_MAX_DEPTH) {
			finish(c, SPF_PERMERROR, "too many DNS lookups");
			return;
		}
		f = &c->frames[c->depth++];
		memset(f, 0, sizeof(*f));
		copy_str(f->domain, sizeof(f->domain), target);
		c->phase = SPF_PH_FRAME;
		return;
	default:
		finish(c, SPF_PERMERROR, "internal error");
		return;
	}
}

static void
start_exp(struct spf_check *c)
{
	struct spf_frame *f = top(c);
	char target[SPF_NAME_SIZE];
	const char *err;

	if (spf_macro_uses_p(f->exp) && c->p_state != SPF_P_DONE) {
		start_p(c, SPF_PH_EXP);
		return;
	}
	/* section 6.2: any problem means no explanation */
	if (expand_target(c, f->exp, target, &err) <= 0) {
		finish(c, SPF_FAIL, NULL);
		return;
	}
	query(c, SPF_Q_TXT, target, SPF_W_EXP);
}

static void
run(struct spf_check *c)
{
	struct spf_frame *f;

	switch (c->phase) {
	case SPF_PH_FRAME:
		f = top(c);
		if (!f->fetched)
			query(c, SPF_Q_TXT, f->domain, SPF_W_RECORD);
		else
			eval_term(c);
		return;
	case SPF_PH_MX_NEXT:
	case SPF_PH_PTR_NEXT:
		if (c->iname < c->nnames) {
			query_addr(c, c->names[c->iname++],
			    c->phase == SPF_PH_MX_NEXT ? SPF_W_MX_ADDR :
			    SPF_W_PTR_ADDR);
			return;
		}
		mech_nomatch(c);
		return;
	case SPF_PH_P_NEXT:
		if (c->ipname < c->npnames) {
			query_addr(c, c->pnames[c->ipname++], SPF_W_P_ADDR);
			return;
		}
		c->p_state = SPF_P_DONE;
		c->phase = c->p_return;
		return;
	case SPF_PH_EXP:
		start_exp(c);
		return;
	case SPF_PH_P_START:
		start_p(c, c->p_return);
		return;
	}
}

int
spf_check_step(struct spf_check *c)
{
	unsigned guard = 0;

	if (c->done)
		return 1;
	if (c->waiting) {
		log_error("spf: step while a DNS answer is pending");
		return -1;
	}
	while (!c->done && !c->waiting) {
		/* each DNS-free transition consumes a term or a name */
		if (++guard > 4 * SPF_MAX_RECORD * SPF_MAX_DEPTH) {
			log_error("spf: evaluation does not progress");
			finish(c, SPF_PERMERROR, "internal error");
			return -1;
		}
		run(c);
	}
	return c->done ? 1 : 0;
}

void
spf_check_query(const struct spf_check *c, enum spf_qtype *type_r,
    const char **name_r)
{
	ASSERT(c->waiting);
	*type_r = c->qtype;
	*name_r = c->qname;
}

static void
record_answer(struct spf_check *c, enum dns_status st,
    const struct span *txt, size_t n)
{
	struct spf_frame *f = top(c);
	struct spf_term t;
	const char *err;
	size_t i, nspf = 0, sel = 0, pos;

	if (st == DNS_TEMPFAIL) {
		finish(c, SPF_TEMPERROR, "DNS failure fetching SPF record");
		return;
	}
	if (st == DNS_OK)
		for (i = 0; i < n; i++)
			if (spf_record_is_spf(txt[i])) {
				nspf++;
				sel = i;
			}
	if (nspf == 0) {
		frame_result(c, SPF_NONE, false);
		if (c->done && c->result == SPF_NONE)
			c->problem = "no SPF record";
		return;
	}
	if (nspf > 1) {
		finish(c, SPF_PERMERROR, "more than one SPF record");
		return;
	}
	if (spf_record_validate(txt[sel], &err) < 0) {
		finish(c, SPF_PERMERROR, err);
		return;
	}
	f->rec = xmalloc(txt[sel].len + 1);
	memcpy(f->rec, txt[sel].p, txt[sel].len);
	f->rec[txt[sel].len] = '\0';
	f->rec_len = txt[sel].len;
	f->fetched = true;
	f->pos = 6;
	f->in_term = false;
	pos = 6;
	while (parse_term(span_make(f->rec, f->rec_len), &pos, &t,
	    &err) == 1) {
		if (t.kind == SPF_K_REDIRECT)
			f->redirect = t.spec;
		else if (t.kind == SPF_K_EXP)
			f->exp = t.spec;
	}
	c->phase = SPF_PH_FRAME;
}

static void
exp_answer(struct spf_check *c, enum dns_status st, const struct span *txt,
    size_t n)
{
	const char *err;

	/* section 6.2: exactly one record, a valid explain-string */
	if (st != DNS_OK || n != 1 ||
	    spf_macro_expand(NULL, txt[0], SPF_MACRO_F_EXP, NULL, &err) < 0) {
		finish(c, SPF_FAIL, NULL);
		return;
	}
	if (spf_macro_uses_p(txt[0]) && c->p_state != SPF_P_DONE) {
		/* find the %{p} names, then fetch the text again */
		c->p_return = SPF_PH_EXP;
		c->phase = SPF_PH_P_START;
		return;
	}
	if (expand(c, txt[0], SPF_MACRO_F_EXP, top(c)->domain, &err) < 0) {
		finish(c, SPF_FAIL, NULL);
		return;
	}
	/*
	 * The text goes into an SMTP reply: macro values (the sender's
	 * local-part) may carry bytes the record itself may not.
	 */
	for (size_t i = 0; i < c->tmp.len; i++)
		if (c->tmp.data[i] < 0x20 || c->tmp.data[i] > 0x7e)
			c->tmp.data[i] = '?';
	free(c->explanation);
	c->explanation = xstrndup(buf_cstr(&c->tmp), c->tmp.len);
	finish(c, SPF_FAIL, NULL);
}

void
spf_check_answer_txt(struct spf_check *c, enum dns_status st,
    const struct span *txt, size_t n)
{
	ASSERT(c->waiting && c->qtype == SPF_Q_TXT);
	c->waiting = false;
	if (st == DNS_OK && n == 0)
		st = DNS_NODATA;
	if (c->wait == SPF_W_RECORD)
		record_answer(c, st, txt, n);
	else
		exp_answer(c, st, txt, n);
}

void
spf_check_answer_addr(struct spf_check *c, enum dns_status st,
    const struct sockaddr_storage *addr, size_t n)
{
	struct spf_term *t = &top(c)->t;
	int family = c->qtype == SPF_Q_A ? AF_INET : AF_INET6;
	size_t i, count = 0;
	bool match = false, exact = false;
	struct spf_ip ip;

	ASSERT(c->waiting && (c->qtype == SPF_Q_A || c->qtype == SPF_Q_AAAA));
	c->waiting = false;
	for (i = 0; st == DNS_OK && i < n; i++) {
		if (addr[i].ss_family != family)
			continue;
		count++;
		ip.family = family;
		if (family == AF_INET)
			memcpy(ip.a, &((const struct sockaddr_in *)
			    &addr[i])->sin_addr, 4);
		else
			memcpy(ip.a, &((const struct sockaddr_in6 *)
			    &addr[i])->sin6_addr, 16);
		if (ip.family == c->ip.family) {
			if (memcmp(ip.a, c->ip.a, family == AF_INET ? 4 : 16)
			    == 0)
				exact = true;
			if (ip_in_net(&c->ip, family, ip.a, family == AF_INET ?
			    t->cidr4 : t->cidr6))
				match = true;
		}
	}
	if (st == DNS_OK && count == 0)
		st = DNS_NODATA;

	switch (c->wait) {
	case SPF_W_A:
	case SPF_W_EXISTS:
		if (st == DNS_TEMPFAIL) {
			finish(c, SPF_TEMPERROR, "DNS failure");
			return;
		}
		if (st != DNS_OK) {
			if ((st == DNS_NXDOMAIN || st == DNS_NODATA) &&
			    !count_void(c))
				return;
			mech_nomatch(c);
			return;
		}
		if (c->wait == SPF_W_EXISTS || match)
			mech_match(c);
		else
			mech_nomatch(c);
		return;
	case SPF_W_MX_ADDR:
		if (st == DNS_TEMPFAIL) {
			finish(c, SPF_TEMPERROR, "DNS failure");
			return;
		}
		if (match) {
			mech_match(c);
			return;
		}
		c->phase = SPF_PH_MX_NEXT;
		return;
	case SPF_W_PTR_ADDR:
		/* section 5.5: a failed lookup skips the name */
		if (exact) {
			mech_match(c);
			return;
		}
		c->phase = SPF_PH_PTR_NEXT;
		return;
	case SPF_W_P_ADDR:
		if (exact)
			c->pvalid[c->ipname - 1] = true;
		c->phase = SPF_PH_P_NEXT;
		return;
	default:
		finish(c, SPF_PERMERROR, "internal error");
		return;
	}
}

/* copies an answer name without trailing dot; false if unusable */
static bool
take_name(char *dst, const char *src)
{
	struct span s = span_from_str(src);

	if (s.len > 0 && s.p[s.len - 1] == '.')
		s.len--;
	if (s.len > DNS_MAX_NAME)
		return false;
	return spf_domain_finish(s, dst, SPF_NAME_SIZE) == 0;
}

void
spf_check_answer_names(struct spf_check *c, enum dns_status st,
    const char *const *names, size_t n)
{
	size_t i;

	ASSERT(c->waiting && (c->qtype == SPF_Q_MX || c->qtype == SPF_Q_PTR));
	c->waiting = false;
	if (st == DNS_OK && n == 0)
		st = DNS_NODATA;
	switch (c->wait) {
	case SPF_W_MX:
		if (st == DNS_TEMPFAIL) {
			finish(c, SPF_TEMPERROR, "DNS failure");
			return;
		}
		if (st != DNS_OK) {
			if ((st == DNS_NXDOMAIN || st == DNS_NODATA) &&
			    !count_void(c))
				return;
			mech_nomatch(c);
			return;
		}
		/* section 4.6.4: more than 10 MX records is permerror */
		if (n > SPF_MAX_MX_NAMES) {
			finish(c, SPF_PERMERROR, "more than 10 MX records");
			return;
		}
		c->nnames = 0;
		c->iname = 0;
		for (i = 0; i < n; i++)
			if (names[i] != NULL &&
			    take_name(c->names[c->nnames], names[i]))
				c->nnames++;
		c->phase = SPF_PH_MX_NEXT;
		return;
	case SPF_W_PTR:
		if (st != DNS_OK) {
			/* section 5.5: an error means no match */
			if ((st == DNS_NXDOMAIN || st == DNS_NODATA) &&
			    !count_void(c))
				return;
			mech_nomatch(c);
			return;
		}
		c->nnames = 0;
		c->iname = 0;
		/* only the first 10 names; only those that could match */
		for (i = 0; i < n && i < SPF_MAX_PTR_NAMES; i++)
			if (names[i] != NULL &&
			    take_name(c->names[c->nnames], names[i]) &&
			    name_within(c->names[c->nnames], c->target))
				c->nnames++;
		c->phase = SPF_PH_PTR_NEXT;
		return;
	case SPF_W_P_PTR:
		c->npnames = 0;
		c->ipname = 0;
		for (i = 0; st == DNS_OK && i < n && i < SPF_MAX_PTR_NAMES;
		    i++)
			if (names[i] != NULL &&
			    take_name(c->pnames[c->npnames], names[i])) {
				c->pvalid[c->npnames] = false;
				c->npnames++;
			}
		c->phase = SPF_PH_P_NEXT;
		return;
	default:
		finish(c, SPF_PERMERROR, "internal error");
		return;
	}
}

enum spf_result
spf_check_result(const struct spf_check *c, const char **explanation_r,
    const char **mechanism_r)
{
	ASSERT(c->done);
	if (explanation_r != NULL)
		*explanation_r = c->result == SPF_FAIL ? c->explanation : NULL;
	if (mechanism_r != NULL)
		*mechanism_r = c->mechanism;
	return c->result;
}

const char *
spf_check_problem(const struct spf_check *c)
{
	return c->problem;
}

const char *
spf_check_domain(const struct spf_check *c)
{
	return c->domain;
}

unsigned
spf_check_lookups(const struct spf_check *c)
{
	return c->lookups;
}

unsigned
spf_check_void_lookups(const struct spf_check *c)
{
	return c->voids;
}
