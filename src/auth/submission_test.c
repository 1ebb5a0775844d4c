/*
 * submission_test.c - unit tests for the submission header checks: Date:
 * and Message-ID: added only when missing and always before the empty
 * line, From: verdicts, folded and oversized fields; every message fed
 * whole, byte by byte and split at every offset.
 */
#include <stdio.h>
#include <string.h>

#include "auth/submission.h"
#include "lib/buf.h"
#include "lib/postino_limits.h"
#include "../../tests/lib/test.h"

struct sink {
	struct buf	 out;
	int		 fail_at;	/* fail the Nth write; 0: never */
	int		 writes;
};

static int
sink_write(void *ctx, const void *p, size_t n)
{
	struct sink *k = ctx;

	if (k->fail_at > 0 && ++k->writes >= k->fail_at)
		return -1;
	return buf_append(&k->out, p, n);
}

/* only bob@x.test and its alias b@x.test are "ours" (case-insensitive) */
static bool
sender_ok(void *ctx, const char *addr)
{
	(void)ctx;
	return strcasecmp(addr, "bob@x.test") == 0 ||
	    strcasecmp(addr, "b@x.test") == 0;
}

/* run - feeds msg in pieces of `step` bytes (0: whole) */
static enum submission_from
run(const char *msg, size_t step, struct buf *res, bool *date_r,
    bool *msgid_r)
{
	struct sink k;
	struct submission *sub;
	size_t len = strlen(msg), i, n;
	enum submission_from v;

	memset(&k, 0, sizeof(k));
	buf_init(&k.out, 4 * MIME_MAX_HEADER);
	sub = submission_new("mail.x.test", sink_write, sender_ok, &k);
	for (i = 0; i < len; i += n) {
		n = step == 0 || step > len - i ? len - i : step;
		CHECK_INT(submission_input(sub, (const uint8_t *)msg + i, n),
		    0);
	}
	CHECK_INT(submission_finish(sub), 0);
	v = submission_from_status(sub);
	*date_r = submission_added_date(sub);
	*msgid_r = submission_added_message_id(sub);
	submission_free(&sub);
	buf_reset(res);
	CHECK_INT(buf_append(res, k.out.data, k.out.len), 0);
	buf_fini(&k.out);
	return v;
}

/* strip_added - the output without the lines we added, to compare */
static void
strip_added(struct buf *b, bool date, bool msgid)
{
	static const char *const names[] = { "\r\nDate: ",
	    "\r\nMessage-ID: <" };
	char *s = (char *)b->data, *e, *f;
	size_t i;

	for (i = 0; i < 2; i++) {
		if (!(i == 0 ? date : msgid))
			continue;
		/* only the generated ones: the last occurrence */
		f = NULL;
		for (e = strstr(s, names[i]); e != NULL;
		    e = strstr(e + 1, names[i]))
			f = e;
		if (f == NULL && strncmp(s, names[i] + 2,
		    strlen(names[i]) - 2) == 0)
			f = s - 2;
		if (f == NULL)
			continue;
		e = strstr(f + 2, "\r\n");
		memmove(f + 2, e + 2, strlen(e + 2) + 1);
		b->len = strlen(s);
	}
}

struct msg_case {
	const char		*msg;
	enum submission_from	 from;
	bool			 add_date, add_msgid;
	const char		*want;	/* output without added lines */
};

static const struct msg_case msg_cases[] = {
	{ "From: Bob <bob@x.test>\r\nSubject: hi\r\n\r\nbody\r\n",
	    SUBMISSION_FROM_OK, true, true, NULL },
	{ "From: bob@x.test\r\nDate: Sun, 1 Nov 2026 10:00:00 +0000\r\n"
	    "Message-ID: <1@x>\r\n\r\nbody\r\nDate: no\r\n",
	    SUBMISSION_FROM_OK, false, false, NULL },
	{ "From: \"B\" <B@X.TEST>, b@x.test\r\nmessage-id: <2@x>\r\n\r\n",
	    SUBMISSION_FROM_OK, true, false, NULL },
	{ "From: Eve <ceo@x.test>\r\n\r\nbody\r\n",
	    SUBMISSION_FROM_DENIED, true, true, NULL },
	{ "From: bob@x.test,\r\n ceo@x.test\r\n\r\nbody\r\n",
	    SUBMISSION_FROM_DENIED, true, true, NULL },
	{ "From: bob@x.test\r\nFrom: bob@x.test\r\n\r\n",
	    SUBMISSION_FROM_BAD, true, true, NULL },
	{ "From: undisclosed\r\n\r\n", SUBMISSION_FROM_BAD, true, true,
	    NULL },
	{ "Subject: no from\r\n\r\nFrom: ceo@x.test\r\n",
	    SUBMISSION_FROM_NONE, true, true, NULL },
	/* no empty line: fields go at the end */
	{ "Subject: only header\r\nFrom: b@x.test\r\n",
	    SUBMISSION_FROM_OK, true, true, NULL },
	{ "", SUBMISSION_FROM_NONE, true, true, NULL },
	{ "\r\nbody only\r\n", SUBMISSION_FROM_NONE, true, true, NULL },
};

static void
test_messages(void)
{
	struct buf res, whole;
	size_t i, step;
	bool d, m;

	buf_init(&res, 4 * MIME_MAX_HEADER);
	buf_init(&whole, 4 * MIME_MAX_HEADER);
	for (i = 0; i < sizeof(msg_cases) / sizeof(msg_cases[0]); i++) {
		const struct msg_case *c = &msg_cases[i];
		size_t len = strlen(c->msg);

		for (step = 0; step <= len + 1; step++) {
			if (!CHECK_INT(run(c->msg, step, &res, &d, &m),
			    c->from) || !CHECK_INT(d, c->add_date) ||
			    !CHECK_INT(m, c->add_msgid))
				fprintf(stderr, "  case %zu step %zu\n", i,
				    step);
			strip_added(&res, d, m);
			if (!CHECK_STR((const char *)res.data, c->msg))
				fprintf(stderr, "  case %zu step %zu\n", i,
				    step);
		}
	}
	/* the added fields sit before the empty line */
	run("From: bob@x.test\r\n\r\nbody\r\n", 1, &res, &d, &m);
	CHECK(strncmp((char *)res.data, "From: bob@x.test\r\nDate: ", 24)
	    == 0);
	CHECK(strstr((char *)res.data, "\r\nMessage-ID: <") != NULL);
	CHECK(strstr((char *)res.data, "@mail.x.test>\r\n\r\nbody\r\n") !=
	    NULL);
	buf_fini(&res);
	buf_fini(&whole);
}

static void
test_long_fields(void)
{
	static char msg[MIME_MAX_HEADER + 200];
	struct buf res;
	size_t n;
	bool d, m;

	buf_init(&res, 4 * MIME_MAX_HEADER);
	/* a From: exactly at the buffer (incl. CRLF) is read; one more not */
	for (n = MIME_MAX_HEADER - 1; n <= MIME_MAX_HEADER + 1; n++) {
		size_t pre = strlen("From: bob@x.test");

		memcpy(msg, "From: bob@x.test", pre);
		memset(msg + pre, ' ', n - pre - 2);
		memcpy(msg + n - 2, "\r\n\r\n", 5);
		CHECK_INT(run(msg, 0, &res, &d, &m),
		    n <= MIME_MAX_HEADER ? SUBMISSION_FROM_OK :
		    SUBMISSION_FROM_BAD);
	}
	/* a long Subject: is passed through uninspected */
	memcpy(msg, "Subject: ", 9);
	memset(msg + 9, 'x', MIME_MAX_HEADER + 50);
	strcpy(msg + 9 + MIME_MAX_HEADER + 50,
	    "\r\nFrom: b@x.test\r\n\r\n");
	CHECK_INT(run(msg, 4096, &res, &d, &m), SUBMISSION_FROM_OK);
	CHECK(d && m);
	strip_added(&res, d, m);
	CHECK_STR((const char *)res.data, msg);
	buf_fini(&res);
}

static void
test_write_failure(void)
{
	struct sink k;
	struct submission *sub;

	memset(&k, 0, sizeof(k));
	buf_init(&k.out, 4096);
	k.fail_at = 2;
	sub = submission_new(NULL, sink_write, sender_ok, &k);
	CHECK_INT(submission_input(sub, (const uint8_t *)"From: b@x.test\r\n",
	    16), 0);
	CHECK_INT(submission_input(sub, (const uint8_t *)"\r\n", 2), -1);
	CHECK_INT(submission_finish(sub), -1);
	submission_free(&sub);
	submission_free(&sub);
	buf_fini(&k.out);
}

static const struct test_case cases[] = {
	TEST(test_messages),
	TEST(test_long_fields),
	TEST(test_write_failure),
};

TEST_MAIN(cases)
