/*
 * mime_header_test.c - unit tests for header fields, parameters (RFC 2045,
 * RFC 2231), encoded words (RFC 2047) and address lists (RFC 5322).
 */
#include <string.h>

#include "lib/arena.h"
#include "lib/buf.h"
#include "lib/postino_limits.h"
#include "mime/mime_address.h"
#include "mime/mime_header.h"
#include "../../tests/lib/test.h"

static void
test_fields(void)
{
	const char *h = "Subject: one\r\n two\r\n"
	    "X-Bare: lf\n"
	    "Obs-Name : value\r\n"
	    "no colon line\r\n"
	    "Empty:\r\n"
	    "\r\n"
	    "body: not a field\r\n";
	struct span hdr = span_from_str(h), v;
	struct mime_field f;
	size_t pos = 0;

	CHECK(mime_header_next(hdr, &pos, &f));
	CHECK_MEM(f.name.p, f.name.len, "Subject", 7);
	CHECK_MEM(f.value.p, f.value.len, " one\r\n two", 10);
	CHECK_MEM(f.raw.p, f.raw.len, "Subject: one\r\n two\r\n", 20);
	CHECK(mime_header_next(hdr, &pos, &f));
	CHECK_MEM(f.value.p, f.value.len, " lf", 3);
	CHECK(mime_header_next(hdr, &pos, &f));
	CHECK_MEM(f.name.p, f.name.len, "Obs-Name", 8);
	CHECK(mime_header_next(hdr, &pos, &f));
	CHECK_MEM(f.name.p, f.name.len, "no colon line", 13);
	CHECK_INT(f.value.len, 0);
	CHECK(mime_header_next(hdr, &pos, &f));
	CHECK_MEM(f.name.p, f.name.len, "Empty", 5);
	CHECK(!mime_header_next(hdr, &pos, &f));
	CHECK(mime_header_find(hdr, "subject", &v));
	CHECK(!mime_header_find(hdr, "body", &v));
	{
		struct buf b;

		buf_init(&b, 100);
		CHECK_INT(mime_header_unfold(SPAN_LIT(" one\r\n two "), &b), 0);
		CHECK_STR(buf_cstr(&b), "one two");
		buf_fini(&b);
	}
}

static void
test_ctype(void)
{
	struct arena *a = arena_new("t", 4096, 1 << 20);
	struct mime_ctype ct;

	CHECK_INT(mime_ctype_parse(SPAN_LIT(" Text/HTML; Charset=\"UTF-8\"; "
	    "name=\"a \\\"q\\\".html\""), a, &ct), 0);
	CHECK_STR(ct.type, "text");
	CHECK_STR(ct.subtype, "html");
	CHECK_STR(mime_param_get(ct.params, "charset"), "UTF-8");
	CHECK_STR(mime_param_get(ct.params, "name"), "a \"q\".html");
	/* comments and folds */
	CHECK_INT(mime_ctype_parse(SPAN_LIT("multipart/mixed (c);\r\n\t"
	    "boundary=\"simple\r\n boundary\""), a, &ct), 0);
	CHECK_STR(mime_param_get(ct.params, "boundary"), "simple boundary");
	/* invalid */
	CHECK_INT(mime_ctype_parse(SPAN_LIT("text"), a, &ct), -1);
	CHECK_INT(mime_ctype_parse(SPAN_LIT("/plain"), a, &ct), -1);
	CHECK_INT(mime_ctype_parse(SPAN_LIT(""), a, &ct), -1);
	/* duplicates keep the first */
	CHECK_INT(mime_ctype_parse(SPAN_LIT("a/b; x=1; x=2"), a, &ct), 0);
	CHECK_STR(mime_param_get(ct.params, "x"), "1");
	/* an unquoted value ends at a blank, like Dovecot */
	CHECK_INT(mime_ctype_parse(SPAN_LIT("a/b; x=one two=2; y=3"), a,
	    &ct), 0);
	CHECK_STR(mime_param_get(ct.params, "x"), "one");
	CHECK_STR(mime_param_get(ct.params, "y"), "3");
	arena_free(&a);
}

static void
test_rfc2231(void)
{
	struct arena *a = arena_new("t", 4096, 1 << 20);
	struct mime_param *p;
	const char *t;

	p = mime_params_parse(SPAN_LIT("; name*0*=utf-8''r%C3%A9sum%C3%A9%20;"
	    " name*1=\"final.pdf\"; size=42"), a);
	/* plain parameters come first */
	CHECK_STR(p->name, "size");
	CHECK_STR(mime_param_get(p, "size"), "42");
	p = p->next;
	CHECK_STR(mime_param_get(p, "name"), "r\xc3\xa9sum\xc3\xa9 final.pdf");
	CHECK_STR(p->raw_name, "name*");
	CHECK_STR(p->raw_value, "utf-8''r%C3%A9sum%C3%A9%20final.pdf");
	CHECK(p->is_2231);
	/* charset conversion and language */
	p = mime_params_parse(SPAN_LIT("; filename*=iso-8859-1'fr'r%E9sum%E9"),
	    a);
	CHECK_STR(mime_param_get(p, "filename"), "r\xc3\xa9sum\xc3\xa9");
	CHECK_STR(p->language, "fr");
	/* sections out of order, plain continuation */
	p = mime_params_parse(SPAN_LIT("; n*1=\"b\"; n*0=\"a\"; n*2=c"), a);
	CHECK_STR(mime_param_get(p, "n"), "abc");
	CHECK_STR(p->raw_name, "n");
	/* plain and RFC 2231 forms of one name are both listed; the
	 * RFC 2231 value is the one mime_param_get() returns */
	p = mime_params_parse(SPAN_LIT("; filename*0=\"a\"; filename*1=\"b\"; "
	    "filename=\"plain.txt\"; Name=x; name=y; e="), a);
	CHECK_STR(p->raw_name, "filename");
	CHECK_STR(p->value, "plain.txt");
	CHECK_STR(p->next->raw_name, "Name");
	CHECK_STR(p->next->value, "x");
	CHECK_STR(p->next->next->value, "ab");
	CHECK(p->next->next->next == NULL);
	CHECK_STR(mime_param_get(p, "filename"), "ab");
	CHECK_STR(mime_param_get(p, "name"), "x");
	CHECK(mime_param_get(p, "e") == NULL);
	/* a gap stops the value */
	p = mime_params_parse(SPAN_LIT("; n*0=a; n*2=c"), a);
	CHECK_STR(mime_param_get(p, "n"), "a");
	/* a quoted extended value (msg_33 boundary*) */
	p = mime_params_parse(SPAN_LIT("; boundary*=\"us-ascii''Ee%2FQ\""), a);
	CHECK_STR(mime_param_get(p, "boundary"), "Ee/Q");
	/* unknown charset: bytes kept */
	p = mime_params_parse(SPAN_LIT("; t*=x-unknown''%41%ff"), a);
	t = mime_param_get(p, "t");
	CHECK_MEM(t, strlen(t), "A\xff", 2);
	/* the parameter cap */
	{
		struct buf b;
		int i, n = 0;

		buf_init(&b, 1 << 16);
		for (i = 0; i < MIME_MAX_PARAMS + 5; i++)
			CHECK_INT(buf_printf(&b, "; p%d=v", i), 0);
		for (p = mime_params_parse(buf_span(&b), a); p; p = p->next)
			n++;
		CHECK_INT(n, MIME_MAX_PARAMS);
		buf_fini(&b);
	}
	arena_free(&a);
}

static void
test_disposition(void)
{
	struct arena *a = arena_new("t", 4096, 1 << 20);
	struct mime_param *p;
	const char *type;

	mime_disposition_parse(SPAN_LIT(" Attachment; filename=\"a.txt\""), a,
	    &type, &p);
	CHECK_STR(type, "attachment");
	CHECK_STR(mime_param_get(p, "filename"), "a.txt");
	mime_disposition_parse(SPAN_LIT(""), a, &type, &p);
	CHECK(type == NULL);
	arena_free(&a);
}

static const char *
dec(struct arena *a, const char *in)
{
	return mime_header_decode_a(a, span_from_str(in));
}

static void
test_rfc2047(void)
{
	struct arena *a = arena_new("t", 4096, 1 << 20);

	CHECK_STR(dec(a, "=?utf-8?q?Andr=C3=A9?= Pirard"),
	    "Andr\xc3\xa9 Pirard");
	CHECK_STR(dec(a, "=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?="),
	    "Keld J\xc3\xb8rn Simonsen");
	/* adjacent words: the blank between them goes */
	CHECK_STR(dec(a, "=?utf-8?b?w6lsw6h2ZQ==?= =?utf-8?b?IGV0IG1h?=\r\n"
	    " =?utf-8?q?=C3=AEtre?= plain"),
	    "\xc3\xa9l\xc3\xa8ve et ma\xc3\xaetre plain");
	/* a character split over two words of the same charset */
	CHECK_STR(dec(a, "=?utf-8?b?w6k=?= =?utf-8?q?=C3?= =?utf-8?q?=A9?="),
	    "\xc3\xa9\xc3\xa9");
	/* unknown charsets and malformed words are left alone */
	CHECK_STR(dec(a, "a =?x-unknown?q?left_alone?= b"),
	    "a =?x-unknown?q?left_alone?= b");
	CHECK_STR(dec(a, "=?utf-8?x?bad?= =?utf-8?q?unterminated"),
	    "=?utf-8?x?bad?= =?utf-8?q?unterminated");
	/* RFC 2231 language in an encoded word */
	CHECK_STR(dec(a, "=?US-ASCII*EN?Q?Keith_Moore?="), "Keith Moore");
	/* ISO-2022-JP over two words (mimekit/japanese.txt) */
	CHECK_STR(dec(a, "=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?="),
	    "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf");
	/* words with text between keep the text */
	CHECK_STR(dec(a, "=?utf-8?q?a?= and =?utf-8?q?b?="), "a and b");
	CHECK_STR(dec(a, "plain text"), "plain text");
	arena_free(&a);
}

/* address parsing */

struct exp_addr {
	const char	*name, *route, *mailbox, *domain;
	int		 group;	/* 1 start, 2 end */
};

static void
check_addrs(const char *in, const struct exp_addr *e, unsigned n)
{
	struct arena *a = arena_new("t", 4096, 1 << 20);
	struct mime_address *ad = mime_address_parse(span_from_str(in), a,
	    1000);
	unsigned i;

	CHECK_INT(mime_address_count(ad), n);
	for (i = 0; i < n && ad != NULL; i++, ad = ad->next) {
		CHECK_STR(ad->name, e[i].name);
		CHECK_STR(ad->route, e[i].route);
		CHECK_STR(ad->mailbox, e[i].mailbox);
		CHECK_STR(ad->domain, e[i].domain);
		CHECK_INT(ad->group_start, e[i].group == 1);
		CHECK_INT(ad->group_end, e[i].group == 2);
	}
	arena_free(&a);
}

static void
test_addresses(void)
{
	{
		static const struct exp_addr e[] = {
			{ "Joe Q. Public", NULL, "john.q.public",
			    "example.com", 0 } };
		check_addrs("\"Joe Q. Public\" <john.q.public@example.com>",
		    e, 1);
	}
	{
		static const struct exp_addr e[] = {
			{ "Pete", NULL, "pete", "silly.test", 0 } };
		check_addrs("Pete(A nice \\) chap) <pete(his account)@silly."
		    "test(his host)>", e, 1);
	}
	{
		static const struct exp_addr e[] = {
			{ NULL, "@route.example,@other.example", "user",
			    "target.example", 0 } };
		check_addrs("<@route.example,@other.example:user@target."
		    "example>", e, 1);
	}
	{
		static const struct exp_addr e[] = {
			{ NULL, NULL, "A Group", NULL, 1 },
			{ "Ed Jones", NULL, "c", "a.test", 0 },
			{ NULL, NULL, "joe", "where.test", 0 },
			{ NULL, NULL, NULL, NULL, 2 },
			{ NULL, NULL, "z", "x.test", 0 } };
		check_addrs("A Group:Ed Jones <c@a.test>,joe@where.test;, "
		    "z@x.test", e, 5);
	}
	{
		static const struct exp_addr e[] = {
			{ NULL, NULL, "undisclosed-recipients", NULL, 1 },
			{ NULL, NULL, NULL, NULL, 2 } };
		check_addrs("undisclosed-recipients:;", e, 2);
	}
	{
		static const struct exp_addr e[] = {
			{ "John Doe", NULL, "jdoe", "example.org", 0 },
			{ NULL, NULL, "nodomain", NULL, 0 },
			{ "Someone Else", NULL, NULL, NULL, 0 } };
		check_addrs("jdoe@example.org (John Doe), nodomain, "
		    "Someone Else", e, 3);
	}
	{
		static const struct exp_addr e[] = {
			{ "=?utf-8?q?Andr=C3=A9?= Pirard", NULL, "PIRARD",
			    "vm1.ulg.ac.be", 0 },
			{ NULL, NULL, "x", "[192.0.2.1]", 0 } };
		check_addrs("=?utf-8?q?Andr=C3=A9?= Pirard\r\n <PIRARD@vm1."
		    "ulg.ac.be>, x@[192.0.2.1]", e, 2);
	}
	check_addrs("", NULL, 0);
	check_addrs(" , ,", NULL, 0);
	/* the entry cap */
	{
		struct arena *a = arena_new("t", 4096, 1 << 20);

		CHECK_INT(mime_address_count(mime_address_parse(
		    SPAN_LIT("a@b, c@d, e@f"), a, 2)), 2);
		arena_free(&a);
	}
}

/* memory stays linear in the input for hostile comment / quote runs */
static void
test_linear_memory(void)
{
	struct arena *a = arena_new("t", 4096, (size_t)1 << 30);
	struct buf b;
	unsigned i;

	buf_init(&b, 1 << 20);
	for (i = 0; i < 20000; i++)
		CHECK_INT(buf_append_str(&b, "(c) \"q\" "), 0);
	CHECK_INT(buf_append_str(&b, "a@b"), 0);
	(void)mime_address_parse(buf_span(&b), a, 1000);
	CHECK(arena_used(a) < 16 * b.len);
	arena_free(&a);
	a = arena_new("t", 4096, (size_t)1 << 30);
	buf_reset(&b);
	CHECK_INT(buf_append_str(&b, "text/plain"), 0);
	for (i = 0; i < 20000; i++)
		CHECK_INT(buf_append_str(&b, " \"x\""), 0);
	CHECK_INT(buf_append_str(&b, "; a=\"1\""), 0);
	(void)mime_params_parse(buf_span(&b), a);
	CHECK(arena_used(a) < 16 * b.len);
	arena_free(&a);
	buf_fini(&b);
}

static const struct test_case cases[] = {
	TEST(test_linear_memory),
	TEST(test_fields),
	TEST(test_ctype),
	TEST(test_rfc2231),
	TEST(test_disposition),
	TEST(test_rfc2047),
	TEST(test_addresses),
};

TEST_MAIN(cases)
