/*
 * dsn_test.c - unit tests for the bounce builder.
 *
 * With DSN_TEST_OUT set to a directory, test_write_samples also writes a
 * few notifications there for tests/e2e/test_dsn.py, which reads them
 * back with Python's email package.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/dsn.h"
#include "lib/buf.h"
#include "lib/fsutil.h"
#include "lib/postino_limits.h"
#include "lib/span.h"
#include "mime/mime_header.h"
#include "mime/mime_parse.h"
#include "../../tests/lib/test.h"

#define ORIG \
	"Received: from client.test by mail.example.test\r\n" \
	"From: Alice <alice@example.test>\r\n" \
	"To: bob@example.org, carol@example.net\r\n" \
	"Subject: Lunch on Friday?\r\n" \
	"Message-ID: <lunch-1@example.test>\r\n" \
	"\r\n" \
	"Shall we meet at noon?\r\n"

static const struct dsn_rcpt two_failed[] = {
	{ .addr = "bob@example.org", .action = DSN_ACTION_FAILED,
	    .remote_mta = "mx.example.org",
	    .diagnostic = "550 5.1.1 No such user here",
	    .last_attempt = 1700000000 },
	{ .addr = "carol@example.net", .orig_addr = "team@example.test",
	    .action = DSN_ACTION_FAILED, .status = "5.2.2",
	    .remote_mta = "mx.example.net",
	    .diagnostic = "552 Mailbox full", .last_attempt = 1700000100 },
};

static void
info_init(struct dsn_info *info, const struct dsn_rcpt *r, size_t n)
{
	memset(info, 0, sizeof(*info));
	info->reporting_mta = "mail.example.test";
	info->sender = "alice@example.test";
	info->qid = "0123456789abcdef";
	info->arrival = 1699990000;
	info->rcpts = r;
	info->nrcpts = n;
	info->orig = ORIG;
	info->orig_len = sizeof(ORIG) - 1;
}

static bool
has(const struct buf *b, const char *s)
{
	return memmem(b->data, b->len, s, strlen(s)) != NULL;
}

/* part_text - the raw body of the nth child of the root (from 0) */
static struct span
child_body(const struct mime_message *m, unsigned n,
    const struct mime_part **part_r)
{
	const struct mime_part *p = m->root->children;

	while (p != NULL && n-- > 0)
		p = p->next;
	*part_r = p;
	if (p == NULL)
		return span_make("", 0);
	return mime_part_body(m, p);
}

static bool
span_has(struct span s, const char *needle)
{
	return memmem(s.p, s.len, needle, strlen(needle)) != NULL;
}

/* lines_ok - every line ends in CRLF and is at most 998 octets; in
 * header sections (until the first empty line) a line past 78 has no
 * blank after its first word where it could have been folded. */
static bool
lines_ok(const uint8_t *p, size_t n, bool header)
{
	size_t i = 0;

	while (i < n) {
		const uint8_t *e = memchr(p + i, '\n', n - i);
		size_t len;

		if (e == NULL) {
			fprintf(stderr, "  no line end at %zu\n", i);
			return false;
		}
		len = (size_t)(e - (p + i));
		if (len == 0 || p[i + len - 1] != '\r')
			return false;
		len--;
		if (len > 998) {
			fprintf(stderr, "  line of %zu\n", len);
			return false;
		}
		if (len == 0)
			header = false;
		if (header && len > 78) {
			/* a fold point: a blank after the field name's
			 * first value word */
			const uint8_t *sp = memchr(p + i + 1, ' ', len - 1);

			if (sp != NULL) {
				size_t rest = len - (size_t)(sp - (p + i));
				const uint8_t *sp2 = rest > 1 ?
				    memchr(sp + 1, ' ', rest - 1) : NULL;

				if (sp2 != NULL && (size_t)(sp2 - (p + i)) <
				    78) {
					fprintf(stderr, "  unfolded: %.*s\n",
					    (int)len, p + i);
					return false;
				}
			}
		}
		i += (size_t)(e - (p + i)) + 1;
	}
	return true;
}

static void
test_structure(void)
{
	struct dsn_info info;
	struct mime_message *m;
	const struct mime_part *p;
	const char *err = NULL;
	struct span hdr, body;
	struct buf out;

	info_init(&info, two_failed, 2);
	buf_init(&out, 1 << 20);
	CHECK_INT(dsn_build(&info, &out, &err), 0);
	CHECK(lines_ok(out.data, out.len, true));
	m = mime_parse(out.data, out.len, NULL);
	CHECK(mime_part_is(m->root, "multipart", "report"));
	CHECK_STR(mime_param_get(m->root->params, "report-type"),
	    "delivery-status");
	CHECK_INT(m->root->nchildren, 3);
	hdr = mime_part_header(m, m->root);
	CHECK(hdr.len > 0 && memcmp(hdr.p, "From: Mail Delivery System "
	    "<MAILER-DAEMON@mail.example.test>\r\n", 62) == 0);
	CHECK(span_has(hdr, "To: <alice@example.test>\r\n"));
	CHECK(span_has(hdr, "Subject: Undelivered Mail Returned to "
	    "Sender\r\n"));
	CHECK(span_has(hdr, "Auto-Submitted: auto-replied\r\n"));
	CHECK(span_has(hdr, "\r\nDate: "));
	CHECK(span_has(hdr, "@mail.example.test>\r\n"));
	CHECK(span_has(hdr, "Message-ID: <"));
	CHECK(span_has(hdr, "MIME-Version: 1.0\r\n"));

	body = child_body(m, 0, &p);
	CHECK(mime_part_is(p, "text", "plain"));
	CHECK(span_has(body, "<bob@example.org>: failed"));
	CHECK(span_has(body, "550 5.1.1 No such user here"));
	CHECK(span_has(body, "<carol@example.net> (addressed as "
	    "<team@example.test>): failed"));
	CHECK(span_has(body, "Queue id of your message: 0123456789abcdef"));

	body = child_body(m, 1, &p);
	CHECK(mime_part_is(p, "message", "delivery-status"));
	CHECK(span_has(body, "Reporting-MTA: dns; mail.example.test\r\n"
	    "X-Postino-Queue-ID: 0123456789abcdef\r\n"
	    "X-Postino-Sender: rfc822; alice@example.test\r\n"
	    "Arrival-Date: "));
	CHECK(span_has(body, "\r\n\r\nFinal-Recipient: rfc822; "
	    "bob@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
	    "Remote-MTA: dns; mx.example.org\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 No such user here\r\n"
	    "Last-Attempt-Date: "));
	CHECK(span_has(body, "\r\n\r\nOriginal-Recipient: rfc822; "
	    "team@example.test\r\nFinal-Recipient: rfc822; "
	    "carol@example.net\r\nAction: failed\r\nStatus: 5.2.2\r\n"));
	CHECK(!span_has(body, "Will-Retry-Until"));

	body = child_body(m, 2, &p);
	CHECK(mime_part_is(p, "text", "rfc822-headers"));
	/* the header section, exactly, without the body */
	CHECK_MEM(body.p, body.len, ORIG, strlen(ORIG) - strlen(
	    "\r\nShall we meet at noon?\r\n"));
	mime_message_free(&m);
	buf_fini(&out);
}

/* status_of - builds a one-recipient DSN and returns its Status value
 * (and Diagnostic-Code line if diag_r) */
static void
build_one(const struct dsn_rcpt *r, char *status, size_t ssize,
    char *diag, size_t dsize)
{
	struct dsn_info info;
	const char *err = NULL;
	struct buf out;
	const char *s;

	info_init(&info, r, 1);
	buf_init(&out, 1 << 20);
	status[0] = '\0';
	if (diag != NULL)
		diag[0] = '\0';
	if (dsn_build(&info, &out, &err) < 0) {
		CHECK(!"dsn_build failed");
		buf_fini(&out);
		return;
	}
	s = strstr(buf_cstr(&out), "\r\nStatus: ");
	if (s != NULL)
		snprintf(status, ssize, "%.*s", (int)strcspn(s + 10, "\r"),
		    s + 10);
	s = strstr(buf_cstr(&out), "\r\nDiagnostic-Code: ");
	if (s != NULL && diag != NULL)
		snprintf(diag, dsize, "%.*s", (int)strcspn(s + 19, "\r"),
		    s + 19);
	buf_fini(&out);
}

static void
test_status_derived(void)
{
	static const struct {
		enum dsn_action	 action;
		const char	*diag;
		const char	*status;
		const char	*code;	/* Diagnostic-Code value */
	} cases[] = {
		{ DSN_ACTION_FAILED, "550 5.1.1 No such user", "5.1.1",
		    "smtp; 550 5.1.1 No such user" },
		{ DSN_ACTION_FAILED, "550-5.7.1 Go away", "5.7.1",
		    "smtp; 550-5.7.1 Go away" },
		{ DSN_ACTION_FAILED, "550 No such user", "5.0.0",
		    "smtp; 550 No such user" },
		{ DSN_ACTION_FAILED, "554", "5.0.0", "smtp; 554" },
		/* a code of another class than the reply is not believed */
		{ DSN_ACTION_FAILED, "550 4.1.1 odd", "5.0.0", NULL },
		{ DSN_ACTION_FAILED, "550 5.1234.1 odd", "5.0.0", NULL },
		{ DSN_ACTION_DELAYED, "451 4.7.1 Greylisted", "4.7.1", NULL },
		{ DSN_ACTION_DELAYED, "connection refused", "4.0.0",
		    "X-Postino; connection refused" },
		{ DSN_ACTION_FAILED, "mailbox quota exceeded", "5.0.0",
		    "X-Postino; mailbox quota exceeded" },
		{ DSN_ACTION_FAILED, NULL, "5.0.0", NULL },
		{ DSN_ACTION_DELIVERED, NULL, "2.0.0", NULL },
		{ DSN_ACTION_RELAYED, "250 2.0.0 Ok queued", "2.0.0", NULL },
	};
	char status[32], diag[1024];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dsn_rcpt r = { .addr = "bob@example.org",
		    .action = cases[i].action,
		    .diagnostic = cases[i].diag };

		build_one(&r, status, sizeof(status), diag, sizeof(diag));
		if (!CHECK_STR(status, cases[i].status))
			fprintf(stderr, "  case %zu\n", i);
		if (cases[i].code != NULL && !CHECK_STR(diag, cases[i].code))
			fprintf(stderr, "  case %zu\n", i);
	}
}

/* a malformed status given is replaced by the derived one */
static void
test_status_malformed(void)
{
	static const char *const bad[] = { "5.1", "3.1.1", "5.1.1 x",
	    "5.1.1.1", "5..1", "5.1234.1", "", "5.1.1\r\nX: y" };
	char status[32];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dsn_rcpt r = { .addr = "bob@example.org",
		    .action = DSN_ACTION_FAILED, .status = bad[i],
		    .diagnostic = "550 5.7.1 denied" };

		build_one(&r, status, sizeof(status), NULL, 0);
		if (!CHECK_STR(status, "5.7.1"))
			fprintf(stderr, "  case %zu\n", i);
	}
}

static void
test_delayed(void)
{
	const struct dsn_rcpt r = { .addr = "bob@example.org",
	    .action = DSN_ACTION_DELAYED, .remote_mta = "mx.example.org",
	    .diagnostic = "421 4.4.2 Try again later",
	    .last_attempt = 1700000000, .will_retry_until = 1700400000 };
	struct dsn_info info;
	const char *err = NULL;
	struct buf out;

	info_init(&info, &r, 1);
	buf_init(&out, 1 << 20);
	CHECK_INT(dsn_build(&info, &out, &err), 0);
	CHECK(has(&out, "Subject: Delayed Mail (still being retried)\r\n"));
	CHECK(has(&out, "Action: delayed\r\nStatus: 4.4.2\r\n"));
	CHECK(has(&out, "\r\nWill-Retry-Until: "));
	CHECK(has(&out, "Delivery is still being tried"));
	CHECK(has(&out, "    Retried until: "));
	CHECK(!has(&out, "permanent"));
	buf_fini(&out);
}

/* a mix: one failed, one delayed -> the subject says undelivered */
static void
test_mixed(void)
{
	const struct dsn_rcpt r[] = {
		{ .addr = "a@example.org", .action = DSN_ACTION_DELAYED },
		{ .addr = "b@example.org", .action = DSN_ACTION_FAILED },
		{ .addr = "c@example.org", .action = DSN_ACTION_DELIVERED },
	};
	struct dsn_info info;
	const char *err = NULL;
	struct buf out;

	info_init(&info, r, 3);
	buf_init(&out, 1 << 20);
	CHECK_INT(dsn_build(&info, &out, &err), 0);
	CHECK(has(&out, "Subject: Undelivered Mail Returned to Sender\r\n"));
	CHECK(has(&out, "Action: delayed\r\n"));
	CHECK(has(&out, "Action: failed\r\n"));
	CHECK(has(&out, "Action: delivered\r\nStatus: 2.0.0\r\n"));
	buf_fini(&out);
}

/* Folding: long diagnostics fold within 78, a giant word is cut so no
 * line passes 998, and line breaks in a reply cannot add fields. */
static void
test_folding(void)
{
	struct dsn_rcpt r[3] = {
		{ .addr = "bob@example.org", .action = DSN_ACTION_FAILED },
		{ .addr = "carol@example.org", .action = DSN_ACTION_FAILED },
		{ .addr = "dave@example.org", .action = DSN_ACTION_FAILED,
		    .diagnostic = "550 5.7.1 rejected\r\nFinal-Recipient: "
		    "rfc822; evil@example.org\r\n\r\nAction: delivered\x01" },
	};
	char words[2000], giant[3000], sender[300];
	struct dsn_info info;
	const char *err = NULL;
	struct mime_message *m;
	const struct mime_part *p;
	struct span body;
	struct buf out;
	size_t i;

	for (i = 0; i + 5 < sizeof(words); i += 5)
		memcpy(words + i, "word ", 5);
	memcpy(words, "554 ", 4);
	words[i] = '\0';
	memset(giant, 'x', sizeof(giant) - 1);
	giant[sizeof(giant) - 1] = '\0';
	memcpy(giant, "550 ", 4);
	r[0].diagnostic = words;
	r[1].diagnostic = giant;
	/* a sender as long as a path may be: no blank to fold at */
	memset(sender, 'a', 240);
	strcpy(sender + 240, "@example.test");
	info_init(&info, r, 3);
	info.sender = sender;
	buf_init(&out, 1 << 20);
	CHECK_INT(dsn_build(&info, &out, &err), 0);
	CHECK(lines_ok(out.data, out.len, true));
	m = mime_parse(out.data, out.len, NULL);
	body = child_body(m, 1, &p);
	/* + 2: the CRLF before the boundary ends the last line */
	CHECK(lines_ok(body.p, body.len + 2, true));
	CHECK(span_has(body, "Diagnostic-Code: smtp; 554 word word"));
	CHECK(span_has(body, "\r\n word word"));	/* folded */
	CHECK(span_has(body, "xxx...\r\n"));		/* cut */
	CHECK(!span_has(body, "\r\nFinal-Recipient: rfc822; evil"));
	CHECK(!span_has(body, "\r\nAction: delivered"));
	CHECK(span_has(body, "Diagnostic-Code: smtp; 550 5.7.1 rejected "
	    "Final-Recipient:"));
	CHECK(!has(&out, "\x01"));
	body = child_body(m, 0, &p);
	CHECK(!span_has(body, "\r\nFinal-Recipient"));
	mime_message_free(&m);
	buf_fini(&out);
}

/* SMTPUTF8 addresses: raw UTF-8 in To: (RFC 6532), the RFC 6533 utf-8
 * type in its 7-bit form in the status part, UTF-8 in the text. */
static void
test_utf8(void)
{
	const struct dsn_rcpt r = { .addr = "b\xc3\xbc" "cher@\xe4\xbe\x8b"
	    ".example", .orig_addr = "a+b=c@example.org",
	    .action = DSN_ACTION_FAILED,
	    .diagnostic = "550 5.1.1 Unbekannt: b\xc3\xbc" "cher" };
	struct dsn_info info;
	const char *err = NULL;
	struct mime_message *m;
	const struct mime_part *p;
	struct span body;
	struct buf out, text;
	bool utf8 = false, eight = false;

	info_init(&info, &r, 1);
	info.sender = "j\xc3\xb6ran@ex\xc3\xa4mple.test";
	buf_init(&out, 1 << 20);
	CHECK_INT(dsn_build(&info, &out, &err), 0);
	CHECK(has(&out, "\r\nTo: <j\xc3\xb6ran@ex\xc3\xa4mple.test>\r\n"));
	m = mime_parse(out.data, out.len, NULL);
	body = child_body(m, 1, &p);
	CHECK(mime_part_is(p, "message", "delivery-status"));
	CHECK(span_has(body, "Final-Recipient: utf-8; b\\x{FC}cher@"
	    "\\x{4F8B}.example\r\n"));
	/* ASCII, but with '+' and '=': xtext-escaped only for utf-8 type;
	 * an ASCII address stays rfc822 */
	CHECK(span_has(body, "Original-Recipient: rfc822; "
	    "a+b=c@example.org\r\n"));
	CHECK(span_has(body, "X-Postino-Sender: utf-8; j\\x{F6}ran@"
	    "ex\\x{E4}mple.test\r\n"));
	CHECK(span_has(body, "Diagnostic-Code: smtp; 550 5.1.1 Unbekannt: "
	    "b?cher\r\n"));
	{
		size_t i;
		bool ascii = true;

		for (i = 0; i < body.len; i++)
			if (body.p[i] >= 0x80)
				ascii = false;
		CHECK(ascii);
	}
	body = child_body(m, 0, &p);
	buf_init(&text, 1 << 20);
	CHECK_INT(mime_part_text(m, p, &text), 0);
	CHECK(has(&text, "<b\xc3\xbc" "cher@\xe4\xbe\x8b.example> (addressed "
	    "as <a+b=c@example.org>): failed"));
	CHECK(has(&text, "Unbekannt: b\xc3\xbc" "cher"));
	buf_fini(&text);
	dsn_transport_needs(&info, &utf8, &eight);
	CHECK(utf8);
	CHECK(eight);
	mime_message_free(&m);
	buf_fini(&out);
}

/* builds a header of exactly hlen bytes (CRLF lines), then a body */
static void
make_header(struct buf *b, size_t hlen)
{
	size_t n = 0;

	buf_reset(b);
	if (buf_append_str(b, "Subject: big\r\n") < 0)
		return;
	n = b->len;
	while (n < hlen) {
		size_t line = hlen - n > 100 ? 100 : hlen - n;

		if (line < 10 && hlen - n > 10)
			line = 10;
		if (hlen - n - line > 0 && hlen - n - line < 10)
			line -= 10;
		if (buf_append_str(b, "X-F: ") < 0)
			return;
		while (b->len < n + line - 2)
			if (buf_append_byte(b, 'f') < 0)
				return;
		if (buf_append_str(b, "\r\n") < 0)
			return;
		n = b->len;
	}
	if (buf_append_str(b, "\r\nthe body\r\n") < 0)
		return;
}

/* the returned header at the limit -1, at it, +1, and far past it */
static void
test_header_limit(void)
{
	static const size_t sizes[] = { DSN_MAX_HEADERS - 1, DSN_MAX_HEADERS,
	    DSN_MAX_HEADERS + 1, 1024 * 1024 };
	size_t k;

	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		const struct dsn_rcpt r = { .addr = "bob@example.org",
		    .action = DSN_ACTION_FAILED };
		struct dsn_info info;
		struct mime_message *m;
		const struct mime_part *p;
		const char *err = NULL;
		struct buf orig, out;
		struct span body;
		bool cut = sizes[k] > DSN_MAX_HEADERS;

		buf_init(&orig, 4 << 20);
		make_header(&orig, sizes[k]);
		CHECK_INT(orig.len, sizes[k] + 12);
		info_init(&info, &r, 1);
		info.orig = orig.data;
		info.orig_len = orig.len;
		buf_init(&out, 4 << 20);
		CHECK_INT(dsn_build(&info, &out, &err), 0);
		m = mime_parse(out.data, out.len, NULL);
		body = child_body(m, 2, &p);
		CHECK(mime_part_is(p, "text", "rfc822-headers"));
		if (!CHECK(body.len <= DSN_MAX_HEADERS))
			fprintf(stderr, "  size %zu: %zu\n", sizes[k],
			    body.len);
		if (!cut)
			CHECK_INT(body.len, sizes[k]);
		else
			CHECK(body.len > DSN_MAX_HEADERS - 100);
		/* a prefix of the original, ending at a line end */
		CHECK(memcmp(body.p, orig.data, body.len) == 0);
		CHECK(body.len >= 2 && body.p[body.len - 1] == '\n' &&
		    body.p[body.len - 2] == '\r');
		CHECK(has(&out, "(cut short: it was too long)") == cut);
		CHECK(!has(&out, "the body"));
		mime_message_free(&m);
		buf_fini(&out);
		buf_fini(&orig);
	}
}

/* return_full: the original comes back byte for byte, whatever it holds
 * (8-bit text, encoded words, lines that look like our boundaries). */
static void
test_return_full(void)
{
	static const char orig[] =
	    "From: a@example.test\r\n"
	    "Subject: =?UTF-8?B?w6k=?= \xc3\xa9t\xc3\xa9\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "\r\n"
	    "--=_postino_0123456789abcdef012345\r\n"
	    "caf\xc3\xa9 =3D =\r\n"
	    ".\r\n"
	    "\r\n";
	const struct dsn_rcpt r = { .addr = "bob@example.org",
	    .action = DSN_ACTION_FAILED };
	struct dsn_info info;
	struct mime_message *m;
	const struct mime_part *p;
	const char *err = NULL;
	struct span body;
	struct buf out;
	bool utf8, eight;

	info_init(&info, &r, 1);
	info.orig = orig;
	info.orig_len = sizeof(orig) - 1;
	info.return_full = true;
	buf_init(&out, 1 << 20);
	CHECK_INT(dsn_build(&info, &out, &err), 0);
	m = mime_parse(out.data, out.len, NULL);
	body = child_body(m, 2, &p);
	/* 8-bit in the header: message/global (RFC 6533 section 6.2) */
	CHECK(mime_part_is(p, "message", "global"));
	CHECK_MEM(body.p, body.len, orig, sizeof(orig) - 1);
	CHECK(has(&out, "Your message is attached."));
	dsn_transport_needs(&info, &utf8, &eight);
	CHECK(utf8);
	CHECK(eight);
	mime_message_free(&m);

	/* an ASCII original: message/rfc822, 7bit, nothing needed */
	buf_reset(&out);
	info.orig = ORIG;
	info.orig_len = strlen(ORIG);
	CHECK_INT(dsn_build(&info, &out, &err), 0);
	m = mime_parse(out.data, out.len, NULL);
	body = child_body(m, 2, &p);
	CHECK(mime_part_is(p, "message", "rfc822"));
	CHECK_MEM(body.p, body.len, ORIG, strlen(ORIG));
	dsn_transport_needs(&info, &utf8, &eight);
	CHECK(!utf8);
	CHECK(!eight);
	mime_message_free(&m);

	/* the 8-bit header alone: message/global-headers, bytes as they
	 * are */
	buf_reset(&out);
	info.orig = orig;
	info.orig_len = sizeof(orig) - 1;
	info.return_full = false;
	CHECK_INT(dsn_build(&info, &out, &err), 0);
	m = mime_parse(out.data, out.len, NULL);
	body = child_body(m, 2, &p);
	CHECK(mime_part_is(p, "message", "global-headers"));
	CHECK_MEM(body.p, body.len, orig, strstr(orig, "\r\n\r\n") + 2 -
	    orig);
	mime_message_free(&m);
	buf_fini(&out);
}

/* too large to return whole: the header only, and the text says so */
static void
test_return_full_too_large(void)
{
	const struct dsn_rcpt r = { .addr = "bob@example.org",
	    .action = DSN_ACTION_FAILED };
	size_t n = DSN_MAX_RETURN_FULL + 1;
	struct dsn_info info;
	const char *err = NULL;
	struct buf out;
	char *big = malloc(n);

	memcpy(big, ORIG, strlen(ORIG));
	memset(big + strlen(ORIG), 'b', n - strlen(ORIG));
	info_init(&info, &r, 1);
	info.orig = big;
	info.orig_len = n;
	info.return_full = true;
	buf_init(&out, 32 << 20);
	CHECK_INT(dsn_build(&info, &out, &err), 0);
	CHECK(has(&out, "Content-Type: text/rfc822-headers"));
	CHECK(has(&out, "too large to be returned whole"));
	CHECK(out.len < 64 * 1024);
	buf_fini(&out);
	free(big);
}

/* bare LF or CR in an original become CRLF; nothing else changes */
static void
test_bare_lf(void)
{
	static const char orig[] = "Subject: x\nX-A: y\rX-B: z\r\n\nbody\n";
	const struct dsn_rcpt r = { .addr = "bob@example.org",
	    .action = DSN_ACTION_FAILED };
	struct dsn_info info;
	const char *err = NULL;
	struct buf out;

	info_init(&info, &r, 1);
	info.orig = orig;
	info.orig_len = sizeof(orig) - 1;
	buf_init(&out, 1 << 20);
	CHECK_INT(dsn_build(&info, &out, &err), 0);
	CHECK(has(&out, "\r\n\r\nSubject: x\r\nX-A: y\r\nX-B: z\r\n\r\n--"));
	CHECK(lines_ok(out.data, out.len, true));
	buf_fini(&out);
}

static void
test_errors(void)
{
	struct dsn_rcpt r = { .addr = "bob@example.org",
	    .action = DSN_ACTION_FAILED };
	struct dsn_info info;
	const char *err = NULL;
	struct buf out;

	buf_init(&out, 1 << 20);
	CHECK_INT(buf_append_str(&out, "keep"), 0);
	info_init(&info, &r, 1);
	info.sender = "";
	CHECK_INT(dsn_build(&info, &out, &err), -1);
	CHECK(err != NULL && strstr(err, "null sender") != NULL);
	info.sender = "<>";
	CHECK_INT(dsn_build(&info, &out, &err), -1);
	info.sender = "a\r\nBcc: x@example.org";
	CHECK_INT(dsn_build(&info, &out, &err), -1);
	info.sender = "bad\xff@example.org";
	CHECK_INT(dsn_build(&info, &out, &err), -1);
	info.sender = "alice@example.test";
	info.nrcpts = 0;
	CHECK_INT(dsn_build(&info, &out, &err), -1);
	info.nrcpts = DSN_MAX_RCPTS + 1;
	CHECK_INT(dsn_build(&info, &out, &err), -1);
	info.nrcpts = 1;
	r.addr = "bob\n@example.org";
	CHECK_INT(dsn_build(&info, &out, &err), -1);
	r.addr = "bob@example.org";
	info.reporting_mta = "mail example";
	CHECK_INT(dsn_build(&info, &out, &err), -1);
	info.reporting_mta = "mail.example.test";
	CHECK_STR(buf_cstr(&out), "keep");
	CHECK_INT(dsn_build(&info, &out, &err), 0);
	buf_fini(&out);

	/* the ceiling: -1 and out as it was */
	buf_init(&out, 600);
	CHECK_INT(buf_append_str(&out, "keep"), 0);
	CHECK_INT(dsn_build(&info, &out, &err), -1);
	CHECK(err != NULL && strstr(err, "ceiling") != NULL);
	CHECK_STR(buf_cstr(&out), "keep");
	buf_fini(&out);
}

/* the most recipients a report may hold */
static void
test_many_rcpts(void)
{
	static struct dsn_rcpt r[DSN_MAX_RCPTS];
	static char addrs[DSN_MAX_RCPTS][32];
	struct dsn_info info;
	const char *err = NULL;
	struct buf out;
	size_t i;

	for (i = 0; i < DSN_MAX_RCPTS; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "u%zu@example.org", i);
		r[i].addr = addrs[i];
		r[i].action = DSN_ACTION_FAILED;
		r[i].diagnostic = "550 5.1.1 unknown";
	}
	info_init(&info, r, DSN_MAX_RCPTS);
	buf_init(&out, 8 << 20);
	CHECK_INT(dsn_build(&info, &out, &err), 0);
	CHECK(has(&out, "Final-Recipient: rfc822; u999@example.org\r\n"));
	CHECK(lines_ok(out.data, out.len, true));
	buf_fini(&out);
}

static void
test_should_bounce(void)
{
	CHECK(!dsn_should_bounce(NULL));
	CHECK(!dsn_should_bounce(""));
	CHECK(!dsn_should_bounce("<>"));
	CHECK(dsn_should_bounce("alice@example.test"));
	CHECK(dsn_should_bounce("MAILER-DAEMON@example.test"));
}

static void
write_sample(const char *dir, const char *name, const struct dsn_info *info)
{
	const char *err = NULL;
	char *path;
	struct buf out;

	buf_init(&out, 32 << 20);
	CHECK_INT(dsn_build(info, &out, &err), 0);
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		abort();
	CHECK_INT(write_file_atomic(path, out.data, out.len, 0644), 0);
	free(path);
	buf_fini(&out);
}

/* Samples for tests/e2e/test_dsn.py; their inputs are repeated there. */
static void
test_write_samples(void)
{
	const char *dir = getenv("DSN_TEST_OUT");
	const struct dsn_rcpt delayed = { .addr = "dave@example.org",
	    .action = DSN_ACTION_DELAYED, .remote_mta = "mx.example.org",
	    .diagnostic = "451 4.7.1 Greylisted, try again",
	    .last_attempt = 1700000000, .will_retry_until = 1700400000 };
	const struct dsn_rcpt utf8 = { .addr = "b\xc3\xbc" "cher@example.org",
	    .action = DSN_ACTION_FAILED,
	    .diagnostic = "550 5.1.1 unknown" };
	struct dsn_info info;

	if (dir == NULL)
		return;
	info_init(&info, two_failed, 2);
	write_sample(dir, "failed.eml", &info);
	info_init(&info, &delayed, 1);
	write_sample(dir, "delayed.eml", &info);
	info_init(&info, &utf8, 1);
	info.sender = "j\xc3\xb6ran@example.test";
	write_sample(dir, "utf8.eml", &info);
	info_init(&info, two_failed, 2);
	info.return_full = true;
	write_sample(dir, "full.eml", &info);
}

static const struct test_case cases[] = {
	TEST(test_structure),
	TEST(test_status_derived),
	TEST(test_status_malformed),
	TEST(test_delayed),
	TEST(test_mixed),
	TEST(test_folding),
	TEST(test_utf8),
	TEST(test_header_limit),
	TEST(test_return_full),
	TEST(test_return_full_too_large),
	TEST(test_bare_lf),
	TEST(test_errors),
	TEST(test_many_rcpts),
	TEST(test_should_bounce),
	TEST(test_write_samples),
};

TEST_MAIN(cases)
