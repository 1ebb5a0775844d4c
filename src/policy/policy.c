/*
 * policy.c - the inbound decision from SPF (RFC 7208 section 8), DKIM
 * (RFC 6376) and DMARC (RFC 7489 section 6.6.4, 10.3) results, the
 * Authentication-Results (RFC 8601, RFC 6008 for header.b) and
 * Received-SPF (RFC 7208 section 9.1) fields, and the removal of forged
 * Authentication-Results fields (RFC 8601 section 5).
 *
 * Handles untrusted text before any authentication: the client's HELO
 * name and MAIL FROM, DKIM tags, SPF explanations from DNS, and whole
 * header blocks of received messages.  Reply text is reduced to
 * printable ASCII; header values are quoted and escaped, or left out
 * when they hold control bytes.
 */
#include "policy/policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ascii.h"
#include "lib/strnum.h"
#include "lib/xmalloc.h"
#include "mime/mime_header.h"

#define POLICY_FOLD_AT		78	/* RFC 5322 2.1.1 SHOULD */
#define POLICY_MAX_VALUE	500	/* one escaped header value */
#define POLICY_MAX_REASON	100	/* reason=/problem= text kept */
#define POLICY_MAX_COMMENT_DEPTH 32

const char *
policy_action_name(enum policy_action a)
{
	switch (a) {
	case POLICY_ACCEPT:	return "accept";
	case POLICY_JUNK:	return "junk";
	case POLICY_TEMPFAIL:	return "tempfail";
	case POLICY_REJECT:	return "reject";
	}
	return "accept";
}

int
policy_action_parse(const char *s, enum policy_action *a_r)
{
	static const enum policy_action all[] = { POLICY_ACCEPT, POLICY_JUNK,
	    POLICY_TEMPFAIL, POLICY_REJECT };
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (ascii_strcasecmp(s, policy_action_name(all[i])) == 0) {
			*a_r = all[i];
			return 0;
		}
	}
	return -1;
}

void
policy_settings_default(struct policy_settings *s, const char *hostname)
{
	memset(s, 0, sizeof(*s));
	s->hostname = hostname;
	s->spf_fail = POLICY_REJECT;
	s->spf_softfail = POLICY_JUNK;
	s->spf_neutral = POLICY_JUNK;
	s->spf_none = POLICY_JUNK;
	s->spf_permerror = POLICY_JUNK;
	s->spf_temperror = POLICY_TEMPFAIL;
	s->dkim_overrides_spf = true;
	s->dmarc_reject = POLICY_REJECT;
	s->dmarc_quarantine = POLICY_JUNK;
	s->dmarc_temperror = POLICY_TEMPFAIL;
}

int
policy_settings_add_exempt(struct policy_settings *s, const char *cidr,
    const char **error_r)
{
	struct policy_net n;
	char addr[64];
	const char *slash = strchr(cidr, '/');
	size_t alen = slash != NULL ? (size_t)(slash - cidr) : strlen(cidr);
	unsigned max, i;
	uint64_t prefix;

	if (s->nexempt == POLICY_MAX_EXEMPT) {
		*error_r = "too many exempt networks";
		return -1;
	}
	if (alen == 0 || alen >= sizeof(addr)) {
		*error_r = "invalid network address";
		return -1;
	}
	memcpy(addr, cidr, alen);
	addr[alen] = '\0';
	memset(&n, 0, sizeof(n));
	if (inet_pton(AF_INET, addr, n.addr) == 1) {
		n.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, n.addr) == 1) {
		n.family = AF_INET6;
		max = 128;
	} else {
		*error_r = "invalid network address";
		return -1;
	}
	prefix = max;
	if (slash != NULL && strnum_u64_str(slash + 1, max, &prefix) < 0) {
		*error_r = "invalid network prefix length";
		return -1;
	}
	n.prefix = (unsigned)prefix;
	for (i = n.prefix; i < 128; i++)
		n.addr[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	s->exempt[s->nexempt++] = n;
	return 0;
}

int
policy_settings_add_exempt_list(struct policy_settings *s, const char *list,
    const char **error_r)
{
	char *copy, *save = NULL, *tok;
	int r = 0;

	if (ascii_strcasecmp(list, "none") == 0)
		return 0;
	copy = xstrdup(list);
	for (tok = strtok_r(copy, " \t,", &save); tok != NULL && r == 0;
	    tok = strtok_r(NULL, " \t,", &save))
		r = policy_settings_add_exempt(s, tok, error_r);
	free(copy);
	return r;
}

/* sa_bytes - the address as bytes; IPv4-mapped IPv6 as IPv4 */
static int
sa_bytes(const struct sockaddr *sa, uint8_t *out)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };

	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)(const void *)sa)->
		    sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr.s6_addr;

		if (memcmp(a, mapped, 12) == 0) {
			memcpy(out, a + 12, 4);
			return AF_INET;
		}
		memcpy(out, a, 16);
		return AF_INET6;
	}
	return -1;
}

bool
policy_is_exempt(const struct policy_settings *s, const struct sockaddr *sa)
{
	uint8_t a[16];
	int fam = sa_bytes(sa, a);
	size_t k;

	for (k = 0; fam > 0 && k < s->nexempt; k++) {
		const struct policy_net *n = &s->exempt[k];
		unsigned full = n->prefix / 8, rest = n->prefix % 8;

		if (n->family != fam || memcmp(a, n->addr, full) != 0)
			continue;
		if (rest == 0 || ((a[full] ^ n->addr[full]) &
		    (uint8_t)(0xff00u >> rest)) == 0)
			return true;
	}
	return false;
}

static void
ip_text(const struct sockaddr *sa, char *out, size_t outsize)
{
	uint8_t a[16];
	int fam = sa_bytes(sa, a);

	if (fam < 0 || inet_ntop(fam, a, out, (socklen_t)outsize) == NULL)
		snprintf(out, outsize, "unknown");
}

/* clean - printable ASCII copy of s, others as '?', cut to max bytes */
static void
clean(char *out, size_t outsize, const char *s, size_t max)
{
	size_t i;

	if (s == NULL)
		s = "";
	for (i = 0; s[i] != '\0' && i < max && i + 1 < outsize; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[i] = '\0';
}

/* the sender identity SPF checked: MAIL FROM, or postmaster@HELO */
static void
spf_identity(const struct policy_input *in, char *out, size_t outsize)
{
	if (in->mail_from != NULL && in->mail_from[0] != '\0')
		snprintf(out, outsize, "%s", in->mail_from);
	else
		snprintf(out, outsize, "postmaster@%s",
		    in->helo != NULL ? in->helo : "unknown");
}

static bool
spf_by_helo(const struct policy_input *in)
{
	return in->mail_from == NULL || in->mail_from[0] == '\0';
}

/* --- the decision ------------------------------------------------- */

struct verdict {
	enum policy_action action;
	const char	*enh5, *enh4;
	const char	*reason;
	char		 text[384];
};

static enum policy_action
spf_action(const struct policy_settings *s, enum spf_result r)
{
	switch (r) {
	case SPF_PASS:		return POLICY_ACCEPT;
	case SPF_FAIL:		return s->spf_fail;
	case SPF_SOFTFAIL:	return s->spf_softfail;
	case SPF_NEUTRAL:	return s->spf_neutral;
	case SPF_NONE:		return s->spf_none;
	case SPF_PERMERROR:	return s->spf_permerror;
	case SPF_TEMPERROR:	return s->spf_temperror;
	}
	return POLICY_ACCEPT;
}

static void
spf_verdict(const struct policy_settings *s, const struct policy_input *in,
    bool dkim_ok, struct verdict *v)
{
	char dom[104], ip[INET6_ADDRSTRLEN + 1], exp[104];
	const char *d = in->spf_domain;

	v->action = spf_action(s, in->spf);
	if (v->action != POLICY_ACCEPT && dkim_ok && s->dkim_overrides_spf)
		v->action = POLICY_ACCEPT;
	if (d == NULL || d[0] == '\0')
		d = spf_by_helo(in) ? in->helo : NULL;
	clean(dom, sizeof(dom), d != NULL ? d : "the sender domain", 100);
	ip_text(in->client_ip, ip, sizeof(ip));
	switch (in->spf) {
	case SPF_PASS:
		v->reason = "spf=pass";
		break;
	case SPF_FAIL:
	case SPF_SOFTFAIL:
		v->reason = in->spf == SPF_FAIL ? "spf=fail" : "spf=softfail";
		v->enh5 = "5.7.23";
		v->enh4 = "4.7.23";
		/* RFC 7208 8.4: the domain's explanation, if any */
		clean(exp, sizeof(exp), in->spf_explanation, 100);
		snprintf(v->text, sizeof(v->text), "SPF validation failed%s:"
		    " %s does not designate %s as permitted sender%s%s%s",
		    in->spf == SPF_SOFTFAIL ? " (softfail)" : "", dom, ip,
		    exp[0] != '\0' ? " (" : "", exp,
		    exp[0] != '\0' ? ")" : "");
		break;
	case SPF_NEUTRAL:
		v->reason = "spf=neutral";
		v->enh5 = "5.7.1";
		v->enh4 = "4.7.1";
		snprintf(v->text, sizeof(v->text), "SPF: %s neither permits "
		    "nor denies %s", dom, ip);
		break;
	case SPF_NONE:
		v->reason = "spf=none";
		v->enh5 = "5.7.1";
		v->enh4 = "4.7.1";
		snprintf(v->text, sizeof(v->text), "SPF: %s publishes no SPF "
		    "record", dom);
		break;
	case SPF_PERMERROR:
		v->reason = "spf=permerror";
		v->enh5 = "5.7.24";
		v->enh4 = "4.7.24";
		snprintf(v->text, sizeof(v->text), "SPF validation error: "
		    "the SPF record of %s is invalid", dom);
		break;
	case SPF_TEMPERROR:
		v->reason = "spf=temperror";
		v->enh5 = "5.7.24";
		v->enh4 = "4.7.24";
		snprintf(v->text, sizeof(v->text), "SPF validation error: "
		    "DNS lookup for %s failed, try again later", dom);
		break;
	}
}

static void
dmarc_verdict(const struct policy_settings *s, const struct policy_input *in,
    struct verdict *v)
{
	const struct dmarc_outcome *o = in->dmarc;
	char dom[104];

	v->action = POLICY_ACCEPT;
	v->reason = "dmarc=pass";
	if (o == NULL)
		return;
	clean(dom, sizeof(dom), o->policy_domain != NULL ?
	    o->policy_domain : o->header_from, 100);
	v->enh5 = "5.7.1";
	v->enh4 = "4.7.1";
	if (o->result == DMARC_RESULT_FAIL) {
		v->reason = o->disposition == DMARC_POLICY_REJECT ?
		    "dmarc=reject" : o->disposition ==
		    DMARC_POLICY_QUARANTINE ? "dmarc=quarantine" :
		    "dmarc=fail";
		if (o->disposition == DMARC_POLICY_REJECT)
			v->action = s->dmarc_reject;
		else if (o->disposition == DMARC_POLICY_QUARANTINE)
			v->action = s->dmarc_quarantine;
		/* an SPF retry may pass, and DMARC with it */
		if (v->action == POLICY_REJECT && in->spf == SPF_TEMPERROR &&
		    !o->dkim_aligned)
			v->action = POLICY_TEMPFAIL;
		snprintf(v->text, sizeof(v->text), "Message rejected per the "
		    "DMARC policy of %s", dom);
	} else if (o->result == DMARC_RESULT_TEMPERROR) {
		v->reason = "dmarc=temperror";
		v->action = s->dmarc_temperror;
		snprintf(v->text, sizeof(v->text), "DMARC policy lookup for "
		    "%s failed, try again later", dom);
	} else {
		v->reason = o->result == DMARC_RESULT_PASS ? "dmarc=pass" :
		    o->result == DMARC_RESULT_NONE ? "dmarc=none" :
		    "dmarc=permerror";
	}
}

void
policy_decide(const struct policy_settings *s, const struct policy_input *in,
    struct policy_decision *d)
{
	struct verdict sv, dv, *w;
	bool dkim_ok = in->dmarc != NULL && in->dmarc->dkim_aligned;

	memset(d, 0, sizeof(*d));
	d->action = POLICY_ACCEPT;
	if (in->authenticated) {
		d->skipped = true;
		d->reason = "authenticated";
		return;
	}
	if (in->client_ip != NULL && policy_is_exempt(s, in->client_ip)) {
		d->skipped = true;
		d->reason = "exempt";
		return;
	}
	memset(&sv, 0, sizeof(sv));
	memset(&dv, 0, sizeof(dv));
	if (!in->spf_off)
		spf_verdict(s, in, dkim_ok, &sv);
	else
		sv.reason = "spf=off";
	dmarc_verdict(s, in, &dv);
	w = dv.action > sv.action ? &dv : &sv;
	d->action = w->action;
	d->reason = w->reason;
	if (w->action == POLICY_REJECT || w->action == POLICY_TEMPFAIL) {
		bool perm = w->action == POLICY_REJECT;

		d->code = perm ? 550 : 451;
		d->enhanced = perm ? w->enh5 : w->enh4;
		memcpy(d->text, w->text, sizeof(d->text));
	}
}

/* --- header fields ------------------------------------------------ */

struct hw {
	struct buf	*out;
	size_t		 col;
	int		 err;
};

static void
hw_raw(struct hw *w, const char *s)
{
	if (w->err == 0 && buf_append_str(w->out, s) < 0)
		w->err = -1;
	w->col += strlen(s);
}

static void
hw_fold(struct hw *w)
{
	hw_raw(w, "\r\n\t");
	w->col = 1;
}

/* hw_word - a blank (or a fold, past the column limit) and s */
static void
hw_word(struct hw *w, const char *s)
{
	if (w->col + 1 + strlen(s) > POLICY_FOLD_AT && w->col > 1)
		hw_fold(w);
	else
		hw_raw(w, " ");
	hw_raw(w, s);
}

static bool
atext(unsigned char c)
{
	return ascii_isalnum(c) || (c != '\0' &&
	    strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL) || c >= 0x80;
}

/*
 * fmt_value - name=value (the value alone for a NULL name) into out:
 * plain if it may stand as it is (dot_atom: RFC 5322 dot-atom for
 * Received-SPF; else an RFC 8601 pvalue of letters, digits, "@.-_+"),
 * else a quoted-string.  -1 (the value is left out) on control bytes
 * or past POLICY_MAX_VALUE.
 */
static int
fmt_value(char *out, size_t outsize, const char *name, const char *v,
    bool dot_atom)
{
	size_t i, o;
	const char *at = strchr(v, '@');
	/* a pvalue may be [local-part] "@" domain: one '@', a domain after */
	bool plain = v[0] != '\0' && (dot_atom || at == NULL ||
	    (strchr(at + 1, '@') == NULL && at[1] != '\0'));
	int n;

	for (i = 0; v[i] != '\0'; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x20 || c == 0x7f)
			return -1;
		if (dot_atom) {
			if (c == '.' ? (i == 0 || v[i + 1] == '\0' ||
			    v[i + 1] == '.') : !atext(c))
				plain = false;
		} else if (!ascii_isalnum(c) && strchr("@.-_+", c) == NULL)
			plain = false;
	}
	n = name != NULL ? snprintf(out, outsize, "%s=", name) : 0;
	if (n < 0 || (size_t)n >= outsize)
		return -1;
	o = (size_t)n;
	if (!plain && o < outsize)
		out[o++] = '"';
	for (i = 0; v[i] != '\0'; i++) {
		if (o + 4 >= outsize || o > POLICY_MAX_VALUE)
			return -1;
		if (!plain && (v[i] == '"' || v[i] == '\\'))
			out[o++] = '\\';
		out[o++] = v[i];
	}
	if (o + 2 >= outsize)
		return -1;
	if (!plain)
		out[o++] = '"';
	out[o] = '\0';
	return 0;
}

static void
hw_value(struct hw *w, const char *name, const char *v, bool dot_atom,
    const char *suffix)
{
	char tmp[POLICY_MAX_VALUE + 64];
	size_t len, slen = strlen(suffix);

	if (v == NULL || fmt_value(tmp, sizeof(tmp), name, v, dot_atom) < 0)
		return;
	len = strlen(tmp);
	if (len + slen >= sizeof(tmp))
		return;
	memcpy(tmp + len, suffix, slen + 1);
	hw_word(w, tmp);
}

/* hw_comment - "(" text ")" word by word; ( ) \ escaped, controls '?' */
static void
hw_comment(struct hw *w, const char *text)
{
	char word[POLICY_MAX_VALUE + 8];
	size_t i = 0, o;
	bool first = true;

	while (text[i] != '\0') {
		o = 0;
		if (first)
			word[o++] = '(';
		while (text[i] == ' ')
			i++;
		while (text[i] != '\0' && text[i] != ' ') {
			unsigned char c = (unsigned char)text[i++];

			if (o + 4 >= POLICY_MAX_VALUE)
				continue;	/* cut */
			if (c == '(' || c == ')' || c == '\\')
				word[o++] = '\\';
			word[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
		}
		while (text[i] == ' ')
			i++;
		if (text[i] == '\0')
			word[o++] = ')';
		word[o] = '\0';
		hw_word(w, word);
		first = false;
	}
}

static void
received_spf(const struct policy_settings *s, const struct policy_input *in,
    struct hw *w)
{
	char who[600], ip[INET6_ADDRSTRLEN + 1], comment[1400];
	char problem[POLICY_MAX_REASON + 1];
	const char *host = s->hostname != NULL ? s->hostname : "localhost";

	spf_identity(in, who, sizeof(who));
	ip_text(in->client_ip, ip, sizeof(ip));
	clean(problem, sizeof(problem), in->spf_problem, POLICY_MAX_REASON);
	switch (in->spf) {
	case SPF_PASS:
		snprintf(comment, sizeof(comment), "%s: domain of %s "
		    "designates %s as permitted sender", host, who, ip);
		break;
	case SPF_FAIL:
		snprintf(comment, sizeof(comment), "%s: domain of %s does "
		    "not designate %s as permitted sender", host, who, ip);
		break;
	case SPF_SOFTFAIL:
		snprintf(comment, sizeof(comment), "%s: domain of "
		    "transitioning %s does not designate %s as permitted "
		    "sender", host, who, ip);
		break;
	case SPF_NEUTRAL:
		snprintf(comment, sizeof(comment), "%s: %s is neither "
		    "permitted nor denied by domain of %s", host, ip, who);
		break;
	case SPF_NONE:
		snprintf(comment, sizeof(comment), "%s: domain of %s does "
		    "not designate permitted sender hosts", host, who);
		break;
	case SPF_TEMPERROR:
		snprintf(comment, sizeof(comment), "%s: temporary error "
		    "while checking domain of %s", host, who);
		break;
	case SPF_PERMERROR:
		snprintf(comment, sizeof(comment), "%s: permanent error in "
		    "processing domain of %s", host, who);
		break;
	}
	hw_raw(w, "Received-SPF: ");
	hw_raw(w, spf_result_name(in->spf));
	hw_comment(w, comment);
	hw_value(w, "client-ip", ip, true, ";");
	if (!spf_by_helo(in))
		hw_value(w, "envelope-from", in->mail_from, true, ";");
	hw_value(w, "helo", in->helo, true, ";");
	hw_value(w, "receiver", host, true, ";");
	hw_value(w, "identity", spf_by_helo(in) ? "helo" : "mailfrom", true,
	    ";");
	hw_value(w, "mechanism", in->spf_mechanism, true, ";");
	if (problem[0] != '\0')
		hw_value(w, "problem", problem, true, ";");
	hw_raw(w, "\r\n");
}

static void
ar_dkim(struct hw *w, const struct dkim_result *r)
{
	char tmp[64], reason[POLICY_MAX_REASON + 1];

	hw_raw(w, "dkim=");
	hw_raw(w, dkim_status_name(r->result));
	if (r->key_bits > 0) {
		snprintf(tmp, sizeof(tmp), "(%u-bit", r->key_bits);
		hw_word(w, tmp);
		hw_word(w, "key)");
	}
	if (r->result != DKIM_PASS && r->reason != NULL) {
		clean(reason, sizeof(reason), r->reason, POLICY_MAX_REASON);
		hw_value(w, "reason", reason, false, "");
	}
	hw_value(w, "header.d", r->domain, false, "");
	hw_value(w, "header.i", r->auid, false, "");
	hw_value(w, "header.s", r->selector, false, "");
	hw_value(w, "header.a", r->algo, false, "");
	if (r->b_prefix != NULL && r->b_prefix[0] != '\0')
		hw_value(w, "header.b", r->b_prefix, false, "");
}

static void
auth_results(const struct policy_settings *s, const struct policy_input *in,
    struct hw *w)
{
	const struct dmarc_outcome *o = in->dmarc;
	char tmp[80];
	size_t i;

	hw_raw(w, "Authentication-Results:");
	/* authserv-id: a value (token or quoted-string), RFC 8601 2.2 */
	hw_value(w, NULL, s->hostname != NULL ? s->hostname : "localhost",
	    false, "");
	if (in->spf_off && in->dkim_off && o == NULL) {
		/* RFC 8601 2.2: no method ran */
		hw_raw(w, "; none\r\n");
		return;
	}
	if (!in->spf_off) {
		hw_raw(w, ";");
		hw_fold(w);
		hw_raw(w, "spf=");
		hw_raw(w, spf_result_name(in->spf));
		if (spf_by_helo(in))
			hw_value(w, "smtp.helo", in->helo, false, "");
		else
			hw_value(w, "smtp.mailfrom", in->mail_from, false,
			    "");
	}
	if (in->ndkim == 0 && !in->dkim_off) {
		hw_raw(w, ";");
		hw_fold(w);
		hw_raw(w, "dkim=none");
	}
	for (i = 0; i < in->ndkim && !in->dkim_off; i++) {
		hw_raw(w, ";");
		hw_fold(w);
		ar_dkim(w, &in->dkim[i]);
	}
	if (o != NULL) {
		hw_raw(w, ";");
		hw_fold(w);
		hw_raw(w, "dmarc=");
		hw_raw(w, dmarc_result_name(o->result));
		if (o->record != NULL) {
			snprintf(tmp, sizeof(tmp), "(p=%s",
			    dmarc_policy_name(o->policy));
			hw_word(w, tmp);
			snprintf(tmp, sizeof(tmp), "dis=%s)",
			    dmarc_policy_name(o->disposition));
			hw_word(w, tmp);
		}
		hw_value(w, "header.from", o->header_from, false, "");
	}
	hw_raw(w, "\r\n");
}

int
policy_headers(const struct policy_settings *s,
    const struct policy_input *in, struct buf *out)
{
	struct hw w = { out, 0, 0 };
	size_t start = out->len;

	if (in->authenticated || (in->client_ip != NULL &&
	    policy_is_exempt(s, in->client_ip)))
		return 0;
	if (!in->spf_off)
		received_spf(s, in, &w);
	w.col = 0;
	auth_results(s, in, &w);
	if (w.err < 0) {
		out->len = start;	/* nothing half-written */
		if (out->data != NULL)
			out->data[start] = '\0';
		return -1;
	}
	return 0;
}

int
policy_auth_results(const char *hostname, const char *user, struct buf *out)
{
	struct hw w = { out, 0, 0 };
	size_t start = out->len;

	hw_raw(&w, "Authentication-Results:");
	hw_value(&w, NULL, hostname != NULL ? hostname : "localhost", false,
	    "");
	hw_raw(&w, ";");
	hw_fold(&w);
	hw_raw(&w, "auth=pass");
	if (user != NULL && user[0] != '\0')
		hw_value(&w, "smtp.auth", user, false, "");
	hw_raw(&w, "\r\n");
	if (w.err < 0) {
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
		return -1;
	}
	return 0;
}

/* --- forged Authentication-Results -------------------------------- */

static bool
cfws_char(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* skip_cfws - blanks, folds and (nested) comments; -1 if a comment is
 * unterminated or nested too deep */
static int
skip_cfws(struct span v, size_t *i)
{
	unsigned depth = 0;

	while (*i < v.len) {
		uint8_t c = v.p[*i];

		if (depth == 0 && cfws_char(c)) {
			(*i)++;
		} else if (c == '(') {
			if (++depth > POLICY_MAX_COMMENT_DEPTH)
				return -1;
			(*i)++;
		} else if (depth > 0) {
			if (c == '\\')
				(*i)++;
			else if (c == ')')
				depth--;
			(*i)++;
		} else
			break;
	}
	return depth == 0 ? 0 : -1;
}

static bool
token_char(uint8_t c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

bool
policy_ar_is_ours(struct span v, const char *authserv_id)
{
	char id[256];
	size_t i = 0, n = 0, idlen;

	if (authserv_id == NULL || skip_cfws(v, &i) < 0 || i == v.len)
		return false;
	if (v.p[i] == '"') {
		for (i++; i < v.len && v.p[i] != '"'; i++) {
			if (v.p[i] == '\\' && ++i == v.len)
				return false;
			if (v.p[i] == '\r' || v.p[i] == '\n')
				continue;	/* a fold inside the quotes */
			if (n == sizeof(id) - 1)
				return false;
			id[n++] = (char)v.p[i];
		}
		if (i == v.len)
			return false;
	} else {
		for (; i < v.len && token_char(v.p[i]); i++) {
			if (n == sizeof(id) - 1)
				return false;
			id[n++] = (char)v.p[i];
		}
	}
	if (n > 0 && id[n - 1] == '.')
		n--;
	idlen = strlen(authserv_id);
	if (idlen > 0 && authserv_id[idlen - 1] == '.')
		idlen--;
	return n == idlen && n > 0 &&
	    span_eq_ci(span_make(id, n), span_make(authserv_id, idlen));
}

static bool
is_ours(const struct mime_field *f, const char *authserv_id)
{
	return span_eq_str_ci(f->name, "Authentication-Results") &&
	    policy_ar_is_ours(f->value, authserv_id);
}

size_t
policy_ar_ranges(struct span header, const char *authserv_id,
    struct policy_range *r, size_t max)
{
	struct mime_field f;
	size_t pos = 0, n = 0;

	while (mime_header_next(header, &pos, &f)) {
		if (!is_ours(&f, authserv_id))
			continue;
		if (n < max) {
			r[n].off = (size_t)(f.raw.p - header.p);
			r[n].len = f.raw.len;
		}
		n++;
	}
	return n;
}

int
policy_strip_ar(struct span header, const char *authserv_id,
    struct buf *out, unsigned *removed_r)
{
	struct mime_field f;
	size_t pos = 0;
	unsigned removed = 0;

	while (mime_header_next(header, &pos, &f)) {
		if (is_ours(&f, authserv_id)) {
			removed++;
			continue;
		}
		if (buf_append(out, f.raw.p, f.raw.len) < 0)
			return -1;
	}
	if (pos < header.len &&
	    buf_append(out, header.p + pos, header.len - pos) < 0)
		return -1;
	if (removed_r != NULL)
		*removed_r = removed;
	return 0;
}
