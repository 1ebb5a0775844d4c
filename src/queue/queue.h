/*
 * queue.h - the durable mail queue (spool) and its delivery scheduler.
 *
 * A message accepted over SMTP is written into one spool file per message
 * in DATA_DIR/queue/ and made durable (data, inode and directory entry on
 * stable storage) before the server answers 250 to DATA (RFC 5321 section
 * 4.1.1.4 and 6.1: once accepted, a message must not be lost).  Commits
 * from concurrent sessions share one flush (group commit).  A scheduler
 * thread hands due messages to a delivery agent in batches and keeps the
 * state of every recipient (delivered, deferred with retry time, failed)
 * durably in the spool file, so that after a crash every acknowledged
 * message is delivered and none twice.  docs/queue.md describes the file
 * format and the durability argument.
 *
 * No untrusted input is parsed here except the spool files themselves
 * (which only postino writes; they are still read with limits and strict
 * checks).  Envelope strings come from the SMTP session, already checked.
 *
 * Threads: queue_incoming_*, queue_run_completions, queue_flush and
 * queue_rescan are called from the server's loop thread; commit callbacks
 * run on that thread too (from queue_run_completions); the delivery agent
 * runs on the queue's worker thread.
 */
#ifndef POSTINO_QUEUE_QUEUE_H
#define POSTINO_QUEUE_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * How a group commit is made durable (docs/queue.md compares them).  The
 * default (0) is one syncfs(2) per round, measured 2-14x faster than a
 * fdatasync(2) per file, which pays one device flush per message.
 */
enum queue_sync {
	QUEUE_SYNC_SYNCFS,	/* one syncfs(2) of the spool's file system */
	QUEUE_SYNC_FILES,	/* fdatasync(2) of each file + fsync of dir */
};

struct queue_config {
	const char	*dir;		/* DATA_DIR/queue */
	uint64_t	 retry_first;	/* seconds */
	uint64_t	 retry_max;
	uint64_t	 lifetime;
	uint64_t	 delay_warning;
	unsigned	 batch_max;	/* messages per delivery batch, e.g.
					 * 256 */
	enum queue_sync	 sync;		/* added; 0 = QUEUE_SYNC_SYNCFS */
	const char	*hostname;	/* reporting MTA in bounces
					 * ([server] hostname); NULL:
					 * "localhost" */
};

struct queue;

/*
 * Opens (creating directories), recovers the spool: complete messages are
 * loaded into the in-memory index; incomplete ones (never acknowledged)
 * are removed.  Returns NULL with a static reason in error_r on failure
 * (also if another process has the spool open: an exclusive flock).
 * cfg is copied.
 */
struct queue *queue_open(const struct queue_config *cfg, const char **error_r);
/* Stops the threads (finishing the batch in progress), frees everything.
 * Commits still pending are completed (their callbacks are not run; the
 * messages stay and are delivered after the next start).  Every incoming
 * message must have been committed or aborted before.  NULL is a no-op;
 * sets *q to NULL. */
void queue_close(struct queue **q);
/*
 * Event-loop integration without depending on libevent: the queue's
 * threads call notify(arg), from any thread, when completions are ready;
 * the server then calls queue_run_completions() on its loop thread, which
 * runs the commit callbacks there.
 */
void queue_set_notify(struct queue *q, void (*notify)(void *arg), void *arg);
void queue_run_completions(struct queue *q);

struct queue_envelope {
	const char		*sender;	/* "" = null sender */
	const char *const	*rcpts;
	size_t			 nrcpts;
	const char		*client_addr;	/* may be NULL */
	const char		*helo;		/* may be NULL */
	int			 body_8bit;	/* BODY=8BITMIME given */
	int			 smtputf8;
	unsigned		 flags;		/* QUEUE_ENV_F_* */
};

/* A delivery status notification we generated (sender ""): if it fails,
 * a "double bounce" goes to postmaster instead of a bounce. */
#define QUEUE_ENV_F_BOUNCE		0x1
/* A double bounce: if it fails too, it is only logged and dropped. */
#define QUEUE_ENV_F_DOUBLE_BOUNCE	0x2
/* The inbound policy (SPF/DKIM/DMARC, docs/policy.md) judged it junk:
 * local delivery files it into each account's \Junk mailbox instead of
 * INBOX.  Spool key "junk"; older files have no such line. */
#define QUEUE_ENV_F_JUNK		0x4

/*
 * Writes a complete message (envelope + data, CRLF line ends) into the
 * spool directory dir durably: to a temporary name ("tmp.<qid>"), fsync,
 * rename into place without replacing, fsync of the directory.  Needs no
 * lock: safe from any process or thread, next to a running server, which
 * picks the message up at queue_rescan() (SIGUSR1) or at its next start.
 * Returns 0 with the new queue id in qid_r, or -1 with a static reason in
 * error_r (bad envelope: same checks as queue_incoming_new; I/O error).
 */
int queue_inject(const char *dir, const struct queue_envelope *env,
    const void *data, size_t len, char qid_r[64], const char **error_r)
	__attribute__((warn_unused_result));
/* The same for the server's own process (any thread): the message is also
 * put into q's index at once and scheduled. */
int queue_inject_msg(struct queue *q, const struct queue_envelope *env,
    const void *data, size_t len, char qid_r[64], const char **error_r)
	__attribute__((warn_unused_result));

struct queue_incoming;

/*
 * Starts a message: creates its spool file and writes the envelope.
 * Strings must not contain CR, LF or NUL (-1 otherwise).  Returns NULL
 * with a static reason in error_r on failure.  Thread: loop thread.
 */
struct queue_incoming *queue_incoming_new(struct queue *q,
    const struct queue_envelope *env, const char **error_r);
/* The queue id: 16 lowercase hex chars, unique; lives as long as in. */
const char *queue_incoming_id(const struct queue_incoming *in);
/* Appends message bytes (as received, CRLF line ends).  0 / -1. */
int queue_incoming_write(struct queue_incoming *in, const void *p, size_t n);
/*
 * Finishes the message and asks for durability; takes ownership of in.
 * cb(ctx, 0, NULL) runs from queue_run_completions() once data and
 * directory entry are on stable storage (one group fsync shared with every
 * other message committed meanwhile); cb(ctx, -1, reason) if it failed
 * (the message is then removed and must not be delivered).  The reason is
 * a static string.  The callback always runs from queue_run_completions(),
 * never from inside this call.
 */
typedef void queue_commit_fn(void *ctx, int status, const char *error);
void queue_incoming_commit(struct queue_incoming *in, queue_commit_fn *cb,
    void *ctx);
/* Cancels it (file removed).  NULL is a no-op; sets *in to NULL. */
void queue_incoming_abort(struct queue_incoming **in);
/*
 * Replaces the envelope flags (QUEUE_ENV_F_JUNK; the bounce flags are
 * kept as given to queue_incoming_new) of a message none of whose bytes
 * were written yet: a server that holds the message until its checks are
 * done sets them before the first queue_incoming_write.  0, or -1 if
 * bytes were already written.
 */
int queue_incoming_set_flags(struct queue_incoming *in, unsigned flags);

/* Delivery.  The scheduler runs a worker thread that hands batches of
 * ready messages to the agent. */
enum queue_rcpt_status { QUEUE_RCPT_PENDING, QUEUE_RCPT_DELIVERED,
	QUEUE_RCPT_DEFERRED, QUEUE_RCPT_FAILED,
	/* set by the local agent on a recipient it does not handle: "not
	 * local, give it to the remote agent" (queue_set_remote).  Never
	 * persisted as such; queue_list shows it as pending or deferred. */
	QUEUE_RCPT_REMOTE };

struct queue_job_rcpt {
	const char		*addr;		/* in */
	enum queue_rcpt_status	 status;	/* out: agent sets it */
	char			*error;		/* out: heap string or NULL;
						 * the queue frees it */
	char			**forward;	/* out: heap array of heap
						 * strings: new recipients this
						 * one expanded to that the
						 * agent did not deliver itself
						 * (e.g. an alias pointing at a
						 * remote address); the queue
						 * adds them to the message as
						 * new pending recipients,
						 * durably, and frees the
						 * array */
	size_t			 nforward;
};

struct queue_job {
	const char		*qid;
	const char		*sender;
	time_t			 arrival;
	int			 fd;		/* open read-only on the
						 * spool file */
	uint64_t		 offset;	/* where the message bytes
						 * start in it */
	uint64_t		 size;		/* message bytes */
	struct queue_job_rcpt	*rcpts;		/* only the recipients due */
	size_t			 nrcpts;
	unsigned		 flags;		/* QUEUE_ENV_F_* of the
						 * envelope (e.g. _JUNK) */
};

/*
 * Called on the worker thread with up to batch_max jobs; sets every
 * rcpt's status (PENDING left as is counts as DEFERRED with no error).
 * DELIVERED promises that the recipient's copy is already durable (or
 * handed on durably): the queue may forget the message at once, without
 * syncing its own record.  After a crash a recipient may be handed to the
 * agent again (qid + address identify it, for deduplication).  Jobs and
 * their strings live until the call returns; read the message with
 * pread() on fd.
 */
typedef void queue_deliver_fn(void *ctx, struct queue_job *const *jobs,
    size_t njobs);
/* Starts the worker thread.  Call once, after queue_open. */
void queue_start(struct queue *q, queue_deliver_fn *fn, void *ctx);
/* Makes every deferred recipient due now (SIGUSR1 / `postino queue flush`). */
void queue_flush(struct queue *q);
/* Re-reads the spool directory: messages whose files are gone (`postino
 * queue delete` in another process) are dropped, and complete messages
 * written by queue_inject() meanwhile are loaded and scheduled (never
 * twice).  Loop thread. */
void queue_rescan(struct queue *q);

/*
 * Remote delivery.  The remote agent runs on the event-loop thread.  The
 * queue calls fn(ctx, job, idx, n) from queue_run_completions() (so on the
 * loop thread, after notify) with a message and the indices into
 * job->rcpts of the recipients to deliver remotely: those the local agent
 * marked QUEUE_RCPT_REMOTE (forwarded addresses are added as recipients
 * and come back the same way).  The agent sets each of those recipients'
 * status (DELIVERED, DEFERRED or FAILED, error text as for the local
 * agent) and then calls queue_remote_done(q, job) on the loop thread.
 * The job (fd, strings, rcpts array) stays valid until then; the message
 * is not handed to the local agent meanwhile.  The outcomes are recorded
 * by the worker thread (durably, as for local results), then retried,
 * bounced or finished like any other.  Without a remote agent, REMOTE
 * recipients are deferred ("remote delivery not configured").  Set it
 * before queue_start; queue_close frees jobs still with the agent (the
 * agent must be stopped first and must not call queue_remote_done after).
 */
typedef void queue_remote_fn(void *ctx, struct queue_job *job,
    const size_t *idx, size_t n);
void queue_set_remote(struct queue *q, queue_remote_fn *fn, void *ctx);
void queue_remote_done(struct queue *q, struct queue_job *job);

/*
 * Offline inspection for the CLI (another process; reads the spool, never
 * blocks the server).  The info and its strings live only during fn.
 */
struct queue_info_rcpt {
	const char		*addr;
	enum queue_rcpt_status	 status;
	unsigned		 attempts;
	time_t			 next_attempt;	/* 0 if none */
	const char		*last_error;	/* NULL if none */
};
struct queue_info {
	const char			*qid;
	const char			*sender;
	time_t				 arrival;
	uint64_t			 size;
	const struct queue_info_rcpt	*rcpts;
	size_t				 nrcpts;
};
typedef void queue_list_fn(void *ctx, const struct queue_info *info);
/* Calls fn for every complete message, in arrival order.  0 / -1. */
int queue_list(const char *dir, queue_list_fn *fn, void *ctx,
    const char **error_r);
/* Removes one message from the spool (0, or -1 if no such id).  The server
 * notices via rescan. */
int queue_delete(const char *dir, const char *qid, const char **error_r);
/* "pending", "delivered", "deferred", "failed". */
const char *queue_rcpt_status_name(enum queue_rcpt_status s);

/* Additions beyond the first draft of this API: */

/* Seconds to wait after the attempts-th failed attempt (1, 2, ...):
 * retry_first doubled attempts-1 times, capped at retry_max. */
uint64_t queue_retry_delay(const struct queue_config *cfg, unsigned attempts);

/* Counters, for the log and benchmarks. */
struct queue_stats {
	uint64_t	commits;	/* messages made durable */
	uint64_t	commit_rounds;	/* group syncs that did it */
	uint64_t	commit_failures;
	uint64_t	sync_fallbacks;	/* syncfs failed: per-file fsync */
	uint64_t	batches;	/* delivery batches run */
	uint64_t	messages;	/* messages in the index now */
	uint64_t	recycled;	/* spool files reused for new ones */
};
void queue_get_stats(struct queue *q, struct queue_stats *st_r);

#endif
