/*
 * dmarc_test.c - unit tests for DMARC (RFC 7489): record parsing,
 * policy discovery against an in-memory zone, alignment, pct sampling
 * with a fixed random source, From: handling and the A-R text.
 */
#include <string.h>

#include "lib/buf.h"
#include "lib/postino_limits.h"
#include "policy/dmarc.h"
#include "policy/psl.h"
#include "../../tests/lib/test.h"

static const char list[] = "com\nuk\nco.uk\n*.ck\n";

static struct psl *
mkpsl(void)
{
	const char *err;

	return psl_parse(span_make(list, sizeof(list) - 1), 0, &err);
}

static void
test_record_parse(void)
{
	struct dmarc_record r;
	const char *err = NULL;

	CHECK_INT(dmarc_record_parse(SPAN_LIT("v=DMARC1; p=reject; "
	    "sp=quarantine; pct=25; adkim=s; aspf=r; fo=1:d; rf=afrf; "
	    "ri=3600; rua=mailto:a@example.com; ruf=mailto:f@example.com"),
	    &r, &err), 0);
	CHECK_INT(r.p, DMARC_POLICY_REJECT);
	CHECK_INT(r.sp, DMARC_POLICY_QUARANTINE);
	CHECK(r.has_sp);
	CHECK_INT(r.pct, 25);
	CHECK(r.adkim_strict);
	CHECK(!r.aspf_strict);
	CHECK_INT(r.fo, DMARC_FO_1 | DMARC_FO_D);
	CHECK(r.rf_afrf);
	CHECK_INT(r.ri, 3600);
	CHECK_MEM(r.rua.p, r.rua.len, "mailto:a@example.com", 20);
	CHECK_MEM(r.ruf.p, r.ruf.len, "mailto:f@example.com", 20);
	CHECK(!r.p_from_rua);

	/* defaults; blanks around '=' and ';'; sp follows p */
	CHECK_INT(dmarc_record_parse(SPAN_LIT("v = DMARC1 ;p = Quarantine ;"),
	    &r, &err), 0);
	CHECK_INT(r.p, DMARC_POLICY_QUARANTINE);
	CHECK_INT(r.sp, DMARC_POLICY_QUARANTINE);
	CHECK(!r.has_sp);
	CHECK_INT(r.pct, 100);
	CHECK(!r.adkim_strict && !r.aspf_strict);
	CHECK_INT(r.fo, DMARC_FO_0);
	CHECK_INT(r.ri, 86400);
	CHECK_INT(r.rua.len, 0);

	/* invalid values fall back to defaults; unknown tags, junk and a
	 * repeated tag (first wins) are ignored */
	CHECK_INT(dmarc_record_parse(SPAN_LIT("v=DMARC1; p=none; pct=101; "
	    "adkim=x; fo=2; rf=iodef; ri=-1; zz=top; junk; p=reject"), &r,
	    &err), 0);
	CHECK_INT(r.p, DMARC_POLICY_NONE);
	CHECK_INT(r.pct, 100);
	CHECK(!r.adkim_strict);
	CHECK_INT(r.fo, DMARC_FO_0);
	CHECK(!r.rf_afrf);
	CHECK_INT(r.ri, 86400);
	CHECK_INT(dmarc_record_parse(SPAN_LIT("v=DMARC1; p=reject; pct=0"),
	    &r, &err), 0);
	CHECK_INT(r.pct, 0);

	/* section 6.6.3 step 6: no valid p= */
	CHECK_INT(dmarc_record_parse(SPAN_LIT("v=DMARC1; sp=reject"), &r,
	    &err), -1);
	CHECK_STR(err, "no valid p= tag");
	CHECK_INT(dmarc_record_parse(SPAN_LIT("v=DMARC1; p=bogus; "
	    "rua=mailto:r@example.com"), &r, &err), 0);
	CHECK(r.p_from_rua);
	CHECK_INT(r.p, DMARC_POLICY_NONE);
	CHECK_INT(r.sp, DMARC_POLICY_NONE);
	CHECK_INT(dmarc_record_parse(SPAN_LIT("v=DMARC1; p=reject; sp=x"),
	    &r, &err), -1);
	CHECK_STR(err, "invalid sp= tag");
	CHECK_INT(dmarc_record_parse(SPAN_LIT("v=DMARC1; p=reject; sp=x; "
	    "rua=bad, mailto:x@example.com"), &r, &err), 0);
	CHECK(r.p_from_rua);
	CHECK_INT(r.p, DMARC_POLICY_NONE);
	CHECK_INT(dmarc_record_parse(SPAN_LIT("v=DMARC1; rua=nouri"), &r,
	    &err), -1);

	/* the version tag: first, exact value */
	CHECK_INT(dmarc_record_parse(SPAN_LIT("p=reject; v=DMARC1"), &r,
	    &err), -1);
	CHECK_STR(err, "not a v=DMARC1 record");
	CHECK(!dmarc_record_is_dmarc(SPAN_LIT("v=dmarc1; p=reject")));
	CHECK(!dmarc_record_is_dmarc(SPAN_LIT("v=DMARC10; p=reject")));
	CHECK(!dmarc_record_is_dmarc(SPAN_LIT("v=spf1 -all")));
	CHECK(!dmarc_record_is_dmarc(SPAN_LIT("")));
	CHECK(dmarc_record_is_dmarc(SPAN_LIT("V=DMARC1")));
	CHECK(dmarc_record_is_dmarc(SPAN_LIT("v=DMARC1 ;p=none")));
}

static void
test_record_limits(void)
{
	struct dmarc_record r;
	const char *err = NULL;
	struct buf b;
	size_t i;

	buf_init(&b, 2 * DMARC_MAX_RECORD);
	CHECK_INT(buf_append_str(&b, "v=DMARC1; p=reject; x="), 0);
	while (b.len < DMARC_MAX_RECORD)
		CHECK_INT(buf_append_byte(&b, 'a'), 0);
	CHECK_INT(dmarc_record_parse(buf_span(&b), &r, &err), 0);
	CHECK_INT(buf_append_byte(&b, 'a'), 0);
	CHECK_INT(dmarc_record_parse(buf_span(&b), &r, &err), -1);
	CHECK_STR(err, "record too long");

	/* v= plus DMARC_MAX_TAGS tags is fine, one more is not */
	buf_reset(&b);
	CHECK_INT(buf_append_str(&b, "v=DMARC1; p=none"), 0);
	for (i = 1; i < DMARC_MAX_TAGS; i++)
		CHECK_INT(buf_printf(&b, "; x%zu=1", i), 0);
	CHECK_INT(dmarc_record_parse(buf_span(&b), &r, &err), 0);
	CHECK_INT(buf_append_str(&b, "; y=1"), 0);
	CHECK_INT(dmarc_record_parse(buf_span(&b), &r, &err), -1);
	CHECK_STR(err, "too many tags");
	buf_fini(&b);
}

/* --- checks against an in-memory zone ----------------------------- */

struct zone_rr {
	const char	*name;
	enum dns_status	 status;
	const char	*txt[3];
};

static const struct zone_rr zone[] = {
	{ "_dmarc.example.com", DNS_OK, { "v=DMARC1; p=reject; "
	    "sp=quarantine; rua=mailto:d@example.com", "v=spf1 -all" } },
	{ "_dmarc.own.example.com", DNS_OK, { "v=DMARC1; p=none" } },
	{ "_dmarc.strict.com", DNS_OK, { "v=DMARC1; p=reject; adkim=s; "
	    "aspf=s" } },
	{ "_dmarc.half.com", DNS_OK, { "v=DMARC1; p=reject; pct=50" } },
	{ "_dmarc.halfq.com", DNS_OK, { "v=DMARC1; p=quarantine; pct=50" } },
	{ "_dmarc.two.com", DNS_OK, { "v=DMARC1; p=reject",
	    "v=DMARC1; p=none" } },
	{ "_dmarc.broken.com", DNS_OK, { "v=DMARC1; p=bogus" } },
	{ "_dmarc.slow.com", DNS_TEMPFAIL, { NULL } },
	{ "_dmarc.sub.slow2.com", DNS_NXDOMAIN, { NULL } },
	{ "_dmarc.slow2.com", DNS_TEMPFAIL, { NULL } },
	{ "_dmarc.example.co.uk", DNS_OK, { "v=DMARC1; p=quarantine" } },
};

static unsigned nqueries;

static void
resolve(struct dmarc_check *c)
{
	const char *name;

	nqueries = 0;
	while ((name = dmarc_check_query(c)) != NULL) {
		size_t i, n = 0;
		const struct zone_rr *rr = NULL;

		nqueries++;
		for (i = 0; i < sizeof(zone) / sizeof(zone[0]); i++)
			if (strcmp(zone[i].name, name) == 0)
				rr = &zone[i];
		if (rr == NULL) {
			dmarc_check_answer(c, DNS_NXDOMAIN, NULL, 0);
			continue;
		}
		while (n < 3 && rr->txt[n] != NULL)
			n++;
		dmarc_check_answer(c, rr->status, rr->txt, n);
	}
}

static uint32_t
fixed_random(void *ctx)
{
	return *(const uint32_t *)ctx;
}

struct dmarc_case {
	const char	*from;		/* From: domain */
	enum spf_result	 spf;
	const char	*spf_domain;
	enum dkim_status dkim;		/* used if dkim_domain is set */
	const char	*dkim_domain;
	uint32_t	 rnd;
	/* expected */
	enum dmarc_result result;
	enum dmarc_policy disposition;
	enum dmarc_policy policy;
	const char	*policy_domain;
	unsigned	 queries;
	const char	*ar;
};

static const struct dmarc_case dcases[] = {
	/* SPF pass, aligned exactly and relaxed */
	{ "example.com", SPF_PASS, "example.com", 0, NULL, 0,
	  DMARC_RESULT_PASS, DMARC_POLICY_NONE, DMARC_POLICY_REJECT,
	  "example.com", 1,
	  "dmarc=pass (p=reject dis=none) header.from=example.com" },
	{ "example.com", SPF_PASS, "bounce.Example.COM.", 0, NULL, 0,
	  DMARC_RESULT_PASS, DMARC_POLICY_NONE, DMARC_POLICY_REJECT,
	  "example.com", 1, NULL },
	/* SPF pass for another domain, no DKIM: fail, p=reject */
	{ "example.com", SPF_PASS, "other.com", 0, NULL, 0,
	  DMARC_RESULT_FAIL, DMARC_POLICY_REJECT, DMARC_POLICY_REJECT,
	  "example.com", 1,
	  "dmarc=fail (p=reject dis=reject) header.from=example.com" },
	/* aligned SPF that did not pass does not count */
	{ "example.com", SPF_SOFTFAIL, "example.com", 0, NULL, 0,
	  DMARC_RESULT_FAIL, DMARC_POLICY_REJECT, DMARC_POLICY_REJECT,
	  "example.com", 1, NULL },
	/* DKIM pass, relaxed alignment through the org domain */
	{ "example.com", SPF_FAIL, "example.com", DKIM_PASS,
	  "mail.example.com", 0,
	  DMARC_RESULT_PASS, DMARC_POLICY_NONE, DMARC_POLICY_REJECT,
	  "example.com", 1, NULL },
	{ "example.com", SPF_NONE, NULL, DKIM_FAIL, "example.com", 0,
	  DMARC_RESULT_FAIL, DMARC_POLICY_REJECT, DMARC_POLICY_REJECT,
	  "example.com", 1, NULL },
	/* a subdomain without a record: the org domain's sp= applies */
	{ "a.b.example.com", SPF_NONE, NULL, 0, NULL, 0,
	  DMARC_RESULT_FAIL, DMARC_POLICY_QUARANTINE,
	  DMARC_POLICY_QUARANTINE, "example.com", 2,
	  "dmarc=fail (p=quarantine dis=quarantine) "
	  "header.from=a.b.example.com" },
	{ "a.b.example.com", SPF_PASS, "example.com", 0, NULL, 0,
	  DMARC_RESULT_PASS, DMARC_POLICY_NONE,
	  DMARC_POLICY_QUARANTINE, "example.com", 2, NULL },
	/* a subdomain with its own record */
	{ "own.example.com", SPF_NONE, NULL, 0, NULL, 0,
	  DMARC_RESULT_FAIL, DMARC_POLICY_NONE, DMARC_POLICY_NONE,
	  "own.example.com", 1, NULL },
	/* strict alignment */
	{ "strict.com", SPF_PASS, "mail.strict.com", DKIM_PASS,
	  "d.strict.com", 0,
	  DMARC_RESULT_FAIL, DMARC_POLICY_REJECT, DMARC_POLICY_REJECT,
	  "strict.com", 1, NULL },
	{ "strict.com", SPF_PASS, "STRICT.com", 0, NULL, 0,
	  DMARC_RESULT_PASS, DMARC_POLICY_NONE, DMARC_POLICY_REJECT,
	  "strict.com", 1, NULL },
	{ "strict.com", SPF_NONE, NULL, DKIM_PASS, "strict.com", 0,
	  DMARC_RESULT_PASS, DMARC_POLICY_NONE, DMARC_POLICY_REJECT,
	  "strict.com", 1, NULL },
	/* pct=50: draws 0..49 apply the policy, 50..99 lower it */
	{ "half.com", SPF_NONE, NULL, 0, NULL, 49,
	  DMARC_RESULT_FAIL, DMARC_POLICY_REJECT, DMARC_POLICY_REJECT,
	  "half.com", 1, NULL },
	{ "half.com", SPF_NONE, NULL, 0, NULL, 50,
	  DMARC_RESULT_FAIL, DMARC_POLICY_QUARANTINE, DMARC_POLICY_REJECT,
	  "half.com", 1, "dmarc=fail (p=reject dis=quarantine) "
	  "header.from=half.com" },
	{ "half.com", SPF_NONE, NULL, 0, NULL, 149,
	  DMARC_RESULT_FAIL, DMARC_POLICY_REJECT, DMARC_POLICY_REJECT,
	  "half.com", 1, NULL },
	{ "halfq.com", SPF_NONE, NULL, 0, NULL, 99,
	  DMARC_RESULT_FAIL, DMARC_POLICY_NONE, DMARC_POLICY_QUARANTINE,
	  "halfq.com", 1, NULL },
	/* no policy: none, after asking the org domain too */
	{ "x.nopolicy.com", SPF_PASS, "nopolicy.com", 0, NULL, 0,
	  DMARC_RESULT_NONE, DMARC_POLICY_NONE, DMARC_POLICY_NONE, NULL, 2,
	  "dmarc=none header.from=x.nopolicy.com" },
	{ "nopolicy.com", SPF_PASS, "nopolicy.com", 0, NULL, 0,
	  DMARC_RESULT_NONE, DMARC_POLICY_NONE, DMARC_POLICY_NONE, NULL, 1,
	  NULL },
	/* two records at one name: no DMARC processing (step 5) */
	{ "two.com", SPF_NONE, NULL, 0, NULL, 0,
	  DMARC_RESULT_NONE, DMARC_POLICY_NONE, DMARC_POLICY_NONE, NULL, 1,
	  NULL },
	/* a record without valid p= or rua=: not usable */
	{ "broken.com", SPF_NONE, NULL, 0, NULL, 0,
	  DMARC_RESULT_NONE, DMARC_POLICY_NONE, DMARC_POLICY_NONE, NULL, 1,
	  NULL },
	/* DNS failures */
	{ "slow.com", SPF_PASS, "slow.com", 0, NULL, 0,
	  DMARC_RESULT_TEMPERROR, DMARC_POLICY_NONE, DMARC_POLICY_NONE,
	  NULL, 1, "dmarc=temperror header.from=slow.com" },
	{ "sub.slow2.com", SPF_PASS, "slow2.com", 0, NULL, 0,
	  DMARC_RESULT_TEMPERROR, DMARC_POLICY_NONE, DMARC_POLICY_NONE,
	  NULL, 2, NULL },
	/* org domain under a two-label public suffix */
	{ "mail.example.co.uk", SPF_PASS, "other.co.uk", 0, NULL, 0,
	  DMARC_RESULT_FAIL, DMARC_POLICY_QUARANTINE,
	  DMARC_POLICY_QUARANTINE, "example.co.uk", 2, NULL },
	/* an invalid From: domain: permerror without a query */
	{ "bad..com", SPF_PASS, "bad.com", 0, NULL, 0,
	  DMARC_RESULT_PERMERROR, DMARC_POLICY_NONE, DMARC_POLICY_NONE,
	  NULL, 0, "dmarc=permerror" },
};

static void
test_check_matrix(void)
{
	struct psl *psl = mkpsl();
	size_t i;

	for (i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++) {
		const struct dmarc_case *t = &dcases[i];
		struct dmarc_check *c = dmarc_check_new_domain(psl, t->from);
		struct dmarc_outcome o;
		struct buf b;

		resolve(c);
		if (t->spf_domain != NULL)
			dmarc_check_set_spf(c, t->spf, t->spf_domain);
		if (t->dkim_domain != NULL)
			dmarc_check_add_dkim(c, t->dkim, t->dkim_domain);
		dmarc_check_set_random(c, fixed_random, (void *)&t->rnd);
		dmarc_check_finish(c, &o);
		if (!CHECK_INT(o.result, t->result) ||
		    !CHECK_INT(o.disposition, t->disposition) ||
		    !CHECK_INT(o.policy, t->policy) ||
		    !CHECK_INT(nqueries, t->queries))
			fprintf(stderr, "  case %zu (%s)\n", i, t->from);
		if (t->policy_domain != NULL)
			CHECK_STR(o.policy_domain, t->policy_domain);
		else
			CHECK(o.policy_domain == NULL);
		CHECK(o.sampled_out == (t->rnd % 100 >= 50 &&
		    o.result == DMARC_RESULT_FAIL && o.record->pct == 50));
		if (t->ar != NULL) {
			buf_init(&b, 1024);
			CHECK_INT(dmarc_outcome_ar(&o, &b), 0);
			CHECK_STR(buf_cstr(&b), t->ar);
			buf_fini(&b);
		}
		dmarc_check_free(&c);
		CHECK(c == NULL);
	}
	psl_free(&psl);
}

static void
test_check_details(void)
{
	struct psl *psl = mkpsl();
	struct dmarc_check *c;
	struct dmarc_outcome o, o2;
	const char *txt[1] = { "v=DMARC1; p=reject; pct=10" };
	uint32_t rnd = 95;

	/* unanswered query: temperror */
	c = dmarc_check_new_domain(psl, "example.com");
	CHECK_STR(dmarc_check_query(c), "_dmarc.example.com");
	dmarc_check_finish(c, &o);
	CHECK_INT(o.result, DMARC_RESULT_TEMPERROR);
	CHECK(dmarc_check_query(c) == NULL);
	dmarc_check_free(&c);

	/* the pct draw is made once: finish twice, same outcome */
	c = dmarc_check_new_domain(psl, "Example.COM.");
	CHECK_STR(dmarc_check_query(c), "_dmarc.example.com");
	dmarc_check_answer(c, DNS_OK, txt, 1);
	CHECK(dmarc_check_query(c) == NULL);
	dmarc_check_answer(c, DNS_TEMPFAIL, NULL, 0);	/* ignored */
	dmarc_check_set_random(c, fixed_random, &rnd);
	dmarc_check_finish(c, &o);
	CHECK_INT(o.result, DMARC_RESULT_FAIL);
	CHECK_INT(o.disposition, DMARC_POLICY_QUARANTINE);
	CHECK(o.sampled_out);
	CHECK_STR(o.header_from, "example.com");
	rnd = 0;
	dmarc_check_finish(c, &o2);
	CHECK_INT(o2.disposition, DMARC_POLICY_QUARANTINE);
	/* more DKIM results than DMARC_MAX_DKIM: the extra ones ignored */
	dmarc_check_free(&c);

	c = dmarc_check_new_domain(psl, "example.com");
	dmarc_check_answer(c, DNS_OK, txt, 1);
	for (rnd = 0; rnd < DMARC_MAX_DKIM; rnd++)
		dmarc_check_add_dkim(c, DKIM_PASS, "other.com");
	dmarc_check_add_dkim(c, DKIM_PASS, "example.com");
	rnd = 5;
	dmarc_check_set_random(c, fixed_random, &rnd);
	dmarc_check_finish(c, &o);
	CHECK_INT(o.result, DMARC_RESULT_FAIL);
	CHECK_INT(o.disposition, DMARC_POLICY_REJECT);
	dmarc_check_free(&c);

	c = dmarc_check_new_domain(psl, "example.com");
	dmarc_check_answer(c, DNS_OK, txt, 1);
	dmarc_check_add_dkim(c, DKIM_FAIL, "example.com");
	dmarc_check_add_dkim(c, DKIM_PASS, "sub.example.com");
	dmarc_check_finish(c, &o);
	CHECK_INT(o.result, DMARC_RESULT_PASS);
	CHECK(o.dkim_aligned);
	CHECK(!o.spf_aligned);
	CHECK_STR(o.dkim_domain, "sub.example.com");
	dmarc_check_free(&c);
	dmarc_check_free(&c);

	/* no record: no verdict, but the alignment is still reported */
	c = dmarc_check_new_domain(psl, "x.nopolicy.com");
	resolve(c);
	CHECK_INT(nqueries, 2);
	dmarc_check_set_spf(c, SPF_PASS, "bounces.nopolicy.com");
	dmarc_check_add_dkim(c, DKIM_PASS, "nopolicy.com");
	dmarc_check_finish(c, &o);
	CHECK_INT(o.result, DMARC_RESULT_NONE);
	CHECK(o.spf_aligned);
	CHECK(o.dkim_aligned);
	CHECK(o.record == NULL);
	dmarc_check_free(&c);

	CHECK(dmarc_aligned(psl, "a.example.com", "B.example.com.", false));
	CHECK(!dmarc_aligned(psl, "a.example.com", "example.com", true));
	CHECK(!dmarc_aligned(psl, "a.co.uk", "b.co.uk", false));
	CHECK(!dmarc_aligned(psl, NULL, "b.co.uk", false));
	CHECK(!dmarc_aligned(psl, "x..com", "x..com", true));
	/* without a list, only the implicit "*" rule */
	CHECK(dmarc_aligned(NULL, "a.example.com", "b.example.com", false));
	psl_free(&psl);
}

static void
test_from_field(void)
{
	static const struct {
		const char *hdr;
		enum dmarc_result result;	/* with no DNS record */
		const char *from;
		const char *problem;
	} t[] = {
		{ "From: a@Example.ORG\r\nTo: b@x.com\r\n\r\nbody",
		  DMARC_RESULT_NONE, "example.org", "no DMARC record" },
		{ "Subject: x\r\nfrom: \"A, B\" <a@one.example.org>\r\n",
		  DMARC_RESULT_NONE, "one.example.org", NULL },
		{ "FROM :\r\n A (c)\r\n <a@fold.example.org>\n\n",
		  DMARC_RESULT_NONE, "fold.example.org", NULL },
		{ "To: b@x.com\r\n\r\nFrom: a@example.com\r\n",
		  DMARC_RESULT_PERMERROR, NULL, "no From: field" },
		{ "From: a@example.com\r\nFrom: b@example.com\r\n",
		  DMARC_RESULT_PERMERROR, NULL, "several From: fields" },
		{ "From: a@example.com, b@example.com\r\n",
		  DMARC_RESULT_PERMERROR, NULL,
		  "several addresses in From:" },
		{ "From: undisclosed:;\r\n", DMARC_RESULT_PERMERROR, NULL,
		  "no address with a domain in From:" },
		{ "From: nobody\r\n", DMARC_RESULT_PERMERROR, NULL,
		  "no address with a domain in From:" },
		{ "From: a@[192.0.2.1]\r\n", DMARC_RESULT_PERMERROR, NULL,
		  "From: domain is not a valid domain name" },
		{ "", DMARC_RESULT_PERMERROR, NULL, "no From: field" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct dmarc_check *c = dmarc_check_new(NULL,
		    span_from_str(t[i].hdr));
		struct dmarc_outcome o;

		resolve(c);
		dmarc_check_finish(c, &o);
		if (!CHECK_INT(o.result, t[i].result))
			fprintf(stderr, "  case %zu\n", i);
		if (t[i].from != NULL)
			CHECK_STR(o.header_from, t[i].from);
		else
			CHECK(o.header_from == NULL);
		if (t[i].problem != NULL)
			CHECK_STR(o.problem, t[i].problem);
		if (t[i].result == DMARC_RESULT_PERMERROR)
			CHECK_INT(nqueries, 0);
		dmarc_check_free(&c);
	}
}

static void
test_names(void)
{
	CHECK_STR(dmarc_result_name(DMARC_RESULT_PASS), "pass");
	CHECK_STR(dmarc_result_name(DMARC_RESULT_PERMERROR), "permerror");
	CHECK_STR(dmarc_policy_name(DMARC_POLICY_QUARANTINE), "quarantine");
}

static const struct test_case cases[] = {
	TEST(test_record_parse),
	TEST(test_record_limits),
	TEST(test_check_matrix),
	TEST(test_check_details),
	TEST(test_from_field),
	TEST(test_names),
};

TEST_MAIN(cases)
