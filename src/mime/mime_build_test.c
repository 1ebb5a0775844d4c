/*
 * mime_build_test.c - the builder, checked by reading its output back
 * with the parser (round trip) and by line-length and boundary rules.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/buf.h"
#include "mime/mime_address.h"
#include "mime/mime_build.h"
#include "mime/mime_header.h"
#include "mime/mime_parse.h"
#include "../../tests/lib/test.h"

/* every line ends in CRLF, fits in 998 octets, and is 7-bit */
static void
check_lines(struct span s, size_t hdr_max)
{
	size_t i, col = 0, max = 0, hdr_end;
	const uint8_t *e = memmem(s.p, s.len, "\r\n\r\n", 4);

	hdr_end = e != NULL ? (size_t)(e - s.p) : s.len;
	for (i = 0; i < s.len; i++) {
		CHECK(s.p[i] < 0x80);
		if (s.p[i] == '\n') {
			CHECK(i > 0 && s.p[i - 1] == '\r');
			col = 0;
			continue;
		}
		if (s.p[i] == '\r')
			continue;
		col++;
		CHECK(col <= 998);
		if (i < hdr_end && col > max)
			max = col;
	}
	CHECK(max <= hdr_max);
}

static void
test_header_encoding(void)
{
	struct buf b;
	struct arena *a = arena_new("t", 4096, 1 << 20);
	struct span v;
	const char *subj = "R\xc3\xa9sum\xc3\xa9 of the caf\xc3\xa9 meeting, "
	    "with a long tail of words so that the encoded words must be "
	    "folded over several lines \xe2\x82\xac\xe2\x82\xac\xe2\x82\xac";

	buf_init(&b, 1 << 16);
	CHECK_INT(mime_build_header(&b, "Subject", subj), 0);
	check_lines(buf_span(&b), 78);
	CHECK(mime_header_find(buf_span(&b), "subject", &v));
	CHECK_STR(mime_header_decode_a(a, v), subj);
	/* plain ASCII is folded, not encoded */
	buf_reset(&b);
	CHECK_INT(mime_build_header(&b, "Subject", "a b c d e f g h i j k l "
	    "m n o p q r s t u v w x y z a b c d e f g h i j k l m n o p"), 0);
	CHECK(strstr(buf_cstr(&b), "=?") == NULL);
	CHECK(strstr(buf_cstr(&b), "\r\n ") != NULL);
	check_lines(buf_span(&b), 78);
	/* text that looks like an encoded word is protected */
	buf_reset(&b);
	CHECK_INT(mime_build_header(&b, "Subject", "=?utf-8?q?x?="), 0);
	CHECK(mime_header_find(buf_span(&b), "subject", &v));
	CHECK_STR(mime_header_decode_a(a, v), "=?utf-8?q?x?=");
	buf_fini(&b);
	arena_free(&a);
}

static void
test_address_header(void)
{
	struct buf b;
	struct arena *a = arena_new("t", 4096, 1 << 20);
	struct mime_address *ad;
	struct span v;

	buf_init(&b, 1 << 16);
	CHECK_INT(mime_build_address_header(&b, "To", "J\xc3\xb6rg "
	    "M\xc3\xbcller <joerg@example.org>, \"Doe, John\" "
	    "<jd@example.org>, plain@example.org"), 0);
	check_lines(buf_span(&b), 78);
	CHECK(mime_header_find(buf_span(&b), "to", &v));
	ad = mime_address_parse(v, a, 10);
	CHECK_INT(mime_address_count(ad), 3);
	CHECK_STR(mime_header_decode_a(a, span_from_str(ad->name)),
	    "J\xc3\xb6rg M\xc3\xbcller");
	CHECK_STR(ad->next->name, "Doe, John");
	CHECK_STR(ad->next->next->mailbox, "plain");
	/* groups survive, the empty one too */
	buf_reset(&b);
	CHECK_INT(mime_build_address_header(&b, "To", "Team: a@x.example, "
	    "b@x.example;, undisclosed-recipients:;, c@x.example"), 0);
	CHECK_STR(buf_cstr(&b), "To: Team: a@x.example, b@x.example;, "
	    "undisclosed-recipients:;, c@x.example\r\n");
	buf_fini(&b);
	arena_free(&a);
}

static void
test_choose_cte(void)
{
	CHECK_INT(mime_build_choose_cte(SPAN_LIT("plain\r\ntext\n"), true),
	    MIME_CTE_7BIT);
	CHECK_INT(mime_build_choose_cte(SPAN_LIT("caf\xc3\xa9\n"), true),
	    MIME_CTE_QP);
	CHECK_INT(mime_build_choose_cte(SPAN_LIT("\xff\xfe\xfd\x00"), false),
	    MIME_CTE_BASE64);
	CHECK_INT(mime_build_choose_cte(SPAN_LIT("bare\rcr"), true),
	    MIME_CTE_QP);
	{
		char line[1100];

		memset(line, 'a', sizeof(line) - 1);
		line[sizeof(line) - 1] = '\0';
		CHECK_INT(mime_build_choose_cte(span_from_str(line), true),
		    MIME_CTE_QP);
		line[998] = '\0';
		CHECK_INT(mime_build_choose_cte(span_from_str(line), true),
		    MIME_CTE_7BIT);
	}
}

static void
test_boundary(void)
{
	char a[MIME_BUILD_BOUNDARY_LEN + 1], b[MIME_BUILD_BOUNDARY_LEN + 1];

	mime_build_boundary(a);
	mime_build_boundary(b);
	CHECK_INT(strlen(a), MIME_BUILD_BOUNDARY_LEN);
	CHECK(strcmp(a, b) != 0);
	CHECK(strncmp(a, "=_", 2) == 0);
}

static struct mime_part *
nth(struct mime_part *p, unsigned n)
{
	struct mime_part *c = p->children;

	while (c != NULL && n-- > 0)
		c = c->next;
	return c;
}

static void
check_text(struct mime_message *m, struct mime_part *p, const char *want)
{
	struct buf b;
	size_t i, j = 0;

	buf_init(&b, 1 << 20);
	CHECK_INT(mime_part_text(m, p, &b), 0);
	/* the builder writes CRLF; compare with LF line ends removed */
	for (i = 0; i < b.len; i++) {
		if (b.data[i] != '\r')
			b.data[j++] = b.data[i];
	}
	b.len = j;
	if (b.len > 0 && want[strlen(want) - 1] != '\n' &&
	    b.data[b.len - 1] == '\n')
		b.len--;
	CHECK_MEM(b.data, b.len, want, strlen(want));
	buf_fini(&b);
}

static void
roundtrip(enum mime_cte tcte)
{
	struct mime_build_attachment att[2];
	struct mime_build_msg msg;
	uint8_t bin[5000];
	struct buf out, dec;
	struct mime_message *m;
	struct mime_part *alt, *p;
	struct arena *a = arena_new("t", 4096, 1 << 20);
	struct span v;
	size_t i;
	const char *text = "Hello J\xc3\xb6rg,\nthe file is attached.\n"
	    "From here on, a line that starts with From.\n.\n";
	const char *html = "<p>Hello J\xc3\xb6rg</p>\n";
	const char *long_name = "a very long file name with \xc3\xa9 accents "
	    "that must be split into RFC 2231 continuations.pdf";

	srand(3);
	for (i = 0; i < sizeof(bin); i++)
		bin[i] = (uint8_t)rand();
	memset(att, 0, sizeof(att));
	att[0].filename = long_name;
	att[0].content_type = "application/pdf";
	att[0].data = span_make(bin, sizeof(bin));
	att[1].filename = "notes.txt";
	att[1].content_type = "text/plain; charset=utf-8";
	att[1].data = SPAN_LIT("--=_postino_ looks like a boundary\r\n");
	att[1].cte = MIME_CTE_QP;
	att[1].is_inline = true;
	memset(&msg, 0, sizeof(msg));
	msg.from = "Postino Test <test@example.org>";
	msg.to = "J\xc3\xb6rg <joerg@example.net>";
	msg.subject = "Caf\xc3\xa9 \xe2\x98\x95";
	msg.date = 1700000000;
	msg.text = text;
	msg.html = html;
	msg.text_cte = tcte;
	msg.att = att;
	msg.natt = 2;
	buf_init(&out, 1 << 22);
	CHECK_INT(mime_build_message(&msg, &out), 0);
	check_lines(buf_span(&out), 78);
	m = mime_parse(out.data, out.len, NULL);
	CHECK(mime_part_is(m->root, "multipart", "mixed"));
	CHECK_INT(m->root->nchildren, 3);
	CHECK(!(m->flags & (MIME_PART_F_NO_CLOSE | MIME_PART_F_DEFAULT_TYPE)));
	CHECK(mime_header_find(mime_part_header(m, m->root), "subject", &v));
	CHECK_STR(mime_header_decode_a(a, v), msg.subject);
	CHECK(mime_header_find(mime_part_header(m, m->root), "message-id",
	    &v));
	CHECK(memmem(v.p, v.len, "@example.org>", 13) != NULL);
	CHECK(mime_header_find(mime_part_header(m, m->root), "date", &v));
	alt = nth(m->root, 0);
	CHECK(mime_part_is(alt, "multipart", "alternative"));
	CHECK_INT(alt->nchildren, 2);
	check_text(m, nth(alt, 0), text);
	check_text(m, nth(alt, 1), html);
	if (tcte != MIME_CTE_7BIT)
		CHECK_INT(nth(alt, 0)->cte, tcte);
	p = nth(m->root, 1);
	CHECK(mime_part_is(p, "application", "pdf"));
	CHECK_INT(p->cte, MIME_CTE_BASE64);
	CHECK_STR(mime_part_filename(m, p), long_name);
	buf_init(&dec, 1 << 20);
	CHECK_INT(mime_part_decode(m, p, &dec), 0);
	CHECK_MEM(dec.data, dec.len, bin, sizeof(bin));
	buf_fini(&dec);
	p = nth(m->root, 2);
	CHECK_STR(mime_part_filename(m, p), "notes.txt");
	check_text(m, p, "--=_postino_ looks like a boundary\n");
	mime_message_free(&m);
	buf_fini(&out);
	arena_free(&a);
}

static void
test_roundtrip_auto(void)
{
	roundtrip(MIME_CTE_7BIT);
}

static void
test_roundtrip_base64(void)
{
	roundtrip(MIME_CTE_BASE64);
}

static void
test_roundtrip_qp(void)
{
	roundtrip(MIME_CTE_QP);
}

/* user text cannot inject header lines */
static void
test_no_injection(void)
{
	struct buf b;

	buf_init(&b, 4096);
	CHECK_INT(mime_build_header(&b, "Subject", "hi\r\nBcc: x@evil"), 0);
	CHECK(strstr(buf_cstr(&b), "\r\nBcc:") == NULL);
	buf_reset(&b);
	CHECK_INT(mime_build_address_header(&b, "To", "\"a\r\nBcc: x\" <a@b>"),
	    0);
	CHECK(strstr(buf_cstr(&b), "\r\nBcc:") == NULL);
	buf_reset(&b);
	CHECK_INT(mime_build_part(&b, "application/octet-stream",
	    MIME_CTE_BASE64, "attachment", "a\r\nBcc: x", "id\r\nBcc: x",
	    SPAN_LIT("x")), 0);
	CHECK(strstr(buf_cstr(&b), "\r\nBcc:") == NULL);
	CHECK(strstr(buf_cstr(&b), "Content-ID") == NULL);
	buf_fini(&b);
}

static void
test_text_only(void)
{
	struct mime_build_msg msg;
	struct buf out;
	struct mime_message *m;

	memset(&msg, 0, sizeof(msg));
	msg.from = "a@example.org";
	msg.subject = "plain";
	msg.text = "just text\n";
	msg.message_id = "fixed@example.org";
	buf_init(&out, 1 << 16);
	CHECK_INT(mime_build_message(&msg, &out), 0);
	CHECK(strstr(buf_cstr(&out), "Message-ID: <fixed@example.org>\r\n"));
	CHECK(strstr(buf_cstr(&out), "Content-Transfer-Encoding: 7bit\r\n"));
	m = mime_parse(out.data, out.len, NULL);
	CHECK_INT(m->nparts, 1);
	CHECK(mime_part_is(m->root, "text", "plain"));
	check_text(m, m->root, "just text\n");
	mime_message_free(&m);
	buf_fini(&out);
}

static const struct test_case cases[] = {
	TEST(test_header_encoding),
	TEST(test_address_header),
	TEST(test_choose_cte),
	TEST(test_boundary),
	TEST(test_roundtrip_auto),
	TEST(test_roundtrip_base64),
	TEST(test_roundtrip_qp),
	TEST(test_text_only),
	TEST(test_no_injection),
};

TEST_MAIN(cases)
