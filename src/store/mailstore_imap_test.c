/*
 * mailstore_imap_test.c - unit tests for the store additions IMAP needs
 * (store/mailstore.h): UID-range listing with the cached parse, the cheap
 * mailbox state, changes and expunges since a MODSEQ (with the expunge log
 * pruned), STORE on many messages with UNCHANGEDSINCE, COPY/MOVE of many
 * messages, usage counters and quota, the change hook, and the migration
 * of a version-2 index.  Timings on 10,000 messages are printed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "imap/imap_search_int.h"	/* SEARCH's folding: the reference */
#include "mime/mime_text.h"
#include "store/mailstore.h"
#include "store/store_int.h"
#include "../../tests/lib/test.h"

static char *
tmpdir(void)
{
	char tmpl[] = "/tmp/postino-msimap-XXXXXX";

	log_set_level(LOG_LEVEL_ERROR);
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	return xasprintf("%s/data", tmpl);
}

static void
cleanup(char *data_dir)
{
	char *top = xstrdup(data_dir);

	*strrchr(top, '/') = '\0';
	CHECK_INT(store_rmtree(top), 0);
	free(top);
	free(data_dir);
}

static struct mailstore *
new_store(const char *dir, int64_t id)
{
	const char *err = NULL;
	struct mailstore *ms;

	if (mailstore_create(dir, id, &err) < 0) {
		fprintf(stderr, "mailstore_create: %s\n", err);
		exit(1);
	}
	ms = mailstore_open(dir, id, &err);
	if (ms == NULL) {
		fprintf(stderr, "mailstore_open: %s\n", err);
		exit(1);
	}
	return ms;
}

/* deliver - n copies of a small message into mailbox; returns first UID */
static uint32_t
deliver(struct mailstore *ms, const char *mailbox, size_t n)
{
	static const char mem[] = "Subject: x\r\n\r\nhello\r\n";
	struct mailstore_delivery *d = xcalloc(n, sizeof(*d));
	const char *err = NULL;
	uint32_t first;
	size_t i;

	for (i = 0; i < n; i++) {
		d[i].fd = -1;
		d[i].data = mem;
		d[i].size = strlen(mem);
		d[i].mailbox = mailbox;
		d[i].envelope = "(NIL \"x\")";
		d[i].bodystructure = "(\"text\" \"plain\")";
		d[i].body = "(\"text\" \"plain\" b)";
	}
	CHECK_INT(mailstore_deliver(ms, d, n, &err), 0);
	first = d[0].uid;
	for (i = 0; i < n; i++)
		CHECK_INT(d[i].status, 0);
	free(d);
	return first;
}

struct seen {
	size_t		 n;
	uint32_t	 uid[64];
	uint64_t	 modseq[64];
	unsigned	 flags[64];
	char		 kw[64][64];
	int		 with_cache;
	int		 without_cache;
	uint32_t	 last_uid;
	int		 unordered;
};

static void
collect(void *ctx, const struct mailstore_message *m)
{
	struct seen *s = ctx;

	if (m->uid <= s->last_uid)
		s->unordered++;
	s->last_uid = m->uid;
	if (m->envelope != NULL && m->bodystructure != NULL &&
	    m->body != NULL && strcmp(m->envelope, "(NIL \"x\")") == 0 &&
	    strcmp(m->body, "(\"text\" \"plain\" b)") == 0)
		s->with_cache++;
	if (m->envelope == NULL && m->bodystructure == NULL &&
	    m->body == NULL)
		s->without_cache++;
	if (s->n < 64) {
		s->uid[s->n] = m->uid;
		s->modseq[s->n] = m->modseq;
		s->flags[s->n] = m->flags;
		snprintf(s->kw[s->n], sizeof(s->kw[0]), "%s", m->keywords);
	}
	s->n++;
}

static void
test_list_range(void)
{
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 1);
	struct seen s;
	const char *err = NULL;
	uint32_t expunge[] = { 4 };
	uint32_t *gone = NULL;
	size_t ngone = 0;

	CHECK_INT(deliver(ms, NULL, 10), 1);
	CHECK_INT(mailstore_expunge(ms, "INBOX", expunge, 1, false, &gone,
	    &ngone, &err), 0);
	free(gone);
	memset(&s, 0, sizeof(s));
	CHECK_INT(mailstore_message_list_range(ms, "inbox", 3, 6,
	    MAILSTORE_LIST_CACHE, collect, &s, &err), 3);
	CHECK_INT(s.n, 3);
	CHECK_INT(s.uid[0], 3);
	CHECK_INT(s.uid[1], 5);
	CHECK_INT(s.uid[2], 6);
	CHECK_INT(s.with_cache, 3);
	CHECK_INT(s.unordered, 0);
	/* without the cache flag, no cached strings */
	memset(&s, 0, sizeof(s));
	CHECK_INT(mailstore_message_list_range(ms, "INBOX", 8, 0, 0,
	    collect, &s, &err), 3);
	CHECK_INT(s.without_cache, 3);
	CHECK_INT(s.uid[0], 8);
	CHECK_INT(s.uid[2], 10);
	/* the whole mailbox, and an empty range */
	memset(&s, 0, sizeof(s));
	CHECK_INT(mailstore_message_list_range(ms, "INBOX", 1, 0,
	    MAILSTORE_LIST_CACHE, collect, &s, &err), 9);
	CHECK_INT(s.unordered, 0);
	memset(&s, 0, sizeof(s));
	CHECK_INT(mailstore_message_list_range(ms, "INBOX", 11, 100, 0,
	    collect, &s, &err), 0);
	CHECK_INT(mailstore_message_list_range(ms, "INBOX", 4, 4, 0,
	    collect, &s, &err), 0);
	CHECK_INT(mailstore_message_list_range(ms, "Sent", 1, 0, 0,
	    collect, &s, &err), 0);
	CHECK_INT(s.n, 0);
	/* no such mailbox, bad name */
	CHECK_INT(mailstore_message_list_range(ms, "Nope", 1, 0, 0,
	    collect, &s, &err), -1);
	CHECK_INT(mailstore_message_list_range(ms, "a//b", 1, 0, 0,
	    collect, &s, &err), -1);
	mailstore_close(&ms);
	cleanup(dir);
}

static void
test_state_and_since(void)
{
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 2);
	uint32_t uidv = 0, uidnext = 0, *uids = NULL, ex[] = { 2, 3 };
	uint32_t mv[] = { 5 }, newuid[1], uidv2;
	uint64_t hms = 0, h0, h1, h2, h3, trash_hms;
	size_t n = 0;
	bool complete = false;
	struct seen s;
	const char *err = NULL;

	CHECK_INT(mailstore_mailbox_state(ms, "INBOX", &uidv, &uidnext, &h0,
	    &err), 1);
	CHECK_INT(uidnext, 1);
	CHECK(uidv > 0);
	CHECK_INT(mailstore_mailbox_state(ms, "Nope", NULL, NULL, NULL,
	    &err), 0);
	CHECK_INT(mailstore_mailbox_state(ms, "bad//name", NULL, NULL, NULL,
	    &err), -1);
	deliver(ms, NULL, 6);
	CHECK_INT(mailstore_mailbox_state(ms, "INBOX", NULL, &uidnext, &h1,
	    &err), 1);
	CHECK_INT(uidnext, 7);
	CHECK(h1 > h0);
	/* nothing expunged yet, and the log covers everything */
	CHECK_INT(mailstore_expunged_since(ms, "INBOX", 0, &uids, &n,
	    &complete, &err), 0);
	CHECK_INT(n, 0);
	CHECK(uids == NULL);
	CHECK(complete);
	/* a flag change: one message newer than h1 */
	CHECK_INT(mailstore_message_set_flags(ms, "INBOX", 4,
	    MAILSTORE_F_SEEN, 0, &err), 1);
	CHECK_INT(mailstore_mailbox_state(ms, "INBOX", NULL, NULL, &h2,
	    &err), 1);
	CHECK(h2 > h1);
	memset(&s, 0, sizeof(s));
	CHECK_INT(mailstore_message_list_since(ms, "INBOX", h1, collect, &s,
	    &err), 1);
	CHECK_INT(s.uid[0], 4);
	CHECK_INT(s.modseq[0], h2);
	CHECK_INT(s.flags[0], MAILSTORE_F_SEEN);
	memset(&s, 0, sizeof(s));
	CHECK_INT(mailstore_message_list_since(ms, "INBOX", 0, collect, &s,
	    &err), 6);
	CHECK_INT(s.unordered, 0);
	CHECK_INT(mailstore_message_list_since(ms, "INBOX", h2, collect, &s,
	    &err), 0);
	CHECK_INT(mailstore_message_list_since(ms, "Nope", 0, collect, &s,
	    &err), -1);
	/* expunge 2 and 3 */
	CHECK_INT(mailstore_expunge(ms, "INBOX", ex, 2, false, NULL, &n,
	    &err), 0);
	CHECK_INT(n, 2);
	CHECK_INT(mailstore_mailbox_state(ms, "INBOX", NULL, NULL, &h3,
	    &err), 1);
	CHECK(h3 > h2);
	CHECK_INT(mailstore_expunged_since(ms, "INBOX", h2, &uids, &n,
	    &complete, &err), 0);
	CHECK_INT(n, 2);
	CHECK(complete);
	if (n == 2) {
		CHECK_INT(uids[0], 2);
		CHECK_INT(uids[1], 3);
	}
	free(uids);
	CHECK_INT(mailstore_expunged_since(ms, "INBOX", h3, &uids, &n,
	    &complete, &err), 0);
	CHECK_INT(n, 0);
	CHECK(complete);
	/* expunged messages are not in since-lists any more */
	memset(&s, 0, sizeof(s));
	CHECK_INT(mailstore_message_list_since(ms, "INBOX", 0, collect, &s,
	    &err), 4);
	/* a move away counts as an expunge in the source */
	CHECK_INT(mailstore_mailbox_state(ms, "Trash", NULL, NULL,
	    &trash_hms, &err), 1);
	CHECK_INT(mailstore_copy_multi(ms, "INBOX", mv, 1, "Trash", true,
	    newuid, &uidv2, &err), 0);
	CHECK_INT(newuid[0], 1);
	CHECK_INT(mailstore_mailbox_state(ms, "INBOX", NULL, NULL, &hms,
	    &err), 1);
	CHECK(hms > h3);
	CHECK_INT(mailstore_expunged_since(ms, "INBOX", h3, &uids, &n,
	    &complete, &err), 0);
	CHECK_INT(n, 1);
	if (n == 1)
		CHECK_INT(uids[0], 5);
	free(uids);
	/* the moved message is new in the target */
	memset(&s, 0, sizeof(s));
	CHECK_INT(mailstore_message_list_since(ms, "Trash", trash_hms,
	    collect, &s, &err), 1);
	CHECK_INT(s.uid[0], 1);
	/* all since h1 (2, 3, 5), ascending */
	CHECK_INT(mailstore_expunged_since(ms, "INBOX", h1, &uids, &n,
	    &complete, &err), 0);
	CHECK_INT(n, 3);
	if (n == 3) {
		CHECK_INT(uids[0], 2);
		CHECK_INT(uids[1], 3);
		CHECK_INT(uids[2], 5);
	}
	free(uids);
	CHECK_INT(mailstore_expunged_since(ms, "Nope", 0, &uids, &n,
	    &complete, &err), -1);
	mailstore_close(&ms);
	cleanup(dir);
}

static void
test_expunge_log_prune(void)
{
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 3);
	uint64_t m[6];
	uint32_t *uids = NULL, one;
	size_t n, i;
	bool complete = true;
	const char *err = NULL;

	deliver(ms, NULL, 6);
	deliver(ms, "Sent", 2);
	/* six expunges, one UID each, at increasing MODSEQs */
	for (i = 0; i < 6; i++) {
		one = (uint32_t)i + 1;
		CHECK_INT(mailstore_mailbox_state(ms, "INBOX", NULL, NULL,
		    &m[i], &err), 1);
		CHECK_INT(mailstore_expunge(ms, "INBOX", &one, 1, false, NULL,
		    &n, &err), 0);
		CHECK_INT(n, 1);
	}
	one = 1;
	CHECK_INT(mailstore_expunge(ms, "Sent", &one, 1, false, NULL, &n,
	    &err), 0);
	/* keep the newest 2 per mailbox: INBOX loses 4, Sent nothing */
	CHECK_INT(mailstore_prune_expunged(ms, MAILSTORE_EXPUNGE_LOG_AGE, 2,
	    &err), 4);
	/* since m[4] (before UID 5 went): exact */
	CHECK_INT(mailstore_expunged_since(ms, "INBOX", m[4], &uids, &n,
	    &complete, &err), 0);
	CHECK(complete);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_INT(uids[0], 5);
		CHECK_INT(uids[1], 6);
	}
	free(uids);
	/* since m[3]: UID 4's entry was pruned, the log says so */
	CHECK_INT(mailstore_expunged_since(ms, "INBOX", m[3], &uids, &n,
	    &complete, &err), 0);
	CHECK(!complete);
	CHECK_INT(n, 2);
	free(uids);
	CHECK_INT(mailstore_expunged_since(ms, "INBOX", 0, &uids, &n,
	    &complete, &err), 0);
	CHECK(!complete);
	free(uids);
	/* Sent untouched */
	CHECK_INT(mailstore_expunged_since(ms, "Sent", 0, &uids, &n,
	    &complete, &err), 0);
	CHECK(complete);
	CHECK_INT(n, 1);
	free(uids);
	/* by age: everything is older than -1 s... use 0 s after a tick */
	CHECK_INT(mailstore_prune_expunged(ms, MAILSTORE_EXPUNGE_LOG_AGE,
	    MAILSTORE_EXPUNGE_LOG_ROWS, &err), 0);
	sleep(1);
	CHECK_INT(mailstore_prune_expunged(ms, 0, MAILSTORE_EXPUNGE_LOG_ROWS,
	    &err), 3);
	CHECK_INT(mailstore_expunged_since(ms, "Sent", 0, &uids, &n,
	    &complete, &err), 0);
	CHECK(!complete);
	CHECK_INT(n, 0);
	free(uids);
	mailstore_close(&ms);
	cleanup(dir);
}

static void
test_store_flags(void)
{
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 4);
	struct mailstore_flag_change c[4];
	uint64_t h0, h1, h2;
	struct seen s;
	const char *err = NULL;
	size_t i;

	deliver(ms, NULL, 3);
	CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 2, "$Old",
	    NULL, &err), 1);
	CHECK_INT(mailstore_mailbox_state(ms, "INBOX", NULL, NULL, &h0,
	    &err), 1);
	memset(c, 0, sizeof(c));
	c[0].uid = 1;
	c[1].uid = 2;
	c[2].uid = 99;		/* no such message */
	c[3].uid = 3;
	CHECK_INT(mailstore_store_flags(ms, "INBOX", c, 4,
	    MAILSTORE_FLAGS_ADD, MAILSTORE_F_SEEN | MAILSTORE_F_FLAGGED,
	    "$Junk $junk Work", 0, &err), 0);
	CHECK_INT(c[0].status, 1);
	CHECK_INT(c[0].flags, MAILSTORE_F_SEEN | MAILSTORE_F_FLAGGED);
	CHECK_STR(c[0].keywords, "$Junk Work");
	CHECK_INT(c[0].modseq, h0 + 1);
	CHECK_INT(c[1].status, 1);
	CHECK_STR(c[1].keywords, "$Old $Junk Work");
	CHECK_INT(c[1].modseq, h0 + 1);
	CHECK_INT(c[2].status, -1);
	CHECK(c[2].keywords == NULL);
	CHECK_INT(c[3].status, 1);
	mailstore_flag_changes_free(c, 4);
	CHECK(c[0].keywords == NULL);
	CHECK_INT(mailstore_mailbox_state(ms, "INBOX", NULL, NULL, &h1,
	    &err), 1);
	CHECK_INT(h1, h0 + 1);		/* one MODSEQ for the STORE */
	/* the same again: nothing changes, no MODSEQ */
	CHECK_INT(mailstore_store_flags(ms, "INBOX", c, 2,
	    MAILSTORE_FLAGS_ADD, MAILSTORE_F_SEEN, "work", 0, &err), 0);
	CHECK_INT(c[0].status, 0);
	CHECK_INT(c[1].status, 0);
	CHECK_INT(c[0].modseq, h1);
	mailstore_flag_changes_free(c, 2);
	CHECK_INT(mailstore_mailbox_state(ms, "INBOX", NULL, NULL, &h2,
	    &err), 1);
	CHECK_INT(h2, h1);
	/* UNCHANGEDSINCE: message 1 is changed now (h2); then message 2 is
	 * refused at h2 as well as message 1 at an older value */
	c[0].uid = 1;
	CHECK_INT(mailstore_store_flags(ms, "INBOX", c, 1,
	    MAILSTORE_FLAGS_REMOVE, MAILSTORE_F_FLAGGED, NULL, h2, &err), 0);
	CHECK_INT(c[0].status, 1);
	CHECK_INT(c[0].flags, MAILSTORE_F_SEEN);
	CHECK_INT(c[0].modseq, h2 + 1);
	mailstore_flag_changes_free(c, 1);
	c[0].uid = 1;
	c[1].uid = 2;
	CHECK_INT(mailstore_store_flags(ms, "INBOX", c, 2,
	    MAILSTORE_FLAGS_REPLACE, MAILSTORE_F_DRAFT, NULL, h2, &err), 0);
	CHECK_INT(c[0].status, 2);		/* modseq h2+1 > h2 */
	CHECK_INT(c[0].flags, MAILSTORE_F_SEEN);	/* untouched */
	CHECK_STR(c[0].keywords, "$Junk Work");
	CHECK_INT(c[0].modseq, h2 + 1);
	CHECK_INT(c[1].status, 1);
	CHECK_INT(c[1].flags, MAILSTORE_F_DRAFT);
	CHECK_STR(c[1].keywords, "");	/* FLAGS replaces keywords */
	mailstore_flag_changes_free(c, 2);
	/* -FLAGS of keywords */
	c[0].uid = 1;
	CHECK_INT(mailstore_store_flags(ms, "INBOX", c, 1,
	    MAILSTORE_FLAGS_REMOVE, 0, "WORK", 0, &err), 0);
	CHECK_STR(c[0].keywords, "$Junk");
	mailstore_flag_changes_free(c, 1);
	/* errors change nothing and allocate nothing */
	c[0].uid = 3;
	CHECK_INT(mailstore_store_flags(ms, "INBOX", c, 1,
	    MAILSTORE_FLAGS_ADD, 0, "bad\\kw", 0, &err), -1);
	CHECK_INT(c[0].status, -1);
	CHECK(c[0].keywords == NULL);
	CHECK_INT(mailstore_store_flags(ms, "Nope", c, 1,
	    MAILSTORE_FLAGS_ADD, MAILSTORE_F_SEEN, NULL, 0, &err), -1);
	CHECK(c[0].keywords == NULL);
	/* the listing agrees */
	memset(&s, 0, sizeof(s));
	CHECK_INT(mailstore_message_list_range(ms, "INBOX", 1, 0, 0, collect,
	    &s, &err), 3);
	CHECK_INT(s.flags[0], MAILSTORE_F_SEEN);
	CHECK_STR(s.kw[0], "$Junk");
	CHECK_INT(s.flags[1], MAILSTORE_F_DRAFT);
	CHECK_STR(s.kw[2], "$Junk Work");
	/* many messages (the range path), unsorted, with gaps and repeats */
	{
		struct mailstore_flag_change *many;
		size_t nmany = 300;
		uint64_t h;

		deliver(ms, "Sent", 200);
		many = xcalloc(nmany, sizeof(*many));
		for (i = 0; i < nmany; i++)
			many[i].uid = (uint32_t)(nmany - i);	/* 300..1 */
		many[0].uid = 7;			/* repeat */
		CHECK_INT(mailstore_mailbox_state(ms, "Sent", NULL, NULL, &h,
		    &err), 1);
		CHECK_INT(mailstore_store_flags(ms, "Sent", many, nmany,
		    MAILSTORE_FLAGS_ADD, MAILSTORE_F_SEEN, NULL, 0, &err), 0);
		for (i = 0; i < nmany; i++) {
			if (many[i].uid > 200) {
				CHECK_INT(many[i].status, -1);
				continue;
			}
			CHECK_INT(many[i].status, 1);
			CHECK_INT(many[i].flags, MAILSTORE_F_SEEN);
			CHECK_INT(many[i].modseq, h + 1);
			CHECK_STR(many[i].keywords, "");
		}
		mailstore_flag_changes_free(many, nmany);
		/* every other message (gaps in the range): only those
		 * asked for change */
		memset(many, 0, nmany * sizeof(*many));
		for (i = 0; i < 100; i++)
			many[i].uid = (uint32_t)(2 * i + 1);	/* 1,3,..199 */
		CHECK_INT(mailstore_store_flags(ms, "Sent", many, 100,
		    MAILSTORE_FLAGS_ADD, MAILSTORE_F_FLAGGED, NULL, 0, &err),
		    0);
		for (i = 0; i < 100; i++)
			CHECK_INT(many[i].status, 1);
		mailstore_flag_changes_free(many, 100);
		memset(&s, 0, sizeof(s));
		CHECK_INT(mailstore_message_list_range(ms, "Sent", 1, 64, 0,
		    collect, &s, &err), 64);
		for (i = 0; i < 64; i++)
			CHECK_INT(s.flags[i], i % 2 == 0 ? MAILSTORE_F_SEEN |
			    MAILSTORE_F_FLAGGED : MAILSTORE_F_SEEN);
		/* -FLAGS over all: the flagged ones change, the others are
		 * unchanged (status 0, their MODSEQ kept) */
		CHECK_INT(mailstore_mailbox_state(ms, "Sent", NULL, NULL, &h,
		    &err), 1);
		memset(many, 0, nmany * sizeof(*many));
		for (i = 0; i < 200; i++)
			many[i].uid = (uint32_t)i + 1;
		CHECK_INT(mailstore_store_flags(ms, "Sent", many, 200,
		    MAILSTORE_FLAGS_REMOVE, MAILSTORE_F_FLAGGED, NULL, 0, &err),
		    0);
		for (i = 0; i < 200; i++) {
			CHECK_INT(many[i].status, i % 2 == 0 ? 1 : 0);
			CHECK_INT(many[i].flags, MAILSTORE_F_SEEN);
			if (i % 2 == 0)
				CHECK_INT(many[i].modseq, h + 1);
			else
				CHECK(many[i].modseq <= h);
		}
		mailstore_flag_changes_free(many, 200);
		memset(&s, 0, sizeof(s));
		CHECK_INT(mailstore_message_list_since(ms, "Sent", h, collect,
		    &s, &err), 100);
		free(many);
	}
	mailstore_close(&ms);
	cleanup(dir);
}

static void
test_copy_multi(void)
{
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 5);
	uint32_t uids[] = { 3, 9, 1, 2 }, nu[4], uidv = 0, tuidv = 0;
	uint64_t h_in, h_tr, h;
	struct mailstore_mailbox mb;
	struct buf b;
	struct seen s;
	const char *err = NULL;
	size_t i;

	deliver(ms, NULL, 4);
	CHECK_INT(mailstore_message_set_flags(ms, "INBOX", 3,
	    MAILSTORE_F_FLAGGED, 0, &err), 1);
	CHECK_INT(mailstore_mailbox_state(ms, "Trash", &tuidv, NULL, &h_tr,
	    &err), 1);
	/* COPY: UIDs in the order given; 9 does not exist */
	CHECK_INT(mailstore_copy_multi(ms, "INBOX", uids, 4, "Trash", false,
	    nu, &uidv, &err), 0);
	CHECK_INT(uidv, tuidv);
	CHECK_INT(nu[0], 1);
	CHECK_INT(nu[1], 0);
	CHECK_INT(nu[2], 2);
	CHECK_INT(nu[3], 3);
	CHECK_INT(mailstore_mailbox_state(ms, "Trash", NULL, NULL, &h, &err),
	    1);
	CHECK_INT(h, h_tr + 1);
	memset(&s, 0, sizeof(s));
	CHECK_INT(mailstore_message_list_range(ms, "Trash", 1, 0,
	    MAILSTORE_LIST_CACHE, collect, &s, &err), 3);
	CHECK_INT(s.flags[0], MAILSTORE_F_FLAGGED);	/* flags go along */
	CHECK_INT(s.with_cache, 3);			/* and the cache */
	CHECK_INT(s.modseq[0], h);
	buf_init(&b, 4096);
	CHECK_INT(mailstore_message_read(ms, "Trash", 2, &b, &err), 1);
	CHECK(b.len > 0 && memmem(b.data, b.len, "hello", 5) != NULL);
	buf_fini(&b);
	/* MOVE: rows leave INBOX in one transaction */
	CHECK_INT(mailstore_mailbox_state(ms, "INBOX", NULL, NULL, &h_in,
	    &err), 1);
	uids[0] = 4;
	uids[1] = 2;
	CHECK_INT(mailstore_copy_multi(ms, "INBOX", uids, 2, "Junk", true, nu,
	    NULL, &err), 0);
	CHECK_INT(nu[0], 1);
	CHECK_INT(nu[1], 2);
	CHECK_INT(mailstore_mailbox_get(ms, "INBOX", &mb, &err), 1);
	CHECK_INT(mb.messages, 2);
	CHECK_INT(mb.highestmodseq, h_in + 1);
	CHECK_INT(mailstore_mailbox_get(ms, "Junk", &mb, &err), 1);
	CHECK_INT(mb.messages, 2);
	CHECK_INT(mb.uidnext, 3);
	buf_init(&b, 4096);
	CHECK_INT(mailstore_message_read(ms, "Junk", 2, &b, &err), 1);
	CHECK_INT(mailstore_message_read(ms, "INBOX", 2, &b, &err), 0);
	buf_fini(&b);
	/* MOVE inside one mailbox: new UID, old one expunged */
	uids[0] = 1;
	CHECK_INT(mailstore_copy_multi(ms, "INBOX", uids, 1, "INBOX", true,
	    nu, NULL, &err), 0);
	CHECK_INT(nu[0], 5);
	memset(&s, 0, sizeof(s));
	CHECK_INT(mailstore_message_list_range(ms, "INBOX", 1, 0, 0, collect,
	    &s, &err), 2);
	CHECK_INT(s.uid[0], 3);
	CHECK_INT(s.uid[1], 5);
	/* no target: -1, ENOENT, nothing done */
	uids[0] = 3;
	errno = 0;
	CHECK_INT(mailstore_copy_multi(ms, "INBOX", uids, 1, "Nope", false,
	    nu, NULL, &err), -1);
	CHECK_INT(errno, ENOENT);
	CHECK_INT(nu[0], 0);
	/* no source mailbox: nothing copied, not an error */
	CHECK_INT(mailstore_copy_multi(ms, "Nope", uids, 1, "INBOX", false,
	    nu, NULL, &err), 0);
	CHECK_INT(nu[0], 0);
	/* the old single-message API still works on top */
	CHECK_INT(mailstore_message_copy(ms, "INBOX", 3, "Drafts", false,
	    &nu[0], &uidv, &err), 1);
	CHECK_INT(nu[0], 1);
	CHECK_INT(mailstore_message_copy(ms, "INBOX", 77, "Drafts", false,
	    &nu[0], &uidv, &err), 0);
	/* copies share files: expunging every copy but one keeps it */
	CHECK_INT(mailstore_expunge(ms, "INBOX", NULL, 0, false, NULL, &i,
	    &err), 0);
	buf_init(&b, 4096);
	CHECK_INT(mailstore_message_read(ms, "Drafts", 1, &b, &err), 1);
	buf_fini(&b);
	mailstore_close(&ms);
	cleanup(dir);
}

static void
check_usage(struct mailstore *ms, uint64_t bytes, uint64_t msgs)
{
	uint64_t b = 0, m = 0;
	const char *err = NULL;

	CHECK_INT(mailstore_usage(ms, &b, &m, &err), 0);
	CHECK_INT(b, bytes);
	CHECK_INT(m, msgs);
}

static void
test_usage_quota(void)
{
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 6);
	const size_t sz = strlen("Subject: x\r\n\r\nhello\r\n");
	uint32_t uids[] = { 1, 2 }, nu[2];
	size_t n;
	const char *err = NULL;

	check_usage(ms, 0, 0);
	deliver(ms, NULL, 5);
	check_usage(ms, 5 * sz, 5);
	CHECK_INT(mailstore_expunge(ms, "INBOX", uids, 1, false, NULL, &n,
	    &err), 0);
	check_usage(ms, 4 * sz, 4);
	uids[0] = 2;
	uids[1] = 3;
	CHECK_INT(mailstore_copy_multi(ms, "INBOX", uids, 2, "Sent", false,
	    nu, NULL, &err), 0);
	check_usage(ms, 6 * sz, 6);	/* a copy counts (RFC 9208 5.1) */
	CHECK_INT(mailstore_copy_multi(ms, "INBOX", uids, 2, "Junk", true,
	    nu, NULL, &err), 0);
	check_usage(ms, 6 * sz, 6);	/* a move does not */
	CHECK_INT(mailstore_mailbox_delete(ms, "Junk", &err), 0);
	check_usage(ms, 4 * sz, 4);
	CHECK_INT(mailstore_mailbox_rename(ms, "INBOX", "Old", &err), 0);
	check_usage(ms, 4 * sz, 4);
	/* quota: a copy past the limit fails with EDQUOT, changes nothing */
	mailstore_set_quota(ms, 5 * sz);
	uids[0] = 4;
	uids[1] = 5;
	errno = 0;
	CHECK_INT(mailstore_copy_multi(ms, "Old", uids, 2, "Trash", false,
	    nu, NULL, &err), -1);
	CHECK_INT(errno, EDQUOT);
	check_usage(ms, 4 * sz, 4);
	CHECK_INT(mailstore_copy_multi(ms, "Old", uids, 1, "Trash", false,
	    nu, NULL, &err), 0);
	CHECK_INT(nu[0], 1);
	check_usage(ms, 5 * sz, 5);
	/* a move is always allowed, even when full */
	CHECK_INT(mailstore_copy_multi(ms, "Old", uids + 1, 1, "Trash", true,
	    nu, NULL, &err), 0);
	CHECK_INT(nu[0], 2);
	/* the counters survive reopening */
	mailstore_close(&ms);
	ms = mailstore_open(dir, 6, &err);
	CHECK(ms != NULL);
	check_usage(ms, 5 * sz, 5);
	mailstore_close(&ms);
	cleanup(dir);
}

struct hook_count {
	int	calls;
	int64_t	last;
};

static void
hook(void *ctx, int64_t user_id)
{
	struct hook_count *h = ctx;

	__atomic_add_fetch(&h->calls, 1, __ATOMIC_RELAXED);
	h->last = user_id;
}

static void
test_change_hook(void)
{
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 7);
	struct hook_count h = { 0, 0 };
	struct mailstore_flag_change c[1];
	uint32_t one = 1, nu;
	size_t n;
	const char *err = NULL;

	mailstore_set_change_hook(hook, &h);
	deliver(ms, NULL, 2);
	CHECK_INT(h.calls, 1);
	CHECK_INT(h.last, 7);
	memset(c, 0, sizeof(c));
	c[0].uid = 1;
	CHECK_INT(mailstore_store_flags(ms, "INBOX", c, 1,
	    MAILSTORE_FLAGS_ADD, MAILSTORE_F_SEEN, NULL, 0, &err), 0);
	mailstore_flag_changes_free(c, 1);
	CHECK_INT(h.calls, 2);
	/* no change, no call */
	CHECK_INT(mailstore_store_flags(ms, "INBOX", c, 1,
	    MAILSTORE_FLAGS_ADD, MAILSTORE_F_SEEN, NULL, 0, &err), 0);
	mailstore_flag_changes_free(c, 1);
	CHECK_INT(h.calls, 2);
	CHECK_INT(mailstore_message_set_flags(ms, "INBOX", 2,
	    MAILSTORE_F_SEEN, 0, &err), 1);
	CHECK_INT(h.calls, 3);
	CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 2, "k", NULL,
	    &err), 1);
	CHECK_INT(h.calls, 4);
	CHECK_INT(mailstore_copy_multi(ms, "INBOX", &one, 1, "Sent", true,
	    &nu, NULL, &err), 0);
	CHECK_INT(h.calls, 5);
	CHECK_INT(mailstore_expunge(ms, "INBOX", NULL, 0, false, NULL, &n,
	    &err), 0);
	CHECK_INT(h.calls, 6);
	CHECK_INT(mailstore_expunge(ms, "INBOX", NULL, 0, false, NULL, &n,
	    &err), 0);
	CHECK_INT(h.calls, 6);			/* nothing went */
	CHECK_INT(mailstore_mailbox_create(ms, "New", 0, &err), 0);
	CHECK_INT(mailstore_mailbox_rename(ms, "New", "Newer", &err), 0);
	CHECK_INT(mailstore_mailbox_subscribe(ms, "Newer", false, &err), 0);
	CHECK_INT(mailstore_mailbox_delete(ms, "Newer", &err), 0);
	CHECK_INT(h.calls, 10);
	mailstore_set_change_hook(NULL, NULL);
	deliver(ms, NULL, 1);
	CHECK_INT(h.calls, 10);
	mailstore_close(&ms);
	cleanup(dir);
}

/* make the index look like version 2 (before these additions) */
static void
downgrade_to_v2(const char *dir, int64_t id)
{
	char *path = xasprintf("%s/mail/%lld/index.db", dir, (long long)id);
	sqlite3 *db;

	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "DROP TRIGGER messages_usage_ins;"
	    " DROP TRIGGER messages_usage_del;"
	    " DROP TABLE expunged; DROP TABLE usage;"
	    " DROP TABLE fts; DROP INDEX messages_text;"
	    " DROP INDEX messages_unindexed;"
	    " ALTER TABLE messages DROP COLUMN text_id;"
	    " ALTER TABLE mailboxes DROP COLUMN expunge_floor;"
	    " PRAGMA user_version = 2", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(path);
}

static void
test_migrate_v2(void)
{
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 8);
	const size_t sz = strlen("Subject: x\r\n\r\nhello\r\n");
	uint32_t *uids = NULL, one = 1;
	uint64_t hms;
	size_t n;
	bool complete = true;
	const char *err = NULL;

	deliver(ms, NULL, 3);
	mailstore_close(&ms);
	downgrade_to_v2(dir, 8);
	ms = mailstore_open(dir, 8, &err);
	CHECK(ms != NULL);
	if (ms == NULL) {
		cleanup(dir);
		return;
	}
	check_usage(ms, 3 * sz, 3);
	/* expunges before the log existed are unknown */
	CHECK_INT(mailstore_mailbox_state(ms, "INBOX", NULL, NULL, &hms,
	    &err), 1);
	CHECK_INT(mailstore_expunged_since(ms, "INBOX", 1, &uids, &n,
	    &complete, &err), 0);
	CHECK(!complete);
	CHECK_INT(mailstore_expunged_since(ms, "INBOX", hms, &uids, &n,
	    &complete, &err), 0);
	CHECK(complete);
	CHECK_INT(mailstore_expunge(ms, "INBOX", &one, 1, false, NULL, &n,
	    &err), 0);
	CHECK_INT(mailstore_expunged_since(ms, "INBOX", hms, &uids, &n,
	    &complete, &err), 0);
	CHECK(complete);
	CHECK_INT(n, 1);
	free(uids);
	check_usage(ms, 2 * sz, 2);
	deliver(ms, NULL, 1);
	check_usage(ms, 3 * sz, 3);
	mailstore_close(&ms);
	cleanup(dir);
}

static void
test_append_fields(void)
{
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 10);
	struct mailstore_delivery d[3];
	struct seen s;
	const char *err = NULL;

	memset(d, 0, sizeof(d));
	d[0].fd = d[1].fd = d[2].fd = -1;
	d[0].data = d[1].data = d[2].data = "Subject: a\r\n\r\nappended\r\n";
	d[0].size = d[1].size = d[2].size = strlen(d[0].data);
	d[0].mailbox = "Drafts";
	d[0].exact_mailbox = true;
	d[0].flags = MAILSTORE_F_DRAFT;
	d[0].keywords = " $Draft  work $draft ";
	d[1].mailbox = "Missing";
	d[1].exact_mailbox = true;	/* APPEND to a missing mailbox */
	d[2].mailbox = "Drafts";
	d[2].keywords = "bad(kw";
	CHECK_INT(mailstore_deliver(ms, d, 3, &err), 0);
	CHECK_INT(d[0].status, 0);
	CHECK_INT(d[0].uid, 1);
	CHECK_INT(d[1].status, -1);
	CHECK_STR(d[1].error, "no such mailbox");
	CHECK(!d[1].over_quota);
	CHECK_INT(d[2].status, -1);
	CHECK_STR(d[2].error, "invalid keyword");
	memset(&s, 0, sizeof(s));
	CHECK_INT(mailstore_message_list_range(ms, "Drafts", 1, 0, 0, collect,
	    &s, &err), 1);
	CHECK_STR(s.kw[0], "$Draft work");
	CHECK_INT(s.flags[0], MAILSTORE_F_DRAFT);
	/* without exact_mailbox, a missing name still falls back to INBOX */
	d[1].exact_mailbox = false;
	CHECK_INT(mailstore_deliver(ms, &d[1], 1, &err), 0);
	CHECK_INT(d[1].status, 0);
	memset(&s, 0, sizeof(s));
	CHECK_INT(mailstore_message_list_range(ms, "INBOX", 1, 0, 0, collect,
	    &s, &err), 1);
	CHECK_STR(s.kw[0], "");
	mailstore_close(&ms);
	cleanup(dir);
}

static void
test_delivery_quota(void)
{
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 11);
	struct mailstore_delivery d[4];
	const char *msg = "Subject: q\r\n\r\n0123456789\r\n", *err = NULL;
	const size_t sz = strlen(msg) + 4;	/* with the prefix */
	size_t i, n;
	uint32_t one = 1;

	memset(d, 0, sizeof(d));
	for (i = 0; i < 4; i++) {
		d[i].fd = -1;
		d[i].data = msg;
		d[i].size = strlen(msg);
		d[i].prefix = "X: \n";
		d[i].prefix_len = 4;
	}
	d[0].dedupe_key = "k0";
	d[1].dedupe_key = "k1";
	d[2].dedupe_key = "k2";
	d[3].dedupe_key = "k3";
	mailstore_set_packing(ms, true);
	mailstore_set_quota(ms, 2 * sz + 1);
	CHECK_INT(mailstore_deliver(ms, d, 4, &err), 0);
	CHECK_INT(d[0].status, 0);
	CHECK_INT(d[1].status, 0);
	CHECK_INT(d[2].status, -1);
	CHECK(d[2].over_quota);
	CHECK_STR(d[2].error, "mailbox full");
	CHECK_INT(d[3].status, -1);
	CHECK(d[3].over_quota);
	check_usage(ms, 2 * sz, 2);
	/* all refused: -1 from mailstore_deliver */
	CHECK_INT(mailstore_deliver(ms, &d[2], 2, &err), -1);
	CHECK(d[2].over_quota && d[3].over_quota);
	/* expunge makes room for one; the refused key was not recorded,
	 * so the message comes in (not as a duplicate) */
	CHECK_INT(mailstore_expunge(ms, "INBOX", &one, 1, false, NULL, &n,
	    &err), 0);
	CHECK_INT(mailstore_deliver(ms, &d[2], 2, &err), 0);
	CHECK_INT(d[2].status, 0);
	CHECK(!d[2].duplicate);
	CHECK_INT(d[3].status, -1);
	CHECK(d[3].over_quota);
	/* the limit raised (0: none): everything fits */
	mailstore_set_quota(ms, 0);
	CHECK_INT(mailstore_deliver(ms, &d[3], 1, &err), 0);
	CHECK_INT(d[3].status, 0);
	CHECK(!d[3].duplicate);
	check_usage(ms, 3 * sz, 3);
	/* the commit-time check: another handle filled the account between
	 * this handle's look and its commit */
	{
		struct mailstore *other = mailstore_open(dir, 11, &err);
		struct mailstore_delivery e;

		CHECK(other != NULL);
		mailstore_set_quota(ms, 4 * sz);
		memset(&e, 0, sizeof(e));
		e.fd = -1;
		e.data = msg;
		e.size = strlen(msg);
		e.prefix = "X: \n";
		e.prefix_len = 4;
		CHECK_INT(mailstore_deliver(other, &e, 1, &err), 0);
		CHECK_INT(mailstore_deliver(ms, &e, 1, &err), -1);
		CHECK(e.over_quota);
		mailstore_close(&other);
	}
	check_usage(ms, 4 * sz, 4);
	mailstore_close(&ms);
	cleanup(dir);
}

/* ---- full-text index ---- */

static int
fts_rows(const char *dir, int64_t id)
{
	char *path = xasprintf("%s/mail/%lld/index.db", dir, (long long)id);
	sqlite3 *db;
	sqlite3_stmt *s;
	int n = -1;

	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM fts", -1, &s,
	    NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			n = sqlite3_column_int(s, 0);
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
	free(path);
	return n;
}

static uint32_t
deliver_text(struct mailstore *ms, const char *mailbox, const char *text)
{
	struct mailstore_delivery d;
	const char *err = NULL;

	memset(&d, 0, sizeof(d));
	d.fd = -1;
	d.data = text;
	d.size = strlen(text);
	d.mailbox = mailbox;
	d.prefix = "Return-Path: <sender@example.org>\r\n";
	d.prefix_len = strlen(d.prefix);
	CHECK_INT(mailstore_deliver(ms, &d, 1, &err), 0);
	return d.uid;
}

/* cand - candidates for one term; "" if not narrowed, else "1,3," */
static const char *
cand(struct mailstore *ms, const char *mailbox, const char *term,
    bool body_only)
{
	static char out[1024];
	struct span t = span_make(term, strlen(term));
	uint32_t *uids = NULL;
	size_t n = 0, i, len = 0;
	bool narrowed = true;
	const char *err = NULL;

	out[0] = '\0';
	if (mailstore_fts_candidates(ms, mailbox, &t, &body_only, 1, &uids,
	    &n, &narrowed, &err) < 0)
		return "error";
	if (!narrowed)
		return uids == NULL ? "all" : "all?";
	for (i = 0; i < n && len < sizeof(out) - 16; i++)
		len += (size_t)snprintf(out + len, sizeof(out) - len, "%u,",
		    uids[i]);
	free(uids);
	return out;
}

static const char *const fts_msgs[] = {
	/* 1: plain */
	"From: Alice <alice@example.org>\r\nSubject: Quarterly report\r\n"
	"\r\nThe numbers for the third quarter are attached.\r\n",
	/* 2: base64 body: "Meet me at the lighthouse at noon.\n" */
	"Subject: b64\r\nContent-Type: text/plain; charset=us-ascii\r\n"
	"Content-Transfer-Encoding: base64\r\n\r\n"
	"TWVldCBtZSBhdCB0aGUgbGlnaHRob3VzZSBhdCBub29uLgo=\r\n",
	/* 3: quoted-printable, ISO-8859-1: "Die Größe ist=gut" */
	"Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n"
	"Content-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	"Die Gr=F6=DFe ist=3Dgut, soft=\r\nbreak here\r\n",
	/* 4: UTF-8 Greek and Cyrillic, 8bit */
	"Subject: greek\r\nContent-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: 8bit\r\n\r\n"
	"\xce\x9a\xce\xb1\xce\xbb\xce\xb7\xce\xbc\xce\xad\xcf\x81\xce\xb1 "
	"\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2\r\n",
	/* 5: multipart with an attachment name */
	"Subject: parts\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
	"--XX\r\nContent-Type: text/plain\r\n\r\nsee attached file\r\n"
	"--XX\r\nContent-Type: application/pdf; name=\"budget2026.pdf\"\r\n"
	"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--XX--\r\n",
};

static void
test_fts(void)
{
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 12);
	struct span terms[3];
	bool body[3];
	uint32_t *uids = NULL, nu[2], cp[] = { 1, 2 };
	size_t n, i;
	bool narrowed;
	const char *err = NULL;

	for (i = 0; i < sizeof(fts_msgs) / sizeof(fts_msgs[0]); i++)
		CHECK_INT(deliver_text(ms, NULL, fts_msgs[i]), i + 1);
	CHECK_INT(fts_rows(dir, 12), 5);
	CHECK_STR(cand(ms, "INBOX", "QUARTER", true), "1,");
	/* the index keeps no columns: BODY finds header matches too (a
	 * superset: SEARCH confirms) */
	CHECK_STR(cand(ms, "INBOX", "quarterly", true), "1,");
	CHECK_STR(cand(ms, "INBOX", "quarterly", false), "1,");
	CHECK_STR(cand(ms, "INBOX", "alice@EXAMPLE", false), "1,");
	CHECK_STR(cand(ms, "INBOX", "lighthouse", true), "2,");  /* base64 */
	CHECK_STR(cand(ms, "INBOX", "gRÖSSe", true), "");
	CHECK_STR(cand(ms, "INBOX", "größe", true), "3,");	/* QP, latin1 */
	CHECK_STR(cand(ms, "INBOX", "GRÖßE IST=GUT", true), "3,");
	CHECK_STR(cand(ms, "INBOX", "softbreak", true), "3,");
	CHECK_STR(cand(ms, "INBOX", "aus köln", false), "3,"); /* RFC 2047 */
	CHECK_STR(cand(ms, "INBOX", "aus köln", true), "3,");
	/* trigrams, not positions: "third quarter" reordered still narrows
	 * to the one message holding all its trigrams */
	CHECK_STR(cand(ms, "INBOX", "quarter third", true), "1,");
	CHECK_STR(cand(ms, "INBOX", "zzzquarter", true), "");
	CHECK_STR(cand(ms, "INBOX", "καλημέρα", true), "4,");	/* Greek */
	CHECK_STR(cand(ms, "INBOX", "ΚΑΛΗΜΈΡΑ", true), "4,");
	CHECK_STR(cand(ms, "INBOX", "привет", true), "4,");	/* Cyrillic */
	CHECK_STR(cand(ms, "INBOX", "budget2026", false), "5,");
	CHECK_STR(cand(ms, "INBOX", "sender@example.org", false),
	    "1,2,3,4,5,");		/* the prefix is indexed too */
	CHECK_STR(cand(ms, "INBOX", "with \"quotes\"", false), "");
	/* too short to narrow: the caller scans */
	CHECK_STR(cand(ms, "INBOX", "qu", true), "all");
	CHECK_STR(cand(ms, "INBOX", "éé", true), "all");  /* 4 bytes, 2 chars */
	CHECK_STR(cand(ms, "INBOX", "", true), "all");
	CHECK_STR(cand(ms, "INBOX", "\xff\xfe\xfd", true), "all");
	CHECK_STR(cand(ms, "Nope", "quarter", true), "error");
	CHECK_STR(cand(ms, "Sent", "quarter", true), "");
	/* several terms: all must be held; a short one does not narrow */
	terms[0] = span_make("numbers", 7);
	terms[1] = span_make("at", 2);
	terms[2] = span_make("third", 5);
	body[0] = body[1] = body[2] = true;
	CHECK_INT(mailstore_fts_candidates(ms, "INBOX", terms, body, 3,
	    &uids, &n, &narrowed, &err), 0);
	CHECK(narrowed);
	CHECK_INT(n, 1);
	if (n == 1)
		CHECK_INT(uids[0], 1);
	free(uids);
	terms[2] = span_make("lighthouse", 10);
	CHECK_INT(mailstore_fts_candidates(ms, "INBOX", terms, NULL, 3,
	    &uids, &n, &narrowed, &err), 0);
	CHECK(narrowed);
	CHECK_INT(n, 0);
	CHECK(uids == NULL);
	/* a huge query (many long terms) still works, or falls back to a
	 * scan: never an error, never a miss */
	{
		struct span *many = xcalloc(500, sizeof(*many));
		char *longterm = xstrdup("The numbers for the third quarter"
		    " are attached.");

		for (i = 0; i < 500; i++)
			many[i] = span_make(longterm,
			    strlen(longterm) - i % 20);
		CHECK_INT(mailstore_fts_candidates(ms, "INBOX", many, NULL,
		    500, &uids, &n, &narrowed, &err), 0);
		CHECK(!narrowed || (n == 1 && uids[0] == 1));
		free(uids);
		free(many);
		free(longterm);
	}
	/* COPY shares the entry, MOVE keeps it */
	CHECK_INT(mailstore_copy_multi(ms, "INBOX", cp, 2, "Sent", false, nu,
	    NULL, &err), 0);
	CHECK_INT(fts_rows(dir, 12), 5);
	CHECK_STR(cand(ms, "Sent", "lighthouse", true), "2,");
	cp[0] = 3;
	CHECK_INT(mailstore_copy_multi(ms, "INBOX", cp, 1, "Trash", true, nu,
	    NULL, &err), 0);
	CHECK_STR(cand(ms, "Trash", "größe", true), "1,");
	CHECK_STR(cand(ms, "INBOX", "größe", true), "");
	CHECK_INT(fts_rows(dir, 12), 5);
	/* expunge: the entry goes with its last message */
	cp[0] = 2;
	CHECK_INT(mailstore_expunge(ms, "INBOX", cp, 1, false, NULL, &n,
	    &err), 0);
	CHECK_INT(fts_rows(dir, 12), 5);	/* Sent still has a copy */
	CHECK_INT(mailstore_mailbox_delete(ms, "Sent", &err), 0);
	CHECK_INT(fts_rows(dir, 12), 4);	/* 2 gone; 1 is in INBOX */
	CHECK_STR(cand(ms, "INBOX", "quarter", true), "1,");
	CHECK_INT(mailstore_expunge(ms, "Trash", NULL, 0, false, NULL, &n,
	    &err), 0);
	CHECK_INT(fts_rows(dir, 12), 3);
	/* the index holds distinct words: separators never narrow, a
	 * repetitive message and one of many short distinct words (past
	 * the dedupe table's load) are found in full */
	CHECK_STR(cand(ms, "INBOX", "a b c d", true), "all");
	CHECK_STR(cand(ms, "INBOX", "quarter are", true), "1,");
	CHECK_STR(cand(ms, "INBOX", "ter are att", true), "1,");
	{
		struct buf m;
		char w[8];
		size_t k;

		buf_init(&m, 1 << 20);
		CHECK_INT(buf_append_str(&m, "Subject: many\r\n\r\n"), 0);
		for (k = 0; k < 3000; k++)
			CHECK_INT(buf_append_str(&m, "la la la la\r\n"), 0);
		CHECK_INT(buf_append_str(&m, "unique-ending\r\n"), 0);
		CHECK_INT(deliver_text(ms, "Drafts", buf_cstr(&m)), 1);
		buf_reset(&m);
		CHECK_INT(buf_append_str(&m, "Subject: short words\r\n\r\n"),
		    0);
		for (k = 0; k < 26 * 26 * 10; k++) {
			snprintf(w, sizeof(w), "%c%c%zu%s",
			    (int)('a' + k / 260), (int)('a' + (k / 10) % 26),
			    k % 10, k % 16 == 15 ? "\r\n" : " ");
			CHECK_INT(buf_append_str(&m, w), 0);
		}
		CHECK_INT(deliver_text(ms, "Drafts", buf_cstr(&m)), 2);
		buf_fini(&m);
		CHECK_STR(cand(ms, "Drafts", "la la la", true), "all");
		CHECK_STR(cand(ms, "Drafts", "LA unique-end", true), "1,");
		CHECK_STR(cand(ms, "Drafts", "aa0", true), "2,");
		CHECK_STR(cand(ms, "Drafts", "zz9", true), "2,");
		CHECK_STR(cand(ms, "Drafts", "mq5 mq6 mq7", true), "2,");
		CHECK_STR(cand(ms, "Drafts", "zz9x", true), "");
	}
	/* a message without an entry (stored before the index) is always a
	 * candidate */
	{
		char *path = xasprintf("%s/mail/12/index.db", dir);
		sqlite3 *db;

		CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
		/* 4: tried and unparsable (0); 5: never tried (NULL) */
		CHECK_INT(sqlite3_exec(db, "UPDATE messages SET text_id = 0"
		    " WHERE uid = 4; UPDATE messages SET text_id = NULL"
		    " WHERE uid = 5", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		free(path);
	}
	CHECK_INT(fts_rows(dir, 12), 5);	/* 3 + the two in Drafts */
	CHECK_STR(cand(ms, "INBOX", "quarter", true), "1,4,");
	/* 5 was indexed on the way (lazily), 4 stays a candidate */
	CHECK_INT(fts_rows(dir, 12), 6);
	CHECK_STR(cand(ms, "INBOX", "budget2026", true), "4,5,");
	/* an unparsable message is indexed as nothing: a candidate too */
	mailstore_close(&ms);
	cleanup(dir);
}

/*
 * The superset property: for every code point SEARCH folds, the index
 * (which folds with SQLite's own table) finds the folded form in a text
 * holding the original, and the original in a text holding the folded
 * form; and for sampled substrings of real texts, every message SEARCH
 * would match is a candidate.
 */
static size_t
put_utf8(uint32_t c, char *o)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xc0 | (c >> 6));
		o[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	o[0] = (char)(0xe0 | (c >> 12));
	o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[2] = (char)(0x80 | (c & 0x3f));
	return 3;
}

static void
test_fts_superset(void)
{
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 13);
	struct buf text, folded, orig, low;
	char one[8], term[32];
	uint32_t c, *cps = NULL;
	size_t ncps = 0, i, k, bad = 0, skipped = 0;
	const char *hdr = "Subject: fold\r\nContent-Type: text/plain;"
	    " charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";

	/* every BMP code point the search folds */
	for (c = 0x41; c < 0x10000; c++) {
		size_t len;

		if (c >= 0xd800 && c <= 0xdfff)
			continue;
		len = put_utf8(c, one);
		buf_init(&folded, 16);
		CHECK_INT(imap_search_fold(span_make(one, len), &folded), 0);
		if (folded.len != len || memcmp(folded.data, one, len) != 0) {
			cps = xreallocarray(cps, ncps + 1, sizeof(*cps));
			cps[ncps++] = c;
		}
		buf_fini(&folded);
	}
	CHECK(ncps > 300);
	/* message 1: each original between 'q's; 2: each folded form */
	buf_init(&orig, 1 << 20);
	buf_init(&low, 1 << 20);
	CHECK_INT(buf_append_str(&orig, hdr), 0);
	CHECK_INT(buf_append_str(&low, hdr), 0);
	for (i = 0; i < ncps; i++) {
		size_t len = put_utf8(cps[i], one);

		buf_init(&folded, 16);
		CHECK_INT(imap_search_fold(span_make(one, len), &folded), 0);
		CHECK_INT(buf_printf(&orig, "q%.*sq ", (int)len, one), 0);
		CHECK_INT(buf_printf(&low, "q%.*sq ", (int)folded.len,
		    (const char *)folded.data), 0);
		buf_fini(&folded);
	}
	CHECK_INT(buf_append_str(&orig, "\r\n"), 0);
	CHECK_INT(buf_append_str(&low, "\r\n"), 0);
	CHECK_INT(deliver_text(ms, NULL, buf_cstr(&orig)), 1);
	CHECK_INT(deliver_text(ms, NULL, buf_cstr(&low)), 2);
	for (i = 0; i < ncps; i++) {
		size_t len = put_utf8(cps[i], one);
		const char *r;

		buf_init(&folded, 16);
		CHECK_INT(imap_search_fold(span_make(one, len), &folded), 0);
		/* the folded form finds the original, and vice versa */
		snprintf(term, sizeof(term), "q%.*sq", (int)folded.len,
		    (const char *)folded.data);
		r = cand(ms, "INBOX", term, true);
		/* "all": a term the index leaves to the scan */
		if (strcmp(r, "all") == 0)
			skipped++;
		if (strcmp(r, "1,2,") != 0 && strcmp(r, "all") != 0 &&
		    bad++ < 10)
			fprintf(stderr, "fold U+%04X: folded %s\n", cps[i], r);
		snprintf(term, sizeof(term), "q%.*sq", (int)len, one);
		r = cand(ms, "INBOX", term, true);
		if (strcmp(r, "all") == 0)
			skipped++;
		if (strcmp(r, "1,2,") != 0 && strcmp(r, "all") != 0 &&
		    bad++ < 10)
			fprintf(stderr, "fold U+%04X: original %s\n", cps[i],
			    r);
		buf_fini(&folded);
	}
	CHECK_INT(bad, 0);
	/* only the known gaps (U+0528..U+052F: 4 letters, both ways) */
	CHECK(skipped <= 8);
	buf_fini(&orig);
	buf_fini(&low);
	free(cps);
	/* sampled substrings of the test messages: SEARCH's answer (folded
	 * containment in mime_text_extract) is within the candidates */
	for (i = 0; i < sizeof(fts_msgs) / sizeof(fts_msgs[0]); i++)
		deliver_text(ms, "Sent", fts_msgs[i]);
	bad = 0;
	for (i = 0; i < sizeof(fts_msgs) / sizeof(fts_msgs[0]); i++) {
		struct buf h, b;
		char *stored = xasprintf("Return-Path: <sender@example.org>"
		    "\r\n%s", fts_msgs[i]);

		buf_init(&h, MIME_TEXT_MAX_HEADER);
		buf_init(&b, MIME_TEXT_MAX_BODY);
		CHECK_INT(mime_text_extract(stored, strlen(stored), &h, &b),
		    0);
		buf_init(&text, 1 << 16);
		CHECK_INT(buf_append(&text, b.data, b.len), 0);
		for (k = 0; k + 5 <= text.len; k += 3) {
			size_t len = 5, j;
			const char *r;
			char want[8];
			bool hit;

			/* whole characters only */
			if ((text.data[k] & 0xc0) == 0x80)
				continue;
			while (k + len < text.len &&
			    (text.data[k + len] & 0xc0) == 0x80)
				len++;
			if (memchr(text.data + k, '\0', len) != NULL)
				continue;
			snprintf(term, sizeof(term), "%.*s", (int)len,
			    (const char *)text.data + k);
			for (j = 0; term[j] != '\0'; j++)
				if (j % 2 == 0 && term[j] >= 'a' &&
				    term[j] <= 'z')
					term[j] = (char)(term[j] - 32);
			hit = imap_search_contains(span_make(b.data, b.len),
			    span_make(term, strlen(term)));
			CHECK(hit);
			r = cand(ms, "Sent", term, true);
			snprintf(want, sizeof(want), "%zu,", i + 1);
			if (strcmp(r, "all") != 0 && strstr(r, want) == NULL &&
			    bad++ < 10)
				fprintf(stderr, "superset: \"%s\" -> %s\n",
				    term, r);
		}
		buf_fini(&text);
		buf_fini(&h);
		buf_fini(&b);
		free(stored);
	}
	CHECK_INT(bad, 0);
	mailstore_close(&ms);
	cleanup(dir);
}

/* an index of version 3 (positions kept) is rebuilt without; the
 * messages it had indexed are indexed again at the first search */
static void
test_migrate_v3(void)
{
	char *dir = tmpdir(), *path;
	struct mailstore *ms = new_store(dir, 14);
	sqlite3 *db;
	const char *err = NULL;

	deliver_text(ms, NULL, fts_msgs[0]);
	deliver_text(ms, NULL, fts_msgs[1]);
	mailstore_close(&ms);
	path = xasprintf("%s/mail/14/index.db", dir);
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "DROP TABLE fts; CREATE VIRTUAL TABLE fts"
	    " USING fts5(header, body, tokenize = 'trigram');"
	    " PRAGMA user_version = 3", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(path);
	ms = mailstore_open(dir, 14, &err);
	CHECK(ms != NULL);
	if (ms == NULL) {
		cleanup(dir);
		return;
	}
	CHECK_INT(fts_rows(dir, 14), 0);
	/* the first search indexes them again */
	CHECK_STR(cand(ms, "INBOX", "lighthouse", true), "2,");
	CHECK_INT(fts_rows(dir, 14), 2);
	CHECK_INT(deliver_text(ms, NULL, fts_msgs[1]), 3);
	CHECK_STR(cand(ms, "INBOX", "lighthouse", true), "2,3,");
	CHECK_STR(cand(ms, "INBOX", "zzzzz", true), "");
	CHECK_INT(fts_rows(dir, 14), 3);
	mailstore_close(&ms);
	cleanup(dir);
}

static double
ms_since(uint64_t t0)
{
	return (double)(monotonic_ms() - t0);
}

static void
count_cb(void *ctx, const struct mailstore_message *m)
{
	size_t *n = ctx;

	if (m->envelope != NULL)
		(*n)++;
}

struct uid_collect {
	uint32_t	*uids;
	size_t		 n;
	size_t		 first_unseen;
};

static void
uid_collect_cb(void *ctx, const struct mailstore_message *m)
{
	struct uid_collect *u = ctx;

	u->uids[u->n++] = m->uid;
	if (u->first_unseen == 0 && (m->flags & MAILSTORE_F_SEEN) == 0)
		u->first_unseen = u->n;
}

/* summary_matches - the summary of mailbox mb agrees with its listing */
static bool
summary_matches(struct mailstore *ms, const char *mb, size_t max)
{
	struct mailstore_summary sm;
	struct uid_collect u;
	const char *err = NULL;
	size_t i, k = 0;
	uint32_t uid;
	bool ok;

	memset(&u, 0, sizeof(u));
	u.uids = xcalloc(max + 1, sizeof(*u.uids));
	if (mailstore_message_list_range(ms, mb, 1, 0, 0, uid_collect_cb, &u,
	    &err) < 0 || mailstore_mailbox_summary(ms, mb, &sm, &err) != 1) {
		free(u.uids);
		return false;
	}
	ok = sm.n == u.n && sm.first_unseen == u.first_unseen;
	for (i = 0; ok && i < sm.nruns; i++)
		for (uid = sm.runs[i].lo; ok && uid <= sm.runs[i].hi; uid++)
			ok = k < u.n && u.uids[k++] == uid;
	mailstore_summary_free(&sm);
	free(u.uids);
	return ok && k == u.n;
}

/* 10,000 messages: the listing, STORE and COPY figures IMAP relies on */
static void
test_perf_10k(void)
{
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 9);
	struct mailstore_flag_change *c;
	uint32_t *uids, *nu;
	uint64_t t0;
	size_t i, n = 0, total = 10000;
	const char *err = NULL;
	double t_list, t_store, t_copy, t_state, t_fts, t_deliver, t_get;
	double t_sum1, t_sum2;
	static const char *const words[] = { "apple", "banana", "cherry",
	    "dragonfruit", "elderberry", "fig", "grape", "honeydew" };
	struct mailstore_delivery *d = xcalloc(total, sizeof(*d));
	char **texts = xcalloc(total, sizeof(*texts));
	struct span term;
	uint32_t *cands = NULL;
	size_t ncands = 0;
	bool narrowed = false;

	mailstore_set_packing(ms, true);
	for (i = 0; i < total; i++) {
		texts[i] = xasprintf("From: user%zu@example.org\r\nSubject: "
		    "message %zu about %s\r\n\r\nHello, this is message "
		    "%zu. It talks about %s and %s at some length, so that the "
		    "body has a few lines of ordinary text.\r\nRegards\r\n",
		    i % 50, i, words[i % 8], i, words[(i / 8) % 8],
		    i % 100 == 0 ? "zeppelin" : "weather");
		d[i].fd = -1;
		d[i].data = texts[i];
		d[i].size = strlen(texts[i]);
		d[i].envelope = "(NIL \"x\")";
		d[i].bodystructure = "(\"text\" \"plain\")";
		d[i].body = "(\"text\" \"plain\" b)";
	}
	t0 = monotonic_ms();
	for (i = 0; i < total; i += 256)
		CHECK_INT(mailstore_deliver(ms, d + i, total - i < 256 ?
		    total - i : 256, &err), 0);
	t_deliver = ms_since(t0);
	for (i = 0; i < total; i++)
		free(texts[i]);
	free(texts);
	free(d);
	/* warm: the first call prepares the statement */
	CHECK_INT(mailstore_message_list_range(ms, "INBOX", 1, 1,
	    MAILSTORE_LIST_CACHE, count_cb, &n, &err), 1);
	n = 0;
	t0 = monotonic_ms();
	CHECK_INT(mailstore_message_list_range(ms, "INBOX", 1, 0,
	    MAILSTORE_LIST_CACHE, count_cb, &n, &err), (int)total);
	t_list = ms_since(t0);
	CHECK_INT(n, total);
	c = xcalloc(total, sizeof(*c));
	for (i = 0; i < total; i++)
		c[i].uid = (uint32_t)i + 1;
	t0 = monotonic_ms();
	CHECK_INT(mailstore_store_flags(ms, "INBOX", c, total,
	    MAILSTORE_FLAGS_ADD, MAILSTORE_F_SEEN, NULL, 0, &err), 0);
	t_store = ms_since(t0);
	for (i = 0; i < total; i++)
		CHECK(c[i].status == 1);
	mailstore_flag_changes_free(c, total);
	free(c);
	t0 = monotonic_ms();
	for (i = 0; i < 1000; i++)
		CHECK(mailstore_mailbox_state(ms, "INBOX", NULL, NULL, NULL,
		    &err) == 1);
	t_state = ms_since(t0);
	t0 = monotonic_ms();
	{
		struct mailstore_mailbox mb;

		CHECK_INT(mailstore_mailbox_get(ms, "INBOX", &mb, &err), 1);
		CHECK_INT(mb.messages, total);
		CHECK_INT(mb.unseen, 0);
	}
	t_get = ms_since(t0);
	uids = xcalloc(total, sizeof(*uids));
	nu = xcalloc(total, sizeof(*nu));
	for (i = 0; i < total; i++)
		uids[i] = (uint32_t)i + 1;
	t0 = monotonic_ms();
	CHECK_INT(mailstore_copy_multi(ms, "INBOX", uids, total, "Trash",
	    false, nu, NULL, &err), 0);
	t_copy = ms_since(t0);
	CHECK_INT(nu[total - 1], total);
	free(uids);
	free(nu);
	term = span_make("Zeppelin", 8);
	t0 = monotonic_ms();
	CHECK_INT(mailstore_fts_candidates(ms, "INBOX", &term, NULL, 1,
	    &cands, &ncands, &narrowed, &err), 0);
	t_fts = ms_since(t0);
	CHECK(narrowed);
	CHECK_INT(ncands, total / 100);
	free(cands);
	/* the SELECT summary of a mailbox with scattered gaps: every 7th
	 * and a block expunged, 5001 unseen; built, then read back */
	c = xcalloc(total, sizeof(*c));
	for (i = n = 0; i < total; i++)
		if (i % 7 == 3 || (i >= 2000 && i < 2100))
			c[n++].uid = (uint32_t)i + 1;
	CHECK_INT(mailstore_store_flags(ms, "INBOX", c, n, MAILSTORE_FLAGS_ADD,
	    MAILSTORE_F_DELETED, NULL, 0, &err), 0);
	mailstore_flag_changes_free(c, n);
	c[0].uid = 5001;
	CHECK_INT(mailstore_store_flags(ms, "INBOX", c, 1,
	    MAILSTORE_FLAGS_REMOVE, MAILSTORE_F_SEEN, NULL, 0, &err), 0);
	mailstore_flag_changes_free(c, 1);
	free(c);
	{
		uint32_t *gone = NULL;
		size_t ngone = 0;

		CHECK_INT(mailstore_expunge(ms, "INBOX", NULL, 0, true, &gone,
		    &ngone, &err), 0);
		CHECK_INT(ngone, n);
		free(gone);
	}
	t0 = monotonic_ms();
	CHECK(summary_matches(ms, "INBOX", total));	/* built */
	t_sum1 = ms_since(t0);
	t0 = monotonic_ms();
	CHECK(summary_matches(ms, "INBOX", total));	/* read back */
	t_sum2 = ms_since(t0);
	CHECK(summary_matches(ms, "Trash", total));
	printf("perf, 10,000 messages: delivery in batches of"
	    " 256 %.0f ms, list with cache %.0f ms, STORE +FLAGS %.0f ms,"
	    " COPY %.0f ms, 1000 mailbox_state %.0f ms, FTS query %.0f ms,"
	    " mailbox_get %.1f ms, list + summary built %.0f ms, list +"
	    " summary read %.0f ms\n", t_deliver, t_list, t_store, t_copy,
	    t_state, t_fts, t_get, t_sum1, t_sum2);
	/* generous bounds: sanitizers and a shared machine */
	CHECK(t_list < 1000);
	CHECK(t_store < 5000);
	mailstore_close(&ms);
	cleanup(dir);
}

static const struct test_case cases[] = {
	TEST(test_list_range),
	TEST(test_state_and_since),
	TEST(test_expunge_log_prune),
	TEST(test_store_flags),
	TEST(test_copy_multi),
	TEST(test_usage_quota),
	TEST(test_change_hook),
	TEST(test_migrate_v2),
	TEST(test_append_fields),
	TEST(test_delivery_quota),
	TEST(test_fts),
	TEST(test_fts_superset),
	TEST(test_migrate_v3),
	TEST(test_perf_10k),
};

TEST_MAIN(cases)
