/*
 * mime_parse_test.c - unit tests for the structure parser: offsets,
 * boundaries, defaults, nesting, limits and IMAP sections.
 */
#include <string.h>

#include "lib/buf.h"
#include "lib/postino_limits.h"
#include "lib/util.h"
#include "mime/mime_parse.h"
#include "../../tests/lib/test.h"

static struct mime_message *
parse(const char *s)
{
	return mime_parse(s, strlen(s), NULL);
}

static void
check_span(const struct mime_message *m, size_t off, size_t len,
    const char *want)
{
	CHECK_MEM(m->data + off, len, want, strlen(want));
}

static void
test_single(void)
{
	const char *s = "Subject: x\r\nContent-Type: text/plain; "
	    "charset=utf-8\r\n\r\nline1\r\nline2\r\n";
	struct mime_message *m = parse(s);
	struct mime_part *r = m->root;

	CHECK_INT(m->nparts, 1);
	CHECK_INT(r->hdr_off, 0);
	CHECK_INT(r->body_off, strlen(s) - 14);
	CHECK_INT(r->end_off, strlen(s));
	CHECK_STR(r->type, "text");
	CHECK_STR(mime_param_get(r->params, "charset"), "utf-8");
	CHECK_INT(r->body_lines, 2);
	CHECK_INT(r->body_vsize, 14);
	CHECK(!(r->flags & MIME_PART_F_DEFAULT_TYPE));
	mime_message_free(&m);
	CHECK(m == NULL);
}

static void
test_bare_lf_sizes(void)
{
	/* IMAP sizes count a bare LF as CRLF */
	struct mime_message *m = parse("Subject: x\n\na\nb\r\nc");

	CHECK_INT(m->root->hdr_vsize, 14);
	CHECK_INT(m->root->body_vsize, 7);
	CHECK_INT(m->root->body_lines, 2);
	mime_message_free(&m);
}

static void
test_defaults(void)
{
	struct mime_message *m = parse("Subject: none\r\n\r\nbody");

	CHECK_STR(m->root->type, "text");
	CHECK_STR(m->root->subtype, "plain");
	CHECK_STR(mime_param_get(m->root->params, "charset"), "us-ascii");
	CHECK(m->root->flags & MIME_PART_F_DEFAULT_TYPE);
	CHECK_INT(m->root->cte, MIME_CTE_7BIT);
	mime_message_free(&m);
	/* an invalid Content-Type gets the default too */
	m = parse("Content-Type: garbage\r\n\r\nbody");
	CHECK_STR(m->root->type, "text");
	CHECK(m->root->flags & MIME_PART_F_DEFAULT_TYPE);
	mime_message_free(&m);
	/* in a digest, the default is message/rfc822 */
	m = parse("Content-Type: multipart/digest; boundary=d\r\n\r\n"
	    "--d\r\n\r\nSubject: in\r\n\r\nx\r\n--d--\r\n");
	CHECK_INT(m->nparts, 3);
	CHECK_STR(m->root->children->type, "message");
	CHECK(m->root->children->flags & MIME_PART_F_MESSAGE);
	mime_message_free(&m);
}

static const char multi[] =
    "Content-Type: multipart/mixed; boundary=\"abc\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--abc\r\n"
    "Content-Type: multipart/alternative; boundary=\"abcdef\"\r\n"
    "\r\n"
    "--abcdef\r\n"
    "\r\n"
    "plain\r\n"
    "--abcdef\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<p>html</p>\r\n"
    "--abcdef--\r\n"
    "inner epilogue\r\n"
    "--abc\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: inner\r\n"
    "\r\n"
    "inner body\r\n"
    "--abc--\r\n"
    "outer epilogue\r\n";

static void
test_nested(void)
{
	struct mime_message *m = parse(multi);
	struct mime_part *r = m->root, *alt, *plain, *html, *msg, *inner;

	CHECK_INT(m->nparts, 6);
	CHECK(r->flags & MIME_PART_F_MULTIPART);
	CHECK_INT(r->nchildren, 2);
	alt = r->children;
	CHECK_STR(alt->subtype, "alternative");
	CHECK_INT(alt->nchildren, 2);
	plain = alt->children;
	html = plain->next;
	check_span(m, plain->body_off, plain->end_off - plain->body_off,
	    "plain");
	check_span(m, html->hdr_off, html->body_off - html->hdr_off,
	    "Content-Type: text/html\r\n\r\n");
	check_span(m, html->body_off, html->end_off - html->body_off,
	    "<p>html</p>");
	/* the alternative part's body runs through its epilogue */
	check_span(m, alt->end_off - 14, 14, "inner epilogue");
	msg = alt->next;
	CHECK(msg->flags & MIME_PART_F_MESSAGE);
	inner = msg->children;
	CHECK_INT(inner->hdr_off, msg->body_off);
	CHECK_INT(inner->end_off, msg->end_off);
	check_span(m, inner->body_off, inner->end_off - inner->body_off,
	    "inner body");
	CHECK_INT(r->end_off, strlen(multi));
	CHECK(!(m->flags & MIME_PART_F_NO_CLOSE));
	mime_message_free(&m);
}

static void
test_missing_close(void)
{
	const char *s = "Content-Type: multipart/mixed; boundary=X\n\n"
	    "--X\n\none\n--X\nContent-Type: multipart/mixed; boundary=Y\n\n"
	    "--Y\n\ntwo\n";
	struct mime_message *m = parse(s);
	struct mime_part *r = m->root, *second, *two;

	CHECK_INT(r->nchildren, 2);
	second = r->children->next;
	CHECK(second->flags & MIME_PART_F_NO_CLOSE);
	CHECK(r->flags & MIME_PART_F_NO_CLOSE);
	two = second->children;
	check_span(m, two->body_off, two->end_off - two->body_off, "two\n");
	CHECK_INT(r->end_off, strlen(s));
	mime_message_free(&m);
	/* an outer boundary ends an unclosed inner multipart */
	s = "Content-Type: multipart/mixed; boundary=O\r\n\r\n"
	    "--O\r\nContent-Type: multipart/mixed; boundary=I\r\n\r\n"
	    "--I\r\n\r\nin\r\n--O\r\n\r\nafter\r\n--O--\r\n";
	m = parse(s);
	r = m->root;
	CHECK_INT(r->nchildren, 2);
	CHECK(r->children->flags & MIME_PART_F_NO_CLOSE);
	CHECK(!(r->flags & MIME_PART_F_NO_CLOSE));
	two = r->children->children;
	check_span(m, two->body_off, two->end_off - two->body_off, "in");
	two = r->children->next;
	check_span(m, two->body_off, two->end_off - two->body_off, "after");
	mime_message_free(&m);
}

static void
test_boundary_rules(void)
{
	/* boundary at the very start of the body, no preamble; transport
	 * padding after the delimiter; a longer boundary line that starts
	 * with the boundary counts too (as in Dovecot) */
	const char *s = "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b \t\r\n\r\none\r\n--bX\r\n\r\ntwo\r\n--b--\r\n";
	struct mime_message *m = parse(s);

	CHECK_INT(m->root->nchildren, 2);
	check_span(m, m->root->children->body_off, 3, "one");
	mime_message_free(&m);
	/* a boundary of the inner part that extends the outer one */
	s = "Content-Type: multipart/mixed; boundary=\"ab\"\r\n\r\n"
	    "--ab\r\nContent-Type: multipart/mixed; boundary=\"a\"\r\n\r\n"
	    "--a\r\n\r\ninner\r\n--ab\r\n\r\nouter\r\n--ab--\r\n";
	m = parse(s);
	CHECK_INT(m->root->nchildren, 2);
	CHECK_INT(m->root->children->nchildren, 1);
	mime_message_free(&m);
	/* a multipart without boundary stays a leaf */
	m = parse("Content-Type: multipart/mixed\r\n\r\n--x\r\n");
	CHECK(m->root->flags & MIME_PART_F_NO_BOUNDARY);
	CHECK_INT(m->root->nchildren, 0);
	mime_message_free(&m);
	/* a part header that runs into the next boundary */
	m = parse("Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n"
	    "Content-Type: text/html\r\n--z\r\n\r\nx\r\n--z--\r\n");
	CHECK_INT(m->root->nchildren, 2);
	CHECK_STR(m->root->children->subtype, "html");
	CHECK(m->root->children->flags & MIME_PART_F_NO_HEADER_END);
	CHECK_INT(m->root->children->body_off, m->root->children->end_off);
	mime_message_free(&m);
}

/* children lie inside their parent, offsets are ordered */
static void
check_tree(const struct mime_message *m, const struct mime_part *p)
{
	const struct mime_part *c;

	CHECK(p->hdr_off <= p->body_off && p->body_off <= p->end_off);
	CHECK(p->end_off <= m->len);
	for (c = p->children; c != NULL; c = c->next) {
		CHECK(c->hdr_off >= p->body_off && c->end_off <= p->end_off);
		check_tree(m, c);
	}
}

/* found by mime_parse_fuzz: an inner message whose header runs into the
 * digest's boundary used to end after its parent */
static void
test_fuzz_digest_header_at_boundary(void)
{
	const char *s = "Content-Type: multipart/digest; boundary=\"-- n --\""
	    "\r\n\r\n---- n --\r\n\r\nSubject: a\r\n\r\nfirst\r\n"
	    "---- n --\r\nCo[tent-Type: text/plain\r\n\r\nexplicitly typed"
	    "\r\n---- n ----\r\n";
	struct mime_message *m = parse(s);
	struct mime_part *inner;

	check_tree(m, m->root);
	inner = m->root->children->next->children;
	CHECK(inner->flags & MIME_PART_F_NO_HEADER_END);
	CHECK_INT(inner->body_off, inner->end_off);
	check_span(m, inner->hdr_off, inner->body_off - inner->hdr_off,
	    "explicitly typed");
	mime_message_free(&m);
}

/* found by mime_parse_fuzz: a header whose empty line is directly
 * followed by an outer boundary; and a message/rfc822 part whose own
 * header ends right at the boundary */
static void
test_fuzz_blank_line_then_boundary(void)
{
	const char *s = "Content-Type: multipart/mixed; boundary=o\r\n\r\n"
	    "--o\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n"
	    "\r\n--o\r\nContent-Type: message/rfc822\r\n\r\n--o--\r\n";
	struct mime_message *m = parse(s);
	struct mime_part *p1, *p2;

	check_tree(m, m->root);
	p1 = m->root->children;
	p2 = p1->next;
	CHECK(p1->flags & MIME_PART_F_MESSAGE);
	CHECK_INT(p1->children->body_off, p1->end_off);
	check_span(m, p1->children->hdr_off, p1->children->body_off -
	    p1->children->hdr_off, "Subject: in\r\n");
	CHECK(p2->children != NULL && p2->children->end_off == p2->end_off);
	mime_message_free(&m);
}

static void
test_empty(void)
{
	struct mime_message *m = mime_parse("", 0, NULL);

	CHECK_INT(m->nparts, 1);
	CHECK_INT(m->root->end_off, 0);
	CHECK(m->root->flags & MIME_PART_F_NO_HEADER_END);
	mime_message_free(&m);
	m = parse("Subject: only a header\r\n");
	CHECK_INT(m->root->body_off, m->len);
	mime_message_free(&m);
}

/* nest depth multiparts (each with one child) */
static struct mime_message *
nested(struct buf *b, unsigned depth, const struct mime_limits *lim)
{
	unsigned i;

	buf_reset(b);
	for (i = 0; i < depth; i++)
		CHECK_INT(buf_printf(b, "Content-Type: multipart/mixed; "
		    "boundary=b%u\r\n\r\n--b%u\r\n", i, i), 0);
	CHECK_INT(buf_append_str(b, "\r\nleaf\r\n"), 0);
	for (i = depth; i-- > 0;)
		CHECK_INT(buf_printf(b, "--b%u--\r\n", i), 0);
	return mime_parse(b->data, b->len, lim);
}

static unsigned
max_depth(const struct mime_part *p)
{
	unsigned d = p->depth;
	const struct mime_part *c;

	for (c = p->children; c != NULL; c = c->next) {
		unsigned cd = max_depth(c);

		if (cd > d)
			d = cd;
	}
	return d;
}

static void
test_depth_limit(void)
{
	struct mime_limits lim;
	struct buf b;
	struct mime_message *m;

	mime_limits_default(&lim);
	lim.max_depth = 10;
	buf_init(&b, 1 << 20);
	/* 10 multiparts: depths 0..9 open, the leaf at depth 10 */
	m = nested(&b, 10, &lim);
	CHECK_INT(max_depth(m->root), 10);
	CHECK(!(m->flags & MIME_PART_F_TRUNCATED));
	mime_message_free(&m);
	/* 11: the multipart at depth 10 is one opaque part */
	m = nested(&b, 11, &lim);
	CHECK_INT(max_depth(m->root), 10);
	CHECK(m->flags & MIME_PART_F_TRUNCATED);
	mime_message_free(&m);
	m = nested(&b, 12, &lim);
	CHECK_INT(max_depth(m->root), 10);
	mime_message_free(&m);
	/* the default limit holds for a very deep message */
	m = nested(&b, 5000, NULL);
	CHECK_INT(max_depth(m->root), 100);
	mime_message_free(&m);
	buf_fini(&b);
}

static void
test_parts_limit(void)
{
	struct mime_limits lim;
	struct buf b;
	struct mime_message *m;
	unsigned i, n;

	mime_limits_default(&lim);
	buf_init(&b, 1 << 22);
	for (n = 9; n <= 11; n++) {
		lim.max_parts = 10;	/* root + 9 children */
		buf_reset(&b);
		CHECK_INT(buf_append_str(&b, "Content-Type: multipart/mixed; "
		    "boundary=p\r\n\r\n"), 0);
		for (i = 0; i < n; i++)
			CHECK_INT(buf_printf(&b, "--p\r\n\r\n%u\r\n", i), 0);
		CHECK_INT(buf_append_str(&b, "--p--\r\n"), 0);
		m = mime_parse(b.data, b.len, &lim);
		CHECK(m->nparts <= 10);
		CHECK_INT(m->root->nchildren, n < 9 ? n : 9);
		CHECK_INT(m->root->end_off, b.len);
		CHECK(((m->flags & MIME_PART_F_TRUNCATED) != 0) == (n > 9));
		mime_message_free(&m);
	}
	buf_fini(&b);
}

static void
test_header_limits(void)
{
	struct mime_limits lim;
	struct buf b;
	struct mime_message *m;
	unsigned i;

	mime_limits_default(&lim);
	lim.max_header_fields = 3;
	buf_init(&b, 1 << 20);
	CHECK_INT(buf_append_str(&b, "A: 1\r\nB: 2\r\nC: 3\r\nContent-Type: "
	    "text/html\r\n\r\nx"), 0);
	m = mime_parse(b.data, b.len, &lim);
	CHECK(m->root->flags & MIME_PART_F_HEADER_LIMIT);
	CHECK_STR(m->root->subtype, "plain");	/* 4th field ignored */
	mime_message_free(&m);
	lim.max_header_fields = 4;
	m = mime_parse(b.data, b.len, &lim);
	CHECK(!(m->root->flags & MIME_PART_F_HEADER_LIMIT));
	CHECK_STR(m->root->subtype, "html");
	mime_message_free(&m);
	/* one over-long field is ignored, the rest still counts */
	mime_limits_default(&lim);
	lim.max_header = 100;
	buf_reset(&b);
	CHECK_INT(buf_append_str(&b, "X-Long: "), 0);
	for (i = 0; i < 200; i++)
		CHECK_INT(buf_append_byte(&b, 'a'), 0);
	CHECK_INT(buf_append_str(&b, "\r\nContent-Type: text/html\r\n\r\nx"),
	    0);
	m = mime_parse(b.data, b.len, &lim);
	CHECK(m->root->flags & MIME_PART_F_HEADER_LIMIT);
	CHECK_STR(m->root->subtype, "html");
	mime_message_free(&m);
	buf_fini(&b);
}

/* boundary length at MIME_MAX_BOUNDARY - 1, at it, and past it */
static void
test_boundary_limit(void)
{
	struct buf b, bd;
	struct mime_message *m;
	size_t n;

	buf_init(&b, 1 << 16);
	buf_init(&bd, 1024);
	for (n = MIME_MAX_BOUNDARY - 1; n <= MIME_MAX_BOUNDARY + 1; n++) {
		buf_reset(&bd);
		while (bd.len < n)
			CHECK_INT(buf_append_byte(&bd, 'b'), 0);
		buf_reset(&b);
		CHECK_INT(buf_printf(&b, "Content-Type: multipart/mixed; "
		    "boundary=\"%s\"\r\n\r\n--%s\r\n\r\nx\r\n--%s--\r\n",
		    buf_cstr(&bd), buf_cstr(&bd), buf_cstr(&bd)), 0);
		m = mime_parse(b.data, b.len, NULL);
		CHECK_INT(m->root->nchildren, n <= MIME_MAX_BOUNDARY ? 1 : 0);
		CHECK(((m->root->flags & MIME_PART_F_NO_BOUNDARY) != 0) ==
		    (n > MIME_MAX_BOUNDARY));
		mime_message_free(&m);
	}
	buf_fini(&b);
	buf_fini(&bd);
}

/* the header block limit: fields starting past it are ignored */
static void
test_headers_total_limit(void)
{
	struct mime_limits lim;
	const char *s = "X-A: 0123456789\r\nContent-Type: text/html\r\n\r\n";
	struct mime_message *m;
	size_t off = 17;	/* where Content-Type starts */

	mime_limits_default(&lim);
	lim.max_headers_total = off - 1;
	m = mime_parse(s, strlen(s), &lim);
	CHECK_STR(m->root->subtype, "plain");
	mime_message_free(&m);
	lim.max_headers_total = off;
	m = mime_parse(s, strlen(s), &lim);
	CHECK_STR(m->root->subtype, "html");
	mime_message_free(&m);
	lim.max_headers_total = off + 1;
	m = mime_parse(s, strlen(s), &lim);
	CHECK_STR(m->root->subtype, "html");
	CHECK_INT(m->root->body_off, strlen(s));
	mime_message_free(&m);
}

/* many boundary-like lines against many open boundaries stays linear */
static void
test_hostile_time(void)
{
	struct buf b;
	struct mime_message *m;
	uint64_t t0;
	unsigned i;

	buf_init(&b, 1 << 26);
	for (i = 0; i < 100; i++)
		CHECK_INT(buf_printf(&b, "Content-Type: multipart/mixed; "
		    "boundary=\"%060u\"\r\n\r\n--%060u\r\n", i, i), 0);
	while (b.len < 8u << 20)
		CHECK_INT(buf_append_str(&b, "--0000000000000000000000000000"
		    "00000000000000000000000000000x\r\n"), 0);
	t0 = monotonic_ms();
	m = mime_parse(b.data, b.len, NULL);
	CHECK(monotonic_ms() - t0 < 5000);
	CHECK_INT(m->nparts, 101);
	mime_message_free(&m);
	buf_fini(&b);
}

static void
check_section(const struct mime_message *m, const char *sec,
    const char *want)
{
	struct mime_section r;

	if (want == NULL) {
		CHECK_INT(mime_section_find(m, sec, &r), -1);
		return;
	}
	if (!CHECK_INT(mime_section_find(m, sec, &r), 0))
		return;
	CHECK_MEM(m->data + r.off, r.len, want, strlen(want));
}

static void
test_sections(void)
{
	struct mime_message *m = parse(multi);
	struct mime_section r;

	check_section(m, "", multi);
	check_section(m, "1.1", "plain");
	check_section(m, "1.2", "<p>html</p>");
	check_section(m, "1.2.MIME", "Content-Type: text/html\r\n\r\n");
	check_section(m, "2", "Subject: inner\r\n\r\ninner body");
	check_section(m, "2.HEADER", "Subject: inner\r\n\r\n");
	check_section(m, "2.TEXT", "inner body");
	check_section(m, "2.1", "inner body");
	check_section(m, "2.MIME", "Content-Type: message/rfc822\r\n\r\n");
	check_section(m, "HEADER", "Content-Type: multipart/mixed; "
	    "boundary=\"abc\"\r\n\r\n");
	check_section(m, "1.1.1", "plain");
	check_section(m, "3", NULL);
	check_section(m, "0", NULL);
	check_section(m, "1.2.HEADER", NULL);	/* not a message part */
	check_section(m, "1.", NULL);
	check_section(m, "1.x", NULL);
	check_section(m, "MIME", NULL);
	check_section(m, "2.2", NULL);
	CHECK_INT(mime_section_find(m, "2.header.fields (subject)", &r), 0);
	CHECK_INT(r.kind, MIME_SECTION_HEADER_FIELDS);
	CHECK_INT(mime_section_find(m, "HEADER.FIELDS.NOT (x)", &r), 0);
	CHECK_INT(r.kind, MIME_SECTION_HEADER_FIELDS_NOT);
	mime_message_free(&m);
	/* a single-part message has part 1 = its body */
	m = parse("Subject: s\r\n\r\nbody");
	check_section(m, "1", "body");
	check_section(m, "TEXT", "body");
	check_section(m, "2", NULL);
	mime_message_free(&m);
}

static void
test_header_filter(void)
{
	struct buf b;
	const char *names[] = { "subject", "to" };
	struct span h = SPAN_LIT("From: a\r\nSubject: s\r\n t\r\n"
	    "To: x\r\n\r\n");

	buf_init(&b, 1024);
	CHECK_INT(mime_header_filter(h, names, 2, false, &b), 0);
	CHECK_STR(buf_cstr(&b), "Subject: s\r\n t\r\nTo: x\r\n\r\n");
	buf_reset(&b);
	CHECK_INT(mime_header_filter(h, names, 2, true, &b), 0);
	CHECK_STR(buf_cstr(&b), "From: a\r\n\r\n");
	buf_fini(&b);
}

static void
test_decode_part(void)
{
	struct mime_message *m = parse("Content-Type: text/plain; "
	    "charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable"
	    "\r\nContent-Disposition: attachment; filename*=utf-8''%C3%A9.txt"
	    "\r\n\r\ncaf=E9");
	struct buf b;

	buf_init(&b, 1024);
	CHECK_INT(mime_part_decode(m, m->root, &b), 0);
	CHECK_STR(buf_cstr(&b), "caf\xe9");
	buf_reset(&b);
	CHECK_INT(mime_part_text(m, m->root, &b), 0);
	CHECK_STR(buf_cstr(&b), "caf\xc3\xa9");
	CHECK_STR(mime_part_filename(m, m->root), "\xc3\xa9.txt");
	buf_fini(&b);
	mime_message_free(&m);
	m = parse("Content-Type: application/x; name=\"=?utf-8?q?=C3=A9?=.bin"
	    "\"\r\n\r\n");
	CHECK_STR(mime_part_filename(m, m->root), "\xc3\xa9.bin");
	mime_message_free(&m);
	/* found by mime_build_fuzz: "=?" inside an RFC 2231 value is
	 * literal text, not an encoded word */
	m = parse("Content-Type: application/x\r\nContent-Disposition: "
	    "attachment; filename*=utf-8''a%3D%3Fb%3Fq%3Fc%3F%3D\r\n\r\n");
	CHECK_STR(mime_part_filename(m, m->root), "a=?b?q?c?=");
	mime_message_free(&m);
}

static const struct test_case cases[] = {
	TEST(test_single),
	TEST(test_bare_lf_sizes),
	TEST(test_defaults),
	TEST(test_nested),
	TEST(test_missing_close),
	TEST(test_boundary_rules),
	TEST(test_empty),
	TEST(test_fuzz_digest_header_at_boundary),
	TEST(test_fuzz_blank_line_then_boundary),
	TEST(test_depth_limit),
	TEST(test_parts_limit),
	TEST(test_header_limits),
	TEST(test_hostile_time),
	TEST(test_boundary_limit),
	TEST(test_headers_total_limit),
	TEST(test_sections),
	TEST(test_header_filter),
	TEST(test_decode_part),
};

TEST_MAIN(cases)
