/*
 * policy_test.c - unit tests for the policy decision (table over the
 * SPF x DKIM x DMARC matrix and the settings), the exact text of the
 * Authentication-Results and Received-SPF fields, exempt networks, and
 * the removal of forged Authentication-Results fields.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "lib/buf.h"
#include "mime/mime_header.h"
#include "policy/policy.h"
#include "../../tests/lib/test.h"

static struct sockaddr_in
v4(const char *a)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	CHECK_INT(inet_pton(AF_INET, a, &sin.sin_addr), 1);
	return sin;
}

static struct sockaddr_in6
v6(const char *a)
{
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	CHECK_INT(inet_pton(AF_INET6, a, &sin6.sin6_addr), 1);
	return sin6;
}

/* --- the decision matrix ------------------------------------------ */

enum dm { DM_NONE, DM_PASS, DM_FAIL_REJECT, DM_FAIL_QUAR, DM_FAIL_NONE,
    DM_TEMP, DM_OFF };

struct dcase {
	enum spf_result	 spf;
	bool		 dkim_aligned;	/* an aligned DKIM pass */
	enum dm		 dmarc;
	int		 variant;	/* 0 defaults, 1 spf_none=reject,
					 * 2 dkim does not override,
					 * 3 spf_fail=junk dmarc_reject=junk */
	bool		 auth;
	enum policy_action action;
	unsigned	 code;
	const char	*enh;
	const char	*reason;
};

static const struct dcase dcases[] = {
	{ SPF_PASS, false, DM_NONE, 0, false, POLICY_ACCEPT, 0, NULL,
	  "spf=pass" },
	{ SPF_PASS, false, DM_PASS, 0, false, POLICY_ACCEPT, 0, NULL,
	  "spf=pass" },
	/* SPF fail: 550 5.7.23 unless an aligned DKIM pass */
	{ SPF_FAIL, false, DM_NONE, 0, false, POLICY_REJECT, 550, "5.7.23",
	  "spf=fail" },
	{ SPF_FAIL, true, DM_NONE, 0, false, POLICY_ACCEPT, 0, NULL,
	  "spf=fail" },
	{ SPF_FAIL, true, DM_PASS, 0, false, POLICY_ACCEPT, 0, NULL,
	  "spf=fail" },
	{ SPF_FAIL, true, DM_NONE, 2, false, POLICY_REJECT, 550, "5.7.23",
	  "spf=fail" },
	/* softfail, neutral, none, permerror: junk by default */
	{ SPF_SOFTFAIL, false, DM_NONE, 0, false, POLICY_JUNK, 0, NULL,
	  "spf=softfail" },
	{ SPF_SOFTFAIL, true, DM_NONE, 0, false, POLICY_ACCEPT, 0, NULL,
	  "spf=softfail" },
	{ SPF_NEUTRAL, false, DM_NONE, 0, false, POLICY_JUNK, 0, NULL,
	  "spf=neutral" },
	{ SPF_NONE, false, DM_NONE, 0, false, POLICY_JUNK, 0, NULL,
	  "spf=none" },
	{ SPF_PERMERROR, false, DM_NONE, 0, false, POLICY_JUNK, 0, NULL,
	  "spf=permerror" },
	/* no SPF record: reject when the setting says so */
	{ SPF_NONE, false, DM_NONE, 1, false, POLICY_REJECT, 550, "5.7.1",
	  "spf=none" },
	{ SPF_NONE, true, DM_PASS, 1, false, POLICY_ACCEPT, 0, NULL,
	  "spf=none" },
	/* temperror: 451 4.7.24 (RFC 7372) */
	{ SPF_TEMPERROR, false, DM_NONE, 0, false, POLICY_TEMPFAIL, 451,
	  "4.7.24", "spf=temperror" },
	{ SPF_TEMPERROR, true, DM_PASS, 0, false, POLICY_ACCEPT, 0, NULL,
	  "spf=temperror" },
	/* DMARC: reject -> 550 5.7.1, quarantine -> junk */
	{ SPF_PASS, false, DM_FAIL_REJECT, 0, false, POLICY_REJECT, 550,
	  "5.7.1", "dmarc=reject" },
	{ SPF_PASS, false, DM_FAIL_QUAR, 0, false, POLICY_JUNK, 0, NULL,
	  "dmarc=quarantine" },
	{ SPF_PASS, false, DM_FAIL_NONE, 0, false, POLICY_ACCEPT, 0, NULL,
	  "spf=pass" },
	{ SPF_SOFTFAIL, false, DM_FAIL_REJECT, 0, false, POLICY_REJECT, 550,
	  "5.7.1", "dmarc=reject" },
	/* SPF fail and DMARC reject: SPF's reply wins the tie */
	{ SPF_FAIL, false, DM_FAIL_REJECT, 0, false, POLICY_REJECT, 550,
	  "5.7.23", "spf=fail" },
	/* SPF temperror turns DMARC reject into a tempfail */
	{ SPF_TEMPERROR, false, DM_FAIL_REJECT, 0, false, POLICY_TEMPFAIL,
	  451, "4.7.24", "spf=temperror" },
	{ SPF_PASS, false, DM_TEMP, 0, false, POLICY_TEMPFAIL, 451, "4.7.1",
	  "dmarc=temperror" },
	/* settings: both failures only junk */
	{ SPF_FAIL, false, DM_FAIL_REJECT, 3, false, POLICY_JUNK, 0, NULL,
	  "spf=fail" },
	/* DMARC not run */
	{ SPF_FAIL, false, DM_OFF, 0, false, POLICY_REJECT, 550, "5.7.23",
	  "spf=fail" },
	/* authenticated submission: no checks */
	{ SPF_FAIL, false, DM_FAIL_REJECT, 0, true, POLICY_ACCEPT, 0, NULL,
	  "authenticated" },
};

static void
test_decide_matrix(void)
{
	struct sockaddr_in ip = v4("192.0.2.1");
	size_t i;

	for (i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++) {
		const struct dcase *t = &dcases[i];
		struct policy_settings set;
		struct policy_input in;
		struct dmarc_outcome o;
		struct policy_decision d;

		policy_settings_default(&set, "mail.example.com");
		if (t->variant == 1)
			set.spf_none = POLICY_REJECT;
		if (t->variant == 2)
			set.dkim_overrides_spf = false;
		if (t->variant == 3) {
			set.spf_fail = POLICY_JUNK;
			set.dmarc_reject = POLICY_JUNK;
		}
		memset(&o, 0, sizeof(o));
		o.header_from = "example.org";
		o.policy_domain = "example.org";
		o.dkim_aligned = t->dkim_aligned;
		switch (t->dmarc) {
		case DM_NONE:
		case DM_OFF:
			o.result = DMARC_RESULT_NONE;
			break;
		case DM_PASS:
			o.result = DMARC_RESULT_PASS;
			break;
		case DM_FAIL_REJECT:
		case DM_FAIL_QUAR:
		case DM_FAIL_NONE:
			o.result = DMARC_RESULT_FAIL;
			o.disposition = t->dmarc == DM_FAIL_REJECT ?
			    DMARC_POLICY_REJECT : t->dmarc == DM_FAIL_QUAR ?
			    DMARC_POLICY_QUARANTINE : DMARC_POLICY_NONE;
			break;
		case DM_TEMP:
			o.result = DMARC_RESULT_TEMPERROR;
			break;
		}
		memset(&in, 0, sizeof(in));
		in.client_ip = (const struct sockaddr *)&ip;
		in.helo = "mx.example.org";
		in.mail_from = "bob@example.org";
		in.spf = t->spf;
		in.spf_domain = "example.org";
		in.dmarc = t->dmarc == DM_OFF ? NULL : &o;
		in.authenticated = t->auth;
		policy_decide(&set, &in, &d);
		if (!CHECK_INT(d.action, t->action) ||
		    !CHECK_INT(d.code, t->code) ||
		    !CHECK_STR(d.reason, t->reason))
			fprintf(stderr, "  case %zu\n", i);
		if (t->enh != NULL)
			CHECK_STR(d.enhanced, t->enh);
		else {
			CHECK(d.enhanced == NULL);
			CHECK_STR(d.text, "");
		}
		CHECK(d.skipped == t->auth);
	}
}

static void
test_decide_text(void)
{
	struct sockaddr_in6 ip = v6("2001:db8::25");
	struct policy_settings set;
	struct policy_input in;
	struct dmarc_outcome o;
	struct policy_decision d;

	policy_settings_default(&set, "mail.example.com");
	memset(&in, 0, sizeof(in));
	in.client_ip = (const struct sockaddr *)&ip;
	in.helo = "mx.example.org";
	in.mail_from = "bob@example.org";
	in.spf = SPF_FAIL;
	in.spf_domain = "example.org";
	in.spf_explanation = "See http://example.org/why\r\n\x01";
	policy_decide(&set, &in, &d);
	CHECK_STR(d.text, "SPF validation failed: example.org does not "
	    "designate 2001:db8::25 as permitted sender (See "
	    "http://example.org/why??" "?)");
	in.spf = SPF_TEMPERROR;
	in.spf_domain = NULL;
	in.mail_from = "";
	policy_decide(&set, &in, &d);
	CHECK_STR(d.text, "SPF validation error: DNS lookup for "
	    "mx.example.org failed, try again later");
	in.spf = SPF_PASS;
	memset(&o, 0, sizeof(o));
	o.result = DMARC_RESULT_FAIL;
	o.disposition = DMARC_POLICY_REJECT;
	o.header_from = "a.example.org";
	o.policy_domain = "example.org";
	in.dmarc = &o;
	policy_decide(&set, &in, &d);
	CHECK_STR(d.text, "Message rejected per the DMARC policy of "
	    "example.org");
	CHECK_STR(d.enhanced, "5.7.1");
	/* a long hostile domain is cut and cleaned */
	in.dmarc = NULL;
	in.spf = SPF_NONE;
	set.spf_none = POLICY_REJECT;
	in.spf_domain = "\x1b[31m.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example";
	policy_decide(&set, &in, &d);
	CHECK(strchr(d.text, 0x1b) == NULL);
	CHECK(strlen(d.text) < 140);
	CHECK(strncmp(d.text, "SPF: ?[31m.aaa", 14) == 0);
}

static void
test_exempt(void)
{
	struct policy_settings set;
	const char *err = NULL;
	struct sockaddr_in a = v4("10.1.2.3"), b = v4("10.2.0.1");
	struct sockaddr_in c = v4("192.0.2.77"), e = v4("192.0.2.78");
	struct sockaddr_in6 m = v6("::ffff:10.1.9.9"), x = v6("2001:db8:1::1");
	struct sockaddr_in6 y = v6("2001:db9::1");
	struct policy_input in;
	struct policy_decision d;
	struct buf out;
	size_t i;

	policy_settings_default(&set, "mail.example.com");
	CHECK_INT(policy_settings_add_exempt(&set, "10.1.0.0/16", &err), 0);
	CHECK_INT(policy_settings_add_exempt(&set, "192.0.2.77", &err), 0);
	CHECK_INT(policy_settings_add_exempt(&set, "2001:db8::/33", &err), 0);
	CHECK_INT(policy_settings_add_exempt(&set, "10.0.0.0/33", &err), -1);
	CHECK_STR(err, "invalid network prefix length");
	CHECK_INT(policy_settings_add_exempt(&set, "10.0.0/8", &err), -1);
	CHECK_INT(policy_settings_add_exempt(&set, "/8", &err), -1);
	CHECK_INT(policy_settings_add_exempt(&set, "10.0.0.0/", &err), -1);
	CHECK_INT(policy_settings_add_exempt(&set, "10.0.0.0/+8", &err), -1);
	CHECK(policy_is_exempt(&set, (struct sockaddr *)&a));
	CHECK(!policy_is_exempt(&set, (struct sockaddr *)&b));
	CHECK(policy_is_exempt(&set, (struct sockaddr *)&c));
	CHECK(!policy_is_exempt(&set, (struct sockaddr *)&e));
	CHECK(policy_is_exempt(&set, (struct sockaddr *)&m));
	CHECK(policy_is_exempt(&set, (struct sockaddr *)&x));
	CHECK(!policy_is_exempt(&set, (struct sockaddr *)&y));
	CHECK(!policy_is_exempt(&set, NULL));

	memset(&in, 0, sizeof(in));
	in.client_ip = (struct sockaddr *)&a;
	in.spf = SPF_FAIL;
	policy_decide(&set, &in, &d);
	CHECK_INT(d.action, POLICY_ACCEPT);
	CHECK(d.skipped);
	CHECK_STR(d.reason, "exempt");
	buf_init(&out, 4096);
	CHECK_INT(policy_headers(&set, &in, &out), 0);
	CHECK_INT(out.len, 0);
	buf_fini(&out);

	/* the limit: POLICY_MAX_EXEMPT networks, not one more */
	policy_settings_default(&set, "h");
	for (i = 0; i < POLICY_MAX_EXEMPT; i++)
		CHECK_INT(policy_settings_add_exempt(&set, "::1", &err), 0);
	CHECK_INT(policy_settings_add_exempt(&set, "::1", &err), -1);
	CHECK_STR(err, "too many exempt networks");
}

/* --- header text --------------------------------------------------- */

static void
test_headers_pass(void)
{
	struct sockaddr_in ip = v4("192.0.2.1");
	struct policy_settings set;
	struct policy_input in;
	struct dkim_result dk;
	struct dmarc_outcome o;
	struct dmarc_record rec;
	struct buf out;

	policy_settings_default(&set, "mail.example.com");
	memset(&in, 0, sizeof(in));
	in.client_ip = (const struct sockaddr *)&ip;
	in.helo = "mx.example.org";
	in.mail_from = "bob@example.org";
	in.spf = SPF_PASS;
	in.spf_domain = "example.org";
	in.spf_mechanism = "include:_spf.example.org";
	memset(&dk, 0, sizeof(dk));
	dk.result = DKIM_PASS;
	dk.domain = "example.org";
	dk.selector = "sel";
	dk.auid = "@example.org";
	dk.reason = "good signature";
	dk.algo = "rsa-sha256";
	dk.b_prefix = "AbCd+/12";
	dk.key_bits = 2048;
	in.dkim = &dk;
	in.ndkim = 1;
	memset(&o, 0, sizeof(o));
	memset(&rec, 0, sizeof(rec));
	o.result = DMARC_RESULT_PASS;
	o.policy = DMARC_POLICY_REJECT;
	o.header_from = "example.org";
	o.record = &rec;
	in.dmarc = &o;
	buf_init(&out, 4096);
	CHECK_INT(policy_headers(&set, &in, &out), 0);
	CHECK_STR(buf_cstr(&out),
	    "Received-SPF: pass (mail.example.com: domain of bob@example.org"
	    " designates\r\n"
	    "\t192.0.2.1 as permitted sender) client-ip=192.0.2.1;\r\n"
	    "\tenvelope-from=\"bob@example.org\"; helo=mx.example.org;\r\n"
	    "\treceiver=mail.example.com; identity=mailfrom;\r\n"
	    "\tmechanism=\"include:_spf.example.org\";\r\n"
	    "Authentication-Results: mail.example.com;\r\n"
	    "\tspf=pass smtp.mailfrom=bob@example.org;\r\n"
	    "\tdkim=pass (2048-bit key) header.d=example.org"
	    " header.i=@example.org\r\n"
	    "\theader.s=sel header.a=rsa-sha256 header.b=\"AbCd+/12\";\r\n"
	    "\tdmarc=pass (p=reject dis=none) header.from=example.org\r\n");
	buf_fini(&out);
}

static void
test_headers_fail(void)
{
	struct sockaddr_in6 ip = v6("2001:db8::25");
	struct policy_settings set;
	struct policy_input in;
	struct dkim_result dk[2];
	struct buf out;

	policy_settings_default(&set, "mail.example.com");
	memset(&in, 0, sizeof(in));
	in.client_ip = (const struct sockaddr *)&ip;
	in.helo = "[2001:db8::25]";
	in.mail_from = "";		/* null path: the HELO identity */
	in.spf = SPF_PERMERROR;
	in.spf_problem = "bad \"mechanism\"";
	memset(dk, 0, sizeof(dk));
	dk[0].result = DKIM_FAIL;
	dk[0].domain = "example.net";
	dk[0].selector = "s\x01";	/* control byte: left out */
	dk[0].reason = "body hash \"mismatch\"";
	dk[1].result = DKIM_PERMERROR;
	dk[1].reason = "no key";
	in.dkim = dk;
	in.ndkim = 2;
	buf_init(&out, 4096);
	CHECK_INT(policy_headers(&set, &in, &out), 0);
	CHECK_STR(buf_cstr(&out),
	    "Received-SPF: permerror (mail.example.com: permanent error in"
	    " processing\r\n"
	    "\tdomain of postmaster@[2001:db8::25]) client-ip=\"2001:db8::25\";"
	    "\r\n"
	    "\thelo=\"[2001:db8::25]\"; receiver=mail.example.com;"
	    " identity=helo;\r\n"
	    "\tproblem=\"bad \\\"mechanism\\\"\";\r\n"
	    "Authentication-Results: mail.example.com;\r\n"
	    "\tspf=permerror smtp.helo=\"[2001:db8::25]\";\r\n"
	    "\tdkim=fail reason=\"body hash \\\"mismatch\\\"\""
	    " header.d=example.net;\r\n"
	    "\tdkim=permerror reason=\"no key\"\r\n");

	/* no signature; a ceiling too small leaves out unchanged */
	in.ndkim = 0;
	buf_reset(&out);
	CHECK_INT(policy_headers(&set, &in, &out), 0);
	CHECK(strstr(buf_cstr(&out), ";\r\n\tdkim=none\r\n") != NULL);
	buf_fini(&out);
	buf_init(&out, 100);
	CHECK_INT(buf_append_str(&out, "X"), 0);
	CHECK_INT(policy_headers(&set, &in, &out), -1);
	CHECK_STR(buf_cstr(&out), "X");
	buf_fini(&out);

	/* pvalues: one '@' with a domain after it stays plain */
	in.mail_from = "a@b@example.org";
	in.spf = SPF_PASS;
	buf_init(&out, 4096);
	CHECK_INT(policy_headers(&set, &in, &out), 0);
	CHECK(strstr(buf_cstr(&out), "smtp.mailfrom=\"a@b@example.org\";") !=
	    NULL);
	buf_reset(&out);
	in.mail_from = "x@";
	CHECK_INT(policy_headers(&set, &in, &out), 0);
	CHECK(strstr(buf_cstr(&out), "smtp.mailfrom=\"x@\";") != NULL);
	buf_fini(&out);
}

/* Every line of hostile, long values stays under 998 bytes and folded
 * fields keep their continuation blank. */
static void
test_headers_long(void)
{
	struct sockaddr_in ip = v4("192.0.2.1");
	struct policy_settings set;
	struct policy_input in;
	struct dkim_result dk[DKIM_MAX_SIGNATURES];
	char from[300], longdom[260], reason[400];
	struct buf out;
	size_t i, line = 0;

	memset(from, 'x', sizeof(from) - 1);
	from[sizeof(from) - 1] = '\0';
	from[20] = '@';
	from[40] = '"';
	memset(longdom, 'd', sizeof(longdom));
	for (i = 63; i < 253; i += 64)
		longdom[i] = '.';
	longdom[253] = '\0';
	memset(reason, '(', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	policy_settings_default(&set, "mail.example.com");
	memset(&in, 0, sizeof(in));
	in.client_ip = (const struct sockaddr *)&ip;
	in.helo = longdom;
	in.mail_from = from;
	in.spf = SPF_NEUTRAL;
	in.spf_mechanism = reason;
	memset(dk, 0, sizeof(dk));
	for (i = 0; i < DKIM_MAX_SIGNATURES; i++) {
		dk[i].result = DKIM_NEUTRAL;
		dk[i].domain = longdom;
		dk[i].selector = longdom;
		dk[i].reason = reason;
	}
	in.dkim = dk;
	in.ndkim = DKIM_MAX_SIGNATURES;
	buf_init(&out, 64 * 1024);
	CHECK_INT(policy_headers(&set, &in, &out), 0);
	for (i = 0; i < out.len; i++) {
		if (out.data[i] == '\n') {
			CHECK(i > 0 && out.data[i - 1] == '\r');
			CHECK(line < 998);
			line = 0;
			if (i + 1 < out.len && out.data[i + 1] != 'A')
				CHECK(out.data[i + 1] == '\t');
		} else
			line++;
	}
	CHECK(strstr(buf_cstr(&out), "Authentication-Results: ") != NULL);
	buf_fini(&out);
}

/* --- forged Authentication-Results --------------------------------- */

static void
test_ar_is_ours(void)
{
	static const struct {
		const char *value;
		bool ours;
	} t[] = {
		{ " mail.example.com; spf=pass", true },
		{ " MAIL.Example.COM; spf=pass", true },
		{ " mail.example.com. ; none", true },
		{ " mail.example.com 1; dkim=pass", true },
		{ " mail.example.com", true },
		{ "\r\n\tmail.example.com;\r\n\tspf=pass", true },
		{ " (forged (nested)) mail.example.com; spf=pass", true },
		{ " \"mail.example.com\"; spf=pass", true },
		{ " \"mail.exa\\mple.com\"; spf=pass", true },
		{ " mail.example.com(c); spf=pass", true },
		{ " mail.example.com.evil; spf=pass", false },
		{ " evil.mail.example.com; spf=pass", false },
		{ " mail.example.co; spf=pass", false },
		{ " mail.example.comx; spf=pass", false },
		{ " \"mail.example.com.evil\"; spf=pass", false },
		{ " \"mail.example.com; spf=pass", false },
		{ " (unterminated mail.example.com; spf=pass", false },
		{ " mail.example.com..; x", false },
		{ "", false },
		{ " ; spf=pass", false },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!CHECK(policy_ar_is_ours(span_from_str(t[i].value),
		    "mail.example.com") == t[i].ours))
			fprintf(stderr, "  case %zu: %s\n", i, t[i].value);
	CHECK(policy_ar_is_ours(SPAN_LIT(" mail.example.com;"),
	    "mail.example.com."));
	CHECK(!policy_ar_is_ours(SPAN_LIT(" mail.example.com;"), NULL));
}

static void
test_strip_ar(void)
{
	static const char in[] =
	    "Received: from x by y; Sun, 1 Jan 2026 00:00:00 +0000\r\n"
	    "Authentication-Results: mail.example.com; spf=pass\r\n"
	    "authentication-results : other.example.net;\r\n"
	    "\tdkim=pass header.d=example.org\r\n"
	    "AUTHENTICATION-RESULTS:\r\n"
	    " mail.example.com;\r\n"
	    "\tdmarc=pass header.from=example.com\r\n"
	    "Authentication-Results: mail.example.com.evil; spf=pass\r\n"
	    "X-Authentication-Results: mail.example.com; spf=pass\r\n"
	    "Subject: Authentication-Results: mail.example.com;\r\n"
	    "\r\n"
	    "Authentication-Results: mail.example.com; in the body\r\n";
	static const char want[] =
	    "Received: from x by y; Sun, 1 Jan 2026 00:00:00 +0000\r\n"
	    "authentication-results : other.example.net;\r\n"
	    "\tdkim=pass header.d=example.org\r\n"
	    "Authentication-Results: mail.example.com.evil; spf=pass\r\n"
	    "X-Authentication-Results: mail.example.com; spf=pass\r\n"
	    "Subject: Authentication-Results: mail.example.com;\r\n"
	    "\r\n"
	    "Authentication-Results: mail.example.com; in the body\r\n";
	struct policy_range r[4];
	struct buf out;
	unsigned removed = 99;

	buf_init(&out, 4096);
	CHECK_INT(policy_strip_ar(span_make(in, sizeof(in) - 1),
	    "mail.example.com", &out, &removed), 0);
	CHECK_INT(removed, 2);
	CHECK_STR(buf_cstr(&out), want);
	CHECK_INT(policy_ar_ranges(span_make(in, sizeof(in) - 1),
	    "mail.example.com", r, 4), 2);
	CHECK_MEM(in + r[0].off, r[0].len,
	    "Authentication-Results: mail.example.com; spf=pass\r\n", 52);
	CHECK_MEM(in + r[1].off, r[1].len, "AUTHENTICATION-RESULTS:\r\n"
	    " mail.example.com;\r\n\tdmarc=pass header.from=example.com\r\n",
	    82);
	CHECK_INT(policy_ar_ranges(span_make(in, sizeof(in) - 1),
	    "mail.example.com", r, 1), 2);

	/* bare LF line ends, no empty line, last field unterminated */
	buf_reset(&out);
	CHECK_INT(policy_strip_ar(SPAN_LIT("A: 1\nAuthentication-Results:"
	    " mail.example.com;\n none\nB: 2\nAuthentication-Results: "
	    "mail.example.com"), "mail.example.com", &out, &removed), 0);
	CHECK_INT(removed, 2);
	CHECK_STR(buf_cstr(&out), "A: 1\nB: 2\n");
	buf_fini(&out);

	/* the ceiling */
	buf_init(&out, 10);
	CHECK_INT(policy_strip_ar(span_make(in, sizeof(in) - 1),
	    "mail.example.com", &out, NULL), -1);
	buf_fini(&out);
}

static void
test_auth_results(void)
{
	struct buf b;
	size_t pos = 0;
	struct mime_field f;

	buf_init(&b, 4096);
	CHECK_INT(policy_auth_results("mail.example.com", "alice@example.org",
	    &b), 0);
	CHECK_STR(buf_cstr(&b), "Authentication-Results: mail.example.com;\r\n"
	    "\tauth=pass smtp.auth=alice@example.org\r\n");
	/* it is ours: a later hop of ours would remove it */
	CHECK(mime_header_next(buf_span(&b), &pos, &f));
	CHECK(policy_ar_is_ours(f.value, "mail.example.com"));
	buf_reset(&b);
	CHECK_INT(policy_auth_results("mail.example.com", "bob smith", &b), 0);
	CHECK_STR(buf_cstr(&b), "Authentication-Results: mail.example.com;\r\n"
	    "\tauth=pass smtp.auth=\"bob smith\"\r\n");
	buf_reset(&b);
	CHECK_INT(policy_auth_results("mail.example.com", "a\"b\\c", &b), 0);
	CHECK_STR(buf_cstr(&b), "Authentication-Results: mail.example.com;\r\n"
	    "\tauth=pass smtp.auth=\"a\\\"b\\\\c\"\r\n");
	/* a control byte: the name is left out, the result stays */
	buf_reset(&b);
	CHECK_INT(policy_auth_results("mail.example.com", "x\r\nBcc: y", &b),
	    0);
	CHECK_STR(buf_cstr(&b), "Authentication-Results: mail.example.com;\r\n"
	    "\tauth=pass\r\n");
	buf_fini(&b);
	/* the ceiling: nothing half-written */
	buf_init(&b, 30);
	CHECK_INT(buf_append_str(&b, "X"), 0);
	CHECK_INT(policy_auth_results("mail.example.com", "alice", &b), -1);
	CHECK_STR(buf_cstr(&b), "X");
	buf_fini(&b);
}

static void
test_names(void)
{
	enum policy_action a = POLICY_ACCEPT;

	CHECK_INT(policy_action_parse("Reject", &a), 0);
	CHECK_INT(a, POLICY_REJECT);
	CHECK_INT(policy_action_parse("junk", &a), 0);
	CHECK_INT(a, POLICY_JUNK);
	CHECK_INT(policy_action_parse("tempfail", &a), 0);
	CHECK_INT(a, POLICY_TEMPFAIL);
	CHECK_INT(policy_action_parse("drop", &a), -1);
	CHECK_STR(policy_action_name(POLICY_ACCEPT), "accept");
}

static const struct test_case cases[] = {
	TEST(test_decide_matrix),
	TEST(test_decide_text),
	TEST(test_exempt),
	TEST(test_headers_pass),
	TEST(test_headers_fail),
	TEST(test_headers_long),
	TEST(test_ar_is_ours),
	TEST(test_strip_ar),
	TEST(test_auth_results),
	TEST(test_names),
};

TEST_MAIN(cases)
