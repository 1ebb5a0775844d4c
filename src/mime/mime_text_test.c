/*
 * mime_text_test.c - unit tests for mime_text_extract(): plain,
 * multipart/alternative, base64 and quoted-printable bodies, charsets,
 * RFC 2047 headers, nested messages, attachments and ceilings.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/postino_limits.h"
#include "mime/mime_text.h"
#include "../../tests/lib/test.h"

/* extract - runs the extraction with big ceilings into h and b */
static int
extract(const char *msg, struct buf *h, struct buf *b)
{
	buf_init(h, MIME_TEXT_MAX_HEADER);
	buf_init(b, MIME_TEXT_MAX_BODY);
	return mime_text_extract(msg, strlen(msg), h, b);
}

static void
test_plain(void)
{
	struct buf h, b;
	const char *msg =
	    "From: Alice <alice@example.org>\r\n"
	    "To: bob@example.org\r\n"
	    "Subject: lunch\r\n"
	    " tomorrow?\r\n"
	    "\r\n"
	    "Shall we meet at noon?\r\n";

	CHECK_INT(extract(msg, &h, &b), 0);
	CHECK_STR(buf_cstr(&h),
	    "From: Alice <alice@example.org>\n"
	    "To: bob@example.org\n"
	    "Subject: lunch tomorrow?\n");
	CHECK_STR(buf_cstr(&b), "Shall we meet at noon?\r\n");
	buf_fini(&h);
	buf_fini(&b);

	/* bare LF, no body at all, and NULL buffers */
	CHECK_INT(extract("Subject: x\n", &h, &b), 0);
	CHECK_STR(buf_cstr(&h), "Subject: x\n");
	CHECK_INT(b.len, 0);
	CHECK_INT(mime_text_extract("Subject: x\n\nhi\n", 15, NULL, &b), 0);
	CHECK_STR(buf_cstr(&b), "hi\n");
	CHECK_INT(mime_text_extract("Subject: x\n\nhi\n", 15, &h, NULL), 0);
	CHECK_STR(buf_cstr(&h), "Subject: x\nSubject: x\n");
	CHECK_INT(mime_text_extract("", 0, &h, &b), 0);
	buf_fini(&h);
	buf_fini(&b);
}

static void
test_alternative(void)
{
	struct buf h, b;
	const char *msg =
	    "Subject: alt\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/alternative; boundary=\"XX\"\r\n"
	    "\r\n"
	    "preamble is not text\r\n"
	    "--XX\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "\r\n"
	    "plain version\r\n"
	    "--XX\r\n"
	    "Content-Type: text/html; charset=utf-8\r\n"
	    "\r\n"
	    "<p>html version</p>\r\n"
	    "--XX--\r\n"
	    "epilogue\r\n";

	CHECK_INT(extract(msg, &h, &b), 0);
	CHECK_STR(buf_cstr(&b), "plain version\n<p>html version</p>");
	CHECK(strstr(buf_cstr(&b), "preamble") == NULL);
	CHECK(strstr(buf_cstr(&b), "epilogue") == NULL);
	CHECK(strstr(buf_cstr(&h), "Content-Type: multipart/alternative;") !=
	    NULL);
	buf_fini(&h);
	buf_fini(&b);
}

static void
test_base64_qp(void)
{
	struct buf h, b;
	/* "Grüße aus Köln" in UTF-8, base64 */
	const char *b64 =
	    "Content-Type: text/plain; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n"
	    "R3LDvMOfZSBhdXMg\r\n"
	    "S8O2bG4=\r\n";
	const char *qp =
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "soft=\r\n"
	    "break and =C3=A9t=C3=A9 =3D equal\r\n";

	CHECK_INT(extract(b64, &h, &b), 0);
	CHECK_STR(buf_cstr(&b), "Grüße aus Köln");
	CHECK(strstr(buf_cstr(&b), "R3LD") == NULL);
	buf_fini(&h);
	buf_fini(&b);

	CHECK_INT(extract(qp, &h, &b), 0);
	CHECK_STR(buf_cstr(&b), "softbreak and été = equal\r\n");
	buf_fini(&h);
	buf_fini(&b);
}

static void
test_charsets(void)
{
	struct buf h, b;
	/* ISO-8859-1 "café crème" as 8bit */
	const char *latin1 =
	    "Content-Type: text/plain; charset=\"ISO-8859-1\"\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "caf\xe9 cr\xe8me\r\n";
	/* the same as quoted-printable */
	const char *latin1qp =
	    "Content-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "caf=E9 cr=E8me\r\n";
	const char *utf8 =
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "\r\n"
	    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\r\n";
	const char *unknown =
	    "Content-Type: text/plain; charset=x-no-such-charset\r\n"
	    "\r\n"
	    "abc\xff\r\n";

	CHECK_INT(extract(latin1, &h, &b), 0);
	CHECK_STR(buf_cstr(&b), "café crème\r\n");
	buf_fini(&h);
	buf_fini(&b);
	CHECK_INT(extract(latin1qp, &h, &b), 0);
	CHECK_STR(buf_cstr(&b), "café crème\r\n");
	buf_fini(&h);
	buf_fini(&b);
	CHECK_INT(extract(utf8, &h, &b), 0);
	CHECK_STR(buf_cstr(&b), "Привет\r\n");
	buf_fini(&h);
	buf_fini(&b);
	CHECK_INT(extract(unknown, &h, &b), 0);
	CHECK_STR(buf_cstr(&b), "abc\xff\r\n");	/* bytes kept */
	buf_fini(&h);
	buf_fini(&b);
}

static void
test_rfc2047(void)
{
	struct buf h, b;
	const char *msg =
	    "From: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>\r\n"
	    "Subject: =?UTF-8?B?w6l0w6k=?= =?UTF-8?Q?_=C3=A0_Paris?=\r\n"
	    "X-Plain: not =?encoded\r\n"
	    "\r\n"
	    "x\r\n";

	CHECK_INT(extract(msg, &h, &b), 0);
	CHECK_STR(buf_cstr(&h),
	    "From: André Pirard <PIRARD@vm1.ulg.ac.be>\n"
	    "Subject: été à Paris\n"
	    "X-Plain: not =?encoded\n");
	buf_fini(&h);
	buf_fini(&b);
}

static void
test_nested_message(void)
{
	struct buf h, b;
	const char *msg =
	    "Subject: outer\r\n"
	    "Content-Type: multipart/mixed; boundary=b1\r\n"
	    "\r\n"
	    "--b1\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "see the forwarded message\r\n"
	    "--b1\r\n"
	    "Content-Type: message/rfc822\r\n"
	    "\r\n"
	    "Subject: =?utf-8?q?inner_=C3=BC?=\r\n"
	    "From: carol@example.org\r\n"
	    "Content-Type: multipart/mixed; boundary=b2\r\n"
	    "\r\n"
	    "--b2\r\n"
	    "Content-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "inner text =FC\r\n"
	    "--b2\r\n"
	    "Content-Type: image/png; name=\"pic.png\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n"
	    "iVBORw0KGgo=\r\n"
	    "--b2--\r\n"
	    "--b1--\r\n";

	CHECK_INT(extract(msg, &h, &b), 0);
	CHECK_STR(buf_cstr(&h),
	    "Subject: outer\n"
	    "Content-Type: multipart/mixed; boundary=b1\n");
	CHECK_STR(buf_cstr(&b),
	    "see the forwarded message\n"
	    "Subject: inner ü\n"
	    "From: carol@example.org\n"
	    "Content-Type: multipart/mixed; boundary=b2\n"
	    "inner text ü\n"
	    "pic.png\n");
	CHECK(strstr(buf_cstr(&b), "iVBOR") == NULL);
	buf_fini(&h);
	buf_fini(&b);
}

static void
test_attachments(void)
{
	struct buf h, b;
	const char *msg =
	    "Content-Type: multipart/mixed; boundary=\"=_b\"\r\n"
	    "\r\n"
	    "--=_b\r\n"
	    "\r\n"
	    "body first\r\n"
	    "--=_b\r\n"
	    "Content-Type: application/pdf\r\n"
	    "Content-Disposition: attachment;\r\n"
	    " filename*=UTF-8''R%C3%A9sum%C3%A9.pdf\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n"
	    "JVBERi0xLjQKc2VjcmV0\r\n"
	    "--=_b\r\n"
	    "Content-Type: application/octet-stream;\r\n"
	    " name=\"=?utf-8?q?donn=C3=A9es?=.bin\"\r\n"
	    "\r\n"
	    "binary words here\r\n"
	    "--=_b\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "\r\n"
	    "nameless\r\n"
	    "--=_b\r\n"
	    "Content-Type: text/plain; name=notes.txt\r\n"
	    "Content-Disposition: attachment\r\n"
	    "\r\n"
	    "note text\r\n"
	    "--=_b--\r\n";

	CHECK_INT(extract(msg, &h, &b), 0);
	CHECK_STR(buf_cstr(&b),
	    "body first\n"
	    "Résumé.pdf\n"
	    "données.bin\n"
	    "notes.txt\n"
	    "note text");
	CHECK(strstr(buf_cstr(&b), "secret") == NULL);
	CHECK(strstr(buf_cstr(&b), "binary") == NULL);
	CHECK(strstr(buf_cstr(&b), "nameless") == NULL);
	buf_fini(&h);
	buf_fini(&b);
}

static void
test_nul_and_uuencode_cte(void)
{
	struct buf h, b;
	static const char msg[] =
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "a\0b\r\n";
	const char *uu =
	    "Content-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: x-uuencode\r\n"
	    "\r\n"
	    "begin 644 f.txt\r\n"
	    "#86)C\r\n"
	    "`\r\n"
	    "end\r\n";

	buf_init(&h, 1000);
	buf_init(&b, 1000);
	CHECK_INT(mime_text_extract(msg, sizeof(msg) - 1, &h, &b), 0);
	CHECK_MEM(b.data, b.len, "a b\r\n", (size_t)5);
	buf_fini(&h);
	buf_fini(&b);
	CHECK_INT(extract(uu, &h, &b), 0);
	CHECK_STR(buf_cstr(&b), "abc");
	buf_fini(&h);
	buf_fini(&b);
}

/* a uuencoded file inside plain text is an attachment: its name only */
static void
test_inline_uuencode(void)
{
	struct buf h, b;
	const char *msg =
	    "Subject: uu\r\n"
	    "\r\n"
	    "see the file\r\n"
	    "begin 644 data.bin\r\n"
	    "#86)C\r\n"
	    "`\r\n"
	    "end\r\n"
	    "and the rest\r\n"
	    "begin 600 second.txt\r\n"
	    "#86)C\r\n";

	CHECK_INT(extract(msg, &h, &b), 0);
	CHECK_STR(buf_cstr(&b), "see the file\r\ndata.bin\n"
	    "and the rest\r\nsecond.txt\n");
	buf_fini(&h);
	buf_fini(&b);
	/* "begin" as a word is no block */
	CHECK_INT(extract("\r\nbegin here\r\nbegin 6x4 a\r\n", &h, &b), 0);
	CHECK_STR(buf_cstr(&b), "begin here\r\nbegin 6x4 a\r\n");
	buf_fini(&h);
	buf_fini(&b);
}

/* limits: a ceiling cuts the text (never inside a UTF-8 sequence), and
 * it is no error */
static void
test_limits(void)
{
	struct buf h, b;
	const char *msg =
	    "Subject: 0123456789\r\n"
	    "To: x\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "\r\n"
	    "abcd\xc3\xa9" "fgh\r\n";
	size_t full_body = 11;	/* "abcdéfgh\r\n" */

	/* body ceiling at limit-1, limit, limit+1 */
	buf_init(&b, full_body - 1);
	CHECK_INT(mime_text_extract(msg, strlen(msg), NULL, &b), 0);
	CHECK_STR(buf_cstr(&b), "abcd\xc3\xa9" "fgh\r");
	buf_fini(&b);
	buf_init(&b, full_body);
	CHECK_INT(mime_text_extract(msg, strlen(msg), NULL, &b), 0);
	CHECK_STR(buf_cstr(&b), "abcd\xc3\xa9" "fgh\r\n");
	buf_fini(&b);
	buf_init(&b, full_body + 1);
	CHECK_INT(mime_text_extract(msg, strlen(msg), NULL, &b), 0);
	CHECK_STR(buf_cstr(&b), "abcd\xc3\xa9" "fgh\r\n");
	buf_fini(&b);
	/* a cut inside "é" drops its first byte too */
	buf_init(&b, 5);
	CHECK_INT(mime_text_extract(msg, strlen(msg), NULL, &b), 0);
	CHECK_STR(buf_cstr(&b), "abcd");
	buf_fini(&b);
	buf_init(&b, 6);
	CHECK_INT(mime_text_extract(msg, strlen(msg), NULL, &b), 0);
	CHECK_STR(buf_cstr(&b), "abcd\xc3\xa9");
	buf_fini(&b);
	buf_init(&b, 0);
	CHECK_INT(mime_text_extract(msg, strlen(msg), NULL, &b), 0);
	CHECK_INT(b.len, 0);
	buf_fini(&b);

	/* header ceiling: "Subject: 0123456789\n" is 20 bytes */
	buf_init(&h, 15);
	CHECK_INT(mime_text_extract(msg, strlen(msg), &h, NULL), 0);
	CHECK_STR(buf_cstr(&h), "Subject: 012345");
	buf_fini(&h);
	buf_init(&h, 20);
	CHECK_INT(mime_text_extract(msg, strlen(msg), &h, NULL), 0);
	CHECK_STR(buf_cstr(&h), "Subject: 0123456789\n");
	buf_fini(&h);
	buf_init(&h, 23);
	CHECK_INT(mime_text_extract(msg, strlen(msg), &h, NULL), 0);
	CHECK_STR(buf_cstr(&h), "Subject: 0123456789\nTo:");
	buf_fini(&h);
}

/* a large base64 attachment-like text part is decoded only as far as
 * the ceiling reaches */
static void
test_big_body(void)
{
	struct buf b, msg;
	size_t i;

	buf_init(&msg, 4u * 1024 * 1024);
	CHECK_INT(buf_append_str(&msg, "Content-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"), 0);
	for (i = 0; i < 40000; i++)	/* "hello world\n" x 3 per line */
		CHECK_INT(buf_append_str(&msg, "aGVsbG8gd29ybGQKaGVsbG8gd29y"
		    "bGQKaGVsbG8gd29ybGQK\r\n"), 0);
	buf_init(&b, 1000);
	CHECK_INT(mime_text_extract(msg.data, msg.len, NULL, &b), 0);
	CHECK_INT(b.len, 1000);
	CHECK(memcmp(b.data, "hello world\nhello world\n", 24) == 0);
	buf_fini(&b);
	buf_fini(&msg);
}

static const struct test_case cases[] = {
	TEST(test_plain),
	TEST(test_alternative),
	TEST(test_base64_qp),
	TEST(test_charsets),
	TEST(test_rfc2047),
	TEST(test_nested_message),
	TEST(test_attachments),
	TEST(test_nul_and_uuencode_cte),
	TEST(test_inline_uuencode),
	TEST(test_limits),
	TEST(test_big_body),
};

TEST_MAIN(cases)
