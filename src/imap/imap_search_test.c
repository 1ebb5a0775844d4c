/*
 * imap_search_test.c - unit tests for SEARCH evaluation: every key,
 * positive and negative, on real messages parsed from real commands;
 * case folding, RFC 5322 dates, imap_search_needs and the full-text
 * terms.
 */
#include <stdio.h>
#include <string.h>

#include "imap/imap_parse.h"
#include "imap/imap_search.h"
#include "imap/imap_search_int.h"
#include "lib/arena.h"
#include "lib/buf.h"
#include "store/mailstore.h"
#include "../../tests/lib/test.h"

static const char msg1[] =
    "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.com\r\n"
    "Cc: carol@example.net\r\n"
    "Subject: Meeting\r\n"
    " tomorrow\r\n"
    "Message-ID: <1@example.org>\r\n"
    "\r\n"
    "Let's discuss the budget.\r\n";

static const char msg2[] =
    "Date: 1 Jan 2020 00:30:00 +0100\r\n"
    "From: =?utf-8?q?Andr=C3=A9?= <andre@example.fr>\r\n"
    "To: bob@example.com\r\n"
    "Bcc: secret@example.org\r\n"
    "Subject: =?ISO-8859-1?Q?Caf=E9_cr=E8me?=\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Le caf=E9 est pr=EAt, soft=\r\n"
    "break.\r\n";

static const char msg3[] =
    "From: Dave <dave@example.com>\r\n"
    "Subject: Re: [list] Report\r\n"
    "X-Spam: yes\r\n"
    "Content-Type: multipart/mixed; boundary=\"b\"\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "R3LDvMOfZSBhdXMgS8O2bG4=\r\n"
    "--b\r\n"
    "Content-Type: application/pdf; name=\"report.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "JVBERi0xLjQKc2VjcmV0\r\n"
    "--b--\r\n";

static const char msg4[] =
    "Date: Sat, 31 Dec 2022 23:59:59 -1200\r\n"
    "From: \xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd <ivan@example.ru>\r\n"
    "To: \"\xd0\x93\xd1\x80\xd1\x83\xd0\xbf\xd0\xbf\xd0\xb0\""
    " <g@example.ru>\r\n"
    "Subject: fwd\r\n"
    "Content-Type: multipart/mixed; boundary=x\r\n"
    "\r\n"
    "--x\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: inner secret\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2 \xd0\xbc\xd0\xb8"
    "\xd1\x80\r\n"
    "--x--\r\n";

static struct imap_search_msg msgs[4];
static const uint32_t saved[] = { 20, 45 };
static struct imap_search_ctx ctx;
static struct arena *arena;

static void
setup(void)
{
	static const char *const data[] = { msg1, msg2, msg3, msg4 };
	static const size_t lens[] = { sizeof(msg1) - 1, sizeof(msg2) - 1,
		sizeof(msg3) - 1, sizeof(msg4) - 1 };
	static const uint32_t uids[] = { 10, 20, 30, 45 };
	static const unsigned flags[] = {
		MAILSTORE_F_SEEN | MAILSTORE_F_ANSWERED,
		MAILSTORE_F_FLAGGED,
		MAILSTORE_F_DELETED | MAILSTORE_F_DRAFT,
		MAILSTORE_F_SEEN };
	static const char *const kws[] = { "$Important work", NULL, "",
		"$Junk" };
	static const bool recent[] = { false, true, true, true };
	static const time_t idate[] = { 760686745, 1577835000, 1623758400,
		1672574399 };
	static const uint64_t size[] = { 500, 1500, 3000, 10000 };
	static const uint64_t modseq[] = { 10, 20, 30, 40 };
	size_t i;

	if (arena == NULL)
		arena = arena_new("test", 65536, 16u * 1024 * 1024);
	for (i = 0; i < 4; i++) {
		memset(&msgs[i], 0, sizeof(msgs[i]));
		msgs[i].seq = (uint32_t)i + 1;
		msgs[i].uid = uids[i];
		msgs[i].flags = flags[i];
		msgs[i].keywords = kws[i];
		msgs[i].recent = recent[i];
		msgs[i].internal_date = idate[i];
		msgs[i].size = size[i];
		msgs[i].modseq = modseq[i];
		msgs[i].data = span_make(data[i], lens[i]);
	}
	/* the first message with its header given apart */
	msgs[0].header = imap_search_header_of(msgs[0].data);
	memset(&ctx, 0, sizeof(ctx));
	ctx.exists = 4;
	ctx.max_uid = 45;
	ctx.saved_uids = saved;
	ctx.nsaved = 2;
}

static struct imap_command *
parse(const char *cmdline)
{
	static char line[2048];
	struct imap_command_text in;
	struct imap_parse_options opt;
	struct imap_command *cmd = NULL;
	const char *err = NULL;
	struct span tag;

	snprintf(line, sizeof(line), "%s\r\n", cmdline);
	in.text = span_from_str(line);
	in.lits = NULL;
	in.nlits = 0;
	memset(&opt, 0, sizeof(opt));
	opt.utf8 = true;
	arena_reset(arena);
	if (imap_parse_command(arena, &in, &opt, &cmd, &tag, &err) != 0) {
		fprintf(stderr, "parse error: %s: %s\n", cmdline, err);
		return NULL;
	}
	return cmd;
}

/* hits - the sequence numbers of the messages matching criteria */
static const char *
hits(const char *criteria)
{
	static char out[256];
	char line[1024];
	struct imap_command *cmd;
	size_t i, n = 0;
	int r;

	setup();
	snprintf(line, sizeof(line), "a SEARCH %s", criteria);
	if ((cmd = parse(line)) == NULL)
		return "PARSE";
	out[0] = '\0';
	for (i = 0; i < 4; i++) {
		r = imap_search_match(cmd->u.search.key, &msgs[i], &ctx);
		if (r == 0)
			continue;
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s",
		    n > 0 ? " " : "", r < 0 ? "E" : "");
		if (r > 0)
			n += (size_t)snprintf(out + n, sizeof(out) - n, "%zu",
			    i + 1);
	}
	return out;
}

#define H(crit, want) CHECK_STR(hits(crit), want)

static void
test_flags(void)
{
	H("ALL", "1 2 3 4");
	H("ANSWERED", "1");
	H("UNANSWERED", "2 3 4");
	H("DELETED", "3");
	H("UNDELETED", "1 2 4");
	H("DRAFT", "3");
	H("UNDRAFT", "1 2 4");
	H("FLAGGED", "2");
	H("UNFLAGGED", "1 3 4");
	H("SEEN", "1 4");
	H("UNSEEN", "2 3");
	H("RECENT", "2 3 4");
	H("NEW", "2 3");
	H("OLD", "1");
	H("KEYWORD $Important", "1");
	H("KEYWORD $important", "1");
	H("KEYWORD work", "1");
	H("KEYWORD wor", "");
	H("KEYWORD $Junk", "4");
	H("UNKEYWORD $Junk", "1 2 3");
	H("UNKEYWORD nothing", "1 2 3 4");
}

static void
test_addresses(void)
{
	H("FROM alice", "1");
	H("FROM ALICE@EXAMPLE.ORG", "1");
	H("FROM bob", "");
	H("FROM example", "1 2 3 4");
	H("FROM \"andr\xc3\xa9\"", "2");		/* RFC 2047 decoded */
	H("FROM \"ANDR\xc3\x89\"", "2");		/* folded */
	H("FROM \"\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd\"", "4"); /* "иван" */
	H("FROM =?utf-8?q?", "");		/* the raw form is gone */
	H("TO bob", "1 2");
	H("TO \"\xd0\xb3\xd1\x80\xd1\x83\xd0\xbf\xd0\xbf\xd0\xb0\"", "4");
	H("TO carol", "");
	H("CC carol", "1");
	H("CC \"\"", "1");			/* empty: field present */
	H("CC example.net", "1");
	H("BCC secret", "2");
	H("BCC alice", "");
}

static void
test_subject_header(void)
{
	H("SUBJECT meeting", "1");
	H("SUBJECT \"meeting tomorrow\"", "1");	/* unfolded */
	H("SUBJECT \"caf\xc3\xa9\"", "2");
	H("SUBJECT \"CAF\xc3\x89 CR\xc3\x88ME\"", "2");
	H("SUBJECT report", "3");
	H("SUBJECT secret", "");	/* the inner message's is no subject */
	H("SUBJECT \"\"", "1 2 3 4");
	H("HEADER X-Spam yes", "3");
	H("HEADER x-spam \"\"", "3");
	H("HEADER X-Spam no", "");
	H("HEADER X-Missing \"\"", "");
	H("HEADER Message-ID \"<1@\"", "1");
	H("HEADER Content-Transfer-Encoding quoted", "2");
	H("HEADER subject fwd", "4");
}

static void
test_body_text(void)
{
	H("BODY budget", "1");
	H("BODY BUDGET", "1");
	H("BODY \"pr\xc3\xaat\"", "2");		/* QP, Latin-1 */
	H("BODY softbreak", "2");		/* QP soft line break */
	H("BODY \"gr\xc3\xbc\xc3\x9f" "e\"", "3");	/* base64 */
	H("BODY \"K\xc3\x96LN\"", "3");
	H("BODY report.pdf", "3");		/* attachment name */
	H("BODY secret", "4");			/* not the PDF's bytes */
	H("BODY R3LD", "");			/* nor raw base64 */
	H("BODY \"\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\"", "4");
	H("BODY \"inner secret\"", "4");	/* nested header */
	H("BODY alice", "");			/* header only */
	H("BODY \"\"", "1 2 3 4");
	H("TEXT alice", "1");
	H("TEXT budget", "1");
	H("TEXT \"Subject: Meeting tomorrow\"", "1");
	H("TEXT \"caf\xc3\xa9 cr\xc3\xa8me\"", "2");
	H("TEXT nothing-like-this", "");
	H("CHARSET UTF-8 TEXT \"\xd0\x9c\xd0\x98\xd0\xa0\"", "4");
}

static void
test_dates(void)
{
	/* internal dates: 1994-02-08 05:52Z, 2019-12-31 23:30Z,
	 * 2021-06-15 12:00Z, 2023-01-01 11:59Z */
	H("BEFORE 1-Jan-2020", "1 2");
	H("BEFORE 31-Dec-2019", "1");
	H("ON 31-Dec-2019", "2");
	H("ON 1-Jan-2020", "");
	H("SINCE 31-Dec-2019", "2 3 4");
	H("SINCE 1-Jan-2020", "3 4");
	H("ON 8-Feb-1994", "1");
	/* sent dates as written: 7-Feb-1994, 1-Jan-2020, none, 31-Dec-2022 */
	H("SENTON 7-Feb-1994", "1");
	H("SENTON 8-Feb-1994", "");
	H("SENTBEFORE 1-Jan-2020", "1");
	H("SENTSINCE 1-Jan-2020", "2 4");
	H("SENTON 31-Dec-2022", "4");
	H("SENTSINCE 1-Jan-2023", "");
	H("NOT SENTBEFORE 1-Jan-2020", "2 3 4");
}

static void
test_date_zone(void)
{
	struct imap_command *cmd;

	setup();
	ctx.zone_minutes = 60;	/* 2019-12-31 23:30Z is 2020-01-01 here */
	cmd = parse("a SEARCH ON 1-Jan-2020");
	CHECK(cmd != NULL);
	if (cmd == NULL)
		return;
	CHECK_INT(imap_search_match(cmd->u.search.key, &msgs[1], &ctx), 1);
	CHECK_INT(imap_search_match(cmd->u.search.key, &msgs[0], &ctx), 0);
}

static void
test_sizes_modseq(void)
{
	H("LARGER 1500", "3 4");
	H("LARGER 1499", "2 3 4");
	H("SMALLER 1500", "1");
	H("SMALLER 1501", "1 2");
	H("LARGER 0", "1 2 3 4");
	H("SMALLER 0", "");
	H("MODSEQ 30", "3 4");
	H("MODSEQ 41", "");
	H("MODSEQ \"/flags/\\\\seen\" all 20", "2 3 4");
}

static void
test_sets(void)
{
	H("1", "1");
	H("2:3", "2 3");
	H("*", "4");
	H("3:*", "3 4");
	H("*:3", "3 4");
	H("5:*", "4");			/* "*" is 4: 4:5 */
	H("5:6", "");
	H("1,4", "1 4");
	H("1:2,4", "1 2 4");
	H("$", "2 4");			/* saved UIDs 20, 45 */
	H("UID 20:30", "2 3");
	H("UID *", "4");
	H("UID 46:*", "4");		/* RFC 9051: 45:46 */
	H("UID 1:15", "1");
	H("UID 11:19", "");
	H("UID 10,45", "1 4");
	H("UID $", "2 4");
	H("NOT UID $", "1 3");
}

static void
test_empty_saved(void)
{
	struct imap_command *cmd;
	size_t i;

	setup();
	ctx.saved_uids = NULL;
	ctx.nsaved = 0;
	cmd = parse("a SEARCH $");
	CHECK(cmd != NULL);
	for (i = 0; cmd != NULL && i < 4; i++)
		CHECK_INT(imap_search_match(cmd->u.search.key, &msgs[i],
		    &ctx), 0);
}

static void
test_logic(void)
{
	H("OR SEEN FLAGGED", "1 2 4");
	H("NOT SEEN", "2 3");
	H("NOT NOT SEEN", "1 4");
	H("(SEEN ANSWERED)", "1");
	H("SEEN ANSWERED", "1");
	H("OR (FROM alice) (OR BCC secret DELETED)", "1 2 3");
	H("FROM example SEEN", "1 4");
	H("OR BODY budget SUBJECT report", "1 3");
	H("NOT (OR 1 2)", "3 4");
	H("UNSEEN NOT DELETED", "2");
}

/* header only (no data), and data only: both are read */
static void
test_header_only(void)
{
	struct imap_command *cmd;
	struct imap_search_msg m;

	setup();
	m = msgs[1];
	m.header = imap_search_header_of(m.data);
	m.data = span_make(NULL, 0);
	cmd = parse("a SEARCH SUBJECT \"caf\xc3\xa9\" SENTON 1-Jan-2020");
	CHECK(cmd != NULL);
	if (cmd != NULL)
		CHECK_INT(imap_search_match(cmd->u.search.key, &m, &ctx), 1);
	/* a message with an empty header: its body is no header */
	m.header = span_make(NULL, 0);
	m.data = SPAN_LIT("\r\nSubject: not a header\r\n");
	cmd = parse("a SEARCH SUBJECT not");
	CHECK(cmd != NULL);
	if (cmd != NULL)
		CHECK_INT(imap_search_match(cmd->u.search.key, &m, &ctx), 0);
	cmd = parse("a SEARCH BODY \"subject: not\"");
	CHECK(cmd != NULL);
	if (cmd != NULL)
		CHECK_INT(imap_search_match(cmd->u.search.key, &m, &ctx), 1);
	CHECK_INT(imap_search_header_of(SPAN_LIT("\nx")).len, 1);
	CHECK_INT(imap_search_header_of(SPAN_LIT("a: b\n\nx")).len, 6);
	CHECK_INT(imap_search_header_of(SPAN_LIT("a: b\r\n\r\nx")).len, 8);
	CHECK_INT(imap_search_header_of(SPAN_LIT("a: b\r\n")).len, 6);
	/* a message with no header block end at all */
	m.header = span_make(NULL, 0);
	m.data = SPAN_LIT("Subject: x\r\nFrom: y");
	cmd = parse("a SEARCH FROM y SUBJECT x");
	CHECK(cmd != NULL);
	if (cmd != NULL)
		CHECK_INT(imap_search_match(cmd->u.search.key, &m, &ctx), 1);
}

static void
test_needs_terms(void)
{
	struct imap_command *cmd;
	struct span terms[4];
	bool body_only[4];
	size_t n;

	setup();
	cmd = parse("a SEARCH FLAGGED 1:3 UID 4 LARGER 3 BEFORE 1-Jan-2000");
	CHECK(cmd != NULL && imap_search_needs(cmd->u.search.key) == 0);
	cmd = parse("a SEARCH FROM x");
	CHECK(cmd != NULL && imap_search_needs(cmd->u.search.key) ==
	    IMAP_SEARCH_NEED_HEADER);
	cmd = parse("a SEARCH NOT (SENTON 1-Jan-2020)");
	CHECK(cmd != NULL && imap_search_needs(cmd->u.search.key) ==
	    IMAP_SEARCH_NEED_HEADER);
	cmd = parse("a SEARCH OR SEEN BODY x");
	CHECK(cmd != NULL && imap_search_needs(cmd->u.search.key) ==
	    IMAP_SEARCH_NEED_BODY);
	cmd = parse("a SEARCH HEADER a b TEXT c");
	CHECK(cmd != NULL && imap_search_needs(cmd->u.search.key) ==
	    (IMAP_SEARCH_NEED_HEADER | IMAP_SEARCH_NEED_BODY));

	cmd = parse("a SEARCH BODY foo TEXT bar (BODY baz SEEN) "
	    "OR BODY q TEXT r NOT BODY z BODY \"\" SUBJECT s");
	CHECK(cmd != NULL);
	if (cmd == NULL)
		return;
	n = imap_search_fts_terms_kind(cmd->u.search.key, terms, body_only,
	    4);
	CHECK_INT(n, 3);
	CHECK(span_eq(terms[0], SPAN_LIT("foo")) && body_only[0]);
	CHECK(span_eq(terms[1], SPAN_LIT("bar")) && !body_only[1]);
	CHECK(span_eq(terms[2], SPAN_LIT("baz")) && body_only[2]);
	CHECK_INT(imap_search_fts_terms(cmd->u.search.key, terms, 2), 2);
	CHECK(span_eq(terms[1], SPAN_LIT("bar")));
	CHECK_INT(imap_search_fts_terms(cmd->u.search.key, terms, 0), 0);
	cmd = parse("a SEARCH OR BODY a BODY b");
	CHECK(cmd != NULL && imap_search_fts_terms(cmd->u.search.key, terms,
	    4) == 0);
}

static void
test_fold(void)
{
	struct buf b;

	buf_init(&b, 256);
	/* ASCII, Latin-1, Latin Ext-A, Greek, Cyrillic, fullwidth */
	CHECK_INT(imap_search_fold(SPAN_LIT("AbC \xc3\x89\xc3\x97\xc3\x9f "
	    "\xc5\x81\xc5\xb8 \xce\x91\xce\xa3\xce\x86 \xd0\x81\xd0\xaf "
	    "\xef\xbc\xa1 \xff\xc3"), &b), 0);
	CHECK_STR(buf_cstr(&b), "abc \xc3\xa9\xc3\x97\xc3\x9f "
	    "\xc5\x82\xc3\xbf \xce\xb1\xcf\x83\xce\xac \xd1\x91\xd1\x8f "
	    "\xef\xbd\x81 \xff\xc3");
	buf_fini(&b);
	CHECK(imap_search_contains(SPAN_LIT("Hello W\xc3\x96RLD"),
	    SPAN_LIT("o w\xc3\xb6r")));
	CHECK(!imap_search_contains(SPAN_LIT("Hello"), SPAN_LIT("hellos")));
	CHECK(imap_search_contains(SPAN_LIT("x"), SPAN_LIT("")));
	CHECK(imap_search_contains(SPAN_LIT(""), SPAN_LIT("")));
}

static void
test_date_parse(void)
{
	struct imap_date d;
	time_t t = 0;

	CHECK(imap_search_date_parse(SPAN_LIT("Mon, 7 Feb 1994 21:52:25 "
	    "-0800"), &d, &t));
	CHECK_INT(d.year, 1994);
	CHECK_INT(d.month, 2);
	CHECK_INT(d.day, 7);
	CHECK_INT(t, 760686745);
	CHECK(imap_search_date_parse(SPAN_LIT("Fri, 21 Nov 1997 09:55:06 "
	    "-0600 (CST)"), &d, &t));
	CHECK_INT(t, 880127706);
	CHECK(imap_search_date_parse(SPAN_LIT(" 21 Nov 97 09:55:06 CST"),
	    &d, &t));
	CHECK_INT(t, 880127706);
	CHECK_INT(d.year, 1997);
	CHECK(imap_search_date_parse(SPAN_LIT("(comment) 21\r\n Nov 1997 "
	    "15:55 GMT"), &d, &t));
	CHECK_INT(t, 880127706 - 6);
	CHECK(imap_search_date_parse(SPAN_LIT("1 jan 049"), &d, &t));
	CHECK_INT(d.year, 1949);
	CHECK(imap_search_date_parse(SPAN_LIT("1 January 2049"), &d, NULL));
	CHECK_INT(d.year, 2049);
	CHECK(imap_search_date_parse(SPAN_LIT("1 Jan 20"), &d, NULL));
	CHECK_INT(d.year, 2020);
	CHECK(imap_search_date_parse(SPAN_LIT("Thu, 01 Jan 1970 00:00:00 "
	    "+0000"), &d, &t));
	CHECK_INT(t, 0);
	CHECK(!imap_search_date_parse(SPAN_LIT(""), &d, &t));
	CHECK(!imap_search_date_parse(SPAN_LIT("yesterday"), &d, &t));
	CHECK(!imap_search_date_parse(SPAN_LIT("32 Jan 2020"), &d, &t));
	CHECK(!imap_search_date_parse(SPAN_LIT("1 Foo 2020"), &d, &t));
	CHECK(!imap_search_date_parse(SPAN_LIT("2020-01-01"), &d, &t));
}

static void
test_cleanup(void)
{
	arena_free(&arena);
}

static const struct test_case cases[] = {
	TEST(test_flags),
	TEST(test_addresses),
	TEST(test_subject_header),
	TEST(test_body_text),
	TEST(test_dates),
	TEST(test_date_zone),
	TEST(test_sizes_modseq),
	TEST(test_sets),
	TEST(test_empty_saved),
	TEST(test_logic),
	TEST(test_header_only),
	TEST(test_needs_terms),
	TEST(test_fold),
	TEST(test_date_parse),
	TEST(test_cleanup),
};

TEST_MAIN(cases)
