/*
 * dmarc.c - DMARC (RFC 7489): record parsing (section 6.3, 6.4), policy
 * discovery (6.6.3), identifier alignment (3.1), and the disposition
 * with pct= sampling (6.6.4).
 *
 * Untrusted input throughout: the From: field of a received message and
 * TXT records of any domain.  Records are bounded by DMARC_MAX_RECORD
 * bytes and DMARC_MAX_TAGS tags, From: by DMARC_MAX_FROM addresses.
 */
#include "policy/dmarc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/ascii.h"
#include "lib/postino_limits.h"
#include "lib/strnum.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "mime/mime_address.h"
#include "mime/mime_header.h"

enum dmarc_stage {
	DMARC_STAGE_FROM,	/* waiting for _dmarc.<from> */
	DMARC_STAGE_ORG,	/* waiting for _dmarc.<org> */
	DMARC_STAGE_DONE,
};

struct dmarc_dkim {
	enum dkim_status result;
	char		*domain;
};

struct dmarc_check {
	const struct psl	*psl;
	enum dmarc_stage	 stage;
	char			 from[256];	/* "" if none */
	char			 org[256];
	char			 qname[300];
	const char		*problem;	/* set: permerror/none/temp */
	enum dmarc_result	 early;		/* result decided before
						 * finish, if problem */
	char			*rec_text;	/* the record used */
	struct dmarc_record	 rec;
	bool			 have_rec;
	const char		*policy_domain;
	enum spf_result		 spf;
	char			*spf_domain;
	struct dmarc_dkim	 dkim[DMARC_MAX_DKIM];
	size_t			 ndkim;
	dmarc_random_fn		*rnd;
	void			*rnd_ctx;
	bool			 drawn;
	bool			 sampled_out;
};

const char *
dmarc_result_name(enum dmarc_result r)
{
	switch (r) {
	case DMARC_RESULT_NONE:		return "none";
	case DMARC_RESULT_PASS:		return "pass";
	case DMARC_RESULT_FAIL:		return "fail";
	case DMARC_RESULT_TEMPERROR:	return "temperror";
	case DMARC_RESULT_PERMERROR:	return "permerror";
	}
	return "none";
}

const char *
dmarc_policy_name(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_POLICY_NONE:		return "none";
	case DMARC_POLICY_QUARANTINE:	return "quarantine";
	case DMARC_POLICY_REJECT:	return "reject";
	}
	return "none";
}

static bool
is_wsp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static struct span
trim_wsp(struct span s)
{
	while (s.len > 0 && is_wsp(s.p[0]))
		s = span_make(s.p + 1, s.len - 1);
	while (s.len > 0 && is_wsp(s.p[s.len - 1]))
		s.len--;
	return s;
}

/* dsplit - like span_split, but with no c, head is all of s and rest
 * empty */
static bool
dsplit(struct span s, uint8_t c, struct span *head, struct span *rest)
{
	long i = span_find(s, c);

	if (i < 0) {
		*head = s;
		*rest = span_make(s.p + s.len, 0);
		return false;
	}
	*head = span_make(s.p, (size_t)i);
	*rest = span_make(s.p + i + 1, s.len - (size_t)i - 1);
	return true;
}

bool
dmarc_record_is_dmarc(struct span txt)
{
	size_t i = 0;

	if (txt.len == 0 || (txt.p[0] != 'v' && txt.p[0] != 'V'))
		return false;
	for (i = 1; i < txt.len && is_wsp(txt.p[i]); i++)
		;
	if (i == txt.len || txt.p[i] != '=')
		return false;
	for (i++; i < txt.len && is_wsp(txt.p[i]); i++)
		;
	if (txt.len - i < 6 || memcmp(txt.p + i, "DMARC1", 6) != 0)
		return false;
	for (i += 6; i < txt.len && is_wsp(txt.p[i]); i++)
		;
	return i == txt.len || txt.p[i] == ';';
}

static int
parse_policy(struct span v, enum dmarc_policy *p_r)
{
	if (span_eq_str_ci(v, "none"))
		*p_r = DMARC_POLICY_NONE;
	else if (span_eq_str_ci(v, "quarantine"))
		*p_r = DMARC_POLICY_QUARANTINE;
	else if (span_eq_str_ci(v, "reject"))
		*p_r = DMARC_POLICY_REJECT;
	else
		return -1;
	return 0;
}

/* valid_uri_list - section 6.4 dmarc-uri list: true if at least one
 * element looks like a URI (scheme ":" something) */
static bool
valid_uri_list(struct span v)
{
	struct span head, rest = v;

	for (;;) {
		bool more = dsplit(rest, ',', &head, &rest);
		size_t i;

		head = trim_wsp(head);
		/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
		if (head.len > 0 && ascii_isalpha(head.p[0])) {
			for (i = 1; i < head.len && (ascii_isalnum(head.p[i]) ||
			    head.p[i] == '+' || head.p[i] == '-' ||
			    head.p[i] == '.'); i++)
				;
			if (i + 1 < head.len && head.p[i] == ':')
				return true;
		}
		if (!more)
			return false;
	}
}

int
dmarc_record_parse(struct span txt, struct dmarc_record *r,
    const char **error_r)
{
	struct span rest, tag;
	bool bad_p = true, bad_sp = false, seen[10] = { false };
	unsigned ntags = 0;
	enum { T_P, T_SP, T_PCT, T_ADKIM, T_ASPF, T_RUA, T_RUF, T_FO, T_RF,
	    T_RI } t;
	static const char *const names[] = { "p", "sp", "pct", "adkim",
	    "aspf", "rua", "ruf", "fo", "rf", "ri" };

	memset(r, 0, sizeof(*r));
	r->pct = 100;
	r->fo = DMARC_FO_0;
	r->rf_afrf = true;
	r->ri = 86400;
	if (txt.len > DMARC_MAX_RECORD) {
		*error_r = "record too long";
		return -1;
	}
	if (!dmarc_record_is_dmarc(txt)) {
		*error_r = "not a v=DMARC1 record";
		return -1;
	}
	/* skip the version tag, checked above */
	(void)dsplit(txt, ';', &tag, &rest);
	for (;;) {
		struct span name, value;
		bool more = dsplit(rest, ';', &tag, &rest);
		size_t k;

		tag = trim_wsp(tag);
		if (tag.len > 0) {
			if (++ntags > DMARC_MAX_TAGS) {
				*error_r = "too many tags";
				return -1;
			}
			if (!dsplit(tag, '=', &name, &value))
				goto next;	/* junk: ignored */
			name = trim_wsp(name);
			value = trim_wsp(value);
			for (k = 0; k < 10; k++)
				if (span_eq_str_ci(name, names[k]))
					break;
			if (k == 10 || seen[k])
				goto next;	/* unknown or repeated */
			seen[k] = true;
			t = k;
			switch (t) {
			case T_P:
				bad_p = parse_policy(value, &r->p) < 0;
				break;
			case T_SP:
				bad_sp = parse_policy(value, &r->sp) < 0;
				r->has_sp = !bad_sp;
				break;
			case T_PCT: {
				uint64_t v;

				if (strnum_u64(value, 100, &v) == 0)
					r->pct = (unsigned)v;
				break;
			}
			case T_ADKIM:
			case T_ASPF: {
				bool s;

				if (span_eq_str_ci(value, "s"))
					s = true;
				else if (span_eq_str_ci(value, "r"))
					s = false;
				else
					break;
				if (t == T_ADKIM)
					r->adkim_strict = s;
				else
					r->aspf_strict = s;
				break;
			}
			case T_RUA:
				r->rua = value;
				break;
			case T_RUF:
				r->ruf = value;
				break;
			case T_FO: {
				struct span h, rs = value;
				unsigned fo = 0;
				bool ok = true, m;

				do {
					m = dsplit(rs, ':', &h, &rs);
					h = trim_wsp(h);
					if (span_eq_str_ci(h, "0"))
						fo |= DMARC_FO_0;
					else if (span_eq_str_ci(h, "1"))
						fo |= DMARC_FO_1;
					else if (span_eq_str_ci(h, "d"))
						fo |= DMARC_FO_D;
					else if (span_eq_str_ci(h, "s"))
						fo |= DMARC_FO_S;
					else
						ok = false;
				} while (m);
				if (ok)
					r->fo = fo;
				break;
			}
			case T_RF: {
				struct span h, rs = value;
				bool m, afrf = false;

				do {
					m = dsplit(rs, ':', &h, &rs);
					if (span_eq_str_ci(trim_wsp(h), "afrf"))
						afrf = true;
				} while (m);
				r->rf_afrf = afrf;
				break;
			}
			case T_RI: {
				uint64_t v;

				if (strnum_u64(value, UINT32_MAX, &v) == 0)
					r->ri = (uint32_t)v;
				break;
			}
			}
		}
next:
		if (!more)
			break;
	}
	if (!r->has_sp && !bad_sp)
		r->sp = r->p;
	if (bad_p || bad_sp) {
		/* section 6.6.3 step 6 */
		if (r->rua.len == 0 || !valid_uri_list(r->rua)) {
			*error_r = bad_p ? "no valid p= tag" :
			    "invalid sp= tag";
			return -1;
		}
		r->p_from_rua = true;
		r->p = r->sp = DMARC_POLICY_NONE;
		r->has_sp = false;
	}
	return 0;
}

/* norm_domain - lowercase, no trailing dot, valid; -1 if unusable */
static int
norm_domain(const struct psl *psl, const char *d, char *out, char *org)
{
	size_t len, i;

	if (d == NULL || psl_org_domain(psl, d, org, 256) < 0)
		return -1;
	len = strlen(d);
	if (d[len - 1] == '.')
		len--;
	for (i = 0; i < len; i++)
		out[i] = (char)ascii_tolower((uint8_t)d[i]);
	out[len] = '\0';
	return 0;
}

bool
dmarc_aligned(const struct psl *psl, const char *a, const char *b,
    bool strict)
{
	char na[256], nb[256], oa[256], ob[256];

	if (norm_domain(psl, a, na, oa) < 0 || norm_domain(psl, b, nb, ob) < 0)
		return false;
	if (strict)
		return strcmp(na, nb) == 0;
	return strcmp(oa, ob) == 0;
}

static uint32_t
default_random(void *ctx)
{
	uint32_t v;

	(void)ctx;
	random_bytes(&v, sizeof(v));
	return v;
}

static struct dmarc_check *
check_alloc(const struct psl *psl)
{
	struct dmarc_check *c = xcalloc(1, sizeof(*c));

	c->psl = psl;
	c->spf = SPF_NONE;
	c->rnd = default_random;
	c->stage = DMARC_STAGE_DONE;
	return c;
}

static void
check_fail(struct dmarc_check *c, enum dmarc_result r, const char *why)
{
	c->early = r;
	c->problem = why;
	c->stage = DMARC_STAGE_DONE;
}

static void
check_start(struct dmarc_check *c, const char *domain)
{
	if (norm_domain(c->psl, domain, c->from, c->org) < 0) {
		c->from[0] = '\0';
		check_fail(c, DMARC_RESULT_PERMERROR,
		    "From: domain is not a valid domain name");
		return;
	}
	c->stage = DMARC_STAGE_FROM;
	snprintf(c->qname, sizeof(c->qname), "_dmarc.%s", c->from);
}

struct dmarc_check *
dmarc_check_new_domain(const struct psl *psl, const char *from_domain)
{
	struct dmarc_check *c = check_alloc(psl);

	check_start(c, from_domain);
	return c;
}

struct dmarc_check *
dmarc_check_new(const struct psl *psl, struct span header)
{
	struct dmarc_check *c = check_alloc(psl);
	struct mime_field f, from = { 0 };
	struct mime_address *list, *a, *addr = NULL;
	struct arena *ar;
	unsigned nfrom = 0, naddr = 0;
	size_t pos = 0;
	char dom[256];

	while (mime_header_next(header, &pos, &f)) {
		if (span_eq_str_ci(f.name, "From")) {
			from = f;
			nfrom++;
		}
	}
	/* section 6.6.1: no single author domain, no DMARC evaluation;
	 * we report it rather than guess which one counts */
	if (nfrom == 0) {
		check_fail(c, DMARC_RESULT_PERMERROR, "no From: field");
		return c;
	}
	if (nfrom > 1) {
		check_fail(c, DMARC_RESULT_PERMERROR, "several From: fields");
		return c;
	}
	ar = arena_new("dmarc", 4096, 1024 * 1024);
	list = mime_address_parse(from.value, ar, DMARC_MAX_FROM);
	for (a = list; a != NULL; a = a->next) {
		if (a->group_start || a->group_end)
			continue;
		naddr++;
		addr = a;
	}
	if (naddr == 0 || addr->domain == NULL || addr->domain[0] == '\0') {
		check_fail(c, DMARC_RESULT_PERMERROR,
		    "no address with a domain in From:");
	} else if (naddr > 1) {
		check_fail(c, DMARC_RESULT_PERMERROR,
		    "several addresses in From:");
	} else if (strlen(addr->domain) > 253) {
		check_fail(c, DMARC_RESULT_PERMERROR,
		    "From: domain is not a valid domain name");
	} else {
		memcpy(dom, addr->domain, strlen(addr->domain) + 1);
		check_start(c, dom);
	}
	arena_free(&ar);
	return c;
}

void
dmarc_check_free(struct dmarc_check **cp)
{
	struct dmarc_check *c = *cp;
	size_t i;

	if (c == NULL)
		return;
	free(c->rec_text);
	free(c->spf_domain);
	for (i = 0; i < c->ndkim; i++)
		free(c->dkim[i].domain);
	free(c);
	*cp = NULL;
}

const char *
dmarc_check_query(const struct dmarc_check *c)
{
	return c->stage == DMARC_STAGE_DONE ? NULL : c->qname;
}

void
dmarc_check_answer(struct dmarc_check *c, enum dns_status status,
    const char *const *txt, size_t n)
{
	size_t i, found = 0, which = 0;
	const char *err = NULL;

	if (c->stage == DMARC_STAGE_DONE)
		return;
	if (status == DNS_TEMPFAIL) {
		check_fail(c, DMARC_RESULT_TEMPERROR,
		    "DNS lookup of the policy record failed");
		return;
	}
	if (status == DNS_OK) {
		/* steps 2 and 4: only records starting with v=DMARC1 */
		for (i = 0; i < n; i++) {
			if (txt[i] != NULL &&
			    dmarc_record_is_dmarc(span_from_str(txt[i]))) {
				found++;
				which = i;
			}
		}
	}
	if (found == 0) {
		if (c->stage == DMARC_STAGE_FROM &&
		    strcmp(c->from, c->org) != 0) {
			/* step 3: the Organizational Domain's record */
			c->stage = DMARC_STAGE_ORG;
			snprintf(c->qname, sizeof(c->qname), "_dmarc.%s",
			    c->org);
			return;
		}
		check_fail(c, DMARC_RESULT_NONE, "no DMARC record");
		return;
	}
	if (found > 1) {
		/* step 5 */
		check_fail(c, DMARC_RESULT_NONE, "several DMARC records");
		return;
	}
	if (dmarc_record_parse(span_from_str(txt[which]), &c->rec, &err) <
	    0) {
		check_fail(c, DMARC_RESULT_NONE, err);
		return;
	}
	/* keep the text: rua and ruf point into it */
	c->rec_text = xstrdup(txt[which]);
	if (c->rec.rua.len > 0)
		c->rec.rua.p = (const uint8_t *)c->rec_text +
		    (c->rec.rua.p - (const uint8_t *)txt[which]);
	if (c->rec.ruf.len > 0)
		c->rec.ruf.p = (const uint8_t *)c->rec_text +
		    (c->rec.ruf.p - (const uint8_t *)txt[which]);
	c->have_rec = true;
	c->policy_domain = c->stage == DMARC_STAGE_FROM ? c->from : c->org;
	c->stage = DMARC_STAGE_DONE;
}

void
dmarc_check_set_spf(struct dmarc_check *c, enum spf_result r,
    const char *domain)
{
	free(c->spf_domain);
	c->spf = r;
	c->spf_domain = domain != NULL ? xstrdup(domain) : NULL;
}

void
dmarc_check_add_dkim(struct dmarc_check *c, enum dkim_status r,
    const char *domain)
{
	if (c->ndkim == DMARC_MAX_DKIM)
		return;
	c->dkim[c->ndkim].result = r;
	c->dkim[c->ndkim].domain = domain != NULL ? xstrdup(domain) : NULL;
	c->ndkim++;
}

void
dmarc_check_add_dkim_verify(struct dmarc_check *c,
    const struct dkim_verify *v)
{
	size_t i;

	for (i = 0; i < dkim_verify_nresults(v); i++) {
		const struct dkim_result *r = dkim_verify_result(v, i);

		dmarc_check_add_dkim(c, r->result, r->domain);
	}
}

void
dmarc_check_set_random(struct dmarc_check *c, dmarc_random_fn *fn,
    void *ctx)
{
	c->rnd = fn != NULL ? fn : default_random;
	c->rnd_ctx = ctx;
}

/* align - fills the alignment fields of o; strictness from the record,
 * relaxed without one (the policy module still wants to know whether a
 * DKIM pass speaks for the From: domain) */
static void
align(struct dmarc_check *c, struct dmarc_outcome *o)
{
	bool sstrict = c->have_rec && c->rec.aspf_strict;
	bool dstrict = c->have_rec && c->rec.adkim_strict;
	size_t i;

	/* section 3.1.2: only a passing SPF result can align */
	o->spf_aligned = c->spf == SPF_PASS && dmarc_aligned(c->psl,
	    c->spf_domain, c->from, sstrict);
	for (i = 0; i < c->ndkim; i++) {
		if (c->dkim[i].result == DKIM_PASS &&
		    dmarc_aligned(c->psl, c->dkim[i].domain, c->from,
		    dstrict)) {
			o->dkim_aligned = true;
			o->dkim_domain = c->dkim[i].domain;
			break;
		}
	}
}

void
dmarc_check_finish(struct dmarc_check *c, struct dmarc_outcome *o)
{
	memset(o, 0, sizeof(*o));
	o->header_from = c->from[0] != '\0' ? c->from : NULL;
	if (c->stage != DMARC_STAGE_DONE)
		check_fail(c, DMARC_RESULT_TEMPERROR,
		    "policy record lookup not answered");
	if (o->header_from != NULL)
		align(c, o);
	if (!c->have_rec) {
		o->result = c->early;
		o->problem = c->problem;
		return;
	}
	o->record = &c->rec;
	o->policy_domain = c->policy_domain;
	/* section 6.6.3: sp= for a subdomain found via its org domain */
	o->policy = strcmp(c->policy_domain, c->from) != 0 ? c->rec.sp :
	    c->rec.p;
	if (o->spf_aligned || o->dkim_aligned) {
		o->result = DMARC_RESULT_PASS;
		return;
	}
	o->result = DMARC_RESULT_FAIL;
	o->disposition = o->policy;
	/* section 6.3 pct: messages not sampled get the next lower policy */
	if (c->rec.pct < 100 && o->policy != DMARC_POLICY_NONE) {
		if (!c->drawn) {
			c->sampled_out = c->rnd(c->rnd_ctx) % 100 >=
			    c->rec.pct;
			c->drawn = true;
		}
		if (c->sampled_out) {
			o->sampled_out = true;
			o->disposition = o->policy == DMARC_POLICY_REJECT ?
			    DMARC_POLICY_QUARANTINE : DMARC_POLICY_NONE;
		}
	}
}

int
dmarc_outcome_ar(const struct dmarc_outcome *o, struct buf *out)
{
	if (buf_printf(out, "dmarc=%s", dmarc_result_name(o->result)) < 0)
		return -1;
	if (o->record != NULL && buf_printf(out, " (p=%s dis=%s)",
	    dmarc_policy_name(o->policy),
	    dmarc_policy_name(o->disposition)) < 0)
		return -1;
	/* header_from is a checked LDH name: a plain pvalue */
	if (o->header_from != NULL &&
	    buf_printf(out, " header.from=%s", o->header_from) < 0)
		return -1;
	return 0;
}
