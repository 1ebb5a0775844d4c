/*
 * imap_fetch_test.c - FETCH rendering: every data item, every section
 * form, partials, BINARY, the output ceiling, and byte-for-byte agreement
 * with Dovecot 2.3 over the MIME corpus (tests/data/mime/dovecot/
 * NAME.fetch-KEY, made by tests/mime/make_dovecot_fixtures.py), except
 * for the differences listed in `diffs` with their reasons.
 *
 * FETCH items are given as the client would send them and parsed with
 * imap_parse_command(), so the tests also cover the parser's output as
 * the renderer reads it.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap/imap_fetch.h"
#include "imap/imap_parse.h"
#include "lib/arena.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "mime/mime_imap.h"
#include "store/mailstore.h"
#include "../../tests/lib/test.h"

#define FIXTURES "tests/data/mime/dovecot"

static struct arena *test_arena;

/* atts - the items of "t FETCH 1 (<items>)" as the parser gives them */
static struct imap_fetch_att *
atts(const char *items, unsigned *n_r)
{
	static char text[4096];
	struct imap_command_text in;
	struct imap_parse_options popt;
	struct imap_command *cmd;
	const char *err = NULL;
	struct span tag;
	int len;

	if (test_arena == NULL)
		test_arena = arena_new("test", 65536, 64u * 1024 * 1024);
	memset(&popt, 0, sizeof(popt));
	/* the macros stand alone, the rest goes in a list */
	len = snprintf(text, sizeof(text), strcmp(items, "ALL") == 0 ||
	    strcmp(items, "FULL") == 0 || strcmp(items, "FAST") == 0 ?
	    "t FETCH 1 %s\r\n" : "t FETCH 1 (%s)\r\n", items);
	in = (struct imap_command_text){ span_make(text, (size_t)len), NULL,
	    0 };
	if (imap_parse_command(test_arena, &in, &popt, &cmd, &tag,
	    &err) != 0) {
		fprintf(stderr, "  cannot parse %s: %s\n", items, err);
		*n_r = 0;
		return NULL;
	}
	*n_r = cmd->u.fetch.count;
	return cmd->u.fetch.atts;
}

static void
msg_init(struct imap_fetch_msg *m, const char *data, size_t len)
{
	memset(m, 0, sizeof(*m));
	m->seq = 1;
	m->uid = 7;
	m->keywords = "";
	m->size = len;
	m->data = span_make(data, len);
}

/*
 * fetch - renders items for m; returns rc and leaves in got (static)
 * the response without "* 1 FETCH (" and ")\r\n" (or the whole output
 * if it does not have that form).
 */
static struct buf got;

static int
fetch_o(const struct imap_fetch_msg *m, const char *items,
    const struct imap_fetch_opts *o)
{
	struct imap_fetch_att *a;
	const char *err = NULL;
	struct buf out;
	char prefix[32];
	unsigned n;
	size_t pl;
	int rc;

	a = atts(items, &n);
	buf_fini(&got);
	buf_init(&got, 1 << 24);
	buf_init(&out, 1 << 24);
	rc = imap_fetch_render(&out, m, a, n, o, &err);
	pl = (size_t)snprintf(prefix, sizeof(prefix), "* %u FETCH (",
	    (unsigned)m->seq);
	if (rc == 0 && out.len >= pl + 3 && memcmp(out.data, prefix, pl) == 0 &&
	    memcmp(out.data + out.len - 3, ")\r\n", 3) == 0) {
		if (buf_append(&got, out.data + pl, out.len - pl - 3) < 0)
			rc = -2;
	} else if (buf_append(&got, out.data, out.len) < 0) {
		rc = -2;
	}
	if (rc == 1 && err != NULL)
		CHECK(strstr(err, "UNKNOWN-CTE") != NULL);
	buf_fini(&out);
	return rc;
}

static int
fetch(const struct imap_fetch_msg *m, const char *items)
{
	return fetch_o(m, items, NULL);
}

#define GOT_IS(s) CHECK_MEM(got.data, got.len, s, sizeof(s) - 1)
#define FETCH_IS(m, items, s) do { \
	CHECK_INT(fetch(m, items), 0); \
	GOT_IS(s); \
} while (0)

/* ---- the test messages ---- */

static const char simple[] =
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.net\r\n"
    "Subject: hi\r\n"
    "X-Multi: a\r\n"
    " b\r\n"
    "\r\n"
    "Hello\r\n"
    "World\r\n";

static const char nested[] =
    "From: a@example.org\r\n"
    "Subject: outer\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=XX\r\n"
    "\r\n"
    "preamble\r\n"
    "--XX\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "part one\r\n"
    "--XX\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "From: c@example.org\r\n"
    "Subject: inner\r\n"
    "Content-Type: multipart/alternative; boundary=YY\r\n"
    "\r\n"
    "--YY\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "inner plain\r\n"
    "--YY\r\n"
    "Content-Type: text/html\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "PGI+aGk8L2I+\r\n"
    "--YY--\r\n"
    "--XX\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "AAEC\r\n"
    "--XX\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "caf=C3=A9 =\r\n"
    "soft=0Abreak\r\n"
    "--XX\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Transfer-Encoding: x-unknown\r\n"
    "\r\n"
    "opaque\r\n"
    "--XX--\r\n";

/* ---- flags and simple items ---- */

static void
test_flags(void)
{
	struct buf b;

	buf_init(&b, 1024);
	CHECK_INT(imap_fetch_flags(&b, 0, "", false), 0);
	CHECK_STR(buf_cstr(&b), "()");
	buf_reset(&b);
	CHECK_INT(imap_fetch_flags(&b, MAILSTORE_F_ALL, NULL, true), 0);
	CHECK_STR(buf_cstr(&b),
	    "(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\Recent)");
	buf_reset(&b);
	CHECK_INT(imap_fetch_flags(&b, MAILSTORE_F_SEEN, "  $Label1  Work ",
	    false), 0);
	CHECK_STR(buf_cstr(&b), "(\\Seen $Label1 Work)");
	buf_reset(&b);
	CHECK_INT(imap_fetch_flags(&b, 0, "$Junk", true), 0);
	CHECK_STR(buf_cstr(&b), "(\\Recent $Junk)");
	buf_reset(&b);
	CHECK_INT(imap_fetch_flags(&b, MAILSTORE_F_FLAGGED |
	    MAILSTORE_F_DRAFT, "x", false), 0);
	CHECK_STR(buf_cstr(&b), "(\\Flagged \\Draft x)");
	buf_fini(&b);
	/* the ceiling: fits exactly, one byte short */
	buf_init(&b, 8);
	CHECK_INT(imap_fetch_flags(&b, MAILSTORE_F_SEEN, "", true), -1);
	buf_fini(&b);
	buf_init(&b, 7);
	CHECK_INT(imap_fetch_flags(&b, MAILSTORE_F_SEEN, "", false), 0);
	CHECK_STR(buf_cstr(&b), "(\\Seen)");
	buf_fini(&b);
	buf_init(&b, 6);
	CHECK_INT(imap_fetch_flags(&b, MAILSTORE_F_SEEN, "", false), -1);
	buf_fini(&b);
}

static void
test_simple_items(void)
{
	struct imap_fetch_msg m;
	struct imap_fetch_opts o;

	msg_init(&m, simple, sizeof(simple) - 1);
	m.flags = MAILSTORE_F_SEEN | MAILSTORE_F_ANSWERED;
	m.keywords = "$Forwarded";
	m.recent = true;
	m.internal_date = 1772442000;	/* 2026-03-02 09:00:00 UTC */
	m.modseq = 12345678901ull;
	m.uid = 4294967295u;
	m.seq = 42;
	FETCH_IS(&m, "FLAGS", "FLAGS (\\Answered \\Seen \\Recent $Forwarded)");
	FETCH_IS(&m, "INTERNALDATE",
	    "INTERNALDATE \"02-Mar-2026 09:00:00 +0000\"");
	FETCH_IS(&m, "RFC822.SIZE", "RFC822.SIZE 99");
	FETCH_IS(&m, "UID", "UID 4294967295");
	FETCH_IS(&m, "MODSEQ", "MODSEQ (12345678901)");
	FETCH_IS(&m, "UID RFC822.SIZE FLAGS",
	    "UID 4294967295 RFC822.SIZE 99 FLAGS (\\Answered \\Seen "
	    "\\Recent $Forwarded)");
	m.internal_date = 0;
	FETCH_IS(&m, "INTERNALDATE",
	    "INTERNALDATE \"01-Jan-1970 00:00:00 +0000\"");
	m.internal_date = 946684799;	/* 1999-12-31 23:59:59 */
	FETCH_IS(&m, "INTERNALDATE",
	    "INTERNALDATE \"31-Dec-1999 23:59:59 +0000\"");

	/* rev2: no \Recent */
	memset(&o, 0, sizeof(o));
	o.rev2 = true;
	CHECK_INT(fetch_o(&m, "FLAGS", &o), 0);
	GOT_IS("FLAGS (\\Answered \\Seen $Forwarded)");

	/* UID FETCH, implicit \Seen, CONDSTORE: UID first, FLAGS and
	 * MODSEQ last, none twice */
	memset(&o, 0, sizeof(o));
	o.add_uid = o.add_flags = o.add_modseq = true;
	m.recent = false;
	m.keywords = "";
	CHECK_INT(fetch_o(&m, "RFC822.SIZE", &o), 0);
	GOT_IS("UID 4294967295 RFC822.SIZE 99 FLAGS (\\Answered \\Seen) "
	    "MODSEQ (12345678901)");
	CHECK_INT(fetch_o(&m, "MODSEQ FLAGS UID", &o), 0);
	GOT_IS("MODSEQ (12345678901) FLAGS (\\Answered \\Seen) "
	    "UID 4294967295");
	/* the response line itself */
	{
		struct imap_fetch_att *a;
		const char *err;
		struct buf out;
		unsigned n;

		a = atts("UID", &n);
		buf_init(&out, 1024);
		CHECK_INT(imap_fetch_render(&out, &m, a, n, NULL, &err), 0);
		CHECK_STR(buf_cstr(&out), "* 42 FETCH (UID 4294967295)\r\n");
		/* appends after what is there */
		CHECK_INT(imap_fetch_render(&out, &m, a, n, NULL, &err), 0);
		CHECK_STR(buf_cstr(&out), "* 42 FETCH (UID 4294967295)\r\n"
		    "* 42 FETCH (UID 4294967295)\r\n");
		buf_fini(&out);
	}
}

/* ENVELOPE, BODY, BODYSTRUCTURE: the cache as it is, else computed */
static void
test_cached_and_computed(void)
{
	struct imap_fetch_msg m;
	struct buf env, bs, body, want;
	const char *items[] = { "ENVELOPE", "BODYSTRUCTURE", "BODY" };
	struct buf *bufs[] = { &env, &bs, &body };
	unsigned i, n;
	struct imap_fetch_att *a;

	msg_init(&m, nested, sizeof(nested) - 1);
	buf_init(&env, 1 << 20);
	buf_init(&bs, 1 << 20);
	buf_init(&body, 1 << 20);
	buf_init(&want, 1 << 20);
	CHECK_INT(mime_imap_compute(nested, sizeof(nested) - 1, &env, &bs,
	    &body, NULL), 0);
	for (i = 0; i < 3; i++) {
		buf_reset(&want);
		CHECK_INT(buf_printf(&want, "%s %s", items[i],
		    buf_cstr(bufs[i])), 0);
		CHECK_INT(fetch(&m, items[i]), 0);
		CHECK_MEM(got.data, got.len, want.data, want.len);
	}
	a = atts("ENVELOPE", &n);
	CHECK(imap_fetch_needs_data(a, n, &m));
	m.envelope = "(cached-envelope)";
	m.bodystructure = "(cached-bs)";
	m.body = "(cached-body)";
	CHECK(!imap_fetch_needs_data(a, n, &m));
	FETCH_IS(&m, "ENVELOPE BODYSTRUCTURE BODY",
	    "ENVELOPE (cached-envelope) BODYSTRUCTURE (cached-bs) "
	    "BODY (cached-body)");
	/* the cache alone is enough: no message bytes */
	m.data = span_make(NULL, 0);
	FETCH_IS(&m, "FULL", "FLAGS () INTERNALDATE \"01-Jan-1970 00:00:00 "
	    "+0000\" RFC822.SIZE 703 ENVELOPE (cached-envelope) "
	    "BODY (cached-body)");
	/* a section without the bytes is the caller's bug: -1 */
	CHECK_INT(fetch(&m, "BODY.PEEK[]"), -1);
	CHECK_INT(got.len, 0);
	buf_fini(&env);
	buf_fini(&bs);
	buf_fini(&body);
	buf_fini(&want);
}

/* ---- sections ---- */

static void
test_sections_single(void)
{
	struct imap_fetch_msg m;

	msg_init(&m, simple, sizeof(simple) - 1);
	FETCH_IS(&m, "BODY.PEEK[]",
	    "BODY[] {99}\r\n"
	    "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\n"
	    "Subject: hi\r\nX-Multi: a\r\n b\r\n\r\nHello\r\nWorld\r\n");
	FETCH_IS(&m, "BODY.PEEK[HEADER]",
	    "BODY[HEADER] {85}\r\n"
	    "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\n"
	    "Subject: hi\r\nX-Multi: a\r\n b\r\n\r\n");
	FETCH_IS(&m, "BODY.PEEK[TEXT]", "BODY[TEXT] {14}\r\nHello\r\nWorld\r\n");
	/* a non-multipart message: part 1 is its body, 1.MIME its header */
	FETCH_IS(&m, "BODY.PEEK[1]", "BODY[1] {14}\r\nHello\r\nWorld\r\n");
	FETCH_IS(&m, "BODY.PEEK[1.MIME]",
	    "BODY[1.MIME] {85}\r\n"
	    "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\n"
	    "Subject: hi\r\nX-Multi: a\r\n b\r\n\r\n");
	/* parts that do not exist: empty strings, not errors */
	FETCH_IS(&m, "BODY.PEEK[2]", "BODY[2] {0}\r\n");
	FETCH_IS(&m, "BODY.PEEK[1.1]", "BODY[1.1] {0}\r\n");
	FETCH_IS(&m, "BODY.PEEK[1.HEADER]", "BODY[1.HEADER] {0}\r\n");
	FETCH_IS(&m, "BODY.PEEK[1.TEXT]", "BODY[1.TEXT] {0}\r\n");
	FETCH_IS(&m, "BODY.PEEK[3.MIME]", "BODY[3.MIME] {0}\r\n");
	FETCH_IS(&m, "BODY.PEEK[4.HEADER.FIELDS (FROM)]",
	    "BODY[4.HEADER.FIELDS (FROM)] {0}\r\n");
	/* HEADER.FIELDS: case-insensitive, folded fields whole, names
	 * echoed uppercase, quoted when they must be */
	FETCH_IS(&m, "BODY.PEEK[HEADER.FIELDS (subject x-multi)]",
	    "BODY[HEADER.FIELDS (SUBJECT X-MULTI)] {31}\r\n"
	    "Subject: hi\r\nX-Multi: a\r\n b\r\n\r\n");
	FETCH_IS(&m, "BODY.PEEK[HEADER.FIELDS (\"x y\" \"q\\\"\" From)]",
	    "BODY[HEADER.FIELDS (\"X Y\" \"Q\\\"\" FROM)] {35}\r\n"
	    "From: Alice <alice@example.org>\r\n\r\n");
	FETCH_IS(&m, "BODY.PEEK[HEADER.FIELDS (x-none)]",
	    "BODY[HEADER.FIELDS (X-NONE)] {2}\r\n\r\n");
	FETCH_IS(&m, "BODY.PEEK[HEADER.FIELDS.NOT (From X-MULTI to)]",
	    "BODY[HEADER.FIELDS.NOT (FROM X-MULTI TO)] {15}\r\n"
	    "Subject: hi\r\n\r\n");
	FETCH_IS(&m, "BODY.PEEK[HEADER.FIELDS (to)]<4.10>",
	    "BODY[HEADER.FIELDS (TO)]<4> {10}\r\nbob@exampl");
	/* a field name that is not even quotable goes back as a literal */
	FETCH_IS(&m, "BODY.PEEK[HEADER.FIELDS ({4}\r\nx\xc3\xa9y)]",
	    "BODY[HEADER.FIELDS ({4}\r\nX\xc3\xa9Y)] {2}\r\n\r\n");
	/* lowercase section keywords are echoed uppercase */
	FETCH_IS(&m, "body.peek[text]", "BODY[TEXT] {14}\r\nHello\r\nWorld\r\n");
}

static void
test_sections_nested(void)
{
	struct imap_fetch_msg m;

	msg_init(&m, nested, sizeof(nested) - 1);
	FETCH_IS(&m, "BODY.PEEK[1]", "BODY[1] {8}\r\npart one");
	FETCH_IS(&m, "BODY.PEEK[1.MIME]",
	    "BODY[1.MIME] {28}\r\nContent-Type: text/plain\r\n\r\n");
	/* a message/rfc822 part: its body is the whole inner message */
	FETCH_IS(&m, "BODY.PEEK[2.MIME]",
	    "BODY[2.MIME] {32}\r\nContent-Type: message/rfc822\r\n\r\n");
	FETCH_IS(&m, "BODY.PEEK[2.HEADER]",
	    "BODY[2.HEADER] {89}\r\nFrom: c@example.org\r\n"
	    "Subject: inner\r\n"
	    "Content-Type: multipart/alternative; boundary=YY\r\n\r\n");
	FETCH_IS(&m, "BODY.PEEK[2.HEADER.FIELDS (SUBJECT)]",
	    "BODY[2.HEADER.FIELDS (SUBJECT)] {18}\r\nSubject: inner\r\n"
	    "\r\n");
	FETCH_IS(&m, "BODY.PEEK[2.HEADER.FIELDS.NOT (SUBJECT content-type)]",
	    "BODY[2.HEADER.FIELDS.NOT (SUBJECT CONTENT-TYPE)] {23}\r\n"
	    "From: c@example.org\r\n\r\n");
	FETCH_IS(&m, "BODY.PEEK[2.TEXT]",
	    "BODY[2.TEXT] {135}\r\n--YY\r\nContent-Type: text/plain\r\n\r\n"
	    "inner plain\r\n--YY\r\nContent-Type: text/html\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nPGI+aGk8L2I+\r\n"
	    "--YY--");
	FETCH_IS(&m, "BODY.PEEK[2]",
	    "BODY[2] {224}\r\nFrom: c@example.org\r\nSubject: inner\r\n"
	    "Content-Type: multipart/alternative; boundary=YY\r\n\r\n"
	    "--YY\r\nContent-Type: text/plain\r\n\r\n"
	    "inner plain\r\n--YY\r\nContent-Type: text/html\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nPGI+aGk8L2I+\r\n"
	    "--YY--");
	/* into the multipart inside the message */
	FETCH_IS(&m, "BODY.PEEK[2.1]", "BODY[2.1] {11}\r\ninner plain");
	FETCH_IS(&m, "BODY.PEEK[2.2]", "BODY[2.2] {12}\r\nPGI+aGk8L2I+");
	FETCH_IS(&m, "BODY.PEEK[2.2.MIME]",
	    "BODY[2.2.MIME] {62}\r\nContent-Type: text/html\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n");
	FETCH_IS(&m, "BODY.PEEK[2.3]", "BODY[2.3] {0}\r\n");
	/* "1" below a leaf is the leaf itself, and nothing lies below */
	FETCH_IS(&m, "BODY.PEEK[2.1.1]", "BODY[2.1.1] {11}\r\ninner plain");
	FETCH_IS(&m, "BODY.PEEK[2.1.1.1]", "BODY[2.1.1.1] {0}\r\n");
	FETCH_IS(&m, "BODY.PEEK[2.1.2]", "BODY[2.1.2] {0}\r\n");
	FETCH_IS(&m, "BODY.PEEK[1.1]", "BODY[1.1] {8}\r\npart one");
	/* HEADER/TEXT of a part that is not a message: empty */
	FETCH_IS(&m, "BODY.PEEK[1.HEADER]", "BODY[1.HEADER] {0}\r\n");
	FETCH_IS(&m, "BODY.PEEK[2.1.TEXT]", "BODY[2.1.TEXT] {0}\r\n");
	FETCH_IS(&m, "BODY.PEEK[6]", "BODY[6] {0}\r\n");
	FETCH_IS(&m, "BODY.PEEK[HEADER.FIELDS (FROM)]",
	    "BODY[HEADER.FIELDS (FROM)] {23}\r\nFrom: a@example.org\r\n\r\n");
	FETCH_IS(&m, "BODY.PEEK[3]", "BODY[3] {4}\r\nAAEC");
	FETCH_IS(&m, "RFC822.HEADER",
	    "RFC822.HEADER {102}\r\nFrom: a@example.org\r\nSubject: outer\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=XX\r\n\r\n");
	/* several items in one response, in the order asked */
	FETCH_IS(&m, "BODY.PEEK[1] UID BODY.PEEK[3]",
	    "BODY[1] {8}\r\npart one UID 7 BODY[3] {4}\r\nAAEC");
}

/* the part numbers BODYSTRUCTURE shows, in the odd cases */
static void
test_sections_odd(void)
{
	static const char no_end[] = "From: a@b\r\nSubject: s\r\n";
	static const char no_boundary[] = "Subject: x\r\n"
	    "Content-Type: multipart/mixed\r\n\r\n--a\r\nbody\r\n";
	static const char global[] = "Subject: x\r\n"
	    "Content-Type: message/global\r\n\r\n"
	    "Subject: inner\r\n\r\nbody\r\n";
	static const char rfc822[] = "Subject: x\r\n"
	    "Content-Type: message/rfc822\r\n\r\n"
	    "Subject: inner\r\n\r\nbody\r\n";
	struct imap_fetch_msg m;

	/* a header without its empty line: HEADER.FIELDS adds one only
	 * when it found something (as Dovecot) */
	msg_init(&m, no_end, sizeof(no_end) - 1);
	FETCH_IS(&m, "BODY.PEEK[HEADER.FIELDS (SUBJECT)]",
	    "BODY[HEADER.FIELDS (SUBJECT)] {14}\r\nSubject: s\r\n\r\n");
	FETCH_IS(&m, "BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT FROM)]",
	    "BODY[HEADER.FIELDS.NOT (SUBJECT FROM)] {0}\r\n");
	FETCH_IS(&m, "BODY.PEEK[TEXT]", "BODY[TEXT] {0}\r\n");
	/* a multipart without a boundary: one empty part */
	msg_init(&m, no_boundary, sizeof(no_boundary) - 1);
	FETCH_IS(&m, "BODY.PEEK[1]", "BODY[1] {0}\r\n");
	FETCH_IS(&m, "BODY.PEEK[1.MIME]", "BODY[1.MIME] {0}\r\n");
	FETCH_IS(&m, "BINARY.SIZE[1]", "BINARY.SIZE[1] 0");
	FETCH_IS(&m, "BODY.PEEK[TEXT]", "BODY[TEXT] {11}\r\n--a\r\nbody\r\n");
	/* message/global is a leaf: nothing inside it is numbered */
	msg_init(&m, global, sizeof(global) - 1);
	FETCH_IS(&m, "BODY.PEEK[1]",
	    "BODY[1] {24}\r\nSubject: inner\r\n\r\nbody\r\n");
	FETCH_IS(&m, "BODY.PEEK[1.1]", "BODY[1.1] {0}\r\n");
	FETCH_IS(&m, "BODY.PEEK[1.HEADER]", "BODY[1.HEADER] {0}\r\n");
	/* message/rfc822 at the top: 1 is the inner message, 1.1 its body,
	 * 1.HEADER and 1.1.MIME its header (Dovecot agrees) */
	msg_init(&m, rfc822, sizeof(rfc822) - 1);
	FETCH_IS(&m, "BODY.PEEK[1]",
	    "BODY[1] {24}\r\nSubject: inner\r\n\r\nbody\r\n");
	FETCH_IS(&m, "BODY.PEEK[1.1]", "BODY[1.1] {6}\r\nbody\r\n");
	FETCH_IS(&m, "BODY.PEEK[1.HEADER]",
	    "BODY[1.HEADER] {18}\r\nSubject: inner\r\n\r\n");
	FETCH_IS(&m, "BODY.PEEK[1.TEXT]", "BODY[1.TEXT] {6}\r\nbody\r\n");
	FETCH_IS(&m, "BODY.PEEK[1.1.MIME]",
	    "BODY[1.1.MIME] {18}\r\nSubject: inner\r\n\r\n");
	FETCH_IS(&m, "BODY.PEEK[1.MIME]", "BODY[1.MIME] {44}\r\n"
	    "Subject: x\r\nContent-Type: message/rfc822\r\n\r\n");
	FETCH_IS(&m, "BODY.PEEK[1.1.1]", "BODY[1.1.1] {0}\r\n");
	FETCH_IS(&m, "BINARY.PEEK[1.1]", "BINARY[1.1] {6}\r\nbody\r\n");
}

static void
test_rfc822_items(void)
{
	struct imap_fetch_msg m;
	struct imap_fetch_att *a;
	unsigned n;

	msg_init(&m, simple, sizeof(simple) - 1);
	FETCH_IS(&m, "RFC822",
	    "RFC822 {99}\r\n"
	    "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\n"
	    "Subject: hi\r\nX-Multi: a\r\n b\r\n\r\nHello\r\nWorld\r\n");
	FETCH_IS(&m, "RFC822.HEADER",
	    "RFC822.HEADER {85}\r\n"
	    "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\n"
	    "Subject: hi\r\nX-Multi: a\r\n b\r\n\r\n");
	FETCH_IS(&m, "RFC822.TEXT", "RFC822.TEXT {14}\r\nHello\r\nWorld\r\n");

	/* which items set \Seen (RFC 9051 6.4.5, RFC 3501 6.4.5) */
	a = atts("RFC822", &n);
	CHECK(imap_fetch_sets_seen(a, n));
	a = atts("RFC822.TEXT", &n);
	CHECK(imap_fetch_sets_seen(a, n));
	a = atts("RFC822.HEADER", &n);
	CHECK(!imap_fetch_sets_seen(a, n));
	a = atts("BODY[1]", &n);
	CHECK(imap_fetch_sets_seen(a, n));
	a = atts("BODY.PEEK[1] BINARY.PEEK[1] BINARY.SIZE[1] FLAGS", &n);
	CHECK(!imap_fetch_sets_seen(a, n));
	a = atts("FLAGS BINARY[1]", &n);
	CHECK(imap_fetch_sets_seen(a, n));
	a = atts("ALL", &n);
	CHECK(!imap_fetch_sets_seen(a, n));
	a = atts("FULL", &n);
	CHECK(!imap_fetch_sets_seen(a, n));
	/* which need the message bytes */
	a = atts("FLAGS UID MODSEQ INTERNALDATE RFC822.SIZE", &n);
	CHECK(!imap_fetch_needs_data(a, n, &m));
	a = atts("FLAGS BINARY.SIZE[1]", &n);
	CHECK(imap_fetch_needs_data(a, n, &m));
	a = atts("RFC822.HEADER", &n);
	CHECK(imap_fetch_needs_data(a, n, &m));
}

/* ---- partials ---- */

static void
test_partial(void)
{
	struct imap_fetch_msg m;

	msg_init(&m, simple, sizeof(simple) - 1);
	FETCH_IS(&m, "BODY.PEEK[]<0.4>", "BODY[]<0> {4}\r\nFrom");
	FETCH_IS(&m, "BODY.PEEK[TEXT]<7.100>", "BODY[TEXT]<7> {7}\r\nWorld\r\n");
	FETCH_IS(&m, "BODY.PEEK[TEXT]<13.1>", "BODY[TEXT]<13> {1}\r\n\n");
	/* at and past the end: empty */
	FETCH_IS(&m, "BODY.PEEK[TEXT]<14.1>", "BODY[TEXT]<14> {0}\r\n");
	FETCH_IS(&m, "BODY.PEEK[TEXT]<1000.5>", "BODY[TEXT]<1000> {0}\r\n");
	FETCH_IS(&m, "BODY.PEEK[]<4294967296.5>",
	    "BODY[]<4294967296> {0}\r\n");
	FETCH_IS(&m, "BODY.PEEK[TEXT]<0.4294967296>",
	    "BODY[TEXT]<0> {14}\r\nHello\r\nWorld\r\n");
	FETCH_IS(&m, "BODY.PEEK[2]<0.10>", "BODY[2]<0> {0}\r\n");
	/* RFC 9051 section 6.4.5 example: <0.10> of a short part */
	FETCH_IS(&m, "BODY.PEEK[1]<0.1024>",
	    "BODY[1]<0> {14}\r\nHello\r\nWorld\r\n");
}

/* ---- line ends and NUL ---- */

static const char bare_lf[] =
    "From: a@b\n"
    "Subject: x\n"
    "\n"
    "a\n"
    "b\r\n"
    "c\x00" "d\n";

/* every window of every section equals the same piece of the whole */
static void
test_bare_lf(void)
{
	static const char conv[] =
	    "From: a@b\r\nSubject: x\r\n\r\na\r\nb\r\nc\x80" "d\r\n";
	struct imap_fetch_msg m;
	size_t off, len;
	char items[64], want[128];
	int wl;

	msg_init(&m, bare_lf, sizeof(bare_lf) - 1);
	m.size = sizeof(conv) - 1;
	FETCH_IS(&m, "BODY.PEEK[]",
	    "BODY[] {36}\r\nFrom: a@b\r\nSubject: x\r\n\r\na\r\nb\r\nc\x80"
	    "d\r\n");
	FETCH_IS(&m, "BODY.PEEK[TEXT]",
	    "BODY[TEXT] {11}\r\na\r\nb\r\nc\x80" "d\r\n");
	FETCH_IS(&m, "BODY.PEEK[HEADER.FIELDS (subject)]",
	    "BODY[HEADER.FIELDS (SUBJECT)] {14}\r\nSubject: x\r\n\r\n");
	/* BINARY keeps the NUL and says so with literal8 */
	FETCH_IS(&m, "BINARY.PEEK[1]", "BINARY[1] ~{11}\r\na\r\nb\r\nc\x00"
	    "d\r\n");
	FETCH_IS(&m, "BINARY.SIZE[1]", "BINARY.SIZE[1] 11");
	FETCH_IS(&m, "BINARY.PEEK[1]<0.1>", "BINARY[1]<0> ~{1}\r\na");
	for (off = 0; off <= sizeof(conv); off++) {
		for (len = 1; len <= sizeof(conv) - off + 1; len++) {
			size_t n = off >= sizeof(conv) - 1 ? 0 :
			    (len < sizeof(conv) - 1 - off ? len :
			    sizeof(conv) - 1 - off);

			snprintf(items, sizeof(items), "BODY.PEEK[]<%zu.%zu>",
			    off, len);
			wl = snprintf(want, sizeof(want), "BODY[]<%zu> {%zu}\r\n",
			    off, n);
			memcpy(want + wl, conv + off, n);
			CHECK_INT(fetch(&m, items), 0);
			CHECK_MEM(got.data, got.len, want, (size_t)wl + n);
		}
	}
}

/* ---- BINARY ---- */

static void
test_binary(void)
{
	struct imap_fetch_msg m;
	struct buf out;
	struct imap_fetch_att *a;
	const char *err = NULL;
	unsigned n;

	msg_init(&m, nested, sizeof(nested) - 1);
	/* an unencoded part: a plain literal */
	FETCH_IS(&m, "BINARY.PEEK[1]", "BINARY[1] {8}\r\npart one");
	FETCH_IS(&m, "BINARY.SIZE[1]", "BINARY.SIZE[1] 8");
	/* base64: decoded, NUL, literal8 */
	FETCH_IS(&m, "BINARY.PEEK[3]", "BINARY[3] ~{3}\r\n\x00\x01\x02");
	FETCH_IS(&m, "BINARY.SIZE[3]", "BINARY.SIZE[3] 3");
	FETCH_IS(&m, "BINARY.PEEK[3]<1.1>", "BINARY[3]<1> ~{1}\r\n\x01");
	FETCH_IS(&m, "BINARY.PEEK[3]<3.1>", "BINARY[3]<3> ~{0}\r\n");
	FETCH_IS(&m, "BINARY.PEEK[2.2]", "BINARY[2.2] ~{9}\r\n<b>hi</b>");
	/* quoted-printable: soft break joined, =0A stays a LF */
	FETCH_IS(&m, "BINARY.PEEK[4]", "BINARY[4] ~{16}\r\ncaf\xc3\xa9 soft\n"
	    "break");
	FETCH_IS(&m, "BINARY.SIZE[4]", "BINARY.SIZE[4] 16");
	/* a message/rfc822 part and a multipart are not decoded */
	FETCH_IS(&m, "BINARY.SIZE[2]", "BINARY.SIZE[2] 224");
	FETCH_IS(&m, "BINARY.PEEK[2]<0.19>",
	    "BINARY[2]<0> {19}\r\nFrom: c@example.org");
	FETCH_IS(&m, "BINARY.PEEK[]<0.5>", "BINARY[]<0> {5}\r\nFrom:");
	FETCH_IS(&m, "BINARY.SIZE[]", "BINARY.SIZE[] 703");
	/* a part that does not exist: empty */
	FETCH_IS(&m, "BINARY.PEEK[9]", "BINARY[9] {0}\r\n");
	FETCH_IS(&m, "BINARY.SIZE[9]", "BINARY.SIZE[9] 0");
	FETCH_IS(&m, "BINARY.PEEK[2.1]", "BINARY[2.1] {11}\r\ninner plain");
	/* an unknown encoding: 1, nothing written (NO [UNKNOWN-CTE]) */
	CHECK_INT(fetch(&m, "BINARY.PEEK[5]"), 1);
	CHECK_INT(got.len, 0);
	CHECK_INT(fetch(&m, "UID BINARY.SIZE[5] FLAGS"), 1);
	CHECK_INT(got.len, 0);
	/* BODY[] of the same part is fine */
	FETCH_IS(&m, "BODY.PEEK[5]", "BODY[5] {6}\r\nopaque");
	a = atts("BINARY.PEEK[5]", &n);
	buf_init(&out, 1024);
	CHECK_INT(buf_append_str(&out, "kept"), 0);
	CHECK_INT(imap_fetch_render(&out, &m, a, n, NULL, &err), 1);
	CHECK_STR(buf_cstr(&out), "kept");
	CHECK(err != NULL && strncmp(err, "[UNKNOWN-CTE]", 13) == 0);
	buf_fini(&out);
}

/* ---- the ceiling ---- */

static void
test_ceiling(void)
{
	static const char want[] = "* 1 FETCH (BODY[TEXT] {14}\r\n"
	    "Hello\r\nWorld\r\n)\r\n";
	struct imap_fetch_msg m;
	struct imap_fetch_att *a;
	const char *err;
	struct buf out;
	unsigned n;
	size_t max;

	msg_init(&m, simple, sizeof(simple) - 1);
	a = atts("BODY.PEEK[TEXT]", &n);
	/* limit - 1, limit, limit + 1, then much smaller ones */
	for (max = sizeof(want) + 3; max-- > 0;) {
		size_t lim = 4 + max;

		buf_init(&out, lim);
		CHECK_INT(buf_append_str(&out, "pre "), 0);
		err = NULL;
		if (max >= sizeof(want) - 1) {
			CHECK_INT(imap_fetch_render(&out, &m, a, n, NULL,
			    &err), 0);
			CHECK_INT(out.len, 4 + sizeof(want) - 1);
		} else {
			CHECK_INT(imap_fetch_render(&out, &m, a, n, NULL,
			    &err), -1);
			CHECK(err != NULL);
			/* nothing half-written stays behind */
			CHECK_STR(buf_cstr(&out), "pre ");
		}
		buf_fini(&out);
	}
	/* a big section against a ceiling set by the caller */
	{
		char *big = xmalloc(100000 + 64);
		size_t i;

		memcpy(big, "Subject: big\r\n\r\n", 16);
		for (i = 16; i < 100016; i++)
			big[i] = (char)('a' + i % 26);
		msg_init(&m, big, 100016);
		a = atts("BODY.PEEK[TEXT] BINARY.PEEK[1]", &n);
		buf_init(&out, 150000);
		CHECK_INT(imap_fetch_render(&out, &m, a, n, NULL, &err), -1);
		CHECK_INT(out.len, 0);
		buf_fini(&out);
		a = atts("BODY.PEEK[TEXT]<99990.100>", &n);
		buf_init(&out, 64);
		CHECK_INT(imap_fetch_render(&out, &m, a, n, NULL, &err), 0);
		CHECK_STR(buf_cstr(&out), "* 1 FETCH (BODY[TEXT]<99990> "
		    "{10}\r\nklmnopqrst)\r\n");
		buf_fini(&out);
		free(big);
	}
}

/* ---- Dovecot ---- */

/* the FETCH items of the fixtures: tests/mime/make_dovecot_fixtures.py */
static const struct {
	const char	*key;
	const char	*item;
} fixture_items[] = {
	{ "body1", "BODY.PEEK[1]" },
	{ "body1mime", "BODY.PEEK[1.MIME]" },
	{ "bodyheader", "BODY.PEEK[HEADER]" },
	{ "bodytext", "BODY.PEEK[TEXT]" },
	{ "bodyfields", "BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)]" },
	{ "bodyfieldsnot", "BODY.PEEK[HEADER.FIELDS.NOT (FROM SUBJECT)]" },
	{ "body2", "BODY.PEEK[2]" },
	{ "body2mime", "BODY.PEEK[2.MIME]" },
	{ "body11", "BODY.PEEK[1.1]" },
	{ "body2header", "BODY.PEEK[2.HEADER]" },
	{ "body2text", "BODY.PEEK[2.TEXT]" },
	{ "binary1", "BINARY.PEEK[1]" },
	{ "binarysize1", "BINARY.SIZE[1]" },
	{ "binary2", "BINARY.PEEK[2]" },
	{ "bodypartial", "BODY.PEEK[]<10.50>" },
	{ "bodyall", "BODY.PEEK[]" },
};

/*
 * Where postino and Dovecot differ on purpose.  `ours` is the start of
 * postino's output (all of it when short); the fixture must differ from
 * it, so a difference that goes away is noticed.  A fixture ending in
 * ".no" is a NO from Dovecot where postino serves the item.
 */
struct diff {
	const char	*fixture;
	const char	*key;
	const char	*ours;
	const char	*why;
};

#define MSG33 "shared__python-email__msg_33.txt"
#define MSG33_WHY "the boundary is given only as RFC 2231 boundary*=; " \
	"Dovecot sees a multipart without parts, postino finds both parts " \
	"(the BODYSTRUCTURE difference listed in src/mime/mime_imap_test.c)"
#define RFC008 "shared__rfc-examples__008.eml"
#define BSIZE_WHY "Dovecot 2.3's BINARY.SIZE differs from the length of " \
	"its own BINARY[] literal for the same part; postino gives the " \
	"literal's length, as RFC 3516 section 4.2 defines it"
#define LENIENT_WHY "Dovecot refuses to decode base64 with junk in it " \
	"(NO [PARSE]); postino decodes leniently, as for search and the " \
	"text it indexes, skipping the junk"

static const struct diff diffs[] = {
	{ MSG33, "body1", "BODY[1] {8}\r\npart 1\r\n", MSG33_WHY },
	{ MSG33, "body11", "BODY[1.1] {8}\r\npart 1\r\n", MSG33_WHY },
	{ MSG33, "body1mime", "BODY[1.MIME] {137}\r\nContent-Type: text/plain;",
	  MSG33_WHY },
	{ MSG33, "body2", "BODY[2] {8}\r\npart 2\r\n", MSG33_WHY },
	{ MSG33, "body2mime", "BODY[2.MIME] {57}\r\nContent-Type: text/plain"
	  "\r\nContent-Disposition: inline\r\n\r\n", MSG33_WHY },
	{ MSG33, "binary1", "BINARY[1] ~{8}\r\npart 1\r\n", MSG33_WHY },
	{ MSG33, "binarysize1", "BINARY.SIZE[1] 8", MSG33_WHY },
	{ MSG33, "binary2", "BINARY[2] {8}\r\npart 2\r\n", MSG33_WHY },
	{ RFC008, "body2", "BODY[2] {1194}\r\nVG86ICJl",
	  "the message ends with the close delimiter and no line break; "
	  "Dovecot counts the line break before it into part 2, postino "
	  "gives it to the delimiter (RFC 2046 section 5.1.1; the "
	  "BODYSTRUCTURE difference listed in src/mime/mime_imap_test.c)" },
	{ RFC008, "body2header", "BODY[2.HEADER] {0}\r\n",
	  "part 2 is a base64-encoded message/rfc822: its body is not a "
	  "message header.  Both servers give it an all-NIL ENVELOPE, but "
	  "Dovecot then serves the base64 lines as its HEADER; postino "
	  "serves nothing, in line with the ENVELOPE" },
	{ RFC008, "binary2", "BINARY[2] ~{872}\r\nTo: \"email@example.com\"",
	  "the same base64 message/rfc822 part: BODYSTRUCTURE says base64, "
	  "so postino's BINARY[2] decodes it (RFC 3516); Dovecot sends the "
	  "base64 text undecoded" },
	{ "shared__rfc-examples__002.eml", "binary2",
	  "BINARY[2] {2026}\r\nReturn-Path:",
	  "part 2 is a message/rfc822 holding a base64 image; Dovecot's "
	  "BINARY of a message part re-encodes the message inside (decodes "
	  "its parts and rewrites their Content-Transfer-Encoding fields), "
	  "postino sends the part as stored: RFC 3516 decodes the part's "
	  "own transfer encoding, and a message/rfc822 part has none" },
	{ "shared__rfc-examples__000.eml", "binarysize1",
	  "BINARY.SIZE[1] 269",
	  "Dovecot answers BINARY[1] {269} but NO [PARSE] to BINARY.SIZE[1] "
	  "of the same part; postino gives the size of what BINARY[1] "
	  "sends" },
	{ "local__03-nested-prefix-boundaries.eml", "binarysize1",
	  "BINARY.SIZE[1] 137", BSIZE_WHY },
	{ "local__13-extension-fields.eml", "binarysize1",
	  "BINARY.SIZE[1] 44", BSIZE_WHY },
	{ "local__09-uuencode.eml", "binary1",
	  "BINARY[1] ~{14}\r\nHello, world!\n",
	  "x-uuencode: Dovecot answers NO [UNKNOWN-CTE]; postino knows the "
	  "encoding (BODYSTRUCTURE names it) and decodes the first block" },
	{ "local__09-uuencode.eml", "binarysize1", "BINARY.SIZE[1] 14",
	  "as above" },
	{ "local__17-base64-junk.eml", "binary1",
	  "BINARY[1] ~{11}\r\nHello world", LENIENT_WHY },
	{ "local__17-base64-junk.eml", "binarysize1", "BINARY.SIZE[1] 11",
	  LENIENT_WHY },
	{ "local__28-duplicate-mime-fields.eml", "binary1",
	  "BINARY[1] ~{6}\r\ncaf\xe9\r\n",
	  "two Content-Transfer-Encoding fields: Dovecot's BODYSTRUCTURE "
	  "takes the first (quoted-printable) but its BINARY decodes with "
	  "the last (base64) and fails (NO [PARSE]); postino decodes with "
	  "the encoding its BODYSTRUCTURE names" },
	{ "local__28-duplicate-mime-fields.eml", "binarysize1",
	  "BINARY.SIZE[1] 6", "as above" },
};

static const struct diff *
find_diff(const char *base, const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(diffs) / sizeof(diffs[0]); i++) {
		if (diffs[i].fixture != NULL &&
		    strcmp(diffs[i].fixture, base) == 0 &&
		    strcmp(diffs[i].key, key) == 0)
			return &diffs[i];
	}
	return NULL;
}

static char *
slurp(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	uint8_t tmp[8192];
	size_t n;

	if (f == NULL)
		return NULL;
	buf_init(&b, 1 << 26);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		if (buf_append(&b, tmp, n) < 0)
			break;
	}
	fclose(f);
	if (buf_append_byte(&b, 0) < 0) {
		buf_fini(&b);
		return NULL;
	}
	*len_r = b.len - 1;
	return (char *)b.data;
}

/* message_path - where the corpus message of a fixture lives. */
static char *
message_path(const char *base)
{
	char *rel = xstrdup(base), *p, *out;

	while ((p = strstr(rel, "__")) != NULL) {
		*p = '/';
		memmove(p + 1, p + 2, strlen(p + 2) + 1);
	}
	if (strncmp(rel, "shared/", 7) == 0)
		out = xasprintf("%s/mime/%s", test_shared_data(), rel + 7);
	else
		out = xasprintf("tests/data/mime/%s", rel);
	free(rel);
	return out;
}

static unsigned n_compared, n_diffs;

/* check_ours - postino's output starts with (or is) the recorded one */
static void
check_ours(const struct diff *d, const char *path)
{
	size_t n = strlen(d->ours);

	if (!CHECK_MEM(got.data, got.len < n ? got.len : n, d->ours, n))
		fprintf(stderr, "  (difference at %s)\n", path);
}

static void
compare_fixture(const char *base, const char *msg, size_t mlen, size_t k)
{
	const char *key = fixture_items[k].key;
	char *path, *exp;
	const struct diff *d = find_diff(base, key);
	struct imap_fetch_msg m;
	size_t elen;
	int rc;

	msg_init(&m, msg, mlen);
	rc = fetch(&m, fixture_items[k].item);
	path = xasprintf("%s/%s.fetch-%s", FIXTURES, base, key);
	exp = slurp(path, &elen);
	if (exp == NULL) {
		/* Dovecot said NO */
		char *npath = xasprintf("%s.no", path);

		exp = slurp(npath, &elen);
		free(npath);
		if (!CHECK(exp != NULL)) {
			fprintf(stderr, "  no fixture %s\n", path);
			free(path);
			return;
		}
		if (strstr(exp, "[UNKNOWN-CTE]") != NULL && d == NULL) {
			if (!CHECK_INT(rc, 1))
				fprintf(stderr, "  (fixture %s)\n", path);
		} else if (!CHECK(d != NULL)) {
			fprintf(stderr, "  Dovecot: %s; postino rc %d: %.*s\n"
			    "  (fixture %s)\n", exp, rc, (int)(got.len > 200 ?
			    200 : got.len), (const char *)got.data, path);
		} else {
			CHECK_INT(rc, 0);
			check_ours(d, path);
			n_diffs++;
		}
		free(exp);
		free(path);
		n_compared++;
		return;
	}
	CHECK_INT(rc, 0);
	if (d != NULL) {
		/* a recorded difference: still exact, both ways */
		CHECK(elen != got.len || memcmp(exp, got.data, elen) != 0);
		check_ours(d, path);
		n_diffs++;
	} else if (!CHECK_MEM(got.data, got.len, exp, elen)) {
		fprintf(stderr, "  (fixture %s)\n", path);
	}
	n_compared++;
	free(exp);
	free(path);
}

static void
test_dovecot_fixtures(void)
{
	DIR *d = opendir(FIXTURES);
	struct dirent *e;
	unsigned nmsg = 0;

	if (!CHECK(d != NULL))
		return;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name), mlen, k;
		char *base, *mpath, *msg, *probe;

		if (l < 8 || strcmp(e->d_name + l - 7, ".sha256") != 0)
			continue;
		base = xstrndup(e->d_name, l - 7);
		/* messages recorded before the section fixtures existed */
		probe = xasprintf("%s/%s.fetch-bodyall", FIXTURES, base);
		if (access(probe, F_OK) != 0) {
			free(probe);
			free(base);
			continue;
		}
		free(probe);
		mpath = message_path(base);
		msg = slurp(mpath, &mlen);
		if (!CHECK(msg != NULL)) {
			fprintf(stderr, "  missing %s\n", mpath);
			free(base);
			free(mpath);
			continue;
		}
		/* mime_imap_test checks the .sha256 against the message */
		for (k = 0; k < sizeof(fixture_items) /
		    sizeof(fixture_items[0]); k++)
			compare_fixture(base, msg, mlen, k);
		free(msg);
		free(mpath);
		free(base);
		nmsg++;
	}
	closedir(d);
	CHECK(nmsg >= 44);
	CHECK(n_compared >= 44 * 16);
	fprintf(stderr, "  dovecot: %u messages, %u items, %u differences\n",
	    nmsg, n_compared, n_diffs);
}

static void
test_cleanup(void)
{
	buf_fini(&got);
	arena_free(&test_arena);
}

static const struct test_case cases[] = {
	TEST(test_flags),
	TEST(test_simple_items),
	TEST(test_cached_and_computed),
	TEST(test_sections_single),
	TEST(test_sections_nested),
	TEST(test_sections_odd),
	TEST(test_rfc822_items),
	TEST(test_partial),
	TEST(test_bare_lf),
	TEST(test_binary),
	TEST(test_ceiling),
	TEST(test_dovecot_fixtures),
	TEST(test_cleanup),
};

TEST_MAIN(cases)
