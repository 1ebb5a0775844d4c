/*
 * ar_filter_test.c - unit tests for the streaming removal of forged
 * Authentication-Results fields (policy/ar_filter.h).
 */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/postino_limits.h"
#include "lib/span.h"
#include "policy/ar_filter.h"
#include "policy/policy.h"
#include "../../tests/lib/test.h"

#define ID "mx.example.com"

struct sink {
	struct buf	out;
	size_t		calls;
	size_t		fail_after;	/* 0: never fail */
};

static int
sink_out(void *ctx, const void *p, size_t n)
{
	struct sink *s = ctx;

	s->calls++;
	if (s->fail_after != 0 && s->calls > s->fail_after)
		return -1;
	return buf_append(&s->out, p, n);
}

/* run - msg through a filter in pieces of at most step bytes (the first
 * piece is first bytes long, if not 0); returns the output */
static void
run(const char *msg, size_t len, size_t first, size_t step, size_t max,
    struct buf *out, unsigned *removed_r)
{
	struct sink s;
	struct ar_filter *f;
	size_t off = 0, n;

	memset(&s, 0, sizeof(s));
	buf_init(&s.out, len + 16);
	f = ar_filter_new(ID, max, sink_out, &s);
	while (off < len) {
		n = off == 0 && first != 0 ? first : step;
		if (n > len - off)
			n = len - off;
		CHECK_INT(ar_filter_input(f, msg + off, n), 0);
		off += n;
	}
	CHECK_INT(ar_filter_finish(f), 0);
	*removed_r = ar_filter_removed(f);
	ar_filter_free(&f);
	CHECK(f == NULL);
	*out = s.out;
}

/* same_as_strip - at every split offset, and byte by byte, the filter
 * gives what policy_strip_ar gives on the whole message */
static void
same_as_strip(const char *msg, unsigned want_removed)
{
	size_t len = strlen(msg), k;
	struct buf want, got;
	unsigned removed = 0, r;

	buf_init(&want, len + 16);
	CHECK_INT(policy_strip_ar(span_make(msg, len), ID, &want, &removed),
	    0);
	CHECK_INT(removed, want_removed);
	for (k = 0; k <= len; k++) {
		run(msg, len, k, len, POLICY_MAX_AR_FIELD, &got, &r);
		if (!CHECK_MEM(got.data, got.len, want.data, want.len) ||
		    !CHECK_INT(r, want_removed)) {
			buf_fini(&got);
			break;
		}
		buf_fini(&got);
	}
	run(msg, len, 0, 1, POLICY_MAX_AR_FIELD, &got, &r);
	CHECK_MEM(got.data, got.len, want.data, want.len);
	CHECK_INT(r, want_removed);
	buf_fini(&got);
	run(msg, len, 0, 7, POLICY_MAX_AR_FIELD, &got, &r);
	CHECK_MEM(got.data, got.len, want.data, want.len);
	buf_fini(&got);
	buf_fini(&want);
}

static void
test_exact_output(void)
{
	const char *msg =
	    "Received: from a by b\r\n"
	    "\tfor <x@y>; now\r\n"
	    "Authentication-Results: mx.example.com; spf=pass\r\n"
	    "Subject: hi\r\n"
	    "authentication-results : MX.EXAMPLE.COM.;\r\n"
	    " dkim=pass header.d=evil.test\r\n"
	    "Authentication-Results: other.example; dkim=pass\r\n"
	    "Authentication-Results: mx.example.com.evil; dkim=pass\r\n"
	    "Authentication-Results:\r\n"
	    "\t(comment (nested)) mx.example.com; dmarc=pass\r\n"
	    "\r\n"
	    "Authentication-Results: mx.example.com; in the body\r\n";
	const char *want =
	    "Received: from a by b\r\n"
	    "\tfor <x@y>; now\r\n"
	    "Subject: hi\r\n"
	    "Authentication-Results: other.example; dkim=pass\r\n"
	    "Authentication-Results: mx.example.com.evil; dkim=pass\r\n"
	    "\r\n"
	    "Authentication-Results: mx.example.com; in the body\r\n";
	struct buf got;
	unsigned r;

	run(msg, strlen(msg), 0, 1000, POLICY_MAX_AR_FIELD, &got, &r);
	CHECK_STR(buf_cstr(&got), want);
	CHECK_INT(r, 3);
	buf_fini(&got);
	same_as_strip(msg, 3);
}

static void
test_split_everywhere(void)
{
	/* folded fields, bare LF, a lone CR starting a line, blanks before
	 * the colon, an A-R first and last */
	same_as_strip("Authentication-Results: mx.example.com; a=b\r\n"
	    "X-A: 1\r\n \r\n\t2\r\n"
	    "Authentication-Results \t: other; spf=pass\n"
	    "\rX-CR: lone\r\n"
	    "Authentication-Results: \"mx.example.com\" ; q=1\n"
	    "\tmore\r\n"
	    "\r\nbody\r\n\r\nAuthentication-Results: mx.example.com; x\r\n",
	    2);
	/* bare LF empty line */
	same_as_strip("Authentication-Results: mx.example.com;\n\nbody\n", 1);
	/* a message that is only a body */
	same_as_strip("\r\nAuthentication-Results: mx.example.com;\r\n", 0);
	/* starts with a continuation line */
	same_as_strip(" odd\r\nAuthentication-Results: mx.example.com;\r\n"
	    "\r\n", 1);
	same_as_strip("", 0);
}

static void
test_no_blank_line(void)
{
	struct buf got;
	unsigned r;
	const char *m1 = "Subject: x\r\nAuthentication-Results: mx.example.com;"
	    " spf=pass";
	const char *m2 = "Subject: x\r\nX-End: no line end";
	const char *m3 = "Subject: x\r\n\r";

	run(m1, strlen(m1), 0, 5, POLICY_MAX_AR_FIELD, &got, &r);
	CHECK_STR(buf_cstr(&got), "Subject: x\r\n");
	CHECK_INT(r, 1);
	buf_fini(&got);
	same_as_strip(m1, 1);
	run(m2, strlen(m2), 0, 3, POLICY_MAX_AR_FIELD, &got, &r);
	CHECK_STR(buf_cstr(&got), m2);
	buf_fini(&got);
	same_as_strip(m2, 0);
	/* a CR at the start of the last line, and nothing after it */
	run(m3, strlen(m3), 0, 1, POLICY_MAX_AR_FIELD, &got, &r);
	CHECK_STR(buf_cstr(&got), m3);
	buf_fini(&got);
	same_as_strip(m3, 0);
}

/* nothing is written before the filter knows a field is complete */
static void
test_held_until_known(void)
{
	struct sink s;
	struct ar_filter *f;
	const char *a = "Authentication-Results: mx.example.com";
	const char *b = "\r\n\t; spf=pass\r\nX: y\r\n";

	memset(&s, 0, sizeof(s));
	buf_init(&s.out, 1000);
	f = ar_filter_new(ID, 1000, sink_out, &s);
	CHECK_INT(ar_filter_input(f, "Subject: x\r\n", 12), 0);
	CHECK_STR(buf_cstr(&s.out), "");	/* Subject may still fold */
	CHECK_INT(ar_filter_input(f, a, strlen(a)), 0);
	CHECK_STR(buf_cstr(&s.out), "Subject: x\r\n");
	CHECK_INT(ar_filter_input(f, b, strlen(b)), 0);
	CHECK_STR(buf_cstr(&s.out), "Subject: x\r\n");
	CHECK_INT(ar_filter_input(f, "\r", 1), 0);
	CHECK_STR(buf_cstr(&s.out), "Subject: x\r\n");
	CHECK_INT(ar_filter_input(f, "\nbody", 5), 0);
	CHECK_STR(buf_cstr(&s.out), "Subject: x\r\nX: y\r\n\r\nbody");
	CHECK_INT(ar_filter_removed(f), 1);
	CHECK_INT(ar_filter_finish(f), 0);
	ar_filter_free(&f);
	buf_fini(&s.out);
}

static void
test_past_the_limit(void)
{
	struct buf msg, got, want;
	unsigned r;
	size_t i;

	buf_init(&msg, 10000);
	buf_init(&want, 10000);
	/* a long foreign field passes whole */
	CHECK_INT(buf_append_str(&msg, "X-Long: "), 0);
	for (i = 0; i < 300; i++)
		CHECK_INT(buf_append_str(&msg, "a"), 0);
	CHECK_INT(buf_append_str(&msg, "\r\n\tfolded\r\n"), 0);
	CHECK_INT(buf_append(&want, msg.data, msg.len), 0);
	/* a long A-R of someone else is dropped: it cannot be checked */
	CHECK_INT(buf_append_str(&msg, "Authentication-Results: ("), 0);
	for (i = 0; i < 300; i++)
		CHECK_INT(buf_append_str(&msg, "c"), 0);
	CHECK_INT(buf_append_str(&msg, ") other.example; spf=pass\r\n"), 0);
	/* one whose name is followed by blanks past the limit */
	CHECK_INT(buf_append_str(&msg, "Authentication-Results"), 0);
	for (i = 0; i < 300; i++)
		CHECK_INT(buf_append_str(&msg, " "), 0);
	CHECK_INT(buf_append_str(&msg, ": mx.example.com; spf=pass\r\n"), 0);
	/* a line without a colon, past the limit, passes */
	{
		size_t start = msg.len;

		for (i = 0; i < 200; i++)
			CHECK_INT(buf_append_str(&msg, "nocolon"), 0);
		CHECK_INT(buf_append_str(&msg, "\r\n"), 0);
		CHECK_INT(buf_append(&want, msg.data + start,
		    msg.len - start), 0);
	}
	/* and the short fields after them are still judged */
	CHECK_INT(buf_append_str(&msg,
	    "Authentication-Results: mx.example.com; x=y\r\n"
	    "Subject: after\r\n\r\nbody\r\n"), 0);
	CHECK_INT(buf_append_str(&want, "Subject: after\r\n\r\nbody\r\n"), 0);
	for (i = 1; i <= 97; i += 8) {
		run((const char *)msg.data, msg.len, 0, i, 100, &got, &r);
		CHECK_MEM(got.data, got.len, want.data, want.len);
		CHECK_INT(r, 3);
		buf_fini(&got);
	}
	/* in one piece */
	run((const char *)msg.data, msg.len, 0, msg.len, 100, &got, &r);
	CHECK_MEM(got.data, got.len, want.data, want.len);
	CHECK_INT(r, 3);
	buf_fini(&got);
	buf_fini(&msg);
	buf_fini(&want);
}

/* a header section far larger than the field limit streams */
static void
test_big_header(void)
{
	struct buf msg, got, want;
	unsigned r, removed = 0;
	size_t i;

	buf_init(&msg, 4u * 1024 * 1024);
	for (i = 0; i < 20000; i++)
		CHECK_INT(buf_printf(&msg, i % 100 == 0 ?
		    "Authentication-Results: mx.example.com; n=%zu\r\n" :
		    "X-Field-%zu: some value\r\n\tfolded\r\n", i), 0);
	CHECK_INT(buf_append_str(&msg, "\r\nbody\r\n"), 0);
	buf_init(&want, msg.len + 1);
	CHECK_INT(policy_strip_ar(buf_span(&msg), ID, &want, &removed), 0);
	CHECK_INT(removed, 200);
	run((const char *)msg.data, msg.len, 0, 4096, 128, &got, &r);
	CHECK_MEM(got.data, got.len, want.data, want.len);
	CHECK_INT(r, 200);
	buf_fini(&got);
	buf_fini(&want);
	buf_fini(&msg);
}

static void
test_output_error_sticks(void)
{
	struct sink s;
	struct ar_filter *f;

	memset(&s, 0, sizeof(s));
	buf_init(&s.out, 1000);
	s.fail_after = 1;
	f = ar_filter_new(ID, 1000, sink_out, &s);
	CHECK_INT(ar_filter_input(f, "A: 1\r\nB: 2\r\n", 12), 0);
	CHECK_INT(ar_filter_input(f, "C: 3\r\n", 6), -1);
	CHECK_INT(ar_filter_input(f, "\r\nbody", 6), -1);
	CHECK_INT(ar_filter_finish(f), -1);
	CHECK_STR(buf_cstr(&s.out), "A: 1\r\n");
	ar_filter_free(&f);
	ar_filter_free(&f);	/* NULL: no-op */
	buf_fini(&s.out);
}

static const struct test_case cases[] = {
	TEST(test_exact_output),
	TEST(test_split_everywhere),
	TEST(test_no_blank_line),
	TEST(test_held_until_known),
	TEST(test_past_the_limit),
	TEST(test_big_header),
	TEST(test_output_error_sticks),
};

TEST_MAIN(cases)
