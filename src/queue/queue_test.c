/*
 * queue_test.c - unit tests for the durable queue: accept and commit,
 * delivery through a fake agent, retry timing, flush, forwarding, recovery
 * of complete / incomplete / torn spool files, crash safety under SIGKILL,
 * queue_list and queue_delete.
 *
 * `queue_test bench [SECONDS]` instead runs the group-commit
 * micro-benchmark (not part of the tests) and prints its figures.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "queue/queue.h"
#include "queue/queue_int.h"
#include "../../tests/lib/test.h"

/* ---- helpers ---- */

static char *
tmpdir_new(void)
{
	char tmpl[] = "/tmp/queue_test.XXXXXX";
	char *d = mkdtemp(tmpl);

	ASSERT(d != NULL);
	return xasprintf("%s/queue", d);
}

static void
rm_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char *p, *parent;

	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			p = xasprintf("%s/%s", path, de->d_name);
			unlink(p);
			free(p);
		}
		closedir(d);
	}
	rmdir(path);
	parent = xstrdup(path);
	*strrchr(parent, '/') = '\0';
	rmdir(parent);
	free(parent);
}

/* Number of directory entries, files of the pool included. */
static size_t
count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n;
}

static bool
wait_entries(const char *dir, size_t n, int ms)
{
	int i;

	for (i = 0; i < ms && count_entries(dir) < n; i++)
		usleep(1000);
	return count_entries(dir) >= n;
}

/* Number of spool entries other than the pool's (files kept ready for
 * new messages: empty ones, and recycled ones whose magic line still names
 * the message they held before). */
static size_t
count_files(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char head[QUEUE_MAGIC_LINE_LEN];
	size_t n = 0;
	ssize_t r;
	char *p;
	int fd;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		p = xasprintf("%s/%s", path, de->d_name);
		fd = open(p, O_RDONLY);
		free(p);
		if (fd < 0)
			continue;
		r = read(fd, head, sizeof(head));
		close(fd);
		if (r <= 0)
			continue;	/* empty */
		if (r == (ssize_t)sizeof(head) &&
		    memcmp(head, QUEUE_MAGIC, sizeof(QUEUE_MAGIC) - 1) == 0 &&
		    strlen(de->d_name) == QUEUE_ID_LEN &&
		    memcmp(head + sizeof(QUEUE_MAGIC) - 1, de->d_name,
		    QUEUE_ID_LEN) != 0)
			continue;	/* recycled */
		n++;
	}
	closedir(d);
	return n;
}

static struct queue_config
config(const char *dir)
{
	struct queue_config c = {
		.dir = dir,
		.retry_first = 1,
		.retry_max = 4,
		.lifetime = 3600,
		.delay_warning = 0,
		.batch_max = 16,
	};

	return c;
}

struct commit_result {
	int	 done;
	int	 status;
	char	 error[128];
};

static void
commit_cb(void *ctx, int status, const char *error)
{
	struct commit_result *r = ctx;

	r->done = 1;
	r->status = status;
	snprintf(r->error, sizeof(r->error), "%s", error != NULL ? error : "");
}

static bool
wait_commit(struct queue *q, struct commit_result *r)
{
	int i;

	for (i = 0; i < 5000 && !r->done; i++) {
		queue_run_completions(q);
		if (!r->done)
			usleep(1000);
	}
	return r->done != 0;
}

/* Accepts one message with the given recipients and body; returns its
 * id (static buffer) or NULL. */
static const char *
accept_msg(struct queue *q, const char *const *rcpts, size_t n,
    const char *body)
{
	static char qid[QUEUE_ID_LEN + 1];
	struct queue_envelope env = {
		.sender = "sender@example.org",
		.rcpts = rcpts,
		.nrcpts = n,
		.client_addr = "192.0.2.1",
		.helo = "client.example.org",
	};
	struct commit_result res = { 0 };
	struct queue_incoming *in;
	const char *err = NULL;
	size_t len = strlen(body), off;

	in = queue_incoming_new(q, &env, &err);
	if (!CHECK(in != NULL))
		return NULL;
	snprintf(qid, sizeof(qid), "%s", queue_incoming_id(in));
	/* in odd pieces, to exercise the buffering */
	for (off = 0; off < len; off += 7) {
		size_t k = len - off < 7 ? len - off : 7;

		CHECK_INT(queue_incoming_write(in, body + off, k), 0);
	}
	queue_incoming_commit(in, commit_cb, &res);
	CHECK_INT(res.done, 0);		/* never from inside commit */
	if (!CHECK(wait_commit(q, &res)) || !CHECK_INT(res.status, 0))
		return NULL;
	return qid;
}

/* A fake delivery agent: a script of verdicts per address. */
struct fake_rcpt {
	char			 qid[QUEUE_ID_LEN + 1];
	char			*addr;
	int64_t			 at_ms;
};

struct fake_agent {
	pthread_mutex_t		 mu;
	struct fake_rcpt	*log;
	size_t			 nlog, cap;
	unsigned		 calls;
	size_t			 max_jobs;
	/* verdict for an address on the nth attempt (0-based) */
	enum queue_rcpt_status	(*verdict)(struct fake_agent *,
				    const char *addr, unsigned nth,
				    struct queue_job_rcpt *jr);
	struct buf		 last_body;
	/* notices (mail from the null sender) are captured here instead of
	 * being logged, and get notice_verdict (0: delivered) */
	size_t			 nnotices;
	char			 notice_qid[8][QUEUE_ID_LEN + 1];
	char			 notice_rcpt[8][64];
	char			*notice_body[8];
	enum queue_rcpt_status	 notice_verdict;
};

static unsigned
fake_attempts(struct fake_agent *a, const char *qid, const char *addr)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < a->nlog; i++) {
		if (strcmp(a->log[i].qid, qid) == 0 &&
		    strcmp(a->log[i].addr, addr) == 0)
			n++;
	}
	return n;
}

static void
fake_deliver(void *ctx, struct queue_job *const *jobs, size_t njobs)
{
	struct fake_agent *a = ctx;
	size_t i, j;

	pthread_mutex_lock(&a->mu);
	a->calls++;
	if (njobs > a->max_jobs)
		a->max_jobs = njobs;
	for (i = 0; i < njobs; i++) {
		struct queue_job *job = jobs[i];
		char *body = xmalloc(job->size + 1);
		ssize_t r = pread(job->fd, body, job->size,
		    (off_t)job->offset);

		CHECK_INT(r, (long long)job->size);
		if (job->sender[0] == '\0') {
			for (j = 0; j < job->nrcpts; j++) {
				size_t k = a->nnotices++;

				job->rcpts[j].status = a->notice_verdict != 0 ?
				    a->notice_verdict : QUEUE_RCPT_DELIVERED;
				if (a->notice_verdict == QUEUE_RCPT_FAILED)
					job->rcpts[j].error = xstrdup(
					    "550 5.1.1 no such mailbox");
				if (k >= 8)
					continue;
				snprintf(a->notice_qid[k], QUEUE_ID_LEN + 1,
				    "%s", job->qid);
				snprintf(a->notice_rcpt[k], 64, "%s",
				    job->rcpts[j].addr);
				body[r > 0 ? r : 0] = '\0';
				a->notice_body[k] = xstrdup(body);
			}
			free(body);
			continue;
		}
		buf_reset(&a->last_body);
		if (r > 0)
			CHECK_INT(buf_append(&a->last_body, body,
			    (size_t)r), 0);
		free(body);
		for (j = 0; j < job->nrcpts; j++) {
			struct queue_job_rcpt *jr = &job->rcpts[j];
			unsigned nth = fake_attempts(a, job->qid, jr->addr);

			CHECK_INT(jr->status, QUEUE_RCPT_PENDING);
			jr->status = a->verdict(a, jr->addr, nth, jr);
			if (a->nlog == a->cap) {
				a->cap = a->cap == 0 ? 64 : a->cap * 2;
				a->log = xreallocarray(a->log, a->cap,
				    sizeof(*a->log));
			}
			snprintf(a->log[a->nlog].qid, QUEUE_ID_LEN + 1, "%s",
			    job->qid);
			a->log[a->nlog].addr = xstrdup(jr->addr);
			a->log[a->nlog].at_ms = queue_now_ms();
			a->nlog++;
		}
	}
	pthread_mutex_unlock(&a->mu);
}

static void
fake_init(struct fake_agent *a,
    enum queue_rcpt_status (*verdict)(struct fake_agent *, const char *,
    unsigned, struct queue_job_rcpt *))
{
	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->mu, NULL);
	a->verdict = verdict;
	buf_init(&a->last_body, 64u * 1024 * 1024);
}

static void
fake_fini(struct fake_agent *a)
{
	size_t i;

	for (i = 0; i < a->nlog; i++)
		free(a->log[i].addr);
	for (i = 0; i < a->nnotices && i < 8; i++)
		free(a->notice_body[i]);
	free(a->log);
	buf_fini(&a->last_body);
	pthread_mutex_destroy(&a->mu);
}

static size_t
fake_nlog(struct fake_agent *a)
{
	size_t n;

	pthread_mutex_lock(&a->mu);
	n = a->nlog;
	pthread_mutex_unlock(&a->mu);
	return n;
}

static size_t
fake_nnotices(struct fake_agent *a)
{
	size_t n;

	pthread_mutex_lock(&a->mu);
	n = a->nnotices;
	pthread_mutex_unlock(&a->mu);
	return n;
}

/* Waits until the agent saw n recipient attempts (or ms passed). */
static bool
wait_nlog(struct fake_agent *a, size_t n, int ms)
{
	int i;

	for (i = 0; i < ms; i++) {
		if (fake_nlog(a) >= n)
			return true;
		usleep(1000);
	}
	return fake_nlog(a) >= n;
}

static bool
wait_empty(struct queue *q, int ms)
{
	struct queue_stats st;
	int i;

	for (i = 0; i < ms; i++) {
		queue_get_stats(q, &st);
		if (st.messages == 0)
			return true;
		usleep(1000);
	}
	return false;
}

static enum queue_rcpt_status
verdict_deliver(struct fake_agent *a, const char *addr, unsigned nth,
    struct queue_job_rcpt *jr)
{
	(void)a;
	(void)addr;
	(void)nth;
	(void)jr;
	return QUEUE_RCPT_DELIVERED;
}

/* queue_list collector */
struct listed {
	size_t	 n;
	char	 qid[8][QUEUE_ID_LEN + 1];
	char	 sender[8][64];
	uint64_t size[8];
	size_t	 nrcpts[8];
	char	 rcpt[8][8][64];
	enum queue_rcpt_status status[8][8];
	unsigned attempts[8][8];
	time_t	 next[8][8];
	char	 error[8][8][128];
};

static void
list_cb(void *ctx, const struct queue_info *info)
{
	struct listed *l = ctx;
	size_t i = l->n++, j;

	if (i >= 8)
		return;
	snprintf(l->qid[i], sizeof(l->qid[i]), "%s", info->qid);
	snprintf(l->sender[i], sizeof(l->sender[i]), "%s", info->sender);
	l->size[i] = info->size;
	l->nrcpts[i] = info->nrcpts;
	for (j = 0; j < info->nrcpts && j < 8; j++) {
		snprintf(l->rcpt[i][j], 64, "%s", info->rcpts[j].addr);
		l->status[i][j] = info->rcpts[j].status;
		l->attempts[i][j] = info->rcpts[j].attempts;
		l->next[i][j] = info->rcpts[j].next_attempt;
		snprintf(l->error[i][j], 128, "%s",
		    info->rcpts[j].last_error != NULL ?
		    info->rcpts[j].last_error : "");
	}
}

static void
list_dir(const char *dir, struct listed *l)
{
	const char *err = NULL;

	memset(l, 0, sizeof(*l));
	CHECK_INT(queue_list(dir, list_cb, l, &err), 0);
}

static const char *const two_rcpts[] = { "a@example.com", "b@example.com" };
static const char body1[] =
    "From: sender@example.org\r\nSubject: hello\r\n\r\nline one\r\n"
    "line two\r\n";

/* ---- tests ---- */

static void
test_retry_delay(void)
{
	struct queue_config c = { .retry_first = 300, .retry_max = 4000 };

	CHECK_INT(queue_retry_delay(&c, 1), 300);
	CHECK_INT(queue_retry_delay(&c, 2), 600);
	CHECK_INT(queue_retry_delay(&c, 3), 1200);
	CHECK_INT(queue_retry_delay(&c, 4), 2400);
	CHECK_INT(queue_retry_delay(&c, 5), 4000);	/* capped */
	CHECK_INT(queue_retry_delay(&c, 1000), 4000);
	c.retry_max = UINT64_MAX;
	CHECK_INT(queue_retry_delay(&c, 200) > 0, 1);	/* no overflow */
	CHECK_STR(queue_rcpt_status_name(QUEUE_RCPT_DEFERRED), "deferred");
	CHECK_STR(queue_rcpt_status_name(QUEUE_RCPT_DELIVERED), "delivered");
}

static void
test_accept_and_deliver(void)
{
	char *dir = tmpdir_new();
	struct queue_config c = config(dir);
	struct fake_agent a;
	struct listed l;
	const char *err = NULL, *id;
	char qid[QUEUE_ID_LEN + 1];
	struct queue_stats st;
	struct queue *q;

	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		return;
	id = accept_msg(q, two_rcpts, 2, body1);
	if (!CHECK(id != NULL))
		goto out;
	snprintf(qid, sizeof(qid), "%s", id);
	CHECK(queue_id_valid(qid));

	/* durable and listed before any delivery */
	list_dir(dir, &l);
	CHECK_INT(l.n, 1);
	CHECK_STR(l.qid[0], qid);
	CHECK_STR(l.sender[0], "sender@example.org");
	CHECK_INT(l.size[0], strlen(body1));
	CHECK_INT(l.nrcpts[0], 2);
	CHECK_STR(l.rcpt[0][0], "a@example.com");
	CHECK_STR(l.rcpt[0][1], "b@example.com");
	CHECK_INT(l.status[0][0], QUEUE_RCPT_PENDING);

	/* a second queue on the same spool is refused */
	CHECK(queue_open(&c, &err) == NULL);

	/* without a ready file, the committer creates it */
	queue_pool_set(q, 0);
	id = accept_msg(q, two_rcpts + 1, 1, body1);
	CHECK(id != NULL);
	list_dir(dir, &l);
	CHECK_INT(l.n, 2);

	fake_init(&a, verdict_deliver);
	queue_start(q, fake_deliver, &a);
	CHECK(wait_nlog(&a, 3, 5000));
	CHECK(wait_empty(q, 5000));
	CHECK_MEM(a.last_body.data, a.last_body.len, body1, strlen(body1));
	CHECK_INT(a.nlog, 3);
	CHECK_INT(fake_attempts(&a, qid, "a@example.com"), 1);
	CHECK_INT(fake_attempts(&a, qid, "b@example.com"), 1);
	/* the pool was off: the two spool files were removed, not reused */
	queue_get_stats(q, &st);
	CHECK_INT(st.recycled, 0);
	CHECK_INT(count_entries(dir), 0);
	/* with the pool on, new files are made for half of it, and a
	 * finished message's file becomes a pool file */
	queue_pool_set(q, 64);
	CHECK(wait_entries(dir, 32, 5000));
	CHECK(accept_msg(q, two_rcpts, 1, body1) != NULL);
	CHECK(wait_nlog(&a, 4, 5000));
	CHECK(wait_empty(q, 5000));
	usleep(20 * 1000);
	queue_get_stats(q, &st);
	CHECK_INT(st.recycled, 1);
	CHECK_INT(count_files(dir), 0);
	CHECK(count_entries(dir) >= 32);	/* 33 unless the refill lost */
	CHECK_INT(count_files(dir), 0);		/* spool file removed */
	queue_close(&q);
	CHECK(q == NULL);
	fake_fini(&a);
out:
	queue_close(&q);
	rm_dir(dir);
	free(dir);
}

static enum queue_rcpt_status
verdict_retry(struct fake_agent *a, const char *addr, unsigned nth,
    struct queue_job_rcpt *jr)
{
	(void)a;
	if (strcmp(addr, "a@example.com") == 0 && nth >= 1)
		return QUEUE_RCPT_DELIVERED;	/* second attempt works */
	jr->error = xstrdup("451 4.3.0 try\r\nlater");
	return QUEUE_RCPT_DEFERRED;
}

/*
 * retry_first 1 s, retry_max 2 s, lifetime 3 s: "a" is delivered on its
 * second attempt; "b" is tried at about 0, 1 and 3 s (doubled, then cut
 * at the lifetime) and then fails with "lifetime expired".
 */
static void
test_deferred_retry(void)
{
	char *dir = tmpdir_new();
	struct queue_config c = config(dir);
	struct fake_agent a;
	struct listed l;
	const char *err = NULL;
	int64_t t_b[3] = { 0 }, t_a[2] = { 0 };
	size_t i, nb = 0, na = 0;
	struct queue *q;

	c.retry_first = 1;
	c.retry_max = 2;
	c.lifetime = 3;
	c.delay_warning = 1;
	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		return;
	fake_init(&a, verdict_retry);
	queue_start(q, fake_deliver, &a);
	if (!CHECK(accept_msg(q, two_rcpts, 2, body1) != NULL))
		goto out;
	CHECK(wait_nlog(&a, 2, 3000));
	usleep(100 * 1000);
	/* after the first round both are deferred, durably */
	list_dir(dir, &l);
	CHECK_INT(l.n, 1);
	CHECK_INT(l.status[0][0], QUEUE_RCPT_DEFERRED);
	CHECK_INT(l.status[0][1], QUEUE_RCPT_DEFERRED);
	CHECK_INT(l.attempts[0][1], 1);
	CHECK(l.next[0][1] >= time(NULL));
	CHECK_STR(l.error[0][1], "451 4.3.0 try  later");

	CHECK(wait_empty(q, 6000));
	CHECK_INT(count_files(dir), 0);
	pthread_mutex_lock(&a.mu);
	for (i = 0; i < a.nlog; i++) {
		if (strcmp(a.log[i].addr, "b@example.com") == 0 && nb < 3)
			t_b[nb++] = a.log[i].at_ms;
		if (strcmp(a.log[i].addr, "a@example.com") == 0 && na < 2)
			t_a[na++] = a.log[i].at_ms;
	}
	CHECK_INT(a.nlog, 5);		/* a twice, b three times */
	/* a delay warning (after 1 s) and then the bounce, both about b */
	CHECK_INT(a.nnotices, 2);
	if (a.nnotices == 2) {
		CHECK_STR(a.notice_rcpt[0], "sender@example.org");
		CHECK(strstr(a.notice_body[0], "Action: delayed") != NULL);
		CHECK(strstr(a.notice_body[0], "b@example.com") != NULL);
		CHECK(strstr(a.notice_body[0], "a@example.com") == NULL);
		CHECK(strstr(a.notice_body[1], "Action: failed") != NULL);
		CHECK(strstr(a.notice_body[1], "b@example.com") != NULL);
		CHECK(strstr(a.notice_body[1],
		    "Diagnostic-Code: smtp; 451 4.3.0 try") != NULL);
		CHECK(strstr(a.notice_body[1], "Status: 4.3.0") != NULL);
		if (getenv("QUEUE_TEST_SHOW") != NULL)
			fprintf(stderr, "%s\n%s\n", a.notice_body[0],
			    a.notice_body[1]);
	}
	pthread_mutex_unlock(&a.mu);
	CHECK_INT(na, 2);
	CHECK_INT(nb, 3);
	if (na == 2 && nb == 3) {
		CHECK(t_a[1] - t_a[0] >= 990 && t_a[1] - t_a[0] < 1600);
		CHECK(t_b[1] - t_b[0] >= 990 && t_b[1] - t_b[0] < 1600);
		/* 2 s doubled delay, cut at the lifetime (arrival + 3 s) */
		CHECK(t_b[2] - t_b[1] >= 1800 && t_b[2] - t_b[1] < 2600);
	}
out:
	queue_close(&q);
	fake_fini(&a);
	rm_dir(dir);
	free(dir);
}

static enum queue_rcpt_status
verdict_flush(struct fake_agent *a, const char *addr, unsigned nth,
    struct queue_job_rcpt *jr)
{
	(void)a;
	(void)addr;
	(void)jr;
	return nth == 0 ? QUEUE_RCPT_DEFERRED : QUEUE_RCPT_DELIVERED;
}

static void
test_flush(void)
{
	char *dir = tmpdir_new();
	struct queue_config c = config(dir);
	struct fake_agent a;
	const char *err = NULL;
	struct queue *q;
	int64_t t0;

	c.retry_first = 600;	/* would be ten minutes */
	c.retry_max = 600;
	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		return;
	fake_init(&a, verdict_flush);
	queue_start(q, fake_deliver, &a);
	if (!CHECK(accept_msg(q, two_rcpts, 1, body1) != NULL))
		goto out;
	CHECK(wait_nlog(&a, 1, 3000));
	usleep(50 * 1000);
	CHECK_INT(fake_nlog(&a), 1);
	t0 = queue_now_ms();
	queue_flush(q);
	CHECK(wait_empty(q, 3000));
	CHECK_INT(fake_nlog(&a), 2);
	CHECK(queue_now_ms() - t0 < 2000);
out:
	queue_close(&q);
	fake_fini(&a);
	rm_dir(dir);
	free(dir);
}

static enum queue_rcpt_status
verdict_forward(struct fake_agent *a, const char *addr, unsigned nth,
    struct queue_job_rcpt *jr)
{
	(void)a;
	(void)nth;
	if (strcmp(addr, "alias@example.com") == 0) {
		jr->forward = xcalloc(3, sizeof(char *));
		jr->forward[0] = xstrdup("r1@remote.example");
		jr->forward[1] = xstrdup("r2@remote.example");
		jr->forward[2] = xstrdup("ALIAS@example.com");	/* dup */
		jr->nforward = 3;
		return QUEUE_RCPT_DELIVERED;
	}
	jr->error = xstrdup("remote down");
	return QUEUE_RCPT_DEFERRED;
}

static void
test_forward(void)
{
	static const char *const rcpts[] = { "alias@example.com" };
	char *dir = tmpdir_new();
	struct queue_config c = config(dir);
	struct fake_agent a;
	struct listed l;
	const char *err = NULL;
	struct queue_stats st;
	struct queue *q;

	c.retry_first = 600;
	c.retry_max = 600;
	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		return;
	fake_init(&a, verdict_forward);
	queue_start(q, fake_deliver, &a);
	if (!CHECK(accept_msg(q, rcpts, 1, body1) != NULL))
		goto out;
	/* alias, then r1 and r2 in a second round */
	CHECK(wait_nlog(&a, 3, 3000));
	usleep(50 * 1000);
	queue_close(&q);
	CHECK_INT(a.nlog, 3);
	CHECK_INT(a.calls, 2);

	list_dir(dir, &l);
	CHECK_INT(l.n, 1);
	CHECK_INT(l.nrcpts[0], 3);
	CHECK_STR(l.rcpt[0][0], "alias@example.com");
	CHECK_INT(l.status[0][0], QUEUE_RCPT_DELIVERED);
	CHECK_STR(l.rcpt[0][1], "r1@remote.example");
	CHECK_INT(l.status[0][1], QUEUE_RCPT_DEFERRED);
	CHECK_STR(l.error[0][1], "remote down");
	CHECK_STR(l.rcpt[0][2], "r2@remote.example");
	CHECK_INT(l.status[0][2], QUEUE_RCPT_DEFERRED);
	CHECK_INT(l.attempts[0][2], 1);

	/* the forwarded recipients survive a restart; flush delivers them
	 * and only them */
	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		goto out;
	queue_get_stats(q, &st);
	CHECK_INT(st.messages, 1);
	a.verdict = verdict_deliver;
	queue_start(q, fake_deliver, &a);
	queue_flush(q);
	CHECK(wait_empty(q, 3000));
	CHECK_INT(fake_nlog(&a), 5);
	CHECK_STR(a.log[3].addr, "r1@remote.example");
	CHECK_STR(a.log[4].addr, "r2@remote.example");
	CHECK_INT(count_files(dir), 0);
out:
	queue_close(&q);
	fake_fini(&a);
	rm_dir(dir);
	free(dir);
}

static int recycle_hold;	/* __atomic */

/* M1 (first message): deferred once, then delivered; anything else waits
 * while recycle_hold is set, then is delivered. */
static enum queue_rcpt_status
verdict_recycle(struct fake_agent *a, const char *addr, unsigned nth,
    struct queue_job_rcpt *jr)
{
	(void)a;
	(void)addr;
	if (a->nlog == 0) {
		jr->error = xstrdup("first try fails");
		return QUEUE_RCPT_DEFERRED;
	}
	(void)nth;
	while (__atomic_load_n(&recycle_hold, __ATOMIC_SEQ_CST))
		usleep(1000);
	return QUEUE_RCPT_DELIVERED;
}

/*
 * A finished message's file is reused for the next one.  The old file
 * held a state record right after a body of the same length, exactly
 * where the new message's records would start: the file must be cut to
 * the new length so that record cannot be taken for the new message's.
 */
static void
test_recycle(void)
{
	static const char *const r1[] = { "a@example.com" };
	char *dir = tmpdir_new(), *p1 = NULL, *p2 = NULL;
	struct queue_config c = config(dir);
	struct queue_msg *m = NULL;
	struct fake_agent a;
	struct queue_stats st;
	const char *err = NULL, *id;
	struct stat sb1, sb2;
	struct queue *q;
	int dirfd;

	c.retry_first = 600;
	c.retry_max = 600;
	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		return;
	fake_init(&a, verdict_recycle);
	queue_start(q, fake_deliver, &a);
	CHECK(wait_entries(dir, 32, 5000));	/* the pool is full */
	id = accept_msg(q, r1, 1, body1);
	if (!CHECK(id != NULL))
		goto out;
	p1 = xasprintf("%s/%s", dir, id);
	CHECK(wait_nlog(&a, 1, 3000));
	usleep(50 * 1000);
	CHECK_INT(stat(p1, &sb1), 0);	/* with the deferral recorded */
	queue_flush(q);
	CHECK(wait_empty(q, 3000));
	usleep(20 * 1000);
	queue_get_stats(q, &st);
	CHECK_INT(st.recycled, 1);

	__atomic_store_n(&recycle_hold, 1, __ATOMIC_SEQ_CST);
	id = accept_msg(q, r1, 1, body1);
	if (!CHECK(id != NULL))
		goto out;
	p2 = xasprintf("%s/%s", dir, id);
	CHECK_INT(stat(p2, &sb2), 0);
	CHECK_INT(sb2.st_ino, sb1.st_ino);	/* the same file, reused */
	CHECK(sb2.st_size < sb1.st_size);	/* cut: no old record left */
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK_INT(queue_spool_load(dirfd, id, QUEUE_LOAD_F_VERIFY, &m, &err),
	    1);
	close(dirfd);
	if (m != NULL) {
		CHECK_INT(sb2.st_size, m->body_offset + m->size);
		CHECK_INT(m->nrcpts, 1);
		CHECK_INT(m->rcpts[0].status, QUEUE_RCPT_PENDING);
		CHECK_INT(m->rcpts[0].attempts, 0);
		queue_msg_free(&m);
	}
	__atomic_store_n(&recycle_hold, 0, __ATOMIC_SEQ_CST);
	CHECK(wait_empty(q, 3000));
	CHECK_INT(fake_nlog(&a), 3);
out:
	__atomic_store_n(&recycle_hold, 0, __ATOMIC_SEQ_CST);
	queue_close(&q);
	fake_fini(&a);
	free(p1);
	free(p2);
	rm_dir(dir);
	free(dir);
}

/* Messages are handed to the agent in the order they were accepted, also
 * when many arrive within the same millisecond. */
static void
test_fifo(void)
{
	static const char *const r1[] = { "x@example.com" };
	char *dir = tmpdir_new();
	struct queue_config c = config(dir);
	char ids[40][QUEUE_ID_LEN + 1];
	struct commit_result res[40];
	struct fake_agent a;
	const char *err = NULL;
	struct queue *q;
	size_t i, n = 40;

	memset(res, 0, sizeof(res));
	c.batch_max = 7;	/* several batches */
	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		return;
	/* all at once: most share their arrival millisecond */
	for (i = 0; i < n; i++) {
		struct queue_envelope env = { .sender = "s@example.org",
		    .rcpts = r1, .nrcpts = 1 };
		struct queue_incoming *in = queue_incoming_new(q, &env, &err);

		if (!CHECK(in != NULL))
			goto out;
		memcpy(ids[i], queue_incoming_id(in), sizeof(ids[i]));
		CHECK_INT(queue_incoming_write(in, "fifo\r\n", 6), 0);
		queue_incoming_commit(in, commit_cb, &res[i]);
	}
	for (i = 0; i < n; i++) {
		CHECK(wait_commit(q, &res[i]));
		CHECK_INT(res[i].status, 0);
	}
	fake_init(&a, verdict_deliver);
	queue_start(q, fake_deliver, &a);
	CHECK(wait_empty(q, 5000));
	CHECK_INT(fake_nlog(&a), n);
	for (i = 0; i < n && i < a.nlog; i++)
		CHECK_STR(a.log[i].qid, ids[i]);
	queue_close(&q);
	fake_fini(&a);
out:
	queue_close(&q);
	rm_dir(dir);
	free(dir);
}

/* Reads a whole spool file. */
static void
slurp(const char *dir, const char *qid, struct buf *b)
{
	char *p = xasprintf("%s/%s", dir, qid);

	buf_init(b, 1u << 26);
	CHECK_INT(read_file(p, b), 0);
	free(p);
}

/* Writes a copy of data under another id (the id inside changed too). */
static void
plant(const char *dir, const struct buf *src, const char *newid,
    void (*edit)(struct buf *))
{
	struct buf b;
	char *p = xasprintf("%s/%s", dir, newid);

	buf_init(&b, 1u << 26);
	CHECK_INT(buf_append(&b, src->data, src->len), 0);
	memcpy(b.data + sizeof(QUEUE_MAGIC) - 1, newid, QUEUE_ID_LEN);
	if (edit != NULL)
		edit(&b);
	CHECK_INT(write_file_atomic(p, b.data, b.len, 0600), 0);
	buf_fini(&b);
	free(p);
}

static void
edit_uncommitted(struct buf *b)
{
	memcpy(b->data + QUEUE_MAGIC_LINE_LEN,
	    "commit ---------------- --------\n", QUEUE_COMMIT_LINE_LEN);
}

static void
edit_torn_body(struct buf *b)
{
	b->data[b->len - 3] ^= 0x20;	/* same length, other bytes */
}

static void
edit_short(struct buf *b)
{
	b->len -= 5;
}

static void
edit_bad_magic(struct buf *b)
{
	b->data[0] = 'X';
}

/* a good state block (b delivered), then a torn one */
static size_t a5_good_len;

static void
edit_state_tail(struct buf *b)
{
	struct queue_rcpt r = { .status = QUEUE_RCPT_DELIVERED,
	    .attempts = 1 };
	size_t start = b->len;

	CHECK_INT(queue_spool_block_rcpt(b, 1, &r), 0);
	CHECK_INT(queue_spool_block_end(b, start), 0);
	a5_good_len = b->len;
	start = b->len;
	r.status = QUEUE_RCPT_FAILED;
	CHECK_INT(queue_spool_block_rcpt(b, 0, &r), 0);
	CHECK_INT(queue_spool_block_end(b, start), 0);
	b->data[b->len - 4] = b->data[b->len - 4] == '0' ? '1' : '0';
	CHECK_INT(buf_append_str(b, "s 0 deli"), 0);
}

static void
test_recovery(void)
{
	char *dir = tmpdir_new(), *p;
	struct queue_config c = config(dir);
	const char *err = NULL, *id;
	char qid[QUEUE_ID_LEN + 1];
	struct queue_envelope env = { .sender = "", .rcpts = two_rcpts,
	    .nrcpts = 2 };
	struct queue_stats st;
	struct listed l;
	struct fake_agent a;
	struct buf good;
	struct stat sb;
	struct queue *q;

	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		return;
	id = accept_msg(q, two_rcpts, 2, body1);
	if (!CHECK(id != NULL))
		goto out;
	snprintf(qid, sizeof(qid), "%s", id);
	queue_close(&q);
	/* a message being received when the process dies */
	if (fork() == 0) {
		static char big[100000];
		struct queue_incoming *in;

		q = queue_open(&c, &err);
		in = q != NULL ? queue_incoming_new(q, &env, &err) : NULL;
		if (in == NULL ||
		    queue_incoming_write(in, big, sizeof(big)) < 0)
			_exit(1);
		_exit(0);
	}
	CHECK_INT(wait(NULL) > 0, 1);
	CHECK_INT(count_files(dir), 2);

	slurp(dir, qid, &good);
	plant(dir, &good, "00000000000000a1", edit_uncommitted);
	plant(dir, &good, "00000000000000a2", edit_torn_body);
	plant(dir, &good, "00000000000000a3", edit_short);
	plant(dir, &good, "00000000000000a4", edit_bad_magic);
	plant(dir, &good, "00000000000000a5", edit_state_tail);
	p = xasprintf("%s/%s", dir, "00000000000000a6");
	/* crashed right after creation */
	CHECK_INT(write_file_atomic(p, "", 0, 0600), 0);
	free(p);
	CHECK_INT(count_files(dir), 7);	/* a6 is empty */

	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		goto out2;
	queue_get_stats(q, &st);
	CHECK_INT(st.messages, 2);	/* qid and a5 */
	/* incomplete ones removed; the bad one set aside */
	CHECK_INT(count_files(dir), 3);
	p = xasprintf("%s/00000000000000a4.corrupt", dir);
	CHECK_INT(stat(p, &sb), 0);
	free(p);
	p = xasprintf("%s/00000000000000a6", dir);
	CHECK_INT(stat(p, &sb), -1);
	free(p);
	/* the torn tail of a5 was cut back to the good block */
	p = xasprintf("%s/00000000000000a5", dir);
	CHECK_INT(stat(p, &sb), 0);
	CHECK_INT(sb.st_size, a5_good_len);
	free(p);
	list_dir(dir, &l);
	CHECK_INT(l.n, 2);
	/* same arrival: by id */
	CHECK_STR(l.qid[0], "00000000000000a5");
	CHECK_STR(l.qid[1], qid);
	CHECK_INT(l.status[0][0], QUEUE_RCPT_PENDING);
	CHECK_INT(l.status[0][1], QUEUE_RCPT_DELIVERED);
	CHECK_INT(l.status[1][0], QUEUE_RCPT_PENDING);

	/* delivery: the original twice, a5 only for a@ */
	fake_init(&a, verdict_deliver);
	queue_start(q, fake_deliver, &a);
	CHECK(wait_empty(q, 3000));
	CHECK_INT(fake_nlog(&a), 3);
	CHECK_INT(fake_attempts(&a, "00000000000000a5", "a@example.com"), 1);
	CHECK_INT(fake_attempts(&a, "00000000000000a5", "b@example.com"), 0);
	CHECK_INT(fake_attempts(&a, qid, "b@example.com"), 1);
	CHECK_MEM(a.last_body.data, a.last_body.len, body1, strlen(body1));
	fake_fini(&a);
out2:
	buf_fini(&good);
out:
	queue_close(&q);
	rm_dir(dir);
	free(dir);
}

static void
test_list_delete_rescan(void)
{
	static const char *const r1[] = { "x@example.com" };
	char *dir = tmpdir_new();
	struct queue_config c = config(dir);
	const char *err = NULL, *id;
	char q1[QUEUE_ID_LEN + 1], q2[QUEUE_ID_LEN + 1];
	struct queue_stats st;
	struct listed l;
	struct queue *q;

	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		return;
	id = accept_msg(q, r1, 1, "first\r\n");
	if (!CHECK(id != NULL))
		goto out;
	snprintf(q1, sizeof(q1), "%s", id);
	usleep(5 * 1000);
	id = accept_msg(q, two_rcpts, 2, "second\r\n");
	if (!CHECK(id != NULL))
		goto out;
	snprintf(q2, sizeof(q2), "%s", id);
	list_dir(dir, &l);
	CHECK_INT(l.n, 2);
	CHECK_STR(l.qid[0], q1);	/* arrival order */
	CHECK_STR(l.qid[1], q2);
	CHECK_INT(l.size[0], 7);
	CHECK_INT(l.nrcpts[1], 2);

	CHECK_INT(queue_delete(dir, q1, &err), 0);
	CHECK_INT(queue_delete(dir, q1, &err), -1);
	CHECK_STR(err, "no such message");
	CHECK_INT(queue_delete(dir, "../../etc/passwd", &err), -1);
	CHECK_INT(queue_delete(dir, "0123456789abcdeg", &err), -1);
	list_dir(dir, &l);
	CHECK_INT(l.n, 1);
	CHECK_STR(l.qid[0], q2);

	queue_get_stats(q, &st);
	CHECK_INT(st.messages, 2);
	queue_rescan(q);
	queue_get_stats(q, &st);
	CHECK_INT(st.messages, 1);
	CHECK_INT(queue_list("/nonexistent/queue", list_cb, &l, &err), -1);
out:
	queue_close(&q);
	rm_dir(dir);
	free(dir);
}

static void
test_envelope_checks_and_abort(void)
{
	static const char *const bad[] = { "a@example.com\r\nRCPT x" };
	static const char *const empty[] = { "" };
	char *dir = tmpdir_new();
	struct queue_config c = config(dir);
	struct queue_envelope env = { .sender = "s@example.org",
	    .rcpts = bad, .nrcpts = 1 };
	struct commit_result res = { 0 };
	struct queue_incoming *in;
	const char *err = NULL;
	struct queue *q;
	struct stat sb;
	unsigned i;
	char *p;

	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		return;
	CHECK(queue_incoming_new(q, &env, &err) == NULL);
	env.rcpts = empty;
	CHECK(queue_incoming_new(q, &env, &err) == NULL);
	env.rcpts = two_rcpts;
	env.nrcpts = 0;
	CHECK(queue_incoming_new(q, &env, &err) == NULL);
	env.nrcpts = 2;
	env.sender = "evil\nsender";
	CHECK(queue_incoming_new(q, &env, &err) == NULL);
	CHECK_INT(count_files(dir), 0);

	env.sender = "s@example.org";
	/* abort: with a pool file, without one, and a large message that
	 * had to create its file early */
	for (i = 0; i < 3; i++) {
		static char big[200000];

		queue_pool_set(q, i == 0 ? 64 : 0);
		if (i == 0)
			CHECK(wait_entries(dir, 32, 5000));
		in = queue_incoming_new(q, &env, &err);
		if (!CHECK(in != NULL))
			goto out;
		p = xasprintf("%s/%s", dir, queue_incoming_id(in));
		CHECK_INT(stat(p, &sb), i == 0 ? 0 : -1);
		CHECK_INT(queue_incoming_write(in, big, i == 2 ?
		    sizeof(big) : 3), 0);
		CHECK_INT(stat(p, &sb), i == 1 ? -1 : 0);
		queue_incoming_abort(&in);
		CHECK(in == NULL);
		queue_incoming_abort(&in);	/* NULL: no-op */
		CHECK_INT(stat(p, &sb), -1);
		free(p);
		CHECK_INT(count_files(dir), 0);
	}

	/* an empty message is still a message */
	in = queue_incoming_new(q, &env, &err);
	queue_incoming_commit(in, commit_cb, &res);
	CHECK(wait_commit(q, &res));
	CHECK_INT(res.status, 0);
	queue_close(&q);
	q = queue_open(&c, &err);
	CHECK(q != NULL);
	if (q != NULL) {
		struct queue_stats st;

		queue_get_stats(q, &st);
		CHECK_INT(st.messages, 1);
	}
out:
	queue_close(&q);
	rm_dir(dir);
	free(dir);
}

/* A 3 MiB message for 500 recipients (a 30 KiB envelope) written in
 * uneven pieces, read back after a restart (the CRC check runs, as no
 * state was recorded yet). */
static void
test_big_message(void)
{
	enum { NR = 500 };
	static char addrs[NR][64];
	static const char *rcpts[NR];
	char *dir = tmpdir_new();
	struct queue_config c = config(dir);
	struct queue_envelope env = { .sender = "s@example.org",
	    .rcpts = rcpts, .nrcpts = NR, .body_8bit = 1, .smtputf8 = 1 };
	struct listed l;
	unsigned i;
	struct commit_result res = { 0 };
	struct queue_incoming *in;
	struct fake_agent a;
	const char *err = NULL;
	size_t total = 3u * 1024 * 1024, off = 0, k = 1;
	struct queue_stats st;
	uint8_t *body;
	struct queue *q;

	for (i = 0; i < NR; i++) {
		snprintf(addrs[i], sizeof(addrs[i]),
		    "recipient-number-%u@a-rather-long-domain.example", i);
		rcpts[i] = addrs[i];
	}
	body = xmalloc(total);
	random_bytes(body, total);
	c.sync = QUEUE_SYNC_FILES;
	c.batch_max = 1;
	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		goto out;
	in = queue_incoming_new(q, &env, &err);
	if (!CHECK(in != NULL))
		goto out;
	while (off < total) {
		size_t n = total - off < k ? total - off : k;

		CHECK_INT(queue_incoming_write(in, body + off, n), 0);
		off += n;
		k = k * 3 + 1;
		if (k > 200000)
			k = 5;
	}
	queue_incoming_commit(in, commit_cb, &res);
	CHECK(wait_commit(q, &res));
	CHECK_INT(res.status, 0);
	queue_close(&q);

	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		goto out;
	queue_get_stats(q, &st);
	CHECK_INT(st.messages, 1);
	list_dir(dir, &l);
	CHECK_INT(l.n, 1);
	CHECK_INT(l.nrcpts[0], NR);
	CHECK_INT(l.size[0], total);
	CHECK_STR(l.rcpt[0][7],
	    "recipient-number-7@a-rather-long-domain.example");
	fake_init(&a, verdict_deliver);
	queue_start(q, fake_deliver, &a);
	CHECK(wait_empty(q, 5000));
	CHECK_INT(fake_nlog(&a), NR);
	CHECK_MEM(a.last_body.data, a.last_body.len, body, total);
	fake_fini(&a);
out:
	queue_close(&q);
	free(body);
	rm_dir(dir);
	free(dir);
}

/*
 * A write error (here the file-size limit, EFBIG) fails the commit: the
 * callback reports it, and the file is removed.  Both ways: a large
 * message failing while it streams into a pool file, and a small one,
 * kept in memory, failing when the committer writes it.  In a child
 * process, so the limit does not touch the other tests.
 */
static int
write_failure_child(const char *dir, bool in_memory)
{
	static char big[300000];
	struct queue_config c = config(dir);
	struct queue_envelope env = { .sender = "s@example.org",
	    .rcpts = two_rcpts, .nrcpts = 2 };
	struct commit_result res = { 0 };
	struct rlimit rl = { 20000, 20000 };
	struct queue_incoming *in;
	const char *err = NULL;
	struct queue *q;
	int rc = 0, w;

	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		return 10;
	q = queue_open(&c, &err);
	if (q == NULL)
		return 11;
	if (in_memory)
		queue_pool_set(q, 0);
	in = queue_incoming_new(q, &env, &err);
	if (in == NULL)
		return 12;
	w = queue_incoming_write(in, big, in_memory ? 30000 : sizeof(big));
	if (w != (in_memory ? 0 : -1))
		rc |= 1;
	queue_incoming_commit(in, commit_cb, &res);
	if (!wait_commit(q, &res))
		rc |= 2;
	if (res.status != -1)
		rc |= 4;
	queue_close(&q);
	if (count_files(dir) != 0)
		rc |= 8;
	return rc;
}

static void
test_write_failure(void)
{
	int pass;

	for (pass = 0; pass < 2; pass++) {
		char *dir = tmpdir_new();
		int status;
		pid_t pid;

		ASSERT(mkdir_p(dir, 0700) == 0);
		pid = fork();
		ASSERT(pid >= 0);
		if (pid == 0)
			_exit(write_failure_child(dir, pass == 1));
		waitpid(pid, &status, 0);
		CHECK(WIFEXITED(status));
		CHECK_INT(WEXITSTATUS(status), 0);
		rm_dir(dir);
		free(dir);
	}
}

/* ---- crash safety ---- */

/*
 * The child reports to the parent through a pipe, in lines of 18 bytes
 * (atomic pipe writes, so the loop and worker threads do not mix them):
 * "A<qid>\n" once a commit succeeded (the 250 would go out now), and
 * "D<qid>\n" when its agent delivered a message (both recipients).
 */
#define CRASH_LINE	(1 + QUEUE_ID_LEN + 1)

struct crash_slot {
	int	 fd;
	char	 qid[QUEUE_ID_LEN + 1];
};

static unsigned crash_in_flight;

static void
crash_report(int fd, char kind, const char *qid)
{
	char line[CRASH_LINE];

	line[0] = kind;
	memcpy(line + 1, qid, QUEUE_ID_LEN);
	line[CRASH_LINE - 1] = '\n';
	if (write_all(fd, line, sizeof(line)) < 0)
		_exit(3);
}

static void
crash_commit_cb(void *ctx, int status, const char *error)
{
	struct crash_slot *s = ctx;

	(void)error;
	crash_in_flight--;
	if (status == 0)
		crash_report(s->fd, 'A', s->qid);
}

/* Defers everything: only state records are written. */
static void
child_defer(void *ctx, struct queue_job *const *jobs, size_t njobs)
{
	size_t i, j;

	(void)ctx;
	for (i = 0; i < njobs; i++) {
		for (j = 0; j < jobs[i]->nrcpts; j++) {
			jobs[i]->rcpts[j].status = QUEUE_RCPT_DEFERRED;
			jobs[i]->rcpts[j].error = xstrdup("later");
		}
	}
}

/* Delivers everything: finished files are recycled into the pool. */
static void
child_deliver(void *ctx, struct queue_job *const *jobs, size_t njobs)
{
	const int *wfd = ctx;
	size_t i, j;

	for (i = 0; i < njobs; i++) {
		ASSERT(jobs[i]->nrcpts == 2);
		for (j = 0; j < jobs[i]->nrcpts; j++)
			jobs[i]->rcpts[j].status = QUEUE_RCPT_DELIVERED;
		crash_report(*wfd, 'D', jobs[i]->qid);
	}
}

/* The child: accepts messages as fast as it can, like 16 sessions that
 * each wait for their reply before sending the next message. */
static void __attribute__((noreturn))
crash_child(const char *dir, int wfd, unsigned round)
{
	struct queue_config c = config(dir);
	struct crash_slot *slots;
	struct queue_envelope env = { .sender = "s@example.org",
	    .rcpts = two_rcpts, .nrcpts = 2 };
	const char *err = NULL;
	struct queue *q;
	unsigned n = 0, i;
	static int fd;

	fd = wfd;
	c.retry_first = 60;
	c.sync = round >= 4 ? QUEUE_SYNC_FILES : QUEUE_SYNC_SYNCFS;
	q = queue_open(&c, &err);
	if (q == NULL)
		_exit(2);
	/* rounds 0, 2, 4: defer; 1, 3, 5: deliver.  Rounds 2 and 3 run
	 * without a pool, so the committer creates every file; rounds 4
	 * and 5 flush file by file. */
	queue_start(q, round % 2 == 0 ? child_defer : child_deliver, &fd);
	if (round / 2 == 1)
		queue_pool_set(q, 0);
	/* one commit context per message (left to the kill) */
	slots = xcalloc(1u << 20, sizeof(*slots));
	for (;;) {
		for (i = 0; crash_in_flight < 16; i++, n++) {
			struct queue_incoming *in;
			char body[256];

			in = queue_incoming_new(q, &env, &err);
			if (in == NULL)
				_exit(4);
			slots[n].fd = wfd;
			memcpy(slots[n].qid, queue_incoming_id(in),
			    QUEUE_ID_LEN + 1);
			snprintf(body, sizeof(body), "Subject: %u\r\n\r\n"
			    "id %s\r\n", n, slots[n].qid);
			if (queue_incoming_write(in, body, strlen(body)) < 0)
				_exit(5);
			crash_in_flight++;
			queue_incoming_commit(in, crash_commit_cb, &slots[n]);
		}
		usleep(200);
		queue_run_completions(q);
	}
}

/* Times qid occurs as a line of the given kind in the report. */
static unsigned
crash_count(const struct buf *rep, char kind, const char *qid)
{
	size_t i, n = rep->len / CRASH_LINE;
	unsigned c = 0;

	for (i = 0; i < n; i++) {
		const uint8_t *l = rep->data + i * CRASH_LINE;

		if (l[0] == kind && memcmp(l + 1, qid, QUEUE_ID_LEN) == 0)
			c++;
	}
	return c;
}

static void
test_crash_safety(void)
{
	unsigned round;

	for (round = 0; round < 6; round++) {
		char *dir = tmpdir_new();
		struct queue_config c = config(dir);
		struct fake_agent a;
		struct buf rep;
		const char *err = NULL;
		int pfd[2], status;
		size_t nlines, nacked = 0, nchild = 0, i, j;
		size_t dup = 0, missing = 0, again = 0;
		struct queue *q;
		pid_t pid;
		unsigned delay_ms;

		ASSERT(mkdir_p(dir, 0700) == 0);
		ASSERT(pipe(pfd) == 0);
		pid = fork();
		ASSERT(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			crash_child(dir, pfd[1], round);
		}
		close(pfd[1]);
		/* once the child acknowledged its first message, kill it at
		 * a different point each round */
		buf_init(&rep, 1u << 26);
		while (rep.len < CRASH_LINE) {
			char tmp[64];
			ssize_t r = read(pfd[0], tmp, sizeof(tmp));

			if (r <= 0)
				break;
			CHECK_INT(buf_append(&rep, tmp, (size_t)r), 0);
		}
		delay_ms = (unsigned)(random() % 150);
		usleep(delay_ms * 1000);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		CHECK(WIFSIGNALED(status));
		for (;;) {
			char tmp[4096];
			ssize_t r = read(pfd[0], tmp, sizeof(tmp));

			if (r <= 0)
				break;
			CHECK_INT(buf_append(&rep, tmp, (size_t)r), 0);
		}
		close(pfd[0]);
		nlines = rep.len / CRASH_LINE;	/* whole lines only */

		/* recover and deliver what is left */
		q = queue_open(&c, &err);
		if (!CHECK(q != NULL)) {
			buf_fini(&rep);
			continue;
		}
		fake_init(&a, verdict_deliver);
		queue_start(q, fake_deliver, &a);
		queue_flush(q);
		CHECK(wait_empty(q, 20000));
		queue_close(&q);

		for (i = 0; i < nlines; i++) {
			const uint8_t *l = rep.data + i * CRASH_LINE;
			char qid[QUEUE_ID_LEN + 1];
			unsigned na, nb, nd;

			memcpy(qid, l + 1, QUEUE_ID_LEN);
			qid[QUEUE_ID_LEN] = '\0';
			if (l[0] == 'D') {
				nchild++;
				continue;
			}
			CHECK_INT(l[0], 'A');
			nacked++;
			na = fake_attempts(&a, qid, "a@example.com");
			nb = fake_attempts(&a, qid, "b@example.com");
			nd = crash_count(&rep, 'D', qid);
			/* every acknowledged message is delivered */
			if ((na == 0 || nb == 0) && nd == 0)
				missing++;
			/* delivered by the child and again after the crash:
			 * only possible for the batch the kill interrupted
			 * (its states were not written yet) */
			if (nd > 0 && (na > 0 || nb > 0))
				again++;
			if (na > 1 || nb > 1 || nd > 1)
				dup++;
		}
		CHECK(nacked > 0);
		CHECK_INT(missing, 0);
		CHECK_INT(dup, 0);
		CHECK(again <= c.batch_max);
		/* the parent delivered nothing twice at all */
		for (i = 0; i + 1 < a.nlog; i++) {
			for (j = i + 1; j < a.nlog; j++) {
				if (strcmp(a.log[i].qid, a.log[j].qid) == 0 &&
				    strcmp(a.log[i].addr, a.log[j].addr) == 0)
					dup++;
			}
		}
		CHECK_INT(dup, 0);
		CHECK_INT(count_files(dir), 0);
		if (log_enabled(LOG_LEVEL_INFO))
			printf("crash round %u: killed after %u ms, %zu acked, "
			    "%zu delivered by the child, %zu after, "
			    "%zu again\n", round, delay_ms, nacked, nchild,
			    a.nlog / 2, again);
		fake_fini(&a);
		buf_fini(&rep);
		rm_dir(dir);
		free(dir);
	}
}

/*
 * queue_inject: from a forked child (another process, no lock) while the
 * queue is open, picked up by queue_rescan exactly once; and in-process
 * with queue_inject_msg, indexed at once.  Both are delivered.
 */
static void
test_inject(void)
{
	static const char *const r1[] = { "inj@example.com" };
	static const char data[] = "Subject: injected\r\n\r\nbody\r\n";
	static const char *const badr[] = { "x@example.com\nRCPT" };
	char *dir = tmpdir_new();
	struct queue_config c = config(dir);
	struct queue_envelope env = {
		.sender = "local@example.com",
		.rcpts = r1,
		.nrcpts = 1,
		.flags = QUEUE_ENV_F_BOUNCE,
	};
	char qid[64], qid2[64];
	struct queue_msg *m = NULL;
	struct queue_stats st;
	struct fake_agent a;
	const char *err = NULL;
	struct listed l;
	struct queue *q;
	int status, dirfd;
	pid_t pid;

	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		return;
	fake_init(&a, verdict_deliver);
	pid = fork();
	if (pid == 0) {
		char cq[64];
		const char *cerr = NULL;

		_exit(queue_inject(dir, &env, data, strlen(data), cq,
		    &cerr) == 0 && queue_id_valid(cq) ? 0 : 1);
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	list_dir(dir, &l);
	CHECK_INT(l.n, 1);
	CHECK_STR(l.sender[0], "local@example.com");
	CHECK_STR(l.rcpt[0][0], "inj@example.com");
	CHECK_INT(l.size[0], strlen(data));
	/* the envelope mark survives the file */
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK_INT(queue_spool_load(dirfd, l.qid[0], QUEUE_LOAD_F_VERIFY, &m,
	    &err), 1);
	if (m != NULL)
		CHECK_INT(m->flags, QUEUE_ENV_F_BOUNCE | QUEUE_MSG_F_INJECTED);
	queue_msg_free(&m);
	close(dirfd);

	queue_get_stats(q, &st);
	CHECK_INT(st.messages, 0);	/* not known before the rescan */
	queue_rescan(q);
	queue_get_stats(q, &st);
	CHECK_INT(st.messages, 1);
	queue_rescan(q);		/* never twice */
	queue_get_stats(q, &st);
	CHECK_INT(st.messages, 1);

	queue_start(q, fake_deliver, &a);
	CHECK(wait_nlog(&a, 1, 5000));
	CHECK(wait_empty(q, 5000));
	CHECK_MEM(a.last_body.data, a.last_body.len, data, strlen(data));

	/* in-process: indexed at once, a rescan does not add it again */
	env.flags = 0;
	CHECK_INT(queue_inject_msg(q, &env, data, strlen(data), qid, &err),
	    0);
	CHECK(queue_id_valid(qid));
	queue_rescan(q);
	CHECK(wait_nlog(&a, 2, 5000));
	CHECK(wait_empty(q, 5000));
	usleep(50 * 1000);
	CHECK_INT(fake_nlog(&a), 2);
	CHECK_STR(a.log[1].qid, qid);

	/* envelope checks as for incoming messages */
	env.rcpts = badr;
	CHECK_INT(queue_inject(dir, &env, data, strlen(data), qid2, &err),
	    -1);
	CHECK_INT(queue_inject_msg(q, &env, data, strlen(data), qid2, &err),
	    -1);
	env.rcpts = r1;
	env.sender = "a\r\nb";
	CHECK_INT(queue_inject(dir, &env, data, strlen(data), qid2, &err),
	    -1);
	CHECK_INT(queue_inject(NULL, &env, data, 1, qid2, &err), -1);
	CHECK_INT(count_files(dir), 0);	/* nothing left behind */
	queue_close(&q);

	/* a dead injector's temporary file: removed at start once old, a
	 * young one is left to its writer; neither is ever loaded */
	{
		struct timespec old[2] = { { .tv_sec = time(NULL) - 7200 },
		    { .tv_sec = time(NULL) - 7200 } };
		char qa[QUEUE_ID_LEN + 1], qb[QUEUE_ID_LEN + 1], *p;

		env.sender = "local@example.com";
		dirfd = open(dir, O_RDONLY | O_DIRECTORY);
		CHECK_INT(queue_inject_write(dirfd, &env, data, strlen(data),
		    qa, NULL, &err), 0);
		CHECK_INT(queue_inject_write(dirfd, &env, data, strlen(data),
		    qb, NULL, &err), 0);
		p = xasprintf("tmp.%s", qa);
		CHECK_INT(utimensat(dirfd, p, old, 0), 0);
		q = queue_open(&c, &err);
		CHECK(q != NULL);
		CHECK(faccessat(dirfd, p, F_OK, 0) < 0);
		free(p);
		p = xasprintf("tmp.%s", qb);
		CHECK_INT(faccessat(dirfd, p, F_OK, 0), 0);
		free(p);
		queue_get_stats(q, &st);
		CHECK_INT(st.messages, 0);
		queue_rescan(q);
		queue_get_stats(q, &st);
		CHECK_INT(st.messages, 0);
		queue_close(&q);
		close(dirfd);
	}
	fake_fini(&a);
	rm_dir(dir);
	free(dir);
}

/* ---- remote routing, bounces ---- */

/* Local agent for the remote tests: "@remote.example" is not local. */
static enum queue_rcpt_status
verdict_route(struct fake_agent *a, const char *addr, unsigned nth,
    struct queue_job_rcpt *jr)
{
	size_t n = strlen(addr);

	(void)a;
	(void)nth;
	if (n > 15 && strcmp(addr + n - 15, "@remote.example") == 0)
		return QUEUE_RCPT_REMOTE;
	if (strncmp(addr, "fail", 4) == 0) {
		jr->error = xstrdup("550 5.1.1 user unknown");
		return QUEUE_RCPT_FAILED;
	}
	return QUEUE_RCPT_DELIVERED;
}

/* A remote agent driven by the test thread (which plays the loop). */
struct fake_remote {
	struct queue		*q;
	struct queue_job	*job[16];
	size_t			 idx[16][8];
	char			 addr[16][8][64];	/* copied at call */
	char			 qid[16][QUEUE_ID_LEN + 1];
	size_t			 n[16];
	int64_t			 at_ms[16];
	size_t			 ncalls;	/* calls so far */
	size_t			 answered;	/* calls answered */
	bool			 hold;		/* don't answer yet */
	/* per address: attempt number -> verdict */
	enum queue_rcpt_status	(*verdict)(const char *addr, unsigned nth,
				    char **error_r);
	char			 seen[32][64];
	unsigned		 tries[32];
	size_t			 nseen;
};

static void
fake_remote_fn(void *ctx, struct queue_job *job, const size_t *idx,
    size_t n)
{
	struct fake_remote *r = ctx;
	size_t k = r->ncalls++, i;

	if (!CHECK(k < 16) || !CHECK(n <= 8))
		return;
	r->job[k] = job;
	r->n[k] = n;
	snprintf(r->qid[k], sizeof(r->qid[k]), "%s", job->qid);
	r->at_ms[k] = queue_now_ms();
	for (i = 0; i < n; i++) {
		r->idx[k][i] = idx[i];
		CHECK(idx[i] < job->nrcpts);
		snprintf(r->addr[k][i], 64, "%s", job->rcpts[idx[i]].addr);
		CHECK_INT(job->rcpts[idx[i]].status, QUEUE_RCPT_PENDING);
	}
}

static unsigned
remote_nth(struct fake_remote *r, const char *addr)
{
	size_t i;

	for (i = 0; i < r->nseen; i++) {
		if (strcmp(r->seen[i], addr) == 0)
			return r->tries[i]++;
	}
	if (r->nseen < 32) {
		snprintf(r->seen[r->nseen], 64, "%s", addr);
		r->tries[r->nseen++] = 1;
	}
	return 0;
}

/* drive - plays the loop thread for ms: completions, remote answers. */
static void
drive(struct fake_remote *r, int ms)
{
	int64_t end = queue_now_ms() + ms;
	size_t i;

	do {
		queue_run_completions(r->q);
		while (!r->hold && r->answered < r->ncalls &&
		    r->answered < 16) {
			size_t k = r->answered++;
			struct queue_job *job = r->job[k];

			for (i = 0; i < r->n[k]; i++) {
				struct queue_job_rcpt *jr =
				    &job->rcpts[r->idx[k][i]];

				jr->status = r->verdict(jr->addr,
				    remote_nth(r, jr->addr), &jr->error);
			}
			queue_remote_done(r->q, job);
		}
		usleep(1000);
	} while (queue_now_ms() < end);
}

static enum queue_rcpt_status
remote_script(const char *addr, unsigned nth, char **error_r)
{
	if (strncmp(addr, "ok", 2) == 0)
		return QUEUE_RCPT_DELIVERED;
	if (strncmp(addr, "bad", 3) == 0) {
		*error_r = xstrdup("host mx.remote.example[192.0.2.9] said: "
		    "550 5.1.1 no such user");
		return QUEUE_RCPT_FAILED;
	}
	/* "later": down for its first attempt, then up; "down": always */
	if (strncmp(addr, "later", 5) == 0 && nth >= 1)
		return QUEUE_RCPT_DELIVERED;
	*error_r = xstrdup("host mx.remote.example[192.0.2.9] said: "
	    "451 4.7.1 try again later");
	return QUEUE_RCPT_DEFERRED;
}

static bool
drive_until_empty(struct fake_remote *r, int ms)
{
	struct queue_stats st;
	int i;

	for (i = 0; i < ms / 10; i++) {
		drive(r, 10);
		queue_get_stats(r->q, &st);
		if (st.messages == 0)
			return true;
	}
	return false;
}

/*
 * Remote routing: the local agent marks remote recipients, the remote
 * agent gets exactly those, the message is not handed to the local agent
 * while it is out, outcomes are persisted; "destination down then up" is
 * delivered at the retry; a failure makes one bounce with Remote-MTA and
 * the server's reply; a recipient down until the lifetime fails with
 * "lifetime expired".  Without a remote agent, REMOTE is a deferral.
 */
static void
test_remote(void)
{
	static const char *const rc1[] = { "local@example.com",
	    "ok@remote.example", "later@remote.example",
	    "bad@remote.example" };
	static const char *const rc2[] = { "down@remote.example" };
	char *dir = tmpdir_new();
	struct queue_config c = config(dir);
	struct fake_remote fr;
	struct fake_agent a;
	struct listed l;
	const char *err = NULL, *id;
	char qid1[QUEUE_ID_LEN + 1];
	struct queue *q;
	size_t i, nlocal;
	int64_t t_done;

	c.retry_first = 1;
	c.retry_max = 1;
	c.lifetime = 3;
	c.hostname = "mx.example.com";

	/* no remote agent: deferred */
	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		return;
	fake_init(&a, verdict_route);
	queue_start(q, fake_deliver, &a);
	CHECK(accept_msg(q, rc2, 1, body1) != NULL);
	CHECK(wait_nlog(&a, 1, 3000));
	usleep(50 * 1000);
	list_dir(dir, &l);
	CHECK_INT(l.n, 1);
	CHECK_INT(l.status[0][0], QUEUE_RCPT_DEFERRED);
	CHECK_STR(l.error[0][0], "remote delivery not configured");
	queue_close(&q);
	fake_fini(&a);
	rm_dir(dir);
	free(dir);

	dir = tmpdir_new();
	c.dir = dir;
	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		return;
	memset(&fr, 0, sizeof(fr));
	fr.q = q;
	fr.verdict = remote_script;
	fr.hold = true;
	fake_init(&a, verdict_route);
	queue_set_remote(q, fake_remote_fn, &fr);
	queue_start(q, fake_deliver, &a);
	id = accept_msg(q, rc1, 4, body1);
	if (!CHECK(id != NULL))
		goto out;
	snprintf(qid1, sizeof(qid1), "%s", id);
	CHECK(wait_nlog(&a, 4, 3000));
	for (i = 0; i < 3000 && fr.ncalls == 0; i++)
		drive(&fr, 1);
	CHECK_INT(fr.ncalls, 1);
	/* the three remote ones, with their own addresses */
	CHECK_INT(fr.n[0], 3);
	if (fr.ncalls == 1 && fr.n[0] == 3) {
		CHECK_STR(fr.qid[0], qid1);
		CHECK_STR(fr.addr[0][0], "ok@remote.example");
		CHECK_STR(fr.addr[0][1], "later@remote.example");
		CHECK_STR(fr.addr[0][2], "bad@remote.example");
	}
	/* while the remote agent has it, the local agent never gets it */
	nlocal = fake_nlog(&a);
	queue_flush(q);
	drive(&fr, 100);
	CHECK_INT(fake_nlog(&a), nlocal);
	list_dir(dir, &l);
	CHECK_INT(l.status[0][0], QUEUE_RCPT_DELIVERED);  /* not synced,
							   * but written */
	CHECK_INT(l.status[0][1], QUEUE_RCPT_PENDING);	/* never "remote" */

	fr.hold = false;
	drive(&fr, 100);
	t_done = queue_now_ms();
	list_dir(dir, &l);
	CHECK(l.n >= 1);	/* the message (and its bounce, if not
				 * delivered yet) */
	for (i = 0; i < l.n && i < 8; i++) {
		if (strcmp(l.qid[i], qid1) != 0)
			continue;
		CHECK_INT(l.status[i][1], QUEUE_RCPT_DELIVERED);
		CHECK_INT(l.status[i][2], QUEUE_RCPT_DEFERRED);
		CHECK_INT(l.attempts[i][2], 1);
		CHECK(l.next[i][2] >= time(NULL));
		CHECK_STR(l.error[i][2], "host mx.remote.example[192.0.2.9] "
		    "said: 451 4.7.1 try again later");
		CHECK_INT(l.status[i][3], QUEUE_RCPT_FAILED);
	}
	/* down then up: delivered at the retry, a second later */
	CHECK(drive_until_empty(&fr, 4000));
	CHECK_INT(fr.ncalls, 2);
	if (fr.ncalls == 2) {
		CHECK_INT(fr.n[1], 1);
		CHECK_STR(fr.addr[1][0], "later@remote.example");
		CHECK(fr.at_ms[1] - t_done >= 850 &&
		    fr.at_ms[1] - t_done < 1800);
	}
	/* one bounce, about bad@ only, to the sender */
	CHECK_INT(a.nnotices, 1);
	if (a.nnotices == 1) {
		const char *b = a.notice_body[0];

		CHECK_STR(a.notice_rcpt[0], "sender@example.org");
		CHECK(strstr(b, "To: <sender@example.org>") != NULL);
		CHECK(strstr(b, "Final-Recipient: rfc822; bad@remote.example")
		    != NULL);
		CHECK(strstr(b, "Action: failed") != NULL);
		CHECK(strstr(b, "Status: 5.1.1") != NULL);
		CHECK(strstr(b, "Remote-MTA: dns; mx.remote.example") !=
		    NULL);
		CHECK(strstr(b, "Diagnostic-Code: smtp; 550 5.1.1 no such "
		    "user") != NULL);
		CHECK(strstr(b, "Reporting-MTA: dns; mx.example.com") !=
		    NULL);
		CHECK(strstr(b, "later@remote.example") == NULL);
		CHECK(strstr(b, "ok@remote.example") == NULL);
		CHECK(strstr(b, "Subject: hello") != NULL);
	}

	/* down until the lifetime (3 s): tried at 0, 1, 2, 3 s, then
	 * failed with "lifetime expired" and bounced */
	CHECK(accept_msg(q, rc2, 1, body1) != NULL);
	CHECK(drive_until_empty(&fr, 6000));
	CHECK_INT(fr.ncalls, 6);
	CHECK_INT(a.nnotices, 2);
	if (a.nnotices == 2) {
		CHECK(strstr(a.notice_body[1], "Final-Recipient: rfc822; "
		    "down@remote.example") != NULL);
		CHECK(strstr(a.notice_body[1], "Status: 4.7.1") != NULL);
		CHECK(strstr(a.notice_body[1], "Diagnostic-Code: smtp; 451 "
		    "4.7.1 try again later") != NULL);
	}
	CHECK_INT(count_files(dir), 0);
out:
	queue_close(&q);
	fake_fini(&a);
	rm_dir(dir);
	free(dir);
}

/* A bounce that fails goes to postmaster as a double bounce; a double
 * bounce that fails is dropped; mail from the null sender that we did
 * not generate is never bounced. */
static void
test_double_bounce(void)
{
	static const char *const r1[] = { "x@example.com" };
	static const char data[] = "Subject: bounce\r\n\r\nx\r\n";
	char *dir = tmpdir_new();
	struct queue_config c = config(dir);
	struct queue_envelope env = {
		.sender = "",
		.rcpts = r1,
		.nrcpts = 1,
	};
	struct fake_agent a;
	const char *err = NULL;
	char qid[64];
	struct queue *q;

	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		return;
	fake_init(&a, verdict_deliver);
	a.notice_verdict = QUEUE_RCPT_FAILED;
	queue_start(q, fake_deliver, &a);
	/* null sender, not ours: fails, nobody told */
	CHECK_INT(queue_inject_msg(q, &env, data, strlen(data), qid, &err),
	    0);
	CHECK(wait_empty(q, 3000));
	usleep(100 * 1000);
	CHECK(wait_empty(q, 3000));
	CHECK_INT(a.nnotices, 1);	/* itself */

	/* a bounce of ours fails: a double bounce to postmaster, which
	 * fails too and is dropped */
	env.flags = QUEUE_ENV_F_BOUNCE;
	CHECK_INT(queue_inject_msg(q, &env, data, strlen(data), qid, &err),
	    0);
	CHECK(wait_empty(q, 3000));
	usleep(200 * 1000);
	CHECK(wait_empty(q, 3000));
	CHECK_INT(a.nnotices, 3);
	if (a.nnotices == 3) {
		CHECK_STR(a.notice_rcpt[1], "x@example.com");
		CHECK_STR(a.notice_rcpt[2], "postmaster");
		CHECK(strstr(a.notice_body[2], "To: <postmaster>") != NULL);
		CHECK(strstr(a.notice_body[2],
		    "Final-Recipient: rfc822; x@example.com") != NULL);
	}
	CHECK_INT(count_files(dir), 0);
	queue_close(&q);
	fake_fini(&a);
	rm_dir(dir);
	free(dir);
}

/* Writes a message from sender@example.org to fail@example.com whose
 * state says "failed", with or without the bounce record naming dsn, as
 * a crash would leave it. */
static void
write_failed(const char *dir, const char *dsn, char qid_r[64])
{
	static const char *const r1[] = { "fail@example.com" };
	struct queue_envelope env = {
		.sender = "sender@example.org",
		.rcpts = r1,
		.nrcpts = 1,
	};
	struct queue_rcpt r = {
		.status = QUEUE_RCPT_FAILED,
		.attempts = 1,
		.last_error = (char *)"550 5.1.1 user unknown",
	};
	const char *err = NULL;
	struct buf blk;
	char *p;
	int fd;

	CHECK_INT(queue_inject(dir, &env, body1, strlen(body1), qid_r, &err),
	    0);
	buf_init(&blk, 4096);
	CHECK_INT(queue_spool_block_rcpt(&blk, 0, &r), 0);
	if (dsn != NULL)
		CHECK_INT(queue_spool_block_bounced(&blk, dsn, 0), 0);
	CHECK_INT(queue_spool_block_end(&blk, 0), 0);
	p = xasprintf("%s/%s", dir, qid_r);
	fd = open(p, O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	CHECK_INT(write_all(fd, blk.data, blk.len), 0);
	close(fd);
	free(p);
	buf_fini(&blk);
}

/*
 * A bounce is sent once, whatever the crash: after a clean reopen; when
 * the crash came after the record but before the rename (recovery
 * publishes the notice the record names); and when it came before the
 * record (the notice is built again, the stray temporary file is left
 * alone while young).
 */
static void
test_bounce_once(void)
{
	static const char *const r1[] = { "fail@example.com" };
	char *dir = tmpdir_new();
	struct queue_config c = config(dir);
	struct queue_envelope benv = {
		.sender = "",
		.rcpts = (const char *const[]){ "sender@example.org" },
		.nrcpts = 1,
		.flags = QUEUE_ENV_F_BOUNCE,
	};
	char qid[64], dsn[QUEUE_ID_LEN + 1];
	struct fake_agent a;
	const char *err = NULL;
	struct listed l;
	struct queue *q;
	int dirfd;

	/* 1: the bounce is in the spool when the queue closes */
	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		return;
	fake_init(&a, verdict_route);
	a.notice_verdict = QUEUE_RCPT_DEFERRED;	/* keep it queued */
	queue_start(q, fake_deliver, &a);
	CHECK(accept_msg(q, r1, 1, body1) != NULL);
	CHECK(wait_nlog(&a, 1, 3000));
	for (int i = 0; i < 3000 && fake_nnotices(&a) == 0; i++)
		usleep(1000);
	queue_close(&q);
	fake_fini(&a);
	list_dir(dir, &l);
	CHECK_INT(l.n, 1);		/* the original is gone */
	CHECK_STR(l.sender[0], "");
	CHECK_STR(l.rcpt[0][0], "sender@example.org");
	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		goto out;
	fake_init(&a, verdict_route);
	queue_start(q, fake_deliver, &a);
	CHECK(wait_empty(q, 3000));
	CHECK_INT(a.nnotices, 1);	/* delivered once, no new one */
	queue_close(&q);
	fake_fini(&a);
	CHECK_INT(count_files(dir), 0);

	/* 2: crash after the record, before the rename */
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK_INT(queue_inject_write(dirfd, &benv, "x\r\n", 3, dsn, NULL,
	    &err), 0);
	write_failed(dir, dsn, qid);
	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		goto out;
	list_dir(dir, &l);
	CHECK_INT(l.n, 1);
	CHECK_STR(l.qid[0], dsn);	/* published; original finished */
	fake_init(&a, verdict_route);
	queue_start(q, fake_deliver, &a);
	CHECK(wait_empty(q, 3000));
	CHECK_INT(a.nnotices, 1);
	if (a.nnotices == 1)
		CHECK_STR(a.notice_qid[0], dsn);
	queue_close(&q);
	fake_fini(&a);

	/* 3: crash before the record: built again; the stray temporary
	 * file is not published (and removed only once old) */
	CHECK_INT(queue_inject_write(dirfd, &benv, "x\r\n", 3, dsn, NULL,
	    &err), 0);
	write_failed(dir, NULL, qid);
	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		goto out;
	fake_init(&a, verdict_route);
	queue_start(q, fake_deliver, &a);
	CHECK(wait_nlog(&a, 0, 10));
	for (int i = 0; i < 3000 && fake_nnotices(&a) == 0; i++)
		usleep(1000);
	CHECK(wait_empty(q, 3000));
	usleep(100 * 1000);
	CHECK_INT(a.nnotices, 1);
	if (a.nnotices == 1) {
		CHECK(strcmp(a.notice_qid[0], dsn) != 0);
		CHECK(strstr(a.notice_body[0], "fail@example.com") != NULL);
	}
	queue_close(&q);
	fake_fini(&a);
	CHECK_INT(count_files(dir), 1);		/* tmp.<dsn> */
	close(dirfd);
out:
	queue_close(&q);
	rm_dir(dir);
	free(dir);
}

/* ---- the junk flag (inbound policy, docs/policy.md) ---- */

struct flags_agent {
	pthread_mutex_t	 mu;
	unsigned	 n;
	unsigned	 flags[4];
	char		 qid[4][QUEUE_ID_LEN + 1];
};

static void
flags_deliver(void *ctx, struct queue_job *const *jobs, size_t njobs)
{
	struct flags_agent *a = ctx;
	size_t i, j;

	pthread_mutex_lock(&a->mu);
	for (i = 0; i < njobs; i++) {
		if (a->n < 4) {
			a->flags[a->n] = jobs[i]->flags;
			snprintf(a->qid[a->n], sizeof(a->qid[0]), "%s",
			    jobs[i]->qid);
			a->n++;
		}
		for (j = 0; j < jobs[i]->nrcpts; j++)
			jobs[i]->rcpts[j].status = QUEUE_RCPT_DELIVERED;
	}
	pthread_mutex_unlock(&a->mu);
}

static void
test_junk_flag(void)
{
	static const char *const rcpt[] = { "a@example.com" };
	struct queue_envelope env = {
		.sender = "sender@example.org",
		.rcpts = rcpt,
		.nrcpts = 1,
	};
	struct flags_agent a;
	char *dir = tmpdir_new();
	struct queue_config c = config(dir);
	struct commit_result res = { 0 };
	struct queue_incoming *in;
	struct queue_msg *m = NULL;
	char junk_qid[QUEUE_ID_LEN + 1], plain_qid[QUEUE_ID_LEN + 1];
	const char *err = NULL, *id;
	struct buf b;
	char *path;
	struct queue *q;
	int dfd, i;

	memset(&a, 0, sizeof(a));
	pthread_mutex_init(&a.mu, NULL);
	q = queue_open(&c, &err);
	if (!CHECK(q != NULL))
		goto out;
	/* flags may change while nothing of the message is written */
	in = queue_incoming_new(q, &env, &err);
	if (!CHECK(in != NULL))
		goto out;
	snprintf(junk_qid, sizeof(junk_qid), "%s", queue_incoming_id(in));
	CHECK_INT(queue_incoming_set_flags(in, 0), 0);
	CHECK_INT(queue_incoming_set_flags(in, QUEUE_ENV_F_JUNK), 0);
	CHECK_INT(queue_incoming_write(in, body1, strlen(body1)), 0);
	CHECK_INT(queue_incoming_set_flags(in, 0), -1);	/* too late */
	queue_incoming_commit(in, commit_cb, &res);
	CHECK(wait_commit(q, &res));
	CHECK_INT(res.status, 0);
	id = accept_msg(q, rcpt, 1, body1);
	if (!CHECK(id != NULL))
		goto out;
	snprintf(plain_qid, sizeof(plain_qid), "%s", id);

	/* on disk: a "junk" envelope line, read back as the flag; the
	 * message bytes are unchanged */
	path = xasprintf("%s/%s", dir, junk_qid);
	buf_init(&b, 1 << 20);
	CHECK_INT(read_file(path, &b), 0);
	CHECK(memmem(b.data, b.len, "\njunk\n", 6) != NULL);
	CHECK(memmem(b.data, b.len, body1, strlen(body1)) != NULL);
	buf_fini(&b);
	free(path);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK_INT(queue_spool_load(dfd, junk_qid, 0, &m, &err), 1);
	if (m != NULL) {
		CHECK(m->flags & QUEUE_ENV_F_JUNK);
		CHECK_INT(m->size, strlen(body1));
	}
	queue_msg_free(&m);
	CHECK_INT(queue_spool_load(dfd, plain_qid, 0, &m, &err), 1);
	if (m != NULL)
		CHECK_INT(m->flags & QUEUE_ENV_F_JUNK, 0);
	queue_msg_free(&m);
	close(dfd);

	/* the delivery agent sees it */
	queue_start(q, flags_deliver, &a);
	for (i = 0; i < 5000; i++) {
		unsigned n;

		pthread_mutex_lock(&a.mu);
		n = a.n;
		pthread_mutex_unlock(&a.mu);
		if (n >= 2)
			break;
		usleep(1000);
	}
	pthread_mutex_lock(&a.mu);
	CHECK_INT(a.n, 2);
	for (i = 0; i < (int)a.n && i < 4; i++)
		CHECK_INT(a.flags[i] & QUEUE_ENV_F_JUNK,
		    strcmp(a.qid[i], junk_qid) == 0 ? QUEUE_ENV_F_JUNK : 0);
	pthread_mutex_unlock(&a.mu);
out:
	queue_close(&q);
	pthread_mutex_destroy(&a.mu);
	rm_dir(dir);
	free(dir);
}

static const struct test_case cases[] = {
	TEST(test_junk_flag),
	TEST(test_retry_delay),
	TEST(test_accept_and_deliver),
	TEST(test_envelope_checks_and_abort),
	TEST(test_list_delete_rescan),
	TEST(test_recovery),
	TEST(test_big_message),
	TEST(test_recycle),
	TEST(test_fifo),
	TEST(test_flush),
	TEST(test_forward),
	TEST(test_deferred_retry),
	TEST(test_write_failure),
	TEST(test_crash_safety),
	TEST(test_inject),
	TEST(test_remote),
	TEST(test_double_bounce),
	TEST(test_bounce_once),
};

/* ---- the group-commit micro-benchmark (`queue_test bench`) ---- */

struct bench_session {
	struct queue	*q;
	int		 busy;
	uint64_t	 done;
	uint64_t	 lat_sum_us;
	uint64_t	 t0_us;
};

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
bench_cb(void *ctx, int status, const char *error)
{
	struct bench_session *s = ctx;

	if (status != 0)
		fatal("bench commit failed: %s", error);
	s->busy = 0;
	s->done++;
	s->lat_sum_us += now_us() - s->t0_us;
}

static void
bench_deliver(void *ctx, struct queue_job *const *jobs, size_t njobs)
{
	size_t i, j;

	(void)ctx;
	for (i = 0; i < njobs; i++) {
		for (j = 0; j < jobs[i]->nrcpts; j++)
			jobs[i]->rcpts[j].status = QUEUE_RCPT_DELIVERED;
	}
}

static pthread_mutex_t bench_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bench_cv = PTHREAD_COND_INITIALIZER;
static int bench_ready;

static void
bench_notify(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&bench_mu);
	bench_ready = 1;
	pthread_cond_signal(&bench_cv);
	pthread_mutex_unlock(&bench_mu);
}

/* One loop thread drives nsess sessions, each committing 4 KiB messages
 * back to back, for secs seconds; prints messages/s. */
static void
bench_run(const char *dir, unsigned nsess, double secs, enum queue_sync sync)
{
	struct queue_config c = config(dir);
	struct bench_session *ss = xcalloc(nsess, sizeof(*ss));
	static const char *const r1[] = { "user@example.com" };
	struct queue_envelope env = { .sender = "s@example.org",
	    .rcpts = r1, .nrcpts = 1 };
	char body[4096];
	const char *err = NULL;
	struct queue_stats st;
	uint64_t t0, total = 0, lat = 0, t_new = 0, t_write = 0, t_commit = 0;
	uint64_t t_wait = 0, t_run = 0, t1;
	unsigned i;
	struct queue *q;

	memset(body, 'x', sizeof(body));
	for (i = 78; i < sizeof(body); i += 80) {
		body[i] = '\r';
		body[i + 1] = '\n';
	}
	c.sync = sync;
	c.batch_max = 256;
	q = queue_open(&c, &err);
	if (q == NULL)
		fatal("bench: %s", err);
	queue_set_notify(q, bench_notify, NULL);
	/* an agent that delivers at once: finished files are recycled, as
	 * in the server when delivery keeps up */
	queue_start(q, bench_deliver, NULL);
	t0 = now_us();
	while (now_us() - t0 < (uint64_t)(secs * 1e6)) {
		for (i = 0; i < nsess; i++) {
			struct queue_incoming *in;

			if (ss[i].busy)
				continue;
			ss[i].t0_us = t1 = now_us();
			in = queue_incoming_new(q, &env, &err);
			if (in == NULL)
				fatal("bench: %s", err);
			ss[i].busy = 1;
			t_new += now_us() - t1;
			t1 = now_us();
			if (queue_incoming_write(in, body, sizeof(body)) < 0)
				fatal("bench: write");
			t_write += now_us() - t1;
			t1 = now_us();
			queue_incoming_commit(in, bench_cb, &ss[i]);
			t_commit += now_us() - t1;
		}
		t1 = now_us();
		pthread_mutex_lock(&bench_mu);
		while (!bench_ready)
			pthread_cond_wait(&bench_cv, &bench_mu);
		bench_ready = 0;
		pthread_mutex_unlock(&bench_mu);
		t_wait += now_us() - t1;
		t1 = now_us();
		queue_run_completions(q);
		t_run += now_us() - t1;
	}
	/* let the last ones finish */
	for (;;) {
		int busy = 0;

		for (i = 0; i < nsess; i++)
			busy |= ss[i].busy;
		if (!busy)
			break;
		usleep(500);
		queue_run_completions(q);
	}
	t0 = now_us() - t0;
	queue_get_stats(q, &st);
	for (i = 0; i < nsess; i++) {
		total += ss[i].done;
		lat += ss[i].lat_sum_us;
	}
	printf("%s sessions=%u messages=%llu seconds=%.2f rate=%.0f/s "
	    "rounds=%llu msgs/round=%.1f mean_commit_latency=%.2fms "
	    "recycled=%llu fallbacks=%llu\n",
	    sync == QUEUE_SYNC_SYNCFS ? "syncfs" : "files ", nsess,
	    (unsigned long long)total,
	    (double)t0 / 1e6, (double)total * 1e6 / (double)t0,
	    (unsigned long long)st.commit_rounds,
	    st.commit_rounds ? (double)total / (double)st.commit_rounds : 0.0,
	    total ? (double)lat / (double)total / 1000.0 : 0.0,
	    (unsigned long long)st.recycled,
	    (unsigned long long)st.sync_fallbacks);
	printf("  loop thread per message: new=%.3fms write=%.3fms "
	    "commit=%.3fms completions=%.3fms; waiting=%.0f%% of the time\n",
	    total ? (double)t_new / (double)total / 1000 : 0.0,
	    total ? (double)t_write / (double)total / 1000 : 0.0,
	    total ? (double)t_commit / (double)total / 1000 : 0.0,
	    total ? (double)t_run / (double)total / 1000 : 0.0,
	    100.0 * (double)t_wait / (double)t0);
	queue_close(&q);
	free(ss);
}

/* Cost of one plain fsync of a fresh 4 KiB file plus its directory, the
 * one-fsync-per-message baseline. */
static void
bench_fsync(const char *dir)
{
	char body[4096];
	uint64_t t0, n = 200, i;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	memset(body, 'x', sizeof(body));
	t0 = now_us();
	for (i = 0; i < n; i++) {
		char *p = xasprintf("%s/f%llu", dir, (unsigned long long)i);
		int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd < 0 || write_all(fd, body, sizeof(body)) < 0 ||
		    fsync(fd) < 0 || fsync(dfd) < 0)
			fatal("bench fsync");
		close(fd);
		unlink(p);
		free(p);
	}
	t0 = now_us() - t0;
	printf("baseline: fsync(file)+fsync(dir) per 4 KiB message: "
	    "%.3f ms each, %.0f messages/s\n", (double)t0 / (double)n / 1000,
	    (double)n * 1e6 / (double)t0);
	close(dfd);
}

static int
bench_main(int argc, char **argv)
{
	double secs = argc > 2 ? atof(argv[2]) : 3.0;
	static const unsigned sess[] = { 1, 20, 50 };
	char *dir = tmpdir_new();
	size_t i, m;

	log_set_level(LOG_LEVEL_WARN);
	if (mkdir_p(dir, 0700) < 0)
		fatal("mkdir");
	bench_fsync(dir);
	for (i = 0; i < sizeof(sess) / sizeof(sess[0]); i++) {
		for (m = 0; m < 2; m++) {
			bench_run(dir, sess[i], secs, m == 0 ?
			    QUEUE_SYNC_SYNCFS : QUEUE_SYNC_FILES);
			rm_dir(dir);
			if (mkdir_p(dir, 0700) < 0)
				fatal("mkdir");
		}
	}
	rm_dir(dir);
	free(dir);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "bench") == 0)
		return bench_main(argc, argv);
	log_set_level(getenv("QUEUE_TEST_VERBOSE") != NULL ?
	    LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR + 1);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	return test_run(__FILE__, cases, sizeof(cases) / sizeof(cases[0]));
}
