/*
 * mime_decode_test.c - unit tests for the transfer decoders, encoders and
 * charset conversion.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "mime/mime_decode.h"
#include "../../tests/lib/test.h"

static int
b64(const char *in, struct buf *out, bool *err)
{
	buf_reset(out);
	return mime_base64_decode(span_from_str(in), out, err);
}

static void
test_base64(void)
{
	struct buf b;
	bool err = false;

	buf_init(&b, 1024);
	CHECK_INT(b64("SGVsbG8gd29ybGQ=", &b, &err), 0);
	CHECK_STR(buf_cstr(&b), "Hello world");
	CHECK(!err);
	/* line breaks and blanks are skipped silently */
	CHECK_INT(b64("SGVs\r\nbG8g\n d29y bGQ=\r\n", &b, &err), 0);
	CHECK_STR(buf_cstr(&b), "Hello world");
	CHECK(!err);
	/* junk is skipped but reported */
	CHECK_INT(b64("SGVs!!bG8*gd29ybGQ=", &b, &err), 0);
	CHECK_STR(buf_cstr(&b), "Hello world");
	CHECK(err);
	/* missing padding keeps the last bytes */
	CHECK_INT(b64("SGVsbG8gd29ybGQ", &b, &err), 0);
	CHECK_STR(buf_cstr(&b), "Hello world");
	CHECK(err);
	CHECK_INT(b64("SGk", &b, &err), 0);
	CHECK_STR(buf_cstr(&b), "Hi");
	/* concatenated padded blocks */
	CHECK_INT(b64("SGk=SGk=", &b, &err), 0);
	CHECK_STR(buf_cstr(&b), "HiHi");
	CHECK_INT(b64("", &b, &err), 0);
	CHECK_INT(b.len, 0);
	/* a single stray character is dropped */
	CHECK_INT(b64("SGk=Q", &b, &err), 0);
	CHECK_STR(buf_cstr(&b), "Hi");
	CHECK(err);
	buf_fini(&b);
}

static void
test_base64_limit(void)
{
	struct buf b;

	/* 16 chars decode to 12 bytes: limit 12 fits, 11 does not */
	buf_init(&b, 12);
	CHECK_INT(mime_base64_decode(SPAN_LIT("AAAAAAAAAAAAAAAA"), &b, NULL),
	    0);
	CHECK_INT(b.len, 12);
	buf_fini(&b);
	buf_init(&b, 11);
	CHECK_INT(mime_base64_decode(SPAN_LIT("AAAAAAAAAAAAAAAA"), &b, NULL),
	    -1);
	CHECK(b.len <= 11);
	buf_fini(&b);
}

static int
qp(const char *in, struct buf *out, bool *err)
{
	buf_reset(out);
	return mime_qp_decode(span_from_str(in), out, err);
}

static void
test_qp(void)
{
	struct buf b;
	bool err = false;

	buf_init(&b, 1024);
	CHECK_INT(qp("caf=C3=A9 =3D x", &b, &err), 0);
	CHECK_STR(buf_cstr(&b), "caf\xc3\xa9 = x");
	CHECK(!err);
	/* lowercase hex */
	CHECK_INT(qp("caf=c3=a9", &b, &err), 0);
	CHECK_STR(buf_cstr(&b), "caf\xc3\xa9");
	/* soft line breaks, CRLF and LF, with padding after the '=' */
	CHECK_INT(qp("soft=\r\nbreak=  \nhere", &b, &err), 0);
	CHECK_STR(buf_cstr(&b), "softbreakhere");
	/* hard line breaks are kept; trailing blanks are dropped */
	CHECK_INT(qp("a  \r\nb\t\nc", &b, &err), 0);
	CHECK_STR(buf_cstr(&b), "a\r\nb\nc");
	/* a bad escape stays literal */
	CHECK_INT(qp("50=%, =XY", &b, &err), 0);
	CHECK_STR(buf_cstr(&b), "50=%, =XY");
	CHECK(err);
	/* '=' at the very end is a soft break */
	CHECK_INT(qp("end=", &b, &err), 0);
	CHECK_STR(buf_cstr(&b), "end");
	buf_fini(&b);
}

static void
test_uuencode(void)
{
	struct buf b;
	struct span name = { NULL, 0 }, block;
	const char *msg = "some text first\r\n"
	    "begin 644 hello.txt\r\n"
	    ".2&5L;&\\L('=O<FQD(0H`\r\n"
	    "`\r\n"
	    "end\r\n"
	    "trailing text\r\n";

	buf_init(&b, 1024);
	CHECK_INT(mime_uu_decode(span_from_str(msg), &b, &name), 1);
	CHECK_STR(buf_cstr(&b), "Hello, world!\n");
	CHECK_MEM(name.p, name.len, "hello.txt", 9);
	CHECK(mime_uu_find(span_from_str(msg), &block, &name));
	CHECK(block.p == (const uint8_t *)msg + 17);
	CHECK_INT(block.len, strlen(msg) - 17 - 15);
	buf_reset(&b);
	CHECK_INT(mime_uu_decode(SPAN_LIT("no block here\n"), &b, &name), 0);
	/* the decode_body entry point */
	buf_reset(&b);
	CHECK_INT(mime_decode_body(MIME_CTE_UUENCODE, span_from_str(msg), &b,
	    NULL), 0);
	CHECK_STR(buf_cstr(&b), "Hello, world!\n");
	buf_fini(&b);
}

static void
test_cte_parse(void)
{
	CHECK_INT(mime_cte_parse(SPAN_LIT(" Base64 ")), MIME_CTE_BASE64);
	CHECK_INT(mime_cte_parse(SPAN_LIT("quoted-printable")), MIME_CTE_QP);
	CHECK_INT(mime_cte_parse(SPAN_LIT("(c) 8BIT")), MIME_CTE_8BIT);
	CHECK_INT(mime_cte_parse(SPAN_LIT("")), MIME_CTE_7BIT);
	CHECK_INT(mime_cte_parse(SPAN_LIT("x-uue")), MIME_CTE_UUENCODE);
	CHECK_INT(mime_cte_parse(SPAN_LIT("binary")), MIME_CTE_BINARY);
	CHECK_INT(mime_cte_parse(SPAN_LIT("x-gzip")), MIME_CTE_UNKNOWN);
	CHECK_STR(mime_cte_name(MIME_CTE_QP), "quoted-printable");
}

static void
test_charset(void)
{
	struct buf b;

	buf_init(&b, 1024);
	CHECK_INT(mime_charset_to_utf8(SPAN_LIT("ISO-8859-1"),
	    SPAN_LIT("caf\xe9"), &b), 0);
	CHECK_STR(buf_cstr(&b), "caf\xc3\xa9");
	buf_reset(&b);
	CHECK_INT(mime_charset_to_utf8(SPAN_LIT("iso-2022-jp"),
	    SPAN_LIT("\x1b$B$3$s$K$A$O\x1b(B"), &b), 0);
	CHECK_STR(buf_cstr(&b), "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab"
	    "\xe3\x81\xa1\xe3\x81\xaf");
	buf_reset(&b);
	CHECK_INT(mime_charset_to_utf8(SPAN_LIT("x-no-such-charset"),
	    SPAN_LIT("abc"), &b), -2);
	CHECK_INT(b.len, 0);
	/* names that are not charset names never reach iconv */
	CHECK(!mime_charset_known(SPAN_LIT("../../etc")));
	CHECK(mime_charset_known(SPAN_LIT("UTF-8")));
	/* an invalid sequence becomes U+FFFD */
	CHECK_INT(mime_charset_to_utf8(SPAN_LIT("shift_jis"),
	    SPAN_LIT("a\x81"), &b), 0);
	CHECK_STR(buf_cstr(&b), "a\xef\xbf\xbd");
	buf_fini(&b);
}

/* A thread converting with iconv, then exiting. */
static void *
charset_thread(void *arg)
{
	struct buf b;
	int *ok = arg;

	buf_init(&b, 256);
	*ok = mime_charset_to_utf8(SPAN_LIT("ISO-8859-1"), SPAN_LIT("\xe9t\xe9"),
	    &b) == 0 && strcmp(buf_cstr(&b), "\xc3\xa9t\xc3\xa9") == 0;
	buf_fini(&b);
	return NULL;
}

/*
 * Worker threads (IMAP, delivery) convert charsets and exit at shutdown:
 * their cached converters must be closed then (LeakSanitizer checks it at
 * the end of this test program).
 */
static void
test_charset_thread_exit(void)
{
	pthread_t t;
	int i, ok;

	for (i = 0; i < 3; i++) {
		ok = 0;
		CHECK_INT(pthread_create(&t, NULL, charset_thread, &ok), 0);
		CHECK_INT(pthread_join(t, NULL), 0);
		CHECK(ok);
	}
}

static void
test_roundtrip(void)
{
	struct buf enc, dec;
	uint8_t data[3000];
	size_t i, n;

	srand(7);
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)rand();
	for (n = 0; n < 40; n++) {
		size_t len = n == 39 ? sizeof(data) : n;

		buf_init(&enc, 1 << 20);
		buf_init(&dec, 1 << 20);
		CHECK_INT(mime_base64_encode(span_make(data, len), 76, &enc),
		    0);
		CHECK_INT(mime_base64_decode(buf_span(&enc), &dec, NULL), 0);
		CHECK_MEM(dec.data, dec.len, data, len);
		buf_reset(&enc);
		buf_reset(&dec);
		CHECK_INT(mime_qp_encode(span_make(data, len), false, &enc),
		    0);
		CHECK_INT(mime_qp_decode(buf_span(&enc), &dec, NULL), 0);
		CHECK_MEM(dec.data, dec.len, data, len);
		/* every encoded line fits in 76 characters */
		{
			size_t col = 0, k, maxcol = 0;

			for (k = 0; k < enc.len; k++) {
				if (enc.data[k] == '\n')
					col = 0;
				else if (enc.data[k] != '\r' && ++col > maxcol)
					maxcol = col;
			}
			CHECK(maxcol <= 76);
		}
		buf_fini(&enc);
		buf_fini(&dec);
	}
}

static void
test_qp_text(void)
{
	struct buf enc, dec;
	const char *t = "From the start\nline with trailing blank \n.\n"
	    "caf\xc3\xa9 = 100%\n";

	buf_init(&enc, 4096);
	buf_init(&dec, 4096);
	CHECK_INT(mime_qp_encode(span_from_str(t), true, &enc), 0);
	CHECK(strstr(buf_cstr(&enc), "=46rom") != NULL);
	CHECK(strstr(buf_cstr(&enc), "blank=20\r\n") != NULL);
	CHECK(strstr(buf_cstr(&enc), "\r\n=2E\r\n") != NULL);
	CHECK_INT(mime_qp_decode(buf_span(&enc), &dec, NULL), 0);
	CHECK_STR(buf_cstr(&dec), "From the start\r\nline with trailing "
	    "blank \r\n.\r\ncaf\xc3\xa9 = 100%\r\n");
	buf_fini(&enc);
	buf_fini(&dec);
}

static const struct test_case cases[] = {
	TEST(test_base64),
	TEST(test_base64_limit),
	TEST(test_qp),
	TEST(test_uuencode),
	TEST(test_cte_parse),
	TEST(test_charset),
	TEST(test_charset_thread_exit),
	TEST(test_roundtrip),
	TEST(test_qp_text),
};

TEST_MAIN(cases)
