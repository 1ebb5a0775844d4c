/*
 * smtp_parse_test.c - unit tests for the SMTP command and path parsers.
 */
#include <stdio.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/postino_limits.h"
#include "smtp/smtp_parse.h"
#include "../../tests/lib/test.h"

#define ESMTP	(SMTP_PARSE_F_ESMTP | SMTP_PARSE_F_UTF8_OK)

struct path_case {
	const char	*args;
	unsigned	 flags;
	int		 code;		/* 0: success */
	const char	*enh;
	const char	*addr;		/* expected mailbox on success */
};

static const struct path_case mail_cases[] = {
	{ "FROM:<a@b.example>", 0, 0, NULL, "a@b.example" },
	{ "from:<a@b.example>", 0, 0, NULL, "a@b.example" },
	{ "FROM: <a@b.example>", 0, 0, NULL, "a@b.example" },
	{ "FROM:<>", 0, 0, NULL, "" },
	{ "FROM:<> SIZE=10", ESMTP, 0, NULL, "" },
	{ "FROM:<@r1.example,@r2.example:a@b.example>", 0, 0, NULL,
	    "a@b.example" },
	{ "FROM:<\"a b\"@b.example>", 0, 0, NULL, "\"a b\"@b.example" },
	{ "FROM:<\"a\\\"b\"@b.example>", 0, 0, NULL, "\"a\\\"b\"@b.example" },
	{ "FROM:<a@[192.0.2.1]>", 0, 0, NULL, "a@[192.0.2.1]" },
	{ "FROM:<a@[IPv6:2001:db8::1]>", 0, 0, NULL,
	    "a@[IPv6:2001:db8::1]" },
	{ "FROM:<a.b+c@b-c.example>", 0, 0, NULL, "a.b+c@b-c.example" },
	{ "FROM:<a@b.example>  SIZE=5  BODY=8BITMIME", ESMTP, 0, NULL,
	    "a@b.example" },
	/* missing or broken brackets, missing colon */
	{ "FROM:a@b.example", 0, 501, "5.5.4", NULL },
	{ "FROM:<a@b.example", 0, 501, "5.5.4", NULL },
	{ "FROM <a@b.example>", 0, 501, "5.5.4", NULL },
	{ "FROM:", 0, 501, "5.5.4", NULL },
	{ "", 0, 501, "5.5.4", NULL },
	{ "FROM:<a@b.example>x", 0, 501, "5.5.4", NULL },
	/* bad mailbox syntax */
	{ "FROM:<a..b@b.example>", 0, 501, "5.1.7", NULL },
	{ "FROM:<.a@b.example>", 0, 501, "5.1.7", NULL },
	{ "FROM:<a.@b.example>", 0, 501, "5.1.7", NULL },
	{ "FROM:<a@b..example>", 0, 501, "5.1.7", NULL },
	{ "FROM:<a@-b.example>", 0, 501, "5.1.7", NULL },
	{ "FROM:<a@b-.example>", 0, 501, "5.1.7", NULL },
	{ "FROM:<a@.example>", 0, 501, "5.1.7", NULL },
	{ "FROM:<a@example.>", 0, 501, "5.1.7", NULL },
	{ "FROM:<a@>", 0, 501, "5.1.7", NULL },
	{ "FROM:<a>", 0, 501, "5.1.7", NULL },
	{ "FROM:<@b.example>", 0, 501, "5.1.7", NULL },
	{ "FROM:<a@b_c.example>", 0, 501, "5.1.7", NULL },
	{ "FROM:<a b@b.example>", 0, 501, "5.1.7", NULL },
	{ "FROM:<\"a@b.example>", 0, 501, "5.1.7", NULL },
	{ "FROM:<a@[192.0.2.256]>", 0, 501, "5.1.7", NULL },
	{ "FROM:<a@[192.0.2]>", 0, 501, "5.1.7", NULL },
	{ "FROM:<a@[IPv6:zz::1]>", 0, 501, "5.1.7", NULL },
	{ "FROM:<a@[tag:stuff]>", 0, 501, "5.1.7", NULL },
	{ "FROM:<@r1.example:>", 0, 501, "5.1.7", NULL },
	{ "FROM:<@r1..example:a@b.example>", 0, 501, "5.1.7", NULL },
	/* parameters */
	{ "FROM:<a@b.example> SIZE=100", ESMTP, 0, NULL, "a@b.example" },
	{ "FROM:<a@b.example> SIZE=abc", ESMTP, 501, "5.5.4", NULL },
	{ "FROM:<a@b.example> SIZE=", ESMTP, 501, "5.5.4", NULL },
	{ "FROM:<a@b.example> SIZE", ESMTP, 501, "5.5.4", NULL },
	{ "FROM:<a@b.example> SIZE=-1", ESMTP, 501, "5.5.4", NULL },
	{ "FROM:<a@b.example> SIZE=99999999999999999999", ESMTP, 501,
	    "5.5.4", NULL },
	{ "FROM:<a@b.example> SIZE=1 SIZE=2", ESMTP, 501, "5.5.4", NULL },
	{ "FROM:<a@b.example> BODY=7BIT", ESMTP, 0, NULL, "a@b.example" },
	{ "FROM:<a@b.example> BODY=binarymime", ESMTP, 0, NULL,
	    "a@b.example" },
	{ "FROM:<a@b.example> BODY=9BIT", ESMTP, 501, "5.5.4", NULL },
	{ "FROM:<a@b.example> BODY=7BIT BODY=7BIT", ESMTP, 501, "5.5.4",
	    NULL },
	{ "FROM:<a@b.example> FOO=bar", ESMTP, 555, "5.5.4", NULL },
	{ "FROM:<a@b.example> RET=FULL", ESMTP, 555, "5.5.4", NULL },
	{ "FROM:<a@b.example> SIZE=10", 0, 555, "5.5.4", NULL },
	{ "FROM:<a@b.example> =x", ESMTP, 501, "5.5.4", NULL },
	{ "FROM:<a@b.example> SIZE=1=2", ESMTP, 501, "5.5.4", NULL },
	/* SMTPUTF8 */
	{ "FROM:<\xc3\xbc@b.example> SMTPUTF8", ESMTP, 0, NULL,
	    "\xc3\xbc@b.example" },
	{ "FROM:<a@\xc3\xbc.example> SMTPUTF8", ESMTP, 0, NULL,
	    "a@\xc3\xbc.example" },
	{ "FROM:<\"\xc3\xbc\"@b.example> SMTPUTF8", ESMTP, 0, NULL,
	    "\"\xc3\xbc\"@b.example" },
	{ "FROM:<\xc3\xbc@b.example>", ESMTP, 553, "5.6.7", NULL },
	{ "FROM:<a@\xc3\xbc.example>", ESMTP, 553, "5.6.7", NULL },
	{ "FROM:<a@b.example> SMTPUTF8", SMTP_PARSE_F_ESMTP, 555, "5.5.4",
	    NULL },
	{ "FROM:<a@b.example> SMTPUTF8=yes", ESMTP, 501, "5.5.4", NULL },
	{ "FROM:<\xc3\x28@b.example> SMTPUTF8", ESMTP, 501, "5.1.7", NULL },
	{ "FROM:<\xc0\xaf@b.example> SMTPUTF8", ESMTP, 501, "5.1.7", NULL },
	{ "FROM:<\xed\xa0\x80@b.example> SMTPUTF8", ESMTP, 501, "5.1.7",
	    NULL },
};

static const struct path_case rcpt_cases[] = {
	{ "TO:<a@b.example>", 0, 0, NULL, "a@b.example" },
	{ "to: <a@b.example>", 0, 0, NULL, "a@b.example" },
	/* relay tricks reach rcpt_check as written */
	{ "TO:<user%other.test@local.test>", 0, 0, NULL,
	    "user%other.test@local.test" },
	{ "TO:<other.test!user@local.test>", 0, 0, NULL,
	    "other.test!user@local.test" },
	{ "TO:<@local.test:user@other.test>", 0, 0, NULL,
	    "user@other.test" },
	{ "TO:<@a.test,@b.test:user@other.test>", 0, 0, NULL,
	    "user@other.test" },
	{ "TO:<\"a@b\"@local.test>", 0, 0, NULL, "\"a@b\"@local.test" },
	{ "TO:<\"user@other.test\"@local.test>", 0, 0, NULL,
	    "\"user@other.test\"@local.test" },
	{ "TO:<\"a>b\"@local.test>", 0, 0, NULL, "\"a>b\"@local.test" },
	{ "TO:<Postmaster>", 0, 0, NULL, "postmaster" },
	{ "TO:<postmaster@local.test>", 0, 0, NULL,
	    "postmaster@local.test" },
	{ "TO:<>", 0, 501, "5.1.3", NULL },
	{ "TO:a@b.example", 0, 501, "5.5.4", NULL },
	{ "TO:<a@b.example", 0, 501, "5.5.4", NULL },
	{ "TO <a@b.example>", 0, 501, "5.5.4", NULL },
	{ "FROM:<a@b.example>", 0, 501, "5.5.4", NULL },
	{ "TO:<a@@b.example>", 0, 501, "5.1.3", NULL },
	{ "TO:<a@b.example> NOTIFY=NEVER", ESMTP, 555, "5.5.4", NULL },
	{ "TO:<a@b.example> ORCPT=rfc822;a@b.example", ESMTP, 555, "5.5.4",
	    NULL },
	{ "TO:<\xc3\xbc@b.example>", ESMTP, 553, "5.6.7", NULL },
	{ "TO:<\xc3\xbc@b.example>", ESMTP | SMTP_PARSE_F_UTF8, 0, NULL,
	    "\xc3\xbc@b.example" },
	{ "TO:<a@b.example>junk", 0, 501, "5.5.4", NULL },
};

static void
run_path_cases(const struct path_case *cases, size_t n, bool is_rcpt)
{
	struct arena *a = arena_new("test", 4096, 1 << 20);
	size_t i;

	for (i = 0; i < n; i++) {
		const struct path_case *c = &cases[i];
		struct span args = span_from_str(c->args);
		struct smtp_reply err = { 0, NULL, NULL };
		const char *addr = NULL;
		int rc;

		if (is_rcpt) {
			struct smtp_rcpt_args r;

			rc = smtp_parse_rcpt(args, c->flags, a, &r, &err);
			addr = r.addr;
		} else {
			struct smtp_mail_args m;

			rc = smtp_parse_mail(args, c->flags, a, &m, &err);
			addr = m.addr;
		}
		if (c->code == 0) {
			if (!CHECK_INT(rc, 0))
				fprintf(stderr, "  case %zu: %s -> %d %s\n", i,
				    c->args, err.code, err.text);
			else
				CHECK_STR(addr, c->addr);
		} else {
			if (!CHECK_INT(rc, -1) || !CHECK_INT(err.code, c->code)
			    || !CHECK_STR(err.enh, c->enh))
				fprintf(stderr, "  case %zu: %s\n", i, c->args);
		}
		arena_reset(a);
	}
	arena_free(&a);
}

static void
test_mail_paths(void)
{
	run_path_cases(mail_cases, sizeof(mail_cases) / sizeof(mail_cases[0]),
	    false);
}

static void
test_rcpt_paths(void)
{
	run_path_cases(rcpt_cases, sizeof(rcpt_cases) / sizeof(rcpt_cases[0]),
	    true);
}

static void
test_mail_params(void)
{
	struct arena *a = arena_new("test", 4096, 1 << 20);
	struct smtp_mail_args m;
	struct smtp_reply err;

	CHECK_INT(smtp_parse_mail(SPAN_LIT("FROM:<a@b.c> SIZE=12345 "
	    "BODY=8BITMIME SMTPUTF8"), ESMTP, a, &m, &err), 0);
	CHECK(m.has_size);
	CHECK_INT(m.size, 12345);
	CHECK_INT(m.body, SMTP_BODY_8BITMIME);
	CHECK(m.smtputf8);
	CHECK_INT(smtp_parse_mail(SPAN_LIT("FROM:<a@b.c>"), ESMTP, a, &m,
	    &err), 0);
	CHECK(!m.has_size);
	CHECK_INT(m.size, 0);
	CHECK_INT(m.body, SMTP_BODY_7BIT);
	CHECK(!m.smtputf8);
	CHECK_INT(smtp_parse_mail(SPAN_LIT("FROM:<a@b.c> body=BinaryMIME"),
	    ESMTP, a, &m, &err), 0);
	CHECK_INT(m.body, SMTP_BODY_BINARYMIME);
	CHECK_INT(smtp_parse_mail(SPAN_LIT("FROM:<a@b.c> SIZE="
	    "18446744073709551615"), ESMTP, a, &m, &err), 0);
	CHECK(m.size == UINT64_MAX);
	arena_free(&a);
}

/* fill - n copies of c */
static void
fill(char *p, char c, size_t n)
{
	memset(p, c, n);
}

/* Local part 64, path 256 (with brackets): limit-1, limit, limit+1. */
static void
test_path_limits(void)
{
	struct arena *a = arena_new("test", 4096, 1 << 20);
	struct smtp_rcpt_args r;
	struct smtp_reply err;
	char args[600];
	size_t lp, dl;

	for (lp = SMTP_MAX_LOCAL_PART - 1; lp <= SMTP_MAX_LOCAL_PART + 1;
	    lp++) {
		memcpy(args, "TO:<", 4);
		fill(args + 4, 'x', lp);
		strcpy(args + 4 + lp, "@b.example>");
		if (lp <= SMTP_MAX_LOCAL_PART)
			CHECK_INT(smtp_parse_rcpt(span_from_str(args), 0, a,
			    &r, &err), 0);
		else if (CHECK_INT(smtp_parse_rcpt(span_from_str(args), 0, a,
		    &r, &err), -1)) {
			CHECK_INT(err.code, 501);
			CHECK_STR(err.enh, "5.1.3");
		}
	}
	/*
	 * "<" 64 "@" domain ">" is 67 + domain octets: a domain of 189
	 * makes the path exactly SMTP_MAX_PATH.  Labels: 63.63.61 = 189.
	 */
	for (dl = 188; dl <= 190; dl++) {
		size_t pos;

		memcpy(args, "TO:<", 4);
		fill(args + 4, 'x', 64);
		pos = 4 + 64;
		args[pos++] = '@';
		fill(args + pos, 'd', 63);
		args[pos + 63] = '.';
		fill(args + pos + 64, 'd', 63);
		args[pos + 127] = '.';
		fill(args + pos + 128, 'd', dl - 128);
		pos += dl;
		strcpy(args + pos, ">");
		CHECK_INT(pos + 1 - 3, dl + 67);	/* path length */
		if (dl + 67 <= SMTP_MAX_PATH)
			CHECK_INT(smtp_parse_rcpt(span_from_str(args), 0, a,
			    &r, &err), 0);
		else if (CHECK_INT(smtp_parse_rcpt(span_from_str(args), 0, a,
		    &r, &err), -1))
			CHECK_INT(err.code, 501);
	}
	arena_free(&a);
}

static void
test_domains(void)
{
	char d[300];
	size_t i;

	CHECK(smtp_parse_domain_ok(SPAN_LIT("example.com"), false));
	CHECK(smtp_parse_domain_ok(SPAN_LIT("a"), false));
	CHECK(smtp_parse_domain_ok(SPAN_LIT("1.2.3.4"), false));
	CHECK(smtp_parse_domain_ok(SPAN_LIT("a-b.c"), false));
	CHECK(!smtp_parse_domain_ok(SPAN_LIT(""), false));
	CHECK(!smtp_parse_domain_ok(SPAN_LIT("."), false));
	CHECK(!smtp_parse_domain_ok(SPAN_LIT("a..b"), false));
	CHECK(!smtp_parse_domain_ok(SPAN_LIT(".a"), false));
	CHECK(!smtp_parse_domain_ok(SPAN_LIT("a."), false));
	CHECK(!smtp_parse_domain_ok(SPAN_LIT("-a"), false));
	CHECK(!smtp_parse_domain_ok(SPAN_LIT("a-"), false));
	CHECK(!smtp_parse_domain_ok(SPAN_LIT("a_b"), false));
	CHECK(!smtp_parse_domain_ok(SPAN_LIT("a b"), false));
	CHECK(!smtp_parse_domain_ok(SPAN_LIT("\xc3\xbc.de"), false));
	CHECK(smtp_parse_domain_ok(SPAN_LIT("\xc3\xbc.de"), true));
	CHECK(!smtp_parse_domain_ok(SPAN_LIT("\xc3.de"), true));
	/* label 63 / 64 */
	fill(d, 'a', 64);
	CHECK(smtp_parse_domain_ok(span_make(d, 63), false));
	CHECK(!smtp_parse_domain_ok(span_make(d, 64), false));
	/* whole domain 254 / 255 / 256: labels of 59, dots, 16 letters */
	for (i = 0; i < sizeof(d); i++)
		d[i] = (i % 60) == 59 ? '.' : 'a';
	CHECK(smtp_parse_domain_ok(span_make(d, 254), false));
	CHECK(smtp_parse_domain_ok(span_make(d, 255), false));
	CHECK(!smtp_parse_domain_ok(span_make(d, 256), false));
	CHECK(smtp_parse_addr_literal_ok(SPAN_LIT("[0.0.0.0]")));
	CHECK(smtp_parse_addr_literal_ok(SPAN_LIT("[255.255.255.255]")));
	CHECK(smtp_parse_addr_literal_ok(SPAN_LIT("[010.1.1.1]")));
	CHECK(!smtp_parse_addr_literal_ok(SPAN_LIT("[1.1.1.1.1]")));
	CHECK(!smtp_parse_addr_literal_ok(SPAN_LIT("[1111.1.1.1]")));
	CHECK(!smtp_parse_addr_literal_ok(SPAN_LIT("[]")));
	CHECK(!smtp_parse_addr_literal_ok(SPAN_LIT("1.1.1.1")));
	CHECK(smtp_parse_addr_literal_ok(SPAN_LIT("[ipv6:::1]")));
	CHECK(smtp_parse_addr_literal_ok(SPAN_LIT("[IPv6:::ffff:1.2.3.4]")));
	CHECK(!smtp_parse_addr_literal_ok(SPAN_LIT("[IPv6:]")));
	CHECK(!smtp_parse_addr_literal_ok(
	    SPAN_LIT("[IPv6:1:2:3:4:5:6:7:8:9]")));
}

static void
test_command_split(void)
{
	struct span verb, args;

	CHECK_INT(smtp_parse_command(SPAN_LIT("MAIL FROM:<a@b>"), &verb,
	    &args), 0);
	CHECK_MEM(verb.p, verb.len, "MAIL", 4);
	CHECK_MEM(args.p, args.len, "FROM:<a@b>", 10);
	CHECK_INT(smtp_parse_command(SPAN_LIT("quit"), &verb, &args), 0);
	CHECK_MEM(verb.p, verb.len, "quit", 4);
	CHECK_INT(args.len, 0);
	CHECK_INT(smtp_parse_command(SPAN_LIT("NOOP   x  "), &verb, &args),
	    0);
	CHECK_MEM(args.p, args.len, "x", 1);
	CHECK_INT(smtp_parse_command(SPAN_LIT("RSET "), &verb, &args), 0);
	CHECK_INT(args.len, 0);
	CHECK_INT(smtp_parse_command(SPAN_LIT(""), &verb, &args), -1);
	CHECK_INT(smtp_parse_command(SPAN_LIT(" NOOP"), &verb, &args), -1);
	CHECK_INT(smtp_parse_command(SPAN_LIT("NO-OP"), &verb, &args), -1);
	CHECK_INT(smtp_parse_command(SPAN_LIT("NOOP\tx"), &verb, &args), -1);
	CHECK_INT(smtp_parse_command(SPAN_LIT("ABCDEFGHIJKLMNOP"), &verb,
	    &args), 0);
	CHECK_INT(smtp_parse_command(SPAN_LIT("ABCDEFGHIJKLMNOPQ"), &verb,
	    &args), -1);
}

static void
test_helo(void)
{
	char h[300];

	CHECK(smtp_parse_helo_ok(SPAN_LIT("mail.example.com")));
	CHECK(smtp_parse_helo_ok(SPAN_LIT("[192.0.2.1]")));
	CHECK(smtp_parse_helo_ok(SPAN_LIT("[IPv6:2001:db8::1]")));
	CHECK(smtp_parse_helo_ok(SPAN_LIT("my_pc")));
	CHECK(smtp_parse_helo_ok(SPAN_LIT("\xc3\xbc.example")));
	CHECK(!smtp_parse_helo_ok(SPAN_LIT("")));
	CHECK(!smtp_parse_helo_ok(SPAN_LIT("two words")));
	CHECK(!smtp_parse_helo_ok(SPAN_LIT("tab\there")));
	CHECK(!smtp_parse_helo_ok(SPAN_LIT("[192.0.2.300]")));
	CHECK(!smtp_parse_helo_ok(SPAN_LIT("\xff")));
	fill(h, 'a', sizeof(h));
	CHECK(smtp_parse_helo_ok(span_make(h, SMTP_MAX_HELO)));
	CHECK(!smtp_parse_helo_ok(span_make(h, SMTP_MAX_HELO + 1)));
}

static void
test_utf8(void)
{
	CHECK(smtp_parse_utf8_ok(SPAN_LIT("abc")));
	CHECK(smtp_parse_utf8_ok(SPAN_LIT("\xe2\x82\xac")));
	CHECK(smtp_parse_utf8_ok(SPAN_LIT("\xf0\x9f\x98\x80")));
	CHECK(!smtp_parse_utf8_ok(SPAN_LIT("\xe2\x82")));
	CHECK(!smtp_parse_utf8_ok(SPAN_LIT("\xc1\xbf")));
	CHECK(!smtp_parse_utf8_ok(SPAN_LIT("\xe0\x80\xaf")));
	CHECK(!smtp_parse_utf8_ok(SPAN_LIT("\xf4\x90\x80\x80")));
	CHECK(!smtp_parse_utf8_ok(SPAN_LIT("\xf5\x80\x80\x80")));
	CHECK(!smtp_parse_utf8_ok(SPAN_LIT("\x80")));
}

static const struct test_case cases[] = {
	TEST(test_mail_paths),
	TEST(test_rcpt_paths),
	TEST(test_mail_params),
	TEST(test_path_limits),
	TEST(test_domains),
	TEST(test_command_split),
	TEST(test_helo),
	TEST(test_utf8),
};

TEST_MAIN(cases)
