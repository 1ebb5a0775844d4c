/*
 * psl_test.c - unit tests for the Public Suffix List and Organizational
 * Domains (RFC 7489 section 3.2): a hand-written list, the real list
 * of Debian's publicsuffix package, punycode (RFC 3492) and limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/postino_limits.h"
#include "policy/psl.h"
#include "../../tests/lib/test.h"

static const char small_list[] =
    "// a comment\n"
    "com\n"
    "uk\n"
    "co.uk\n"
    "\n"
    "// wildcard and exception, as the real list has for kawasaki.jp\n"
    "jp\n"
    "*.kawasaki.jp\n"
    "!city.kawasaki.jp\n"
    "*.ck\n"
    "!www.ck\n"
    "// UTF-8 rules become A-labels\n"
    "cn\n"
    "\xe5\x85\xac\xe5\x8f\xb8.cn\n"
    "b\xc3\xbc" "cher.example   trailing words ignored\r\n"
    "bad..rule\n"
    "a*b.com\n"
    "// ===BEGIN PRIVATE DOMAINS===\n"
    "github.io\n"
    "// ===END PRIVATE DOMAINS===\n";

static struct psl *
small(unsigned flags)
{
	const char *err = NULL;
	struct psl *p = psl_parse(span_make(small_list, sizeof(small_list) - 1),
	    flags, &err);

	CHECK(p != NULL);
	return p;
}

static const char *
org(const struct psl *p, const char *d)
{
	static char out[256];

	if (psl_org_domain(p, d, out, sizeof(out)) < 0)
		return "(error)";
	return out;
}

static void
test_small_list(void)
{
	struct psl *p = small(0);
	char out[256];

	/* 13 usable rules; "bad..rule" and "a*b.com" are skipped */
	CHECK_INT(psl_count(p), 12);
	CHECK_STR(org(p, "example.com"), "example.com");
	CHECK_STR(org(p, "a.b.Example.COM."), "example.com");
	CHECK_STR(org(p, "com"), "com");
	CHECK_STR(org(p, "mail.example.co.uk"), "example.co.uk");
	CHECK_STR(org(p, "co.uk"), "co.uk");
	/* no rule: the implicit "*" makes the TLD the suffix */
	CHECK_STR(org(p, "x.y.example.test"), "example.test");
	/* wildcard: any label under kawasaki.jp is a suffix */
	CHECK_STR(org(p, "a.b.kawasaki.jp"), "a.b.kawasaki.jp");
	CHECK_STR(org(p, "z.a.b.kawasaki.jp"), "a.b.kawasaki.jp");
	CHECK_STR(org(p, "kawasaki.jp"), "kawasaki.jp");
	/* exception: city.kawasaki.jp is registrable */
	CHECK_STR(org(p, "www.city.kawasaki.jp"), "city.kawasaki.jp");
	CHECK_STR(org(p, "city.kawasaki.jp"), "city.kawasaki.jp");
	CHECK_STR(org(p, "a.www.ck"), "www.ck");
	CHECK_STR(org(p, "a.b.c.ck"), "b.c.ck");
	CHECK_STR(org(p, "mail.shop.xn--55qx5d.cn"), "shop.xn--55qx5d.cn");
	CHECK_STR(org(p, "a.b.xn--bcher-kva.example"),
	    "b.xn--bcher-kva.example");
	CHECK_STR(org(p, "me.github.io"), "me.github.io");
	CHECK_INT(psl_public_suffix(p, "x.me.github.io", out, sizeof(out)),
	    2);
	CHECK_STR(out, "github.io");
	CHECK_INT(psl_public_suffix(p, "www.city.kawasaki.jp", out,
	    sizeof(out)), 2);
	CHECK_STR(out, "kawasaki.jp");
	CHECK_INT(psl_public_suffix(p, "q.w.kawasaki.jp", out, sizeof(out)),
	    3);
	CHECK_STR(out, "w.kawasaki.jp");
	psl_free(&p);
	CHECK(p == NULL);
	psl_free(&p);

	p = small(PSL_F_ICANN_ONLY);
	CHECK_INT(psl_count(p), 11);
	CHECK_STR(org(p, "a.me.github.io"), "github.io");
	psl_free(&p);
}

static void
test_bad_names(void)
{
	struct psl *p = small(0);
	char out[256], longname[300];
	size_t i;

	CHECK_STR(org(p, ""), "(error)");
	CHECK_STR(org(p, "."), "(error)");
	CHECK_STR(org(p, "a..com"), "(error)");
	CHECK_STR(org(p, ".a.com"), "(error)");
	CHECK_STR(org(p, "a.com.."), "(error)");
	CHECK_STR(org(p, "a b.com"), "(error)");
	CHECK_STR(org(p, "b\xc3\xbc" "cher.example"), "(error)");
	CHECK_STR(org(p, "_dmarc.x-y.com"), "x-y.com");
	/* label of 63 bytes is fine, 64 is not */
	memset(longname, 'a', 64);
	memcpy(longname + 63, ".com", 5);
	CHECK_STR(org(p, longname), longname);
	memset(longname, 'a', 64);
	memcpy(longname + 64, ".com", 5);
	CHECK_STR(org(p, longname), "(error)");
	/* 253 bytes in all is fine, 254 is not */
	for (i = 0; i < 253; i++)
		longname[i] = (i % 2) ? '.' : 'a';
	longname[253] = '\0';
	CHECK_STR(org(p, longname), "a.a");
	longname[253] = 'a';
	longname[254] = '\0';
	longname[252] = 'a';
	CHECK_STR(org(p, longname), "(error)");
	CHECK_INT(psl_org_domain(p, "a.com", out, 100), -1);
	psl_free(&p);
}

static void
test_punycode(void)
{
	char out[64];
	/* RFC 3492 7.1 (L) and well-known labels */
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "b\xc3\xbc" "cher", "xn--bcher-kva" },
		{ "m\xc3\xbc" "nchen", "xn--mnchen-3ya" },
		{ "\xe5\x85\xac\xe5\x8f\xb8", "xn--55qx5d" },
		{ "\xe3\x81\xb2\xe3\x81\xa8\xe3\x81\xa4\xe5\xb1\x8b\xe6\xa0\xb9"
		  "\xe3\x81\xae\xe4\xb8\x8b" "2", "xn--2-u9tlzr9756bt3uc0v" },
		{ "ABC", "abc" },
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		CHECK_INT(psl_punycode_label(span_from_str(v[i].in), out,
		    sizeof(out)), 0);
		CHECK_STR(out, v[i].out);
	}
	CHECK_INT(psl_punycode_label(SPAN_LIT("\xc3"), out, sizeof(out)), -1);
	CHECK_INT(psl_punycode_label(SPAN_LIT("\xc0\x80"), out, sizeof(out)),
	    -1);
	CHECK_INT(psl_punycode_label(SPAN_LIT("\xed\xa0\x80"), out,
	    sizeof(out)), -1);
	CHECK_INT(psl_punycode_label(SPAN_LIT(""), out, sizeof(out)), -1);
	/* found by dmarc_psl_fuzz: many ASCII points before a non-ASCII
	 * one overflowed the output; 63 bytes at most */
	CHECK_INT(psl_punycode_label(SPAN_LIT("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xbc"), out, sizeof(out)), -1);
	/* 55 + "xn--" + "-8yf" is 63: the limit; 56 is one too many */
	CHECK_INT(psl_punycode_label(SPAN_LIT("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xbc"), out, sizeof(out)), 0);
	CHECK_INT(strlen(out), 63);
	CHECK_STR(out + 57, "aa-8yf");
	CHECK_INT(psl_punycode_label(SPAN_LIT("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xbc"), out, sizeof(out)), -1);
	CHECK_INT(psl_punycode_label(SPAN_LIT("abc"), out, 10), -1);
}

static void
test_limits(void)
{
	struct buf b;
	const char *err = NULL;
	struct psl *p;
	size_t i;

	buf_init(&b, PSL_MAX_FILE + 1);
	for (i = 0; i < PSL_MAX_RULES; i++)
		CHECK_INT(buf_printf(&b, "r%zu.test\n", i), 0);
	p = psl_parse(buf_span(&b), 0, &err);
	CHECK(p != NULL);
	if (p != NULL) {
		CHECK_INT(psl_count(p), PSL_MAX_RULES);
		CHECK_STR(org(p, "a.b.r77.test"), "b.r77.test");
	}
	psl_free(&p);
	CHECK_INT(buf_printf(&b, "one.more\n"), 0);
	p = psl_parse(buf_span(&b), 0, &err);
	CHECK(p == NULL);
	CHECK_STR(err, "public suffix list has too many rules");
	buf_reset(&b);
	while (b.len < PSL_MAX_FILE)
		CHECK_INT(buf_append_byte(&b, '\n'), 0);
	p = psl_parse(buf_span(&b), 0, &err);
	CHECK(p != NULL);
	psl_free(&p);
	CHECK_INT(buf_append_byte(&b, '\n'), 0);
	p = psl_parse(buf_span(&b), 0, &err);
	CHECK(p == NULL);
	buf_fini(&b);
	p = psl_load("/nonexistent/psl.dat", 0, &err);
	CHECK(p == NULL);
}

/* The real list from Debian's publicsuffix package (scripts/deps.sh
 * installs it for tests). */
static void
test_real_list(void)
{
	const char *err = NULL;
	struct psl *p = psl_load(NULL, 0, &err);

	CHECK(p != NULL);
	if (p == NULL) {
		fprintf(stderr, "cannot load %s: %s\n", PSL_DEFAULT_PATH, err);
		return;
	}
	CHECK(psl_count(p) > 5000);
	CHECK_STR(org(p, "mail.example.com"), "example.com");
	CHECK_STR(org(p, "a.b.example.co.uk"), "example.co.uk");
	CHECK_STR(org(p, "www.city.kawasaki.jp"), "city.kawasaki.jp");
	CHECK_STR(org(p, "x.y.z.kawasaki.jp"), "y.z.kawasaki.jp");
	CHECK_STR(org(p, "bounce.mail.example.xn--55qx5d.cn"),
	    "example.xn--55qx5d.cn");
	CHECK_STR(org(p, "user.github.io"), "user.github.io");
	CHECK_STR(org(p, "ab.cd.example.test"), "example.test");
	psl_free(&p);
	p = psl_load(NULL, PSL_F_ICANN_ONLY, &err);
	CHECK(p != NULL);
	if (p != NULL)
		CHECK_STR(org(p, "user.github.io"), "github.io");
	psl_free(&p);
}

static const struct test_case cases[] = {
	TEST(test_small_list),
	TEST(test_bad_names),
	TEST(test_punycode),
	TEST(test_limits),
	TEST(test_real_list),
};

TEST_MAIN(cases)
