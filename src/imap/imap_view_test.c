/*
 * imap_view_test.c - unit tests for the selected-mailbox view
 * (imap/imap_view.h) on a real store in a temporary data directory: the
 * sequence map, SELECT/EXAMINE for rev1 and rev2, STORE with every mode
 * and UNCHANGEDSINCE, FETCH with implicit \Seen and its pause/resume over
 * thousands of messages, SEARCH with ESEARCH/SAVE/CHARSET, SORT, THREAD,
 * COPY/MOVE with COPYUID and TRYCREATE, EXPUNGE/UID EXPUNGE, two views
 * on one mailbox seeing each other's changes, QRESYNC select, and the
 * read-only refusals of EXAMINE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_parse.h"
#include "imap/imap_recent.h"
#include "imap/imap_session.h"
#include "imap/imap_view.h"
#include "imap/imap_view_int.h"
#include "lib/arena.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "store/mailstore.h"
#include "store/store_int.h"
#include "../../tests/lib/test.h"

static char		*data_dir;
static struct arena	*ar;

static const struct imap_view_opts rev1 = { 0 };
static const struct imap_view_opts rev2 = { .rev2 = true, .utf8 = true };
static const struct imap_view_opts cond = { .condstore = true };
static const struct imap_view_opts qres = { .condstore = true,
    .qresync = true };

static struct mailstore *
setup(void)
{
	char tmpl[] = "/tmp/postino-view-XXXXXX";
	const char *err = NULL;
	struct mailstore *ms;

	log_set_level(LOG_LEVEL_ERROR);
	imap_recent_reset();	/* a fresh store may reuse UIDVALIDITY */
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	data_dir = xasprintf("%s/data", tmpl);
	if (mailstore_create(data_dir, 1, &err) < 0 ||
	    (ms = mailstore_open(data_dir, 1, &err)) == NULL) {
		fprintf(stderr, "store: %s\n", err);
		exit(1);
	}
	ar = arena_new("view-test", 64 * 1024, 64u * 1024 * 1024);
	return ms;
}

static struct mailstore *
second_handle(void)
{
	const char *err = NULL;
	struct mailstore *ms = mailstore_open(data_dir, 1, &err);

	if (ms == NULL) {
		fprintf(stderr, "store: %s\n", err);
		exit(1);
	}
	return ms;
}

static void
teardown(struct mailstore **ms)
{
	char *top = xstrdup(data_dir);

	mailstore_close(ms);
	arena_free(&ar);
	*strrchr(top, '/') = '\0';
	CHECK_INT(store_rmtree(top), 0);
	free(top);
	free(data_dir);
	data_dir = NULL;
}

static uint32_t
deliver(struct mailstore *ms, const char *mbox, const char *text,
    unsigned flags)
{
	struct mailstore_delivery d;
	const char *err = NULL;

	memset(&d, 0, sizeof(d));
	d.mailbox = mbox;
	d.fd = -1;
	d.data = text;
	d.size = strlen(text);
	d.flags = flags;
	if (mailstore_deliver(ms, &d, 1, &err) < 0 || d.status != 0) {
		fprintf(stderr, "deliver: %s\n", err != NULL ? err : d.error);
		exit(1);
	}
	return d.uid;
}

static const char msg_a[] =
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.org\r\n"
    "Subject: apples\r\n"
    "Date: Mon, 2 Jan 2023 10:00:00 +0000\r\n"
    "Message-ID: <a@example.org>\r\n"
    "\r\n"
    "hello orchard world\r\n";
static const char msg_b[] =
    "From: Carol <carol@example.org>\r\n"
    "To: bob@example.org\r\n"
    "Subject: bananas\r\n"
    "Date: Tue, 3 Jan 2023 10:00:00 +0000\r\n"
    "Message-ID: <b@example.org>\r\n"
    "\r\n"
    "yellow fruit\r\n";
static const char msg_c[] =
    "From: Dave <dave@example.org>\r\n"
    "To: bob@example.org\r\n"
    "Subject: Re: apples\r\n"
    "Date: Wed, 4 Jan 2023 10:00:00 +0000\r\n"
    "Message-ID: <c@example.org>\r\n"
    "In-Reply-To: <a@example.org>\r\n"
    "References: <a@example.org>\r\n"
    "\r\n"
    "more about the orchard\r\n";

static struct imap_command *parse(const char *line);

/* seen_before - a rev1 session selects INBOX once: \Recent is taken */
static void
seen_before(struct mailstore *ms)
{
	static const struct imap_view_opts o = { 0 };
	struct imap_result res;
	struct imap_view *v;
	struct buf out;

	buf_init(&out, 1u << 20);
	v = imap_view_open(ms, parse("a SELECT INBOX"), false, &o, &out,
	    &res);
	CHECK(v != NULL);
	imap_view_free(&v);
	buf_fini(&out);
}

/*
 * Three messages in INBOX: 1 seen, 2 and 3 unseen; an earlier session
 * has had them as \Recent (so they are not any more).
 */
static struct mailstore *
setup3(void)
{
	struct mailstore *ms = setup();

	deliver(ms, "INBOX", msg_a, MAILSTORE_F_SEEN);
	deliver(ms, "INBOX", msg_b, 0);
	deliver(ms, "INBOX", msg_c, 0);
	seen_before(ms);
	return ms;
}

static struct imap_command *
parse(const char *line)
{
	struct imap_command_text t;
	struct imap_parse_options po;
	struct imap_command *cmd = NULL;
	const char *err = NULL;
	char *text = arena_printf(ar, "%s\r\n", line);

	memset(&t, 0, sizeof(t));
	t.text = span_make(text, strlen(text));
	memset(&po, 0, sizeof(po));
	po.utf8 = true;
	if (imap_parse_command(ar, &t, &po, &cmd, NULL, &err) < 0) {
		fprintf(stderr, "parse \"%s\": %s\n", line, err);
		exit(1);
	}
	return cmd;
}

static struct imap_view *
open_view(struct mailstore *ms, const char *line,
    const struct imap_view_opts *o, struct buf *out, struct imap_result *res)
{
	buf_reset(out);
	return imap_view_open(ms, parse(line),
	    strncmp(line + 2, "EXAMINE", 7) == 0, o, out, res);
}

/* Runs a command to its end (resuming), output in out (reset first). */
static void
run(struct imap_view *v, struct mailstore *ms, const char *line,
    const struct imap_view_opts *o, struct buf *out, struct imap_result *res)
{
	int r;

	buf_reset(out);
	r = imap_view_command(v, ms, parse(line), o, out, res);
	while (r == 1)
		r = imap_view_resume(v, ms, o, out, res);
}

static void
sync_view(struct imap_view *v, struct mailstore *ms,
    const struct imap_view_opts *o, bool allow, struct buf *out)
{
	buf_reset(out);
	CHECK_INT(imap_view_sync(v, ms, o, allow, out), 0);
}

static const char *
text(const struct buf *b)
{
	return b->len > 0 ? (const char *)b->data : "";
}

#define HAS(b, s) check_has((b), (s), true, __LINE__)
#define HASNT(b, s) check_has((b), (s), false, __LINE__)

static void
check_has(const struct buf *b, const char *s, bool want, int line)
{
	bool got = strstr(text(b), s) != NULL;

	if (!test_check(got == want, want ? "output has" : "output lacks",
	    __FILE__, line))
		fprintf(stderr, "  %s \"%s\" in:\n%s\n", want ? "missing" :
		    "unexpected", s, text(b));
}

static void
check_res(const struct imap_result *res, enum imap_result_status st,
    const char *code, int line)
{
	if (!test_check_int(res->status, st, "status", "expected", __FILE__,
	    line) || (code != NULL && !test_check_str(imap_result_code(res),
	    code, "code", "expected", __FILE__, line)))
		fprintf(stderr, "  result: %d [%s] %s\n", res->status,
		    imap_result_code(res), res->text);
}
#define RES(res, st, code) check_res((res), (st), (code), __LINE__)

static unsigned
count_lines(const struct buf *b, const char *needle)
{
	const char *p = text(b);
	unsigned n = 0;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	return n;
}

/* ---- sequence map ---- */

static void
t_seqmap(void)
{
	struct seqmap m;
	uint32_t gone[] = { 2, 9 }, u;

	seqmap_init(&m);
	for (u = 1; u <= 5; u++)
		seqmap_append(&m, u);
	seqmap_append(&m, 7);
	seqmap_append(&m, 9);
	seqmap_append(&m, 10);
	CHECK_INT(m.count, 8);
	CHECK_INT(m.n, 3);
	CHECK_INT(seqmap_uid(&m, 6), 7);
	CHECK_INT(seqmap_uid(&m, 8), 10);
	CHECK_INT(seqmap_uid(&m, 9), 0);
	CHECK_INT(seqmap_uid(&m, 0), 0);
	CHECK_INT(seqmap_seq(&m, 9), 7);
	CHECK_INT(seqmap_seq(&m, 6), 0);
	CHECK_INT(seqmap_seq(&m, 11), 0);
	CHECK_INT(seqmap_seq_ge(&m, 6), 6);
	CHECK_INT(seqmap_seq_ge(&m, 11), 9);
	CHECK_INT(seqmap_seq_le(&m, 6), 5);
	CHECK_INT(seqmap_seq_le(&m, 100), 8);
	CHECK_INT(seqmap_seq_le(&m, 0), 0);
	CHECK_INT(seqmap_last(&m), 10);
	seqmap_remove(&m, gone, 2);
	CHECK_INT(m.count, 6);
	CHECK_INT(seqmap_uid(&m, 1), 1);
	CHECK_INT(seqmap_uid(&m, 2), 3);
	CHECK_INT(seqmap_seq(&m, 10), 6);
	CHECK_INT(seqmap_seq(&m, 2), 0);
	CHECK_INT(seqmap_seq(&m, 9), 0);
	/* removing the first and last of runs, and everything */
	{
		uint32_t all[] = { 1, 3, 4, 5, 7, 10 };

		seqmap_remove(&m, all, 6);
		CHECK_INT(m.count, 0);
		CHECK_INT(seqmap_last(&m), 0);
		seqmap_append(&m, 20);
		CHECK_INT(seqmap_seq(&m, 20), 1);
	}
	seqmap_fini(&m);
}

/* A large mailbox delivered in order costs one run. */
static void
t_seqmap_compact(void)
{
	struct seqmap m;
	uint32_t u, odd[5000];

	seqmap_init(&m);
	for (u = 1; u <= 10000; u++)
		seqmap_append(&m, u);
	CHECK_INT(m.n, 1);
	CHECK_INT(seqmap_uid(&m, 7777), 7777);
	for (u = 0; u < 5000; u++)
		odd[u] = 2 * u + 1;
	seqmap_remove(&m, odd, 5000);
	CHECK_INT(m.count, 5000);
	CHECK_INT(seqmap_uid(&m, 1), 2);
	CHECK_INT(seqmap_uid(&m, 5000), 10000);
	CHECK_INT(seqmap_seq(&m, 5000), 2500);
	seqmap_fini(&m);
}

/* ---- SELECT / EXAMINE ---- */

static void
t_select_rev1(void)
{
	struct mailstore *ms = setup3();
	struct imap_result res;
	struct imap_view *v;
	struct buf out;
	const char *err = NULL;

	CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 3, "$Junk",
	    NULL, &err), 1);
	buf_init(&out, 1u << 20);
	v = open_view(ms, "a SELECT INBOX", &rev1, &out, &res);
	CHECK(v != NULL);
	RES(&res, IMAP_RESULT_OK, "READ-WRITE");
	HAS(&out, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft "
	    "$Junk)\r\n");
	HAS(&out, "* 3 EXISTS\r\n");
	HAS(&out, "* 0 RECENT\r\n");
	HAS(&out, "* OK [UNSEEN 2] ");
	HAS(&out, "* OK [UIDVALIDITY ");
	HAS(&out, "* OK [UIDNEXT 4] ");
	HAS(&out, "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted "
	    "\\Seen \\Draft $Junk \\*)] ");
	HAS(&out, "* OK [HIGHESTMODSEQ ");
	HASNT(&out, "* LIST");
	CHECK_STR(imap_view_mailbox(v), "INBOX");
	CHECK(!imap_view_readonly(v));
	imap_view_free(&v);
	CHECK(v == NULL);
	imap_view_free(&v);

	v = open_view(ms, "a EXAMINE INBOX", &rev1, &out, &res);
	CHECK(v != NULL);
	RES(&res, IMAP_RESULT_OK, "READ-ONLY");
	HAS(&out, "* OK [PERMANENTFLAGS ()] ");
	CHECK(imap_view_readonly(v));
	imap_view_free(&v);

	v = open_view(ms, "a SELECT Nope", &rev1, &out, &res);
	CHECK(v == NULL);
	RES(&res, IMAP_RESULT_NO, "NONEXISTENT");

	/* QRESYNC parameters without ENABLE QRESYNC */
	v = open_view(ms, "a SELECT INBOX (QRESYNC (1 1))", &cond, &out,
	    &res);
	CHECK(v == NULL);
	RES(&res, IMAP_RESULT_BAD, NULL);
	buf_fini(&out);
	teardown(&ms);
}

static void
t_select_rev2(void)
{
	struct mailstore *ms = setup3();
	struct imap_result res;
	struct imap_view *v;
	struct buf out;

	buf_init(&out, 1u << 20);
	v = open_view(ms, "a SELECT INBOX", &rev2, &out, &res);
	CHECK(v != NULL);
	RES(&res, IMAP_RESULT_OK, "READ-WRITE");
	HAS(&out, "* 3 EXISTS\r\n");
	HASNT(&out, "RECENT");
	HASNT(&out, "UNSEEN");
	HAS(&out, "* LIST () \"/\" \"INBOX\"\r\n");
	HAS(&out, "\\Draft \\*)]");
	imap_view_free(&v);

	/* an empty mailbox */
	v = open_view(ms, "a SELECT Trash", &rev2, &out, &res);
	CHECK(v != NULL);
	HAS(&out, "* 0 EXISTS\r\n");
	HAS(&out, "* OK [UIDNEXT 1] ");
	run(v, ms, "a FETCH 1:* FLAGS", &rev2, &out, &res);
	RES(&res, IMAP_RESULT_BAD, NULL);
	run(v, ms, "a UID FETCH 1:* FLAGS", &rev2, &out, &res);
	RES(&res, IMAP_RESULT_OK, NULL);
	CHECK_INT(out.len, 0);
	run(v, ms, "a SEARCH ALL", &rev2, &out, &res);
	RES(&res, IMAP_RESULT_OK, NULL);
	HAS(&out, "* ESEARCH (TAG \"a\")\r\n");
	imap_view_free(&v);
	buf_fini(&out);
	teardown(&ms);
}

/* ---- STORE ---- */

static void
t_store(void)
{
	struct mailstore *ms = setup3();
	struct imap_result res;
	struct imap_view *v;
	struct buf out;

	buf_init(&out, 1u << 20);
	v = open_view(ms, "a SELECT INBOX", &rev1, &out, &res);
	run(v, ms, "a STORE 1:2 +FLAGS (\\Flagged)", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, "");
	HAS(&out, "* 1 FETCH (FLAGS (\\Flagged \\Seen))\r\n");
	HAS(&out, "* 2 FETCH (FLAGS (\\Flagged))\r\n");
	CHECK_INT(count_lines(&out, "FETCH"), 2);

	run(v, ms, "a UID STORE 3 FLAGS.SILENT ($Work \\Answered)", &rev1,
	    &out, &res);
	RES(&res, IMAP_RESULT_OK, "");
	CHECK_INT(out.len, 0);
	run(v, ms, "a FETCH 3 FLAGS", &rev1, &out, &res);
	HAS(&out, "* 3 FETCH (FLAGS (\\Answered $Work))\r\n");

	run(v, ms, "a STORE 1 -FLAGS (\\Seen \\Flagged)", &rev1, &out, &res);
	HAS(&out, "* 1 FETCH (FLAGS ())\r\n");
	run(v, ms, "a UID STORE 3 -FLAGS ($work)", &rev1, &out, &res);
	HAS(&out, "* 3 FETCH (FLAGS (\\Answered) UID 3)\r\n");
	run(v, ms, "a STORE 3 FLAGS (\\Seen)", &rev1, &out, &res);
	HAS(&out, "* 3 FETCH (FLAGS (\\Seen))\r\n");

	/* errors */
	run(v, ms, "a STORE 4 +FLAGS (\\Seen)", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_BAD, NULL);
	run(v, ms, "a STORE 1 +FLAGS (\\Bogus)", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_BAD, NULL);
	run(v, ms, "a UID STORE 99 +FLAGS (\\Seen)", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, NULL);
	CHECK_INT(out.len, 0);
	imap_view_free(&v);

	v = open_view(ms, "a EXAMINE INBOX", &rev1, &out, &res);
	run(v, ms, "a STORE 1 +FLAGS (\\Seen)", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_NO, NULL);
	imap_view_free(&v);
	buf_fini(&out);
	teardown(&ms);
}

/* CONDSTORE: MODSEQ in the responses, UNCHANGEDSINCE and MODIFIED. */
static void
t_store_condstore(void)
{
	struct mailstore *ms = setup3();
	struct imap_result res;
	struct imap_view *v;
	struct buf out;
	char line[128];
	uint32_t uv, un;
	uint64_t h;
	const char *err = NULL;

	buf_init(&out, 1u << 20);
	v = open_view(ms, "a SELECT INBOX (CONDSTORE)", &rev1, &out, &res);
	CHECK(v != NULL);
	run(v, ms, "a STORE 2 +FLAGS (\\Flagged)", &rev1, &out, &res);
	HAS(&out, "* 2 FETCH (FLAGS (\\Flagged) MODSEQ (");
	CHECK_INT(vs_state(ms, "INBOX", &uv, &un, &h, &err), 1);
	/* message 2 was just changed (modseq h): refused for h - 1 */
	snprintf(line, sizeof(line), "a STORE 1:3 (UNCHANGEDSINCE %llu) "
	    "+FLAGS (\\Deleted)", (unsigned long long)(h - 1));
	run(v, ms, line, &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, "MODIFIED 2");
	HAS(&out, "* 1 FETCH (FLAGS (\\Deleted \\Seen) MODSEQ (");
	HAS(&out, "* 3 FETCH (FLAGS (\\Deleted) MODSEQ (");
	HASNT(&out, "* 2 FETCH");
	run(v, ms, "a UID STORE 1:3 (UNCHANGEDSINCE 0) +FLAGS (\\Draft)",
	    &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, "MODIFIED 1:3");
	CHECK_INT(out.len, 0);
	/* .SILENT with CONDSTORE still tells the new MODSEQ */
	run(v, ms, "a UID STORE 2 +FLAGS.SILENT (\\Answered)", &rev1, &out,
	    &res);
	HAS(&out, "* 2 FETCH (UID 2 MODSEQ (");
	HASNT(&out, "FLAGS");
	imap_view_free(&v);
	buf_fini(&out);
	teardown(&ms);
}

/* ---- FETCH ---- */

static void
t_fetch(void)
{
	struct mailstore *ms = setup3();
	struct imap_result res;
	struct imap_view *v;
	struct buf out;
	char want[64];

	buf_init(&out, 1u << 20);
	v = open_view(ms, "a SELECT INBOX", &rev1, &out, &res);
	run(v, ms, "a FETCH 1:* (FLAGS UID RFC822.SIZE)", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, "");
	CHECK_INT(count_lines(&out, " FETCH ("), 3);
	HAS(&out, "* 1 FETCH (");
	HAS(&out, "UID 3");
	snprintf(want, sizeof(want), "RFC822.SIZE %zu)", sizeof(msg_a) - 1);
	HAS(&out, want);
	run(v, ms, "a UID FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
	    &rev1, &out, &res);
	HAS(&out, "Subject: bananas");
	HAS(&out, "UID 2");
	HASNT(&out, "\\Seen");
	/* BODY[] sets \Seen and says so */
	run(v, ms, "a FETCH 2 (BODY[TEXT])", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, "");
	HAS(&out, "yellow fruit");
	HAS(&out, "\\Seen");
	run(v, ms, "a FETCH 2 (BODY[TEXT])", &rev1, &out, &res);
	HASNT(&out, "FLAGS");
	run(v, ms, "a FETCH 2 FLAGS", &rev1, &out, &res);
	HAS(&out, "* 2 FETCH (FLAGS (\\Seen))");
	run(v, ms, "a FETCH 1 (ENVELOPE BODYSTRUCTURE)", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, "");
	HAS(&out, "ENVELOPE (\"Mon, 2 Jan 2023 10:00:00 +0000\" \"apples\"");
	HAS(&out, "BODYSTRUCTURE (\"text\" \"plain\"");
	run(v, ms, "a FETCH 4 FLAGS", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_BAD, NULL);
	run(v, ms, "a FETCH 2:* FLAGS", &rev1, &out, &res);
	CHECK_INT(count_lines(&out, " FETCH ("), 2);
	run(v, ms, "a UID FETCH 3:99 FLAGS", &rev1, &out, &res);
	CHECK_INT(count_lines(&out, " FETCH ("), 1);
	HAS(&out, "* 3 FETCH (");
	/* n:* with n past the last UID still gives the last message */
	run(v, ms, "a UID FETCH 99:* FLAGS", &rev1, &out, &res);
	HAS(&out, "* 3 FETCH (");
	run(v, ms, "a FETCH 1 (UID MODSEQ)", &rev1, &out, &res);
	HAS(&out, "MODSEQ (");
	imap_view_free(&v);

	/* EXAMINE: no implicit \Seen */
	v = open_view(ms, "a EXAMINE INBOX", &rev1, &out, &res);
	run(v, ms, "a FETCH 3 (BODY[])", &rev1, &out, &res);
	HAS(&out, "more about the orchard");
	HASNT(&out, "FLAGS");
	run(v, ms, "a FETCH 3 (FLAGS)", &rev1, &out, &res);
	HAS(&out, "* 3 FETCH (FLAGS ())");
	imap_view_free(&v);
	buf_fini(&out);
	teardown(&ms);
}

/* CHANGEDSINCE and VANISHED (RFC 7162). */
static void
t_fetch_changedsince(void)
{
	struct mailstore *ms = setup3();
	struct imap_result res;
	struct imap_view *v;
	struct buf out;
	char line[128];
	uint32_t uv, un;
	uint64_t h;
	const char *err = NULL;

	buf_init(&out, 1u << 20);
	v = open_view(ms, "a SELECT INBOX", &qres, &out, &res);
	CHECK_INT(vs_state(ms, "INBOX", &uv, &un, &h, &err), 1);
	run(v, ms, "a STORE 2 +FLAGS (\\Deleted)", &qres, &out, &res);
	run(v, ms, "a EXPUNGE", &qres, &out, &res);
	HAS(&out, "* VANISHED 2\r\n");
	CHECK(strncmp(res.code, "HIGHESTMODSEQ ", 14) == 0);
	run(v, ms, "a UID STORE 3 +FLAGS (\\Flagged)", &qres, &out, &res);
	snprintf(line, sizeof(line), "a UID FETCH 1:* (FLAGS) "
	    "(CHANGEDSINCE %llu VANISHED)", (unsigned long long)h);
	run(v, ms, line, &qres, &out, &res);
	RES(&res, IMAP_RESULT_OK, "");
	HAS(&out, "* VANISHED (EARLIER) 2\r\n");
	HAS(&out, "* 2 FETCH (");
	HAS(&out, "UID 3");
	HAS(&out, "MODSEQ (");
	HASNT(&out, "* 1 FETCH");
	/* VANISHED needs QRESYNC enabled (the parser wants UID FETCH) */
	run(v, ms, line, &cond, &out, &res);
	RES(&res, IMAP_RESULT_BAD, NULL);
	imap_view_free(&v);
	buf_fini(&out);
	teardown(&ms);
}

/* FETCH 1:* over thousands of messages pauses near OUT_HIGH. */
static void
t_fetch_pause(void)
{
	struct mailstore *ms = setup();
	struct mailstore_delivery *d;
	struct imap_result res;
	struct imap_view *v;
	struct buf out, all;
	const char *err = NULL;
	unsigned i, pauses = 0, n = 3000;
	char *body;
	int r;

	body = xmalloc(400);
	memset(body, 'x', 399);
	body[399] = '\0';
	d = xcalloc(n, sizeof(*d));
	for (i = 0; i < n; i++) {
		char *t = xasprintf("Subject: m%u\r\n\r\n%s\r\n", i + 1, body);

		d[i].mailbox = "INBOX";
		d[i].fd = -1;
		d[i].data = t;
		d[i].size = strlen(t);
	}
	CHECK_INT(mailstore_deliver(ms, d, n, &err), 0);
	buf_init(&out, 64u * 1024 * 1024);
	buf_init(&all, 64u * 1024 * 1024);
	v = open_view(ms, "a SELECT INBOX", &rev1, &out, &res);
	HAS(&out, "* 3000 EXISTS");
	buf_reset(&out);
	r = imap_view_command(v, ms, parse("a FETCH 1:* (UID BODY.PEEK[])"),
	    &rev1, &out, &res);
	while (r == 1) {
		pauses++;
		/* never much more than the mark */
		CHECK(out.len >= IMAP_SESSION_OUT_HIGH);
		CHECK(out.len < IMAP_SESSION_OUT_HIGH + 1024);
		CHECK_INT(buf_append(&all, out.data, out.len), 0);
		buf_reset(&out);
		r = imap_view_resume(v, ms, &rev1, &out, &res);
	}
	CHECK_INT(buf_append(&all, out.data, out.len), 0);
	RES(&res, IMAP_RESULT_OK, "");
	CHECK(pauses >= 3);
	CHECK_INT(count_lines(&all, " FETCH ("), n);
	HAS(&all, "* 1 FETCH (UID 1 ");
	HAS(&all, "* 1500 FETCH (UID 1500 ");
	HAS(&all, "* 3000 FETCH (UID 3000 ");
	HAS(&all, "Subject: m3000\r\n");
	/* in order, none twice */
	{
		const char *p = text(&all);
		unsigned want = 1;

		while ((p = strstr(p, "\r\n* ")) != NULL || want == 1) {
			unsigned got;

			if (want == 1 && strncmp(text(&all), "* ", 2) == 0)
				p = text(&all) - 2;
			if (sscanf(p + 4, "%u FETCH", &got) != 1)
				break;
			if (got != want) {
				CHECK_INT(got, want);
				break;
			}
			want++;
			p += 4;
		}
		CHECK_INT(want, n + 1);
	}
	/* STORE 1:* pauses too, and FETCH of the flags afterwards agrees */
	buf_reset(&all);
	buf_reset(&out);
	pauses = 0;
	r = imap_view_command(v, ms, parse("a STORE 1:* +FLAGS (\\Seen "
	    "$SomeLongerKeywordName $AndAnotherOneToMakeLinesLonger "
	    "$AndAThirdOneSoThatItPassesTheMark)"), &rev1, &out, &res);
	while (r == 1) {
		pauses++;
		CHECK_INT(buf_append(&all, out.data, out.len), 0);
		buf_reset(&out);
		r = imap_view_resume(v, ms, &rev1, &out, &res);
	}
	CHECK_INT(buf_append(&all, out.data, out.len), 0);
	RES(&res, IMAP_RESULT_OK, "");
	CHECK(pauses >= 1);
	CHECK_INT(count_lines(&all, " FETCH (FLAGS (\\Seen "), n);
	imap_view_free(&v);
	for (i = 0; i < n; i++)
		free((void *)d[i].data);
	free(d);
	free(body);
	buf_fini(&out);
	buf_fini(&all);
	teardown(&ms);
}

/* ---- SEARCH, SORT, THREAD ---- */

static void
t_search(void)
{
	struct mailstore *ms = setup3();
	struct imap_result res;
	struct imap_view *v;
	struct buf out;

	buf_init(&out, 1u << 20);
	v = open_view(ms, "a SELECT INBOX", &rev1, &out, &res);
	run(v, ms, "a SEARCH UNSEEN", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, "");
	CHECK_STR(text(&out), "* SEARCH 2 3\r\n");
	run(v, ms, "a SEARCH SUBJECT nothing-like-it", &rev1, &out, &res);
	CHECK_STR(text(&out), "* SEARCH\r\n");
	run(v, ms, "a UID SEARCH BODY orchard", &rev1, &out, &res);
	CHECK_STR(text(&out), "* SEARCH 1 3\r\n");
	run(v, ms, "a SEARCH TEXT BANANAS", &rev1, &out, &res);
	CHECK_STR(text(&out), "* SEARCH 2\r\n");
	run(v, ms, "b UID SEARCH RETURN (MIN MAX COUNT) ALL", &rev1, &out,
	    &res);
	CHECK_STR(text(&out), "* ESEARCH (TAG \"b\") UID MIN 1 MAX 3 "
	    "COUNT 3\r\n");
	run(v, ms, "c SEARCH RETURN () 2:3", &rev1, &out, &res);
	CHECK_STR(text(&out), "* ESEARCH (TAG \"c\") ALL 2:3\r\n");
	run(v, ms, "c SEARCH RETURN (COUNT) DELETED", &rev1, &out, &res);
	CHECK_STR(text(&out), "* ESEARCH (TAG \"c\") COUNT 0\r\n");
	/* rev2 always answers ESEARCH */
	run(v, ms, "d SEARCH SEEN", &rev2, &out, &res);
	CHECK_STR(text(&out), "* ESEARCH (TAG \"d\") ALL 1\r\n");
	/* SAVE, then "$" */
	run(v, ms, "e SEARCH RETURN (SAVE) UNSEEN", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, "");
	CHECK_INT(out.len, 0);
	run(v, ms, "f FETCH $ (UID)", &rev1, &out, &res);
	CHECK_INT(count_lines(&out, " FETCH ("), 2);
	HAS(&out, "* 2 FETCH (UID 2)");
	HAS(&out, "* 3 FETCH (UID 3)");
	run(v, ms, "g UID SEARCH $ SUBJECT bananas", &rev1, &out, &res);
	CHECK_STR(text(&out), "* SEARCH 2\r\n");
	run(v, ms, "e SEARCH RETURN (SAVE MIN) ALL", &rev1, &out, &res);
	CHECK_STR(text(&out), "* ESEARCH (TAG \"e\") MIN 1\r\n");
	run(v, ms, "f UID FETCH $ (UID)", &rev1, &out, &res);
	CHECK_INT(count_lines(&out, " FETCH ("), 1);
	/* CHARSET */
	run(v, ms, "h SEARCH CHARSET UTF-8 SUBJECT apples", &rev1, &out,
	    &res);
	CHECK_STR(text(&out), "* SEARCH 1 3\r\n");
	run(v, ms, "h SEARCH CHARSET KOI8-R SUBJECT apples", &rev1, &out,
	    &res);
	RES(&res, IMAP_RESULT_NO, "BADCHARSET (UTF-8 US-ASCII)");
	/* MODSEQ key: the highest MODSEQ comes along */
	run(v, ms, "i SEARCH MODSEQ 1", &rev1, &out, &res);
	HAS(&out, "* SEARCH 1 2 3 (MODSEQ ");
	imap_view_free(&v);
	buf_fini(&out);
	teardown(&ms);
}

static void
t_sort_thread(void)
{
	struct mailstore *ms = setup3();
	struct imap_result res;
	struct imap_view *v;
	struct buf out;

	buf_init(&out, 1u << 20);
	v = open_view(ms, "a SELECT INBOX", &rev1, &out, &res);
	run(v, ms, "a SORT (SUBJECT) UTF-8 ALL", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, "");
	CHECK_STR(text(&out), "* SORT 1 3 2\r\n");
	run(v, ms, "a UID SORT (REVERSE DATE) UTF-8 ALL", &rev1, &out, &res);
	CHECK_STR(text(&out), "* SORT 3 2 1\r\n");
	run(v, ms, "a SORT (FROM) UTF-8 UNSEEN", &rev1, &out, &res);
	CHECK_STR(text(&out), "* SORT 2 3\r\n");
	run(v, ms, "a THREAD REFERENCES UTF-8 ALL", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, "");
	HAS(&out, "* THREAD ");
	HAS(&out, "(1 3)");
	HAS(&out, "(2)");
	run(v, ms, "a UID THREAD ORDEREDSUBJECT UTF-8 ALL", &rev1, &out,
	    &res);
	RES(&res, IMAP_RESULT_OK, "");
	HAS(&out, "* THREAD ");
	run(v, ms, "a THREAD NOSUCH UTF-8 ALL", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_BAD, NULL);
	imap_view_free(&v);
	buf_fini(&out);
	teardown(&ms);
}

/* ---- COPY / MOVE / EXPUNGE ---- */

static void
t_copy_move(void)
{
	struct mailstore *ms = setup3();
	struct mailstore_mailbox mb;
	struct imap_result res;
	struct imap_view *v;
	struct buf out;
	const char *err = NULL;
	char want[128];

	CHECK_INT(mailstore_mailbox_get(ms, "Trash", &mb, &err), 1);
	buf_init(&out, 1u << 20);
	v = open_view(ms, "a SELECT INBOX", &rev1, &out, &res);
	run(v, ms, "a COPY 1:2 Trash", &rev1, &out, &res);
	snprintf(want, sizeof(want), "COPYUID %u 1:2 1:2", mb.uidvalidity);
	RES(&res, IMAP_RESULT_OK, want);
	CHECK_INT(out.len, 0);
	run(v, ms, "a UID COPY 3 Trash", &rev1, &out, &res);
	snprintf(want, sizeof(want), "COPYUID %u 3 3", mb.uidvalidity);
	RES(&res, IMAP_RESULT_OK, want);
	run(v, ms, "a COPY 1 Nope", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_NO, "TRYCREATE");
	run(v, ms, "a COPY 7 Trash", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_BAD, NULL);
	run(v, ms, "a MOVE 2 Trash", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, "");
	snprintf(want, sizeof(want), "* OK [COPYUID %u 2 4] ",
	    mb.uidvalidity);
	HAS(&out, want);
	HAS(&out, "* 2 EXPUNGE\r\n");
	run(v, ms, "a FETCH 1:* (UID)", &rev1, &out, &res);
	HAS(&out, "* 2 FETCH (UID 3)");
	CHECK_INT(count_lines(&out, " FETCH ("), 2);
	imap_view_free(&v);

	/* QRESYNC: VANISHED instead of EXPUNGE */
	v = open_view(ms, "a SELECT INBOX", &qres, &out, &res);
	run(v, ms, "a UID MOVE 1 Trash", &qres, &out, &res);
	HAS(&out, "* VANISHED 1\r\n");
	HASNT(&out, "EXPUNGE");
	imap_view_free(&v);

	/* a copy past the quota (RFC 9208) */
	mailstore_set_quota(ms, 1);
	v = open_view(ms, "a SELECT INBOX", &rev1, &out, &res);
	run(v, ms, "a COPY 1 Trash", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_NO, "OVERQUOTA");
	imap_view_free(&v);
	mailstore_set_quota(ms, 0);

	/* EXAMINE may copy but not move */
	v = open_view(ms, "a EXAMINE INBOX", &rev1, &out, &res);
	run(v, ms, "a MOVE 1 Trash", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_NO, NULL);
	run(v, ms, "a COPY 1 Trash", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, NULL);
	CHECK(strncmp(res.code, "COPYUID ", 8) == 0);
	imap_view_free(&v);
	buf_fini(&out);
	teardown(&ms);
}

/*
 * COPYUID and MODIFIED sets longer than imap_result.code: every other
 * message of 2,000 (1,000 ranges) comes back whole, through code_long,
 * and stays valid over the sync that follows the command.
 */
static void
t_long_codes(void)
{
	struct mailstore *ms = setup();
	struct mailstore_delivery *d;
	struct mailstore_mailbox mb;
	struct imap_result res;
	struct imap_view *v;
	struct buf out, set, want;
	const char *err = NULL;
	uint32_t uv, un;
	uint64_t h;
	unsigned i, n = 2000;
	char *line;

	d = xcalloc(n, sizeof(*d));
	for (i = 0; i < n; i++) {
		d[i].mailbox = "INBOX";
		d[i].fd = -1;
		d[i].data = "Subject: x\r\n\r\nbody\r\n";
		d[i].size = strlen(d[i].data);
	}
	CHECK_INT(mailstore_deliver(ms, d, n, &err), 0);
	free(d);
	CHECK_INT(mailstore_mailbox_get(ms, "Trash", &mb, &err), 1);
	buf_init(&out, 64u * 1024 * 1024);
	buf_init(&set, 1u << 20);
	buf_init(&want, 1u << 20);
	for (i = 1; i <= n; i += 2)
		CHECK_INT(buf_printf(&set, "%s%u", i > 1 ? "," : "", i), 0);
	v = open_view(ms, "a SELECT INBOX (CONDSTORE)", &rev1, &out, &res);
	CHECK(v != NULL);

	line = arena_printf(ar, "a COPY %s Trash", buf_cstr(&set));
	run(v, ms, line, &rev1, &out, &res);
	CHECK_INT(buf_printf(&want, "COPYUID %u %s 1:%u", mb.uidvalidity,
	    buf_cstr(&set), n / 2), 0);
	CHECK(want.len >= sizeof(res.code));
	CHECK(res.code_long != NULL);
	CHECK_STR(res.code, "");
	RES(&res, IMAP_RESULT_OK, buf_cstr(&want));
	sync_view(v, ms, &rev1, true, &out);
	RES(&res, IMAP_RESULT_OK, buf_cstr(&want));
	/* a short code afterwards goes back to code[] */
	run(v, ms, "a COPY 2 Trash", &rev1, &out, &res);
	CHECK(res.code_long == NULL);
	buf_reset(&want);
	CHECK_INT(buf_printf(&want, "COPYUID %u 2 %u", mb.uidvalidity,
	    n / 2 + 1), 0);
	RES(&res, IMAP_RESULT_OK, buf_cstr(&want));

	/* the odd messages change; a STORE unchanged since before fails
	 * for each of them */
	CHECK_INT(vs_state(ms, "INBOX", &uv, &un, &h, &err), 1);
	line = arena_printf(ar, "a STORE %s +FLAGS.SILENT (\\Flagged)",
	    buf_cstr(&set));
	run(v, ms, line, &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, "");
	line = arena_printf(ar, "a STORE 1:* (UNCHANGEDSINCE %llu) "
	    "+FLAGS.SILENT (\\Seen)", (unsigned long long)h);
	run(v, ms, line, &rev1, &out, &res);
	buf_reset(&want);
	CHECK_INT(buf_printf(&want, "MODIFIED %s", buf_cstr(&set)), 0);
	RES(&res, IMAP_RESULT_OK, buf_cstr(&want));
	CHECK(res.code_long != NULL);
	/* the even ones took the change, the odd ones did not */
	run(v, ms, "a FETCH 1:4 (FLAGS)", &rev1, &out, &res);
	HAS(&out, "* 1 FETCH (FLAGS (\\Flagged \\Recent))");
	HAS(&out, "* 2 FETCH (FLAGS (\\Seen \\Recent))");
	/* UID form over the odd UIDs, all changed since h */
	line = arena_printf(ar, "a UID STORE %s (UNCHANGEDSINCE %llu) "
	    "-FLAGS.SILENT (\\Flagged)", buf_cstr(&set),
	    (unsigned long long)h);
	run(v, ms, line, &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, buf_cstr(&want));
	imap_view_free(&v);
	buf_fini(&set);
	buf_fini(&want);
	buf_fini(&out);
	teardown(&ms);
}

/*
 * \Recent (RFC 3501 2.3.2): recent for the first rev1 session to select
 * the mailbox read-write after the message came; EXAMINE sees without
 * taking; rev2 neither sees nor takes; two rev1 sessions share new
 * messages by who syncs first.
 */
static void
t_recent(void)
{
	struct mailstore *ms = setup(), *ms2;
	struct imap_result res;
	struct imap_view *a, *b, *x, *r2;
	struct buf out;
	uint32_t uv, un;
	uint64_t h;
	const char *err = NULL;

	deliver(ms, "INBOX", msg_a, 0);
	deliver(ms, "INBOX", msg_b, MAILSTORE_F_SEEN);
	ms2 = second_handle();
	CHECK_INT(vs_state(ms, "INBOX", &uv, &un, &h, &err), 1);
	buf_init(&out, 1u << 20);

	/* rev2: no RECENT, no \Recent, nothing taken */
	r2 = open_view(ms, "a SELECT INBOX", &rev2, &out, &res);
	HASNT(&out, "RECENT");
	run(r2, ms, "a FETCH 1:* (FLAGS)", &rev2, &out, &res);
	HASNT(&out, "\\Recent");
	CHECK_INT(imap_recent_mark(1, uv), 0);

	/* EXAMINE sees them, takes nothing */
	x = open_view(ms, "a EXAMINE INBOX", &rev1, &out, &res);
	HAS(&out, "* 2 RECENT\r\n");
	run(x, ms, "a FETCH 1:* (FLAGS)", &rev1, &out, &res);
	HAS(&out, "* 1 FETCH (FLAGS (\\Recent))");
	HAS(&out, "* 2 FETCH (FLAGS (\\Seen \\Recent))");
	CHECK_INT(imap_recent_mark(1, uv), 0);

	/* the first read-write rev1 session takes both */
	a = open_view(ms, "a SELECT INBOX", &rev1, &out, &res);
	HAS(&out, "* 2 RECENT\r\n");
	CHECK_INT(imap_recent_mark(1, uv), 2);
	run(a, ms, "a SEARCH RECENT", &rev1, &out, &res);
	CHECK_STR(text(&out), "* SEARCH 1 2\r\n");
	run(a, ms, "a SEARCH NEW", &rev1, &out, &res);
	CHECK_STR(text(&out), "* SEARCH 1\r\n");
	run(a, ms, "a SEARCH OLD", &rev1, &out, &res);
	CHECK_STR(text(&out), "* SEARCH\r\n");

	/* the second has none of them */
	b = open_view(ms2, "b SELECT INBOX", &rev1, &out, &res);
	HAS(&out, "* 0 RECENT\r\n");
	run(b, ms2, "b SEARCH RECENT", &rev1, &out, &res);
	CHECK_STR(text(&out), "* SEARCH\r\n");
	run(b, ms2, "b SEARCH OLD", &rev1, &out, &res);
	CHECK_STR(text(&out), "* SEARCH 1 2\r\n");
	run(b, ms2, "b FETCH 1 (FLAGS)", &rev1, &out, &res);
	CHECK_STR(text(&out), "* 1 FETCH (FLAGS ())\r\n");

	/* a new message goes to whichever sees it first: b here */
	deliver(ms, "INBOX", msg_c, 0);
	sync_view(b, ms2, &rev1, true, &out);
	CHECK_STR(text(&out), "* 3 EXISTS\r\n* 1 RECENT\r\n");
	sync_view(a, ms, &rev1, true, &out);
	CHECK_STR(text(&out), "* 3 EXISTS\r\n");
	run(a, ms, "a FETCH 3 (FLAGS)", &rev1, &out, &res);
	CHECK_STR(text(&out), "* 3 FETCH (FLAGS ())\r\n");
	run(b, ms2, "b FETCH 3 (FLAGS)", &rev1, &out, &res);
	CHECK_STR(text(&out), "* 3 FETCH (FLAGS (\\Recent))\r\n");
	/* STORE's answer carries it too; NEW is recent and unseen */
	run(b, ms2, "b STORE 3 +FLAGS (\\Seen)", &rev1, &out, &res);
	CHECK_STR(text(&out), "* 3 FETCH (FLAGS (\\Seen \\Recent))\r\n");
	run(b, ms2, "b SEARCH NEW", &rev1, &out, &res);
	CHECK_STR(text(&out), "* SEARCH\r\n");
	run(b, ms2, "b SEARCH RECENT", &rev1, &out, &res);
	CHECK_STR(text(&out), "* SEARCH 3\r\n");
	/* a hears of b's flag change without \Recent */
	sync_view(a, ms, &rev1, true, &out);
	CHECK_STR(text(&out), "* 3 FETCH (FLAGS (\\Seen))\r\n");
	/* the rev2 view and EXAMINE learn of it, neither takes it */
	sync_view(r2, ms, &rev2, true, &out);
	HASNT(&out, "RECENT");
	sync_view(x, ms, &rev1, true, &out);
	HAS(&out, "* 3 EXISTS\r\n");
	/* a RECENT line only when the count changes */
	HASNT(&out, "RECENT");
	CHECK_INT(imap_recent_mark(1, uv), 3);
	/* a new session after all that: nothing recent */
	imap_view_free(&a);
	a = open_view(ms, "a SELECT INBOX", &rev1, &out, &res);
	HAS(&out, "* 0 RECENT\r\n");
	imap_view_free(&a);
	imap_view_free(&b);
	imap_view_free(&x);
	imap_view_free(&r2);
	mailstore_close(&ms2);
	buf_fini(&out);
	teardown(&ms);
}

static void
t_expunge(void)
{
	struct mailstore *ms = setup3();
	struct imap_result res;
	struct imap_view *v;
	struct buf out;

	deliver(ms, "INBOX", msg_a, 0);
	buf_init(&out, 1u << 20);
	v = open_view(ms, "a SELECT INBOX", &rev1, &out, &res);
	run(v, ms, "a STORE 1,3,4 +FLAGS.SILENT (\\Deleted)", &rev1, &out,
	    &res);
	run(v, ms, "a UID EXPUNGE 3:4", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, "");
	CHECK_STR(text(&out), "* 3 EXPUNGE\r\n* 3 EXPUNGE\r\n");
	run(v, ms, "a EXPUNGE", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, "");
	CHECK_STR(text(&out), "* 1 EXPUNGE\r\n");
	run(v, ms, "a FETCH 1:* (UID)", &rev1, &out, &res);
	CHECK_STR(text(&out), "* 1 FETCH (UID 2)\r\n");
	run(v, ms, "a FETCH 2 (UID)", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_BAD, NULL);
	run(v, ms, "a UID EXPUNGE 1:*", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, "");
	CHECK_INT(out.len, 0);	/* 2 has no \Deleted */
	/* CLOSE's silent expunge */
	run(v, ms, "a STORE 1 +FLAGS (\\Deleted)", &rev1, &out, &res);
	CHECK_INT(imap_view_close_expunge(v, ms), 0);
	imap_view_free(&v);
	v = open_view(ms, "a SELECT INBOX", &rev1, &out, &res);
	HAS(&out, "* 0 EXISTS");
	imap_view_free(&v);

	deliver(ms, "INBOX", msg_b, MAILSTORE_F_DELETED);
	v = open_view(ms, "a EXAMINE INBOX", &rev1, &out, &res);
	run(v, ms, "a EXPUNGE", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_NO, NULL);
	CHECK_INT(imap_view_close_expunge(v, ms), 0);
	imap_view_free(&v);
	v = open_view(ms, "a EXAMINE INBOX", &rev1, &out, &res);
	HAS(&out, "* 1 EXISTS");
	imap_view_free(&v);
	buf_fini(&out);
	teardown(&ms);
}

/* ---- two sessions on one mailbox ---- */

static void
t_two_views(void)
{
	struct mailstore *ms = setup3(), *ms2 = second_handle();
	struct imap_result res;
	struct imap_view *a, *b;
	struct buf out;

	buf_init(&out, 1u << 20);
	a = open_view(ms, "a SELECT INBOX", &rev1, &out, &res);
	b = open_view(ms2, "b SELECT INBOX", &cond, &out, &res);
	sync_view(b, ms2, &cond, true, &out);
	CHECK_INT(out.len, 0);

	/* a flag change reaches the other view, not the one that made it */
	run(a, ms, "a STORE 1 +FLAGS (\\Flagged)", &rev1, &out, &res);
	sync_view(a, ms, &rev1, true, &out);
	CHECK_INT(out.len, 0);
	sync_view(b, ms2, &cond, true, &out);
	HAS(&out, "* 1 FETCH (FLAGS (\\Flagged \\Seen) MODSEQ (");
	CHECK_INT(count_lines(&out, "FETCH"), 1);
	sync_view(b, ms2, &cond, true, &out);
	CHECK_INT(out.len, 0);

	/* a new message: EXISTS in both; \Recent for the first to see it
	 * (both are rev1 read-write) */
	deliver(ms2, "INBOX", msg_b, 0);
	sync_view(a, ms, &rev1, false, &out);
	CHECK_STR(text(&out), "* 4 EXISTS\r\n* 1 RECENT\r\n");
	sync_view(b, ms2, &cond, true, &out);
	CHECK_STR(text(&out), "* 4 EXISTS\r\n");

	/* an expunge in a: b hears of it only where it may */
	run(a, ms, "a STORE 2 +FLAGS.SILENT (\\Deleted)", &rev1, &out, &res);
	run(a, ms, "a EXPUNGE", &rev1, &out, &res);
	CHECK_STR(text(&out), "* 2 EXPUNGE\r\n");
	sync_view(b, ms2, &cond, false, &out);
	HASNT(&out, "EXPUNGE");
	/* meanwhile b still numbers the old way; the gone one is skipped */
	run(b, ms2, "b FETCH 1:4 (UID)", &cond, &out, &res);
	RES(&res, IMAP_RESULT_OK, "EXPUNGEISSUED");
	HAS(&out, "* 3 FETCH (UID 3)");
	HAS(&out, "* 4 FETCH (UID 4)");
	HASNT(&out, "UID 2)");
	sync_view(b, ms2, &cond, true, &out);
	CHECK_STR(text(&out), "* 2 EXPUNGE\r\n");
	run(b, ms2, "b FETCH 1:* (UID)", &cond, &out, &res);
	CHECK_STR(text(&out), "* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 3)\r\n"
	    "* 3 FETCH (UID 4)\r\n");

	/* several at once, and a flag change of one that then goes */
	run(b, ms2, "b STORE 1 +FLAGS (\\Answered)", &cond, &out, &res);
	run(b, ms2, "b STORE 2:3 +FLAGS.SILENT (\\Deleted)", &cond, &out,
	    &res);
	run(b, ms2, "b EXPUNGE", &cond, &out, &res);
	CHECK_STR(text(&out), "* 2 EXPUNGE\r\n* 2 EXPUNGE\r\n");
	sync_view(a, ms, &rev1, true, &out);
	HAS(&out, "* 2 EXPUNGE\r\n* 2 EXPUNGE\r\n");
	HAS(&out, "* 1 FETCH (FLAGS (\\Answered \\Flagged \\Seen))");
	HASNT(&out, "* 2 FETCH");
	run(a, ms, "a FETCH 1:* (UID)", &rev1, &out, &res);
	CHECK_STR(text(&out), "* 1 FETCH (UID 1)\r\n");
	imap_view_free(&a);
	imap_view_free(&b);

	/* QRESYNC sessions get VANISHED, and UID in FETCH */
	a = open_view(ms, "a SELECT INBOX", &qres, &out, &res);
	b = open_view(ms2, "b SELECT INBOX", &qres, &out, &res);
	deliver(ms, "INBOX", msg_c, 0);
	sync_view(a, ms, &qres, true, &out);
	CHECK_STR(text(&out), "* 2 EXISTS\r\n* 1 RECENT\r\n");
	sync_view(b, ms2, &qres, true, &out);
	run(a, ms, "a STORE 1 -FLAGS (\\Seen)", &qres, &out, &res);
	run(a, ms, "a UID STORE 5 +FLAGS (\\Deleted)", &qres, &out, &res);
	run(a, ms, "a EXPUNGE", &qres, &out, &res);
	CHECK_STR(text(&out), "* VANISHED 5\r\n");
	sync_view(b, ms2, &qres, true, &out);
	HAS(&out, "* VANISHED 5\r\n");
	HAS(&out, "* 1 FETCH (UID 1 FLAGS (\\Answered \\Flagged) MODSEQ (");
	imap_view_free(&a);
	imap_view_free(&b);
	mailstore_close(&ms2);
	buf_fini(&out);
	teardown(&ms);
}

/* SELECT (QRESYNC ...): what changed since the client's MODSEQ. */
static void
t_qresync_select(void)
{
	struct mailstore *ms = setup3(), *ms2 = second_handle();
	struct imap_result res;
	struct imap_view *a, *b;
	struct buf out;
	uint32_t uv, un;
	uint64_t h;
	const char *err = NULL;
	char line[160];

	deliver(ms, "INBOX", msg_a, 0);
	buf_init(&out, 1u << 20);
	CHECK_INT(vs_state(ms, "INBOX", &uv, &un, &h, &err), 1);
	b = open_view(ms2, "b SELECT INBOX", &qres, &out, &res);
	run(b, ms2, "b STORE 1 +FLAGS (\\Flagged)", &qres, &out, &res);
	run(b, ms2, "b STORE 2:3 +FLAGS (\\Deleted)", &qres, &out, &res);
	run(b, ms2, "b EXPUNGE", &qres, &out, &res);
	imap_view_free(&b);

	snprintf(line, sizeof(line), "a SELECT INBOX (QRESYNC (%u %llu))",
	    uv, (unsigned long long)h);
	a = open_view(ms, line, &qres, &out, &res);
	CHECK(a != NULL);
	RES(&res, IMAP_RESULT_OK, "READ-WRITE");
	HAS(&out, "* 2 EXISTS\r\n");
	HAS(&out, "* VANISHED (EARLIER) 2:3\r\n");
	HAS(&out, "* 1 FETCH (UID 1 FLAGS (\\Flagged \\Seen) MODSEQ (");
	HASNT(&out, "* 2 FETCH");
	imap_view_free(&a);

	/* with known UIDs: only those */
	snprintf(line, sizeof(line), "a SELECT INBOX (QRESYNC (%u %llu 3:4))",
	    uv, (unsigned long long)h);
	a = open_view(ms, line, &qres, &out, &res);
	HAS(&out, "* VANISHED (EARLIER) 3\r\n");
	HASNT(&out, "FETCH");
	imap_view_free(&a);

	/* a wrong UIDVALIDITY: a plain SELECT */
	snprintf(line, sizeof(line), "a SELECT INBOX (QRESYNC (%u %llu))",
	    uv + 1, (unsigned long long)h);
	a = open_view(ms, line, &qres, &out, &res);
	CHECK(a != NULL);
	HASNT(&out, "VANISHED");
	HASNT(&out, "FETCH");
	imap_view_free(&a);
	mailstore_close(&ms2);
	buf_fini(&out);
	teardown(&ms);
}

/* The rest of the commands and error paths. */
static void
t_misc(void)
{
	struct mailstore *ms = setup3();
	struct imap_result res;
	struct imap_view *v;
	struct buf out;
	const char *err = NULL;

	deliver(ms, "INBOX", "Subject: odd\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain\r\nContent-Transfer-Encoding: "
	    "x-weird\r\n\r\nbody\r\n", 0);
	buf_init(&out, 1u << 20);
	v = open_view(ms, "a SELECT INBOX", &rev1, &out, &res);
	run(v, ms, "a CHECK", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, "");
	run(v, ms, "a NOOP", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_BAD, NULL);
	/* nothing to resume: done at once */
	buf_reset(&out);
	CHECK_INT(imap_view_resume(v, ms, &rev1, &out, &res), 0);
	RES(&res, IMAP_RESULT_OK, NULL);
	run(v, ms, "a FETCH 4 (BINARY.PEEK[1])", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_NO, "UNKNOWN-CTE");
	run(v, ms, "a FETCH 4 (BINARY.SIZE[1])", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_NO, "UNKNOWN-CTE");
	run(v, ms, "a FETCH 4 (BODY.PEEK[1])", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, "");
	HAS(&out, "body");
	/* MOVE of several renumbers in order */
	run(v, ms, "a MOVE 2:3 Trash", &rev1, &out, &res);
	HAS(&out, "* 2 EXPUNGE\r\n* 2 EXPUNGE\r\n");
	run(v, ms, "a FETCH 1:* (UID)", &rev1, &out, &res);
	CHECK_STR(text(&out), "* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 4)\r\n");
	/* "$" keeps UIDs: after an expunge it still names the same ones */
	run(v, ms, "a SEARCH RETURN (SAVE) UID 4", &rev1, &out, &res);
	run(v, ms, "a UID STORE 1 +FLAGS.SILENT (\\Deleted)", &rev1, &out,
	    &res);
	run(v, ms, "a EXPUNGE", &rev1, &out, &res);
	run(v, ms, "a FETCH $ (UID)", &rev1, &out, &res);
	CHECK_STR(text(&out), "* 1 FETCH (UID 4)\r\n");
	/* a failed search empties "$" */
	run(v, ms, "a SEARCH RETURN (SAVE) CHARSET X-NONE ALL", &rev1, &out,
	    &res);
	RES(&res, IMAP_RESULT_NO, "BADCHARSET (UTF-8 US-ASCII)");
	run(v, ms, "a FETCH $ (UID)", &rev1, &out, &res);
	RES(&res, IMAP_RESULT_OK, "");
	CHECK_INT(out.len, 0);
	/* the mailbox deleted under the view: sync says so */
	CHECK_INT(mailstore_mailbox_create(ms, "Gone", MAILSTORE_SPECIAL_NONE,
	    &err), 0);
	imap_view_free(&v);
	v = open_view(ms, "a SELECT Gone", &rev1, &out, &res);
	CHECK(v != NULL);
	CHECK_INT(mailstore_mailbox_delete(ms, "Gone", &err), 0);
	buf_reset(&out);
	CHECK_INT(imap_view_sync(v, ms, &rev1, true, &out), -1);
	imap_view_free(&v);
	buf_fini(&out);
	teardown(&ms);
}

/* The UIDs of INBOX in the store, as "1 2 5" (heap). */
static void
uid_list_cb(void *ctx, const struct mailstore_message *m)
{
	if (buf_printf(ctx, "%s%u", ((struct buf *)ctx)->len > 0 ? " " : "",
	    m->uid) < 0)
		abort();
}

/* The UIDs a view numbers, from "* n FETCH (UID u)" lines, checked in
 * order: "1 2 5". */
static void
view_uids(struct imap_view *v, struct mailstore *ms,
    const struct imap_view_opts *o, struct buf *got)
{
	struct imap_result res;
	struct buf out;
	const char *p;
	unsigned want = 1, seq, uid;

	buf_init(&out, 16u << 20);
	buf_reset(got);
	run(v, ms, "x UID FETCH 1:* (UID)", o, &out, &res);
	for (p = text(&out); sscanf(p, "* %u FETCH (UID %u)", &seq, &uid) == 2;
	    p = strchr(p, '\n') + 1) {
		CHECK_INT(seq, want);
		want++;
		if (buf_printf(got, "%s%u", got->len > 0 ? " " : "", uid) < 0)
			abort();
	}
	buf_fini(&out);
}

/*
 * Two views and random deliveries, flag changes, expunges and moves:
 * after every sync that may expunge, each view numbers exactly the
 * store's messages, in order.
 */
static void
t_random_two_views(void)
{
	struct mailstore *ms = setup(), *ms2 = second_handle();
	struct mailstore *h[2];
	const struct imap_view_opts *o[2] = { &rev1, &qres };
	struct imap_view *v[2];
	struct imap_result res;
	struct buf out, want, got;
	unsigned seed = 12345, i, k, nchecks = 0, ngaps = 0;
	const char *err = NULL;
	char line[128];

	h[0] = ms;
	h[1] = ms2;
	for (i = 0; i < 20; i++)
		deliver(ms, "INBOX", msg_a, 0);
	buf_init(&out, 16u << 20);
	buf_init(&want, 1u << 20);
	buf_init(&got, 1u << 20);
	v[0] = open_view(ms, "a SELECT INBOX", o[0], &out, &res);
	v[1] = open_view(ms2, "b SELECT INBOX", o[1], &out, &res);
	for (i = 0; i < 400; i++) {
		unsigned op, w;

		seed = seed * 1103515245u + 12345u;
		op = (seed >> 16) % 7;
		w = (seed >> 8) & 1;
		seed = seed * 1103515245u + 12345u;
		k = (seed >> 16) % 40 + 1;
		switch (op) {
		case 0:
			deliver(h[w], "INBOX", msg_b, 0);
			break;
		case 1:
			snprintf(line, sizeof(line), "s UID STORE %u:%u "
			    "+FLAGS (\\Deleted)", k, k + (seed >> 4) % 4);
			run(v[w], h[w], line, o[w], &out, &res);
			break;
		case 2:
			run(v[w], h[w], "e EXPUNGE", o[w], &out, &res);
			RES(&res, IMAP_RESULT_OK, NULL);
			break;
		case 3:
			snprintf(line, sizeof(line), "m UID MOVE %u Trash", k);
			run(v[w], h[w], line, o[w], &out, &res);
			break;
		case 4:
			snprintf(line, sizeof(line), "f UID STORE %u "
			    "+FLAGS (\\Flagged)", k);
			run(v[w], h[w], line, o[w], &out, &res);
			break;
		case 5:
			sync_view(v[w], h[w], o[w], false, &out);
			break;
		default:
			sync_view(v[w], h[w], o[w], true, &out);
			buf_reset(&want);
			CHECK(mailstore_message_list(h[w], "INBOX",
			    uid_list_cb, &want, &err) >= 0);
			view_uids(v[w], h[w], o[w], &got);
			if (!CHECK_STR(text(&got), text(&want)))
				i = 400;	/* one report is enough */
			nchecks++;
			if (strncmp(text(&want), "1 2 3 4 5 6 7 8 9 10 ", 21) != 0)
				ngaps++;
			break;
		}
	}
	/* it did compare, and over mailboxes with holes */
	CHECK(nchecks > 30);
	CHECK(ngaps > 20);
	imap_view_free(&v[0]);
	imap_view_free(&v[1]);
	mailstore_close(&ms2);
	buf_fini(&out);
	buf_fini(&want);
	buf_fini(&got);
	teardown(&ms);
}

static const struct test_case cases[] = {
	TEST(t_seqmap),
	TEST(t_seqmap_compact),
	TEST(t_select_rev1),
	TEST(t_select_rev2),
	TEST(t_store),
	TEST(t_store_condstore),
	TEST(t_fetch),
	TEST(t_fetch_changedsince),
	TEST(t_fetch_pause),
	TEST(t_search),
	TEST(t_sort_thread),
	TEST(t_copy_move),
	TEST(t_long_codes),
	TEST(t_recent),
	TEST(t_expunge),
	TEST(t_two_views),
	TEST(t_qresync_select),
	TEST(t_misc),
	TEST(t_random_two_views),
};

TEST_MAIN(cases)
