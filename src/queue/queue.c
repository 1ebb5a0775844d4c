/*
 * queue.c - the durable queue: accepting messages with group commit,
 * recovery at start, and the delivery scheduler.
 *
 * Four threads touch a queue:
 *   - the server's loop thread buffers incoming messages, commits them,
 *     runs the completions (commit callbacks) and calls flush/rescan; for
 *     a small message it makes no file-system call at all;
 *   - the committer thread writes the messages committed since its last
 *     round (into ready or new files), makes them all durable with one
 *     syncfs() (group commit), then hands them back as completions and
 *     calls the notify hook;
 *   - the pool thread keeps a reserve of empty spool files, so that file
 *     creation (a slow, journaled metadata change) happens off the paths
 *     that sessions wait on;
 *   - the worker thread takes due messages from a min-heap in batches,
 *     calls the delivery agent, records each recipient's new state, and
 *     recycles the files of finished messages into the pool.
 * RFC 5321 section 6.1: a message is durable before the 250 after DATA;
 * retries and the queue lifetime follow section 4.5.4.1.
 *
 * No untrusted network input is parsed here; envelope strings come from
 * the SMTP session, and spool files are read by queue_spool.c.
 */
#include "queue/queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "delivery/dsn.h"
#include "lib/buf.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/xmalloc.h"
#include "queue/queue_int.h"

/* Bytes buffered before a write(2) while a message streams in. */
#define QUEUE_WRITE_CHUNK	(64u * 1024)
/*
 * Empty spool files created ahead of need by the pool thread.  Creating a
 * file is a journaled metadata change, and on a busy file system it waits
 * for the journal commit in progress (our own group sync, or anyone
 * else's); measured at 0.5-1 ms on the benchmark machine.  Done on the
 * loop thread, that wait would stall every session; so a helper thread
 * does it, and queue_incoming_new() just takes a ready file.
 */
#define QUEUE_POOL_MAX		64

struct pool_file {
	int		 fd;
	char		 qid[QUEUE_ID_LEN + 1];
	uint64_t	 size;	/* old content of a recycled file */
};

struct queue_incoming {
	struct queue		*q;
	struct queue_msg	*msg;
	int			 fd;		/* -1: no file yet */
	bool			 has_file;	/* we created it */
	uint64_t		 old_size;	/* of a recycled file */
	struct buf		 out;
	uint64_t		 file_off;	/* bytes written so far */
	uint64_t		 size;		/* message bytes so far */
	uLong			 crc;
	bool			 failed;
	const char		*error;
	queue_commit_fn		*cb;
	void			*ctx;
	struct queue_incoming	*next;
};

/* Recipients of one message with the remote agent (queue_set_remote). */
struct remote_job {
	struct queue_job	 job;		/* first: the agent's handle */
	struct queue_msg	*m;
	size_t			*map;		/* job rcpt -> message rcpt */
	size_t			*idx;		/* job rcpts for the agent */
	size_t			 nidx;
	struct remote_job	*next;		/* remote_out / remote_back */
	struct remote_job	*all_prev, *all_next;
};

struct queue {
	struct queue_config	 cfg;
	char			*dir;
	char			*hostname;	/* copy of cfg.hostname */
	int			 dirfd;

	/* group commit */
	pthread_mutex_t		 commit_mu;
	pthread_cond_t		 commit_cv;
	struct queue_incoming	*commit_head, **commit_tail;
	struct queue_incoming	*done_head, **done_tail;
	bool			 commit_stop;
	bool			 committer_started;
	pthread_t		 committer;
	void			(*notify)(void *);
	void			*notify_arg;

	/* pre-created spool files */
	pthread_mutex_t		 pool_mu;
	pthread_cond_t		 pool_cv;
	struct pool_file	 pool[QUEUE_POOL_MAX];
	size_t			 npool;
	size_t			 pool_max;	/* target, <= QUEUE_POOL_MAX */
	bool			 pool_stop;
	bool			 pool_started;
	pthread_t		 pool_thread;

	/* scheduler */
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct queue_msg	**heap;
	size_t			 nheap, heap_cap;
	struct queue_msg	*all;
	struct queue_msg	**hash;		/* index by qid, chained */
	size_t			 hash_size;	/* power of 2 */
	uint64_t		 next_seq;
	queue_deliver_fn	*deliver;
	void			*deliver_ctx;
	queue_remote_fn		*remote_fn;
	void			*remote_ctx;
	struct remote_job	*remote_out;	/* to hand over (commit_mu) */
	struct remote_job	*remote_back;	/* done, for the worker (mu) */
	struct remote_job	*remote_all;	/* all outstanding (mu) */
	/* held from the rename of an injected message to its indexing, and
	 * by rescan: so that a rescan cannot index (and the worker deliver
	 * and forget) a message before its injector indexes it again */
	pthread_mutex_t		 inject_mu;
	bool			 started, stop;
	pthread_t		 worker;

	struct queue_stats	 stats;		/* under commit_mu / mu */
	bool			 syncfs_warned;	/* __atomic */
};

static void
lock(pthread_mutex_t *m)
{
	if (pthread_mutex_lock(m) != 0)
		panic("queue: pthread_mutex_lock");
}

static void
unlock(pthread_mutex_t *m)
{
	if (pthread_mutex_unlock(m) != 0)
		panic("queue: pthread_mutex_unlock");
}

static const char *
esc(char *out, size_t outsize, const char *s)
{
	return log_escape(out, outsize, s, strlen(s));
}

uint64_t
queue_retry_delay(const struct queue_config *cfg, unsigned attempts)
{
	uint64_t d = cfg->retry_first > 0 ? cfg->retry_first : 1;
	uint64_t max = cfg->retry_max > d ? cfg->retry_max : d;
	unsigned i;

	for (i = 1; i < attempts && d < max; i++)
		d = d > max / 2 ? max : d * 2;
	return d < max ? d : max;
}

/* Durations past this (about 300 years) count as "never". */
#define QUEUE_MAX_SECONDS	((uint64_t)1 << 33)

/* delay_ms - the retry delay in milliseconds, without overflow. */
static int64_t
delay_ms(const struct queue_config *cfg, unsigned attempts)
{
	uint64_t d = queue_retry_delay(cfg, attempts);

	if (d > QUEUE_MAX_SECONDS)
		d = QUEUE_MAX_SECONDS;
	return (int64_t)d * 1000;
}

/* ---- the heap of messages by next due time (under q->mu) ---- */

static void
heap_set(struct queue *q, size_t i, struct queue_msg *m)
{
	q->heap[i] = m;
	m->heap_idx = i;
}

/* Heap order: earlier due time first, then order of arrival in the
 * index (so messages due at the same moment go first in, first out). */
static bool
msg_before(const struct queue_msg *a, const struct queue_msg *b)
{
	return a->due_ms < b->due_ms ||
	    (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void
heap_up(struct queue *q, size_t i)
{
	struct queue_msg *m = q->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!msg_before(m, q->heap[p]))
			break;
		heap_set(q, i, q->heap[p]);
		i = p;
	}
	heap_set(q, i, m);
}

static void
heap_down(struct queue *q, size_t i)
{
	struct queue_msg *m = q->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= q->nheap)
			break;
		if (c + 1 < q->nheap && msg_before(q->heap[c + 1], q->heap[c]))
			c++;
		if (!msg_before(q->heap[c], m))
			break;
		heap_set(q, i, q->heap[c]);
		i = c;
	}
	heap_set(q, i, m);
}

static void
heap_push(struct queue *q, struct queue_msg *m)
{
	if (q->nheap == q->heap_cap) {
		q->heap_cap = q->heap_cap == 0 ? 64 : q->heap_cap * 2;
		q->heap = xreallocarray(q->heap, q->heap_cap,
		    sizeof(*q->heap));
	}
	q->heap[q->nheap] = m;
	m->heap_idx = q->nheap++;
	heap_up(q, m->heap_idx);
}

static void
heap_remove(struct queue *q, struct queue_msg *m)
{
	size_t i = m->heap_idx;

	ASSERT(i < q->nheap && q->heap[i] == m);
	q->nheap--;
	if (i != q->nheap) {
		heap_set(q, i, q->heap[q->nheap]);
		heap_up(q, i);
		heap_down(q, q->heap[i]->heap_idx);
	}
	m->heap_idx = SIZE_MAX;
}

static bool
rcpt_open(const struct queue_rcpt *r)
{
	return r->status == QUEUE_RCPT_PENDING ||
	    r->status == QUEUE_RCPT_DEFERRED;
}

/* A recipient failed and no bounce (or drop) was recorded for it. */
static bool
needs_notice(const struct queue_msg *m)
{
	size_t i;

	for (i = 0; i < m->nrcpts; i++) {
		if (m->rcpts[i].status == QUEUE_RCPT_FAILED &&
		    !m->rcpts[i].reported)
			return true;
	}
	return false;
}

/* Earliest due time of m's open recipients; INT64_MAX if none.  A
 * message that owes a bounce (recovered after a crash) is due at once. */
static int64_t
msg_due(const struct queue_msg *m)
{
	int64_t due = INT64_MAX;
	size_t i;

	if (needs_notice(m))
		return 0;
	for (i = 0; i < m->nrcpts; i++) {
		if (rcpt_open(&m->rcpts[i]) && m->rcpts[i].due_ms < due)
			due = m->rcpts[i].due_ms;
	}
	return due;
}

static size_t
hash_slot(const struct queue *q, const char *qid)
{
	uint64_t h = 14695981039346656037ull;
	size_t i;

	for (i = 0; i < QUEUE_ID_LEN; i++)
		h = (h ^ (uint8_t)qid[i]) * 1099511628211ull;
	return (size_t)h & (q->hash_size - 1);
}

/* msg_lookup - the indexed message with this id, or NULL (under mu). */
static struct queue_msg *
msg_lookup(const struct queue *q, const char *qid)
{
	struct queue_msg *m;

	if (q->hash_size == 0)
		return NULL;
	for (m = q->hash[hash_slot(q, qid)]; m != NULL; m = m->hash_next) {
		if (strcmp(m->qid, qid) == 0)
			return m;
	}
	return NULL;
}

static void
hash_grow(struct queue *q)
{
	struct queue_msg **old = q->hash, *m, *next;
	size_t oldn = q->hash_size, i, k;

	q->hash_size = oldn == 0 ? 256 : oldn * 2;
	q->hash = xcalloc(q->hash_size, sizeof(*q->hash));
	for (i = 0; i < oldn; i++) {
		for (m = old[i]; m != NULL; m = next) {
			next = m->hash_next;
			k = hash_slot(q, m->qid);
			m->hash_next = q->hash[k];
			q->hash[k] = m;
		}
	}
	free(old);
}

static void
all_link(struct queue *q, struct queue_msg *m)
{
	size_t k;

	if (q->stats.messages >= q->hash_size)
		hash_grow(q);
	k = hash_slot(q, m->qid);
	m->hash_next = q->hash[k];
	q->hash[k] = m;
	m->all_prev = NULL;
	m->all_next = q->all;
	if (q->all != NULL)
		q->all->all_prev = m;
	q->all = m;
	q->stats.messages++;
}

static void
all_unlink(struct queue *q, struct queue_msg *m)
{
	struct queue_msg **pp = &q->hash[hash_slot(q, m->qid)];

	while (*pp != m) {
		ASSERT(*pp != NULL);
		pp = &(*pp)->hash_next;
	}
	*pp = m->hash_next;
	if (m->all_prev != NULL)
		m->all_prev->all_next = m->all_next;
	else
		q->all = m->all_next;
	if (m->all_next != NULL)
		m->all_next->all_prev = m->all_prev;
	q->stats.messages--;
}

/* index_add - puts a durable message into the scheduler (takes it);
 * false (and m freed) if a message with its id is already indexed. */
static bool
index_add(struct queue *q, struct queue_msg *m)
{
	int64_t now = queue_now_ms();
	size_t i;

	for (i = 0; i < m->nrcpts; i++) {
		struct queue_rcpt *r = &m->rcpts[i];

		/* pending ones by arrival: oldest mail first (but never
		 * later than now, should the clock have gone back) */
		r->due_ms = r->status == QUEUE_RCPT_DEFERRED ?
		    (int64_t)r->next_attempt * 1000 :
		    m->arrival_ms < now ? m->arrival_ms : now;
		if (r->due_ms > now + delay_ms(&q->cfg, UINT_MAX))
			r->due_ms = now + delay_ms(&q->cfg, UINT_MAX);
	}
	lock(&q->mu);
	if (msg_lookup(q, m->qid) != NULL) {
		unlock(&q->mu);
		queue_msg_free(&m);
		return false;
	}
	all_link(q, m);
	m->seq = q->next_seq++;
	m->due_ms = msg_due(m);
	heap_push(q, m);
	pthread_cond_signal(&q->cv);
	unlock(&q->mu);
	return true;
}

/* ---- durability ---- */

/*
 * sync_files - makes the given files' data and the queue directory
 * durable.  syncfs() flushes the whole file system in one go (data,
 * inodes, directory entries of every file written meanwhile).  The other
 * way (configured, or if syncfs fails): start write-back of every file at
 * once, then fdatasync() each (the first one commits the journal for all
 * of them on ext4/xfs, so the others cost little), then fsync() the
 * directory for the new entries.
 */
static int
sync_files(struct queue *q, const int *fds, size_t nfds, bool *fallback_r)
{
	size_t i;

	*fallback_r = false;
	if (q->cfg.sync == QUEUE_SYNC_SYNCFS) {
		if (syncfs(q->dirfd) == 0)
			return 0;
		*fallback_r = true;
		/* once: it would repeat every round */
		if (!__atomic_exchange_n(&q->syncfs_warned, true,
		    __ATOMIC_RELAXED))
			log_warn("queue syncfs failed error=\"%s\": fsync "
			    "per file", strerror(errno));
	}
	for (i = 0; i < nfds; i++) {
		if (fds[i] >= 0)
			(void)sync_file_range(fds[i], 0, 0,
			    SYNC_FILE_RANGE_WRITE);
	}
	for (i = 0; i < nfds; i++) {
		if (fds[i] >= 0 && fdatasync(fds[i]) < 0)
			return -1;
	}
	return fsync(q->dirfd);
}

static int create_file_named(struct queue *, const char *);

/*
 * write_whole - creates the spool file of a message that is still whole in
 * memory and writes it in one go (committer thread).  Doing it here, just
 * before the group sync, keeps every file-system call for small messages
 * off the loop thread.
 */
static void
write_whole(struct queue *q, struct queue_incoming *in)
{
	in->fd = create_file_named(q, in->msg->qid);
	if (in->fd < 0) {
		log_error("queue create qid=%s error=\"%s\"", in->msg->qid,
		    strerror(errno));
		in->failed = true;
		in->error = "cannot create the spool file";
		return;
	}
	in->has_file = true;
	if (write_all(in->fd, in->out.data, in->out.len) < 0) {
		log_error("queue write qid=%s error=\"%s\"", in->msg->qid,
		    strerror(errno));
		in->failed = true;
		in->error = errno == ENOSPC ? "queue file system full" :
		    "cannot write the message";
	}
	buf_fini(&in->out);
}

/* cut_recycled - drops what a recycled file held past the new message. */
static void
cut_recycled(struct queue_incoming *in)
{
	if (ftruncate(in->fd, (off_t)in->file_off) < 0) {
		log_error("queue truncate qid=%s error=\"%s\"", in->msg->qid,
		    strerror(errno));
		in->failed = true;
		in->error = "cannot write the message";
	}
}

static void *
committer_main(void *arg)
{
	struct queue *q = arg;
	struct queue_incoming *batch, *in;
	void (*notify)(void *);
	void *notify_arg;
	size_t n, i;
	bool fallback;
	int *fds = NULL, r;
	size_t fds_cap = 0;

	lock(&q->commit_mu);
	for (;;) {
		while (q->commit_head == NULL && !q->commit_stop)
			pthread_cond_wait(&q->commit_cv, &q->commit_mu);
		if (q->commit_head == NULL)
			break;
		batch = q->commit_head;
		q->commit_head = NULL;
		q->commit_tail = &q->commit_head;
		unlock(&q->commit_mu);

		for (n = 0, in = batch; in != NULL; in = in->next)
			n++;
		if (n > fds_cap) {
			fds_cap = n * 2;
			fds = xreallocarray(fds, fds_cap, sizeof(*fds));
		}
		for (i = 0, in = batch; in != NULL; in = in->next) {
			if (in->fd < 0)
				write_whole(q, in);
			else if (in->old_size > in->file_off)
				cut_recycled(in);
			fds[i++] = in->failed ? -1 : in->fd;
		}
		r = sync_files(q, fds, n, &fallback);
		for (in = batch; in != NULL; in = in->next) {
			if (r < 0 && !in->failed) {
				in->failed = true;
				in->error = "cannot make the message durable";
			}
		}
		if (r < 0)
			log_error("queue commit failed messages=%zu "
			    "error=\"%s\"", n, strerror(errno));

		lock(&q->commit_mu);
		*q->done_tail = batch;
		for (in = batch; in->next != NULL; in = in->next)
			;
		q->done_tail = &in->next;
		q->stats.commit_rounds++;
		if (fallback)
			q->stats.sync_fallbacks++;
		notify = q->notify;
		notify_arg = q->notify_arg;
		unlock(&q->commit_mu);
		if (notify != NULL)
			notify(notify_arg);
		lock(&q->commit_mu);
	}
	unlock(&q->commit_mu);
	free(fds);
	return NULL;
}

/* ---- incoming messages ---- */

static int
create_file_named(struct queue *q, const char *qid)
{
	return openat(q->dirfd, qid, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC | O_NOFOLLOW, 0600);
}

/* create_file - a new, empty spool file with a fresh unique id. */
static int
create_file(struct queue *q, char qid[QUEUE_ID_LEN + 1])
{
	int fd = -1, tries;

	for (tries = 0; tries < 8 && fd < 0; tries++) {
		queue_id_new(qid);
		fd = openat(q->dirfd, qid, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 && errno != EEXIST)
			return -1;
	}
	if (fd < 0)
		errno = EEXIST;
	return fd;
}

static void *
pool_main(void *arg)
{
	struct queue *q = arg;
	struct pool_file f;
	unsigned failures = 0;

	lock(&q->pool_mu);
	for (;;) {
		/* new files only for a reserve of half the pool; recycled
		 * ones (recycle_file) fill the rest */
		while (q->npool >= q->pool_max / 2 && !q->pool_stop)
			pthread_cond_wait(&q->pool_cv, &q->pool_mu);
		if (q->pool_stop)
			break;
		unlock(&q->pool_mu);
		f.size = 0;
		f.fd = create_file(q, f.qid);
		if (f.fd < 0 && failures++ % 1000 == 0)
			log_error("queue create dir=%s error=\"%s\"", q->dir,
			    strerror(errno));
		if (f.fd < 0)
			usleep(100 * 1000);	/* disk full? try later */
		lock(&q->pool_mu);
		if (f.fd >= 0 && q->npool < q->pool_max / 2) {
			q->pool[q->npool++] = f;
		} else if (f.fd >= 0) {
			(void)unlinkat(q->dirfd, f.qid, 0);
			close(f.fd);
		}
	}
	unlock(&q->pool_mu);
	return NULL;
}

void
queue_pool_set(struct queue *q, size_t max)
{
	lock(&q->pool_mu);
	q->pool_max = max < QUEUE_POOL_MAX ? max : QUEUE_POOL_MAX;
	while (q->npool > q->pool_max) {
		struct pool_file *f = &q->pool[--q->npool];

		(void)unlinkat(q->dirfd, f->qid, 0);
		close(f->fd);
	}
	pthread_cond_signal(&q->pool_cv);
	unlock(&q->pool_mu);
}

/*
 * recycle_file - renames the file of a finished message to a fresh id and
 * keeps it in the pool, if the pool has room: reusing a file costs far
 * less than creating one (no inode allocation, no block freeing, which on
 * a file system mounted with "discard" waits for the device; measured
 * 0.006 ms to overwrite in place against 0.2-1 ms of CPU to create).
 * Worker thread.  The old content stays until the next message overwrites
 * it; the committer cuts the file to the new length before the flush, so
 * old state records can never be read as the new message's.  Crash
 * safety: the new name holds a file whose magic line names another id,
 * which recovery removes as an unused pool file; if the rename is lost,
 * the old name holds the old message (delivered again, deduplicated by
 * the store).  Returns false if the caller should unlink it instead.
 */
static bool
recycle_file(struct queue *q, const char *qid)
{
	struct pool_file f;
	struct stat st;
	bool full;

	lock(&q->pool_mu);
	full = q->npool >= q->pool_max;
	unlock(&q->pool_mu);
	if (full)
		return false;
	f.fd = openat(q->dirfd, qid, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (f.fd < 0)
		return false;
	queue_id_new(f.qid);
	if (fstat(f.fd, &st) < 0 ||
	    renameat2(q->dirfd, qid, q->dirfd, f.qid, RENAME_NOREPLACE) < 0) {
		close(f.fd);
		return false;
	}
	f.size = (uint64_t)st.st_size;
	lock(&q->pool_mu);
	if (q->npool < q->pool_max) {
		q->pool[q->npool++] = f;
		q->stats.recycled++;
		f.fd = -1;
	}
	unlock(&q->pool_mu);
	if (f.fd >= 0) {
		(void)unlinkat(q->dirfd, f.qid, 0);
		close(f.fd);
	}
	return true;
}

/* pool_take - a ready spool file, or -1 if none is ready. */
static int
pool_take(struct queue *q, char qid[QUEUE_ID_LEN + 1], uint64_t *size_r)
{
	int fd = -1;

	*size_r = 0;
	lock(&q->pool_mu);
	if (q->npool > 0) {
		struct pool_file *f = &q->pool[--q->npool];

		fd = f->fd;
		memcpy(qid, f->qid, QUEUE_ID_LEN + 1);
		*size_r = f->size;
	}
	if (q->npool < q->pool_max / 2)
		pthread_cond_signal(&q->pool_cv);
	unlock(&q->pool_mu);
	return fd;
}

static void
incoming_free(struct queue_incoming *in)
{
	if (in->fd >= 0)
		close(in->fd);
	queue_msg_free(&in->msg);
	buf_fini(&in->out);
	free(in);
}

/* emit - writes bytes to the spool file, adding them to the CRC. */
static int
emit(struct queue_incoming *in, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t skip = 0;

	if (in->file_off < QUEUE_PREFIX_LEN) {
		skip = QUEUE_PREFIX_LEN - (size_t)in->file_off;
		if (skip > n)
			skip = n;
	}
	in->crc = crc32(in->crc, b + skip, (uInt)(n - skip));
	if (write_all(in->fd, b, n) < 0) {
		log_error("queue write qid=%s error=\"%s\"", in->msg->qid,
		    strerror(errno));
		in->failed = true;
		in->error = errno == ENOSPC ? "queue file system full" :
		    "cannot write the message";
		return -1;
	}
	in->file_off += n;
	return 0;
}

static int
flush_out(struct queue_incoming *in)
{
	int r = 0;

	if (in->fd < 0 && in->out.len > 0) {
		/* a large message: it needs its file now */
		in->fd = create_file_named(in->q, in->msg->qid);
		if (in->fd < 0) {
			log_error("queue create qid=%s error=\"%s\"",
			    in->msg->qid, strerror(errno));
			in->failed = true;
			in->error = "cannot create the spool file";
			return -1;
		}
		in->has_file = true;
	}
	if (in->out.len > 0)
		r = emit(in, in->out.data, in->out.len);
	buf_reset(&in->out);
	return r;
}

struct queue_incoming *
queue_incoming_new(struct queue *q, const struct queue_envelope *env,
    const char **error_r)
{
	struct queue_incoming *in;
	struct queue_msg *m;
	char qid[QUEUE_ID_LEN + 1];
	uint64_t old_size;
	int fd;

	/* check the envelope first, so a bad one costs no file */
	m = queue_msg_new("0000000000000000", queue_now_ms(), env, error_r);
	if (m == NULL)
		return NULL;
	/* a ready file from the pool; if there is none, the file is
	 * created later, off this thread (at commit, or at the first
	 * flush of a large message) */
	fd = pool_take(q, qid, &old_size);
	if (fd < 0)
		queue_id_new(qid);
	memcpy(m->qid, qid, QUEUE_ID_LEN + 1);
	in = xcalloc(1, sizeof(*in));
	in->q = q;
	in->msg = m;
	in->fd = fd;
	in->has_file = fd >= 0;
	in->old_size = old_size;
	in->crc = crc32(0L, Z_NULL, 0);
	buf_init(&in->out, QUEUE_MAX_ENVELOPE + QUEUE_WRITE_CHUNK);
	if (queue_spool_header(&in->out, m) < 0) {
		*error_r = "envelope too large";
		if (in->has_file)
			(void)unlinkat(q->dirfd, qid, 0);
		incoming_free(in);
		return NULL;
	}
	return in;
}

const char *
queue_incoming_id(const struct queue_incoming *in)
{
	return in->msg->qid;
}

int
queue_incoming_write(struct queue_incoming *in, const void *p, size_t n)
{
	if (in->failed)
		return -1;
	in->size += n;
	if (in->out.len + n <= QUEUE_WRITE_CHUNK)
		return buf_append(&in->out, p, n);
	if (flush_out(in) < 0)
		return -1;
	if (n >= QUEUE_WRITE_CHUNK)
		return emit(in, p, n);
	return buf_append(&in->out, p, n);
}

void
queue_incoming_commit(struct queue_incoming *in, queue_commit_fn *cb,
    void *ctx)
{
	struct queue *q = in->q;
	char line[QUEUE_COMMIT_LINE_LEN + 1];
	void (*notify)(void *) = NULL;
	void *notify_arg = NULL;

	in->cb = cb;
	in->ctx = ctx;
	in->next = NULL;
	if (!in->failed && in->fd < 0) {
		/* still whole in memory: the committer writes it */
		ASSERT(in->out.len >= QUEUE_PREFIX_LEN);
		in->crc = crc32(in->crc, in->out.data + QUEUE_PREFIX_LEN,
		    (uInt)(in->out.len - QUEUE_PREFIX_LEN));
		in->msg->size = in->size;
		queue_spool_commit_line(line, in->size, (uint32_t)in->crc);
		memcpy(in->out.data + QUEUE_MAGIC_LINE_LEN, line,
		    QUEUE_COMMIT_LINE_LEN);
	} else if (!in->failed && flush_out(in) == 0) {
		in->msg->size = in->size;
		queue_spool_commit_line(line, in->size, (uint32_t)in->crc);
		if (pwrite_all(in->fd, line, QUEUE_COMMIT_LINE_LEN,
		    QUEUE_MAGIC_LINE_LEN) < 0) {
			in->failed = true;
			in->error = "cannot write the message";
		}
	}
	lock(&q->commit_mu);
	if (!in->failed) {
		*q->commit_tail = in;
		q->commit_tail = &in->next;
		pthread_cond_signal(&q->commit_cv);
	} else {
		/* the callback still runs from queue_run_completions() */
		*q->done_tail = in;
		q->done_tail = &in->next;
		notify = q->notify;
		notify_arg = q->notify_arg;
	}
	unlock(&q->commit_mu);
	if (notify != NULL)
		notify(notify_arg);
}

void
queue_incoming_abort(struct queue_incoming **inp)
{
	struct queue_incoming *in = *inp;

	if (in == NULL)
		return;
	*inp = NULL;
	if (in->has_file)
		(void)unlinkat(in->q->dirfd, in->msg->qid, 0);
	incoming_free(in);
}

int
queue_incoming_set_flags(struct queue_incoming *in, unsigned flags)
{
	struct queue_msg *m = in->msg;

	if (in->size > 0 || in->file_off > 0 || in->failed)
		return -1;
	m->flags = (m->flags & ~QUEUE_ENV_F_JUNK) | (flags & QUEUE_ENV_F_JUNK);
	/* only the envelope is buffered: write it again */
	buf_reset(&in->out);
	if (queue_spool_header(&in->out, m) < 0) {
		in->failed = true;
		in->error = "envelope too large";
		return -1;
	}
	return 0;
}

void
queue_set_notify(struct queue *q, void (*notify)(void *arg), void *arg)
{
	lock(&q->commit_mu);
	q->notify = notify;
	q->notify_arg = arg;
	unlock(&q->commit_mu);
}

void
queue_run_completions(struct queue *q)
{
	struct queue_incoming *list, *in;
	struct remote_job *rjs, *rj, *next;
	char e1[LOG_ESCAPE_BUFSIZE];

	lock(&q->commit_mu);
	list = q->done_head;
	q->done_head = NULL;
	q->done_tail = &q->done_head;
	rjs = q->remote_out;
	q->remote_out = NULL;
	unlock(&q->commit_mu);

	/* recipients for the remote agent, in the order they came */
	for (rj = rjs, rjs = NULL; rj != NULL; rj = next) {
		next = rj->next;
		rj->next = rjs;
		rjs = rj;
	}
	while ((rj = rjs) != NULL) {
		rjs = rj->next;
		rj->next = NULL;
		q->remote_fn(q->remote_ctx, &rj->job, rj->idx, rj->nidx);
	}

	while ((in = list) != NULL) {
		list = in->next;
		if (in->fd >= 0)
			close(in->fd);
		in->fd = -1;
		if (!in->failed) {
			struct queue_msg *m = in->msg;

			log_info("queue accept qid=%s from=<%s> nrcpt=%zu "
			    "size=%" PRIu64, m->qid,
			    esc(e1, sizeof(e1), m->sender), m->nrcpts,
			    m->size);
			in->msg = NULL;
			lock(&q->commit_mu);
			q->stats.commits++;
			unlock(&q->commit_mu);
			(void)index_add(q, m);
			if (in->cb != NULL)
				in->cb(in->ctx, 0, NULL);
		} else {
			if (in->has_file)
				(void)unlinkat(q->dirfd, in->msg->qid, 0);
			lock(&q->commit_mu);
			q->stats.commit_failures++;
			unlock(&q->commit_mu);
			if (in->cb != NULL)
				in->cb(in->ctx, -1, in->error != NULL ?
				    in->error : "cannot queue the message");
		}
		incoming_free(in);
	}
}

/* ---- delivery ---- */

/* The worker's view of one job: which message recipient each job
 * recipient is. */
struct job_slot {
	struct queue_job	 job;
	struct queue_msg	*m;
	size_t			*map;
};

static bool
msg_finished(const struct queue_msg *m)
{
	size_t i;

	for (i = 0; i < m->nrcpts; i++) {
		if (rcpt_open(&m->rcpts[i]))
			return false;
	}
	return true;
}

static void
set_error(struct queue_rcpt *r, const char *err)
{
	if (err == NULL)
		return;
	free(r->last_error);
	r->last_error = queue_error_dup(err);
}

/*
 * apply_rcpt - records the agent's verdict for one recipient and appends
 * the state line to blk.  Returns true if the new state must be synced.
 */
static bool
apply_rcpt(struct queue *q, struct queue_msg *m, size_t k,
    struct queue_job_rcpt *jr, int64_t now, struct buf *blk)
{
	struct queue_rcpt *r = &m->rcpts[k];
	char e1[LOG_ESCAPE_BUFSIZE], e2[LOG_ESCAPE_BUFSIZE];
	char e3[LOG_ESCAPE_BUFSIZE];
	bool need_sync = false;
	int64_t expiry;

	r->attempts++;
	switch (jr->status) {
	case QUEUE_RCPT_DELIVERED:
		r->status = QUEUE_RCPT_DELIVERED;
		r->next_attempt = 0;
		free(r->last_error);
		r->last_error = NULL;
		log_info("queue delivered qid=%s rcpt=<%s>", m->qid,
		    esc(e1, sizeof(e1), r->addr));
		break;
	case QUEUE_RCPT_FAILED:
		r->status = QUEUE_RCPT_FAILED;
		set_error(r, jr->error != NULL ? jr->error : "failed");
		break;
	case QUEUE_RCPT_PENDING:
	case QUEUE_RCPT_DEFERRED:
	default:
		set_error(r, jr->error);
		expiry = q->cfg.lifetime > 0 &&
		    q->cfg.lifetime < QUEUE_MAX_SECONDS ? m->arrival_ms +
		    (int64_t)q->cfg.lifetime * 1000 : INT64_MAX;
		if (now >= expiry) {
			char *e;

			e = xasprintf("lifetime expired: %s",
			    r->last_error != NULL ? r->last_error :
			    "deferred");
			free(r->last_error);
			r->last_error = queue_error_dup(e);
			free(e);
			r->status = QUEUE_RCPT_FAILED;
			break;
		}
		r->status = QUEUE_RCPT_DEFERRED;
		r->due_ms = now + delay_ms(&q->cfg, r->attempts);
		if (r->due_ms > expiry)
			r->due_ms = expiry;
		r->next_attempt = (time_t)((r->due_ms + 999) / 1000);
		need_sync = true;
		log_info("queue deferred qid=%s rcpt=<%s> attempts=%u "
		    "next=%lld reason=\"%s\"", m->qid,
		    esc(e1, sizeof(e1), r->addr), r->attempts,
		    (long long)r->next_attempt,
		    esc(e2, sizeof(e2), r->last_error != NULL ?
		    r->last_error : ""));
		break;
	}
	if (r->status == QUEUE_RCPT_FAILED) {
		/* the bounce goes out after the batch (send_notices) */
		r->reported = false;
		log_warn("queue failed qid=%s from=<%s> rcpt=<%s> "
		    "reason=\"%s\"", m->qid,
		    esc(e1, sizeof(e1), m->sender),
		    esc(e2, sizeof(e2), r->addr),
		    esc(e3, sizeof(e3), r->last_error));
	}
	if (queue_spool_block_rcpt(blk, k, r) < 0)
		panic("queue: state block too large");
	return need_sync;
}

/* apply_forward - adds the recipients jr expanded to; true if any. */
static bool
apply_forward(struct queue_msg *m, struct queue_job_rcpt *jr,
    struct buf *blk)
{
	char e1[LOG_ESCAPE_BUFSIZE];
	bool added = false;
	size_t i;

	if (jr->forward == NULL)
		jr->nforward = 0;	/* an agent bug; nothing to add */
	for (i = 0; i < jr->nforward; i++) {
		const char *a = jr->forward[i];

		if (a == NULL || a[0] == '\0' || strlen(a) > QUEUE_MAX_ADDR ||
		    strpbrk(a, "\r\n") != NULL) {
			log_warn("queue forward qid=%s dropped=bad-address",
			    m->qid);
		} else if (queue_msg_find_rcpt(m, a) >= 0) {
			/* already a recipient of this message */
		} else if (m->nrcpts >= QUEUE_MAX_RCPTS) {
			log_warn("queue forward qid=%s rcpt=<%s> "
			    "dropped=too-many-recipients", m->qid,
			    esc(e1, sizeof(e1), a));
		} else {
			(void)queue_msg_add_rcpt(m, a);
			if (queue_spool_block_add(blk, a) < 0)
				panic("queue: state block too large");
			added = true;
		}
		free(jr->forward[i]);
	}
	free(jr->forward);
	jr->forward = NULL;
	jr->nforward = 0;
	return added;
}

/* append_block - appends a finished state block; returns the fd still
 * open (for a sync) or -1. */
static int
append_block(struct queue *q, struct queue_msg *m, const struct buf *blk)
{
	int fd = openat(q->dirfd, m->qid, O_WRONLY | O_APPEND | O_CLOEXEC |
	    O_NOFOLLOW);

	if (fd < 0) {
		if (errno == ENOENT) {
			m->deleted = true;	/* `queue delete` meanwhile */
			return -1;
		}
		log_error("queue state qid=%s error=\"%s\"", m->qid,
		    strerror(errno));
		return -1;
	}
	if (write_all(fd, blk->data, blk->len) < 0) {
		log_error("queue state qid=%s error=\"%s\"", m->qid,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The outcome of one batch (local or remote results), recorded in three
 * steps so that a notice is sent exactly once even across a crash:
 *   1. each message's state block (with "b"/"w" records naming the notice
 *      by its queue id) is appended, and the notice itself is written
 *      durably under a temporary name (queue_notice_write);
 *   2. one sync makes the blocks durable;
 *   3. the notices are renamed into place (queue_inject_publish) and
 *      indexed; only then are finished messages removed.
 * A crash before 2 leaves the failures unreported (the notice is built
 * again; the temporary file is removed later); between 2 and 3, recovery
 * finds the temporary file named by a record and publishes it.
 */
struct pending_notice {
	char			 qid[QUEUE_ID_LEN + 1];
	struct queue_msg	*bm;		/* the notice, for the index */
	struct queue_msg	*m;		/* the message it is about */
	bool			 recorded;	/* its block was written */
};

struct record_ctx {
	struct buf		 blk;
	int			*sync_fds;
	size_t			 nsync, sync_cap;
	struct pending_notice	*notices;
	size_t			 nnotices, notices_cap;
	struct queue_msg	**finished;	/* remove after step 3 */
	size_t			 nfinished, finished_cap;
};

static void
record_init(struct record_ctx *rc)
{
	memset(rc, 0, sizeof(*rc));
	buf_init(&rc->blk, QUEUE_MAX_STATE);
}

/* notice_add - writes a notice about idx[0..n) of m (step 1); records it
 * in blk.  Returns true if one was written. */
static bool
notice_add(struct queue *q, struct record_ctx *rc, struct queue_msg *m,
    int fd, const size_t *idx, size_t n, bool delayed, int64_t now)
{
	char e1[LOG_ESCAPE_BUFSIZE], dsn[QUEUE_ID_LEN + 1];
	struct queue_msg *bm = NULL;
	struct pending_notice *pn;
	const char *err = NULL, *to = NULL;
	unsigned flags = 0;
	size_t i;

	if (queue_notice_target(m, &to, &flags) == 0) {
		/* nobody to tell: a double bounce that failed, or mail
		 * from the null sender that we did not generate */
		if (!delayed)
			log_warn("queue bounce qid=%s dropped=%s nrcpt=%zu",
			    m->qid, (m->flags & QUEUE_ENV_F_DOUBLE_BOUNCE) ?
			    "double-bounce-failed" : "null-sender", n);
		memcpy(dsn, m->qid, sizeof(dsn));
	} else if (queue_notice_write(q->dirfd, &q->cfg, m, fd, idx, n,
	    delayed, now, dsn, &bm, &err) < 0) {
		/* e.g. a malformed sender address: it cannot be notified;
		 * recorded as done so that it is not tried forever */
		log_error("queue bounce qid=%s from=<%s> error=\"%s\" "
		    "dropped=yes", m->qid, esc(e1, sizeof(e1), m->sender),
		    err);
		memcpy(dsn, m->qid, sizeof(dsn));
	}
	for (i = 0; i < n && !delayed; i++) {
		m->rcpts[idx[i]].reported = true;
		if (queue_spool_block_bounced(&rc->blk, dsn, idx[i]) < 0)
			panic("queue: state block too large");
	}
	if (delayed) {
		m->warned = true;
		if (queue_spool_block_warned(&rc->blk, dsn) < 0)
			panic("queue: state block too large");
	}
	queue_msg_add_dsn(m, dsn);
	if (bm == NULL)
		return false;
	if (rc->nnotices == rc->notices_cap) {
		rc->notices_cap = rc->notices_cap == 0 ? 8 :
		    rc->notices_cap * 2;
		rc->notices = xreallocarray(rc->notices, rc->notices_cap,
		    sizeof(*rc->notices));
	}
	pn = &rc->notices[rc->nnotices++];
	memcpy(pn->qid, dsn, sizeof(pn->qid));
	pn->bm = bm;
	pn->m = m;
	pn->recorded = false;
	log_info("queue %s qid=%s dsn=%s to=<%s> nrcpt=%zu",
	    delayed ? "delayed" : "bounce", m->qid, dsn,
	    esc(e1, sizeof(e1), to), n);
	return true;
}

/*
 * send_notices - the bounce for m's failed recipients not yet reported
 * (one notice per batch of failures, at most DSN_MAX_RCPTS recipients
 * each), and the delay warning once it is due.  Returns true if a
 * notice was written (its records must be synced).
 */
static bool
send_notices(struct queue *q, struct record_ctx *rc, struct queue_msg *m,
    int fd, int64_t now)
{
	size_t *idx = xcalloc(m->nrcpts, sizeof(*idx));
	size_t i, n = 0, k;
	bool wrote = false;
	int64_t dw;

	for (i = 0; i < m->nrcpts; i++) {
		if (m->rcpts[i].status == QUEUE_RCPT_FAILED &&
		    !m->rcpts[i].reported)
			idx[n++] = i;
	}
	for (k = 0; k < n; k += DSN_MAX_RCPTS) {
		size_t c = n - k < DSN_MAX_RCPTS ? n - k : DSN_MAX_RCPTS;

		if (notice_add(q, rc, m, fd, idx + k, c, false, now))
			wrote = true;
	}
	/* delay warning: once, for the recipients still deferred (not
	 * those the remote agent has right now) */
	dw = (int64_t)q->cfg.delay_warning;
	if (!m->warned && dw > 0 && q->cfg.delay_warning < QUEUE_MAX_SECONDS &&
	    q->cfg.delay_warning < q->cfg.lifetime &&
	    now - m->arrival_ms >= dw * 1000 &&
	    dsn_should_bounce(m->sender) &&
	    (m->flags & (QUEUE_ENV_F_BOUNCE | QUEUE_ENV_F_DOUBLE_BOUNCE)) ==
	    0) {
		for (i = 0, n = 0; i < m->nrcpts && n < DSN_MAX_RCPTS; i++) {
			if (m->rcpts[i].status == QUEUE_RCPT_DEFERRED &&
			    !m->rcpts[i].remote)
				idx[n++] = i;
		}
		if (n > 0 && notice_add(q, rc, m, fd, idx, n, true, now))
			wrote = true;
	}
	free(idx);
	return wrote;
}

/* remove_finished - recycles or unlinks the file of a finished message. */
static void
remove_finished(struct queue *q, struct queue_msg *m)
{
	if (recycle_file(q, m->qid))
		log_info("queue removed qid=%s", m->qid);
	else if (unlinkat(q->dirfd, m->qid, 0) < 0 && errno != ENOENT)
		log_error("queue unlink qid=%s error=\"%s\"", m->qid,
		    strerror(errno));
	else
		log_info("queue removed qid=%s", m->qid);
	m->deleted = true;
}

/*
 * record_msg - after m's outcomes were applied to rc->blk: notices, then
 * the file (block appended, or the file removed when m is finished and
 * nothing needs recording).  fd is the message's open spool file.
 */
static void
record_msg(struct queue *q, struct record_ctx *rc, struct queue_msg *m,
    int fd, bool need_sync, int64_t now)
{
	size_t first = rc->nnotices, i;
	bool wrote;
	int afd;

	wrote = send_notices(q, rc, m, fd, now);
	if (msg_finished(m) && !needs_notice(m) && !wrote) {
		/* nothing left to do: no state needed */
		remove_finished(q, m);
		buf_reset(&rc->blk);
		return;
	}
	if (rc->blk.len > 0) {
		if (queue_spool_block_end(&rc->blk, 0) < 0)
			panic("queue: state block too large");
		afd = append_block(q, m, &rc->blk);
		if (afd >= 0) {
			for (i = first; i < rc->nnotices; i++)
				rc->notices[i].recorded = true;
		}
		if (afd >= 0 && (need_sync || wrote)) {
			if (rc->nsync == rc->sync_cap) {
				rc->sync_cap = rc->sync_cap == 0 ? 16 :
				    rc->sync_cap * 2;
				rc->sync_fds = xreallocarray(rc->sync_fds,
				    rc->sync_cap, sizeof(*rc->sync_fds));
			}
			rc->sync_fds[rc->nsync++] = afd;
		} else if (afd >= 0) {
			close(afd);
		}
	}
	buf_reset(&rc->blk);
	if (msg_finished(m) && !m->deleted) {
		if (rc->nfinished == rc->finished_cap) {
			rc->finished_cap = rc->finished_cap == 0 ? 16 :
			    rc->finished_cap * 2;
			rc->finished = xreallocarray(rc->finished,
			    rc->finished_cap, sizeof(*rc->finished));
		}
		rc->finished[rc->nfinished++] = m;
	}
}

/* record_finish - steps 2 and 3 for the whole batch. */
static void
record_finish(struct queue *q, struct record_ctx *rc)
{
	const char *err;
	bool fallback;
	size_t i;

	/*
	 * Deferred states, forwarded recipients and notice records are
	 * synced, one sync for the whole batch; a delivered state need not
	 * be (if it is lost, the recipient is delivered again and the store
	 * drops the copy).
	 */
	if (rc->nsync > 0 && sync_files(q, rc->sync_fds, rc->nsync,
	    &fallback) < 0)
		log_error("queue state sync failed error=\"%s\"",
		    strerror(errno));
	for (i = 0; i < rc->nsync; i++)
		close(rc->sync_fds[i]);
	for (i = 0; i < rc->nnotices; i++) {
		struct pending_notice *pn = &rc->notices[i];

		if (!pn->recorded && pn->m->deleted) {
			/* the message was deleted meanwhile: no notice */
			queue_inject_discard(q->dirfd, pn->qid);
			queue_msg_free(&pn->bm);
			continue;
		}
		lock(&q->inject_mu);
		if (queue_inject_publish(q->dirfd, pn->qid, &err) < 0) {
			unlock(&q->inject_mu);
			queue_inject_discard(q->dirfd, pn->qid);
			queue_msg_free(&pn->bm);
			continue;
		}
		(void)index_add(q, pn->bm);
		unlock(&q->inject_mu);
	}
	for (i = 0; i < rc->nfinished; i++) {
		if (!rc->finished[i]->deleted && !needs_notice(rc->finished[i]))
			remove_finished(q, rc->finished[i]);
	}
	free(rc->sync_fds);
	free(rc->notices);
	free(rc->finished);
	buf_fini(&rc->blk);
}

/* remote_job_free - the job's resources; the message stays. */
static void
remote_job_free(struct remote_job *rj)
{
	size_t i;

	if (rj->job.fd >= 0)
		close(rj->job.fd);
	for (i = 0; i < rj->job.nrcpts; i++) {
		struct queue_job_rcpt *jr = &rj->job.rcpts[i];
		size_t k;

		free(jr->error);
		for (k = 0; k < jr->nforward && jr->forward != NULL; k++)
			free(jr->forward[k]);
		free(jr->forward);
	}
	free(rj->job.rcpts);
	free(rj->map);
	free(rj->idx);
	free(rj);
}

/*
 * take_remote - moves the REMOTE recipients of a job out of the local
 * results: into a remote job for the agent (returned), or deferred if
 * there is no remote agent.  NULL if there were none to hand over.
 */
static struct remote_job *
take_remote(struct queue *q, struct job_slot *s)
{
	struct remote_job *rj = NULL;
	size_t j;

	for (j = 0; j < s->job.nrcpts; j++) {
		struct queue_job_rcpt *jr = &s->job.rcpts[j];

		if (jr->status != QUEUE_RCPT_REMOTE)
			continue;
		free(jr->error);
		jr->error = NULL;
		if (q->remote_fn == NULL) {
			jr->status = QUEUE_RCPT_DEFERRED;
			jr->error = xstrdup("remote delivery not configured");
			continue;
		}
		jr->status = QUEUE_RCPT_PENDING;	/* the agent sets it */
		if (rj == NULL) {
			rj = xcalloc(1, sizeof(*rj));
			rj->idx = xcalloc(s->job.nrcpts, sizeof(*rj->idx));
		}
		rj->idx[rj->nidx++] = j;
		s->m->rcpts[s->map[j]].remote = true;
	}
	if (rj == NULL)
		return NULL;
	/* the remote job takes the slot's job over (fd, rcpts, map) */
	rj->job = s->job;
	rj->m = s->m;
	rj->map = s->map;
	s->map = NULL;
	s->job.rcpts = NULL;
	s->job.fd = -1;
	s->m->remote_busy = true;
	return rj;
}

/* process_batch - runs the agent on a batch and records the outcome. */
static void
process_batch(struct queue *q, struct queue_msg **batch, size_t n)
{
	struct job_slot *slots = xcalloc(n, sizeof(*slots));
	struct queue_job **jobs = xcalloc(n, sizeof(*jobs));
	struct remote_job *out = NULL, *rj, **tail = &out;
	size_t nslots = 0, njobs = 0, i, j, k;
	int64_t now = queue_now_ms();
	void (*notify)(void *) = NULL;
	void *notify_arg = NULL;
	struct record_ctx rc;

	record_init(&rc);
	for (i = 0; i < n; i++) {
		struct queue_msg *m = batch[i];
		struct job_slot *s = &slots[nslots];
		int fd;

		fd = openat(q->dirfd, m->qid, O_RDONLY | O_CLOEXEC |
		    O_NOFOLLOW);
		if (fd < 0) {
			if (errno == ENOENT) {
				m->deleted = true;
				continue;
			}
			/* out of descriptors?  try again later, not in a
			 * tight loop */
			log_error("queue open qid=%s error=\"%s\"",
			    m->qid, strerror(errno));
			for (k = 0; k < m->nrcpts; k++) {
				if (rcpt_open(&m->rcpts[k]) &&
				    m->rcpts[k].due_ms <= now)
					m->rcpts[k].due_ms = now +
					    delay_ms(&q->cfg, 1);
			}
			continue;
		}
		s->m = m;
		s->map = xcalloc(m->nrcpts, sizeof(*s->map));
		s->job.rcpts = xcalloc(m->nrcpts, sizeof(*s->job.rcpts));
		for (k = 0; k < m->nrcpts; k++) {
			struct queue_rcpt *r = &m->rcpts[k];

			if (!rcpt_open(r) || r->due_ms > now)
				continue;
			s->map[s->job.nrcpts] = k;
			s->job.rcpts[s->job.nrcpts].addr = r->addr;
			s->job.rcpts[s->job.nrcpts].status =
			    QUEUE_RCPT_PENDING;
			s->job.nrcpts++;
		}
		s->job.qid = m->qid;
		s->job.sender = m->sender;
		s->job.arrival = (time_t)(m->arrival_ms / 1000);
		s->job.fd = fd;
		s->job.offset = m->body_offset;
		s->job.size = m->size;
		s->job.flags = m->flags & (QUEUE_ENV_F_BOUNCE |
		    QUEUE_ENV_F_DOUBLE_BOUNCE | QUEUE_ENV_F_JUNK);
		nslots++;
		/* a message that only owes a bounce has no job */
		if (s->job.nrcpts > 0)
			jobs[njobs++] = &s->job;
	}
	if (njobs > 0)
		q->deliver(q->deliver_ctx, jobs, njobs);
	now = queue_now_ms();

	for (i = 0; i < nslots; i++) {
		struct job_slot *s = &slots[i];
		struct queue_msg *m = s->m;
		struct queue_job *job;
		bool need_sync = false;
		size_t *map;

		rj = take_remote(q, s);
		if (rj != NULL) {
			*tail = rj;
			tail = &rj->next;
		}
		job = rj != NULL ? &rj->job : &s->job;
		map = rj != NULL ? rj->map : s->map;
		for (j = 0; j < job->nrcpts; j++) {
			struct queue_job_rcpt *jr = &job->rcpts[j];

			if (m->rcpts[map[j]].remote)
				continue;	/* the remote agent's */
			if (apply_rcpt(q, m, map[j], jr, now, &rc.blk))
				need_sync = true;
			if ((jr->forward != NULL || jr->nforward > 0) &&
			    apply_forward(m, jr, &rc.blk))
				need_sync = true;
			free(jr->error);
			jr->error = NULL;
		}
		record_msg(q, &rc, m, job->fd, need_sync, now);
		if (rj == NULL) {
			close(s->job.fd);
			free(s->map);
			free(s->job.rcpts);
		}
	}
	record_finish(q, &rc);
	if (out != NULL) {
		lock(&q->mu);
		for (rj = out; rj != NULL; rj = rj->next) {
			rj->all_prev = NULL;
			rj->all_next = q->remote_all;
			if (q->remote_all != NULL)
				q->remote_all->all_prev = rj;
			q->remote_all = rj;
		}
		unlock(&q->mu);
		lock(&q->commit_mu);
		*tail = q->remote_out;
		q->remote_out = out;
		notify = q->notify;
		notify_arg = q->notify_arg;
		unlock(&q->commit_mu);
		if (notify != NULL)
			notify(notify_arg);
	}
	free(jobs);
	free(slots);
}

/* process_remote - records what the remote agent did with its jobs. */
static void
process_remote(struct queue *q, struct remote_job *list)
{
	int64_t now = queue_now_ms();
	struct remote_job *rj;
	struct record_ctx rc;
	size_t j;

	record_init(&rc);
	for (rj = list; rj != NULL; rj = rj->next) {
		struct queue_msg *m = rj->m;
		bool need_sync = false;

		for (j = 0; j < rj->nidx; j++) {
			size_t x = rj->idx[j];
			struct queue_job_rcpt *jr = &rj->job.rcpts[x];

			m->rcpts[rj->map[x]].remote = false;
			/* left REMOTE: an agent bug, count it deferred */
			if (jr->status == QUEUE_RCPT_REMOTE)
				jr->status = QUEUE_RCPT_DEFERRED;
			if (apply_rcpt(q, m, rj->map[x], jr, now, &rc.blk))
				need_sync = true;
			if ((jr->forward != NULL || jr->nforward > 0) &&
			    apply_forward(m, jr, &rc.blk))
				need_sync = true;
		}
		if (m->deleted) {
			buf_reset(&rc.blk);
			continue;
		}
		record_msg(q, &rc, m, rj->job.fd, need_sync, now);
	}
	record_finish(q, &rc);
}

static void
abs_time(int64_t ms, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000;
}

static void *
worker_main(void *arg)
{
	struct queue *q = arg;
	unsigned bmax = q->cfg.batch_max;
	struct queue_msg **batch = xcalloc(bmax, sizeof(*batch));
	struct timespec ts;
	size_t n, i;
	int64_t now;

	lock(&q->mu);
	while (!q->stop) {
		if (q->remote_back != NULL) {
			struct remote_job *list = q->remote_back, *rj;

			q->remote_back = NULL;
			unlock(&q->mu);
			process_remote(q, list);
			lock(&q->mu);
			while ((rj = list) != NULL) {
				struct queue_msg *m = rj->m;

				list = rj->next;
				if (rj->all_prev != NULL)
					rj->all_prev->all_next = rj->all_next;
				else
					q->remote_all = rj->all_next;
				if (rj->all_next != NULL)
					rj->all_next->all_prev = rj->all_prev;
				remote_job_free(rj);
				m->busy = false;
				m->remote_busy = false;
				if (m->deleted || m->gone) {
					all_unlink(q, m);
					queue_msg_free(&m);
					continue;
				}
				m->due_ms = msg_due(m);
				heap_push(q, m);
			}
			continue;
		}
		if (q->nheap == 0) {
			pthread_cond_wait(&q->cv, &q->mu);
			continue;
		}
		now = queue_now_ms();
		if (q->heap[0]->due_ms > now) {
			abs_time(q->heap[0]->due_ms, &ts);
			(void)pthread_cond_timedwait(&q->cv, &q->mu, &ts);
			continue;
		}
		n = 0;
		while (n < bmax && q->nheap > 0 &&
		    q->heap[0]->due_ms <= now) {
			struct queue_msg *m = q->heap[0];

			heap_remove(q, m);
			m->busy = true;
			batch[n++] = m;
		}
		q->stats.batches++;
		unlock(&q->mu);

		process_batch(q, batch, n);

		lock(&q->mu);
		for (i = 0; i < n; i++) {
			struct queue_msg *m = batch[i];

			if (m->remote_busy && !m->deleted)
				continue;	/* back via queue_remote_done */
			m->busy = false;
			m->remote_busy = false;
			if (m->deleted || m->gone) {
				all_unlink(q, m);
				queue_msg_free(&m);
				continue;
			}
			m->due_ms = msg_due(m);
			heap_push(q, m);
		}
	}
	unlock(&q->mu);
	free(batch);
	return NULL;
}

void
queue_start(struct queue *q, queue_deliver_fn *fn, void *ctx)
{
	ASSERT(!q->started);
	q->deliver = fn;
	q->deliver_ctx = ctx;
	if (pthread_create(&q->worker, NULL, worker_main, q) != 0)
		fatal("queue: cannot start the delivery thread");
	q->started = true;
}

void
queue_set_remote(struct queue *q, queue_remote_fn *fn, void *ctx)
{
	lock(&q->commit_mu);
	q->remote_fn = fn;
	q->remote_ctx = ctx;
	unlock(&q->commit_mu);
}

void
queue_remote_done(struct queue *q, struct queue_job *job)
{
	struct remote_job *rj = (struct remote_job *)job;

	lock(&q->mu);
	rj->next = q->remote_back;
	q->remote_back = rj;
	pthread_cond_signal(&q->cv);
	unlock(&q->mu);
}

void
queue_flush(struct queue *q)
{
	struct queue_msg *m;
	size_t i;

	lock(&q->mu);
	for (m = q->all; m != NULL; m = m->all_next) {
		if (m->busy)
			continue;	/* being tried right now */
		for (i = 0; i < m->nrcpts; i++) {
			if (m->rcpts[i].status == QUEUE_RCPT_DEFERRED)
				m->rcpts[i].due_ms = 0;
		}
		m->due_ms = msg_due(m);
		heap_up(q, m->heap_idx);
	}
	pthread_cond_signal(&q->cv);
	unlock(&q->mu);
	log_info("queue flush");
}

/*
 * rescan_new - loads the complete messages queue_inject() wrote since we
 * last looked.  Only files with the "injected" mark count: a file of our
 * own that is being committed has no such mark and must not be indexed
 * before its commit's flush.  An injected file is complete and durable
 * from the moment it has its name.
 */
static size_t
rescan_new(struct queue *q)
{
	struct queue_msg *m;
	struct dirent *de;
	const char *err;
	size_t added = 0;
	bool known;
	int fd;
	DIR *d;

	fd = dup(q->dirfd);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		log_error("queue rescan error=\"%s\"", strerror(errno));
		return 0;
	}
	rewinddir(d);
	lock(&q->inject_mu);
	while ((de = readdir(d)) != NULL) {
		if (!queue_id_valid(de->d_name))
			continue;
		lock(&q->mu);
		known = msg_lookup(q, de->d_name) != NULL;
		unlock(&q->mu);
		if (known)
			continue;
		m = NULL;
		if (queue_spool_load(q->dirfd, de->d_name, QUEUE_LOAD_F_VERIFY,
		    &m, &err) <= 0)
			continue;
		if ((m->flags & QUEUE_MSG_F_INJECTED) == 0 ||
		    msg_finished(m)) {
			queue_msg_free(&m);
			continue;
		}
		if (index_add(q, m)) {
			log_info("queue rescan qid=%s loaded=injected",
			    de->d_name);
			added++;
		}
	}
	unlock(&q->inject_mu);
	closedir(d);
	return added;
}

void
queue_rescan(struct queue *q)
{
	struct queue_msg *m, *next;
	struct stat st;
	size_t gone = 0, added;

	lock(&q->mu);
	for (m = q->all; m != NULL; m = next) {
		next = m->all_next;
		if (fstatat(q->dirfd, m->qid, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
		    errno != ENOENT)
			continue;
		gone++;
		m->gone = true;
		if (m->busy)
			continue;	/* the worker frees it */
		heap_remove(q, m);
		all_unlink(q, m);
		queue_msg_free(&m);
	}
	unlock(&q->mu);
	added = rescan_new(q);
	log_info("queue rescan removed=%zu added=%zu", gone, added);
}

void
queue_get_stats(struct queue *q, struct queue_stats *st_r)
{
	struct queue_stats c;

	lock(&q->commit_mu);
	c = q->stats;
	unlock(&q->commit_mu);
	lock(&q->mu);
	st_r->commits = c.commits;
	st_r->commit_rounds = c.commit_rounds;
	st_r->commit_failures = c.commit_failures;
	st_r->sync_fallbacks = c.sync_fallbacks;
	st_r->batches = q->stats.batches;
	st_r->messages = q->stats.messages;
	unlock(&q->mu);
	lock(&q->pool_mu);
	st_r->recycled = q->stats.recycled;
	unlock(&q->pool_mu);
}

int
queue_inject_msg(struct queue *q, const struct queue_envelope *env,
    const void *data, size_t len, char qid_r[64], const char **error_r)
{
	char qid[QUEUE_ID_LEN + 1], e1[LOG_ESCAPE_BUFSIZE];
	struct queue_msg *m = NULL;

	if (queue_inject_write(q->dirfd, env, data, len, qid, &m,
	    error_r) < 0)
		return -1;
	lock(&q->inject_mu);
	if (queue_inject_publish(q->dirfd, qid, error_r) < 0) {
		unlock(&q->inject_mu);
		queue_inject_discard(q->dirfd, qid);
		queue_msg_free(&m);
		return -1;
	}
	(void)index_add(q, m);
	unlock(&q->inject_mu);
	log_info("queue inject qid=%s from=<%s> nrcpt=%zu size=%zu", qid,
	    esc(e1, sizeof(e1), env->sender), env->nrcpts, len);
	memcpy(qid_r, qid, QUEUE_ID_LEN + 1);
	return 0;
}

/* ---- open, recovery, close ---- */

/*
 * recover_tmp - temporary files of queue_inject_write: a notice whose
 * record made it to disk (some message names it) is published now (the
 * crash came between the record and the rename); any other one left for
 * more than QUEUE_TMP_MAX_AGE is from a dead injector and removed (a
 * younger one may belong to a `postino sendmail` still running).
 */
static void
recover_tmp(struct queue *q, const struct queue_msg *named_by)
{
	const size_t plen = sizeof(QUEUE_TMP_PREFIX) - 1;
	struct queue_msg *m, *bm;
	struct dirent *de;
	struct stat st;
	const char *err;
	bool named;
	int fd;
	DIR *d;

	fd = dup(q->dirfd);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(d);	/* the dup shares the offset of an earlier scan */
	while ((de = readdir(d)) != NULL) {
		const char *qid = de->d_name + plen;

		if (strncmp(de->d_name, QUEUE_TMP_PREFIX, plen) != 0 ||
		    !queue_id_valid(qid))
			continue;
		lock(&q->mu);
		for (named = false, m = q->all; m != NULL && !named;
		    m = m->all_next)
			named = queue_msg_has_dsn(m, qid);
		unlock(&q->mu);
		if (!named && named_by != NULL)
			named = queue_msg_has_dsn(named_by, qid);
		if (named) {
			bm = NULL;
			if (queue_inject_publish(q->dirfd, qid, &err) == 0 &&
			    queue_spool_load(q->dirfd, qid,
			    QUEUE_LOAD_F_VERIFY, &bm, &err) == 1) {
				log_info("queue recover qid=%s "
				    "published=notice", qid);
				(void)index_add(q, bm);
			}
			continue;
		}
		if (fstatat(q->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW)
		    == 0 && st.st_mtime + QUEUE_TMP_MAX_AGE < time(NULL)) {
			log_info("queue recover removed=%s", de->d_name);
			(void)unlinkat(q->dirfd, de->d_name, 0);
		}
	}
	closedir(d);
}

/* recover - loads every complete message; drops the incomplete ones. */
static int
recover(struct queue *q, const char **error_r)
{
	/* id sets: notices named by finished messages, finished messages
	 * (removed once their notices are published) */
	struct queue_msg *named = xcalloc(1, sizeof(*named));
	struct queue_msg *done = xcalloc(1, sizeof(*done));
	struct queue_msg *m;
	struct dirent *de;
	size_t loaded = 0, dropped = 0, finished = 0, i;
	const char *err;
	int fd, r;
	DIR *d;

	fd = dup(q->dirfd);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		queue_msg_free(&named);
		queue_msg_free(&done);
		*error_r = "cannot read the queue directory";
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!queue_id_valid(de->d_name))
			continue;
		m = NULL;
		r = queue_spool_load(q->dirfd, de->d_name,
		    QUEUE_LOAD_F_VERIFY | QUEUE_LOAD_F_REPAIR, &m, &err);
		if (r == 0) {
			/* never acknowledged: its commit did not finish (or
			 * an unused file of the pool) */
			(void)unlinkat(q->dirfd, de->d_name, 0);
			log_debug("queue recover qid=%s removed=incomplete",
			    de->d_name);
			dropped++;
		} else if (r < 0) {
			char bad[sizeof(de->d_name) + 16];

			snprintf(bad, sizeof(bad), "%s.corrupt", de->d_name);
			log_error("queue recover qid=%s error=\"%s\" "
			    "moved=%s", de->d_name, err, bad);
			(void)renameat(q->dirfd, de->d_name, q->dirfd, bad);
		} else if (msg_finished(m) && !needs_notice(m)) {
			/* the removal was lost in a crash (or came before
			 * the rename of its last notice: keep its name) */
			for (i = 0; i < m->ndsn; i++)
				queue_msg_add_dsn(named, m->dsn_qids[i]);
			queue_msg_add_dsn(done, m->qid);
			queue_msg_free(&m);
			finished++;
		} else {
			(void)index_add(q, m);
			loaded++;
		}
	}
	closedir(d);
	recover_tmp(q, named);
	for (i = 0; i < done->ndsn; i++)
		(void)unlinkat(q->dirfd, done->dsn_qids[i], 0);
	queue_msg_free(&named);
	queue_msg_free(&done);
	log_info("queue recover dir=%s loaded=%zu incomplete=%zu "
	    "finished=%zu", q->dir, loaded, dropped, finished);
	return 0;
}

struct queue *
queue_open(const struct queue_config *cfg, const char **error_r)
{
	struct queue *q;

	if (cfg->dir == NULL || cfg->dir[0] == '\0') {
		*error_r = "no queue directory";
		return NULL;
	}
	if (mkdir_p(cfg->dir, 0700) < 0) {
		*error_r = "cannot create the queue directory";
		return NULL;
	}
	q = xcalloc(1, sizeof(*q));
	q->cfg = *cfg;
	q->dir = xstrdup(cfg->dir);
	q->cfg.dir = q->dir;
	q->hostname = cfg->hostname != NULL ? xstrdup(cfg->hostname) : NULL;
	q->cfg.hostname = q->hostname;
	if (q->cfg.batch_max == 0)
		q->cfg.batch_max = 256;
	q->dirfd = open(q->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (q->dirfd < 0) {
		*error_r = "cannot open the queue directory";
		free(q->dir);
		free(q->hostname);
		free(q);
		return NULL;
	}
	/* one server per spool: two schedulers would deliver twice */
	if (flock(q->dirfd, LOCK_EX | LOCK_NB) < 0) {
		*error_r = "queue directory in use by another process";
		close(q->dirfd);
		free(q->dir);
		free(q->hostname);
		free(q);
		return NULL;
	}
	pthread_mutex_init(&q->commit_mu, NULL);
	pthread_cond_init(&q->commit_cv, NULL);
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	pthread_mutex_init(&q->pool_mu, NULL);
	pthread_cond_init(&q->pool_cv, NULL);
	pthread_mutex_init(&q->inject_mu, NULL);
	q->pool_max = QUEUE_POOL_MAX;
	q->commit_tail = &q->commit_head;
	q->done_tail = &q->done_head;
	if (recover(q, error_r) < 0) {
		queue_close(&q);
		return NULL;
	}
	if (pthread_create(&q->committer, NULL, committer_main, q) != 0)
		fatal("queue: cannot start the commit thread");
	q->committer_started = true;
	if (pthread_create(&q->pool_thread, NULL, pool_main, q) != 0)
		fatal("queue: cannot start the pool thread");
	q->pool_started = true;
	return q;
}

void
queue_close(struct queue **qp)
{
	struct queue *q = *qp;
	struct queue_incoming *in;
	struct remote_job *rj;
	struct queue_msg *m;

	if (q == NULL)
		return;
	*qp = NULL;
	lock(&q->mu);
	q->stop = true;
	pthread_cond_broadcast(&q->cv);
	unlock(&q->mu);
	if (q->started)
		pthread_join(q->worker, NULL);

	lock(&q->pool_mu);
	q->pool_stop = true;
	pthread_cond_signal(&q->pool_cv);
	unlock(&q->pool_mu);
	if (q->pool_started)
		pthread_join(q->pool_thread, NULL);
	while (q->npool > 0) {
		struct pool_file *f = &q->pool[--q->npool];

		(void)unlinkat(q->dirfd, f->qid, 0);
		close(f->fd);
	}

	/* the committer drains what is queued before it stops */
	lock(&q->commit_mu);
	q->commit_stop = true;
	pthread_cond_signal(&q->commit_cv);
	unlock(&q->commit_mu);
	if (q->committer_started)
		pthread_join(q->committer, NULL);
	log_info("queue close commits=%" PRIu64 " rounds=%" PRIu64
	    " failures=%" PRIu64 " fallbacks=%" PRIu64 " recycled=%" PRIu64
	    " batches=%" PRIu64, q->stats.commits, q->stats.commit_rounds,
	    q->stats.commit_failures, q->stats.sync_fallbacks,
	    q->stats.recycled, q->stats.batches);
	/* finished commits whose callbacks never ran: the messages stay
	 * (durable ones are loaded again at the next start) */
	while ((in = q->done_head) != NULL) {
		q->done_head = in->next;
		if (in->failed && in->has_file)
			(void)unlinkat(q->dirfd, in->msg->qid, 0);
		incoming_free(in);
	}
	/* jobs still with the remote agent (stopped before us) */
	while ((rj = q->remote_all) != NULL) {
		q->remote_all = rj->all_next;
		remote_job_free(rj);
	}
	while ((m = q->all) != NULL) {
		all_unlink(q, m);
		queue_msg_free(&m);
	}
	free(q->heap);
	free(q->hash);
	pthread_mutex_destroy(&q->commit_mu);
	pthread_cond_destroy(&q->commit_cv);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->pool_mu);
	pthread_mutex_destroy(&q->inject_mu);
	pthread_cond_destroy(&q->pool_cv);
	close(q->dirfd);
	free(q->dir);
	free(q->hostname);
	free(q);
}
