/*
 * mailstore_test.c - unit tests for the per-account mail store
 * (store/mailstore.h): default mailboxes and special-use, batch delivery
 * (bytes exact, UIDs increasing, dedupe, target mailboxes), mailbox
 * create/rename/delete, flags and MODSEQ, several accounts in one batch,
 * two handles delivering at once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lib/buf.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "store/mailstore.h"
#include "store/store_int.h"
#include "../../tests/lib/test.h"

static char *
tmpdir(void)
{
	char tmpl[] = "/tmp/postino-mailstore-XXXXXX";

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

struct mblist {
	char				 names[1024];
	struct mailstore_mailbox	 mb[32];
	char				 name[32][64];
	int				 n;
};

static void
collect_mb(void *ctx, const struct mailstore_mailbox *mb)
{
	struct mblist *l = ctx;
	size_t len = strlen(l->names);

	snprintf(l->names + len, sizeof(l->names) - len, "%s;", mb->name);
	if (l->n < 32) {
		l->mb[l->n] = *mb;
		snprintf(l->name[l->n], sizeof(l->name[0]), "%s", mb->name);
		l->mb[l->n].name = l->name[l->n];
		l->n++;
	}
}

static void
list_mb(struct mailstore *ms, struct mblist *l)
{
	const char *err;

	memset(l, 0, sizeof(*l));
	CHECK_INT(mailstore_mailbox_list(ms, collect_mb, l, &err), 0);
}

static const struct mailstore_mailbox *
find_mb(const struct mblist *l, const char *name)
{
	int i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->mb[i].name, name) == 0)
			return &l->mb[i];
	return NULL;
}

static void
test_default_mailboxes(void)
{
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 7);
	const struct mailstore_mailbox *m;
	struct mailstore_mailbox one;
	struct mblist l;
	const char *err;
	int i, j;

	list_mb(ms, &l);
	CHECK_STR(l.names, "INBOX;Drafts;Junk;Sent;Trash;");
	CHECK_INT(l.n, 5);
	m = find_mb(&l, "Sent");
	CHECK(m != NULL && m->special == MAILSTORE_SPECIAL_SENT);
	m = find_mb(&l, "Drafts");
	CHECK(m != NULL && m->special == MAILSTORE_SPECIAL_DRAFTS);
	m = find_mb(&l, "Junk");
	CHECK(m != NULL && m->special == MAILSTORE_SPECIAL_JUNK);
	m = find_mb(&l, "Trash");
	CHECK(m != NULL && m->special == MAILSTORE_SPECIAL_TRASH);
	m = find_mb(&l, "INBOX");
	CHECK(m != NULL && m->special == MAILSTORE_SPECIAL_NONE);
	CHECK_STR(mailstore_special_name(MAILSTORE_SPECIAL_JUNK), "\\Junk");
	CHECK(mailstore_special_name(MAILSTORE_SPECIAL_NONE) == NULL);
	for (i = 0; i < l.n; i++) {
		CHECK_INT(l.mb[i].uidnext, 1);
		CHECK_INT(l.mb[i].messages, 0);
		CHECK(l.mb[i].uidvalidity > 0);
		CHECK(l.mb[i].subscribed);
		/* UIDVALIDITY differs between mailboxes */
		for (j = 0; j < i; j++)
			CHECK(l.mb[i].uidvalidity != l.mb[j].uidvalidity);
	}
	CHECK_INT(mailstore_mailbox_get(ms, "inbox", &one, &err), 1);
	CHECK_STR(one.name, "INBOX");
	CHECK_INT(mailstore_mailbox_get(ms, "nope", &one, &err), 0);
	CHECK_INT(mailstore_user_id(ms), 7);
	mailstore_close(&ms);
	CHECK(ms == NULL);
	/* opening a store that does not exist fails cleanly */
	CHECK(mailstore_open(dir, 8, &err) == NULL);
	CHECK(mailstore_open(dir, 0, &err) == NULL);
	/* a leftover directory is replaced by a fresh store */
	ms = new_store(dir, 7);
	list_mb(ms, &l);
	CHECK_INT(l.n, 5);
	mailstore_close(&ms);
	CHECK_INT(mailstore_remove(dir, 7, &err), 0);
	CHECK(mailstore_open(dir, 7, &err) == NULL);
	cleanup(dir);
}

/* make_source - a spool-like file: junk, then the messages, then junk */
static int
make_source(const char *dir, const char *const *msgs, const size_t *lens,
    size_t n, uint64_t *offs)
{
	char *path = xasprintf("%s/source", dir);
	uint64_t off = 0;
	size_t i;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	free(path);
	CHECK(fd >= 0);
	CHECK_INT(write(fd, "ENVELOPE\n", 9), 9);
	off = 9;
	for (i = 0; i < n; i++) {
		offs[i] = off;
		CHECK_INT(write(fd, msgs[i], lens[i]), (long long)lens[i]);
		off += lens[i];
	}
	CHECK_INT(write(fd, "TRAILER", 7), 7);
	return fd;
}

static void
check_bytes(struct mailstore *ms, const char *mb, uint32_t uid,
    const char *want)
{
	struct buf b;
	const char *err;

	buf_init(&b, 1 << 24);
	CHECK_INT(mailstore_message_read(ms, mb, uid, &b, &err), 1);
	CHECK_MEM(b.data, b.len, want, strlen(want));
	buf_fini(&b);
}

struct msglist {
	int		n;
	uint32_t	uid[64];
	uint64_t	size[64];
	unsigned	flags[64];
	time_t		date[64];
	uint64_t	modseq[64];
	char		path[64][256];
};

static void
collect_msg(void *ctx, const struct mailstore_message *m)
{
	struct msglist *l = ctx;

	if (l->n >= 64)
		return;
	l->uid[l->n] = m->uid;
	l->size[l->n] = m->size;
	l->flags[l->n] = m->flags;
	l->date[l->n] = m->internal_date;
	l->modseq[l->n] = m->modseq;
	snprintf(l->path[l->n], sizeof(l->path[0]), "%s", m->path);
	l->n++;
}

static void
test_deliver_batch(void)
{
	static const char m3[] = "Subject: three\r\n\r\n\0binary\xff\r\n";
	static const char *const msgs[] = {
		"Subject: one\r\n\r\nbody one\r\n",
		"Subject: two\r\n\r\nbody two is longer\r\n",
		m3,
	};
	const size_t lens[] = { strlen(msgs[0]), strlen(msgs[1]),
	    sizeof(m3) - 1 };
	static const char prefix[] = "Return-Path: <s@remote.test>\r\n"
	    "Delivered-To: u@example.org\r\n";
	static const char mem[] = "Subject: four\r\n\r\nfrom memory\r\n";
	char *dir = tmpdir(), want[256];
	struct mailstore *ms = new_store(dir, 1);
	struct mailstore_delivery d[4];
	const struct mailstore_mailbox *inbox;
	uint64_t offs[3];
	struct msglist ml;
	struct mblist l;
	const char *err = NULL;
	uint64_t size = 0;
	int fd, i, mfd;
	struct stat st;
	off_t before;

	fd = make_source(dir, msgs, lens, 3, offs);
	before = lseek(fd, 0, SEEK_CUR);
	memset(d, 0, sizeof(d));
	for (i = 0; i < 3; i++) {
		d[i].fd = fd;
		d[i].offset = offs[i];
		d[i].size = strlen(msgs[i]);
		d[i].prefix = prefix;
		d[i].prefix_len = strlen(prefix);
	}
	d[2].size = lens[2];	/* contains a NUL: the caller's length */
	d[1].internal_date = 1000000000;
	d[1].flags = MAILSTORE_F_SEEN | MAILSTORE_F_FLAGGED;
	d[3].fd = -1;
	d[3].data = mem;
	d[3].size = strlen(mem);
	CHECK_INT(mailstore_deliver(ms, d, 4, &err), 0);
	list_mb(ms, &l);
	inbox = find_mb(&l, "INBOX");
	CHECK(inbox != NULL);
	if (inbox == NULL)
		return;
	for (i = 0; i < 4; i++) {
		CHECK_INT(d[i].status, 0);
		CHECK(!d[i].duplicate);
		CHECK_INT(d[i].uid, i + 1);
		CHECK_INT(d[i].uidvalidity, inbox->uidvalidity);
	}
	CHECK_INT(inbox->messages, 4);
	CHECK_INT(inbox->unseen, 3);
	CHECK_INT(inbox->uidnext, 5);
	CHECK_INT(inbox->highestmodseq, 5);
	/* bytes exact: prefix + the slice of the source */
	for (i = 0; i < 2; i++) {
		snprintf(want, sizeof(want), "%s%s", prefix, msgs[i]);
		check_bytes(ms, "INBOX", (uint32_t)i + 1, want);
	}
	{
		struct buf b;

		buf_init(&b, 4096);
		CHECK_INT(mailstore_message_read(ms, "INBOX", 3, &b, &err), 1);
		CHECK_INT(b.len, strlen(prefix) + lens[2]);
		CHECK_MEM(b.data + strlen(prefix), b.len - strlen(prefix),
		    m3, lens[2]);
		buf_fini(&b);
	}
	check_bytes(ms, "inbox", 4, mem);
	/* the source was not moved */
	CHECK_INT(lseek(fd, 0, SEEK_CUR), before);
	/* listing */
	memset(&ml, 0, sizeof(ml));
	CHECK_INT(mailstore_message_list(ms, "INBOX", collect_msg, &ml, &err),
	    4);
	CHECK_INT(ml.uid[0], 1);
	CHECK_INT(ml.uid[3], 4);
	CHECK_INT(ml.size[0], strlen(prefix) + strlen(msgs[0]));
	CHECK_INT(ml.size[3], strlen(mem));
	CHECK_INT(ml.flags[1], MAILSTORE_F_SEEN | MAILSTORE_F_FLAGGED);
	CHECK_INT(ml.flags[0], 0);
	CHECK_INT(ml.date[1], 1000000000);
	CHECK(ml.date[0] > 1000000000);
	CHECK(ml.modseq[0] < ml.modseq[1] && ml.modseq[2] < ml.modseq[3]);
	CHECK_INT(stat(ml.path[0], &st), 0);
	CHECK_INT(st.st_size, (long long)ml.size[0]);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK(strstr(ml.path[0], "/mail/1/msg/") != NULL);
	/* open */
	mfd = mailstore_message_open(ms, "INBOX", 2, &size, &err);
	CHECK(mfd >= 0);
	CHECK_INT(size, strlen(prefix) + strlen(msgs[1]));
	if (mfd >= 0)
		close(mfd);
	CHECK_INT(mailstore_message_open(ms, "INBOX", 99, &size, &err), -1);
	CHECK_INT(errno, ENOENT);
	{
		struct buf b;

		buf_init(&b, 16);
		CHECK_INT(mailstore_message_read(ms, "INBOX", 99, &b, &err), 0);
		CHECK_INT(mailstore_message_read(ms, "INBOX", 1, &b, &err), -1);
		buf_fini(&b);
	}
	CHECK_INT(mailstore_message_list(ms, "Nope", collect_msg, &ml, &err),
	    -1);
	/* UIDs keep growing after a reopen */
	mailstore_close(&ms);
	ms = mailstore_open(dir, 1, &err);
	CHECK(ms != NULL);
	memset(d, 0, sizeof(d));
	d[0].fd = -1;
	d[0].data = mem;
	d[0].size = strlen(mem);
	CHECK_INT(mailstore_deliver(ms, d, 1, &err), 0);
	CHECK_INT(d[0].uid, 5);
	close(fd);
	mailstore_close(&ms);
	cleanup(dir);
}

static void
test_bad_source(void)
{
	static const char *const msgs[] = { "Subject: a\r\n\r\nA\r\n" };
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 1);
	struct mailstore_delivery d[3];
	uint64_t off;
	const char *err = NULL;
	size_t len = strlen(msgs[0]);
	int fd = make_source(dir, msgs, &len, 1, &off);

	memset(d, 0, sizeof(d));
	d[0].fd = fd;			/* fine */
	d[0].offset = off;
	d[0].size = strlen(msgs[0]);
	d[1].fd = fd;			/* runs past the end of the file */
	d[1].offset = off;
	d[1].size = 100000;
	d[2].fd = -1;			/* no data at all */
	d[2].size = 10;
	CHECK_INT(mailstore_deliver(ms, d, 3, &err), 0);
	CHECK_INT(d[0].status, 0);
	CHECK_INT(d[0].uid, 1);
	CHECK_INT(d[1].status, -1);
	CHECK(d[1].error != NULL);
	CHECK_INT(d[2].status, -1);
	/* only failures: -1 */
	CHECK_INT(mailstore_deliver(ms, &d[1], 2, &err), -1);
	close(fd);
	mailstore_close(&ms);
	cleanup(dir);
}

static void
test_dedupe(void)
{
	static const char mem[] = "Subject: x\r\n\r\nx\r\n";
	char *dir = tmpdir(), *path;
	struct mailstore *ms = new_store(dir, 3);
	struct mailstore_delivery d[3];
	struct mailstore_mailbox mb;
	const char *err = NULL;
	sqlite3 *db;
	int i;

	memset(d, 0, sizeof(d));
	for (i = 0; i < 3; i++) {
		d[i].fd = -1;
		d[i].data = mem;
		d[i].size = strlen(mem);
	}
	d[0].dedupe_key = "q1 a@example.org";
	d[1].dedupe_key = "q1 b@example.org";
	d[2].dedupe_key = "q1 a@example.org";	/* same key in one batch */
	CHECK_INT(mailstore_deliver(ms, d, 3, &err), 0);
	CHECK_INT(d[0].status, 0);
	CHECK_INT(d[0].uid, 1);
	CHECK_INT(d[1].uid, 2);
	CHECK_INT(d[2].status, 0);
	CHECK(d[2].duplicate);
	CHECK_INT(d[2].uid, 0);
	/* the whole batch again (a crash before the queue noted it) */
	CHECK_INT(mailstore_deliver(ms, d, 3, &err), 0);
	for (i = 0; i < 3; i++) {
		CHECK_INT(d[i].status, 0);
		CHECK(d[i].duplicate);
	}
	/* another handle sees the keys too */
	mailstore_close(&ms);
	ms = mailstore_open(dir, 3, &err);
	CHECK_INT(mailstore_deliver(ms, d, 1, &err), 0);
	CHECK(d[0].duplicate);
	CHECK_INT(mailstore_mailbox_get(ms, "INBOX", &mb, &err), 1);
	CHECK_INT(mb.messages, 2);
	/* no key: always stored */
	d[0].dedupe_key = NULL;
	CHECK_INT(mailstore_deliver(ms, d, 1, &err), 0);
	CHECK(!d[0].duplicate);
	CHECK_INT(d[0].uid, 3);
	/* pruning: nothing is old yet; age the keys, then they go */
	CHECK_INT(mailstore_prune_dedupe(ms, MAILSTORE_DEDUPE_MAX_AGE, &err),
	    0);
	path = xasprintf("%s/mail/3/index.db", dir);
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	CHECK_INT(sqlite3_exec(db, "UPDATE dedupe SET time = time - 8 * 86400"
	    " WHERE key = 'q1 a@example.org'", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(path);
	CHECK_INT(mailstore_prune_dedupe(ms, MAILSTORE_DEDUPE_MAX_AGE, &err),
	    1);
	d[0].dedupe_key = "q1 a@example.org";
	d[1].dedupe_key = "q1 b@example.org";
	CHECK_INT(mailstore_deliver(ms, d, 2, &err), 0);
	CHECK(!d[0].duplicate);
	CHECK_INT(d[0].uid, 4);
	CHECK(d[1].duplicate);
	mailstore_close(&ms);
	cleanup(dir);
}

static void
test_targets(void)
{
	static const char mem[] = "Subject: x\r\n\r\nx\r\n";
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 4);
	struct mailstore_delivery d[5];
	struct mblist l;
	const char *err = NULL;
	int i;

	memset(d, 0, sizeof(d));
	for (i = 0; i < 5; i++) {
		d[i].fd = -1;
		d[i].data = mem;
		d[i].size = strlen(mem);
	}
	d[0].special = MAILSTORE_SPECIAL_JUNK;	/* spam: by special-use */
	d[1].mailbox = "Sent";
	d[2].mailbox = "inbox";
	d[3].mailbox = "No Such Folder";	/* falls back to INBOX */
	d[4].special = MAILSTORE_SPECIAL_ARCHIVE;	/* none: INBOX */
	CHECK_INT(mailstore_deliver(ms, d, 5, &err), 0);
	for (i = 0; i < 5; i++)
		CHECK_INT(d[i].status, 0);
	list_mb(ms, &l);
	CHECK_INT(find_mb(&l, "Junk")->messages, 1);
	CHECK_INT(find_mb(&l, "Sent")->messages, 1);
	CHECK_INT(find_mb(&l, "INBOX")->messages, 3);
	CHECK_INT(find_mb(&l, "Trash")->messages, 0);
	/* UIDs are per mailbox */
	CHECK_INT(d[0].uid, 1);
	CHECK_INT(d[1].uid, 1);
	CHECK_INT(d[2].uid, 1);
	CHECK_INT(d[3].uid, 2);
	CHECK_INT(d[4].uid, 3);
	CHECK_INT(d[0].uidvalidity, find_mb(&l, "Junk")->uidvalidity);
	mailstore_close(&ms);
	cleanup(dir);
}

static void
test_mailbox_ops(void)
{
	static const char mem[] = "Subject: x\r\n\r\nx\r\n";
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 5);
	struct mailstore_delivery d;
	struct mailstore_mailbox mb;
	struct msglist ml;
	struct mblist l;
	const char *err = NULL;
	uint32_t old_uidv;
	struct stat st;

	CHECK_INT(mailstore_mailbox_create(ms, "Work", MAILSTORE_SPECIAL_NONE,
	    &err), 0);
	CHECK_INT(mailstore_mailbox_create(ms, "Work/Projects",
	    MAILSTORE_SPECIAL_NONE, &err), 0);
	CHECK_INT(mailstore_mailbox_create(ms, "Archive",
	    MAILSTORE_SPECIAL_ARCHIVE, &err), 0);
	CHECK_INT(mailstore_mailbox_create(ms, "Work", MAILSTORE_SPECIAL_NONE,
	    &err), -1);
	CHECK(strstr(err, "exists") != NULL);
	CHECK_INT(mailstore_mailbox_create(ms, "INBOX",
	    MAILSTORE_SPECIAL_NONE, &err), -1);
	CHECK_INT(mailstore_mailbox_create(ms, "inbox",
	    MAILSTORE_SPECIAL_NONE, &err), -1);
	/* invalid names */
	CHECK_INT(mailstore_mailbox_create(ms, "", 0, &err), -1);
	CHECK_INT(mailstore_mailbox_create(ms, "/a", 0, &err), -1);
	CHECK_INT(mailstore_mailbox_create(ms, "a/", 0, &err), -1);
	CHECK_INT(mailstore_mailbox_create(ms, "a//b", 0, &err), -1);
	CHECK_INT(mailstore_mailbox_create(ms, "a*", 0, &err), -1);
	CHECK_INT(mailstore_mailbox_create(ms, "a%", 0, &err), -1);
	CHECK_INT(mailstore_mailbox_create(ms, "a\tb", 0, &err), -1);
	CHECK_INT(mailstore_mailbox_create(ms, "bad\xc3(", 0, &err), -1);
	CHECK_INT(mailstore_mailbox_create(ms, "\xc0\xaf", 0, &err), -1);
	/* UTF-8 is fine */
	CHECK_INT(mailstore_mailbox_create(ms, "\xc3\x89t\xc3\xa9", 0, &err),
	    0);
	{
		char name[STORE_MAX_MAILBOX_NAME + 2];

		memset(name, 'n', sizeof(name));
		name[STORE_MAX_MAILBOX_NAME] = '\0';	/* limit: ok */
		CHECK_INT(mailstore_mailbox_create(ms, name, 0, &err), 0);
		name[STORE_MAX_MAILBOX_NAME - 1] = '\0';	/* limit - 1 */
		CHECK_INT(mailstore_mailbox_create(ms, name, 0, &err), 0);
		memset(name, 'm', sizeof(name));
		name[STORE_MAX_MAILBOX_NAME + 1] = '\0';	/* limit + 1 */
		CHECK_INT(mailstore_mailbox_create(ms, name, 0, &err), -1);
	}
	/* a message in Work/Projects, delivered by name */
	memset(&d, 0, sizeof(d));
	d.fd = -1;
	d.data = mem;
	d.size = strlen(mem);
	d.mailbox = "Work/Projects";
	CHECK_INT(mailstore_deliver(ms, &d, 1, &err), 0);
	CHECK_INT(d.uid, 1);
	CHECK_INT(mailstore_mailbox_get(ms, "Work/Projects", &mb, &err), 1);
	old_uidv = mb.uidvalidity;
	CHECK_INT(mb.messages, 1);
	/* rename moves the children along and keeps the messages */
	CHECK_INT(mailstore_mailbox_rename(ms, "Work", "Job", &err), 0);
	list_mb(ms, &l);
	CHECK(find_mb(&l, "Job") != NULL);
	CHECK(find_mb(&l, "Job/Projects") != NULL);
	CHECK(find_mb(&l, "Work") == NULL);
	CHECK(find_mb(&l, "Work/Projects") == NULL);
	CHECK_INT(find_mb(&l, "Job/Projects")->messages, 1);
	CHECK_INT(find_mb(&l, "Job/Projects")->uidvalidity, old_uidv);
	CHECK_INT(mailstore_mailbox_rename(ms, "Job", "Job/Sub", &err), -1);
	CHECK_INT(mailstore_mailbox_rename(ms, "Job", "Sent", &err), -1);
	CHECK_INT(mailstore_mailbox_rename(ms, "Nope", "Other", &err), -1);
	CHECK_INT(mailstore_mailbox_rename(ms, "Job", "inbox", &err), -1);
	/* a name that only shares a prefix is not a child */
	CHECK_INT(mailstore_mailbox_create(ms, "Jobs", 0, &err), 0);
	CHECK_INT(mailstore_mailbox_rename(ms, "Job", "Work", &err), 0);
	list_mb(ms, &l);
	CHECK(find_mb(&l, "Jobs") != NULL);
	CHECK(find_mb(&l, "Work/Projects") != NULL);
	/* subscription */
	CHECK_INT(mailstore_mailbox_subscribe(ms, "Work", false, &err), 0);
	CHECK_INT(mailstore_mailbox_get(ms, "Work", &mb, &err), 1);
	CHECK(!mb.subscribed);
	CHECK_INT(mailstore_mailbox_subscribe(ms, "Nope", true, &err), -1);
	/* delete: messages and their files go; children stay */
	memset(&ml, 0, sizeof(ml));
	CHECK_INT(mailstore_message_list(ms, "Work/Projects", collect_msg, &ml,
	    &err), 1);
	CHECK_INT(stat(ml.path[0], &st), 0);
	CHECK_INT(mailstore_mailbox_delete(ms, "Work/Projects", &err), 0);
	CHECK_INT(stat(ml.path[0], &st), -1);
	CHECK_INT(mailstore_mailbox_get(ms, "Work/Projects", &mb, &err), 0);
	CHECK_INT(mailstore_mailbox_get(ms, "Work", &mb, &err), 1);
	CHECK_INT(mailstore_mailbox_delete(ms, "Work/Projects", &err), -1);
	CHECK_INT(mailstore_mailbox_delete(ms, "INBOX", &err), -1);
	CHECK_INT(mailstore_mailbox_delete(ms, "Inbox", &err), -1);
	/* a recreated mailbox gets a new UIDVALIDITY */
	CHECK_INT(mailstore_mailbox_create(ms, "Work/Projects", 0, &err), 0);
	CHECK_INT(mailstore_mailbox_get(ms, "Work/Projects", &mb, &err), 1);
	CHECK(mb.uidvalidity != old_uidv);
	CHECK_INT(mb.uidnext, 1);
	mailstore_close(&ms);
	cleanup(dir);
}

static void
test_flags(void)
{
	static const char mem[] = "Subject: x\r\n\r\nx\r\n";
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 6);
	struct mailstore_delivery d[2];
	struct mailstore_mailbox mb;
	struct msglist ml;
	const char *err = NULL;
	uint64_t hms;

	memset(d, 0, sizeof(d));
	d[0].fd = d[1].fd = -1;
	d[0].data = d[1].data = mem;
	d[0].size = d[1].size = strlen(mem);
	CHECK_INT(mailstore_deliver(ms, d, 2, &err), 0);
	CHECK_INT(mailstore_mailbox_get(ms, "INBOX", &mb, &err), 1);
	CHECK_INT(mb.unseen, 2);
	hms = mb.highestmodseq;
	CHECK_INT(mailstore_message_set_flags(ms, "INBOX", 1,
	    MAILSTORE_F_SEEN | MAILSTORE_F_ANSWERED, 0, &err), 1);
	CHECK_INT(mailstore_message_set_flags(ms, "INBOX", 1,
	    MAILSTORE_F_SEEN, 0, &err), 0);	/* no change */
	CHECK_INT(mailstore_message_set_flags(ms, "INBOX", 9,
	    MAILSTORE_F_SEEN, 0, &err), 0);	/* no such message */
	CHECK_INT(mailstore_message_set_flags(ms, "Nope", 1,
	    MAILSTORE_F_SEEN, 0, &err), 0);
	CHECK_INT(mailstore_mailbox_get(ms, "INBOX", &mb, &err), 1);
	CHECK_INT(mb.unseen, 1);
	CHECK_INT(mb.highestmodseq, hms + 1);
	CHECK_INT(mailstore_message_set_flags(ms, "INBOX", 1,
	    MAILSTORE_F_DELETED, MAILSTORE_F_ANSWERED, &err), 1);
	memset(&ml, 0, sizeof(ml));
	CHECK_INT(mailstore_message_list(ms, "INBOX", collect_msg, &ml, &err),
	    2);
	CHECK_INT(ml.flags[0], MAILSTORE_F_SEEN | MAILSTORE_F_DELETED);
	CHECK_INT(ml.modseq[0], hms + 2);
	CHECK(ml.modseq[1] < ml.modseq[0]);
	CHECK_INT(mailstore_mailbox_get(ms, "INBOX", &mb, &err), 1);
	CHECK_INT(mb.highestmodseq, hms + 2);
	mailstore_close(&ms);
	cleanup(dir);
}

static void
test_multi_and_large(void)
{
	char *dir = tmpdir(), *big, *path;
	struct mailstore *a = new_store(dir, 10), *b = new_store(dir, 11);
	struct mailstore_delivery da[2], db[1];
	struct mailstore_batch batch[2];
	struct buf out;
	const char *err = NULL;
	size_t bigsize = 3 * 1024 * 1024 + 17, i;
	int fd;

	big = xmalloc(bigsize);
	for (i = 0; i < bigsize; i++)
		big[i] = (char)('a' + i % 26);
	path = xasprintf("%s/big", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_INT(write(fd, "HEAD", 4), 4);
	CHECK_INT(write(fd, big, bigsize), (long long)bigsize);
	memset(da, 0, sizeof(da));
	memset(db, 0, sizeof(db));
	da[0].fd = fd;
	da[0].offset = 4;
	da[0].size = bigsize;
	da[0].dedupe_key = "q2 x@example.org";
	da[1].fd = -1;
	da[1].data = "small\r\n";
	da[1].size = 7;
	db[0].fd = fd;
	db[0].offset = 4;
	db[0].size = bigsize;
	db[0].prefix = "X: y\r\n";
	db[0].prefix_len = 6;
	/* the same dedupe key in another account is another delivery */
	db[0].dedupe_key = "q2 x@example.org";
	batch[0] = (struct mailstore_batch){ a, da, 2 };
	batch[1] = (struct mailstore_batch){ b, db, 1 };
	CHECK_INT(mailstore_deliver_multi(batch, 2, &err), 0);
	CHECK_INT(da[0].status, 0);
	CHECK_INT(da[1].status, 0);
	CHECK_INT(db[0].status, 0);
	CHECK(!db[0].duplicate);
	CHECK_INT(da[1].uid, 2);
	CHECK_INT(db[0].uid, 1);
	buf_init(&out, 8 * 1024 * 1024);
	CHECK_INT(mailstore_message_read(a, "INBOX", 1, &out, &err), 1);
	CHECK_INT(out.len, bigsize);
	CHECK(out.len == bigsize && memcmp(out.data, big, bigsize) == 0);
	buf_reset(&out);
	CHECK_INT(mailstore_message_read(b, "INBOX", 1, &out, &err), 1);
	CHECK_INT(out.len, bigsize + 6);
	CHECK(out.len == bigsize + 6 && memcmp(out.data, "X: y\r\n", 6) == 0 &&
	    memcmp(out.data + 6, big, bigsize) == 0);
	buf_fini(&out);
	/* batch size: the limit is accepted (packed: one file), one more
	 * is refused as a whole */
	{
		size_t n = STORE_MAX_DELIVERY_BATCH + 1;
		struct mailstore_delivery *many = xcalloc(n, sizeof(*many));
		struct mailstore_mailbox mb;

		for (i = 0; i < n; i++) {
			many[i].fd = -1;
			many[i].data = "x";
			many[i].size = 1;
		}
		CHECK_INT(mailstore_deliver(a, many, n, &err), -1);
		CHECK_INT(many[0].status, -1);
		CHECK_INT(many[n - 1].status, -1);
		mailstore_set_packing(a, true);
		CHECK_INT(mailstore_deliver(a, many, n - 1, &err), 0);
		CHECK_INT(many[n - 2].status, 0);
		CHECK_INT(many[n - 2].uid, STORE_MAX_DELIVERY_BATCH + 2);
		CHECK_INT(mailstore_mailbox_get(a, "INBOX", &mb, &err), 1);
		CHECK_INT(mb.messages, STORE_MAX_DELIVERY_BATCH + 2);
		free(many);
	}
	close(fd);
	free(path);
	free(big);
	mailstore_close(&a);
	mailstore_close(&b);
	cleanup(dir);
}

/* ---- two handles delivering to one account at once ---- */

#define NTHREAD_BATCHES	15
#define NPER_BATCH	8

struct deliverer {
	const char	*dir;
	int		 tag;
	int		 errors;
	uint32_t	 uids[NTHREAD_BATCHES * NPER_BATCH];
};

static void *
deliverer_main(void *arg)
{
	struct deliverer *w = arg;
	struct mailstore_delivery d[NPER_BATCH];
	char keys[NPER_BATCH][64];
	const char *err;
	struct mailstore *ms = mailstore_open(w->dir, 20, &err);
	int b, i;

	if (ms == NULL) {
		w->errors++;
		return NULL;
	}
	mailstore_set_packing(ms, w->tag == 1);	/* one of each */
	for (b = 0; b < NTHREAD_BATCHES; b++) {
		memset(d, 0, sizeof(d));
		for (i = 0; i < NPER_BATCH; i++) {
			snprintf(keys[i], sizeof(keys[i]), "t%d b%d m%d",
			    w->tag, b, i);
			d[i].fd = -1;
			d[i].data = keys[i];
			d[i].size = strlen(keys[i]);
			d[i].dedupe_key = keys[i];
		}
		if (mailstore_deliver(ms, d, NPER_BATCH, &err) < 0) {
			fprintf(stderr, "deliver: %s\n", err);
			w->errors++;
			continue;
		}
		for (i = 0; i < NPER_BATCH; i++) {
			if (d[i].status != 0 || d[i].duplicate)
				w->errors++;
			w->uids[b * NPER_BATCH + i] = d[i].uid;
		}
	}
	mailstore_close(&ms);
	return NULL;
}

static void
test_two_handles(void)
{
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 20);
	struct deliverer w[2];
	struct mailstore_mailbox mb;
	static uint8_t seen[2 * NTHREAD_BATCHES * NPER_BATCH + 1];
	pthread_t t[2];
	const char *err;
	int i, j, bad = 0, n = NTHREAD_BATCHES * NPER_BATCH;

	memset(w, 0, sizeof(w));
	for (i = 0; i < 2; i++) {
		w[i].dir = dir;
		w[i].tag = i;
		CHECK_INT(pthread_create(&t[i], NULL, deliverer_main, &w[i]),
		    0);
	}
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CHECK_INT(w[0].errors + w[1].errors, 0);
	/* every UID given once, 1..2n; each thread's UIDs increase */
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < 2; i++) {
		for (j = 0; j < n; j++) {
			uint32_t u = w[i].uids[j];

			if (u < 1 || u > (uint32_t)(2 * n) || seen[u]++)
				bad++;
			if (j > 0 && u <= w[i].uids[j - 1])
				bad++;
		}
	}
	CHECK_INT(bad, 0);
	CHECK_INT(mailstore_mailbox_get(ms, "INBOX", &mb, &err), 1);
	CHECK_INT(mb.messages, 2 * n);
	CHECK_INT(mb.uidnext, 2 * n + 1);
	/* and each message holds its own bytes */
	check_bytes(ms, "INBOX", w[1].uids[5], "t1 b0 m5");
	check_bytes(ms, "INBOX", w[0].uids[n - 1], "t0 b14 m7");
	mailstore_close(&ms);
	cleanup(dir);
}

static void
test_cache(void)
{
	static const char mem[] = "Subject: x\r\n\r\nx\r\n";
	char *dir = tmpdir(), *e, *bs, *b;
	struct mailstore *ms = new_store(dir, 9);
	struct mailstore_delivery d[2];
	const char *err = NULL;

	memset(d, 0, sizeof(d));
	d[0].fd = d[1].fd = -1;
	d[0].data = d[1].data = mem;
	d[0].size = d[1].size = strlen(mem);
	d[0].envelope = "(NIL \"x\" NIL)";
	d[0].bodystructure = "(\"text\" \"plain\")";
	CHECK_INT(mailstore_deliver(ms, d, 2, &err), 0);
	CHECK_INT(mailstore_message_cache_get(ms, "INBOX", 1, &e, &bs, &b,
	    &err), 1);
	CHECK_STR(e, "(NIL \"x\" NIL)");
	CHECK_STR(bs, "(\"text\" \"plain\")");
	CHECK(b == NULL);
	free(e);
	free(bs);
	free(b);
	/* the second row did not inherit the first one's bindings */
	CHECK_INT(mailstore_message_cache_get(ms, "INBOX", 2, &e, &bs, &b,
	    &err), 1);
	CHECK(e == NULL && bs == NULL && b == NULL);
	CHECK_INT(mailstore_message_cache_set(ms, "INBOX", 2, "E", NULL, "B",
	    &err), 1);
	CHECK_INT(mailstore_message_cache_set(ms, "INBOX", 2, NULL, "S", NULL,
	    &err), 1);
	CHECK_INT(mailstore_message_cache_get(ms, "INBOX", 2, &e, &bs, &b,
	    &err), 1);
	CHECK_STR(e, "E");
	CHECK_STR(bs, "S");
	CHECK_STR(b, "B");
	free(e);
	free(bs);
	free(b);
	CHECK_INT(mailstore_message_cache_set(ms, "INBOX", 3, "E", NULL, NULL,
	    &err), 0);
	CHECK_INT(mailstore_message_cache_get(ms, "Junk", 1, &e, &bs, &b,
	    &err), 0);
	mailstore_close(&ms);
	cleanup(dir);
}

static void
deliver_n(struct mailstore *ms, const char *mailbox, int n)
{
	static const char mem[] = "Subject: x\r\n\r\nx\r\n";
	struct mailstore_delivery d[16];
	const char *err = NULL;
	int i;

	memset(d, 0, sizeof(d));
	for (i = 0; i < n && i < 16; i++) {
		d[i].fd = -1;
		d[i].data = mem;
		d[i].size = strlen(mem);
		d[i].mailbox = mailbox;
	}
	CHECK_INT(mailstore_deliver(ms, d, (size_t)i, &err), 0);
}

static void
test_rename_inbox(void)
{
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 12);
	struct mailstore_mailbox in, old, child;
	const char *err = NULL;

	deliver_n(ms, NULL, 3);
	CHECK_INT(mailstore_mailbox_create(ms, "INBOX/Child", 0, &err), 0);
	deliver_n(ms, "INBOX/Child", 1);
	CHECK_INT(mailstore_mailbox_get(ms, "INBOX", &in, &err), 1);
	CHECK_INT(mailstore_mailbox_rename(ms, "inbox", "Old Mail", &err), 0);
	CHECK_INT(mailstore_mailbox_get(ms, "Old Mail", &old, &err), 1);
	CHECK_INT(old.messages, 3);
	CHECK_INT(old.uidnext, 4);
	CHECK(old.uidvalidity != in.uidvalidity);
	check_bytes(ms, "Old Mail", 3, "Subject: x\r\n\r\nx\r\n");
	CHECK_INT(mailstore_mailbox_get(ms, "INBOX", &child, &err), 1);
	CHECK_INT(child.messages, 0);
	CHECK_INT(child.uidvalidity, in.uidvalidity);
	CHECK(child.highestmodseq > in.highestmodseq);
	/* INBOX keeps counting: its UIDs are never reused */
	deliver_n(ms, NULL, 1);
	CHECK_INT(mailstore_mailbox_get(ms, "INBOX", &in, &err), 1);
	CHECK_INT(in.uidnext, 5);
	/* children of INBOX stay */
	CHECK_INT(mailstore_mailbox_get(ms, "INBOX/Child", &child, &err), 1);
	CHECK_INT(child.messages, 1);
	CHECK_INT(mailstore_mailbox_rename(ms, "INBOX", "Old Mail", &err), -1);
	CHECK_INT(mailstore_mailbox_rename(ms, "INBOX", "INBOX/x", &err), -1);
	mailstore_close(&ms);
	cleanup(dir);
}

static void
test_expunge_sweep(void)
{
	char *dir = tmpdir(), *orphan;
	struct mailstore *ms = new_store(dir, 13);
	struct mailstore_mailbox mb;
	struct msglist ml;
	const char *err = NULL;
	uint32_t *gone = NULL, pick[3] = { 2, 5, 99 };
	uint64_t hms;
	size_t ngone = 0;
	struct stat st;
	int fd;

	deliver_n(ms, NULL, 6);
	memset(&ml, 0, sizeof(ml));
	CHECK_INT(mailstore_message_list(ms, "INBOX", collect_msg, &ml, &err),
	    6);
	CHECK_INT(mailstore_message_set_flags(ms, "INBOX", 4,
	    MAILSTORE_F_DELETED, 0, &err), 1);
	CHECK_INT(mailstore_message_set_flags(ms, "INBOX", 2,
	    MAILSTORE_F_DELETED, 0, &err), 1);
	CHECK_INT(mailstore_mailbox_get(ms, "INBOX", &mb, &err), 1);
	hms = mb.highestmodseq;
	/* EXPUNGE: only \Deleted */
	CHECK_INT(mailstore_expunge(ms, "INBOX", NULL, 0, true, &gone, &ngone,
	    &err), 0);
	CHECK_INT(ngone, 2);
	if (ngone == 2) {
		CHECK_INT(gone[0], 2);
		CHECK_INT(gone[1], 4);
	}
	free(gone);
	CHECK_INT(stat(ml.path[1], &st), -1);	/* uid 2's file is gone */
	CHECK_INT(stat(ml.path[3], &st), -1);
	CHECK_INT(stat(ml.path[0], &st), 0);
	CHECK_INT(mailstore_mailbox_get(ms, "INBOX", &mb, &err), 1);
	CHECK_INT(mb.messages, 4);
	CHECK_INT(mb.highestmodseq, hms + 1);
	/* nothing more to expunge: no change */
	CHECK_INT(mailstore_expunge(ms, "INBOX", NULL, 0, true, NULL, &ngone,
	    &err), 0);
	CHECK_INT(ngone, 0);
	/* by UID, whatever the flags (2 and 99 do not exist) */
	CHECK_INT(mailstore_expunge(ms, "INBOX", pick, 3, false, &gone,
	    &ngone, &err), 0);
	CHECK_INT(ngone, 1);
	if (ngone == 1)
		CHECK_INT(gone[0], 5);
	free(gone);
	CHECK_INT(mailstore_expunge(ms, "Nope", NULL, 0, false, NULL, &ngone,
	    &err), -1);
	/* sweep: an old unreferenced file goes; young ones and referenced
	 * ones stay */
	orphan = xasprintf("%s/mail/13/msg/0123456789abcdef01234567", dir);
	fd = open(orphan, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK_INT(mailstore_sweep(ms, 3600, &err), 0);
	CHECK_INT(stat(orphan, &st), 0);
	CHECK_INT(mailstore_sweep(ms, 0, &err), 1);
	CHECK_INT(stat(orphan, &st), -1);
	CHECK_INT(stat(ml.path[0], &st), 0);
	CHECK_INT(mailstore_mailbox_get(ms, "INBOX", &mb, &err), 1);
	CHECK_INT(mb.messages, 3);
	free(orphan);
	mailstore_close(&ms);
	cleanup(dir);
}

/* ---- crash safety: kill -9 a delivering child at random points ---- */

#define CRASH_ROUNDS	6
#define CRASH_BATCH	4

static void
crash_child(const char *dir, int round, int wfd)
{
	struct mailstore_delivery d[CRASH_BATCH];
	char keys[CRASH_BATCH][32];
	const char *err;
	struct mailstore *ms = mailstore_open(dir, 30, &err);
	int n = 0, i;

	if (ms == NULL)
		_exit(2);
	mailstore_set_packing(ms, round % 2 == 1);
	for (;;) {
		memset(d, 0, sizeof(d));
		for (i = 0; i < CRASH_BATCH; i++) {
			snprintf(keys[i], sizeof(keys[i]), "k%d-%d", round,
			    n + i);
			d[i].fd = -1;
			d[i].data = keys[i];
			d[i].size = strlen(keys[i]);
			d[i].dedupe_key = keys[i];
		}
		if (mailstore_deliver(ms, d, CRASH_BATCH, &err) < 0)
			_exit(3);
		/* report only what the store acknowledged */
		for (i = 0; i < CRASH_BATCH; i++) {
			int v = n + i;

			if (d[i].status == 0 && write(wfd, &v, sizeof(v)) !=
			    sizeof(v))
				_exit(4);
		}
		n += CRASH_BATCH;
	}
}

struct seen {
	char	**bytes;
	int	  n;
};

static void
collect_bytes(void *ctx, const struct mailstore_message *m)
{
	struct seen *sn = ctx;
	char tmp[64] = "";
	int fd = open(m->path, O_RDONLY);

	/* (path, offset, size): files may be packs */
	CHECK(fd >= 0 && m->size < sizeof(tmp));
	if (fd >= 0 && m->size < sizeof(tmp))
		CHECK_INT(pread(fd, tmp, m->size, (off_t)m->offset),
		    (long long)m->size);
	if (fd >= 0)
		close(fd);
	sn->bytes = xreallocarray(sn->bytes, (size_t)sn->n + 1,
	    sizeof(*sn->bytes));
	sn->bytes[sn->n++] = xstrdup(tmp);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_crash_kill(void)
{
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 30);
	struct seen sn = { NULL, 0 };
	const char *err = NULL;
	int round, i, total_acked = 0, missing = 0, dups = 0;

	mailstore_close(&ms);
	srand(12345);
	for (round = 0; round < CRASH_ROUNDS; round++) {
		int p[2], status, v, acked[4096], nacked = 0;
		pid_t pid;

		CHECK_INT(pipe(p), 0);
		pid = fork();
		if (pid == 0) {
			close(p[0]);
			crash_child(dir, round, p[1]);
		}
		close(p[1]);
		usleep((useconds_t)(5000 + rand() % 60000));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		CHECK(WIFSIGNALED(status));	/* it was still delivering */
		while (read(p[0], &v, sizeof(v)) == sizeof(v) &&
		    nacked < 4096)
			acked[nacked++] = v;
		close(p[0]);
		total_acked += nacked;
		/* every acknowledged delivery is there; a redelivery of
		 * the same keys stores nothing new */
		ms = mailstore_open(dir, 30, &err);
		CHECK(ms != NULL);
		if (ms == NULL)
			break;
		for (i = 0; i < nacked; i++) {
			struct mailstore_delivery d;
			char key[32];

			snprintf(key, sizeof(key), "k%d-%d", round, acked[i]);
			memset(&d, 0, sizeof(d));
			d.fd = -1;
			d.data = key;
			d.size = strlen(key);
			d.dedupe_key = key;
			CHECK_INT(mailstore_deliver(ms, &d, 1, &err), 0);
			if (!d.duplicate)
				missing++;
		}
		mailstore_close(&ms);
	}
	CHECK_INT(missing, 0);
	CHECK(total_acked > 0);
	fprintf(stderr, "crash test: %d deliveries acknowledged over %d"
	    " kills\n", total_acked, CRASH_ROUNDS);
	/* no message is stored twice, and each acknowledged one once */
	ms = mailstore_open(dir, 30, &err);
	CHECK(ms != NULL);
	if (ms != NULL) {
		CHECK(mailstore_message_list(ms, "INBOX", collect_bytes, &sn,
		    &err) >= total_acked);
		if (sn.n > 1)
			qsort(sn.bytes, (size_t)sn.n, sizeof(*sn.bytes),
			    cmp_str);
		for (i = 1; i < sn.n; i++)
			if (strcmp(sn.bytes[i - 1], sn.bytes[i]) == 0)
				dups++;
		CHECK_INT(dups, 0);
		/* and files left by the kills are swept, nothing else */
		CHECK(mailstore_sweep(ms, 0, &err) >= 0);
		for (i = 0; i < sn.n; i++) {
			char *want = xstrdup(sn.bytes[i]);
			const char *dash = strchr(want, '-');

			CHECK(want[0] == 'k' && dash != NULL);
			free(want);
		}
		mailstore_close(&ms);
		ms = mailstore_open(dir, 30, &err);
		{
			struct seen again = { NULL, 0 };

			CHECK_INT(mailstore_message_list(ms, "INBOX",
			    collect_bytes, &again, &err), sn.n);
			for (i = 0; i < again.n; i++)
				free(again.bytes[i]);
			free(again.bytes);
		}
		mailstore_close(&ms);
	}
	for (i = 0; i < sn.n; i++)
		free(sn.bytes[i]);
	free(sn.bytes);
	cleanup(dir);
}

static int
count_files(const char *dir, int64_t id)
{
	char *cmd = xasprintf("%s/mail/%lld/msg", dir, (long long)id);
	struct dirent *de;
	DIR *d = opendir(cmd);
	int n = 0;

	while (d != NULL && (de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	if (d != NULL)
		closedir(d);
	free(cmd);
	return n;
}

static void
test_packing(void)
{
	static const char *const msgs[] = {
		"Subject: s1\r\n\r\nsmall one\r\n",
		"Subject: s2\r\n\r\nsmall two\r\n",
	};
	const size_t lens[] = { strlen(msgs[0]), strlen(msgs[1]) };
	char *dir = tmpdir(), *big, *path = NULL, want[256];
	struct mailstore *ms = new_store(dir, 40);
	struct mailstore_delivery d[6];
	struct msglist ml;
	const char *err = NULL;
	size_t bigsize = MAILSTORE_PACK_MAX_MESSAGE + 1, i;
	uint64_t offs[2], off = 0, size = 0;
	uint32_t *gone = NULL, pick[2];
	size_t ngone = 0;
	struct stat st;
	int fd, bfd, mfd;
	char rd[64];

	mailstore_set_packing(ms, true);
	fd = make_source(dir, msgs, lens, 2, offs);
	big = xmalloc(bigsize);
	for (i = 0; i < bigsize; i++)
		big[i] = (char)('A' + i % 26);
	memset(d, 0, sizeof(d));
	d[0].fd = fd;			/* small, from the spool */
	d[0].offset = offs[0];
	d[0].size = lens[0];
	d[0].prefix = "Delivered-To: a\r\n";
	d[0].prefix_len = 17;
	d[0].dedupe_key = "p k0";
	d[1].fd = fd;			/* fails half-way: source too short */
	d[1].offset = offs[1];
	d[1].size = 5000;
	d[1].prefix = "Delivered-To: b\r\n";
	d[1].prefix_len = 17;
	d[2].fd = -1;			/* too big for the pack */
	d[2].data = big;
	d[2].size = bigsize;
	d[3].fd = fd;			/* small, right after the failure */
	d[3].offset = offs[1];
	d[3].size = lens[1];
	d[3].mailbox = "Junk";
	d[4].fd = -1;			/* small, from memory */
	d[4].data = "m\r\n";
	d[4].size = 3;
	d[5] = d[0];			/* duplicate key in the batch */
	CHECK_INT(mailstore_deliver(ms, d, 6, &err), 0);
	CHECK_INT(d[0].status, 0);
	CHECK_INT(d[1].status, -1);
	CHECK_INT(d[2].status, 0);
	CHECK_INT(d[3].status, 0);
	CHECK_INT(d[4].status, 0);
	CHECK(d[5].duplicate);
	/* one pack for the three small ones, one file for the big one */
	CHECK_INT(count_files(dir, 40), 2);
	snprintf(want, sizeof(want), "Delivered-To: a\r\n%s", msgs[0]);
	check_bytes(ms, "INBOX", d[0].uid, want);
	check_bytes(ms, "Junk", d[3].uid, msgs[1]);
	check_bytes(ms, "INBOX", d[4].uid, "m\r\n");
	{
		struct buf b;

		buf_init(&b, 2 * bigsize);
		CHECK_INT(mailstore_message_read(ms, "INBOX", d[2].uid, &b,
		    &err), 1);
		CHECK(b.len == bigsize && memcmp(b.data, big, bigsize) == 0);
		buf_fini(&b);
		/* a buffer too small for the message */
		buf_init(&b, 10);
		CHECK_INT(mailstore_message_read(ms, "INBOX", d[0].uid, &b,
		    &err), -1);
		buf_fini(&b);
	}
	/* list and locate give the same place; the pack is shared */
	memset(&ml, 0, sizeof(ml));
	CHECK_INT(mailstore_message_list(ms, "INBOX", collect_msg, &ml, &err),
	    3);
	CHECK_STR(ml.path[0], ml.path[2]);	/* uid 1 and 3: the pack */
	CHECK(strcmp(ml.path[0], ml.path[1]) != 0);
	CHECK_INT(mailstore_message_locate(ms, "INBOX", d[4].uid, &path, &off,
	    &size, &err), 1);
	CHECK_STR(path, ml.path[2]);
	CHECK_INT(size, 3);
	CHECK(off > 0);
	/* open is positioned at the message */
	mfd = mailstore_message_open(ms, "INBOX", d[4].uid, &size, &err);
	CHECK(mfd >= 0);
	CHECK_INT(size, 3);
	CHECK_INT(read(mfd, rd, sizeof(rd)), 3);
	CHECK_MEM(rd, 3, "m\r\n", 3);
	close(mfd);
	/* the pack file stays until its last message goes */
	pick[0] = d[0].uid;
	pick[1] = d[4].uid;
	CHECK_INT(mailstore_expunge(ms, "INBOX", pick, 1, false, &gone,
	    &ngone, &err), 0);
	free(gone);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(mailstore_expunge(ms, "INBOX", &pick[1], 1, false, &gone,
	    &ngone, &err), 0);
	free(gone);
	CHECK_INT(stat(path, &st), 0);		/* Junk still uses it */
	check_bytes(ms, "Junk", d[3].uid, msgs[1]);
	CHECK_INT(mailstore_mailbox_delete(ms, "Junk", &err), 0);
	CHECK_INT(stat(path, &st), -1);
	CHECK_INT(count_files(dir, 40), 1);
	/* the sweep leaves the big one alone */
	CHECK_INT(mailstore_sweep(ms, 0, &err), 0);
	free(path);
	free(big);
	close(fd);
	mailstore_close(&ms);
	(void)bfd;
	cleanup(dir);
}

static void
test_migrate_v1(void)
{
	char *dir = tmpdir(), *path;
	struct mailstore *ms = new_store(dir, 41);
	struct mailstore_delivery d;
	const char *err = NULL;
	sqlite3 *db;

	deliver_n(ms, NULL, 2);
	mailstore_close(&ms);
	/* make it look like an index of the first version */
	path = xasprintf("%s/mail/41/index.db", dir);
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "ALTER TABLE messages DROP COLUMN"
	    " blob_offset; PRAGMA user_version = 1", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	ms = mailstore_open(dir, 41, &err);
	CHECK(ms != NULL);
	if (ms == NULL)
		return;
	mailstore_set_packing(ms, true);
	memset(&d, 0, sizeof(d));
	d.fd = -1;
	d.data = "new\r\n";
	d.size = 5;
	CHECK_INT(mailstore_deliver(ms, &d, 1, &err), 0);
	CHECK_INT(d.uid, 3);
	check_bytes(ms, "INBOX", 1, "Subject: x\r\n\r\nx\r\n");
	check_bytes(ms, "INBOX", 3, "new\r\n");
	mailstore_close(&ms);
	/* a version from the future is refused */
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "PRAGMA user_version = 1", NULL, NULL,
	    NULL), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "ALTER TABLE messages ADD COLUMN x", NULL,
	    NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ms = mailstore_open(dir, 41, &err);	/* v1 with the column: the
						 * ALTER fails, cleanly */
	CHECK(ms == NULL);
	mailstore_close(&ms);
	free(path);
	cleanup(dir);
}

struct kwlist {
	int	n;
	char	kw[8][256];
	uint64_t modseq[8];
};

static void
collect_kw(void *ctx, const struct mailstore_message *m)
{
	struct kwlist *l = ctx;

	if (l->n < 8) {
		snprintf(l->kw[l->n], sizeof(l->kw[0]), "%s", m->keywords);
		l->modseq[l->n] = m->modseq;
		l->n++;
	}
}

static void
test_copy_move_keywords(void)
{
	char *dir = tmpdir(), *p1 = NULL, *p2 = NULL;
	struct mailstore *ms = new_store(dir, 50);
	struct mailstore_mailbox in, tr;
	struct kwlist kl;
	const char *err = NULL;
	uint32_t uid = 0, uidv = 0, *gone = NULL;
	uint64_t o1, o2, s1, s2;
	size_t ngone;
	struct stat st;

	deliver_n(ms, NULL, 2);
	CHECK_INT(mailstore_message_set_flags(ms, "INBOX", 1,
	    MAILSTORE_F_FLAGGED, 0, &err), 1);
	/* keywords: add, no duplicates (case-insensitive), remove */
	CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 1,
	    "$Forwarded Work", NULL, &err), 1);
	CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 1, "work", NULL,
	    &err), 0);
	CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 1, "Later",
	    "$forwarded", &err), 1);
	CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 1, "\\Seen",
	    NULL, &err), -1);
	CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 1, "a(b", NULL,
	    &err), -1);
	CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 9, "x", NULL,
	    &err), 0);
	memset(&kl, 0, sizeof(kl));
	CHECK_INT(mailstore_message_list(ms, "INBOX", collect_kw, &kl, &err),
	    2);
	CHECK_STR(kl.kw[0], "Work Later");
	CHECK_STR(kl.kw[1], "");
	CHECK(kl.modseq[0] > kl.modseq[1]);
	CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 1, NULL,
	    "LATER work", &err), 1);
	memset(&kl, 0, sizeof(kl));
	CHECK_INT(mailstore_message_list(ms, "INBOX", collect_kw, &kl, &err),
	    2);
	CHECK_STR(kl.kw[0], "");
	CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 1, "Keep", NULL,
	    &err), 1);
	/* keyword list size: up to the limit fits, past it does not */
	{
		char many[STORE_MAX_KEYWORDS + 8];
		size_t n = 0;
		int i;

		/* 127 keywords "k00000".."k00126" joined: 127 * 7 - 1 bytes */
		for (i = 0; i < 127; i++)
			n += (size_t)snprintf(many + n, sizeof(many) - n,
			    "%sk%05d", i ? " " : "", i);
		CHECK_INT(n, 888);
		CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 2, many,
		    NULL, &err), 1);
		/* + " " + 134 bytes = 1023, then 1024, then 1025 */
		memset(many, 'a', 136);
		many[133] = '\0';
		CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 2, many,
		    NULL, &err), 1);	/* 1022 */
		CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 2, "b",
		    NULL, &err), 1);	/* 1024: the limit */
		CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 2, "c",
		    NULL, &err), -1);	/* 1026 */
		CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 2, NULL,
		    "b", &err), 1);	/* 1022 */
		CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 2, "d",
		    NULL, &err), 1);	/* 1024 again */
	}
	/* copy: same file, flags and keywords along, new UID in target */
	CHECK_INT(mailstore_message_copy(ms, "INBOX", 1, "Trash", false, &uid,
	    &uidv, &err), 1);
	CHECK_INT(uid, 1);
	CHECK_INT(mailstore_mailbox_get(ms, "Trash", &tr, &err), 1);
	CHECK_INT(uidv, tr.uidvalidity);
	CHECK_INT(tr.messages, 1);
	CHECK_INT(tr.uidnext, 2);
	CHECK_INT(mailstore_message_locate(ms, "INBOX", 1, &p1, &o1, &s1,
	    &err), 1);
	CHECK_INT(mailstore_message_locate(ms, "Trash", 1, &p2, &o2, &s2,
	    &err), 1);
	CHECK_STR(p1, p2);
	CHECK_INT(o1, o2);
	CHECK_INT(s1, s2);
	memset(&kl, 0, sizeof(kl));
	CHECK_INT(mailstore_message_list(ms, "Trash", collect_kw, &kl, &err),
	    1);
	CHECK_STR(kl.kw[0], "Keep");
	/* the shared file outlives the expunge of one copy */
	CHECK_INT(mailstore_expunge(ms, "INBOX", (uint32_t[]){ 1 }, 1, false,
	    &gone, &ngone, &err), 0);
	free(gone);
	CHECK_INT(stat(p1, &st), 0);
	check_bytes(ms, "Trash", 1, "Subject: x\r\n\r\nx\r\n");
	/* move */
	CHECK_INT(mailstore_mailbox_get(ms, "INBOX", &in, &err), 1);
	CHECK_INT(mailstore_message_copy(ms, "Trash", 1, "INBOX", true, &uid,
	    NULL, &err), 1);
	CHECK_INT(uid, in.uidnext);
	CHECK_INT(mailstore_mailbox_get(ms, "Trash", &tr, &err), 1);
	CHECK_INT(tr.messages, 0);
	CHECK_INT(mailstore_mailbox_get(ms, "INBOX", &in, &err), 1);
	CHECK_INT(in.messages, 2);
	check_bytes(ms, "INBOX", uid, "Subject: x\r\n\r\nx\r\n");
	/* missing message, missing target */
	CHECK_INT(mailstore_message_copy(ms, "INBOX", 99, "Trash", false, NULL,
	    NULL, &err), 0);
	CHECK_INT(mailstore_message_copy(ms, "INBOX", 2, "Nope", false, NULL,
	    NULL, &err), -1);
	free(p1);
	free(p2);
	mailstore_close(&ms);
	cleanup(dir);
}

/* sql_int - one integer from a query on a store's index.db (-1: error) */
static long long
sql_int(const char *dir, int64_t id, const char *sql)
{
	char *path = xasprintf("%s/mail/%lld/index.db", dir, (long long)id);
	sqlite3 *db;
	sqlite3_stmt *s;
	long long v = -1;

	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			v = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
	free(path);
	return v;
}

/*
 * An index of version 5 (the cached parse inline in the messages rows,
 * columns in that version's order) is migrated: the parse moves to
 * message_cache, the table is built again without it, ids, indexes,
 * triggers and the AUTOINCREMENT counter are kept.
 */
static void
test_migrate_v5(void)
{
	static const char mem[] = "Subject: x\r\n\r\nx\r\n";
	static const char to_v5[] =
	    "CREATE TABLE m5 ("
	    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
	    " mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),"
	    " uid INTEGER NOT NULL, blob TEXT NOT NULL,"
	    " size INTEGER NOT NULL, internal_date INTEGER NOT NULL,"
	    " flags INTEGER NOT NULL DEFAULT 0,"
	    " keywords TEXT NOT NULL DEFAULT '',"
	    " modseq INTEGER NOT NULL, envelope TEXT, bodystructure TEXT,"
	    " body TEXT, blob_offset INTEGER NOT NULL DEFAULT 0,"
	    " text_id INTEGER, UNIQUE (mailbox_id, uid));"
	    "INSERT INTO m5 SELECT m.id, m.mailbox_id, m.uid, m.blob, m.size,"
	    " m.internal_date, m.flags, m.keywords, m.modseq, c.envelope,"
	    " c.bodystructure, c.body, m.blob_offset, m.text_id"
	    " FROM messages m LEFT JOIN message_cache c ON c.id = m.id;"
	    "DROP TABLE messages; DROP TABLE message_cache;"
	    "ALTER TABLE m5 RENAME TO messages;"
	    "CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);"
	    "CREATE INDEX messages_blob ON messages(blob);"
	    "CREATE INDEX messages_text ON messages(text_id)"
	    " WHERE text_id IS NOT NULL;"
	    "CREATE INDEX messages_unindexed ON messages(mailbox_id)"
	    " WHERE text_id IS NULL;"
	    "CREATE TRIGGER messages_usage_ins AFTER INSERT ON messages BEGIN"
	    " UPDATE usage SET bytes = bytes + NEW.size,"
	    " messages = messages + 1 WHERE id = 1; END;"
	    "CREATE TRIGGER messages_usage_del AFTER DELETE ON messages BEGIN"
	    " UPDATE usage SET bytes = bytes - OLD.size,"
	    " messages = messages - 1 WHERE id = 1; END;"
	    "UPDATE sqlite_sequence SET seq = 100 WHERE name = 'messages';"
	    "PRAGMA user_version = 5;";
	char *dir = tmpdir(), *path, *e, *bs, *b;
	struct mailstore *ms = new_store(dir, 42);
	struct mailstore_delivery d[3];
	struct mailstore_flag_change c[3];
	const char *err = NULL;
	uint32_t *gone = NULL, nu = 0;
	size_t ngone = 0;
	uint64_t bytes = 0, msgs = 0;
	sqlite3 *db;
	int i;

	memset(d, 0, sizeof(d));
	for (i = 0; i < 3; i++) {
		d[i].fd = -1;
		d[i].data = mem;
		d[i].size = strlen(mem);
	}
	d[0].envelope = "(NIL \"one\")";
	d[0].bodystructure = "(\"text\" \"plain\")";
	d[0].body = "(\"text\")";
	d[2].envelope = "(NIL \"three\")";
	CHECK_INT(mailstore_deliver(ms, d, 3, &err), 0);
	mailstore_close(&ms);
	path = xasprintf("%s/mail/42/index.db", dir);
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, to_v5, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(path);
	CHECK_INT(sql_int(dir, 42, "SELECT count(*) FROM messages WHERE"
	    " envelope IS NOT NULL"), 2);
	CHECK_INT(sql_int(dir, 42, "PRAGMA user_version"), 5);

	ms = mailstore_open(dir, 42, &err);
	CHECK(ms != NULL);
	if (ms == NULL) {
		cleanup(dir);
		return;
	}
	CHECK_INT(sql_int(dir, 42, "PRAGMA user_version"), 8);
	CHECK_INT(sql_int(dir, 42, "SELECT count(*) FROM"
	    " pragma_table_info('messages') WHERE name IN ('envelope',"
	    " 'bodystructure', 'body')"), 0);
	CHECK_INT(sql_int(dir, 42, "SELECT count(*) FROM message_cache"), 2);
	CHECK_INT(sql_int(dir, 42, "SELECT count(*) FROM sqlite_master WHERE"
	    " tbl_name = 'messages' AND type IN ('index', 'trigger')"), 11);
	CHECK_INT(sql_int(dir, 42, "SELECT seq FROM sqlite_sequence WHERE"
	    " name = 'messages'"), 100);
	CHECK_INT(sql_int(dir, 42, "SELECT count(*) FROM pragma_integrity_check"
	    " WHERE integrity_check = 'ok'"), 1);
	/* the parse of each message, where it was */
	CHECK_INT(mailstore_message_cache_get(ms, "INBOX", 1, &e, &bs, &b,
	    &err), 1);
	CHECK_STR(e, "(NIL \"one\")");
	CHECK_STR(bs, "(\"text\" \"plain\")");
	CHECK_STR(b, "(\"text\")");
	free(e);
	free(bs);
	free(b);
	CHECK_INT(mailstore_message_cache_get(ms, "INBOX", 2, &e, &bs, &b,
	    &err), 1);
	CHECK(e == NULL && bs == NULL && b == NULL);
	CHECK_INT(mailstore_message_cache_get(ms, "INBOX", 3, &e, &bs, &b,
	    &err), 1);
	CHECK_STR(e, "(NIL \"three\")");
	CHECK(bs == NULL && b == NULL);
	free(e);
	/* a new message gets an id above the old counter, and its parse */
	memset(d, 0, sizeof(d));
	d[0].fd = -1;
	d[0].data = mem;
	d[0].size = strlen(mem);
	d[0].envelope = "(NIL \"four\")";
	CHECK_INT(mailstore_deliver(ms, d, 1, &err), 0);
	CHECK_INT(d[0].uid, 4);
	CHECK_INT(sql_int(dir, 42, "SELECT id FROM messages WHERE uid = 4"),
	    101);
	CHECK_INT(mailstore_message_cache_get(ms, "INBOX", 4, &e, &bs, &b,
	    &err), 1);
	CHECK_STR(e, "(NIL \"four\")");
	free(e);
	/* the usage triggers came back */
	CHECK_INT(mailstore_usage(ms, &bytes, &msgs, &err), 0);
	CHECK_INT(msgs, 4);
	CHECK_INT(bytes, 4 * strlen(mem));
	/* flags on all, one transaction */
	memset(c, 0, sizeof(c));
	for (i = 0; i < 3; i++)
		c[i].uid = (uint32_t)i + 1;
	CHECK_INT(mailstore_store_flags(ms, "INBOX", c, 3,
	    MAILSTORE_FLAGS_ADD, MAILSTORE_F_DELETED, NULL, 0, &err), 0);
	CHECK_INT(c[0].status, 1);
	CHECK_INT(c[2].flags, MAILSTORE_F_DELETED);
	mailstore_flag_changes_free(c, 3);
	/* a copy takes the parse along; an expunge takes it away */
	CHECK_INT(mailstore_copy_multi(ms, "INBOX", (uint32_t[]){ 1 }, 1,
	    "Trash", false, &nu, NULL, &err), 0);
	CHECK_INT(nu, 1);
	CHECK_INT(mailstore_message_cache_get(ms, "Trash", 1, &e, &bs, &b,
	    &err), 1);
	CHECK_STR(e, "(NIL \"one\")");
	CHECK_STR(b, "(\"text\")");
	free(e);
	free(bs);
	free(b);
	CHECK_INT(sql_int(dir, 42, "SELECT count(*) FROM message_cache"), 4);
	CHECK_INT(mailstore_expunge(ms, "INBOX", NULL, 0, true, &gone, &ngone,
	    &err), 0);
	CHECK_INT(ngone, 3);
	free(gone);
	CHECK_INT(sql_int(dir, 42, "SELECT count(*) FROM message_cache"), 2);
	CHECK_INT(mailstore_message_cache_get(ms, "INBOX", 1, &e, &bs, &b,
	    &err), 0);
	CHECK_INT(mailstore_usage(ms, &bytes, &msgs, &err), 0);
	CHECK_INT(msgs, 2);
	mailstore_close(&ms);
	/* opened again: nothing more to migrate */
	ms = mailstore_open(dir, 42, &err);
	CHECK(ms != NULL);
	mailstore_close(&ms);
	cleanup(dir);
}

/* sql_exec - runs sql on a store's index.db from another connection */
static int
sql_exec(const char *dir, int64_t id, const char *sql)
{
	char *path = xasprintf("%s/mail/%lld/index.db", dir, (long long)id);
	sqlite3 *db;
	int rc;

	rc = sqlite3_open(path, &db);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	free(path);
	return rc;
}

/* summary_str - "n first_unseen [uid,...] keywords" of a summary */
static char *
summary_str(struct mailstore *ms, const char *mailbox)
{
	struct mailstore_summary sm;
	struct buf b;
	const char *err = NULL;
	char *r_s;
	size_t i, n = 0;
	int r;

	buf_init(&b, 1 << 20);
	r = mailstore_mailbox_summary(ms, mailbox, &sm, &err);
	if (r <= 0) {
		CHECK_INT(buf_printf(&b, "r=%d", r), 0);
	} else {
		CHECK_INT(buf_printf(&b, "%zu %zu [", sm.n, sm.first_unseen),
		    0);
		for (i = 0; i < sm.nruns; i++) {
			uint32_t u;

			CHECK(sm.runs[i].lo <= sm.runs[i].hi);
			CHECK(i == 0 || sm.runs[i].lo > sm.runs[i - 1].hi + 1);
			for (u = sm.runs[i].lo; u <= sm.runs[i].hi; u++) {
				CHECK_INT(buf_printf(&b, "%s%u", n > 0 ?
				    "," : "", u), 0);
				n++;
			}
		}
		CHECK_INT(buf_printf(&b, "] %s", sm.keywords), 0);
		CHECK_INT(n, sm.n);
		CHECK(sm.nruns == 0 || sm.runs != NULL);
		mailstore_summary_free(&sm);
	}
	r_s = xstrdup(buf_cstr(&b));
	buf_fini(&b);
	return r_s;
}

#define CHECK_SUMMARY(ms, mb, want) do {				\
	char *got_ = summary_str((ms), (mb));				\
	CHECK_STR(got_, (want));					\
	free(got_);							\
} while (0)

/*
 * The summary SELECT reads: built from the messages when missing, saved,
 * read back from the saved row, dropped by every kind of change (flags,
 * keywords, delivery, expunge, copy, move, rename of INBOX), not saved
 * while another writer holds the database.
 */
static void
test_summary(void)
{
	char *dir = tmpdir();
	struct mailstore *ms = new_store(dir, 43);
	struct mailstore_flag_change c[2];
	const char *err = NULL;
	uint32_t *gone = NULL, nu[2] = { 0, 0 }, uv = 0, un = 0;
	uint64_t h = 0;
	size_t ngone = 0;
	sqlite3 *db;
	char *path;

	CHECK_SUMMARY(ms, "INBOX", "0 0 [] ");
	CHECK_SUMMARY(ms, "Nope", "r=0");
	deliver_n(ms, NULL, 5);
	CHECK_INT(mailstore_message_set_flags(ms, "INBOX", 1, MAILSTORE_F_SEEN,
	    0, &err), 1);
	CHECK_INT(mailstore_message_set_flags(ms, "INBOX", 2, MAILSTORE_F_SEEN,
	    0, &err), 1);
	CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 2, "Work $Later",
	    NULL, &err), 1);
	CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 4, "work Other",
	    NULL, &err), 1);
	CHECK_INT(sql_int(dir, 43, "SELECT count(*) FROM mailbox_summary"), 0);
	CHECK_SUMMARY(ms, "INBOX", "5 3 [1,2,3,4,5] Work $Later Other");
	CHECK_INT(sql_int(dir, 43, "SELECT count(*) FROM mailbox_summary"), 1);
	/* the state comes with it, from the same snapshot */
	{
		struct mailstore_summary sm;

		CHECK_INT(mailstore_mailbox_state(ms, "INBOX", &uv, &un, &h,
		    &err), 1);
		CHECK_INT(mailstore_mailbox_summary(ms, "inbox", &sm, &err), 1);
		CHECK_INT(sm.uidvalidity, uv);
		CHECK_INT(sm.uidnext, 6);
		CHECK_INT(sm.uidnext, un);
		CHECK(sm.highestmodseq == h);
		mailstore_summary_free(&sm);
	}
	/* read back from the saved row (changed behind the store's back) */
	CHECK_INT(sql_exec(dir, 43, "UPDATE mailbox_summary SET first_unseen"
	    " = 5"), SQLITE_OK);
	CHECK_SUMMARY(ms, "INBOX", "5 5 [1,2,3,4,5] Work $Later Other");
	/* the UIDs are kept as runs: 1-5 is (gap 0, 4 more) */
	CHECK_INT(sql_int(dir, 43, "SELECT uids = X'0004' FROM"
	    " mailbox_summary"), 1);
	/* a malformed blob, or one past UIDNEXT, is not used */
	CHECK_INT(sql_exec(dir, 43, "UPDATE mailbox_summary SET uids ="
	    " X'00FFFF'"), SQLITE_OK);
	CHECK_SUMMARY(ms, "INBOX", "5 3 [1,2,3,4,5] Work $Later Other");
	CHECK_INT(sql_exec(dir, 43, "UPDATE mailbox_summary SET uids ="
	    " X'0005', first_unseen = 1"), SQLITE_OK);
	CHECK_SUMMARY(ms, "INBOX", "5 3 [1,2,3,4,5] Work $Later Other");
	CHECK_INT(sql_exec(dir, 43, "UPDATE mailbox_summary SET uids ="
	    " X'8080808010'"), SQLITE_OK);
	CHECK_SUMMARY(ms, "INBOX", "5 3 [1,2,3,4,5] Work $Later Other");
	/* a saved row of another HIGHESTMODSEQ is not used */
	CHECK_INT(sql_exec(dir, 43, "UPDATE mailbox_summary SET modseq ="
	    " modseq - 1"), SQLITE_OK);
	CHECK_SUMMARY(ms, "INBOX", "5 3 [1,2,3,4,5] Work $Later Other");
	/* flags: dropped, built again */
	memset(c, 0, sizeof(c));
	c[0].uid = 3;
	c[1].uid = 4;
	CHECK_INT(mailstore_store_flags(ms, "INBOX", c, 2, MAILSTORE_FLAGS_ADD,
	    MAILSTORE_F_SEEN, NULL, 0, &err), 0);
	mailstore_flag_changes_free(c, 2);
	CHECK_INT(sql_int(dir, 43, "SELECT count(*) FROM mailbox_summary"
	    " WHERE mailbox_id = (SELECT id FROM mailboxes WHERE name ="
	    " 'INBOX')"), 0);
	CHECK_SUMMARY(ms, "INBOX", "5 5 [1,2,3,4,5] Work $Later Other");
	/* keywords */
	CHECK_INT(mailstore_message_set_keywords(ms, "INBOX", 4, NULL,
	    "WORK other", &err), 1);
	CHECK_SUMMARY(ms, "INBOX", "5 5 [1,2,3,4,5] Work $Later");
	/* delivery */
	deliver_n(ms, NULL, 1);
	CHECK_SUMMARY(ms, "INBOX", "6 5 [1,2,3,4,5,6] Work $Later");
	/* expunge */
	CHECK_INT(mailstore_message_set_flags(ms, "INBOX", 5,
	    MAILSTORE_F_DELETED, 0, &err), 1);
	CHECK_INT(mailstore_message_set_flags(ms, "INBOX", 1,
	    MAILSTORE_F_DELETED, 0, &err), 1);
	CHECK_SUMMARY(ms, "INBOX", "6 5 [1,2,3,4,5,6] Work $Later");
	CHECK_INT(mailstore_expunge(ms, "INBOX", NULL, 0, true, &gone, &ngone,
	    &err), 0);
	CHECK_INT(ngone, 2);
	free(gone);
	CHECK_SUMMARY(ms, "INBOX", "4 4 [2,3,4,6] Work $Later");
	/* runs: 2-4 (gap 1, 2 more), 6 (gap 1, 0 more) */
	CHECK_INT(sql_int(dir, 43, "SELECT uids = X'01020100' FROM"
	    " mailbox_summary WHERE mailbox_id = (SELECT id FROM mailboxes"
	    " WHERE name = 'INBOX')"), 1);
	/* a summary of version 7 (UIDs as 32-bit words) is dropped */
	CHECK_INT(sql_exec(dir, 43, "PRAGMA user_version = 7"), SQLITE_OK);
	mailstore_close(&ms);
	ms = mailstore_open(dir, 43, &err);
	CHECK(ms != NULL);
	if (ms == NULL) {
		cleanup(dir);
		return;
	}
	CHECK_INT(sql_int(dir, 43, "SELECT count(*) FROM mailbox_summary"), 0);
	CHECK_INT(sql_int(dir, 43, "PRAGMA user_version"), 8);
	CHECK_SUMMARY(ms, "INBOX", "4 4 [2,3,4,6] Work $Later");
	/* copy in, move out */
	CHECK_SUMMARY(ms, "Trash", "0 0 [] ");
	CHECK_INT(mailstore_copy_multi(ms, "INBOX", (uint32_t[]){ 2, 6 }, 2,
	    "Trash", false, nu, NULL, &err), 0);
	CHECK_SUMMARY(ms, "Trash", "2 2 [1,2] Work $Later");
	CHECK_INT(mailstore_copy_multi(ms, "INBOX", (uint32_t[]){ 2 }, 1,
	    "Trash", true, nu, NULL, &err), 0);
	CHECK_SUMMARY(ms, "INBOX", "3 3 [3,4,6] ");
	CHECK_SUMMARY(ms, "Trash", "3 2 [1,2,3] Work $Later");
	/* another writer holds the database: built, not saved, right */
	CHECK_INT(sql_exec(dir, 43, "DELETE FROM mailbox_summary"), SQLITE_OK);
	path = xasprintf("%s/mail/43/index.db", dir);
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	    SQLITE_OK);
	CHECK_SUMMARY(ms, "INBOX", "3 3 [3,4,6] ");
	CHECK_INT(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(path);
	CHECK_INT(sql_int(dir, 43, "SELECT count(*) FROM mailbox_summary"), 0);
	CHECK_SUMMARY(ms, "INBOX", "3 3 [3,4,6] ");
	CHECK_INT(sql_int(dir, 43, "SELECT count(*) FROM mailbox_summary"), 1);
	/* INBOX renamed: its messages go, INBOX stays empty */
	CHECK_INT(mailstore_mailbox_rename(ms, "INBOX", "Old", &err), 0);
	CHECK_SUMMARY(ms, "INBOX", "0 0 [] ");
	CHECK_SUMMARY(ms, "Old", "3 3 [3,4,6] ");
	/* a deleted mailbox leaves no summary behind */
	CHECK_INT(mailstore_mailbox_delete(ms, "Old", &err), 0);
	CHECK_SUMMARY(ms, "Old", "r=0");
	CHECK_INT(sql_int(dir, 43, "SELECT count(*) FROM mailbox_summary"
	    " WHERE mailbox_id NOT IN (SELECT id FROM mailboxes)"), 0);
	mailstore_close(&ms);
	cleanup(dir);
}

static const struct test_case cases[] = {
	TEST(test_copy_move_keywords),
	TEST(test_packing),
	TEST(test_migrate_v1),
	TEST(test_migrate_v5),
	TEST(test_summary),
	TEST(test_crash_kill),
	TEST(test_rename_inbox),
	TEST(test_expunge_sweep),
	TEST(test_cache),
	TEST(test_default_mailboxes),
	TEST(test_deliver_batch),
	TEST(test_bad_source),
	TEST(test_dedupe),
	TEST(test_targets),
	TEST(test_mailbox_ops),
	TEST(test_flags),
	TEST(test_multi_and_large),
	TEST(test_two_handles),
};

TEST_MAIN(cases)
