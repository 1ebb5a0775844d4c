/*
 * smtp_data_test.c - unit tests for the DATA reader: unstuffing, the end
 * marker, smuggling variants, limits; each case fed whole, one byte at a
 * time and split at every offset, with identical results required.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "smtp/smtp_data.h"
#include "../../tests/lib/test.h"

struct sink {
	struct buf	 out;
	size_t		 writes;
	size_t		 fail_after;	/* 0: never fail */
};

static int
sink_write(void *ctx, const void *p, size_t n)
{
	struct sink *k = ctx;

	k->writes++;
	if (k->fail_after != 0 && k->writes >= k->fail_after)
		return -1;
	return buf_append(&k->out, p, n) < 0 ? -1 : 0;
}

/* the last cut must be the end of the input */
#define ASSERT_CUTS(cuts, ncuts, n) \
	CHECK((ncuts) > 0 && (cuts)[(ncuts) - 1] == (n))

struct result {
	int			 done;	/* 1 if the end marker was found */
	size_t			 used;
	enum smtp_data_error	 error;
	struct buf		 out;
	unsigned		 received;
};

/*
 * run - feeds in[0..n) cut at the given offsets (ascending, ending with
 * n); stops at the end marker like the session does.
 */
static void
run(const struct smtp_data_limits *lim, const uint8_t *in, size_t n,
    const size_t *cuts, size_t ncuts, size_t fail_after, struct result *r)
{
	struct sink k;
	struct smtp_data *d;
	size_t pos = 0, i;

	memset(&k, 0, sizeof(k));
	buf_init(&k.out, 1 << 24);
	k.fail_after = fail_after;
	d = smtp_data_new(lim, sink_write, &k);
	r->done = 0;
	ASSERT_CUTS(cuts, ncuts, n);
	for (i = 0; i < ncuts && !r->done; i++) {
		size_t used = 0;

		r->done = smtp_data_input(d, in + pos, cuts[i] - pos, &used);
		if (!r->done && used != cuts[i] - pos)
			CHECK(!"reader left bytes without ending");
		pos += used;
	}
	r->used = pos;
	r->error = smtp_data_error(d);
	r->received = smtp_data_received(d);
	r->out = k.out;
	smtp_data_free(&d);
}

/*
 * check_all_ways - whole, byte by byte and split at every offset must all
 * agree with the expectation.
 */
static void
check_all_ways(const struct smtp_data_limits *lim, const char *in, size_t n,
    int done, size_t used, enum smtp_data_error err, const char *out,
    size_t outlen)
{
	struct result r;
	size_t *cuts = calloc(n + 2, sizeof(*cuts));
	size_t i, split;

	/* whole */
	cuts[0] = n;
	run(lim, (const uint8_t *)in, n, cuts, 1, 0, &r);
	if (!CHECK_INT(r.done, done) || !CHECK_INT(r.used, used) ||
	    !CHECK_INT(r.error, err) ||
	    (err == SMTP_DATA_OK && !CHECK_MEM(r.out.data, r.out.len, out,
	    outlen)))
		fprintf(stderr, "  whole input: \"%.*s\"\n", (int)n, in);
	buf_fini(&r.out);
	/* one byte at a time */
	for (i = 0; i < n; i++)
		cuts[i] = i + 1;
	if (n == 0)
		cuts[n++] = 0;	/* one empty feed */
	run(lim, (const uint8_t *)in, cuts[n - 1], cuts, n, 0, &r);
	n = cuts[n - 1];
	if (!CHECK_INT(r.done, done) || !CHECK_INT(r.used, used) ||
	    !CHECK_INT(r.error, err) ||
	    (err == SMTP_DATA_OK && !CHECK_MEM(r.out.data, r.out.len, out,
	    outlen)))
		fprintf(stderr, "  bytewise input: \"%.*s\"\n", (int)n, in);
	buf_fini(&r.out);
	/* split at every offset */
	for (split = 0; split <= n; split++) {
		cuts[0] = split;
		cuts[1] = n;
		run(lim, (const uint8_t *)in, n, cuts, 2, 0, &r);
		if (!CHECK_INT(r.done, done) || !CHECK_INT(r.used, used) ||
		    !CHECK_INT(r.error, err) ||
		    (err == SMTP_DATA_OK && !CHECK_MEM(r.out.data, r.out.len,
		    out, outlen)))
			fprintf(stderr, "  split %zu input: \"%.*s\"\n", split,
			    (int)n, in);
		buf_fini(&r.out);
	}
	free(cuts);
}

struct data_case {
	const char		*in;
	int			 done;
	int			 used;	/* -1: all of it */
	enum smtp_data_error	 err;
	const char		*out;
};

static const struct data_case basic_cases[] = {
	{ "hello\r\n.\r\n", 1, -1, SMTP_DATA_OK, "hello\r\n" },
	{ ".\r\n", 1, -1, SMTP_DATA_OK, "" },
	{ "a\r\nb\r\n\r\n.\r\n", 1, -1, SMTP_DATA_OK, "a\r\nb\r\n\r\n" },
	{ "..\r\n.\r\n", 1, -1, SMTP_DATA_OK, ".\r\n" },
	{ "..x\r\n.\r\n", 1, -1, SMTP_DATA_OK, ".x\r\n" },
	{ "...\r\n.\r\n", 1, -1, SMTP_DATA_OK, "..\r\n" },
	/* a leading dot is removed whatever follows (RFC 5321 4.5.2) */
	{ ".x\r\n.\r\n", 1, -1, SMTP_DATA_OK, "x\r\n" },
	{ "a.\r\n.b\r\n.\r\n", 1, -1, SMTP_DATA_OK, "a.\r\nb\r\n" },
	/* the rest after the end marker is not ours */
	{ "x\r\n.\r\nQUIT\r\n", 1, 6, SMTP_DATA_OK, "x\r\n" },
	{ ".\r\n.\r\n", 1, 3, SMTP_DATA_OK, "" },
	/* not finished yet */
	{ "abc\r\n.\r", 0, -1, SMTP_DATA_OK, "" },
	{ "abc\r\n.", 0, -1, SMTP_DATA_OK, "" },
	{ "abc\r\n", 0, -1, SMTP_DATA_OK, "" },
	{ "", 0, -1, SMTP_DATA_OK, "" },
	/* 8-bit text is passed through */
	{ "\xc3\xbc\xff\r\n.\r\n", 1, -1, SMTP_DATA_OK, "\xc3\xbc\xff\r\n" },
};

/* Smuggling: nothing but <CRLF>.<CRLF> ends, and the message is refused. */
static const struct data_case smuggle_cases[] = {
	{ "a\n.\nMAIL FROM:<x@y>\r\n.\r\n", 1, -1, SMTP_DATA_E_BARE_LF,
	    NULL },
	{ "a\n.\r\nMAIL FROM:<x@y>\r\n.\r\n", 1, -1, SMTP_DATA_E_BARE_LF,
	    NULL },
	{ "a\r\n.\nMAIL FROM:<x@y>\r\n.\r\n", 1, -1, SMTP_DATA_E_BARE_LF,
	    NULL },
	{ "a\r.\rMAIL FROM:<x@y>\r\n.\r\n", 1, -1, SMTP_DATA_E_BARE_CR,
	    NULL },
	{ "a\r\n.\rMAIL FROM:<x@y>\r\n.\r\n", 1, -1, SMTP_DATA_E_BARE_CR,
	    NULL },
	{ "a\r.\r\nMAIL FROM:<x@y>\r\n.\r\n", 1, -1, SMTP_DATA_E_BARE_CR,
	    NULL },
	{ "a\r\r\n.\r\n", 1, -1, SMTP_DATA_E_BARE_CR, NULL },
	{ "a\r\n.\r\r\n.\r\n", 1, -1, SMTP_DATA_E_BARE_CR, NULL },
	{ "\n.\r\n.\r\n", 1, -1, SMTP_DATA_E_BARE_LF, NULL },
	{ "\n.\n", 0, -1, SMTP_DATA_E_BARE_LF, NULL },
	{ "a\n.\n", 0, -1, SMTP_DATA_E_BARE_LF, NULL },
	{ "a\r\n.\n", 0, -1, SMTP_DATA_E_BARE_LF, NULL },
	{ "a\n.\r\n", 0, -1, SMTP_DATA_E_BARE_LF, NULL },
	{ "a\r.\r", 0, -1, SMTP_DATA_E_BARE_CR, NULL },
	{ "x\ny\r\n.\r\n", 1, -1, SMTP_DATA_E_BARE_LF, NULL },
};

static void
run_cases(const struct data_case *cases, size_t ncases,
    const struct smtp_data_limits *lim)
{
	size_t i;

	for (i = 0; i < ncases; i++) {
		const struct data_case *c = &cases[i];
		size_t n = strlen(c->in);

		check_all_ways(lim, c->in, n, c->done,
		    c->used < 0 ? n : (size_t)c->used, c->err, c->out,
		    c->out != NULL ? strlen(c->out) : 0);
	}
}

static void
test_basic(void)
{
	struct smtp_data_limits lim = { 0, 0, 0, false };

	run_cases(basic_cases, sizeof(basic_cases) / sizeof(basic_cases[0]),
	    &lim);
}

static void
test_smuggling(void)
{
	struct smtp_data_limits lim = { 0, 0, 0, false };

	run_cases(smuggle_cases, sizeof(smuggle_cases) /
	    sizeof(smuggle_cases[0]), &lim);
}

static void
test_nul(void)
{
	struct smtp_data_limits lim = { 0, 0, 0, false };
	static const char in[] = "a\0b\r\n.\r\n";

	check_all_ways(&lim, in, sizeof(in) - 1, 1, sizeof(in) - 1,
	    SMTP_DATA_E_NUL, NULL, 0);
	lim.allow_nul = true;	/* BINARYMIME */
	check_all_ways(&lim, in, sizeof(in) - 1, 1, sizeof(in) - 1,
	    SMTP_DATA_OK, "a\0b\r\n", 5);
}

/* Text line limit 10 incl. CRLF: 9, 10 and 11 octets. */
static void
test_line_limit(void)
{
	struct smtp_data_limits lim = { 0, 10, 0, false };

	check_all_ways(&lim, "1234567\r\n.\r\n", 12, 1, 12, SMTP_DATA_OK,
	    "1234567\r\n", 9);
	check_all_ways(&lim, "12345678\r\n.\r\n", 13, 1, 13, SMTP_DATA_OK,
	    "12345678\r\n", 10);
	check_all_ways(&lim, "123456789\r\n.\r\n", 14, 1, 14,
	    SMTP_DATA_E_LINE, NULL, 0);
	/* the transparency dot does not count (RFC 5321 4.5.3.1.6) */
	check_all_ways(&lim, "..2345678\r\n.\r\n", 14, 1, 14, SMTP_DATA_OK,
	    ".2345678\r\n", 10);
	/* the limit is per line */
	check_all_ways(&lim, "12345678\r\n12345678\r\n.\r\n", 23, 1, 23,
	    SMTP_DATA_OK, "12345678\r\n12345678\r\n", 20);
}

/* Message size limit 10: 9, 10 and 11 octets after unstuffing. */
static void
test_size_limit(void)
{
	struct smtp_data_limits lim = { 10, 0, 0, false };

	check_all_ways(&lim, "1234567\r\n.\r\n", 12, 1, 12, SMTP_DATA_OK,
	    "1234567\r\n", 9);
	check_all_ways(&lim, "12345678\r\n.\r\n", 13, 1, 13, SMTP_DATA_OK,
	    "12345678\r\n", 10);
	check_all_ways(&lim, "123456789\r\n.\r\n", 14, 1, 14,
	    SMTP_DATA_E_SIZE, NULL, 0);
	/* stuffed dots are not counted */
	check_all_ways(&lim, "..\r\n..\r\n.\r\n", 11, 1, 11, SMTP_DATA_OK,
	    ".\r\n.\r\n", 6);
	/* keeps draining to the real end after the limit */
	check_all_ways(&lim, "123456789\r\n123456789\r\n.\r\nNOOP", 25, 1, 25,
	    SMTP_DATA_E_SIZE, NULL, 0);
}

static void
test_size_stops_writing(void)
{
	struct smtp_data_limits lim = { 20000, 0, 0, false };
	struct result r;
	struct buf in;
	size_t cut, i;

	buf_init(&in, 1 << 20);
	for (i = 0; i < 400; i++)
		CHECK_INT(buf_append_str(&in, "0123456789012345678901234567890"
		    "123456789012345678901234567890123456789012345678\r\n"), 0);
	CHECK_INT(buf_append_str(&in, ".\r\n"), 0);
	cut = in.len;
	run(&lim, in.data, in.len, &cut, 1, 0, &r);
	CHECK_INT(r.done, 1);
	CHECK_INT(r.error, SMTP_DATA_E_SIZE);
	/* whatever was written before the limit is at most the limit */
	CHECK(r.out.len <= 20000);
	buf_fini(&r.out);
	buf_fini(&in);
}

/* Received: loop detection with max_received 2. */
static void
test_received(void)
{
	struct smtp_data_limits lim = { 0, 0, 2, false };
	struct result r;
	size_t cut;
	static const char two[] =
	    "Received: a\r\nreceived : b\r\nX-Received: c\r\n"
	    "Subject: Received: d\r\n\r\nReceived: e\r\n.\r\n";
	static const char three[] =
	    "Received: a\r\nSubject: x\r\nRECEIVED:b\r\nReceived:\tc\r\n"
	    "\r\nbody\r\n.\r\n";
	static const char stuffed[] =
	    ".Received: a\r\nReceived: b\r\nReceived: c\r\n\r\n.\r\n";
	static const char folded[] =
	    "Received: a\r\n Received: b\r\nReceivedX: c\r\n"
	    "Received-SPF: d\r\n\r\n.\r\n";

	check_all_ways(&lim, two, sizeof(two) - 1, 1, sizeof(two) - 1,
	    SMTP_DATA_OK, two, sizeof(two) - 1 - 3);
	cut = sizeof(two) - 1;
	run(&lim, (const uint8_t *)two, cut, &cut, 1, 0, &r);
	CHECK_INT(r.received, 2);
	buf_fini(&r.out);
	check_all_ways(&lim, three, sizeof(three) - 1, 1, sizeof(three) - 1,
	    SMTP_DATA_E_LOOP, NULL, 0);
	check_all_ways(&lim, stuffed, sizeof(stuffed) - 1, 1,
	    sizeof(stuffed) - 1, SMTP_DATA_E_LOOP, NULL, 0);
	cut = sizeof(folded) - 1;
	run(&lim, (const uint8_t *)folded, cut, &cut, 1, 0, &r);
	CHECK_INT(r.error, SMTP_DATA_OK);
	CHECK_INT(r.received, 1);
	buf_fini(&r.out);
}

/* A large message streams out in several chunks, byte-identical. */
static void
test_large(void)
{
	struct smtp_data_limits lim = { 0, 0, 0, false };
	struct result r;
	struct buf in, want;
	size_t cuts[64], n = 0, i, pos;
	struct sink k;
	struct smtp_data *d;

	buf_init(&in, 1 << 22);
	buf_init(&want, 1 << 22);
	for (i = 0; i < 3000; i++) {
		char line[128];

		snprintf(line, sizeof(line), "%sline %zu of the message, some "
		    "text to make it longer\r\n", i % 7 == 0 ? "." : "", i);
		CHECK_INT(buf_append_str(&in, i % 7 == 0 ? "." : ""), 0);
		CHECK_INT(buf_append_str(&in, line), 0);
		CHECK_INT(buf_append_str(&want, line), 0);
	}
	CHECK_INT(buf_append_str(&in, ".\r\n"), 0);
	for (pos = 997; pos < in.len && n < 63; pos += 4099)
		cuts[n++] = pos;
	cuts[n++] = in.len;
	run(&lim, in.data, in.len, cuts, n, 0, &r);
	CHECK_INT(r.done, 1);
	CHECK_INT(r.error, SMTP_DATA_OK);
	CHECK_MEM(r.out.data, r.out.len, want.data, want.len);
	buf_fini(&r.out);

	/* more than one write call */
	memset(&k, 0, sizeof(k));
	buf_init(&k.out, 1 << 22);
	d = smtp_data_new(&lim, sink_write, &k);
	CHECK_INT(smtp_data_input(d, in.data, in.len, &pos), 1);
	CHECK(k.writes > 1);
	CHECK_INT(smtp_data_size(d), want.len);
	smtp_data_free(&d);
	buf_fini(&k.out);

	/* the write function fails: reported as a local error */
	cuts[0] = in.len;
	run(&lim, in.data, in.len, cuts, 1, 2, &r);
	CHECK_INT(r.done, 1);
	CHECK_INT(r.used, in.len);
	CHECK_INT(r.error, SMTP_DATA_E_WRITE);
	buf_fini(&r.out);
	buf_fini(&in);
	buf_fini(&want);
}

static void
test_replies(void)
{
	struct smtp_data_limits lim = { 10, 0, 0, false };
	struct smtp_reply rep;
	struct result r;
	struct sink k;
	struct smtp_data *d;
	size_t used;

	memset(&k, 0, sizeof(k));
	buf_init(&k.out, 1024);
	d = smtp_data_new(&lim, sink_write, &k);
	CHECK_INT(smtp_data_input(d, (const uint8_t *)"x\r\n.\r\n", 6,
	    &used), 1);
	CHECK_INT(smtp_data_result(d, &rep), 0);
	smtp_data_free(&d);
	d = smtp_data_new(&lim, sink_write, &k);
	CHECK_INT(smtp_data_input(d, (const uint8_t *)"xxxxxxxxxxxx\r\n.\r\n",
	    17, &used), 1);
	CHECK_INT(smtp_data_result(d, &rep), -1);
	CHECK_INT(rep.code, 552);
	CHECK_STR(rep.enh, "5.3.4");
	smtp_data_free(&d);
	d = smtp_data_new(&lim, sink_write, &k);
	CHECK_INT(smtp_data_input(d, (const uint8_t *)"x\n\r\n.\r\n", 7,
	    &used), 1);
	CHECK_INT(smtp_data_result(d, &rep), -1);
	CHECK_INT(rep.code, 554);
	CHECK_STR(rep.enh, "5.6.0");
	smtp_data_free(&d);
	buf_fini(&k.out);
	(void)r;
}

static const struct test_case cases[] = {
	TEST(test_basic),
	TEST(test_smuggling),
	TEST(test_nul),
	TEST(test_line_limit),
	TEST(test_size_limit),
	TEST(test_size_stops_writing),
	TEST(test_received),
	TEST(test_large),
	TEST(test_replies),
};

TEST_MAIN(cases)
