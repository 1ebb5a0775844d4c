/*
 * imap_sort_test.c - unit tests for RFC 5256 base subjects, SORT (every
 * key, REVERSE, ties, RFC 5957 display keys) and THREAD (ORDEREDSUBJECT,
 * REFERENCES: dummies, subject merging, missing Date, duplicate
 * Message-IDs, reference loops, long chains).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_search.h"
#include "imap/imap_search_int.h"
#include "lib/arena.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "../../tests/lib/test.h"

static const char *
base(const char *subject, bool *reply)
{
	static char out[256];
	struct arena *a = arena_new("t", 4096, 1u << 20);
	const char *s = imap_search_base_subject(a, span_from_str(subject),
	    reply);

	snprintf(out, sizeof(out), "%s", s);
	arena_free(&a);
	return out;
}

#define B(in, want, wreply) do { \
	bool r_ = !(wreply); \
	CHECK_STR(base(in, &r_), want); \
	CHECK_INT(r_, wreply); \
} while (0)

static void
test_base_subject(void)
{
	B("test", "test", false);
	B("Re: test", "test", true);
	B("re:test", "test", true);
	B("Re: Re: [PATCH] foo", "foo", true);
	B("[list] Re: hello", "hello", true);
	B("[list] [x] RE: hello", "hello", true);
	B("RE [x]: foo", "foo", true);
	B("Fwd: hello (fwd)", "hello", true);
	B("hello (fwd)  (FWD)", "hello", true);
	B("Fw: FW: fwd: x", "x", true);
	B("[fwd: Re: hi]", "hi", true);
	B("Re: [fwd: hi] (fwd)", "hi", true);
	B("[only blob]", "[only blob]", false);
	B("[a] [b]", "[b]", false);
	B("[PATCH] fix", "fix", false);
	B("  Re:   spaced \t  out  ", "spaced out", true);
	B("Reply: x", "Reply: x", false);
	B("Re x", "Re x", false);
	B("=?utf-8?q?Re:_caf=C3=A9?=", "café", true);
	B("=?utf-8?q?a?=\r\n =?utf-8?q?b?=", "ab", false);
	B("", "", false);
	B("Re:", "", true);
	B("Re: (fwd)", "", true);
}

/* ---- SORT ---- */

static const char s1[] =
    "From: \"Zed\" <alice@x>\r\nTo: bob@x\r\nSubject: Re: beta\r\n"
    "Date: Thu, 2 Jan 2020 10:00:00 +0000\r\n\r\nbody\r\n";
static const char s2[] =
    "From: Bob <bob@x>\r\nTo: \"Anna\" <zack@x>\r\nCc: carol@x\r\n"
    "Subject: alpha\r\nDate: 1 Jan 2020 10:00:00 -0100\r\n\r\n";
static const char s3[] =
    "From: carl@x\r\nTo: =?utf-8?q?=C3=89mile?= <e@x>\r\n"
    "Subject: Beta\r\n\r\n";
static const char s4[] =
    "Subject: [list] Alpha\r\nDate: 1 Jan 2020 10:00:00 +0000\r\n\r\n";

static struct imap_search_msg smsgs[4];

static void
sort_setup(void)
{
	static const char *const d[] = { s1, s2, s3, s4 };
	static const time_t t0 = 1577800000;	/* 2019-12-31 13:46:40Z */
	static const time_t idate[] = { t0 + 5, t0 + 3,
		1577874600 /* 2020-01-01 10:30Z */, t0 + 4 };
	static const uint64_t size[] = { 300, 100, 200, 100 };
	size_t i;

	for (i = 0; i < 4; i++) {
		memset(&smsgs[i], 0, sizeof(smsgs[i]));
		smsgs[i].seq = (uint32_t)i + 1;
		smsgs[i].uid = (uint32_t)i + 101;
		smsgs[i].internal_date = idate[i];
		smsgs[i].size = size[i];
		/* header only, as the view hands it over */
		smsgs[i].header = imap_search_header_of(span_from_str(d[i]));
	}
}

/* sorted - the order for "key [key ...]" ('-' before a key: REVERSE) */
static const char *
sorted(const char *keys)
{
	static const char *const names[] = { "", "ARRIVAL", "CC", "DATE",
		"FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO" };
	static char out[64];
	struct imap_sort_crit crit[8];
	char tmp[128], *w, *save = NULL;
	unsigned nc = 0, k;
	size_t order[4], i, n = 0;

	sort_setup();
	snprintf(tmp, sizeof(tmp), "%s", keys);
	for (w = strtok_r(tmp, " ", &save); w != NULL && nc < 8;
	    w = strtok_r(NULL, " ", &save)) {
		crit[nc].is_reverse = w[0] == '-';
		if (w[0] == '-')
			w++;
		crit[nc].key = 0;
		for (k = 1; k < sizeof(names) / sizeof(names[0]); k++) {
			if (strcmp(w, names[k]) == 0)
				crit[nc].key = (enum imap_sort_key)k;
		}
		nc++;
	}
	if (imap_sort(smsgs, 4, crit, nc, order) != 0)
		return "ERR";
	out[0] = '\0';
	for (i = 0; i < 4; i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%u",
		    i > 0 ? " " : "", smsgs[order[i]].seq);
	return out;
}

static void
test_sort(void)
{
	CHECK_STR(sorted("ARRIVAL"), "2 4 1 3");
	CHECK_STR(sorted("-ARRIVAL"), "3 1 4 2");
	/* sent: 4 10:00Z, 3 (no Date: internal) 10:30Z, 2 11:00Z, 1 Jan 2 */
	CHECK_STR(sorted("DATE"), "4 3 2 1");
	CHECK_STR(sorted("-DATE"), "1 2 3 4");
	CHECK_STR(sorted("SIZE"), "2 4 3 1");
	CHECK_STR(sorted("-SIZE"), "1 3 2 4");	/* ties stay ascending */
	CHECK_STR(sorted("SUBJECT"), "2 4 1 3");
	CHECK_STR(sorted("SUBJECT DATE"), "4 2 3 1");
	CHECK_STR(sorted("SUBJECT -DATE"), "2 4 1 3");
	CHECK_STR(sorted("-SUBJECT DATE"), "3 1 4 2");
	CHECK_STR(sorted("FROM"), "4 1 2 3");	/* "", alice, bob, carl */
	CHECK_STR(sorted("TO"), "4 1 3 2");	/* "", bob, e, zack */
	CHECK_STR(sorted("CC"), "1 3 4 2");
	CHECK_STR(sorted("-CC"), "2 1 3 4");
	/* "", Bob, carl@x, Zed */
	CHECK_STR(sorted("DISPLAYFROM"), "4 2 3 1");
	/* "", Anna, bob@x, Emile with an acute accent (8-bit: last) */
	CHECK_STR(sorted("DISPLAYTO"), "4 2 1 3");
	CHECK_STR(sorted("SIZE ARRIVAL"), "2 4 3 1");
	CHECK_STR(sorted("SIZE -ARRIVAL"), "4 2 3 1");
	CHECK_STR(sorted("BOGUS"), "ERR");
}

static void
test_sort_empty(void)
{
	struct imap_sort_crit c = { IMAP_SORT_DATE, false };
	size_t order[1];

	CHECK_INT(imap_sort(NULL, 0, &c, 1, order), 0);
}

/* ---- THREAD ---- */

/* threads - THREAD over messages given as header texts; seq i+1,
 * uid 100+i+1, internal date ascending */
static const char *
threads(const char *alg, const char *const *hdrs, size_t n, bool uid)
{
	static char out[4096];
	struct imap_search_msg *m = xcalloc(n, sizeof(*m));
	struct buf b;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		m[i].seq = (uint32_t)i + 1;
		m[i].uid = (uint32_t)i + 101;
		m[i].internal_date = 1600000000 + (time_t)i * 60;
		m[i].header = span_from_str(hdrs[i]);
	}
	buf_init(&b, sizeof(out) - 1);
	rc = imap_thread(m, n, span_from_str(alg), uid, &b);
	snprintf(out, sizeof(out), "%s", rc == 0 ? buf_cstr(&b) : "ERR");
	buf_fini(&b);
	free(m);
	return out;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void
test_orderedsubject(void)
{
	static const char *const four[] = { s1, s2, s3, s4 };
	static const char *const more[] = {
		"Subject: x\r\nDate: 1 Jan 2020 10:00 +0000\r\n",
		"Subject: Re: x\r\nDate: 1 Jan 2020 12:00 +0000\r\n",
		"Subject: y\r\nDate: 1 Jan 2020 11:00 +0000\r\n",
		"Subject: RE: X\r\nDate: 1 Jan 2020 11:00 +0000\r\n",
		"Subject: x\r\nDate: 1 Jan 2020 09:00 +0000\r\n",
		"Subject: z\r\n",	/* internal date: 2020-09-13 */
	};
	struct buf b;

	/* alpha: 4 (10:00) then 2 (11:00); beta: 1 (2 Jan 2020) then 3
	 * (no Date: its internal date, 2020-09-13) */
	CHECK_STR(threads("ORDEREDSUBJECT", four, 4, false), "(4 2)(1 3)");
	CHECK_STR(threads("orderedsubject", four, 4, true),
	    "(104 102)(101 103)");
	/* x: 5 (09:00), 1, 4, 2; y: 3 (11:00); z: 6 */
	CHECK_STR(threads("ORDEREDSUBJECT", more, N(more), false),
	    "(5 (1)(4)(2))(3)(6)");
	CHECK_STR(threads("ORDEREDSUBJECT", more, 0, false), "");
	CHECK_STR(threads("NOSUCH", more, N(more), false), "ERR");
	/* output ceiling */
	buf_init(&b, 3);
	CHECK_INT(imap_thread(NULL, 0, SPAN_LIT("REFERENCES"), false, &b), 0);
	buf_fini(&b);
}

static void
test_references(void)
{
	static const char *const a[] = {
		"Message-ID: <1@x>\r\nSubject: hello\r\n"
		"Date: 1 Jan 2020 01:00 +0000\r\n",
		"Message-ID: <2@x>\r\nReferences: <1@x>\r\n"
		"Subject: Re: hello\r\nDate: 1 Jan 2020 02:00 +0000\r\n",
		"Message-ID: <3@x>\r\nReferences: <1@x>\r\n <2@x>\r\n"
		"Subject: Re: hello\r\nDate: 1 Jan 2020 03:00 +0000\r\n",
		"Message-ID: <4@x>\r\nIn-Reply-To: <1@x> (sent by a)\r\n"
		"Subject: Re: hello\r\nDate: 1 Jan 2020 04:00 +0000\r\n",
		"Message-ID: <5@x>\r\nSubject: other\r\n"
		"Date: 1 Jan 2020 05:00 +0000\r\n",
		"Message-ID: <6@x>\r\nReferences: <missing@x>\r\n"
		"Subject: lost\r\nDate: 1 Jan 2020 06:00 +0000\r\n",
		"Message-ID: <7@x>\r\nReferences: <missing@x>\r\n"
		"Subject: Re: lost\r\nDate: 1 Jan 2020 07:00 +0000\r\n",
	};

	CHECK_STR(threads("REFERENCES", a, N(a), false),
	    "(1 (2 3)(4))(5)((6)(7))");
	CHECK_STR(threads("REFERENCES", a, N(a), true),
	    "(101 (102 103)(104))(105)((106)(107))");
	/* the same messages in another order (a reply before its parent) */
	{
		const char *const r[] = { a[2], a[1], a[0] };

		CHECK_STR(threads("REFERENCES", r, 3, false), "(3 2 1)");
	}
}

static void
test_references_subjects(void)
{
	static const char *const b[] = {
		"Message-ID: <a@x>\r\nSubject: topic\r\n"
		"Date: 1 Jan 2020 01:00 +0000\r\n",
		"Message-ID: <b@x>\r\nSubject: Re: topic\r\n"
		"Date: 1 Jan 2020 02:00 +0000\r\n",
		"Message-ID: <c@x>\r\nSubject: topic\r\n"
		"Date: 1 Jan 2020 03:00 +0000\r\n",
		"Message-ID: <d@x>\r\nSubject: \r\n"
		"Date: 1 Jan 2020 04:00 +0000\r\n",
		"Message-ID: <e@x>\r\n"
		"Date: 1 Jan 2020 05:00 +0000\r\n",
	};
	/* a dummy (two replies to a lost message) and a message of its
	 * subject: the message joins the dummy */
	static const char *const c[] = {
		"Message-ID: <p@x>\r\nSubject: news\r\n"
		"Date: 1 Jan 2020 01:00 +0000\r\n",
		"Message-ID: <q@x>\r\nReferences: <gone@x>\r\n"
		"Subject: Re: news\r\nDate: 1 Jan 2020 02:00 +0000\r\n",
		"Message-ID: <r@x>\r\nReferences: <gone@x>\r\n"
		"Subject: Re: news\r\nDate: 1 Jan 2020 03:00 +0000\r\n",
	};

	/* 2 (a reply) goes under 1; 3 (no reply) shares a dummy with 1;
	 * empty subjects are never merged */
	CHECK_STR(threads("REFERENCES", b, N(b), false),
	    "((1 2)(3))(4)(5)");
	CHECK_STR(threads("REFERENCES", c, N(c), false), "((1)(2)(3))");
}

static void
test_references_broken(void)
{
	/* loops, self references, duplicate and missing Message-IDs */
	static const char *const d[] = {
		"Message-ID: <x@x>\r\nReferences: <y@x>\r\nSubject: s1\r\n"
		"Date: 1 Jan 2020 01:00 +0000\r\n",
		"Message-ID: <y@x>\r\nReferences: <x@x>\r\nSubject: s2\r\n"
		"Date: 1 Jan 2020 02:00 +0000\r\n",
		"Message-ID: <z@x>\r\nReferences: <z@x>\r\nSubject: s3\r\n"
		"Date: 1 Jan 2020 03:00 +0000\r\n",
		"Message-ID: <x@x>\r\nReferences: <y@x>\r\nSubject: s4\r\n"
		"Date: 1 Jan 2020 04:00 +0000\r\n",
		"Subject: s5\r\nReferences: <z@x>\r\n"
		"Date: 1 Jan 2020 05:00 +0000\r\n",
		"Message-ID: not an id\r\nReferences: junk <>\r\n"
		"In-Reply-To: <y@x>\r\nSubject: s6\r\n"
		"Date: 1 Jan 2020 06:00 +0000\r\n",
		"Message-ID: <w@x>\r\nReferences: <a@x> <b@x> <a@x>\r\n"
		"Subject: s7\r\nDate: 1 Jan 2020 07:00 +0000\r\n",
	};
	/* pruning: a lone top dummy gives way to its child; an inner
	 * dummy always does */
	static const char *const e[] = {
		"Message-ID: <m1@x>\r\nReferences: <gone@x>\r\nSubject: a\r\n",
		"Message-ID: <m2@x>\r\nReferences: <m1@x> <gone2@x>\r\n"
		"Subject: b\r\n",
	};
	/* a missing Date sorts by the internal date */
	static const char *const f[] = {
		"Message-ID: <f1@x>\r\nSubject: f1\r\n"
		"Date: 1 Jan 2030 00:00 +0000\r\n",
		"Message-ID: <f2@x>\r\nSubject: f2\r\n",
		"Message-ID: <f3@x>\r\nSubject: f3\r\n"
		"Date: 1 Jan 2000 00:00 +0000\r\n",
	};

	/* y (2) is x's (1) parent (1 came first); x -> y would loop.  The
	 * second <x@x> (4) is a message of its own under y, and 6 uses
	 * In-Reply-To; 5 has no ID and hangs under 3; 7's loopy chain
	 * a -> b (the second a is no link) leaves a top dummy with one
	 * child, so 7 stands alone */
	CHECK_STR(threads("REFERENCES", d, N(d), false),
	    "(2 (1)(4)(6))(3 5)(7)");
	CHECK_STR(threads("REFERENCES", e, N(e), false), "(1 2)");
	/* internal dates are 2020-09-13: f3 (2000), f2, f1 (2030) */
	CHECK_STR(threads("REFERENCES", f, N(f), false), "(3)(2)(1)");
}

/* a References field longer than the usual field cut: the parent (the
 * last ID) still counts */
static void
test_references_long_field(void)
{
	const char *h[2];
	struct buf refs;
	char *second;
	size_t i;

	buf_init(&refs, 1u << 20);
	/* about 9000 bytes of lost ancestors */
	for (i = 0; i < 300; i++)
		CHECK_INT(buf_printf(&refs, " <ancestor-%zu@lists.example>",
		    i), 0);
	h[0] = "Message-ID: <parent@x>\r\nSubject: a\r\n"
	    "Date: 1 Jan 2020 01:00 +0000\r\n";
	second = xasprintf("Message-ID: <child@x>\r\nReferences:%s\r\n"
	    " <parent@x>\r\nSubject: b\r\nDate: 1 Jan 2020 02:00 +0000\r\n",
	    buf_cstr(&refs));
	h[1] = second;
	CHECK_STR(threads("REFERENCES", h, 2, false), "(1 2)");
	/* past the 64 KiB kept, the head goes: still the parent */
	for (i = 300; i < 3000; i++)
		CHECK_INT(buf_printf(&refs, " <ancestor-%zu@lists.example>",
		    i), 0);
	free(second);
	second = xasprintf("Message-ID: <child@x>\r\nReferences:%s\r\n"
	    " <parent@x>\r\nSubject: b\r\nDate: 1 Jan 2020 02:00 +0000\r\n",
	    buf_cstr(&refs));
	h[1] = second;
	CHECK(refs.len > 64 * 1024);
	CHECK_STR(threads("REFERENCES", h, 2, false), "(1 2)");
	free(second);
	buf_fini(&refs);
}

/* a chain as long as the mailbox, and a wide fan: no recursion */
static void
test_references_long(void)
{
	enum { LEN = 3000 };
	const char **h = xcalloc(LEN, sizeof(*h));
	char **owned = xcalloc(LEN, sizeof(*owned));
	struct imap_search_msg *m = xcalloc(LEN, sizeof(*m));
	struct buf b, want;
	size_t i;

	for (i = 0; i < LEN; i++) {
		if (i == 0)
			owned[i] = xasprintf("Message-ID: <0@x>\r\n"
			    "Subject: chain\r\n");
		else
			owned[i] = xasprintf("Message-ID: <%zu@x>\r\n"
			    "In-Reply-To: <%zu@x>\r\nSubject: Re: chain\r\n",
			    i, i - 1);
		h[i] = owned[i];
		m[i].seq = (uint32_t)i + 1;
		m[i].uid = (uint32_t)i + 1;
		m[i].internal_date = 1000 + (time_t)i;
		m[i].header = span_from_str(h[i]);
	}
	buf_init(&b, 1u << 20);
	buf_init(&want, 1u << 20);
	CHECK_INT(imap_thread(m, LEN, SPAN_LIT("REFERENCES"), false, &b), 0);
	CHECK_INT(buf_append_byte(&want, '('), 0);
	for (i = 0; i < LEN; i++)
		CHECK_INT(buf_printf(&want, i > 0 ? " %zu" : "%zu", i + 1),
		    0);
	CHECK_INT(buf_append_byte(&want, ')'), 0);
	CHECK_MEM(b.data, b.len, want.data, want.len);
	/* a ceiling too small: -1 */
	buf_fini(&b);
	buf_init(&b, 100);
	CHECK_INT(imap_thread(m, LEN, SPAN_LIT("REFERENCES"), false, &b),
	    -1);
	buf_fini(&b);
	buf_fini(&want);
	/* nesting: even message i has the leaf i+1 and the next even one
	 * as children, so the output nests LEN/2 deep:
	 * (1 (2)(3 (4)(5 ... (2999 3000)...)) */
	for (i = 1; i < LEN; i++) {
		free(owned[i]);
		owned[i] = xasprintf("Message-ID: <%zu@x>\r\n"
		    "In-Reply-To: <%zu@x>\r\nSubject: n%zu\r\n", i,
		    i % 2 == 0 ? i - 2 : i - 1, i);
		m[i].header = span_from_str(owned[i]);
	}
	buf_init(&b, 1u << 20);
	buf_init(&want, 1u << 20);
	CHECK_INT(imap_thread(m, LEN, SPAN_LIT("REFERENCES"), false, &b), 0);
	CHECK_INT(buf_append_byte(&want, '('), 0);
	for (i = 0; i + 2 < LEN; i += 2)
		CHECK_INT(buf_printf(&want, "%zu (%zu)(", i + 1, i + 2), 0);
	CHECK_INT(buf_printf(&want, "%d %d", LEN - 1, LEN), 0);
	for (i = 0; i < LEN / 2; i++)
		CHECK_INT(buf_append_byte(&want, ')'), 0);
	CHECK_MEM(b.data, b.len, want.data, want.len);
	buf_fini(&want);
	buf_fini(&b);
	for (i = 0; i < LEN; i++)
		free(owned[i]);
	free(owned);
	free(h);
	free(m);
}

static const struct test_case cases[] = {
	TEST(test_base_subject),
	TEST(test_sort),
	TEST(test_sort_empty),
	TEST(test_orderedsubject),
	TEST(test_references),
	TEST(test_references_subjects),
	TEST(test_references_broken),
	TEST(test_references_long_field),
	TEST(test_references_long),
};

TEST_MAIN(cases)
